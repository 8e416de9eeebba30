package probe

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"sigs.k8s.io/yaml"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// RecommendedYAML is the recommended settings as an EnterpriseAccount
// spec fragment.
func RecommendedYAML(b budgetv1alpha1.BSSBehaviour) string {
	out, err := yaml.Marshal(map[string]any{"spec": map[string]any{"bssBehaviour": b}})
	if err != nil {
		return "# " + err.Error() + "\n"
	}
	return string(out)
}

// RecommendedPatch is a kubectl merge patch that sets the recommended
// settings.
func RecommendedPatch(b budgetv1alpha1.BSSBehaviour) string {
	out, err := json.Marshal(map[string]any{"spec": map[string]any{"bssBehaviour": b}})
	if err != nil {
		return ""
	}
	return string(out)
}

// textWriter collects the first write error.
type textWriter struct {
	w   io.Writer
	err error
}

func (t *textWriter) printf(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format, args...)
	}
}

// WriteText writes the report for a person.
func WriteText(w io.Writer, r *Report) error {
	t := &textWriter{w: w}
	writeHeader(t, r)
	writeReads(t, r)
	writeQuestions(t, r)
	writeMoney(t, r)
	writeRecommendation(t, r)
	return t.err
}

func writeHeader(t *textWriter, r *Report) {
	mode := "read-only: no money moved"
	if r.MoveMoney {
		mode = "--move-money"
	}
	if r.Interrupted {
		mode += ", INTERRUPTED: the answers stop where it was stopped"
	}
	t.printf("bss-probe report (%s)\n", mode)
	t.printf("  endpoint     %s", r.Endpoint)
	if r.RemoteAddr != "" {
		t.printf(" → %s", r.RemoteAddr)
	}
	if r.TLSVersion != "" {
		t.printf(" (%s)", r.TLSVersion)
	}
	t.printf("\n  run          %s to %s\n", stamp(r.Started), stamp(r.Finished))
	if r.SubCustomerID != "" {
		t.printf("  sub-account  %s (its own credentials given: %t)\n", r.SubCustomerID, r.SubCredentials)
	}
	c := r.Clock
	switch c.Verdict {
	case "unknown":
		t.printf("  clock        unknown: no response carried a Date header; BSS rejects requests signed more than %s from its clock\n", c.Limit)
	default:
		t.printf("  clock        BSS is %s %s this machine (±%s, from %d responses); BSS rejects requests signed more than %s from its clock: %s\n",
			Duration(max(c.Skew, -c.Skew)), aheadBehind(c.Skew), c.Uncertainty, c.Responses, c.Limit, strings.ToUpper(c.Verdict))
	}
}

func aheadBehind(d Duration) string {
	if d < 0 {
		return "behind"
	}
	return "ahead of"
}

func writeReads(t *textWriter, r *Report) {
	t.printf("\nREAD OPERATIONS (one call each; a refusal names the IAM action to grant)\n")
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "  AS\tOPERATION\tRESULT\tIAM ACTION\tDETAIL")
	for _, rc := range r.Reads {
		op := rc.Operation
		if rc.Variant != "" {
			op += " (" + rc.Variant + ")"
		}
		_, _ = fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", rc.As, op, strings.ToUpper(rc.Result), rc.IAMAction, oneLine(rc.Detail))
		if rc.Advice != "" {
			_, _ = fmt.Fprintf(tw, "  \t\t\t\t→ %s\n", rc.Advice)
		}
	}
	_ = tw.Flush()
	t.printf("%s", b.String())
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 200 {
		return s[:197] + "..."
	}
	return s
}

func writeQuestions(t *textWriter, r *Report) {
	q := r.Questions
	t.printf("\nQUESTIONS\n")
	writeAnswer(t, "(a) refusedTransIDs — is a refused trans_id burned?", q.RefusedTransIDs.Answer, q.RefusedTransIDs)
	writeAnswer(t, "(b) transIDRetention — how long is a trans_id remembered?", retentionText(q.TransIDRetention), q.TransIDRetention.Answer)
	writeAnswer(t, "(c) transferRecords — what do the master's records show of a transfer?", q.TransferRecords.Answer, q.TransferRecords)
	writeAnswer(t, "(d) reclaimable — does reclaimable cash include the sub-account's own money?", q.Reclaimable.Answer, q.Reclaimable)
}

func retentionText(r RetentionAnswer) string {
	switch r.Answer.Answer {
	case RetentionAtLeast:
		return fmt.Sprintf("at least %s (method: %s)", durationOrZero(r.RememberedAtLeast), r.Method)
	case RetentionForgotten:
		s := fmt.Sprintf("forgotten by %s", durationOrZero(r.ForgottenBy).Round())
		if r.RememberedAtLeast != nil {
			s += fmt.Sprintf(", remembered at %s", *r.RememberedAtLeast)
		}
		return s + fmt.Sprintf(" (method: %s)", r.Method)
	}
	return orUnknown(r.Answer.Answer)
}

func writeAnswer(t *textWriter, title, answer string, a Answer) {
	t.printf("  %s\n      answer: %s\n", title, orUnknown(answer))
	if a.Reason != "" {
		t.printf("      why: %s\n", a.Reason)
	}
	for _, e := range a.Evidence {
		t.printf("      - %s\n", e)
	}
}

func writeMoney(t *textWriter, r *Report) {
	if !r.MoveMoney {
		return
	}
	t.printf("\nMONEY MOVED (yuan; + to the sub-account, − back to the master)\n")
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "  #\tOPERATION\tAMOUNT\tTRANS_ID\tMOVED\tANSWER\tPURPOSE")
	for i, m := range r.Movements {
		_, _ = fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%s\n", i+1, m.Operation, m.Amount, m.TransID, m.Moved, m.short(), m.Purpose)
	}
	_ = tw.Flush()
	t.printf("%s", b.String())
	s := r.Settlement
	if s == nil {
		return
	}
	if s.Complete {
		t.printf("  SETTLED: every cent returned (net %s had moved to the sub-account; %s moved back).\n", s.MovedToSub, s.Returned)
	} else {
		t.printf("  NOT SETTLED: net %s had moved to the sub-account; %s moved back, %s NOT returned.\n", s.MovedToSub, s.Returned, s.NotReturned)
	}
	for _, p := range append(s.Problems, s.Uncertain...) {
		t.printf("    ! %s\n", p)
	}
	t.printf("  master transferable cash %s → %s; sub-account reclaimable cash %s → %s; sub-account cash %s → %s\n",
		amountOrDash(s.Before.MasterTransferable), amountOrDash(s.After.MasterTransferable),
		amountOrDash(s.Before.SubReclaimable), amountOrDash(s.After.SubReclaimable),
		amountOrDash(s.Before.SubCash), amountOrDash(s.After.SubCash))
}

func writeRecommendation(t *textWriter, r *Report) {
	t.printf("\nRECOMMENDED EnterpriseAccount settings\n")
	for _, line := range strings.Split(strings.TrimRight(RecommendedYAML(r.Recommended), "\n"), "\n") {
		t.printf("  %s\n", line)
	}
	for _, n := range r.RecommendationNotes {
		t.printf("  # %s\n", n)
	}
	t.printf("  Apply with: kubectl patch enterpriseaccount NAME --type merge -p '%s'\n", RecommendedPatch(r.Recommended))
}

func amountOrDash(a *money.Amount) string {
	if a == nil {
		return "-"
	}
	return a.String()
}

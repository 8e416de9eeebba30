package plugin

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/planner"
)

// LabelAllocation is the label the operator puts on a BudgetTransfer: its
// allocation's name (cut to 63 characters).
const LabelAllocation = budgetv1alpha1.LabelAllocation

// Output formats of history.
const (
	outputTable = "table"
	outputJSON  = "json"
	outputCSV   = "csv"
)

// historyHelp is the long description of history.
const historyHelp = `List the movements of the BudgetAllocation ALLOCATION, ordered by
sequence: its BudgetTransfers (by spec.allocationRef.name or the
budget.bss.dev/allocation label) merged with the entries of its kept audit
trail, the LedgerRecords the operator writes before it deletes settled
transfers. A sequence found in both is shown once, as the live transfer.
Each row shows the operation, amount, phase, attempts, the last BSS error
code, the trans_id sent to BSS, when it was created and completed, GRANTED,
the running net total of succeeded transfers minus succeeded reclaims
(coupons are not money and do not change it), and SOURCE: "live" or the
LedgerRecord that keeps it.

The trail is that of the allocation's ledger id (its budget.bss.dev/ledger-id
annotation). After the allocation has been deleted, every ledger kept under
its namespace and name is shown, each under a line naming its ledger id,
newest last: earlier allocations of the same name had ledgers of their own.

LedgerRecords are cluster-scoped; reading them needs the
ledger-record-reader role. Without it the live transfers are shown and a
note on stderr says what is missing.

-o json prints one JSON array of every row (with its ledger id and
source); -o csv prints a header and one line per movement, for accounting:
completed, namespace, allocation, ledger_id, sequence, operation,
balance_type, amount, coupon, customer, trans_id, phase, reason,
evidence_kind, source. Transfers not settled yet are included, with an
empty completed time: select on phase (Succeeded moved money, Failed did
not).

Examples:
  kubectl budget history compute -n team-a
  kubectl budget history compute -n team-a -o csv > compute.csv`

func historyCommand() command {
	output := outputTable
	return command{
		name:    "history",
		usage:   "history ALLOCATION [-n NAMESPACE] [-o table|json|csv]",
		summary: "list an allocation's transfers, live and kept in the audit trail, with a running granted total",
		help:    historyHelp,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&output, "output", outputTable, "output format: table, json or csv")
			fs.StringVar(&output, "o", outputTable, "short for --output")
		},
		nargs: 1,
		run: func(ctx context.Context, e *env, args []string) error {
			switch output {
			case outputTable, outputJSON, outputCSV:
			default:
				return usagef("unknown output format %q: use table, json or csv", output)
			}
			c, ns, err := e.client()
			if err != nil {
				return err
			}
			return runHistory(ctx, c, types.NamespacedName{Namespace: ns, Name: args[0]}, output, e.stdout, e.stderr)
		},
	}
}

// belongsTo reports whether bt is a transfer of the allocation name.
func belongsTo(bt *budgetv1alpha1.BudgetTransfer, name string) bool {
	if bt.Spec.AllocationRef.Name != "" {
		return bt.Spec.AllocationRef.Name == name
	}
	return len(name) <= 63 && bt.Labels[LabelAllocation] == name
}

// history is what history shows of one allocation key.
type history struct {
	key types.NamespacedName
	// ba is the allocation, nil when it is gone.
	ba      *budgetv1alpha1.BudgetAllocation
	ledgers []*ledger
	trail   trail
}

func runHistory(ctx context.Context, c client.Client, key types.NamespacedName, output string, stdout, stderr io.Writer) error {
	h, err := loadHistory(ctx, c, key)
	if err != nil {
		return err
	}
	if h.trail.note != "" {
		_, _ = fmt.Fprintln(stderr, h.trail.note)
	}
	if h.ba == nil && len(h.ledgers) == 0 {
		return fmt.Errorf("no BudgetAllocation %s, no BudgetTransfers of it and no LedgerRecords of it", allocLabel(key))
	}
	switch output {
	case outputJSON:
		return writeJSON(stdout, h.rows())
	case outputCSV:
		return writeCSV(stdout, h.rows())
	}
	writeTable(stdout, h)
	return nil
}

func allocLabel(key types.NamespacedName) string { return "ba/" + key.Namespace + "/" + key.Name }

// loadHistory reads the allocation, its live transfers and its kept trail,
// and merges them into ledgers.
func loadHistory(ctx context.Context, c client.Client, key types.NamespacedName) (*history, error) {
	h := &history{key: key}
	var ba budgetv1alpha1.BudgetAllocation
	switch err := c.Get(ctx, key, &ba); {
	case err == nil:
		h.ba = &ba
	case !apierrors.IsNotFound(err):
		return nil, err
	}
	bts, err := liveTransfers(ctx, c, key)
	if err != nil {
		return nil, err
	}
	ledgerID := ""
	if h.ba != nil {
		ledgerID = planner.LedgerIDOf(h.ba)
	}
	if h.trail, err = readTrail(ctx, c, key, ledgerID); err != nil {
		return nil, err
	}
	set := ledgerSet{}
	set.addRecords(h.trail.records)
	var own *ledger
	if h.ba != nil {
		own = set.get(ledgerID)
	}
	fallback := own
	if fallback == nil && len(bts) > 0 {
		if fallback = set.newest(); fallback == nil {
			fallback = set.get("")
		}
	}
	set.addLive(bts, fallback)
	h.ledgers = set.ordered(own)
	return h, nil
}

// liveTransfers lists the allocation's BudgetTransfers.
func liveTransfers(ctx context.Context, c client.Client, key types.NamespacedName) ([]*budgetv1alpha1.BudgetTransfer, error) {
	var list budgetv1alpha1.BudgetTransferList
	if err := c.List(ctx, &list, client.InNamespace(key.Namespace)); err != nil {
		return nil, fmt.Errorf("listing BudgetTransfers: %w", err)
	}
	var bts []*budgetv1alpha1.BudgetTransfer
	for i := range list.Items {
		if belongsTo(&list.Items[i], key.Name) {
			bts = append(bts, &list.Items[i])
		}
	}
	// Two transfers with one sequence (not made by the operator): the
	// first by name is shown (addLive keeps the first).
	sort.SliceStable(bts, func(i, j int) bool {
		if bts[i].Spec.Sequence != bts[j].Spec.Sequence {
			return bts[i].Spec.Sequence < bts[j].Spec.Sequence
		}
		return bts[i].Name < bts[j].Name
	})
	return bts, nil
}

// rows returns every ledger's rows, ledger after ledger, with their
// running totals.
func (h *history) rows() []*movement {
	out := []*movement{}
	for _, l := range h.ledgers {
		rows := l.sorted()
		runningTotals(rows)
		out = append(out, rows...)
	}
	return out
}

// writeTable prints the allocation's line and each ledger's table.
func writeTable(w io.Writer, h *history) {
	label := allocLabel(h.key)
	if h.ba != nil {
		_, _ = fmt.Fprintf(w, "%s  subAccount %s  desired %s  granted %s  pending %s", label, h.ba.Spec.SubAccountRef.Name,
			orNone(h.ba.Status.Desired), orNone(h.ba.Status.Granted), orNone(h.ba.Status.Pending))
		if cp := h.ba.Status.Checkpoint; cp != nil {
			_, _ = fmt.Fprintf(w, "  checkpoint %d succeeded to sequence %d", cp.Transfers, cp.Sequence)
		}
		_, _ = fmt.Fprintln(w)
	} else {
		_, _ = fmt.Fprintf(w, "%s  (the allocation no longer exists; its kept trail and remaining transfers follow)\n", label)
	}
	var running money.Amount
	for _, l := range h.ledgers {
		running = writeLedger(w, l, h.trail.note == "")
	}
	if h.ba == nil {
		return
	}
	if g, ok := amountOf(string(h.ba.Status.Granted)); ok && g != running {
		why := "transfers may have been deleted without a record"
		if h.trail.note != "" {
			why = "the kept trail was not read"
		}
		_, _ = fmt.Fprintf(w, "\nnote: these transfers add up to %s but status.granted is %s (%s)\n", running, g, why)
	}
}

// writeLedger prints one ledger's header and rows and returns its total;
// trailRead says whether the kept trail could be read.
func writeLedger(w io.Writer, l *ledger, trailRead bool) money.Amount {
	id := l.id
	if id == "" {
		id = "(unknown)"
	}
	kept := "kept trail not read"
	if trailRead {
		kept = fmt.Sprintf("%d kept in %d LedgerRecords", len(l.rows)-l.live, l.records)
	}
	_, _ = fmt.Fprintf(w, "\nledger %s  (%s, %d live)\n", id, kept, l.live)
	rows := l.sorted()
	total := runningTotals(rows)
	if len(rows) == 0 {
		_, _ = fmt.Fprintln(w, "No BudgetTransfers yet.")
		return total
	}
	tw := newTable(w)
	row(tw, "SEQ", "NAME", "OPERATION", "AMOUNT", "PHASE", "ATTEMPTS", "ERROR", "TRANSID", "CREATED", "COMPLETED", "GRANTED", "SOURCE")
	for _, m := range rows {
		op := m.Operation
		if m.CouponID != "" {
			op += " " + m.CouponID
		}
		attempts := none
		if m.Attempts != nil {
			attempts = strconv.Itoa(int(*m.Attempts))
		}
		row(tw, strconv.FormatInt(m.Sequence, 10), m.Name, op, orNone(m.Amount), m.phaseText(), attempts,
			orNone(m.ErrorCode), orNone(m.TransID), orNone(m.Created), orNone(m.Completed), m.Granted, m.Source)
	}
	_ = tw.Flush()
	return total
}

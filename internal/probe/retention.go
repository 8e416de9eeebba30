package probe

import (
	"context"
	"fmt"
	"time"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
)

// askRetention (b): first a calibration — tb's trans_id resent at once with
// more than the transferable cash — tells whether BSS checks the trans_id
// before the balance (CBC.99007009: then a forgotten trans_id shows as a
// refusal and no check moves money) or after it (then each check resends
// 0.01). Then each trans_id of ks is resent exactly once, the k-th at age
// RetentionWindow·k/n, so that a BSS which renews a trans_id's memory when
// it sees it again cannot stretch the measurement. The checks stop at the
// first forgotten trans_id.
func (p *prober) askRetention(ctx context.Context, tb *Movement, ks []*Movement) {
	r := &p.rep.Questions.TransIDRetention
	method, ok := p.calibrate(ctx, tb)
	if !ok {
		return
	}
	r.Method = method
	for k, m := range ks {
		age := p.checkAge(k + 1)
		if err := p.waitAge(ctx, m, age); err != nil {
			p.retentionSoFar(fmt.Sprintf("stopped before the check at age %s: %v", age, err))
			return
		}
		w := writeReq{question: QTransIDRetention, transID: m.TransID, amount: Cent, purpose: fmt.Sprintf("resent once at age %s", age)}
		if method == MethodRefusal {
			cash, err := p.transferableCash(ctx)
			if err != nil {
				p.retentionSoFar(fmt.Sprintf("stopped before the check at age %s: reading the transferable cash: %v", age, err))
				return
			}
			w.amount, w.mustRefuse = cash.Add(bigMargin), true
		}
		out, rm := p.write(ctx, w)
		forgottenBy := Duration(rm.done.Sub(m.Time).Round(time.Millisecond))
		switch {
		case out == outDuplicate:
			d := Duration(age)
			r.RememberedAtLeast = &d
			r.evidence("trans_id %s, applied at %s, resent at age %s with %s: CBC.99007009 (remembered)", m.TransID, stamp(m.Time), age, w.amount)
		case method == MethodRefusal && rm.Code == bss.CodeInsufficientBalance, method == MethodCent && out == outApplied:
			r.ForgottenBy = &forgottenBy
			r.Answer.Answer = RetentionForgotten
			r.evidence("trans_id %s, applied at %s, resent at age %s with %s: %s (processed as new: forgotten)", m.TransID, stamp(m.Time), age, w.amount, rm.Answer)
			r.Reason = fmt.Sprintf("BSS forgot a trans_id by age %s; remembered until at least %s", forgottenBy.Round(), durationOrZero(r.RememberedAtLeast))
			return
		default:
			p.retentionSoFar(fmt.Sprintf("the check at age %s (trans_id %s) was answered %q", age, m.TransID, rm.Answer))
			return
		}
	}
	r.Answer.Answer = RetentionAtLeast
	r.Reason = fmt.Sprintf("every trans_id was remembered up to the window of %s: the retention is at least that (a measured lower bound; a longer --retention-window measures more)", p.opts.RetentionWindow)
}

// calibrate resends tb's trans_id at once with an amount BSS must refuse.
func (p *prober) calibrate(ctx context.Context, tb *Movement) (string, bool) {
	r := &p.rep.Questions.TransIDRetention
	cash, err := p.transferableCash(ctx)
	if err != nil {
		r.unknown("reading the transferable cash: %v", err)
		return "", false
	}
	big := cash.Add(bigMargin)
	out, m := p.write(ctx, writeReq{question: QTransIDRetention, transID: tb.TransID, amount: big, mustRefuse: true,
		purpose: "calibration: an applied trans_id resent at once with more than the transferable cash"})
	switch out {
	case outDuplicate:
		r.evidence("calibration: trans_id %s (applied with %s) resent at once with %s: CBC.99007009, so BSS checks the trans_id before the balance and a forgotten trans_id will show as CBC.99005003 without moving money", tb.TransID, tb.Amount, big)
		return MethodRefusal, true
	case outRefused:
		r.evidence("calibration: trans_id %s (applied with %s) resent at once with %s: %s, so BSS checks the balance first; each check resends 0.01 instead", tb.TransID, tb.Amount, big, m.Answer)
		return MethodCent, true
	case outApplied:
		r.unknown("BSS applied trans_id %s a second time at once, with %s (more than the transferable cash %s): it returned at the end", tb.TransID, big, cash)
	default:
		r.unknown("the calibration resend of trans_id %s got no definite answer: %s", tb.TransID, m.Answer)
	}
	return "", false
}

// retentionSoFar ends the retention question early with what was seen.
func (p *prober) retentionSoFar(why string) {
	r := &p.rep.Questions.TransIDRetention
	if r.RememberedAtLeast == nil {
		r.unknown("%s", why)
		return
	}
	r.Answer.Answer = RetentionAtLeast
	r.Reason = fmt.Sprintf("remembered at every check made, up to age %s; %s", r.RememberedAtLeast, why)
}

func durationOrZero(d *Duration) Duration {
	if d == nil {
		return 0
	}
	return *d
}

// recommendRetention turns the retention answer into spec.bssBehaviour's
// transIDRetention (a measured lower bound, at least the CRD's 2m) and a
// note.
func recommendRetention(r RetentionAnswer) (*Duration, string) {
	const minimum = Duration(2 * time.Minute) // the CRD's minimum
	switch {
	case r.RememberedAtLeast == nil && r.Answer.Answer == RetentionForgotten:
		return nil, fmt.Sprintf("transIDRetention: not set. BSS forgot a trans_id by age %s, before any check found it remembered: a resend after that moves the money again. Keep the operator's --transfer-safety-window well below it and report it.", durationOrZero(r.ForgottenBy).Round())
	case r.RememberedAtLeast == nil:
		return nil, "transIDRetention: not set (not measured)."
	case *r.RememberedAtLeast < minimum:
		return nil, fmt.Sprintf("transIDRetention: not set. The measured lower bound %s is below the 2m the EnterpriseAccount accepts; measure a longer --retention-window.", *r.RememberedAtLeast)
	}
	note := fmt.Sprintf("transIDRetention: %s is a measured lower bound (BSS remembered trans_ids at least this long), so it is safe to declare. The operator then stops resending a transfer at this age less one minute; to let it resend for longer, measure a longer --retention-window.", *r.RememberedAtLeast)
	if r.Answer.Answer == RetentionForgotten {
		note += fmt.Sprintf(" BSS forgot a trans_id by age %s: do not declare more.", durationOrZero(r.ForgottenBy).Round())
	}
	return r.RememberedAtLeast, note
}

// recommend turns the answers into the EnterpriseAccount's spec.bssBehaviour.
func recommend(q Questions) (budgetv1alpha1.BSSBehaviour, []string) {
	b := budgetv1alpha1.BSSBehaviour{
		RefusedTransIDs: orUnknown(q.RefusedTransIDs.Answer),
		TransferRecords: orUnknown(q.TransferRecords.Answer),
		Reclaimable:     orUnknown(q.Reclaimable.Answer),
	}
	d, note := recommendRetention(q.TransIDRetention)
	if d != nil {
		b.TransIDRetention = d.Meta()
	}
	notes := []string{note}
	for _, a := range []struct {
		name string
		ans  Answer
	}{{QRefusedTransIDs, q.RefusedTransIDs}, {QTransferRecords, q.TransferRecords}, {QReclaimable, q.Reclaimable}} {
		if orUnknown(a.ans.Answer) == budgetv1alpha1.BehaviourUnknown {
			notes = append(notes, fmt.Sprintf("%s: Unknown (%s); the operator then assumes the least.", a.name, a.ans.Reason))
		}
	}
	return b, notes
}

func orUnknown(s string) string {
	if s == "" {
		return budgetv1alpha1.BehaviourUnknown
	}
	return s
}

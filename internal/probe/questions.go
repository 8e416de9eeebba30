package probe

import (
	"context"
	"errors"
	"fmt"
	"time"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Names of the questions, as in spec.bssBehaviour.
const (
	QRefusedTransIDs  = "refusedTransIDs"
	QTransIDRetention = "transIDRetention"
	QTransferRecords  = "transferRecords"
	QReclaimable      = "reclaimable"
)

// Answers of the retention question.
const (
	RetentionAtLeast   = "AtLeast"
	RetentionForgotten = "Forgotten"
)

// Methods of the retention question.
const (
	// MethodRefusal resends each trans_id with more than the master's
	// transferable cash: a remembered one answers CBC.99007009, a
	// forgotten one is refused with CBC.99005003, and nothing moves.
	MethodRefusal = "refusal"
	// MethodCent resends each trans_id with 0.01: a forgotten one moves
	// 0.01 again (returned at the end). Used when BSS checks the balance
	// before the trans_id.
	MethodCent = "cent"
)

// bigMargin is added to the master's transferable cash to make a transfer
// BSS must refuse.
var bigMargin = money.Yuan(1_000_000)

// Answer is the answer to one question and the evidence for it.
type Answer struct {
	// Answer is one of the values spec.bssBehaviour accepts for the
	// question (Unknown when the probe could not tell), or for the
	// retention RetentionAtLeast, RetentionForgotten or Unknown.
	Answer string `json:"answer"`
	// Reason says why the answer is Unknown, or what limits it.
	Reason string `json:"reason,omitempty"`
	// Evidence lists what BSS answered: trans_ids, codes, record ids and
	// amounts.
	Evidence []string `json:"evidence,omitempty"`
}

// RetentionAnswer is the answer to the retention question.
type RetentionAnswer struct {
	Answer
	// Method is MethodRefusal or MethodCent.
	Method string `json:"method,omitempty"`
	// RememberedAtLeast is the greatest age at which a trans_id was still
	// remembered: a measured lower bound of the retention.
	RememberedAtLeast *Duration `json:"rememberedAtLeast,omitempty"`
	// ForgottenBy is the age by which a trans_id was forgotten, when one was.
	ForgottenBy *Duration `json:"forgottenBy,omitempty"`
}

// Questions are the four answers.
type Questions struct {
	RefusedTransIDs  Answer          `json:"refusedTransIDs"`
	TransIDRetention RetentionAnswer `json:"transIDRetention"`
	TransferRecords  Answer          `json:"transferRecords"`
	Reclaimable      Answer          `json:"reclaimable"`
}

func (a *Answer) unknown(format string, args ...any) {
	a.Answer = budgetv1alpha1.BehaviourUnknown
	a.Reason = fmt.Sprintf(format, args...)
}

func (a *Answer) evidence(format string, args ...any) {
	a.Evidence = append(a.Evidence, fmt.Sprintf(format, args...))
}

// skipMoney marks the three money questions not asked.
func (q *Questions) skipMoney(reason string) {
	for _, a := range []*Answer{&q.RefusedTransIDs, &q.TransIDRetention.Answer, &q.TransferRecords} {
		if a.Answer == "" {
			a.unknown("%s", reason)
		}
	}
}

// moveMoney asks (a), (b) and (c) with 0.01 movements and returns every
// cent afterwards, whatever happened in between.
func (p *prober) moveMoney(ctx context.Context) {
	q := &p.rep.Questions
	before := p.balancesNow(ctx)
	if before.MasterTransferable == nil || before.SubReclaimable == nil {
		q.skipMoney("the master's transferable cash or the sub-account's reclaimable cash could not be read (see the reads above); nothing was moved")
		return
	}
	defer p.settle(ctx, before)
	recordsErr := p.snapshotRecords(ctx)
	if err := p.askRefused(ctx); errors.Is(err, errStop) {
		q.skipMoney("not asked: an earlier money write had no definite answer")
		return
	}
	tb, tc, ks, err := p.seedTransfers(ctx)
	if err != nil {
		q.skipMoney(err.Error())
		return
	}
	p.askRetention(ctx, tb, ks)
	switch {
	case recordsErr != nil:
		q.TransferRecords.unknown("the master's income/expense records could not be read before the transfers: %v", recordsErr)
	default:
		q.TransferRecords = p.askRecords(ctx, tb, tc)
	}
}

// askRefused (a): a transfer BSS must refuse (more than the master's
// transferable cash, CBC.99005003), then the same trans_id with 0.01.
// CBC.99007009 means the refused trans_id was burned; applied means it was
// reusable.
func (p *prober) askRefused(ctx context.Context) error {
	a := &p.rep.Questions.RefusedTransIDs
	cash, err := p.transferableCash(ctx)
	if err != nil {
		a.unknown("reading the master's transferable cash: %v", err)
		return nil
	}
	id, big := p.opts.NewTransID(), cash.Add(bigMargin)
	out, m := p.write(ctx, writeReq{question: QRefusedTransIDs, transID: id, amount: big, fresh: true, mustRefuse: true,
		purpose: "a transfer BSS must refuse: more than the transferable cash " + cash.String()})
	switch {
	case out == outApplied:
		a.unknown("BSS applied a transfer of %s although the transferable cash was %s (trans_id %s); it is returned at the end", big, cash, id)
		return errStop
	case out == outUncertain:
		a.unknown("the refused transfer (trans_id %s) got no definite answer: %s", id, m.Answer)
		return nil
	case m.Code != bss.CodeInsufficientBalance:
		a.unknown("the transfer of %s (trans_id %s) was answered %q, not CBC.99005003 (insufficient balance)", big, id, m.Answer)
		return nil
	}
	a.evidence("trans_id %s: transfer of %s (transferable cash %s) refused with %s", id, big, cash, m.Code)
	out, m = p.write(ctx, writeReq{question: QRefusedTransIDs, transID: id, amount: Cent,
		purpose: "the refused trans_id resent with 0.01"})
	switch out {
	case outDuplicate:
		a.Answer = budgetv1alpha1.RefusedTransIDsBurned
		a.evidence("the same trans_id resent with %s: CBC.99007009 although nothing had moved", Cent)
	case outApplied:
		a.Answer = budgetv1alpha1.RefusedTransIDsReusable
		a.evidence("the same trans_id resent with %s: applied (returned at the end)", Cent)
	case outUncertain:
		a.unknown("the resend of trans_id %s got no definite answer: %s", id, m.Answer)
		return errStop
	default:
		a.unknown("the resend of trans_id %s with %s was answered %q", id, Cent, m.Answer)
	}
	return nil
}

// seedTransfers makes the transfer and the reclaim (c) looks for in the
// records, and one 0.01 transfer per retention check (b).
func (p *prober) seedTransfers(ctx context.Context) (tb, tc *Movement, ks []*Movement, err error) {
	out, tb := p.write(ctx, writeReq{question: QTransferRecords, transID: p.opts.NewTransID(), amount: Cent, fresh: true,
		purpose: "a transfer to find in the master's records"})
	if out != outApplied {
		return nil, nil, nil, fmt.Errorf("not asked: the 0.01 transfer (trans_id %s) was not applied: %s", tb.TransID, tb.Answer)
	}
	out, tc = p.write(ctx, writeReq{question: QTransferRecords, reclaim: true, transID: p.opts.NewTransID(), amount: Cent, fresh: true,
		purpose: "a reclaim to find in the master's records"})
	if out != outApplied {
		tc = nil
	}
	n := p.opts.RetentionChecks
	for k := 1; k <= n; k++ {
		out, m := p.write(ctx, writeReq{question: QTransIDRetention, transID: p.opts.NewTransID(), amount: Cent, fresh: true,
			purpose: fmt.Sprintf("a trans_id to resend once at age %s", p.checkAge(k))})
		if out != outApplied {
			return tb, tc, ks, fmt.Errorf("not asked: the 0.01 transfer (trans_id %s) was not applied: %s", m.TransID, m.Answer)
		}
		ks = append(ks, m)
	}
	return tb, tc, ks, nil
}

// checkAge is the age at which the k-th retention trans_id is resent.
func (p *prober) checkAge(k int) time.Duration {
	return p.opts.RetentionWindow * time.Duration(k) / time.Duration(p.opts.RetentionChecks)
}

// waitAge sleeps until m's trans_id is at least age old, counted from
// when its answer arrived (so BSS had seen it at least that long).
func (p *prober) waitAge(ctx context.Context, m *Movement, age time.Duration) error {
	for {
		have := p.now().Sub(m.done)
		if have >= age {
			return nil
		}
		if err := p.sleep(ctx, age-have); err != nil {
			return err
		}
	}
}

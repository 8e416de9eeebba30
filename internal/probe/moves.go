package probe

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Operations of a Movement.
const (
	OpTransfer = "transfer"
	OpReclaim  = "reclaim"
)

// Movement is one money write the probe made (a resend of a trans_id is a
// Movement of its own).
type Movement struct {
	// Question is the question it serves ("refusedTransIDs",
	// "transIDRetention", "transferRecords") or "settlement".
	Question string `json:"question"`
	// Purpose says why it was sent.
	Purpose string `json:"purpose"`
	// Operation is OpTransfer (master → sub) or OpReclaim (sub → master).
	Operation string `json:"operation"`
	// TransID and Amount are the request's.
	TransID string       `json:"transID"`
	Amount  money.Amount `json:"amount"`
	// Time is when it was first sent (UTC).
	Time time.Time `json:"time"`
	// Attempts counts the requests sent (resends after no definite answer
	// carry the same trans_id).
	Attempts int `json:"attempts"`
	// Answer is BSS's answer in words; Code its error code, if any.
	Answer string `json:"answer"`
	Code   string `json:"code,omitempty"`
	// Moved is what it moved to the sub-account: +Amount for an applied
	// transfer, −Amount for an applied reclaim, 0 otherwise.
	Moved money.Amount `json:"moved"`
	// Uncertain: BSS gave no definite answer, so whether it moved money
	// is not known; Moved is 0.
	Uncertain bool `json:"uncertain,omitempty"`

	fresh bool      // the trans_id had never been sent before
	done  time.Time // when the last answer arrived (probe clock)
}

// short is the answer in a few words, for the table.
func (m *Movement) short() string {
	switch {
	case m.Uncertain:
		return "UNCERTAIN"
	case !m.Moved.IsZero():
		return "applied"
	case m.Code != "":
		return m.Code
	}
	return oneLine(m.Answer)
}

// outcome is what a money write did.
type outcome int

const (
	outApplied   outcome = iota // 2xx (or CBC.99007009 after an ambiguous first send of a fresh trans_id)
	outDuplicate                // CBC.99007009
	outRefused                  // a definite refusal, or not sent at all: nothing moved
	outUncertain                // no definite answer
)

// writeReq is a money write to make.
type writeReq struct {
	question, purpose string
	reclaim           bool
	transID           string
	amount            money.Amount
	// fresh: the trans_id was never sent before.
	fresh bool
	// mustRefuse: the amount is more than the master can transfer, so BSS
	// cannot apply it; no answer then leaves no money in doubt.
	mustRefuse bool
}

// maxWriteAttempts bounds the sends of one write without a definite answer.
const maxWriteAttempts = 4

// write sends a money write, resending the same trans_id while the answer
// is not definite, and records it.
func (p *prober) write(ctx context.Context, w writeReq) (outcome, *Movement) {
	m := &Movement{Question: w.question, Purpose: w.purpose, Operation: OpTransfer, TransID: w.transID,
		Amount: w.amount, Time: p.now().UTC(), fresh: w.fresh}
	if w.reclaim {
		m.Operation = OpReclaim
	}
	out, ambiguous, err := p.attempts(ctx, w, m)
	m.done = p.now()
	m.Code = bss.Code(err)
	switch out {
	case outApplied:
		m.Moved = w.amount
		if w.reclaim {
			m.Moved = w.amount.Neg()
		}
		m.Answer = "applied"
		if err != nil {
			m.Answer = "applied (an earlier send without a definite answer; the resend got CBC.99007009)"
		}
	case outDuplicate:
		m.Answer = "CBC.99007009: duplicate trans_id"
	case outRefused:
		m.Answer = "refused: " + err.Error()
		if !isBSSAnswer(err) {
			m.Answer = "not sent: " + err.Error()
		}
	case outUncertain:
		m.Uncertain = !w.mustRefuse
		m.Answer = fmt.Sprintf("no definite answer after %d sends: %v", m.Attempts, err)
		if w.mustRefuse {
			m.Answer += " (it cannot have moved money: the amount is more than the master's transferable cash)"
		}
	}
	if ambiguous && out != outUncertain {
		m.Answer += fmt.Sprintf(" (after %d sends)", m.Attempts)
	}
	p.rep.Movements = append(p.rep.Movements, m)
	p.progress("%s %s trans_id %s: %s — %s", m.Operation, m.Amount, m.TransID, m.Answer, m.Purpose)
	return out, m
}

// attempts sends w until BSS answers definitely, or gives up.
func (p *prober) attempts(ctx context.Context, w writeReq, m *Movement) (outcome, bool, error) {
	req := bss.AmountTransferRequest{CustomerID: p.opts.SubCustomerID, Amount: w.amount, TransID: w.transID, BalanceType: bss.BalanceTypeDebit}
	ambiguous := false
	for m.Attempts = 1; ; m.Attempts++ {
		var err error
		if w.reclaim {
			err = p.master.ReclaimAmount(ctx, req)
		} else {
			err = p.master.TransferAmount(ctx, req)
		}
		switch {
		case err == nil:
			return outApplied, ambiguous, nil
		case bss.IsDuplicateTransID(err) && ambiguous && w.fresh:
			return outApplied, ambiguous, err // the send without an answer was applied
		case bss.IsDuplicateTransID(err) && ambiguous:
			return outUncertain, ambiguous, err // remembered from before, or applied by the lost send
		case bss.IsDuplicateTransID(err):
			return outDuplicate, ambiguous, err
		case bss.IsThrottled(err) || bss.IsTransferInProgress(err):
			// refused before processing: nothing happened, send again
		case bss.IsAmbiguousWrite(err):
			ambiguous = true
		case ambiguous && !isBSSAnswer(err):
			return outUncertain, ambiguous, err
		default:
			return outRefused, ambiguous, err
		}
		if m.Attempts >= maxWriteAttempts {
			if ambiguous {
				return outUncertain, ambiguous, err
			}
			return outRefused, ambiguous, err
		}
		wait := max(bss.RetryAfterHint(err), time.Duration(m.Attempts)*time.Second)
		if serr := p.sleep(ctx, wait); serr != nil {
			if ambiguous {
				return outUncertain, ambiguous, errors.Join(err, serr)
			}
			return outRefused, ambiguous, errors.Join(err, serr)
		}
	}
}

// isBSSAnswer reports whether err is an answer from BSS (or its gateway),
// as opposed to a request that was never sent.
func isBSSAnswer(err error) bool {
	var e *bss.Error
	return errors.As(err, &e)
}

// Settlement is how the probe returned what it moved.
type Settlement struct {
	// MovedToSub is what the probe's movements had moved to the test
	// sub-account, net, before settling (negative: to the master).
	MovedToSub money.Amount `json:"movedToSub"`
	// Returned is what the settlement moved back.
	Returned money.Amount `json:"returned"`
	// NotReturned is what is still where the probe moved it.
	NotReturned money.Amount `json:"notReturned"`
	// Uncertain lists movements whose outcome stayed unknown.
	Uncertain []string `json:"uncertain,omitempty"`
	// Problems says precisely what could not be returned and why.
	Problems []string `json:"problems,omitempty"`
	// Before and After are the balances around the money questions.
	Before Balances `json:"before"`
	After  Balances `json:"after"`
	// Complete: every cent was returned and no outcome is unknown.
	Complete bool `json:"complete"`
}

// Balances are the figures the probe's movements change.
type Balances struct {
	// MasterTransferable is the master's transferable cash.
	MasterTransferable *money.Amount `json:"masterTransferableCash,omitempty"`
	// SubReclaimable is the test sub-account's reclaimable cash.
	SubReclaimable *money.Amount `json:"subReclaimableCash,omitempty"`
	// SubCash is the sub-account's own cash balance (its credentials only).
	SubCash *money.Amount `json:"subCash,omitempty"`
}

// balancesNow reads the three figures; a failed read leaves its field nil.
func (p *prober) balancesNow(ctx context.Context) Balances {
	var b Balances
	if c, err := p.transferableCash(ctx); err == nil {
		b.MasterTransferable = &c
	}
	if c, err := p.reclaimableCash(ctx); err == nil {
		b.SubReclaimable = &c
	}
	if p.sub != nil {
		if c, err := p.subOwnCash(ctx); err == nil {
			b.SubCash = &c
		}
	}
	return b
}

// settleTimeout bounds the settlement, which runs even after ctx ended.
const settleTimeout = 2 * time.Minute

// settle returns everything the probe's movements moved: it first resends
// the fresh trans_ids whose outcome is unknown (a resend settles it), then
// moves the net amount back with one write.
func (p *prober) settle(parent context.Context, before Balances) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), settleTimeout)
	defer cancel()
	s := &Settlement{Before: before}
	p.rep.Settlement = s
	p.resolveUncertain(ctx)
	var net money.Amount
	for _, m := range p.rep.Movements {
		net = net.Add(m.Moved)
		if m.Uncertain {
			s.Uncertain = append(s.Uncertain, fmt.Sprintf("%s of %s, trans_id %s (%s): %s; look for it in the sub-account's records",
				m.Operation, m.Amount, m.TransID, m.Purpose, m.Answer))
		}
	}
	s.MovedToSub = net
	if !net.IsZero() {
		p.returnNet(ctx, s, net)
	}
	s.After = p.balancesNow(ctx)
	s.Complete = s.NotReturned.IsZero() && len(s.Uncertain) == 0
}

// returnNet moves net back to where it came from with a fresh trans_id.
func (p *prober) returnNet(ctx context.Context, s *Settlement, net money.Amount) {
	w := writeReq{question: "settlement", reclaim: net.IsPositive(), transID: p.opts.NewTransID(), amount: net.Abs(), fresh: true}
	w.purpose = "return what the probe moved to the sub-account"
	if !w.reclaim {
		w.purpose = "return what the probe moved to the master"
	}
	out, m := p.write(ctx, w)
	switch out {
	case outApplied:
		s.Returned = net.Abs()
	case outUncertain:
		s.NotReturned = net.Abs()
		s.Problems = append(s.Problems, fmt.Sprintf("could not tell whether %s of %s (trans_id %s) was applied: %s; resend it with the same trans_id or check the records",
			m.Operation, m.Amount, m.TransID, m.Answer))
	default:
		s.NotReturned = net.Abs()
		s.Problems = append(s.Problems, fmt.Sprintf("could not return %s: %s of %s (trans_id %s) answered %s", net.Abs(), m.Operation, m.Amount, m.TransID, m.Answer))
	}
}

// resolveUncertain resends each fresh trans_id whose outcome is unknown:
// for a trans_id BSS saw at most once, the resend's answer settles it
// (CBC.99007009: the lost send was applied; applied or refused now: it was
// not).
func (p *prober) resolveUncertain(ctx context.Context) {
	for _, m := range p.rep.Movements {
		if !m.Uncertain || !m.fresh {
			continue
		}
		out, _ := p.write(ctx, writeReq{question: m.Question, purpose: "settle the outcome of trans_id " + m.TransID,
			reclaim: m.Operation == OpReclaim, transID: m.TransID, amount: m.Amount})
		switch out {
		case outDuplicate:
			m.Uncertain = false
			m.Moved = m.Amount
			if m.Operation == OpReclaim {
				m.Moved = m.Amount.Neg()
			}
			m.Answer += "; applied, as the resend below shows"
		case outApplied, outRefused:
			m.Uncertain = false
			m.Answer += "; not applied, as the resend below shows"
		}
	}
}

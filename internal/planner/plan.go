// Package planner decides an allocation's next movement of money or
// coupons from its ledger (the BudgetTransfers), what its spec asks for and
// what BSS reports. It is pure — no API server, no BSS, no clock — so that
// the BudgetAllocation controller's decisions can be tested in tables and
// read on their own.
package planner

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Entry is one BudgetTransfer as the planner sees it.
type Entry struct {
	Name        string
	Sequence    int64
	Operation   budgetv1alpha1.TransferOperation
	Amount      money.Amount
	Phase       budgetv1alpha1.TransferPhase
	CouponID    string
	SubCouponID string // CouponReclaim: the sub-coupon reclaimed; CouponTransfer: the one created
	// ExpireTime is the credit ledger's expiry a credit movement used.
	ExpireTime string
	Created    time.Time
	Completed  time.Time
	ErrorCode  string
	// Reason is the transfer's Ready reason (e.g. OutcomeUnknown, Denied).
	Reason string
	// CustomerID and EnterpriseAccount are who the transfer moved money
	// between: a grant is only ever counted, and reclaimed, where it went.
	CustomerID        string
	EnterpriseAccount string
	// Generation is the allocation generation the transfer was made (or
	// last confirmed) for, and ApprovalLimit the auto-approval limit then.
	Generation    int64
	ApprovalLimit string
	// Note is the approver's message on a denied transfer.
	Note string
	// Credit: the movement was of credit (balance type Credit).
	Credit bool
}

func (e Entry) final() bool {
	return e.Phase == budgetv1alpha1.PhaseSucceeded || e.Phase == budgetv1alpha1.PhaseFailed
}

// failure reports a Failed transfer that counts towards the retry backoff:
// one BSS refused. A denial or a withdrawal is a decision, not a failure.
func (e Entry) failure() bool {
	return e.Phase == budgetv1alpha1.PhaseFailed && e.Reason != budgetv1alpha1.ReasonDenied && e.Reason != budgetv1alpha1.ReasonWithdrawn
}

// signed returns the entry's effect on the net grant: + for transfers, − for reclaims.
func (e Entry) signed() money.Amount {
	switch e.Operation {
	case budgetv1alpha1.OperationTransfer:
		return e.Amount
	case budgetv1alpha1.OperationReclaim:
		return e.Amount.Neg()
	}
	return money.Zero
}

// CouponGrant is a sub-coupon the allocation holds.
type CouponGrant struct {
	CouponID    string
	SubCouponID string
	Amount      money.Amount
}

// Holding is what the allocation's succeeded transfers left with one BSS
// customer.
type Holding struct {
	CustomerID        string
	EnterpriseAccount string
	// Granted is transfers minus reclaims to this customer: Cash plus
	// every Credit ledger's.
	Granted money.Amount
	// Cash is transfers minus reclaims of cash; Credit the same of
	// credit, by the credit ledger's expiry.
	Cash   money.Amount
	Credit map[string]money.Amount
	// Grants are the sub-coupons created for it and not reclaimed.
	Grants map[string]CouponGrant
}

// apply adds a succeeded movement to the holding.
func (h *Holding) apply(e Entry) {
	h.Granted = h.Granted.Add(e.signed())
	switch {
	case e.Operation != budgetv1alpha1.OperationTransfer && e.Operation != budgetv1alpha1.OperationReclaim:
	case e.Credit:
		if h.Credit == nil {
			h.Credit = map[string]money.Amount{}
		}
		h.Credit[e.ExpireTime] = h.Credit[e.ExpireTime].Add(e.signed())
	default:
		h.Cash = h.Cash.Add(e.signed())
	}
	switch e.Operation {
	case budgetv1alpha1.OperationCouponTransfer:
		h.Grants[e.CouponID] = CouponGrant{CouponID: e.CouponID, SubCouponID: e.SubCouponID, Amount: e.Amount}
	case budgetv1alpha1.OperationCouponReclaim:
		if g, ok := h.Grants[e.CouponID]; ok && g.SubCouponID == e.SubCouponID {
			delete(h.Grants, e.CouponID)
		}
	}
}

// clone is a deep copy of the holding.
func (h Holding) clone() *Holding {
	h.Credit = maps.Clone(h.Credit)
	h.Grants = maps.Clone(h.Grants)
	if h.Grants == nil {
		h.Grants = map[string]CouponGrant{}
	}
	return &h
}

// empty reports a holding with nothing left to reclaim.
func (h Holding) empty() bool { return h.Granted.IsZero() && len(h.Grants) == 0 }

// Ledger summarises an allocation's BudgetTransfers for one customer.
type Ledger struct {
	// Customer is the BSS customer Granted and Grants are about.
	Customer string
	// Granted is succeeded transfers minus succeeded reclaims to Customer.
	Granted money.Amount
	// InFlight is the one transfer not yet Succeeded or Failed, if any
	// (whichever customer it is for: one at a time per allocation).
	InFlight *Entry
	// Grants are the sub-coupons created for Customer and not reclaimed, by
	// coupon id.
	Grants map[string]CouponGrant
	// Others are the holdings with other customers that still have money
	// or sub-coupons, by customer id: the SubAccount resolved to them
	// before.
	Others map[string]Holding
	// ConsecutiveFailures counts Failed transfers after the last success.
	ConsecutiveFailures int
	// LastFailure is the newest Failed transfer after the last success.
	LastFailure *Entry
	// Denied is the newest transfer an approver denied, if any.
	Denied *Entry
	// NextSequence is the sequence number of the next transfer.
	NextSequence int64
	// Last is the transfer with the highest sequence, if the checkpoint
	// has not folded past it.
	Last    *Entry
	entries []Entry
	cp      *Checkpoint
}

// Summarize builds the ledger of entries (in any order) for customer.
func Summarize(entries []Entry, customer string) Ledger {
	return SummarizeFrom(nil, entries, customer)
}

// SummarizeFrom builds the ledger of a checkpoint (nil for none) and the
// entries (in any order) for customer. A succeeded entry the checkpoint
// has folded already (its sequence is at most cp.Sequence) is counted there
// and skipped here; a failure before the checkpoint's last success does not
// count towards the backoff.
func SummarizeFrom(cp *Checkpoint, entries []Entry, customer string) Ledger {
	es := make([]Entry, 0, len(entries))
	for _, e := range entries {
		if !cp.Folded(e) {
			es = append(es, e)
		}
	}
	sort.Slice(es, func(i, j int) bool { return es[i].Sequence < es[j].Sequence })
	l := Ledger{Customer: customer, NextSequence: 1, entries: es, cp: cp}
	holdings := map[string]*Holding{}
	var folded int64
	if cp != nil {
		folded = cp.Sequence
		l.NextSequence = cp.Sequence + 1
		for id, h := range cp.Holdings {
			holdings[id] = h.clone()
		}
	}
	holding := func(e Entry) *Holding {
		h, ok := holdings[e.CustomerID]
		if !ok {
			h = &Holding{CustomerID: e.CustomerID, EnterpriseAccount: e.EnterpriseAccount, Grants: map[string]CouponGrant{}}
			holdings[e.CustomerID] = h
		}
		return h
	}
	for i := range es {
		e := es[i]
		if e.Sequence >= l.NextSequence {
			l.NextSequence = e.Sequence + 1
		}
		if e.Sequence > folded {
			l.Last = &es[i]
		}
		switch {
		case !e.final():
			if l.InFlight == nil {
				l.InFlight = &es[i]
			}
		case e.Phase == budgetv1alpha1.PhaseFailed:
			if e.Reason == budgetv1alpha1.ReasonDenied {
				l.Denied = &es[i]
			}
			if e.failure() && e.Sequence > folded {
				l.ConsecutiveFailures++
				l.LastFailure = &es[i]
			}
		default: // Succeeded
			l.ConsecutiveFailures, l.LastFailure = 0, nil
			holding(e).apply(e)
		}
	}
	l.Grants = map[string]CouponGrant{}
	for id, h := range holdings {
		switch {
		case id == customer:
			l.Granted, l.Grants = h.Granted, h.Grants
		case !h.empty():
			if l.Others == nil {
				l.Others = map[string]Holding{}
			}
			l.Others[id] = *h
		}
	}
	return l
}

// For is the ledger of the same entries for another customer.
func (l Ledger) For(customer string) Ledger {
	if customer == l.Customer {
		return l
	}
	return SummarizeFrom(l.cp, l.entries, customer)
}

// Without is the ledger without the named entry (a transfer still waiting
// for approval, which has not reached BSS).
func (l Ledger) Without(name string) Ledger {
	rest := make([]Entry, 0, len(l.entries))
	for _, e := range l.entries {
		if e.Name != name {
			rest = append(rest, e)
		}
	}
	return SummarizeFrom(l.cp, rest, l.Customer)
}

// With is the ledger with one more entry (a movement assumed done, when a
// preview looks past the next step).
func (l Ledger) With(e Entry) Ledger {
	return SummarizeFrom(l.cp, append(append([]Entry(nil), l.entries...), e), l.Customer)
}

// Pending returns the signed amount in flight to or from Customer.
func (l Ledger) Pending() money.Amount {
	if l.InFlight == nil || l.InFlight.CustomerID != l.Customer {
		return money.Zero
	}
	return l.InFlight.signed()
}

// TopUpUsed returns the amount transferred (succeeded or in flight) by
// transfers created in the bill cycle of now, as given by cycleOf.
func (l Ledger) TopUpUsed(cycle string, cycleOf func(time.Time) string) money.Amount {
	var used money.Amount
	if l.cp != nil && l.cp.Cycle == cycle {
		used = l.cp.CycleTransferred
	}
	for _, e := range l.entries {
		if e.Operation == budgetv1alpha1.OperationTransfer && e.Phase != budgetv1alpha1.PhaseFailed && cycleOf(e.Created) == cycle {
			used = used.Add(e.Amount)
		}
	}
	return used
}

// Balance is an observed balance that may be unknown.
type Balance struct {
	Known  bool
	Amount money.Amount
}

// CreditLedger is an observed credit ledger.
type CreditLedger struct {
	Available  money.Amount
	ExpireTime string // "" never expires
}

// Desired is what the spec asks for.
type Desired struct {
	// Amount is the fixed net grant; nil in top-up mode.
	Amount *money.Amount
	// TopUp rule; nil in amount mode.
	TopUp *TopUp
	// Credit is true for balanceType Credit.
	Credit bool
	// Coupons by coupon id.
	Coupons map[string]money.Amount
	// Deleting reclaims everything the allocation granted.
	Deleting bool
	// Generation is the allocation's generation and ApprovalLimit the
	// EnterpriseAccount's autoApproveUpTo ("" without one): a denied
	// movement is not asked for again while both are what they were.
	Generation    int64
	ApprovalLimit string
}

// TopUp is the parsed topUp rule.
type TopUp struct {
	Minimum, Target, MonthlyLimit money.Amount
	// Cycle is the current bill cycle and Used the amount topped up in it.
	Cycle string
	Used  money.Amount
}

// Observed is what BSS (through caches) says.
type Observed struct {
	// SubBalance is the sub-account's reclaimable balance of the
	// allocation's balance type (credit: the sum of its ledgers).
	SubBalance Balance
	// SubCredit are the sub-account's reclaimable credit ledgers.
	SubCredit []CreditLedger
	// MasterCash is the master's transferable cash.
	MasterCash Balance
	// MasterCredit are the master's transferable credit ledgers.
	MasterCredit []CreditLedger
	// MasterCoupons are the master coupons' balances, when known.
	MasterCoupons map[string]money.Amount
	// FundingHeadroom is how much more the SubAccount's fundingLimit allows
	// this allocation to grant; nil without a limit.
	FundingHeadroom *money.Amount
	// ReclaimCap bounds a cash reclaim; nil for none.
	ReclaimCap *ReclaimCap
}

// Action is what the controller should do.
type Action string

// Actions.
const (
	// ActionNone: the allocation is in its desired state.
	ActionNone Action = "None"
	// ActionWait: something is in flight or backing off; look again later.
	ActionWait Action = "Wait"
	// ActionCreate: create the transfer described by the decision.
	ActionCreate Action = "Create"
	// ActionBlocked: the next step cannot be taken; Reason says why.
	ActionBlocked Action = "Blocked"
)

// Decision is the planner's answer.
type Decision struct {
	Action  Action
	Reason  string
	Message string

	Operation   budgetv1alpha1.TransferOperation
	Amount      money.Amount
	CouponID    string
	SubCouponID string
	ExpireTime  string
	// Credit: the movement is of credit (balanceType Credit).
	Credit bool

	// Desired is the net grant the spec asks for now (for status).
	Desired money.Amount
	// RetryAt is when a backing-off allocation may try again.
	RetryAt time.Time
	// NeedsFreshMaster asks the controller to read the master's balance
	// again before accepting an InsufficientFunds verdict.
	NeedsFreshMaster bool

	// CustomerID and EnterpriseAccount are set when the movement is with a
	// previous customer of the SubAccount rather than its current one.
	CustomerID        string
	EnterpriseAccount string
}

// InFlightMessage is the Ready message of an allocation waiting for its
// transfer; a transfer with no phase yet is Pending.
func InFlightMessage(op budgetv1alpha1.TransferOperation, name string, phase budgetv1alpha1.TransferPhase) string {
	if phase == "" {
		phase = budgetv1alpha1.PhasePending
	}
	return fmt.Sprintf("%s %s is %s", op, name, phase)
}

// Plan decides the allocation's next step from its ledger and what BSS
// reports. It is a pure function; design.md §3 is the protocol it follows:
// at most one transfer in flight, delta computed from the ledger (never from
// balances alone), reclaims capped by what is reclaimable, and no transfer
// the master cannot cover.
func Plan(d Desired, l Ledger, o Observed, now, retryAt time.Time) Decision {
	desired := desiredNet(d, l, o)
	dec := Decision{Desired: desired}
	if l.InFlight != nil {
		dec.Action, dec.Reason = ActionWait, budgetv1alpha1.ReasonTransferInProgress
		dec.Message = InFlightMessage(l.InFlight.Operation, l.InFlight.Name, l.InFlight.Phase)
		return dec
	}
	if l.LastFailure != nil && now.Before(retryAt) {
		dec.Action, dec.Reason, dec.RetryAt = ActionWait, budgetv1alpha1.ReasonTransferFailed, retryAt
		dec.Message = fmt.Sprintf("%s %s failed with %s; %d failure(s) in a row, next attempt at %s",
			l.LastFailure.Operation, l.LastFailure.Name, orUnknown(l.LastFailure.ErrorCode), l.ConsecutiveFailures, retryAt.UTC().Format(time.RFC3339))
		return dec
	}

	if m := planMoney(d, l, o, desired); m.Action != ActionNone {
		m.Desired = desired
		return deniedBefore(d, l, m)
	}
	if c := planCoupons(d, l, o); c.Action != ActionNone {
		c.Desired = desired
		return deniedBefore(d, l, c)
	}
	dec.Action, dec.Reason = ActionNone, budgetv1alpha1.ReasonReady
	switch {
	case d.Deleting:
		dec.Message = "everything reclaimable has been reclaimed"
	case d.TopUp != nil:
		dec.Message = fmt.Sprintf("balance %s is at or above the minimum %s; %s of %s topped up this cycle",
			o.SubBalance.Amount, d.TopUp.Minimum, d.TopUp.Used, d.TopUp.MonthlyLimit)
		if o.SubBalance.Known && o.SubBalance.Amount.Cmp(d.TopUp.Minimum) < 0 {
			dec.Message = fmt.Sprintf("balance %s is below the minimum %s but the monthly limit %s is used up",
				o.SubBalance.Amount, d.TopUp.Minimum, d.TopUp.MonthlyLimit)
		}
	default:
		dec.Message = fmt.Sprintf("granted %s as desired", l.Granted)
	}
	return dec
}

// deniedBefore turns a movement an approver has denied into a block: it is
// not asked for again until the allocation's spec or the approval limit
// changes.
func deniedBefore(d Desired, l Ledger, dec Decision) Decision {
	dn := l.Denied
	if dec.Action != ActionCreate || dn == nil || dn.Generation != d.Generation || dn.ApprovalLimit != d.ApprovalLimit ||
		dn.Operation != dec.Operation || dn.CouponID != dec.CouponID {
		return dec
	}
	msg := fmt.Sprintf("%s %s was denied by an approver", dn.Operation, dn.Name)
	if dn.Note != "" {
		msg += " (" + dn.Note + ")"
	}
	return Decision{Action: ActionBlocked, Reason: budgetv1alpha1.ReasonDenied, Desired: dec.Desired,
		Message: msg + "; it is not asked for again until the allocation's spec or the approval limit changes"}
}

// desiredNet is the net grant the spec asks for now.
func desiredNet(d Desired, l Ledger, o Observed) money.Amount {
	switch {
	case d.Deleting:
		return money.Zero
	case d.Amount != nil:
		return *d.Amount
	case d.TopUp != nil:
		return l.Granted.Add(topUpAmount(*d.TopUp, o))
	}
	return l.Granted
}

// topUpAmount is the transfer a top-up rule asks for now.
func topUpAmount(t TopUp, o Observed) money.Amount {
	if !o.SubBalance.Known || o.SubBalance.Amount.Cmp(t.Minimum) >= 0 {
		return money.Zero
	}
	want := t.Target.Sub(o.SubBalance.Amount)
	left := t.MonthlyLimit.Sub(t.Used)
	if left.IsNegative() {
		left = money.Zero
	}
	return money.Min(want, left)
}

func planMoney(d Desired, l Ledger, o Observed, desired money.Amount) Decision {
	delta := desired.Sub(l.Granted)
	switch {
	case delta.IsPositive():
		return planTransfer(d, o, delta)
	case delta.IsNegative():
		return planReclaim(d, o, delta.Neg())
	}
	return Decision{Action: ActionNone}
}

func planTransfer(d Desired, o Observed, amount money.Amount) Decision {
	if o.FundingHeadroom != nil && amount.Cmp(*o.FundingHeadroom) > 0 {
		return Decision{Action: ActionBlocked, Reason: budgetv1alpha1.ReasonFundingLimitExceeded,
			Message: fmt.Sprintf("transferring %s would exceed the SubAccount's fundingLimit: only %s is left under it", amount, money.Max(*o.FundingHeadroom, money.Zero))}
	}
	dec := Decision{Action: ActionCreate, Operation: budgetv1alpha1.OperationTransfer, Amount: amount,
		Reason: budgetv1alpha1.ReasonTransferInProgress}
	if !d.Credit {
		if !o.MasterCash.Known || o.MasterCash.Amount.Cmp(amount) < 0 {
			return Decision{Action: ActionBlocked, Reason: budgetv1alpha1.ReasonInsufficientFunds, NeedsFreshMaster: true,
				Message: fmt.Sprintf("the master has %s transferable cash; %s is needed", o.MasterCash.Amount, amount)}
		}
		dec.Message = fmt.Sprintf("transferring %s", amount)
		return dec
	}
	l, ok := pickLedger(o.MasterCredit, amount)
	if !ok {
		return Decision{Action: ActionBlocked, Reason: budgetv1alpha1.ReasonInsufficientFunds, NeedsFreshMaster: true,
			Message: fmt.Sprintf("no credit ledger of the master can cover %s", amount)}
	}
	dec.ExpireTime, dec.Credit = l.ExpireTime, true
	dec.Message = fmt.Sprintf("transferring %s of credit", amount)
	return dec
}

func planReclaim(d Desired, o Observed, want money.Amount) Decision {
	if !o.SubBalance.Known {
		// Operation and Amount say what is due, at most: a preview that
		// cannot read the balance shows them.
		return Decision{Action: ActionWait, Reason: budgetv1alpha1.ReasonProgressing, Message: "reading the sub-account's reclaimable balance",
			Operation: budgetv1alpha1.OperationReclaim, Amount: want, Credit: d.Credit}
	}
	amount := money.Min(want, o.SubBalance.Amount)
	if c := o.ReclaimCap; c != nil && !d.Credit && amount.IsPositive() {
		if !c.Known || !c.Amount.IsPositive() {
			msg := fmt.Sprintf("%s more should be reclaimed and %s is reclaimable, but %s", want, o.SubBalance.Amount, c.Why)
			if c.Known {
				msg += ", which leaves nothing to reclaim"
			}
			return Decision{Action: ActionBlocked, Reason: budgetv1alpha1.ReasonReclaimBlocked, Message: msg}
		}
		if c.Amount.Cmp(amount) < 0 {
			return Decision{Action: ActionCreate, Operation: budgetv1alpha1.OperationReclaim, Amount: c.Amount,
				Reason: budgetv1alpha1.ReasonTransferInProgress, Message: fmt.Sprintf("reclaiming %s, not the %s reclaimable: %s", c.Amount, amount, c.Why)}
		}
	}
	expire := ""
	if d.Credit {
		l, ok := pickLedger(o.SubCredit, amount)
		if !ok {
			l = largestLedger(o.SubCredit)
			amount = money.Min(amount, l.Available)
		}
		expire = l.ExpireTime
	}
	if !amount.IsPositive() {
		if d.Deleting {
			return Decision{Action: ActionNone}
		}
		return Decision{Action: ActionBlocked, Reason: budgetv1alpha1.ReasonReclaimBlocked,
			Message: fmt.Sprintf("%s more should be reclaimed but the sub-account has nothing reclaimable (it has spent it)", want)}
	}
	return Decision{Action: ActionCreate, Operation: budgetv1alpha1.OperationReclaim, Amount: amount, ExpireTime: expire, Credit: d.Credit,
		Reason: budgetv1alpha1.ReasonTransferInProgress, Message: fmt.Sprintf("reclaiming %s", amount)}
}

// pickLedger chooses the credit ledger to move amount with: one that never
// expires if it can cover the amount, else the one with the latest expiry
// that can.
func pickLedger(ls []CreditLedger, amount money.Amount) (CreditLedger, bool) {
	var best *CreditLedger
	for i := range ls {
		l := &ls[i]
		if l.Available.Cmp(amount) < 0 {
			continue
		}
		switch {
		case best == nil:
			best = l
		case best.ExpireTime == "":
		case l.ExpireTime == "" || l.ExpireTime > best.ExpireTime:
			best = l
		}
	}
	if best == nil {
		return CreditLedger{}, false
	}
	return *best, true
}

func largestLedger(ls []CreditLedger) CreditLedger {
	var best CreditLedger
	for _, l := range ls {
		if l.Available.Cmp(best.Available) > 0 {
			best = l
		}
	}
	return best
}

func planCoupons(d Desired, l Ledger, o Observed) Decision {
	// Reclaims first: coupons removed from the spec, changed in amount, or
	// everything when the allocation is being deleted.
	for _, id := range slices.Sorted(maps.Keys(l.Grants)) {
		g := l.Grants[id]
		want, keep := d.Coupons[id]
		if d.Deleting || !keep || want != g.Amount {
			return Decision{Action: ActionCreate, Operation: budgetv1alpha1.OperationCouponReclaim, CouponID: id, SubCouponID: g.SubCouponID,
				Reason: budgetv1alpha1.ReasonTransferInProgress, Message: fmt.Sprintf("reclaiming sub-coupon %s of coupon %s", g.SubCouponID, id)}
		}
	}
	if d.Deleting {
		return Decision{Action: ActionNone}
	}
	for _, id := range slices.Sorted(maps.Keys(d.Coupons)) {
		if _, ok := l.Grants[id]; ok {
			continue
		}
		amount := d.Coupons[id]
		if o.MasterCoupons != nil {
			bal, ok := o.MasterCoupons[id]
			switch {
			case !ok:
				return Decision{Action: ActionBlocked, Reason: budgetv1alpha1.ReasonCouponUnavailable,
					Message: fmt.Sprintf("the master has no transferable coupon %s (it does not exist, has expired or is not transferable)", id)}
			case bal.Cmp(amount) < 0:
				return Decision{Action: ActionBlocked, Reason: budgetv1alpha1.ReasonCouponUnavailable,
					Message: fmt.Sprintf("master coupon %s has %s left; %s is needed", id, bal, amount)}
			}
		}
		return Decision{Action: ActionCreate, Operation: budgetv1alpha1.OperationCouponTransfer, CouponID: id, Amount: amount,
			Reason: budgetv1alpha1.ReasonTransferInProgress, Message: fmt.Sprintf("carving %s out of coupon %s", amount, id)}
	}
	return Decision{Action: ActionNone}
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown error"
	}
	return s
}

// EntryOf converts a BudgetTransfer to a ledger entry.
func EntryOf(bt *budgetv1alpha1.BudgetTransfer) Entry {
	amount, _ := money.Parse(string(bt.Spec.Amount))
	e := Entry{
		Name: bt.Name, Sequence: bt.Spec.Sequence, Operation: bt.Spec.Operation, Amount: amount, Phase: bt.Status.Phase,
		CouponID: bt.Spec.CouponID, SubCouponID: bt.Spec.SubCouponID, ExpireTime: bt.Spec.ExpireTime, Created: bt.CreationTimestamp.Time,
		ErrorCode: bt.Status.ErrorCode, Reason: readyReason(bt),
		CustomerID: bt.Spec.CustomerID, EnterpriseAccount: bt.Spec.EnterpriseAccountName,
		ApprovalLimit: bt.Annotations[budgetv1alpha1.AnnotationApprovalLimit],
		Credit:        bt.Spec.BalanceType == budgetv1alpha1.BalanceTypeCredit,
	}
	e.Generation = generationOf(bt)
	if c := meta.FindStatusCondition(bt.Status.Conditions, budgetv1alpha1.ConditionDenied); c != nil && c.Status == metav1.ConditionTrue {
		e.Note = c.Message
	}
	if bt.Status.CompletionTime != nil {
		e.Completed = bt.Status.CompletionTime.Time
	}
	if bt.Spec.Operation == budgetv1alpha1.OperationCouponTransfer && bt.Status.Result != nil {
		e.SubCouponID = bt.Status.Result.SubCouponID
	}
	return e
}

// readyReason is the reason of the transfer's Ready condition.
func readyReason(bt *budgetv1alpha1.BudgetTransfer) string {
	if c := meta.FindStatusCondition(bt.Status.Conditions, budgetv1alpha1.ConditionReady); c != nil {
		return c.Reason
	}
	return ""
}

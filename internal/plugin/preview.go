package plugin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/approval"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/payment"
	"github.com/bss-budget-operator/bss-budget-operator/internal/planner"
)

// maxPreviewSteps bounds how far a preview looks past the next step.
const maxPreviewSteps = 8

// Preview is what the operator would do with an allocation, computed by the
// operator's own planner (internal/planner) from what the API server holds:
// the allocation's BudgetTransfers, its SubAccount and EnterpriseAccount
// (spec, and the balances the operator publishes in their status), the
// other allocations of the SubAccount and the namespace's labels. Only the
// balances differ from the operator's inputs: it reads them from BSS, the
// preview from status, whose age Figures gives.
type Preview struct {
	// Gate is set when the allocation cannot plan at all.
	Gate *planner.Gate
	// Mode is the allocation's managementPolicy.
	Mode budgetv1alpha1.ManagementPolicy
	// Next is the operator's next step.
	Next Step
	// Awaiting is a transfer of the allocation that waits for approval;
	// KeepAwaiting says whether the operator keeps it, WithdrawWhy why not.
	Awaiting     *planner.Entry
	KeepAwaiting bool
	WithdrawWhy  string
	// OrElse is the step instead of Next when Next reclaims from a customer
	// the SubAccount resolved to before, whose reclaimable balance is not
	// published, and nothing turns out to be reclaimable there.
	OrElse *Step
	// OrElseKeepsAwaiting is KeepAwaiting in that case.
	OrElseKeepsAwaiting bool
	// Then are the steps after Next, each assuming the one before
	// succeeded with the balances moving as it says.
	Then []Step
	// TopUp is the allocation's top-up rule as the operator reads it now.
	TopUp *planner.TopUp
	// Granted and Customer are the ledger's figures before Next.
	Granted  *money.Amount
	Customer string
	// Figures name the published balances the preview used and their age;
	// Notes are what it could not read.
	Figures, Notes []string
}

// Step is one decision of the operator's planner with, when it creates a
// transfer approval applies to, the transfer controller's approval verdict
// (nil with ApprovalUnknown saying why it cannot be given).
type Step struct {
	planner.Decision
	Approval        *approval.Verdict
	ApprovalUnknown string
}

// situation is what Predict reads from the API server.
type situation struct {
	ba        *budgetv1alpha1.BudgetAllocation // as it would be stored
	existing  *budgetv1alpha1.BudgetAllocation // nil when new
	transfers []budgetv1alpha1.BudgetTransfer
	sa        *budgetv1alpha1.SubAccount
	saErr     error
	ea        *budgetv1alpha1.EnterpriseAccount
	admitted  bool
	siblings  []budgetv1alpha1.BudgetAllocation
	// payments are the SubAccount's OrderPayments, read with a
	// fundingLimit (what they paid counts against it); paymentsErr is why
	// they cannot be read.
	payments    []budgetv1alpha1.OrderPayment
	paymentsErr error
	used        *money.Amount
	// trail is the kept trail of the allocation's ledger id, read while it
	// has no checkpoint.
	trail []planner.Entry
	notes []string
}

// Predict previews what the operator would do with ba (the allocation as
// the API server would store it) given existing (the stored one, nil for a
// new allocation), at now. Objects the user may not read make the preview
// say what it could not check, never guess.
func Predict(ctx context.Context, c client.Reader, ba, existing *budgetv1alpha1.BudgetAllocation, now time.Time) Preview {
	s := gather(ctx, c, ba, existing, now)
	p := Preview{Mode: cmp.Or(ba.Spec.ManagementPolicy, budgetv1alpha1.ManagementPolicyManaged), Notes: s.notes}
	ledger, err := s.ledger()
	if err != nil {
		p.Gate = &planner.Gate{Reason: "Unknown", Message: fmt.Sprintf("the allocation's status.checkpoint cannot be read (%v): the preview cannot say what moves", err)}
		return p
	}
	if s.saErr != nil {
		p.Gate = &planner.Gate{Reason: "Unknown", Message: fmt.Sprintf("SubAccount %s cannot be read (%s): the preview cannot say what moves", ba.Spec.SubAccountRef.Name, reasonOf(s.saErr))}
		return p
	}
	if p.Gate = planner.SubAccountGate(ba, s.sa, s.admitted, false); p.Gate != nil {
		return p
	}
	if s.ea == nil || !common.IsTrue(s.ea.Status.Conditions, budgetv1alpha1.ConditionReady) {
		name := s.sa.Spec.EnterpriseAccountRef.Name
		p.Gate = &planner.Gate{Reason: budgetv1alpha1.ReasonEnterpriseAccountNotReady, Message: fmt.Sprintf("EnterpriseAccount %s has no working connection", name)}
		if s.ea == nil {
			p.Gate.Message = fmt.Sprintf("EnterpriseAccount %s cannot be read: the preview cannot say what moves", name)
		}
		return p
	}
	ledger = ledger.For(s.sa.Status.CustomerID)
	p.Awaiting, ledger = planner.Awaiting(ledger)
	granted := ledger.Granted
	p.Granted, p.Customer = &granted, s.sa.Status.CustomerID
	obs := newStatusObserver(ctx, c, s.sa, s.ea, now)
	p.Figures = obs.figures()

	var retryAt time.Time
	if existing != nil && existing.Status.NextAttemptTime != nil {
		retryAt = existing.Status.NextAttemptTime.Time
	}
	used := s.used
	for step := 0; step < maxPreviewSteps; step++ {
		d, dec, err := s.decide(ctx, ledger, obs, retryAt, now)
		if err != nil {
			p.Gate = &planner.Gate{Reason: "Unknown", Message: err.Error()}
			return p
		}
		if step == 0 {
			p.TopUp = d.TopUp
		}
		st := Step{Decision: dec}
		st.Approval, st.ApprovalUnknown = s.approvalOf(dec, used, now)
		if step == 0 {
			p.Next = st
			if dec.Action == planner.ActionWait && dec.CustomerID != "" {
				obs.emptyPrevious = true
				if _, alt, err := s.decide(ctx, ledger, obs, retryAt, now); err == nil {
					p.OrElse = &Step{Decision: alt}
					p.OrElse.Approval, p.OrElse.ApprovalUnknown = s.approvalOf(alt, used, now)
					if p.Awaiting != nil {
						p.OrElseKeepsAwaiting, _ = planner.Settle(*p.Awaiting, alt, p.Mode, false, s.sa.Status.CustomerID)
					}
				}
				obs.emptyPrevious = false
			}
			if p.Awaiting != nil {
				p.KeepAwaiting, p.WithdrawWhy = planner.Settle(*p.Awaiting, dec, p.Mode, false, p.Customer)
			}
			if p.Mode != budgetv1alpha1.ManagementPolicyManaged || p.KeepAwaiting {
				return p
			}
		} else {
			p.Then = append(p.Then, st)
		}
		if dec.Action != planner.ActionCreate {
			return p
		}
		if v := st.Approval; used != nil && v != nil && !v.Needed {
			u := used.Add(dec.Amount)
			used = &u
		}
		ledger = ledger.With(assumeDone(dec, ledger, p.Customer, now))
		obs.apply(dec)
	}
	return p
}

// decide runs the operator's planner on the situation with the ledger as
// it stands.
func (s *situation) decide(ctx context.Context, l planner.Ledger, obs *statusObserver, retryAt, now time.Time) (planner.Desired, planner.Decision, error) {
	d, err := planner.DesiredOf(s.ba, l, false, planner.ApprovalKey(s.ea), now)
	if err != nil {
		return d, planner.Decision{}, err
	}
	if s.paymentsErr != nil {
		return d, planner.Decision{}, fmt.Errorf("the OrderPayments of SubAccount %s cannot be listed (%s): the preview cannot say what its fundingLimit still allows",
			s.sa.Name, reasonOf(s.paymentsErr))
	}
	headroom, err := planner.FundingHeadroom(s.sa, s.ba, l, s.siblings, s.payments, false)
	if err != nil {
		return d, planner.Decision{}, err
	}
	dec, err := planner.Next(ctx, planner.Input{
		Desired: d, Ledger: l, SubAccount: s.sa.Name, Customer: s.sa.Status.CustomerID,
		EnterpriseAccount: s.sa.Spec.EnterpriseAccountRef.Name, Previous: planner.PreviousPolicies(s.sa),
		FundingHeadroom: headroom, RetryAt: retryAt, Now: now,
		ReclaimCap: func() (*planner.ReclaimCap, error) {
			return planner.ReclaimCapOf(budgetv1alpha1.BehaviourOf(s.ea), s.sa, s.ba, l, s.siblings, now), nil
		},
	}, obs)
	return d, dec, err
}

// approvalOf is the transfer controller's approval verdict for the
// transfer dec would create, given what moved to the sub-account without
// approval this cycle (used, nil when it cannot be read).
func (s *situation) approvalOf(dec planner.Decision, used *money.Amount, now time.Time) (*approval.Verdict, string) {
	if dec.Action != planner.ActionCreate || !approval.Applies(dec.Operation) {
		return nil, ""
	}
	settings, err := approval.SettingsOf(s.ea.Spec.Approval)
	if err != nil {
		v := approval.Unreadable(fmt.Sprintf("EnterpriseAccount %q: %v", s.ea.Name, err))
		return &v, ""
	}
	cycle := billcycle.Of(now)
	v := approval.Decide(settings, dec.Operation, dec.Amount, money.Zero, s.sa.Name, cycle)
	if v.Needed || settings.PerCycle == nil {
		return &v, ""
	}
	if used == nil {
		return nil, fmt.Sprintf("the auto-approval budget autoApproveCyclePerSubAccount %s of sub-account %s could not be checked (listing its transfers in all namespaces is not allowed)",
			settings.PerCycle, s.sa.Name)
	}
	v = approval.Decide(settings, dec.Operation, dec.Amount, *used, s.sa.Name, cycle)
	return &v, ""
}

// assumeDone is the ledger entry of dec's transfer had it succeeded.
func assumeDone(dec planner.Decision, l planner.Ledger, customer string, now time.Time) planner.Entry {
	e := planner.Entry{
		Name: fmt.Sprintf("(step %d)", l.NextSequence), Sequence: l.NextSequence, Operation: dec.Operation, Amount: dec.Amount,
		Phase: budgetv1alpha1.PhaseSucceeded, CouponID: dec.CouponID, SubCouponID: dec.SubCouponID, ExpireTime: dec.ExpireTime,
		Created: now, Completed: now, CustomerID: cmp.Or(dec.CustomerID, customer), EnterpriseAccount: dec.EnterpriseAccount,
	}
	if dec.Operation == budgetv1alpha1.OperationCouponTransfer {
		e.SubCouponID = "(new)"
	}
	return e
}

// gather reads the situation; what the user may not read becomes a note.
func gather(ctx context.Context, c client.Reader, ba, existing *budgetv1alpha1.BudgetAllocation, now time.Time) *situation {
	s := &situation{ba: ba, existing: existing, admitted: true}
	if existing != nil {
		var list budgetv1alpha1.BudgetTransferList
		if err := c.List(ctx, &list, client.InNamespace(existing.Namespace),
			client.MatchingLabels{budgetv1alpha1.LabelAllocation: common.LabelValue(existing.Name)}); err != nil {
			s.notes = append(s.notes, fmt.Sprintf("the allocation's BudgetTransfers cannot be listed (%s): the ledger is taken as empty", reasonOf(err)))
		}
		s.transfers = planner.Owned(existing, list.Items)
	}
	s.readTrail(ctx, c)
	var sa budgetv1alpha1.SubAccount
	switch err := c.Get(ctx, types.NamespacedName{Name: ba.Spec.SubAccountRef.Name}, &sa); {
	case apierrors.IsNotFound(err):
		return s
	case err != nil:
		s.saErr = err
		return s
	}
	s.sa = &sa
	admitted, err := sa.Spec.AllowedNamespaces.Admits(ba.Namespace, func() (map[string]string, bool, error) {
		var ns corev1.Namespace
		if err := c.Get(ctx, types.NamespacedName{Name: ba.Namespace}, &ns); err != nil {
			return nil, false, err
		}
		return ns.Labels, true, nil
	})
	if err != nil {
		s.notes = append(s.notes, fmt.Sprintf("namespace %s's labels cannot be read (%s): admission by spec.allowedNamespaces.selector is assumed", ba.Namespace, reasonOf(err)))
	} else {
		s.admitted = admitted
	}
	var ea budgetv1alpha1.EnterpriseAccount
	if err := c.Get(ctx, types.NamespacedName{Name: sa.Spec.EnterpriseAccountRef.Name}, &ea); err == nil {
		s.ea = &ea
	}
	s.siblings = s.readSiblings(ctx, c)
	if sa.Spec.FundingLimit != nil {
		s.payments, s.paymentsErr = payment.ListOf(ctx, c, sa.Name)
	}
	s.used = s.readUsed(ctx, c, now)
	return s
}

// ledger is the allocation's ledger as the operator reads it: its
// checkpoint and transfers, or, while it has no checkpoint (it is new,
// restored or re-applied), the kept trail of its ledger id folded with its
// transfers (planner.RestoreFromTrail), as the operator does before its
// first movement.
func (s *situation) ledger() (planner.Ledger, error) {
	owner := s.ba
	if s.existing != nil {
		owner = s.existing
	}
	if owner.Status.Checkpoint == nil && len(s.trail) > 0 {
		entries := make([]planner.Entry, 0, len(s.transfers))
		for i := range s.transfers {
			entries = append(entries, planner.EntryOf(&s.transfers[i]))
		}
		cp, _ := planner.RestoreFromTrail(s.trail, entries, billcycle.Of)
		owner = owner.DeepCopy()
		owner.Status.Checkpoint = cp.API()
	}
	return planner.LedgerOf(owner, s.transfers)
}

// readTrail reads the kept trail of the allocation's ledger id while it
// has no checkpoint. Reading LedgerRecords (cluster-scoped) needs the
// ledger-record-reader role; without it the preview says so.
func (s *situation) readTrail(ctx context.Context, c client.Reader) {
	owner := s.ba
	if s.existing != nil {
		owner = s.existing
	}
	if owner.Status.Checkpoint != nil || owner.UID == "" && owner.Annotations[budgetv1alpha1.AnnotationLedgerID] == "" {
		// It plans from its checkpoint, or it is new: a ledger of its own.
		return
	}
	id := planner.LedgerIDOf(owner)
	tr, err := readTrail(ctx, c, types.NamespacedName{Namespace: owner.Namespace, Name: owner.Name}, id)
	if err == nil && tr.note != "" {
		err = errors.New(tr.note)
	}
	if err != nil {
		s.notes = append(s.notes, fmt.Sprintf("the audit trail of ledger %s cannot be read (%s): a restored or re-applied allocation may be shown moving money its trail says moved already", id, reasonOf(err)))
		return
	}
	s.trail = planner.TrailEntries(tr.records, id)
}

// readSiblings lists the SubAccount's allocations for its fundingLimit.
// Without the right to list them in every namespace, the SubAccount's
// status.granted (the sum of every allocation's grant) stands in for them.
func (s *situation) readSiblings(ctx context.Context, c client.Reader) []budgetv1alpha1.BudgetAllocation {
	if s.sa.Spec.FundingLimit == nil && !planner.Capped(budgetv1alpha1.BehaviourOf(s.ea), s.ba) {
		return nil
	}
	var list budgetv1alpha1.BudgetAllocationList
	if err := c.List(ctx, &list); err == nil {
		out := list.Items[:0]
		for _, o := range list.Items {
			if o.Spec.SubAccountRef.Name == s.sa.Name {
				out = append(out, o)
			}
		}
		return out
	}
	others, _ := amountOf(string(s.sa.Status.Granted))
	if s.existing != nil {
		own, _ := amountOf(string(s.existing.Status.Granted))
		others = others.Sub(own)
	}
	s.notes = append(s.notes, fmt.Sprintf("the allocations of SubAccount %s cannot be listed: its fundingLimit and the reclaim bound are taken from its status.granted "+
		"(%s from other allocations; their transfers in flight are not counted, and they are assumed to have started no earlier than this one)",
		s.sa.Name, others))
	return []budgetv1alpha1.BudgetAllocation{{
		ObjectMeta: metav1.ObjectMeta{Name: "(others)", Namespace: "(others)", CreationTimestamp: s.ba.CreationTimestamp},
		Status:     budgetv1alpha1.BudgetAllocationStatus{Granted: budgetv1alpha1.Money(others.String())},
	}}
}

// readUsed is what moved to the sub-account without approval in this
// cycle, as the transfer controller counts it for a transfer created now;
// nil when the user may not list the transfers of every namespace.
func (s *situation) readUsed(ctx context.Context, c client.Reader, now time.Time) *money.Amount {
	var list budgetv1alpha1.BudgetTransferList
	if err := c.List(ctx, &list, client.MatchingLabels{budgetv1alpha1.LabelSubAccount: common.LabelValue(s.sa.Name)}); err != nil {
		return nil
	}
	payments, err := payment.ListOf(ctx, c, s.sa.Name)
	if err != nil {
		return nil
	}
	used := approval.UsedBy(list.Items, payments, s.sa.Status.CustomerID, approval.Movement{Created: now}, billcycle.Of(now), billcycle.Of)
	return &used
}

func reasonOf(err error) string {
	if apierrors.IsForbidden(err) {
		return "forbidden"
	}
	return err.Error()
}

// statusObserver gives the planner the balances the operator publishes:
// the master's in its EnterpriseAccount's status, the sub-account's in its
// SubAccount's. A preview that looks past the next step moves them as each
// step would.
type statusObserver struct {
	ctx          context.Context
	c            client.Reader
	sa           *budgetv1alpha1.SubAccount
	ea           *budgetv1alpha1.EnterpriseAccount
	now          time.Time
	cash         planner.Balance
	masterCredit []planner.CreditLedger
	coupons      map[string]money.Amount
	sub          planner.Balance
	subCredit    []planner.CreditLedger
	// emptyPrevious takes the balances of previous customers, which are
	// not published, as empty.
	emptyPrevious bool
}

var _ planner.Observer = (*statusObserver)(nil)

func newStatusObserver(ctx context.Context, c client.Reader, sa *budgetv1alpha1.SubAccount, ea *budgetv1alpha1.EnterpriseAccount, now time.Time) *statusObserver {
	o := &statusObserver{ctx: ctx, c: c, sa: sa, ea: ea, now: now, coupons: map[string]money.Amount{}}
	if a, ok := amountOf(string(ea.Status.TransferableCash)); ok {
		o.cash = planner.Balance{Known: true, Amount: a}
	}
	o.masterCredit = ledgersOf(ea.Status.CreditLedgers)
	for _, cb := range ea.Status.TransferableCoupons {
		if a, ok := amountOf(string(cb.Balance)); ok {
			o.coupons[cb.CouponID] = a
		}
	}
	if a, ok := amountOf(string(sa.Status.ReclaimableCash)); ok {
		o.sub = planner.Balance{Known: true, Amount: a}
	}
	o.subCredit = ledgersOf(sa.Status.ReclaimableCredit)
	return o
}

func ledgersOf(ls []budgetv1alpha1.CreditLedger) []planner.CreditLedger {
	out := make([]planner.CreditLedger, 0, len(ls))
	for _, l := range ls {
		if a, ok := amountOf(string(l.Available)); ok {
			out = append(out, planner.CreditLedger{Available: a, ExpireTime: l.ExpireTime})
		}
	}
	return out
}

func (o *statusObserver) Connected(name string) bool {
	if name == o.ea.Name {
		return common.IsTrue(o.ea.Status.Conditions, budgetv1alpha1.ConditionReady)
	}
	var ea budgetv1alpha1.EnterpriseAccount
	return o.c.Get(o.ctx, types.NamespacedName{Name: name}, &ea) == nil && common.IsTrue(ea.Status.Conditions, budgetv1alpha1.ConditionReady)
}

// Reclaimable is known for the SubAccount's current customer only: the
// balance of a customer it resolved to before is not published.
func (o *statusObserver) Reclaimable(_ context.Context, _, customer string, credit bool) (planner.Balance, []planner.CreditLedger, error) {
	if customer != o.sa.Status.CustomerID {
		return planner.Balance{Known: o.emptyPrevious}, nil, nil
	}
	if !credit {
		return o.sub, nil, nil
	}
	var sum money.Amount
	for _, l := range o.subCredit {
		sum = sum.Add(l.Available)
	}
	return planner.Balance{Known: o.sa.Status.LastFullBalanceSyncTime != nil || len(o.subCredit) > 0, Amount: sum}, o.subCredit, nil
}

func (o *statusObserver) MasterCash(context.Context, bool) (planner.Balance, error) {
	return o.cash, nil
}

func (o *statusObserver) MasterCredit(context.Context, bool) ([]planner.CreditLedger, error) {
	return o.masterCredit, nil
}

func (o *statusObserver) MasterCoupons(context.Context, bool) (map[string]money.Amount, error) {
	return o.coupons, nil
}

// apply moves the balances as dec's transfer would.
func (o *statusObserver) apply(dec planner.Decision) {
	if dec.CustomerID != "" {
		return // a previous customer's balance is not published
	}
	switch dec.Operation {
	case budgetv1alpha1.OperationTransfer:
		if dec.Credit {
			o.masterCredit = moveCredit(o.masterCredit, dec.ExpireTime, dec.Amount.Neg())
			o.subCredit = moveCredit(o.subCredit, dec.ExpireTime, dec.Amount)
			return
		}
		o.cash.Amount = o.cash.Amount.Sub(dec.Amount)
		o.sub.Amount = o.sub.Amount.Add(dec.Amount)
	case budgetv1alpha1.OperationReclaim:
		if dec.Credit {
			o.masterCredit = moveCredit(o.masterCredit, dec.ExpireTime, dec.Amount)
			o.subCredit = moveCredit(o.subCredit, dec.ExpireTime, dec.Amount.Neg())
			return
		}
		o.cash.Amount = o.cash.Amount.Add(dec.Amount)
		o.sub.Amount = o.sub.Amount.Sub(dec.Amount)
	case budgetv1alpha1.OperationCouponTransfer:
		o.coupons[dec.CouponID] = o.coupons[dec.CouponID].Sub(dec.Amount)
	}
}

// moveCredit adds delta to the ledger with the given expiry, or appends one.
func moveCredit(ls []planner.CreditLedger, expire string, delta money.Amount) []planner.CreditLedger {
	out := append([]planner.CreditLedger(nil), ls...)
	for i := range out {
		if out[i].ExpireTime == expire {
			out[i].Available = out[i].Available.Add(delta)
			return out
		}
	}
	return append(out, planner.CreditLedger{Available: delta, ExpireTime: expire})
}

// figures names the balances used and how old they are.
func (o *statusObserver) figures() []string {
	age := func(t *metav1.Time) string {
		if t == nil {
			return "never read"
		}
		return "read " + o.now.Sub(t.Time).Truncate(time.Second).String() + " ago"
	}
	var out []string
	master := fmt.Sprintf("master: transferable cash %s", orNone(o.ea.Status.TransferableCash))
	if n := len(o.ea.Status.CreditLedgers); n > 0 {
		master += fmt.Sprintf(", %d credit ledger(s)", n)
	}
	if n := len(o.ea.Status.TransferableCoupons); n > 0 {
		master += fmt.Sprintf(", %d coupon(s)", n)
	}
	out = append(out, fmt.Sprintf("%s (EnterpriseAccount %s status, %s)", master, o.ea.Name, age(cmp.Or(o.ea.Status.BalancesTime, o.ea.Status.LastSyncTime))))
	sub := fmt.Sprintf("sub-account: reclaimable cash %s", orNone(o.sa.Status.ReclaimableCash))
	if n := len(o.sa.Status.ReclaimableCredit); n > 0 {
		sub += fmt.Sprintf(", %d credit ledger(s)", n)
	}
	out = append(out, fmt.Sprintf("%s (SubAccount %s status, %s)", sub, o.sa.Name, age(o.sa.Status.LastBalanceSyncTime)))
	return out
}

// lines renders the preview.
func (p Preview) lines() []string {
	var out []string
	for _, n := range p.Notes {
		out = append(out, "note: "+n)
	}
	if p.Gate != nil {
		return append(out, fmt.Sprintf("nothing moves: %s: %s", p.Gate.Reason, p.Gate.Message))
	}
	for _, f := range p.Figures {
		out = append(out, "figures: "+f)
	}
	if t := p.TopUp; t != nil {
		out = append(out, fmt.Sprintf("topUp: below %s the balance is topped up to %s, at most %s per bill cycle (%s used in %s)",
			t.Minimum, t.Target, t.MonthlyLimit, t.Used, t.Cycle))
	}
	if p.Awaiting != nil {
		aw := p.Awaiting
		if p.KeepAwaiting {
			out = append(out, fmt.Sprintf("waits: %s %s of %s keeps waiting for approval (kubectl budget approve %s)", aw.Operation, aw.Amount, aw.Name, aw.Name))
			return out
		}
		out = append(out, fmt.Sprintf("withdraws: %s, which waits for approval, is withdrawn: %s", aw.Name, p.WithdrawWhy))
	}
	switch p.Mode {
	case budgetv1alpha1.ManagementPolicyPaused:
		return append(out, "nothing moves: managementPolicy Paused; once Managed, next: "+p.Next.describe(p.Granted))
	case budgetv1alpha1.ManagementPolicyPlan:
		return append(out, "nothing moves: managementPolicy Plan shows in status.planned: "+p.Next.describe(p.Granted))
	}
	out = append(out, "next: "+p.Next.describe(p.Granted))
	out = append(out, p.Next.approvalLines()...)
	if p.OrElse != nil {
		line := "or, if nothing is reclaimable there: " + p.OrElse.describe(p.Granted)
		if p.OrElseKeepsAwaiting {
			line = fmt.Sprintf("or, if nothing is reclaimable there: %s keeps waiting for approval", p.Awaiting.Name)
		}
		out = append(out, line)
		out = append(out, p.OrElse.approvalLines()...)
		return out
	}
	for _, st := range p.Then {
		out = append(out, "then, if that succeeds: "+st.describe(nil))
		out = append(out, st.approvalLines()...)
	}
	return out
}

// describe says what the step does: the movement, with the grant before
// it when given, or why nothing moves.
func (st Step) describe(granted *money.Amount) string {
	d := st.Decision
	switch d.Action {
	case planner.ActionCreate:
		s := planner.Describe(d)
		if granted != nil && d.CustomerID == "" && (d.Operation == budgetv1alpha1.OperationTransfer || d.Operation == budgetv1alpha1.OperationReclaim) {
			s += fmt.Sprintf("  (granted %s, desired %s)", granted, money.Max(d.Desired, money.Zero))
		}
		return s
	case planner.ActionNone:
		return "nothing moves: " + d.Message
	case planner.ActionWait:
		if d.Operation == budgetv1alpha1.OperationReclaim {
			// The balance of a customer the SubAccount resolved to before
			// is not published: the operator reads it when it gets there.
			return fmt.Sprintf("Reclaim of up to %s from previous customer %s, as far as its reclaimable balance (read from BSS, not published) allows",
				d.Amount, d.CustomerID)
		}
	}
	return fmt.Sprintf("nothing moves now: %s: %s", d.Reason, d.Message)
}

func (st Step) approvalLines() []string {
	switch {
	case st.Approval != nil && st.Approval.Needed:
		return []string{fmt.Sprintf("  needs approval (%s): %s (kubectl budget approve)", st.Approval.Limit, st.Approval.Message)}
	case st.Approval != nil:
		return []string{"  no approval needed: " + st.Approval.Message}
	case st.ApprovalUnknown != "":
		return []string{"  may need approval: " + st.ApprovalUnknown}
	}
	return nil
}

package planner

import (
	"cmp"
	"fmt"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/approval"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/payment"
)

// This file turns API objects into the planner's inputs. The
// BudgetAllocation controller and `kubectl budget plan` both build their
// inputs here, from the same objects, so that the preview and the operator
// cannot read a spec, a ledger or a limit differently.

// Owned returns the transfers ba controls, out of transfers that may hold
// others (a name taken by a foreign object, a re-created allocation's).
func Owned(ba *budgetv1alpha1.BudgetAllocation, transfers []budgetv1alpha1.BudgetTransfer) []budgetv1alpha1.BudgetTransfer {
	out := make([]budgetv1alpha1.BudgetTransfer, 0, len(transfers))
	for i := range transfers {
		if metav1.IsControlledBy(&transfers[i], ba) {
			out = append(out, transfers[i])
		}
	}
	return out
}

// LedgerOf summarises an allocation's checkpoint (status.checkpoint) and
// its own transfers that the checkpoint has not folded, for the customer it
// last funded (its status.customerID) or, before it recorded one, the
// customer of its newest transfer. The caller moves the ledger to the
// SubAccount's current customer with For once it knows it.
func LedgerOf(ba *budgetv1alpha1.BudgetAllocation, owned []budgetv1alpha1.BudgetTransfer) (Ledger, error) {
	cp, err := CheckpointOf(ba.Status.Checkpoint)
	if err != nil {
		return Ledger{}, err
	}
	entries := make([]Entry, 0, len(owned))
	customer, newest := ba.Status.CustomerID, int64(-1)
	for i := range owned {
		bt := &owned[i]
		entries = append(entries, EntryOf(bt))
		if ba.Status.CustomerID == "" && bt.Spec.Sequence > newest {
			customer, newest = bt.Spec.CustomerID, bt.Spec.Sequence
		}
	}
	if customer == "" && cp != nil && len(cp.Holdings) == 1 {
		for id := range cp.Holdings {
			customer = id
		}
	}
	return SummarizeFrom(cp, entries, customer), nil
}

// ApprovalKey is the EnterpriseAccount's approval settings as the ledger
// records them on transfers (approval.Settings.Key): "" when there are
// none, "unreadable" when ea is nil (it could not be read) or its settings
// do not parse — the transfer controller then has every transfer wait for
// an approver.
func ApprovalKey(ea *budgetv1alpha1.EnterpriseAccount) string {
	if ea == nil {
		return "unreadable"
	}
	s, err := approval.SettingsOf(ea.Spec.Approval)
	if err != nil {
		return "unreadable"
	}
	return s.Key()
}

// DesiredOf reads what the allocation's spec asks for at now. The CRD
// validates amounts, so an error here is a spec only an older CRD let
// through.
func DesiredOf(ba *budgetv1alpha1.BudgetAllocation, l Ledger, deleting bool, approvalKey string, now time.Time) (Desired, error) {
	spec := ba.Spec
	d := Desired{Credit: spec.BalanceType == budgetv1alpha1.BalanceTypeCredit, Deleting: deleting, Coupons: map[string]money.Amount{},
		Generation: ba.Generation, ApprovalLimit: approvalKey}
	if spec.Amount != nil {
		a, err := money.Parse(string(*spec.Amount))
		if err != nil {
			return d, fmt.Errorf("spec.amount: %w", err)
		}
		d.Amount = &a
	}
	if t := spec.TopUp; t != nil {
		var tu TopUp
		var err error
		for _, f := range []struct {
			v   budgetv1alpha1.Money
			dst *money.Amount
		}{{t.MinimumBalance, &tu.Minimum}, {t.TargetBalance, &tu.Target}, {t.MonthlyLimit, &tu.MonthlyLimit}} {
			if *f.dst, err = money.Parse(string(f.v)); err != nil {
				return d, fmt.Errorf("spec.topUp: %w", err)
			}
		}
		tu.Cycle = billcycle.Of(now)
		tu.Used = l.TopUpUsed(tu.Cycle, billcycle.Of)
		d.TopUp = &tu
	}
	for _, c := range spec.Coupons {
		a, err := money.Parse(string(c.Amount))
		if err != nil {
			return d, fmt.Errorf("spec.coupons[%s].amount: %w", c.CouponID, err)
		}
		d.Coupons[c.CouponID] = a
	}
	return d, nil
}

// Gate is why an allocation cannot plan at all, and when to look again.
type Gate struct {
	Reason  string
	Message string
	After   time.Duration
}

// SubAccountGate checks the SubAccount an allocation funds: it must exist
// (sa nil: it does not), admit the allocation's namespace (a deletion is
// always admitted: returning money needs no admission) and be Ready. nil
// means the allocation may plan.
func SubAccountGate(ba *budgetv1alpha1.BudgetAllocation, sa *budgetv1alpha1.SubAccount, admitted, deleting bool) *Gate {
	name := ba.Spec.SubAccountRef.Name
	switch {
	case sa == nil:
		return &Gate{Reason: budgetv1alpha1.ReasonSubAccountNotReady, Message: fmt.Sprintf("SubAccount %s does not exist", name), After: 5 * time.Minute}
	case !admitted && !deleting:
		return &Gate{Reason: budgetv1alpha1.ReasonNamespaceNotAllowed, Message: fmt.Sprintf(
			"SubAccount %s does not admit namespace %s in spec.allowedNamespaces; nothing moves", sa.Name, ba.Namespace)}
	}
	ready := false
	reason := "not reconciled yet"
	for _, c := range sa.Status.Conditions {
		if c.Type == budgetv1alpha1.ConditionReady {
			ready, reason = c.Status == metav1.ConditionTrue, cmp.Or(c.Reason, reason)
		}
	}
	if ready && sa.Status.CustomerID == "" {
		reason = "it has no customer ID yet"
	}
	if sa.Status.CustomerID == "" || !ready {
		return &Gate{Reason: budgetv1alpha1.ReasonSubAccountNotReady, Message: fmt.Sprintf("SubAccount %s is not Ready (%s)", sa.Name, reason), After: time.Minute}
	}
	return nil
}

// FundingHeadroom is how much more the SubAccount's fundingLimit lets ba
// grant: the limit minus what ba has granted (l), what every other
// allocation of the SubAccount (siblings, which may include ba) reports
// granted or in flight, and what the SubAccount's OrderPayments (payments)
// paid for its current customer (payment.TotalsOf: Paid, and Paying ones
// that may have been). nil without a limit, or when deleting.
func FundingHeadroom(sa *budgetv1alpha1.SubAccount, ba *budgetv1alpha1.BudgetAllocation, l Ledger, siblings []budgetv1alpha1.BudgetAllocation,
	payments []budgetv1alpha1.OrderPayment, deleting bool,
) (*money.Amount, error) {
	if sa.Spec.FundingLimit == nil || deleting {
		return nil, nil
	}
	lim, err := money.Parse(string(*sa.Spec.FundingLimit))
	if err != nil {
		return nil, fmt.Errorf("SubAccount %s spec.fundingLimit: %w", sa.Name, err)
	}
	used := l.Granted
	for i := range siblings {
		other := &siblings[i]
		if other.UID == ba.UID && other.Namespace == ba.Namespace && other.Name == ba.Name {
			continue
		}
		g, _ := money.Parse(string(other.Status.Granted))
		used = used.Add(g)
		if p, err := money.ParseDecimal(other.Status.Pending); err == nil && p.IsPositive() {
			used = used.Add(p)
		}
	}
	if sa.Status.CustomerID != "" {
		used = used.Add(payment.TotalsOf(payments, sa.Status.CustomerID, "", "").Paid)
	}
	h := lim.Sub(used)
	return &h, nil
}

// PreviousPolicies are the SubAccount's decisions about customers it
// resolved to before, by customer id.
func PreviousPolicies(sa *budgetv1alpha1.SubAccount) map[string]budgetv1alpha1.PreviousCustomerPolicy {
	out := make(map[string]budgetv1alpha1.PreviousCustomerPolicy, len(sa.Spec.PreviousCustomers))
	for _, p := range sa.Spec.PreviousCustomers {
		out[p.CustomerID] = p.Policy
	}
	return out
}

// Awaiting returns the ledger's in-flight transfer if it still waits for
// approval (it has not reached BSS), and the ledger without it: the plan is
// made without it, and Settle says whether it is kept.
func Awaiting(l Ledger) (*Entry, Ledger) {
	f := l.InFlight
	if f == nil || f.Phase != budgetv1alpha1.PhaseAwaitingApproval {
		return nil, l
	}
	aw := *f
	return &aw, l.Without(f.Name)
}

// Settle says whether a transfer waiting for approval is still wanted: only
// while the allocation is Managed (and not being deleted) and its plan asks
// for exactly that movement with the same customer. Otherwise why says why
// it is withdrawn.
func Settle(aw Entry, dec Decision, mode budgetv1alpha1.ManagementPolicy, deleting bool, customer string) (keep bool, why string) {
	if deleting {
		mode = budgetv1alpha1.ManagementPolicyManaged
	}
	if mode == budgetv1alpha1.ManagementPolicyManaged && !deleting && dec.Action == ActionCreate && Matches(aw, dec) &&
		aw.CustomerID == cmp.Or(dec.CustomerID, customer) {
		return true, ""
	}
	switch {
	case deleting:
		return false, "the allocation is being deleted"
	case mode == budgetv1alpha1.ManagementPolicyPaused:
		return false, "the allocation was Paused"
	case mode == budgetv1alpha1.ManagementPolicyPlan:
		return false, "the allocation was set to managementPolicy Plan"
	}
	return false, "the allocation's spec no longer asks for it"
}

// Matches reports whether an existing transfer is the one dec asks for.
func Matches(e Entry, dec Decision) bool {
	if e.Operation != dec.Operation || e.CouponID != dec.CouponID || e.ExpireTime != dec.ExpireTime {
		return false
	}
	return dec.Operation == budgetv1alpha1.OperationCouponReclaim || e.Amount == dec.Amount
}

// Describe names a movement the way events, status and the preview do.
func Describe(dec Decision) string {
	var s string
	switch dec.Operation {
	case budgetv1alpha1.OperationCouponTransfer:
		s = fmt.Sprintf("CouponTransfer %s of coupon %s", dec.Amount, dec.CouponID)
	case budgetv1alpha1.OperationCouponReclaim:
		s = fmt.Sprintf("CouponReclaim of sub-coupon %s (coupon %s)", dec.SubCouponID, dec.CouponID)
	default:
		s = fmt.Sprintf("%s %s", dec.Operation, dec.Amount)
		if dec.Credit {
			s += " of credit"
			if dec.ExpireTime != "" {
				s += " expiring " + dec.ExpireTime
			}
		}
	}
	if dec.CustomerID != "" {
		s += " from previous customer " + dec.CustomerID
	}
	return s
}

// generationOf reads the allocation generation a transfer was made for.
func generationOf(bt *budgetv1alpha1.BudgetTransfer) int64 {
	g, _ := strconv.ParseInt(bt.Annotations[budgetv1alpha1.AnnotationAllocationGeneration], 10, 64)
	return g
}

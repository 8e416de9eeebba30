// Package approval decides whether a BudgetTransfer needs a person's
// approval before it is sent. The transfer controller and kubectl budget
// plan both ask it, so that what the plan says is what the operator does.
//
// A transfer of money or coupons to a sub-account needs approval when it is
// above the EnterpriseAccount's autoApproveUpTo, or when it would take what
// moved to that sub-account without approval in the current bill cycle
// (UTC+8) past autoApproveCyclePerSubAccount (which defaults to
// autoApproveUpTo). Reclaims never need approval. Doubt fails closed: settings
// that cannot be read or parsed mean the transfer waits for approval.
package approval

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Settings are an EnterpriseAccount's approval limits. Both nil: nothing
// needs approval.
type Settings struct {
	// PerTransfer is the largest transfer that moves without approval.
	PerTransfer *money.Amount
	// PerCycle is the most that moves to one sub-account in one bill cycle
	// without approval.
	PerCycle *money.Amount
}

// SettingsOf parses an EnterpriseAccount's approval settings. An error
// means they cannot be trusted, and every transfer must wait.
func SettingsOf(a *budgetv1alpha1.Approval) (Settings, error) {
	var s Settings
	if a == nil {
		return s, nil
	}
	parse := func(field string, m *budgetv1alpha1.Money) (*money.Amount, error) {
		if m == nil {
			return nil, nil
		}
		v, err := money.Parse(string(*m))
		if err != nil {
			return nil, fmt.Errorf("approval.%s %q cannot be read: %w", field, *m, err)
		}
		return &v, nil
	}
	var err error
	if s.PerTransfer, err = parse("autoApproveUpTo", a.AutoApproveUpTo); err != nil {
		return s, err
	}
	if s.PerCycle, err = parse("autoApproveCyclePerSubAccount", a.AutoApproveCyclePerSubAccount); err != nil {
		return s, err
	}
	if s.PerCycle == nil {
		s.PerCycle = s.PerTransfer
	}
	return s, nil
}

// Key is a short fingerprint of the settings, recorded with a transfer: a
// denial stands until it changes. "" means no approval is configured.
func (s Settings) Key() string {
	if s.PerTransfer == nil && s.PerCycle == nil {
		return ""
	}
	show := func(a *money.Amount) string {
		if a == nil {
			return "-"
		}
		return a.String()
	}
	if s.PerCycle == s.PerTransfer || (s.PerCycle != nil && s.PerTransfer != nil && *s.PerCycle == *s.PerTransfer) {
		return show(s.PerTransfer)
	}
	return show(s.PerTransfer) + "/" + show(s.PerCycle)
}

// Movement is a transfer as the approval rule sees it.
type Movement struct {
	Namespace, Name string
	Operation       budgetv1alpha1.TransferOperation
	Amount          money.Amount
	Created         time.Time
	Phase           budgetv1alpha1.TransferPhase
	// Approved: an approver set Approved=True on it.
	Approved bool
}

// MovementOf reads a BudgetTransfer.
func MovementOf(bt *budgetv1alpha1.BudgetTransfer) Movement {
	amount, _ := money.Parse(string(bt.Spec.Amount))
	m := Movement{Namespace: bt.Namespace, Name: bt.Name, Operation: bt.Spec.Operation, Amount: amount,
		Created: bt.CreationTimestamp.Time, Phase: bt.Status.Phase}
	for _, c := range bt.Status.Conditions {
		if c.Type == budgetv1alpha1.ConditionApproved && c.Status == "True" {
			m.Approved = true
		}
	}
	return m
}

// PayOrder is the operation of an OrderPayment as the approval rule sees
// it: money the master spends for the sub-account, under the same limits
// as a transfer to it.
const PayOrder budgetv1alpha1.TransferOperation = "PayOrder"

// MovementOfPayment reads an OrderPayment: its amount (status.amount, set
// once the order was read), and its phase in the terms of a transfer
// (Paying is Submitting, Paid is Succeeded, Cancelled is Failed). A
// payment that found its order paid elsewhere counts as Failed: it spent
// nothing.
func MovementOfPayment(op *budgetv1alpha1.OrderPayment) Movement {
	amount, _ := money.Parse(string(op.Status.Amount))
	m := Movement{Namespace: "orderpayment:" + op.Namespace, Name: op.Name, Operation: PayOrder, Amount: amount,
		Created: op.CreationTimestamp.Time}
	switch op.Status.Phase {
	case budgetv1alpha1.PaymentAwaitingApproval:
		m.Phase = budgetv1alpha1.PhaseAwaitingApproval
	case budgetv1alpha1.PaymentPaying:
		m.Phase = budgetv1alpha1.PhaseSubmitting
	case budgetv1alpha1.PaymentPaid:
		m.Phase = budgetv1alpha1.PhaseSucceeded
		for _, c := range op.Status.Conditions {
			if c.Type == budgetv1alpha1.ConditionReady && c.Reason == budgetv1alpha1.ReasonPaidElsewhere {
				m.Phase = budgetv1alpha1.PhaseFailed
			}
		}
	case budgetv1alpha1.PaymentFailed, budgetv1alpha1.PaymentCancelled:
		m.Phase = budgetv1alpha1.PhaseFailed
	default:
		m.Phase = budgetv1alpha1.PhasePending
	}
	for _, c := range op.Status.Conditions {
		if c.Type == budgetv1alpha1.ConditionApproved && c.Status == "True" {
			m.Approved = true
		}
	}
	return m
}

// Applies reports whether an operation can need approval: money and coupons
// going to a sub-account, and orders paid for it.
func Applies(op budgetv1alpha1.TransferOperation) bool {
	return op == budgetv1alpha1.OperationTransfer || op == budgetv1alpha1.OperationCouponTransfer || op == PayOrder
}

// before orders movements by creation, then namespace and name: the order
// in which they draw on a cycle's budget.
func before(a, b Movement) bool {
	if c := a.Created.Compare(b.Created); c != 0 {
		return c < 0
	}
	return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name)) < 0
}

// Used sums what the other movements to the same sub-account draw on the
// cycle's budget ahead of m: those created in the cycle (cycleOf gives a
// time's bill cycle) that are not Failed, were not approved by a person and
// do not wait for one, and that were sent already or come before m. A
// movement that comes after m and is not sent yet decides after m and counts
// m then; one sent already counts whatever its order. So, with the decisions
// for one sub-account taken one at a time against the API server's current
// list, the auto-approved movements of a cycle never add up past the
// budget.
func Used(others []Movement, m Movement, cycle string, cycleOf func(time.Time) string) money.Amount {
	var used money.Amount
	for _, o := range others {
		if o.Namespace == m.Namespace && o.Name == m.Name {
			continue
		}
		if !Applies(o.Operation) || cycleOf(o.Created) != cycle || o.Phase == budgetv1alpha1.PhaseFailed ||
			o.Approved || o.Phase == budgetv1alpha1.PhaseAwaitingApproval {
			continue
		}
		sent := o.Phase == budgetv1alpha1.PhaseSubmitting || o.Phase == budgetv1alpha1.PhaseSucceeded
		if sent || before(o, m) {
			used = used.Add(o.Amount)
		}
	}
	return used
}

// UsedBy is Used over a sub-account's transfers and order payments (of
// every namespace), counting those for its current customer only.
func UsedBy(transfers []budgetv1alpha1.BudgetTransfer, payments []budgetv1alpha1.OrderPayment, customer string, m Movement, cycle string, cycleOf func(time.Time) string) money.Amount {
	others := make([]Movement, 0, len(transfers)+len(payments))
	for i := range transfers {
		if bt := &transfers[i]; bt.Spec.CustomerID == customer {
			others = append(others, MovementOf(bt))
		}
	}
	for i := range payments {
		if op := &payments[i]; op.Status.CustomerID == customer {
			others = append(others, MovementOfPayment(op))
		}
	}
	return Used(others, m, cycle, cycleOf)
}

// Verdict is the approval rule's answer for one movement.
type Verdict struct {
	// Needed: the movement waits for a person.
	Needed bool
	// Limit names the limit it hits, e.g. "autoApproveUpTo 20000.00".
	Limit string
	// Message explains the verdict in full.
	Message string
}

// Decide applies the settings to a movement that would add amount to what
// the sub-account subAccount has received without approval in cycle (used).
func Decide(s Settings, op budgetv1alpha1.TransferOperation, amount, used money.Amount, subAccount, cycle string) Verdict {
	if !Applies(op) {
		return Verdict{Message: fmt.Sprintf("a %s needs no approval", op)}
	}
	if s.PerTransfer != nil && amount.Cmp(*s.PerTransfer) > 0 {
		limit := "autoApproveUpTo " + s.PerTransfer.String()
		return Verdict{Needed: true, Limit: limit, Message: fmt.Sprintf("%s %s is above the auto-approval limit %s per transfer", op, amount, s.PerTransfer)}
	}
	if s.PerCycle != nil {
		if total := used.Add(amount); total.Cmp(*s.PerCycle) > 0 {
			limit := "autoApproveCyclePerSubAccount " + s.PerCycle.String()
			return Verdict{Needed: true, Limit: limit, Message: fmt.Sprintf(
				"%s %s would take what moved to sub-account %s without approval in bill cycle %s to %s, above the auto-approval budget %s per sub-account and cycle",
				op, amount, subAccount, cycle, total, s.PerCycle)}
		}
	}
	if s.PerTransfer == nil && s.PerCycle == nil {
		return Verdict{Message: "no approval is configured"}
	}
	return Verdict{Message: fmt.Sprintf("within the auto-approval limits (%s moved to sub-account %s without approval in bill cycle %s before it)", used, subAccount, cycle)}
}

// Unreadable is the verdict when the settings cannot be known: the
// movement waits for a person, who can approve it.
func Unreadable(why string) Verdict {
	return Verdict{Needed: true, Limit: "unknown approval settings", Message: "the approval settings cannot be read (" + why + "), so it waits for an approver"}
}

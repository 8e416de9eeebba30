package payment

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Counts reports whether an OrderPayment's amount counts as paid by the
// master for its customer: Paid by it, or Paying (it may have been paid).
// A payment that found its order paid elsewhere charged nothing.
func Counts(op *budgetv1alpha1.OrderPayment) bool {
	switch op.Status.Phase {
	case budgetv1alpha1.PaymentPaying:
		return true
	case budgetv1alpha1.PaymentPaid:
		return readyReason(op) != budgetv1alpha1.ReasonPaidElsewhere
	}
	return false
}

func readyReason(op *budgetv1alpha1.OrderPayment) string {
	for _, c := range op.Status.Conditions {
		if c.Type == budgetv1alpha1.ConditionReady {
			return c.Reason
		}
	}
	return ""
}

// Totals are what OrderPayments paid for one customer.
type Totals struct {
	// Paid in all; ThisCycle in the bill cycle asked for.
	Paid, ThisCycle money.Amount
}

// TotalsOf sums the payments that count (Counts) for customer, skipping
// the one named skip (namespace/name, "" for none); cycle selects
// ThisCycle.
func TotalsOf(payments []budgetv1alpha1.OrderPayment, customer, cycle, skip string) Totals {
	var t Totals
	for i := range payments {
		op := &payments[i]
		if op.Status.CustomerID != customer || !Counts(op) || op.Namespace+"/"+op.Name == skip {
			continue
		}
		a, err := money.Parse(string(op.Status.Amount))
		if err != nil {
			continue
		}
		t.Paid = t.Paid.Add(a)
		if op.Status.Cycle == cycle {
			t.ThisCycle = t.ThisCycle.Add(a)
		}
	}
	return t
}

// Granted is what a SubAccount's allocations granted, with what they have
// in flight (as their status reports it).
func Granted(allocations []budgetv1alpha1.BudgetAllocation) money.Amount {
	var g money.Amount
	for i := range allocations {
		a, _ := money.Parse(string(allocations[i].Status.Granted))
		g = g.Add(a)
		if p, err := money.ParseDecimal(allocations[i].Status.Pending); err == nil && p.IsPositive() {
			g = g.Add(p)
		}
	}
	return g
}

// Block is a limit a payment may not pass yet; Reason is a condition
// reason.
type Block struct {
	Reason, Message string
}

// CheckLimits says whether a payment of amount fits the SubAccount's
// limits in bill cycle cycle:
//
//   - fundingLimit: what the allocations granted (granted) plus what
//     OrderPayments paid (paid.Paid) plus amount;
//   - monthlyBudget: the cycle's consumption as the SubAccount's bills
//     last showed it, plus what OrderPayments paid in the cycle
//     (paid.ThisCycle; BSS charges on-behalf payments to the master, so
//     the sub-account's bill does not hold them), plus amount.
//
// nil means it fits. Limits that cannot be read block.
func CheckLimits(sa *budgetv1alpha1.SubAccount, granted money.Amount, paid Totals, amount money.Amount, cycle string) *Block {
	if l := sa.Spec.FundingLimit; l != nil {
		lim, err := money.Parse(string(*l))
		if err != nil {
			return &Block{Reason: budgetv1alpha1.ReasonFundingLimitExceeded, Message: fmt.Sprintf("SubAccount %s spec.fundingLimit %q cannot be read", sa.Name, *l)}
		}
		if total := granted.Add(paid.Paid).Add(amount); total.Cmp(lim) > 0 {
			return &Block{Reason: budgetv1alpha1.ReasonFundingLimitExceeded, Message: fmt.Sprintf(
				"paying %s would take SubAccount %s to %s (granted %s + orders paid %s + this payment), above its fundingLimit %s",
				amount, sa.Name, total, granted, paid.Paid, lim)}
		}
	}
	if b := sa.Spec.MonthlyBudget; b != nil {
		lim, err := money.Parse(string(b.Amount))
		if err != nil {
			return &Block{Reason: budgetv1alpha1.ReasonMonthlyBudgetExceeded, Message: fmt.Sprintf("SubAccount %s spec.monthlyBudget.amount %q cannot be read", sa.Name, b.Amount)}
		}
		consumed := money.Zero
		if c := sa.Status.CurrentCycle; c != nil && c.Cycle == cycle {
			consumed, _ = money.Parse(string(c.Consumption))
		}
		if total := consumed.Add(paid.ThisCycle).Add(amount); total.Cmp(lim) > 0 {
			return &Block{Reason: budgetv1alpha1.ReasonMonthlyBudgetExceeded, Message: fmt.Sprintf(
				"paying %s would take SubAccount %s's spending in bill cycle %s to %s (consumption %s + orders paid %s + this payment), above its monthlyBudget %s",
				amount, sa.Name, cycle, total, consumed, paid.ThisCycle, lim)}
		}
	}
	return nil
}

// ListOf lists the OrderPayments of a SubAccount in every namespace, by
// the selectable field spec.subAccountName (from the API server when r is
// an API reader).
func ListOf(ctx context.Context, r client.Reader, subAccount string) ([]budgetv1alpha1.OrderPayment, error) {
	var list budgetv1alpha1.OrderPaymentList
	if err := r.List(ctx, &list, client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector(FieldSubAccount, subAccount)}); err != nil {
		return nil, fmt.Errorf("listing the OrderPayments of SubAccount %s: %w", subAccount, err)
	}
	return list.Items, nil
}

// Selectable fields of OrderPayment.
const (
	FieldSubAccount = "spec.subAccountName"
	FieldOrderID    = "spec.orderID"
)

// Admits reports whether SubAccount sa lets an OrderPayment in namespace
// pay its orders: the namespaces its allowedNamespaces admits, and the
// namespace of its Auto orderPayment policy. r reads the namespace's
// labels when the allowedNamespaces selector needs them.
func Admits(ctx context.Context, r client.Reader, sa *budgetv1alpha1.SubAccount, namespace string) (bool, error) {
	if p := sa.Spec.OrderPayment; p != nil && p.Mode == budgetv1alpha1.OrderPaymentAuto && p.Namespace == namespace {
		return true, nil
	}
	return sa.Spec.AllowedNamespaces.Admits(namespace, func() (map[string]string, bool, error) {
		var ns corev1.Namespace
		if err := r.Get(ctx, types.NamespacedName{Name: namespace}, &ns); err != nil {
			return nil, false, client.IgnoreNotFound(err)
		}
		return ns.Labels, true, nil
	})
}

// Active reports whether an OrderPayment pays, or may still pay, its
// order: it is not Failed or Cancelled, and is not being deleted before it
// sent anything (a deleted one that is Paying may have paid).
func Active(op *budgetv1alpha1.OrderPayment) bool {
	switch op.Status.Phase {
	case budgetv1alpha1.PaymentFailed, budgetv1alpha1.PaymentCancelled:
		return false
	}
	return op.DeletionTimestamp.IsZero() || op.Status.Phase == budgetv1alpha1.PaymentPaying
}

// Pays reports whether op is a payment of order id: its spec.orderID, or
// the combined-transaction order it pays (status.payOrderID).
func Pays(op *budgetv1alpha1.OrderPayment, id string) bool {
	return strings.EqualFold(op.Spec.OrderID, id) || (op.Status.PayOrderID != "" && strings.EqualFold(op.Status.PayOrderID, id))
}

// PayerOf is the OrderPayment among payments that pays order id, nil if
// none: of the active payments of the order, one that has sent its call
// (Paying or Paid) if there is one, else the oldest (by creation, then
// namespace and name). Every other active payment of the order is a
// duplicate that sends nothing.
func PayerOf(payments []budgetv1alpha1.OrderPayment, id string) *budgetv1alpha1.OrderPayment {
	var payer *budgetv1alpha1.OrderPayment
	for i := range payments {
		op := &payments[i]
		if !Pays(op, id) || !Active(op) {
			continue
		}
		if payer == nil || sent(op) && !sent(payer) || sent(op) == sent(payer) && before(op, payer) {
			payer = op
		}
	}
	return payer
}

func sent(op *budgetv1alpha1.OrderPayment) bool {
	return op.Status.Phase == budgetv1alpha1.PaymentPaying || op.Status.Phase == budgetv1alpha1.PaymentPaid
}

func before(a, b *budgetv1alpha1.OrderPayment) bool {
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c < 0
	}
	return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name)) < 0
}

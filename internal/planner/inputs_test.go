package planner

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// TestFundingHeadroomCountsPaidOrders: what the SubAccount's OrderPayments
// paid for its customer counts against its fundingLimit, like the grants.
func TestFundingHeadroomCountsPaidOrders(t *testing.T) {
	const customer = "cust-1"
	limit := budgetv1alpha1.Money("1000")
	sa := &budgetv1alpha1.SubAccount{ObjectMeta: metav1.ObjectMeta{Name: "team"},
		Spec:   budgetv1alpha1.SubAccountSpec{FundingLimit: &limit},
		Status: budgetv1alpha1.SubAccountStatus{CustomerID: customer}}
	ba := &budgetv1alpha1.BudgetAllocation{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "a", UID: "uid-a"}}
	sibling := budgetv1alpha1.BudgetAllocation{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "b", UID: "uid-b"},
		Status: budgetv1alpha1.BudgetAllocationStatus{Granted: "100.00", Pending: "50.00"}}
	ledger := Ledger{Customer: customer, Granted: money.MustParse("200")}
	op := func(phase budgetv1alpha1.PaymentPhase, reason, cust, amount string) budgetv1alpha1.OrderPayment {
		return budgetv1alpha1.OrderPayment{Status: budgetv1alpha1.OrderPaymentStatus{Phase: phase, CustomerID: cust, Amount: budgetv1alpha1.Money(amount),
			Conditions: []metav1.Condition{{Type: budgetv1alpha1.ConditionReady, Reason: reason}}}}
	}
	payments := []budgetv1alpha1.OrderPayment{
		op(budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid, customer, "120.00"),
		op(budgetv1alpha1.PaymentPaying, budgetv1alpha1.ReasonPaying, customer, "30.00"),
		// These do not count: paid by someone else, failed, or for
		// another customer.
		op(budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaidElsewhere, customer, "500.00"),
		op(budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonAboveMaxAmount, customer, "500.00"),
		op(budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid, "cust-0", "500.00"),
	}
	tests := []struct {
		name     string
		payments []budgetv1alpha1.OrderPayment
		deleting bool
		want     string
	}{
		// 1000 - 200 (ledger) - 150 (sibling, with its transfer in flight).
		{name: "no payments", want: "650.00"},
		// ... - 120 paid - 30 being paid.
		{name: "paid orders", payments: payments, want: "500.00"},
		{name: "deleting", payments: payments, deleting: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := FundingHeadroom(sa, ba, ledger, []budgetv1alpha1.BudgetAllocation{*ba, sibling}, tc.payments, tc.deleting)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == "" && h != nil:
				t.Errorf("headroom %s, want none", h)
			case tc.want != "" && (h == nil || h.String() != tc.want):
				t.Errorf("headroom %v, want %s", h, tc.want)
			}
		})
	}

	// Paid orders can use up the limit: the headroom goes negative, and
	// the planner moves nothing.
	big := append(payments, op(budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid, customer, "600.00"))
	h, err := FundingHeadroom(sa, ba, ledger, nil, big, false)
	if err != nil {
		t.Fatal(err)
	}
	if h == nil || h.String() != "50.00" {
		t.Errorf("headroom %v, want 50.00", h)
	}
	big = append(big, op(budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid, customer, "100.00"))
	if h, _ = FundingHeadroom(sa, ba, ledger, nil, big, false); h == nil || !h.IsNegative() {
		t.Errorf("headroom %v, want below zero", h)
	}

	// Without a customer yet, no payment is the SubAccount's.
	noCustomer := sa.DeepCopy()
	noCustomer.Status.CustomerID = ""
	if h, _ = FundingHeadroom(noCustomer, ba, ledger, nil, payments, false); h == nil || h.String() != "800.00" {
		t.Errorf("headroom without a customer %v, want 800.00", h)
	}
}

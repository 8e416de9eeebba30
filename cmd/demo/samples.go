package main

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
)

// The seeded sub-accounts and coupons of the simulator (README, "Default
// seed").
const (
	customerTeamA = "cust-team-a-0001"
	customerTeamB = "cust-team-b-0001"
	customerTeamC = "cust-team-c-0001"
	coupon1       = "CP2026110100001"
	coupon2       = "CP2026110100002"
	// orderRenewal is the seed's pending renewal of team-a, which team-a's
	// Auto orderPayment policy pays.
	orderRenewal = "CS2026000000002"
	// orderStorage is the order the demo adds for team-c: above the
	// EnterpriseAccount's autoApproveUpTo, its payment waits for approval.
	orderStorage = "CS2026000000901"
	enterprise   = "acme"
	masterKeys   = "acme-bss-credentials"
)

// samples are the objects the demo creates, in order: what config/samples
// shows, pointed at the simulator, plus team-b and team-c, an allocation
// from a namespace that team-c does not admit, team-a's Auto order payment
// policy and a payment of team-c's that waits for approval.
func samples(endpoint string) []client.Object {
	ns := localenv.OperatorNamespace
	ea := localenv.EnterpriseAccount(enterprise, endpoint, masterKeys)
	ea.Spec.Approval = &budgetv1alpha1.Approval{AutoApproveUpTo: localenv.Money("20000.00")}

	teamA := localenv.SubAccount("team-a", enterprise, customerTeamA, "team-a")
	teamA.Spec.FundingLimit = localenv.Money("50000.00")
	teamA.Spec.MonthlyBudget = &budgetv1alpha1.MonthlyBudget{Amount: "8000.00", AlertThresholds: []int32{50, 80, 100}}
	teamA.Spec.OrderPayment = &budgetv1alpha1.OrderPaymentPolicy{Mode: budgetv1alpha1.OrderPaymentAuto, MaxAmountPerOrder: localenv.Money("1000.00"),
		OrderTypes: []budgetv1alpha1.OrderType{"New", "Renewal"}, Namespace: "team-a"}
	teamB := localenv.SubAccount("team-b", enterprise, customerTeamB, "team-b")
	teamB.Spec.MonthlyBudget = &budgetv1alpha1.MonthlyBudget{Amount: "5000.00", AlertThresholds: []int32{80, 100}}
	teamC := localenv.SubAccount("team-c", enterprise, customerTeamC, "team-c")

	compute := localenv.Allocation("team-a", "compute", "team-a", "5000.00")
	compute.Spec.DeletionPolicy = budgetv1alpha1.DeletionPolicyReclaim
	launch := localenv.Allocation("team-a", "launch", "team-a", "1000.00")
	launch.Spec.Coupons = []budgetv1alpha1.CouponGrant{{CouponID: coupon1, Amount: "500.00"}, {CouponID: coupon2, Amount: "200.00"}}
	topUp := localenv.Allocation("team-b", "topup", "team-b", "")
	topUp.Spec.TopUp = &budgetv1alpha1.TopUp{MinimumBalance: "1000.00", TargetBalance: "3000.00", MonthlyLimit: "10000.00"}
	plan := localenv.Allocation("team-b", "credit-plan", "team-b", "20000.00")
	plan.Spec.BalanceType = budgetv1alpha1.BalanceTypeCredit
	plan.Spec.ManagementPolicy = budgetv1alpha1.ManagementPolicyPlan
	storage := localenv.Allocation("team-c", "storage", "team-c", "800.00")
	archive := &budgetv1alpha1.OrderPayment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-c", Name: "archive-renewal"},
		Spec: budgetv1alpha1.OrderPaymentSpec{SubAccountName: "team-c", OrderID: orderStorage, MaxAmount: "24000.00",
			Coupons: budgetv1alpha1.PaymentCoupons{Mode: budgetv1alpha1.SelectNone}, Discount: budgetv1alpha1.PaymentDiscount{Mode: budgetv1alpha1.SelectAuto}},
	}
	borrowed := localenv.Allocation("sandbox", "borrowed", "team-c", "300.00")

	return []client.Object{
		localenv.Namespace(ns, nil),
		localenv.CredentialsSecret(ns, masterKeys),
		ea, teamA, teamB, teamC,
		localenv.Namespace("team-a", nil), localenv.Namespace("team-b", nil),
		localenv.Namespace("team-c", nil), localenv.Namespace("sandbox", nil),
		compute, launch, topUp, plan, storage, borrowed, archive,
	}
}

// describeObject is one line about a sample.
func describeObject(o client.Object) string {
	switch o := o.(type) {
	case *corev1.Namespace:
		return "Namespace " + o.Name
	case *corev1.Secret:
		return fmt.Sprintf("Secret %s/%s (accessKeyID, secretAccessKey, domainID of the simulator's master)", o.Namespace, o.Name)
	case *budgetv1alpha1.EnterpriseAccount:
		return fmt.Sprintf("EnterpriseAccount %s -> %s", o.Name, o.Spec.Endpoint)
	case *budgetv1alpha1.SubAccount:
		d := fmt.Sprintf("SubAccount %s adopts %s, admits namespace %s", o.Name, o.Spec.CustomerID, strings.Join(o.Spec.AllowedNamespaces.Names, ", "))
		if p := o.Spec.OrderPayment; p != nil && p.Mode == budgetv1alpha1.OrderPaymentAuto {
			d += fmt.Sprintf("; pays its pending %v orders up to %s automatically", p.OrderTypes, *p.MaxAmountPerOrder)
		}
		return d
	case *budgetv1alpha1.OrderPayment:
		return fmt.Sprintf("OrderPayment %s/%s pays order %s of %s, at most %s", o.Namespace, o.Name, o.Spec.OrderID, o.Spec.SubAccountName, o.Spec.MaxAmount)
	case *budgetv1alpha1.BudgetAllocation:
		return fmt.Sprintf("BudgetAllocation %s/%s from %s: %s", o.Namespace, o.Name, o.Spec.SubAccountRef.Name, allocationSpec(o))
	}
	return fmt.Sprintf("%T %s", o, o.GetName())
}

func allocationSpec(ba *budgetv1alpha1.BudgetAllocation) string {
	var parts []string
	if ba.Spec.Amount != nil {
		parts = append(parts, "amount "+string(*ba.Spec.Amount))
	}
	if t := ba.Spec.TopUp; t != nil {
		parts = append(parts, fmt.Sprintf("topUp to %s when below %s, at most %s a month", t.TargetBalance, t.MinimumBalance, t.MonthlyLimit))
	}
	if ba.Spec.BalanceType == budgetv1alpha1.BalanceTypeCredit {
		parts = append(parts, "of credit")
	}
	for _, c := range ba.Spec.Coupons {
		parts = append(parts, fmt.Sprintf("coupon %s %s", c.CouponID, c.Amount))
	}
	if ba.Spec.ManagementPolicy == budgetv1alpha1.ManagementPolicyPlan {
		parts = append(parts, "managementPolicy Plan")
	}
	if ba.Spec.DeletionPolicy == budgetv1alpha1.DeletionPolicyReclaim {
		parts = append(parts, "deletionPolicy Reclaim")
	}
	if ba.Namespace == "sandbox" {
		parts = append(parts, "(its namespace is not admitted)")
	}
	return strings.Join(parts, ", ")
}

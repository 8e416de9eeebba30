package plugin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/plugin"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

var seedOrdersOnce sync.Once

// seedOrders creates, under EnterpriseAccount acme (auto-approve up to
// 5000.00):
//
//   - SubAccount shop, orderPayment Auto up to 500.00 per order in team-a,
//     fundingLimit 3000.00, no allocations, with three pending orders:
//     CSCOVERED001 (paid by team-a/order-cscovered001, Paying 300.00),
//     CSAUTO002 (fits) and CSBIG003 (2500.00, above maxAmountPerOrder); its
//     OrderPayments paid 800.00 this cycle (300.00 Paying, 500.00 Paid);
//   - SubAccount studio, Manual, no limits, with pending orders CSHUGE004
//     (6000.00) and CSSTUDIO006 (80.00), and OrderPayments op-wait and
//     op-deny waiting for approval and op-done Paid.
//
// Neither has allocations or spends in the cycle, so the other tests'
// totals stay as they are; their customers are their own, so the
// approval budget of team-a is untouched.
func seedOrders(t *testing.T) {
	t.Helper()
	var err error
	seedOrdersOnce.Do(func() { err = doSeedOrders(context.Background()) })
	if err != nil {
		t.Fatal(err)
	}
}

func doSeedOrders(ctx context.Context) error {
	now := time.Now()
	cycle := billcycle.Of(now)
	synced := metav1.NewTime(now.Add(-5 * time.Minute))
	if err := createWithStatus(ctx, &budgetv1alpha1.SubAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: budgetv1alpha1.SubAccountSpec{
			EnterpriseAccountRef: budgetv1alpha1.LocalObjectReference{Name: "acme"},
			CustomerID:           "cust-shop-0001",
			AllowedNamespaces:    &budgetv1alpha1.AllowedNamespaces{Names: []string{"team-a"}},
			FundingLimit:         money("3000.00"),
			MonthlyBudget:        &budgetv1alpha1.MonthlyBudget{Amount: "10000.00"},
			OrderPayment: &budgetv1alpha1.OrderPaymentPolicy{Mode: budgetv1alpha1.OrderPaymentAuto, MaxAmountPerOrder: money("500.00"),
				Namespace: "team-a"},
		},
	}, func(sa *budgetv1alpha1.SubAccount) {
		sa.Status.Conditions = ready(metav1.ConditionTrue, budgetv1alpha1.ReasonReady)
		sa.Status.CustomerID = "cust-shop-0001"
		sa.Status.Granted = "0.00"
		sa.Status.PaidOrders = "800.00"
		sa.Status.PaidOrdersThisCycle = "800.00"
		sa.Status.CurrentCycle = &budgetv1alpha1.BillCycleSummary{Cycle: cycle, Consumption: "0.00"}
		sa.Status.LastBillingSyncTime = &synced
		sa.Status.OrderPayments = &budgetv1alpha1.OrderPaymentReport{Pending: 3, Covered: 1, Unfit: 1, Orders: []budgetv1alpha1.PendingOrder{
			{ID: "CSCOVERED001", Amount: "300.00", Type: "Renewal", Service: "hws.service.type.ec2", CreateTime: "2026-11-01T00:00:00Z",
				Payment: "team-a/order-cscovered001", Fits: true},
			{ID: "CSAUTO002", Amount: "120.00", Type: "New", Service: "hws.service.type.ec2", CreateTime: "2026-11-02T00:00:00Z", Fits: true},
			{ID: "CSBIG003", Amount: "2500.00", Type: "New", Service: "hws.service.type.rds", CreateTime: "2026-11-03T00:00:00Z",
				Reason: "the order costs 2500.00, above maxAmountPerOrder 500.00"},
		}}
	}); err != nil {
		return err
	}
	old := metav1.NewTime(now.Add(-5 * time.Hour))
	if err := createWithStatus(ctx, &budgetv1alpha1.SubAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "studio"},
		Spec: budgetv1alpha1.SubAccountSpec{
			EnterpriseAccountRef: budgetv1alpha1.LocalObjectReference{Name: "acme"},
			CustomerID:           "cust-studio-0001",
			AllowedNamespaces:    &budgetv1alpha1.AllowedNamespaces{Names: []string{"team-a"}},
		},
	}, func(sa *budgetv1alpha1.SubAccount) {
		sa.Status.Conditions = ready(metav1.ConditionTrue, budgetv1alpha1.ReasonReady)
		sa.Status.CustomerID = "cust-studio-0001"
		sa.Status.LastBillingSyncTime = &old
		manual := "the SubAccount's orderPayment mode is Manual"
		sa.Status.OrderPayments = &budgetv1alpha1.OrderPaymentReport{Pending: 2, Unfit: 2, Orders: []budgetv1alpha1.PendingOrder{
			{ID: "CSHUGE004", Amount: "6000.00", Type: "New", Service: "hws.service.type.ec2", CreateTime: "2026-11-04T00:00:00Z", Reason: manual},
			{ID: "CSSTUDIO006", Amount: "80.00", Type: "Renewal", Service: "hws.service.type.obs", CreateTime: "2026-11-05T00:00:00Z", Reason: manual},
		}}
	}); err != nil {
		return err
	}
	type op struct {
		name, sub, order, customer string
		amount                     budgetv1alpha1.Money
		phase                      budgetv1alpha1.PaymentPhase
		reason                     string
	}
	for _, x := range []op{
		{"order-cscovered001", "shop", "CSCOVERED001", "cust-shop-0001", "300.00", budgetv1alpha1.PaymentPaying, budgetv1alpha1.ReasonPaying},
		{"paid-earlier", "shop", "CSOLD000", "cust-shop-0001", "500.00", budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid},
		{"op-wait", "studio", "CSWAIT007", "cust-studio-0001", "7000.00", budgetv1alpha1.PaymentAwaitingApproval, budgetv1alpha1.ReasonAwaitingApproval},
		{"op-deny", "studio", "CSWAIT008", "cust-studio-0001", "7500.00", budgetv1alpha1.PaymentAwaitingApproval, budgetv1alpha1.ReasonAwaitingApproval},
		{"op-done", "studio", "CSDONE009", "cust-studio-0001", "50.00", budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid},
	} {
		if err := createWithStatus(ctx, &budgetv1alpha1.OrderPayment{
			ObjectMeta: metav1.ObjectMeta{Name: x.name, Namespace: "team-a"},
			Spec:       budgetv1alpha1.OrderPaymentSpec{SubAccountName: x.sub, OrderID: x.order, MaxAmount: x.amount},
		}, func(o *budgetv1alpha1.OrderPayment) {
			o.Status.Phase = x.phase
			o.Status.Conditions = ready(metav1.ConditionFalse, x.reason)
			o.Status.CustomerID = x.customer
			o.Status.EnterpriseAccountName = "acme"
			o.Status.Amount = x.amount
			o.Status.Cycle = cycle
		}); err != nil {
			return err
		}
	}
	return nil
}

func getPayment(t *testing.T, name string) *budgetv1alpha1.OrderPayment {
	t.Helper()
	var op budgetv1alpha1.OrderPayment
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: "team-a", Name: name}, &op); err != nil {
		t.Fatal(err)
	}
	return &op
}

func TestOrdersTable(t *testing.T) {
	seedOrders(t)
	out, _, code := run(t, "", "orders", "shop")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out,
		"subacct/shop  customer cust-shop-0001  orderPayment Auto (up to 500.00 per order, OrderPayments in namespace team-a)",
		"fundingLimit 3000.00: 2200.00 left (granted 0.00 + orders paid 800.00)",
		"monthlyBudget 10000.00: 9200.00 left in bill cycle "+billcycle.Of(time.Now())+" (consumption 0.00 + orders paid 800.00)",
		"paid orders 800.00 (800.00 in bill cycle", "3 pending, 1 covered by an OrderPayment, 1 the Auto policy does not pay",
		"orders read from BSS 5m", "ORDER", "AMOUNT", "TYPE", "SERVICE", "AGE", "AUTO-PAY")
	mustNotContain(t, out, ": old", "note:", "studio")
	mustContain(t, line(t, out, "CSCOVERED001"), "300.00", "Renewal", "hws.service.type.ec2", "paid by team-a/order-cscovered001 (Paying)")
	mustContain(t, line(t, out, "CSAUTO002"), "120.00", "New", "auto-pay")
	mustNotContain(t, line(t, out, "CSAUTO002"), "waits")
	mustContain(t, line(t, out, "CSBIG003"), "2500.00", "hws.service.type.rds", "manual: the order costs 2500.00, above maxAmountPerOrder 500.00")

	// Every SubAccount; studio's orders were read 5 hours ago, past twice
	// the default billing interval.
	out, _, code = run(t, "", "orders")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out, "subacct/shop", "subacct/team-a", "No orders pending payment on its behalf",
		"subacct/studio  customer cust-studio-0001  orderPayment Manual", "fundingLimit: none", "monthlyBudget: none",
		"orders read from BSS 5h", "old, the operator reads them every 1h0m0s")
	mustContain(t, line(t, out, "CSHUGE004"), "6000.00", "manual: the SubAccount's orderPayment mode is Manual")
	mustContain(t, line(t, out, "subacct/team-a"), "orderPayment Manual")
	if i, j := strings.Index(out, "subacct/shop"), strings.Index(out, "subacct/studio"); i > j {
		t.Error("SubAccounts not ordered by name")
	}

	if _, errOut, code := run(t, "", "orders", "nobody"); code != plugin.ExitError || !strings.Contains(errOut, "not found") {
		t.Errorf("unknown SubAccount: exit %d, %q", code, errOut)
	}
	if _, _, code := run(t, "", "orders", "a", "b"); code != plugin.ExitUsage {
		t.Errorf("two SubAccounts: exit %d", code)
	}
	if _, _, code := run(t, "", "orders", "-o", "yaml"); code != plugin.ExitUsage {
		t.Errorf("-o yaml: exit %d", code)
	}
}

// ordersJSON is the part of orders -o json the test reads.
type ordersJSON struct {
	SubAccount       string `json:"subAccount"`
	Mode             string `json:"mode"`
	PaidOrders       string `json:"paidOrders"`
	FundingLimitLeft string `json:"fundingLimitLeft"`
	Pending          int    `json:"pending"`
	Old              bool   `json:"old"`
	Orders           []struct {
		ID, Amount, Action, Payment, PaymentPhase, Reason, AutoPay string
	} `json:"orders"`
}

func TestOrdersJSON(t *testing.T) {
	seedOrders(t)
	out, _, code := run(t, "", "orders", "shop", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var got []ordersJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if len(got) != 1 || got[0].SubAccount != "shop" || got[0].Mode != "Auto" || got[0].PaidOrders != "800.00" ||
		got[0].FundingLimitLeft != "2200.00" || got[0].Pending != 3 || got[0].Old || len(got[0].Orders) != 3 {
		t.Fatalf("report = %+v", got)
	}
	o := got[0].Orders
	if o[0].ID != "CSCOVERED001" || o[0].Action != "covered" || o[0].Payment != "team-a/order-cscovered001" || o[0].PaymentPhase != "Paying" {
		t.Errorf("covered row = %+v", o[0])
	}
	if o[1].ID != "CSAUTO002" || o[1].Action != "auto" || o[1].Payment != "" || o[1].AutoPay != "auto-pay" {
		t.Errorf("auto row = %+v", o[1])
	}
	if o[2].ID != "CSBIG003" || o[2].Action != "manual" || !strings.Contains(o[2].Reason, "above maxAmountPerOrder") {
		t.Errorf("manual row = %+v", o[2])
	}
}

func TestPayDryRunFundingLimit(t *testing.T) {
	seedOrders(t)
	out, _, code := run(t, "", "pay", "CSBIG003", "--subaccount", "shop", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out,
		"op/team-a/order-csbig003: would be created (dry run",
		"order CSBIG003 of SubAccount shop (customer cust-shop-0001): 2500.00, type New, service hws.service.type.rds",
		"auto-pay: no (the order costs 2500.00, above maxAmountPerOrder 500.00)",
		"maxAmount 2500.00 (the order's amount)",
		"discount: Auto, chosen when paying", "coupons: Auto, chosen when paying",
		// payment.CheckLimits' own message.
		"limits: waits (FundingLimitExceeded): paying 2500.00 would take SubAccount shop to 3300.00 (granted 0.00 + orders paid 800.00 + this payment), above its fundingLimit 3000.00",
		// 300.00 Paying and 500.00 Paid moved without approval this cycle.
		"approval: not needed: within the auto-approval limits (800.00 moved to sub-account shop without approval in bill cycle")
	var op budgetv1alpha1.OrderPayment
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: "team-a", Name: "order-csbig003"}, &op); err == nil {
		t.Error("a dry run created the OrderPayment")
	}

	// Within the limit, with a bound above the order's amount.
	out, _, code = run(t, "", "pay", "CSAUTO002", "--subaccount", "shop", "--dry-run", "--max-amount", "130")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out, "maxAmount 130.00 (above the order's amount 120.00)",
		"limits: fits (fundingLimit 3000.00: 2200.00 left",
		"note: the SubAccount's Auto policy pays this order itself (OrderPayment team-a/order-csauto002)")
	mustNotContain(t, out, "warning:")

	// A namespace the SubAccount does not admit.
	out, _, code = run(t, "", "pay", "CSAUTO002", "--subaccount", "shop", "--dry-run", "-n", "team-b")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out, "op/team-b/order-csauto002: would be created",
		"warning: SubAccount shop admits neither namespace team-b in spec.allowedNamespaces nor as its orderPayment policy's namespace: the payment waits and pays nothing (NamespaceNotAllowed)")
}

func TestPayDryRunNeedsApproval(t *testing.T) {
	seedOrders(t)
	out, _, code := run(t, "", "pay", "cshuge004", "--subaccount", "studio", "--dry-run", "--coupons", "none", "--discount", "D-1")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out,
		"op/team-a/order-cshuge004: would be created",
		"limits: fits (fundingLimit: none; monthlyBudget: none)",
		"approval: needed (autoApproveUpTo 5000.00): PayOrder 6000.00 is above the auto-approval limit 5000.00 per transfer (kubectl budget approve op/order-cshuge004 -n team-a)",
		"coupons: None", "discount: Explicit D-1")

	// Below autoApproveUpTo but past the cycle's budget: op-done's 50.00
	// counts, the payments waiting for approval do not.
	out, _, code = run(t, "", "pay", "CSX010", "--subaccount", "studio", "--dry-run", "--force", "--max-amount", "4960")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out, "approval: needed (autoApproveCyclePerSubAccount 5000.00): PayOrder 4960.00 would take what moved to sub-account studio without approval in bill cycle",
		"to 5010.00, above the auto-approval budget 5000.00 per sub-account and cycle")
}

func TestPayCreatesAndRefusesDuplicate(t *testing.T) {
	seedOrders(t)
	out, _, code := run(t, "", "pay", "CSSTUDIO006", "--subaccount", "studio", "-n", "team-a", "--coupons", "CP1, CP2",
		"--discount", "none", "--cancel-on-delete")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out, "op/team-a/order-csstudio006: creating", "limits: fits", "approval: not needed", "op/team-a/order-csstudio006 created")
	op := getPayment(t, "order-csstudio006")
	want := budgetv1alpha1.OrderPaymentSpec{SubAccountName: "studio", OrderID: "CSSTUDIO006", MaxAmount: "80.00",
		Coupons:  budgetv1alpha1.PaymentCoupons{Mode: budgetv1alpha1.SelectExplicit, IDs: []string{"CP1", "CP2"}},
		Discount: budgetv1alpha1.PaymentDiscount{Mode: budgetv1alpha1.SelectNone}, CancelOrderOnDelete: true}
	if fmt.Sprint(op.Spec) != fmt.Sprint(want) {
		t.Errorf("spec = %+v, want %+v", op.Spec, want)
	}

	// The same order again, under another name: refused, naming it.
	_, errOut, code := run(t, "", "pay", "CSSTUDIO006", "--subaccount", "studio", "--name", "again")
	if code != plugin.ExitError {
		t.Fatalf("duplicate: exit %d", code)
	}
	mustContain(t, errOut, "order CSSTUDIO006 already has an OrderPayment that is not Failed or Cancelled: op/team-a/order-csstudio006 (SubAccount studio, phase new)")
	// The one the status names.
	_, errOut, code = run(t, "", "pay", "CSCOVERED001", "--subaccount", "shop", "--dry-run")
	if code != plugin.ExitError || !strings.Contains(errOut, "op/team-a/order-cscovered001 (SubAccount shop, phase Paying)") {
		t.Errorf("covered order: exit %d, %q", code, errOut)
	}
	// A Failed payment does not stand in the way, but its name does.
	failed := getPayment(t, "order-csstudio006")
	failed.Status.Phase = budgetv1alpha1.PaymentFailed
	if err := k8s.Status().Update(context.Background(), failed); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = run(t, "", "pay", "CSSTUDIO006", "--subaccount", "studio")
	if code != plugin.ExitError || !strings.Contains(errOut, "OrderPayment team-a/order-csstudio006 exists already (order CSSTUDIO006, phase Failed): give another --name") {
		t.Errorf("taken name: exit %d, %q", code, errOut)
	}
	if _, _, code := run(t, "", "pay", "CSSTUDIO006", "--subaccount", "studio", "--name", "retry"); code != 0 {
		t.Errorf("retry under another name: exit %d", code)
	}
}

func TestPayOrderNotSeen(t *testing.T) {
	seedOrders(t)
	_, errOut, code := run(t, "", "pay", "CSNOPE", "--subaccount", "shop")
	if code != plugin.ExitError {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, errOut, "the operator has not seen order CSNOPE pending payment on SubAccount shop's behalf", "--max-amount and --force")
	if _, errOut, code := run(t, "", "pay", "CSNOPE", "--subaccount", "shop", "--force"); code != plugin.ExitUsage || !strings.Contains(errOut, "--force needs --max-amount") {
		t.Errorf("--force alone: exit %d, %q", code, errOut)
	}
	out, _, code := run(t, "", "pay", "CSNOPE", "--subaccount", "shop", "--force", "--max-amount", "10", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out, "order CSNOPE: not seen pending by the operator (--force)", "the checks below are for 10.00", "limits: fits")

	for _, args := range [][]string{
		{"pay", "CSAUTO002"}, // no --subaccount
		{"pay", "CSAUTO002", "--subaccount", "shop", "--max-amount", "1.234"},
		{"pay", "CSAUTO002", "--subaccount", "shop", "--max-amount", "0"},
		{"pay", "CSAUTO002", "--subaccount", "shop", "--coupons", "A,B,C,D"},
		{"pay", "CSAUTO002", "--subaccount", "shop", "--coupons", "A,,B"},
	} {
		if _, _, code := run(t, "", args...); code != plugin.ExitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, plugin.ExitUsage)
		}
	}
	if _, errOut, code := run(t, "", "pay", "CSAUTO002", "--subaccount", "nobody"); code != plugin.ExitError || !strings.Contains(errOut, "not found") {
		t.Errorf("unknown SubAccount: exit %d, %q", code, errOut)
	}
}

func TestApproveDenyOrderPayment(t *testing.T) {
	seedOrders(t)
	out, _, code := run(t, "", "approve", "op/op-wait", "--message", "ticket FIN-77")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out, "op/team-a/op-wait approved: payment of order CSWAIT007 of sub-account studio, 7000.00 (maxAmount 7000.00); the operator pays it next")
	c := meta.FindStatusCondition(getPayment(t, "op-wait").Status.Conditions, budgetv1alpha1.ConditionApproved)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != plugin.ReasonApprovedByUser || !strings.Contains(c.Message, "ticket FIN-77") {
		t.Fatalf("Approved condition = %+v", c)
	}
	if meta.FindStatusCondition(getPayment(t, "op-wait").Status.Conditions, budgetv1alpha1.ConditionReady) == nil {
		t.Error("the Ready condition was lost")
	}
	if out, _, code := run(t, "", "approve", "orderpayment/team-a/op-wait"); code != 0 || !strings.Contains(out, "already approved") {
		t.Errorf("second approve: exit %d, %q", code, out)
	}
	if _, errOut, code := run(t, "", "deny", "op/op-wait"); code != plugin.ExitError || !strings.Contains(errOut, "already has Approved=True") {
		t.Errorf("deny after approve: exit %d, %q", code, errOut)
	}

	if _, _, code := run(t, "", "deny", "op/team-a/op-deny", "--message", "not this month"); code != 0 {
		t.Fatalf("deny: exit %d", code)
	}
	p := getPayment(t, "op-deny")
	if c := meta.FindStatusCondition(p.Status.Conditions, budgetv1alpha1.ConditionDenied); c == nil || c.Status != metav1.ConditionTrue || c.Reason != plugin.ReasonDeniedByUser {
		t.Errorf("Denied condition = %+v", c)
	}
	if meta.FindStatusCondition(p.Status.Conditions, budgetv1alpha1.ConditionApproved) != nil {
		t.Error("deny set Approved")
	}

	before := getPayment(t, "op-done")
	_, errOut, code := run(t, "", "approve", "op/op-done")
	if code != plugin.ExitError {
		t.Fatalf("approving a Paid payment: exit %d", code)
	}
	mustContain(t, errOut, "op/team-a/op-done is in phase Paid (Paid: test), not AwaitingApproval: only a payment waiting for approval can be approved")
	if after := getPayment(t, "op-done"); after.ResourceVersion != before.ResourceVersion {
		t.Error("a Paid payment was changed")
	}
	for _, arg := range []string{"xx/op-wait", "op/", "op/a/b/c"} {
		if _, _, code := run(t, "", "approve", arg); code != plugin.ExitUsage {
			t.Errorf("approve %s: exit %d, want %d", arg, code, plugin.ExitUsage)
		}
	}
	if _, _, code := run(t, "", "approve", "op/team-b/op-wait", "-n", "team-a"); code != plugin.ExitUsage {
		t.Errorf("two namespaces: exit %d", code)
	}
	if _, errOut, code := run(t, "", "approve", "op/nope"); code != plugin.ExitError || !strings.Contains(errOut, "not found") {
		t.Errorf("missing payment: exit %d, %q", code, errOut)
	}
}

func TestStatusShowsPaidOrders(t *testing.T) {
	seedOrders(t)
	out, _, code := run(t, "", "status", "-A")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out, "PAID", "ORDERS")
	// GRANTED, PAID, then PENDING; 3 pending orders.
	cells := func(name string) []string {
		return strings.Fields(strings.TrimLeft(line(t, out, name), "│├└─ "))
	}
	if c := cells("subacct/shop"); len(c) != 11 || c[3] != "800.00" || c[8] != "3" {
		t.Errorf("shop's row %q: want PAID 800.00 and ORDERS 3", c)
	}
	if c := cells("subacct/studio"); len(c) != 11 || c[3] != "0.00" || c[8] != "2" {
		t.Errorf("studio's row %q: want PAID 0.00 and ORDERS 2", c)
	}
	if c := cells("ba/team-a/compute"); len(c) != 11 || c[3] != "-" || c[8] != "-" {
		t.Errorf("an allocation's row %q: want no PAID and ORDERS", c)
	}
}

// TestOrdersWithoutPaymentAccess runs orders as someone who may read
// SubAccounts and EnterpriseAccounts but no OrderPayments or allocations.
func TestOrdersWithoutPaymentAccess(t *testing.T) {
	seedOrders(t)
	ctx := context.Background()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "subaccount-reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{budgetv1alpha1.GroupVersion.Group},
			Resources: []string{"subaccounts", "enterpriseaccounts"}, Verbs: []string{"get", "list"}}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "subaccount-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "subaccount-reader"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "finance@acme"}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	cfg := rest.CopyConfig(restCfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "finance@acme"}
	fin, err := client.New(cfg, client.Options{Scheme: k8s.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	runAs := func(args ...string) (string, string, int) {
		var out, errOut bytes.Buffer
		code := plugin.Run(ctx, args, &out, &errOut, func(plugin.ConnectionFlags) (client.Client, string, error) { return fin, "team-a", nil })
		t.Logf("as finance@acme: kubectl budget %s (exit %d)\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
		return out.String(), errOut.String(), code
	}
	var out, errOut string
	var code int
	testenv.Eventually(t, 10*time.Second, "kubectl budget orders as finance@acme", func() bool {
		out, errOut, code = runAs("orders", "shop")
		return code == 0
	}, func() string { return fmt.Sprintf("exit %d: %s", code, errOut) })
	mustContain(t, line(t, out, "CSCOVERED001"), "paid by team-a/order-cscovered001")
	mustNotContain(t, line(t, out, "CSCOVERED001"), "(Paying)")
	mustContain(t, line(t, out, "CSAUTO002"), "auto-pay")
	mustContain(t, out,
		"note: the BudgetAllocations of every namespace cannot be listed (forbidden): granted is SubAccount shop's status.granted 0.00",
		"note: the OrderPayments of every namespace cannot be listed (forbidden): what orders paid is SubAccount shop's status.paidOrders 800.00",
		"note: the OrderPayments of namespace team-a cannot be read (forbidden)",
		"fundingLimit 3000.00: 2200.00 left")

	// pay cannot tell whether the order is paid already.
	if _, errOut, code := runAs("pay", "CSAUTO002", "--subaccount", "shop", "--dry-run"); code != plugin.ExitError || !strings.Contains(errOut, "forbidden") {
		t.Errorf("pay without reading OrderPayments: exit %d, %q", code, errOut)
	}
}

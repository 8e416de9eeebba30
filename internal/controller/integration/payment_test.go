package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

// payOrder creates a pending order of amount for the team's sub-account in
// the simulator.
func (tm *team) payOrder(t *testing.T, amount string, mutate ...func(*bsssim.Order)) bsssim.Order {
	t.Helper()
	o := bsssim.Order{CustomerID: tm.customerID, AmountAfterDiscount: money.MustParse(amount), OrderType: bsssim.OrderTypeRenewal}
	for _, m := range mutate {
		m(&o)
	}
	got, err := sim.CreateOrder(o)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// payment builds an OrderPayment of the team for order with bound max. It
// uses no coupons: the master's coupons are shared with other tests.
func (tm *team) payment(name, order, max string, mutate ...func(*budgetv1alpha1.OrderPayment)) *budgetv1alpha1.OrderPayment {
	op := &budgetv1alpha1.OrderPayment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: tm.ns},
		Spec: budgetv1alpha1.OrderPaymentSpec{SubAccountName: tm.sa, OrderID: order, MaxAmount: budgetv1alpha1.Money(max),
			Coupons: budgetv1alpha1.PaymentCoupons{Mode: budgetv1alpha1.SelectNone}, Discount: budgetv1alpha1.PaymentDiscount{Mode: budgetv1alpha1.SelectAuto}},
	}
	for _, m := range mutate {
		m(op)
	}
	return op
}

func (tm *team) getPayment(t *testing.T, name string) *budgetv1alpha1.OrderPayment {
	t.Helper()
	var op budgetv1alpha1.OrderPayment
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: tm.ns, Name: name}, &op); err != nil {
		t.Fatal(err)
	}
	return &op
}

func describePayment(tm *team, name string) func() string {
	return func() string {
		var op budgetv1alpha1.OrderPayment
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: tm.ns, Name: name}, &op); err != nil {
			return err.Error()
		}
		return fmt.Sprintf("phase=%s amount=%s attempts=%d error=%s conditions=%+v payments=%v", op.Status.Phase, op.Status.Amount, op.Status.Attempts,
			op.Status.ErrorCode, op.Status.Conditions, paymentsOf(tm.customerID))
	}
}

// waitPayment waits until the payment is in phase with Ready reason.
func (tm *team) waitPayment(t *testing.T, name string, phase budgetv1alpha1.PaymentPhase, reason string) *budgetv1alpha1.OrderPayment {
	t.Helper()
	var op *budgetv1alpha1.OrderPayment
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("%s %s/%s", name, phase, reason), func() bool {
		op = tm.getPayment(t, name)
		return op.Status.Phase == phase && common.ReadyReason(op.Status.Conditions, budgetv1alpha1.ConditionReady) == reason
	}, describePayment(tm, name))
	return op
}

// paymentsOf lists the simulator's pay-order entries of a customer, order
// id → amount.
func paymentsOf(customer string) map[string][]string {
	out := map[string][]string{}
	for _, e := range sim.Ledger() {
		if e.Operation == bsssim.OpPayOrder && e.CustomerID == customer {
			out[e.OrderID] = append(out[e.OrderID], e.Amount.String())
		}
	}
	return out
}

// expectPaid asserts the simulator took exactly the payments want (order
// id → amount) for the team, each once, with the books consistent.
func (tm *team) expectPaid(t *testing.T, want map[string]string) {
	t.Helper()
	got := paymentsOf(tm.customerID)
	if len(got) != len(want) {
		t.Errorf("payments of %s: %v, want %v", tm.customerID, got, want)
	}
	for id, amount := range want {
		if g := got[id]; len(g) != 1 || g[0] != amount {
			t.Errorf("order %s paid %v, want once %s", id, g, amount)
		}
	}
	if err := sim.CheckLedger(); err != nil {
		t.Errorf("ledger: %v", err)
	}
	if err := sim.CheckConservation(); err != nil {
		t.Errorf("conservation: %v", err)
	}
}

// decidePayment sets an approver's condition on the payment's status.
func decidePayment(t *testing.T, op *budgetv1alpha1.OrderPayment, cond string) {
	t.Helper()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var got budgetv1alpha1.OrderPayment
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(op), &got); err != nil {
			return err
		}
		meta.SetStatusCondition(&got.Status.Conditions, metav1.Condition{Type: cond, Status: metav1.ConditionTrue, Reason: "ByFinance", Message: "test"})
		return k8s.Status().Update(context.Background(), &got)
	}); err != nil {
		t.Fatal(err)
	}
}

func masterCoupon(t *testing.T, balance string, mutate ...func(*bsssim.Coupon)) bsssim.Coupon {
	t.Helper()
	now := sim.Now()
	c := bsssim.Coupon{DomainID: bsssim.DefaultDomainID, PlanName: "order coupon", Balance: money.MustParse(balance),
		EffectiveTime: now.Add(-time.Hour), ExpireTime: now.Add(30 * 24 * time.Hour)}
	for _, m := range mutate {
		m(&c)
	}
	got, err := sim.AddCoupon(c)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestPaymentPaysOnceWithDiscountAndCoupons(t *testing.T) {
	tm := newTeam(t)
	// A coupon for this test's service only, larger than any of the
	// master's other coupons: Auto takes the largest usable first, and this
	// one pays the whole order, so the coupons other tests use stay.
	const service = "hws.service.type.paytest"
	c := masterCoupon(t, "900000.00", func(c *bsssim.Coupon) {
		c.UseLimits = []bsssim.CouponUseLimit{{LimitKey: bsssim.LimitServiceType, Value1: service}}
	})
	o := tm.payOrder(t, "200.00", func(o *bsssim.Order) {
		o.ServiceTypeCode = service
		o.DiscountOffers = []bsssim.DiscountOffer{{ID: "promo-10", Type: bsssim.DiscountPromotion, Amount: money.MustParse("10.00")}}
	})
	if err := k8s.Create(context.Background(), tm.payment("renew", o.OrderID, "195.00", func(op *budgetv1alpha1.OrderPayment) {
		op.Spec.Coupons.Mode = budgetv1alpha1.SelectAuto
	})); err != nil {
		t.Fatal(err)
	}
	op := tm.waitPayment(t, "renew", budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid)
	if op.Status.Amount != "190.00" || op.Status.CouponAmount != "190.00" || op.Status.Discount == nil || op.Status.Discount.ID != "promo-10" ||
		len(op.Status.Coupons) != 1 || op.Status.Coupons[0].ID != c.ID || op.Status.Attempts != 1 || op.Status.Evidence != budgetv1alpha1.PaymentEvidenceAnswer {
		t.Errorf("status = %+v", op.Status)
	}
	if op.Status.Order == nil || op.Status.Order.Type != "Renewal" || len(op.Status.Order.Resources) == 0 {
		t.Errorf("order = %+v", op.Status.Order)
	}
	tm.expectPaid(t, map[string]string{o.OrderID: "190.00"})
	testenv.Eventually(t, 30*time.Second, "SubAccount shows the paid order", func() bool {
		var sa budgetv1alpha1.SubAccount
		return k8s.Get(context.Background(), types.NamespacedName{Name: tm.sa}, &sa) == nil && sa.Status.PaidOrders == "190.00"
	}, tm.saConditions)
}

func TestPaymentEndsWithoutPaying(t *testing.T) {
	tm := newTeam(t)
	other := newTeam(t)
	ctx := context.Background()
	paid := tm.payOrder(t, "10.00")
	if _, err := sim.SetOrderStatus(paid.OrderID, bsssim.OrderCompleted); err != nil {
		t.Fatal(err)
	}
	cancelled := tm.payOrder(t, "10.00")
	if _, err := sim.SetOrderStatus(cancelled.OrderID, bsssim.OrderCancelled); err != nil {
		t.Fatal(err)
	}
	theirs := other.payOrder(t, "10.00")
	dear := tm.payOrder(t, "500.00")
	adjusted := tm.payOrder(t, "100.00", func(o *bsssim.Order) {
		o.DiscountOffers = []bsssim.DiscountOffer{{ID: "adj-1", Type: bsssim.DiscountPriceAdjustment, Amount: money.MustParse("5.00")}}
	})
	cases := []struct {
		op     *budgetv1alpha1.OrderPayment
		phase  budgetv1alpha1.PaymentPhase
		reason string
	}{
		{tm.payment("elsewhere", paid.OrderID, "10"), budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaidElsewhere},
		{tm.payment("cancelled", cancelled.OrderID, "10"), budgetv1alpha1.PaymentCancelled, budgetv1alpha1.ReasonOrderCancelled},
		{tm.payment("theirs", theirs.OrderID, "10"), budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonWrongSubAccount},
		{tm.payment("unknown", "CS0000NOSUCHORDER", "10"), budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonOrderNotFound},
		{tm.payment("dear", dear.OrderID, "499.99"), budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonAboveMaxAmount},
		{tm.payment("no-adjustment", adjusted.OrderID, "100", func(op *budgetv1alpha1.OrderPayment) {
			op.Spec.Discount.Mode = budgetv1alpha1.SelectNone
		}), budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonCouponUnusable},
	}
	for _, c := range cases {
		if err := k8s.Create(ctx, c.op); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cases {
		tm.waitPayment(t, c.op.Name, c.phase, c.reason)
	}
	tm.expectPaid(t, map[string]string{})
	other.expectPaid(t, map[string]string{})
	// The team's namespace is not admitted by the other SubAccount.
	foreign := other.payment("foreign", theirs.OrderID, "10")
	foreign.Namespace = tm.ns
	if err := k8s.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	tm.waitPayment(t, "foreign", budgetv1alpha1.PaymentPending, budgetv1alpha1.ReasonNamespaceNotAllowed)
	other.expectPaid(t, map[string]string{})
}

func TestPaymentWaitsForFundingLimitAndMonthlyBudget(t *testing.T) {
	tm := newTeam(t, withFundingLimit("100"))
	tm.create(t, tm.allocation("base", "80"))
	tm.waitReady(t, "base", "80.00")
	o := tm.payOrder(t, "50.00")
	if err := k8s.Create(context.Background(), tm.payment("pay", o.OrderID, "50")); err != nil {
		t.Fatal(err)
	}
	op := tm.waitPayment(t, "pay", budgetv1alpha1.PaymentPending, budgetv1alpha1.ReasonFundingLimitExceeded)
	if msg := readyMessageOf(op); !strings.Contains(msg, "fundingLimit 100.00") {
		t.Errorf("message %q does not name the limit", msg)
	}
	tm.expectPaid(t, map[string]string{})
	// A monthly budget below what the cycle spent with this payment.
	updateSubAccount(t, tm.sa, func(sa *budgetv1alpha1.SubAccount) {
		sa.Spec.FundingLimit = money2("200")
		sa.Spec.MonthlyBudget = &budgetv1alpha1.MonthlyBudget{Amount: "40.00"}
	})
	tm.waitPayment(t, "pay", budgetv1alpha1.PaymentPending, budgetv1alpha1.ReasonMonthlyBudgetExceeded)
	tm.expectPaid(t, map[string]string{})
	updateSubAccount(t, tm.sa, func(sa *budgetv1alpha1.SubAccount) {
		sa.Spec.MonthlyBudget = &budgetv1alpha1.MonthlyBudget{Amount: "60.00"}
	})
	paid := tm.waitPayment(t, "pay", budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid)
	// The order's line items, read once, stay whole through the waits.
	if o := paid.Status.Order; o == nil || len(o.Resources) != 1 || o.Resources[0].Period != "1 month" {
		t.Errorf("order in status: %+v", o)
	}
	tm.expectPaid(t, map[string]string{o.OrderID: "50.00"})
	// The paid order counts against fundingLimit for the allocations too:
	// 80 granted + 50 paid leaves 70 under 200.
	tm.update(t, "base", setAmount("160"))
	tm.waitReason(t, "base", budgetv1alpha1.ReasonFundingLimitExceeded)
	tm.update(t, "base", setAmount("150"))
	tm.waitReady(t, "base", "150.00")
}

func readyMessageOf(op *budgetv1alpha1.OrderPayment) string {
	if c := meta.FindStatusCondition(op.Status.Conditions, budgetv1alpha1.ConditionReady); c != nil {
		return c.Message
	}
	return ""
}

func updateSubAccount(t *testing.T, name string, mutate func(*budgetv1alpha1.SubAccount)) {
	t.Helper()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var sa budgetv1alpha1.SubAccount
		if err := k8s.Get(context.Background(), types.NamespacedName{Name: name}, &sa); err != nil {
			return err
		}
		mutate(&sa)
		return k8s.Update(context.Background(), &sa)
	}); err != nil {
		t.Fatal(err)
	}
}

func TestPaymentApprovalAndCancelOnDelete(t *testing.T) {
	ctx := context.Background()
	const ea = "payment-approval"
	if err := k8s.Create(ctx, enterpriseAccount(ea, credsName, money2("100"))); err != nil {
		t.Fatal(err)
	}
	tm := newTeam(t, withEnterprise(ea))
	testenv.Eventually(t, 30*time.Second, "SubAccount Ready", func() bool {
		var sa budgetv1alpha1.SubAccount
		return k8s.Get(ctx, types.NamespacedName{Name: tm.sa}, &sa) == nil && common.IsTrue(sa.Status.Conditions, budgetv1alpha1.ConditionReady)
	}, tm.saConditions)
	big := tm.payOrder(t, "150.00")
	denied := tm.payOrder(t, "160.00")
	dropped := tm.payOrder(t, "170.00")
	small := tm.payOrder(t, "60.00")
	for _, op := range []*budgetv1alpha1.OrderPayment{
		tm.payment("big", big.OrderID, "150"), tm.payment("denied", denied.OrderID, "160"),
		tm.payment("dropped", dropped.OrderID, "170", func(op *budgetv1alpha1.OrderPayment) { op.Spec.CancelOrderOnDelete = true }),
		tm.payment("small", small.OrderID, "60"),
	} {
		if err := k8s.Create(ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	tm.waitPayment(t, "small", budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid)
	op := tm.waitPayment(t, "big", budgetv1alpha1.PaymentAwaitingApproval, budgetv1alpha1.ReasonAwaitingApproval)
	if msg := readyMessageOf(op); !strings.Contains(msg, "autoApproveUpTo") && !strings.Contains(msg, "auto-approval") {
		t.Errorf("message %q does not name the limit", msg)
	}
	tm.waitPayment(t, "denied", budgetv1alpha1.PaymentAwaitingApproval, budgetv1alpha1.ReasonAwaitingApproval)
	tm.waitPayment(t, "dropped", budgetv1alpha1.PaymentAwaitingApproval, budgetv1alpha1.ReasonAwaitingApproval)
	tm.expectPaid(t, map[string]string{small.OrderID: "60.00"})

	// An approval covers the amount shown when it was given, no more: an
	// approval of 140.00 does not pay 150.00.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		got := tm.getPayment(t, "big")
		got.Status.Amount = "140.00"
		meta.SetStatusCondition(&got.Status.Conditions, metav1.Condition{Type: budgetv1alpha1.ConditionApproved, Status: metav1.ConditionTrue, Reason: "ByFinance"})
		return k8s.Status().Update(ctx, got)
	}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "approval of a lower amount withdrawn", func() bool {
		got := tm.getPayment(t, "big")
		return got.Status.Phase == budgetv1alpha1.PaymentAwaitingApproval && strings.Contains(readyMessageOf(got), "more than the 140.00 approved") &&
			!common.IsTrue(got.Status.Conditions, budgetv1alpha1.ConditionApproved)
	}, describePayment(tm, "big"))
	tm.expectPaid(t, map[string]string{small.OrderID: "60.00"})
	decidePayment(t, tm.getPayment(t, "big"), budgetv1alpha1.ConditionApproved)
	tm.waitPayment(t, "big", budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid)
	decidePayment(t, tm.getPayment(t, "denied"), budgetv1alpha1.ConditionDenied)
	tm.waitPayment(t, "denied", budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonDenied)

	if err := k8s.Delete(ctx, tm.getPayment(t, "dropped")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "dropped payment gone and its order cancelled", func() bool {
		err := k8s.Get(ctx, types.NamespacedName{Namespace: tm.ns, Name: "dropped"}, &budgetv1alpha1.OrderPayment{})
		return err != nil && orderStatusOf(dropped.OrderID) == bsssim.OrderCancelled
	}, func() string { return fmt.Sprintf("order status %d", orderStatusOf(dropped.OrderID)) })
	tm.expectPaid(t, map[string]string{small.OrderID: "60.00", big.OrderID: "150.00"})
}

func orderStatusOf(id string) int {
	for _, o := range sim.Snapshot().Orders {
		if o.OrderID == id {
			return o.Status
		}
	}
	return 0
}

func TestPaymentAnswerLostAfterThePaymentWasTaken(t *testing.T) {
	// The next full read of the master's balances is an hour away: only the
	// payment can make the EnterpriseAccount read them again.
	setBalanceInterval(t, eaName, time.Hour)
	t.Cleanup(func() { setBalanceInterval(t, eaName, 10*time.Second) })
	tm := newTeam(t)
	o := tm.payOrder(t, "75.00")
	setFaults(t, bsssim.Faults{LostResponseRate: 1})
	if err := k8s.Create(context.Background(), tm.payment("lost", o.OrderID, "75")); err != nil {
		t.Fatal(err)
	}
	op := tm.waitPayment(t, "lost", budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid)
	if op.Status.Evidence != budgetv1alpha1.PaymentEvidenceOrderStatus || op.Status.Attempts != 1 {
		t.Errorf("evidence %q after %d attempts, want OrderStatus after 1", op.Status.Evidence, op.Status.Attempts)
	}
	tm.expectPaid(t, map[string]string{o.OrderID: "75.00"})
	// The payment took the master's cash: its EnterpriseAccount reads it
	// again rather than showing what it cached before.
	var ea budgetv1alpha1.EnterpriseAccount
	testenv.Eventually(t, 10*time.Second, "EnterpriseAccount shows the cash left after the payment", func() bool {
		m, _ := sim.Master(bsssim.DefaultDomainID)
		return k8s.Get(context.Background(), types.NamespacedName{Name: eaName}, &ea) == nil && string(ea.Status.TransferableCash) == m.Cash.String()
	}, func() string {
		m, _ := sim.Master(bsssim.DefaultDomainID)
		return fmt.Sprintf("status %s, simulator %s", ea.Status.TransferableCash, m.Cash)
	})
}

// setFaults sets the simulator's faults until the test ends.
func setFaults(t *testing.T, f bsssim.Faults) {
	t.Helper()
	if err := sim.SetFaults(f); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.SetFaults(bsssim.Faults{}) })
}

// paying writes the status a manager leaves when it stops right after
// recording Paying, before or after its call.
func (tm *team) paying(t *testing.T, name, orderID, amount string, at time.Time) {
	t.Helper()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		op := tm.getPayment(t, name)
		ts := metav1.NewTime(at)
		op.Status.Phase = budgetv1alpha1.PaymentPaying
		op.Status.Attempts = 1
		op.Status.SubmittedTime, op.Status.LastAttemptTime = &ts, &ts
		op.Status.Amount = budgetv1alpha1.Money(amount)
		op.Status.CustomerID, op.Status.EnterpriseAccountName = tm.customerID, tm.ea
		op.Status.Order = &budgetv1alpha1.PaymentOrder{Amount: budgetv1alpha1.Money(amount)}
		meta.SetStatusCondition(&op.Status.Conditions, metav1.Condition{Type: budgetv1alpha1.ConditionReady, Status: metav1.ConditionFalse,
			Reason: budgetv1alpha1.ReasonPaying, Message: "paying order " + orderID})
		return k8s.Status().Update(context.Background(), op)
	}); err != nil {
		t.Fatal(err)
	}
}

func TestPaymentManagerStoppedBetweenPayingAndTheCall(t *testing.T) {
	tm := newTeam(t)
	notSent := tm.payOrder(t, "41.00")
	sent := tm.payOrder(t, "42.00")
	stopManager()
	restarted := false
	defer func() {
		if !restarted {
			stopManager = startManager(testOptions)
		}
	}()
	ctx := context.Background()
	for _, op := range []*budgetv1alpha1.OrderPayment{tm.payment("not-sent", notSent.OrderID, "41"), tm.payment("sent", sent.OrderID, "42")} {
		controllerutilAddFinalizer(op)
		if err := k8s.Create(ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	tm.paying(t, "not-sent", notSent.OrderID, "41.00", now)
	tm.paying(t, "sent", sent.OrderID, "42.00", now)
	// The second manager's call reached BSS before it stopped.
	if err := masterClient(t).PayOrders(ctx, bss.PayOrdersRequest{OrderID: sent.OrderID}); err != nil {
		t.Fatal(err)
	}
	opts := testOptions
	opts.PaymentSettleWindow = 3 * time.Second
	stopManager = startManager(opts)
	restarted = true
	defer func() { stopManager(); stopManager = startManager(testOptions) }()

	op := tm.waitPayment(t, "sent", budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid)
	if op.Status.Attempts != 1 || op.Status.Evidence != budgetv1alpha1.PaymentEvidenceOrderStatus {
		t.Errorf("sent: %d attempts, evidence %q; want 1 and OrderStatus", op.Status.Attempts, op.Status.Evidence)
	}
	// The unsent one is paid once the order has read pending for the
	// settle window, not before.
	testenv.Eventually(t, 30*time.Second, "not-sent waits for the settle window", func() bool {
		return strings.Contains(readyMessageOf(tm.getPayment(t, "not-sent")), "sent again only if")
	}, describePayment(tm, "not-sent"))
	if got := paymentsOf(tm.customerID)[notSent.OrderID]; len(got) != 0 {
		t.Fatalf("paid %v inside the settle window", got)
	}
	op = tm.waitPayment(t, "not-sent", budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid)
	if op.Status.Attempts != 2 || !op.Status.LastAttemptTime.After(now.Add(opts.PaymentSettleWindow-time.Second)) {
		t.Errorf("not-sent: %d attempts, last at %v; want 2 after the window", op.Status.Attempts, op.Status.LastAttemptTime)
	}
	tm.expectPaid(t, map[string]string{notSent.OrderID: "41.00", sent.OrderID: "42.00"})
}

func controllerutilAddFinalizer(op *budgetv1alpha1.OrderPayment) {
	op.Finalizers = append(op.Finalizers, budgetv1alpha1.Finalizer)
}

func TestPaymentRefusedForBalanceThenPaid(t *testing.T) {
	tm := newTeam(t)
	m, _ := sim.Master(bsssim.DefaultDomainID)
	short := m.Cash
	for _, l := range m.CreditLedgers {
		short = short.Add(l.Balance)
	}
	amount := short.Add(money.MustParse("1000.00"))
	o := tm.payOrder(t, amount.String())
	if err := k8s.Create(context.Background(), tm.payment("dear", o.OrderID, amount.String())); err != nil {
		t.Fatal(err)
	}
	op := tm.waitPayment(t, "dear", budgetv1alpha1.PaymentPending, budgetv1alpha1.ReasonInsufficientBalance)
	if op.Status.ErrorCode != bss.CodeInsufficientBalance || op.Status.Refusals < 1 {
		t.Errorf("error %q after %d refusals", op.Status.ErrorCode, op.Status.Refusals)
	}
	tm.expectPaid(t, map[string]string{})
	// Cash enough for the whole order: it is taken before credit, so the
	// master's credit, which other tests use, stays as it was.
	if err := sim.AddFunds(bsssim.DefaultDomainID, amount); err != nil {
		t.Fatal(err)
	}
	tm.waitPayment(t, "dear", budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid)
	tm.expectPaid(t, map[string]string{o.OrderID: amount.String()})
}

func TestPaymentOfACombinedOrderAndDuplicates(t *testing.T) {
	tm := newTeam(t)
	parent := tm.payOrder(t, "90.00", func(o *bsssim.Order) {
		o.SubOrders = []bsssim.Order{{OrderID: "SUB-" + tm.customerID[:8] + "-A", AmountAfterDiscount: money.MustParse("40.00")},
			{OrderID: "SUB-" + tm.customerID[:8] + "-B", AmountAfterDiscount: money.MustParse("50.00")}}
	})
	single := tm.payOrder(t, "12.00")
	ctx := context.Background()
	for _, op := range []*budgetv1alpha1.OrderPayment{
		tm.payment("part", parent.SubOrders[0].OrderID, "90"),
		tm.payment("first", single.OrderID, "12"),
	} {
		if err := k8s.Create(ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	op := tm.waitPayment(t, "part", budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid)
	if op.Status.PayOrderID != parent.OrderID || op.Status.Amount != "90.00" {
		t.Errorf("paid %s for %s, want 90.00 for the combined order %s", op.Status.Amount, op.Status.PayOrderID, parent.OrderID)
	}
	tm.waitPayment(t, "first", budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid)
	// A second payment of a paid order finds it paid and charges nothing.
	if err := k8s.Create(ctx, tm.payment("again", single.OrderID, "12")); err != nil {
		t.Fatal(err)
	}
	tm.waitPayment(t, "again", budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaidElsewhere)
	// Two payments of one pending order at once: one pays, the other
	// either loses to it (DuplicatePayment) or finds the order paid.
	twice := tm.payOrder(t, "13.00")
	for _, name := range []string{"twice-a", "twice-b"} {
		if err := k8s.Create(ctx, tm.payment(name, twice.OrderID, "13")); err != nil {
			t.Fatal(err)
		}
	}
	var paid, other int
	testenv.Eventually(t, 30*time.Second, "both payments of one order ended", func() bool {
		paid, other = 0, 0
		for _, name := range []string{"twice-a", "twice-b"} {
			op := tm.getPayment(t, name)
			switch reason := common.ReadyReason(op.Status.Conditions, budgetv1alpha1.ConditionReady); {
			case op.Status.Phase == budgetv1alpha1.PaymentPaid && reason == budgetv1alpha1.ReasonPaid:
				paid++
			case reason == budgetv1alpha1.ReasonDuplicatePayment || reason == budgetv1alpha1.ReasonPaidElsewhere:
				other++
			}
		}
		return paid+other == 2
	}, describePayment(tm, "twice-b"))
	if paid != 1 {
		t.Errorf("%d payments paid the order, want 1", paid)
	}
	tm.expectPaid(t, map[string]string{parent.OrderID: "90.00", single.OrderID: "12.00", twice.OrderID: "13.00"})
}

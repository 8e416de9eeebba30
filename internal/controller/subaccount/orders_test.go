package subaccount

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/metrics"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// ensureNamespace creates a namespace unless it exists.
func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8sClient.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// paymentState is the status an OrderPayment controller would have
// written.
type paymentState struct {
	phase    budgetv1alpha1.PaymentPhase
	reason   string
	customer string
	amount   string
	cycle    string
}

// createPayment creates an OrderPayment and writes its status (no
// OrderPayment controller runs in this suite).
func createPayment(t *testing.T, ns, name, subAccount, orderID string, st paymentState) *budgetv1alpha1.OrderPayment {
	t.Helper()
	ctx := context.Background()
	op := &budgetv1alpha1.OrderPayment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       budgetv1alpha1.OrderPaymentSpec{SubAccountName: subAccount, OrderID: orderID, MaxAmount: "1000"},
	}
	must(t, k8sClient.Create(ctx, op))
	setPaymentState(t, op, st)
	return op
}

func setPaymentState(t *testing.T, op *budgetv1alpha1.OrderPayment, st paymentState) {
	t.Helper()
	op.Status.Phase = st.phase
	op.Status.CustomerID = st.customer
	op.Status.Amount = budgetv1alpha1.Money(st.amount)
	op.Status.Cycle = st.cycle
	op.Status.Conditions = []metav1.Condition{{
		Type: budgetv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: st.reason, Message: "set by the test",
		LastTransitionTime: metav1.Now(),
	}}
	if st.phase != budgetv1alpha1.PaymentPaid {
		op.Status.Conditions[0].Status = metav1.ConditionFalse
	}
	must(t, k8sClient.Status().Update(context.Background(), op))
}

// waitForPaidOrders waits until the SubAccount shows paid and thisCycle.
func waitForPaidOrders(t *testing.T, name, paid, thisCycle string) {
	t.Helper()
	eventually(t, fmt.Sprintf("SubAccount %s shows paidOrders %s (%s this cycle)", name, paid, thisCycle), func() error {
		sa := getSubAccount(t, name)
		if sa.Status.PaidOrders != budgetv1alpha1.Money(paid) || sa.Status.PaidOrdersThisCycle != budgetv1alpha1.Money(thisCycle) {
			return fmt.Errorf("paidOrders %q, %q this cycle", sa.Status.PaidOrders, sa.Status.PaidOrdersThisCycle)
		}
		return nil
	})
}

func TestPaidOrdersTotals(t *testing.T) {
	sub, err := sim.AddSubAccount(bsssim.SubAccount{Name: "payer-1"})
	must(t, err)
	const name, ns = "paid-orders", "paid-orders-ns"
	ensureNamespace(t, ns)
	createSubAccount(t, name, budgetv1alpha1.SubAccountSpec{CustomerID: sub.ID})
	sa := waitForReason(t, name, budgetv1alpha1.ReasonReady)
	if sa.Status.PaidOrders != "0.00" || sa.Status.PaidOrdersThisCycle != "0.00" {
		t.Errorf("paidOrders %q, %q this cycle before any payment", sa.Status.PaidOrders, sa.Status.PaidOrdersThisCycle)
	}

	cur, prev := billcycle.Of(clock.Now()), billcycle.Previous(clock.Now())
	paid := budgetv1alpha1.PaymentPaid
	// Counted: paid by its payment this cycle, paid in the last one, and
	// one being paid (it may have been).
	createPayment(t, ns, "paid-now", name, "ORD1", paymentState{paid, budgetv1alpha1.ReasonPaid, sub.ID, "100.00", cur})
	createPayment(t, ns, "paid-before", name, "ORD2", paymentState{paid, budgetv1alpha1.ReasonPaid, sub.ID, "40.00", prev})
	paying := createPayment(t, ns, "paying", name, "ORD3", paymentState{budgetv1alpha1.PaymentPaying, budgetv1alpha1.ReasonPaying, sub.ID, "20.00", cur})
	// Not counted: found paid elsewhere, failed, paid for another customer
	// (the one the SubAccount held before), and another SubAccount's.
	createPayment(t, ns, "elsewhere", name, "ORD4", paymentState{paid, budgetv1alpha1.ReasonPaidElsewhere, sub.ID, "1000.00", cur})
	createPayment(t, ns, "failed", name, "ORD5", paymentState{budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonAboveMaxAmount, sub.ID, "300.00", cur})
	createPayment(t, ns, "other-customer", name, "ORD6", paymentState{paid, budgetv1alpha1.ReasonPaid, "cust-somebody-else", "7.00", cur})
	createPayment(t, ns, "other-subaccount", "someone-else", "ORD7", paymentState{paid, budgetv1alpha1.ReasonPaid, sub.ID, "9.00", cur})

	// The OrderPayments' changes alone bring the SubAccount up to date.
	waitForPaidOrders(t, name, "160.00", "120.00")
	if got := gauge(t, metrics.SubAccountOrdersPaid, name); got != 16000 {
		t.Errorf("orders paid metric %v fen, want 16000", got)
	}

	// The payment in flight fails: it no longer counts.
	setPaymentState(t, paying, paymentState{budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonInsufficientBalance, sub.ID, "20.00", cur})
	waitForPaidOrders(t, name, "140.00", "100.00")

	// A deleted payment no longer counts either.
	must(t, k8sClient.Delete(context.Background(), &budgetv1alpha1.OrderPayment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "paid-before"}}))
	waitForPaidOrders(t, name, "100.00", "100.00")
	if got := gauge(t, metrics.SubAccountOrdersPaid, name); got != 10000 {
		t.Errorf("orders paid metric %v fen, want 10000", got)
	}
}

// simOrder is an order for the simulator.
type simOrder struct {
	id, typ, service, amount string
	status                   int
	age                      time.Duration
}

// addOrders creates orders in the simulator, each age before the time it
// returns.
func addOrders(t *testing.T, customerID string, orders ...simOrder) time.Time {
	t.Helper()
	now := sim.Now().Truncate(time.Second)
	for _, o := range orders {
		_, err := sim.CreateOrder(bsssim.Order{
			OrderID: o.id, CustomerID: customerID, Status: o.status, OrderType: o.typ, ServiceTypeCode: o.service,
			AmountAfterDiscount: money.MustParse(o.amount), OfficialAmount: money.MustParse(o.amount), CreateTime: now.Add(-o.age),
		})
		must(t, err)
	}
	return now
}

// policyPayments lists the OrderPayments of a SubAccount that its policy
// created.
func policyPayments(t *testing.T, subAccount string) []budgetv1alpha1.OrderPayment {
	t.Helper()
	var list budgetv1alpha1.OrderPaymentList
	must(t, k8sClient.List(context.Background(), &list, client.MatchingLabels{
		budgetv1alpha1.LabelSubAccount: subAccount, budgetv1alpha1.LabelCreatedBy: budgetv1alpha1.CreatedByOrderPaymentPolicy,
	}))
	slices.SortFunc(list.Items, func(a, b budgetv1alpha1.OrderPayment) int { return strings.Compare(a.Name, b.Name) })
	return list.Items
}

func TestAutoPolicyPaysFittingOrders(t *testing.T) {
	sub, err := sim.AddSubAccount(bsssim.SubAccount{Name: "autopay-1"})
	must(t, err)
	const ecs, obs = "hws.service.type.ec2", "hws.service.type.obs"
	created := addOrders(t, sub.ID,
		simOrder{id: "CSAUTO00000001", typ: "2", service: ecs, amount: "120", status: 6, age: 5 * time.Hour},   // fits
		simOrder{id: "CSAUTO00000002", typ: "1", service: ecs, amount: "900", status: 6, age: 4 * time.Hour},   // above the bound
		simOrder{id: "CSAUTO00000003", typ: "3", service: ecs, amount: "10", status: 6, age: 3 * time.Hour},    // type not allowed
		simOrder{id: "CSAUTO00000004", typ: "1", service: obs, amount: "10", status: 6, age: 2 * time.Hour},    // service not allowed
		simOrder{id: "CSAUTO00000005", typ: "1", service: ecs, amount: "500", status: 6, age: time.Hour},       // fits, at the bound
		simOrder{id: "CSAUTO00000006", typ: "1", service: ecs, amount: "50", status: 5, age: 30 * time.Minute}, // completed: not pending
	)
	expireBatches()
	const name, ns = "autopay", "autopay-ns"
	ensureNamespace(t, ns)
	createSubAccount(t, name, budgetv1alpha1.SubAccountSpec{CustomerID: sub.ID, OrderPayment: &budgetv1alpha1.OrderPaymentPolicy{
		Mode: budgetv1alpha1.OrderPaymentAuto, MaxAmountPerOrder: ptr.To(budgetv1alpha1.Money("500")),
		OrderTypes: []budgetv1alpha1.OrderType{"New", "Renewal"}, Services: []string{ecs},
		Namespace: ns, CancelOrderOnDelete: true,
	}})
	sa := waitForReason(t, name, budgetv1alpha1.ReasonReady)

	check := func(sa *budgetv1alpha1.SubAccount) {
		t.Helper()
		got := sa.Status.OrderPayments
		if got == nil {
			t.Fatal("no status.orderPayments")
		}
		got = got.DeepCopy()
		for i := range got.Orders {
			got.Orders[i].CreateTime = ""
		}
		want := &budgetv1alpha1.OrderPaymentReport{
			Pending: 5, Covered: 2, Unfit: 3,
			OldestCreateTime: sa.Status.OrderPayments.Orders[0].CreateTime,
			Orders: []budgetv1alpha1.PendingOrder{
				{ID: "CSAUTO00000001", Amount: "120.00", Type: "Renewal", Service: ecs, Payment: ns + "/order-csauto00000001", Fits: true},
				{ID: "CSAUTO00000002", Amount: "900.00", Type: "New", Service: ecs, Reason: "the order costs 900.00, above maxAmountPerOrder 500.00"},
				{ID: "CSAUTO00000003", Amount: "10.00", Type: "Change", Service: ecs, Reason: "order type Change is not in orderTypes [New Renewal]"},
				{ID: "CSAUTO00000004", Amount: "10.00", Type: "New", Service: obs, Reason: "service " + obs + " is not in services"},
				{ID: "CSAUTO00000005", Amount: "500.00", Type: "New", Service: ecs, Payment: ns + "/order-csauto00000005", Fits: true},
			},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("status.orderPayments (-want +got):\n%s", diff)
		}
		if want, got := created.Add(-5*time.Hour).UTC().Format(time.RFC3339), sa.Status.OrderPayments.OldestCreateTime; got != want {
			t.Errorf("oldestCreateTime %q, want %q", got, want)
		}
	}
	check(sa)

	payments := policyPayments(t, name)
	if len(payments) != 2 {
		t.Fatalf("%d OrderPayments created, want 2: %+v", len(payments), payments)
	}
	for i, id := range []string{"CSAUTO00000001", "CSAUTO00000005"} {
		op := payments[i]
		want := budgetv1alpha1.OrderPaymentSpec{
			SubAccountName: name, OrderID: id, MaxAmount: "500",
			Coupons:  budgetv1alpha1.PaymentCoupons{Mode: budgetv1alpha1.SelectAuto},
			Discount: budgetv1alpha1.PaymentDiscount{Mode: budgetv1alpha1.SelectAuto}, CancelOrderOnDelete: true,
		}
		if diff := cmp.Diff(want, op.Spec); diff != "" || op.Namespace != ns || op.Name != "order-"+strings.ToLower(id) {
			t.Errorf("OrderPayment %s/%s (-want +got):\n%s", op.Namespace, op.Name, diff)
		}
	}
	if got := recorder.Await(name, eventOrderPaymentCreated, "", 2); got != 2 {
		t.Errorf("%d OrderPaymentCreated events, want 2", got)
	}
	if got := recorder.Await(name, eventOrderNotAutoPaid, "", 3); got != 3 {
		t.Errorf("%d OrderNotAutoPaid events, want 3", got)
	}
	for _, id := range []string{"CSAUTO00000002", "CSAUTO00000003", "CSAUTO00000004"} {
		if got := recorder.Count(name, eventOrderNotAutoPaid, id); got != 1 {
			t.Errorf("%d OrderNotAutoPaid events for %s, want 1", got, id)
		}
	}
	if got := gauge(t, metrics.SubAccountOrdersPending, name); got != 5 {
		t.Errorf("pending orders metric %v, want 5", got)
	}
	if got := gauge(t, metrics.SubAccountOldestPendingOrder, name); got < (5 * time.Hour).Seconds() {
		t.Errorf("oldest pending order metric %v s, want at least 5 h", got)
	}

	// The first payment fails; the second billing sync creates nothing:
	// the failed one is not retried until someone deletes it, and the
	// unfit orders are not announced again.
	first := payments[0]
	setPaymentState(t, &first, paymentState{budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonAboveMaxAmount, sub.ID, "", ""})
	sa = resyncBilling(t, name)
	check(sa)
	if got := policyPayments(t, name); len(got) != 2 {
		t.Errorf("%d OrderPayments after the second billing sync, want 2", len(got))
	}
	// Events follow the status write: give stray ones time to arrive.
	time.Sleep(time.Second)
	if got := recorder.Count(name, eventOrderPaymentCreated, ""); got != 2 {
		t.Errorf("%d OrderPaymentCreated events after the second billing sync, want 2", got)
	}
	if got := recorder.Count(name, eventOrderNotAutoPaid, ""); got != 3 {
		t.Errorf("%d OrderNotAutoPaid events after the second billing sync, want 3", got)
	}
	if got := recorder.Count(name, eventOrderPaymentNotCreated, ""); got != 0 {
		t.Errorf("%d OrderPaymentNotCreated events, want none", got)
	}
}

func TestManualPolicyListsPendingOrders(t *testing.T) {
	sub, err := sim.AddSubAccount(bsssim.SubAccount{Name: "manual-1"})
	must(t, err)
	addOrders(t, sub.ID,
		simOrder{id: "CSMANUAL000001", typ: "1", service: "hws.service.type.ec2", amount: "10", status: 6, age: 2 * time.Hour},
		simOrder{id: "CSMANUAL000002", typ: "10", service: "hws.service.type.ec2", amount: "20", status: 6, age: time.Hour},
	)
	expireBatches()
	const name, ns = "manual-pay", "manual-pay-ns"
	ensureNamespace(t, ns)
	// A payment a person created covers the first order.
	createPayment(t, ns, "by-hand", name, "CSMANUAL000001", paymentState{budgetv1alpha1.PaymentPending, budgetv1alpha1.ReasonPending, sub.ID, "", ""})
	createSubAccount(t, name, budgetv1alpha1.SubAccountSpec{CustomerID: sub.ID, OrderPayment: &budgetv1alpha1.OrderPaymentPolicy{
		Mode: budgetv1alpha1.OrderPaymentManual, MaxAmountPerOrder: ptr.To(budgetv1alpha1.Money("500")), Namespace: ns,
	}})
	sa := waitForReason(t, name, budgetv1alpha1.ReasonReady)
	got := sa.Status.OrderPayments.DeepCopy()
	if got == nil {
		t.Fatal("no status.orderPayments")
	}
	for i := range got.Orders {
		got.Orders[i].CreateTime = ""
	}
	const manual = "the SubAccount's orderPayment mode is Manual"
	want := &budgetv1alpha1.OrderPaymentReport{
		Pending: 2, Covered: 1, Unfit: 2, OldestCreateTime: sa.Status.OrderPayments.OldestCreateTime,
		Orders: []budgetv1alpha1.PendingOrder{
			{ID: "CSMANUAL000001", Amount: "10.00", Type: "New", Service: "hws.service.type.ec2", Payment: ns + "/by-hand", Reason: manual},
			{ID: "CSMANUAL000002", Amount: "20.00", Type: "ToPayPerUse", Service: "hws.service.type.ec2", Reason: manual},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status.orderPayments (-want +got):\n%s", diff)
	}
	resyncBilling(t, name)
	if got := policyPayments(t, name); len(got) != 0 {
		t.Errorf("mode Manual created %d OrderPayments", len(got))
	}
	var all budgetv1alpha1.OrderPaymentList
	must(t, k8sClient.List(context.Background(), &all, client.InNamespace(ns)))
	if len(all.Items) != 1 {
		t.Errorf("%d OrderPayments in %s, want the one created by hand", len(all.Items), ns)
	}
	if got := recorder.Count(name, eventOrderNotAutoPaid, ""); got != 0 {
		t.Errorf("mode Manual announced %d OrderNotAutoPaid events", got)
	}
	if got := gauge(t, metrics.SubAccountOrdersPending, name); got != 2 {
		t.Errorf("pending orders metric %v, want 2", got)
	}
}

func TestAutoPolicyNamespaceMissing(t *testing.T) {
	sub, err := sim.AddSubAccount(bsssim.SubAccount{Name: "autopay-2"})
	must(t, err)
	addOrders(t, sub.ID,
		simOrder{id: "CSNONS00000001", typ: "1", service: "hws.service.type.ec2", amount: "10", status: 6, age: 2 * time.Hour},
		simOrder{id: "CSNONS00000002", typ: "1", service: "hws.service.type.ec2", amount: "20", status: 6, age: time.Hour},
	)
	expireBatches()
	const name, ns = "autopay-no-ns", "autopay-missing-ns"
	createSubAccount(t, name, budgetv1alpha1.SubAccountSpec{CustomerID: sub.ID, OrderPayment: &budgetv1alpha1.OrderPaymentPolicy{
		Mode: budgetv1alpha1.OrderPaymentAuto, MaxAmountPerOrder: ptr.To(budgetv1alpha1.Money("500")), Namespace: ns,
	}})
	// The SubAccount is Ready all the same, and shows the orders uncovered.
	sa := waitForReason(t, name, budgetv1alpha1.ReasonReady)
	if r := sa.Status.OrderPayments; r == nil || r.Pending != 2 || r.Covered != 0 || r.Unfit != 0 {
		t.Errorf("status.orderPayments %+v, want 2 pending, none covered", r)
	}
	// One event for the namespace, not one per order.
	if got := recorder.Await(name, eventOrderPaymentNotCreated, ns+" does not exist", 1); got != 1 {
		t.Errorf("%d OrderPaymentNotCreated events naming the namespace, want 1", got)
	}

	// Once the namespace exists, the next billing sync creates them.
	ensureNamespace(t, ns)
	sa = resyncBilling(t, name)
	if r := sa.Status.OrderPayments; r == nil || r.Covered != 2 {
		t.Errorf("status.orderPayments %+v, want 2 covered", r)
	}
	if got := policyPayments(t, name); len(got) != 2 {
		t.Errorf("%d OrderPayments created, want 2", len(got))
	}
	var op budgetv1alpha1.OrderPayment
	must(t, k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "order-csnons00000001"}, &op))
}

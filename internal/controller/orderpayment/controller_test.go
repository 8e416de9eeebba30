package orderpayment

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/event"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/accounts"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/bssfake"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Every answer of the pay call, one reconcile at a time, against a fake
// API server and the in-memory BSS with scripted faults and a fake clock.

const (
	master   = "acme"
	customer = "cust-1"
	ns       = "team"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

type rig struct {
	t     *testing.T
	k8s   client.Client
	bss   *bssfake.BSS
	clock *clocktesting.FakeClock
	r     *Reconciler
	// answers are the scripted answers of the next pay calls: before
	// (refused, nothing applied) or after (applied, answer lost).
	answers []answer
}

type answer struct {
	before, after error
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ea := &budgetv1alpha1.EnterpriseAccount{ObjectMeta: metav1.ObjectMeta{Name: master}}
	sa := &budgetv1alpha1.SubAccount{
		ObjectMeta: metav1.ObjectMeta{Name: ns},
		Spec: budgetv1alpha1.SubAccountSpec{EnterpriseAccountRef: budgetv1alpha1.LocalObjectReference{Name: master}, CustomerID: customer,
			AllowedNamespaces: &budgetv1alpha1.AllowedNamespaces{Names: []string{ns}}},
		Status: budgetv1alpha1.SubAccountStatus{CustomerID: customer, Conditions: []metav1.Condition{{Type: budgetv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
			Reason: budgetv1alpha1.ReasonReady, LastTransitionTime: metav1.NewTime(t0)}}},
	}
	k8s := fake.NewClientBuilder().WithScheme(localenv.NewScheme()).
		WithStatusSubresource(&budgetv1alpha1.OrderPayment{}, &budgetv1alpha1.SubAccount{}).
		WithIndex(&budgetv1alpha1.OrderPayment{}, common.IndexPaymentSubAccount, func(o client.Object) []string {
			return []string{o.(*budgetv1alpha1.OrderPayment).Spec.SubAccountName}
		}).
		WithIndex(&budgetv1alpha1.BudgetAllocation{}, common.IndexAllocationSubAccount, func(o client.Object) []string {
			return []string{o.(*budgetv1alpha1.BudgetAllocation).Spec.SubAccountRef.Name}
		}).
		WithObjects(ea, sa).Build()
	b := bssfake.New(money.MustParse("1000"), nil, customer)
	b.AddOrder(bss.Order{OrderID: "O1", CustomerID: customer, AmountAfterDiscount: money.MustParse("100.00"), OrderType: "2"})
	reg := accounts.NewRegistry(nil, nil)
	reg.Put(master, b)
	clock := clocktesting.NewFakeClock(t0)
	opts := common.Options{Clock: clock, SubmitRetryBase: time.Second, FundsRecheckInterval: time.Minute, PaymentSettleWindow: 2 * time.Minute}
	opts.Defaults()
	g := &rig{t: t, k8s: k8s, bss: b, clock: clock,
		r: &Reconciler{Client: k8s, APIReader: k8s, Recorder: events.NewFakeRecorder(100), Registry: reg, Options: opts, Approvals: &common.KeyedLocks{}}}
	b.Fault = func(op string) (error, error) {
		if op != bss.OpPayOrders || len(g.answers) == 0 {
			return nil, nil
		}
		a := g.answers[0]
		g.answers = g.answers[1:]
		return a.before, a.after
	}
	return g
}

func (g *rig) create(name, order, max string, mutate ...func(*budgetv1alpha1.OrderPayment)) *budgetv1alpha1.OrderPayment {
	g.t.Helper()
	op := &budgetv1alpha1.OrderPayment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Finalizers: []string{budgetv1alpha1.Finalizer}, CreationTimestamp: metav1.NewTime(t0)},
		Spec: budgetv1alpha1.OrderPaymentSpec{SubAccountName: ns, OrderID: order, MaxAmount: budgetv1alpha1.Money(max),
			Coupons: budgetv1alpha1.PaymentCoupons{Mode: budgetv1alpha1.SelectNone}, Discount: budgetv1alpha1.PaymentDiscount{Mode: budgetv1alpha1.SelectAuto}},
	}
	for _, m := range mutate {
		m(op)
	}
	if err := g.k8s.Create(context.Background(), op); err != nil {
		g.t.Fatal(err)
	}
	return op
}

func (g *rig) reconcile(op *budgetv1alpha1.OrderPayment) (ctrl.Result, *budgetv1alpha1.OrderPayment) {
	g.t.Helper()
	res, err := g.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(op)})
	if err != nil {
		g.t.Fatalf("reconcile: %v", err)
	}
	var got budgetv1alpha1.OrderPayment
	if err := g.k8s.Get(context.Background(), client.ObjectKeyFromObject(op), &got); err != nil {
		return res, nil
	}
	return res, &got
}

func (g *rig) expect(op *budgetv1alpha1.OrderPayment, phase budgetv1alpha1.PaymentPhase, reason string, calls, paid int) {
	g.t.Helper()
	if op.Status.Phase != phase || common.ReadyReason(op.Status.Conditions, budgetv1alpha1.ConditionReady) != reason {
		g.t.Errorf("phase %s reason %s, want %s %s (%+v)", op.Status.Phase, common.ReadyReason(op.Status.Conditions, budgetv1alpha1.ConditionReady), phase, reason, op.Status.Conditions)
	}
	if n := g.bss.Calls[bss.OpPayOrders]; n != calls {
		g.t.Errorf("%d pay calls, want %d", n, calls)
	}
	if n := g.bss.Payments()["O1"]; n != paid {
		g.t.Errorf("order paid %d times, want %d", n, paid)
	}
}

func bizErr(code string) error {
	return &bss.Error{Operation: bss.OpPayOrders, HTTPStatus: 400, Code: code, Message: code}
}

func transportErr() error {
	return &bss.TransportError{Operation: bss.OpPayOrders, Timeout: true}
}

// TestUnansweredCallsAreReadNotResent: every answer that does not settle
// the payment leaves it Paying; the next reconcile reads the order instead
// of paying, and pays again only once the order has read pending for the
// settle window. An applied payment whose answer was lost is found paid.
func TestUnansweredCallsAreReadNotResent(t *testing.T) {
	for name, first := range map[string]answer{
		"timeout":             {before: transportErr()},
		"5xx":                 {before: &bss.Error{Operation: bss.OpPayOrders, HTTPStatus: 500, Code: bss.CodeInternal}},
		"payment in progress": {before: bizErr(bss.CodePaymentInProgress)},
		"too frequent":        {before: bizErr(bss.CodeTooFrequent)},
	} {
		t.Run(name, func(t *testing.T) {
			g := newRig(t)
			g.answers = []answer{first}
			op := g.create("p", "O1", "100")
			_, got := g.reconcile(op)
			g.expect(got, budgetv1alpha1.PaymentPaying, budgetv1alpha1.ReasonPaying, 1, 0)
			// Inside the settle window: read, not paid.
			g.clock.Step(time.Minute)
			res, got := g.reconcile(got)
			g.expect(got, budgetv1alpha1.PaymentPaying, budgetv1alpha1.ReasonPaying, 1, 0)
			if res.RequeueAfter <= 0 || res.RequeueAfter > time.Minute {
				t.Errorf("requeue %v, want at most the rest of the window", res.RequeueAfter)
			}
			g.clock.Step(time.Minute)
			_, got = g.reconcile(got)
			g.expect(got, budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid, 2, 1)
			if got.Status.Attempts != 2 {
				t.Errorf("%d attempts, want 2", got.Status.Attempts)
			}
		})
	}
	t.Run("lost after commit", func(t *testing.T) {
		g := newRig(t)
		g.answers = []answer{{after: transportErr()}}
		op := g.create("p", "O1", "100")
		_, got := g.reconcile(op)
		g.expect(got, budgetv1alpha1.PaymentPaying, budgetv1alpha1.ReasonPaying, 1, 1)
		_, got = g.reconcile(got)
		g.expect(got, budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid, 1, 1)
		if got.Status.Evidence != budgetv1alpha1.PaymentEvidenceOrderStatus {
			t.Errorf("evidence %q", got.Status.Evidence)
		}
	})
	t.Run("processing", func(t *testing.T) {
		g := newRig(t)
		g.bss.PayProcessing = true
		g.answers = []answer{{after: bizErr(bss.CodeInternal)}}
		op := g.create("p", "O1", "100")
		_, got := g.reconcile(op)
		_, got = g.reconcile(got)
		g.expect(got, budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid, 1, 1)
	})
}

// TestDefiniteAnswers: the answers that prove nothing was paid.
func TestDefiniteAnswers(t *testing.T) {
	t.Run("insufficient balance waits, longer each time", func(t *testing.T) {
		g := newRig(t)
		g.answers = []answer{{before: bizErr(bss.CodeInsufficientBalance)}, {before: bizErr(bss.CodeOrgBudgetInsufficient)}}
		op := g.create("p", "O1", "100")
		res, got := g.reconcile(op)
		g.expect(got, budgetv1alpha1.PaymentPending, budgetv1alpha1.ReasonInsufficientBalance, 1, 0)
		if res.RequeueAfter != time.Minute || got.Status.ErrorCode != bss.CodeInsufficientBalance || got.Status.Refusals != 1 {
			t.Errorf("requeue %v, code %s, refusals %d", res.RequeueAfter, got.Status.ErrorCode, got.Status.Refusals)
		}
		res, got = g.reconcile(got)
		g.expect(got, budgetv1alpha1.PaymentPending, budgetv1alpha1.ReasonOrganizationBudgetExceeded, 2, 0)
		if res.RequeueAfter != 2*time.Minute {
			t.Errorf("second refusal requeues after %v, want 2m", res.RequeueAfter)
		}
		_, got = g.reconcile(got)
		g.expect(got, budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid, 3, 1)
	})
	t.Run("parameter error fails", func(t *testing.T) {
		g := newRig(t)
		g.answers = []answer{{before: bizErr("CBC.0100")}}
		_, got := g.reconcile(g.create("p", "O1", "100"))
		g.expect(got, budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonBSSError, 1, 0)
		if got.Status.ErrorCode != "CBC.0100" {
			t.Errorf("code %q", got.Status.ErrorCode)
		}
	})
	t.Run("invalid order reads the order", func(t *testing.T) {
		g := newRig(t)
		g.answers = []answer{{before: bizErr(bss.CodeInvalidOrder)}}
		_, got := g.reconcile(g.create("p", "O1", "100"))
		g.expect(got, budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonOrderNotPayable, 1, 0)
	})
	t.Run("combined order", func(t *testing.T) {
		g := newRig(t)
		g.bss.AddOrder(bss.Order{OrderID: "P1", CustomerID: customer, AmountAfterDiscount: money.MustParse("150.00"),
			SubOrderInfos: []bss.Order{{OrderID: "O1", CustomerID: customer}}})
		g.answers = []answer{{before: bizErr(bss.CodeUseCombinedOrder)}}
		op := g.create("p", "O1", "150")
		_, got := g.reconcile(op)
		g.expect(got, budgetv1alpha1.PaymentPending, budgetv1alpha1.ReasonPending, 1, 0)
		if got.Status.PayOrderID != "P1" {
			t.Fatalf("payOrderID %q, want P1", got.Status.PayOrderID)
		}
		_, got = g.reconcile(got)
		if got.Status.Phase != budgetv1alpha1.PaymentPaid || g.bss.Payments()["P1"] != 1 || got.Status.Amount != "150.00" {
			t.Errorf("phase %s, P1 paid %d times, amount %s", got.Status.Phase, g.bss.Payments()["P1"], got.Status.Amount)
		}
		// The bound applies to the combined order: 120 does not cover it.
		g = newRig(t)
		g.bss.AddOrder(bss.Order{OrderID: "P1", CustomerID: customer, AmountAfterDiscount: money.MustParse("150.00"),
			SubOrderInfos: []bss.Order{{OrderID: "O1", CustomerID: customer}}})
		g.answers = []answer{{before: bizErr(bss.CodeUseCombinedOrder)}}
		_, got = g.reconcile(g.create("p", "O1", "120"))
		_, got = g.reconcile(got)
		if got.Status.Phase != budgetv1alpha1.PaymentFailed || common.ReadyReason(got.Status.Conditions, budgetv1alpha1.ConditionReady) != budgetv1alpha1.ReasonAboveMaxAmount {
			t.Errorf("combined order above the bound: %s %+v", got.Status.Phase, got.Status.Conditions)
		}
	})
}

// TestDeletedWhilePayingIsNotPaidAgain: a payment deleted after an
// unanswered call waits for the order to settle and goes unpaid once it
// still reads pending after the window; it sends nothing more.
func TestDeletedWhilePayingIsNotPaidAgain(t *testing.T) {
	g := newRig(t)
	g.answers = []answer{{before: transportErr()}}
	op := g.create("p", "O1", "100")
	_, got := g.reconcile(op)
	if err := g.k8s.Delete(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	_, got = g.reconcile(got)
	if got == nil || got.Status.Phase != budgetv1alpha1.PaymentPaying {
		t.Fatalf("released inside the settle window: %+v", got)
	}
	g.clock.Step(3 * time.Minute)
	_, got = g.reconcile(got)
	if got != nil {
		t.Errorf("still there: %+v", got.Status)
	}
	if n := g.bss.Calls[bss.OpPayOrders]; n != 1 {
		t.Errorf("%d pay calls, want 1", n)
	}
}

// TestSubAccountChangesThatMatter: a SubAccount's balance sync does not
// bring its waiting payments back to read BSS again; a change of what a
// payment decides on does.
func TestSubAccountChangesThatMatter(t *testing.T) {
	p := subAccountDecides()
	base := &budgetv1alpha1.SubAccount{ObjectMeta: metav1.ObjectMeta{Name: ns, Generation: 1},
		Status: budgetv1alpha1.SubAccountStatus{CustomerID: customer, CurrentCycle: &budgetv1alpha1.BillCycleSummary{Cycle: "2026-12", Consumption: "10.00"}}}
	changed := func(mutate func(*budgetv1alpha1.SubAccount)) bool {
		n := base.DeepCopy()
		mutate(n)
		return p.Update(event.UpdateEvent{ObjectOld: base, ObjectNew: n})
	}
	if changed(func(sa *budgetv1alpha1.SubAccount) {
		sa.Status.ReclaimableCash = "99.00"
		sa.Status.PaidOrders = "5.00"
	}) {
		t.Error("a balance sync passes")
	}
	for name, m := range map[string]func(*budgetv1alpha1.SubAccount){
		"spec": func(sa *budgetv1alpha1.SubAccount) { sa.Generation++ },
		"ready": func(sa *budgetv1alpha1.SubAccount) {
			sa.Status.Conditions = []metav1.Condition{{Type: budgetv1alpha1.ConditionReady, Status: metav1.ConditionTrue}}
		},
		"consumption": func(sa *budgetv1alpha1.SubAccount) { sa.Status.CurrentCycle.Consumption = "11.00" },
		"customer":    func(sa *budgetv1alpha1.SubAccount) { sa.Status.CustomerID = "other" },
	} {
		if !changed(m) {
			t.Errorf("a change of %s does not pass", name)
		}
	}
}

// TestADuplicateNeverCancelsTheOrder: a team's second payment of an order
// another payment holds, with cancelOrderOnDelete, fails as a duplicate,
// and deleting it leaves the order alone; deleting the holder cancels it.
func TestADuplicateNeverCancelsTheOrder(t *testing.T) {
	g := newRig(t)
	g.answers = []answer{{before: bizErr(bss.CodeInsufficientBalance)}}
	holder := g.create("holder", "O1", "100", func(op *budgetv1alpha1.OrderPayment) { op.Spec.CancelOrderOnDelete = true })
	_, got := g.reconcile(holder)
	g.expect(got, budgetv1alpha1.PaymentPending, budgetv1alpha1.ReasonInsufficientBalance, 1, 0)

	dup := &budgetv1alpha1.OrderPayment{
		ObjectMeta: metav1.ObjectMeta{Name: "dup", Namespace: ns, Finalizers: []string{budgetv1alpha1.Finalizer}},
		Spec: budgetv1alpha1.OrderPaymentSpec{SubAccountName: ns, OrderID: "O1", MaxAmount: "100", CancelOrderOnDelete: true,
			Coupons: budgetv1alpha1.PaymentCoupons{Mode: budgetv1alpha1.SelectNone}, Discount: budgetv1alpha1.PaymentDiscount{Mode: budgetv1alpha1.SelectAuto}},
	}
	g.clock.Step(time.Minute)
	dup.CreationTimestamp = metav1.NewTime(g.clock.Now())
	if err := g.k8s.Create(context.Background(), dup); err != nil {
		t.Fatal(err)
	}
	_, d := g.reconcile(dup)
	if d.Status.Phase != budgetv1alpha1.PaymentFailed || common.ReadyReason(d.Status.Conditions, budgetv1alpha1.ConditionReady) != budgetv1alpha1.ReasonDuplicatePayment {
		t.Fatalf("duplicate: %s %+v", d.Status.Phase, d.Status.Conditions)
	}
	if err := g.k8s.Delete(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if _, d = g.reconcile(d); d != nil {
		t.Fatalf("duplicate not released: %+v", d.Status)
	}
	if o, _ := g.bss.Order("O1"); o.Status != bss.OrderStatusPendingPayment || g.bss.Calls[bss.OpCancelCustomerOrder] != 0 {
		t.Fatalf("deleting the duplicate cancelled the order: status %d, %d cancel calls", o.Status, g.bss.Calls[bss.OpCancelCustomerOrder])
	}
	if err := g.k8s.Delete(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	g.reconcile(got)
	if o, _ := g.bss.Order("O1"); o.Status != bss.OrderStatusCancelled {
		t.Errorf("deleting the holder left the order %d", o.Status)
	}
}

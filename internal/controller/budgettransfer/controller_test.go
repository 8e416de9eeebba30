package budgettransfer

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/accounts"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/bssfake"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// The money path in isolation: the reconciler against a fake API server
// and an in-memory BSS, driven one reconcile at a time with a fake clock.

const (
	master   = "acme"
	customer = "cust-1"
)

type rig struct {
	t     *testing.T
	k8s   client.Client
	bss   *bssfake.BSS
	acct  *accounts.Account
	clock *clocktesting.FakeClock
	r     *Reconciler
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ea := &budgetv1alpha1.EnterpriseAccount{ObjectMeta: metav1.ObjectMeta{Name: master}}
	k8s := fake.NewClientBuilder().WithScheme(localenv.NewScheme()).WithStatusSubresource(&budgetv1alpha1.BudgetTransfer{}).WithObjects(ea).Build()
	b := bssfake.New(money.MustParse("1000"), map[string]money.Amount{"CP1": money.MustParse("50")}, customer)
	reg := accounts.NewRegistry(nil, nil)
	acct := reg.Put(master, b)
	acct.SetTransferableCash(money.MustParse("1000"), t0)
	clock := clocktesting.NewFakeClock(t0)
	opts := common.Options{Clock: clock, TransferSafetyWindow: time.Hour, SubmitRetryBase: time.Second}
	opts.Defaults()
	return &rig{t: t, k8s: k8s, bss: b, acct: acct, clock: clock,
		r: &Reconciler{Client: k8s, APIReader: k8s, Recorder: events.NewFakeRecorder(100), Registry: reg, Options: opts, Approvals: &common.KeyedLocks{}}}
}

func (g *rig) create(name string, op budgetv1alpha1.TransferOperation, amount string, mutate ...func(*budgetv1alpha1.BudgetTransferSpec)) *budgetv1alpha1.BudgetTransfer {
	g.t.Helper()
	bt := &budgetv1alpha1.BudgetTransfer{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team", Finalizers: []string{budgetv1alpha1.Finalizer}},
		Spec: budgetv1alpha1.BudgetTransferSpec{
			AllocationRef: budgetv1alpha1.LocalObjectReference{Name: "a"}, SubAccountName: "team", EnterpriseAccountName: master,
			CustomerID: customer, Operation: op, Amount: budgetv1alpha1.Money(amount), BalanceType: budgetv1alpha1.BalanceTypeDebit,
			TransID: fmt.Sprintf("%032x", name), Sequence: 1,
		},
	}
	for _, m := range mutate {
		m(&bt.Spec)
	}
	if err := g.k8s.Create(context.Background(), bt); err != nil {
		g.t.Fatal(err)
	}
	return bt
}

// reconcile runs one reconcile and returns the transfer as it is after it.
func (g *rig) reconcile(bt *budgetv1alpha1.BudgetTransfer) (ctrl.Result, *budgetv1alpha1.BudgetTransfer) {
	g.t.Helper()
	res, err := g.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(bt)})
	if err != nil {
		g.t.Fatalf("reconcile: %v", err)
	}
	var got budgetv1alpha1.BudgetTransfer
	if err := g.k8s.Get(context.Background(), client.ObjectKeyFromObject(bt), &got); err != nil {
		return res, nil
	}
	return res, &got
}

func TestTransferAppliedOnce(t *testing.T) {
	g := newRig(t)
	bt := g.create("t1", budgetv1alpha1.OperationTransfer, "100")
	_, got := g.reconcile(bt)
	if got.Status.Phase != budgetv1alpha1.PhaseSucceeded || got.Status.Attempts != 1 {
		t.Fatalf("phase %s after %d attempts", got.Status.Phase, got.Status.Attempts)
	}
	if g.bss.Cash(customer) != money.MustParse("100") {
		t.Errorf("sub-account cash %s, want 100.00", g.bss.Cash(customer))
	}
	if cash, _ := g.acct.TransferableCash(); cash != money.MustParse("900") {
		t.Errorf("cached master cash %s, want 900.00", cash)
	}
	// Settled: another reconcile sends nothing.
	g.reconcile(got)
	if n := g.bss.Calls[bss.OpUpdateSubEnterpriseAmount]; n != 1 {
		t.Errorf("%d transfer calls, want 1", n)
	}
}

// TestLostAnswerIsResentAndRecognised: where refused trans_ids are
// declared reusable, a lost answer is settled by the resend's CBC.99007009.
func TestLostAnswerIsResentAndRecognised(t *testing.T) {
	g := newRig(t)
	g.declare(budgetv1alpha1.BSSBehaviour{RefusedTransIDs: budgetv1alpha1.RefusedTransIDsReusable})
	lose := true
	g.bss.Fault = func(string) (error, error) {
		if lose {
			return nil, &bss.TransportError{Operation: bss.OpUpdateSubEnterpriseAmount, Timeout: true}
		}
		return nil, nil
	}
	bt := g.create("t2", budgetv1alpha1.OperationTransfer, "40")
	res, got := g.reconcile(bt)
	if got.Status.Phase != budgetv1alpha1.PhaseSubmitting || res.RequeueAfter != time.Second {
		t.Fatalf("after a lost answer: phase %s, requeue %s", got.Status.Phase, res.RequeueAfter)
	}
	// Within the backoff nothing is sent.
	if res, _ := g.reconcile(got); res.RequeueAfter != time.Second {
		t.Errorf("within the backoff: requeue %s", res.RequeueAfter)
	}
	lose = false
	g.clock.Step(time.Second)
	_, got = g.reconcile(got)
	if got.Status.Phase != budgetv1alpha1.PhaseSucceeded || got.Status.Result == nil || !got.Status.Result.AlreadyApplied || got.Status.Attempts != 2 {
		t.Fatalf("resend: phase %s, result %+v, attempts %d", got.Status.Phase, got.Status.Result, got.Status.Attempts)
	}
	if g.bss.Cash(customer) != money.MustParse("40") || g.bss.Calls[bss.OpUpdateSubEnterpriseAmount] != 2 {
		t.Errorf("moved %s in %d calls, want 40.00 once in 2", g.bss.Cash(customer), g.bss.Calls[bss.OpUpdateSubEnterpriseAmount])
	}
	if ev := got.Status.Evidence; ev == nil || ev.Kind != budgetv1alpha1.EvidenceDuplicateAnswer {
		t.Errorf("evidence %+v, want %s", ev, budgetv1alpha1.EvidenceDuplicateAnswer)
	}
	// Nothing needed the master's balance: refused trans_ids are reusable.
	if n := g.bss.Calls[bss.OpShowMultiAccountTransferAmount]; n != 0 {
		t.Errorf("%d reads of the master's balance, want 0", n)
	}
}

func TestRefusedTransferFails(t *testing.T) {
	g := newRig(t)
	bt := g.create("t3", budgetv1alpha1.OperationTransfer, "5000")
	_, got := g.reconcile(bt)
	if got.Status.Phase != budgetv1alpha1.PhaseFailed || got.Status.ErrorCode != bss.CodeInsufficientBalance {
		t.Fatalf("phase %s, code %q", got.Status.Phase, got.Status.ErrorCode)
	}
	if !g.bss.Cash(customer).IsZero() {
		t.Errorf("money moved: %s", g.bss.Cash(customer))
	}
}

func TestDeletedSubmittingTransferIsHeldUntilSettled(t *testing.T) {
	g := newRig(t)
	g.bss.Fault = func(string) (error, error) {
		return &bss.Error{HTTPStatus: 500, Code: bss.CodeInternal}, nil
	}
	bt := g.create("t4", budgetv1alpha1.OperationTransfer, "10")
	_, got := g.reconcile(bt)
	if got.Status.Phase != budgetv1alpha1.PhaseSubmitting {
		t.Fatalf("phase %s", got.Status.Phase)
	}
	if err := g.k8s.Delete(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	g.bss.Fault = nil
	g.clock.Step(time.Minute)
	_, got = g.reconcile(got)
	if got == nil || got.Status.Phase != budgetv1alpha1.PhaseSucceeded {
		t.Fatalf("a deleted Submitting transfer was not resent to a definite answer: %+v", got)
	}
	if _, gone := g.reconcile(got); gone != nil {
		t.Errorf("settled deleted transfer kept: finalizers %v", gone.Finalizers)
	}
	if g.bss.Cash(customer) != money.MustParse("10") {
		t.Errorf("moved %s, want 10.00", g.bss.Cash(customer))
	}
}

func TestCouponTransferAndReclaim(t *testing.T) {
	g := newRig(t)
	_, got := g.reconcile(g.create("c1", budgetv1alpha1.OperationCouponTransfer, "20", func(s *budgetv1alpha1.BudgetTransferSpec) {
		s.CouponID, s.BalanceType = "CP1", ""
	}))
	if got.Status.Phase != budgetv1alpha1.PhaseSucceeded || got.Status.Result == nil || got.Status.Result.SubCouponID == "" {
		t.Fatalf("coupon transfer: %s %+v", got.Status.Phase, got.Status.Result)
	}
	sub := got.Status.Result.SubCouponID
	_, back := g.reconcile(g.create("c2", budgetv1alpha1.OperationCouponReclaim, "", func(s *budgetv1alpha1.BudgetTransferSpec) {
		s.CouponID, s.SubCouponID, s.BalanceType = "CP1", sub, ""
	}))
	if back.Status.Phase != budgetv1alpha1.PhaseSucceeded || back.Status.Result.ReclaimedAmount != "20.00" {
		t.Fatalf("coupon reclaim: %s %+v", back.Status.Phase, back.Status.Result)
	}
}

// TestUnreadableApprovalSettingsWait: with its EnterpriseAccount gone, a
// transfer waits for an approver; a reclaim, which never needs approval,
// goes on.
func TestUnreadableApprovalSettingsWait(t *testing.T) {
	g := newRig(t)
	if err := g.k8s.Delete(context.Background(), &budgetv1alpha1.EnterpriseAccount{ObjectMeta: metav1.ObjectMeta{Name: master}}); err != nil {
		t.Fatal(err)
	}
	_, got := g.reconcile(g.create("w1", budgetv1alpha1.OperationTransfer, "1"))
	if got.Status.Phase != budgetv1alpha1.PhaseAwaitingApproval || g.bss.Calls[bss.OpUpdateSubEnterpriseAmount] != 0 {
		t.Fatalf("phase %s, %d calls", got.Status.Phase, g.bss.Calls[bss.OpUpdateSubEnterpriseAmount])
	}
	_, got = g.reconcile(g.create("w2", budgetv1alpha1.OperationReclaim, "1"))
	if got.Status.Phase == budgetv1alpha1.PhaseAwaitingApproval {
		t.Errorf("a reclaim waits for approval")
	}
}

package enterpriseaccount

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/accounts"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/bssfake"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// The EnterpriseAccount reconciler against a fake API server and an
// in-memory BSS that the registry connects to in place of the real API.

const (
	opNS   = "bss-budget-system"
	secret = "acme-credentials"
)

// rejecting is a BSS that refuses the master's access key.
type rejecting struct{ *bssfake.BSS }

func (rejecting) TransferableCash(context.Context) (money.Amount, error) {
	return money.Zero, &bss.Error{Operation: bss.OpShowMultiAccountTransferAmount, HTTPStatus: http.StatusUnauthorized, Code: "APIG.0301", Message: "Incorrect IAM authentication information."}
}

// harness is a reconciler of the EnterpriseAccount acme on a fake clock.
type harness struct {
	t     *testing.T
	k8s   client.Client
	r     *Reconciler
	reg   *accounts.Registry
	clock *clocktesting.FakeClock
}

var t0 = time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, api bss.API, objs ...client.Object) *harness {
	t.Helper()
	ea := &budgetv1alpha1.EnterpriseAccount{ObjectMeta: metav1.ObjectMeta{Name: "acme", Generation: 1}, Spec: budgetv1alpha1.EnterpriseAccountSpec{
		Endpoint: "https://bss.myhuaweicloud.com", CredentialsSecretRef: budgetv1alpha1.SecretReference{Name: secret, Namespace: opNS},
	}}
	k8s := fake.NewClientBuilder().WithScheme(localenv.NewScheme()).WithStatusSubresource(ea).WithObjects(append(objs, ea)...).
		WithIndex(&budgetv1alpha1.SubAccount{}, common.IndexSubAccountEnterprise, func(o client.Object) []string {
			return []string{o.(*budgetv1alpha1.SubAccount).Spec.EnterpriseAccountRef.Name}
		}).Build()
	reg := accounts.NewRegistry(nil, nil)
	reg.SetConnector(func(bss.Config) (bss.API, error) { return api, nil })
	clock := clocktesting.NewFakeClock(t0)
	opts := common.Options{Namespace: opNS, Clock: clock}
	opts.Defaults()
	r := &Reconciler{Client: k8s, Recorder: events.NewFakeRecorder(10), Registry: reg, Options: opts}
	return &harness{t: t, k8s: k8s, r: r, reg: reg, clock: clock}
}

func (h *harness) reconcile() ctrl.Result {
	h.t.Helper()
	res, err := h.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Name: "acme"}})
	if err != nil {
		h.t.Fatalf("reconcile: %v", err)
	}
	return res
}

func (h *harness) get() *budgetv1alpha1.EnterpriseAccount {
	h.t.Helper()
	var got budgetv1alpha1.EnterpriseAccount
	if err := h.k8s.Get(context.Background(), types.NamespacedName{Name: "acme"}, &got); err != nil {
		h.t.Fatal(err)
	}
	return &got
}

func (h *harness) account() *accounts.Account {
	h.t.Helper()
	acct, ok := h.reg.Get("acme")
	if !ok {
		h.t.Fatal("no connection in the registry")
	}
	return acct
}

func reconcileAccount(t *testing.T, api bss.API, objs ...client.Object) (*budgetv1alpha1.EnterpriseAccount, *accounts.Registry) {
	t.Helper()
	h := newHarness(t, api, objs...)
	h.reconcile()
	return h.get(), h.reg
}

func credentials() *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secret, Namespace: opNS}, Data: map[string][]byte{
		common.KeyAccessKeyID: []byte("AK"), common.KeySecretAccessKey: []byte("SK"), common.KeyDomainID: []byte("0c5a17e0d0d0400f8e1b5a51a0000001"),
	}}
}

func TestReadyWithTheMastersBalances(t *testing.T) {
	b := bssfake.New(money.MustParse("1234.50"), map[string]money.Amount{"CP1": money.MustParse("50")}, "cust-1", "cust-2")
	ea, reg := reconcileAccount(t, b, credentials())
	if !common.IsTrue(ea.Status.Conditions, budgetv1alpha1.ConditionReady) {
		t.Fatalf("not Ready: %+v", ea.Status.Conditions)
	}
	if ea.Status.TransferableCash != "1234.50" || ea.Status.SubAccounts != 2 || len(ea.Status.TransferableCoupons) != 1 || ea.Status.ObservedGeneration != 1 {
		t.Errorf("status = %+v", ea.Status)
	}
	acct, ok := reg.Get("acme")
	if !ok {
		t.Fatal("no connection in the registry")
	}
	if cash, known := acct.TransferableCash(); !known || cash != money.MustParse("1234.50") {
		t.Errorf("cached master cash %s (known %v)", cash, known)
	}
}

func TestCredentialsMissing(t *testing.T) {
	ea, reg := reconcileAccount(t, bssfake.New(money.Zero, nil))
	if got := common.ReadyReason(ea.Status.Conditions, budgetv1alpha1.ConditionReady); got != budgetv1alpha1.ReasonCredentialsMissing {
		t.Errorf("Ready reason %q, want CredentialsMissing", got)
	}
	if _, ok := reg.Get("acme"); ok {
		t.Error("a connection without credentials is in the registry")
	}
}

func TestCredentialsRejected(t *testing.T) {
	ea, _ := reconcileAccount(t, rejecting{bssfake.New(money.Zero, nil)}, credentials())
	if got := common.ReadyReason(ea.Status.Conditions, budgetv1alpha1.ConditionReady); got != budgetv1alpha1.ReasonCredentialsRejected {
		t.Errorf("Ready reason %q, want CredentialsRejected: %+v", got, ea.Status.Conditions)
	}
}

// withCredit is the fake BSS with credit ledgers on the master.
func withCredit(available string) *bssfake.BSS {
	b := bssfake.New(money.MustParse("1234.50"), map[string]money.Amount{"CP1": money.MustParse("50")}, "cust-1")
	b.SetCredit(ledger(available)...)
	return b
}

func ledger(available string) []bss.AmountInfo {
	return []bss.AmountInfo{{Available: money.MustParse(available), CreditAmount: money.MustParse("1000")}}
}

// readsOf is every BSS call so far, credit reads under "credit".
func readsOf(b *bssfake.BSS) map[string]int {
	calls := maps.Clone(b.Calls)
	calls["credit"] = calls[bssfake.CreditReads]
	delete(calls, bssfake.CreditReads)
	return calls
}

func at(t time.Time) *metav1.Time { m := metav1.NewTime(t); return &m }

// TestMovementPublishedWithoutBSSReads: between two full reads, a reconcile
// with nothing new reads nothing and writes nothing; after a movement
// adjusted the cached cash, it publishes that cash and its time, still
// without a BSS read, and looks again when the full read is due.
func TestMovementPublishedWithoutBSSReads(t *testing.T) {
	b := withCredit("500")
	h := newHarness(t, b, credentials())
	h.reconcile()
	first := h.get()
	if !first.Status.LastSyncTime.Equal(at(t0)) || !first.Status.BalancesTime.Equal(at(t0)) {
		t.Fatalf("after the full read: lastSyncTime %v, balancesTime %v, want both %v", first.Status.LastSyncTime, first.Status.BalancesTime, t0)
	}
	reads := readsOf(b)
	h.reg.TakeChanges()

	h.clock.Step(time.Second)
	if res := h.reconcile(); res.RequeueAfter != 10*time.Minute-time.Second {
		t.Errorf("requeue after %v, want the full read's time (in %v)", res.RequeueAfter, 10*time.Minute-time.Second)
	}
	if got := h.get(); got.ResourceVersion != first.ResourceVersion {
		t.Errorf("a reconcile with nothing new wrote the status: %+v", got.Status)
	}

	h.account().AdjustTransferableCash(money.Yuan(-100), t0.Add(5*time.Second))
	if got := h.reg.TakeChanges(); !slices.Equal(got, []string{"acme"}) {
		t.Errorf("changes after the movement %v, want [acme]", got)
	}
	h.clock.Step(6 * time.Second)
	if res := h.reconcile(); res.RequeueAfter != 10*time.Minute-7*time.Second {
		t.Errorf("requeue after %v, want the full read's time (in %v)", res.RequeueAfter, 10*time.Minute-7*time.Second)
	}
	got := h.get()
	if got.Status.TransferableCash != "1134.50" || !got.Status.BalancesTime.Equal(at(t0.Add(5*time.Second))) {
		t.Errorf("status shows %s as of %v, want 1134.50 as of %v", got.Status.TransferableCash, got.Status.BalancesTime, t0.Add(5*time.Second))
	}
	if !got.Status.LastSyncTime.Equal(at(t0)) {
		t.Errorf("lastSyncTime moved to %v without a full read", got.Status.LastSyncTime)
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, budgetv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "1134.50") {
		t.Errorf("Ready condition %+v", c)
	}
	if now := readsOf(b); !maps.Equal(now, reads) {
		t.Errorf("BSS reads went from %v to %v", reads, now)
	}
}

// TestForgottenCreditOrCouponsReadAlone: after a movement dropped the
// credit ledgers (or the coupons) from the cache, a reconcile between full
// reads makes exactly that one read, stores it back for the plans, and
// publishes it; one a plan has read again since costs no read at all.
func TestForgottenCreditOrCouponsReadAlone(t *testing.T) {
	b := withCredit("500")
	h := newHarness(t, b, credentials())
	h.reconcile()
	acct := h.account()

	expectReads := func(what string, before map[string]int, op string) {
		t.Helper()
		after := readsOf(b)
		for k := range after {
			want := before[k]
			if k == op {
				want++
			}
			if after[k] != want {
				t.Errorf("%s: %d %s reads, want %d (before %v, after %v)", what, after[k], k, want, before, after)
			}
		}
	}

	// A credit transfer of 100.
	b.SetCredit(ledger("400")...)
	accounts.Forget(acct, accounts.MasterCredit)
	reads := readsOf(b)
	h.clock.Step(3 * time.Second)
	h.reconcile()
	expectReads("credit forgotten", reads, "credit")
	got := h.get()
	if len(got.Status.CreditLedgers) != 1 || got.Status.CreditLedgers[0].Available != "400.00" || !got.Status.BalancesTime.Equal(at(t0.Add(3*time.Second))) {
		t.Errorf("credit ledgers %+v as of %v, want 400.00 as of %v", got.Status.CreditLedgers, got.Status.BalancesTime, t0.Add(3*time.Second))
	}
	if ls, ok := accounts.Load(acct, accounts.MasterCredit, h.clock.Now()); !ok || len(ls) != 1 || ls[0].Available != money.MustParse("400") {
		t.Errorf("the cache holds %v (%v), want the ledgers read", ls, ok)
	}

	// A coupon transfer of 20 out of CP1.
	if _, err := b.TransferCoupon(context.Background(), bss.CouponTransferRequest{TransID: "t1", CustomerID: "cust-1", CouponID: "CP1", Amount: money.MustParse("20")}); err != nil {
		t.Fatal(err)
	}
	accounts.Forget(acct, accounts.MasterCoupons)
	reads = readsOf(b)
	h.clock.Step(3 * time.Second)
	h.reconcile()
	expectReads("coupons forgotten", reads, bss.OpListMultiAccountTransferCoupons)
	if got := h.get(); len(got.Status.TransferableCoupons) != 1 || got.Status.TransferableCoupons[0].Balance != "30.00" {
		t.Errorf("coupons %+v, want CP1 with 30.00", got.Status.TransferableCoupons)
	}

	// Another credit transfer, after which a plan read the ledgers again.
	accounts.Forget(acct, accounts.MasterCredit)
	accounts.Store(acct, accounts.MasterCredit, ledger("300"), h.clock.Now(), accounts.MasterCacheTTL)
	reads = readsOf(b)
	h.clock.Step(3 * time.Second)
	h.reconcile()
	expectReads("credit read again by a plan", reads, "")
	if got := h.get(); len(got.Status.CreditLedgers) != 1 || got.Status.CreditLedgers[0].Available != "300.00" {
		t.Errorf("credit ledgers %+v, want the plan's 300.00", got.Status.CreditLedgers)
	}
}

// TestFullReadWhenDue: once balanceSyncInterval has passed since the last
// full read, a reconcile reads everything again, whatever the cache holds,
// and schedules the next full read.
func TestFullReadWhenDue(t *testing.T) {
	b := withCredit("500")
	h := newHarness(t, b, credentials())
	h.reconcile()
	// A cached figure the full read corrects.
	h.account().AdjustTransferableCash(money.Yuan(-100), t0.Add(time.Minute))
	reads := readsOf(b)

	h.clock.Step(common.DefaultBalanceInterval)
	res := h.reconcile()
	after := readsOf(b)
	for _, op := range []string{bss.OpShowMultiAccountTransferAmount, "credit", bss.OpListMultiAccountTransferCoupons, bss.OpListEnterpriseSubCustomers} {
		if after[op] != reads[op]+1 {
			t.Errorf("%s: %d reads, want %d", op, after[op], reads[op]+1)
		}
	}
	due := t0.Add(common.DefaultBalanceInterval)
	got := h.get()
	if got.Status.TransferableCash != "1234.50" || !got.Status.LastSyncTime.Equal(at(due)) || !got.Status.BalancesTime.Equal(at(due)) {
		t.Errorf("status shows %s, lastSyncTime %v, balancesTime %v; want 1234.50 read at %v", got.Status.TransferableCash, got.Status.LastSyncTime, got.Status.BalancesTime, due)
	}
	if cash, _ := h.account().TransferableCash(); cash != money.MustParse("1234.50") {
		t.Errorf("cached cash %s after the full read", cash)
	}
	if res.RequeueAfter < common.DefaultBalanceInterval || res.RequeueAfter > common.DefaultBalanceInterval*11/10 {
		t.Errorf("next full read in %v, want within [1, 1.1] × %v", res.RequeueAfter, common.DefaultBalanceInterval)
	}
}

// recordingQueue records AddAfter.
type recordingQueue struct {
	workqueue.TypedRateLimitingInterface[reconcile.Request]
	added chan string
}

func (q *recordingQueue) AddAfter(req reconcile.Request, d time.Duration) {
	q.added <- fmt.Sprintf("%s after %v", req.Name, d)
}

// TestChangesEnqueueAfterTheDelay: the registry's changes reach the queue as
// a request BalancesPublishDelay later.
func TestChangesEnqueueAfterTheDelay(t *testing.T) {
	h := newHarness(t, bssfake.New(money.MustParse("10"), nil), credentials())
	h.reconcile()
	h.reg.TakeChanges()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := &recordingQueue{added: make(chan string, 10)}
	if err := h.r.enqueueChanges(ctx, q); err != nil {
		t.Fatal(err)
	}
	h.account().AdjustTransferableCash(money.Yuan(-1), t0)
	want := "acme after " + common.DefaultBalancesPublishDelay.String()
	select {
	case got := <-q.added:
		if got != want {
			t.Errorf("queued %q, want %q", got, want)
		}
	case <-time.After(time.Minute):
		t.Fatal("the change never reached the queue")
	}
}

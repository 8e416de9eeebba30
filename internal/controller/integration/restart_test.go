package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/accounts"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/budgetallocation"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

// TestManagerStoppedBetweenSubmittingAndCall leaves transfers in Submitting
// while no manager runs, as a crash right after the Submitting write would:
// one whose call never reached BSS and one whose call was applied but whose
// answer was lost with the process. A new manager settles both, and the
// money moves exactly once each.
func TestManagerStoppedBetweenSubmittingAndCall(t *testing.T) {
	ctx := context.Background()
	tm := newTeam(t)
	paused := func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.ManagementPolicy = budgetv1alpha1.ManagementPolicyPaused
	}
	tm.create(t, tm.allocation("never-sent", "40", paused))
	tm.create(t, tm.allocation("applied", "25", paused))
	tm.waitReason(t, "never-sent", budgetv1alpha1.ReasonPaused)
	tm.waitReason(t, "applied", budgetv1alpha1.ReasonPaused)

	stopManager()
	restarted := false
	defer func() {
		if !restarted {
			stopManager = startManager(testOptions)
		}
	}()

	tm.leaveSubmitting(t, "never-sent", "40.00")
	applied := tm.leaveSubmitting(t, "applied", "25.00")

	// The lost call of "applied" did reach BSS.
	c, err := bss.New(bss.Config{Endpoint: simURL, DomainID: bsssim.DefaultDomainID,
		Credentials: sign.Credentials{AccessKey: bsssim.DefaultAccessKey, SecretKey: bsssim.DefaultSecretKey}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.TransferAmount(ctx, bss.AmountTransferRequest{CustomerID: tm.customerID, Amount: money.MustParse("25"),
		TransID: applied.Spec.TransID, BalanceType: bss.BalanceTypeDebit}); err != nil {
		t.Fatal(err)
	}
	tm.expectLedger(t, "25.00")

	blamed := tm.watchBlame(t)
	stopManager = startManager(testOptions)
	restarted = true
	for _, name := range []string{"never-sent", "applied"} {
		tm.update(t, name, func(ba *budgetv1alpha1.BudgetAllocation) {
			ba.Spec.ManagementPolicy = budgetv1alpha1.ManagementPolicyManaged
		})
	}
	tm.waitReady(t, "never-sent", "40.00")
	tm.waitReady(t, "applied", "25.00")
	// The transfers in Submitting were reconciled by the new manager before
	// it had rebuilt its connection, and waited without blaming it.
	for _, s := range blamed() {
		t.Errorf("after the restart: %s", s)
	}
	tm.expectLedger(t, "65.00")
	for _, bt := range tm.transfers(t) {
		if bt.Status.Phase != budgetv1alpha1.PhaseSucceeded || bt.Status.Attempts != 2 {
			t.Errorf("%s: phase %s after %d attempts", bt.Name, bt.Status.Phase, bt.Status.Attempts)
		}
		wantAlready := bt.Spec.AllocationRef.Name == "applied"
		if got := bt.Status.Result != nil && bt.Status.Result.AlreadyApplied; got != wantAlready {
			t.Errorf("%s: alreadyApplied = %v, want %v", bt.Name, got, wantAlready)
		}
	}
}

// TestOutcomeUnknownAfterSafetyWindow: a transfer left Submitting past the
// safety window is not resent; the allocation shows OutcomeUnknown until an
// administrator resolves it with the annotation.
func TestOutcomeUnknownAfterSafetyWindow(t *testing.T) {
	ctx := context.Background()
	tm := newTeam(t)
	tm.create(t, tm.allocation("stuck", "33", func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.ManagementPolicy = budgetv1alpha1.ManagementPolicyPaused
	}))
	tm.waitReason(t, "stuck", budgetv1alpha1.ReasonPaused)
	ba := tm.get(t, "stuck")
	// Written while no manager runs, as the state a crashed one left behind.
	stopManager()
	restarted := false
	defer func() {
		if !restarted {
			stopManager = startManager(testOptions)
		}
	}()
	bt := &budgetv1alpha1.BudgetTransfer{
		ObjectMeta: metav1.ObjectMeta{Name: budgetallocation.TransferName(ba.Name, 1), Namespace: tm.ns},
		Spec: budgetv1alpha1.BudgetTransferSpec{
			AllocationRef: budgetv1alpha1.LocalObjectReference{Name: ba.Name}, SubAccountName: tm.sa, EnterpriseAccountName: eaName,
			CustomerID: tm.customerID, Operation: budgetv1alpha1.OperationTransfer, Amount: "33.00",
			BalanceType: budgetv1alpha1.BalanceTypeDebit, TransID: budgetallocation.TransID(string(ba.UID), 1), Sequence: 1,
		},
	}
	if err := controllerutil.SetControllerReference(ba, bt, scheme); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, bt); err != nil {
		t.Fatal(err)
	}
	long := metav1.NewTime(time.Now().Add(-25 * time.Hour))
	bt.Status = budgetv1alpha1.BudgetTransferStatus{Phase: budgetv1alpha1.PhaseSubmitting, Attempts: 9, SubmittedTime: &long, LastAttemptTime: &long, ErrorCode: "CBC.0999"}
	if err := k8s.Status().Update(ctx, bt); err != nil {
		t.Fatal(err)
	}
	stopManager = startManager(testOptions)
	restarted = true
	tm.update(t, "stuck", func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.ManagementPolicy = budgetv1alpha1.ManagementPolicyManaged
	})
	tm.waitReason(t, "stuck", budgetv1alpha1.ReasonOutcomeUnknown)
	tm.expectLedger(t, "0.00")

	// The administrator checked BSS: it did not move. Failed lets the
	// allocation try again with a new trans_id.
	if err := testenv.Wait(context.Background(), 10*time.Second, testenv.PollInterval, func(context.Context) (bool, error) {
		if err := k8s.Get(ctx, objKey(bt), bt); err != nil {
			return false, err
		}
		bt.Annotations = map[string]string{budgetv1alpha1.AnnotationResolve: "Failed"}
		err := k8s.Update(ctx, bt)
		return err == nil, err
	}, nil); err != nil {
		t.Fatal(err)
	}
	tm.waitReady(t, "stuck", "33.00")
	tm.expectLedger(t, "33.00")
}

// TestRestartKeepsReadyConditions restarts the manager under Ready objects.
// The new manager rebuilds its BSS connection from the EnterpriseAccount
// first; until then the SubAccount, the allocations and their transfers
// keep what they showed, instead of reporting a connection that is only
// not rebuilt yet.
func TestRestartKeepsReadyConditions(t *testing.T) {
	tm := newTeam(t)
	tm.create(t, tm.allocation("first", "12"))
	tm.create(t, tm.allocation("second", "8"))
	tm.waitReady(t, "first", "12.00")
	tm.waitReady(t, "second", "8.00")

	var sa budgetv1alpha1.SubAccount
	if err := k8s.Get(context.Background(), types.NamespacedName{Name: tm.sa}, &sa); err != nil {
		t.Fatal(err)
	}
	// The transfers have succeeded: the manager does not cache them, and
	// the allocations plan from their checkpoints.
	objs := []client.Object{&sa, tm.get(t, "first"), tm.get(t, "second")}
	before := make([]int, len(objs))
	for i, o := range objs {
		before[i] = managerReconciles.begun(o)
	}

	blamed := tm.watchBlame(t)
	stopManager()
	stopManager = startManager(testOptions)
	notYet := func() []string {
		var out []string
		if _, ok := managerRegistry.Get(eaName); !ok {
			out = append(out, "the connection to "+eaName)
		}
		for i, o := range objs {
			if managerReconciles.begun(o) == before[i] {
				out = append(out, reconcileKey(o, client.ObjectKeyFromObject(o)))
			}
		}
		return out
	}
	testenv.Eventually(t, 30*time.Second, "the new manager rebuilt its connection and reconciled the SubAccount and the allocations",
		func() bool { return len(notYet()) == 0 }, func() string { return fmt.Sprintf("not yet: %v", notYet()) })
	// A reconcile that found the connection still being rebuilt looks again
	// after ConnectingRetry; the window covers that second look.
	ready := func() string {
		var wrong []string
		for name, granted := range map[string]string{"first": "12.00", "second": "8.00"} {
			if ba := tm.get(t, name); !common.IsTrue(ba.Status.Conditions, budgetv1alpha1.ConditionReady) || string(ba.Status.Granted) != granted {
				wrong = append(wrong, fmt.Sprintf("%s shows granted %s, conditions %+v; want Ready with %s", name, ba.Status.Granted, ba.Status.Conditions, granted))
			}
		}
		return strings.Join(wrong, "; ")
	}
	testenv.Consistently(t, accounts.ConnectingRetry+time.Second, "the allocations stay Ready after the restart",
		func() bool { return ready() == "" }, ready)
	for _, s := range blamed() {
		t.Errorf("after the restart: %s", s)
	}
}

// watchBlame watches the team's SubAccount, allocations and transfers, and
// returns a function that stops watching and lists every state seen that
// blamed the EnterpriseAccount's or the SubAccount's readiness: after a
// restart, that is what a connection not rebuilt yet used to cause.
func (tm *team) watchBlame(t *testing.T) func() []string {
	t.Helper()
	wc, err := client.NewWithWatch(restCfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var (
		mu     sync.Mutex
		blamed []string
		done   sync.WaitGroup
	)
	observe := func(list client.ObjectList, opts ...client.ListOption) {
		w, err := wc.Watch(ctx, list, opts...)
		if err != nil {
			t.Fatal(err)
		}
		done.Go(func() {
			defer w.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case ev, ok := <-w.ResultChan():
					if !ok {
						return
					}
					if s := blames(ev.Object); s != "" {
						mu.Lock()
						blamed = append(blamed, s)
						mu.Unlock()
					}
				}
			}
		})
	}
	observe(&budgetv1alpha1.SubAccountList{}, client.MatchingFields{"metadata.name": tm.sa})
	observe(&budgetv1alpha1.BudgetAllocationList{}, client.InNamespace(tm.ns))
	observe(&budgetv1alpha1.BudgetTransferList{}, client.InNamespace(tm.ns))
	return func() []string {
		cancel()
		done.Wait()
		mu.Lock()
		defer mu.Unlock()
		return blamed
	}
}

// blames describes o when its Ready condition blames the EnterpriseAccount
// or the SubAccount, and is empty otherwise.
func blames(o runtime.Object) string {
	var (
		conds []metav1.Condition
		what  string
	)
	switch o := o.(type) {
	case *budgetv1alpha1.SubAccount:
		conds, what = o.Status.Conditions, "SubAccount "+o.Name
	case *budgetv1alpha1.BudgetAllocation:
		conds, what = o.Status.Conditions, "BudgetAllocation "+o.Name
	case *budgetv1alpha1.BudgetTransfer:
		conds, what = o.Status.Conditions, "BudgetTransfer "+o.Name
	default:
		return ""
	}
	c := meta.FindStatusCondition(conds, budgetv1alpha1.ConditionReady)
	if c != nil && (c.Reason == budgetv1alpha1.ReasonEnterpriseAccountNotReady || c.Reason == budgetv1alpha1.ReasonSubAccountNotReady) {
		return fmt.Sprintf("%s is Ready=%s %s: %s", what, c.Status, c.Reason, c.Message)
	}
	return ""
}

// TestRestartWithCredentialsGone restarts the manager after the master's
// credentials were deleted while it was down: the SubAccount keeps Ready
// only until the EnterpriseAccount is reconciled, then reports it.
func TestRestartWithCredentialsGone(t *testing.T) {
	ctx := context.Background()
	const ea, secret = "restart-gone", "restart-gone"
	s := credentialsSecret(secret, bsssim.DefaultSecretKey)
	if err := k8s.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, enterpriseAccount(ea, secret, nil)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = k8s.Delete(ctx, &budgetv1alpha1.EnterpriseAccount{ObjectMeta: metav1.ObjectMeta{Name: ea}})
	}()
	tm := newTeam(t, withEnterprise(ea))
	saReason := func() string {
		var sa budgetv1alpha1.SubAccount
		if err := k8s.Get(ctx, types.NamespacedName{Name: tm.sa}, &sa); err != nil {
			return err.Error()
		}
		return common.ReadyReason(sa.Status.Conditions, budgetv1alpha1.ConditionReady)
	}
	testenv.Eventually(t, 30*time.Second, "SubAccount Ready", func() bool { return saReason() == budgetv1alpha1.ReasonReady }, tm.saConditions)

	stopManager()
	if err := k8s.Delete(ctx, s); err != nil {
		t.Fatal(err)
	}
	stopManager = startManager(testOptions)
	testenv.Eventually(t, 15*time.Second, "SubAccount EnterpriseAccountNotReady", func() bool {
		return saReason() == budgetv1alpha1.ReasonEnterpriseAccountNotReady
	}, tm.saConditions)
}

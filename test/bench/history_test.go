package main

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/budgetallocation"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/planner"
)

// operatorLedger is an allocation with the two transfers the operator left
// after converging (40.00) and a raise (+12.50), as it writes them.
func operatorLedger() (*budgetv1alpha1.BudgetAllocation, []budgetv1alpha1.BudgetTransfer) {
	ba := &budgetv1alpha1.BudgetAllocation{ObjectMeta: metav1.ObjectMeta{
		Namespace: "team-0003", Name: "alloc-00003", UID: types.UID("11111111-2222-3333-4444-555555555555"), Generation: 2,
		Annotations: map[string]string{budgetv1alpha1.AnnotationLedgerID: "team-0003/alloc-00003/11111111-2222-3333-4444-555555555555"},
	}}
	ba.Status.CustomerID = "cust-3"
	transfer := func(seq int64, amount string) budgetv1alpha1.BudgetTransfer {
		bt := budgetv1alpha1.BudgetTransfer{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: ba.Namespace, Name: budgetallocation.TransferName(ba.Name, seq),
				Labels:      map[string]string{budgetv1alpha1.LabelAllocation: ba.Name, budgetv1alpha1.LabelSubAccount: "team-0003"},
				Annotations: map[string]string{budgetv1alpha1.AnnotationAllocationGeneration: "1", budgetv1alpha1.AnnotationApprovalLimit: "limit-key"},
				Finalizers:  []string{budgetv1alpha1.Finalizer},
			},
			Spec: budgetv1alpha1.BudgetTransferSpec{
				AllocationRef: budgetv1alpha1.LocalObjectReference{Name: ba.Name}, SubAccountName: "team-0003", EnterpriseAccountName: "bench",
				CustomerID: "cust-3", Operation: budgetv1alpha1.OperationTransfer, BalanceType: budgetv1alpha1.BalanceTypeDebit,
				Amount: budgetv1alpha1.Money(amount), TransID: budgetallocation.TransID("11111111-2222-3333-4444-555555555555", seq), Sequence: seq,
			},
		}
		if err := controllerutil.SetControllerReference(ba, &bt, localenv.NewScheme()); err != nil {
			panic(err)
		}
		settle(&bt, time.Now())
		return bt
	}
	return ba, []budgetv1alpha1.BudgetTransfer{transfer(1, "40.00"), transfer(2, "12.50")}
}

func TestHistoryLooksAsTheOperatorLeavesIt(t *testing.T) {
	ba, own := operatorLedger()
	plans, settled := plansOf([]budgetv1alpha1.BudgetAllocation{*ba, {ObjectMeta: metav1.ObjectMeta{Namespace: "team-0003", Name: "top-up"}}}, own)
	if len(plans) != 1 || settled != 2 || plans[0].newest.Spec.Sequence != 2 {
		t.Fatalf("plans %+v, %d settled: want one plan continuing after sequence 2 and 2 settled", plans, settled)
	}
	p := plans[0]
	if p.ledgerID != "11111111-2222-3333-4444-555555555555" {
		t.Errorf("ledger id %q", p.ledgerID)
	}
	for seq := int64(3); seq <= 6; seq++ {
		bt := historyTransfer(p, 3, seq)
		want := own[1].DeepCopy()
		want.Name, want.Spec.Sequence = budgetallocation.TransferName(ba.Name, seq), seq
		want.Spec.TransID = budgetallocation.TransID(p.ledgerID, seq)
		want.Annotations[budgetv1alpha1.AnnotationAllocationGeneration] = "2" // the generation it is made for
		want.Spec.Operation, want.Spec.Amount = bt.Spec.Operation, bt.Spec.Amount
		want.Status = budgetv1alpha1.BudgetTransferStatus{}
		if diff := compare(bt, want); diff != "" {
			t.Errorf("sequence %d differs from the operator's transfers in %s", seq, diff)
		}
		if wantOp := []budgetv1alpha1.TransferOperation{budgetv1alpha1.OperationTransfer, budgetv1alpha1.OperationReclaim}[(seq-3)%2]; bt.Spec.Operation != wantOp {
			t.Errorf("sequence %d is a %s, want %s", seq, bt.Spec.Operation, wantOp)
		}
	}
}

// compare names the first part of got that differs from want.
func compare(got, want *budgetv1alpha1.BudgetTransfer) string {
	for part, same := range map[string]bool{
		"name":        got.Name == want.Name && got.Namespace == want.Namespace,
		"labels":      equalMaps(got.Labels, want.Labels),
		"annotations": equalMaps(got.Annotations, want.Annotations),
		"owner":       reflect.DeepEqual(got.OwnerReferences, want.OwnerReferences),
		"finalizers":  strings.Join(got.Finalizers, ",") == strings.Join(want.Finalizers, ","),
		"spec":        got.Spec == want.Spec,
	} {
		if !same {
			return part
		}
	}
	return ""
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestHistoryNetsToZero reads the history as the planner does: the grant
// stays what the operator's own transfers gave, nothing is in flight, and
// the next transfer continues after the history.
func TestHistoryNetsToZero(t *testing.T) {
	ba, own := operatorLedger()
	plans, _ := plansOf([]budgetv1alpha1.BudgetAllocation{*ba}, own)
	all := own
	for seq := int64(3); seq <= 202; seq++ {
		bt := historyTransfer(plans[0], 3, seq)
		settle(bt, time.Now())
		all = append(all, *bt)
	}
	owned := planner.Owned(ba, all)
	l, err := planner.LedgerOf(ba, owned)
	if err != nil {
		t.Fatal(err)
	}
	if len(owned) != len(all) || l.Granted.String() != "52.50" || l.InFlight != nil || l.NextSequence != 203 {
		t.Errorf("%d of %d owned; granted %s, in flight %v, next sequence %d; want all, 52.50, none, 203",
			len(owned), len(all), l.Granted, l.InFlight, l.NextSequence)
	}
}

func TestSettle(t *testing.T) {
	bt := &budgetv1alpha1.BudgetTransfer{ObjectMeta: metav1.ObjectMeta{Generation: 1}}
	now := time.Now()
	settle(bt, now)
	c := bt.Status.Conditions
	if bt.Status.Phase != budgetv1alpha1.PhaseSucceeded || bt.Status.CompletionTime == nil || !bt.Status.CompletionTime.Time.Equal(now) ||
		len(c) != 1 || c[0].Type != budgetv1alpha1.ConditionReady || c[0].Status != metav1.ConditionTrue || c[0].Reason != budgetv1alpha1.ReasonSucceeded {
		t.Errorf("status %+v", bt.Status)
	}
}

func TestCaughtUp(t *testing.T) {
	m := scrape(t, `
controller_runtime_reconcile_total{controller="budgetallocation",result="success"} 95
controller_runtime_reconcile_total{controller="budgetallocation",result="requeue_after"} 5
controller_runtime_reconcile_total{controller="subaccount",result="success"} 19
workqueue_depth{controller="budgetallocation",name="budgetallocation",priority=""} 0
workqueue_depth{controller="subaccount",name="subaccount",priority=""} 0
controller_runtime_active_workers{controller="budgetallocation"} 0
controller_runtime_active_workers{controller="subaccount"} 1
`)
	if !caughtUp(m, "budgetallocation", 100) {
		t.Error("100 reconciles of 100 allocations, nothing queued or running: not caught up")
	}
	if caughtUp(m, "budgetallocation", 101) {
		t.Error("100 reconciles of 101 allocations: caught up")
	}
	if caughtUp(m, "subaccount", 19) {
		t.Error("a SubAccount still being reconciled: caught up")
	}
}

func TestHistoryFlags(t *testing.T) {
	var sb strings.Builder
	for _, bad := range [][]string{{"-history-transfers=3"}, {"-history-transfers=-2"}, {"-history-workers=0"}, {"-history-balance-sync-interval=5s"}} {
		if _, err := parseFlags(bad, &sb); err == nil {
			t.Errorf("%v was accepted", bad)
		}
	}
	c, err := parseFlags(nil, &sb)
	if err != nil || c.historyTransfers != 200 || c.maxHistoryRSSMiB != 250 || c.historyRetention != "0s" {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	if c, err := parseFlags([]string{"-history-transfers=0"}, &sb); err != nil || c.historyTransfers != 0 {
		t.Errorf("-history-transfers=0 (no history phase): %+v, %v", c, err)
	}
}

func TestWorkersStopAtTheFirstError(t *testing.T) {
	items := make([]int, 10000)
	for i := range items {
		items[i] = i
	}
	var ran atomic.Int64
	boom := errors.New("boom")
	err := workers(context.Background(), items, 8, func(ctx context.Context, i int) error {
		ran.Add(1)
		if i == 100 {
			return boom
		}
		return ctx.Err()
	})
	if !errors.Is(err, boom) || ran.Load() > 200 {
		t.Errorf("err %v after %d items; want boom, and the rest not started", err, ran.Load())
	}
	ran.Store(0)
	if err := workers(context.Background(), items, 8, func(context.Context, int) error { ran.Add(1); return nil }); err != nil || ran.Load() != 10000 {
		t.Errorf("err %v, %d of 10000 items", err, ran.Load())
	}
}

// TestPreCheckpointStatus: the allocation is left as the version before
// checkpoints left it after its history: no checkpoint (the patch removes
// it), the newest history transfer last, and no sequence recorded.
func TestPreCheckpointStatus(t *testing.T) {
	ba, own := operatorLedger()
	plans, _ := plansOf([]budgetv1alpha1.BudgetAllocation{*ba}, own)
	var patch struct {
		Status map[string]json.RawMessage `json:"status"`
	}
	if err := json.Unmarshal(preCheckpointStatus(plans[0], 200), &patch); err != nil {
		t.Fatal(err)
	}
	var last budgetv1alpha1.TransferSummary
	if err := json.Unmarshal(patch.Status["lastTransfer"], &last); err != nil {
		t.Fatal(err)
	}
	want := budgetv1alpha1.TransferSummary{
		Name: budgetallocation.TransferName(ba.Name, 202), Operation: budgetv1alpha1.OperationReclaim,
		Amount: historyTransfer(plans[0], 3, 202).Spec.Amount, Phase: budgetv1alpha1.PhaseSucceeded,
	}
	if string(patch.Status["checkpoint"]) != "null" || last != want || len(patch.Status) != 2 {
		t.Errorf("patch %s; want checkpoint null and lastTransfer %+v", preCheckpointStatus(plans[0], 200), want)
	}
}

package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/planner"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

// compactAtOnce has a manager write settled transfers to the audit trail
// and delete them as soon as they are folded.
func compactAtOnce(o *common.Options) { o.TransferRetention = -1 }

// trail lists the LedgerRecords of the allocation's ledger id.
func (tm *team) trail(t *testing.T, ba *budgetv1alpha1.BudgetAllocation) []budgetv1alpha1.LedgerRecord {
	t.Helper()
	var list budgetv1alpha1.LedgerRecordList
	if err := k8s.List(context.Background(), &list, client.MatchingLabels{budgetv1alpha1.LabelLedger: budgetv1alpha1.LedgerKey(planner.LedgerIDOf(ba))}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// trailSequences are the sequences the trail keeps, in record order; a
// sequence kept twice appears twice.
func (tm *team) trailSequences(t *testing.T, ba *budgetv1alpha1.BudgetAllocation) []int64 {
	t.Helper()
	var seqs []int64
	for _, rec := range tm.trail(t, ba) {
		for _, e := range rec.Spec.Entries {
			seqs = append(seqs, e.Sequence)
		}
	}
	slices.Sort(seqs)
	return seqs
}

// expectKept fails unless the trail keeps each of 1..n exactly once and
// no transfer of the allocation is left.
func (tm *team) expectKept(t *testing.T, name string, n int64) {
	t.Helper()
	ba := tm.get(t, name)
	want := make([]int64, 0, n)
	for s := int64(1); s <= n; s++ {
		want = append(want, s)
	}
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("sequences 1..%d kept once, no transfer left", n), func() bool {
		return slices.Equal(tm.trailSequences(t, ba), want) && len(tm.transfers(t)) == 0
	}, func() string {
		return fmt.Sprintf("trail %v, %d transfers; %s", tm.trailSequences(t, ba), len(tm.transfers(t)), tm.describe(name)())
	})
}

// transferOf returns the allocation's transfer with sequence seq once it
// has reached phase.
func (tm *team) transferOf(t *testing.T, name string, seq int64, phase budgetv1alpha1.TransferPhase) *budgetv1alpha1.BudgetTransfer {
	t.Helper()
	var got *budgetv1alpha1.BudgetTransfer
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("transfer %d %s", seq, phase), func() bool {
		for _, bt := range tm.transfers(t) {
			if bt.Spec.Sequence == seq && bt.Status.Phase == phase {
				got = &bt
				return true
			}
		}
		return false
	}, tm.describe(name))
	return got
}

// TestCompactionSurvivesAKillAtEachStep stops compaction between each two
// of its steps — the checkpoint's write, the trail's, the transfers'
// deletion — as a crash there would, stops the manager there, and starts
// a new one: every movement is counted once (the allocation's granted
// amount and the next movement are right, BSS applied each trans_id once)
// and the trail keeps every transfer once.
func TestCompactionSurvivesAKillAtEachStep(t *testing.T) {
	ctx := context.Background()
	tm := newTeam(t)
	restartWith(t, compactAtOnce)
	restart := func() { stopManager(); stopManager = startManager(withCompaction()) }
	tm.create(t, tm.allocation("a", "40"))
	tm.waitReady(t, "a", "40.00")
	tm.expectKept(t, "a", 1)
	if cp := tm.get(t, "a").Status.Checkpoint; cp == nil || cp.Sequence != 1 || cp.Transfers != 1 {
		t.Fatalf("checkpoint %+v, want sequence 1", cp)
	}

	// 1. The checkpoint is not written: the transfer succeeded, but
	// nothing may delete it.
	stop := refuseWrites(t, func(verb string, o client.Object) bool {
		_, ok := o.(*budgetv1alpha1.BudgetAllocation)
		return ok && verb == "status"
	})
	tm.update(t, "a", func(ba *budgetv1alpha1.BudgetAllocation) { ba.Spec.Amount = ptr.To(budgetv1alpha1.Money("55")) })
	tm.transferOf(t, "a", 2, budgetv1alpha1.PhaseSucceeded)
	testenv.Consistently(t, absenceWindow, "the unfolded transfer is kept", func() bool {
		return len(tm.transfers(t)) == 1 && slices.Equal(tm.trailSequences(t, tm.get(t, "a")), []int64{1})
	}, tm.describe("a"))
	stop()
	restart()
	tm.waitReady(t, "a", "55.00")
	tm.expectKept(t, "a", 2)

	// 2. The checkpoint is written, the trail is not.
	stop = refuseWrites(t, func(verb string, o client.Object) bool {
		_, ok := o.(*budgetv1alpha1.LedgerRecord)
		return ok
	})
	tm.update(t, "a", func(ba *budgetv1alpha1.BudgetAllocation) { ba.Spec.Amount = ptr.To(budgetv1alpha1.Money("30")) })
	tm.waitReady(t, "a", "30.00")
	if cp := tm.get(t, "a").Status.Checkpoint; cp.Sequence != 3 {
		t.Fatalf("checkpoint sequence %d, want 3", cp.Sequence)
	}
	testenv.Consistently(t, absenceWindow, "the folded transfer is kept until the trail has it", func() bool {
		return len(tm.transfers(t)) == 1
	}, tm.describe("a"))
	stop()
	restart()
	tm.expectKept(t, "a", 3)
	tm.waitReady(t, "a", "30.00")

	// 3. The trail is written, the transfer is not deleted.
	stop = refuseWrites(t, func(verb string, o client.Object) bool {
		bt, ok := o.(*budgetv1alpha1.BudgetTransfer)
		return ok && (verb == "patch" || verb == "delete") && bt.Status.Phase == budgetv1alpha1.PhaseSucceeded
	})
	tm.update(t, "a", func(ba *budgetv1alpha1.BudgetAllocation) { ba.Spec.Amount = ptr.To(budgetv1alpha1.Money("70")) })
	tm.waitReady(t, "a", "70.00")
	testenv.Eventually(t, 30*time.Second, "the trail keeps transfer 4", func() bool {
		return slices.Contains(tm.trailSequences(t, tm.get(t, "a")), 4)
	}, tm.describe("a"))
	if n := len(tm.transfers(t)); n != 1 {
		t.Fatalf("%d transfers left, want transfer 4 still there", n)
	}
	stop()
	restart()
	tm.expectKept(t, "a", 4)

	// The next movement follows the checkpoint: sequence 5, the right
	// amount, and BSS applied every trans_id once.
	tm.update(t, "a", func(ba *budgetv1alpha1.BudgetAllocation) { ba.Spec.Amount = ptr.To(budgetv1alpha1.Money("75")) })
	tm.waitReady(t, "a", "75.00")
	tm.expectKept(t, "a", 5)
	tm.expectLedger(t, "75.00")
	if err := k8s.Get(ctx, objKey(tm.get(t, "a")), &budgetv1alpha1.BudgetAllocation{}); err != nil {
		t.Fatal(err)
	}
}

// withCompaction is testOptions with compaction at once.
func withCompaction() common.Options {
	o := testOptions
	compactAtOnce(&o)
	return o
}

// TestRestoreWithReclaimMovesOnlyTheDifference: an allocation with
// deletionPolicy Reclaim granted 100.00, the team spent 70.00 of it, and
// the allocation was exported and deleted: the deletion reclaimed the
// 30.00 left. Applied again, it reads from the kept trail that 70.00 is
// still granted and transfers the 30.00 difference — not 100.00, and
// without resending a trans_id BSS has seen.
func TestRestoreWithReclaimMovesOnlyTheDifference(t *testing.T) {
	ctx := context.Background()
	tm := newTeam(t)
	reclaim := func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.DeletionPolicy = budgetv1alpha1.DeletionPolicyReclaim
	}
	tm.create(t, tm.allocation("r", "100", reclaim))
	tm.waitReady(t, "r", "100.00")
	if err := sim.SetConsumptionRate(tm.customerID, money.MustParse("70")); err != nil {
		t.Fatal(err)
	}
	sim.Advance(time.Hour)
	if err := sim.SetConsumptionRate(tm.customerID, money.Zero); err != nil {
		t.Fatal(err)
	}
	old := tm.get(t, "r")
	yaml := exported(old)
	if err := k8s.Delete(ctx, old); err != nil {
		t.Fatal(err)
	}
	tm.waitGone(t, "r")
	tm.expectLedger(t, "70.00")
	if seqs := tm.trailSequences(t, old); !slices.Equal(seqs, []int64{1, 2}) {
		t.Fatalf("trail keeps sequences %v, want the transfer and the reclaim", seqs)
	}

	tm.create(t, yaml)
	tm.waitReady(t, "r", "100.00")
	tm.expectLedger(t, "100.00")
	moved := sim.Ledger()
	var mine []string
	for _, e := range moved {
		if e.CustomerID == tm.customerID {
			mine = append(mine, fmt.Sprintf("%s %s", e.Operation, e.Amount))
		}
	}
	if want := []string{bsssim.OpTransferAmount + " 100.00", bsssim.OpRetrieveAmount + " 30.00", bsssim.OpTransferAmount + " 30.00"}; !slices.Equal(mine, want) {
		t.Errorf("BSS moved %v, want %v", mine, want)
	}
	if cp := tm.get(t, "r").Status.Checkpoint; cp == nil || cp.Restored != budgetv1alpha1.CheckpointFromTrail {
		t.Errorf("checkpoint %+v, want one restored from the trail", cp)
	}
}

// TestMovedToASecondAPIServerMovesNoMoney moves a Retain allocation to
// another cluster that uses the same master account: exported with
// `kubectl get -o yaml`, deleted (its transfers go to the audit trail), and
// applied on a second API server after the trail of its ledger (`kubectl
// get ledgerrecords -l budget.bss.dev/ledger=...`). The allocation there
// counts what the trail says was granted and moves nothing.
func TestMovedToASecondAPIServerMovesNoMoney(t *testing.T) {
	ctx := context.Background()
	tm := newTeam(t)
	tm.create(t, tm.allocation("moved", "45"))
	tm.waitReady(t, "moved", "45.00")
	old := tm.get(t, "moved")
	yaml := exported(old)
	if err := k8s.Delete(ctx, old); err != nil {
		t.Fatal(err)
	}
	tm.waitGone(t, "moved")
	records := tm.trail(t, old)
	if len(records) == 0 {
		t.Fatal("the deletion kept no trail")
	}

	env2, cfg2, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env2.Stop() }()
	k2, err := client.New(cfg2, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	stop2, _ := startManagerOn(cfg2, testOptions)
	defer stop2()
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: opNS}}, credentialsSecret(credsName, bsssim.DefaultSecretKey),
		enterpriseAccount(eaName, credsName, nil), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tm.ns}},
		localenv.SubAccount(tm.sa, eaName, tm.customerID, tm.ns),
	} {
		if err := k2.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, rec := range records {
		moved := &budgetv1alpha1.LedgerRecord{ObjectMeta: metav1.ObjectMeta{Name: rec.Name, Labels: rec.Labels}, Spec: rec.Spec}
		if err := k2.Create(ctx, moved); err != nil {
			t.Fatal(err)
		}
	}
	if err := k2.Create(ctx, yaml); err != nil {
		t.Fatal(err)
	}
	var got budgetv1alpha1.BudgetAllocation
	testenv.Eventually(t, 60*time.Second, "Ready with 45.00 on the second API server", func() bool {
		return k2.Get(ctx, objKey(yaml), &got) == nil && common.IsTrue(got.Status.Conditions, budgetv1alpha1.ConditionReady) && got.Status.Granted == "45.00"
	}, func() string { return fmt.Sprintf("%+v", got.Status) })
	testenv.Consistently(t, absenceWindow, "no money moves", func() bool { return tm.net() == money.MustParse("45") }, tm.describe("moved"))
	tm.expectLedger(t, "45.00")
	var bts budgetv1alpha1.BudgetTransferList
	if err := k2.List(ctx, &bts, client.InNamespace(tm.ns)); err != nil || len(bts.Items) != 0 {
		t.Errorf("transfers on the second API server: %d (%v), want none", len(bts.Items), err)
	}
}

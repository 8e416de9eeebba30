package integration

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/budgetallocation"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

// The operator against each undocumented BSS behaviour the simulator can
// show (docs/exactly-once.md §7): money moves exactly once, and no
// transfer is recorded Succeeded whose money did not move.

// simBehaves switches the simulator's behaviour until the test ends.
func simBehaves(t *testing.T, b bsssim.Behaviour) {
	t.Helper()
	if err := sim.SetBehaviour(b); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sim.SetBehaviour(bsssim.Behaviour{}); err != nil {
			t.Errorf("restoring the simulator's behaviour: %v", err)
		}
	})
}

// masterClient calls the simulator as the master, as the operator does.
func masterClient(t *testing.T) *bss.Client {
	t.Helper()
	c, err := bss.New(bss.Config{Endpoint: simURL, DomainID: bsssim.DefaultDomainID,
		Credentials: sign.Credentials{AccessKey: bsssim.DefaultAccessKey, SecretKey: bsssim.DefaultSecretKey}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// restartWith restarts the manager with testOptions changed by change; the
// returned function restarts it with testOptions again (at most once; the
// test's end does it otherwise).
func restartWith(t *testing.T, change func(*common.Options)) func() {
	t.Helper()
	stopManager()
	opts := testOptions
	change(&opts)
	stopManager = startManager(opts)
	restored := false
	restore := func() {
		if !restored {
			restored = true
			stopManager()
			stopManager = startManager(testOptions)
		}
	}
	t.Cleanup(restore)
	return restore
}

// slowResends makes a manager resend only after an hour, so that a
// transfer whose answer was lost stays Submitting.
func slowResends(o *common.Options) { o.SubmitRetryBase = time.Hour }

// lostAnswer creates ba and waits until BSS has applied its one transfer
// while every answer was lost; the simulator answers again afterwards.
func (tm *team) lostAnswer(t *testing.T, ba *budgetv1alpha1.BudgetAllocation) budgetv1alpha1.BudgetTransfer {
	t.Helper()
	if err := sim.SetFaults(bsssim.Faults{LostResponseRate: 1}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sim.SetFaults(bsssim.Faults{}) }()
	tm.create(t, ba)
	want := money.MustParse(string(*ba.Spec.Amount))
	var bts []budgetv1alpha1.BudgetTransfer
	testenv.Eventually(t, 30*time.Second, "transfer applied without an answer", func() bool {
		bts = tm.transfers(t)
		return tm.net() == want && len(bts) == 1 && bts[0].Status.Phase == budgetv1alpha1.PhaseSubmitting && bts[0].Status.ErrorMessage != ""
	}, tm.describe(ba.Name))
	return bts[0]
}

// leaveSubmitting stores the first transfer of allocation baName as a
// manager that died right after its Submitting write leaves it. The
// manager must be stopped.
func (tm *team) leaveSubmitting(t *testing.T, baName, amount string) *budgetv1alpha1.BudgetTransfer {
	t.Helper()
	ctx := context.Background()
	ba := tm.get(t, baName)
	ledger, ok := budgetallocation.LedgerID(ba)
	if !ok {
		t.Fatalf("%s has no ledger id", baName)
	}
	bt := &budgetv1alpha1.BudgetTransfer{
		ObjectMeta: metav1.ObjectMeta{Name: budgetallocation.TransferName(ba.Name, 1), Namespace: tm.ns,
			Labels:     map[string]string{budgetv1alpha1.LabelAllocation: ba.Name, budgetv1alpha1.LabelSubAccount: tm.sa},
			Finalizers: []string{budgetv1alpha1.Finalizer}},
		Spec: budgetv1alpha1.BudgetTransferSpec{
			AllocationRef: budgetv1alpha1.LocalObjectReference{Name: ba.Name}, SubAccountName: tm.sa, EnterpriseAccountName: eaName,
			CustomerID: tm.customerID, Operation: budgetv1alpha1.OperationTransfer, Amount: budgetv1alpha1.Money(amount),
			BalanceType: budgetv1alpha1.BalanceTypeDebit, TransID: budgetallocation.TransID(ledger, 1), Sequence: 1,
		},
	}
	if err := controllerutil.SetControllerReference(ba, bt, scheme); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, bt); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	bt.Status = budgetv1alpha1.BudgetTransferStatus{Phase: budgetv1alpha1.PhaseSubmitting, Attempts: 1, SubmittedTime: &now, LastAttemptTime: &now}
	if err := k8s.Status().Update(ctx, bt); err != nil {
		t.Fatal(err)
	}
	return bt
}

// stoppedWithSubmitting creates a paused allocation, stops the manager and
// leaves its first transfer Submitting; first is what the dead manager's
// call did at BSS. The returned function starts a manager and un-pauses
// the allocation.
func (tm *team) stoppedWithSubmitting(t *testing.T, amount string, first func(transID string)) (*budgetv1alpha1.BudgetTransfer, func()) {
	t.Helper()
	tm.create(t, tm.allocation("crashed", amount, func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.ManagementPolicy = budgetv1alpha1.ManagementPolicyPaused
	}))
	tm.waitReason(t, "crashed", budgetv1alpha1.ReasonPaused)
	stopManager()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			stopManager = startManager(testOptions)
		}
	})
	bt := tm.leaveSubmitting(t, "crashed", amount)
	first(bt.Spec.TransID)
	return bt, func() {
		stopManager = startManager(testOptions)
		restarted = true
		tm.update(t, "crashed", func(ba *budgetv1alpha1.BudgetAllocation) {
			ba.Spec.ManagementPolicy = budgetv1alpha1.ManagementPolicyManaged
		})
	}
}

// noPhantomSuccess fails the test for a Succeeded transfer of the team
// whose trans_id the simulator never applied.
func (tm *team) noPhantomSuccess(t *testing.T) {
	t.Helper()
	applied := map[string]bool{}
	for _, e := range sim.Ledger() {
		applied[e.TransID] = true
	}
	for _, bt := range tm.transfers(t) {
		if bt.Status.Phase == budgetv1alpha1.PhaseSucceeded && bt.Spec.Operation == budgetv1alpha1.OperationTransfer && !applied[bt.Spec.TransID] {
			t.Errorf("%s is Succeeded (evidence %+v) but BSS never applied trans_id %s", bt.Name, bt.Status.Evidence, bt.Spec.TransID)
		}
	}
}

// waitTransferReason waits for a transfer's Ready reason.
func waitTransferReason(t *testing.T, bt *budgetv1alpha1.BudgetTransfer, reason string) *budgetv1alpha1.BudgetTransfer {
	t.Helper()
	var got budgetv1alpha1.BudgetTransfer
	testenv.Eventually(t, 30*time.Second, "transfer "+bt.Name+" "+reason, func() bool {
		return k8s.Get(context.Background(), objKey(bt), &got) == nil && common.ReadyReason(got.Status.Conditions, budgetv1alpha1.ConditionReady) == reason
	}, func() string {
		return string(got.Status.Phase) + " " + common.ConditionMessage(got.Status.Conditions, budgetv1alpha1.ConditionReady)
	})
	return &got
}

// resolve settles an OutcomeUnknown transfer as an administrator does.
func resolve(t *testing.T, bt *budgetv1alpha1.BudgetTransfer, phase budgetv1alpha1.TransferPhase) {
	t.Helper()
	patched := bt.DeepCopy()
	if patched.Annotations == nil {
		patched.Annotations = map[string]string{}
	}
	patched.Annotations[budgetv1alpha1.AnnotationResolve] = string(phase)
	if err := k8s.Patch(context.Background(), patched, client.MergeFrom(bt)); err != nil {
		t.Fatal(err)
	}
}

// TestRefusedTransIDBurned (a): BSS remembers a trans_id it refused, and
// the manager died between the refusal and the Failed write. The resend's
// CBC.99007009 must not pass for a movement.
func TestRefusedTransIDBurned(t *testing.T) {
	cases := []struct {
		name     string
		declared *budgetv1alpha1.BSSBehaviour
		reason   string
	}{
		// Nothing declared: nothing proves either way; an administrator
		// settles it (here, as Failed after checking BSS).
		{"nothing declared", nil, budgetv1alpha1.ReasonOutcomeUnknown},
		// The records carry every trans_id: none with it proves that
		// nothing moved, and the allocation sends again under a new one.
		{"records carry trans_ids", &budgetv1alpha1.BSSBehaviour{TransferRecords: budgetv1alpha1.RecordsWithTransID}, budgetv1alpha1.ReasonTransIDBurned},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			simBehaves(t, bsssim.Behaviour{RefusedTransIDs: bsssim.RefusedBurned})
			tm := newTeam(t)
			if c.declared != nil {
				declareBehaviour(t, c.declared)
			}
			bt, restart := tm.stoppedWithSubmitting(t, "40", func(transID string) {
				err := masterClient(t).TransferAmount(context.Background(), bss.AmountTransferRequest{CustomerID: tm.customerID,
					Amount: money.MustParse("99999999"), TransID: transID, BalanceType: bss.BalanceTypeDebit})
				if !bss.IsTerminal(err) {
					t.Fatalf("the first attempt was not refused: %v", err)
				}
			})
			restart()
			got := waitTransferReason(t, bt, c.reason)
			if got.Status.Phase == budgetv1alpha1.PhaseSucceeded {
				t.Fatalf("recorded Succeeded: %+v", got.Status)
			}
			if c.reason == budgetv1alpha1.ReasonOutcomeUnknown {
				resolve(t, got, budgetv1alpha1.PhaseFailed)
			}
			tm.waitReady(t, "crashed", "40.00")
			tm.expectLedger(t, "40.00")
			tm.noPhantomSuccess(t)
		})
	}
}

// shiftedClock runs ahead of the real clock by a settable offset.
type shiftedClock struct{ offset atomic.Int64 }

func (c *shiftedClock) Now() time.Time                  { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *shiftedClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

var _ clock.PassiveClock = (*shiftedClock)(nil)

// TestNoResendPastTransIDRetention (b): BSS forgets trans_ids after two
// minutes. A transfer whose answer was lost is not resent once its first
// attempt is older than the declared retention: a resend would move the
// money again.
func TestNoResendPastTransIDRetention(t *testing.T) {
	simBehaves(t, bsssim.Behaviour{TransIDRetention: bsssim.Duration(2 * time.Minute)})
	// Refused trans_ids are reusable (true of the simulator), so the lost
	// answer waits for a resend instead of being settled by the master's
	// balance around the attempt.
	declareBehaviour(t, &budgetv1alpha1.BSSBehaviour{RefusedTransIDs: budgetv1alpha1.RefusedTransIDsReusable,
		TransIDRetention: &metav1.Duration{Duration: 2 * time.Minute}})
	tm := newTeam(t)
	// A manager on a clock it can be moved along, which resends only after
	// an hour unless its clock says otherwise.
	clk := &shiftedClock{}
	restartWith(t, func(o *common.Options) { slowResends(o); o.Clock = clk })
	bt := tm.lostAnswer(t, tm.allocation("forgotten", "50"))
	// Three minutes pass, for BSS and for the operator (whose resend is
	// then more than due).
	sim.Advance(3 * time.Minute)
	clk.offset.Store(int64(3*time.Minute + 2*time.Hour))
	// Any change brings the transfer back to the operator before its
	// requeue (an hour of real time) would.
	nudged := bt.DeepCopy()
	nudged.Labels["nudge"] = "1"
	if err := k8s.Patch(context.Background(), nudged, client.MergeFrom(&bt)); err != nil {
		t.Fatal(err)
	}
	got := waitTransferReason(t, &bt, budgetv1alpha1.ReasonOutcomeUnknown)
	if msg := common.ConditionMessage(got.Status.Conditions, budgetv1alpha1.ConditionReady); !strings.Contains(msg, "remember a trans_id for 2m0s") {
		t.Errorf("the message does not name the retention: %s", msg)
	}
	testenv.Consistently(t, absenceWindow, "no resend", func() bool { return tm.net() == money.MustParse("50") }, tm.describe("forgotten"))
	resolve(t, got, budgetv1alpha1.PhaseSucceeded)
	tm.waitReady(t, "forgotten", "50.00")
	tm.expectLedger(t, "50.00")
}

// TestTransferRecordsWithoutTransIDs (c): the master's records do not
// carry trans_ids (or do not show transfers at all). A lost answer is
// settled by the master's balance around the attempt; a movement applied
// before a crash cannot be proven and waits for an administrator.
func TestTransferRecordsWithoutTransIDs(t *testing.T) {
	for _, records := range []string{bsssim.RecordsOwnID, bsssim.RecordsNone} {
		t.Run(records, func(t *testing.T) {
			simBehaves(t, bsssim.Behaviour{TransferRecords: records})
			tm := newTeam(t)
			bt, restart := tm.stoppedWithSubmitting(t, "25", func(transID string) {
				if err := masterClient(t).TransferAmount(context.Background(), bss.AmountTransferRequest{CustomerID: tm.customerID,
					Amount: money.MustParse("25"), TransID: transID, BalanceType: bss.BalanceTypeDebit}); err != nil {
					t.Fatal(err)
				}
			})
			restart()
			got := waitTransferReason(t, bt, budgetv1alpha1.ReasonOutcomeUnknown)
			if msg := common.ConditionMessage(got.Status.Conditions, budgetv1alpha1.ConditionReady); !strings.Contains(msg, "CBC.99007009") {
				t.Errorf("message: %s", msg)
			}
			resolve(t, got, budgetv1alpha1.PhaseSucceeded)
			tm.waitReady(t, "crashed", "25.00")

			// A lost answer, with the manager running: settled by the
			// balance, and moved once.
			if err := sim.SetFaults(bsssim.Faults{LostResponseRate: 1}); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = sim.SetFaults(bsssim.Faults{}) }()
			tm.update(t, "crashed", func(ba *budgetv1alpha1.BudgetAllocation) { ba.Spec.Amount = ptr.To(budgetv1alpha1.Money("60")) })
			tm.waitReady(t, "crashed", "60.00")
			for _, bt := range tm.transfers(t) {
				if bt.Spec.Sequence == 2 && (bt.Status.Evidence == nil || bt.Status.Evidence.Kind != budgetv1alpha1.EvidenceBalance) {
					t.Errorf("%s: evidence %+v, want Balance", bt.Name, bt.Status.Evidence)
				}
			}
			tm.expectLedger(t, "60.00")
			tm.noPhantomSuccess(t)
		})
	}
}

// TestOwnTopUpsAreNotReclaimed (d): BSS counts money the sub-account
// topped up itself as reclaimable. Deleting the allocation reclaims what
// the operator granted and never the sub-account's own money. (The
// simulator spends a sub-account's own money first, so here no reclaim of
// granted money could reach it; the bound that protects it where BSS
// spends the master's money first is attacked in budgetallocation's
// TestReclaimLeavesTheTeamsOwnMoney.)
func TestOwnTopUpsAreNotReclaimed(t *testing.T) {
	simBehaves(t, bsssim.Behaviour{Reclaimable: bsssim.ReclaimableTotal})
	tm := newTeam(t)
	if err := sim.AddSubFunds(tm.customerID, money.MustParse("70")); err != nil {
		t.Fatal(err)
	}
	tm.create(t, tm.allocation("own", "100", func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.DeletionPolicy = budgetv1alpha1.DeletionPolicyReclaim
	}))
	tm.waitReady(t, "own", "100.00")
	if err := k8s.Delete(context.Background(), tm.get(t, "own")); err != nil {
		t.Fatal(err)
	}
	tm.waitGone(t, "own")
	tm.expectLedger(t, "0.00")
	for _, e := range sim.Ledger() {
		if e.CustomerID == tm.customerID && e.SelfFunded.IsPositive() {
			t.Errorf("%s took %s of the sub-account's own money", e.TransID, e.SelfFunded)
		}
	}
	if b, _ := sim.SubAccount(tm.customerID); b.SelfFundedCash != money.MustParse("70") {
		t.Errorf("the sub-account's own money is %s, want 70.00", b.SelfFundedCash)
	}
}

// exported is an allocation as `kubectl get -o yaml` shows it, ready to be
// applied again: status and server-set metadata dropped, annotations kept.
func exported(ba *budgetv1alpha1.BudgetAllocation) *budgetv1alpha1.BudgetAllocation {
	out := &budgetv1alpha1.BudgetAllocation{ObjectMeta: metav1.ObjectMeta{Name: ba.Name, Namespace: ba.Namespace,
		Labels: ba.Labels, Annotations: ba.Annotations}, Spec: *ba.Spec.DeepCopy()}
	return out
}

// TestReappliedAllocationMovesNoMoney: an allocation exported with
// `kubectl get -o yaml`, deleted (Retain: the money stays; its transfers go
// to the audit trail) and applied again carries its ledger id: it reads
// the trail of that ledger, counts what was granted and moves nothing.
func TestReappliedAllocationMovesNoMoney(t *testing.T) {
	ctx := context.Background()
	tm := newTeam(t)
	tm.create(t, tm.allocation("kept", "40"))
	tm.waitReady(t, "kept", "40.00")
	tm.update(t, "kept", func(ba *budgetv1alpha1.BudgetAllocation) { ba.Spec.Amount = ptr.To(budgetv1alpha1.Money("55")) })
	tm.waitReady(t, "kept", "55.00")
	old := tm.get(t, "kept")
	if id, ok := budgetallocation.LedgerID(old); !ok || id != string(old.UID) {
		t.Fatalf("ledger id %q (%v), want the UID %s", old.Annotations[budgetv1alpha1.AnnotationLedgerID], ok, old.UID)
	}
	yaml := exported(old)
	if err := k8s.Delete(ctx, old); err != nil {
		t.Fatal(err)
	}
	tm.waitGone(t, "kept")
	if n := len(tm.transfers(t)); n != 0 {
		t.Fatalf("%d transfers left after the deletion; the trail should keep them", n)
	}
	if seqs := tm.trailSequences(t, old); !slices.Equal(seqs, []int64{1, 2}) {
		t.Fatalf("trail keeps sequences %v, want [1 2]", seqs)
	}

	tm.create(t, yaml)
	tm.waitReady(t, "kept", "55.00")
	testenv.Consistently(t, absenceWindow, "no money moves", func() bool { return tm.net() == money.MustParse("55") }, tm.describe("kept"))
	tm.expectLedger(t, "55.00")
	if cp := tm.get(t, "kept").Status.Checkpoint; cp == nil || cp.Restored != budgetv1alpha1.CheckpointFromTrail || cp.Sequence != 2 {
		t.Errorf("checkpoint %+v, want sequence 2 restored from the trail", cp)
	}
	if n := len(tm.transfers(t)); n != 0 {
		t.Errorf("the re-applied allocation created %d transfers", n)
	}

	// A copy under another name is a new allocation with a ledger of its
	// own: it is funded.
	copied := exported(old)
	copied.Name = "copy"
	tm.create(t, copied)
	tm.waitReady(t, "copy", "55.00")
	if id, _ := budgetallocation.LedgerID(tm.get(t, "copy")); id == string(old.UID) {
		t.Errorf("the copy kept the original's ledger id")
	}
	tm.expectLedger(t, "110.00")
}

// TestRolledBackLedgerIsDetected: etcd restored to a copy older than the
// newest transfer (the allocation keeps its UID and has the status it had
// before that transfer, which is gone). The allocation plans that step
// again, BSS has seen its trans_id, and it stops with LedgerBehindBSS.
func TestRolledBackLedgerIsDetected(t *testing.T) {
	ctx := context.Background()
	tm := newTeam(t)
	tm.create(t, tm.allocation("rolled", "40"))
	tm.waitReady(t, "rolled", "40.00")
	older := tm.get(t, "rolled")
	tm.update(t, "rolled", func(ba *budgetv1alpha1.BudgetAllocation) { ba.Spec.Amount = ptr.To(budgetv1alpha1.Money("70")) })
	tm.waitReady(t, "rolled", "70.00")
	stopManager()
	restarted := false
	defer func() {
		if !restarted {
			stopManager = startManager(testOptions)
		}
	}()
	for _, bt := range tm.transfers(t) {
		if bt.Spec.Sequence == 2 {
			bt.Finalizers = nil
			if err := k8s.Update(ctx, &bt); err != nil {
				t.Fatal(err)
			}
			if err := k8s.Delete(ctx, &bt); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The allocation as etcd held it before the second movement: its
	// checkpoint counts the first only.
	cur := tm.get(t, "rolled")
	cur.Status = older.Status
	if err := k8s.Status().Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	stopManager = startManager(testOptions)
	restarted = true
	tm.waitReason(t, "rolled", budgetv1alpha1.ReasonLedgerBehindBSS)
	testenv.Consistently(t, absenceWindow, "no money moves", func() bool { return tm.net() == money.MustParse("70") }, tm.describe("rolled"))
	tm.expectLedger(t, "70.00")

	// The master's records show the lost step under its trans_id: the
	// allocation publishes the reconstruction, an administrator accepts
	// it, and the ledger goes on after it without moving money.
	var rec *budgetv1alpha1.LedgerReconstruction
	testenv.Eventually(t, 30*time.Second, "reconstruction published", func() bool {
		rec = tm.get(t, "rolled").Status.Reconstruction
		return rec != nil && rec.Complete
	}, tm.describe("rolled"))
	if len(rec.Entries) != 1 || rec.Entries[0].Sequence != 2 || rec.Entries[0].Operation != budgetv1alpha1.OperationTransfer || rec.Entries[0].Amount != "30.00" {
		t.Fatalf("reconstruction %+v, want the lost Transfer of 30.00 at sequence 2", rec)
	}
	stopped := waitTransferReason(t, &budgetv1alpha1.BudgetTransfer{ObjectMeta: metav1.ObjectMeta{Namespace: tm.ns, Name: budgetallocation.TransferName("rolled", 2)}},
		budgetv1alpha1.ReasonLedgerBehindBSS)
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var bt budgetv1alpha1.BudgetTransfer
		if err := k8s.Get(ctx, objKey(stopped), &bt); err != nil {
			return err
		}
		bt.Annotations[budgetv1alpha1.AnnotationAcceptReconstruction] = rec.Digest
		return k8s.Update(ctx, &bt)
	}); err != nil {
		t.Fatal(err)
	}
	waitTransferReason(t, stopped, budgetv1alpha1.ReasonSuperseded)
	tm.waitReady(t, "rolled", "70.00")
	tm.expectLedger(t, "70.00")
	if cp := tm.get(t, "rolled").Status.Checkpoint; cp.Restored != budgetv1alpha1.CheckpointReconstructed || cp.Sequence != 2 {
		t.Errorf("checkpoint %+v, want sequence 2, reconstructed", cp)
	}
	// The next movement takes sequence 3 and moves exactly the difference.
	tm.update(t, "rolled", func(ba *budgetv1alpha1.BudgetAllocation) { ba.Spec.Amount = ptr.To(budgetv1alpha1.Money("75")) })
	tm.waitReady(t, "rolled", "75.00")
	tm.expectLedger(t, "75.00")
}

// TestReleaseWaitsForASubmittingTransfer: an allocation being deleted with
// the release annotation is not let go while its transfer may have reached
// BSS: it waits, saying why, until the transfer settles.
func TestReleaseWaitsForASubmittingTransfer(t *testing.T) {
	ctx := context.Background()
	// A lost answer waits for the resend (refused trans_ids are reusable,
	// true of the simulator), and the resend waits an hour.
	declareBehaviour(t, &budgetv1alpha1.BSSBehaviour{RefusedTransIDs: budgetv1alpha1.RefusedTransIDsReusable})
	tm := newTeam(t)
	restore := restartWith(t, slowResends)
	tm.lostAnswer(t, tm.allocation("leaving", "30", func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.DeletionPolicy = budgetv1alpha1.DeletionPolicyReclaim
	}))
	tm.update(t, "leaving", func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Annotations[budgetv1alpha1.AnnotationReleaseFinalizer] = "true"
	})
	if err := k8s.Delete(ctx, tm.get(t, "leaving")); err != nil {
		t.Fatal(err)
	}
	tm.waitReason(t, "leaving", budgetv1alpha1.ReasonTransferInProgress)
	testenv.Consistently(t, absenceWindow, "the allocation is kept", func() bool {
		var ba budgetv1alpha1.BudgetAllocation
		return k8s.Get(ctx, objKey(tm.get(t, "leaving")), &ba) == nil
	}, tm.describe("leaving"))
	if msg := common.ConditionMessage(tm.get(t, "leaving").Status.Conditions, budgetv1alpha1.ConditionReady); !strings.Contains(msg, "may have reached BSS") {
		t.Errorf("message: %s", msg)
	}
	// A manager that resends soon settles the transfer; the allocation
	// goes, leaving the money (it was released).
	restore()
	tm.waitGone(t, "leaving")
	tm.expectLedger(t, "30.00")
}

package budgetallocation

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
)

// TestCompactionGoesByBillCycle: with a retention, a bill cycle's
// transfers are due together once the cycle is over and its newest one is
// older than the retention, so that one record keeps a cycle; without one,
// each is due as soon as it settled. Transfers not folded, or failed, are
// never due.
func settledT(seq int64, when time.Time) budgetv1alpha1.BudgetTransfer {
	done := metav1.NewTime(when)
	return budgetv1alpha1.BudgetTransfer{ObjectMeta: metav1.ObjectMeta{Name: TransferName("a", seq), CreationTimestamp: done},
		Spec: budgetv1alpha1.BudgetTransferSpec{Sequence: seq}, Status: budgetv1alpha1.BudgetTransferStatus{Phase: budgetv1alpha1.PhaseSucceeded, CompletionTime: &done}}
}

func TestCompactionGoesByBillCycle(t *testing.T) {
	beijing := time.FixedZone("UTC+8", 8*3600)
	at := func(month time.Month, day int) time.Time { return time.Date(2026, month, day, 12, 0, 0, 0, beijing) }
	// A cycle that ends after its newest transfer's retention waits for
	// its end.
	if r0 := (&Reconciler{Options: common.Options{TransferRetention: time.Hour}}); !r0.dueAt(&scope{transfers: []budgetv1alpha1.BudgetTransfer{
		settledT(1, at(time.November, 1))}}, 1)[TransferName("a", 1)].Equal(time.Date(2026, time.December, 1, 0, 0, 0, 0, beijing)) {
		t.Errorf("a transfer of November with a retention of an hour is not due when November ends")
	}
	settled := func(seq int64, when time.Time, phase budgetv1alpha1.TransferPhase) budgetv1alpha1.BudgetTransfer {
		bt := settledT(seq, when)
		bt.Status.Phase = phase
		return bt
	}
	s := &scope{transfers: []budgetv1alpha1.BudgetTransfer{
		settled(1, at(time.November, 1), budgetv1alpha1.PhaseSucceeded),
		settled(2, at(time.November, 15), budgetv1alpha1.PhaseFailed),
		settled(3, at(time.November, 30), budgetv1alpha1.PhaseSucceeded),
		settled(4, at(time.December, 5), budgetv1alpha1.PhaseSucceeded),
		settled(5, at(time.December, 6), budgetv1alpha1.PhaseSucceeded),
	}}
	r := &Reconciler{Options: common.Options{TransferRetention: 30 * 24 * time.Hour}}
	due := r.dueAt(s, 4)
	november := at(time.November, 30).Add(30 * 24 * time.Hour)
	december := at(time.December, 5).Add(30 * 24 * time.Hour) // later than the cycle's end
	want := map[string]time.Time{TransferName("a", 1): november, TransferName("a", 3): november, TransferName("a", 4): december}
	if len(due) != len(want) {
		t.Fatalf("due %v, want %v", due, want)
	}
	for name, w := range want {
		if !due[name].Equal(w) {
			t.Errorf("%s due at %s, want %s", name, due[name], w)
		}
	}
	if got := r.compactAt(s, 4); !got.After(november) || got.Sub(november) > time.Second {
		t.Errorf("compactAt %s, want just after %s", got, november)
	}

	r.Options.TransferRetention = -1
	due = r.dueAt(s, 5)
	if len(due) != 4 || !due[TransferName("a", 5)].Equal(at(time.December, 6)) {
		t.Errorf("compacting at once: due %v", due)
	}
}

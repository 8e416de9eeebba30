package plugin_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/plugin"
)

// TestLedgerShowsAndAcceptsAReconstruction: `kubectl budget ledger` shows
// the checkpoint and the reconstruction of an allocation whose transfer
// stopped with LedgerBehindBSS, refuses to accept an incomplete one, and
// accepts a complete one by annotating the stopped transfer with its
// digest.
func TestLedgerShowsAndAcceptsAReconstruction(t *testing.T) {
	ctx := context.Background()
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "restore-ns"}}); err != nil {
		t.Fatal(err)
	}
	stopped := &budgetv1alpha1.BudgetTransfer{
		ObjectMeta: metav1.ObjectMeta{Name: "restored-00002", Namespace: "restore-ns"},
		Spec: budgetv1alpha1.BudgetTransferSpec{AllocationRef: budgetv1alpha1.LocalObjectReference{Name: "restored"}, SubAccountName: "restore-sa",
			CustomerID: "c-a", Operation: budgetv1alpha1.OperationTransfer, Amount: "30", BalanceType: budgetv1alpha1.BalanceTypeDebit, TransID: transID(902), Sequence: 2},
	}
	if err := k8s.Create(ctx, stopped); err != nil {
		t.Fatal(err)
	}
	entry := budgetv1alpha1.LedgerEntry{Sequence: 2, Name: "restored-00002", TransID: transID(902), Operation: budgetv1alpha1.OperationTransfer,
		Amount: "30.00", CustomerID: "c-a", Phase: budgetv1alpha1.PhaseSucceeded,
		Evidence: &budgetv1alpha1.TransferEvidence{Kind: budgetv1alpha1.EvidenceRecords, Detail: "the master's income/expense record ACR1"}}
	rec := &budgetv1alpha1.LedgerReconstruction{Transfer: "restored-00002", Entries: []budgetv1alpha1.LedgerEntry{entry}, Digest: "0123456789abcdef",
		Message: "the master's records show 1 step(s)"}
	ba := &budgetv1alpha1.BudgetAllocation{ObjectMeta: metav1.ObjectMeta{Name: "restored", Namespace: "restore-ns"},
		Spec: budgetv1alpha1.BudgetAllocationSpec{SubAccountRef: budgetv1alpha1.LocalObjectReference{Name: "restore-sa"}, Amount: money("70")}}
	// The other tests count every allocation of the cluster: these go at
	// the end.
	t.Cleanup(func() { _ = k8s.Delete(ctx, ba); _ = k8s.Delete(ctx, stopped) })
	if err := createWithStatus(ctx, ba, func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Status.Granted = "40.00"
		ba.Status.Checkpoint = &budgetv1alpha1.LedgerCheckpoint{Sequence: 1, Transfers: 1,
			Holdings: []budgetv1alpha1.LedgerHolding{{CustomerID: "c-a", Cash: "40.00"}}}
		ba.Status.Reconstruction = rec
	}); err != nil {
		t.Fatal(err)
	}

	out, _, code := run(t, "", "ledger", "restored", "-n", "restore-ns")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out, "checkpoint at sequence 1", "restored-00002 is stopped with LedgerBehindBSS", "complete: false", "30.00", "ACR1")
	_, errOut, code := run(t, "", "ledger", "restored", "--accept", "-n", "restore-ns")
	if code != plugin.ExitError || !strings.Contains(errOut, "not complete") {
		t.Fatalf("accepting an incomplete reconstruction: exit %d, %q", code, errOut)
	}
	if v := getTransferIn(t, "restore-ns", "restored-00002").Annotations[budgetv1alpha1.AnnotationAcceptReconstruction]; v != "" {
		t.Fatalf("an incomplete reconstruction was accepted: %q", v)
	}

	ba.Status.Reconstruction.Complete = true
	if err := k8s.Status().Update(ctx, ba); err != nil {
		t.Fatal(err)
	}
	out, _, code = run(t, "", "ledger", "restored", "--accept", "-n", "restore-ns")
	if code != 0 {
		t.Fatalf("accept: exit %d", code)
	}
	mustContain(t, out, "Accepted")
	if v := getTransferIn(t, "restore-ns", "restored-00002").Annotations[budgetv1alpha1.AnnotationAcceptReconstruction]; v != "0123456789abcdef" {
		t.Fatalf("annotation %q, want the digest", v)
	}
}

func getTransferIn(t *testing.T, ns, name string) *budgetv1alpha1.BudgetTransfer {
	t.Helper()
	var bt budgetv1alpha1.BudgetTransfer
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &bt); err != nil {
		t.Fatal(err)
	}
	return &bt
}

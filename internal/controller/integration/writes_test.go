package integration

import (
	"fmt"
	"slices"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

// managerWrites counts the manager's writes the API server applied, per
// object and verb, keyed by writeKey.
var managerWrites = &testenv.Writes{Key: writeKey}

func writeKey(o client.Object, verb string) string {
	kind := fmt.Sprintf("%T", o)
	switch o.(type) {
	case *budgetv1alpha1.BudgetAllocation:
		kind = "BudgetAllocation"
	case *budgetv1alpha1.BudgetTransfer:
		kind = "BudgetTransfer"
	}
	return kind + " " + o.GetNamespace() + "/" + o.GetName() + " " + verb
}

// writesOf is how many writes of verb the manager sent for o.
func writesOf(o client.Object, verb string) int {
	return managerWrites.Count(writeKey(o, verb))
}

// TestFundedAllocationCostsSixWrites pins the API server cost of funding
// an allocation: its ledger id (one metadata write, once), the transfer's
// create, its Submitting and Succeeded status writes, and two status writes
// of the allocation (transfer in progress, Ready). A Retain allocation
// carries no finalizer; a Reclaim one gets it in the same metadata write,
// and loses it again when switched to Retain.
func TestFundedAllocationCostsSixWrites(t *testing.T) {
	tm := newTeam(t)
	tm.create(t, tm.allocation("cheap", "25"))
	tm.waitReady(t, "cheap", "25.00")
	ba := tm.get(t, "cheap")
	if !slices.Equal(ba.Finalizers, []string{budgetv1alpha1.Finalizer}) {
		t.Errorf("a Retain allocation has finalizers %v, want %s: its transfers go to the audit trail before it goes", ba.Finalizers, budgetv1alpha1.Finalizer)
	}
	bts := tm.transfers(t)
	if len(bts) != 1 {
		t.Fatalf("want one transfer, got %d", len(bts))
	}
	bt := &bts[0]
	got := map[string]int{
		"allocation status":   writesOf(ba, "status"),
		"allocation metadata": writesOf(ba, "patch") + writesOf(ba, "update"),
		"transfer create":     writesOf(bt, "create"),
		"transfer status":     writesOf(bt, "status"),
	}
	// The one metadata write is the ledger id and the finalizer, before
	// the first transfer; the checkpoint that counts the transfer is
	// written with the Ready condition.
	want := map[string]int{"allocation status": 2, "allocation metadata": 1, "transfer create": 1, "transfer status": 2}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s writes: got %d, want %d (all: %v)", k, got[k], w, got)
		}
	}

	tm.create(t, tm.allocation("careful", "10", func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.DeletionPolicy = budgetv1alpha1.DeletionPolicyReclaim
	}))
	tm.waitReady(t, "careful", "10.00")
	careful := tm.get(t, "careful")
	if n := writesOf(careful, "patch"); n != 1 {
		t.Errorf("the metadata took %d patches, want 1", n)
	}
	if cp := careful.Status.Checkpoint; cp == nil || cp.Sequence != 1 {
		t.Errorf("checkpoint %+v, want the transfer counted", cp)
	}
}

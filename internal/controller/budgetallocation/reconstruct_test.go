package budgetallocation

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/accounts"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/bssfake"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/planner"
)

// TestReconstructFromTheMastersRecords: the lost steps are the trans_ids
// of the stopped transfer's sequence and the ones after it that the
// master's records show, in order, with their direction and amount; where
// the records are declared not to carry trans_ids there is nothing to
// reconstruct and nothing to accept.
func TestReconstructFromTheMastersRecords(t *testing.T) {
	ctx := context.Background()
	fb := bssfake.New(money.MustParse("1000"), nil, "cust-1")
	fb.SetSub("cust-1", money.Zero)
	ba := &budgetv1alpha1.BudgetAllocation{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "team", UID: "uid-a",
		Annotations: map[string]string{budgetv1alpha1.AnnotationLedgerID: "team/a/uid-a"}}}
	// Sequences 2 and 3 were applied (a transfer of 30.00, a reclaim of
	// 5.00); the ledger was rolled back to sequence 1.
	if err := fb.TransferAmount(ctx, bss.AmountTransferRequest{CustomerID: "cust-1", Amount: money.MustParse("30.00"), TransID: TransID("uid-a", 2)}); err != nil {
		t.Fatal(err)
	}
	if err := fb.ReclaimAmount(ctx, bss.AmountTransferRequest{CustomerID: "cust-1", Amount: money.MustParse("5.00"), TransID: TransID("uid-a", 3)}); err != nil {
		t.Fatal(err)
	}
	sa := &budgetv1alpha1.SubAccount{Spec: budgetv1alpha1.SubAccountSpec{EnterpriseAccountRef: budgetv1alpha1.LocalObjectReference{Name: "acme"}},
		Status: budgetv1alpha1.SubAccountStatus{CustomerID: "cust-1"}}
	s := &scope{ba: ba, sa: sa, acct: &accounts.Account{Name: "acme", Client: fb}, now: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC),
		ea: &budgetv1alpha1.EnterpriseAccount{}}
	stopped := &planner.Entry{Name: TransferName("a", 2), Sequence: 2}
	r := &Reconciler{}

	rec, err := r.reconstruct(ctx, s, stopped)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Complete || len(rec.Entries) != 2 || rec.Digest == "" {
		t.Fatalf("reconstruction %+v, want two steps, complete", rec)
	}
	for i, want := range []struct {
		op     budgetv1alpha1.TransferOperation
		amount budgetv1alpha1.Money
	}{{budgetv1alpha1.OperationTransfer, "30.00"}, {budgetv1alpha1.OperationReclaim, "5.00"}} {
		if e := rec.Entries[i]; e.Sequence != int64(2+i) || e.Operation != want.op || e.Amount != want.amount || e.CustomerID != "cust-1" ||
			e.TransID != TransID("uid-a", e.Sequence) || e.Evidence == nil {
			t.Errorf("entry %d: %+v, want %s %s", i, e, want.op, want.amount)
		}
	}
	again, _ := r.reconstruct(ctx, s, stopped)
	if again.Digest != rec.Digest {
		t.Errorf("the digest of the same records changed: %s, %s", rec.Digest, again.Digest)
	}

	s.ea.Spec.BSSBehaviour = &budgetv1alpha1.BSSBehaviour{TransferRecords: budgetv1alpha1.RecordsNone}
	if rec, err = r.reconstruct(ctx, s, stopped); err != nil || rec.Complete || len(rec.Entries) != 0 || !strings.Contains(rec.Message, "by hand") {
		t.Errorf("records declared without trans_ids: %+v, %v", rec, err)
	}
}

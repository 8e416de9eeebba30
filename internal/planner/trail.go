package planner

import (
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
)

// LedgerIDOf is an allocation's full ledger id (namespace/name/id): its
// budget.bss.dev/ledger-id annotation when that names the allocation (a
// restored or re-applied one keeps it), else namespace/name/UID. Its
// trans_ids and its LedgerRecords derive from it.
func LedgerIDOf(ba *budgetv1alpha1.BudgetAllocation) string {
	prefix := ba.Namespace + "/" + ba.Name + "/"
	if v := ba.Annotations[budgetv1alpha1.AnnotationLedgerID]; strings.HasPrefix(v, prefix) && len(v) > len(prefix) {
		return v
	}
	return prefix + string(ba.UID)
}

// TrailEntries are the movements the LedgerRecords of ledgerID keep, as
// ledger entries (records of other ledgers are ignored).
func TrailEntries(recs []budgetv1alpha1.LedgerRecord, ledgerID string) []Entry {
	var out []Entry
	for _, rec := range recs {
		if rec.Spec.LedgerID != ledgerID {
			continue
		}
		for _, e := range rec.Spec.Entries {
			out = append(out, EntryOfRecord(e))
		}
	}
	return out
}

// EntryOfRecord is a kept trail entry as the planner reads it.
func EntryOfRecord(e budgetv1alpha1.LedgerEntry) Entry {
	bt := budgetv1alpha1.BudgetTransfer{
		ObjectMeta: metav1.ObjectMeta{Name: e.Name},
		Spec: budgetv1alpha1.BudgetTransferSpec{
			Sequence: e.Sequence, Operation: e.Operation, Amount: e.Amount, BalanceType: e.BalanceType, CouponID: e.CouponID,
			SubCouponID: e.SubCouponID, ExpireTime: e.ExpireTime, CustomerID: e.CustomerID, EnterpriseAccountName: e.EnterpriseAccount, TransID: e.TransID,
		},
		Status: budgetv1alpha1.BudgetTransferStatus{Phase: e.Phase, ErrorCode: e.ErrorCode, CompletionTime: e.Completed},
	}
	if e.Created != nil {
		bt.CreationTimestamp = *e.Created
	}
	if e.Operation == budgetv1alpha1.OperationCouponTransfer {
		bt.Status.Result = &budgetv1alpha1.TransferResult{SubCouponID: e.SubCouponID}
	}
	return EntryOf(&bt)
}

// RestoreFromTrail is the checkpoint of an allocation that has none yet:
// the kept trail of its ledger id (trail, see TrailEntries) folded with its
// transfers (entries). Restored says "Trail" when the trail counted.
func RestoreFromTrail(trail, entries []Entry, cycleOf func(t time.Time) string) (*Checkpoint, int) {
	cp, n := Fold(nil, append(append([]Entry(nil), trail...), entries...), cycleOf)
	if len(trail) > 0 && n > 0 {
		cp.Restored = budgetv1alpha1.CheckpointFromTrail
	}
	return cp, n
}

package budgetallocation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/planner"
)

// A transfer stopped with LedgerBehindBSS means the allocation's ledger
// lost steps BSS applied (a restore, an etcd rollback). The allocation
// reconstructs them from the master's income/expense records — its
// trans_ids are deterministic, so each lost step is found by its trans_id —
// and publishes the reconstruction in status. An administrator reviews it
// (`kubectl budget ledger`) and accepts it by annotating the stopped
// transfer with its digest: the steps are then kept in the audit trail,
// counted in the checkpoint, and the stopped transfer ends Superseded.

// maxReconstructed is how many lost steps one reconstruction holds.
const maxReconstructed = 50

// reconstruction keeps status.reconstruction in step with a transfer
// stopped with LedgerBehindBSS, and carries out an accepted one.
func (r *Reconciler) reconstruction(ctx context.Context, s *scope) (ctrl.Result, error) {
	f := s.ledger.InFlight
	if f == nil || f.Reason != budgetv1alpha1.ReasonLedgerBehindBSS {
		s.ba.Status.Reconstruction = nil
		return ctrl.Result{}, nil
	}
	rec := s.ba.Status.Reconstruction
	// An incomplete one is looked up again (the records may have lagged)
	// whenever the allocation is reconciled; a complete one stands, so
	// that the digest an administrator reviewed is the one accepted.
	if rec == nil || rec.Transfer != f.Name || !rec.Complete {
		callCtx, cancel := context.WithTimeout(ctx, r.Options.BSSCallTimeout)
		defer cancel()
		var err error
		if rec, err = r.reconstruct(callCtx, s, f); err != nil {
			return r.bssError(s.ba, err, s.deleting)
		}
		s.ba.Status.Reconstruction = rec
	}
	i := slices.IndexFunc(s.transfers, func(bt budgetv1alpha1.BudgetTransfer) bool { return bt.Name == f.Name })
	if i < 0 {
		return ctrl.Result{}, nil
	}
	accepted := s.transfers[i].Annotations[budgetv1alpha1.AnnotationAcceptReconstruction]
	cp := s.ba.Status.Checkpoint
	switch {
	case accepted == "":
	case accepted != rec.Digest || !rec.Complete:
		r.Recorder.Eventf(s.ba, &s.transfers[i], corev1.EventTypeWarning, "ReconstructionNotAccepted", "Reconstruct",
			"%s=%s does not accept the reconstruction in status (digest %s, complete %v)", budgetv1alpha1.AnnotationAcceptReconstruction, accepted, rec.Digest, rec.Complete)
	case cp == nil || cp.Sequence < rec.Entries[len(rec.Entries)-1].Sequence:
		return ctrl.Result{}, r.accept(ctx, s, rec)
	}
	return ctrl.Result{}, nil
}

// accept keeps the reconstructed steps in the audit trail, then counts them
// in the checkpoint; the transfer controller then ends the stopped transfer
// Superseded. Nothing is created in this reconcile (s.folded).
func (r *Reconciler) accept(ctx context.Context, s *scope, rec *budgetv1alpha1.LedgerReconstruction) error {
	recs, err := r.trailRecords(ctx, s.ba)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(recs, func(l budgetv1alpha1.LedgerRecord) bool {
		return l.Spec.Reason == budgetv1alpha1.RecordReconstructed && l.Spec.FromSequence == rec.Entries[0].Sequence
	}) {
		if err := r.createRecord(ctx, s, rec.Entries, budgetv1alpha1.RecordReconstructed); err != nil {
			return err
		}
	}
	cp, err := planner.CheckpointOf(s.ba.Status.Checkpoint)
	if err != nil {
		return err
	}
	entries := make([]planner.Entry, 0, len(rec.Entries))
	for _, e := range rec.Entries {
		entries = append(entries, planner.EntryOfRecord(e))
	}
	next, n := planner.Fold(cp, entries, billcycle.Of)
	next.Restored = budgetv1alpha1.CheckpointReconstructed
	s.ba.Status.Checkpoint, s.folded = next.API(), max(n, 1)
	r.Recorder.Eventf(s.ba, nil, corev1.EventTypeNormal, "ReconstructionAccepted", "Reconstruct",
		"counted %d step(s) BSS's records show under this ledger's trans_ids (sequences %d–%d); the ledger goes on after them",
		len(rec.Entries), rec.Entries[0].Sequence, rec.Entries[len(rec.Entries)-1].Sequence)
	return nil
}

// reconstruct searches the master's records for the trans_ids of the
// stopped transfer's sequence and the ones after it, until one is in no
// record. The records name no customer: the steps are taken to be with the
// SubAccount's current customer, as the stopped transfer was.
func (r *Reconciler) reconstruct(ctx context.Context, s *scope, f *planner.Entry) (*budgetv1alpha1.LedgerReconstruction, error) {
	out := &budgetv1alpha1.LedgerReconstruction{Transfer: f.Name}
	beh := budgetv1alpha1.BehaviourOf(s.ea)
	if beh.TransferRecords == budgetv1alpha1.RecordsWithoutTransID || beh.TransferRecords == budgetv1alpha1.RecordsNone {
		out.Message = fmt.Sprintf("the master's income/expense records are declared not to carry trans_ids (transferRecords: %s): the lost steps cannot be found there; settle %s by hand (docs/operations.md, LedgerBehindBSS)",
			beh.TransferRecords, f.Name)
		return out, nil
	}
	req := bss.AccountChangeRecordsRequest{BalanceType: bss.BalanceTypeDebit, TradeTimeBegin: billcycle.Day(s.now.Add(-bss.RecordsSpan)), TradeTimeEnd: billcycle.Day(s.now)}
	balanceType := budgetv1alpha1.BalanceTypeDebit
	if s.ba.Spec.BalanceType == budgetv1alpha1.BalanceTypeCredit {
		req.BalanceType, balanceType = bss.BalanceTypeCredit, budgetv1alpha1.BalanceTypeCredit
	}
	for seq := f.Sequence; len(out.Entries) < maxReconstructed; seq++ {
		req.TradeID = TransID(ledgerOrUID(s.ba), seq)
		recs, err := s.acct.Client.ListAllAccountChangeRecords(ctx, req)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(recs, func(c bss.AccountChangeRecord) bool { return c.TradeID == req.TradeID })
		if i < 0 {
			break
		}
		out.Entries = append(out.Entries, reconstructedEntry(s, seq, req.TradeID, balanceType, recs[i]))
	}
	switch n := len(out.Entries); n {
	case 0:
		out.Message = fmt.Sprintf("no income/expense record of the master's last year has the trans_id of %s (%s): BSS's records show nothing to reconstruct; settle it by hand (docs/operations.md, LedgerBehindBSS)", f.Name, f.Name)
	case maxReconstructed:
		out.Message = fmt.Sprintf("the master's records show at least %d lost steps; accept these, and the next ones are reconstructed after them", n)
		out.Complete = true
	default:
		out.Complete = true
		out.Message = fmt.Sprintf("the master's records show %d step(s) under this ledger's trans_ids from sequence %d on, and none at sequence %d; coupon movements do not appear in them",
			n, f.Sequence, f.Sequence+int64(n))
	}
	out.Digest = digest(out.Entries)
	return out, nil
}

// reconstructedEntry is a lost step as a master's record shows it: money
// paid out to a sub-account is a Transfer, money coming back a Reclaim.
func reconstructedEntry(s *scope, seq int64, transID string, bt budgetv1alpha1.BalanceType, c bss.AccountChangeRecord) budgetv1alpha1.LedgerEntry {
	op := budgetv1alpha1.OperationTransfer
	if c.RevenueExpenseType == bss.RevenueExpenseRevenue {
		op = budgetv1alpha1.OperationReclaim
	}
	amount := c.ChangeAmount
	if amount.IsNegative() {
		amount = amount.Neg()
	}
	at := metav1.NewTime(s.now.Truncate(time.Second))
	return budgetv1alpha1.LedgerEntry{
		Sequence: seq, Name: TransferName(s.ba.Name, seq), TransID: transID, Operation: op, BalanceType: bt,
		Amount: budgetv1alpha1.Money(amount.String()), CustomerID: s.sa.Status.CustomerID, EnterpriseAccount: s.sa.Spec.EnterpriseAccountRef.Name,
		Phase: budgetv1alpha1.PhaseSucceeded, Reason: budgetv1alpha1.CheckpointReconstructed, Created: &at, Completed: &at,
		Evidence: &budgetv1alpha1.TransferEvidence{Kind: budgetv1alpha1.EvidenceRecords,
			Detail: fmt.Sprintf("the master's income/expense record %s (trade_id %s, %s %s, %s)", c.AccountChangeID, c.TradeID, c.RevenueExpenseType, c.ChangeAmount, c.TradeTime)},
	}
}

// digest identifies a reconstruction's entries.
func digest(entries []budgetv1alpha1.LedgerEntry) string {
	b, _ := json.Marshal(entries)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

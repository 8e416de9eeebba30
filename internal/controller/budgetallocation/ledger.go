package budgetallocation

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/approval"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/planner"
)

// This file keeps the allocation's ledger bounded. The manager caches only
// the transfers that have not succeeded (setup.CacheOptions); a succeeded
// one is folded into status.checkpoint, read from the API server:
//
//   - when the transfer the status names last is no longer in the cache
//     (it succeeded, or the cache lost it), and
//   - before every new transfer is created, whatever the cache says, so
//     that no movement is planned from a ledger that misses one. A reconcile
//     that folds something writes the checkpoint and creates nothing; the
//     next one plans from the written checkpoint.
//
// Folded transfers are kept for --transfer-retention, then written to the
// audit trail (LedgerRecords) and deleted: the checkpoint is written before
// anything it counts is deleted, and the trail before the transfer goes, so
// a crash between any two steps loses nothing and counts nothing twice.

// maxRecordEntries is how many transfers one LedgerRecord keeps.
const maxRecordEntries = 200

// listPage is the page size of reads around the cache.
const listPage = 500

// lastTransferGone reports whether the transfer the allocation's status
// names last has left the cache without being folded: it succeeded (or
// was lost), and the ledger must be read from the API server.
func lastTransferGone(s *scope) bool {
	lt := s.ba.Status.LastTransfer
	if lt == nil {
		return false
	}
	for i := range s.transfers {
		if s.transfers[i].Name == lt.Name {
			return false
		}
	}
	cp := s.ba.Status.Checkpoint
	return cp == nil || lt.Sequence == 0 || lt.Sequence > cp.Sequence
}

// readLastTransfer reads, around the cache, the transfer the allocation's
// status names last, which has left the cache, and folds it if it has
// succeeded. Only the newest transfer can be unfolded: each one is folded
// (and the checkpoint written) before a newer one is created. Where that
// transfer is gone or not the allocation's, the whole ledger is read.
func (r *Reconciler) readLastTransfer(ctx context.Context, s *scope) error {
	cp, err := planner.CheckpointOf(s.ba.Status.Checkpoint)
	if err != nil {
		return err
	}
	var bt budgetv1alpha1.BudgetTransfer
	err = r.APIReader.Get(ctx, client.ObjectKey{Namespace: s.ba.Namespace, Name: s.ba.Status.LastTransfer.Name}, &bt)
	switch {
	case cp == nil, apierrors.IsNotFound(err), err == nil && !metav1.IsControlledBy(&bt, s.ba):
		return r.readWholeLedger(ctx, s)
	case err != nil:
		return err
	}
	s.transfers = append(s.transfers, bt)
	entries := make([]planner.Entry, 0, len(s.transfers))
	for i := range s.transfers {
		entries = append(entries, planner.EntryOf(&s.transfers[i]))
	}
	next, n := planner.Fold(cp, entries, billcycle.Of)
	if n > 0 {
		at := s.ba.Status.Checkpoint.CompactAt
		s.ba.Status.Checkpoint = next.API()
		// The transfers folded before are not read here: the earlier of
		// their time and this one's is kept, and compaction reads them all.
		s.ba.Status.Checkpoint.CompactAt = earlier(at, r.compactAt(s, next.Sequence))
		s.folded += n
	}
	s.ledger, err = planner.LedgerOf(s.ba, s.transfers)
	return err
}

// earlier is the earlier of two optional times.
func earlier(a, b *metav1.Time) *metav1.Time {
	if a == nil || b != nil && b.Before(a) {
		return b
	}
	return a
}

// readWholeLedger reads every transfer of the allocation from the API
// server (and, while it has no checkpoint, the kept trail of its ledger id)
// and folds the succeeded ones into the checkpoint. Where the transfer the
// status names last is gone although the checkpoint does not count it, the
// trail's entries after the checkpoint are folded too: a transfer is
// written to the trail before it is deleted, so one deleted before a
// checkpoint counting it was written (an allocation being deleted, a
// crash) is found there, and its sequence is never planned again.
func (r *Reconciler) readWholeLedger(ctx context.Context, s *scope) error {
	all, err := r.listTransfers(ctx, s.ba)
	if err != nil {
		return err
	}
	cp, err := planner.CheckpointOf(s.ba.Status.Checkpoint)
	if err != nil {
		return err
	}
	entries := make([]planner.Entry, 0, len(all))
	for i := range all {
		entries = append(entries, planner.EntryOf(&all[i]))
	}
	var next *planner.Checkpoint
	var n int
	switch {
	case cp == nil:
		recs, err := r.trailRecords(ctx, s.ba)
		if err != nil {
			return err
		}
		next, n = planner.RestoreFromTrail(planner.TrailEntries(recs, planner.LedgerIDOf(s.ba)), entries, billcycle.Of)
	case lastTransferDeleted(s.ba, cp, all):
		recs, err := r.trailRecords(ctx, s.ba)
		if err != nil {
			return err
		}
		// Fold skips what the checkpoint counts, and a transfer both in
		// the trail and still kept (a crash before its deletion) once.
		next, n = planner.Fold(cp, append(planner.TrailEntries(recs, planner.LedgerIDOf(s.ba)), entries...), billcycle.Of)
	default:
		next, n = planner.Fold(cp, entries, billcycle.Of)
	}
	// folded counts every fold of this reconcile: one readLastTransfer
	// made before is not written yet either.
	s.transfers, s.fullRead = all, true
	s.folded += n
	s.ba.Status.Checkpoint = next.API()
	s.ba.Status.Checkpoint.CompactAt = r.compactAt(s, next.Sequence)
	if n > 0 {
		log.FromContext(ctx).Info("folded succeeded transfers into the checkpoint", "transfers", n, "sequence", next.Sequence, "restored", next.Restored)
	}
	s.ledger, err = planner.LedgerOf(s.ba, all)
	return err
}

// lastTransferDeleted reports whether the transfer the allocation's status
// names last, which the checkpoint cp does not count, is not among all the
// allocation's transfers on the API server.
func lastTransferDeleted(ba *budgetv1alpha1.BudgetAllocation, cp *planner.Checkpoint, all []budgetv1alpha1.BudgetTransfer) bool {
	lt := ba.Status.LastTransfer
	if lt == nil || lt.Sequence != 0 && lt.Sequence <= cp.Sequence {
		return false
	}
	for i := range all {
		if all[i].Name == lt.Name {
			return false
		}
	}
	return true
}

// listTransfers lists the allocation's own transfers from the API server,
// page by page.
func (r *Reconciler) listTransfers(ctx context.Context, ba *budgetv1alpha1.BudgetAllocation) ([]budgetv1alpha1.BudgetTransfer, error) {
	var out []budgetv1alpha1.BudgetTransfer
	opts := []client.ListOption{client.InNamespace(ba.Namespace), client.MatchingFields{"spec.allocationRef.name": ba.Name}, client.Limit(listPage)}
	for cont := ""; ; {
		var list budgetv1alpha1.BudgetTransferList
		if err := r.APIReader.List(ctx, &list, append(opts, client.Continue(cont))...); err != nil {
			return nil, fmt.Errorf("reading the allocation's transfers: %w", err)
		}
		out = append(out, planner.Owned(ba, list.Items)...)
		if cont = list.Continue; cont == "" {
			return out, nil
		}
	}
}

// trailRecords lists the LedgerRecords of the allocation's ledger id.
func (r *Reconciler) trailRecords(ctx context.Context, ba *budgetv1alpha1.BudgetAllocation) ([]budgetv1alpha1.LedgerRecord, error) {
	var out []budgetv1alpha1.LedgerRecord
	opts := []client.ListOption{client.MatchingLabels{budgetv1alpha1.LabelLedger: budgetv1alpha1.LedgerKey(planner.LedgerIDOf(ba))}, client.Limit(listPage)}
	for cont := ""; ; {
		var list budgetv1alpha1.LedgerRecordList
		if err := r.APIReader.List(ctx, &list, append(opts, client.Continue(cont))...); err != nil {
			return nil, fmt.Errorf("reading the audit trail: %w", err)
		}
		for _, rec := range list.Items {
			if rec.Spec.LedgerID == planner.LedgerIDOf(ba) {
				out = append(out, rec)
			}
		}
		if cont = list.Continue; cont == "" {
			return out, nil
		}
	}
}

// recordEntry is a settled transfer as the trail keeps it.
func recordEntry(bt *budgetv1alpha1.BudgetTransfer) budgetv1alpha1.LedgerEntry {
	created := bt.CreationTimestamp
	e := budgetv1alpha1.LedgerEntry{
		Sequence: bt.Spec.Sequence, Name: bt.Name, TransID: bt.Spec.TransID, Operation: bt.Spec.Operation, BalanceType: bt.Spec.BalanceType,
		Amount: bt.Spec.Amount, CouponID: bt.Spec.CouponID, SubCouponID: bt.Spec.SubCouponID, ExpireTime: bt.Spec.ExpireTime,
		CustomerID: bt.Spec.CustomerID, EnterpriseAccount: bt.Spec.EnterpriseAccountName, Phase: bt.Status.Phase,
		Reason: common.ReadyReason(bt.Status.Conditions, budgetv1alpha1.ConditionReady), ErrorCode: bt.Status.ErrorCode,
		Evidence: bt.Status.Evidence, Created: &created, Completed: bt.Status.CompletionTime,
	}
	if bt.Spec.Operation == budgetv1alpha1.OperationCouponTransfer && bt.Status.Result != nil {
		e.SubCouponID = bt.Status.Result.SubCouponID
	}
	return e
}

// settledAt is when a transfer settled (its creation, without a
// completion time).
func settledAt(bt *budgetv1alpha1.BudgetTransfer) time.Time {
	if t := bt.Status.CompletionTime; t != nil {
		return t.Time
	}
	return bt.CreationTimestamp.Time
}

// dueAt is when each folded transfer that is still kept may be written to
// the audit trail and deleted, by name. With a retention, a bill cycle's
// transfers go together, in as few records as they fill: once the cycle is
// over and its newest transfer has been settled for longer than the
// retention. With --transfer-retention=0 each goes as soon as it is folded.
func (r *Reconciler) dueAt(s *scope, folded int64) map[string]time.Time {
	var kept []*budgetv1alpha1.BudgetTransfer
	for i := range s.transfers {
		bt := &s.transfers[i]
		if bt.Status.Phase == budgetv1alpha1.PhaseSucceeded && bt.Spec.Sequence <= folded &&
			(bt.DeletionTimestamp.IsZero() || controllerutil.ContainsFinalizer(bt, budgetv1alpha1.Finalizer)) {
			kept = append(kept, bt)
		}
	}
	out := make(map[string]time.Time, len(kept))
	retention := r.Options.TransferRetention
	if retention < 0 {
		for _, bt := range kept {
			out[bt.Name] = settledAt(bt)
		}
		return out
	}
	cycleDue := map[string]time.Time{}
	for _, bt := range kept {
		at := settledAt(bt)
		due := at.Add(retention)
		if end := billcycle.End(at); end.After(due) {
			due = end
		}
		if c := billcycle.Of(at); due.After(cycleDue[c]) {
			cycleDue[c] = due
		}
	}
	for _, bt := range kept {
		out[bt.Name] = cycleDue[billcycle.Of(settledAt(bt))]
	}
	return out
}

// compactAt is when the first folded transfer still kept is due to go.
func (r *Reconciler) compactAt(s *scope, folded int64) *metav1.Time {
	var at time.Time
	for _, due := range r.dueAt(s, folded) {
		if at.IsZero() || due.Before(at) {
			at = due
		}
	}
	if at.IsZero() {
		return nil
	}
	t := metav1.NewTime(at.Truncate(time.Second).Add(time.Second))
	return &t
}

// compact writes the folded transfers that are due (dueAt) to the audit
// trail and deletes them, one record (up to maxRecordEntries transfers) per
// reconcile. Only transfers the checkpoint counted when this reconcile
// read it (s.readSequence) are touched, and nothing in a reconcile that
// folded: a fold of this reconcile is only in memory until the status
// write at its end, which may fail (a conflict with a cache that has not
// seen the previous write, a kill); a transfer deleted before the
// checkpoint that counts it is written would leave the ledger without
// it, and its sequence would be planned again. The
// transfers of the current bill cycle stay while the master has a
// per-cycle approval budget, which counts them (with a retention they stay
// anyway: a cycle goes once it is over).
func (r *Reconciler) compact(ctx context.Context, s *scope) (ctrl.Result, error) {
	cp := s.ba.Status.Checkpoint
	if s.deleting || cp == nil || cp.CompactAt == nil || s.now.Before(cp.CompactAt.Time) {
		return ctrl.Result{}, nil
	}
	persisted := s.readSequence
	if s.folded > 0 {
		return ctrl.Result{}, nil
	}
	if !s.fullRead {
		if err := r.readWholeLedger(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
	}
	if s.folded > 0 {
		return ctrl.Result{}, nil
	}
	dueAt := r.dueAt(s, persisted)
	keepCycle := r.Options.TransferRetention < 0 && r.perCycleApproval(ctx, s)
	var due []*budgetv1alpha1.BudgetTransfer
	for i := range s.transfers {
		bt := &s.transfers[i]
		if at, ok := dueAt[bt.Name]; ok && !at.After(s.now) && (!keepCycle || billcycle.Of(bt.CreationTimestamp.Time) < billcycle.Of(s.now)) {
			due = append(due, bt)
		}
	}
	if len(due) == 0 {
		s.ba.Status.Checkpoint.CompactAt = r.compactAt(s, persisted)
		return ctrl.Result{}, nil
	}
	gone, err := r.writeTrail(ctx, s, due, budgetv1alpha1.RecordCompacted)
	s.transfers = slices.DeleteFunc(s.transfers, func(bt budgetv1alpha1.BudgetTransfer) bool { return gone[bt.Name] })
	s.ba.Status.Checkpoint.CompactAt = r.compactAt(s, persisted)
	if err != nil {
		// Compaction only bounds the history: a failure is retried soon
		// and does not hold up the allocation's plan.
		log.FromContext(ctx).Error(err, "compacting settled transfers")
		s.compactAgain = compactRetry
		return ctrl.Result{}, nil
	}
	if len(gone) < len(due) {
		s.compactAgain = time.Second
	}
	log.FromContext(ctx).Info("compacted settled transfers into the audit trail", "transfers", len(gone))
	return ctrl.Result{}, nil
}

// compactRetry is how soon a failed compaction is tried again.
const compactRetry = 10 * time.Second

// perCycleApproval reports whether the allocation's master counts a
// per-cycle approval budget (or its settings cannot be read).
func (r *Reconciler) perCycleApproval(ctx context.Context, s *scope) bool {
	var sa budgetv1alpha1.SubAccount
	if err := r.Get(ctx, client.ObjectKey{Name: s.ba.Spec.SubAccountRef.Name}, &sa); err != nil {
		return true
	}
	var ea budgetv1alpha1.EnterpriseAccount
	if err := r.Get(ctx, client.ObjectKey{Name: sa.Spec.EnterpriseAccountRef.Name}, &ea); err != nil {
		return true
	}
	st, err := approval.SettingsOf(ea.Spec.Approval)
	return err != nil || st.PerCycle != nil
}

// writeTrail keeps settled transfers in the audit trail and then deletes
// them. Transfers a record of the ledger already holds (written before a
// crash) are not written again. At most maxRecordEntries transfers are
// written per call; it returns the names of the transfers deleted.
func (r *Reconciler) writeTrail(ctx context.Context, s *scope, settled []*budgetv1alpha1.BudgetTransfer, reason string) (map[string]bool, error) {
	recs, err := r.trailRecords(ctx, s.ba)
	if err != nil {
		return nil, err
	}
	kept := map[int64]bool{}
	for _, rec := range recs {
		for _, e := range rec.Spec.Entries {
			kept[e.Sequence] = true
		}
	}
	sort.Slice(settled, func(i, j int) bool { return settled[i].Spec.Sequence < settled[j].Spec.Sequence })
	var batch []*budgetv1alpha1.BudgetTransfer
	var done []*budgetv1alpha1.BudgetTransfer
	for _, bt := range settled {
		switch {
		case kept[bt.Spec.Sequence]:
			done = append(done, bt)
		case len(batch) < maxRecordEntries:
			batch = append(batch, bt)
		}
	}
	if len(batch) > 0 {
		entries := make([]budgetv1alpha1.LedgerEntry, 0, len(batch))
		for _, bt := range batch {
			entries = append(entries, recordEntry(bt))
		}
		if err := r.createRecord(ctx, s, entries, reason); err != nil {
			return nil, err
		}
		done = append(done, batch...)
	}
	gone := map[string]bool{}
	for _, bt := range done {
		if err := r.dropTransfer(ctx, bt); err != nil {
			return gone, err
		}
		gone[bt.Name] = true
	}
	return gone, nil
}

// createRecord writes one LedgerRecord of entries (in sequence order).
func (r *Reconciler) createRecord(ctx context.Context, s *scope, entries []budgetv1alpha1.LedgerEntry, reason string) error {
	id := planner.LedgerIDOf(s.ba)
	rec := &budgetv1alpha1.LedgerRecord{
		ObjectMeta: metav1.ObjectMeta{
			Name: budgetv1alpha1.LedgerRecordName(id, entries[0].Sequence),
			Labels: map[string]string{
				budgetv1alpha1.LabelLedger: budgetv1alpha1.LedgerKey(id), budgetv1alpha1.LabelNamespace: s.ba.Namespace,
				budgetv1alpha1.LabelAllocation: common.LabelValue(s.ba.Name), budgetv1alpha1.LabelSubAccount: common.LabelValue(s.ba.Spec.SubAccountRef.Name),
				budgetv1alpha1.LabelYear: strconv.Itoa(s.now.UTC().Year()),
			},
		},
		Spec: budgetv1alpha1.LedgerRecordSpec{
			LedgerID: id, Namespace: s.ba.Namespace, Allocation: s.ba.Name, SubAccount: s.ba.Spec.SubAccountRef.Name, Reason: reason,
			FromSequence: entries[0].Sequence, ToSequence: entries[len(entries)-1].Sequence, Entries: entries,
		},
	}
	if err := r.Create(ctx, rec); err != nil {
		// trailRecords has just read every record of this ledger from the
		// API server, so a name taken here is not one of them.
		return fmt.Errorf("writing LedgerRecord %s: %w", rec.Name, err)
	}
	return nil
}

// dropTransfer deletes a settled transfer the trail keeps: its finalizer is
// the operator's, and the transfer controller does not watch succeeded
// transfers.
func (r *Reconciler) dropTransfer(ctx context.Context, bt *budgetv1alpha1.BudgetTransfer) error {
	if controllerutil.ContainsFinalizer(bt, budgetv1alpha1.Finalizer) {
		patch := client.MergeFrom(bt.DeepCopy())
		controllerutil.RemoveFinalizer(bt, budgetv1alpha1.Finalizer)
		if err := r.Patch(ctx, bt, patch); err != nil {
			return client.IgnoreNotFound(err)
		}
	}
	if bt.DeletionTimestamp.IsZero() {
		return client.IgnoreNotFound(r.Delete(ctx, bt, client.Preconditions{UID: &bt.UID}))
	}
	return nil
}

// keepTrailBeforeRelease writes every settled transfer of a deleted
// allocation to the audit trail and lets them go, a record per reconcile;
// done reports whether nothing is left, so that the allocation itself may
// go. A transfer that has not settled is waited for.
func (r *Reconciler) keepTrailBeforeRelease(ctx context.Context, s *scope) (done bool, err error) {
	if !s.fullRead {
		if err := r.readWholeLedger(ctx, s); err != nil {
			return false, err
		}
	}
	var settled []*budgetv1alpha1.BudgetTransfer
	open := false
	for i := range s.transfers {
		bt := &s.transfers[i]
		switch bt.Status.Phase {
		case budgetv1alpha1.PhaseSucceeded, budgetv1alpha1.PhaseFailed:
			settled = append(settled, bt)
		case budgetv1alpha1.PhaseSubmitting:
			open = true
		default:
			// Never sent: the transfer controller ends it Withdrawn, and
			// it is kept in the trail as such.
			open = true
			if err := r.withdraw(ctx, bt, "its allocation is being deleted"); err != nil {
				return false, err
			}
		}
	}
	if open {
		return false, nil
	}
	if len(settled) == 0 {
		return true, nil
	}
	gone, err := r.writeTrail(ctx, s, settled, budgetv1alpha1.RecordDeleted)
	return err == nil && len(gone) == len(settled), err
}

// withdraw asks the transfer controller to end a transfer that was never
// sent (it ends it Failed, reason Withdrawn); the write is conflict-checked
// against the version read, so it never lands on one that has moved on to
// Submitting.
func (r *Reconciler) withdraw(ctx context.Context, bt *budgetv1alpha1.BudgetTransfer, why string) error {
	if bt.Annotations[budgetv1alpha1.AnnotationWithdraw] != "" {
		return nil
	}
	patch := client.MergeFromWithOptions(bt.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if bt.Annotations == nil {
		bt.Annotations = map[string]string{}
	}
	bt.Annotations[budgetv1alpha1.AnnotationWithdraw] = why
	if err := r.Patch(ctx, bt, patch); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

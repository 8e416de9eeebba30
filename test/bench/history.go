package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/budgetallocation"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// ledgerPlan is what the history of one allocation is made from: the
// allocation and its newest transfer, whose customer, EnterpriseAccount,
// SubAccount, balance type and approval limit the history repeats.
type ledgerPlan struct {
	ba       *budgetv1alpha1.BudgetAllocation
	ledgerID string
	newest   *budgetv1alpha1.BudgetTransfer
}

// historyAmount is what the history transfer at seq moves when the history
// starts at first: 1.00 to 50.00, the same for each Transfer and the
// Reclaim after it.
func historyAmount(first, seq int64) money.Amount {
	pair := (seq - first) / 2
	return money.FromFen(100 * (1 + pair%50))
}

// historyTransfer is the seq-th transfer of p's ledger as the operator
// leaves a settled one, less its status: the history alternates a Transfer
// and a Reclaim of the same amount from first on, so that it nets to zero.
func historyTransfer(p *ledgerPlan, first, seq int64) *budgetv1alpha1.BudgetTransfer {
	ba, newest := p.ba, p.newest
	op := budgetv1alpha1.OperationTransfer
	if (seq-first)%2 == 1 {
		op = budgetv1alpha1.OperationReclaim
	}
	gvk := budgetv1alpha1.GroupVersion.WithKind("BudgetAllocation")
	return &budgetv1alpha1.BudgetTransfer{
		ObjectMeta: metav1.ObjectMeta{
			Name:      budgetallocation.TransferName(ba.Name, seq),
			Namespace: ba.Namespace,
			Labels: map[string]string{
				budgetv1alpha1.LabelAllocation: newest.Labels[budgetv1alpha1.LabelAllocation],
				budgetv1alpha1.LabelSubAccount: newest.Labels[budgetv1alpha1.LabelSubAccount],
			},
			Annotations: map[string]string{
				budgetv1alpha1.AnnotationAllocationGeneration: strconv.FormatInt(ba.Generation, 10),
				budgetv1alpha1.AnnotationApprovalLimit:        newest.Annotations[budgetv1alpha1.AnnotationApprovalLimit],
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ba, gvk)},
			Finalizers:      []string{budgetv1alpha1.Finalizer},
		},
		Spec: budgetv1alpha1.BudgetTransferSpec{
			AllocationRef:         budgetv1alpha1.LocalObjectReference{Name: ba.Name},
			SubAccountName:        newest.Spec.SubAccountName,
			EnterpriseAccountName: newest.Spec.EnterpriseAccountName,
			CustomerID:            newest.Spec.CustomerID,
			Operation:             op,
			BalanceType:           newest.Spec.BalanceType,
			Amount:                budgetv1alpha1.Money(historyAmount(first, seq).String()),
			TransID:               budgetallocation.TransID(p.ledgerID, seq),
			Sequence:              seq,
		},
	}
}

// settle gives bt the status the transfer controller writes when BSS
// applied it at the first attempt at now.
func settle(bt *budgetv1alpha1.BudgetTransfer, now time.Time) {
	at := metav1.NewTime(now)
	bt.Status = budgetv1alpha1.BudgetTransferStatus{
		ObservedGeneration: bt.Generation,
		Phase:              budgetv1alpha1.PhaseSucceeded,
		Attempts:           1,
		SubmittedTime:      &at,
		LastAttemptTime:    &at,
		CompletionTime:     &at,
		Conditions: []metav1.Condition{{
			Type: budgetv1alpha1.ConditionReady, Status: metav1.ConditionTrue, ObservedGeneration: bt.Generation,
			LastTransitionTime: at, Reason: budgetv1alpha1.ReasonSucceeded, Message: "applied by BSS",
		}},
	}
}

// ledgerPlans reads every allocation and its transfers and returns a plan
// for each allocation that has moved money (a top-up that never fired has
// no ledger to continue), with how many settled transfers exist already.
func (w *world) ledgerPlans(ctx context.Context) ([]*ledgerPlan, int, error) {
	var allocs budgetv1alpha1.BudgetAllocationList
	if err := w.k8s.List(ctx, &allocs); err != nil {
		return nil, 0, err
	}
	var transfers budgetv1alpha1.BudgetTransferList
	if err := w.k8s.List(ctx, &transfers); err != nil {
		return nil, 0, err
	}
	plans, settled := plansOf(allocs.Items, transfers.Items)
	return plans, settled, nil
}

// plansOf pairs each allocation with its newest transfer (by sequence),
// and counts the settled transfers.
func plansOf(allocs []budgetv1alpha1.BudgetAllocation, transfers []budgetv1alpha1.BudgetTransfer) ([]*ledgerPlan, int) {
	newest := map[string]*budgetv1alpha1.BudgetTransfer{}
	settled := 0
	for i := range transfers {
		bt := &transfers[i]
		if p := bt.Status.Phase; p == budgetv1alpha1.PhaseSucceeded || p == budgetv1alpha1.PhaseFailed {
			settled++
		}
		key := bt.Namespace + "/" + bt.Spec.AllocationRef.Name
		if cur := newest[key]; cur == nil || bt.Spec.Sequence > cur.Spec.Sequence {
			newest[key] = bt
		}
	}
	var plans []*ledgerPlan
	for i := range allocs {
		ba := &allocs[i]
		bt := newest[ba.Namespace+"/"+ba.Name]
		id, ok := budgetallocation.LedgerID(ba)
		if bt == nil || !ok {
			continue
		}
		plans = append(plans, &ledgerPlan{ba: ba, ledgerID: id, newest: bt})
	}
	return plans, settled
}

// historyJob is one transfer to create.
type historyJob struct {
	plan *ledgerPlan
	seq  int64
}

// createHistory creates per settled transfers for each plan, continuing
// each ledger's sequence, with -history-workers at a time and no
// client-side rate limit. It returns how many it created.
func (w *world) createHistory(ctx context.Context, plans []*ledgerPlan, per int) (int64, error) {
	cfg := rest.CopyConfig(w.cp.Config)
	cfg.QPS = -1 // no client-side limit: the API server is what limits it
	c, err := localenv.NewClient(cfg)
	if err != nil {
		return 0, err
	}
	jobs := make([]historyJob, 0, len(plans)*per)
	for i := range per {
		for _, p := range plans { // one of each ledger in turn, as a busy cluster would
			jobs = append(jobs, historyJob{plan: p, seq: p.newest.Spec.Sequence + 1 + int64(i)})
		}
	}
	var done atomic.Int64
	stop := w.logProgress("history: created %d of %d settled transfers", &done, len(jobs))
	defer stop()
	err = workers(ctx, jobs, w.cfg.historyWorkers, func(ctx context.Context, j historyJob) error {
		if err := w.createSettled(ctx, c, j); err != nil {
			return err
		}
		done.Add(1)
		return nil
	})
	return done.Load(), err
}

// workers runs fn for every item with n at a time, and stops at the first
// error, which it returns.
func workers[T any](ctx context.Context, items []T, n int, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan T)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for it := range next {
				if err := fn(ctx, it); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for _, it := range items {
		select {
		case next <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}

// createSettled creates one history transfer and writes its status.
func (w *world) createSettled(ctx context.Context, c client.Client, j historyJob) error {
	bt := historyTransfer(j.plan, j.plan.newest.Spec.Sequence+1, j.seq)
	if err := c.Create(ctx, bt); err != nil {
		return fmt.Errorf("creating %s/%s: %w", bt.Namespace, bt.Name, err)
	}
	w.countBenchWrite(writeKey("budgettransfers", "", "POST"))
	settle(bt, time.Now())
	if err := c.Status().Update(ctx, bt); err != nil {
		return fmt.Errorf("settling %s/%s: %w", bt.Namespace, bt.Name, err)
	}
	w.countBenchWrite(writeKey("budgettransfers", "status", "PUT"))
	return nil
}

// preCheckpointStatus is the status patch that leaves p's allocation as
// the operator's version before checkpoints left it after per more
// transfers: no checkpoint, and the last transfer the newest, without a
// sequence (that version did not record one).
func preCheckpointStatus(p *ledgerPlan, per int) []byte {
	first := p.newest.Spec.Sequence + 1
	last := historyTransfer(p, first, first+int64(per)-1)
	patch := map[string]any{"status": map[string]any{
		"checkpoint": nil,
		"lastTransfer": budgetv1alpha1.TransferSummary{
			Name: last.Name, Operation: last.Spec.Operation, Amount: last.Spec.Amount, Phase: budgetv1alpha1.PhaseSucceeded,
		},
	}}
	b, err := json.Marshal(patch)
	if err != nil {
		panic(err) // a map of plain values always marshals
	}
	return b
}

// rewindStatus gives every planned allocation preCheckpointStatus.
func (w *world) rewindStatus(ctx context.Context, plans []*ledgerPlan, per int) error {
	return workers(ctx, plans, 16, func(ctx context.Context, p *ledgerPlan) error {
		ba := &budgetv1alpha1.BudgetAllocation{ObjectMeta: metav1.ObjectMeta{Namespace: p.ba.Namespace, Name: p.ba.Name}}
		if err := w.k8s.Status().Patch(ctx, ba, client.RawPatch(types.MergePatchType, preCheckpointStatus(p, per))); err != nil {
			return fmt.Errorf("rewinding the status of %s/%s: %w", ba.Namespace, ba.Name, err)
		}
		w.countBenchWrite(writeKey("budgetallocations", "status", "PATCH"))
		return nil
	})
}

// logProgress logs format (done, total) every 15 s until stopped.
func (w *world) logProgress(format string, done *atomic.Int64, total int) (stop func()) {
	quit := make(chan struct{})
	go func() {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				w.logf(format, done.Load(), total)
			}
		}
	}()
	return func() { close(quit) }
}

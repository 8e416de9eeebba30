// Package budgettransfer reconciles BudgetTransfers: it submits each one to
// BSS exactly as design.md §3 steps 3–6 describe. The phase moves to
// Submitting with a conflict-checked status write before any call; every
// call carries the transfer's fixed trans_id; 2xx and CBC.99007009 (already
// applied) mean Succeeded; terminal codes mean Failed; anything ambiguous
// stays Submitting and is resent later with the same trans_id, until a
// safety window passes and an administrator settles it.
package budgettransfer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/accounts"
	"github.com/bss-budget-operator/bss-budget-operator/internal/approval"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/metrics"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/payment"
)

// Reconciler reconciles BudgetTransfers.
type Reconciler struct {
	client.Client
	// APIReader reads around the cache: an approved transfer is checked
	// against its allocation as it is now. SetupWithManager fills it in
	// when nil.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Registry  *accounts.Registry
	Options   common.Options

	// Approvals serialises the approval decisions of one sub-account, so
	// that each sees the outcome of the one before.
	Approvals *common.KeyedLocks
}

// +kubebuilder:rbac:groups=budget.bss.dev,resources=budgettransfers,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=budget.bss.dev,resources=budgetallocations,verbs=get;list
// +kubebuilder:rbac:groups=budget.bss.dev,resources=budgettransfers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=budget.bss.dev,resources=enterpriseaccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups=budget.bss.dev,resources=orderpayments,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile advances one transfer by the step NextStep decides.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var bt budgetv1alpha1.BudgetTransfer
	if err := r.Get(ctx, req.NamespacedName, &bt); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	now := r.Options.Clock.Now()
	beh := r.behaviourOf(ctx, &bt)
	next := NextStep(&bt, now, r.timing(beh))
	switch next.Action {
	case ActionNothing, ActionAwait:
		return ctrl.Result{}, nil
	case ActionRelease:
		return r.release(ctx, &bt)
	case ActionWithdraw:
		return r.finish(ctx, &bt, budgetv1alpha1.PhaseFailed, budgetv1alpha1.ReasonWithdrawn,
			"withdrawn before it was sent: "+next.Why+"; nothing moved", nil, now, "Withdrawn")
	case ActionResolve:
		return r.resolve(ctx, &bt, bt.Annotations[budgetv1alpha1.AnnotationResolve], now)
	case ActionSupersede:
		return r.supersede(ctx, &bt, now)
	case ActionDecideApproval:
		return r.decideApproval(ctx, &bt, beh, now)
	case ActionDeny:
		msg := "denied by an approver"
		if c := meta.FindStatusCondition(bt.Status.Conditions, budgetv1alpha1.ConditionDenied); c != nil && c.Message != "" {
			msg += ": " + c.Message
		}
		return r.finish(ctx, &bt, budgetv1alpha1.PhaseFailed, budgetv1alpha1.ReasonDenied, msg, nil, now, "Denied")
	case ActionCheckAllocation:
		return r.approved(ctx, &bt, beh, now)
	case ActionOutcomeUnknown:
		return r.outcomeUnknown(ctx, &bt, beh)
	case ActionBackoff:
		return ctrl.Result{RequeueAfter: next.After}, nil
	}
	return r.submit(ctx, &bt, beh, now)
}

// timing is the transfer controller's timing for a master with the
// declared behaviour b: a transfer is resent only within the trans_id
// retention BSS is declared to have.
func (r *Reconciler) timing(b budgetv1alpha1.BSSBehaviour) Timing {
	return Timing{SafetyWindow: b.ResendWindow(r.Options.TransferSafetyWindow), RetryBase: r.Options.SubmitRetryBase, RetryMax: resendMax}
}

// approved sends an approved transfer if its allocation still asks for it:
// the allocation exists, is not being deleted, is Managed and is at the
// generation it confirmed the transfer for. The allocation is read from the
// API server, not the cache, so that a Paused or changed allocation is seen
// however recent the change. An allocation that is gone or going means
// nothing wants the transfer: it is withdrawn. Otherwise the allocation's
// controller decides (it confirms the transfer for its new generation or
// withdraws it), and its write brings the transfer back here.
func (r *Reconciler) approved(ctx context.Context, bt *budgetv1alpha1.BudgetTransfer, beh budgetv1alpha1.BSSBehaviour, now time.Time) (ctrl.Result, error) {
	var ba budgetv1alpha1.BudgetAllocation
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: bt.Namespace, Name: bt.Spec.AllocationRef.Name}, &ba)
	switch {
	case apierrors.IsNotFound(err), err == nil && !metav1.IsControlledBy(bt, &ba):
		return r.finish(ctx, bt, budgetv1alpha1.PhaseFailed, budgetv1alpha1.ReasonWithdrawn,
			"withdrawn before it was sent: its allocation no longer exists; nothing moved", nil, now, "Withdrawn")
	case err != nil:
		return ctrl.Result{}, err
	case !ba.DeletionTimestamp.IsZero():
		return r.finish(ctx, bt, budgetv1alpha1.PhaseFailed, budgetv1alpha1.ReasonWithdrawn,
			"withdrawn before it was sent: its allocation is being deleted; nothing moved", nil, now, "Withdrawn")
	}
	confirmed := bt.Annotations[budgetv1alpha1.AnnotationAllocationGeneration]
	if ba.Spec.ManagementPolicy == budgetv1alpha1.ManagementPolicyManaged && confirmed == strconv.FormatInt(ba.Generation, 10) {
		return r.submit(ctx, bt, beh, now)
	}
	msg := fmt.Sprintf("approved, but allocation %s changed since it asked for this transfer (generation %s, now %d, managementPolicy %s): it is sent only once the allocation confirms it",
		ba.Name, cmp.Or(confirmed, "unknown"), ba.Generation, ba.Spec.ManagementPolicy)
	// The allocation's answer (a confirmation or a withdrawal) is a write
	// to this transfer; the requeue is a safety net.
	return ctrl.Result{RequeueAfter: time.Minute}, r.writeReady(ctx, bt, budgetv1alpha1.ReasonAwaitingApproval, msg)
}

// release removes the finalizer of a deleted transfer whose outcome is
// known. A deleted transfer that is Submitting keeps it and is resent until
// BSS gives a definite answer (or an administrator resolves it): the garbage
// collector never drops a movement that may have happened.
func (r *Reconciler) release(ctx context.Context, bt *budgetv1alpha1.BudgetTransfer) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(bt, budgetv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	log.FromContext(ctx).Info("releasing deleted transfer", "transfer", bt.Name, "phase", bt.Status.Phase, "transID", bt.Spec.TransID)
	patch := client.MergeFrom(bt.DeepCopy())
	controllerutil.RemoveFinalizer(bt, budgetv1alpha1.Finalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.Patch(ctx, bt, patch))
}

// decideApproval sends a new transfer, or has it wait for approval. The
// decision and the write that records it (Submitting, or AwaitingApproval)
// happen under the sub-account's lock, against the API server's current
// list of its transfers, so that the next decision for that sub-account
// counts this one.
func (r *Reconciler) decideApproval(ctx context.Context, bt *budgetv1alpha1.BudgetTransfer, beh budgetv1alpha1.BSSBehaviour, now time.Time) (ctrl.Result, error) {
	if !approval.Applies(bt.Spec.Operation) {
		// A new transfer goes straight to Submitting: that write is the
		// one the protocol needs before the call, and a transfer with no
		// status is Pending to every reader.
		return r.submit(ctx, bt, beh, now)
	}
	unlock, err := r.Approvals.Lock(ctx, bt.Spec.CustomerID)
	if err != nil {
		return ctrl.Result{}, err
	}
	defer unlock()
	v, err := r.approvalVerdict(ctx, bt, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !v.Needed {
		return r.submit(ctx, bt, beh, now)
	}
	return r.transition(ctx, bt, budgetv1alpha1.PhaseAwaitingApproval, budgetv1alpha1.ReasonAwaitingApproval,
		v.Message+": set condition Approved=True (or Denied=True) on this transfer's status")
}

// approvalVerdict applies the EnterpriseAccount's approval settings to the
// transfer. Settings that cannot be read make it wait for an approver.
func (r *Reconciler) approvalVerdict(ctx context.Context, bt *budgetv1alpha1.BudgetTransfer, now time.Time) (approval.Verdict, error) {
	var ea budgetv1alpha1.EnterpriseAccount
	if err := r.Get(ctx, types.NamespacedName{Name: bt.Spec.EnterpriseAccountName}, &ea); err != nil {
		return approval.Unreadable(fmt.Sprintf("EnterpriseAccount %q: %v", bt.Spec.EnterpriseAccountName, err)), nil
	}
	settings, err := approval.SettingsOf(ea.Spec.Approval)
	if err != nil {
		return approval.Unreadable(fmt.Sprintf("EnterpriseAccount %q: %v", ea.Name, err)), nil
	}
	amount, _ := money.Parse(string(bt.Spec.Amount))
	cycle := billcycle.Of(now)
	// What moved this cycle matters only to a transfer that passes alone:
	// the list of the sub-account's transfers is read only then.
	if v := approval.Decide(settings, bt.Spec.Operation, amount, money.Zero, bt.Spec.SubAccountName, cycle); v.Needed || settings.PerCycle == nil {
		return v, nil
	}
	var list budgetv1alpha1.BudgetTransferList
	if err := r.APIReader.List(ctx, &list, client.MatchingLabels{budgetv1alpha1.LabelSubAccount: common.LabelValue(bt.Spec.SubAccountName)}); err != nil {
		return approval.Verdict{}, fmt.Errorf("listing the transfers of sub-account %s: %w", bt.Spec.SubAccountName, err)
	}
	payments, err := payment.ListOf(ctx, r.APIReader, bt.Spec.SubAccountName)
	if err != nil {
		return approval.Verdict{}, err
	}
	used := approval.UsedBy(list.Items, payments, bt.Spec.CustomerID, approval.MovementOf(bt), cycle, billcycle.Of)
	return approval.Decide(settings, bt.Spec.Operation, amount, used, bt.Spec.SubAccountName, cycle), nil
}

// transition writes a new phase (conflict-checked) and an event.
func (r *Reconciler) transition(ctx context.Context, bt *budgetv1alpha1.BudgetTransfer, phase budgetv1alpha1.TransferPhase, reason, msg string) (ctrl.Result, error) {
	old := bt.Status.Phase
	bt.Status.Phase = phase
	bt.Status.ObservedGeneration = bt.Generation
	common.SetCondition(&bt.Status.Conditions, bt.Generation, budgetv1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	if err := r.Status().Update(ctx, bt); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, err
	}
	if old != phase {
		r.Recorder.Eventf(bt, nil, corev1.EventTypeNormal, string(phase), "Transition", "%s → %s: %s", orPhase(old), phase, msg)
	}
	return ctrl.Result{}, nil
}

func orPhase(p budgetv1alpha1.TransferPhase) string {
	if p == "" {
		return "new"
	}
	return string(p)
}

// outcomeUnknown stops resending a transfer that got no definite answer
// for the whole safety window, or for as long as BSS is declared to
// remember its trans_id. A transfer already OutcomeUnknown keeps the
// message that says why.
func (r *Reconciler) outcomeUnknown(ctx context.Context, bt *budgetv1alpha1.BudgetTransfer, beh budgetv1alpha1.BSSBehaviour) (ctrl.Result, error) {
	if common.ReadyReason(bt.Status.Conditions, budgetv1alpha1.ConditionReady) == budgetv1alpha1.ReasonOutcomeUnknown {
		return ctrl.Result{}, nil
	}
	why := ""
	if window := beh.ResendWindow(r.Options.TransferSafetyWindow); window < r.Options.TransferSafetyWindow {
		why = fmt.Sprintf(" (BSS is declared to remember a trans_id for %s: a resend now could move the money again)", beh.TransIDRetention.Duration)
	}
	msg := fmt.Sprintf("no definite answer from BSS since %s (%d attempts, last %s); it is no longer resent%s: check BSS, then annotate %s=Succeeded or Failed",
		bt.Status.SubmittedTime.UTC().Format(time.RFC3339), bt.Status.Attempts, orCode(bt.Status.ErrorCode), why, budgetv1alpha1.AnnotationResolve)
	r.Recorder.Eventf(bt, nil, corev1.EventTypeWarning, budgetv1alpha1.ReasonOutcomeUnknown, "Submit", "%s", msg)
	return ctrl.Result{}, r.writeReady(ctx, bt, budgetv1alpha1.ReasonOutcomeUnknown, msg)
}

// writeReady sets Ready=False with reason and msg, writing only a change;
// a conflict means a newer version, which is reconciled next.
func (r *Reconciler) writeReady(ctx context.Context, bt *budgetv1alpha1.BudgetTransfer, reason, msg string) error {
	before := bt.Status.DeepCopy()
	common.SetCondition(&bt.Status.Conditions, bt.Generation, budgetv1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	if apiequality.Semantic.DeepEqual(before, &bt.Status) {
		return nil
	}
	if err := r.Status().Update(ctx, bt); err != nil && !apierrors.IsConflict(err) {
		return err
	}
	return nil
}

// submit sends (or resends) the transfer: steps 3 to 5 of the protocol.
// beh is the master's declared BSS behaviour (behaviourOf), read once
// by the reconcile.
func (r *Reconciler) submit(ctx context.Context, bt *budgetv1alpha1.BudgetTransfer, beh budgetv1alpha1.BSSBehaviour, now time.Time) (ctrl.Result, error) {
	acct, ok := r.Registry.Get(bt.Spec.EnterpriseAccountName)
	if !ok && r.Registry.Connecting(bt.Spec.EnterpriseAccountName) {
		// Right after a start, the connection is being rebuilt: nothing
		// to report yet.
		return ctrl.Result{RequeueAfter: accounts.ConnectingRetry}, nil
	}
	if !ok {
		if bt.Status.Phase == "" {
			bt.Status.Phase = budgetv1alpha1.PhasePending
		}
		// The EnterpriseAccount watch brings the transfer back once the
		// connection works; the requeue is a safety net.
		return ctrl.Result{RequeueAfter: 30 * time.Second}, r.writeReady(ctx, bt, budgetv1alpha1.ReasonEnterpriseAccountNotReady,
			fmt.Sprintf("EnterpriseAccount %s has no working connection", bt.Spec.EnterpriseAccountName))
	}
	var before *money.Amount
	if Bracketed(beh, bt.Spec.Operation) {
		// The master's balance right before the attempt, with the
		// operator's other writes to it held off until the answer is in.
		defer acct.LockMoney()()
		b, err := masterBalance(ctx, acct.Client, &bt.Spec)
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("reading the master's balance before sending %s: %w", bt.Name, err)
		}
		before = &b
	}

	// Step 3: record the attempt (and Submitting) with a conflict-checked
	// write before calling BSS. If another worker or a stale cache raced us,
	// the write fails and nothing is sent.
	if res, sent, err := r.markSubmitting(ctx, bt, now); !sent {
		return res, err
	}

	// Step 4: the call. Its context is detached from the reconcile's so that
	// a shutdown does not cut a call in half more often than necessary; the
	// outcome is ambiguous either way and the resend settles it.
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.Options.BSSCallTimeout)
	defer cancel()
	result, err := r.call(callCtx, acct, bt)

	// Step 5: what the answer means; a lost answer is settled at once where
	// the master's balance moved by exactly the amount.
	a := Interpret(bt.Spec.Operation, err, bt.Status.Attempts, r.timing(beh))
	if a.Phase == budgetv1alpha1.PhaseSubmitting && before != nil {
		if after, rerr := masterBalance(callCtx, acct.Client, &bt.Spec); rerr == nil {
			if ev, moved := BalanceEvidence(&bt.Spec, bt.Status.Attempts, *before, after); moved {
				bt.Status.Evidence = ev
				a = Answer{Phase: budgetv1alpha1.PhaseSucceeded, Reason: budgetv1alpha1.ReasonSucceeded, Metric: "Succeeded"}
			}
		}
	}
	return r.record(ctx, callCtx, acct, bt, beh, a, result, err, now)
}

// markSubmitting writes Submitting and one more attempt; sent is false
// when the write failed and nothing may be sent.
func (r *Reconciler) markSubmitting(ctx context.Context, bt *budgetv1alpha1.BudgetTransfer, now time.Time) (ctrl.Result, bool, error) {
	old := bt.Status.Phase
	nowMeta := metav1.NewTime(now)
	bt.Status.Phase = budgetv1alpha1.PhaseSubmitting
	if bt.Status.SubmittedTime == nil {
		bt.Status.SubmittedTime = &nowMeta
	}
	bt.Status.Attempts++
	bt.Status.LastAttemptTime = &nowMeta
	bt.Status.ObservedGeneration = bt.Generation
	common.SetCondition(&bt.Status.Conditions, bt.Generation, budgetv1alpha1.ConditionReady, metav1.ConditionFalse,
		budgetv1alpha1.ReasonSubmitting, fmt.Sprintf("sending to BSS with trans_id %s", bt.Spec.TransID))
	if err := r.Status().Update(ctx, bt); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: time.Second}, false, nil
		}
		return ctrl.Result{}, false, err
	}
	if old == budgetv1alpha1.PhaseAwaitingApproval {
		// A routine first send has no event of its own (its outcome event
		// names the trans_id); the end of a wait for approval does.
		r.Recorder.Eventf(bt, nil, corev1.EventTypeNormal, string(budgetv1alpha1.PhaseSubmitting), "Submit", "%s → Submitting with trans_id %s", orPhase(old), bt.Spec.TransID)
	}
	return ctrl.Result{}, true, nil
}

// record writes what an answer means: a final phase (with the cache effect
// of an applied transfer) or another round of Submitting.
func (r *Reconciler) record(ctx, callCtx context.Context, acct *accounts.Account, bt *budgetv1alpha1.BudgetTransfer, beh budgetv1alpha1.BSSBehaviour,
	a Answer, result *budgetv1alpha1.TransferResult, err error, now time.Time) (ctrl.Result, error) {
	switch a.Phase {
	case budgetv1alpha1.PhaseSucceeded:
		msg := "applied by BSS"
		if ev := bt.Status.Evidence; ev != nil && ev.Kind == budgetv1alpha1.EvidenceBalance {
			msg = "applied by BSS, whose answer was lost: " + ev.Detail
		}
		if a.AlreadyApplied {
			var stop *outcome
			if result, msg, stop = r.duplicate(ctx, callCtx, acct, bt, beh, a, err, now); stop != nil {
				return stop.res, stop.err
			}
		}
		log.FromContext(ctx).Info("transfer applied", "transfer", bt.Name, "operation", bt.Spec.Operation, "attempt", bt.Status.Attempts, "alreadyApplied", a.AlreadyApplied)
		applyEffect(acct, EffectOf(&bt.Spec), r.Options.Clock.Now())
		return r.finish(ctx, bt, budgetv1alpha1.PhaseSucceeded, a.Reason, msg, result, now, a.Metric)
	case budgetv1alpha1.PhaseFailed:
		bt.Status.ErrorCode, bt.Status.ErrorMessage = errorDetail(err)
		return r.finish(ctx, bt, budgetv1alpha1.PhaseFailed, a.Reason,
			fmt.Sprintf("BSS refused it: %s", common.DescribeBSSError(err)), nil, now, a.Metric)
	}
	return r.stillSubmitting(ctx, bt, err, a)
}

// outcome is the end of a reconcile decided on the way.
type outcome struct {
	res ctrl.Result
	err error
}

// duplicate settles a CBC.99007009 answer: the result and message of the
// movement it proves, or, where the evidence shows that nothing moved or
// nothing shows either, the step that ends the reconcile instead.
func (r *Reconciler) duplicate(ctx, callCtx context.Context, acct *accounts.Account, bt *budgetv1alpha1.BudgetTransfer, beh budgetv1alpha1.BSSBehaviour,
	a Answer, answer error, now time.Time) (*budgetv1alpha1.TransferResult, string, *outcome) {
	if bt.Status.Attempts == 1 {
		// No earlier attempt of this transfer exists: BSS saw the
		// trans_id before the transfer did.
		return nil, "", r.ledgerBehind(callCtx, ctx, acct, bt, beh, now)
	}
	result := &budgetv1alpha1.TransferResult{AlreadyApplied: true}
	msg := "BSS had already applied this trans_id (CBC.99007009): the earlier attempt succeeded"
	unclear := func(err error) *outcome {
		res, uerr := r.stillSubmitting(ctx, bt, err, Unclear(err, bt.Status.Attempts, r.timing(beh)))
		return &outcome{res, uerr}
	}
	proven := beh.DuplicateProvesApplied()
	if proven {
		bt.Status.Evidence = &budgetv1alpha1.TransferEvidence{Kind: budgetv1alpha1.EvidenceDuplicateAnswer,
			Detail: "CBC.99007009, and the EnterpriseAccount declares that BSS does not remember refused trans_ids"}
	}
	if a.FindSubCoupon {
		sub, ferr := r.findSubCoupon(callCtx, acct, bt)
		switch {
		case errors.Is(ferr, errNoSubCoupon) && !proven:
			return nil, "", r.unproven(ctx, bt, beh)
		case ferr != nil:
			return nil, "", unclear(ferr)
		}
		result.SubCouponID = sub
		if !proven {
			bt.Status.Evidence = &budgetv1alpha1.TransferEvidence{Kind: budgetv1alpha1.EvidenceSubCoupon,
				Detail: fmt.Sprintf("sub-coupon %s of coupon %s is on the sub-account and no other transfer claims it", sub, bt.Spec.CouponID)}
		}
		return result, msg, nil
	}
	if proven {
		return result, msg, nil
	}
	v, ev, err := r.confirmDuplicate(callCtx, acct.Client, bt, beh, now)
	switch {
	case err != nil:
		return nil, "", unclear(err)
	case v == VerdictMoved:
		bt.Status.Evidence = ev
		return result, "BSS had already applied this trans_id (CBC.99007009), as " + ev.Detail + " shows", nil
	case v == VerdictNotMoved:
		bt.Status.Evidence = ev
		bt.Status.ErrorCode, bt.Status.ErrorMessage = errorDetail(answer)
		res, ferr := r.finish(ctx, bt, budgetv1alpha1.PhaseFailed, budgetv1alpha1.ReasonTransIDBurned,
			"BSS answered CBC.99007009 but nothing moved ("+ev.Detail+"): it remembers trans_ids it refused; the allocation plans the movement again under a new trans_id",
			nil, now, "TransIDBurned")
		return nil, "", &outcome{res, ferr}
	}
	return nil, "", r.unproven(ctx, bt, beh)
}

// ledgerBehind stops a transfer whose first attempt BSS answered
// CBC.99007009: its allocation's ledger is older than BSS's books, and the
// step under this trans_id may have moved another amount. What the
// master's records show of it is named for the administrator.
func (r *Reconciler) ledgerBehind(callCtx, ctx context.Context, acct *accounts.Account, bt *budgetv1alpha1.BudgetTransfer, beh budgetv1alpha1.BSSBehaviour, now time.Time) *outcome {
	seen := ""
	if amountOperation(bt.Spec.Operation) {
		if v, ev, err := r.confirmDuplicate(callCtx, acct.Client, bt, beh, now); err == nil && v == VerdictMoved {
			bt.Status.Evidence = ev
			seen = " BSS shows " + ev.Detail + "."
		}
	}
	msg := fmt.Sprintf("BSS answered CBC.99007009 to the first attempt: it had seen trans_id %s before this transfer existed, so the allocation's ledger is older than BSS's books "+
		"(restored from a backup, rolled back in etcd, or transfers deleted by hand), and this step may have moved another amount.%s Nothing is sent until an administrator settles it: "+
		"annotate %s=Succeeded if BSS applied this very step under this trans_id, Failed if it moved nothing (docs/operations.md, LedgerBehindBSS)",
		bt.Spec.TransID, seen, budgetv1alpha1.AnnotationResolve)
	bt.Status.ErrorCode, bt.Status.ErrorMessage = bss.CodeDuplicateTransID, ""
	r.Recorder.Eventf(bt, nil, corev1.EventTypeWarning, budgetv1alpha1.ReasonLedgerBehindBSS, "Submit", "%s", msg)
	return &outcome{ctrl.Result{}, r.writeReady(ctx, bt, budgetv1alpha1.ReasonLedgerBehindBSS, msg)}
}

// unproven stops resending a transfer whose CBC.99007009 answer nothing
// confirms: resends would only answer the same.
func (r *Reconciler) unproven(ctx context.Context, bt *budgetv1alpha1.BudgetTransfer, beh budgetv1alpha1.BSSBehaviour) *outcome {
	msg := unproven(bt, beh)
	bt.Status.ErrorCode, bt.Status.ErrorMessage = bss.CodeDuplicateTransID, ""
	r.Recorder.Eventf(bt, nil, corev1.EventTypeWarning, budgetv1alpha1.ReasonOutcomeUnknown, "Submit", "%s", msg)
	return &outcome{ctrl.Result{}, r.writeReady(ctx, bt, budgetv1alpha1.ReasonOutcomeUnknown, msg)}
}

// stillSubmitting records an ambiguous outcome; the transfer is resent later
// with the same trans_id.
func (r *Reconciler) stillSubmitting(ctx context.Context, bt *budgetv1alpha1.BudgetTransfer, err error, a Answer) (ctrl.Result, error) {
	code, msg := errorDetail(err)
	bt.Status.ErrorCode, bt.Status.ErrorMessage = code, msg
	common.SetCondition(&bt.Status.Conditions, bt.Generation, budgetv1alpha1.ConditionReady, metav1.ConditionFalse, a.Reason,
		fmt.Sprintf("outcome unclear (%s); will resend with the same trans_id", orCode(code)))
	if uerr := r.Status().Update(ctx, bt); uerr != nil && !apierrors.IsConflict(uerr) {
		return ctrl.Result{}, uerr
	}
	return ctrl.Result{RequeueAfter: a.Requeue}, nil
}

func (r *Reconciler) call(ctx context.Context, acct *accounts.Account, bt *budgetv1alpha1.BudgetTransfer) (*budgetv1alpha1.TransferResult, error) {
	amount, _ := money.Parse(string(bt.Spec.Amount))
	balanceType := bss.BalanceTypeDebit
	if bt.Spec.BalanceType == budgetv1alpha1.BalanceTypeCredit {
		balanceType = bss.BalanceTypeCredit
	}
	req := bss.AmountTransferRequest{CustomerID: bt.Spec.CustomerID, Amount: amount, TransID: bt.Spec.TransID, BalanceType: balanceType, ExpireTime: bt.Spec.ExpireTime}
	switch bt.Spec.Operation {
	case budgetv1alpha1.OperationTransfer:
		return nil, acct.Client.TransferAmount(ctx, req)
	case budgetv1alpha1.OperationReclaim:
		return nil, acct.Client.ReclaimAmount(ctx, req)
	case budgetv1alpha1.OperationCouponTransfer:
		sub, err := acct.Client.TransferCoupon(ctx, bss.CouponTransferRequest{CustomerID: bt.Spec.CustomerID, CouponID: bt.Spec.CouponID, Amount: amount, TransID: bt.Spec.TransID})
		if err != nil {
			return nil, err
		}
		return &budgetv1alpha1.TransferResult{SubCouponID: sub}, nil
	case budgetv1alpha1.OperationCouponReclaim:
		got, err := acct.Client.ReclaimCoupon(ctx, bss.CouponReclaimRequest{CustomerID: bt.Spec.CustomerID, CouponID: bt.Spec.CouponID, SubCouponID: bt.Spec.SubCouponID, TransID: bt.Spec.TransID})
		if err != nil {
			return nil, err
		}
		return &budgetv1alpha1.TransferResult{ReclaimedAmount: budgetv1alpha1.Money(got.String())}, nil
	}
	return nil, fmt.Errorf("unknown operation %q: %w", bt.Spec.Operation, bss.ErrInvalidRequest)
}

// findSubCoupon finds the sub-coupon a CouponTransfer created when its
// response was lost: a sub-coupon of the parent coupon on the sub-account
// that no other transfer has claimed, preferring one whose balance equals
// the amount (it has not been spent yet).
func (r *Reconciler) findSubCoupon(ctx context.Context, acct *accounts.Account, bt *budgetv1alpha1.BudgetTransfer) (string, error) {
	subs, err := acct.Client.ListAllReclaimableCoupons(ctx, bt.Spec.CustomerID)
	if err != nil {
		return "", err
	}
	claimed, err := r.claimedSubCoupons(ctx, bt)
	if err != nil {
		return "", err
	}
	amount, _ := money.Parse(string(bt.Spec.Amount))
	var candidates []bss.SubCoupon
	for _, s := range subs {
		if s.CouponID == bt.Spec.CouponID && !claimed[s.SubCouponID] {
			candidates = append(candidates, s)
		}
	}
	sort.Slice(candidates, func(i, j int) bool {
		ei, ej := candidates[i].Balance == amount, candidates[j].Balance == amount
		if ei != ej {
			return ei
		}
		return candidates[i].SubCouponID < candidates[j].SubCouponID
	})
	if len(candidates) == 0 {
		return "", errNoSubCoupon
	}
	return candidates[0].SubCouponID, nil
}

// applyEffect keeps the master's cached balances in step with a transfer
// BSS applied, learnt at the time at.
func applyEffect(acct *accounts.Account, e CacheEffect, at time.Time) {
	if !e.CashDelta.IsZero() {
		acct.AdjustTransferableCash(e.CashDelta, at)
	}
	if e.ForgetCredit {
		accounts.Forget(acct, accounts.MasterCredit)
	}
	if e.ForgetCoupons {
		accounts.Forget(acct, accounts.MasterCoupons)
	}
}

// claimedSubCoupons are the sub-coupons of bt's customer that other
// transfers created or reclaimed: every transfer of its SubAccount, read
// from the API server (the cache holds no succeeded ones), and the grants
// the SubAccount's allocations have folded into their checkpoints.
func (r *Reconciler) claimedSubCoupons(ctx context.Context, bt *budgetv1alpha1.BudgetTransfer) (map[string]bool, error) {
	var all budgetv1alpha1.BudgetTransferList
	if err := r.APIReader.List(ctx, &all, client.MatchingLabels{budgetv1alpha1.LabelSubAccount: common.LabelValue(bt.Spec.SubAccountName)}); err != nil {
		return nil, err
	}
	claimed := map[string]bool{}
	for _, o := range all.Items {
		if o.UID != bt.UID && o.Spec.CustomerID == bt.Spec.CustomerID {
			if o.Status.Result != nil && o.Status.Result.SubCouponID != "" {
				claimed[o.Status.Result.SubCouponID] = true
			}
			if o.Spec.SubCouponID != "" {
				claimed[o.Spec.SubCouponID] = true
			}
		}
	}
	var allocs budgetv1alpha1.BudgetAllocationList
	if err := r.APIReader.List(ctx, &allocs); err != nil {
		return nil, err
	}
	for _, ba := range allocs.Items {
		if cp := ba.Status.Checkpoint; cp != nil && ba.Spec.SubAccountRef.Name == bt.Spec.SubAccountName {
			for _, h := range cp.Holdings {
				for _, g := range h.Coupons {
					if h.CustomerID == bt.Spec.CustomerID {
						claimed[g.SubCouponID] = true
					}
				}
			}
		}
	}
	return claimed, nil
}

// finish writes a final phase.
func (r *Reconciler) finish(ctx context.Context, bt *budgetv1alpha1.BudgetTransfer, phase budgetv1alpha1.TransferPhase, reason, msg string,
	result *budgetv1alpha1.TransferResult, now time.Time, metricResult string) (ctrl.Result, error) {
	old := bt.Status.Phase
	nowMeta := metav1.NewTime(now)
	bt.Status.Phase = phase
	bt.Status.CompletionTime = &nowMeta
	bt.Status.ObservedGeneration = bt.Generation
	if result != nil {
		bt.Status.Result = result
	}
	status := metav1.ConditionTrue
	eventType := corev1.EventTypeNormal
	if phase == budgetv1alpha1.PhaseFailed {
		status, eventType = metav1.ConditionFalse, corev1.EventTypeWarning
	} else {
		bt.Status.ErrorCode, bt.Status.ErrorMessage = "", ""
	}
	common.SetCondition(&bt.Status.Conditions, bt.Generation, budgetv1alpha1.ConditionReady, status, reason, msg)
	if err := r.Status().Update(ctx, bt); err != nil {
		if apierrors.IsConflict(err) {
			// The money may have moved; the next reconcile resends with the
			// same trans_id and BSS answers CBC.99007009.
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, err
	}
	r.Recorder.Eventf(bt, nil, eventType, string(phase), "Submit", "%s → %s (trans_id %s, %d attempt(s)): %s", orPhase(old), phase, bt.Spec.TransID, bt.Status.Attempts, msg)
	metrics.Transfers.WithLabelValues(string(bt.Spec.Operation), metricResult).Inc()
	if phase == budgetv1alpha1.PhaseSucceeded {
		amount, _ := money.Parse(string(bt.Spec.Amount))
		if result != nil && result.ReclaimedAmount != "" {
			amount, _ = money.Parse(string(result.ReclaimedAmount))
		}
		metrics.TransferredFen.WithLabelValues(string(bt.Spec.Operation)).Add(metrics.Fen(amount))
	}
	return ctrl.Result{}, nil
}

// resolve settles a Submitting transfer from the administrator's annotation.
func (r *Reconciler) resolve(ctx context.Context, bt *budgetv1alpha1.BudgetTransfer, res string, now time.Time) (ctrl.Result, error) {
	switch budgetv1alpha1.TransferPhase(res) {
	case budgetv1alpha1.PhaseSucceeded:
		if acct, ok := r.Registry.Get(bt.Spec.EnterpriseAccountName); ok {
			applyEffect(acct, EffectOf(&bt.Spec), now)
		}
		return r.finish(ctx, bt, budgetv1alpha1.PhaseSucceeded, budgetv1alpha1.ReasonResolvedByAdmin, "settled as Succeeded by the "+budgetv1alpha1.AnnotationResolve+" annotation", nil, now, "Resolved")
	case budgetv1alpha1.PhaseFailed:
		return r.finish(ctx, bt, budgetv1alpha1.PhaseFailed, budgetv1alpha1.ReasonResolvedByAdmin, "settled as Failed by the "+budgetv1alpha1.AnnotationResolve+" annotation", nil, now, "Resolved")
	}
	r.Recorder.Eventf(bt, nil, corev1.EventTypeWarning, "InvalidAnnotation", "Resolve", "%s must be Succeeded or Failed, not %q", budgetv1alpha1.AnnotationResolve, res)
	return ctrl.Result{}, nil
}

// supersede ends a transfer stopped with LedgerBehindBSS once its
// allocation counts, in its checkpoint, the step BSS's records show under
// its trans_id (an administrator accepted the reconstruction). Until then
// the allocation's write of the checkpoint brings it back here.
func (r *Reconciler) supersede(ctx context.Context, bt *budgetv1alpha1.BudgetTransfer, now time.Time) (ctrl.Result, error) {
	var ba budgetv1alpha1.BudgetAllocation
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: bt.Namespace, Name: bt.Spec.AllocationRef.Name}, &ba); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if cp := ba.Status.Checkpoint; cp == nil || cp.Sequence < bt.Spec.Sequence {
		return ctrl.Result{RequeueAfter: 2 * time.Second}, nil
	}
	return r.finish(ctx, bt, budgetv1alpha1.PhaseFailed, budgetv1alpha1.ReasonSuperseded,
		"BSS had applied another step under this trans_id before this transfer existed; an administrator accepted the reconstruction of the allocation's ledger, whose checkpoint counts that step, so this one is not sent",
		nil, now, "Superseded")
}

// errorDetail is the code and message of err for the transfer's status,
// cut to the 1024 characters the status field holds.
func errorDetail(err error) (string, string) {
	var be *bss.Error
	if errors.As(err, &be) {
		msg := be.Message
		if len(be.FailCheckItems) > 0 {
			msg = fmt.Sprintf("%s (failed checks: %v)", msg, be.FailCheckItems)
		}
		return be.Code, bss.Truncate(msg, maxErrorMessage)
	}
	return "", bss.Truncate(err.Error(), maxErrorMessage)
}

// maxErrorMessage is status.errorMessage's limit.
const maxErrorMessage = 1024

func orCode(c string) string {
	if c == "" {
		return "no BSS error code: transport error or timeout"
	}
	return c
}

// SetupWithManager registers the controller. Transfers are reconciled on
// every change, including status: approvers write conditions there.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Options.Defaults()
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Approvals == nil {
		r.Approvals = &common.KeyedLocks{}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&budgetv1alpha1.BudgetTransfer{}).
		Watches(&budgetv1alpha1.EnterpriseAccount{}, handler.EnqueueRequestsFromMapFunc(r.openTransfersOf),
			builder.WithPredicates(connectionChanged)).
		Named("budgettransfer").
		Complete(r)
}

// connectionChanged passes the EnterpriseAccount updates that can let an
// open transfer go on: its spec changed (credentials, endpoint, approval)
// or its Ready condition flipped. The status writes that publish the
// master's balances after every movement do not wake every open transfer.
var connectionChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*budgetv1alpha1.EnterpriseAccount)
		n, ok2 := e.ObjectNew.(*budgetv1alpha1.EnterpriseAccount)
		if !ok1 || !ok2 {
			return true
		}
		return o.Generation != n.Generation ||
			common.IsTrue(o.Status.Conditions, budgetv1alpha1.ConditionReady) != common.IsTrue(n.Status.Conditions, budgetv1alpha1.ConditionReady) ||
			common.ReadyReason(o.Status.Conditions, budgetv1alpha1.ConditionReady) != common.ReadyReason(n.Status.Conditions, budgetv1alpha1.ConditionReady)
	},
}

// openTransfersOf maps an EnterpriseAccount to its transfers that are not
// final, so that they resume as soon as its connection works (after a
// restart, or when credentials are fixed). The index holds open transfers
// only, so the thousands of settled ones are never listed.
func (r *Reconciler) openTransfersOf(ctx context.Context, o client.Object) []reconcile.Request {
	var list budgetv1alpha1.BudgetTransferList
	if err := r.List(ctx, &list, client.MatchingFields{common.IndexOpenTransferEnterprise: o.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, bt := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: bt.Namespace, Name: bt.Name}})
	}
	return reqs
}

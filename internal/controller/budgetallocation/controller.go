// Package budgetallocation reconciles BudgetAllocations: it checks that the
// allocation's namespace may fund the SubAccount, plans the next movement
// from the allocation's ledger of BudgetTransfers (see planner.Plan) and creates at
// most one BudgetTransfer at a time, with a deterministic trans_id, for the
// budgettransfer controller to submit.
package budgetallocation

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/metrics"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/payment"
	"github.com/bss-budget-operator/bss-budget-operator/internal/planner"
)

// Reconciler reconciles BudgetAllocations.
type Reconciler struct {
	client.Client
	// APIReader reads around the cache: the allocation's succeeded
	// transfers (the cache holds open ones only) and its audit trail.
	// SetupWithManager fills it in when nil.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Registry  *accounts.Registry
	Options   common.Options
}

// +kubebuilder:rbac:groups=budget.bss.dev,resources=budgetallocations,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=budget.bss.dev,resources=budgetallocations/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=budget.bss.dev,resources=budgetallocations/finalizers,verbs=update
// +kubebuilder:rbac:groups=budget.bss.dev,resources=budgettransfers,verbs=get;list;watch;create;delete;patch
// +kubebuilder:rbac:groups=budget.bss.dev,resources=ledgerrecords,verbs=get;list;create
// +kubebuilder:rbac:groups=budget.bss.dev,resources=subaccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups=budget.bss.dev,resources=orderpayments,verbs=get;list;watch
// +kubebuilder:rbac:groups=budget.bss.dev,resources=enterpriseaccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// scope is what one reconcile works with.
type scope struct {
	ba        *budgetv1alpha1.BudgetAllocation
	transfers []budgetv1alpha1.BudgetTransfer
	ledger    planner.Ledger
	// awaiting is the in-flight transfer still waiting for approval; it has
	// not reached BSS, so the plan is made without it and it is withdrawn
	// when the spec no longer asks for it.
	awaiting *budgetv1alpha1.BudgetTransfer
	sa       *budgetv1alpha1.SubAccount
	// ea is the master's EnterpriseAccount, when it can be read.
	ea   *budgetv1alpha1.EnterpriseAccount
	acct *accounts.Account
	now  time.Time
	// deleting: the allocation is being deleted (deletionPolicy Reclaim);
	// everything it granted is reclaimed.
	deleting bool
	// desired is what the spec asks for, once parsed.
	desired planner.Desired
	// halted stops the remaining phases; the result of the phase that
	// halted is the reconcile's.
	halted bool
	// fullRead: transfers holds every transfer of the allocation, read
	// from the API server in this reconcile (see readWholeLedger); folded
	// is how many of them it folded into the checkpoint. A reconcile that
	// folded creates nothing: the next one plans from the written
	// checkpoint.
	fullRead bool
	folded   int
	// readSequence is the sequence of status.checkpoint as this reconcile
	// read it (0 without one): the checkpoint that is written. Only the
	// transfers it counts may be compacted; a fold of this reconcile is
	// written with the status at the end, if that write succeeds.
	readSequence int64
	// compactAgain, when set, is how soon compaction has more to do.
	compactAgain time.Duration
}

// halt stops the remaining phases with result.
func (s *scope) halt(result ctrl.Result, err error) (ctrl.Result, error) {
	s.halted = true
	return result, err
}

// Reconcile moves one allocation one step towards its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var ba budgetv1alpha1.BudgetAllocation
	if err := r.Get(ctx, req.NamespacedName, &ba); err != nil {
		if apierrors.IsNotFound(err) {
			forgetMetrics(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if patched, err := r.ensureMetadata(ctx, &ba); err != nil || patched {
		// The patch's own watch event brings the allocation back, read
		// from a cache that has it; going on here would race that
		// reconcile with an older status.
		return ctrl.Result{}, err
	}
	if !ba.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(&ba, budgetv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}

	before := ba.Status.DeepCopy()
	s := &scope{ba: &ba, now: r.Options.Clock.Now()}
	if cp := ba.Status.Checkpoint; cp != nil {
		s.readSequence = cp.Sequence
	}
	result, err := r.reconcile(ctx, s)
	result = r.compactionDue(s, result)
	if s.ba.DeletionTimestamp.IsZero() || controllerutil.ContainsFinalizer(s.ba, budgetv1alpha1.Finalizer) {
		if !apiequality.Semantic.DeepEqual(before, &ba.Status) {
			if uerr := r.Status().Update(ctx, &ba); uerr != nil {
				if apierrors.IsConflict(uerr) || apierrors.IsNotFound(uerr) {
					return ctrl.Result{RequeueAfter: time.Second}, nil
				}
				return ctrl.Result{}, uerr
			}
		}
	}
	r.exportMetrics(&ba)
	return result, err
}

// ensureMetadata writes, in one patch, what the allocation's metadata must
// carry before anything moves: its ledger id (see LedgerID), and the
// finalizer: whatever its deletionPolicy, its transfers are written to the
// audit trail before it goes (and with Reclaim, its money is reclaimed).
func (r *Reconciler) ensureMetadata(ctx context.Context, ba *budgetv1alpha1.BudgetAllocation) (bool, error) {
	if !ba.DeletionTimestamp.IsZero() {
		return false, nil
	}
	patch := client.MergeFrom(ba.DeepCopy())
	changed := controllerutil.AddFinalizer(ba, budgetv1alpha1.Finalizer)
	if _, ok := LedgerID(ba); !ok {
		if old := ba.Annotations[budgetv1alpha1.AnnotationLedgerID]; old != "" {
			r.Recorder.Eventf(ba, nil, corev1.EventTypeNormal, "NewLedger", "Reconcile",
				"%s %q names another allocation: this one starts a ledger of its own", budgetv1alpha1.AnnotationLedgerID, old)
		}
		if ba.Annotations == nil {
			ba.Annotations = map[string]string{}
		}
		ba.Annotations[budgetv1alpha1.AnnotationLedgerID] = ba.Namespace + "/" + ba.Name + "/" + string(ba.UID)
		changed = true
	}
	if !changed {
		return false, nil
	}
	return true, r.Patch(ctx, ba, patch)
}

// LedgerID is the identity the allocation's trans_ids derive from: the id
// part of its ledger-id annotation, if that names this allocation (its
// namespace and name). A restored or re-applied allocation keeps it, and so
// sends the trans_ids it sent before; an allocation created afresh, or a
// copy under another name or namespace, gets its own (its UID).
func LedgerID(ba *budgetv1alpha1.BudgetAllocation) (string, bool) {
	v := ba.Annotations[budgetv1alpha1.AnnotationLedgerID]
	id, ok := strings.CutPrefix(v, ba.Namespace+"/"+ba.Name+"/")
	return id, ok && id != ""
}

// reconcile runs the phases of one reconcile in order until one halts or
// fails: read the ledger, let a deletion that needs no BSS call finish,
// find the SubAccount and check the namespace may fund it, move to its
// current customer, find the master's connection, set aside a transfer
// waiting for approval, parse the spec, plan, and act on the plan.
func (r *Reconciler) reconcile(ctx context.Context, s *scope) (ctrl.Result, error) {
	s.deleting = !s.ba.DeletionTimestamp.IsZero()
	return common.RunPhases(ctx, s, func() bool { return s.halted },
		r.readLedger,
		r.compact,
		r.finishEasyDeletion,
		r.resolveSubAccount,
		r.followCustomer,
		r.resolveConnection,
		r.setAsideAwaiting,
		r.parseSpec,
		r.reconstruction,
		r.planAndAct,
	)
}

// readLedger reads the allocation's transfers, records the ledger in status
// and prunes old failures.
func (r *Reconciler) readLedger(ctx context.Context, s *scope) (ctrl.Result, error) {
	if err := r.loadLedger(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	r.recordLedger(s)
	return ctrl.Result{}, r.pruneFailed(ctx, s)
}

// finishEasyDeletion ends the deletions that need no BSS call.
func (r *Reconciler) finishEasyDeletion(ctx context.Context, s *scope) (ctrl.Result, error) {
	if !s.deleting {
		return ctrl.Result{}, nil
	}
	if done, res, err := r.deletionShortcuts(ctx, s); done {
		return s.halt(res, err)
	}
	return ctrl.Result{}, nil
}

// blocked reports that the allocation cannot go on, and when to look again.
// A deletion that cannot go on is ReclaimBlocked, with the way out.
func (r *Reconciler) blocked(s *scope, reason, msg string, after time.Duration) (ctrl.Result, error) {
	if s.deleting {
		reason, msg = budgetv1alpha1.ReasonReclaimBlocked, msg+releaseHint
	}
	r.setReady(s.ba, metav1.ConditionFalse, reason, msg)
	return s.halt(ctrl.Result{RequeueAfter: after}, nil)
}

// resolveSubAccount reads the SubAccount and checks that it admits the
// allocation's namespace and is Ready (planner.SubAccountGate).
func (r *Reconciler) resolveSubAccount(ctx context.Context, s *scope) (ctrl.Result, error) {
	ba := s.ba
	var sa budgetv1alpha1.SubAccount
	found := true
	if err := r.Get(ctx, types.NamespacedName{Name: ba.Spec.SubAccountRef.Name}, &sa); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		found = false
	}
	admitted := true
	if found {
		s.sa = &sa
		if !s.deleting {
			var err error
			if admitted, err = r.namespaceAllowed(ctx, &sa, ba.Namespace); err != nil {
				return ctrl.Result{}, err
			}
		}
	}
	g := planner.SubAccountGate(ba, s.sa, admitted, s.deleting)
	switch {
	case g == nil:
		return ctrl.Result{}, nil
	case g.Reason == budgetv1alpha1.ReasonNamespaceNotAllowed:
		ba.Status.Planned = nil
		if ba.Spec.Amount != nil {
			ba.Status.Desired = *ba.Spec.Amount
			if a, err := money.Parse(string(*ba.Spec.Amount)); err == nil {
				ba.Status.Desired = budgetv1alpha1.Money(a.String())
			}
		}
		r.setReady(ba, metav1.ConditionFalse, g.Reason, g.Message)
		return s.halt(ctrl.Result{}, nil)
	}
	return r.blocked(s, g.Reason, g.Message, g.After)
}

// followCustomer summarises the ledger for the SubAccount's current
// customer: grants are counted only where they went.
func (r *Reconciler) followCustomer(_ context.Context, s *scope) (ctrl.Result, error) {
	if cust := s.sa.Status.CustomerID; cust != s.ledger.Customer {
		s.ledger = s.ledger.For(cust)
		r.recordLedger(s)
	}
	s.ba.Status.CustomerID = s.sa.Status.CustomerID
	return ctrl.Result{}, nil
}

// resolveConnection finds the master's BSS connection.
func (r *Reconciler) resolveConnection(_ context.Context, s *scope) (ctrl.Result, error) {
	name := s.sa.Spec.EnterpriseAccountRef.Name
	acct, ok := r.Registry.Get(name)
	if !ok && r.Registry.Connecting(name) {
		// Right after a start, the connection is being rebuilt: keep the
		// conditions as they are.
		return s.halt(ctrl.Result{RequeueAfter: accounts.ConnectingRetry}, nil)
	}
	if !ok {
		return r.blocked(s, budgetv1alpha1.ReasonEnterpriseAccountNotReady, fmt.Sprintf("EnterpriseAccount %s has no working connection", name), time.Minute)
	}
	s.acct = acct
	return ctrl.Result{}, nil
}

// setAsideAwaiting takes a transfer still waiting for approval out of the
// ledger: it has not reached BSS, so the plan is made without it, and act
// keeps it only if the plan asks for exactly that movement.
func (r *Reconciler) setAsideAwaiting(_ context.Context, s *scope) (ctrl.Result, error) {
	aw, rest := planner.Awaiting(s.ledger)
	if aw == nil {
		return ctrl.Result{}, nil
	}
	for i := range s.transfers {
		if s.transfers[i].Name == aw.Name {
			s.awaiting = &s.transfers[i]
		}
	}
	s.ledger = rest
	return ctrl.Result{}, nil
}

// parseSpec reads what the spec asks for. The CRD validates amounts, so a
// failure here is a spec only an older CRD let through: terminal.
func (r *Reconciler) parseSpec(ctx context.Context, s *scope) (ctrl.Result, error) {
	if got := new(budgetv1alpha1.EnterpriseAccount); r.Get(ctx, types.NamespacedName{Name: s.sa.Spec.EnterpriseAccountRef.Name}, got) == nil {
		s.ea = got
	}
	d, err := planner.DesiredOf(s.ba, s.ledger, s.deleting, planner.ApprovalKey(s.ea), s.now)
	if err != nil {
		r.setReady(s.ba, metav1.ConditionFalse, budgetv1alpha1.ReasonProgressing, err.Error())
		return s.halt(ctrl.Result{}, reconcile.TerminalError(err))
	}
	s.ba.Status.TopUp = nil
	if d.TopUp != nil {
		s.ba.Status.TopUp = &budgetv1alpha1.TopUpStatus{Cycle: d.TopUp.Cycle, Used: budgetv1alpha1.Money(d.TopUp.Used.String())}
	}
	s.desired = d
	return ctrl.Result{}, nil
}

// planAndAct plans the next movement (planner.Next: first with the
// previous customers of the SubAccount, then with its current one, reading
// BSS through the master's shared cache) and acts on it.
func (r *Reconciler) planAndAct(ctx context.Context, s *scope) (ctrl.Result, error) {
	in := planner.Input{
		Desired: s.desired, Ledger: s.ledger, SubAccount: s.sa.Name, Customer: s.sa.Status.CustomerID,
		EnterpriseAccount: s.sa.Spec.EnterpriseAccountRef.Name, Previous: planner.PreviousPolicies(s.sa),
		RetryAt: r.retryAt(s.ledger), Now: s.now,
	}
	if err := r.siblingBounds(ctx, s, &in); err != nil {
		return ctrl.Result{}, err
	}
	callCtx, cancel := context.WithTimeout(ctx, r.Options.BSSCallTimeout)
	defer cancel()
	dec, err := planner.Next(callCtx, in, &bssObserver{registry: r.Registry, acct: s.acct, now: s.now})
	if err != nil {
		return r.bssError(s.ba, err, s.deleting)
	}
	if dec.CustomerID == "" {
		s.ba.Status.Desired = budgetv1alpha1.Money(money.Max(dec.Desired, money.Zero).String())
	}
	return r.act(ctx, s, dec, s.deleting)
}

const releaseHint = "; to release the allocation without reclaiming, annotate it " + budgetv1alpha1.AnnotationReleaseFinalizer + "=true"

// deletionShortcuts handles deletions that need no BSS call. It reports
// whether it finished the reconcile.
func (r *Reconciler) deletionShortcuts(ctx context.Context, s *scope) (bool, ctrl.Result, error) {
	ba := s.ba
	release := func(why string) (bool, ctrl.Result, error) {
		res, err := r.letGo(ctx, s, "Released", why)
		return true, res, err
	}
	if f := s.ledger.InFlight; f != nil && f.Phase == budgetv1alpha1.PhaseSubmitting {
		// A movement BSS may have applied is settled before anything lets
		// the allocation go, so that its record is complete.
		r.setReady(ba, metav1.ConditionFalse, budgetv1alpha1.ReasonTransferInProgress,
			fmt.Sprintf("being deleted: waits until %s %s, which may have reached BSS, settles (or an administrator resolves it with %s)",
				f.Operation, f.Name, budgetv1alpha1.AnnotationResolve))
		return true, ctrl.Result{}, nil
	}
	switch {
	case ba.Annotations[budgetv1alpha1.AnnotationReleaseFinalizer] == "true":
		return release(fmt.Sprintf("released by annotation; %s stays granted to the sub-account", s.ledger.Granted))
	case ba.Spec.DeletionPolicy != budgetv1alpha1.DeletionPolicyReclaim:
		return release(fmt.Sprintf("deletionPolicy Retain: %s stays with the sub-account", s.ledger.Granted))
	case ba.Spec.ManagementPolicy == budgetv1alpha1.ManagementPolicyPlan:
		return release(fmt.Sprintf("managementPolicy Plan moves no money: %s stays with the sub-account", s.ledger.Granted))
	case s.ledger.InFlight == nil && s.ledger.Granted.IsZero() && len(s.ledger.Grants) == 0 && len(s.ledger.Others) == 0:
		return release("nothing to reclaim")
	}
	return false, ctrl.Result{}, nil
}

// compactionDue brings the next reconcile forward to when compaction has
// work: a retry, more than one record's worth, or the checkpoint's
// compactAt.
func (r *Reconciler) compactionDue(s *scope, result ctrl.Result) ctrl.Result {
	at := s.compactAgain
	if cp := s.ba.Status.Checkpoint; at == 0 && cp != nil && cp.CompactAt != nil && s.ba.DeletionTimestamp.IsZero() {
		at = max(cp.CompactAt.Sub(s.now), time.Second)
	}
	if at > 0 && (result.RequeueAfter == 0 || result.RequeueAfter > at) {
		result.RequeueAfter = at
	}
	return result
}

// letGo lets a deleted allocation go once its transfers are kept in the
// audit trail (keepTrailBeforeRelease), with an event saying why.
func (r *Reconciler) letGo(ctx context.Context, s *scope, reason, why string) (ctrl.Result, error) {
	done, err := r.keepTrailBeforeRelease(ctx, s)
	if err != nil || !done {
		r.setReady(s.ba, metav1.ConditionFalse, budgetv1alpha1.ReasonReclaiming, "being deleted: its transfers are settled (never-sent ones withdrawn) and kept in the audit trail first")
		return ctrl.Result{RequeueAfter: time.Second}, err
	}
	r.Recorder.Eventf(s.ba, nil, corev1.EventTypeNormal, reason, "Delete", "%s", why)
	patch := client.MergeFrom(s.ba.DeepCopy())
	controllerutil.RemoveFinalizer(s.ba, budgetv1alpha1.Finalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.Patch(ctx, s.ba, patch))
}

// siblingBounds fills in the bounds that depend on all the SubAccount's
// allocations: what its fundingLimit still allows this one to grant
// (planner.FundingHeadroom, which also counts what the SubAccount's
// OrderPayments paid) and, where BSS may count the sub-account's own
// top-ups as reclaimable, the most a cash reclaim may take
// (planner.ReclaimCapOf, which the planner asks for only when a cash
// reclaim may be due). The allocations are listed at most once, and only
// when one of them is needed.
func (r *Reconciler) siblingBounds(ctx context.Context, s *scope, in *planner.Input) error {
	siblings := sync.OnceValues(func() ([]budgetv1alpha1.BudgetAllocation, error) {
		var list budgetv1alpha1.BudgetAllocationList
		err := r.List(ctx, &list, client.MatchingFields{common.IndexAllocationSubAccount: s.sa.Name}, client.UnsafeDisableDeepCopy)
		return list.Items, err
	})
	if s.sa.Spec.FundingLimit != nil && !s.deleting {
		sibs, err := siblings()
		if err != nil {
			return err
		}
		payments, err := payment.ListOf(ctx, r.Client, s.sa.Name)
		if err != nil {
			return err
		}
		if in.FundingHeadroom, err = planner.FundingHeadroom(s.sa, s.ba, s.ledger, sibs, payments, s.deleting); err != nil {
			return err
		}
	}
	beh := budgetv1alpha1.BehaviourOf(s.ea)
	in.ReclaimCap = func() (*planner.ReclaimCap, error) {
		if !planner.Capped(beh, s.ba) {
			return nil, nil
		}
		sibs, err := siblings()
		if err != nil {
			return nil, err
		}
		return planner.ReclaimCapOf(beh, s.sa, s.ba, s.ledger, sibs, s.now), nil
	}
	return nil
}

// act carries out a decision under the allocation's management policy: a
// transfer waiting for approval is kept or withdrawn first, Plan and Paused
// only report, Managed (and any deletion) moves.
func (r *Reconciler) act(ctx context.Context, s *scope, dec planner.Decision, deleting bool) (ctrl.Result, error) {
	ba := s.ba
	mode := ba.Spec.ManagementPolicy
	if deleting {
		mode = budgetv1alpha1.ManagementPolicyManaged
	}
	ba.Status.Planned = nil
	if s.awaiting != nil {
		if res, done, err := r.settleAwaiting(ctx, s, dec, mode, deleting); done {
			return res, err
		}
	}
	switch mode {
	case budgetv1alpha1.ManagementPolicyPlan:
		return r.reportPlan(ctx, s, dec)
	case budgetv1alpha1.ManagementPolicyPaused:
		msg := "managementPolicy Paused: nothing moves"
		if f := s.ledger.InFlight; f != nil {
			msg = fmt.Sprintf("managementPolicy Paused: nothing new moves; %s %s, already sent to BSS, is finished first", f.Operation, f.Name)
		}
		r.setReady(ba, metav1.ConditionFalse, budgetv1alpha1.ReasonPaused, msg)
		return ctrl.Result{}, nil
	}

	switch dec.Action {
	case planner.ActionNone:
		if deleting {
			return r.letGo(ctx, s, "Reclaimed", fmt.Sprintf("reclaim finished; %s remains granted (not reclaimable)", s.ledger.Granted))
		}
		ba.Status.ObservedGeneration = ba.Generation
		r.setReady(ba, metav1.ConditionTrue, budgetv1alpha1.ReasonReady, dec.Message)
		return ctrl.Result{RequeueAfter: r.resync(ctx, s)}, nil
	case planner.ActionWait:
		return r.wait(s, dec, deleting)
	case planner.ActionBlocked:
		reason, msg := dec.Reason, dec.Message
		if deleting {
			reason, msg = budgetv1alpha1.ReasonReclaimBlocked, msg+releaseHint
		}
		if ba.Status.Conditions == nil || common.ReadyReason(ba.Status.Conditions, budgetv1alpha1.ConditionReady) != reason {
			r.Recorder.Eventf(ba, nil, corev1.EventTypeWarning, reason, "Plan", "%s", msg)
		}
		r.setReady(ba, metav1.ConditionFalse, reason, msg)
		return ctrl.Result{RequeueAfter: r.Options.FundsRecheckInterval}, nil
	}
	return r.createTransfer(ctx, s, dec, deleting)
}

// reportPlan shows, under managementPolicy Plan, what would move next.
func (r *Reconciler) reportPlan(ctx context.Context, s *scope, dec planner.Decision) (ctrl.Result, error) {
	msg := "nothing would move: " + dec.Message
	switch dec.Action {
	case planner.ActionCreate:
		s.ba.Status.Planned = &budgetv1alpha1.PlannedTransfer{Operation: dec.Operation, CouponID: dec.CouponID}
		if dec.Operation != budgetv1alpha1.OperationCouponReclaim {
			s.ba.Status.Planned.Amount = budgetv1alpha1.Money(dec.Amount.String())
		}
		msg = "would submit " + planner.Describe(dec)
	case planner.ActionBlocked:
		msg = "would not move money: " + dec.Message
	}
	r.setReady(s.ba, metav1.ConditionFalse, budgetv1alpha1.ReasonPlanned, "managementPolicy Plan: "+msg)
	return ctrl.Result{RequeueAfter: r.resync(ctx, s)}, nil
}

// wait reports a transfer in flight, one whose outcome is unknown, or a
// backoff after failures, and when to look again.
func (r *Reconciler) wait(s *scope, dec planner.Decision, deleting bool) (ctrl.Result, error) {
	reason, msg := dec.Reason, dec.Message
	if f := s.ledger.InFlight; f != nil {
		switch f.Reason {
		case budgetv1alpha1.ReasonOutcomeUnknown:
			reason, msg = f.Reason, fmt.Sprintf("the outcome of %s %s is unknown; check BSS and annotate it %s=Succeeded or Failed", f.Operation, f.Name, budgetv1alpha1.AnnotationResolve)
		case budgetv1alpha1.ReasonLedgerBehindBSS:
			reason, msg = f.Reason, fmt.Sprintf("BSS had already seen the trans_id of %s %s, a step this allocation's ledger believes new: the ledger is older than BSS's books (a restore, an etcd rollback, or transfers deleted by hand), and nothing moves until an administrator settles %s (see its message)",
				f.Operation, f.Name, f.Name)
		}
	}
	switch {
	case deleting && reason != budgetv1alpha1.ReasonTransferInProgress:
		reason, msg = budgetv1alpha1.ReasonReclaimBlocked, msg+releaseHint
	case deleting:
		reason = budgetv1alpha1.ReasonReclaiming
	}
	r.setReady(s.ba, metav1.ConditionFalse, reason, msg)
	after := time.Minute
	switch {
	case !dec.RetryAt.IsZero():
		after = dec.RetryAt.Sub(s.now) + 10*time.Millisecond
	case s.ledger.InFlight != nil:
		after = inFlightResync
	}
	return ctrl.Result{RequeueAfter: after}, nil
}

// settleAwaiting keeps a transfer that waits for approval only while the
// allocation is Managed and its plan asks for exactly that movement: it
// then confirms the transfer for the allocation's current generation, which
// the transfer controller checks before it sends an approved transfer.
// Otherwise it has the transfer withdrawn (the transfer controller ends it
// Failed with reason Withdrawn, so an approval arriving later moves
// nothing). Both writes are conflict-checked against the version read, so
// neither lands on a transfer that has moved on to Submitting. done is
// false when the reconcile should go on to report the management policy.
func (r *Reconciler) settleAwaiting(ctx context.Context, s *scope, dec planner.Decision, mode budgetv1alpha1.ManagementPolicy, deleting bool) (ctrl.Result, bool, error) {
	ba, aw := s.ba, s.awaiting
	gen := strconv.FormatInt(ba.Generation, 10)
	wanted, why := planner.Settle(planner.EntryOf(aw), dec, mode, deleting, s.sa.Status.CustomerID)
	switch {
	case aw.Annotations[budgetv1alpha1.AnnotationWithdraw] != "":
		why = aw.Annotations[budgetv1alpha1.AnnotationWithdraw]
		// Asked for already; its end wakes this allocation.
		wanted = false
	case wanted && aw.Annotations[budgetv1alpha1.AnnotationAllocationGeneration] == gen:
	default:
		patch := client.MergeFromWithOptions(aw.DeepCopy(), client.MergeFromWithOptimisticLock{})
		if aw.Annotations == nil {
			aw.Annotations = map[string]string{}
		}
		if wanted {
			aw.Annotations[budgetv1alpha1.AnnotationAllocationGeneration] = gen
		} else {
			aw.Annotations[budgetv1alpha1.AnnotationWithdraw] = why
		}
		if err := r.Patch(ctx, aw, patch); err != nil {
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				return ctrl.Result{RequeueAfter: time.Second}, true, nil
			}
			return ctrl.Result{}, true, err
		}
		if !wanted {
			r.Recorder.Eventf(ba, aw, corev1.EventTypeNormal, "TransferWithdrawn", "Plan", "withdrew %s, which was waiting for approval: %s", aw.Name, why)
		}
	}
	if wanted {
		r.setReady(ba, metav1.ConditionFalse, budgetv1alpha1.ReasonAwaitingApproval, fmt.Sprintf(
			"%s %s waits for approval (set condition Approved=True or Denied=True on its status)", aw.Spec.Operation, aw.Name))
		return ctrl.Result{}, true, nil
	}
	if mode != budgetv1alpha1.ManagementPolicyManaged && !deleting {
		return ctrl.Result{}, false, nil
	}
	reason := budgetv1alpha1.ReasonTransferInProgress
	if deleting {
		reason = budgetv1alpha1.ReasonReclaiming
	}
	r.setReady(ba, metav1.ConditionFalse, reason, fmt.Sprintf("withdrawing %s, which was waiting for approval: %s", aw.Name, why))
	return ctrl.Result{RequeueAfter: inFlightResync}, true, nil
}

func (r *Reconciler) createTransfer(ctx context.Context, s *scope, dec planner.Decision, deleting bool) (ctrl.Result, error) {
	ba := s.ba
	if ok, err := r.ledgerComplete(ctx, s); err != nil || !ok {
		return ctrl.Result{RequeueAfter: time.Second}, err
	}
	seq := s.ledger.NextSequence
	customer, ea := cmp.Or(dec.CustomerID, s.sa.Status.CustomerID), cmp.Or(dec.EnterpriseAccount, s.sa.Spec.EnterpriseAccountRef.Name)
	bt := &budgetv1alpha1.BudgetTransfer{
		ObjectMeta: metav1.ObjectMeta{
			Name:      TransferName(ba.Name, seq),
			Namespace: ba.Namespace,
			Labels: map[string]string{
				budgetv1alpha1.LabelAllocation: common.LabelValue(ba.Name), budgetv1alpha1.LabelSubAccount: common.LabelValue(s.sa.Name),
			},
			Annotations: map[string]string{
				budgetv1alpha1.AnnotationAllocationGeneration: strconv.FormatInt(ba.Generation, 10),
				budgetv1alpha1.AnnotationApprovalLimit:        s.desired.ApprovalLimit,
			},
			// The transfer controller lets a deleted transfer go only once
			// its outcome is known (or it was never sent): the garbage
			// collector must not drop a transfer BSS may have applied.
			Finalizers: []string{budgetv1alpha1.Finalizer},
		},
		Spec: budgetv1alpha1.BudgetTransferSpec{
			AllocationRef:         budgetv1alpha1.LocalObjectReference{Name: ba.Name},
			SubAccountName:        s.sa.Name,
			EnterpriseAccountName: ea,
			CustomerID:            customer,
			Operation:             dec.Operation,
			ExpireTime:            dec.ExpireTime,
			CouponID:              dec.CouponID,
			SubCouponID:           dec.SubCouponID,
			TransID:               TransID(ledgerOrUID(ba), seq),
			Sequence:              seq,
		},
	}
	if dec.Operation == budgetv1alpha1.OperationTransfer || dec.Operation == budgetv1alpha1.OperationReclaim {
		bt.Spec.BalanceType = budgetv1alpha1.BalanceTypeDebit
		if ba.Spec.BalanceType == budgetv1alpha1.BalanceTypeCredit {
			bt.Spec.BalanceType = budgetv1alpha1.BalanceTypeCredit
		}
	}
	if dec.Operation != budgetv1alpha1.OperationCouponReclaim {
		bt.Spec.Amount = budgetv1alpha1.Money(dec.Amount.String())
	}
	if err := controllerutil.SetControllerReference(ba, bt, r.Scheme()); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.Create(ctx, bt); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return r.nameTaken(ctx, s, bt.Name)
		}
		return ctrl.Result{}, err
	}
	if cur := s.sa.Status.CurrentCycle; cur != nil && seq == 1 && ba.Status.SpendBaseline == nil {
		// What the sub-account had spent before it got anything from this
		// allocation; planner.ReclaimCapOf counts spending from here.
		ba.Status.SpendBaseline = &budgetv1alpha1.SpendBaseline{Cycle: cur.Cycle, Cash: budgetv1alpha1.Money(cmp.Or(string(cur.Cash), "0.00"))}
	}
	log.FromContext(ctx).Info("created transfer", "transfer", bt.Name, "operation", dec.Operation, "amount", dec.Amount.String())
	r.Recorder.Eventf(ba, bt, corev1.EventTypeNormal, "TransferCreated", "Plan", "created %s: %s", bt.Name, planner.Describe(dec))
	ba.Status.LastTransfer = &budgetv1alpha1.TransferSummary{Name: bt.Name, Operation: dec.Operation, Amount: bt.Spec.Amount, Phase: budgetv1alpha1.PhasePending, Sequence: seq}
	if dec.Operation == budgetv1alpha1.OperationTransfer || dec.Operation == budgetv1alpha1.OperationReclaim {
		signed := dec.Amount
		if dec.Operation == budgetv1alpha1.OperationReclaim {
			signed = signed.Neg()
		}
		ba.Status.Pending = signed.String()
	}
	reason := budgetv1alpha1.ReasonTransferInProgress
	if deleting {
		reason = budgetv1alpha1.ReasonReclaiming
	}
	// The same message the next reconcile derives from the ledger, so that
	// it has nothing to write while the transfer waits its turn.
	r.setReady(ba, metav1.ConditionFalse, reason, planner.InFlightMessage(bt.Spec.Operation, bt.Name, budgetv1alpha1.PhasePending))
	return ctrl.Result{RequeueAfter: inFlightResync}, nil
}

// nameTaken handles a transfer name that exists already. Usually another
// worker, or a reconcile from a stale cache, created this very transfer:
// look again. If the object is not this allocation's, nothing can move
// under that name; say so instead of retrying in silence.
func (r *Reconciler) nameTaken(ctx context.Context, s *scope, name string) (ctrl.Result, error) {
	var other budgetv1alpha1.BudgetTransfer
	// Read around the cache, which holds no succeeded transfer.
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: s.ba.Namespace, Name: name}, &other); err != nil {
		return ctrl.Result{RequeueAfter: time.Second}, client.IgnoreNotFound(err)
	}
	if metav1.IsControlledBy(&other, s.ba) {
		// This allocation's own: another worker's, or one the ledger has
		// not folded yet. Reading the whole ledger folds it; the next
		// reconcile plans from that.
		return ctrl.Result{RequeueAfter: time.Second}, r.readWholeLedger(ctx, s)
	}
	msg := fmt.Sprintf("the name of the next transfer, %s, is taken by a BudgetTransfer this allocation does not own (it belongs to %s); nothing moves until it is gone",
		name, cmp.Or(other.Spec.AllocationRef.Name, "no allocation"))
	if common.ReadyReason(s.ba.Status.Conditions, budgetv1alpha1.ConditionReady) != budgetv1alpha1.ReasonTransferNameConflict {
		r.Recorder.Eventf(s.ba, &other, corev1.EventTypeWarning, budgetv1alpha1.ReasonTransferNameConflict, "Plan", "%s", msg)
	}
	r.setReady(s.ba, metav1.ConditionFalse, budgetv1alpha1.ReasonTransferNameConflict, msg)
	return ctrl.Result{RequeueAfter: time.Minute}, nil
}

// inFlightResync is how often an allocation with a transfer in flight looks
// again on its own. The transfer's updates wake it; this is only a safety
// net, long enough that an allocation whose transfer waits its turn behind
// thousands of others is not reconciled for nothing.
const inFlightResync = 10 * time.Minute

// TransferName is the deterministic name of an allocation's seq-th
// transfer: the allocation's name and the sequence. A name too long for that
// is cut and followed by a hash of the whole name, so that two allocations
// whose names share a long prefix never share transfer names.
func TransferName(allocation string, seq int64) string {
	base := allocation
	if len(base) > maxTransferBase {
		sum := sha256.Sum256([]byte(allocation))
		base = strings.TrimRight(base[:maxTransferBase-9], "-.") + "-" + hex.EncodeToString(sum[:])[:8]
	}
	return fmt.Sprintf("%s-%05d", base, seq)
}

// maxTransferBase leaves room in a 253-character name for "-" and a
// sequence of up to 22 digits.
const maxTransferBase = 230

// TransID is the deterministic trans_id of an allocation's seq-th transfer:
// 32 lowercase hex characters from the allocation's ledger id (see
// LedgerID; the UID of the allocation that started the ledger) and the
// sequence.
func TransID(ledgerID string, seq int64) string {
	sum := sha256.Sum256([]byte(ledgerID + "/" + strconv.FormatInt(seq, 10)))
	return hex.EncodeToString(sum[:])[:32]
}

// ledgerOrUID is the id part of the allocation's ledger id (see
// planner.LedgerIDOf): its UID until the annotation is written
// (ensureMetadata writes it before any transfer is planned).
func ledgerOrUID(ba *budgetv1alpha1.BudgetAllocation) string {
	return strings.TrimPrefix(planner.LedgerIDOf(ba), ba.Namespace+"/"+ba.Name+"/")
}

// loadLedger reads the allocation's transfers and summarises them for the
// customer the allocation last funded (its status), or, without that, the
// customer of its newest transfer; the reconcile moves to the SubAccount's
// current customer once it has read the SubAccount.
func (r *Reconciler) loadLedger(ctx context.Context, s *scope) error {
	var list budgetv1alpha1.BudgetTransferList
	if err := r.List(ctx, &list, client.InNamespace(s.ba.Namespace), client.MatchingFields{common.IndexTransferAllocation: s.ba.Name}); err != nil {
		return err
	}
	s.transfers = planner.Owned(s.ba, list.Items)
	if lastTransferGone(s) {
		return r.readLastTransfer(ctx, s)
	}
	var err error
	s.ledger, err = planner.LedgerOf(s.ba, s.transfers)
	return err
}

// ledgerComplete says whether a new transfer may be created from the
// ledger this reconcile planned from: not if it folded anything (the
// checkpoint is written first). An allocation without a checkpoint reads
// its whole ledger first — and the kept trail of its ledger id, if it is a
// restored or re-applied one — unless its ledger is its own and new (its
// ledger id is its UID, and it has recorded no transfer): nothing can
// precede it. Otherwise the checkpoint and the cache are the whole ledger:
// every transfer but the newest is folded before a newer one is created,
// the newest is read when it leaves the cache (readLastTransfer), and one
// the ledger still missed would hold the name the next transfer takes
// (nameTaken folds it).
func (r *Reconciler) ledgerComplete(ctx context.Context, s *scope) (bool, error) {
	if !s.fullRead && s.ba.Status.Checkpoint == nil {
		if id, _ := LedgerID(s.ba); id == string(s.ba.UID) && s.ba.Status.LastTransfer == nil && len(s.transfers) == 0 {
			s.ba.Status.Checkpoint = &budgetv1alpha1.LedgerCheckpoint{}
			return true, nil
		}
		before := s.ledger
		if err := r.readWholeLedger(ctx, s); err != nil {
			return false, err
		}
		if cust := s.sa.Status.CustomerID; cust != s.ledger.Customer {
			s.ledger = s.ledger.For(cust)
		}
		if s.ledger.NextSequence != before.NextSequence || s.ledger.InFlight != nil || s.ledger.Granted != before.Granted {
			r.recordLedger(s)
			return false, nil
		}
	}
	return s.folded == 0, nil
}

// recordLedger copies the ledger into status.
func (r *Reconciler) recordLedger(s *scope) {
	st := &s.ba.Status
	l := s.ledger
	st.Granted = budgetv1alpha1.Money(money.Max(l.Granted, money.Zero).String())
	st.Pending = l.Pending().String()
	st.Coupons = nil
	for _, id := range slices.Sorted(maps.Keys(l.Grants)) {
		g := l.Grants[id]
		st.Coupons = append(st.Coupons, budgetv1alpha1.CouponGrantStatus{CouponID: id, SubCouponID: g.SubCouponID, Amount: budgetv1alpha1.Money(g.Amount.String())})
	}
	if last := newestTransfer(s); last != nil {
		st.LastTransfer = &budgetv1alpha1.TransferSummary{Name: last.Name, Operation: last.Operation, Phase: last.Phase, Sequence: last.Sequence}
		if last.Operation != budgetv1alpha1.OperationCouponReclaim {
			st.LastTransfer.Amount = budgetv1alpha1.Money(last.Amount.String())
		}
		if st.LastTransfer.Phase == "" {
			st.LastTransfer.Phase = budgetv1alpha1.PhasePending
		}
	}
	st.ConsecutiveFailures = int32(l.ConsecutiveFailures)
	st.NextAttemptTime = nil
	if at := r.retryAt(l); !at.IsZero() && at.After(s.now) {
		t := metav1.NewTime(at.Truncate(time.Second).Add(time.Second))
		st.NextAttemptTime = &t
	}
}

// newestTransfer is the allocation's transfer with the highest sequence:
// the ledger's newest entry, or, after a read of the whole ledger, a newer
// one the checkpoint has folded.
func newestTransfer(s *scope) *planner.Entry {
	last := s.ledger.Last
	if !s.fullRead {
		return last
	}
	for i := range s.transfers {
		if bt := &s.transfers[i]; last == nil || bt.Spec.Sequence > last.Sequence {
			e := planner.EntryOf(bt)
			last = &e
		}
	}
	return last
}

// retryAt is when a new transfer may follow the last failure.
func (r *Reconciler) retryAt(l planner.Ledger) time.Time {
	if l.LastFailure == nil {
		return time.Time{}
	}
	at := l.LastFailure.Completed
	if at.IsZero() {
		at = l.LastFailure.Created
	}
	return at.Add(common.Backoff(l.ConsecutiveFailures, r.Options.TransferRetryBase, r.Options.TransferRetryMax))
}

// pruneFailed deletes the oldest Failed transfers beyond MaxFailedTransfers,
// except the newest denial.
func (r *Reconciler) pruneFailed(ctx context.Context, s *scope) error {
	var failed []budgetv1alpha1.BudgetTransfer
	for _, bt := range s.transfers {
		// The newest denial is kept: it stops the movement from being
		// asked for again.
		if bt.Status.Phase == budgetv1alpha1.PhaseFailed && (s.ledger.Denied == nil || bt.Name != s.ledger.Denied.Name) {
			failed = append(failed, bt)
		}
	}
	if len(failed) <= r.Options.MaxFailedTransfers {
		return nil
	}
	sort.Slice(failed, func(i, j int) bool { return failed[i].Spec.Sequence < failed[j].Spec.Sequence })
	for i := range failed[:len(failed)-r.Options.MaxFailedTransfers] {
		if err := r.Delete(ctx, &failed[i]); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}

func (r *Reconciler) namespaceAllowed(ctx context.Context, sa *budgetv1alpha1.SubAccount, namespace string) (bool, error) {
	return sa.Spec.AllowedNamespaces.Admits(namespace, func() (map[string]string, bool, error) {
		var ns corev1.Namespace
		if err := r.Get(ctx, types.NamespacedName{Name: namespace}, &ns); err != nil {
			return nil, false, client.IgnoreNotFound(err)
		}
		return ns.Labels, true, nil
	})
}

func (r *Reconciler) bssError(ba *budgetv1alpha1.BudgetAllocation, err error, deleting bool) (ctrl.Result, error) {
	reason, after := common.ClassifyBSSError(err)
	msg := common.DescribeBSSError(err)
	if bss.IsRetryableRead(err) && !bss.IsThrottled(err) {
		// A transient BSS answer (CBC.0999, a reset): look again soon
		// rather than at the error class's usual pace.
		after = 2 * time.Second
	}
	if bss.IsSubAccountNotFound(err) {
		reason, after = budgetv1alpha1.ReasonSubAccountNotReady, 5*time.Minute
	}
	if deleting {
		reason, msg = budgetv1alpha1.ReasonReclaimBlocked, msg+releaseHint
	}
	r.setReady(ba, metav1.ConditionFalse, reason, msg)
	return ctrl.Result{RequeueAfter: after}, nil
}

func (r *Reconciler) setReady(ba *budgetv1alpha1.BudgetAllocation, status metav1.ConditionStatus, reason, msg string) {
	common.SetCondition(&ba.Status.Conditions, ba.Generation, budgetv1alpha1.ConditionReady, status, reason, msg)
}

// resync is how often a settled allocation looks again: top-ups follow the
// master's balance sync interval, fixed amounts need no polling.
func (r *Reconciler) resync(ctx context.Context, s *scope) time.Duration {
	if s.ba.Spec.TopUp == nil {
		return common.Jitter(30*time.Minute, 0.1)
	}
	interval := 10 * time.Minute
	var ea budgetv1alpha1.EnterpriseAccount
	if err := r.Get(ctx, types.NamespacedName{Name: s.sa.Spec.EnterpriseAccountRef.Name}, &ea); err == nil &&
		ea.Spec.BalanceSyncInterval != nil && ea.Spec.BalanceSyncInterval.Duration > 0 {
		interval = ea.Spec.BalanceSyncInterval.Duration
	}
	return common.Jitter(interval, 0.1)
}

func (r *Reconciler) exportMetrics(ba *budgetv1alpha1.BudgetAllocation) {
	if !ba.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(ba, budgetv1alpha1.Finalizer) {
		forgetMetrics(ba.Namespace, ba.Name)
		return
	}
	g, _ := money.Parse(string(ba.Status.Granted))
	p, _ := money.ParseDecimal(ba.Status.Pending)
	metrics.AllocationGranted.WithLabelValues(ba.Namespace, ba.Name, ba.Spec.SubAccountRef.Name).Set(metrics.Fen(g))
	metrics.AllocationPending.WithLabelValues(ba.Namespace, ba.Name, ba.Spec.SubAccountRef.Name).Set(metrics.Fen(p))
}

// forgetMetrics drops the series of an allocation that is gone.
func forgetMetrics(namespace, name string) {
	l := prometheus.Labels{"namespace": namespace, "allocation": name}
	metrics.AllocationGranted.DeletePartialMatch(l)
	metrics.AllocationPending.DeletePartialMatch(l)
}

// SetupWithManager registers the controller with its watches: owned
// BudgetTransfers, the referenced SubAccount (through a field index) and the
// namespace's labels.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Options.Defaults()
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&budgetv1alpha1.BudgetAllocation{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, finalizersChanged))).
		Owns(&budgetv1alpha1.BudgetTransfer{}, builder.WithPredicates(transferChangeMatters)).
		Watches(&budgetv1alpha1.SubAccount{}, handler.EnqueueRequestsFromMapFunc(r.allocationsForSubAccount),
			builder.WithPredicates(subAccountChangeMatters)).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.allocationsInNamespace),
			builder.WithPredicates(predicate.LabelChangedPredicate{})).
		Watches(&budgetv1alpha1.EnterpriseAccount{}, handler.EnqueueRequestsFromMapFunc(r.allocationsOfEnterpriseAccount),
			builder.WithPredicates(approvalChanged)).
		Named("budgetallocation").
		Complete(r)
}

// finalizersChanged passes allocation updates that change its finalizers:
// ensureMetadata's patch, which may add nothing else, brings the
// allocation back to be planned.
var finalizersChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return !slices.Equal(e.ObjectOld.GetFinalizers(), e.ObjectNew.GetFinalizers())
	},
}

// subAccountChangeMatters passes SubAccount events that can change what an
// allocation does: creation and deletion, spec changes (allowedNamespaces,
// fundingLimit), a new customer id and Ready flipping. Balance and bill
// syncs, which rewrite the status every interval, do not wake every
// allocation of the sub-account.
var subAccountChangeMatters = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*budgetv1alpha1.SubAccount)
		n, ok2 := e.ObjectNew.(*budgetv1alpha1.SubAccount)
		if !ok1 || !ok2 {
			return true
		}
		return o.Generation != n.Generation || o.Status.CustomerID != n.Status.CustomerID ||
			common.IsTrue(o.Status.Conditions, budgetv1alpha1.ConditionReady) != common.IsTrue(n.Status.Conditions, budgetv1alpha1.ConditionReady) ||
			!n.DeletionTimestamp.IsZero()
	},
}

// transferChangeMatters passes the BudgetTransfer updates an allocation
// acts on or reports: outcomes, approvals, errors and OutcomeUnknown. The
// start of a submission (Pending to Submitting with no error) does not wake
// the allocation: its outcome follows within one BSS call and is what the
// allocation reports; a resend that changes nothing the ledger reads is
// skipped too. Creations are the allocation's own doing and need no echo.
var transferChangeMatters = predicate.Funcs{
	CreateFunc: func(event.CreateEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*budgetv1alpha1.BudgetTransfer)
		n, ok2 := e.ObjectNew.(*budgetv1alpha1.BudgetTransfer)
		if !ok1 || !ok2 {
			return true
		}
		before, after := planner.EntryOf(o), planner.EntryOf(n)
		if before.Phase == "" {
			before.Phase = budgetv1alpha1.PhasePending
		}
		if before.Phase == budgetv1alpha1.PhasePending && after.Phase == budgetv1alpha1.PhaseSubmitting && after.ErrorCode == "" {
			return false
		}
		return before.Phase != after.Phase || before.ErrorCode != after.ErrorCode || before.Reason != after.Reason ||
			o.Annotations[budgetv1alpha1.AnnotationAcceptReconstruction] != n.Annotations[budgetv1alpha1.AnnotationAcceptReconstruction] ||
			before.SubCouponID != after.SubCouponID || !before.Completed.Equal(after.Completed) ||
			o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero()
	},
}

func (r *Reconciler) allocationsForSubAccount(ctx context.Context, o client.Object) []reconcile.Request {
	var list budgetv1alpha1.BudgetAllocationList
	if err := r.List(ctx, &list, client.MatchingFields{common.IndexAllocationSubAccount: o.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	return requests(list.Items)
}

// approvalChanged passes EnterpriseAccount updates that change the approval
// settings: a denied movement is asked for again under new ones.
var approvalChanged = predicate.Funcs{
	CreateFunc: func(event.CreateEvent) bool { return false },
	DeleteFunc: func(event.DeleteEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*budgetv1alpha1.EnterpriseAccount)
		n, ok2 := e.ObjectNew.(*budgetv1alpha1.EnterpriseAccount)
		return !ok1 || !ok2 || !apiequality.Semantic.DeepEqual(o.Spec.Approval, n.Spec.Approval)
	},
}

func (r *Reconciler) allocationsOfEnterpriseAccount(ctx context.Context, o client.Object) []reconcile.Request {
	var subs budgetv1alpha1.SubAccountList
	if err := r.List(ctx, &subs, client.MatchingFields{common.IndexSubAccountEnterprise: o.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range subs.Items {
		out = append(out, r.allocationsForSubAccount(ctx, &subs.Items[i])...)
	}
	return out
}

func (r *Reconciler) allocationsInNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	var list budgetv1alpha1.BudgetAllocationList
	if err := r.List(ctx, &list, client.InNamespace(o.GetName()), client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	return requests(list.Items)
}

func requests(items []budgetv1alpha1.BudgetAllocation) []reconcile.Request {
	out := make([]reconcile.Request, 0, len(items))
	for _, ba := range items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ba.Namespace, Name: ba.Name}})
	}
	return out
}

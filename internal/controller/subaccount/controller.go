// Package subaccount reconciles SubAccounts: it adopts an enterprise
// sub-account by customer id or creates one (with the master's phone or an
// SMS verification code a person stores in a Secret), and reports the
// sub-account's reclaimable balances, the money BudgetAllocations granted
// it and OrderPayments paid for it, its monthly bills and orders, its
// orders pending payment, and its consumption against the monthly budget,
// in status, events and metrics. With the orderPayment policy in mode Auto
// it creates the OrderPayments of the pending orders that fit the policy.
package subaccount

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
)

// Event reasons besides the Ready condition's reasons.
const (
	eventAdopted              = "Adopted"
	eventCreated              = "Created"
	eventCreateRequested      = "CreateRequested"
	eventVerificationCodeSent = "VerificationCodeSent"
)

// thresholdReason is the event reason of a budget threshold, e.g.
// BudgetThreshold80Reached. Each threshold has its own reason because the
// events library folds events with one reason (and object and action) into
// the first one's series, keeping only the first note: the 80% and 100%
// alerts would be lost in the 50% one.
func thresholdReason(percent int32) string {
	return fmt.Sprintf("BudgetThreshold%dReached", percent)
}

// Event actions.
const (
	actionSync   = "Sync"
	actionCreate = "Create"
	actionAlert  = "Alert"
)

const (
	// registryRetry is how soon to look again when the EnterpriseAccount
	// is Ready but its connection is not in the registry (and not merely
	// being rebuilt after a start).
	registryRetry = 10 * time.Second
	// defaultGrantRefreshWindow applies when Reconciler.GrantRefreshWindow
	// is zero.
	defaultGrantRefreshWindow = 10 * time.Second
)

// Reconciler reconciles SubAccounts.
type Reconciler struct {
	client.Client
	// Recorder emits events; SetupWithManager fills it in when nil.
	Recorder events.EventRecorder
	// Registry holds the BSS connection of each EnterpriseAccount.
	Registry *accounts.Registry
	// Options are the operator-wide settings.
	Options common.Options
	// GrantRefreshWindow is the least time between two refreshes of a Ready
	// SubAccount caused by grant changes alone: a grant change less than
	// this after the last balance read is reflected (granted total and
	// balances together) when the window ends, together with every other
	// grant change of the window. SetupWithManager sets zero to
	// defaultGrantRefreshWindow; a negative window refreshes on every grant
	// change.
	GrantRefreshWindow time.Duration

	// codesSent remembers recent SMS sends per SubAccount, so that a
	// reconcile working from a stale cache, or retrying after a failed
	// status write, does not text a second code (which would invalidate
	// the first one).
	codesSent sync.Map // SubAccount name → sentCode
}

type sentCode struct {
	uid types.UID
	at  time.Time
}

// +kubebuilder:rbac:groups=budget.bss.dev,resources=subaccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups=budget.bss.dev,resources=subaccounts/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=budget.bss.dev,resources=budgetallocations,verbs=get;list;watch
// +kubebuilder:rbac:groups=budget.bss.dev,resources=orderpayments,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=budget.bss.dev,resources=enterpriseaccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// scope is what one reconcile knows and has decided.
type scope struct {
	sa     *budgetv1alpha1.SubAccount
	before *budgetv1alpha1.SubAccountStatus
	now    time.Time
	// wasReady: Ready was True before this reconcile (otherwise everything
	// is re-read, to recover as soon as possible).
	wasReady bool

	ea   *budgetv1alpha1.EnterpriseAccount
	acct *accounts.Account

	// customerID is set once the sub-account is known to BSS and is
	// Normal (or closed: it is then reported but not Ready).
	customerID string
	closed     bool
	// allocations are the BudgetAllocations funding the SubAccount, as
	// syncGranted listed them.
	allocations []budgetv1alpha1.BudgetAllocation
	// payments are the SubAccount's OrderPayments, as syncGranted listed
	// them.
	payments []budgetv1alpha1.OrderPayment
	// grantedChanged: the allocations' grants add up to something else than
	// status.granted says (money moved).
	grantedChanged bool
	// refreshIn is set when the refresh a grant change calls for was put
	// off until the grant refresh window ends.
	refreshIn time.Duration

	// halted stops the remaining phases; Ready has been set to False.
	halted bool
	// syncErr is the BSS error behind a halt, for the log.
	syncErr error
	// events are announced once the status write succeeded.
	events []pendingEvent
}

type pendingEvent struct {
	eventType, reason, action, note string
}

func (s *scope) status() *budgetv1alpha1.SubAccountStatus { return &s.sa.Status }

// fail sets Ready to False and stops the remaining phases.
func (s *scope) fail(reason, message string) {
	common.SetCondition(&s.sa.Status.Conditions, s.sa.Generation, budgetv1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
	s.halted = true
}

// bssFailed reports a BSS error on Ready and returns the requeue its class
// calls for (the throttling hint, a short delay for an unreachable endpoint,
// longer for a BSS error).
func (s *scope) bssFailed(err error, doing string) ctrl.Result {
	s.syncErr = err
	if errors.Is(err, bss.ErrInvalidRequest) {
		// The client refused to send a request that breaks a documented
		// limit; only a change of the object can fix it.
		s.fail(budgetv1alpha1.ReasonBSSError, doing+": "+err.Error())
		return ctrl.Result{RequeueAfter: 5 * time.Minute}
	}
	reason, requeue := common.ClassifyBSSError(err)
	s.fail(reason, doing+": "+common.DescribeBSSError(err))
	return ctrl.Result{RequeueAfter: requeue}
}

// warn has a Warning event announced once the status write succeeded, so
// that an event about something the status records (a threshold alerted,
// an order announced) is not announced again by the reconcile that retries
// a failed write.
func (s *scope) warn(reason, action, note string) {
	s.events = append(s.events, pendingEvent{eventType: corev1.EventTypeWarning, reason: reason, action: action, note: note})
}

// Reconcile brings one SubAccount's status up to date.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	var sa budgetv1alpha1.SubAccount
	if err := r.Get(ctx, req.NamespacedName, &sa); err != nil {
		if apierrors.IsNotFound(err) {
			forgetMetrics(req.Name)
			r.codesSent.Delete(req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !sa.DeletionTimestamp.IsZero() {
		// Nothing to clean up in BSS: the operator never closes accounts.
		return ctrl.Result{}, nil
	}

	s := &scope{
		sa:       &sa,
		before:   sa.Status.DeepCopy(),
		now:      r.Options.Clock.Now(),
		wasReady: common.IsTrue(sa.Status.Conditions, budgetv1alpha1.ConditionReady),
	}
	callCtx, cancel := context.WithTimeout(ctx, r.Options.BSSCallTimeout)
	defer cancel()
	result, err := r.runPhases(callCtx, s)

	// One status write per reconcile, only when something changed.
	if !apiequality.Semantic.DeepEqual(s.before, &sa.Status) {
		evs := append(transitionEvents(s.before, &sa.Status), s.events...)
		if uerr := r.Status().Update(ctx, &sa); uerr != nil {
			if apierrors.IsConflict(uerr) {
				// A newer version exists; the reconcile starts over from it
				// (and announces its transitions only once written).
				return ctrl.Result{RequeueAfter: time.Second}, nil
			}
			return ctrl.Result{}, fmt.Errorf("updating the status of SubAccount %s: %w", sa.Name, uerr)
		}
		for _, e := range evs {
			r.Recorder.Eventf(&sa, nil, e.eventType, e.reason, e.action, "%s", e.note)
		}
	}
	if s.syncErr != nil {
		logger.V(1).Info("sync failed", "reason", common.ReadyReason(sa.Status.Conditions, budgetv1alpha1.ConditionReady), "error", s.syncErr.Error())
	}
	return result, err
}

// runPhases runs the phases in order until one halts or fails; the result
// of the last phase run is the reconcile's.
func (r *Reconciler) runPhases(ctx context.Context, s *scope) (ctrl.Result, error) {
	return common.RunPhases(ctx, s, func() bool { return s.halted },
		r.syncGranted,
		r.resolveEnterpriseAccount,
		r.resolveSubAccount,
		r.syncBalances,
		r.syncBilling,
		r.evaluateBudget,
		r.claimExternalMovements,
		r.markReady,
	)
}

// syncGranted adds up the grants of every BudgetAllocation funding this
// SubAccount, in all namespaces, and what its OrderPayments paid. It needs
// no BSS call, so it runs first. syncBalances may put the new grant total
// off (see grantRefreshWait); what the OrderPayments paid is shown at once.
func (r *Reconciler) syncGranted(ctx context.Context, s *scope) (ctrl.Result, error) {
	var list budgetv1alpha1.BudgetAllocationList
	if err := r.List(ctx, &list, client.MatchingFields{common.IndexAllocationSubAccount: s.sa.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the BudgetAllocations of SubAccount %s: %w", s.sa.Name, err)
	}
	s.allocations = list.Items
	total, count := sumGranted(list.Items)
	st := s.status()
	granted := common.Money(total)
	s.grantedChanged = st.Granted != granted
	st.Granted = granted
	st.Allocations = count
	metrics.SubAccountGranted.WithLabelValues(s.sa.Name).Set(metrics.Fen(total))
	return ctrl.Result{}, r.listPayments(ctx, s)
}

// resolveEnterpriseAccount finds the master's connection.
func (r *Reconciler) resolveEnterpriseAccount(ctx context.Context, s *scope) (ctrl.Result, error) {
	name := s.sa.Spec.EnterpriseAccountRef.Name
	var ea budgetv1alpha1.EnterpriseAccount
	if err := r.Get(ctx, types.NamespacedName{Name: name}, &ea); err != nil {
		if apierrors.IsNotFound(err) {
			// The EnterpriseAccount watch brings the SubAccount back.
			s.fail(budgetv1alpha1.ReasonEnterpriseAccountNotReady, fmt.Sprintf("EnterpriseAccount %q not found", name))
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("reading EnterpriseAccount %s: %w", name, err)
	}
	if !common.IsTrue(ea.Status.Conditions, budgetv1alpha1.ConditionReady) {
		msg := fmt.Sprintf("EnterpriseAccount %q is not Ready", name)
		if reason := common.ReadyReason(ea.Status.Conditions, budgetv1alpha1.ConditionReady); reason != "" {
			msg += " (" + reason + ")"
		}
		s.fail(budgetv1alpha1.ReasonEnterpriseAccountNotReady, msg)
		return ctrl.Result{}, nil
	}
	acct, ok := r.Registry.Get(name)
	if !ok && r.Registry.Connecting(name) {
		// Right after a start: the EnterpriseAccount controller is
		// rebuilding the connection its Ready status was written with.
		s.halted = true
		return ctrl.Result{RequeueAfter: accounts.ConnectingRetry}, nil
	}
	if !ok {
		s.fail(budgetv1alpha1.ReasonEnterpriseAccountNotReady, fmt.Sprintf("EnterpriseAccount %q has no BSS connection yet", name))
		return ctrl.Result{RequeueAfter: registryRetry}, nil
	}
	s.ea, s.acct = &ea, acct
	return ctrl.Result{}, nil
}

// resolveSubAccount establishes the customer id: adopted from the spec, or
// found or created by login name.
func (r *Reconciler) resolveSubAccount(ctx context.Context, s *scope) (ctrl.Result, error) {
	spec := s.sa.Spec
	switch {
	case spec.CustomerID != "":
		return r.adopt(ctx, s, spec.CustomerID)
	case spec.Create != nil:
		return r.ensureCreated(ctx, s, spec.Create)
	}
	s.fail(budgetv1alpha1.ReasonSubAccountNotFound, "spec sets neither customerID nor create")
	return ctrl.Result{}, nil
}

// adopt verifies that id is a sub-account of the master and records it.
func (r *Reconciler) adopt(ctx context.Context, s *scope, id string) (ctrl.Result, error) {
	sub, found, err := r.findByID(ctx, s, id)
	if err != nil {
		if isAPIError(err) {
			return s.bssFailed(err, "listing the master's sub-accounts"), nil
		}
		return ctrl.Result{}, err
	}
	if !found {
		// Not terminal: the account may still be added in BSS, and nothing
		// in the cluster would announce it, so look again periodically.
		s.fail(budgetv1alpha1.ReasonSubAccountNotFound, fmt.Sprintf(
			"customer id %s is not a sub-account of the master of EnterpriseAccount %q", id, s.ea.Name))
		return ctrl.Result{RequeueAfter: common.Jitter(common.BalanceInterval(s.ea), 0.1)}, nil
	}
	if ok, err := r.claim(ctx, s, sub); !ok || err != nil {
		return ctrl.Result{}, err
	}
	return r.useSubCustomer(s, sub)
}

// useSubCustomer records what BSS says about the sub-account and decides
// whether the sync can go on.
func (r *Reconciler) useSubCustomer(s *scope, sub bss.SubCustomer) (ctrl.Result, error) {
	recordSubCustomer(s.status(), sub)
	s.setPaidOrders() // for the customer just recorded
	switch accountStateKind(sub.Status) {
	case kindPending:
		s.fail(budgetv1alpha1.ReasonCreating, fmt.Sprintf(
			"sub-account %s (%s) is %s in BSS; waiting until it is Normal", sub.Name, sub.ID, accountState(sub.Status)))
		return ctrl.Result{RequeueAfter: creationPoll(s.status().CreateRequestedTime, s.now)}, nil
	case kindClosed:
		s.closed = true
	}
	s.customerID = sub.ID
	return ctrl.Result{}, nil
}

// creationPoll is how often to look at an account that is not Normal yet:
// every 2 s right after the create request, then less often, because an
// account awaiting registration or activation can wait for a person. With
// no recorded request it is every 10 s: the status write that records a
// create request can be lost to a conflict (the account is then found by
// its login name), and an account just created must not wait a minute for
// that.
func creationPoll(requested *metav1.Time, now time.Time) time.Duration {
	if requested == nil {
		return 10 * time.Second
	}
	switch age := now.Sub(requested.Time); {
	case age < time.Minute:
		return 2 * time.Second
	case age < 10*time.Minute:
		return 10 * time.Second
	}
	return time.Minute
}

// findByID looks id up in the master's list of sub-accounts, which is read
// once per master and shared for subCustomersTTL. A miss in a cached list
// is checked against a fresh one, so that an account added in BSS moments
// ago is not reported missing; so is an entry whose state differs from the
// one the SubAccount recorded, because the list may be older than that
// record: read while the account was being created, it would turn a
// SubAccount that saw the account Normal back to Creating.
func (r *Reconciler) findByID(ctx context.Context, s *scope, id string) (bss.SubCustomer, bool, error) {
	subs, cached, err := r.subCustomers(ctx, s, false)
	if err != nil {
		return bss.SubCustomer{}, false, err
	}
	sub, ok := subs[id]
	if !cached || (ok && !olderThanStatus(s.before, sub)) {
		return sub, ok, nil
	}
	if subs, _, err = r.subCustomers(ctx, s, true); err != nil {
		return bss.SubCustomer{}, false, err
	}
	sub, ok = subs[id]
	return sub, ok, nil
}

// olderThanStatus reports that a cached entry of the master's list
// contradicts what the SubAccount recorded of the same account, so that it
// may predate that record.
func olderThanStatus(recorded *budgetv1alpha1.SubAccountStatus, sub bss.SubCustomer) bool {
	return recorded.CustomerID == sub.ID && recorded.AccountState != "" && recorded.AccountState != accountState(sub.Status)
}

// syncBalances reads the reclaimable cash, credit ledgers and coupons when
// they are due: all three on the EnterpriseAccount's balanceSyncInterval,
// after a spec change, or while recovering from a failure; only the kinds
// the allocations can have moved when their grants changed (money moved),
// at most once per GrantRefreshWindow.
func (r *Reconciler) syncBalances(ctx context.Context, s *scope) (ctrl.Result, error) {
	st := s.status()
	kinds := allBalances
	if !s.forceSync() && !due(lastFullSync(s), common.BalanceInterval(s.ea), s.now) {
		if !s.grantedChanged {
			return ctrl.Result{}, nil
		}
		if wait := r.grantRefreshWait(s); wait > 0 {
			s.deferGrantRefresh(wait)
			return ctrl.Result{}, nil
		}
		if kinds = s.movedBalances(); kinds == (balanceKinds{}) {
			return ctrl.Result{}, nil
		}
	}
	c := s.acct.Client
	var (
		cash    money.Amount
		credit  []bss.AmountInfo
		coupons []bss.SubCoupon
		err     error
	)
	if kinds.cash {
		cash, err = c.ReclaimableCash(ctx, s.customerID)
	}
	if err == nil && kinds.credit {
		credit, err = c.ReclaimableCredit(ctx, s.customerID)
	}
	if err == nil && kinds.coupons {
		coupons, err = c.ListAllReclaimableCoupons(ctx, s.customerID)
	}
	if err != nil {
		if bss.IsSubAccountNotFound(err) {
			s.syncErr = err
			s.fail(budgetv1alpha1.ReasonSubAccountNotFound, fmt.Sprintf(
				"BSS does not know customer id %s: %s", s.customerID, common.DescribeBSSError(err)))
			return ctrl.Result{RequeueAfter: common.Jitter(common.BalanceInterval(s.ea), 0.1)}, nil
		}
		if !isAPIError(err) {
			return ctrl.Result{}, err
		}
		return s.bssFailed(err, "reading the reclaimable balances"), nil
	}
	var readCash, readCredit *money.Amount
	if kinds.cash {
		readCash = &cash
	}
	if kinds.credit {
		total := sumLedgers(credit)
		readCredit = &total
	}
	if err := r.noteResiduals(ctx, s, readCash, readCredit); err != nil {
		return ctrl.Result{}, err
	}
	// The kinds not read keep their last values.
	if kinds.cash {
		st.ReclaimableCashTime = stamp(s.now)
		st.ReclaimableCash = common.Money(cash)
		metrics.SubAccountReclaimable.WithLabelValues(s.sa.Name, "debit").Set(metrics.Fen(cash))
	}
	if kinds.credit {
		st.ReclaimableCreditTime = stamp(s.now)
		st.ReclaimableCredit = common.CreditLedgers(credit)
		metrics.SubAccountReclaimable.WithLabelValues(s.sa.Name, "credit").Set(metrics.Fen(sumLedgers(credit)))
	}
	if kinds.coupons {
		st.ReclaimableCoupons = common.SubCoupons(coupons)
		metrics.SubAccountReclaimable.WithLabelValues(s.sa.Name, "coupon").Set(metrics.Fen(sumCoupons(coupons)))
	}
	st.LastBalanceSyncTime = stamp(s.now)
	if kinds == allBalances {
		st.LastFullBalanceSyncTime = st.LastBalanceSyncTime
	}
	return ctrl.Result{}, nil
}

// balanceKinds says which reclaimable balances to read.
type balanceKinds struct{ cash, credit, coupons bool }

var allBalances = balanceKinds{cash: true, credit: true, coupons: true}

// movedBalances are the balance kinds the SubAccount's allocations can
// have moved: cash for a Debit amount or top-up, credit for a Credit one,
// coupons for coupon grants. When an allocation went away since the last
// status write, what it moved is unknown, so all kinds are read.
func (s *scope) movedBalances() balanceKinds {
	if s.status().Allocations < s.before.Allocations {
		return allBalances
	}
	var k balanceKinds
	for i := range s.allocations {
		spec := &s.allocations[i].Spec
		switch spec.BalanceType {
		case budgetv1alpha1.BalanceTypeCredit:
			k.credit = true
		case budgetv1alpha1.BalanceTypeDebit, "":
			if spec.Amount != nil || spec.TopUp != nil {
				k.cash = true
			}
		}
		if len(spec.Coupons) > 0 || len(s.allocations[i].Status.Coupons) > 0 {
			k.coupons = true
		}
	}
	return k
}

// grantRefreshWait is how long the refresh a grant change calls for waits,
// so that the grant changes of one window are reflected together, in one
// status write: until GrantRefreshWindow after the last balance read. It
// waits only for a SubAccount that is Ready and whose bills are not due
// either (a status write is coming anyway); 0 means refresh now, which is
// the case for the first grant change after a quiet window.
func (r *Reconciler) grantRefreshWait(s *scope) time.Duration {
	last := s.before.LastBalanceSyncTime
	if !s.wasReady || last == nil || s.billingDue() {
		return 0
	}
	return max(last.Add(r.GrantRefreshWindow).Sub(s.now), 0)
}

// deferGrantRefresh keeps status.granted and status.allocations as they
// were, so that nothing is written for the grant change now, and has the
// reconcile come back when the window ends: the grants still differ from
// status.granted then, and are refreshed with the balances.
func (s *scope) deferGrantRefresh(wait time.Duration) {
	st := s.status()
	st.Granted, st.Allocations = s.before.Granted, s.before.Allocations
	metrics.SubAccountGranted.WithLabelValues(s.sa.Name).Set(metrics.Fen(st.Granted.Amount()))
	s.refreshIn = wait
}

// lastFullSync is when all balance kinds were last read. A status written
// before LastFullBalanceSyncTime existed has only LastBalanceSyncTime,
// which stands in until the next full read.
func lastFullSync(s *scope) *metav1.Time {
	st := s.status()
	if st.LastFullBalanceSyncTime != nil {
		return st.LastFullBalanceSyncTime
	}
	return st.LastBalanceSyncTime
}

// forceSync reports that everything must be read now, whatever the
// intervals say: the spec changed, the account was just identified, or the
// last reconcile did not end Ready (except for a closed account, which
// never becomes Ready and is read on the intervals).
func (s *scope) forceSync() bool {
	st := s.status()
	if s.sa.Generation != s.before.ObservedGeneration || s.before.CustomerID != st.CustomerID {
		return true
	}
	return !s.wasReady && common.ReadyReason(s.before.Conditions, budgetv1alpha1.ConditionReady) != budgetv1alpha1.ReasonSubAccountClosed
}

// markReady finishes a complete sync and schedules the next one (or the
// grant refresh syncBalances put off, if that is sooner).
func (r *Reconciler) markReady(_ context.Context, s *scope) (ctrl.Result, error) {
	st := s.status()
	st.ObservedGeneration = s.sa.Generation
	if s.closed {
		common.SetCondition(&st.Conditions, s.sa.Generation, budgetv1alpha1.ConditionReady, metav1.ConditionFalse, budgetv1alpha1.ReasonSubAccountClosed,
			fmt.Sprintf("sub-account %s (%s) is %s in BSS and cannot be funded", st.AccountName, st.CustomerID, st.AccountState))
	} else {
		common.SetCondition(&st.Conditions, s.sa.Generation, budgetv1alpha1.ConditionReady, metav1.ConditionTrue, budgetv1alpha1.ReasonReady,
			fmt.Sprintf("sub-account %s (%s) is Normal; balances, bills and orders are synced", st.AccountName, st.CustomerID))
	}
	next := common.Jitter(min(untilDue(lastFullSync(s), common.BalanceInterval(s.ea), s.now),
		untilDue(st.LastBillingSyncTime, common.BillingInterval(s.ea), s.now)), 0.1)
	if s.refreshIn > 0 {
		next = min(next, s.refreshIn)
	}
	return ctrl.Result{RequeueAfter: next}, nil
}

// stamp is a status timestamp; the API keeps whole seconds.
func stamp(t time.Time) *metav1.Time {
	m := metav1.NewTime(t.Truncate(time.Second))
	return &m
}

// isAPIError reports an answer from BSS or a failure to reach it, as
// opposed to an error of the operator itself.
func isAPIError(err error) bool {
	var be *bss.Error
	var te *bss.TransportError
	var de *bss.DecodeError
	return errors.As(err, &be) || errors.As(err, &te) || errors.As(err, &de) || errors.Is(err, bss.ErrInvalidRequest)
}

// transitionEvents announces what changed between two statuses: the Ready
// condition's status or reason, the sub-account becoming known, and the
// budget being exceeded.
func transitionEvents(before, after *budgetv1alpha1.SubAccountStatus) []pendingEvent {
	var out []pendingEvent
	if before.CustomerID == "" && after.CustomerID != "" {
		reason, verb := eventAdopted, "adopted"
		if after.CreateRequestedTime != nil {
			reason, verb = eventCreated, "created"
		}
		out = append(out, pendingEvent{eventType: corev1.EventTypeNormal, reason: reason, action: actionSync,
			note: fmt.Sprintf("%s sub-account %s with customer id %s", verb, after.AccountName, after.CustomerID)})
	}
	oldReady := meta.FindStatusCondition(before.Conditions, budgetv1alpha1.ConditionReady)
	newReady := meta.FindStatusCondition(after.Conditions, budgetv1alpha1.ConditionReady)
	if newReady != nil && (oldReady == nil || oldReady.Status != newReady.Status || oldReady.Reason != newReady.Reason) {
		out = append(out, pendingEvent{eventType: readyEventType(newReady), reason: newReady.Reason, action: actionSync, note: newReady.Message})
	}
	oldOver := common.IsTrue(before.Conditions, budgetv1alpha1.ConditionBudgetExceeded)
	if newOver := meta.FindStatusCondition(after.Conditions, budgetv1alpha1.ConditionBudgetExceeded); newOver != nil && newOver.Status == metav1.ConditionTrue && !oldOver {
		out = append(out, pendingEvent{eventType: corev1.EventTypeWarning, reason: newOver.Reason, action: actionAlert, note: newOver.Message})
	}
	return out
}

// readyEventType is Normal for Ready and for work in progress, Warning for
// everything that needs attention.
func readyEventType(c *metav1.Condition) string {
	switch {
	case c.Status == metav1.ConditionTrue,
		c.Reason == budgetv1alpha1.ReasonCreating,
		c.Reason == budgetv1alpha1.ReasonAwaitingVerificationCode:
		return corev1.EventTypeNormal
	}
	return corev1.EventTypeWarning
}

// forgetMetrics drops the series of a deleted SubAccount.
func forgetMetrics(name string) {
	labels := map[string]string{"subaccount": name}
	metrics.SubAccountReclaimable.DeletePartialMatch(labels)
	metrics.SubAccountConsumption.DeletePartialMatch(labels)
	metrics.SubAccountBudgetRatio.DeletePartialMatch(labels)
	metrics.SubAccountGranted.DeletePartialMatch(labels)
	metrics.SubAccountOrdersPaid.DeletePartialMatch(labels)
	metrics.SubAccountOrdersPending.DeletePartialMatch(labels)
	metrics.SubAccountOldestPendingOrder.DeletePartialMatch(labels)
	metrics.SubAccountAmortizedCost.DeletePartialMatch(labels)
	metrics.SubAccountForecast.DeletePartialMatch(labels)
	metrics.SubAccountForecastRatio.DeletePartialMatch(labels)
	metrics.SubAccountExternalMovements.DeletePartialMatch(labels)
}

// SetupWithManager registers the controller. Besides SubAccounts it
// watches the SubAccounts that let a customer go (a SubAccount refused
// that customer takes it over), EnterpriseAccounts (a SubAccount recovers
// when its master becomes Ready), BudgetAllocations (their grants add up in
// status.granted), OrderPayments (what they paid adds up in
// status.paidOrders) and the Secrets of the operator's namespace that hold a
// password or an SMS code for a SubAccount being created.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Options.Defaults()
	if r.GrantRefreshWindow == 0 {
		r.GrantRefreshWindow = defaultGrantRefreshWindow
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("subaccount-controller")
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&budgetv1alpha1.SubAccount{}, builder.WithPredicates(
			predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&budgetv1alpha1.SubAccount{}, handler.EnqueueRequestsFromMapFunc(r.claimantsOf),
			builder.WithPredicates(customerReleased())).
		Watches(&budgetv1alpha1.EnterpriseAccount{}, handler.EnqueueRequestsFromMapFunc(r.subAccountsForEnterpriseAccount),
			builder.WithPredicates(enterpriseAccountChanged())).
		Watches(&budgetv1alpha1.BudgetAllocation{}, handler.EnqueueRequestsFromMapFunc(subAccountForAllocation),
			builder.WithPredicates(grantChanged())).
		Watches(&budgetv1alpha1.OrderPayment{}, handler.EnqueueRequestsFromMapFunc(subAccountForPayment),
			builder.WithPredicates(paymentChanged())).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.subAccountsForSecret),
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
				return o.GetNamespace() == r.Options.Namespace
			}))).
		Named("subaccount").
		Complete(r)
}

// enterpriseAccountChanged passes EnterpriseAccount events that matter to
// SubAccounts: creation, deletion, a spec change (intervals), a change of
// the Ready condition's status or reason (SubAccounts show the reason) and
// new external movements (a SubAccount may claim one). The master's
// periodic status updates (balances) do not.
func enterpriseAccountChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldEA, okOld := e.ObjectOld.(*budgetv1alpha1.EnterpriseAccount)
			newEA, okNew := e.ObjectNew.(*budgetv1alpha1.EnterpriseAccount)
			if !okOld || !okNew {
				return true
			}
			return oldEA.Generation != newEA.Generation || readyOf(oldEA) != readyOf(newEA) ||
				!apiequality.Semantic.DeepEqual(oldEA.Status.ExternalMovements, newEA.Status.ExternalMovements)
		},
	}
}

// grantChanged passes BudgetAllocation creations, deletions and updates
// that change status.granted.
func readyOf(ea *budgetv1alpha1.EnterpriseAccount) string {
	c := meta.FindStatusCondition(ea.Status.Conditions, budgetv1alpha1.ConditionReady)
	if c == nil {
		return ""
	}
	return string(c.Status) + "/" + c.Reason
}

func grantChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldBA, okOld := e.ObjectOld.(*budgetv1alpha1.BudgetAllocation)
			newBA, okNew := e.ObjectNew.(*budgetv1alpha1.BudgetAllocation)
			if !okOld || !okNew {
				return true
			}
			return oldBA.Status.Granted != newBA.Status.Granted
		},
	}
}

func (r *Reconciler) subAccountsForEnterpriseAccount(ctx context.Context, o client.Object) []reconcile.Request {
	var list budgetv1alpha1.SubAccountList
	if err := r.List(ctx, &list, client.MatchingFields{common.IndexSubAccountEnterprise: o.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "listing the SubAccounts of an EnterpriseAccount", "enterpriseAccount", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, sa := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: sa.Name}})
	}
	return reqs
}

func subAccountForAllocation(_ context.Context, o client.Object) []reconcile.Request {
	ba, ok := o.(*budgetv1alpha1.BudgetAllocation)
	if !ok || ba.Spec.SubAccountRef.Name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: ba.Spec.SubAccountRef.Name}}}
}

func (r *Reconciler) subAccountsForSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list budgetv1alpha1.SubAccountList
	if err := r.List(ctx, &list); err != nil {
		log.FromContext(ctx).Error(err, "listing SubAccounts for a Secret", "secret", o.GetName())
		return nil
	}
	var reqs []reconcile.Request
	for _, sa := range list.Items {
		if referencesSecret(&sa, o.GetName()) {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: sa.Name}})
		}
	}
	return reqs
}

// referencesSecret reports whether the SubAccount's create spec names the
// Secret (in the operator's namespace) for its password or SMS code.
func referencesSecret(sa *budgetv1alpha1.SubAccount, name string) bool {
	c := sa.Spec.Create
	if c == nil {
		return false
	}
	if c.PasswordSecretRef.Name == name {
		return true
	}
	return c.Phone.VerificationCodeSecretRef != nil && c.Phone.VerificationCodeSecretRef.Name == name
}

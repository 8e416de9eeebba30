// Package enterpriseaccount reconciles EnterpriseAccounts: it loads the
// master's credentials from the operator's namespace, keeps the shared BSS
// client in the registry, checks the credentials with a cheap read and
// reports the master's transferable cash, credit ledgers, coupons and number
// of sub-accounts.
//
// It reads all of them from BSS every balanceSyncInterval (the full read,
// status.lastSyncTime). In between, it publishes the operator's own
// movements: the registry reports each change of the cache the operator
// plans from (cash adjusted after a transfer or reclaim, credit ledgers or
// coupons dropped after one), and BalancesPublishDelay later one reconcile
// writes the cached cash, re-reading only the credit ledgers or coupons a
// movement dropped (status.balancesTime).
package enterpriseaccount

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/accounts"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/metrics"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Reconciler reconciles EnterpriseAccounts.
type Reconciler struct {
	client.Client
	Recorder events.EventRecorder
	Registry *accounts.Registry
	Options  common.Options

	mu sync.Mutex
	// published holds, per EnterpriseAccount, what its status was last
	// written from.
	published map[string]publication
}

// publication is what an EnterpriseAccount's status was last written from:
// a connection, and its credit ledgers and coupons as read after the
// accounts.Forgotten counts noted here. A count that moved since means that
// a movement made the published figure stale.
type publication struct {
	acct            *accounts.Account
	credit, coupons uint64
}

func (r *Reconciler) publicationOf(name string) (publication, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.published[name]
	return p, ok
}

// setPublication records p for name, or forgets name when p is nil.
func (r *Reconciler) setPublication(name string, p *publication) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p == nil {
		delete(r.published, name)
		return
	}
	if r.published == nil {
		r.published = map[string]publication{}
	}
	r.published[name] = *p
}

// +kubebuilder:rbac:groups=budget.bss.dev,resources=enterpriseaccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups=budget.bss.dev,resources=enterpriseaccounts/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one EnterpriseAccount's status up to date.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	var ea budgetv1alpha1.EnterpriseAccount
	if err := r.Get(ctx, req.NamespacedName, &ea); err != nil {
		if apierrors.IsNotFound(err) {
			r.Registry.Remove(req.Name)
			r.Registry.Reconciled(req.Name)
			r.setPublication(req.Name, nil)
			metrics.MasterTransferable.DeleteLabelValues(req.Name, "debit")
			metrics.MasterTransferable.DeleteLabelValues(req.Name, "credit")
			forgetReportMetrics(req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !ea.DeletionTimestamp.IsZero() {
		r.Registry.Remove(ea.Name)
		r.Registry.Reconciled(ea.Name)
		r.setPublication(ea.Name, nil)
		return ctrl.Result{}, nil
	}

	before := ea.Status.DeepCopy()
	var later announcements
	result, pub, syncErr := r.sync(ctx, &ea, &later)
	// Whether or not it worked, the registry now shows what this process
	// found; the status written below says why when it has no connection.
	r.Registry.Reconciled(ea.Name)
	if !apiequality.Semantic.DeepEqual(before, &ea.Status) {
		if err := r.Status().Update(ctx, &ea); err != nil {
			// The status keeps what it was last written from.
			if apierrors.IsConflict(err) {
				return ctrl.Result{RequeueAfter: time.Second}, nil
			}
			return ctrl.Result{}, err
		}
	}
	// Announced once the status that records them is written: a reconcile
	// that retries a failed write finds them again and announces them then.
	later.run()
	r.setPublication(ea.Name, pub)
	if syncErr != nil {
		logger.V(1).Info("sync failed", "reason", common.ReadyReason(ea.Status.Conditions, budgetv1alpha1.ConditionReady), "error", syncErr.Error())
	}
	return result, nil
}

// sync brings ea's status up to date and returns what the status is then
// written from (nil when it shows no balances of a working connection).
func (r *Reconciler) sync(ctx context.Context, ea *budgetv1alpha1.EnterpriseAccount, later *announcements) (ctrl.Result, *publication, error) {
	gen := ea.Generation
	notReady := func(reason, msg string) {
		common.SetCondition(&ea.Status.Conditions, gen, budgetv1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	}
	cfg, fingerprint, err := common.LoadClientConfig(ctx, r, r.Options.Namespace, ea)
	if err != nil {
		var ce *common.CredentialsError
		if errors.As(err, &ce) {
			r.Registry.Remove(ea.Name)
			notReady(budgetv1alpha1.ReasonCredentialsMissing, ce.Message)
			// The Secret watch brings the object back when it appears.
			return ctrl.Result{RequeueAfter: 5 * time.Minute}, nil, err
		}
		return ctrl.Result{}, nil, err
	}
	acct, err := r.Registry.Ensure(ea.Name, fingerprint, cfg)
	if err != nil {
		notReady(budgetv1alpha1.ReasonEndpointUnreachable, err.Error())
		return ctrl.Result{}, nil, reconcile.TerminalError(err)
	}
	ea.Status.DomainID = acct.DomainID

	callCtx, cancel := context.WithTimeout(ctx, r.Options.BSSCallTimeout)
	defer cancel()
	now := r.Options.Clock.Now()
	if pub, due, ok := r.betweenFullReads(ea, acct, now); ok {
		res, p, err := r.publish(callCtx, ea, acct, pub, now, due)
		if err == nil {
			res = r.withReports(callCtx, ea, acct, now, res, later)
		}
		return res, p, err
	}

	// The full read. What a movement drops from the cache meanwhile is
	// not stored back (the counts are taken before the reads).
	pub := &publication{acct: acct, credit: accounts.Forgotten(acct, accounts.MasterCredit), coupons: accounts.Forgotten(acct, accounts.MasterCoupons)}
	cash, err := acct.RefreshTransferableCash(callCtx, now)
	if err != nil {
		reason, requeue := common.ClassifyBSSError(err)
		notReady(reason, common.DescribeBSSError(err))
		return ctrl.Result{RequeueAfter: requeue}, nil, err
	}
	credit, err := acct.Client.TransferableCredit(callCtx)
	if err == nil {
		accounts.StoreUnlessForgotten(acct, accounts.MasterCredit, credit, pub.credit, now, accounts.MasterCacheTTL)
		var coupons []bss.Coupon
		coupons, err = acct.Client.ListAllTransferableCoupons(callCtx)
		if err == nil {
			accounts.StoreUnlessForgotten(acct, accounts.MasterCoupons, coupons, pub.coupons, now, accounts.MasterCacheTTL)
			var subs *bss.ListSubCustomersResponse
			subs, err = acct.Client.ListSubCustomers(callCtx, bss.ListSubCustomersRequest{Limit: 1})
			if err == nil {
				ea.Status.SubAccounts = int32(subs.TotalCount)
			}
			ea.Status.TransferableCoupons = common.MasterCoupons(coupons)
		}
		ea.Status.CreditLedgers = common.CreditLedgers(credit)
	}
	if err != nil {
		reason, requeue := common.ClassifyBSSError(err)
		notReady(reason, common.DescribeBSSError(err))
		return ctrl.Result{RequeueAfter: requeue}, nil, err
	}

	ea.Status.TransferableCash = common.Money(cash)
	setCashMetric(ea.Name, cash)
	setCreditMetric(ea.Name, credit)
	nowMeta := metav1.NewTime(now)
	ea.Status.LastSyncTime = &nowMeta
	ea.Status.BalancesTime = &nowMeta
	ea.Status.ObservedGeneration = gen
	setReady(ea)
	// The next full read is due one interval after this one. The requeue
	// comes up to 10% later, which spreads the masters' reads and never
	// finds the read not due yet.
	interval := common.BalanceInterval(ea)
	res := r.withReports(callCtx, ea, acct, now, ctrl.Result{RequeueAfter: interval + common.Jitter(interval/20, 1)}, later)
	return res, pub, nil
}

// betweenFullReads reports whether the full read of ea is not due at now,
// and then what the status was last written from and when the full read is
// due: balanceSyncInterval after lastSyncTime, provided the status is Ready
// for its generation and was written from this connection, whose cash this
// process has read.
func (r *Reconciler) betweenFullReads(ea *budgetv1alpha1.EnterpriseAccount, acct *accounts.Account, now time.Time) (publication, time.Time, bool) {
	pub, ok := r.publicationOf(ea.Name)
	_, _, known := acct.TransferableCashAt()
	if !ok || pub.acct != acct || !known || ea.Status.LastSyncTime == nil || ea.Status.ObservedGeneration != ea.Generation ||
		!common.IsTrue(ea.Status.Conditions, budgetv1alpha1.ConditionReady) {
		return publication{}, time.Time{}, false
	}
	due := ea.Status.LastSyncTime.Add(common.BalanceInterval(ea))
	return pub, due, now.Before(due)
}

// publish writes the cache the operator plans from into the status between
// two full reads: the cash as last read or adjusted for a movement, and the
// credit ledgers or coupons only if a movement dropped them since pub, from
// the cache when a plan has read them again since, else from BSS (one call
// each, stored back for the plans). It does no other BSS call, changes
// nothing when a read fails, and requeues for the full read at due.
func (r *Reconciler) publish(ctx context.Context, ea *budgetv1alpha1.EnterpriseAccount, acct *accounts.Account, pub publication,
	now, due time.Time) (ctrl.Result, *publication, error) {
	next := pub
	var (
		credit  []bss.AmountInfo
		coupons []bss.Coupon
		read    time.Time // when the credit ledgers or coupons were brought up to date
		err     error
	)
	if n := accounts.Forgotten(acct, accounts.MasterCredit); n != pub.credit {
		if credit, err = reread(ctx, acct, accounts.MasterCredit, n, now, acct.Client.TransferableCredit); err != nil {
			return r.publishFailed(pub, now, due, err)
		}
		next.credit, read = n, now
	}
	if n := accounts.Forgotten(acct, accounts.MasterCoupons); n != pub.coupons {
		if coupons, err = reread(ctx, acct, accounts.MasterCoupons, n, now, acct.Client.ListAllTransferableCoupons); err != nil {
			return r.publishFailed(pub, now, due, err)
		}
		next.coupons, read = n, now
	}

	cash, cashTime, _ := acct.TransferableCashAt()
	ea.Status.TransferableCash = common.Money(cash)
	setCashMetric(ea.Name, cash)
	if next.credit != pub.credit {
		ea.Status.CreditLedgers = common.CreditLedgers(credit)
		setCreditMetric(ea.Name, credit)
	}
	if next.coupons != pub.coupons {
		ea.Status.TransferableCoupons = common.MasterCoupons(coupons)
	}
	ea.Status.BalancesTime = advance(advance(ea.Status.BalancesTime, cashTime), read)
	setReady(ea)
	return ctrl.Result{RequeueAfter: due.Sub(now)}, &next, nil
}

// publishFailed leaves the status as it was (it still shows what pub
// describes) and looks again after the error's backoff, or at the full read
// if that comes first.
func (r *Reconciler) publishFailed(pub publication, now, due time.Time, err error) (ctrl.Result, *publication, error) {
	_, requeue := common.ClassifyBSSError(err)
	if requeue <= 0 {
		requeue = r.Options.BalancesPublishDelay
	}
	return ctrl.Result{RequeueAfter: min(requeue, due.Sub(now))}, &pub, fmt.Errorf("publishing the balances between full reads: %w", err)
}

// reread returns the value of key after a movement dropped it: the cache's
// if a reader stored it since, else read from BSS and stored unless another
// movement dropped it meanwhile (forgotten is accounts.Forgotten before the
// read).
func reread[T any](ctx context.Context, acct *accounts.Account, key accounts.Key[T], forgotten uint64, now time.Time,
	read func(context.Context) (T, error)) (T, error) {
	if v, ok := accounts.Load(acct, key, now); ok {
		return v, nil
	}
	v, err := read(ctx)
	if err != nil {
		return v, err
	}
	accounts.StoreUnlessForgotten(acct, key, v, forgotten, now, accounts.MasterCacheTTL)
	return v, nil
}

// advance returns the later of the status time cur and t, at the precision
// the status keeps (seconds): a time that does not move the status is not a
// change to write. A zero t leaves cur.
func advance(cur *metav1.Time, t time.Time) *metav1.Time {
	if t.IsZero() {
		return cur
	}
	next := metav1.NewTime(t).Rfc3339Copy()
	if cur != nil && !next.After(cur.Rfc3339Copy().Time) {
		return cur
	}
	return &next
}

// setReady marks ea Ready with a summary of the balances its status shows.
func setReady(ea *budgetv1alpha1.EnterpriseAccount) {
	common.SetCondition(&ea.Status.Conditions, ea.Generation, budgetv1alpha1.ConditionReady, metav1.ConditionTrue, budgetv1alpha1.ReasonReady,
		fmt.Sprintf("credentials accepted; %s transferable cash, %d credit ledger(s), %d coupon(s)",
			ea.Status.TransferableCash, len(ea.Status.CreditLedgers), len(ea.Status.TransferableCoupons)))
}

func setCashMetric(name string, cash money.Amount) {
	metrics.MasterTransferable.WithLabelValues(name, "debit").Set(metrics.Fen(cash))
}

func setCreditMetric(name string, ledgers []bss.AmountInfo) {
	var total money.Amount
	for _, l := range ledgers {
		total = total.Add(l.Available)
	}
	metrics.MasterTransferable.WithLabelValues(name, "credit").Set(metrics.Fen(total))
}

// SetupWithManager registers the controller; it also watches Secrets in the
// operator's namespace and maps them to the EnterpriseAccounts that use them,
// and the registry's changes (see enqueueChanges).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Options.Defaults()
	return ctrl.NewControllerManagedBy(mgr).
		For(&budgetv1alpha1.EnterpriseAccount{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.accountsForSecret),
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
				return o.GetNamespace() == r.Options.Namespace
			}))).
		WatchesRawSource(source.Func(r.enqueueChanges)).
		Named("enterpriseaccount").
		Complete(r)
}

// enqueueChanges reconciles an EnterpriseAccount BalancesPublishDelay after
// the registry reports a change of its published figures. The queue keeps
// the earliest time it was asked for a key, so every change within the
// delay is published by that one reconcile, which reads the cache as it is
// then.
func (r *Reconciler) enqueueChanges(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-r.Registry.Changes():
				for _, name := range r.Registry.TakeChanges() {
					q.AddAfter(reconcile.Request{NamespacedName: types.NamespacedName{Name: name}}, r.Options.BalancesPublishDelay)
				}
			}
		}
	}()
	return nil
}

func (r *Reconciler) accountsForSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list budgetv1alpha1.EnterpriseAccountList
	if err := r.List(ctx, &list); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, ea := range list.Items {
		ns := ea.Spec.CredentialsSecretRef.Namespace
		if ns == "" {
			ns = r.Options.Namespace
		}
		if ns == o.GetNamespace() && ea.Spec.CredentialsSecretRef.Name == o.GetName() {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: ea.Name}})
		}
	}
	return reqs
}

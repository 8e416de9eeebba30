// Package enterpriseaccount reconciles EnterpriseAccounts: it loads the
// master's credentials from the operator's namespace, keeps the shared BSS
// client in the registry, checks the credentials with a cheap read and
// reports the master's transferable cash, credit ledgers, coupons and number
// of sub-accounts.
package enterpriseaccount

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
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

// Reconciler reconciles EnterpriseAccounts.
type Reconciler struct {
	client.Client
	Recorder events.EventRecorder
	Registry *accounts.Registry
	Options  common.Options
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
			metrics.MasterTransferable.DeleteLabelValues(req.Name, "debit")
			metrics.MasterTransferable.DeleteLabelValues(req.Name, "credit")
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !ea.DeletionTimestamp.IsZero() {
		r.Registry.Remove(ea.Name)
		r.Registry.Reconciled(ea.Name)
		return ctrl.Result{}, nil
	}

	before := ea.Status.DeepCopy()
	result, syncErr := r.sync(ctx, &ea)
	// Whether or not it worked, the registry now shows what this process
	// found; the status written below says why when it has no connection.
	r.Registry.Reconciled(ea.Name)
	if !apiequality.Semantic.DeepEqual(before, &ea.Status) {
		if err := r.Status().Update(ctx, &ea); err != nil {
			if apierrors.IsConflict(err) {
				return ctrl.Result{RequeueAfter: time.Second}, nil
			}
			return ctrl.Result{}, err
		}
	}
	if syncErr != nil {
		logger.V(1).Info("sync failed", "reason", common.ReadyReason(ea.Status.Conditions, budgetv1alpha1.ConditionReady), "error", syncErr.Error())
	}
	return result, nil
}

func (r *Reconciler) sync(ctx context.Context, ea *budgetv1alpha1.EnterpriseAccount) (ctrl.Result, error) {
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
			return ctrl.Result{RequeueAfter: 5 * time.Minute}, err
		}
		return ctrl.Result{}, err
	}
	acct, err := r.Registry.Ensure(ea.Name, fingerprint, cfg)
	if err != nil {
		notReady(budgetv1alpha1.ReasonEndpointUnreachable, err.Error())
		return ctrl.Result{}, reconcile.TerminalError(err)
	}
	ea.Status.DomainID = acct.DomainID

	callCtx, cancel := context.WithTimeout(ctx, r.Options.BSSCallTimeout)
	defer cancel()
	now := r.Options.Clock.Now()
	cash, err := acct.RefreshTransferableCash(callCtx, now)
	if err != nil {
		reason, requeue := common.ClassifyBSSError(err)
		notReady(reason, common.DescribeBSSError(err))
		return ctrl.Result{RequeueAfter: requeue}, err
	}
	credit, err := acct.Client.TransferableCredit(callCtx)
	if err == nil {
		var coupons []bss.Coupon
		coupons, err = acct.Client.ListAllTransferableCoupons(callCtx)
		if err == nil {
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
		return ctrl.Result{RequeueAfter: requeue}, err
	}

	ea.Status.TransferableCash = budgetv1alpha1.Money(cash.String())
	metrics.MasterTransferable.WithLabelValues(ea.Name, "debit").Set(metrics.Fen(cash))
	var creditTotal money.Amount
	for _, l := range credit {
		creditTotal = creditTotal.Add(l.Available)
	}
	metrics.MasterTransferable.WithLabelValues(ea.Name, "credit").Set(metrics.Fen(creditTotal))
	nowMeta := metav1.NewTime(now)
	ea.Status.LastSyncTime = &nowMeta
	ea.Status.ObservedGeneration = gen
	common.SetCondition(&ea.Status.Conditions, gen, budgetv1alpha1.ConditionReady, metav1.ConditionTrue, budgetv1alpha1.ReasonReady,
		fmt.Sprintf("credentials accepted; %s transferable cash, %d credit ledger(s), %d coupon(s)", cash, len(credit), len(ea.Status.TransferableCoupons)))
	return ctrl.Result{RequeueAfter: common.Jitter(common.BalanceInterval(ea), 0.1)}, nil
}

// SetupWithManager registers the controller; it also watches Secrets in the
// operator's namespace and maps them to the EnterpriseAccounts that use them.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Options.Defaults()
	return ctrl.NewControllerManagedBy(mgr).
		For(&budgetv1alpha1.EnterpriseAccount{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.accountsForSecret),
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
				return o.GetNamespace() == r.Options.Namespace
			}))).
		Named("enterpriseaccount").
		Complete(r)
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

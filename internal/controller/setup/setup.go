// Package setup wires every controller of the operator into a manager. The
// manager binary and the integration tests use it alike.
package setup

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"

	"github.com/bss-budget-operator/bss-budget-operator/internal/accounts"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/budgetallocation"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/budgettransfer"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/enterpriseaccount"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/orderpayment"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/subaccount"
	"github.com/bss-budget-operator/bss-budget-operator/internal/metrics"
)

// Controllers registers the field indexes and the five controllers, sharing
// one registry of BSS clients. It returns the registry for tests.
func Controllers(mgr ctrl.Manager, opts common.Options) error {
	_, err := ControllersWithRegistry(mgr, opts, nil)
	return err
}

// ControllersWithRegistry is Controllers with a client configuration hook
// (tests shorten timeouts and retries with it); it returns the registry.
func ControllersWithRegistry(mgr ctrl.Manager, opts common.Options, configure func(*bss.Config)) (*accounts.Registry, error) {
	opts.Defaults()
	if err := common.SetupIndexes(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return nil, err
	}
	reg := accounts.NewRegistry(metrics.Observer{}, configure)
	if err := (&enterpriseaccount.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("enterpriseaccount-controller"), Registry: reg, Options: opts}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := (&subaccount.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("subaccount-controller"), Registry: reg, Options: opts}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := (&budgetallocation.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("budgetallocation-controller"), Registry: reg, Options: opts}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	// Transfers to a sub-account and payments of its orders are decided
	// one at a time per customer, under the same locks.
	locks := &common.KeyedLocks{}
	if err := (&budgettransfer.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("budgettransfer-controller"), Registry: reg, Options: opts, Approvals: locks}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := (&orderpayment.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("orderpayment-controller"), Registry: reg, Options: opts, Approvals: locks}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	return reg, nil
}

// CacheOptions is how the manager's cache holds objects: without
// managedFields (nothing reads them), Secrets of the operator's namespace
// only, and BudgetTransfers that have not succeeded only. A succeeded
// transfer is folded into its allocation's status.checkpoint, which is what
// the allocation plans from; the years of settled history stay out of the
// manager's memory (docs/exactly-once.md §9).
func CacheOptions(namespace string) cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:                 {Namespaces: map[string]cache.Config{namespace: {}}},
			&budgetv1alpha1.BudgetTransfer{}: {Field: OpenTransfers},
		},
	}
}

// OpenTransfers selects the BudgetTransfers the manager caches: those not
// Succeeded (Failed ones stay: they drive the retry backoff and denials,
// and are few).
var OpenTransfers = fields.OneTermNotEqualSelector("status.phase", string(budgetv1alpha1.PhaseSucceeded))

// ClientOptions is how the manager's client reads: LedgerRecords, the audit
// trail, are read from the API server when needed and never cached.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&budgetv1alpha1.LedgerRecord{}}}}
}

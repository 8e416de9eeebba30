// Package setup wires every controller of the operator into a manager. The
// manager binary and the integration tests use it alike.
package setup

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/bss-budget-operator/bss-budget-operator/internal/accounts"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/budgetallocation"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/budgettransfer"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/enterpriseaccount"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/subaccount"
	"github.com/bss-budget-operator/bss-budget-operator/internal/metrics"
)

// Controllers registers the field indexes and the four controllers, sharing
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
	if err := (&budgettransfer.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("budgettransfer-controller"), Registry: reg, Options: opts}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	return reg, nil
}

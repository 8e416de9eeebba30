package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

func getEnterpriseAccount(t *testing.T, name string) *budgetv1alpha1.EnterpriseAccount {
	t.Helper()
	var ea budgetv1alpha1.EnterpriseAccount
	if err := k8s.Get(context.Background(), types.NamespacedName{Name: name}, &ea); err != nil {
		t.Fatal(err)
	}
	return &ea
}

// setBalanceInterval sets the EnterpriseAccount's balanceSyncInterval and
// waits until the operator has read the balances for that generation.
func setBalanceInterval(t *testing.T, name string, d time.Duration) {
	t.Helper()
	if err := testenv.Wait(context.Background(), 10*time.Second, testenv.PollInterval, func(ctx context.Context) (bool, error) {
		ea := getEnterpriseAccount(t, name)
		ea.Spec.BalanceSyncInterval = &metav1.Duration{Duration: d}
		err := k8s.Update(ctx, ea)
		return err == nil, err
	}, nil); err != nil {
		t.Fatal(err)
	}
	var ea *budgetv1alpha1.EnterpriseAccount
	testenv.Eventually(t, 30*time.Second, "EnterpriseAccount read for its new generation", func() bool {
		ea = getEnterpriseAccount(t, name)
		return ea.Status.ObservedGeneration == ea.Generation && common.IsTrue(ea.Status.Conditions, budgetv1alpha1.ConditionReady)
	}, func() string { return fmt.Sprintf("%+v", ea.Status) })
}

// TestEnterpriseAccountFollowsMovements: with the next full read of the
// master's balances an hour away, the EnterpriseAccount's transferable cash
// shows a funded allocation within seconds, published from the operator's
// cache without a full read.
func TestEnterpriseAccountFollowsMovements(t *testing.T) {
	setBalanceInterval(t, eaName, time.Hour)
	t.Cleanup(func() { setBalanceInterval(t, eaName, 10*time.Second) })
	lastSync := getEnterpriseAccount(t, eaName).Status.LastSyncTime

	tm := newTeam(t)
	tm.create(t, tm.allocation("fresh", "33"))
	tm.waitReady(t, "fresh", "33.00")
	tm.expectLedger(t, "33.00")

	var ea *budgetv1alpha1.EnterpriseAccount
	var want string
	testenv.Eventually(t, 5*time.Second, "EnterpriseAccount status shows the master's transferable cash", func() bool {
		master, _ := sim.Master("")
		want = master.Cash.String()
		ea = getEnterpriseAccount(t, eaName)
		return string(ea.Status.TransferableCash) == want && ea.Status.BalancesTime != nil && !ea.Status.BalancesTime.Before(lastSync)
	}, func() string {
		return fmt.Sprintf("status shows %s as of %v (last full read %v), simulator %s", ea.Status.TransferableCash, ea.Status.BalancesTime, ea.Status.LastSyncTime, want)
	})
	if !ea.Status.LastSyncTime.Equal(lastSync) {
		t.Errorf("lastSyncTime went from %v to %v: a full read, not the movement, brought the status up to date", lastSync, ea.Status.LastSyncTime)
	}
}

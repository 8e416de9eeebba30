package subaccount

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/costs"
	"github.com/bss-budget-operator/bss-budget-operator/internal/forecast"
	"github.com/bss-budget-operator/bss-budget-operator/internal/metrics"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// syncCosts reads the master's cost data with the bills (it is shared with
// the other SubAccounts of the master for a billing interval) and
// reports this sub-account's: status.costs, and the forecast. Cost Center
// being off (CBC.18000014) is the EnterpriseAccount's condition; here it
// only means no costs and no forecast. Any other failure keeps the last
// costs: they are a report, not something the SubAccount's readiness
// depends on.
func (r *Reconciler) syncCosts(ctx context.Context, s *scope) {
	st := s.status()
	// Cost Center refreshes its data once a day: one read per billing
	// interval serves the master's EnterpriseAccount and every SubAccount,
	// whenever in the interval each syncs.
	ttl := common.BillingInterval(s.ea)
	snap, err := costs.Shared(ctx, s.acct, s.now, ttl, func(ctx context.Context) ([]string, error) {
		return common.SubCustomerIDs(ctx, r, s.ea.Name)
	})
	switch {
	case bss.IsCostCenterNotEnabled(err):
		st.Costs = nil
		metrics.SubAccountAmortizedCost.DeletePartialMatch(map[string]string{"subaccount": s.sa.Name})
		r.evaluateForecast(s, nil, "Cost Center is not enabled on the master (CBC.18000014): no daily spend to project from")
		return
	case err != nil:
		log.FromContext(ctx).V(1).Info("reading the costs failed; the last ones are kept", "error", err.Error())
		return
	}
	a := snap.Accounts[s.customerID]
	if a == nil {
		a = &costs.Account{}
	}
	st.Costs = costReport(snap, a)
	metrics.SubAccountAmortizedCost.WithLabelValues(s.sa.Name, "current").Set(metrics.Fen(st.Costs.CurrentCycle.Amortized.Amount()))
	metrics.SubAccountAmortizedCost.WithLabelValues(s.sa.Name, "previous").Set(metrics.Fen(st.Costs.PreviousCycle.Amortized.Amount()))
	in := snap.ForecastInput(a, s.now, st.CurrentCycle.Consumption.Amount())
	res := forecast.Project(in)
	r.evaluateForecast(s, &res, "")
	if st.Forecast != nil {
		st.Forecast.DataThrough = snap.Through
	}
}

// costReport is a sub-account's status.costs from the master's snapshot.
func costReport(snap *costs.Snapshot, a *costs.Account) *budgetv1alpha1.CostReport {
	cur := &budgetv1alpha1.CycleCost{Cycle: snap.Cycle}
	prev := &budgetv1alpha1.CycleCost{Cycle: snap.Previous}
	o, m := a.CycleTotals(snap.Cycle)
	cur.Original, cur.Amortized = common.Money(o), common.Money(m)
	o, m = a.CycleTotals(snap.Previous)
	prev.Original, prev.Amortized = common.Money(o), common.Money(m)
	rep := &budgetv1alpha1.CostReport{
		CurrentCycle: cur, PreviousCycle: prev, DataThrough: snap.Through,
		SyncTime: stamp(snap.Time),
	}
	for _, sv := range a.Services {
		rep.TopServices = append(rep.TopServices, budgetv1alpha1.ServiceCost{Service: sv.Code, Name: sv.Name, Amount: common.Money(sv.Amount)})
	}
	return rep
}

// evaluateForecast records the projection (nil: none possible, for the
// reason unknown) and compares it with the monthly budget: the
// BudgetForecastExceeded condition, a Warning event the first time in a
// cycle the projection passes the budget (before the money is spent), and
// the metrics.
func (r *Reconciler) evaluateForecast(s *scope, res *forecast.Result, unknown string) {
	st := s.status()
	cycle := st.CurrentCycle.Cycle
	fc := &budgetv1alpha1.SpendForecast{Cycle: cycle}
	if prev := st.Forecast; prev != nil && prev.AlertedCycle == cycle {
		fc.AlertedCycle = cycle
	}
	st.Forecast = fc
	var budget money.Amount
	if mb := s.sa.Spec.MonthlyBudget; mb != nil {
		budget = mb.Amount.Amount()
	}
	name := s.sa.Name
	if res == nil || !res.Known {
		if res != nil {
			fc.Spent, fc.Basis = common.Money(res.Spent), res.Basis
		} else {
			fc.Spent, fc.Basis = st.CurrentCycle.Consumption, unknown
		}
		metrics.SubAccountForecast.DeleteLabelValues(name)
		metrics.SubAccountForecastRatio.DeleteLabelValues(name)
		if budget.IsPositive() {
			common.SetCondition(&st.Conditions, s.sa.Generation, budgetv1alpha1.ConditionBudgetForecastExceeded, metav1.ConditionUnknown,
				budgetv1alpha1.ReasonForecastUnknown, "no projection of bill cycle "+cycle+": "+fc.Basis)
		} else {
			meta.RemoveStatusCondition(&st.Conditions, budgetv1alpha1.ConditionBudgetForecastExceeded)
		}
		return
	}
	fc.Spent, fc.DailyRate, fc.Projected, fc.Basis = common.Money(res.Spent), common.Money(res.DailyRate), common.Money(res.Projected), res.Basis
	metrics.SubAccountForecast.WithLabelValues(name).Set(metrics.Fen(res.Projected))
	if !budget.IsPositive() {
		metrics.SubAccountForecastRatio.DeleteLabelValues(name)
		meta.RemoveStatusCondition(&st.Conditions, budgetv1alpha1.ConditionBudgetForecastExceeded)
		return
	}
	pct := budgetPercent(res.Projected, budget)
	fc.ProjectedPercent = &pct
	metrics.SubAccountForecastRatio.WithLabelValues(name).Set(float64(res.Projected.Fen()) / float64(budget.Fen()))
	msg := fmt.Sprintf("bill cycle %s is projected to spend %s (%d%% of the monthly budget %s): %s so far, then %s a day (%s)",
		cycle, res.Projected, pct, budget, res.Spent, res.DailyRate, res.Basis)
	if !res.Exceeds(budget) {
		common.SetCondition(&st.Conditions, s.sa.Generation, budgetv1alpha1.ConditionBudgetForecastExceeded, metav1.ConditionFalse,
			budgetv1alpha1.ReasonForecastWithinBudget, msg)
		return
	}
	common.SetCondition(&st.Conditions, s.sa.Generation, budgetv1alpha1.ConditionBudgetForecastExceeded, metav1.ConditionTrue,
		budgetv1alpha1.ReasonForecastAboveBudget, msg)
	if fc.AlertedCycle != cycle {
		fc.AlertedCycle = cycle
		s.warn(budgetv1alpha1.ReasonForecastAboveBudget, actionAlert, msg)
	}
}

package subaccount

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/accounts"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/metrics"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Keys of the per-master batches the SubAccounts of one master share.
var (
	keySubCustomers     = accounts.NewKey[map[string]bss.SubCustomer]("subaccount/sub-customers")
	keyOrders           = accounts.NewKey[map[string][]bss.Order]("subaccount/orders")
	keyMonthlySumPrefix = accounts.NewKey[map[string]billTotals]("subaccount/monthly-sum/")
)

// subCustomersTTL is how long the master's list of sub-accounts is shared
// between the reconciles of its SubAccounts.
const subCustomersTTL = 30 * time.Second

// subCustomers is the master's list of sub-accounts by customer id.
func (r *Reconciler) subCustomers(ctx context.Context, s *scope, fresh bool) (map[string]bss.SubCustomer, bool, error) {
	return accounts.Batch(ctx, s.acct, keySubCustomers, s.now, subCustomersTTL, fresh, func(ctx context.Context) (map[string]bss.SubCustomer, error) {
		subs, err := s.acct.Client.ListAllSubCustomers(ctx, bss.ListSubCustomersRequest{})
		if err != nil {
			return nil, err
		}
		byID := make(map[string]bss.SubCustomer, len(subs))
		for _, sub := range subs {
			byID[sub.ID] = sub
		}
		return byID, nil
	})
}

// monthlySums is one bill cycle's monthly-sum bill of the master and all
// its sub-accounts (method=all, every page), totalled per customer id.
func (r *Reconciler) monthlySums(ctx context.Context, s *scope, cycle string, ttl time.Duration) (map[string]billTotals, error) {
	v, _, err := accounts.Batch(ctx, s.acct, keyMonthlySumPrefix.With(cycle), s.now, ttl, false, func(ctx context.Context) (map[string]billTotals, error) {
		resp, err := s.acct.Client.ListAllMonthlySums(ctx, bss.MonthlySumRequest{BillCycle: cycle, Method: bss.MethodAll})
		if err != nil {
			return nil, err
		}
		return groupBills(resp.BillSums), nil
	})
	return v, err
}

// orders are the orders the master's sub-accounts placed (method=
// sub_customer, newest first, every page), by customer id.
func (r *Reconciler) orders(ctx context.Context, s *scope, ttl time.Duration) (map[string][]bss.Order, error) {
	v, _, err := accounts.Batch(ctx, s.acct, keyOrders, s.now, ttl, false, func(ctx context.Context) (map[string][]bss.Order, error) {
		orders, err := s.acct.Client.ListAllOrders(ctx, bss.ListOrdersRequest{Method: bss.MethodSubCustomer, OrderBy: bss.OrderByCreateTimeDesc})
		if err != nil {
			return nil, err
		}
		return groupOrders(orders), nil
	})
	return v, err
}

// syncBilling reads the current and previous bill cycle and the orders
// when they are due: on the EnterpriseAccount's billingSyncInterval, when a
// new cycle began, after a spec change, or while recovering from a
// failure. The batches are shared by all SubAccounts of the master for
// half the interval, so that no SubAccount reports bills older than one
// and a half intervals. The orders pending payment make
// status.orderPayments, and with the orderPayment policy in mode Auto the
// OrderPayments of those that fit (reportOrders).
func (r *Reconciler) syncBilling(ctx context.Context, s *scope) (ctrl.Result, error) {
	st := s.status()
	if !s.billingDue() {
		return ctrl.Result{}, nil
	}
	interval := common.BillingInterval(s.ea)
	cur, prev := billcycle.Of(s.now), billcycle.Previous(s.now)
	newCycle := s.newBillCycle()
	ttl := interval / 2
	curBills, err := r.monthlySums(ctx, s, cur, ttl)
	var prevBills map[string]billTotals
	var orders map[string][]bss.Order
	if err == nil {
		prevBills, err = r.monthlySums(ctx, s, prev, ttl)
	}
	if err == nil {
		orders, err = r.orders(ctx, s, ttl)
	}
	if err != nil {
		if !isAPIError(err) {
			return ctrl.Result{}, err
		}
		return s.bssFailed(err, "reading the bills and orders"), nil
	}
	id := s.customerID
	if newCycle {
		// Alerts are once per cycle: a new cycle starts with none.
		st.AlertedThresholds = nil
	}
	st.CurrentCycle = cycleSummary(cur, curBills[id])
	st.PreviousCycle = cycleSummary(prev, prevBills[id])
	st.Orders = summarizeOrders(orders[id])
	if err := r.reportOrders(ctx, s, orders[id]); err != nil {
		return ctrl.Result{}, err
	}
	r.syncCosts(ctx, s)
	st.LastBillingSyncTime = stamp(s.now)
	metrics.SubAccountConsumption.WithLabelValues(s.sa.Name).Set(metrics.Fen(st.CurrentCycle.Consumption.Amount()))
	return ctrl.Result{}, nil
}

// billingDue reports whether syncBilling reads the bills and orders in this
// reconcile.
func (s *scope) billingDue() bool {
	return s.forceSync() || s.newBillCycle() || due(s.status().LastBillingSyncTime, common.BillingInterval(s.ea), s.now)
}

// newBillCycle reports that status.currentCycle is not the current bill
// cycle (or not there yet).
func (s *scope) newBillCycle() bool {
	st := s.status()
	return st.CurrentCycle == nil || st.CurrentCycle.Cycle != billcycle.Of(s.now)
}

// evaluateBudget compares the current cycle's consumption with the monthly
// budget: the percentages, a Warning event when a threshold is reached (once
// per threshold and cycle; one event for the highest when a sync finds
// several reached), and the BudgetExceeded condition.
func (r *Reconciler) evaluateBudget(_ context.Context, s *scope) (ctrl.Result, error) {
	st := s.status()
	mb := s.sa.Spec.MonthlyBudget
	var budget money.Amount
	if mb != nil {
		budget = mb.Amount.Amount()
	}
	if !budget.IsPositive() {
		meta.RemoveStatusCondition(&st.Conditions, budgetv1alpha1.ConditionBudgetExceeded)
		st.AlertedThresholds = nil
		for _, c := range []*budgetv1alpha1.BillCycleSummary{st.CurrentCycle, st.PreviousCycle} {
			if c != nil {
				c.BudgetPercent = nil
			}
		}
		metrics.SubAccountBudgetRatio.DeleteLabelValues(s.sa.Name)
		return ctrl.Result{}, nil
	}
	if st.CurrentCycle == nil {
		return ctrl.Result{}, nil // no bill read yet
	}
	if st.PreviousCycle != nil {
		p := budgetPercent(st.PreviousCycle.Consumption.Amount(), budget)
		st.PreviousCycle.BudgetPercent = &p
	}
	cycle := st.CurrentCycle.Cycle
	consumption := st.CurrentCycle.Consumption.Amount()
	percent := budgetPercent(consumption, budget)
	st.CurrentCycle.BudgetPercent = &percent

	announce, next := planAlerts(mb.AlertThresholds, st.AlertedThresholds, consumption, budget)
	st.AlertedThresholds = next
	if len(announce) > 0 {
		top := announce[len(announce)-1]
		s.warn(thresholdReason(top), actionAlert, alertNote(consumption, budget, cycle, top, announce[:len(announce)-1]))
	}
	if consumption.Cmp(budget) > 0 {
		common.SetCondition(&st.Conditions, s.sa.Generation, budgetv1alpha1.ConditionBudgetExceeded, metav1.ConditionTrue, budgetv1alpha1.ReasonBudgetExceeded,
			fmt.Sprintf("consumption %s in bill cycle %s is above the monthly budget %s (%d%%)", consumption, cycle, budget, percent))
	} else {
		common.SetCondition(&st.Conditions, s.sa.Generation, budgetv1alpha1.ConditionBudgetExceeded, metav1.ConditionFalse, budgetv1alpha1.ReasonWithinBudget,
			fmt.Sprintf("consumption %s in bill cycle %s is within the monthly budget %s (%d%%)", consumption, cycle, budget, percent))
	}
	metrics.SubAccountBudgetRatio.WithLabelValues(s.sa.Name).Set(float64(consumption.Fen()) / float64(budget.Fen()))
	return ctrl.Result{}, nil
}

// sumGranted adds up the allocations' confirmed grants.
func sumGranted(items []budgetv1alpha1.BudgetAllocation) (money.Amount, int32) {
	var total money.Amount
	for i := range items {
		total = total.Add(items[i].Status.Granted.Amount())
	}
	return total, int32(len(items))
}

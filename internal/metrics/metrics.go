// Package metrics defines the operator's Prometheus metrics. They are
// registered explicitly (Register) on controller-runtime's registry by the
// manager, never at import.
package metrics

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

const namespace = "bss_budget"

var (
	// BSSRequests counts BSS HTTP attempts by operation and result code
	// ("OK" for success, the BSS/APIG error code, or "transport").
	BSSRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "bss_requests_total",
		Help: "BSS API calls by operation and result code (OK, a BSS or APIG error code, or transport).",
	}, []string{"operation", "code"})

	// BSSRequestDuration observes BSS HTTP attempt latency by operation.
	BSSRequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "bss_request_duration_seconds",
		Help:    "Latency of BSS API calls by operation.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
	}, []string{"operation"})

	// BSSThrottled counts BSS answers of 429 APIG.0308 by operation.
	BSSThrottled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "bss_throttled_total",
		Help: "BSS calls rejected by throttling (HTTP 429, APIG.0308) by operation.",
	}, []string{"operation"})

	// Transfers counts BudgetTransfers reaching a final phase.
	Transfers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "transfers_total",
		Help: "BudgetTransfers by operation and result (Succeeded, Failed, AlreadyApplied, TransIDBurned, Denied, Resolved).",
	}, []string{"operation", "result"})

	// TransferredFen sums the fen moved by succeeded transfers.
	TransferredFen = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "transferred_fen_total",
		Help: "Fen moved by succeeded BudgetTransfers, by operation.",
	}, []string{"operation"})

	// MasterTransferable is the master's transferable balance.
	MasterTransferable = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "master_transferable_fen",
		Help: "Transferable balance in fen of the master account, by EnterpriseAccount and balance type (debit, credit).",
	}, []string{"enterprise_account", "balance_type"})

	// SubAccountReclaimable is a sub-account's reclaimable balance.
	SubAccountReclaimable = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "subaccount_reclaimable_fen",
		Help: "Reclaimable balance in fen of a sub-account, by SubAccount and balance type (debit, credit, coupon).",
	}, []string{"subaccount", "balance_type"})

	// SubAccountConsumption is the current bill cycle's consumption.
	SubAccountConsumption = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "subaccount_cycle_consumption_fen",
		Help: "Consumption in fen of a sub-account in the current bill cycle (UTC+8).",
	}, []string{"subaccount"})

	// SubAccountBudgetRatio is consumption divided by the monthly budget.
	SubAccountBudgetRatio = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "subaccount_budget_used_ratio",
		Help: "Current bill cycle consumption divided by spec.monthlyBudget.amount.",
	}, []string{"subaccount"})

	// SubAccountGranted is the total granted to a sub-account by allocations.
	SubAccountGranted = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "subaccount_granted_fen",
		Help: "Net fen granted to a sub-account by all BudgetAllocations.",
	}, []string{"subaccount"})

	// AllocationGranted is an allocation's confirmed net grant.
	AllocationGranted = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "allocation_granted_fen",
		Help: "Confirmed net fen granted by a BudgetAllocation.",
	}, []string{"namespace", "allocation", "subaccount"})

	// OrderPayments counts OrderPayments reaching a final phase.
	OrderPayments = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "order_payments_total",
		Help: "OrderPayments reaching a final phase, by SubAccount and result (Paid, PaidElsewhere, Failed, Cancelled, Denied).",
	}, []string{"subaccount", "result"})

	// SubAccountOrdersPaid is what OrderPayments paid for a sub-account.
	SubAccountOrdersPaid = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "subaccount_orders_paid_fen",
		Help: "Fen the master paid for a sub-account's orders through OrderPayments (status.paidOrders).",
	}, []string{"subaccount"})

	// SubAccountOrdersPending counts a sub-account's orders pending payment.
	SubAccountOrdersPending = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "subaccount_orders_pending_payment",
		Help: "Orders of a sub-account pending payment on its behalf, as of the last billing sync.",
	}, []string{"subaccount"})

	// SubAccountOldestPendingOrder is the age of the oldest pending order.
	SubAccountOldestPendingOrder = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "subaccount_oldest_pending_order_age_seconds",
		Help: "Age in seconds of a sub-account's oldest order pending payment (0 when none), as of the last billing sync.",
	}, []string{"subaccount"})

	// AllocationPending is an allocation's in-flight amount.
	AllocationPending = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "allocation_pending_fen",
		Help: "Signed fen in flight for a BudgetAllocation (negative for a reclaim).",
	}, []string{"namespace", "allocation", "subaccount"})

	// SubAccountAmortizedCost is a sub-account's amortized cost of a cycle.
	SubAccountAmortizedCost = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "subaccount_amortized_cost_fen",
		Help: "A sub-account's amortized cost (Cost Center) of the current or previous bill cycle, in fen; trails the bills by a day or two.",
	}, []string{"subaccount", "cycle"})

	// SubAccountForecast is the projected spend of the current cycle.
	SubAccountForecast = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "subaccount_forecast_fen",
		Help: "A sub-account's projected spend of the current bill cycle, in fen (absent while too little data).",
	}, []string{"subaccount"})

	// SubAccountForecastRatio is the projection over the monthly budget.
	SubAccountForecastRatio = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "subaccount_forecast_budget_ratio",
		Help: "A sub-account's projected spend of the current bill cycle over its monthly budget (above 1: the forecast passes the budget).",
	}, []string{"subaccount"})

	// SubAccountExternalMovements is money moved outside the operator.
	SubAccountExternalMovements = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "subaccount_external_movements_fen",
		Help: "Money the master moved to (direction=in) or from (direction=out) a sub-account in the current bill cycle outside the operator, in fen.",
	}, []string{"subaccount", "direction"})

	// ExternalMovements counts movements outside the operator.
	ExternalMovements = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "external_movements_total",
		Help: "Transfers (direction=in) and reclaims (direction=out) in a master's income/expense records that no BudgetTransfer accounts for.",
	}, []string{"enterprise_account", "direction"})

	// MasterBalance is the master's own balance by account type.
	MasterBalance = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "master_balance_fen",
		Help: "The master account's own balance by account type (cash, credit, bonus, deposit, debt), in fen.",
	}, []string{"enterprise_account", "account_type"})

	// PackageUnused is the unused share of a resource package.
	PackageUnused = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "resource_package_unused_ratio",
		Help: "The largest unused share of any quota of a master's resource package (0 to 1).",
	}, []string{"enterprise_account", "package", "name"})

	// PackageExpiry is the time left before a resource package expires.
	PackageExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "resource_package_expiry_seconds",
		Help: "Seconds until a master's resource package expires.",
	}, []string{"enterprise_account", "package", "name"})

	// PackageExpiringUnused flags packages that expire unused.
	PackageExpiringUnused = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "resource_package_expiring_unused",
		Help: "1 when a master's resource package expires within the EnterpriseAccount's expiry horizon with more than its unused percentage left, else 0.",
	}, []string{"enterprise_account", "package", "name"})

	// CouponExpiring is the balance of coupons expiring soon.
	CouponExpiring = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "master_coupons_expiring_fen",
		Help: "Balance, in fen, of the master's transferable coupons that expire within the EnterpriseAccount's expiry horizon.",
	}, []string{"enterprise_account"})
)

var registerOnce sync.Once

// Register adds every metric to reg. Later calls do nothing.
func Register(reg prometheus.Registerer) {
	registerOnce.Do(func() {
		reg.MustRegister(BSSRequests, BSSRequestDuration, BSSThrottled, Transfers, TransferredFen,
			MasterTransferable, SubAccountReclaimable, SubAccountConsumption, SubAccountBudgetRatio,
			OrderPayments, SubAccountOrdersPaid, SubAccountOrdersPending, SubAccountOldestPendingOrder,
			SubAccountGranted, AllocationGranted, AllocationPending,
			SubAccountAmortizedCost, SubAccountForecast, SubAccountForecastRatio, SubAccountExternalMovements, ExternalMovements,
			MasterBalance, PackageUnused, PackageExpiry, PackageExpiringUnused, CouponExpiring)
		// Start every transfer outcome at zero so that increase() sees the
		// first one.
		for _, op := range []string{"Transfer", "Reclaim", "CouponTransfer", "CouponReclaim"} {
			for _, result := range []string{"Succeeded", "AlreadyApplied", "TransIDBurned", "Failed", "Denied", "Resolved"} {
				Transfers.WithLabelValues(op, result)
			}
			TransferredFen.WithLabelValues(op)
		}
	})
}

// Fen converts an amount to a gauge value: the integer number of fen, which a
// float64 holds exactly (up to 2^53 fen). Amount metrics are therefore in fen,
// never fractional; divide by 100 in PromQL for yuan.
func Fen(a money.Amount) float64 {
	return float64(a.Fen())
}

// Observer feeds BSS calls into the metrics; it implements bss.Observer.
type Observer struct{}

// ObserveCall records one BSS HTTP attempt.
func (Observer) ObserveCall(c bss.CallInfo) {
	code := c.Code
	switch {
	case code == "" && c.HTTPStatus >= 200 && c.HTTPStatus < 300:
		code = "OK"
	case code == "" && c.HTTPStatus == 0:
		code = "transport"
	case code == "":
		code = "HTTP" + strconv.Itoa(c.HTTPStatus)
	}
	BSSRequests.WithLabelValues(c.Operation, code).Inc()
	BSSRequestDuration.WithLabelValues(c.Operation).Observe(c.Duration.Seconds())
	if c.Throttled {
		BSSThrottled.WithLabelValues(c.Operation).Inc()
	}
}

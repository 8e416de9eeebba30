package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Reports configures what the operator reports of an EnterpriseAccount's
// own account: which resource packages and coupons it warns about.
type Reports struct {
	// ExpiryHorizon is how far ahead the operator looks for resource
	// packages and coupons that expire: one expiring within it is reported
	// (an event, a metric), a package only while more than
	// packageUnusedPercent of it is unused.
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h') && duration(self) <= duration('8760h')",message="expiryHorizon must be between 1h and 8760h (a year)"
	// +optional
	ExpiryHorizon *metav1.Duration `json:"expiryHorizon,omitempty"`

	// PackageUnusedPercent is the share of a resource package that must
	// still be unused for its coming expiry to be reported.
	// +kubebuilder:default=50
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	PackageUnusedPercent *int32 `json:"packageUnusedPercent,omitempty"`
}

// AccountBalances are the master's own balances by account type
// (ShowCustomerAccountBalances).
type AccountBalances struct {
	// Cash is the cash account's balance.
	// +optional
	Cash Money `json:"cash,omitempty"`
	// Credit is the credit account's balance.
	// +optional
	Credit Money `json:"credit,omitempty"`
	// CreditLine is the credit account's line.
	// +optional
	CreditLine Money `json:"creditLine,omitempty"`
	// Bonus is the bonus account's balance.
	// +optional
	Bonus Money `json:"bonus,omitempty"`
	// Deposit is the deposit account's balance.
	// +optional
	Deposit Money `json:"deposit,omitempty"`
	// Debt is the arrears.
	// +optional
	Debt Money `json:"debt,omitempty"`
	// Currency is the currency code.
	// +kubebuilder:validation:MaxLength=8
	// +optional
	Currency string `json:"currency,omitempty"`
}

// ResourcePackage is one of the master's resource packages.
type ResourcePackage struct {
	// ID is the package's order instance id.
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id"`
	// Name is the product name.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Name string `json:"name,omitempty"`
	// Service is the cloud service type code.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Service string `json:"service,omitempty"`
	// Region is where it applies.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Region string `json:"region,omitempty"`
	// Status is NotEffective, Effective, UsedUp, Expired or Unsubscribed.
	// +kubebuilder:validation:MaxLength=16
	// +optional
	Status string `json:"status,omitempty"`
	// ExpireTime is when it expires (UTC).
	// +kubebuilder:validation:MaxLength=32
	// +optional
	ExpireTime string `json:"expireTime,omitempty"`
	// UnusedPercent is the largest share of any of its quotas left unused.
	// +optional
	UnusedPercent int32 `json:"unusedPercent,omitempty"`
	// ExpiringUnused is true when it expires within the expiry horizon with
	// more than packageUnusedPercent unused.
	// +optional
	ExpiringUnused bool `json:"expiringUnused,omitempty"`
	// Quotas are its quotas: what remains of each.
	// +kubebuilder:validation:MaxItems=10
	// +optional
	Quotas []PackageQuota `json:"quotas,omitempty"`
}

// PackageQuota is one quota of a resource package.
type PackageQuota struct {
	// ID is the free resource id.
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id"`
	// UsageType is what it measures.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	UsageType string `json:"usageType,omitempty"`
	// Remaining is what is left, in the quota's unit, as a decimal string.
	// +kubebuilder:validation:MaxLength=32
	// +optional
	Remaining string `json:"remaining,omitempty"`
	// Original is what the quota (or its current period) started with.
	// +kubebuilder:validation:MaxLength=32
	// +optional
	Original string `json:"original,omitempty"`
	// PeriodEnd is when the current period of a resettable quota ends.
	// +kubebuilder:validation:MaxLength=32
	// +optional
	PeriodEnd string `json:"periodEnd,omitempty"`
}

// CostReport is a sub-account's amortized cost from Cost Center.
type CostReport struct {
	// CurrentCycle is this bill cycle's amortized cost so far.
	// +optional
	CurrentCycle *CycleCost `json:"currentCycle,omitempty"`
	// PreviousCycle is the last bill cycle's amortized cost.
	// +optional
	PreviousCycle *CycleCost `json:"previousCycle,omitempty"`
	// TopServices are the services that cost most in the current cycle
	// (amortized), largest first.
	// +kubebuilder:validation:MaxItems=5
	// +optional
	TopServices []ServiceCost `json:"topServices,omitempty"`
	// DataThrough is the last day (UTC+8, "2026-12-05") Cost Center had
	// data for: amortized cost trails the bills by a day or two.
	// +kubebuilder:validation:MaxLength=10
	// +optional
	DataThrough string `json:"dataThrough,omitempty"`
	// SyncTime is when the costs were read.
	// +optional
	SyncTime *metav1.Time `json:"syncTime,omitempty"`
}

// CycleCost is the amortized cost of one bill cycle.
type CycleCost struct {
	// Cycle is the bill cycle, "2026-12".
	// +kubebuilder:validation:MaxLength=7
	Cycle string `json:"cycle"`
	// Amortized is the cost with yearly/monthly purchases spread over the
	// months they cover.
	// +optional
	Amortized Money `json:"amortized,omitempty"`
	// Original is the cost as billed (purchases on the day they were paid).
	// +optional
	Original Money `json:"original,omitempty"`
}

// ServiceCost is one service's amortized cost.
type ServiceCost struct {
	// Service is the cloud service type code.
	// +kubebuilder:validation:MaxLength=64
	Service string `json:"service"`
	// Name is the service's name.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Name string `json:"name,omitempty"`
	// Amount is its amortized cost in the cycle.
	Amount Money `json:"amount"`
}

// SpendForecast projects the current bill cycle's spend.
type SpendForecast struct {
	// Cycle is the bill cycle projected, "2026-12".
	// +kubebuilder:validation:MaxLength=7
	Cycle string `json:"cycle"`
	// Spent is the cycle's spend so far: the bill's consumption, or the
	// daily costs when they are ahead of it.
	// +optional
	Spent Money `json:"spent,omitempty"`
	// DailyRate is the daily spend the rest of the cycle is projected at.
	// +optional
	DailyRate Money `json:"dailyRate,omitempty"`
	// Projected is the cycle's projected spend; unset when there is too
	// little data to project.
	// +optional
	Projected Money `json:"projected,omitempty"`
	// ProjectedPercent is Projected as a percentage of the monthly budget.
	// +optional
	ProjectedPercent *int32 `json:"projectedPercent,omitempty"`
	// Basis says what the daily rate comes from.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Basis string `json:"basis,omitempty"`
	// DataThrough is the last day with daily cost data (UTC+8).
	// +kubebuilder:validation:MaxLength=10
	// +optional
	DataThrough string `json:"dataThrough,omitempty"`
	// AlertedCycle is the cycle a BudgetForecastExceeded warning was last
	// announced for (once per cycle).
	// +kubebuilder:validation:MaxLength=7
	// +optional
	AlertedCycle string `json:"alertedCycle,omitempty"`
}

// Directions of an external movement.
const (
	// MovementIn is money the master moved to a sub-account.
	MovementIn = "In"
	// MovementOut is money the master reclaimed from a sub-account.
	MovementOut = "Out"
)

// ExternalMovement is a transfer to or a reclaim from a sub-account that
// no BudgetTransfer accounts for, as the master's income/expense records
// show it.
type ExternalMovement struct {
	// ID is the record's account_change_id.
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id"`
	// Time is the record's trade time (UTC).
	Time metav1.Time `json:"time"`
	// Direction is In (a transfer to a sub-account) or Out (a reclaim).
	// +kubebuilder:validation:Enum=In;Out
	Direction string `json:"direction"`
	// BalanceType is Cash or Credit.
	BalanceType BalanceType `json:"balanceType"`
	// Amount moved.
	Amount Money `json:"amount"`
	// TradeID is the record's trade_id.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	TradeID string `json:"tradeID,omitempty"`
	// SubAccount is the SubAccount whose reclaimable balance changed by the
	// amount at that time, when exactly one did; empty while none is known.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	SubAccount string `json:"subAccount,omitempty"`
}

// ExternalMovements summarises money moved outside the operator.
type ExternalMovements struct {
	// Cycle is the bill cycle the totals are of, "2026-12".
	// +kubebuilder:validation:MaxLength=7
	// +optional
	Cycle string `json:"cycle,omitempty"`
	// In is what was moved in this cycle by transfers the operator did not
	// make.
	// +optional
	In Money `json:"in,omitempty"`
	// Out is what was reclaimed in this cycle by reclaims the operator did
	// not make.
	// +optional
	Out Money `json:"out,omitempty"`
	// Latest are the most recent such movements, newest first.
	// +kubebuilder:validation:MaxItems=20
	// +optional
	Latest []ExternalMovement `json:"latest,omitempty"`
}

// BalanceResidual is a change of a sub-account's reclaimable balance
// between two reads that neither the operator's movements nor ordinary
// spending explain.
type BalanceResidual struct {
	// From is the time of the first read.
	From metav1.Time `json:"from"`
	// To is the time of the second read.
	To metav1.Time `json:"to"`
	// BalanceType is Cash or Credit.
	BalanceType BalanceType `json:"balanceType"`
	// Direction is In when the balance grew by more than the operator's
	// movements explain, Out when it shrank by more than they and ordinary
	// spending do.
	// +kubebuilder:validation:Enum=In;Out
	Direction string `json:"direction"`
	// Amount is the unexplained change.
	Amount Money `json:"amount"`
	// Tolerance is the spending the interval may hide.
	// +optional
	Tolerance Money `json:"tolerance,omitempty"`
}

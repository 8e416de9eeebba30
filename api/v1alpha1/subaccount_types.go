package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SubAccountSpec declares one enterprise sub-account.
//
// +kubebuilder:validation:XValidation:rule="has(self.customerID) != has(self.create)",message="set exactly one of customerID (adopt an existing sub-account) or create (create a new one)"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.customerID) || (has(self.customerID) && self.customerID == oldSelf.customerID)",message="customerID cannot be changed or removed once set"
// +kubebuilder:validation:XValidation:rule="!has(self.previousCustomers) || !has(self.customerID) || self.previousCustomers.all(p, p.customerID != self.customerID)",message="previousCustomers lists customers the SubAccount resolved to before; it cannot list its own customerID"
type SubAccountSpec struct {
	// EnterpriseAccountRef names the EnterpriseAccount (master) this
	// sub-account belongs to. It cannot be changed.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="enterpriseAccountRef cannot be changed"
	EnterpriseAccountRef LocalObjectReference `json:"enterpriseAccountRef"`

	// CustomerID adopts an existing sub-account by its BSS customer id. It
	// cannot be changed once set.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	// +optional
	CustomerID string `json:"customerID,omitempty"`

	// Create makes a new sub-account (or adopts one with the same login name).
	// +optional
	Create *SubAccountCreate `json:"create,omitempty"`

	// AllowedNamespaces lists the only namespaces whose BudgetAllocations may
	// fund this sub-account. Empty admits none.
	// +optional
	AllowedNamespaces *AllowedNamespaces `json:"allowedNamespaces,omitempty"`

	// FundingLimit caps the total all allocations may grant this sub-account.
	// +optional
	FundingLimit *Money `json:"fundingLimit,omitempty"`

	// MonthlyBudget raises events at consumption thresholds and a
	// BudgetExceeded condition above 100%.
	// +optional
	MonthlyBudget *MonthlyBudget `json:"monthlyBudget,omitempty"`

	// PreviousCustomers says what happens to money that BudgetAllocations of
	// this SubAccount granted to another BSS customer, before the SubAccount
	// was re-created or re-pointed. Until a customer is listed here, every
	// allocation holding money of it stops with reason CustomerChanged and
	// moves nothing.
	// +listType=map
	// +listMapKey=customerID
	// +kubebuilder:validation:MaxItems=20
	// +optional
	PreviousCustomers []PreviousCustomer `json:"previousCustomers,omitempty"`

	// OrderPayment says who pays the sub-account's pending yearly/monthly
	// orders that its master pays on its behalf: Manual (default) pays only
	// the OrderPayments people create; Auto has the operator create one for
	// each pending order that fits the policy.
	// +optional
	OrderPayment *OrderPaymentPolicy `json:"orderPayment,omitempty"`
}

// OrderPaymentMode is Manual or Auto.
// +kubebuilder:validation:Enum=Manual;Auto
type OrderPaymentMode string

const (
	// OrderPaymentManual pays only OrderPayments people create.
	OrderPaymentManual OrderPaymentMode = "Manual"
	// OrderPaymentAuto has the operator create an OrderPayment for each
	// pending order that fits the policy.
	OrderPaymentAuto OrderPaymentMode = "Auto"
)

// OrderPaymentPolicy is how a SubAccount's pending orders get paid.
//
// +kubebuilder:validation:XValidation:rule="self.mode != 'Auto' || (has(self.maxAmountPerOrder) && has(self.namespace))",message="mode Auto needs maxAmountPerOrder (the most one order may cost) and namespace (where the operator creates the OrderPayments)"
type OrderPaymentPolicy struct {
	// Mode is Manual (default) or Auto.
	// +kubebuilder:default=Manual
	// +optional
	Mode OrderPaymentMode `json:"mode,omitempty"`
	// MaxAmountPerOrder is the most an order may cost to be paid
	// automatically; it becomes the OrderPayment's maxAmount.
	// +kubebuilder:validation:XValidation:rule="!self.matches('^0([.]0{1,2})?$')",message="maxAmountPerOrder must be greater than 0"
	// +optional
	MaxAmountPerOrder *Money `json:"maxAmountPerOrder,omitempty"`
	// OrderTypes are the order types paid automatically; empty allows
	// every type.
	// +listType=set
	// +kubebuilder:validation:MaxItems=10
	// +optional
	OrderTypes []OrderType `json:"orderTypes,omitempty"`
	// Services are the service type codes (hws.service.type.ec2) paid
	// automatically; empty allows every service.
	// +listType=set
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=64
	// +optional
	Services []string `json:"services,omitempty"`
	// Namespace is where the operator creates the OrderPayments (an
	// administrator's namespace, or the team's).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// CancelOrderOnDelete is copied to the OrderPayments created.
	// +optional
	CancelOrderOnDelete bool `json:"cancelOrderOnDelete,omitempty"`
}

// OrderType is an order type as the operator names it.
// +kubebuilder:validation:Enum=New;Renewal;Change;Unsubscribe;ToPayPerUse;ToYearlyMonthly;Trial;TrialToCommercial;FeeAdjustment
type OrderType string

// PreviousCustomerPolicy is what to do with money granted to a customer the
// SubAccount no longer resolves to.
// +kubebuilder:validation:Enum=Reclaim;Release
type PreviousCustomerPolicy string

const (
	// PreviousCustomerReclaim reclaims from the previous customer what each
	// allocation granted it (at most what is still reclaimable) before the
	// allocation funds the current customer.
	PreviousCustomerReclaim PreviousCustomerPolicy = "Reclaim"
	// PreviousCustomerRelease leaves the money with the previous customer;
	// the allocations fund the current customer from zero.
	PreviousCustomerRelease PreviousCustomerPolicy = "Release"
)

// PreviousCustomer is an administrator's decision about money granted to a
// customer the SubAccount no longer resolves to.
type PreviousCustomer struct {
	// CustomerID is the previous BSS customer id.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	CustomerID string `json:"customerID"`
	// Policy is Reclaim or Release.
	Policy PreviousCustomerPolicy `json:"policy"`
}

// Permission is a right the sub-account grants the master.
// +kubebuilder:validation:Enum=READ_FINANCE_INFO;READ_CONSUME_BILL;SUBSTITUTE-OPEN-INVOICE;TAKE-OVER-OPEN-INVOICE;SHARE-CREDIT-TO-SUB;SHARE-BIZ-DISCOUNT-TO-SUB
type Permission string

// SubAccountCreate describes a sub-account the operator creates.
type SubAccountCreate struct {
	// AccountName is the login name of the new sub-account. It cannot be
	// changed: the operator would otherwise lose track of the account.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="create.accountName cannot be changed"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.-]+$`
	AccountName string `json:"accountName"`

	// DisplayName shown in the console.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	DisplayName string `json:"displayName,omitempty"`

	// PartyID is the org unit (Party ID) the sub-account hangs under.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=20
	// +kubebuilder:validation:Pattern=`^[0-9]+$`
	PartyID string `json:"partyID"`

	// Permissions the sub-account grants the master. READ_CONSUME_BILL is
	// needed for bill reporting on finance-independent sub-accounts.
	// +listType=set
	// +kubebuilder:validation:MaxItems=6
	// +optional
	Permissions []Permission `json:"permissions,omitempty"`

	// PasswordSecretRef selects the initial password (at least 8 characters)
	// in a Secret of the operator's namespace. Key defaults to "password".
	PasswordSecretRef SecretKeyReference `json:"passwordSecretRef"`

	// Phone chooses the mobile number of the new account.
	Phone SubAccountPhone `json:"phone"`
}

// SubAccountPhone is either the master's phone or the sub-account's own
// number confirmed with an SMS verification code.
//
// +kubebuilder:validation:XValidation:rule="(has(self.useMasterPhone) && self.useMasterPhone) != has(self.number)",message="set either useMasterPhone: true or number, not both"
// +kubebuilder:validation:XValidation:rule="!has(self.number) || has(self.verificationCodeSecretRef)",message="number needs verificationCodeSecretRef: the Secret where you put the SMS code the operator has sent"
type SubAccountPhone struct {
	// UseMasterPhone reuses the master account's mobile number.
	// +optional
	UseMasterPhone bool `json:"useMasterPhone,omitempty"`

	// Number is the sub-account's own mobile number. The operator sends an
	// SMS verification code to it, then waits for the code to appear in the
	// Secret named by verificationCodeSecretRef before it creates the account.
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^\+?[0-9]{5,20}$`
	// +optional
	Number string `json:"number,omitempty"`

	// VerificationCodeSecretRef is where a person puts the SMS code (key
	// defaults to "code"), in the operator's namespace.
	// +optional
	VerificationCodeSecretRef *SecretKeyReference `json:"verificationCodeSecretRef,omitempty"`
}

// AllowedNamespaces admits namespaces by name or by label.
type AllowedNamespaces struct {
	// Names of admitted namespaces.
	// +listType=set
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=63
	// +optional
	Names []string `json:"names,omitempty"`

	// Selector admits namespaces whose labels match.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// MonthlyBudget is a spending budget per bill cycle (calendar month, UTC+8).
type MonthlyBudget struct {
	// Amount of the budget per bill cycle.
	// +kubebuilder:validation:XValidation:rule="!self.matches('^0([.]0{1,2})?$')",message="monthlyBudget.amount must be greater than 0"
	Amount Money `json:"amount"`

	// AlertThresholds in percent of the budget. A Warning event with reason
	// BudgetThreshold<N>Reached (e.g. BudgetThreshold80Reached) is raised
	// once per cycle when consumption reaches threshold N; when one sync
	// finds several reached, only the highest gets an event, whose note
	// names the others.
	// +kubebuilder:default={50,80,100}
	// +listType=set
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:validation:items:Minimum=1
	// +kubebuilder:validation:items:Maximum=1000
	// +optional
	AlertThresholds []int32 `json:"alertThresholds,omitempty"`
}

// BillCycleSummary is one bill cycle's consumption from the monthly-sum bill.
type BillCycleSummary struct {
	// Cycle is the bill cycle, YYYY-MM in UTC+8.
	// +kubebuilder:validation:MaxLength=7
	Cycle string `json:"cycle"`
	// Consumption is the total consumption (cash + credit + coupon + debt).
	Consumption Money `json:"consumption"`
	// Cash paid from cash balance.
	// +optional
	Cash Money `json:"cash,omitempty"`
	// Credit paid from credit.
	// +optional
	Credit Money `json:"credit,omitempty"`
	// Coupon paid with coupons.
	// +optional
	Coupon Money `json:"coupon,omitempty"`
	// Debt left unpaid.
	// +optional
	Debt Money `json:"debt,omitempty"`
	// BudgetPercent is consumption as a percentage of monthlyBudget.amount.
	// +optional
	BudgetPercent *int32 `json:"budgetPercent,omitempty"`
}

// OrderSummary is one order of the sub-account.
type OrderSummary struct {
	// ID of the order.
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id"`
	// Type of the order: New, Renewal, Change, Unsubscribe or the BSS code.
	// +kubebuilder:validation:MaxLength=32
	// +optional
	Type string `json:"type,omitempty"`
	// Status of the order: PendingPayment, Processing, Completed, Cancelled
	// or the BSS code.
	// +kubebuilder:validation:MaxLength=32
	// +optional
	Status string `json:"status,omitempty"`
	// Amount after discount.
	// +optional
	Amount Money `json:"amount,omitempty"`
	// CreateTime of the order in UTC.
	// +kubebuilder:validation:MaxLength=32
	// +optional
	CreateTime string `json:"createTime,omitempty"`
}

// OrdersSummary counts the sub-account's orders by state.
type OrdersSummary struct {
	// PendingPayment orders.
	// +optional
	PendingPayment int32 `json:"pendingPayment,omitempty"`
	// Processing orders.
	// +optional
	Processing int32 `json:"processing,omitempty"`
	// Completed orders.
	// +optional
	Completed int32 `json:"completed,omitempty"`
	// Cancelled orders.
	// +optional
	Cancelled int32 `json:"cancelled,omitempty"`
	// Other orders (review, refund, logistics states).
	// +optional
	Other int32 `json:"other,omitempty"`
	// Latest orders, newest first.
	// +kubebuilder:validation:MaxItems=5
	// +optional
	Latest []OrderSummary `json:"latest,omitempty"`
}

// OrderPaymentReport is what the operator found of the sub-account's
// orders pending payment on its behalf at the last billing sync, and what
// it does about each.
type OrderPaymentReport struct {
	// Pending is the number of orders pending payment on the sub-account's
	// behalf.
	// +optional
	Pending int32 `json:"pending,omitempty"`
	// Covered is the number of them an OrderPayment pays.
	// +optional
	Covered int32 `json:"covered,omitempty"`
	// Unfit is the number of them the Auto policy does not pay.
	// +optional
	Unfit int32 `json:"unfit,omitempty"`
	// OldestCreateTime is the creation time of the oldest pending order.
	// +kubebuilder:validation:MaxLength=32
	// +optional
	OldestCreateTime string `json:"oldestCreateTime,omitempty"`
	// Orders are the pending orders, oldest first (at most 50 shown).
	// +kubebuilder:validation:MaxItems=50
	// +optional
	Orders []PendingOrder `json:"orders,omitempty"`
}

// PendingOrder is an order pending payment and what the operator does
// about it.
type PendingOrder struct {
	// ID of the order.
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id"`
	// Amount of the order after its discounts.
	// +optional
	Amount Money `json:"amount,omitempty"`
	// Type of the order (New, Renewal, …).
	// +kubebuilder:validation:MaxLength=32
	// +optional
	Type string `json:"type,omitempty"`
	// Service is its service type code.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Service string `json:"service,omitempty"`
	// CreateTime of the order in UTC.
	// +kubebuilder:validation:MaxLength=32
	// +optional
	CreateTime string `json:"createTime,omitempty"`
	// Payment is the OrderPayment (namespace/name) that pays it, if any.
	// +kubebuilder:validation:MaxLength=317
	// +optional
	Payment string `json:"payment,omitempty"`
	// Fits is true when the Auto policy pays it.
	// +optional
	Fits bool `json:"fits,omitempty"`
	// Reason says why the Auto policy does not pay it (empty when it fits).
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Reason string `json:"reason,omitempty"`
}

// SubAccountStatus is what the operator last saw of the sub-account.
type SubAccountStatus struct {
	// ObservedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions means Ready, BudgetExceeded, BudgetForecastExceeded.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// CustomerID is the sub-account's BSS customer id.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	CustomerID string `json:"customerID,omitempty"`
	// AccountName is the login name.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	AccountName string `json:"accountName,omitempty"`
	// DisplayName in the console.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	DisplayName string `json:"displayName,omitempty"`
	// OrgID is the org unit's party id.
	// +kubebuilder:validation:MaxLength=20
	// +optional
	OrgID string `json:"orgID,omitempty"`
	// OrgName is the org unit's name.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	OrgName string `json:"orgName,omitempty"`
	// AccountState means Normal, Creating, Closing, Closed, Registering,
	// AwaitingActivation.
	// +kubebuilder:validation:MaxLength=32
	// +optional
	AccountState string `json:"accountState,omitempty"`

	// ReclaimableCash is the cash the master can reclaim.
	// +optional
	ReclaimableCash Money `json:"reclaimableCash,omitempty"`
	// ReclaimableCashTime is when reclaimableCash was last read.
	// +optional
	ReclaimableCashTime *metav1.Time `json:"reclaimableCashTime,omitempty"`
	// ReclaimableCreditTime is when reclaimableCredit was last read.
	// +optional
	ReclaimableCreditTime *metav1.Time `json:"reclaimableCreditTime,omitempty"`
	// ReclaimableCredit are the credit ledgers the master can reclaim.
	// +kubebuilder:validation:MaxItems=100
	// +optional
	ReclaimableCredit []CreditLedger `json:"reclaimableCredit,omitempty"`
	// ReclaimableCoupons are the sub-coupons the master can reclaim.
	// +kubebuilder:validation:MaxItems=200
	// +optional
	ReclaimableCoupons []CouponBalance `json:"reclaimableCoupons,omitempty"`

	// Granted is the net total granted by all BudgetAllocations.
	// +optional
	Granted Money `json:"granted,omitempty"`
	// Allocations is the number of BudgetAllocations funding it.
	// +optional
	Allocations int32 `json:"allocations,omitempty"`

	// CurrentCycle is this bill cycle's consumption.
	// +optional
	CurrentCycle *BillCycleSummary `json:"currentCycle,omitempty"`
	// PreviousCycle is the last bill cycle's consumption.
	// +optional
	PreviousCycle *BillCycleSummary `json:"previousCycle,omitempty"`
	// AlertedThresholds are the budget thresholds already announced in
	// CurrentCycle.
	// +listType=set
	// +kubebuilder:validation:MaxItems=10
	// +optional
	AlertedThresholds []int32 `json:"alertedThresholds,omitempty"`

	// Orders summarises the sub-account's orders.
	// +optional
	Orders *OrdersSummary `json:"orders,omitempty"`

	// PaidOrders is what the master paid for the sub-account's orders
	// through OrderPayments (Paid, plus Paying ones that may have been
	// paid), for its current customer. With Granted it counts against
	// fundingLimit.
	// +optional
	PaidOrders Money `json:"paidOrders,omitempty"`
	// PaidOrdersThisCycle is the part of PaidOrders that counts in the
	// current bill cycle; with the cycle's consumption it counts against
	// monthlyBudget.
	// +optional
	PaidOrdersThisCycle Money `json:"paidOrdersThisCycle,omitempty"`
	// OrderPayments reports the orderPayment policy's last look at the
	// sub-account's pending orders.
	// +optional
	OrderPayments *OrderPaymentReport `json:"orderPayments,omitempty"`

	// VerificationCodeSentTime is when the operator sent the SMS
	// verification code for creating the sub-account.
	// +optional
	VerificationCodeSentTime *metav1.Time `json:"verificationCodeSentTime,omitempty"`
	// CreateRequestedTime is when the operator asked BSS to create the
	// sub-account.
	// +optional
	CreateRequestedTime *metav1.Time `json:"createRequestedTime,omitempty"`

	// LastBalanceSyncTime is when balances were last read: all of them, or
	// only those a grant change can have moved.
	// +optional
	LastBalanceSyncTime *metav1.Time `json:"lastBalanceSyncTime,omitempty"`
	// LastFullBalanceSyncTime is when all reclaimable balances (cash, credit
	// and coupons) were last read; the EnterpriseAccount's
	// balanceSyncInterval counts from it.
	// +optional
	LastFullBalanceSyncTime *metav1.Time `json:"lastFullBalanceSyncTime,omitempty"`
	// LastBillingSyncTime is when bills and orders were last read.
	// +optional
	LastBillingSyncTime *metav1.Time `json:"lastBillingSyncTime,omitempty"`

	// Costs is the sub-account's amortized cost from the master's Cost
	// Center, read with the bills; unset while Cost Center is not enabled
	// (the EnterpriseAccount's CostCenterNotEnabled condition says so).
	// +optional
	Costs *CostReport `json:"costs,omitempty"`
	// Forecast projects the current bill cycle's spend against the monthly
	// budget (condition BudgetForecastExceeded).
	// +optional
	Forecast *SpendForecast `json:"forecast,omitempty"`
	// ExternalMovements is the money the master moved to or from this
	// sub-account outside the operator: transfers and reclaims in the
	// master's records that no BudgetTransfer accounts for, attributed to
	// this sub-account by its reclaimable balance.
	// +optional
	ExternalMovements *ExternalMovements `json:"externalMovements,omitempty"`
	// BalanceResiduals are recent changes of the reclaimable balance that
	// the operator's movements and ordinary spending do not explain; an
	// external movement of the master is attributed to this sub-account by
	// one of them.
	// +kubebuilder:validation:MaxItems=10
	// +optional
	BalanceResiduals []BalanceResidual `json:"balanceResiduals,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=subacct,categories=budget
// +kubebuilder:printcolumn:name="Customer-ID",type=string,JSONPath=`.status.customerID`
// +kubebuilder:printcolumn:name="Balance",type=string,JSONPath=`.status.reclaimableCash`
// +kubebuilder:printcolumn:name="Granted",type=string,JSONPath=`.status.granted`
// +kubebuilder:printcolumn:name="Orders-Paid",type=string,JSONPath=`.status.paidOrders`,priority=1
// +kubebuilder:printcolumn:name="Cycle-Spend",type=string,JSONPath=`.status.currentCycle.consumption`
// +kubebuilder:printcolumn:name="Budget",type=string,JSONPath=`.spec.monthlyBudget.amount`
// +kubebuilder:printcolumn:name="Forecast",type=string,JSONPath=`.status.forecast.projected`
// +kubebuilder:printcolumn:name="Amortized",type=string,JSONPath=`.status.costs.currentCycle.amortized`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// SubAccount is one enterprise sub-account of a master, adopted or created
// by the operator. It is cluster-scoped and owned by platform administrators;
// teams fund it with BudgetAllocations from the namespaces it admits.
type SubAccount struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired sub-account.
	Spec SubAccountSpec `json:"spec"`
	// Status is what the operator observed.
	// +optional
	Status SubAccountStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// SubAccountList is a list of SubAccounts.
type SubAccountList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the SubAccounts.
	Items []SubAccount `json:"items"`
}

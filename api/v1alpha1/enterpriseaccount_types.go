package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EnterpriseAccountSpec is the connection to one Huawei Cloud enterprise
// master account.
type EnterpriseAccountSpec struct {
	// Endpoint is the BSS API base URL. It must be https; plain http is
	// accepted only for 127.0.0.1, localhost and [::1] (for the simulator).
	// +kubebuilder:default="https://bss.myhuaweicloud.com"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="isURL(self) && (url(self).getScheme() == 'https' || (url(self).getScheme() == 'http' && url(self).getHostname() in ['127.0.0.1', 'localhost', '::1']))",message="endpoint must be an https URL; plain http is allowed only for 127.0.0.1, localhost or [::1]"
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// CredentialsSecretRef names the Secret holding the master account's
	// access key. Keys: accessKeyID, secretAccessKey, domainID and optionally
	// securityToken. The Secret must live in the operator's namespace; the
	// operator reads no Secret elsewhere.
	CredentialsSecretRef SecretReference `json:"credentialsSecretRef"`

	// RateLimit caps the requests per second the operator sends per BSS API.
	// +optional
	RateLimit *RateLimit `json:"rateLimit,omitempty"`

	// BalanceSyncInterval is how often balances and coupons are read.
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s') && duration(self) <= duration('24h')",message="balanceSyncInterval must be between 10s and 24h"
	// +optional
	BalanceSyncInterval *metav1.Duration `json:"balanceSyncInterval,omitempty"`

	// BillingSyncInterval is how often bills and orders are read.
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('168h')",message="billingSyncInterval must be between 1m and 168h"
	// +optional
	BillingSyncInterval *metav1.Duration `json:"billingSyncInterval,omitempty"`

	// Approval holds transfers above a threshold until someone approves them.
	// +optional
	Approval *Approval `json:"approval,omitempty"`

	// Reports configures the reports of the master's own account: which
	// resource packages and coupons about to expire are reported.
	// +optional
	Reports *Reports `json:"reports,omitempty"`

	// BSSBehaviour records what is known of this master's BSS where Huawei
	// does not document it (run bss-probe against the master to find out).
	// Every answer defaults to Unknown, under which the operator assumes the
	// least and asks for evidence before it records money as moved.
	// +optional
	BSSBehaviour *BSSBehaviour `json:"bssBehaviour,omitempty"`
}

// BSSBehaviour holds the answers to the questions about BSS's money APIs
// that its documentation leaves open (docs/exactly-once.md §7).
type BSSBehaviour struct {
	// RefusedTransIDs: whether BSS remembers the trans_id of a request it
	// refused with a terminal code, so that a resend with it answers
	// CBC.99007009 ("already exists") although nothing moved. Unless it is
	// Reusable, the operator confirms a CBC.99007009 answer with evidence
	// before it records the movement as Succeeded.
	// +kubebuilder:validation:Enum=Unknown;Reusable;Burned
	// +kubebuilder:default=Unknown
	// +optional
	RefusedTransIDs string `json:"refusedTransIDs,omitempty"`

	// TransIDRetention is how long BSS remembers a trans_id. The operator
	// never resends a transfer whose first attempt is older than this less
	// one minute (nor older than its --transfer-safety-window): BSS would
	// process it as new. Unset means unknown: the safety window alone
	// applies.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('2m')",message="transIDRetention must be at least 2m"
	// +optional
	TransIDRetention *metav1.Duration `json:"transIDRetention,omitempty"`

	// TransferRecords: what the master's income/expense records show of a
	// transfer to or reclaim from a sub-account. WithTransID: a record whose
	// trade_id is the trans_id (the operator then proves from the records
	// both that a movement happened and that it did not); WithoutTransID: a
	// record with BSS's own trade_id; None: nothing. Under Unknown the
	// operator takes a record carrying its trans_id as proof, and the
	// absence of one as nothing.
	// +kubebuilder:validation:Enum=Unknown;WithTransID;WithoutTransID;None
	// +kubebuilder:default=Unknown
	// +optional
	TransferRecords string `json:"transferRecords,omitempty"`

	// Reclaimable: what BSS reports as a sub-account's reclaimable cash.
	// FundedOnly: the cash the master gave it less what was spent of it;
	// TotalBalance: its whole cash balance, money it topped up itself
	// included. Unless it is FundedOnly, the operator reclaims no more cash
	// than its grants less what the sub-account's bills show it spent.
	// +kubebuilder:validation:Enum=Unknown;FundedOnly;TotalBalance
	// +kubebuilder:default=Unknown
	// +optional
	Reclaimable string `json:"reclaimable,omitempty"`
}

// Values of the BSSBehaviour fields.
const (
	BehaviourUnknown        = "Unknown"
	RefusedTransIDsReusable = "Reusable"
	RefusedTransIDsBurned   = "Burned"
	RecordsWithTransID      = "WithTransID"
	RecordsWithoutTransID   = "WithoutTransID"
	RecordsNone             = "None"
	ReclaimableFundedOnly   = "FundedOnly"
	ReclaimableTotalBalance = "TotalBalance"
)

// SecretReference names a Secret.
type SecretReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Namespace of the Secret. It defaults to, and must equal, the operator's
	// namespace.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// RateLimit caps request rates.
type RateLimit struct {
	// RequestsPerSecond per BSS API, below Huawei's default of 10.
	// +kubebuilder:default=8
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	// +optional
	RequestsPerSecond int32 `json:"requestsPerSecond,omitempty"`
}

// Approval configures manual approval of large transfers. Transfers of
// money or coupons to a sub-account need approval above either limit;
// reclaims never do. A transfer whose approval settings cannot be read waits
// for approval too.
type Approval struct {
	// AutoApproveUpTo is the largest amount a transfer may move without
	// approval. A larger transfer waits in AwaitingApproval until an Approved
	// condition is set on its status (or Denied fails it). Unset means every
	// transfer is approved automatically.
	// +optional
	AutoApproveUpTo *Money `json:"autoApproveUpTo,omitempty"`

	// AutoApproveCyclePerSubAccount is the most that moves to one
	// sub-account in one bill cycle (calendar month, UTC+8) without
	// approval: a transfer that would take the sub-account's auto-approved
	// transfers of the cycle past it waits in AwaitingApproval, however small
	// it is, so that a limit per transfer cannot be walked around by raising
	// an allocation in steps. Transfers an approver approved do not count.
	// Unset, it is autoApproveUpTo: by default at most that much per
	// sub-account and cycle moves without approval.
	// +optional
	AutoApproveCyclePerSubAccount *Money `json:"autoApproveCyclePerSubAccount,omitempty"`
}

// CouponBalance is a coupon and its remaining balance.
type CouponBalance struct {
	// CouponID is the master's coupon id.
	// +kubebuilder:validation:MaxLength=64
	CouponID string `json:"couponID"`

	// SubCouponID is the child coupon held by a sub-account, if this is one.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	SubCouponID string `json:"subCouponID,omitempty"`

	// PlanName is the coupon's plan name.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	PlanName string `json:"planName,omitempty"`

	// Balance left on the coupon.
	Balance Money `json:"balance"`

	// ExpireTime of the coupon in UTC.
	// +kubebuilder:validation:MaxLength=32
	// +optional
	ExpireTime string `json:"expireTime,omitempty"`
}

// EnterpriseAccountStatus is what the operator last saw of the master account.
type EnterpriseAccountStatus struct {
	// ObservedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions means Ready (credentials work and balances were read),
	// CostCenterNotEnabled and ReportsSynced.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// DomainID is the master account's domain id from the credentials Secret.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	DomainID string `json:"domainID,omitempty"`

	// TransferableCash is the cash the master can transfer now.
	// +optional
	TransferableCash Money `json:"transferableCash,omitempty"`

	// CreditLedgers are the master's credit ledgers that can be transferred.
	// +kubebuilder:validation:MaxItems=100
	// +optional
	CreditLedgers []CreditLedger `json:"creditLedgers,omitempty"`

	// TransferableCoupons are the master's coupons that can be transferred.
	// +kubebuilder:validation:MaxItems=200
	// +optional
	TransferableCoupons []CouponBalance `json:"transferableCoupons,omitempty"`

	// SubAccounts is the number of enterprise sub-accounts of the master.
	// +optional
	SubAccounts int32 `json:"subAccounts,omitempty"`

	// LastSyncTime is when balances were last read successfully: the last
	// full read of transferableCash, creditLedgers, transferableCoupons and
	// subAccounts from BSS, every spec.balanceSyncInterval.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`

	// BalancesTime is when transferableCash, creditLedgers and
	// transferableCoupons were last brought up to date: read from BSS, or
	// adjusted for a movement the operator made. The operator publishes its
	// own movements within about 2 seconds, so this is how old the figures
	// it plans from are; movements made outside the operator show at the
	// next full read (lastSyncTime).
	// +optional
	BalancesTime *metav1.Time `json:"balancesTime,omitempty"`

	// AccountBalances are the master's own balances by account type (cash,
	// credit, bonus, deposit, debt), read every billingSyncInterval.
	// +optional
	AccountBalances *AccountBalances `json:"accountBalances,omitempty"`
	// ResourcePackages are the master's resource packages that are in
	// effect or not yet in effect, soonest expiry first.
	// +kubebuilder:validation:MaxItems=50
	// +optional
	ResourcePackages []ResourcePackage `json:"resourcePackages,omitempty"`
	// ExpiringCoupons is the number of the master's transferable coupons
	// with a balance that expire within spec.reports.expiryHorizon.
	// +optional
	ExpiringCoupons int32 `json:"expiringCoupons,omitempty"`
	// ExternalMovements are the transfers and reclaims in the master's
	// income/expense records that no BudgetTransfer accounts for, with
	// the SubAccount each is attributed to.
	// +optional
	ExternalMovements *ExternalMovements `json:"externalMovements,omitempty"`
	// RecordsThrough is the trade time of the latest income/expense record
	// examined for external movements.
	// +optional
	RecordsThrough *metav1.Time `json:"recordsThrough,omitempty"`
	// ReportsTime is when the reports (account balances, resource
	// packages, costs, income/expense records) were last read, every
	// billingSyncInterval.
	// +optional
	ReportsTime *metav1.Time `json:"reportsTime,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ea,categories=budget
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Transferable",type=string,JSONPath=`.status.transferableCash`
// +kubebuilder:printcolumn:name="Balances-Age",type=date,JSONPath=`.status.balancesTime`
// +kubebuilder:printcolumn:name="SubAccounts",type=integer,JSONPath=`.status.subAccounts`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// EnterpriseAccount connects the operator to one Huawei Cloud enterprise
// master account through the BSS API. It is cluster-scoped and owned by the
// platform administrators.
type EnterpriseAccount struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired connection.
	Spec EnterpriseAccountSpec `json:"spec"`
	// Status is what the operator observed.
	// +optional
	Status EnterpriseAccountStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// EnterpriseAccountList is a list of EnterpriseAccounts.
type EnterpriseAccountList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the EnterpriseAccounts.
	Items []EnterpriseAccount `json:"items"`
}

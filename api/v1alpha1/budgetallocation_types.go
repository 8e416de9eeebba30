package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeletionPolicy says what happens to granted money when an allocation is deleted.
// +kubebuilder:validation:Enum=Retain;Reclaim
type DeletionPolicy string

const (
	// DeletionPolicyRetain leaves the money with the sub-account.
	DeletionPolicyRetain DeletionPolicy = "Retain"
	// DeletionPolicyReclaim reclaims what the allocation granted (at most
	// what is still reclaimable) and its sub-coupons before the allocation goes.
	DeletionPolicyReclaim DeletionPolicy = "Reclaim"
)

// ManagementPolicy says whether the operator moves money for an allocation.
// +kubebuilder:validation:Enum=Managed;Plan;Paused
type ManagementPolicy string

const (
	// ManagementPolicyManaged moves money to match the spec.
	ManagementPolicyManaged ManagementPolicy = "Managed"
	// ManagementPolicyPlan computes and shows the next movement in status and
	// moves nothing.
	ManagementPolicyPlan ManagementPolicy = "Plan"
	// ManagementPolicyPaused moves nothing; deletion still works.
	ManagementPolicyPaused ManagementPolicy = "Paused"
)

// BudgetAllocationSpec is the funding a team wants for a sub-account.
//
// +kubebuilder:validation:XValidation:rule="has(self.amount) != has(self.topUp)",message="set exactly one of amount (a fixed net grant) or topUp (keep the balance above a floor)"
type BudgetAllocationSpec struct {
	// SubAccountRef names the SubAccount to fund. It cannot be changed.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="subAccountRef cannot be changed; create a new BudgetAllocation instead"
	SubAccountRef LocalObjectReference `json:"subAccountRef"`

	// Amount is the net total this allocation grants. Raising it transfers
	// the difference; lowering it reclaims the difference.
	// +optional
	Amount *Money `json:"amount,omitempty"`

	// TopUp keeps the sub-account's reclaimable balance at or above a floor.
	// +optional
	TopUp *TopUp `json:"topUp,omitempty"`

	// BalanceType is Debit (cash, the default) or Credit. It cannot be changed.
	// +kubebuilder:default=Debit
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="balanceType cannot be changed; create a new BudgetAllocation instead"
	// +optional
	BalanceType BalanceType `json:"balanceType,omitempty"`

	// Coupons to carve out of the master's coupons for the sub-account.
	// Removing an entry reclaims its sub-coupon.
	// +listType=map
	// +listMapKey=couponID
	// +kubebuilder:validation:MaxItems=20
	// +optional
	Coupons []CouponGrant `json:"coupons,omitempty"`

	// DeletionPolicy is Retain (the default: the money stays) or Reclaim.
	// +kubebuilder:default=Retain
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// ManagementPolicy is Managed (the default), Plan or Paused.
	// +kubebuilder:default=Managed
	// +optional
	ManagementPolicy ManagementPolicy `json:"managementPolicy,omitempty"`
}

// TopUp tops the balance up to a target when it falls below a minimum.
//
// +kubebuilder:validation:XValidation:rule="double(self.minimumBalance) < double(self.targetBalance)",message="topUp.minimumBalance must be less than topUp.targetBalance"
type TopUp struct {
	// MinimumBalance below which a top-up happens.
	MinimumBalance Money `json:"minimumBalance"`

	// TargetBalance the top-up restores.
	TargetBalance Money `json:"targetBalance"`

	// MonthlyLimit caps the top-ups per bill cycle (calendar month, UTC+8).
	// +kubebuilder:validation:XValidation:rule="!self.matches('^0([.]0{1,2})?$')",message="topUp.monthlyLimit must be greater than 0"
	MonthlyLimit Money `json:"monthlyLimit"`
}

// CouponGrant carves an amount out of one master coupon.
type CouponGrant struct {
	// CouponID is the master's coupon id.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	CouponID string `json:"couponID"`

	// Amount to carve out of the coupon.
	// +kubebuilder:validation:XValidation:rule="!self.matches('^0([.]0{1,2})?$')",message="coupon amount must be greater than 0"
	Amount Money `json:"amount"`
}

// PlannedTransfer is the movement the operator would make next.
type PlannedTransfer struct {
	// Operation is Transfer, Reclaim, CouponTransfer or CouponReclaim.
	Operation TransferOperation `json:"operation"`
	// Amount that would move (empty for a CouponReclaim, which takes the
	// whole remaining sub-coupon).
	// +optional
	Amount Money `json:"amount,omitempty"`
	// CouponID for coupon movements.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	CouponID string `json:"couponID,omitempty"`
}

// CouponGrantStatus is the state of one coupon grant.
type CouponGrantStatus struct {
	// CouponID is the master's coupon id.
	// +kubebuilder:validation:MaxLength=64
	CouponID string `json:"couponID"`
	// SubCouponID is the child coupon held by the sub-account.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	SubCouponID string `json:"subCouponID,omitempty"`
	// Amount granted.
	// +optional
	Amount Money `json:"amount,omitempty"`
}

// TransferSummary points at one BudgetTransfer.
type TransferSummary struct {
	// Name of the BudgetTransfer.
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Operation of the transfer.
	Operation TransferOperation `json:"operation"`
	// Amount of the transfer.
	// +optional
	Amount Money `json:"amount,omitempty"`
	// Phase of the transfer.
	Phase TransferPhase `json:"phase"`
	// Sequence of the transfer in the allocation's ledger.
	// +optional
	Sequence int64 `json:"sequence,omitempty"`
}

// TopUpStatus tracks top-ups in the current bill cycle.
type TopUpStatus struct {
	// Cycle is the bill cycle, YYYY-MM in UTC+8.
	// +kubebuilder:validation:MaxLength=7
	Cycle string `json:"cycle"`
	// Used is the amount topped up in Cycle.
	Used Money `json:"used"`
}

// BudgetAllocationStatus is the allocation's ledger as the operator sees it.
type BudgetAllocationStatus struct {
	// ObservedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions means Ready.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// CustomerID of the funded sub-account.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	CustomerID string `json:"customerID,omitempty"`

	// Desired is the net amount the spec asks for (for topUp: what it has
	// granted plus the next top-up, if one is due).
	// +optional
	Desired Money `json:"desired,omitempty"`
	// Granted is the confirmed net amount: succeeded transfers minus
	// succeeded reclaims.
	// +optional
	Granted Money `json:"granted,omitempty"`
	// Pending is the signed amount in flight (negative for a reclaim).
	// +kubebuilder:validation:MaxLength=16
	// +optional
	Pending string `json:"pending,omitempty"`

	// Planned is what would move next, in Plan mode.
	// +optional
	Planned *PlannedTransfer `json:"planned,omitempty"`

	// Coupons granted, with their sub-coupon ids.
	// +kubebuilder:validation:MaxItems=40
	// +optional
	Coupons []CouponGrantStatus `json:"coupons,omitempty"`

	// LastTransfer is the most recent BudgetTransfer.
	// +optional
	LastTransfer *TransferSummary `json:"lastTransfer,omitempty"`

	// TopUp is the top-up usage in the current bill cycle.
	// +optional
	TopUp *TopUpStatus `json:"topUp,omitempty"`

	// ConsecutiveFailures counts failed transfers since the last success; it
	// drives the retry backoff and survives restarts.
	// +optional
	ConsecutiveFailures int32 `json:"consecutiveFailures,omitempty"`
	// NextAttemptTime is when a new transfer may be created after failures.
	// +optional
	NextAttemptTime *metav1.Time `json:"nextAttemptTime,omitempty"`
	// SpendBaseline is the sub-account's cash spending in its bill cycle
	// as the SubAccount published it when this allocation planned its first
	// transfer. Where BSS may count a sub-account's own top-ups as
	// reclaimable, reclaims take no more than what was granted less what
	// was spent since (docs/exactly-once.md §7).
	// +optional
	SpendBaseline *SpendBaseline `json:"spendBaseline,omitempty"`
	// Checkpoint is the allocation's succeeded transfers folded into
	// totals; the planner reads it plus the transfers not folded yet.
	// +optional
	Checkpoint *LedgerCheckpoint `json:"checkpoint,omitempty"`
	// Reconstruction is what BSS's records show of the steps this
	// allocation's ledger lost, while a transfer is stopped with
	// LedgerBehindBSS.
	// +optional
	Reconstruction *LedgerReconstruction `json:"reconstruction,omitempty"`
}

// SpendBaseline is a sub-account's cash spending in one bill cycle at one
// moment.
type SpendBaseline struct {
	// Cycle is the bill cycle, YYYY-MM in UTC+8.
	// +kubebuilder:validation:MaxLength=7
	Cycle string `json:"cycle"`
	// Cash spent in that cycle so far.
	Cash Money `json:"cash"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=ba,categories=budget
// +kubebuilder:printcolumn:name="SubAccount",type=string,JSONPath=`.spec.subAccountRef.name`
// +kubebuilder:printcolumn:name="Desired",type=string,JSONPath=`.status.desired`
// +kubebuilder:printcolumn:name="Granted",type=string,JSONPath=`.status.granted`
// +kubebuilder:printcolumn:name="Pending",type=string,JSONPath=`.status.pending`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.managementPolicy`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// BudgetAllocation is a team's declared funding of one SubAccount: a net
// amount or a top-up rule, plus coupons. The operator moves money through
// BudgetTransfers until BSS matches it, exactly once.
type BudgetAllocation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired funding.
	Spec BudgetAllocationSpec `json:"spec"`
	// Status is the allocation's ledger.
	// +optional
	Status BudgetAllocationStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// BudgetAllocationList is a list of BudgetAllocations.
type BudgetAllocationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the BudgetAllocations.
	Items []BudgetAllocation `json:"items"`
}

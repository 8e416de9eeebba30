package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TransferOperation is the kind of money movement.
// +kubebuilder:validation:Enum=Transfer;Reclaim;CouponTransfer;CouponReclaim
type TransferOperation string

const (
	// OperationTransfer moves money from the master to the sub-account.
	OperationTransfer TransferOperation = "Transfer"
	// OperationReclaim moves money from the sub-account back to the master.
	OperationReclaim TransferOperation = "Reclaim"
	// OperationCouponTransfer carves a sub-coupon out of a master coupon.
	OperationCouponTransfer TransferOperation = "CouponTransfer"
	// OperationCouponReclaim returns a sub-coupon's remaining balance.
	OperationCouponReclaim TransferOperation = "CouponReclaim"
)

// TransferPhase is where a transfer is in its life.
// +kubebuilder:validation:Enum=Pending;AwaitingApproval;Submitting;Succeeded;Failed
type TransferPhase string

const (
	// PhasePending means created, not yet sent.
	PhasePending TransferPhase = "Pending"
	// PhaseAwaitingApproval means above the approval threshold; waits for an
	// Approved or Denied condition.
	PhaseAwaitingApproval TransferPhase = "AwaitingApproval"
	// PhaseSubmitting means being sent to BSS; resent with the same transID until
	// the outcome is known.
	PhaseSubmitting TransferPhase = "Submitting"
	// PhaseSucceeded means BSS applied it.
	PhaseSucceeded TransferPhase = "Succeeded"
	// PhaseFailed means BSS refused it (or it was denied); nothing moved.
	PhaseFailed TransferPhase = "Failed"
)

// BudgetTransferSpec is one movement of money or a coupon. It is written by
// the operator and never changes.
//
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="BudgetTransfer spec is immutable; the operator creates a new transfer instead"
// +kubebuilder:validation:XValidation:rule="self.operation == 'CouponReclaim' || (has(self.amount) && !self.amount.matches('^0([.]0{1,2})?$'))",message="amount must be greater than 0 for Transfer, Reclaim and CouponTransfer"
// +kubebuilder:validation:XValidation:rule="!self.operation.startsWith('Coupon') || has(self.couponID)",message="couponID is required for coupon operations"
// +kubebuilder:validation:XValidation:rule="self.operation != 'CouponReclaim' || has(self.subCouponID)",message="subCouponID is required for CouponReclaim"
type BudgetTransferSpec struct {
	// AllocationRef names the BudgetAllocation that owns this transfer.
	AllocationRef LocalObjectReference `json:"allocationRef"`

	// SubAccountName is the SubAccount funded.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	SubAccountName string `json:"subAccountName"`

	// EnterpriseAccountName is the master the money comes from.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	EnterpriseAccountName string `json:"enterpriseAccountName,omitempty"`

	// CustomerID is the sub-account's BSS customer id.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	CustomerID string `json:"customerID"`

	// Operation is Transfer, Reclaim, CouponTransfer or CouponReclaim.
	Operation TransferOperation `json:"operation"`

	// Amount moved (not used by CouponReclaim, which takes the whole sub-coupon).
	// +optional
	Amount Money `json:"amount,omitempty"`

	// BalanceType of money operations.
	// +optional
	BalanceType BalanceType `json:"balanceType,omitempty"`

	// ExpireTime selects the credit ledger, for Credit operations on an
	// expiring ledger (UTC, yyyy-MM-ddTHH:mm:ssZ).
	// +kubebuilder:validation:MaxLength=20
	// +optional
	ExpireTime string `json:"expireTime,omitempty"`

	// CouponID is the master coupon, for coupon operations.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	CouponID string `json:"couponID,omitempty"`

	// SubCouponID is the sub-coupon to reclaim, for CouponReclaim.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	SubCouponID string `json:"subCouponID,omitempty"`

	// TransID is sent to BSS as trans_id: BSS applies a trans_id at most once.
	// +kubebuilder:validation:MinLength=32
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9a-f]{32}$')",message="transID must be exactly 32 lowercase hex characters"
	TransID string `json:"transID"`

	// Sequence is the transfer's number within its allocation.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Sequence int64 `json:"sequence,omitempty"`
}

// TransferResult is what BSS returned.
type TransferResult struct {
	// SubCouponID created by a CouponTransfer.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	SubCouponID string `json:"subCouponID,omitempty"`
	// ReclaimedAmount returned by a CouponReclaim.
	// +optional
	ReclaimedAmount Money `json:"reclaimedAmount,omitempty"`
	// AlreadyApplied is true when BSS answered that the transID had been
	// applied before (CBC.99007009), e.g. after a lost response.
	// +optional
	AlreadyApplied bool `json:"alreadyApplied,omitempty"`
}

// BudgetTransferStatus is the transfer's progress.
type BudgetTransferStatus struct {
	// ObservedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions means Ready, Approved, Denied.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Phase is Pending, AwaitingApproval, Submitting, Succeeded or Failed.
	// +optional
	Phase TransferPhase `json:"phase,omitempty"`

	// Attempts is the number of calls sent to BSS.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`

	// SubmittedTime is when the transfer first entered Submitting.
	// +optional
	SubmittedTime *metav1.Time `json:"submittedTime,omitempty"`
	// LastAttemptTime is when the last call was sent.
	// +optional
	LastAttemptTime *metav1.Time `json:"lastAttemptTime,omitempty"`
	// CompletionTime is when the outcome became known.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// ErrorCode is the last BSS error code (e.g. CBC.99005003).
	// +kubebuilder:validation:MaxLength=32
	// +optional
	ErrorCode string `json:"errorCode,omitempty"`
	// ErrorMessage is the last BSS error message.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	ErrorMessage string `json:"errorMessage,omitempty"`

	// Result of a successful transfer.
	// +optional
	Result *TransferResult `json:"result,omitempty"`

	// Evidence is how the operator knows the outcome where BSS's answer
	// alone did not prove it: a lost answer, or CBC.99007009 while refused
	// trans_ids may be remembered.
	// +optional
	Evidence *TransferEvidence `json:"evidence,omitempty"`
}

// Kinds of TransferEvidence.
const (
	// EvidenceDuplicateAnswer: CBC.99007009, taken as proof because the
	// EnterpriseAccount declares refused trans_ids reusable.
	EvidenceDuplicateAnswer = "DuplicateAnswer"
	// EvidenceRecords: the master's income/expense records of the last
	// year show a record with this trans_id as trade_id (or, where they are
	// declared to carry every trans_id, show none: nothing moved).
	EvidenceRecords = "Records"
	// EvidenceBalance: the master's balance, read right before and right
	// after an attempt whose answer was lost (money writes to one master
	// are serialised), moved by exactly the amount.
	EvidenceBalance = "Balance"
	// EvidenceSubCoupon: the sub-coupon a coupon transfer creates is on the
	// sub-account (or, for a coupon reclaim, is gone from it).
	EvidenceSubCoupon = "SubCoupon"
)

// TransferEvidence records what settled a transfer that BSS's answer alone
// did not settle.
type TransferEvidence struct {
	// Kind is DuplicateAnswer, Records, Balance or SubCoupon.
	// +kubebuilder:validation:Enum=DuplicateAnswer;Records;Balance;SubCoupon
	// +optional
	Kind string `json:"kind,omitempty"`
	// Detail names the evidence: the record's id, the balances read.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Detail string `json:"detail,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=bt,categories=budget
// +kubebuilder:selectablefield:JSONPath=`.status.phase`
// +kubebuilder:selectablefield:JSONPath=`.spec.allocationRef.name`
// +kubebuilder:printcolumn:name="Operation",type=string,JSONPath=`.spec.operation`
// +kubebuilder:printcolumn:name="Amount",type=string,JSONPath=`.spec.amount`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Attempts",type=integer,JSONPath=`.status.attempts`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// BudgetTransfer is one movement of money or a coupon between the master and
// a sub-account, with the trans_id that makes it happen at most once. The
// operator creates it for a BudgetAllocation; together they are the audit
// trail.
type BudgetTransfer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the movement.
	Spec BudgetTransferSpec `json:"spec"`
	// Status is its progress.
	// +optional
	Status BudgetTransferStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// BudgetTransferList is a list of BudgetTransfers.
type BudgetTransferList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the BudgetTransfers.
	Items []BudgetTransfer `json:"items"`
}

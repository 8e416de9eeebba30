package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LedgerCheckpoint is an allocation's succeeded transfers folded into the
// totals they imply. The BudgetAllocation controller folds a transfer as
// soon as it has succeeded and before anything deletes it; the planner
// reads the checkpoint plus the transfers that are not folded, so a
// succeeded transfer is counted exactly once whether its object still
// exists or not (docs/exactly-once.md §9).
type LedgerCheckpoint struct {
	// Sequence is the highest sequence folded: every succeeded transfer up
	// to it is counted here and nowhere else. The next transfer takes a
	// higher sequence (and so a new trans_id).
	// +kubebuilder:validation:Minimum=0
	Sequence int64 `json:"sequence"`
	// Transfers is how many succeeded transfers the checkpoint counts.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Transfers int64 `json:"transfers,omitempty"`
	// Holdings are what the folded transfers left with each BSS customer
	// they moved money or coupons to or from.
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Holdings []LedgerHolding `json:"holdings,omitempty"`
	// Cycle is the newest bill cycle (UTC+8, YYYY-MM) a folded Transfer was
	// created in, and CycleTransferred what folded Transfers created in it
	// moved: top-up limits and per-cycle approval count it.
	// +kubebuilder:validation:MaxLength=7
	// +optional
	Cycle string `json:"cycle,omitempty"`
	// CycleTransferred is what the folded Transfers created in Cycle moved.
	// +optional
	CycleTransferred Money `json:"cycleTransferred,omitempty"`
	// CompactAt is when the oldest settled transfer that is still kept
	// becomes due to be written to the audit trail and deleted (the
	// manager's --transfer-retention after it settled); nil when none is
	// kept.
	// +optional
	CompactAt *metav1.Time `json:"compactAt,omitempty"`
	// Restored says where the checkpoint came from when it was not built
	// from this allocation's own transfers: "Trail" (the kept LedgerRecords
	// of its ledger id, after a restore or a re-apply) or "Reconstructed"
	// (BSS's records, accepted by an administrator).
	// +kubebuilder:validation:Enum=Trail;Reconstructed
	// +optional
	Restored string `json:"restored,omitempty"`
}

// LedgerHolding is what an allocation's folded transfers left with one
// customer.
type LedgerHolding struct {
	// CustomerID is the BSS customer.
	// +kubebuilder:validation:MaxLength=64
	CustomerID string `json:"customerID"`
	// EnterpriseAccount is the master the money came from.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	EnterpriseAccount string `json:"enterpriseAccount,omitempty"`
	// Cash is transfers minus reclaims of cash.
	// +kubebuilder:validation:MaxLength=20
	// +kubebuilder:validation:Pattern=`^-?[0-9]+([.][0-9]{1,2})?$`
	// +optional
	Cash string `json:"cash,omitempty"`
	// Credit is transfers minus reclaims of credit, per credit ledger.
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Credit []CreditHolding `json:"credit,omitempty"`
	// Coupons are the sub-coupons created for the customer and not
	// reclaimed.
	// +kubebuilder:validation:MaxItems=40
	// +optional
	Coupons []CouponGrantStatus `json:"coupons,omitempty"`
}

// CreditHolding is the net credit moved with one credit ledger.
type CreditHolding struct {
	// ExpireTime is the credit ledger's expiry ("" never expires).
	// +kubebuilder:validation:MaxLength=64
	// +optional
	ExpireTime string `json:"expireTime,omitempty"`
	// Amount is transfers minus reclaims.
	// +kubebuilder:validation:MaxLength=20
	// +kubebuilder:validation:Pattern=`^-?[0-9]+([.][0-9]{1,2})?$`
	Amount string `json:"amount"`
}

// Where a checkpoint came from (LedgerCheckpoint.Restored).
const (
	CheckpointFromTrail     = "Trail"
	CheckpointReconstructed = "Reconstructed"
)

// LedgerReconstruction is what BSS's records show was applied under an
// allocation's trans_ids from the sequence of a transfer that stopped with
// LedgerBehindBSS on: the steps its ledger lost (a restore, an etcd
// rollback). An administrator reviews it (`kubectl budget ledger`) and
// accepts it by annotating the stopped transfer
// budget.bss.dev/accept-reconstruction=<digest>; the operator then counts
// the steps in the checkpoint, keeps them in the audit trail, and goes on
// after them.
type LedgerReconstruction struct {
	// Transfer is the transfer that stopped with LedgerBehindBSS.
	// +kubebuilder:validation:MaxLength=253
	Transfer string `json:"transfer"`
	// Entries are the steps BSS's records show, from the stopped
	// transfer's sequence on, in order.
	// +kubebuilder:validation:MaxItems=50
	// +optional
	Entries []LedgerEntry `json:"entries,omitempty"`
	// Complete: the records show where the lost steps end (the trans_id of
	// the sequence after the last entry is in none of them), and the
	// reconstruction can be accepted.
	Complete bool `json:"complete"`
	// Message says what was searched and why it is incomplete, if it is.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Message string `json:"message,omitempty"`
	// Digest identifies this reconstruction: the value that accepts it.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Digest string `json:"digest,omitempty"`
}

// Ledger record reasons.
const (
	// RecordCompacted: settled transfers older than the retention were
	// deleted.
	RecordCompacted = "Compacted"
	// RecordDeleted: the allocation was deleted.
	RecordDeleted = "Deleted"
	// RecordReconstructed: an administrator accepted steps BSS's records
	// show were applied under the allocation's trans_ids.
	RecordReconstructed = "Reconstructed"
)

// LedgerRecordSpec is a part of an allocation's audit trail: the settled
// transfers, in sequence order, that were removed together.
//
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="a LedgerRecord never changes: the audit trail is append-only"
// +kubebuilder:validation:XValidation:rule="self.fromSequence <= self.toSequence",message="fromSequence must not exceed toSequence"
type LedgerRecordSpec struct {
	// LedgerID is the allocation's ledger id (its budget.bss.dev/ledger-id
	// annotation: namespace/name/id).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=400
	LedgerID string `json:"ledgerID"`
	// Namespace is the BudgetAllocation's namespace.
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// Allocation is the BudgetAllocation's name.
	// +kubebuilder:validation:MaxLength=253
	Allocation string `json:"allocation"`
	// SubAccount is the SubAccount the allocation funded.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	SubAccount string `json:"subAccount,omitempty"`
	// Reason is why the transfers were removed: Compacted, Deleted or
	// Reconstructed.
	// +kubebuilder:validation:Enum=Compacted;Deleted;Reconstructed
	Reason string `json:"reason"`
	// FromSequence is the lowest sequence of Entries.
	// +kubebuilder:validation:Minimum=1
	FromSequence int64 `json:"fromSequence"`
	// ToSequence is the highest sequence of Entries.
	// +kubebuilder:validation:Minimum=1
	ToSequence int64 `json:"toSequence"`
	// Entries are the transfers, in sequence order.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=200
	Entries []LedgerEntry `json:"entries"`
}

// LedgerEntry is one settled transfer as the audit trail keeps it.
type LedgerEntry struct {
	// Sequence is the BudgetTransfer's sequence in the allocation's ledger.
	// +kubebuilder:validation:Minimum=1
	Sequence int64 `json:"sequence"`
	// Name is the BudgetTransfer's name.
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// TransID is the trans_id sent to BSS.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	TransID string `json:"transID,omitempty"`
	// Operation is the transfer's operation.
	Operation TransferOperation `json:"operation"`
	// BalanceType is the transfer's balance type (money movements only).
	// +kubebuilder:validation:Enum=Debit;Credit
	// +optional
	BalanceType BalanceType `json:"balanceType,omitempty"`
	// Amount is the transfer's amount (none for a CouponReclaim).
	// +optional
	Amount Money `json:"amount,omitempty"`
	// CouponID is the master's coupon of a coupon movement.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	CouponID string `json:"couponID,omitempty"`
	// SubCouponID is the sub-coupon a coupon movement created or reclaimed.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	SubCouponID string `json:"subCouponID,omitempty"`
	// ExpireTime is the credit ledger's expiry of a credit movement.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	ExpireTime string `json:"expireTime,omitempty"`
	// CustomerID is the BSS customer the money moved to or from.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	CustomerID string `json:"customerID,omitempty"`
	// EnterpriseAccount is the master's EnterpriseAccount.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	EnterpriseAccount string `json:"enterpriseAccount,omitempty"`
	// Phase is Succeeded or Failed.
	// +kubebuilder:validation:Enum=Succeeded;Failed
	Phase TransferPhase `json:"phase"`
	// Reason is the transfer's Ready reason when it settled.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Reason string `json:"reason,omitempty"`
	// ErrorCode is BSS's error code of a failed transfer.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	ErrorCode string `json:"errorCode,omitempty"`
	// Evidence is what showed the transfer's outcome, when not a direct
	// answer.
	// +optional
	Evidence *TransferEvidence `json:"evidence,omitempty"`
	// Created is when the transfer was created.
	// +optional
	Created *metav1.Time `json:"created,omitempty"`
	// Completed is when it settled.
	// +optional
	Completed *metav1.Time `json:"completed,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=lrec,categories=budget
// +kubebuilder:printcolumn:name="Namespace",type=string,JSONPath=`.spec.namespace`
// +kubebuilder:printcolumn:name="Allocation",type=string,JSONPath=`.spec.allocation`
// +kubebuilder:printcolumn:name="From",type=integer,JSONPath=`.spec.fromSequence`
// +kubebuilder:printcolumn:name="To",type=integer,JSONPath=`.spec.toSequence`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.spec.reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// LedgerRecord keeps part of an allocation's audit trail after its
// BudgetTransfers are gone: written by the operator before it deletes
// settled transfers (compaction, or the allocation's deletion), never
// changed, and cluster-scoped so that it outlives the allocation and its
// namespace and no team can alter the record of its own money.
type LedgerRecord struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec LedgerRecordSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// LedgerRecordList is a list of LedgerRecords.
type LedgerRecordList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LedgerRecord `json:"items"`
}

// LedgerKey is the value of LabelLedger for a ledger id: 16 hex characters
// of its SHA-256, and the prefix of its LedgerRecords' names.
func LedgerKey(ledgerID string) string {
	sum := sha256.Sum256([]byte(ledgerID))
	return hex.EncodeToString(sum[:8])
}

// LedgerRecordName is the name of the record whose entries start at from.
func LedgerRecordName(ledgerID string, from int64) string {
	return fmt.Sprintf("%s-%08d", LedgerKey(ledgerID), from)
}

package plugin

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// movement is one row of an allocation's history: a live BudgetTransfer
// or an entry of a kept LedgerRecord. Its JSON form is what
// `kubectl budget history -o json` prints: every key is always present,
// times are RFC 3339 in UTC ("" when unknown) and attempts is null for a
// kept entry.
type movement struct {
	LedgerID          string `json:"ledgerID"`
	Namespace         string `json:"namespace"`
	Allocation        string `json:"allocation"`
	Source            string `json:"source"`
	Sequence          int64  `json:"sequence"`
	Name              string `json:"name"`
	TransID           string `json:"transID"`
	Operation         string `json:"operation"`
	BalanceType       string `json:"balanceType"`
	Amount            string `json:"amount"`
	CouponID          string `json:"couponID"`
	SubCouponID       string `json:"subCouponID"`
	ExpireTime        string `json:"expireTime"`
	CustomerID        string `json:"customerID"`
	EnterpriseAccount string `json:"enterpriseAccount"`
	Phase             string `json:"phase"`
	Reason            string `json:"reason"`
	ErrorCode         string `json:"errorCode"`
	Attempts          *int32 `json:"attempts"`
	EvidenceKind      string `json:"evidenceKind"`
	EvidenceDetail    string `json:"evidenceDetail"`
	Created           string `json:"created"`
	Completed         string `json:"completed"`
	// Granted is the ledger's running net total after this row: succeeded
	// transfers minus succeeded reclaims (coupons are not money).
	Granted string `json:"granted"`

	// alreadyApplied is a live transfer's result.alreadyApplied.
	alreadyApplied bool
}

// rfc3339 prints a time in UTC, or "" when it is unknown.
func rfc3339(t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeFormat)
}

// fromTransfer is the row of a live BudgetTransfer of ledger ledgerID.
func fromTransfer(ledgerID string, bt *budgetv1alpha1.BudgetTransfer) *movement {
	m := &movement{
		LedgerID: ledgerID, Namespace: bt.Namespace, Allocation: bt.Spec.AllocationRef.Name, Source: sourceLive,
		Sequence: bt.Spec.Sequence, Name: bt.Name, TransID: bt.Spec.TransID,
		Operation: string(bt.Spec.Operation), BalanceType: string(bt.Spec.BalanceType), Amount: string(bt.Spec.Amount),
		CouponID: bt.Spec.CouponID, SubCouponID: bt.Spec.SubCouponID, ExpireTime: bt.Spec.ExpireTime,
		CustomerID: bt.Spec.CustomerID, EnterpriseAccount: bt.Spec.EnterpriseAccountName,
		Phase:     string(bt.Status.Phase),
		Reason:    common.ReadyReason(bt.Status.Conditions, budgetv1alpha1.ConditionReady),
		ErrorCode: bt.Status.ErrorCode, Attempts: &bt.Status.Attempts,
		Created: rfc3339(&bt.CreationTimestamp), Completed: rfc3339(bt.Status.CompletionTime),
	}
	if m.Allocation == "" {
		m.Allocation = bt.Labels[LabelAllocation]
	}
	if r := bt.Status.Result; r != nil {
		if m.SubCouponID == "" {
			m.SubCouponID = r.SubCouponID
		}
		if bt.Spec.Operation == budgetv1alpha1.OperationCouponReclaim && r.ReclaimedAmount != "" {
			m.Amount = string(r.ReclaimedAmount)
		}
		m.alreadyApplied = r.AlreadyApplied
	}
	if ev := bt.Status.Evidence; ev != nil {
		m.EvidenceKind, m.EvidenceDetail = ev.Kind, ev.Detail
	}
	return m
}

// fromEntry is the row of an entry kept in record r.
func fromEntry(r *budgetv1alpha1.LedgerRecord, e *budgetv1alpha1.LedgerEntry) *movement {
	m := &movement{
		LedgerID: r.Spec.LedgerID, Namespace: r.Spec.Namespace, Allocation: r.Spec.Allocation, Source: r.Name,
		Sequence: e.Sequence, Name: e.Name, TransID: e.TransID,
		Operation: string(e.Operation), BalanceType: string(e.BalanceType), Amount: string(e.Amount),
		CouponID: e.CouponID, SubCouponID: e.SubCouponID, ExpireTime: e.ExpireTime,
		CustomerID: e.CustomerID, EnterpriseAccount: e.EnterpriseAccount,
		Phase: string(e.Phase), Reason: e.Reason, ErrorCode: e.ErrorCode,
		Created: rfc3339(e.Created), Completed: rfc3339(e.Completed),
	}
	if e.Evidence != nil {
		m.EvidenceKind, m.EvidenceDetail = e.Evidence.Kind, e.Evidence.Detail
	}
	return m
}

// runningTotals sets Granted on rows, in sequence order, from zero.
func runningTotals(rows []*movement) money.Amount {
	var running money.Amount
	for _, m := range rows {
		if m.Phase == string(budgetv1alpha1.PhaseSucceeded) {
			a, _ := amountOf(m.Amount)
			switch budgetv1alpha1.TransferOperation(m.Operation) {
			case budgetv1alpha1.OperationTransfer:
				running = running.Add(a)
			case budgetv1alpha1.OperationReclaim:
				running = running.Sub(a)
			}
		}
		m.Granted = running.String()
	}
	return running
}

// phaseText is the PHASE cell: the phase and how it was known, where that
// was not BSS's direct answer.
func (m *movement) phaseText() string {
	phase := orNone(m.Phase)
	switch {
	case m.EvidenceKind != "" && m.EvidenceKind != budgetv1alpha1.EvidenceDuplicateAnswer:
		phase += " (by " + strings.ToLower(m.EvidenceKind) + ")"
	case m.alreadyApplied || m.EvidenceKind == budgetv1alpha1.EvidenceDuplicateAnswer:
		phase += " (already applied)"
	case m.Reason == budgetv1alpha1.ReasonTransIDBurned:
		phase += " (trans_id burned)"
	}
	return phase
}

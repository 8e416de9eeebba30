// Package movements finds the money a master moved to or from its
// sub-accounts outside the operator, and which sub-account it went to.
//
// The master's income/expense records (ListCustomerAccountChangeRecords)
// show each transfer to a sub-account (trade type BEADJUST, an expense) and
// each reclaim (BERETRIEVE, a revenue), but not the sub-account: only the
// amount, the time and a trade_id. What the trade_id is depends on BSS
// (bss-api.md §10; the EnterpriseAccount's spec.bssBehaviour.transferRecords):
//
//   - WithTransID: it is the trans_id the operator sent, so a record is the
//     operator's exactly when a BudgetTransfer (or the audit trail) has its
//     trans_id.
//   - WithoutTransID or Unknown: a record whose trade_id is no known
//     trans_id is still the operator's when one of its movements of the same
//     direction, balance type and amount was under way at that time (from a
//     minute before its first attempt to a few minutes after it settled),
//     each movement accounting for one record.
//   - None: the records show no transfers, and nothing can be found.
//
// Which sub-account an external movement went to or came from is told by
// the sub-accounts' reclaimable balances (§10, the master's balance deltas):
// each SubAccount keeps the changes of its balance that neither the
// operator's movements nor ordinary spending explain (Residual), and the
// record is attributed to the one whose residual covers its time and amount.
package movements

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Slack is how long before a movement's first attempt and after it settled
// a record of it may be stamped.
const (
	SlackBefore = time.Minute
	SlackAfter  = 5 * time.Minute
)

// Known is one of the operator's cash or credit movements: a BudgetTransfer
// or an entry of the audit trail.
type Known struct {
	TransID     string
	CustomerID  string
	Direction   string // budgetv1alpha1.MovementIn or MovementOut
	BalanceType budgetv1alpha1.BalanceType
	Amount      money.Amount
	// From and To bound when BSS may have applied it; a zero To means it
	// may still be applied (under way, or its outcome unknown).
	From, To time.Time
	// Unmoved: it was never sent, or failed with nothing moved. Only its
	// trans_id counts (a record carrying it is still the operator's).
	Unmoved bool
}

// Record is one income/expense record of the master that moved money to
// or from a sub-account.
type Record struct {
	bss.AccountChangeRecord
	Direction   string
	BalanceType budgetv1alpha1.BalanceType
	Time        time.Time
	Amount      money.Amount
}

// OfTransfer returns t as a Known movement (false for a coupon movement).
// One never sent, or failed with nothing moved (its outcome is not
// unknown), is Unmoved.
func OfTransfer(t *budgetv1alpha1.BudgetTransfer) (Known, bool) {
	k, ok := known(t.Spec.TransID, t.Spec.Operation, t.Spec.BalanceType, t.Spec.Amount)
	if !ok {
		return k, false
	}
	k.CustomerID = t.Spec.CustomerID
	if t.Status.SubmittedTime == nil {
		k.Unmoved = true
		return k, true
	}
	k.From = t.Status.SubmittedTime.Time
	switch t.Status.Phase {
	case budgetv1alpha1.PhaseSucceeded:
		if t.Status.CompletionTime != nil {
			k.To = t.Status.CompletionTime.Time
		}
	case budgetv1alpha1.PhaseFailed:
		c := meta.FindStatusCondition(t.Status.Conditions, budgetv1alpha1.ConditionReady)
		k.Unmoved = c == nil || c.Reason != budgetv1alpha1.ReasonOutcomeUnknown
	}
	return k, true
}

// OfEntry returns an audit-trail entry as a Known movement (false for a
// coupon movement); a failed one whose outcome is not unknown is Unmoved.
func OfEntry(e *budgetv1alpha1.LedgerEntry) (Known, bool) {
	k, ok := known(e.TransID, e.Operation, e.BalanceType, e.Amount)
	if !ok {
		return k, false
	}
	k.CustomerID = e.CustomerID
	k.Unmoved = e.Phase == budgetv1alpha1.PhaseFailed && e.Reason != budgetv1alpha1.ReasonOutcomeUnknown
	if e.Created != nil {
		k.From = e.Created.Time
	}
	if e.Completed != nil && e.Phase == budgetv1alpha1.PhaseSucceeded {
		k.To = e.Completed.Time
	}
	return k, true
}

func known(transID string, op budgetv1alpha1.TransferOperation, bt budgetv1alpha1.BalanceType, amount budgetv1alpha1.Money) (Known, bool) {
	k := Known{TransID: transID, BalanceType: bt}
	switch op {
	case budgetv1alpha1.OperationTransfer:
		k.Direction = budgetv1alpha1.MovementIn
	case budgetv1alpha1.OperationReclaim:
		k.Direction = budgetv1alpha1.MovementOut
	default:
		return k, false
	}
	if k.BalanceType == "" {
		k.BalanceType = budgetv1alpha1.BalanceTypeDebit
	}
	a, err := money.Parse(string(amount))
	if err != nil {
		return k, false
	}
	k.Amount = a
	return k, true
}

// Query is one of the record queries that find the master's transfers and
// reclaims (per balance type, BEADJUST expenses and BERETRIEVE revenues);
// it returns records of its Direction and BalanceType.
type Query struct {
	Request     bss.AccountChangeRecordsRequest
	Direction   string
	BalanceType budgetv1alpha1.BalanceType
}

// Queries lists the queries of the records from begin to end (UTC+8 dates
// "2026-12-05").
func Queries(begin, end string) []Query {
	var out []Query
	for _, bt := range []budgetv1alpha1.BalanceType{budgetv1alpha1.BalanceTypeDebit, budgetv1alpha1.BalanceTypeCredit} {
		balance := bss.BalanceTypeDebit
		if bt == budgetv1alpha1.BalanceTypeCredit {
			balance = bss.BalanceTypeCredit
		}
		for _, q := range []struct{ trade, rev, dir string }{
			{bss.TradeTypeTransferIn, bss.RevenueExpenseExpense, budgetv1alpha1.MovementIn},
			{bss.TradeTypeReclaimed, bss.RevenueExpenseRevenue, budgetv1alpha1.MovementOut},
		} {
			out = append(out, Query{
				Request: bss.AccountChangeRecordsRequest{
					BalanceType: balance, TradeType: q.trade, RevenueExpenseType: q.rev,
					TradeTimeBegin: begin, TradeTimeEnd: end,
				},
				Direction: q.dir, BalanceType: bt,
			})
		}
	}
	return out
}

// RecordOf parses a record found by q; false when its time or amount
// cannot be read.
func RecordOf(q Query, r bss.AccountChangeRecord) (Record, bool) {
	t, err := bss.ParseTime(r.TradeTime)
	if err != nil {
		return Record{}, false
	}
	return Record{AccountChangeRecord: r, Direction: q.Direction, BalanceType: q.BalanceType, Time: t, Amount: r.ChangeAmount.Abs()}, true
}

// External returns the records that none of the operator's movements
// accounts for, under the master's declared TransferRecords behaviour (see
// the package documentation). Records are matched in time order.
func External(records []Record, known []Known, transferRecords string) []Record {
	byTransID := map[string]bool{}
	for _, k := range known {
		if k.TransID != "" {
			byTransID[k.TransID] = true
		}
	}
	// Records carrying a known trans_id are the operator's whatever the
	// behaviour; the movements they prove take no other record.
	recorded := map[string]bool{}
	for _, r := range records {
		recorded[r.TradeID] = true
	}
	used := make([]bool, len(known))
	for i, k := range known {
		used[i] = k.TransID != "" && recorded[k.TransID]
	}
	var out []Record
	for _, r := range records {
		if byTransID[r.TradeID] {
			continue
		}
		if transferRecords != budgetv1alpha1.RecordsWithTransID {
			if i := matchKnown(r, known, used); i >= 0 {
				used[i] = true
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// matchKnown is the index of an unused movement that may have made r, or
// -1.
func matchKnown(r Record, known []Known, used []bool) int {
	for i, k := range known {
		if used[i] || k.Unmoved || k.Direction != r.Direction || k.BalanceType != r.BalanceType || k.Amount != r.Amount {
			continue
		}
		if r.Time.Before(k.From.Add(-SlackBefore)) {
			continue
		}
		if !k.To.IsZero() && r.Time.After(k.To.Add(SlackAfter)) {
			continue
		}
		return i
	}
	return -1
}

// Explains reports whether a balance residual of a sub-account accounts
// for the external movement m: it covers m's time (give or take the
// slack), has m's direction, and its amount is m's give or take what
// ordinary spending in its interval may hide (a transfer in shows as the
// amount less the spending; a reclaim as the amount plus it).
func Explains(res budgetv1alpha1.BalanceResidual, m budgetv1alpha1.ExternalMovement) bool {
	if res.Direction != m.Direction || res.BalanceType != m.BalanceType {
		return false
	}
	at := m.Time.Time
	if at.Before(res.From.Add(-SlackBefore)) || at.After(res.To.Add(SlackBefore)) {
		return false
	}
	amount, tol := res.Amount.Amount(), res.Tolerance.Amount()
	want := m.Amount.Amount()
	cent := money.FromFen(1)
	if m.Direction == budgetv1alpha1.MovementIn {
		return amount.Cmp(want.Add(cent)) <= 0 && amount.Add(tol).Add(cent).Cmp(want) >= 0
	}
	return amount.Add(cent).Cmp(want) >= 0 && amount.Cmp(want.Add(tol).Add(cent)) <= 0
}

// precision is how precise the times of reads and movements are: the
// statuses keep whole seconds.
const precision = time.Second

// OperatorNet is what the operator's movements of one sub-account and
// balance type added to (or took from) its balance between two reads at
// from and to. It is not known (false) when one of them may have been
// applied on either side of a read: under way, or straddling it.
func OperatorNet(known []Known, customerID string, bt budgetv1alpha1.BalanceType, from, to time.Time) (money.Amount, bool) {
	var net money.Amount
	for _, k := range known {
		if k.Unmoved || k.CustomerID != customerID || k.BalanceType != bt {
			continue
		}
		// Status times keep whole seconds: a movement within a second of
		// a read may have landed on either side of it.
		switch {
		case !k.To.IsZero() && !k.To.Add(precision).After(from), !k.From.Before(to.Add(precision)):
			continue // settled before the first read, or sent after the second
		case k.To.IsZero(), k.From.Before(from.Add(precision)), k.To.Add(precision).After(to):
			return money.Zero, false
		}
		if k.Direction == budgetv1alpha1.MovementIn {
			net = net.Add(k.Amount)
		} else {
			net = net.Sub(k.Amount)
		}
	}
	return net, true
}

package budgettransfer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Evidence for outcomes that BSS's answer alone does not prove
// (docs/exactly-once.md §7). Which BSS behaviour holds is what the
// EnterpriseAccount declares in spec.bssBehaviour; every answer it leaves
// out is Unknown, and the operator then assumes the least:
//
//   - CBC.99007009 proves that a trans_id was applied only where refused
//     trans_ids are declared Reusable. Elsewhere the movement is confirmed:
//     from the master's income/expense records (a record whose trade_id is
//     the trans_id), from the sub-coupon a coupon movement creates or
//     removes, or not at all: the transfer is then OutcomeUnknown for an
//     administrator, never a silent Succeeded.
//   - An attempt whose answer is lost is bracketed by reads of the master's
//     balance where neither the duplicate answer nor the records could
//     settle it later: a change by exactly the amount proves the movement.
//   - A transfer is not resent once its first attempt is older than the
//     declared trans_id retention (less a minute).

// behaviourOf is the declared BSS behaviour of the transfer's master;
// Unknown throughout when its EnterpriseAccount cannot be read.
func (r *Reconciler) behaviourOf(ctx context.Context, bt *budgetv1alpha1.BudgetTransfer) budgetv1alpha1.BSSBehaviour {
	ea := &budgetv1alpha1.EnterpriseAccount{}
	if err := r.Get(ctx, types.NamespacedName{Name: bt.Spec.EnterpriseAccountName}, ea); err != nil {
		ea = nil
	}
	return budgetv1alpha1.BehaviourOf(ea)
}

// amountOperation reports a cash or credit movement (not a coupon).
func amountOperation(op budgetv1alpha1.TransferOperation) bool {
	return op == budgetv1alpha1.OperationTransfer || op == budgetv1alpha1.OperationReclaim
}

// Bracketed reports whether each attempt of a movement is bracketed by
// reads of the master's balance: a cash or credit movement for which
// neither a CBC.99007009 answer nor the master's records could prove the
// outcome afterwards.
func Bracketed(b budgetv1alpha1.BSSBehaviour, op budgetv1alpha1.TransferOperation) bool {
	return amountOperation(op) && !b.DuplicateProvesApplied() && b.TransferRecords != budgetv1alpha1.RecordsWithTransID
}

// masterBalance reads the master's balance that a movement of spec
// changes: its transferable cash, or the credit ledger spec.ExpireTime
// names (zero when the master has no such ledger).
func masterBalance(ctx context.Context, api bss.Reader, spec *budgetv1alpha1.BudgetTransferSpec) (money.Amount, error) {
	if spec.BalanceType != budgetv1alpha1.BalanceTypeCredit {
		return api.TransferableCash(ctx)
	}
	ledgers, err := api.TransferableCredit(ctx)
	if err != nil {
		return money.Zero, err
	}
	if i := slices.IndexFunc(ledgers, func(l bss.AmountInfo) bool { return l.ExpireTime == spec.ExpireTime }); i >= 0 {
		return ledgers[i].Available, nil
	}
	return money.Zero, nil
}

// BalanceEvidence is the evidence that an attempt moved the money: the
// master's balance read right before it and right after it differ by
// exactly the movement. Any other difference proves nothing (something
// outside the operator may have moved the master's money too).
func BalanceEvidence(spec *budgetv1alpha1.BudgetTransferSpec, attempt int32, before, after money.Amount) (*budgetv1alpha1.TransferEvidence, bool) {
	amount, _ := money.Parse(string(spec.Amount))
	want := amount.Neg()
	if spec.Operation == budgetv1alpha1.OperationReclaim {
		want = amount
	}
	if after.Sub(before) != want {
		return nil, false
	}
	what := "transferable cash"
	if spec.BalanceType == budgetv1alpha1.BalanceTypeCredit {
		what = "credit ledger " + orPermanent(spec.ExpireTime)
	}
	return &budgetv1alpha1.TransferEvidence{Kind: budgetv1alpha1.EvidenceBalance,
		Detail: fmt.Sprintf("the master's %s was %s right before attempt %d and %s right after it", what, before, attempt, after)}, true
}

func orPermanent(expire string) string {
	if expire == "" {
		return "(permanent)"
	}
	return "expiring " + expire
}

// Verdict is what the evidence says about a trans_id BSS answered
// CBC.99007009 for.
type Verdict string

// Verdicts.
const (
	// VerdictMoved: the evidence shows the movement.
	VerdictMoved Verdict = "Moved"
	// VerdictNotMoved: the evidence shows that nothing moved: BSS
	// remembered a trans_id it had refused.
	VerdictNotMoved Verdict = "NotMoved"
	// VerdictUnproven: nothing available proves either.
	VerdictUnproven Verdict = "Unproven"
)

// confirmDuplicate looks for evidence of a movement BSS answered
// CBC.99007009 for, where that answer alone does not prove it. A coupon
// transfer's evidence (its sub-coupon) is found by findSubCoupon.
func (r *Reconciler) confirmDuplicate(ctx context.Context, api bss.Reader, bt *budgetv1alpha1.BudgetTransfer, b budgetv1alpha1.BSSBehaviour, now time.Time) (Verdict, *budgetv1alpha1.TransferEvidence, error) {
	spec := &bt.Spec
	if spec.Operation == budgetv1alpha1.OperationCouponReclaim {
		subs, err := api.ListAllReclaimableCoupons(ctx, spec.CustomerID)
		if err != nil {
			return "", nil, err
		}
		if slices.ContainsFunc(subs, func(s bss.SubCoupon) bool { return s.SubCouponID == spec.SubCouponID }) {
			return VerdictNotMoved, &budgetv1alpha1.TransferEvidence{Kind: budgetv1alpha1.EvidenceSubCoupon,
				Detail: fmt.Sprintf("sub-coupon %s is still on the sub-account", spec.SubCouponID)}, nil
		}
		return VerdictMoved, &budgetv1alpha1.TransferEvidence{Kind: budgetv1alpha1.EvidenceSubCoupon,
			Detail: fmt.Sprintf("sub-coupon %s is no longer on the sub-account", spec.SubCouponID)}, nil
	}
	if b.TransferRecords != budgetv1alpha1.BehaviourUnknown && b.TransferRecords != budgetv1alpha1.RecordsWithTransID {
		return VerdictUnproven, nil, nil
	}
	recs, err := api.ListAllAccountChangeRecords(ctx, recordsQuery(spec, now))
	if err != nil {
		return "", nil, err
	}
	if i := slices.IndexFunc(recs, func(c bss.AccountChangeRecord) bool { return c.TradeID == spec.TransID }); i >= 0 {
		c := recs[i]
		return VerdictMoved, &budgetv1alpha1.TransferEvidence{Kind: budgetv1alpha1.EvidenceRecords,
			Detail: fmt.Sprintf("the master's income/expense record %s (trade_id %s, %s, %s)", c.AccountChangeID, c.TradeID, c.ChangeAmount, c.TradeTime)}, nil
	}
	if b.TransferRecords == budgetv1alpha1.RecordsWithTransID {
		return VerdictNotMoved, &budgetv1alpha1.TransferEvidence{Kind: budgetv1alpha1.EvidenceRecords,
			Detail: fmt.Sprintf("no income/expense record of the master's last year has trade_id %s, and its records carry every transfer's trans_id", spec.TransID)}, nil
	}
	return VerdictUnproven, nil, nil
}

// recordsQuery asks for the master's records with the transfer's trans_id
// as trade_id over the last year (UTC+8 dates, as the API counts them).
func recordsQuery(spec *budgetv1alpha1.BudgetTransferSpec, now time.Time) bss.AccountChangeRecordsRequest {
	balanceType := bss.BalanceTypeDebit
	if spec.BalanceType == budgetv1alpha1.BalanceTypeCredit {
		balanceType = bss.BalanceTypeCredit
	}
	return bss.AccountChangeRecordsRequest{BalanceType: balanceType, TradeID: spec.TransID,
		TradeTimeBegin: billcycle.Day(now.Add(-bss.RecordsSpan)), TradeTimeEnd: billcycle.Day(now)}
}

// unproven explains a CBC.99007009 answer nothing could confirm.
func unproven(bt *budgetv1alpha1.BudgetTransfer, b budgetv1alpha1.BSSBehaviour) string {
	why := "the master's income/expense records show no record with it as trade_id, and they are not declared to carry every trans_id"
	switch {
	case bt.Spec.Operation == budgetv1alpha1.OperationCouponTransfer:
		why = "no sub-coupon of " + bt.Spec.CouponID + " that no other transfer claims is on the sub-account"
	case b.TransferRecords == budgetv1alpha1.RecordsWithoutTransID || b.TransferRecords == budgetv1alpha1.RecordsNone:
		why = "the master's income/expense records are declared not to carry trans_ids (transferRecords: " + b.TransferRecords + ")"
	}
	return fmt.Sprintf("BSS answered CBC.99007009 (trans_id %s already exists), which does not prove that money moved while refused trans_ids may be remembered (refusedTransIDs: %s); %s. It is no longer resent: check the movement in BSS, then annotate %s=Succeeded or Failed",
		bt.Spec.TransID, b.RefusedTransIDs, why, budgetv1alpha1.AnnotationResolve)
}

// errNoSubCoupon: a coupon transfer BSS reports as applied has no
// unclaimed sub-coupon on the sub-account.
var errNoSubCoupon = errors.New("BSS reports the coupon transfer as applied but no unclaimed sub-coupon of it was found")

package probe

import (
	"context"
	"fmt"
	"time"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// masterRecords reads every cash income/expense record of the master from
// the day before the probe started to today (UTC+8 dates), whatever its
// trade type: the master's side of a transfer is not documented.
func (p *prober) masterRecords(ctx context.Context) ([]bss.AccountChangeRecord, error) {
	return p.master.ListAllAccountChangeRecords(ctx, bss.AccountChangeRecordsRequest{
		BalanceType:    bss.BalanceTypeDebit,
		TradeTimeBegin: p.start.Add(-24 * time.Hour).In(beijing).Format("2006-01-02"),
		TradeTimeEnd:   p.now().In(beijing).Format("2006-01-02"),
	})
}

// snapshotRecords keeps the ids of the master's records before any
// movement, so that (c) looks only at records that appeared after.
func (p *prober) snapshotRecords(ctx context.Context) error {
	recs, err := p.masterRecords(ctx)
	if err != nil {
		return err
	}
	p.masterRecords0 = map[string]bool{}
	for _, r := range recs {
		p.masterRecords0[recordKey(r)] = true
	}
	return nil
}

// recordKey identifies a record; account_change_id when BSS sends one.
func recordKey(r bss.AccountChangeRecord) string {
	if r.AccountChangeID != "" {
		return r.AccountChangeID
	}
	return fmt.Sprintf("%s|%s|%s|%s|%s", r.TradeTime, r.TradeID, r.TradeDetailType, r.ChangeAmount, r.RevenueExpenseType)
}

// askRecords (c): after the retention checks (so a record BSS writes late
// has had the whole window to appear), the master's records that are new
// since the snapshot are searched for tb (transfer) and tc (reclaim): a
// record with trade_id = trans_id means WithTransID; a record of 0.01 in
// the right direction with another trade_id means WithoutTransID; nothing
// means None.
func (p *prober) askRecords(ctx context.Context, tb, tc *Movement) Answer {
	var a Answer
	recs, err := p.masterRecords(ctx)
	if err != nil {
		a.unknown("reading the master's income/expense records: %v", err)
		return a
	}
	var fresh []bss.AccountChangeRecord
	for _, r := range recs {
		if !p.masterRecords0[recordKey(r)] {
			fresh = append(fresh, r)
		}
	}
	out := matchRecords(fresh, tb, bss.RevenueExpenseExpense)
	var in recordMatch
	if tc != nil {
		in = matchRecords(fresh, tc, bss.RevenueExpenseRevenue)
	}
	for _, e := range append(out.evidence, in.evidence...) {
		a.evidence("%s", e)
	}
	a.evidence("%d records of the master appeared between %s and %s", len(fresh), stamp(p.start), stamp(p.now()))
	kinds := []string{out.kind}
	if tc != nil {
		kinds = append(kinds, in.kind)
	} else {
		a.Reason = "the reclaim was not applied, so only the transfer was looked for"
	}
	if kinds[0] != kinds[len(kinds)-1] {
		a.unknown("the transfer shows as %s but the reclaim as %s", kinds[0], kinds[len(kinds)-1])
		return a
	}
	a.Answer = kinds[0]
	if a.Answer == budgetv1alpha1.RecordsNone {
		a.Reason = fmt.Sprintf("no record of either movement appeared within %s", p.now().Sub(tb.done).Round(time.Second))
	}
	return a
}

// recordMatch is what the records show of one movement.
type recordMatch struct {
	kind     string
	evidence []string
}

// matchRecords looks for m among the new records: by trade_id first, then
// by its amount and direction.
func matchRecords(fresh []bss.AccountChangeRecord, m *Movement, direction string) recordMatch {
	var byAmount []bss.AccountChangeRecord
	for _, r := range fresh {
		if r.TradeID == m.TransID {
			return recordMatch{kind: budgetv1alpha1.RecordsWithTransID, evidence: []string{
				fmt.Sprintf("%s trans_id %s: record %s with trade_id = trans_id", m.Operation, m.TransID, describeRecord(r))}}
		}
		if r.ChangeAmount.Abs() == m.Amount && sameDirection(r, direction) {
			byAmount = append(byAmount, r)
		}
	}
	if len(byAmount) == 0 {
		return recordMatch{kind: budgetv1alpha1.RecordsNone, evidence: []string{
			fmt.Sprintf("%s trans_id %s (%s): no new record with its trade_id or its amount", m.Operation, m.TransID, m.Amount)}}
	}
	ev := fmt.Sprintf("%s trans_id %s: no record with its trade_id; %d new record(s) of %s %s: ", m.Operation, m.TransID, len(byAmount), m.Amount, direction)
	for i, r := range byAmount {
		if i > 0 {
			ev += ", "
		}
		ev += describeRecord(r)
	}
	return recordMatch{kind: budgetv1alpha1.RecordsWithoutTransID, evidence: []string{ev}}
}

// sameDirection reports whether r goes the given way; a record without a
// revenue_expense_type goes by the sign of its amount.
func sameDirection(r bss.AccountChangeRecord, direction string) bool {
	if r.RevenueExpenseType != "" {
		return r.RevenueExpenseType == direction
	}
	neg := r.ChangeAmount.IsNegative()
	return neg == (direction == bss.RevenueExpenseExpense)
}

func describeRecord(r bss.AccountChangeRecord) string {
	return fmt.Sprintf("%s (trade_id %s, %s %s %s at %s)", orDash(r.AccountChangeID), orDash(r.TradeID), orDash(r.TradeDetailType),
		orDash(r.RevenueExpenseType), r.ChangeAmount, orDash(r.TradeTime))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// askReclaimable (d): the sub-account's reclaimable cash (the master's
// view) against its own cash balance (its credentials). Less than the
// balance: FundedOnly. Equal: TotalBalance only when the sub-account
// provably holds money of its own (ownCashLowerBound), else Unknown.
func (p *prober) askReclaimable(ctx context.Context) Answer {
	var a Answer
	switch {
	case p.opts.SubCustomerID == "":
		a.unknown("no --sub-customer-id was given")
		return a
	case p.sub == nil:
		a.unknown("it needs the test sub-account's own credentials (--sub-access-key and --sub-secret-key, or BSS_SUB_ACCESS_KEY and BSS_SUB_SECRET_KEY) to read its own cash balance")
		return a
	}
	rec, cash, err := p.pairedReading(ctx)
	if err != nil {
		a.unknown("%v", err)
		return a
	}
	a.evidence("sub-account %s: reclaimable cash %s (ListEnterpriseMultiAccount, as the master); own cash balance %s (ShowCustomerAccountBalances, as the sub-account)", p.opts.SubCustomerID, rec, cash)
	switch c := rec.Cmp(cash); {
	case cash.IsZero():
		a.unknown("the sub-account holds no cash: give it money of its own (top it up by 1.00 itself) and run again")
	case c < 0:
		a.Answer = budgetv1alpha1.ReclaimableFundedOnly
		a.evidence("%s of its cash is not reclaimable: money it topped up itself", cash.Sub(rec))
	case c > 0:
		a.unknown("the reclaimable cash %s is more than the cash balance %s, which neither answer explains", rec, cash)
	default:
		own, ev, err := p.ownCashLowerBound(ctx)
		if err != nil {
			a.unknown("reclaimable equals the cash balance, and the sub-account's records could not be read to tell whether any of it is its own: %v", err)
			return a
		}
		a.evidence("%s", ev)
		if !own.IsPositive() {
			a.unknown("reclaimable equals the cash balance %s, but nothing shows that the sub-account holds money of its own, so both answers fit: top it up by 1.00 itself and run again", cash)
			return a
		}
		a.Answer = budgetv1alpha1.ReclaimableTotalBalance
		a.evidence("at least %s of its cash is its own top-ups, and all its cash is reclaimable", own)
	}
	return a
}

// pairedReading reads the reclaimable cash, the sub's balance and the
// reclaimable cash again, until the two reclaimable readings agree (the
// sub-account may be spending).
func (p *prober) pairedReading(ctx context.Context) (money.Amount, money.Amount, error) {
	for range 3 {
		r1, err := p.reclaimableCash(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("reading the reclaimable cash: %w", err)
		}
		cash, err := p.subOwnCash(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("reading the sub-account's own balance: %w", err)
		}
		r2, err := p.reclaimableCash(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("reading the reclaimable cash: %w", err)
		}
		if r1 == r2 {
			return r1, cash, nil
		}
	}
	return 0, 0, fmt.Errorf("the reclaimable cash kept changing while it was read (is the sub-account spending?)")
}

// ownCashLowerBound proves, from the sub-account's own records of the last
// year, a lower bound of the cash it holds of its own: its top-ups
// (RECHARGE) less everything it spent or lost other than reclaims
// (BERETRIEVE). Whatever the master gave it, and any other income, counts
// as the master's, so the bound errs low.
func (p *prober) ownCashLowerBound(ctx context.Context) (money.Amount, string, error) {
	end := p.now().In(beijing)
	base := bss.AccountChangeRecordsRequest{BalanceType: bss.BalanceTypeDebit,
		TradeTimeBegin: end.AddDate(-1, 0, 0).Format("2006-01-02"), TradeTimeEnd: end.Format("2006-01-02")}
	sum := func(dir, trade string) (money.Amount, error) {
		req := base
		req.RevenueExpenseType, req.TradeType = dir, trade
		recs, err := p.sub.ListAllAccountChangeRecords(ctx, req)
		var t money.Amount
		for _, r := range recs {
			t = t.Add(r.ChangeAmount.Abs())
		}
		return t, err
	}
	recharged, err := sum(bss.RevenueExpenseRevenue, "RECHARGE")
	if err != nil {
		return 0, "", err
	}
	spent, err := sum(bss.RevenueExpenseExpense, "")
	if err != nil {
		return 0, "", err
	}
	reclaimed, err := sum(bss.RevenueExpenseExpense, bss.TradeTypeReclaimed)
	if err != nil {
		return 0, "", err
	}
	own := recharged.Sub(spent.Sub(reclaimed))
	return own, fmt.Sprintf("its own records from %s to %s: top-ups (RECHARGE) %s, expenses other than reclaims %s, so at least %s of its own",
		base.TradeTimeBegin, base.TradeTimeEnd, recharged, spent.Sub(reclaimed), money.Max(own, 0)), nil
}

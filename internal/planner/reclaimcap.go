package planner

import (
	"fmt"
	"slices"
	"time"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// ReclaimCap bounds the cash a reclaim may take where BSS may count money
// a sub-account topped up itself as reclaimable (spec.bssBehaviour.
// reclaimable is not FundedOnly): what the operator granted the
// sub-account's current customer, over all its allocations, less every
// fen of cash the sub-account's bills show it spent since the first of
// them was created. It assumes the spending came out of the operator's
// money first, so it never takes the sub-account's own; it may leave some
// of the operator's money there, and says so.
type ReclaimCap struct {
	// Known: the bills of every cycle since the first allocation are read;
	// otherwise nothing may be reclaimed.
	Known bool
	// Amount is the most that may be reclaimed, when Known.
	Amount money.Amount
	// Why explains the bound.
	Why string
}

// Capped reports whether ba's cash reclaims are capped: its master's
// reclaimable cash is not declared FundedOnly, and it moves cash.
func Capped(b budgetv1alpha1.BSSBehaviour, ba *budgetv1alpha1.BudgetAllocation) bool {
	return b.Reclaimable != budgetv1alpha1.ReclaimableFundedOnly && ba.Spec.BalanceType != budgetv1alpha1.BalanceTypeCredit
}

// ReclaimCapOf is the cap for an allocation of the SubAccount sa whose
// ledger is l, given all the SubAccount's allocations (siblings, which may
// include ba) and the master's declared behaviour; nil when there is none:
// reclaimable cash is declared FundedOnly, or the allocation moves credit.
func ReclaimCapOf(b budgetv1alpha1.BSSBehaviour, sa *budgetv1alpha1.SubAccount, ba *budgetv1alpha1.BudgetAllocation, l Ledger,
	siblings []budgetv1alpha1.BudgetAllocation, now time.Time) *ReclaimCap {
	if !Capped(b, ba) {
		return nil
	}
	granted, first := l.Granted, ba
	for i := range siblings {
		o := &siblings[i]
		if o.UID == ba.UID || o.Spec.BalanceType == budgetv1alpha1.BalanceTypeCredit {
			continue
		}
		g, _ := money.Parse(string(o.Status.Granted))
		granted = granted.Add(g)
		if g.IsPositive() && o.CreationTimestamp.Time.Before(first.CreationTimestamp.Time) {
			first = o
		}
	}
	since, baseline := baselineOf(first)
	spent, cycles, ok := cashSpentSince(sa, since, baseline, now)
	declared := fmt.Sprintf("BSS may count money the sub-account topped up itself as reclaimable (EnterpriseAccount spec.bssBehaviour.reclaimable: %s)", b.Reclaimable)
	if !ok {
		return &ReclaimCap{Why: fmt.Sprintf("%s, and the operator reclaims only what it granted less what the bills show spent since, but the bills of %s are not read yet (they reach back to cycle %s only); "+
			"once bss-probe shows that reclaimable cash excludes such money, declare reclaimable: FundedOnly", declared, since, oldestCycle(sa))}
	}
	return &ReclaimCap{Known: true, Amount: money.Max(granted.Sub(spent), money.Zero),
		Why: fmt.Sprintf("%s: the operator reclaims at most the %s it granted less the %s of cash the bills of %v show spent since it first granted", declared, granted, spent, cycles)}
}

// baselineOf is the bill cycle from which the first allocation's spending
// counts, and what the sub-account had spent in it before: its recorded
// spend baseline, or, without one, its creation's cycle from zero.
func baselineOf(first *budgetv1alpha1.BudgetAllocation) (string, money.Amount) {
	if b := first.Status.SpendBaseline; b != nil {
		cash, _ := money.Parse(string(b.Cash))
		return b.Cycle, cash
	}
	return billcycle.Of(first.CreationTimestamp.Time), money.Zero
}

// cashSpentSince sums the cash spending of every bill cycle from since to
// the current one, from the SubAccount's published bills, less baseline
// (spent in since before it counted); ok is false when one of them is not
// there.
func cashSpentSince(sa *budgetv1alpha1.SubAccount, since string, baseline money.Amount, now time.Time) (money.Amount, []string, bool) {
	known := map[string]money.Amount{}
	for _, c := range []*budgetv1alpha1.BillCycleSummary{sa.Status.CurrentCycle, sa.Status.PreviousCycle} {
		if c != nil {
			known[c.Cycle], _ = money.Parse(string(c.Cash))
		}
	}
	need := []string{billcycle.Of(now)}
	if prev := billcycle.Previous(now); since <= prev {
		need = append(need, prev)
	}
	if since < need[len(need)-1] {
		return money.Zero, nil, false
	}
	spent := money.Zero
	for _, c := range need {
		v, ok := known[c]
		if !ok {
			return money.Zero, nil, false
		}
		spent = spent.Add(v)
	}
	slices.Sort(need)
	return money.Max(spent.Sub(baseline), money.Zero), need, true
}

func oldestCycle(sa *budgetv1alpha1.SubAccount) string {
	var cycles []string
	for _, c := range []*budgetv1alpha1.BillCycleSummary{sa.Status.CurrentCycle, sa.Status.PreviousCycle} {
		if c != nil {
			cycles = append(cycles, c.Cycle)
		}
	}
	if len(cycles) == 0 {
		return "none"
	}
	return slices.Min(cycles)
}

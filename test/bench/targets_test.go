package main

import (
	"testing"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// passing is a report with the figures of a smoke run (make bench-smoke).
func passing() *report {
	return &report{
		Converge:   &phaseReport{Ratio: 1.085, BSSCallsPerFunded: 2.275, WritesPerFunded: 6},
		Raise:      &phaseReport{Ratio: 1.116, BSSCallsPerFunded: 2.825, WritesPerFunded: 5},
		Steady:     &steadyReport{BillingReads: 1, BillingReadsAllowed: 5, CostCallsPerInterval: 2.993, CostCallsPerIntervalAllowed: 5.986, ReconcilesPerAllocationPerPoll: 0.19, ReconcilesPerTopUpPerPoll: 0.95},
		TopUps:     20,
		PeakRSSMiB: 62.7,
		History: &historyReport{
			Compact: &runReport{PeakRSSMiB: 70, BalanceReadsPerSubAccount: 0.1},
			Restart: &runReport{Seconds: 3.2, PeakRSSMiB: 50, BalanceReadsPerSubAccount: 0.05},
		},
	}
}

// TestEachTargetReadsItsFigure pushes one figure at a time past its limit
// and expects exactly the target that names it to fail, so that no target
// reads a figure that cannot move.
func TestEachTargetReadsItsFigure(t *testing.T) {
	w := &world{cfg: &config{maxRSSMiB: 100, maxHistoryRSSMiB: 100}}
	breaks := map[string]func(r *report){
		"converge time ÷ floor":                                                   func(r *report) { r.Converge.Ratio = 1.3 },
		"BSS calls per funded allocation (converge)":                              func(r *report) { r.Converge.BSSCallsPerFunded = 4.1 },
		"BSS calls per funded allocation (raise)":                                 func(r *report) { r.Raise.BSSCallsPerFunded = 4.1 },
		"bill and order reads in the steady window (O(pages), not O(S))":          func(r *report) { r.Steady.BillingReads = 20 },
		"API server writes per funded allocation (converge)":                      func(r *report) { r.Converge.WritesPerFunded = 6.0125 },
		"API server writes per funded allocation (raise)":                         func(r *report) { r.Raise.WritesPerFunded = 5.0125 },
		"allocation reconciles per allocation per poll interval (steady)":         func(r *report) { r.Steady.ReconcilesPerAllocationPerPoll = 1.9 },
		"allocation reconciles per top-up allocation per poll interval (steady)":  func(r *report) { r.Steady.ReconcilesPerTopUpPerPoll = 1.9 },
		"duplicates applied":                                                      func(r *report) { r.Duplicates = 1 },
		"sub-accounts whose BSS ledger differs from the allocations":              func(r *report) { r.LedgerMismatches = 1 },
		"manager peak RSS (MiB)":                                                  func(r *report) { r.PeakRSSMiB = 140 },
		"manager peak RSS while folding and compacting the history (MiB)":         func(r *report) { r.History.Compact.PeakRSSMiB = 140 },
		"money writes while folding and compacting the history":                   func(r *report) { r.History.Compact.MoneyWriteCalls = 1 },
		"restart with the history: seconds until every allocation is Ready again": func(r *report) { r.History.Restart.Seconds = 31 },
		"money writes after the restart":                                          func(r *report) { r.History.Restart.MoneyWritesApplied = 1 },
		"balance reads per sub-account after the restart":                         func(r *report) { r.History.Restart.BalanceReadsPerSubAccount = 1.05 },
		"cost data calls per billing interval (steady; O(pages), not O(S))":       func(r *report) { r.Steady.CostCallsPerInterval = 60 },
	}
	all := w.targets(passing())
	if len(all) != len(breaks) {
		t.Errorf("%d targets, %d of them broken here: a target was added or removed", len(all), len(breaks))
	}
	for _, c := range all {
		if !c.Pass {
			t.Errorf("the smoke run's figures fail %q (%v > %v)", c.Name, c.Value, c.Limit)
		}
	}
	r := passing()
	r.TopUps = 0
	for _, c := range w.targets(r) {
		if c.Name == "allocation reconciles per top-up allocation per poll interval (steady)" {
			t.Error("a run without top-ups has a target for them")
		}
	}
	r = passing()
	r.History = nil
	if n := len(w.targets(r)); n != len(all)-5 {
		t.Errorf("a run without the history phase has %d targets, want %d", n, len(all)-5)
	}
	for name, brk := range breaks {
		r := passing()
		brk(r)
		for _, c := range w.targets(r) {
			if c.Pass != (c.Name != name) {
				t.Errorf("with %s broken, %q passes: %v (%v, limit %v)", name, c.Name, c.Pass, c.Value, c.Limit)
			}
		}
	}
}

func TestBooks(t *testing.T) {
	entry := func(id, cust string, fen int64) bsssim.LedgerEntry {
		return bsssim.LedgerEntry{TransID: id, Operation: bsssim.OpTransferAmount, DomainID: bsssim.DefaultDomainID, CustomerID: cust, Amount: money.FromFen(fen)}
	}
	succeeded := func(ids ...string) []budgetv1alpha1.BudgetTransfer {
		var out []budgetv1alpha1.BudgetTransfer
		for _, id := range ids {
			var bt budgetv1alpha1.BudgetTransfer
			bt.Spec.TransID, bt.Status.Phase = id, budgetv1alpha1.PhaseSucceeded
			out = append(out, bt)
		}
		return out
	}
	allocs := []*allocation{
		{customer: "c1", amount: money.FromFen(1000)},
		{customer: "c2", amount: money.FromFen(500)},
		{customer: "c2", amount: money.Zero, topUp: true},
	}
	for name, tc := range map[string]struct {
		ledger                 []bsssim.LedgerEntry
		transfers              []budgetv1alpha1.BudgetTransfer
		duplicates, mismatches int
	}{
		"balanced": {
			ledger:    []bsssim.LedgerEntry{entry("t1", "c1", 1000), entry("t2", "c2", 500)},
			transfers: succeeded("t1", "t2"),
		},
		"a trans_id applied twice": {
			ledger:     []bsssim.LedgerEntry{entry("t1", "c1", 1000), entry("t2", "c2", 500), entry("t2", "c2", 500)},
			transfers:  succeeded("t1", "t2"),
			duplicates: 2, mismatches: 1, // the trans_id, and one operation more than Succeeded transfers
		},
		"money moved without a Succeeded transfer": {
			ledger:     []bsssim.LedgerEntry{entry("t1", "c1", 1000), entry("t2", "c2", 500), entry("t3", "c1", 1)},
			transfers:  succeeded("t1", "t2"),
			duplicates: 1, mismatches: 1,
		},
		"a sub-account short of its allocations": {
			ledger:     []bsssim.LedgerEntry{entry("t1", "c1", 1000)},
			transfers:  succeeded("t1"),
			mismatches: 1,
		},
	} {
		t.Run(name, func(t *testing.T) {
			d, m := books(&bsssim.State{Ledger: tc.ledger}, tc.transfers, allocs)
			if d != tc.duplicates || m != tc.mismatches {
				t.Errorf("books = %d duplicates, %d mismatches; want %d, %d", d, m, tc.duplicates, tc.mismatches)
			}
		})
	}
}

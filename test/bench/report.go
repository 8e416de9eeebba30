package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// check is one target and whether the run met it.
type check struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	Pass  bool    `json:"pass"`
}

// Targets (issue: scale and cost).
const (
	maxRatio = 1.25
	// A money write, the read of the master's balance that brackets it
	// while the EnterpriseAccount declares nothing about BSS (the bench's
	// does not; docs/exactly-once.md §7), and the reads a plan needs.
	maxCallsPerFunded = 4
	// A new allocation's ledger id (one metadata write, once), the
	// transfer's create and two status writes, the allocation's two status
	// writes; a raise needs no ledger id.
	maxWritesPerFunded   = 6
	maxWritesPerRaise    = 5
	maxReconcilesPerPoll = 1
	// A top-up polls once per balance interval; the rest is the jitter
	// (± 10%) and the window's edges.
	maxReconcilesPerTopUpPoll = 1.5
	// A manager restarted on a compacted history is back within 30 s,
	// moves no money and reads each sub-account's balance at most once.
	maxRestartSeconds            = 30
	maxRestartBalanceReadsPerSub = 1
	maxHistoryMoneyWrites        = 0
)

func atMost(name string, value, limit float64) check {
	return check{Name: name, Value: value, Limit: limit, Pass: value <= limit}
}

func (w *world) targets(rep *report) []check {
	c := rep.Converge
	out := []check{
		atMost("converge time ÷ floor", c.Ratio, maxRatio),
		atMost("BSS calls per funded allocation (converge)", c.BSSCallsPerFunded, maxCallsPerFunded),
	}
	if r := rep.Raise; r != nil {
		out = append(out, atMost("BSS calls per funded allocation (raise)", r.BSSCallsPerFunded, maxCallsPerFunded))
	}
	out = append(out,
		atMost("bill and order reads in the steady window (O(pages), not O(S))", rep.Steady.BillingReads, rep.Steady.BillingReadsAllowed),
		atMost("cost data calls per billing interval (steady; O(pages), not O(S))", rep.Steady.CostCallsPerInterval, rep.Steady.CostCallsPerIntervalAllowed),
		atMost("API server writes per funded allocation (converge)", c.WritesPerFunded, maxWritesPerFunded),
	)
	if r := rep.Raise; r != nil {
		out = append(out, atMost("API server writes per funded allocation (raise)", r.WritesPerFunded, maxWritesPerRaise))
	}
	out = append(out,
		atMost("allocation reconciles per allocation per poll interval (steady)", rep.Steady.ReconcilesPerAllocationPerPoll, maxReconcilesPerPoll),
	)
	// Only the top-ups poll in the window, so the figure over all N is about
	// their share; over the top-ups alone it is about 1, and anything the
	// fixed allocations do counts against it too.
	if rep.TopUps > 0 {
		out = append(out, atMost("allocation reconciles per top-up allocation per poll interval (steady)", rep.Steady.ReconcilesPerTopUpPerPoll, maxReconcilesPerTopUpPoll))
	}
	out = append(out,
		atMost("duplicates applied", float64(rep.Duplicates), 0),
		atMost("sub-accounts whose BSS ledger differs from the allocations", float64(rep.LedgerMismatches), 0),
		atMost("manager peak RSS (MiB)", rep.PeakRSSMiB, w.cfg.maxRSSMiB),
	)
	return append(out, w.historyTargets(rep.History)...)
}

// historyTargets are the history phase's, when it ran.
func (w *world) historyTargets(h *historyReport) []check {
	if h == nil {
		return nil
	}
	return []check{
		atMost("manager peak RSS while folding and compacting the history (MiB)", h.Compact.PeakRSSMiB, w.cfg.maxHistoryRSSMiB),
		atMost("money writes while folding and compacting the history", h.Compact.moneyWrites(), maxHistoryMoneyWrites),
		atMost("restart with the history: seconds until every allocation is Ready again", h.Restart.Seconds, maxRestartSeconds),
		atMost("money writes after the restart", h.Restart.moneyWrites(), maxHistoryMoneyWrites),
		atMost("balance reads per sub-account after the restart", h.Restart.BalanceReadsPerSubAccount, maxRestartBalanceReadsPerSub),
	}
}

// print writes the table and, last, the JSON line. It reports whether
// every target passed.
func (rep *report) print(out io.Writer) bool {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(cells ...any) {
		strs := make([]string, len(cells))
		for i, c := range cells {
			switch v := c.(type) {
			case float64:
				strs[i] = fmt.Sprintf("%.3f", v)
			default:
				strs[i] = fmt.Sprint(v)
			}
		}
		_, _ = fmt.Fprintln(tw, strings.Join(strs, "\t"))
	}
	topUps := ""
	if rep.TopUps > 0 {
		topUps = fmt.Sprintf(" (%d of them top-ups)", rep.TopUps)
	}
	row("bench", fmt.Sprintf("N=%d allocations%s, S=%d sub-accounts, %d requests/s per API, latency %s, poll interval %s, billing interval %s",
		rep.Allocations, topUps, rep.SubAccounts, rep.Rate, rep.Latency, rep.PollInterval, rep.BillingInterval))
	row("")
	row("figure", "converge", "raise")
	phases := []*phaseReport{rep.Converge, rep.Raise}
	cell := func(f func(p *phaseReport) any) []any {
		out := make([]any, len(phases))
		for i, p := range phases {
			out[i] = "-"
			if p != nil {
				out[i] = f(p)
			}
		}
		return out
	}
	prow := func(name string, f func(p *phaseReport) any) { row(append([]any{name}, cell(f)...)...) }
	prow("allocations funded", func(p *phaseReport) any { return p.Funded })
	prow("time to converge (s)", func(p *phaseReport) any { return p.Seconds })
	prow("money writes applied by BSS", func(p *phaseReport) any { return p.MoneyWrites })
	prow("floor = writes ÷ rate (s)", func(p *phaseReport) any { return p.FloorSeconds })
	prow("time ÷ floor", func(p *phaseReport) any { return p.Ratio })
	prow("BSS calls per funded allocation", func(p *phaseReport) any { return p.BSSCallsPerFunded })
	for _, c := range unionKeys(phases, func(p *phaseReport) map[string]float64 { return p.BSSPerFundedByCategory }) {
		prow("  "+c, func(p *phaseReport) any { return p.BSSPerFundedByCategory[c] })
	}
	for _, op := range unionKeys(phases, func(p *phaseReport) map[string]float64 { return p.BSSCalls }) {
		prow("    "+op, func(p *phaseReport) any { return p.BSSCalls[op] / float64(p.Funded) })
	}
	prow("API writes per funded allocation (allocation + transfer)", func(p *phaseReport) any { return p.WritesPerFunded })
	for _, k := range unionKeys(phases, func(p *phaseReport) map[string]float64 { return p.Writes }) {
		prow("    "+k, func(p *phaseReport) any { return p.Writes[k] / float64(p.Funded) })
	}
	prow("SubAccount status writes per funded allocation", func(p *phaseReport) any { return p.SubAccountWritesPerFunded })
	prow("events per funded allocation", func(p *phaseReport) any { return p.EventsPerFunded })
	for _, c := range unionKeys(phases, func(p *phaseReport) map[string]float64 { return p.ReconcilesPerFunded }) {
		prow("reconciles per funded allocation: "+c, func(p *phaseReport) any { return p.ReconcilesPerFunded[c] })
	}
	prow("manager CPU (s)", func(p *phaseReport) any { return p.CPUSeconds })

	s := rep.Steady
	row("")
	row("steady state", fmt.Sprintf("%.0f s window", s.Seconds))
	for _, c := range slices.Sorted(maps.Keys(s.BSSPerMinute)) {
		row("BSS calls per minute: "+c, s.BSSPerMinute[c])
	}
	row("balance calls per sub-account per poll", s.BalanceCallsPerSubAccountPoll)
	row("calls for one read of bills and orders (pages)", s.BillingPages)
	row("reads of bills and orders in the window", s.BillingReads)
	row("cost data rows in one read (accounts: original, amortized)", fmt.Sprintf("%d, %d", s.CostRowsOriginal, s.CostRowsAmortized))
	row("cost data details in one read", s.CostDetails)
	row("calls for one read of the cost data (pages)", s.CostPages)
	row("cost data calls in the window", s.CostCalls)
	row("cost data calls per billing interval", s.CostCallsPerInterval)
	for _, c := range slices.Sorted(maps.Keys(s.Reconciles)) {
		row("reconciles: "+c, s.Reconciles[c])
	}
	row("allocation reconciles per allocation per poll", s.ReconcilesPerAllocationPerPoll)
	if rep.TopUps > 0 {
		row("allocation reconciles per top-up allocation per poll", s.ReconcilesPerTopUpPerPoll)
	}
	for _, k := range slices.Sorted(maps.Keys(s.WritesPerMinute)) {
		row("API writes per minute: "+k, s.WritesPerMinute[k])
	}
	row("manager CPU (s)", s.CPUSeconds)
	row("")
	row("manager peak RSS (MiB)", rep.PeakRSSMiB)
	row("manager CPU, whole run (s)", rep.CPUSeconds)
	row("duplicates applied", rep.Duplicates)
	row("ledger mismatches", rep.LedgerMismatches)
	rep.History.print(row)
	row("")
	row("target", "value", "limit", "result")
	for _, t := range rep.Targets {
		result := "PASS"
		if !t.Pass {
			result = "FAIL"
		}
		row(t.Name, t.Value, t.Limit, result)
	}
	_ = tw.Flush()
	b, err := json.Marshal(rep)
	if err != nil {
		_, _ = fmt.Fprintln(out, `{"error":"`+err.Error()+`"}`)
		return false
	}
	_, _ = fmt.Fprintln(out, string(b))
	return rep.Pass
}

// unionKeys is the sorted union of the keys of one map of every item that
// is there.
func unionKeys[T any](items []*T, m func(*T) map[string]float64) []string {
	keys := map[string]bool{}
	for _, it := range items {
		if it != nil {
			for k := range m(it) {
				keys[k] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(keys))
}

// moneyWrites is the money writes the manager sent or BSS applied,
// whichever is more.
func (r *runReport) moneyWrites() float64 {
	return max(r.MoneyWriteCalls, float64(r.MoneyWritesApplied))
}

// print writes the history phase's rows, if it ran.
func (h *historyReport) print(row func(cells ...any)) {
	if h == nil {
		return
	}
	row("")
	row("history", fmt.Sprintf("%d allocations × %d settled transfers", h.Allocations, h.PerAllocation))
	row("settled transfers created by the benchmark", h.Created)
	row("time to create them (s)", h.CreateSeconds)
	row("created per second (create + status write each)", h.CreatePerSecond)
	row("settled transfers when the manager started", h.Settled)
	row("LedgerRecords written", h.LedgerRecords)
	row("entries in them", h.LedgerEntries)
	row("")
	row("manager run", "compact", "restart")
	runs := []*runReport{h.Compact, h.Restart}
	rrow := func(name string, f func(r *runReport) any) { row(name, f(h.Compact), f(h.Restart)) }
	rrow("seconds from start until done", func(r *runReport) any { return r.Seconds })
	rrow("manager peak RSS (MiB)", func(r *runReport) any { return r.PeakRSSMiB })
	rrow("manager CPU (s)", func(r *runReport) any { return r.CPUSeconds })
	rrow("money writes sent", func(r *runReport) any { return r.MoneyWriteCalls })
	rrow("money writes applied by BSS", func(r *runReport) any { return r.MoneyWritesApplied })
	rrow("sub-account balance reads per sub-account", func(r *runReport) any { return r.BalanceReadsPerSubAccount })
	for _, op := range unionKeys(runs, func(r *runReport) map[string]float64 { return r.BSSCalls }) {
		rrow("BSS calls: "+op, func(r *runReport) any { return r.BSSCalls[op] })
	}
	for _, k := range unionKeys(runs, func(r *runReport) map[string]float64 { return r.Writes }) {
		rrow("API writes: "+k, func(r *runReport) any { return r.Writes[k] })
	}
	for _, c := range unionKeys(runs, func(r *runReport) map[string]float64 { return r.Reconciles }) {
		rrow("reconciles: "+c, func(r *runReport) any { return r.Reconciles[c] })
	}
}

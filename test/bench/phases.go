package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/costs"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// phaseReport is what one converging phase cost.
type phaseReport struct {
	// Funded is how many allocations the phase funded.
	Funded int `json:"funded"`
	// Seconds is from the first write of the phase until every allocation
	// was seen Ready with its amount granted.
	Seconds float64 `json:"seconds"`
	// MoneyWrites is how many money operations BSS applied in the phase.
	MoneyWrites int `json:"money_writes"`
	// FloorSeconds is MoneyWrites ÷ the write rate limit.
	FloorSeconds float64 `json:"floor_seconds"`
	// Ratio is Seconds ÷ FloorSeconds.
	Ratio float64 `json:"ratio"`
	// BSSCalls are the manager's BSS HTTP attempts by operation.
	BSSCalls map[string]float64 `json:"bss_calls"`
	// BSSCallsPerFunded is all of them ÷ Funded.
	BSSCallsPerFunded float64 `json:"bss_calls_per_funded"`
	// BSSPerFundedByCategory splits BSSCallsPerFunded.
	BSSPerFundedByCategory map[string]float64 `json:"bss_per_funded_by_category"`
	// Writes are the manager's API server writes (budget.bss.dev and
	// events) by resource and verb.
	Writes map[string]float64 `json:"writes"`
	// WritesPerFunded counts BudgetAllocation and BudgetTransfer writes
	// (metadata, status, create) ÷ Funded.
	WritesPerFunded float64 `json:"writes_per_funded"`
	// SubAccountWritesPerFunded and EventsPerFunded are the rest.
	SubAccountWritesPerFunded float64 `json:"subaccount_writes_per_funded"`
	EventsPerFunded           float64 `json:"events_per_funded"`
	// ReconcilesPerFunded are the reconciles by controller ÷ Funded.
	ReconcilesPerFunded map[string]float64 `json:"reconciles_per_funded"`
	// CPUSeconds is the manager's CPU time in the phase.
	CPUSeconds float64 `json:"cpu_seconds"`
}

// steadyReport is what the operator does when nothing changes.
type steadyReport struct {
	Seconds float64 `json:"seconds"`
	// BSSPerMinute is BSS calls per minute by category.
	BSSPerMinute map[string]float64 `json:"bss_per_minute"`
	// BSSCalls are the calls in the window by operation.
	BSSCalls map[string]float64 `json:"bss_calls"`
	// BalanceCallsPerSubAccountPoll is balance calls ÷ S ÷ polls.
	BalanceCallsPerSubAccountPoll float64 `json:"balance_calls_per_subaccount_poll"`
	// BillingPages is how many calls one full read of both bill cycles and
	// the orders takes (pages).
	BillingPages int `json:"billing_pages"`
	// BillingReads is the bill and order calls ÷ BillingPages: how many
	// times the master's bills and orders were read in the window.
	BillingReads float64 `json:"billing_reads"`
	// BillingReadsAllowed is two per billing interval (plus one), however
	// many sub-accounts there are.
	BillingReadsAllowed float64 `json:"billing_reads_allowed"`
	// CostRowsOriginal and CostRowsAmortized are the rows (accounts with
	// cost data: sub-accounts and the master) the two ListCosts queries of
	// one read of the cost data answer; CostDetails the details its
	// ListCustomerBillsMonthlyBreakDown (method=sub_customer) answers.
	CostRowsOriginal  int `json:"cost_rows_original"`
	CostRowsAmortized int `json:"cost_rows_amortized"`
	CostDetails       int `json:"cost_details"`
	// CostPages is the calls one read of the cost data needs: a page of
	// bss.CostsPageSize rows per ListCosts query, of bss.MaxBreakdownLimit
	// details for the breakdown, at least one each.
	CostPages int `json:"cost_pages"`
	// CostCalls are the ListCosts and ListCustomerBillsMonthlyBreakDown
	// calls in the window.
	CostCalls float64 `json:"cost_calls"`
	// CostCallsPerInterval is CostCalls ÷ (window ÷ billingSyncInterval):
	// the cost data calls per master and billing interval.
	CostCallsPerInterval float64 `json:"cost_calls_per_interval"`
	// CostCallsPerIntervalAllowed is CostPages for one read per billing
	// interval in the window (plus one, for a read the window cuts), per
	// interval: the cost data is read once per master and interval for the
	// EnterpriseAccount and all SubAccounts.
	CostCallsPerIntervalAllowed float64 `json:"cost_calls_per_interval_allowed"`
	// ReconcilesPerAllocationPerPoll is BudgetAllocation reconciles ÷ N ÷
	// (window ÷ balanceSyncInterval).
	ReconcilesPerAllocationPerPoll float64 `json:"reconciles_per_allocation_per_poll"`
	// ReconcilesPerTopUpPerPoll is the same reconciles ÷ the top-ups
	// instead of N: about 1 while the fixed allocations do none.
	ReconcilesPerTopUpPerPoll float64 `json:"reconciles_per_topup_per_poll,omitempty"`
	// Reconciles are the reconciles in the window by controller.
	Reconciles map[string]float64 `json:"reconciles"`
	// WritesPerMinute are the manager's API server writes per minute.
	WritesPerMinute map[string]float64 `json:"writes_per_minute"`
	CPUSeconds      float64            `json:"cpu_seconds"`
}

// report is the whole run.
type report struct {
	Allocations  int           `json:"allocations"`
	TopUps       int           `json:"topups"`
	SubAccounts  int           `json:"subaccounts"`
	Rate         int           `json:"rate_per_second"`
	Latency      string        `json:"latency"`
	PollInterval string        `json:"poll_interval"`
	SetupCPU     float64       `json:"setup_cpu_seconds"`
	Converge     *phaseReport  `json:"converge"`
	Raise        *phaseReport  `json:"raise"`
	Steady       *steadyReport `json:"steady"`
	// BillingInterval is the EnterpriseAccount's billingSyncInterval.
	BillingInterval string `json:"billing_interval"`
	// History is the history phase, when it ran.
	History *historyReport `json:"history,omitempty"`
	// Duplicates is trans_ids BSS applied twice plus money operations
	// applied beyond the Succeeded BudgetTransfers.
	Duplicates int `json:"duplicates"`
	// LedgerMismatches counts sub-accounts whose BSS ledger differs from
	// what their allocations declare.
	LedgerMismatches int     `json:"ledger_mismatches"`
	PeakRSSMiB       float64 `json:"manager_peak_rss_mib"`
	CPUSeconds       float64 `json:"manager_cpu_seconds"`
	Targets          []check `json:"targets"`
	Pass             bool    `json:"pass"`
}

// phases runs converge, raise, steady and history and measures each.
func (w *world) phases(ctx context.Context) (*report, error) {
	cfg := w.cfg
	rep := &report{
		Allocations: cfg.allocations, TopUps: cfg.topUps, SubAccounts: cfg.subAccounts, Rate: cfg.rate,
		Latency:      fmt.Sprintf("%s + [0, %s)", cfg.latency, cfg.jitter),
		PollInterval: cfg.balanceSync.String(), BillingInterval: cfg.billingSync.String(),
	}
	start, err := w.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	rep.SetupCPU = start.cpu

	// 1. Converge.
	funded := cfg.allocations - cfg.topUps
	floor := time.Duration(float64(funded) / float64(cfg.rate) * float64(time.Second))
	w.logf("converge: creating %d BudgetAllocations over %d SubAccounts (floor ≈ %s)", funded, cfg.subAccounts, floor.Round(time.Second))
	began := time.Now()
	cpuProfile := make(chan error, 1)
	if w.pprof != "" {
		secs := max(5, int(floor.Seconds()*0.8))
		go func() { cpuProfile <- w.profile(ctx, fmt.Sprintf("profile?seconds=%d", secs), "converge-cpu.pprof") }()
	} else {
		cpuProfile <- nil
	}
	if err := w.createAllocations(ctx); err != nil {
		return nil, err
	}
	w.logf("converge: created in %s", since(began))
	done, err := w.waitSettled(ctx, "converge", w.phaseTimeout(floor), w.fixed())
	if err != nil {
		return nil, err
	}
	afterConverge, err := w.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	rep.Converge = w.phaseReport(start, afterConverge, began, done, funded)
	w.logf("converge: %d allocations Ready in %.1fs (floor %.1fs, ratio %.3f)", funded, rep.Converge.Seconds, rep.Converge.FloorSeconds, rep.Converge.Ratio)
	if err := w.profile(ctx, "heap", "converged-heap.pprof"); err != nil {
		return nil, err
	}

	// 2. Raise a tenth.
	began = time.Now()
	raised, err := w.raise(ctx)
	if err != nil {
		return nil, err
	}
	if raised > 0 {
		floor = time.Duration(float64(raised) / float64(cfg.rate) * float64(time.Second))
		done, err = w.waitSettled(ctx, "raise", w.phaseTimeout(floor), w.fixed())
		if err != nil {
			return nil, err
		}
		afterRaise, err := w.snapshot(ctx)
		if err != nil {
			return nil, err
		}
		rep.Raise = w.phaseReport(afterConverge, afterRaise, began, done, raised)
		w.logf("raise: %d allocations raised and Ready in %.1fs (floor %.1fs, ratio %.3f)", raised, rep.Raise.Seconds, rep.Raise.FloorSeconds, rep.Raise.Ratio)
	}
	if err := <-cpuProfile; err != nil {
		return nil, err
	}

	// 3. Steady state. The top-ups are added and the billing page count is
	// measured before the window opens, so that neither's calls fall in it
	// (the page count's are the benchmark's own anyway, not the manager's).
	if err := w.createTopUps(ctx); err != nil {
		return nil, err
	}
	pages, err := w.billingPages(ctx)
	if err != nil {
		return nil, err
	}
	w.logf("steady: holding still for %s", cfg.steady)
	before, err := w.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(cfg.steady):
	}
	after, err := w.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	// The cost data's pages are counted once the window has closed: an
	// account's costs only grow, so every row the manager read in the
	// window is there.
	cost, err := w.costRead(ctx)
	if err != nil {
		return nil, err
	}
	rep.Steady = w.steadyReport(before, after, pages, cost)
	if err := w.profile(ctx, "heap", "steady-heap.pprof"); err != nil {
		return nil, err
	}

	if err := w.verifyBooks(ctx, rep); err != nil {
		return nil, err
	}
	rep.PeakRSSMiB = float64(after.peakRSS) / (1 << 20)
	rep.CPUSeconds = after.cpu

	// 4. History: after the books are checked, as compaction removes the
	// Succeeded transfers they count.
	if cfg.historyTransfers > 0 {
		if rep.History, err = w.history(ctx); err != nil {
			return nil, err
		}
	}
	rep.Targets = w.targets(rep)
	rep.Pass = true
	for _, t := range rep.Targets {
		rep.Pass = rep.Pass && t.Pass
	}
	return rep, nil
}

func (w *world) phaseTimeout(floor time.Duration) time.Duration {
	if w.cfg.timeout > 0 {
		return w.cfg.timeout
	}
	return 3*floor + 2*time.Minute
}

func (w *world) phaseReport(a, b *snapshot, began, done time.Time, funded int) *phaseReport {
	p := &phaseReport{Funded: funded, Seconds: done.Sub(began).Seconds(), MoneyWrites: b.ledger - a.ledger}
	p.FloorSeconds = float64(p.MoneyWrites) / float64(w.cfg.rate)
	if p.FloorSeconds > 0 {
		p.Ratio = p.Seconds / p.FloorSeconds
	}
	n := float64(funded)
	p.BSSCalls = bssCalls(a, b)
	p.BSSCallsPerFunded = total(p.BSSCalls) / n
	p.BSSPerFundedByCategory = map[string]float64{}
	for c, v := range byCategory(p.BSSCalls) {
		p.BSSPerFundedByCategory[c] = v / n
	}
	p.Writes = w.managerWrites(a, b)
	var own, sub, events float64
	for k, v := range p.Writes {
		switch res := strings.SplitN(k, "/", 2)[0]; {
		case strings.HasPrefix(res, "budgetallocations"), strings.HasPrefix(res, "budgettransfers"):
			own += v
		case strings.HasPrefix(res, "events"):
			events += v
		default:
			sub += v
		}
	}
	p.WritesPerFunded, p.SubAccountWritesPerFunded, p.EventsPerFunded = own/n, sub/n, events/n
	p.ReconcilesPerFunded = map[string]float64{}
	for c, v := range reconciles(a, b) {
		p.ReconcilesPerFunded[c] = v / n
	}
	p.CPUSeconds = b.cpu - a.cpu
	return p
}

// managerWrites are the API server's writes between two snapshots less the
// benchmark's own.
func (w *world) managerWrites(a, b *snapshot) map[string]float64 {
	all := apiWrites(a, b)
	for k, v := range all {
		v -= w.benchWritten(k)
		if v <= 0 {
			delete(all, k)
			continue
		}
		all[k] = v
	}
	return all
}

func (w *world) steadyReport(a, b *snapshot, pages int, cost costCounts) *steadyReport {
	cfg := w.cfg
	s := &steadyReport{
		Seconds: b.at.Sub(a.at).Seconds(), BillingPages: pages,
		CostRowsOriginal: cost.original, CostRowsAmortized: cost.amortized, CostDetails: cost.details, CostPages: cost.pages(),
	}
	minutes := s.Seconds / 60
	s.BSSCalls = bssCalls(a, b)
	s.BSSPerMinute = map[string]float64{}
	for c, v := range byCategory(s.BSSCalls) {
		s.BSSPerMinute[c] = v / minutes
	}
	for _, c := range []string{"balances", "bills", "orders", "costs"} {
		s.BSSPerMinute[c] += 0 // present even when zero
	}
	polls := s.Seconds / cfg.balanceSync.Seconds()
	byCat := byCategory(s.BSSCalls)
	s.BalanceCallsPerSubAccountPoll = byCat["balances"] / float64(cfg.subAccounts) / polls
	if pages > 0 {
		s.BillingReads = (byCat["bills"] + byCat["orders"]) / float64(pages)
	}
	intervals := s.Seconds / cfg.billingSync.Seconds()
	s.BillingReadsAllowed = 2*math.Ceil(intervals) + 1
	s.CostCalls = byCat["costs"]
	s.CostCallsPerInterval = s.CostCalls / intervals
	s.CostCallsPerIntervalAllowed = float64(s.CostPages) * (math.Ceil(intervals) + 1) / intervals
	s.Reconciles = reconciles(a, b)
	s.ReconcilesPerAllocationPerPoll = s.Reconciles["budgetallocation"] / float64(cfg.allocations) / polls
	if cfg.topUps > 0 {
		s.ReconcilesPerTopUpPerPoll = s.Reconciles["budgetallocation"] / float64(cfg.topUps) / polls
	}
	s.WritesPerMinute = map[string]float64{}
	for k, v := range w.managerWrites(a, b) {
		s.WritesPerMinute[k] = v / minutes
	}
	s.CPUSeconds = b.cpu - a.cpu
	return s
}

// benchClient is the benchmark's own BSS client of the master, at half the
// rate limit; observer, when not nil, sees its calls.
func (w *world) benchClient(observer bss.Observer) (*bss.Client, error) {
	return bss.New(bss.Config{
		Endpoint:    w.sim.URL,
		Credentials: sign.Credentials{AccessKey: bsssim.DefaultAccessKey, SecretKey: bsssim.DefaultSecretKey},
		DomainID:    bsssim.DefaultDomainID, RequestsPerSecond: 5,
		Observer: observer,
	})
}

// billingPages counts the calls one full read of the master's bills (this
// and last cycle, method=all) and its sub-accounts' orders takes, the way
// the SubAccount controller reads them.
func (w *world) billingPages(ctx context.Context) (int, error) {
	var calls atomic.Int64
	c, err := w.benchClient(bss.ObserverFunc(func(ci bss.CallInfo) {
		if ci.HTTPStatus == 200 {
			calls.Add(1)
		}
	}))
	if err != nil {
		return 0, err
	}
	now := time.Now()
	for _, cycle := range []string{billcycle.Of(now), billcycle.Previous(now)} {
		if _, err := c.ListAllMonthlySums(ctx, bss.MonthlySumRequest{BillCycle: cycle, Method: bss.MethodAll}); err != nil {
			return 0, err
		}
	}
	if _, err := c.ListAllOrders(ctx, bss.ListOrdersRequest{Method: bss.MethodSubCustomer, OrderBy: bss.OrderByCreateTimeDesc}); err != nil {
		return 0, err
	}
	return int(calls.Load()), nil
}

// costCounts are what the queries of one read of the cost data answered:
// the rows of the ListCosts queries of the original and the amortized
// cost, and the details of the breakdown.
type costCounts struct {
	original, amortized, details int
}

// pages is the calls the documented queries need for them: every query
// takes one page at least.
func (c costCounts) pages() int {
	pagesOf := func(n, size int) int { return max(1, (n+size-1)/size) }
	return pagesOf(c.original, bss.CostsPageSize) + pagesOf(c.amortized, bss.CostsPageSize) + pagesOf(c.details, bss.MaxBreakdownLimit)
}

// countingReader counts the rows and details the cost queries answer.
type countingReader struct {
	bss.Reader
	counts costCounts
}

func (r *countingReader) ListAllCosts(ctx context.Context, req bss.CostsRequest) ([]bss.CostData, error) {
	rows, err := r.Reader.ListAllCosts(ctx, req)
	if req.CostType == bss.CostTypeAmortized {
		r.counts.amortized += len(rows)
	} else {
		r.counts.original += len(rows)
	}
	return rows, err
}

func (r *countingReader) ListAllCostBreakdown(ctx context.Context, req bss.BreakdownRequest) ([]bss.CostDetail, error) {
	details, err := r.Reader.ListAllCostBreakdown(ctx, req)
	r.counts.details += len(details)
	return details, err
}

// costRead reads the master's cost data once, as the operator does
// (costs.Read), and counts what the queries answered.
func (w *world) costRead(ctx context.Context) (costCounts, error) {
	c, err := w.benchClient(nil)
	if err != nil {
		return costCounts{}, err
	}
	seen := map[string]bool{}
	var ids []string
	for _, a := range w.allocs {
		if !seen[a.customer] {
			seen[a.customer] = true
			ids = append(ids, a.customer)
		}
	}
	r := &countingReader{Reader: c}
	if _, err := costs.Read(ctx, r, time.Now(), ids); err != nil {
		return costCounts{}, fmt.Errorf("reading the cost data: %w", err)
	}
	return r.counts, nil
}

// verifyBooks compares the simulator's ledger with the declared
// allocations and the BudgetTransfers.
func (w *world) verifyBooks(ctx context.Context, rep *report) error {
	st, err := w.sim.State(ctx)
	if err != nil {
		return err
	}
	var transfers budgetv1alpha1.BudgetTransferList
	if err := w.k8s.List(ctx, &transfers); err != nil {
		return err
	}
	rep.Duplicates, rep.LedgerMismatches = books(st, transfers.Items, w.allocs)
	return nil
}

// books counts the money BSS applied more than once (a trans_id twice, or
// more money operations than Succeeded BudgetTransfers) and the
// sub-accounts whose ledger differs from what their allocations declare.
func books(st *bsssim.State, transfers []budgetv1alpha1.BudgetTransfer, allocs []*allocation) (duplicates, mismatches int) {
	duplicates = len(localenv.DuplicateTransIDs(st))
	succeeded := 0
	for _, bt := range transfers {
		if bt.Status.Phase == budgetv1alpha1.PhaseSucceeded {
			succeeded++
		}
	}
	if extra := len(st.Ledger) - succeeded; extra > 0 {
		duplicates += extra
	}
	want := map[string]money.Amount{}
	for _, a := range allocs {
		want[a.customer] = want[a.customer].Add(a.amount)
	}
	got := localenv.NetByCustomer(st)
	for cust, amount := range want {
		if got[cust] != amount {
			mismatches++
		}
	}
	return duplicates, mismatches
}

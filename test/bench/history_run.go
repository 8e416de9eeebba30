package main

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
	"github.com/bss-budget-operator/bss-budget-operator/test/e2e/framework"
)

// historyReport is the history phase: settled transfers created directly,
// a manager started on them that folds and compacts them all, and one more
// restart with the compacted history.
type historyReport struct {
	// Allocations is how many allocations got a history (those that had
	// moved money), PerAllocation how many settled transfers each.
	Allocations   int `json:"allocations"`
	PerAllocation int `json:"per_allocation"`
	// Created is the transfers the benchmark created, in CreateSeconds
	// (create and status write each).
	Created         int     `json:"created"`
	CreateSeconds   float64 `json:"create_seconds"`
	CreatePerSecond float64 `json:"create_per_second"`
	// Settled is every settled transfer when the manager started: the
	// operator's own and the created ones.
	Settled int `json:"settled"`
	// Compact is the manager started on the history, until every allocation
	// was Ready with its amount and no settled transfer was left.
	Compact *runReport `json:"compact"`
	// LedgerRecords and LedgerEntries are what the compaction wrote.
	LedgerRecords int `json:"ledger_records"`
	LedgerEntries int `json:"ledger_entries"`
	// Restart is the manager started once more, until every allocation was
	// reconciled and Ready again.
	Restart *runReport `json:"restart"`
}

// runReport is one manager process from its start until the benchmark saw
// what it waited for.
type runReport struct {
	Seconds    float64 `json:"seconds"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// BSSCalls are the manager's BSS HTTP attempts by operation;
	// MoneyWriteCalls the money writes among them, MoneyWritesApplied the
	// money operations BSS applied.
	BSSCalls           map[string]float64 `json:"bss_calls"`
	MoneyWriteCalls    float64            `json:"money_write_calls"`
	MoneyWritesApplied int                `json:"money_writes_applied"`
	// BalanceReadsPerSubAccount is the calls that read a sub-account's
	// balances ÷ S (the master's own balance reads are not counted).
	BalanceReadsPerSubAccount float64            `json:"balance_reads_per_subaccount"`
	Writes                    map[string]float64 `json:"writes"`
	Reconciles                map[string]float64 `json:"reconciles"`
}

// history runs the history phase after the others.
func (w *world) history(ctx context.Context) (*historyReport, error) {
	h := &historyReport{PerAllocation: w.cfg.historyTransfers}
	if err := w.mgr.Stop(15 * time.Second); err != nil {
		return nil, err
	}
	if err := w.setBalanceInterval(ctx, w.cfg.historyBalanceSync); err != nil {
		return nil, err
	}
	plans, settled, err := w.ledgerPlans(ctx)
	if err != nil {
		return nil, err
	}
	h.Allocations = len(plans)
	w.logf("history: creating %d settled transfers for each of %d allocations with %d workers", h.PerAllocation, h.Allocations, w.cfg.historyWorkers)
	began := time.Now()
	created, err := w.createHistory(ctx, plans, h.PerAllocation)
	if err != nil {
		return nil, err
	}
	h.Created, h.CreateSeconds = int(created), time.Since(began).Seconds()
	h.CreatePerSecond = float64(created) / h.CreateSeconds
	// The history predates the checkpoints: this version folds it all
	// when it starts, as after an upgrade.
	if err := w.rewindStatus(ctx, plans, h.PerAllocation); err != nil {
		return nil, err
	}
	h.Settled = settled + h.Created
	w.logf("history: created %d in %.1fs (%.0f a second); starting the manager on %d settled transfers", h.Created, h.CreateSeconds, h.CreatePerSecond, h.Settled)
	if h.Compact, err = w.managerRun(ctx, "compact", w.historyTimeout(h.Settled), true); err != nil {
		return nil, err
	}
	w.logf("history: folded and compacted in %.1fs, peak RSS %.1f MiB", h.Compact.Seconds, h.Compact.PeakRSSMiB)
	if h.LedgerRecords, h.LedgerEntries, err = w.countRecords(ctx); err != nil {
		return nil, err
	}
	if h.Restart, err = w.managerRun(ctx, "restart", w.historyTimeout(0), false); err != nil {
		return nil, err
	}
	w.logf("history: Ready again %.1fs after the restart", h.Restart.Seconds)
	return h, nil
}

// historyTimeout bounds a manager run: -timeout, or 2 minutes plus twice
// what compacting the settled transfers takes at the manager's client
// limit: two BudgetTransfer writes (finalizer, delete) each, at
// -history-kube-api-qps (or the manager's default 50).
func (w *world) historyTimeout(settled int) time.Duration {
	if w.cfg.timeout > 0 {
		return w.cfg.timeout
	}
	qps := w.cfg.historyQPS
	if qps <= 0 {
		qps = 50
	}
	return 2*time.Minute + time.Duration(settled)*2*2*time.Second/time.Duration(qps)
}

// setBalanceInterval sets the EnterpriseAccount's balanceSyncInterval.
func (w *world) setBalanceInterval(ctx context.Context, d time.Duration) error {
	ea := &budgetv1alpha1.EnterpriseAccount{ObjectMeta: metav1.ObjectMeta{Name: eaName}}
	patch := []byte(`{"spec":{"balanceSyncInterval":"` + d.String() + `"}}`)
	if err := w.k8s.Patch(ctx, ea, client.RawPatch("application/merge-patch+json", patch)); err != nil {
		return err
	}
	w.countBenchWrite(writeKey("enterpriseaccounts", "", "PATCH"))
	return nil
}

// managerRun stops the manager if it runs, starts it again and waits until
// every allocation and SubAccount has been reconciled and is Ready (and,
// with compact, no settled transfer is left), and measures the new
// process until then.
func (w *world) managerRun(ctx context.Context, what string, timeout time.Duration, compact bool) (*runReport, error) {
	if !w.mgr.Exited() {
		if err := w.mgr.Stop(15 * time.Second); err != nil {
			return nil, err
		}
	}
	base, err := w.baseline(ctx)
	if err != nil {
		return nil, err
	}
	var extra []string
	if w.cfg.historyRetention != "" {
		extra = append(extra, "--transfer-retention="+w.cfg.historyRetention)
	}
	if q := w.cfg.historyQPS; q > 0 && compact {
		// Only the run that compacts: the restart runs at the manager's
		// default client limit, as a production restart would.
		extra = append(extra, fmt.Sprintf("--kube-api-qps=%d", q), fmt.Sprintf("--kube-api-burst=%d", 2*q))
	}
	if err := w.startManager(ctx, extra...); err != nil {
		return nil, err
	}
	var peak peakProfiler
	progress := time.Now()
	at, err := w.waitRecovered(ctx, what, timeout, func(ctx context.Context) (string, error) {
		if !compact {
			return "", nil
		}
		peak.sample(ctx, w)
		if time.Since(progress) >= time.Minute {
			progress = time.Now()
			w.logRecords(ctx)
		}
		return w.settledLeft(ctx)
	})
	if err != nil {
		return nil, err
	}
	after, err := w.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if err := w.profile(ctx, "heap", what+"-heap.pprof"); err != nil {
		return nil, err
	}
	return w.runReport(base, after, at), nil
}

// baseline is the counters before a manager starts: the new process's
// own start at zero.
func (w *world) baseline(ctx context.Context) (*snapshot, error) {
	s := &snapshot{at: time.Now(), mgr: &localenv.Metrics{}}
	return s, w.scrapeOutside(ctx, s)
}

func (w *world) runReport(a, b *snapshot, done time.Time) *runReport {
	r := &runReport{
		Seconds: done.Sub(a.at).Seconds(), PeakRSSMiB: float64(b.peakRSS) / (1 << 20), CPUSeconds: b.cpu,
		BSSCalls: bssCalls(a, b), MoneyWritesApplied: b.ledger - a.ledger,
		Writes: w.managerWrites(a, b), Reconciles: reconciles(a, b),
	}
	r.MoneyWriteCalls = byCategory(r.BSSCalls)["money writes"]
	r.BalanceReadsPerSubAccount = subAccountBalanceReads(r.BSSCalls) / float64(w.cfg.subAccounts)
	return r
}

// waitRecovered waits until more (called on every poll; a description of
// what is left, "" when nothing) says nothing is left, the manager has
// reconciled every allocation and SubAccount since it started, and every
// allocation is Ready with its amount. It returns when it saw that.
func (w *world) waitRecovered(ctx context.Context, what string, timeout time.Duration, more func(context.Context) (string, error)) (time.Time, error) {
	var waiting string
	var at time.Time
	err := testenv.Wait(ctx, timeout, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		if w.mgr.Exited() {
			return false, testenv.Permanent(fmt.Errorf("the manager exited: %s\n%s", w.mgr.ExitStatus(), w.mgr.Tail(20)))
		}
		seen := time.Now()
		var err error
		if waiting, err = more(ctx); err != nil || waiting != "" {
			return false, err
		}
		if waiting, err = w.recovering(ctx); err != nil || waiting != "" {
			return false, err
		}
		at = seen
		return true, nil
	}, func() string { return waiting })
	if err != nil {
		return time.Time{}, fmt.Errorf("history %s: %w", what, err)
	}
	return at, nil
}

// recovering says what the manager has still to do after its start before
// it is back: "" when it has reconciled every allocation and SubAccount,
// is working on none, and every allocation is Ready with its amount.
func (w *world) recovering(ctx context.Context) (string, error) {
	m, err := w.mgr.Scrape(ctx)
	if err != nil {
		return "", err
	}
	for c, n := range map[string]int{"budgetallocation": len(w.allocs), "subaccount": w.cfg.subAccounts} {
		if !caughtUp(m, c, n) {
			return fmt.Sprintf("the %s controller has not yet reconciled all %d objects", c, n), nil
		}
	}
	var list budgetv1alpha1.BudgetAllocationList
	if err := w.k8s.List(ctx, &list); err != nil {
		return "", err
	}
	declared := make([]framework.Declared, len(w.allocs))
	for i, a := range w.allocs {
		declared[i] = framework.Declared{Namespace: a.ns, Name: a.name, Granted: a.amount.String()}
	}
	if waiting := framework.Unsettled(list.Items, declared); len(waiting) > 0 {
		return framework.Summarize(waiting), nil
	}
	return "", nil
}

// caughtUp reports whether a controller has reconciled at least objects
// times since the process started, has nothing queued and no worker busy:
// every object its informer listed at the start has been reconciled.
func caughtUp(m *localenv.Metrics, controller string, objects int) bool {
	reconciled := m.Sum("controller_runtime_reconcile_total", map[string]string{"controller": controller})
	queued := m.Sum("workqueue_depth", map[string]string{"name": controller})
	busy := m.Sum("controller_runtime_active_workers", map[string]string{"controller": controller})
	return reconciled >= float64(objects) && queued == 0 && busy == 0
}

// settledLeft names a Succeeded or Failed transfer that is still there, or
// returns "" when there is none.
func (w *world) settledLeft(ctx context.Context) (string, error) {
	for _, phase := range []budgetv1alpha1.TransferPhase{budgetv1alpha1.PhaseSucceeded, budgetv1alpha1.PhaseFailed} {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(budgetv1alpha1.GroupVersion.WithKind("BudgetTransferList"))
		if err := w.k8s.List(ctx, list, client.MatchingFields{"status.phase": string(phase)}, client.Limit(1)); err != nil {
			return "", err
		}
		if len(list.Items) > 0 {
			bt := list.Items[0]
			return fmt.Sprintf("settled transfers are left, such as %s/%s (%s)", bt.Namespace, bt.Name, phase), nil
		}
	}
	return "", nil
}

// logRecords logs how many LedgerRecords there are, from their metadata.
func (w *world) logRecords(ctx context.Context) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(budgetv1alpha1.GroupVersion.WithKind("LedgerRecordList"))
	if err := w.k8s.List(ctx, list); err != nil {
		w.logf("history: counting LedgerRecords: %v", err)
		return
	}
	_, hwm, _ := procStats(w.mgr.Pid())
	w.logf("history: %d LedgerRecords written so far; manager peak RSS %.1f MiB", len(list.Items), float64(hwm)/(1<<20))
}

// countRecords counts the LedgerRecords and the entries in them, a page at
// a time.
func (w *world) countRecords(ctx context.Context) (records, entries int, err error) {
	opts := []client.ListOption{client.Limit(100)}
	for {
		var list budgetv1alpha1.LedgerRecordList
		if err := w.k8s.List(ctx, &list, opts...); err != nil {
			return 0, 0, err
		}
		for _, r := range list.Items {
			records++
			entries += len(r.Spec.Entries)
		}
		if list.Continue == "" {
			return records, entries, nil
		}
		opts = []client.ListOption{client.Limit(100), client.Continue(list.Continue)}
	}
}

// peakProfiler saves a heap profile of the manager each time its peak RSS
// has grown by a tenth since the last one (with -pprof), so that the last
// one shows the heap near the peak.
type peakProfiler struct{ last int64 }

func (p *peakProfiler) sample(ctx context.Context, w *world) {
	if w.pprof == "" {
		return
	}
	_, hwm, err := procStats(w.mgr.Pid())
	if err != nil || hwm < p.last+p.last/10 {
		return
	}
	p.last = hwm
	if err := w.profile(ctx, "heap", "compact-peak-heap.pprof"); err != nil {
		w.logf("history: heap profile at %.0f MiB: %v", float64(hwm)/(1<<20), err)
	}
}

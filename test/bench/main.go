// Command bench measures how close the operator converges to the BSS rate
// limit floor, and what it costs: BSS calls, Kubernetes API writes,
// reconciles, memory and CPU.
//
// It starts etcd and kube-apiserver (envtest binaries), bss-simulator (10
// requests/s per API and master, 30 ms ± 10 ms latency, costs shown as
// they accrue) and the built manager binary, all on loopback, then:
//
//  1. converge: creates N BudgetAllocations (less the top-ups) over S
//     SubAccounts and waits until every one is Ready with its amount
//     granted;
//  2. raise: raises a tenth of them and waits again;
//  3. steady: adds the -topups top-up allocations (counted in N), holds
//     still for a window and counts what the operator does when nothing
//     changes but the top-ups' polls, the billing and cost data syncs
//     among it;
//  4. history (-history-transfers per allocation, 0 skips it): stops the
//     manager, creates that many settled BudgetTransfers for each
//     allocation that has moved money, as the operator leaves them,
//     starts the manager on them (with --transfer-retention) and waits
//     until it has folded and compacted them all, then restarts it once
//     more and waits until every allocation is Ready again.
//
// It prints a table and, on its last line, one JSON object, checks the
// targets and exits 1 if any fails. Run it with `make bench`, or the small
// run `make test` includes with `make bench-smoke`; see
// docs/performance.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

// config is the command line.
type config struct {
	allocations, subAccounts int
	topUps                   int
	raisePercent             int
	steady                   time.Duration
	balanceSync, billingSync time.Duration
	rate                     int
	latency, jitter          time.Duration
	seed                     int64
	binDir, dir              string
	keep, pprof              bool
	timeout                  time.Duration
	maxRSSMiB                float64
	managerArgs, simArgs     stringList
	managerEnv               stringList
	historyTransfers         int
	historyWorkers           int
	historyBalanceSync       time.Duration
	historyRetention         string
	historyQPS               int
	maxHistoryRSSMiB         float64
}

type stringList []string

func (l *stringList) String() string     { return fmt.Sprint(*l) }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func parseFlags(args []string, out io.Writer) (*config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(out)
	c := &config{}
	fs.IntVar(&c.allocations, "allocations", 1000, "BudgetAllocations (N), top-ups included")
	fs.IntVar(&c.subAccounts, "subaccounts", 200, "SubAccounts they fund (S), one namespace each")
	fs.IntVar(&c.topUps, "topups", 0, "how many of the N allocations are top-ups instead of amounts: one each on the first sub-accounts, added before the steady window, where they poll every balance sync interval and move nothing")
	fs.IntVar(&c.raisePercent, "raise-percent", 10, "share of the amount allocations raised in the second phase, in percent")
	fs.DurationVar(&c.steady, "steady", 3*time.Minute, "steady-state window")
	fs.DurationVar(&c.balanceSync, "balance-sync-interval", time.Minute, "EnterpriseAccount balanceSyncInterval (the poll interval)")
	fs.DurationVar(&c.billingSync, "billing-sync-interval", time.Minute, "EnterpriseAccount billingSyncInterval")
	fs.IntVar(&c.rate, "rate", 10, "simulator requests per second per API and master; also the EnterpriseAccount's rateLimit")
	fs.DurationVar(&c.latency, "latency", 20*time.Millisecond, "simulator base latency")
	fs.DurationVar(&c.jitter, "latency-jitter", 20*time.Millisecond, "simulator extra latency, uniform in [0, jitter)")
	fs.Int64Var(&c.seed, "seed", 1, "seed for the amounts and the raised allocations")
	fs.StringVar(&c.binDir, "bin", "bin", "directory holding manager and bss-simulator (make build)")
	fs.StringVar(&c.dir, "dir", "", "directory for logs, profiles and the kubeconfig (default: a temporary one, removed unless -keep or a failure)")
	fs.BoolVar(&c.keep, "keep", false, "keep the directory")
	fs.BoolVar(&c.pprof, "pprof", false, "serve the manager's pprof and save a CPU profile of the convergence and heap profiles into the directory")
	fs.DurationVar(&c.timeout, "timeout", 0, "limit per phase (default: 3 × the phase's floor + 2m)")
	fs.Float64Var(&c.maxRSSMiB, "max-rss-mib", 200, "target: the manager's peak RSS in MiB")
	fs.Var(&c.managerArgs, "manager-arg", "extra manager flag (repeatable), e.g. -manager-arg=--max-concurrent-reconciles=8")
	fs.Var(&c.managerEnv, "manager-env", "extra manager environment variable (repeatable), e.g. -manager-env=GOGC=50")
	fs.Var(&c.simArgs, "sim-arg", "extra bss-simulator flag (repeatable), e.g. -sim-arg=--error-rate=0.3")
	historyFlags(fs, c)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := c.validHistory(); err != nil {
		return nil, err
	}
	switch {
	case c.allocations < 1 || c.subAccounts < 1 || c.subAccounts > c.allocations:
		return nil, errors.New("need 1 ≤ -subaccounts ≤ -allocations")
	case c.topUps < 0 || c.topUps > c.subAccounts || c.allocations-c.topUps < c.subAccounts:
		return nil, errors.New("need 0 ≤ -topups ≤ -subaccounts ≤ -allocations − -topups: a top-up joins a sub-account that an amount allocation has funded")
	case c.raisePercent < 0 || c.raisePercent > 100:
		return nil, errors.New("-raise-percent must be within 0–100")
	case c.rate < 1 || c.rate > 10:
		return nil, errors.New("-rate must be within 1–10: the EnterpriseAccount's rateLimit allows at most 10")
	case c.billingSync < time.Minute:
		return nil, errors.New("-billing-sync-interval must be at least 1m (the CRD's minimum)")
	case c.balanceSync < 10*time.Second:
		return nil, errors.New("-balance-sync-interval must be at least 10s (the CRD's minimum)")
	}
	return c, nil
}

// historyFlags are the history phase's.
func historyFlags(fs *flag.FlagSet, c *config) {
	fs.IntVar(&c.historyTransfers, "history-transfers", 200, "history phase: settled transfers created for each allocation that has moved money, alternately Transfer and Reclaim of the same amount (even; 0 skips the phase)")
	fs.IntVar(&c.historyWorkers, "history-workers", 48, "history phase: concurrent creates (the benchmark's client has no rate limit)")
	fs.DurationVar(&c.historyBalanceSync, "history-balance-sync-interval", 10*time.Minute, "history phase: EnterpriseAccount balanceSyncInterval from the phase on (the operator's default), so that the restart's balance reads are its own and not periodic syncs that fall due")
	fs.StringVar(&c.historyRetention, "history-retention", "0s", "history phase: the manager's --transfer-retention (\"\" leaves the flag out)")
	fs.IntVar(&c.historyQPS, "history-kube-api-qps", 400, "history phase: the manager's --kube-api-qps (burst twice that) while it compacts: compacting a transfer takes two BudgetTransfer writes, so an upgrade of an installation with a long history raises it for the first run (0 keeps the manager's default, 50)")
	fs.Float64Var(&c.maxHistoryRSSMiB, "max-history-rss-mib", 250, "target: the manager's peak RSS in MiB while it folds and compacts the history")
}

func (c *config) validHistory() error {
	switch {
	case c.historyTransfers < 0 || c.historyTransfers%2 != 0:
		return errors.New("-history-transfers must be even and not negative: the history nets to zero in pairs")
	case c.historyWorkers < 1:
		return errors.New("-history-workers must be at least 1")
	case c.historyBalanceSync < 10*time.Second:
		return errors.New("-history-balance-sync-interval must be at least 10s (the CRD's minimum)")
	}
	return nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, cfg, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		code = 1
	}
	os.Exit(code)
}

// run sets the world up, runs the phases, reports and tears down. It
// returns the exit code.
func run(ctx context.Context, cfg *config, out io.Writer) (int, error) {
	root := testenv.RepoRoot()
	if !filepath.IsAbs(cfg.binDir) {
		cfg.binDir = filepath.Join(root, cfg.binDir)
	}
	for _, b := range []string{"manager", "bss-simulator"} {
		if _, err := os.Stat(filepath.Join(cfg.binDir, b)); err != nil {
			return 1, fmt.Errorf("%s not found in %s: run make build (make bench does): %w", b, cfg.binDir, err)
		}
	}
	assets, err := testenv.AssetsDir()
	if err != nil {
		return 1, err
	}
	dir := cfg.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bss-bench-"); err != nil {
			return 1, err
		}
	}
	w := &world{cfg: cfg, dir: dir, out: out, rng: rand.New(rand.NewPCG(uint64(cfg.seed), 7))} //nolint:gosec // G404: benchmark data, not secrets
	code := 1
	defer func() {
		w.stop()
		if cfg.keep || cfg.dir != "" || code != 0 {
			fmt.Fprintf(os.Stderr, "bench: logs kept in %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()
	if err := w.start(ctx, root, assets); err != nil {
		return code, err
	}
	rep, err := w.phases(ctx)
	if err != nil {
		return code, err
	}
	if rep.print(out) {
		code = 0
	}
	return code, nil
}

// since is the time from t to now, to the millisecond.
func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }

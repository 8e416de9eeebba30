package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
	"github.com/bss-budget-operator/bss-budget-operator/test/e2e/framework"
)

const (
	opNS        = localenv.OperatorNamespace
	eaName      = "bench"
	credentials = "bench-bss-credentials" //nolint:gosec // G101: a Secret's name, not a secret
)

// world is the running control plane, simulator and manager, and what the
// benchmark declared.
type world struct {
	cfg *config
	dir string
	out io.Writer
	rng *rand.Rand

	cp      *localenv.ControlPlane
	k8s     client.Client
	apiHTTP *http.Client
	sim     *localenv.Simulator
	mgr     *localenv.Manager
	pprof   string // base URL of the manager's pprof, when -pprof
	// managerStarts counts the managers started, restarts included.
	managerStarts int

	allocs []*allocation
	// benchWrites counts the benchmark's own writes to budget.bss.dev, by
	// the key apiWrites uses, so that they can be told from the manager's.
	benchWrites sync.Map // string → *atomic.Int64
}

// allocation is one declared BudgetAllocation.
type allocation struct {
	ns, name, subAccount, customer string
	// amount is what it grants: 0.00 for a top-up, which never fires.
	amount money.Amount
	topUp  bool
}

// A top-up joins a sub-account that the fixed allocations have already
// given at least 10.00 (one of 10.00 to 99.99 each), so its balance stays
// above the minimum: the top-up polls every balance sync interval and
// moves nothing, and what it grants (0.00) is known to the fen.
var (
	topUpMinimum = money.FromFen(500)
	topUpTarget  = money.FromFen(1000)
	topUpLimit   = money.FromFen(10000)
)

// fixed are the allocations that grant an amount.
func (w *world) fixed() []*allocation {
	var out []*allocation
	for _, a := range w.allocs {
		if !a.topUp {
			out = append(out, a)
		}
	}
	return out
}

// topUps are the top-up allocations.
func (w *world) topUps() []*allocation {
	var out []*allocation
	for _, a := range w.allocs {
		if a.topUp {
			out = append(out, a)
		}
	}
	return out
}

func (w *world) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (w *world) countBenchWrite(key string) {
	v, _ := w.benchWrites.LoadOrStore(key, &atomic.Int64{})
	v.(*atomic.Int64).Add(1)
}

func (w *world) benchWritten(key string) float64 {
	if v, ok := w.benchWrites.Load(key); ok {
		return float64(v.(*atomic.Int64).Load())
	}
	return 0
}

// start brings up the control plane, the simulator with its sub-accounts and
// funds, the EnterpriseAccount and SubAccounts, and the manager, and waits
// until every SubAccount is Ready.
func (w *world) start(ctx context.Context, root, assets string) error {
	cfg := w.cfg
	began := time.Now()
	var err error
	w.cp, err = localenv.StartControlPlane(localenv.ControlPlaneOptions{
		AssetsDir: assets, CRDDir: filepath.Join(root, "config", "crd", "bases"), Dir: w.dir,
		// The history phase writes and deletes hundreds of thousands of
		// objects; etcd's default 2 GiB would be the limit, not the operator.
		EtcdQuotaBytes: 8 << 30,
	})
	if err != nil {
		return err
	}
	// The benchmark's own client must not be what limits the rollout.
	benchCfg := rest.CopyConfig(w.cp.Config)
	benchCfg.QPS, benchCfg.Burst = 1000, 2000
	if w.k8s, err = localenv.NewClient(benchCfg); err != nil {
		return err
	}
	if w.apiHTTP, err = rest.HTTPClientFor(w.cp.Config); err != nil {
		return err
	}
	// The sub-accounts' costs show in the cost data as they accrue
	// (--cost-lag-days=0), so that it has a row for each of the S
	// sub-accounts created today.
	w.sim, err = localenv.StartSimulator(ctx, localenv.SimulatorOptions{
		Binary: filepath.Join(cfg.binDir, "bss-simulator"), Dir: w.dir,
		Args: append([]string{
			"--throttle=" + strconv.Itoa(cfg.rate), "--latency=" + cfg.latency.String(), "--latency-jitter=" + cfg.jitter.String(),
			"--seed=" + strconv.FormatInt(cfg.seed, 10), "--cost-lag-days=0", "--log-level=warn",
		}, cfg.simArgs...),
	})
	if err != nil {
		return err
	}
	w.logf("control plane and simulator up in %s; logs in %s", since(began), w.dir)

	// Money enough for every allocation and raise.
	if err := w.sim.AddFunds(ctx, bsssim.DefaultDomainID, money.FromFen(int64(cfg.allocations)*30000)); err != nil {
		return err
	}
	ea := localenv.EnterpriseAccount(eaName, w.sim.URL, credentials)
	ea.Spec.RateLimit = &budgetv1alpha1.RateLimit{RequestsPerSecond: int32(cfg.rate)} //nolint:gosec // G115: parseFlags bounds it to 1–10
	ea.Spec.BalanceSyncInterval = &metav1.Duration{Duration: cfg.balanceSync}
	ea.Spec.BillingSyncInterval = &metav1.Duration{Duration: cfg.billingSync}
	if err := localenv.CreateAll(ctx, w.k8s, localenv.Namespace(opNS, nil), localenv.CredentialsSecret(opNS, credentials), ea); err != nil {
		return err
	}

	// S sub-accounts in BSS, each adopted by a SubAccount admitting its own
	// namespace; N allocations spread over them round-robin, the first
	// -topups of them (one per sub-account) top-ups.
	subs := make([]int, cfg.subAccounts)
	for i := range subs {
		subs[i] = i
	}
	customers := make([]string, cfg.subAccounts)
	if err := localenv.Parallel(subs, 16, func(i int) error {
		name := fmt.Sprintf("team-%04d", i)
		cust, err := w.sim.AddSubAccount(ctx, name, "")
		if err != nil {
			return err
		}
		customers[i] = cust
		return localenv.CreateAll(ctx, w.k8s, localenv.Namespace(name, nil), localenv.SubAccount(name, eaName, cust, name))
	}); err != nil {
		return err
	}
	for i := range cfg.allocations {
		s := i % cfg.subAccounts
		name := fmt.Sprintf("team-%04d", s)
		a := &allocation{
			ns: name, name: fmt.Sprintf("alloc-%05d", i), subAccount: name, customer: customers[s],
			amount: money.FromFen(1000 + w.rng.Int64N(9000)), // 10.00 to 99.99
		}
		if i < cfg.topUps {
			a.amount, a.topUp = money.Zero, true
		}
		w.allocs = append(w.allocs, a)
	}

	if err := w.startManager(ctx); err != nil {
		return err
	}
	var ready int
	err = testenv.Wait(ctx, 10*time.Minute, time.Second, func(ctx context.Context) (bool, error) {
		if w.mgr.Exited() {
			return false, testenv.Permanent(fmt.Errorf("the manager exited: %s\n%s", w.mgr.ExitStatus(), w.mgr.Tail(20)))
		}
		var list budgetv1alpha1.SubAccountList
		if err := w.k8s.List(ctx, &list); err != nil {
			return false, err
		}
		ready = 0
		for _, sa := range list.Items {
			if localenv.IsReady(sa.Status.Conditions) {
				ready++
			}
		}
		return ready == cfg.subAccounts, nil
	}, func() string { return fmt.Sprintf("%d of %d SubAccounts Ready", ready, cfg.subAccounts) })
	if err != nil {
		return err
	}
	w.logf("%d SubAccounts Ready, %s after start", cfg.subAccounts, since(began))
	return nil
}

// startManager starts the manager with the benchmark's flags and extra
// ones, and remembers where its pprof is served.
func (w *world) startManager(ctx context.Context, extra ...string) error {
	cfg := w.cfg
	args := []string{
		// Production backoffs, not the tests' short ones.
		"--transfer-retry-base=1m", "--submit-retry-base=2s", "--funds-recheck-interval=1m",
	}
	if cfg.pprof {
		port, err := localenv.FreePort()
		if err != nil {
			return err
		}
		args = append(args, "--pprof-bind-address="+localenv.LoopbackAddr(port))
		w.pprof = "http://" + localenv.LoopbackAddr(port) + "/debug/pprof"
	}
	args = append(append(args, cfg.managerArgs...), extra...)
	var err error
	w.mgr, err = localenv.StartManager(ctx, localenv.ManagerOptions{
		Binary: filepath.Join(cfg.binDir, "manager"), Kubeconfig: w.cp.KubeconfigPath, Dir: w.dir,
		Name: w.managerName(), Namespace: opNS, Args: args, Env: cfg.managerEnv,
	})
	if err != nil {
		return err
	}
	w.logf("manager pid %d started with %s", w.mgr.Pid(), strings.Join(slices.Concat(cfg.managerEnv, args), " "))
	return nil
}

// managerName names the manager's log: manager.log for the first, then
// manager-2.log and on for each restart.
func (w *world) managerName() string {
	w.managerStarts++
	if w.managerStarts == 1 {
		return "manager"
	}
	return fmt.Sprintf("manager-%d", w.managerStarts)
}

// createTopUps creates the top-up allocations and waits until each is
// Ready. It runs after the raise, so that their polls and status writes
// fall in the steady window and in no converging phase.
func (w *world) createTopUps(ctx context.Context) error {
	tops := w.topUps()
	if len(tops) == 0 {
		return nil
	}
	began := time.Now()
	if err := localenv.Parallel(tops, 32, func(a *allocation) error {
		ba := localenv.Allocation(a.ns, a.name, a.subAccount, "")
		ba.Spec.TopUp = &budgetv1alpha1.TopUp{
			MinimumBalance: budgetv1alpha1.Money(topUpMinimum.String()),
			TargetBalance:  budgetv1alpha1.Money(topUpTarget.String()),
			MonthlyLimit:   budgetv1alpha1.Money(topUpLimit.String()),
		}
		if err := w.k8s.Create(ctx, ba); err != nil {
			return err
		}
		w.countBenchWrite(writeKey("budgetallocations", "", "POST"))
		return nil
	}); err != nil {
		return err
	}
	if _, err := w.waitSettled(ctx, "top-ups", time.Duration(len(tops))*time.Second+2*time.Minute, tops); err != nil {
		return err
	}
	w.logf("%d top-up allocations Ready in %s", len(tops), since(began))
	return nil
}

// stop stops the manager, the simulator and the control plane.
func (w *world) stop() {
	if w.mgr != nil {
		if err := w.mgr.Stop(15 * time.Second); err != nil {
			w.logf("stopping the manager: %v", err)
		}
	}
	if w.sim != nil {
		if err := w.sim.Stop(10 * time.Second); err != nil {
			w.logf("stopping the simulator: %v", err)
		}
	}
	if err := w.cp.Stop(); err != nil {
		w.logf("stopping the control plane: %v", err)
	}
}

// createAllocations creates every fixed allocation.
func (w *world) createAllocations(ctx context.Context) error {
	return localenv.Parallel(w.fixed(), 32, func(a *allocation) error {
		if err := w.k8s.Create(ctx, localenv.Allocation(a.ns, a.name, a.subAccount, a.amount.String())); err != nil {
			return err
		}
		w.countBenchWrite(writeKey("budgetallocations", "", "POST"))
		return nil
	})
}

// raise raises share of the fixed allocations by 5.00 to 50.00 each and
// returns how many it raised.
func (w *world) raise(ctx context.Context) (int, error) {
	fixed := w.fixed()
	n := len(fixed) * w.cfg.raisePercent / 100
	picked := make([]*allocation, 0, n)
	for _, i := range w.rng.Perm(len(fixed))[:n] {
		a := fixed[i]
		a.amount = a.amount.Add(money.FromFen(500 + w.rng.Int64N(4501)))
		picked = append(picked, a)
	}
	return n, localenv.Parallel(picked, 32, func(a *allocation) error {
		ba := &budgetv1alpha1.BudgetAllocation{ObjectMeta: metav1.ObjectMeta{Namespace: a.ns, Name: a.name}}
		patch := []byte(`{"spec":{"amount":"` + a.amount.String() + `"}}`)
		if err := w.k8s.Patch(ctx, ba, client.RawPatch("application/merge-patch+json", patch)); err != nil {
			return err
		}
		w.countBenchWrite(writeKey("budgetallocations", "", "PATCH"))
		return nil
	})
}

// waitSettled waits until every allocation of allocs is Ready with its
// declared amount granted, and returns when it saw that.
func (w *world) waitSettled(ctx context.Context, what string, timeout time.Duration, allocs []*allocation) (time.Time, error) {
	var waiting []string
	var at time.Time
	err := testenv.Wait(ctx, timeout, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		if w.mgr.Exited() {
			return false, testenv.Permanent(fmt.Errorf("the manager exited: %s\n%s", w.mgr.ExitStatus(), w.mgr.Tail(20)))
		}
		var list budgetv1alpha1.BudgetAllocationList
		if err := w.k8s.List(ctx, &list); err != nil {
			return false, err
		}
		seen := time.Now()
		declared := make([]framework.Declared, len(allocs))
		for i, a := range allocs {
			declared[i] = framework.Declared{Namespace: a.ns, Name: a.name, Granted: a.amount.String()}
		}
		waiting = framework.Unsettled(list.Items, declared)
		at = seen
		return len(waiting) == 0, nil
	}, func() string { return framework.Summarize(waiting) })
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", what, err)
	}
	return at, nil
}

// profile saves the manager's pprof profile name (with query) to file.
func (w *world) profile(ctx context.Context, name, file string) error {
	if w.pprof == "" {
		return nil
	}
	// A CPU profile answers after its duration; the rest at once.
	body, err := localenv.Get(ctx, &http.Client{Timeout: time.Hour}, w.pprof+"/"+name)
	if err != nil {
		return err
	}
	path := filepath.Join(w.dir, file)
	if err := os.WriteFile(path, body, 0o600); err != nil {
		return err
	}
	w.logf("saved %s (go tool pprof %s %s)", path, filepath.Join(w.cfg.binDir, "manager"), path)
	return nil
}

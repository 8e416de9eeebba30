//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/test/e2e/framework"
)

const (
	chaosSubAccounts   = 20
	chaosPerSubAccount = 5
	killsPerPhase      = 5
	chaosSettleTimeout = 4 * time.Minute
)

// chaosAllocation is one allocation of the chaos test and what it should
// hold.
type chaosAllocation struct {
	ns, name, customer string
	amount             money.Amount
	deleted            bool
}

// TestChaos rolls out 100 allocations over 20 sub-accounts, then raises
// half of them, lowers a quarter and deletes a tenth with Reclaim, while
// the simulator loses 10% of the money writes' answers after committing
// them, fails 10% of the requests before committing anything, throttles at
// 20 requests/s and jitters its latency, and while the manager is killed
// with SIGKILL at random moments, 5 times in each phase. In the end the
// simulator's ledger must equal the declared allocations to the fen for
// every sub-account, no trans_id may have been applied twice, the master's
// money must be conserved and every allocation must be Ready.
func TestChaos(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("E2E_CHAOS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("E2E_CHAOS_SEED: %v", err)
		}
	}
	t.Logf("seed %d (E2E_CHAOS_SEED=%d replays the plan and the simulator's fault draws)", seed, seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1)) //nolint:gosec // G404: test data, not secrets
	started := time.Now()

	e := newEnv(t, "--consumption-rate=0", "--lost-response-rate=0.1", "--error-rate=0.1",
		"--throttle=20", "--latency=5ms", "--latency-jitter=50ms", fmt.Sprintf("--seed=%d", seed))
	if err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		var ea budgetv1alpha1.EnterpriseAccount
		if err := e.k8s.Get(e.ctx, types.NamespacedName{Name: eaName}, &ea); err != nil {
			return err
		}
		ea.Spec.RateLimit = &budgetv1alpha1.RateLimit{RequestsPerSecond: 10}
		return e.k8s.Update(e.ctx, &ea)
	}); err != nil {
		t.Fatal(err)
	}

	// 20 new, empty sub-accounts in BSS, each adopted by a SubAccount that
	// admits one namespace, with 5 allocations each.
	var allocs []*chaosAllocation
	for i := range chaosSubAccounts {
		name := fmt.Sprintf("chaos-%02d", i)
		cust, err := e.sim.AddSubAccount(e.ctx, name, "1234567890")
		if err != nil {
			t.Fatal(err)
		}
		e.create(localenv.Namespace(name, nil), localenv.SubAccount(name, eaName, cust, name))
		for j := range chaosPerSubAccount {
			allocs = append(allocs, &chaosAllocation{ns: name, name: fmt.Sprintf("alloc-%d", j), customer: cust,
				amount: money.FromFen(100 + rng.Int64N(40000))}) // 1.00 to 400.99
		}
	}
	masterBefore := localenv.MasterCash(e.state())

	k := &killer{e: e, rng: rand.New(rand.NewPCG(uint64(seed), 2))} //nolint:gosec // G404: test timing, not secrets
	k.start()

	// Phase 1: the rollout.
	stop := k.killRandomly(killsPerPhase)
	if err := localenv.Parallel(allocs, 8, func(a *chaosAllocation) error {
		ba := localenv.Allocation(a.ns, a.name, a.ns, a.amount.String())
		ba.Spec.DeletionPolicy = budgetv1alpha1.DeletionPolicyReclaim
		return e.k8s.Create(e.ctx, ba)
	}); err != nil {
		t.Fatal(err)
	}
	stop()
	e.waitChaosSettled("rollout", allocs)
	t.Logf("rollout settled after %d kills, %s into the test", k.kills, time.Since(started).Round(time.Second))

	// Phase 2: raise half, lower a quarter, delete a tenth.
	perm := rng.Perm(len(allocs))
	var changes []func() error
	for i, idx := range perm {
		a := allocs[idx]
		switch {
		case i < len(allocs)/2:
			a.amount = a.amount.Add(money.FromFen(1 + rng.Int64N(20000)))
		case i < len(allocs)*3/4:
			a.amount = money.FromFen(rng.Int64N(a.amount.Fen())) // possibly to 0.00
		case i < len(allocs)*3/4+len(allocs)/10:
			a.deleted = true
		default:
			continue
		}
		changes = append(changes, func() error { return e.applyChaos(a) })
	}
	stop = k.killRandomly(killsPerPhase)
	if err := localenv.Parallel(changes, 8, func(f func() error) error { return f() }); err != nil {
		t.Fatal(err)
	}
	stop()
	e.waitChaosSettled("second change", allocs)
	if k.kills != 2*killsPerPhase {
		t.Errorf("the manager was killed %d times, want %d", k.kills, 2*killsPerPhase)
	}

	e.verifyChaos(seed, allocs, masterBefore, k.kills, time.Since(started))
}

// applyChaos writes one change of the second phase.
func (e *env) applyChaos(a *chaosAllocation) error {
	if a.deleted {
		ba, err := e.allocation(a.ns, a.name)
		if err != nil {
			return err
		}
		return client.IgnoreNotFound(e.k8s.Delete(e.ctx, ba))
	}
	return e.updateAllocation(a.ns, a.name, func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.Amount = localenv.Money(a.amount.String())
	})
}

// waitChaosSettled waits until every allocation holds its amount, Ready,
// and every deleted one is gone.
func (e *env) waitChaosSettled(phase string, allocs []*chaosAllocation) {
	e.t.Helper()
	var waiting []string
	e.eventually(chaosSettleTimeout, phase+" settled", func(ctx context.Context) (bool, error) {
		var list budgetv1alpha1.BudgetAllocationList
		if err := e.k8s.List(ctx, &list); err != nil {
			return false, err
		}
		declared := make([]framework.Declared, len(allocs))
		for i, a := range allocs {
			declared[i] = framework.Declared{Namespace: a.ns, Name: a.name, Granted: a.amount.String(), Deleted: a.deleted}
		}
		waiting = framework.Unsettled(list.Items, declared)
		return len(waiting) == 0, nil
	}, func() string { return framework.Summarize(waiting) })
}

// verifyChaos compares the simulator's books with the declared allocations
// and prints the figures.
func (e *env) verifyChaos(seed int64, allocs []*chaosAllocation, masterBefore money.Amount, kills int, took time.Duration) {
	t := e.t
	want := map[string]money.Amount{}
	count := map[string]int{}
	names := map[string]string{}
	for _, a := range allocs {
		names[a.customer] = a.ns
		if _, ok := want[a.customer]; !ok {
			want[a.customer] = money.Zero
		}
		if !a.deleted {
			want[a.customer] = want[a.customer].Add(a.amount)
			count[a.customer]++
		}
	}
	st := e.expectBooks(want)
	net := localenv.NetByCustomer(st)

	custs := make([]string, 0, len(want))
	for c := range want {
		custs = append(custs, c)
	}
	sort.Slice(custs, func(i, j int) bool { return names[custs[i]] < names[custs[j]] })
	declared, ledger := money.Zero, money.Zero
	for _, c := range custs {
		declared, ledger = declared.Add(want[c]), ledger.Add(net[c])
		t.Logf("%s (%s): %d allocations declare %10s, the simulator's ledger holds %10s", names[c], c, count[c], want[c], net[c])
	}
	masterAfter := localenv.MasterCash(st)
	if moved := masterBefore.Sub(masterAfter); moved != ledger {
		t.Errorf("the master's cash went from %s to %s (%s moved) but the sub-accounts' ledger holds %s", masterBefore, masterAfter, moved, ledger)
	}

	var bts budgetv1alpha1.BudgetTransferList
	if err := e.k8s.List(e.ctx, &bts); err != nil {
		t.Fatal(err)
	}
	alreadyApplied, resent, attempts := 0, 0, 0
	for _, bt := range bts.Items {
		attempts += int(bt.Status.Attempts)
		if bt.Status.Attempts > 1 {
			resent++
		}
		if bt.Status.Result != nil && bt.Status.Result.AlreadyApplied {
			alreadyApplied++
		}
	}
	ready := 0
	var list budgetv1alpha1.BudgetAllocationList
	if err := e.k8s.List(e.ctx, &list); err != nil {
		t.Fatal(err)
	}
	for _, ba := range list.Items {
		if localenv.IsReady(ba.Status.Conditions) {
			ready++
		} else {
			t.Errorf("%s/%s is not Ready: %+v", ba.Namespace, ba.Name, localenv.Ready(ba.Status.Conditions))
		}
	}
	check, err := e.sim.Check(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	summary := fmt.Sprintf("chaos: seed %d, %d allocations over %d sub-accounts (%d left, %d Ready), %d manager kills; "+
		"%d BudgetTransfers (%d attempts, %d resent, %d answered already-applied), %d ledger entries, %d duplicate trans_ids; "+
		"declared %s, ledger %s; master cash %s -> %s; /_sim/check ok=%v; %s",
		seed, len(allocs), len(want), len(list.Items), ready, kills,
		len(bts.Items), attempts, resent, alreadyApplied, len(st.Ledger), len(localenv.DuplicateTransIDs(st)),
		declared, ledger, masterBefore, masterAfter, check.OK, took.Round(time.Second))
	t.Log(summary)
	fmt.Println(summary)
	if declared != ledger {
		t.Errorf("declared %s, ledger %s", declared, ledger)
	}
}

// killer kills the manager with SIGKILL at random moments and restarts it
// at once, as a crashing pod would be.
type killer struct {
	e   *env
	rng *rand.Rand

	mu    sync.Mutex
	mgr   *localenv.Manager
	kills int
	err   error
}

func (k *killer) start() {
	k.e.t.Helper()
	m, err := k.startManager()
	if err != nil {
		k.e.t.Fatal(err)
	}
	k.mgr = m
}

// startManager starts one replica without leader election: a replica killed
// with SIGKILL keeps its Lease until it expires (15s), which ten kills
// cannot afford; TestLeaderFailover covers the Lease.
func (k *killer) startManager() (*localenv.Manager, error) {
	m, err := localenv.StartManager(context.Background(), localenv.ManagerOptions{
		Binary: filepath.Join(binDir, "manager"), Kubeconfig: k.e.cp.KubeconfigPath, Dir: k.e.dir,
		Name: "manager", Namespace: opNS,
	})
	if err != nil {
		return nil, err
	}
	k.e.t.Cleanup(func() { _ = m.Stop(15 * time.Second) })
	return m, nil
}

// killRandomly kills and restarts the manager n times, 0.5s to 3.5s apart,
// in the background. The returned function waits for it to finish.
func (k *killer) killRandomly(n int) func() {
	done := make(chan struct{})
	delays := make([]time.Duration, n)
	for i := range delays {
		delays[i] = 500*time.Millisecond + time.Duration(k.rng.Int64N(int64(3*time.Second)))
	}
	go func() {
		defer close(done)
		for _, d := range delays {
			select {
			case <-k.e.ctx.Done():
				return
			case <-time.After(d):
			}
			k.mu.Lock()
			err := k.mgr.Kill()
			if err == nil {
				k.kills++
				k.mgr, err = k.startManager()
			}
			if err != nil {
				k.err = err
				k.mu.Unlock()
				return
			}
			k.mu.Unlock()
		}
	}()
	return func() {
		k.e.t.Helper()
		<-done
		if k.err != nil {
			k.e.t.Fatalf("killing and restarting the manager: %v", k.err)
		}
	}
}

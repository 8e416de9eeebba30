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
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
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
// with SIGKILL 5 times in each phase, each time when a BudgetTransfer it sent
// is Submitting and, for every other kill, after BSS has applied that write
// (see killer). At least half the kills must find such a write at the
// moment of the kill. In the end the simulator's ledger must equal the
// declared allocations to the fen for every sub-account, no trans_id may
// have been applied twice, the master's money must be conserved and every
// allocation must be Ready.
func TestChaos(t *testing.T) {
	runChaos(t, chaosRun{subAccounts: chaosSubAccounts, perSubAccount: chaosPerSubAccount, killsPerPhase: killsPerPhase})
}

// TestChaosUnderBSSBehaviours runs a smaller chaos test once for each BSS
// behaviour (docs/exactly-once.md §7) that changes what the operator does,
// each with what the EnterpriseAccount declares of it:
//   - BSS remembers refused trans_ids and its records carry no transfers,
//     and nothing is declared: every CBC.99007009 after a kill is unproven,
//     the transfer waits OutcomeUnknown, and an administrator (the test,
//     checking BSS's ledger as the runbook says) settles it;
//   - the same BSS, with records that carry trans_ids, declared: the
//     records settle every CBC.99007009;
//   - refused trans_ids reusable, no records, reclaimable cash that counts
//     the sub-account's own money, declared: CBC.99007009 alone settles,
//     and reclaims are capped by the bills.
//
// A finite trans_id retention changes nothing within a run: every resend
// here happens within seconds; TestNoResendPastTransIDRetention in the
// integration suite covers it.
func TestChaosUnderBSSBehaviours(t *testing.T) {
	small := chaosRun{subAccounts: 8, perSubAccount: 5, killsPerPhase: 2}
	cases := []struct {
		name     string
		flags    []string
		declared *budgetv1alpha1.BSSBehaviour
	}{
		{"burned-no-records-undeclared", []string{"--refused-trans-ids=burned", "--transfer-records=none"}, nil},
		{"burned-records-declared", []string{"--refused-trans-ids=burned", "--transfer-records=trans-id"},
			&budgetv1alpha1.BSSBehaviour{RefusedTransIDs: budgetv1alpha1.RefusedTransIDsBurned, TransferRecords: budgetv1alpha1.RecordsWithTransID}},
		{"reusable-no-records-total-declared", []string{"--refused-trans-ids=reusable", "--transfer-records=none", "--reclaimable=total"},
			&budgetv1alpha1.BSSBehaviour{RefusedTransIDs: budgetv1alpha1.RefusedTransIDsReusable, TransferRecords: budgetv1alpha1.RecordsNone,
				Reclaimable: budgetv1alpha1.ReclaimableTotalBalance}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run := small
			run.simFlags, run.declared = c.flags, c.declared
			runChaos(t, run)
		})
	}
}

// chaosRun is the size and the BSS of one chaos test.
type chaosRun struct {
	subAccounts, perSubAccount, killsPerPhase int
	// simFlags select the simulator's behaviour switches.
	simFlags []string
	// declared is what the EnterpriseAccount declares of that behaviour.
	declared *budgetv1alpha1.BSSBehaviour
}

func runChaos(t *testing.T, run chaosRun) {
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

	e := newEnv(t, append([]string{"--consumption-rate=0", "--lost-response-rate=0.1", "--error-rate=0.1",
		"--throttle=20", "--latency=5ms", "--latency-jitter=50ms", fmt.Sprintf("--seed=%d", seed)}, run.simFlags...)...)
	if err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		var ea budgetv1alpha1.EnterpriseAccount
		if err := e.k8s.Get(e.ctx, types.NamespacedName{Name: eaName}, &ea); err != nil {
			return err
		}
		ea.Spec.RateLimit = &budgetv1alpha1.RateLimit{RequestsPerSecond: 10}
		ea.Spec.BSSBehaviour = run.declared
		return e.k8s.Update(e.ctx, &ea)
	}); err != nil {
		t.Fatal(err)
	}

	// 20 new, empty sub-accounts in BSS, each adopted by a SubAccount that
	// admits one namespace, with 5 allocations each.
	var allocs []*chaosAllocation
	for i := range run.subAccounts {
		name := fmt.Sprintf("chaos-%02d", i)
		cust, err := e.sim.AddSubAccount(e.ctx, name, "1234567890")
		if err != nil {
			t.Fatal(err)
		}
		e.create(localenv.Namespace(name, nil), localenv.SubAccount(name, eaName, cust, name))
		for j := range run.perSubAccount {
			allocs = append(allocs, &chaosAllocation{ns: name, name: fmt.Sprintf("alloc-%d", j), customer: cust,
				amount: money.FromFen(100 + rng.Int64N(40000))}) // 1.00 to 400.99
		}
	}
	masterBefore := localenv.MasterCash(e.state())

	k := &killer{e: e, rng: rand.New(rand.NewPCG(uint64(seed), 2))} //nolint:gosec // G404: test timing, not secrets
	k.start()
	// An administrator settles every transfer the operator leaves
	// OutcomeUnknown, from what BSS's ledger shows, as the runbook says.
	stopResolving := e.resolveUnknownTransfers()
	defer stopResolving()

	// Phase 1: the rollout.
	stop := k.killOnEvidence(run.killsPerPhase)
	if err := localenv.Parallel(allocs, 8, func(a *chaosAllocation) error {
		ba := localenv.Allocation(a.ns, a.name, a.ns, a.amount.String())
		ba.Spec.DeletionPolicy = budgetv1alpha1.DeletionPolicyReclaim
		return e.k8s.Create(e.ctx, ba)
	}); err != nil {
		t.Fatal(err)
	}
	stop()
	e.waitChaosSettled("rollout", allocs)
	t.Logf("rollout settled after %d kills, %s into the test", len(k.kills), time.Since(started).Round(time.Second))

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
	stop = k.killOnEvidence(run.killsPerPhase)
	if err := localenv.Parallel(changes, 8, func(f func() error) error { return f() }); err != nil {
		t.Fatal(err)
	}
	stop()
	e.waitChaosSettled("second change", allocs)
	if len(k.kills) != 2*run.killsPerPhase {
		t.Errorf("the manager was killed %d times, want %d", len(k.kills), 2*run.killsPerPhase)
	}
	if inFlight, _ := k.landed(); 2*inFlight < len(k.kills) {
		t.Errorf("only %d of %d kills found a money write in flight at the moment of the kill, want at least half", inFlight, len(k.kills))
	}

	e.verifyChaos(seed, allocs, masterBefore, k, time.Since(started))
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
func (e *env) verifyChaos(seed int64, allocs []*chaosAllocation, masterBefore money.Amount, k *killer, took time.Duration) {
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
	if phantoms := phantomSuccesses(bts.Items, st); len(phantoms) > 0 {
		t.Errorf("recorded Succeeded although BSS never applied them: %v", phantoms)
	}
	alreadyApplied, resent, attempts := 0, 0, 0
	evidence := map[string]int{}
	for _, bt := range bts.Items {
		if bt.Status.Evidence != nil {
			evidence[bt.Status.Evidence.Kind]++
		}
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
	inFlight, applied := k.landed()
	summary := fmt.Sprintf("chaos: seed %d, %d allocations over %d sub-accounts (%d left, %d Ready), "+
		"%d manager kills, %d during a money write in flight (%d after BSS applied it, before the manager recorded the answer); "+
		"%d BudgetTransfers (%d attempts, %d resent, %d answered already-applied, evidence %v), %d ledger entries, %d duplicate trans_ids; "+
		"declared %s, ledger %s; master cash %s -> %s; /_sim/check ok=%v; %s",
		seed, len(allocs), len(want), len(list.Items), ready, len(k.kills), inFlight, applied,
		len(bts.Items), attempts, resent, alreadyApplied, evidence, len(st.Ledger), len(localenv.DuplicateTransIDs(st)),
		declared, ledger, masterBefore, masterAfter, check.OK, took.Round(time.Second))
	t.Log(summary)
	fmt.Println(summary)
	if declared != ledger {
		t.Errorf("declared %s, ledger %s", declared, ledger)
	}
}

// killer kills the manager with SIGKILL and restarts it at once, as a
// crashing pod would be, but only on evidence that a money write is in
// flight: a BudgetTransfer in phase Submitting that the running manager has
// sent (its status.attempts went up since the manager started) and whose
// answer it has not recorded.
type killer struct {
	e     *env
	watch *transferWatch
	rng   *rand.Rand

	mgr *localenv.Manager
	// attempts holds each transfer's status.attempts when the running
	// manager started, so that a transfer it merely inherited in phase
	// Submitting from the killed one is not taken for its own write.
	attempts map[string]int32
	// settledAtStart is the watch's count of settled transfers when the
	// running manager started.
	settledAtStart int
	kills          []killRecord
	err            error
}

// killRecord is what the API server and the simulator held at one kill.
type killRecord struct {
	// aim is the evidence the killer waited for.
	aim string
	// inFlight are the transfers Submitting with an attempt of the killed
	// manager, applied those of them whose trans_id BSS had applied.
	inFlight, applied []string
}

const (
	aimInFlight = "a money write in flight"
	aimApplied  = "a money write applied by BSS and not yet recorded"
	// appliedWait bounds the wait for a write that BSS applied and whose
	// answer the manager has not recorded (a lost response keeps one for
	// a retry base, 200ms, and they come about once a second); after it
	// the killer settles for any write in flight.
	appliedWait = 2 * time.Second
	// evidenceTimeout fails the test when the manager stops moving money
	// while kills remain: the phases hold more transfers than the kills
	// need.
	evidenceTimeout = time.Minute
	// simPoll is how often the simulator's ledger is read while a kill
	// waits for an applied write; the API server is watched instead.
	simPoll = 40 * time.Millisecond
)

func (k *killer) start() {
	k.e.t.Helper()
	k.watch = k.e.watchTransfers()
	m, err := k.startManager()
	if err != nil {
		k.e.t.Fatal(err)
	}
	k.mgr, k.attempts = m, map[string]int32{}
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
	k.settledAtStart = k.watch.settled()
	k.e.t.Cleanup(func() { _ = m.Stop(15 * time.Second) })
	return m, nil
}

// killOnEvidence kills and restarts the manager n times in the background.
// Before each kill the running manager records the outcome of 1 to 4
// transfers, so that every incarnation gets some work done and the kills
// spread over the phase; then the killer waits for its evidence. Every
// other kill waits (at most appliedWait) for a write BSS has applied and
// the manager has not recorded, the others for any write in flight. The
// returned function waits for the n kills and logs them (here rather than
// in the background, where a failed test may already have ended).
func (k *killer) killOnEvidence(n int) func() {
	first := len(k.kills)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range n {
			aim := aimInFlight
			if len(k.kills)%2 == 0 {
				aim = aimApplied
			}
			if k.err = k.killOne(aim, 1+k.rng.IntN(4)); k.err != nil {
				return
			}
		}
	}()
	return func() {
		k.e.t.Helper()
		<-done
		for i, r := range k.kills[first:] {
			k.e.t.Logf("kill %d, aimed at %s: Submitting after an attempt of the killed manager %v; of those applied by BSS %v",
				first+i+1, r.aim, r.inFlight, r.applied)
		}
		if k.err != nil {
			k.e.t.Fatalf("killing and restarting the manager: %v", k.err)
		}
	}
}

func (k *killer) killOne(aim string, outcomes int) error {
	ctx := k.e.ctx
	if err := k.watch.await(ctx, evidenceTimeout, fmt.Sprintf("the manager recording %d transfer outcomes", outcomes), func() bool {
		return k.watch.settled() >= k.settledAtStart+outcomes
	}); err != nil {
		return err
	}
	fallback := time.Now().Add(appliedWait)
	var polled time.Time
	if err := k.watch.await(ctx, evidenceTimeout, aim, func() bool {
		inFlight := k.watch.inFlight(k.attempts)
		if len(inFlight) == 0 {
			return false
		}
		if aim != aimApplied || time.Now().After(fallback) {
			return true
		}
		if time.Since(polled) < simPoll {
			return false
		}
		polled = time.Now()
		applied, err := k.appliedTransIDs(ctx)
		if err != nil {
			return false // the next poll tries again; a lasting error ends in the timeout
		}
		for id := range inFlight {
			if applied[id] {
				return true
			}
		}
		return false
	}); err != nil {
		return err
	}
	if err := k.mgr.Kill(); err != nil {
		return err
	}
	// The evidence is read again now that the manager is dead rather than
	// trusted from before the kill: nothing writes BudgetTransfers until the
	// next manager starts, so what the API server holds now is what the
	// killed manager left at the moment it died.
	rec, attempts, err := k.atKill(ctx, aim)
	if err != nil {
		return err
	}
	k.kills = append(k.kills, rec)
	k.attempts = attempts
	k.mgr, err = k.startManager()
	return err
}

// atKill reads which transfers the killed manager left Submitting after an
// attempt of its own and which of those BSS applied, and every transfer's
// attempts for the next manager.
func (k *killer) atKill(ctx context.Context, aim string) (killRecord, map[string]int32, error) {
	rec := killRecord{aim: aim}
	var list budgetv1alpha1.BudgetTransferList
	if err := k.e.k8s.List(ctx, &list); err != nil {
		return rec, nil, err
	}
	applied, err := k.appliedTransIDs(ctx)
	if err != nil {
		return rec, nil, err
	}
	attempts := make(map[string]int32, len(list.Items))
	for _, bt := range list.Items {
		key := bt.Namespace + "/" + bt.Name
		attempts[key] = bt.Status.Attempts
		if bt.Status.Phase != budgetv1alpha1.PhaseSubmitting || bt.Status.Attempts <= k.attempts[key] {
			continue
		}
		rec.inFlight = append(rec.inFlight, key)
		if applied[bt.Spec.TransID] {
			rec.applied = append(rec.applied, key)
		}
	}
	sort.Strings(rec.inFlight)
	sort.Strings(rec.applied)
	return rec, attempts, nil
}

// appliedTransIDs are the trans_ids in the simulator's ledger.
func (k *killer) appliedTransIDs(ctx context.Context) (map[string]bool, error) {
	st, err := k.e.sim.State(ctx)
	if err != nil {
		return nil, err
	}
	ids := make(map[string]bool, len(st.Ledger))
	for _, le := range st.Ledger {
		ids[le.TransID] = true
	}
	return ids, nil
}

// landed counts the kills that found a money write in flight and, of
// those, one that BSS had applied.
func (k *killer) landed() (inFlight, applied int) {
	for _, r := range k.kills {
		if len(r.inFlight) > 0 {
			inFlight++
		}
		if len(r.applied) > 0 {
			applied++
		}
	}
	return inFlight, applied
}

// transferWatch follows every BudgetTransfer's phase and attempts through a
// watch on the API server, so that the killer sees a transfer go Submitting
// as it happens rather than at the next poll of a list.
type transferWatch struct {
	changed chan struct{}

	mu        sync.Mutex
	transfers map[string]watchedTransfer
	// nSettled counts transitions into Succeeded or Failed.
	nSettled int
}

type watchedTransfer struct {
	phase    budgetv1alpha1.TransferPhase
	attempts int32
	transID  string
}

// watchTransfers starts the watch and waits for its first list.
func (e *env) watchTransfers() *transferWatch {
	e.t.Helper()
	w := &transferWatch{changed: make(chan struct{}, 1), transfers: map[string]watchedTransfer{}}
	c, err := ctrlcache.New(e.cp.Config, ctrlcache.Options{Scheme: localenv.NewScheme()})
	if err != nil {
		e.t.Fatal(err)
	}
	inf, err := c.GetInformer(e.ctx, &budgetv1alpha1.BudgetTransfer{})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.observe(obj, false) },
		UpdateFunc: func(_, obj any) { w.observe(obj, false) },
		DeleteFunc: func(obj any) { w.observe(obj, true) },
	}); err != nil {
		e.t.Fatal(err)
	}
	go func() { _ = c.Start(e.ctx) }() // returns when the test's context ends
	if !c.WaitForCacheSync(e.ctx) {
		e.t.Fatal("the BudgetTransfer watch did not sync")
	}
	return w
}

func (w *transferWatch) observe(obj any, deleted bool) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	bt, ok := obj.(*budgetv1alpha1.BudgetTransfer)
	if !ok {
		return
	}
	key := bt.Namespace + "/" + bt.Name
	w.mu.Lock()
	old, known := w.transfers[key]
	if deleted {
		delete(w.transfers, key)
	} else {
		w.transfers[key] = watchedTransfer{phase: bt.Status.Phase, attempts: bt.Status.Attempts, transID: bt.Spec.TransID}
		if known && !settledPhase(old.phase) && settledPhase(bt.Status.Phase) {
			w.nSettled++
		}
	}
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func settledPhase(p budgetv1alpha1.TransferPhase) bool {
	return p == budgetv1alpha1.PhaseSucceeded || p == budgetv1alpha1.PhaseFailed
}

func (w *transferWatch) settled() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nSettled
}

// inFlight maps the trans_id of every transfer Submitting with more
// attempts than base records to its name.
func (w *transferWatch) inFlight(base map[string]int32) map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]string{}
	for key, t := range w.transfers {
		if t.phase == budgetv1alpha1.PhaseSubmitting && t.attempts > base[key] {
			out[t.transID] = key
		}
	}
	return out
}

// await returns when cond holds, checking it on every change the watch
// sees and every simPoll (cond may read the simulator), or fails after
// timeout.
func (w *transferWatch) await(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(simPoll)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-deadline.C:
			return fmt.Errorf("no sign of %s within %s", what, timeout)
		case <-w.changed:
		case <-tick.C:
		}
	}
	return nil
}

// resolveUnknownTransfers settles, in the background, every transfer the
// operator leaves OutcomeUnknown, as the runbook asks an administrator to:
// Succeeded if BSS's ledger holds its trans_id, else Failed. The returned
// function stops it and logs how many it settled.
func (e *env) resolveUnknownTransfers() func() {
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	resolved := 0
	go func() {
		defer close(done)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			n, err := e.resolveUnknownOnce(ctx)
			if err != nil && ctx.Err() == nil {
				e.t.Logf("resolving OutcomeUnknown transfers: %v", err)
			}
			resolved += n
		}
	}()
	return func() {
		cancel()
		<-done
		e.t.Logf("an administrator settled %d OutcomeUnknown transfer(s) from BSS's ledger", resolved)
	}
}

func (e *env) resolveUnknownOnce(ctx context.Context) (int, error) {
	var list budgetv1alpha1.BudgetTransferList
	if err := e.k8s.List(ctx, &list); err != nil {
		return 0, err
	}
	var unknown []budgetv1alpha1.BudgetTransfer
	for _, bt := range list.Items {
		if c := localenv.Ready(bt.Status.Conditions); c != nil && c.Reason == budgetv1alpha1.ReasonOutcomeUnknown &&
			bt.Annotations[budgetv1alpha1.AnnotationResolve] == "" {
			unknown = append(unknown, bt)
		}
	}
	if len(unknown) == 0 {
		return 0, nil
	}
	st, err := e.sim.State(ctx)
	if err != nil {
		return 0, err
	}
	applied := map[string]bool{}
	for _, l := range st.Ledger {
		applied[l.TransID] = true
	}
	n := 0
	for i := range unknown {
		bt := &unknown[i]
		verdict := budgetv1alpha1.PhaseFailed
		if applied[bt.Spec.TransID] {
			verdict = budgetv1alpha1.PhaseSucceeded
		}
		patch := client.MergeFrom(bt.DeepCopy())
		if bt.Annotations == nil {
			bt.Annotations = map[string]string{}
		}
		bt.Annotations[budgetv1alpha1.AnnotationResolve] = string(verdict)
		if err := e.k8s.Patch(ctx, bt, patch); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// phantomSuccesses are the Succeeded money transfers whose trans_id BSS
// never applied.
func phantomSuccesses(bts []budgetv1alpha1.BudgetTransfer, st *bsssim.State) []string {
	applied := map[string]bool{}
	for _, l := range st.Ledger {
		applied[l.TransID] = true
	}
	var out []string
	for _, bt := range bts {
		if bt.Status.Phase == budgetv1alpha1.PhaseSucceeded && !applied[bt.Spec.TransID] {
			out = append(out, fmt.Sprintf("%s/%s (%s, evidence %+v)", bt.Namespace, bt.Name, bt.Spec.TransID, bt.Status.Evidence))
		}
	}
	return out
}

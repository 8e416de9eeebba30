//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
// moment of the kill. Among the manager's kills, kube-apiserver is killed
// with SIGKILL once in each phase and etcd once in the rollout, each when a
// transfer the manager sent is Submitting (if it comes within appliedWait,
// one whose write BSS has applied), and restarted on the same data, port
// and certificates; the manager is left running through the outage and
// must record a transfer outcome after it. In the end the simulator's
// ledger must equal the declared allocations to the fen for every
// sub-account, no trans_id may have been applied twice, the master's money
// must be conserved and every allocation must be Ready.
//
// Its managers compact at once (--transfer-retention=0): every succeeded
// transfer is folded into its allocation's checkpoint, written to the audit
// trail and deleted while the kills land, and the checks read the trail
// with the transfers left.
func TestChaos(t *testing.T) {
	runChaos(t, chaosRun{subAccounts: chaosSubAccounts, perSubAccount: chaosPerSubAccount, killsPerPhase: killsPerPhase,
		rolloutOutages: []localenv.Component{localenv.APIServer, localenv.Etcd}, changeOutages: []localenv.Component{localenv.APIServer},
		managerArgs: []string{"--transfer-retention=0"}})
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
	// rolloutOutages and changeOutages are the control plane processes
	// killed (and restarted) among the manager's kills of each phase.
	rolloutOutages, changeOutages []localenv.Component
	// simFlags select the simulator's behaviour switches.
	simFlags []string
	// declared is what the EnterpriseAccount declares of that behaviour.
	declared *budgetv1alpha1.BSSBehaviour
	// managerArgs are extra flags of every manager the run starts.
	managerArgs []string
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

	k := &killer{e: e, rng: rand.New(rand.NewPCG(uint64(seed), 2)), started: started, args: run.managerArgs} //nolint:gosec // G404: test timing, not secrets
	k.start()
	// An administrator settles every transfer the operator leaves
	// OutcomeUnknown, from what BSS's ledger shows, as the runbook says.
	stopResolving := e.resolveUnknownTransfers()
	defer stopResolving()

	// Phase 1: the rollout.
	stop := k.killOnEvidence(killPlan(run.killsPerPhase, run.rolloutOutages))
	if err := localenv.Parallel(allocs, 8, func(a *chaosAllocation) error {
		return e.throughOutages(func() error {
			ba := localenv.Allocation(a.ns, a.name, a.ns, a.amount.String())
			ba.Spec.DeletionPolicy = budgetv1alpha1.DeletionPolicyReclaim
			// An earlier try that was applied but whose answer the
			// outage lost leaves it created.
			return client.IgnoreAlreadyExists(e.k8s.Create(e.ctx, ba))
		})
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
		changes = append(changes, func() error { return e.throughOutages(func() error { return e.applyChaos(a) }) })
	}
	stop = k.killOnEvidence(killPlan(run.killsPerPhase, run.changeOutages))
	if err := localenv.Parallel(changes, 8, func(f func() error) error { return f() }); err != nil {
		t.Fatal(err)
	}
	stop()
	e.waitChaosSettled("second change", allocs)
	managerKills := k.count(victimManager)
	if managerKills != 2*run.killsPerPhase {
		t.Errorf("the manager was killed %d times, want %d", managerKills, 2*run.killsPerPhase)
	}
	if inFlight, _ := k.landed(victimManager); 2*inFlight < managerKills {
		t.Errorf("only %d of %d manager kills found a money write in flight at the moment of the kill, want at least half", inFlight, managerKills)
	}
	for _, c := range []localenv.Component{localenv.APIServer, localenv.Etcd} {
		want := 0
		for _, o := range append(append([]localenv.Component(nil), run.rolloutOutages...), run.changeOutages...) {
			if o == c {
				want++
			}
		}
		if got := k.count(victim(c)); got != want {
			t.Errorf("%s was killed %d times, want %d", c, got, want)
		}
	}

	e.verifyChaos(seed, allocs, masterBefore, k, time.Since(started))
}

// applyChaos writes one change of the second phase. It may be repeated
// (throughOutages): an allocation already gone was deleted by an earlier
// try whose answer an outage lost (every allocation existed when the
// rollout settled).
func (e *env) applyChaos(a *chaosAllocation) error {
	if a.deleted {
		ba, err := e.allocation(a.ns, a.name)
		if err != nil {
			return client.IgnoreNotFound(err)
		}
		return client.IgnoreNotFound(e.k8s.Delete(e.ctx, ba))
	}
	return e.updateAllocation(a.ns, a.name, func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.Amount = localenv.Money(a.amount.String())
	})
}

// throughOutages runs an API write until it gets an answer that is not a
// sign of a control plane outage (no connection, a timeout, a 5xx or 429),
// so that the test's own writes live through the kills of kube-apiserver
// and etcd, as kubectl's or Argo CD's retries would. f must be safe to
// repeat after a write that was applied and whose answer was lost.
func (e *env) throughOutages(f func() error) error {
	var err error
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if err = f(); err == nil || !transientAPIError(err) || e.ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-e.ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// transientAPIError reports whether err is no answer from the API server,
// or an answer that says it could not serve the request now.
func transientAPIError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := status.Status().Code
		return code >= http.StatusInternalServerError || code == http.StatusTooManyRequests || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err)
	}
	return true
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
	kept := e.keptTransfers(bts.Items)
	if phantoms := phantomSuccesses(append(kept, bts.Items...), st); len(phantoms) > 0 {
		t.Errorf("recorded Succeeded although BSS never applied them: %v", phantoms)
	}
	alreadyApplied, resent, attempts := 0, 0, 0
	evidence := map[string]int{}
	for _, bt := range kept {
		if bt.Status.Evidence != nil {
			evidence[bt.Status.Evidence.Kind]++
		}
	}
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
	inFlight, applied := k.landed(victimManager)
	var outages string
	if n := k.count(victimAPIServer) + k.count(victimEtcd); n > 0 {
		outagesInFlight, outagesApplied := 0, 0
		for _, v := range []victim{victimAPIServer, victimEtcd} {
			f, a := k.landed(v)
			outagesInFlight, outagesApplied = outagesInFlight+f, outagesApplied+a
		}
		outages = fmt.Sprintf("%d control plane kills (kube-apiserver %d, etcd %d), %d during a money write in flight (%d after BSS applied it), "+
			"the manager exited during %d of them; ", n, k.count(victimAPIServer), k.count(victimEtcd), outagesInFlight, outagesApplied, k.managerExits())
	}
	summary := fmt.Sprintf("chaos: seed %d, %d allocations over %d sub-accounts (%d left, %d Ready), "+
		"%d manager kills, %d during a money write in flight (%d after BSS applied it, before the manager recorded the answer); %s"+
		"%d BudgetTransfers (%d attempts, %d resent, %d answered already-applied, evidence %v), %d ledger entries, %d duplicate trans_ids; "+
		"declared %s, ledger %s; master cash %s -> %s; /_sim/check ok=%v; %s",
		seed, len(allocs), len(want), len(list.Items), ready, k.count(victimManager), inFlight, applied, outages,
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
// answer it has not recorded. On the same evidence it kills kube-apiserver
// or etcd with SIGKILL and restarts it on the same data, port and
// certificates, leaving the manager running (restarting it only if it
// exited by itself).
type killer struct {
	e     *env
	watch *transferWatch
	rng   *rand.Rand
	// started is when the test started, for the kills' times.
	started time.Time

	mgr *localenv.Manager
	// attempts holds each transfer's status.attempts when the running
	// manager started, so that a transfer it merely inherited in phase
	// Submitting from the killed one is not taken for its own write.
	attempts map[string]int32
	// settledAtLast is the watch's count of settled transfers at the last
	// kill (or when the running manager started, or when an outage ended).
	settledAtLast int
	kills         []killRecord
	err           error
	// args are the managers' extra flags.
	args []string
}

// victim is what a kill ends: the manager, or a process of the control
// plane.
type victim string

const (
	victimManager   victim = "manager"
	victimAPIServer        = victim(localenv.APIServer)
	victimEtcd             = victim(localenv.Etcd)
)

// killRecord is what the API server and the simulator held at one kill.
type killRecord struct {
	victim victim
	// aim is the evidence the killer waited for.
	aim string
	// at is when the kill happened, from the start of the test.
	at time.Duration
	// inFlight are the transfers Submitting with an attempt of the running
	// manager, applied those of them whose trans_id BSS had applied.
	inFlight, applied []string

	// For a control plane process: the pid killed and the one restarted,
	// how long from the kill until kube-apiserver answered /readyz again,
	// how the manager ended if it exited during the outage ("" when it
	// lived through it), and how long after the restart the watch saw the
	// manager record a transfer outcome.
	pid, newPid       int
	down, firstResult time.Duration
	managerExit       string
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
	m, err := k.e.startReplica(k.args)
	if err != nil {
		return nil, err
	}
	k.settledAtLast = k.watch.settled()
	return m, nil
}

// startReplica starts one manager replica without leader election with
// args, stopped when the test ends.
func (e *env) startReplica(args []string) (*localenv.Manager, error) {
	m, err := localenv.StartManager(context.Background(), localenv.ManagerOptions{
		Binary: filepath.Join(binDir, "manager"), Kubeconfig: e.cp.KubeconfigPath, Dir: e.dir,
		Name: "manager", Namespace: opNS, Args: args,
	})
	if err != nil {
		return nil, err
	}
	e.t.Cleanup(func() { _ = m.Stop(15 * time.Second) })
	return m, nil
}

// killPlan is a phase's kills: n of the manager with the outages spread
// among them.
func killPlan(n int, outages []localenv.Component) []victim {
	var plan []victim
	next := 0
	for i := range n {
		plan = append(plan, victimManager)
		for next < len(outages) && (next+1)*n/(len(outages)+1) == i+1 {
			plan = append(plan, victim(outages[next]))
			next++
		}
	}
	for ; next < len(outages); next++ {
		plan = append(plan, victim(outages[next]))
	}
	return plan
}

// killOnEvidence makes the plan's kills in the background. Before each
// kill the running manager records the outcome of 1 to 4 transfers, so
// that the kills spread over the phase; then the killer waits for its
// evidence. Every other kill of the manager, and every kill of a control
// plane process, waits (at most appliedWait) for a write BSS has applied
// and the manager has not recorded, the others for any write in flight.
// The returned function waits for the kills and logs them (here rather
// than in the background, where a failed test may already have ended).
func (k *killer) killOnEvidence(plan []victim) func() {
	first := len(k.kills)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, v := range plan {
			outcomes := 1 + k.rng.IntN(4)
			if v == victimManager {
				aim := aimInFlight
				if k.count(victimManager)%2 == 0 {
					aim = aimApplied
				}
				k.err = k.killOne(aim, outcomes)
			} else {
				k.err = k.outage(localenv.Component(v), aimApplied, outcomes)
			}
			if k.err != nil {
				return
			}
		}
	}()
	return func() {
		k.e.t.Helper()
		<-done
		for i, r := range k.kills[first:] {
			k.e.t.Logf("kill %d, %s", first+i+1, r)
		}
		if k.err != nil {
			k.e.t.Fatalf("killing and restarting: %v", k.err)
		}
	}
}

func (r killRecord) String() string {
	at := r.at.Round(100 * time.Millisecond)
	if r.victim == victimManager {
		return fmt.Sprintf("the manager at %s, aimed at %s: Submitting after an attempt of the killed manager %v; of those applied by BSS %v",
			at, r.aim, r.inFlight, r.applied)
	}
	survived := "the manager lived through it"
	if r.managerExit != "" {
		survived = fmt.Sprintf("the manager exited during it (%s) and was restarted", r.managerExit)
	}
	return fmt.Sprintf("%s (SIGKILL pid %d) at %s, aimed at %s: Submitting after an attempt of the running manager, as the watch last saw them, %v; "+
		"of those applied by BSS just after the kill %v; restarted as pid %d, kube-apiserver ready %s after the kill; %s and recorded a transfer outcome %s after the restart",
		r.victim, r.pid, at, r.aim, r.inFlight, r.applied, r.newPid, r.down.Round(time.Millisecond), survived, r.firstResult.Round(time.Millisecond))
}

// awaitEvidence waits until the running manager has recorded outcomes
// transfer outcomes since the last kill, then for aim.
func (k *killer) awaitEvidence(ctx context.Context, aim string, outcomes int) error {
	if err := k.watch.await(ctx, evidenceTimeout, fmt.Sprintf("the manager recording %d transfer outcomes", outcomes), func() bool {
		return k.watch.settled() >= k.settledAtLast+outcomes
	}); err != nil {
		return err
	}
	return k.awaitAim(ctx, aim)
}

// awaitAim waits for a money write in flight and, for aimApplied, at most
// appliedWait for one of them that BSS has applied.
func (k *killer) awaitAim(ctx context.Context, aim string) error {
	fallback := time.Now().Add(appliedWait)
	var polled time.Time
	return k.watch.await(ctx, evidenceTimeout, aim, func() bool {
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
	})
}

func (k *killer) killOne(aim string, outcomes int) error {
	ctx := k.e.ctx
	if err := k.awaitEvidence(ctx, aim, outcomes); err != nil {
		return err
	}
	at := time.Since(k.started)
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
	rec.at = at
	k.kills = append(k.kills, rec)
	k.attempts = attempts
	k.mgr, err = k.startManager()
	return err
}

// outage kills a control plane process on evidence, restarts it, and
// waits until the manager records a transfer outcome again. The manager is
// not touched: it must live through the outage, or, if it exits, it is
// restarted as a crashed pod would be and the record says so.
func (k *killer) outage(c localenv.Component, aim string, outcomes int) error {
	ctx := k.e.ctx
	if _, err := k.e.cp.Pid(c); err != nil { // found now, so that the kill follows the evidence at once
		return err
	}
	if err := k.awaitEvidence(ctx, aim, outcomes); err != nil {
		return err
	}
	// The API server cannot be asked once it is dead (and, with etcd
	// dead, cannot answer): the evidence is the watch's view, checked
	// again right before the kill, since the write may have been recorded
	// while aimApplied read the simulator. Nothing can write a transfer
	// until the control plane is back, but BSS may still apply a write the
	// manager sent before the kill, so its ledger is read right after it.
	inFlight := k.watch.inFlight(k.attempts)
	for len(inFlight) == 0 {
		if err := k.awaitAim(ctx, aim); err != nil {
			return err
		}
		inFlight = k.watch.inFlight(k.attempts)
	}
	rec := killRecord{victim: victim(c), aim: aim, at: time.Since(k.started)}
	down := time.Now()
	var err error
	if rec.pid, err = k.e.cp.Kill(c); err != nil {
		return err
	}
	applied, err := k.appliedTransIDs(ctx)
	if err != nil {
		return err
	}
	for id, key := range inFlight {
		rec.inFlight = append(rec.inFlight, key)
		if applied[id] {
			rec.applied = append(rec.applied, key)
		}
	}
	sort.Strings(rec.inFlight)
	sort.Strings(rec.applied)
	if rec.newPid, err = k.e.cp.Restart(c); err != nil {
		return err
	}
	rec.down = time.Since(down)
	back := time.Now()
	if k.mgr.Exited() {
		rec.managerExit = k.mgr.ExitStatus()
		if k.attempts, err = k.currentAttempts(ctx); err != nil {
			return err
		}
		if k.mgr, err = k.startManager(); err != nil {
			return err
		}
	}
	settled := k.watch.settled()
	if err := k.watch.await(ctx, evidenceTimeout, fmt.Sprintf("the manager recording a transfer outcome after %s's restart", c), func() bool {
		return k.watch.settled() > settled
	}); err != nil {
		return err
	}
	rec.firstResult = time.Since(back)
	k.settledAtLast = k.watch.settled()
	k.kills = append(k.kills, rec)
	return nil
}

// currentAttempts reads every transfer's attempts, as atKill does, for a
// manager started after one that exited by itself.
func (k *killer) currentAttempts(ctx context.Context) (map[string]int32, error) {
	var list budgetv1alpha1.BudgetTransferList
	if err := k.e.throughOutages(func() error { return k.e.k8s.List(ctx, &list) }); err != nil {
		return nil, err
	}
	attempts := make(map[string]int32, len(list.Items))
	for _, bt := range list.Items {
		attempts[bt.Namespace+"/"+bt.Name] = bt.Status.Attempts
	}
	return attempts, nil
}

// atKill reads which transfers the killed manager left Submitting after an
// attempt of its own and which of those BSS applied, and every transfer's
// attempts for the next manager.
func (k *killer) atKill(ctx context.Context, aim string) (killRecord, map[string]int32, error) {
	rec := killRecord{victim: victimManager, aim: aim}
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

// count is the number of kills of v.
func (k *killer) count(v victim) int {
	n := 0
	for _, r := range k.kills {
		if r.victim == v {
			n++
		}
	}
	return n
}

// managerExits counts the control plane kills during which the manager
// exited by itself.
func (k *killer) managerExits() int {
	n := 0
	for _, r := range k.kills {
		if r.managerExit != "" {
			n++
		}
	}
	return n
}

// landed counts the kills of v that found a money write in flight and, of
// those, one that BSS had applied.
func (k *killer) landed(v victim) (inFlight, applied int) {
	for _, r := range k.kills {
		if r.victim != v {
			continue
		}
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
	e.watch(&budgetv1alpha1.BudgetTransfer{}, w.observe)
	return w
}

// watch starts an informer on obj's kind that calls observe with every
// object added, changed or deleted (a deleted one in its last known
// state), and waits for its first list.
func (e *env) watch(obj client.Object, observe func(obj any, deleted bool)) {
	e.t.Helper()
	c, err := ctrlcache.New(e.cp.Config, ctrlcache.Options{Scheme: localenv.NewScheme()})
	if err != nil {
		e.t.Fatal(err)
	}
	inf, err := c.GetInformer(e.ctx, obj)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { observe(o, false) },
		UpdateFunc: func(_, o any) { observe(o, false) },
		DeleteFunc: func(o any) {
			if tomb, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				o = tomb.Obj
			}
			observe(o, true)
		},
	}); err != nil {
		e.t.Fatal(err)
	}
	go func() { _ = c.Start(e.ctx) }() // returns when the test's context ends
	if !c.WaitForCacheSync(e.ctx) {
		e.t.Fatalf("the %T watch did not sync", obj)
	}
}

func (w *transferWatch) observe(obj any, deleted bool) {
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
	return awaitChange(ctx, w.changed, timeout, what, cond)
}

// awaitChange returns when cond holds, checking it on every signal of
// changed and every simPoll, or fails after timeout.
func awaitChange(ctx context.Context, changed <-chan struct{}, timeout time.Duration, what string, cond func() bool) error {
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
		case <-changed:
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
	var lastErr string
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
			// A control plane outage fails every tick the same way: the
			// first failure of a kind is enough.
			if err != nil && ctx.Err() == nil && err.Error() != lastErr {
				e.t.Logf("resolving OutcomeUnknown transfers: %v", err)
			}
			lastErr = ""
			if err != nil {
				lastErr = err.Error()
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
// keptTransfers are the transfers the audit trail keeps, as transfers
// (trans_id, phase, evidence), for the checks that read transfers. It fails
// the test for a transfer kept twice, or kept and still there as well.
func (e *env) keptTransfers(live []budgetv1alpha1.BudgetTransfer) []budgetv1alpha1.BudgetTransfer {
	t := e.t
	var recs budgetv1alpha1.LedgerRecordList
	if err := e.k8s.List(e.ctx, &recs); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, bt := range live {
		seen[bt.Spec.TransID] = "live"
	}
	var out []budgetv1alpha1.BudgetTransfer
	for _, rec := range recs.Items {
		for _, en := range rec.Spec.Entries {
			if where, ok := seen[en.TransID]; ok {
				t.Errorf("%s (trans_id %s) is kept in %s and also in %s", en.Name, en.TransID, rec.Name, where)
			}
			seen[en.TransID] = rec.Name
			out = append(out, budgetv1alpha1.BudgetTransfer{
				ObjectMeta: metav1.ObjectMeta{Namespace: rec.Spec.Namespace, Name: en.Name},
				Spec:       budgetv1alpha1.BudgetTransferSpec{TransID: en.TransID, Operation: en.Operation, Amount: en.Amount, Sequence: en.Sequence},
				Status:     budgetv1alpha1.BudgetTransferStatus{Phase: en.Phase, Evidence: en.Evidence},
			})
		}
	}
	t.Logf("the audit trail keeps %d transfers in %d LedgerRecords; %d transfers are left", len(out), len(recs.Items), len(live))
	return out
}

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

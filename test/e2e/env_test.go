//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

const (
	opNS        = localenv.OperatorNamespace
	eaName      = "acme"
	credentials = "acme-bss-credentials"
)

var (
	// binDir holds manager, bss-simulator and bss-probe.
	binDir string
	// assetsDir holds kube-apiserver, etcd and kubectl.
	assetsDir string
	transIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// The processes log to files; the test's own client has nothing to say.
	ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	var err error
	if assetsDir, err = testenv.AssetsDir(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binDir = os.Getenv("E2E_BIN_DIR")
	if binDir == "" {
		tmp, err := os.MkdirTemp("", "bss-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		for _, b := range []string{"manager", "bss-simulator", "bss-probe"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(tmp, b), "./cmd/"+b)
			cmd.Dir = testenv.RepoRoot()
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "building %s: %v\n%s", b, err, out)
				return 1
			}
		}
		binDir = tmp
	}
	if !filepath.IsAbs(binDir) { // relative to the repository, not to this package
		binDir = filepath.Join(testenv.RepoRoot(), binDir)
	}
	return m.Run()
}

// env is one test's world: its own etcd and kube-apiserver, a simulator and
// the managers it starts. Everything is stopped when the test ends.
type env struct {
	t   *testing.T
	ctx context.Context
	dir string
	cp  *localenv.ControlPlane
	k8s client.Client
	sim *localenv.Simulator
}

// newEnv starts a control plane and a simulator (with simArgs) for the
// test and creates the operator's namespace, the credentials Secret and
// the EnterpriseAccount pointing at the simulator.
func newEnv(t *testing.T, simArgs ...string) *env {
	t.Helper()
	dir, err := os.MkdirTemp("", "bss-e2e-"+strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))+"-")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: t.Context(), dir: dir}
	// Every wait ends before `go test -timeout` would kill the binary, so
	// that a stuck test fails normally and its cleanups stop the processes.
	if dl, ok := t.Deadline(); ok {
		ctx, cancel := context.WithDeadline(e.ctx, dl.Add(-45*time.Second))
		t.Cleanup(cancel)
		e.ctx = ctx
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("E2E_KEEP_LOGS") == "1" {
			t.Logf("logs kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	start := time.Now()
	e.cp, err = localenv.StartControlPlane(localenv.ControlPlaneOptions{
		AssetsDir: assetsDir, CRDDir: filepath.Join(testenv.RepoRoot(), "config", "crd", "bases"), Dir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.cp.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	if e.k8s, err = localenv.NewClient(e.cp.Config); err != nil {
		t.Fatal(err)
	}
	// t.Context is cancelled before the cleanups run; they need their own.
	e.sim, err = localenv.StartSimulator(context.Background(), localenv.SimulatorOptions{
		Binary: filepath.Join(binDir, "bss-simulator"), Dir: dir, Args: simArgs,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the end of the simulator's log:\n%s", e.sim.Tail(15))
		}
		if err := e.sim.Stop(10 * time.Second); err != nil {
			t.Errorf("stopping the simulator: %v", err)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			var buf bytes.Buffer
			if err := localenv.WriteSummary(context.Background(), e.k8s, &buf); err == nil {
				t.Logf("objects when the test failed:\n%s", buf.String())
			}
		}
	})
	e.create(localenv.Namespace(opNS, nil), localenv.CredentialsSecret(opNS, credentials), localenv.EnterpriseAccount(eaName, e.sim.URL, credentials))
	t.Logf("control plane and simulator (%s) up in %s; logs in %s", e.sim.URL, time.Since(start).Round(time.Millisecond), dir)
	return e
}

// startManager starts a manager replica that is stopped (SIGTERM) when the
// test ends; its log's end is printed if the test failed.
func (e *env) startManager(name string, leaderElect bool, args ...string) *localenv.Manager {
	e.t.Helper()
	m, err := localenv.StartManager(context.Background(), localenv.ManagerOptions{
		Binary: filepath.Join(binDir, "manager"), Kubeconfig: e.cp.KubeconfigPath, Dir: e.dir,
		Name: name, Namespace: opNS, LeaderElect: leaderElect, Args: args,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if e.t.Failed() {
			e.t.Logf("the end of %s's log (pid %d):\n%s", name, m.Pid(), m.Tail(25))
		}
		if err := m.Stop(15 * time.Second); err != nil {
			e.t.Errorf("stopping %s: %v", name, err)
		}
	})
	return m
}

func (e *env) create(objs ...client.Object) {
	e.t.Helper()
	if err := localenv.CreateAll(e.ctx, e.k8s, objs...); err != nil {
		e.t.Fatal(err)
	}
}

// eventually polls cond until it holds or timeout passes, then fails the
// test with what describe says.
func (e *env) eventually(timeout time.Duration, what string, cond func(ctx context.Context) (bool, error), describe func() string) {
	e.t.Helper()
	if err := testenv.Wait(e.ctx, timeout, 200*time.Millisecond, cond, describe); err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

func (e *env) allocation(ns, name string) (*budgetv1alpha1.BudgetAllocation, error) {
	var ba budgetv1alpha1.BudgetAllocation
	err := e.k8s.Get(e.ctx, types.NamespacedName{Namespace: ns, Name: name}, &ba)
	return &ba, err
}

// describeAllocation shows an allocation's status and transfers.
func (e *env) describeAllocation(ns, name string) func() string {
	return func() string {
		ba, err := e.allocation(ns, name)
		if err != nil {
			return err.Error()
		}
		var parts []string
		for _, bt := range e.transfers(ns, name) {
			parts = append(parts, fmt.Sprintf("%s %s %s %s %s(%d attempts)", bt.Name, bt.Spec.Operation, bt.Spec.Amount, bt.Status.Phase, bt.Status.ErrorCode, bt.Status.Attempts))
		}
		c := localenv.Ready(ba.Status.Conditions)
		return fmt.Sprintf("%s/%s generation %d: desired %s granted %s pending %s Ready %+v; transfers %v",
			ns, name, ba.Generation, ba.Status.Desired, ba.Status.Granted, ba.Status.Pending, c, parts)
	}
}

// transfers lists the BudgetTransfers of an allocation.
func (e *env) transfers(ns, allocation string) []budgetv1alpha1.BudgetTransfer {
	var list budgetv1alpha1.BudgetTransferList
	if err := e.k8s.List(e.ctx, &list, client.InNamespace(ns)); err != nil {
		return nil
	}
	var out []budgetv1alpha1.BudgetTransfer
	for _, bt := range list.Items {
		if bt.Spec.AllocationRef.Name == allocation {
			out = append(out, bt)
		}
	}
	return out
}

// waitGranted waits until the allocation is Ready for its current
// generation with granted as its confirmed grant and nothing in flight.
func (e *env) waitGranted(ns, name, granted string, timeout time.Duration) *budgetv1alpha1.BudgetAllocation {
	e.t.Helper()
	var ba *budgetv1alpha1.BudgetAllocation
	e.eventually(timeout, fmt.Sprintf("%s/%s Ready with %s granted", ns, name, granted), func(context.Context) (bool, error) {
		var err error
		ba, err = e.allocation(ns, name)
		if err != nil {
			return false, err
		}
		return localenv.AllocationSettled(ba) && localenv.IsReady(ba.Status.Conditions) && string(ba.Status.Granted) == granted, nil
	}, e.describeAllocation(ns, name))
	return ba
}

// waitReason waits until the allocation's Ready reason is reason for its
// current generation.
func (e *env) waitReason(ns, name, reason string, timeout time.Duration) *budgetv1alpha1.BudgetAllocation {
	e.t.Helper()
	var ba *budgetv1alpha1.BudgetAllocation
	e.eventually(timeout, fmt.Sprintf("%s/%s %s", ns, name, reason), func(context.Context) (bool, error) {
		var err error
		ba, err = e.allocation(ns, name)
		if err != nil {
			return false, err
		}
		c := localenv.Ready(ba.Status.Conditions)
		return c != nil && c.Reason == reason && c.ObservedGeneration == ba.Generation, nil
	}, e.describeAllocation(ns, name))
	return ba
}

// waitGone waits until the allocation no longer exists.
func (e *env) waitGone(ns, name string, timeout time.Duration) {
	e.t.Helper()
	e.eventually(timeout, fmt.Sprintf("%s/%s deleted", ns, name), func(context.Context) (bool, error) {
		_, err := e.allocation(ns, name)
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	}, e.describeAllocation(ns, name))
}

// updateAllocation changes an allocation, retrying on conflicts.
func (e *env) updateAllocation(ns, name string, mutate func(*budgetv1alpha1.BudgetAllocation)) error {
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		ba, err := e.allocation(ns, name)
		if err != nil {
			return err
		}
		mutate(ba)
		return e.k8s.Update(e.ctx, ba)
	})
}

// state reads the simulator's state.
func (e *env) state() *bsssim.State {
	e.t.Helper()
	st, err := e.sim.State(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// expectBooks checks the simulator: money conserved, no trans_id applied
// twice, and the net moved to each customer as wanted.
func (e *env) expectBooks(want map[string]money.Amount) *bsssim.State {
	e.t.Helper()
	check, err := e.sim.Check(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if !check.OK {
		e.t.Errorf("/_sim/check: %v", check.Errors)
	}
	st := e.state()
	if dups := localenv.DuplicateTransIDs(st); len(dups) > 0 {
		e.t.Errorf("trans_ids applied more than once: %v", dups)
	}
	net := localenv.NetByCustomer(st)
	for cust, w := range want {
		if net[cust] != w {
			e.t.Errorf("simulator ledger for %s: net %s, want %s", cust, net[cust], w)
		}
	}
	return st
}

// leaseHolder is the holderIdentity of the manager's leader Lease.
func (e *env) leaseHolder() (string, error) {
	var l coordinationv1.Lease
	if err := e.k8s.Get(e.ctx, types.NamespacedName{Namespace: opNS, Name: localenv.LeaderElectionID}, &l); err != nil {
		return "", err
	}
	if l.Spec.HolderIdentity == nil {
		return "", nil
	}
	return *l.Spec.HolderIdentity, nil
}

// waitSubAccountReady waits until the SubAccount is Ready.
func (e *env) waitSubAccountReady(name string, timeout time.Duration) {
	e.t.Helper()
	var sa budgetv1alpha1.SubAccount
	e.eventually(timeout, "SubAccount "+name+" Ready", func(ctx context.Context) (bool, error) {
		if err := e.k8s.Get(ctx, types.NamespacedName{Name: name}, &sa); err != nil {
			return false, err
		}
		return localenv.IsReady(sa.Status.Conditions), nil
	}, func() string { return fmt.Sprintf("%+v", sa.Status.Conditions) })
}

func amount(s string) money.Amount { return money.MustParse(s) }

// in returns the env for a subtest: failures are reported on t.
func (e *env) in(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

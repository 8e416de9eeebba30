package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/plugin"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

const (
	lockFile = ".lock"
	pidFile  = "pids"
)

// demo is one run: the processes it started, in start order.
type demo struct {
	*config
	out io.Writer

	lock *os.File
	cp   *localenv.ControlPlane
	sim  *localenv.Simulator
	mgr  *localenv.Manager
	k8s  client.Client
}

func (d *demo) say(format string, args ...any) {
	_, _ = fmt.Fprintf(d.out, format+"\n", args...)
}

func (d *demo) run(ctx context.Context) error {
	if err := d.prepareDir(); err != nil {
		return err
	}

	d.say("==> starting etcd and kube-apiserver on loopback (%s)", d.assets)
	cp, err := localenv.StartControlPlane(localenv.ControlPlaneOptions{
		AssetsDir: d.assets, CRDDir: d.crdDir, Dir: d.dir,
	})
	if err != nil {
		return err
	}
	d.cp = cp
	if err := d.savePIDs(); err != nil {
		return err
	}
	d.say("    CRDs installed from %s", d.rel(d.crdDir))
	d.say("    kubeconfig written; from another terminal:")
	d.say("")
	d.say("        export KUBECONFIG=%s", cp.KubeconfigPath)
	d.say("        %s get budget -A", cp.KubectlPath)
	d.say("")
	if d.k8s, err = localenv.NewClient(cp.Config); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return nil //nolint:nilerr // Ctrl-C during startup: stop quietly
	}

	d.say("==> starting bss-simulator with its default seed, state persisted in %s", d.rel(filepath.Join(d.dir, "bss-state.json")))
	d.sim, err = localenv.StartSimulator(ctx, localenv.SimulatorOptions{
		Binary: filepath.Join(d.binDir, "bss-simulator"), Dir: d.dir, StateFile: filepath.Join(d.dir, "bss-state.json"),
	})
	if err != nil {
		return err
	}
	if err := d.savePIDs(); err != nil {
		return err
	}
	d.say("    BSS API and admin API at %s (curl -s %s/_sim/state)", d.sim.URL, d.sim.URL)

	if _, err := d.sim.CreateOrder(ctx, bsssim.Order{OrderID: orderStorage, CustomerID: customerTeamC, ServiceTypeCode: "hws.service.type.obs",
		OrderType: bsssim.OrderTypeRenewal, AmountAfterDiscount: money.MustParse("24000.00")}); err != nil {
		return fmt.Errorf("adding team-c's pending order: %w", err)
	}
	d.say("    added order %s of team-c (24000.00, pending payment)", orderStorage)

	d.say("==> creating namespace %s, the credentials Secret and the samples", localenv.OperatorNamespace)
	objs := samples(d.sim.URL)
	if err := localenv.CreateAll(ctx, d.k8s, objs...); err != nil {
		return fmt.Errorf("creating the samples: %w", err)
	}
	for _, o := range objs {
		d.say("    %s", describeObject(o))
	}

	d.say("==> starting the manager with leader election")
	d.mgr, err = localenv.StartManager(ctx, localenv.ManagerOptions{
		Binary: filepath.Join(d.binDir, "manager"), Kubeconfig: cp.KubeconfigPath, Dir: d.dir,
		Namespace: localenv.OperatorNamespace, LeaderElect: true,
	})
	if err != nil {
		return err
	}
	if err := d.savePIDs(); err != nil {
		return err
	}
	d.say("    metrics at %s", d.mgr.MetricsURL)

	d.say("==> waiting until everything has settled")
	start := time.Now()
	waitErr := d.waitSettled(ctx)
	if ctx.Err() != nil {
		return nil
	}
	if waitErr == nil {
		d.say("==> previewing three changes with kubectl budget plan, then applying them")
		if err := d.checkPreviews(ctx); err != nil {
			return err
		}
		waitErr = d.waitSettled(ctx)
	}
	d.say("")
	if err := localenv.WriteSummary(ctx, d.k8s, d.out); err != nil {
		return err
	}
	d.say("")
	if waitErr == nil {
		if err := d.showCosts(ctx); err != nil {
			return err
		}
	}
	if waitErr != nil {
		return fmt.Errorf("the samples did not settle: %w (logs in %s)", waitErr, d.rel(d.dir))
	}
	check, err := d.sim.Check(ctx)
	if err != nil {
		return err
	}
	if !check.OK {
		return fmt.Errorf("the simulator's books do not balance: %s", strings.Join(check.Errors, "; "))
	}
	d.say("Settled in %s; the simulator's books balance (money conserved, no trans_id applied twice).", time.Since(start).Round(100*time.Millisecond))
	d.say("")
	d.say("Try, from another terminal:")
	d.say("    export KUBECONFIG=%s", cp.KubeconfigPath)
	d.say("    alias kubectl=%s", cp.KubectlPath)
	d.say("    kubectl get budget -A")
	d.say("    kubectl -n team-a patch ba compute --type=merge -p '{\"spec\":{\"amount\":\"6500.00\"}}'")
	d.say("    kubectl -n team-b patch ba credit-plan --type=merge -p '{\"spec\":{\"managementPolicy\":\"Managed\"}}'")
	d.say("    kubectl -n team-a delete ba compute      # deletionPolicy Reclaim: the 5000.00 goes back")
	d.say("    kubectl get op -A                         # team-a's renewal %s paid by its Auto policy", orderRenewal)
	d.say("    export PATH=%s:$PATH   # kubectl budget", d.binDir)
	d.say("    kubectl budget orders                     # pending orders and what auto-pay does")
	d.say("    kubectl budget costs                      # bill, amortized cost, forecast against the budget")
	d.say("    kubectl get ea acme -o yaml               # the master's balances, resource packages, external movements")
	d.say("    kubectl budget approve -n team-c op/archive-renewal   # %s above autoApproveUpTo: pay it", orderStorage)
	d.say("    curl -s %s | grep ^bss_budget", d.mgr.MetricsURL)
	d.say("    curl -s %s/_sim/check", d.sim.URL)
	d.say("Logs: %s/*.log", d.rel(d.dir))
	if d.once {
		d.say("DEMO_ONCE=1: stopping.")
		return nil
	}
	d.say("Press Ctrl-C to stop every process the demo started.")
	select {
	case <-ctx.Done():
	case <-d.mgr.Done():
		return fmt.Errorf("the manager exited (%s); see %s", d.mgr.ExitStatus(), d.mgr.LogPath)
	case <-d.sim.Done():
		return fmt.Errorf("bss-simulator exited (%s); see %s", d.sim.ExitStatus(), d.sim.LogPath)
	}
	d.say("")
	return nil
}

// prepareDir takes the directory's lock (one demo per directory), stops
// what a killed earlier run left running and removes its state.
func (d *demo) prepareDir() error {
	if err := os.MkdirAll(d.dir, 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(d.dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil { //nolint:gosec // G115: a file descriptor fits in an int
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("another demo is running with %s; stop it (Ctrl-C) first", d.rel(d.dir))
		}
		return err
	}
	d.lock = f
	killed, err := localenv.ReapPIDFile(filepath.Join(d.dir, pidFile))
	for _, k := range killed {
		d.say("==> stopped %s (pid %d), left running by an earlier run", k.Name, k.PID)
	}
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return err
	}
	reset := false
	for _, e := range entries {
		if e.Name() == lockFile {
			continue
		}
		if err := os.RemoveAll(filepath.Join(d.dir, e.Name())); err != nil {
			return err
		}
		reset = true
	}
	if reset {
		d.say("==> removed the state of the previous run from %s", d.rel(d.dir))
	}
	return nil
}

// savePIDs records every child process, so that a later run can stop them
// if this one is killed before it can.
func (d *demo) savePIDs() error {
	pids, err := localenv.ChildPIDs()
	if err != nil {
		return err
	}
	var recs []localenv.PIDRecord
	for _, pid := range pids {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		r, err := localenv.Record(pid, strings.TrimSpace(string(comm)))
		if err != nil {
			continue // exited meanwhile
		}
		recs = append(recs, r)
	}
	return localenv.WritePIDFile(filepath.Join(d.dir, pidFile), recs)
}

// waitSettled waits until the EnterpriseAccount and the SubAccounts are Ready
// (with a bill cycle read) and every allocation has settled, printing what
// is still under way as it changes.
func (d *demo) waitSettled(ctx context.Context) error {
	last := ""
	var pending []string
	return testenv.Wait(ctx, d.settleTimeout, time.Second, func(ctx context.Context) (bool, error) {
		if d.mgr.Exited() {
			return false, testenv.Permanent(fmt.Errorf("the manager exited (%s); the end of its log:\n%s", d.mgr.ExitStatus(), d.mgr.Tail(20)))
		}
		var err error
		pending, err = d.unsettled(ctx)
		if err != nil {
			return false, err
		}
		if now := strings.Join(pending, ", "); now != last && now != "" {
			shown := pending
			if len(shown) > 3 {
				shown = append(shown[:3:3], fmt.Sprintf("%d more", len(pending)-3))
			}
			d.say("    waiting for %s", strings.Join(shown, ", "))
			last = now
		}
		return len(pending) == 0, nil
	}, func() string { return strings.Join(pending, ", ") })
}

func (d *demo) unsettled(ctx context.Context) ([]string, error) {
	var eas budgetv1alpha1.EnterpriseAccountList
	var sas budgetv1alpha1.SubAccountList
	var bas budgetv1alpha1.BudgetAllocationList
	var bts budgetv1alpha1.BudgetTransferList
	var ops budgetv1alpha1.OrderPaymentList
	for _, l := range []client.ObjectList{&eas, &sas, &bas, &bts, &ops} {
		if err := d.k8s.List(ctx, l); err != nil {
			return nil, err
		}
	}
	// Balances shown must have been read after the last money moved.
	var lastMove time.Time
	lastMoveOf := map[string]time.Time{}
	for _, bt := range bts.Items {
		if t := bt.Status.CompletionTime; t != nil {
			if t.After(lastMove) {
				lastMove = t.Time
			}
			if t.After(lastMoveOf[bt.Spec.CustomerID]) {
				lastMoveOf[bt.Spec.CustomerID] = t.Time
			}
		}
	}
	for _, op := range ops.Items {
		if t := op.Status.CompletionTime; t != nil && op.Status.Phase == budgetv1alpha1.PaymentPaid && t.After(lastMove) {
			lastMove = t.Time
		}
	}
	granted := map[string]money.Amount{}
	for _, ba := range bas.Items {
		g, err := money.Parse(string(ba.Status.Granted))
		if err == nil {
			granted[ba.Spec.SubAccountRef.Name] = granted[ba.Spec.SubAccountRef.Name].Add(g)
		}
	}
	var out []string
	state := func(kind, name, reason string) string {
		if reason == "" {
			reason = "not reconciled yet"
		}
		return fmt.Sprintf("%s %s (%s)", kind, name, reason)
	}
	for _, ea := range eas.Items {
		switch {
		case !localenv.IsReady(ea.Status.Conditions):
			out = append(out, state("EnterpriseAccount", ea.Name, localenv.ReadyReason(ea.Status.Conditions)))
		case ea.Status.LastSyncTime == nil || !ea.Status.LastSyncTime.After(lastMove):
			out = append(out, state("EnterpriseAccount", ea.Name, "reading balances"))
		}
	}
	for _, sa := range sas.Items {
		switch {
		case !localenv.IsReady(sa.Status.Conditions):
			out = append(out, state("SubAccount", sa.Name, localenv.ReadyReason(sa.Status.Conditions)))
		case sa.Status.CurrentCycle == nil:
			out = append(out, state("SubAccount", sa.Name, "reading bills"))
		case sa.Status.LastBalanceSyncTime == nil || !sa.Status.LastBalanceSyncTime.After(lastMoveOf[sa.Status.CustomerID]):
			out = append(out, state("SubAccount", sa.Name, "reading balances"))
		case string(sa.Status.Granted) != granted[sa.Name].String():
			out = append(out, state("SubAccount", sa.Name, "adding up grants"))
		case autoPayPending(&sa):
			out = append(out, state("SubAccount", sa.Name, "creating order payments"))
		case sa.Status.Costs == nil || sa.Status.Forecast == nil:
			out = append(out, state("SubAccount", sa.Name, "reading costs"))
		}
	}
	for _, op := range ops.Items {
		switch op.Status.Phase {
		case "", budgetv1alpha1.PaymentPending, budgetv1alpha1.PaymentPaying:
			out = append(out, state("OrderPayment", op.Namespace+"/"+op.Name, localenv.ReadyReason(op.Status.Conditions)))
		}
	}
	for _, ba := range bas.Items {
		if !localenv.AllocationSettled(&ba) {
			out = append(out, state("BudgetAllocation", ba.Namespace+"/"+ba.Name, localenv.ReadyReason(ba.Status.Conditions)))
		}
	}
	sort.Strings(out)
	return out, nil
}

// showCosts prints what kubectl budget costs shows: each sample
// sub-account's bill, amortized cost, forecast and budget.
func (d *demo) showCosts(ctx context.Context) error {
	var out, errOut bytes.Buffer
	code := plugin.RunWithInput(ctx, []string{"costs"}, strings.NewReader(""), &out, &errOut,
		func(plugin.ConnectionFlags) (client.Client, string, error) { return d.k8s, "", nil })
	if code != 0 {
		return fmt.Errorf("kubectl budget costs exited %d: %s%s", code, out.String(), errOut.String())
	}
	d.say("==> kubectl budget costs")
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		d.say("    %s", line)
	}
	d.say("")
	return nil
}

// autoPayPending reports a SubAccount with an Auto order payment policy
// that has not read its orders yet, or has a pending order that fits the
// policy and no payment for it yet.
func autoPayPending(sa *budgetv1alpha1.SubAccount) bool {
	if p := sa.Spec.OrderPayment; p == nil || p.Mode != budgetv1alpha1.OrderPaymentAuto {
		return false
	}
	r := sa.Status.OrderPayments
	if r == nil {
		return true
	}
	for _, o := range r.Orders {
		if o.Fits && o.Payment == "" {
			return true
		}
	}
	return false
}

// shutdown stops the manager, then the simulator (which writes its state),
// then kube-apiserver and etcd.
func (d *demo) shutdown() error {
	var errs []error
	stopped := false
	if d.mgr != nil {
		errs = append(errs, d.mgr.Stop(15*time.Second))
		stopped = true
	}
	if d.sim != nil {
		errs = append(errs, d.sim.Stop(10*time.Second))
		stopped = true
	}
	if d.cp != nil {
		errs = append(errs, d.cp.Stop())
		stopped = true
	}
	if stopped {
		d.say("==> stopped the manager, bss-simulator, kube-apiserver and etcd; state and logs stay in %s", d.rel(d.dir))
	}
	if d.lock != nil {
		if err := os.Remove(filepath.Join(d.dir, pidFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		errs = append(errs, d.lock.Close())
	}
	return errors.Join(errs...)
}

// rel shortens a path below the working directory.
func (d *demo) rel(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

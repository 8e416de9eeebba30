//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// TestLeaderFailover runs two manager replicas with leader election, kills
// the leader (SIGKILL) in the middle of a rollout and checks that the other
// replica takes the Lease over and finishes the rollout without moving any
// money twice.
func TestLeaderFailover(t *testing.T) {
	// Slow BSS answers stretch the rollout so that the kill lands in it.
	e := newEnv(t, "--consumption-rate=0", "--latency=150ms")
	teams := map[string]string{"team-a": "cust-team-a-0001", "team-b": "cust-team-b-0001", "team-c": "cust-team-c-0001"}
	for ns, cust := range teams {
		e.create(localenv.Namespace(ns, nil), localenv.SubAccount(ns, eaName, cust, ns))
	}
	base := localenv.NetByCustomer(e.state())

	// The first replica alone acquires the Lease, so its holderIdentity is
	// this process's.
	first := e.startManager("manager-1", true)
	var firstID string
	e.eventually(60*time.Second, "manager-1 holds the Lease", func(context.Context) (bool, error) {
		var err error
		firstID, err = e.leaseHolder()
		return firstID != "", err
	}, nil)
	second := e.startManager("manager-2", true)
	for ns := range teams {
		e.waitSubAccountReady(ns, 60*time.Second)
	}
	if leader, err := second.IsLeader(e.ctx); err != nil || leader {
		t.Fatalf("manager-2 reports leader %v (err %v) while manager-1 holds the Lease", leader, err)
	}
	if leader, err := first.IsLeader(e.ctx); err != nil || !leader {
		t.Fatalf("manager-1 holds the Lease (%s) but reports leader %v (err %v)", firstID, leader, err)
	}

	// 30 allocations, 10 per team.
	const perTeam = 10
	want := map[string]money.Amount{}
	var allocs []*budgetv1alpha1.BudgetAllocation
	for ns, cust := range teams {
		want[cust] = base[cust]
		for i := range perTeam {
			a := money.FromFen(int64(1000*(i+1) + 37)) // 10.37, 20.37, ...
			allocs = append(allocs, localenv.Allocation(ns, fmt.Sprintf("rollout-%02d", i), ns, a.String()))
			want[cust] = want[cust].Add(a)
		}
	}
	if err := localenv.Parallel(allocs, 8, func(ba *budgetv1alpha1.BudgetAllocation) error { return e.k8s.Create(e.ctx, ba) }); err != nil {
		t.Fatal(err)
	}

	// Kill the leader once a few transfers have been applied.
	var applied int
	e.eventually(60*time.Second, "the rollout under way", func(context.Context) (bool, error) {
		st, err := e.sim.State(e.ctx)
		if err != nil {
			return false, err
		}
		applied = len(st.Ledger)
		return applied >= 5, nil
	}, func() string { return fmt.Sprintf("%d ledger entries", applied) })
	holder, err := e.leaseHolder()
	if err != nil {
		t.Fatal(err)
	}
	if holder != firstID {
		t.Fatalf("the Lease is held by %q, not by manager-1 (%q)", holder, firstID)
	}
	if applied >= len(allocs) {
		t.Fatalf("the rollout finished (%d transfers) before the leader could be killed", applied)
	}
	killed := time.Now()
	if err := first.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed the leader manager-1 (pid %d, %s) with SIGKILL after %d of %d transfers", first.Pid(), firstID, applied, len(allocs))

	var secondID string
	e.eventually(60*time.Second, "manager-2 takes the Lease over", func(ctx context.Context) (bool, error) {
		var err error
		secondID, err = e.leaseHolder()
		if err != nil || secondID == firstID || secondID == "" {
			return false, err
		}
		return second.IsLeader(ctx)
	}, func() string { return "holder " + secondID })
	t.Logf("manager-2 (%s) leads %s after the kill", secondID, time.Since(killed).Round(100*time.Millisecond))

	for _, ba := range allocs {
		e.waitGranted(ba.Namespace, ba.Name, string(*ba.Spec.Amount), 120*time.Second)
		bts := e.transfers(ba.Namespace, ba.Name)
		if len(bts) != 1 || bts[0].Status.Phase != budgetv1alpha1.PhaseSucceeded {
			t.Errorf("%s/%s has %d BudgetTransfers, want 1 Succeeded", ba.Namespace, ba.Name, len(bts))
		}
	}
	st := e.expectBooks(want)
	if n := len(st.Ledger); n != len(allocs) {
		t.Errorf("the ledger holds %d money operations for %d allocations of one transfer each", n, len(allocs))
	}
	t.Logf("rollout finished by manager-2: %d allocations, %d ledger entries, books balance", len(allocs), len(st.Ledger))
}

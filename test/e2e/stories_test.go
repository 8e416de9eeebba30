//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

const (
	teamA     = "team-a"
	customerA = "cust-team-a-0001"
	coupon3   = "CP2026110100003"
)

// TestUserStories walks through the README's user stories against the
// manager binary (with leader election) and the simulator, then scrapes the
// manager's metrics endpoint.
func TestUserStories(t *testing.T) {
	// No consumption: balances only move when the operator moves them, so
	// every reclaim is exact.
	e := newEnv(t, "--consumption-rate=0")
	mgr := e.startManager("manager", true)

	sa := localenv.SubAccount(teamA, eaName, customerA, teamA)
	sa.Spec.MonthlyBudget = &budgetv1alpha1.MonthlyBudget{Amount: "8000.00", AlertThresholds: []int32{50, 100}}
	e.create(localenv.Namespace(teamA, nil), sa)
	e.waitSubAccountReady(teamA, 60*time.Second)
	base := localenv.NetByCustomer(e.state())[customerA]
	masterBefore := localenv.MasterCash(e.state())

	steps := []struct {
		name string
		run  func(e *env)
	}{
		{"FundATeam", fundATeam},
		{"Raise", func(e *env) { changeAmount(e, base, "7500.00", budgetv1alpha1.OperationTransfer, "2500.00") }},
		{"Lower", func(e *env) { changeAmount(e, base, "6000.00", budgetv1alpha1.OperationReclaim, "1500.00") }},
		{"Coupons", coupons},
		{"TryFirst", tryFirst},
		{"DeleteWithReclaim", func(e *env) { deleteWithReclaim(e, base) }},
		{"Metrics", func(e *env) { scrapeMetrics(e, mgr) }},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.run(e.in(t)) }) {
			t.FailNow() // the stories build on each other
		}
	}
	st := e.expectBooks(map[string]money.Amount{customerA: base.Add(amount("12.34"))})
	if got, want := localenv.MasterCash(st), masterBefore.Sub(amount("12.34")); got != want {
		t.Errorf("master cash %s, want %s (only the 12.34 of the metrics allocation stays granted)", got, want)
	}
}

// fundATeam: a BudgetAllocation of 5000.00 becomes one BudgetTransfer with a
// 32-hex trans_id, which BSS applies once.
func fundATeam(e *env) {
	ba := localenv.Allocation(teamA, "compute", teamA, "5000.00")
	ba.Spec.DeletionPolicy = budgetv1alpha1.DeletionPolicyReclaim
	e.create(ba)
	got := e.waitGranted(teamA, "compute", "5000.00", 60*time.Second)
	if got.Status.CustomerID != customerA || got.Status.Desired != "5000.00" {
		e.t.Errorf("status: customerID %q desired %q", got.Status.CustomerID, got.Status.Desired)
	}
	bts := e.transfers(teamA, "compute")
	if len(bts) != 1 {
		e.t.Fatalf("want 1 BudgetTransfer, got %d", len(bts))
	}
	bt := bts[0]
	if bt.Spec.Operation != budgetv1alpha1.OperationTransfer || bt.Spec.Amount != "5000.00" || bt.Status.Phase != budgetv1alpha1.PhaseSucceeded || !transIDRE.MatchString(bt.Spec.TransID) {
		e.t.Errorf("transfer %s: %s %s %s trans_id %q", bt.Name, bt.Spec.Operation, bt.Spec.Amount, bt.Status.Phase, bt.Spec.TransID)
	}
	entries := ledgerOf(e.state(), bt.Spec.TransID)
	if len(entries) != 1 || entries[0].Operation != bsssim.OpTransferAmount || entries[0].CustomerID != customerA || entries[0].Amount != amount("5000.00") {
		e.t.Errorf("ledger entries with trans_id %s: %+v", bt.Spec.TransID, entries)
	}
}

// changeAmount: raising transfers the difference, lowering reclaims it.
func changeAmount(e *env, base money.Amount, to string, op budgetv1alpha1.TransferOperation, delta string) {
	before := len(e.transfers(teamA, "compute"))
	if err := e.updateAllocation(teamA, "compute", func(ba *budgetv1alpha1.BudgetAllocation) { ba.Spec.Amount = localenv.Money(to) }); err != nil {
		e.t.Fatal(err)
	}
	e.waitGranted(teamA, "compute", to, 60*time.Second)
	bts := e.transfers(teamA, "compute")
	if len(bts) != before+1 {
		e.t.Fatalf("want %d BudgetTransfers, got %d", before+1, len(bts))
	}
	var last budgetv1alpha1.BudgetTransfer
	for _, bt := range bts {
		if bt.Spec.Sequence > last.Spec.Sequence {
			last = bt
		}
	}
	if last.Spec.Operation != op || string(last.Spec.Amount) != delta || last.Status.Phase != budgetv1alpha1.PhaseSucceeded {
		e.t.Errorf("last transfer %s: %s %s %s, want %s %s Succeeded", last.Name, last.Spec.Operation, last.Spec.Amount, last.Status.Phase, op, delta)
	}
	e.expectBooks(map[string]money.Amount{customerA: base.Add(amount(to))})
}

// coupons: a coupon grant carves a sub-coupon out of the master's coupon;
// removing the entry reclaims it.
func coupons(e *env) {
	if err := e.updateAllocation(teamA, "compute", func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.Coupons = []budgetv1alpha1.CouponGrant{{CouponID: coupon3, Amount: "250.00"}}
	}); err != nil {
		e.t.Fatal(err)
	}
	var sub string
	e.eventually(60*time.Second, "coupon granted", func(context.Context) (bool, error) {
		ba, err := e.allocation(teamA, "compute")
		if err != nil {
			return false, err
		}
		if localenv.AllocationSettled(ba) && len(ba.Status.Coupons) == 1 && ba.Status.Coupons[0].SubCouponID != "" {
			sub = ba.Status.Coupons[0].SubCouponID
			return true, nil
		}
		return false, nil
	}, e.describeAllocation(teamA, "compute"))
	sc, ok := subCoupon(e.state(), sub)
	if !ok || sc.CustomerID != customerA || sc.ParentCouponID != coupon3 || sc.Balance != amount("250.00") {
		e.t.Fatalf("sub-coupon %s in BSS: %+v (found %v), want 250.00 of %s held by %s", sub, sc, ok, coupon3, customerA)
	}

	if err := e.updateAllocation(teamA, "compute", func(ba *budgetv1alpha1.BudgetAllocation) { ba.Spec.Coupons = nil }); err != nil {
		e.t.Fatal(err)
	}
	e.eventually(60*time.Second, "coupon reclaimed", func(context.Context) (bool, error) {
		ba, err := e.allocation(teamA, "compute")
		if err != nil {
			return false, err
		}
		return localenv.AllocationSettled(ba) && len(ba.Status.Coupons) == 0, nil
	}, e.describeAllocation(teamA, "compute"))
	if sc, ok := subCoupon(e.state(), sub); ok && !sc.Balance.IsZero() {
		e.t.Errorf("sub-coupon %s still holds %s after its grant was removed", sub, sc.Balance)
	}
	reclaimed := false
	for _, le := range e.state().Ledger {
		reclaimed = reclaimed || (le.Operation == bsssim.OpRetrieveCoupon && le.SubCouponID == sub && le.Amount == amount("250.00"))
	}
	if !reclaimed {
		e.t.Errorf("no retrieve-coupon of 250.00 for %s in the ledger", sub)
	}
}

// tryFirst: Plan mode shows the movement and moves nothing.
func tryFirst(e *env) {
	ba := localenv.Allocation(teamA, "preview", teamA, "321.00")
	ba.Spec.ManagementPolicy = budgetv1alpha1.ManagementPolicyPlan
	e.create(ba)
	got := e.waitReason(teamA, "preview", budgetv1alpha1.ReasonPlanned, 60*time.Second)
	if p := got.Status.Planned; p == nil || p.Operation != budgetv1alpha1.OperationTransfer || p.Amount != "321.00" {
		e.t.Errorf("status.planned = %+v, want Transfer 321.00", got.Status.Planned)
	}
	if n := len(e.transfers(teamA, "preview")); n != 0 {
		e.t.Errorf("Plan mode created %d BudgetTransfers", n)
	}
	if err := e.k8s.Delete(e.ctx, got); err != nil {
		e.t.Fatal(err)
	}
	e.waitGone(teamA, "preview", 60*time.Second)
}

// deleteWithReclaim: deleting an allocation with deletionPolicy Reclaim
// brings back what it granted before it goes.
func deleteWithReclaim(e *env, base money.Amount) {
	ba, err := e.allocation(teamA, "compute")
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.k8s.Delete(e.ctx, ba); err != nil {
		e.t.Fatal(err)
	}
	e.waitGone(teamA, "compute", 60*time.Second)
	e.expectBooks(map[string]money.Amount{customerA: base})
	var sa budgetv1alpha1.SubAccount
	e.eventually(60*time.Second, "SubAccount granted back to 0.00", func(ctx context.Context) (bool, error) {
		err := e.k8s.Get(ctx, types.NamespacedName{Name: teamA}, &sa)
		return err == nil && sa.Status.Granted == "0.00", err
	}, func() string { return "granted " + string(sa.Status.Granted) })
}

// documentedMetrics are the README's "Metrics" table.
var documentedMetrics = []string{
	"bss_budget_bss_requests_total",
	"bss_budget_bss_request_duration_seconds",
	"bss_budget_bss_throttled_total",
	"bss_budget_transfers_total",
	"bss_budget_transferred_fen_total",
	"bss_budget_master_transferable_fen",
	"bss_budget_subaccount_reclaimable_fen",
	"bss_budget_subaccount_cycle_consumption_fen",
	"bss_budget_subaccount_budget_used_ratio",
	"bss_budget_subaccount_granted_fen",
	"bss_budget_allocation_granted_fen",
	"bss_budget_allocation_pending_fen",
}

// scrapeMetrics: a throttling storm and one more allocation, then the
// plain-HTTP metrics endpoint must serve every documented metric with
// figures that match what happened.
func scrapeMetrics(e *env, mgr *localenv.Manager) {
	if err := e.sim.SetFaults(e.ctx, bsssim.Faults{StormDuration: bsssim.Duration(3 * time.Second), StormRate: 0}); err != nil {
		e.t.Fatal(err)
	}
	e.create(localenv.Allocation(teamA, "metrics", teamA, "12.34"))
	e.waitGranted(teamA, "metrics", "12.34", 90*time.Second)

	st := e.state()
	masterFen := float64(localenv.MasterCash(st).Fen())
	var sa *bsssim.SubAccount
	for i := range st.SubAccounts {
		if st.SubAccounts[i].ID == customerA {
			sa = &st.SubAccounts[i]
		}
	}
	if sa == nil {
		e.t.Fatalf("%s is not in the simulator", customerA)
	}
	fen := func(s string) float64 { return float64(amount(s).Fen()) }
	want := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"bss_budget_allocation_granted_fen", map[string]string{"namespace": teamA, "allocation": "metrics", "subaccount": teamA}, 1234},
		{"bss_budget_allocation_pending_fen", map[string]string{"namespace": teamA, "allocation": "metrics", "subaccount": teamA}, 0},
		{"bss_budget_subaccount_granted_fen", map[string]string{"subaccount": teamA}, 1234},
		{"bss_budget_subaccount_reclaimable_fen", map[string]string{"subaccount": teamA, "balance_type": "debit"}, float64(sa.ReclaimableCash.Fen())},
		{"bss_budget_master_transferable_fen", map[string]string{"enterprise_account": eaName, "balance_type": "debit"}, masterFen},
		// Everything this manager moved: 5000 + 2500 + 12.34 out, 1500 +
		// 6000 back, a 250.00 coupon out and back.
		{"bss_budget_transferred_fen_total", map[string]string{"operation": "Transfer"}, fen("7512.34")},
		{"bss_budget_transferred_fen_total", map[string]string{"operation": "Reclaim"}, fen("7500.00")},
		{"bss_budget_transferred_fen_total", map[string]string{"operation": "CouponTransfer"}, fen("250.00")},
		{"bss_budget_transferred_fen_total", map[string]string{"operation": "CouponReclaim"}, fen("250.00")},
	}
	// Transfers reaching Succeeded, counted once each; a resend after a
	// conflicting status write would count as AlreadyApplied instead.
	transfers := map[string]float64{"Transfer": 3, "Reclaim": 2, "CouponTransfer": 1, "CouponReclaim": 1}
	var ms *localenv.Metrics
	var problems []string
	// Gauges of balances follow the balance sync (every 10s).
	e.eventually(60*time.Second, "documented metrics with the expected figures", func(ctx context.Context) (bool, error) {
		var err error
		if ms, err = mgr.Scrape(ctx); err != nil {
			return false, err
		}
		problems = problems[:0]
		for _, name := range documentedMetrics {
			if !ms.HasFamily(name) {
				problems = append(problems, "missing "+name)
			}
		}
		for _, w := range want {
			if got, ok := ms.Value(w.name, w.labels); !ok || math.Abs(got-w.value) > 0.5 {
				problems = append(problems, fmt.Sprintf("%s%v = %v (present %v), want %v", w.name, w.labels, got, ok, w.value))
			}
		}
		for op, n := range transfers {
			got := ms.Sum("bss_budget_transfers_total", map[string]string{"operation": op, "result": "Succeeded"}) +
				ms.Sum("bss_budget_transfers_total", map[string]string{"operation": op, "result": "AlreadyApplied"})
			if got != n {
				problems = append(problems, fmt.Sprintf("bss_budget_transfers_total{operation=%q} Succeeded+AlreadyApplied = %v, want %v", op, got, n))
			}
		}
		if ms.Sum("bss_budget_bss_throttled_total", nil) < 1 {
			problems = append(problems, "bss_budget_bss_throttled_total counts no 429 after a throttling storm")
		}
		if ms.Sum("bss_budget_bss_requests_total", map[string]string{"code": "APIG.0308"}) < 1 {
			problems = append(problems, `bss_budget_bss_requests_total{code="APIG.0308"} is 0 after a throttling storm`)
		}
		if ms.Sum("bss_budget_bss_requests_total", map[string]string{"code": "OK"}) < 10 {
			problems = append(problems, `bss_budget_bss_requests_total{code="OK"} is below 10`)
		}
		if v, ok := ms.Value("bss_budget_subaccount_budget_used_ratio", map[string]string{"subaccount": teamA}); !ok || v <= 0 {
			problems = append(problems, fmt.Sprintf("bss_budget_subaccount_budget_used_ratio{subaccount=team-a} = %v (present %v), want > 0", v, ok))
		}
		if v, ok := ms.Value("bss_budget_subaccount_cycle_consumption_fen", map[string]string{"subaccount": teamA}); !ok || v <= 0 {
			problems = append(problems, fmt.Sprintf("bss_budget_subaccount_cycle_consumption_fen{subaccount=team-a} = %v (present %v), want > 0", v, ok))
		}
		if ms.Sum("bss_budget_bss_request_duration_seconds_count", nil) < 1 {
			problems = append(problems, "bss_budget_bss_request_duration_seconds has no observations")
		}
		return len(problems) == 0, nil
	}, func() string { return strings.Join(problems, "; ") })
	if leader, err := mgr.IsLeader(e.ctx); err != nil || !leader {
		e.t.Errorf("leader_election_master_status of the only replica: leader %v, err %v", leader, err)
	}
	e.t.Logf("scraped %d samples of %d families from %s; %v BSS calls, %v throttled",
		len(ms.Samples), len(ms.Types), mgr.MetricsURL, ms.Sum("bss_budget_bss_requests_total", nil), ms.Sum("bss_budget_bss_throttled_total", nil))
}

func ledgerOf(st *bsssim.State, transID string) []bsssim.LedgerEntry {
	var out []bsssim.LedgerEntry
	for _, le := range st.Ledger {
		if le.TransID == transID {
			out = append(out, le)
		}
	}
	return out
}

func subCoupon(st *bsssim.State, id string) (bsssim.SubCoupon, bool) {
	for _, sc := range st.SubCoupons {
		if sc.ID == id {
			return sc, true
		}
	}
	return bsssim.SubCoupon{}, false
}

package reporting

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// day returns the suite's start day plus n days, at the same time of day.
func day(n int) time.Time { return start.AddDate(0, 0, n) }

// A spike in the middle of the month takes the projection past the
// monthly budget while the money spent is still below it: the condition
// turns True with one Warning, stays True (without another) while the
// projection stays above, and clears at the next cycle once the spending
// is back to normal. Costs and their lag show next to the bill.
func TestForecastCrossesTheBudgetOnceAndClearsNextCycle(t *testing.T) {
	name := "forecast"
	id := newTeam(t, name, "1.00", func(s *budgetv1alpha1.SubAccountSpec) {
		s.MonthlyBudget = &budgetv1alpha1.MonthlyBudget{Amount: "1000.00"}
	})

	// December 9: eight days at 24.00 a day (the first one half an hour
	// short). Cost data runs through yesterday.
	advanceTo(day(8))
	syncMasterReports(t)
	sa := syncTeam(t, name)
	fc, c := sa.Status.Forecast, condition(sa.Status.Conditions, budgetv1alpha1.ConditionBudgetForecastExceeded)
	if fc == nil || fc.Projected != "743.50" || c == nil || c.Reason != budgetv1alpha1.ReasonForecastWithinBudget {
		t.Fatalf("a steady 24.00 a day: forecast %+v, condition %+v", fc, c)
	}
	if co := sa.Status.Costs; co == nil || co.DataThrough != "2026-12-08" || co.CurrentCycle.Original != "191.50" || co.CurrentCycle.Amortized != "191.50" {
		t.Fatalf("costs %+v", co)
	}

	// December 9 to 12 at 120.00 a day, then back to 24.00: on December 14
	// the median of the last seven days is the spike's.
	must(t, sim.SetConsumptionRate(id, money.MustParse("5.00")))
	advanceTo(day(12))
	must(t, sim.SetConsumptionRate(id, money.MustParse("1.00")))
	advanceTo(day(13))
	syncMasterReports(t)
	sa = syncTeam(t, name)
	fc, c = sa.Status.Forecast, condition(sa.Status.Conditions, budgetv1alpha1.ConditionBudgetForecastExceeded)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != budgetv1alpha1.ReasonForecastAboveBudget {
		t.Fatalf("after the spike: condition %+v, forecast %+v", c, fc)
	}
	if fc.DailyRate != "118.00" || fc.Projected != "2819.50" || fc.Spent != "696.00" || *fc.ProjectedPercent != 281 {
		t.Fatalf("forecast %+v", fc)
	}
	if spent := sa.Status.CurrentCycle.Consumption; money.MustParse(string(spent)).Cmp(money.MustParse("1000.00")) >= 0 {
		t.Fatalf("the warning comes after the money is spent: %s", spent)
	}
	if n := recorder.Await(name, budgetv1alpha1.ReasonForecastAboveBudget, "2819.50", 1); n != 1 {
		t.Fatalf("%d ForecastAboveBudget events, want 1", n)
	}

	// A day later it is still above: no second warning in the cycle.
	advanceTo(day(14))
	syncMasterReports(t)
	sa = syncTeam(t, name)
	if c := condition(sa.Status.Conditions, budgetv1alpha1.ConditionBudgetForecastExceeded); c.Status != metav1.ConditionTrue {
		t.Fatalf("condition %+v", c)
	}
	if n := recorder.Count(name, budgetv1alpha1.ReasonForecastAboveBudget, ""); n != 1 {
		t.Fatalf("%d ForecastAboveBudget events in the cycle, want 1", n)
	}

	// January 2: last month's last seven days at 24.00 set the rate of a
	// new cycle's first days; the projection is back within the budget.
	advanceTo(time.Date(2027, 1, 2, 0, 30, 0, 0, beijing))
	syncMasterReports(t)
	sa = syncTeam(t, name)
	fc, c = sa.Status.Forecast, condition(sa.Status.Conditions, budgetv1alpha1.ConditionBudgetForecastExceeded)
	if fc.Cycle != "2027-01" || c.Status != metav1.ConditionFalse || c.Reason != budgetv1alpha1.ReasonForecastWithinBudget || fc.Projected != "744.00" {
		t.Fatalf("next cycle: condition %+v, forecast %+v", c, fc)
	}
	if co := sa.Status.Costs; co.PreviousCycle.Cycle != "2026-12" || co.PreviousCycle.Original != "1127.50" {
		t.Fatalf("December's costs %+v", co.PreviousCycle)
	}
	if n := recorder.Count(name, budgetv1alpha1.ReasonForecastAboveBudget, ""); n != 1 {
		t.Fatalf("%d ForecastAboveBudget events, want 1", n)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Without Cost Center the EnterpriseAccount says so, SubAccounts show no
// costs and no forecast, and everything else keeps working.
func TestCostCenterNotEnabled(t *testing.T) {
	name := "no-cost-center"
	newTeam(t, name, "0.50", func(s *budgetv1alpha1.SubAccountSpec) {
		s.MonthlyBudget = &budgetv1alpha1.MonthlyBudget{Amount: "500.00"}
	})
	_, err := sim.SetCostCenter(bsssim.CostCenterUpdate{DomainID: bsssim.DefaultDomainID, Enabled: ptr.To(false)})
	must(t, err)
	t.Cleanup(func() {
		_, _ = sim.SetCostCenter(bsssim.CostCenterUpdate{DomainID: bsssim.DefaultDomainID, Enabled: ptr.To(true)})
	})
	advance(2 * billingEvery)
	m := syncMasterReports(t)
	if c := condition(m.Status.Conditions, budgetv1alpha1.ConditionCostCenterNotEnabled); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("CostCenterNotEnabled %+v", c)
	}
	if !isTrue(m.Status.Conditions, budgetv1alpha1.ConditionReady) || !isTrue(m.Status.Conditions, budgetv1alpha1.ConditionReportsSynced) ||
		m.Status.AccountBalances == nil {
		t.Fatalf("the rest of the reports: %+v, balances %+v", m.Status.Conditions, m.Status.AccountBalances)
	}
	sa := syncTeam(t, name)
	c := condition(sa.Status.Conditions, budgetv1alpha1.ConditionBudgetForecastExceeded)
	if sa.Status.Costs != nil || c == nil || c.Status != metav1.ConditionUnknown || !isTrue(sa.Status.Conditions, budgetv1alpha1.ConditionReady) ||
		sa.Status.CurrentCycle == nil {
		t.Fatalf("SubAccount without Cost Center: costs %+v, forecast condition %+v, conditions %+v", sa.Status.Costs, c, sa.Status.Conditions)
	}
}

func isTrue(conds []metav1.Condition, t string) bool {
	c := condition(conds, t)
	return c != nil && c.Status == metav1.ConditionTrue
}

// A resource package that expires within the horizon with most of it
// unused is reported once; one mostly used, or expiring later, is not.
func TestPackageExpiringUnused(t *testing.T) {
	now := sim.Now()
	pkg := func(id string, expireIn time.Duration, used string) bsssim.ResourcePackage {
		return bsssim.ResourcePackage{
			OrderInstanceID: id, CustomerID: bsssim.DefaultDomainID, ProductID: "OFFI" + id, ProductName: "OBS storage " + id,
			ServiceTypeCode: "hws.service.type.obs", RegionCode: "cn-north-4", EffectiveTime: now.Add(-24 * time.Hour), ExpireTime: now.Add(expireIn),
			FreeResources: []bsssim.FreeResource{{ID: id + "-q", UsageTypeName: "Storage", OriginalAmount: money.MustParse("1000.00"), UsedAmount: money.MustParse(used), MeasureID: 10}},
		}
	}
	for _, p := range []bsssim.ResourcePackage{
		pkg("pkg-unused", 5*24*time.Hour, "100.00"),
		pkg("pkg-used", 5*24*time.Hour, "800.00"),
		pkg("pkg-later", 200*24*time.Hour, "0.00"),
	} {
		_, err := sim.AddPackage(p)
		must(t, err)
	}
	advance(2 * billingEvery)
	m := syncMasterReports(t)
	flagged := map[string]bool{}
	for _, p := range m.Status.ResourcePackages {
		flagged[p.ID] = p.ExpiringUnused
	}
	if !flagged["pkg-unused"] || flagged["pkg-used"] || flagged["pkg-later"] {
		t.Fatalf("packages %+v", m.Status.ResourcePackages)
	}
	if n := recorder.Await(masterName, budgetv1alpha1.EventPackageExpiringUnused, "pkg-unused", 1); n != 1 {
		t.Fatalf("%d PackageExpiringUnused events for pkg-unused", n)
	}
	advance(2 * billingEvery)
	syncMasterReports(t)
	if n := recorder.Count(masterName, budgetv1alpha1.EventPackageExpiringUnused, "pkg-unused"); n != 1 {
		t.Fatalf("announced %d times", n)
	}
	if n := recorder.Count(masterName, budgetv1alpha1.EventPackageExpiringUnused, "pkg-used") + recorder.Count(masterName, budgetv1alpha1.EventPackageExpiringUnused, "pkg-later"); n != 0 {
		t.Fatalf("%d events for packages that are used or expire later", n)
	}
}

// A transfer made outside the operator (through the API with a trans_id
// no BudgetTransfer has) is reported at the next sync, on the
// EnterpriseAccount and on the SubAccount whose balance it changed; the
// operator's own transfer next to it is not.
func TestExternalTransferIsReported(t *testing.T) {
	name := "external"
	id := newTeam(t, name, "0.00", nil)
	ctx := context.Background()
	acct, ok := registry.Get(masterName)
	if !ok {
		t.Fatal("no connection")
	}
	// The operator's transfer, as its BudgetTransfer records it.
	advance(time.Minute)
	ours := "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	submitted := metav1.NewTime(sim.Now())
	bt := &budgetv1alpha1.BudgetTransfer{ObjectMeta: metav1.ObjectMeta{Name: "ours", Namespace: opNS}, Spec: budgetv1alpha1.BudgetTransferSpec{
		AllocationRef: budgetv1alpha1.LocalObjectReference{Name: "a"}, SubAccountName: name, EnterpriseAccountName: masterName,
		CustomerID: id, Operation: budgetv1alpha1.OperationTransfer, Amount: "300.00", TransID: ours, Sequence: 1,
	}}
	must(t, k8sClient.Create(ctx, bt))
	must(t, acct.Client.TransferAmount(ctx, bss.AmountTransferRequest{CustomerID: id, Amount: money.MustParse("300.00"), TransID: ours}))
	completed := metav1.NewTime(sim.Now().Add(time.Second))
	bt.Status = budgetv1alpha1.BudgetTransferStatus{Phase: budgetv1alpha1.PhaseSucceeded, Attempts: 1, SubmittedTime: &submitted, LastAttemptTime: &submitted, CompletionTime: &completed}
	must(t, k8sClient.Status().Update(ctx, bt))
	// Someone else's, in the console or with the master's keys.
	must(t, acct.Client.TransferAmount(ctx, bss.AmountTransferRequest{CustomerID: id, Amount: money.MustParse("500.00"), TransID: "ffeeddccbbaa99887766554433221100"}))

	// One sync later.
	advance(billingEvery + time.Second)
	m := syncMasterReports(t)
	em := m.Status.ExternalMovements
	if em == nil || em.In != "500.00" || len(em.Latest) != 1 || em.Latest[0].TradeID != "ffeeddccbbaa99887766554433221100" {
		t.Fatalf("the master's external movements %+v", em)
	}
	if n := recorder.Await(masterName, budgetv1alpha1.EventExternalMovement, "500.00", 1); n != 1 {
		t.Fatalf("%d ExternalMovement events on the EnterpriseAccount", n)
	}
	sa := syncTeam(t, name)
	eventually(t, "the SubAccount claims the movement", func() error {
		sa = getSubAccount(t, name)
		if e := sa.Status.ExternalMovements; e == nil || e.In != "500.00" || len(e.Latest) != 1 {
			return fmt.Errorf("external movements %+v, residuals %+v", e, sa.Status.BalanceResiduals)
		}
		return nil
	})
	if n := recorder.Await(name, budgetv1alpha1.EventExternalMovement, "500.00", 1); n != 1 {
		t.Fatalf("%d ExternalMovement events on the SubAccount", n)
	}
	// The EnterpriseAccount names it at its next reports.
	advance(billingEvery + time.Second)
	m = syncMasterReports(t)
	if got := m.Status.ExternalMovements.Latest[0].SubAccount; got != name {
		t.Fatalf("attributed to %q", got)
	}
}

// Over BSS's limit of finance-independent sub-accounts (CBC.18000048) the
// costs are read one sub-account at a time, and the figures are the same.
func TestCostsOneSubAccountAtATime(t *testing.T) {
	name := "one-at-a-time"
	newTeam(t, name, "2.00", nil)
	advance(2 * 24 * time.Hour)
	syncMasterReports(t)
	want := syncTeam(t, name).Status.Costs
	if want == nil || want.CurrentCycle.Original == "0.00" {
		t.Fatalf("costs %+v", want)
	}
	_, err := sim.SetCostCenter(bsssim.CostCenterUpdate{DomainID: bsssim.DefaultDomainID, FinanceIndependentLimit: ptr.To(0)})
	must(t, err)
	t.Cleanup(func() {
		_, _ = sim.SetCostCenter(bsssim.CostCenterUpdate{DomainID: bsssim.DefaultDomainID, FinanceIndependentLimit: ptr.To(1000)})
	})
	advance(2 * billingEvery)
	m := syncMasterReports(t)
	if c := condition(m.Status.Conditions, budgetv1alpha1.ConditionCostCenterNotEnabled); c == nil || c.Status != metav1.ConditionFalse {
		t.Fatalf("CostCenterNotEnabled %+v", c)
	}
	got := syncTeam(t, name).Status.Costs
	// Read again (a failed read would keep the last costs).
	if got == nil || !got.SyncTime.After(want.SyncTime.Time) || got.CurrentCycle.Original != want.CurrentCycle.Original || got.DataThrough != want.DataThrough {
		t.Fatalf("one at a time: %+v, across all: %+v", got, want)
	}
}

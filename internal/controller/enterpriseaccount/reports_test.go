package enterpriseaccount

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/bssfake"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// drain returns the events recorded so far.
func (h *harness) events() []string {
	var out []string
	rec := h.r.Recorder.(*events.FakeRecorder)
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func withReports(r bssfake.Reports) *bssfake.BSS {
	b := bssfake.New(money.MustParse("1000"), nil, "cust-1")
	b.SetReports(r)
	return b
}

func pkg(id, expire string, remaining, original float64) bss.ResourcePackage {
	return bss.ResourcePackage{OrderInstanceID: id, ProductName: "OBS 1TB " + id, Status: bss.PackageEffective, ExpireTime: expire,
		FreeResources: []bss.FreeResource{{FreeResourceID: id + "-q", UsageTypeName: "storage", Amount: bss.Quantity(remaining), OriginalAmount: bss.Quantity(original)}}}
}

// The master's own balances, its packages (one expiring unused, announced
// once), and Cost Center on.
func TestReportsOfTheMastersAccount(t *testing.T) {
	soon := t0.Add(10 * 24 * time.Hour).Format(time.RFC3339)
	later := t0.Add(200 * 24 * time.Hour).Format(time.RFC3339)
	b := withReports(bssfake.Reports{
		Balances: bss.AccountBalancesResponse{Currency: "CNY", DebtAmount: money.MustParse("3.00"), AccountBalances: []bss.AccountBalance{
			{AccountType: bss.AccountTypeCash, Amount: money.MustParse("1000.00")},
			{AccountType: bss.AccountTypeCredit, Amount: money.MustParse("400.00"), CreditAmount: money.MustParse("500.00")},
			{AccountType: bss.AccountTypeBonus, Amount: money.MustParse("20.00")},
			{AccountType: bss.AccountTypeDeposit, Amount: money.MustParse("50.00")},
		}},
		Packages: []bss.ResourcePackage{pkg("P-late", later, 900, 1000), pkg("P-soon", soon, 800, 1000), pkg("P-used", soon, 100, 1000)},
		Usages:   map[string]bss.FreeResourceUsage{"P-soon-q": {FreeResourceID: "P-soon-q", Amount: 700, OriginalAmount: 1000, EndTime: soon}},
	})
	h := newHarness(t, b, credentials())
	h.reconcile()
	ea := h.get()
	ab := ea.Status.AccountBalances
	if ab == nil || ab.Cash != "1000.00" || ab.Credit != "400.00" || ab.CreditLine != "500.00" || ab.Bonus != "20.00" || ab.Deposit != "50.00" || ab.Debt != "3.00" {
		t.Fatalf("account balances %+v", ab)
	}
	pk := ea.Status.ResourcePackages
	if len(pk) != 3 || pk[2].ID != "P-late" {
		t.Fatalf("packages %+v, want soonest expiry first", pk)
	}
	for _, p := range pk {
		want := p.ID == "P-soon" // 70% unused (from its usage), expiring in 10 days
		if p.ExpiringUnused != want {
			t.Errorf("%s: expiringUnused %t (unused %d%%)", p.ID, p.ExpiringUnused, p.UnusedPercent)
		}
	}
	if c := meta.FindStatusCondition(ea.Status.Conditions, budgetv1alpha1.ConditionCostCenterNotEnabled); c == nil || c.Status != metav1.ConditionFalse {
		t.Fatalf("CostCenterNotEnabled %+v", c)
	}
	if c := meta.FindStatusCondition(ea.Status.Conditions, budgetv1alpha1.ConditionReportsSynced); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("ReportsSynced %+v", c)
	}
	evs := strings.Join(h.events(), "\n")
	if strings.Count(evs, budgetv1alpha1.EventPackageExpiringUnused) != 1 || !strings.Contains(evs, "P-soon") {
		t.Fatalf("events %s", evs)
	}
	// The next reports a billing interval later announce it no more.
	h.clock.Step(common.DefaultBillingInterval)
	h.reconcile()
	if evs := strings.Join(h.events(), "\n"); strings.Contains(evs, budgetv1alpha1.EventPackageExpiringUnused) {
		t.Fatalf("announced again: %s", evs)
	}
}

func TestCostCenterNotEnabled(t *testing.T) {
	h := newHarness(t, withReports(bssfake.Reports{CostCenterDisabled: true}), credentials())
	h.reconcile()
	ea := h.get()
	c := meta.FindStatusCondition(ea.Status.Conditions, budgetv1alpha1.ConditionCostCenterNotEnabled)
	if c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "CBC.18000014") {
		t.Fatalf("CostCenterNotEnabled %+v", c)
	}
	if !common.IsTrue(ea.Status.Conditions, budgetv1alpha1.ConditionReady) || !common.IsTrue(ea.Status.Conditions, budgetv1alpha1.ConditionReportsSynced) {
		t.Fatalf("without Cost Center everything else works: %+v", ea.Status.Conditions)
	}
}

// A transfer in the master's records that no BudgetTransfer accounts for
// is reported once; the operator's own is not.
func TestExternalMovements(t *testing.T) {
	b := withReports(bssfake.Reports{})
	ours := &budgetv1alpha1.BudgetTransfer{ObjectMeta: metav1.ObjectMeta{Name: "t1", Namespace: "team-a"}, Spec: budgetv1alpha1.BudgetTransferSpec{
		EnterpriseAccountName: "acme", CustomerID: "cust-1", Operation: budgetv1alpha1.OperationTransfer, Amount: "100.00", TransID: "ours0001"}}
	at := t0.Add(-time.Hour).Format(time.RFC3339)
	b.AddRecord(bss.BalanceTypeDebit, bss.AccountChangeRecord{AccountChangeID: "ACR1", TradeID: "ours0001", TradeTime: at, ChangeAmount: money.MustParse("100.00"),
		TradeDetailType: bss.TradeTypeTransferIn, RevenueExpenseType: bss.RevenueExpenseExpense})
	b.AddRecord(bss.BalanceTypeDebit, bss.AccountChangeRecord{AccountChangeID: "ACR2", TradeID: "console-77", TradeTime: at, ChangeAmount: money.MustParse("250.00"),
		TradeDetailType: bss.TradeTypeTransferIn, RevenueExpenseType: bss.RevenueExpenseExpense})
	b.AddRecord(bss.BalanceTypeCredit, bss.AccountChangeRecord{AccountChangeID: "ACR3", TradeID: "console-78", TradeTime: at, ChangeAmount: money.MustParse("40.00"),
		TradeDetailType: bss.TradeTypeReclaimed, RevenueExpenseType: bss.RevenueExpenseRevenue})
	h := newHarness(t, b, credentials(), ours)
	h.reconcile()
	em := h.get().Status.ExternalMovements
	if em == nil || em.In != "250.00" || em.Out != "40.00" || len(em.Latest) != 2 {
		t.Fatalf("external movements %+v", em)
	}
	evs := h.events()
	if n := strings.Count(strings.Join(evs, "\n"), budgetv1alpha1.EventExternalMovement); n != 2 {
		t.Fatalf("%d ExternalMovement events: %v", n, evs)
	}
	h.clock.Step(common.DefaultBillingInterval)
	h.reconcile()
	if em := h.get().Status.ExternalMovements; em.In != "250.00" || len(em.Latest) != 2 {
		t.Fatalf("counted again: %+v", em)
	}
	if evs := strings.Join(h.events(), "\n"); strings.Contains(evs, budgetv1alpha1.EventExternalMovement) {
		t.Fatalf("announced again: %s", evs)
	}
}

// A coupon with a balance is announced once, when its expiry comes within
// the horizon; one without a balance, or expiring later, is not.
func TestCouponsExpiring(t *testing.T) {
	b := withReports(bssfake.Reports{})
	h := newHarness(t, b, credentials())
	h.reconcile()
	ea := h.get()
	ea.Status.TransferableCoupons = []budgetv1alpha1.CouponBalance{
		{CouponID: "CP-soon", Balance: "120.00", ExpireTime: t0.Add(40 * 24 * time.Hour).Format(time.RFC3339)},
		{CouponID: "CP-empty", Balance: "0.00", ExpireTime: t0.Add(5 * 24 * time.Hour).Format(time.RFC3339)},
		{CouponID: "CP-later", Balance: "50.00", ExpireTime: t0.Add(400 * 24 * time.Hour).Format(time.RFC3339)},
	}
	h.events()
	for day := 1; day <= 20; day++ {
		h.clock.SetTime(t0.Add(time.Duration(day) * 24 * time.Hour))
		var later announcements
		h.r.checkCoupons(ea, h.clock.Now(), &later)
		later.run()
		now := metav1.NewTime(h.clock.Now())
		ea.Status.ReportsTime = &now
	}
	evs := strings.Join(h.events(), "\n")
	if strings.Count(evs, budgetv1alpha1.EventCouponExpiring) != 1 || !strings.Contains(evs, "CP-soon") {
		t.Fatalf("events %s", evs)
	}
	if ea.Status.ExpiringCoupons != 1 {
		t.Fatalf("expiringCoupons %d", ea.Status.ExpiringCoupons)
	}
}

// conflictOnce fails the first status write with a conflict, as a write
// racing another one would.
type conflictOnce struct {
	client.Client
	failed bool
}

func (c *conflictOnce) Status() client.SubResourceWriter {
	return &conflictWriter{c.Client.Status(), c}
}

type conflictWriter struct {
	client.SubResourceWriter
	c *conflictOnce
}

func (w *conflictWriter) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	if !w.c.failed {
		w.c.failed = true
		return apierrors.NewConflict(schema.GroupResource{Group: "budget.bss.dev", Resource: "enterpriseaccounts"}, obj.GetName(), errors.New("changed meanwhile"))
	}
	return w.SubResourceWriter.Update(ctx, obj, opts...)
}

// An external movement found by a reconcile whose status write conflicts
// is announced (and counted) once, by the reconcile that writes it.
func TestAnnouncedOnceTheStatusIsWritten(t *testing.T) {
	b := withReports(bssfake.Reports{})
	b.AddRecord(bss.BalanceTypeDebit, bss.AccountChangeRecord{AccountChangeID: "ACR9", TradeID: "console-1", TradeTime: t0.Add(-time.Hour).Format(time.RFC3339),
		ChangeAmount: money.MustParse("70.00"), TradeDetailType: bss.TradeTypeTransferIn, RevenueExpenseType: bss.RevenueExpenseExpense})
	h := newHarness(t, b, credentials())
	h.r.Client = &conflictOnce{Client: h.k8s}
	h.reconcile() // conflicts: nothing written, nothing announced
	if evs := h.events(); len(evs) != 0 {
		t.Fatalf("announced before the status was written: %v", evs)
	}
	h.reconcile()
	h.clock.Step(common.DefaultBillingInterval)
	h.reconcile()
	if n := strings.Count(strings.Join(h.events(), "\n"), budgetv1alpha1.EventExternalMovement); n != 1 {
		t.Fatalf("%d ExternalMovement events, want 1", n)
	}
}

package costs

import (
	"context"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/bssfake"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// row is one account's cost of one type, one amount per day.
func row(account, costType string, days map[string]string) bss.CostData {
	r := bss.CostData{Dimensions: []bss.Dimension{{Key: bss.DimensionAccount, Value: account}, {Key: bssfake.CostTypeDimension, Value: costType}}}
	for d, v := range days {
		r.Costs = append(r.Costs, bss.Cost{TimeDimensionValue: d, TimeMeasureID: bss.TimeMeasureDay, Amount: money.MustParse(v)})
	}
	return r
}

// 2026-12-10 12:00 in UTC+8.
var now = time.Date(2026, 12, 10, 4, 0, 0, 0, time.UTC)

func reports() bssfake.Reports {
	return bssfake.Reports{
		Costs: []bss.CostData{
			row("cust-a", bss.CostTypeOriginal, map[string]string{"2026-11-30": "10.00", "2026-12-01": "10.00", "2026-12-08": "30.00"}),
			row("cust-a", bss.CostTypeAmortized, map[string]string{"2026-11-30": "12.00", "2026-12-01": "12.00", "2026-12-08": "12.00"}),
			row("cust-b", bss.CostTypeOriginal, map[string]string{"2026-12-02": "5.00"}),
		},
		Breakdown: []bss.CostDetail{
			{CustomerID: "cust-a", ServiceTypeCode: "hws.service.type.ec2", ServiceTypeName: "ECS", CurrentMonthAmortizedAmount: money.MustParse("20.00")},
			{CustomerID: "cust-a", ServiceTypeCode: "hws.service.type.obs", ServiceTypeName: "OBS", CurrentMonthAmortizedAmount: money.MustParse("4.00")},
			{CustomerID: "cust-a", ServiceTypeCode: "hws.service.type.ec2", ServiceTypeName: "ECS", CurrentMonthAmortizedAmount: money.MustParse("0.50")},
		},
	}
}

func fakeWith(r bssfake.Reports) *bssfake.BSS {
	f := bssfake.New(money.Zero, nil)
	f.SetReports(r)
	return f
}

func fakeWithCosts() *bssfake.BSS { return fakeWith(reports()) }

func TestReadGroupsPerAccountInFewCalls(t *testing.T) {
	f := fakeWithCosts()
	s, err := Read(context.Background(), f, now, []string{"cust-a", "cust-b"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Cycle != "2026-12" || s.Previous != "2026-11" || s.Through != "2026-12-08" {
		t.Fatalf("snapshot %s/%s through %s", s.Cycle, s.Previous, s.Through)
	}
	a := s.Accounts["cust-a"]
	orig, amort := a.CycleTotals("2026-12")
	if orig != money.MustParse("40.00") || amort != money.MustParse("24.00") {
		t.Fatalf("cust-a December: original %s, amortized %s", orig, amort)
	}
	if _, prev := a.CycleTotals("2026-11"); prev != money.MustParse("12.00") {
		t.Fatalf("cust-a November amortized %s", prev)
	}
	if len(a.Services) != 2 || a.Services[0].Code != "hws.service.type.ec2" || a.Services[0].Amount != money.MustParse("20.50") {
		t.Fatalf("services %+v", a.Services)
	}
	if got := f.Calls[bss.OpListCosts] + f.Calls[bss.OpListCustomerBillsMonthlyBreakDown]; got != 3 {
		t.Fatalf("%d calls for two sub-accounts, want 3 (two cost types and the breakdown)", got)
	}
}

// CBC.18000048: the same snapshot, one sub-account at a time.
func TestReadFallsBackToOneSubAccountAtATime(t *testing.T) {
	f := fakeWithCosts()
	want, err := Read(context.Background(), f, now, []string{"cust-a", "cust-b"})
	if err != nil {
		t.Fatal(err)
	}
	r := reports()
	r.TooManySubAccounts = true
	f = fakeWith(r)
	got, err := Read(context.Background(), f, now, []string{"cust-a", "cust-b"})
	if err != nil {
		t.Fatal(err)
	}
	for id, a := range want.Accounts {
		g := got.Accounts[id]
		if g == nil || len(g.Original) != len(a.Original) || len(g.Services) != len(a.Services) {
			t.Fatalf("%s: %+v, want %+v", id, g, a)
		}
	}
	// Each query refused once, then once per sub-account.
	if n := f.Calls[bss.OpListCosts]; n != 2*(1+2) {
		t.Fatalf("%d ListCosts calls, want 6", n)
	}
}

func TestCostCenterNotEnabled(t *testing.T) {
	f := fakeWith(bssfake.Reports{CostCenterDisabled: true})
	if _, err := Read(context.Background(), f, now, nil); !bss.IsCostCenterNotEnabled(err) {
		t.Fatalf("error %v, want CBC.18000014", err)
	}
}

// The forecast input: the cycle's days up to the last with data, the
// days after it as one span billed beyond them, and the previous cycle.
func TestForecastInput(t *testing.T) {
	s, err := Read(context.Background(), fakeWithCosts(), now, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := s.ForecastInput(s.Accounts["cust-a"], now, money.MustParse("55.00"))
	if len(in.Days) != 8 || in.Days[0] != money.MustParse("10.00") || in.Days[7] != money.MustParse("30.00") {
		t.Fatalf("days %v", in.Days)
	}
	if in.TodaySpan != 2 || in.Today != money.MustParse("15.00") || in.DaysInCycle != 31 {
		t.Fatalf("span %d today %s of %d days", in.TodaySpan, in.Today, in.DaysInCycle)
	}
	if len(in.Previous) != 30 || in.Previous[29] != money.MustParse("10.00") {
		t.Fatalf("previous %v", in.Previous)
	}
	if in.RateFrom != 0 {
		t.Fatalf("with a previous cycle the pace is every day's: from %d", in.RateFrom)
	}
	// cust-b spent nothing last month and began on December 2.
	if in := s.ForecastInput(s.Accounts["cust-b"], now, money.MustParse("5.00")); in.Previous != nil || in.RateFrom != 1 {
		t.Fatalf("cust-b: previous %v, pace from day %d", in.Previous, in.RateFrom)
	}
	// A bill behind the daily data adds nothing.
	if in := s.ForecastInput(s.Accounts["cust-a"], now, money.MustParse("20.00")); !in.Today.IsZero() {
		t.Fatalf("today %s with the bill behind the data", in.Today)
	}
}

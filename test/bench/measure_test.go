package main

import (
	"os"
	"strings"
	"testing"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
)

func scrape(t *testing.T, text string) *localenv.Metrics {
	t.Helper()
	m, err := localenv.ParseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCounterDeltaAndWrites(t *testing.T) {
	a := &snapshot{api: scrape(t, `
apiserver_request_total{code="201",group="budget.bss.dev",resource="budgettransfers",subresource="",verb="POST"} 10
apiserver_request_total{code="200",group="budget.bss.dev",resource="budgetallocations",subresource="status",verb="PUT"} 4
apiserver_request_total{code="200",group="",resource="pods",subresource="",verb="PUT"} 9
`)}
	b := &snapshot{api: scrape(t, `
apiserver_request_total{code="201",group="budget.bss.dev",resource="budgettransfers",subresource="",verb="POST"} 15
apiserver_request_total{code="200",group="budget.bss.dev",resource="budgetallocations",subresource="status",verb="PUT"} 14
apiserver_request_total{code="409",group="budget.bss.dev",resource="budgetallocations",subresource="status",verb="PUT"} 1
apiserver_request_total{code="200",group="budget.bss.dev",resource="budgetallocations",subresource="",verb="GET"} 100
apiserver_request_total{code="201",group="events.k8s.io",resource="events",subresource="",verb="POST"} 3
apiserver_request_total{code="200",group="",resource="pods",subresource="",verb="PUT"} 12
`)}
	got := apiWrites(a, b)
	want := map[string]float64{
		"budgettransfers POST":             5,
		"budgetallocations/status PUT":     10,
		"budgetallocations/status PUT 409": 1,
		"events POST":                      3,
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v, want %v", k, got[k], v)
		}
	}

	w := &world{}
	w.countBenchWrite("budgettransfers POST")
	w.countBenchWrite("budgettransfers POST")
	if mw := w.managerWrites(a, b); mw["budgettransfers POST"] != 3 {
		t.Errorf("the benchmark's own writes were not taken off: %v", mw)
	}
}

func TestCategories(t *testing.T) {
	calls := map[string]float64{bss.OpUpdateSubEnterpriseAmount: 10, bss.OpListEnterpriseMultiAccount: 4, bss.OpShowCustomerMonthlySum: 2, bss.OpListCustomerOrders: 1, bss.OpListEnterpriseSubCustomers: 3,
		bss.OpListCosts: 6, bss.OpListCustomerBillsMonthlyBreakDown: 1, bss.OpListCustomerAccountChangeRecords: 5}
	got := byCategory(calls)
	want := map[string]float64{"money writes": 10, "balances": 4, "bills": 2, "orders": 1, "accounts": 3, "costs": 7, "records": 5}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v, want %v", k, got[k], v)
		}
	}
}

func TestSubAccountBalanceReads(t *testing.T) {
	calls := map[string]float64{
		bss.OpListEnterpriseMultiAccount: 20, bss.OpListMultiAccountRetrieveCoupons: 3, bss.OpShowCustomerAccountBalances: 1,
		bss.OpShowMultiAccountTransferAmount: 6, bss.OpListMultiAccountTransferCoupons: 1, bss.OpUpdateSubEnterpriseAmount: 2,
	}
	if got := subAccountBalanceReads(calls); got != 24 {
		t.Errorf("got %v sub-account balance reads, want 24: the master's reads and money writes are not theirs", got)
	}
}

func TestProcStatsOfThisProcess(t *testing.T) {
	cpu, rss, err := procStats(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if cpu < 0 || rss <= 0 {
		t.Errorf("cpu %v s, peak RSS %d bytes", cpu, rss)
	}
}

func TestFlags(t *testing.T) {
	var sb strings.Builder
	if _, err := parseFlags([]string{"-subaccounts=10", "-allocations=5"}, &sb); err == nil {
		t.Error("more sub-accounts than allocations was accepted")
	}
	if _, err := parseFlags([]string{"-rate=11"}, &sb); err == nil {
		t.Error("a rate above the EnterpriseAccount's maximum was accepted")
	}
	if _, err := parseFlags([]string{"-allocations=100", "-subaccounts=20", "-topups=21"}, &sb); err == nil {
		t.Error("more top-ups than sub-accounts was accepted")
	}
	if _, err := parseFlags([]string{"-allocations=30", "-subaccounts=20", "-topups=20"}, &sb); err == nil {
		t.Error("top-ups on sub-accounts that no amount allocation funds were accepted")
	}
	if c, err := parseFlags([]string{"-allocations=100", "-subaccounts=20", "-topups=20"}, &sb); err != nil || c.topUps != 20 {
		t.Errorf("the smoke run's flags: %+v, %v", c, err)
	}
	c, err := parseFlags(nil, &sb)
	if err != nil || c.allocations != 1000 || c.subAccounts != 200 || c.rate != 10 {
		t.Errorf("defaults: %+v, %v", c, err)
	}
}

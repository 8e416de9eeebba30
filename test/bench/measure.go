package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
)

// snapshot is what the counters said at one moment.
type snapshot struct {
	at      time.Time
	mgr     *localenv.Metrics
	api     *localenv.Metrics
	ledger  int
	cpu     float64 // manager CPU seconds
	peakRSS int64   // manager peak resident set, bytes
}

// scrapeOutside fills in what s counts outside the manager: the API
// server's metrics and the simulator's ledger.
func (w *world) scrapeOutside(ctx context.Context, s *snapshot) error {
	var err error
	if s.api, err = localenv.ScrapeURL(ctx, w.apiHTTP, strings.TrimSuffix(w.cp.Config.Host, "/")+"/metrics"); err != nil {
		return err
	}
	st, err := w.sim.State(ctx)
	if err != nil {
		return err
	}
	s.ledger = len(st.Ledger)
	return nil
}

func (w *world) snapshot(ctx context.Context) (*snapshot, error) {
	s := &snapshot{at: time.Now()}
	var err error
	if s.mgr, err = w.mgr.Scrape(ctx); err != nil {
		return nil, err
	}
	if err := w.scrapeOutside(ctx, s); err != nil {
		return nil, err
	}
	if s.cpu, s.peakRSS, err = procStats(w.mgr.Pid()); err != nil {
		return nil, err
	}
	return s, nil
}

// procStats reads a process's CPU seconds (user + system) and peak RSS.
func procStats(pid int) (float64, int64, error) {
	f, err := localenv.StatFields(pid)
	if err != nil {
		return 0, 0, err
	}
	const utimeField, stimeField = 14 - 3, 15 - 3
	if len(f) <= stimeField {
		return 0, 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, _ := strconv.ParseFloat(f[utimeField], 64)
	stime, _ := strconv.ParseFloat(f[stimeField], 64)
	const clockTicks = 100 // USER_HZ on Linux
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	var hwm int64
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			hwm = kb * 1024
		}
	}
	return (utime + stime) / clockTicks, hwm, nil
}

// The BSS operations by what they read or write.
var categories = map[string]string{
	bss.OpUpdateSubEnterpriseAmount:           "money writes",
	bss.OpReclaimSubEnterpriseAmount:          "money writes",
	bss.OpClaimEnterpriseMultiAccountCoupon:   "money writes",
	bss.OpReclaimEnterpriseMultiAccountCoupon: "money writes",
	bss.OpShowMultiAccountTransferAmount:      "balances",
	bss.OpListEnterpriseMultiAccount:          "balances",
	bss.OpListMultiAccountTransferCoupons:     "balances",
	bss.OpListMultiAccountRetrieveCoupons:     "balances",
	bss.OpShowCustomerAccountBalances:         "balances",
	bss.OpShowCustomerMonthlySum:              "bills",
	bss.OpListCustomerAccountChangeRecords:    "records",
	bss.OpListCustomerOrders:                  "orders",
	bss.OpShowCustomerOrderDetails:            "orders",
	bss.OpListCosts:                           "costs",
	bss.OpListCustomerBillsMonthlyBreakDown:   "costs",
}

// subAccountBalanceOps are the balance reads that read one sub-account's
// balances; the other balance reads are the master's.
var subAccountBalanceOps = map[string]bool{
	bss.OpListEnterpriseMultiAccount:      true,
	bss.OpListMultiAccountRetrieveCoupons: true,
	bss.OpShowCustomerAccountBalances:     true,
}

// subAccountBalanceReads counts the calls that read a sub-account's
// balances.
func subAccountBalanceReads(calls map[string]float64) float64 {
	var n float64
	for op, v := range calls {
		if subAccountBalanceOps[op] {
			n += v
		}
	}
	return n
}

func category(op string) string {
	if c, ok := categories[op]; ok {
		return c
	}
	return "accounts"
}

// bssCalls is the manager's BSS HTTP attempts between two snapshots, by
// operation.
func bssCalls(a, b *snapshot) map[string]float64 {
	return counterDelta(a.mgr, b.mgr, "bss_budget_bss_requests_total", nil, func(l map[string]string) string { return l["operation"] })
}

// reconciles is controller-runtime's reconcile count between two
// snapshots, by controller.
func reconciles(a, b *snapshot) map[string]float64 {
	return counterDelta(a.mgr, b.mgr, "controller_runtime_reconcile_total", nil, func(l map[string]string) string { return l["controller"] })
}

// writeKey names a write: resource, subresource and verb.
func writeKey(resource, subresource, verb string) string {
	if subresource != "" {
		resource += "/" + subresource
	}
	return resource + " " + verb
}

var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "DELETE": true, "APPLY": true}

// apiWrites is the API server's write requests between two snapshots for
// budget.bss.dev and for events, by writeKey.
func apiWrites(a, b *snapshot) map[string]float64 {
	return counterDelta(a.api, b.api, "apiserver_request_total", func(l map[string]string) bool {
		return writeVerbs[l["verb"]] && (l["group"] == "budget.bss.dev" || l["resource"] == "events")
	}, func(l map[string]string) string {
		k := writeKey(l["resource"], l["subresource"], l["verb"])
		if !strings.HasPrefix(l["code"], "2") {
			k += " " + l["code"] // refused writes (409 conflicts) apart
		}
		return k
	})
}

// counterDelta sums the increase of a counter family's samples between two
// scrapes, grouped by key and filtered by keep (nil keeps all).
func counterDelta(a, b *localenv.Metrics, name string, keep func(map[string]string) bool, key func(map[string]string) string) map[string]float64 {
	sum := func(m *localenv.Metrics, sign float64, out map[string]float64) {
		for _, s := range m.Samples {
			if s.Name == name && (keep == nil || keep(s.Labels)) {
				out[key(s.Labels)] += sign * s.Value
			}
		}
	}
	out := map[string]float64{}
	sum(b, 1, out)
	sum(a, -1, out)
	for k, v := range out {
		if v == 0 {
			delete(out, k)
		}
	}
	return out
}

func total(m map[string]float64) float64 {
	var t float64
	for _, v := range m {
		t += v
	}
	return t
}

func byCategory(calls map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for op, n := range calls {
		out[category(op)] += n
	}
	return out
}

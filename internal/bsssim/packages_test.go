package bsssim

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
)

const (
	packagesPath = "/v3/payments/free-resources/query"
	usagesPath   = "/v2/payments/free-resources/usages/details/query"
	// The seed's free resources.
	obsFR = "6f1d0c3a-5b2e-4c71-9a0e-0000000000a1"
	cdnFR = "6f1d0c3a-5b2e-4c71-9a0e-0000000000b1"
	rdsFR = "6f1d0c3a-5b2e-4c71-9a0e-0000000000c1"
)

type packagesRead struct {
	TotalCount int `json:"total_count"`
	Packages   []struct {
		OrderInstanceID        string `json:"order_instance_id"`
		OrderID                string `json:"order_id"`
		ProductID              string `json:"product_id"`
		ProductName            string `json:"product_name"`
		EnterpriseProjectID    string `json:"enterprise_project_id"`
		EnterpriseProjectScope int    `json:"enterprise_project_scope"`
		EffectiveTime          string `json:"effective_time"`
		ExpireTime             string `json:"expire_time"`
		Status                 int    `json:"status"`
		ServiceTypeCode        string `json:"service_type_code"`
		ServiceTypeName        string `json:"service_type_name"`
		RegionCode             string `json:"region_code"`
		SourceType             int    `json:"source_type"`
		BundleType             string `json:"bundle_type"`
		QuotaReuseMode         int    `json:"quota_reuse_mode"`
		FreeResources          []struct {
			FreeResourceID string `json:"free_resource_id"`
			UsageTypeName  string `json:"usage_type_name"`
			Amount         string `json:"amount"`
			OriginalAmount string `json:"original_amount"`
			MeasureID      int    `json:"measure_id"`
		} `json:"free_resources"`
	} `json:"free_resource_packages"`
}

// statuses maps order instance ids to status and the first free
// resource's remaining amount.
func (p packagesRead) statuses() map[string]string {
	out := map[string]string{}
	for _, pk := range p.Packages {
		out[pk.OrderInstanceID] = string(rune('0'+pk.Status)) + " " + pk.FreeResources[0].Amount
	}
	return out
}

func (e *env) packages(t *testing.T, body any) packagesRead {
	t.Helper()
	r := e.call(http.MethodPost, packagesPath, nil, body)
	expect(t, r, http.StatusOK, "")
	var got packagesRead
	r.decode(t, &got)
	return got
}

type usageRead struct {
	FreeResourceID       string `json:"free_resource_id"`
	FreeResourceTypeName string `json:"free_resource_type_name"`
	QuotaReuseCycle      int    `json:"quota_reuse_cycle"`
	QuotaReuseCycleType  int    `json:"quota_reuse_cycle_type"`
	UsageTypeName        string `json:"usage_type_name"`
	StartTime            string `json:"start_time"`
	EndTime              string `json:"end_time"`
	Amount               numStr `json:"amount"`
	OriginalAmount       numStr `json:"original_amount"`
	MeasureID            int    `json:"measure_id"`
}

func (e *env) usages(t *testing.T, ids ...string) []usageRead {
	t.Helper()
	r := e.call(http.MethodPost, usagesPath, nil, map[string]any{"free_resource_ids": ids})
	expect(t, r, http.StatusOK, "")
	var got struct {
		FreeResources []usageRead `json:"free_resources"`
	}
	r.decode(t, &got)
	return got.FreeResources
}

func TestListFreeResources(t *testing.T) {
	e := newEnv(t, nil, Options{})
	all := e.packages(t, map[string]any{"limit": 100})
	if all.TotalCount != 3 || len(all.Packages) != 3 {
		t.Fatalf("packages = %+v", all)
	}
	// Newest first: RDS (40 days old), CDN (since September), OBS (a year).
	want := map[string]string{
		"pkg-rds-backup-100g-0001":   "2 0.00",
		"pkg-cdn-traffic-100g-0001":  "1 48.48",
		"pkg-obs-standard-500g-0001": "1 412.50",
	}
	if got := all.statuses(); len(got) != 3 || got["pkg-rds-backup-100g-0001"] != want["pkg-rds-backup-100g-0001"] ||
		got["pkg-cdn-traffic-100g-0001"] != want["pkg-cdn-traffic-100g-0001"] || got["pkg-obs-standard-500g-0001"] != want["pkg-obs-standard-500g-0001"] {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if all.Packages[0].OrderInstanceID != "pkg-rds-backup-100g-0001" || all.Packages[2].OrderInstanceID != "pkg-obs-standard-500g-0001" {
		t.Errorf("order: %s, %s, %s", all.Packages[0].OrderInstanceID, all.Packages[1].OrderInstanceID, all.Packages[2].OrderInstanceID)
	}
	obs := all.Packages[2]
	if obs.ExpireTime != "2026-12-06T16:00:00Z" || obs.EffectiveTime != "2025-12-06T16:00:00Z" || obs.RegionCode != "cn-north-4" ||
		obs.ServiceTypeName != "Object Storage Service" || obs.BundleType != BundleAtomic || obs.QuotaReuseMode != 2 || obs.SourceType != 0 ||
		obs.OrderID != "CS2025000000101" || obs.FreeResources[0].OriginalAmount != "500.00" || obs.FreeResources[0].MeasureID != 10 ||
		obs.FreeResources[0].FreeResourceID != obsFR || obs.EnterpriseProjectScope != 0 {
		t.Errorf("OBS package = %+v", obs)
	}

	// Filters and pages.
	count := func(body map[string]any) int {
		t.Helper()
		return e.packages(t, body).TotalCount
	}
	for name, tc := range map[string]struct {
		body map[string]any
		want int
	}{
		"status effective":      {map[string]any{"status": 1}, 2},
		"status used up":        {map[string]any{"status": 2}, 1},
		"status expired":        {map[string]any{"status": 3}, 0},
		"services, any case":    {map[string]any{"service_type_code_list": []string{"HWS.SERVICE.TYPE.OBS", "hws.service.type.cdn"}}, 2},
		"empty service list":    {map[string]any{"service_type_code_list": []string{}}, 3},
		"order":                 {map[string]any{"order_id": "CS2026000000102"}, 1},
		"product":               {map[string]any{"product_id": "OFFIRDSPKG0100"}, 1},
		"product name":          {map[string]any{"product_name": "CDN traffic package 100 GB per month (1 year)"}, 1},
		"empty strings ignored": {map[string]any{"order_id": "", "region_code": "", "product_name": ""}, 3},
		"region":                {map[string]any{"region_code": "cn-south-1"}, 0},
		"project":               {map[string]any{"enterprise_project_id": "0"}, 0},
		"nulls":                 {map[string]any{"status": nil, "order_id": nil}, 3},
	} {
		t.Run(name, func(t *testing.T) {
			if got := count(tc.body); got != tc.want {
				t.Errorf("total_count %d, want %d", got, tc.want)
			}
		})
	}
	page := e.packages(t, map[string]any{"offset": 1, "limit": 1})
	if page.TotalCount != 3 || len(page.Packages) != 1 || page.Packages[0].OrderInstanceID != "pkg-cdn-traffic-100g-0001" {
		t.Errorf("second page = %+v", page)
	}
	// No body at all is no filter.
	if got := e.packages(t, nil); got.TotalCount != 3 || len(got.Packages) != 3 {
		t.Errorf("without a body: %+v", got)
	}

	for name, body := range map[string]any{
		"status 5":          map[string]any{"status": 5},
		"limit 0":           map[string]any{"limit": 0},
		"limit 1001":        map[string]any{"limit": 1001},
		"offset -1":         map[string]any{"offset": -1},
		"11 services":       map[string]any{"service_type_code_list": make([]string, 11)},
		"long product name": map[string]any{"product_name": strings.Repeat("x", 257)},
		"long order id":     map[string]any{"order_id": strings.Repeat("x", 65)},
		"status as text":    map[string]any{"status": "1"},
		"not JSON":          "{",
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, e.call(http.MethodPost, packagesPath, nil, body), http.StatusBadRequest, CodeParam)
		})
	}
}

func TestPackagesOfOtherAccountsAndProjects(t *testing.T) {
	st := DefaultStateAt(testNow)
	st.SubAccounts[0].AccessKey, st.SubAccounts[0].SecretKey = "SUBAK000000000000001", "sub-secret"
	e := newEnv(t, st, Options{})
	r := e.admin(http.MethodPost, "/_sim/packages", map[string]any{
		"customer_id": teamA, "service_type_code": "hws.service.type.ec2", "enterprise_project_id": "ep-1", "source_type": 1,
		"free_resources": []map[string]any{{"usage_type_name": "vCPU hours", "original_amount": "744.00"}},
	})
	expect(t, r, http.StatusOK, "")
	var created ResourcePackage
	r.decode(t, &created)
	fr := created.FreeResources[0]
	if created.DomainID != DefaultDomainID || created.OrderInstanceID == "" || created.OrderID != "" || created.ProductName != "Elastic Cloud Server resource package" ||
		!created.EffectiveTime.Equal(testNow) || !created.ExpireTime.Equal(testNow.AddDate(1, 0, 0)) || len(fr.ID) != 36 || fr.MeasureID != DefaultMeasureID ||
		created.BundleType != BundleAtomic || created.QuotaReuseMode != QuotaNotResettable {
		t.Errorf("created package = %s", r.body)
	}
	// The master does not list its sub-account's package, nor read it.
	if got := e.packages(t, map[string]any{"enterprise_project_id": "ep-1"}); got.TotalCount != 0 {
		t.Errorf("the master lists %+v", got)
	}
	if got := e.usages(t, fr.ID); len(got) != 0 {
		t.Errorf("the master reads %+v", got)
	}
	e.as, e.domain = sign.Credentials{AccessKey: "SUBAK000000000000001", SecretKey: "sub-secret"}, teamA
	// A package of an enterprise project shows only when the query names
	// the project.
	if got := e.packages(t, map[string]any{}); got.TotalCount != 0 {
		t.Errorf("team-a without the project: %+v", got)
	}
	got := e.packages(t, map[string]any{"enterprise_project_id": "ep-1"})
	if got.TotalCount != 1 || got.Packages[0].EnterpriseProjectScope != 1 || got.Packages[0].EnterpriseProjectID != "ep-1" ||
		got.Packages[0].SourceType != 1 || got.Packages[0].FreeResources[0].Amount != "744.00" {
		t.Errorf("team-a in ep-1: %+v", got)
	}
	if u := e.usages(t, fr.ID, obsFR); len(u) != 1 || u[0].FreeResourceID != fr.ID || u[0].Amount != "744.00" {
		t.Errorf("team-a's usages: %+v", u)
	}
}

func TestFreeResourceUsages(t *testing.T) {
	e := newEnv(t, nil, Options{})
	got := e.usages(t, cdnFR, "unknown-id", obsFR, cdnFR)
	if len(got) != 2 || got[0].FreeResourceID != cdnFR || got[1].FreeResourceID != obsFR {
		t.Fatalf("usages = %+v", got)
	}
	cdn, obs := got[0], got[1]
	// CDN resets every natural month: November in UTC+8.
	if cdn.QuotaReuseCycle != ReuseMonth || cdn.QuotaReuseCycleType != ReuseNatural || cdn.StartTime != "2026-10-31T16:00:00Z" ||
		cdn.EndTime != "2026-11-30T16:00:00Z" || cdn.Amount != "48.48" || cdn.OriginalAmount != "100.00" || cdn.FreeResourceTypeName != "Downstream traffic" ||
		cdn.UsageTypeName != "Chinese mainland traffic" || cdn.MeasureID != 10 {
		t.Errorf("CDN = %+v", cdn)
	}
	// OBS does not reset: its life.
	if obs.QuotaReuseCycle != 0 || obs.StartTime != "2025-12-06T16:00:00Z" || obs.EndTime != "2026-12-06T16:00:00Z" || obs.Amount != "412.50" {
		t.Errorf("OBS = %+v", obs)
	}
	for name, body := range map[string]any{
		"no body":      "",
		"no ids":       map[string]any{},
		"empty ids":    map[string]any{"free_resource_ids": []string{}},
		"101 ids":      map[string]any{"free_resource_ids": make([]string, 101)},
		"empty id":     map[string]any{"free_resource_ids": []string{""}},
		"65 bytes":     map[string]any{"free_resource_ids": []string{strings.Repeat("字", 22)}},
		"ids as text":  map[string]any{"free_resource_ids": obsFR},
		"ids of nulls": map[string]any{"free_resource_ids": nil},
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, e.call(http.MethodPost, usagesPath, nil, body), http.StatusBadRequest, CodeParam)
		})
	}
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = obsFR
	}
	if got := e.usages(t, ids...); len(got) != 1 {
		t.Errorf("100 ids: %+v", got)
	}
}

// TestPackageUsageOverTime follows the seed's packages through simulated
// time: use at the packages' rates, the monthly reset, expiry, and a
// package that is not yet effective.
func TestPackageUsageOverTime(t *testing.T) {
	e := newEnv(t, nil, Options{})
	future := testNow.Add(48 * time.Hour)
	r := e.admin(http.MethodPost, "/_sim/packages", map[string]any{
		"order_instance_id": "pkg-later", "effective_time": future, "expire_time": future.Add(30 * 24 * time.Hour),
		"free_resources": []map[string]any{
			{"free_resource_id": "fr-later-1", "usage_type_name": "Hours", "original_amount": "20.00", "usage_rate": "0.50"},
			{"free_resource_id": "fr-later-2", "usage_type_name": "Traffic", "original_amount": "5.00", "used_amount": "1.00", "usage_rate": "0.05"},
		},
	})
	expect(t, r, http.StatusOK, "")
	status := func() map[string]string {
		t.Helper()
		return e.packages(t, map[string]any{"limit": 100}).statuses()
	}
	if got := status()["pkg-later"]; got != "0 20.00" {
		t.Errorf("before it takes effect: %s", got)
	}
	// Three days later (2026-11-30 20:00 in UTC+8): OBS used 3.60 more;
	// CDN 72 hours more (48.48 - 5.76); the later package a day at 0.50.
	e.sim.Advance(72 * time.Hour)
	got := status()
	if got["pkg-obs-standard-500g-0001"] != "1 408.90" || got["pkg-cdn-traffic-100g-0001"] != "1 42.72" || got["pkg-later"] != "1 8.00" {
		t.Errorf("after 3 days: %v", got)
	}
	// Past midnight the CDN quota is back, less the 4 hours of December.
	e.sim.Advance(8 * time.Hour)
	if got := status(); got["pkg-cdn-traffic-100g-0001"] != "1 99.68" || got["pkg-later"] != "1 4.00" {
		t.Errorf("December 1st 04:00: %v", got)
	}
	u := e.usages(t, cdnFR, "fr-later-2")
	if u[0].StartTime != "2026-11-30T16:00:00Z" || u[0].EndTime != "2026-12-31T16:00:00Z" || u[1].Amount != "2.40" {
		t.Errorf("usages on December 1st: %+v", u)
	}
	// The OBS package expires at its UTC+8 midnight of December 7th, 220
	// hours after the seed, and is used no more; what is left stays. The
	// later package is used up.
	e.sim.Advance(6*24*time.Hour + 12*time.Hour)
	got = status()
	if got["pkg-obs-standard-500g-0001"] != "3 401.50" || got["pkg-later"] != "2 0.00" {
		t.Errorf("after expiry: %v", got)
	}
	e.sim.Advance(30 * 24 * time.Hour)
	if got := status(); got["pkg-obs-standard-500g-0001"] != "3 401.50" || got["pkg-later"] != "3 0.00" || got["pkg-rds-backup-100g-0001"] != "2 0.00" {
		t.Errorf("a month later: %v", got)
	}
	if got := e.packages(t, map[string]any{"status": 3}); got.TotalCount != 2 {
		t.Errorf("expired packages: %d", got.TotalCount)
	}
	// Eighteen months after expiry a package can no longer be queried.
	e.sim.Advance(550 * 24 * time.Hour)
	if got := status(); len(got) != 2 || got["pkg-obs-standard-500g-0001"] != "" {
		t.Errorf("18 months on: %v", got)
	}
	if u := e.usages(t, obsFR); len(u) != 0 {
		t.Errorf("usages of a package expired 18 months ago: %+v", u)
	}
	e.checkInvariants()
}

func TestResetCycles(t *testing.T) {
	eff := time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC) // 18:00 in UTC+8
	at := time.Date(2026, 3, 15, 5, 30, 0, 0, time.UTC)
	tests := []struct {
		cycle, typ int
		start, end string
	}{
		{ReuseHour, ReuseNatural, "2026-03-15T05:00:00Z", "2026-03-15T06:00:00Z"},
		{ReuseDay, ReuseNatural, "2026-03-14T16:00:00Z", "2026-03-15T16:00:00Z"},
		{ReuseWeek, ReuseNatural, "2026-03-08T16:00:00Z", "2026-03-15T16:00:00Z"}, // Monday the 9th in UTC+8
		{ReuseMonth, ReuseNatural, "2026-02-28T16:00:00Z", "2026-03-31T16:00:00Z"},
		{ReuseYear, ReuseNatural, "2026-01-31T10:00:00Z", "2026-12-31T16:00:00Z"}, // the first cycle starts at the effective time
		{ReuseHour, ReuseFromSubscription, "2026-03-15T05:00:00Z", "2026-03-15T06:00:00Z"},
		{ReuseDay, ReuseFromSubscription, "2026-03-14T10:00:00Z", "2026-03-15T10:00:00Z"},
		{ReuseWeek, ReuseFromSubscription, "2026-03-14T10:00:00Z", "2026-03-21T10:00:00Z"},
		{ReuseMonth, ReuseFromSubscription, "2026-03-03T10:00:00Z", "2026-03-31T10:00:00Z"}, // Jan 31 + 1 month is March 3rd
		{ReuseYear, ReuseFromSubscription, "2026-01-31T10:00:00Z", "2027-01-31T10:00:00Z"},
	}
	for _, tc := range tests {
		p := ResourcePackage{EffectiveTime: eff, QuotaReuseCycle: tc.cycle, QuotaReuseCycleType: tc.typ}
		start, end := p.resetPeriod(at)
		if fmtTime(start) != tc.start || fmtTime(end) != tc.end {
			t.Errorf("cycle %d type %d: %s to %s, want %s to %s", tc.cycle, tc.typ, fmtTime(start), fmtTime(end), tc.start, tc.end)
		}
	}
}

func TestAddPackageRefuses(t *testing.T) {
	e := newEnv(t, nil, Options{})
	fr := []map[string]any{{"usage_type_name": "GB", "original_amount": "1.00"}}
	for name, body := range map[string]map[string]any{
		"no free resources":   {"customer_id": teamA},
		"unknown customer":    {"customer_id": "nobody", "free_resources": fr},
		"taken instance id":   {"order_instance_id": "pkg-rds-backup-100g-0001", "free_resources": fr},
		"taken resource id":   {"free_resources": []map[string]any{{"free_resource_id": obsFR, "usage_type_name": "GB", "original_amount": "1.00"}}},
		"no usage type":       {"free_resources": []map[string]any{{"original_amount": "1.00"}}},
		"no quota":            {"free_resources": []map[string]any{{"usage_type_name": "GB"}}},
		"used beyond quota":   {"free_resources": []map[string]any{{"usage_type_name": "GB", "original_amount": "1.00", "used_amount": "2.00"}}},
		"negative rate":       {"free_resources": []map[string]any{{"usage_type_name": "GB", "original_amount": "1.00", "usage_rate": "-1.00"}}},
		"expiry first":        {"effective_time": "2026-12-01T00:00:00Z", "expire_time": "2026-11-01T00:00:00Z", "free_resources": fr},
		"bad bundle":          {"bundle_type": "PKG", "free_resources": fr},
		"bad reuse mode":      {"quota_reuse_mode": 3, "free_resources": fr},
		"bad reuse cycle":     {"quota_reuse_mode": 1, "quota_reuse_cycle": 6, "free_resources": fr},
		"cycle, no resetting": {"quota_reuse_cycle": 2, "free_resources": fr},
		"bad source":          {"source_type": 2, "free_resources": fr},
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, e.admin(http.MethodPost, "/_sim/packages", body), http.StatusBadRequest, "")
		})
	}
	if n := len(e.sim.Snapshot().Packages); n != 3 {
		t.Errorf("%d packages after refusals, want the 3 seeded", n)
	}
	// A resettable package gets monthly natural cycles by default.
	p, err := e.sim.AddPackage(ResourcePackage{QuotaReuseMode: QuotaResettable, FreeResources: []FreeResource{{UsageTypeName: "GB", OriginalAmount: amt("1.00")}}})
	if err != nil || p.QuotaReuseCycle != ReuseMonth || p.QuotaReuseCycleType != ReuseNatural || p.CustomerID != DefaultDomainID || p.OrderID == "" {
		t.Errorf("AddPackage = %+v, %v", p, err)
	}
}

package bsssim

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

const (
	costsPath     = "/v4/costs/cost-analysed-bills/query"
	breakdownPath = "/v2/costs/cost-analysed-bills/monthly-breakdown"
	teamA         = "cust-team-a-0001"
	teamB         = "cust-team-b-0001"
	teamC         = "cust-team-c-0001"
)

// costsRead is a decoded ListCosts answer.
type costsRead struct {
	Currency   string `json:"currency"`
	TotalCount int    `json:"total_count"`
	CostData   []struct {
		Dimensions []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"dimensions"`
		Costs []struct {
			TimeDimensionValue string `json:"time_dimension_value"`
			TimeMeasureID      int    `json:"time_measure_id"`
			Amount             string `json:"amount"`
			OfficialAmount     string `json:"official_amount"`
		} `json:"costs"`
		AmountByCosts         string `json:"amount_by_costs"`
		OfficialAmountByCosts string `json:"official_amount_by_costs"`
	} `json:"cost_data"`
}

// byValue maps the rows' joined dimension values to their costs by time
// dimension value.
func (c costsRead) byValue() map[string]map[string]money.Amount {
	out := map[string]map[string]money.Amount{}
	for _, d := range c.CostData {
		var vs []string
		for _, dim := range d.Dimensions {
			vs = append(vs, dim.Value)
		}
		m := map[string]money.Amount{}
		for _, cv := range d.Costs {
			m[cv.TimeDimensionValue] = money.MustParse(cv.Amount)
		}
		out[strings.Join(vs, "/")] = m
	}
	return out
}

// costsBody is a ListCosts body grouped by keys, limit 1000.
func costsBody(measure int, begin, end, costType, amountType string, keys ...string) map[string]any {
	var groupby []map[string]any
	for _, k := range keys {
		groupby = append(groupby, map[string]any{"type": "dimension", "key": k})
	}
	return map[string]any{
		"time_condition": map[string]any{"time_measure_id": measure, "begin_time": begin, "end_time": end},
		"groupby":        groupby, "cost_type": costType, "amount_type": amountType, "limit": 1000,
	}
}

func withFilters(body map[string]any, filters ...map[string]any) map[string]any {
	body["filters"] = filters
	return body
}

func filter(op int, key string, values ...string) map[string]any {
	return map[string]any{"operator": op, "filter_factor": map[string]any{"key": key, "value": values}}
}

func (e *env) costs(t *testing.T, body map[string]any) costsRead {
	t.Helper()
	r := e.call(http.MethodPost, costsPath, nil, body)
	expect(t, r, http.StatusOK, "")
	var got costsRead
	r.decode(t, &got)
	if got.Currency != "CNY" || got.TotalCount < len(got.CostData) {
		t.Fatalf("costs = %s", r.body)
	}
	return got
}

// sumBy adds up the amounts of a row whose time dimension value has the
// prefix.
func sumBy(m map[string]money.Amount, prefix string) money.Amount {
	var t money.Amount
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			t = t.Add(v)
		}
	}
	return t
}

// billsOf adds up the monthly-sum records of a customer and cycle (all
// charging modes, or one).
func billsOf(st *State, customer, cycle string, mode int) money.Amount {
	var t money.Amount
	for _, b := range st.Bills {
		if b.CustomerID == customer && b.BillCycle == cycle && (mode == 0 || b.ChargingMode == mode) {
			t = t.Add(b.ConsumeAmount)
		}
	}
	return t
}

func TestListCostsValidation(t *testing.T) {
	e := newEnv(t, nil, Options{})
	ok := func() map[string]any {
		return costsBody(1, "2026-11-01", "2026-11-27", "ORIGINAL_COST", "PAYMENT_AMOUNT", DimensionAccount)
	}
	with := func(k string, v any) map[string]any {
		b := ok()
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	tc := func(measure any, begin, end string) map[string]any {
		m := map[string]any{"begin_time": begin, "end_time": end}
		if measure != nil {
			m["time_measure_id"] = measure
		}
		return with("time_condition", m)
	}
	group := func(typ, key string) map[string]any {
		return with("groupby", []map[string]any{{"type": typ, "key": key}})
	}
	tests := []struct {
		name string
		body any
		msg  string
	}{
		{"no body", "", "request body is required"},
		{"not JSON", "{", "not valid JSON"},
		{"groupby of the wrong type", with("groupby", map[string]any{}), "groupby has the wrong type"},
		{"no time_condition", with("time_condition", nil), "time_condition is required"},
		{"measure 3", tc(3, "2026-11-01", "2026-11-02"), "time_measure_id must be 1 (day) or 2 (month)"},
		{"a month for days", tc(1, "2026-11", "2026-11"), "begin_time must be a date like 2026-11-01"},
		{"a date for months", tc(2, "2026-11", "2026-11-27"), "end_time must be a month like 2026-11"},
		{"no end", tc(1, "2026-11-01", ""), "end_time is required"},
		{"end before begin", tc(1, "2026-11-02", "2026-11-01"), "end_time must not be before begin_time"},
		{"older than 18 months", tc(2, "2025-05", "2026-11"), "must not be before 2025-06-01"},
		{"no groupby", with("groupby", nil), "groupby is required"},
		{"empty groupby", with("groupby", []any{}), "groupby is required"},
		{"tag groupby", group("tag", "team"), "no cost tags"},
		{"unknown type", group("label", DimensionAccount), "groupby.type must be dimension"},
		{"unknown key", group("dimension", "ACCOUNT"), `groupby.key "ACCOUNT" is not a dimension`},
		{"unmodelled key", group("dimension", "REGION_CODE"), "REGION_CODE is not supported by the simulator"},
		{"key twice", with("groupby", []map[string]any{{"type": "dimension", "key": DimensionService}, {"type": "dimension", "key": DimensionService}}), "twice"},
		{"no cost_type", with("cost_type", nil), "cost_type is required"},
		{"bad cost_type", with("cost_type", "NET_COST"), "cost_type must be"},
		{"no amount_type", with("amount_type", nil), "amount_type is required"},
		{"bad amount_type", with("amount_type", "PAID"), "amount_type must be"},
		{"limit 0", with("limit", 0), "limit must be between 1 and 1000"},
		{"limit 1001", with("limit", 1001), "limit must be between 1 and 1000"},
		{"negative offset", with("offset", -1), "offset must be between"},
		{"operator 2", with("filters", []map[string]any{filter(2, DimensionAccount, teamA)}), "operator must be 0 (include) or 1 (exclude)"},
		{"no filter_factor", with("filters", []map[string]any{{"operator": 0}}), "filter_factor is required"},
		{"no values", with("filters", []map[string]any{filter(0, DimensionAccount)}), "must not be empty"},
		{"unmodelled filter", with("filters", []map[string]any{filter(0, "RESOURCE_TAG", "x")}), "RESOURCE_TAG is not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call(http.MethodPost, costsPath, nil, tc.body)
			expect(t, r, http.StatusBadRequest, CodeParam)
			if !strings.Contains(r.errBody().ErrorMsg, tc.msg) {
				t.Errorf("message %q, want it to contain %q", r.errBody().ErrorMsg, tc.msg)
			}
		})
	}
	// An absent time_measure_id means days.
	e.costs(t, tc(nil, "2026-11-01", "2026-11-27"))
	expect(t, e.call(http.MethodGet, costsPath, nil, nil), http.StatusMethodNotAllowed, CodeAPINotFound)
}

// TestListCostsSeededHistory reads the seed's history the way the operator
// does: by associated account, daily, from the first day of the previous
// bill cycle to today.
func TestListCostsSeededHistory(t *testing.T) {
	e := newEnv(t, nil, Options{})
	st := e.sim.Snapshot()
	got := e.costs(t, costsBody(1, "2026-10-01", "2026-11-27", "ORIGINAL_COST", "PAYMENT_AMOUNT", DimensionAccount))
	var accounts []string
	for _, d := range got.CostData {
		if len(d.Dimensions) != 1 || d.Dimensions[0].Key != DimensionAccount {
			t.Fatalf("dimensions = %+v", d.Dimensions)
		}
		accounts = append(accounts, d.Dimensions[0].Value)
		var total money.Amount
		for _, c := range d.Costs {
			if c.TimeMeasureID != 1 || len(c.TimeDimensionValue) != 10 {
				t.Errorf("cost %+v", c)
			}
			total = total.Add(money.MustParse(c.Amount))
		}
		if d.AmountByCosts != total.String() || d.OfficialAmountByCosts != total.String() {
			t.Errorf("%s: amount_by_costs %s, official %s, the days add up to %s", accounts[len(accounts)-1], d.AmountByCosts, d.OfficialAmountByCosts, total)
		}
	}
	if want := []string{DefaultDomainID, teamA, teamB, teamC}; !slices.Equal(accounts, want) || got.TotalCount != 4 {
		t.Fatalf("accounts %v (total %d), want %v", accounts, got.TotalCount, want)
	}
	rows := got.byValue()
	// The original costs of each account and cycle are its monthly-sum
	// bills: on-demand consumption day by day and team-a's yearly order on
	// the day it was paid.
	for _, cust := range accounts {
		for _, cycle := range []string{"2026-10", "2026-11"} {
			if got, want := sumBy(rows[cust], cycle), billsOf(st, cust, cycle, 0); got != want {
				t.Errorf("%s %s: daily costs add up to %s, the bills to %s", cust, cycle, got, want)
			}
		}
		// Today (2026-11-27) does not show yet with the default lag of one day.
		if _, ok := rows[cust]["2026-11-27"]; ok {
			t.Errorf("%s has costs of today", cust)
		}
	}
	if rows[teamA]["2026-10-18"].Cmp(amt("1200.00")) <= 0 {
		t.Errorf("team-a on the payment day of its yearly order: %s", rows[teamA]["2026-10-18"])
	}
	if len(rows[teamA]) != 57 || len(rows[teamC]) != 31 {
		t.Errorf("team-a has %d days, team-c %d; want 57 (Oct 1 to Nov 26) and 31", len(rows[teamA]), len(rows[teamC]))
	}

	// On demand only: days vary, and team-a's 12th of October is a spike.
	demand := e.costs(t, withFilters(costsBody(1, "2026-10-01", "2026-10-31", "ORIGINAL_COST", "PAYMENT_AMOUNT", DimensionAccount),
		filter(0, DimensionChargingMode, "3"))).byValue()
	var days []money.Amount
	for d, v := range demand[teamA] {
		if d != "2026-10-12" {
			days = append(days, v)
		}
	}
	slices.Sort(days)
	median, spike := days[len(days)/2], demand[teamA]["2026-10-12"]
	if spike.Cmp(median.Add(median).Add(median).Add(median)) <= 0 || days[0] == days[len(days)-1] {
		t.Errorf("team-a October: spike %s, median %s, lowest %s, highest %s", spike, median, days[0], days[len(days)-1])
	}

	// Months: the same totals, one cost per month.
	monthly := e.costs(t, costsBody(2, "2026-10", "2026-11", "ORIGINAL_COST", "PAYMENT_AMOUNT", DimensionAccount, DimensionChargingMode))
	if monthly.TotalCount != 5 {
		t.Errorf("%d account/mode rows, want 5", monthly.TotalCount)
	}
	for key, m := range monthly.byValue() {
		cust, mode, _ := strings.Cut(key, "/")
		want := 3
		if mode == "1" {
			want = 1
		}
		for cycle, v := range m {
			if v != billsOf(st, cust, cycle, want) {
				t.Errorf("%s %s: %s, bills %s", key, cycle, v, billsOf(st, cust, cycle, want))
			}
		}
	}

	// NET_AMOUNT leaves out what coupons paid: team-a's October coupons.
	net := e.costs(t, costsBody(2, "2026-10", "2026-10", "ORIGINAL_COST", "NET_AMOUNT", DimensionAccount)).byValue()
	if got, want := net[teamA]["2026-10"], billsOf(st, teamA, "2026-10", 0).Sub(amt("112.34")); got != want {
		t.Errorf("team-a net October = %s, want %s", got, want)
	}
	e.checkInvariants()
}

func TestListCostsFiltersGroupsAndPages(t *testing.T) {
	e := newEnv(t, nil, Options{})
	body := func() map[string]any {
		return costsBody(1, "2026-11-01", "2026-11-27", "AMORTIZED_COST", "PAYMENT_AMOUNT", DimensionService, DimensionResource, DimensionAccount)
	}
	all := e.costs(t, body())
	var keys []string
	for _, d := range all.CostData {
		var vs []string
		for _, dim := range d.Dimensions {
			vs = append(vs, dim.Key+"="+dim.Value)
		}
		keys = append(keys, strings.Join(vs, ","))
	}
	want := []string{
		"CLOUD_SERVICE_TYPE=hws.service.type.ec2,RESOURCE_TYPE=hws.resource.type.vm,ASSOCIATED_ACCOUNT=" + teamA,
		"CLOUD_SERVICE_TYPE=hws.service.type.obs,RESOURCE_TYPE=hws.resource.type.obs,ASSOCIATED_ACCOUNT=" + DefaultDomainID,
		"CLOUD_SERVICE_TYPE=hws.service.type.rds,RESOURCE_TYPE=hws.resource.type.rds.vm,ASSOCIATED_ACCOUNT=" + teamB,
	}
	if !slices.Equal(keys, want) {
		t.Errorf("rows\n%s\nwant\n%s", strings.Join(keys, "\n"), strings.Join(want, "\n"))
	}
	// Paging walks the same rows.
	var paged []string
	for off := 0; ; off++ {
		b := body()
		b["offset"], b["limit"] = off, 1
		p := e.costs(t, b)
		if p.TotalCount != 3 {
			t.Fatalf("total_count %d on page %d", p.TotalCount, off)
		}
		if len(p.CostData) == 0 {
			break
		}
		paged = append(paged, p.CostData[0].Dimensions[2].Value)
	}
	if !slices.Equal(paged, []string{teamA, DefaultDomainID, teamB}) {
		t.Errorf("pages %v", paged)
	}
	// Include and exclude filters.
	only := e.costs(t, withFilters(body(), filter(0, DimensionAccount, teamB, teamC)))
	if only.TotalCount != 1 || only.CostData[0].Dimensions[2].Value != teamB {
		t.Errorf("team-b and team-c only: %+v", only)
	}
	except := e.costs(t, withFilters(body(), filter(1, DimensionService, "hws.service.type.ec2"), filter(1, DimensionChargingMode, "1")))
	if except.TotalCount != 2 {
		t.Errorf("without ec2: %+v", except)
	}
	none := e.costs(t, withFilters(body(), filter(0, DimensionResource, "hws.resource.type.none")))
	if none.TotalCount != 0 || none.CostData == nil {
		t.Errorf("no rows: %+v", none)
	}
}

func TestListCostsVisibility(t *testing.T) {
	st := DefaultStateAt(testNow)
	st.SubAccounts[1].PermissionIDs = []string{"READ_FINANCE_INFO"} // team-b withdraws READ_CONSUME_BILL
	st.SubAccounts[2].AccessKey, st.SubAccounts[2].SecretKey = "SUBAK000000000000003", "sub-secret"
	e := newEnv(t, st, Options{})
	body := costsBody(2, "2026-10", "2026-11", "ORIGINAL_COST", "PAYMENT_AMOUNT", DimensionAccount)
	master := e.costs(t, body).byValue()
	if _, ok := master[teamB]; ok || len(master) != 3 {
		t.Errorf("the master sees %v; team-b has not granted READ_CONSUME_BILL", master)
	}
	// A custody sub-account needs no grant.
	st.SubAccounts[1].FinancialCustody = 1
	e2 := newEnv(t, st, Options{})
	if _, ok := e2.costs(t, body).byValue()[teamB]; !ok {
		t.Error("the master does not see its custody sub-account team-b")
	}
	// A sub-account sees itself only, and no limit applies to it.
	e.as, e.domain = sign.Credentials{AccessKey: "SUBAK000000000000003", SecretKey: "sub-secret"}, teamC
	own := e.costs(t, body).byValue()
	if len(own) != 1 || own[teamC]["2026-10"] != amt("80.25") {
		t.Errorf("team-c sees %v", own)
	}
}

func TestCostLag(t *testing.T) {
	// 2026-11-28 02:00 in UTC+8; team-b spends 2.00 an hour.
	now := time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)
	st := DefaultStateAt(now)
	two := amt("2.00")
	st.SubAccounts[1].ConsumptionRate = &two
	days := func(e *env) []string {
		t.Helper()
		rows := e.costs(t, withFilters(costsBody(1, "2026-11-20", "2026-11-30", "ORIGINAL_COST", "PAYMENT_AMOUNT", DimensionAccount),
			filter(0, DimensionAccount, teamB))).byValue()
		return slices.Sorted(maps.Keys(rows[teamB]))
	}
	e := newEnv(t, st, Options{Now: func() time.Time { return now }})
	e.sim.Advance(22 * time.Hour) // to 2026-11-29 00:00 in UTC+8
	if d := days(e); d[len(d)-1] != "2026-11-28" {
		t.Errorf("default lag: days up to %s, want yesterday 2026-11-28", d[len(d)-1])
	}
	cfg, err := e.sim.SetCostCenter(CostCenterUpdate{LagDays: new(3)})
	if err != nil || cfg.LagDays != 3 || !cfg.Enabled {
		t.Fatalf("SetCostCenter = %+v, %v", cfg, err)
	}
	if d := days(e); d[len(d)-1] != "2026-11-26" {
		t.Errorf("lag 3: days up to %s, want 2026-11-26", d[len(d)-1])
	}
	e.sim.Advance(5 * time.Hour)
	expect(t, e.admin(http.MethodPost, "/_sim/cost-center", map[string]any{"lag_days": 0}), http.StatusOK, "")
	rows := e.costs(t, costsBody(1, "2026-11-29", "2026-11-29", "ORIGINAL_COST", "PAYMENT_AMOUNT", DimensionAccount)).byValue()
	if got := rows[teamB]["2026-11-29"]; got != amt("10.00") {
		t.Errorf("lag 0: today so far = %s, want the 5 hours of 2.00", got)
	}
	// Options: a negative lag is no lag.
	e3 := newEnv(t, DefaultStateAt(testNow), Options{CostLagDays: -1})
	if cc, _ := e3.sim.CostCenter(""); cc.LagDays != 0 {
		t.Errorf("CostLagDays -1: lag %d", cc.LagDays)
	}
	e4 := newEnv(t, DefaultStateAt(testNow), Options{CostLagDays: 2})
	r := e4.admin(http.MethodGet, "/_sim/cost-center", nil)
	expect(t, r, http.StatusOK, "")
	if !strings.Contains(string(r.body), `"lag_days":2`) || !strings.Contains(string(r.body), `"finance_independent_limit":1000`) {
		t.Errorf("cost center = %s", r.body)
	}
	for _, bad := range []map[string]any{{"lag_days": -1}, {"finance_independent_limit": -1}, {"domain_id": "nobody"}, {"enable": false}} {
		expect(t, e4.admin(http.MethodPost, "/_sim/cost-center", bad), http.StatusBadRequest, "")
	}
}

func TestCostCenterDisabled(t *testing.T) {
	st := DefaultStateAt(testNow)
	st.SubAccounts[0].AccessKey, st.SubAccounts[0].SecretKey = "SUBAK000000000000001", "sub-secret"
	e := newEnv(t, st, Options{})
	body := costsBody(1, "2026-11-01", "2026-11-27", "ORIGINAL_COST", "PAYMENT_AMOUNT", DimensionAccount)
	r := e.admin(http.MethodPost, "/_sim/cost-center", map[string]any{"enabled": false})
	expect(t, r, http.StatusOK, "")
	if !strings.Contains(string(r.body), `"enabled":false`) {
		t.Errorf("cost center = %s", r.body)
	}
	expect(t, e.call(http.MethodPost, costsPath, nil, body), http.StatusBadRequest, CodeCostCenterDisabled)
	expect(t, e.call(http.MethodGet, breakdownPath, url.Values{"shared_month": {"2026-11"}}, nil), http.StatusBadRequest, CodeCostCenterDisabled)
	// A malformed request is still a parameter error.
	expect(t, e.call(http.MethodPost, costsPath, nil, "{}"), http.StatusBadRequest, CodeParam)
	// Its sub-accounts follow the master's switch.
	e.as, e.domain = sign.Credentials{AccessKey: "SUBAK000000000000001", SecretKey: "sub-secret"}, teamA
	expect(t, e.call(http.MethodPost, costsPath, nil, body), http.StatusBadRequest, CodeCostCenterDisabled)
	if _, err := e.sim.SetCostCenter(CostCenterUpdate{Enabled: new(true)}); err != nil {
		t.Fatal(err)
	}
	e.costs(t, body)
	if e.sim.Snapshot().Masters[0].CostCenterDisabled {
		t.Error("the state still has the Cost Center disabled")
	}
}

func TestFinanceIndependentLimit(t *testing.T) {
	e := newEnv(t, nil, Options{FinanceIndependentLimit: 2})
	body := func(filters ...map[string]any) map[string]any {
		return withFilters(costsBody(1, "2026-11-01", "2026-11-27", "ORIGINAL_COST", "PAYMENT_AMOUNT", DimensionService), filters...)
	}
	// Three finance-independent sub-accounts, more than 2: a query over all
	// of them, grouped by account or not, is refused.
	for name, b := range map[string]map[string]any{
		"by service":            body(),
		"by account":            costsBody(1, "2026-11-01", "2026-11-27", "ORIGINAL_COST", "PAYMENT_AMOUNT", DimensionAccount),
		"two accounts":          body(filter(0, DimensionAccount, teamA, teamB)),
		"all but one":           body(filter(1, DimensionAccount, teamA)),
		"one service, all subs": body(filter(0, DimensionService, "hws.service.type.ec2")),
	} {
		r := e.call(http.MethodPost, costsPath, nil, b)
		expect(t, r, http.StatusBadRequest, CodeTooManyIndependent)
		if !strings.Contains(r.errBody().ErrorMsg, "3 finance-independent sub-accounts, more than 2") {
			t.Errorf("%s: %s", name, r.body)
		}
	}
	// Narrowed to one account it answers.
	one := e.costs(t, body(filter(0, DimensionAccount, teamA, teamA)))
	if one.TotalCount != 1 || one.CostData[0].Dimensions[0].Value != "hws.service.type.ec2" {
		t.Errorf("team-a alone: %+v", one)
	}
	e.costs(t, body(filter(0, DimensionAccount, DefaultDomainID)))
	// Raising the limit, or a sub-account taken into custody, lifts it.
	if _, err := e.sim.SetCostCenter(CostCenterUpdate{FinanceIndependentLimit: new(3)}); err != nil {
		t.Fatal(err)
	}
	e.costs(t, body())
	expect(t, e.admin(http.MethodPost, "/_sim/cost-center", map[string]any{"finance_independent_limit": 1}), http.StatusOK, "")
	expect(t, e.call(http.MethodPost, costsPath, nil, body()), http.StatusBadRequest, CodeTooManyIndependent)
	st := DefaultStateAt(testNow)
	st.SubAccounts[0].FinancialCustody, st.SubAccounts[1].FinancialCustody = 1, 1
	e2 := newEnv(t, st, Options{FinanceIndependentLimit: 1})
	e2.costs(t, body())
	// A negative option is a limit of 0: one finance-independent
	// sub-account is too many.
	e3 := newEnv(t, st, Options{FinanceIndependentLimit: -1})
	expect(t, e3.call(http.MethodPost, costsPath, nil, body()), http.StatusBadRequest, CodeTooManyIndependent)
	if cc, _ := e3.sim.CostCenter(""); cc.FinanceIndependentLimit != 0 {
		t.Errorf("FinanceIndependentLimit -1: limit %d", cc.FinanceIndependentLimit)
	}
}

// TestDailyCostsAddUpUnderConsumption advances simulated time across a
// bill cycle in uneven steps and checks that every customer's daily costs
// of each cycle add up to its on-demand bills, payment part by payment
// part.
func TestDailyCostsAddUpUnderConsumption(t *testing.T) {
	// 2026-11-30 21:17 in UTC+8.
	now := time.Date(2026, 11, 30, 13, 17, 0, 0, time.UTC)
	st := DefaultStateAt(now)
	rates := []string{"3.33", "0.70", "45.00"} // team-c runs out of credit into debt
	for i := range st.SubAccounts {
		r := amt(rates[i])
		st.SubAccounts[i].ConsumptionRate = &r
	}
	e := newEnv(t, st, Options{Now: func() time.Time { return now }, CostLagDays: -1})
	for _, d := range []time.Duration{7*time.Hour + 13*time.Minute, 90 * time.Minute, 26 * time.Hour, 41*time.Hour + 7*time.Second, 3 * time.Minute} {
		e.sim.Advance(d)
	}
	if err := e.sim.CheckCosts(); err != nil {
		t.Fatal(err)
	}
	snap := e.sim.Snapshot()
	for _, amountType := range []string{"PAYMENT_AMOUNT", "NET_AMOUNT"} {
		got := e.costs(t, withFilters(costsBody(2, "2026-11", "2026-12", "AMORTIZED_COST", amountType, DimensionAccount),
			filter(0, DimensionChargingMode, "3"))).byValue()
		for _, cust := range []string{teamA, teamB, teamC} {
			for _, cycle := range []string{"2026-11", "2026-12"} {
				var want money.Amount
				for _, b := range snap.Bills {
					if b.CustomerID == cust && b.BillCycle == cycle && b.ChargingMode == ChargingOnDemand {
						want = want.Add(b.ConsumeAmount)
						if amountType == "NET_AMOUNT" {
							want = want.Sub(b.CouponAmount)
						}
					}
				}
				if got[cust][cycle] != want {
					t.Errorf("%s %s %s: costs %s, bills %s", amountType, cust, cycle, got[cust][cycle], want)
				}
			}
		}
	}
	// The days are UTC+8 days: team-b spends 0.70 an hour, 16.80 a whole day.
	daily := e.costs(t, withFilters(costsBody(1, "2026-11-30", "2026-12-03", "ORIGINAL_COST", "PAYMENT_AMOUNT", DimensionAccount),
		filter(0, DimensionAccount, teamB))).byValue()[teamB]
	if daily["2026-12-01"] != amt("16.80") || daily["2026-12-02"] != amt("16.80") {
		t.Errorf("team-b whole days: %v, want 16.80 each", daily)
	}
	e.checkInvariants()
}

// TestAmortization pays yearly and monthly orders and follows their
// original and amortized costs over the year.
func TestAmortization(t *testing.T) {
	e := newEnv(t, nil, Options{})
	// team-c has no order; team-d is new. (team-b's seeded order, processing,
	// is paid too: its cost is 99.00 over a month.)
	const teamD = "cust-team-d-0001"
	if _, err := e.sim.AddSubAccount(SubAccount{ID: teamD, Name: "team-d"}); err != nil {
		t.Fatal(err)
	}
	yearly := e.addPending(t, map[string]any{
		"customer_id": teamC, "service_type_code": "hws.service.type.rds", "amount_after_discount": "3650.00", "official_amount": "4015.00",
		"line_items": []map[string]any{{"period_type": 3, "period_num": 1, "subscription_num": 1, "amount_after_discount": "3650.00", "official_amount": "4015.00"}},
	})
	expect(t, e.call(http.MethodPost, payPath, nil, payBodyOf(yearly)), http.StatusNoContent, "")
	// Leave the master 1000.00 of cash so that credit pays the rest.
	expect(t, e.transfer(teamA, "95350.00", "amort-1", nil), http.StatusNoContent, "")
	monthly := e.addPending(t, map[string]any{
		"customer_id": teamD, "service_type_code": "hws.service.type.obs", "amount_after_discount": "3100.00",
		"line_items": []map[string]any{{"period_type": 2, "period_num": 1, "subscription_num": 1, "amount_after_discount": "3100.00"}},
	})
	pay := payBodyOf(monthly)
	pay["use_coupon"], pay["coupon_infos"] = "YES", []map[string]any{{"id": "CP2026110100003", "type": 301}}
	expect(t, e.call(http.MethodPost, payPath, nil, pay), http.StatusNoContent, "")
	var entry LedgerEntry
	for _, le := range e.sim.Ledger() {
		if le.OrderID == monthly {
			entry = le
		}
	}
	if entry.CouponAmount != amt("500.00") || entry.CreditAmount != amt("1600.00") {
		t.Fatalf("pay-order entry %+v: want 500.00 of coupons, 1000.00 of cash and 1600.00 of credit", entry)
	}
	e.sim.Advance(400 * 24 * time.Hour)

	// Original: the whole amount on the payment day.
	orig := e.costs(t, withFilters(costsBody(1, "2026-11-01", "2027-12-31", "ORIGINAL_COST", "PAYMENT_AMOUNT", DimensionAccount),
		filter(0, DimensionChargingMode, "1"), filter(1, DimensionAccount, teamA))).byValue()
	if len(orig[teamC]) != 1 || orig[teamC]["2026-11-27"] != amt("3650.00") || orig[teamD]["2026-11-27"] != amt("3100.00") ||
		orig[teamB]["2026-11-27"] != amt("99.00") {
		t.Errorf("original costs: %v", orig)
	}
	// Amortized: 10.00 a day for the 365 days from the payment day.
	am := e.costs(t, withFilters(costsBody(1, "2026-11-01", "2027-12-31", "AMORTIZED_COST", "PAYMENT_AMOUNT", DimensionAccount),
		filter(0, DimensionAccount, teamC), filter(0, DimensionChargingMode, "1"))).byValue()[teamC]
	if len(am) != 365 || am["2026-11-27"] != amt("10.00") || am["2027-11-26"] != amt("10.00") || sumBy(am, "") != amt("3650.00") {
		t.Errorf("team-c amortized: %d days, first %s, last %s, total %s", len(am), am["2026-11-27"], am["2027-11-26"], sumBy(am, ""))
	}
	if _, ok := am["2027-11-27"]; ok {
		t.Error("the amortization runs past the year")
	}
	// team-d's month (2026-11-27 to 2026-12-26, 30 days) and its net cost,
	// without the coupon's 500.00.
	for _, amountType := range []string{"PAYMENT_AMOUNT", "NET_AMOUNT"} {
		days := e.costs(t, withFilters(costsBody(1, "2026-11-01", "2027-01-31", "AMORTIZED_COST", amountType, DimensionAccount),
			filter(0, DimensionAccount, teamD), filter(0, DimensionChargingMode, "1"))).byValue()[teamD]
		total, want := sumBy(days, ""), amt("3100.00")
		if amountType == "NET_AMOUNT" {
			want = amt("2600.00")
		}
		if len(days) != 30 || total != want {
			t.Errorf("%s: team-d amortized over %d days to %s, want 30 days and %s", amountType, len(days), total, want)
		}
		each := want.Fen() / 30
		for d, v := range days {
			if v.Fen() < each-3 || v.Fen() > each+3 {
				t.Errorf("%s: team-d %s = %s, not an even share of %s", amountType, d, v, want)
			}
		}
	}
	// The breakdown of December 2026: past, current and future months.
	bd := e.breakdown(t, url.Values{"shared_month": {"2026-12"}, "charging_mode": {"1"}, "limit": {"1000"}})
	byCustomer := map[string]breakdownRead{}
	for _, d := range bd.Details {
		byCustomer[d.CustomerID] = d
	}
	if b := byCustomer[teamC]; b.OrderID != yearly || b.ConsumeAmount != "3650.00" || b.PastMonthsAmortizedAmount != "40.00" ||
		b.CurrentMonthAmortizedAmount != "310.00" || b.FutureMonthsAmortizedAmount != "3300.00" || b.AmortizedCashAmount != "310.00" ||
		b.BillCycle != "2026-11" || b.BillType != 1 || b.PeriodType == nil || *b.PeriodType != 19 || b.ChargingMode != 1 {
		t.Errorf("team-c's yearly order in December: %+v", b)
	}
	c := byCustomer[teamD]
	past, cur, fut := amt(string(c.PastMonthsAmortizedAmount)), amt(string(c.CurrentMonthAmortizedAmount)), amt(string(c.FutureMonthsAmortizedAmount))
	split := amt(string(c.AmortizedCashAmount)).Add(amt(string(c.AmortizedCreditAmount))).Add(amt(string(c.AmortizedCouponAmount)))
	if c.ConsumeAmount != "3100.00" || past.Add(cur).Add(fut) != amt("3100.00") || !fut.IsZero() || split != cur ||
		!amt(string(c.AmortizedCreditAmount)).IsPositive() || !amt(string(c.AmortizedCouponAmount)).IsPositive() || c.PeriodType == nil || *c.PeriodType != 20 {
		t.Errorf("team-d's monthly order in December: %+v", c)
	}
	e.checkInvariants()
}

// breakdownRead is one decoded monthly-breakdown detail; amounts keep the
// JSON number's text.
type breakdownRead struct {
	SharedMonth                 string `json:"shared_month"`
	BillCycle                   string `json:"bill_cycle"`
	BillType                    int    `json:"bill_type"`
	CustomerID                  string `json:"customer_id"`
	ServiceTypeCode             string `json:"service_type_code"`
	ResourceTypeCode            string `json:"resource_type_code"`
	ChargingMode                int    `json:"charging_mode"`
	OrderID                     string `json:"order_id"`
	PeriodType                  *int   `json:"period_type"`
	EffectiveTime               string `json:"effective_time"`
	ExpireTime                  string `json:"expire_time"`
	ConsumeAmount               numStr `json:"consume_amount"`
	PastMonthsAmortizedAmount   numStr `json:"past_months_amortized_amount"`
	CurrentMonthAmortizedAmount numStr `json:"current_month_amortized_amount"`
	FutureMonthsAmortizedAmount numStr `json:"future_months_amortized_amount"`
	AmortizedCashAmount         numStr `json:"amortized_cash_amount"`
	AmortizedCreditAmount       numStr `json:"amortized_credit_amount"`
	AmortizedCouponAmount       numStr `json:"amortized_coupon_amount"`
}

type breakdownsRead struct {
	Currency   string          `json:"currency"`
	TotalCount int             `json:"total_count"`
	Details    []breakdownRead `json:"details"`
}

func (e *env) breakdown(t *testing.T, q url.Values) breakdownsRead {
	t.Helper()
	r := e.call(http.MethodGet, breakdownPath, q, nil)
	expect(t, r, http.StatusOK, "")
	var got breakdownsRead
	r.decode(t, &got)
	if got.Currency != "CNY" || got.TotalCount < len(got.Details) {
		t.Fatalf("breakdown = %s", r.body)
	}
	return got
}

func TestMonthlyBreakdown(t *testing.T) {
	st := DefaultStateAt(testNow)
	st.SubAccounts[2].PermissionIDs = nil // team-c grants nothing
	st.SubAccounts[0].AccessKey, st.SubAccounts[0].SecretKey = "SUBAK000000000000001", "sub-secret"
	e := newEnv(t, st, Options{})
	for name, tc := range map[string]struct {
		q      url.Values
		status int
		code   string
	}{
		"no month":           {url.Values{}, 400, CodeParam},
		"bad month":          {url.Values{"shared_month": {"2026-13"}}, 400, CodeParam},
		"a date":             {url.Values{"shared_month": {"2026-11-01"}}, 400, CodeParam},
		"19 months ago":      {url.Values{"shared_month": {"2025-05"}}, 400, CodeParam},
		"next month":         {url.Values{"shared_month": {"2026-12"}}, 400, CodeParam},
		"charging mode 2":    {url.Values{"shared_month": {"2026-11"}, "charging_mode": {"2"}}, 400, CodeParam},
		"bad method":         {url.Values{"shared_month": {"2026-11"}, "method": {"everyone"}}, 400, CodeParam},
		"limit 1001":         {url.Values{"shared_month": {"2026-11"}, "limit": {"1001"}}, 400, CodeParam},
		"limit 0":            {url.Values{"shared_month": {"2026-11"}, "limit": {"0"}}, 400, CodeParam},
		"unknown sub":        {url.Values{"shared_month": {"2026-11"}, "method": {"sub_customer"}, "sub_customer_id": {"nobody"}}, 400, CodeNoSuchCustomer},
		"not granted":        {url.Values{"shared_month": {"2026-11"}, "method": {"sub_customer"}, "sub_customer_id": {teamC}}, 403, CodeAccessDenied},
		"oldest month in":    {url.Values{"shared_month": {"2025-06"}}, 200, ""},
		"service too long":   {url.Values{"shared_month": {"2026-11"}, "service_type_code": {strings.Repeat("x", 65)}}, 400, CodeParam},
		"bill type 0":        {url.Values{"shared_month": {"2026-11"}, "bill_type": {"0"}}, 400, CodeParam},
		"resource name long": {url.Values{"shared_month": {"2026-11"}, "resource_name": {strings.Repeat("x", 65)}}, 400, CodeParam},
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, e.call(http.MethodGet, breakdownPath, tc.q, nil), tc.status, tc.code)
		})
	}
	customers := func(q url.Values) []string {
		var out []string
		for _, d := range e.breakdown(t, q).Details {
			out = append(out, d.CustomerID+"/"+strings.TrimPrefix(d.ServiceTypeCode, "hws.service.type.")+"/"+string(rune('0'+d.ChargingMode)))
		}
		return out
	}
	nov := url.Values{"shared_month": {"2026-11"}, "limit": {"1000"}}
	with := func(k, v string) url.Values {
		q := url.Values{}
		for kk, vv := range nov {
			q[kk] = vv
		}
		q.Set(k, v)
		return q
	}
	for name, tc := range map[string]struct {
		q    url.Values
		want []string
	}{
		"all":                     {nov, []string{DefaultDomainID + "/obs/3", teamA + "/ec2/1", teamA + "/ec2/3", teamB + "/rds/3"}},
		"oneself":                 {with("method", "oneself"), []string{DefaultDomainID + "/obs/3"}},
		"every visible sub":       {with("method", "sub_customer"), []string{teamA + "/ec2/1", teamA + "/ec2/3", teamB + "/rds/3"}},
		"one sub":                 {with("sub_customer_id", teamB), []string{DefaultDomainID + "/obs/3", teamB + "/rds/3"}},
		"yearly/monthly":          {with("charging_mode", "1"), []string{teamA + "/ec2/1"}},
		"one service":             {with("service_type_code", "hws.service.type.rds"), []string{teamB + "/rds/3"}},
		"an empty service":        {with("service_type_code", ""), nil},
		"resource type":           {with("resource_type_code", "hws.resource.type.vm"), []string{teamA + "/ec2/1", teamA + "/ec2/3"}},
		"new purchases":           {with("bill_type", "1"), []string{teamA + "/ec2/1"}},
		"no regions in the data":  {with("region_code", "cn-north-4"), nil},
		"no projects in the data": {with("enterprise_project_id", "0"), nil},
	} {
		t.Run(name, func(t *testing.T) {
			if got := customers(tc.q); !slices.Equal(got, tc.want) {
				t.Errorf("details %v, want %v", got, tc.want)
			}
		})
	}
	// The on-demand details are November's costs through yesterday.
	bd := e.breakdown(t, url.Values{"shared_month": {"2026-11"}, "method": {"sub_customer"}, "sub_customer_id": {teamA}})
	if len(bd.Details) != 2 {
		t.Errorf("team-a's details: %+v", bd.Details)
	}
	for _, d := range bd.Details {
		switch d.ChargingMode {
		case 3:
			if d.ConsumeAmount != "133.45" || d.CurrentMonthAmortizedAmount != "133.45" || d.AmortizedCashAmount != "123.45" ||
				d.AmortizedCouponAmount != "10.00" || d.PastMonthsAmortizedAmount != "0.00" || d.BillType != 5 ||
				d.EffectiveTime != "2026-10-31T16:00:00Z" || d.ExpireTime != "2026-11-26T16:00:00Z" || d.BillCycle != "2026-11" {
				t.Errorf("team-a on demand: %+v", d)
			}
		case 1:
			// 1200.00 over 365 days from October 18th: 14 days before
			// November, 26 shown in it.
			if d.OrderID != "CS2026000000001" || d.BillCycle != "2026-10" || d.ConsumeAmount != "1200.00" ||
				d.PastMonthsAmortizedAmount != "46.02" || d.CurrentMonthAmortizedAmount != "85.48" || d.FutureMonthsAmortizedAmount != "1068.50" {
				t.Errorf("team-a yearly: %+v", d)
			}
		}
	}
	// Paging.
	page := e.breakdown(t, url.Values{"shared_month": {"2026-11"}, "offset": {"1"}, "limit": {"2"}})
	if page.TotalCount != 4 || len(page.Details) != 2 || page.Details[0].CustomerID != teamA || page.Details[0].ChargingMode != 1 {
		t.Errorf("page = %+v", page)
	}
	// A sub-account sees only itself.
	e.as, e.domain = sign.Credentials{AccessKey: "SUBAK000000000000001", SecretKey: "sub-secret"}, teamA
	if got := customers(nov); !slices.Equal(got, []string{teamA + "/ec2/1", teamA + "/ec2/3"}) {
		t.Errorf("team-a sees %v", got)
	}
	if got := customers(with("method", "sub_customer")); got != nil {
		t.Errorf("team-a's sub-customers: %v", got)
	}
}

func TestCostsAndPackagesOfNewStateFields(t *testing.T) {
	tests := map[string]func(st *State){
		"cost of an unknown customer": func(st *State) { st.Costs[0].CustomerID = "nobody" },
		"cost with a bad date":        func(st *State) { st.Costs[0].Date = "2026-11-1" },
		"cost repeated":               func(st *State) { st.Costs = append(st.Costs, st.Costs[0]) },
		"prepaid cost record":         func(st *State) { st.Costs[0].ChargingMode = ChargingPrepaid },
		"negative lag":                func(st *State) { st.Masters[0].CostLagDays = new(-1) },
		"negative bonus":              func(st *State) { st.Masters[0].Bonus = -1 },
		"package of nobody":           func(st *State) { st.Packages[0].CustomerID = "nobody" },
		"package used beyond quota":   func(st *State) { st.Packages[0].FreeResources[0].UsedAmount = amt("600.00") },
		"package ids repeated":        func(st *State) { st.Packages[1].FreeResources[0].ID = st.Packages[0].FreeResources[0].ID },
		"package expires first":       func(st *State) { st.Packages[0].ExpireTime = st.Packages[0].EffectiveTime },
		"package cycle not resetting": func(st *State) { st.Packages[0].QuotaReuseCycle = ReuseDay },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			st := DefaultStateAt(testNow)
			mutate(st)
			if _, err := New(st, Options{}); err == nil {
				t.Error("New accepted a broken state")
			}
		})
	}
	// A state without cost records (written before they existed) loads,
	// and CheckCosts names what its bills lack.
	st := DefaultStateAt(testNow)
	st.Costs, st.Packages = nil, nil
	e := newEnv(t, st, Options{})
	if err := e.sim.CheckCosts(); err == nil || !strings.Contains(err.Error(), "cust-team-c-0001 2026-10 hws.service.type.obs: daily costs add up to 0.00") {
		t.Errorf("CheckCosts = %v", err)
	}
	if err := e.sim.CheckConservation(); err != nil {
		t.Error(err)
	}
}

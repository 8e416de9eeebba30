package sdkconformance

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/bss/v2/model"
	"github.com/shopspring/decimal"
)

// The rows of the cost and resource package operations. The seed's cost
// history, its yearly order and its packages fill them; the sub-account's
// three hours of consumption show once the lag is 0.

// Seeded by bsssim.DefaultState.
const (
	teamA        = "cust-team-a-0001"
	teamB        = "cust-team-b-0001"
	teamC        = "cust-team-c-0001"
	yearlyOrder  = "CS2026000000001"
	obsFreeRes   = "6f1d0c3a-5b2e-4c71-9a0e-0000000000a1"
	cdnFreeRes   = "6f1d0c3a-5b2e-4c71-9a0e-0000000000b1"
	rdsFreeRes   = "6f1d0c3a-5b2e-4c71-9a0e-0000000000c1"
	subPackageEP = "ep-sdkc"
)

var utc8 = time.FixedZone("UTC+8", 8*3600)

// costDays returns the first day of the previous bill cycle, today and the
// previous cycle in UTC+8, from the simulator's time.
func costDays(t *testing.T, c *opCtx) (begin, today, prevCycle string) {
	t.Helper()
	l := c.s.sim.state(t).SimTime.In(utc8)
	first := time.Date(l.Year(), l.Month()-1, 1, 0, 0, 0, 0, utc8)
	return first.Format(time.DateOnly), l.Format(time.DateOnly), first.Format("2006-01")
}

func costsReq(begin, end string, measure int32, costType, amountType string, keys ...string) *model.ListCostsRequest {
	var groupby []model.GroupBy
	for _, k := range keys {
		groupby = append(groupby, model.GroupBy{Type: "dimension", Key: k})
	}
	return &model.ListCostsRequest{XLanguage: ptr("en_us"), Body: &model.ListCostsReq{
		TimeCondition: &model.TimeCondition{TimeMeasureId: measure, BeginTime: begin, EndTime: end},
		Groupby:       groupby, CostType: costType, AmountType: amountType, Limit: ptr[int32](100),
	}}
}

func accountFilter(ids ...string) *[]model.FilterV2 {
	return &[]model.FilterV2{{Operator: 0, FilterFactor: &model.FilterFactor{Key: "ASSOCIATED_ACCOUNT", Value: ids}}}
}

// costRows maps the first dimension's value of each row to the row, and
// checks what every row must have.
func costRows(t *testing.T, resp *model.ListCostsResponse, dims int, measure int32) map[string]model.CostDataByDimension {
	t.Helper()
	if resp.CostData == nil || deref(resp.Currency) != "CNY" || int(deref(resp.TotalCount)) < len(*resp.CostData) {
		t.Fatalf("costs = %s", describe(resp))
	}
	rows := map[string]model.CostDataByDimension{}
	var order []string
	for _, d := range *resp.CostData {
		if d.Dimensions == nil || len(*d.Dimensions) != dims || d.Costs == nil || len(*d.Costs) == 0 {
			t.Fatalf("row = %s", describe(d))
		}
		var vs []string
		for _, dim := range *d.Dimensions {
			vs = append(vs, deref(dim.Value))
		}
		order = append(order, strings.Join(vs, "/"))
		total, official := decimal.Zero, decimal.Zero
		for _, cv := range *d.Costs {
			if deref(cv.TimeMeasureId) != measure || deref(cv.TimeDimensionValue) == "" {
				t.Errorf("cost = %s", describe(cv))
			}
			total = total.Add(decimal.RequireFromString(deref(cv.Amount)))
			official = official.Add(decimal.RequireFromString(deref(cv.OfficialAmount)))
		}
		if deref(d.AmountByCosts) != total.StringFixed(2) || deref(d.OfficialAmountByCosts) != official.StringFixed(2) {
			t.Errorf("row %s: amount_by_costs %s, official %s; the costs add up to %s and %s", order[len(order)-1],
				deref(d.AmountByCosts), deref(d.OfficialAmountByCosts), total.StringFixed(2), official.StringFixed(2))
		}
		rows[vs[0]] = d
	}
	if !slices.IsSorted(order) {
		t.Errorf("rows not in the order of their dimension values: %v", order)
	}
	return rows
}

func listCostsRow() operation {
	return operation{
		name:          "ListCosts",
		clientMethods: []string{"ListCosts", "ListAllCosts"},
		run: func(t *testing.T, c *opCtx) {
			begin, today, prevCycle := costDays(t, c)
			// The operator's query: by account, daily, from the first day
			// of the previous bill cycle to today.
			resp := call[*model.ListCostsResponse](t, c, c.s.master, costsReq(begin, today, 1, "ORIGINAL_COST", "PAYMENT_AMOUNT", "ASSOCIATED_ACCOUNT"))
			rows := costRows(t, resp, 1, 1)
			for _, id := range []string{teamA, teamB, teamC} {
				if _, ok := rows[id]; !ok {
					t.Errorf("no costs of %s: %s", id, describe(resp))
				}
			}
			if tc := rows[teamC]; deref(tc.AmountByCosts) != "80.25" || !strings.HasPrefix(deref((*tc.Costs)[0].TimeDimensionValue), prevCycle) {
				t.Errorf("team-c's previous cycle = %s, want its bill's 80.25", describe(tc))
			}
			for id, r := range rows {
				for _, cv := range *r.Costs {
					if deref(cv.TimeDimensionValue) >= today {
						t.Errorf("%s has costs of %s, which the lag of one day hides", id, deref(cv.TimeDimensionValue))
					}
				}
			}
			// Paging walks the same rows.
			page := costsReq(begin, today, 1, "ORIGINAL_COST", "PAYMENT_AMOUNT", "ASSOCIATED_ACCOUNT")
			page.Body.Offset, page.Body.Limit = ptr[int32](1), ptr[int32](1)
			second := call[*model.ListCostsResponse](t, c, c.s.master, page)
			if deref(second.TotalCount) != deref(resp.TotalCount) || second.CostData == nil || len(*second.CostData) != 1 ||
				deref((*(*second.CostData)[0].Dimensions)[0].Value) != deref((*(*resp.CostData)[1].Dimensions)[0].Value) {
				t.Errorf("the second row alone = %s", describe(second))
			}
			// Months, amortized, net, by account and service.
			monthly := call[*model.ListCostsResponse](t, c, c.s.master,
				costsReq(prevCycle, today[:7], 2, "AMORTIZED_COST", "NET_AMOUNT", "ASSOCIATED_ACCOUNT", "CLOUD_SERVICE_TYPE"))
			if m := costRows(t, monthly, 2, 2); deref((*m[teamA].Dimensions)[1].Value) != "hws.service.type.ec2" {
				t.Errorf("team-a by service = %s", describe(m[teamA]))
			}
			// With no lag, the sub-account's three hours at 3.00 show.
			c.s.sim.admin(t, http.MethodPost, "/_sim/cost-center", map[string]any{"lag_days": 0}, nil)
			mine := costsReq(begin, today, 1, "ORIGINAL_COST", "PAYMENT_AMOUNT", "ASSOCIATED_ACCOUNT", "CHARGING_MODE")
			mine.Body.Filters = &[]model.FilterV2{
				{Operator: 0, FilterFactor: &model.FilterFactor{Key: "ASSOCIATED_ACCOUNT", Value: []string{subID}}},
				{Operator: 1, FilterFactor: &model.FilterFactor{Key: "CHARGING_MODE", Value: []string{"1"}}},
			}
			if got := costRows(t, call[*model.ListCostsResponse](t, c, c.s.master, mine), 2, 1); deref(got[subID].AmountByCosts) != "9.00" {
				t.Errorf("the sub-account's consumption = %s, want 9.00", describe(got[subID]))
			}
			// The sub-account sees itself only.
			own := costRows(t, call[*model.ListCostsResponse](t, c, c.s.sub, costsReq(begin, today, 1, "AMORTIZED_COST", "PAYMENT_AMOUNT", "ASSOCIATED_ACCOUNT")), 1, 1)
			if _, ok := own[subID]; !ok || len(own) != 1 {
				t.Errorf("the sub-account sees %v", slices.Sorted(maps.Keys(own)))
			}
			c.s.sim.admin(t, http.MethodPost, "/_sim/cost-center", map[string]any{"lag_days": 1}, nil)

			callErr(t, c, c.s.master, costsReq(today, begin, 1, "ORIGINAL_COST", "PAYMENT_AMOUNT", "ASSOCIATED_ACCOUNT"), http.StatusBadRequest, "CBC.0100")
			callErr(t, c, c.s.master, costsReq(begin, today, 1, "ORIGINAL", "PAYMENT_AMOUNT", "ASSOCIATED_ACCOUNT"), http.StatusBadRequest, "CBC.0100")
			// Five finance-independent sub-accounts, more than 2: narrow it
			// to one account.
			c.s.sim.admin(t, http.MethodPost, "/_sim/cost-center", map[string]any{"finance_independent_limit": 2}, nil)
			callErr(t, c, c.s.master, costsReq(begin, today, 1, "ORIGINAL_COST", "PAYMENT_AMOUNT", "ASSOCIATED_ACCOUNT"), http.StatusBadRequest, "CBC.18000048")
			narrowed := costsReq(begin, today, 1, "ORIGINAL_COST", "PAYMENT_AMOUNT", "ASSOCIATED_ACCOUNT")
			narrowed.Body.Filters = accountFilter(teamC)
			if got := costRows(t, call[*model.ListCostsResponse](t, c, c.s.master, narrowed), 1, 1); len(got) != 1 {
				t.Errorf("team-c alone = %v", got)
			}
			c.s.sim.admin(t, http.MethodPost, "/_sim/cost-center", map[string]any{"finance_independent_limit": 1000, "enabled": false}, nil)
			callErr(t, c, c.s.master, costsReq(begin, today, 1, "ORIGINAL_COST", "PAYMENT_AMOUNT", "ASSOCIATED_ACCOUNT"), http.StatusBadRequest, "CBC.18000014")
			c.s.sim.admin(t, http.MethodPost, "/_sim/cost-center", map[string]any{"enabled": true}, nil)
		},
	}
}

func monthlyBreakDownRow() operation {
	var unfilled []string
	for _, f := range []string{
		"region_code", "region_name", "resource_id", "resource_name", "resource_tag", "product_spec_desc", "enterprise_project_id",
		"enterprise_project_name", "usage_type", "usage", "usage_measure_id", "free_resource_usage", "free_resource_measure_id", "ri_usage",
		"ri_usage_measure_id", "sub_service_type_code", "sub_service_type_name", "sub_resource_type_code", "sub_resource_type_name",
		"sub_resource_id", "sub_resource_name", "effective_tag_pairs", "effective_tag_pairs[].tag_key", "effective_tag_pairs[].tag_value",
		"cost_unit_pairs", "cost_unit_pairs[].cost_unit_name", "cost_unit_pairs[].cost_unit_rule_value",
	} {
		unfilled = append(unfilled, "details[]."+f)
	}
	return operation{
		name:          "ListCustomerBillsMonthlyBreakDown",
		clientMethods: []string{"GetCostBreakdown", "ListAllCostBreakdown"},
		// The simulator models no regions, resources, enterprise projects,
		// usage quantities, whole-machine sub-services, cost tags or cost
		// units.
		unfilled: unfilled,
		run: func(t *testing.T, c *opCtx) {
			_, _, prevCycle := costDays(t, c)
			// The operator's query: every sub-account, 1000 a page.
			resp := call[*model.ListCustomerBillsMonthlyBreakDownResponse](t, c, c.s.master, &model.ListCustomerBillsMonthlyBreakDownRequest{
				XLanguage: ptr("en_US"), SharedMonth: prevCycle, Method: ptr("sub_customer"), Limit: ptr[int32](1000),
			})
			if resp.Details == nil || int(deref(resp.TotalCount)) != len(*resp.Details) || deref(resp.Currency) != "CNY" {
				t.Fatalf("breakdown = %s", describe(resp))
			}
			var yearly, onDemand int
			for _, d := range *resp.Details {
				sum := d.PastMonthsAmortizedAmount.Add(*d.CurrentMonthAmortizedAmount).Add(*d.FutureMonthsAmortizedAmount)
				split := d.AmortizedCashAmount.Add(*d.AmortizedCreditAmount).Add(*d.AmortizedCouponAmount).Add(*d.AmortizedFlexipurchaseCouponAmount).
					Add(*d.AmortizedStoredValueCardAmount).Add(*d.AmortizedBonusAmount)
				if deref(d.SharedMonth) != prevCycle || deref(d.CustomerId) == masterDomain || !sum.Equal(*d.ConsumeAmount) ||
					deref(d.ServiceTypeName) == "" || deref(d.ResourceTypeCode) == "" {
					t.Errorf("detail = %s", describe(d))
				}
				switch deref(d.ChargingMode) {
				case 1:
					yearly++
					if deref(d.CustomerId) == teamA && (deref(d.OrderId) != yearlyOrder || deref(d.PeriodType) != 19 || yuan(d.ConsumeAmount) != "1200.00" || deref(d.BillType) != 1) {
						t.Errorf("team-a's yearly order = %s", describe(d))
					}
				case 3:
					onDemand++
					if deref(d.BillType) != 5 || deref(d.BillCycle) != prevCycle || deref(d.EffectiveTime) == "" || deref(d.ExpireTime) == "" ||
						!split.Equal(*d.CurrentMonthAmortizedAmount) || !d.PastMonthsAmortizedAmount.IsZero() {
						t.Errorf("on-demand detail = %s", describe(d))
					}
				}
			}
			if yearly == 0 || onDemand < 3 {
				t.Errorf("%d yearly/monthly and %d on-demand details in %s: %s", yearly, onDemand, prevCycle, describe(resp))
			}
			one := call[*model.ListCustomerBillsMonthlyBreakDownResponse](t, c, c.s.master, &model.ListCustomerBillsMonthlyBreakDownRequest{
				SharedMonth: prevCycle, Method: ptr("sub_customer"), SubCustomerId: ptr(teamC), ChargingMode: ptr[int32](3),
				ServiceTypeCode: ptr("hws.service.type.obs"), Offset: ptr[int32](0), Limit: ptr[int32](10),
			})
			if deref(one.TotalCount) != 1 || yuan((*one.Details)[0].ConsumeAmount) != "80.25" || yuan((*one.Details)[0].AmortizedCreditAmount) != "80.25" {
				t.Errorf("team-c's storage = %s", describe(one))
			}
			callErr(t, c, c.s.master, &model.ListCustomerBillsMonthlyBreakDownRequest{SharedMonth: "2026-13"}, http.StatusBadRequest, "CBC.0100")
			callErr(t, c, c.s.master, &model.ListCustomerBillsMonthlyBreakDownRequest{
				SharedMonth: prevCycle, Method: ptr("sub_customer"), SubCustomerId: ptr(unknownSub),
			}, http.StatusBadRequest, "CBC.99000047")
			c.s.sim.admin(t, http.MethodPost, "/_sim/cost-center", map[string]any{"enabled": false}, nil)
			callErr(t, c, c.s.master, &model.ListCustomerBillsMonthlyBreakDownRequest{SharedMonth: prevCycle}, http.StatusBadRequest, "CBC.18000014")
			c.s.sim.admin(t, http.MethodPost, "/_sim/cost-center", map[string]any{"enabled": true}, nil)
		},
	}
}

func listFreeResourceInfosRow() operation {
	return operation{
		name:          "ListFreeResourceInfos",
		clientMethods: []string{"ListFreeResources", "ListAllFreeResources"},
		run: func(t *testing.T, c *opCtx) {
			// The operator's query: 100 a page.
			resp := call[*model.ListFreeResourceInfosResponse](t, c, c.s.master, &model.ListFreeResourceInfosRequest{
				XLanguage: ptr("en_US"), Body: &model.ListFreeResourceInfosReq{Limit: ptr[int32](100)},
			})
			if resp.FreeResourcePackages == nil || deref(resp.TotalCount) != 3 || len(*resp.FreeResourcePackages) != 3 {
				t.Fatalf("packages = %s", describe(resp))
			}
			statuses := map[string]int32{}
			for _, p := range *resp.FreeResourcePackages {
				if p.FreeResources == nil || len(*p.FreeResources) != 1 || deref(p.ProductName) == "" || deref(p.ServiceTypeName) == "" ||
					deref(p.BundleType) != "ATOMIC_PKG" || deref(p.EffectiveTime) == "" || deref(p.ExpireTime) == "" || deref(p.OrderId) == "" {
					t.Errorf("package = %s", describe(p))
					continue
				}
				fr := (*p.FreeResources)[0]
				statuses[deref(fr.FreeResourceId)] = deref(p.Status)
				left, quota := decimal.RequireFromString(deref(fr.Amount)), decimal.RequireFromString(deref(fr.OriginalAmount))
				if left.IsNegative() || left.GreaterThan(quota) || deref(fr.MeasureId) != 10 || deref(fr.UsageTypeName) == "" {
					t.Errorf("free resource = %s", describe(fr))
				}
			}
			if statuses[obsFreeRes] != 1 || statuses[cdnFreeRes] != 1 || statuses[rdsFreeRes] != 2 {
				t.Errorf("statuses %v, want the OBS and CDN packages effective and the RDS one used up", statuses)
			}
			used := call[*model.ListFreeResourceInfosResponse](t, c, c.s.master, &model.ListFreeResourceInfosRequest{
				Body: &model.ListFreeResourceInfosReq{Status: ptr[int32](2), ServiceTypeCodeList: &[]string{"HWS.SERVICE.TYPE.RDS"}, Offset: ptr[int32](0)},
			})
			if deref(used.TotalCount) != 1 {
				t.Errorf("used-up RDS packages = %s", describe(used))
			}
			// The sub-account's package of an enterprise project shows to
			// it when it names the project.
			ep := call[*model.ListFreeResourceInfosResponse](t, c, c.s.sub, &model.ListFreeResourceInfosRequest{
				Body: &model.ListFreeResourceInfosReq{EnterpriseProjectId: ptr(subPackageEP)},
			})
			if deref(ep.TotalCount) != 1 {
				t.Fatalf("the sub-account's packages in %s = %s", subPackageEP, describe(ep))
			}
			if p := (*ep.FreeResourcePackages)[0]; deref(p.EnterpriseProjectId) != subPackageEP || deref(p.EnterpriseProjectScope) != 1 ||
				deref(p.RegionCode) != "cn-north-4" || deref(p.SourceType) != 1 || deref(p.QuotaReuseMode) != 2 {
				t.Errorf("the sub-account's package = %s", describe(p))
			}
			callErr(t, c, c.s.master, &model.ListFreeResourceInfosRequest{Body: &model.ListFreeResourceInfosReq{Status: ptr[int32](5)}}, http.StatusBadRequest, "CBC.0100")
			callErr(t, c, c.s.master, &model.ListFreeResourceInfosRequest{Body: &model.ListFreeResourceInfosReq{Limit: ptr[int32](0)}}, http.StatusBadRequest, "CBC.0100")
		},
	}
}

func listFreeResourceUsagesRow() operation {
	return operation{
		name:          "ListFreeResourceUsages",
		clientMethods: []string{"ListFreeResourceUsages"},
		run: func(t *testing.T, c *opCtx) {
			resp := call[*model.ListFreeResourceUsagesResponse](t, c, c.s.master, &model.ListFreeResourceUsagesRequest{
				XLanguage: ptr("en_US"), Body: &model.ListFreeResourceUsagesReq{FreeResourceIds: []string{cdnFreeRes, obsFreeRes, rdsFreeRes, "no-such-free-resource"}},
			})
			if resp.FreeResources == nil || len(*resp.FreeResources) != 3 {
				t.Fatalf("usages = %s", describe(resp))
			}
			cdn, obs, rds := (*resp.FreeResources)[0], (*resp.FreeResources)[1], (*resp.FreeResources)[2]
			if deref(cdn.FreeResourceId) != cdnFreeRes || deref(cdn.QuotaReuseCycle) != 4 || deref(cdn.QuotaReuseCycleType) != 1 ||
				yuan(cdn.OriginalAmount) != "100.00" || deref(cdn.StartTime) == "" || deref(cdn.EndTime) <= deref(cdn.StartTime) {
				t.Errorf("CDN = %s", describe(cdn))
			}
			if deref(obs.FreeResourceId) != obsFreeRes || obs.QuotaReuseCycle != nil || yuan(obs.OriginalAmount) != "500.00" ||
				deref(obs.FreeResourceTypeName) == "" || deref(obs.UsageTypeName) == "" || deref(obs.MeasureId) != 10 {
				t.Errorf("OBS = %s", describe(obs))
			}
			if yuan(rds.Amount) != "0.00" {
				t.Errorf("RDS = %s, want it used up", describe(rds))
			}
			// The sub-account reads only its own.
			sub := call[*model.ListFreeResourceUsagesResponse](t, c, c.s.sub, &model.ListFreeResourceUsagesRequest{
				Body: &model.ListFreeResourceUsagesReq{FreeResourceIds: []string{obsFreeRes}},
			})
			if sub.FreeResources == nil || len(*sub.FreeResources) != 0 {
				t.Errorf("the sub-account reads the master's package: %s", describe(sub))
			}
			callErr(t, c, c.s.master, &model.ListFreeResourceUsagesRequest{Body: &model.ListFreeResourceUsagesReq{FreeResourceIds: []string{}}}, http.StatusBadRequest, "CBC.0100")
			callErr(t, c, c.s.master, &model.ListFreeResourceUsagesRequest{
				Body: &model.ListFreeResourceUsagesReq{FreeResourceIds: []string{strings.Repeat("x", 65)}},
			}, http.StatusBadRequest, "CBC.0100")
		},
	}
}

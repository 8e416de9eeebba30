package bsssim

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// These tests pin the response shapes that the official SDK's models
// (huaweicloud-sdk-go-v3 v0.1.207, services/bss/v2/model) expect and that
// hack/sdk-conformance checks with the SDK itself: JSON types, nested
// arrays that are filled when the state has them, and no fields the models
// do not know.

// richOrder is an admin order with everything a CustomerOrderV2/V3 and an
// OrderLineItemEntityV2 can carry.
func richOrder() map[string]any {
	return map[string]any{
		"order_id": "CS2026112700001", "customer_id": "cust-team-a-0001", "order_type": "3", "status": 5,
		"service_type_code": "hws.service.type.ebs", "amount_after_discount": "90.00", "official_amount": "120.00",
		"contract_id": "CT-0001", "coupon_amount": "5.00",
		"discounts":           []map[string]any{{"discount_type": "605", "discount_amount": "30.00"}},
		"enterprise_projects": []map[string]any{{"id": "0", "name": "default"}, {"id": "ep-1", "name": "research"}},
		"sub_orders": []map[string]any{
			{"order_id": "CS2026112700002", "amount_after_discount": "40.00"},
			{"order_id": "CS2026112700003", "amount_after_discount": "50.00", "order_type": "2"},
		},
		"line_items": []map[string]any{{
			"service_type_code": "hws.service.type.ebs", "product_id": "OFFIEBS0001", "product_spec_desc": "EVS 100 GB",
			"period_type": 2, "period_num": 1, "subscription_num": 1, "amount_after_discount": "90.00", "official_amount": "120.00",
			"category_code":     "hws.resource.storage1.evs",
			"discounts":         []map[string]any{{"discount_type": "605", "discount_amount": "30.00"}},
			"base_product_info": map[string]any{"product_id": "OFFIEBS0000", "product_spec_desc": "EVS 40 GB"},
		}},
	}
}

func TestOrderResponseShapes(t *testing.T) {
	e := newEnv(t, nil, Options{})
	expect(t, e.admin(http.MethodPost, "/_sim/orders", richOrder()), http.StatusOK, "")

	r := e.call(http.MethodGet, "/v2/orders/customer-orders", url.Values{"method": {"sub_customer"}, "order_id": {"CS2026112700001"}}, nil)
	expect(t, r, http.StatusOK, "")
	var list struct {
		Infos []map[string]json.RawMessage `json:"order_infos"`
	}
	r.decode(t, &list)
	if len(list.Infos) != 1 {
		t.Fatalf("orders = %s", r.body)
	}
	o := list.Infos[0]
	for field, want := range map[string]string{
		"order_type":          `3`,
		"contract_id":         `"CT-0001"`,
		"enterprise_projects": `[{"id":"0","name":"default"},{"id":"ep-1","name":"research"}]`,
		"amount_info":         `{"discounts":[{"discount_type":"605","discount_amount":30.00}],"flexipurchase_coupon_amount":0.00,"coupon_amount":5.00,"stored_card_amount":0.00,"commission_amount":0.00,"consumed_amount":0.00}`,
	} {
		if got := string(o[field]); got != want {
			t.Errorf("order_infos[0].%s = %s, want %s", field, got, want)
		}
	}
	var subs []map[string]json.RawMessage
	if err := json.Unmarshal(o["sub_order_infos"], &subs); err != nil || len(subs) != 2 {
		t.Fatalf("sub_order_infos = %s (%v)", o["sub_order_infos"], err)
	}
	if string(subs[0]["order_type"]) != `3` || string(subs[1]["order_type"]) != `2` || string(subs[0]["customer_id"]) != `"cust-team-a-0001"` ||
		string(subs[0]["status"]) != `5` || string(subs[0]["enterprise_projects"]) != `[]` || subs[0]["user_name"] != nil {
		t.Errorf("sub_order_infos = %s", o["sub_order_infos"])
	}

	r = e.call(http.MethodGet, detailsPrefix+"CS2026112700001", nil, nil)
	expect(t, r, http.StatusOK, "")
	var det struct {
		Info  map[string]json.RawMessage   `json:"order_info"`
		Items []map[string]json.RawMessage `json:"order_line_items"`
	}
	r.decode(t, &det)
	// CustomerOrderV3 has no enterprise_projects; OrderLineItemEntityV2 no measure_id.
	if string(det.Info["order_type"]) != `3` || det.Info["enterprise_projects"] != nil || det.Info["sub_order_infos"] == nil {
		t.Errorf("order_info = %s", r.body)
	}
	if len(det.Items) != 1 {
		t.Fatalf("order_line_items = %s", r.body)
	}
	it := det.Items[0]
	for field, want := range map[string]string{
		"service_type_name":     `"Elastic Volume Service"`,
		"product_owner_service": `"hws.service.type.ebs"`,
		"commercial_resource":   `"hws.resource.type.ebs"`,
		"category_code":         `"hws.resource.storage1.evs"`,
		"base_product_info":     `{"product_id":"OFFIEBS0000","product_spec_desc":"EVS 40 GB"}`,
	} {
		if got := string(it[field]); got != want {
			t.Errorf("order_line_items[0].%s = %s, want %s", field, got, want)
		}
	}
	if it["measure_id"] != nil || !strings.Contains(string(it["amount_info"]), `"discounts":[{"discount_type":"605","discount_amount":30.00}]`) {
		t.Errorf("order_line_items[0] = %s", r.body)
	}

	// The seeded orders: an integer type, [] for the empty arrays.
	r = e.call(http.MethodGet, "/v2/orders/customer-orders", url.Values{"method": {"sub_customer"}, "order_id": {"CS2026000000002"}}, nil)
	expect(t, r, http.StatusOK, "")
	if !strings.Contains(string(r.body), `"order_type":2,`) || !strings.Contains(string(r.body), `"discounts":[]`) ||
		!strings.Contains(string(r.body), `"enterprise_projects":[]`) || strings.Contains(string(r.body), `sub_order_infos`) {
		t.Errorf("seeded order = %s", r.body)
	}
}

func TestOrderResponsesDecodeWithOurClient(t *testing.T) {
	e := newEnv(t, nil, Options{})
	expect(t, e.admin(http.MethodPost, "/_sim/orders", richOrder()), http.StatusOK, "")
	c, err := bss.New(bss.Config{
		Endpoint: e.srv.URL, DomainID: DefaultDomainID, Now: func() time.Time { return testNow },
		Credentials: sign.Credentials{AccessKey: DefaultAccessKey, SecretKey: DefaultSecretKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	list, err := c.ListOrders(ctx, bss.ListOrdersRequest{Method: bss.MethodSubCustomer, OrderID: "CS2026112700001"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Orders) != 1 {
		t.Fatalf("orders = %+v", list)
	}
	o := list.Orders[0]
	if o.OrderType != "3" || o.ContractID != "CT-0001" || o.AmountInfo == nil || o.AmountInfo.CouponAmount != amt("5.00") ||
		!slices.Equal(o.AmountInfo.Discounts, []bss.OrderDiscount{{DiscountType: "605", DiscountAmount: amt("30.00")}}) ||
		!slices.Equal(o.EnterpriseProjects, []bss.EnterpriseProject{{ID: "0", Name: "default"}, {ID: "ep-1", Name: "research"}}) ||
		len(o.SubOrderInfos) != 2 || o.SubOrderInfos[1].OrderType != "2" || o.SubOrderInfos[1].AmountAfterDiscount != amt("50.00") {
		t.Errorf("order = %+v", o)
	}
	det, err := c.GetOrderDetails(ctx, "CS2026112700001", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(det.OrderLineItems) != 1 {
		t.Fatalf("details = %+v", det)
	}
	li := det.OrderLineItems[0]
	if det.OrderInfo.OrderType != "3" || len(det.OrderInfo.SubOrderInfos) != 2 || li.ServiceTypeName != "Elastic Volume Service" ||
		li.ProductOwnerService != "hws.service.type.ebs" || li.CommercialResource != "hws.resource.type.ebs" ||
		li.CategoryCode != "hws.resource.storage1.evs" || li.AmountInfo == nil || len(li.AmountInfo.Discounts) != 1 {
		t.Errorf("details = %+v, line item %+v", det.OrderInfo, li)
	}
}

func TestCouponUseLimits(t *testing.T) {
	e := newEnv(t, nil, Options{})
	limits := []map[string]any{
		{"limit_key": "cloudServiceType", "value1": "hws.service.type.ec2", "limit_type": "1", "promotion_plan_id": "PP-1"},
		{"use_limiti_info_id": "UL-2", "limit_key": "minConsumeAmount", "value1": "100", "value_unit": "1"},
	}
	ar := e.admin(http.MethodPost, "/_sim/coupons", map[string]any{"id": "CP2026112700001", "plan_name": "Limited voucher", "balance": "300.00", "use_limits": limits})
	expect(t, ar, http.StatusOK, "")
	var created Coupon
	ar.decode(t, &created)
	if created.DomainID != DefaultDomainID || created.EffectiveTime.IsZero() || !created.ExpireTime.After(created.EffectiveTime) ||
		len(created.UseLimits) != 2 || created.UseLimits[0].ID != "CP2026112700001-1" || created.UseLimits[1].ID != "UL-2" {
		t.Fatalf("created coupon = %s", ar.body)
	}
	var total money.Amount
	for _, c := range e.master().Coupons {
		total = total.Add(c.Balance)
	}
	if total != amt("3800.00") {
		t.Errorf("master coupons hold %s, want 3800.00", total)
	}
	e.checkInvariants()

	r := e.call(http.MethodGet, ma+"transfer-coupons", url.Values{"limit": {"100"}}, nil)
	expect(t, r, http.StatusOK, "")
	wantLimits := `"use_limits":[{"use_limiti_info_id":"CP2026112700001-1","limit_key":"cloudServiceType","value1":"hws.service.type.ec2","limit_type":"1","promotion_plan_id":"PP-1"},` +
		`{"use_limiti_info_id":"UL-2","limit_key":"minConsumeAmount","value1":"100","value_unit":"1"}]`
	if !strings.Contains(string(r.body), wantLimits) || !strings.Contains(string(r.body), `"use_limits":[]`) {
		t.Errorf("transfer-coupons = %s", r.body)
	}
	r = e.call(http.MethodPost, ma+"transfer-coupon", nil, map[string]any{"customer_id": "cust-team-b-0001", "coupon_id": "CP2026112700001", "amount": "50.00", "trans_id": "limits-1"})
	expect(t, r, http.StatusOK, "")
	r = e.call(http.MethodGet, ma+"retrieve-coupons", url.Values{"sub_customer_id": {"cust-team-b-0001"}}, nil)
	expect(t, r, http.StatusOK, "")
	if !strings.Contains(string(r.body), wantLimits) {
		t.Errorf("retrieve-coupons = %s", r.body)
	}
	e.checkInvariants()

	for name, body := range map[string]map[string]any{
		"no balance":        {"plan_name": "x"},
		"no limit key":      {"balance": "1.00", "use_limits": []map[string]any{{"value1": "1"}}},
		"taken id":          {"id": "CP2026110100001", "balance": "1.00"},
		"expiry not after":  {"balance": "1.00", "effective_time": "2026-11-27T00:00:00Z", "expire_time": "2026-11-27T00:00:00Z"},
		"unknown master id": {"balance": "1.00", "domain_id": "nobody"},
	} {
		if r := e.admin(http.MethodPost, "/_sim/coupons", body); r.status != http.StatusBadRequest {
			t.Errorf("%s: got %d %s, want 400", name, r.status, r.body)
		}
	}
}

func TestAdminOrgs(t *testing.T) {
	e := newEnv(t, nil, Options{})
	ar := e.admin(http.MethodPost, "/_sim/orgs", map[string]any{"name": "Platform", "parent_id": "1234567890"})
	expect(t, ar, http.StatusOK, "")
	var o OrgUnit
	ar.decode(t, &o)
	if len(o.ID) != 10 || o.RelationID != "rel-"+o.ID || o.DomainID != DefaultDomainID {
		t.Fatalf("org = %s", ar.body)
	}
	r := e.call(http.MethodGet, ma+"enterprise-organizations", url.Values{"recursive_query": {"1"}}, nil)
	expect(t, r, http.StatusOK, "")
	want := `{"relation_id":"rel-1234567890","id":"1234567890","name":"R\u0026D","child_nodes":[{"relation_id":"rel-` + o.ID + `","id":"` + o.ID + `","name":"Platform"}]}`
	if !strings.Contains(string(r.body), want) {
		t.Errorf("organizations = %s, want it to contain %s", r.body, want)
	}
	for name, body := range map[string]map[string]any{
		"no name":        {"id": "42"},
		"not digits":     {"name": "x", "id": "4a"},
		"taken":          {"name": "x", "id": "1234567891"},
		"unknown parent": {"name": "x", "parent_id": "999"},
	} {
		if r := e.admin(http.MethodPost, "/_sim/orgs", body); r.status != http.StatusBadRequest {
			t.Errorf("%s: got %d %s, want 400", name, r.status, r.body)
		}
	}
}

func TestChangeRecordsHaveNoTradeType(t *testing.T) {
	e := newEnv(t, nil, Options{})
	expect(t, e.transfer("cust-team-a-0001", "10.00", "shape-1", nil), http.StatusNoContent, "")
	r := e.call(http.MethodGet, "/v2/accounts/customer-accounts/account-change-records", url.Values{"balance_type": {BalanceTypeDebit}}, nil)
	expect(t, r, http.StatusOK, "")
	if !strings.Contains(string(r.body), `"trade_detail_type":"BEADJUST"`) || strings.Contains(string(r.body), `"trade_type"`) {
		t.Errorf("change records = %s", r.body)
	}
}

func TestOrderTypeMustBeDigits(t *testing.T) {
	st := DefaultStateAt(testNow)
	st.Orders[0].OrderType = "new"
	if _, err := New(st, Options{}); err == nil || !strings.Contains(err.Error(), "order_type") {
		t.Errorf("New with order_type \"new\" = %v, want an order_type error", err)
	}
	st = DefaultStateAt(testNow)
	st.Orders[0].SubOrders = []Order{{OrderID: "CS2026000000001", OrderType: "1"}}
	if _, err := New(st, Options{}); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("New with a sub-order id taken = %v, want a duplicate error", err)
	}
	e := newEnv(t, nil, Options{})
	for _, typ := range []string{"-1", "+2", "x"} {
		if r := e.admin(http.MethodPost, "/_sim/orders", map[string]any{"customer_id": "cust-team-a-0001", "order_type": typ}); r.status != http.StatusBadRequest {
			t.Errorf("order_type %q: got %d %s, want 400", typ, r.status, r.body)
		}
	}
	for name, sub := range map[string]map[string]any{
		"taken id":         {"order_id": "CS2026000000001"},
		"unknown customer": {"customer_id": "nobody"},
		"nested":           {"sub_orders": []map[string]any{{}}},
		"bad discount":     {"discounts": []map[string]any{{"discount_type": "x", "discount_amount": "1.00"}}},
	} {
		body := map[string]any{"customer_id": "cust-team-a-0001", "sub_orders": []map[string]any{sub}}
		if r := e.admin(http.MethodPost, "/_sim/orders", body); r.status != http.StatusBadRequest {
			t.Errorf("sub-order %s: got %d %s, want 400", name, r.status, r.body)
		}
	}
	if n := len(e.sim.Snapshot().Orders); n != 4 {
		t.Errorf("%d orders after rejected creations, want the 4 seeded", n)
	}
}

func TestDeepCopyOfOrderAndCouponDetails(t *testing.T) {
	st := DefaultStateAt(testNow)
	st.Coupons[0].UseLimits = []CouponUseLimit{{ID: "u", LimitKey: "k"}}
	st.Orders[0].Discounts = []OrderDiscount{{DiscountType: "301", DiscountAmount: amt("1.00")}}
	st.Orders[0].SubOrders = []Order{{OrderID: "CS9", OrderType: "1", Discounts: []OrderDiscount{{DiscountType: "301"}}}}
	st.Orders[0].LineItems[0].BaseProductInfo = &ProductInfo{ProductID: "p"}
	c := st.DeepCopy()
	c.Coupons[0].UseLimits[0].LimitKey = "changed"
	c.Orders[0].Discounts[0].DiscountType = "changed"
	c.Orders[0].SubOrders[0].Discounts[0].DiscountType = "changed"
	c.Orders[0].LineItems[0].BaseProductInfo.ProductID = "changed"
	if st.Coupons[0].UseLimits[0].LimitKey != "k" || st.Orders[0].Discounts[0].DiscountType != "301" ||
		st.Orders[0].SubOrders[0].Discounts[0].DiscountType != "301" || st.Orders[0].LineItems[0].BaseProductInfo.ProductID != "p" {
		t.Error("DeepCopy shares coupon use limits, order discounts, sub-orders or base product info")
	}
}

// keysOf returns the sorted keys of a JSON object.
func keysOf(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s is not an object: %v", raw, err)
	}
	return slices.Sorted(maps.Keys(m))
}

// TestCostAndPackageResponseShapes pins the JSON types of the cost and
// resource package responses: ListCosts amounts are strings (Cost,
// CostDataByDimension), monthly-breakdown amounts decimals
// (NvlCostAnalysedBillDetail), a package's free resource amounts strings
// in ListFreeResourceInfos (FreeResourceV3) and decimals in
// ListFreeResourceUsages (FreeResourceDetail).
func TestCostAndPackageResponseShapes(t *testing.T) {
	e := newEnv(t, nil, Options{})
	r := e.call(http.MethodPost, costsPath, nil, withFilters(
		costsBody(1, "2026-11-26", "2026-11-27", "AMORTIZED_COST", "PAYMENT_AMOUNT", DimensionAccount, DimensionChargingMode),
		filter(0, DimensionAccount, teamA)))
	expect(t, r, http.StatusOK, "")
	want := `{"currency":"CNY","total_count":2,"cost_data":[` +
		`{"dimensions":[{"key":"ASSOCIATED_ACCOUNT","value":"cust-team-a-0001"},{"key":"CHARGING_MODE","value":"1"}],` +
		`"costs":[{"time_dimension_value":"2026-11-26","time_measure_id":1,"amount":"3.29","official_amount":"3.29"}],"amount_by_costs":"3.29","official_amount_by_costs":"3.29"},` +
		`{"dimensions":[{"key":"ASSOCIATED_ACCOUNT","value":"cust-team-a-0001"},{"key":"CHARGING_MODE","value":"3"}],` +
		`"costs":[{"time_dimension_value":"2026-11-26","time_measure_id":1,"amount":"5.77","official_amount":"5.77"}],"amount_by_costs":"5.77","official_amount_by_costs":"5.77"}]}`
	if string(r.body) != want {
		t.Errorf("ListCosts = %s\nwant       %s", r.body, want)
	}

	r = e.call(http.MethodGet, breakdownPath, url.Values{"shared_month": {"2026-11"}, "method": {"sub_customer"}, "sub_customer_id": {teamA}, "charging_mode": {"1"}}, nil)
	expect(t, r, http.StatusOK, "")
	var bd struct {
		Details []json.RawMessage `json:"details"`
	}
	r.decode(t, &bd)
	if len(bd.Details) != 1 {
		t.Fatalf("breakdown = %s", r.body)
	}
	wantKeys := []string{
		"amortized_bonus_amount", "amortized_cash_amount", "amortized_coupon_amount", "amortized_credit_amount",
		"amortized_flexipurchase_coupon_amount", "amortized_stored_value_card_amount", "bill_cycle", "bill_type", "charging_mode",
		"consume_amount", "current_month_amortized_amount", "customer_id", "future_months_amortized_amount", "order_id",
		"past_months_amortized_amount", "period_type", "resource_type_code", "resource_type_name", "service_type_code",
		"service_type_name", "shared_month",
	}
	if got := keysOf(t, bd.Details[0]); !slices.Equal(got, wantKeys) {
		t.Errorf("detail keys %v, want %v", got, wantKeys)
	}
	for _, frag := range []string{`"consume_amount":1200.00`, `"current_month_amortized_amount":85.48`, `"period_type":19`, `"bill_type":1`, `"charging_mode":1`} {
		if !strings.Contains(string(bd.Details[0]), frag) {
			t.Errorf("detail %s lacks %s", bd.Details[0], frag)
		}
	}

	r = e.call(http.MethodPost, packagesPath, nil, map[string]any{"order_id": "CS2025000000101"})
	expect(t, r, http.StatusOK, "")
	want = `{"free_resource_packages":[{"order_instance_id":"pkg-obs-standard-500g-0001","order_id":"CS2025000000101","product_id":"OFFIOBSPKG0500",` +
		`"product_name":"OBS standard storage package 500 GB (1 year)","enterprise_project_scope":0,"effective_time":"2025-12-06T16:00:00Z",` +
		`"expire_time":"2026-12-06T16:00:00Z","status":1,"service_type_code":"hws.service.type.obs","service_type_name":"Object Storage Service",` +
		`"region_code":"cn-north-4","source_type":0,"bundle_type":"ATOMIC_PKG","quota_reuse_mode":2,"free_resources":[{"free_resource_id":"` + obsFR +
		`","usage_type_name":"Standard storage capacity","amount":"412.50","original_amount":"500.00","measure_id":10}]}],"total_count":1}`
	if string(r.body) != want {
		t.Errorf("ListFreeResourceInfos = %s\nwant                    %s", r.body, want)
	}

	r = e.call(http.MethodPost, usagesPath, nil, map[string]any{"free_resource_ids": []string{obsFR}})
	expect(t, r, http.StatusOK, "")
	want = `{"free_resources":[{"free_resource_id":"` + obsFR + `","free_resource_type_name":"Standard storage","usage_type_name":"Standard storage capacity",` +
		`"start_time":"2025-12-06T16:00:00Z","end_time":"2026-12-06T16:00:00Z","amount":412.50,"original_amount":500.00,"measure_id":10}]}`
	if string(r.body) != want {
		t.Errorf("ListFreeResourceUsages = %s\nwant                     %s", r.body, want)
	}
}

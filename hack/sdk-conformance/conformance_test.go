package sdkconformance

import (
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	bssv2 "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/bss/v2"
)

// Credentials of the simulator's default master (bsssim.DefaultAccessKey,
// DefaultSecretKey and DefaultDomainID).
const (
	masterAK     = "BSSSIMAK000000000001"
	masterSK     = "bsssimSecretKey0000000000000000000000000"
	masterDomain = "0c5a17e0d0d0400f8e1b5a51a0000001"
)

// suite is one simulator, the SDK clients that call it and what the rows
// learn on the way.
type suite struct {
	sim *simulator
	rec *recorder
	// master signs as the default master; sub as the seeded sub-account
	// with its own keys; stranger with an access key the simulator does
	// not know; wrongDomain with the master's keys and another
	// X-Domain-Id.
	master, sub, stranger, wrongDomain *bssv2.BssClient

	orgID        string // the seeded org unit
	creditExpiry string // a master credit ledger's expire_time
	subCouponID  string // carved out of couponID by ClaimEnterpriseMultiAccountCoupon
}

// TestConformance runs every row of operations() through the official SDK
// against a seeded bss-simulator process.
func TestConformance(t *testing.T) {
	start := time.Now()
	bin := buildSimulator(t)
	built := time.Now()
	// No throttling, no default consumption and immediate sub-account
	// creation keep the figures exact; seed turns consumption on for one
	// sub-account for a while.
	sim := startSimulator(t, bin, "--throttle", "0", "--consumption-rate", "0", "--creation-delay", "0", "--seed", "13")
	s := &suite{sim: sim, rec: newRecorder()}
	s.master = newSDKClient(t, sim.url, s.rec, masterAK, masterSK, masterDomain)
	s.sub = newSDKClient(t, sim.url, s.rec, subAK, subSK, subID)
	s.stranger = newSDKClient(t, sim.url, s.rec, "SDKCUNKNOWNAK0000001", masterSK, masterDomain)
	s.wrongDomain = newSDKClient(t, sim.url, s.rec, masterAK, masterSK, "0c5a17e0d0d0400f8e1b5a51a0000002")
	s.seed(t)

	for _, op := range operations() {
		t.Run(op.name, func(t *testing.T) {
			c := &opCtx{s: s, op: &op, rec: s.rec, seen: map[string]bool{}}
			op.run(t, c)
			if c.successes == 0 || c.failures == 0 {
				t.Errorf("%s made %d successful and %d failing calls: every row needs at least one of each", op.name, c.successes, c.failures)
			}
			if !t.Failed() {
				checkFilled(t, &op, c.seen)
			}
		})
	}

	var check struct {
		OK     bool     `json:"ok"`
		Errors []string `json:"errors"`
	}
	sim.admin(t, http.MethodGet, "/_sim/check", nil, &check)
	if !check.OK {
		t.Errorf("the simulator's books do not balance after the suite: %v", check.Errors)
	}
	t.Logf("simulator built in %s; seeding and %d operations took %s", built.Sub(start).Round(time.Millisecond), len(operations()), time.Since(built).Round(time.Millisecond))
}

// checkFilled fails for every field of the operation's response model that
// no successful response carried, unless the row lists it in unfilled, and
// for every field listed there that was filled after all.
func checkFilled(t *testing.T, op *operation, seen map[string]bool) {
	t.Helper()
	m, ok := reflect.TypeFor[*bssv2.BssClient]().MethodByName(op.name)
	if !ok {
		t.Fatalf("the SDK's BssClient has no method %s", op.name)
	}
	respType := m.Type.Out(0).Elem()
	for _, p := range modelPaths(respType) {
		switch {
		case !seen[p] && !slices.Contains(op.unfilled, p):
			t.Errorf("%s.%s: no response carried this field; fill it in the simulator (and assert it here) or list it in the row's unfilled with why", respType.Name(), p)
		case seen[p] && slices.Contains(op.unfilled, p):
			t.Errorf("%s.%s is listed in unfilled but a response carried it; remove it from the list", respType.Name(), p)
		}
	}
}

// seed adds, through /_sim/, what makes every list of every operation
// non-empty: an org unit below R&D, a sub-account with its own keys in it,
// money and consumption (bills, change records and costs), a coupon with
// use limits, a combined order with discounts, enterprise projects,
// sub-orders and line items, and a resource package of the sub-account in
// an enterprise project.
func (s *suite) seed(t *testing.T) {
	t.Helper()
	var org struct {
		ID string `json:"id"`
	}
	s.sim.admin(t, http.MethodPost, "/_sim/orgs", map[string]any{"name": orgName, "parent_id": orgRnD}, &org)
	s.orgID = org.ID
	s.sim.admin(t, http.MethodPost, "/_sim/subaccounts", map[string]any{
		"id": subID, "name": subName, "display_name": "SDK conformance team", "org_id": s.orgID,
		"service_type_code": "hws.service.type.obs", "access_key": subAK, "secret_key": subSK,
	}, nil)
	s.sim.admin(t, http.MethodPost, "/_sim/funds", map[string]any{"amount": "5000.00"}, nil)
	s.sim.admin(t, http.MethodPost, "/_sim/funds", map[string]any{"customer_id": subID, "amount": "100.00"}, nil)
	// Three simulated hours at 3.00 an hour: a bill and DEDEUCT records.
	s.sim.admin(t, http.MethodPost, "/_sim/consumption", map[string]any{"customer_id": subID, "rate": "3.00"}, nil)
	s.sim.admin(t, http.MethodPost, "/_sim/advance", map[string]any{"duration": "3h"}, nil)
	s.sim.admin(t, http.MethodPost, "/_sim/consumption", map[string]any{"customer_id": subID, "rate": "0"}, nil)
	s.sim.admin(t, http.MethodPost, "/_sim/coupons", map[string]any{
		"id": couponID, "plan_name": "SDK conformance voucher", "balance": "800.00",
		"use_limits": []map[string]any{
			{"limit_key": "cloudServiceType", "value1": "hws.service.type.ec2", "limit_type": "1", "promotion_plan_id": "PP-SDKC-1"},
			{"use_limiti_info_id": "UL-SDKC-2", "limit_key": "consumeAmount", "value1": "100", "value2": "10000", "value_unit": "1", "limit_type": "2"},
		},
	}, nil)
	s.seedPendingOrders(t)
	// A gift package of the sub-account's in an enterprise project.
	s.sim.admin(t, http.MethodPost, "/_sim/packages", map[string]any{
		"customer_id": subID, "product_name": "SDK conformance gift package", "service_type_code": "hws.service.type.obs",
		"region_code": "cn-north-4", "enterprise_project_id": subPackageEP, "source_type": 1,
		"free_resources": []map[string]any{{"usage_type_name": "Standard storage capacity", "original_amount": "40.00"}},
	}, nil)
	discount := func(amount string) []map[string]any {
		return []map[string]any{{"discount_type": "605", "discount_amount": amount}}
	}
	base := map[string]any{
		"product_id": "OFFIEBS0000", "product_spec_desc": "EVS 40 GB", "category_code": "hws.resource.storage1.evs",
		"product_owner_service": "hws.service.type.ebs", "commercial_resource": "hws.resource.type.ebs",
	}
	s.sim.admin(t, http.MethodPost, "/_sim/orders", map[string]any{
		"order_id": orderID, "customer_id": subID, "order_type": "3", "status": 5, "service_type_code": "hws.service.type.ebs",
		"amount_after_discount": "90.00", "official_amount": "120.00", "coupon_amount": "5.00", "contract_id": "CT-SDKC-1",
		"user_name":           "sdkc-operator",
		"discounts":           append(discount("25.00"), map[string]any{"discount_type": "301", "discount_amount": "5.00"}),
		"enterprise_projects": []map[string]any{{"id": "0", "name": "default"}, {"id": "ep-sdkc", "name": "research"}},
		"sub_orders": []map[string]any{
			{"order_id": subOrder1, "amount_after_discount": "60.00", "official_amount": "80.00", "user_name": "sdkc-operator", "discounts": discount("20.00")},
			{
				"order_id": subOrder2, "order_type": "2", "service_type_code": "hws.service.type.obs", "amount_after_discount": "30.00",
				"official_amount": "40.00", "user_name": "sdkc-operator", "contract_id": "CT-SDKC-2", "coupon_amount": "5.00",
				"enterprise_projects": []map[string]any{{"id": "ep-sdkc", "name": "research"}},
			},
		},
		"line_items": []map[string]any{
			{
				"product_id": "OFFIEBS0001", "product_spec_desc": "EVS 100 GB", "category_code": "hws.resource.storage1.evs",
				"period_type": 2, "period_num": 1, "subscription_num": 2, "amount_after_discount": "60.00", "official_amount": "80.00",
				"effective_time": "2026-11-01T00:00:00Z", "expire_time": "2026-12-01T00:00:00Z",
				"discounts": discount("20.00"), "base_product_info": base,
			},
			{
				"service_type_code": "hws.service.type.obs", "product_id": "OFFIOBS0001", "product_spec_desc": "OBS 1 TB",
				"period_type": 3, "period_num": 1, "subscription_num": 1, "amount_after_discount": "30.00", "official_amount": "40.00",
			},
		},
	}, nil)
}

// seedPendingOrders adds the sub-account's pending orders of the payment
// rows (payOrderID, offersOrderID, cancelOrderID).
func (s *suite) seedPendingOrders(t *testing.T) {
	t.Helper()
	pending := func(id, amount string, offers []map[string]any) map[string]any {
		return map[string]any{
			"order_id": id, "customer_id": subID, "status": 6, "service_type_code": "hws.service.type.ec2",
			"amount_after_discount": amount, "discount_offers": offers,
		}
	}
	s.sim.admin(t, http.MethodPost, "/_sim/orders", pending(payOrderID, "300.00", []map[string]any{
		{"id": "DSDKC-ADJ", "type": 609, "mode": 1, "amount": "20.00"},
	}), nil)
	s.sim.admin(t, http.MethodPost, "/_sim/orders", pending(offersOrderID, "200.00", []map[string]any{
		{"id": "DSDKC-PROMO", "type": 0, "mode": 0, "ratio": "0.85", "amount": "30.00"},
		{"id": "DSDKC-BIZ", "type": 2, "mode": 2, "amount": "15.00"},
	}), nil)
	s.sim.admin(t, http.MethodPost, "/_sim/orders", pending(cancelOrderID, "10.00", nil), nil)
}

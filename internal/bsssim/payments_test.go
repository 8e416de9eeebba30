package bsssim

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const (
	payPath       = "/v3/orders/customer-orders/pay"
	cancelPath    = "/v2/orders/customer-orders/cancel"
	couponsPath   = "/v2/orders/customer-orders/order-coupons"
	discountsPath = "/v2/orders/customer-orders/order-discounts"
	seededPending = "CS2026000000002" // team-a, 360.00, ec2
)

// payBodyOf is a PayOrders body without coupons or discounts.
func payBodyOf(orderID string) map[string]any {
	return map[string]any{"order_id": orderID, "use_coupon": "NO", "use_discount": "NO"}
}

// addPending creates a pending order through the admin API and returns
// its id.
func (e *env) addPending(t *testing.T, o map[string]any) string {
	t.Helper()
	r := e.admin(http.MethodPost, "/_sim/orders", o)
	expect(t, r, http.StatusOK, "")
	var got Order
	r.decode(t, &got)
	if got.Status != OrderPendingPayment {
		t.Fatalf("created order %+v, want pending", got)
	}
	return got.OrderID
}

func (e *env) order(t *testing.T, id string) Order {
	t.Helper()
	for _, o := range e.sim.Snapshot().Orders {
		if o.OrderID == id {
			return o
		}
	}
	t.Fatalf("no order %s", id)
	return Order{}
}

func TestPayOrderCashThenCredit(t *testing.T) {
	e := newEnv(t, nil, Options{})
	id := e.addPending(t, map[string]any{"customer_id": "cust-team-b-0001", "amount_after_discount": "100010.00", "service_type_code": "hws.service.type.rds"})
	credit := e.master().CreditLedgers
	expect(t, e.call(http.MethodPost, payPath, nil, payBodyOf(id)), http.StatusNoContent, "")
	m := e.master()
	if !m.Cash.IsZero() {
		t.Errorf("master cash = %s, want 0 (cash first)", m.Cash)
	}
	// The expiring ledger (listed first) pays the 10.00 the cash lacked.
	if got, want := m.CreditLedgers[0].Balance, credit[0].Balance.Sub(amt("10.00")); got != want {
		t.Errorf("expiring credit ledger = %s, want %s", got, want)
	}
	if m.CreditLedgers[1].Balance != credit[1].Balance {
		t.Errorf("permanent ledger changed: %s", m.CreditLedgers[1].Balance)
	}
	if m.Totals.OrdersPaid != amt("100010.00") {
		t.Errorf("orders_paid = %s", m.Totals.OrdersPaid)
	}
	o := e.order(t, id)
	if o.Status != OrderCompleted || o.PaymentTime == nil || !o.PaymentTime.Equal(testNow) || o.PendingPaymentEndTime != nil {
		t.Errorf("paid order = %+v", o)
	}
	var entries []LedgerEntry
	for _, le := range e.sim.Ledger() {
		if le.Operation == OpPayOrder {
			entries = append(entries, le)
		}
	}
	if len(entries) != 1 || entries[0].OrderID != id || entries[0].Amount != amt("100010.00") || entries[0].CustomerID != "cust-team-b-0001" {
		t.Errorf("pay-order entries = %+v", entries)
	}
	// Paying it again is refused and moves nothing.
	expect(t, e.call(http.MethodPost, payPath, nil, payBodyOf(id)), http.StatusBadRequest, CodeInvalidOrder)
	if e.master().Totals.OrdersPaid != amt("100010.00") {
		t.Error("a second pay moved money")
	}
	e.checkInvariants()
}

func TestPayOrderBodyRules(t *testing.T) {
	e := newEnv(t, nil, Options{})
	cp := func(ids ...string) []map[string]any {
		var out []map[string]any
		for _, id := range ids {
			out = append(out, map[string]any{"id": id, "type": 301})
		}
		return out
	}
	with := func(kv map[string]any) map[string]any {
		b := payBodyOf(seededPending)
		for k, v := range kv {
			b[k] = v
		}
		return b
	}
	disc := []map[string]any{{"id": "D1", "type": 0}}
	for name, body := range map[string]any{
		"no order_id":                  map[string]any{"use_coupon": "NO", "use_discount": "NO"},
		"use_coupon missing":           map[string]any{"order_id": seededPending, "use_discount": "NO"},
		"use_coupon lower case":        with(map[string]any{"use_coupon": "yes", "coupon_infos": cp("CP2026110100001")}),
		"YES without coupon_infos":     with(map[string]any{"use_coupon": "YES"}),
		"NO with coupon_infos":         with(map[string]any{"coupon_infos": cp("CP2026110100001")}),
		"NO with empty coupon_infos":   with(map[string]any{"coupon_infos": []any{}}),
		"four coupons":                 with(map[string]any{"use_coupon": "YES", "coupon_infos": cp("A", "B", "C", "D")}),
		"coupon type 304":              with(map[string]any{"use_coupon": "YES", "coupon_infos": []map[string]any{{"id": "CP2026110100001", "type": 304}}}),
		"same coupon twice":            with(map[string]any{"use_coupon": "YES", "coupon_infos": cp("CP2026110100001", "CP2026110100001")}),
		"two discounts":                with(map[string]any{"use_discount": "YES", "discount_infos": append(disc, map[string]any{"id": "D2", "type": 2})}),
		"NO with discount_infos":       with(map[string]any{"discount_infos": disc}),
		"YES without discount_infos":   with(map[string]any{"use_discount": "YES"}),
		"unknown coupon":               with(map[string]any{"use_coupon": "YES", "coupon_infos": cp("CP-NONE")}),
		"coupon sent with wrong type":  with(map[string]any{"use_coupon": "YES", "coupon_infos": []map[string]any{{"id": "CP2026110100001", "type": 302}}}),
		"discount the order lacks":     with(map[string]any{"use_discount": "YES", "discount_infos": disc}),
		"body is not JSON":             "{",
		"coupon_infos is not an array": with(map[string]any{"use_coupon": "YES", "coupon_infos": "CP2026110100001"}),
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, e.call(http.MethodPost, payPath, nil, body), http.StatusBadRequest, CodeParam)
		})
	}
	if o := e.order(t, seededPending); o.Status != OrderPendingPayment || !e.master().Totals.OrdersPaid.IsZero() {
		t.Errorf("a refused pay changed the order or moved money: %+v", o)
	}
	e.checkInvariants()
}

func TestPayOrderRefusals(t *testing.T) {
	e := newEnv(t, nil, Options{})
	combined := e.addPending(t, map[string]any{
		"customer_id": "cust-team-b-0001", "amount_after_discount": "30.00",
		"sub_orders": []map[string]any{{"order_id": "CS2026900000001", "amount_after_discount": "30.00"}},
	})
	big := e.addPending(t, map[string]any{"customer_id": "cust-team-b-0001", "amount_after_discount": "999999.00"})
	late := e.addPending(t, map[string]any{"customer_id": "cust-team-b-0001", "amount_after_discount": "1.00", "pending_payment_end_time": "2026-11-01T00:00:00Z"})
	for _, tc := range []struct {
		name, order, code string
	}{
		{"unknown order", "CS2099999999999", CodeInvalidOrder},
		{"sub-order of a combined order", "CS2026900000001", CodeUseCombined},
		{"completed order", "CS2026000000001", CodeInvalidOrder},
		{"cancelled order", "CS2026000000004", CodeInvalidOrder},
		{"processing order", "CS2026000000003", CodePaymentInProgress},
		{"insufficient balance", big, CodeInsufficientBalance},
		{"deadline passed", late, CodeInvalidOrder},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, e.call(http.MethodPost, payPath, nil, payBodyOf(tc.order)), http.StatusBadRequest, tc.code)
		})
	}
	if !e.master().Totals.OrdersPaid.IsZero() {
		t.Error("a refused pay moved money")
	}
	expect(t, e.call(http.MethodPost, payPath, nil, payBodyOf(combined)), http.StatusNoContent, "")
	if o := e.order(t, combined); o.Status != OrderCompleted || o.SubOrders[0].Status != OrderCompleted {
		t.Errorf("combined order after the pay = %+v", o)
	}
	e.as.AccessKey = "nope"
	expect(t, e.call(http.MethodPost, payPath, nil, payBodyOf(seededPending)), http.StatusUnauthorized, CodeAuthFailed)
	e.checkInvariants()
}

// orderCouponIDs lists the coupons ListOrderCouponsByOrderId offers for
// an order.
func (e *env) orderCouponIDs(t *testing.T, order string) []string {
	t.Helper()
	var got struct {
		Count       int `json:"count"`
		UserCoupons []struct {
			CouponID string `json:"coupon_id"`
		} `json:"user_coupons"`
	}
	r := e.call(http.MethodGet, couponsPath, url.Values{"order_id": {order}}, nil)
	expect(t, r, http.StatusOK, "")
	r.decode(t, &got)
	var ids []string
	for _, c := range got.UserCoupons {
		ids = append(ids, c.CouponID)
	}
	if got.Count != len(ids) {
		t.Errorf("count %d for %d coupons", got.Count, len(ids))
	}
	return ids
}

// payWith is a PayOrders body with a discount (none when "") and coupons.
func payWith(orderID, discount string, dtype int, coupons ...map[string]any) map[string]any {
	b := payBodyOf(orderID)
	if discount != "" {
		b["use_discount"], b["discount_infos"] = "YES", []map[string]any{{"id": discount, "type": dtype}}
	}
	if len(coupons) > 0 {
		b["use_coupon"], b["coupon_infos"] = "YES", coupons
	}
	return b
}

func TestPayOrderCouponsAndDiscounts(t *testing.T) {
	e := newEnv(t, nil, Options{})
	expect(t, e.admin(http.MethodPost, "/_sim/coupons", map[string]any{
		"id": "CPLIMITED0001", "balance": "50.00", "coupon_type": 4,
		"use_limits": []map[string]any{
			{"limit_key": LimitServiceType, "value1": "hws.service.type.ec2"},
			{"limit_key": LimitConsumeAmount, "value1": "100"},
			{"limit_key": LimitWithPromotion, "value1": "0"},
			{"limit_key": LimitMinDiscount, "value1": "0.80"},
		},
	}), http.StatusOK, "")
	offers := []map[string]any{
		{"id": "DPROMO", "type": 0, "ratio": "0.90", "amount": "20.00"},
		{"id": "DBIZ", "type": 2, "ratio": "0.70", "amount": "60.00"},
		{"id": "DCONTRACT", "type": 1, "mode": 2, "amount": "10.00"},
	}
	id := e.addPending(t, map[string]any{"customer_id": "cust-team-a-0001", "amount_after_discount": "200.00", "discount_offers": offers})
	small := e.addPending(t, map[string]any{"customer_id": "cust-team-a-0001", "amount_after_discount": "90.00"})
	obs := e.addPending(t, map[string]any{"customer_id": "cust-team-a-0001", "amount_after_discount": "150.00", "service_type_code": "hws.service.type.obs"})

	listed := func(order string) []string { return e.orderCouponIDs(t, order) }
	has := func(ids []string, id string) bool { return strings.Contains(strings.Join(ids, ","), id) }
	if !has(listed(id), "CPLIMITED0001") || has(listed(small), "CPLIMITED0001") || has(listed(obs), "CPLIMITED0001") {
		t.Errorf("the limited coupon is usable for %v / %v / %v; want only the first (service type and threshold)", listed(id), listed(small), listed(obs))
	}
	pay := func(discount string, dtype int, coupons ...map[string]any) map[string]any {
		return payWith(id, discount, dtype, coupons...)
	}
	limited := map[string]any{"id": "CPLIMITED0001", "type": 302}
	voucher := map[string]any{"id": "CP2026110100003", "type": 301}
	expect(t, e.call(http.MethodPost, payPath, nil, pay("DPROMO", 0, limited)), http.StatusBadRequest, CodeParam) // no promotion together
	expect(t, e.call(http.MethodPost, payPath, nil, pay("DBIZ", 2, limited)), http.StatusBadRequest, CodeParam)   // ratio below 0.80
	expect(t, e.call(http.MethodPost, payPath, nil, pay("DBIZ", 0, limited)), http.StatusBadRequest, CodeParam)   // wrong type
	cash := e.master().Cash
	expect(t, e.call(http.MethodPost, payPath, nil, pay("DCONTRACT", 1, limited, voucher)), http.StatusNoContent, "")
	// 200 − 10 = 190: the flexi coupon pays 50, the voucher 140, cash nothing.
	o := e.order(t, id)
	if o.AmountAfterDiscount != amt("190.00") || o.CouponAmount != amt("190.00") || len(o.Discounts) != 1 || o.Discounts[0].DiscountType != "1" {
		t.Errorf("paid order = %+v", o)
	}
	if e.master().Cash != cash {
		t.Errorf("cash moved: %s → %s", cash, e.master().Cash)
	}
	m := e.master()
	for _, c := range m.Coupons {
		switch c.ID {
		case "CPLIMITED0001":
			if !c.Balance.IsZero() || c.LastUsedTime == nil {
				t.Errorf("limited coupon = %+v", c)
			}
		case "CP2026110100003":
			if c.Balance != amt("360.00") {
				t.Errorf("voucher balance = %s, want 360.00", c.Balance)
			}
		}
	}
	e.checkInvariants()
}

func TestPayOrderPriceAdjustmentMustBeUsed(t *testing.T) {
	e := newEnv(t, nil, Options{})
	id := e.addPending(t, map[string]any{"customer_id": "cust-team-b-0001", "amount_after_discount": "100.00", "discount_offers": []map[string]any{
		{"id": "DADJ", "type": 609, "mode": 1, "amount": "30.00"}, {"id": "DPROMO", "type": 0, "ratio": "0.95", "amount": "5.00"},
	}})
	b := payBodyOf(id)
	expect(t, e.call(http.MethodPost, payPath, nil, b), http.StatusBadRequest, CodeParam)
	b["use_discount"], b["discount_infos"] = "YES", []map[string]any{{"id": "DPROMO", "type": 0}}
	expect(t, e.call(http.MethodPost, payPath, nil, b), http.StatusBadRequest, CodeParam)
	var got struct {
		Discounts []struct {
			DiscountID    string `json:"discount_id"`
			DiscountType  int    `json:"discount_type"`
			DiscountValue string `json:"discount_value"`
			Orders        []struct {
				OrderID        string `json:"order_id"`
				OrderLineItems []struct {
					IDs    []string `json:"order_line_item_ids"`
					Mode   int      `json:"discount_mode"`
					Amount float64  `json:"discount_amount"`
				} `json:"order_line_items"`
			} `json:"orders"`
		} `json:"discounts"`
	}
	r := e.call(http.MethodGet, discountsPath, url.Values{"order_id": {id}}, nil)
	expect(t, r, http.StatusOK, "")
	r.decode(t, &got)
	if len(got.Discounts) != 2 || got.Discounts[0].DiscountType != 609 || got.Discounts[1].DiscountValue != "0.95" ||
		got.Discounts[0].Orders[0].OrderID != id || got.Discounts[0].Orders[0].OrderLineItems[0].Amount != 30 ||
		len(got.Discounts[0].Orders[0].OrderLineItems[0].IDs) != 1 {
		t.Errorf("discounts = %s", r.body)
	}
	b["discount_infos"] = []map[string]any{{"id": "DADJ", "type": 609}}
	expect(t, e.call(http.MethodPost, payPath, nil, b), http.StatusNoContent, "")
	if o := e.order(t, id); o.AmountAfterDiscount != amt("70.00") || o.Status != OrderCompleted {
		t.Errorf("order = %+v", o)
	}
	e.checkInvariants()
}

func TestPayOrderProcessingWindow(t *testing.T) {
	e := newEnv(t, nil, Options{Faults: Faults{PaymentProcessing: Duration(time.Hour)}})
	expect(t, e.call(http.MethodPost, payPath, nil, payBodyOf(seededPending)), http.StatusNoContent, "")
	if o := e.order(t, seededPending); o.Status != OrderProcessing || o.PaymentTime == nil {
		t.Fatalf("order right after the pay = %+v, want processing", o)
	}
	expect(t, e.call(http.MethodPost, payPath, nil, payBodyOf(seededPending)), http.StatusBadRequest, CodePaymentInProgress)
	expect(t, e.call(http.MethodPut, cancelPath, nil, map[string]any{"order_id": seededPending}), http.StatusBadRequest, CodeNotCancellable)
	r := e.call(http.MethodGet, "/v2/orders/customer-orders", url.Values{"method": {"sub_customer"}, "status": {"3"}}, nil)
	expect(t, r, http.StatusOK, "")
	if !strings.Contains(string(r.body), seededPending) {
		t.Errorf("processing orders = %s", r.body)
	}
	e.sim.Advance(time.Hour)
	if o := e.order(t, seededPending); o.Status != OrderCompleted || o.PaymentDoneAt != nil {
		t.Errorf("order after the processing time = %+v, want completed", o)
	}
	expect(t, e.call(http.MethodPost, payPath, nil, payBodyOf(seededPending)), http.StatusBadRequest, CodeInvalidOrder)
	if got := e.master().Totals.OrdersPaid; got != amt("360.00") {
		t.Errorf("orders_paid = %s, want 360.00 once", got)
	}
	e.checkInvariants()
}

func TestPayOrderFaults(t *testing.T) {
	e := newEnv(t, nil, Options{Seed: 3})
	if err := e.sim.SetFaults(Faults{TooFrequentRate: 1}); err != nil {
		t.Fatal(err)
	}
	expect(t, e.call(http.MethodPost, payPath, nil, payBodyOf(seededPending)), http.StatusBadRequest, CodeTooFrequent)
	if err := e.sim.SetFaults(Faults{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	expect(t, e.call(http.MethodPost, payPath, nil, payBodyOf(seededPending)), http.StatusInternalServerError, CodeInternal)
	if o := e.order(t, seededPending); o.Status != OrderPendingPayment {
		t.Fatalf("refused pays changed the order: %+v", o)
	}
	if err := e.sim.SetFaults(Faults{LostResponseRate: 1}); err != nil {
		t.Fatal(err)
	}
	r := e.call(http.MethodPost, payPath, nil, payBodyOf(seededPending))
	if r.err == nil && r.status != http.StatusInternalServerError {
		t.Fatalf("lost response: got %d %s", r.status, r.body)
	}
	if err := e.sim.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	// The payment committed although its answer was lost: a resend is
	// refused and the books hold it once.
	if o := e.order(t, seededPending); o.Status != OrderCompleted {
		t.Errorf("order after the lost answer = %+v", o)
	}
	expect(t, e.call(http.MethodPost, payPath, nil, payBodyOf(seededPending)), http.StatusBadRequest, CodeInvalidOrder)
	if got := e.master().Totals.OrdersPaid; got != amt("360.00") {
		t.Errorf("orders_paid = %s", got)
	}
	e.checkInvariants()
}

func TestPayOrderOrgBudget(t *testing.T) {
	e := newEnv(t, nil, Options{})
	expect(t, e.admin(http.MethodPost, "/_sim/orgs/budget", map[string]any{"org_id": "1234567890", "budget": "400.00"}), http.StatusOK, "")
	next := e.addPending(t, map[string]any{"customer_id": "cust-team-b-0001", "amount_after_discount": "50.00"})
	expect(t, e.call(http.MethodPost, payPath, nil, payBodyOf(seededPending)), http.StatusNoContent, "") // 360 of 400
	expect(t, e.call(http.MethodPost, payPath, nil, payBodyOf(next)), http.StatusBadRequest, CodeOrgBudget)
	expect(t, e.admin(http.MethodPost, "/_sim/orgs/budget", map[string]any{"org_id": "1234567890", "budget": nil}), http.StatusOK, "")
	expect(t, e.call(http.MethodPost, payPath, nil, payBodyOf(next)), http.StatusNoContent, "")
	expect(t, e.admin(http.MethodPost, "/_sim/orgs/budget", map[string]any{"org_id": "999", "budget": "1.00"}), http.StatusBadRequest, "")
	e.checkInvariants()
}

func TestCancelOrder(t *testing.T) {
	e := newEnv(t, nil, Options{})
	expect(t, e.call(http.MethodPut, cancelPath, nil, map[string]any{}), http.StatusBadRequest, CodeParam)
	expect(t, e.call(http.MethodPut, cancelPath, nil, map[string]any{"order_id": "CS2099999999999"}), http.StatusBadRequest, CodeInvalidOrder)
	expect(t, e.call(http.MethodPut, cancelPath, nil, map[string]any{"order_id": "CS2026000000001"}), http.StatusBadRequest, CodeNotCancellable)
	expect(t, e.call(http.MethodPut, cancelPath, nil, map[string]any{"order_id": seededPending}), http.StatusNoContent, "")
	if o := e.order(t, seededPending); o.Status != OrderCancelled {
		t.Errorf("cancelled order = %+v", o)
	}
	expect(t, e.call(http.MethodPut, cancelPath, nil, map[string]any{"order_id": seededPending}), http.StatusBadRequest, CodeNotCancellable)
	expect(t, e.call(http.MethodPost, payPath, nil, payBodyOf(seededPending)), http.StatusBadRequest, CodeInvalidOrder)
	e.checkInvariants()
}

func TestCheckLedgerDetectsOrderPaidTwice(t *testing.T) {
	e := newEnv(t, nil, Options{})
	expect(t, e.call(http.MethodPost, payPath, nil, payBodyOf(seededPending)), http.StatusNoContent, "")
	e.checkInvariants()
	// Book the same payment a second time, as a simulator that paid the
	// order twice would have: the money left the master twice.
	e.sim.mu.Lock()
	var dup LedgerEntry
	for _, le := range e.sim.st.Ledger {
		if le.Operation == OpPayOrder {
			dup = le
		}
	}
	dup.TransID = "second-payment"
	e.sim.st.Ledger = append(e.sim.st.Ledger, dup)
	m := &e.sim.st.Masters[0]
	m.Cash = m.Cash.Sub(dup.Amount)
	m.Totals.OrdersPaid = m.Totals.OrdersPaid.Add(dup.Amount)
	e.sim.mu.Unlock()
	if err := e.sim.CheckConservation(); err != nil {
		t.Errorf("conservation holds for money that left twice, got %v", err)
	}
	err := e.sim.CheckLedger()
	if err == nil || !strings.Contains(err.Error(), "paid twice") {
		t.Errorf("CheckLedger = %v, want the order paid twice", err)
	}
	r := e.admin(http.MethodGet, "/_sim/check", nil)
	if !strings.Contains(string(r.body), "paid twice") {
		t.Errorf("/_sim/check = %s", r.body)
	}
}

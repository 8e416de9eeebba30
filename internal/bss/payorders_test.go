package bss

import (
	"net/http"
	"testing"
)

// TestPayAndCancelBodies checks the bodies byte for byte, in the SDK's
// field order, with coupon_infos and discount_infos only after YES.
func TestPayAndCancelBodies(t *testing.T) {
	f := newFakeBSS(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(http.StatusNoContent) })
	c := newTestClient(t, f)
	if err := c.PayOrders(t.Context(), PayOrdersRequest{OrderID: "CS1"}); err != nil {
		t.Fatal(err)
	}
	err := c.PayOrders(t.Context(), PayOrdersRequest{
		OrderID: "CS2", UseCoupon: true, Coupons: []PayCoupon{{ID: "CP1", Type: PayCouponCashVoucher}, {ID: "CP2", Type: PayCouponFlexiPurchase}},
		UseDiscount: true, Discounts: []PayDiscount{{ID: "D1", Type: DiscountTypePriceAdjustment}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CancelCustomerOrder(t.Context(), "CS3"); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	want := []struct{ method, path, body string }{
		{http.MethodPost, pathPayOrders, `{"order_id":"CS1","use_coupon":"NO","use_discount":"NO"}`},
		{http.MethodPost, pathPayOrders, `{"order_id":"CS2","use_coupon":"YES","use_discount":"YES","coupon_infos":[{"id":"CP1","type":301},{"id":"CP2","type":302}],"discount_infos":[{"id":"D1","type":609}]}`},
		{http.MethodPut, pathCancelOrder, `{"order_id":"CS3"}`},
	}
	if len(reqs) != len(want) {
		t.Fatalf("%d requests, want %d", len(reqs), len(want))
	}
	for i, w := range want {
		if reqs[i].Method != w.method || reqs[i].Path != w.path || string(reqs[i].Body) != w.body+"\n" || !reqs[i].VerifyOK {
			t.Errorf("request %d = %s %s %q (signature ok %v), want %s %s %q", i, reqs[i].Method, reqs[i].Path, reqs[i].Body, reqs[i].VerifyOK, w.method, w.path, w.body)
		}
	}
}

func TestPayCouponType(t *testing.T) {
	for in, want := range map[int]int{CouponTypeCashVoucher: 301, CouponTypeDiscount: 300, CouponTypeFlexiPurchase: 302, CouponTypeProduct: 0} {
		if got, ok := PayCouponType(in); got != want || ok != (want != 0) {
			t.Errorf("PayCouponType(%d) = %d, %v; want %d", in, got, ok, want)
		}
	}
}

func TestOrderOffersDecode(t *testing.T) {
	f := newFakeBSS(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.URL.Path == pathOrderCoupons {
			writeJSON(w, http.StatusOK, `{"count":1,"user_coupons":[{"coupon_id":"CP1","coupon_type":4,"face_value":1.0E2,"balance":12.5,"status":2,"use_limits":[{"limit_key":"minConsumeDiscount","value1":"0.8"}]}],"coupon_max_use_quantity":[{"coupon_type":4,"coupon_group":0,"use_quantity_value":3}]}`)
			return
		}
		writeJSON(w, http.StatusOK, `{"discounts":[{"discount_id":"D1","discount_value":0.85,"discount_type":0,"orders":[{"order_id":"CS1","order_line_items":[{"order_line_item_ids":["L1"],"discount_mode":0,"discount_amount":15,"discount_ratio":0.855}]}]}]}`)
	})
	c := newTestClient(t, f)
	cps, err := c.ListOrderCouponsByOrderID(t.Context(), "CS1")
	if err != nil || cps.Count != 1 || cps.Coupons[0].FaceValue != amt("100") || cps.Coupons[0].Balance != amt("12.50") ||
		cps.Coupons[0].UseLimits[0].Value1 != "0.8" || cps.MaxUseQuantity[0].UseQuantityValue != 3 {
		t.Errorf("coupons = %+v, %v", cps, err)
	}
	ds, err := c.ListOrderDiscounts(t.Context(), "CS1")
	if err != nil || len(ds.Discounts) != 1 || ds.Discounts[0].DiscountValue != "0.85" ||
		ds.Discounts[0].Orders[0].OrderLineItems[0].DiscountRatio != "0.855" || ds.Discounts[0].Orders[0].OrderLineItems[0].DiscountAmount != amt("15") {
		t.Errorf("discounts = %+v, %v", ds, err)
	}
}

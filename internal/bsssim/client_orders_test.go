package bsssim_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// seededPendingOrder is team-a's pending renewal (360.00) in the seed.
const seededPendingOrder = "CS2026000000002"

// readOffers reads the coupons and discounts of the order
// TestClientPaysSubAccountOrders pays and checks them: the third coupon
// (couponTest) with its PayOrders type, and the 609 adjustment.
func readOffers(t *testing.T, c *bss.Client, orderID string) (bss.AvailableCoupon, int, bss.AvailableDiscount) {
	t.Helper()
	ctx := testContext(t)
	coupons, err := c.ListOrderCouponsByOrderID(ctx, orderID)
	if err != nil {
		t.Fatal(err)
	}
	if coupons.Count != 3 || len(coupons.Coupons) != 3 || len(coupons.MaxUseQuantity) == 0 {
		t.Fatalf("order coupons = %+v", coupons)
	}
	cp := coupons.Coupons[2]
	payType, ok := bss.PayCouponType(cp.CouponType)
	if cp.CouponID != couponTest || cp.Balance != yuan("500.00") || cp.FaceValue != yuan("500.00") || !ok || payType != bss.PayCouponCashVoucher {
		t.Errorf("coupon = %+v (pay type %d)", cp, payType)
	}
	discounts, err := c.ListOrderDiscounts(ctx, orderID)
	if err != nil {
		t.Fatal(err)
	}
	if len(discounts.Discounts) != 1 || discounts.Discounts[0].DiscountType != bss.DiscountTypePriceAdjustment ||
		discounts.Discounts[0].Orders[0].OrderLineItems[0].DiscountAmount != yuan("50.00") || discounts.Discounts[0].DiscountValue != "50.00" {
		t.Fatalf("order discounts = %+v", discounts)
	}
	return cp, payType, discounts.Discounts[0]
}

// TestClientPaysSubAccountOrders lists the sub-accounts' pending orders,
// reads their coupons and discounts and pays them through the client.
func TestClientPaysSubAccountOrders(t *testing.T) {
	h := newHarness(t, bsssim.Options{}, nil)
	ctx := testContext(t)
	c := h.c
	o, err := h.sim.CreateOrder(bsssim.Order{
		CustomerID: teamB, AmountAfterDiscount: yuan("250.00"), ServiceTypeCode: "hws.service.type.ec2",
		DiscountOffers: []bsssim.DiscountOffer{{ID: "DADJ-1", Type: 609, Mode: 2, Amount: yuan("50.00")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pending, err := c.ListAllOrders(ctx, bss.ListOrdersRequest{Method: bss.MethodSubCustomer, Status: bss.OrderStatusPendingPayment})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, p := range pending {
		ids[p.OrderID] = p.Status == bss.OrderStatusPendingPayment
	}
	if len(pending) != 2 || !ids[seededPendingOrder] || !ids[o.OrderID] {
		t.Fatalf("pending sub-account orders = %+v", pending)
	}

	cp, payType, d := readOffers(t, c, o.OrderID)
	// The 609 adjustment must be used.
	err = c.PayOrders(ctx, bss.PayOrdersRequest{OrderID: o.OrderID})
	wantCode(t, err, "CBC.0100")
	cash := h.masterCash(t)
	err = c.PayOrders(ctx, bss.PayOrdersRequest{
		OrderID:     o.OrderID,
		UseCoupon:   true,
		Coupons:     []bss.PayCoupon{{ID: cp.CouponID, Type: payType}},
		UseDiscount: true,
		Discounts:   []bss.PayDiscount{{ID: d.DiscountID, Type: d.DiscountType}},
	})
	if err != nil {
		t.Fatalf("PayOrders: %v", err)
	}
	if h.masterCash(t) != cash {
		t.Errorf("the coupon should have paid the 200.00 left after the adjustment; cash %s → %s", cash, h.masterCash(t))
	}
	paid, err := c.ListAllOrders(ctx, bss.ListOrdersRequest{Method: bss.MethodSubCustomer, OrderID: o.OrderID})
	if err != nil {
		t.Fatal(err)
	}
	if len(paid) != 1 || paid[0].Status != bss.OrderStatusCompleted || paid[0].PaymentTime == "" ||
		paid[0].AmountAfterDiscount != yuan("200.00") || paid[0].AmountInfo == nil || paid[0].AmountInfo.CouponAmount != yuan("200.00") {
		t.Errorf("paid order = %+v", paid)
	}
	// Paying again is refused: the payment is applied once.
	if err := c.PayOrders(ctx, bss.PayOrdersRequest{OrderID: seededPendingOrder}); err != nil {
		t.Fatalf("paying %s: %v", seededPendingOrder, err)
	}
	err = c.PayOrders(ctx, bss.PayOrdersRequest{OrderID: seededPendingOrder})
	if !bss.IsTerminal(err) || bss.Code(err) != bss.CodeInvalidOrder {
		t.Errorf("second pay: %v, want terminal %s", err, bss.CodeInvalidOrder)
	}
	if got := h.masterCash(t); got != cash.Sub(yuan("360.00")) {
		t.Errorf("master cash = %s, want %s", got, cash.Sub(yuan("360.00")))
	}
}

// TestClientPayOrdersValidation: a body that breaks §4.3 is refused before
// anything is sent.
func TestClientPayOrdersValidation(t *testing.T) {
	h := newHarness(t, bsssim.Options{}, nil)
	ctx := testContext(t)
	var seen attempts
	c := h.client(t, func(cfg *bss.Config) { cfg.Observer = &seen })
	cp := func(n int) []bss.PayCoupon {
		var out []bss.PayCoupon
		for i := range n {
			out = append(out, bss.PayCoupon{ID: "CP" + string(rune('A'+i)), Type: bss.PayCouponCashVoucher})
		}
		return out
	}
	dc := []bss.PayDiscount{{ID: "D1", Type: bss.DiscountTypePromotion}}
	for name, req := range map[string]bss.PayOrdersRequest{
		"no order":                  {},
		"coupons without UseCoupon": {OrderID: "X", Coupons: cp(1)},
		"UseCoupon without coupons": {OrderID: "X", UseCoupon: true},
		"four coupons":              {OrderID: "X", UseCoupon: true, Coupons: cp(4)},
		"discount without flag":     {OrderID: "X", Discounts: dc},
		"UseDiscount without one":   {OrderID: "X", UseDiscount: true},
		"two discounts":             {OrderID: "X", UseDiscount: true, Discounts: append(dc, dc[0])},
		"coupon type from the list": {OrderID: "X", UseCoupon: true, Coupons: []bss.PayCoupon{{ID: "C", Type: 1}}},
		"unknown discount type":     {OrderID: "X", UseDiscount: true, Discounts: []bss.PayDiscount{{ID: "D", Type: 7}}},
		"coupon listed twice":       {OrderID: "X", UseCoupon: true, Coupons: append(cp(1), cp(1)...)},
		"order id over 64":          {OrderID: strings.Repeat("9", 65)},
	} {
		if err := c.PayOrders(ctx, req); !errors.Is(err, bss.ErrInvalidRequest) || !bss.IsTerminal(err) {
			t.Errorf("%s: %v, want ErrInvalidRequest", name, err)
		}
	}
	if err := c.CancelCustomerOrder(ctx, ""); !errors.Is(err, bss.ErrInvalidRequest) {
		t.Errorf("cancel without an order: %v", err)
	}
	if _, err := c.ListOrderCouponsByOrderID(ctx, ""); !errors.Is(err, bss.ErrInvalidRequest) {
		t.Errorf("coupons without an order: %v", err)
	}
	if n, _ := seen.count(t, bss.OpPayOrders); n != 0 {
		t.Errorf("%d pay requests were sent", n)
	}
}

// TestClientPayOrdersErrors: the documented refusals arrive as *bss.Error
// with their codes and classes, and a pay is never retried by the client.
func TestClientPayOrdersErrors(t *testing.T) {
	h := newHarness(t, bsssim.Options{Seed: 5}, nil)
	ctx := testContext(t)
	var seen attempts
	c := h.client(t, func(cfg *bss.Config) { cfg.Observer = &seen })
	big, err := h.sim.CreateOrder(bsssim.Order{CustomerID: teamB, AmountAfterDiscount: yuan("999999.00")})
	if err != nil {
		t.Fatal(err)
	}
	combined, err := h.sim.CreateOrder(bsssim.Order{CustomerID: teamB, AmountAfterDiscount: yuan("10.00"),
		SubOrders: []bsssim.Order{{OrderID: "CS2026800000001", AmountAfterDiscount: yuan("10.00")}}})
	if err != nil {
		t.Fatal(err)
	}
	err = c.PayOrders(ctx, bss.PayOrdersRequest{OrderID: big.OrderID})
	if !bss.IsInsufficientBalance(err) || !bss.IsTerminal(err) {
		t.Errorf("big order: %v", err)
	}
	wantCode(t, c.PayOrders(ctx, bss.PayOrdersRequest{OrderID: "CS2026800000001"}), bss.CodeUseCombinedOrder)
	wantCode(t, c.CancelCustomerOrder(ctx, "CS2026800000001"), bss.CodeUseCombinedOrder)
	wantCode(t, c.PayOrders(ctx, bss.PayOrdersRequest{OrderID: "CS2099999999999"}), bss.CodeInvalidOrder)
	if _, err := c.ListOrderDiscounts(ctx, "CS2099999999999"); bss.Code(err) != bss.CodeInvalidOrder {
		t.Errorf("discounts of an unknown order: %v", err)
	}

	// CBC.99008040 and a 500 are returned at once, never retried.
	if err := h.sim.SetFaults(bsssim.Faults{TooFrequentRate: 1}); err != nil {
		t.Fatal(err)
	}
	err = c.PayOrders(ctx, bss.PayOrdersRequest{OrderID: combined.OrderID})
	if !bss.IsTooFrequent(err) || bss.IsAmbiguousWrite(err) {
		t.Errorf("too frequent: %v", err)
	}
	if err := h.sim.SetFaults(bsssim.Faults{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	if err := c.PayOrders(ctx, bss.PayOrdersRequest{OrderID: combined.OrderID}); !bss.IsAmbiguousWrite(err) {
		t.Errorf("500: %v, want ambiguous", err)
	}
	if n, _ := seen.count(t, bss.OpPayOrders); n != 5 {
		t.Errorf("%d pay attempts for 5 calls: the client retried a pay", n)
	}
	// A processing payment answers CBC.99000088 until it completes.
	if err := h.sim.SetFaults(bsssim.Faults{PaymentProcessing: bsssim.Duration(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := c.PayOrders(ctx, bss.PayOrdersRequest{OrderID: combined.OrderID}); err != nil {
		t.Fatal(err)
	}
	err = c.PayOrders(ctx, bss.PayOrdersRequest{OrderID: combined.OrderID})
	if !bss.IsPaymentInProgress(err) || bss.IsTerminal(err) || bss.IsAmbiguousWrite(err) {
		t.Errorf("second pay while processing: %v", err)
	}
	wantCode(t, c.CancelCustomerOrder(ctx, combined.OrderID), bss.CodeOrderNotCancellable)
	h.sim.Advance(10 * time.Minute)
	got, err := c.ListAllOrders(ctx, bss.ListOrdersRequest{Method: bss.MethodSubCustomer, Status: bss.OrderStatusCompleted, OrderID: combined.OrderID})
	if err != nil || len(got) != 1 || len(got[0].SubOrderInfos) != 1 || got[0].SubOrderInfos[0].Status != bss.OrderStatusCompleted {
		t.Errorf("completed combined order = %+v, %v", got, err)
	}
}

// TestClientPayOrdersLostResponse: a pay whose answer is lost after it
// committed is ambiguous; reading the order shows it paid, and a resend is
// refused without moving money again.
func TestClientPayOrdersLostResponse(t *testing.T) {
	h := newHarness(t, bsssim.Options{Seed: 11}, nil)
	ctx := testContext(t)
	c := h.c
	cash := h.masterCash(t)
	if err := h.sim.SetFaults(bsssim.Faults{LostResponseRate: 1}); err != nil {
		t.Fatal(err)
	}
	err := c.PayOrders(ctx, bss.PayOrdersRequest{OrderID: seededPendingOrder})
	if clearErr := h.sim.SetFaults(bsssim.Faults{}); clearErr != nil {
		t.Fatal(clearErr)
	}
	if !bss.IsAmbiguousWrite(err) {
		t.Fatalf("lost answer: %v, want ambiguous", err)
	}
	orders, err := c.ListAllOrders(ctx, bss.ListOrdersRequest{Method: bss.MethodSubCustomer, OrderID: seededPendingOrder})
	if err != nil || len(orders) != 1 || orders[0].Status != bss.OrderStatusCompleted {
		t.Fatalf("order after the lost answer = %+v, %v", orders, err)
	}
	wantCode(t, c.PayOrders(ctx, bss.PayOrdersRequest{OrderID: seededPendingOrder}), bss.CodeInvalidOrder)
	if got := h.masterCash(t); got != cash.Sub(yuan("360.00")) {
		t.Errorf("master cash = %s, want one payment of 360.00 out of %s", got, cash)
	}
	m, _ := h.sim.Master("")
	if m.Totals.OrdersPaid != money.MustParse("360.00") {
		t.Errorf("orders paid = %s", m.Totals.OrdersPaid)
	}
}

// TestClientCancelsOrder cancels a pending order once.
func TestClientCancelsOrder(t *testing.T) {
	h := newHarness(t, bsssim.Options{}, nil)
	ctx := testContext(t)
	if err := h.c.CancelCustomerOrder(ctx, seededPendingOrder); err != nil {
		t.Fatal(err)
	}
	err := h.c.CancelCustomerOrder(ctx, seededPendingOrder)
	if bss.Code(err) != bss.CodeOrderNotCancellable || !bss.IsTerminal(err) {
		t.Errorf("second cancel: %v", err)
	}
	got, err := h.c.ListAllOrders(ctx, bss.ListOrdersRequest{Method: bss.MethodSubCustomer, Status: bss.OrderStatusCancelled})
	if err != nil || len(got) != 1 || got[0].OrderID != seededPendingOrder {
		t.Errorf("cancelled sub-account orders = %+v, %v", got, err)
	}
}

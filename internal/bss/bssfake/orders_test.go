package bssfake

import (
	"context"
	"errors"
	"testing"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

func TestFakePaysOnce(t *testing.T) {
	ctx := context.Background()
	b := New(money.MustParse("100.00"), nil, "sub-1")
	b.AddOrder(bss.Order{OrderID: "CS1", CustomerID: "sub-1", AmountAfterDiscount: money.MustParse("80.00")})
	b.AddOrder(bss.Order{OrderID: "CS2", CustomerID: "sub-1", AmountAfterDiscount: money.MustParse("60.00")})
	b.SetOrderOffers("CS2", []bss.AvailableCoupon{{CouponID: "CP1", CouponType: bss.CouponTypeCashVoucher, Balance: money.MustParse("40.00")}},
		[]bss.AvailableDiscount{{DiscountID: "DADJ", DiscountType: bss.DiscountTypePriceAdjustment,
			Orders: []bss.DiscountOrder{{OrderID: "CS2", OrderLineItems: []bss.DiscountOrderLine{{DiscountAmount: money.MustParse("10.00")}}}}}})
	pending, _ := b.ListAllOrders(ctx, bss.ListOrdersRequest{Status: bss.OrderStatusPendingPayment})
	if len(pending) != 2 {
		t.Fatalf("pending = %+v", pending)
	}
	b.PayProcessing = true
	if err := b.PayOrders(ctx, bss.PayOrdersRequest{OrderID: "CS1"}); err != nil {
		t.Fatal(err)
	}
	if err := b.PayOrders(ctx, bss.PayOrdersRequest{OrderID: "CS1"}); !bss.IsPaymentInProgress(err) {
		t.Errorf("second pay while processing: %v", err)
	}
	b.CompletePayments()
	if err := b.PayOrders(ctx, bss.PayOrdersRequest{OrderID: "CS1"}); bss.Code(err) != bss.CodeInvalidOrder {
		t.Errorf("pay of a completed order: %v", err)
	}
	if err := b.PayOrders(ctx, bss.PayOrdersRequest{OrderID: "CS2"}); bss.Code(err) != "CBC.0100" {
		t.Errorf("pay without the 609 adjustment: %v", err)
	}
	if err := b.PayOrders(ctx, bss.PayOrdersRequest{OrderID: "CS2", UseDiscount: true}); !errors.Is(err, bss.ErrInvalidRequest) {
		t.Errorf("invalid body: %v", err)
	}
	err := b.PayOrders(ctx, bss.PayOrdersRequest{OrderID: "CS2", UseCoupon: true, Coupons: []bss.PayCoupon{{ID: "CP1", Type: bss.PayCouponCashVoucher}},
		UseDiscount: true, Discounts: []bss.PayDiscount{{ID: "DADJ", Type: bss.DiscountTypePriceAdjustment}}})
	if err != nil {
		t.Fatal(err)
	}
	// 100 − 80 − (60 − 10 − 40) = 10
	if cash, _ := b.TransferableCash(ctx); cash != money.MustParse("10.00") {
		t.Errorf("cash = %s, want 10.00", cash)
	}
	if p := b.Payments(); p["CS1"] != 1 || p["CS2"] != 1 {
		t.Errorf("payments = %v", p)
	}
	b.AddOrder(bss.Order{OrderID: "CS3", AmountAfterDiscount: money.MustParse("11.00")})
	if err := b.PayOrders(ctx, bss.PayOrdersRequest{OrderID: "CS3"}); !bss.IsInsufficientBalance(err) {
		t.Errorf("11.00 of 10.00: %v", err)
	}
}

func TestFakeCancel(t *testing.T) {
	ctx := context.Background()
	b := New(money.Zero, nil)
	b.AddOrder(bss.Order{OrderID: "CS1"})
	if err := b.CancelCustomerOrder(ctx, "CS1"); err != nil {
		t.Fatal(err)
	}
	if err := b.CancelCustomerOrder(ctx, "CS1"); bss.Code(err) != bss.CodeOrderNotCancellable {
		t.Errorf("second cancel: %v", err)
	}
	if o, _ := b.Order("CS1"); o.Status != bss.OrderStatusCancelled {
		t.Errorf("order = %+v", o)
	}
}

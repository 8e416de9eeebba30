package bssfake

import (
	"context"
	"slices"
	"strings"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// The fake's yearly/monthly orders: pending orders of the sub-accounts
// that the master pays from its cash (PayOrders) or cancels, with the
// coupons and discounts set per order. A pay is applied at most once per
// order: paying an order again answers CBC.30000010, or CBC.99000088 while
// its payment is processing (PayProcessing).

// order is one order of the fake with what may pay it.
type order struct {
	o         bss.Order
	coupons   []bss.AvailableCoupon
	discounts []bss.AvailableDiscount
}

// AddOrder adds an order. An empty Status means pending payment (6).
func (b *BSS) AddOrder(o bss.Order) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if o.Status == 0 {
		o.Status = bss.OrderStatusPendingPayment
	}
	if b.orders == nil {
		b.orders = map[string]*order{}
	}
	if cur, ok := b.orders[o.OrderID]; ok {
		cur.o = o
		return
	}
	b.orders[o.OrderID] = &order{o: o}
	b.orderIDs = append(b.orderIDs, o.OrderID)
}

// SetOrderOffers sets the coupons and discounts usable for an order. The
// coupons' balances are what PayOrders takes from them.
func (b *BSS) SetOrderOffers(orderID string, coupons []bss.AvailableCoupon, discounts []bss.AvailableDiscount) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if o, ok := b.orders[orderID]; ok {
		o.coupons = slices.Clone(coupons)
		o.discounts = slices.Clone(discounts)
	}
}

// Order returns an order as it is now.
func (b *BSS) Order(orderID string) (bss.Order, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.orders[orderID]
	if !ok {
		return bss.Order{}, false
	}
	return o.o, true
}

// Payments returns how many times each order was paid (applied, not
// refused): a correct caller never makes it exceed 1.
func (b *BSS) Payments() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]int, len(b.paid))
	for k, v := range b.paid {
		out[k] = v
	}
	return out
}

// CompletePayments moves every order whose payment is processing (status
// 3, see PayProcessing) to completed (5).
func (b *BSS) CompletePayments() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, o := range b.orders {
		if o.o.Status == bss.OrderStatusProcessing {
			o.o.Status = bss.OrderStatusCompleted
		}
	}
}

// ListAllOrders returns the orders matching req's OrderID, CustomerID and
// Status, in the order they were added. Method is not modelled: the fake
// has only the sub-accounts' orders.
func (b *BSS) ListAllOrders(_ context.Context, req bss.ListOrdersRequest) ([]bss.Order, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read(bss.OpListCustomerOrders)
	var out []bss.Order
	for _, id := range b.orderIDs {
		o := b.orders[id].o
		if (req.OrderID != "" && !strings.EqualFold(req.OrderID, o.OrderID)) ||
			(req.CustomerID != "" && req.CustomerID != o.CustomerID) || (req.Status != 0 && req.Status != o.Status) {
			continue
		}
		out = append(out, o)
	}
	return out, nil
}

// GetOrderDetails returns the order without line items: the fake models
// none. CBC.30000010 for an unknown order.
func (b *BSS) GetOrderDetails(_ context.Context, orderID string, _, _ int) (*bss.OrderDetailsResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read(bss.OpShowCustomerOrderDetails)
	for _, id := range b.orderIDs {
		if o := b.orders[id].o; strings.EqualFold(o.OrderID, orderID) {
			return &bss.OrderDetailsResponse{OrderInfo: o}, nil
		}
	}
	return nil, &bss.Error{HTTPStatus: 400, Code: bss.CodeInvalidOrder, Message: "invalid order " + orderID}
}

// ListOrderCouponsByOrderID returns the coupons set for the order.
func (b *BSS) ListOrderCouponsByOrderID(_ context.Context, orderID string) (*bss.OrderCouponsResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read(bss.OpListOrderCouponsByOrderID)
	o, ok := b.orders[orderID]
	if !ok {
		return nil, apiErr(bss.OpListOrderCouponsByOrderID, bss.CodeInvalidOrder, "The order is invalid.")
	}
	return &bss.OrderCouponsResponse{Count: len(o.coupons), Coupons: slices.Clone(o.coupons)}, nil
}

// ListOrderDiscounts returns the discounts set for the order.
func (b *BSS) ListOrderDiscounts(_ context.Context, orderID string) (*bss.OrderDiscountsResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read(bss.OpListOrderDiscounts)
	o, ok := b.orders[orderID]
	if !ok {
		return nil, apiErr(bss.OpListOrderDiscounts, bss.CodeInvalidOrder, "The order is invalid.")
	}
	return &bss.OrderDiscountsResponse{Discounts: slices.Clone(o.discounts)}, nil
}

// PayOrders pays a pending order from the master's cash, after the
// discount and the coupons; Fault is consulted as for the money writes.
func (b *BSS) PayOrders(_ context.Context, req bss.PayOrdersRequest) error {
	if err := req.Validate(); err != nil {
		return err
	}
	var before, after error
	if b.Fault != nil {
		before, after = b.Fault(bss.OpPayOrders)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Calls[bss.OpPayOrders]++
	if before != nil {
		return before
	}
	o, err := b.payableOrder(req.OrderID)
	if err != nil {
		return err
	}
	due, err := o.due(req)
	if err != nil {
		return err
	}
	if b.cash.Cmp(due) < 0 {
		return apiErr(bss.OpPayOrders, bss.CodeInsufficientBalance, "Insufficient balance.")
	}
	b.cash = b.cash.Sub(due)
	o.o.Status = bss.OrderStatusCompleted
	if b.PayProcessing {
		o.o.Status = bss.OrderStatusProcessing
	}
	o.o.PaymentTime = "2026-01-01T00:00:00Z"
	if b.paid == nil {
		b.paid = map[string]int{}
	}
	b.paid[o.o.OrderID]++
	return after
}

// payableOrder finds a pending order (callers hold b.mu).
func (b *BSS) payableOrder(id string) (*order, error) {
	o, ok := b.orders[id]
	switch {
	case !ok:
		return nil, apiErr(bss.OpPayOrders, bss.CodeInvalidOrder, "The order is invalid or does not exist.")
	case o.o.Status == bss.OrderStatusProcessing:
		return nil, apiErr(bss.OpPayOrders, bss.CodePaymentInProgress, "The payment is being processed. Do not pay again.")
	case o.o.Status != bss.OrderStatusPendingPayment:
		return nil, apiErr(bss.OpPayOrders, bss.CodeInvalidOrder, "The order is not pending payment.")
	}
	return o, nil
}

// due is what the master pays for o with req's discount and coupons;
// coupons not offered for the order, a discount not offered, or an offered
// 609 price adjustment left unused are parameter errors (CBC.0100).
func (o *order) due(req bss.PayOrdersRequest) (money.Amount, error) {
	paramErr := func(msg string) error { return apiErr(bss.OpPayOrders, "CBC.0100", msg) }
	due := o.o.AmountAfterDiscount
	for _, d := range o.discounts {
		if d.DiscountType == bss.DiscountTypePriceAdjustment && (len(req.Discounts) == 0 || req.Discounts[0].ID != d.DiscountID) {
			return 0, paramErr("The order price adjustment (609) must be used.")
		}
	}
	for _, pd := range req.Discounts {
		i := slices.IndexFunc(o.discounts, func(d bss.AvailableDiscount) bool { return d.DiscountID == pd.ID })
		if i < 0 {
			return 0, paramErr("The discount is not available for this order.")
		}
		for _, ord := range o.discounts[i].Orders {
			for _, l := range ord.OrderLineItems {
				due = money.Max(due.Sub(l.DiscountAmount), 0)
			}
		}
	}
	for _, pc := range req.Coupons {
		i := slices.IndexFunc(o.coupons, func(c bss.AvailableCoupon) bool { return c.CouponID == pc.ID })
		if i < 0 {
			return 0, paramErr("The coupon is not available for this order.")
		}
		due = money.Max(due.Sub(o.coupons[i].Balance), 0)
	}
	return due, nil
}

// CancelCustomerOrder cancels a pending order (status 4); any other status
// answers CBC.99005010.
func (b *BSS) CancelCustomerOrder(_ context.Context, orderID string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Calls[bss.OpCancelCustomerOrder]++
	o, ok := b.orders[orderID]
	switch {
	case !ok:
		return apiErr(bss.OpCancelCustomerOrder, bss.CodeInvalidOrder, "The order is invalid or does not exist.")
	case o.o.Status != bss.OrderStatusPendingPayment:
		return apiErr(bss.OpCancelCustomerOrder, bss.CodeOrderNotCancellable, "The order status does not allow cancelling.")
	}
	o.o.Status = bss.OrderStatusCancelled
	return nil
}

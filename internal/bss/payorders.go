package bss

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

const (
	pathPayOrders      = "/v3/orders/customer-orders/pay"
	pathOrderCoupons   = "/v2/orders/customer-orders/order-coupons"
	pathOrderDiscounts = "/v2/orders/customer-orders/order-discounts"
	pathCancelOrder    = "/v2/orders/customer-orders/cancel"
)

// Coupon types of PayOrdersRequest.Coupons (PayOrders' own codes, bss-api.md §4.3).
const (
	PayCouponDiscount        = 300 // discount coupon (折扣券)
	PayCouponCashVoucher     = 301 // cash voucher (代金券)
	PayCouponFlexiPurchase   = 302 // flexi-purchase coupon (现金券)
	PayCouponStoredValueCard = 303 // stored-value card
)

// Coupon types of AvailableCoupon.CouponType (ListOrderCouponsByOrderId's
// codes, bss-api.md §4.4). They are not the PayOrders codes; see
// PayCouponType.
const (
	CouponTypeCashVoucher   = 1
	CouponTypeDiscount      = 2
	CouponTypeProduct       = 3
	CouponTypeFlexiPurchase = 4
)

// Discount types of AvailableDiscount.DiscountType and PayDiscount.Type.
const (
	DiscountTypePromotion = 0
	DiscountTypeContract  = 1
	DiscountTypeBusiness  = 2
	DiscountTypePartner   = 3
	// DiscountTypePriceAdjustment is an order price adjustment (订单调价折扣).
	// When an order offers one, PayOrders must use it.
	DiscountTypePriceAdjustment = 609
)

// MaxPayCoupons is the most coupons one PayOrders call may use.
const MaxPayCoupons = 3

// PayCouponType maps a coupon type of ListOrderCouponsByOrderId (1 cash
// voucher, 2 discount coupon, 4 flexi-purchase coupon) to the type code
// PayOrders expects (301, 300, 302). ok is false for other types (3, product
// coupons, have no PayOrders code). The mapping is inferred from the two
// APIs' descriptions (bss-api.md §4.4 [INF], open question 9): verify it on
// a sandbox order before relying on it.
func PayCouponType(couponType int) (payType int, ok bool) {
	switch couponType {
	case CouponTypeCashVoucher:
		return PayCouponCashVoucher, true
	case CouponTypeDiscount:
		return PayCouponDiscount, true
	case CouponTypeFlexiPurchase:
		return PayCouponFlexiPurchase, true
	}
	return 0, false
}

// PayCoupon is one coupon to pay an order with.
type PayCoupon struct {
	// ID is AvailableCoupon.CouponID (required, ≤64 characters).
	ID string `json:"id"`
	// Type is one of the PayCoupon… codes (see PayCouponType).
	Type int `json:"type"`
}

// PayDiscount is the discount to pay an order with.
type PayDiscount struct {
	// ID is AvailableDiscount.DiscountID (required, ≤64 characters).
	ID string `json:"id"`
	// Type is AvailableDiscount.DiscountType.
	Type int `json:"type"`
}

// PayOrdersRequest pays one pending yearly/monthly order. UseCoupon and
// UseDiscount become use_coupon and use_discount (YES/NO); Coupons and
// Discounts are sent only with YES.
type PayOrdersRequest struct {
	// OrderID is the order (required, ≤64 characters); for a
	// combined-transaction order, the combined order's ID.
	OrderID string
	// UseCoupon pays with Coupons, which must then hold 1 to 3 coupons;
	// without it Coupons must be empty.
	UseCoupon bool
	// Coupons are taken from ListOrderCouponsByOrderID.
	Coupons []PayCoupon
	// UseDiscount pays with Discounts, which must then hold exactly one
	// discount; without it Discounts must be empty.
	UseDiscount bool
	// Discounts are taken from ListOrderDiscounts.
	Discounts []PayDiscount
}

// payOrdersBody is PayCustomerOrderV3Req in the SDK's field order.
type payOrdersBody struct {
	OrderID       string        `json:"order_id"`
	UseCoupon     string        `json:"use_coupon"`
	UseDiscount   string        `json:"use_discount"`
	CouponInfos   []PayCoupon   `json:"coupon_infos,omitempty"`
	DiscountInfos []PayDiscount `json:"discount_infos,omitempty"`
}

func yesNo(b bool) string {
	if b {
		return "YES"
	}
	return "NO"
}

// payCouponTypes and discountTypes are the codes the body may carry.
var (
	payCouponTypes = []int{PayCouponDiscount, PayCouponCashVoucher, PayCouponFlexiPurchase, PayCouponStoredValueCard}
	discountTypes  = []int{DiscountTypePromotion, DiscountTypeContract, DiscountTypeBusiness, DiscountTypePartner, DiscountTypePriceAdjustment}
)

// Validate reports a request that breaks the body rules of bss-api.md
// §4.3 (wrapping ErrInvalidRequest); PayOrders sends nothing then.
func (r PayOrdersRequest) Validate() error {
	v := validator{op: OpPayOrders}
	v.required("OrderID", r.OrderID, 64)
	switch {
	case r.UseCoupon && len(r.Coupons) == 0:
		v.failf("UseCoupon needs at least one coupon in Coupons")
	case !r.UseCoupon && len(r.Coupons) > 0:
		v.failf("Coupons must be empty unless UseCoupon is set (coupon_infos is refused with use_coupon NO)")
	case len(r.Coupons) > MaxPayCoupons:
		v.failf("at most %d coupons can pay one order, got %d", MaxPayCoupons, len(r.Coupons))
	}
	switch {
	case r.UseDiscount && len(r.Discounts) != 1:
		v.failf("UseDiscount needs exactly one discount in Discounts, got %d", len(r.Discounts))
	case !r.UseDiscount && len(r.Discounts) > 0:
		v.failf("Discounts must be empty unless UseDiscount is set (discount_infos is refused with use_discount NO)")
	}
	seen := map[string]bool{}
	for i, c := range r.Coupons {
		v.required("Coupons["+strconv.Itoa(i)+"].ID", c.ID, 64)
		if seen[c.ID] {
			v.failf("coupon %q is listed twice", c.ID)
		}
		seen[c.ID] = true
		if !slices.Contains(payCouponTypes, c.Type) {
			v.failf("Coupons[%d].Type must be 300, 301, 302 or 303, got %d", i, c.Type)
		}
	}
	for i, d := range r.Discounts {
		v.required("Discounts["+strconv.Itoa(i)+"].ID", d.ID, 64)
		if !slices.Contains(discountTypes, d.Type) {
			v.failf("Discounts[%d].Type must be 0, 1, 2, 3 or 609, got %d", i, d.Type)
		}
	}
	return v.err
}

// PayOrders pays a pending yearly/monthly order from the master's balance
// (POST /v3/orders/customer-orders/pay); BSS answers without a body. It is
// a money write: sent once, never retried, and serialized with the other
// money writes of the Client. The API has no idempotency key, so after an
// ambiguous failure (IsAmbiguousWrite) read the order (ListOrders with
// OrderID, or GetOrderDetails) before paying again: status 3 or 5 means
// the payment was taken. CBC.99000088 (IsPaymentInProgress) means a
// payment is being processed; CBC.99005003 insufficient balance;
// CBC.99000089 pay the combined-transaction order instead; CBC.99003198 the
// enterprise organization's budget is exhausted; CBC.30000010 invalid order.
func (c *Client) PayOrders(ctx context.Context, req PayOrdersRequest) error {
	if err := req.Validate(); err != nil {
		return err
	}
	body := payOrdersBody{
		OrderID: req.OrderID, UseCoupon: yesNo(req.UseCoupon), UseDiscount: yesNo(req.UseDiscount),
		CouponInfos: req.Coupons, DiscountInfos: req.Discounts,
	}
	return c.do(ctx, call{op: OpPayOrders, kind: kindMoneyWrite, method: http.MethodPost, path: pathPayOrders, body: body})
}

// OrderCouponsResponse lists the coupons usable for an order.
type OrderCouponsResponse struct {
	// Count is the number of coupons.
	Count int `json:"count"`
	// Coupons are the usable coupons.
	Coupons []AvailableCoupon `json:"user_coupons,omitempty"`
	// MaxUseQuantity is the most coupons of each kind usable together.
	MaxUseQuantity []CouponMaxUseQuantity `json:"coupon_max_use_quantity,omitempty"`
}

// AvailableCoupon is a coupon usable for an order (CouponInfoV2).
type AvailableCoupon struct {
	// CouponID identifies the coupon; PayCoupon.ID takes it.
	CouponID string `json:"coupon_id"`
	// CouponCode is the coupon's code.
	CouponCode string `json:"coupon_code,omitempty"`
	// Status is 1 not activated, 2 usable.
	Status int `json:"status,omitempty"`
	// CouponType is one of the CouponType… constants; see PayCouponType.
	CouponType int `json:"coupon_type,omitempty"`
	// MeasureID is the unit; 1 means yuan.
	MeasureID int `json:"measure_id,omitempty"`
	// FaceValue is the coupon's face value.
	FaceValue money.Amount `json:"face_value"`
	// Balance is what is left of it.
	Balance money.Amount `json:"balance"`
	// EffectiveTime, ExpireTime, ActiveTime, LastUsedTime and CreateTime
	// are UTC times.
	EffectiveTime string `json:"effective_time,omitempty"`
	ExpireTime    string `json:"expire_time,omitempty"`
	ActiveTime    string `json:"active_time,omitempty"`
	LastUsedTime  string `json:"last_used_time,omitempty"`
	CreateTime    string `json:"create_time,omitempty"`
	// PlanName and PlanDesc describe the promotion plan.
	PlanName string `json:"plan_name,omitempty"`
	PlanDesc string `json:"plan_desc,omitempty"`
	// UseLimits are the coupon's usage restrictions.
	UseLimits []CouponUseLimit `json:"use_limits,omitempty"`
	// CouponVersion is 1 old, 2 new.
	CouponVersion int `json:"coupon_version,omitempty"`
	// UsedByOrderID is the order that has locked the coupon, if any.
	UsedByOrderID string `json:"used_by_order_id,omitempty"`
	// CouponUsage describes the coupon's use.
	CouponUsage string `json:"coupon_usage,omitempty"`
	// CouponGroup: 0 cloud service, 1 marketplace, 2 "1024", 3 hardware.
	CouponGroup int `json:"coupon_group,omitempty"`
}

// CouponMaxUseQuantity is the most coupons of one kind usable together.
type CouponMaxUseQuantity struct {
	// CouponType is one of the CouponType… constants.
	CouponType int `json:"coupon_type,omitempty"`
	// CouponGroup is the coupon group.
	CouponGroup int `json:"coupon_group,omitempty"`
	// UseQuantityValue is the limit.
	UseQuantityValue int `json:"use_quantity_value,omitempty"`
}

// ListOrderCouponsByOrderID reads the coupons usable for an order
// (GET /v2/orders/customer-orders/order-coupons).
func (c *Client) ListOrderCouponsByOrderID(ctx context.Context, orderID string) (*OrderCouponsResponse, error) {
	v := validator{op: OpListOrderCouponsByOrderID}
	v.required("orderID", orderID, 64)
	if v.err != nil {
		return nil, v.err
	}
	q := url.Values{}
	q.Set("order_id", orderID)
	var out OrderCouponsResponse
	if err := c.do(ctx, call{op: OpListOrderCouponsByOrderID, method: http.MethodGet, path: pathOrderCoupons, query: q, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// AvailableDiscount is a discount usable for an order (DiscountInfoV3).
type AvailableDiscount struct {
	// DiscountID identifies the discount; PayDiscount.ID takes it.
	DiscountID string `json:"discount_id"`
	// DiscountValue is the ratio or amount off as text, empty for a fixed
	// price.
	DiscountValue string `json:"discount_value,omitempty"`
	// DiscountType is one of the DiscountType… constants.
	DiscountType int `json:"discount_type"`
	// Orders are the orders and lines it applies to.
	Orders []DiscountOrder `json:"orders,omitempty"`
}

// UnmarshalJSON reads discount_value as a string or a number.
func (d *AvailableDiscount) UnmarshalJSON(b []byte) error {
	type plain AvailableDiscount
	w := struct {
		*plain
		DiscountValue looseString `json:"discount_value"`
	}{plain: (*plain)(d)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	d.DiscountValue = string(w.DiscountValue)
	return nil
}

// DiscountOrder is an order a discount applies to.
type DiscountOrder struct {
	// OrderID is the order.
	OrderID string `json:"order_id"`
	// OrderLineItems are its lines, merged where the discount is the same.
	OrderLineItems []DiscountOrderLine `json:"order_line_items,omitempty"`
}

// Discount modes of DiscountOrderLine.DiscountMode.
const (
	DiscountModeRatio      = 0
	DiscountModeFixedPrice = 1
	DiscountModeAmountOff  = 2
)

// DiscountOrderLine is the discount of one or more order lines.
type DiscountOrderLine struct {
	// OrderLineItemIDs are the lines.
	OrderLineItemIDs []string `json:"order_line_item_ids,omitempty"`
	// DiscountMode is one of the DiscountMode… constants.
	DiscountMode int `json:"discount_mode"`
	// DiscountAmount is the amount taken off.
	DiscountAmount money.Amount `json:"discount_amount"`
	// DiscountRatio is the ratio as BSS writes it ("0.85"); it may have
	// more than two decimals, so it is text, not money.
	DiscountRatio string `json:"discount_ratio,omitempty"`
}

// UnmarshalJSON reads discount_ratio as a number or a string.
func (l *DiscountOrderLine) UnmarshalJSON(b []byte) error {
	type plain DiscountOrderLine
	w := struct {
		*plain
		DiscountRatio looseString `json:"discount_ratio"`
	}{plain: (*plain)(l)}
	if err := json.Unmarshal(normalizeExponents(b), &w); err != nil {
		return err
	}
	l.DiscountRatio = string(w.DiscountRatio)
	return nil
}

// OrderDiscountsResponse lists the discounts usable for an order.
type OrderDiscountsResponse struct {
	// Discounts are the usable discounts.
	Discounts []AvailableDiscount `json:"discounts,omitempty"`
}

// ListOrderDiscounts reads the discounts usable for an order
// (GET /v2/orders/customer-orders/order-discounts). When one has
// DiscountTypePriceAdjustment, PayOrders must use it.
func (c *Client) ListOrderDiscounts(ctx context.Context, orderID string) (*OrderDiscountsResponse, error) {
	v := validator{op: OpListOrderDiscounts}
	v.required("orderID", orderID, 64)
	if v.err != nil {
		return nil, v.err
	}
	q := url.Values{}
	q.Set("order_id", orderID)
	var out OrderDiscountsResponse
	if err := c.do(ctx, call{op: OpListOrderDiscounts, method: http.MethodGet, path: pathOrderDiscounts, query: q, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// CancelCustomerOrder cancels a pending-payment order
// (PUT /v2/orders/customer-orders/cancel). It is sent once and never
// retried. CBC.99005010 means the order's status does not allow cancelling
// (it is no longer pending payment); CBC.99000089 cancel the
// combined-transaction order instead.
func (c *Client) CancelCustomerOrder(ctx context.Context, orderID string) error {
	v := validator{op: OpCancelCustomerOrder}
	v.required("orderID", orderID, 64)
	if v.err != nil {
		return v.err
	}
	body := struct {
		OrderID string `json:"order_id"`
	}{orderID}
	return c.do(ctx, call{op: OpCancelCustomerOrder, kind: kindWrite, method: http.MethodPut, path: pathCancelOrder, body: body})
}

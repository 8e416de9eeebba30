package bss

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

const (
	pathOrders       = "/v2/orders/customer-orders"
	pathOrderDetails = "/v2/orders/customer-orders/details/"
)

// Values of the method query parameter of orders and bills.
const (
	// MethodOneself queries the calling account's own records.
	MethodOneself = "oneself"
	// MethodSubCustomer queries enterprise sub-accounts' records (orders the
	// master pays for them; bills of one sub given by SubCustomerID).
	MethodSubCustomer = "sub_customer"
	// MethodAll queries the account and its subs (bills only; the default there).
	MethodAll = "all"
)

// Order statuses (Order.Status, ListOrdersRequest.Status).
const (
	OrderStatusPendingReview       = 1
	OrderStatusPendingRefund       = 2
	OrderStatusProcessing          = 3
	OrderStatusCancelled           = 4
	OrderStatusCompleted           = 5
	OrderStatusPendingPayment      = 6
	OrderStatusPendingConfirmation = 9
)

// Sort orders of ListOrdersRequest.OrderBy.
const (
	OrderByCreateTimeAsc  = "createTime"
	OrderByCreateTimeDesc = "-createTime"
)

// ListOrdersRequest filters yearly/monthly orders. Empty and zero fields are
// not sent. Times are UTC "2006-01-02T15:04:05Z"; each begin/end span may
// not exceed one year.
type ListOrdersRequest struct {
	// OrderID matches one order (≤64 characters).
	OrderID string
	// CustomerID matches the ordering customer (≤64 characters).
	CustomerID string
	// CreateTimeBegin and CreateTimeEnd bound the creation time.
	CreateTimeBegin, CreateTimeEnd string
	// ServiceTypeCode matches a cloud service, e.g. "hws.service.type.obs".
	ServiceTypeCode string
	// Status is one of the OrderStatus… constants; 0 means any.
	Status int
	// OrderType is "1" new, "2" renewal, "3" change, "4" unsubscribe, …
	OrderType string
	// Method is MethodOneself (default) or MethodSubCustomer.
	Method string
	// OrderBy is OrderByCreateTimeAsc or OrderByCreateTimeDesc.
	OrderBy string
	// PaymentTimeBegin and PaymentTimeEnd bound the payment time.
	PaymentTimeBegin, PaymentTimeEnd string
	// Offset is the 0-based record offset.
	Offset int
	// Limit is the page size, 1–100; 0 means the server default of 10.
	Limit int
}

// ListOrdersResponse is one page of orders.
type ListOrdersResponse struct {
	// TotalCount is the number of matching orders over all pages.
	TotalCount int `json:"total_count"`
	// Orders is this page.
	Orders []Order `json:"order_infos,omitempty"`
}

// Order is a yearly/monthly order. Amounts arrive as JSON numbers and are
// read without any floating-point step.
type Order struct {
	// OrderID identifies the order.
	OrderID string `json:"order_id"`
	// CustomerID is the ordering customer.
	CustomerID string `json:"customer_id,omitempty"`
	// ServiceTypeCode and ServiceTypeName identify the cloud service.
	ServiceTypeCode string `json:"service_type_code,omitempty"`
	ServiceTypeName string `json:"service_type_name,omitempty"`
	// SourceType: 1 customer, 2 agent, 3 contract, 4 distributor, …
	SourceType int `json:"source_type,omitempty"`
	// Status is one of the OrderStatus… constants (10–13 are hardware
	// logistics states).
	Status int `json:"status,omitempty"`
	// OrderType is the order type as text ("1" new, "2" renewal, …); BSS
	// sends a number, kept as its decimal text.
	OrderType string `json:"order_type,omitempty"`
	// AmountAfterDiscount is the price paid, excluding coupons and cards.
	AmountAfterDiscount money.Amount `json:"amount_after_discount"`
	// OfficialAmount is the list price.
	OfficialAmount money.Amount `json:"official_amount"`
	// MeasureID is the unit; 1 means yuan.
	MeasureID int `json:"measure_id,omitempty"`
	// Currency is the currency code.
	Currency string `json:"currency,omitempty"`
	// CreateTime and PaymentTime are UTC times.
	CreateTime  string `json:"create_time,omitempty"`
	PaymentTime string `json:"payment_time,omitempty"`
	// ContractID is the contract, if any.
	ContractID string `json:"contract_id,omitempty"`
	// AmountInfo breaks the amount down; nil when absent.
	AmountInfo *OrderAmountInfo `json:"amount_info,omitempty"`
	// EnterpriseProjects are the order's enterprise projects.
	EnterpriseProjects []EnterpriseProject `json:"enterprise_projects,omitempty"`
	// SubOrderInfos are the orders of a combined-transaction order.
	SubOrderInfos []Order `json:"sub_order_infos,omitempty"`
	// UserName is who placed the order (order details only).
	UserName string `json:"user_name,omitempty"`
	// PendingPaymentEndTime is the payment deadline (order details only).
	PendingPaymentEndTime string `json:"pending_payment_end_time,omitempty"`
}

// UnmarshalJSON reads order_type as a number or a string.
func (o *Order) UnmarshalJSON(b []byte) error {
	type plain Order
	w := struct {
		*plain
		OrderType looseString `json:"order_type"`
	}{plain: (*plain)(o)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	o.OrderType = string(w.OrderType)
	return nil
}

// OrderAmountInfo breaks an order amount down.
type OrderAmountInfo struct {
	// Discounts are the applied discounts.
	Discounts []OrderDiscount `json:"discounts,omitempty"`
	// FlexipurchaseCouponAmount is paid with flexi-purchase coupons.
	FlexipurchaseCouponAmount money.Amount `json:"flexipurchase_coupon_amount"`
	// CouponAmount is paid with cash vouchers.
	CouponAmount money.Amount `json:"coupon_amount"`
	// StoredCardAmount is paid with stored-value cards.
	StoredCardAmount money.Amount `json:"stored_card_amount"`
	// CommissionAmount is the fee (unsubscribe orders only).
	CommissionAmount money.Amount `json:"commission_amount"`
	// ConsumedAmount is the consumed amount (unsubscribe orders only).
	ConsumedAmount money.Amount `json:"consumed_amount"`
}

// OrderDiscount is one discount of an order.
type OrderDiscount struct {
	// DiscountType is the discount's type code as text ("301" cash
	// voucher, "605" business contract discount, …).
	DiscountType string `json:"discount_type,omitempty"`
	// DiscountAmount is the amount taken off.
	DiscountAmount money.Amount `json:"discount_amount"`
}

// UnmarshalJSON reads discount_type as a number or a string.
func (d *OrderDiscount) UnmarshalJSON(b []byte) error {
	type plain OrderDiscount
	w := struct {
		*plain
		DiscountType looseString `json:"discount_type"`
	}{plain: (*plain)(d)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	d.DiscountType = string(w.DiscountType)
	return nil
}

// EnterpriseProject is an enterprise project reference.
type EnterpriseProject struct {
	// ID is the project ID ("0" is the default project).
	ID string `json:"id,omitempty"`
	// Name is the project name.
	Name string `json:"name,omitempty"`
}

// ListOrders reads one page of orders (GET /v2/orders/customer-orders).
func (c *Client) ListOrders(ctx context.Context, req ListOrdersRequest) (*ListOrdersResponse, error) {
	v := validator{op: OpListCustomerOrders}
	v.maxLen("OrderID", req.OrderID, 64)
	v.maxLen("CustomerID", req.CustomerID, 64)
	cb, okB := v.timeLayout("CreateTimeBegin", req.CreateTimeBegin, utcTimeLayout, "2026-01-02T15:04:05Z")
	ce, okE := v.timeLayout("CreateTimeEnd", req.CreateTimeEnd, utcTimeLayout, "2026-01-02T15:04:05Z")
	if okB && okE {
		v.span("CreateTimeBegin..CreateTimeEnd", cb, ce)
	}
	pb, okB := v.timeLayout("PaymentTimeBegin", req.PaymentTimeBegin, utcTimeLayout, "2026-01-02T15:04:05Z")
	pe, okE := v.timeLayout("PaymentTimeEnd", req.PaymentTimeEnd, utcTimeLayout, "2026-01-02T15:04:05Z")
	if okB && okE {
		v.span("PaymentTimeBegin..PaymentTimeEnd", pb, pe)
	}
	if req.Status < 0 {
		v.failf("Status must not be negative, got %d", req.Status)
	}
	v.oneOf("Method", req.Method, MethodOneself, MethodSubCustomer)
	v.oneOf("OrderBy", req.OrderBy, OrderByCreateTimeAsc, OrderByCreateTimeDesc)
	v.page(req.Offset, req.Limit, MaxListLimit)
	if v.err != nil {
		return nil, v.err
	}
	q := url.Values{}
	setIf(q, "order_id", req.OrderID)
	setIf(q, "customer_id", req.CustomerID)
	setIf(q, "create_time_begin", req.CreateTimeBegin)
	setIf(q, "create_time_end", req.CreateTimeEnd)
	setIf(q, "service_type_code", req.ServiceTypeCode)
	if req.Status != 0 {
		q.Set("status", strconv.Itoa(req.Status))
	}
	setIf(q, "order_type", req.OrderType)
	setIf(q, "order_by", req.OrderBy)
	setIf(q, "payment_time_begin", req.PaymentTimeBegin)
	setIf(q, "payment_time_end", req.PaymentTimeEnd)
	setIf(q, "method", req.Method)
	pageQuery(q, req.Offset, req.Limit, true)
	var out ListOrdersResponse
	if err := c.do(ctx, call{op: OpListCustomerOrders, method: http.MethodGet, path: pathOrders, query: q, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListAllOrders reads every page of orders matching req (its Offset and
// Limit are ignored; pages of 100) and drops duplicates by OrderID. When
// OrderBy is empty it sorts by OrderByCreateTimeDesc so pages are stable.
func (c *Client) ListAllOrders(ctx context.Context, req ListOrdersRequest) ([]Order, error) {
	if req.OrderBy == "" {
		req.OrderBy = OrderByCreateTimeDesc
	}
	return collectPages(ctx, OpListCustomerOrders, MaxListLimit,
		func(ctx context.Context, offset, limit int) (int, []Order, error) {
			r := req
			r.Offset, r.Limit = offset, limit
			resp, err := c.ListOrders(ctx, r)
			if err != nil {
				return 0, nil, err
			}
			return resp.TotalCount, resp.Orders, nil
		},
		func(o Order) string { return o.OrderID })
}

// OrderDetailsResponse is an order with one page of its line items.
type OrderDetailsResponse struct {
	// TotalCount is the number of line items over all pages.
	TotalCount int `json:"total_count"`
	// OrderInfo is the order itself.
	OrderInfo Order `json:"order_info"`
	// OrderLineItems is this page of line items.
	OrderLineItems []OrderLineItem `json:"order_line_items,omitempty"`
}

// OrderLineItem is one product line of an order.
type OrderLineItem struct {
	// OrderLineItemID identifies the line.
	OrderLineItemID string `json:"order_line_item_id"`
	// OrderID is the order.
	OrderID string `json:"order_id,omitempty"`
	// ServiceTypeCode and ServiceTypeName identify the cloud service.
	ServiceTypeCode string `json:"service_type_code,omitempty"`
	ServiceTypeName string `json:"service_type_name,omitempty"`
	// ProductID and ProductSpecDesc identify the product.
	ProductID       string `json:"product_id,omitempty"`
	ProductSpecDesc string `json:"product_spec_desc,omitempty"`
	// PeriodType: 0 day, 1 week, 2 month, 3 year, 4 hour, 5 one-off.
	PeriodType int `json:"period_type,omitempty"`
	// PeriodNum is the number of periods.
	PeriodNum int `json:"period_num,omitempty"`
	// EffectiveTime and ExpireTime are UTC times.
	EffectiveTime string `json:"effective_time,omitempty"`
	ExpireTime    string `json:"expire_time,omitempty"`
	// SubscriptionNum is the quantity.
	SubscriptionNum int `json:"subscription_num,omitempty"`
	// AmountAfterDiscount is the price paid, excluding coupons and cards.
	AmountAfterDiscount money.Amount `json:"amount_after_discount"`
	// OfficialAmount is the list price.
	OfficialAmount money.Amount `json:"official_amount"`
	// AmountInfo breaks the amount down; nil when absent.
	AmountInfo *OrderAmountInfo `json:"amount_info,omitempty"`
	// Currency is the currency code.
	Currency string `json:"currency,omitempty"`
	// CategoryCode, ProductOwnerService and CommercialResource classify
	// the product.
	CategoryCode        string `json:"category_code,omitempty"`
	ProductOwnerService string `json:"product_owner_service,omitempty"`
	CommercialResource  string `json:"commercial_resource,omitempty"`
}

// GetOrderDetails reads an order and one page of its line items
// (GET /v2/orders/customer-orders/details/{order_id}). limit is 1–100, or 0
// for the server default of 10.
func (c *Client) GetOrderDetails(ctx context.Context, orderID string, offset, limit int) (*OrderDetailsResponse, error) {
	v := validator{op: OpShowCustomerOrderDetails}
	v.required("orderID", orderID, 64)
	v.noPathChars("orderID", orderID)
	v.page(offset, limit, MaxListLimit)
	if v.err != nil {
		return nil, v.err
	}
	q := url.Values{}
	pageQuery(q, offset, limit, true)
	var out OrderDetailsResponse
	if err := c.do(ctx, call{op: OpShowCustomerOrderDetails, method: http.MethodGet, path: pathOrderDetails + orderID, query: q, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

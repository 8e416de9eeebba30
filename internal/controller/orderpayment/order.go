package orderpayment

import (
	"context"
	"errors"
	"fmt"
	"strings"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/payment"
)

// errOrderNotFound means BSS lists no on-behalf order with the id, neither
// as an order nor inside a combined-transaction order.
var errOrderNotFound = errors.New("order not found")

// found is an order as BSS shows it now.
type found struct {
	order bss.Order
	// combined is set when the id asked for is a sub-order of order, a
	// combined-transaction order: that is the one to pay.
	combined bool
}

// readOrder reads an order the master pays on behalf of customer
// (ListCustomerOrders, method=sub_customer) by id. An id that is not a
// top-level order is looked for among the sub-orders of customer's orders:
// a combined-transaction order is paid by its own id (CBC.99000089).
func readOrder(ctx context.Context, api bss.Reader, customer, id string) (found, error) {
	byID, err := api.ListAllOrders(ctx, bss.ListOrdersRequest{Method: bss.MethodSubCustomer, OrderID: id})
	if err != nil {
		return found{}, err
	}
	for _, o := range byID {
		if strings.EqualFold(o.OrderID, id) {
			return found{order: o}, nil
		}
	}
	all, err := api.ListAllOrders(ctx, bss.ListOrdersRequest{Method: bss.MethodSubCustomer, CustomerID: customer, OrderBy: bss.OrderByCreateTimeDesc})
	if err != nil {
		return found{}, err
	}
	for _, o := range all {
		for _, so := range o.SubOrderInfos {
			if strings.EqualFold(so.OrderID, id) {
				return found{order: o, combined: true}, nil
			}
		}
	}
	return found{}, errOrderNotFound
}

// Limits of the status fields orderStatus fills.
const (
	maxResources = 20
	maxSpecLen   = 256
)

// orderStatus converts an order, with its line items as status shows them,
// to status.
func orderStatus(o bss.Order, resources []budgetv1alpha1.PaymentResource, combinedID string) *budgetv1alpha1.PaymentOrder {
	return &budgetv1alpha1.PaymentOrder{
		Amount:          common.Money(o.AmountAfterDiscount),
		OfficialAmount:  common.Money(o.OfficialAmount),
		Type:            bss.Clip(payment.OrderTypeName(o.OrderType), 32),
		Service:         bss.Clip(o.ServiceTypeCode, 64),
		ServiceName:     bss.Clip(o.ServiceTypeName, 128),
		Status:          payment.OrderStatusName(o.Status),
		CreateTime:      bss.Clip(o.CreateTime, 32),
		PaymentDeadline: bss.Clip(o.PendingPaymentEndTime, 32),
		CombinedOrderID: bss.Clip(combinedID, 64),
		Resources:       resources,
	}
}

// resourcesOf converts an order's line items (at most maxResources) to
// status.
func resourcesOf(lines []bss.OrderLineItem) []budgetv1alpha1.PaymentResource {
	var out []budgetv1alpha1.PaymentResource
	for _, l := range lines[:min(len(lines), maxResources)] {
		out = append(out, budgetv1alpha1.PaymentResource{
			ID:      bss.Clip(l.OrderLineItemID, 64),
			Service: bss.Clip(l.ServiceTypeCode, 64),
			Spec:    bss.Clip(l.ProductSpecDesc, maxSpecLen),
			Period:  period(l.PeriodType, l.PeriodNum),
			Amount:  common.Money(l.AmountAfterDiscount),
		})
	}
	return out
}

// period names a line item's period ("1 month").
func period(typ, num int) string {
	unit := map[int]string{0: "day", 1: "week", 2: "month", 3: "year", 4: "hour", 5: "one-off"}[typ]
	if unit == "" {
		return ""
	}
	if typ == 5 {
		return unit
	}
	if num <= 0 {
		num = 1
	}
	if num != 1 {
		unit += "s"
	}
	return fmt.Sprintf("%d %s", num, unit)
}

// offers reads what BSS offers to pay the order with; a choice of None
// reads nothing for it.
func offers(ctx context.Context, api bss.Reader, spec budgetv1alpha1.OrderPaymentSpec, orderID string) (payment.Offers, error) {
	var out payment.Offers
	if spec.Coupons.Mode != budgetv1alpha1.SelectNone {
		cs, err := api.ListOrderCouponsByOrderID(ctx, orderID)
		if err != nil {
			return out, err
		}
		out.Coupons, out.MaxUseQuantity = cs.Coupons, cs.MaxUseQuantity
	}
	// The discounts are read even with None: an order with a price
	// adjustment cannot be paid without it, and the payment says so.
	ds, err := api.ListOrderDiscounts(ctx, orderID)
	if err != nil {
		return out, err
	}
	out.Discounts = ds.Discounts
	return out, nil
}

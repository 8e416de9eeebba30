// Package payment holds every decision about paying a sub-account's
// pending order: which coupons and discount a payment uses and what it
// charges (Choose), whether the SubAccount's fundingLimit and monthlyBudget
// leave room for it (CheckLimits), and whether an order fits a SubAccount's
// Auto policy (FitsPolicy). The OrderPayment controller, the SubAccount
// controller and kubectl budget orders/pay all ask this package, so that
// what is previewed is what the operator does.
package payment

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// orderTypes maps the operator's order type names to BSS's codes
// (bss-api.md §4.1).
var orderTypes = []struct {
	name budgetv1alpha1.OrderType
	code string
}{
	{"New", "1"}, {"Renewal", "2"}, {"Change", "3"}, {"Unsubscribe", "4"},
	{"ToPayPerUse", "10"}, {"ToYearlyMonthly", "11"}, {"Trial", "13"},
	{"TrialToCommercial", "14"}, {"FeeAdjustment", "15"},
}

// OrderTypeName names a BSS order type code ("2" → Renewal); an unknown
// code is returned as it is.
func OrderTypeName(code string) string {
	for _, t := range orderTypes {
		if t.code == code {
			return string(t.name)
		}
	}
	return code
}

// OrderStatusName names a BSS order status; other statuses (review,
// refund, confirmation, logistics) are shown as the BSS code.
func OrderStatusName(code int) string {
	switch code {
	case bss.OrderStatusPendingPayment:
		return "PendingPayment"
	case bss.OrderStatusProcessing:
		return "Processing"
	case bss.OrderStatusCompleted:
		return "Completed"
	case bss.OrderStatusCancelled:
		return "Cancelled"
	}
	return strconv.Itoa(code)
}

// Paid reports whether an order status means the payment was taken
// (processing or completed).
func Paid(status int) bool {
	return status == bss.OrderStatusProcessing || status == bss.OrderStatusCompleted
}

// FitsPolicy reports whether the Auto policy p pays order o, and if not,
// which rule it breaks.
func FitsPolicy(p *budgetv1alpha1.OrderPaymentPolicy, o bss.Order) (bool, string) {
	if p == nil || p.Mode != budgetv1alpha1.OrderPaymentAuto {
		return false, "the SubAccount's orderPayment mode is Manual"
	}
	if p.MaxAmountPerOrder == nil {
		return false, "the policy has no maxAmountPerOrder"
	}
	limit, err := money.Parse(string(*p.MaxAmountPerOrder))
	if err != nil {
		return false, fmt.Sprintf("maxAmountPerOrder %q cannot be read", *p.MaxAmountPerOrder)
	}
	if o.AmountAfterDiscount.Cmp(limit) > 0 {
		return false, fmt.Sprintf("the order costs %s, above maxAmountPerOrder %s", o.AmountAfterDiscount, limit)
	}
	if len(p.OrderTypes) > 0 && !slices.Contains(p.OrderTypes, budgetv1alpha1.OrderType(OrderTypeName(o.OrderType))) {
		return false, fmt.Sprintf("order type %s is not in orderTypes %v", OrderTypeName(o.OrderType), p.OrderTypes)
	}
	if len(p.Services) > 0 && !slices.Contains(p.Services, o.ServiceTypeCode) {
		return false, fmt.Sprintf("service %s is not in services", cmp.Or(o.ServiceTypeCode, "(none)"))
	}
	return true, ""
}

// PaymentName is the name of the OrderPayment the Auto policy creates for
// an order: the same order always gets the same name, so a policy that
// looks twice creates it once. An object name admits lowercase letters,
// digits and '-': an id with '_' (or upper case letters, which BSS ids
// compare without) has them replaced, and an id with '_' gets a short
// digest of itself appended, so that "A_B" and "A-B" get two names.
func PaymentName(orderID string) string { //nolint:revive // payment.PaymentName is the name the controllers and the plugin share
	name := "order-" + strings.ToLower(strings.ReplaceAll(orderID, "_", "-"))
	if strings.Contains(orderID, "_") {
		sum := sha256.Sum256([]byte(strings.ToLower(orderID)))
		name += "-" + hex.EncodeToString(sum[:3])
	}
	return name
}

// CouponUse is a coupon chosen for a payment.
type CouponUse struct {
	ID string
	// PayType is the PayOrders type code.
	PayType int
	// Amount is what it takes off.
	Amount money.Amount
}

// DiscountUse is the discount chosen for a payment.
type DiscountUse struct {
	ID     string
	Type   int
	Amount money.Amount
}

// Choice is how a payment pays an order.
type Choice struct {
	// Discount is nil when none is used.
	Discount *DiscountUse
	// Coupons are at most bss.MaxPayCoupons.
	Coupons []CouponUse
	// Amount is what the payment charges the master: the order's amount
	// after the discount, coupons included.
	Amount money.Amount
	// CouponAmount is the part of Amount the coupons pay.
	CouponAmount money.Amount
}

// Request is the PayOrders request of a choice.
func (c Choice) Request(orderID string) bss.PayOrdersRequest {
	req := bss.PayOrdersRequest{OrderID: orderID}
	for _, u := range c.Coupons {
		req.UseCoupon = true
		req.Coupons = append(req.Coupons, bss.PayCoupon{ID: u.ID, Type: u.PayType})
	}
	if c.Discount != nil {
		req.UseDiscount = true
		req.Discounts = []bss.PayDiscount{{ID: c.Discount.ID, Type: c.Discount.Type}}
	}
	return req
}

// Refusal is a payment that cannot be made as asked; Reason is a condition
// reason.
type Refusal struct {
	Reason, Message string
}

func (r *Refusal) Error() string { return r.Message }

func unusable(format string, args ...any) *Refusal {
	return &Refusal{Reason: budgetv1alpha1.ReasonCouponUnusable, Message: fmt.Sprintf(format, args...)}
}

// Offers are what BSS offers for one order.
type Offers struct {
	Coupons        []bss.AvailableCoupon
	MaxUseQuantity []bss.CouponMaxUseQuantity
	Discounts      []bss.AvailableDiscount
}

// Choose picks the discount and the coupons of a payment of orderID, whose
// amount (after the order's own discounts) is amount, as spec asks:
//
//   - Discount Auto: the order's price adjustment (type 609) when it has
//     one, which PayOrders requires; else the discount that takes the most
//     off. Explicit: that discount. None: no discount (refused when the
//     order has a price adjustment).
//   - Coupons Auto: the usable coupons (status usable, not locked by
//     another order, of a type PayOrders takes, allowed together with the
//     discount) that take the most off, largest first, at most 3 and at
//     most coupon_max_use_quantity of a kind. Explicit: those coupons, each
//     of which must be usable. None: no coupon.
//
// A discount lowers what the order costs; coupons pay part of that cost
// with the master's coupons instead of its cash.
func Choose(spec budgetv1alpha1.OrderPaymentSpec, orderID string, amount money.Amount, offers Offers) (Choice, error) {
	var ch Choice
	d, err := chooseDiscount(spec.Discount, orderID, offers.Discounts)
	if err != nil {
		return ch, err
	}
	ch.Discount = d
	ch.Amount = amount
	if d != nil {
		ch.Amount = money.Max(amount.Sub(d.Amount), money.Zero)
	}
	ratio := ""
	if d != nil {
		ratio = discountRatio(offers.Discounts, d.ID, orderID)
	}
	ch.Coupons, err = chooseCoupons(spec.Coupons, orderID, ch.Amount, d, ratio, offers)
	if err != nil {
		return ch, err
	}
	for _, c := range ch.Coupons {
		ch.CouponAmount = ch.CouponAmount.Add(c.Amount)
	}
	return ch, nil
}

// discountAmount is what discount d takes off orderID: its lines' amounts.
func discountAmount(d bss.AvailableDiscount, orderID string) money.Amount {
	var sum money.Amount
	for _, o := range d.Orders {
		if !strings.EqualFold(o.OrderID, orderID) {
			continue
		}
		for _, l := range o.OrderLineItems {
			sum = sum.Add(l.DiscountAmount)
		}
	}
	return sum
}

func discountRatio(ds []bss.AvailableDiscount, id, orderID string) string {
	for _, d := range ds {
		if d.DiscountID != id {
			continue
		}
		for _, o := range d.Orders {
			if !strings.EqualFold(o.OrderID, orderID) {
				continue
			}
			for _, l := range o.OrderLineItems {
				if l.DiscountRatio != "" {
					return l.DiscountRatio
				}
			}
		}
	}
	return ""
}

func chooseDiscount(sel budgetv1alpha1.PaymentDiscount, orderID string, ds []bss.AvailableDiscount) (*DiscountUse, error) {
	var adj *bss.AvailableDiscount
	for i := range ds {
		if ds[i].DiscountType == bss.DiscountTypePriceAdjustment {
			adj = &ds[i]
		}
	}
	use := func(d *bss.AvailableDiscount) *DiscountUse {
		return &DiscountUse{ID: d.DiscountID, Type: d.DiscountType, Amount: discountAmount(*d, orderID)}
	}
	switch sel.Mode {
	case budgetv1alpha1.SelectNone:
		if adj != nil {
			return nil, unusable("the order carries the price adjustment %s (discount type 609), which PayOrders requires; discount mode None cannot pay it", adj.DiscountID)
		}
		return nil, nil
	case budgetv1alpha1.SelectExplicit:
		for i := range ds {
			if ds[i].DiscountID != sel.ID {
				continue
			}
			if adj != nil && adj.DiscountID != sel.ID {
				return nil, unusable("the order carries the price adjustment %s (discount type 609), which PayOrders requires instead of discount %s", adj.DiscountID, sel.ID)
			}
			return use(&ds[i]), nil
		}
		return nil, unusable("discount %s is not offered for order %s", sel.ID, orderID)
	}
	if adj != nil {
		return use(adj), nil
	}
	var best *DiscountUse
	for i := range ds {
		u := use(&ds[i])
		if u.Amount.IsPositive() && (best == nil || u.Amount.Cmp(best.Amount) > 0 || (u.Amount == best.Amount && u.ID < best.ID)) {
			best = u
		}
	}
	return best, nil
}

// Limit keys of a coupon's use limits that decide whether it may be used
// together with a discount (bss-api.md §4.3).
const (
	limitWithPromotion = "simultaneousUseWithPromotionDiscount"
	limitWithContract  = "simultaneousUseWithContractDiscount"
	limitWithEmpower   = "simultaneousUseWithEmpowerDiscount"
	limitMinDiscount   = "minConsumeDiscount"
)

// couponProblem says why coupon c cannot pay orderID with discount d (whose
// ratio on the order is ratio), or "".
func couponProblem(c bss.AvailableCoupon, orderID string, d *DiscountUse, ratio string) string {
	if c.Status != 0 && c.Status != 2 {
		return "it is not activated"
	}
	if c.UsedByOrderID != "" && !strings.EqualFold(c.UsedByOrderID, orderID) {
		return "it is locked by order " + c.UsedByOrderID
	}
	if _, ok := bss.PayCouponType(cmp.Or(c.CouponType, bss.CouponTypeCashVoucher)); !ok {
		return fmt.Sprintf("its type %d cannot pay an order", c.CouponType)
	}
	if !c.Balance.IsPositive() {
		return "it has no balance left"
	}
	if d == nil {
		return ""
	}
	for _, l := range c.UseLimits {
		switch l.LimitKey {
		case limitWithPromotion:
			if l.Value1 == "0" && d.Type == bss.DiscountTypePromotion {
				return "it cannot be used together with promotion discount " + d.ID
			}
		case limitWithContract:
			if l.Value1 == "0" && d.Type == bss.DiscountTypeContract {
				return "it cannot be used together with contract discount " + d.ID
			}
		case limitWithEmpower:
			if l.Value1 == "0" && (d.Type == bss.DiscountTypeBusiness || d.Type == bss.DiscountTypePartner) {
				return "it cannot be used together with discount " + d.ID
			}
		case limitMinDiscount:
			lim, e1 := money.ParseDecimal(l.Value1)
			r, e2 := money.ParseDecimal(ratio)
			if e1 == nil && e2 == nil && ratio != "" && r.Cmp(lim) < 0 {
				return fmt.Sprintf("it cannot be used with a discount ratio below %s (discount %s has %s)", l.Value1, d.ID, ratio)
			}
		}
	}
	return ""
}

func payType(c bss.AvailableCoupon) int {
	t, _ := bss.PayCouponType(cmp.Or(c.CouponType, bss.CouponTypeCashVoucher))
	return t
}

func chooseCoupons(sel budgetv1alpha1.PaymentCoupons, orderID string, amount money.Amount, d *DiscountUse, ratio string, offers Offers) ([]CouponUse, error) {
	switch sel.Mode {
	case budgetv1alpha1.SelectNone:
		return nil, nil
	case budgetv1alpha1.SelectExplicit:
		var out []CouponUse
		left := amount
		for _, id := range sel.IDs {
			i := slices.IndexFunc(offers.Coupons, func(c bss.AvailableCoupon) bool { return c.CouponID == id })
			if i < 0 {
				return nil, unusable("coupon %s is not offered for order %s", id, orderID)
			}
			c := offers.Coupons[i]
			if p := couponProblem(c, orderID, d, ratio); p != "" {
				return nil, unusable("coupon %s cannot pay order %s: %s", id, orderID, p)
			}
			take := money.Min(c.Balance, left)
			left = left.Sub(take)
			out = append(out, CouponUse{ID: id, PayType: payType(c), Amount: take})
		}
		return out, nil
	}
	cands := make([]bss.AvailableCoupon, 0, len(offers.Coupons))
	for _, c := range offers.Coupons {
		if couponProblem(c, orderID, d, ratio) == "" {
			cands = append(cands, c)
		}
	}
	// Largest balance first: with amount fixed, the coupons that take the
	// most off are the largest; soonest expiry breaks ties.
	slices.SortStableFunc(cands, func(a, b bss.AvailableCoupon) int {
		return cmp.Or(b.Balance.Cmp(a.Balance), strings.Compare(a.ExpireTime, b.ExpireTime), strings.Compare(a.CouponID, b.CouponID))
	})
	used := map[int]int{}
	var out []CouponUse
	left := amount
	for _, c := range cands {
		if len(out) == bss.MaxPayCoupons || !left.IsPositive() {
			break
		}
		kind := cmp.Or(c.CouponType, bss.CouponTypeCashVoucher)
		if max, ok := maxUse(offers.MaxUseQuantity, kind, c.CouponGroup); ok && used[kind] >= max {
			continue
		}
		take := money.Min(c.Balance, left)
		left = left.Sub(take)
		used[kind]++
		out = append(out, CouponUse{ID: c.CouponID, PayType: payType(c), Amount: take})
	}
	return out, nil
}

func maxUse(qs []bss.CouponMaxUseQuantity, kind, group int) (int, bool) {
	for _, q := range qs {
		if q.CouponType == kind && q.CouponGroup == group && q.UseQuantityValue > 0 {
			return q.UseQuantityValue, true
		}
	}
	return 0, false
}

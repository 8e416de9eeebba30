package bsssim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Payment of yearly/monthly orders (PayOrders, bss-api.md §4.3). The master
// pays its own pending orders and those of its sub-accounts (the orders
// method=sub_customer lists): after the chosen discount, the chosen
// coupons (the master's coupons) pay first, then the master's cash, then
// its credit ledgers, soonest expiry first. Monthly settlement is not
// modelled. What an order costs leaves the master's books as
// Totals.OrdersPaid and is recorded once in the ledger (OpPayOrder).

// Limit keys of a coupon's use limits that PayOrders reads. The names of
// the simultaneous-use keys and minConsumeDiscount are Huawei's (bss-api.md
// §4.3); the meanings of cloudServiceType and consumeAmount, and which
// discount type each simultaneous-use key covers, are the simulator's
// inference.
const (
	// LimitServiceType: value1 is the only service type code the coupon pays.
	LimitServiceType = "cloudServiceType"
	// LimitConsumeAmount: value1 is the minimum order amount (a threshold,
	// in yuan) the coupon needs.
	LimitConsumeAmount = "consumeAmount"
	// LimitWithPromotion = "0": not together with a promotion discount (0).
	LimitWithPromotion = "simultaneousUseWithPromotionDiscount"
	// LimitWithContract = "0": not together with a contract discount (1).
	LimitWithContract = "simultaneousUseWithContractDiscount"
	// LimitWithEmpower = "0": not together with a business (2) or
	// partner-granted (3) discount.
	LimitWithEmpower = "simultaneousUseWithEmpowerDiscount"
	// LimitMinDiscount: value1 is a ratio; a discount whose ratio is below
	// it cannot be used together with the coupon.
	LimitMinDiscount = "minConsumeDiscount"
)

// Discount types of DiscountOffer.Type.
const (
	DiscountPromotion       = 0
	DiscountContract        = 1
	DiscountBusiness        = 2
	DiscountPartner         = 3
	DiscountPriceAdjustment = 609
)

// Coupon types of Coupon.CouponType and the PayOrders codes they map to.
// The mapping 1→301, 4→302 is the simulator's reading of bss-api.md §4.4
// [INF] (open question 9); it refuses any other type code for a coupon.
const (
	CouponCashVoucher   = 1
	CouponFlexiPurchase = 4
)

func couponTypeOf(c Coupon) int {
	if c.CouponType == 0 {
		return CouponCashVoucher
	}
	return c.CouponType
}

func payCodeOf(couponType int) int {
	if couponType == CouponFlexiPurchase {
		return 302
	}
	return 301
}

// OrderCouponUsable reports why coupon c cannot pay order o at now, or nil:
// it must belong to the order's master, be effective with a positive
// balance, and meet its cloudServiceType and consumeAmount limits.
func OrderCouponUsable(c Coupon, o Order, now time.Time) error {
	switch {
	case c.DomainID != o.DomainID:
		return errors.New("the coupon belongs to another master")
	case !c.Balance.IsPositive():
		return errors.New("the coupon has no balance left")
	case now.Before(c.EffectiveTime) || !now.Before(c.ExpireTime):
		return errors.New("the coupon is not effective")
	}
	for _, l := range c.UseLimits {
		switch l.LimitKey {
		case LimitServiceType:
			if l.Value1 != "" && l.Value1 != o.ServiceTypeCode {
				return fmt.Errorf("the coupon only pays %s", l.Value1)
			}
		case LimitConsumeAmount:
			if min, err := money.ParseDecimal(l.Value1); err == nil && o.AmountAfterDiscount.Cmp(min) < 0 {
				return fmt.Errorf("the coupon needs an order of at least %s", min)
			}
		}
	}
	return nil
}

// couponConflict reports why coupon c cannot be used together with
// discount d, or nil.
func couponConflict(c Coupon, d *DiscountOffer) error {
	if d == nil {
		return nil
	}
	for _, l := range c.UseLimits {
		var blocked bool
		switch l.LimitKey {
		case LimitWithPromotion:
			blocked = l.Value1 == "0" && d.Type == DiscountPromotion
		case LimitWithContract:
			blocked = l.Value1 == "0" && d.Type == DiscountContract
		case LimitWithEmpower:
			blocked = l.Value1 == "0" && (d.Type == DiscountBusiness || d.Type == DiscountPartner)
		case LimitMinDiscount:
			lim, e1 := money.ParseDecimal(l.Value1)
			ratio, e2 := money.ParseDecimal(d.Ratio)
			blocked = e1 == nil && e2 == nil && d.Ratio != "" && ratio.Cmp(lim) < 0
		}
		if blocked {
			return fmt.Errorf("coupon %s cannot be used together with discount %s (%s)", c.ID, d.ID, l.LimitKey)
		}
	}
	return nil
}

// payItem is one coupon_infos or discount_infos entry.
type payItem struct {
	id  string
	typ int
}

// payRequest is a validated PayOrders body.
type payRequest struct {
	orderID   string
	coupons   []payItem
	discount  *payItem
	requestID string
}

// findOrderLocked returns the top-level order id that who may pay or
// cancel: CBC.99000089 for a sub-order of a combined-transaction order,
// CBC.30000010 for an unknown one.
func (s *Sim) findOrderLocked(who caller, id string) (*Order, error) {
	for i := range s.st.Orders {
		o := &s.st.Orders[i]
		visible := s.orderVisibleLocked(who, *o, "oneself") || s.orderVisibleLocked(who, *o, "sub_customer")
		if !visible {
			continue
		}
		if strings.EqualFold(o.OrderID, id) {
			return o, nil
		}
		for _, so := range o.SubOrders {
			if strings.EqualFold(so.OrderID, id) {
				return nil, bizErr(CodeUseCombined, "The order %s is part of the combined-transaction order %s: use that order ID.", id, o.OrderID)
			}
		}
	}
	return nil, bizErr(CodeInvalidOrder, "The order %s is invalid or does not exist.", id)
}

// pickDiscountLocked returns the offer req names (nil for none). An order
// with a 609 price adjustment must be paid with it.
func pickDiscount(o *Order, req payRequest) (*DiscountOffer, error) {
	var adj *DiscountOffer
	for i := range o.DiscountOffers {
		if o.DiscountOffers[i].Type == DiscountPriceAdjustment {
			adj = &o.DiscountOffers[i]
		}
	}
	if req.discount == nil {
		if adj != nil {
			return nil, paramErr("the order carries the price adjustment %s (609): it must be used", adj.ID)
		}
		return nil, nil
	}
	for i := range o.DiscountOffers {
		d := &o.DiscountOffers[i]
		if d.ID != req.discount.id {
			continue
		}
		if d.Type != req.discount.typ {
			return nil, paramErr("discount %s has type %d, not %d", d.ID, d.Type, req.discount.typ)
		}
		if adj != nil && d != adj {
			return nil, paramErr("the order carries the price adjustment %s (609): it must be used", adj.ID)
		}
		return d, nil
	}
	return nil, paramErr("discount %s is not available for order %s", req.discount.id, o.OrderID)
}

// pickCouponsLocked returns the master coupons req names, checked against
// the order and the discount.
func (s *Sim) pickCouponsLocked(now time.Time, o *Order, req payRequest, d *DiscountOffer) ([]*Coupon, error) {
	var out []*Coupon
	for _, it := range req.coupons {
		c := s.couponLocked(it.id)
		if c == nil {
			return nil, paramErr("coupon %s is not available for order %s", it.id, o.OrderID)
		}
		if err := OrderCouponUsable(*c, *o, now); err != nil {
			return nil, paramErr("coupon %s is not available for order %s: %v", it.id, o.OrderID, err)
		}
		if want := payCodeOf(couponTypeOf(*c)); it.typ != want {
			return nil, paramErr("coupon %s must be sent with type %d, not %d", it.id, want, it.typ)
		}
		if err := couponConflict(*c, d); err != nil {
			return nil, paramErr("%v", err)
		}
		out = append(out, c)
	}
	return out, nil
}

// payOrderLocked pays an order as who (a master) at now.
func (s *Sim) payOrderLocked(now time.Time, who caller, req payRequest) error {
	o, err := s.findOrderLocked(who, req.orderID)
	if err != nil {
		return err
	}
	switch {
	case o.Status == OrderProcessing:
		return bizErr(CodePaymentInProgress, "The payment of order %s is being processed. Do not pay it again.", o.OrderID)
	case o.Status != OrderPendingPayment:
		return bizErr(CodeInvalidOrder, "The order %s is invalid: its status is %d, not pending payment.", o.OrderID, o.Status)
	case o.PendingPaymentEndTime != nil && !now.Before(*o.PendingPaymentEndTime):
		return bizErr(CodeInvalidOrder, "The order %s is invalid: its payment deadline has passed.", o.OrderID)
	}
	d, err := pickDiscount(o, req)
	if err != nil {
		return err
	}
	coupons, err := s.pickCouponsLocked(now, o, req, d)
	if err != nil {
		return err
	}
	amount := o.AmountAfterDiscount
	if d != nil {
		amount = money.Max(amount.Sub(d.Amount), 0)
	}
	org := s.budgetOrgLocked(o)
	if org != nil && org.PaymentSpent.Add(amount).Cmp(*org.PaymentBudget) > 0 {
		return bizErr(CodeOrgBudget, "The budget of the enterprise organization %s is insufficient.", org.Name)
	}
	m := s.masterLocked(o.DomainID)
	couponPaid := couponShare(coupons, amount)
	rest := amount.Sub(couponPaid)
	if have := m.Cash.Add(availableCredit(m.CreditLedgers, now)); have.Cmp(rest) < 0 {
		return insufficient("the master's cash and credit", have)
	}
	creditPaid := s.chargeLocked(now, m, coupons, amount, rest)
	if org != nil {
		org.PaymentSpent = org.PaymentSpent.Add(amount)
	}
	s.settleOrderLocked(now, o, d, amount, couponPaid, creditPaid, req.requestID)
	return nil
}

// couponShare is what the coupons pay of amount, in the order given.
func couponShare(coupons []*Coupon, amount money.Amount) money.Amount {
	var paid money.Amount
	for _, c := range coupons {
		paid = paid.Add(money.Min(c.Balance, amount.Sub(paid)))
	}
	return paid
}

// availableCredit is the balance of the ledgers that have not expired.
func availableCredit(ls []CreditLedger, now time.Time) money.Amount {
	var t money.Amount
	for _, l := range ls {
		if l.ExpireTime == nil || now.Before(*l.ExpireTime) {
			t = t.Add(l.Balance)
		}
	}
	return t
}

// chargeLocked takes amount from the coupons first, then rest from the
// master's cash and then its unexpired credit, soonest expiry first. It
// returns what the credit paid.
func (s *Sim) chargeLocked(now time.Time, m *Master, coupons []*Coupon, amount, rest money.Amount) money.Amount {
	left := amount.Sub(rest)
	for _, c := range coupons {
		t := money.Min(c.Balance, left)
		c.Balance, left = c.Balance.Sub(t), left.Sub(t)
		at := now
		c.LastUsedTime = &at
	}
	fromCash := money.Min(m.Cash, rest)
	m.Cash, rest = m.Cash.Sub(fromCash), rest.Sub(fromCash)
	var credit money.Amount
	for _, i := range sortedLedgers(m.CreditLedgers) {
		l := &m.CreditLedgers[i]
		if l.ExpireTime != nil && !now.Before(*l.ExpireTime) {
			continue
		}
		t := money.Min(l.Balance, rest)
		l.Balance, rest = l.Balance.Sub(t), rest.Sub(t)
		credit = credit.Add(t)
	}
	m.Totals.OrdersPaid = m.Totals.OrdersPaid.Add(amount)
	s.dirty = true
	return credit
}

// settleOrderLocked marks o paid (processing while Faults.PaymentProcessing
// lasts) and records the payment in the ledger.
func (s *Sim) settleOrderLocked(now time.Time, o *Order, d *DiscountOffer, amount, couponPaid, creditPaid money.Amount, reqID string) {
	o.AmountAfterDiscount = amount
	if d != nil {
		o.Discounts = append(o.Discounts, OrderDiscount{DiscountType: strconv.Itoa(d.Type), DiscountAmount: d.Amount})
	}
	o.CouponAmount = o.CouponAmount.Add(couponPaid)
	status := OrderCompleted
	if p := time.Duration(s.faults.PaymentProcessing); p > 0 {
		status = OrderProcessing
		done := now.Add(p)
		o.PaymentDoneAt = &done
	}
	o.Status, o.PendingPaymentEndTime = status, nil
	at := now
	o.PaymentTime = &at
	for i := range o.SubOrders {
		o.SubOrders[i].Status, o.SubOrders[i].PendingPaymentEndTime = status, nil
		o.SubOrders[i].PaymentTime = clonePtr(&at)
	}
	transID := ""
	if _, err := s.checkTransIDLocked(now, o.DomainID, &transID); err != nil {
		transID = s.nextHexLocked("pay") // unreachable: an empty trans_id is always generated
	}
	s.recordLocked(LedgerEntry{
		TransID: transID, Operation: OpPayOrder, DomainID: o.DomainID, CustomerID: o.CustomerID, Amount: amount,
		CouponAmount: couponPaid, CreditAmount: creditPaid, OrderID: o.OrderID, Time: now, RequestID: reqID,
	})
	s.log.Info("order paid", "order_id", o.OrderID, "customer_id", o.CustomerID, "amount", amount.String(), "status", status)
}

// budgetOrgLocked returns the org unit with a payment budget whose
// sub-account placed o, or nil.
func (s *Sim) budgetOrgLocked(o *Order) *OrgUnit {
	sa := s.subLocked(o.CustomerID)
	if sa == nil {
		return nil
	}
	if org := s.orgLocked(sa.DomainID, sa.OrgID); org != nil && org.PaymentBudget != nil {
		return org
	}
	return nil
}

// completePaymentsLocked completes the payments whose processing time has
// passed at now.
func (s *Sim) completePaymentsLocked(now time.Time) {
	for i := range s.st.Orders {
		o := &s.st.Orders[i]
		if o.PaymentDoneAt == nil || now.Before(*o.PaymentDoneAt) {
			continue
		}
		o.PaymentDoneAt = nil
		if o.Status == OrderProcessing {
			o.Status = OrderCompleted
			for j := range o.SubOrders {
				o.SubOrders[j].Status = OrderCompleted
			}
		}
		s.dirty = true
	}
}

// cancelOrderLocked cancels a pending order as who.
func (s *Sim) cancelOrderLocked(who caller, id string) error {
	o, err := s.findOrderLocked(who, id)
	if err != nil {
		return err
	}
	if o.Status != OrderPendingPayment {
		return bizErr(CodeNotCancellable, "The status (%d) of order %s does not allow cancelling it.", o.Status, o.OrderID)
	}
	o.Status = OrderCancelled
	for i := range o.SubOrders {
		o.SubOrders[i].Status = OrderCancelled
	}
	s.dirty = true
	return nil
}

// checkPaymentsLocked verifies the pay-order entries of the ledger: each
// names a known order of its master, no order is paid twice, a paid order
// is processing or completed and costs what the entry took, and the
// entries of each master add up to its Totals.OrdersPaid.
func (s *Sim) checkPaymentsLocked() []error {
	var errs []error
	first := map[string]int{}
	sums := map[string]money.Amount{}
	for i, e := range s.st.Ledger {
		if e.Operation != OpPayOrder {
			continue
		}
		sums[e.DomainID] = sums[e.DomainID].Add(e.Amount)
		if j, dup := first[e.DomainID+"\x00"+e.OrderID]; dup {
			errs = append(errs, fmt.Errorf("order %s was paid twice: ledger entries %d and %d", e.OrderID, j, i))
		} else {
			first[e.DomainID+"\x00"+e.OrderID] = i
		}
		errs = append(errs, s.checkPaymentEntryLocked(i, e)...)
	}
	for _, m := range s.st.Masters {
		if sums[m.DomainID] != m.Totals.OrdersPaid {
			errs = append(errs, fmt.Errorf("master %s: pay-order entries add up to %s, orders_paid is %s", m.DomainID, sums[m.DomainID], m.Totals.OrdersPaid))
		}
	}
	return errs
}

func (s *Sim) checkPaymentEntryLocked(i int, e LedgerEntry) []error {
	var errs []error
	if e.Amount.IsNegative() || e.CouponAmount.IsNegative() || e.CreditAmount.IsNegative() || e.CouponAmount.Add(e.CreditAmount).Cmp(e.Amount) > 0 {
		errs = append(errs, fmt.Errorf("ledger entry %d (order %s) has amount %s, coupon amount %s and credit amount %s", i, e.OrderID, e.Amount, e.CouponAmount, e.CreditAmount))
	}
	idx := s.orderIndexLocked(e.OrderID)
	if idx < 0 {
		return append(errs, fmt.Errorf("ledger entry %d pays unknown order %q", i, e.OrderID))
	}
	o := s.st.Orders[idx]
	switch {
	case o.DomainID != e.DomainID || o.CustomerID != e.CustomerID:
		errs = append(errs, fmt.Errorf("ledger entry %d pays order %s of %s/%s as %s/%s", i, o.OrderID, o.DomainID, o.CustomerID, e.DomainID, e.CustomerID))
	case o.Status != OrderCompleted && o.Status != OrderProcessing:
		errs = append(errs, fmt.Errorf("ledger entry %d paid order %s, whose status is %d", i, o.OrderID, o.Status))
	case o.AmountAfterDiscount != e.Amount:
		errs = append(errs, fmt.Errorf("ledger entry %d took %s for order %s, which costs %s", i, e.Amount, o.OrderID, o.AmountAfterDiscount))
	}
	return errs
}

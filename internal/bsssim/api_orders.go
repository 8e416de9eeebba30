package bsssim

import (
	"regexp"
	"slices"
)

// ratioRE matches a decimal ratio such as 0.85 or 1.
var ratioRE = regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{1,6})?$`)

// --- PayOrders / CancelCustomerOrder ---

// payInfo is an element of coupon_infos or discount_infos.
type payInfo struct {
	ID   *string `json:"id"`
	Type *int    `json:"type"`
}

// payBody is PayCustomerOrderV3Req; absent and null fields stay nil.
type payBody struct {
	OrderID       *string    `json:"order_id"`
	UseCoupon     *string    `json:"use_coupon"`
	UseDiscount   *string    `json:"use_discount"`
	CouponInfos   *[]payInfo `json:"coupon_infos"`
	DiscountInfos *[]payInfo `json:"discount_infos"`
}

// payCouponCodes and payDiscountTypes are the type codes the body may carry.
var (
	payCouponCodes   = []int{300, 301, 302, 303}
	payDiscountTypes = []int{DiscountPromotion, DiscountContract, DiscountBusiness, DiscountPartner, DiscountPriceAdjustment}
)

// payItems validates coupon_infos or discount_infos against use (YES or
// NO): present and non-empty with YES, absent with NO, at most maxItems.
func payItems(name string, use *string, infos *[]payInfo, maxItems int, types []int) ([]payItem, error) {
	if use == nil || (*use != "YES" && *use != "NO") {
		return nil, paramErr("use_%s must be YES or NO", name)
	}
	if *use == "NO" {
		if infos != nil {
			return nil, paramErr("%s_infos must be absent when use_%s is NO", name, name)
		}
		return nil, nil
	}
	if infos == nil || len(*infos) == 0 {
		return nil, paramErr("%s_infos is required when use_%s is YES", name, name)
	}
	if len(*infos) > maxItems {
		return nil, paramErr("%s_infos must have at most %d entries", name, maxItems)
	}
	var out []payItem
	for _, in := range *infos {
		id, err := reqString(name+"_infos.id", in.ID, 64)
		if err != nil {
			return nil, err
		}
		if in.Type == nil || !slices.Contains(types, *in.Type) {
			return nil, paramErr("%s_infos.type of %s is missing or unknown", name, id)
		}
		if slices.ContainsFunc(out, func(p payItem) bool { return p.id == id }) {
			return nil, paramErr("%s_infos names %s twice", name, id)
		}
		out = append(out, payItem{id: id, typ: *in.Type})
	}
	return out, nil
}

func (c *reqCtx) payRequest() (payRequest, error) {
	var b payBody
	if err := c.decodeBody(&b); err != nil {
		return payRequest{}, err
	}
	id, err := reqString("order_id", b.OrderID, 64)
	if err != nil {
		return payRequest{}, err
	}
	coupons, err := payItems("coupon", b.UseCoupon, b.CouponInfos, 3, payCouponCodes)
	if err != nil {
		return payRequest{}, err
	}
	discounts, err := payItems("discount", b.UseDiscount, b.DiscountInfos, 1, payDiscountTypes)
	if err != nil {
		return payRequest{}, err
	}
	req := payRequest{orderID: id, coupons: coupons, requestID: c.reqID}
	if len(discounts) == 1 {
		req.discount = &discounts[0]
	}
	return req, nil
}

// payOrders is a money route: the fault draws apply as to the transfers
// (latency and an error before anything is applied, a response lost after
// the payment committed), without the transfers' in-progress slot; a
// concurrent pay of the same order is refused by the order's status.
func (s *Sim) payOrders(c *reqCtx) (any, error) {
	if err := c.requireMaster(); err != nil {
		return nil, err
	}
	req, err := c.payRequest()
	if err != nil {
		return nil, err
	}
	if err := c.faultBeforeCommit(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	tooFrequent := s.faults.TooFrequentRate > 0 && s.rng.Float64() < s.faults.TooFrequentRate
	s.mu.Unlock()
	if tooFrequent {
		return nil, bizErr(CodeTooFrequent, "Operations are too frequent. Try again later.")
	}
	now := s.lock()
	err = s.payOrderLocked(now, c.caller, req)
	s.unlock()
	if err != nil {
		return nil, err
	}
	c.committed = true
	return nil, nil
}

func (s *Sim) cancelOrder(c *reqCtx) (any, error) {
	if err := c.requireMaster(); err != nil {
		return nil, err
	}
	var b struct {
		OrderID *string `json:"order_id"`
	}
	if err := c.decodeBody(&b); err != nil {
		return nil, err
	}
	id, err := reqString("order_id", b.OrderID, 64)
	if err != nil {
		return nil, err
	}
	s.lock()
	defer s.unlock()
	return nil, s.cancelOrderLocked(c.caller, id)
}

// --- ListOrderCouponsByOrderId ---

// orderCoupon is CouponInfoV2.
type orderCoupon struct {
	CouponID      string `json:"coupon_id"`
	CouponCode    string `json:"coupon_code"`
	Status        int    `json:"status"`
	CouponType    int    `json:"coupon_type"`
	MeasureID     int    `json:"measure_id"`
	FaceValue     num    `json:"face_value"`
	EffectiveTime string `json:"effective_time"`
	ExpireTime    string `json:"expire_time"`
	PlanName      string `json:"plan_name"`
	PlanDesc      string `json:"plan_desc"`
	UseLimits     []any  `json:"use_limits"`
	ActiveTime    string `json:"active_time"`
	LastUsedTime  string `json:"last_used_time,omitempty"`
	CreateTime    string `json:"create_time"`
	CouponVersion int    `json:"coupon_version"`
	Balance       num    `json:"balance"`
	CouponGroup   int    `json:"coupon_group"`
}

// couponMaxUse is CouponMaxUseQuantity.
type couponMaxUse struct {
	CouponType       int `json:"coupon_type"`
	CouponGroup      int `json:"coupon_group"`
	UseQuantityValue int `json:"use_quantity_value"`
}

func toOrderCoupon(c Coupon) orderCoupon {
	face := c.FaceValue
	if face.IsZero() {
		face = c.Balance
	}
	oc := orderCoupon{
		CouponID: c.ID, CouponCode: c.ID, Status: 2, CouponType: couponTypeOf(c), MeasureID: 1, FaceValue: num(face),
		EffectiveTime: fmtTime(c.EffectiveTime), ExpireTime: fmtTime(c.ExpireTime), PlanName: c.PlanName, PlanDesc: c.PlanName,
		UseLimits: toUseLimits(c.UseLimits), ActiveTime: fmtTime(c.EffectiveTime), CreateTime: fmtTime(c.EffectiveTime),
		CouponVersion: 2, Balance: num(c.Balance),
	}
	if c.LastUsedTime != nil {
		oc.LastUsedTime = fmtTime(*c.LastUsedTime)
	}
	return oc
}

func (s *Sim) listOrderCoupons(c *reqCtx) (any, error) {
	if err := c.requireMaster(); err != nil {
		return nil, err
	}
	id, err := c.params().required("order_id", 64)
	if err != nil {
		return nil, err
	}
	now := s.lock()
	defer s.unlock()
	o, err := s.findOrderLocked(c.caller, id)
	if err != nil {
		return nil, err
	}
	coupons := []orderCoupon{}
	for _, cp := range s.st.Coupons {
		if OrderCouponUsable(cp, *o, now) == nil {
			coupons = append(coupons, toOrderCoupon(cp))
		}
	}
	maxUse := []couponMaxUse{{CouponType: CouponCashVoucher, UseQuantityValue: 3}, {CouponType: CouponFlexiPurchase, UseQuantityValue: 3}}
	return map[string]any{"count": len(coupons), "user_coupons": coupons, "coupon_max_use_quantity": maxUse}, nil
}

// --- ListOrderDiscounts ---

// discountInfo is DiscountInfoV3, with OrderV3 and OrderLineItemV3.
type discountInfo struct {
	DiscountID    string          `json:"discount_id"`
	DiscountValue string          `json:"discount_value"`
	DiscountType  int             `json:"discount_type"`
	Orders        []discountOrder `json:"orders"`
}

type discountOrder struct {
	OrderID        string         `json:"order_id"`
	OrderLineItems []discountLine `json:"order_line_items"`
}

type discountLine struct {
	OrderLineItemIDs []string `json:"order_line_item_ids"`
	DiscountMode     int      `json:"discount_mode"`
	DiscountAmount   num      `json:"discount_amount"`
	DiscountRatio    *ratio   `json:"discount_ratio,omitempty"`
}

// ratio is a decimal ratio written as a JSON number ("0.85").
type ratio string

// MarshalJSON writes the ratio as a number; CreateOrder checked it is one.
func (r ratio) MarshalJSON() ([]byte, error) { return []byte(r), nil }

func toDiscountInfo(o Order, d DiscountOffer) discountInfo {
	ids := make([]string, 0, len(o.LineItems))
	for _, li := range o.LineItems {
		ids = append(ids, li.ID)
	}
	line := discountLine{OrderLineItemIDs: ids, DiscountMode: d.Mode, DiscountAmount: num(d.Amount)}
	value := ""
	switch d.Mode {
	case 0:
		value = d.Ratio
	case 2:
		value = d.Amount.String()
	}
	if d.Ratio != "" {
		r := ratio(d.Ratio)
		line.DiscountRatio = &r
	}
	return discountInfo{
		DiscountID: d.ID, DiscountValue: value, DiscountType: d.Type,
		Orders: []discountOrder{{OrderID: o.OrderID, OrderLineItems: []discountLine{line}}},
	}
}

func (s *Sim) listOrderDiscounts(c *reqCtx) (any, error) {
	if err := c.requireMaster(); err != nil {
		return nil, err
	}
	id, err := c.params().required("order_id", 64)
	if err != nil {
		return nil, err
	}
	s.lock()
	defer s.unlock()
	o, err := s.findOrderLocked(c.caller, id)
	if err != nil {
		return nil, err
	}
	out := []discountInfo{}
	for _, d := range o.DiscountOffers {
		out = append(out, toDiscountInfo(*o, d))
	}
	return map[string]any{"discounts": out}, nil
}

// checkDiscountOffers validates the discount offers of an order CreateOrder
// adds: unique non-empty ids, known types and modes, at most one 609, a
// non-negative amount no larger than the order's, and a decimal ratio.
func checkDiscountOffers(o Order) error {
	seen := map[string]bool{}
	adjustments := 0
	for _, d := range o.DiscountOffers {
		switch {
		case d.ID == "" || seen[d.ID]:
			return paramErr("order %s: discount offer id %q is empty or duplicate", o.OrderID, d.ID)
		case !slices.Contains(payDiscountTypes, d.Type):
			return paramErr("order %s: discount offer %s has unknown type %d (0, 1, 2, 3 or 609)", o.OrderID, d.ID, d.Type)
		case d.Mode < 0 || d.Mode > 2:
			return paramErr("order %s: discount offer %s has unknown mode %d (0, 1 or 2)", o.OrderID, d.ID, d.Mode)
		case d.Amount.IsNegative() || d.Amount.Cmp(o.AmountAfterDiscount) > 0:
			return paramErr("order %s: discount offer %s takes %s off %s", o.OrderID, d.ID, d.Amount, o.AmountAfterDiscount)
		case d.Ratio != "" && !ratioRE.MatchString(d.Ratio):
			return paramErr("order %s: discount offer %s has ratio %q, want a decimal such as 0.85", o.OrderID, d.ID, d.Ratio)
		}
		seen[d.ID] = true
		if d.Type == DiscountPriceAdjustment {
			adjustments++
		}
	}
	if adjustments > 1 {
		return paramErr("order %s: at most one 609 price adjustment", o.OrderID)
	}
	return nil
}

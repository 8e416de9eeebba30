package bsssim

// useLimitInfo is ICouponUseLimitInfoV2, a coupon's usage restriction as
// the coupon lists send it: every value is a string.
type useLimitInfo struct {
	UseLimitiInfoID string `json:"use_limiti_info_id"`
	LimitKey        string `json:"limit_key"`
	Value1          string `json:"value1,omitempty"`
	Value2          string `json:"value2,omitempty"`
	ValueUnit       string `json:"value_unit,omitempty"`
	LimitType       string `json:"limit_type,omitempty"`
	PromotionPlanID string `json:"promotion_plan_id,omitempty"`
}

// toUseLimits converts a coupon's use limits into the elements of
// couponItem.UseLimits; never nil, so that the lists send [] rather than
// null.
func toUseLimits(ls []CouponUseLimit) []any {
	out := make([]any, 0, len(ls))
	for _, l := range ls {
		out = append(out, useLimitInfo{
			UseLimitiInfoID: l.ID, LimitKey: l.LimitKey, Value1: l.Value1, Value2: l.Value2,
			ValueUnit: l.ValueUnit, LimitType: l.LimitType, PromotionPlanID: l.PromotionPlanID,
		})
	}
	return out
}

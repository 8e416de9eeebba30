package bss

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

const (
	pathTransferCoupons = "/v2/enterprises/multi-accounts/transfer-coupons"
	pathRetrieveCoupons = "/v2/enterprises/multi-accounts/retrieve-coupons"
	pathTransferCoupon  = "/v2/enterprises/multi-accounts/transfer-coupon"
	pathRetrieveCoupon  = "/v2/enterprises/multi-accounts/retrieve-coupon"
)

// CouponUseLimit is one usage restriction of a coupon. All values are text
// as BSS sends them.
type CouponUseLimit struct {
	// ID is the restriction's ID (use_limiti_info_id, Huawei's spelling).
	ID string `json:"use_limiti_info_id,omitempty"`
	// LimitKey names the restriction.
	LimitKey string `json:"limit_key,omitempty"`
	// Value1 and Value2 are its parameters, in ValueUnit.
	Value1    string `json:"value1,omitempty"`
	Value2    string `json:"value2,omitempty"`
	ValueUnit string `json:"value_unit,omitempty"`
	// LimitType is the kind of restriction.
	LimitType string `json:"limit_type,omitempty"`
	// PromotionPlanID is the promotion plan the coupon comes from.
	PromotionPlanID string `json:"promotion_plan_id,omitempty"`
}

// UnmarshalJSON accepts numbers as well as strings for every field.
func (l *CouponUseLimit) UnmarshalJSON(b []byte) error {
	var w struct {
		ID              looseString `json:"use_limiti_info_id"`
		LimitKey        looseString `json:"limit_key"`
		Value1          looseString `json:"value1"`
		Value2          looseString `json:"value2"`
		ValueUnit       looseString `json:"value_unit"`
		LimitType       looseString `json:"limit_type"`
		PromotionPlanID looseString `json:"promotion_plan_id"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*l = CouponUseLimit{
		ID: string(w.ID), LimitKey: string(w.LimitKey), Value1: string(w.Value1), Value2: string(w.Value2),
		ValueUnit: string(w.ValueUnit), LimitType: string(w.LimitType), PromotionPlanID: string(w.PromotionPlanID),
	}
	return nil
}

// Coupon is a cash voucher of the master that can be transferred.
type Coupon struct {
	// CouponID identifies the coupon.
	CouponID string `json:"coupon_id"`
	// PlanName is the promotion plan's name.
	PlanName string `json:"plan_name,omitempty"`
	// Balance is the remaining value in yuan.
	Balance money.Amount `json:"balance"`
	// EffectiveTime and ExpireTime are UTC times.
	EffectiveTime string `json:"effective_time,omitempty"`
	ExpireTime    string `json:"expire_time,omitempty"`
	// UseLimits are the coupon's usage restrictions.
	UseLimits []CouponUseLimit `json:"use_limits,omitempty"`
}

// TransferableCouponsResponse is one page of the master's transferable coupons.
type TransferableCouponsResponse struct {
	// TotalCount is the number of coupons over all pages.
	TotalCount int `json:"total_count"`
	// Coupons is this page.
	Coupons []Coupon `json:"avail_transfer_coupons,omitempty"`
}

// SubCoupon is a child coupon in a sub-account, created by TransferCoupon.
type SubCoupon struct {
	// CouponID is the master's parent coupon.
	CouponID string `json:"coupon_id"`
	// SubCouponID is the child coupon in the sub.
	SubCouponID string `json:"sub_coupon_id"`
	// PlanName is the promotion plan's name.
	PlanName string `json:"plan_name,omitempty"`
	// Balance is the remaining value in yuan.
	Balance money.Amount `json:"balance"`
	// EffectiveTime and ExpireTime are UTC times.
	EffectiveTime string `json:"effective_time,omitempty"`
	ExpireTime    string `json:"expire_time,omitempty"`
	// UseLimits are the coupon's usage restrictions.
	UseLimits []CouponUseLimit `json:"use_limits,omitempty"`
}

// ReclaimableCouponsResponse is one page of a sub's reclaimable coupons.
type ReclaimableCouponsResponse struct {
	// TotalCount is the number of coupons over all pages.
	TotalCount int `json:"total_count"`
	// Coupons is this page.
	Coupons []SubCoupon `json:"avail_retrieve_coupons,omitempty"`
}

// ListTransferableCoupons reads one page of the master's transferable cash
// vouchers (GET /v2/enterprises/multi-accounts/transfer-coupons). limit is
// 1–100, or 0 for the server default of 10.
func (c *Client) ListTransferableCoupons(ctx context.Context, offset, limit int) (*TransferableCouponsResponse, error) {
	v := validator{op: OpListMultiAccountTransferCoupons}
	v.page(offset, limit, MaxListLimit)
	if v.err != nil {
		return nil, v.err
	}
	q := url.Values{}
	pageQuery(q, offset, limit, true)
	var out TransferableCouponsResponse
	if err := c.do(ctx, call{op: OpListMultiAccountTransferCoupons, method: http.MethodGet, path: pathTransferCoupons, query: q, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListAllTransferableCoupons reads every page of transferable coupons and
// drops duplicates by CouponID.
func (c *Client) ListAllTransferableCoupons(ctx context.Context) ([]Coupon, error) {
	return collectPages(ctx, OpListMultiAccountTransferCoupons, MaxListLimit,
		func(ctx context.Context, offset, limit int) (int, []Coupon, error) {
			resp, err := c.ListTransferableCoupons(ctx, offset, limit)
			if err != nil {
				return 0, nil, err
			}
			return resp.TotalCount, resp.Coupons, nil
		},
		func(c Coupon) string { return c.CouponID })
}

// ListReclaimableCoupons reads one page of a sub's reclaimable coupons
// (GET /v2/enterprises/multi-accounts/retrieve-coupons). limit is 1–100, or
// 0 for the server default of 10.
func (c *Client) ListReclaimableCoupons(ctx context.Context, subCustomerID string, offset, limit int) (*ReclaimableCouponsResponse, error) {
	v := validator{op: OpListMultiAccountRetrieveCoupons}
	v.required("subCustomerID", subCustomerID, 64)
	v.page(offset, limit, MaxListLimit)
	if v.err != nil {
		return nil, v.err
	}
	q := url.Values{}
	q.Set("sub_customer_id", subCustomerID)
	pageQuery(q, offset, limit, false)
	var out ReclaimableCouponsResponse
	if err := c.do(ctx, call{op: OpListMultiAccountRetrieveCoupons, method: http.MethodGet, path: pathRetrieveCoupons, query: q, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListAllReclaimableCoupons reads every page of a sub's reclaimable coupons
// and drops duplicates by SubCouponID.
func (c *Client) ListAllReclaimableCoupons(ctx context.Context, subCustomerID string) ([]SubCoupon, error) {
	return collectPages(ctx, OpListMultiAccountRetrieveCoupons, MaxListLimit,
		func(ctx context.Context, offset, limit int) (int, []SubCoupon, error) {
			resp, err := c.ListReclaimableCoupons(ctx, subCustomerID, offset, limit)
			if err != nil {
				return 0, nil, err
			}
			return resp.TotalCount, resp.Coupons, nil
		},
		func(c SubCoupon) string { return c.SubCouponID })
}

// CouponTransferRequest carves an amount out of a master coupon into a new
// child coupon in a sub.
type CouponTransferRequest struct {
	// CustomerID is the sub-account's ID (required, ≤64 characters).
	CustomerID string
	// CouponID is the master's coupon (required, ≤64 characters).
	CouponID string
	// Amount is the value to carve out, in yuan; it must be positive.
	Amount money.Amount
	// TransID is the caller's idempotency key (required, ≤32 characters).
	TransID string
}

type couponTransferBody struct {
	CustomerID string       `json:"customer_id"`
	CouponID   string       `json:"coupon_id"`
	Amount     money.Amount `json:"amount"`
	TransID    string       `json:"trans_id"`
}

// TransferCoupon transfers part of a coupon to a sub
// (POST /v2/enterprises/multi-accounts/transfer-coupon) and returns the new
// sub_coupon_id. Sending, serialization and error handling are as for
// TransferAmount.
func (c *Client) TransferCoupon(ctx context.Context, req CouponTransferRequest) (string, error) {
	v := validator{op: OpClaimEnterpriseMultiAccountCoupon}
	v.required("CustomerID", req.CustomerID, 64)
	v.required("CouponID", req.CouponID, 64)
	if !req.Amount.IsPositive() {
		v.failf("Amount must be positive, got %s", req.Amount)
	}
	v.required("TransID", req.TransID, MaxTransIDLen)
	if v.err != nil {
		return "", v.err
	}
	var out struct {
		SubCouponID looseString `json:"sub_coupon_id"`
	}
	if err := c.do(ctx, call{op: OpClaimEnterpriseMultiAccountCoupon, kind: kindMoneyWrite, method: http.MethodPost, path: pathTransferCoupon, body: couponTransferBody(req), out: &out}); err != nil {
		return "", err
	}
	return string(out.SubCouponID), nil
}

// CouponReclaimRequest takes a child coupon's whole remaining balance back.
type CouponReclaimRequest struct {
	// CustomerID is the sub-account's ID (required, ≤64 characters).
	CustomerID string
	// CouponID is the master's parent coupon (required, ≤64 characters).
	CouponID string
	// SubCouponID is the child coupon (required, ≤64 characters).
	SubCouponID string
	// TransID is the caller's idempotency key (required, ≤32 characters).
	TransID string
}

type couponReclaimBody struct {
	CustomerID  string `json:"customer_id"`
	CouponID    string `json:"coupon_id"`
	SubCouponID string `json:"sub_coupon_id"`
	TransID     string `json:"trans_id"`
}

// ReclaimCoupon reclaims a child coupon's remaining balance from a sub
// (POST /v2/enterprises/multi-accounts/retrieve-coupon) and returns the
// amount reclaimed (real_retrieve_amout, Huawei's spelling). Sending,
// serialization and error handling are as for TransferAmount.
func (c *Client) ReclaimCoupon(ctx context.Context, req CouponReclaimRequest) (money.Amount, error) {
	v := validator{op: OpReclaimEnterpriseMultiAccountCoupon}
	v.required("CustomerID", req.CustomerID, 64)
	v.required("CouponID", req.CouponID, 64)
	v.required("SubCouponID", req.SubCouponID, 64)
	v.required("TransID", req.TransID, MaxTransIDLen)
	if v.err != nil {
		return 0, v.err
	}
	var out struct {
		RealRetrieveAmout  *money.Amount `json:"real_retrieve_amout"`
		RealRetrieveAmount *money.Amount `json:"real_retrieve_amount"` // in case Huawei fixes the spelling
	}
	if err := c.do(ctx, call{op: OpReclaimEnterpriseMultiAccountCoupon, kind: kindMoneyWrite, method: http.MethodPost, path: pathRetrieveCoupon, body: couponReclaimBody(req), out: &out}); err != nil {
		return 0, err
	}
	switch {
	case out.RealRetrieveAmout != nil:
		return *out.RealRetrieveAmout, nil
	case out.RealRetrieveAmount != nil:
		return *out.RealRetrieveAmount, nil
	}
	return 0, nil
}

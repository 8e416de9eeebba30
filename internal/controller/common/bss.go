package common

import (
	"errors"
	"fmt"
	"time"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// ClassifyBSSError maps a BSS error to a Ready reason and a requeue delay.
func ClassifyBSSError(err error) (string, time.Duration) {
	switch {
	case bss.IsThrottled(err):
		return budgetv1alpha1.ReasonThrottled, bss.RetryAfterHint(err)
	case bss.IsAuthFailure(err):
		return budgetv1alpha1.ReasonCredentialsRejected, 5 * time.Minute
	case bss.Code(err) == "":
		return budgetv1alpha1.ReasonEndpointUnreachable, 30 * time.Second
	default:
		return budgetv1alpha1.ReasonBSSError, time.Minute
	}
}

// DescribeBSSError turns an error into a condition message. BSS errors
// already omit secrets; the code leads so that people can look it up.
func DescribeBSSError(err error) string {
	var be *bss.Error
	if errors.As(err, &be) {
		msg := fmt.Sprintf("BSS answered %s (HTTP %d): %s", be.Code, be.HTTPStatus, be.Message)
		if len(be.FailCheckItems) > 0 {
			msg += fmt.Sprintf("; failed checks: %v", be.FailCheckItems)
		}
		return msg
	}
	return err.Error()
}

// The intervals an EnterpriseAccount leaves unset (the CRD's defaults).
const (
	DefaultBalanceInterval = 10 * time.Minute
	DefaultBillingInterval = time.Hour
)

// BalanceInterval is how often the balances of ea and its sub-accounts are
// read.
func BalanceInterval(ea *budgetv1alpha1.EnterpriseAccount) time.Duration {
	if ea.Spec.BalanceSyncInterval != nil && ea.Spec.BalanceSyncInterval.Duration > 0 {
		return ea.Spec.BalanceSyncInterval.Duration
	}
	return DefaultBalanceInterval
}

// BillingInterval is how often the bills and orders of ea's sub-accounts
// are read.
func BillingInterval(ea *budgetv1alpha1.EnterpriseAccount) time.Duration {
	if ea.Spec.BillingSyncInterval != nil && ea.Spec.BillingSyncInterval.Duration > 0 {
		return ea.Spec.BillingSyncInterval.Duration
	}
	return DefaultBillingInterval
}

// Limits of the status fields the builders below fill.
const (
	maxLedgers     = 100
	maxCoupons     = 200
	maxCouponIDLen = 64
	maxPlanNameLen = 256
	maxTimeLen     = 32
)

// Money formats an amount for a status field. Status money is never
// negative (the CRD admits no sign), so refunds that outweigh consumption
// show as 0.00.
func Money(a money.Amount) budgetv1alpha1.Money {
	return budgetv1alpha1.Money(money.Max(a, money.Zero).String())
}

// CreditLedgers converts BSS credit rows to status, keeping as many as the
// status holds.
func CreditLedgers(rows []bss.AmountInfo) []budgetv1alpha1.CreditLedger {
	var out []budgetv1alpha1.CreditLedger
	for _, r := range rows[:min(len(rows), maxLedgers)] {
		l := budgetv1alpha1.CreditLedger{Available: Money(r.Available), ExpireTime: bss.Clip(r.ExpireTime, 20)}
		if r.CreditAmount.IsPositive() {
			l.CreditLine = Money(r.CreditAmount)
		}
		out = append(out, l)
	}
	return out
}

// MasterCoupons converts the master's transferable coupons to status.
func MasterCoupons(cs []bss.Coupon) []budgetv1alpha1.CouponBalance {
	var out []budgetv1alpha1.CouponBalance
	for _, c := range cs[:min(len(cs), maxCoupons)] {
		out = append(out, couponBalance(c.CouponID, "", c.PlanName, c.Balance, c.ExpireTime))
	}
	return out
}

// SubCoupons converts a sub-account's reclaimable sub-coupons to status.
func SubCoupons(cs []bss.SubCoupon) []budgetv1alpha1.CouponBalance {
	var out []budgetv1alpha1.CouponBalance
	for _, c := range cs[:min(len(cs), maxCoupons)] {
		out = append(out, couponBalance(c.CouponID, c.SubCouponID, c.PlanName, c.Balance, c.ExpireTime))
	}
	return out
}

func couponBalance(id, sub, plan string, balance money.Amount, expire string) budgetv1alpha1.CouponBalance {
	return budgetv1alpha1.CouponBalance{
		CouponID:    bss.Clip(id, maxCouponIDLen),
		SubCouponID: bss.Clip(sub, maxCouponIDLen),
		PlanName:    bss.Clip(plan, maxPlanNameLen),
		Balance:     Money(balance),
		ExpireTime:  bss.Clip(expire, maxTimeLen),
	}
}

package subaccount

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/payment"
)

// This file holds the pure decisions of the controller: how BSS records
// become status fields. Nothing here talks to BSS or the API server.

// Limits of the status fields (kubebuilder MaxLength/MaxItems markers).
const (
	maxNameLen        = 64
	maxOrgIDLen       = 20
	maxOrgNameLen     = 128
	maxStateLen       = 32
	maxTimeLen        = 32
	maxLatestOrders   = 5
	maxOrderTypeLen   = 32
	maxOrderStatusLen = 32
	maxServiceLen     = 64
	maxReasonLen      = 256
	// maxPendingOrders is how many pending orders status.orderPayments
	// lists.
	maxPendingOrders = 50
)

// Account states shown in status.accountState.
const (
	stateNormal             = "Normal"
	stateCreating           = "Creating"
	stateClosing            = "Closing"
	stateClosed             = "Closed"
	stateRegistering        = "Registering"
	stateAwaitingActivation = "AwaitingActivation"
)

// accountState names a BSS sub-account status (bss-api.md §3.2); unknown
// codes are shown as the number.
func accountState(code int) string {
	switch code {
	case bss.SubCustomerStatusNormal:
		return stateNormal
	case bss.SubCustomerStatusCreating:
		return stateCreating
	case bss.SubCustomerStatusClosing:
		return stateClosing
	case bss.SubCustomerStatusClosed:
		return stateClosed
	case bss.SubCustomerStatusRegistering:
		return stateRegistering
	case bss.SubCustomerStatusAwaitingActivation:
		return stateAwaitingActivation
	}
	return strconv.Itoa(code)
}

// stateKind groups account states by what the controller does with them.
type stateKind int

const (
	// kindUsable: the account is Normal; it is synced and can be Ready.
	kindUsable stateKind = iota
	// kindPending: the account is still being created, registered or
	// activated; the controller polls until it is Normal.
	kindPending
	// kindClosed: the account is closing or closed; it is still reported
	// but never Ready, so nothing funds it.
	kindClosed
)

func accountStateKind(code int) stateKind {
	switch code {
	case bss.SubCustomerStatusNormal:
		return kindUsable
	case bss.SubCustomerStatusClosing, bss.SubCustomerStatusClosed:
		return kindClosed
	}
	return kindPending
}

// orderType names a BSS order type as payment.OrderTypeName does (New,
// Renewal, …, ToPayPerUse); unknown codes are shown as the BSS code.
func orderType(code string) string {
	return bss.Clip(payment.OrderTypeName(code), maxOrderTypeLen)
}

// orderStatus names a BSS order status as payment.OrderStatusName does;
// other statuses (review, refund, confirmation, logistics) are shown as
// the BSS code.
func orderStatus(code int) string {
	return bss.Clip(payment.OrderStatusName(code), maxOrderStatusLen)
}

// summarizeOrders counts a sub-account's orders by state and keeps the
// latest few, newest first (ties broken by order id so the result does not
// depend on the order BSS listed them in).
func summarizeOrders(orders []bss.Order) *budgetv1alpha1.OrdersSummary {
	out := &budgetv1alpha1.OrdersSummary{}
	for _, o := range orders {
		switch o.Status {
		case bss.OrderStatusPendingPayment:
			out.PendingPayment++
		case bss.OrderStatusProcessing:
			out.Processing++
		case bss.OrderStatusCompleted:
			out.Completed++
		case bss.OrderStatusCancelled:
			out.Cancelled++
		default:
			out.Other++
		}
	}
	sorted := slices.Clone(orders)
	slices.SortStableFunc(sorted, func(a, b bss.Order) int {
		if c := compareTimes(b.CreateTime, a.CreateTime); c != 0 {
			return c
		}
		return strings.Compare(b.OrderID, a.OrderID)
	})
	for _, o := range sorted[:min(len(sorted), maxLatestOrders)] {
		out.Latest = append(out.Latest, budgetv1alpha1.OrderSummary{
			ID:         bss.Clip(o.OrderID, maxNameLen),
			Type:       orderType(o.OrderType),
			Status:     orderStatus(o.Status),
			Amount:     common.Money(o.AmountAfterDiscount),
			CreateTime: bss.Clip(o.CreateTime, maxTimeLen),
		})
	}
	return out
}

// compareTimes orders two BSS UTC timestamps; unparsable ones sort as text
// before every parsable one.
func compareTimes(a, b string) int {
	ta, errA := time.Parse(time.RFC3339, a)
	tb, errB := time.Parse(time.RFC3339, b)
	switch {
	case errA == nil && errB == nil:
		return ta.Compare(tb)
	case errA == nil:
		return 1
	case errB == nil:
		return -1
	}
	return strings.Compare(a, b)
}

// pendingOrder is an order pending payment on the sub-account's behalf and
// what the orderPayment policy makes of it.
type pendingOrder struct {
	order bss.Order
	// payment is the OrderPayment (namespace/name) that pays it, "" if
	// none.
	payment string
	// fits and reason are payment.FitsPolicy's answer.
	fits   bool
	reason string
}

// assessPending picks the sub-account's orders pending payment, oldest
// first (ties broken by order id), each with the OrderPayment of the
// SubAccount that pays it and whether policy's Auto mode pays it.
func assessPending(orders []bss.Order, payments []budgetv1alpha1.OrderPayment, policy *budgetv1alpha1.OrderPaymentPolicy) []pendingOrder {
	var out []pendingOrder
	for _, o := range orders {
		if o.Status != bss.OrderStatusPendingPayment {
			continue
		}
		fits, reason := payment.FitsPolicy(policy, o)
		out = append(out, pendingOrder{order: o, payment: paymentFor(payments, o.OrderID), fits: fits, reason: reason})
	}
	slices.SortStableFunc(out, func(a, b pendingOrder) int {
		if c := compareTimes(a.order.CreateTime, b.order.CreateTime); c != 0 {
			return c
		}
		return strings.Compare(a.order.OrderID, b.order.OrderID)
	})
	return out
}

// paymentFor is the OrderPayment (namespace/name) among payments that
// pays orderID (payment.PayerOf); "" if none.
func paymentFor(payments []budgetv1alpha1.OrderPayment, orderID string) string {
	if op := payment.PayerOf(payments, orderID); op != nil {
		return op.Namespace + "/" + op.Name
	}
	return ""
}

// orderReport is status.orderPayments for the pending orders (as
// assessPending returns them, with the payments the policy created).
func orderReport(pending []pendingOrder) *budgetv1alpha1.OrderPaymentReport {
	out := &budgetv1alpha1.OrderPaymentReport{Pending: int32(len(pending))}
	for i, p := range pending {
		if p.payment != "" {
			out.Covered++
		}
		if !p.fits {
			out.Unfit++
		}
		if i == 0 {
			out.OldestCreateTime = bss.Clip(p.order.CreateTime, maxTimeLen)
		}
		if i < maxPendingOrders {
			out.Orders = append(out.Orders, budgetv1alpha1.PendingOrder{
				ID:         bss.Clip(p.order.OrderID, maxNameLen),
				Amount:     common.Money(p.order.AmountAfterDiscount),
				Type:       orderType(p.order.OrderType),
				Service:    bss.Clip(p.order.ServiceTypeCode, maxServiceLen),
				CreateTime: bss.Clip(p.order.CreateTime, maxTimeLen),
				Payment:    p.payment,
				Fits:       p.fits,
				Reason:     bss.Clip(p.reason, maxReasonLen),
			})
		}
	}
	return out
}

// oldestPendingAge is how long the oldest pending order (with a readable
// creation time) has waited at now; 0 when there is none.
func oldestPendingAge(pending []pendingOrder, now time.Time) time.Duration {
	for _, p := range pending {
		if t, err := time.Parse(time.RFC3339, p.order.CreateTime); err == nil {
			return max(now.Sub(t), 0)
		}
	}
	return 0
}

// announcedUnfit reports whether the last report already listed order id
// as not paid automatically for reason, so that its OrderNotAutoPaid
// event was announced.
func announcedUnfit(before *budgetv1alpha1.OrderPaymentReport, id, reason string) bool {
	if before == nil {
		return false
	}
	for _, o := range before.Orders {
		if o.ID == bss.Clip(id, maxNameLen) {
			return !o.Fits && o.Reason == bss.Clip(reason, maxReasonLen)
		}
	}
	return false
}

// groupOrders splits the master's batch of sub-account orders by customer id.
func groupOrders(orders []bss.Order) map[string][]bss.Order {
	out := map[string][]bss.Order{}
	for _, o := range orders {
		out[o.CustomerID] = append(out[o.CustomerID], o)
	}
	return out
}

// billTotals is one account's share of a monthly-sum bill.
type billTotals struct {
	Consumption, Cash, Credit, Coupon, Debt money.Amount
}

// groupBills adds up the monthly-sum records per consuming account
// (bill_sums[].customer_id). Flexi-purchase coupons and stored-value cards
// count as Coupon, so that Consumption = Cash + Credit + Coupon + Debt.
func groupBills(sums []bss.BillSum) map[string]billTotals {
	out := map[string]billTotals{}
	for _, b := range sums {
		t := out[b.CustomerID]
		t.Consumption = t.Consumption.Add(b.ConsumeAmount)
		t.Cash = t.Cash.Add(b.CashAmount)
		t.Credit = t.Credit.Add(b.CreditAmount)
		t.Coupon = t.Coupon.Add(b.CouponAmount).Add(b.FlexipurchaseCouponAmount).Add(b.StoredValueCardAmount)
		t.Debt = t.Debt.Add(b.DebtAmount)
		out[b.CustomerID] = t
	}
	return out
}

// cycleSummary is the status view of one cycle's totals. BudgetPercent is
// filled by the budget evaluation.
func cycleSummary(cycle string, t billTotals) *budgetv1alpha1.BillCycleSummary {
	return &budgetv1alpha1.BillCycleSummary{
		Cycle:       cycle,
		Consumption: common.Money(t.Consumption),
		Cash:        common.Money(t.Cash),
		Credit:      common.Money(t.Credit),
		Coupon:      common.Money(t.Coupon),
		Debt:        common.Money(t.Debt),
	}
}

// budgetPercent is consumption as a whole percentage of budget, rounded
// down and kept between 0 and MaxInt32.
func budgetPercent(consumption, budget money.Amount) int32 {
	c, b := consumption.Fen(), budget.Fen()
	if c <= 0 || b <= 0 {
		return 0
	}
	q, r := c/b, c%b
	if q >= math.MaxInt32/100 {
		return math.MaxInt32
	}
	// r < b, and the CRD keeps b below 10^14 fen, so r*100 cannot overflow.
	return int32(min(q*100+r*100/b, math.MaxInt32))
}

// reached reports whether consumption has reached threshold percent of
// budget, comparing in fen so that no rounding can announce an alert early.
func reached(consumption, budget money.Amount, threshold int32) bool {
	c := consumption.Fen()
	if c > math.MaxInt64/100 {
		return true // far beyond any budget the CRD admits (threshold·budget < 10^17 fen)
	}
	return c*100 >= int64(threshold)*budget.Fen()
}

// planAlerts decides which budget thresholds to announce. alerted are the
// thresholds already announced in the cycle; the result next is the new
// alerted set (sorted, limited to the configured thresholds) and announce
// the thresholds crossed since, in ascending order.
func planAlerts(thresholds, alerted []int32, consumption, budget money.Amount) (announce, next []int32) {
	configured := slices.Clone(thresholds)
	slices.Sort(configured)
	configured = slices.Compact(configured)
	for _, t := range configured {
		switch {
		case slices.Contains(alerted, t):
			next = append(next, t)
		case budget.IsPositive() && reached(consumption, budget, t):
			next = append(next, t)
			announce = append(announce, t)
		}
	}
	return announce, next
}

// alertNote is the note of the event for threshold top, naming the lower
// thresholds passed since the last sync, which get no event of their own.
func alertNote(consumption, budget money.Amount, cycle string, top int32, passed []int32) string {
	note := fmt.Sprintf("consumption %s in bill cycle %s reached %d%% of the monthly budget %s", consumption, cycle, top, budget)
	if len(passed) == 0 {
		return note
	}
	ps := make([]string, len(passed))
	for i, p := range passed {
		ps[i] = strconv.Itoa(int(p)) + "%"
	}
	return note + " (passing " + strings.Join(ps, ", ") + " since the last sync)"
}

// sumLedgers adds up the available amounts of credit ledgers.
func sumLedgers(rows []bss.AmountInfo) money.Amount {
	var total money.Amount
	for _, r := range rows {
		total = total.Add(r.Available)
	}
	return total
}

// sumCoupons adds up the balances of sub-coupons.
func sumCoupons(cs []bss.SubCoupon) money.Amount {
	var total money.Amount
	for _, c := range cs {
		total = total.Add(c.Balance)
	}
	return total
}

// recordSubCustomer copies what BSS says about the sub-account into status.
func recordSubCustomer(st *budgetv1alpha1.SubAccountStatus, sub bss.SubCustomer) {
	st.CustomerID = bss.Clip(sub.ID, maxNameLen)
	st.AccountName = bss.Clip(sub.Name, maxNameLen)
	st.DisplayName = bss.Clip(sub.DisplayName, maxNameLen)
	st.OrgID = bss.Clip(sub.OrgID, maxOrgIDLen)
	st.OrgName = bss.Clip(sub.OrgName, maxOrgNameLen)
	st.AccountState = bss.Clip(accountState(sub.Status), maxStateLen)
}

// due reports whether a sync last done at last is due again at now. A sync
// counts as due from 90% of the interval on, so that a requeue jittered by
// ±10% around the interval never wakes up to find nothing to do.
func due(last *metav1.Time, interval time.Duration, now time.Time) bool {
	return last == nil || now.Sub(last.Time) >= interval-interval/10
}

// untilDue is how long until a sync last done at last is due at the full
// interval; at least a second.
func untilDue(last *metav1.Time, interval time.Duration, now time.Time) time.Duration {
	if last == nil {
		return time.Second
	}
	return max(last.Add(interval).Sub(now), time.Second)
}

// pruneSettled drops from the report the orders whose payment has since
// settled them (Paid or Cancelled): they are no longer pending, although
// the next billing sync is what reads the orders again. It reports whether
// anything was dropped.
func pruneSettled(r *budgetv1alpha1.OrderPaymentReport, payments []budgetv1alpha1.OrderPayment) bool {
	if r == nil {
		return false
	}
	settled := map[string]bool{}
	for i := range payments {
		if p := payments[i].Status.Phase; p == budgetv1alpha1.PaymentPaid || p == budgetv1alpha1.PaymentCancelled {
			settled[payments[i].Namespace+"/"+payments[i].Name] = true
		}
	}
	kept := r.Orders[:0]
	dropped := false
	for _, o := range r.Orders {
		if o.Payment != "" && settled[o.Payment] {
			dropped = true
			r.Pending--
			r.Covered--
			if !o.Fits {
				r.Unfit--
			}
			continue
		}
		kept = append(kept, o)
	}
	r.Orders = kept
	if dropped {
		r.OldestCreateTime = ""
		if len(kept) > 0 {
			r.OldestCreateTime = kept[0].CreateTime
		}
	}
	return dropped
}

package bsssim

import (
	"cmp"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Cost data (bss-api.md §7). The Cost Center reports what each account
// cost per UTC+8 day:
//
//   - on-demand consumption, booked where the consumption engine books the
//     monthly-sum bill (consumeSegmentLocked) into one CostRecord per day,
//     customer, service and resource type, so that the days of a bill
//     cycle add up to the cycle's on-demand bill records to the fen
//     (CheckCosts);
//   - paid yearly/monthly orders (status 5 or 3 with a payment time): the
//     original cost is the paid amount on the payment day (charging mode
//     1); the amortized cost spreads it evenly over the days of the period
//     each order line buys, starting on the payment day (one month when
//     the order has no line with a period). These are derived from
//     State.Orders when a query runs.
//
// On-demand costs are the same in both views. Costs are reports: they move
// no money, and CheckConservation does not read them.

// Defaults of the Cost Center options.
const (
	// DefaultCostLagDays is how many days the cost data lags: with 1, a
	// UTC+8 day's costs show from the next day on.
	DefaultCostLagDays = 1
	// DefaultFinanceIndependentLimit is the number of finance-independent
	// sub-accounts above which ListCosts refuses a query over all of a
	// master's sub-accounts with CBC.18000048.
	DefaultFinanceIndependentLimit = 1000
)

// costHistoryMonths is how many bill cycles, the current one included, the
// cost APIs answer for ("only the last 18 months").
const costHistoryMonths = 18

// Charging modes of bills and costs.
const (
	// ChargingPrepaid is 1, yearly/monthly.
	ChargingPrepaid = 1
	// ChargingOnDemand is 3, on demand.
	ChargingOnDemand = 3
)

// CostRecord is the on-demand cost of one customer on one UTC+8 day for one
// service and resource type. The amounts split the payable amount by what
// paid it, like the bill records: Amount = Cash + Credit + Coupon + Debt.
type CostRecord struct {
	// Date is the UTC+8 day, YYYY-MM-DD.
	Date string `json:"date"`
	// CustomerID is the account that consumed (a sub-account id, or a
	// master's domain id for its own consumption).
	CustomerID string `json:"customer_id"`
	// DomainID is the master the customer belongs to.
	DomainID string `json:"domain_id,omitempty"`
	// ServiceTypeCode is the cloud service.
	ServiceTypeCode string `json:"service_type_code"`
	// ResourceTypeCode is the resource type.
	ResourceTypeCode string `json:"resource_type_code"`
	// ChargingMode is 3, on demand.
	ChargingMode int `json:"charging_mode"`
	// OfficialAmount is the list price of the day's consumption.
	OfficialAmount money.Amount `json:"official_amount"`
	// Amount is the payable amount.
	Amount money.Amount `json:"amount"`
	// CashAmount is the part paid with cash.
	CashAmount money.Amount `json:"cash_amount"`
	// CreditAmount is the part paid with credit.
	CreditAmount money.Amount `json:"credit_amount"`
	// CouponAmount is the part paid with coupons.
	CouponAmount money.Amount `json:"coupon_amount"`
	// DebtAmount is the unpaid part.
	DebtAmount money.Amount `json:"debt_amount"`
}

// costParts are the amounts of a cost: the payable amount, its list price
// and what paid it.
type costParts struct {
	amount, official           money.Amount
	cash, credit, coupon, debt money.Amount
}

func (p costParts) add(q costParts) costParts {
	return costParts{
		amount: p.amount.Add(q.amount), official: p.official.Add(q.official),
		cash: p.cash.Add(q.cash), credit: p.credit.Add(q.credit), coupon: p.coupon.Add(q.coupon), debt: p.debt.Add(q.debt),
	}
}

// net is the amount actually paid (NET_AMOUNT): the payable amount less
// the part coupons paid.
func (p costParts) net() money.Amount { return p.amount.Sub(p.coupon) }

func (r CostRecord) parts() costParts {
	return costParts{amount: r.Amount, official: r.OfficialAmount, cash: r.CashAmount, credit: r.CreditAmount, coupon: r.CouponAmount, debt: r.DebtAmount}
}

func costKey(date, customerID, service, resource string) string {
	return date + "|" + customerID + "|" + service + "|" + resource
}

// bookCostLocked adds on-demand consumption to the customer's cost record
// of the UTC+8 day of at, creating it when needed.
func (s *Sim) bookCostLocked(domainID, customerID, service string, at time.Time, p costParts) {
	date := at.In(beijing).Format(time.DateOnly)
	resource := resourceTypeOf(service)
	k := costKey(date, customerID, service, resource)
	i, ok := s.costIdx[k]
	if !ok {
		s.st.Costs = append(s.st.Costs, CostRecord{
			Date: date, CustomerID: customerID, DomainID: domainID, ServiceTypeCode: service, ResourceTypeCode: resource,
			ChargingMode: ChargingOnDemand,
		})
		i = len(s.st.Costs) - 1
		s.costIdx[k] = i
	}
	r := &s.st.Costs[i]
	r.OfficialAmount = r.OfficialAmount.Add(p.official)
	r.Amount = r.Amount.Add(p.amount)
	r.CashAmount = r.CashAmount.Add(p.cash)
	r.CreditAmount = r.CreditAmount.Add(p.credit)
	r.CouponAmount = r.CouponAmount.Add(p.coupon)
	r.DebtAmount = r.DebtAmount.Add(p.debt)
	s.dirty = true
}

// CheckCosts verifies that the daily cost records of every customer, bill
// cycle and service add up, to the fen and per payment part, to its
// on-demand monthly-sum bill records, and that no cost record is negative
// or inconsistent in itself.
func (s *Sim) CheckCosts() error {
	s.lock()
	defer s.unlock()
	return s.checkCostsLocked()
}

func (s *Sim) checkCostsLocked() error {
	type key struct{ cycle, customer, service string }
	costs := map[key]costParts{}
	var errs []error
	for i, r := range s.st.Costs {
		p := r.parts()
		if p.amount.IsNegative() || p.cash.IsNegative() || p.credit.IsNegative() || p.coupon.IsNegative() || p.debt.IsNegative() ||
			p.cash.Add(p.credit).Add(p.coupon).Add(p.debt) != p.amount {
			errs = append(errs, fmt.Errorf("cost record %d (%s %s) has amount %s = cash %s + credit %s + coupon %s + debt %s",
				i, r.Date, r.CustomerID, p.amount, p.cash, p.credit, p.coupon, p.debt))
		}
		k := key{r.Date[:7], r.CustomerID, r.ServiceTypeCode}
		costs[k] = costs[k].add(p)
	}
	bills := map[key]costParts{}
	for _, b := range s.st.Bills {
		if b.ChargingMode != ChargingOnDemand || b.BillType != 1 {
			continue
		}
		k := key{b.BillCycle, b.CustomerID, b.ServiceTypeCode}
		bills[k] = bills[k].add(costParts{amount: b.ConsumeAmount, cash: b.CashAmount, credit: b.CreditAmount, coupon: b.CouponAmount, debt: b.DebtAmount})
	}
	keys := make([]key, 0, len(bills))
	for k := range bills {
		keys = append(keys, k)
	}
	for k := range costs {
		if _, ok := bills[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.cycle, b.cycle), cmp.Compare(a.customer, b.customer), cmp.Compare(a.service, b.service))
	})
	for _, k := range keys {
		c, b := costs[k], bills[k]
		c.official, b.official = 0, 0
		if c != b {
			errs = append(errs, fmt.Errorf("%s %s %s: daily costs add up to %s (cash %s, credit %s, coupon %s, debt %s), the on-demand bills to %s (cash %s, credit %s, coupon %s, debt %s)",
				k.customer, k.cycle, k.service, c.amount, c.cash, c.credit, c.coupon, c.debt, b.amount, b.cash, b.credit, b.coupon, b.debt))
		}
	}
	return errors.Join(errs...)
}

// prepaid is the cost of one line of a paid yearly/monthly order: its part
// of what the order cost, by payment source, and the days its amortized
// cost is spread over.
type prepaid struct {
	domainID, customerID, orderID string
	service, resource             string
	// billType is 1 new purchase, 2 renewal or 3 change (the order type).
	billType int
	// periodType is the bill's period type (19 year, 20 month, 24 day, 5
	// one-off), 0 when it has none.
	periodType int
	paidAt     time.Time
	// first is the UTC+8 midnight of the payment day, the first day of the
	// amortization; days is its length (at least 1).
	first time.Time
	days  int
	// cash, credit, coupon and official are the line's totals.
	cash, credit, coupon, official money.Amount
}

func (p prepaid) total() costParts {
	return costParts{amount: p.cash.Add(p.credit).Add(p.coupon), official: p.official, cash: p.cash, credit: p.credit, coupon: p.coupon}
}

// between returns the amortized cost of days [a, b) of the schedule (day 0
// is the payment day); a and b are clamped to the schedule. Each part is
// spread on its own with cumulative rounding, so that the days of a part
// add up to its total exactly and differ by at most one fen.
func (p prepaid) between(a, b int) costParts {
	a, b = max(a, 0), min(b, p.days)
	if a >= b {
		return costParts{}
	}
	part := func(total money.Amount) money.Amount {
		return money.FromFen(mulDiv(total.Fen(), int64(b), int64(p.days)) - mulDiv(total.Fen(), int64(a), int64(p.days)))
	}
	c := costParts{official: part(p.official), cash: part(p.cash), credit: part(p.credit), coupon: part(p.coupon)}
	c.amount = c.cash.Add(c.credit).Add(c.coupon)
	return c
}

// mulDiv returns ⌊x·y/z⌋ for non-negative x, y and a positive z with
// 128-bit intermediate precision; the quotient must fit an int64.
func mulDiv(x, y, z int64) int64 {
	if x <= 0 || y <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(x), uint64(y))
	q, _ := bits.Div64(hi, lo, uint64(z))
	return int64(q)
}

// localDay returns the UTC+8 midnight of t's UTC+8 day.
func localDay(t time.Time) time.Time {
	l := t.In(beijing)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, beijing)
}

// daysBetween returns the number of days from the UTC+8 midnight a to the
// UTC+8 midnight b.
func daysBetween(a, b time.Time) int {
	return int(b.Sub(a).Round(time.Hour).Hours()) / 24
}

// linePeriod returns when a line bought at start with the given period
// type and number ends, and the bill's period type; ok is false for a line
// that buys no period (hourly, one-off, on demand).
func linePeriod(start time.Time, periodType, periodNum int) (end time.Time, billPeriod int, ok bool) {
	if periodNum < 1 {
		return time.Time{}, 0, false
	}
	switch periodType {
	case 0:
		return start.AddDate(0, 0, periodNum), 24, true
	case 1:
		return start.AddDate(0, 0, 7*periodNum), 24, true
	case 2:
		return start.AddDate(0, periodNum, 0), 20, true
	case 3:
		return start.AddDate(periodNum, 0, 0), 19, true
	}
	return time.Time{}, 0, false
}

// orderBillType maps an order type to the bill type of its cost.
func orderBillType(orderType string) int {
	switch orderType {
	case OrderTypeRenewal:
		return 2
	case "3":
		return 3
	}
	return 1
}

// orderLine is what the cost of an order line depends on: its service,
// resource type and period, and its weight (amount after discount, in fen)
// in splitting what the order cost.
type orderLine struct {
	service, resource     string
	periodType, periodNum int
	weight                int64
}

// prepaidLocked returns the cost lines of every paid yearly/monthly order
// (status 5 or 3 with a payment time and a positive amount). The paid
// amount, its list price and its payment parts (coupons: the order's
// coupon_amount; credit: what its pay-order ledger entry took from credit;
// cash: the rest) are split over the order's lines in proportion to their
// amounts after discount.
func (s *Sim) prepaidLocked() []prepaid {
	credit := map[string]money.Amount{}
	for _, e := range s.st.Ledger {
		if e.Operation == OpPayOrder {
			credit[e.DomainID+"\x00"+e.OrderID] = e.CreditAmount
		}
	}
	var out []prepaid
	for _, o := range s.st.Orders {
		if (o.Status != OrderCompleted && o.Status != OrderProcessing) || o.PaymentTime == nil || !o.AmountAfterDiscount.IsPositive() {
			continue
		}
		amount := o.AmountAfterDiscount
		coupon := money.Min(money.Max(o.CouponAmount, 0), amount)
		cr := money.Min(credit[o.DomainID+"\x00"+o.OrderID], amount.Sub(coupon))
		cash := amount.Sub(coupon).Sub(cr)
		var lines []orderLine
		var weights int64
		for _, li := range o.LineItems {
			if li.AmountAfterDiscount.IsPositive() {
				svc := cmp.Or(li.ServiceTypeCode, o.ServiceTypeCode)
				res := cmp.Or(li.CommercialResource, resourceTypeOf(svc))
				lines = append(lines, orderLine{svc, res, li.PeriodType, li.PeriodNum, li.AmountAfterDiscount.Fen()})
				weights += li.AmountAfterDiscount.Fen()
			}
		}
		if len(lines) == 0 {
			lines = []orderLine{{o.ServiceTypeCode, resourceTypeOf(o.ServiceTypeCode), 2, 1, 1}}
			weights = 1
		}
		paid := *o.PaymentTime
		first := localDay(paid)
		var before int64
		for _, l := range lines {
			share := func(total money.Amount) money.Amount {
				return money.FromFen(mulDiv(total.Fen(), before+l.weight, weights) - mulDiv(total.Fen(), before, weights))
			}
			p := prepaid{
				domainID: o.DomainID, customerID: o.CustomerID, orderID: o.OrderID, service: l.service, resource: l.resource,
				billType: orderBillType(o.OrderType), paidAt: paid, first: first, days: 1,
				cash: share(cash), credit: share(cr), coupon: share(coupon), official: share(o.OfficialAmount),
			}
			end, bp, ok := linePeriod(paid, l.periodType, l.periodNum)
			switch {
			case ok:
				p.periodType = bp
				p.days = max(daysBetween(first, localDay(end)), 1)
			case l.periodType == 4:
				p.periodType = 25 // hourly: all of it on the payment day
			case l.periodType == 5:
				p.periodType = 5 // one-off
			}
			before += l.weight
			out = append(out, p)
		}
	}
	return out
}

// costEntry is the cost of one customer on one UTC+8 day for one service,
// resource type, charging mode and (for yearly/monthly) order.
type costEntry struct {
	day               time.Time
	customerID        string
	service, resource string
	mode              int
	parts             costParts
}

// costEntriesLocked returns the costs of the UTC+8 days [from, to] of the
// customers keep accepts: original or amortized. to is inclusive; both are
// UTC+8 midnights.
func (s *Sim) costEntriesLocked(from, to time.Time, amortized bool, keep func(customerID string) bool) []costEntry {
	var out []costEntry
	if to.Before(from) {
		return nil
	}
	lo, hi := from.Format(time.DateOnly), to.Format(time.DateOnly)
	for _, r := range s.st.Costs {
		if r.Date < lo || r.Date > hi || !keep(r.CustomerID) {
			continue
		}
		day, err := time.ParseInLocation(time.DateOnly, r.Date, beijing)
		if err != nil {
			continue // validate rejects malformed dates
		}
		out = append(out, costEntry{day: day, customerID: r.CustomerID, service: r.ServiceTypeCode, resource: r.ResourceTypeCode, mode: r.ChargingMode, parts: r.parts()})
	}
	for _, p := range s.prepaidLocked() {
		if !keep(p.customerID) {
			continue
		}
		e := costEntry{customerID: p.customerID, service: p.service, resource: p.resource, mode: ChargingPrepaid}
		if !amortized {
			if !p.first.Before(from) && !p.first.After(to) {
				e.day, e.parts = p.first, p.total()
				out = append(out, e)
			}
			continue
		}
		a := max(daysBetween(p.first, from), 0)
		b := min(daysBetween(p.first, to)+1, p.days)
		for i := a; i < b; i++ {
			e.day, e.parts = p.first.AddDate(0, 0, i), p.between(i, i+1)
			out = append(out, e)
		}
	}
	return out
}

// CostCenterConfig is the Cost Center configuration in force for a master
// and its sub-accounts.
type CostCenterConfig struct {
	// DomainID is the master.
	DomainID string `json:"domain_id"`
	// Enabled is false when ListCosts and ListCustomerBillsMonthlyBreakDown
	// answer CBC.18000014.
	Enabled bool `json:"enabled"`
	// LagDays is how many days the cost data lags: a UTC+8 day's costs
	// show from LagDays days after it (0: the same day, as they accrue).
	LagDays int `json:"lag_days"`
	// FinanceIndependentLimit is the number of finance-independent
	// sub-accounts above which ListCosts answers CBC.18000048 to a query
	// not narrowed to one account.
	FinanceIndependentLimit int `json:"finance_independent_limit"`
}

// CostCenterUpdate changes a master's Cost Center configuration; nil
// fields are left as they are.
type CostCenterUpdate struct {
	// DomainID is the master; empty means the first.
	DomainID string `json:"domain_id,omitempty"`
	// Enabled switches the Cost Center on or off.
	Enabled *bool `json:"enabled,omitempty"`
	// LagDays overrides Options.CostLagDays for the master (0 or more).
	LagDays *int `json:"lag_days,omitempty"`
	// FinanceIndependentLimit overrides Options.FinanceIndependentLimit
	// for the master (0 or more).
	FinanceIndependentLimit *int `json:"finance_independent_limit,omitempty"`
}

// SetCostCenter changes the Cost Center configuration of a master and
// returns the configuration in force.
func (s *Sim) SetCostCenter(u CostCenterUpdate) (CostCenterConfig, error) {
	if u.LagDays != nil && *u.LagDays < 0 {
		return CostCenterConfig{}, errors.New("lag_days must not be negative")
	}
	if u.FinanceIndependentLimit != nil && *u.FinanceIndependentLimit < 0 {
		return CostCenterConfig{}, errors.New("finance_independent_limit must not be negative")
	}
	s.lock()
	defer s.unlock()
	m := s.masterLocked(u.DomainID)
	if m == nil {
		return CostCenterConfig{}, fmt.Errorf("unknown master %q", u.DomainID)
	}
	if u.Enabled != nil {
		m.CostCenterDisabled = !*u.Enabled
	}
	if u.LagDays != nil {
		m.CostLagDays = clonePtr(u.LagDays)
	}
	if u.FinanceIndependentLimit != nil {
		m.FinanceIndependentLimit = clonePtr(u.FinanceIndependentLimit)
	}
	s.dirty = true
	cfg := s.costCenterLocked(m)
	s.log.Info("cost center changed", "domain_id", m.DomainID, "enabled", cfg.Enabled, "lag_days", cfg.LagDays,
		"finance_independent_limit", cfg.FinanceIndependentLimit)
	return cfg, nil
}

// CostCenter returns the Cost Center configuration in force for the master
// domainID (the first when empty).
func (s *Sim) CostCenter(domainID string) (CostCenterConfig, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.masterLocked(domainID)
	if m == nil {
		return CostCenterConfig{}, false
	}
	return s.costCenterLocked(m), true
}

func (s *Sim) costCenterLocked(m *Master) CostCenterConfig {
	cfg := CostCenterConfig{
		DomainID: m.DomainID, Enabled: !m.CostCenterDisabled,
		LagDays: s.opts.CostLagDays, FinanceIndependentLimit: s.opts.FinanceIndependentLimit,
	}
	if m.CostLagDays != nil {
		cfg.LagDays = *m.CostLagDays
	}
	if m.FinanceIndependentLimit != nil {
		cfg.FinanceIndependentLimit = *m.FinanceIndependentLimit
	}
	return cfg
}

// lastCostDay returns the UTC+8 midnight of the last day whose costs show
// at now with the given lag.
func lastCostDay(now time.Time, lagDays int) time.Time {
	return localDay(now).AddDate(0, 0, -lagDays)
}

// firstCostMonth returns the UTC+8 midnight of the first day of the oldest
// bill cycle the cost APIs answer for at now.
func firstCostMonth(now time.Time) time.Time {
	l := now.In(beijing)
	return time.Date(l.Year(), l.Month()-(costHistoryMonths-1), 1, 0, 0, 0, 0, beijing)
}

// costCustomerVisibleLocked reports whether who may read the costs of
// customerID: a master its own and those of its sub-accounts that are in
// custody or granted READ_CONSUME_BILL, a sub-account its own.
func (s *Sim) costCustomerVisibleLocked(who caller, customerID string) bool {
	if who.subID != "" {
		return customerID == who.subID
	}
	if customerID == who.domainID {
		return true
	}
	sa := s.subLocked(customerID)
	return sa != nil && sa.DomainID == who.domainID && canReadBills(sa)
}

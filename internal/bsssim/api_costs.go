package bsssim

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Dimension keys of ListCosts that the simulator models. The others of
// bss-api.md §7.2 (regions, projects, usage types, tags, cost units…) are
// refused with CBC.0100: its data has none of them.
const (
	DimensionAccount      = "ASSOCIATED_ACCOUNT"
	DimensionService      = "CLOUD_SERVICE_TYPE"
	DimensionResource     = "RESOURCE_TYPE"
	DimensionChargingMode = "CHARGING_MODE"
)

var costDimensions = []string{DimensionAccount, DimensionService, DimensionResource, DimensionChargingMode}

// otherCostDimensions are the documented keys the simulator does not model.
var otherCostDimensions = []string{
	"REGION_CODE", "AZ_CODE", "ENTERPRISE_PROJECT_ID", "RES_SPEC_CODE", "USAGE_TYPE", "BILL_TYPE", "BE_ID",
	"PAYER_ACCOUNT_ID", "RESOURCE_ID", "RESOURCE_TAG", "COST_UNIT",
}

// dimensionValue is the value of a costEntry in a dimension.
func (e costEntry) dimensionValue(key string) string {
	switch key {
	case DimensionAccount:
		return e.customerID
	case DimensionService:
		return e.service
	case DimensionResource:
		return e.resource
	}
	return strconv.Itoa(e.mode)
}

// costCenterErrLocked returns CBC.18000014 when the Cost Center of who's
// master is off, and the configuration in force otherwise.
func (s *Sim) costCenterErrLocked(who caller) (CostCenterConfig, error) {
	m := s.masterLocked(who.domainID)
	cfg := s.costCenterLocked(m)
	if !cfg.Enabled {
		return cfg, bizErr(CodeCostCenterDisabled, "Cost Center is not enabled for this account. Enable it in the Billing Center first.")
	}
	return cfg, nil
}

// --- ListCosts ---

// listCostsBody is ListCostsReq; absent and null fields stay nil.
type listCostsBody struct {
	TimeCondition *struct {
		TimeMeasureID *int    `json:"time_measure_id"`
		BeginTime     *string `json:"begin_time"`
		EndTime       *string `json:"end_time"`
	} `json:"time_condition"`
	Groupby *[]struct {
		Type *string `json:"type"`
		Key  *string `json:"key"`
	} `json:"groupby"`
	CostType   *string `json:"cost_type"`
	AmountType *string `json:"amount_type"`
	Offset     *int    `json:"offset"`
	Limit      *int    `json:"limit"`
	Filters    *[]struct {
		Operator     *int `json:"operator"`
		FilterFactor *struct {
			Key   *string  `json:"key"`
			Value []string `json:"value"`
		} `json:"filter_factor"`
	} `json:"filters"`
}

// costFilter is a validated filters entry.
type costFilter struct {
	exclude bool
	key     string
	values  []string
}

func (f costFilter) keeps(e costEntry) bool {
	return slices.Contains(f.values, e.dimensionValue(f.key)) != f.exclude
}

// costsQuery is a validated ListCosts body.
type costsQuery struct {
	monthly    bool
	begin, end time.Time // UTC+8 midnights; end inclusive
	groupBy    []string
	amortized  bool
	net        bool
	offset     int
	limit      int
	filters    []costFilter
}

// dimensionKey validates a groupby or filter key.
func dimensionKey(name string, key *string) (string, error) {
	if key == nil || *key == "" {
		return "", paramErr("%s is required", name)
	}
	switch {
	case slices.Contains(costDimensions, *key):
		return *key, nil
	case slices.Contains(otherCostDimensions, *key):
		return "", paramErr("%s %s is not supported by the simulator, which models %s", name, *key, strings.Join(costDimensions, ", "))
	}
	return "", paramErr("%s %q is not a dimension: use one of %s", name, *key, strings.Join(costDimensions, ", "))
}

func (c *reqCtx) costsQuery() (costsQuery, error) {
	var b listCostsBody
	if err := c.decodeBody(&b); err != nil {
		return costsQuery{}, err
	}
	var q costsQuery
	tc := b.TimeCondition
	if tc == nil {
		return q, paramErr("time_condition is required")
	}
	measure := 1
	if tc.TimeMeasureID != nil {
		measure = *tc.TimeMeasureID
	}
	layout, what := time.DateOnly, "a date like 2026-11-01"
	switch measure {
	case 1:
	case 2:
		q.monthly, layout, what = true, "2006-01", "a month like 2026-11"
	default:
		return q, paramErr("time_condition.time_measure_id must be 1 (day) or 2 (month)")
	}
	parse := func(name string, v *string) (time.Time, error) {
		if v == nil || *v == "" {
			return time.Time{}, paramErr("time_condition.%s is required", name)
		}
		t, err := time.ParseInLocation(layout, *v, beijing)
		if err != nil || len(*v) != len(layout) {
			return time.Time{}, paramErr("time_condition.%s must be %s with time_measure_id %d", name, what, measure)
		}
		return t, nil
	}
	var err error
	if q.begin, err = parse("begin_time", tc.BeginTime); err != nil {
		return q, err
	}
	if q.end, err = parse("end_time", tc.EndTime); err != nil {
		return q, err
	}
	if q.end.Before(q.begin) {
		return q, paramErr("time_condition.end_time must not be before begin_time")
	}
	if q.monthly {
		q.end = q.end.AddDate(0, 1, -1)
	}
	if b.Groupby == nil || len(*b.Groupby) == 0 {
		return q, paramErr("groupby is required")
	}
	for _, g := range *b.Groupby {
		if g.Type == nil || *g.Type != "dimension" {
			if g.Type != nil && (*g.Type == "tag" || *g.Type == "cost_unit") {
				return q, paramErr("groupby.type %s is not supported by the simulator, which has no cost tags or cost units", *g.Type)
			}
			return q, paramErr("groupby.type must be dimension, tag or cost_unit")
		}
		key, err := dimensionKey("groupby.key", g.Key)
		if err != nil {
			return q, err
		}
		if slices.Contains(q.groupBy, key) {
			return q, paramErr("groupby names %s twice", key)
		}
		q.groupBy = append(q.groupBy, key)
	}
	switch {
	case b.CostType == nil || *b.CostType == "":
		return q, paramErr("cost_type is required")
	case *b.CostType == "AMORTIZED_COST":
		q.amortized = true
	case *b.CostType != "ORIGINAL_COST":
		return q, paramErr("cost_type must be ORIGINAL_COST or AMORTIZED_COST")
	}
	switch {
	case b.AmountType == nil || *b.AmountType == "":
		return q, paramErr("amount_type is required")
	case *b.AmountType == "NET_AMOUNT":
		q.net = true
	case *b.AmountType != "PAYMENT_AMOUNT":
		return q, paramErr("amount_type must be PAYMENT_AMOUNT or NET_AMOUNT")
	}
	if q.offset, q.limit, err = bodyPage(b.Offset, b.Limit, 1000); err != nil {
		return q, err
	}
	if b.Filters != nil {
		for _, f := range *b.Filters {
			if f.Operator == nil || (*f.Operator != 0 && *f.Operator != 1) {
				return q, paramErr("filters.operator must be 0 (include) or 1 (exclude)")
			}
			if f.FilterFactor == nil {
				return q, paramErr("filters.filter_factor is required")
			}
			key, err := dimensionKey("filters.filter_factor.key", f.FilterFactor.Key)
			if err != nil {
				return q, err
			}
			if len(f.FilterFactor.Value) == 0 {
				return q, paramErr("filters.filter_factor.value of %s must not be empty", key)
			}
			for _, v := range f.FilterFactor.Value {
				if v == "" || utf8.RuneCountInString(v) > 64 {
					return q, paramErr("filters.filter_factor.value of %s must hold values of 1 to 64 characters", key)
				}
			}
			q.filters = append(q.filters, costFilter{exclude: *f.Operator == 1, key: key, values: slices.Clone(f.FilterFactor.Value)})
		}
	}
	return q, nil
}

// bodyPage validates offset and limit of a body with BSS's defaults.
func bodyPage(offset, limit *int, maxLimit int) (int, int, error) {
	o, l := 0, 10
	if offset != nil {
		if *offset < 0 || *offset > 999999 {
			return 0, 0, paramErr("offset must be between 0 and 999999")
		}
		o = *offset
	}
	if limit != nil {
		if *limit < 1 || *limit > maxLimit {
			return 0, 0, paramErr("limit must be between 1 and %d", maxLimit)
		}
		l = *limit
	}
	return o, l, nil
}

// narrowedToOne reports whether the filters keep exactly one account.
func (q costsQuery) narrowedToOne() bool {
	for _, f := range q.filters {
		if f.key == DimensionAccount && !f.exclude && len(slices.Compact(slices.Sorted(slices.Values(f.values)))) == 1 {
			return true
		}
	}
	return false
}

type costDimension struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type costValue struct {
	TimeDimensionValue string `json:"time_dimension_value"`
	TimeMeasureID      int    `json:"time_measure_id"`
	Amount             string `json:"amount"`
	OfficialAmount     string `json:"official_amount"`
}

type costData struct {
	Dimensions            []costDimension `json:"dimensions"`
	Costs                 []costValue     `json:"costs"`
	AmountByCosts         string          `json:"amount_by_costs"`
	OfficialAmountByCosts string          `json:"official_amount_by_costs"`
}

type listCostsResp struct {
	Currency   string     `json:"currency"`
	TotalCount int        `json:"total_count"`
	CostData   []costData `json:"cost_data"`
}

// listCosts is ListCosts: one row per distinct tuple of the groupby
// dimensions among the costs the caller may see in the window (a master:
// its own and its readable sub-accounts'; a sub-account: its own), ordered
// by the dimension values; each row has one cost per day or month with
// data up to the last day the lag lets show.
func (s *Sim) listCosts(c *reqCtx) (any, error) {
	q, err := c.costsQuery()
	if err != nil {
		return nil, err
	}
	now := s.lock()
	defer s.unlock()
	who := c.caller
	cfg, err := s.costCenterErrLocked(who)
	if err != nil {
		return nil, err
	}
	if first := firstCostMonth(now); q.begin.Before(first) {
		return nil, paramErr("time_condition.begin_time must not be before %s: cost data covers the last %d months", first.Format(time.DateOnly), costHistoryMonths)
	}
	if who.subID == "" && !q.narrowedToOne() {
		independent := 0
		for _, sa := range s.subsOfLocked(who.domainID) {
			if sa.FinancialCustody != 1 && sa.Status != SubStatusClosed {
				independent++
			}
		}
		if independent > cfg.FinanceIndependentLimit {
			return nil, bizErr(CodeTooManyIndependent, "The account has %d finance-independent sub-accounts, more than %d: filter the query by one associated account (ASSOCIATED_ACCOUNT).",
				independent, cfg.FinanceIndependentLimit)
		}
	}
	end := q.end
	if last := lastCostDay(now, cfg.LagDays); last.Before(end) {
		end = last
	}
	entries := s.costEntriesLocked(q.begin, end, q.amortized, func(id string) bool { return s.costCustomerVisibleLocked(who, id) })
	type bucket struct {
		amount, official money.Amount
	}
	type row struct {
		values  []string
		buckets map[string]*bucket
	}
	rows := map[string]*row{}
	measure, layout := 1, time.DateOnly
	if q.monthly {
		measure, layout = 2, "2006-01"
	}
next:
	for _, e := range entries {
		for _, f := range q.filters {
			if !f.keeps(e) {
				continue next
			}
		}
		values := make([]string, len(q.groupBy))
		for i, k := range q.groupBy {
			values[i] = e.dimensionValue(k)
		}
		rk := strings.Join(values, "\x00")
		r := rows[rk]
		if r == nil {
			r = &row{values: values, buckets: map[string]*bucket{}}
			rows[rk] = r
		}
		tk := e.day.Format(layout)
		bk := r.buckets[tk]
		if bk == nil {
			bk = &bucket{}
			r.buckets[tk] = bk
		}
		amount := e.parts.amount
		if q.net {
			amount = e.parts.net()
		}
		bk.amount = bk.amount.Add(amount)
		bk.official = bk.official.Add(e.parts.official)
	}
	var out []costData
	for _, r := range rows {
		d := costData{Costs: []costValue{}}
		for i, k := range q.groupBy {
			d.Dimensions = append(d.Dimensions, costDimension{Key: k, Value: r.values[i]})
		}
		var total, official money.Amount
		for _, tk := range slices.Sorted(maps.Keys(r.buckets)) {
			bk := r.buckets[tk]
			if bk.amount.IsZero() && bk.official.IsZero() {
				continue
			}
			d.Costs = append(d.Costs, costValue{TimeDimensionValue: tk, TimeMeasureID: measure, Amount: bk.amount.String(), OfficialAmount: bk.official.String()})
			total, official = total.Add(bk.amount), official.Add(bk.official)
		}
		if len(d.Costs) == 0 {
			continue
		}
		d.AmountByCosts, d.OfficialAmountByCosts = total.String(), official.String()
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b costData) int {
		for i := range a.Dimensions {
			if c := cmp.Compare(a.Dimensions[i].Value, b.Dimensions[i].Value); c != 0 {
				return c
			}
		}
		return 0
	})
	resp := listCostsResp{Currency: currencyCNY, TotalCount: len(out), CostData: []costData{}}
	lo, hi := pageBounds(len(out), q.offset, q.limit)
	resp.CostData = append(resp.CostData, out[lo:hi]...)
	return resp, nil
}

// --- ListCustomerBillsMonthlyBreakDown ---

// breakdownDetail is NvlCostAnalysedBillDetail.
type breakdownDetail struct {
	SharedMonth                        string `json:"shared_month"`
	BillCycle                          string `json:"bill_cycle"`
	BillType                           int    `json:"bill_type"`
	CustomerID                         string `json:"customer_id"`
	ServiceTypeCode                    string `json:"service_type_code"`
	ResourceTypeCode                   string `json:"resource_type_code"`
	ServiceTypeName                    string `json:"service_type_name"`
	ResourceTypeName                   string `json:"resource_type_name"`
	EffectiveTime                      string `json:"effective_time,omitempty"`
	ExpireTime                         string `json:"expire_time,omitempty"`
	ChargingMode                       int    `json:"charging_mode"`
	OrderID                            string `json:"order_id,omitempty"`
	PeriodType                         *int   `json:"period_type,omitempty"`
	ConsumeAmount                      num    `json:"consume_amount"`
	PastMonthsAmortizedAmount          num    `json:"past_months_amortized_amount"`
	CurrentMonthAmortizedAmount        num    `json:"current_month_amortized_amount"`
	FutureMonthsAmortizedAmount        num    `json:"future_months_amortized_amount"`
	AmortizedCashAmount                num    `json:"amortized_cash_amount"`
	AmortizedCreditAmount              num    `json:"amortized_credit_amount"`
	AmortizedCouponAmount              num    `json:"amortized_coupon_amount"`
	AmortizedFlexipurchaseCouponAmount num    `json:"amortized_flexipurchase_coupon_amount"`
	AmortizedStoredValueCardAmount     num    `json:"amortized_stored_value_card_amount"`
	AmortizedBonusAmount               num    `json:"amortized_bonus_amount"`
}

type breakdownResp struct {
	Currency   string            `json:"currency"`
	TotalCount int               `json:"total_count"`
	Details    []breakdownDetail `json:"details"`
}

// breakdownQuery is a validated monthly-breakdown request.
type breakdownQuery struct {
	month                                               time.Time // UTC+8 midnight of the 1st
	svc, resource                                       *string
	chargingMode, billType                              int // -1: any
	region, resourceID, resourceName, enterpriseProject string
	method, subID                                       string
	offset, limit                                       int
}

func (c *reqCtx) breakdownQuery() (breakdownQuery, error) {
	p := c.params()
	var q breakdownQuery
	month, err := p.required("shared_month", 7)
	if err != nil {
		return q, err
	}
	if q.month, err = time.ParseInLocation("2006-01", month, beijing); err != nil || len(month) != 7 {
		return q, paramErr("shared_month must be a month like 2026-11")
	}
	optional := func(name string, maxLen int) (*string, error) {
		v, ok, err := p.str(name, maxLen)
		if err != nil || !ok {
			return nil, err
		}
		return &v, nil
	}
	if q.svc, err = optional("service_type_code", 64); err != nil {
		return q, err
	}
	if q.resource, err = optional("resource_type_code", 64); err != nil {
		return q, err
	}
	if q.chargingMode, err = p.num("charging_mode", -1, 0, 11); err != nil {
		return q, err
	}
	if q.chargingMode != -1 && !slices.Contains([]int{1, 3, 10, 11}, q.chargingMode) {
		return q, paramErr("charging_mode must be 1, 3, 10 or 11")
	}
	if q.billType, err = p.num("bill_type", -1, 1, 103); err != nil {
		return q, err
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"region_code", &q.region}, {"resource_id", &q.resourceID}, {"resource_name", &q.resourceName}, {"enterprise_project_id", &q.enterpriseProject}} {
		v, _, err := p.str(f.name, 64)
		if err != nil {
			return q, err
		}
		*f.dst = v
	}
	if q.method, err = p.oneOf("method", "all", "oneself", "sub_customer", "all"); err != nil {
		return q, err
	}
	if q.subID, _, err = p.str("sub_customer_id", 64); err != nil {
		return q, err
	}
	if q.offset, q.limit, err = p.page(1000); err != nil {
		return q, err
	}
	return q, nil
}

// monthlyBreakdown is ListCustomerBillsMonthlyBreakDown: the amortized
// cost of one month, one detail per customer, service, resource type and
// charging mode, and per order for yearly/monthly. An on-demand detail's
// consume amount is the month's cost. An order's is what the line cost:
// the amortization before the month (past), in the month up to the last
// day the lag lets show (current) and after it (future). The amortized_*
// parts split the current amount by what paid it; an on-demand part left
// unpaid (debt) is in none of them. Region, resource and enterprise
// project filters match nothing: the simulator has no such data.
func (s *Sim) monthlyBreakdown(c *reqCtx) (any, error) {
	q, err := c.breakdownQuery()
	if err != nil {
		return nil, err
	}
	now := s.lock()
	defer s.unlock()
	who := c.caller
	cfg, err := s.costCenterErrLocked(who)
	if err != nil {
		return nil, err
	}
	cur := localDay(now)
	cur = time.Date(cur.Year(), cur.Month(), 1, 0, 0, 0, 0, beijing)
	if q.month.Before(firstCostMonth(now)) || q.month.After(cur) {
		return nil, paramErr("shared_month must be one of the last %d months (%s to %s)", costHistoryMonths,
			firstCostMonth(now).Format("2006-01"), cur.Format("2006-01"))
	}
	if q.subID != "" && who.subID == "" && q.method != "oneself" {
		sa, err := s.ownSubLocked(s.masterLocked(who.domainID), q.subID)
		if err != nil {
			return nil, err
		}
		if !canReadBills(sa) {
			return nil, forbiddenErr("Access denied: the sub-customer %s has not granted READ_CONSUME_BILL.", q.subID)
		}
	}
	keep := func(id string) bool {
		if !s.costCustomerVisibleLocked(who, id) {
			return false
		}
		own := id == who.id()
		switch q.method {
		case "oneself":
			return own
		case "sub_customer":
			return !own && (q.subID == "" || id == q.subID)
		}
		return own || q.subID == "" || id == q.subID
	}
	monthEnd := q.month.AddDate(0, 1, -1)
	last := minTime(monthEnd, lastCostDay(now, cfg.LagDays))
	var details []breakdownDetail
	match := func(d breakdownDetail) bool {
		return (q.svc == nil || *q.svc == d.ServiceTypeCode) && (q.resource == nil || *q.resource == d.ResourceTypeCode) &&
			(q.chargingMode == -1 || q.chargingMode == d.ChargingMode) && (q.billType == -1 || q.billType == d.BillType) &&
			q.region == "" && q.resourceID == "" && q.resourceName == "" && q.enterpriseProject == ""
	}
	shared := q.month.Format("2006-01")
	type demandKey struct{ customer, svc, res string }
	type demand struct {
		parts       costParts
		first, last time.Time
	}
	demands := map[demandKey]*demand{}
	for _, e := range s.costEntriesLocked(q.month, last, true, keep) {
		if e.mode != ChargingOnDemand {
			continue
		}
		k := demandKey{e.customerID, e.service, e.resource}
		d := demands[k]
		if d == nil {
			d = &demand{first: e.day, last: e.day}
			demands[k] = d
		}
		d.parts = d.parts.add(e.parts)
		d.first, d.last = minTime(d.first, e.day), maxTime(d.last, e.day)
	}
	hour := 25
	for k, d := range demands {
		det := breakdownDetail{
			SharedMonth: shared, BillCycle: shared, BillType: 5, CustomerID: k.customer, ServiceTypeCode: k.svc, ResourceTypeCode: k.res,
			ServiceTypeName: serviceName(k.svc), ResourceTypeName: resourceName(k.res), ChargingMode: ChargingOnDemand, PeriodType: &hour,
			EffectiveTime: fmtTime(d.first), ExpireTime: fmtTime(d.last.AddDate(0, 0, 1)),
			ConsumeAmount: num(d.parts.amount), CurrentMonthAmortizedAmount: num(d.parts.amount),
			AmortizedCashAmount: num(d.parts.cash), AmortizedCreditAmount: num(d.parts.credit), AmortizedCouponAmount: num(d.parts.coupon),
		}
		if match(det) {
			details = append(details, det)
		}
	}
	for _, p := range s.prepaidLocked() {
		end := p.first.AddDate(0, 0, p.days-1)
		if !keep(p.customerID) || p.first.After(last) || end.Before(q.month) {
			continue
		}
		past := p.between(0, daysBetween(p.first, q.month))
		current := p.between(daysBetween(p.first, q.month), daysBetween(p.first, last)+1)
		total := p.total()
		det := breakdownDetail{
			SharedMonth: shared, BillCycle: p.paidAt.In(beijing).Format("2006-01"), BillType: p.billType, CustomerID: p.customerID,
			ServiceTypeCode: p.service, ResourceTypeCode: p.resource, ServiceTypeName: serviceName(p.service), ResourceTypeName: resourceName(p.resource),
			ChargingMode: ChargingPrepaid, OrderID: p.orderID,
			ConsumeAmount: num(total.amount), PastMonthsAmortizedAmount: num(past.amount), CurrentMonthAmortizedAmount: num(current.amount),
			FutureMonthsAmortizedAmount: num(total.amount.Sub(past.amount).Sub(current.amount)),
			AmortizedCashAmount:         num(current.cash), AmortizedCreditAmount: num(current.credit), AmortizedCouponAmount: num(current.coupon),
		}
		if p.periodType != 0 {
			pt := p.periodType
			det.PeriodType = &pt
		}
		if match(det) {
			details = append(details, det)
		}
	}
	slices.SortFunc(details, func(a, b breakdownDetail) int {
		return cmp.Or(cmp.Compare(a.CustomerID, b.CustomerID), cmp.Compare(a.ServiceTypeCode, b.ServiceTypeCode),
			cmp.Compare(a.ResourceTypeCode, b.ResourceTypeCode), cmp.Compare(a.ChargingMode, b.ChargingMode), cmp.Compare(a.OrderID, b.OrderID))
	})
	resp := breakdownResp{Currency: currencyCNY, TotalCount: len(details), Details: []breakdownDetail{}}
	lo, hi := pageBounds(len(details), q.offset, q.limit)
	resp.Details = append(resp.Details, details[lo:hi]...)
	return resp, nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// resourceName returns a display name for a resource type code.
func resourceName(code string) string {
	return strings.TrimPrefix(code, "hws.resource.type.")
}

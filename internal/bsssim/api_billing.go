package bsssim

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// --- ListCustomerOrders / ShowCustomerOrderDetails ---

// The order responses follow the SDK's models: CustomerOrderV2 in the list
// (with enterprise_projects and sub_order_infos of SubCustomerOrderV2),
// CustomerOrderV3 in the details (user_name and pending_payment_end_time
// instead of enterprise_projects), OrderLineItemEntityV2 for the lines.
// order_type is an integer there although the list's filter is a string.

type orderAmountInfo struct {
	Discounts                 []discountItem `json:"discounts"`
	FlexipurchaseCouponAmount num            `json:"flexipurchase_coupon_amount"`
	CouponAmount              num            `json:"coupon_amount"`
	StoredCardAmount          num            `json:"stored_card_amount"`
	CommissionAmount          num            `json:"commission_amount"`
	ConsumedAmount            num            `json:"consumed_amount"`
}

// discountItem is DiscountItemV2: the type code is a string there.
type discountItem struct {
	DiscountType   string `json:"discount_type"`
	DiscountAmount num    `json:"discount_amount"`
}

type enterpriseProject struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type orderInfo struct {
	OrderID               string               `json:"order_id"`
	CustomerID            string               `json:"customer_id"`
	ServiceTypeCode       string               `json:"service_type_code"`
	ServiceTypeName       string               `json:"service_type_name"`
	SourceType            int                  `json:"source_type"`
	Status                int                  `json:"status"`
	OrderType             int                  `json:"order_type"`
	AmountAfterDiscount   num                  `json:"amount_after_discount"`
	OfficialAmount        num                  `json:"official_amount"`
	MeasureID             int                  `json:"measure_id"`
	Currency              string               `json:"currency"`
	CreateTime            string               `json:"create_time"`
	PaymentTime           string               `json:"payment_time,omitempty"`
	ContractID            string               `json:"contract_id"`
	AmountInfo            orderAmountInfo      `json:"amount_info"`
	EnterpriseProjects    *[]enterpriseProject `json:"enterprise_projects,omitempty"`
	SubOrderInfos         []orderInfo          `json:"sub_order_infos,omitempty"`
	UserName              string               `json:"user_name,omitempty"`
	PendingPaymentEndTime string               `json:"pending_payment_end_time,omitempty"`
}

func toAmountInfo(discounts []OrderDiscount, coupon money.Amount) orderAmountInfo {
	ai := orderAmountInfo{Discounts: []discountItem{}, CouponAmount: num(coupon)}
	for _, d := range discounts {
		ai.Discounts = append(ai.Discounts, discountItem{DiscountType: d.DiscountType, DiscountAmount: num(d.DiscountAmount)})
	}
	return ai
}

// orderTypeNumber is the JSON integer of an order type; the state keeps
// it as the decimal text the list filter compares with.
func orderTypeNumber(t string) int {
	n, err := strconv.Atoi(t)
	if err != nil {
		return 0 // validate rejects non-numeric order types
	}
	return n
}

// toOrderInfo builds CustomerOrderV2 (details false, for the list) or
// CustomerOrderV3 (details true); sub-orders nest one level.
func toOrderInfo(o Order, details bool) orderInfo {
	name := o.ServiceTypeName
	if name == "" {
		name = serviceName(o.ServiceTypeCode)
	}
	oi := orderInfo{
		OrderID: o.OrderID, CustomerID: o.CustomerID, ServiceTypeCode: o.ServiceTypeCode, ServiceTypeName: name,
		SourceType: max(o.SourceType, 1), Status: o.Status, OrderType: orderTypeNumber(o.OrderType),
		AmountAfterDiscount: num(o.AmountAfterDiscount), OfficialAmount: num(o.OfficialAmount), MeasureID: 1, Currency: currencyCNY,
		CreateTime: fmtTime(o.CreateTime), ContractID: o.ContractID, AmountInfo: toAmountInfo(o.Discounts, o.CouponAmount),
	}
	if o.PaymentTime != nil {
		oi.PaymentTime = fmtTime(*o.PaymentTime)
	}
	if details {
		oi.UserName = o.UserName
		if o.PendingPaymentEndTime != nil {
			oi.PendingPaymentEndTime = fmtTime(*o.PendingPaymentEndTime)
		}
	} else {
		eps := []enterpriseProject{} // [] rather than absent, in V2 only
		for _, p := range o.EnterpriseProjects {
			eps = append(eps, enterpriseProject(p))
		}
		oi.EnterpriseProjects = &eps
	}
	for _, so := range o.SubOrders {
		so.SubOrders = nil
		oi.SubOrderInfos = append(oi.SubOrderInfos, toOrderInfo(so, details))
	}
	return oi
}

// orderVisibleLocked reports whether the caller may see an order with the
// given method: a master sees its own orders (oneself) and those of its
// sub-accounts (sub_customer); a sub-account sees only its own.
func (s *Sim) orderVisibleLocked(who caller, o Order, method string) bool {
	if who.subID != "" {
		return method == "oneself" && o.CustomerID == who.subID
	}
	if method == "oneself" {
		return o.CustomerID == who.domainID
	}
	if o.DomainID != who.domainID || o.CustomerID == who.domainID {
		return false
	}
	sa := s.subLocked(o.CustomerID)
	return sa != nil && sa.DomainID == who.domainID
}

func (s *Sim) listOrders(c *reqCtx) (any, error) {
	p := c.params()
	orderID, hasOrderID, err := p.str("order_id", 64)
	if err != nil {
		return nil, err
	}
	customerID, hasCustomer, err := p.str("customer_id", 64)
	if err != nil {
		return nil, err
	}
	ctBegin, ctEnd, err := timeRange(p, "create_time_begin", "create_time_end")
	if err != nil {
		return nil, err
	}
	ptBegin, ptEnd, err := timeRange(p, "payment_time_begin", "payment_time_end")
	if err != nil {
		return nil, err
	}
	svc, hasSvc, err := p.str("service_type_code", 64)
	if err != nil {
		return nil, err
	}
	status, err := p.num("status", -1, math.MinInt32, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	orderType, hasType, err := p.str("order_type", 64)
	if err != nil {
		return nil, err
	}
	orderBy, err := p.oneOf("order_by", "-createTime", "createTime", "-createTime")
	if err != nil {
		return nil, err
	}
	method, err := p.oneOf("method", "oneself", "oneself", "sub_customer")
	if err != nil {
		return nil, err
	}
	if _, _, err := p.str("indirect_partner_id", 64); err != nil {
		return nil, err
	}
	offset, limit, err := p.page(100)
	if err != nil {
		return nil, err
	}
	s.lock()
	defer s.unlock()
	var orders []Order
	for _, o := range s.st.Orders {
		switch {
		case !s.orderVisibleLocked(c.caller, o, method),
			hasOrderID && !strings.EqualFold(o.OrderID, orderID),
			hasCustomer && o.CustomerID != customerID,
			hasSvc && o.ServiceTypeCode != svc,
			status != -1 && o.Status != status,
			hasType && o.OrderType != orderType,
			ctBegin != nil && o.CreateTime.Before(*ctBegin),
			ctEnd != nil && o.CreateTime.After(*ctEnd),
			ptBegin != nil && (o.PaymentTime == nil || o.PaymentTime.Before(*ptBegin)),
			ptEnd != nil && (o.PaymentTime == nil || o.PaymentTime.After(*ptEnd)):
			continue
		}
		orders = append(orders, o)
	}
	slices.SortStableFunc(orders, func(a, b Order) int {
		if orderBy == "createTime" {
			return a.CreateTime.Compare(b.CreateTime)
		}
		return b.CreateTime.Compare(a.CreateTime)
	})
	infos := []orderInfo{}
	lo, hi := pageBounds(len(orders), offset, limit)
	for _, o := range orders[lo:hi] {
		infos = append(infos, toOrderInfo(o, false))
	}
	return map[string]any{"total_count": len(orders), "order_infos": infos}, nil
}

// timeRange reads a pair of UTC time parameters whose span may not exceed
// one year.
func timeRange(p params, beginName, endName string) (*time.Time, *time.Time, error) {
	begin, err := p.utcTime(beginName)
	if err != nil {
		return nil, nil, err
	}
	end, err := p.utcTime(endName)
	if err != nil {
		return nil, nil, err
	}
	if begin != nil && end != nil {
		if end.Before(*begin) {
			return nil, nil, paramErr("%s must not be before %s", endName, beginName)
		}
		if end.After(begin.AddDate(1, 0, 0)) {
			return nil, nil, paramErr("%s and %s may not be more than one year apart", beginName, endName)
		}
	}
	return begin, end, nil
}

type productObject struct {
	ProductID           string `json:"product_id,omitempty"`
	ProductSpecDesc     string `json:"product_spec_desc,omitempty"`
	CategoryCode        string `json:"category_code,omitempty"`
	ProductOwnerService string `json:"product_owner_service,omitempty"`
	CommercialResource  string `json:"commercial_resource,omitempty"`
}

type orderLineItem struct {
	OrderLineItemID     string          `json:"order_line_item_id"`
	OrderID             string          `json:"order_id"`
	ServiceTypeCode     string          `json:"service_type_code"`
	ServiceTypeName     string          `json:"service_type_name"`
	ProductID           string          `json:"product_id"`
	ProductSpecDesc     string          `json:"product_spec_desc"`
	PeriodType          int             `json:"period_type"`
	PeriodNum           int             `json:"period_num"`
	EffectiveTime       string          `json:"effective_time,omitempty"`
	ExpireTime          string          `json:"expire_time,omitempty"`
	SubscriptionNum     int             `json:"subscription_num"`
	AmountAfterDiscount num             `json:"amount_after_discount"`
	OfficialAmount      num             `json:"official_amount"`
	AmountInfo          orderAmountInfo `json:"amount_info"`
	Currency            string          `json:"currency"`
	CategoryCode        string          `json:"category_code"`
	ProductOwnerService string          `json:"product_owner_service"`
	CommercialResource  string          `json:"commercial_resource"`
	BaseProductInfo     *productObject  `json:"base_product_info,omitempty"`
}

func toLineItem(o Order, li OrderLineItem) orderLineItem {
	it := orderLineItem{
		OrderLineItemID: li.ID, OrderID: o.OrderID, ServiceTypeCode: li.ServiceTypeCode, ServiceTypeName: li.ServiceTypeName,
		ProductID: li.ProductID, ProductSpecDesc: li.ProductSpecDesc, PeriodType: li.PeriodType, PeriodNum: li.PeriodNum,
		SubscriptionNum: li.SubscriptionNum, AmountAfterDiscount: num(li.AmountAfterDiscount), OfficialAmount: num(li.OfficialAmount),
		AmountInfo: toAmountInfo(li.Discounts, 0), Currency: currencyCNY, CategoryCode: li.CategoryCode,
		ProductOwnerService: li.ProductOwnerService, CommercialResource: li.CommercialResource,
	}
	if it.ServiceTypeName == "" {
		it.ServiceTypeName = serviceName(li.ServiceTypeCode)
	}
	if it.ProductOwnerService == "" {
		it.ProductOwnerService = li.ServiceTypeCode
	}
	if it.CommercialResource == "" {
		it.CommercialResource = resourceTypeOf(li.ServiceTypeCode)
	}
	if li.EffectiveTime != nil {
		it.EffectiveTime = fmtTime(*li.EffectiveTime)
	}
	if li.ExpireTime != nil {
		it.ExpireTime = fmtTime(*li.ExpireTime)
	}
	if b := li.BaseProductInfo; b != nil {
		it.BaseProductInfo = &productObject{
			ProductID: b.ProductID, ProductSpecDesc: b.ProductSpecDesc, CategoryCode: b.CategoryCode,
			ProductOwnerService: b.ProductOwnerService, CommercialResource: b.CommercialResource,
		}
	}
	return it
}

func (s *Sim) showOrder(c *reqCtx) (any, error) {
	p := c.params()
	offset, limit, err := p.page(100)
	if err != nil {
		return nil, err
	}
	if _, _, err := p.str("indirect_partner_id", 64); err != nil {
		return nil, err
	}
	if len(c.pathParam) > 64 {
		return nil, paramErr("order_id must be at most 64 characters")
	}
	s.lock()
	defer s.unlock()
	for _, o := range s.st.Orders {
		visible := s.orderVisibleLocked(c.caller, o, "oneself") || s.orderVisibleLocked(c.caller, o, "sub_customer")
		if !visible || !strings.EqualFold(o.OrderID, c.pathParam) {
			continue
		}
		items := []orderLineItem{}
		lo, hi := pageBounds(len(o.LineItems), offset, limit)
		for _, li := range o.LineItems[lo:hi] {
			items = append(items, toLineItem(o, li))
		}
		return map[string]any{"total_count": len(o.LineItems), "order_info": toOrderInfo(o, true), "order_line_items": items}, nil
	}
	return nil, bizErr(CodeInvalidOrder, "The order %s is invalid or does not exist.", c.pathParam)
}

// --- ShowCustomerMonthlySum ---

type billSum struct {
	BillCycle                 string `json:"bill_cycle"`
	ResourceTypeCode          string `json:"resource_type_code"`
	ServiceTypeCode           string `json:"service_type_code"`
	ServiceTypeName           string `json:"service_type_name"`
	ResourceTypeName          string `json:"resource_type_name"`
	ChargingMode              int    `json:"charging_mode"`
	OfficialAmount            num    `json:"official_amount"`
	OfficialDiscountAmount    num    `json:"official_discount_amount"`
	TruncatedAmount           num    `json:"truncated_amount"`
	ConsumeAmount             num    `json:"consume_amount"`
	CouponAmount              num    `json:"coupon_amount"`
	FlexipurchaseCouponAmount num    `json:"flexipurchase_coupon_amount"`
	StoredValueCardAmount     num    `json:"stored_value_card_amount"`
	DebtAmount                num    `json:"debt_amount"`
	WriteoffAmount            num    `json:"writeoff_amount"`
	CashAmount                num    `json:"cash_amount"`
	CreditAmount              num    `json:"credit_amount"`
	MeasureID                 int    `json:"measure_id"`
	BillType                  int    `json:"bill_type"`
	CustomerID                string `json:"customer_id"`
	AccountName               string `json:"account_name"`
}

type monthlySumResp struct {
	TotalCount                int       `json:"total_count"`
	BillSums                  []billSum `json:"bill_sums"`
	ConsumeAmount             num       `json:"consume_amount"`
	DebtAmount                num       `json:"debt_amount"`
	CouponAmount              num       `json:"coupon_amount"`
	FlexipurchaseCouponAmount num       `json:"flexipurchase_coupon_amount"`
	StoredValueCardAmount     num       `json:"stored_value_card_amount"`
	CashAmount                num       `json:"cash_amount"`
	CreditAmount              num       `json:"credit_amount"`
	WriteoffAmount            num       `json:"writeoff_amount"`
	MeasureID                 int       `json:"measure_id"`
	Currency                  string    `json:"currency"`
}

func canReadBills(sa *SubAccount) bool {
	return sa.FinancialCustody == 1 || slices.Contains(sa.PermissionIDs, "READ_CONSUME_BILL")
}

func (s *Sim) monthlySum(c *reqCtx) (any, error) {
	p := c.params()
	cycle, err := p.required("bill_cycle", 8)
	if err != nil {
		return nil, err
	}
	if _, perr := time.Parse("2006-01", cycle); perr != nil || len(cycle) != 7 {
		return nil, paramErr("bill_cycle must be a month like 2026-01")
	}
	svc, hasSvc, err := p.str("service_type_code", 64)
	if err != nil {
		return nil, err
	}
	if ep, ok, err := p.str("enterprise_project_id", 64); err != nil {
		return nil, err
	} else if ok && ep == "" {
		return nil, paramErr("enterprise_project_id must not be empty")
	}
	method, err := p.oneOf("method", "all", "oneself", "sub_customer", "all")
	if err != nil {
		return nil, err
	}
	subID, hasSub, err := p.str("sub_customer_id", 64)
	if err != nil {
		return nil, err
	}
	offset, limit, err := p.page(1000)
	if err != nil {
		return nil, err
	}
	s.lock()
	defer s.unlock()
	who := c.caller
	if hasSub && subID != "" && who.subID == "" && method != "oneself" {
		sa, err := s.ownSubLocked(s.masterLocked(who.domainID), subID)
		if err != nil {
			return nil, err
		}
		if !canReadBills(sa) {
			return nil, forbiddenErr("Access denied: the sub-customer %s has not granted READ_CONSUME_BILL.", subID)
		}
	}
	visible := func(b BillRecord) bool {
		if who.subID != "" {
			return method != "sub_customer" && b.CustomerID == who.subID
		}
		if b.CustomerID == who.domainID {
			return method != "sub_customer"
		}
		if method == "oneself" || b.DomainID != who.domainID {
			return false
		}
		if hasSub && subID != "" && b.CustomerID != subID {
			return false
		}
		sa := s.subLocked(b.CustomerID)
		return sa != nil && sa.DomainID == who.domainID && canReadBills(sa)
	}
	resp := monthlySumResp{BillSums: []billSum{}, MeasureID: 1, Currency: currencyCNY}
	var rows []billSum
	for _, b := range s.st.Bills {
		if b.BillCycle != cycle || (hasSvc && b.ServiceTypeCode != svc) || !visible(b) {
			continue
		}
		rows = append(rows, billSum{
			BillCycle: b.BillCycle, ResourceTypeCode: b.ResourceTypeCode, ServiceTypeCode: b.ServiceTypeCode,
			ServiceTypeName: serviceName(b.ServiceTypeCode), ResourceTypeName: strings.TrimPrefix(b.ResourceTypeCode, "hws.resource.type."),
			ChargingMode: b.ChargingMode, OfficialAmount: num(b.OfficialAmount), OfficialDiscountAmount: num(b.DiscountAmount),
			ConsumeAmount: num(b.ConsumeAmount), CouponAmount: num(b.CouponAmount), DebtAmount: num(b.DebtAmount),
			CashAmount: num(b.CashAmount), CreditAmount: num(b.CreditAmount), MeasureID: 1, BillType: b.BillType,
			CustomerID: b.CustomerID, AccountName: b.AccountName,
		})
		resp.ConsumeAmount = num(money.Amount(resp.ConsumeAmount).Add(b.ConsumeAmount))
		resp.DebtAmount = num(money.Amount(resp.DebtAmount).Add(b.DebtAmount))
		resp.CouponAmount = num(money.Amount(resp.CouponAmount).Add(b.CouponAmount))
		resp.CashAmount = num(money.Amount(resp.CashAmount).Add(b.CashAmount))
		resp.CreditAmount = num(money.Amount(resp.CreditAmount).Add(b.CreditAmount))
	}
	resp.TotalCount = len(rows)
	lo, hi := pageBounds(len(rows), offset, limit)
	resp.BillSums = append(resp.BillSums, rows[lo:hi]...)
	return resp, nil
}

// --- ShowCustomerAccountBalances ---

type accountBalance struct {
	AccountID        string `json:"account_id"`
	AccountType      int    `json:"account_type"`
	Amount           num    `json:"amount"`
	Currency         string `json:"currency"`
	DesignatedAmount num    `json:"designated_amount"`
	CreditAmount     *num   `json:"credit_amount,omitempty"`
	MeasureID        int    `json:"measure_id"`
}

// balances is ShowCustomerAccountBalances: the caller's cash (account type
// 1) and credit (2) accounts, and its bonus (5) and deposit (7) accounts
// when it holds any, with its debt amount.
func (s *Sim) balances(c *reqCtx) (any, error) {
	now := s.lock()
	defer s.unlock()
	var id string
	var cash, bonus, deposit, debt money.Amount
	var ledgers []CreditLedger
	if c.caller.subID != "" {
		sa := s.subLocked(c.caller.subID)
		id, cash, ledgers = sa.ID, sa.cash(), sa.CreditLedgers
		bonus, deposit, debt = sa.Bonus, sa.Deposit, sa.Debt
	} else {
		m := s.masterLocked(c.caller.domainID)
		id, cash, ledgers = m.DomainID, m.Cash, m.CreditLedgers
		bonus, deposit, debt = m.Bonus, m.Deposit, m.Debt
	}
	var credit, line money.Amount
	for _, l := range ledgers {
		if l.ExpireTime == nil || now.Before(*l.ExpireTime) {
			credit = credit.Add(l.Balance)
			line = line.Add(l.Line)
		}
	}
	lineNum := num(line)
	accounts := []accountBalance{
		{AccountID: id + "-01", AccountType: 1, Amount: num(cash), Currency: currencyCNY, MeasureID: 1},
		{AccountID: id + "-02", AccountType: 2, Amount: num(credit), Currency: currencyCNY, CreditAmount: &lineNum, MeasureID: 1},
	}
	if bonus.IsPositive() {
		accounts = append(accounts, accountBalance{AccountID: id + "-05", AccountType: 5, Amount: num(bonus), Currency: currencyCNY, MeasureID: 1})
	}
	if deposit.IsPositive() {
		accounts = append(accounts, accountBalance{AccountID: id + "-07", AccountType: 7, Amount: num(deposit), Currency: currencyCNY, MeasureID: 1})
	}
	return map[string]any{
		"account_balances": accounts,
		"debt_amount":      num(debt),
		"measure_id":       1,
		"currency":         currencyCNY,
	}, nil
}

// --- ListCustomerAccountChangeRecords ---

// changeRecord is CustomerAccountChangeRecord. It has trade_detail_type
// only: trade_type is a filter of the request, not a field of the record.
type changeRecord struct {
	AccountChangeID      string `json:"account_change_id"`
	TradeDetailType      string `json:"trade_detail_type"`
	TradeTime            string `json:"trade_time"`
	TradeID              string `json:"trade_id"`
	ChangeAmount         string `json:"change_amount"`
	BalanceAfterChange   string `json:"balance_after_change"`
	RevenueExpenseType   string `json:"revenue_expense_type"`
	BillCycle            string `json:"bill_cycle"`
	PaymentChannelID     string `json:"payment_channel_id,omitempty"`
	PaymentChannelNo     string `json:"payment_channel_no,omitempty"`
	ConsumeTime          string `json:"consume_time,omitempty"`
	AccountName          string `json:"account_name"`
	CloudServiceTypeName string `json:"cloud_service_type_name,omitempty"`
	ResourceTypeName     string `json:"resource_type_name,omitempty"`
}

func (s *Sim) changeRecords(c *reqCtx) (any, error) {
	p := c.params()
	bt, err := p.balanceType()
	if err != nil {
		return nil, err
	}
	ret, hasRet := "", false
	if _, ok := p.q["revenue_expense_type"]; ok {
		if ret, err = p.oneOf("revenue_expense_type", "", Revenue, Expense); err != nil {
			return nil, err
		}
		hasRet = true
	}
	trade, hasTrade, err := p.str("trade_type", 20)
	if err != nil {
		return nil, err
	}
	tradeID, hasTradeID, err := p.str("trade_id", 128)
	if err != nil {
		return nil, err
	}
	channels, hasChannels, err := p.str("payment_channel_id", 64)
	if err != nil {
		return nil, err
	}
	if _, _, err := p.str("payment_channel_no", 64); err != nil {
		return nil, err
	}
	begin, err := p.date("trade_time_begin")
	if err != nil {
		return nil, err
	}
	end, err := p.date("trade_time_end")
	if err != nil {
		return nil, err
	}
	offset, limit, err := p.page(100)
	if err != nil {
		return nil, err
	}
	now := s.lock()
	defer s.unlock()
	local := now.In(beijing)
	today := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, beijing)
	if end == nil {
		end = &today
	}
	if begin == nil {
		b := end.AddDate(-1, 0, 0)
		begin = &b
	}
	if end.Before(*begin) {
		return nil, paramErr("trade_time_end must not be before trade_time_begin")
	}
	if end.After(begin.AddDate(1, 0, 0)) {
		return nil, paramErr("trade_time_begin and trade_time_end may not be more than one year apart")
	}
	endExcl := end.AddDate(0, 0, 1)
	who := c.caller.id()
	var recs []ChangeRecord
	for _, r := range s.st.ChangeRecords {
		switch {
		case r.CustomerID != who, r.BalanceType != bt,
			hasRet && r.RevenueExpenseType != ret,
			hasTrade && r.TradeType != trade,
			hasTradeID && r.TradeID != tradeID,
			hasChannels && !slices.Contains(strings.Split(channels, ","), r.PaymentChannelID),
			r.TradeTime.Before(*begin), !r.TradeTime.Before(endExcl):
			continue
		}
		recs = append(recs, r)
	}
	slices.SortStableFunc(recs, func(a, b ChangeRecord) int { return b.TradeTime.Compare(a.TradeTime) })
	out := []changeRecord{}
	lo, hi := pageBounds(len(recs), offset, limit)
	for _, r := range recs[lo:hi] {
		cr := changeRecord{
			AccountChangeID: r.ID, TradeDetailType: r.TradeType, TradeTime: fmtTime(r.TradeTime), TradeID: r.TradeID,
			ChangeAmount: r.ChangeAmount.String(), BalanceAfterChange: r.BalanceAfterChange.String(), RevenueExpenseType: r.RevenueExpenseType,
			BillCycle: r.TradeTime.In(beijing).Format("2006-01"), PaymentChannelID: r.PaymentChannelID, AccountName: r.AccountName,
		}
		if r.ServiceTypeCode != "" {
			cr.CloudServiceTypeName = serviceName(r.ServiceTypeCode)
			cr.ResourceTypeName = strings.TrimPrefix(resourceTypeOf(r.ServiceTypeCode), "hws.resource.type.")
			cr.ConsumeTime = cr.TradeTime
		}
		out = append(out, cr)
	}
	return map[string]any{"total_count": len(recs), "currency": currencyCNY, "records": out}, nil
}

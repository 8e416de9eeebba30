package bss

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

const (
	pathMonthlySum           = "/v2/bills/customer-bills/monthly-sum"
	pathAccountBalances      = "/v2/accounts/customer-accounts/balances"
	pathAccountChangeRecords = "/v2/accounts/customer-accounts/account-change-records"
)

// MaxMonthlySumLimit is the largest limit of GetMonthlySum.
const MaxMonthlySumLimit = 1000

// MonthlySumRequest selects a monthly bill summary. Empty fields are not sent.
type MonthlySumRequest struct {
	// BillCycle is the month, "2026-11", in Beijing time (required).
	BillCycle string
	// ServiceTypeCode restricts to one cloud service.
	ServiceTypeCode string
	// EnterpriseProjectID restricts to an enterprise project ("0" default
	// project, "-1" unassigned).
	EnterpriseProjectID string
	// Method is MethodOneself, MethodSubCustomer or MethodAll (default).
	Method string
	// SubCustomerID is the sub to query; required with MethodSubCustomer.
	SubCustomerID string
	// Offset is the 0-based record offset.
	Offset int
	// Limit is the page size, 1–1000; 0 means the server default of 10.
	Limit int
}

// MonthlySumResponse is the month's totals and one page of summary records.
type MonthlySumResponse struct {
	// TotalCount is the number of records over all pages.
	TotalCount int `json:"total_count"`
	// BillSums is this page of records.
	BillSums []BillSum `json:"bill_sums,omitempty"`
	// ConsumeAmount is the total consumption, refunds included.
	ConsumeAmount money.Amount `json:"consume_amount"`
	// DebtAmount is the total arrears.
	DebtAmount money.Amount `json:"debt_amount"`
	// CouponAmount is paid with cash vouchers.
	CouponAmount money.Amount `json:"coupon_amount"`
	// FlexipurchaseCouponAmount is paid with flexi-purchase coupons.
	FlexipurchaseCouponAmount money.Amount `json:"flexipurchase_coupon_amount"`
	// StoredValueCardAmount is paid with stored-value cards.
	StoredValueCardAmount money.Amount `json:"stored_value_card_amount"`
	// CashAmount is paid from the cash account.
	CashAmount money.Amount `json:"cash_amount"`
	// CreditAmount is paid from the credit account.
	CreditAmount money.Amount `json:"credit_amount"`
	// WriteoffAmount is arrears written off.
	WriteoffAmount money.Amount `json:"writeoff_amount"`
	// MeasureID is the unit; 1 means yuan.
	MeasureID int `json:"measure_id,omitempty"`
	// Currency is the currency code.
	Currency string `json:"currency,omitempty"`
}

// BillSum is one monthly summary record: one account, service, resource
// type, charging mode and bill type.
type BillSum struct {
	// BillCycle is the month, "2026-11".
	BillCycle string `json:"bill_cycle,omitempty"`
	// CustomerID and AccountName are the account that consumed; this is
	// how the master attributes consumption to subs.
	CustomerID  string `json:"customer_id,omitempty"`
	AccountName string `json:"account_name,omitempty"`
	// ServiceTypeCode and ServiceTypeName identify the cloud service.
	ServiceTypeCode string `json:"service_type_code,omitempty"`
	ServiceTypeName string `json:"service_type_name,omitempty"`
	// ResourceTypeCode and ResourceTypeName identify the resource type.
	ResourceTypeCode string `json:"resource_type_code,omitempty"`
	ResourceTypeName string `json:"resource_type_name,omitempty"`
	// ChargingMode: 1 yearly/monthly, 3 on-demand, 10 reserved instance.
	ChargingMode int `json:"charging_mode,omitempty"`
	// BillType: 1 consumption, 2 refund, 3 adjustment.
	BillType int `json:"bill_type,omitempty"`
	// OfficialAmount is the list price.
	OfficialAmount money.Amount `json:"official_amount"`
	// OfficialDiscountAmount is the discount.
	OfficialDiscountAmount money.Amount `json:"official_discount_amount"`
	// TruncatedAmount is the rounding write-off.
	TruncatedAmount money.Amount `json:"truncated_amount"`
	// ConsumeAmount = OfficialAmount − OfficialDiscountAmount − TruncatedAmount.
	ConsumeAmount money.Amount `json:"consume_amount"`
	// CashAmount is paid from the cash account.
	CashAmount money.Amount `json:"cash_amount"`
	// CreditAmount is paid from the credit account.
	CreditAmount money.Amount `json:"credit_amount"`
	// CouponAmount is paid with cash vouchers.
	CouponAmount money.Amount `json:"coupon_amount"`
	// FlexipurchaseCouponAmount is paid with flexi-purchase coupons.
	FlexipurchaseCouponAmount money.Amount `json:"flexipurchase_coupon_amount"`
	// StoredValueCardAmount is paid with stored-value cards.
	StoredValueCardAmount money.Amount `json:"stored_value_card_amount"`
	// DebtAmount is the arrears.
	DebtAmount money.Amount `json:"debt_amount"`
	// WriteoffAmount is arrears written off.
	WriteoffAmount money.Amount `json:"writeoff_amount"`
	// MeasureID is the unit; 1 means yuan.
	MeasureID int `json:"measure_id,omitempty"`
}

// GetMonthlySum reads the monthly bill summary
// (GET /v2/bills/customer-bills/monthly-sum).
func (c *Client) GetMonthlySum(ctx context.Context, req MonthlySumRequest) (*MonthlySumResponse, error) {
	v := validator{op: OpShowCustomerMonthlySum}
	if req.BillCycle == "" {
		v.failf("BillCycle is required")
	}
	v.timeLayout("BillCycle", req.BillCycle, billCycleLayout, "2026-11")
	v.oneOf("Method", req.Method, MethodOneself, MethodSubCustomer, MethodAll)
	if req.Method == MethodSubCustomer && req.SubCustomerID == "" {
		v.failf("SubCustomerID is required with Method %q", MethodSubCustomer)
	}
	v.maxLen("SubCustomerID", req.SubCustomerID, 64)
	v.page(req.Offset, req.Limit, MaxMonthlySumLimit)
	if v.err != nil {
		return nil, v.err
	}
	q := url.Values{}
	q.Set("bill_cycle", req.BillCycle)
	setIf(q, "service_type_code", req.ServiceTypeCode)
	setIf(q, "enterprise_project_id", req.EnterpriseProjectID)
	setIf(q, "method", req.Method)
	setIf(q, "sub_customer_id", req.SubCustomerID)
	pageQuery(q, req.Offset, req.Limit, false)
	var out MonthlySumResponse
	if err := c.do(ctx, call{op: OpShowCustomerMonthlySum, method: http.MethodGet, path: pathMonthlySum, query: q, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListAllMonthlySums reads every page of the summary (pages of 1000; req's
// Offset and Limit are ignored). The totals are the first page's; BillSums
// holds every record and TotalCount its length.
func (c *Client) ListAllMonthlySums(ctx context.Context, req MonthlySumRequest) (*MonthlySumResponse, error) {
	var first *MonthlySumResponse
	sums, err := collectPages(ctx, OpShowCustomerMonthlySum, MaxMonthlySumLimit,
		func(ctx context.Context, offset, limit int) (int, []BillSum, error) {
			r := req
			r.Offset, r.Limit = offset, limit
			resp, err := c.GetMonthlySum(ctx, r)
			if err != nil {
				return 0, nil, err
			}
			if first == nil {
				first = resp
			}
			return resp.TotalCount, resp.BillSums, nil
		}, nil)
	if err != nil {
		return nil, err
	}
	out := *first
	out.BillSums = sums
	out.TotalCount = len(sums)
	return &out, nil
}

// Account types (AccountBalance.AccountType).
const (
	AccountTypeCash    = 1
	AccountTypeCredit  = 2
	AccountTypeBonus   = 5
	AccountTypeDeposit = 7
)

// AccountBalancesResponse is the calling account's own balances.
type AccountBalancesResponse struct {
	// AccountBalances has one entry per account type.
	AccountBalances []AccountBalance `json:"account_balances,omitempty"`
	// DebtAmount is the total arrears.
	DebtAmount money.Amount `json:"debt_amount"`
	// MeasureID is the unit; 1 means yuan.
	MeasureID int `json:"measure_id,omitempty"`
	// Currency is the currency code.
	Currency string `json:"currency,omitempty"`
}

// AccountBalance is one account's balance.
type AccountBalance struct {
	// AccountID identifies the account.
	AccountID string `json:"account_id,omitempty"`
	// AccountType is one of the AccountType… constants.
	AccountType int `json:"account_type,omitempty"`
	// Amount is the balance.
	Amount money.Amount `json:"amount"`
	// DesignatedAmount is the earmarked part of the balance.
	DesignatedAmount money.Amount `json:"designated_amount"`
	// CreditAmount is the credit line (credit account only).
	CreditAmount money.Amount `json:"credit_amount"`
	// MeasureID is the unit; 1 means yuan.
	MeasureID int `json:"measure_id,omitempty"`
	// Currency is the currency code.
	Currency string `json:"currency,omitempty"`
}

// GetAccountBalances reads the calling account's own balances
// (GET /v2/accounts/customer-accounts/balances). A master cannot read a
// sub's balance this way.
func (c *Client) GetAccountBalances(ctx context.Context) (*AccountBalancesResponse, error) {
	var out AccountBalancesResponse
	if err := c.do(ctx, call{op: OpShowCustomerAccountBalances, method: http.MethodGet, path: pathAccountBalances, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Values of AccountChangeRecordsRequest.RevenueExpenseType.
const (
	RevenueExpenseRevenue = "REVENUE"
	RevenueExpenseExpense = "EXPENSE"
)

// Trade types of AccountChangeRecordsRequest.TradeType that record
// enterprise transfers.
const (
	// TradeTypeTransferIn is money transferred in by the enterprise master.
	TradeTypeTransferIn = "BEADJUST"
	// TradeTypeReclaimed is money reclaimed by the enterprise master.
	TradeTypeReclaimed = "BERETRIEVE"
)

// RecordsSpan is the longest span of income/expense records one query may
// cover (the API refuses more than a year): how far back the operator
// searches them for a trans_id.
const RecordsSpan = 364 * 24 * time.Hour

// AccountChangeRecordsRequest filters the calling account's income/expense
// records. Empty fields are not sent.
type AccountChangeRecordsRequest struct {
	// BalanceType is BalanceTypeDebit or BalanceTypeCredit (required).
	BalanceType string
	// RevenueExpenseType is RevenueExpenseRevenue or RevenueExpenseExpense.
	RevenueExpenseType string
	// TradeType filters by trade type, e.g. TradeTypeTransferIn (≤20).
	TradeType string
	// TradeTimeBegin and TradeTimeEnd are dates "2026-11-27" in Beijing
	// time; the span may not exceed one year.
	TradeTimeBegin, TradeTimeEnd string
	// TradeID filters by trade or order ID (≤128).
	TradeID string
	// PaymentChannelID is a comma-separated list of channel IDs.
	PaymentChannelID string
	// PaymentChannelNo is the channel's serial number.
	PaymentChannelNo string
	// Offset is the 0-based record offset.
	Offset int
	// Limit is the page size, 1–100; 0 means the server default of 10.
	Limit int
}

// AccountChangeRecordsResponse is one page of income/expense records.
type AccountChangeRecordsResponse struct {
	// TotalCount is the number of records over all pages.
	TotalCount int `json:"total_count"`
	// Currency is the currency code.
	Currency string `json:"currency,omitempty"`
	// Records is this page.
	Records []AccountChangeRecord `json:"records,omitempty"`
}

// AccountChangeRecord is one income/expense ledger entry.
type AccountChangeRecord struct {
	// AccountChangeID is the entry's serial number.
	AccountChangeID string `json:"account_change_id,omitempty"`
	// TradeDetailType is the detailed trade type.
	TradeDetailType string `json:"trade_detail_type,omitempty"`
	// TradeTime is when the trade happened.
	TradeTime string `json:"trade_time,omitempty"`
	// TradeID is the trade or order ID.
	TradeID string `json:"trade_id,omitempty"`
	// ChangeAmount is the signed change.
	ChangeAmount money.Amount `json:"change_amount"`
	// BalanceAfterChange is the balance after the change.
	BalanceAfterChange money.Amount `json:"balance_after_change"`
	// RevenueExpenseType is RevenueExpenseRevenue or RevenueExpenseExpense.
	RevenueExpenseType string `json:"revenue_expense_type,omitempty"`
	// BillCycle is the month, "2026-11".
	BillCycle string `json:"bill_cycle,omitempty"`
	// PaymentChannelID and PaymentChannelNo identify the payment channel.
	PaymentChannelID string `json:"payment_channel_id,omitempty"`
	PaymentChannelNo string `json:"payment_channel_no,omitempty"`
	// ConsumeTime is the consumption time, when applicable.
	ConsumeTime string `json:"consume_time,omitempty"`
	// AccountName is the account's name.
	AccountName string `json:"account_name,omitempty"`
	// CloudServiceTypeName and ResourceTypeName describe the product.
	CloudServiceTypeName string `json:"cloud_service_type_name,omitempty"`
	ResourceTypeName     string `json:"resource_type_name,omitempty"`
}

// ListAccountChangeRecords reads one page of the calling account's
// income/expense records
// (GET /v2/accounts/customer-accounts/account-change-records). Only the
// account's own credentials can read them: to see a sub's side of a
// transfer, use a Client configured with the sub's credentials.
func (c *Client) ListAccountChangeRecords(ctx context.Context, req AccountChangeRecordsRequest) (*AccountChangeRecordsResponse, error) {
	v := validator{op: OpListCustomerAccountChangeRecords}
	if req.BalanceType == "" {
		v.failf("BalanceType is required")
	}
	v.oneOf("BalanceType", req.BalanceType, BalanceTypeDebit, BalanceTypeCredit)
	v.oneOf("RevenueExpenseType", req.RevenueExpenseType, RevenueExpenseRevenue, RevenueExpenseExpense)
	v.maxLen("TradeType", req.TradeType, 20)
	v.maxLen("TradeID", req.TradeID, 128)
	b, okB := v.timeLayout("TradeTimeBegin", req.TradeTimeBegin, dateLayout, "2026-11-27")
	e, okE := v.timeLayout("TradeTimeEnd", req.TradeTimeEnd, dateLayout, "2026-11-27")
	if okB && okE {
		v.span("TradeTimeBegin..TradeTimeEnd", b, e)
	}
	v.page(req.Offset, req.Limit, MaxListLimit)
	if v.err != nil {
		return nil, v.err
	}
	q := url.Values{}
	q.Set("balance_type", req.BalanceType)
	setIf(q, "revenue_expense_type", req.RevenueExpenseType)
	setIf(q, "trade_type", req.TradeType)
	setIf(q, "trade_time_begin", req.TradeTimeBegin)
	setIf(q, "trade_time_end", req.TradeTimeEnd)
	setIf(q, "trade_id", req.TradeID)
	setIf(q, "payment_channel_id", req.PaymentChannelID)
	setIf(q, "payment_channel_no", req.PaymentChannelNo)
	pageQuery(q, req.Offset, req.Limit, true)
	var out AccountChangeRecordsResponse
	if err := c.do(ctx, call{op: OpListCustomerAccountChangeRecords, method: http.MethodGet, path: pathAccountChangeRecords, query: q, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListAllAccountChangeRecords reads every page of records matching req (its
// Offset and Limit are ignored; pages of 100) and drops duplicates by
// AccountChangeID.
func (c *Client) ListAllAccountChangeRecords(ctx context.Context, req AccountChangeRecordsRequest) ([]AccountChangeRecord, error) {
	return collectPages(ctx, OpListCustomerAccountChangeRecords, MaxListLimit,
		func(ctx context.Context, offset, limit int) (int, []AccountChangeRecord, error) {
			r := req
			r.Offset, r.Limit = offset, limit
			resp, err := c.ListAccountChangeRecords(ctx, r)
			if err != nil {
				return 0, nil, err
			}
			return resp.TotalCount, resp.Records, nil
		},
		func(r AccountChangeRecord) string { return r.AccountChangeID })
}

package bsssim

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Credentials of the master account in DefaultState. They are fake and only
// valid against the simulator.
const (
	// DefaultAccessKey is the access key (AK) of the default master.
	DefaultAccessKey = "BSSSIMAK000000000001"
	// DefaultSecretKey is the secret key (SK) of the default master.
	DefaultSecretKey = "bsssimSecretKey0000000000000000000000000"
	// DefaultDomainID is the domain (account) id of the default master; it
	// is also the master's customer id.
	DefaultDomainID = "0c5a17e0d0d0400f8e1b5a51a0000001"
	// DefaultMasterName is the account name of the default master.
	DefaultMasterName = "bsssim-enterprise"
)

// Balance types as BSS spells them.
const (
	// BalanceTypeDebit is the cash (balance) account.
	BalanceTypeDebit = "BALANCE_TYPE_DEBIT"
	// BalanceTypeCredit is the credit account.
	BalanceTypeCredit = "BALANCE_TYPE_CREDIT" //nolint:gosec // G101: a balance type, not a credential.
)

// Sub-account statuses as returned by ListEnterpriseSubCustomers.
const (
	// SubStatusNormal is an active sub-account.
	SubStatusNormal = 1
	// SubStatusCreating is a sub-account that is still being created.
	SubStatusCreating = 2
	// SubStatusClosing is a sub-account that is being closed.
	SubStatusClosing = 3
	// SubStatusClosed is a closed sub-account.
	SubStatusClosed = 4
)

// Order statuses used by the simulator (a subset of BSS's).
const (
	// OrderProcessing is status 3, processing.
	OrderProcessing = 3
	// OrderCancelled is status 4, cancelled.
	OrderCancelled = 4
	// OrderCompleted is status 5, completed.
	OrderCompleted = 5
	// OrderPendingPayment is status 6, pending payment.
	OrderPendingPayment = 6
)

// Order types used by the simulator (a subset of BSS's).
const (
	// OrderTypeNew is a new purchase.
	OrderTypeNew = "1"
	// OrderTypeRenewal is a renewal.
	OrderTypeRenewal = "2"
)

// Money operations recorded in the ledger. Their values are the last path
// segment of the corresponding API.
const (
	// OpTransferAmount is a cash or credit transfer from the master to a sub.
	OpTransferAmount = "transfer-amount"
	// OpRetrieveAmount is a cash or credit reclaim from a sub.
	OpRetrieveAmount = "retrieve-amount"
	// OpTransferCoupon carves a sub-coupon out of a master coupon.
	OpTransferCoupon = "transfer-coupon"
	// OpRetrieveCoupon returns a sub-coupon's balance to its parent coupon.
	OpRetrieveCoupon = "retrieve-coupon"
	// OpPayOrder is the payment of a yearly/monthly order by the master
	// (PayOrders). Its entry has the order's id; an order is paid at most
	// once, and CheckLedger reports one paid twice.
	OpPayOrder = "pay-order"
)

// Account change trade types written by the simulator.
const (
	// TradeRecharge is money added by the admin API.
	TradeRecharge = "RECHARGE"
	// TradeDeduct is consumption ("DEDEUCT" is Huawei's spelling).
	TradeDeduct = "DEDEUCT"
	// TradeTransferIn is a transfer between master and sub (BEADJUST).
	TradeTransferIn = "BEADJUST"
	// TradeRetrieve is a reclaim between master and sub (BERETRIEVE).
	TradeRetrieve = "BERETRIEVE"
)

// Revenue or expense direction of an account change record.
const (
	// Revenue is money coming in.
	Revenue = "REVENUE"
	// Expense is money going out.
	Expense = "EXPENSE"
)

// DefaultServiceTypeCode is the cloud service that consumption is billed to
// when a sub-account does not name one.
const DefaultServiceTypeCode = "hws.service.type.ec2"

// beijing is the zone of bill cycles and trade dates (UTC+8).
var beijing = time.FixedZone("UTC+8", 8*60*60)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string such as "24h" or "250ms".
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string such as "1h30m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"24h\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// State is everything the simulator knows. It is what --state files hold
// (YAML or JSON) and what GET /_sim/state returns. Items that belong to a
// master carry its domain_id; when a state has exactly one master, an empty
// domain_id means that master.
type State struct {
	// Masters are the enterprise master accounts.
	Masters []Master `json:"masters"`
	// Orgs are the organization units below the masters' roots.
	Orgs []OrgUnit `json:"orgs,omitempty"`
	// SubAccounts are the enterprise sub-accounts.
	SubAccounts []SubAccount `json:"sub_accounts,omitempty"`
	// Coupons are the masters' transferable cash coupons.
	Coupons []Coupon `json:"coupons,omitempty"`
	// SubCoupons are coupons carved out of master coupons for sub-accounts.
	SubCoupons []SubCoupon `json:"sub_coupons,omitempty"`
	// Orders are yearly/monthly orders of masters and sub-accounts.
	Orders []Order `json:"orders,omitempty"`
	// Bills are monthly-sum bill records.
	Bills []BillRecord `json:"bills,omitempty"`
	// Costs are the daily on-demand cost records behind ListCosts and
	// ListCustomerBillsMonthlyBreakDown; the costs of paid yearly/monthly
	// orders are derived from Orders. They are reports, not money.
	Costs []CostRecord `json:"costs,omitempty"`
	// Packages are the resource packages of masters and sub-accounts.
	Packages []ResourcePackage `json:"packages,omitempty"`
	// ChangeRecords are account change (income/expense) records.
	ChangeRecords []ChangeRecord `json:"change_records,omitempty"`
	// Ledger lists every money operation that was applied, in order.
	Ledger []LedgerEntry `json:"ledger,omitempty"`
	// BurnedTransIDs lists the trans_ids refused while refused ones were
	// burned (Behaviour.RefusedTransIDs), in order. Nothing moved for them.
	BurnedTransIDs []BurnedTransID `json:"burned_trans_ids,omitempty"`
	// SMSCodes are the verification codes sent, newest last.
	SMSCodes []SMSCode `json:"sms_codes,omitempty"`
	// TimeOffset is how far simulated time runs ahead of the real clock.
	TimeOffset Duration `json:"time_offset,omitempty"`
	// NextID is the counter behind generated ids.
	NextID int64 `json:"next_id,omitempty"`
	// SimTime is the simulated time when the state was captured. It is
	// output only and ignored when a state is loaded.
	SimTime *time.Time `json:"sim_time,omitempty"`
	// Behaviour is the behaviour in force when the state was captured,
	// with every default spelled out. It is output only and ignored when a
	// state is loaded: the behaviour is configuration (Options.Behaviour,
	// SetBehaviour), not state.
	Behaviour *Behaviour `json:"behaviour,omitempty"`
}

// Master is an enterprise master account.
type Master struct {
	// DomainID is the account id; it doubles as the master's customer id.
	DomainID string `json:"domain_id"`
	// Name is the account (login) name.
	Name string `json:"name"`
	// AccessKey and SecretKey sign API requests made as this master.
	AccessKey string `json:"access_key"`
	// SecretKey is the secret half of the key pair.
	SecretKey string `json:"secret_key"`
	// MobilePhone is the master's phone, reused by use_pri_mobile_phone=Y.
	MobilePhone string `json:"mobile_phone,omitempty"`
	// RootOrgID and RootOrgName describe the root of the organization tree.
	RootOrgID string `json:"root_org_id"`
	// RootOrgName is the root's name; it may be empty.
	RootOrgName string `json:"root_org_name,omitempty"`
	// Cash is the transferable cash balance.
	Cash money.Amount `json:"cash"`
	// CreditLedgers are the master's credit ledgers (one per expiry).
	CreditLedgers []CreditLedger `json:"credit_ledgers,omitempty"`
	// MaxSubAccounts limits the number of sub-accounts; 0 means no limit.
	MaxSubAccounts int `json:"max_sub_accounts,omitempty"`
	// Bonus, Deposit and Debt are what ShowCustomerAccountBalances reports
	// besides cash and credit: the bonus (account type 5) and deposit (7)
	// balances and the debt amount. They cannot be transferred and are no
	// part of the conservation check.
	Bonus money.Amount `json:"bonus,omitempty"`
	// Deposit is the deposit (margin) balance, account type 7.
	Deposit money.Amount `json:"deposit,omitempty"`
	// Debt is the debt_amount of the balances.
	Debt money.Amount `json:"debt,omitempty"`
	// CostCenterDisabled turns the master's Cost Center off: ListCosts and
	// ListCustomerBillsMonthlyBreakDown answer CBC.18000014, also to its
	// sub-accounts. The zero value is enabled.
	CostCenterDisabled bool `json:"cost_center_disabled,omitempty"`
	// CostLagDays, when set, overrides Options.CostLagDays for this master
	// and its sub-accounts: the cost data of a UTC+8 day shows from that
	// many days after it (0: the same day).
	CostLagDays *int `json:"cost_lag_days,omitempty"`
	// FinanceIndependentLimit, when set, overrides
	// Options.FinanceIndependentLimit: ListCosts answers CBC.18000048 to a
	// query over the master's sub-accounts when it has more
	// finance-independent sub-accounts than this.
	FinanceIndependentLimit *int `json:"finance_independent_limit,omitempty"`
	// Totals track the money that entered and left this master's books.
	Totals Totals `json:"totals"`
}

// Totals are the conservation counters of one master.
type Totals struct {
	// Seeded is the money present when the state was first loaded. When a
	// state file omits it, it is computed from the balances.
	Seeded *money.Amount `json:"seeded,omitempty"`
	// Added is the money put in by the admin API.
	Added money.Amount `json:"added"`
	// Consumed is the money sub-accounts spent.
	Consumed money.Amount `json:"consumed"`
	// OrdersPaid is the money (cash, credit and coupons) the master spent
	// paying yearly/monthly orders (PayOrders); it equals the sum of the
	// ledger's pay-order entries.
	OrdersPaid money.Amount `json:"orders_paid,omitempty"`
}

// CreditLedger is one credit account ledger. A nil ExpireTime means the
// ledger never expires.
type CreditLedger struct {
	// Line is the credit line.
	Line money.Amount `json:"line"`
	// Balance is the available credit.
	Balance money.Amount `json:"balance"`
	// ExpireTime is when the ledger expires (UTC, whole seconds).
	ExpireTime *time.Time `json:"expire_time,omitempty"`
}

// OrgUnit is an organization unit. ParentID is empty (or the root id) for a
// unit directly below the master's root.
type OrgUnit struct {
	// ID is the unit's Party ID (digits).
	ID string `json:"id"`
	// DomainID is the owning master.
	DomainID string `json:"domain_id,omitempty"`
	// Name is the display name.
	Name string `json:"name"`
	// ParentID is the parent unit's Party ID.
	ParentID string `json:"parent_id,omitempty"`
	// RelationID is the id of the parent-child relation.
	RelationID string `json:"relation_id,omitempty"`
	// PaymentBudget, when set, models Huawei's enterprise-organization
	// budget control: PayOrders of an order of a sub-account in this unit
	// answers CBC.99003198 when PaymentSpent plus the amount would exceed it.
	PaymentBudget *money.Amount `json:"payment_budget,omitempty"`
	// PaymentSpent is what PayOrders took for orders of the unit's
	// sub-accounts.
	PaymentSpent money.Amount `json:"payment_spent,omitempty"`
}

// SubAccount is an enterprise sub-account.
type SubAccount struct {
	// ID is the customer id used as customer_id/sub_customer_id.
	ID string `json:"id"`
	// DomainID is the master the sub-account belongs to.
	DomainID string `json:"domain_id,omitempty"`
	// Name is the login name.
	Name string `json:"name"`
	// DisplayName is the display name.
	DisplayName string `json:"display_name,omitempty"`
	// OrgID is the Party ID of the org unit (or the root id).
	OrgID string `json:"org_id,omitempty"`
	// Status is 1 normal, 2 being created, 3 being closed, 4 closed.
	Status int `json:"status"`
	// MobilePhone is the sub-account's own phone, if any.
	MobilePhone string `json:"mobile_phone,omitempty"`
	// PermissionIDs are the permissions granted to the master.
	PermissionIDs []string `json:"permission_ids,omitempty"`
	// FinancialCustody is 1 when the master pays for the sub-account.
	FinancialCustody int `json:"financial_custody,omitempty"`
	// ReclaimableCash is cash the master transferred and may reclaim.
	ReclaimableCash money.Amount `json:"reclaimable_cash"`
	// SelfFundedCash is cash the sub-account topped up itself.
	SelfFundedCash money.Amount `json:"self_funded_cash"`
	// CreditLedgers are credit received from the master, one per expiry.
	CreditLedgers []CreditLedger `json:"credit_ledgers,omitempty"`
	// ConsumptionRate is the spend in yuan per simulated hour; nil uses
	// Options.ConsumptionRate.
	ConsumptionRate *money.Amount `json:"consumption_rate,omitempty"`
	// ServiceTypeCode is the service consumption is billed to.
	ServiceTypeCode string `json:"service_type_code,omitempty"`
	// AccessKey and SecretKey, when set, let requests be signed as the
	// sub-account (for its own balances and change records).
	AccessKey string `json:"access_key,omitempty"`
	// SecretKey is the secret half of the sub-account's key pair.
	SecretKey string `json:"secret_key,omitempty"`
	// CreatedAt is the simulated creation time.
	CreatedAt time.Time `json:"created_at,omitzero"`
	// ReadyAt is when a sub-account being created becomes normal.
	ReadyAt *time.Time `json:"ready_at,omitempty"`
	// ConsumedUntil is the simulated time consumption was applied up to.
	ConsumedUntil *time.Time `json:"consumed_until,omitempty"`
	// ConsumptionCarry is the spend below one fen carried to the next
	// catch-up, in fen-nanoseconds per hour.
	ConsumptionCarry int64 `json:"consumption_carry,omitempty"`
	// Bonus, Deposit and Debt are the sub-account's own bonus (account
	// type 5) and deposit (7) balances and debt amount, as its own
	// ShowCustomerAccountBalances reports them. Like the master's, they
	// cannot be transferred and are no part of the conservation check.
	Bonus money.Amount `json:"bonus,omitempty"`
	// Deposit is the deposit (margin) balance, account type 7.
	Deposit money.Amount `json:"deposit,omitempty"`
	// Debt is the debt_amount of the balances.
	Debt money.Amount `json:"debt,omitempty"`
}

// Coupon is a master's transferable cash coupon.
type Coupon struct {
	// ID is the coupon id.
	ID string `json:"id"`
	// DomainID is the owning master.
	DomainID string `json:"domain_id,omitempty"`
	// PlanName is the coupon plan's name.
	PlanName string `json:"plan_name"`
	// Balance is what is left to transfer or spend.
	Balance money.Amount `json:"balance"`
	// EffectiveTime is when the coupon becomes usable.
	EffectiveTime time.Time `json:"effective_time"`
	// ExpireTime is when the coupon expires.
	ExpireTime time.Time `json:"expire_time"`
	// UseLimits are the coupon's usage restrictions; the sub-coupons
	// carved out of it show the same ones. PayOrders reads the keys
	// described at OrderCouponUsable.
	UseLimits []CouponUseLimit `json:"use_limits,omitempty"`
	// CouponType is the type ListOrderCouponsByOrderId reports: 1 cash
	// voucher (the default) or 4 flexi-purchase coupon. Both pay their
	// balance toward an order.
	CouponType int `json:"coupon_type,omitempty"`
	// FaceValue is the coupon's face value; zero means its balance when it
	// was added.
	FaceValue money.Amount `json:"face_value,omitempty"`
	// LastUsedTime is when PayOrders last took money from it.
	LastUsedTime *time.Time `json:"last_used_time,omitempty"`
}

// CouponUseLimit is one usage restriction of a coupon (ICouponUseLimitInfoV2).
// Every value is text, as BSS sends it.
type CouponUseLimit struct {
	// ID is the restriction's id; the JSON name is Huawei's spelling.
	ID string `json:"use_limiti_info_id"`
	// LimitKey names the restriction, e.g. "cloudServiceType".
	LimitKey string `json:"limit_key"`
	// Value1 is the restriction's first parameter.
	Value1 string `json:"value1,omitempty"`
	// Value2 is the restriction's second parameter.
	Value2 string `json:"value2,omitempty"`
	// ValueUnit is the unit of the values.
	ValueUnit string `json:"value_unit,omitempty"`
	// LimitType is the kind of restriction.
	LimitType string `json:"limit_type,omitempty"`
	// PromotionPlanID is the promotion plan the coupon comes from.
	PromotionPlanID string `json:"promotion_plan_id,omitempty"`
}

// SubCoupon is a coupon carved out of a master coupon for a sub-account.
type SubCoupon struct {
	// ID is the sub-coupon id.
	ID string `json:"id"`
	// ParentCouponID is the master coupon it was carved from.
	ParentCouponID string `json:"parent_coupon_id"`
	// CustomerID is the sub-account holding it.
	CustomerID string `json:"customer_id"`
	// Balance is what is left.
	Balance money.Amount `json:"balance"`
}

// Order is a yearly/monthly order.
type Order struct {
	// OrderID is the order id.
	OrderID string `json:"order_id"`
	// CustomerID is the account that placed the order (a sub-account id or
	// the master's domain id).
	CustomerID string `json:"customer_id"`
	// DomainID is the master the customer belongs to.
	DomainID string `json:"domain_id,omitempty"`
	// ServiceTypeCode is e.g. hws.service.type.ec2.
	ServiceTypeCode string `json:"service_type_code"`
	// ServiceTypeName is the service's display name.
	ServiceTypeName string `json:"service_type_name,omitempty"`
	// OrderType is "1" new, "2" renewal, and so on: decimal digits, sent
	// to clients as a JSON integer.
	OrderType string `json:"order_type"`
	// Status is 3 processing, 4 cancelled, 5 completed, 6 pending payment.
	Status int `json:"status"`
	// SourceType is 1 for orders placed by the customer.
	SourceType int `json:"source_type,omitempty"`
	// AmountAfterDiscount is the price to pay.
	AmountAfterDiscount money.Amount `json:"amount_after_discount"`
	// OfficialAmount is the list price.
	OfficialAmount money.Amount `json:"official_amount"`
	// CreateTime is when the order was created.
	CreateTime time.Time `json:"create_time"`
	// PaymentTime is when the order was paid.
	PaymentTime *time.Time `json:"payment_time,omitempty"`
	// PendingPaymentEndTime is the payment deadline of a pending order.
	PendingPaymentEndTime *time.Time `json:"pending_payment_end_time,omitempty"`
	// UserName is the login name of the operator.
	UserName string `json:"user_name,omitempty"`
	// ContractID is the contract the order was placed under, if any.
	ContractID string `json:"contract_id,omitempty"`
	// Discounts are the discounts applied to the order (amount_info).
	Discounts []OrderDiscount `json:"discounts,omitempty"`
	// CouponAmount is the part paid with cash vouchers (amount_info).
	CouponAmount money.Amount `json:"coupon_amount,omitempty"`
	// EnterpriseProjects are the enterprise projects of the order.
	EnterpriseProjects []EnterpriseProject `json:"enterprise_projects,omitempty"`
	// SubOrders are the orders of a combined-transaction order
	// (sub_order_infos). They are listed only inside their parent.
	SubOrders []Order `json:"sub_orders,omitempty"`
	// LineItems are the order's lines.
	LineItems []OrderLineItem `json:"line_items,omitempty"`
	// DiscountOffers are the discounts the order may be paid with
	// (ListOrderDiscounts). A 609 price adjustment among them must be used.
	DiscountOffers []DiscountOffer `json:"discount_offers,omitempty"`
	// PaymentDoneAt is when a payment being processed (status 3) completes
	// (status 5); set by PayOrders while Faults.PaymentProcessing is
	// positive.
	PaymentDoneAt *time.Time `json:"payment_done_at,omitempty"`
}

// DiscountOffer is a discount an order may be paid with (DiscountInfoV3 of
// ListOrderDiscounts). It applies to every line of the order.
type DiscountOffer struct {
	// ID is the discount id PayOrders' discount_infos name.
	ID string `json:"id"`
	// Type is 0 promotion, 1 contract, 2 business, 3 partner-granted, 609
	// order price adjustment.
	Type int `json:"type"`
	// Mode is 0 discount ratio, 1 fixed price, 2 amount off.
	Mode int `json:"mode,omitempty"`
	// Ratio is the discount ratio as text (e.g. "0.90"), compared with
	// a coupon's minConsumeDiscount; empty means none.
	Ratio string `json:"ratio,omitempty"`
	// Amount is what the discount takes off the order's amount.
	Amount money.Amount `json:"amount"`
}

// OrderDiscount is one discount of an order or order line (DiscountItemV2).
type OrderDiscount struct {
	// DiscountType is the discount's type code as text, e.g. "301" cash
	// voucher or "605" business contract discount.
	DiscountType string `json:"discount_type"`
	// DiscountAmount is the amount taken off.
	DiscountAmount money.Amount `json:"discount_amount"`
}

// EnterpriseProject is an enterprise project an order belongs to.
type EnterpriseProject struct {
	// ID is the project id ("0" is the default project).
	ID string `json:"id"`
	// Name is the project's name.
	Name string `json:"name"`
}

// ProductInfo describes a product (ProductObject), e.g. the base product
// of a renewal or change line.
type ProductInfo struct {
	// ProductID is the product id.
	ProductID string `json:"product_id,omitempty"`
	// ProductSpecDesc describes the product.
	ProductSpecDesc string `json:"product_spec_desc,omitempty"`
	// CategoryCode is the product catalog code.
	CategoryCode string `json:"category_code,omitempty"`
	// ProductOwnerService is the service type code the product belongs to.
	ProductOwnerService string `json:"product_owner_service,omitempty"`
	// CommercialResource is the resource type code it is sold as.
	CommercialResource string `json:"commercial_resource,omitempty"`
}

// OrderLineItem is one line of an order.
type OrderLineItem struct {
	// ID is the line item id.
	ID string `json:"id"`
	// ServiceTypeCode is the line's service.
	ServiceTypeCode string `json:"service_type_code"`
	// ServiceTypeName is the service's display name; empty means the
	// simulator's name for ServiceTypeCode.
	ServiceTypeName string `json:"service_type_name,omitempty"`
	// ProductID is the product id.
	ProductID string `json:"product_id,omitempty"`
	// ProductSpecDesc describes the product.
	ProductSpecDesc string `json:"product_spec_desc,omitempty"`
	// PeriodType is 2 month or 3 year.
	PeriodType int `json:"period_type"`
	// PeriodNum is the number of periods.
	PeriodNum int `json:"period_num"`
	// SubscriptionNum is the quantity.
	SubscriptionNum int `json:"subscription_num"`
	// EffectiveTime and ExpireTime bound the subscription.
	EffectiveTime *time.Time `json:"effective_time,omitempty"`
	// ExpireTime is the end of the subscription.
	ExpireTime *time.Time `json:"expire_time,omitempty"`
	// AmountAfterDiscount is the line's price.
	AmountAfterDiscount money.Amount `json:"amount_after_discount"`
	// OfficialAmount is the line's list price.
	OfficialAmount money.Amount `json:"official_amount"`
	// Discounts are the discounts applied to the line (amount_info).
	Discounts []OrderDiscount `json:"discounts,omitempty"`
	// CategoryCode is the product catalog code.
	CategoryCode string `json:"category_code,omitempty"`
	// ProductOwnerService is the service type code the product belongs to;
	// empty means ServiceTypeCode.
	ProductOwnerService string `json:"product_owner_service,omitempty"`
	// CommercialResource is the resource type code the product is sold
	// as; empty means the simulator's resource type of ServiceTypeCode.
	CommercialResource string `json:"commercial_resource,omitempty"`
	// BaseProductInfo is the product a renewal or change line is based on.
	BaseProductInfo *ProductInfo `json:"base_product_info,omitempty"`
}

// BillRecord is one monthly-sum bill record (BillSumRecordInfoV2).
type BillRecord struct {
	// BillCycle is YYYY-MM in UTC+8.
	BillCycle string `json:"bill_cycle"`
	// CustomerID is the account that consumed.
	CustomerID string `json:"customer_id"`
	// DomainID is the master the customer belongs to.
	DomainID string `json:"domain_id,omitempty"`
	// AccountName is the consuming account's name.
	AccountName string `json:"account_name"`
	// ServiceTypeCode is the cloud service.
	ServiceTypeCode string `json:"service_type_code"`
	// ResourceTypeCode is the resource type.
	ResourceTypeCode string `json:"resource_type_code,omitempty"`
	// ChargingMode is 1 yearly/monthly, 3 on demand.
	ChargingMode int `json:"charging_mode"`
	// BillType is 1 consumption, 2 refund, 3 adjustment.
	BillType int `json:"bill_type"`
	// OfficialAmount is the list price.
	OfficialAmount money.Amount `json:"official_amount"`
	// DiscountAmount is the discount.
	DiscountAmount money.Amount `json:"official_discount_amount"`
	// ConsumeAmount is official − discount.
	ConsumeAmount money.Amount `json:"consume_amount"`
	// CashAmount is the part paid with cash.
	CashAmount money.Amount `json:"cash_amount"`
	// CreditAmount is the part paid with credit.
	CreditAmount money.Amount `json:"credit_amount"`
	// CouponAmount is the part paid with coupons.
	CouponAmount money.Amount `json:"coupon_amount"`
	// DebtAmount is the unpaid part.
	DebtAmount money.Amount `json:"debt_amount"`
}

// ChangeRecord is one account change (income/expense) record.
type ChangeRecord struct {
	// ID is account_change_id.
	ID string `json:"id"`
	// CustomerID is the account whose balance changed.
	CustomerID string `json:"customer_id"`
	// AccountName is that account's name.
	AccountName string `json:"account_name,omitempty"`
	// BalanceType is BALANCE_TYPE_DEBIT or BALANCE_TYPE_CREDIT.
	BalanceType string `json:"balance_type"`
	// TradeType is RECHARGE, DEDEUCT, BEADJUST or BERETRIEVE.
	TradeType string `json:"trade_type"`
	// RevenueExpenseType is REVENUE or EXPENSE.
	RevenueExpenseType string `json:"revenue_expense_type"`
	// TradeID is the trans_id of a transfer, or a generated id.
	TradeID string `json:"trade_id"`
	// TradeTime is when the change happened.
	TradeTime time.Time `json:"trade_time"`
	// ChangeAmount is the amount of the change (positive).
	ChangeAmount money.Amount `json:"change_amount"`
	// BalanceAfterChange is the balance of that balance type afterwards.
	BalanceAfterChange money.Amount `json:"balance_after_change"`
	// PaymentChannelID is set for recharges.
	PaymentChannelID string `json:"payment_channel_id,omitempty"`
	// ServiceTypeCode is set for consumption.
	ServiceTypeCode string `json:"service_type_code,omitempty"`
}

// LedgerEntry is one applied money operation.
type LedgerEntry struct {
	// TransID is the trans_id (sent by the client or generated).
	TransID string `json:"trans_id"`
	// Operation is one of the Op* constants.
	Operation string `json:"operation"`
	// DomainID is the master that made the call.
	DomainID string `json:"domain_id"`
	// CustomerID is the sub-account.
	CustomerID string `json:"customer_id"`
	// Amount is the money moved (for a coupon reclaim, what was returned).
	Amount money.Amount `json:"amount"`
	// BalanceType is set for amount operations.
	BalanceType string `json:"balance_type,omitempty"`
	// ExpireTime is the credit ledger's expiry for credit operations.
	ExpireTime *time.Time `json:"expire_time,omitempty"`
	// CouponID is the master coupon for coupon operations.
	CouponID string `json:"coupon_id,omitempty"`
	// SubCouponID is the sub-coupon created or reclaimed.
	SubCouponID string `json:"sub_coupon_id,omitempty"`
	// Time is the simulated time of the operation.
	Time time.Time `json:"time"`
	// RequestID is the X-Request-Id of the request that applied it.
	RequestID string `json:"request_id,omitempty"`
	// SelfFunded is the part of a cash reclaim taken from the
	// sub-account's own top-ups (SelfFundedCash), which only
	// Behaviour.Reclaimable = ReclaimableTotal allows; the rest of Amount
	// came from its reclaimable cash.
	SelfFunded money.Amount `json:"self_funded,omitempty"`
	// OrderID is the order a pay-order entry paid.
	OrderID string `json:"order_id,omitempty"`
	// CouponAmount is the part of a pay-order entry's Amount paid with
	// coupons; the rest came from the master's cash and credit.
	CouponAmount money.Amount `json:"coupon_amount,omitempty"`
	// CreditAmount is the part of a pay-order entry's Amount paid with
	// the master's credit; Amount − CouponAmount − CreditAmount came from
	// its cash. The cost data splits the order's cost by it.
	CreditAmount money.Amount `json:"credit_amount,omitempty"`
	// AfterRetention is set when BSS had seen the trans_id before (applied
	// or burned) and had forgotten it (Behaviour.TransIDRetention) when it
	// processed this request as new. CheckLedger still reports a trans_id
	// applied twice; New accepts such a state only when the later entry is
	// marked so.
	AfterRetention bool `json:"after_retention,omitempty"`
}

// SMSCode is a verification code sent by SendSmsVerificationCode.
type SMSCode struct {
	// DomainID is the master that asked for it.
	DomainID string `json:"domain_id"`
	// MobilePhone is where it was sent.
	MobilePhone string `json:"mobile_phone"`
	// Code is the 6-digit code.
	Code string `json:"code"`
	// SubCustomerName is the sub_customer_name template argument.
	SubCustomerName string `json:"sub_customer_name,omitempty"`
	// SentAt is the simulated send time.
	SentAt time.Time `json:"sent_at"`
	// ExpiresAt is when the code stops being accepted.
	ExpiresAt time.Time `json:"expires_at"`
	// Used is set once a sub-account was created with the code.
	Used bool `json:"used,omitempty"`
}

// DefaultState returns the built-in seed relative to the current time. See
// DefaultStateAt.
func DefaultState() *State { return DefaultStateAt(time.Now()) }

// DefaultStateAt returns the built-in seed with times relative to now:
//
//   - one master (DefaultDomainID, DefaultMasterName, DefaultAccessKey,
//     DefaultSecretKey) with 100000.00 cash, a credit ledger with line and
//     balance 50000.00 expiring at the end of next year (UTC+8), a
//     permanent credit ledger with line and balance 20000.00, a bonus
//     balance of 88.00 and a deposit of 5000.00;
//   - org units "R&D" (party id 1234567890) and "Ops" (1234567891) below the
//     root "bsssim-enterprise" (1000000000);
//   - sub-accounts team-a (cust-team-a-0001) and team-b (cust-team-b-0001)
//     in R&D and team-c (cust-team-c-0001) in Ops; team-a holds 1000.00
//     reclaimable and 200.00 self-funded cash and sub-coupon
//     SCP2026110100009 (100.00), team-c holds 500.00 of credit;
//   - coupons CP2026110100001 (2000.00), CP2026110100002 (1000.00) and
//     CP2026110100003 (500.00);
//   - four orders (completed, pending payment, processing, cancelled); the
//     completed one (CS2026000000001, team-a, 1200.00, paid 40 days before
//     now) is a one-year subscription, so the Cost Center amortizes it over
//     the year from its payment day;
//   - monthly-sum bill records for the current and previous bill cycle
//     (the yearly/monthly record of CS2026000000001 is in the previous
//     cycle, although before the 10th of a month the order was paid in the
//     cycle before it, where its original cost is);
//   - daily cost records behind every on-demand bill record, adding up to
//     it to the fen: the previous cycle's days, and the current cycle's
//     days before today (today itself when it is the 1st), with a
//     day-to-day variation, quieter weekends and one spike day (team-a, the
//     12th of the previous cycle, six times an ordinary day);
//   - three resource packages of the master: OBS storage (500 GB, 412.50
//     left, expiring in ten days at UTC+8 midnight), CDN traffic (100 GB
//     each natural month, used at 0.08 GB an hour) and RDS backup storage
//     (100 GB, used up).
func DefaultStateAt(now time.Time) *State {
	now = now.UTC().Truncate(time.Second)
	local := now.In(beijing)
	endOfNextYear := time.Date(local.Year()+1, time.December, 31, 23, 59, 59, 0, beijing).UTC()
	startOfYear := time.Date(local.Year(), time.January, 1, 0, 0, 0, 0, beijing).UTC()
	curCycle := local.Format("2006-01")
	prevCycle := time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, beijing).AddDate(0, -1, 0).Format("2006-01")
	readFin := []string{"READ_FINANCE_INFO", "READ_CONSUME_BILL"}
	y := money.MustParse
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	sub := func(id, name, display, org string) SubAccount {
		return SubAccount{
			ID: id, DomainID: DefaultDomainID, Name: name, DisplayName: display, OrgID: org,
			Status: SubStatusNormal, PermissionIDs: append([]string(nil), readFin...),
			ServiceTypeCode: DefaultServiceTypeCode, CreatedAt: now.AddDate(0, -3, 0),
		}
	}
	teamA := sub("cust-team-a-0001", "team-a", "Team A", "1234567890")
	teamA.ReclaimableCash = y("1000.00")
	teamA.SelfFundedCash = y("200.00")
	teamB := sub("cust-team-b-0001", "team-b", "Team B", "1234567890")
	teamC := sub("cust-team-c-0001", "team-c", "Team C", "1234567891")
	teamC.ServiceTypeCode = "hws.service.type.obs"
	teamC.CreditLedgers = []CreditLedger{{Line: y("500.00"), Balance: y("500.00"), ExpireTime: &endOfNextYear}}
	permanent := CreditLedger{Line: y("20000.00"), Balance: y("20000.00")}
	expiring := endOfNextYear
	coupon := func(id, plan, bal string) Coupon {
		return Coupon{ID: id, DomainID: DefaultDomainID, PlanName: plan, Balance: y(bal), EffectiveTime: startOfYear, ExpireTime: endOfNextYear}
	}
	order := func(id, cust, svc, typ string, status int, amount string, age time.Duration) Order {
		o := Order{
			OrderID: id, CustomerID: cust, DomainID: DefaultDomainID, ServiceTypeCode: svc, ServiceTypeName: serviceName(svc),
			OrderType: typ, Status: status, SourceType: 1, AmountAfterDiscount: y(amount), OfficialAmount: y(amount),
			CreateTime: now.Add(-age), UserName: "bsssim",
		}
		switch status {
		case OrderCompleted, OrderProcessing:
			o.PaymentTime = at(-age + time.Minute)
		case OrderPendingPayment:
			o.PendingPaymentEndTime = at(-age + 7*24*time.Hour)
		}
		o.LineItems = []OrderLineItem{defaultLineItem(o)}
		return o
	}
	// yearly makes a completed order's line a one-year subscription, whose
	// cost the Cost Center amortizes over the year from its payment.
	yearly := func(o Order) Order {
		li := &o.LineItems[0]
		li.PeriodType, li.ProductSpecDesc = 3, serviceName(o.ServiceTypeCode)+" yearly subscription"
		exp := li.EffectiveTime.AddDate(1, 0, 0)
		li.ExpireTime = &exp
		return o
	}
	bill := func(cycle, cust, name, svc string, mode int, cash, credit, coupon string) BillRecord {
		b := BillRecord{
			BillCycle: cycle, CustomerID: cust, DomainID: DefaultDomainID, AccountName: name, ServiceTypeCode: svc,
			ResourceTypeCode: resourceTypeOf(svc), ChargingMode: mode, BillType: 1,
			CashAmount: y(cash), CreditAmount: y(credit), CouponAmount: y(coupon),
		}
		b.ConsumeAmount = b.CashAmount.Add(b.CreditAmount).Add(b.CouponAmount)
		b.OfficialAmount = b.ConsumeAmount
		return b
	}
	orders := []Order{
		yearly(order("CS2026000000001", "cust-team-a-0001", "hws.service.type.ec2", OrderTypeNew, OrderCompleted, "1200.00", 40*24*time.Hour)),
		order("CS2026000000002", "cust-team-a-0001", "hws.service.type.ec2", OrderTypeRenewal, OrderPendingPayment, "360.00", 2*24*time.Hour),
		order("CS2026000000003", "cust-team-b-0001", "hws.service.type.rds", OrderTypeNew, OrderProcessing, "99.00", time.Hour),
		order("CS2026000000004", DefaultDomainID, "hws.service.type.obs", OrderTypeNew, OrderCancelled, "45.00", 10*24*time.Hour),
	}
	bills := []BillRecord{
		bill(prevCycle, "cust-team-a-0001", "team-a", "hws.service.type.ec2", 3, "700.00", "0.00", "112.34"),
		bill(prevCycle, "cust-team-a-0001", "team-a", "hws.service.type.ec2", 1, "1200.00", "0.00", "0.00"),
		bill(prevCycle, "cust-team-b-0001", "team-b", "hws.service.type.rds", 3, "150.00", "0.00", "0.00"),
		bill(prevCycle, "cust-team-c-0001", "team-c", "hws.service.type.obs", 3, "0.00", "80.25", "0.00"),
		bill(curCycle, "cust-team-a-0001", "team-a", "hws.service.type.ec2", 3, "123.45", "0.00", "10.00"),
		bill(curCycle, "cust-team-b-0001", "team-b", "hws.service.type.rds", 3, "42.00", "0.00", "0.00"),
		bill(curCycle, DefaultDomainID, DefaultMasterName, "hws.service.type.obs", 3, "12.30", "0.00", "0.00"),
	}
	return &State{
		Masters: []Master{{
			DomainID: DefaultDomainID, Name: DefaultMasterName, AccessKey: DefaultAccessKey, SecretKey: DefaultSecretKey,
			MobilePhone: "13800000000", RootOrgID: "1000000000", RootOrgName: DefaultMasterName,
			Cash:          y("100000.00"),
			CreditLedgers: []CreditLedger{{Line: y("50000.00"), Balance: y("50000.00"), ExpireTime: &expiring}, permanent},
			Bonus:         y("88.00"),
			Deposit:       y("5000.00"),
		}},
		Orgs: []OrgUnit{
			{ID: "1234567890", DomainID: DefaultDomainID, Name: "R&D", RelationID: "rel-1234567890"},
			{ID: "1234567891", DomainID: DefaultDomainID, Name: "Ops", RelationID: "rel-1234567891"},
		},
		SubAccounts: []SubAccount{teamA, teamB, teamC},
		Coupons: []Coupon{
			coupon("CP2026110100001", "Campaign cash voucher", "2000.00"),
			coupon("CP2026110100002", "Business cash voucher", "1000.00"),
			coupon("CP2026110100003", "Test cash voucher", "500.00"),
		},
		SubCoupons: []SubCoupon{{ID: "SCP2026110100009", ParentCouponID: "CP2026110100001", CustomerID: "cust-team-a-0001", Balance: y("100.00")}},
		Orders:     orders,
		Bills:      bills,
		Costs:      backfillCosts(bills, now),
		Packages:   seedPackages(now),
		NextID:     1,
	}
}

func defaultLineItem(o Order) OrderLineItem {
	eff := o.CreateTime
	if o.PaymentTime != nil {
		eff = *o.PaymentTime
	}
	exp := eff.AddDate(0, 1, 0)
	return OrderLineItem{
		ID: o.OrderID + "-1", ServiceTypeCode: o.ServiceTypeCode, ServiceTypeName: serviceName(o.ServiceTypeCode),
		ProductOwnerService: o.ServiceTypeCode, CommercialResource: resourceTypeOf(o.ServiceTypeCode),
		ProductID:       "OFFI" + strings.ToUpper(strings.TrimPrefix(o.ServiceTypeCode, "hws.service.type.")) + "0001",
		ProductSpecDesc: serviceName(o.ServiceTypeCode) + " monthly subscription", PeriodType: 2, PeriodNum: 1, SubscriptionNum: 1,
		EffectiveTime: &eff, ExpireTime: &exp, AmountAfterDiscount: o.AmountAfterDiscount, OfficialAmount: o.OfficialAmount,
	}
}

// serviceName returns a display name for a service type code.
func serviceName(code string) string {
	switch code {
	case "hws.service.type.ec2":
		return "Elastic Cloud Server"
	case "hws.service.type.obs":
		return "Object Storage Service"
	case "hws.service.type.rds":
		return "Relational Database Service"
	case "hws.service.type.ebs":
		return "Elastic Volume Service"
	case "hws.service.type.cdn":
		return "Content Delivery Network"
	}
	return strings.TrimPrefix(code, "hws.service.type.")
}

// resourceTypeOf returns a plausible resource type code for a service.
func resourceTypeOf(svc string) string {
	switch svc {
	case "hws.service.type.ec2":
		return "hws.resource.type.vm"
	case "hws.service.type.obs":
		return "hws.resource.type.obs"
	case "hws.service.type.rds":
		return "hws.resource.type.rds.vm"
	}
	return "hws.resource.type." + strings.TrimPrefix(svc, "hws.service.type.")
}

// LoadState reads a state file in YAML or JSON. Unknown fields are errors.
// Write money as quoted strings ("1250.50") in YAML: bare YAML numbers are
// converted through floating point by the YAML decoder.
func LoadState(path string) (*State, error) {
	b, err := os.ReadFile(filepath.Clean(path))
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var st State
	if err := yaml.UnmarshalStrict(b, &st); err != nil {
		return nil, fmt.Errorf("parse state %s: %w", path, err)
	}
	st.SimTime = nil
	st.Behaviour = nil
	return &st, nil
}

// SaveState writes st to path atomically (a temporary file in the same
// directory, synced, then renamed). Files ending in .yaml or .yml are
// written as YAML, anything else as JSON.
func SaveState(path string, st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".yaml" || ext == ".yml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return fmt.Errorf("encode state as YAML: %w", err)
		}
	} else {
		b = append(b, '\n')
	}
	path = filepath.Clean(path)
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	tmpName := tmp.Name()
	_, werr := tmp.Write(b)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmpName, path)
	}
	if werr != nil {
		if rerr := os.Remove(tmpName); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			werr = errors.Join(werr, rerr)
		}
		return fmt.Errorf("write state %s: %w", path, werr)
	}
	return nil
}

// SetCredentials replaces the access key, secret key and (when domainID is
// not empty) the domain id of the first master, rewriting every reference
// to the old domain id.
func (st *State) SetCredentials(accessKey, secretKey, domainID string) error {
	if len(st.Masters) == 0 {
		return errors.New("state has no master account")
	}
	if accessKey == "" || secretKey == "" {
		return errors.New("access key and secret key must not be empty")
	}
	m := &st.Masters[0]
	m.AccessKey, m.SecretKey = accessKey, secretKey
	if domainID == "" || domainID == m.DomainID {
		return nil
	}
	old := m.DomainID
	m.DomainID = domainID
	single := len(st.Masters) == 1
	fix := func(s *string) {
		if *s == old || (single && *s == "") {
			*s = domainID
		}
	}
	for i := range st.Orgs {
		fix(&st.Orgs[i].DomainID)
	}
	for i := range st.SubAccounts {
		fix(&st.SubAccounts[i].DomainID)
	}
	for i := range st.Coupons {
		fix(&st.Coupons[i].DomainID)
	}
	var fixOrders func(os []Order)
	fixOrders = func(orders []Order) {
		for i := range orders {
			fix(&orders[i].DomainID)
			if orders[i].CustomerID == old {
				orders[i].CustomerID = domainID
			}
			fixOrders(orders[i].SubOrders)
		}
	}
	fixOrders(st.Orders)
	for i := range st.Bills {
		fix(&st.Bills[i].DomainID)
		if st.Bills[i].CustomerID == old {
			st.Bills[i].CustomerID = domainID
		}
	}
	for i := range st.ChangeRecords {
		if st.ChangeRecords[i].CustomerID == old {
			st.ChangeRecords[i].CustomerID = domainID
		}
	}
	for i := range st.Costs {
		fix(&st.Costs[i].DomainID)
		if st.Costs[i].CustomerID == old {
			st.Costs[i].CustomerID = domainID
		}
	}
	for i := range st.Packages {
		fix(&st.Packages[i].DomainID)
		if st.Packages[i].CustomerID == old {
			st.Packages[i].CustomerID = domainID
		}
	}
	for i := range st.Ledger {
		fix(&st.Ledger[i].DomainID)
	}
	for i := range st.BurnedTransIDs {
		fix(&st.BurnedTransIDs[i].DomainID)
	}
	for i := range st.SMSCodes {
		fix(&st.SMSCodes[i].DomainID)
	}
	return nil
}

// DeepCopy returns a copy of st that shares no memory with it.
func (st *State) DeepCopy() *State {
	if st == nil {
		return nil
	}
	c := *st
	c.Masters = make([]Master, len(st.Masters))
	for i, m := range st.Masters {
		m.CreditLedgers = copyLedgers(m.CreditLedgers)
		m.Totals.Seeded = clonePtr(m.Totals.Seeded)
		m.CostLagDays = clonePtr(m.CostLagDays)
		m.FinanceIndependentLimit = clonePtr(m.FinanceIndependentLimit)
		c.Masters[i] = m
	}
	c.Orgs = make([]OrgUnit, len(st.Orgs))
	for i, o := range st.Orgs {
		o.PaymentBudget = clonePtr(o.PaymentBudget)
		c.Orgs[i] = o
	}
	c.SubAccounts = make([]SubAccount, len(st.SubAccounts))
	for i := range st.SubAccounts {
		c.SubAccounts[i] = st.SubAccounts[i].deepCopy()
	}
	c.Coupons = make([]Coupon, len(st.Coupons))
	for i, cp := range st.Coupons {
		cp.UseLimits = slices.Clone(cp.UseLimits)
		cp.LastUsedTime = clonePtr(cp.LastUsedTime)
		c.Coupons[i] = cp
	}
	c.SubCoupons = append([]SubCoupon(nil), st.SubCoupons...)
	c.Orders = make([]Order, len(st.Orders))
	for i := range st.Orders {
		c.Orders[i] = st.Orders[i].deepCopy()
	}
	c.Bills = append([]BillRecord(nil), st.Bills...)
	c.Costs = append([]CostRecord(nil), st.Costs...)
	if st.Packages != nil {
		c.Packages = make([]ResourcePackage, len(st.Packages))
		for i := range st.Packages {
			c.Packages[i] = st.Packages[i].deepCopy()
		}
	}
	c.ChangeRecords = append([]ChangeRecord(nil), st.ChangeRecords...)
	c.Ledger = make([]LedgerEntry, len(st.Ledger))
	for i, e := range st.Ledger {
		e.ExpireTime = clonePtr(e.ExpireTime)
		c.Ledger[i] = e
	}
	c.BurnedTransIDs = append([]BurnedTransID(nil), st.BurnedTransIDs...)
	c.SMSCodes = append([]SMSCode(nil), st.SMSCodes...)
	c.SimTime = clonePtr(st.SimTime)
	c.Behaviour = clonePtr(st.Behaviour)
	return &c
}

func (o Order) deepCopy() Order {
	o.PaymentTime = clonePtr(o.PaymentTime)
	o.PendingPaymentEndTime = clonePtr(o.PendingPaymentEndTime)
	o.Discounts = slices.Clone(o.Discounts)
	o.EnterpriseProjects = slices.Clone(o.EnterpriseProjects)
	o.DiscountOffers = slices.Clone(o.DiscountOffers)
	o.PaymentDoneAt = clonePtr(o.PaymentDoneAt)
	if o.SubOrders != nil {
		subs := make([]Order, len(o.SubOrders))
		for j, so := range o.SubOrders {
			subs[j] = so.deepCopy()
		}
		o.SubOrders = subs
	}
	if o.LineItems != nil {
		items := make([]OrderLineItem, len(o.LineItems))
		for j, li := range o.LineItems {
			li.EffectiveTime = clonePtr(li.EffectiveTime)
			li.ExpireTime = clonePtr(li.ExpireTime)
			li.Discounts = slices.Clone(li.Discounts)
			li.BaseProductInfo = clonePtr(li.BaseProductInfo)
			items[j] = li
		}
		o.LineItems = items
	}
	return o
}

func (sa SubAccount) deepCopy() SubAccount {
	sa.PermissionIDs = append([]string(nil), sa.PermissionIDs...)
	sa.CreditLedgers = copyLedgers(sa.CreditLedgers)
	sa.ConsumptionRate = clonePtr(sa.ConsumptionRate)
	sa.ReadyAt = clonePtr(sa.ReadyAt)
	sa.ConsumedUntil = clonePtr(sa.ConsumedUntil)
	return sa
}

func copyLedgers(ls []CreditLedger) []CreditLedger {
	if ls == nil {
		return nil
	}
	out := make([]CreditLedger, len(ls))
	for i, l := range ls {
		l.ExpireTime = clonePtr(l.ExpireTime)
		out[i] = l
	}
	return out
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// normalize fills defaulted fields in place so that the rest of the
// simulator can rely on them.
func (st *State) normalize() {
	single := len(st.Masters) == 1
	def := ""
	if single {
		def = st.Masters[0].DomainID
	}
	fill := func(s *string) {
		if *s == "" {
			*s = def
		}
	}
	for i := range st.Masters {
		for j := range st.Masters[i].CreditLedgers {
			truncLedger(&st.Masters[i].CreditLedgers[j])
		}
	}
	for i := range st.Orgs {
		fill(&st.Orgs[i].DomainID)
		if st.Orgs[i].RelationID == "" {
			st.Orgs[i].RelationID = "rel-" + st.Orgs[i].ID
		}
	}
	for i := range st.SubAccounts {
		sa := &st.SubAccounts[i]
		fill(&sa.DomainID)
		if sa.Status == 0 {
			sa.Status = SubStatusNormal
		}
		if sa.ServiceTypeCode == "" {
			sa.ServiceTypeCode = DefaultServiceTypeCode
		}
		for j := range sa.CreditLedgers {
			truncLedger(&sa.CreditLedgers[j])
		}
	}
	for i := range st.Coupons {
		fill(&st.Coupons[i].DomainID)
	}
	for i := range st.Orders {
		fill(&st.Orders[i].DomainID)
	}
	for i := range st.Bills {
		fill(&st.Bills[i].DomainID)
	}
	for i := range st.Costs {
		fill(&st.Costs[i].DomainID)
		if st.Costs[i].ChargingMode == 0 {
			st.Costs[i].ChargingMode = ChargingOnDemand
		}
		if st.Costs[i].ResourceTypeCode == "" {
			st.Costs[i].ResourceTypeCode = resourceTypeOf(st.Costs[i].ServiceTypeCode)
		}
	}
	for i := range st.Packages {
		p := &st.Packages[i]
		fill(&p.DomainID)
		if p.ServiceTypeName == "" {
			p.ServiceTypeName = serviceName(p.ServiceTypeCode)
		}
		p.normalize()
	}
	if st.NextID < 1 {
		st.NextID = 1
	}
}

func truncLedger(l *CreditLedger) {
	if l.ExpireTime != nil {
		t := l.ExpireTime.UTC().Truncate(time.Second)
		l.ExpireTime = &t
	}
}

// validate checks the references and invariants of a normalized state.
func (st *State) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	masters := map[string]bool{}
	aks := map[string]bool{}
	names := map[string]bool{}
	for _, m := range st.Masters {
		switch {
		case m.DomainID == "":
			bad("a master has no domain_id")
		case masters[m.DomainID]:
			bad("duplicate master domain_id %q", m.DomainID)
		}
		masters[m.DomainID] = true
		if m.AccessKey == "" || m.SecretKey == "" {
			bad("master %q needs access_key and secret_key", m.DomainID)
		}
		if aks[m.AccessKey] {
			bad("duplicate access key on master %q", m.DomainID)
		}
		aks[m.AccessKey] = true
		names[m.Name] = true
		if m.Cash.IsNegative() {
			bad("master %q has negative cash", m.DomainID)
		}
		if err := checkLedgers(m.CreditLedgers); err != nil {
			bad("master %q: %v", m.DomainID, err)
		}
	}
	if len(st.Masters) == 0 {
		bad("state has no master account")
	}
	orgs := map[string]string{}
	for _, m := range st.Masters {
		orgs[m.RootOrgID] = m.DomainID
	}
	for _, o := range st.Orgs {
		if !masters[o.DomainID] {
			bad("org %q belongs to unknown master %q", o.ID, o.DomainID)
		}
		if _, dup := orgs[o.ID]; dup || o.ID == "" {
			bad("org id %q is empty or duplicate", o.ID)
		}
		orgs[o.ID] = o.DomainID
	}
	for _, o := range st.Orgs {
		if o.ParentID != "" && orgs[o.ParentID] != o.DomainID {
			bad("org %q has unknown parent %q", o.ID, o.ParentID)
		}
	}
	subs := map[string]string{}
	for _, sa := range st.SubAccounts {
		if !masters[sa.DomainID] {
			bad("sub-account %q belongs to unknown master %q", sa.ID, sa.DomainID)
		}
		if _, dup := subs[sa.ID]; dup || sa.ID == "" || masters[sa.ID] {
			bad("sub-account id %q is empty or duplicate", sa.ID)
		}
		subs[sa.ID] = sa.DomainID
		if names[sa.Name] || sa.Name == "" {
			bad("sub-account name %q is empty or duplicate", sa.Name)
		}
		names[sa.Name] = true
		if sa.OrgID != "" && orgs[sa.OrgID] != sa.DomainID {
			bad("sub-account %q has unknown org %q", sa.ID, sa.OrgID)
		}
		if sa.ReclaimableCash.IsNegative() || sa.SelfFundedCash.IsNegative() {
			bad("sub-account %q has negative cash", sa.ID)
		}
		if sa.ConsumptionRate != nil && sa.ConsumptionRate.IsNegative() {
			bad("sub-account %q has a negative consumption rate", sa.ID)
		}
		if sa.AccessKey != "" {
			if sa.SecretKey == "" || aks[sa.AccessKey] {
				bad("sub-account %q has a duplicate access key or no secret key", sa.ID)
			}
			aks[sa.AccessKey] = true
		}
		if err := checkLedgers(sa.CreditLedgers); err != nil {
			bad("sub-account %q: %v", sa.ID, err)
		}
	}
	coupons := map[string]string{}
	for _, c := range st.Coupons {
		if !masters[c.DomainID] {
			bad("coupon %q belongs to unknown master %q", c.ID, c.DomainID)
		}
		if _, dup := coupons[c.ID]; dup || c.ID == "" {
			bad("coupon id %q is empty or duplicate", c.ID)
		}
		coupons[c.ID] = c.DomainID
		if c.Balance.IsNegative() {
			bad("coupon %q has a negative balance", c.ID)
		}
	}
	seenSC := map[string]bool{}
	for _, sc := range st.SubCoupons {
		if seenSC[sc.ID] || coupons[sc.ID] != "" || sc.ID == "" {
			bad("sub-coupon id %q is empty or duplicate", sc.ID)
		}
		seenSC[sc.ID] = true
		dom, ok := subs[sc.CustomerID]
		if !ok {
			bad("sub-coupon %q belongs to unknown sub-account %q", sc.ID, sc.CustomerID)
		}
		if pd, ok := coupons[sc.ParentCouponID]; !ok || pd != dom {
			bad("sub-coupon %q has unknown parent coupon %q", sc.ID, sc.ParentCouponID)
		}
		if sc.Balance.IsNegative() {
			bad("sub-coupon %q has a negative balance", sc.ID)
		}
	}
	seenOrder := map[string]bool{}
	var checkOrder func(o Order)
	checkOrder = func(o Order) {
		if seenOrder[o.OrderID] || o.OrderID == "" {
			bad("order id %q is empty or duplicate", o.OrderID)
		}
		seenOrder[o.OrderID] = true
		if !isDigits(o.OrderType) {
			bad("order %q has order_type %q: want decimal digits such as \"1\" (new)", o.OrderID, o.OrderType)
		}
		for _, so := range o.SubOrders {
			checkOrder(so)
		}
	}
	for _, o := range st.Orders {
		checkOrder(o)
		if !masters[o.DomainID] {
			bad("order %q belongs to unknown master %q", o.OrderID, o.DomainID)
		}
	}
	owner := func(customerID, domainID string) bool {
		if customerID == domainID {
			return masters[domainID]
		}
		return subs[customerID] == domainID && domainID != ""
	}
	for m := range st.Masters {
		if l := st.Masters[m].CostLagDays; l != nil && *l < 0 {
			bad("master %q has a negative cost_lag_days", st.Masters[m].DomainID)
		}
		if l := st.Masters[m].FinanceIndependentLimit; l != nil && *l < 0 {
			bad("master %q has a negative finance_independent_limit", st.Masters[m].DomainID)
		}
		if st.Masters[m].Bonus.IsNegative() || st.Masters[m].Deposit.IsNegative() || st.Masters[m].Debt.IsNegative() {
			bad("master %q has a negative bonus, deposit or debt", st.Masters[m].DomainID)
		}
	}
	for _, sa := range st.SubAccounts {
		if sa.Bonus.IsNegative() || sa.Deposit.IsNegative() || sa.Debt.IsNegative() {
			bad("sub-account %q has a negative bonus, deposit or debt", sa.ID)
		}
	}
	seenCost := map[string]bool{}
	for i, c := range st.Costs {
		if _, err := time.ParseInLocation(time.DateOnly, c.Date, beijing); err != nil || len(c.Date) != len(time.DateOnly) {
			bad("cost record %d has date %q: want YYYY-MM-DD", i, c.Date)
			continue
		}
		if !owner(c.CustomerID, c.DomainID) {
			bad("cost record %d names customer %q, not an account of master %q", i, c.CustomerID, c.DomainID)
		}
		if c.ChargingMode != ChargingOnDemand {
			bad("cost record %d has charging_mode %d: cost records are on demand (3)", i, c.ChargingMode)
		}
		k := costKey(c.Date, c.CustomerID, c.ServiceTypeCode, c.ResourceTypeCode)
		if seenCost[k] {
			bad("cost records repeat %s", k)
		}
		seenCost[k] = true
	}
	pkgIDs := map[string]bool{}
	for i := range st.Packages {
		p := &st.Packages[i]
		if !owner(p.CustomerID, p.DomainID) {
			bad("package %q belongs to %q, not an account of master %q", p.OrderInstanceID, p.CustomerID, p.DomainID)
		}
		if err := p.validate(); err != nil {
			errs = append(errs, err)
		}
		ids := []string{p.OrderInstanceID}
		for _, fr := range p.FreeResources {
			ids = append(ids, fr.ID)
		}
		for _, id := range ids {
			if pkgIDs[id] {
				bad("package or free resource id %q is duplicate", id)
			}
			pkgIDs[id] = true
		}
	}
	return errors.Join(errs...)
}

// isDigits reports whether s is a non-empty run of ASCII digits.
func isDigits(s string) bool {
	if s == "" || len(s) > 9 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func checkLedgers(ls []CreditLedger) error {
	seen := map[string]bool{}
	for _, l := range ls {
		k := ledgerKey(l.ExpireTime)
		if seen[k] {
			return fmt.Errorf("two credit ledgers expire at %s", k)
		}
		seen[k] = true
		if l.Balance.IsNegative() || l.Line.IsNegative() {
			return fmt.Errorf("credit ledger %s has a negative amount", k)
		}
	}
	return nil
}

func ledgerKey(t *time.Time) string {
	if t == nil {
		return "permanent"
	}
	return t.UTC().Format(time.RFC3339)
}

package probe

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
)

// Operation is one BSS API that the probe (or the operator) calls: its HTTP
// request and the IAM action an IAM user under the master needs for it.
type Operation struct {
	// Name is the SDK method name (one of the bss.Op… constants).
	Name string `json:"name"`
	// Method and Path are the HTTP request.
	Method string `json:"method"`
	Path   string `json:"path"`
	// Action is the IAM action that grants it.
	Action string `json:"iamAction"`
	// Source says where the action comes from: a section of bss-api.md,
	// or "inferred" where the reference names none.
	Source string `json:"source"`
	// Write marks a money write.
	Write bool `json:"write,omitempty"`
	// Probe marks an operation bss-probe calls (the coupon writes are only
	// the operator's).
	Probe bool `json:"probe,omitempty"`
}

// IAM actions (bss-api.md §1.2).
const (
	ActionFinanceView   = "businessUnitCenter:businessUnitFinance:view"
	ActionFinanceUpdate = "businessUnitCenter:businessUnitFinance:update"
	ActionUnitView      = "businessUnitCenter:businessUnit:view"
	ActionBillView      = "billing:bill:view"
	ActionBalanceView   = "billing:balance:view"
	// ActionOrderView is not named in bss-api.md (which names only
	// billing:order:pay for orders); it is the Billing Center's action for
	// viewing orders. Verify it on the account.
	ActionOrderView = "billing:order:view"
	// ActionOrderPay pays orders (PayOrders, bss-api.md §4.3).
	ActionOrderPay = "billing:order:pay"
	// ActionOrderUpdate is not named in bss-api.md for cancelling an order;
	// it is the Billing Center's action for changing orders. Verify it on
	// the account.
	ActionOrderUpdate = "billing:order:update"
	// ActionCostView is not named in bss-api.md for the Cost Center reads
	// (ListCosts, ListCustomerBillsMonthlyBreakDown); it is the Billing
	// Center's action for viewing costs. Verify it on the account.
	ActionCostView = "billing:cost:view"
	// ActionPackageView is not named in bss-api.md for the resource
	// package reads; it is the Billing Center's action for viewing
	// packages. Verify it on the account.
	ActionPackageView = "billing:freeResource:view"
)

const (
	pathMA      = "/v2/enterprises/multi-accounts/"
	srcFinance  = "bss-api.md §1.2 (finance reads)"
	srcWrites   = "bss-api.md §1.2 (writes)"
	srcBalances = "bss-api.md §1.2 (balance, income/expense)"
)

// Operations is the one table of the BSS APIs the probe and the operator
// call, with the IAM action each needs.
var Operations = []Operation{
	{bss.OpShowMultiAccountTransferAmount, http.MethodGet, pathMA + "transfer-amount", ActionFinanceView, "bss-api.md §3.3", false, true},
	{bss.OpListEnterpriseMultiAccount, http.MethodGet, pathMA + "retrieve-amount", ActionFinanceView, srcFinance, false, true},
	{bss.OpListMultiAccountTransferCoupons, http.MethodGet, pathMA + "transfer-coupons", ActionFinanceView, srcFinance, false, true},
	{bss.OpListMultiAccountRetrieveCoupons, http.MethodGet, pathMA + "retrieve-coupons", ActionFinanceView, srcFinance, false, true},
	{bss.OpListEnterpriseSubCustomers, http.MethodGet, pathMA + "sub-customers", ActionUnitView, "bss-api.md §3.2", false, true},
	{bss.OpListEnterpriseOrganizations, http.MethodGet, pathMA + "enterprise-organizations", ActionUnitView, "bss-api.md §1.2", false, true},
	{bss.OpListCustomerOrders, http.MethodGet, "/v2/orders/customer-orders", ActionOrderView, "inferred", false, true},
	{bss.OpShowCustomerOrderDetails, http.MethodGet, "/v2/orders/customer-orders/details/{order_id}", ActionOrderView, "inferred", false, true},
	{bss.OpListOrderCouponsByOrderID, http.MethodGet, "/v2/orders/customer-orders/order-coupons", ActionOrderView, "inferred", false, true},
	{bss.OpListOrderDiscounts, http.MethodGet, "/v2/orders/customer-orders/order-discounts", ActionOrderView, "inferred", false, true},
	{bss.OpShowCustomerMonthlySum, http.MethodGet, "/v2/bills/customer-bills/monthly-sum", ActionBillView, "bss-api.md §1.2", false, true},
	{bss.OpShowCustomerAccountBalances, http.MethodGet, "/v2/accounts/customer-accounts/balances", ActionBalanceView, srcBalances, false, true},
	{bss.OpListCustomerAccountChangeRecords, http.MethodGet, "/v2/accounts/customer-accounts/account-change-records", ActionBalanceView, srcBalances, false, true},
	{bss.OpListCosts, http.MethodPost, "/v4/costs/cost-analysed-bills/query", ActionCostView, "inferred", false, false},
	{bss.OpListCustomerBillsMonthlyBreakDown, http.MethodGet, "/v2/costs/cost-analysed-bills/monthly-breakdown", ActionCostView, "inferred", false, false},
	{bss.OpListFreeResourceInfos, http.MethodPost, "/v3/payments/free-resources/query", ActionPackageView, "inferred", false, false},
	{bss.OpListFreeResourceUsages, http.MethodPost, "/v2/payments/free-resources/usages/details/query", ActionPackageView, "inferred", false, false},
	{bss.OpUpdateSubEnterpriseAmount, http.MethodPost, pathMA + "transfer-amount", ActionFinanceUpdate, srcWrites, true, true},
	{bss.OpReclaimSubEnterpriseAmount, http.MethodPost, pathMA + "retrieve-amount", ActionFinanceUpdate, srcWrites, true, true},
	{bss.OpClaimEnterpriseMultiAccountCoupon, http.MethodPost, pathMA + "transfer-coupon", ActionFinanceUpdate, srcWrites, true, false},
	{bss.OpReclaimEnterpriseMultiAccountCoupon, http.MethodPost, pathMA + "retrieve-coupon", ActionFinanceUpdate, srcWrites, true, false},
	{bss.OpPayOrders, http.MethodPost, "/v3/orders/customer-orders/pay", ActionOrderPay, "bss-api.md §4.3", true, false},
	{bss.OpCancelCustomerOrder, http.MethodPut, "/v2/orders/customer-orders/cancel", ActionOrderUpdate, "inferred", false, false},
}

// OperationByName returns the row of Operations for an SDK method name.
func OperationByName(name string) (Operation, bool) {
	for _, o := range Operations {
		if o.Name == name {
			return o, true
		}
	}
	return Operation{}, false
}

// Results of a read check.
const (
	ResultOK          = "ok"
	ResultDenied      = "denied"
	ResultRejected    = "rejected"
	ResultWrongSite   = "wrong-site"
	ResultUndecodable = "undecodable"
	ResultUnreachable = "unreachable"
	ResultError       = "error"
	ResultSkipped     = "skipped"
)

// diagnosis is what a failed call says about the account's set-up.
type diagnosis struct {
	result string
	code   string
	status int
	advice string
}

// diagnose classifies the error of a call to op: a permission refusal names
// the IAM action to grant, a rejected signature the credentials or clock,
// an undecodable 2xx the response.
func diagnose(op string, err error) diagnosis {
	if err == nil {
		return diagnosis{result: ResultOK}
	}
	var e *bss.Error
	var de *bss.DecodeError
	var te *bss.TransportError
	switch {
	case errors.As(err, &de):
		return diagnosis{result: ResultUndecodable, status: de.HTTPStatus,
			advice: "BSS answered 2xx but the body did not decode as documented; report it with the request id"}
	case errors.As(err, &te):
		return diagnosis{result: ResultUnreachable, advice: "no answer from the endpoint: check --endpoint, DNS, proxy and firewall"}
	case !errors.As(err, &e):
		return diagnosis{result: ResultError}
	}
	d := diagnosis{result: ResultError, code: e.Code, status: e.HTTPStatus}
	switch {
	case e.Code == "CBC.0156":
		d.result = ResultWrongSite
		d.advice = "the account does not belong to this endpoint's site: use the endpoint of the account's site"
	case e.HTTPStatus == http.StatusForbidden || e.Code == "CBC.0151" || e.Code == "CBC.0155":
		d.result = ResultDenied
		d.advice = deniedAdvice(op)
	case bss.IsAuthFailure(err):
		d.result = ResultRejected
		d.advice = fmt.Sprintf("the signature was rejected: check the access key, secret key and domain id, and that this machine's clock is within %s of BSS's", bss.MaxClockSkew)
	case e.Code == bss.CodeSubAccountNotFound:
		d.advice = "the sub-account does not exist or is not this master's: check --sub-customer-id"
	}
	return d
}

func deniedAdvice(op string) string {
	o, ok := OperationByName(op)
	if !ok {
		return "access denied"
	}
	return fmt.Sprintf("grant the IAM action %s to the IAM user (or use the enterprise master account itself; the master must be an enterprise master)", o.Action)
}

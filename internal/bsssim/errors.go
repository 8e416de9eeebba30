package bsssim

import (
	"fmt"
	"net/http"
)

// Error codes returned by the simulator. The CBC codes and their HTTP
// statuses follow docs/bss-api.md §9; APIG codes come from the API gateway.
const (
	// CodeParam is a parameter error (400).
	CodeParam = "CBC.0100"
	// CodeAccessDenied is access denied (403).
	CodeAccessDenied = "CBC.0151"
	// CodeInternal is an unknown error (500); fault injection uses it.
	CodeInternal = "CBC.0999"
	// CodeSMSNotMaster is "only an enterprise master can send SMS codes".
	CodeSMSNotMaster = "CBC.70300008"
	// CodeVerificationWrong is a wrong SMS verification code.
	CodeVerificationWrong = "CBC.99000026"
	// CodeVerificationExpired is an expired (or already used) SMS code.
	CodeVerificationExpired = "CBC.99000027"
	// CodeMobileExists is a mobile number already used by another account.
	CodeMobileExists = "CBC.99000029"
	// CodeInvalidDomainName is an invalid or already taken account name.
	CodeInvalidDomainName = "CBC.99000031"
	// CodeNoSuchCustomer is an unknown (sub-)customer account.
	CodeNoSuchCustomer = "CBC.99000047"
	// CodeSMSTooFrequent is the SMS frequency limit.
	CodeSMSTooFrequent = "CBC.99000082"
	// CodeInsufficientBalance is insufficient balance.
	CodeInsufficientBalance = "CBC.99005003"
	// CodeCheckFailed is a failed business check; see fail_check_items.
	CodeCheckFailed = "CBC.99007004"
	// CodeDuplicateTransID is a trans_id that already succeeded.
	CodeDuplicateTransID = "CBC.99007009"
	// CodeCreditExpired is a credit ledger that has expired.
	CodeCreditExpired = "CBC.99007181" //nolint:gosec // G101: an error code, not a credential.
	// CodeBusy is another money operation of the same master in progress.
	CodeBusy = "CBC.99007461"
	// CodeInvalidOrder is an unknown order, or one that cannot be paid.
	CodeInvalidOrder = "CBC.30000010"
	// CodePaymentInProgress is a pay of an order whose payment is being
	// processed.
	CodePaymentInProgress = "CBC.99000088"
	// CodeUseCombined is a pay or cancel of a sub-order of a
	// combined-transaction order.
	CodeUseCombined = "CBC.99000089"
	// CodeOrgBudget is an enterprise organization budget that does not
	// cover a payment.
	CodeOrgBudget = "CBC.99003198"
	// CodeNotCancellable is a cancel of an order that is not pending
	// payment.
	CodeNotCancellable = "CBC.99005010"
	// CodeTooFrequent is "operations too frequent" (Faults.TooFrequentRate).
	CodeTooFrequent = "CBC.99008040"
	// CodeCostCenterDisabled is "Cost Center not enabled" (ListCosts and
	// ListCustomerBillsMonthlyBreakDown of a master whose Cost Center is
	// off).
	CodeCostCenterDisabled = "CBC.18000014"
	// CodeTooManyIndependent is "too many finance-independent
	// sub-accounts; specify a sub-account" (ListCosts).
	CodeTooManyIndependent = "CBC.18000048"
	// CodeAPINotFound is the gateway's "API does not exist" (404 and 405).
	CodeAPINotFound = "APIG.0101"
	// CodeRequestTooLarge is a body above 12 MB (413).
	CodeRequestTooLarge = "APIG.0201"
	// CodeAuthFailed is any AK/SK authentication failure (401).
	CodeAuthFailed = "APIG.0301"
	// CodeThrottled is the gateway's rate limit (429).
	CodeThrottled = "APIG.0308"
)

// Check items reported in fail_check_items with CBC.99007004. Names marked
// in the documentation as partly visible, and the two status items, are the
// simulator's own.
const (
	// CheckMaxSubCustomers is the sub-account quota (Master.MaxSubAccounts).
	CheckMaxSubCustomers = "MAX_SUB_CUSTOMER_NUM"
	// CheckSubStatus is a sub-account that is not in status 1 (normal).
	CheckSubStatus = "SUB_CUSTOMER_STATUS_ABNORMAL"
	// CheckNoRetrieveFromCustody forbids reclaiming from a custody sub.
	CheckNoRetrieveFromCustody = "NO_RETRIEVE_FOR_FC_SUBACCOUNT"
	// CheckCouponNotMaster is an unknown coupon or one of another master.
	CheckCouponNotMaster = "COUPON_NOT_EXIST_OR_NOT_PRI"
	// CheckCouponStatus is a coupon that is not yet effective or expired.
	CheckCouponStatus = "COUPON_STATUS_NOT_AVAILABLE"
	// CheckSubCouponNotSub is an unknown sub-coupon or one of another sub.
	CheckSubCouponNotSub = "COUPON_NOT_EXIST_OR_NOT_SUB"
	// CheckSourceCoupon is a coupon_id that is not the sub-coupon's parent.
	CheckSourceCoupon = "SOURCE_COUPON_NOT_EXIST_OR_NOT_PRI"
)

// apiError is an error response of the BSS API or the gateway.
type apiError struct {
	status int
	code   string
	msg    string
	items  []string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

// errorBody is the JSON error body. BSS errors carry error_code and
// error_msg (and fail_check_items for CBC.99007004); gateway errors add
// request_id.
type errorBody struct {
	ErrorCode      string   `json:"error_code"`
	ErrorMsg       string   `json:"error_msg"`
	FailCheckItems []string `json:"fail_check_items,omitempty"`
	RequestID      string   `json:"request_id,omitempty"`
}

func paramErr(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: CodeParam, msg: fmt.Sprintf(format, args...)}
}

func bizErr(code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}

func checkErr(items ...string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: CodeCheckFailed, msg: "A business check failed. See fail_check_items.", items: items}
}

func internalErr() *apiError {
	return &apiError{status: http.StatusInternalServerError, code: CodeInternal, msg: "An unknown error occurred. Try again later."}
}

func forbiddenErr(format string, args ...any) *apiError {
	return &apiError{status: http.StatusForbidden, code: CodeAccessDenied, msg: fmt.Sprintf(format, args...)}
}

func isGatewayCode(code string) bool { return len(code) > 5 && code[:5] == "APIG." }

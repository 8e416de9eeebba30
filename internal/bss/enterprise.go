package bss

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

const (
	pathOrganizations = "/v2/enterprises/multi-accounts/enterprise-organizations"
	pathSubCustomers  = "/v2/enterprises/multi-accounts/sub-customers"
	pathSMSCode       = "/v2/enterprises/multi-accounts/sm-verification-code"
)

// ListOrganizationsRequest selects a part of the enterprise organization tree.
type ListOrganizationsRequest struct {
	// ParentID is the Party ID of the start node (digits only); "" starts at
	// the root.
	ParentID string
	// Recursive returns the whole subtree instead of only direct children.
	Recursive bool
}

// ListOrganizationsResponse is the organization tree below the start node.
type ListOrganizationsResponse struct {
	// RootID is the root's Party ID; empty when ParentID was given.
	RootID string `json:"root_id,omitempty"`
	// RootName is the root's name; may be empty.
	RootName string `json:"root_name,omitempty"`
	// ChildNodes are the org units below the start node.
	ChildNodes []OrgNode `json:"child_nodes,omitempty"`
}

// OrgNode is one org unit of the enterprise organization tree.
type OrgNode struct {
	// RelationID identifies the parent-child relation.
	RelationID string `json:"relation_id,omitempty"`
	// ID is the unit's Party ID: the value CreateSubCustomerRequest.PartyID
	// and ListSubCustomersRequest.OrgID expect.
	ID string `json:"id,omitempty"`
	// Name is the unit's display name.
	Name string `json:"name,omitempty"`
	// ChildNodes are the unit's children (filled only for recursive queries).
	ChildNodes []OrgNode `json:"child_nodes,omitempty"`
}

// ListOrganizations reads the enterprise organization tree
// (GET /v2/enterprises/multi-accounts/enterprise-organizations).
func (c *Client) ListOrganizations(ctx context.Context, req ListOrganizationsRequest) (*ListOrganizationsResponse, error) {
	v := validator{op: OpListEnterpriseOrganizations}
	if req.ParentID != "" && !isDigits(req.ParentID) {
		v.failf("ParentID must contain digits only, got %q", req.ParentID)
	}
	if v.err != nil {
		return nil, v.err
	}
	q := url.Values{}
	setIf(q, "parent_id", req.ParentID)
	if req.Recursive {
		q.Set("recursive_query", "1")
	}
	var out ListOrganizationsResponse
	if err := c.do(ctx, call{op: OpListEnterpriseOrganizations, method: http.MethodGet, path: pathOrganizations, query: q, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Sub-account statuses (SubCustomer.Status).
const (
	SubCustomerStatusNormal             = 1
	SubCustomerStatusCreating           = 2
	SubCustomerStatusClosing            = 3
	SubCustomerStatusClosed             = 4
	SubCustomerStatusRegistering        = 101
	SubCustomerStatusAwaitingActivation = 102
)

// MaxListLimit is the largest limit of the enterprise lists, orders and
// income/expense records.
const MaxListLimit = 100

// ListSubCustomersRequest filters the enterprise sub-accounts. Empty fields
// are not sent.
type ListSubCustomersRequest struct {
	// AccountName matches the login name (≤64 characters).
	AccountName string
	// DisplayName matches the display name (≤64 characters).
	DisplayName string
	// Fuzzy makes both names match as substrings instead of exactly.
	Fuzzy bool
	// OrgID restricts the list to one org unit's Party ID (≤20 characters).
	OrgID string
	// Offset is the 0-based record offset.
	Offset int
	// Limit is the page size, 1–100; 0 means the server default of 10.
	Limit int
}

// ListSubCustomersResponse is one page of sub-accounts.
type ListSubCustomersResponse struct {
	// TotalCount is the number of matching sub-accounts over all pages.
	TotalCount int `json:"total_count"`
	// SubCustomers is this page.
	SubCustomers []SubCustomer `json:"sub_customer_infos,omitempty"`
}

// SubCustomer is one enterprise sub-account.
type SubCustomer struct {
	// ID is the customer ID used as customer_id / sub_customer_id elsewhere.
	ID string `json:"id"`
	// Name is the login name.
	Name string `json:"name,omitempty"`
	// DisplayName is the display name.
	DisplayName string `json:"display_name,omitempty"`
	// Status is one of the SubCustomerStatus… constants.
	Status int `json:"status,omitempty"`
	// OrgID and OrgName are the org unit; empty at the root.
	OrgID   string `json:"org_id,omitempty"`
	OrgName string `json:"org_name,omitempty"`
}

// ListSubCustomers reads one page of enterprise sub-accounts
// (GET /v2/enterprises/multi-accounts/sub-customers).
func (c *Client) ListSubCustomers(ctx context.Context, req ListSubCustomersRequest) (*ListSubCustomersResponse, error) {
	v := validator{op: OpListEnterpriseSubCustomers}
	v.maxLen("AccountName", req.AccountName, 64)
	v.maxLen("DisplayName", req.DisplayName, 64)
	v.maxLen("OrgID", req.OrgID, 20)
	v.page(req.Offset, req.Limit, MaxListLimit)
	if v.err != nil {
		return nil, v.err
	}
	q := url.Values{}
	setIf(q, "sub_customer_account_name", req.AccountName)
	setIf(q, "sub_customer_display_name", req.DisplayName)
	if req.Fuzzy {
		q.Set("fuzzy_query", "1")
	}
	setIf(q, "org_id", req.OrgID)
	pageQuery(q, req.Offset, req.Limit, true)
	var out ListSubCustomersResponse
	if err := c.do(ctx, call{op: OpListEnterpriseSubCustomers, method: http.MethodGet, path: pathSubCustomers, query: q, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListAllSubCustomers reads every page of sub-accounts matching req (its
// Offset and Limit are ignored; pages of 100 are read until total_count)
// and drops duplicates by ID.
func (c *Client) ListAllSubCustomers(ctx context.Context, req ListSubCustomersRequest) ([]SubCustomer, error) {
	return collectPages(ctx, OpListEnterpriseSubCustomers, MaxListLimit,
		func(ctx context.Context, offset, limit int) (int, []SubCustomer, error) {
			r := req
			r.Offset, r.Limit = offset, limit
			resp, err := c.ListSubCustomers(ctx, r)
			if err != nil {
				return 0, nil, err
			}
			return resp.TotalCount, resp.SubCustomers, nil
		},
		func(s SubCustomer) string { return s.ID })
}

// Permission IDs a new sub-account may grant the master
// (CreateSubCustomerRequest.PermissionIDs).
const (
	// PermissionReadFinanceInfo lets the master view the sub's finances.
	PermissionReadFinanceInfo = "READ_FINANCE_INFO"
	// PermissionReadConsumeBill lets the master view the sub's consumption
	// and bills (needed for method=sub_customer bill queries).
	PermissionReadConsumeBill = "READ_CONSUME_BILL"
	// PermissionSubstituteOpenInvoice lets the master issue invoices for the sub.
	PermissionSubstituteOpenInvoice = "SUBSTITUTE-OPEN-INVOICE"
	// PermissionTakeOverOpenInvoice stops the sub from issuing its own invoices.
	PermissionTakeOverOpenInvoice = "TAKE-OVER-OPEN-INVOICE"
	// PermissionShareCreditToSub lets the sub share the master's credit line.
	PermissionShareCreditToSub = "SHARE-CREDIT-TO-SUB"
	// PermissionShareBizDiscountToSub lets the sub inherit business discounts.
	PermissionShareBizDiscountToSub = "SHARE-BIZ-DISCOUNT-TO-SUB"
)

// CreateSubCustomerRequest creates an enterprise sub-account under an org
// unit. Its String method hides the password and verification code.
type CreateSubCustomerRequest struct {
	// PartyID is the org unit's Party ID (required, ≤20 characters).
	PartyID string
	// DisplayName is the display name (≤64 characters); empty is not sent.
	DisplayName string
	// PermissionIDs are Permission… constants granted to the master.
	PermissionIDs []string
	// NewSubCustomer describes the account to create (required).
	NewSubCustomer NewSubCustomer
	// FinancialCustody creates a financial-custody sub (the master pays);
	// BSS then forces the permissions. False creates a finance-independent sub.
	FinancialCustody bool
}

// NewSubCustomer is the login of a sub-account to create. String and
// GoString hide Password and VerificationCode.
type NewSubCustomer struct {
	// CustomerName is the login name (required).
	CustomerName string
	// MobilePhone is the sub's own mobile number; required unless
	// UsePriMobilePhone is "Y".
	MobilePhone string
	// UsePriMobilePhone is "Y" to reuse the master's number, "N" or "" not to.
	UsePriMobilePhone string
	// Password is the initial password (required, at least 8 characters).
	Password string
	// VerificationCode is the SMS code sent to MobilePhone (see
	// SendSMSVerificationCode); needed only with the sub's own number.
	VerificationCode string
}

// String describes n without the password or verification code.
func (n NewSubCustomer) String() string {
	return fmt.Sprintf("{CustomerName:%s MobilePhone:%s UsePriMobilePhone:%s Password:<redacted> VerificationCode:<redacted>}",
		n.CustomerName, n.MobilePhone, n.UsePriMobilePhone)
}

// GoString is String, so that %#v hides the secrets too.
func (n NewSubCustomer) GoString() string { return n.String() }

// Format prints String for every verb.
func (n NewSubCustomer) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, n.String()) }

// createSubCustomerBody is the request body in the SDK's field order.
type createSubCustomerBody struct {
	PartyID                    string             `json:"party_id"`
	DisplayName                string             `json:"display_name,omitempty"`
	SubCustomerAssociationType int                `json:"sub_customer_association_type"`
	PermissionIDs              []string           `json:"permission_ids,omitempty"`
	NewSubCustomer             newSubCustomerBody `json:"new_sub_customer"`
	FinancialCustody           int                `json:"financial_custody,omitempty"`
}

type newSubCustomerBody struct {
	CustomerName      string `json:"customer_name"`
	MobilePhone       string `json:"mobile_phone,omitempty"`
	UsePriMobilePhone string `json:"use_pri_mobile_phone,omitempty"`
	Password          string `json:"password"`
	VerificationCode  string `json:"verification_code,omitempty"`
}

// CreateSubCustomer creates an enterprise sub-account
// (POST /v2/enterprises/multi-accounts/sub-customers). It is sent once and
// never retried: the API has no idempotency key. The new account's ID is
// not returned; find it with ListSubCustomers by AccountName, and after an
// ambiguous failure look it up before creating again.
func (c *Client) CreateSubCustomer(ctx context.Context, req CreateSubCustomerRequest) error {
	v := validator{op: OpCreateSubEnterpriseAccount}
	v.required("PartyID", req.PartyID, 20)
	v.maxLen("DisplayName", req.DisplayName, 64)
	n := req.NewSubCustomer
	v.required("NewSubCustomer.CustomerName", n.CustomerName, 64)
	v.oneOf("NewSubCustomer.UsePriMobilePhone", n.UsePriMobilePhone, "Y", "N")
	if n.UsePriMobilePhone != "Y" && n.MobilePhone == "" {
		v.failf("NewSubCustomer.MobilePhone is required unless UsePriMobilePhone is \"Y\"")
	}
	if len(n.Password) < 8 {
		v.failf("NewSubCustomer.Password must have at least 8 characters")
	}
	for _, p := range req.PermissionIDs {
		if p == "" {
			v.failf("PermissionIDs must not contain empty strings")
		}
	}
	if v.err != nil {
		return v.err
	}
	body := createSubCustomerBody{
		PartyID:                    req.PartyID,
		DisplayName:                req.DisplayName,
		SubCustomerAssociationType: 1, // the only supported value: same legal entity
		PermissionIDs:              req.PermissionIDs,
		NewSubCustomer:             newSubCustomerBody(n),
	}
	if req.FinancialCustody {
		body.FinancialCustody = 1
	}
	return c.do(ctx, call{op: OpCreateSubEnterpriseAccount, kind: kindWrite, method: http.MethodPost, path: pathSubCustomers, body: body})
}

// TemplateArgSubCustomerName is the only supported SMS template key: the
// name of the sub-account being created.
const TemplateArgSubCustomerName = "sub_customer_name"

// TemplateArg is one variable of the SMS template.
type TemplateArg struct {
	// Key is TemplateArgSubCustomerName.
	Key string `json:"key"`
	// Value is the variable's value (≤255 characters).
	Value string `json:"value"`
}

// SendSMSVerificationCodeRequest asks BSS to text a verification code for
// creating a sub-account with its own mobile number.
type SendSMSVerificationCodeRequest struct {
	// MobilePhone receives the code (required).
	MobilePhone string
	// TimeoutMinutes is the code's validity, 1–100; 0 means the default (10).
	TimeoutMinutes int
	// Language is "zh-cn" or "en-us"; "" uses the account's preference.
	Language string
	// TemplateArgs are the template variables (1–6 entries).
	TemplateArgs []TemplateArg
}

type sendSMSBody struct {
	MobilePhone    string        `json:"mobile_phone"`
	Timeout        int           `json:"timeout,omitempty"`
	Language       string        `json:"language,omitempty"`
	SmTemplateArgs []TemplateArg `json:"sm_template_args"`
}

// SendSMSVerificationCode texts a verification code
// (POST /v2/enterprises/multi-accounts/sm-verification-code). It is sent
// once and never retried; CBC.99000082 means the send limit was reached.
func (c *Client) SendSMSVerificationCode(ctx context.Context, req SendSMSVerificationCodeRequest) error {
	v := validator{op: OpSendSMSVerificationCode}
	v.required("MobilePhone", req.MobilePhone, 64)
	if req.TimeoutMinutes < 0 || req.TimeoutMinutes > 100 {
		v.failf("TimeoutMinutes must be between 1 and 100 (or 0 for the default), got %d", req.TimeoutMinutes)
	}
	v.maxLen("Language", req.Language, 5)
	if len(req.TemplateArgs) == 0 || len(req.TemplateArgs) > 6 {
		v.failf("TemplateArgs must have 1 to 6 entries, got %d", len(req.TemplateArgs))
	}
	for i, a := range req.TemplateArgs {
		v.required("TemplateArgs["+strconv.Itoa(i)+"].Key", a.Key, 64)
		v.maxLen("TemplateArgs["+strconv.Itoa(i)+"].Value", a.Value, 255)
	}
	if v.err != nil {
		return v.err
	}
	body := sendSMSBody{MobilePhone: req.MobilePhone, Timeout: req.TimeoutMinutes, Language: req.Language, SmTemplateArgs: req.TemplateArgs}
	return c.do(ctx, call{op: OpSendSMSVerificationCode, kind: kindWrite, method: http.MethodPost, path: pathSMSCode, body: body})
}

package bss

import (
	"context"
	"net/http"
	"net/url"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

const (
	pathTransferAmount = "/v2/enterprises/multi-accounts/transfer-amount"
	pathRetrieveAmount = "/v2/enterprises/multi-accounts/retrieve-amount"
)

// Balance types of the amount operations.
const (
	// BalanceTypeDebit is the cash (balance) account.
	BalanceTypeDebit = "BALANCE_TYPE_DEBIT"
	// BalanceTypeCredit is the credit account; it has one ledger per expiry.
	BalanceTypeCredit = "BALANCE_TYPE_CREDIT" //nolint:gosec // G101: a balance type name, not a credential
)

// MaxTransIDLen is the longest trans_id BSS accepts. A UUID without
// hyphens (32 hex characters) fits exactly.
const MaxTransIDLen = 32

// TransferableAmountRequest asks for the master's transferable balance.
type TransferableAmountRequest struct {
	// BalanceType is BalanceTypeDebit or BalanceTypeCredit (required).
	BalanceType string
	// Offset and Limit (1–100, 0 for the server default) page the credit
	// ledgers; they are not sent for the debit type.
	Offset, Limit int
}

// ReclaimableAmountRequest asks for a sub-account's reclaimable balance.
type ReclaimableAmountRequest struct {
	// SubCustomerID is the sub-account's ID (required, ≤64 characters).
	SubCustomerID string
	// BalanceType is BalanceTypeDebit or BalanceTypeCredit (required).
	BalanceType string
	// Offset and Limit (1–100, 0 for the server default) page the credit
	// ledgers; they are not sent for the debit type.
	Offset, Limit int
}

// AmountsResponse is one page of balance rows: exactly one row for the
// debit type, one row per credit ledger for the credit type.
type AmountsResponse struct {
	// TotalCount is the number of rows over all pages.
	TotalCount int
	// Amounts is this page.
	Amounts []AmountInfo
}

// AmountInfo is one balance row.
type AmountInfo struct {
	// Available is what can be moved now: avail_transfer_amount for the
	// master, avail_retrieve_amount for a sub.
	Available money.Amount
	// Amount is the account balance (credit type only).
	Amount money.Amount
	// CreditAmount is the credit line (credit type only).
	CreditAmount money.Amount
	// ExpireTime is the credit ledger's UTC expiry, "" when it never
	// expires. Pass it unchanged as AmountTransferRequest.ExpireTime.
	ExpireTime string
	// MeasureID is the unit; 1 means yuan.
	MeasureID int
	// Currency is the currency code, CNY.
	Currency string
}

// amountsWire is both responses on the wire.
type amountsWire struct {
	TotalCount  int `json:"total_count"`
	AmountInfos []struct {
		AvailTransferAmount *money.Amount `json:"avail_transfer_amount"`
		AvailRetrieveAmount *money.Amount `json:"avail_retrieve_amount"`
		Amount              money.Amount  `json:"amount"`
		CreditAmount        money.Amount  `json:"credit_amount"`
		ExpireTime          string        `json:"expire_time"`
		MeasureID           int           `json:"measure_id"`
		Currency            string        `json:"currency"`
	} `json:"amount_infos"`
}

func (w *amountsWire) response() *AmountsResponse {
	out := &AmountsResponse{TotalCount: w.TotalCount, Amounts: make([]AmountInfo, 0, len(w.AmountInfos))}
	for _, a := range w.AmountInfos {
		info := AmountInfo{Amount: a.Amount, CreditAmount: a.CreditAmount, ExpireTime: a.ExpireTime, MeasureID: a.MeasureID, Currency: a.Currency}
		switch {
		case a.AvailTransferAmount != nil:
			info.Available = *a.AvailTransferAmount
		case a.AvailRetrieveAmount != nil:
			info.Available = *a.AvailRetrieveAmount
		}
		out.Amounts = append(out.Amounts, info)
	}
	return out
}

func balanceQuery(v *validator, q url.Values, balanceType string, offset, limit int) {
	if balanceType == "" {
		v.failf("BalanceType is required")
	}
	v.oneOf("BalanceType", balanceType, BalanceTypeDebit, BalanceTypeCredit)
	v.page(offset, limit, MaxListLimit)
	q.Set("balance_type", balanceType)
	if balanceType == BalanceTypeCredit {
		pageQuery(q, offset, limit, true)
	}
}

// GetTransferableAmount reads what the master can transfer
// (GET /v2/enterprises/multi-accounts/transfer-amount).
func (c *Client) GetTransferableAmount(ctx context.Context, req TransferableAmountRequest) (*AmountsResponse, error) {
	v := validator{op: OpShowMultiAccountTransferAmount}
	q := url.Values{}
	balanceQuery(&v, q, req.BalanceType, req.Offset, req.Limit)
	if v.err != nil {
		return nil, v.err
	}
	var w amountsWire
	if err := c.do(ctx, call{op: OpShowMultiAccountTransferAmount, method: http.MethodGet, path: pathTransferAmount, query: q, out: &w}); err != nil {
		return nil, err
	}
	return w.response(), nil
}

// GetReclaimableAmount reads what the master can reclaim from a sub
// (GET /v2/enterprises/multi-accounts/retrieve-amount). CBC.99000047
// (IsSubAccountNotFound) means the sub does not exist.
func (c *Client) GetReclaimableAmount(ctx context.Context, req ReclaimableAmountRequest) (*AmountsResponse, error) {
	v := validator{op: OpListEnterpriseMultiAccount}
	v.required("SubCustomerID", req.SubCustomerID, 64)
	q := url.Values{}
	q.Set("sub_customer_id", req.SubCustomerID)
	balanceQuery(&v, q, req.BalanceType, req.Offset, req.Limit)
	if v.err != nil {
		return nil, v.err
	}
	var w amountsWire
	if err := c.do(ctx, call{op: OpListEnterpriseMultiAccount, method: http.MethodGet, path: pathRetrieveAmount, query: q, out: &w}); err != nil {
		return nil, err
	}
	return w.response(), nil
}

// TransferableCash returns the master's transferable cash balance.
func (c *Client) TransferableCash(ctx context.Context) (money.Amount, error) {
	resp, err := c.GetTransferableAmount(ctx, TransferableAmountRequest{BalanceType: BalanceTypeDebit})
	if err != nil {
		return 0, err
	}
	return sumAvailable(resp.Amounts), nil
}

// TransferableCredit returns every credit ledger of the master, reading all
// pages. Ledgers carry no ID, so rows are not de-duplicated.
func (c *Client) TransferableCredit(ctx context.Context) ([]AmountInfo, error) {
	return collectPages(ctx, OpShowMultiAccountTransferAmount, MaxListLimit,
		func(ctx context.Context, offset, limit int) (int, []AmountInfo, error) {
			resp, err := c.GetTransferableAmount(ctx, TransferableAmountRequest{BalanceType: BalanceTypeCredit, Offset: offset, Limit: limit})
			if err != nil {
				return 0, nil, err
			}
			return resp.TotalCount, resp.Amounts, nil
		}, nil)
}

// ReclaimableCash returns the cash the master can reclaim from a sub.
func (c *Client) ReclaimableCash(ctx context.Context, subCustomerID string) (money.Amount, error) {
	resp, err := c.GetReclaimableAmount(ctx, ReclaimableAmountRequest{SubCustomerID: subCustomerID, BalanceType: BalanceTypeDebit})
	if err != nil {
		return 0, err
	}
	return sumAvailable(resp.Amounts), nil
}

// ReclaimableCredit returns every credit ledger of a sub, reading all pages.
// Ledgers carry no ID, so rows are not de-duplicated.
func (c *Client) ReclaimableCredit(ctx context.Context, subCustomerID string) ([]AmountInfo, error) {
	return collectPages(ctx, OpListEnterpriseMultiAccount, MaxListLimit,
		func(ctx context.Context, offset, limit int) (int, []AmountInfo, error) {
			resp, err := c.GetReclaimableAmount(ctx, ReclaimableAmountRequest{SubCustomerID: subCustomerID, BalanceType: BalanceTypeCredit, Offset: offset, Limit: limit})
			if err != nil {
				return 0, nil, err
			}
			return resp.TotalCount, resp.Amounts, nil
		}, nil)
}

// sumAvailable adds up the rows; the debit type has exactly one.
func sumAvailable(rows []AmountInfo) money.Amount {
	var total money.Amount
	for _, r := range rows {
		total = total.Add(r.Available)
	}
	return total
}

// AmountTransferRequest moves cash or credit between the master and a sub.
type AmountTransferRequest struct {
	// CustomerID is the sub-account's ID (required, ≤64 characters).
	CustomerID string
	// Amount is the amount in yuan; it must be positive. money.Amount has
	// at most two decimals by construction.
	Amount money.Amount
	// TransID is the caller's idempotency key (required here, ≤32
	// characters; use a UUID without hyphens). Persist it before the first
	// attempt and reuse it for every resend of the same transfer.
	TransID string
	// BalanceType is BalanceTypeDebit, BalanceTypeCredit, or "" (debit).
	BalanceType string
	// ExpireTime selects the credit ledger by its exact UTC expiry
	// ("2027-03-28T14:45:38Z"). Credit only: set it when the ledger expires,
	// leave it empty when the ledger is permanent.
	ExpireTime string
}

// amountTransferBody is the request body in the SDK's field order.
type amountTransferBody struct {
	CustomerID  string       `json:"customer_id"`
	Amount      money.Amount `json:"amount"`
	TransID     string       `json:"trans_id"`
	BalanceType string       `json:"balance_type,omitempty"`
	ExpireTime  string       `json:"expire_time,omitempty"`
}

func (c *Client) moneyWrite(ctx context.Context, op, path string, req AmountTransferRequest) error {
	v := validator{op: op}
	v.required("CustomerID", req.CustomerID, 64)
	if !req.Amount.IsPositive() {
		v.failf("Amount must be positive, got %s", req.Amount)
	}
	v.required("TransID", req.TransID, MaxTransIDLen)
	v.oneOf("BalanceType", req.BalanceType, BalanceTypeDebit, BalanceTypeCredit)
	if req.ExpireTime != "" {
		if req.BalanceType != BalanceTypeCredit {
			v.failf("ExpireTime is allowed only with BalanceType %s", BalanceTypeCredit)
		}
		v.timeLayout("ExpireTime", req.ExpireTime, utcTimeLayout, "2027-03-28T14:45:38Z")
	}
	if v.err != nil {
		return v.err
	}
	return c.do(ctx, call{op: op, kind: kindMoneyWrite, method: http.MethodPost, path: path, body: amountTransferBody(req)})
}

// TransferAmount moves cash or credit from the master to a sub
// (POST /v2/enterprises/multi-accounts/transfer-amount). It is sent exactly
// once, after any other money write of this Client has finished. A nil
// error means applied. On an error, IsDuplicateTransID means a request with
// this TransID was already applied, IsAmbiguousWrite means resend with the
// same TransID, and IsTerminal means it failed (e.g.
// IsInsufficientBalance).
func (c *Client) TransferAmount(ctx context.Context, req AmountTransferRequest) error {
	return c.moneyWrite(ctx, OpUpdateSubEnterpriseAmount, pathTransferAmount, req)
}

// ReclaimAmount moves cash or credit from a sub back to the master
// (POST /v2/enterprises/multi-accounts/retrieve-amount). Keep Amount at or
// below the sub's Available (GetReclaimableAmount). Sending, serialization
// and error handling are as for TransferAmount.
func (c *Client) ReclaimAmount(ctx context.Context, req AmountTransferRequest) error {
	return c.moneyWrite(ctx, OpReclaimSubEnterpriseAmount, pathRetrieveAmount, req)
}

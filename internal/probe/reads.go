package probe

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Who made a call.
const (
	AsMaster = "master"
	AsSub    = "sub-account"
)

// ReadCheck is the outcome of one read operation.
type ReadCheck struct {
	// As is AsMaster or AsSub: whose credentials signed the call.
	As string `json:"as"`
	// Operation is the SDK method name; Variant tells two calls of one
	// operation apart ("cash", "credit").
	Operation string `json:"operation"`
	Variant   string `json:"variant,omitempty"`
	// Method and Path are the HTTP request; IAMAction the action it needs.
	Method    string `json:"method"`
	Path      string `json:"path"`
	IAMAction string `json:"iamAction"`
	// Result is one of the Result… constants.
	Result string `json:"result"`
	// HTTPStatus and Code are the failure's, when it had them.
	HTTPStatus int    `json:"httpStatus,omitempty"`
	Code       string `json:"code,omitempty"`
	// Detail summarizes the answer, or is the error.
	Detail string `json:"detail"`
	// Advice says what to change after a failure.
	Advice string `json:"advice,omitempty"`
}

// errSkip marks a read that had nothing to read; its text is the reason.
type errSkip string

func (e errSkip) Error() string { return string(e) }

// check runs one read and records it.
func (p *prober) check(ctx context.Context, as, op, variant string, read func(context.Context) (string, error)) {
	o, _ := OperationByName(op)
	rc := ReadCheck{As: as, Operation: op, Variant: variant, Method: o.Method, Path: o.Path, IAMAction: o.Action}
	detail, err := read(ctx)
	var skip errSkip
	switch {
	case err == nil:
		rc.Result, rc.Detail = ResultOK, detail
	case errors.As(err, &skip):
		rc.Result, rc.Detail = ResultSkipped, string(skip)
	default:
		d := diagnose(op, err)
		rc.Result, rc.HTTPStatus, rc.Code, rc.Advice, rc.Detail = d.result, d.status, d.code, d.advice, err.Error()
	}
	p.rep.Reads = append(p.rep.Reads, rc)
}

// readAll makes every read of internal/bss once: as the master, about the
// test sub-account when one is named, and as the sub-account when its own
// credentials are given.
func (p *prober) readAll(ctx context.Context) {
	p.readMasterFunds(ctx)
	p.readMasterAccount(ctx)
	if p.opts.SubCustomerID != "" {
		p.readSubFromMaster(ctx)
	}
	if p.sub != nil {
		p.readSubOwn(ctx)
	}
}

func (p *prober) readMasterFunds(ctx context.Context) {
	p.check(ctx, AsMaster, bss.OpShowMultiAccountTransferAmount, "cash", func(ctx context.Context) (string, error) {
		cash, err := p.transferableCash(ctx)
		if err != nil {
			return "", err
		}
		return "transferable cash " + cash.String(), nil
	})
	p.check(ctx, AsMaster, bss.OpShowMultiAccountTransferAmount, "credit", func(ctx context.Context) (string, error) {
		resp, err := p.master.GetTransferableAmount(ctx, bss.TransferableAmountRequest{BalanceType: bss.BalanceTypeCredit, Limit: bss.MaxListLimit})
		if err != nil {
			return "", err
		}
		return ledgers(resp, "transferable"), nil
	})
	p.check(ctx, AsMaster, bss.OpListMultiAccountTransferCoupons, "", func(ctx context.Context) (string, error) {
		resp, err := p.master.ListTransferableCoupons(ctx, 0, bss.MaxListLimit)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d transferable coupon(s)", resp.TotalCount), nil
	})
	p.check(ctx, AsMaster, bss.OpListEnterpriseSubCustomers, "", p.readSubCustomers)
	p.check(ctx, AsMaster, bss.OpListEnterpriseOrganizations, "", func(ctx context.Context) (string, error) {
		resp, err := p.master.ListOrganizations(ctx, bss.ListOrganizationsRequest{})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("root %q (%s), %d org unit(s) below it", resp.RootName, resp.RootID, len(resp.ChildNodes)), nil
	})
}

func (p *prober) readSubCustomers(ctx context.Context) (string, error) {
	resp, err := p.master.ListSubCustomers(ctx, bss.ListSubCustomersRequest{Limit: bss.MaxListLimit})
	if err != nil {
		return "", err
	}
	detail := fmt.Sprintf("%d sub-account(s)", resp.TotalCount)
	if id := p.opts.SubCustomerID; id != "" {
		found := "; the test sub-account " + id + " is not on the first page of 100"
		for _, s := range resp.SubCustomers {
			if s.ID == id {
				found = fmt.Sprintf("; the test sub-account %s is %q, status %d", id, s.Name, s.Status)
			}
		}
		detail += found
	}
	return detail, nil
}

func (p *prober) readMasterAccount(ctx context.Context) {
	var orderID string
	p.check(ctx, AsMaster, bss.OpListCustomerOrders, "", func(ctx context.Context) (string, error) {
		resp, err := p.master.ListOrders(ctx, bss.ListOrdersRequest{OrderBy: bss.OrderByCreateTimeDesc, Limit: 10})
		if err != nil {
			return "", err
		}
		if len(resp.Orders) > 0 {
			orderID = resp.Orders[0].OrderID
		}
		return fmt.Sprintf("%d order(s)", resp.TotalCount), nil
	})
	p.check(ctx, AsMaster, bss.OpShowCustomerOrderDetails, "", func(ctx context.Context) (string, error) {
		if orderID == "" {
			return "", errSkip("no order to read")
		}
		resp, err := p.master.GetOrderDetails(ctx, orderID, 0, 10)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("order %s: %d line item(s)", orderID, resp.TotalCount), nil
	})
	p.readPendingOrder(ctx)
	p.check(ctx, AsMaster, bss.OpShowCustomerMonthlySum, "", func(ctx context.Context) (string, error) {
		cycle := p.now().In(beijing).Format("2006-01")
		resp, err := p.master.GetMonthlySum(ctx, bss.MonthlySumRequest{BillCycle: cycle, Limit: 10})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("bill cycle %s: %d record(s), consumption %s", cycle, resp.TotalCount, resp.ConsumeAmount), nil
	})
	p.check(ctx, AsMaster, bss.OpShowCustomerAccountBalances, "", func(ctx context.Context) (string, error) {
		resp, err := p.master.GetAccountBalances(ctx)
		if err != nil {
			return "", err
		}
		return balances(resp), nil
	})
	p.check(ctx, AsMaster, bss.OpListCustomerAccountChangeRecords, "", func(ctx context.Context) (string, error) {
		return p.recentRecords(ctx, p.master)
	})
}

// readPendingOrder reads the coupons and discounts BSS offers for the
// newest order pending payment on a sub-account's behalf, and reports the
// PayOrders coupon type the operator would send for each coupon type seen:
// that mapping is inferred (bss-api.md §4.4, open question 9), and an
// order at hand is the only way to check it without paying.
func (p *prober) readPendingOrder(ctx context.Context) {
	var orderID string
	p.check(ctx, AsMaster, bss.OpListCustomerOrders, "pending on behalf", func(ctx context.Context) (string, error) {
		resp, err := p.master.ListOrders(ctx, bss.ListOrdersRequest{Method: bss.MethodSubCustomer, Status: bss.OrderStatusPendingPayment,
			OrderBy: bss.OrderByCreateTimeDesc, Limit: 10})
		if err != nil {
			return "", err
		}
		if len(resp.Orders) > 0 {
			orderID = resp.Orders[0].OrderID
		}
		return fmt.Sprintf("%d order(s) pending payment on a sub-account's behalf", resp.TotalCount), nil
	})
	p.check(ctx, AsMaster, bss.OpListOrderCouponsByOrderID, "", func(ctx context.Context) (string, error) {
		if orderID == "" {
			return "", errSkip("no pending on-behalf order to read the coupons of")
		}
		resp, err := p.master.ListOrderCouponsByOrderID(ctx, orderID)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("order %s: %d usable coupon(s)%s", orderID, len(resp.Coupons), couponTypes(resp.Coupons)), nil
	})
	p.check(ctx, AsMaster, bss.OpListOrderDiscounts, "", func(ctx context.Context) (string, error) {
		if orderID == "" {
			return "", errSkip("no pending on-behalf order to read the discounts of")
		}
		resp, err := p.master.ListOrderDiscounts(ctx, orderID)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("order %s: %d discount(s)", orderID, len(resp.Discounts)), nil
	})
}

// couponTypes names the coupon types seen and the PayOrders type each is
// sent as (inferred).
func couponTypes(cs []bss.AvailableCoupon) string {
	seen := map[int]bool{}
	var parts []string
	for _, c := range cs {
		if seen[c.CouponType] {
			continue
		}
		seen[c.CouponType] = true
		if pay, ok := bss.PayCouponType(c.CouponType); ok {
			parts = append(parts, fmt.Sprintf("type %d sent as %d", c.CouponType, pay))
		} else {
			parts = append(parts, fmt.Sprintf("type %d not payable", c.CouponType))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, ", ") + " (the PayOrders types are inferred: bss-api.md §4.4)"
}

func (p *prober) readSubFromMaster(ctx context.Context) {
	id := p.opts.SubCustomerID
	p.check(ctx, AsMaster, bss.OpListEnterpriseMultiAccount, "cash", func(ctx context.Context) (string, error) {
		cash, err := p.reclaimableCash(ctx)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s: reclaimable cash %s", id, cash), nil
	})
	p.check(ctx, AsMaster, bss.OpListEnterpriseMultiAccount, "credit", func(ctx context.Context) (string, error) {
		resp, err := p.master.GetReclaimableAmount(ctx, bss.ReclaimableAmountRequest{SubCustomerID: id, BalanceType: bss.BalanceTypeCredit, Limit: bss.MaxListLimit})
		if err != nil {
			return "", err
		}
		return id + ": " + ledgers(resp, "reclaimable"), nil
	})
	p.check(ctx, AsMaster, bss.OpListMultiAccountRetrieveCoupons, "", func(ctx context.Context) (string, error) {
		resp, err := p.master.ListReclaimableCoupons(ctx, id, 0, bss.MaxListLimit)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s: %d reclaimable sub-coupon(s)", id, resp.TotalCount), nil
	})
}

func (p *prober) readSubOwn(ctx context.Context) {
	p.check(ctx, AsSub, bss.OpShowCustomerAccountBalances, "", func(ctx context.Context) (string, error) {
		resp, err := p.sub.GetAccountBalances(ctx)
		if err != nil {
			return "", err
		}
		cash := accountCash(resp)
		p.subCash = &cash
		return balances(resp), nil
	})
	p.check(ctx, AsSub, bss.OpListCustomerAccountChangeRecords, "", func(ctx context.Context) (string, error) {
		return p.recentRecords(ctx, p.sub)
	})
}

// recentRecords reads one page of the last 30 days' cash income/expense.
func (p *prober) recentRecords(ctx context.Context, c API) (string, error) {
	end := p.now().In(beijing)
	req := bss.AccountChangeRecordsRequest{
		BalanceType: bss.BalanceTypeDebit, Limit: 10,
		TradeTimeBegin: end.AddDate(0, 0, -30).Format("2006-01-02"), TradeTimeEnd: end.Format("2006-01-02"),
	}
	resp, err := c.ListAccountChangeRecords(ctx, req)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d cash income/expense record(s) from %s to %s", resp.TotalCount, req.TradeTimeBegin, req.TradeTimeEnd), nil
}

// transferableCash reads the master's transferable cash and keeps it.
func (p *prober) transferableCash(ctx context.Context) (money.Amount, error) {
	resp, err := p.master.GetTransferableAmount(ctx, bss.TransferableAmountRequest{BalanceType: bss.BalanceTypeDebit})
	if err != nil {
		return 0, err
	}
	cash := sumAvailable(resp)
	p.transferable = &cash
	return cash, nil
}

// reclaimableCash reads the test sub-account's reclaimable cash and keeps it.
func (p *prober) reclaimableCash(ctx context.Context) (money.Amount, error) {
	resp, err := p.master.GetReclaimableAmount(ctx, bss.ReclaimableAmountRequest{SubCustomerID: p.opts.SubCustomerID, BalanceType: bss.BalanceTypeDebit})
	if err != nil {
		return 0, err
	}
	cash := sumAvailable(resp)
	p.reclaimable = &cash
	return cash, nil
}

// subOwnCash reads the sub-account's own cash balance with its credentials.
func (p *prober) subOwnCash(ctx context.Context) (money.Amount, error) {
	resp, err := p.sub.GetAccountBalances(ctx)
	if err != nil {
		return 0, err
	}
	cash := accountCash(resp)
	p.subCash = &cash
	return cash, nil
}

func sumAvailable(resp *bss.AmountsResponse) money.Amount {
	var t money.Amount
	for _, a := range resp.Amounts {
		t = t.Add(a.Available)
	}
	return t
}

func ledgers(resp *bss.AmountsResponse, what string) string {
	if resp.TotalCount == 0 && len(resp.Amounts) == 0 {
		return "no credit ledgers"
	}
	return fmt.Sprintf("%d credit ledger(s), %s %s on this page", resp.TotalCount, sumAvailable(resp), what)
}

func accountCash(resp *bss.AccountBalancesResponse) money.Amount {
	var t money.Amount
	for _, b := range resp.AccountBalances {
		if b.AccountType == bss.AccountTypeCash {
			t = t.Add(b.Amount)
		}
	}
	return t
}

func balances(resp *bss.AccountBalancesResponse) string {
	parts := []string{"cash " + accountCash(resp).String()}
	for _, b := range resp.AccountBalances {
		if b.AccountType == bss.AccountTypeCredit {
			parts = append(parts, fmt.Sprintf("credit %s (line %s)", b.Amount, b.CreditAmount))
		}
	}
	if !resp.DebtAmount.IsZero() {
		parts = append(parts, "debt "+resp.DebtAmount.String())
	}
	return strings.Join(parts, ", ")
}

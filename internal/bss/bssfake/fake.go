// Package bssfake is an in-memory BSS for unit tests of the reconcilers:
// one master with transferable cash and coupons, its sub-accounts with
// reclaimable cash and sub-coupons, trans_ids applied at most once
// (CBC.99007009 on a reuse), pending orders the master pays at most once
// or cancels, and hooks that fail a call before it is
// applied or lose its answer after. It implements bss.API; the simulator
// (internal/bsssim) is the full model behind the HTTP API.
package bssfake

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Fault decides, per call, whether it fails before anything is applied
// (Before) or is applied and its answer lost (After). op is the bss.Op…
// constant of the call.
type Fault func(op string) (before, after error)

// BSS is the in-memory master account.
type BSS struct {
	mu      sync.Mutex
	cash    money.Amount
	credit  []bss.AmountInfo        // master credit ledgers
	coupons map[string]money.Amount // master coupon id → balance
	subs    map[string]*sub
	applied map[string]bool // trans_ids applied (or burned)
	records []record
	nextID  int
	// Fault, when set, is consulted on every money write.
	Fault Fault
	// BurnRefused makes a trans_id refused with a business error answer
	// CBC.99007009 when it is sent again, as a BSS that remembers refused
	// trans_ids would.
	BurnRefused bool
	// NoRecords keeps applied cash and credit movements out of the
	// master's income/expense records; otherwise each has one whose
	// trade_id is its trans_id.
	NoRecords bool
	// Calls counts the calls per operation.
	Calls map[string]int
	// PayProcessing leaves a paid order processing (status 3) until
	// CompletePayments, so that a second pay answers CBC.99000088.
	PayProcessing bool

	reports Reports

	orders   map[string]*order
	orderIDs []string       // in the order they were added
	paid     map[string]int // order id → payments applied
}

type sub struct {
	cash       money.Amount
	credit     []bss.AmountInfo
	subCoupons map[string]bss.SubCoupon // sub-coupon id → sub-coupon
}

// New returns a master with cash and the given coupons, and sub-accounts
// with no money.
func New(cash money.Amount, coupons map[string]money.Amount, subAccounts ...string) *BSS {
	b := &BSS{cash: cash, coupons: map[string]money.Amount{}, subs: map[string]*sub{}, applied: map[string]bool{}, Calls: map[string]int{}}
	for id, a := range coupons {
		b.coupons[id] = a
	}
	for _, id := range subAccounts {
		b.subs[id] = &sub{subCoupons: map[string]bss.SubCoupon{}}
	}
	return b
}

var _ bss.API = (*BSS)(nil)

// Spend takes amount of a sub-account's cash, as consumption would.
func (b *BSS) Spend(customerID string, amount money.Amount) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.subs[customerID]; ok {
		s.cash = money.Max(s.cash.Sub(amount), money.Zero)
	}
}

// Cash is a sub-account's reclaimable cash.
func (b *BSS) Cash(customerID string) money.Amount {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.subs[customerID]; ok {
		return s.cash
	}
	return money.Zero
}

// apiErr is a business error as BSS returns them: HTTP 400 with a code.
func apiErr(op, code, msg string) error {
	return &bss.Error{Operation: op, HTTPStatus: http.StatusBadRequest, Code: code, Message: msg}
}

// write runs one money write: fault before, trans_id check, apply, fault
// after. Callers hold no lock.
func (b *BSS) write(op, transID, customerID string, apply func(*sub) error) error {
	var before, after error
	if b.Fault != nil {
		before, after = b.Fault(op)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Calls[op]++
	if before != nil {
		return before
	}
	if b.applied[transID] {
		return apiErr(op, bss.CodeDuplicateTransID, "The transaction ID already exists.")
	}
	s, ok := b.subs[customerID]
	if !ok {
		return apiErr(op, bss.CodeSubAccountNotFound, "The customer does not exist.")
	}
	if err := apply(s); err != nil {
		if b.BurnRefused {
			b.applied[transID] = true
		}
		return err
	}
	b.applied[transID] = true
	return after
}

// record adds the master's income/expense record of an applied cash or
// credit movement (callers hold b.mu).
func (b *BSS) record(transID string, req bss.AmountTransferRequest, revenue bool) {
	if b.NoRecords {
		return
	}
	b.nextID++
	r := bss.AccountChangeRecord{AccountChangeID: fmt.Sprintf("ACR%06d", b.nextID), TradeID: transID, ChangeAmount: req.Amount,
		TradeDetailType: bss.TradeTypeTransferIn, RevenueExpenseType: bss.RevenueExpenseExpense}
	if revenue {
		r.TradeDetailType, r.RevenueExpenseType = bss.TradeTypeReclaimed, bss.RevenueExpenseRevenue
	}
	bt := req.BalanceType
	if bt == "" {
		bt = bss.BalanceTypeDebit
	}
	b.records = append(b.records, record{balanceType: bt, AccountChangeRecord: r})
}

// record is one income/expense record of the master and its balance type.
type record struct {
	balanceType string
	bss.AccountChangeRecord
}

// AddRecord adds an income/expense record of the master of the balance
// type given, as a movement made outside the operator would.
func (b *BSS) AddRecord(balanceType string, r bss.AccountChangeRecord) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.records = append(b.records, record{balanceType: balanceType, AccountChangeRecord: r})
}

// ListAllAccountChangeRecords returns the master's records of applied
// movements (and those added), filtered by balance type, trade id, trade
// type and revenue/expense type. The fake's own records carry no trade
// time, so the time window is not applied.
func (b *BSS) ListAllAccountChangeRecords(_ context.Context, req bss.AccountChangeRecordsRequest) ([]bss.AccountChangeRecord, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read(bss.OpListCustomerAccountChangeRecords)
	var out []bss.AccountChangeRecord
	for _, r := range b.records {
		switch {
		case req.BalanceType != "" && r.balanceType != req.BalanceType,
			req.TradeID != "" && r.TradeID != req.TradeID,
			req.TradeType != "" && r.TradeDetailType != req.TradeType,
			req.RevenueExpenseType != "" && r.RevenueExpenseType != req.RevenueExpenseType:
			continue
		}
		out = append(out, r.AccountChangeRecord)
	}
	return out, nil
}

// SetCredit gives the master these credit ledgers.
func (b *BSS) SetCredit(ledgers ...bss.AmountInfo) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.credit = append([]bss.AmountInfo(nil), ledgers...)
}

// moveCredit moves amount from the ledger with expiry expire in from to
// the one with that expiry in to (made when missing); false when from has
// no such ledger with enough available.
func moveCredit(from, to *[]bss.AmountInfo, expire string, amount money.Amount) bool {
	i := slices.IndexFunc(*from, func(l bss.AmountInfo) bool { return l.ExpireTime == expire })
	if i < 0 || (*from)[i].Available.Cmp(amount) < 0 {
		return false
	}
	(*from)[i].Available = (*from)[i].Available.Sub(amount)
	j := slices.IndexFunc(*to, func(l bss.AmountInfo) bool { return l.ExpireTime == expire })
	if j < 0 {
		*to = append(*to, bss.AmountInfo{ExpireTime: expire, MeasureID: 1})
		j = len(*to) - 1
	}
	(*to)[j].Available = (*to)[j].Available.Add(amount)
	return true
}

// TransferAmount moves cash, or credit of the ledger req.ExpireTime names,
// from the master to a sub-account.
func (b *BSS) TransferAmount(_ context.Context, req bss.AmountTransferRequest) error {
	return b.write(bss.OpUpdateSubEnterpriseAmount, req.TransID, req.CustomerID, func(s *sub) error {
		if req.BalanceType == bss.BalanceTypeCredit {
			if !moveCredit(&b.credit, &s.credit, req.ExpireTime, req.Amount) {
				return apiErr(bss.OpUpdateSubEnterpriseAmount, bss.CodeInsufficientBalance, "Insufficient balance.")
			}
			b.record(req.TransID, req, false)
			return nil
		}
		if b.cash.Cmp(req.Amount) < 0 {
			return apiErr(bss.OpUpdateSubEnterpriseAmount, bss.CodeInsufficientBalance, "Insufficient balance.")
		}
		b.cash, s.cash = b.cash.Sub(req.Amount), s.cash.Add(req.Amount)
		b.record(req.TransID, req, false)
		return nil
	})
}

// ReclaimAmount moves cash from a sub-account back to the master.
func (b *BSS) ReclaimAmount(_ context.Context, req bss.AmountTransferRequest) error {
	return b.write(bss.OpReclaimSubEnterpriseAmount, req.TransID, req.CustomerID, func(s *sub) error {
		if req.BalanceType == bss.BalanceTypeCredit {
			if !moveCredit(&s.credit, &b.credit, req.ExpireTime, req.Amount) {
				return apiErr(bss.OpReclaimSubEnterpriseAmount, bss.CodeInsufficientBalance, "Insufficient balance.")
			}
			b.record(req.TransID, req, true)
			return nil
		}
		if s.cash.Cmp(req.Amount) < 0 {
			return apiErr(bss.OpReclaimSubEnterpriseAmount, bss.CodeInsufficientBalance, "Insufficient balance.")
		}
		b.cash, s.cash = b.cash.Add(req.Amount), s.cash.Sub(req.Amount)
		b.record(req.TransID, req, true)
		return nil
	})
}

// TransferCoupon carves a sub-coupon out of a master coupon.
func (b *BSS) TransferCoupon(_ context.Context, req bss.CouponTransferRequest) (string, error) {
	var id string
	err := b.write(bss.OpClaimEnterpriseMultiAccountCoupon, req.TransID, req.CustomerID, func(s *sub) error {
		bal, ok := b.coupons[req.CouponID]
		if !ok || bal.Cmp(req.Amount) < 0 {
			return apiErr(bss.OpClaimEnterpriseMultiAccountCoupon, bss.CodeCheckItemFailed, "The coupon balance is insufficient.")
		}
		b.nextID++
		id = fmt.Sprintf("SCP%06d", b.nextID)
		b.coupons[req.CouponID] = bal.Sub(req.Amount)
		s.subCoupons[id] = bss.SubCoupon{CouponID: req.CouponID, SubCouponID: id, Balance: req.Amount}
		return nil
	})
	return id, err
}

// ReclaimCoupon returns what is left of a sub-coupon to its master coupon.
func (b *BSS) ReclaimCoupon(_ context.Context, req bss.CouponReclaimRequest) (money.Amount, error) {
	var got money.Amount
	err := b.write(bss.OpReclaimEnterpriseMultiAccountCoupon, req.TransID, req.CustomerID, func(s *sub) error {
		sc, ok := s.subCoupons[req.SubCouponID]
		if !ok || sc.CouponID != req.CouponID {
			return apiErr(bss.OpReclaimEnterpriseMultiAccountCoupon, bss.CodeCheckItemFailed, "The coupon does not exist.")
		}
		got = sc.Balance
		b.coupons[req.CouponID] = b.coupons[req.CouponID].Add(got)
		delete(s.subCoupons, req.SubCouponID)
		return nil
	})
	return got, err
}

func (b *BSS) read(op string) {
	b.Calls[op]++
}

// TransferableCash is the master's cash.
func (b *BSS) TransferableCash(context.Context) (money.Amount, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read(bss.OpShowMultiAccountTransferAmount)
	return b.cash, nil
}

// CreditReads is the Calls key of credit balance reads (the same BSS
// operation as cash reads, with balance_type credit).
const CreditReads = bss.OpShowMultiAccountTransferAmount + " (credit)"

// TransferableCredit returns the master's credit ledgers.
func (b *BSS) TransferableCredit(context.Context) ([]bss.AmountInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read(CreditReads)
	return append([]bss.AmountInfo(nil), b.credit...), nil
}

// ListAllTransferableCoupons lists the master's coupons with a balance.
func (b *BSS) ListAllTransferableCoupons(context.Context) ([]bss.Coupon, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read(bss.OpListMultiAccountTransferCoupons)
	var out []bss.Coupon
	for id, bal := range b.coupons {
		if bal.IsPositive() {
			out = append(out, bss.Coupon{CouponID: id, Balance: bal})
		}
	}
	return out, nil
}

// ReclaimableCash is a sub-account's cash.
func (b *BSS) ReclaimableCash(_ context.Context, id string) (money.Amount, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read(bss.OpShowMultiAccountTransferAmount)
	s, ok := b.subs[id]
	if !ok {
		return money.Zero, apiErr(bss.OpShowMultiAccountTransferAmount, bss.CodeSubAccountNotFound, "The customer does not exist.")
	}
	return s.cash, nil
}

// ReclaimableCredit returns a sub-account's credit ledgers.
func (b *BSS) ReclaimableCredit(_ context.Context, id string) ([]bss.AmountInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read(CreditReads)
	s, ok := b.subs[id]
	if !ok {
		return nil, apiErr(bss.OpShowMultiAccountTransferAmount, bss.CodeSubAccountNotFound, "The customer does not exist.")
	}
	return append([]bss.AmountInfo(nil), s.credit...), nil
}

// ListAllReclaimableCoupons lists a sub-account's sub-coupons.
func (b *BSS) ListAllReclaimableCoupons(_ context.Context, id string) ([]bss.SubCoupon, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read(bss.OpListMultiAccountRetrieveCoupons)
	s, ok := b.subs[id]
	if !ok {
		return nil, apiErr(bss.OpListMultiAccountRetrieveCoupons, bss.CodeSubAccountNotFound, "The customer does not exist.")
	}
	out := make([]bss.SubCoupon, 0, len(s.subCoupons))
	for _, sc := range s.subCoupons {
		out = append(out, sc)
	}
	return out, nil
}

// ListSubCustomers lists the sub-accounts, all Normal, on one page.
func (b *BSS) ListSubCustomers(ctx context.Context, req bss.ListSubCustomersRequest) (*bss.ListSubCustomersResponse, error) {
	all, err := b.ListAllSubCustomers(ctx, req)
	return &bss.ListSubCustomersResponse{SubCustomers: all, TotalCount: len(all)}, err
}

// ListAllSubCustomers lists the sub-accounts, all Normal.
func (b *BSS) ListAllSubCustomers(context.Context, bss.ListSubCustomersRequest) ([]bss.SubCustomer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read(bss.OpListEnterpriseSubCustomers)
	out := make([]bss.SubCustomer, 0, len(b.subs))
	for id := range b.subs {
		out = append(out, bss.SubCustomer{ID: id, Name: id, Status: 1})
	}
	return out, nil
}

// ListAllMonthlySums returns no bills: the fake models no consumption.
func (b *BSS) ListAllMonthlySums(context.Context, bss.MonthlySumRequest) (*bss.MonthlySumResponse, error) {
	return &bss.MonthlySumResponse{}, nil
}

// CreateSubCustomer adds a Normal sub-account whose customer id is its
// login name.
func (b *BSS) CreateSubCustomer(_ context.Context, req bss.CreateSubCustomerRequest) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Calls[bss.OpCreateSubEnterpriseAccount]++
	name := req.NewSubCustomer.CustomerName
	if _, ok := b.subs[name]; ok {
		return apiErr(bss.OpCreateSubEnterpriseAccount, "CBC.99000049", "The account name already exists.")
	}
	b.subs[name] = &sub{subCoupons: map[string]bss.SubCoupon{}}
	return nil
}

// SendSMSVerificationCode counts the codes sent; the fake sends none.
func (b *BSS) SendSMSVerificationCode(context.Context, bss.SendSMSVerificationCodeRequest) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Calls[bss.OpSendSMSVerificationCode]++
	return nil
}

// SetSub sets a sub-account's reclaimable cash and credit ledgers.
func (b *BSS) SetSub(customerID string, cash money.Amount, credit ...bss.AmountInfo) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.subs[customerID]
	if !ok {
		s = &sub{subCoupons: map[string]bss.SubCoupon{}}
		b.subs[customerID] = s
	}
	s.cash, s.credit = cash, append([]bss.AmountInfo(nil), credit...)
}

// SetCash sets the master's transferable cash, as money moved outside the
// operator would.
func (b *BSS) SetCash(cash money.Amount) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cash = cash
}

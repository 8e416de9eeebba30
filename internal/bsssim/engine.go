package bsssim

import (
	"errors"
	"math/bits"
	"sort"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// catchUpLocked brings the state to simulated time now: payments whose
// processing time has passed complete, resource packages are used up to
// now, sub-accounts being created become normal once their creation delay
// has passed, and every normal sub-account with a positive rate spends
// money (and books its bill and daily cost) for the time since it was last
// brought up to date.
func (s *Sim) catchUpLocked(now time.Time) {
	s.completePaymentsLocked(now)
	s.usePackagesLocked(now)
	for i := range s.st.SubAccounts {
		sa := &s.st.SubAccounts[i]
		if sa.Status == SubStatusCreating && sa.ReadyAt != nil && !now.Before(*sa.ReadyAt) {
			ready := *sa.ReadyAt
			sa.Status = SubStatusNormal
			sa.ReadyAt = nil
			s.dirty = true
			if s.rateOf(sa).IsPositive() {
				sa.ConsumedUntil = &ready
			}
		}
		s.consumeLocked(sa, now)
	}
}

func (s *Sim) rateOf(sa *SubAccount) money.Amount {
	if sa.ConsumptionRate != nil {
		return *sa.ConsumptionRate
	}
	return s.opts.ConsumptionRate
}

// consumeLocked applies a sub-account's consumption up to now, one UTC+8
// day at a time so that bill cycles and daily records are exact.
func (s *Sim) consumeLocked(sa *SubAccount, now time.Time) {
	rate := s.rateOf(sa)
	if sa.Status != SubStatusNormal || !rate.IsPositive() {
		if sa.ConsumedUntil != nil || sa.ConsumptionCarry != 0 {
			sa.ConsumedUntil = nil
			sa.ConsumptionCarry = 0
			s.dirty = true
		}
		return
	}
	if sa.ConsumedUntil == nil {
		t := now
		sa.ConsumedUntil = &t
		s.dirty = true
		return
	}
	start := *sa.ConsumedUntil
	if !start.Before(now) {
		return
	}
	for start.Before(now) {
		l := start.In(beijing)
		next := time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, beijing).UTC()
		end := now
		if next.Before(end) {
			end = next
		}
		s.consumeSegmentLocked(sa, start, end, rate)
		start = end
	}
	t := now
	sa.ConsumedUntil = &t
	s.dirty = true
}

// spend computes rate (fen per hour) × d + carry, in fen-nanoseconds per
// hour, without overflow, and returns whole fen and the new carry. Segments
// are at most one day long, so the quotient always fits.
func spend(rateFen int64, d time.Duration, carry int64) (fen, newCarry int64) {
	if rateFen <= 0 || d <= 0 || carry < 0 {
		return 0, max(carry, 0)
	}
	hi, lo := bits.Mul64(uint64(rateFen), uint64(d))
	lo, c := bits.Add64(lo, uint64(carry), 0)
	hi += c
	q, r := bits.Div64(hi, lo, uint64(time.Hour))
	// q < 2^52 for rates below 10^12 yuan/h over a day; r < 3.6e12.
	return int64(q), int64(r)
}

func (s *Sim) consumeSegmentLocked(sa *SubAccount, start, end time.Time, rate money.Amount) {
	fen, carry := spend(rate.Fen(), end.Sub(start), sa.ConsumptionCarry)
	sa.ConsumptionCarry = carry
	if fen == 0 {
		return
	}
	remaining := money.FromFen(fen)
	take := func(bal *money.Amount) money.Amount {
		t := money.Min(remaining, *bal)
		*bal = bal.Sub(t)
		remaining = remaining.Sub(t)
		return t
	}
	var couponPaid, cashPaid, creditPaid money.Amount
	var scs []int
	for i, sc := range s.st.SubCoupons {
		if sc.CustomerID == sa.ID && sc.Balance.IsPositive() {
			if p := s.couponLocked(sc.ParentCouponID); p != nil && !start.Before(p.EffectiveTime) && start.Before(p.ExpireTime) {
				scs = append(scs, i)
			}
		}
	}
	sort.SliceStable(scs, func(a, b int) bool {
		pa := s.couponLocked(s.st.SubCoupons[scs[a]].ParentCouponID)
		pb := s.couponLocked(s.st.SubCoupons[scs[b]].ParentCouponID)
		return pa.ExpireTime.Before(pb.ExpireTime)
	})
	for _, i := range scs {
		couponPaid = couponPaid.Add(take(&s.st.SubCoupons[i].Balance))
	}
	cashPaid = take(&sa.SelfFundedCash).Add(take(&sa.ReclaimableCash))
	for _, i := range sortedLedgers(sa.CreditLedgers) {
		l := &sa.CreditLedgers[i]
		if l.ExpireTime != nil && !start.Before(*l.ExpireTime) {
			continue
		}
		creditPaid = creditPaid.Add(take(&l.Balance))
	}
	debt := remaining
	paid := money.FromFen(fen).Sub(debt)
	if m := s.masterLocked(sa.DomainID); m != nil {
		m.Totals.Consumed = m.Totals.Consumed.Add(paid)
	}
	s.bookCostLocked(sa.DomainID, sa.ID, sa.ServiceTypeCode, start, costParts{
		amount: money.FromFen(fen), official: money.FromFen(fen), cash: cashPaid, credit: creditPaid, coupon: couponPaid, debt: debt,
	})
	b := s.billLocked(sa, start.In(beijing).Format("2006-01"))
	b.OfficialAmount = b.OfficialAmount.Add(money.FromFen(fen))
	b.ConsumeAmount = b.ConsumeAmount.Add(money.FromFen(fen))
	b.CashAmount = b.CashAmount.Add(cashPaid)
	b.CreditAmount = b.CreditAmount.Add(creditPaid)
	b.CouponAmount = b.CouponAmount.Add(couponPaid)
	b.DebtAmount = b.DebtAmount.Add(debt)
	at := end.Add(-time.Nanosecond).Truncate(time.Second)
	if cashPaid.IsPositive() {
		s.deductLocked(sa, BalanceTypeDebit, at, cashPaid, sa.cash())
	}
	if creditPaid.IsPositive() {
		s.deductLocked(sa, BalanceTypeCredit, at, creditPaid, sumLedgers(sa.CreditLedgers))
	}
	s.dirty = true
}

// billLocked returns the on-demand consumption record of a sub-account for
// a bill cycle, creating it when needed.
func (s *Sim) billLocked(sa *SubAccount, cycle string) *BillRecord {
	for i := len(s.st.Bills) - 1; i >= 0; i-- {
		b := &s.st.Bills[i]
		if b.BillCycle == cycle && b.CustomerID == sa.ID && b.ServiceTypeCode == sa.ServiceTypeCode && b.ChargingMode == 3 && b.BillType == 1 {
			return b
		}
	}
	s.st.Bills = append(s.st.Bills, BillRecord{
		BillCycle: cycle, CustomerID: sa.ID, DomainID: sa.DomainID, AccountName: sa.Name,
		ServiceTypeCode: sa.ServiceTypeCode, ResourceTypeCode: resourceTypeOf(sa.ServiceTypeCode), ChargingMode: 3, BillType: 1,
	})
	return &s.st.Bills[len(s.st.Bills)-1]
}

// deductLocked adds consumption to the sub-account's DEDEUCT record of the
// day (UTC+8) for the balance type, creating it when needed.
func (s *Sim) deductLocked(sa *SubAccount, balanceType string, at time.Time, amount, after money.Amount) {
	k := deductKey(sa.ID, balanceType, at)
	if i, ok := s.deductIdx[k]; ok {
		r := &s.st.ChangeRecords[i]
		r.ChangeAmount = r.ChangeAmount.Add(amount)
		r.BalanceAfterChange = after
		r.TradeTime = at
		return
	}
	tradeID := s.nextDigitsLocked("DED", 16, func(string) bool { return false })
	s.addChangeLocked(at, sa.ID, sa.Name, balanceType, TradeDeduct, Expense, tradeID, amount, after, "")
	s.st.ChangeRecords[len(s.st.ChangeRecords)-1].ServiceTypeCode = sa.ServiceTypeCode
	s.deductIdx[k] = len(s.st.ChangeRecords) - 1
}

// amountOp is a validated transfer or reclaim request.
type amountOp struct {
	customerID string
	amount     money.Amount
	transID    string
	credit     bool
	expire     *time.Time
}

func (op amountOp) balanceType() string {
	if op.credit {
		return BalanceTypeCredit
	}
	return BalanceTypeDebit
}

// transIDCheck is what checkTransIDLocked found out about a trans_id that
// may be processed.
type transIDCheck struct {
	// forgotten is set when BSS had seen the trans_id and the retention
	// (Behaviour.TransIDRetention) has passed since.
	forgotten bool
}

// checkTransIDLocked rejects a trans_id that the master used before
// (applied, or burned by a refusal) and that BSS still remembers at now,
// and generates one when the client sent none.
func (s *Sim) checkTransIDLocked(now time.Time, domainID string, transID *string) (transIDCheck, error) {
	if *transID == "" {
		for {
			id := s.nextHexLocked("trans")
			if _, used := s.transIDs[domainID+"\x00"+id]; !used {
				*transID = id
				return transIDCheck{}, nil
			}
		}
	}
	seen, ok := s.transIDs[domainID+"\x00"+*transID]
	if !ok {
		return transIDCheck{}, nil
	}
	if s.behaviour.remembers(seen, now) {
		return transIDCheck{}, bizErr(CodeDuplicateTransID, "The transaction ID %s already exists. Do not submit it again.", *transID)
	}
	return transIDCheck{forgotten: true}, nil
}

func (s *Sim) recordLocked(e LedgerEntry) {
	s.st.Ledger = append(s.st.Ledger, e)
	s.transIDs[e.DomainID+"\x00"+e.TransID] = e.Time
	s.dirty = true
}

// refusedLocked remembers the trans_id of a money write refused with err
// when the behaviour burns it (Behaviour.burns).
func (s *Sim) refusedLocked(now time.Time, tc transIDCheck, op, domainID, customerID, transID, reqID string, err error) {
	if !s.behaviour.burns(err) {
		return
	}
	var ae *apiError
	errors.As(err, &ae)
	s.st.BurnedTransIDs = append(s.st.BurnedTransIDs, BurnedTransID{
		TransID: transID, Operation: op, DomainID: domainID, CustomerID: customerID, ErrorCode: ae.code,
		Time: now, RequestID: reqID, AfterRetention: tc.forgotten,
	})
	s.transIDs[domainID+"\x00"+transID] = now
	s.dirty = true
}

// masterRecordLocked writes the master's income/expense record of a
// transfer or reclaim as Behaviour.TransferRecords says: with trade_id =
// trans_id, with a trade_id of BSS's own, or not at all.
func (s *Sim) masterRecordLocked(now time.Time, m *Master, balanceType, trade, dir, transID string, amount, after money.Amount) {
	tradeID := transID
	switch s.behaviour.TransferRecords {
	case RecordsNone:
		return
	case RecordsOwnID:
		tradeID = s.nextDigitsLocked("BE", 18, func(string) bool { return false })
	}
	s.addChangeLocked(now, m.DomainID, m.Name, balanceType, trade, dir, tradeID, amount, after, "")
}

// reclaimableCashLocked is the cash of sa that the master may reclaim
// (avail_retrieve_amount): its reclaimable cash, plus its own top-ups when
// Behaviour.Reclaimable is ReclaimableTotal.
func (s *Sim) reclaimableCashLocked(sa *SubAccount) money.Amount {
	if s.behaviour.Reclaimable == ReclaimableTotal {
		return sa.cash()
	}
	return sa.ReclaimableCash
}

// ownSubLocked returns the sub-account id of master m, or CBC.99000047.
func (s *Sim) ownSubLocked(m *Master, id string) (*SubAccount, error) {
	sa := s.subLocked(id)
	if sa == nil || sa.DomainID != m.DomainID {
		return nil, bizErr(CodeNoSuchCustomer, "The sub-customer account %s does not exist.", id)
	}
	return sa, nil
}

// selectLedger finds the credit ledger with the given expiry and checks
// that it has not expired.
func selectLedger(ls []CreditLedger, expire *time.Time, now time.Time, owner string) (int, error) {
	i := findLedger(ls, expire)
	if i < 0 {
		if expire == nil {
			return -1, paramErr("expire_time is required: %s has no permanent credit ledger", owner)
		}
		return -1, paramErr("expire_time %s does not match any credit ledger of %s", fmtTime(*expire), owner)
	}
	if e := ls[i].ExpireTime; e != nil && !now.Before(*e) {
		return -1, bizErr(CodeCreditExpired, "The credit ledger that expired at %s can no longer be transferred or reclaimed.", fmtTime(*e))
	}
	return i, nil
}

func insufficient(what string, have money.Amount) error {
	return bizErr(CodeInsufficientBalance, "Insufficient balance: %s is %s.", what, have)
}

// transferAmountLocked moves cash or credit from master m to a sub-account.
func (s *Sim) transferAmountLocked(now time.Time, m *Master, op amountOp, reqID string) (err error) {
	tc, err := s.checkTransIDLocked(now, m.DomainID, &op.transID)
	if err != nil {
		return err
	}
	defer func() { s.refusedLocked(now, tc, OpTransferAmount, m.DomainID, op.customerID, op.transID, reqID, err) }()
	sa, err := s.ownSubLocked(m, op.customerID)
	if err != nil {
		return err
	}
	if sa.Status != SubStatusNormal {
		return checkErr(CheckSubStatus)
	}
	if !op.credit {
		if m.Cash.Cmp(op.amount) < 0 {
			return insufficient("the master's transferable cash", m.Cash)
		}
		m.Cash = m.Cash.Sub(op.amount)
		sa.ReclaimableCash = sa.ReclaimableCash.Add(op.amount)
		s.masterRecordLocked(now, m, BalanceTypeDebit, TradeTransferIn, Expense, op.transID, op.amount, m.Cash)
		s.addChangeLocked(now, sa.ID, sa.Name, BalanceTypeDebit, TradeTransferIn, Revenue, op.transID, op.amount, sa.cash(), "")
	} else {
		i, err := selectLedger(m.CreditLedgers, op.expire, now, "the master")
		if err != nil {
			return err
		}
		ml := &m.CreditLedgers[i]
		if ml.Balance.Cmp(op.amount) < 0 {
			return insufficient("the master's credit ledger balance", ml.Balance)
		}
		ml.Balance = ml.Balance.Sub(op.amount)
		ml.Line = money.Max(ml.Line.Sub(op.amount), 0)
		j := findLedger(sa.CreditLedgers, op.expire)
		if j < 0 {
			sa.CreditLedgers = append(sa.CreditLedgers, CreditLedger{ExpireTime: clonePtr(op.expire)})
			j = len(sa.CreditLedgers) - 1
		}
		sl := &sa.CreditLedgers[j]
		sl.Balance = sl.Balance.Add(op.amount)
		sl.Line = sl.Line.Add(op.amount)
		s.masterRecordLocked(now, m, BalanceTypeCredit, TradeTransferIn, Expense, op.transID, op.amount, sumLedgers(m.CreditLedgers))
		s.addChangeLocked(now, sa.ID, sa.Name, BalanceTypeCredit, TradeTransferIn, Revenue, op.transID, op.amount, sumLedgers(sa.CreditLedgers), "")
	}
	s.recordLocked(LedgerEntry{
		TransID: op.transID, Operation: OpTransferAmount, DomainID: m.DomainID, CustomerID: sa.ID, Amount: op.amount,
		BalanceType: op.balanceType(), ExpireTime: clonePtr(op.expire), Time: now, RequestID: reqID, AfterRetention: tc.forgotten,
	})
	return nil
}

// retrieveAmountLocked moves reclaimable cash or credit back to master m.
// A cash reclaim takes the sub-account's reclaimable cash first and, when
// Behaviour.Reclaimable is ReclaimableTotal, its own top-ups after it.
func (s *Sim) retrieveAmountLocked(now time.Time, m *Master, op amountOp, reqID string) (err error) {
	tc, err := s.checkTransIDLocked(now, m.DomainID, &op.transID)
	if err != nil {
		return err
	}
	defer func() { s.refusedLocked(now, tc, OpRetrieveAmount, m.DomainID, op.customerID, op.transID, reqID, err) }()
	sa, err := s.ownSubLocked(m, op.customerID)
	if err != nil {
		return err
	}
	if sa.FinancialCustody == 1 {
		return checkErr(CheckNoRetrieveFromCustody)
	}
	var selfFunded money.Amount
	if !op.credit {
		if avail := s.reclaimableCashLocked(sa); avail.Cmp(op.amount) < 0 {
			return insufficient("the sub-account's reclaimable cash", avail)
		}
		fromFunded := money.Min(op.amount, sa.ReclaimableCash)
		selfFunded = op.amount.Sub(fromFunded)
		sa.ReclaimableCash = sa.ReclaimableCash.Sub(fromFunded)
		sa.SelfFundedCash = sa.SelfFundedCash.Sub(selfFunded)
		m.Cash = m.Cash.Add(op.amount)
		s.addChangeLocked(now, sa.ID, sa.Name, BalanceTypeDebit, TradeRetrieve, Expense, op.transID, op.amount, sa.cash(), "")
		s.masterRecordLocked(now, m, BalanceTypeDebit, TradeRetrieve, Revenue, op.transID, op.amount, m.Cash)
	} else {
		j, err := selectLedger(sa.CreditLedgers, op.expire, now, "the sub-account")
		if err != nil {
			return err
		}
		sl := &sa.CreditLedgers[j]
		if sl.Balance.Cmp(op.amount) < 0 {
			return insufficient("the sub-account's credit ledger balance", sl.Balance)
		}
		sl.Balance = sl.Balance.Sub(op.amount)
		sl.Line = money.Max(sl.Line.Sub(op.amount), 0)
		if sl.Balance.IsZero() && sl.Line.IsZero() {
			sa.CreditLedgers = append(sa.CreditLedgers[:j], sa.CreditLedgers[j+1:]...)
		}
		i := findLedger(m.CreditLedgers, op.expire)
		if i < 0 {
			m.CreditLedgers = append(m.CreditLedgers, CreditLedger{ExpireTime: clonePtr(op.expire)})
			i = len(m.CreditLedgers) - 1
		}
		ml := &m.CreditLedgers[i]
		ml.Balance = ml.Balance.Add(op.amount)
		ml.Line = ml.Line.Add(op.amount)
		s.addChangeLocked(now, sa.ID, sa.Name, BalanceTypeCredit, TradeRetrieve, Expense, op.transID, op.amount, sumLedgers(sa.CreditLedgers), "")
		s.masterRecordLocked(now, m, BalanceTypeCredit, TradeRetrieve, Revenue, op.transID, op.amount, sumLedgers(m.CreditLedgers))
	}
	s.recordLocked(LedgerEntry{
		TransID: op.transID, Operation: OpRetrieveAmount, DomainID: m.DomainID, CustomerID: sa.ID, Amount: op.amount,
		BalanceType: op.balanceType(), ExpireTime: clonePtr(op.expire), Time: now, RequestID: reqID,
		SelfFunded: selfFunded, AfterRetention: tc.forgotten,
	})
	return nil
}

// couponOp is a validated coupon transfer or reclaim request.
type couponOp struct {
	customerID  string
	couponID    string
	subCouponID string
	amount      money.Amount
	transID     string
}

func (s *Sim) idTakenLocked(id string) bool {
	if s.couponLocked(id) != nil {
		return true
	}
	for _, sc := range s.st.SubCoupons {
		if sc.ID == id {
			return true
		}
	}
	return false
}

// transferCouponLocked carves a new sub-coupon out of a master coupon.
func (s *Sim) transferCouponLocked(now time.Time, m *Master, op couponOp, reqID string) (_ string, err error) {
	tc, err := s.checkTransIDLocked(now, m.DomainID, &op.transID)
	if err != nil {
		return "", err
	}
	defer func() { s.refusedLocked(now, tc, OpTransferCoupon, m.DomainID, op.customerID, op.transID, reqID, err) }()
	sa, err := s.ownSubLocked(m, op.customerID)
	if err != nil {
		return "", err
	}
	if sa.Status != SubStatusNormal {
		return "", checkErr(CheckSubStatus)
	}
	c := s.couponLocked(op.couponID)
	if c == nil || c.DomainID != m.DomainID {
		return "", checkErr(CheckCouponNotMaster)
	}
	if now.Before(c.EffectiveTime) || !now.Before(c.ExpireTime) {
		return "", checkErr(CheckCouponStatus)
	}
	if c.Balance.Cmp(op.amount) < 0 {
		return "", insufficient("the coupon balance", c.Balance)
	}
	id := s.nextDigitsLocked("SCP", 13, s.idTakenLocked)
	c.Balance = c.Balance.Sub(op.amount)
	s.st.SubCoupons = append(s.st.SubCoupons, SubCoupon{ID: id, ParentCouponID: c.ID, CustomerID: sa.ID, Balance: op.amount})
	s.recordLocked(LedgerEntry{
		TransID: op.transID, Operation: OpTransferCoupon, DomainID: m.DomainID, CustomerID: sa.ID, Amount: op.amount,
		CouponID: c.ID, SubCouponID: id, Time: now, RequestID: reqID, AfterRetention: tc.forgotten,
	})
	return id, nil
}

// retrieveCouponLocked returns a sub-coupon's whole balance to its parent
// coupon and deletes the sub-coupon.
func (s *Sim) retrieveCouponLocked(now time.Time, m *Master, op couponOp, reqID string) (_ money.Amount, err error) {
	tc, err := s.checkTransIDLocked(now, m.DomainID, &op.transID)
	if err != nil {
		return 0, err
	}
	defer func() { s.refusedLocked(now, tc, OpRetrieveCoupon, m.DomainID, op.customerID, op.transID, reqID, err) }()
	sa, err := s.ownSubLocked(m, op.customerID)
	if err != nil {
		return 0, err
	}
	idx := -1
	for i, sc := range s.st.SubCoupons {
		if sc.ID == op.subCouponID {
			idx = i
			break
		}
	}
	if idx < 0 || s.st.SubCoupons[idx].CustomerID != sa.ID {
		return 0, checkErr(CheckSubCouponNotSub)
	}
	sc := s.st.SubCoupons[idx]
	parent := s.couponLocked(sc.ParentCouponID)
	if sc.ParentCouponID != op.couponID || parent == nil || parent.DomainID != m.DomainID {
		return 0, checkErr(CheckSourceCoupon)
	}
	parent.Balance = parent.Balance.Add(sc.Balance)
	s.st.SubCoupons = append(s.st.SubCoupons[:idx], s.st.SubCoupons[idx+1:]...)
	s.recordLocked(LedgerEntry{
		TransID: op.transID, Operation: OpRetrieveCoupon, DomainID: m.DomainID, CustomerID: sa.ID, Amount: sc.Balance,
		CouponID: parent.ID, SubCouponID: sc.ID, Time: now, RequestID: reqID, AfterRetention: tc.forgotten,
	})
	return sc.Balance, nil
}

package bsssim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

const currencyCNY = "CNY"

func (c *reqCtx) requireMaster() error {
	if c.caller.subID != "" {
		return forbiddenErr("Access denied: only the enterprise master account may call this API.")
	}
	return nil
}

// --- ListEnterpriseSubCustomers ---

type subCustomerInfo struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Status      int    `json:"status"`
	OrgID       string `json:"org_id"`
	OrgName     string `json:"org_name"`
}

func (s *Sim) listSubCustomers(c *reqCtx) (any, error) {
	if err := c.requireMaster(); err != nil {
		return nil, err
	}
	p := c.params()
	account, hasAccount, err := p.str("sub_customer_account_name", 64)
	if err != nil {
		return nil, err
	}
	display, hasDisplay, err := p.str("sub_customer_display_name", 64)
	if err != nil {
		return nil, err
	}
	fuzzy, err := p.num("fuzzy_query", 0, 0, 1)
	if err != nil {
		return nil, err
	}
	orgID, hasOrg, err := p.str("org_id", 20)
	if err != nil {
		return nil, err
	}
	offset, limit, err := p.page(100)
	if err != nil {
		return nil, err
	}
	matches := func(v, filter string) bool {
		if fuzzy == 1 {
			return strings.Contains(v, filter)
		}
		return v == filter
	}
	s.lock()
	defer s.unlock()
	infos := []subCustomerInfo{}
	for _, sa := range s.subsOfLocked(c.caller.domainID) {
		if (hasAccount && !matches(sa.Name, account)) || (hasDisplay && !matches(sa.DisplayName, display)) || (hasOrg && sa.OrgID != orgID) {
			continue
		}
		info := subCustomerInfo{ID: sa.ID, Name: sa.Name, DisplayName: sa.DisplayName, Status: sa.Status, OrgID: sa.OrgID}
		if o := s.orgLocked(sa.DomainID, sa.OrgID); o != nil {
			info.OrgName = o.Name
		}
		infos = append(infos, info)
	}
	lo, hi := pageBounds(len(infos), offset, limit)
	return map[string]any{"total_count": len(infos), "sub_customer_infos": infos[lo:hi]}, nil
}

// --- ListEnterpriseOrganizations ---

type orgNode struct {
	RelationID string    `json:"relation_id"`
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	ChildNodes []orgNode `json:"child_nodes,omitempty"`
}

var digitsRE = regexp.MustCompile(`^[0-9]+$`)

func (s *Sim) listOrganizations(c *reqCtx) (any, error) {
	if err := c.requireMaster(); err != nil {
		return nil, err
	}
	p := c.params()
	recursive, err := p.num("recursive_query", 0, 0, 1)
	if err != nil {
		return nil, err
	}
	parent, hasParent, err := p.str("parent_id", 64)
	if err != nil {
		return nil, err
	}
	if hasParent && parent != "" && !digitsRE.MatchString(parent) {
		return nil, paramErr("parent_id must contain digits only")
	}
	s.lock()
	defer s.unlock()
	m := s.masterLocked(c.caller.domainID)
	var children func(id string, depth int) []orgNode
	children = func(id string, depth int) []orgNode {
		nodes := []orgNode{}
		for _, o := range s.st.Orgs {
			if o.DomainID != m.DomainID {
				continue
			}
			if o.ParentID == id || (id == m.RootOrgID && o.ParentID == "") {
				n := orgNode{RelationID: o.RelationID, ID: o.ID, Name: o.Name}
				if recursive == 1 && depth < 64 {
					n.ChildNodes = children(o.ID, depth+1)
				}
				nodes = append(nodes, n)
			}
		}
		return nodes
	}
	if hasParent && parent != "" {
		return map[string]any{"child_nodes": children(parent, 0)}, nil
	}
	return map[string]any{"root_id": m.RootOrgID, "root_name": m.RootOrgName, "child_nodes": children(m.RootOrgID, 0)}, nil
}

// --- CreateSubEnterpriseAccount ---

var (
	customerNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)
	phoneRE        = regexp.MustCompile(`^\+?[0-9][0-9-]{4,31}$`)
	permissionIDs  = []string{"READ_FINANCE_INFO", "READ_CONSUME_BILL", "SUBSTITUTE-OPEN-INVOICE", "TAKE-OVER-OPEN-INVOICE", "SHARE-CREDIT-TO-SUB", "SHARE-BIZ-DISCOUNT-TO-SUB"}
	custodyPerms   = []string{"READ_FINANCE_INFO", "READ_CONSUME_BILL", "SHARE-BIZ-DISCOUNT-TO-SUB"}
)

type newCustomerBody struct {
	CustomerName      *string `json:"customer_name"`
	MobilePhone       *string `json:"mobile_phone"`
	UsePriMobilePhone *string `json:"use_pri_mobile_phone"`
	Password          *string `json:"password"`
	VerificationCode  *string `json:"verification_code"`
}

type createSubBody struct {
	PartyID          *string          `json:"party_id"`
	DisplayName      *string          `json:"display_name"`
	AssociationType  *int             `json:"sub_customer_association_type"`
	PermissionIDs    []string         `json:"permission_ids"`
	NewSubCustomer   *newCustomerBody `json:"new_sub_customer"`
	FinancialCustody *int             `json:"financial_custody"`
}

func (s *Sim) createSubCustomer(c *reqCtx) (any, error) {
	if err := c.requireMaster(); err != nil {
		return nil, err
	}
	var b createSubBody
	if err := c.decodeBody(&b); err != nil {
		return nil, err
	}
	partyID, err := reqString("party_id", b.PartyID, 20)
	if err != nil {
		return nil, err
	}
	display, err := optString("display_name", b.DisplayName, 64)
	if err != nil {
		return nil, err
	}
	if b.AssociationType == nil {
		return nil, paramErr("sub_customer_association_type is required")
	}
	if *b.AssociationType != 1 {
		return nil, paramErr("sub_customer_association_type must be 1")
	}
	custody := 0
	if b.FinancialCustody != nil {
		if *b.FinancialCustody != 0 && *b.FinancialCustody != 1 {
			return nil, paramErr("financial_custody must be 0 or 1")
		}
		custody = *b.FinancialCustody
	}
	perms := slices.Clone(b.PermissionIDs)
	for _, p := range perms {
		if !slices.Contains(permissionIDs, p) {
			return nil, paramErr("permission_ids contains an unknown permission %q", p)
		}
	}
	if custody == 1 {
		perms = slices.Clone(custodyPerms)
	}
	nc := b.NewSubCustomer
	if nc == nil {
		return nil, paramErr("new_sub_customer is required")
	}
	name, err := reqString("new_sub_customer.customer_name", nc.CustomerName, 64)
	if err != nil {
		return nil, err
	}
	password, err := reqString("new_sub_customer.password", nc.Password, 64)
	if err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(password) < 8 {
		return nil, paramErr("new_sub_customer.password must be at least 8 characters")
	}
	usePri := "N"
	if nc.UsePriMobilePhone != nil {
		usePri = *nc.UsePriMobilePhone
	}
	if usePri != "Y" && usePri != "N" {
		return nil, paramErr("new_sub_customer.use_pri_mobile_phone must be Y or N")
	}
	var phone, code string
	if usePri == "N" {
		if phone, err = reqString("new_sub_customer.mobile_phone", nc.MobilePhone, 32); err != nil {
			return nil, err
		}
		if !phoneRE.MatchString(phone) {
			return nil, paramErr("new_sub_customer.mobile_phone %q is not a valid mobile number", phone)
		}
		if nc.VerificationCode == nil || *nc.VerificationCode == "" {
			return nil, paramErr("new_sub_customer.verification_code is required when mobile_phone is given")
		}
		code = *nc.VerificationCode
	}
	if !customerNameRE.MatchString(name) {
		return nil, bizErr(CodeInvalidDomainName, "Invalid DomainName %q: use 1 to 64 letters, digits, '-', '_' or '.', starting with a letter.", name)
	}
	now := s.lock()
	defer s.unlock()
	m := s.masterLocked(c.caller.domainID)
	if partyID != m.RootOrgID && s.orgLocked(m.DomainID, partyID) == nil {
		return nil, paramErr("party_id %s does not exist", partyID)
	}
	for _, mm := range s.st.Masters {
		if mm.Name == name {
			return nil, bizErr(CodeInvalidDomainName, "Invalid DomainName: the account name %q already exists.", name)
		}
	}
	for _, sa := range s.st.SubAccounts {
		if sa.Name == name {
			return nil, bizErr(CodeInvalidDomainName, "Invalid DomainName: the account name %q already exists.", name)
		}
		if phone != "" && sa.MobilePhone == phone {
			return nil, bizErr(CodeMobileExists, "The mobile number already exists.")
		}
	}
	if m.MaxSubAccounts > 0 && len(s.subsOfLocked(m.DomainID)) >= m.MaxSubAccounts {
		return nil, checkErr(CheckMaxSubCustomers)
	}
	var sms *SMSCode
	if phone != "" {
		for i := len(s.st.SMSCodes) - 1; i >= 0; i-- {
			if sc := &s.st.SMSCodes[i]; sc.DomainID == m.DomainID && sc.MobilePhone == phone {
				sms = sc
				break
			}
		}
		if sms == nil || sms.Code != code {
			return nil, bizErr(CodeVerificationWrong, "The verification code is incorrect.")
		}
		if sms.Used || !now.Before(sms.ExpiresAt) {
			return nil, bizErr(CodeVerificationExpired, "The verification code has expired. Get a new one.")
		}
		sms.Used = true
	}
	id := s.nextHexLocked("sub")
	for s.subLocked(id) != nil {
		id = s.nextHexLocked("sub")
	}
	sa := SubAccount{
		ID: id, DomainID: m.DomainID, Name: name, DisplayName: display, OrgID: partyID, Status: SubStatusCreating,
		MobilePhone: phone, PermissionIDs: perms, FinancialCustody: custody, ServiceTypeCode: DefaultServiceTypeCode, CreatedAt: now,
	}
	if s.opts.CreationDelay < 0 {
		sa.Status = SubStatusNormal
	} else {
		ready := now.Add(s.opts.CreationDelay)
		sa.ReadyAt = &ready
	}
	s.st.SubAccounts = append(s.st.SubAccounts, sa)
	s.dirty = true
	s.log.Info("sub-account created", "customer_id", id, "name", name, "domain_id", m.DomainID)
	return nil, nil
}

// --- SendSmsVerificationCode ---

// maxSMSPerHour is the simulator's frequency limit per mobile number
// (CBC.99000082).
const maxSMSPerHour = 10

type templateArg struct {
	Key   *string `json:"key"`
	Value *string `json:"value"`
}

type smsBody struct {
	MobilePhone    *string         `json:"mobile_phone"`
	Timeout        json.RawMessage `json:"timeout"`
	Language       *string         `json:"language"`
	SmTemplateArgs *[]templateArg  `json:"sm_template_args"`
}

func (s *Sim) sendSMSCode(c *reqCtx) (any, error) {
	if c.caller.subID != "" {
		return nil, bizErr(CodeSMSNotMaster, "Only an enterprise master account can send verification codes.")
	}
	var b smsBody
	if err := c.decodeBody(&b); err != nil {
		return nil, err
	}
	phone, err := reqString("mobile_phone", b.MobilePhone, 32)
	if err != nil {
		return nil, err
	}
	if !phoneRE.MatchString(phone) {
		return nil, paramErr("mobile_phone %q is not a valid mobile number", phone)
	}
	timeout := 10
	if t := strings.TrimSpace(string(b.Timeout)); t != "" && t != "null" {
		if err := json.Unmarshal(b.Timeout, &timeout); err != nil {
			return nil, paramErr("timeout must be an integer between 1 and 100")
		}
		if timeout < 1 || timeout > 100 {
			return nil, paramErr("timeout must be between 1 and 100")
		}
		if timeout > 60 {
			timeout = 5
		}
	}
	if b.Language != nil && *b.Language != "zh-cn" && *b.Language != "en-us" {
		return nil, paramErr("language must be zh-cn or en-us")
	}
	if b.SmTemplateArgs == nil || len(*b.SmTemplateArgs) == 0 {
		return nil, paramErr("sm_template_args is required")
	}
	args := *b.SmTemplateArgs
	if len(args) > 6 {
		return nil, paramErr("sm_template_args must have at most 6 entries")
	}
	var subName string
	for _, a := range args {
		if a.Key == nil || *a.Key != "sub_customer_name" {
			return nil, paramErr("sm_template_args.key must be sub_customer_name")
		}
		v, err := reqString("sm_template_args.value", a.Value, 255)
		if err != nil {
			return nil, err
		}
		subName = v
	}
	now := s.lock()
	defer s.unlock()
	sent := 0
	for _, sc := range s.st.SMSCodes {
		if sc.MobilePhone == phone && now.Sub(sc.SentAt) < time.Hour {
			sent++
		}
	}
	if sent >= maxSMSPerHour {
		return nil, bizErr(CodeSMSTooFrequent, "Too many verification codes were sent to this number. Try again later.")
	}
	h := s.idHashLocked("sms")
	code := fmt.Sprintf("%06d", (uint32(h[0])<<16|uint32(h[1])<<8|uint32(h[2]))%1000000)
	s.st.SMSCodes = append(s.st.SMSCodes, SMSCode{
		DomainID: c.caller.domainID, MobilePhone: phone, Code: code, SubCustomerName: subName,
		SentAt: now, ExpiresAt: now.Add(time.Duration(timeout) * time.Minute),
	})
	s.dirty = true
	return nil, nil
}

// --- ShowMultiAccountTransferAmount / ListEnterpriseMultiAccount ---

type transferAmountInfo struct {
	AvailTransferAmount num    `json:"avail_transfer_amount"`
	MeasureID           int    `json:"measure_id"`
	Currency            string `json:"currency"`
	Amount              *num   `json:"amount,omitempty"`
	CreditAmount        *num   `json:"credit_amount,omitempty"`
	ExpireTime          string `json:"expire_time,omitempty"`
}

type retrieveAmountInfo struct {
	AvailRetrieveAmount num    `json:"avail_retrieve_amount"`
	MeasureID           int    `json:"measure_id"`
	Currency            string `json:"currency"`
	Amount              *num   `json:"amount,omitempty"`
	CreditAmount        *num   `json:"credit_amount,omitempty"`
	ExpireTime          string `json:"expire_time,omitempty"`
}

// ledgerRow is one credit ledger as the amount queries show it.
type ledgerRow struct {
	avail   num
	balance *num
	line    *num
	expire  string
}

// ledgerRows lists credit ledgers in listing order (soonest expiry first,
// the permanent ledger last); an expired ledger has nothing available.
func ledgerRows(ls []CreditLedger, now time.Time) []ledgerRow {
	var rows []ledgerRow
	for _, i := range sortedLedgers(ls) {
		l := ls[i]
		r := ledgerRow{avail: num(l.Balance), balance: new(num(l.Balance)), line: new(num(l.Line))}
		if l.ExpireTime != nil {
			r.expire = fmtTime(*l.ExpireTime)
			if !now.Before(*l.ExpireTime) {
				r.avail = 0
			}
		}
		rows = append(rows, r)
	}
	return rows
}

func (s *Sim) showTransferAmount(c *reqCtx) (any, error) {
	if err := c.requireMaster(); err != nil {
		return nil, err
	}
	p := c.params()
	bt, err := p.balanceType()
	if err != nil {
		return nil, err
	}
	offset, limit, err := p.page(100)
	if err != nil {
		return nil, err
	}
	now := s.lock()
	defer s.unlock()
	m := s.masterLocked(c.caller.domainID)
	if bt == BalanceTypeDebit {
		return map[string]any{"total_count": 1, "amount_infos": []transferAmountInfo{{AvailTransferAmount: num(m.Cash), MeasureID: 1, Currency: currencyCNY}}}, nil
	}
	rows := ledgerRows(m.CreditLedgers, now)
	infos := []transferAmountInfo{}
	lo, hi := pageBounds(len(rows), offset, limit)
	for _, r := range rows[lo:hi] {
		infos = append(infos, transferAmountInfo{AvailTransferAmount: r.avail, MeasureID: 1, Currency: currencyCNY, Amount: r.balance, CreditAmount: r.line, ExpireTime: r.expire})
	}
	return map[string]any{"total_count": len(rows), "amount_infos": infos}, nil
}

func (s *Sim) showRetrieveAmount(c *reqCtx) (any, error) {
	if err := c.requireMaster(); err != nil {
		return nil, err
	}
	p := c.params()
	subID, err := p.required("sub_customer_id", 64)
	if err != nil {
		return nil, err
	}
	bt, err := p.balanceType()
	if err != nil {
		return nil, err
	}
	offset, limit, err := p.page(100)
	if err != nil {
		return nil, err
	}
	now := s.lock()
	defer s.unlock()
	sa, err := s.ownSubLocked(s.masterLocked(c.caller.domainID), subID)
	if err != nil {
		return nil, err
	}
	if bt == BalanceTypeDebit {
		return map[string]any{"total_count": 1, "amount_infos": []retrieveAmountInfo{{AvailRetrieveAmount: num(s.reclaimableCashLocked(sa)), MeasureID: 1, Currency: currencyCNY}}}, nil
	}
	rows := ledgerRows(sa.CreditLedgers, now)
	infos := []retrieveAmountInfo{}
	lo, hi := pageBounds(len(rows), offset, limit)
	for _, r := range rows[lo:hi] {
		infos = append(infos, retrieveAmountInfo{AvailRetrieveAmount: r.avail, MeasureID: 1, Currency: currencyCNY, Amount: r.balance, CreditAmount: r.line, ExpireTime: r.expire})
	}
	return map[string]any{"total_count": len(rows), "amount_infos": infos}, nil
}

// --- UpdateSubEnterpriseAmount / ReclaimSubEnterpriseAmount ---

type amountBody struct {
	CustomerID  *string         `json:"customer_id"`
	Amount      json.RawMessage `json:"amount"`
	TransID     *string         `json:"trans_id"`
	BalanceType *string         `json:"balance_type"`
	ExpireTime  *string         `json:"expire_time"`
}

func (c *reqCtx) amountOp() (amountOp, error) {
	var b amountBody
	if err := c.decodeBody(&b); err != nil {
		return amountOp{}, err
	}
	var op amountOp
	var err error
	if op.customerID, err = reqString("customer_id", b.CustomerID, 64); err != nil {
		return op, err
	}
	if op.amount, err = parseAmount("amount", b.Amount); err != nil {
		return op, err
	}
	if op.transID, err = parseTransID(b.TransID); err != nil {
		return op, err
	}
	if b.BalanceType != nil {
		switch *b.BalanceType {
		case BalanceTypeDebit:
		case BalanceTypeCredit:
			op.credit = true
		case "":
			return op, paramErr("balance_type must not be empty: omit it for BALANCE_TYPE_DEBIT")
		default:
			return op, paramErr("balance_type must be BALANCE_TYPE_DEBIT or BALANCE_TYPE_CREDIT")
		}
	}
	if b.ExpireTime != nil && *b.ExpireTime != "" {
		if len(*b.ExpireTime) > 20 {
			return op, paramErr("expire_time must be at most 20 characters")
		}
		t, perr := time.Parse(utcLayout, *b.ExpireTime)
		if perr != nil {
			return op, paramErr("expire_time must be a UTC time like 2016-03-28T14:45:38Z")
		}
		if !op.credit {
			return op, paramErr("expire_time is only allowed with balance_type BALANCE_TYPE_CREDIT")
		}
		op.expire = &t
	}
	return op, nil
}

func (s *Sim) transferAmount(c *reqCtx) (any, error) {
	return s.amountWrite(c, s.transferAmountLocked)
}

func (s *Sim) retrieveAmount(c *reqCtx) (any, error) {
	return s.amountWrite(c, s.retrieveAmountLocked)
}

func (s *Sim) amountWrite(c *reqCtx, apply func(time.Time, *Master, amountOp, string) error) (any, error) {
	if err := c.requireMaster(); err != nil {
		return nil, err
	}
	op, err := c.amountOp()
	if err != nil {
		return nil, err
	}
	release, err := c.beginWrite()
	if err != nil {
		return nil, err
	}
	defer release()
	now := s.lock()
	err = apply(now, s.masterLocked(c.caller.domainID), op, c.reqID)
	s.unlock()
	if err != nil {
		return nil, err
	}
	c.committed = true
	return nil, nil
}

// --- Coupons ---

type couponItem struct {
	CouponID      string `json:"coupon_id"`
	PlanName      string `json:"plan_name"`
	SubCouponID   string `json:"sub_coupon_id,omitempty"`
	Balance       string `json:"balance"`
	EffectiveTime string `json:"effective_time"`
	ExpireTime    string `json:"expire_time"`
	UseLimits     []any  `json:"use_limits"`
}

func (s *Sim) listTransferCoupons(c *reqCtx) (any, error) {
	if err := c.requireMaster(); err != nil {
		return nil, err
	}
	offset, limit, err := c.params().page(100)
	if err != nil {
		return nil, err
	}
	now := s.lock()
	defer s.unlock()
	items := []couponItem{}
	for _, cp := range s.st.Coupons {
		if cp.DomainID != c.caller.domainID || !cp.Balance.IsPositive() || now.Before(cp.EffectiveTime) || !now.Before(cp.ExpireTime) {
			continue
		}
		items = append(items, couponItem{CouponID: cp.ID, PlanName: cp.PlanName, Balance: cp.Balance.String(),
			EffectiveTime: fmtTime(cp.EffectiveTime), ExpireTime: fmtTime(cp.ExpireTime), UseLimits: toUseLimits(cp.UseLimits)})
	}
	lo, hi := pageBounds(len(items), offset, limit)
	return map[string]any{"total_count": len(items), "avail_transfer_coupons": items[lo:hi]}, nil
}

func (s *Sim) listRetrieveCoupons(c *reqCtx) (any, error) {
	if err := c.requireMaster(); err != nil {
		return nil, err
	}
	p := c.params()
	subID, err := p.required("sub_customer_id", 64)
	if err != nil {
		return nil, err
	}
	offset, limit, err := p.page(100)
	if err != nil {
		return nil, err
	}
	s.lock()
	defer s.unlock()
	sa, err := s.ownSubLocked(s.masterLocked(c.caller.domainID), subID)
	if err != nil {
		return nil, err
	}
	items := []couponItem{}
	for _, sc := range s.st.SubCoupons {
		if sc.CustomerID != sa.ID {
			continue
		}
		it := couponItem{CouponID: sc.ParentCouponID, SubCouponID: sc.ID, Balance: sc.Balance.String(), UseLimits: []any{}}
		if p := s.couponLocked(sc.ParentCouponID); p != nil {
			it.PlanName, it.EffectiveTime, it.ExpireTime = p.PlanName, fmtTime(p.EffectiveTime), fmtTime(p.ExpireTime)
			it.UseLimits = toUseLimits(p.UseLimits)
		}
		items = append(items, it)
	}
	lo, hi := pageBounds(len(items), offset, limit)
	return map[string]any{"total_count": len(items), "avail_retrieve_coupons": items[lo:hi]}, nil
}

type couponBody struct {
	CustomerID  *string         `json:"customer_id"`
	CouponID    *string         `json:"coupon_id"`
	SubCouponID *string         `json:"sub_coupon_id"`
	Amount      json.RawMessage `json:"amount"`
	TransID     *string         `json:"trans_id"`
}

func (c *reqCtx) couponOp(withAmount bool) (couponOp, error) {
	var b couponBody
	if err := c.decodeBody(&b); err != nil {
		return couponOp{}, err
	}
	var op couponOp
	var err error
	if op.customerID, err = reqString("customer_id", b.CustomerID, 64); err != nil {
		return op, err
	}
	if op.couponID, err = reqString("coupon_id", b.CouponID, 64); err != nil {
		return op, err
	}
	if withAmount {
		if op.amount, err = parseAmount("amount", b.Amount); err != nil {
			return op, err
		}
	} else if op.subCouponID, err = reqString("sub_coupon_id", b.SubCouponID, 64); err != nil {
		return op, err
	}
	if op.transID, err = parseTransID(b.TransID); err != nil {
		return op, err
	}
	return op, nil
}

func (s *Sim) transferCoupon(c *reqCtx) (any, error) {
	if err := c.requireMaster(); err != nil {
		return nil, err
	}
	op, err := c.couponOp(true)
	if err != nil {
		return nil, err
	}
	release, err := c.beginWrite()
	if err != nil {
		return nil, err
	}
	defer release()
	now := s.lock()
	id, err := s.transferCouponLocked(now, s.masterLocked(c.caller.domainID), op, c.reqID)
	s.unlock()
	if err != nil {
		return nil, err
	}
	c.committed = true
	return map[string]string{"sub_coupon_id": id}, nil
}

func (s *Sim) retrieveCoupon(c *reqCtx) (any, error) {
	if err := c.requireMaster(); err != nil {
		return nil, err
	}
	op, err := c.couponOp(false)
	if err != nil {
		return nil, err
	}
	release, err := c.beginWrite()
	if err != nil {
		return nil, err
	}
	defer release()
	now := s.lock()
	var amt money.Amount
	amt, err = s.retrieveCouponLocked(now, s.masterLocked(c.caller.domainID), op, c.reqID)
	s.unlock()
	if err != nil {
		return nil, err
	}
	c.committed = true
	return map[string]string{"real_retrieve_amout": amt.String()}, nil
}

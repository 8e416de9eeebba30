package bsssim

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
)

func TestValidationErrors(t *testing.T) {
	e := newEnv(t, nil, Options{})
	long := strings.Repeat("1", 33)
	tests := []struct {
		name   string
		method string
		path   string
		query  url.Values
		body   any
		status int
		code   string
		// msg must appear in error_msg (the parameter name).
		msg string
	}{
		{"unknown path", "GET", "/v2/nope", nil, nil, 404, CodeAPINotFound, "does not exist"},
		{"wrong method", "PUT", ma + "transfer-amount", nil, nil, 405, CodeAPINotFound, "PUT"},
		{"transfer no body", "POST", ma + "transfer-amount", nil, nil, 400, CodeParam, "body"},
		{"transfer bad json", "POST", ma + "transfer-amount", nil, "{", 400, CodeParam, "JSON"},
		{"transfer no customer", "POST", ma + "transfer-amount", nil, map[string]any{"amount": "1.00"}, 400, CodeParam, "customer_id"},
		{"transfer customer too long", "POST", ma + "transfer-amount", nil, map[string]any{"customer_id": strings.Repeat("c", 65), "amount": "1.00"}, 400, CodeParam, "customer_id"},
		{"transfer no amount", "POST", ma + "transfer-amount", nil, map[string]any{"customer_id": "cust-team-a-0001"}, 400, CodeParam, "amount"},
		{"transfer amount number", "POST", ma + "transfer-amount", nil, map[string]any{"customer_id": "cust-team-a-0001", "amount": 1.5}, 400, CodeParam, "amount must be a string"},
		{"transfer amount zero", "POST", ma + "transfer-amount", nil, map[string]any{"customer_id": "cust-team-a-0001", "amount": "0.00"}, 400, CodeParam, "greater than 0"},
		{"transfer amount negative", "POST", ma + "transfer-amount", nil, map[string]any{"customer_id": "cust-team-a-0001", "amount": "-1.00"}, 400, CodeParam, "amount"},
		{"transfer amount 3 decimals", "POST", ma + "transfer-amount", nil, map[string]any{"customer_id": "cust-team-a-0001", "amount": "1.234"}, 400, CodeParam, "at most 2 decimals"},
		{"transfer amount not numeric", "POST", ma + "transfer-amount", nil, map[string]any{"customer_id": "cust-team-a-0001", "amount": "12a"}, 400, CodeParam, "amount"},
		{"transfer amount exponent", "POST", ma + "transfer-amount", nil, map[string]any{"customer_id": "cust-team-a-0001", "amount": "1e3"}, 400, CodeParam, "amount"},
		{"transfer amount too long", "POST", ma + "transfer-amount", nil, map[string]any{"customer_id": "cust-team-a-0001", "amount": long}, 400, CodeParam, "32 characters"},
		{"transfer trans_id too long", "POST", ma + "transfer-amount", nil, map[string]any{"customer_id": "cust-team-a-0001", "amount": "1.00", "trans_id": long}, 400, CodeParam, "trans_id"},
		{"transfer empty balance_type", "POST", ma + "transfer-amount", nil, map[string]any{"customer_id": "cust-team-a-0001", "amount": "1.00", "balance_type": ""}, 400, CodeParam, "balance_type"},
		{"transfer bad balance_type", "POST", ma + "transfer-amount", nil, map[string]any{"customer_id": "cust-team-a-0001", "amount": "1.00", "balance_type": "CASH"}, 400, CodeParam, "balance_type"},
		{"transfer expire_time with debit", "POST", ma + "transfer-amount", nil, map[string]any{"customer_id": "cust-team-a-0001", "amount": "1.00", "expire_time": "2027-03-28T14:45:38Z"}, 400, CodeParam, "expire_time"},
		{"transfer bad expire_time", "POST", ma + "transfer-amount", nil, map[string]any{"customer_id": "cust-team-a-0001", "amount": "1.00", "balance_type": BalanceTypeCredit, "expire_time": "2027-03-28 14:45:38"}, 400, CodeParam, "expire_time"},
		{"transfer unknown sub", "POST", ma + "transfer-amount", nil, map[string]any{"customer_id": "nobody", "amount": "1.00"}, 400, CodeNoSuchCustomer, "nobody"},
		{"transfer insufficient", "POST", ma + "transfer-amount", nil, map[string]any{"customer_id": "cust-team-a-0001", "amount": "100000.01"}, 400, CodeInsufficientBalance, "100000.00"},
		{"reclaim above reclaimable", "POST", ma + "retrieve-amount", nil, map[string]any{"customer_id": "cust-team-a-0001", "amount": "1000.01"}, 400, CodeInsufficientBalance, "1000.00"},
		{"reclaim unknown sub", "POST", ma + "retrieve-amount", nil, map[string]any{"customer_id": "nobody", "amount": "1.00"}, 400, CodeNoSuchCustomer, ""},
		{"show transfer no balance_type", "GET", ma + "transfer-amount", nil, nil, 400, CodeParam, "balance_type"},
		{"show transfer bad limit", "GET", ma + "transfer-amount", url.Values{"balance_type": {BalanceTypeCredit}, "limit": {"101"}}, nil, 400, CodeParam, "limit"},
		{"show transfer empty offset", "GET", ma + "transfer-amount", url.Values{"balance_type": {BalanceTypeCredit}, "offset": {""}}, nil, 400, CodeParam, "offset"},
		{"show retrieve no sub", "GET", ma + "retrieve-amount", url.Values{"balance_type": {BalanceTypeDebit}}, nil, 400, CodeParam, "sub_customer_id"},
		{"show retrieve unknown sub", "GET", ma + "retrieve-amount", url.Values{"balance_type": {BalanceTypeDebit}, "sub_customer_id": {"nobody"}}, nil, 400, CodeNoSuchCustomer, ""},
		{"list subs limit 0", "GET", ma + "sub-customers", url.Values{"limit": {"0"}}, nil, 400, CodeParam, "limit"},
		{"list subs limit 101", "GET", ma + "sub-customers", url.Values{"limit": {"101"}}, nil, 400, CodeParam, "limit"},
		{"list subs fuzzy 2", "GET", ma + "sub-customers", url.Values{"fuzzy_query": {"2"}}, nil, 400, CodeParam, "fuzzy_query"},
		{"orgs bad parent", "GET", ma + "enterprise-organizations", url.Values{"parent_id": {"abc"}}, nil, 400, CodeParam, "parent_id"},
		{"coupons limit", "GET", ma + "transfer-coupons", url.Values{"limit": {"abc"}}, nil, 400, CodeParam, "limit"},
		{"retrieve coupons no sub", "GET", ma + "retrieve-coupons", nil, nil, 400, CodeParam, "sub_customer_id"},
		{"coupon transfer unknown coupon", "POST", ma + "transfer-coupon", nil, map[string]any{"customer_id": "cust-team-a-0001", "coupon_id": "CPX", "amount": "1.00"}, 400, CodeCheckFailed, ""},
		{"coupon transfer no coupon", "POST", ma + "transfer-coupon", nil, map[string]any{"customer_id": "cust-team-a-0001", "amount": "1.00"}, 400, CodeParam, "coupon_id"},
		{"coupon transfer too much", "POST", ma + "transfer-coupon", nil, map[string]any{"customer_id": "cust-team-a-0001", "coupon_id": "CP2026110100003", "amount": "500.01"}, 400, CodeInsufficientBalance, ""},
		{"coupon reclaim no sub coupon", "POST", ma + "retrieve-coupon", nil, map[string]any{"customer_id": "cust-team-a-0001", "coupon_id": "CP2026110100001"}, 400, CodeParam, "sub_coupon_id"},
		{"coupon reclaim wrong parent", "POST", ma + "retrieve-coupon", nil, map[string]any{"customer_id": "cust-team-a-0001", "coupon_id": "CP2026110100002", "sub_coupon_id": "SCP2026110100009"}, 400, CodeCheckFailed, ""},
		{"orders bad method", "GET", "/v2/orders/customer-orders", url.Values{"method": {"all"}}, nil, 400, CodeParam, "method"},
		{"orders bad order_by", "GET", "/v2/orders/customer-orders", url.Values{"order_by": {"amount"}}, nil, 400, CodeParam, "order_by"},
		{"orders bad status", "GET", "/v2/orders/customer-orders", url.Values{"status": {"x"}}, nil, 400, CodeParam, "status"},
		{"orders span", "GET", "/v2/orders/customer-orders", url.Values{"create_time_begin": {"2024-01-01T00:00:00Z"}, "create_time_end": {"2026-01-01T00:00:00Z"}}, nil, 400, CodeParam, "one year"},
		{"order details unknown", "GET", "/v2/orders/customer-orders/details/CS404", nil, nil, 400, CodeInvalidOrder, "CS404"},
		{"monthly no cycle", "GET", "/v2/bills/customer-bills/monthly-sum", nil, nil, 400, CodeParam, "bill_cycle"},
		{"monthly bad cycle", "GET", "/v2/bills/customer-bills/monthly-sum", url.Values{"bill_cycle": {"2026-13"}}, nil, 400, CodeParam, "bill_cycle"},
		{"monthly limit", "GET", "/v2/bills/customer-bills/monthly-sum", url.Values{"bill_cycle": {"2026-11"}, "limit": {"1001"}}, nil, 400, CodeParam, "limit"},
		{"monthly method", "GET", "/v2/bills/customer-bills/monthly-sum", url.Values{"bill_cycle": {"2026-11"}, "method": {"x"}}, nil, 400, CodeParam, "method"},
		{"monthly empty project", "GET", "/v2/bills/customer-bills/monthly-sum", url.Values{"bill_cycle": {"2026-11"}, "enterprise_project_id": {""}}, nil, 400, CodeParam, "enterprise_project_id"},
		{"change records no type", "GET", "/v2/accounts/customer-accounts/account-change-records", nil, nil, 400, CodeParam, "balance_type"},
		{"change records span", "GET", "/v2/accounts/customer-accounts/account-change-records", url.Values{"balance_type": {BalanceTypeDebit}, "trade_time_begin": {"2024-01-01"}, "trade_time_end": {"2026-01-01"}}, nil, 400, CodeParam, "one year"},
		{"change records limit", "GET", "/v2/accounts/customer-accounts/account-change-records", url.Values{"balance_type": {BalanceTypeDebit}, "limit": {"101"}}, nil, 400, CodeParam, "limit"},
		{"sms no args", "POST", ma + "sm-verification-code", nil, map[string]any{"mobile_phone": "13900000001"}, 400, CodeParam, "sm_template_args"},
		{"sms too many args", "POST", ma + "sm-verification-code", nil, map[string]any{"mobile_phone": "13900000001", "sm_template_args": slices.Repeat([]map[string]string{{"key": "sub_customer_name", "value": "x"}}, 7)}, 400, CodeParam, "at most 6"},
		{"sms empty timeout", "POST", ma + "sm-verification-code", nil, map[string]any{"mobile_phone": "13900000001", "timeout": "", "sm_template_args": []map[string]string{{"key": "sub_customer_name", "value": "x"}}}, 400, CodeParam, "timeout"},
		{"sms timeout 0", "POST", ma + "sm-verification-code", nil, map[string]any{"mobile_phone": "13900000001", "timeout": 0, "sm_template_args": []map[string]string{{"key": "sub_customer_name", "value": "x"}}}, 400, CodeParam, "timeout"},
		{"sms bad key", "POST", ma + "sm-verification-code", nil, map[string]any{"mobile_phone": "13900000001", "sm_template_args": []map[string]string{{"key": "name", "value": "x"}}}, 400, CodeParam, "key"},
		{"create no party", "POST", ma + "sub-customers", nil, map[string]any{"sub_customer_association_type": 1, "new_sub_customer": map[string]any{"customer_name": "newbie", "password": "12345678", "use_pri_mobile_phone": "Y"}}, 400, CodeParam, "party_id"},
		{"create unknown party", "POST", ma + "sub-customers", nil, map[string]any{"party_id": "999", "sub_customer_association_type": 1, "new_sub_customer": map[string]any{"customer_name": "newbie", "password": "12345678", "use_pri_mobile_phone": "Y"}}, 400, CodeParam, "party_id"},
		{"create association 2", "POST", ma + "sub-customers", nil, map[string]any{"party_id": "1234567890", "sub_customer_association_type": 2, "new_sub_customer": map[string]any{"customer_name": "newbie", "password": "12345678", "use_pri_mobile_phone": "Y"}}, 400, CodeParam, "sub_customer_association_type"},
		{"create short password", "POST", ma + "sub-customers", nil, map[string]any{"party_id": "1234567890", "sub_customer_association_type": 1, "new_sub_customer": map[string]any{"customer_name": "newbie", "password": "1234567", "use_pri_mobile_phone": "Y"}}, 400, CodeParam, "password"},
		{"create no phone", "POST", ma + "sub-customers", nil, map[string]any{"party_id": "1234567890", "sub_customer_association_type": 1, "new_sub_customer": map[string]any{"customer_name": "newbie", "password": "12345678"}}, 400, CodeParam, "mobile_phone"},
		{"create no code", "POST", ma + "sub-customers", nil, map[string]any{"party_id": "1234567890", "sub_customer_association_type": 1, "new_sub_customer": map[string]any{"customer_name": "newbie", "password": "12345678", "mobile_phone": "13900000001"}}, 400, CodeParam, "verification_code"},
		{"create wrong code", "POST", ma + "sub-customers", nil, map[string]any{"party_id": "1234567890", "sub_customer_association_type": 1, "new_sub_customer": map[string]any{"customer_name": "newbie", "password": "12345678", "mobile_phone": "13900000001", "verification_code": "000000"}}, 400, CodeVerificationWrong, ""},
		{"create bad permission", "POST", ma + "sub-customers", nil, map[string]any{"party_id": "1234567890", "sub_customer_association_type": 1, "permission_ids": []string{"ALL"}, "new_sub_customer": map[string]any{"customer_name": "newbie", "password": "12345678", "use_pri_mobile_phone": "Y"}}, 400, CodeParam, "permission_ids"},
		{"create taken name", "POST", ma + "sub-customers", nil, map[string]any{"party_id": "1234567890", "sub_customer_association_type": 1, "new_sub_customer": map[string]any{"customer_name": "team-a", "password": "12345678", "use_pri_mobile_phone": "Y"}}, 400, CodeInvalidDomainName, "team-a"},
		{"create bad name", "POST", ma + "sub-customers", nil, map[string]any{"party_id": "1234567890", "sub_customer_association_type": 1, "new_sub_customer": map[string]any{"customer_name": "1 bad", "password": "12345678", "use_pri_mobile_phone": "Y"}}, 400, CodeInvalidDomainName, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call(tc.method, tc.path, tc.query, tc.body)
			expect(t, r, tc.status, tc.code)
			eb := r.errBody()
			if !strings.Contains(eb.ErrorMsg, tc.msg) {
				t.Errorf("error_msg %q does not mention %q", eb.ErrorMsg, tc.msg)
			}
			if r.header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
			if tc.code == CodeCheckFailed && len(eb.FailCheckItems) == 0 {
				t.Errorf("no fail_check_items in %s", r.body)
			}
			if tc.code != CodeCheckFailed && strings.Contains(string(r.body), "fail_check_items") {
				t.Errorf("unexpected fail_check_items in %s", r.body)
			}
		})
	}
	if got := len(e.sim.Ledger()); got != 0 {
		t.Errorf("failed requests wrote %d ledger entries", got)
	}
	if m := e.master(); m.Cash != amt("100000.00") {
		t.Errorf("failed requests moved money: master cash %s", m.Cash)
	}
	e.checkInvariants()
}

func TestCheckItems(t *testing.T) {
	e := newEnv(t, nil, Options{})
	r := e.call("POST", ma+"transfer-coupon", nil, map[string]any{"customer_id": "cust-team-a-0001", "coupon_id": "CPX", "amount": "1.00"})
	if items := r.errBody().FailCheckItems; !slices.Equal(items, []string{CheckCouponNotMaster}) {
		t.Errorf("fail_check_items = %v", items)
	}
	r = e.call("POST", ma+"retrieve-coupon", nil, map[string]any{"customer_id": "cust-team-b-0001", "coupon_id": "CP2026110100001", "sub_coupon_id": "SCP2026110100009"})
	if items := r.errBody().FailCheckItems; !slices.Equal(items, []string{CheckSubCouponNotSub}) {
		t.Errorf("fail_check_items = %v", items)
	}
}

func TestSubAccountQuota(t *testing.T) {
	st := DefaultStateAt(testNow)
	st.Masters[0].MaxSubAccounts = 3
	e := newEnv(t, st, Options{})
	r := e.call("POST", ma+"sub-customers", nil, map[string]any{"party_id": "1234567890", "sub_customer_association_type": 1,
		"new_sub_customer": map[string]any{"customer_name": "newbie", "password": "12345678", "use_pri_mobile_phone": "Y"}})
	expect(t, r, 400, CodeCheckFailed)
	if items := r.errBody().FailCheckItems; !slices.Equal(items, []string{CheckMaxSubCustomers}) {
		t.Errorf("fail_check_items = %v", items)
	}
}

func TestDuplicateTransID(t *testing.T) {
	e := newEnv(t, nil, Options{})
	expect(t, e.transfer("cust-team-a-0001", "10.00", "dup-1", nil), 204, "")
	m := e.master()
	a := e.sub("cust-team-a-0001")
	for name, r := range map[string]resp{
		"transfer again": e.transfer("cust-team-a-0001", "10.00", "dup-1", nil),
		"other amount":   e.transfer("cust-team-b-0001", "99.00", "dup-1", nil),
		"reclaim":        e.reclaim("cust-team-a-0001", "1.00", "dup-1", nil),
		"coupon":         e.call("POST", ma+"transfer-coupon", nil, map[string]any{"customer_id": "cust-team-a-0001", "coupon_id": "CP2026110100001", "amount": "1.00", "trans_id": "dup-1"}),
		"coupon reclaim": e.call("POST", ma+"retrieve-coupon", nil, map[string]any{"customer_id": "cust-team-a-0001", "coupon_id": "CP2026110100001", "sub_coupon_id": "SCP2026110100009", "trans_id": "dup-1"}),
	} {
		if r.status != 400 || r.code() != CodeDuplicateTransID {
			t.Errorf("%s: got %d %s", name, r.status, r.body)
		}
	}
	if e.master().Cash != m.Cash || e.sub("cust-team-a-0001").ReclaimableCash != a.ReclaimableCash || e.sub("cust-team-a-0001").Coupons != a.Coupons {
		t.Error("a duplicate moved money")
	}
	// A failed attempt does not burn its trans_id.
	expect(t, e.transfer("cust-team-a-0001", "150000.00", "retry-1", nil), 400, CodeInsufficientBalance)
	if err := e.sim.AddFunds("", amt("100000.00")); err != nil {
		t.Fatal(err)
	}
	expect(t, e.transfer("cust-team-a-0001", "150000.00", "retry-1", nil), 204, "")
	// Without a trans_id the server generates a fresh one each time.
	expect(t, e.transfer("cust-team-b-0001", "1.00", "", nil), 204, "")
	expect(t, e.transfer("cust-team-b-0001", "1.00", "", nil), 204, "")
	l := e.sim.Ledger()
	if len(l) != 4 || len(l[2].TransID) != 32 || l[2].TransID == l[3].TransID {
		t.Errorf("ledger = %+v", l)
	}
	e.checkInvariants()
}

func TestReclaimCapped(t *testing.T) {
	e := newEnv(t, nil, Options{})
	const a = "cust-team-a-0001"
	// team-a: 1000.00 reclaimable and 200.00 self-funded.
	r := e.call("GET", ma+"retrieve-amount", url.Values{"sub_customer_id": {a}, "balance_type": {BalanceTypeDebit}}, nil)
	expect(t, r, 200, "")
	var got struct {
		TotalCount  int `json:"total_count"`
		AmountInfos []struct {
			Avail    float64 `json:"avail_retrieve_amount"`
			Currency string  `json:"currency"`
		} `json:"amount_infos"`
	}
	r.decode(t, &got)
	if got.TotalCount != 1 || !strings.Contains(string(r.body), `"avail_retrieve_amount":1000.00`) {
		t.Errorf("retrieve-amount = %s", r.body)
	}
	expect(t, e.reclaim(a, "1200.00", "r1", nil), 400, CodeInsufficientBalance)
	expect(t, e.reclaim(a, "1000.01", "r1", nil), 400, CodeInsufficientBalance)
	expect(t, e.reclaim(a, "1000.00", "r1", nil), 204, "")
	b := e.sub(a)
	if b.ReclaimableCash != 0 || b.SelfFundedCash != amt("200.00") {
		t.Errorf("after reclaim: %+v", b)
	}
	if e.master().Cash != amt("101000.00") {
		t.Errorf("master cash = %s", e.master().Cash)
	}
	expect(t, e.reclaim(a, "0.01", "r2", nil), 400, CodeInsufficientBalance)
	e.checkInvariants()
}

func TestCreditExpiryMatching(t *testing.T) {
	st := DefaultStateAt(testNow)
	expiring := ptrTime("2027-03-28T14:45:38Z")
	expired := ptrTime("2026-10-01T00:00:00Z")
	st.Masters[0].CreditLedgers = []CreditLedger{
		{Line: amt("1000.00"), Balance: amt("1000.00"), ExpireTime: expiring},
		{Line: amt("500.00"), Balance: amt("500.00")},
		{Line: amt("100.00"), Balance: amt("100.00"), ExpireTime: expired},
	}
	e := newEnv(t, st, Options{})
	const a = "cust-team-a-0001"
	credit := func(exp string) map[string]any {
		m := map[string]any{"balance_type": BalanceTypeCredit}
		if exp != "" {
			m["expire_time"] = exp
		}
		return m
	}
	// Listing shows the expiring ledgers first, the permanent one last,
	// and the expired one with nothing available.
	r := e.call("GET", ma+"transfer-amount", url.Values{"balance_type": {BalanceTypeCredit}}, nil)
	expect(t, r, 200, "")
	want := `{"amount_infos":[{"avail_transfer_amount":0.00,"measure_id":1,"currency":"CNY","amount":100.00,"credit_amount":100.00,"expire_time":"2026-10-01T00:00:00Z"},` +
		`{"avail_transfer_amount":1000.00,"measure_id":1,"currency":"CNY","amount":1000.00,"credit_amount":1000.00,"expire_time":"2027-03-28T14:45:38Z"},` +
		`{"avail_transfer_amount":500.00,"measure_id":1,"currency":"CNY","amount":500.00,"credit_amount":500.00}],"total_count":3}`
	if string(r.body) != want {
		t.Errorf("credit listing:\n got %s\nwant %s", r.body, want)
	}
	expect(t, e.transfer(a, "100.00", "c1", credit("")), 204, "")
	expect(t, e.transfer(a, "300.00", "c2", credit("2027-03-28T14:45:38Z")), 204, "")
	expect(t, e.transfer(a, "1.00", "c3", credit("2026-10-01T00:00:00Z")), 400, CodeCreditExpired)
	r = e.transfer(a, "1.00", "c4", credit("2027-03-28T14:45:39Z"))
	expect(t, r, 400, CodeParam)
	if !strings.Contains(r.errBody().ErrorMsg, "expire_time") {
		t.Errorf("message %q", r.errBody().ErrorMsg)
	}
	expect(t, e.transfer(a, "700.01", "c5", credit("2027-03-28T14:45:38Z")), 400, CodeInsufficientBalance)
	b := e.sub(a)
	if b.Credit != amt("400.00") || len(b.CreditLedgers) != 2 {
		t.Fatalf("sub credit = %s %+v", b.Credit, b.CreditLedgers)
	}
	// Reclaim matches the sub's ledger by expiry too.
	expect(t, e.reclaim(a, "300.01", "c6", credit("2027-03-28T14:45:38Z")), 400, CodeInsufficientBalance)
	expect(t, e.reclaim(a, "1.00", "c7", credit("2028-01-01T00:00:00Z")), 400, CodeParam)
	expect(t, e.reclaim(a, "300.00", "c8", credit("2027-03-28T14:45:38Z")), 204, "")
	expect(t, e.reclaim(a, "100.00", "c9", credit("")), 204, "")
	if b := e.sub(a); b.Credit != 0 || len(b.CreditLedgers) != 0 {
		t.Errorf("sub credit after reclaim = %s %+v", b.Credit, b.CreditLedgers)
	}
	m := e.master()
	if got := m.CreditLedgers[0].Balance.String() + "/" + m.CreditLedgers[1].Balance.String(); got != "1000.00/500.00" {
		t.Errorf("master ledgers = %s", got)
	}
	// A master without a permanent ledger needs expire_time.
	st2 := DefaultStateAt(testNow)
	st2.Masters[0].CreditLedgers = st2.Masters[0].CreditLedgers[:1]
	e2 := newEnv(t, st2, Options{})
	r = e2.transfer(a, "1.00", "p1", credit(""))
	expect(t, r, 400, CodeParam)
	if !strings.Contains(r.errBody().ErrorMsg, "expire_time is required") {
		t.Errorf("message %q", r.errBody().ErrorMsg)
	}
	e.checkInvariants()
}

func TestCouponCarveAndReclaim(t *testing.T) {
	e := newEnv(t, nil, Options{})
	const a = "cust-team-a-0001"
	carve := func(trans, amount string) string {
		t.Helper()
		r := e.call("POST", ma+"transfer-coupon", nil, map[string]any{"customer_id": a, "coupon_id": "CP2026110100002", "amount": amount, "trans_id": trans})
		expect(t, r, 200, "")
		var body map[string]string
		r.decode(t, &body)
		return body["sub_coupon_id"]
	}
	id1 := carve("k1", "300.00")
	id2 := carve("k2", "200.50")
	if id1 == id2 || !strings.HasPrefix(id1, "SCP") || len(id1) != 16 {
		t.Fatalf("sub-coupon ids %q %q", id1, id2)
	}
	if c := e.master().Coupons[1]; c.Balance != amt("499.50") {
		t.Errorf("master coupon balance %s", c.Balance)
	}
	r := e.call("GET", ma+"retrieve-coupons", url.Values{"sub_customer_id": {a}}, nil)
	expect(t, r, 200, "")
	var list struct {
		TotalCount int `json:"total_count"`
		Coupons    []struct {
			CouponID    string `json:"coupon_id"`
			SubCouponID string `json:"sub_coupon_id"`
			Balance     string `json:"balance"`
			PlanName    string `json:"plan_name"`
		} `json:"avail_retrieve_coupons"`
	}
	r.decode(t, &list)
	if list.TotalCount != 3 || list.Coupons[1].SubCouponID != id1 || list.Coupons[1].Balance != "300.00" || list.Coupons[1].CouponID != "CP2026110100002" || list.Coupons[1].PlanName == "" {
		t.Errorf("retrieve-coupons = %s", r.body)
	}
	r = e.call("POST", ma+"retrieve-coupon", nil, map[string]any{"customer_id": a, "coupon_id": "CP2026110100002", "sub_coupon_id": id1, "trans_id": "k3"})
	expect(t, r, 200, "")
	if string(r.body) != `{"real_retrieve_amout":"300.00"}` {
		t.Errorf("reclaim body %s", r.body)
	}
	if c := e.master().Coupons[1]; c.Balance != amt("799.50") {
		t.Errorf("master coupon balance after reclaim %s", c.Balance)
	}
	r = e.call("POST", ma+"retrieve-coupon", nil, map[string]any{"customer_id": a, "coupon_id": "CP2026110100002", "sub_coupon_id": id1, "trans_id": "k4"})
	expect(t, r, 400, CodeCheckFailed)
	b := e.sub(a)
	if len(b.SubCoupons) != 2 || b.Coupons != amt("300.50") {
		t.Errorf("sub coupons %+v", b.SubCoupons)
	}
	r = e.call("GET", ma+"transfer-coupons", url.Values{"limit": {"2"}, "offset": {"1"}}, nil)
	expect(t, r, 200, "")
	if !strings.Contains(string(r.body), `"total_count":3`) || !strings.Contains(string(r.body), `"balance":"799.50"`) || strings.Contains(string(r.body), "CP2026110100001") {
		t.Errorf("transfer-coupons page = %s", r.body)
	}
	l := e.sim.Ledger()
	if len(l) != 3 || l[2].Operation != OpRetrieveCoupon || l[2].Amount != amt("300.00") || l[0].SubCouponID != id1 {
		t.Errorf("ledger %+v", l)
	}
	e.checkInvariants()
}

func TestCreateSubAccountWithSMS(t *testing.T) {
	e := newEnv(t, nil, Options{Seed: 42})
	sms := func(phone string, timeout int) {
		t.Helper()
		b := map[string]any{"mobile_phone": phone, "sm_template_args": []map[string]string{{"key": "sub_customer_name", "value": "team-d"}}}
		if timeout > 0 {
			b["timeout"] = timeout
		}
		expect(t, e.call("POST", ma+"sm-verification-code", nil, b), 204, "")
	}
	create := func(name, phone, code string) resp {
		return e.call("POST", ma+"sub-customers", nil, map[string]any{
			"party_id": "1234567891", "display_name": "Team D", "sub_customer_association_type": 1,
			"new_sub_customer": map[string]any{"customer_name": name, "password": "S3cure!Passw0rd", "mobile_phone": phone, "verification_code": code},
		})
	}
	sms("13900000001", 0)
	code, ok := e.sim.LastSMSCode("13900000001")
	if !ok || len(code) != 6 {
		t.Fatalf("code %q", code)
	}
	// The admin state shows the code.
	r := e.admin("GET", "/_sim/state", nil)
	if !strings.Contains(string(r.body), `"code":"`+code+`"`) || strings.Contains(string(r.body), DefaultSecretKey) {
		t.Errorf("state does not show the code or shows the secret key")
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	expect(t, create("team-d", "13900000001", wrong), 400, CodeVerificationWrong)
	e.sim.Advance(11 * time.Minute)
	expect(t, create("team-d", "13900000001", code), 400, CodeVerificationExpired)
	sms("13900000001", 5)
	code2, _ := e.sim.LastSMSCode("13900000001")
	expect(t, create("team-d", "13900000001", code), 400, CodeVerificationWrong)
	expect(t, create("team-d", "13900000001", code2), 204, "")
	expect(t, create("team-e", "13900000001", code2), 400, CodeMobileExists)
	sms("13900000002", 0)
	code3, _ := e.sim.LastSMSCode("13900000002")
	expect(t, create("team-e", "13900000002", code3), 204, "")

	list := func() []subCustomerInfo {
		r := e.call("GET", ma+"sub-customers", url.Values{"sub_customer_account_name": {"team-d"}}, nil)
		expect(t, r, 200, "")
		var got struct {
			TotalCount int               `json:"total_count"`
			Infos      []subCustomerInfo `json:"sub_customer_infos"`
		}
		r.decode(t, &got)
		return got.Infos
	}
	infos := list()
	if len(infos) != 1 || infos[0].Status != SubStatusCreating || infos[0].OrgName != "Ops" || infos[0].DisplayName != "Team D" {
		t.Fatalf("new sub = %+v", infos)
	}
	// Money cannot go to an account that is still being created.
	expect(t, e.transfer(infos[0].ID, "1.00", "", nil), 400, CodeCheckFailed)
	e.sim.Advance(2 * time.Second)
	if infos = list(); infos[0].Status != SubStatusNormal {
		t.Fatalf("after the creation delay: %+v", infos)
	}
	expect(t, e.transfer(infos[0].ID, "1.00", "", nil), 204, "")

	// Fuzzy matching and the org filter.
	r = e.call("GET", ma+"sub-customers", url.Values{"sub_customer_display_name": {"Team"}, "fuzzy_query": {"1"}, "org_id": {"1234567890"}, "limit": {"1"}, "offset": {"1"}}, nil)
	var page struct {
		TotalCount int               `json:"total_count"`
		Infos      []subCustomerInfo `json:"sub_customer_infos"`
	}
	r.decode(t, &page)
	if page.TotalCount != 2 || len(page.Infos) != 1 || page.Infos[0].Name != "team-b" {
		t.Errorf("fuzzy page = %s", r.body)
	}
	// The master's phone.
	expect(t, e.call("POST", ma+"sub-customers", nil, map[string]any{
		"party_id": "1000000000", "sub_customer_association_type": 1,
		"new_sub_customer": map[string]any{"customer_name": "team-g", "password": "12345678", "use_pri_mobile_phone": "Y"},
	}), 204, "")
	// The SMS frequency limit.
	for range 8 {
		sms("13900000009", 0)
	}
	sms("13900000009", 0)
	sms("13900000009", 0)
	r = e.call("POST", ma+"sm-verification-code", nil, map[string]any{"mobile_phone": "13900000009", "sm_template_args": []map[string]string{{"key": "sub_customer_name", "value": "x"}}})
	expect(t, r, 400, CodeSMSTooFrequent)
}

func TestOrganizations(t *testing.T) {
	st := DefaultStateAt(testNow)
	st.Orgs = append(st.Orgs, OrgUnit{ID: "1234567892", Name: "Platform", ParentID: "1234567890"})
	e := newEnv(t, st, Options{})
	r := e.call("GET", ma+"enterprise-organizations", nil, nil)
	expect(t, r, 200, "")
	want := `{"child_nodes":[{"relation_id":"rel-1234567890","id":"1234567890","name":"R\u0026D"},{"relation_id":"rel-1234567891","id":"1234567891","name":"Ops"}],"root_id":"1000000000","root_name":"bsssim-enterprise"}`
	if string(r.body) != want {
		t.Errorf("orgs:\n got %s\nwant %s", r.body, want)
	}
	r = e.call("GET", ma+"enterprise-organizations", url.Values{"recursive_query": {"1"}}, nil)
	if !strings.Contains(string(r.body), `"child_nodes":[{"relation_id":"rel-1234567892","id":"1234567892","name":"Platform"}]`) {
		t.Errorf("recursive orgs: %s", r.body)
	}
	r = e.call("GET", ma+"enterprise-organizations", url.Values{"parent_id": {"1234567890"}}, nil)
	if string(r.body) != `{"child_nodes":[{"relation_id":"rel-1234567892","id":"1234567892","name":"Platform"}]}` {
		t.Errorf("parent orgs: %s", r.body)
	}
}

func TestOrdersAndBalances(t *testing.T) {
	e := newEnv(t, nil, Options{})
	r := e.call("GET", "/v2/orders/customer-orders", url.Values{"method": {"sub_customer"}, "customer_id": {"cust-team-a-0001"}, "order_by": {"-createTime"}, "limit": {"100"}}, nil)
	expect(t, r, 200, "")
	var orders struct {
		TotalCount int         `json:"total_count"`
		Infos      []orderInfo `json:"order_infos"`
	}
	r.decode(t, &orders)
	if orders.TotalCount != 2 || orders.Infos[0].OrderID != "CS2026000000002" || orders.Infos[0].Status != OrderPendingPayment {
		t.Errorf("orders = %s", r.body)
	}
	r = e.call("GET", "/v2/orders/customer-orders", url.Values{"method": {"sub_customer"}, "status": {"6"}}, nil)
	r.decode(t, &orders)
	if orders.TotalCount != 1 {
		t.Errorf("pending orders = %s", r.body)
	}
	r = e.call("GET", "/v2/orders/customer-orders", nil, nil)
	r.decode(t, &orders)
	if orders.TotalCount != 1 || orders.Infos[0].CustomerID != DefaultDomainID || orders.Infos[0].Status != OrderCancelled {
		t.Errorf("own orders = %s", r.body)
	}
	// Admin-created order.
	ar := e.admin("POST", "/_sim/orders", map[string]any{"customer_id": "cust-team-c-0001", "order_type": "2", "amount_after_discount": "88.80"})
	expect(t, ar, 200, "")
	var created Order
	ar.decode(t, &created)
	if created.Status != OrderPendingPayment || created.OrderID == "" || created.CreateTime.IsZero() {
		t.Fatalf("created order %s", ar.body)
	}
	r = e.call("GET", "/v2/orders/customer-orders/details/"+created.OrderID, nil, nil)
	expect(t, r, 200, "")
	if !strings.Contains(string(r.body), `"amount_after_discount":88.80`) || !strings.Contains(string(r.body), `"total_count":1`) || !strings.Contains(string(r.body), `"pending_payment_end_time"`) {
		t.Errorf("details = %s", r.body)
	}
	expect(t, e.admin("POST", "/_sim/orders/status", map[string]any{"order_id": created.OrderID, "status": 5}), 200, "")
	r = e.call("GET", "/v2/orders/customer-orders", url.Values{"method": {"sub_customer"}, "order_id": {strings.ToLower(created.OrderID)}}, nil)
	r.decode(t, &orders)
	if orders.TotalCount != 1 || orders.Infos[0].Status != OrderCompleted || orders.Infos[0].PaymentTime == "" {
		t.Errorf("completed order = %s", r.body)
	}

	r = e.call("GET", "/v2/accounts/customer-accounts/balances", nil, nil)
	expect(t, r, 200, "")
	if !strings.Contains(string(r.body), `"account_type":1,"amount":100000.00`) || !strings.Contains(string(r.body), `"account_type":2,"amount":70000.00,"currency":"CNY","designated_amount":0.00,"credit_amount":70000.00`) {
		t.Errorf("balances = %s", r.body)
	}
}

func TestSubAccountCredentials(t *testing.T) {
	st := DefaultStateAt(testNow)
	st.SubAccounts[0].AccessKey = "SUBAK000000000000001"
	st.SubAccounts[0].SecretKey = "sub-secret"
	e := newEnv(t, st, Options{})
	expect(t, e.transfer("cust-team-a-0001", "25.00", "tx-sub", nil), 204, "")
	e.as = sign.Credentials{AccessKey: "SUBAK000000000000001", SecretKey: "sub-secret"}
	e.domain = "cust-team-a-0001"
	r := e.call("GET", "/v2/accounts/customer-accounts/balances", nil, nil)
	expect(t, r, 200, "")
	if !strings.Contains(string(r.body), `"amount":1225.00`) {
		t.Errorf("sub balances = %s", r.body)
	}
	r = e.call("GET", "/v2/accounts/customer-accounts/account-change-records", url.Values{"balance_type": {BalanceTypeDebit}, "trade_type": {TradeTransferIn}}, nil)
	expect(t, r, 200, "")
	if !strings.Contains(string(r.body), `"trade_id":"tx-sub"`) || !strings.Contains(string(r.body), `"change_amount":"25.00"`) ||
		!strings.Contains(string(r.body), `"balance_after_change":"1225.00"`) || !strings.Contains(string(r.body), `"revenue_expense_type":"REVENUE"`) {
		t.Errorf("sub change records = %s", r.body)
	}
	expect(t, e.transfer("cust-team-b-0001", "1.00", "", nil), 403, CodeAccessDenied)
	expect(t, e.call("POST", ma+"sm-verification-code", nil, map[string]any{"mobile_phone": "13900000001", "sm_template_args": []map[string]string{{"key": "sub_customer_name", "value": "x"}}}), 400, CodeSMSNotMaster)
	// X-Domain-Id must match the signing account.
	e.domain = DefaultDomainID
	expect(t, e.call("GET", "/v2/accounts/customer-accounts/balances", nil, nil), 401, CodeAuthFailed)
	// The master sees its side of the transfer.
	e.as = sign.Credentials{AccessKey: DefaultAccessKey, SecretKey: DefaultSecretKey}
	r = e.call("GET", "/v2/accounts/customer-accounts/account-change-records", url.Values{"balance_type": {BalanceTypeDebit}, "revenue_expense_type": {Expense}}, nil)
	if !strings.Contains(string(r.body), `"trade_id":"tx-sub"`) || !strings.Contains(string(r.body), `"balance_after_change":"99975.00"`) {
		t.Errorf("master change records = %s", r.body)
	}
}

func TestMonthlySumPermissions(t *testing.T) {
	st := DefaultStateAt(testNow)
	st.SubAccounts[1].PermissionIDs = nil // team-b has not granted READ_CONSUME_BILL.
	e := newEnv(t, st, Options{})
	q := url.Values{"bill_cycle": {"2026-11"}, "method": {"sub_customer"}}
	r := e.call("GET", "/v2/bills/customer-bills/monthly-sum", q, nil)
	expect(t, r, 200, "")
	var got monthlySumRead
	r.decode(t, &got)
	if got.TotalCount != 1 || got.BillSums[0].CustomerID != "cust-team-a-0001" || got.ConsumeAmount != "133.45" {
		t.Errorf("sub_customer bills = %s", r.body)
	}
	q.Set("sub_customer_id", "cust-team-b-0001")
	expect(t, e.call("GET", "/v2/bills/customer-bills/monthly-sum", q, nil), 403, CodeAccessDenied)
	q.Set("sub_customer_id", "nobody")
	expect(t, e.call("GET", "/v2/bills/customer-bills/monthly-sum", q, nil), 400, CodeNoSuchCustomer)
	r = e.call("GET", "/v2/bills/customer-bills/monthly-sum", url.Values{"bill_cycle": {"2026-11"}}, nil)
	r.decode(t, &got)
	if got.TotalCount != 2 {
		t.Errorf("all bills = %s", r.body)
	}
	r = e.call("GET", "/v2/bills/customer-bills/monthly-sum", url.Values{"bill_cycle": {"2026-10"}, "method": {"oneself"}}, nil)
	r.decode(t, &got)
	if got.TotalCount != 0 {
		t.Errorf("own bills = %s", r.body)
	}
}

// monthlySumRead decodes a monthly-sum response with amounts as text.
type monthlySumRead struct {
	TotalCount    int    `json:"total_count"`
	ConsumeAmount numStr `json:"consume_amount"`
	BillSums      []struct {
		BillCycle     string `json:"bill_cycle"`
		CustomerID    string `json:"customer_id"`
		AccountName   string `json:"account_name"`
		ChargingMode  int    `json:"charging_mode"`
		ConsumeAmount numStr `json:"consume_amount"`
		CashAmount    numStr `json:"cash_amount"`
		CreditAmount  numStr `json:"credit_amount"`
		CouponAmount  numStr `json:"coupon_amount"`
		DebtAmount    numStr `json:"debt_amount"`
	} `json:"bill_sums"`
}

// numStr keeps a JSON number's text.
type numStr string

func (n *numStr) UnmarshalJSON(b []byte) error {
	*n = numStr(b)
	return nil
}

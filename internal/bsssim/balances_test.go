package bsssim

import (
	"net/http"
	"strings"
	"testing"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
)

func TestOtherBalances(t *testing.T) {
	st := DefaultStateAt(testNow)
	st.SubAccounts[1].AccessKey, st.SubAccounts[1].SecretKey = "SUBAK000000000000002", "sub-secret"
	e := newEnv(t, st, Options{})
	const path = "/v2/accounts/customer-accounts/balances"
	r := e.admin(http.MethodPost, "/_sim/balances", map[string]any{"bonus": "12.50", "debt": "3.20"})
	expect(t, r, http.StatusOK, "")
	if string(r.body) != `{"bonus":"12.50","deposit":"5000.00","debt":"3.20"}` {
		t.Errorf("master balances = %s", r.body)
	}
	r = e.call(http.MethodGet, path, nil, nil)
	expect(t, r, http.StatusOK, "")
	for _, want := range []string{
		`{"account_id":"` + DefaultDomainID + `-05","account_type":5,"amount":12.50,"currency":"CNY","designated_amount":0.00,"measure_id":1}`,
		`{"account_id":"` + DefaultDomainID + `-07","account_type":7,"amount":5000.00,"currency":"CNY","designated_amount":0.00,"measure_id":1}`,
		`"debt_amount":3.20`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("balances = %s, want %s", r.body, want)
		}
	}
	// A sub-account without them has cash and credit only; with a deposit
	// it has a deposit account.
	e.as, e.domain = sign.Credentials{AccessKey: "SUBAK000000000000002", SecretKey: "sub-secret"}, teamB
	r = e.call(http.MethodGet, path, nil, nil)
	if strings.Count(string(r.body), `"account_type"`) != 2 || !strings.Contains(string(r.body), `"debt_amount":0.00`) {
		t.Errorf("team-b balances = %s", r.body)
	}
	expect(t, e.admin(http.MethodPost, "/_sim/balances", map[string]any{"customer_id": teamB, "deposit": "300.00", "debt": "1.00"}), http.StatusOK, "")
	r = e.call(http.MethodGet, path, nil, nil)
	if !strings.Contains(string(r.body), `"account_type":7,"amount":300.00`) || strings.Contains(string(r.body), `"account_type":5`) ||
		!strings.Contains(string(r.body), `"debt_amount":1.00`) {
		t.Errorf("team-b balances = %s", r.body)
	}
	// Zero takes the account away again.
	if _, err := e.sim.SetOtherBalances(teamB, OtherBalances{Deposit: new(amt("0"))}); err != nil {
		t.Fatal(err)
	}
	if r = e.call(http.MethodGet, path, nil, nil); strings.Contains(string(r.body), `"account_type":7`) {
		t.Errorf("team-b balances = %s", r.body)
	}
	for name, body := range map[string]map[string]any{
		"negative":        {"bonus": "-1.00"},
		"three decimals":  {"deposit": "1.001"},
		"a number":        {"debt": 5},
		"unknown account": {"customer_id": "nobody", "bonus": "1.00"},
		"unknown master":  {"domain_id": "nobody", "bonus": "1.00"},
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, e.admin(http.MethodPost, "/_sim/balances", body), http.StatusBadRequest, "")
		})
	}
	// Not money in the books: conservation holds, nothing was added.
	if m := e.master(); !m.Totals.Added.IsZero() {
		t.Errorf("added = %s", m.Totals.Added)
	}
	e.checkInvariants()
}

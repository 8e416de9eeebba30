package bsssim

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestAdminRefusesRemoteClients(t *testing.T) {
	e := newEnv(t, nil, Options{})
	for addr, want := range map[string]int{"192.0.2.10:5000": 403, "[2001:db8::1]:5000": 403, "127.0.0.1:5000": 200, "[::1]:5000": 200} {
		req := httptest.NewRequest(http.MethodGet, "/_sim/state", nil)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		e.sim.Handler().ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("%s: got %d, want %d", addr, rec.Code, want)
		}
	}
}

func TestAdminAPI(t *testing.T) {
	e := newEnv(t, nil, Options{})
	expect(t, e.admin("GET", "/_sim/nope", nil), 404, "")
	expect(t, e.admin("DELETE", "/_sim/state", nil), 405, "")

	// Funds.
	r := e.admin("POST", "/_sim/funds", map[string]any{"amount": "5000.00"})
	expect(t, r, 200, "")
	if !strings.Contains(string(r.body), `"cash":"105000.00"`) || !strings.Contains(string(r.body), `"added":"5000.00"`) {
		t.Errorf("funds = %s", r.body)
	}
	expect(t, e.admin("POST", "/_sim/funds", map[string]any{"amount": "1.234"}), 400, "")
	expect(t, e.admin("POST", "/_sim/funds", map[string]any{"amount": 5}), 400, "")
	expect(t, e.admin("POST", "/_sim/funds", map[string]any{"amount": "10.00", "customer_id": "cust-team-b-0001"}), 200, "")
	// Self-funded money is not reclaimable.
	expect(t, e.reclaim("cust-team-b-0001", "10.00", "", nil), 400, CodeInsufficientBalance)

	// Sub-accounts.
	r = e.admin("POST", "/_sim/subaccounts", map[string]any{"name": "team-x", "display_name": "Team X", "org_id": "1234567891"})
	expect(t, r, 200, "")
	var sa SubAccount
	r.decode(t, &sa)
	if sa.ID == "" || sa.Status != SubStatusNormal || sa.DomainID != DefaultDomainID {
		t.Errorf("added sub %s", r.body)
	}
	expect(t, e.admin("POST", "/_sim/subaccounts", map[string]any{"name": "team-x"}), 400, "")
	expect(t, e.admin("POST", "/_sim/subaccounts", map[string]any{"name": "team-y", "reclaimable_cash": "1.00"}), 400, "")
	expect(t, e.admin("POST", "/_sim/subaccounts", map[string]any{"name": "team-y", "org_id": "77"}), 400, "")
	lr := e.call("GET", ma+"sub-customers", url.Values{"org_id": {"1234567891"}}, nil)
	if !strings.Contains(string(lr.body), `"name":"team-x"`) || !strings.Contains(string(lr.body), `"total_count":2`) {
		t.Errorf("sub list = %s", lr.body)
	}
	expect(t, e.transfer(sa.ID, "100.00", "adm-1", nil), 204, "")

	// Consumption rate and advance.
	expect(t, e.admin("POST", "/_sim/consumption", map[string]any{"customer_id": sa.ID, "rate": "5.00"}), 200, "")
	expect(t, e.admin("POST", "/_sim/consumption", map[string]any{"customer_id": sa.ID, "rate": 5}), 400, "")
	expect(t, e.admin("POST", "/_sim/advance", map[string]any{"duration": "-1h"}), 400, "")
	expect(t, e.admin("POST", "/_sim/advance", map[string]any{"duration": "nonsense"}), 400, "")
	r = e.admin("POST", "/_sim/advance", map[string]any{"duration": "2h"})
	expect(t, r, 200, "")
	if !strings.Contains(string(r.body), `"time_offset":"2h0m0s"`) || !strings.Contains(string(r.body), `"sim_time":"2026-11-27T14:00:00Z"`) {
		t.Errorf("advance = %s", r.body)
	}
	if b := e.sub(sa.ID); b.Cash != amt("90.00") {
		t.Errorf("team-x cash after 2h at 5.00/h = %s", b.Cash)
	}

	// Faults.
	r = e.admin("POST", "/_sim/faults", map[string]any{"latency": "5ms", "error_rate": 0.25})
	expect(t, r, 200, "")
	r = e.admin("GET", "/_sim/faults", nil)
	if string(r.body) != `{"latency":"5ms","error_rate":0.25}` {
		t.Errorf("faults = %s", r.body)
	}
	expect(t, e.admin("POST", "/_sim/faults", map[string]any{"error_rate": 2}), 400, "")
	expect(t, e.admin("POST", "/_sim/faults", map[string]any{}), 200, "")

	// State and check.
	r = e.admin("GET", "/_sim/state", nil)
	expect(t, r, 200, "")
	var st State
	r.decode(t, &st)
	if len(st.Ledger) != 1 || st.Masters[0].SecretKey != "<redacted>" || st.SimTime == nil || len(st.Coupons) != 3 || len(st.Bills) == 0 {
		t.Errorf("state: ledger %d, sk %q, sim_time %v", len(st.Ledger), st.Masters[0].SecretKey, st.SimTime)
	}
	r = e.admin("GET", "/_sim/check", nil)
	if string(r.body) != `{"ok":true,"errors":[]}` {
		t.Errorf("check = %s", r.body)
	}

	// Reset.
	expect(t, e.admin("POST", "/_sim/reset", nil), 200, "")
	if _, ok := e.sim.SubAccount(sa.ID); ok {
		t.Error("reset kept an added sub-account")
	}
	if m := e.master(); m.Cash != amt("100000.00") || !m.Totals.Added.IsZero() || len(e.sim.Ledger()) != 0 || !e.sim.Now().Equal(testNow) {
		t.Errorf("after reset: %+v", m)
	}
	expect(t, e.transfer("cust-team-a-0001", "1.00", "adm-1", nil), 204, "")
	e.checkInvariants()
}

func TestDefaultStateIsConsistent(t *testing.T) {
	e := newEnv(t, DefaultState(), Options{Now: time.Now, AuthNow: time.Now})
	m := e.master()
	if m.Cash != amt("100000.00") || len(m.CreditLedgers) != 2 || len(m.Coupons) < 3 {
		t.Errorf("default master %+v", m)
	}
	st := e.sim.Snapshot()
	if len(st.SubAccounts) != 3 || len(st.Orgs) != 2 || len(st.Orders) < 3 {
		t.Errorf("default state: %d subs, %d orgs, %d orders", len(st.SubAccounts), len(st.Orgs), len(st.Orders))
	}
	cycles := map[string]bool{}
	for _, b := range st.Bills {
		cycles[b.BillCycle] = true
	}
	if len(cycles) != 2 {
		t.Errorf("bill cycles %v", cycles)
	}
	if err := e.sim.CheckCosts(); err != nil {
		t.Errorf("costs: %v", err)
	}
	e.checkInvariants()
}

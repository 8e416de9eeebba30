package bsssim

import (
	"encoding/json"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
)

const defaultBehaviourJSON = `{"refused_trans_ids":"reusable","transfer_records":"trans-id","reclaimable":"funded"}`

func TestBehaviourValidate(t *testing.T) {
	valid := []Behaviour{
		{},
		{RefusedTransIDs: RefusedReusable, TransIDRetention: Duration(time.Hour), TransferRecords: RecordsNone, Reclaimable: ReclaimableFunded},
		{RefusedTransIDs: RefusedBurned, TransferRecords: RecordsOwnID, Reclaimable: ReclaimableTotal},
		{TransferRecords: RecordsTransID},
	}
	for _, b := range valid {
		if err := b.Validate(); err != nil {
			t.Errorf("%+v: %v", b, err)
		}
	}
	invalid := []Behaviour{
		{RefusedTransIDs: "Burned"},
		{TransIDRetention: Duration(-time.Second)},
		{TransferRecords: "trans_id"},
		{Reclaimable: "all"},
	}
	for _, b := range invalid {
		if err := b.Validate(); err == nil {
			t.Errorf("%+v was accepted", b)
		}
	}
	if got := (Behaviour{}).String(); got != "refused_trans_ids=reusable trans_id_retention=forever transfer_records=trans-id reclaimable=funded" {
		t.Errorf("String() = %q", got)
	}
	if _, err := New(DefaultStateAt(testNow), Options{Behaviour: Behaviour{Reclaimable: "all"}}); err == nil {
		t.Error("New accepted an invalid behaviour")
	}
}

func TestBehaviourAdminAPI(t *testing.T) {
	e := newEnv(t, nil, Options{})
	r := e.admin("GET", "/_sim/behaviour", nil)
	expect(t, r, 200, "")
	if string(r.body) != defaultBehaviourJSON {
		t.Errorf("default behaviour = %s", r.body)
	}
	for _, body := range []any{
		nil,
		map[string]any{"refused_trans_ids": "sometimes"},
		map[string]any{"trans_id_retention": "-1h"},
		map[string]any{"trans_id_retention": 3600},
		map[string]any{"transfer_records": "all"},
		map[string]any{"reclaimable": "everything"},
		map[string]any{"reclaimable_cash": "total"}, // misspelt: refused, not ignored
	} {
		expect(t, e.admin("POST", "/_sim/behaviour", body), 400, "")
	}
	if got := e.sim.Behaviour(); got != (Behaviour{}).Normalized() {
		t.Errorf("a refused POST changed the behaviour to %+v", got)
	}

	want := Behaviour{RefusedTransIDs: RefusedBurned, TransIDRetention: Duration(90 * time.Minute), TransferRecords: RecordsNone, Reclaimable: ReclaimableTotal}
	r = e.admin("POST", "/_sim/behaviour", want)
	expect(t, r, 200, "")
	const wantJSON = `{"refused_trans_ids":"burned","trans_id_retention":"1h30m0s","transfer_records":"none","reclaimable":"total"}`
	if string(r.body) != wantJSON {
		t.Errorf("POST answered %s", r.body)
	}
	if r = e.admin("GET", "/_sim/behaviour", nil); string(r.body) != wantJSON {
		t.Errorf("GET after POST = %s", r.body)
	}
	if got := e.sim.Behaviour(); got != want {
		t.Errorf("Behaviour() = %+v", got)
	}

	// /_sim/state reports the behaviour in force.
	r = e.admin("GET", "/_sim/state", nil)
	var st struct {
		Behaviour json.RawMessage `json:"behaviour"`
	}
	r.decode(t, &st)
	if string(st.Behaviour) != wantJSON {
		t.Errorf("state behaviour = %s", st.Behaviour)
	}

	// Reset keeps the behaviour, like the faults.
	expect(t, e.admin("POST", "/_sim/reset", nil), 200, "")
	if got := e.sim.Behaviour(); got != want {
		t.Errorf("after reset: %+v", got)
	}

	// POST replaces the whole behaviour: what it leaves out is the default.
	r = e.admin("POST", "/_sim/behaviour", map[string]any{"transfer_records": "own-id"})
	expect(t, r, 200, "")
	if string(r.body) != `{"refused_trans_ids":"reusable","transfer_records":"own-id","reclaimable":"funded"}` {
		t.Errorf("partial POST answered %s", r.body)
	}
	expect(t, e.admin("POST", "/_sim/behaviour", map[string]any{}), 200, "")
	r = e.admin("GET", "/_sim/state", nil)
	r.decode(t, &st)
	if string(st.Behaviour) != defaultBehaviourJSON {
		t.Errorf("state behaviour after POST {} = %s", st.Behaviour)
	}
}

func TestBehaviourIsConfigurationNotState(t *testing.T) {
	// Options.Behaviour is in force from the start; a behaviour in a state
	// given to New (such as a snapshot) is ignored.
	b := Behaviour{RefusedTransIDs: RefusedBurned}
	e := newEnv(t, nil, Options{Behaviour: b})
	if got := e.sim.Behaviour(); got != b.Normalized() {
		t.Errorf("Behaviour() = %+v", got)
	}
	snap := e.sim.Snapshot()
	if snap.Behaviour == nil || *snap.Behaviour != b.Normalized() {
		t.Errorf("snapshot behaviour = %+v", snap.Behaviour)
	}
	e2 := newEnv(t, snap, Options{})
	if got := e2.sim.Behaviour(); got != (Behaviour{}).Normalized() {
		t.Errorf("a state's behaviour was loaded: %+v", got)
	}
	if e2.sim.Snapshot().Behaviour.RefusedTransIDs != RefusedReusable {
		t.Error("snapshot does not report the behaviour in force")
	}
}

func TestRefusedTransIDs(t *testing.T) {
	const a = "cust-team-a-0001"
	for _, mode := range []string{RefusedReusable, RefusedBurned} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, nil, Options{Behaviour: Behaviour{RefusedTransIDs: mode}})
			expect(t, e.transfer(a, "150000.00", "r-1", nil), 400, CodeInsufficientBalance)
			if err := e.sim.AddFunds("", amt("100000.00")); err != nil {
				t.Fatal(err)
			}
			before := e.sub(a).ReclaimableCash
			r := e.transfer(a, "150000.00", "r-1", nil)
			if mode == RefusedReusable {
				expect(t, r, 204, "")
				if got := e.sub(a).ReclaimableCash; got != before.Add(amt("150000.00")) {
					t.Errorf("team-a reclaimable %s", got)
				}
				if l := e.sim.Ledger(); len(l) != 1 || l[0].TransID != "r-1" {
					t.Errorf("ledger = %+v", l)
				}
				if b := e.sim.BurnedTransIDs(); len(b) != 0 {
					t.Errorf("burned = %+v", b)
				}
				e.checkInvariants()
				return
			}
			// Burned: the duplicate error, exactly as for an applied one,
			// although nothing moved.
			expect(t, r, 400, CodeDuplicateTransID)
			if got := e.sub(a).ReclaimableCash; got != before {
				t.Errorf("a burned trans_id moved money: team-a reclaimable %s", got)
			}
			if l := e.sim.Ledger(); len(l) != 0 {
				t.Errorf("ledger = %+v", l)
			}
			burned := e.sim.BurnedTransIDs()
			if len(burned) != 1 || burned[0].TransID != "r-1" || burned[0].ErrorCode != CodeInsufficientBalance ||
				burned[0].Operation != OpTransferAmount || burned[0].CustomerID != a || burned[0].DomainID != DefaultDomainID ||
				!burned[0].Time.Equal(testNow) || burned[0].RequestID == "" || burned[0].AfterRetention {
				t.Errorf("burned = %+v", burned)
			}
			// The state keeps burned trans_ids apart from the ledger, and
			// /_sim/check has nothing to say about them.
			st := e.admin("GET", "/_sim/state", nil)
			if !strings.Contains(string(st.body), `"burned_trans_ids":[{"trans_id":"r-1","operation":"transfer-amount"`) {
				t.Errorf("state = %s", st.body)
			}
			if c := e.admin("GET", "/_sim/check", nil); string(c.body) != `{"ok":true,"errors":[]}` {
				t.Errorf("check = %s", c.body)
			}
			e.checkInvariants()

			// A restart from the state file still remembers it; a reset
			// forgets it.
			path := filepath.Join(t.TempDir(), "state.yaml")
			if err := SaveState(path, e.sim.Snapshot()); err != nil {
				t.Fatal(err)
			}
			loaded, err := LoadState(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(loaded.BurnedTransIDs) != 1 || loaded.Behaviour != nil {
				t.Errorf("loaded burned %+v, behaviour %+v", loaded.BurnedTransIDs, loaded.Behaviour)
			}
			e2 := newEnv(t, loaded, Options{})
			expect(t, e2.transfer(a, "1.00", "r-1", nil), 400, CodeDuplicateTransID)
			e.sim.Reset()
			expect(t, e.transfer(a, "1.00", "r-1", nil), 204, "")
			// Going back to reusable does not forget what was burned.
			expect(t, e.transfer(a, "999999.00", "r-2", nil), 400, CodeInsufficientBalance)
			if err := e.sim.SetBehaviour(Behaviour{}); err != nil {
				t.Fatal(err)
			}
			expect(t, e.transfer(a, "1.00", "r-2", nil), 400, CodeDuplicateTransID)
		})
	}
}

func TestBurnedRefusals(t *testing.T) {
	const a, b, c = "cust-team-a-0001", "cust-team-b-0001", "cust-team-c-0001"
	st := DefaultStateAt(testNow)
	expired := testNow.Add(-time.Hour)
	st.SubAccounts[2].CreditLedgers = append(st.SubAccounts[2].CreditLedgers, CreditLedger{Line: amt("10.00"), Balance: amt("10.00"), ExpireTime: &expired})
	st.SubAccounts[1].FinancialCustody = 1
	st.SubAccounts[1].AccessKey, st.SubAccounts[1].SecretKey = "SUBAK000000000000002", "sub-secret"
	e := newEnv(t, st, Options{Behaviour: Behaviour{RefusedTransIDs: RefusedBurned}})
	// Terminal business refusals burn the trans_id.
	burning := []struct {
		name, transID string
		send          func(transID string) resp
		code          string
	}{
		{"insufficient cash", "b-cash", func(id string) resp { return e.transfer(a, "100000.01", id, nil) }, CodeInsufficientBalance},
		{"reclaim above reclaimable", "b-reclaim", func(id string) resp { return e.reclaim(a, "1000.01", id, nil) }, CodeInsufficientBalance},
		{"unknown sub-customer", "b-nosub", func(id string) resp { return e.transfer("nobody", "1.00", id, nil) }, CodeNoSuchCustomer},
		{"custody sub-account", "b-custody", func(id string) resp { return e.reclaim(b, "1.00", id, nil) }, CodeCheckFailed},
		{"expired credit", "b-expired", func(id string) resp {
			return e.reclaim(c, "1.00", id, map[string]any{"balance_type": BalanceTypeCredit, "expire_time": fmtTime(expired)})
		}, CodeCreditExpired},
		{"unknown coupon", "b-coupon", func(id string) resp {
			return e.call("POST", ma+"transfer-coupon", nil, map[string]any{"customer_id": a, "coupon_id": "CPX", "amount": "1.00", "trans_id": id})
		}, CodeCheckFailed},
		{"wrong sub-coupon", "b-subcoupon", func(id string) resp {
			return e.call("POST", ma+"retrieve-coupon", nil, map[string]any{"customer_id": b, "coupon_id": "CP2026110100001", "sub_coupon_id": "SCP2026110100009", "trans_id": id})
		}, CodeCheckFailed},
	}
	for _, tc := range burning {
		expect(t, tc.send(tc.transID), 400, tc.code)
		// Even a request that would succeed now is refused as a duplicate.
		expect(t, e.transfer(a, "1.00", tc.transID, nil), 400, CodeDuplicateTransID)
	}
	var got []string
	for _, bt := range e.sim.BurnedTransIDs() {
		got = append(got, bt.TransID+"="+bt.ErrorCode)
	}
	want := []string{"b-cash=" + CodeInsufficientBalance, "b-reclaim=" + CodeInsufficientBalance, "b-nosub=" + CodeNoSuchCustomer,
		"b-custody=" + CodeCheckFailed, "b-expired=" + CodeCreditExpired, "b-coupon=" + CodeCheckFailed, "b-subcoupon=" + CodeCheckFailed}
	if !slices.Equal(got, want) {
		t.Errorf("burned %v, want %v", got, want)
	}

	// Refusals before BSS accepts the request for processing do not burn
	// it: a resend with the same trans_id is applied.
	notBurning := []struct {
		name string
		send func() resp
		code string
	}{
		{"parameter error", func() resp {
			return e.transfer(a, "1.00", "n-param", map[string]any{"balance_type": BalanceTypeCredit, "expire_time": "2030-01-01T00:00:00Z"})
		}, CodeParam},
		{"malformed amount", func() resp { return e.transfer(a, "1.001", "n-param", nil) }, CodeParam},
		{"authentication", func() resp {
			e.as.SecretKey = "wrong"
			defer func() { e.as.SecretKey = DefaultSecretKey }()
			return e.transfer(a, "1.00", "n-auth", nil)
		}, CodeAuthFailed},
		{"injected 500", func() resp {
			if err := e.sim.SetFaults(Faults{ErrorRate: 1}); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = e.sim.SetFaults(Faults{}) }()
			return e.transfer(a, "1.00", "n-fault", nil)
		}, CodeInternal},
		{"throttling", func() resp {
			if err := e.sim.SetFaults(Faults{StormDuration: Duration(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = e.sim.SetFaults(Faults{}) }()
			return e.transfer(a, "1.00", "n-throttle", nil)
		}, CodeThrottled},
		{"a sub-account's keys", func() resp {
			e.domain = ""
			defer func() { e.domain = DefaultDomainID }()
			e.as = sign.Credentials{AccessKey: "SUBAK000000000000002", SecretKey: "sub-secret"}
			defer func() { e.as = sign.Credentials{AccessKey: DefaultAccessKey, SecretKey: DefaultSecretKey} }()
			return e.transfer(a, "1.00", "n-forbidden", nil)
		}, CodeAccessDenied},
	}
	for _, tc := range notBurning {
		r := tc.send()
		if r.code() != tc.code {
			t.Fatalf("%s: got %d %s, want %s", tc.name, r.status, r.body, tc.code)
		}
	}
	for _, id := range []string{"n-param", "n-auth", "n-fault", "n-throttle", "n-forbidden"} {
		expect(t, e.transfer(a, "1.00", id, nil), 204, "")
	}
	if n := len(e.sim.BurnedTransIDs()); n != len(want) {
		t.Errorf("%d burned trans_ids, want %d", n, len(want))
	}
	e.checkInvariants()
}

func TestTransIDRetention(t *testing.T) {
	const a = "cust-team-a-0001"
	e := newEnv(t, nil, Options{Behaviour: Behaviour{TransIDRetention: Duration(time.Hour)}})
	expect(t, e.transfer(a, "10.00", "t-1", nil), 204, "")
	// Within the window (which a duplicate answer does not extend).
	e.sim.Advance(30 * time.Minute)
	expect(t, e.transfer(a, "10.00", "t-1", nil), 400, CodeDuplicateTransID)
	e.sim.Advance(29*time.Minute + 59*time.Second)
	expect(t, e.transfer(a, "10.00", "t-1", nil), 400, CodeDuplicateTransID)
	if e.sub(a).ReclaimableCash != amt("1010.00") {
		t.Fatalf("team-a reclaimable %s", e.sub(a).ReclaimableCash)
	}
	// After it, BSS has forgotten t-1 and moves the money again.
	expect(t, e.admin("POST", "/_sim/advance", map[string]any{"duration": "1s"}), 200, "")
	expect(t, e.transfer(a, "10.00", "t-1", nil), 204, "")
	if got := e.sub(a).ReclaimableCash; got != amt("1020.00") {
		t.Errorf("team-a reclaimable %s after the resend, want 1020.00", got)
	}
	l := e.sim.Ledger()
	if len(l) != 2 || l[0].TransID != "t-1" || l[1].TransID != "t-1" || l[0].AfterRetention || !l[1].AfterRetention ||
		!l[1].Time.Equal(testNow.Add(time.Hour)) {
		t.Errorf("ledger = %+v", l)
	}
	// The strict check reports the double movement; money is conserved.
	r := e.admin("GET", "/_sim/check", nil)
	var check checkResp
	r.decode(t, &check)
	if check.OK || len(check.Errors) != 1 || !strings.Contains(check.Errors[0], `share trans_id "t-1"`) || !strings.Contains(check.Errors[0], "retention") {
		t.Errorf("check = %s", r.body)
	}
	if err := e.sim.CheckConservation(); err != nil {
		t.Error(err)
	}
	// It is remembered again from the second time.
	expect(t, e.transfer(a, "10.00", "t-1", nil), 400, CodeDuplicateTransID)

	// A restart from that state is possible (it is what happened), and the
	// check still reports it; a ledger duplicate not marked so is broken.
	e2 := newEnv(t, e.sim.Snapshot(), Options{Behaviour: Behaviour{TransIDRetention: Duration(time.Hour)}})
	if err := e2.sim.CheckLedger(); err == nil || !strings.Contains(err.Error(), "retention") {
		t.Errorf("CheckLedger after restart: %v", err)
	}
	expect(t, e2.transfer(a, "10.00", "t-1", nil), 400, CodeDuplicateTransID)
	broken := e.sim.Snapshot()
	broken.Ledger[1].AfterRetention = false
	if _, err := New(broken, Options{}); err == nil {
		t.Error("New accepted a trans_id applied twice while remembered")
	}

	// A shorter retention forgets at once; zero remembers forever.
	expect(t, e.transfer(a, "5.00", "t-2", nil), 204, "")
	e.sim.Advance(10 * time.Minute)
	if err := e.sim.SetBehaviour(Behaviour{TransIDRetention: Duration(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	expect(t, e.transfer(a, "5.00", "t-2", nil), 204, "")
	if err := e.sim.SetBehaviour(Behaviour{}); err != nil {
		t.Fatal(err)
	}
	e.sim.Advance(10 * 365 * 24 * time.Hour)
	for _, id := range []string{"t-1", "t-2"} {
		expect(t, e.transfer(a, "1.00", id, nil), 400, CodeDuplicateTransID)
	}
}

func TestTransIDRetentionOfBurned(t *testing.T) {
	const a = "cust-team-a-0001"
	e := newEnv(t, nil, Options{Behaviour: Behaviour{RefusedTransIDs: RefusedBurned, TransIDRetention: Duration(24 * time.Hour)}})
	expect(t, e.transfer(a, "100000.01", "tb-1", nil), 400, CodeInsufficientBalance)
	e.sim.Advance(23 * time.Hour)
	expect(t, e.transfer(a, "1.00", "tb-1", nil), 400, CodeDuplicateTransID)
	e.sim.Advance(time.Hour)
	// Forgotten: processed as new. Refused again, it is burned again.
	expect(t, e.transfer(a, "100000.01", "tb-1", nil), 400, CodeInsufficientBalance)
	expect(t, e.transfer(a, "1.00", "tb-1", nil), 400, CodeDuplicateTransID)
	burned := e.sim.BurnedTransIDs()
	if len(burned) != 2 || burned[0].AfterRetention || !burned[1].AfterRetention {
		t.Errorf("burned = %+v", burned)
	}
	e.sim.Advance(24 * time.Hour)
	expect(t, e.transfer(a, "1.00", "tb-1", nil), 204, "")
	// Applied once: nothing for the check to report.
	if l := e.sim.Ledger(); len(l) != 1 || !l[0].AfterRetention {
		t.Errorf("ledger = %+v", l)
	}
	e.checkInvariants()
}

// changeRecordsOf lists the caller's BEADJUST and BERETRIEVE records of a
// balance type, as ListCustomerAccountChangeRecords returns them.
func (e *env) changeRecordsOf(balanceType string) []changeRecord {
	e.t.Helper()
	var out []changeRecord
	for _, trade := range []string{TradeTransferIn, TradeRetrieve} {
		r := e.call("GET", "/v2/accounts/customer-accounts/account-change-records", url.Values{"balance_type": {balanceType}, "trade_type": {trade}}, nil)
		expect(e.t, r, 200, "")
		var got struct {
			Records []changeRecord `json:"records"`
		}
		r.decode(e.t, &got)
		out = append(out, got.Records...)
	}
	return out
}

func TestTransferRecords(t *testing.T) {
	const a = "cust-team-a-0001"
	const subAK, subSK = "SUBAK000000000000001", "sub-secret"
	for _, mode := range []string{RecordsTransID, RecordsOwnID, RecordsNone} {
		t.Run(mode, func(t *testing.T) {
			st := DefaultStateAt(testNow)
			st.SubAccounts[0].AccessKey, st.SubAccounts[0].SecretKey = subAK, subSK
			e := newEnv(t, st, Options{Behaviour: Behaviour{TransferRecords: mode}})
			credit := map[string]any{"balance_type": BalanceTypeCredit}
			expect(t, e.transfer(a, "10.00", "rec-cash-in", nil), 204, "")
			expect(t, e.transfer(a, "20.00", "rec-credit-in", credit), 204, "")
			expect(t, e.reclaim(a, "3.00", "rec-cash-out", nil), 204, "")
			expect(t, e.reclaim(a, "4.00", "rec-credit-out", credit), 204, "")
			transIDs := []string{"rec-cash-in", "rec-credit-in", "rec-cash-out", "rec-credit-out"}

			type rec struct{ trade, dir, amount, tradeID string }
			collect := func() (debit, credit []rec) {
				for _, r := range e.changeRecordsOf(BalanceTypeDebit) {
					debit = append(debit, rec{r.TradeDetailType, r.RevenueExpenseType, r.ChangeAmount, r.TradeID})
				}
				for _, r := range e.changeRecordsOf(BalanceTypeCredit) {
					credit = append(credit, rec{r.TradeDetailType, r.RevenueExpenseType, r.ChangeAmount, r.TradeID})
				}
				return debit, credit
			}
			md, mc := collect()
			switch mode {
			case RecordsTransID:
				if want := []rec{{TradeTransferIn, Expense, "10.00", "rec-cash-in"}, {TradeRetrieve, Revenue, "3.00", "rec-cash-out"}}; !slices.Equal(md, want) {
					t.Errorf("master debit records %+v, want %+v", md, want)
				}
				if want := []rec{{TradeTransferIn, Expense, "20.00", "rec-credit-in"}, {TradeRetrieve, Revenue, "4.00", "rec-credit-out"}}; !slices.Equal(mc, want) {
					t.Errorf("master credit records %+v, want %+v", mc, want)
				}
			case RecordsOwnID:
				all := append(slices.Clone(md), mc...)
				if len(all) != 4 {
					t.Fatalf("master records %+v", all)
				}
				ids := map[string]bool{}
				for _, r := range all {
					if r.tradeID == "" || slices.Contains(transIDs, r.tradeID) || ids[r.tradeID] {
						t.Errorf("master record %+v: trade_id is not BSS's own", r)
					}
					ids[r.tradeID] = true
				}
				if md[0].amount != "10.00" || md[1].amount != "3.00" || mc[0].amount != "20.00" || mc[1].amount != "4.00" {
					t.Errorf("master records %+v %+v", md, mc)
				}
				// Looking a transfer up by its trans_id finds nothing.
				r := e.call("GET", "/v2/accounts/customer-accounts/account-change-records", url.Values{"balance_type": {BalanceTypeDebit}, "trade_id": {"rec-cash-in"}}, nil)
				if !strings.Contains(string(r.body), `"records":[]`) {
					t.Errorf("records by trade_id = %s", r.body)
				}
			case RecordsNone:
				if len(md) != 0 || len(mc) != 0 {
					t.Errorf("master records %+v %+v", md, mc)
				}
			}

			// The sub-account's own records are the same in every mode.
			e.as, e.domain = sign.Credentials{AccessKey: subAK, SecretKey: subSK}, a
			sd, sc := collect()
			if want := []rec{{TradeTransferIn, Revenue, "10.00", "rec-cash-in"}, {TradeRetrieve, Expense, "3.00", "rec-cash-out"}}; !slices.Equal(sd, want) {
				t.Errorf("sub debit records %+v, want %+v", sd, want)
			}
			if want := []rec{{TradeTransferIn, Revenue, "20.00", "rec-credit-in"}, {TradeRetrieve, Expense, "4.00", "rec-credit-out"}}; !slices.Equal(sc, want) {
				t.Errorf("sub credit records %+v, want %+v", sc, want)
			}
			e.checkInvariants()
		})
	}
}

func TestReclaimable(t *testing.T) {
	const a, b = "cust-team-a-0001", "cust-team-b-0001"
	avail := func(e *env, sub string) string {
		t.Helper()
		r := e.call("GET", ma+"retrieve-amount", url.Values{"sub_customer_id": {sub}, "balance_type": {BalanceTypeDebit}}, nil)
		expect(t, r, 200, "")
		var got struct {
			AmountInfos []struct {
				Avail json.Number `json:"avail_retrieve_amount"`
			} `json:"amount_infos"`
		}
		r.decode(t, &got)
		if len(got.AmountInfos) != 1 {
			t.Fatalf("retrieve-amount = %s", r.body)
		}
		return got.AmountInfos[0].Avail.String()
	}
	check := func(e *env) {
		t.Helper()
		if r := e.admin("GET", "/_sim/check", nil); string(r.body) != `{"ok":true,"errors":[]}` {
			t.Errorf("check = %s", r.body)
		}
	}

	t.Run(ReclaimableFunded, func(t *testing.T) {
		e := newEnv(t, nil, Options{Behaviour: Behaviour{Reclaimable: ReclaimableFunded}})
		// team-a: 1000.00 reclaimable and 200.00 of its own.
		if got := avail(e, a); got != "1000.00" {
			t.Errorf("avail_retrieve_amount = %s", got)
		}
		expect(t, e.reclaim(a, "1000.01", "f-1", nil), 400, CodeInsufficientBalance)
		expect(t, e.reclaim(a, "1000.00", "f-2", nil), 204, "")
		if s := e.sub(a); !s.ReclaimableCash.IsZero() || s.SelfFundedCash != amt("200.00") {
			t.Errorf("team-a %+v", s)
		}
		if got := avail(e, a); got != "0.00" {
			t.Errorf("avail_retrieve_amount = %s", got)
		}
		if l := e.sim.Ledger(); len(l) != 1 || !l[0].SelfFunded.IsZero() {
			t.Errorf("ledger = %+v", l)
		}
		check(e)
	})

	t.Run(ReclaimableTotal, func(t *testing.T) {
		e := newEnv(t, nil, Options{Behaviour: Behaviour{Reclaimable: ReclaimableTotal}})
		masterCash := e.master().Cash
		if got := avail(e, a); got != "1200.00" {
			t.Errorf("avail_retrieve_amount = %s", got)
		}
		expect(t, e.reclaim(a, "1200.01", "t-1", nil), 400, CodeInsufficientBalance)
		// Reclaimable cash first, then the sub-account's own.
		expect(t, e.reclaim(a, "1100.00", "t-2", nil), 204, "")
		if s := e.sub(a); !s.ReclaimableCash.IsZero() || s.SelfFundedCash != amt("100.00") {
			t.Errorf("team-a %+v", s)
		}
		if got := avail(e, a); got != "100.00" {
			t.Errorf("avail_retrieve_amount = %s", got)
		}
		expect(t, e.reclaim(a, "100.00", "t-3", nil), 204, "")
		if s := e.sub(a); !s.Cash.IsZero() {
			t.Errorf("team-a %+v", s)
		}
		if got := e.master().Cash; got != masterCash.Add(amt("1200.00")) {
			t.Errorf("master cash %s", got)
		}
		l := e.sim.Ledger()
		if len(l) != 2 || l[0].SelfFunded != amt("100.00") || l[1].SelfFunded != amt("100.00") {
			t.Errorf("ledger = %+v", l)
		}
		check(e)

		// A top-up of its own through /_sim/funds, then a transfer: a
		// reclaim takes the transfer first and the top-up after it.
		expect(t, e.admin("POST", "/_sim/funds", map[string]any{"customer_id": b, "amount": "50.00"}), 200, "")
		expect(t, e.transfer(b, "20.00", "t-4", nil), 204, "")
		if got := avail(e, b); got != "70.00" {
			t.Errorf("team-b avail_retrieve_amount = %s", got)
		}
		expect(t, e.reclaim(b, "30.00", "t-5", nil), 204, "")
		if s := e.sub(b); !s.ReclaimableCash.IsZero() || s.SelfFundedCash != amt("40.00") {
			t.Errorf("team-b %+v", s)
		}
		if l := e.sim.Ledger(); l[len(l)-1].SelfFunded != amt("10.00") {
			t.Errorf("last ledger entry %+v", l[len(l)-1])
		}
		check(e)

		// Credit reclaims are unaffected.
		expect(t, e.reclaim("cust-team-c-0001", "500.01", "t-6", map[string]any{"balance_type": BalanceTypeCredit,
			"expire_time": fmtTime(*e.sim.Snapshot().SubAccounts[2].CreditLedgers[0].ExpireTime)}), 400, CodeInsufficientBalance)

		// The same state under the funded behaviour: team-b's own 40.00
		// is not reclaimable.
		if err := e.sim.SetBehaviour(Behaviour{}); err != nil {
			t.Fatal(err)
		}
		if got := avail(e, b); got != "0.00" {
			t.Errorf("team-b avail_retrieve_amount = %s", got)
		}
		expect(t, e.reclaim(b, "0.01", "t-7", nil), 400, CodeInsufficientBalance)
		check(e)
	})
}

func TestReclaimTotalWithConsumption(t *testing.T) {
	// Consumption spends the sub-account's own cash first; what the master
	// may reclaim under "total" is what is left of both.
	const a = "cust-team-a-0001"
	st := DefaultStateAt(testNow)
	ten := amt("10.00")
	st.SubAccounts[0].ConsumptionRate = &ten
	e := newEnv(t, st, Options{Behaviour: Behaviour{Reclaimable: ReclaimableTotal}})
	e.sim.Advance(30 * time.Hour) // 300.00: the 100.00 sub-coupon, 200.00 of its own.
	if s := e.sub(a); s.Cash != amt("1000.00") || !s.SelfFundedCash.IsZero() {
		t.Fatalf("team-a %+v", s)
	}
	expect(t, e.reclaim(a, "1000.01", "c-1", nil), 400, CodeInsufficientBalance)
	expect(t, e.reclaim(a, "1000.00", "c-2", nil), 204, "")
	if l := e.sim.Ledger(); len(l) != 1 || !l[0].SelfFunded.IsZero() {
		t.Errorf("ledger = %+v", l)
	}
	e.checkInvariants()
}

package bsssim

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

func TestSpendCarriesFractions(t *testing.T) {
	tests := []struct {
		name      string
		rateFen   int64
		d         time.Duration
		carry     int64
		fen       int64
		wantCarry int64
	}{
		{"whole hour", 1000, time.Hour, 0, 1000, 0},
		{"half a fen", 1, 30 * time.Minute, 0, 0, int64(30 * time.Minute)},
		{"carry completes a fen", 1, 30 * time.Minute, int64(30 * time.Minute), 1, 0},
		{"a day at a large rate", 100_000_000_00, 24 * time.Hour, 0, 2_400_000_000_00, 0},
		{"zero rate", 0, time.Hour, 5, 0, 5},
		{"thirds", 100, 20 * time.Minute, 0, 33, int64(20*time.Minute) * 100 % int64(time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fen, carry := spend(tc.rateFen, tc.d, tc.carry)
			if fen != tc.fen || carry != tc.wantCarry {
				t.Errorf("spend = %d, %d; want %d, %d", fen, carry, tc.fen, tc.wantCarry)
			}
		})
	}
}

func TestConsumptionBillsInUTC8Cycles(t *testing.T) {
	// 2026-11-30 23:00 in UTC+8: one hour before the December bill cycle.
	now := time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC)
	st := DefaultStateAt(now)
	ten, thirty, zero := amt("10.00"), amt("30.00"), money.Zero
	st.SubAccounts[0].ConsumptionRate = &ten    // team-a: coupon 100, self 200, reclaimable 1000.
	st.SubAccounts[1].ConsumptionRate = &zero   // team-b: nothing.
	st.SubAccounts[2].ConsumptionRate = &thirty // team-c: credit 500.
	e := newEnv(t, st, Options{Now: func() time.Time { return now }})
	const a, c = "cust-team-a-0001", "cust-team-c-0001"

	e.sim.Advance(2 * time.Hour)
	bills := func(cycle, sub string) monthlySumRead {
		t.Helper()
		r := e.call("GET", "/v2/bills/customer-bills/monthly-sum", url.Values{"bill_cycle": {cycle}, "method": {"sub_customer"}, "sub_customer_id": {sub}, "limit": {"1000"}}, nil)
		expect(t, r, 200, "")
		var got monthlySumRead
		r.decode(t, &got)
		return got
	}
	nov := bills("2026-11", a)
	// The seeded current-cycle record (123.45 cash + 10.00 coupon) plus one
	// hour paid from the sub-coupon; the seeded yearly/monthly record is
	// from the previous cycle.
	if nov.TotalCount != 1 || nov.BillSums[0].ConsumeAmount != "143.45" || nov.BillSums[0].CouponAmount != "20.00" || nov.BillSums[0].ChargingMode != 3 {
		t.Errorf("November: %+v", nov)
	}
	dec := bills("2026-12", a)
	if dec.TotalCount != 1 || dec.BillSums[0].ConsumeAmount != "10.00" || dec.BillSums[0].CouponAmount != "10.00" || dec.BillSums[0].AccountName != "team-a" {
		t.Errorf("December: %+v", dec)
	}

	// 10 more hours: 80.00 of coupon, then 20.00 of self-funded cash.
	e.sim.Advance(10 * time.Hour)
	if b := e.sub(a); b.Coupons != 0 || b.SelfFundedCash != amt("180.00") || b.ReclaimableCash != amt("1000.00") {
		t.Errorf("team-a after 12h: %+v", b)
	}
	// A day more: 180.00 self-funded, then 60.00 reclaimable.
	e.sim.Advance(24 * time.Hour)
	if b := e.sub(a); b.SelfFundedCash != 0 || b.ReclaimableCash != amt("940.00") {
		t.Errorf("team-a after 36h: %+v", b)
	}
	dec = bills("2026-12", a)
	if s := dec.BillSums[0]; s.ConsumeAmount != "350.00" || s.CouponAmount != "90.00" || s.CashAmount != "260.00" || s.DebtAmount != "0.00" {
		t.Errorf("team-a December: %+v", s)
	}
	// team-c: 30.00 of credit in November, then the rest of its 500.00 and
	// debt for what credit could not cover.
	if s := bills("2026-11", c).BillSums[0]; s.CreditAmount != "30.00" || s.ConsumeAmount != "30.00" {
		t.Errorf("team-c November: %+v", s)
	}
	if s := bills("2026-12", c).BillSums[0]; s.CreditAmount != "470.00" || s.DebtAmount != "580.00" || s.ConsumeAmount != "1050.00" {
		t.Errorf("team-c December: %+v", s)
	}
	if m := e.master(); m.Totals.Consumed != amt("860.00") {
		t.Errorf("consumed = %s", m.Totals.Consumed)
	}
	// Daily deduction records for the cash spent, in UTC+8 dates.
	st2 := e.sim.Snapshot()
	var days []string
	for _, r := range st2.ChangeRecords {
		if r.CustomerID == a && r.TradeType == TradeDeduct {
			days = append(days, r.TradeTime.In(beijing).Format(time.DateOnly)+"="+r.ChangeAmount.String())
		}
	}
	if strings.Join(days, ",") != "2026-12-01=150.00,2026-12-02=110.00" {
		t.Errorf("deduction records %v", days)
	}
	e.checkInvariants()
}

func TestPersistenceRoundTrip(t *testing.T) {
	for _, name := range []string{"state.yaml", "state.json"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), name)
			opts := Options{PersistPath: path, ConsumptionRate: amt("2.00"), Seed: 5}
			e := newEnv(t, nil, opts)
			expect(t, e.transfer("cust-team-b-0001", "321.09", "p-1", nil), 204, "")
			expect(t, e.transfer("cust-team-b-0001", "50.00", "p-2", map[string]any{"balance_type": BalanceTypeCredit}), 204, "")
			expect(t, e.call("POST", ma+"transfer-coupon", nil, map[string]any{"customer_id": "cust-team-c-0001", "coupon_id": "CP2026110100001", "amount": "12.34", "trans_id": "p-3"}), 200, "")
			expect(t, e.admin("POST", "/_sim/funds", map[string]any{"amount": "5000.00"}), 200, "")
			expect(t, e.admin("POST", "/_sim/advance", map[string]any{"duration": "5h"}), 200, "")
			before := e.sim.Snapshot()
			// Written on every change, before Close.
			loaded, err := LoadState(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(loaded.Ledger) != 3 || loaded.Masters[0].Cash != before.Masters[0].Cash {
				t.Errorf("file lags behind: %d ledger entries, cash %s", len(loaded.Ledger), loaded.Masters[0].Cash)
			}
			if err := e.sim.Close(); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(name, ".json") != strings.HasPrefix(string(raw), "{") {
				t.Errorf("%s has the wrong format", name)
			}
			loaded, err = LoadState(path)
			if err != nil {
				t.Fatal(err)
			}
			e2 := newEnv(t, loaded, Options{ConsumptionRate: amt("2.00"), Seed: 5})
			if !e2.sim.Now().Equal(e.sim.Now()) {
				t.Errorf("simulated time %s, want %s", e2.sim.Now(), e.sim.Now())
			}
			for _, id := range []string{"cust-team-a-0001", "cust-team-b-0001", "cust-team-c-0001"} {
				b1, b2 := e.sub(id), e2.sub(id)
				if b1.Cash != b2.Cash || b1.Credit != b2.Credit || b1.Coupons != b2.Coupons || b1.ReclaimableCash != b2.ReclaimableCash {
					t.Errorf("%s: %+v after restart, want %+v", id, b2, b1)
				}
			}
			m1, m2 := e.master(), e2.master()
			if m1.Cash != m2.Cash || m1.Totals.Added != m2.Totals.Added || m1.Totals.Consumed != m2.Totals.Consumed || *m1.Totals.Seeded != *m2.Totals.Seeded {
				t.Errorf("master %+v after restart, want %+v", m2, m1)
			}
			if m2.Totals.Consumed.IsZero() {
				t.Error("nothing was consumed")
			}
			s1, s2 := e.sim.Snapshot(), e2.sim.Snapshot()
			if len(s2.Costs) != len(s1.Costs) || len(s2.Packages) != len(s1.Packages) || len(s1.Packages) == 0 ||
				s2.Packages[1].FreeResources[0].UsedAmount != s1.Packages[1].FreeResources[0].UsedAmount ||
				s2.Masters[0].Deposit != s1.Masters[0].Deposit || s2.Costs[len(s2.Costs)-1] != s1.Costs[len(s1.Costs)-1] {
				t.Errorf("costs and packages after restart differ: %d/%d cost records, %d/%d packages", len(s2.Costs), len(s1.Costs), len(s2.Packages), len(s1.Packages))
			}
			expect(t, e2.transfer("cust-team-b-0001", "321.09", "p-1", nil), 400, CodeDuplicateTransID)
			e2.checkInvariants()
		})
	}
}

func TestNewRejectsBrokenState(t *testing.T) {
	tests := map[string]func(st *State){
		"no master":       func(st *State) { st.Masters = nil },
		"duplicate sub":   func(st *State) { st.SubAccounts = append(st.SubAccounts, st.SubAccounts[0]) },
		"unknown org":     func(st *State) { st.SubAccounts[0].OrgID = "42" },
		"orphan coupon":   func(st *State) { st.SubCoupons[0].ParentCouponID = "nope" },
		"negative cash":   func(st *State) { st.Masters[0].Cash = -1 },
		"two permanent":   func(st *State) { st.Masters[0].CreditLedgers = append(st.Masters[0].CreditLedgers, CreditLedger{}) },
		"wrong seeded":    func(st *State) { st.Masters[0].Totals.Seeded = new(amt("1.00")) },
		"duplicate trans": func(st *State) { st.Ledger = []LedgerEntry{ledgerFixture(), ledgerFixture()} },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			st := DefaultStateAt(testNow)
			mutate(st)
			if _, err := New(st, Options{}); err == nil {
				t.Error("New accepted a broken state")
			}
		})
	}
	if _, err := LoadState(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("LoadState of a missing file succeeded")
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("masters: []\nunknown_field: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(bad); err == nil {
		t.Error("LoadState accepted an unknown field")
	}
}

func ledgerFixture() LedgerEntry {
	return LedgerEntry{TransID: "t", Operation: OpTransferAmount, DomainID: DefaultDomainID, CustomerID: "cust-team-a-0001", Amount: amt("1.00")}
}

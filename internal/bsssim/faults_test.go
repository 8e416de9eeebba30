package bsssim

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

func TestFaultErrorBeforeCommit(t *testing.T) {
	e := newEnv(t, nil, Options{Faults: Faults{ErrorRate: 1}})
	const a = "cust-team-a-0001"
	r := e.transfer(a, "10.00", "ebc-1", nil)
	expect(t, r, 500, CodeInternal)
	expect(t, e.call("GET", ma+"transfer-amount", url.Values{"balance_type": {BalanceTypeDebit}}, nil), 500, CodeInternal)
	// Faults never touch the admin API.
	expect(t, e.admin("GET", "/_sim/state", nil), 200, "")
	if len(e.sim.Ledger()) != 0 || e.sub(a).ReclaimableCash != amt("1000.00") || e.master().Cash != amt("100000.00") {
		t.Fatal("an error before commit applied something")
	}
	if err := e.sim.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	expect(t, e.transfer(a, "10.00", "ebc-1", nil), 204, "")
	if e.sub(a).ReclaimableCash != amt("1010.00") {
		t.Error("the retry did not apply")
	}
	e.checkInvariants()
}

func TestFaultLostResponseAfterCommit(t *testing.T) {
	e := newEnv(t, nil, Options{Seed: 3, Faults: Faults{LostResponseRate: 1}})
	const a = "cust-team-a-0001"
	modes := map[string]int{}
	const n = 12
	for i := range n {
		r := e.transfer(a, "1.00", fmt.Sprintf("lost-%d", i), nil)
		switch {
		case r.err != nil:
			modes["closed"]++
		case r.status == 500 && r.code() == CodeInternal:
			modes["500"]++
		default:
			t.Fatalf("attempt %d: got %d %s", i, r.status, r.body)
		}
	}
	if modes["closed"] == 0 || modes["500"] == 0 {
		t.Errorf("modes = %v, want both", modes)
	}
	// Coupon writes lose their response too, after carving.
	r := e.call("POST", ma+"transfer-coupon", nil, map[string]any{"customer_id": a, "coupon_id": "CP2026110100003", "amount": "5.00", "trans_id": "lost-coupon"})
	if r.err == nil && r.status != 500 {
		t.Errorf("coupon transfer: got %d %s", r.status, r.body)
	}
	if got := len(e.sim.Ledger()); got != n+1 {
		t.Fatalf("ledger has %d entries, want %d", got, n+1)
	}
	if err := e.sim.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		expect(t, e.transfer(a, "1.00", fmt.Sprintf("lost-%d", i), nil), 400, CodeDuplicateTransID)
	}
	expect(t, e.call("POST", ma+"transfer-coupon", nil, map[string]any{"customer_id": a, "coupon_id": "CP2026110100003", "amount": "5.00", "trans_id": "lost-coupon"}), 400, CodeDuplicateTransID)
	if got := e.sub(a).ReclaimableCash; got != amt("1012.00") {
		t.Errorf("reclaimable = %s, want exactly once per trans_id", got)
	}
	if got := len(e.sim.Ledger()); got != n+1 {
		t.Errorf("ledger has %d entries after resends", got)
	}
	e.checkInvariants()
}

func TestFaultLatencyMakesConcurrentWriteBusy(t *testing.T) {
	e := newEnv(t, nil, Options{Faults: Faults{Latency: Duration(400 * time.Millisecond)}})
	var wg sync.WaitGroup
	var first resp
	var took time.Duration
	wg.Go(func() {
		start := time.Now()
		first = e.send(http.MethodPost, ma+"transfer-amount", nil, []byte(`{"customer_id":"cust-team-a-0001","amount":"5.00","trans_id":"slow-1"}`))
		took = time.Since(start)
	})
	testenv.Eventually(t, 2*time.Second, "the slow write holds the master", func() bool {
		e.sim.mu.Lock()
		defer e.sim.mu.Unlock()
		return e.sim.busy[DefaultDomainID]
	}, nil)
	second := e.transfer("cust-team-b-0001", "5.00", "slow-2", nil)
	expect(t, second, 400, CodeBusy)
	wg.Wait()
	expect(t, first, 204, "")
	if took < 400*time.Millisecond {
		t.Errorf("the slow write took %s", took)
	}
	// The busy write did not burn its trans_id.
	expect(t, e.transfer("cust-team-b-0001", "5.00", "slow-2", nil), 204, "")
	if len(e.sim.Ledger()) != 2 {
		t.Errorf("ledger = %+v", e.sim.Ledger())
	}
	e.checkInvariants()
}

func TestFaultThrottlingStorm(t *testing.T) {
	const storm = 600 * time.Millisecond
	e := newEnv(t, nil, Options{Faults: Faults{StormDuration: Duration(storm)}})
	r := e.call("GET", "/v2/accounts/customer-accounts/balances", nil, nil)
	expect(t, r, 429, CodeThrottled)
	if r.errBody().RequestID == "" || r.errBody().RequestID != r.header.Get("X-Request-Id") {
		t.Errorf("429 body %s", r.body)
	}
	expect(t, e.transfer("cust-team-a-0001", "1.00", "storm-1", nil), 429, CodeThrottled)
	expect(t, e.admin("GET", "/_sim/faults", nil), 200, "")
	// The storm lasts StormDuration of real time; its end is what is tested.
	time.Sleep(storm + 50*time.Millisecond)
	expect(t, e.transfer("cust-team-a-0001", "1.00", "storm-1", nil), 204, "")

	// A storm with a lowered rate.
	if err := e.sim.SetFaults(Faults{StormDuration: Duration(10 * time.Second), StormRate: 2}); err != nil {
		t.Fatal(err)
	}
	ok, limited := 0, 0
	start := time.Now()
	for range 6 {
		r := e.call("GET", ma+"transfer-coupons", nil, nil)
		switch r.status {
		case 200:
			ok++
		case 429:
			limited++
			if !strings.Contains(r.errBody().ErrorMsg, "limit:2,time:1 second") {
				t.Errorf("429 message %q", r.errBody().ErrorMsg)
			}
		}
	}
	if maxOK := 2 + int(math.Ceil(time.Since(start).Seconds()*2)); ok < 2 || ok > maxOK || ok+limited != 6 {
		t.Errorf("ok=%d limited=%d under a storm rate of 2/s", ok, limited)
	}
}

func TestThrottleHoldsRate(t *testing.T) {
	const rate = 5
	e := newEnv(t, nil, Options{ThrottlePerSecond: rate})
	ok, limited := 0, 0
	start := time.Now()
	for range 25 {
		r := e.call("GET", "/v2/accounts/customer-accounts/balances", nil, nil)
		switch r.status {
		case 200:
			ok++
		case 429:
			limited++
			want := `{"error_code":"APIG.0308","error_msg":"The throttling threshold has been reached: policy user over ratelimit,limit:5,time:1 second","request_id":"` + r.header.Get("X-Request-Id") + `"}`
			if string(r.body) != want {
				t.Errorf("429 body %s", r.body)
			}
		default:
			t.Fatalf("got %d %s", r.status, r.body)
		}
	}
	elapsed := time.Since(start)
	maxOK := rate + int(math.Ceil(elapsed.Seconds()*rate))
	if ok < rate || ok > maxOK || limited != 25-ok {
		t.Errorf("ok=%d limited=%d in %s, want between %d and %d ok", ok, limited, elapsed, rate, maxOK)
	}
	// Buckets are per API.
	expect(t, e.call("GET", "/v2/orders/customer-orders", nil, nil), 200, "")
	// Tokens refill at the rate, in real time: letting two tokens' worth
	// pass is what is tested.
	time.Sleep(time.Second / rate * 2)
	expect(t, e.call("GET", "/v2/accounts/customer-accounts/balances", nil, nil), 200, "")
	// The admin API can raise the rate.
	expect(t, e.admin("POST", "/_sim/faults", map[string]any{"throttle_per_second": 1000}), 200, "")
	for range 20 {
		expect(t, e.call("GET", ma+"transfer-coupons", nil, nil), 200, "")
	}
}

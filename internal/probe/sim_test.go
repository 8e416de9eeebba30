package probe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/probe"
)

// The test sub-account, with keys of its own.
const (
	subID = "cust-probe-0001"
	subAK = "PROBESUBAK0000000001"
	subSK = "probeSubSecretKey000000000000000000000000"
)

// simEnv is a bsssim simulator in-process behind a loopback HTTP server,
// driven like the real binary: over the BSS API and /_sim/.
type simEnv struct {
	t    *testing.T
	sim  *bsssim.Sim
	srv  *httptest.Server
	hook atomic.Pointer[func(d time.Duration)] // runs after each simulated sleep
	// writes counts the money writes the simulator received.
	writes atomic.Int64
}

// newSimEnv starts a simulator from the default seed plus the test
// sub-account (10.00 from the master, own top-up ownCash unless zero) and
// sets its behaviour over /_sim/behaviour.
func newSimEnv(t *testing.T, b bsssim.Behaviour, ownCash string) *simEnv {
	t.Helper()
	sim, err := bsssim.New(bsssim.DefaultState(), bsssim.Options{Seed: 7, ThrottlePerSecond: -1})
	if err != nil {
		t.Fatal(err)
	}
	e := &simEnv{t: t, sim: sim}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && !bytes.HasPrefix([]byte(r.URL.Path), []byte("/_sim/")) {
			e.writes.Add(1)
		}
		sim.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	e.admin(http.MethodPost, "/_sim/subaccounts", map[string]any{"id": subID, "name": "probe-sub", "access_key": subAK, "secret_key": subSK}, nil)
	e.admin(http.MethodPost, "/_sim/behaviour", b, nil)
	if err := e.client(bsssim.DefaultAccessKey, bsssim.DefaultSecretKey, bsssim.DefaultDomainID).TransferAmount(context.Background(),
		bss.AmountTransferRequest{CustomerID: subID, Amount: money.MustParse("10.00"), TransID: "setup-funding-0001"}); err != nil {
		t.Fatalf("funding the test sub-account: %v", err)
	}
	if ownCash != "" {
		e.admin(http.MethodPost, "/_sim/funds", map[string]any{"customer_id": subID, "amount": ownCash}, nil)
	}
	e.writes.Store(0)
	return e
}

// admin sends an unsigned /_sim/ request and decodes the answer.
func (e *simEnv) admin(method, path string, in, out any) {
	e.t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// sleep is the probe's Sleep: it advances the simulator's time instead.
func (e *simEnv) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, _ := json.Marshal(map[string]string{"duration": d.String()})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/_sim/advance", bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("advance %s: %s", d, resp.Status)
	}
	if h := e.hook.Load(); h != nil {
		(*h)(d)
	}
	return ctx.Err()
}

// client is a BSS client for the simulator, fast enough for tests.
func (e *simEnv) client(ak, sk, domain string) *bss.Client {
	return e.clientWith(ak, sk, domain, nil, nil)
}

func (e *simEnv) clientWith(ak, sk, domain string, hc *http.Client, now func() time.Time) *bss.Client {
	e.t.Helper()
	c, err := bss.New(bss.Config{Endpoint: e.srv.URL, Credentials: sign.Credentials{AccessKey: ak, SecretKey: sk}, DomainID: domain,
		HTTPClient: hc, RequestsPerSecond: 10000, Burst: 100, Now: now,
		ReadRetry: bss.RetryPolicy{MaxAttempts: 1}})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// options are the probe's options against the simulator: the master, the
// test sub-account with its own keys, a ServerWatch and simulated sleeps.
func (e *simEnv) options(move bool) probe.Options {
	hc := bss.DefaultHTTPClient(10 * time.Second)
	watch := &bss.ServerWatch{Next: hc.Transport}
	hc.Transport = watch
	return probe.Options{
		Master:        e.clientWith(bsssim.DefaultAccessKey, bsssim.DefaultSecretKey, bsssim.DefaultDomainID, hc, nil),
		Sub:           e.clientWith(subAK, subSK, subID, hc, nil),
		SubCustomerID: subID, Endpoint: e.srv.URL, Watch: watch, MoveMoney: move,
		RetentionWindow: 10 * time.Minute, RetentionChecks: 4, Sleep: e.sleep,
	}
}

// balances are the simulator's own figures for the master and the sub.
type simBalances struct {
	masterCash, subReclaimable, subOwn money.Amount
}

func (e *simEnv) balances() simBalances {
	e.t.Helper()
	m, _ := e.sim.Master("")
	s, ok := e.sim.SubAccount(subID)
	if !ok {
		e.t.Fatal("no test sub-account")
	}
	return simBalances{masterCash: m.Cash, subReclaimable: s.ReclaimableCash, subOwn: s.SelfFundedCash}
}

// checkClean fails unless /_sim/check reports a consistent ledger.
func (e *simEnv) checkClean() {
	e.t.Helper()
	var c struct {
		OK     bool     `json:"ok"`
		Errors []string `json:"errors"`
	}
	e.admin(http.MethodGet, "/_sim/check", nil, &c)
	if !c.OK {
		e.t.Errorf("/_sim/check: %v", c.Errors)
	}
}

package bsssim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// testNow is a fixed real clock for tests: 2026-11-27 20:00 in UTC+8.
var testNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// env is a simulator behind a real HTTP server.
type env struct {
	t   *testing.T
	sim *Sim
	srv *httptest.Server
	// as signs requests; the default master unless changed.
	as sign.Credentials
	// domain is sent as X-Domain-Id when not empty.
	domain string
}

// newEnv starts a simulator on st (DefaultStateAt(testNow) when nil) with
// the real clock pinned to testNow and throttling disabled unless opts say
// otherwise.
func newEnv(t *testing.T, st *State, opts Options) *env {
	t.Helper()
	if st == nil {
		st = DefaultStateAt(testNow)
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return testNow }
	}
	if opts.AuthNow == nil {
		opts.AuthNow = func() time.Time { return testNow }
	}
	if opts.ThrottlePerSecond == 0 {
		opts.ThrottlePerSecond = -1
	}
	sim, err := New(st, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return &env{t: t, sim: sim, srv: srv, as: sign.Credentials{AccessKey: DefaultAccessKey, SecretKey: DefaultSecretKey}, domain: DefaultDomainID}
}

// resp is a decoded response.
type resp struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func (r resp) code() string {
	var e errorBody
	if json.Unmarshal(r.body, &e) != nil {
		return ""
	}
	return e.ErrorCode
}

func (r resp) errBody() errorBody {
	var e errorBody
	_ = json.Unmarshal(r.body, &e)
	return e
}

func (r resp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// call sends a signed request. body is marshalled unless it is a string
// or []byte.
func (e *env) call(method, path string, query url.Values, body any) resp {
	e.t.Helper()
	var b []byte
	switch v := body.(type) {
	case nil:
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			e.t.Fatalf("marshal: %v", err)
		}
	}
	return e.send(method, path, query, b)
}

// send signs and sends a request without touching testing.T, so that
// other goroutines may use it.
func (e *env) send(method, path string, query url.Values, b []byte) resp {
	u := e.srv.URL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(context.Background(), method, u, bytes.NewReader(b))
	if err != nil {
		return resp{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	if e.domain != "" {
		req.Header.Set("X-Domain-Id", e.domain)
	}
	if err := sign.Sign(req, b, e.as, testNow); err != nil {
		return resp{err: err}
	}
	return do(req)
}

func do(req *http.Request) resp {
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return resp{err: err}
	}
	defer func() { _ = res.Body.Close() }()
	body, err := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: body, err: err}
}

// admin sends an unsigned admin request.
func (e *env) admin(method, path string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatalf("marshal: %v", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatalf("request: %v", err)
	}
	return do(req)
}

const ma = "/v2/enterprises/multi-accounts/"

func (e *env) transfer(customer, amount, transID string, extra map[string]any) resp {
	e.t.Helper()
	b := map[string]any{"customer_id": customer, "amount": amount, "trans_id": transID}
	for k, v := range extra {
		b[k] = v
	}
	return e.call(http.MethodPost, ma+"transfer-amount", nil, b)
}

func (e *env) reclaim(customer, amount, transID string, extra map[string]any) resp {
	e.t.Helper()
	b := map[string]any{"customer_id": customer, "amount": amount, "trans_id": transID}
	for k, v := range extra {
		b[k] = v
	}
	return e.call(http.MethodPost, ma+"retrieve-amount", nil, b)
}

// expect checks status and error code ("" for success).
func expect(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("transport error: %v", r.err)
	}
	if r.status != status || (code != "" && r.code() != code) {
		t.Fatalf("got %d %s, want %d %s", r.status, r.body, status, code)
	}
}

func amt(s string) money.Amount { return money.MustParse(s) }

func (e *env) sub(id string) SubAccountBalances {
	e.t.Helper()
	b, ok := e.sim.SubAccount(id)
	if !ok {
		e.t.Fatalf("no sub-account %s", id)
	}
	return b
}

func (e *env) master() MasterBalances {
	e.t.Helper()
	m, ok := e.sim.Master("")
	if !ok {
		e.t.Fatal("no master")
	}
	return m
}

func (e *env) checkInvariants() {
	e.t.Helper()
	if err := e.sim.CheckConservation(); err != nil {
		e.t.Errorf("conservation: %v", err)
	}
	if err := e.sim.CheckLedger(); err != nil {
		e.t.Errorf("ledger: %v", err)
	}
	if err := e.sim.CheckCosts(); err != nil {
		e.t.Errorf("costs: %v", err)
	}
}

func ptrTime(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

package bss

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
)

const (
	testAK    = "TESTAKID00000000SECRETAK"
	testSK    = "test-secret-key-0123456789-NEVER-PRINT"
	testToken = "test-security-token-NEVER-PRINT-abcdef"
)

// recorded is one request as the test server saw it.
type recorded struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
	VerifyOK bool
	Verify   error
}

// fakeBSS is an httptest server that records requests, checks their
// signatures with sign.Verifier and answers with a per-test handler.
type fakeBSS struct {
	*httptest.Server
	t       *testing.T
	mu      sync.Mutex
	reqs    []recorded
	handler func(w http.ResponseWriter, r *http.Request, body []byte)
	now     func() time.Time
	secrets map[string]string
}

func newFakeBSS(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, body []byte)) *fakeBSS {
	t.Helper()
	f := &fakeBSS{t: t, handler: handler, now: time.Now, secrets: map[string]string{testAK: testSK}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeBSS) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	v := sign.Verifier{
		SecretKey: func(ak string) (string, bool) {
			f.mu.Lock()
			defer f.mu.Unlock()
			sk, ok := f.secrets[ak]
			return sk, ok
		},
		Now: f.now,
	}
	_, verr := v.Verify(r, body)
	f.mu.Lock()
	f.reqs = append(f.reqs, recorded{
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body, VerifyOK: verr == nil, Verify: verr,
	})
	f.mu.Unlock()
	if verr != nil {
		writeJSON(w, http.StatusUnauthorized, `{"error_code":"APIG.0301","error_msg":"Incorrect IAM authentication information: verify aksk signature fail"}`)
		return
	}
	if f.handler == nil {
		writeJSON(w, http.StatusOK, `{}`)
		return
	}
	f.handler(w, r, body)
}

func (f *fakeBSS) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func (f *fakeBSS) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// hangUp closes the connection without a response.
func hangUp(t *testing.T, w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		t.Error("response writer cannot hijack")
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	_ = conn.Close()
}

// fastRetry keeps retry tests quick.
var fastRetry = RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond, ThrottleDelay: time.Millisecond}

// newTestClient returns a client for f with fast retries and a generous rate.
func newTestClient(t *testing.T, f *fakeBSS, mutate ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		Endpoint:          f.URL,
		Credentials:       sign.Credentials{AccessKey: testAK, SecretKey: testSK},
		DomainID:          "domain-0001",
		RequestsPerSecond: 1000,
		Burst:             100,
		ReadRetry:         fastRetry,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// topLevelKeys returns the keys of a JSON object in document order.
func topLevelKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %q", b)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		key, ok := tok.(string)
		if !ok {
			t.Fatalf("unexpected token %v", tok)
		}
		keys = append(keys, key)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func asAPIError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *bss.Error, got %T: %v", err, err)
	}
	return e
}

package bsssim

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
)

type vectorFile struct {
	AK       string          `json:"ak"`
	SK       string          `json:"sk"`
	DomainID string          `json:"domain_id"`
	Requests []vectorRequest `json:"requests"`
}

type vectorRequest struct {
	Operation string            `json:"operation"`
	Method    string            `json:"method"`
	Path      string            `json:"path"`
	RawQuery  string            `json:"raw_query"`
	Headers   map[string]string `json:"headers"`
	Body      string            `json:"body"`
}

func loadVectors(t *testing.T) vectorFile {
	t.Helper()
	b, err := os.ReadFile("../../testdata/bss-sdk-requests.json")
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var v vectorFile
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("parse vectors: %v", err)
	}
	if len(v.Requests) != 16 {
		t.Fatalf("got %d vectors, want 16", len(v.Requests))
	}
	return v
}

// vectorState is the default seed at the vectors' date with their
// credentials and a credit ledger expiring at the vectors' expire_time.
func vectorState(t *testing.T, v vectorFile, at time.Time) *State {
	t.Helper()
	st := DefaultStateAt(at)
	if err := st.SetCredentials(v.AK, v.SK, v.DomainID); err != nil {
		t.Fatal(err)
	}
	st.Masters[0].CreditLedgers = append(st.Masters[0].CreditLedgers,
		CreditLedger{Line: amt("1000.00"), Balance: amt("1000.00"), ExpireTime: ptrTime("2027-03-28T14:45:38Z")})
	return st
}

func (v vectorRequest) httpRequest(t *testing.T, base string) *http.Request {
	t.Helper()
	u := base + v.Path
	if v.RawQuery != "" {
		u += "?" + v.RawQuery
	}
	req, err := http.NewRequestWithContext(context.Background(), v.Method, u, bytes.NewReader([]byte(v.Body)))
	if err != nil {
		t.Fatal(err)
	}
	for k, val := range v.Headers {
		req.Header.Set(k, val)
	}
	return req
}

func (v vectorRequest) date(t *testing.T) time.Time {
	t.Helper()
	d, err := time.Parse(sign.DateLayout, v.Headers["X-Sdk-Date"])
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSDKVectorsAccepted(t *testing.T) {
	v := loadVectors(t)
	first := v.Requests[0].date(t)
	var authNow atomic.Int64
	authNow.Store(first.UnixNano())
	e := newEnv(t, vectorState(t, v, first), Options{
		Seed:    7,
		AuthNow: func() time.Time { return time.Unix(0, authNow.Load()) },
		Now:     func() time.Time { return first },
	})
	want := map[string]int{
		"UpdateSubEnterpriseAmount":           http.StatusNoContent,
		"UpdateSubEnterpriseAmount/credit":    http.StatusNoContent,
		"ReclaimSubEnterpriseAmount":          http.StatusNoContent,
		"CreateSubEnterpriseAccount":          http.StatusNoContent,
		"ClaimEnterpriseMultiAccountCoupon":   http.StatusOK,
		"ReclaimEnterpriseMultiAccountCoupon": http.StatusOK,
	}
	for _, vr := range v.Requests {
		authNow.Store(vr.date(t).UnixNano())
		r := do(vr.httpRequest(t, e.srv.URL))
		if r.err != nil {
			t.Fatalf("%s: %v", vr.Operation, r.err)
		}
		status := http.StatusOK
		if s, ok := want[vr.Operation]; ok {
			status = s
		}
		if r.status != status {
			t.Errorf("%s: got %d %s, want %d", vr.Operation, r.status, r.body, status)
		}
		if r.header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", vr.Operation)
		}
		switch vr.Operation {
		case "ReclaimEnterpriseMultiAccountCoupon":
			var body map[string]string
			r.decode(t, &body)
			if body["real_retrieve_amout"] != "100.00" {
				t.Errorf("coupon reclaim returned %s", r.body)
			}
		case "ClaimEnterpriseMultiAccountCoupon":
			var body map[string]string
			r.decode(t, &body)
			if !strings.HasPrefix(body["sub_coupon_id"], "SCP") || body["sub_coupon_id"] == "SCP2026110100009" {
				t.Errorf("coupon transfer returned %s", r.body)
			}
		}
	}
	a := e.sub("cust-team-a-0001")
	// 1000.00 seeded + 1250.50 transferred - 99.99 reclaimed.
	if a.ReclaimableCash != amt("2150.51") {
		t.Errorf("team-a reclaimable cash = %s", a.ReclaimableCash)
	}
	if a.Credit != amt("300.00") || len(a.CreditLedgers) != 1 || !a.CreditLedgers[0].ExpireTime.Equal(*ptrTime("2027-03-28T14:45:38Z")) {
		t.Errorf("team-a credit = %s %+v", a.Credit, a.CreditLedgers)
	}
	if got := len(e.sim.Ledger()); got != 5 {
		t.Errorf("ledger has %d entries, want 5", got)
	}
	e.checkInvariants()

	t.Run("tampered", func(t *testing.T) {
		before := len(e.sim.Ledger())
		tamper := map[string]func(r *http.Request){
			"signature": func(r *http.Request) {
				h := r.Header.Get("Authorization")
				last := h[len(h)-1]
				repl := byte('0')
				if last == '0' {
					repl = '1'
				}
				r.Header.Set("Authorization", h[:len(h)-1]+string(repl))
			},
			"query":  func(r *http.Request) { r.URL.RawQuery += "&offset=1" },
			"date":   func(r *http.Request) { r.Header.Set("X-Sdk-Date", "20261127T121449Z") },
			"domain": func(r *http.Request) { r.Header.Set("X-Domain-Id", "0a1b2c3d4e5f60718293a4b5c6d7e8f0") },
			"agent":  func(r *http.Request) { r.Header.Set("User-Agent", "curl/8") },
			"noauth": func(r *http.Request) { r.Header.Del("Authorization") },
			"accesskey": func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), v.AK, "HPUAK4TESTVECTOR0002", 1))
			},
		}
		for _, vr := range v.Requests {
			authNow.Store(vr.date(t).UnixNano())
			for name, f := range tamper {
				req := vr.httpRequest(t, e.srv.URL)
				f(req)
				r := do(req)
				if r.status != http.StatusUnauthorized || r.code() != CodeAuthFailed || r.errBody().RequestID == "" {
					t.Errorf("%s/%s: got %d %s, want 401 %s", vr.Operation, name, r.status, r.body, CodeAuthFailed)
				}
			}
			if vr.Body != "" {
				req := vr.httpRequest(t, e.srv.URL)
				b := strings.Replace(vr.Body, ":", ": ", 1)
				req.Body = nopCloser{strings.NewReader(b)}
				req.ContentLength = int64(len(b))
				if r := do(req); r.status != http.StatusUnauthorized {
					t.Errorf("%s/body: got %d %s, want 401", vr.Operation, r.status, r.body)
				}
			}
		}
		// Outside the 15-minute window.
		vr := v.Requests[0]
		authNow.Store(vr.date(t).Add(16 * time.Minute).UnixNano())
		if r := do(vr.httpRequest(t, e.srv.URL)); r.status != http.StatusUnauthorized || !strings.Contains(r.errBody().ErrorMsg, "expired") {
			t.Errorf("skewed: got %d %s", r.status, r.body)
		}
		authNow.Store(vr.date(t).Add(14 * time.Minute).UnixNano())
		if r := do(vr.httpRequest(t, e.srv.URL)); r.status != http.StatusOK {
			t.Errorf("within skew: got %d %s", r.status, r.body)
		}
		if after := len(e.sim.Ledger()); after != before {
			t.Errorf("tampered requests changed the ledger: %d -> %d", before, after)
		}
	})
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

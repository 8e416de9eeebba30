package sign

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

type vectorFile struct {
	AK       string   `json:"ak"`
	SK       string   `json:"sk"`
	DomainID string   `json:"domain_id"`
	Requests []vector `json:"requests"`
}

type vector struct {
	Operation string            `json:"operation"`
	Method    string            `json:"method"`
	Path      string            `json:"path"`
	RawQuery  string            `json:"raw_query"`
	Host      string            `json:"host"`
	Headers   map[string]string `json:"headers"`
	Body      string            `json:"body"`
}

func loadVectors(t *testing.T) vectorFile {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "bss-sdk-requests.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(b, &vf); err != nil {
		t.Fatal(err)
	}
	if len(vf.Requests) != 16 {
		t.Fatalf("expected 16 vectors, got %d", len(vf.Requests))
	}
	return vf
}

func (v vector) httpRequest(t *testing.T) *http.Request {
	t.Helper()
	target := v.Path
	if v.RawQuery != "" {
		target += "?" + v.RawQuery
	}
	r := httptest.NewRequest(v.Method, target, strings.NewReader(v.Body))
	r.Host = v.Host
	for k, val := range v.Headers {
		r.Header.Set(k, val)
	}
	return r
}

func (v vector) date(t *testing.T) time.Time {
	d, err := time.Parse(DateLayout, v.Headers["X-Sdk-Date"])
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSignerReproducesSDKVectors(t *testing.T) {
	vf := loadVectors(t)
	for _, v := range vf.Requests {
		t.Run(v.Operation, func(t *testing.T) {
			r := v.httpRequest(t)
			want := r.Header.Get(HeaderAuthorization)
			r.Header.Del(HeaderAuthorization)
			if err := Sign(r, []byte(v.Body), Credentials{AccessKey: vf.AK, SecretKey: vf.SK}, v.date(t).Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if got := r.Header.Get(HeaderAuthorization); got != want {
				t.Errorf("Authorization\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestVerifierAcceptsVectorsAndRejectsTampering(t *testing.T) {
	vf := loadVectors(t)
	keys := func(ak string) (string, bool) {
		if ak == vf.AK {
			return vf.SK, true
		}
		return "", false
	}
	for _, v := range vf.Requests {
		t.Run(v.Operation, func(t *testing.T) {
			pinned := Verifier{SecretKey: keys, Now: func() time.Time { return v.date(t) }}
			check := func(name string, r *http.Request, body string, ver Verifier, wantErr error) {
				t.Helper()
				_, err := ver.Verify(r, []byte(body))
				if wantErr == nil && err != nil {
					t.Errorf("%s: rejected: %v", name, err)
				}
				if wantErr != nil && !errors.Is(err, wantErr) {
					t.Errorf("%s: err = %v, want %v", name, err, wantErr)
				}
				if err != nil && strings.Contains(err.Error(), vf.SK) {
					t.Errorf("%s: error leaks the secret key", name)
				}
			}
			check("original", v.httpRequest(t), v.Body, pinned, nil)

			if v.Body != "" {
				b := []byte(v.Body)
				b[len(b)/2] ^= 0x01
				check("body byte", v.httpRequest(t), string(b), pinned, ErrSignatureMismatch)
			}
			if v.RawQuery != "" {
				r := v.httpRequest(t)
				q := r.URL.Query()
				for k := range q {
					q.Set(k, q.Get(k)+"1")
					break
				}
				r.URL.RawQuery = q.Encode()
				check("query value", r, v.Body, pinned, ErrSignatureMismatch)
			}
			r := v.httpRequest(t)
			r.Header.Set("User-Agent", r.Header.Get("User-Agent")+"x")
			check("signed header", r, v.Body, pinned, ErrSignatureMismatch)

			r = v.httpRequest(t)
			r.URL.Path += "x"
			check("path", r, v.Body, pinned, ErrSignatureMismatch)

			wrongKey := Verifier{SecretKey: func(string) (string, bool) { return vf.SK + "x", true }, Now: pinned.Now}
			check("wrong key", v.httpRequest(t), v.Body, wrongKey, ErrSignatureMismatch)

			unknown := Verifier{SecretKey: func(string) (string, bool) { return "", false }, Now: pinned.Now}
			check("unknown access key", v.httpRequest(t), v.Body, unknown, ErrUnknownAccessKey)

			for _, skew := range []time.Duration{16 * time.Minute, -16 * time.Minute} {
				late := Verifier{SecretKey: keys, Now: func() time.Time { return v.date(t).Add(skew) }}
				check(fmt.Sprintf("skew %s", skew), v.httpRequest(t), v.Body, late, ErrSkew)
			}
			edge := Verifier{SecretKey: keys, Now: func() time.Time { return v.date(t).Add(15 * time.Minute) }}
			check("skew at the limit", v.httpRequest(t), v.Body, edge, nil)

			r = v.httpRequest(t)
			r.Header.Del(HeaderAuthorization)
			check("missing Authorization", r, v.Body, pinned, ErrMissingAuthorization)

			for _, bad := range []string{
				"Basic abc",
				"SDK-HMAC-SHA256 Access=AK",
				"SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date, Signature=zz",
				"SDK-HMAC-SHA256 Access=, SignedHeaders=x-sdk-date, Signature=" + strings.Repeat("a", 64),
				"SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date;host, Signature=" + strings.Repeat("a", 64),
				"SDK-HMAC-SHA256 Access=AK, Nonsense, Signature=" + strings.Repeat("a", 64),
			} {
				r = v.httpRequest(t)
				r.Header.Set(HeaderAuthorization, bad)
				check("malformed "+bad, r, v.Body, pinned, ErrMalformedAuthorization)
			}
			r = v.httpRequest(t)
			r.Header.Del(HeaderDate)
			check("missing date", r, v.Body, pinned, ErrMissingDate)
		})
	}
}

func TestSignAddsSecurityTokenAndRoundTrips(t *testing.T) {
	creds := Credentials{AccessKey: "AKEXAMPLE", SecretKey: "secret-key-value", SecurityToken: "token-value"}
	body := []byte(`{"customer_id":"c1","amount":"1.00"}`)
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:1/v2/enterprises/multi-accounts/transfer-amount?a=%E7%A0%94+x&b=2", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Domain-Id", "dom")
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	if err := Sign(r, body, creds, now); err != nil {
		t.Fatal(err)
	}
	auth, err := ParseAuthorization(r.Header.Get(HeaderAuthorization))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(auth.SignedHeaders, ";"); got != "x-domain-id;x-sdk-date;x-security-token" {
		t.Errorf("signed headers = %s", got)
	}
	v := Verifier{SecretKey: func(string) (string, bool) { return creds.SecretKey, true }, Now: func() time.Time { return now }}
	if ak, err := v.Verify(r, body); err != nil || ak != creds.AccessKey {
		t.Fatalf("Verify = %q, %v", ak, err)
	}
	r.Header.Set("X-Security-Token", "other")
	if _, err := v.Verify(r, body); !errors.Is(err, ErrSignatureMismatch) {
		t.Errorf("changed token verified: %v", err)
	}
	if s := fmt.Sprintf("%v %+v %#v %s", creds, creds, creds, creds); strings.Contains(s, creds.SecretKey) || strings.Contains(s, creds.SecurityToken) || strings.Contains(s, creds.AccessKey) {
		t.Errorf("credentials leak in formatting: %s", s)
	}
	if err := Sign(r, body, Credentials{AccessKey: "x"}, now); err == nil {
		t.Error("signing without a secret key succeeded")
	}
}

func TestCanonicalForms(t *testing.T) {
	if got := canonicalURI("/v2/a b/c"); got != "/v2/a%20b/c/" {
		t.Errorf("canonicalURI = %s", got)
	}
	if got := canonicalURI("/v2/x/"); got != "/v2/x/" {
		t.Errorf("canonicalURI keeps one slash: %s", got)
	}
	q := map[string][]string{"b": {"2", "1"}, "a": {"研 x/y"}}
	if got := canonicalQuery(q); got != "a=%E7%A0%94%20x%2Fy&b=1&b=2" {
		t.Errorf("canonicalQuery = %s", got)
	}
}

package bss

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
)

func TestServerWatchRecordsDateAndAddress(t *testing.T) {
	serverNow := time.Date(2026, 11, 27, 12, 0, 30, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Date", serverNow.Format(http.TimeFormat))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"account_balances":[],"debt_amount":0}`))
	}))
	defer srv.Close()

	local := serverNow.Add(-3 * time.Minute) // this machine is 3 minutes behind
	hc := DefaultHTTPClient(5 * time.Second)
	watch := &ServerWatch{Next: hc.Transport, Now: func() time.Time { return local }}
	hc.Transport = watch
	c, err := New(Config{Endpoint: srv.URL, Credentials: sign.Credentials{AccessKey: testAK, SecretKey: testSK}, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetAccountBalances(context.Background()); err != nil {
		t.Fatal(err)
	}
	rs := watch.Responses()
	if len(rs) != 1 {
		t.Fatalf("got %d responses, want 1", len(rs))
	}
	r := rs[0]
	if r.Method != http.MethodGet || r.Path != pathAccountBalances || r.Status != http.StatusOK {
		t.Errorf("recorded %s %s %d", r.Method, r.Path, r.Status)
	}
	if !strings.HasPrefix(r.RemoteAddr, "127.0.0.1:") {
		t.Errorf("RemoteAddr = %q, want the loopback server", r.RemoteAddr)
	}
	if r.TLSVersion != "" {
		t.Errorf("TLSVersion = %q for plain HTTP", r.TLSVersion)
	}
	skew, unc, ok := r.Skew()
	if !ok {
		t.Fatal("Skew: no Date recorded")
	}
	if want := 3*time.Minute + 500*time.Millisecond; skew != want || unc != 500*time.Millisecond {
		t.Errorf("Skew = %s ± %s, want %s ± 500ms", skew, unc, want)
	}
}

func TestServerResponseSkewWithoutDate(t *testing.T) {
	if _, _, ok := (ServerResponse{Sent: time.Now(), Received: time.Now()}).Skew(); ok {
		t.Error("Skew reported a value without a Date header")
	}
}

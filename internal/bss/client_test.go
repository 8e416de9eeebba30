package bss

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

func TestNewValidatesConfig(t *testing.T) {
	creds := sign.Credentials{AccessKey: testAK, SecretKey: testSK}
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"https", Config{Endpoint: "https://bss.myhuaweicloud.com", Credentials: creds}, true},
		{"http loopback with trailing slash", Config{Endpoint: "http://127.0.0.1:8080/", Credentials: creds}, true},
		{"empty", Config{Credentials: creds}, false},
		{"relative", Config{Endpoint: "bss.myhuaweicloud.com", Credentials: creds}, false},
		{"ftp", Config{Endpoint: "ftp://bss.myhuaweicloud.com", Credentials: creds}, false},
		{"user info", Config{Endpoint: "https://user:" + testSK + "@bss.myhuaweicloud.com", Credentials: creds}, false},
		{"path", Config{Endpoint: "https://bss.myhuaweicloud.com/v2", Credentials: creds}, false},
		{"query", Config{Endpoint: "https://bss.myhuaweicloud.com?x=1", Credentials: creds}, false},
		{"no secret key", Config{Endpoint: "https://bss.myhuaweicloud.com", Credentials: sign.Credentials{AccessKey: testAK}}, false},
		{"negative rate", Config{Endpoint: "https://bss.myhuaweicloud.com", Credentials: creds, RequestsPerSecond: -1}, false},
		{"negative retry", Config{Endpoint: "https://bss.myhuaweicloud.com", Credentials: creds, ReadRetry: RetryPolicy{MaxAttempts: -1}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), testSK) {
				t.Errorf("error echoes the secret: %v", err)
			}
			if c == nil {
				return
			}
			if c.retry != (RetryPolicy{DefaultMaxAttempts, DefaultBaseDelay, DefaultMaxDelay, DefaultThrottleDelay}) ||
				c.rps != DefaultRequestsPerSecond || c.burst != DefaultBurst || c.timeout != DefaultTimeout || c.userAgent != DefaultUserAgent {
				t.Errorf("defaults not applied: %+v", c.retry)
			}
			tr, ok := c.hc.Transport.(*http.Transport)
			if !ok || tr.ResponseHeaderTimeout == 0 || tr.TLSHandshakeTimeout == 0 || tr.TLSClientConfig == nil {
				t.Errorf("default HTTP client lacks timeouts")
			}
		})
	}
}

// TestReadRetries checks the read retry loop against scripted failures.
func TestReadRetries(t *testing.T) {
	ok := `{"account_balances":[],"debt_amount":0}`
	tests := []struct {
		name      string
		script    []func(t *testing.T, w http.ResponseWriter)
		wantCalls int
		wantErr   func(error) bool
	}{
		{
			name: "throttled then success",
			script: []func(*testing.T, http.ResponseWriter){
				func(_ *testing.T, w http.ResponseWriter) {
					writeJSON(w, 429, `{"error_code":"APIG.0308","error_msg":"The throttling threshold has been reached"}`)
				},
				func(_ *testing.T, w http.ResponseWriter) { writeJSON(w, 200, ok) },
			},
			wantCalls: 2,
		},
		{
			name: "transport error then CBC.99006017 then success",
			script: []func(*testing.T, http.ResponseWriter){
				func(t *testing.T, w http.ResponseWriter) { hangUp(t, w) },
				func(_ *testing.T, w http.ResponseWriter) { writeJSON(w, 400, `{"error_code":"CBC.99006017"}`) },
				func(_ *testing.T, w http.ResponseWriter) { writeJSON(w, 200, ok) },
			},
			wantCalls: 3,
		},
		{
			name: "5xx until attempts run out",
			script: []func(*testing.T, http.ResponseWriter){
				func(_ *testing.T, w http.ResponseWriter) { writeJSON(w, 500, `{"error_code":"CBC.0999"}`) },
			},
			wantCalls: fastRetry.MaxAttempts,
			wantErr:   func(err error) bool { return Code(err) == "CBC.0999" },
		},
		{
			name: "terminal code is not retried",
			script: []func(*testing.T, http.ResponseWriter){
				func(_ *testing.T, w http.ResponseWriter) { writeJSON(w, 400, `{"error_code":"CBC.0100"}`) },
			},
			wantCalls: 1,
			wantErr:   IsTerminal,
		},
		{
			name: "throttle hint above MaxDelay is returned to the caller",
			script: []func(*testing.T, http.ResponseWriter){
				func(_ *testing.T, w http.ResponseWriter) {
					w.Header().Set("Retry-After", "30")
					writeJSON(w, 429, `{"error_code":"APIG.0308"}`)
				},
			},
			wantCalls: 1,
			wantErr:   func(err error) bool { return IsThrottled(err) && RetryAfterHint(err) == 30*time.Second },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			f := newFakeBSS(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
				i := int(n.Add(1)) - 1
				tt.script[min(i, len(tt.script)-1)](t, w)
			})
			var mu sync.Mutex
			var infos []CallInfo
			c := newTestClient(t, f, func(cfg *Config) {
				cfg.Observer = ObserverFunc(func(ci CallInfo) { mu.Lock(); infos = append(infos, ci); mu.Unlock() })
			})
			_, err := c.GetAccountBalances(t.Context())
			if tt.wantErr == nil && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.wantErr != nil && !tt.wantErr(err) {
				t.Fatalf("unexpected error: %v", err)
			}
			if got := f.count(); got != tt.wantCalls {
				t.Errorf("server saw %d attempts, want %d", got, tt.wantCalls)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(infos) != tt.wantCalls {
				t.Fatalf("observer saw %d attempts, want %d", len(infos), tt.wantCalls)
			}
			for i, ci := range infos {
				if ci.Attempt != i+1 || ci.Operation != OpShowCustomerAccountBalances {
					t.Errorf("CallInfo %d = %+v", i, ci)
				}
			}
			if tt.name == "throttled then success" {
				if !infos[0].Throttled || infos[0].HTTPStatus != 429 || infos[0].Code != CodeThrottled || infos[1].Throttled || infos[1].HTTPStatus != 200 {
					t.Errorf("observer infos = %+v", infos)
				}
			}
		})
	}
}

// moneyAndPlainWrites are all writes; none may be retried in the client.
var allWrites = map[string]func(ctx context.Context, c *Client) error{
	"TransferAmount": func(ctx context.Context, c *Client) error {
		return c.TransferAmount(ctx, AmountTransferRequest{CustomerID: "sub1", Amount: money.Yuan(5), TransID: "tid-1"})
	},
	"ReclaimAmount": func(ctx context.Context, c *Client) error {
		return c.ReclaimAmount(ctx, AmountTransferRequest{CustomerID: "sub1", Amount: money.Yuan(5), TransID: "tid-2"})
	},
	"TransferCoupon": func(ctx context.Context, c *Client) error {
		_, err := c.TransferCoupon(ctx, CouponTransferRequest{CustomerID: "sub1", CouponID: "c", Amount: money.Yuan(5), TransID: "tid-3"})
		return err
	},
	"ReclaimCoupon": func(ctx context.Context, c *Client) error {
		_, err := c.ReclaimCoupon(ctx, CouponReclaimRequest{CustomerID: "sub1", CouponID: "c", SubCouponID: "s", TransID: "tid-4"})
		return err
	},
	"CreateSubCustomer": func(ctx context.Context, c *Client) error {
		return c.CreateSubCustomer(ctx, CreateSubCustomerRequest{PartyID: "1", NewSubCustomer: NewSubCustomer{CustomerName: "x", UsePriMobilePhone: "Y", Password: "longenough"}})
	},
	"SendSMSVerificationCode": func(ctx context.Context, c *Client) error {
		return c.SendSMSVerificationCode(ctx, SendSMSVerificationCodeRequest{MobilePhone: "1", TemplateArgs: []TemplateArg{{Key: TemplateArgSubCustomerName, Value: "x"}}})
	},
}

// TestWritesAreNeverRetried sends every write against every failure that
// a read would retry, and checks the server saw exactly one attempt and the
// error is classified as ambiguous.
func TestWritesAreNeverRetried(t *testing.T) {
	failures := map[string]func(t *testing.T, w http.ResponseWriter, r *http.Request){
		"500 CBC.0999": func(_ *testing.T, w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, 500, `{"error_code":"CBC.0999","error_msg":"unknown"}`)
		},
		"429 APIG.0308": func(_ *testing.T, w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, 429, `{"error_code":"APIG.0308","error_msg":"throttled"}`)
		},
		"connection dropped": func(t *testing.T, w http.ResponseWriter, _ *http.Request) { hangUp(t, w) },
		"attempt timeout": func(_ *testing.T, _ http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		},
	}
	for fname, fail := range failures {
		for wname, write := range allWrites {
			t.Run(fname+"/"+wname, func(t *testing.T) {
				t.Parallel()
				f := newFakeBSS(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { fail(t, w, r) })
				c := newTestClient(t, f, func(cfg *Config) { cfg.Timeout = 50 * time.Millisecond })
				err := write(t.Context(), c)
				if err == nil {
					t.Fatal("want an error")
				}
				if n := f.count(); n != 1 {
					t.Errorf("server saw %d attempts, want 1", n)
				}
				if !IsAmbiguousWrite(err) {
					t.Errorf("IsAmbiguousWrite(%v) = false", err)
				}
				if fname == "attempt timeout" {
					var te *TransportError
					if !errors.As(err, &te) || !te.Timeout || !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("want a timed-out *TransportError, got %T %v", err, err)
					}
				}
			})
		}
	}
}

func TestContextCancelledDuringBackoff(t *testing.T) {
	f := newFakeBSS(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		writeJSON(w, 503, `{"error_code":"CBC.0999"}`)
	})
	// The observer hears of the first answer just before the client backs
	// off: the cancellation lands as the 10 s backoff begins.
	answered := make(chan struct{}, 10)
	c := newTestClient(t, f, func(cfg *Config) {
		cfg.ReadRetry = RetryPolicy{MaxAttempts: 5, BaseDelay: 10 * time.Second, MaxDelay: 10 * time.Second, ThrottleDelay: time.Second}
		cfg.Observer = ObserverFunc(func(CallInfo) { answered <- struct{}{} })
	})
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-answered; cancel() }()
	start := time.Now()
	_, err := c.ListSubCustomers(ctx, ListSubCustomersRequest{})
	if time.Since(start) > 2*time.Second {
		t.Errorf("the backoff ignored the cancellation")
	}
	if !errors.Is(err, context.Canceled) || Code(err) != "CBC.0999" {
		t.Errorf("err = %v, want context.Canceled wrapping the last BSS error", err)
	}
	if n := f.count(); n != 1 {
		t.Errorf("server saw %d attempts, want 1", n)
	}
}

func TestBackoffNeverSleepsPastDeadline(t *testing.T) {
	f := newFakeBSS(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Retry-After", "5")
		writeJSON(w, 429, `{"error_code":"APIG.0308"}`)
	})
	c := newTestClient(t, f, func(cfg *Config) {
		cfg.ReadRetry = RetryPolicy{MaxAttempts: 5, BaseDelay: time.Millisecond, MaxDelay: 10 * time.Second, ThrottleDelay: time.Millisecond}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	// The 5 s hint ends after the deadline, so the client must not sleep at
	// all: it returns the throttled error for the caller to requeue.
	_, err := c.GetAccountBalances(ctx)
	if d := time.Since(start); d > time.Second {
		t.Errorf("waited %v although the retry could not happen before the deadline", d)
	}
	if !IsThrottled(err) || RetryAfterHint(err) != 5*time.Second || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the throttled error itself", err)
	}
	if n := f.count(); n != 1 {
		t.Errorf("server saw %d attempts, want 1", n)
	}
}

func TestContextEndsDuringRateLimitWait(t *testing.T) {
	f := newFakeBSS(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.Method == http.MethodGet {
			writeJSON(w, 200, `{"total_count":0}`)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	c := newTestClient(t, f, func(cfg *Config) { cfg.RequestsPerSecond, cfg.Burst = 0.5, 1 })
	req := AmountTransferRequest{CustomerID: "sub1", Amount: money.Yuan(1), TransID: "t1"}
	if err := c.TransferAmount(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := c.TransferAmount(ctx, req)
		if !errors.Is(err, context.DeadlineExceeded) || IsAmbiguousWrite(err) {
			t.Errorf("err = %v, want a non-ambiguous deadline error", err)
		}
		if time.Since(start) > time.Second {
			t.Errorf("waited past the deadline")
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(30*time.Millisecond, cancel)
		_, err := c.GetTransferableAmount(ctx, TransferableAmountRequest{BalanceType: BalanceTypeDebit})
		if err != nil {
			t.Fatalf("another operation has its own bucket and must not wait: %v", err)
		}
		err = c.TransferAmount(ctx, req)
		if !errors.Is(err, context.Canceled) || IsAmbiguousWrite(err) || IsRetryableRead(err) {
			t.Errorf("err = %v, want a non-ambiguous cancellation", err)
		}
	})
	if n := f.count(); n != 2 {
		t.Errorf("server saw %d requests, want 2", n)
	}
}

func TestRateLimiterPerOperation(t *testing.T) {
	f := newFakeBSS(t, nil)
	c := newTestClient(t, f, func(cfg *Config) { cfg.RequestsPerSecond, cfg.Burst = 20, 1 })
	orders1, orders2, sums := c.limiter(OpListCustomerOrders), c.limiter(OpListCustomerOrders), c.limiter(OpShowCustomerMonthlySum)
	if orders1 != orders2 || orders1 == sums {
		t.Fatal("limiters must be per operation")
	}
	start := time.Now()
	for range 3 {
		if _, err := c.GetAccountBalances(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Errorf("3 calls at 20/s with burst 1 took %v, want ≥ 100 ms", d)
	}
}

// TestMoneyWritesAreSerialized starts money writes concurrently and checks
// that the server never has two in flight, while reads are not blocked.
func TestMoneyWritesAreSerialized(t *testing.T) {
	var inFlight, maxInFlight atomic.Int32
	f := newFakeBSS(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.Method == http.MethodGet {
			writeJSON(w, 200, `{"total_count":0}`)
			return
		}
		n := inFlight.Add(1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		// Each write holds the line a while, so that writes the client let
		// through together would overlap here and show in maxInFlight.
		time.Sleep(30 * time.Millisecond)
		inFlight.Add(-1)
		switch r.URL.Path {
		case pathTransferCoupon:
			writeJSON(w, 200, `{"sub_coupon_id":"s"}`)
		case pathRetrieveCoupon:
			writeJSON(w, 200, `{"real_retrieve_amout":"1"}`)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	c := newTestClient(t, f)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 2 {
		for _, name := range []string{"TransferAmount", "TransferAmount", "ReclaimAmount", "TransferCoupon"} {
			wg.Go(func() { errs <- allWrites[name](t.Context(), c) })
		}
	}
	readStart := time.Now()
	if _, err := c.ListTransferableCoupons(t.Context(), 0, 10); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(readStart); d > 150*time.Millisecond {
		t.Errorf("a read waited %v behind money writes", d)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if m := maxInFlight.Load(); m != 1 {
		t.Errorf("max money writes in flight = %d, want 1", m)
	}
}

func TestMoneyWriteSlotRespectsContext(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	f := newFakeBSS(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		entered <- struct{}{}
		<-release
		w.WriteHeader(http.StatusNoContent)
	})
	c := newTestClient(t, f)
	first := make(chan error, 1)
	go func() { first <- allWrites["TransferAmount"](t.Context(), c) }()
	<-entered
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	err := allWrites["ReclaimAmount"](ctx, c)
	if !errors.Is(err, context.DeadlineExceeded) || IsAmbiguousWrite(err) {
		t.Errorf("err = %v, want a non-ambiguous deadline error", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := f.count(); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

// TestPagination checks the ListAll… helpers walk offsets by the page size
// until total_count and drop duplicates.
func TestPagination(t *testing.T) {
	page := func(r *http.Request, total int, item func(i int) string) string {
		off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		lim, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		var items []string
		for i := off; i < min(off+lim, total); i++ {
			items = append(items, item(i))
		}
		// Simulate a record shifting into the next page.
		if off > 0 && len(items) > 0 {
			items = append(items, item(off-1))
		}
		return strings.Join(items, ",")
	}
	t.Run("ListAllSubCustomers", func(t *testing.T) {
		f := newFakeBSS(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			if r.URL.Query().Get("org_id") != "42" || r.URL.Query().Get("limit") != "100" {
				t.Errorf("filters or limit lost: %s", r.URL.RawQuery)
			}
			writeJSON(w, 200, `{"total_count":250,"sub_customer_infos":[`+page(r, 250, func(i int) string { return fmt.Sprintf(`{"id":"s%d"}`, i) })+`]}`)
		})
		c := newTestClient(t, f)
		subs, err := c.ListAllSubCustomers(t.Context(), ListSubCustomersRequest{OrgID: "42", Offset: 7, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(subs) != 250 || subs[0].ID != "s0" || subs[249].ID != "s249" {
			t.Errorf("got %d subs", len(subs))
		}
		var offsets []string
		for _, r := range f.requests() {
			offsets = append(offsets, r.RawQuery)
		}
		if f.count() != 3 {
			t.Errorf("pages = %v", offsets)
		}
	})
	t.Run("TransferableCredit", func(t *testing.T) {
		f := newFakeBSS(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			if r.URL.Query().Get("balance_type") != BalanceTypeCredit {
				t.Errorf("query %s", r.URL.RawQuery)
			}
			writeJSON(w, 200, `{"total_count":150,"amount_infos":[`+page(r, 150, func(i int) string {
				return fmt.Sprintf(`{"avail_transfer_amount":"%d.01","expire_time":"2027-01-01T00:00:%02dZ"}`, i, i%60)
			})+`]}`)
		})
		c := newTestClient(t, f)
		ledgers, err := c.TransferableCredit(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		// No key for ledgers: the shifted duplicate is kept, as BSS sent it.
		if len(ledgers) != 151 || ledgers[149].Available != amt("149.01") || f.count() != 2 {
			t.Errorf("got %d ledgers in %d pages", len(ledgers), f.count())
		}
	})
	t.Run("ListAllOrders", func(t *testing.T) {
		f := newFakeBSS(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			if r.URL.Query().Get("order_by") != OrderByCreateTimeDesc {
				t.Errorf("ListAllOrders must sort: %s", r.URL.RawQuery)
			}
			writeJSON(w, 200, `{"total_count":101,"order_infos":[`+page(r, 101, func(i int) string {
				return fmt.Sprintf(`{"order_id":"o%d","amount_after_discount":%d.5}`, i, i)
			})+`]}`)
		})
		c := newTestClient(t, f)
		orders, err := c.ListAllOrders(t.Context(), ListOrdersRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(orders) != 101 || orders[100].AmountAfterDiscount != amt("100.50") {
			t.Errorf("got %d orders", len(orders))
		}
	})
	t.Run("ListAllMonthlySums", func(t *testing.T) {
		f := newFakeBSS(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			if r.URL.Query().Get("limit") != "1000" {
				t.Errorf("limit = %s", r.URL.Query().Get("limit"))
			}
			writeJSON(w, 200, `{"total_count":1500,"consume_amount":"9.99","bill_sums":[`+page(r, 1500, func(i int) string {
				return fmt.Sprintf(`{"customer_id":"c%d","consume_amount":0.011}`, i)
			})+`]}`)
		})
		c := newTestClient(t, f)
		sum, err := c.ListAllMonthlySums(t.Context(), MonthlySumRequest{BillCycle: "2026-11"})
		if err != nil {
			t.Fatal(err)
		}
		if len(sum.BillSums) != 1501 || sum.TotalCount != 1501 || sum.ConsumeAmount != amt("9.99") || f.count() != 2 {
			t.Errorf("got %d sums in %d pages", len(sum.BillSums), f.count())
		}
	})
	t.Run("coupons", func(t *testing.T) {
		f := newFakeBSS(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			if r.URL.Path == pathTransferCoupons {
				writeJSON(w, 200, `{"total_count":120,"avail_transfer_coupons":[`+page(r, 120, func(i int) string {
					return fmt.Sprintf(`{"coupon_id":"c%d","balance":"1"}`, i)
				})+`]}`)
				return
			}
			writeJSON(w, 200, `{"total_count":3,"avail_retrieve_coupons":[{"coupon_id":"c","sub_coupon_id":"a"},{"coupon_id":"c","sub_coupon_id":"b"},{"coupon_id":"c","sub_coupon_id":"a"}]}`)
		})
		c := newTestClient(t, f)
		coupons, err := c.ListAllTransferableCoupons(t.Context())
		if err != nil || len(coupons) != 120 {
			t.Errorf("transferable: %d, %v", len(coupons), err)
		}
		subs, err := c.ListAllReclaimableCoupons(t.Context(), "sub1")
		if err != nil || len(subs) != 2 {
			t.Errorf("reclaimable: %d, %v", len(subs), err)
		}
	})
	t.Run("error stops paging", func(t *testing.T) {
		f := newFakeBSS(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
			writeJSON(w, 400, `{"error_code":"CBC.99000047","error_msg":"not found"}`)
		})
		c := newTestClient(t, f)
		_, err := c.ReclaimableCredit(t.Context(), "ghost")
		if !IsSubAccountNotFound(err) || f.count() != 1 {
			t.Errorf("err = %v after %d calls", err, f.count())
		}
	})
}

// TestSecretsNeverLeak formats the Config and Client with every common verb
// and provokes every kind of error, including a server that echoes the
// request's credentials and signature back in its error message.
func TestSecretsNeverLeak(t *testing.T) {
	var mu sync.Mutex
	var authzs []string
	f := newFakeBSS(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		mu.Lock()
		authzs = append(authzs, r.Header.Get("Authorization"))
		mu.Unlock()
		switch r.URL.Path {
		case pathAccountBalances:
			hangUp(t, w)
		default:
			msg := "echo " + r.Header.Get("Authorization") + " token=" + r.Header.Get("X-Security-Token") + " sk=" + testSK
			writeJSON(w, 403, fmt.Sprintf(`{"error_code":"CBC.0151","error_msg":%q,"fail_check_items":[%q],"request_id":%q}`, msg, testSK, testAK))
		}
	})
	var infos []string
	cfg := Config{
		Endpoint:    f.URL,
		Credentials: sign.Credentials{AccessKey: testAK, SecretKey: testSK, SecurityToken: testToken},
		ReadRetry:   RetryPolicy{MaxAttempts: 1},
		Observer:    ObserverFunc(func(ci CallInfo) { infos = append(infos, fmt.Sprintf("%+v", ci)) }),
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
		texts = append(texts, fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, &cfg), fmt.Sprintf(verb, c), fmt.Sprintf(verb, []any{cfg, c}))
	}
	_, err1 := c.GetAccountBalances(t.Context()) // transport error
	err2 := c.TransferAmount(t.Context(), AmountTransferRequest{CustomerID: "sub1", Amount: money.Yuan(1), TransID: "t"})
	_, err3 := c.ListSubCustomers(t.Context(), ListSubCustomersRequest{AccountName: "x"})
	_, errNew := New(Config{Endpoint: "https://" + testAK + ":" + testSK + "@example.com", Credentials: cfg.Credentials})
	unreachable, err := New(Config{Endpoint: "http://127.0.0.1:1", Credentials: cfg.Credentials, ReadRetry: RetryPolicy{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	_, err4 := unreachable.GetReclaimableAmount(t.Context(), ReclaimableAmountRequest{SubCustomerID: "URLMARKER", BalanceType: BalanceTypeDebit})
	if strings.Contains(err4.Error(), "URLMARKER") || strings.Contains(err4.Error(), "127.0.0.1:1/") {
		t.Errorf("transport error repeats the URL: %v", err4)
	}
	for i, e := range []error{err1, err2, err3, errNew, err4} {
		if e == nil {
			t.Fatalf("error %d is nil", i)
		}
		texts = append(texts, e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e))
		if u := errors.Unwrap(e); u != nil {
			texts = append(texts, u.Error())
		}
	}
	texts = append(texts, infos...)
	var te *TransportError
	if !errors.As(err1, &te) || !errors.As(err4, &te) {
		t.Errorf("want transport errors, got %v / %v", err1, err4)
	}
	secrets := []string{testAK, testSK, testToken}
	mu.Lock()
	for _, a := range authzs {
		secrets = append(secrets, a, a[strings.LastIndex(a, "=")+1:])
	}
	mu.Unlock()
	if len(secrets) != 3+2*3 {
		t.Fatalf("server saw %d signed requests, want 3", (len(secrets)-3)/2)
	}
	for _, secret := range secrets {
		for _, text := range texts {
			if strings.Contains(text, secret) {
				t.Errorf("secret %q leaked in %q", secret, text)
			}
		}
	}
}

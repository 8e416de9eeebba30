// Package bss is a typed client for the parts of the Huawei Cloud Billing
// Center (BSS) API v2 that the budget operator uses: the enterprise
// multi-account operations (organization tree, sub-accounts, transferring
// and reclaiming cash, credit and coupons), orders, the monthly bill summary
// and the account balance and income/expense records.
//
// Every request is signed with SDK-HMAC-SHA256 (package sign), rate-limited
// per operation, and bounded by the caller's context plus a per-attempt
// timeout. Amounts are money.Amount values; no floating-point type ever holds
// money in this package.
//
// Reads (every GET) are retried inside the client on the retryable classes
// of bss-api.md §9.2. Writes are never retried here: the money writes
// (TransferAmount, ReclaimAmount, TransferCoupon, ReclaimCoupon) carry a
// caller-chosen trans_id, and whether to resend it is the caller's decision
// (see IsAmbiguousWrite and IsDuplicateTransID). PayOrders has no trans_id:
// after an ambiguous failure the caller reads the order's status before
// paying again (see IsPaymentInProgress). Money writes are also
// serialized per Client, so only one is ever in flight for the master
// account the Client signs for.
//
// Failures from BSS are *Error values, network failures are *TransportError
// values, and requests rejected before sending wrap ErrInvalidRequest. The
// classifiers (IsThrottled, IsTerminal, IsAmbiguousWrite, IsRetryableRead
// and the Is… helpers for single codes) accept any error and look through
// wrapping.
package bss

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
)

// Defaults applied by New to zero-valued Config fields.
const (
	// DefaultRequestsPerSecond is the default rate per operation. Huawei's
	// default quota is 10 requests per second per API and account
	// (bss-api.md §2); 8 leaves headroom for other clients of the account.
	DefaultRequestsPerSecond = 8
	// DefaultBurst is the default token-bucket size per operation.
	DefaultBurst = 1
	// DefaultTimeout bounds one HTTP attempt: sending the request and
	// reading the whole response.
	DefaultTimeout = 30 * time.Second
	// DefaultUserAgent is sent when Config.UserAgent is empty.
	DefaultUserAgent = "bss-budget-operator"
	// DefaultMaxAttempts is the default number of attempts for a read.
	DefaultMaxAttempts = 4
	// DefaultBaseDelay is the default first backoff step between read attempts.
	DefaultBaseDelay = 500 * time.Millisecond
	// DefaultMaxDelay is the default cap on any single wait between read attempts.
	DefaultMaxDelay = 10 * time.Second
	// DefaultThrottleDelay is the default minimum wait after a throttled
	// response without a Retry-After header. The wait actually used is a
	// random duration between it and 2.5 times it, i.e. 2–5 s, as Huawei
	// recommends (bss-api.md §9.3).
	DefaultThrottleDelay = 2 * time.Second
)

// Operation names. They are the official SDK method names and appear in
// errors, in CallInfo.Operation and as the keys of the per-operation rate
// limiters.
const (
	OpListEnterpriseOrganizations         = "ListEnterpriseOrganizations"
	OpListEnterpriseSubCustomers          = "ListEnterpriseSubCustomers"
	OpCreateSubEnterpriseAccount          = "CreateSubEnterpriseAccount"
	OpSendSMSVerificationCode             = "SendSmsVerificationCode"
	OpShowMultiAccountTransferAmount      = "ShowMultiAccountTransferAmount"
	OpUpdateSubEnterpriseAmount           = "UpdateSubEnterpriseAmount"
	OpListEnterpriseMultiAccount          = "ListEnterpriseMultiAccount"
	OpReclaimSubEnterpriseAmount          = "ReclaimSubEnterpriseAmount"
	OpListMultiAccountTransferCoupons     = "ListMultiAccountTransferCoupons"
	OpClaimEnterpriseMultiAccountCoupon   = "ClaimEnterpriseMultiAccountCoupon"
	OpListMultiAccountRetrieveCoupons     = "ListMultiAccountRetrieveCoupons"
	OpReclaimEnterpriseMultiAccountCoupon = "ReclaimEnterpriseMultiAccountCoupon"
	OpListCustomerOrders                  = "ListCustomerOrders"
	OpShowCustomerOrderDetails            = "ShowCustomerOrderDetails"
	OpPayOrders                           = "PayOrders"
	OpListOrderCouponsByOrderID           = "ListOrderCouponsByOrderId"
	OpListOrderDiscounts                  = "ListOrderDiscounts"
	OpCancelCustomerOrder                 = "CancelCustomerOrder"
	OpShowCustomerMonthlySum              = "ShowCustomerMonthlySum"
	OpShowCustomerAccountBalances         = "ShowCustomerAccountBalances"
	OpListCustomerAccountChangeRecords    = "ListCustomerAccountChangeRecords"
	OpListCosts                           = "ListCosts"
	OpListCustomerBillsMonthlyBreakDown   = "ListCustomerBillsMonthlyBreakDown"
	OpListFreeResourceInfos               = "ListFreeResourceInfos"
	OpListFreeResourceUsages              = "ListFreeResourceUsages"
)

// RetryPolicy controls how reads are retried inside the client. Writes are
// never retried. Zero fields take the Default… values.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts for one read, the first
	// included. 1 disables retries.
	MaxAttempts int
	// BaseDelay is the first backoff step. Attempt n waits a uniformly random
	// duration in [0, min(MaxDelay, BaseDelay·2^(n-1))) ("full jitter").
	BaseDelay time.Duration
	// MaxDelay caps every single wait. A throttled response whose retry hint
	// exceeds MaxDelay is returned to the caller instead of being waited out.
	MaxDelay time.Duration
	// ThrottleDelay is the minimum wait after a throttled response (HTTP 429
	// or APIG.0308) that carried no Retry-After header; the wait is random in
	// [ThrottleDelay, 2.5·ThrottleDelay). A Retry-After header wins over it.
	ThrottleDelay time.Duration
}

// CallInfo describes one HTTP attempt. It never contains credentials,
// signatures or bodies.
type CallInfo struct {
	// Operation is one of the Op… constants.
	Operation string
	// HTTPStatus is the response status, or 0 when no response arrived.
	HTTPStatus int
	// Code is the BSS or API gateway error code ("CBC.99005003",
	// "APIG.0308"), "" on success or when the failure had no code.
	Code string
	// RequestID is the X-Request-Id (or body request_id) when present.
	RequestID string
	// Duration is the wall time of the attempt, from sending the request to
	// reading the whole response.
	Duration time.Duration
	// Attempt is 1 for the first attempt of a call and counts up on retries.
	Attempt int
	// Throttled reports a throttled response (HTTP 429 or APIG.0308).
	Throttled bool
}

// Observer receives one CallInfo per HTTP attempt, for metrics and logging.
// It is called synchronously from the goroutine making the call, so it must
// be fast and safe for concurrent use.
type Observer interface {
	ObserveCall(c CallInfo)
}

// ObserverFunc adapts a function to the Observer interface.
type ObserverFunc func(c CallInfo)

// ObserveCall calls f(c).
func (f ObserverFunc) ObserveCall(c CallInfo) { f(c) }

// Config configures a Client. Only Endpoint and Credentials are required.
// Formatting a Config with any fmt verb never prints the secret key, the
// security token or the full access key.
type Config struct {
	// Endpoint is the absolute base URL, e.g. "https://bss.myhuaweicloud.com".
	// It must use http or https and carry no user info, path, query or
	// fragment. Plain http is meant for local simulators and tests.
	Endpoint string
	// Credentials are the enterprise master account's AK/SK (and security
	// token, for temporary credentials).
	Credentials sign.Credentials
	// DomainID is the master account's domain ID; when set it is sent as
	// X-Domain-Id on every request, as the official SDK does.
	DomainID string
	// RequestsPerSecond is the sustained rate allowed per operation
	// (default 8).
	RequestsPerSecond float64
	// Burst is the token-bucket size per operation (default 1).
	Burst int
	// HTTPClient sends the requests. The default has dial, TLS-handshake and
	// response-header timeouts, requires TLS 1.2 or newer and does not
	// follow redirects.
	HTTPClient *http.Client
	// Timeout bounds each HTTP attempt, including reading the response body
	// (default 30 s). The caller's context bounds the whole call, retries
	// and rate-limit waits included.
	Timeout time.Duration
	// UserAgent is sent as User-Agent (default "bss-budget-operator").
	UserAgent string
	// Observer, if not nil, receives one CallInfo per HTTP attempt.
	Observer Observer
	// ReadRetry controls retries of reads; see RetryPolicy.
	ReadRetry RetryPolicy
	// Now is the clock used for X-Sdk-Date and Retry-After dates (default
	// time.Now). Tests set it to reproduce signatures.
	Now func() time.Time
}

// String describes the configuration without secrets.
func (c Config) String() string {
	return fmt.Sprintf("bss.Config{Endpoint: %q, Credentials: %s, DomainID: %q, RequestsPerSecond: %v, Burst: %d, Timeout: %s, UserAgent: %q}",
		c.Endpoint, c.Credentials.String(), c.DomainID, c.RequestsPerSecond, c.Burst, c.Timeout, c.UserAgent)
}

// GoString is String, so that %#v hides the secrets too.
func (c Config) GoString() string { return c.String() }

// Format prints String for every verb, so no verb (%d, %x, %+v …) can reach
// the credential fields through reflection.
func (c Config) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, c.String()) }

// Client is a BSS API client. It is safe for concurrent use; create one per
// master account and share it.
type Client struct {
	base      *url.URL
	creds     *sign.Credentials // behind a pointer so reflection-based printing shows an address only
	secrets   *secretSet
	domainID  string
	userAgent string
	hc        *http.Client
	timeout   time.Duration
	observer  Observer
	retry     RetryPolicy
	now       func() time.Time

	rps   rate.Limit
	burst int

	mu       sync.Mutex
	limiters map[string]*rate.Limiter

	// writeSlot holds one token: a money write must take it before sending,
	// so at most one transfer or reclaim is in flight per Client.
	writeSlot chan struct{}
}

// String describes the client without secrets.
func (c *Client) String() string {
	return fmt.Sprintf("bss.Client{Endpoint: %q, AccessKey: %s}", c.base.String(), redactedAK(c.creds.AccessKey))
}

// GoString is String, so that %#v hides the secrets too.
func (c *Client) GoString() string { return c.String() }

// Format prints String for every verb.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, c.String()) }

// New validates cfg, fills in defaults and returns a Client.
func New(cfg Config) (*Client, error) {
	base, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if cfg.Credentials.AccessKey == "" || cfg.Credentials.SecretKey == "" {
		return nil, errors.New("bss: Credentials.AccessKey and Credentials.SecretKey are required")
	}
	if cfg.RequestsPerSecond < 0 || cfg.Burst < 0 || cfg.Timeout < 0 {
		return nil, errors.New("bss: RequestsPerSecond, Burst and Timeout must not be negative")
	}
	rp := cfg.ReadRetry
	if rp.MaxAttempts < 0 || rp.BaseDelay < 0 || rp.MaxDelay < 0 || rp.ThrottleDelay < 0 {
		return nil, errors.New("bss: ReadRetry fields must not be negative")
	}
	if rp.MaxAttempts == 0 {
		rp.MaxAttempts = DefaultMaxAttempts
	}
	if rp.BaseDelay == 0 {
		rp.BaseDelay = DefaultBaseDelay
	}
	if rp.MaxDelay == 0 {
		rp.MaxDelay = DefaultMaxDelay
	}
	if rp.ThrottleDelay == 0 {
		rp.ThrottleDelay = DefaultThrottleDelay
	}
	rps := cfg.RequestsPerSecond
	if rps == 0 {
		rps = DefaultRequestsPerSecond
	}
	burst := cfg.Burst
	if burst == 0 {
		burst = DefaultBurst
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient(timeout)
	}
	ua := cfg.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	creds := cfg.Credentials
	return &Client{
		base:      base,
		creds:     &creds,
		secrets:   newSecretSet(creds),
		domainID:  cfg.DomainID,
		userAgent: ua,
		hc:        hc,
		timeout:   timeout,
		observer:  cfg.Observer,
		retry:     rp,
		now:       now,
		rps:       rate.Limit(rps),
		burst:     burst,
		limiters:  map[string]*rate.Limiter{},
		writeSlot: make(chan struct{}, 1),
	}, nil
}

// parseEndpoint checks that s is an absolute http(s) URL without user info,
// path, query or fragment. Errors never echo s, which could hold a password.
func parseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || s == "" {
		return nil, errors.New("bss: Endpoint must be an absolute http or https URL such as https://bss.myhuaweicloud.com")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("bss: Endpoint must use the http or https scheme")
	case u.Host == "" || u.Opaque != "":
		return nil, errors.New("bss: Endpoint must be an absolute URL with a host")
	case u.User != nil:
		return nil, errors.New("bss: Endpoint must not contain user info; pass credentials in Config.Credentials")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, errors.New("bss: Endpoint must not contain a query or fragment")
	case u.Path != "" && u.Path != "/":
		return nil, errors.New("bss: Endpoint must not contain a path")
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

func defaultHTTPClient(timeout time.Duration) *http.Client {
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment}
	}
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = timeout
	t.ExpectContinueTimeout = time.Second
	t.IdleConnTimeout = 90 * time.Second
	t.MaxIdleConnsPerHost = 4
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return &http.Client{
		Transport: t,
		// A redirect would be re-sent unsigned or, for a POST, could repeat
		// a write; BSS does not redirect, so surface it as an error instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// limiter returns the token bucket of op, creating it on first use.
func (c *Client) limiter(op string) *rate.Limiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.limiters[op]
	if !ok {
		l = rate.NewLimiter(c.rps, c.burst)
		c.limiters[op] = l
	}
	return l
}

func redactedAK(ak string) string {
	if len(ak) <= 4 {
		return "<redacted>"
	}
	return ak[:4] + "…"
}

package bsssim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
)

// maxBodyBytes is the largest body AK/SK signing accepts (12 MB).
const maxBodyBytes = 12 << 20

const detailsPrefix = "/v2/orders/customer-orders/details/"

// route is one API operation.
type route struct {
	method  string
	pattern string
	// money marks the money writes (the four transfers and reclaims, which
	// take the master's in-progress slot, and PayOrders): their handlers
	// apply the latency and the error before commit themselves, and they
	// may lose their response after commit.
	money bool
	h     func(c *reqCtx) (any, error)
}

// caller is the authenticated account: a master, or a sub-account with its
// own keys (subID set).
type caller struct {
	domainID string
	subID    string
}

func (c caller) id() string {
	if c.subID != "" {
		return c.subID
	}
	return c.domainID
}

// reqCtx carries one API request through its handler.
type reqCtx struct {
	s         *Sim
	r         *http.Request
	body      []byte
	reqID     string
	caller    caller
	dec       decision
	pathParam string
	committed bool
}

// decision holds the fault draws of one request.
type decision struct {
	latency   time.Duration
	errBefore bool
	lost      bool
	hijack    bool
}

func (s *Sim) decideLocked() decision {
	f := s.faults
	j, e, l, h := s.rng.Float64(), s.rng.Float64(), s.rng.Float64(), s.rng.IntN(2)
	d := decision{latency: time.Duration(f.Latency)}
	if f.LatencyJitter > 0 {
		d.latency += time.Duration(j * float64(f.LatencyJitter))
	}
	d.errBefore = e < f.ErrorRate
	d.lost = l < f.LostResponseRate
	d.hijack = h == 0
	return d
}

func (s *Sim) routes() http.Handler {
	const ma = "/v2/enterprises/multi-accounts/"
	table := map[string]map[string]*route{}
	add := func(method, pattern string, moneyWrite bool, h func(c *reqCtx) (any, error)) {
		if table[pattern] == nil {
			table[pattern] = map[string]*route{}
		}
		table[pattern][method] = &route{method: method, pattern: pattern, money: moneyWrite, h: h}
	}
	add(http.MethodGet, ma+"sub-customers", false, s.listSubCustomers)
	add(http.MethodPost, ma+"sub-customers", false, s.createSubCustomer)
	add(http.MethodGet, ma+"enterprise-organizations", false, s.listOrganizations)
	add(http.MethodPost, ma+"sm-verification-code", false, s.sendSMSCode)
	add(http.MethodGet, ma+"transfer-amount", false, s.showTransferAmount)
	add(http.MethodPost, ma+"transfer-amount", true, s.transferAmount)
	add(http.MethodGet, ma+"retrieve-amount", false, s.showRetrieveAmount)
	add(http.MethodPost, ma+"retrieve-amount", true, s.retrieveAmount)
	add(http.MethodGet, ma+"transfer-coupons", false, s.listTransferCoupons)
	add(http.MethodGet, ma+"retrieve-coupons", false, s.listRetrieveCoupons)
	add(http.MethodPost, ma+"transfer-coupon", true, s.transferCoupon)
	add(http.MethodPost, ma+"retrieve-coupon", true, s.retrieveCoupon)
	add(http.MethodGet, "/v2/orders/customer-orders", false, s.listOrders)
	add(http.MethodGet, detailsPrefix+"{order_id}", false, s.showOrder)
	add(http.MethodPost, "/v3/orders/customer-orders/pay", true, s.payOrders)
	add(http.MethodGet, "/v2/orders/customer-orders/order-coupons", false, s.listOrderCoupons)
	add(http.MethodGet, "/v2/orders/customer-orders/order-discounts", false, s.listOrderDiscounts)
	add(http.MethodPut, "/v2/orders/customer-orders/cancel", false, s.cancelOrder)
	add(http.MethodGet, "/v2/bills/customer-bills/monthly-sum", false, s.monthlySum)
	add(http.MethodGet, "/v2/accounts/customer-accounts/balances", false, s.balances)
	add(http.MethodGet, "/v2/accounts/customer-accounts/account-change-records", false, s.changeRecords)
	add(http.MethodPost, "/v4/costs/cost-analysed-bills/query", false, s.listCosts)
	add(http.MethodGet, "/v2/costs/cost-analysed-bills/monthly-breakdown", false, s.monthlyBreakdown)
	add(http.MethodPost, "/v3/payments/free-resources/query", false, s.listFreeResources)
	add(http.MethodPost, "/v2/payments/free-resources/usages/details/query", false, s.listFreeResourceUsages)
	admin := s.adminRoutes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_sim" || strings.HasPrefix(r.URL.Path, "/_sim/") {
			s.serveAdmin(w, r, admin)
			return
		}
		s.serveAPI(w, r, table)
	})
}

// match finds the operations of a path and the {order_id} parameter.
func match(table map[string]map[string]*route, path string) (map[string]*route, string) {
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	if m, ok := table[path]; ok {
		return m, ""
	}
	if id, ok := strings.CutPrefix(path, detailsPrefix); ok && id != "" && !strings.Contains(id, "/") {
		return table[detailsPrefix+"{order_id}"], id
	}
	return nil, ""
}

func (s *Sim) serveAPI(w http.ResponseWriter, r *http.Request, table map[string]map[string]*route) {
	reqID := s.requestID()
	w.Header().Set("X-Request-Id", reqID)
	status, code := s.serveAPIRequest(w, r, table, reqID)
	s.log.Debug("api request", "method", r.Method, "path", r.URL.Path, "status", status, "code", code, "request_id", reqID)
}

func (s *Sim) serveAPIRequest(w http.ResponseWriter, r *http.Request, table map[string]map[string]*route, reqID string) (int, string) {
	methods, param := match(table, r.URL.Path)
	if methods == nil {
		return s.writeError(w, reqID, &apiError{status: http.StatusNotFound, code: CodeAPINotFound,
			msg: "The API does not exist or has not been published in the environment."})
	}
	rt := methods[r.Method]
	if rt == nil {
		allowed := make([]string, 0, len(methods))
		for m := range methods {
			allowed = append(allowed, m)
		}
		sort.Strings(allowed)
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		return s.writeError(w, reqID, &apiError{status: http.StatusMethodNotAllowed, code: CodeAPINotFound,
			msg: "The API does not exist or has not been published in the environment: method " + r.Method + " is not allowed here."})
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return s.writeError(w, reqID, &apiError{status: http.StatusRequestEntityTooLarge, code: CodeRequestTooLarge, msg: "The request body is larger than 12 MB."})
		}
		return s.writeError(w, reqID, paramErr("the request body could not be read"))
	}
	who, aerr := s.authenticate(r, body)
	if aerr != nil {
		return s.writeError(w, reqID, aerr)
	}
	if ok, limit := s.allow(who, rt); !ok {
		return s.writeError(w, reqID, &apiError{status: http.StatusTooManyRequests, code: CodeThrottled,
			msg: "The throttling threshold has been reached: policy user over ratelimit,limit:" + strconv.FormatFloat(limit, 'f', -1, 64) + ",time:1 second"})
	}
	s.mu.Lock()
	dec := s.decideLocked()
	s.mu.Unlock()
	c := &reqCtx{s: s, r: r, body: body, reqID: reqID, caller: who, dec: dec, pathParam: param}
	if !rt.money {
		sleepCtx(r.Context(), dec.latency)
		if dec.errBefore {
			return s.writeError(w, reqID, internalErr())
		}
	}
	resp, err := rt.h(c)
	if c.committed && dec.lost {
		return s.loseResponse(w, c)
	}
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			s.log.Error("handler failed", "path", r.URL.Path, "error", err)
			ae = internalErr()
		}
		return s.writeError(w, reqID, ae)
	}
	if resp == nil {
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent, ""
	}
	s.writeJSON(w, http.StatusOK, resp)
	return http.StatusOK, ""
}

// loseResponse models a response lost after the write committed: the
// connection is closed without a response, or 500 CBC.0999 is returned.
func (s *Sim) loseResponse(w http.ResponseWriter, c *reqCtx) (int, string) {
	if c.dec.hijack {
		if hj, ok := w.(http.Hijacker); ok {
			conn, _, err := hj.Hijack()
			if err == nil {
				if cerr := conn.Close(); cerr != nil {
					s.log.Debug("closing hijacked connection", "error", cerr)
				}
				return 0, "connection closed"
			}
			s.log.Debug("hijack failed, answering 500 instead", "error", err)
		}
	}
	return s.writeError(w, c.reqID, internalErr())
}

// beginWrite claims the master's in-progress slot for a money write (or
// fails with CBC.99007461), waits the injected latency, and injects an
// error before commit. Call the returned release when the write is done.
func (c *reqCtx) beginWrite() (func(), error) {
	s := c.s
	dom := c.caller.domainID
	s.mu.Lock()
	if s.busy[dom] {
		s.mu.Unlock()
		return nil, bizErr(CodeBusy, "Another transfer or reclaim task of this account is in progress. Try again later.")
	}
	s.busy[dom] = true
	s.mu.Unlock()
	release := func() {
		s.mu.Lock()
		delete(s.busy, dom)
		s.mu.Unlock()
	}
	if err := c.faultBeforeCommit(); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// faultBeforeCommit waits the injected latency of a money write and
// injects its error before commit.
func (c *reqCtx) faultBeforeCommit() error {
	sleepCtx(c.r.Context(), c.dec.latency)
	if c.dec.errBefore {
		return internalErr()
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (s *Sim) writeError(w http.ResponseWriter, reqID string, e *apiError) (int, string) {
	body := errorBody{ErrorCode: e.code, ErrorMsg: e.msg, FailCheckItems: e.items}
	if isGatewayCode(e.code) {
		body.RequestID = reqID
	}
	s.writeJSON(w, e.status, body)
	return e.status, e.code
}

func (s *Sim) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encoding response failed", "error", err)
		status = http.StatusInternalServerError
		b = []byte(`{"error_code":"CBC.0999","error_msg":"An unknown error occurred."}`)
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	if _, err := w.Write(b); err != nil {
		s.log.Debug("writing response failed", "error", err)
	}
}

// authenticate verifies the AK/SK signature with the real (AuthNow) clock
// and, when X-Domain-Id is sent, checks it against the signing account.
func (s *Sim) authenticate(r *http.Request, body []byte) (caller, *apiError) {
	v := sign.Verifier{SecretKey: s.secretKey, Now: s.opts.AuthNow, MaxSkew: s.opts.MaxSkew}
	ak, err := v.Verify(r, body)
	if err != nil {
		return caller{}, authErr(err)
	}
	s.mu.Lock()
	who, ok := s.callerLocked(ak)
	s.mu.Unlock()
	if !ok {
		return caller{}, authErr(sign.ErrUnknownAccessKey)
	}
	if d := r.Header.Get("X-Domain-Id"); d != "" && d != who.id() {
		return caller{}, &apiError{status: http.StatusUnauthorized, code: CodeAuthFailed,
			msg: "Incorrect IAM authentication information: X-Domain-Id does not match the account of the access key"}
	}
	return who, nil
}

func authErr(err error) *apiError {
	var detail string
	switch {
	case errors.Is(err, sign.ErrMissingAuthorization):
		detail = "the Authorization header is missing"
	case errors.Is(err, sign.ErrMissingDate):
		detail = "X-Sdk-Date is missing or malformed"
	case errors.Is(err, sign.ErrSkew):
		detail = "the request has expired: X-Sdk-Date is too far from the server time"
	case errors.Is(err, sign.ErrUnknownAccessKey):
		detail = "the access key does not exist"
	case errors.Is(err, sign.ErrSignatureMismatch):
		detail = "verify aksk signature fail"
	default:
		detail = err.Error()
	}
	return &apiError{status: http.StatusUnauthorized, code: CodeAuthFailed, msg: "Incorrect IAM authentication information: " + detail}
}

func (s *Sim) secretKey(ak string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.st.Masters {
		if m.AccessKey == ak {
			return m.SecretKey, true
		}
	}
	for _, sa := range s.st.SubAccounts {
		if sa.AccessKey != "" && sa.AccessKey == ak {
			return sa.SecretKey, true
		}
	}
	return "", false
}

func (s *Sim) callerLocked(ak string) (caller, bool) {
	for _, m := range s.st.Masters {
		if m.AccessKey == ak {
			return caller{domainID: m.DomainID}, true
		}
	}
	for _, sa := range s.st.SubAccounts {
		if sa.AccessKey != "" && sa.AccessKey == ak {
			return caller{domainID: sa.DomainID, subID: sa.ID}, true
		}
	}
	return caller{}, false
}

// allow applies the per-API, per-account token bucket and any throttling
// storm. It returns the limit to report.
func (s *Sim) allow(who caller, rt *route) (bool, float64) {
	now := time.Now()
	s.mu.Lock()
	rate := s.opts.ThrottlePerSecond
	if s.faults.ThrottlePerSecond > 0 {
		rate = s.faults.ThrottlePerSecond
	}
	storm := now.Before(s.stormUntil)
	stormRate := s.faults.StormRate
	s.mu.Unlock()
	if storm {
		if stormRate <= 0 {
			return false, max(rate, 0)
		}
		rate = stormRate
	}
	if rate <= 0 {
		return true, 0
	}
	return s.thr.allow(who.id()+" "+rt.method+" "+rt.pattern, rate, now), rate
}

// throttler holds token buckets whose rate is also their burst.
type throttler struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	rate   float64
	last   time.Time
}

func (t *throttler) allow(key string, rate float64, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	burst := max(rate, 1)
	b := t.buckets[key]
	if b == nil {
		b = &bucket{tokens: burst, rate: rate, last: now}
		t.buckets[key] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens += el * rate
		b.last = now
	}
	b.rate = rate
	b.tokens = min(b.tokens, burst)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (t *throttler) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buckets = map[string]*bucket{}
}

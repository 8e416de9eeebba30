package bss

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
)

// maxResponseBytes bounds how much of a response body is read. The largest
// legitimate response (a monthly summary page of 1000 records) is a few MB.
const maxResponseBytes = 32 << 20

// callKind selects the retry and serialization rules of a call.
type callKind int

const (
	// kindRead calls are retried inside the client on retryable failures.
	kindRead callKind = iota
	// kindWrite calls are sent once (create sub-account, send SMS).
	kindWrite
	// kindMoneyWrite calls are sent once and serialized per Client.
	kindMoneyWrite
)

// call is one logical API call.
type call struct {
	op     string
	kind   callKind
	method string
	path   string
	query  url.Values
	body   any // encoded as JSON when not nil
	out    any // decoded from a 2xx body when not nil
}

// do runs c: encodes the body, takes the money-write slot when needed, and
// makes one attempt (writes) or up to ReadRetry.MaxAttempts attempts (reads).
func (c *Client) do(ctx context.Context, cl call) error {
	var body []byte
	if cl.body != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf) // Encode appends "\n", exactly as the SDK's encoder does
		enc.SetEscapeHTML(false)
		if err := enc.Encode(cl.body); err != nil {
			return fmt.Errorf("bss: %s: encoding the request body: %w", cl.op, err)
		}
		body = buf.Bytes()
	}
	switch cl.kind {
	case kindMoneyWrite:
		select {
		case c.writeSlot <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("bss: %s: not sent: waiting for the in-flight money write: %w", cl.op, ctx.Err())
		}
		defer func() { <-c.writeSlot }()
		return c.attempt(ctx, cl, body, 1)
	case kindWrite:
		return c.attempt(ctx, cl, body, 1)
	case kindRead:
		return c.readWithRetry(ctx, cl, body)
	}
	return fmt.Errorf("bss: %s: unknown call kind %d", cl.op, cl.kind)
}

// readWithRetry retries retryable read failures with capped exponential
// backoff and full jitter, never sleeping past ctx.
func (c *Client) readWithRetry(ctx context.Context, cl call, body []byte) error {
	for attempt := 1; ; attempt++ {
		err := c.attempt(ctx, cl, body, attempt)
		if err == nil {
			return nil
		}
		if attempt >= c.retry.MaxAttempts || !IsRetryableRead(err) {
			return err
		}
		if ctx.Err() != nil { // ended as the answer came: as if during the wait
			return fmt.Errorf("bss: %s: %w while waiting to retry after: %w", cl.op, ctx.Err(), err)
		}
		wait := c.backoff(attempt)
		if IsThrottled(err) {
			hint := c.throttleWait(err)
			if hint > c.retry.MaxDelay {
				return err // the caller requeues after RetryAfterHint(err)
			}
			wait = max(wait, hint)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
			return err // the retry could not happen before ctx ends
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("bss: %s: %w while waiting to retry after: %w", cl.op, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// backoff returns the full-jitter wait after the given failed attempt.
func (c *Client) backoff(attempt int) time.Duration {
	ceiling := c.retry.MaxDelay
	if shift := attempt - 1; shift < 32 {
		if d := c.retry.BaseDelay << shift; d > 0 && d < ceiling {
			ceiling = d
		}
	}
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling) //nolint:gosec // G404: backoff jitter needs no cryptographic randomness
}

// throttleWait is the minimum wait after a throttled attempt: the
// Retry-After header when the response had one, else a random duration in
// [ThrottleDelay, 2.5·ThrottleDelay).
func (c *Client) throttleWait(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter
	}
	d := c.retry.ThrottleDelay
	return d + rand.N(d*3/2+1) //nolint:gosec // G404: jitter needs no cryptographic randomness
}

// attempt makes exactly one HTTP attempt: rate-limit wait, sign, send, read
// and decode. It reports the attempt to the Observer.
func (c *Client) attempt(ctx context.Context, cl call, body []byte, n int) error {
	if err := c.limiter(cl.op).Wait(ctx); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("bss: %s: not sent: waiting for the rate limiter: %w", cl.op, ctxErr)
		}
		// Wait refuses up front when the token would arrive after the deadline.
		return fmt.Errorf("bss: %s: not sent: the rate limiter's next slot is after the context deadline: %w", cl.op, context.DeadlineExceeded)
	}

	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	u := *c.base
	u.Path = cl.path
	u.RawQuery = encodeQuery(cl.query)
	var rdr io.Reader
	if body != nil {
		rdr = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, u.String(), rdr)
	if err != nil {
		return fmt.Errorf("bss: %s: building the request: %w", cl.op, c.secrets.scrubErr(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.domainID != "" {
		req.Header.Set("X-Domain-Id", c.domainID)
	}
	if err := sign.Sign(req, body, *c.creds, c.now()); err != nil {
		return fmt.Errorf("bss: %s: signing the request: %w", cl.op, err)
	}
	authz := req.Header.Get(sign.HeaderAuthorization)

	info := CallInfo{Operation: cl.op, Attempt: n}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		info.Duration = time.Since(start)
		c.observe(info)
		return c.transportError(cl, err, authz)
	}
	defer func() { _ = resp.Body.Close() }()
	data, readErr := readBody(resp.Body)
	info.Duration = time.Since(start)
	info.HTTPStatus = resp.StatusCode
	if readErr != nil {
		c.observe(info)
		return c.transportError(cl, readErr, authz)
	}

	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		info.RequestID = resp.Header.Get("X-Request-Id")
		c.observe(info)
		if cl.out == nil {
			return nil
		}
		if err := decodeJSON(data, cl.out); err != nil {
			return &DecodeError{Operation: cl.op, HTTPStatus: resp.StatusCode, Err: err}
		}
		return nil
	}

	apiErr := parseError(cl.op, resp, data, c.now())
	c.secrets.scrubAPIError(apiErr, authz)
	info.Code = apiErr.Code
	info.RequestID = apiErr.RequestID
	info.Throttled = apiErr.throttled()
	c.observe(info)
	return apiErr
}

// readBody reads at most maxResponseBytes.
func readBody(body io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(body, maxResponseBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxResponseBytes {
		return nil, fmt.Errorf("response body exceeds %d bytes", maxResponseBytes)
	}
	return data, nil
}

func (c *Client) observe(info CallInfo) {
	if c.observer != nil {
		c.observer.ObserveCall(info)
	}
}

// transportError wraps a failure to get a complete response. The *url.Error
// layer (whose text repeats the URL) is dropped and the remaining text is
// scrubbed of credentials and the attempt's signature.
func (c *Client) transportError(cl call, err error, authz string) *TransportError {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	timeout := errors.Is(err, context.DeadlineExceeded)
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		timeout = true
	}
	return &TransportError{
		Operation: cl.op,
		Method:    cl.method,
		Path:      cl.path,
		Timeout:   timeout,
		msg:       c.secrets.scrub(err.Error(), authz),
		err:       err,
	}
}

// secretSet holds the strings that must never appear in errors.
type secretSet struct {
	values []string
}

func newSecretSet(creds sign.Credentials) *secretSet {
	s := &secretSet{}
	for _, v := range []string{creds.SecretKey, creds.SecurityToken, creds.AccessKey} {
		if v != "" {
			s.values = append(s.values, v)
		}
	}
	return s
}

// scrub replaces every secret, the attempt's Authorization value and its
// signature in text with "<redacted>".
func (s *secretSet) scrub(text, authz string) string {
	extra := []string{authz}
	if _, sig, ok := strings.Cut(authz, "Signature="); ok {
		extra = append(extra, sig)
	}
	for _, v := range append(extra, s.values...) {
		if v != "" {
			text = strings.ReplaceAll(text, v, "<redacted>")
		}
	}
	return text
}

func (s *secretSet) scrubErr(err error) error {
	return errors.New(s.scrub(err.Error(), ""))
}

func (s *secretSet) scrubAPIError(e *Error, authz string) {
	e.Message = s.scrub(e.Message, authz)
	e.Code = s.scrub(e.Code, authz)
	e.RequestID = s.scrub(e.RequestID, authz)
	for i, item := range e.FailCheckItems {
		e.FailCheckItems[i] = s.scrub(item, authz)
	}
}

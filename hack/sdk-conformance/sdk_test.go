package sdkconformance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/global"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	bssv2 "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/bss/v2"
)

// exchange is one HTTP request and response seen by the recorder.
type exchange struct {
	method, path string
	status       int
	requestID    string
	body         []byte
}

// recorder is the SDK's http.RoundTripper: it sends over loopback only and
// keeps every response body, so that the suite can check the JSON the SDK
// decoded against the SDK's model types.
type recorder struct {
	next http.RoundTripper

	mu        sync.Mutex
	exchanges []exchange
}

func newRecorder() *recorder {
	return &recorder{next: &http.Transport{Proxy: nil, DialContext: dialLoopback, ResponseHeaderTimeout: 30 * time.Second}}
}

// RoundTrip implements http.RoundTripper.
func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	r.exchanges = append(r.exchanges, exchange{
		method: req.Method, path: req.URL.Path, status: resp.StatusCode,
		requestID: resp.Header.Get("X-Request-Id"), body: body,
	})
	r.mu.Unlock()
	return resp, nil
}

// take returns the exchanges since the last take and forgets them.
func (r *recorder) take() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.exchanges
	r.exchanges = nil
	return out
}

// newSDKClient is the SDK's bss v2 client for one account, signing with the
// SDK's own AK/SK signer and sending X-Domain-Id, against endpoint.
func newSDKClient(t *testing.T, endpoint string, rec *recorder, ak, sk, domainID string) *bssv2.BssClient {
	t.Helper()
	cred, err := global.NewCredentialsBuilder().WithAk(ak).WithSk(sk).WithDomainId(domainID).SafeBuild()
	if err != nil {
		t.Fatalf("SDK credentials: %v", err)
	}
	hc, err := bssv2.BssClientBuilder().
		WithEndpoints([]string{endpoint}).
		WithCredential(cred).
		WithHttpConfig(config.DefaultHttpConfig().WithTimeout(30 * time.Second).WithHttpRoundTripper(rec)).
		SafeBuild()
	if err != nil {
		t.Fatalf("SDK client: %v", err)
	}
	return bssv2.NewBssClient(hc)
}

// opCtx runs one operation's calls: every call goes through the SDK method
// named like the operation, and is counted and checked.
type opCtx struct {
	s   *suite
	op  *operation
	rec *recorder

	successes, failures int
	// seen holds the JSON paths of the response fields that were present
	// (and not null) in at least one successful response.
	seen map[string]bool
}

// invoke calls the SDK method c.op.name on client with req and returns the
// SDK's response (a pointer to the operation's Response model), the one
// HTTP exchange it made and its error.
func (c *opCtx) invoke(t *testing.T, client *bssv2.BssClient, req any) (any, exchange, error) {
	t.Helper()
	m := reflect.ValueOf(client).MethodByName(c.op.name)
	if !m.IsValid() {
		t.Fatalf("the SDK's BssClient has no method %s", c.op.name)
	}
	if m.Type().NumIn() != 1 || m.Type().In(0) != reflect.TypeOf(req) {
		t.Fatalf("%s takes %s, the suite passed %T", c.op.name, m.Type().In(0), req)
	}
	c.rec.take()
	out := m.Call([]reflect.Value{reflect.ValueOf(req)})
	var err error
	if e := out[1].Interface(); e != nil {
		err = e.(error)
	}
	ex := c.rec.take()
	if len(ex) != 1 {
		t.Fatalf("%s made %d HTTP requests, want 1 (the SDK retried or failed before sending): %v", c.op.name, len(ex), err)
	}
	return out[0].Interface(), ex[0], err
}

// call invokes the operation, which must succeed; its response body must
// match the SDK model's JSON types. It returns the SDK's decoded response.
func call[R any](t *testing.T, c *opCtx, client *bssv2.BssClient, req any) R {
	t.Helper()
	resp, ex, err := c.invoke(t, client, req)
	if err != nil {
		t.Fatalf("%s: %v\nresponse %d: %s", c.op.name, err, ex.status, ex.body)
	}
	if ex.status/100 != 2 {
		t.Fatalf("%s: HTTP %d without an SDK error", c.op.name, ex.status)
	}
	r, ok := resp.(R)
	if !ok {
		t.Fatalf("%s returned %T, the suite expected %T", c.op.name, resp, *new(R))
	}
	c.successes++
	rt := reflect.TypeOf(resp).Elem()
	if len(bytes.TrimSpace(ex.body)) == 0 {
		if bodyFields(rt) > 0 {
			t.Errorf("%s: HTTP %d with an empty body, but %s has body fields", c.op.name, ex.status, rt.Name())
		}
		return r
	}
	for _, e := range checkShape(ex.body, rt, c.seen) {
		t.Errorf("%s: %s", c.op.name, e)
	}
	if t.Failed() {
		t.Logf("%s response: %s", c.op.name, ex.body)
	}
	return r
}

// callErr invokes the operation, which must fail with HTTP status and the
// error code code, decoded by the SDK into *sdkerr.ServiceResponseError.
func callErr(t *testing.T, c *opCtx, client *bssv2.BssClient, req any, status int, code string) {
	t.Helper()
	_, ex, err := c.invoke(t, client, req)
	var sre *sdkerr.ServiceResponseError
	if !errors.As(err, &sre) {
		t.Fatalf("%s: got %v (%T), want *sdkerr.ServiceResponseError %d %s\nresponse %d: %s", c.op.name, err, err, status, code, ex.status, ex.body)
	}
	c.failures++
	if sre.StatusCode != status || sre.ErrorCode != code {
		t.Errorf("%s: got %d %q (%s), want %d %s", c.op.name, sre.StatusCode, sre.ErrorCode, sre.ErrorMessage, status, code)
	}
	if sre.ErrorMessage == "" || sre.ErrorMessage == string(ex.body) {
		t.Errorf("%s: the SDK did not read error_msg from %s", c.op.name, ex.body)
	}
	if sre.RequestId == "" || sre.RequestId != ex.requestID {
		t.Errorf("%s: RequestId = %q, want the X-Request-Id %q", c.op.name, sre.RequestId, ex.requestID)
	}
}

// bodyFields counts the fields of a Response model that come from the body.
func bodyFields(t reflect.Type) int {
	n := 0
	for i := range t.NumField() {
		if name, _ := jsonName(t.Field(i)); name != "" {
			n++
		}
	}
	return n
}

// describe prints an SDK model for failure messages.
func describe(v any) string { return fmt.Sprintf("%+v", v) }

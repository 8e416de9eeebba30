package bss

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// TestErrorParsing checks how error responses become *Error values.
func TestErrorParsing(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		headers map[string]string
		body    string
		want    Error
		wantMsg string
	}{
		{
			name:   "insufficient balance with request id header",
			status: 400, headers: map[string]string{"X-Request-Id": "req-hdr"},
			body:    `{"error_code":"CBC.99005003","error_msg":"insufficient balance","request_id":"req-body"}`,
			want:    Error{HTTPStatus: 400, Code: "CBC.99005003", Message: "insufficient balance", RequestID: "req-hdr"},
			wantMsg: "bss: UpdateSubEnterpriseAmount: HTTP 400 CBC.99005003: insufficient balance (request id req-hdr)",
		},
		{
			name:   "fail_check_items as strings, request id from body",
			status: 400,
			body:   `{"error_code":"CBC.99007004","error_msg":"check failed","fail_check_items":["SUB_CUSTOMER_OVERDUE_BILL","MUST_BE_SAME_SIGNING_ENTITY"],"request_id":"r1"}`,
			want: Error{HTTPStatus: 400, Code: "CBC.99007004", Message: "check failed", RequestID: "r1",
				FailCheckItems: []string{"SUB_CUSTOMER_OVERDUE_BILL", "MUST_BE_SAME_SIGNING_ENTITY"}},
			wantMsg: "bss: UpdateSubEnterpriseAmount: HTTP 400 CBC.99007004: check failed [fail_check_items: SUB_CUSTOMER_OVERDUE_BILL, MUST_BE_SAME_SIGNING_ENTITY] (request id r1)",
		},
		{
			name:   "fail_check_items as objects",
			status: 500,
			body:   `{"error_code":"CBC.7004","error_msg":"check failed","fail_check_items":[{"fail_check_item":"MAX_SUB_CUSTOMER_NUM","message":"quota exceeded"},{"id":"X"},{"foo":1,"bar":"b"},42]}`,
			want: Error{HTTPStatus: 500, Code: "CBC.7004", Message: "check failed",
				FailCheckItems: []string{"MAX_SUB_CUSTOMER_NUM: quota exceeded", "X", `{"bar":"b","foo":1}`, "42"}},
		},
		{
			name:   "code/message spelling",
			status: 403,
			body:   `{"code":"CBC.0151","message":"access denied"}`,
			want:   Error{HTTPStatus: 403, Code: "CBC.0151", Message: "access denied"},
		},
		{
			name:   "nested error object",
			status: 401,
			body:   `{"error":{"code":"APIG.0301","message":"Incorrect IAM authentication information"}}`,
			want:   Error{HTTPStatus: 401, Code: "APIG.0301", Message: "Incorrect IAM authentication information"},
		},
		{
			name:   "throttled with Retry-After",
			status: 429, headers: map[string]string{"Retry-After": "3"},
			body: `{"error_msg":"The throttling threshold has been reached: policy user over ratelimit,limit:10,time:1 second","error_code":"APIG.0308","request_id":"rq"}`,
			want: Error{HTTPStatus: 429, Code: "APIG.0308", RequestID: "rq", RetryAfter: 3 * time.Second,
				Message: "The throttling threshold has been reached: policy user over ratelimit,limit:10,time:1 second"},
		},
		{
			name:   "non-JSON body",
			status: 502,
			body:   "<html>\n<body>Bad Gateway</body></html>",
			want:   Error{HTTPStatus: 502, Message: "non-JSON error body: <html> <body>Bad Gateway</body></html>"},
		},
		{
			name:   "empty body",
			status: 503,
			want:   Error{HTTPStatus: 503, Message: "Service Unavailable"},
		},
		{
			name:   "numeric code and single fail item",
			status: 400,
			body:   `{"error_code":1234,"error_msg":"odd","fail_check_items":"ONLY_ONE"}`,
			want:   Error{HTTPStatus: 400, Code: "1234", Message: "odd", FailCheckItems: []string{"ONLY_ONE"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeBSS(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
				for k, v := range tt.headers {
					w.Header().Set(k, v)
				}
				writeJSON(w, tt.status, tt.body)
			})
			c := newTestClient(t, f)
			err := c.TransferAmount(t.Context(), AmountTransferRequest{CustomerID: "sub1", Amount: money.Yuan(1), TransID: "t1"})
			e := asAPIError(t, err)
			want := tt.want
			want.Operation = OpUpdateSubEnterpriseAmount
			if !reflect.DeepEqual(*e, want) {
				t.Errorf("got  %#v\nwant %#v", *e, want)
			}
			if tt.wantMsg != "" && e.Error() != tt.wantMsg {
				t.Errorf("Error() = %q\nwant      %q", e.Error(), tt.wantMsg)
			}
		})
	}
}

// TestClassifiers checks every classifier against representative errors,
// wrapped once more to prove errors.As is used.
func TestClassifiers(t *testing.T) {
	apiErr := func(status int, code string) error {
		return fmt.Errorf("reconciling: %w", &Error{Operation: "Op", HTTPStatus: status, Code: code})
	}
	transport := fmt.Errorf("ctx: %w", &TransportError{Operation: "Op", msg: "connection reset", err: errors.New("connection reset")})
	type flags struct{ throttled, terminal, ambiguous, retryRead, auth bool }
	tests := []struct {
		name string
		err  error
		want flags
	}{
		{"nil", nil, flags{}},
		{"plain error", errors.New("x"), flags{}},
		{"transport", transport, flags{ambiguous: true, retryRead: true}},
		{"decode of a 2xx", &DecodeError{Operation: "Op", HTTPStatus: 200, Err: errors.New("bad")}, flags{ambiguous: true}},
		{"validation", fmt.Errorf("x: %w", ErrInvalidRequest), flags{terminal: true}},
		{"429 APIG.0308", apiErr(429, "APIG.0308"), flags{throttled: true, ambiguous: true, retryRead: true}},
		{"429 without code", apiErr(429, ""), flags{throttled: true, ambiguous: true, retryRead: true}},
		{"500 CBC.0999", apiErr(500, "CBC.0999"), flags{ambiguous: true, retryRead: true}},
		{"502 no code", apiErr(502, ""), flags{ambiguous: true, retryRead: true}},
		{"500 CBC.7004 (old check failure)", apiErr(500, "CBC.7004"), flags{terminal: true}},
		{"CBC.99000043", apiErr(400, "CBC.99000043"), flags{ambiguous: true}},
		{"CBC.99000087", apiErr(400, "CBC.99000087"), flags{ambiguous: true}},
		{"CBC.99007461", apiErr(400, "CBC.99007461"), flags{ambiguous: true}},
		{"CBC.99005003", apiErr(400, "CBC.99005003"), flags{terminal: true}},
		{"CBC.99000047", apiErr(400, "CBC.99000047"), flags{terminal: true}},
		{"CBC.99007004", apiErr(400, "CBC.99007004"), flags{terminal: true}},
		{"CBC.99007181", apiErr(400, "CBC.99007181"), flags{terminal: true}},
		{"CBC.0100", apiErr(400, "CBC.0100"), flags{terminal: true}},
		{"CBC.99007009 duplicate", apiErr(400, "CBC.99007009"), flags{}},
		{"CBC.99006017", apiErr(400, "CBC.99006017"), flags{retryRead: true}},
		{"CBC.99008040", apiErr(400, "CBC.99008040"), flags{retryRead: true}},
		{"CBC.99007197", apiErr(400, "CBC.99007197"), flags{retryRead: true}},
		{"403 CBC.0151", apiErr(403, "CBC.0151"), flags{terminal: true, auth: true}},
		{"401 APIG.0301", apiErr(401, "APIG.0301"), flags{terminal: true, auth: true}},
		{"401 CBC.0154 expired token", apiErr(401, "CBC.0154"), flags{auth: true}},
		{"403 without code", apiErr(403, ""), flags{terminal: true, auth: true}},
		{"404 APIG.0101 wrong endpoint", apiErr(404, "APIG.0101"), flags{terminal: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := flags{IsThrottled(tt.err), IsTerminal(tt.err), IsAmbiguousWrite(tt.err), IsRetryableRead(tt.err), IsAuthFailure(tt.err)}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	single := []struct {
		fn   func(error) bool
		code string
	}{
		{IsSubAccountNotFound, "CBC.99000047"},
		{IsDuplicateTransID, "CBC.99007009"},
		{IsInsufficientBalance, "CBC.99005003"},
		{IsTransferInProgress, "CBC.99007461"},
	}
	for _, s := range single {
		if !s.fn(apiErr(400, s.code)) || s.fn(apiErr(400, "CBC.0100")) || s.fn(nil) {
			t.Errorf("classifier for %s is wrong", s.code)
		}
		if Code(apiErr(400, s.code)) != s.code {
			t.Errorf("Code() lost %s", s.code)
		}
	}
}

func TestRetryAfterHint(t *testing.T) {
	if d := RetryAfterHint(&Error{HTTPStatus: 429, RetryAfter: 7 * time.Second}); d != 7*time.Second {
		t.Errorf("header hint = %v", d)
	}
	for range 20 {
		d := RetryAfterHint(fmt.Errorf("w: %w", &Error{HTTPStatus: 429, Code: CodeThrottled}))
		if d < 2*time.Second || d > 5*time.Second {
			t.Fatalf("default hint %v outside 2–5 s", d)
		}
	}
	if d := RetryAfterHint(&Error{HTTPStatus: 400, Code: "CBC.0100"}); d != 0 {
		t.Errorf("non-throttled hint = %v", d)
	}
	if d := RetryAfterHint(context.Canceled); d != 0 {
		t.Errorf("non-API hint = %v", d)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"5":                             5 * time.Second,
		"-3":                            0,
		"99999":                         10 * time.Minute,
		"soon":                          0,
		"Fri, 27 Nov 2026 12:00:30 GMT": 30 * time.Second,
		"Fri, 27 Nov 2026 11:00:00 GMT": 0,
	}
	for in, want := range tests {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestNormalizeExponents(t *testing.T) {
	tests := map[string]string{
		`{"a":1.2345678E7}`:               `{"a":12345678}`,
		`{"a":-1.5e2,"b":"1e5"}`:          `{"a":-150,"b":"1e5"}`,
		`{"a":1.0E-4}`:                    `{"a":0.00010}`,
		`{"a":12e-1}`:                     `{"a":1.2}`,
		`{"a":1E+3,"t":true}`:             `{"a":1000,"t":true}`,
		`{"s":"x\"1e5\"","n":[2.5E1,3]}`:  `{"s":"x\"1e5\"","n":[25,3]}`,
		`{"huge":1e400}`:                  `{"huge":1e400}`,
		`{"plain":123.45,"neg":-0.5}`:     `{"plain":123.45,"neg":-0.5}`,
		`{"key e":"value E","n":1.25e+1}`: `{"key e":"value E","n":12.5}`,
	}
	for in, want := range tests {
		if got := string(normalizeExponents([]byte(in))); got != want {
			t.Errorf("normalizeExponents(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestErrorMessageTruncated(t *testing.T) {
	long := strings.Repeat("é", 2000)
	f := newFakeBSS(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		writeJSON(w, 400, `{"error_code":"CBC.0100","error_msg":"`+long+`"}`)
	})
	c := newTestClient(t, f)
	_, err := c.GetAccountBalances(t.Context())
	e := asAPIError(t, err)
	if len(e.Message) > maxMessageLen+len("…") || !strings.HasSuffix(e.Message, "…") {
		t.Errorf("message not truncated: %d bytes", len(e.Message))
	}
}

package bss

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrInvalidRequest is wrapped by every error the client returns for a
// request it refused to send because it breaks a documented limit (a limit
// outside its range, a trans_id longer than 32 characters, a non-positive
// amount, a missing required field). Nothing was sent; fix the request.
var ErrInvalidRequest = errors.New("invalid request")

// Error is a non-2xx response from BSS or its API gateway.
type Error struct {
	// Operation is one of the Op… constants.
	Operation string
	// HTTPStatus is the response status code.
	HTTPStatus int
	// Code is the error code, e.g. "CBC.99005003" or "APIG.0308"; "" when
	// the body carried none.
	Code string
	// Message is the error message from the body (error_msg or message),
	// or a short description when the body was not a JSON error.
	Message string
	// RequestID is the X-Request-Id header, or the body's request_id.
	RequestID string
	// FailCheckItems lists the failed business checks of CBC.99007004
	// (e.g. "SUB_CUSTOMER_OVERDUE_BILL"), one readable string per item.
	FailCheckItems []string
	// RetryAfter is the Retry-After header of the response, 0 when absent.
	RetryAfter time.Duration
}

// Error formats the failure as
// "bss: UpdateSubEnterpriseAmount: HTTP 400 CBC.99005003: insufficient balance (request id …)".
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bss: %s: HTTP %d", e.Operation, e.HTTPStatus)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if len(e.FailCheckItems) > 0 {
		b.WriteString(" [fail_check_items: " + strings.Join(e.FailCheckItems, ", ") + "]")
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + e.RequestID + ")")
	}
	return b.String()
}

func (e *Error) throttled() bool {
	return e.HTTPStatus == http.StatusTooManyRequests || e.Code == CodeThrottled
}

// TransportError is a call that got no complete response: the connection
// failed, the attempt timed out, the context ended while the request was in
// flight, or the response body could not be read. The request may or may
// not have reached BSS, so for a write this is ambiguous (IsAmbiguousWrite).
// Its text never contains the URL's query, credentials or the signature.
type TransportError struct {
	// Operation is one of the Op… constants.
	Operation string
	// Method and Path identify the request without its query.
	Method, Path string
	// Timeout reports that the attempt timed out (Config.Timeout, the
	// caller's deadline, or a network timeout).
	Timeout bool

	msg string
	err error
}

// Error describes the failure.
func (e *TransportError) Error() string {
	return fmt.Sprintf("bss: %s: %s %s: transport error: %s", e.Operation, e.Method, e.Path, e.msg)
}

// Unwrap returns the underlying network or context error, so that
// errors.Is(err, context.DeadlineExceeded) works.
func (e *TransportError) Unwrap() error { return e.err }

// DecodeError is a 2xx response whose body could not be decoded. For a
// write the server accepted the request, but its result is unknown, so it
// counts as ambiguous: resending the same trans_id yields CBC.99007009.
type DecodeError struct {
	// Operation is one of the Op… constants.
	Operation string
	// HTTPStatus is the (successful) response status.
	HTTPStatus int
	// Err is the JSON decoding error.
	Err error
}

// Error describes the failure.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("bss: %s: HTTP %d: decoding the response: %v", e.Operation, e.HTTPStatus, e.Err)
}

// Unwrap returns the decoding error.
func (e *DecodeError) Unwrap() error { return e.Err }

// Error codes with a classifier of their own.
const (
	// CodeThrottled is the API gateway's throttling code (HTTP 429).
	CodeThrottled = "APIG.0308"
	// CodeSubAccountNotFound means the (sub-)customer account does not exist.
	CodeSubAccountNotFound = "CBC.99000047"
	// CodeDuplicateTransID means a request with this trans_id was already
	// accepted: treat the write as applied.
	CodeDuplicateTransID = "CBC.99007009"
	// CodeInsufficientBalance means the balance does not cover the amount.
	CodeInsufficientBalance = "CBC.99005003"
	// CodeTransferInProgress means another transfer or reclaim is running.
	CodeTransferInProgress = "CBC.99007461"
	// CodeCheckItemFailed means a business check failed; see FailCheckItems.
	CodeCheckItemFailed = "CBC.99007004"
	// CodeInternal is BSS's "other or unknown error".
	CodeInternal = "CBC.0999"
	// CodePaymentInProgress means a payment of the order is already being
	// processed: read the order's status instead of paying again.
	CodePaymentInProgress = "CBC.99000088"
	// CodeUseCombinedOrder means the order is part of a combined-transaction
	// order: pay or cancel the combined order's ID instead.
	CodeUseCombinedOrder = "CBC.99000089"
	// CodeInvalidOrder means the order is invalid (it may not exist).
	CodeInvalidOrder = "CBC.30000010"
	// CodeOrderNotCancellable means the order's status does not allow
	// cancelling it (only pending-payment orders can be cancelled).
	CodeOrderNotCancellable = "CBC.99005010"
	// CodeOrgBudgetInsufficient means the enterprise organization's budget
	// does not cover the payment.
	CodeOrgBudgetInsufficient = "CBC.99003198"
	// CodeTooFrequent means operations are too frequent: retry later.
	CodeTooFrequent = "CBC.99008040"
	// CodeCostCenterNotEnabled means the account has not enabled Cost
	// Center, which the cost APIs need.
	CodeCostCenterNotEnabled = "CBC.18000014"
	// CodeTooManySubAccounts means a cost query across sub-accounts covers
	// more than 1000 finance-independent ones: query one at a time.
	CodeTooManySubAccounts = "CBC.18000048"
)

// terminalCodes must not be retried automatically (bss-api.md §9.1, §9.2):
// the request, the configuration or the business state has to change first.
var terminalCodes = codeSet(
	"CBC.0100", "CBC.0101", "CBC.0151", "CBC.0155", "CBC.0156",
	CodeSubAccountNotFound, CodeInsufficientBalance, CodeCheckItemFailed, "CBC.7004",
	"CBC.99007181", "CBC.7181", CodeCostCenterNotEnabled, "CBC.7001",
	"CBC.18000016", CodeTooManySubAccounts, "CBC.70300008", "CBC.70900002",
	"CBC.99000026", "CBC.99000027", "CBC.99000029", "CBC.99000030", "CBC.99000031",
	"CBC.99000049", "CBC.99000051", "CBC.99000084", CodeUseCombinedOrder,
	CodeOrgBudgetInsufficient, CodeOrderNotCancellable, "CBC.99006006", "CBC.99007490", CodeInvalidOrder,
	"APIG.0101", // the API does not exist at this endpoint: a wrong Endpoint
)

// ambiguousCodes may or may not have applied a write (bss-api.md §9.2).
var ambiguousCodes = codeSet(CodeInternal, "CBC.99000043", "CBC.99000087", CodeTransferInProgress, CodeThrottled)

// retryableReadCodes are transient for reads (bss-api.md §9.2).
var retryableReadCodes = codeSet(CodeInternal, "CBC.99006016", "CBC.99006017", "CBC.99006024",
	"CBC.99008040", "CBC.99007197", CodeThrottled)

// authCodes are authentication and authorization failures.
var authCodes = codeSet("CBC.0151", "CBC.0154", "CBC.0156",
	"APIG.0301", "APIG.0302", "APIG.0303", "APIG.0304", "APIG.0305", "APIG.0306", "APIG.0307", "APIG.1009")

// credentialRefreshCodes are auth failures cured by fresh credentials
// (an expired token), so they are not terminal.
var credentialRefreshCodes = codeSet("CBC.0154", "APIG.0307")

func codeSet(codes ...string) map[string]bool {
	m := make(map[string]bool, len(codes))
	for _, c := range codes {
		m[c] = true
	}
	return m
}

func asError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Code returns the BSS or gateway error code of err ("CBC.99005003"), or ""
// when err is not an *Error or carried no code.
func Code(err error) string {
	if e, ok := asError(err); ok {
		return e.Code
	}
	return ""
}

// IsThrottled reports a throttled call: HTTP 429 or code APIG.0308. The
// gateway rejected it before it reached BSS.
func IsThrottled(err error) bool {
	e, ok := asError(err)
	return ok && e.throttled()
}

// RetryAfterHint returns how long to wait before calling again. It returns
// the Retry-After header when the response had one; otherwise, for a
// throttled call, a random duration between 2 s and 5 s (Huawei's advice,
// bss-api.md §9.3); otherwise 0.
func RetryAfterHint(err error) time.Duration {
	e, ok := asError(err)
	switch {
	case !ok:
		return 0
	case e.RetryAfter > 0:
		return e.RetryAfter
	case e.throttled():
		return DefaultThrottleDelay + rand.N(3*time.Second) //nolint:gosec // G404: jitter needs no cryptographic randomness
	}
	return 0
}

// IsTerminal reports a failure that must not be retried automatically and
// should be surfaced (e.g. as a condition) until something changes: a
// request refused client-side (ErrInvalidRequest), a terminal BSS code
// (CBC.0100, CBC.0101, CBC.0151, CBC.0155, CBC.0156, CBC.99000047,
// CBC.99005003, CBC.99007004/CBC.7004, CBC.99007181/CBC.7181,
// CBC.18000014, CBC.7001 and the other codes bss-api.md §9.1 marks
// terminal), APIG.0101 (no such API at this endpoint), or an
// authentication failure other than an expired token (CBC.0154,
// APIG.0307).
func IsTerminal(err error) bool {
	if errors.Is(err, ErrInvalidRequest) {
		return true
	}
	e, ok := asError(err)
	if !ok {
		return false
	}
	if terminalCodes[e.Code] {
		return true
	}
	return IsAuthFailure(err) && !credentialRefreshCodes[e.Code]
}

// IsAmbiguousWrite reports that a write may or may not have been applied,
// so it must be resent with the same trans_id (never a new one): transport
// errors (connection failures, timeouts, the context ending while the
// request was in flight), an unreadable 2xx body, HTTP 5xx and 429, and the
// codes CBC.0999, CBC.99000043, CBC.99000087, CBC.99007461 and APIG.0308.
// A terminal code wins over a 5xx status. Errors from waiting for the rate
// limiter or for the in-flight money write are not ambiguous: nothing was
// sent.
func IsAmbiguousWrite(err error) bool {
	var te *TransportError
	var de *DecodeError
	if errors.As(err, &te) || errors.As(err, &de) {
		return true
	}
	e, ok := asError(err)
	if !ok || terminalCodes[e.Code] {
		return false
	}
	return ambiguousCodes[e.Code] || e.HTTPStatus >= 500 || e.HTTPStatus == http.StatusTooManyRequests
}

// IsRetryableRead reports a read failure worth retrying with backoff:
// transport errors, HTTP 5xx and 429, and the codes CBC.0999,
// CBC.99006016, CBC.99006017, CBC.99006024, CBC.99008040, CBC.99007197 and
// APIG.0308 (bss-api.md §9.2). A terminal code wins over a 5xx status. The
// client already retries reads ReadRetry.MaxAttempts times.
func IsRetryableRead(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	e, ok := asError(err)
	if !ok || terminalCodes[e.Code] {
		return false
	}
	return retryableReadCodes[e.Code] || e.HTTPStatus >= 500 || e.HTTPStatus == http.StatusTooManyRequests
}

// IsSubAccountNotFound reports CBC.99000047: the (sub-)customer account
// does not exist.
func IsSubAccountNotFound(err error) bool { return Code(err) == CodeSubAccountNotFound }

// IsDuplicateTransID reports CBC.99007009: a request with this trans_id was
// already accepted. For a resent write this means "applied".
func IsDuplicateTransID(err error) bool { return Code(err) == CodeDuplicateTransID }

// IsInsufficientBalance reports CBC.99005003: the balance does not cover
// the amount.
func IsInsufficientBalance(err error) bool { return Code(err) == CodeInsufficientBalance }

// IsTransferInProgress reports CBC.99007461: another transfer or reclaim
// task of the account is still running; retry later with the same trans_id.
func IsTransferInProgress(err error) bool { return Code(err) == CodeTransferInProgress }

// IsPaymentInProgress reports CBC.99000088: a payment of the order is
// already being processed. Do not pay again; poll the order's status (3
// processing, then 5 completed).
func IsPaymentInProgress(err error) bool { return Code(err) == CodePaymentInProgress }

// IsTooFrequent reports CBC.99008040: operations too frequent. Reads are
// retried on it inside the client; a caller may retry a write later.
func IsTooFrequent(err error) bool { return Code(err) == CodeTooFrequent }

// IsCostCenterNotEnabled reports CBC.18000014: the account has not enabled
// Cost Center, so no cost data can be read.
func IsCostCenterNotEnabled(err error) bool { return Code(err) == CodeCostCenterNotEnabled }

// IsTooManySubAccounts reports CBC.18000048: the query covers more than
// 1000 finance-independent sub-accounts; query them one at a time.
func IsTooManySubAccounts(err error) bool { return Code(err) == CodeTooManySubAccounts }

// IsAuthFailure reports an authentication or authorization failure: any
// HTTP 401 or 403, and the codes CBC.0151 (access denied), CBC.0154 (token
// invalid or expired), CBC.0156 (account belongs to another site), and the
// API gateway codes APIG.0301–APIG.0307 (incorrect IAM or app
// authentication, not authorized, token must be updated) and APIG.1009
// (AppKey/AppSecret mismatch).
func IsAuthFailure(err error) bool {
	e, ok := asError(err)
	if !ok {
		return false
	}
	return e.HTTPStatus == http.StatusUnauthorized || e.HTTPStatus == http.StatusForbidden || authCodes[e.Code]
}

// errorBody is every error shape seen from BSS and the API gateway. Fields
// are raw so that an unexpected type in one field does not hide the others.
type errorBody struct {
	ErrorCode      json.RawMessage `json:"error_code"`
	ErrorMsg       json.RawMessage `json:"error_msg"`
	Code           json.RawMessage `json:"code"`
	Message        json.RawMessage `json:"message"`
	FailCheckItems json.RawMessage `json:"fail_check_items"`
	RequestID      json.RawMessage `json:"request_id"`
	Nested         json.RawMessage `json:"error"`
}

// maxMessageLen bounds Message; BSS documents error_msg as ≤1024 characters.
const maxMessageLen = 1024

// parseError builds an *Error from a non-2xx response.
func parseError(op string, resp *http.Response, data []byte, now time.Time) *Error {
	e := &Error{
		Operation:  op,
		HTTPStatus: resp.StatusCode,
		RequestID:  resp.Header.Get("X-Request-Id"),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), now),
	}
	var eb errorBody
	if len(strings.TrimSpace(string(data))) > 0 && json.Unmarshal(data, &eb) == nil {
		e.Code = firstNonEmpty(rawString(eb.ErrorCode), rawString(eb.Code))
		e.Message = firstNonEmpty(rawString(eb.ErrorMsg), rawString(eb.Message))
		var nested map[string]json.RawMessage
		if json.Unmarshal(eb.Nested, &nested) == nil {
			e.Code = firstNonEmpty(e.Code, firstField(nested, "code", "error_code"))
			e.Message = firstNonEmpty(e.Message, firstField(nested, "message", "error_msg"))
		}
		e.RequestID = firstNonEmpty(e.RequestID, rawString(eb.RequestID))
		var items []json.RawMessage
		if json.Unmarshal(eb.FailCheckItems, &items) != nil && len(eb.FailCheckItems) > 0 {
			items = []json.RawMessage{eb.FailCheckItems} // a single item instead of a list
		}
		for _, item := range items {
			if s := failCheckItemString(item); s != "" {
				e.FailCheckItems = append(e.FailCheckItems, s)
			}
		}
	} else if len(data) > 0 {
		e.Message = "non-JSON error body: " + snippet(data, 200)
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	e.Message = Truncate(e.Message, maxMessageLen)
	return e
}

// failCheckItemString renders one fail_check_items entry readably. BSS
// documents plain strings; objects are rendered as "ID: message" when they
// have recognizable fields and as compact JSON otherwise.
func failCheckItemString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		id := firstField(obj, "fail_check_item", "check_item_id", "check_item", "item_id", "id", "code", "error_code", "name", "key")
		msg := firstField(obj, "message", "msg", "error_msg", "description", "desc", "reason", "value")
		switch {
		case id != "" && msg != "":
			return id + ": " + msg
		case id != "":
			return id
		case msg != "":
			return msg
		}
		if b, err := json.Marshal(obj); err == nil { // map keys come out sorted
			return string(b)
		}
	}
	return strings.TrimSpace(string(raw))
}

func firstField(obj map[string]json.RawMessage, names ...string) string {
	for _, n := range names {
		if v, ok := obj[n]; ok {
			if s := rawString(v); s != "" {
				return s
			}
		}
	}
	return ""
}

// rawString returns a JSON string's value, or a number's or bool's literal
// text; "" for null, objects and arrays.
func rawString(raw json.RawMessage) string {
	t := strings.TrimSpace(string(raw))
	if t == "" || t == "null" {
		return ""
	}
	if t[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	if t[0] == '{' || t[0] == '[' {
		return ""
	}
	return t
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or
// invalid. Values are capped at ten minutes.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	const maxRetryAfter = 10 * time.Minute
	var d time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// snippet returns at most n bytes of data as printable text.
func snippet(data []byte, n int) string {
	s := strings.ToValidUTF8(string(data), "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return Truncate(strings.TrimSpace(s), n)
}

// Truncate cuts s to at most n bytes, on a rune boundary (a Chinese BSS
// message is never cut inside a character), ending a cut text with "…".
func Truncate(s string, n int) string {
	const ellipsis = "…"
	if len(s) <= n {
		return s
	}
	return Clip(s, max(n-len(ellipsis), 0)) + ellipsis
}

// Clip cuts s to at most n bytes on a rune boundary.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

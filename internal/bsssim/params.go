package bsssim

import (
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// utcLayout is the layout of BSS request and response timestamps.
const utcLayout = "2006-01-02T15:04:05Z"

// params reads and validates query parameters. The first value of a
// repeated parameter wins; unknown parameters are ignored.
type params struct{ q url.Values }

func (c *reqCtx) params() params { return params{q: c.r.URL.Query()} }

// str returns a string parameter and whether it was present.
func (p params) str(name string, maxLen int) (string, bool, error) {
	vs, ok := p.q[name]
	if !ok || len(vs) == 0 {
		return "", false, nil
	}
	if utf8.RuneCountInString(vs[0]) > maxLen {
		return "", true, paramErr("%s must be at most %d characters", name, maxLen)
	}
	return vs[0], true, nil
}

// required returns a string parameter that must be present and not empty.
func (p params) required(name string, maxLen int) (string, error) {
	v, ok, err := p.str(name, maxLen)
	if err != nil {
		return "", err
	}
	if !ok || v == "" {
		return "", paramErr("%s is required", name)
	}
	return v, nil
}

// num returns an integer parameter in [lo, hi], def when absent. An empty
// value is rejected.
func (p params) num(name string, def, lo, hi int) (int, error) {
	vs, ok := p.q[name]
	if !ok || len(vs) == 0 {
		return def, nil
	}
	if vs[0] == "" {
		return 0, paramErr("%s must not be empty", name)
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil {
		return 0, paramErr("%s must be an integer", name)
	}
	if n < lo || n > hi {
		return 0, paramErr("%s must be between %d and %d", name, lo, hi)
	}
	return n, nil
}

// oneOf returns an enumerated parameter, def when absent.
func (p params) oneOf(name, def string, allowed ...string) (string, error) {
	vs, ok := p.q[name]
	if !ok || len(vs) == 0 {
		return def, nil
	}
	for _, a := range allowed {
		if vs[0] == a {
			return a, nil
		}
	}
	if vs[0] == "" {
		return "", paramErr("%s must not be empty", name)
	}
	return "", paramErr("%s must be one of %s", name, strings.Join(allowed, ", "))
}

// page returns offset and limit with BSS's defaults and bounds.
func (p params) page(maxLimit int) (int, int, error) {
	offset, err := p.num("offset", 0, 0, math.MaxInt32)
	if err != nil {
		return 0, 0, err
	}
	limit, err := p.num("limit", 10, 1, maxLimit)
	if err != nil {
		return 0, 0, err
	}
	return offset, limit, nil
}

// balanceType reads the required balance_type parameter.
func (p params) balanceType() (string, error) {
	if _, ok := p.q["balance_type"]; !ok {
		return "", paramErr("balance_type is required")
	}
	return p.oneOf("balance_type", "", BalanceTypeDebit, BalanceTypeCredit)
}

// utcTime reads an optional yyyy-MM-ddTHH:mm:ssZ parameter.
func (p params) utcTime(name string) (*time.Time, error) {
	v, ok, err := p.str(name, 20)
	if err != nil || !ok {
		return nil, err
	}
	t, perr := time.Parse(utcLayout, v)
	if perr != nil {
		return nil, paramErr("%s must be a UTC time like 2016-03-28T14:45:38Z", name)
	}
	return &t, nil
}

// date reads an optional YYYY-MM-DD parameter (UTC+8).
func (p params) date(name string) (*time.Time, error) {
	v, ok, err := p.str(name, 10)
	if err != nil || !ok {
		return nil, err
	}
	t, perr := time.ParseInLocation(time.DateOnly, v, beijing)
	if perr != nil {
		return nil, paramErr("%s must be a date like 2026-01-31", name)
	}
	return &t, nil
}

// pageBounds returns the slice bounds of a page.
func pageBounds(n, offset, limit int) (int, int) {
	lo := min(offset, n)
	hi := min(lo+limit, n)
	return lo, hi
}

// decodeBody reads a JSON request body into v, naming the offending field
// on type errors.
func (c *reqCtx) decodeBody(v any) error {
	if len(strings.TrimSpace(string(c.body))) == 0 {
		return paramErr("the request body is required")
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return paramErr("%s has the wrong type: expected %s", te.Field, te.Type.String())
		}
		return paramErr("the request body is not valid JSON")
	}
	return nil
}

// reqString validates a required string field of a body.
func reqString(name string, v *string, maxLen int) (string, error) {
	if v == nil || *v == "" {
		return "", paramErr("%s is required", name)
	}
	if utf8.RuneCountInString(*v) > maxLen {
		return "", paramErr("%s must be at most %d characters", name, maxLen)
	}
	return *v, nil
}

// optString validates an optional string field of a body.
func optString(name string, v *string, maxLen int) (string, error) {
	if v == nil {
		return "", nil
	}
	if utf8.RuneCountInString(*v) > maxLen {
		return "", paramErr("%s must be at most %d characters", name, maxLen)
	}
	return *v, nil
}

// parseAmount validates a money amount sent as a JSON string: numeric,
// greater than 0, at most 2 decimals and at most 32 characters.
func parseAmount(name string, raw json.RawMessage) (money.Amount, error) {
	t := strings.TrimSpace(string(raw))
	if t == "" || t == "null" {
		return 0, paramErr("%s is required", name)
	}
	if !strings.HasPrefix(t, `"`) {
		return 0, paramErr("%s must be a string such as \"1250.50\"", name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, paramErr("%s must be a string such as \"1250.50\"", name)
	}
	switch {
	case s == "":
		return 0, paramErr("%s is required", name)
	case len(s) > 32:
		return 0, paramErr("%s must be at most 32 characters", name)
	}
	a, err := money.Parse(s)
	if err != nil {
		return 0, paramErr("%s %q is not a valid amount: use yuan with at most 2 decimals, such as 1250.50", name, s)
	}
	if !a.IsPositive() {
		return 0, paramErr("%s must be greater than 0", name)
	}
	return a, nil
}

// parseTransID validates an optional trans_id (at most 32 characters).
func parseTransID(v *string) (string, error) {
	return optString("trans_id", v, 32)
}

// num is a money amount written as a JSON number ("1250.50" without
// quotes), the form of BSS's decimal fields.
type num money.Amount

// MarshalJSON writes the amount as a JSON number with two decimals.
func (n num) MarshalJSON() ([]byte, error) { return []byte(money.Amount(n).String()), nil }

// UnmarshalJSON reads a JSON number or string amount.
func (n *num) UnmarshalJSON(b []byte) error {
	return (*money.Amount)(n).UnmarshalJSON(b)
}

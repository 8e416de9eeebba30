package bss

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// encodeQuery encodes q like the official SDK: keys sorted, values
// percent-encoded, spaces as %20 (never "+", which some gateways read
// literally).
func encodeQuery(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	// Encode escapes a literal "+" as %2B, so every "+" left is a space.
	return strings.ReplaceAll(q.Encode(), "+", "%20")
}

// decodeJSON decodes a response body. JSON numbers in exponent form
// (1.2345678E7, which Java servers write for large or tiny doubles) are
// first rewritten in plain decimal form so that money.Amount and integer
// fields can read them without any floating-point step.
func decodeJSON(data []byte, out any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("empty response body")
	}
	return json.Unmarshal(normalizeExponents(data), out)
}

// normalizeExponents rewrites every JSON number with an exponent into plain
// decimal notation. Strings are left untouched. Numbers whose exponent is
// absurdly large are left as they are (and then fail to decode).
func normalizeExponents(data []byte) []byte {
	if !bytes.ContainsAny(data, "eE") {
		return data
	}
	var out []byte // allocated on the first rewrite
	last := 0
	inString := false
	for i := 0; i < len(data); i++ {
		ch := data[i]
		if inString {
			switch ch {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		if ch == '"' {
			inString = true
			continue
		}
		if ch != '-' && (ch < '0' || ch > '9') {
			continue
		}
		j := i
		for j < len(data) && strings.IndexByte("+-.0123456789eE", data[j]) >= 0 {
			j++
		}
		if plain, ok := expandExponent(string(data[i:j])); ok {
			if out == nil {
				out = make([]byte, 0, len(data)+16)
			}
			out = append(out, data[last:i]...)
			out = append(out, plain...)
			last = j
		}
		i = j - 1
	}
	if out == nil {
		return data
	}
	return append(out, data[last:]...)
}

// expandExponent turns "-1.25E3" into "-1250"; ok is false when num has no
// exponent or is malformed.
func expandExponent(num string) (string, bool) {
	k := strings.IndexAny(num, "eE")
	if k < 0 {
		return "", false
	}
	mant, expStr := num[:k], num[k+1:]
	exp, err := strconv.Atoi(expStr)
	if err != nil || exp > 40 || exp < -40 {
		return "", false
	}
	sign := ""
	if strings.HasPrefix(mant, "-") {
		sign, mant = "-", mant[1:]
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" || !isDigits(intPart) || !isDigits(frac) {
		return "", false
	}
	digits := intPart + frac
	point := len(intPart) + exp // position of the decimal point within digits
	var s string
	switch {
	case point <= 0:
		s = "0." + strings.Repeat("0", -point) + digits
	case point >= len(digits):
		s = digits + strings.Repeat("0", point-len(digits))
	default:
		s = digits[:point] + "." + digits[point:]
	}
	return sign + s, true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// looseString decodes a JSON string, number or bool into its text; null
// leaves it empty. It absorbs fields whose JSON type differs between API
// versions (order_type is a number in responses but a string in queries).
type looseString string

// UnmarshalJSON implements json.Unmarshaler.
func (s *looseString) UnmarshalJSON(b []byte) error {
	t := strings.TrimSpace(string(b))
	if t != "" && (t[0] == '{' || t[0] == '[') {
		return fmt.Errorf("expected a string or number, got %.20s", t)
	}
	*s = looseString(rawString(b))
	return nil
}

// validator collects the first violated limit of a request.
type validator struct {
	op  string
	err error
}

func (v *validator) failf(format string, args ...any) {
	if v.err == nil {
		v.err = fmt.Errorf("bss: %s: %w: %s", v.op, ErrInvalidRequest, fmt.Sprintf(format, args...))
	}
}

// required checks a mandatory string field and its maximum length.
func (v *validator) required(field, val string, maxLen int) {
	if val == "" {
		v.failf("%s is required", field)
		return
	}
	v.maxLen(field, val, maxLen)
}

// maxLen checks an optional string field's length in characters.
func (v *validator) maxLen(field, val string, maxLen int) {
	if n := utf8.RuneCountInString(val); n > maxLen {
		v.failf("%s must be at most %d characters, got %d", field, maxLen, n)
	}
}

// page checks offset ≥ 0 and 0 ≤ limit ≤ maxLimit (0 means the server
// default of 10).
func (v *validator) page(offset, limit, maxLimit int) {
	if offset < 0 {
		v.failf("offset must not be negative, got %d", offset)
	}
	if limit < 0 || limit > maxLimit {
		v.failf("limit must be between 1 and %d (or 0 for the server default), got %d", maxLimit, limit)
	}
}

// oneOf checks that an optional field is empty or one of allowed.
func (v *validator) oneOf(field, val string, allowed ...string) {
	if val == "" {
		return
	}
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	v.failf("%s must be one of %s, got %q", field, strings.Join(allowed, ", "), val)
}

// timeLayout checks that an optional field parses with layout.
func (v *validator) timeLayout(field, val, layout, example string) (time.Time, bool) {
	if val == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(layout, val)
	if err != nil {
		v.failf("%s must look like %s, got %q", field, example, val)
		return time.Time{}, false
	}
	return t, true
}

// span checks that end is not before begin and at most one year after it.
func (v *validator) span(field string, begin, end time.Time) {
	if end.Before(begin) {
		v.failf("%s: the end is before the beginning", field)
	} else if end.After(begin.AddDate(1, 0, 0)) {
		v.failf("%s: the span must not exceed one year", field)
	}
}

// noPathChars rejects characters that cannot be a single path segment.
func (v *validator) noPathChars(field, val string) {
	if strings.ContainsAny(val, "/?#%") {
		v.failf("%s must not contain '/', '?', '#' or '%%'", field)
	}
}

// Layouts of the BSS time formats.
const (
	utcTimeLayout   = "2006-01-02T15:04:05Z"
	billCycleLayout = "2006-01"
	dateLayout      = "2006-01-02"
)

// pageQuery adds limit (when > 0) and offset to q. alwaysOffset sends
// offset=0 too; the SDK vectors show both styles per operation, and 0 is
// the documented default either way.
func pageQuery(q url.Values, offset, limit int, alwaysOffset bool) {
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if offset > 0 || alwaysOffset {
		q.Set("offset", strconv.Itoa(offset))
	}
}

// setIf adds key=val when val is not empty.
func setIf(q url.Values, key, val string) {
	if val != "" {
		q.Set(key, val)
	}
}

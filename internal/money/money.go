// Package money holds amounts of Chinese yuan as an integer number of fen
// (1 yuan = 100 fen). Money never passes through a floating-point type.
//
// Two parsers exist because two kinds of text arrive:
//
//   - Parse accepts only the format users write in the custom resources
//     (non-negative yuan with at most two decimals, no sign, no exponent, no
//     leading zeros), exactly the pattern the CRDs validate.
//   - ParseDecimal accepts what BSS responses carry: decimal numbers that may
//     have a sign, more than two decimals, or leading zeros. Digits below the
//     fen are truncated toward zero, so a balance read from BSS is never
//     overstated: an "available 100.009" becomes 100.00 and a transfer the
//     operator computes from it can never exceed what BSS holds.
package money

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Amount is an amount of yuan held as fen. The zero value is 0.00.
type Amount int64

// Zero is 0.00 yuan.
const Zero Amount = 0

// maxIntegerDigits bounds the yuan part accepted by Parse; it matches the CRD
// pattern (at most 12 integer digits) and keeps every sum far from overflow.
const maxIntegerDigits = 12

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("invalid amount")

// FromFen returns the amount of the given number of fen.
func FromFen(fen int64) Amount { return Amount(fen) }

// Yuan returns the amount of whole yuan.
func Yuan(y int64) Amount { return Amount(y * 100) }

// Fen returns the amount as an integer number of fen.
func (a Amount) Fen() int64 { return int64(a) }

// Parse reads an amount in the CRD format: "0", "12", "1250.5", "1250.50".
// It rejects signs, exponents, leading zeros, more than two decimals, more
// than twelve integer digits and empty strings.
func Parse(s string) (Amount, error) {
	intPart, frac, hasDot := strings.Cut(s, ".")
	switch {
	case intPart == "":
		return 0, fmt.Errorf("%w %q: expected yuan with at most 2 decimals, e.g. 1250.50", ErrSyntax, s)
	case len(intPart) > maxIntegerDigits:
		return 0, fmt.Errorf("%w %q: more than %d digits before the decimal point", ErrSyntax, s, maxIntegerDigits)
	case len(intPart) > 1 && intPart[0] == '0':
		return 0, fmt.Errorf("%w %q: leading zeros are not allowed", ErrSyntax, s)
	case !allDigits(intPart):
		return 0, fmt.Errorf("%w %q: expected yuan with at most 2 decimals, e.g. 1250.50", ErrSyntax, s)
	case hasDot && (len(frac) == 0 || len(frac) > 2 || !allDigits(frac)):
		return 0, fmt.Errorf("%w %q: expected yuan with at most 2 decimals, e.g. 1250.50", ErrSyntax, s)
	}
	yuan, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w %q: %w", ErrSyntax, s, err)
	}
	fen := int64(0)
	if hasDot {
		f, _ := strconv.ParseInt(frac, 10, 64)
		if len(frac) == 1 {
			f *= 10
		}
		fen = f
	}
	return Amount(yuan*100 + fen), nil
}

// MustParse is Parse for constants in tests and examples; it panics on error.
func MustParse(s string) Amount {
	a, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return a
}

// ParseDecimal reads a decimal number as BSS sends it: an optional sign,
// digits, and an optional fraction of any length. Digits below the fen are
// truncated toward zero (see the package comment for why). Exponents, empty
// strings and values beyond ±10^15 yuan are rejected.
func ParseDecimal(s string) (Amount, error) {
	t := strings.TrimSpace(s)
	neg := false
	if t != "" && (t[0] == '-' || t[0] == '+') {
		neg = t[0] == '-'
		t = t[1:]
	}
	intPart, frac, _ := strings.Cut(t, ".")
	if (intPart == "" && frac == "") || !allDigits(intPart) || !allDigits(frac) {
		return 0, fmt.Errorf("%w %q: not a decimal number", ErrSyntax, s)
	}
	intPart = strings.TrimLeft(intPart, "0")
	if len(intPart) > 15 {
		return 0, fmt.Errorf("%w %q: out of range", ErrSyntax, s)
	}
	var yuan int64
	if intPart != "" {
		yuan, _ = strconv.ParseInt(intPart, 10, 64)
	}
	frac2 := (frac + "00")[:2]
	fen, _ := strconv.ParseInt(frac2, 10, 64)
	v := yuan*100 + fen
	if neg {
		v = -v
	}
	return Amount(v), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String prints the amount in yuan with exactly two decimals: "1250.50",
// "0.00", "-3.05".
func (a Amount) String() string {
	v := int64(a)
	sign := ""
	var u uint64
	if v < 0 {
		sign = "-"
		u = uint64(-(v + 1)) + 1 // safe for math.MinInt64
	} else {
		u = uint64(v)
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}

// Add returns a+b. It panics on int64 overflow, which no real amount reaches.
func (a Amount) Add(b Amount) Amount {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		panic("money: overflow in Add")
	}
	return s
}

// Sub returns a-b. It panics on int64 overflow, which no real amount reaches.
func (a Amount) Sub(b Amount) Amount {
	return a.Add(b.Neg())
}

// Neg returns -a.
func (a Amount) Neg() Amount {
	if a == math.MinInt64 {
		panic("money: overflow in Neg")
	}
	return -a
}

// Cmp returns -1, 0 or +1 as a is less than, equal to or greater than b.
func (a Amount) Cmp(b Amount) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// IsZero reports whether a is 0.00.
func (a Amount) IsZero() bool { return a == 0 }

// IsPositive reports whether a is greater than 0.00.
func (a Amount) IsPositive() bool { return a > 0 }

// IsNegative reports whether a is less than 0.00.
func (a Amount) IsNegative() bool { return a < 0 }

// Abs returns the absolute value of a.
func (a Amount) Abs() Amount {
	if a < 0 {
		return a.Neg()
	}
	return a
}

// Min returns the smaller of a and b.
func Min(a, b Amount) Amount {
	if a < b {
		return a
	}
	return b
}

// Max returns the larger of a and b.
func Max(a, b Amount) Amount {
	if a > b {
		return a
	}
	return b
}

// MulDiv returns a × num ÷ den, rounded toward zero, computed exactly (no
// float, no overflow in between): a share of an amount, or a rate scaled
// to another period. den must not be zero.
func (a Amount) MulDiv(num, den int64) Amount {
	r := new(big.Int).Mul(big.NewInt(int64(a)), big.NewInt(num))
	return Amount(r.Quo(r, big.NewInt(den)).Int64())
}

// Sum returns the total of the amounts.
func Sum(as ...Amount) Amount {
	var t Amount
	for _, a := range as {
		t = t.Add(a)
	}
	return t
}

// MarshalJSON writes the amount as a JSON string, "1250.50".
func (a Amount) MarshalJSON() ([]byte, error) {
	return []byte(`"` + a.String() + `"`), nil
}

// UnmarshalJSON reads a JSON string or a JSON number with ParseDecimal, so
// it accepts every form BSS uses. null leaves the amount unchanged.
func (a *Amount) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return fmt.Errorf("%w: %w", ErrSyntax, err)
		}
		s = str
	}
	v, err := ParseDecimal(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

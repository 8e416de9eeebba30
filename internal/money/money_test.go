package money

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	good := map[string]int64{
		"0": 0, "0.5": 50, "0.05": 5, "1": 100, "12.3": 1230, "1250.50": 125050,
		"999999999999.99": 99999999999999,
	}
	for in, fen := range good {
		got, err := Parse(in)
		if err != nil || got.Fen() != fen {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got.Fen(), err, fen)
		}
	}
	for _, in := range []string{"", "1.234", "-5", "1e3", "01.5", "00", ".5", "5.", "+1", " 1", "1 ", "1,5",
		"1000000000000", "abc", "1.2.3", "0x10", "１"} {
		if _, err := Parse(in); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) err = %v; want ErrSyntax", in, err)
		}
	}
}

func TestParseDecimalTruncatesTowardZero(t *testing.T) {
	cases := map[string]int64{
		"100": 10000, "100.009": 10000, "100.019": 10001, "-0.019": -1, "-12.345": -1234,
		"007.10": 710, ".5": 50, "5.": 500, "+3.1": 310, " 2.50 ": 250, "0.00000001": 0,
	}
	for in, fen := range cases {
		got, err := ParseDecimal(in)
		if err != nil || got.Fen() != fen {
			t.Errorf("ParseDecimal(%q) = %d, %v; want %d", in, got.Fen(), err, fen)
		}
	}
	for _, in := range []string{"", "-", ".", "1e3", "abc", "1.2.3", "1234567890123456", "NaN"} {
		if _, err := ParseDecimal(in); err == nil {
			t.Errorf("ParseDecimal(%q) accepted", in)
		}
	}
}

func TestStringAndArithmetic(t *testing.T) {
	a, b := MustParse("1250.5"), MustParse("0.75")
	if s := a.String(); s != "1250.50" {
		t.Errorf("String = %q", s)
	}
	if s := a.Add(b).String(); s != "1251.25" {
		t.Errorf("Add = %q", s)
	}
	if s := b.Sub(a).String(); s != "-1249.75" {
		t.Errorf("Sub = %q", s)
	}
	if Min(a, b) != b || Max(a, b) != a || a.Cmp(b) != 1 || b.Cmp(a) != -1 || a.Cmp(a) != 0 {
		t.Error("Min/Max/Cmp wrong")
	}
	if Sum(a, b, b.Neg()) != a || !Zero.IsZero() || !a.IsPositive() || !b.Neg().IsNegative() || b.Neg().Abs() != b {
		t.Error("Sum/predicates wrong")
	}
	if FromFen(5).String() != "0.05" || Yuan(3).String() != "3.00" || FromFen(-5).String() != "-0.05" {
		t.Error("FromFen/Yuan wrong")
	}
}

func TestJSON(t *testing.T) {
	type doc struct {
		A Amount `json:"a"`
		B Amount `json:"b"`
		C Amount `json:"c"`
	}
	var d doc
	if err := json.Unmarshal([]byte(`{"a": 12.345, "b": "99.9", "c": null}`), &d); err != nil {
		t.Fatal(err)
	}
	if d.A.Fen() != 1234 || d.B.Fen() != 9990 || d.C != 0 {
		t.Errorf("got %+v", d)
	}
	out, _ := json.Marshal(d)
	if string(out) != `{"a":"12.34","b":"99.90","c":"0.00"}` {
		t.Errorf("marshal = %s", out)
	}
	if err := json.Unmarshal([]byte(`{"a": true}`), &d); err == nil {
		t.Error("bool accepted")
	}
}

func TestOverflowPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic on overflow")
		}
	}()
	FromFen(1 << 62).Add(FromFen(1 << 62))
}

func FuzzParseRoundTrip(f *testing.F) {
	for _, s := range []string{"0", "1250.50", "1.5", "999999999999.99", "-1", "1e3", "01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		// Printing and parsing again gives the same amount, and the printed
		// form is a fixed point.
		b, err := Parse(a.String())
		if err != nil || a != b || b.String() != a.String() {
			t.Fatalf("round trip %q -> %q -> %v, %v", s, a.String(), b, err)
		}
		if d, err := ParseDecimal(s); err != nil || d != a {
			t.Fatalf("ParseDecimal(%q) = %v, %v; Parse gave %v", s, d, err, a)
		}
	})
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0", "-12.345", "+.5", "007.10", "1e3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseDecimal(s)
		if err != nil {
			return
		}
		b, err := ParseDecimal(a.String())
		if err != nil || a != b {
			t.Fatalf("round trip %q -> %q -> %v, %v", s, a.String(), b, err)
		}
	})
}

func TestMulDiv(t *testing.T) {
	for _, c := range []struct {
		a        string
		num, den int64
		want     string
	}{
		{"24.00", 3 * 600, 86400, "0.50"},                        // three times 24.00 a day over 10 minutes
		{"100.00", 86400, 3 * 86400, "33.33"},                    // a cycle's 100.00 over 3 days, per day
		{"999999999999.99", 1 << 40, 1 << 40, "999999999999.99"}, // no overflow in between
	} {
		if got := MustParse(c.a).MulDiv(c.num, c.den); got != MustParse(c.want) {
			t.Errorf("%s × %d ÷ %d = %s, want %s", c.a, c.num, c.den, got, c.want)
		}
	}
}

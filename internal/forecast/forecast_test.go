package forecast

import (
	"math/rand/v2"
	"testing"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

func yuan(ys ...int64) []money.Amount {
	out := make([]money.Amount, len(ys))
	for i, y := range ys {
		out[i] = money.Yuan(y)
	}
	return out
}

func repeat(y int64, n int) []money.Amount {
	out := make([]money.Amount, n)
	for i := range out {
		out[i] = money.Yuan(y)
	}
	return out
}

func TestSteadySpendProjectsExactly(t *testing.T) {
	r := Project(Input{Days: repeat(100, 10), DaysInCycle: 30})
	if !r.Known || r.Projected != money.Yuan(3000) || r.DailyRate != money.Yuan(100) || r.Spent != money.Yuan(1000) {
		t.Errorf("%+v", r)
	}
}

// A single spike day is spent once; it does not raise the rate of the days
// left, as a mean would (which projects 17700 here).
func TestASpikeDayIsCountedOnce(t *testing.T) {
	days := repeat(100, 10)
	days[7] = money.Yuan(5000)
	r := Project(Input{Days: days, DaysInCycle: 30})
	if want := money.Yuan(5900 + 20*100); r.Projected != want || r.DailyRate != money.Yuan(100) {
		t.Errorf("projected %s at %s a day, want %s at 100.00", r.Projected, r.DailyRate, want)
	}
	if r.Exceeds(money.Yuan(8000)) || !r.Exceeds(money.Yuan(7899)) {
		t.Error("the budget check disagrees with the projection")
	}
	// A spike today is spent, not a rate.
	r = Project(Input{Days: repeat(100, 10), Today: money.Yuan(5000), DaysInCycle: 30})
	if want := money.Yuan(1000 + 5000 + 19*100); r.Projected != want {
		t.Errorf("spike today: %s, want %s", r.Projected, want)
	}
}

// A rise shows within half the window: the median follows once most of
// the last seven days are at the new level.
func TestARiseShowsWithinDays(t *testing.T) {
	days := append(repeat(100, 10), repeat(300, 4)...)
	r := Project(Input{Days: days, DaysInCycle: 30})
	if r.DailyRate != money.Yuan(300) || r.Projected != money.Yuan(1000+1200+16*300) {
		t.Errorf("%+v", r)
	}
}

func TestTheFirstDaysOfACycle(t *testing.T) {
	prev := append(repeat(50, 23), repeat(200, 7)...)
	// Day 1, nothing complete yet: last month's rate.
	r := Project(Input{Today: money.Yuan(20), DaysInCycle: 31, Previous: prev})
	if !r.Known || r.DailyRate != money.Yuan(200) || r.Projected != money.Yuan(200*31) {
		t.Errorf("day 1: %+v", r)
	}
	// Day 4: three days at 100 blended with four of last month's 200.
	r = Project(Input{Days: repeat(100, 3), DaysInCycle: 31, Previous: prev})
	if want := money.FromFen((3*10000 + 4*20000 + 3) / 7); r.DailyRate != want {
		t.Errorf("day 4 rate %s, want %s", r.DailyRate, want)
	}
	// A spike on day 1 of a cycle with no history gives no projection...
	r = Project(Input{Days: yuan(5000), DaysInCycle: 31})
	if r.Known || r.Exceeds(money.Yuan(1)) || r.Projected != money.Yuan(5000) {
		t.Errorf("one day, no history: %+v", r)
	}
	// ... and three days give one from their median.
	r = Project(Input{Days: yuan(5000, 100, 120), DaysInCycle: 31})
	if !r.Known || r.DailyRate != money.Yuan(120) {
		t.Errorf("three days: %+v", r)
	}
}

func TestTheLastDay(t *testing.T) {
	r := Project(Input{Days: repeat(100, 29), Today: money.Yuan(10), DaysInCycle: 30})
	if r.Projected != money.Yuan(3000) {
		t.Errorf("last day: %+v", r)
	}
	r = Project(Input{Days: repeat(100, 30), DaysInCycle: 30})
	if r.Projected != money.Yuan(3000) {
		t.Errorf("cycle over: %+v", r)
	}
}

// On random series: never below what was spent, exact on constant ones,
// and one spike added to a day never makes the rate larger than the other
// days of the window.
func TestProjectionProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 14))
	for range 2000 {
		n := 28 + rng.IntN(4)
		k := rng.IntN(n)
		days := make([]money.Amount, k)
		for i := range days {
			days[i] = money.FromFen(rng.Int64N(50000))
		}
		var prev []money.Amount
		if rng.IntN(2) == 0 {
			prev = repeat(rng.Int64N(500), 30)
		}
		in := Input{Days: days, Today: money.FromFen(rng.Int64N(20000)), DaysInCycle: n, Previous: prev}
		r := Project(in)
		if r.Projected.Cmp(r.Spent) < 0 {
			t.Fatalf("%+v: projected below spent", r)
		}
		if k >= Window {
			spike := money.Yuan(100000)
			i := rng.IntN(k)
			spiked := append([]money.Amount(nil), days...)
			spiked[i] = spiked[i].Add(spike)
			rs := Project(Input{Days: spiked, Today: in.Today, DaysInCycle: n, Previous: prev})
			// The spike never sets the rate: it stays within the other
			// days of the window.
			var others money.Amount
			for j := k - Window; j < k; j++ {
				if j != i {
					others = money.Max(others, days[j])
				}
			}
			if rs.DailyRate.Cmp(money.Max(others, r.DailyRate)) > 0 || rs.DailyRate.Cmp(r.DailyRate) < 0 {
				t.Fatalf("a spike of %s set the rate to %s (before %s, other days at most %s)", spike, rs.DailyRate, r.DailyRate, others)
			}
		}
		c := money.FromFen(rng.Int64N(50000))
		if k >= MinDaysAlone {
			rc := Project(Input{Days: repeatAmount(c, k), DaysInCycle: n})
			if want := money.FromFen(c.Fen() * int64(n)); rc.Projected != want {
				t.Fatalf("constant %s over %d of %d days: %s, want %s", c, k, n, rc.Projected, want)
			}
		}
	}
}

func repeatAmount(a money.Amount, n int) []money.Amount {
	out := make([]money.Amount, n)
	for i := range out {
		out[i] = a
	}
	return out
}

// Days the daily data does not have yet count together: a constant spend
// still projects exactly, and a bill ahead of the rate counts as spent.
func TestTrailingDataSpan(t *testing.T) {
	ten := money.MustParse("10.00")
	days := []money.Amount{ten, ten, ten, ten, ten, ten, ten}
	r := Project(Input{Days: days, Today: money.MustParse("25.00"), TodaySpan: 3, DaysInCycle: 30})
	if !r.Known || r.Projected != money.MustParse("300.00") {
		t.Fatalf("constant 10.00 a day over 30 days with 3 days trailing: %+v, want 300.00", r)
	}
	r = Project(Input{Days: days, Today: money.MustParse("95.00"), TodaySpan: 3, DaysInCycle: 30})
	if want := money.MustParse("365.00"); r.Projected != want { // 70 + 95 + 20 days at 10
		t.Fatalf("a bill ahead of the rate: projected %s, want %s", r.Projected, want)
	}
}

// An account that began spending in the cycle is paced from its first day
// with spend, not from the empty days before it.
func TestPacedFromTheFirstDayWithSpend(t *testing.T) {
	z, ten := money.Zero, money.MustParse("10.00")
	days := []money.Amount{z, z, z, z, ten, ten, ten}
	r := Project(Input{Days: days, DaysInCycle: 30, RateFrom: 4})
	if !r.Known || r.DailyRate != ten || r.Projected != money.MustParse("260.00") {
		t.Fatalf("paced from day 5: %+v, want 10.00 a day and 260.00", r)
	}
	if r := Project(Input{Days: days, DaysInCycle: 30}); r.Projected != money.MustParse("30.00") {
		t.Fatalf("the empty days counted as the pace: %+v", r)
	}
	if r := Project(Input{Days: days[:6], DaysInCycle: 30, RateFrom: 4}); r.Known {
		t.Fatalf("two days of spend are too few alone: %+v", r)
	}
}

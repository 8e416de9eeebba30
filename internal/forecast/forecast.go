// Package forecast projects what a sub-account will have spent at the end
// of its bill cycle (a calendar month in UTC+8) from what it spent each day
// so far, so that a budget can be warned about before the money is gone.
//
// The method, chosen to be robust to a single spike day and to the first
// days of a month:
//
//   - What was spent stays spent: the projection is the cycle's spend so
//     far plus a daily rate times the days left, and never less than the
//     spend so far.
//   - The daily rate is the median of the last (up to) seven complete days,
//     not their mean: one day with ten times the usual spend (a yearly
//     purchase, a spike) is counted once, as spent, and does not raise the
//     rate of every day left.
//   - Today is partial: it counts as the larger of what it has spent so far
//     and the rate. Where the daily data trails (Cost Center's lags a day or
//     two), the days after the last day with data count together the same
//     way: the larger of what the bill shows they spent and the rate times
//     their number.
//   - An account whose spend began in this cycle (none in the previous
//     one) is paced from its first day with spend: the empty days before
//     it count as spent (nothing) but not as its rate.
//   - In the first week, the rate of the days of this cycle is blended with
//     the median of the previous cycle's last seven days, weighted by the
//     number of days each has: day 1 projects from last month alone, day 7
//     from this month alone. Without a previous cycle, fewer than three
//     complete days give no projection (Known is false) rather than one
//     from a day or two.
package forecast

import (
	"fmt"
	"slices"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Window is how many of the latest complete days the daily rate is taken
// from, and how many days of this cycle it takes to stop blending in the
// previous cycle.
const Window = 7

// MinDaysAlone is how many complete days of this cycle a projection needs
// when there is no previous cycle to blend with.
const MinDaysAlone = 3

// Input is a sub-account's daily spend.
type Input struct {
	// Days are the spend of the cycle's complete days, from its first day
	// (UTC+8), in order.
	Days []money.Amount
	// Today is what the current, partial day has spent so far; with
	// TodaySpan above 1, what the days after Days (today included) spent.
	Today money.Amount
	// TodaySpan is the number of days Today covers, today included: daily
	// cost data trails by a day or two, so the spend of the days since the
	// last one in Days is known only as a total (from the bill). 0 means 1.
	TodaySpan int
	// DaysInCycle is the number of days of the cycle (28 to 31).
	DaysInCycle int
	// Previous are the previous cycle's daily spend, in order (its last
	// Window days are used); empty when unknown.
	Previous []money.Amount
	// RateFrom is the index of the first day of Days the rate is taken
	// from: the days before it count as spent but not as the account's
	// pace (it had no spend yet, e.g. it was created in the cycle).
	RateFrom int
}

// Result is a projection.
type Result struct {
	// Known is false when there is too little spend data to project.
	Known bool
	// Spent is the cycle's spend so far (complete days and today).
	Spent money.Amount
	// DailyRate is the rate the days left are projected at.
	DailyRate money.Amount
	// Projected is the projected spend of the whole cycle.
	Projected money.Amount
	// Basis says what the rate comes from, for a condition or a report.
	Basis string
}

// Project projects the cycle's spend (see the package documentation).
func Project(in Input) Result {
	r := Result{Spent: money.Sum(in.Days...).Add(in.Today)}
	span := max(in.TodaySpan, 1)
	left := in.DaysInCycle - len(in.Days) - span // whole days after today
	if left < 0 {
		left = 0
	}
	paced := in.Days[min(max(in.RateFrom, 0), len(in.Days)):]
	k := len(paced)
	cur, prev := median(last(paced, Window)), median(last(in.Previous, Window))
	switch {
	case k >= Window:
		r.DailyRate, r.Basis = cur, fmt.Sprintf("median of the last %d days", Window)
	case len(in.Previous) > 0 && k > 0:
		// Weighted by the days each has: k of this cycle, Window-k of the
		// previous one.
		blended := cur.Fen()*int64(k) + prev.Fen()*int64(Window-k)
		r.DailyRate = money.FromFen(divRound(blended, Window))
		r.Basis = fmt.Sprintf("median of this cycle's %d days blended with the previous cycle's", k)
	case len(in.Previous) > 0:
		r.DailyRate, r.Basis = prev, "median of the previous cycle's last days"
	case k >= MinDaysAlone:
		r.DailyRate, r.Basis = cur, fmt.Sprintf("median of this cycle's %d days", k)
	default:
		r.Basis = fmt.Sprintf("%d complete days and no previous cycle: not enough to project", k)
		r.Projected = r.Spent
		return r
	}
	r.Known = true
	today := money.Max(in.Today, money.FromFen(r.DailyRate.Fen()*int64(span)))
	if len(in.Days) >= in.DaysInCycle {
		today = in.Today // the cycle is over
	}
	r.Projected = money.Sum(in.Days...).Add(today).Add(money.FromFen(r.DailyRate.Fen() * int64(left)))
	r.Projected = money.Max(r.Projected, r.Spent)
	return r
}

// Exceeds reports whether a known projection passes budget.
func (r Result) Exceeds(budget money.Amount) bool {
	return r.Known && r.Projected.Cmp(budget) > 0
}

func last(xs []money.Amount, n int) []money.Amount {
	if len(xs) > n {
		return xs[len(xs)-n:]
	}
	return xs
}

// median is the middle value (the mean of the two middle ones, rounded
// half up to the fen, for an even count); zero for none.
func median(xs []money.Amount) money.Amount {
	if len(xs) == 0 {
		return money.Zero
	}
	s := slices.Clone(xs)
	slices.SortFunc(s, func(a, b money.Amount) int { return a.Cmp(b) })
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return money.FromFen(divRound(s[m-1].Fen()+s[m].Fen(), 2))
}

// divRound divides a non-negative a by b, rounding half up.
func divRound(a int64, b int64) int64 {
	return (a + b/2) / b
}

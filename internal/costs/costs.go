// Package costs reads a master's Cost Center data for all its sub-accounts
// at once and turns it into what the SubAccounts report: the amortized cost
// of the current and previous bill cycle, the services that cost most, and
// the daily spend the forecast projects from.
//
// One read costs a few BSS calls per master, whatever the number of
// sub-accounts: ListCosts grouped by ASSOCIATED_ACCOUNT, once for the
// original (billed) and once for the amortized cost, by day from the first
// day of the previous bill cycle to today, in pages of 100 sub-accounts;
// and one paged ListCustomerBillsMonthlyBreakDown (method=sub_customer) for
// the current cycle's services. Only when BSS refuses a query across
// sub-accounts (CBC.18000048: more than 1000 finance-independent ones) does
// it query them one at a time, within the client's rate limit.
package costs

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/accounts"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/forecast"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// TopServices is how many services a report lists.
const TopServices = 5

// Snapshot is one master's cost data of the current and previous bill
// cycle, per account.
type Snapshot struct {
	// Time is when it was read; Cycle and Previous the bill cycles then.
	Time            time.Time
	Cycle, Previous string
	// Through is the last day (UTC+8) any account has data for; "" when
	// there is none.
	Through string
	// Accounts are the accounts' costs by customer id.
	Accounts map[string]*Account
}

// Account is one account's cost data.
type Account struct {
	// Original and Amortized are the costs by day (YYYY-MM-DD, UTC+8).
	Original, Amortized map[string]money.Amount
	// Services are the current cycle's amortized costs by service, largest
	// first.
	Services []Service
}

// Service is one service's amortized cost in the current cycle.
type Service struct {
	Code, Name string
	Amount     money.Amount
}

// Key is the per-master cache key of the cost data: the SubAccounts and
// the EnterpriseAccount of a master share one read.
var Key = accounts.NewKey[*Snapshot]("costs")

// Shared returns the master's cost data, read at most once per ttl for all
// who ask (accounts.Batch). subIDs lists the sub-accounts' customer ids;
// it is called only when the data is read.
func Shared(ctx context.Context, acct *accounts.Account, now time.Time, ttl time.Duration, subIDs func(context.Context) ([]string, error)) (*Snapshot, error) {
	// One key per bill cycle: a snapshot of the last cycle is never taken
	// for this one's.
	snap, _, err := accounts.Batch(ctx, acct, Key.With("/"+billcycle.Of(now)), now, ttl, false, func(ctx context.Context) (*Snapshot, error) {
		ids, err := subIDs(ctx)
		if err != nil {
			return nil, err
		}
		return Read(ctx, acct.Client, now, ids)
	})
	return snap, err
}

// Read reads the cost data of the master behind api and of its
// sub-accounts at now. subIDs are the sub-accounts' customer ids, queried
// one at a time only when BSS refuses a query across all of them. An
// error is BSS's (bss.IsCostCenterNotEnabled when Cost Center is off).
func Read(ctx context.Context, api bss.Reader, now time.Time, subIDs []string) (*Snapshot, error) {
	s := &Snapshot{Time: now, Cycle: billcycle.Of(now), Previous: billcycle.Previous(now), Accounts: map[string]*Account{}}
	begin := billcycle.Day(billcycle.Start(billcycle.Start(now).Add(-time.Hour)))
	end := billcycle.Day(now)
	for _, costType := range []string{bss.CostTypeOriginal, bss.CostTypeAmortized} {
		req := bss.CostsRequest{
			TimeMeasureID: bss.TimeMeasureDay, BeginTime: begin, EndTime: end,
			GroupBy: []string{bss.DimensionAccount}, CostType: costType, AmountType: bss.AmountTypePayment,
		}
		rows, err := eachSub(ctx, subIDs, func(ctx context.Context, id string) ([]bss.CostData, error) {
			r := req
			if id != "" {
				r.Filters = []bss.CostFilter{{Operator: bss.FilterInclude, Key: bss.DimensionAccount, Values: []string{id}}}
			}
			return api.ListAllCosts(ctx, r)
		})
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			a := s.account(row.Dimension(bss.DimensionAccount))
			days := a.Original
			if costType == bss.CostTypeAmortized {
				days = a.Amortized
			}
			for _, c := range row.Costs {
				days[c.TimeDimensionValue] = days[c.TimeDimensionValue].Add(c.Amount)
				if c.TimeDimensionValue > s.Through {
					s.Through = c.TimeDimensionValue
				}
			}
		}
	}
	details, err := eachSub(ctx, subIDs, func(ctx context.Context, id string) ([]bss.CostDetail, error) {
		return api.ListAllCostBreakdown(ctx, bss.BreakdownRequest{SharedMonth: s.Cycle, Method: bss.MethodSubCustomer, SubCustomerID: id})
	})
	if err != nil {
		return nil, err
	}
	for id, ds := range groupDetails(details) {
		s.account(id).Services = ds
	}
	return s, nil
}

// eachSub runs query once across all sub-accounts (id ""), or once per
// sub-account when BSS answers CBC.18000048 to that.
func eachSub[T any](ctx context.Context, subIDs []string, query func(context.Context, string) ([]T, error)) ([]T, error) {
	rows, err := query(ctx, "")
	if !bss.IsTooManySubAccounts(err) {
		return rows, err
	}
	rows = nil
	for _, id := range subIDs {
		part, err := query(ctx, id)
		if err != nil {
			return nil, err
		}
		rows = append(rows, part...)
	}
	return rows, nil
}

func (s *Snapshot) account(id string) *Account {
	a, ok := s.Accounts[id]
	if !ok {
		a = &Account{Original: map[string]money.Amount{}, Amortized: map[string]money.Amount{}}
		s.Accounts[id] = a
	}
	return a
}

// groupDetails adds up the details' current-month amortized amounts per
// customer and service, largest first (then by code), at most TopServices
// per customer.
func groupDetails(details []bss.CostDetail) map[string][]Service {
	type key struct{ customer, code string }
	sums := map[key]*Service{}
	for _, d := range details {
		k := key{d.CustomerID, d.ServiceTypeCode}
		sv, ok := sums[k]
		if !ok {
			sv = &Service{Code: d.ServiceTypeCode, Name: d.ServiceTypeName}
			sums[k] = sv
		}
		sv.Amount = sv.Amount.Add(d.CurrentMonthAmortizedAmount)
	}
	out := map[string][]Service{}
	for k, sv := range sums {
		if sv.Amount.IsPositive() {
			out[k.customer] = append(out[k.customer], *sv)
		}
	}
	for id, list := range out {
		slices.SortFunc(list, func(a, b Service) int {
			return cmp.Or(b.Amount.Cmp(a.Amount), cmp.Compare(a.Code, b.Code))
		})
		if len(list) > TopServices {
			list = list[:TopServices]
		}
		out[id] = list
	}
	return out
}

// CycleTotals returns an account's original and amortized cost of a bill
// cycle ("2026-12"): the sum of its days in that cycle.
func (a *Account) CycleTotals(cycle string) (original, amortized money.Amount) {
	for day, v := range a.Original {
		if day[:7] == cycle {
			original = original.Add(v)
		}
	}
	for day, v := range a.Amortized {
		if day[:7] == cycle {
			amortized = amortized.Add(v)
		}
	}
	return original, amortized
}

// ForecastInput is what the forecast projects an account's current cycle
// from at now: the original cost of each day of the cycle up to the last
// day with data (days with no cost count as zero), and the days after it,
// today included, as one span whose spend is what billed shows beyond
// those days (the bill is fresher than Cost Center's data). The previous
// cycle's days are the rate the first days of a cycle blend in.
func (s *Snapshot) ForecastInput(a *Account, now time.Time, billed money.Amount) forecast.Input {
	days := billcycle.Days(now)
	today := billcycle.Day(now)
	in := forecast.Input{DaysInCycle: len(days)}
	var known money.Amount
	for _, d := range days {
		if d >= today || d > s.Through {
			break
		}
		in.Days = append(in.Days, a.Original[d])
		known = known.Add(a.Original[d])
	}
	in.TodaySpan = slices.Index(days, today) - len(in.Days) + 1
	if billed.Cmp(known) > 0 {
		in.Today = billed.Sub(known)
	}
	prevDays := billcycle.Days(billcycle.Start(now).Add(-time.Hour))
	for _, d := range prevDays {
		if d > s.Through {
			break
		}
		in.Previous = append(in.Previous, a.Original[d])
	}
	if len(in.Previous) < len(prevDays) || !money.Sum(in.Previous...).IsPositive() {
		in.Previous = nil // a previous cycle only partly known, or without spend, is no baseline
		// Without one, the account's pace starts at its first day with
		// spend (a sub-account created, or first used, in this cycle).
		in.RateFrom = len(in.Days)
		if i := slices.IndexFunc(in.Days, money.Amount.IsPositive); i >= 0 {
			in.RateFrom = i
		}
	}
	return in
}

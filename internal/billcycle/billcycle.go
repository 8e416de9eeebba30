// Package billcycle names Huawei Cloud bill cycles: calendar months in
// UTC+8, written YYYY-MM, as BSS reports bills and as the operator counts
// top-ups and auto-approval budgets.
package billcycle

import "time"

var beijing = time.FixedZone("UTC+8", 8*3600)

// Of returns the bill cycle that t falls in.
func Of(t time.Time) string {
	return t.In(beijing).Format("2006-01")
}

// Previous returns the bill cycle before the one t falls in.
func Previous(t time.Time) string {
	b := t.In(beijing)
	first := time.Date(b.Year(), b.Month(), 1, 0, 0, 0, 0, beijing)
	return first.AddDate(0, -1, 0).Format("2006-01")
}

// Day returns the UTC+8 date t falls on, YYYY-MM-DD, as BSS's date filters
// take it.
func Day(t time.Time) string {
	return t.In(beijing).Format("2006-01-02")
}

// End returns when the bill cycle t falls in ends: the start of the next.
func End(t time.Time) time.Time {
	b := t.In(beijing)
	return time.Date(b.Year(), b.Month(), 1, 0, 0, 0, 0, beijing).AddDate(0, 1, 0)
}

// Start returns when the bill cycle t falls in began.
func Start(t time.Time) time.Time {
	b := t.In(beijing)
	return time.Date(b.Year(), b.Month(), 1, 0, 0, 0, 0, beijing)
}

// Days returns the UTC+8 dates, YYYY-MM-DD, of the bill cycle t falls in,
// from its first day.
func Days(t time.Time) []string {
	var out []string
	for d := Start(t); d.Before(End(t)); d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format("2006-01-02"))
	}
	return out
}

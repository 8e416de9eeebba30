package plugin

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
)

// costsHelp is the long description of costs.
const costsHelp = `Show what each SubAccount (or the one named) costs, as the operator last
read it from BSS and the master's Cost Center, one row per SubAccount:

  BILL          this bill cycle's consumption as billed
                (status.currentCycle.consumption)
  AMORTIZED     this bill cycle's amortized cost so far: yearly/monthly
                purchases spread over the months they cover
                (status.costs.currentCycle.amortized)
  LAST-MONTH    the previous bill cycle's amortized cost
                (status.costs.previousCycle.amortized)
  FORECAST      the cycle's projected spend (status.forecast.projected);
                "-" while there is too little data to project
  BUDGET        spec.monthlyBudget.amount
  FORECAST%     FORECAST as a percentage of BUDGET
                (status.forecast.projectedPercent)
  DATA-THROUGH  the last day (UTC+8) Cost Center had data for
                (status.costs.dataThrough): amortized cost trails the
                bills by a day or two
  TOP-SERVICES  the services that cost most this cycle, amortized, up to 3
                (status.costs.topServices; "hws.service.type." left out)
  EXTERNAL      money the master moved to (in) or from (out) the
                sub-account this cycle outside the operator
                (status.externalMovements), when there was any

Bill cycles are calendar months in UTC+8. A note under the table says when
a master has not enabled Cost Center (its EnterpriseAccount's
CostCenterNotEnabled condition): its sub-accounts have no amortized cost or
forecast. Another says when a SubAccount's figures are of an earlier bill
cycle than the current one (the operator has not read the new cycle yet).

-o json prints one JSON array with an object per SubAccount: subAccount,
enterpriseAccount, cycle and bill (status.currentCycle), amortized and
amortizedOriginal (the cost as billed, purchases on the day they were paid)
with amortizedCycle, lastMonth with lastMonthCycle, forecast,
forecastPercent, forecastSpent, forecastDailyRate, forecastBasis,
forecastCycle and forecastExceeded (the BudgetForecastExceeded condition),
budget, dataThrough, costsSyncTime, topServices (service, name, amount; up
to 5), externalIn, externalOut and externalCycle, costCenterNotEnabled and
notes. Amounts are yuan strings as stored; a field that is not known is
left out (forecastExceeded and costCenterNotEnabled are always there).

Examples:
  kubectl budget costs
  kubectl budget costs team-a -o json`

func costsCommand() command {
	return subAccountReport("costs", "show sub-accounts' bills, amortized cost, forecast against the monthly budget and top services",
		costsHelp, runCosts)
}

// costsReport is one SubAccount in `kubectl budget costs`.
type costsReport struct {
	SubAccount        string `json:"subAccount"`
	EnterpriseAccount string `json:"enterpriseAccount"`
	// Cycle and Bill are status.currentCycle.
	Cycle string `json:"cycle,omitempty"`
	Bill  string `json:"bill,omitempty"`
	// Amortized, AmortizedOriginal and AmortizedCycle are
	// status.costs.currentCycle.
	Amortized         string `json:"amortized,omitempty"`
	AmortizedOriginal string `json:"amortizedOriginal,omitempty"`
	AmortizedCycle    string `json:"amortizedCycle,omitempty"`
	// LastMonth and LastMonthCycle are status.costs.previousCycle.
	LastMonth      string `json:"lastMonth,omitempty"`
	LastMonthCycle string `json:"lastMonthCycle,omitempty"`
	// Forecast and the fields after it are status.forecast.
	Forecast          string `json:"forecast,omitempty"`
	ForecastPercent   *int32 `json:"forecastPercent,omitempty"`
	ForecastSpent     string `json:"forecastSpent,omitempty"`
	ForecastDailyRate string `json:"forecastDailyRate,omitempty"`
	ForecastBasis     string `json:"forecastBasis,omitempty"`
	ForecastCycle     string `json:"forecastCycle,omitempty"`
	// ForecastExceeded is the BudgetForecastExceeded condition.
	ForecastExceeded bool   `json:"forecastExceeded"`
	Budget           string `json:"budget,omitempty"`
	DataThrough      string `json:"dataThrough,omitempty"`
	CostsSyncTime    string `json:"costsSyncTime,omitempty"`
	// TopServices is status.costs.topServices.
	TopServices []serviceCost `json:"topServices"`
	// ExternalIn, ExternalOut and ExternalCycle are
	// status.externalMovements.
	ExternalIn    string `json:"externalIn,omitempty"`
	ExternalOut   string `json:"externalOut,omitempty"`
	ExternalCycle string `json:"externalCycle,omitempty"`
	// CostCenterNotEnabled is the EnterpriseAccount's condition.
	CostCenterNotEnabled bool     `json:"costCenterNotEnabled"`
	Notes                []string `json:"notes,omitempty"`
}

// serviceCost is one of the top services.
type serviceCost struct {
	Service string `json:"service"`
	Name    string `json:"name,omitempty"`
	Amount  string `json:"amount"`
}

// topServicesShown is how many services the TOP-SERVICES cell lists.
const topServicesShown = 3

// servicePrefix is left out of service codes in the table.
const servicePrefix = "hws.service.type."

// masterView is what costs needs of an EnterpriseAccount.
type masterView struct {
	costCenterOff bool
	// note says why the account could not be read; empty when it was.
	note string
}

func runCosts(ctx context.Context, c client.Client, name, output string, now time.Time, stdout, stderr io.Writer) error {
	subs, err := reportedSubAccounts(ctx, c, name, output, stdout, stderr)
	if err != nil || len(subs) == 0 {
		return err
	}

	masters := map[string]*masterView{}
	var masterNames []string
	reports := make([]*costsReport, 0, len(subs))
	for i := range subs {
		sa := &subs[i]
		eaName := sa.Spec.EnterpriseAccountRef.Name
		m, seen := masters[eaName]
		if !seen {
			m = readMaster(ctx, c, eaName)
			masters[eaName] = m
			masterNames = append(masterNames, eaName)
		}
		r := reportCosts(sa, now)
		r.CostCenterNotEnabled = m.costCenterOff
		reports = append(reports, r)
	}
	if output == outputJSON {
		for _, r := range reports {
			if n := masters[r.EnterpriseAccount].note; n != "" {
				r.Notes = append(r.Notes, n)
			}
		}
		return writeJSONValue(stdout, reports)
	}

	writeCosts(stdout, reports)
	sort.Strings(masterNames)
	for _, n := range masterNames {
		switch m := masters[n]; {
		case m.costCenterOff:
			_, _ = fmt.Fprintf(stdout, "Cost Center is not enabled on master %s: no amortized cost or forecast\n", n)
		case m.note != "":
			_, _ = fmt.Fprintln(stdout, "note: "+m.note)
		}
	}
	for _, r := range reports {
		for _, n := range r.Notes {
			_, _ = fmt.Fprintf(stdout, "note: subacct/%s: %s\n", r.SubAccount, n)
		}
	}
	return nil
}

// readMaster reads whether the EnterpriseAccount's master has Cost Center.
func readMaster(ctx context.Context, c client.Reader, name string) *masterView {
	var ea budgetv1alpha1.EnterpriseAccount
	switch err := c.Get(ctx, types.NamespacedName{Name: name}, &ea); {
	case err == nil:
		return &masterView{costCenterOff: meta.IsStatusConditionTrue(ea.Status.Conditions, budgetv1alpha1.ConditionCostCenterNotEnabled)}
	case apierrors.IsNotFound(err):
		return &masterView{note: fmt.Sprintf("EnterpriseAccount %s does not exist", name)}
	default:
		return &masterView{note: fmt.Sprintf("EnterpriseAccount %s cannot be read (%s): whether its master has Cost Center is not shown", name, reasonOf(err))}
	}
}

// reportCosts reads what costs shows of one SubAccount.
func reportCosts(sa *budgetv1alpha1.SubAccount, now time.Time) *costsReport {
	st := &sa.Status
	r := &costsReport{SubAccount: sa.Name, EnterpriseAccount: sa.Spec.EnterpriseAccountRef.Name, TopServices: []serviceCost{},
		ForecastExceeded: meta.IsStatusConditionTrue(st.Conditions, budgetv1alpha1.ConditionBudgetForecastExceeded)}
	if b := sa.Spec.MonthlyBudget; b != nil {
		r.Budget = string(b.Amount)
	}
	if cc := st.CurrentCycle; cc != nil {
		r.Cycle, r.Bill = cc.Cycle, string(cc.Consumption)
	}
	if co := st.Costs; co != nil {
		if cur := co.CurrentCycle; cur != nil {
			r.Amortized, r.AmortizedOriginal, r.AmortizedCycle = string(cur.Amortized), string(cur.Original), cur.Cycle
		}
		if prev := co.PreviousCycle; prev != nil {
			r.LastMonth, r.LastMonthCycle = string(prev.Amortized), prev.Cycle
		}
		for _, s := range co.TopServices {
			r.TopServices = append(r.TopServices, serviceCost{Service: s.Service, Name: s.Name, Amount: string(s.Amount)})
		}
		r.DataThrough = co.DataThrough
		if co.SyncTime != nil {
			r.CostsSyncTime = co.SyncTime.UTC().Format(timeFormat)
		}
	}
	if f := st.Forecast; f != nil {
		r.Forecast, r.ForecastPercent = string(f.Projected), f.ProjectedPercent
		r.ForecastSpent, r.ForecastDailyRate, r.ForecastBasis, r.ForecastCycle = string(f.Spent), string(f.DailyRate), f.Basis, f.Cycle
	}
	if x := st.ExternalMovements; x != nil {
		r.ExternalCycle = x.Cycle
		if a, _ := amountOf(string(x.In)); !a.IsZero() {
			r.ExternalIn = string(x.In)
		}
		if a, _ := amountOf(string(x.Out)); !a.IsZero() {
			r.ExternalOut = string(x.Out)
		}
	}
	if n := staleNote(r, now); n != "" {
		r.Notes = append(r.Notes, n)
	}
	return r
}

// staleNote names the figures of an earlier bill cycle than now's.
func staleNote(r *costsReport, now time.Time) string {
	cycle, previous := billcycle.Of(now), billcycle.Previous(now)
	var stale []string
	for _, f := range []struct{ what, cycle, want string }{
		{"BILL", r.Cycle, cycle},
		{"AMORTIZED", r.AmortizedCycle, cycle},
		{"LAST-MONTH", r.LastMonthCycle, previous},
		{"FORECAST", r.ForecastCycle, cycle},
		{"EXTERNAL", r.ExternalCycle, cycle},
	} {
		if f.cycle != "" && f.cycle < f.want {
			stale = append(stale, f.what+" is of "+f.cycle)
		}
	}
	if len(stale) == 0 {
		return ""
	}
	return fmt.Sprintf("the operator has not read bill cycle %s yet: %s", cycle, strings.Join(stale, ", "))
}

// topServicesCell lists the first services, "-" when there are none.
func topServicesCell(services []serviceCost) string {
	if len(services) == 0 {
		return none
	}
	var parts []string
	for i, s := range services {
		if i == topServicesShown {
			parts = append(parts, fmt.Sprintf("+%d more", len(services)-topServicesShown))
			break
		}
		parts = append(parts, strings.TrimPrefix(s.Service, servicePrefix)+" "+s.Amount)
	}
	return strings.Join(parts, ", ")
}

// externalCell shows the money moved outside the operator, "-" when none.
func externalCell(r *costsReport) string {
	var parts []string
	if r.ExternalIn != "" {
		parts = append(parts, "in "+r.ExternalIn)
	}
	if r.ExternalOut != "" {
		parts = append(parts, "out "+r.ExternalOut)
	}
	if len(parts) == 0 {
		return none
	}
	return strings.Join(parts, " ")
}

func writeCosts(w io.Writer, reports []*costsReport) {
	tw := newTable(w)
	row(tw, "NAME", "BILL", "AMORTIZED", "LAST-MONTH", "FORECAST", "BUDGET", "FORECAST%", "DATA-THROUGH", "TOP-SERVICES", "EXTERNAL")
	for _, r := range reports {
		percent := none
		if r.ForecastPercent != nil {
			percent = fmt.Sprintf("%d%%", *r.ForecastPercent)
		}
		row(tw, r.SubAccount, orNone(r.Bill), orNone(r.Amortized), orNone(r.LastMonth), orNone(r.Forecast), orNone(r.Budget),
			percent, orNone(r.DataThrough), topServicesCell(r.TopServices), externalCell(r))
	}
	_ = tw.Flush()
}

package plugin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/plugin"
)

// costsJSON is costs -o json as a script reads it.
type costsJSON struct {
	SubAccount           string `json:"subAccount"`
	EnterpriseAccount    string `json:"enterpriseAccount"`
	Cycle                string `json:"cycle"`
	Bill                 string `json:"bill"`
	Amortized            string `json:"amortized"`
	AmortizedOriginal    string `json:"amortizedOriginal"`
	AmortizedCycle       string `json:"amortizedCycle"`
	LastMonth            string `json:"lastMonth"`
	LastMonthCycle       string `json:"lastMonthCycle"`
	Forecast             string `json:"forecast"`
	ForecastPercent      *int   `json:"forecastPercent"`
	ForecastDailyRate    string `json:"forecastDailyRate"`
	ForecastBasis        string `json:"forecastBasis"`
	ForecastExceeded     *bool  `json:"forecastExceeded"`
	Budget               string `json:"budget"`
	DataThrough          string `json:"dataThrough"`
	CostsSyncTime        string `json:"costsSyncTime"`
	TopServices          []struct{ Service, Name, Amount string }
	ExternalIn           string   `json:"externalIn"`
	ExternalOut          string   `json:"externalOut"`
	ExternalCycle        string   `json:"externalCycle"`
	CostCenterNotEnabled *bool    `json:"costCenterNotEnabled"`
	Notes                []string `json:"notes"`
}

var costsSynced = metav1.NewTime(time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC))

// costsObjects are, under EnterpriseAccount acme (Cost Center enabled):
// SubAccount team-a with a bill, amortized costs, five top services, a
// forecast above its budget and 500.00 moved to it outside the operator;
// team-b, whose bill is of the previous cycle and which has no costs; and
// under globex, whose master has not enabled Cost Center, SubAccount lab.
func costsObjects(now time.Time) []client.Object {
	cycle, previous := billcycle.Of(now), billcycle.Previous(now)
	acme := &budgetv1alpha1.EnterpriseAccount{ObjectMeta: metav1.ObjectMeta{Name: "acme"}}
	acme.Status.Conditions = []metav1.Condition{
		{Type: budgetv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: budgetv1alpha1.ReasonReady},
		{Type: budgetv1alpha1.ConditionCostCenterNotEnabled, Status: metav1.ConditionFalse, Reason: budgetv1alpha1.ReasonCostCenterEnabled},
	}
	globex := &budgetv1alpha1.EnterpriseAccount{ObjectMeta: metav1.ObjectMeta{Name: "globex"}}
	globex.Status.Conditions = []metav1.Condition{
		{Type: budgetv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: budgetv1alpha1.ReasonReady},
		{Type: budgetv1alpha1.ConditionCostCenterNotEnabled, Status: metav1.ConditionTrue, Reason: budgetv1alpha1.ReasonCostCenterNotEnabled,
			Message: "BSS answered CBC.18000014"},
	}

	teamA := &budgetv1alpha1.SubAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "team-a"},
		Spec: budgetv1alpha1.SubAccountSpec{EnterpriseAccountRef: budgetv1alpha1.LocalObjectReference{Name: "acme"},
			MonthlyBudget: &budgetv1alpha1.MonthlyBudget{Amount: "5000.00"}},
	}
	teamA.Status.Conditions = []metav1.Condition{{Type: budgetv1alpha1.ConditionBudgetForecastExceeded, Status: metav1.ConditionTrue,
		Reason: budgetv1alpha1.ReasonForecastAboveBudget}}
	teamA.Status.CurrentCycle = &budgetv1alpha1.BillCycleSummary{Cycle: cycle, Consumption: "1250.50", BudgetPercent: ptr.To[int32](25)}
	teamA.Status.Costs = &budgetv1alpha1.CostReport{
		CurrentCycle:  &budgetv1alpha1.CycleCost{Cycle: cycle, Amortized: "1100.00", Original: "1250.50"},
		PreviousCycle: &budgetv1alpha1.CycleCost{Cycle: previous, Amortized: "3000.00", Original: "4200.00"},
		TopServices: []budgetv1alpha1.ServiceCost{
			{Service: "hws.service.type.ec2", Name: "Elastic Cloud Server", Amount: "600.00"},
			{Service: "hws.service.type.rds", Name: "Relational Database Service", Amount: "300.00"},
			{Service: "hws.service.type.obs", Amount: "120.00"},
			{Service: "hws.service.type.ebs", Amount: "50.00"},
			{Service: "hws.service.type.vpc", Amount: "30.00"},
		},
		DataThrough: "2026-12-05",
		SyncTime:    &costsSynced,
	}
	teamA.Status.Forecast = &budgetv1alpha1.SpendForecast{Cycle: cycle, Spent: "1250.50", DailyRate: "180.00", Projected: "5600.00",
		ProjectedPercent: ptr.To[int32](112), Basis: "the last 7 days' amortized cost", DataThrough: "2026-12-05"}
	teamA.Status.ExternalMovements = &budgetv1alpha1.ExternalMovements{Cycle: cycle, In: "500.00", Out: "0.00"}

	teamB := &budgetv1alpha1.SubAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "team-b"},
		Spec:       budgetv1alpha1.SubAccountSpec{EnterpriseAccountRef: budgetv1alpha1.LocalObjectReference{Name: "acme"}},
	}
	teamB.Status.CurrentCycle = &budgetv1alpha1.BillCycleSummary{Cycle: previous, Consumption: "10.25"}
	teamB.Status.ExternalMovements = &budgetv1alpha1.ExternalMovements{Cycle: cycle}

	lab := &budgetv1alpha1.SubAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "lab"},
		Spec: budgetv1alpha1.SubAccountSpec{EnterpriseAccountRef: budgetv1alpha1.LocalObjectReference{Name: "globex"},
			MonthlyBudget: &budgetv1alpha1.MonthlyBudget{Amount: "800.00"}},
	}
	lab.Status.CurrentCycle = &budgetv1alpha1.BillCycleSummary{Cycle: cycle, Consumption: "42.00"}
	lab.Status.Forecast = &budgetv1alpha1.SpendForecast{Cycle: cycle, Spent: "42.00", Basis: "no Cost Center"}
	lab.Status.ExternalMovements = &budgetv1alpha1.ExternalMovements{Cycle: cycle, In: "0.00", Out: "75.00"}
	return []client.Object{acme, globex, teamA, teamB, lab}
}

// fakeCosts runs kubectl budget costs against a fake client holding objs;
// funcs, when set, intercept its calls.
func fakeCosts(t *testing.T, funcs *interceptor.Funcs, objs []client.Object, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	scheme, err := plugin.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	b := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...)
	if funcs != nil {
		b = b.WithInterceptorFuncs(*funcs)
	}
	c := b.Build()
	var out, errOut bytes.Buffer
	args = append([]string{"costs"}, args...)
	code = plugin.Run(context.Background(), args, &out, &errOut, func(plugin.ConnectionFlags) (client.Client, string, error) { return c, "default", nil })
	t.Logf("kubectl budget %s (exit %d)\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return out.String(), errOut.String(), code
}

// cellsOf returns the table row of a SubAccount split into its cells (two
// spaces or more apart; TOP-SERVICES holds single spaces).
func cellsOf(t *testing.T, out, name string) []string {
	t.Helper()
	l := line(t, out, name+" ")
	var cells []string
	for c := range strings.SplitSeq(l, "  ") {
		if c = strings.TrimSpace(c); c != "" {
			cells = append(cells, c)
		}
	}
	return cells
}

func TestCostsTable(t *testing.T) {
	now := time.Now()
	out, _, code := fakeCosts(t, nil, costsObjects(now))
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	header := strings.Fields(strings.SplitN(out, "\n", 2)[0])
	want := []string{"NAME", "BILL", "AMORTIZED", "LAST-MONTH", "FORECAST", "BUDGET", "FORECAST%", "DATA-THROUGH", "TOP-SERVICES", "EXTERNAL"}
	if fmt.Sprint(header) != fmt.Sprint(want) {
		t.Fatalf("header %q, want %q", header, want)
	}
	for name, want := range map[string][]string{
		"team-a": {"team-a", "1250.50", "1100.00", "3000.00", "5600.00", "5000.00", "112%", "2026-12-05", "ec2 600.00, rds 300.00, obs 120.00, +2 more", "in 500.00"},
		"team-b": {"team-b", "10.25", "-", "-", "-", "-", "-", "-", "-", "-"},
		"lab":    {"lab", "42.00", "-", "-", "-", "800.00", "-", "-", "-", "out 75.00"},
	} {
		if got := cellsOf(t, out, name); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: cells %q, want %q", name, got, want)
		}
	}
	if i, j, k := strings.Index(out, "\nlab "), strings.Index(out, "\nteam-a "), strings.Index(out, "\nteam-b "); i > j || j > k {
		t.Error("SubAccounts not ordered by name")
	}
	mustContain(t, out,
		"Cost Center is not enabled on master globex: no amortized cost or forecast",
		"note: subacct/team-b: the operator has not read bill cycle "+billcycle.Of(now)+" yet: BILL is of "+billcycle.Previous(now))
	mustNotContain(t, out, "master acme", "subacct/team-a:", "subacct/lab:")

	// One SubAccount: only its master's footer.
	out, _, code = fakeCosts(t, nil, costsObjects(now), "team-a")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	cellsOf(t, out, "team-a")
	mustNotContain(t, out, "team-b", "lab", "Cost Center")
	out, _, _ = fakeCosts(t, nil, costsObjects(now), "lab")
	mustContain(t, out, "Cost Center is not enabled on master globex")
}

func TestCostsJSON(t *testing.T) {
	now := time.Now()
	out, _, code := fakeCosts(t, nil, costsObjects(now), "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var got []costsJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if len(got) != 3 || got[0].SubAccount != "lab" || got[1].SubAccount != "team-a" || got[2].SubAccount != "team-b" {
		t.Fatalf("want lab, team-a and team-b in that order, got %+v", got)
	}
	lab, a, b := got[0], got[1], got[2]
	cycle, previous := billcycle.Of(now), billcycle.Previous(now)
	if a.EnterpriseAccount != "acme" || a.Cycle != cycle || a.Bill != "1250.50" || a.Amortized != "1100.00" || a.AmortizedOriginal != "1250.50" ||
		a.AmortizedCycle != cycle || a.LastMonth != "3000.00" || a.LastMonthCycle != previous || a.Forecast != "5600.00" ||
		a.ForecastPercent == nil || *a.ForecastPercent != 112 || a.ForecastDailyRate != "180.00" || a.ForecastBasis == "" ||
		a.ForecastExceeded == nil || !*a.ForecastExceeded || a.Budget != "5000.00" || a.DataThrough != "2026-12-05" ||
		a.CostsSyncTime != "2026-12-06T01:00:00Z" || a.ExternalIn != "500.00" || a.ExternalOut != "" || a.ExternalCycle != cycle ||
		a.CostCenterNotEnabled == nil || *a.CostCenterNotEnabled || len(a.Notes) != 0 {
		t.Errorf("team-a = %+v", a)
	}
	if len(a.TopServices) != 5 || a.TopServices[0].Service != "hws.service.type.ec2" || a.TopServices[0].Name != "Elastic Cloud Server" ||
		a.TopServices[0].Amount != "600.00" || a.TopServices[4].Service != "hws.service.type.vpc" {
		t.Errorf("team-a's top services = %+v", a.TopServices)
	}
	if b.Bill != "10.25" || b.Cycle != previous || b.Amortized != "" || b.Forecast != "" || b.ForecastPercent != nil ||
		b.ForecastExceeded == nil || *b.ForecastExceeded || b.TopServices == nil || len(b.TopServices) != 0 ||
		b.ExternalIn != "" || b.ExternalOut != "" || len(b.Notes) != 1 || !strings.Contains(b.Notes[0], "BILL is of "+previous) {
		t.Errorf("team-b = %+v", b)
	}
	if lab.CostCenterNotEnabled == nil || !*lab.CostCenterNotEnabled || lab.ExternalOut != "75.00" || lab.Forecast != "" {
		t.Errorf("lab = %+v", lab)
	}

	// No SubAccounts: an empty array, and a word on stderr.
	out, errOut, code := fakeCosts(t, nil, nil, "-o", "json")
	if code != 0 || strings.TrimSpace(out) != "[]" || !strings.Contains(errOut, "No SubAccounts found.") {
		t.Errorf("no SubAccounts: exit %d, %q, %q", code, out, errOut)
	}
}

func TestCostsErrors(t *testing.T) {
	objs := costsObjects(time.Now())
	if _, errOut, code := fakeCosts(t, nil, objs, "nobody"); code != plugin.ExitError || !strings.Contains(errOut, "reading SubAccount nobody") {
		t.Errorf("unknown SubAccount: exit %d, %q", code, errOut)
	}
	if _, _, code := fakeCosts(t, nil, objs, "a", "b"); code != plugin.ExitUsage {
		t.Errorf("two SubAccounts: exit %d", code)
	}
	if _, errOut, code := fakeCosts(t, nil, objs, "-o", "yaml"); code != plugin.ExitUsage || !strings.Contains(errOut, `unknown output format "yaml"`) {
		t.Errorf("-o yaml: exit %d, %q", code, errOut)
	}

	// EnterpriseAccounts that cannot be read: the costs are shown, and a
	// note says what is not.
	funcs := &interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		if _, ok := obj.(*budgetv1alpha1.EnterpriseAccount); ok {
			return apierrors.NewForbidden(schema.GroupResource{Group: budgetv1alpha1.GroupVersion.Group, Resource: "enterpriseaccounts"}, key.Name,
				fmt.Errorf(`User "dev@team-a" cannot get resource "enterpriseaccounts"`))
		}
		return c.Get(ctx, key, obj, opts...)
	}}
	out, _, code := fakeCosts(t, funcs, objs)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out, "note: EnterpriseAccount acme cannot be read (forbidden): whether its master has Cost Center is not shown",
		"note: EnterpriseAccount globex cannot be read (forbidden)")
	mustNotContain(t, out, "Cost Center is not enabled")
	mustContain(t, line(t, out, "team-a "), "5600.00")

	out, _, _ = fakeCosts(t, funcs, objs, "lab", "-o", "json")
	var got []costsJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 || len(got[0].Notes) != 1 || !strings.Contains(got[0].Notes[0], "globex cannot be read") {
		t.Errorf("lab as JSON without its EnterpriseAccount: %v, %+v", err, got)
	}
}

var seedCostsOnce sync.Once

// TestCostsThroughTheAPIServer writes a SubAccount's costs, forecast and
// external movements through the status subresource, as the operator
// does, and reads them back with costs: the CRD keeps every field costs
// shows. The SubAccount spends nothing and has no allocations, so the
// other tests' totals stay as they are.
func TestCostsThroughTheAPIServer(t *testing.T) {
	now := time.Now()
	var err error
	seedCostsOnce.Do(func() {
		obj := costsObjects(now)[2].(*budgetv1alpha1.SubAccount)
		status := obj.Status
		status.CurrentCycle = nil
		err = createWithStatus(context.Background(), &budgetv1alpha1.SubAccount{
			ObjectMeta: metav1.ObjectMeta{Name: "analytics"},
			Spec: budgetv1alpha1.SubAccountSpec{
				EnterpriseAccountRef: budgetv1alpha1.LocalObjectReference{Name: "acme"},
				CustomerID:           "cust-analytics-0001",
				MonthlyBudget:        &budgetv1alpha1.MonthlyBudget{Amount: "5000.00"},
			},
		}, func(sa *budgetv1alpha1.SubAccount) {
			sa.Status = status
			sa.Status.Conditions = append(ready(metav1.ConditionTrue, budgetv1alpha1.ReasonReady), metav1.Condition{
				Type: budgetv1alpha1.ConditionBudgetForecastExceeded, Status: metav1.ConditionTrue,
				Reason: budgetv1alpha1.ReasonForecastAboveBudget, Message: "test", LastTransitionTime: t0})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	out, _, code := run(t, "", "costs", "analytics")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got, want := cellsOf(t, out, "analytics"), []string{"analytics", "-", "1100.00", "3000.00", "5600.00", "5000.00", "112%", "2026-12-05",
		"ec2 600.00, rds 300.00, obs 120.00, +2 more", "in 500.00"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("cells %q, want %q", got, want)
	}
	mustNotContain(t, out, "Cost Center", "note:")

	out, _, code = run(t, "", "costs", "analytics", "-o", "json")
	var got []costsJSON
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || len(got) != 1 {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	if a := got[0]; a.ForecastExceeded == nil || !*a.ForecastExceeded || len(a.TopServices) != 5 || a.CostsSyncTime != "2026-12-06T01:00:00Z" {
		t.Errorf("analytics = %+v", a)
	}
}

package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"text/template"

	"github.com/VictoriaMetrics/metricsql"
	"sigs.k8s.io/yaml"
)

// The queries are parsed with MetricsQL, a superset of PromQL; checkQuery
// rejects what PromQL lacks (MetricsQL functions, WITH templates, rollups
// without a range), so what passes is PromQL. Prometheus' own parser would
// bring github.com/prometheus/prometheus into go.mod, and with it a newer
// go directive and newer versions of modules the operator shares.

// controllerRuntimeMetrics are controller-runtime's metrics the dashboard
// may use besides the README's (docs/metrics.md lists them).
var controllerRuntimeMetrics = map[string][]string{
	"controller_runtime_reconcile_total":        {"controller", "result"},
	"controller_runtime_reconcile_errors_total": {"controller"},
	"workqueue_depth":                           {"name"},
}

// promqlFunctions are the PromQL functions the queries may call.
var promqlFunctions = []string{
	"abs", "absent", "absent_over_time", "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
	"count_over_time", "delta", "deriv", "floor", "histogram_quantile", "idelta", "increase", "irate",
	"label_join", "label_replace", "last_over_time", "max_over_time", "min_over_time", "predict_linear",
	"present_over_time", "quantile_over_time", "rate", "resets", "round", "scalar", "sort", "sort_desc",
	"sum_over_time", "time", "timestamp", "vector",
}

// rangeFunctions take a range vector: PromQL rejects them without one.
var rangeFunctions = []string{
	"absent_over_time", "avg_over_time", "changes", "count_over_time", "delta", "deriv", "idelta", "increase",
	"irate", "last_over_time", "max_over_time", "min_over_time", "predict_linear", "present_over_time",
	"quantile_over_time", "rate", "resets", "sum_over_time",
}

var promqlAggregations = []string{"avg", "bottomk", "count", "count_values", "group", "max", "min", "quantile", "stddev", "stdvar", "sum", "topk"}

// documentedMetrics reads the metrics table of the README: name → labels.
func documentedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(bss_budget_\\w+)` \\| ([^|]*) \\|")
	label := regexp.MustCompile("`(\\w+)`")
	out := map[string][]string{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		var labels []string
		for _, l := range label.FindAllStringSubmatch(m[2], -1) {
			labels = append(labels, l[1])
		}
		out[m[1]] = labels
	}
	if len(out) < 10 {
		t.Fatalf("found only %d metrics in the README's metrics table", len(out))
	}
	for name, labels := range controllerRuntimeMetrics {
		out[name] = labels
	}
	return out
}

// metricLabels returns the labels of a series name, accepting the
// _bucket, _sum and _count series of a documented histogram.
func metricLabels(docs map[string][]string, name string) ([]string, bool) {
	if labels, ok := docs[name]; ok {
		return labels, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok || !strings.HasSuffix(base, "_seconds") {
			continue
		}
		if labels, ok := docs[base]; ok {
			if suffix == "_bucket" {
				labels = append(slices.Clone(labels), "le")
			}
			return labels, true
		}
	}
	return nil, false
}

// checkQuery parses a PromQL query and returns the metrics it reads and
// every problem found: syntax, functions PromQL lacks, undocumented metrics
// or labels.
func checkQuery(docs map[string][]string, query string) (metrics []string, problems []string) {
	if strings.Contains(query, "WITH") {
		return nil, []string{"WITH templates are MetricsQL, not PromQL"}
	}
	expr, err := metricsql.Parse(query)
	if err != nil {
		return nil, []string{err.Error()}
	}
	seen := map[string]bool{}
	metricsql.VisitAll(expr, func(e metricsql.Expr) {
		switch e := e.(type) {
		case *metricsql.MetricExpr:
			name, filters, problem := metricOf(e)
			if problem != "" {
				problems = append(problems, problem)
				return
			}
			labels, ok := metricLabels(docs, name)
			if !ok {
				problems = append(problems, fmt.Sprintf("metric %s is not documented in the README's metrics table", name))
				return
			}
			if !seen[name] {
				seen[name] = true
				metrics = append(metrics, name)
			}
			for _, f := range filters {
				if !slices.Contains(labels, f.Label) {
					problems = append(problems, fmt.Sprintf("%s has no label %s (documented: %s)", name, f.Label, strings.Join(labels, ", ")))
				}
			}
		case *metricsql.FuncExpr:
			if !slices.Contains(promqlFunctions, e.Name) {
				problems = append(problems, fmt.Sprintf("%s is not a PromQL function this check knows", e.Name))
			}
			if slices.Contains(rangeFunctions, e.Name) {
				if len(e.Args) == 0 {
					problems = append(problems, e.Name+" has no argument")
				} else if re, ok := e.Args[len(e.Args)-1].(*metricsql.RollupExpr); !ok || re.Window == nil {
					if i := metricsql.GetRollupArgIdx(e); i < 0 || i >= len(e.Args) {
						problems = append(problems, e.Name+" needs a range vector")
					} else if re, ok := e.Args[i].(*metricsql.RollupExpr); !ok || re.Window == nil {
						problems = append(problems, e.Name+" needs a range vector, e.g. [5m]")
					}
				}
			}
			if e.KeepMetricNames {
				problems = append(problems, "keep_metric_names is MetricsQL, not PromQL")
			}
		case *metricsql.AggrFuncExpr:
			if !slices.Contains(promqlAggregations, e.Name) {
				problems = append(problems, fmt.Sprintf("%s is not a PromQL aggregation", e.Name))
			}
			if e.Limit > 0 {
				problems = append(problems, "limit is MetricsQL, not PromQL")
			}
			problems = append(problems, groupingProblems(docs, e.Name, e.Modifier.Args, e.Args...)...)
		case *metricsql.BinaryOpExpr:
			problems = append(problems, groupingProblems(docs, e.Op, e.GroupModifier.Args, e.Left, e.Right)...)
			problems = append(problems, groupingProblems(docs, e.Op, e.JoinModifier.Args, e.Left, e.Right)...)
		}
	})
	sort.Strings(metrics)
	return metrics, problems
}

// metricOf returns a selector's metric name and its other label filters.
func metricOf(e *metricsql.MetricExpr) (string, []metricsql.LabelFilter, string) {
	if len(e.LabelFilterss) != 1 {
		return "", nil, "selectors joined with 'or' are MetricsQL, not PromQL"
	}
	filters := e.LabelFilterss[0]
	if len(filters) == 0 || filters[0].Label != "__name__" || filters[0].IsRegexp || filters[0].IsNegative {
		return "", nil, "every selector must name its metric"
	}
	return filters[0].Value, filters[1:], ""
}

// groupingProblems checks that by/without/on/ignoring labels exist on a
// metric read below the operator.
func groupingProblems(docs map[string][]string, op string, labels []string, args ...metricsql.Expr) []string {
	if len(labels) == 0 {
		return nil
	}
	have := map[string]bool{}
	for _, a := range args {
		metricsql.VisitAll(a, func(e metricsql.Expr) {
			if me, ok := e.(*metricsql.MetricExpr); ok {
				if name, _, problem := metricOf(me); problem == "" {
					ls, _ := metricLabels(docs, name)
					for _, l := range ls {
						have[l] = true
					}
				}
			}
		})
	}
	var problems []string
	for _, l := range labels {
		if !have[l] {
			problems = append(problems, fmt.Sprintf("%s groups by %s, which no metric below it has", op, l))
		}
	}
	return problems
}

func TestCheckQueryRejectsWhatPrometheusRejects(t *testing.T) {
	docs := documentedMetrics(t)
	for _, q := range []string{
		`rate(bss_budget_bss_throttled_total)`,
		`sum by (operation) (rate(bss_budget_bss_throttled_total[5m]`,
		`bss_budget_no_such_metric > 0`,
		`bss_budget_bss_throttled_total{subaccount="x"}`,
		`sum by (subaccount) (bss_budget_bss_throttled_total)`,
		`median_over_time(bss_budget_bss_throttled_total[5m])`,
		`WITH (x = bss_budget_bss_throttled_total) x`,
	} {
		if _, problems := checkQuery(docs, q); len(problems) == 0 {
			t.Errorf("checkQuery(%q) found no problem", q)
		}
	}
	if _, problems := checkQuery(docs, `histogram_quantile(0.95, sum by (le, operation) (rate(bss_budget_bss_request_duration_seconds_bucket[5m])))`); len(problems) > 0 {
		t.Errorf("a valid histogram query: %v", problems)
	}
}

// ruleFile is the part of a PrometheusRule the test reads; unknown fields
// fail the strict decoding.
type ruleFile struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Groups []struct {
			Name     string `json:"name"`
			Interval string `json:"interval,omitempty"`
			Rules    []struct {
				Alert       string            `json:"alert,omitempty"`
				Record      string            `json:"record,omitempty"`
				Expr        string            `json:"expr"`
				For         string            `json:"for,omitempty"`
				Labels      map[string]string `json:"labels,omitempty"`
				Annotations map[string]string `json:"annotations,omitempty"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

var promDuration = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)

// templateFuncs stand in for Prometheus' template functions.
var templateFuncs = template.FuncMap{
	"humanize":           func(v float64) string { return fmt.Sprint(v) },
	"humanize1024":       func(v float64) string { return fmt.Sprint(v) },
	"humanizeDuration":   func(v float64) string { return fmt.Sprint(v) },
	"humanizePercentage": func(v float64) string { return fmt.Sprintf("%.0f%%", v*100) },
	"humanizeTimestamp":  func(v float64) string { return fmt.Sprint(v) },
	"toUpper":            strings.ToUpper,
	"toLower":            strings.ToLower,
	"title":              strings.ToTitle,
}

var labelRef = regexp.MustCompile(`\$labels\.(\w+)`)

func TestPrometheusRule(t *testing.T) {
	docs := documentedMetrics(t)
	b, err := os.ReadFile(filepath.Join("..", "config", "prometheus", "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.UnmarshalStrict(b, &rf); err != nil {
		t.Fatalf("prometheusrule.yaml: %v", err)
	}
	if rf.APIVersion != "monitoring.coreos.com/v1" || rf.Kind != "PrometheusRule" || rf.Metadata.Name == "" || rf.Metadata.Namespace == "" {
		t.Errorf("want a named monitoring.coreos.com/v1 PrometheusRule with a namespace, got %s %s %s/%s",
			rf.APIVersion, rf.Kind, rf.Metadata.Namespace, rf.Metadata.Name)
	}

	alerts := map[string]bool{}
	groups := map[string]bool{}
	// metricUse records which alerts read each metric, with their matchers.
	metricUse := map[string][]string{}
	for _, g := range rf.Spec.Groups {
		if g.Name == "" || groups[g.Name] {
			t.Errorf("group name %q is empty or repeated", g.Name)
		}
		groups[g.Name] = true
		for _, r := range g.Rules {
			name := r.Alert
			if name == "" {
				t.Errorf("group %s: a rule without alert (recording rules are not expected): %q", g.Name, r.Expr)
				continue
			}
			if alerts[name] {
				t.Errorf("alert %s is defined twice", name)
			}
			alerts[name] = true
			if !strings.HasPrefix(name, "BSSBudget") {
				t.Errorf("alert %s: names start with BSSBudget", name)
			}
			if !promDuration.MatchString(r.For) {
				t.Errorf("alert %s: for %q is not a Prometheus duration", name, r.For)
			}
			switch r.Labels["severity"] {
			case "critical", "warning", "info":
			default:
				t.Errorf("alert %s: labels.severity %q is not critical, warning or info", name, r.Labels["severity"])
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("alert %s: annotations.%s is empty", name, a)
				}
			}
			metrics, problems := checkQuery(docs, r.Expr)
			for _, p := range problems {
				t.Errorf("alert %s: expr: %s\n%s", name, p, r.Expr)
			}
			for _, m := range metrics {
				metricUse[m] = append(metricUse[m], r.Expr)
			}
			for key, text := range r.Annotations {
				checkAnnotation(t, docs, name, key, text, r.Expr)
			}
		}
	}

	// The alerts the operator's users asked for.
	for _, want := range []struct {
		metric, contains, why string
	}{
		{"bss_budget_master_transferable_fen", "", "master balance low"},
		{"bss_budget_subaccount_budget_used_ratio", "> 1", "budget exceeded"},
		{"bss_budget_transfers_total", `result="Failed"`, "transfers failing"},
		{"bss_budget_allocation_pending_fen", "", "transfers stuck / OutcomeUnknown"},
		{"bss_budget_bss_throttled_total", "rate(", "sustained throttling"},
		{"bss_budget_subaccount_oldest_pending_order_age_seconds", "> 86400", "an order pending payment too long"},
		{"bss_budget_order_payments_total", `result="Failed"`, "order payments failing"},
		{"bss_budget_subaccount_forecast_budget_ratio", "> 1", "spend projected above the budget"},
		{"bss_budget_resource_package_expiring_unused", "== 1", "a resource package expiring unused"},
		{"bss_budget_external_movements_total", "increase(", "money moved outside the operator"},
		{"bss_budget_master_coupons_expiring_fen", "> 0", "coupons expiring"},
	} {
		found := false
		for _, expr := range metricUse[want.metric] {
			found = found || strings.Contains(expr, want.contains)
		}
		if !found {
			t.Errorf("no alert for %s reads %s with %q", want.why, want.metric, want.contains)
		}
	}
}

// checkAnnotation parses an annotation as Prometheus does (a Go template
// with $labels and $value) and renders it with sample labels.
func checkAnnotation(t *testing.T, docs map[string][]string, alert, key, text, expr string) {
	t.Helper()
	const preamble = "{{$labels := .Labels}}{{$value := .Value}}"
	tmpl, err := template.New(alert).Funcs(templateFuncs).Option("missingkey=zero").Parse(preamble + text)
	if err != nil {
		t.Errorf("alert %s: annotations.%s: %v", alert, key, err)
		return
	}
	labels := map[string]string{}
	for _, m := range labelRef.FindAllStringSubmatch(text, -1) {
		l := m[1]
		labels[l] = "sample-" + l
		if l == "exported_namespace" {
			continue // Prometheus' name for a scraped namespace label
		}
		if !strings.Contains(expr, l) {
			found := false
			for name := range docs {
				if labelsOf, _ := metricLabels(docs, name); strings.Contains(expr, name) && slices.Contains(labelsOf, l) {
					found = true
				}
			}
			if !found {
				t.Errorf("alert %s: annotations.%s uses $labels.%s, which its expression does not carry", alert, key, l)
			}
		}
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, struct {
		Labels map[string]string
		Value  float64
	}{labels, 0.5}); err != nil {
		t.Errorf("alert %s: annotations.%s: %v", alert, key, err)
		return
	}
	if strings.Contains(out.String(), "<no value>") {
		t.Errorf("alert %s: annotations.%s renders <no value>: %s", alert, key, out.String())
	}
}

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID          int    `json:"id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	GridPos     struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

var grafanaVar = regexp.MustCompile(`\$\{?(\w+)\}?`)

func TestDashboard(t *testing.T) {
	docs := documentedMetrics(t)
	b, err := os.ReadFile("bss-budget-operator.json")
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatal("bss-budget-operator.json is not valid JSON")
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		t.Errorf("uid %q, title %q and schemaVersion %d must be set", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if q, ok := v.Query.(map[string]any); ok && v.Type == "query" {
			s, _ := q["query"].(string)
			m := regexp.MustCompile(`^label_values\((\w+), (\w+)\)$`).FindStringSubmatch(s)
			if m == nil {
				t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, s)
			} else if labels, ok := metricLabels(docs, m[1]); !ok || !slices.Contains(labels, m[2]) {
				t.Errorf("variable %s: %s has no documented label %s", v.Name, m[1], m[2])
			}
		}
	}

	var all []panel
	for _, p := range d.Panels {
		all = append(all, p)
		all = append(all, p.Panels...) // the panels of a collapsed row
	}
	if len(all) == 0 {
		t.Fatal("the dashboard has no panels")
	}
	ids := map[int]bool{}
	used := map[string]bool{}
	for _, p := range all {
		if ids[p.ID] || p.ID == 0 {
			t.Errorf("panel %q: id %d is zero or repeated", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v is outside the 24 columns", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || p.Description == "" {
			t.Errorf("panel %d: title and description must be set", p.ID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range grafanaVar.FindAllStringSubmatch(tg.Expr, -1) {
				if !vars[m[1]] && !strings.HasPrefix(m[1], "__") {
					t.Errorf("panel %q: $%s is no dashboard variable", p.Title, m[1])
				}
			}
			// Grafana replaces its variables before Prometheus sees the query.
			q := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h").Replace(tg.Expr)
			q = grafanaVar.ReplaceAllString(q, ".*")
			metrics, problems := checkQuery(docs, q)
			for _, pr := range problems {
				t.Errorf("panel %q: %s\n%s", p.Title, pr, tg.Expr)
			}
			for _, m := range metrics {
				used[m] = true
			}
		}
	}
	for _, want := range []string{
		"bss_budget_master_transferable_fen",           // master balances
		"bss_budget_subaccount_granted_fen",            // granted by sub-account
		"bss_budget_subaccount_budget_used_ratio",      // consumption vs budget
		"bss_budget_subaccount_cycle_consumption_fen",  // consumption
		"bss_budget_transfers_total",                   // transfers by result
		"bss_budget_bss_requests_total",                // BSS calls by code
		"bss_budget_bss_throttled_total",               // throttling
		"bss_budget_subaccount_orders_paid_fen",        // orders paid by sub-account
		"bss_budget_subaccount_orders_pending_payment", // orders pending payment
		"bss_budget_subaccount_amortized_cost_fen",     // amortized cost, this cycle and the last
		"bss_budget_subaccount_forecast_fen",           // projected spend
		"bss_budget_subaccount_forecast_budget_ratio",  // forecast against the budget
		"bss_budget_subaccount_external_movements_fen", // money moved outside the operator, by sub-account
		"bss_budget_external_movements_total",          // external movements found
		"bss_budget_master_balance_fen",                // master balances by account type
		"bss_budget_master_coupons_expiring_fen",       // coupons expiring
		"bss_budget_resource_package_expiry_seconds",   // resource package table
		"bss_budget_resource_package_unused_ratio",
		"bss_budget_resource_package_expiring_unused",
	} {
		if !used[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
}

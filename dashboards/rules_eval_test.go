package dashboards

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metricsql"
	"sigs.k8s.io/yaml"
)

// The tests below evaluate the alerts of prometheusrule.yaml on series
// written in promtool's notation, the way Prometheus' rule manager does:
// one sample a minute, an instant selector sees the newest sample of the
// last 5 minutes, rate() and increase() extrapolate as Prometheus does, an
// alert fires once its expression has returned the same labels at every
// evaluation for its `for`. Only the PromQL the rules use is implemented;
// anything else fails the test.

const (
	evalStep  = int64(time.Minute / time.Millisecond)
	lookback  = int64(5 * time.Minute / time.Millisecond)
	nameLabel = "__name__"
)

type labels map[string]string

// key is the labels' canonical string, without those in drop.
func (l labels) key(drop ...string) string {
	var parts []string
	for k, v := range l {
		if !slices.Contains(drop, k) {
			parts = append(parts, k+"="+strconv.Quote(v))
		}
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// only keeps the labels in keep.
func (l labels) only(keep []string) labels {
	out := labels{}
	for _, k := range keep {
		if v, ok := l[k]; ok {
			out[k] = v
		}
	}
	return out
}

// without drops the labels in drop.
func (l labels) without(drop ...string) labels {
	out := labels{}
	for k, v := range l {
		if !slices.Contains(drop, k) {
			out[k] = v
		}
	}
	return out
}

type sample struct {
	l labels
	v float64
}

// testSeries is one input series: values[i] is the sample at minute i;
// NaN means no sample.
type testSeries struct {
	l      labels
	values []float64
}

var (
	seriesSelector = regexp.MustCompile(`^(\w+)(?:\{(.*)\})?$`)
	seriesLabel    = regexp.MustCompile(`(\w+)="([^"]*)"`)
	expanding      = regexp.MustCompile(`^(-?[0-9.]+)(?:([+-][0-9.]+))?x([0-9]+)$`)
)

// series builds a series from `name{label="value",...}` and promtool's
// value notation: "1", "_" (no sample), "a+bxn" (a, a+b, … n+1 values),
// "axn" (a, n+1 times), "_xn" (n missing samples).
func series(t *testing.T, selector, values string) testSeries {
	t.Helper()
	m := seriesSelector.FindStringSubmatch(selector)
	if m == nil {
		t.Fatalf("series %q: not name{labels}", selector)
	}
	s := testSeries{l: labels{nameLabel: m[1]}}
	for _, lm := range seriesLabel.FindAllStringSubmatch(m[2], -1) {
		s.l[lm[1]] = lm[2]
	}
	for tok := range strings.FieldsSeq(values) {
		if tok == "_" {
			s.values = append(s.values, math.NaN())
			continue
		}
		if n, ok := strings.CutPrefix(tok, "_x"); ok {
			count, err := strconv.Atoi(n)
			if err != nil {
				t.Fatalf("series %q: %q", selector, tok)
			}
			for range count {
				s.values = append(s.values, math.NaN())
			}
			continue
		}
		if v, err := strconv.ParseFloat(tok, 64); err == nil {
			s.values = append(s.values, v)
			continue
		}
		em := expanding.FindStringSubmatch(tok)
		if em == nil {
			t.Fatalf("series %q: cannot read %q", selector, tok)
		}
		start, _ := strconv.ParseFloat(em[1], 64)
		var inc float64
		if em[2] != "" {
			inc, _ = strconv.ParseFloat(em[2], 64)
		}
		n, _ := strconv.Atoi(em[3])
		for i := 0; i <= n; i++ {
			s.values = append(s.values, start+float64(i)*inc)
		}
	}
	return s
}

// evaluator evaluates PromQL on the test series; it fails the test on
// what it does not implement.
type evaluator struct {
	t      *testing.T
	series []testSeries
}

// point is one sample of a series at a time (ms).
type point struct {
	ts int64
	v  float64
}

// points are the samples of s in (from, to].
func (s testSeries) points(from, to int64) []point {
	var out []point
	for i, v := range s.values {
		ts := int64(i) * evalStep
		if ts > from && ts <= to && !math.IsNaN(v) {
			out = append(out, point{ts, v})
		}
	}
	return out
}

func (e *evaluator) selectSeries(me *metricsql.MetricExpr) []testSeries {
	if len(me.LabelFilterss) != 1 {
		e.t.Fatalf("or-joined selectors are not PromQL")
	}
	var out []testSeries
	for _, s := range e.series {
		match := true
		for _, f := range me.LabelFilterss[0] {
			v := s.l[f.Label]
			ok := v == f.Value
			if f.IsRegexp {
				ok = regexp.MustCompile("^(?:" + f.Value + ")$").MatchString(v)
			}
			if ok == f.IsNegative {
				match = false
			}
		}
		if match {
			out = append(out, s)
		}
	}
	return out
}

// eval evaluates expr at ts (ms). Scalars come back as one sample
// without labels and isScalar.
func (e *evaluator) eval(expr metricsql.Expr, ts int64) (vec []sample, isScalar bool) {
	switch x := expr.(type) {
	case *metricsql.NumberExpr:
		return []sample{{l: nil, v: x.N}}, true
	case *metricsql.MetricExpr:
		return e.instant(x, ts), false
	case *metricsql.RollupExpr:
		me, ok := x.Expr.(*metricsql.MetricExpr)
		if !ok || x.Window != nil || x.ForSubquery() || x.At != nil {
			e.t.Fatalf("only `selector offset d` is implemented outside functions: %s", x.AppendString(nil))
		}
		return e.instant(me, ts-x.Offset.Duration(evalStep)), false
	case *metricsql.FuncExpr:
		return e.function(x, ts), false
	case *metricsql.AggrFuncExpr:
		return e.aggregate(x, ts), false
	case *metricsql.BinaryOpExpr:
		return e.binary(x, ts)
	}
	e.t.Fatalf("%T is not implemented: %s", expr, expr.AppendString(nil))
	return nil, false
}

func (e *evaluator) instant(me *metricsql.MetricExpr, ts int64) []sample {
	var out []sample
	for _, s := range e.selectSeries(me) {
		if p := s.points(ts-lookback, ts); len(p) > 0 {
			out = append(out, sample{l: s.l, v: p[len(p)-1].v})
		}
	}
	return out
}

// function implements rate and increase as Prometheus' extrapolatedRate.
func (e *evaluator) function(fe *metricsql.FuncExpr, ts int64) []sample {
	if fe.Name != "rate" && fe.Name != "increase" || len(fe.Args) != 1 {
		e.t.Fatalf("function %s is not implemented", fe.Name)
	}
	re, ok := fe.Args[0].(*metricsql.RollupExpr)
	if !ok || re.Window == nil || re.ForSubquery() {
		e.t.Fatalf("%s needs selector[range]", fe.Name)
	}
	me, ok := re.Expr.(*metricsql.MetricExpr)
	if !ok {
		e.t.Fatalf("%s needs selector[range]", fe.Name)
	}
	end := ts - re.Offset.Duration(evalStep)
	window := re.Window.Duration(evalStep)
	var out []sample
	for _, s := range e.selectSeries(me) {
		if v, ok := extrapolatedRate(s.points(end-window, end), end-window, end, fe.Name == "rate"); ok {
			out = append(out, sample{l: s.l.without(nameLabel), v: v})
		}
	}
	return out
}

// extrapolatedRate is Prometheus' rate/increase of a counter over
// (start, end].
func extrapolatedRate(p []point, start, end int64, isRate bool) (float64, bool) {
	if len(p) < 2 {
		return 0, false
	}
	first, last := p[0], p[len(p)-1]
	result := last.v - first.v
	for i := 1; i < len(p); i++ {
		if p[i].v < p[i-1].v {
			result += p[i-1].v
		}
	}
	toStart := float64(first.ts-start) / 1000
	toEnd := float64(end-last.ts) / 1000
	sampled := float64(last.ts-first.ts) / 1000
	avg := sampled / float64(len(p)-1)
	if result > 0 && first.v >= 0 {
		if toZero := sampled * (first.v / result); toZero < toStart {
			toStart = toZero
		}
	}
	threshold := avg * 1.1
	interval := sampled
	if toStart < threshold {
		interval += toStart
	} else {
		interval += avg / 2
	}
	if toEnd < threshold {
		interval += toEnd
	} else {
		interval += avg / 2
	}
	factor := interval / sampled
	if isRate {
		factor /= float64(end-start) / 1000
	}
	return result * factor, true
}

func (e *evaluator) aggregate(ae *metricsql.AggrFuncExpr, ts int64) []sample {
	if len(ae.Args) != 1 || !slices.Contains([]string{"sum", "max", "min"}, ae.Name) {
		e.t.Fatalf("%s with %d arguments is not implemented", ae.Name, len(ae.Args))
	}
	in, _ := e.eval(ae.Args[0], ts)
	groups := map[string][]sample{}
	var order []string
	for _, s := range in {
		var l labels
		switch ae.Modifier.Op {
		case "by":
			l = s.l.only(ae.Modifier.Args)
		case "without":
			l = s.l.without(append([]string{nameLabel}, ae.Modifier.Args...)...)
		case "":
			l = labels{}
		default:
			e.t.Fatalf("aggregation modifier %s is not implemented", ae.Modifier.Op)
		}
		k := l.key()
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], sample{l: l, v: s.v})
	}
	var out []sample
	for _, k := range order {
		g := groups[k]
		v := g[0].v
		for _, s := range g[1:] {
			switch ae.Name {
			case "sum":
				v += s.v
			case "max":
				v = math.Max(v, s.v)
			case "min":
				v = math.Min(v, s.v)
			}
		}
		out = append(out, sample{l: g[0].l, v: v})
	}
	return out
}

// matchKey is the labels binary operators match on.
func matchKey(l labels, m metricsql.ModifierExpr) string {
	switch m.Op {
	case "on":
		return l.only(m.Args).key()
	case "ignoring":
		return l.key(append([]string{nameLabel}, m.Args...)...)
	}
	return l.key(nameLabel)
}

func compare(op string, a, b float64) bool {
	switch op {
	case ">":
		return a > b
	case "<":
		return a < b
	case ">=":
		return a >= b
	case "<=":
		return a <= b
	case "==":
		return a == b
	case "!=":
		return a != b
	}
	panic(op)
}

func arithmetic(op string, a, b float64) (float64, bool) {
	switch op {
	case "+":
		return a + b, true
	case "-":
		return a - b, true
	case "*":
		return a * b, true
	case "/":
		return a / b, true
	}
	return 0, false
}

func (e *evaluator) binary(be *metricsql.BinaryOpExpr, ts int64) ([]sample, bool) {
	if be.Bool || be.JoinModifier.Op != "" || be.KeepMetricNames || be.FillLeft != nil || be.FillRight != nil {
		e.t.Fatalf("binary modifiers of %s are not implemented", be.AppendString(nil))
	}
	left, lScalar := e.eval(be.Left, ts)
	right, rScalar := e.eval(be.Right, ts)
	op := strings.ToLower(be.Op)
	switch op {
	case "and", "or", "unless":
		if lScalar || rScalar {
			e.t.Fatalf("%s needs vectors on both sides", op)
		}
		inRight := map[string]bool{}
		for _, s := range right {
			inRight[matchKey(s.l, be.GroupModifier)] = true
		}
		var out []sample
		for _, s := range left {
			if in := inRight[matchKey(s.l, be.GroupModifier)]; (op == "and") == in || op == "or" {
				out = append(out, s)
			}
		}
		if op == "or" {
			inLeft := map[string]bool{}
			for _, s := range left {
				inLeft[matchKey(s.l, be.GroupModifier)] = true
			}
			for _, s := range right {
				if !inLeft[matchKey(s.l, be.GroupModifier)] {
					out = append(out, s)
				}
			}
		}
		return out, false
	}
	isComparison := slices.Contains([]string{">", "<", ">=", "<=", "==", "!="}, op)
	if _, ok := arithmetic(op, 1, 1); !ok && !isComparison {
		e.t.Fatalf("operator %s is not implemented", op)
	}
	apply := func(l labels, a, b float64) (sample, bool) {
		if isComparison {
			return sample{l: l, v: a}, compare(op, a, b)
		}
		v, _ := arithmetic(op, a, b)
		return sample{l: l.without(nameLabel), v: v}, true
	}
	var out []sample
	switch {
	case lScalar && rScalar:
		if isComparison {
			e.t.Fatalf("a comparison of two scalars needs bool")
		}
		v, _ := arithmetic(op, left[0].v, right[0].v)
		return []sample{{v: v}}, true
	case rScalar:
		for _, s := range left {
			if r, ok := apply(s.l, s.v, right[0].v); ok {
				out = append(out, r)
			}
		}
	case lScalar:
		for _, s := range right {
			if r, ok := apply(s.l, left[0].v, s.v); ok {
				if isComparison {
					r.v = s.v
				}
				out = append(out, r)
			}
		}
	default:
		byKey := map[string]sample{}
		for _, s := range right {
			k := matchKey(s.l, be.GroupModifier)
			if _, dup := byKey[k]; dup {
				e.t.Fatalf("many-to-one matching in %s", be.AppendString(nil))
			}
			byKey[k] = s
		}
		for _, s := range left {
			r, ok := byKey[matchKey(s.l, be.GroupModifier)]
			if !ok {
				continue
			}
			l := s.l
			switch be.GroupModifier.Op {
			case "on":
				l = s.l.only(be.GroupModifier.Args)
			case "ignoring":
				l = s.l.without(be.GroupModifier.Args...)
			}
			if res, ok := apply(l, s.v, r.v); ok {
				out = append(out, res)
			}
		}
	}
	return out, false
}

// alertRule is one alert of the rule file.
type alertRule struct {
	name string
	expr metricsql.Expr
	hold int64 // for, in ms
}

func readAlerts(t *testing.T) map[string]alertRule {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "config", "prometheus", "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.UnmarshalStrict(b, &rf); err != nil {
		t.Fatal(err)
	}
	out := map[string]alertRule{}
	for _, g := range rf.Spec.Groups {
		for _, r := range g.Rules {
			expr, err := metricsql.Parse(r.Expr)
			if err != nil {
				t.Fatalf("%s: %v", r.Alert, err)
			}
			hold, err := time.ParseDuration(r.For)
			if err != nil {
				t.Fatalf("%s: for %q: %v", r.Alert, r.For, err)
			}
			out[r.Alert] = alertRule{name: r.Alert, expr: expr, hold: hold.Milliseconds()}
		}
	}
	return out
}

// firing evaluates the alert every minute from 0 to at (minutes) and
// returns the alerts firing at the end: their labels (without __name__)
// and values.
func (e *evaluator) firing(r alertRule, at int) map[string]float64 {
	activeAt := map[string]int64{}
	var last []sample
	for m := 0; m <= at; m++ {
		ts := int64(m) * evalStep
		vec, scalar := e.eval(r.expr, ts)
		if scalar {
			e.t.Fatalf("%s: the expression is a scalar", r.name)
		}
		now := map[string]bool{}
		for _, s := range vec {
			k := s.l.key(nameLabel)
			now[k] = true
			if _, ok := activeAt[k]; !ok {
				activeAt[k] = ts
			}
		}
		for k := range activeAt {
			if !now[k] {
				delete(activeAt, k)
			}
		}
		last = vec
	}
	out := map[string]float64{}
	for _, s := range last {
		k := s.l.key(nameLabel)
		if int64(at)*evalStep-activeAt[k] >= r.hold {
			out[k] = s.v
		}
	}
	return out
}

func TestExtrapolatedIncrease(t *testing.T) {
	// A counter growing by 1 a minute since minute 0: increase over the
	// last hour at minute 60 is 60, as Prometheus computes it.
	e := &evaluator{t: t, series: []testSeries{series(t, `c_total{a="x"}`, "0+1x60")}}
	expr, err := metricsql.Parse(`increase(c_total[1h])`)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := e.eval(expr, 60*evalStep)
	if len(got) != 1 || math.Abs(got[0].v-60) > 1e-9 || got[0].l[nameLabel] != "" {
		t.Errorf("increase = %+v, want 60 without the metric name", got)
	}
	// One sample in the window: nothing.
	e.series = []testSeries{series(t, `c_total{a="x"}`, "_x59 5")}
	if got, _ := e.eval(expr, 59*evalStep); len(got) != 0 {
		t.Errorf("increase of one sample = %+v, want nothing", got)
	}
}

// TestAlertsFireAndDoNot evaluates alerts on series that make them fire
// and on series that must not.
func TestAlertsFireAndDoNot(t *testing.T) {
	alerts := readAlerts(t)
	for _, tc := range []struct {
		alert  string
		series [][2]string // selector, values
		at     int         // minutes
		// want are the labels of the alerts firing at `at`, with their
		// values; the others must not fire.
		want map[string]float64
	}{{
		alert: "BSSBudgetForecastExceeded",
		series: [][2]string{
			{`bss_budget_subaccount_forecast_budget_ratio{subaccount="over"}`, "1.2x40"},
			{`bss_budget_subaccount_forecast_budget_ratio{subaccount="under"}`, "0.95x40"},
			{`bss_budget_subaccount_forecast_budget_ratio{subaccount="exactly"}`, "1x40"},
			// Above the budget for 20 minutes only: pending, not firing.
			{`bss_budget_subaccount_forecast_budget_ratio{subaccount="recent"}`, "0.8x20 1.5x20"},
		},
		at:   40,
		want: map[string]float64{`{subaccount="over"}`: 1.2},
	}, {
		alert: "BSSBudgetForecastExceeded",
		// The forecast fell back within the budget: resolved.
		series: [][2]string{{`bss_budget_subaccount_forecast_budget_ratio{subaccount="over"}`, "1.2x40 0.9x5"}},
		at:     45,
		want:   map[string]float64{},
	}, {
		alert: "BSSBudgetResourcePackageExpiringUnused",
		series: [][2]string{
			{`bss_budget_resource_package_expiring_unused{enterprise_account="acme",package="P1",name="OBS package"}`, "1x70"},
			{`bss_budget_resource_package_expiring_unused{enterprise_account="acme",package="P2",name="ECS package"}`, "0x70"},
			// Flagged 30 minutes ago: not an hour yet.
			{`bss_budget_resource_package_expiring_unused{enterprise_account="acme",package="P3",name="RDS package"}`, "0x40 1x30"},
			{`bss_budget_resource_package_unused_ratio{enterprise_account="acme",package="P1",name="OBS package"}`, "0.8x70"},
		},
		at:   70,
		want: map[string]float64{`{enterprise_account="acme",name="OBS package",package="P1"}`: 1},
	}, {
		alert: "BSSBudgetExternalMovement",
		series: [][2]string{
			// Counted at minute 71 on a series that was there before.
			{`bss_budget_external_movements_total{enterprise_account="acme",direction="in"}`, "0x70 1x30"},
			// A series that appeared at minute 80 with its first count:
			// increase() cannot see it.
			{`bss_budget_external_movements_total{enterprise_account="acme",direction="out"}`, "_x80 1x20"},
			// Counted more than an hour ago, and nothing since.
			{`bss_budget_external_movements_total{enterprise_account="globex",direction="in"}`, "3x100"},
			// Started at zero and stayed there.
			{`bss_budget_external_movements_total{enterprise_account="initech",direction="out"}`, "0x100"},
		},
		at: 100,
		want: map[string]float64{
			`{direction="in",enterprise_account="acme"}`:  1,
			`{direction="out",enterprise_account="acme"}`: 1,
		},
	}, {
		alert: "BSSBudgetExternalMovement",
		// More than an hour after the last movement: resolved.
		series: [][2]string{
			{`bss_budget_external_movements_total{enterprise_account="acme",direction="in"}`, "0x10 1x80"},
			{`bss_budget_external_movements_total{enterprise_account="acme",direction="out"}`, "_x20 1x70"},
		},
		at:   90,
		want: map[string]float64{},
	}, {
		alert: "BSSBudgetCouponsExpiring",
		series: [][2]string{
			{`bss_budget_master_coupons_expiring_fen{enterprise_account="acme"}`, "12345x70"},
			{`bss_budget_master_coupons_expiring_fen{enterprise_account="globex"}`, "0x70"},
			// Expiring coupons for 50 minutes only.
			{`bss_budget_master_coupons_expiring_fen{enterprise_account="initech"}`, "0x20 500x50"},
		},
		at:   70,
		want: map[string]float64{`{enterprise_account="acme"}`: 123.45},
	}, {
		alert: "BSSBudgetOrderPendingTooLong",
		series: [][2]string{
			{`bss_budget_subaccount_oldest_pending_order_age_seconds{subaccount="late"}`, "90000+60x20"},
			{`bss_budget_subaccount_oldest_pending_order_age_seconds{subaccount="fresh"}`, "3600+60x20"},
		},
		at:   20,
		want: map[string]float64{`{subaccount="late"}`: 91200},
	}, {
		alert: "BSSBudgetTransfersFailing",
		series: [][2]string{
			{`bss_budget_transfers_total{operation="Transfer",result="Failed"}`, "0x10 1x10"},
			{`bss_budget_transfers_total{operation="Reclaim",result="Failed"}`, "0x20"},
		},
		at:   20,
		want: map[string]float64{`{operation="Transfer"}`: 1},
	}} {
		t.Run(tc.alert, func(t *testing.T) {
			r, ok := alerts[tc.alert]
			if !ok {
				t.Fatalf("no alert %s in prometheusrule.yaml", tc.alert)
			}
			e := &evaluator{t: t}
			for _, s := range tc.series {
				e.series = append(e.series, series(t, s[0], s[1]))
			}
			got := e.firing(r, tc.at)
			for k, want := range tc.want {
				if v, ok := got[k]; !ok {
					t.Errorf("%s does not fire for %s at minute %d (firing: %v)", tc.alert, k, tc.at, got)
				} else if math.Abs(v-want) > 1e-6 {
					t.Errorf("%s%s = %v, want %v", tc.alert, k, v, want)
				}
			}
			for k := range got {
				if _, ok := tc.want[k]; !ok {
					t.Errorf("%s fires for %s at minute %d", tc.alert, k, tc.at)
				}
			}
		})
	}
}

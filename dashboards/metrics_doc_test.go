package dashboards

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// definedMetric is a metric internal/metrics defines.
type definedMetric struct {
	name, kind string // kind: counter, gauge or histogram
	labels     []string
}

// definedMetrics reads the metrics internal/metrics/metrics.go defines:
// every prometheus.NewXxxVec call, with its Namespace, Name and labels.
func definedMetrics(t *testing.T) []definedMetric {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join("..", "internal", "metrics", "metrics.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			for i, name := range vs.Names {
				if i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						consts[name.Name], _ = strconv.Unquote(lit.Value)
					}
				}
			}
		}
		return true
	})
	str := func(e ast.Expr) string {
		switch e := e.(type) {
		case *ast.BasicLit:
			s, _ := strconv.Unquote(e.Value)
			return s
		case *ast.Ident:
			if s, ok := consts[e.Name]; ok {
				return s
			}
		}
		t.Fatalf("%s: not a string literal or constant", fset.Position(e.Pos()))
		return ""
	}
	var out []definedMetric
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "prometheus" {
			return true
		}
		kind, isVec := strings.CutPrefix(sel.Sel.Name, "New")
		kind, isVec2 := strings.CutSuffix(kind, "Vec")
		if !isVec || !isVec2 || len(call.Args) != 2 {
			return true
		}
		opts, ok := call.Args[0].(*ast.CompositeLit)
		if !ok {
			t.Fatalf("%s: %s options are not a literal", fset.Position(call.Pos()), sel.Sel.Name)
		}
		var ns, name string
		for _, el := range opts.Elts {
			kv, ok := el.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			switch kv.Key.(*ast.Ident).Name {
			case "Namespace":
				ns = str(kv.Value)
			case "Name":
				name = str(kv.Value)
			}
		}
		m := definedMetric{name: ns + "_" + name, kind: strings.ToLower(kind)}
		if labels, ok := call.Args[1].(*ast.CompositeLit); ok {
			for _, l := range labels.Elts {
				m.labels = append(m.labels, str(l))
			}
		}
		out = append(out, m)
		return true
	})
	if len(out) < 10 {
		t.Fatalf("found only %d metrics in internal/metrics/metrics.go", len(out))
	}
	return out
}

// TestEveryMetricIsDocumented: each metric the operator defines is in the
// README's metrics table and in docs/metrics.md's, with its type and
// exactly its labels.
func TestEveryMetricIsDocumented(t *testing.T) {
	readme := documentedMetrics(t)
	b, err := os.ReadFile(filepath.Join("..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(bss_budget_\\w+)` \\| (\\w+) \\| ([^|]*) \\|")
	label := regexp.MustCompile("`(\\w+)`")
	type doc struct {
		kind   string
		labels []string
	}
	page := map[string]doc{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		d := doc{kind: m[2]}
		for _, l := range label.FindAllStringSubmatch(m[3], -1) {
			d.labels = append(d.labels, l[1])
		}
		page[m[1]] = d
	}
	defined := map[string]bool{}
	for _, m := range definedMetrics(t) {
		defined[m.name] = true
		if labels, ok := readme[m.name]; !ok {
			t.Errorf("%s is not in the README's metrics table", m.name)
		} else if !slices.Equal(labels, m.labels) {
			t.Errorf("%s: the README documents labels %q, the metric has %q", m.name, labels, m.labels)
		}
		d, ok := page[m.name]
		switch {
		case !ok:
			t.Errorf("%s is not in docs/metrics.md's table", m.name)
		case d.kind != m.kind:
			t.Errorf("%s: docs/metrics.md says %s, the metric is a %s", m.name, d.kind, m.kind)
		case !slices.Equal(d.labels, m.labels):
			t.Errorf("%s: docs/metrics.md documents labels %q, the metric has %q", m.name, d.labels, m.labels)
		}
	}
	for name := range page {
		if !defined[name] {
			t.Errorf("docs/metrics.md documents %s, which internal/metrics does not define", name)
		}
	}
	for name := range readme {
		if _, runtime := controllerRuntimeMetrics[name]; !runtime && !defined[name] {
			t.Errorf("the README documents %s, which internal/metrics does not define", name)
		}
	}
}

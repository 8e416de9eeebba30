package argocd

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/google/go-cmp/cmp"
	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the Lua scripts from their template and argocd-cm.yaml from the scripts")

const group = "budget.bss.dev"

// kinds are the operator's kinds, sorted: the order of argocd-cm.yaml.
var kinds = []string{"BudgetAllocation", "BudgetTransfer", "EnterpriseAccount", "OrderPayment", "SubAccount"}

// wantHealth is the decided Argo CD health of every Ready reason the
// scripts classify by reason alone (docs/argocd.md justifies each). The
// scripts' tables, this map and the table in docs/argocd.md must agree.
var wantHealth = map[string]string{
	// A person has to act, by design.
	"AwaitingApproval": "Suspended",
	"Paused":           "Suspended",
	"Planned":          "Suspended",

	// A person has to fix something; the operator cannot.
	"AboveMaxAmount":             "Degraded",
	"BSSError":                   "Degraded",
	"CouponUnavailable":          "Degraded",
	"CouponUnusable":             "Degraded",
	"CreateFailed":               "Degraded",
	"CredentialsMissing":         "Degraded",
	"CredentialsRejected":        "Degraded",
	"CustomerChanged":            "Degraded",
	"CustomerIDInUse":            "Degraded",
	"Denied":                     "Degraded",
	"EndpointUnreachable":        "Degraded",
	"Failed":                     "Degraded",
	"FundingLimitExceeded":       "Degraded",
	"InsufficientBalance":        "Degraded",
	"InsufficientFunds":          "Degraded",
	"LedgerBehindBSS":            "Degraded",
	"MonthlyBudgetExceeded":      "Degraded",
	"NamespaceNotAllowed":        "Degraded",
	"OrderNotFound":              "Degraded",
	"OrderNotPayable":            "Degraded",
	"OrganizationBudgetExceeded": "Degraded",
	"OutcomeUnknown":             "Degraded",
	"ReclaimBlocked":             "Degraded",
	"SubAccountClosed":           "Degraded",
	"SubAccountNotFound":         "Degraded",
	"TransferFailed":             "Degraded",
	"TransferNameConflict":       "Degraded",
	"TransIDBurned":              "Degraded",
	"WrongSubAccount":            "Degraded",

	// The operator is getting there by itself, or waits for another object
	// that carries the real status.
	"AwaitingVerificationCode":  "Progressing",
	"Creating":                  "Progressing",
	"EnterpriseAccountNotReady": "Progressing",
	"Paying":                    "Progressing",
	"Pending":                   "Progressing",
	"Progressing":               "Progressing",
	"Reclaiming":                "Progressing",
	"SubAccountNotReady":        "Progressing",
	"Submitting":                "Progressing",
	"Throttled":                 "Progressing",
	"TransferInProgress":        "Progressing",
}

// notByReason are reasons whose health follows from Ready=True or from a
// BudgetTransfer's or OrderPayment's phase, or that belong to another
// condition (BudgetExceeded, BudgetForecastExceeded, CostCenterNotEnabled,
// ReportsSynced), not from the reason tables.
var notByReason = []string{"BudgetExceeded", "CostCenterEnabled", "CostCenterNotEnabled", "DuplicatePayment",
	"ForecastAboveBudget", "ForecastUnknown", "ForecastWithinBudget", "OrderCancelled", "Paid", "PaidElsewhere", "Ready",
	"ReportsSynced", "ResolvedByAdmin", "Succeeded", "Superseded", "WithinBudget", "Withdrawn"}

// reasonsByKind are the reasons each kind's controller writes on its
// conditions (internal/controller/<kind>): every one needs a fixture.
// SubAccountClosed is defined by the SubAccount controller, not the API.
var reasonsByKind = map[string][]string{
	"EnterpriseAccount": {"Ready", "CredentialsMissing", "CredentialsRejected", "EndpointUnreachable", "Throttled", "BSSError",
		"CostCenterNotEnabled", "CostCenterEnabled", "ReportsSynced"},
	"SubAccount": {"Ready", "EnterpriseAccountNotReady", "SubAccountNotFound", "Creating", "AwaitingVerificationCode", "CreateFailed",
		"CredentialsMissing", "CredentialsRejected", "EndpointUnreachable", "Throttled", "BSSError", "SubAccountClosed",
		"BudgetExceeded", "WithinBudget", "CustomerIDInUse", "ForecastAboveBudget", "ForecastWithinBudget", "ForecastUnknown"},
	"BudgetAllocation": {"Ready", "Progressing", "SubAccountNotReady", "NamespaceNotAllowed", "EnterpriseAccountNotReady",
		"InsufficientFunds", "FundingLimitExceeded", "CouponUnavailable", "TransferInProgress", "TransferFailed",
		"AwaitingApproval", "OutcomeUnknown", "LedgerBehindBSS", "Planned", "Paused", "Reclaiming", "ReclaimBlocked",
		"CredentialsRejected", "EndpointUnreachable", "Throttled", "BSSError", "CustomerChanged", "Denied", "TransferNameConflict"},
	"BudgetTransfer": {"Pending", "AwaitingApproval", "Submitting", "Throttled", "OutcomeUnknown", "EnterpriseAccountNotReady",
		"Succeeded", "Failed", "Denied", "ResolvedByAdmin", "Withdrawn", "TransIDBurned", "LedgerBehindBSS", "Superseded"},
	"OrderPayment": {"Pending", "NamespaceNotAllowed", "SubAccountNotReady", "EnterpriseAccountNotReady", "FundingLimitExceeded",
		"MonthlyBudgetExceeded", "InsufficientBalance", "OrganizationBudgetExceeded", "AwaitingApproval", "Denied", "Paying",
		"Paid", "PaidElsewhere", "OrderCancelled", "OrderNotFound", "OrderNotPayable", "WrongSubAccount", "AboveMaxAmount",
		"DuplicatePayment", "CouponUnusable", "Withdrawn", "BSSError", "Throttled", "CredentialsRejected", "EndpointUnreachable"},
}

// healthTest is one entry of a health_test.yaml, Argo CD's format.
type healthTest struct {
	HealthStatus struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	} `json:"healthStatus"`
	InputPath string `json:"inputPath"`
}

type healthTests struct {
	Tests []healthTest `json:"tests"`
}

// health is what a script returns.
type health struct {
	Status, Message string
}

// TestScriptsGenerated keeps every health/budget.bss.dev/<Kind>/health.lua
// generated from health/health.lua.tmpl, with the blocks the kind's own
// health.lua.tmpl (if any) redefines.
func TestScriptsGenerated(t *testing.T) {
	for _, kind := range kinds {
		want := generateScript(t, kind)
		path := filepath.Join("health", group, kind, "health.lua")
		if *update {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil { //nolint:gosec // G306: a checked-in file, not a secret
				t.Fatal(err)
			}
		}
		if diff := cmp.Diff(want, readScript(t, kind)); diff != "" {
			t.Errorf("argocd/%s is stale; run go test ./argocd -update (-want +got):\n%s", path, diff)
		}
	}
}

// generateScript renders the health script of kind from the templates.
func generateScript(t *testing.T, kind string) string {
	t.Helper()
	base := template.Must(template.ParseFiles(filepath.Join("health", "health.lua.tmpl")))
	tmpl := template.Must(base.Clone())
	var b bytes.Buffer
	b.WriteString(`-- Generated by "go test ./argocd -update" from argocd/health/health.lua.tmpl`)
	part := filepath.Join("health", group, kind, "health.lua.tmpl")
	if p, err := os.ReadFile(part); err == nil {
		template.Must(tmpl.New(part).Parse(string(p)))
		fmt.Fprintf(&b, "\n-- and argocd/%s", filepath.ToSlash(part))
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	b.WriteString("; do not edit.\n")
	if err := tmpl.ExecuteTemplate(&b, base.Name(), kind); err != nil {
		t.Fatalf("%s: %v", kind, err)
	}
	return b.String()
}

func TestHealthChecks(t *testing.T) {
	for _, kind := range kinds {
		script := readScript(t, kind)
		for _, tc := range readHealthTests(t, kind) {
			t.Run(kind+"/"+strings.TrimSuffix(tc.InputPath, ".yaml"), func(t *testing.T) {
				obj := readFixture(t, kind, tc.InputPath)
				got, err := runHealth(script, obj.Object)
				if err != nil {
					t.Fatalf("running the health check: %v", err)
				}
				if got.Message == "" {
					t.Errorf("message is empty (status %s)", got.Status)
				}
				want := health{Status: tc.HealthStatus.Status, Message: tc.HealthStatus.Message}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("health (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestFixturesCoverEveryReason makes sure that every reason of the API
// belongs to a kind and that every reason of a kind has a fixture, so that
// a new reason cannot ship without a decided health.
func TestFixturesCoverEveryReason(t *testing.T) {
	used := map[string]bool{}
	for _, rs := range reasonsByKind {
		for _, r := range rs {
			used[r] = true
		}
	}
	for _, r := range apiReasons(t) {
		if !used[r] {
			t.Errorf("reason %s of api/v1alpha1/conditions.go is in no kind's list: add it to reasonsByKind, to the scripts' tables and a fixture", r)
		}
	}

	for _, kind := range kinds {
		tests := readHealthTests(t, kind)
		listed := map[string]bool{}
		covered := map[string]bool{}
		for _, tc := range tests {
			listed[tc.InputPath] = true
			obj := readFixture(t, kind, tc.InputPath)
			conds, _, err := unstructured.NestedSlice(obj.Object, "status", "conditions")
			if err != nil {
				t.Fatalf("%s/%s: status.conditions: %v", kind, tc.InputPath, err)
			}
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok {
					if r, ok := m["reason"].(string); ok {
						covered[r] = true
					}
				}
			}
		}
		for _, r := range reasonsByKind[kind] {
			if !covered[r] {
				t.Errorf("%s: no fixture in testdata/%s has a condition with reason %s", kind, kind, r)
			}
		}
		for _, want := range []string{"missing-status.yaml", "stale-generation.yaml"} {
			if !listed[want] {
				t.Errorf("%s: testdata/%s/health_test.yaml lists no %s", kind, kind, want)
			}
		}
		files, err := filepath.Glob(filepath.Join("testdata", kind, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if base := filepath.Base(f); base != "health_test.yaml" && !listed[base] {
				t.Errorf("%s: fixture %s is not listed in health_test.yaml", kind, f)
			}
		}
	}
}

// TestScriptsClassifyEveryReason compares the reason tables of the five
// scripts with wantHealth, with each other and with docs/argocd.md.
func TestScriptsClassifyEveryReason(t *testing.T) {
	for _, kind := range kinds {
		got := luaReasonTables(t, kind, readScript(t, kind))
		if diff := cmp.Diff(wantHealth, got); diff != "" {
			t.Errorf("%s: reason tables of the script (-want +got):\n%s", kind, diff)
		}
	}
	for kind, rs := range reasonsByKind {
		for _, r := range rs {
			if _, ok := wantHealth[r]; !ok && !slices.Contains(notByReason, r) {
				t.Errorf("%s: reason %s has no decided health in wantHealth", kind, r)
			}
		}
	}

	docs := docsHealthTable(t)
	for r, want := range wantHealth {
		if got, ok := docs[r]; !ok {
			t.Errorf("docs/argocd.md has no row for reason %s (want %s)", r, want)
		} else if got != want {
			t.Errorf("docs/argocd.md says %s is %s; the scripts say %s", r, got, want)
		}
	}
	for r := range docs {
		if _, ok := wantHealth[r]; !ok && !slices.Contains(notByReason, r) {
			t.Errorf("docs/argocd.md has a row for %s, which is no reason of the operator", r)
		}
	}
}

// TestScriptsUseOnlyTheBaseLibrary guards the scripts against what Argo CD
// does not offer custom health checks (the string, math and os libraries,
// string methods) and against text that would not survive the YAML block
// of argocd-cm.yaml unchanged.
func TestScriptsUseOnlyTheBaseLibrary(t *testing.T) {
	forbidden := regexp.MustCompile(`\b(string|math|os|io|debug|coroutine|channel)\.|\brequire\b|\bload(string|file)?\s*\(|\bdofile\b|[\w)\]"]:\w+\s*\(`)
	for _, kind := range kinds {
		for i, line := range strings.Split(readScript(t, kind), "\n") {
			code, _, _ := strings.Cut(line, "--")
			if m := forbidden.FindString(code); m != "" {
				t.Errorf("%s/health.lua:%d uses %q, which Argo CD's custom health checks do not offer", kind, i+1, m)
			}
			if strings.ContainsRune(line, '\t') || strings.TrimRight(line, " ") != line {
				t.Errorf("%s/health.lua:%d has a tab or trailing spaces", kind, i+1)
			}
		}
	}
}

// TestArgoCDConfigMap keeps argocd-cm.yaml generated from the templates
// (the same scripts TestScriptsGenerated keeps in health/), so that it
// holds whatever order the tests run in.
func TestArgoCDConfigMap(t *testing.T) {
	scripts := map[string]string{}
	for _, kind := range kinds {
		scripts[kind] = generateScript(t, kind)
	}
	want := renderConfigMap(scripts)
	const path = "argocd-cm.yaml"
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil { //nolint:gosec // G306: a checked-in file, not a secret
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./argocd -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("argocd/argocd-cm.yaml is stale; run go test ./argocd -update (-want +got):\n%s", diff)
	}

	// The YAML carries the scripts byte for byte under Argo CD's keys.
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(got, &cm); err != nil {
		t.Fatalf("argocd-cm.yaml: %v", err)
	}
	if cm.Kind != "ConfigMap" || cm.Name != "argocd-cm" {
		t.Errorf("argocd-cm.yaml is %s %s, want ConfigMap argocd-cm", cm.Kind, cm.Name)
	}
	wantData := map[string]string{}
	for kind, s := range scripts {
		wantData[fmt.Sprintf("resource.customizations.health.%s_%s", group, kind)] = s
	}
	if diff := cmp.Diff(wantData, cm.Data); diff != "" {
		t.Errorf("argocd-cm.yaml data (-want +got):\n%s", diff)
	}
}

const configMapHeader = `# Argo CD health checks for the bss-budget-operator kinds, as a patch of
# Argo CD's argocd-cm ConfigMap (docs/argocd.md shows how to apply it).
# Generated from argocd/health/budget.bss.dev/<Kind>/health.lua by
# "go test ./argocd -update"; do not edit: the test fails when they differ.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/name: argocd-cm
    app.kubernetes.io/part-of: argocd
data:
`

func renderConfigMap(scripts map[string]string) []byte {
	var b bytes.Buffer
	b.WriteString(configMapHeader)
	for _, kind := range kinds {
		fmt.Fprintf(&b, "  resource.customizations.health.%s_%s: |\n", group, kind)
		for _, line := range strings.SplitAfter(scripts[kind], "\n") {
			switch line {
			case "":
			case "\n":
				b.WriteString(line)
			default:
				b.WriteString("    " + line)
			}
		}
	}
	return b.Bytes()
}

// runHealth runs a health script the way Argo CD runs one from argocd-cm
// (util/lua in Argo CD): a fresh state without the standard libraries
// except package, base and table, a one second deadline, the object as the
// global table obj, and a table with status and message as the result.
func runHealth(script string, obj map[string]any) (health, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return health{}, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return health{}, err
	}
	tbl, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return health{}, fmt.Errorf("the script returned %s, not a table", l.Get(-1).Type())
	}
	var h health
	var errs []error
	tbl.ForEach(func(k, v lua.LValue) {
		s, isString := v.(lua.LString)
		switch {
		case !isString:
			errs = append(errs, fmt.Errorf("%s is a %s, not a string", k, v.Type()))
		case k.String() == "status":
			h.Status = string(s)
		case k.String() == "message":
			h.Message = string(s)
		default:
			errs = append(errs, fmt.Errorf("unexpected key %s", k))
		}
	})
	switch h.Status {
	case "Healthy", "Progressing", "Suspended", "Degraded", "Missing", "Unknown":
	default:
		errs = append(errs, fmt.Errorf("status %q is not an Argo CD health status", h.Status))
	}
	return h, errors.Join(errs...)
}

// toLua converts a decoded Kubernetes object the way Argo CD does: maps to
// tables with string keys, lists to sequences, numbers (int64 from the API
// server, float64) to numbers.
func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for k, item := range v {
			t.RawSetH(lua.LString(k), toLua(l, item))
		}
		return t
	}
	return lua.LNil
}

func readScript(t *testing.T, kind string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("health", group, kind, "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readHealthTests(t *testing.T, kind string) []healthTest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", kind, "health_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ht healthTests
	if err := yaml.UnmarshalStrict(b, &ht); err != nil {
		t.Fatalf("testdata/%s/health_test.yaml: %v", kind, err)
	}
	if len(ht.Tests) == 0 {
		t.Fatalf("testdata/%s/health_test.yaml has no tests", kind)
	}
	return ht.Tests
}

// readFixture decodes a fixture as the API server would hand it to Argo
// CD: JSON numbers become int64 where they are integers.
func readFixture(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", kind, name))
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatalf("%s/%s: %v", kind, name, err)
	}
	var u unstructured.Unstructured
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatalf("%s/%s: %v", kind, name, err)
	}
	if gvk := u.GroupVersionKind(); gvk.Group != group || gvk.Kind != kind {
		t.Fatalf("%s/%s is a %s, want %s/%s", kind, name, gvk, group, kind)
	}
	return &u
}

// apiReasons returns the values of the Reason constants of
// api/v1alpha1/conditions.go.
func apiReasons(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "api", "v1alpha1", "conditions.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if !strings.HasPrefix(name.Name, "Reason") || i >= len(vs.Values) {
				continue
			}
			lit, ok := vs.Values[i].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Fatalf("%s is not a string literal", name.Name)
			}
			v, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return true
	})
	if len(out) < 20 {
		t.Fatalf("found only %d reasons in conditions.go", len(out))
	}
	sort.Strings(out)
	return out
}

var (
	luaTable = regexp.MustCompile(`(?ms)^local (suspended|degraded|progressing) = \{\n(.*?)^\}`)
	luaKey   = regexp.MustCompile(`(?m)^\s*(\w+) = true,`)
)

// luaReasonTables reads the reason tables of a script: reason → health.
func luaReasonTables(t *testing.T, kind, script string) map[string]string {
	t.Helper()
	out := map[string]string{}
	tables := luaTable.FindAllStringSubmatch(script, -1)
	if len(tables) != 3 {
		t.Fatalf("%s/health.lua: found %d reason tables, want suspended, degraded and progressing", kind, len(tables))
	}
	for _, m := range tables {
		status := map[string]string{"suspended": "Suspended", "degraded": "Degraded", "progressing": "Progressing"}[m[1]]
		for _, k := range luaKey.FindAllStringSubmatch(m[2], -1) {
			if prev, ok := out[k[1]]; ok {
				t.Errorf("%s/health.lua: %s is both %s and %s", kind, k[1], prev, status)
			}
			out[k[1]] = status
		}
	}
	return out
}

var docsRow = regexp.MustCompile("(?m)^\\| `(\\w+)` \\| (Healthy|Progressing|Suspended|Degraded) \\|")

// docsHealthTable reads the reason table of docs/argocd.md: reason → health.
func docsHealthTable(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "argocd.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range docsRow.FindAllStringSubmatch(string(b), -1) {
		if prev, ok := out[m[1]]; ok && prev != m[2] {
			t.Errorf("docs/argocd.md lists %s as both %s and %s", m[1], prev, m[2])
		}
		out[m[1]] = m[2]
	}
	return out
}

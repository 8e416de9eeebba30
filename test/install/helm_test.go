package install

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The chart installed as the README says:
// helm install bss-budget-operator charts/bss-budget-operator -n <ns>.
const (
	chartPrefix = "bss-budget-operator-"
	chartSA     = chartPrefix + "controller-manager"
)

func TestChartDefaults(t *testing.T) {
	const ns = "bss-budget-helm"
	objs := renderChart(t, chartRender{namespace: ns})
	if len(objs.ofKind("CustomResourceDefinition")) != 6 {
		t.Errorf("want the 6 CRDs from crds/, got %v", objs.ofKind("CustomResourceDefinition").ids())
	}
	checkBuiltinOnly(t, objs)
	if objs.find("Namespace", ns) != nil {
		t.Error("the chart creates its namespace by default; Helm keeps the release there")
	}
	d := checkDeployment(t, objs, ns)
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %d, want 2", *d.Spec.Replicas)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "bss-budget-operator:0.1.0" {
		t.Errorf("image = %q, want the appVersion tag", img)
	}
	r := checkRBAC(t, objs, ns, chartSA)
	checkManagerRole(t, r, chartPrefix+"manager-role")
	checkUserRoles(t, r, chartPrefix)
	checkNetworking(t, objs, d, 8443, defaultIngress, defaultEgress)
	checkStatusGuards(t, objs, chartPrefix, ns, chartSA)
	for _, want := range []string{"--metrics-secure=true", "--enable-http2=false", "--transfer-safety-window=24h", "--submit-retry-base=2s", "--max-concurrent-reconciles=4"} {
		if !slices.Contains(args(d), want) {
			t.Errorf("args %q lack %s", args(d), want)
		}
	}
	createNamespace(t, ns, nil)
	dryRun(t, objs)
}

func TestChartValuesTakeEffect(t *testing.T) {
	const ns = "budget-ops"
	objs := renderChart(t, chartRender{namespace: "default", values: `
namespace: {name: budget-ops, create: true}
image: {repository: registry.example.com/finops/bss-budget-operator, tag: v1.2.3, pullPolicy: Always}
replicaCount: 3
manager:
  transferSafetyWindow: 12h
  submitRetryBase: 5s
  paymentSettleWindow: 5m
  maxConcurrentReconciles: 8
  bssTimeout: ""
  extraArgs: ["--zap-encoder=console"]
resources:
  limits: {cpu: "1", memory: 512Mi}
metrics:
  port: 9443
  serviceMonitor: {enabled: true, interval: 30s, labels: {release: prometheus}}
  prometheusRule: {enabled: true, labels: {release: prometheus}}
networkPolicy:
  metricsFrom:
  - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}
  bssPorts: [443, 8443]
`})
	nsObj := objs.find("Namespace", ns)
	if nsObj == nil {
		t.Fatal("namespace.create renders no Namespace")
	}
	checkPodSecurity(t, typed[corev1.Namespace](t, nsObj))
	d := checkDeployment(t, objs, ns)
	if *d.Spec.Replicas != 3 {
		t.Errorf("replicas = %d, want 3", *d.Spec.Replicas)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "registry.example.com/finops/bss-budget-operator:v1.2.3" || c.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("image %q pull %q", c.Image, c.ImagePullPolicy)
	}
	for _, want := range []string{"--transfer-safety-window=12h", "--submit-retry-base=5s", "--payment-settle-window=5m", "--max-concurrent-reconciles=8", "--zap-encoder=console", "--metrics-bind-address=:9443"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %s", c.Args, want)
		}
	}
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--bss-timeout") {
			t.Errorf("an empty manager.bssTimeout renders %s; it should leave the manager's default", a)
		}
	}
	if got := c.Resources.Limits.Memory().String(); got != "512Mi" {
		t.Errorf("memory limit %s, want 512Mi", got)
	}
	if got := c.Resources.Requests.Memory().String(); got != "64Mi" {
		t.Errorf("memory request %s, want the default 64Mi kept", got)
	}
	r := checkRBAC(t, objs, ns, chartSA)
	checkUserRoles(t, r, chartPrefix)
	checkNetworking(t, objs, d, 9443, []port{"TCP/8081", "TCP/9443"}, []port{"TCP/443", "TCP/53", "TCP/6443", "TCP/8443", "UDP/53"})
	checkStatusGuards(t, objs, chartPrefix, ns, chartSA)
	np := typed[networkingv1.NetworkPolicy](t, objs.one(t, "NetworkPolicy"))
	if from := np.Spec.Ingress[0].From; len(from) != 1 || from[0].NamespaceSelector == nil {
		t.Errorf("metrics ingress from %+v, want the monitoring namespace", from)
	}
	sm := objs.one(t, "ServiceMonitor")
	if sm.GetNamespace() != ns || sm.GetLabels()["release"] != "prometheus" {
		t.Errorf("ServiceMonitor %s/%s labels %v", sm.GetNamespace(), sm.GetName(), sm.GetLabels())
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if ep, _ := endpoints[0].(map[string]any); ep["port"] != "https" || ep["scheme"] != "https" || ep["interval"] != "30s" {
		t.Errorf("ServiceMonitor endpoint %v", ep)
	}
	checkChartAlerts(t, objs.one(t, "PrometheusRule"), ns)

	installMonitoringCRDs(t)
	createNamespace(t, ns, nsObj)
	dryRun(t, objs)
}

func TestChartWithoutMetrics(t *testing.T) {
	const ns = "bss-budget-helm"
	objs := renderChart(t, chartRender{namespace: ns, values: `metrics: {enabled: false, serviceMonitor: {enabled: true}}`})
	d := checkDeployment(t, objs, ns)
	if !slices.Contains(args(d), "--metrics-bind-address=0") {
		t.Errorf("args %q do not disable metrics", args(d))
	}
	if objs.ofKind("ServiceMonitor") != nil || objs.find("ClusterRole", chartPrefix+"metrics-reader") != nil {
		t.Error("metrics are disabled but a ServiceMonitor or the metrics roles are rendered")
	}
	if g := renderChart(t, chartRender{namespace: ns, values: `metrics: {enabled: false, prometheusRule: {enabled: true}}`}); g.ofKind("PrometheusRule") != nil {
		t.Error("metrics are disabled but the PrometheusRule is rendered")
	}
	if g := renderChart(t, chartRender{namespace: ns, values: `admissionPolicy: {enabled: false}`}); g.ofKind("ValidatingAdmissionPolicy") != nil || g.ofKind("ValidatingAdmissionPolicyBinding") != nil {
		t.Error("admissionPolicy.enabled=false still renders the transfer or payment status policy")
	}
	if g := renderChart(t, chartRender{namespace: ns, values: `rbac: {createLedgerRecordReaderRole: false}`}); g.find("ClusterRole", chartPrefix+"ledger-record-reader-role") != nil {
		t.Error("rbac.createLedgerRecordReaderRole=false still renders the ledger record reader role")
	}
	if g := renderChart(t, chartRender{namespace: ns, values: `rbac: {createApproverRole: false}`}); g.find("ClusterRole", chartPrefix+"budgettransfer-approver") != nil || g.find("ClusterRole", chartPrefix+"orderpayment-approver") != nil {
		t.Error("rbac.createApproverRole=false still renders an approver role")
	}
	if g := renderChart(t, chartRender{namespace: ns, values: `rbac: {aggregateToDefaultRoles: false}`}); g.find("ClusterRole", chartPrefix+"orderpayment-editor-role") != nil || g.find("ClusterRole", chartPrefix+"budget-viewer-role") != nil {
		t.Error("rbac.aggregateToDefaultRoles=false still renders the viewer or order payment editor role")
	}
	checkRBAC(t, objs, ns, chartSA)
	checkNetworking(t, objs, d, 0, []port{"TCP/8081"}, defaultEgress)
	createNamespace(t, ns, nil)
	dryRun(t, objs)
}

// TestChartLongReleaseName installs under the longest release name Helm
// accepts: every name must still be valid (a Service's at most 63
// characters).
func TestChartLongReleaseName(t *testing.T) {
	const ns = "bss-budget-helm"
	release := strings.Repeat("r", 53)
	objs := renderChart(t, chartRender{release: release, namespace: ns})
	d := checkDeployment(t, objs, ns)
	checkRBAC(t, objs, ns, d.Spec.Template.Spec.ServiceAccountName)
	checkNetworking(t, objs, d, 8443, defaultIngress, defaultEgress)
	createNamespace(t, ns, nil)
	dryRun(t, objs)
}

// TestChartPodSecurityIsChecked shows that the dry-runs would catch a
// manager that breaks the namespace's restricted Pod Security level.
func TestChartPodSecurityIsChecked(t *testing.T) {
	const ns = "bss-budget-helm"
	objs := renderChart(t, chartRender{namespace: ns, values: `securityContext: {allowPrivilegeEscalation: true}`})
	createNamespace(t, ns, nil)
	psa := podSecurityWarnings(apply(t, objs.ofKind("Deployment"), false))
	if len(psa) == 0 || !strings.Contains(psa[0], "allowPrivilegeEscalation") {
		t.Errorf("want a Pod Security warning about allowPrivilegeEscalation, got %q", psa)
	}
}

func TestChartRejectsBadValues(t *testing.T) {
	cases := map[string]string{
		"replicas not a number":        `replicaCount: two`,
		"not a duration":               `manager: {transferSafetyWindow: tomorrow}`,
		"no BSS port":                  `networkPolicy: {bssPorts: []}`,
		"zero workers":                 `manager: {maxConcurrentReconciles: 0}`,
		"misspelt key":                 `replicas: 3`,
		"unknown image pull policy":    `image: {pullPolicy: Sometimes}`,
		"metrics port out of range":    `metrics: {port: 70000}`,
		"misspelt serviceMonitor knob": `metrics: {serviceMonitor: {enable: true}}`,
		"misspelt prometheusRule knob": `metrics: {prometheusRule: {enable: true}}`,
		"ledger reader role not bool":  `rbac: {createLedgerRecordReaderRole: "yes"}`,
	}
	for name, values := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := renderChartErr(t, chartRender{namespace: "x", values: values}); err == nil {
				t.Errorf("values %q accepted", values)
			}
		})
	}
	if _, err := renderChartErr(t, chartRender{namespace: "x", kube: &chartutil.KubeVersion{Version: "v1.29.0", Major: "1", Minor: "29"}}); err == nil {
		t.Error("the chart installs on Kubernetes 1.29, below the supported 1.30")
	}
}

// TestChartLints runs `helm lint`'s rules (Chart.yaml, values, schema,
// templates, with a long release name) over the chart with its defaults.
func TestChartLints(t *testing.T) {
	linter := lint.AllWithKubeVersion(chartDir, nil, operatorNamespace, &kubeVersion)
	for _, m := range linter.Messages {
		if m.Severity >= support.WarningSev {
			t.Errorf("helm lint: %s", m)
		} else {
			t.Logf("helm lint: %s", m)
		}
	}
}

// TestChartCopiesAreCurrent fails when `make manifests` changed the CRDs,
// the manager's role, the status policies or the alerts without copying
// them into the chart.
func TestChartCopiesAreCurrent(t *testing.T) {
	bases, err := filepath.Glob(filepath.Join(repoRoot, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(bases) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	copies, err := filepath.Glob(filepath.Join(chartDir, "crds", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	names := func(paths []string) []string {
		var out []string
		for _, p := range paths {
			out = append(out, filepath.Base(p))
		}
		return out
	}
	if diff := cmp.Diff(names(bases), names(copies)); diff != "" {
		t.Errorf("charts/bss-budget-operator/crds differs from config/crd/bases; run `make manifests` (-bases +chart):\n%s", diff)
	}
	pairs := map[string]string{
		"config/rbac/role.yaml":                        "charts/bss-budget-operator/files/manager-role.yaml",
		"config/admission/transfer_status_policy.yaml": "charts/bss-budget-operator/files/transfer-status-policy.yaml",
		"config/admission/payment_status_policy.yaml":  "charts/bss-budget-operator/files/payment-status-policy.yaml",
		"config/prometheus/prometheusrule.yaml":        "charts/bss-budget-operator/files/prometheusrule.yaml",
	}
	for _, b := range bases {
		pairs[filepath.Join("config", "crd", "bases", filepath.Base(b))] = filepath.Join("charts", "bss-budget-operator", "crds", filepath.Base(b))
	}
	for src, dst := range pairs {
		got, err := os.ReadFile(filepath.Join(repoRoot, dst))
		if err != nil {
			t.Errorf("%s: %v", dst, err)
			continue
		}
		if !bytes.Equal(readFile(t, src), got) {
			t.Errorf("%s is not a copy of %s; run `make manifests`", dst, src)
		}
	}
}

// TestChartMatchesKustomize renders the chart with the names config/default
// uses and compares the two installations.
func TestChartMatchesKustomize(t *testing.T) {
	kust := renderKustomize(t, "default")
	chart := renderChart(t, chartRender{namespace: operatorNamespace, values: `
fullnameOverride: bss-budget
namespace: {create: true}
image: {repository: bss-budget-operator, tag: dev}
`})
	if diff := cmp.Diff(kust.ids(), chart.ids()); diff != "" {
		t.Errorf("objects (-kustomize +helm):\n%s", diff)
	}
	for _, kind := range []string{"Role", "ClusterRole"} {
		for _, k := range kust.ofKind(kind) {
			h := chart.find(kind, k.GetName())
			if h == nil {
				continue
			}
			if diff := cmp.Diff(k.Object["rules"], h.Object["rules"]); diff != "" {
				t.Errorf("%s %s rules (-kustomize +helm):\n%s", kind, k.GetName(), diff)
			}
			for key, v := range k.GetLabels() {
				if strings.HasPrefix(key, "rbac.authorization.k8s.io/") && h.GetLabels()[key] != v {
					t.Errorf("%s %s: label %s=%s is missing from the chart", kind, k.GetName(), key, v)
				}
			}
		}
	}
	for _, kind := range []string{"RoleBinding", "ClusterRoleBinding"} {
		for _, k := range kust.ofKind(kind) {
			if h := chart.find(kind, k.GetName()); h != nil {
				if diff := cmp.Diff([]any{k.Object["roleRef"], k.Object["subjects"]}, []any{h.Object["roleRef"], h.Object["subjects"]}); diff != "" {
					t.Errorf("%s %s (-kustomize +helm):\n%s", kind, k.GetName(), diff)
				}
			}
		}
	}
	for _, kind := range []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		for _, k := range kust.ofKind(kind) {
			if h := chart.find(kind, k.GetName()); h != nil {
				if diff := cmp.Diff(k.Object["spec"], h.Object["spec"]); diff != "" {
					t.Errorf("%s %s spec (-kustomize +helm):\n%s", kind, k.GetName(), diff)
				}
			}
		}
	}
	kd := typed[appsv1.Deployment](t, kust.one(t, "Deployment"))
	hd := typed[appsv1.Deployment](t, chart.one(t, "Deployment"))
	kc, hc := kd.Spec.Template.Spec.Containers[0], hd.Spec.Template.Spec.Containers[0]
	same := []struct {
		what       string
		kust, helm any
	}{
		{"replicas", kd.Spec.Replicas, hd.Spec.Replicas},
		{"image", kc.Image, hc.Image},
		{"pod securityContext", kd.Spec.Template.Spec.SecurityContext, hd.Spec.Template.Spec.SecurityContext},
		{"securityContext", kc.SecurityContext, hc.SecurityContext},
		{"resources", kc.Resources, hc.Resources},
		{"ports", kc.Ports, hc.Ports},
		{"env", kc.Env, hc.Env},
		{"liveness probe", kc.LivenessProbe, hc.LivenessProbe},
		{"readiness probe", kc.ReadinessProbe, hc.ReadinessProbe},
		{"namespace labels", kust.find("Namespace", operatorNamespace).GetLabels()["pod-security.kubernetes.io/enforce"],
			chart.find("Namespace", operatorNamespace).GetLabels()["pod-security.kubernetes.io/enforce"]},
	}
	for _, s := range same {
		if diff := cmp.Diff(s.kust, s.helm); diff != "" {
			t.Errorf("%s (-kustomize +helm):\n%s", s.what, diff)
		}
	}
	for _, a := range kc.Args {
		if !slices.Contains(hc.Args, a) {
			t.Errorf("the chart's manager lacks kustomize's argument %s", a)
		}
	}
	kn := typed[networkingv1.NetworkPolicy](t, kust.one(t, "NetworkPolicy"))
	hn := typed[networkingv1.NetworkPolicy](t, chart.one(t, "NetworkPolicy"))
	if diff := cmp.Diff([]any{kn.Spec.Ingress, kn.Spec.Egress}, []any{hn.Spec.Ingress, hn.Spec.Egress}); diff != "" {
		t.Errorf("NetworkPolicy rules (-kustomize +helm):\n%s", diff)
	}
}

// checkChartAlerts checks that the chart's PrometheusRule carries the alerts
// of config/prometheus unchanged (their annotations are Prometheus
// templates Helm must not touch), in the release's namespace and with the
// extra labels.
func checkChartAlerts(t *testing.T, rule *unstructured.Unstructured, namespace string) {
	t.Helper()
	if rule.GetNamespace() != namespace || rule.GetLabels()["release"] != "prometheus" || rule.GetName() != chartPrefix+"alerts" {
		t.Errorf("PrometheusRule %s/%s labels %v", rule.GetNamespace(), rule.GetName(), rule.GetLabels())
	}
	want := decodeYAML(t, readFile(t, "config/prometheus/prometheusrule.yaml")).one(t, "PrometheusRule")
	if diff := cmp.Diff(want.Object["spec"], rule.Object["spec"]); diff != "" {
		t.Errorf("the chart's alerts differ from config/prometheus (-config +chart):\n%s", diff)
	}
}

package install

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

const (
	// operatorNamespace is where config/default installs the operator.
	operatorNamespace = "bss-budget-system"
	// fieldOwner is the field manager of every apply in these tests.
	fieldOwner = client.FieldOwner("install-test")
)

var (
	repoRoot = testenv.RepoRoot()
	chartDir = filepath.Join(repoRoot, "charts", "bss-budget-operator")
	// kubeVersion is what the chart is rendered for (helm template --kube-version).
	kubeVersion = chartutil.KubeVersion{Version: "v" + testenv.DefaultK8sVersion, Major: "1", Minor: "37"}
)

// objects is a rendered installation, in rendering order.
type objects []*unstructured.Unstructured

// ofKind returns the objects of one kind.
func (o objects) ofKind(kind string) objects {
	var out objects
	for _, u := range o {
		if u.GetKind() == kind {
			out = append(out, u)
		}
	}
	return out
}

// find returns the object of a kind and name, or nil.
func (o objects) find(kind, name string) *unstructured.Unstructured {
	for _, u := range o {
		if u.GetKind() == kind && u.GetName() == name {
			return u
		}
	}
	return nil
}

// one returns the only object of a kind.
func (o objects) one(t *testing.T, kind string) *unstructured.Unstructured {
	t.Helper()
	of := o.ofKind(kind)
	if len(of) != 1 {
		t.Fatalf("want exactly one %s, got %d", kind, len(of))
	}
	return of[0]
}

// ids lists "Kind namespace/name" of every object, sorted.
func (o objects) ids() []string {
	var out []string
	for _, u := range o {
		out = append(out, u.GetKind()+" "+u.GetNamespace()+"/"+u.GetName())
	}
	slices.Sort(out)
	return out
}

// decodeYAML splits a multi-document YAML stream into objects. It is strict:
// a duplicate key, which kubectl and Helm would silently resolve one way or
// the other, fails the test.
func decodeYAML(t *testing.T, data []byte) objects {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out objects
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading rendered YAML: %v", err)
		}
		var m map[string]any
		if err := yaml.UnmarshalStrict(doc, &m); err != nil {
			t.Fatalf("decoding rendered YAML: %v\n%s", err, doc)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// renderKustomize builds a kustomization under config/, like
// `kubectl kustomize config/<dir>`.
func renderKustomize(t *testing.T, dir string) objects {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot, "config", dir))
	if err != nil {
		t.Fatalf("kustomize build config/%s: %v", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return decodeYAML(t, out)
}

// chartRender is the input of renderChart.
type chartRender struct {
	release   string
	namespace string
	values    string // a values file
	kube      *chartutil.KubeVersion
}

// renderChartErr renders the chart as `helm install --dry-run=client
// --include-crds` (that is, `helm template`) does, CRDs included.
func renderChartErr(t *testing.T, r chartRender) (objects, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	vals, err := chartutil.ReadValues([]byte(r.values))
	if err != nil {
		t.Fatalf("values: %v", err)
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun = true
	install.DryRunOption = "client"
	install.ClientOnly = true
	install.IncludeCRDs = true
	install.ReleaseName = r.release
	if install.ReleaseName == "" {
		install.ReleaseName = "bss-budget-operator"
	}
	install.Namespace = r.namespace
	install.KubeVersion = &kubeVersion
	if r.kube != nil {
		install.KubeVersion = r.kube
	}
	rel, err := install.RunWithContext(t.Context(), chrt, vals)
	if err != nil {
		return nil, err
	}
	return decodeYAML(t, []byte(rel.Manifest)), nil
}

func renderChart(t *testing.T, r chartRender) objects {
	t.Helper()
	objs, err := renderChartErr(t, r)
	if err != nil {
		t.Fatalf("rendering the chart: %v", err)
	}
	return objs
}

// createNamespace creates a namespace for real (it must exist before
// anything is applied to it), from a rendered Namespace when there is one.
func createNamespace(t *testing.T, name string, rendered *unstructured.Unstructured) {
	t.Helper()
	ns := &unstructured.Unstructured{}
	if rendered != nil {
		ns = rendered.DeepCopy()
	} else {
		ns.SetAPIVersion("v1")
		ns.SetKind("Namespace")
		ns.SetName(name)
		ns.SetLabels(map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	}
	if err := k8s.Apply(t.Context(), client.ApplyConfigurationFromUnstructured(ns), fieldOwner, client.ForceOwnership); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// apply server-side applies every object, with dry-run unless real is set,
// and fails the test for each one the API server rejects. It returns the
// API server's warnings.
func apply(t *testing.T, objs objects, real bool) []string {
	t.Helper()
	warnings.take()
	for _, u := range objs {
		opts := []client.ApplyOption{fieldOwner, client.ForceOwnership}
		if !real {
			opts = append(opts, client.DryRunAll)
		}
		if err := k8s.Apply(t.Context(), client.ApplyConfigurationFromUnstructured(u.DeepCopy()), opts...); err != nil {
			t.Errorf("%s %s/%s rejected: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
	return warnings.take()
}

// dryRun applies every object with server-side dry-run and fails on any
// rejection and on any Pod Security warning.
func dryRun(t *testing.T, objs objects) {
	t.Helper()
	if psa := podSecurityWarnings(apply(t, objs, false)); len(psa) > 0 {
		t.Errorf("Pod Security warnings: %q", psa)
	}
}

// installMonitoringCRDs installs minimal monitoring.coreos.com/v1
// ServiceMonitor and PrometheusRule CRDs (the Prometheus Operator's, without
// their schemas), so that those objects can be dry-run.
func installMonitoringCRDs(t *testing.T) {
	t.Helper()
	preserve := true
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule"} {
		lower := strings.ToLower(kind)
		crds = append(crds, &apiextensionsv1.CustomResourceDefinition{
			ObjectMeta: metav1.ObjectMeta{Name: lower + "s.monitoring.coreos.com"},
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{
				Group: "monitoring.coreos.com",
				Names: apiextensionsv1.CustomResourceDefinitionNames{
					Kind: kind, ListKind: kind + "List", Plural: lower + "s", Singular: lower,
				},
				Scope: apiextensionsv1.NamespaceScoped,
				Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
					Name: "v1", Served: true, Storage: true,
					Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
						Type: "object",
						Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"spec": {Type: "object", XPreserveUnknownFields: &preserve},
						},
					}},
				}},
			},
		})
	}
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{CRDs: crds}); err != nil {
		t.Fatalf("installing the monitoring CRDs: %v", err)
	}
}

// typed converts a rendered object into a Go type.
func typed[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

// readFile reads a file of the repository.
func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

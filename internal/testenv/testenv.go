// Package testenv starts a real kube-apiserver and etcd (envtest) with the
// operator's CRDs installed, for tests.
//
// The binaries come from hack/envtest-bins.sh, which builds them from pinned
// Go modules; `make test` exports KUBEBUILDER_ASSETS. When it is unset, the
// default install directory of that script is used, so `go test` works
// without exports once `make envtest` has run.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
)

// DefaultK8sVersion is the Kubernetes version hack/envtest-bins.sh builds.
const DefaultK8sVersion = "1.37.2"

// RepoRoot returns the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// AssetsDir returns the directory holding kube-apiserver, etcd and kubectl.
func AssetsDir() (string, error) {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d, nil
	}
	if d := os.Getenv("ENVTEST_ASSETS_DIR"); d != "" {
		return d, nil
	}
	version := os.Getenv("ENVTEST_K8S_VERSION")
	if version == "" {
		version = DefaultK8sVersion
	}
	dataHome := os.Getenv("XDG_DATA_HOME")
	if dataHome == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		dataHome = filepath.Join(home, ".local", "share")
	}
	d := filepath.Join(dataHome, "kubebuilder-envtest", "k8s", fmt.Sprintf("%s-%s-%s", version, runtime.GOOS, runtime.GOARCH))
	if _, err := os.Stat(filepath.Join(d, "kube-apiserver")); err != nil { //nolint:gosec // G703: the path comes from the developer's own environment
		return "", fmt.Errorf("envtest binaries not found in %s: run `make envtest` (or set KUBEBUILDER_ASSETS): %w", d, err)
	}
	return d, nil
}

// Start starts etcd and kube-apiserver with the CRDs from config/crd/bases
// and returns the environment and its rest.Config. Call env.Stop when done.
func Start() (*envtest.Environment, *rest.Config, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, nil, err
	}
	if err := budgetv1alpha1.AddToScheme(scheme.Scheme); err != nil {
		return nil, nil, err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("starting envtest: %w", err)
	}
	return env, cfg, nil
}

// GVR returns the resource of a budget.bss.dev kind (plural, lower case).
func GVR(resource string) schema.GroupVersionResource {
	return budgetv1alpha1.GroupVersion.WithResource(resource)
}

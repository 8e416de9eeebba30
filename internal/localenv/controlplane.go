package localenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
)

// ControlPlaneOptions configure StartControlPlane.
type ControlPlaneOptions struct {
	// AssetsDir holds kube-apiserver, etcd and kubectl (hack/envtest-bins.sh
	// prints it).
	AssetsDir string
	// CRDDir holds the CRDs to install (config/crd/bases).
	CRDDir string
	// Dir receives etcd's data, the API server's certificates, both logs and
	// the kubeconfig. It is created if needed.
	Dir string
	// EtcdQuotaBytes is etcd's --quota-backend-bytes; 0 keeps etcd's
	// default (2 GiB), which a few hundred thousand objects written and
	// deleted can fill.
	EtcdQuotaBytes int64
}

// ControlPlane is etcd and kube-apiserver on loopback with the CRDs
// installed.
type ControlPlane struct {
	// Config is an administrator's REST configuration.
	Config *rest.Config
	// KubeconfigPath is a kubeconfig file for the same administrator.
	KubeconfigPath string
	// KubectlPath is the kubectl built with the control plane.
	KubectlPath string
	// EtcdLog and APIServerLog are the two processes' logs.
	EtcdLog, APIServerLog string

	// mu serialises Kill, Restart and Stop.
	mu   sync.Mutex
	env  *envtest.Environment
	logs []*os.File
	// etcdLog and apiLog are the open logs (also in logs), for the notes
	// Kill and Restart add.
	etcdLog, apiLog *os.File
	// pids are the processes Pid found last.
	pids map[Component]PIDRecord
}

// Component is one of the control plane's two processes.
type Component string

const (
	// Etcd is the etcd server.
	Etcd Component = "etcd"
	// APIServer is kube-apiserver.
	APIServer Component = "kube-apiserver"
)

// StartControlPlane starts etcd and kube-apiserver (envtest: both bind free
// loopback ports), installs the CRDs and writes a kubeconfig.
func StartControlPlane(opts ControlPlaneOptions) (_ *ControlPlane, retErr error) {
	for _, d := range []string{opts.Dir, filepath.Join(opts.Dir, "etcd"), filepath.Join(opts.Dir, "kube-apiserver")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, err
		}
	}
	cp := &ControlPlane{
		KubeconfigPath: filepath.Join(opts.Dir, "kubeconfig"),
		KubectlPath:    filepath.Join(opts.AssetsDir, "kubectl"),
		EtcdLog:        filepath.Join(opts.Dir, "etcd.log"),
		APIServerLog:   filepath.Join(opts.Dir, "kube-apiserver.log"),
	}
	defer func() {
		if retErr != nil {
			cp.closeLogs()
		}
	}()
	etcdLog, err := cp.openLog(cp.EtcdLog)
	if err != nil {
		return nil, err
	}
	apiLog, err := cp.openLog(cp.APIServerLog)
	if err != nil {
		return nil, err
	}
	cp.etcdLog, cp.apiLog = etcdLog, apiLog
	cp.env = &envtest.Environment{
		CRDDirectoryPaths:     []string{opts.CRDDir},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: opts.AssetsDir,
		// Two cores running a test, etcd and kube-apiserver at once can
		// take longer than envtest's default 20s.
		ControlPlaneStartTimeout: 90 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
		ControlPlane: envtest.ControlPlane{
			Etcd:      &envtest.Etcd{DataDir: filepath.Join(opts.Dir, "etcd"), Out: etcdLog, Err: etcdLog},
			APIServer: &envtest.APIServer{CertDir: filepath.Join(opts.Dir, "kube-apiserver"), Out: apiLog, Err: apiLog},
		},
	}
	if opts.EtcdQuotaBytes > 0 {
		cp.env.ControlPlane.Etcd.Configure().Set("quota-backend-bytes", strconv.FormatInt(opts.EtcdQuotaBytes, 10))
	}
	cfg, err := cp.env.Start()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("starting etcd and kube-apiserver: %w", err), cp.env.Stop())
	}
	cp.Config = cfg
	if err := os.WriteFile(cp.KubeconfigPath, cp.env.KubeConfig, 0o600); err != nil {
		return nil, errors.Join(err, cp.env.Stop())
	}
	return cp, nil
}

func (cp *ControlPlane) openLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) //nolint:gosec // G304: under the directory the caller chose
	if err != nil {
		return nil, err
	}
	cp.logs = append(cp.logs, f)
	return f, nil
}

func (cp *ControlPlane) closeLogs() {
	for _, f := range cp.logs {
		_ = f.Close()
	}
	cp.logs = nil
}

// Stop stops kube-apiserver and etcd.
func (cp *ControlPlane) Stop() error {
	if cp == nil {
		return nil
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.env == nil {
		return nil
	}
	err := cp.env.Stop()
	cp.closeLogs()
	cp.env = nil
	return err
}

// NewScheme knows the built-in kinds and budget.bss.dev/v1alpha1.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := budgetv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// NewClient is a controller-runtime client for cfg that knows NewScheme's
// kinds.
func NewClient(cfg *rest.Config) (client.Client, error) {
	return client.New(cfg, client.Options{Scheme: NewScheme()})
}

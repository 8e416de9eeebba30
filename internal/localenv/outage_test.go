package localenv

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

// TestKillAndRestartControlPlane kills kube-apiserver and then etcd with
// SIGKILL and restarts each, and checks what the chaos test relies on: the
// objects written before each kill are there afterwards (also one written
// just before etcd died), the clients made before the kills (from the
// rest.Config and from the kubeconfig file) work again without being
// rebuilt, and a watch started before the kills sees objects created after
// them. The clients keep the address they were made with, so they work
// again only if the restarted process listens where the killed one did.
func TestKillAndRestartControlPlane(t *testing.T) {
	assets, err := testenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	cp, err := StartControlPlane(ControlPlaneOptions{
		AssetsDir: assets, CRDDir: filepath.Join(testenv.RepoRoot(), "config", "crd", "bases"), Dir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the end of etcd's log:\n%s\nthe end of kube-apiserver's log:\n%s", TailFile(cp.EtcdLog, 10), TailFile(cp.APIServerLog, 10))
		}
		if err := cp.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	ctx := t.Context()
	byConfig, err := NewClient(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	kcfg, err := clientcmd.BuildConfigFromFlags("", cp.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	byKubeconfig, err := NewClient(kcfg)
	if err != nil {
		t.Fatal(err)
	}
	const ns = "outage"
	if err := CreateAll(ctx, byConfig, Namespace(ns, nil), configMap(ns, "before"), Allocation(ns, "alloc", "sub", "12.34")); err != nil {
		t.Fatal(err)
	}
	var before corev1.ConfigMap
	if err := byConfig.Get(ctx, types.NamespacedName{Namespace: ns, Name: "before"}, &before); err != nil {
		t.Fatal(err)
	}

	// A watch, as the manager's informers and the chaos test's transfer
	// watch are.
	cache, err := ctrlcache.New(cp.Config, ctrlcache.Options{Scheme: NewScheme(), DefaultNamespaces: map[string]ctrlcache.Config{ns: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cache.GetInformer(ctx, &corev1.ConfigMap{}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cache.Start(ctx) }()
	if !cache.WaitForCacheSync(ctx) {
		t.Fatal("the watch did not sync")
	}

	etcdPid, err := cp.Pid(Etcd)
	if err != nil {
		t.Fatal(err)
	}

	// kube-apiserver.
	down := time.Now()
	oldAPI, err := cp.Kill(APIServer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Pid(APIServer); err == nil {
		t.Fatal("kube-apiserver still runs after Kill")
	}
	if err := getWithin(ctx, byConfig, ns, "before", 2*time.Second); err == nil {
		t.Fatal("a Get succeeded while kube-apiserver was dead")
	}
	restart := time.Now()
	newAPI, err := cp.Restart(APIServer)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver: SIGKILL pid %d; down %s, restarted as pid %d and ready in %s", oldAPI,
		restart.Sub(down).Round(time.Millisecond), newAPI, time.Since(restart).Round(time.Millisecond))
	if newAPI == oldAPI {
		t.Errorf("kube-apiserver has its old pid %d after the restart", oldAPI)
	}
	if pid, err := cp.Pid(Etcd); err != nil || pid != etcdPid {
		t.Errorf("etcd is pid %d (%v) after kube-apiserver's restart, was %d", pid, err, etcdPid)
	}
	expectObjects(ctx, t, "after kube-apiserver's restart", byConfig, byKubeconfig, ns, &before, "before")
	expectCreateSeen(ctx, t, byConfig, cache, ns, "after-apiserver")

	// etcd, with a write just before the kill.
	if err := byKubeconfig.Create(ctx, configMap(ns, "just-before-etcd")); err != nil {
		t.Fatal(err)
	}
	down = time.Now()
	oldEtcd, err := cp.Kill(Etcd)
	if err != nil {
		t.Fatal(err)
	}
	if err := getWithin(ctx, byConfig, ns, "just-before-etcd", 2*time.Second); err == nil {
		t.Log("a Get was answered while etcd was dead (kube-apiserver's watch cache)")
	}
	restart = time.Now()
	newEtcd, err := cp.Restart(Etcd)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("etcd: SIGKILL pid %d; down %s, restarted as pid %d and kube-apiserver ready in %s", oldEtcd,
		restart.Sub(down).Round(time.Millisecond), newEtcd, time.Since(restart).Round(time.Millisecond))
	if pid, err := cp.Pid(APIServer); err != nil || pid != newAPI {
		t.Errorf("kube-apiserver is pid %d (%v) after etcd's restart, was %d: it should have lived through etcd's outage", pid, err, newAPI)
	}
	expectObjects(ctx, t, "after etcd's restart", byConfig, byKubeconfig, ns, &before, "before", "after-apiserver", "just-before-etcd")
	expectCreateSeen(ctx, t, byKubeconfig, cache, ns, "after-etcd")

	if _, err := cp.Restart(Etcd); err == nil {
		t.Error("Restart started a second etcd")
	}
}

func configMap(ns, name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string]string{"name": name}}
}

// getWithin reads a ConfigMap, giving up after timeout.
func getWithin(ctx context.Context, c client.Client, ns, name string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &corev1.ConfigMap{})
}

// expectObjects checks, through both clients, that the ConfigMaps and the
// BudgetAllocation are there and that "before" is the object written
// before the kills (same UID and resourceVersion).
func expectObjects(ctx context.Context, t *testing.T, when string, byConfig, byKubeconfig client.Client, ns string, before *corev1.ConfigMap, names ...string) {
	t.Helper()
	for i, c := range []client.Client{byConfig, byKubeconfig} {
		via := [...]string{"the rest.Config's client", "the kubeconfig's client"}[i]
		for _, name := range names {
			var cm corev1.ConfigMap
			if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &cm); err != nil {
				t.Errorf("%s, %s: ConfigMap %s: %v", when, via, name, err)
				continue
			}
			if name == before.Name && (cm.UID != before.UID || cm.ResourceVersion != before.ResourceVersion) {
				t.Errorf("%s, %s: ConfigMap %s is uid %s rv %s, was uid %s rv %s", when, via, name, cm.UID, cm.ResourceVersion, before.UID, before.ResourceVersion)
			}
		}
		var ba budgetv1alpha1.BudgetAllocation
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "alloc"}, &ba); err != nil {
			t.Errorf("%s, %s: BudgetAllocation: %v", when, via, err)
		} else if ba.Spec.Amount == nil || *ba.Spec.Amount != "12.34" {
			t.Errorf("%s, %s: BudgetAllocation amount %v", when, via, ba.Spec.Amount)
		}
	}
}

// expectCreateSeen creates a ConfigMap and waits until the watch has it.
func expectCreateSeen(ctx context.Context, t *testing.T, c client.Client, cache ctrlcache.Cache, ns, name string) {
	t.Helper()
	if err := c.Create(ctx, configMap(ns, name)); err != nil {
		t.Fatalf("creating %s: %v", name, err)
	}
	start := time.Now()
	seen := func(ctx context.Context) (bool, error) {
		return cache.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &corev1.ConfigMap{}) == nil, nil
	}
	if err := testenv.Wait(ctx, time.Minute, 50*time.Millisecond, seen, nil); err != nil {
		t.Fatalf("the watch started before the kills never saw %s: %v", name, err)
	}
	t.Logf("the watch started before the kills saw %s %s after its create", name, time.Since(start).Round(time.Millisecond))
}

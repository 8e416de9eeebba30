package subaccount

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/server"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/accounts"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/enterpriseaccount"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

// The reconciler tests run one real kube-apiserver (envtest), one BSS
// simulator behind an httptest server, and one manager with the
// EnterpriseAccount controller and this one, all shared by the tests.
// Tests use unique object names and run one after another: they share the
// simulator's time and the SubAccount controller's fake clock.

const (
	opNS          = "bss-budget-system"
	credsSecret   = "bss-creds"
	masterName    = "sim-master"
	waitTimeout   = 30 * time.Second
	billingEvery  = time.Minute
	balancesEvery = 30 * time.Second
	// grantWindow is the controller's GrantRefreshWindow: much shorter than
	// balancesEvery, so that a grant refresh can be told from an interval
	// sync even though advance also moves the clock by the real time a test
	// has taken.
	grantWindow    = 2 * time.Second
	annotationPoke = "test.budget.bss.dev/poke"
)

var (
	k8sClient client.Client
	// restConfig reaches the envtest API server, for tests that watch.
	restConfig *rest.Config
	sim        *bsssim.Sim
	simURL     string
	// clock is the SubAccount controller's clock; advance moves it together
	// with the simulator's time.
	clock    *clocktesting.FakeClock
	recorder = &testenv.Events{}
	calls    = &callCounter{counts: map[string]int{}}
	// balanceReads counts the balance reads the simulator served, by
	// sub-account and kind.
	balanceReads = &balanceReadCounter{counts: map[string]balanceCounts{}}
	// statusWrites counts the SubAccount controller's writes by verb and
	// object name (statusWrites.Count("status "+name)).
	statusWrites = &testenv.Writes{Key: func(o client.Object, verb string) string { return verb + " " + o.GetName() }}
	// registry holds the master's BSS connection, which tests use to move
	// money as the BudgetAllocation controller would.
	registry *accounts.Registry
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "subaccount suite:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (code int, err error) {
	logOut := io.Discard
	if os.Getenv("TEST_LOGS") != "" {
		logOut = os.Stderr
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(logOut), zap.UseDevMode(true)))

	env, cfg, err := testenv.Start()
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, env.Stop()) }()

	// Keep the simulated time away from the end of a bill cycle, so that the
	// few hours the tests advance never cross into the next one.
	shift := time.Duration(0)
	if untilCycleEnd(time.Now()) < 6*time.Hour {
		shift = -12 * time.Hour
	}
	simNow := func() time.Time { return time.Now().Add(shift) }
	sim, err = bsssim.New(bsssim.DefaultStateAt(simNow()), bsssim.Options{
		Seed: 1, ThrottlePerSecond: -1, CreationDelay: 3 * time.Second, Now: simNow,
	})
	if err != nil {
		return 0, err
	}
	srv := httptest.NewServer(balanceReads.wrap(sim.Handler()))
	defer srv.Close()
	simURL = srv.URL
	clock = clocktesting.NewFakeClock(sim.Now())

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme.Scheme,
		Metrics:                server.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{MaxConcurrentReconciles: 4},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Namespaces: map[string]cache.Config{opNS: {}}},
		}},
	})
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := common.SetupIndexes(ctx, mgr.GetFieldIndexer()); err != nil {
		return 0, err
	}
	registry = accounts.NewRegistry(calls, nil)
	if err := (&enterpriseaccount.Reconciler{
		Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("enterpriseaccount-controller"), Registry: registry,
		Options: common.Options{Namespace: opNS},
	}).SetupWithManager(mgr); err != nil {
		return 0, err
	}
	recorder.Next = mgr.GetEventRecorder("subaccount-controller")
	if err := (&Reconciler{
		Client: statusWrites.Client(mgr.GetClient()), Recorder: recorder, Registry: registry,
		Options:            common.Options{Namespace: opNS, Clock: clock, BSSCallTimeout: 20 * time.Second},
		GrantRefreshWindow: grantWindow,
	}).SetupWithManager(mgr); err != nil {
		return 0, err
	}
	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		err = errors.Join(err, <-stopped)
	}()

	restConfig = cfg
	if k8sClient, err = client.New(cfg, client.Options{Scheme: scheme.Scheme}); err != nil {
		return 0, err
	}
	if err := k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: opNS}}); err != nil {
		return 0, err
	}
	if err := k8sClient.Create(ctx, credentials(credsSecret)); err != nil {
		return 0, err
	}
	if err := k8sClient.Create(ctx, enterpriseAccount(masterName, credsSecret)); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

// untilCycleEnd is the time left in t's bill cycle (calendar month, UTC+8).
func untilCycleEnd(t time.Time) time.Duration {
	b := t.In(time.FixedZone("UTC+8", 8*3600))
	next := time.Date(b.Year(), b.Month()+1, 1, 0, 0, 0, 0, b.Location())
	return next.Sub(t)
}

func credentials(name string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: opNS, Name: name},
		Data: map[string][]byte{
			common.KeyAccessKeyID:     []byte(bsssim.DefaultAccessKey),
			common.KeySecretAccessKey: []byte(bsssim.DefaultSecretKey),
			common.KeyDomainID:        []byte(bsssim.DefaultDomainID),
		},
	}
}

func enterpriseAccount(name, secret string) *budgetv1alpha1.EnterpriseAccount {
	return &budgetv1alpha1.EnterpriseAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: budgetv1alpha1.EnterpriseAccountSpec{
			Endpoint:             simURL,
			CredentialsSecretRef: budgetv1alpha1.SecretReference{Name: secret},
			BalanceSyncInterval:  &metav1.Duration{Duration: balancesEvery},
			BillingSyncInterval:  &metav1.Duration{Duration: billingEvery},
		},
	}
}

// advance moves the simulator's time and the controller's clock by d.
func advance(d time.Duration) {
	sim.Advance(d)
	clock.SetTime(sim.Now())
}

// expireBatches makes every per-master batch cached by the controller stale.
func expireBatches() { advance(2 * billingEvery) }

// eventually fails the test when check has not returned nil within
// waitTimeout; check's last error says what was seen.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	var last error
	testenv.Eventually(t, waitTimeout, what, func() bool {
		last = check()
		return last == nil
	}, func() string { return last.Error() })
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func getSubAccount(t *testing.T, name string) *budgetv1alpha1.SubAccount {
	t.Helper()
	var sa budgetv1alpha1.SubAccount
	must(t, k8sClient.Get(context.Background(), types.NamespacedName{Name: name}, &sa))
	return &sa
}

// createSubAccount creates a SubAccount and deletes it when the test ends:
// a customer is adopted by one SubAccount at a time, and tests adopt the
// simulator's default customers one after another.
func createSubAccount(t *testing.T, name string, spec budgetv1alpha1.SubAccountSpec) {
	t.Helper()
	if spec.EnterpriseAccountRef.Name == "" {
		spec.EnterpriseAccountRef.Name = masterName
	}
	must(t, k8sClient.Create(context.Background(), &budgetv1alpha1.SubAccount{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}))
	t.Cleanup(func() { deleteSubAccount(t, name) })
}

// deleteSubAccount deletes a SubAccount (if it still exists) and waits
// until it is gone.
func deleteSubAccount(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	sa := &budgetv1alpha1.SubAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8sClient.Delete(ctx, sa); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	eventually(t, "SubAccount "+name+" is gone", func() error {
		switch err := k8sClient.Get(ctx, types.NamespacedName{Name: name}, sa); {
		case err == nil:
			return errors.New("still there")
		case !apierrors.IsNotFound(err):
			return err
		}
		return nil
	})
}

func createSecret(t *testing.T, name string, data map[string]string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: opNS, Name: name}, StringData: data}
	must(t, k8sClient.Create(context.Background(), s))
}

// waitForReason waits until Ready has reason and, for Ready, until the
// status reflects the current generation; it returns the SubAccount.
func waitForReason(t *testing.T, name, reason string) *budgetv1alpha1.SubAccount {
	t.Helper()
	var sa *budgetv1alpha1.SubAccount
	eventually(t, fmt.Sprintf("SubAccount %s has Ready reason %s", name, reason), func() error {
		sa = getSubAccount(t, name)
		c := meta.FindStatusCondition(sa.Status.Conditions, budgetv1alpha1.ConditionReady)
		switch {
		case c == nil:
			return errors.New("no Ready condition")
		case c.Reason != reason:
			return fmt.Errorf("Ready is %s/%s: %s", c.Status, c.Reason, c.Message)
		case reason == budgetv1alpha1.ReasonReady && (sa.Status.ObservedGeneration != sa.Generation || c.ObservedGeneration != sa.Generation):
			return fmt.Errorf("observed generation %d, want %d", sa.Status.ObservedGeneration, sa.Generation)
		}
		return nil
	})
	return sa
}

// poke changes an annotation, which makes the controller reconcile the
// SubAccount without changing its spec.
func poke(t *testing.T, name string) {
	t.Helper()
	sa := getSubAccount(t, name)
	patch := client.MergeFrom(sa.DeepCopy())
	if sa.Annotations == nil {
		sa.Annotations = map[string]string{}
	}
	sa.Annotations[annotationPoke] = time.Now().Format(time.RFC3339Nano)
	must(t, k8sClient.Patch(context.Background(), sa, patch))
}

// resyncBilling expires the batches, pokes the SubAccount and waits for a
// billing sync at the new time.
func resyncBilling(t *testing.T, name string) *budgetv1alpha1.SubAccount {
	t.Helper()
	expireBatches()
	want := clock.Now().Truncate(time.Second)
	poke(t, name)
	var sa *budgetv1alpha1.SubAccount
	eventually(t, "a billing sync of "+name, func() error {
		sa = getSubAccount(t, name)
		if last := sa.Status.LastBillingSyncTime; last == nil || last.Time.Before(want) {
			return fmt.Errorf("last billing sync %v, want %s", last, want)
		}
		return nil
	})
	return sa
}

func condition(sa *budgetv1alpha1.SubAccount, condType string) *metav1.Condition {
	return meta.FindStatusCondition(sa.Status.Conditions, condType)
}

func gauge(t *testing.T, g *prometheus.GaugeVec, labels ...string) float64 {
	t.Helper()
	var m dto.Metric
	must(t, g.WithLabelValues(labels...).Write(&m))
	return m.GetGauge().GetValue()
}

// callCounter counts BSS calls by operation (a bss.Observer).
type callCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

// ObserveCall counts one HTTP attempt.
func (c *callCounter) ObserveCall(info bss.CallInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[info.Operation]++
}

func (c *callCounter) get(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[op]
}

// balanceCounts are the reads of one sub-account's reclaimable balances.
type balanceCounts struct{ cash, credit, coupons int }

func (c balanceCounts) minus(d balanceCounts) balanceCounts {
	return balanceCounts{cash: c.cash - d.cash, credit: c.credit - d.credit, coupons: c.coupons - d.coupons}
}

// balanceReadCounter counts the reclaimable-balance reads (every page) the
// simulator serves, by sub-account and kind; the bss.Observer sees neither
// the customer id nor the balance type.
type balanceReadCounter struct {
	mu     sync.Mutex
	counts map[string]balanceCounts
}

func (c *balanceReadCounter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			q := r.URL.Query()
			c.mu.Lock()
			n := c.counts[q.Get("sub_customer_id")]
			switch {
			case strings.HasSuffix(r.URL.Path, "/multi-accounts/retrieve-amount") && q.Get("balance_type") == bss.BalanceTypeCredit:
				n.credit++
			case strings.HasSuffix(r.URL.Path, "/multi-accounts/retrieve-amount"):
				n.cash++
			case strings.HasSuffix(r.URL.Path, "/multi-accounts/retrieve-coupons"):
				n.coupons++
			}
			c.counts[q.Get("sub_customer_id")] = n
			c.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// of returns the reads of one sub-account so far.
func (c *balanceReadCounter) of(customerID string) balanceCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[customerID]
}

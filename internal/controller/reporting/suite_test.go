package reporting

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/server"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/accounts"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/enterpriseaccount"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/subaccount"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

const (
	opNS          = "bss-budget-system"
	credsSecret   = "reports-creds"
	masterName    = "reports"
	waitTimeout   = 30 * time.Second
	billingEvery  = time.Minute
	balancesEvery = 30 * time.Second
)

var (
	k8sClient client.Client
	sim       *bsssim.Sim
	// clock is the controllers' clock; advance moves it with the
	// simulator's time.
	clock    *clocktesting.FakeClock
	recorder = &testenv.Events{}
	registry *accounts.Registry
	// ea is the EnterpriseAccount reconciler. It is not run by the
	// manager: a test reconciles the EnterpriseAccount when it wants its
	// sync (the manager's requeues run on real time, the clock does not).
	ea *enterpriseaccount.Reconciler

	beijing = time.FixedZone("UTC+8", 8*3600)
	// start is the simulated time the suite begins at: half an hour into
	// a bill cycle, so that a test sees every day of it.
	start = time.Date(2026, 12, 1, 0, 30, 0, 0, beijing).UTC()
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reporting suite:", err)
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

	sim, err = bsssim.New(bsssim.DefaultStateAt(start), bsssim.Options{
		Seed: 3, ThrottlePerSecond: -1, CreationDelay: -1, Now: func() time.Time { return start },
	})
	if err != nil {
		return 0, err
	}
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	clock = clocktesting.NewFakeClock(sim.Now())

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme.Scheme,
		Metrics:                server.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{MaxConcurrentReconciles: 2},
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
	registry = accounts.NewRegistry(nil, nil)
	opts := common.Options{Namespace: opNS, Clock: clock, BSSCallTimeout: 20 * time.Second}
	opts.Defaults()
	recorder.Next = mgr.GetEventRecorder("reporting-test")
	ea = &enterpriseaccount.Reconciler{Client: mgr.GetClient(), Recorder: recorder, Registry: registry, Options: opts}
	if err := (&subaccount.Reconciler{
		Client: mgr.GetClient(), Recorder: recorder, Registry: registry, Options: opts,
	}).SetupWithManager(mgr); err != nil {
		return 0, err
	}
	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		err = errors.Join(err, <-stopped)
	}()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return 0, errors.New("the cache did not sync")
	}
	if k8sClient, err = client.New(cfg, client.Options{Scheme: scheme.Scheme}); err != nil {
		return 0, err
	}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: opNS}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: credsSecret, Namespace: opNS}, StringData: map[string]string{
			common.KeyAccessKeyID: bsssim.DefaultAccessKey, common.KeySecretAccessKey: bsssim.DefaultSecretKey, common.KeyDomainID: bsssim.DefaultDomainID,
		}},
		&budgetv1alpha1.EnterpriseAccount{ObjectMeta: metav1.ObjectMeta{Name: masterName}, Spec: budgetv1alpha1.EnterpriseAccountSpec{
			Endpoint: srv.URL, CredentialsSecretRef: budgetv1alpha1.SecretReference{Name: credsSecret},
			BalanceSyncInterval: &metav1.Duration{Duration: balancesEvery}, BillingSyncInterval: &metav1.Duration{Duration: billingEvery},
		}},
	} {
		if err := k8sClient.Create(ctx, o); err != nil {
			return 0, err
		}
	}
	if err := testenv.Wait(ctx, waitTimeout, testenv.PollInterval, func(ctx context.Context) (bool, error) {
		m := getMaster(ctx)
		if m == nil || m.Generation == 0 {
			return false, nil
		}
		syncMasterCtx(ctx)
		m = getMaster(ctx)
		return m != nil && common.IsTrue(m.Status.Conditions, budgetv1alpha1.ConditionReady), nil
	}, nil); err != nil {
		return 0, fmt.Errorf("the EnterpriseAccount did not become Ready: %w", err)
	}
	return m.Run(), nil
}

// advance moves the simulator's time and the controllers' clock by d.
func advance(d time.Duration) {
	sim.Advance(d)
	clock.SetTime(sim.Now())
}

// advanceTo moves them to t (in the future).
func advanceTo(t time.Time) { advance(t.Sub(sim.Now())) }

func getMaster(ctx context.Context) *budgetv1alpha1.EnterpriseAccount {
	var m budgetv1alpha1.EnterpriseAccount
	if err := k8sClient.Get(ctx, types.NamespacedName{Name: masterName}, &m); err != nil {
		return nil
	}
	return &m
}

func syncMasterCtx(ctx context.Context) {
	_, _ = ea.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Name: masterName}})
}

// syncMaster reconciles the EnterpriseAccount once its cache shows the
// latest write, and returns it.
func syncMaster(t *testing.T) *budgetv1alpha1.EnterpriseAccount {
	t.Helper()
	ctx := context.Background()
	if _, err := ea.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Name: masterName}}); err != nil {
		t.Fatal(err)
	}
	return getMaster(ctx)
}

// syncMasterReports reconciles the EnterpriseAccount until it has read its
// reports at the clock's time (a reconcile racing a status write of the
// cache retries).
func syncMasterReports(t *testing.T) *budgetv1alpha1.EnterpriseAccount {
	t.Helper()
	want := clock.Now().Truncate(time.Second)
	var m *budgetv1alpha1.EnterpriseAccount
	eventually(t, "the EnterpriseAccount's reports at "+want.String(), func() error {
		m = syncMaster(t)
		if rt := m.Status.ReportsTime; rt == nil || rt.Time.Before(want) {
			return fmt.Errorf("reports read at %v: %+v", rt, m.Status.Conditions)
		}
		return nil
	})
	return m
}

func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	var last error
	testenv.Eventually(t, waitTimeout, what, func() bool {
		last = check()
		return last == nil
	}, func() string { return last.Error() })
}

func getSubAccount(t *testing.T, name string) *budgetv1alpha1.SubAccount {
	t.Helper()
	var sa budgetv1alpha1.SubAccount
	if err := k8sClient.Get(context.Background(), types.NamespacedName{Name: name}, &sa); err != nil {
		t.Fatal(err)
	}
	return &sa
}

// newTeam adds a sub-account spending rate yuan per simulated hour, with
// cash of its own, and a SubAccount adopting it; it waits until Ready.
func newTeam(t *testing.T, name string, rate string, spec func(*budgetv1alpha1.SubAccountSpec)) string {
	t.Helper()
	r := money.MustParse(rate)
	sub, err := sim.AddSubAccount(bsssim.SubAccount{Name: name, OrgID: "1234567890", Status: 1,
		PermissionIDs: []string{"READ_FINANCE_INFO", "READ_CONSUME_BILL"}, ConsumptionRate: &r})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.AddSubFunds(sub.ID, money.MustParse("50000.00")); err != nil {
		t.Fatal(err)
	}
	sa := &budgetv1alpha1.SubAccount{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: budgetv1alpha1.SubAccountSpec{
		EnterpriseAccountRef: budgetv1alpha1.LocalObjectReference{Name: masterName}, CustomerID: sub.ID,
	}}
	if spec != nil {
		spec(&sa.Spec)
	}
	if err := k8sClient.Create(context.Background(), sa); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SubAccount "+name+" Ready", func() error {
		got := getSubAccount(t, name)
		if !common.IsTrue(got.Status.Conditions, budgetv1alpha1.ConditionReady) {
			return fmt.Errorf("conditions %+v", got.Status.Conditions)
		}
		return nil
	})
	return sub.ID
}

// syncTeam has the SubAccount reconciled and waits for its billing sync
// at the clock's time.
func syncTeam(t *testing.T, name string) *budgetv1alpha1.SubAccount {
	t.Helper()
	want := clock.Now().Truncate(time.Second)
	sa := getSubAccount(t, name)
	patch := client.MergeFrom(sa.DeepCopy())
	if sa.Annotations == nil {
		sa.Annotations = map[string]string{}
	}
	sa.Annotations["test.budget.bss.dev/poke"] = time.Now().Format(time.RFC3339Nano)
	if err := k8sClient.Patch(context.Background(), sa, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a billing sync of "+name+" at "+want.String(), func() error {
		sa = getSubAccount(t, name)
		if last := sa.Status.LastBillingSyncTime; last == nil || last.Time.Before(want) {
			return fmt.Errorf("last billing sync %v", last)
		}
		return nil
	})
	return sa
}

func condition(conds []metav1.Condition, condType string) *metav1.Condition {
	return meta.FindStatusCondition(conds, condType)
}

package integration

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/accounts"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/setup"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

const (
	opNS      = "bss-budget-system"
	eaName    = "sim"
	credsName = "sim-credentials"
)

var (
	k8s     client.Client
	restCfg *rest.Config
	sim     *bsssim.Sim
	simURL  string
	scheme  = runtime.NewScheme()
	seq     atomic.Int64
	// stopManager stops the running manager; startManager starts a new one.
	stopManager func()
	// managerRegistry holds the running manager's BSS connections.
	managerRegistry *accounts.Registry
)

// testOptions are short enough for tests to observe backoffs and rechecks.
var testOptions = common.Options{
	Namespace:            opNS,
	TransferSafetyWindow: 24 * time.Hour,
	TransferRetryBase:    300 * time.Millisecond,
	TransferRetryMax:     2 * time.Second,
	SubmitRetryBase:      100 * time.Millisecond,
	FundsRecheckInterval: 500 * time.Millisecond,
	BSSCallTimeout:       20 * time.Second,
}

// absenceWindow is how long a test watches for something that must not
// happen: longer than the longest requeue testOptions schedule (a transfer
// retry backs off to TransferRetryMax; funds are rechecked every
// FundsRecheckInterval), so a reconcile the last change scheduled runs
// inside it.
var absenceWindow = testOptions.TransferRetryMax + time.Second

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.Level(zapLevel())))
	env, cfg, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	restCfg = cfg
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		panic(err)
	}
	if err := budgetv1alpha1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		panic(err)
	}

	sim, err = bsssim.New(bsssim.DefaultState(), bsssim.Options{Seed: 7, CreationDelay: -1})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	simURL = srv.URL

	stopManager = startManager(testOptions)
	defer func() { stopManager() }()

	ctx := context.Background()
	must(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: opNS}}))
	must(k8s.Create(ctx, credentialsSecret(credsName, bsssim.DefaultSecretKey)))
	must(k8s.Create(ctx, enterpriseAccount(eaName, credsName, nil)))
	if err := testenv.Wait(ctx, 60*time.Second, testenv.PollInterval, func(context.Context) (bool, error) {
		var ea budgetv1alpha1.EnterpriseAccount
		if err := k8s.Get(ctx, types.NamespacedName{Name: eaName}, &ea); err != nil {
			return false, err
		}
		return common.IsTrue(ea.Status.Conditions, budgetv1alpha1.ConditionReady), nil
	}, nil); err != nil {
		fmt.Fprintln(os.Stderr, "EnterpriseAccount never became Ready:", err)
		return 1
	}
	return m.Run()
}

func zapLevel() zapcore.Level {
	if os.Getenv("TEST_VERBOSE_LOGS") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}

// startManager starts a manager with every controller and returns its stop
// function, which waits until it has stopped.
func startManager(opts common.Options) func() {
	stop, registry := startManagerOn(restCfg, opts)
	managerRegistry = registry
	return stop
}

// startManagerOn starts a manager with every controller on the API server
// of cfg and returns its stop function and its BSS connections.
func startManagerOn(cfg *rest.Config, opts common.Options) (func(), *accounts.Registry) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme,
		NewClient: func(config *rest.Config, options client.Options) (client.Client, error) {
			c, err := client.NewWithWatch(config, options)
			if err != nil {
				return nil, err
			}
			return managerWrites.Client(managerReconciles.client(faultyClient(c))), nil
		},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true), MaxConcurrentReconciles: 4},
		Cache:                  setup.CacheOptions(opNS),
		Client:                 setup.ClientOptions(),
	})
	if err != nil {
		panic(err)
	}
	registry, err := setup.ControllersWithRegistry(mgr, opts, func(c *bss.Config) {
		c.ReadRetry = bss.RetryPolicy{MaxAttempts: 3, BaseDelay: 50 * time.Millisecond, MaxDelay: 500 * time.Millisecond, ThrottleDelay: 200 * time.Millisecond}
		c.RequestsPerSecond = 50
		c.Burst = 10
		c.Timeout = 5 * time.Second
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	return func() { cancel(); <-done }, registry
}

func must(err error) {
	if err != nil && !apierrors.IsAlreadyExists(err) {
		panic(err)
	}
}

func credentialsSecret(name, sk string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: opNS},
		StringData: map[string]string{
			common.KeyAccessKeyID: bsssim.DefaultAccessKey, common.KeySecretAccessKey: sk, common.KeyDomainID: bsssim.DefaultDomainID,
		},
	}
}

func enterpriseAccount(name, secret string, approval *budgetv1alpha1.Money) *budgetv1alpha1.EnterpriseAccount {
	ea := localenv.EnterpriseAccount(name, simURL, secret)
	if approval != nil {
		ea.Spec.Approval = &budgetv1alpha1.Approval{AutoApproveUpTo: approval}
	}
	return ea
}

// team is a namespace, a simulated sub-account and its SubAccount.
type team struct {
	ns         string
	customerID string
	sa         string
	ea         string
}

type teamOption func(*budgetv1alpha1.SubAccount)

func withFundingLimit(m string) teamOption {
	return func(sa *budgetv1alpha1.SubAccount) {
		v := budgetv1alpha1.Money(m)
		sa.Spec.FundingLimit = &v
	}
}

func withSelector(labels map[string]string) teamOption {
	return func(sa *budgetv1alpha1.SubAccount) {
		sa.Spec.AllowedNamespaces = &budgetv1alpha1.AllowedNamespaces{Selector: &metav1.LabelSelector{MatchLabels: labels}}
	}
}

func withEnterprise(name string) teamOption {
	return func(sa *budgetv1alpha1.SubAccount) { sa.Spec.EnterpriseAccountRef.Name = name }
}

// newTeam creates an empty sub-account in the simulator, a namespace and a
// SubAccount admitting it, and waits until the SubAccount is Ready.
func newTeam(t *testing.T, opts ...teamOption) *team {
	t.Helper()
	n := seq.Add(1)
	name := fmt.Sprintf("%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), n)
	if len(name) > 40 {
		name = fmt.Sprintf("t%d-%s", n, name[len(name)-30:])
		name = strings.Trim(name, "-_")
	}
	name = strings.ReplaceAll(name, "_", "-")
	zero := money.Zero
	sub, err := sim.AddSubAccount(bsssim.SubAccount{Name: name, OrgID: "1234567890", Status: 1, PermissionIDs: []string{"READ_FINANCE_INFO", "READ_CONSUME_BILL"}, ConsumptionRate: &zero})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	sa := localenv.SubAccount(name, eaName, sub.ID, name)
	for _, o := range opts {
		o(sa)
	}
	if err := k8s.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	tm := &team{ns: name, customerID: sub.ID, sa: name, ea: sa.Spec.EnterpriseAccountRef.Name}
	if sa.Spec.EnterpriseAccountRef.Name == eaName {
		testenv.Eventually(t, 30*time.Second, "SubAccount Ready", func() bool {
			var got budgetv1alpha1.SubAccount
			return k8s.Get(ctx, types.NamespacedName{Name: name}, &got) == nil && common.IsTrue(got.Status.Conditions, budgetv1alpha1.ConditionReady)
		}, func() string { return tm.saConditions() })
	}
	return tm
}

func (tm *team) saConditions() string {
	var got budgetv1alpha1.SubAccount
	_ = k8s.Get(context.Background(), types.NamespacedName{Name: tm.sa}, &got)
	return fmt.Sprintf("%+v", got.Status.Conditions)
}

// allocation builds a BudgetAllocation of the team.
func (tm *team) allocation(name, amount string, mutate ...func(*budgetv1alpha1.BudgetAllocation)) *budgetv1alpha1.BudgetAllocation {
	ba := &budgetv1alpha1.BudgetAllocation{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: tm.ns},
		Spec:       budgetv1alpha1.BudgetAllocationSpec{SubAccountRef: budgetv1alpha1.LocalObjectReference{Name: tm.sa}},
	}
	if amount != "" {
		a := budgetv1alpha1.Money(amount)
		ba.Spec.Amount = &a
	}
	for _, m := range mutate {
		m(ba)
	}
	return ba
}

func (tm *team) create(t *testing.T, ba *budgetv1alpha1.BudgetAllocation) {
	t.Helper()
	if err := k8s.Create(context.Background(), ba); err != nil {
		t.Fatal(err)
	}
}

func (tm *team) get(t *testing.T, name string) *budgetv1alpha1.BudgetAllocation {
	t.Helper()
	var ba budgetv1alpha1.BudgetAllocation
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: tm.ns, Name: name}, &ba); err != nil {
		t.Fatal(err)
	}
	return &ba
}

// update changes an allocation's spec, retrying on conflicts.
func (tm *team) update(t *testing.T, name string, mutate func(*budgetv1alpha1.BudgetAllocation)) {
	t.Helper()
	if err := testenv.Wait(context.Background(), 10*time.Second, testenv.PollInterval, func(context.Context) (bool, error) {
		ba := tm.get(t, name)
		mutate(ba)
		err := k8s.Update(context.Background(), ba)
		return err == nil, err
	}, nil); err != nil {
		t.Fatal(err)
	}
}

func (tm *team) describe(name string) func() string {
	return func() string {
		var ba budgetv1alpha1.BudgetAllocation
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: tm.ns, Name: name}, &ba); err != nil {
			return err.Error()
		}
		var bts budgetv1alpha1.BudgetTransferList
		_ = k8s.List(context.Background(), &bts, client.InNamespace(tm.ns))
		var parts []string
		for _, bt := range bts.Items {
			parts = append(parts, fmt.Sprintf("%s %s %s %s %s", bt.Name, bt.Spec.Operation, bt.Spec.Amount, bt.Status.Phase, bt.Status.ErrorCode))
		}
		return fmt.Sprintf("granted=%s pending=%s desired=%s conditions=%+v transfers=%v ledger=%s",
			ba.Status.Granted, ba.Status.Pending, ba.Status.Desired, ba.Status.Conditions, parts, tm.net())
	}
}

// waitReady waits until the allocation is Ready with the given grant.
func (tm *team) waitReady(t *testing.T, name, granted string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, name+" Ready with "+granted, func() bool {
		ba := tm.get(t, name)
		return common.IsTrue(ba.Status.Conditions, budgetv1alpha1.ConditionReady) && string(ba.Status.Granted) == granted &&
			ba.Status.ObservedGeneration == ba.Generation
	}, tm.describe(name))
}

// waitReason waits until the allocation's Ready reason is reason.
func (tm *team) waitReason(t *testing.T, name, reason string) *budgetv1alpha1.BudgetAllocation {
	t.Helper()
	var ba *budgetv1alpha1.BudgetAllocation
	testenv.Eventually(t, 30*time.Second, name+" reason "+reason, func() bool {
		ba = tm.get(t, name)
		return common.ReadyReason(ba.Status.Conditions, budgetv1alpha1.ConditionReady) == reason
	}, tm.describe(name))
	return ba
}

// net is the simulator's ledger for the team's sub-account: cash and credit
// transferred minus reclaimed.
func (tm *team) net() money.Amount {
	var n money.Amount
	for _, e := range sim.Ledger() {
		if e.CustomerID != tm.customerID {
			continue
		}
		switch e.Operation {
		case bsssim.OpTransferAmount:
			n = n.Add(e.Amount)
		case bsssim.OpRetrieveAmount:
			n = n.Sub(e.Amount)
		}
	}
	return n
}

// expectLedger asserts the simulator moved exactly want for the team, that
// no trans_id was applied twice and that money is conserved.
func (tm *team) expectLedger(t *testing.T, want string) {
	t.Helper()
	if got := tm.net(); got != money.MustParse(want) {
		t.Errorf("simulator ledger for %s: net %s, want %s", tm.customerID, got, want)
	}
	if err := sim.CheckLedger(); err != nil {
		t.Errorf("ledger: %v", err)
	}
	if err := sim.CheckConservation(); err != nil {
		t.Errorf("conservation: %v", err)
	}
}

// transfers lists the team's BudgetTransfers.
func (tm *team) transfers(t *testing.T) []budgetv1alpha1.BudgetTransfer {
	t.Helper()
	var list budgetv1alpha1.BudgetTransferList
	if err := k8s.List(context.Background(), &list, client.InNamespace(tm.ns)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func objKey(o client.Object) client.ObjectKey { return client.ObjectKeyFromObject(o) }

// declareBehaviour declares on the shared EnterpriseAccount what is known
// of the simulator's BSS behaviour, until the test ends, and waits until
// the operator has seen it.
func declareBehaviour(t *testing.T, b *budgetv1alpha1.BSSBehaviour) {
	t.Helper()
	set := func(b *budgetv1alpha1.BSSBehaviour) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var ea budgetv1alpha1.EnterpriseAccount
			if err := k8s.Get(context.Background(), types.NamespacedName{Name: eaName}, &ea); err != nil {
				return err
			}
			ea.Spec.BSSBehaviour = b
			return k8s.Update(context.Background(), &ea)
		})
	}
	reconciled := func() {
		var ea budgetv1alpha1.EnterpriseAccount
		testenv.Eventually(t, 30*time.Second, "EnterpriseAccount reconciled", func() bool {
			return k8s.Get(context.Background(), types.NamespacedName{Name: eaName}, &ea) == nil && ea.Status.ObservedGeneration == ea.Generation &&
				common.IsTrue(ea.Status.Conditions, budgetv1alpha1.ConditionReady)
		}, func() string {
			return fmt.Sprintf("generation %d, observed %d", ea.Generation, ea.Status.ObservedGeneration)
		})
	}
	if err := set(b); err != nil {
		t.Fatal(err)
	}
	// Cleanups run after the test's defers (which restart the manager):
	// the next test starts with the EnterpriseAccount reconciled.
	t.Cleanup(func() {
		if err := set(nil); err != nil {
			t.Errorf("restoring the EnterpriseAccount's behaviour: %v", err)
			return
		}
		reconciled()
	})
	reconciled()
}

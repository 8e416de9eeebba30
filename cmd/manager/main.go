// Command manager runs the bss-budget-operator controllers.
package main

import (
	"crypto/tls"
	"flag"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/setup"
	"github.com/bss-budget-operator/bss-budget-operator/internal/memlimit"
	"github.com/bss-budget-operator/bss-budget-operator/internal/metrics"
)

func main() {
	var (
		metricsAddr, probeAddr, pprofAddr, namespace, leaderElectionID string
		secureMetrics, enableHTTP2, leaderElect                        bool
		opts                                                           common.Options
		maxConcurrent, apiBurst                                        int
		apiQPS                                                         float64
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8443", "Address of the metrics endpoint (\"0\" disables it).")
	flag.BoolVar(&secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with authentication and authorization; false serves plain HTTP (for local use only).")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz probes (\"0\" disables them).")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so that only one replica reconciles at a time.")
	flag.StringVar(&leaderElectionID, "leader-election-id", "bss-budget-operator.budget.bss.dev", "Name of the leader election Lease.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false, "Serve metrics over HTTP/2 (off by default: HTTP/2 Rapid Reset and Stream Cancellation CVEs).")
	flag.StringVar(&namespace, "operator-namespace", envOr("POD_NAMESPACE", "bss-budget-system"), "The operator's namespace: credentials Secrets are read only here, and the leader Lease lives here. Defaults to $POD_NAMESPACE.")
	flag.DurationVar(&opts.TransferSafetyWindow, "transfer-safety-window", 24*time.Hour, "How long a transfer with no definite answer is resent before it is left for an administrator (OutcomeUnknown).")
	flag.DurationVar(&opts.TransferRetryBase, "transfer-retry-base", time.Minute, "Backoff after the first failed transfer of an allocation; doubles per failure.")
	flag.DurationVar(&opts.TransferRetryMax, "transfer-retry-max", time.Hour, "Longest backoff between failed transfers.")
	flag.DurationVar(&opts.SubmitRetryBase, "submit-retry-base", 2*time.Second, "First delay before resending a transfer whose outcome was unclear; doubles per attempt up to 5m.")
	flag.IntVar(&opts.MaxFailedTransfers, "max-failed-transfers", 5, "Failed BudgetTransfers kept per allocation; older ones are deleted.")
	flag.DurationVar(&opts.FundsRecheckInterval, "funds-recheck-interval", time.Minute, "How often an allocation blocked on InsufficientFunds, FundingLimitExceeded or CouponUnavailable looks again.")
	flag.DurationVar(&opts.BSSCallTimeout, "bss-timeout", 2*time.Minute, "Upper bound of the BSS calls of one reconcile.")
	flag.DurationVar(&opts.PaymentSettleWindow, "payment-settle-window", 2*time.Minute, "How long after a pay call without a definite answer an order must still read pending before the OrderPayment sends the call again.")
	flag.DurationVar(&opts.TransferRetention, "transfer-retention", common.DefaultTransferRetention, "How long settled BudgetTransfers are kept: a bill cycle's are written to the audit trail (LedgerRecords) and deleted together once the cycle is over and its newest is older than this. 0 compacts each at once.")
	flag.IntVar(&maxConcurrent, "max-concurrent-reconciles", 4, "Workers per controller.")
	flag.Float64Var(&apiQPS, "kube-api-qps", 50, "Client-side limit of requests per second to the Kubernetes API, for each resource kind (each has its own client). Reads come from the cache, so this bounds writes: at BSS's 10 transfers per second, BudgetTransfers take 30 writes per second and BudgetAllocations 20.")
	flag.IntVar(&apiBurst, "kube-api-burst", 100, "Burst of requests to the Kubernetes API above --kube-api-qps, for each resource kind.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "Serve net/http/pprof on this address (e.g. 127.0.0.1:8082); empty disables it. For profiling only: it is unauthenticated.")
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if opts.TransferRetention == 0 {
		opts.TransferRetention = -1
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")
	opts.Namespace = namespace
	if soft, err := memlimit.Set(); err != nil {
		log.Error(err, "reading the cgroup memory limit; no soft memory limit set")
	} else if soft > 0 {
		log.Info("soft memory limit set below the container's limit", "bytes", soft, "fraction", memlimit.Fraction)
	}

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(budgetv1alpha1.AddToScheme(scheme))

	var tlsOpts []func(*tls.Config)
	if !enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{BindAddress: metricsAddr, SecureServing: secureMetrics, TLSOpts: tlsOpts}
	if secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	metrics.Register(ctrlmetrics.Registry)

	restConfig := ctrl.GetConfigOrDie()
	restConfig.QPS, restConfig.Burst = float32(apiQPS), apiBurst
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                        scheme,
		PprofBindAddress:              pprofAddr,
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        probeAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              leaderElectionID,
		LeaderElectionNamespace:       namespace,
		LeaderElectionReleaseOnCancel: true,
		Controller:                    config.Controller{MaxConcurrentReconciles: maxConcurrent},
		Cache:                         setup.CacheOptions(namespace),
		Client:                        setup.ClientOptions(),
	})
	if err != nil {
		log.Error(err, "unable to create the manager")
		os.Exit(1)
	}
	if err := setup.Controllers(mgr, opts); err != nil {
		log.Error(err, "unable to set up the controllers")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "unable to set up the health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "unable to set up the ready check")
		os.Exit(1)
	}
	log.Info("starting the manager", "namespace", namespace, "leaderElection", leaderElect)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "the manager stopped with an error")
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

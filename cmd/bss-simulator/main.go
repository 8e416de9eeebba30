// Command bss-simulator serves an in-memory Huawei Cloud BSS API for local
// runs, demos and end-to-end tests of the budget operator. See package
// internal/bsssim for the behaviour and the /_sim/ admin API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

const usageHeader = `bss-simulator serves a faithful in-memory Huawei Cloud BSS API (enterprise
multi-account transfers, coupons, orders, bills, balances) with AK/SK
signature checks, throttling, consumption and fault injection.

Without --state it starts from the built-in seed:
  master domain id %s
  access key       %s
  secret key       %s
with 100000.00 cash, credit ledgers of 50000.00 (expiring) and 20000.00
(permanent), a bonus and a deposit balance, three coupons, three resource
packages, sub-accounts team-a, team-b and team-c, bills and the daily cost
history behind them.

Cost data (ListCosts, the monthly breakdown) lags --cost-lag-days behind
simulated time; ListCosts wants a query over all of a master's sub-accounts
narrowed to one account (CBC.18000048) when it has more finance-independent
sub-accounts than --finance-independent-limit. POST /_sim/cost-center changes
both per master and switches the Cost Center off (CBC.18000014).

Where Huawei does not document BSS, --refused-trans-ids, --trans-id-retention,
--transfer-records and --reclaimable choose what the simulator does; the
defaults are its long-standing behaviour. POST /_sim/behaviour changes them
at run time.

The unsigned admin API under /_sim/ (state, faults, behaviour, advance,
orders, reset, funds, subaccounts, consumption, check, coupons, orgs,
cost-center, packages, balances) answers loopback clients only.

Usage:
  bss-simulator [flags]

Flags:
`

// config holds the parsed command line.
type config struct {
	listen          string
	statePath       string
	persist         bool
	credentials     string
	throttle        float64
	seed            int64
	consumptionRate string
	creationDelay   time.Duration
	maxSkew         time.Duration
	logLevel        string
	faults          bsssim.Faults
	latency         time.Duration
	jitter          time.Duration
	storm           time.Duration
	behaviour       bsssim.Behaviour
	retention       time.Duration
	costLagDays     int
	fiLimit         int
}

func parseFlags(args []string, out io.Writer) (*config, error) {
	fs := flag.NewFlagSet("bss-simulator", flag.ContinueOnError)
	fs.SetOutput(out)
	c := &config{}
	fs.StringVar(&c.listen, "listen", bsssim.DefaultListenAddr, "`address` to serve the BSS API and /_sim/ on")
	fs.StringVar(&c.statePath, "state", "", "state `file` (YAML or JSON) to load; with --persist it is created from the built-in seed when missing")
	fs.BoolVar(&c.persist, "persist", false, "write the state to the --state file atomically after every change and at exit, so a restart keeps all money")
	fs.StringVar(&c.credentials, "credentials", "", "override the first master's credentials, as `AK:SK:DOMAIN` (DOMAIN may be empty to keep the domain id)")
	fs.Float64Var(&c.throttle, "throttle", bsssim.DefaultThrottlePerSecond, "requests per second allowed per API and per account (token bucket, burst = rate); 0 disables throttling")
	fs.Int64Var(&c.seed, "seed", 1, "seed for generated ids, SMS codes, request ids and fault draws")
	fs.StringVar(&c.consumptionRate, "consumption-rate", "1.00", "default spend of each sub-account in `yuan` per simulated hour; 0 disables consumption")
	fs.DurationVar(&c.creationDelay, "creation-delay", bsssim.DefaultCreationDelay, "simulated time a created sub-account stays in status 2 (being created)")
	fs.DurationVar(&c.maxSkew, "max-skew", 15*time.Minute, "largest accepted difference between X-Sdk-Date and the server clock")
	fs.StringVar(&c.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.DurationVar(&c.latency, "latency", 0, "fault: delay added to every API request")
	fs.DurationVar(&c.jitter, "latency-jitter", 0, "fault: extra random delay in [0, jitter) per API request")
	fs.Float64Var(&c.faults.ErrorRate, "error-rate", 0, "fault: probability (0-1) that an API request fails with 500 CBC.0999 before anything is applied")
	fs.Float64Var(&c.faults.LostResponseRate, "lost-response-rate", 0, "fault: probability (0-1) that a money write is applied but its response is lost (connection closed or 500 CBC.0999)")
	fs.DurationVar(&c.storm, "storm-duration", 0, "fault: throttling storm length, starting at startup")
	fs.Float64Var(&c.faults.StormRate, "storm-rate", 0, "fault: per-API rate during the storm; 0 rejects every request with 429 APIG.0308")
	fs.StringVar(&c.behaviour.RefusedTransIDs, "refused-trans-ids", bsssim.RefusedReusable,
		"behaviour: the `mode` of a trans_id refused with a terminal business code (such as CBC.99005003): reusable (a resend is processed again) or burned (a resend answers CBC.99007009 although nothing moved)")
	fs.DurationVar(&c.retention, "trans-id-retention", 0,
		"behaviour: how long, in simulated time, a trans_id is remembered after BSS first applied or burned it; a resend after it moves the money again; 0 means forever")
	fs.StringVar(&c.behaviour.TransferRecords, "transfer-records", bsssim.RecordsTransID,
		"behaviour: the `mode` of the master's income/expense records of its transfers and reclaims: trans-id (one each, trade_id = trans_id), own-id (one each, a trade_id of BSS's own) or none")
	fs.StringVar(&c.behaviour.Reclaimable, "reclaimable", bsssim.ReclaimableFunded,
		"behaviour: the `mode` of a sub-account's reclaimable cash: funded (what the master gave it less what was spent of it) or total (its whole cash, its own top-ups included, which a reclaim takes last)")
	fs.IntVar(&c.costLagDays, "cost-lag-days", bsssim.DefaultCostLagDays,
		"`days` the cost data lags behind simulated time: a UTC+8 day's costs show that many days after it; 0 shows today's as they accrue")
	fs.IntVar(&c.fiLimit, "finance-independent-limit", bsssim.DefaultFinanceIndependentLimit,
		"finance-independent sub-accounts a master may have before ListCosts answers CBC.18000048 to a query not narrowed to one account")
	fs.Usage = func() {
		if _, err := fmt.Fprintf(fs.Output(), usageHeader, bsssim.DefaultDomainID, bsssim.DefaultAccessKey, bsssim.DefaultSecretKey); err != nil {
			return
		}
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	c.faults.Latency = bsssim.Duration(c.latency)
	c.faults.LatencyJitter = bsssim.Duration(c.jitter)
	c.faults.StormDuration = bsssim.Duration(c.storm)
	if c.persist && c.statePath == "" {
		return nil, errors.New("--persist needs --state FILE")
	}
	if c.throttle < 0 {
		return nil, errors.New("--throttle must not be negative")
	}
	if c.retention < 0 {
		return nil, errors.New("--trans-id-retention must not be negative")
	}
	if c.costLagDays < 0 || c.fiLimit < 0 {
		return nil, errors.New("--cost-lag-days and --finance-independent-limit must not be negative")
	}
	c.behaviour.TransIDRetention = bsssim.Duration(c.retention)
	if err := c.behaviour.Validate(); err != nil {
		return nil, fmt.Errorf("behaviour flags: %w", err)
	}
	return c, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level: %w", err)
	}
	return l, nil
}

// parseCredentials splits AK:SK:DOMAIN; the secret key may contain ':'.
func parseCredentials(s string) (ak, sk, domain string, err error) {
	first := strings.Index(s, ":")
	if first <= 0 {
		return "", "", "", errors.New("--credentials must be AK:SK:DOMAIN")
	}
	ak, rest := s[:first], s[first+1:]
	if last := strings.LastIndex(rest, ":"); last >= 0 {
		sk, domain = rest[:last], rest[last+1:]
	} else {
		sk = rest
	}
	if sk == "" {
		return "", "", "", errors.New("--credentials: the secret key is empty")
	}
	return ak, sk, domain, nil
}

func loadState(c *config, log *slog.Logger) (*bsssim.State, error) {
	if c.statePath == "" {
		return bsssim.DefaultState(), nil
	}
	st, err := bsssim.LoadState(c.statePath)
	if err == nil {
		log.Info("state loaded", "path", c.statePath)
		return st, nil
	}
	if c.persist && errors.Is(err, os.ErrNotExist) {
		log.Info("state file does not exist yet; starting from the built-in seed", "path", c.statePath)
		return bsssim.DefaultState(), nil
	}
	return nil, err
}

func run(args []string, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	level, err := parseLevel(c.logLevel)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	rate, err := money.Parse(c.consumptionRate)
	if err != nil {
		return fmt.Errorf("--consumption-rate: %w", err)
	}
	st, err := loadState(c, log)
	if err != nil {
		return err
	}
	if c.credentials != "" {
		ak, sk, domain, err := parseCredentials(c.credentials)
		if err != nil {
			return err
		}
		if err := st.SetCredentials(ak, sk, domain); err != nil {
			return fmt.Errorf("--credentials: %w", err)
		}
	}
	opts := bsssim.Options{
		Seed: c.seed, ThrottlePerSecond: c.throttle, Faults: c.faults, Behaviour: c.behaviour, MaxSkew: c.maxSkew,
		CreationDelay: c.creationDelay, ConsumptionRate: rate, Logger: log,
	}
	if c.throttle == 0 {
		opts.ThrottlePerSecond = -1
	}
	if c.creationDelay == 0 {
		opts.CreationDelay = -1
	}
	opts.CostLagDays, opts.FinanceIndependentLimit = c.costLagDays, c.fiLimit
	if c.costLagDays == 0 {
		opts.CostLagDays = -1
	}
	if c.fiLimit == 0 {
		opts.FinanceIndependentLimit = -1
	}
	if c.persist {
		opts.PersistPath = c.statePath
	}
	sim, err := bsssim.New(st, opts)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", c.listen)
	if err != nil {
		return errors.Join(err, sim.Close())
	}
	if len(st.Masters) > 0 {
		m := st.Masters[0]
		log.Info("bss-simulator listening", "addr", ln.Addr().String(), "domain_id", m.DomainID, "access_key", m.AccessKey,
			"throttle", c.throttle, "consumption_rate", rate.String(), "persist", opts.PersistPath, "behaviour", c.behaviour.String())
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err = <-serveErr:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	case <-ctx.Done():
		log.Info("shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = srv.Shutdown(shutdownCtx)
		cancel()
	}
	if cerr := sim.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	} else if opts.PersistPath != "" {
		log.Info("state written", "path", opts.PersistPath)
	}
	return err
}

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "bss-simulator:", err)
		os.Exit(1)
	}
}

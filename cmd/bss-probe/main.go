// Command bss-probe checks a Huawei Cloud BSS master account before the
// budget operator uses it: every read the operator makes (permissions,
// decoding), the endpoint, the clock skew, and — with --move-money — the
// four BSS behaviours Huawei does not document, answered with 0.01-yuan
// transfers and reclaims that it returns afterwards. It prints a report and
// the EnterpriseAccount spec.bssBehaviour it recommends. See
// docs/operations.md, "Probing a new master account".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
	"github.com/bss-budget-operator/bss-budget-operator/internal/probe"
)

// DefaultEndpoint is BSS on the Chinese mainland site.
const DefaultEndpoint = "https://bss.myhuaweicloud.com"

const usageHeader = `bss-probe checks a BSS master account for the budget operator and prints a
report with the EnterpriseAccount spec.bssBehaviour it recommends.

Read-only (the default) calls every read operation once and makes no write:
permissions (a refusal names the IAM action to grant), decoding, the
endpoint reached and the clock skew. With --move-money and
--sub-customer-id it also moves 0.01 yuan at a time between the master and
the test sub-account to answer what Huawei does not document, waits
--retention-window, and returns every cent at the end (also after Ctrl-C).

Credentials come from the environment (or the flags below, which would show
in the process list): BSS_ACCESS_KEY, BSS_SECRET_KEY, BSS_DOMAIN_ID,
BSS_SECURITY_TOKEN for the master, BSS_SUB_ACCESS_KEY, BSS_SUB_SECRET_KEY,
BSS_SUB_DOMAIN_ID for the test sub-account's own keys (optional; they answer
whether reclaimable cash includes the sub-account's own money). Secrets are
never printed.

Exit status: 0 all reads succeeded and every moved cent was returned; 1
something failed (a read, the clock, the settlement; the report says what)
or the run was interrupted;
2 a wrong command line.

Usage:
  bss-probe [flags]

Flags:
`

// config is the parsed command line.
type config struct {
	endpoint        string
	master, sub     sign.Credentials
	domainID        string
	subDomainID     string
	subCustomerID   string
	moveMoney       bool
	retentionWindow time.Duration
	retentionChecks int
	output          string
	timeout         time.Duration
}

func parseFlags(args []string, getenv func(string) string, out io.Writer) (*config, error) {
	fs := flag.NewFlagSet("bss-probe", flag.ContinueOnError)
	fs.SetOutput(out)
	c := &config{}
	fs.StringVar(&c.endpoint, "endpoint", DefaultEndpoint, "BSS `URL` (env BSS_ENDPOINT)")
	fs.StringVar(&c.master.AccessKey, "access-key", "", "the master's access key (env BSS_ACCESS_KEY)")
	fs.StringVar(&c.master.SecretKey, "secret-key", "", "the master's secret key; prefer env BSS_SECRET_KEY")
	fs.StringVar(&c.domainID, "domain-id", "", "the master's domain id, sent as X-Domain-Id (env BSS_DOMAIN_ID)")
	fs.StringVar(&c.subCustomerID, "sub-customer-id", "", "the test sub-account's customer `id` (its reads; needed by --move-money)")
	fs.StringVar(&c.sub.AccessKey, "sub-access-key", "", "the test sub-account's own access key (env BSS_SUB_ACCESS_KEY)")
	fs.StringVar(&c.sub.SecretKey, "sub-secret-key", "", "the test sub-account's own secret key; prefer env BSS_SUB_SECRET_KEY")
	fs.StringVar(&c.subDomainID, "sub-domain-id", "", "the test sub-account's domain id, sent as X-Domain-Id with its keys (env BSS_SUB_DOMAIN_ID; optional)")
	fs.BoolVar(&c.moveMoney, "move-money", false, "move 0.01 yuan at a time between the master and the test sub-account to answer the behaviour questions, and return it all")
	fs.DurationVar(&c.retentionWindow, "retention-window", probe.DefaultRetentionWindow, "how long to watch trans_ids for the retention question (the run lasts about this long)")
	fs.IntVar(&c.retentionChecks, "retention-checks", probe.DefaultRetentionChecks, "how many trans_ids the retention question follows, each resent once at its own age (each costs a 0.01 transfer, returned)")
	fs.StringVar(&c.output, "o", "text", "output `format`: text or json")
	fs.DurationVar(&c.timeout, "timeout", bss.DefaultTimeout, "bound on each HTTP attempt")
	fs.Usage = func() {
		_, _ = fmt.Fprint(fs.Output(), usageHeader)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	fromEnv := func(v *string, flagName, env string) {
		if !set[flagName] && getenv(env) != "" {
			*v = getenv(env)
		}
	}
	fromEnv(&c.endpoint, "endpoint", "BSS_ENDPOINT")
	fromEnv(&c.master.AccessKey, "access-key", "BSS_ACCESS_KEY")
	fromEnv(&c.master.SecretKey, "secret-key", "BSS_SECRET_KEY")
	fromEnv(&c.master.SecurityToken, "", "BSS_SECURITY_TOKEN")
	fromEnv(&c.domainID, "domain-id", "BSS_DOMAIN_ID")
	fromEnv(&c.sub.AccessKey, "sub-access-key", "BSS_SUB_ACCESS_KEY")
	fromEnv(&c.sub.SecretKey, "sub-secret-key", "BSS_SUB_SECRET_KEY")
	fromEnv(&c.subDomainID, "sub-domain-id", "BSS_SUB_DOMAIN_ID")
	return c, c.validate()
}

func (c *config) validate() error {
	switch {
	case c.master.AccessKey == "" || c.master.SecretKey == "":
		return errors.New("the master's access key and secret key are required (BSS_ACCESS_KEY, BSS_SECRET_KEY)")
	case (c.sub.AccessKey == "") != (c.sub.SecretKey == ""):
		return errors.New("give both the sub-account's access key and secret key, or neither")
	case c.sub.AccessKey != "" && c.subCustomerID == "":
		return errors.New("the sub-account's keys need --sub-customer-id")
	case c.moveMoney && c.subCustomerID == "":
		return errors.New("--move-money needs --sub-customer-id: the test sub-account the 0.01 transfers go to")
	case c.retentionWindow <= 0:
		return errors.New("--retention-window must be positive")
	case c.retentionChecks < 1 || c.retentionChecks > probe.MaxRetentionChecks:
		return fmt.Errorf("--retention-checks must be between 1 and %d", probe.MaxRetentionChecks)
	case c.output != "text" && c.output != "json":
		return errors.New("-o must be text or json")
	}
	return nil
}

// clients builds the master's (and the sub-account's) client on one
// transport that records the server's Date headers.
func (c *config) clients() (probe.Options, error) {
	hc := bss.DefaultHTTPClient(c.timeout)
	watch := &bss.ServerWatch{Next: hc.Transport}
	hc.Transport = watch
	master, err := bss.New(bss.Config{Endpoint: c.endpoint, Credentials: c.master, DomainID: c.domainID, HTTPClient: hc,
		Timeout: c.timeout, UserAgent: "bss-probe"})
	if err != nil {
		return probe.Options{}, err
	}
	opts := probe.Options{Master: master, Endpoint: c.endpoint, Watch: watch, SubCustomerID: c.subCustomerID,
		MoveMoney: c.moveMoney, RetentionWindow: c.retentionWindow, RetentionChecks: c.retentionChecks}
	if c.sub.AccessKey != "" {
		sub, err := bss.New(bss.Config{Endpoint: c.endpoint, Credentials: c.sub, DomainID: c.subDomainID, HTTPClient: hc,
			Timeout: c.timeout, UserAgent: "bss-probe"})
		if err != nil {
			return probe.Options{}, err
		}
		opts.Sub = sub
	}
	return opts, nil
}

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, tune func(*probe.Options)) int {
	c, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "bss-probe: %v\n", err)
		return 2
	}
	opts, err := c.clients()
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "bss-probe: %v\n", err)
		return 2
	}
	opts.Progress = stderr
	if tune != nil {
		tune(&opts)
	}
	if c.moveMoney {
		_, _ = fmt.Fprintf(stderr, "bss-probe: moving 0.01 yuan at a time between the master and %s for about %s; Ctrl-C stops it and returns the money\n",
			c.subCustomerID, c.retentionWindow)
	}
	rep, err := probe.Run(ctx, opts)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "bss-probe: %v\n", err)
		return 2
	}
	if c.output == "json" {
		err = probe.WriteJSON(stdout, rep)
	} else {
		err = probe.WriteText(stdout, rep)
	}
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "bss-probe: writing the report: %v\n", err)
		return 1
	}
	if rep.Failed() {
		return 1
	}
	return 0
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills at once
	}()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil)
	stop()
	os.Exit(code)
}

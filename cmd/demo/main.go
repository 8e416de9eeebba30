// Command demo runs the whole operator on this machine, as `make demo` does:
// etcd and kube-apiserver on loopback (the envtest binaries), the CRDs,
// bss-simulator with its default seed, the samples (an EnterpriseAccount,
// three SubAccounts adopting the seeded sub-accounts and allocations showing
// a plain grant, coupons, a top-up, Plan mode and a refused namespace) and
// the manager binary with leader election. It waits until everything has
// settled, prints a summary and keeps running until Ctrl-C, which stops
// every process it started. With DEMO_ONCE=1 (or --once) it stops right
// after the summary.
//
// Everything lives under --dir (bin/demo): logs, the kubeconfig, etcd's
// data and the simulator's persisted state. Each run starts from scratch:
// processes a killed earlier run left behind are stopped and the directory
// is reset.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

// config is the command line.
type config struct {
	dir, binDir, crdDir, assets string
	once                        bool
	settleTimeout               time.Duration
}

func parseFlags() (*config, error) {
	c := &config{}
	flag.StringVar(&c.dir, "dir", filepath.Join("bin", "demo"), "directory for logs, the kubeconfig, etcd's data and the simulator's state (reset on every run)")
	flag.StringVar(&c.binDir, "bin-dir", "bin", "directory holding the built manager and bss-simulator (make build)")
	flag.StringVar(&c.crdDir, "crd-dir", filepath.Join("config", "crd", "bases"), "directory of the CRDs to install")
	flag.StringVar(&c.assets, "assets", "", "directory of kube-apiserver, etcd and kubectl (default: $KUBEBUILDER_ASSETS, or where hack/envtest-bins.sh installs them)")
	flag.BoolVar(&c.once, "once", os.Getenv("DEMO_ONCE") == "1", "stop after printing the summary (default: $DEMO_ONCE=1)")
	flag.DurationVar(&c.settleTimeout, "settle-timeout", 3*time.Minute, "how long to wait for everything to settle")
	flag.Parse()
	if flag.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(flag.Args(), " "))
	}
	if c.assets == "" {
		d, err := testenv.AssetsDir()
		if err != nil {
			return nil, err
		}
		c.assets = d
	}
	for _, p := range []*string{&c.dir, &c.binDir, &c.crdDir, &c.assets} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, err
		}
		*p = abs
	}
	return c, nil
}

func main() {
	// controller-runtime's client logs nothing the demo needs.
	ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	c, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &demo{config: c, out: os.Stdout}
	err = d.run(ctx)
	if serr := d.shutdown(); serr != nil {
		err = errors.Join(err, serr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

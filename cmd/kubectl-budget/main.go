// Command kubectl-budget is the kubectl plugin of the bss-budget-operator:
// put it on $PATH and run `kubectl budget --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/bss-budget-operator/bss-budget-operator/internal/plugin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := plugin.Run(ctx, os.Args[1:], os.Stdout, os.Stderr, plugin.KubeconfigClient)
	stop()
	os.Exit(code)
}

// Package plugin implements kubectl-budget, the kubectl plugin of the
// bss-budget-operator: `kubectl budget status`, `plan`, `orders`, `costs`,
// `pay`, `approve`, `deny`, `history` and `ledger`.
//
// Everything but loading the kubeconfig lives here so that tests can run the
// commands against an envtest API server: Run takes the arguments, the
// output streams and a NewClientFunc that builds the client.
package plugin

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
)

// Exit codes returned by Run.
const (
	// ExitOK means the command did what was asked.
	ExitOK = 0
	// ExitError means the command failed (API error, refused action, invalid
	// object).
	ExitError = 1
	// ExitUsage means the command line was wrong.
	ExitUsage = 2
)

// ConnectionFlags are the kubectl-like flags that select the cluster.
type ConnectionFlags struct {
	// Kubeconfig is the --kubeconfig path; empty means $KUBECONFIG or
	// ~/.kube/config.
	Kubeconfig string
	// Context is the --context to use; empty means the current context.
	Context string
}

// NewClientFunc returns a client for the cluster the flags select and the
// default namespace of the kubeconfig context ("default" when it has none).
type NewClientFunc func(ConnectionFlags) (client.Client, string, error)

// KubeconfigClient is the NewClientFunc of the real plugin: it loads the
// kubeconfig like kubectl does (--kubeconfig, then $KUBECONFIG, then
// ~/.kube/config; --context overrides the current context).
func KubeconfigClient(f ConnectionFlags) (client.Client, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.Kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: f.Context}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("reading the namespace from the kubeconfig: %w", err)
	}
	scheme, err := Scheme()
	if err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", fmt.Errorf("creating the client: %w", err)
	}
	return c, ns, nil
}

// Scheme returns a scheme with the Kubernetes built-in kinds and the
// budget.bss.dev kinds.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := budgetv1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// env is what every command gets.
type env struct {
	in             io.Reader
	stdout, stderr io.Writer
	newClient      NewClientFunc
	conn           ConnectionFlags
	namespace      string // -n; empty means the kubeconfig's
}

func (e *env) stdin() io.Reader { return e.in }

// client builds the client and resolves the namespace.
func (e *env) client() (client.Client, string, error) {
	c, ns, err := e.newClient(e.conn)
	if err != nil {
		return nil, "", err
	}
	if e.namespace != "" {
		ns = e.namespace
	}
	if ns == "" {
		ns = "default"
	}
	return c, ns, nil
}

// command is one subcommand.
type command struct {
	name    string
	usage   string // the synopsis after "kubectl budget "
	summary string // one line for the command list
	help    string // the long description
	// flags binds the command's own flags.
	flags func(fs *flag.FlagSet)
	// nargs is the number of positional arguments; optional more may
	// follow them.
	nargs, optional int
	run             func(ctx context.Context, e *env, args []string) error
}

// usageError is a command-line mistake: Run prints the usage hint and returns
// ExitUsage.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// Run runs kubectl-budget with args (without the program name), writing
// results to stdout and errors to stderr, and returns the exit code. plan -f -
// reads os.Stdin.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, newClient NewClientFunc) int {
	return RunWithInput(ctx, args, os.Stdin, stdout, stderr, newClient)
}

// RunWithInput is Run with the standard input given.
func RunWithInput(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, newClient NewClientFunc) int {
	e := &env{in: stdin, stdout: stdout, stderr: stderr, newClient: newClient}
	cmds := commands()

	root := flag.NewFlagSet("kubectl budget", flag.ContinueOnError)
	root.SetOutput(io.Discard)
	e.bindConnection(root)
	if err := root.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printRootHelp(stdout, cmds)
			return ExitOK
		}
		_, _ = fmt.Fprintf(stderr, "error: %v\nSee 'kubectl budget --help'.\n", err)
		return ExitUsage
	}
	rest := root.Args()
	if len(rest) == 0 {
		printRootHelp(stderr, cmds)
		return ExitUsage
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		if len(rest) == 0 {
			printRootHelp(stdout, cmds)
			return ExitOK
		}
		name, rest = rest[0], []string{"--help"}
	}
	var cmd *command
	for i := range cmds {
		if cmds[i].name == name {
			cmd = &cmds[i]
		}
	}
	if cmd == nil {
		_, _ = fmt.Fprintf(stderr, "error: unknown command %q\nSee 'kubectl budget --help'.\n", name)
		return ExitUsage
	}

	fs := flag.NewFlagSet("kubectl budget "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e.bindConnection(fs)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	positional, err := parseInterspersed(fs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandHelp(stdout, cmd, fs)
			return ExitOK
		}
		_, _ = fmt.Fprintf(stderr, "error: %v\nSee 'kubectl budget %s --help'.\n", err, cmd.name)
		return ExitUsage
	}
	if len(positional) < cmd.nargs || len(positional) > cmd.nargs+cmd.optional {
		want := strconv.Itoa(cmd.nargs)
		if cmd.optional > 0 {
			want = fmt.Sprintf("%d to %d", cmd.nargs, cmd.nargs+cmd.optional)
		}
		_, _ = fmt.Fprintf(stderr, "error: %s expects %s argument(s), got %d\nUsage: kubectl budget %s\nSee 'kubectl budget %s --help'.\n",
			cmd.name, want, len(positional), cmd.usage, cmd.name)
		return ExitUsage
	}
	if err := cmd.run(ctx, e, positional); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			_, _ = fmt.Fprintf(stderr, "error: %s\nSee 'kubectl budget %s --help'.\n", ue.msg, cmd.name)
			return ExitUsage
		}
		_, _ = fmt.Fprintf(stderr, "error: %s\n", describeError(err))
		return ExitError
	}
	return ExitOK
}

// bindConnection binds the flags every command shares.
func (e *env) bindConnection(fs *flag.FlagSet) {
	fs.StringVar(&e.conn.Kubeconfig, "kubeconfig", e.conn.Kubeconfig, "path to the kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&e.conn.Context, "context", e.conn.Context, "the kubeconfig context to use")
	fs.StringVar(&e.namespace, "namespace", e.namespace, "the namespace (default: the context's namespace)")
	fs.StringVar(&e.namespace, "n", e.namespace, "short for --namespace")
}

// parseInterspersed parses flags placed before, between and after the
// positional arguments, like kubectl does; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		// fs.Parse stops at the first non-flag or after "--".
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

func commands() []command {
	return []command{statusCommand(), planCommand(), ordersCommand(), costsCommand(), payCommand(), approveCommand(true), approveCommand(false), historyCommand(), ledgerCommand()}
}

func printRootHelp(w io.Writer, cmds []command) {
	var b strings.Builder
	b.WriteString("kubectl budget shows and steers the bss-budget-operator's Huawei Cloud funding:\n")
	b.WriteString("enterprise accounts, sub-accounts, budget allocations and their transfers,\n")
	b.WriteString("the sub-accounts' orders the master pays on their behalf, and what they cost.\n\n")
	b.WriteString("Usage:\n  kubectl budget COMMAND [flags]\n\nCommands:\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.summary)
	}
	b.WriteString("\nFlags of every command:\n")
	b.WriteString("      --kubeconfig PATH   path to the kubeconfig file (default $KUBECONFIG or ~/.kube/config)\n")
	b.WriteString("      --context NAME      the kubeconfig context to use\n")
	b.WriteString("  -n, --namespace NS      the namespace (default: the context's namespace)\n")
	b.WriteString("\nRun 'kubectl budget COMMAND --help' for more about a command.\n")
	_, _ = io.WriteString(w, b.String())
}

func printCommandHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nUsage:\n  kubectl budget %s\n\nFlags:\n", strings.TrimSpace(c.help), c.usage)
	// Print each flag once, with its short alias.
	short := map[string]string{"namespace": "n", "all-namespaces": "A", "filename": "f", "output": "o"}
	isShort := map[string]bool{"n": true, "A": true, "f": true, "o": true}
	metavar := map[string]string{"kubeconfig": " PATH", "context": " NAME", "namespace": " NS", "filename": " FILE", "message": " TEXT", "output": " FORMAT",
		"subaccount": " NAME", "max-amount": " YUAN", "coupons": " auto|none|IDS", "discount": " auto|none|ID", "name": " NAME", "kind": " KIND"}
	type line struct{ name, usage string }
	var lines []line
	width := 22
	fs.VisitAll(func(f *flag.Flag) {
		if isShort[f.Name] {
			return
		}
		name := "    --" + f.Name + metavar[f.Name]
		if s, ok := short[f.Name]; ok {
			name = "-" + s + ", --" + f.Name + metavar[f.Name]
		}
		lines = append(lines, line{name, f.Usage})
		width = max(width, len(name))
	})
	for _, l := range lines {
		fmt.Fprintf(&b, "  %-*s %s\n", width, l.name, l.usage)
	}
	_, _ = io.WriteString(w, b.String())
}

package install

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

var (
	// k8s talks to the envtest kube-apiserver as an administrator.
	k8s client.Client
	// cfg is its rest.Config, for clients acting as other users.
	cfg *rest.Config
	// warnings collects the API server's warnings (Pod Security among them).
	warnings = &warningRecorder{}
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	env, c, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	cfg = rest.CopyConfig(c)
	cfg.WarningHandlerWithContext = warnings
	k8s, err = client.New(cfg, client.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// warningRecorder keeps the warnings the API server sends back.
type warningRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningRecorder) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

// take returns the warnings received since the last call and forgets them.
func (w *warningRecorder) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	msgs := w.msgs
	w.msgs = nil
	return msgs
}

// podSecurityWarnings filters the Pod Security admission's warnings.
func podSecurityWarnings(msgs []string) []string {
	var out []string
	for _, m := range msgs {
		if strings.Contains(m, "PodSecurity") {
			out = append(out, m)
		}
	}
	return out
}

package localenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"
)

// FastFlags shorten the manager's backoffs so that tests and the demo see
// retries within seconds.
var FastFlags = []string{"--transfer-retry-base=1s", "--submit-retry-base=200ms", "--funds-recheck-interval=2s"}

// LeaderElectionID is the manager's default leader election Lease name.
const LeaderElectionID = "bss-budget-operator.budget.bss.dev"

// ManagerOptions configure StartManager.
type ManagerOptions struct {
	// Binary is the manager executable.
	Binary string
	// Kubeconfig is passed as $KUBECONFIG.
	Kubeconfig string
	// Dir receives the log, <Name>.log.
	Dir string
	// Name names the replica in messages and its log file (default "manager").
	Name string
	// Namespace is --operator-namespace.
	Namespace string
	// LeaderElect adds --leader-elect.
	LeaderElect bool
	// Args are extra flags, after FastFlags (a later flag wins).
	Args []string
	// Env are extra environment variables (KEY=VALUE), such as GOGC.
	Env []string
}

// Manager is a running manager binary serving plain-HTTP metrics and health
// probes on loopback ports.
type Manager struct {
	*Process
	// MetricsURL is the /metrics endpoint.
	MetricsURL string
	// HealthURL is the /healthz endpoint.
	HealthURL string
	// Options are the options it was started with.
	Options ManagerOptions
}

// StartManager starts the manager binary and waits until its health probe
// and its metrics endpoint answer (which they do before it is elected).
func StartManager(ctx context.Context, opts ManagerOptions) (*Manager, error) {
	if opts.Name == "" {
		opts.Name = "manager"
	}
	var lastErr error
	for range 5 { // another process may take the free ports first
		ports, err := FreePorts(2)
		if err != nil {
			return nil, err
		}
		metricsPort, probePort := ports[0], ports[1]
		args := []string{
			"--operator-namespace=" + opts.Namespace,
			"--metrics-bind-address=" + LoopbackAddr(metricsPort),
			"--metrics-secure=false",
			"--health-probe-bind-address=" + LoopbackAddr(probePort),
		}
		if opts.LeaderElect {
			args = append(args, "--leader-elect")
		}
		args = append(append(args, FastFlags...), opts.Args...)
		p, err := StartProcess(opts.Name, opts.Binary, args, append([]string{"KUBECONFIG=" + opts.Kubeconfig}, opts.Env...), filepath.Join(opts.Dir, opts.Name+".log"))
		if err != nil {
			return nil, err
		}
		m := &Manager{
			Process:    p,
			MetricsURL: fmt.Sprintf("http://%s/metrics", LoopbackAddr(metricsPort)),
			HealthURL:  fmt.Sprintf("http://%s/healthz", LoopbackAddr(probePort)),
			Options:    opts,
		}
		// Both listeners: a manager that could not bind its metrics port
		// exits, possibly after its health probe has answered.
		if lastErr = waitServing(ctx, p, m.HealthURL, 60*time.Second); lastErr == nil {
			if lastErr = waitServing(ctx, p, m.MetricsURL, 10*time.Second); lastErr == nil {
				return m, nil
			}
		}
		_ = p.Kill()
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// Scrape reads the metrics endpoint.
func (m *Manager) Scrape(ctx context.Context) (*Metrics, error) {
	return ScrapeURL(ctx, &http.Client{Timeout: 10 * time.Second}, m.MetricsURL)
}

// ScrapeURL reads a Prometheus text endpoint with c.
func ScrapeURL(ctx context.Context, c *http.Client, url string) (*Metrics, error) {
	body, err := Get(ctx, c, url)
	if err != nil {
		return nil, err
	}
	return ParseMetrics(bytes.NewReader(body))
}

// Get reads url with c and fails on any status but 200 OK.
func Get(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

// IsLeader reports whether the replica says it holds the leader Lease
// (controller-runtime's leader_election_master_status gauge).
func (m *Manager) IsLeader(ctx context.Context) (bool, error) {
	ms, err := m.Scrape(ctx)
	if err != nil {
		return false, err
	}
	v, ok := ms.Value("leader_election_master_status", map[string]string{"name": LeaderElectionID})
	return ok && v == 1, nil
}

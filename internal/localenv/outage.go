package localenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"

	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

// The control plane's processes are started by envtest, which keeps their
// os/exec state to itself and stops them only with SIGTERM. Kill finds the
// process among this process's children instead and sends SIGKILL, and
// Restart asks envtest to start the component again: envtest keeps the
// listen address, the data directory, the certificate directory and the
// client CA between starts, and reuses the serving certificate and the
// service account keys it finds in the certificate directory, so clients
// holding the old rest.Config or kubeconfig reconnect by themselves.

// Pid is the process id of the running component: the child of this
// process started from the component's binary with this control plane's
// own directory (etcd's --data-dir, kube-apiserver's --cert-dir), so that
// two control planes in one process are told apart. Calling it ahead of
// Kill makes Kill quicker.
func (cp *ControlPlane) Pid(c Component) (int, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.pidLocked(c)
}

func (cp *ControlPlane) pidLocked(c Component) (int, error) {
	binary, flag, err := cp.identity(c)
	if err != nil {
		return 0, err
	}
	// The last pid found, if the same process still runs (a pid and its
	// start time name one process): Kill then needs one read of /proc, not
	// a scan of it, between the caller's evidence and the signal.
	if rec, ok := cp.pids[c]; ok {
		if st, err := StartTimeOf(rec.PID); err == nil && st == rec.StartTime {
			return rec.PID, nil
		}
		delete(cp.pids, c)
	}
	children, err := ChildPIDs()
	if err != nil {
		return 0, err
	}
	var found []int
	for _, pid := range children {
		if _, err := StartTimeOf(pid); err != nil {
			continue // exited and not yet reaped
		}
		args, err := cmdline(pid)
		if err != nil || len(args) == 0 || args[0] != binary {
			continue
		}
		for _, a := range args[1:] {
			if a == flag {
				found = append(found, pid)
				break
			}
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("%s (%s %s) is not running: %w", c, binary, flag, os.ErrNotExist)
	case 1:
		rec, err := Record(found[0], string(c))
		if err != nil {
			return 0, err
		}
		if cp.pids == nil {
			cp.pids = map[Component]PIDRecord{}
		}
		cp.pids[c] = rec
		return found[0], nil
	default:
		return 0, fmt.Errorf("%d processes run %s %s: %v", len(found), binary, flag, found)
	}
}

// identity is the binary and the flag that tell the component's process.
func (cp *ControlPlane) identity(c Component) (binary, flag string, err error) {
	if cp.env == nil {
		return "", "", errors.New("the control plane is stopped")
	}
	plane := &cp.env.ControlPlane
	switch c {
	case Etcd:
		return plane.Etcd.Path, "--data-dir=" + plane.Etcd.DataDir, nil
	case APIServer:
		api := plane.GetAPIServer()
		return api.Path, "--cert-dir=" + api.CertDir, nil
	default:
		return "", "", fmt.Errorf("unknown control plane component %q", c)
	}
}

// cmdline reads a process's arguments.
func cmdline(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00"), nil
}

// Kill sends SIGKILL to the component's process (and its process group:
// envtest starts each in its own), as kill -9 does, and waits until it has
// exited. It returns the pid it killed. Nothing is stopped gracefully:
// etcd's data directory is left as the dead process left it.
func (cp *ControlPlane) Kill(c Component) (int, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	pid, err := cp.pidLocked(c)
	if err != nil {
		return 0, err
	}
	start := cp.pids[c].StartTime // pidLocked has just checked it
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return 0, fmt.Errorf("killing %s (pid %d): %w", c, pid, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return 0, fmt.Errorf("killing %s (pid %d): %w", c, pid, err)
	}
	cp.note(c, "SIGKILL pid %d", pid)
	gone := func(context.Context) (bool, error) {
		st, err := StartTimeOf(pid) // a zombie counts as gone: its sockets are closed
		return err != nil || st != start, nil
	}
	if err := testenv.Wait(context.Background(), 30*time.Second, 5*time.Millisecond, gone, nil); err != nil {
		return pid, fmt.Errorf("%s (pid %d) did not exit after SIGKILL: %w", c, pid, err)
	}
	return pid, nil
}

// Restart starts a component that Kill ended, with the flags it had
// before: the same data directory and listen address for etcd; the same
// address and port, serving certificate, client CA, service account keys
// and etcd for kube-apiserver. It returns the new pid when the process
// answers its health check and kube-apiserver answers /readyz (which
// includes its connection to etcd), or an error when it did not within
// the control plane's start timeout (90s).
func (cp *ControlPlane) Restart(c Component) (int, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if pid, err := cp.pidLocked(c); err == nil {
		return 0, fmt.Errorf("%s is running (pid %d)", c, pid)
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	cp.note(c, "restarting")
	plane := &cp.env.ControlPlane
	var err error
	switch c {
	case Etcd:
		err = plane.Etcd.Start()
	case APIServer:
		err = plane.GetAPIServer().Start()
	}
	if err != nil {
		return 0, fmt.Errorf("restarting %s: %w", c, err)
	}
	pid, err := cp.pidLocked(c)
	if err != nil {
		return 0, err
	}
	if err := waitReadyz(cp.Config, cp.env.ControlPlaneStartTimeout); err != nil {
		return pid, fmt.Errorf("kube-apiserver not ready after restarting %s: %w", c, err)
	}
	return pid, nil
}

// note appends a line to the component's log, so that its log shows where
// a kill and a restart happened.
func (cp *ControlPlane) note(c Component, format string, args ...any) {
	f := cp.apiLog
	if c == Etcd {
		f = cp.etcdLog
	}
	if f != nil {
		_, _ = fmt.Fprintf(f, "=== localenv %s: %s\n", time.Now().Format(time.RFC3339Nano), fmt.Sprintf(format, args...))
	}
}

// waitReadyz waits until kube-apiserver answers /readyz with 200, on a
// client of its own (so that no connection of another client is reused).
func waitReadyz(cfg *rest.Config, timeout time.Duration) error {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	defer hc.CloseIdleConnections()
	hc.Timeout = 5 * time.Second
	url := strings.TrimSuffix(cfg.Host, "/") + "/readyz"
	var last string
	return testenv.Wait(context.Background(), timeout, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false, err
		}
		defer func() { _ = resp.Body.Close() }()
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		last = body.String()
		return resp.StatusCode == http.StatusOK, nil
	}, func() string { return last })
}

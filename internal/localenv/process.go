package localenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a child process with its own process group whose output goes
// to a log file.
type Process struct {
	// Name says what the process is, in messages.
	Name string
	// LogPath is the file receiving stdout and stderr; it is appended to,
	// so that restarts of the same component share one log.
	LogPath string

	cmd     *exec.Cmd
	logFile *os.File
	done    chan struct{}

	mu      sync.Mutex
	waitErr error
}

// StartProcess starts path with args in its own process group, appending
// its output to logPath. env is added to the current environment.
func StartProcess(name, path string, args, env []string, logPath string) (*Process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) //nolint:gosec // G304: the log path is chosen by the caller (a test or the demo), not by input
	if err != nil {
		return nil, fmt.Errorf("opening the log of %s: %w", name, err)
	}
	if _, err := fmt.Fprintf(f, "=== %s: %s %s\n", time.Now().Format(time.RFC3339Nano), path, strings.Join(args, " ")); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	// Not CommandContext with a caller's context: the process's lifetime is
	// managed with Stop and Kill (and ends with its parent's, see sysProcAttr).
	cmd := exec.CommandContext(context.Background(), path, args...) //nolint:gosec // G204: the binaries and flags are the project's own
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("starting %s: %w", name, err), f.Close())
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, logFile: f, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id, which is also its process group id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is what waiting for the process returned (nil while it runs).
func (p *Process) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// ExitStatus says how the process ended ("running" while it runs).
func (p *Process) ExitStatus() string {
	if !p.Exited() {
		return "running"
	}
	if err := p.Err(); err != nil {
		return err.Error()
	}
	return "exit status 0"
}

// Signal sends sig to the process group.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	if err := syscall.Kill(-p.Pid(), sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signalling %s: %w", p.Name, err)
	}
	return nil
}

// Kill sends SIGKILL to the process group, as kill -9 does, and waits for
// the process to exit.
func (p *Process) Kill() error {
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.Name, p.Pid())
	}
}

// Stop asks the process to stop with SIGTERM and kills it when it has not
// exited within grace.
func (p *Process) Stop(grace time.Duration) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		return p.Kill()
	}
}

// Tail returns the last n lines of the process's log.
func (p *Process) Tail(n int) string {
	return TailFile(p.LogPath, n)
}

// TailFile returns the last n lines of a file, or a note saying why it
// could not be read.
func TailFile(path string, n int) string {
	b, err := os.ReadFile(path) //nolint:gosec // G304: a log file this package wrote
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 4*n {
			lines = lines[len(lines)-n:]
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

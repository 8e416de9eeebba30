package localenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Callers that bind it later retry with another port when they lose the
// race.
func FreePort() (int, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// FreePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago. Each is held until all are chosen: the kernel may hand out a
// port it has just been given back, so that two FreePort calls in a row can
// return the same one.
//
// Nor does it return a port it handed out in the last portReuseAfter to
// another caller of this process: parallel tests each start a server on
// the port they were given, and one that lost its port to another would
// find the other's server answering on it.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100*n {
			return nil, fmt.Errorf("no free port on 127.0.0.1 that was not handed out in the last %s", portReuseAfter)
		}
		l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		held = append(held, l)
		if port := l.Addr().(*net.TCPAddr).Port; handOut(port) {
			ports = append(ports, port)
		}
	}
	return ports, nil
}

// portReuseAfter is how long a port FreePorts handed out is not handed out
// again.
const portReuseAfter = 2 * time.Minute

var handedOut struct {
	sync.Mutex
	at map[int]time.Time
}

// handOut records port as handed out now, unless it was in the last
// portReuseAfter.
func handOut(port int) bool {
	handedOut.Lock()
	defer handedOut.Unlock()
	now := time.Now()
	if at, ok := handedOut.at[port]; ok && now.Sub(at) < portReuseAfter {
		return false
	}
	if handedOut.at == nil {
		handedOut.at = map[int]time.Time{}
	}
	for p, at := range handedOut.at {
		if now.Sub(at) >= portReuseAfter {
			delete(handedOut.at, p)
		}
	}
	handedOut.at[port] = now
	return true
}

// LoopbackAddr is 127.0.0.1:port.
func LoopbackAddr(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// httpGet fetches url and returns the status code; the body is discarded.
func httpGet(ctx context.Context, c *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	return resp.StatusCode, nil
}

// waitServing waits until url answers 200 or p exits.
func waitServing(ctx context.Context, p *Process, url string, timeout time.Duration) error {
	c := &http.Client{Timeout: 2 * time.Second}
	return testenv.Wait(ctx, timeout, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		if p.Exited() {
			return false, testenv.Permanent(fmt.Errorf("%s exited (%s); the end of its log:\n%s", p.Name, p.ExitStatus(), p.Tail(20)))
		}
		code, err := httpGet(ctx, c, url)
		return err == nil && code == http.StatusOK, err
	}, nil)
}

// Parallel runs fn for every item with at most limit at a time and returns
// the errors joined.
func Parallel[T any](items []T, limit int, fn func(T) error) error {
	sem := make(chan struct{}, max(limit, 1))
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fn(it)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

package framework

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Permanent wraps an error that ends Poll at once.
func Permanent(err error) error { return permanentError{err} }

type permanentError struct{ error }

func (p permanentError) Unwrap() error { return p.error }

// Poll calls cond every interval until it returns true or a Permanent
// error, or timeout (or ctx) expires. Other errors are remembered and
// polling goes on. The error of a timeout includes the last error cond
// returned and what describe says, if given.
func Poll(ctx context.Context, timeout, interval time.Duration, cond func(ctx context.Context) (bool, error), describe func() string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		if err != nil {
			var p permanentError
			if errors.As(err, &p) {
				return p.error
			}
			last = err
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("timed out after %s", timeout)
			if last != nil {
				msg += fmt.Sprintf(" (last error: %v)", last)
			}
			if describe != nil {
				msg += "; last seen: " + describe()
			}
			return fmt.Errorf("%s: %w", msg, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Callers that bind it later retry with another port when they lose the
// race.
func FreePort() (int, error) {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
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
	return Poll(ctx, timeout, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		if p.Exited() {
			return false, Permanent(fmt.Errorf("%s exited (%s); the end of its log:\n%s", p.Name, p.ExitStatus(), p.Tail(20)))
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

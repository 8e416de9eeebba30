package testenv

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// PollInterval is how often Eventually and Consistently look: short
// against the tests' backoffs (100 ms and up), long enough not to load the
// API server of two busy cores.
const PollInterval = 50 * time.Millisecond

// TB is the part of testing.TB that Eventually and Consistently use. It is
// an interface of its own so that this package, which the demo uses for
// Wait, does not link the testing package into it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Permanent wraps an error that ends Wait at once.
func Permanent(err error) error { return permanentError{err} }

type permanentError struct{ error }

func (p permanentError) Unwrap() error { return p.error }

// Wait calls cond every interval until it returns true or a Permanent
// error, or timeout (or ctx) expires. Other errors are remembered and
// polling goes on. The error of a timeout includes the last error cond
// returned and what describe says, if given.
func Wait(ctx context.Context, timeout, interval time.Duration, cond func(ctx context.Context) (bool, error), describe func() string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
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
		case <-tick.C:
		}
	}
}

// Eventually fails the test when cond does not hold within timeout; the
// failure names what was awaited and what describe (if not nil) says was
// seen last.
func Eventually(t TB, timeout time.Duration, what string, cond func() bool, describe func() string) {
	t.Helper()
	if err := Wait(context.Background(), timeout, PollInterval, func(context.Context) (bool, error) { return cond(), nil }, describe); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Consistently fails the test as soon as cond stops holding within d: the
// evidence that something does not happen. d must be long enough for the
// thing to have happened (a requeue, a backoff), and the caller says why
// it is.
func Consistently(t TB, d time.Duration, what string, cond func() bool, describe func() string) {
	t.Helper()
	held := func(context.Context) (bool, error) {
		if !cond() {
			return false, Permanent(errors.New("stopped holding"))
		}
		return false, nil
	}
	err := Wait(context.Background(), d, PollInterval, held, nil)
	if errors.Is(err, context.DeadlineExceeded) {
		return
	}
	seen := ""
	if describe != nil {
		seen = "; last seen: " + describe()
	}
	t.Fatalf("%s: %v%s", what, err, seen)
}

package testenv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fakeTB records a failure instead of ending the test.
type fakeTB struct{ failure string }

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) { f.failure = fmt.Sprintf(format, args...) }

func TestWait(t *testing.T) {
	calls := 0
	err := Wait(context.Background(), time.Second, time.Millisecond, func(context.Context) (bool, error) {
		calls++
		return calls == 3, errors.New("not yet")
	}, nil)
	if err != nil || calls != 3 {
		t.Errorf("Wait = %v after %d calls, want nil after 3", err, calls)
	}

	gone := errors.New("the process exited")
	start := time.Now()
	err = Wait(context.Background(), time.Minute, time.Millisecond, func(context.Context) (bool, error) {
		return false, Permanent(gone)
	}, nil)
	if !errors.Is(err, gone) || time.Since(start) > 10*time.Second {
		t.Errorf("Wait = %v, want the permanent error at once", err)
	}

	err = Wait(context.Background(), 20*time.Millisecond, time.Millisecond, func(context.Context) (bool, error) {
		return false, errors.New("still 3 of 5")
	}, func() string { return "granted 3.00" })
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "still 3 of 5") || !strings.Contains(err.Error(), "last seen: granted 3.00") {
		t.Errorf("Wait = %v, want a timeout naming the last error and what was seen", err)
	}
}

func TestEventually(t *testing.T) {
	var ok fakeTB
	n := 0
	Eventually(&ok, time.Second, "three looks", func() bool { n++; return n == 3 }, nil)
	if ok.failure != "" {
		t.Errorf("Eventually failed: %s", ok.failure)
	}

	var late fakeTB
	Eventually(&late, 20*time.Millisecond, "the allocation Ready", func() bool { return false }, func() string { return "reason Pending" })
	if !strings.HasPrefix(late.failure, "the allocation Ready: timed out") || !strings.HasSuffix(late.failure, "last seen: reason Pending: context deadline exceeded") {
		t.Errorf("Eventually failed with %q", late.failure)
	}
}

func TestConsistently(t *testing.T) {
	var held fakeTB
	looks := 0
	Consistently(&held, 120*time.Millisecond, "nothing moves", func() bool { looks++; return true }, nil)
	if held.failure != "" || looks < 2 {
		t.Errorf("Consistently failed with %q after %d looks; want it to pass after looking more than once", held.failure, looks)
	}

	var broken fakeTB
	looks = 0
	start := time.Now()
	Consistently(&broken, time.Minute, "nothing moves", func() bool { looks++; return looks < 3 }, func() string { return "a transfer" })
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Consistently watched for %s after the condition broke", took)
	}
	if broken.failure != "nothing moves: stopped holding; last seen: a transfer" {
		t.Errorf("Consistently failed with %q", broken.failure)
	}
}

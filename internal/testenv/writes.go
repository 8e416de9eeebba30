package testenv

import (
	"context"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Writes counts the writes a client sent that the API server applied, by a
// key the test chooses. A write is marked in flight before it is sent, so a
// test that has seen what a write did can wait, with Count, for the write
// to be counted. (A refused write, such as a conflict, is not counted.)
type Writes struct {
	// Key names a write of o; verb is create, update, patch, delete or
	// status.
	Key func(o client.Object, verb string) string

	mu       sync.Mutex
	counts   map[string]int
	inFlight map[string]int
}

// Count returns the applied writes of key, once none of them is in flight
// (or after five seconds, when one is stuck).
func (w *Writes) Count(key string) int {
	var n int
	_ = Wait(context.Background(), 5*time.Second, 10*time.Millisecond, func(context.Context) (bool, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		n = w.counts[key]
		return w.inFlight[key] == 0, nil
	}, nil)
	return n
}

// start marks a write of o as in flight; the function it returns ends it,
// counts it when it succeeded and passes its error on.
func (w *Writes) start(o client.Object, verb string) func(error) error {
	key := w.Key(o, verb)
	w.mu.Lock()
	if w.counts == nil {
		w.counts, w.inFlight = map[string]int{}, map[string]int{}
	}
	w.inFlight[key]++
	w.mu.Unlock()
	return func(err error) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.inFlight[key]--
		if err == nil {
			w.counts[key]++
		}
		return err
	}
}

// Client wraps c so that w counts its writes.
func (w *Writes) Client(c client.Client) client.Client {
	return &countingClient{Client: c, writes: w}
}

type countingClient struct {
	client.Client
	writes *Writes
}

func (c *countingClient) Create(ctx context.Context, o client.Object, opts ...client.CreateOption) error {
	return c.writes.start(o, "create")(c.Client.Create(ctx, o, opts...))
}

func (c *countingClient) Update(ctx context.Context, o client.Object, opts ...client.UpdateOption) error {
	return c.writes.start(o, "update")(c.Client.Update(ctx, o, opts...))
}

func (c *countingClient) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.PatchOption) error {
	return c.writes.start(o, "patch")(c.Client.Patch(ctx, o, p, opts...))
}

func (c *countingClient) Delete(ctx context.Context, o client.Object, opts ...client.DeleteOption) error {
	return c.writes.start(o, "delete")(c.Client.Delete(ctx, o, opts...))
}

func (c *countingClient) Status() client.SubResourceWriter {
	return countingStatus{SubResourceWriter: c.Client.Status(), writes: c.writes}
}

type countingStatus struct {
	client.SubResourceWriter
	writes *Writes
}

func (s countingStatus) Update(ctx context.Context, o client.Object, opts ...client.SubResourceUpdateOption) error {
	return s.writes.start(o, "status")(s.SubResourceWriter.Update(ctx, o, opts...))
}

func (s countingStatus) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
	return s.writes.start(o, "status")(s.SubResourceWriter.Patch(ctx, o, p, opts...))
}

package testenv

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
)

// Event is one event a controller emitted.
type Event struct {
	Object, Type, Reason, Note string
}

// Events records the events a controller emits and forwards them to Next,
// so that tests can count them exactly.
type Events struct {
	// Next receives every event too (the manager's recorder).
	Next events.EventRecorder

	mu     sync.Mutex
	events []Event
}

// Eventf records the event and forwards it.
func (c *Events) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	name := ""
	if o, err := meta.Accessor(regarding); err == nil {
		name = o.GetName()
	}
	c.mu.Lock()
	c.events = append(c.events, Event{Object: name, Type: eventtype, Reason: reason, Note: fmt.Sprintf(note, args...)})
	c.mu.Unlock()
	c.Next.Eventf(regarding, related, eventtype, reason, action, note, args...)
}

// Of returns the events about one object with the given reason ("" for
// all).
func (c *Events) Of(object, reason string) []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Event
	for _, e := range c.events {
		if e.Object == object && (reason == "" || e.Reason == reason) {
			out = append(out, e)
		}
	}
	return out
}

// Count returns how many events about object have reason and a note
// containing text.
func (c *Events) Count(object, reason, text string) int {
	n := 0
	for _, e := range c.Of(object, reason) {
		if strings.Contains(e.Note, text) {
			n++
		}
	}
	return n
}

// Await is Count after waiting up to 10 s for at least want such events:
// controllers emit events after their status write, so a test that has
// just seen the status may be a moment ahead of them.
func (c *Events) Await(object, reason, text string, want int) int {
	var n int
	_ = Wait(context.Background(), 10*time.Second, 20*time.Millisecond, func(context.Context) (bool, error) {
		n = c.Count(object, reason, text)
		return n >= want, nil
	}, nil)
	return n
}

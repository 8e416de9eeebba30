package integration

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
)

// managerWrites counts the manager's writes the API server applied, per
// object and verb, keyed by writeKey. (A write refused with a conflict, as
// a reconcile working from a stale cache can send, changes nothing and is
// not counted.) inFlight holds the writes sent and not yet answered, so
// that a test which has seen what a write did can wait for it to be
// counted.
var (
	writesMu      sync.Mutex
	managerWrites = map[string]int{}
	inFlight      = map[string]int{}
)

func writeKey(o client.Object, verb string) string {
	kind := fmt.Sprintf("%T", o)
	switch o.(type) {
	case *budgetv1alpha1.BudgetAllocation:
		kind = "BudgetAllocation"
	case *budgetv1alpha1.BudgetTransfer:
		kind = "BudgetTransfer"
	}
	return kind + " " + o.GetNamespace() + "/" + o.GetName() + " " + verb
}

// counting marks a write of o as in flight; the function it returns ends
// it, counts it when it succeeded and passes its error on.
func counting(o client.Object, verb string) func(error) error {
	key := writeKey(o, verb)
	writesMu.Lock()
	inFlight[key]++
	writesMu.Unlock()
	return func(err error) error {
		writesMu.Lock()
		defer writesMu.Unlock()
		inFlight[key]--
		if err == nil {
			managerWrites[key]++
		}
		return err
	}
}

// writesOf is how many writes of verb the manager sent for o, once none is
// in flight (or after five seconds, when one is stuck).
func writesOf(o client.Object, verb string) int {
	key := writeKey(o, verb)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		writesMu.Lock()
		n, busy := managerWrites[key], inFlight[key] > 0
		writesMu.Unlock()
		if !busy || time.Now().After(deadline) {
			return n
		}
	}
}

// countingClient is the manager's client, counting the writes that
// succeed.
type countingClient struct {
	client.Client
}

func (c *countingClient) Create(ctx context.Context, o client.Object, opts ...client.CreateOption) error {
	done := counting(o, "create")
	return done(c.Client.Create(ctx, o, opts...))
}

func (c *countingClient) Update(ctx context.Context, o client.Object, opts ...client.UpdateOption) error {
	done := counting(o, "update")
	return done(c.Client.Update(ctx, o, opts...))
}

func (c *countingClient) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.PatchOption) error {
	done := counting(o, "patch")
	return done(c.Client.Patch(ctx, o, p, opts...))
}

func (c *countingClient) Delete(ctx context.Context, o client.Object, opts ...client.DeleteOption) error {
	done := counting(o, "delete")
	return done(c.Client.Delete(ctx, o, opts...))
}

func (c *countingClient) Status() client.SubResourceWriter {
	return countingStatus{c.Client.Status()}
}

type countingStatus struct {
	client.SubResourceWriter
}

func (s countingStatus) Update(ctx context.Context, o client.Object, opts ...client.SubResourceUpdateOption) error {
	done := counting(o, "status")
	return done(s.SubResourceWriter.Update(ctx, o, opts...))
}

func (s countingStatus) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
	done := counting(o, "status")
	return done(s.SubResourceWriter.Patch(ctx, o, p, opts...))
}

// TestFundedAllocationCostsFiveWrites pins the API server cost of funding
// an allocation: the transfer's create, its Submitting and Succeeded status
// writes, and two status writes of the allocation (transfer in progress,
// Ready). A Retain allocation carries no finalizer; a Reclaim one gets it
// in one metadata write, and loses it again when switched to Retain.
func TestFundedAllocationCostsFiveWrites(t *testing.T) {
	tm := newTeam(t)
	tm.create(t, tm.allocation("cheap", "25"))
	tm.waitReady(t, "cheap", "25.00")
	ba := tm.get(t, "cheap")
	if len(ba.Finalizers) != 0 {
		t.Errorf("a Retain allocation got finalizers %v", ba.Finalizers)
	}
	bts := tm.transfers(t)
	if len(bts) != 1 {
		t.Fatalf("want one transfer, got %d", len(bts))
	}
	bt := &bts[0]
	got := map[string]int{
		"allocation status":   writesOf(ba, "status"),
		"allocation metadata": writesOf(ba, "patch") + writesOf(ba, "update"),
		"transfer create":     writesOf(bt, "create"),
		"transfer status":     writesOf(bt, "status"),
	}
	want := map[string]int{"allocation status": 2, "allocation metadata": 0, "transfer create": 1, "transfer status": 2}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s writes: got %d, want %d (all: %v)", k, got[k], w, got)
		}
	}

	tm.create(t, tm.allocation("careful", "10", func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.DeletionPolicy = budgetv1alpha1.DeletionPolicyReclaim
	}))
	tm.waitReady(t, "careful", "10.00")
	careful := tm.get(t, "careful")
	if !slices.Contains(careful.Finalizers, budgetv1alpha1.Finalizer) {
		t.Fatalf("a Reclaim allocation has finalizers %v, want %s", careful.Finalizers, budgetv1alpha1.Finalizer)
	}
	if n := writesOf(careful, "patch"); n != 1 {
		t.Errorf("adding the finalizer took %d patches, want 1", n)
	}
	tm.update(t, "careful", func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.DeletionPolicy = budgetv1alpha1.DeletionPolicyRetain
	})
	eventually(t, 10*time.Second, "finalizer removed after the switch to Retain", func() bool {
		return len(tm.get(t, "careful").Finalizers) == 0
	}, tm.describe("careful"))
}

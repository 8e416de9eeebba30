package integration

import (
	"context"
	"reflect"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
)

// managerReconciles counts, per object, the reconciles the manager began.
// Every reconciler reads its own object first, so the first read made
// under a reconcile id names the object that reconcile is about; that is
// evidence a test can wait for where a reconcile writes nothing.
var managerReconciles = &reconcileLog{}

type reconcileLog struct {
	mu     sync.Mutex
	ids    map[types.UID]bool
	counts map[string]int
}

// reconcileKey names an object as reconcileLog counts it: its Go type's
// name and its namespace/name.
func reconcileKey(o client.Object, key client.ObjectKey) string {
	return reflect.TypeOf(o).Elem().Name() + " " + key.Namespace + "/" + key.Name
}

// begun is how many reconciles of o the manager has begun.
func (l *reconcileLog) begun(o client.Object) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts[reconcileKey(o, client.ObjectKeyFromObject(o))]
}

func (l *reconcileLog) read(ctx context.Context, o client.Object, key client.ObjectKey) {
	id := controller.ReconcileIDFromContext(ctx)
	if id == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ids[id] {
		return
	}
	if l.ids == nil {
		l.ids, l.counts = map[types.UID]bool{}, map[string]int{}
	}
	l.ids[id] = true
	l.counts[reconcileKey(o, key)]++
}

// client wraps the manager's client so that its reads are logged.
func (l *reconcileLog) client(c client.Client) client.Client {
	return &readLoggingClient{Client: c, log: l}
}

type readLoggingClient struct {
	client.Client
	log *reconcileLog
}

func (c *readLoggingClient) Get(ctx context.Context, key client.ObjectKey, o client.Object, opts ...client.GetOption) error {
	c.log.read(ctx, o, key)
	return c.Client.Get(ctx, key, o, opts...)
}

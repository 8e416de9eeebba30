package integration

import (
	"context"
	"errors"
	"sync"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// managerFault, when set, refuses some of the manager's writes to the API
// server: a test stops a protocol between two of its steps with it, as a
// crash there would, then stops the manager.
var managerFault struct {
	sync.Mutex
	refuse func(verb string, o client.Object) bool
}

// errInjected is the error of a refused write.
var errInjected = errors.New("write refused by the test")

// refuseWrites makes the manager's writes for which refuse is true fail,
// until the test ends or the returned function is called.
func refuseWrites(t *testing.T, refuse func(verb string, o client.Object) bool) func() {
	managerFault.Lock()
	managerFault.refuse = refuse
	managerFault.Unlock()
	reset := func() {
		managerFault.Lock()
		managerFault.refuse = nil
		managerFault.Unlock()
	}
	t.Cleanup(reset)
	return reset
}

func refused(verb string, o client.Object) error {
	managerFault.Lock()
	defer managerFault.Unlock()
	if managerFault.refuse != nil && managerFault.refuse(verb, o) {
		return errInjected
	}
	return nil
}

// faultyClient is c with managerFault applied to its writes.
func faultyClient(c client.WithWatch) client.WithWatch {
	return interceptor.NewClient(c, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			if err := refused("create", o); err != nil {
				return err
			}
			return c.Create(ctx, o, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.DeleteOption) error {
			if err := refused("delete", o); err != nil {
				return err
			}
			return c.Delete(ctx, o, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, o client.Object, p client.Patch, opts ...client.PatchOption) error {
			if err := refused("patch", o); err != nil {
				return err
			}
			return c.Patch(ctx, o, p, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			if err := refused("update", o); err != nil {
				return err
			}
			return c.Update(ctx, o, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, o client.Object, opts ...client.SubResourceUpdateOption) error {
			if err := refused(sub, o); err != nil {
				return err
			}
			return c.SubResource(sub).Update(ctx, o, opts...)
		},
	})
}

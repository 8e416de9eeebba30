package subaccount

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
)

// TestCreatedSubAccountMovesForwardOnly watches the Ready condition of a
// SubAccount through its creation and a later spec change: once True, it
// never goes back to Creating. The master's list of sub-accounts is shared
// by its SubAccounts for a while; here another SubAccount reads it while the
// new account is still being created, so the shared list describes the
// account as Creating after BSS made it Normal.
func TestCreatedSubAccountMovesForwardOnly(t *testing.T) {
	// The other SubAccount must read the list within the simulator's
	// creation delay; on a machine too slow for that, try again.
	for attempt := 1; ; attempt++ {
		if createWithStaleList(t, attempt) {
			return
		}
		if attempt == 3 {
			t.Fatal("the list of sub-accounts was never read while an account was being created")
		}
	}
}

// createWithStaleList runs one attempt; it returns false when the other
// SubAccount read the list too late to describe the account as Creating.
func createWithStaleList(t *testing.T, attempt int) bool {
	name, login := fmt.Sprintf("create-forward-%d", attempt), fmt.Sprintf("forward-%d", attempt)
	pwSecret, peer := login+"-password", fmt.Sprintf("create-forward-peer-%d", attempt)
	readies := watchReady(t, name)

	createSecret(t, pwSecret, map[string]string{"password": "F0rward-pass"})
	createSubAccount(t, name, budgetv1alpha1.SubAccountSpec{Create: &budgetv1alpha1.SubAccountCreate{
		AccountName: login, PartyID: "1234567890",
		PasswordSecretRef: budgetv1alpha1.SecretKeyReference{Name: pwSecret},
		Phone:             budgetv1alpha1.SubAccountPhone{UseMasterPhone: true},
	}})
	eventually(t, "BSS accepted the request to create "+login, func() error {
		if getSubAccount(t, name).Status.CreateRequestedTime == nil {
			return errors.New("no create request yet")
		}
		return nil
	})
	// A sub-account new to the shared list makes the other SubAccount read
	// the list afresh, with the account being created in it.
	other, err := sim.AddSubAccount(bsssim.SubAccount{Name: peer})
	must(t, err)
	createSubAccount(t, peer, budgetv1alpha1.SubAccountSpec{CustomerID: other.ID})
	waitForReason(t, peer, budgetv1alpha1.ReasonReady)
	if !beingCreated(login) {
		t.Logf("attempt %d: %s was Normal before %s read the list", attempt, login, peer)
		return false
	}

	waitForReason(t, name, budgetv1alpha1.ReasonReady)
	// A spec change makes the SubAccount verify the account again, from the
	// shared list.
	sa := getSubAccount(t, name)
	sa.Spec.MonthlyBudget = &budgetv1alpha1.MonthlyBudget{Amount: "100"}
	must(t, k8sClient.Update(context.Background(), sa))
	sa = waitForReason(t, name, budgetv1alpha1.ReasonReady)

	seen := readies(sa.ResourceVersion)
	creating, ready := false, false
	for _, r := range seen {
		switch {
		case r.Status == metav1.ConditionTrue:
			ready = true
		case ready:
			t.Errorf("Ready went back from True to %s/%s: %s (all: %v)", r.Status, r.Reason, r.Message, seen)
		case r.Reason == budgetv1alpha1.ReasonCreating:
			creating = true
		}
	}
	if !creating {
		t.Errorf("Ready conditions %v, want Creating before Ready", seen)
	}
	return true
}

// beingCreated reports that the simulator's account with the login name is
// still being created.
func beingCreated(login string) bool {
	for _, s := range sim.Snapshot().SubAccounts {
		if s.Name == login {
			return s.Status == bsssim.SubStatusCreating
		}
	}
	return false
}

// watchReady records every change of the SubAccount's Ready condition (its
// status, reason or message) that the API server stores, from now until the
// test ends. The function it returns gives the changes up to the version
// resourceVersion of the SubAccount, once the watch has delivered it.
func watchReady(t *testing.T, name string) func(resourceVersion string) []metav1.Condition {
	t.Helper()
	wc, err := client.NewWithWatch(restConfig, client.Options{Scheme: scheme.Scheme})
	must(t, err)
	w, err := wc.Watch(context.Background(), &budgetv1alpha1.SubAccountList{}, client.MatchingFields{"metadata.name": name})
	must(t, err)
	var (
		mu       sync.Mutex
		seen     []metav1.Condition
		versions = map[string]bool{}
		done     = make(chan struct{})
	)
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			sa, ok := ev.Object.(*budgetv1alpha1.SubAccount)
			if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) {
				continue
			}
			mu.Lock()
			versions[sa.ResourceVersion] = true
			c := meta.FindStatusCondition(sa.Status.Conditions, budgetv1alpha1.ConditionReady)
			if n := len(seen); c != nil && (n == 0 || seen[n-1].Status != c.Status || seen[n-1].Reason != c.Reason || seen[n-1].Message != c.Message) {
				seen = append(seen, *c)
			}
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.Stop(); <-done })
	return func(resourceVersion string) []metav1.Condition {
		t.Helper()
		var out []metav1.Condition
		eventually(t, "the watch delivers version "+resourceVersion+" of "+name, func() error {
			mu.Lock()
			defer mu.Unlock()
			if !versions[resourceVersion] {
				return errors.New("not yet")
			}
			out = append([]metav1.Condition(nil), seen...)
			return nil
		})
		return out
	}
}

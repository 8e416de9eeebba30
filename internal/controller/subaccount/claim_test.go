package subaccount

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
)

func TestCustomerIsAdoptedByOneSubAccount(t *testing.T) {
	shared, err := sim.AddSubAccount(bsssim.SubAccount{Name: "shared-1"})
	must(t, err)
	own, err := sim.AddSubAccount(bsssim.SubAccount{Name: "own-1"})
	must(t, err)
	// The names sort in creation order, so that the oldest claimant is the
	// same whether or not two were created within one second.
	const holder, second, recreated, byName = "claim-1-holder", "claim-2-second", "claim-3-recreated", "claim-4-by-name"
	heldBy := func(keeper string) string {
		return fmt.Sprintf("customer id %s is already adopted by SubAccount %s; two SubAccounts may not fund one customer", shared.ID, keeper)
	}
	refused := func(name, keeper string) {
		t.Helper()
		sa := waitForReason(t, name, budgetv1alpha1.ReasonCustomerIDInUse)
		c := condition(sa, budgetv1alpha1.ConditionReady)
		if c.Status != metav1.ConditionFalse || c.Message != heldBy(keeper) {
			t.Errorf("%s: Ready %s: %q, want False: %q", name, c.Status, c.Message, heldBy(keeper))
		}
		if sa.Status.CustomerID != "" || sa.Status.AccountName != "" || sa.Status.ReclaimableCash != "" {
			t.Errorf("%s keeps the customer in status: id %q, name %q, reclaimable %q", name, sa.Status.CustomerID, sa.Status.AccountName, sa.Status.ReclaimableCash)
		}
	}

	createSubAccount(t, holder, budgetv1alpha1.SubAccountSpec{CustomerID: shared.ID})
	waitForReason(t, holder, budgetv1alpha1.ReasonReady)

	createSubAccount(t, second, budgetv1alpha1.SubAccountSpec{CustomerID: shared.ID})
	refused(second, holder)
	if got := recorder.Await(second, budgetv1alpha1.ReasonCustomerIDInUse, holder, 1); got != 1 {
		t.Errorf("%d CustomerIDInUse events naming %s, want 1", got, holder)
	}

	// A SubAccount deleted and created again with the customer of another.
	createSubAccount(t, recreated, budgetv1alpha1.SubAccountSpec{CustomerID: own.ID})
	waitForReason(t, recreated, budgetv1alpha1.ReasonReady)
	deleteSubAccount(t, recreated)
	createSubAccount(t, recreated, budgetv1alpha1.SubAccountSpec{CustomerID: shared.ID})
	refused(recreated, holder)

	// Create mode finds the account by its login name: the same customer.
	createSubAccount(t, byName, budgetv1alpha1.SubAccountSpec{Create: &budgetv1alpha1.SubAccountCreate{
		AccountName: shared.Name, PartyID: "1234567890",
		PasswordSecretRef: budgetv1alpha1.SecretKeyReference{Name: "never-created"},
		Phone:             budgetv1alpha1.SubAccountPhone{UseMasterPhone: true},
	}})
	refused(byName, holder)

	// The keeper's deletion hands the customer to the oldest claimant at
	// once; the others are still refused, naming the new keeper. Nothing but
	// the deletion brings them back (they are not polled).
	if sa := getSubAccount(t, holder); sa.Status.CustomerID != shared.ID {
		t.Fatalf("the holder lost the customer: %+v", sa.Status)
	}
	deleted := time.Now()
	deleteSubAccount(t, holder)
	sa := waitForReason(t, second, budgetv1alpha1.ReasonReady)
	if sa.Status.CustomerID != shared.ID || sa.Status.AccountName != shared.Name {
		t.Errorf("%s took over customer %q (%s), want %s", second, sa.Status.CustomerID, sa.Status.AccountName, shared.ID)
	}
	if took := time.Since(deleted); took > 10*time.Second {
		t.Errorf("the customer was taken over %s after the deletion", took)
	}
	eventually(t, "the other claimants name "+second, func() error {
		for _, name := range []string{recreated, byName} {
			c := condition(getSubAccount(t, name), budgetv1alpha1.ConditionReady)
			if c.Reason != budgetv1alpha1.ReasonCustomerIDInUse || !strings.Contains(c.Message, "SubAccount "+second+";") {
				return fmt.Errorf("%s: Ready %s: %s", name, c.Reason, c.Message)
			}
		}
		return nil
	})
	if n := len(recorder.Of(byName, eventCreateRequested)); n != 0 {
		t.Errorf("%d CreateRequested events for %s, want none", n, byName)
	}
}

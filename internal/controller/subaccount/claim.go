package subaccount

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/metrics"
)

// claim decides whether the SubAccount may adopt the sub-account sub. One
// BSS customer is funded through one SubAccount only: two SubAccounts would
// each grant and reclaim against the same balance, and a SubAccount deleted
// and created again with another team's customer would take that team's
// money over. When another SubAccount keeps the customer, claim sets Ready
// to False (CustomerIDInUse), lets go of the customer in status (so that
// allocations see nothing to fund) and returns false; the watch on
// SubAccounts brings the SubAccount back when the keeper goes away.
func (r *Reconciler) claim(ctx context.Context, s *scope, sub bss.SubCustomer) (bool, error) {
	others, err := r.claimants(ctx, sub.ID, sub.Name)
	if err != nil {
		return false, err
	}
	keeper, holds := keeperOf(s.sa, others, sub.ID, sub.Name)
	if keeper == nil || keeper.Name == s.sa.Name {
		return true, nil
	}
	releaseCustomer(s)
	msg := fmt.Sprintf("customer id %s is already adopted by SubAccount %s; two SubAccounts may not fund one customer", sub.ID, keeper.Name)
	if !holds {
		msg = fmt.Sprintf("customer id %s is also claimed by SubAccount %s, which is older and adopts it; two SubAccounts may not fund one customer",
			sub.ID, keeper.Name)
	}
	s.fail(budgetv1alpha1.ReasonCustomerIDInUse, msg)
	return false, nil
}

// claimants lists the SubAccounts that claim or hold the customer: by
// spec.customerID or status.customerID, or in create mode by its login name.
func (r *Reconciler) claimants(ctx context.Context, id, name string) ([]budgetv1alpha1.SubAccount, error) {
	var byID, byName budgetv1alpha1.SubAccountList
	if err := r.List(ctx, &byID, client.MatchingFields{common.IndexSubAccountCustomer: id}); err != nil {
		return nil, fmt.Errorf("listing the SubAccounts of customer id %s: %w", id, err)
	}
	if name == "" {
		return byID.Items, nil
	}
	if err := r.List(ctx, &byName, client.MatchingFields{common.IndexSubAccountLoginName: name}); err != nil {
		return nil, fmt.Errorf("listing the SubAccounts creating sub-account %q: %w", name, err)
	}
	return append(byID.Items, byName.Items...), nil
}

// keeperOf picks the SubAccount that keeps customer id (login name name)
// among self and others, leaving out the ones being deleted. A SubAccount
// whose status already holds the customer keeps it, so that a new claimant
// never takes a customer away from the SubAccount funding it; when several
// hold it (two reconciles raced), the oldest does. When none holds it, the
// oldest claimant by spec does: spec.customerID, or spec.create.accountName
// for an account found by login name. holds reports that the keeper holds
// the customer already.
func keeperOf(self *budgetv1alpha1.SubAccount, others []budgetv1alpha1.SubAccount, id, name string) (keeper *budgetv1alpha1.SubAccount, holds bool) {
	var holder, claimant *budgetv1alpha1.SubAccount
	consider := func(sa *budgetv1alpha1.SubAccount, claims bool) {
		if !sa.DeletionTimestamp.IsZero() {
			return
		}
		if sa.Status.CustomerID == id && older(sa, holder) {
			holder = sa
		}
		if claims && older(sa, claimant) {
			claimant = sa
		}
	}
	consider(self, true)
	for i := range others {
		sa := &others[i]
		if sa.Name == self.Name {
			continue
		}
		consider(sa, sa.Spec.CustomerID == id || (name != "" && sa.Spec.Create != nil && sa.Spec.Create.AccountName == name))
	}
	if holder != nil {
		return holder, true
	}
	return claimant, false
}

// older orders SubAccounts by creation, then by name (creation timestamps
// have whole seconds); every SubAccount is older than nil.
func older(a, b *budgetv1alpha1.SubAccount) bool {
	if b == nil {
		return true
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// releaseCustomer drops everything status says about the sub-account, which
// belongs to the SubAccount that keeps it, and the metrics that show it.
// The grants of the allocations pointing at this SubAccount and the create
// bookkeeping stay.
func releaseCustomer(s *scope) {
	st := s.status()
	*st = budgetv1alpha1.SubAccountStatus{
		ObservedGeneration:       st.ObservedGeneration,
		Conditions:               st.Conditions,
		Granted:                  st.Granted,
		Allocations:              st.Allocations,
		VerificationCodeSentTime: st.VerificationCodeSentTime,
		CreateRequestedTime:      st.CreateRequestedTime,
	}
	meta.RemoveStatusCondition(&st.Conditions, budgetv1alpha1.ConditionBudgetExceeded)
	s.customerID, s.closed = "", false
	labels := map[string]string{"subaccount": s.sa.Name}
	metrics.SubAccountReclaimable.DeletePartialMatch(labels)
	metrics.SubAccountConsumption.DeletePartialMatch(labels)
	metrics.SubAccountBudgetRatio.DeletePartialMatch(labels)
}

// claimantsOf maps a SubAccount that lets a customer go (it is deleted, or
// its status.customerID changed) to the other SubAccounts that claim that
// customer, so that the next in line adopts it at once.
func (r *Reconciler) claimantsOf(ctx context.Context, o client.Object) []reconcile.Request {
	sa, ok := o.(*budgetv1alpha1.SubAccount)
	if !ok {
		return nil
	}
	seen := map[string]bool{sa.Name: true}
	var reqs []reconcile.Request
	add := func(field, value string) {
		if value == "" {
			return
		}
		var list budgetv1alpha1.SubAccountList
		if err := r.List(ctx, &list, client.MatchingFields{field: value}, client.UnsafeDisableDeepCopy); err != nil {
			log.FromContext(ctx).Error(err, "listing the SubAccounts that claim a customer", "subAccount", sa.Name, field, value)
			return
		}
		for i := range list.Items {
			if name := list.Items[i].Name; !seen[name] {
				seen[name] = true
				reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: name}})
			}
		}
	}
	add(common.IndexSubAccountCustomer, sa.Spec.CustomerID)
	add(common.IndexSubAccountCustomer, sa.Status.CustomerID)
	add(common.IndexSubAccountLoginName, sa.Status.AccountName)
	if c := sa.Spec.Create; c != nil {
		add(common.IndexSubAccountLoginName, c.AccountName)
	}
	return reqs
}

// customerReleased passes the SubAccount events after which another
// SubAccount may keep a customer: a deletion (or its start, when a
// finalizer holds the object) and a change of status.customerID.
func customerReleased() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldSA, okOld := e.ObjectOld.(*budgetv1alpha1.SubAccount)
			newSA, okNew := e.ObjectNew.(*budgetv1alpha1.SubAccount)
			if !okOld || !okNew {
				return false
			}
			return oldSA.Status.CustomerID != newSA.Status.CustomerID ||
				(oldSA.DeletionTimestamp.IsZero() && !newSA.DeletionTimestamp.IsZero())
		},
	}
}

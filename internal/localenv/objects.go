package localenv

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
)

// OperatorNamespace is the manager's default --operator-namespace.
const OperatorNamespace = "bss-budget-system"

// Namespace is a namespace with optional labels.
func Namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

// CredentialsSecret holds the simulator's default master credentials under
// the keys the README documents.
func CredentialsSecret(namespace, name string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		StringData: map[string]string{
			"accessKeyID":     bsssim.DefaultAccessKey,
			"secretAccessKey": bsssim.DefaultSecretKey,
			"domainID":        bsssim.DefaultDomainID,
		},
	}
}

// EnterpriseAccount connects to endpoint (a simulator) with the Secret
// secretName in the operator's namespace, syncing balances every 10s and
// bills every minute (the shortest the CRD allows).
func EnterpriseAccount(name, endpoint, secretName string) *budgetv1alpha1.EnterpriseAccount {
	return &budgetv1alpha1.EnterpriseAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: budgetv1alpha1.EnterpriseAccountSpec{
			Endpoint:             endpoint,
			CredentialsSecretRef: budgetv1alpha1.SecretReference{Name: secretName},
			BalanceSyncInterval:  &metav1.Duration{Duration: 10 * time.Second},
			BillingSyncInterval:  &metav1.Duration{Duration: time.Minute},
		},
	}
}

// SubAccount adopts customerID under enterprise and admits namespaces.
func SubAccount(name, enterprise, customerID string, namespaces ...string) *budgetv1alpha1.SubAccount {
	return &budgetv1alpha1.SubAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: budgetv1alpha1.SubAccountSpec{
			EnterpriseAccountRef: budgetv1alpha1.LocalObjectReference{Name: enterprise},
			CustomerID:           customerID,
			AllowedNamespaces:    &budgetv1alpha1.AllowedNamespaces{Names: namespaces},
		},
	}
}

// Allocation is a BudgetAllocation of amount (empty: none, for a topUp)
// from subAccount.
func Allocation(namespace, name, subAccount, amount string) *budgetv1alpha1.BudgetAllocation {
	ba := &budgetv1alpha1.BudgetAllocation{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec:       budgetv1alpha1.BudgetAllocationSpec{SubAccountRef: budgetv1alpha1.LocalObjectReference{Name: subAccount}},
	}
	if amount != "" {
		ba.Spec.Amount = Money(amount)
	}
	return ba
}

// Money returns a pointer to the amount s.
func Money(s string) *budgetv1alpha1.Money {
	m := budgetv1alpha1.Money(s)
	return &m
}

// CreateAll creates objects in order; objects that exist already are left
// alone.
func CreateAll(ctx context.Context, c client.Client, objs ...client.Object) error {
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}

// Ready returns the Ready condition, or nil.
func Ready(conds []metav1.Condition) *metav1.Condition {
	return meta.FindStatusCondition(conds, budgetv1alpha1.ConditionReady)
}

// IsReady reports whether the Ready condition is True.
func IsReady(conds []metav1.Condition) bool {
	c := Ready(conds)
	return c != nil && c.Status == metav1.ConditionTrue
}

// ReadyReason is the Ready condition's reason ("" without one).
func ReadyReason(conds []metav1.Condition) string {
	if c := Ready(conds); c != nil {
		return c.Reason
	}
	return ""
}

// AllocationSettled reports whether the operator has finished with the
// allocation's current generation: Ready with the desired grant and nothing
// in flight, or in a state that waits for a person (Plan mode, a refused
// namespace).
func AllocationSettled(ba *budgetv1alpha1.BudgetAllocation) bool {
	c := Ready(ba.Status.Conditions)
	if c == nil || c.ObservedGeneration != ba.Generation {
		return false
	}
	switch c.Reason {
	case budgetv1alpha1.ReasonReady:
		return c.Status == metav1.ConditionTrue && ba.Status.ObservedGeneration == ba.Generation && isZero(ba.Status.Pending)
	case budgetv1alpha1.ReasonPlanned, budgetv1alpha1.ReasonNamespaceNotAllowed, budgetv1alpha1.ReasonPaused:
		return true
	}
	return false
}

func isZero(pending string) bool {
	return pending == "" || pending == "0" || pending == "0.00"
}

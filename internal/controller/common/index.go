package common

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/movements"
)

// Field indexes shared by the controllers.
const (
	// IndexAllocationSubAccount indexes BudgetAllocations by spec.subAccountRef.name.
	IndexAllocationSubAccount = "spec.subAccountRef.name"
	// IndexSubAccountEnterprise indexes SubAccounts by spec.enterpriseAccountRef.name.
	IndexSubAccountEnterprise = "spec.enterpriseAccountRef.name"
	// IndexSubAccountCustomer indexes SubAccounts by the BSS customer id they
	// claim (spec.customerID) or hold (status.customerID).
	IndexSubAccountCustomer = "customerID"
	// IndexSubAccountLoginName indexes the SubAccounts in create mode by
	// spec.create.accountName: the sub-account they find or create by that
	// login name is the customer they claim.
	IndexSubAccountLoginName = "spec.create.accountName"
	// IndexTransferAllocation indexes BudgetTransfers by spec.allocationRef.name.
	IndexTransferAllocation = "spec.allocationRef.name"
	// IndexOpenTransferEnterprise indexes the BudgetTransfers that are not
	// final (not Succeeded or Failed) by spec.enterpriseAccountName.
	IndexOpenTransferEnterprise = "open.spec.enterpriseAccountName"
	// IndexPaymentSubAccount indexes OrderPayments by spec.subAccountName,
	// the name of their selectable field (payment.FieldSubAccount), so that
	// payment.ListOf reads the cache and the API server alike.
	IndexPaymentSubAccount = "spec.subAccountName"
	// IndexPaymentOrder indexes OrderPayments by spec.orderID
	// (payment.FieldOrderID).
	IndexPaymentOrder = "spec.orderID"
)

// Indexer is the part of a manager's field indexer the controllers need.
type Indexer interface {
	IndexField(ctx context.Context, obj client.Object, field string, extract client.IndexerFunc) error
}

// SetupIndexes registers every field index once; call it before the
// controllers are set up.
func SetupIndexes(ctx context.Context, idx Indexer) error {
	if err := idx.IndexField(ctx, &budgetv1alpha1.BudgetAllocation{}, IndexAllocationSubAccount, func(o client.Object) []string {
		return []string{o.(*budgetv1alpha1.BudgetAllocation).Spec.SubAccountRef.Name}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &budgetv1alpha1.SubAccount{}, IndexSubAccountEnterprise, func(o client.Object) []string {
		return []string{o.(*budgetv1alpha1.SubAccount).Spec.EnterpriseAccountRef.Name}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &budgetv1alpha1.SubAccount{}, IndexSubAccountCustomer, func(o client.Object) []string {
		return customerIDs(o.(*budgetv1alpha1.SubAccount))
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &budgetv1alpha1.SubAccount{}, IndexSubAccountLoginName, func(o client.Object) []string {
		if c := o.(*budgetv1alpha1.SubAccount).Spec.Create; c != nil && c.AccountName != "" {
			return []string{c.AccountName}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &budgetv1alpha1.BudgetTransfer{}, IndexTransferAllocation, func(o client.Object) []string {
		return []string{o.(*budgetv1alpha1.BudgetTransfer).Spec.AllocationRef.Name}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &budgetv1alpha1.OrderPayment{}, IndexPaymentSubAccount, func(o client.Object) []string {
		return []string{o.(*budgetv1alpha1.OrderPayment).Spec.SubAccountName}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &budgetv1alpha1.OrderPayment{}, IndexPaymentOrder, func(o client.Object) []string {
		return []string{o.(*budgetv1alpha1.OrderPayment).Spec.OrderID}
	}); err != nil {
		return err
	}
	return idx.IndexField(ctx, &budgetv1alpha1.BudgetTransfer{}, IndexOpenTransferEnterprise, func(o client.Object) []string {
		bt := o.(*budgetv1alpha1.BudgetTransfer)
		if p := bt.Status.Phase; p == budgetv1alpha1.PhaseSucceeded || p == budgetv1alpha1.PhaseFailed {
			return nil
		}
		return []string{bt.Spec.EnterpriseAccountName}
	})
}

// customerIDs are the customer ids a SubAccount claims or holds, each once.
func customerIDs(sa *budgetv1alpha1.SubAccount) []string {
	var ids []string
	if id := sa.Spec.CustomerID; id != "" {
		ids = append(ids, id)
	}
	if id := sa.Status.CustomerID; id != "" && id != sa.Spec.CustomerID {
		ids = append(ids, id)
	}
	return ids
}

// SubCustomerIDs lists the customer ids of the SubAccounts of the
// EnterpriseAccount named ea (those BSS has identified).
func SubCustomerIDs(ctx context.Context, c client.Reader, ea string) ([]string, error) {
	var list budgetv1alpha1.SubAccountList
	if err := c.List(ctx, &list, client.MatchingFields{IndexSubAccountEnterprise: ea}); err != nil {
		return nil, err
	}
	var ids []string
	for i := range list.Items {
		if id := list.Items[i].Status.CustomerID; id != "" {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// KnownMovements are the operator's cash and credit movements for the
// master behind the EnterpriseAccount named ea: its BudgetTransfers and
// the entries of the audit trail (LedgerRecords).
func KnownMovements(ctx context.Context, c client.Reader, ea string) ([]movements.Known, error) {
	var out []movements.Known
	var transfers budgetv1alpha1.BudgetTransferList
	if err := c.List(ctx, &transfers, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	for i := range transfers.Items {
		t := &transfers.Items[i]
		if t.Spec.EnterpriseAccountName != "" && t.Spec.EnterpriseAccountName != ea {
			continue
		}
		if k, ok := movements.OfTransfer(t); ok {
			out = append(out, k)
		}
	}
	var trail budgetv1alpha1.LedgerRecordList
	if err := c.List(ctx, &trail, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	for i := range trail.Items {
		for j := range trail.Items[i].Spec.Entries {
			e := &trail.Items[i].Spec.Entries[j]
			if e.EnterpriseAccount != "" && e.EnterpriseAccount != ea {
				continue
			}
			if k, ok := movements.OfEntry(e); ok {
				out = append(out, k)
			}
		}
	}
	return out, nil
}

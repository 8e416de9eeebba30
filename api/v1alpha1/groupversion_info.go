// Package v1alpha1 contains the budget.bss.dev/v1alpha1 API: EnterpriseAccount,
// SubAccount, BudgetAllocation, BudgetTransfer and LedgerRecord.
//
// +kubebuilder:object:generate=true
// +groupName=budget.bss.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "budget.bss.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the API types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the API types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&EnterpriseAccount{}, &EnterpriseAccountList{},
		&SubAccount{}, &SubAccountList{},
		&BudgetAllocation{}, &BudgetAllocationList{},
		&BudgetTransfer{}, &BudgetTransferList{},
		&LedgerRecord{}, &LedgerRecordList{},
		&OrderPayment{}, &OrderPaymentList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

package framework

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
)

func TestUnsettled(t *testing.T) {
	alloc := func(name, granted, reason string, status metav1.ConditionStatus) budgetv1alpha1.BudgetAllocation {
		return budgetv1alpha1.BudgetAllocation{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name, Generation: 1},
			Status: budgetv1alpha1.BudgetAllocationStatus{
				ObservedGeneration: 1, Granted: budgetv1alpha1.Money(granted),
				Conditions: []metav1.Condition{{Type: budgetv1alpha1.ConditionReady, Status: status, Reason: reason, ObservedGeneration: 1}},
			},
		}
	}
	list := []budgetv1alpha1.BudgetAllocation{
		alloc("done", "10.00", budgetv1alpha1.ReasonReady, metav1.ConditionTrue),
		alloc("short", "5.00", budgetv1alpha1.ReasonReady, metav1.ConditionTrue),
		alloc("moving", "0.00", budgetv1alpha1.ReasonTransferInProgress, metav1.ConditionFalse),
		alloc("leaving", "3.00", budgetv1alpha1.ReasonReclaiming, metav1.ConditionFalse),
	}
	got := Unsettled(list, []Declared{
		{Namespace: "team", Name: "done", Granted: "10.00"},
		{Namespace: "team", Name: "short", Granted: "7.00"},
		{Namespace: "team", Name: "moving", Granted: "2.00"},
		{Namespace: "team", Name: "leaving", Deleted: true},
		{Namespace: "team", Name: "gone", Deleted: true},
		{Namespace: "team", Name: "absent", Granted: "1.00"},
	})
	want := []string{
		"team/short granted 5.00 of 7.00 (Ready)",
		"team/moving granted 0.00 of 2.00 (TransferInProgress)",
		"team/leaving deleting (Reclaiming)",
		"team/absent missing",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Unsettled = %q, want %q", got, want)
	}
	if s := Summarize(append(want, want...)); s != "8 allocations not settled, such as "+want[0]+"; "+want[1]+"; "+want[2]+"; "+want[3]+"; "+want[0] {
		t.Errorf("Summarize = %q", s)
	}
}

package budgetallocation_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/budgetallocation"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// TestReclaimLeavesTheTeamsOwnMoney: the team was granted 400.00, spent
// 200.00 since (its bills show 300.00 this cycle, 100.00 of it before the
// grant) and topped up its account itself, so BSS reports 500.00
// reclaimable. Lowered to nothing, the allocation reclaims 200.00 where
// reclaimable cash may include the team's own money, never the 400.00
// that would take 200.00 of it; and the 400.00 where reclaimable cash is
// declared to be the master's money only.
func TestReclaimLeavesTheTeamsOwnMoney(t *testing.T) {
	for _, c := range []struct {
		declared *budgetv1alpha1.BSSBehaviour
		want     string
	}{
		{nil, "200.00"},
		{&budgetv1alpha1.BSSBehaviour{Reclaimable: budgetv1alpha1.ReclaimableTotalBalance}, "200.00"},
		{&budgetv1alpha1.BSSBehaviour{Reclaimable: budgetv1alpha1.ReclaimableFundedOnly}, "400.00"},
	} {
		name := "Unknown"
		if c.declared != nil {
			name = c.declared.Reclaimable
		}
		t.Run(name, func(t *testing.T) {
			ea := &budgetv1alpha1.EnterpriseAccount{ObjectMeta: metav1.ObjectMeta{Name: master},
				Spec: budgetv1alpha1.EnterpriseAccountSpec{CredentialsSecretRef: budgetv1alpha1.SecretReference{Name: "creds"}, BSSBehaviour: c.declared}}
			ea.Status.Conditions = []metav1.Condition{{Type: budgetv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: budgetv1alpha1.ReasonReady, LastTransitionTime: metav1.NewTime(now)}}
			sa := &budgetv1alpha1.SubAccount{ObjectMeta: metav1.ObjectMeta{Name: "team"},
				Spec: budgetv1alpha1.SubAccountSpec{EnterpriseAccountRef: budgetv1alpha1.LocalObjectReference{Name: master}, CustomerID: customer,
					AllowedNamespaces: &budgetv1alpha1.AllowedNamespaces{Names: []string{"team"}}}}
			sa.Status = budgetv1alpha1.SubAccountStatus{CustomerID: customer, ReclaimableCash: "500.00",
				Conditions:   []metav1.Condition{{Type: budgetv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: budgetv1alpha1.ReasonReady, LastTransitionTime: metav1.NewTime(now)}},
				CurrentCycle: &budgetv1alpha1.BillCycleSummary{Cycle: billcycle.Of(now), Cash: "300.00"}}
			ba := &budgetv1alpha1.BudgetAllocation{
				ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "team", UID: "uid-a", Generation: 2, CreationTimestamp: metav1.NewTime(now.Add(-time.Hour)),
					Annotations: map[string]string{budgetv1alpha1.AnnotationLedgerID: "team/a/uid-a"}},
				Spec: budgetv1alpha1.BudgetAllocationSpec{SubAccountRef: budgetv1alpha1.LocalObjectReference{Name: "team"}, Amount: ptr.To(m("0.00")),
					BalanceType: budgetv1alpha1.BalanceTypeDebit, ManagementPolicy: budgetv1alpha1.ManagementPolicyManaged, DeletionPolicy: budgetv1alpha1.DeletionPolicyRetain},
				Status: budgetv1alpha1.BudgetAllocationStatus{CustomerID: customer,
					SpendBaseline: &budgetv1alpha1.SpendBaseline{Cycle: billcycle.Of(now), Cash: "100.00"}},
			}
			pc := &pcase{ba: ba, masterCash: money.MustParse("1000"), subCash: money.MustParse("500"),
				objs: []client.Object{ea, sa, ba, transfer(ba, 1, budgetv1alpha1.OperationTransfer, "400.00", budgetv1alpha1.PhaseSucceeded)}}
			k8s, reg, _ := pc.world(t)
			opts := common.Options{Clock: clocktesting.NewFakeClock(now)}
			opts.Defaults()
			r := &budgetallocation.Reconciler{Client: k8s, Recorder: events.NewFakeRecorder(100), Registry: reg, Options: opts}
			_, reason, created := reconcileAllocation(t, k8s, r, pc)
			if created == nil || created.Spec.Operation != budgetv1alpha1.OperationReclaim || string(created.Spec.Amount) != c.want {
				t.Fatalf("reason %s, created %+v; want a Reclaim of %s", reason, ptrOr(created).Spec, c.want)
			}
		})
	}
}

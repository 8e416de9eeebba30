package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/budgetallocation"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

// readyMessage is the message of the transfer's Ready condition.
func readyMessage(bt *budgetv1alpha1.BudgetTransfer) string {
	if c := meta.FindStatusCondition(bt.Status.Conditions, budgetv1alpha1.ConditionReady); c != nil {
		return c.Message
	}
	return ""
}

// TestCycleBudgetStopsSplitRaises raises an allocation in steps under
// autoApproveUpTo 100.00: once the steps add up past 100.00 in the cycle,
// the next one waits for approval however small it is, and so does the
// first transfer of another allocation of the same sub-account.
func TestCycleBudgetStopsSplitRaises(t *testing.T) {
	tm := approvalTeam(t, "cycle", "100")
	tm.create(t, tm.allocation("steps", "60"))
	tm.waitReady(t, "steps", "60.00")
	tm.update(t, "steps", setAmount("100"))
	tm.waitReady(t, "steps", "100.00")

	tm.update(t, "steps", setAmount("110"))
	bt := tm.awaitingTransfer(t, "steps")
	if msg := readyMessage(&bt); !strings.Contains(msg, "Transfer 10.00 would take what moved to sub-account "+tm.sa+" without approval") ||
		!strings.Contains(msg, "to 110.00, above the auto-approval budget 100.00 per sub-account and cycle") {
		t.Errorf("AwaitingApproval message = %q", msg)
	}
	approve(t, &bt, budgetv1alpha1.ConditionApproved)
	tm.waitReady(t, "steps", "110.00")

	// An approved transfer does not draw on the budget; the auto-approved
	// 100.00 do.
	tm.create(t, tm.allocation("other", "5"))
	other := tm.awaitingTransfer(t, "other")
	if msg := readyMessage(&other); !strings.Contains(msg, "to 105.00") {
		t.Errorf("AwaitingApproval message = %q", msg)
	}
	tm.expectLedger(t, "110.00")
}

// TestSimultaneousAllocationsShareTheCycleBudget creates three allocations
// of the limit at once, then raises the one that moved: whatever order the
// transfer controller's workers take them in, only one limit's worth moves
// without approval.
func TestSimultaneousAllocationsShareTheCycleBudget(t *testing.T) {
	tm := approvalTeam(t, "cycle-three", "200")
	for _, name := range []string{"one", "two", "three"} {
		tm.create(t, tm.allocation(name, "200"))
	}
	var funded string
	testenv.Eventually(t, 30*time.Second, "one allocation funded, two waiting for approval", func() bool {
		ready, waiting := 0, 0
		for _, name := range []string{"one", "two", "three"} {
			switch common.ReadyReason(tm.get(t, name).Status.Conditions, budgetv1alpha1.ConditionReady) {
			case budgetv1alpha1.ReasonReady:
				ready++
				funded = name
			case budgetv1alpha1.ReasonAwaitingApproval:
				waiting++
			}
		}
		return ready == 1 && waiting == 2
	}, func() string { return tm.describe("one")() })
	tm.update(t, funded, setAmount("201"))
	tm.awaitingTransfer(t, funded)
	tm.expectLedger(t, "200.00")
}

// TestApprovalFailsClosed: a transfer whose EnterpriseAccount cannot be read
// waits for an approver instead of moving.
func TestApprovalFailsClosed(t *testing.T) {
	ctx := context.Background()
	tm := newTeam(t)
	bt := &budgetv1alpha1.BudgetTransfer{
		ObjectMeta: metav1.ObjectMeta{Name: "orphan-00001", Namespace: tm.ns},
		Spec: budgetv1alpha1.BudgetTransferSpec{
			AllocationRef: budgetv1alpha1.LocalObjectReference{Name: "orphan"}, SubAccountName: tm.sa, EnterpriseAccountName: "no-such-master",
			CustomerID: tm.customerID, Operation: budgetv1alpha1.OperationTransfer, Amount: "1.00",
			BalanceType: budgetv1alpha1.BalanceTypeDebit, TransID: budgetallocation.TransID("orphan-uid", 1), Sequence: 1,
		},
	}
	if err := k8s.Create(ctx, bt); err != nil {
		t.Fatal(err)
	}
	var got budgetv1alpha1.BudgetTransfer
	testenv.Eventually(t, 30*time.Second, "transfer waits for approval", func() bool {
		return k8s.Get(ctx, client.ObjectKeyFromObject(bt), &got) == nil && got.Status.Phase == budgetv1alpha1.PhaseAwaitingApproval
	}, func() string { return string(got.Status.Phase) + " " + readyMessage(&got) })
	if msg := readyMessage(&got); !strings.Contains(msg, "approval settings cannot be read") || !strings.Contains(msg, "no-such-master") {
		t.Errorf("AwaitingApproval message = %q", msg)
	}
	tm.expectLedger(t, "0.00")
}

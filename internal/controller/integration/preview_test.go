package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/planner"
	"github.com/bss-budget-operator/bss-budget-operator/internal/plugin"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

// previewThenApply previews ba as `kubectl budget plan` does (a server-side
// dry run, then the operator's planner on the published figures), creates
// it, and checks that the operator does what the preview said: the same
// transfer (operation, amount, balance type, credit expiry, coupon, and
// whether it waits for approval), or the same reason and message when
// nothing moves.
func (tm *team) previewThenApply(t *testing.T, ba *budgetv1alpha1.BudgetAllocation) plugin.Preview {
	t.Helper()
	ctx := context.Background()
	dry := ba.DeepCopy()
	if err := k8s.Create(ctx, dry, client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	p := plugin.Predict(ctx, k8s, dry, nil, time.Now())
	if p.Gate != nil {
		t.Fatalf("preview stops at %s: %s", p.Gate.Reason, p.Gate.Message)
	}
	next := p.Next.Decision
	t.Logf("preview: %s (%s: %s)", planner.Describe(next), next.Action, next.Message)
	tm.create(t, ba)

	if next.Action != planner.ActionCreate {
		got := tm.waitReason(t, ba.Name, next.Reason)
		msg, want := common.ConditionMessage(got.Status.Conditions, budgetv1alpha1.ConditionReady), next.Message
		if next.Reason == budgetv1alpha1.ReasonInsufficientFunds {
			// "the master has X transferable cash; Y is needed": X is the
			// operator's fresh read, the preview's the published figure,
			// which other tests' movements may have moved since.
			_, msg, _ = strings.Cut(msg, "; ")
			_, want, _ = strings.Cut(want, "; ")
		}
		if msg != want {
			t.Errorf("operator says %q, preview said %q", msg, want)
		}
		for _, x := range tm.transfers(t) {
			if x.Spec.AllocationRef.Name == ba.Name {
				t.Errorf("transfer %s created; the preview said nothing moves", x.Name)
			}
		}
		return p
	}
	var bt budgetv1alpha1.BudgetTransfer
	testenv.Eventually(t, 30*time.Second, "the first transfer decided", func() bool {
		for _, x := range tm.transfers(t) {
			if x.Spec.AllocationRef.Name == ba.Name && x.Status.Phase != "" && x.Status.Phase != budgetv1alpha1.PhasePending {
				bt = x
				return true
			}
		}
		return false
	}, tm.describe(ba.Name))
	credit := bt.Spec.BalanceType == budgetv1alpha1.BalanceTypeCredit
	if bt.Spec.Operation != next.Operation || string(bt.Spec.Amount) != next.Amount.String() || bt.Spec.ExpireTime != next.ExpireTime ||
		bt.Spec.CouponID != next.CouponID || credit != next.Credit {
		t.Errorf("operator created %s %s (credit %v, expiring %q, coupon %q); preview said %s", bt.Spec.Operation, bt.Spec.Amount,
			credit, bt.Spec.ExpireTime, bt.Spec.CouponID, planner.Describe(next))
	}
	waits := bt.Status.Phase == budgetv1alpha1.PhaseAwaitingApproval
	if v := p.Next.Approval; v == nil || v.Needed != waits {
		t.Errorf("transfer %s is %s; preview's approval verdict %+v (%s)", bt.Name, bt.Status.Phase, v, p.Next.ApprovalUnknown)
	}
	return p
}

// TestPreviewIsWhatTheOperatorDoes applies allocations the preview says
// will hit the SubAccount's fundingLimit, move credit from the one ledger
// that covers it, need approval, and find the master short, and compares.
func TestPreviewIsWhatTheOperatorDoes(t *testing.T) {
	t.Run("fundingLimit", func(t *testing.T) {
		tm := newTeam(t, withFundingLimit("100"))
		tm.create(t, tm.allocation("first", "80"))
		tm.waitReady(t, "first", "80.00")
		p := tm.previewThenApply(t, tm.allocation("second", "50"))
		if p.Next.Reason != budgetv1alpha1.ReasonFundingLimitExceeded {
			t.Errorf("preview: %s %s, want FundingLimitExceeded", p.Next.Action, p.Next.Reason)
		}
	})
	t.Run("credit", func(t *testing.T) {
		tm := newTeam(t)
		master, _ := sim.Master("")
		var permanent money.Amount
		for _, l := range master.CreditLedgers {
			if l.ExpireTime == nil {
				permanent = l.Balance
			}
		}
		// More than the permanent ledger holds: only an expiring one covers it.
		amount := permanent.Add(money.Yuan(1)).String()
		p := tm.previewThenApply(t, tm.allocation("credit", amount, func(ba *budgetv1alpha1.BudgetAllocation) {
			ba.Spec.BalanceType = budgetv1alpha1.BalanceTypeCredit
		}))
		if !p.Next.Credit || p.Next.ExpireTime == "" {
			t.Errorf("preview: %s, want credit from an expiring ledger", planner.Describe(p.Next.Decision))
		}
	})
	t.Run("approval", func(t *testing.T) {
		tm := approvalTeam(t, "preview-approval", "50.00")
		p := tm.previewThenApply(t, tm.allocation("big", "80"))
		if v := p.Next.Approval; v == nil || !v.Needed {
			t.Errorf("preview: approval %+v, want needed", v)
		}
		// A raise in steps under the per-transfer limit is caught by the
		// cycle budget (50.00 by default): 30.00 more, after 80.00 approved.
		bt := tm.awaitingTransfer(t, "big")
		approve(t, &bt, budgetv1alpha1.ConditionApproved)
		tm.waitReady(t, "big", "80.00")
		p = tm.previewThenApply(t, tm.allocation("step", "30"))
		if v := p.Next.Approval; v == nil || v.Needed {
			t.Errorf("preview: approval %+v, want none: an approved transfer does not draw on the cycle budget", v)
		}
	})
	t.Run("insufficientFunds", func(t *testing.T) {
		tm := newTeam(t)
		ea := getEnterpriseAccount(t, eaName)
		cash, err := money.Parse(string(ea.Status.TransferableCash))
		if err != nil || !common.IsTrue(ea.Status.Conditions, budgetv1alpha1.ConditionReady) {
			t.Fatalf("EnterpriseAccount %s: cash %q (%v), conditions %+v", eaName, ea.Status.TransferableCash, err, ea.Status.Conditions)
		}
		p := tm.previewThenApply(t, tm.allocation("huge", cash.Add(money.Yuan(1_000_000)).String()))
		if p.Next.Reason != budgetv1alpha1.ReasonInsufficientFunds {
			t.Errorf("preview: %s %s, want InsufficientFunds", p.Next.Action, p.Next.Reason)
		}
	})
}

package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

// netOf is the simulator's net for one customer: cash and credit
// transferred minus reclaimed.
func netOf(customerID string) money.Amount {
	return (&team{customerID: customerID}).net()
}

// newCustomer adds an empty sub-account to the simulator and returns its id.
func newCustomer(t *testing.T, name string) string {
	t.Helper()
	zero := money.Zero
	sub, err := sim.AddSubAccount(bsssim.SubAccount{Name: name, OrgID: "1234567890", Status: 1,
		PermissionIDs: []string{"READ_FINANCE_INFO", "READ_CONSUME_BILL"}, ConsumptionRate: &zero})
	if err != nil {
		t.Fatal(err)
	}
	return sub.ID
}

// recreateSubAccount deletes the team's SubAccount and creates it again,
// admitting the team's namespace, for customerID: what an administrator does
// who re-points a SubAccount.
func (tm *team) recreateSubAccount(t *testing.T, customerID string, mutate ...func(*budgetv1alpha1.SubAccount)) {
	t.Helper()
	ctx := context.Background()
	var old budgetv1alpha1.SubAccount
	if err := k8s.Get(ctx, types.NamespacedName{Name: tm.sa}, &old); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Delete(ctx, &old); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "SubAccount deleted", func() bool {
		return apierrors.IsNotFound(k8s.Get(ctx, types.NamespacedName{Name: tm.sa}, &budgetv1alpha1.SubAccount{}))
	}, tm.saConditions)
	sa := localenv.SubAccount(tm.sa, old.Spec.EnterpriseAccountRef.Name, customerID, tm.ns)
	for _, m := range mutate {
		m(sa)
	}
	if err := k8s.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
}

// updateSubAccount changes the team's SubAccount, retrying on conflicts.
func (tm *team) updateSubAccount(t *testing.T, mutate func(*budgetv1alpha1.SubAccount)) {
	t.Helper()
	if err := testenv.Wait(context.Background(), 10*time.Second, testenv.PollInterval, func(context.Context) (bool, error) {
		var sa budgetv1alpha1.SubAccount
		if err := k8s.Get(context.Background(), types.NamespacedName{Name: tm.sa}, &sa); err != nil {
			return false, err
		}
		mutate(&sa)
		err := k8s.Update(context.Background(), &sa)
		return err == nil, err
	}, nil); err != nil {
		t.Fatal(err)
	}
}

func previous(customerID string, policy budgetv1alpha1.PreviousCustomerPolicy) func(*budgetv1alpha1.SubAccount) {
	return func(sa *budgetv1alpha1.SubAccount) {
		sa.Spec.PreviousCustomers = append(sa.Spec.PreviousCustomers, budgetv1alpha1.PreviousCustomer{CustomerID: customerID, Policy: policy})
	}
}

func expectNet(t *testing.T, customerID, want string) {
	t.Helper()
	if got := netOf(customerID); got != money.MustParse(want) {
		t.Errorf("simulator net of %s = %s, want %s", customerID, got, want)
	}
}

// TestRecreatedSubAccountNeverTouchesAnotherCustomer is the administrator's
// mistake of re-creating SubAccount team-c with the customer id team-b
// already holds. Nothing of team-b's may move: the re-created SubAccount is
// refused, the allocation moves nothing, and once the administrator points
// it back, deleting the allocation with Reclaim takes back what it gave
// team-c's customer and nothing from team-b's. In the end every customer's
// net equals the sum of the allocations that point to it.
func TestRecreatedSubAccountNeverTouchesAnotherCustomer(t *testing.T) {
	c, b := newTeam(t), newTeam(t)
	c.create(t, c.allocation("storage", "800", func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.DeletionPolicy = budgetv1alpha1.DeletionPolicyReclaim
	}))
	b.create(t, b.allocation("web", "300"))
	c.waitReady(t, "storage", "800.00")
	b.waitReady(t, "web", "300.00")

	c.recreateSubAccount(t, b.customerID)
	testenv.Eventually(t, 30*time.Second, "re-created SubAccount refused", func() bool {
		var sa budgetv1alpha1.SubAccount
		return k8s.Get(context.Background(), types.NamespacedName{Name: c.sa}, &sa) == nil &&
			common.ReadyReason(sa.Status.Conditions, budgetv1alpha1.ConditionReady) == budgetv1alpha1.ReasonCustomerIDInUse &&
			strings.Contains(meta.FindStatusCondition(sa.Status.Conditions, budgetv1alpha1.ConditionReady).Message, b.sa)
	}, c.saConditions)
	ba := c.waitReason(t, "storage", budgetv1alpha1.ReasonSubAccountNotReady)
	if ba.Status.CustomerID == b.customerID {
		t.Errorf("allocation now claims customer %s", ba.Status.CustomerID)
	}

	// Deleting the allocation reclaims nothing from team-b while the
	// SubAccount is refused...
	if err := k8s.Delete(context.Background(), c.get(t, "storage")); err != nil {
		t.Fatal(err)
	}
	c.waitReason(t, "storage", budgetv1alpha1.ReasonReclaimBlocked)
	expectNet(t, b.customerID, "300.00")
	expectNet(t, c.customerID, "800.00")

	// ...and once the administrator points it back, it reclaims from the
	// customer it gave the money to.
	c.recreateSubAccount(t, c.customerID)
	c.waitGone(t, "storage")
	expectNet(t, c.customerID, "0.00")
	expectNet(t, b.customerID, "300.00")
	b.waitReady(t, "web", "300.00")
	if err := sim.CheckLedger(); err != nil {
		t.Error(err)
	}
}

// TestPreviousCustomerReclaimOrRelease re-points SubAccounts to new
// customers. An allocation that gave money to the old one stops with
// CustomerChanged and moves nothing until the administrator decides: Reclaim
// takes the money back from the old customer and then funds the new one;
// Release leaves it and funds the new one from zero.
func TestPreviousCustomerReclaimOrRelease(t *testing.T) {
	for _, policy := range []budgetv1alpha1.PreviousCustomerPolicy{budgetv1alpha1.PreviousCustomerReclaim, budgetv1alpha1.PreviousCustomerRelease} {
		t.Run(string(policy), func(t *testing.T) {
			tm := newTeam(t)
			old := tm.customerID
			tm.create(t, tm.allocation("a", "800"))
			tm.waitReady(t, "a", "800.00")

			next := newCustomer(t, tm.sa+"-next")
			tm.recreateSubAccount(t, next)
			ba := tm.waitReason(t, "a", budgetv1alpha1.ReasonCustomerChanged)
			msg := meta.FindStatusCondition(ba.Status.Conditions, budgetv1alpha1.ConditionReady).Message
			if !strings.Contains(msg, "800.00 to customer "+old) || !strings.Contains(msg, "spec.previousCustomers") {
				t.Errorf("CustomerChanged message = %q", msg)
			}
			if ba.Status.Granted != "0.00" || ba.Status.CustomerID != next {
				t.Errorf("granted %s to %s; want 0.00 to %s (the money is with %s)", ba.Status.Granted, ba.Status.CustomerID, next, old)
			}
			expectNet(t, old, "800.00")
			expectNet(t, next, "0.00")

			tm.updateSubAccount(t, previous(old, policy))
			tm.waitReady(t, "a", "800.00")
			expectNet(t, next, "800.00")
			if policy == budgetv1alpha1.PreviousCustomerReclaim {
				expectNet(t, old, "0.00")
			} else {
				expectNet(t, old, "800.00")
			}
			for _, bt := range tm.transfers(t) {
				if bt.Spec.Operation == budgetv1alpha1.OperationReclaim && bt.Spec.CustomerID != old {
					t.Errorf("reclaim %s from %s, not from the previous customer", bt.Name, bt.Spec.CustomerID)
				}
			}
		})
	}
}

// awaitingTransfer returns the team's transfer waiting for approval.
func (tm *team) awaitingTransfer(t *testing.T, allocation string) budgetv1alpha1.BudgetTransfer {
	t.Helper()
	tm.waitReason(t, allocation, budgetv1alpha1.ReasonAwaitingApproval)
	for _, bt := range tm.transfers(t) {
		if bt.Status.Phase == budgetv1alpha1.PhaseAwaitingApproval && bt.Spec.AllocationRef.Name == allocation {
			return bt
		}
	}
	t.Fatalf("no transfer of %s waits for approval: %s", allocation, tm.describe(allocation)())
	return budgetv1alpha1.BudgetTransfer{}
}

// waitTransfer waits until the transfer's Ready reason is reason.
func waitTransfer(t *testing.T, bt *budgetv1alpha1.BudgetTransfer, phase budgetv1alpha1.TransferPhase, reason string) *budgetv1alpha1.BudgetTransfer {
	t.Helper()
	var got budgetv1alpha1.BudgetTransfer
	testenv.Eventually(t, 30*time.Second, bt.Name+" "+string(phase)+"/"+reason, func() bool {
		return k8s.Get(context.Background(), client.ObjectKeyFromObject(bt), &got) == nil && got.Status.Phase == phase &&
			common.ReadyReason(got.Status.Conditions, budgetv1alpha1.ConditionReady) == reason
	}, func() string {
		return string(got.Status.Phase) + " " + common.ReadyReason(got.Status.Conditions, budgetv1alpha1.ConditionReady)
	})
	return &got
}

// approvalTeam is a team funded by its own EnterpriseAccount, which
// auto-approves transfers up to limit.
func approvalTeam(t *testing.T, enterprise, limit string) *team {
	t.Helper()
	if err := k8s.Create(context.Background(), enterpriseAccount(enterprise, credsName, money2(limit))); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	tm := newTeam(t, withEnterprise(enterprise))
	tm.waitSubAccountReady(t)
	return tm
}

func setPolicy(p budgetv1alpha1.ManagementPolicy) func(*budgetv1alpha1.BudgetAllocation) {
	return func(ba *budgetv1alpha1.BudgetAllocation) { ba.Spec.ManagementPolicy = p }
}

// TestPausedOrPlanWithdrawsTransferAwaitingApproval: a transfer waiting for
// approval is withdrawn when the allocation is Paused or set to Plan, and an
// approval that comes afterwards moves nothing.
func TestPausedOrPlanWithdrawsTransferAwaitingApproval(t *testing.T) {
	tm := approvalTeam(t, "withdraw", "100")
	tm.create(t, tm.allocation("big", "250"))

	for _, mode := range []budgetv1alpha1.ManagementPolicy{budgetv1alpha1.ManagementPolicyPaused, budgetv1alpha1.ManagementPolicyPlan} {
		bt := tm.awaitingTransfer(t, "big")
		tm.update(t, "big", setPolicy(mode))
		got := waitTransfer(t, &bt, budgetv1alpha1.PhaseFailed, budgetv1alpha1.ReasonWithdrawn)
		if msg := meta.FindStatusCondition(got.Status.Conditions, budgetv1alpha1.ConditionReady).Message; !strings.Contains(msg, string(mode)) {
			t.Errorf("%s: withdrawal message %q does not say why", mode, msg)
		}
		// The approver comes too late: the approval moves nothing.
		approve(t, &bt, budgetv1alpha1.ConditionApproved)
		tm.update(t, "big", setPolicy(budgetv1alpha1.ManagementPolicyManaged))
		if next := tm.awaitingTransfer(t, "big"); next.Name == bt.Name {
			t.Fatalf("%s: %s waits for approval again", mode, bt.Name)
		}
		waitTransfer(t, &bt, budgetv1alpha1.PhaseFailed, budgetv1alpha1.ReasonWithdrawn)
		tm.expectLedger(t, "0.00")
	}
	bt := tm.awaitingTransfer(t, "big")
	approve(t, &bt, budgetv1alpha1.ConditionApproved)
	tm.waitReady(t, "big", "250.00")
	tm.expectLedger(t, "250.00")
}

// TestApprovalWhileManagerDownAfterPause approves a transfer and pauses its
// allocation while no manager runs: whichever controller of the new manager
// comes first, the approved transfer must not be sent.
func TestApprovalWhileManagerDownAfterPause(t *testing.T) {
	tm := approvalTeam(t, "withdraw-down", "100")
	tm.create(t, tm.allocation("big", "300"))
	bt := tm.awaitingTransfer(t, "big")

	stopManager()
	tm.update(t, "big", setPolicy(budgetv1alpha1.ManagementPolicyPaused))
	approve(t, &bt, budgetv1alpha1.ConditionApproved)
	stopManager = startManager(testOptions)

	waitTransfer(t, &bt, budgetv1alpha1.PhaseFailed, budgetv1alpha1.ReasonWithdrawn)
	tm.waitReason(t, "big", budgetv1alpha1.ReasonPaused)
	tm.expectLedger(t, "0.00")
}

func (tm *team) waitSubAccountReady(t *testing.T) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, "SubAccount Ready", func() bool {
		var sa budgetv1alpha1.SubAccount
		return k8s.Get(context.Background(), types.NamespacedName{Name: tm.sa}, &sa) == nil && common.IsTrue(sa.Status.Conditions, budgetv1alpha1.ConditionReady)
	}, tm.saConditions)
}

// TestDeletedTransferIsKeptUntilItsOutcomeIsKnown deletes an allocation
// (Retain) and then its transfer, as the garbage collector would, while BSS
// has applied the transfer but its answers are lost. The transfer stays
// until a resend learns the outcome, and the money moves once.
func TestDeletedTransferIsKeptUntilItsOutcomeIsKnown(t *testing.T) {
	ctx := context.Background()
	tm := newTeam(t)
	// Refused trans_ids are reusable (the simulator's default), so a lost
	// answer waits for the resend's CBC.99007009 instead of being settled
	// by the master's balance around the attempt.
	declareBehaviour(t, &budgetv1alpha1.BSSBehaviour{RefusedTransIDs: budgetv1alpha1.RefusedTransIDsReusable})
	// A manager that waits an hour before resending, so that the transfer
	// stays Submitting after its answer is lost.
	restore := restartWith(t, slowResends)
	bt := tm.lostAnswer(t, tm.allocation("gone", "50"))
	if !controllerutil.ContainsFinalizer(&bt, budgetv1alpha1.Finalizer) {
		t.Errorf("transfer %s was created without the finalizer %s", bt.Name, budgetv1alpha1.Finalizer)
	}
	// The allocation (Retain) waits for the transfer that may have moved
	// money, so that its record is complete before it goes.
	ba := tm.get(t, "gone")
	if err := k8s.Delete(ctx, ba); err != nil {
		t.Fatal(err)
	}
	waiting := func() bool {
		got := tm.get(t, "gone")
		msg := common.ConditionMessage(got.Status.Conditions, budgetv1alpha1.ConditionReady)
		return !got.DeletionTimestamp.IsZero() && strings.Contains(msg, "waits until") && strings.Contains(msg, bt.Name)
	}
	testenv.Eventually(t, 30*time.Second, "the allocation says it waits for its Submitting transfer", waiting, tm.describe("gone"))
	testenv.Consistently(t, absenceWindow, "the allocation waits for its Submitting transfer", waiting, tm.describe("gone"))
	// Deleting the transfer itself does not drop it either.
	if err := k8s.Delete(ctx, &bt); err != nil {
		t.Fatal(err)
	}
	var held budgetv1alpha1.BudgetTransfer
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(&bt), &held); err != nil {
		t.Fatalf("a transfer whose outcome is unknown was dropped: %v", err)
	}
	if held.DeletionTimestamp.IsZero() || held.Status.Phase != budgetv1alpha1.PhaseSubmitting {
		t.Fatalf("deleted transfer: deletionTimestamp %v, phase %s", held.DeletionTimestamp, held.Status.Phase)
	}

	// A manager that resends soon learns the outcome; the allocation keeps
	// it in the audit trail and lets both go.
	restore()
	testenv.Eventually(t, 30*time.Second, "settled transfer and allocation released", func() bool {
		return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(&bt), &held)) &&
			apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(ba), &budgetv1alpha1.BudgetAllocation{}))
	}, func() string { return string(held.Status.Phase) + " " + held.Status.ErrorCode })
	// Moved once: the resend was answered as already applied.
	tm.expectLedger(t, "50.00")
	trail := tm.trail(t, ba)
	if len(trail) != 1 || len(trail[0].Spec.Entries) != 1 || trail[0].Spec.Entries[0].Phase != budgetv1alpha1.PhaseSucceeded || trail[0].Spec.Reason != budgetv1alpha1.RecordDeleted {
		t.Errorf("audit trail %+v, want the one Succeeded transfer, kept at the deletion", trail)
	}
}

// TestTransferOfDeletedAllocationIsWithdrawn: transfers waiting for
// approval whose allocation is deleted (Retain) are withdrawn before the
// allocation goes — an approval arriving later moves nothing — and kept in
// the audit trail as withdrawn.
func TestTransferOfDeletedAllocationIsWithdrawn(t *testing.T) {
	ctx := context.Background()
	tm := approvalTeam(t, "withdraw-gone", "100")
	tm.create(t, tm.allocation("approved", "200"))
	tm.create(t, tm.allocation("collected", "300"))
	approved, collected := tm.awaitingTransfer(t, "approved"), tm.awaitingTransfer(t, "collected")
	bas := map[string]*budgetv1alpha1.BudgetAllocation{"approved": tm.get(t, "approved"), "collected": tm.get(t, "collected")}
	for _, name := range []string{"approved", "collected"} {
		if err := k8s.Delete(ctx, bas[name]); err != nil {
			t.Fatal(err)
		}
		tm.waitGone(t, name)
	}
	for _, bt := range []*budgetv1alpha1.BudgetTransfer{&approved, &collected} {
		testenv.Eventually(t, 30*time.Second, bt.Name+" released", func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(bt), &budgetv1alpha1.BudgetTransfer{}))
		}, tm.describe(bt.Spec.AllocationRef.Name))
	}
	for name, ba := range bas {
		trail := tm.trail(t, ba)
		if len(trail) != 1 || len(trail[0].Spec.Entries) != 1 || trail[0].Spec.Entries[0].Reason != budgetv1alpha1.ReasonWithdrawn {
			t.Errorf("%s: audit trail %+v, want its one transfer, Withdrawn", name, trail)
		}
	}
	tm.expectLedger(t, "0.00")
}

// TestLongAllocationNamesGetTheirOwnTransfers: two allocations whose
// 242-character names share their first 235 characters are both funded.
func TestLongAllocationNamesGetTheirOwnTransfers(t *testing.T) {
	tm := newTeam(t)
	prefix := strings.Repeat("x", 235)
	tm.create(t, tm.allocation(prefix+"-first0", "10"))
	tm.create(t, tm.allocation(prefix+"-second", "20"))
	tm.waitReady(t, prefix+"-first0", "10.00")
	tm.waitReady(t, prefix+"-second", "20.00")
	tm.expectLedger(t, "30.00")
}

// TestDenialStands: a denied movement is not asked for again until the
// allocation's spec or the approval limit changes, and the allocation says
// so with the approver's message.
func TestDenialStands(t *testing.T) {
	ctx := context.Background()
	tm := approvalTeam(t, "denial", "100")
	tm.create(t, tm.allocation("ask", "300"))
	bt := tm.awaitingTransfer(t, "ask")
	deny(t, &bt, "over the quarter's plan")
	ba := tm.waitReason(t, "ask", budgetv1alpha1.ReasonDenied)
	if msg := meta.FindStatusCondition(ba.Status.Conditions, budgetv1alpha1.ConditionReady).Message; !strings.Contains(msg, "over the quarter's plan") {
		t.Errorf("Denied message %q lacks the approver's message", msg)
	}
	testenv.Consistently(t, absenceWindow, "no new transfer after the denial", func() bool {
		return len(tm.transfers(t)) == 1 && common.ReadyReason(tm.get(t, "ask").Status.Conditions, budgetv1alpha1.ConditionReady) == budgetv1alpha1.ReasonDenied
	}, tm.describe("ask"))

	// A new approval limit asks again.
	var ea budgetv1alpha1.EnterpriseAccount
	if err := k8s.Get(ctx, types.NamespacedName{Name: "denial"}, &ea); err != nil {
		t.Fatal(err)
	}
	ea.Spec.Approval.AutoApproveUpTo = money2("200")
	if err := k8s.Update(ctx, &ea); err != nil {
		t.Fatal(err)
	}
	again := tm.awaitingTransfer(t, "ask")
	if again.Name == bt.Name {
		t.Fatal("no new transfer after the approval limit changed")
	}
	deny(t, &again, "still no")
	tm.waitReason(t, "ask", budgetv1alpha1.ReasonDenied)
	// A new spec asks again; this amount is within the limit.
	tm.update(t, "ask", setAmount("150"))
	tm.waitReady(t, "ask", "150.00")
	tm.expectLedger(t, "150.00")
}

func deny(t *testing.T, bt *budgetv1alpha1.BudgetTransfer, message string) {
	t.Helper()
	decide(t, bt, budgetv1alpha1.ConditionDenied, message)
}

// TestCouponTheMasterDoesNotHave: a coupon id the master does not have is
// reported as missing, not as a coupon with 0.00 left.
func TestCouponTheMasterDoesNotHave(t *testing.T) {
	tm := newTeam(t)
	tm.create(t, tm.allocation("nope", "1", func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.Coupons = []budgetv1alpha1.CouponGrant{{CouponID: "CP-DOES-NOT-EXIST", Amount: "5"}}
	}))
	ba := tm.waitReason(t, "nope", budgetv1alpha1.ReasonCouponUnavailable)
	if msg := meta.FindStatusCondition(ba.Status.Conditions, budgetv1alpha1.ConditionReady).Message; msg !=
		"the master has no transferable coupon CP-DOES-NOT-EXIST (it does not exist, has expired or is not transferable)" {
		t.Errorf("CouponUnavailable message = %q", msg)
	}
}

// TestDeletionReclaimsFromThePreviousCustomerOnly deletes, with
// deletionPolicy Reclaim, an allocation whose SubAccount was re-pointed and
// about which no administrator has decided: the money comes back from the
// customer it went to, and the new customer is not touched.
func TestDeletionReclaimsFromThePreviousCustomerOnly(t *testing.T) {
	tm := newTeam(t)
	old := tm.customerID
	tm.create(t, tm.allocation("leaving", "300", func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.DeletionPolicy = budgetv1alpha1.DeletionPolicyReclaim
	}))
	tm.waitReady(t, "leaving", "300.00")
	next := newCustomer(t, tm.sa+"-next")
	tm.recreateSubAccount(t, next)
	tm.waitReason(t, "leaving", budgetv1alpha1.ReasonCustomerChanged)

	if err := k8s.Delete(context.Background(), tm.get(t, "leaving")); err != nil {
		t.Fatal(err)
	}
	tm.waitGone(t, "leaving")
	expectNet(t, old, "0.00")
	expectNet(t, next, "0.00")
	if err := sim.CheckLedger(); err != nil {
		t.Error(err)
	}
}

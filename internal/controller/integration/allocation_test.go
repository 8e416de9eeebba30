package integration

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

func money2(s string) *budgetv1alpha1.Money { m := budgetv1alpha1.Money(s); return &m }

func setAmount(s string) func(*budgetv1alpha1.BudgetAllocation) {
	return func(ba *budgetv1alpha1.BudgetAllocation) { ba.Spec.Amount = money2(s) }
}

func TestFundRaiseLower(t *testing.T) {
	tm := newTeam(t)
	tm.create(t, tm.allocation("compute", "100.00"))
	tm.waitReady(t, "compute", "100.00")
	tm.expectLedger(t, "100.00")

	tm.update(t, "compute", setAmount("250.5"))
	tm.waitReady(t, "compute", "250.50")
	tm.expectLedger(t, "250.50")

	tm.update(t, "compute", setAmount("75"))
	tm.waitReady(t, "compute", "75.00")
	tm.expectLedger(t, "75.00")

	ba := tm.get(t, "compute")
	if ba.Status.Desired != "75.00" || ba.Status.Pending != "0.00" || ba.Status.CustomerID != tm.customerID {
		t.Errorf("status = %+v", ba.Status)
	}
	bts := tm.transfers(t)
	if len(bts) != 3 {
		t.Fatalf("want 3 transfers (transfer, transfer, reclaim), got %d", len(bts))
	}
	for _, bt := range bts {
		if bt.Status.Phase != budgetv1alpha1.PhaseSucceeded || len(bt.Spec.TransID) != 32 || !metav1.IsControlledBy(&bt, ba) {
			t.Errorf("transfer %s: phase %s transID %q", bt.Name, bt.Status.Phase, bt.Spec.TransID)
		}
	}
}

func TestReclaimCappedByReclaimable(t *testing.T) {
	tm := newTeam(t)
	tm.create(t, tm.allocation("capped", "100"))
	tm.waitReady(t, "capped", "100.00")

	// The team spends 70.00 of it.
	if err := sim.SetConsumptionRate(tm.customerID, money.MustParse("70")); err != nil {
		t.Fatal(err)
	}
	sim.Advance(time.Hour)
	if err := sim.SetConsumptionRate(tm.customerID, money.Zero); err != nil {
		t.Fatal(err)
	}
	if b, _ := sim.SubAccount(tm.customerID); b.ReclaimableCash != money.MustParse("30") {
		t.Fatalf("reclaimable after spending = %s", b.ReclaimableCash)
	}

	tm.update(t, "capped", setAmount("0"))
	ba := tm.waitReason(t, "capped", budgetv1alpha1.ReasonReclaimBlocked)
	testenv.Eventually(t, 10*time.Second, "granted 70.00", func() bool { return tm.get(t, "capped").Status.Granted == "70.00" }, tm.describe("capped"))
	tm.expectLedger(t, "70.00")
	if c := meta.FindStatusCondition(ba.Status.Conditions, budgetv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %+v", c)
	}
}

func TestCreditWithExpiry(t *testing.T) {
	tm := newTeam(t)
	master, _ := sim.Master("")
	var permanent, expiring money.Amount
	var expireTime string
	for _, l := range master.CreditLedgers {
		if l.ExpireTime == nil {
			permanent = l.Balance
		} else if l.ExpireTime.Format(time.RFC3339) > expireTime {
			expiring, expireTime = l.Balance, l.ExpireTime.UTC().Format("2006-01-02T15:04:05Z")
		}
	}
	if expireTime == "" || expiring.Cmp(permanent.Add(money.Yuan(1))) < 0 {
		t.Fatalf("seed lacks a large expiring credit ledger: %+v", master.CreditLedgers)
	}
	// More than the permanent ledger holds: only the expiring one can cover it.
	amount := permanent.Add(money.Yuan(1)).String()
	tm.create(t, tm.allocation("credit", amount, func(ba *budgetv1alpha1.BudgetAllocation) { ba.Spec.BalanceType = budgetv1alpha1.BalanceTypeCredit }))
	tm.waitReady(t, "credit", amount)
	bts := tm.transfers(t)
	if len(bts) != 1 || bts[0].Spec.ExpireTime != expireTime || bts[0].Spec.BalanceType != budgetv1alpha1.BalanceTypeCredit {
		t.Fatalf("transfer = %+v, want credit expiring %s", bts[0].Spec, expireTime)
	}
	if b, _ := sim.SubAccount(tm.customerID); b.Credit.String() != amount {
		t.Errorf("sub credit = %s, want %s", b.Credit, amount)
	}
	tm.update(t, "credit", setAmount("0"))
	tm.waitReady(t, "credit", "0.00")
	tm.expectLedger(t, "0.00")
}

func TestCouponsGrantAndReclaim(t *testing.T) {
	tm := newTeam(t)
	const couponID = "CP2026110100003"
	tm.create(t, tm.allocation("coupons", "10", func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.Coupons = []budgetv1alpha1.CouponGrant{{CouponID: couponID, Amount: "25.50"}}
	}))
	var sub string
	testenv.Eventually(t, 30*time.Second, "coupon granted", func() bool {
		ba := tm.get(t, "coupons")
		if len(ba.Status.Coupons) == 1 && common.IsTrue(ba.Status.Conditions, budgetv1alpha1.ConditionReady) {
			sub = ba.Status.Coupons[0].SubCouponID
			return sub != ""
		}
		return false
	}, tm.describe("coupons"))
	b, _ := sim.SubAccount(tm.customerID)
	if len(b.SubCoupons) != 1 || b.SubCoupons[0].ID != sub || b.SubCoupons[0].Balance != money.MustParse("25.50") {
		t.Fatalf("sub-coupons = %+v, want %s of 25.50", b.SubCoupons, sub)
	}

	tm.update(t, "coupons", func(ba *budgetv1alpha1.BudgetAllocation) { ba.Spec.Coupons = nil })
	testenv.Eventually(t, 30*time.Second, "coupon reclaimed", func() bool {
		ba := tm.get(t, "coupons")
		return len(ba.Status.Coupons) == 0 && common.IsTrue(ba.Status.Conditions, budgetv1alpha1.ConditionReady) && ba.Status.ObservedGeneration == ba.Generation
	}, tm.describe("coupons"))
	if b, _ := sim.SubAccount(tm.customerID); len(b.SubCoupons) != 0 {
		t.Errorf("sub-coupons left: %+v", b.SubCoupons)
	}
	tm.expectLedger(t, "10.00")
}

func TestTopUpAcrossConsumption(t *testing.T) {
	tm := newTeam(t)
	tm.create(t, tm.allocation("topup", "", func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.TopUp = &budgetv1alpha1.TopUp{MinimumBalance: "100", TargetBalance: "300", MonthlyLimit: "700"}
	}))
	tm.waitReady(t, "topup", "300.00")
	tm.expectLedger(t, "300.00")

	spend := func(yuan int64) {
		t.Helper()
		if err := sim.SetConsumptionRate(tm.customerID, money.Yuan(yuan)); err != nil {
			t.Fatal(err)
		}
		sim.Advance(time.Hour)
		if err := sim.SetConsumptionRate(tm.customerID, money.Zero); err != nil {
			t.Fatal(err)
		}
		// Nudge the allocation instead of waiting for the balance resync.
		tm.update(t, "topup", func(ba *budgetv1alpha1.BudgetAllocation) {
			if ba.Annotations == nil {
				ba.Annotations = map[string]string{}
			}
			ba.Annotations["test/nudge"] = fmt.Sprint(time.Now().UnixNano())
		})
	}
	spend(250) // balance 50 < 100: top up 250 to 300
	tm.waitReady(t, "topup", "550.00")
	spend(290) // balance 10: 290 would reach 300, but only 150 is left this month
	tm.waitReady(t, "topup", "700.00")
	ba := tm.get(t, "topup")
	if ba.Status.TopUp == nil || ba.Status.TopUp.Used != "700.00" || ba.Status.TopUp.Cycle != billcycle.Of(time.Now()) {
		t.Errorf("topUp status = %+v", ba.Status.TopUp)
	}
	tm.expectLedger(t, "700.00")
}

func TestPlanMode(t *testing.T) {
	tm := newTeam(t)
	tm.create(t, tm.allocation("plan", "120", func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.ManagementPolicy = budgetv1alpha1.ManagementPolicyPlan
	}))
	ba := tm.waitReason(t, "plan", budgetv1alpha1.ReasonPlanned)
	if ba.Status.Planned == nil || ba.Status.Planned.Operation != budgetv1alpha1.OperationTransfer || ba.Status.Planned.Amount != "120.00" {
		t.Fatalf("planned = %+v", ba.Status.Planned)
	}
	if n := len(tm.transfers(t)); n != 0 {
		t.Fatalf("Plan mode created %d transfers", n)
	}
	tm.expectLedger(t, "0.00")
	tm.update(t, "plan", func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.ManagementPolicy = budgetv1alpha1.ManagementPolicyManaged
	})
	tm.waitReady(t, "plan", "120.00")
	if tm.get(t, "plan").Status.Planned != nil {
		t.Error("planned kept after switching to Managed")
	}
	tm.expectLedger(t, "120.00")
}

func TestPausedThenDeletedWithReclaim(t *testing.T) {
	tm := newTeam(t)
	tm.create(t, tm.allocation("paused", "60", func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.DeletionPolicy = budgetv1alpha1.DeletionPolicyReclaim
	}))
	tm.waitReady(t, "paused", "60.00")
	tm.update(t, "paused", func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.ManagementPolicy = budgetv1alpha1.ManagementPolicyPaused
		ba.Spec.Amount = money2("500")
	})
	tm.waitReason(t, "paused", budgetv1alpha1.ReasonPaused)
	testenv.Consistently(t, absenceWindow, "a paused allocation moves nothing", func() bool {
		return tm.net() == money.MustParse("60") && len(tm.transfers(t)) == 1
	}, tm.describe("paused"))
	tm.expectLedger(t, "60.00")
	if err := k8s.Delete(context.Background(), tm.get(t, "paused")); err != nil {
		t.Fatal(err)
	}
	tm.waitGone(t, "paused")
	tm.expectLedger(t, "0.00")
}

func (tm *team) waitGone(t *testing.T, name string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, name+" deleted", func() bool {
		var ba budgetv1alpha1.BudgetAllocation
		return apierrors.IsNotFound(k8s.Get(context.Background(), types.NamespacedName{Namespace: tm.ns, Name: name}, &ba))
	}, tm.describe(name))
}

func TestDeleteWithRetainAndWithReclaim(t *testing.T) {
	tm := newTeam(t)
	tm.create(t, tm.allocation("retain", "50"))
	tm.create(t, tm.allocation("reclaim", "80", func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.DeletionPolicy = budgetv1alpha1.DeletionPolicyReclaim
		ba.Spec.Coupons = []budgetv1alpha1.CouponGrant{{CouponID: "CP2026110100002", Amount: "5"}}
	}))
	tm.waitReady(t, "retain", "50.00")
	testenv.Eventually(t, 30*time.Second, "reclaim funded", func() bool {
		ba := tm.get(t, "reclaim")
		return common.IsTrue(ba.Status.Conditions, budgetv1alpha1.ConditionReady) && len(ba.Status.Coupons) == 1
	}, tm.describe("reclaim"))
	tm.expectLedger(t, "130.00")

	if err := k8s.Delete(context.Background(), tm.get(t, "retain")); err != nil {
		t.Fatal(err)
	}
	tm.waitGone(t, "retain")
	tm.expectLedger(t, "130.00")

	if err := k8s.Delete(context.Background(), tm.get(t, "reclaim")); err != nil {
		t.Fatal(err)
	}
	tm.waitGone(t, "reclaim")
	tm.expectLedger(t, "50.00")
	if b, _ := sim.SubAccount(tm.customerID); len(b.SubCoupons) != 0 {
		t.Errorf("sub-coupons left after Reclaim: %+v", b.SubCoupons)
	}
}

func TestNamespaceRefusedThenAdmittedByLabel(t *testing.T) {
	label := map[string]string{"budget.bss.dev/team": "label-team"}
	tm := newTeam(t, withSelector(label))
	tm.create(t, tm.allocation("labelled", "15"))
	ba := tm.waitReason(t, "labelled", budgetv1alpha1.ReasonNamespaceNotAllowed)
	if c := meta.FindStatusCondition(ba.Status.Conditions, budgetv1alpha1.ConditionReady); c.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %s", c.Status)
	}
	if n := len(tm.transfers(t)); n != 0 {
		t.Fatalf("refused allocation created %d transfers", n)
	}
	if ba.Status.Desired != "15.00" {
		t.Errorf("a refused allocation still shows what it asks for: desired = %q, want 15.00", ba.Status.Desired)
	}
	tm.expectLedger(t, "0.00")

	var ns corev1.Namespace
	if err := k8s.Get(context.Background(), types.NamespacedName{Name: tm.ns}, &ns); err != nil {
		t.Fatal(err)
	}
	ns.Labels = label
	if err := k8s.Update(context.Background(), &ns); err != nil {
		t.Fatal(err)
	}
	tm.waitReady(t, "labelled", "15.00")
	tm.expectLedger(t, "15.00")
}

func TestInsufficientFundsThenFundsAdded(t *testing.T) {
	tm := newTeam(t)
	master, _ := sim.Master("")
	want := master.Cash.Add(money.Yuan(1000))
	tm.create(t, tm.allocation("big", want.String()))
	tm.waitReason(t, "big", budgetv1alpha1.ReasonInsufficientFunds)
	// The allocation rechecks the funds every FundsRecheckInterval: none of
	// those rechecks may send the doomed transfer.
	testenv.Consistently(t, absenceWindow, "no doomed transfer", func() bool {
		return len(tm.transfers(t)) == 0
	}, tm.describe("big"))
	if err := sim.AddFunds("", money.Yuan(1000)); err != nil {
		t.Fatal(err)
	}
	tm.waitReady(t, "big", want.String())
	tm.expectLedger(t, want.String())
	// Give the money back for the other tests.
	tm.update(t, "big", setAmount("0"))
	tm.waitReady(t, "big", "0.00")
}

func TestFundingLimit(t *testing.T) {
	tm := newTeam(t, withFundingLimit("100"))
	tm.create(t, tm.allocation("first", "80"))
	tm.waitReady(t, "first", "80.00")
	tm.create(t, tm.allocation("second", "50"))
	ba := tm.waitReason(t, "second", budgetv1alpha1.ReasonFundingLimitExceeded)
	if c := meta.FindStatusCondition(ba.Status.Conditions, budgetv1alpha1.ConditionReady); c == nil || c.Message == "" {
		t.Errorf("condition = %+v", c)
	}
	tm.update(t, "second", setAmount("20"))
	tm.waitReady(t, "second", "20.00")
	tm.expectLedger(t, "100.00")
}

func TestThrottlingStorm(t *testing.T) {
	tm := newTeam(t)
	if err := sim.SetFaults(bsssim.Faults{StormDuration: bsssim.Duration(3 * time.Second), StormRate: 0}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sim.SetFaults(bsssim.Faults{}) }()
	tm.create(t, tm.allocation("storm", "20"))
	tm.waitReady(t, "storm", "20.00")
	tm.expectLedger(t, "20.00")
}

func TestResponsesLostAfterCommit(t *testing.T) {
	tm := newTeam(t)
	if err := sim.SetFaults(bsssim.Faults{LostResponseRate: 1}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sim.SetFaults(bsssim.Faults{}) }()
	tm.create(t, tm.allocation("lost", "30", func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Spec.Coupons = []budgetv1alpha1.CouponGrant{{CouponID: "CP2026110100001", Amount: "7"}}
	}))
	// Every write applies and loses its answer, and nothing is declared
	// about BSS. The money transfer is settled by the master's balance read
	// around its attempt; the coupon transfer is resent, answered
	// CBC.99007009 (the simulator loses only the answers of writes that
	// apply), and confirmed by its sub-coupon on the sub-account.
	testenv.Eventually(t, 30*time.Second, "money and coupon settled", func() bool {
		ba := tm.get(t, "lost")
		return common.IsTrue(ba.Status.Conditions, budgetv1alpha1.ConditionReady) && ba.Status.Granted == "30.00" && len(ba.Status.Coupons) == 1
	}, tm.describe("lost"))
	if err := sim.SetFaults(bsssim.Faults{}); err != nil {
		t.Fatal(err)
	}
	tm.expectLedger(t, "30.00")
	evidence := map[budgetv1alpha1.TransferOperation]string{}
	for _, bt := range tm.transfers(t) {
		if bt.Status.Evidence != nil {
			evidence[bt.Spec.Operation] = bt.Status.Evidence.Kind
		}
		if bt.Spec.Operation == budgetv1alpha1.OperationCouponTransfer && (bt.Status.Result == nil || !bt.Status.Result.AlreadyApplied || bt.Status.Attempts < 2) {
			t.Errorf("coupon transfer %s: result %+v after %d attempts, want already applied after a resend", bt.Name, bt.Status.Result, bt.Status.Attempts)
		}
	}
	want := map[budgetv1alpha1.TransferOperation]string{budgetv1alpha1.OperationTransfer: budgetv1alpha1.EvidenceBalance, budgetv1alpha1.OperationCouponTransfer: budgetv1alpha1.EvidenceSubCoupon}
	if !maps.Equal(evidence, want) {
		t.Errorf("evidence %v, want %v", evidence, want)
	}
	b, _ := sim.SubAccount(tm.customerID)
	ba := tm.get(t, "lost")
	if len(b.SubCoupons) != 1 || ba.Status.Coupons[0].SubCouponID != b.SubCoupons[0].ID {
		t.Errorf("sub-coupon %+v not recorded as %+v", b.SubCoupons, ba.Status.Coupons)
	}
}

func TestManyAllocationsOnOneSubAccount(t *testing.T) {
	tm := newTeam(t)
	var wg sync.WaitGroup
	total := money.Zero
	for i := 1; i <= 12; i++ {
		total = total.Add(money.Yuan(int64(i)))
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_ = k8s.Create(context.Background(), tm.allocation(fmt.Sprintf("many-%d", i), fmt.Sprintf("%d", i)))
		}(i)
	}
	wg.Wait()
	for i := 1; i <= 12; i++ {
		tm.waitReady(t, fmt.Sprintf("many-%d", i), money.Yuan(int64(i)).String())
	}
	tm.expectLedger(t, total.String())
	var sa budgetv1alpha1.SubAccount
	testenv.Eventually(t, 30*time.Second, "SubAccount granted sums the allocations", func() bool {
		return k8s.Get(context.Background(), types.NamespacedName{Name: tm.sa}, &sa) == nil && string(sa.Status.Granted) == total.String()
	}, func() string { return fmt.Sprintf("granted %s", sa.Status.Granted) })
}

func TestUnknownCustomerID(t *testing.T) {
	ctx := context.Background()
	name := "unknown-customer"
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	sa := localenv.SubAccount(name, eaName, "no-such-customer", name)
	if err := k8s.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "SubAccountNotFound", func() bool {
		var got budgetv1alpha1.SubAccount
		return k8s.Get(ctx, types.NamespacedName{Name: name}, &got) == nil &&
			common.ReadyReason(got.Status.Conditions, budgetv1alpha1.ConditionReady) == budgetv1alpha1.ReasonSubAccountNotFound
	}, func() string { return "" })
	tm := &team{ns: name, sa: name, customerID: "no-such-customer"}
	tm.create(t, tm.allocation("orphan", "10"))
	tm.waitReason(t, "orphan", budgetv1alpha1.ReasonSubAccountNotReady)
	if n := len(tm.transfers(t)); n != 0 {
		t.Fatalf("%d transfers created for an unknown customer", n)
	}
}

func TestMissingAndWrongCredentials(t *testing.T) {
	ctx := context.Background()
	const name, secret = "creds-test", "creds-test"
	if err := k8s.Create(ctx, enterpriseAccount(name, secret, nil)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = k8s.Delete(ctx, &budgetv1alpha1.EnterpriseAccount{ObjectMeta: metav1.ObjectMeta{Name: name}})
	}()
	reason := func() string {
		var ea budgetv1alpha1.EnterpriseAccount
		if err := k8s.Get(ctx, types.NamespacedName{Name: name}, &ea); err != nil {
			return err.Error()
		}
		return common.ReadyReason(ea.Status.Conditions, budgetv1alpha1.ConditionReady)
	}
	testenv.Eventually(t, 30*time.Second, "CredentialsMissing", func() bool { return reason() == budgetv1alpha1.ReasonCredentialsMissing }, reason)

	s := credentialsSecret(secret, "wrong-secret-key")
	if err := k8s.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "CredentialsRejected", func() bool { return reason() == budgetv1alpha1.ReasonCredentialsRejected }, reason)

	s.Data[common.KeySecretAccessKey] = []byte(bsssim.DefaultSecretKey)
	if err := k8s.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "Ready", func() bool { return reason() == budgetv1alpha1.ReasonReady }, reason)
	var ea budgetv1alpha1.EnterpriseAccount
	if err := k8s.Get(ctx, types.NamespacedName{Name: name}, &ea); err != nil {
		t.Fatal(err)
	}
	if ea.Status.TransferableCash == "" || ea.Status.SubAccounts < 3 || len(ea.Status.CreditLedgers) == 0 || len(ea.Status.TransferableCoupons) == 0 {
		t.Errorf("status = %+v", ea.Status)
	}
	for _, c := range ea.Status.Conditions {
		if containsAny(c.Message, bsssim.DefaultSecretKey, "wrong-secret-key") {
			t.Errorf("condition leaks a secret: %s", c.Message)
		}
	}
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if x != "" && strings.Contains(s, x) {
			return true
		}
	}
	return false
}

func TestApprovalAboveThreshold(t *testing.T) {
	ctx := context.Background()
	const ea = "approval"
	if err := k8s.Create(ctx, enterpriseAccount(ea, credsName, money2("100"))); err != nil {
		t.Fatal(err)
	}
	tm := newTeam(t, withEnterprise(ea))
	testenv.Eventually(t, 30*time.Second, "SubAccount Ready", func() bool {
		var sa budgetv1alpha1.SubAccount
		return k8s.Get(ctx, types.NamespacedName{Name: tm.sa}, &sa) == nil && common.IsTrue(sa.Status.Conditions, budgetv1alpha1.ConditionReady)
	}, tm.saConditions)

	tm.create(t, tm.allocation("big", "150"))
	tm.waitReason(t, "big", budgetv1alpha1.ReasonAwaitingApproval)
	tm.expectLedger(t, "0.00")
	bt := tm.transfers(t)[0]
	if bt.Status.Phase != budgetv1alpha1.PhaseAwaitingApproval {
		t.Fatalf("phase = %s", bt.Status.Phase)
	}
	approve(t, &bt, budgetv1alpha1.ConditionApproved)
	tm.waitReady(t, "big", "150.00")
	tm.expectLedger(t, "150.00")

	// Within the limit: no approval needed.
	tm.update(t, "big", setAmount("200"))
	tm.waitReady(t, "big", "200.00")

	// Denied: the transfer fails and nothing moves.
	tm.update(t, "big", setAmount("500"))
	tm.waitReason(t, "big", budgetv1alpha1.ReasonAwaitingApproval)
	var pending budgetv1alpha1.BudgetTransfer
	for _, b := range tm.transfers(t) {
		if b.Status.Phase == budgetv1alpha1.PhaseAwaitingApproval {
			pending = b
		}
	}
	approve(t, &pending, budgetv1alpha1.ConditionDenied)
	testenv.Eventually(t, 30*time.Second, "denied transfer failed", func() bool {
		var got budgetv1alpha1.BudgetTransfer
		return k8s.Get(ctx, client.ObjectKeyFromObject(&pending), &got) == nil && got.Status.Phase == budgetv1alpha1.PhaseFailed
	}, tm.describe("big"))
	tm.expectLedger(t, "200.00")
	// Lowering the amount withdraws the transfer that waits for approval
	// again after the denial.
	tm.update(t, "big", setAmount("200"))
	tm.waitReady(t, "big", "200.00")
	for _, b := range tm.transfers(t) {
		if b.Status.Phase == budgetv1alpha1.PhaseAwaitingApproval {
			t.Errorf("transfer %s still waits for approval", b.Name)
		}
	}
	tm.expectLedger(t, "200.00")
}

func approve(t *testing.T, bt *budgetv1alpha1.BudgetTransfer, cond string) {
	t.Helper()
	decide(t, bt, cond, "test")
}

// decide sets the approver's condition cond (Approved or Denied) on the
// transfer's status with message.
func decide(t *testing.T, bt *budgetv1alpha1.BudgetTransfer, cond, message string) {
	t.Helper()
	if err := testenv.Wait(context.Background(), 10*time.Second, testenv.PollInterval, func(context.Context) (bool, error) {
		var got budgetv1alpha1.BudgetTransfer
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(bt), &got); err != nil {
			return false, err
		}
		meta.SetStatusCondition(&got.Status.Conditions, metav1.Condition{Type: cond, Status: metav1.ConditionTrue, Reason: "ByFinance", Message: message})
		err := k8s.Status().Update(context.Background(), &got)
		return err == nil, err
	}, nil); err != nil {
		t.Fatal(err)
	}
}

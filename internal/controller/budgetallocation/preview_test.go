package budgetallocation_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/accounts"
	"github.com/bss-budget-operator/bss-budget-operator/internal/approval"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/bssfake"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/budgetallocation"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/budgettransfer"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/planner"
	"github.com/bss-budget-operator/bss-budget-operator/internal/plugin"
)

// TestPreviewEqualsDecision generates allocations with ledgers, SubAccount
// limits, approval settings and balances, previews each with
// `kubectl budget plan`'s Predict (balances from published status) and then
// runs the BudgetAllocation reconciler (balances from an in-memory BSS
// holding the same figures) and, on the transfer it creates, the
// BudgetTransfer reconciler's approval decision. The preview must name
// what the operator does: the same transfer (operation, amount, coupon,
// credit expiry, customer), the same reason when nothing moves, the same
// approval need, the same fate for a transfer waiting for approval.
func TestPreviewEqualsDecision(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := testingSeed(); s != 0 {
		seed = s
	}
	t.Logf("seed %d (PREVIEW_SEED to replay)", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	counts := map[string]int{}
	for i := range 400 {
		c := genCase(rng)
		t.Run(fmt.Sprintf("case%03d", i), func(t *testing.T) {
			kind := c.check(t)
			counts[kind]++
		})
	}
	t.Logf("outcomes compared: %v", counts)
	// The generator must reach every kind of outcome the issue names.
	for _, k := range []string{"Create", "Create+approval", budgetv1alpha1.ReasonFundingLimitExceeded, budgetv1alpha1.ReasonInsufficientFunds,
		"Create credit", budgetv1alpha1.ReasonCouponUnavailable, budgetv1alpha1.ReasonTransferFailed, "Ready", "Withdrawn", "Kept",
		budgetv1alpha1.ReasonPlanned, budgetv1alpha1.ReasonPaused, budgetv1alpha1.ReasonNamespaceNotAllowed, budgetv1alpha1.ReasonCustomerChanged} {
		if counts[k] == 0 {
			t.Errorf("no case ended %s; the generator no longer covers it", k)
		}
	}
}

func testingSeed() int64 {
	s, _ := strconv.ParseInt(os.Getenv("PREVIEW_SEED"), 10, 64)
	return s
}

var now = time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)

const (
	master   = "acme"
	customer = "cust-1"
	previous = "cust-0"
	expiry   = "2027-06-30T16:00:00Z"
)

// pcase is one generated situation.
type pcase struct {
	objs         []client.Object
	ba           *budgetv1alpha1.BudgetAllocation
	masterCash   money.Amount
	masterCredit []bss.AmountInfo
	coupons      map[string]money.Amount
	subCash      money.Amount
	subCredit    []bss.AmountInfo
	prevCash     money.Amount
	describe     string
}

func pick[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

func m(s string) budgetv1alpha1.Money { return budgetv1alpha1.Money(s) }

func genCase(rng *rand.Rand) *pcase {
	c := &pcase{
		masterCash: money.MustParse(pick(rng, "0", "500", "5000", "50000")),
		subCash:    money.MustParse(pick(rng, "0", "100", "1000", "5000")),
		prevCash:   money.MustParse(pick(rng, "0", "60", "900")),
		coupons:    map[string]money.Amount{"CP1": money.MustParse(pick(rng, "50", "500"))},
	}
	if rng.IntN(2) == 0 {
		c.coupons["CP2"] = money.MustParse("200")
	}
	for range 1 + rng.IntN(2) {
		c.masterCredit = append(c.masterCredit, bss.AmountInfo{Available: money.MustParse(pick(rng, "0", "300", "3000", "3000")), ExpireTime: pick(rng, "", expiry), MeasureID: 1})
	}
	if rng.IntN(2) == 0 {
		c.subCredit = []bss.AmountInfo{{Available: money.MustParse(pick(rng, "50", "2000")), ExpireTime: pick(rng, "", expiry), MeasureID: 1}}
	}

	ea := &budgetv1alpha1.EnterpriseAccount{ObjectMeta: metav1.ObjectMeta{Name: master},
		Spec: budgetv1alpha1.EnterpriseAccountSpec{CredentialsSecretRef: budgetv1alpha1.SecretReference{Name: "creds"}}}
	switch rng.IntN(4) {
	case 1:
		ea.Spec.Approval = &budgetv1alpha1.Approval{AutoApproveUpTo: ptr.To(m("1000.00"))}
	case 2:
		ea.Spec.Approval = &budgetv1alpha1.Approval{AutoApproveUpTo: ptr.To(m("1000.00")), AutoApproveCyclePerSubAccount: ptr.To(m("1500.00"))}
	case 3:
		ea.Spec.Approval = &budgetv1alpha1.Approval{AutoApproveUpTo: ptr.To(m("not money"))}
	}
	// Reclaimable cash declared funded only, or not (then cash reclaims are
	// capped by the grants less the spending since, planner.ReclaimCapOf).
	if rng.IntN(2) == 0 {
		ea.Spec.BSSBehaviour = &budgetv1alpha1.BSSBehaviour{Reclaimable: budgetv1alpha1.ReclaimableFundedOnly}
	}
	ea.Status = budgetv1alpha1.EnterpriseAccountStatus{
		Conditions:       []metav1.Condition{{Type: budgetv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: budgetv1alpha1.ReasonReady, LastTransitionTime: metav1.NewTime(now)}},
		TransferableCash: m(c.masterCash.String()), LastSyncTime: ptr.To(metav1.NewTime(now.Add(-time.Minute))),
	}
	for _, l := range c.masterCredit {
		if l.Available.IsPositive() {
			ea.Status.CreditLedgers = append(ea.Status.CreditLedgers, budgetv1alpha1.CreditLedger{Available: m(l.Available.String()), ExpireTime: l.ExpireTime})
		}
	}
	for _, id := range []string{"CP1", "CP2"} {
		if a, ok := c.coupons[id]; ok {
			ea.Status.TransferableCoupons = append(ea.Status.TransferableCoupons, budgetv1alpha1.CouponBalance{CouponID: id, Balance: m(a.String())})
		}
	}

	sa := &budgetv1alpha1.SubAccount{ObjectMeta: metav1.ObjectMeta{Name: "team"},
		Spec: budgetv1alpha1.SubAccountSpec{EnterpriseAccountRef: budgetv1alpha1.LocalObjectReference{Name: master}, CustomerID: customer,
			AllowedNamespaces: &budgetv1alpha1.AllowedNamespaces{Names: []string{pick(rng, "team", "team", "team", "team", "team", "team", "team", "elsewhere")}}}}
	switch rng.IntN(3) {
	case 1:
		sa.Spec.FundingLimit = ptr.To(m("2000.00"))
	case 2:
		sa.Spec.FundingLimit = ptr.To(m("10000.00"))
	}
	sa.Status = budgetv1alpha1.SubAccountStatus{CustomerID: customer, ReclaimableCash: m(c.subCash.String()),
		Conditions:          []metav1.Condition{{Type: budgetv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: budgetv1alpha1.ReasonReady, LastTransitionTime: metav1.NewTime(now)}},
		LastBalanceSyncTime: ptr.To(metav1.NewTime(now.Add(-time.Minute))), LastFullBalanceSyncTime: ptr.To(metav1.NewTime(now.Add(-time.Minute)))}
	if rng.IntN(3) > 0 { // this cycle's bills, read (or not yet)
		sa.Status.CurrentCycle = &budgetv1alpha1.BillCycleSummary{Cycle: billcycle.Of(now), Cash: m(pick(rng, "0.00", "50.00", "700.00"))}
	}
	for _, l := range c.subCredit {
		sa.Status.ReclaimableCredit = append(sa.Status.ReclaimableCredit, budgetv1alpha1.CreditLedger{Available: m(l.Available.String()), ExpireTime: l.ExpireTime})
	}

	ba := &budgetv1alpha1.BudgetAllocation{
		ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "team", UID: "uid-a", Generation: int64(1 + rng.IntN(3)), CreationTimestamp: metav1.NewTime(now.Add(-time.Hour)),
			Annotations: map[string]string{budgetv1alpha1.AnnotationLedgerID: "team/a/uid-a"}},
		Spec: budgetv1alpha1.BudgetAllocationSpec{SubAccountRef: budgetv1alpha1.LocalObjectReference{Name: "team"},
			BalanceType:      pick(rng, budgetv1alpha1.BalanceTypeDebit, budgetv1alpha1.BalanceTypeDebit, budgetv1alpha1.BalanceTypeCredit),
			ManagementPolicy: pick(rng, budgetv1alpha1.ManagementPolicyManaged, budgetv1alpha1.ManagementPolicyManaged, budgetv1alpha1.ManagementPolicyManaged, budgetv1alpha1.ManagementPolicyPlan, budgetv1alpha1.ManagementPolicyPaused),
			DeletionPolicy:   budgetv1alpha1.DeletionPolicyRetain},
		Status: budgetv1alpha1.BudgetAllocationStatus{CustomerID: customer},
	}
	if rng.IntN(5) == 0 {
		ba.Spec.TopUp = &budgetv1alpha1.TopUp{MinimumBalance: "200.00", TargetBalance: "1000.00", MonthlyLimit: "1500.00"}
	} else {
		ba.Spec.Amount = ptr.To(m(pick(rng, "0.00", "100.00", "800.00", "1500.00", "3000.00", "12000.00")))
	}
	for _, id := range []string{"CP1", "CP2"} {
		if rng.IntN(3) == 0 {
			ba.Spec.Coupons = append(ba.Spec.Coupons, budgetv1alpha1.CouponGrant{CouponID: id, Amount: m(pick(rng, "40.00", "100.00"))})
		}
	}
	if rng.IntN(2) == 0 {
		ba.Status.SpendBaseline = &budgetv1alpha1.SpendBaseline{Cycle: billcycle.Of(now), Cash: "20.00"}
	}
	c.ba = ba

	// The ledger.
	seq := int64(0)
	var transfers []client.Object
	add := func(op budgetv1alpha1.TransferOperation, amount string, phase budgetv1alpha1.TransferPhase, mutate func(*budgetv1alpha1.BudgetTransfer)) {
		seq++
		bt := transfer(ba, seq, op, amount, phase)
		if mutate != nil {
			mutate(bt)
		}
		transfers = append(transfers, bt)
	}
	credit := ba.Spec.BalanceType == budgetv1alpha1.BalanceTypeCredit
	granted := money.Zero
	for range rng.IntN(3) {
		switch rng.IntN(4) {
		case 0, 1:
			a := pick(rng, "100.00", "800.00")
			granted = granted.Add(money.MustParse(a))
			add(budgetv1alpha1.OperationTransfer, a, budgetv1alpha1.PhaseSucceeded, func(bt *budgetv1alpha1.BudgetTransfer) {
				if credit {
					bt.Spec.BalanceType, bt.Spec.ExpireTime = budgetv1alpha1.BalanceTypeCredit, pick(rng, "", expiry)
				}
			})
		case 2:
			add(budgetv1alpha1.OperationCouponTransfer, "40.00", budgetv1alpha1.PhaseSucceeded, func(bt *budgetv1alpha1.BudgetTransfer) {
				bt.Spec.CouponID = "CP1"
				bt.Status.Result = &budgetv1alpha1.TransferResult{SubCouponID: "SCP-" + strconv.FormatInt(bt.Spec.Sequence, 10)}
			})
		case 3:
			// Granted to the customer the SubAccount resolved to before.
			add(budgetv1alpha1.OperationTransfer, "300.00", budgetv1alpha1.PhaseSucceeded, func(bt *budgetv1alpha1.BudgetTransfer) {
				bt.Spec.CustomerID = previous
				if credit {
					bt.Spec.BalanceType = budgetv1alpha1.BalanceTypeCredit
				}
			})
			sa.Spec.PreviousCustomers = []budgetv1alpha1.PreviousCustomer{{CustomerID: previous,
				Policy: pick(rng, budgetv1alpha1.PreviousCustomerReclaim, budgetv1alpha1.PreviousCustomerRelease, "")}}
			if sa.Spec.PreviousCustomers[0].Policy == "" {
				sa.Spec.PreviousCustomers = nil
			}
		}
	}
	switch rng.IntN(5) {
	case 0: // a failure backing off (base 1m), or long past
		recent := rng.IntN(2) == 0
		add(budgetv1alpha1.OperationTransfer, "500.00", budgetv1alpha1.PhaseFailed, func(bt *budgetv1alpha1.BudgetTransfer) {
			bt.Status.ErrorCode = "CBC.99005003"
			done := now.Add(-2 * time.Hour)
			if recent {
				done = now.Add(-10 * time.Second)
			}
			bt.Status.CompletionTime = ptr.To(metav1.NewTime(done))
		})
		if recent {
			ba.Status.NextAttemptTime = ptr.To(metav1.NewTime(now.Add(51 * time.Second)))
		}
	case 1: // a transfer waiting for approval, for this generation or an older one
		amount := "1500.00"
		if ba.Spec.Amount != nil && rng.IntN(3) > 0 {
			if want := money.MustParse(string(*ba.Spec.Amount)).Sub(granted); want.IsPositive() {
				amount = want.String() // what the plan asks for: kept
			}
		}
		add(budgetv1alpha1.OperationTransfer, amount, budgetv1alpha1.PhaseAwaitingApproval, func(bt *budgetv1alpha1.BudgetTransfer) {
			if credit {
				bt.Spec.BalanceType = budgetv1alpha1.BalanceTypeCredit
			}
		})
	}

	// Compacted: the succeeded transfers before the first open one are
	// folded into the checkpoint and gone (not while a per-cycle approval
	// budget counts this cycle's transfers: the operator keeps them).
	if rng.IntN(2) == 0 && (ea.Spec.Approval == nil || ea.Spec.Approval.AutoApproveCyclePerSubAccount == nil) {
		transfers = compacted(ba, transfers)
	}

	// Another allocation of the SubAccount, in another namespace, with a
	// transfer this cycle that counts against the approval budget.
	sib := &budgetv1alpha1.BudgetAllocation{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "other", UID: "uid-b",
		CreationTimestamp: metav1.NewTime(now.Add(-time.Duration(rng.IntN(3)) * time.Hour))},
		Spec:   budgetv1alpha1.BudgetAllocationSpec{SubAccountRef: budgetv1alpha1.LocalObjectReference{Name: "team"}, Amount: ptr.To(m("800.00"))},
		Status: budgetv1alpha1.BudgetAllocationStatus{Granted: m(pick(rng, "0.00", "800.00")), Pending: pick(rng, "0.00", "200.00")}}
	sibT := transfer(sib, 1, budgetv1alpha1.OperationTransfer, "800.00", budgetv1alpha1.PhaseSucceeded)

	c.objs = append([]client.Object{ea, sa, ba, sib, sibT}, transfers...)

	// What the SubAccount's OrderPayments paid for its customer counts
	// against its fundingLimit: one paid order, or one paid for the
	// customer it resolved to before (which does not count).
	paid := "none"
	switch rng.IntN(4) {
	case 1:
		op := paidOrder("pay-1", customer, pick(rng, "300.00", "1500.00"))
		c.objs, paid = append(c.objs, op), string(op.Status.Amount)
	case 2:
		c.objs, paid = append(c.objs, paidOrder("pay-2", previous, "1500.00")), "1500.00 for "+previous
	}
	c.describe = fmt.Sprintf("spec %+v ledger %d transfers, master cash %s credit %v coupons %v, sub cash %s credit %v, fundingLimit %v, orders paid %s, approval %+v",
		ba.Spec, len(transfers), c.masterCash, c.masterCredit, c.coupons, c.subCash, c.subCredit, sa.Spec.FundingLimit, paid, ea.Spec.Approval)
	return c
}

// paidOrder is an OrderPayment of the SubAccount that paid amount for
// customerID in this bill cycle.
func paidOrder(name, customerID, amount string) *budgetv1alpha1.OrderPayment {
	return &budgetv1alpha1.OrderPayment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: name},
		Spec:       budgetv1alpha1.OrderPaymentSpec{SubAccountName: "team", OrderID: "CS" + name, MaxAmount: "5000"},
		Status: budgetv1alpha1.OrderPaymentStatus{Phase: budgetv1alpha1.PaymentPaid, CustomerID: customerID, Amount: m(amount), Cycle: billcycle.Of(now),
			Conditions: []metav1.Condition{{Type: budgetv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: budgetv1alpha1.ReasonPaid, LastTransitionTime: metav1.NewTime(now)}}},
	}
}

// compacted folds the allocation's succeeded transfers into its
// checkpoint, as the operator does, and returns the transfers without them.
func compacted(ba *budgetv1alpha1.BudgetAllocation, transfers []client.Object) []client.Object {
	entries := make([]planner.Entry, 0, len(transfers))
	for _, o := range transfers {
		entries = append(entries, planner.EntryOf(o.(*budgetv1alpha1.BudgetTransfer)))
	}
	cp, _ := planner.Fold(nil, entries, billcycle.Of)
	ba.Status.Checkpoint = cp.API()
	if cp.Sequence > 0 {
		ba.Status.LastTransfer = &budgetv1alpha1.TransferSummary{Name: budgetallocation.TransferName(ba.Name, cp.Sequence),
			Operation: budgetv1alpha1.OperationTransfer, Phase: budgetv1alpha1.PhaseSucceeded, Sequence: cp.Sequence}
	}
	return slices.DeleteFunc(transfers, func(o client.Object) bool {
		bt := o.(*budgetv1alpha1.BudgetTransfer)
		return bt.Status.Phase == budgetv1alpha1.PhaseSucceeded && bt.Spec.Sequence <= cp.Sequence
	})
}

func transfer(ba *budgetv1alpha1.BudgetAllocation, seq int64, op budgetv1alpha1.TransferOperation, amount string, phase budgetv1alpha1.TransferPhase) *budgetv1alpha1.BudgetTransfer {
	bt := &budgetv1alpha1.BudgetTransfer{
		ObjectMeta: metav1.ObjectMeta{
			Name: budgetallocation.TransferName(ba.Name, seq), Namespace: ba.Namespace,
			Labels:            map[string]string{budgetv1alpha1.LabelAllocation: ba.Name, budgetv1alpha1.LabelSubAccount: "team"},
			Annotations:       map[string]string{budgetv1alpha1.AnnotationAllocationGeneration: strconv.FormatInt(ba.Generation, 10)},
			Finalizers:        []string{budgetv1alpha1.Finalizer},
			CreationTimestamp: metav1.NewTime(now.Add(time.Duration(seq-20) * time.Minute)),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: budgetv1alpha1.GroupVersion.String(), Kind: "BudgetAllocation",
				Name: ba.Name, UID: ba.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
		},
		Spec: budgetv1alpha1.BudgetTransferSpec{AllocationRef: budgetv1alpha1.LocalObjectReference{Name: ba.Name}, SubAccountName: "team",
			EnterpriseAccountName: master, CustomerID: customer, Operation: op, Amount: m(amount), BalanceType: budgetv1alpha1.BalanceTypeDebit,
			TransID: budgetallocation.TransID(string(ba.UID), seq), Sequence: seq},
		Status: budgetv1alpha1.BudgetTransferStatus{Phase: phase},
	}
	if op == budgetv1alpha1.OperationCouponTransfer || op == budgetv1alpha1.OperationCouponReclaim {
		bt.Spec.BalanceType = ""
	}
	if phase == budgetv1alpha1.PhaseSucceeded || phase == budgetv1alpha1.PhaseFailed {
		bt.Status.CompletionTime = ptr.To(metav1.NewTime(bt.CreationTimestamp.Add(time.Second)))
	}
	return bt
}

// fakeIndexer registers the controllers' field indexes on a fake client.
type fakeIndexer struct{ b *fake.ClientBuilder }

func (f fakeIndexer) IndexField(_ context.Context, obj client.Object, field string, extract client.IndexerFunc) error {
	f.b.WithIndex(obj, field, extract)
	return nil
}

// world builds the fake API server and BSS of a case.
func (c *pcase) world(t *testing.T) (client.Client, *accounts.Registry, *bssfake.BSS) {
	t.Helper()
	b := fake.NewClientBuilder().WithScheme(localenv.NewScheme()).
		WithStatusSubresource(&budgetv1alpha1.BudgetAllocation{}, &budgetv1alpha1.BudgetTransfer{}, &budgetv1alpha1.SubAccount{}, &budgetv1alpha1.EnterpriseAccount{}).
		WithObjects(c.objs...).
		WithInterceptorFuncs(interceptor.Funcs{Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			obj.SetCreationTimestamp(metav1.NewTime(now))
			return cl.Create(ctx, obj, opts...)
		}})
	if err := common.SetupIndexes(context.Background(), fakeIndexer{b}); err != nil {
		t.Fatal(err)
	}
	fb := bssfake.New(c.masterCash, c.coupons, customer, previous)
	fb.SetCredit(c.masterCredit...)
	fb.SetSub(customer, c.subCash, c.subCredit...)
	fb.SetSub(previous, c.prevCash, bss.AmountInfo{Available: c.prevCash, MeasureID: 1})
	reg := accounts.NewRegistry(nil, nil)
	acct := reg.Put(master, fb)
	acct.SetTransferableCash(c.masterCash, now)
	return b.Build(), reg, fb
}

// check previews the case, runs the operator on it and compares; it
// returns the kind of outcome compared.
func (c *pcase) check(t *testing.T) string {
	ctx := context.Background()
	k8s, reg, _ := c.world(t)
	var ba budgetv1alpha1.BudgetAllocation
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(c.ba), &ba); err != nil {
		t.Fatal(err)
	}
	p := plugin.Predict(ctx, k8s, &ba, &ba, now)

	clock := clocktesting.NewFakeClock(now)
	opts := common.Options{Clock: clock, TransferRetryBase: time.Minute, TransferRetryMax: time.Hour, SubmitRetryBase: time.Second}
	opts.Defaults()
	r := &budgetallocation.Reconciler{Client: k8s, Recorder: events.NewFakeRecorder(100), Registry: reg, Options: opts}
	after, reason, created := reconcileAllocation(t, k8s, r, c)
	fail := func(format string, a ...any) {
		t.Helper()
		t.Errorf("%s\ncase: %s\npreview:\n%v\noperator: Ready %s (%s), created %v, planned %+v",
			fmt.Sprintf(format, a...), c.describe, p, reason, common.ConditionMessage(after.Status.Conditions, budgetv1alpha1.ConditionReady), created, after.Status.Planned)
	}

	if p.OrElse != nil && !c.prevCash.IsPositive() {
		// Nothing is reclaimable with the previous customer (the preview
		// cannot know: that balance is not published): the operator takes
		// the preview's other branch.
		p.Next = *p.OrElse
		if p.Awaiting != nil {
			p.KeepAwaiting, p.WithdrawWhy = planner.Settle(*p.Awaiting, p.Next.Decision, p.Mode, false, customer)
		}
	}
	if p.Gate != nil {
		if reason != p.Gate.Reason || created != nil {
			fail("preview stops at %s", p.Gate.Reason)
		}
		return p.Gate.Reason
	}
	if p.Awaiting != nil {
		var aw budgetv1alpha1.BudgetTransfer
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: "team", Name: p.Awaiting.Name}, &aw); err != nil {
			t.Fatal(err)
		}
		withdrawn := aw.Annotations[budgetv1alpha1.AnnotationWithdraw]
		if p.KeepAwaiting == (withdrawn != "") || (!p.KeepAwaiting && withdrawn != p.WithdrawWhy) {
			fail("preview keeps the awaiting transfer: %v (%s); operator withdrew it: %q", p.KeepAwaiting, p.WithdrawWhy, withdrawn)
		}
		if p.KeepAwaiting {
			if reason != budgetv1alpha1.ReasonAwaitingApproval || created != nil {
				fail("preview keeps the transfer waiting for approval")
			}
			return "Kept"
		}
		if p.Mode == budgetv1alpha1.ManagementPolicyManaged {
			// The transfer controller ends the withdrawn transfer; the next
			// reconcile of the allocation acts on the preview's next step.
			reconcileTransfer(t, k8s, reg, clock, &aw)
			after, reason, created = reconcileAllocation(t, k8s, r, c)
			if created == nil && p.Next.Action != planner.ActionCreate && reason == p.Next.Reason {
				counts := "Withdrawn"
				return counts
			}
		}
	}
	next := p.Next.Decision
	switch p.Mode {
	case budgetv1alpha1.ManagementPolicyPaused:
		if reason != budgetv1alpha1.ReasonPaused || created != nil {
			fail("preview says Paused")
		}
		return reason
	case budgetv1alpha1.ManagementPolicyPlan:
		if reason != budgetv1alpha1.ReasonPlanned || created != nil {
			fail("preview says Plan")
		}
		pl := after.Status.Planned
		if next.Action == planner.ActionWait && next.Operation == budgetv1alpha1.OperationReclaim && next.CustomerID != "" {
			got, _ := money.Parse(string(ptr.Deref(pl, budgetv1alpha1.PlannedTransfer{}).Amount))
			if pl == nil || pl.Operation != budgetv1alpha1.OperationReclaim || got.Cmp(next.Amount) > 0 {
				fail("preview plans to reclaim up to %s from %s", next.Amount, next.CustomerID)
			}
			return reason
		}
		if (next.Action == planner.ActionCreate) != (pl != nil) ||
			(pl != nil && (pl.Operation != next.Operation || pl.CouponID != next.CouponID ||
				(next.Operation != budgetv1alpha1.OperationCouponReclaim && string(pl.Amount) != next.Amount.String()))) {
			fail("status.planned differs from the preview")
		}
		return reason
	}
	switch next.Action {
	case planner.ActionCreate:
		if created == nil || created.Spec.Operation != next.Operation || created.Spec.CouponID != next.CouponID ||
			created.Spec.ExpireTime != next.ExpireTime || created.Spec.CustomerID != cmp.Or(next.CustomerID, customer) ||
			(next.Operation != budgetv1alpha1.OperationCouponReclaim && string(created.Spec.Amount) != next.Amount.String()) ||
			(next.Credit != (created.Spec.BalanceType == budgetv1alpha1.BalanceTypeCredit)) {
			fail("preview creates %s", planner.Describe(next))
			return "Create"
		}
		return c.checkApproval(t, k8s, reg, clock, created, p.Next, fail)
	case planner.ActionWait:
		if next.Operation == budgetv1alpha1.OperationReclaim && next.CustomerID != "" {
			// A previous customer's balance is not published: the preview
			// names an upper bound.
			got, _ := money.Parse(string(ptrOr(created).Spec.Amount))
			if created == nil || created.Spec.Operation != budgetv1alpha1.OperationReclaim || created.Spec.CustomerID != next.CustomerID || got.Cmp(next.Amount) > 0 {
				fail("preview reclaims up to %s from %s", next.Amount, next.CustomerID)
			}
			return "Reclaim previous"
		}
	}
	if created != nil || reason != next.Reason {
		fail("preview: %s %s", next.Action, next.Reason)
	}
	if next.Action == planner.ActionNone {
		return "Ready"
	}
	return next.Reason
}

// reconcileAllocation runs the BudgetAllocation reconciler once and
// returns the allocation, its Ready reason and the transfer it created.
func reconcileAllocation(t *testing.T, k8s client.Client, r *budgetallocation.Reconciler, c *pcase) (budgetv1alpha1.BudgetAllocation, string, *budgetv1alpha1.BudgetTransfer) {
	t.Helper()
	if r.APIReader == nil {
		r.APIReader = k8s
	}
	var after budgetv1alpha1.BudgetAllocation
	// A reconcile that writes the allocation's metadata (its finalizer,
	// its ledger id) or folds succeeded transfers into the checkpoint
	// moves nothing; the next one plans from what it wrote.
	for range 3 {
		var before budgetv1alpha1.BudgetAllocation
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(c.ba), &before); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(c.ba)}); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(c.ba), &after); err != nil {
			t.Fatal(err)
		}
		cp, was := after.Status.Checkpoint, before.Status.Checkpoint
		if len(after.Status.Conditions) > 0 && (cp == nil || was != nil && cp.Sequence == was.Sequence) {
			break
		}
	}
	return after, common.ReadyReason(after.Status.Conditions, budgetv1alpha1.ConditionReady), newTransfer(t, k8s, c)
}

// reconcileTransfer runs the BudgetTransfer reconciler once on bt and
// returns it as it is after.
func reconcileTransfer(t *testing.T, k8s client.Client, reg *accounts.Registry, clock *clocktesting.FakeClock, bt *budgetv1alpha1.BudgetTransfer) budgetv1alpha1.BudgetTransfer {
	t.Helper()
	opts := common.Options{Clock: clock, TransferSafetyWindow: time.Hour, SubmitRetryBase: time.Second}
	opts.Defaults()
	tr := &budgettransfer.Reconciler{Client: k8s, APIReader: k8s, Recorder: events.NewFakeRecorder(100), Registry: reg, Options: opts, Approvals: &common.KeyedLocks{}}
	if _, err := tr.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(bt)}); err != nil {
		t.Fatalf("transfer reconcile: %v", err)
	}
	var got budgetv1alpha1.BudgetTransfer
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(bt), &got); err != nil {
		t.Fatal(err)
	}
	return got
}

// checkApproval runs the transfer controller on the created transfer and
// compares its approval decision with the preview's.
func (c *pcase) checkApproval(t *testing.T, k8s client.Client, reg *accounts.Registry, clock *clocktesting.FakeClock, bt *budgetv1alpha1.BudgetTransfer,
	step plugin.Step, fail func(string, ...any)) string {
	t.Helper()
	got := reconcileTransfer(t, k8s, reg, clock, bt)
	waits := got.Status.Phase == budgetv1alpha1.PhaseAwaitingApproval
	switch {
	case !approval.Applies(bt.Spec.Operation):
		if waits {
			fail("a %s waits for approval", bt.Spec.Operation)
		}
	case step.Approval == nil:
		fail("preview gives no approval verdict (%s)", step.ApprovalUnknown)
	case step.Approval.Needed != waits:
		fail("preview: approval needed %v (%s); transfer controller: phase %s", step.Approval.Needed, step.Approval.Message, got.Status.Phase)
	}
	switch {
	case waits:
		return "Create+approval"
	case bt.Spec.BalanceType == budgetv1alpha1.BalanceTypeCredit:
		return "Create credit"
	}
	return "Create"
}

// newTransfer is the transfer the reconcile created, if any.
func newTransfer(t *testing.T, k8s client.Client, c *pcase) *budgetv1alpha1.BudgetTransfer {
	t.Helper()
	var list budgetv1alpha1.BudgetTransferList
	if err := k8s.List(context.Background(), &list, client.InNamespace("team")); err != nil {
		t.Fatal(err)
	}
	seeded := map[string]bool{}
	for _, o := range c.objs {
		seeded[o.GetNamespace()+"/"+o.GetName()] = true
	}
	for i := range list.Items {
		if !seeded["team/"+list.Items[i].Name] {
			return &list.Items[i]
		}
	}
	return nil
}

func ptrOr(bt *budgetv1alpha1.BudgetTransfer) *budgetv1alpha1.BudgetTransfer {
	if bt == nil {
		return &budgetv1alpha1.BudgetTransfer{}
	}
	return bt
}

// TestPreviewNeedsTheOrderPayments: with a fundingLimit, what the
// SubAccount's OrderPayments paid counts against it; a preview that cannot
// list them says it cannot tell what moves rather than assume none were
// paid.
func TestPreviewNeedsTheOrderPayments(t *testing.T) {
	ready := []metav1.Condition{{Type: budgetv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: budgetv1alpha1.ReasonReady, LastTransitionTime: metav1.NewTime(now)}}
	ea := &budgetv1alpha1.EnterpriseAccount{ObjectMeta: metav1.ObjectMeta{Name: master},
		Spec:   budgetv1alpha1.EnterpriseAccountSpec{CredentialsSecretRef: budgetv1alpha1.SecretReference{Name: "creds"}},
		Status: budgetv1alpha1.EnterpriseAccountStatus{Conditions: ready, TransferableCash: "5000.00", LastSyncTime: ptr.To(metav1.NewTime(now))}}
	sa := &budgetv1alpha1.SubAccount{ObjectMeta: metav1.ObjectMeta{Name: "team"},
		Spec: budgetv1alpha1.SubAccountSpec{EnterpriseAccountRef: budgetv1alpha1.LocalObjectReference{Name: master}, CustomerID: customer,
			FundingLimit: ptr.To(m("1000.00")), AllowedNamespaces: &budgetv1alpha1.AllowedNamespaces{Names: []string{"team"}}},
		Status: budgetv1alpha1.SubAccountStatus{CustomerID: customer, Conditions: ready, ReclaimableCash: "0.00"}}
	ba := &budgetv1alpha1.BudgetAllocation{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "team", UID: "uid-a"},
		Spec: budgetv1alpha1.BudgetAllocationSpec{SubAccountRef: budgetv1alpha1.LocalObjectReference{Name: "team"}, Amount: ptr.To(m("800.00"))}}
	for _, forbidden := range []bool{false, true} {
		b := fake.NewClientBuilder().WithScheme(localenv.NewScheme()).
			WithObjects(ea, sa, ba, paidOrder("pay-1", customer, "300.00")).
			WithInterceptorFuncs(interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
				if _, ok := list.(*budgetv1alpha1.OrderPaymentList); ok && forbidden {
					return apierrors.NewForbidden(budgetv1alpha1.GroupVersion.WithResource("orderpayments").GroupResource(), "", fmt.Errorf("not allowed"))
				}
				return c.List(ctx, list, opts...)
			}})
		if err := common.SetupIndexes(context.Background(), fakeIndexer{b}); err != nil {
			t.Fatal(err)
		}
		p := plugin.Predict(context.Background(), b.Build(), ba, nil, now)
		switch {
		case forbidden && (p.Gate == nil || p.Gate.Reason != "Unknown" || !strings.Contains(p.Gate.Message, "OrderPayments of SubAccount team cannot be listed (forbidden)")):
			t.Errorf("preview without the OrderPayments: gate %+v, next %s", p.Gate, planner.Describe(p.Next.Decision))
		case !forbidden && (p.Gate != nil || p.Next.Reason != budgetv1alpha1.ReasonFundingLimitExceeded || !strings.Contains(p.Next.Message, "only 700.00 is left")):
			// 1000 less the 300 paid for an order leaves 700, not the 800
			// asked for.
			t.Errorf("preview: gate %+v, next %s: %s", p.Gate, planner.Describe(p.Next.Decision), p.Next.Message)
		}
	}
}

package plugin_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/plugin"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

var (
	k8s     client.Client
	restCfg *rest.Config
)

func TestMain(m *testing.M) {
	env, cfg, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	restCfg = cfg
	scheme, err := plugin.Scheme()
	if err == nil {
		k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	}
	if err == nil {
		err = seed(context.Background())
	}
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, "setting up:", err)
	} else {
		code = m.Run()
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping envtest:", err)
	}
	os.Exit(code)
}

var (
	t0 = metav1.NewTime(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	t1 = metav1.NewTime(time.Date(2026, 11, 2, 9, 0, 5, 0, time.UTC))
)

func ready(status metav1.ConditionStatus, reason string) []metav1.Condition {
	return []metav1.Condition{{Type: budgetv1alpha1.ConditionReady, Status: status, Reason: reason, Message: "test", LastTransitionTime: t0}}
}

// createWithStatus creates obj, then writes status through the status
// subresource (mutate sets it on the created object).
func createWithStatus[T client.Object](ctx context.Context, obj T, mutate func(T)) error {
	if err := k8s.Create(ctx, obj); err != nil {
		return fmt.Errorf("creating %s: %w", obj.GetName(), err)
	}
	mutate(obj)
	if err := k8s.Status().Update(ctx, obj); err != nil {
		return fmt.Errorf("status of %s: %w", obj.GetName(), err)
	}
	return nil
}

func money(s string) *budgetv1alpha1.Money {
	m := budgetv1alpha1.Money(s)
	return &m
}

func transID(n int) string { return fmt.Sprintf("%032x", n) }

// seed creates: EnterpriseAccount acme (auto-approve up to 5000.00), its
// SubAccounts team-a (budget 5000.00, spend 1250.50) and team-b, the
// allocations team-a/compute, team-a/storage and team-b/web, and transfers
// of team-a/compute in every phase.
func seed(ctx context.Context) error {
	for _, ns := range []string{"team-a", "team-b"} {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	if err := createWithStatus(ctx, &budgetv1alpha1.EnterpriseAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "acme"},
		Spec: budgetv1alpha1.EnterpriseAccountSpec{
			CredentialsSecretRef: budgetv1alpha1.SecretReference{Name: "acme-credentials"},
			Approval:             &budgetv1alpha1.Approval{AutoApproveUpTo: money("5000.00")},
		},
	}, func(ea *budgetv1alpha1.EnterpriseAccount) {
		ea.Status.Conditions = ready(metav1.ConditionTrue, budgetv1alpha1.ReasonReady)
		ea.Status.TransferableCash = "100000.00"
		ea.Status.TransferableCoupons = []budgetv1alpha1.CouponBalance{{CouponID: "CP2026110100001", Balance: "1000.00"}}
	}); err != nil {
		return err
	}
	if err := createWithStatus(ctx, &budgetv1alpha1.SubAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "team-a"},
		Spec: budgetv1alpha1.SubAccountSpec{
			EnterpriseAccountRef: budgetv1alpha1.LocalObjectReference{Name: "acme"},
			CustomerID:           "cust-team-a-0001",
			AllowedNamespaces:    &budgetv1alpha1.AllowedNamespaces{Names: []string{"team-a"}},
			MonthlyBudget:        &budgetv1alpha1.MonthlyBudget{Amount: "5000.00"},
		},
	}, func(sa *budgetv1alpha1.SubAccount) {
		sa.Status.Conditions = ready(metav1.ConditionTrue, budgetv1alpha1.ReasonReady)
		sa.Status.CustomerID = "cust-team-a-0001"
		sa.Status.ReclaimableCash = "1000.00"
		sa.Status.Granted = "1150.25"
		sa.Status.CurrentCycle = &budgetv1alpha1.BillCycleSummary{Cycle: billcycle.Of(time.Now()), Consumption: "1250.50", Cash: "250.50", BudgetPercent: ptr.To[int32](25)}
	}); err != nil {
		return err
	}
	if err := createWithStatus(ctx, &budgetv1alpha1.SubAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "team-b"},
		Spec: budgetv1alpha1.SubAccountSpec{
			EnterpriseAccountRef: budgetv1alpha1.LocalObjectReference{Name: "acme"},
			CustomerID:           "cust-team-b-0001",
			AllowedNamespaces:    &budgetv1alpha1.AllowedNamespaces{Names: []string{"team-b"}},
		},
	}, func(sa *budgetv1alpha1.SubAccount) {
		sa.Status.Conditions = append(ready(metav1.ConditionTrue, budgetv1alpha1.ReasonReady), metav1.Condition{
			Type: budgetv1alpha1.ConditionBudgetExceeded, Status: metav1.ConditionTrue, Reason: budgetv1alpha1.ReasonBudgetExceeded, Message: "test", LastTransitionTime: t0})
		sa.Status.CustomerID = "cust-team-b-0001"
		sa.Status.ReclaimableCash = "150.00"
		sa.Status.CurrentCycle = &budgetv1alpha1.BillCycleSummary{Cycle: billcycle.Of(time.Now()), Consumption: "10.25"}
	}); err != nil {
		return err
	}

	if err := createWithStatus(ctx, &budgetv1alpha1.BudgetAllocation{
		ObjectMeta: metav1.ObjectMeta{Name: "compute", Namespace: "team-a"},
		Spec: budgetv1alpha1.BudgetAllocationSpec{
			SubAccountRef: budgetv1alpha1.LocalObjectReference{Name: "team-a"},
			Amount:        money("7900.00"),
			Coupons:       []budgetv1alpha1.CouponGrant{{CouponID: "CP2026110100003", Amount: "100.00"}},
		},
	}, func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Status.Conditions = ready(metav1.ConditionFalse, budgetv1alpha1.ReasonAwaitingApproval)
		ba.Status.Desired = "7900.00"
		ba.Status.Granted = "900.00"
		ba.Status.Pending = "7000.00"
		ba.Status.Coupons = []budgetv1alpha1.CouponGrantStatus{{CouponID: "CP2026110100003", SubCouponID: "SCP2026110100009", Amount: "100.00"}}
	}); err != nil {
		return err
	}
	if err := createWithStatus(ctx, &budgetv1alpha1.BudgetAllocation{
		ObjectMeta: metav1.ObjectMeta{Name: "storage", Namespace: "team-a"},
		Spec: budgetv1alpha1.BudgetAllocationSpec{
			SubAccountRef: budgetv1alpha1.LocalObjectReference{Name: "team-a"},
			Amount:        money("250.25"),
		},
	}, func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Status.Conditions = ready(metav1.ConditionTrue, budgetv1alpha1.ReasonReady)
		ba.Status.Desired = "250.25"
		ba.Status.Granted = "250.25"
	}); err != nil {
		return err
	}
	if err := createWithStatus(ctx, &budgetv1alpha1.BudgetAllocation{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team-b"},
		Spec: budgetv1alpha1.BudgetAllocationSpec{
			SubAccountRef:    budgetv1alpha1.LocalObjectReference{Name: "team-b"},
			TopUp:            &budgetv1alpha1.TopUp{MinimumBalance: "100.00", TargetBalance: "500.00", MonthlyLimit: "2000.00"},
			ManagementPolicy: budgetv1alpha1.ManagementPolicyPlan,
		},
	}, func(ba *budgetv1alpha1.BudgetAllocation) {
		ba.Status.Conditions = ready(metav1.ConditionTrue, budgetv1alpha1.ReasonPlanned)
		ba.Status.Desired = "500.00"
		ba.Status.Granted = "0"
	}); err != nil {
		return err
	}

	type tr struct {
		name    string
		seq     int64
		op      budgetv1alpha1.TransferOperation
		amount  budgetv1alpha1.Money
		coupon  string
		phase   budgetv1alpha1.TransferPhase
		errCode string
	}
	// The allocations own their transfers, as the operator makes them;
	// "big" is gone and owns nothing.
	owners := map[string][]metav1.OwnerReference{}
	for _, name := range []string{"compute", "storage"} {
		var ba budgetv1alpha1.BudgetAllocation
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: "team-a", Name: name}, &ba); err != nil {
			return err
		}
		owners[name] = []metav1.OwnerReference{{APIVersion: budgetv1alpha1.GroupVersion.String(), Kind: "BudgetAllocation",
			Name: name, UID: ba.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
	}
	for _, x := range []tr{
		// Out of order on purpose: history sorts by sequence.
		{"compute-00003", 3, budgetv1alpha1.OperationCouponTransfer, "100.00", "CP2026110100003", budgetv1alpha1.PhaseSucceeded, ""},
		{"compute-00001", 1, budgetv1alpha1.OperationTransfer, "1000.00", "", budgetv1alpha1.PhaseSucceeded, ""},
		{"storage-00001", 1, budgetv1alpha1.OperationTransfer, "250.25", "", budgetv1alpha1.PhaseSucceeded, ""},
		{"compute-00002", 2, budgetv1alpha1.OperationReclaim, "100.00", "", budgetv1alpha1.PhaseSucceeded, ""},
		{"compute-00004", 4, budgetv1alpha1.OperationTransfer, "7000.00", "", budgetv1alpha1.PhaseFailed, "CBC.99005003"},
		{"compute-00005", 5, budgetv1alpha1.OperationTransfer, "7000.00", "", budgetv1alpha1.PhaseAwaitingApproval, ""},
		{"big-1", 1, budgetv1alpha1.OperationTransfer, "9000.00", "", budgetv1alpha1.PhaseAwaitingApproval, ""},
		{"big-2", 2, budgetv1alpha1.OperationTransfer, "9000.00", "", budgetv1alpha1.PhaseAwaitingApproval, ""},
	} {
		alloc, _, _ := strings.Cut(x.name, "-")
		if err := createWithStatus(ctx, &budgetv1alpha1.BudgetTransfer{
			ObjectMeta: metav1.ObjectMeta{Name: x.name, Namespace: "team-a", Labels: map[string]string{plugin.LabelAllocation: alloc, budgetv1alpha1.LabelSubAccount: "team-a"},
				OwnerReferences: owners[alloc]},
			Spec: budgetv1alpha1.BudgetTransferSpec{
				AllocationRef:         budgetv1alpha1.LocalObjectReference{Name: alloc},
				SubAccountName:        "team-a",
				EnterpriseAccountName: "acme",
				CustomerID:            "cust-team-a-0001",
				Operation:             x.op,
				Amount:                x.amount,
				CouponID:              x.coupon,
				TransID:               transID(transNumber(alloc, x.seq)),
				Sequence:              x.seq,
			},
		}, func(bt *budgetv1alpha1.BudgetTransfer) {
			bt.Status.Phase = x.phase
			bt.Status.Conditions = ready(metav1.ConditionFalse, string(x.phase))
			bt.Status.ErrorCode = x.errCode
			if x.op == budgetv1alpha1.OperationCouponTransfer {
				bt.Status.Result = &budgetv1alpha1.TransferResult{SubCouponID: "SCP2026110100009"}
			}
			if x.op == budgetv1alpha1.OperationReclaim {
				// Its answer was lost; the master's balance showed it.
				bt.Status.Evidence = &budgetv1alpha1.TransferEvidence{Kind: budgetv1alpha1.EvidenceBalance, Detail: "the master's transferable cash was 10.00 right before attempt 1 and 110.00 right after it"}
			}
			switch x.phase {
			case budgetv1alpha1.PhaseSucceeded, budgetv1alpha1.PhaseFailed:
				bt.Status.Attempts = 1
				bt.Status.CompletionTime = &t1
			}
		}); err != nil {
			return err
		}
	}
	return nil
}

// transNumber numbers the seeded transfers' trans_ids: 100 per character
// of the allocation's name plus the sequence (storage's from 5000 on).
func transNumber(alloc string, seq int64) int {
	n := int(seq) + len(alloc)*100
	if alloc == "storage" {
		n += 5000
	}
	return n
}

// run runs the plugin with the envtest client; the kubeconfig namespace is
// team-a.
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = plugin.RunWithInput(context.Background(), args, strings.NewReader(stdin), &out, &errOut,
		func(plugin.ConnectionFlags) (client.Client, string, error) { return k8s, "team-a", nil })
	t.Logf("kubectl budget %s (exit %d)\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return out.String(), errOut.String(), code
}

func mustContain(t *testing.T, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q", s)
		}
	}
}

func mustNotContain(t *testing.T, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(out, s) {
			t.Errorf("output contains %q", s)
		}
	}
}

// line returns the first output line starting (after tree drawing) with prefix.
func line(t *testing.T, out, prefix string) string {
	t.Helper()
	for l := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, "│├└─ "), prefix) {
			return l
		}
	}
	t.Fatalf("no line starting with %q in\n%s", prefix, out)
	return ""
}

func TestStatusNamespace(t *testing.T) {
	out, _, code := run(t, "", "status")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out, "NAME", "DESIRED", "GRANTED", "PENDING", "SPEND", "BUDGET", "READY", "REASON")
	mustContain(t, line(t, out, "ea/acme"), "8150.25", "1150.25", "7000.00", "1250.50", "True", "Ready")
	mustContain(t, line(t, out, "subacct/team-a"), "1250.50", "5000.00", "25%", "True")
	mustContain(t, line(t, out, "ba/team-a/compute"), "7900.00", "900.00", "7000.00", "False", "AwaitingApproval")
	mustContain(t, line(t, out, "ba/team-a/storage"), "250.25", "True", "Ready")
	// Totals are exact sums: 7900.00 + 250.25 and 900.00 + 250.25.
	mustContain(t, line(t, out, "TOTAL"), "8150.25", "1150.25", "7000.00", "1250.50")
	mustNotContain(t, out, "team-b")
	if !strings.Contains(out, "├─ ba/team-a/compute") || !strings.Contains(out, "└─ ba/team-a/storage") || !strings.Contains(out, "└─ subacct/team-a") {
		t.Errorf("not drawn as a tree:\n%s", out)
	}
}

func TestStatusAllNamespaces(t *testing.T) {
	out, _, code := run(t, "", "status", "-A")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, line(t, out, "subacct/team-b"), "500.00", "0.00", "10.25", "BudgetExceeded")
	mustContain(t, line(t, out, "ba/team-b/web (Plan)"), "500.00", "Planned")
	// 1250.50 + 10.25 spent; 8150.25 + 500.00 desired.
	mustContain(t, line(t, out, "TOTAL"), "8650.25", "1150.25", "1260.75")

	_, errOut, code := run(t, "", "status", "-A", "-n", "team-a")
	if code != plugin.ExitUsage || !strings.Contains(errOut, "cannot be used together") {
		t.Errorf("-A with -n: exit %d, %q", code, errOut)
	}
	_, errOut, code = run(t, "", "status", "-n", "nobody")
	if code != 0 || !strings.Contains(errOut, "No BudgetAllocations found in namespace nobody") {
		t.Errorf("empty namespace: exit %d, %q", code, errOut)
	}
}

// TestPlanNamesTheCycleBudget: a transfer within autoApproveUpTo that would
// take the sub-account past its budget per cycle (by default
// autoApproveUpTo too) is shown as needing approval under that limit. Of
// team-a's transfers, 1000.00 and a 100.00 coupon moved without approval.
func TestPlanNamesTheCycleBudget(t *testing.T) {
	file := writeFile(t, `
apiVersion: budget.bss.dev/v1alpha1
kind: BudgetAllocation
metadata: {name: steps, namespace: team-a}
spec:
  subAccountRef: {name: team-a}
  amount: "4000"
`)
	out, _, code := run(t, "", "plan", "-f", file)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out, "needs approval (autoApproveCyclePerSubAccount 5000.00): Transfer 4000.00 would take what moved to sub-account team-a without approval in bill cycle")
	mustContain(t, out, "to 5350.25, above the auto-approval budget 5000.00 per sub-account and cycle")
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ba.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPlanRaiseAndCoupons(t *testing.T) {
	file := writeFile(t, `
apiVersion: budget.bss.dev/v1alpha1
kind: BudgetAllocation
metadata: {name: storage}
spec:
  subAccountRef: {name: team-a}
  amount: "350.25"
---
# compute: lower the amount, swap the coupon
apiVersion: budget.bss.dev/v1alpha1
kind: BudgetAllocation
metadata: {name: compute, namespace: team-a}
spec:
  subAccountRef: {name: team-a}
  amount: "400.00"
  coupons:
  - {couponID: CP2026110100001, amount: "500.00"}
---
apiVersion: budget.bss.dev/v1alpha1
kind: BudgetAllocation
metadata: {name: fresh, namespace: team-a}
spec:
  subAccountRef: {name: team-a}
  amount: "6000"
`)
	out, _, code := run(t, "", "plan", "-f", file)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out,
		"ba/team-a/storage: would be updated",
		"figures: master: transferable cash 100000.00, 1 coupon(s) (EnterpriseAccount acme status",
		"figures: sub-account: reclaimable cash 1000.00 (SubAccount team-a status",
		"next: Transfer 100.00  (granted 250.25, desired 350.25)",
		"no approval needed: within the auto-approval limits (1350.25 moved to sub-account team-a without approval in bill cycle",
		"ba/team-a/compute: would be updated",
		// The transfer waiting for approval is not what the new spec asks for.
		"withdraws: compute-00005, which waits for approval, is withdrawn: the allocation's spec no longer asks for it",
		"next: Reclaim 500.00  (granted 900.00, desired 400.00)",
		"then, if that succeeds: CouponReclaim of sub-coupon SCP2026110100009 (coupon CP2026110100003)",
		"then, if that succeeds: CouponTransfer 500.00 of coupon CP2026110100001",
		"then, if that succeeds: nothing moves: granted 400.00 as desired",
		"ba/team-a/fresh: would be created",
		"next: Transfer 6000.00  (granted 0.00, desired 6000.00)",
		"needs approval (autoApproveUpTo 5000.00): Transfer 6000.00 is above the auto-approval limit 5000.00 per transfer",
		"balanceType Debit", // defaulted by the API server
	)
	// A dry run stores nothing.
	var ba budgetv1alpha1.BudgetAllocation
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: "team-a", Name: "storage"}, &ba); err != nil {
		t.Fatal(err)
	}
	if *ba.Spec.Amount != "250.25" {
		t.Errorf("dry run changed storage's amount to %s", *ba.Spec.Amount)
	}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: "team-a", Name: "fresh"}, &ba); err == nil {
		t.Error("dry run created team-a/fresh")
	}
}

func TestPlanTopUpFromStdin(t *testing.T) {
	out, _, code := run(t, `{"apiVersion":"budget.bss.dev/v1alpha1","kind":"BudgetAllocation","metadata":{"name":"web","namespace":"team-b"},
"spec":{"subAccountRef":{"name":"team-b"},"topUp":{"minimumBalance":"200.00","targetBalance":"800.00","monthlyLimit":"3000.00"},"managementPolicy":"Plan"}}`,
		"plan", "-f", "-")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out, "ba/team-b/web: would be updated",
		"topUp: below 200.00 the balance is topped up to 800.00, at most 3000.00 per bill cycle (0.00 used in ",
		"nothing moves: managementPolicy Plan shows in status.planned: Transfer 650.00  (granted 0.00, desired 650.00)")
}

func TestPlanRejectsInvalid(t *testing.T) {
	file := writeFile(t, `
apiVersion: budget.bss.dev/v1alpha1
kind: BudgetAllocation
metadata: {name: storage, namespace: team-a}
spec:
  subAccountRef: {name: team-a}
  amount: "1.234"
---
apiVersion: budget.bss.dev/v1alpha1
kind: BudgetAllocation
metadata: {name: typo, namespace: team-a}
spec:
  subAccountRef: {name: team-a}
  amount: "10.00"
  coupon: []
---
apiVersion: budget.bss.dev/v1alpha1
kind: BudgetAllocation
metadata: {name: ok, namespace: team-a}
spec:
  subAccountRef: {name: team-a}
  amount: "10.00"
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
`)
	out, errOut, code := run(t, "", "plan", "-f", file)
	if code != plugin.ExitError {
		t.Fatalf("exit %d, want %d", code, plugin.ExitError)
	}
	mustContain(t, out,
		"ba/team-a/storage: REJECTED",
		"spec.amount",
		"must be yuan from 0 to 999999999999.99 with at most 2 decimals",
		"ba/team-a/typo: REJECTED",
		`unknown field "spec.coupon"`,
		"ba/team-a/ok: would be created",
		"Transfer 10.00",
		"plan only handles budget.bss.dev BudgetAllocations",
	)
	mustContain(t, errOut, "3 of 4")
}

func TestPlanUsage(t *testing.T) {
	if _, errOut, code := run(t, "", "plan"); code != plugin.ExitUsage || !strings.Contains(errOut, "-f FILE is required") {
		t.Errorf("plan without -f: exit %d, %q", code, errOut)
	}
	if _, errOut, code := run(t, "", "plan", "-f", "/does/not/exist"); code != plugin.ExitError || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: exit %d, %q", code, errOut)
	}
	if _, errOut, code := run(t, "", "plan", "-f", "-"); code != plugin.ExitError || !strings.Contains(errOut, "no objects") {
		t.Errorf("empty input: exit %d, %q", code, errOut)
	}
}

func getTransfer(t *testing.T, name string) *budgetv1alpha1.BudgetTransfer {
	t.Helper()
	var bt budgetv1alpha1.BudgetTransfer
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: "team-a", Name: name}, &bt); err != nil {
		t.Fatal(err)
	}
	return &bt
}

func TestApprove(t *testing.T) {
	out, _, code := run(t, "", "approve", "big-1", "--message", "ticket FIN-42", "-n", "team-a")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out, "bt/team-a/big-1 approved", "Transfer 9000.00")
	c := meta.FindStatusCondition(getTransfer(t, "big-1").Status.Conditions, budgetv1alpha1.ConditionApproved)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != plugin.ReasonApprovedByUser || !strings.Contains(c.Message, "ticket FIN-42") {
		t.Fatalf("Approved condition = %+v", c)
	}
	if meta.FindStatusCondition(getTransfer(t, "big-1").Status.Conditions, budgetv1alpha1.ConditionReady) == nil {
		t.Error("the Ready condition was lost")
	}

	// Approving again changes nothing; denying now is refused.
	out, _, code = run(t, "", "approve", "big-1")
	if code != 0 || !strings.Contains(out, "already approved") {
		t.Errorf("second approve: exit %d, %q", code, out)
	}
	_, errOut, code := run(t, "", "deny", "big-1")
	if code != plugin.ExitError || !strings.Contains(errOut, "already has Approved=True") {
		t.Errorf("deny after approve: exit %d, %q", code, errOut)
	}
}

func TestDeny(t *testing.T) {
	_, _, code := run(t, "", "deny", "--message", "over budget", "big-2")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	bt := getTransfer(t, "big-2")
	c := meta.FindStatusCondition(bt.Status.Conditions, budgetv1alpha1.ConditionDenied)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != plugin.ReasonDeniedByUser || !strings.Contains(c.Message, "over budget") {
		t.Fatalf("Denied condition = %+v", c)
	}
	if meta.FindStatusCondition(bt.Status.Conditions, budgetv1alpha1.ConditionApproved) != nil {
		t.Error("deny set Approved")
	}
}

func TestApproveRefusesSettledTransfer(t *testing.T) {
	before := getTransfer(t, "compute-00001")
	_, errOut, code := run(t, "", "approve", "compute-00001")
	if code != plugin.ExitError {
		t.Fatalf("exit %d, want %d", code, plugin.ExitError)
	}
	mustContain(t, errOut, "bt/team-a/compute-00001 is in phase Succeeded (Succeeded: test), not AwaitingApproval")
	after := getTransfer(t, "compute-00001")
	if after.ResourceVersion != before.ResourceVersion || meta.FindStatusCondition(after.Status.Conditions, budgetv1alpha1.ConditionApproved) != nil {
		t.Error("a Succeeded transfer was changed")
	}

	if _, errOut, code := run(t, "", "deny", "nope"); code != plugin.ExitError || !strings.Contains(errOut, "not found") {
		t.Errorf("missing transfer: exit %d, %q", code, errOut)
	}
	if _, _, code := run(t, "", "approve"); code != plugin.ExitUsage {
		t.Errorf("approve without a name: exit %d", code)
	}
}

func TestHistory(t *testing.T) {
	out, _, code := run(t, "", "history", "compute")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out, "ba/team-a/compute  subAccount team-a  desired 7900.00  granted 900.00  pending 7000.00",
		"SEQ", "OPERATION", "AMOUNT", "PHASE", "ATTEMPTS", "ERROR", "TRANSID", "CREATED", "COMPLETED", "GRANTED")
	mustContain(t, line(t, out, "1 "), "compute-00001", "Transfer", "1000.00", "Succeeded", transID(701), "2026-11-02T09:00:05Z", "1000.00")
	mustContain(t, line(t, out, "2 "), "Reclaim", "100.00", "Succeeded (by balance)", "900.00")
	mustContain(t, line(t, out, "3 "), "CouponTransfer CP2026110100003", "900.00")
	mustContain(t, line(t, out, "4 "), "Failed", "CBC.99005003", "900.00")
	mustContain(t, line(t, out, "5 "), "AwaitingApproval", "900.00")
	// Ordered by sequence, not by name or creation.
	if i1, i3 := strings.Index(out, "compute-00001"), strings.Index(out, "compute-00003"); i1 > i3 {
		t.Error("not ordered by sequence")
	}
	mustNotContain(t, out, "big-1", "note:")

	// Transfers outlive their allocation.
	out, _, code = run(t, "", "history", "big")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out, "no longer exists", "big-1", "big-2")

	if _, errOut, code := run(t, "", "history", "nothing"); code != plugin.ExitError || !strings.Contains(errOut, "no BudgetAllocation ba/team-a/nothing") {
		t.Errorf("unknown allocation: exit %d, %q", code, errOut)
	}
}

func TestHelpAndUsage(t *testing.T) {
	out, _, code := run(t, "", "--help")
	if code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	mustContain(t, out, "status", "plan", "orders", "costs", "pay", "approve", "deny", "history", "ledger", "--kubeconfig", "--context")
	for _, cmd := range []string{"status", "plan", "orders", "costs", "pay", "approve", "deny", "history", "ledger"} {
		out, _, code := run(t, "", cmd, "--help")
		if code != 0 {
			t.Errorf("%s --help: exit %d", cmd, code)
		}
		mustContain(t, out, "Usage:\n  kubectl budget "+cmd, "--namespace", "--kubeconfig")
		out2, _, _ := run(t, "", "help", cmd)
		if out2 != out {
			t.Errorf("help %s differs from %s --help", cmd, cmd)
		}
	}
	if _, errOut, code := run(t, "", "frobnicate"); code != plugin.ExitUsage || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %q", code, errOut)
	}
	if _, _, code := run(t, ""); code != plugin.ExitUsage {
		t.Errorf("no command: exit %d", code)
	}
	if _, errOut, code := run(t, "", "status", "--bogus"); code != plugin.ExitUsage || !strings.Contains(errOut, "bogus") {
		t.Errorf("unknown flag: exit %d, %q", code, errOut)
	}
}

// TestKubeconfig runs the real client factory on a kubeconfig file with two
// contexts, selected with --context; the context's namespace is the default.
func TestKubeconfig(t *testing.T) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: restCfg.Host, CertificateAuthorityData: restCfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: restCfg.CertData, ClientKeyData: restCfg.KeyData, Token: restCfg.BearerToken}
	kc.Contexts["team-a"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin", Namespace: "team-a"}
	kc.Contexts["team-b"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin", Namespace: "team-b"}
	kc.CurrentContext = "team-a"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}

	runReal := func(args ...string) (string, string, int) {
		var out, errOut bytes.Buffer
		code := plugin.Run(context.Background(), args, &out, &errOut, plugin.KubeconfigClient)
		return out.String(), errOut.String(), code
	}
	out, errOut, code := runReal("status", "--kubeconfig", path, "--context", "team-b")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	mustContain(t, out, "ba/team-b/web")
	mustNotContain(t, out, "team-a/compute")

	t.Setenv("KUBECONFIG", path)
	out, errOut, code = runReal("history", "storage")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	mustContain(t, out, "ba/team-a/storage", "storage-00001")

	if _, errOut, code := runReal("--kubeconfig", path, "--context", "nowhere", "status"); code != plugin.ExitError || !strings.Contains(errOut, "nowhere") {
		t.Errorf("unknown context: exit %d, %q", code, errOut)
	}
}

func TestPlanWarnings(t *testing.T) {
	out, _, code := run(t, `
apiVersion: budget.bss.dev/v1alpha1
kind: BudgetAllocation
metadata: {name: sneaky, namespace: team-b}
spec:
  subAccountRef: {name: team-a}
  amount: "10.00"
---
apiVersion: budget.bss.dev/v1alpha1
kind: BudgetAllocation
metadata: {name: lost}
spec:
  subAccountRef: {name: ghost}
  amount: "10.00"
`, "plan", "-f", "-")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out,
		"nothing moves: NamespaceNotAllowed: SubAccount team-a does not admit namespace team-b in spec.allowedNamespaces",
		"nothing moves: SubAccountNotReady: SubAccount ghost does not exist")
}

// TestStatusWithoutClusterAccess runs status as a team member who may read
// allocations in team-a but no cluster-scoped kinds.
func TestStatusWithoutClusterAccess(t *testing.T) {
	ctx := context.Background()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "budget-viewer", Namespace: "team-a"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{budgetv1alpha1.GroupVersion.Group},
			Resources: []string{"budgetallocations", "budgettransfers"}, Verbs: []string{"get", "list"}}},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "budget-viewer", Namespace: "team-a"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "budget-viewer"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "dev@team-a"}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	cfg := rest.CopyConfig(restCfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "dev@team-a"}
	dev, err := client.New(cfg, client.Options{Scheme: k8s.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	runAs := func(args ...string) (string, string, int) {
		var out, errOut bytes.Buffer
		code := plugin.Run(ctx, args, &out, &errOut, func(plugin.ConnectionFlags) (client.Client, string, error) { return dev, "team-a", nil })
		t.Logf("as dev@team-a: kubectl budget %s (exit %d)\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
		return out.String(), errOut.String(), code
	}
	// RBAC is cached by the authorizer; wait until the binding is seen.
	var out, errOut string
	var code int
	testenv.Eventually(t, 10*time.Second, "kubectl budget status as dev@team-a", func() bool {
		out, errOut, code = runAs("status")
		return code == 0
	}, func() string { return fmt.Sprintf("exit %d: %s", code, errOut) })
	mustContain(t, errOut, "warning: you may not list SubAccounts")
	mustContain(t, line(t, out, "ea/? (unknown)"), "8150.25", "1150.25")
	mustContain(t, line(t, out, "subacct/team-a"), "8150.25")
	mustContain(t, line(t, out, "ba/team-a/compute"), "AwaitingApproval")
	if total := line(t, out, "TOTAL"); !strings.HasSuffix(total, " -") || strings.Contains(total, " 0.00") {
		t.Errorf("unknown spend summed as a number: %q", total)
	}

	// The kept trail is cluster-scoped: history shows the live transfers
	// and says what is missing.
	out, errOut, code = runAs("history", "big")
	if code != 0 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "needs the ledger-record-reader role") {
		t.Errorf("history without reading LedgerRecords: exit %d, %q", code, errOut)
	}
	mustContain(t, out, "big-1", "big-2")

	if _, errOut, code := runAs("approve", "compute-00005"); code != plugin.ExitError || !strings.Contains(errOut, "forbidden") {
		t.Errorf("approve without the right: exit %d, %q", code, errOut)
	}
	if _, errOut, code := runAs("status", "-A"); code != plugin.ExitError || !strings.Contains(errOut, "forbidden") {
		t.Errorf("status -A without the right: exit %d, %q", code, errOut)
	}
}

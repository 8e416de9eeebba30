package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

var (
	k8s client.Client
	// cfg reaches the envtest API server.
	cfg *rest.Config
)

func TestMain(m *testing.M) {
	env, c, err := testenv.Start()
	if err != nil {
		panic(err)
	}
	cfg = c
	k8s, err = client.New(cfg, client.Options{})
	if err != nil {
		panic(err)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		panic(err)
	}
	os.Exit(code)
}

func obj(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8s.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func TestSamplesAreAccepted(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "budget_*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(b), "\n---\n") {
			u := obj(t, doc)
			if ns := u.GetNamespace(); ns != "" {
				ensureNamespace(t, ns)
			}
			if err := k8s.Create(context.Background(), u, client.DryRunAll); err != nil {
				t.Errorf("%s: %s/%s rejected: %v", filepath.Base(f), u.GetKind(), u.GetName(), err)
			}
		}
	}
}

const allocation = `
apiVersion: budget.bss.dev/v1alpha1
kind: BudgetAllocation
metadata: {name: a, namespace: default}
spec:
  subAccountRef: {name: team-a}
`

// subAccountC1 is a SubAccount adopting customer c1, for cases to extend.
const subAccountC1 = `
apiVersion: budget.bss.dev/v1alpha1
kind: SubAccount
metadata: {name: s}
spec:
  enterpriseAccountRef: {name: acme}
  customerID: c1
`

func TestBadObjectsAreRejectedWithReadableMessages(t *testing.T) {
	moneyMsg := "must be yuan from 0 to 999999999999.99 with at most 2 decimals"
	cases := []struct {
		name string
		doc  string
		want string
	}{
		{"amount with 3 decimals", allocation + `  amount: "1.234"`, moneyMsg},
		{"negative amount", allocation + `  amount: "-5"`, moneyMsg},
		{"exponent", allocation + `  amount: "1e3"`, moneyMsg},
		{"leading zero", allocation + `  amount: "01.5"`, moneyMsg},
		{"empty amount", allocation + `  amount: ""`, "spec.amount"},
		{"amount and topUp", allocation + `  amount: "10"
  topUp: {minimumBalance: "1", targetBalance: "2", monthlyLimit: "3"}`, "set exactly one of amount"},
		{"neither amount nor topUp", allocation, "set exactly one of amount"},
		{"topUp minimum not below target", allocation + `  topUp: {minimumBalance: "5", targetBalance: "5", monthlyLimit: "3"}`, "minimumBalance must be less than"},
		{"topUp monthly limit zero", allocation + `  topUp: {minimumBalance: "1", targetBalance: "5", monthlyLimit: "0.00"}`, "monthlyLimit must be greater than 0"},
		{"duplicate coupon ids", allocation + `  amount: "10"
  coupons: [{couponID: c1, amount: "1"}, {couponID: c1, amount: "2"}]`, "Duplicate value"},
		{"zero coupon amount", allocation + `  amount: "10"
  coupons: [{couponID: c1, amount: "0"}]`, "coupon amount must be greater than 0"},
		{"too many coupons", allocation + `  amount: "10"
  coupons: [` + manyCoupons(21) + `]`, "must have at most 20 items"},
		{"unknown balance type", allocation + `  amount: "10"
  balanceType: Cash`, "Unsupported value"},
		{"http endpoint to a public host", `
apiVersion: budget.bss.dev/v1alpha1
kind: EnterpriseAccount
metadata: {name: e}
spec:
  endpoint: http://bss.myhuaweicloud.com
  credentialsSecretRef: {name: s}`, "endpoint must be an https URL"},
		{"rate limit above 10", `
apiVersion: budget.bss.dev/v1alpha1
kind: EnterpriseAccount
metadata: {name: e}
spec:
  credentialsSecretRef: {name: s}
  rateLimit: {requestsPerSecond: 11}`, "less than or equal to 10"},
		{"sync interval too short", `
apiVersion: budget.bss.dev/v1alpha1
kind: EnterpriseAccount
metadata: {name: e}
spec:
  credentialsSecretRef: {name: s}
  balanceSyncInterval: 1s`, "balanceSyncInterval must be between"},
		{"sub-account listing its own customer as a previous one", subAccountC1 + `  previousCustomers:
  - {customerID: c1, policy: Release}`, "it cannot list its own customerID"},
		{"previous customer with an unknown policy", subAccountC1 + `  previousCustomers:
  - {customerID: c0, policy: Forget}`, `supported values: "Reclaim", "Release"`},
		{"sub-account with customerID and create", `
apiVersion: budget.bss.dev/v1alpha1
kind: SubAccount
metadata: {name: s}
spec:
  enterpriseAccountRef: {name: acme}
  customerID: c1
  create:
    accountName: x
    partyID: "1"
    passwordSecretRef: {name: p}
    phone: {useMasterPhone: true}`, "set exactly one of customerID"},
		{"sub-account phone with both", `
apiVersion: budget.bss.dev/v1alpha1
kind: SubAccount
metadata: {name: s}
spec:
  enterpriseAccountRef: {name: acme}
  create:
    accountName: x
    partyID: "1"
    passwordSecretRef: {name: p}
    phone: {useMasterPhone: true, number: "13800000000", verificationCodeSecretRef: {name: c}}`, "set either useMasterPhone"},
		{"unknown permission", `
apiVersion: budget.bss.dev/v1alpha1
kind: SubAccount
metadata: {name: s}
spec:
  enterpriseAccountRef: {name: acme}
  create:
    accountName: x
    partyID: "1"
    permissions: [READ_EVERYTHING]
    passwordSecretRef: {name: p}
    phone: {useMasterPhone: true}`, "Unsupported value"},
		{"31-character transID", transfer("Transfer", `"10"`, strings.Repeat("a", 31)), "transID must be exactly 32 lowercase hex"},
		{"upper-case transID", transfer("Transfer", `"10"`, strings.Repeat("A", 32)), "transID must be exactly 32 lowercase hex"},
		{"transfer without amount", transfer("Reclaim", `null`, strings.Repeat("a", 32)), "amount must be greater than 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := k8s.Create(context.Background(), obj(t, tc.doc), client.DryRunAll)
			if err == nil {
				t.Fatalf("accepted; want rejection containing %q", tc.want)
			}
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

// TestAmountsGetOneMessage checks the whole error a person sees for an
// amount that is too long or too large: the money message, which names the
// largest amount accepted, and nothing else (no "Too long", no regular
// expression, no note about rules left unchecked).
func TestAmountsGetOneMessage(t *testing.T) {
	const msg = "must be yuan from 0 to 999999999999.99 with at most 2 decimals and no sign, exponent or leading zeros, e.g. 1250.50"
	for _, tc := range []struct{ field, value string }{
		{"spec.amount", "12345678901234567.00"},
		{"spec.amount", "1234567890123.00"},
		{"spec.amount", "1000000000000"},
		{"spec.amount", "1.2345678901234567"},
		{"spec.coupons[0].amount", "12345678901234567.00"},
	} {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			doc := allocation + `  amount: "` + tc.value + `"`
			if tc.field != "spec.amount" {
				doc = allocation + `  amount: "10"
  coupons: [{couponID: c1, amount: "` + tc.value + `"}]`
			}
			err := k8s.Create(context.Background(), obj(t, doc), client.DryRunAll)
			want := `BudgetAllocation.budget.bss.dev "a" is invalid: ` + tc.field + `: Invalid value: "` + tc.value + `": ` + msg
			if err == nil || err.Error() != want {
				t.Errorf("error\n  %v\nwant\n  %s", err, want)
			}
		})
	}
	for _, ok := range []string{"999999999999.99", "0", "0.01", "1250.5"} {
		if err := k8s.Create(context.Background(), obj(t, allocation+`  amount: "`+ok+`"`), client.DryRunAll); err != nil {
			t.Errorf("amount %s rejected: %v", ok, err)
		}
	}
}

func manyCoupons(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, `{couponID: c`+string(rune('a'+i))+`, amount: "1"}`)
	}
	return strings.Join(parts, ", ")
}

func transfer(op, amount, transID string) string {
	return `
apiVersion: budget.bss.dev/v1alpha1
kind: BudgetTransfer
metadata: {name: t, namespace: default}
spec:
  allocationRef: {name: a}
  subAccountName: team-a
  customerID: c1
  operation: ` + op + `
  amount: ` + amount + `
  transID: ` + transID + `
`
}

func TestImmutableFields(t *testing.T) {
	ctx := context.Background()
	ensureNamespace(t, "immutable")

	ba := obj(t, strings.Replace(allocation, "namespace: default", "namespace: immutable", 1)+`  amount: "10"`)
	if err := k8s.Create(ctx, ba); err != nil {
		t.Fatal(err)
	}
	for _, change := range []struct {
		field []string
		value any
		want  string
	}{
		{[]string{"spec", "subAccountRef", "name"}, "team-b", "subAccountRef cannot be changed"},
		{[]string{"spec", "balanceType"}, "Credit", "balanceType cannot be changed"},
	} {
		u := ba.DeepCopy()
		if err := unstructured.SetNestedField(u.Object, change.value, change.field...); err != nil {
			t.Fatal(err)
		}
		if err := k8s.Update(ctx, u); err == nil || !strings.Contains(err.Error(), change.want) {
			t.Errorf("changing %v: err = %v, want %q", change.field, err, change.want)
		}
	}

	bt := obj(t, strings.Replace(transfer("Transfer", `"10"`, strings.Repeat("a", 32)), "namespace: default", "namespace: immutable", 1))
	if err := k8s.Create(ctx, bt); err != nil {
		t.Fatal(err)
	}
	u := bt.DeepCopy()
	_ = unstructured.SetNestedField(u.Object, "20", "spec", "amount")
	if err := k8s.Update(ctx, u); err == nil || !strings.Contains(err.Error(), "BudgetTransfer spec is immutable") {
		t.Errorf("editing a transfer's spec: err = %v", err)
	}

	// A full record (200 entries) is accepted, and never changes.
	var entries strings.Builder
	for i := 1; i <= 200; i++ {
		fmt.Fprintf(&entries, "  - {sequence: %d, name: team-a-%05d, transID: \"%032d\", operation: Transfer, balanceType: Debit, amount: \"10.50\", customerID: c1, phase: Succeeded}\n", i, i, i)
	}
	lr := obj(t, `
apiVersion: budget.bss.dev/v1alpha1
kind: LedgerRecord
metadata: {name: immutable-record}
spec:
  ledgerID: immutable/team-a/uid-1
  namespace: immutable
  allocation: team-a
  reason: Compacted
  fromSequence: 1
  toSequence: 200
  entries:
`+entries.String())
	if err := k8s.Create(ctx, lr); err != nil {
		t.Fatal(err)
	}
	u = lr.DeepCopy()
	_ = unstructured.SetNestedField(u.Object, "Deleted", "spec", "reason")
	if err := k8s.Update(ctx, u); err == nil || !strings.Contains(err.Error(), "the audit trail is append-only") {
		t.Errorf("editing a ledger record: err = %v", err)
	}

	sa := obj(t, `
apiVersion: budget.bss.dev/v1alpha1
kind: SubAccount
metadata: {name: immutable-sa}
spec:
  enterpriseAccountRef: {name: acme}
  customerID: c1`)
	if err := k8s.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	for _, change := range []struct {
		field []string
		value any
		want  string
	}{
		{[]string{"spec", "customerID"}, "c2", "customerID cannot be changed"},
		{[]string{"spec", "enterpriseAccountRef", "name"}, "other", "enterpriseAccountRef cannot be changed"},
	} {
		u := sa.DeepCopy()
		_ = unstructured.SetNestedField(u.Object, change.value, change.field...)
		if err := k8s.Update(ctx, u); err == nil || !strings.Contains(err.Error(), change.want) {
			t.Errorf("changing %v: err = %v, want %q", change.field, err, change.want)
		}
	}
}

func TestDefaultsAreApplied(t *testing.T) {
	ctx := context.Background()
	ea := obj(t, `
apiVersion: budget.bss.dev/v1alpha1
kind: EnterpriseAccount
metadata: {name: defaults}
spec:
  credentialsSecretRef: {name: s}
  rateLimit: {}`)
	if err := k8s.Create(ctx, ea); err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]any{
		"endpoint":            "https://bss.myhuaweicloud.com",
		"balanceSyncInterval": "10m",
		"billingSyncInterval": "1h",
	} {
		got, _, _ := unstructured.NestedFieldNoCopy(ea.Object, "spec", field)
		if got != want {
			t.Errorf("spec.%s = %v, want %v", field, got, want)
		}
	}
	if got, _, _ := unstructured.NestedInt64(ea.Object, "spec", "rateLimit", "requestsPerSecond"); got != 8 {
		t.Errorf("requestsPerSecond = %d, want 8", got)
	}
	for _, host := range []string{"127.0.0.1:8090", "localhost", "[::1]:8090"} {
		u := obj(t, `
apiVersion: budget.bss.dev/v1alpha1
kind: EnterpriseAccount
metadata: {name: loopback}
spec:
  endpoint: http://`+host+`
  credentialsSecretRef: {name: s}`)
		if err := k8s.Create(ctx, u, client.DryRunAll); err != nil {
			t.Errorf("http endpoint on %s rejected: %v", host, err)
		}
	}

	ensureNamespace(t, "defaults")
	ba := obj(t, strings.Replace(allocation, "namespace: default", "namespace: defaults", 1)+`  amount: "10"`)
	if err := k8s.Create(ctx, ba); err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]string{"balanceType": "Debit", "deletionPolicy": "Retain", "managementPolicy": "Managed"} {
		if got, _, _ := unstructured.NestedString(ba.Object, "spec", field); got != want {
			t.Errorf("spec.%s = %q, want %q", field, got, want)
		}
	}
}

// payment is an OrderPayment for cases to extend (or to replace a line of).
const payment = `
apiVersion: budget.bss.dev/v1alpha1
kind: OrderPayment
metadata: {name: p, namespace: default}
spec:
  subAccountName: team-a
  orderID: CS2026000000002
  maxAmount: "500.00"
`

// autoPolicy is a SubAccount whose orders the operator pays, for cases to
// extend.
const autoPolicy = subAccountC1 + `  orderPayment:
    mode: Auto
`

// TestOrderPaymentValidation checks what the CRDs refuse of an
// OrderPayment and of a SubAccount's orderPayment policy, and that each
// refusal names the field and says what to do in plain words.
func TestOrderPaymentValidation(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		doc  string
		want []string // every one must be in the error
	}{
		{"maxAmount 0", strings.Replace(payment, `"500.00"`, `"0"`, 1),
			[]string{"spec.maxAmount", "maxAmount must be greater than 0"}},
		{"maxAmount 0.00", strings.Replace(payment, `"500.00"`, `"0.00"`, 1),
			[]string{"spec.maxAmount", "maxAmount must be greater than 0"}},
		{"maxAmount with 3 decimals", strings.Replace(payment, `"500.00"`, `"1.234"`, 1),
			[]string{"spec.maxAmount", "must be yuan from 0 to 999999999999.99 with at most 2 decimals"}},
		{"no maxAmount", strings.Replace(payment, "  maxAmount: \"500.00\"\n", "", 1),
			[]string{"spec.maxAmount", "Required value"}},
		{"orderID with a space", strings.Replace(payment, "CS2026000000002", `"CS 2026"`, 1),
			[]string{"spec.orderID", "should match '^[A-Za-z0-9_-]+$'"}},
		{"orderID with a slash", strings.Replace(payment, "CS2026000000002", "CS2026/2", 1),
			[]string{"spec.orderID", "should match '^[A-Za-z0-9_-]+$'"}},
		{"orderID too long", strings.Replace(payment, "CS2026000000002", strings.Repeat("C", 65), 1),
			[]string{"spec.orderID", "may not be more than 64"}},
		{"no subAccountName", strings.Replace(payment, "  subAccountName: team-a\n", "", 1),
			[]string{"spec.subAccountName", "Required value"}},
		{"Explicit coupons without ids", payment + "  coupons: {mode: Explicit}\n",
			[]string{"spec.coupons", "coupons.ids lists 1 to 3 coupon ids with mode Explicit, and nothing otherwise"}},
		{"Explicit coupons with no ids", payment + "  coupons: {mode: Explicit, ids: []}\n",
			[]string{"spec.coupons", "coupons.ids lists 1 to 3 coupon ids with mode Explicit, and nothing otherwise"}},
		{"coupon ids with Auto", payment + "  coupons: {mode: Auto, ids: [CP1]}\n",
			[]string{"spec.coupons", "coupons.ids lists 1 to 3 coupon ids with mode Explicit, and nothing otherwise"}},
		{"coupon ids without a mode", payment + "  coupons: {ids: [CP1]}\n",
			[]string{"spec.coupons", "coupons.ids lists 1 to 3 coupon ids with mode Explicit, and nothing otherwise"}},
		{"coupon ids with None", payment + "  coupons: {mode: None, ids: [CP1]}\n",
			[]string{"spec.coupons", "coupons.ids lists 1 to 3 coupon ids with mode Explicit, and nothing otherwise"}},
		{"4 coupon ids", payment + "  coupons: {mode: Explicit, ids: [CP1, CP2, CP3, CP4]}\n",
			[]string{"spec.coupons.ids", "must have at most 3 items"}},
		{"a coupon id twice", payment + "  coupons: {mode: Explicit, ids: [CP1, CP1]}\n",
			[]string{"spec.coupons.ids[1]", "Duplicate value"}},
		{"unknown coupon mode", payment + "  coupons: {mode: Best}\n",
			[]string{"spec.coupons.mode", `supported values: "Auto", "Explicit", "None"`}},
		{"Explicit discount without id", payment + "  discount: {mode: Explicit}\n",
			[]string{"spec.discount", "discount.id is required with mode Explicit and not allowed otherwise"}},
		{"discount id with Auto", payment + "  discount: {mode: Auto, id: D1}\n",
			[]string{"spec.discount", "discount.id is required with mode Explicit and not allowed otherwise"}},
		{"discount id without a mode", payment + "  discount: {id: D1}\n",
			[]string{"spec.discount", "discount.id is required with mode Explicit and not allowed otherwise"}},
		{"discount id with None", payment + "  discount: {mode: None, id: D1}\n",
			[]string{"spec.discount", "discount.id is required with mode Explicit and not allowed otherwise"}},

		{"Auto policy without maxAmountPerOrder and namespace", autoPolicy,
			[]string{"spec.orderPayment", "mode Auto needs maxAmountPerOrder (the most one order may cost) and namespace (where the operator creates the OrderPayments)"}},
		{"Auto policy without namespace", autoPolicy + "    maxAmountPerOrder: \"500.00\"\n",
			[]string{"spec.orderPayment", "mode Auto needs maxAmountPerOrder"}},
		{"Auto policy without maxAmountPerOrder", autoPolicy + "    namespace: finance\n",
			[]string{"spec.orderPayment", "mode Auto needs maxAmountPerOrder"}},
		{"maxAmountPerOrder 0", autoPolicy + "    namespace: finance\n    maxAmountPerOrder: \"0.00\"\n",
			[]string{"spec.orderPayment.maxAmountPerOrder", "maxAmountPerOrder must be greater than 0"}},
		{"unknown order type", autoPolicy + "    namespace: finance\n    maxAmountPerOrder: \"500.00\"\n    orderTypes: [Renew]\n",
			[]string{"spec.orderPayment.orderTypes[0]", `supported values: "New", "Renewal"`}},
		{"policy namespace not a namespace name", autoPolicy + "    namespace: Finance_Team\n    maxAmountPerOrder: \"500.00\"\n",
			[]string{"spec.orderPayment.namespace", "should match"}},
		{"unknown policy mode", subAccountC1 + "  orderPayment: {mode: Always}\n",
			[]string{"spec.orderPayment.mode", `supported values: "Manual", "Auto"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := k8s.Create(ctx, obj(t, tc.doc), client.DryRunAll)
			if err == nil {
				t.Fatalf("accepted; want a rejection with %q", tc.want)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("error %q is not Invalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			// A readable message: no CEL source. (A schema error, such as a
			// missing field or an unknown enum value, is followed by the API
			// server's own note that the CEL rules were not checked.)
			for _, noise := range []string{"self.", "oldSelf", "has(", "size(", "cost budget"} {
				if strings.Contains(err.Error(), noise) {
					t.Errorf("error %q shows %q", err, noise)
				}
			}
		})
	}

	for name, doc := range map[string]string{
		"defaults":                  payment,
		"Explicit coupons":          payment + "  coupons: {mode: Explicit, ids: [CP1, CP2, CP3]}\n",
		"no coupons":                payment + "  coupons: {mode: None}\n",
		"Explicit discount":         payment + "  discount: {mode: Explicit, id: DADJ-1}\n",
		"no discount":               payment + "  discount: {mode: None}\n  cancelOrderOnDelete: true\n",
		"orderID with _ and -":      strings.Replace(payment, "CS2026000000002", "cs_2026-0002", 1),
		"Manual policy":             subAccountC1 + "  orderPayment: {mode: Manual}\n",
		"policy without a mode":     subAccountC1 + "  orderPayment: {}\n",
		"Auto policy":               autoPolicy + "    namespace: finance\n    maxAmountPerOrder: \"500.00\"\n    orderTypes: [New, Renewal]\n    services: [hws.service.type.ec2]\n    cancelOrderOnDelete: true\n",
		"Manual policy with limits": subAccountC1 + "  orderPayment: {mode: Manual, maxAmountPerOrder: \"10\"}\n",
	} {
		if err := k8s.Create(ctx, obj(t, doc), client.DryRunAll); err != nil {
			t.Errorf("%s rejected: %v", name, err)
		}
	}

	// The defaults: coupons and discount Auto, the policy Manual.
	ensureNamespace(t, "payments")
	op := obj(t, strings.Replace(payment, "namespace: default", "namespace: payments", 1))
	if err := k8s.Create(ctx, op); err != nil {
		t.Fatal(err)
	}
	for _, field := range [][]string{{"spec", "coupons", "mode"}, {"spec", "discount", "mode"}} {
		if got, _, _ := unstructured.NestedString(op.Object, field...); got != "Auto" {
			t.Errorf("%s = %q, want Auto", strings.Join(field, "."), got)
		}
	}
	sa := obj(t, strings.Replace(subAccountC1, "name: s}", "name: payment-defaults}", 1)+"  orderPayment: {}\n")
	if err := k8s.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedString(sa.Object, "spec", "orderPayment", "mode"); got != "Manual" {
		t.Errorf("spec.orderPayment.mode = %q, want Manual", got)
	}

	// The spec never changes; metadata does.
	for _, change := range []struct {
		field []string
		value any
	}{
		{[]string{"spec", "maxAmount"}, "900.00"},
		{[]string{"spec", "orderID"}, "CS2026000000003"},
		{[]string{"spec", "subAccountName"}, "team-b"},
		{[]string{"spec", "coupons", "mode"}, "None"},
		{[]string{"spec", "cancelOrderOnDelete"}, true},
	} {
		u := op.DeepCopy()
		if err := unstructured.SetNestedField(u.Object, change.value, change.field...); err != nil {
			t.Fatal(err)
		}
		err := k8s.Update(ctx, u)
		if err == nil || !strings.Contains(err.Error(), "OrderPayment spec is immutable; delete it and create a new one") {
			t.Errorf("changing %s: err = %v, want the immutability message", strings.Join(change.field, "."), err)
		}
	}
	u := op.DeepCopy()
	u.SetLabels(map[string]string{"team": "a"})
	if err := k8s.Update(ctx, u); err != nil {
		t.Errorf("labelling a payment: %v", err)
	}
}

package install

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

// installGuards installs config/default's RBAC (with the operator's
// ServiceAccount) and admission policies: what the status guards need, and
// no controller.
func installGuards(t *testing.T) {
	t.Helper()
	objs := renderKustomize(t, "default")
	createNamespace(t, operatorNamespace, objs.find("Namespace", operatorNamespace))
	var install objects
	for _, u := range objs {
		switch u.GroupVersionKind().Group {
		case "rbac.authorization.k8s.io", "admissionregistration.k8s.io":
			install = append(install, u)
		case "":
			if u.GetKind() == "ServiceAccount" {
				install = append(install, u)
			}
		}
	}
	apply(t, install, true)
}

// TestTransferStatusGuard installs config/default's RBAC and admission
// policy for real and writes a transfer's status as the operator, as a
// finance approver and as a cluster administrator: only the operator
// records outcomes, and approvers only decide while a transfer waits.
func TestTransferStatusGuard(t *testing.T) {
	installGuards(t)
	const ns = "guard"
	createNamespace(t, ns, nil)
	bindUser(t, "finance-approves", ns, prefix+"budgettransfer-approver", "finance")

	admin := clientAs(t, "")
	operator := clientAs(t, managerUsername, "system:serviceaccounts", "system:serviceaccounts:"+operatorNamespace)
	finance := clientAs(t, "finance")

	// A transfer the operator holds for approval.
	bt := &budgetv1alpha1.BudgetTransfer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "big-00001"},
		Spec: budgetv1alpha1.BudgetTransferSpec{
			AllocationRef: budgetv1alpha1.LocalObjectReference{Name: "big"}, SubAccountName: "team", EnterpriseAccountName: "master",
			CustomerID: "cust-1", Operation: budgetv1alpha1.OperationTransfer, Amount: "50000.00",
			BalanceType: budgetv1alpha1.BalanceTypeDebit, TransID: "0123456789abcdef0123456789abcdef", Sequence: 1,
		},
	}
	if err := admin.Create(t.Context(), bt); err != nil {
		t.Fatal(err)
	}
	write := func(c client.Client, mutate func(*budgetv1alpha1.BudgetTransferStatus)) error {
		var cur budgetv1alpha1.BudgetTransfer
		if err := c.Get(t.Context(), client.ObjectKeyFromObject(bt), &cur); err != nil {
			return err
		}
		mutate(&cur.Status)
		return c.Status().Update(t.Context(), &cur)
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	refused := func(what string, err error, want string) {
		t.Helper()
		if !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) {
			t.Errorf("%s: got %v, want a refusal", what, err)
			return
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: refused with %q, want a message with %q", what, err, want)
		}
	}
	condition := func(typ, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: reason, Message: typ + " in the test"}
	}

	must("the operator holds the transfer", write(operator, func(s *budgetv1alpha1.BudgetTransferStatus) {
		s.Phase = budgetv1alpha1.PhaseAwaitingApproval
		meta.SetStatusCondition(&s.Conditions, condition(budgetv1alpha1.ConditionReady, budgetv1alpha1.ReasonAwaitingApproval))
		s.Conditions[0].Status = metav1.ConditionFalse
	}))

	// The policy, and the approver's role, take a moment to reach the API
	// server's admission and authorizer: wait for the policy's own refusal
	// (a busy API server may first answer that the role does not exist).
	forge := func(s *budgetv1alpha1.BudgetTransferStatus) { s.Phase = budgetv1alpha1.PhaseSucceeded }
	var err error
	testenv.Eventually(t, 30*time.Second, "the policy refuses an approver's phase", func() bool {
		if err = write(finance, forge); err != nil {
			return strings.Contains(err.Error(), "only the operator records")
		}
		must("putting the phase back", write(operator, func(s *budgetv1alpha1.BudgetTransferStatus) { s.Phase = budgetv1alpha1.PhaseAwaitingApproval }))
		return false
	}, func() string {
		if err == nil {
			return "the approver's write of phase Succeeded was admitted"
		}
		return "the approver's write of phase Succeeded was refused otherwise: " + err.Error()
	})
	refused("an approver writes phase Succeeded", err, "only the operator records a transfer's phase")
	refused("an approver writes a result", write(finance, func(s *budgetv1alpha1.BudgetTransferStatus) {
		s.Result = &budgetv1alpha1.TransferResult{AlreadyApplied: true}
	}), "only the operator records")
	refused("an approver changes Ready", write(finance, func(s *budgetv1alpha1.BudgetTransferStatus) {
		meta.SetStatusCondition(&s.Conditions, condition(budgetv1alpha1.ConditionReady, budgetv1alpha1.ReasonSucceeded))
	}), "only the operator sets a transfer's conditions other than Approved and Denied")
	refused("an administrator writes phase Succeeded", write(admin, forge), "only the operator records")

	// The plain-kubectl approvals of README.md and docs/getting-started.md:
	// a merge patch would replace every condition, a JSON patch adds one.
	approval := `{"type":"Approved","status":"True","reason":"ApprovedByFinance","message":"ticket FIN-42","lastTransitionTime":"2026-11-27T10:00:00Z"}`
	refused("an approver replaces the conditions with a merge patch", finance.Status().Patch(t.Context(), bt,
		client.RawPatch(types.MergePatchType, []byte(`{"status":{"conditions":[`+approval+`]}}`))),
		"only the operator sets a transfer's conditions other than Approved and Denied")
	must("an approver approves with a JSON patch", finance.Status().Patch(t.Context(), bt,
		client.RawPatch(types.JSONPatchType, []byte(`[{"op":"add","path":"/status/conditions/-","value":`+approval+`}]`))))
	must("the operator submits it", write(operator, func(s *budgetv1alpha1.BudgetTransferStatus) {
		s.Phase = budgetv1alpha1.PhaseSubmitting
		s.Attempts = 1
	}))
	refused("an approver denies a transfer already submitted", write(finance, func(s *budgetv1alpha1.BudgetTransferStatus) {
		meta.SetStatusCondition(&s.Conditions, condition(budgetv1alpha1.ConditionDenied, "DeniedByUser"))
	}), "only while the transfer is AwaitingApproval")
	refused("an approver withdraws an approval already acted on", write(finance, func(s *budgetv1alpha1.BudgetTransferStatus) {
		meta.RemoveStatusCondition(&s.Conditions, budgetv1alpha1.ConditionApproved)
	}), "only while the transfer is AwaitingApproval")
	must("the operator records the outcome", write(operator, func(s *budgetv1alpha1.BudgetTransferStatus) {
		s.Phase = budgetv1alpha1.PhaseSucceeded
		s.Result = &budgetv1alpha1.TransferResult{AlreadyApplied: true}
	}))
}

// TestTransferStatusGuardCoversEveryField keeps the policy's list of
// operator-only status fields equal to the BudgetTransfer status schema, so
// that a new status field cannot be left writable by approvers.
func TestTransferStatusGuardCoversEveryField(t *testing.T) {
	checkGuardCoversEveryField(t, renderKustomize(t, "default"), "budgettransfers.budget.bss.dev", prefix+"transfer-status-guard")
}

// checkGuardCoversEveryField compares the status fields (conditions aside)
// of the CRD named crdName with the fields the first validation of the
// policy named policyName keeps as they were.
func checkGuardCoversEveryField(t *testing.T, objs objects, crdName, policyName string) {
	t.Helper()
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema struct {
						Properties map[string]struct {
							Properties map[string]any `json:"properties"`
						} `json:"properties"`
					} `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	u := objs.find("CustomResourceDefinition", crdName)
	if u == nil {
		t.Fatalf("config/default has no CRD %s", crdName)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &crd); err != nil {
		t.Fatal(err)
	}
	var schema []string
	for field := range crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"].Properties {
		if field != "conditions" {
			schema = append(schema, field)
		}
	}

	policy := objs.find("ValidatingAdmissionPolicy", policyName)
	if policy == nil {
		t.Fatalf("config/default has no %s policy", policyName)
	}
	rules, _, _ := unstructured.NestedSlice(policy.Object, "spec", "validations")
	first, _ := rules[0].(map[string]any)["expression"].(string)
	var guarded []string
	for _, m := range regexp.MustCompile(`object\.\?status\.\?(\w+) == oldObject\.\?status\.\?(\w+)`).FindAllStringSubmatch(first, -1) {
		if m[1] != m[2] {
			t.Errorf("%s compares %s with %s", policyName, m[1], m[2])
		}
		guarded = append(guarded, m[1])
	}
	slices.Sort(schema)
	slices.Sort(guarded)
	if !slices.Equal(schema, guarded) {
		t.Errorf("%s guards status fields %v, the %s schema has %v (conditions aside)", policyName, guarded, crdName, schema)
	}
}

// TestTransferStatusGuardFollowsNamespaceAndPrefix renders a copy of
// config whose config/default installs into another namespace under
// another prefix: the transfer and payment policies must exempt that
// installation's manager.
func TestTransferStatusGuardFollowsNamespaceAndPrefix(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(repoRoot, "config"))); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "default", "kustomization.yaml")
	k := strings.NewReplacer("namespace: bss-budget-system\n", "namespace: finops\n", "namePrefix: bss-budget-\n", "namePrefix: acme-\n").
		Replace(string(readFile(t, "config/default/kustomization.yaml")))
	if !strings.Contains(k, "namespace: finops\n") || !strings.Contains(k, "namePrefix: acme-\n") {
		t.Fatal("config/default/kustomization.yaml no longer sets namespace: bss-budget-system and namePrefix: bss-budget-")
	}
	if err := os.WriteFile(path, []byte(k), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(dir, "default"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	checkStatusGuards(t, decodeYAML(t, out), "acme-", "finops", "acme-controller-manager")
}

// statusGuards are the admission policies that keep status writes to the
// operator, without their name prefix.
var statusGuards = []string{"transfer-status-guard", "payment-status-guard"}

// checkStatusGuards asserts checkStatusGuard for every policy of
// statusGuards.
func checkStatusGuards(t *testing.T, objs objects, prefix, namespace, serviceAccount string) {
	t.Helper()
	for _, g := range statusGuards {
		checkStatusGuard(t, objs, prefix+g, namespace, serviceAccount)
	}
}

// checkStatusGuard asserts that objs hold the policy name, bound to deny,
// exempting the manager's ServiceAccount serviceAccount in namespace and
// nobody else.
func checkStatusGuard(t *testing.T, objs objects, name, namespace, serviceAccount string) {
	t.Helper()
	policy := objs.find("ValidatingAdmissionPolicy", name)
	if policy == nil {
		t.Errorf("no ValidatingAdmissionPolicy %s", name)
		return
	}
	conds, _, _ := unstructured.NestedSlice(policy.Object, "spec", "matchConditions")
	want := fmt.Sprintf(`request.userInfo.username != "system:serviceaccount:" + %q + ":" + %q`, namespace, serviceAccount)
	if len(conds) != 1 || conds[0].(map[string]any)["expression"] != want {
		t.Errorf("policy %s matchConditions %v, want only %s", name, conds, want)
	}
	if fp, _, _ := unstructured.NestedString(policy.Object, "spec", "failurePolicy"); fp != "Fail" {
		t.Errorf("policy %s failurePolicy %q, want Fail", name, fp)
	}
	binding := objs.find("ValidatingAdmissionPolicyBinding", name)
	if binding == nil {
		t.Errorf("no ValidatingAdmissionPolicyBinding %s", name)
		return
	}
	ref, _, _ := unstructured.NestedString(binding.Object, "spec", "policyName")
	actions, _, _ := unstructured.NestedStringSlice(binding.Object, "spec", "validationActions")
	if ref != name || !slices.Equal(actions, []string{"Deny"}) {
		t.Errorf("binding %s refers to %q with actions %v, want %s and [Deny]", name, ref, actions, name)
	}
}

// clientAs is a client acting as user (the administrator when empty) in
// groups, besides system:authenticated.
func clientAs(t *testing.T, user string, groups ...string) client.Client {
	t.Helper()
	c := rest.CopyConfig(cfg)
	if user != "" {
		c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: append(groups, "system:authenticated")}
	}
	s := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(s), budgetv1alpha1.AddToScheme(s)); err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(c, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

package install

import (
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

// TestPaymentStatusGuard installs config/default's RBAC and admission
// policies for real and writes an OrderPayment's status as the operator,
// as a payment approver, as a transfer approver and as a cluster
// administrator: only the operator records how a payment went, and
// approvers only decide while it waits. No controller runs: the test
// writes what the operator would.
func TestPaymentStatusGuard(t *testing.T) {
	installGuards(t)
	const ns = "payment-guard"
	createNamespace(t, ns, nil)
	bindUser(t, "finance-approves-payments", ns, prefix+"orderpayment-approver", "finance-payments")
	bindUser(t, "finance-approves-transfers", ns, prefix+"budgettransfer-approver", "finance-transfers")
	// The operator writes payments' status through its generated manager
	// role; this Role grants the same here, so that the test depends only
	// on the policy and the people's roles, not on the controller's markers.
	operatorWrites := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "operator-writes-payments"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{budgetv1alpha1.GroupVersion.Group}, Resources: []string{"orderpayments"}, Verbs: []string{"get"}},
			{APIGroups: []string{budgetv1alpha1.GroupVersion.Group}, Resources: []string{"orderpayments/status"}, Verbs: []string{"get", "update", "patch"}},
		},
	}
	operatorBinding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "operator-writes-payments"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: operatorWrites.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: managerSA, Namespace: operatorNamespace}},
	}
	for _, o := range []client.Object{operatorWrites, operatorBinding} {
		if err := k8s.Create(t.Context(), o); client.IgnoreAlreadyExists(err) != nil {
			t.Fatal(err)
		}
	}

	admin := clientAs(t, "")
	operator := clientAs(t, managerUsername, "system:serviceaccounts", "system:serviceaccounts:"+operatorNamespace)
	finance := clientAs(t, "finance-payments")
	transferApprover := clientAs(t, "finance-transfers")

	// A payment the operator holds for approval.
	op := &budgetv1alpha1.OrderPayment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "order-cs2026000000002"},
		Spec: budgetv1alpha1.OrderPaymentSpec{
			SubAccountName: "team-a", OrderID: "CS2026000000002", MaxAmount: "500.00",
		},
	}
	if err := admin.Create(t.Context(), op); err != nil {
		t.Fatal(err)
	}
	write := func(c client.Client, mutate func(*budgetv1alpha1.OrderPaymentStatus)) error {
		var cur budgetv1alpha1.OrderPayment
		if err := c.Get(t.Context(), client.ObjectKeyFromObject(op), &cur); err != nil {
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

	hold := func(s *budgetv1alpha1.OrderPaymentStatus) {
		s.Phase = budgetv1alpha1.PaymentAwaitingApproval
		s.CustomerID = "cust-team-a-0001"
		s.EnterpriseAccountName = "acme"
		s.PayOrderID = "CS2026000000002"
		s.Order = &budgetv1alpha1.PaymentOrder{Amount: "480.00", Type: "Renewal", Status: "PendingPayment"}
		s.Amount = "430.00"
		s.Discount = &budgetv1alpha1.PaymentDiscountUse{ID: "DADJ-1", Type: 609, Amount: "50.00"}
		meta.SetStatusCondition(&s.Conditions, condition(budgetv1alpha1.ConditionReady, budgetv1alpha1.ReasonAwaitingApproval))
		s.Conditions[0].Status = metav1.ConditionFalse
	}
	// The test's Role takes a moment to reach the authorizer.
	var err error
	testenv.Eventually(t, 30*time.Second, "the operator holds the payment", func() bool {
		err = write(operator, hold)
		return err == nil
	}, func() string { return "the operator's write was refused: " + err.Error() })

	// The policy, and the approver's role, take a moment to reach the API
	// server's admission and authorizer: wait for the policy's own refusal.
	forge := func(s *budgetv1alpha1.OrderPaymentStatus) { s.Phase = budgetv1alpha1.PaymentPaid }
	testenv.Eventually(t, 30*time.Second, "the policy refuses an approver's phase", func() bool {
		if err = write(finance, forge); err != nil {
			return strings.Contains(err.Error(), "only the operator records")
		}
		must("putting the phase back", write(operator, func(s *budgetv1alpha1.OrderPaymentStatus) { s.Phase = budgetv1alpha1.PaymentAwaitingApproval }))
		return false
	}, func() string {
		if err == nil {
			return "the approver's write of phase Paid was admitted"
		}
		return "the approver's write of phase Paid was refused otherwise: " + err.Error()
	})
	refused("an approver writes phase Paid", err, "only the operator records a payment's phase")
	for what, mutate := range map[string]func(*budgetv1alpha1.OrderPaymentStatus){
		"lowers the amount": func(s *budgetv1alpha1.OrderPaymentStatus) { s.Amount = "1.00" },
		"moves the cycle":   func(s *budgetv1alpha1.OrderPaymentStatus) { s.Cycle = "2026-01" },
		"adds a coupon": func(s *budgetv1alpha1.OrderPaymentStatus) {
			s.Coupons = []budgetv1alpha1.PaymentCouponUse{{ID: "CP1", Type: 301, Amount: "400.00"}}
		},
		"drops the discount":      func(s *budgetv1alpha1.OrderPaymentStatus) { s.Discount = nil },
		"rewrites the order":      func(s *budgetv1alpha1.OrderPaymentStatus) { s.Order.Status = "Completed" },
		"points at another order": func(s *budgetv1alpha1.OrderPaymentStatus) { s.PayOrderID = "CS2026000000009" },
		"counts refusals":         func(s *budgetv1alpha1.OrderPaymentStatus) { s.Refusals = 3 },
		"writes evidence":         func(s *budgetv1alpha1.OrderPaymentStatus) { s.Evidence = budgetv1alpha1.PaymentEvidenceOrderStatus },
	} {
		refused("an approver "+what, write(finance, mutate), "only the operator records")
	}
	refused("an approver changes Ready", write(finance, func(s *budgetv1alpha1.OrderPaymentStatus) {
		meta.SetStatusCondition(&s.Conditions, condition(budgetv1alpha1.ConditionReady, budgetv1alpha1.ReasonPaid))
	}), "only the operator sets a payment's conditions other than Approved and Denied")
	refused("an administrator writes phase Paid", write(admin, forge), "only the operator records")

	// The transfer approver's role does not reach payments.
	approval := `{"type":"Approved","status":"True","reason":"ApprovedByFinance","message":"ticket FIN-43","lastTransitionTime":"2026-11-27T10:00:00Z"}`
	addApproval := client.RawPatch(types.JSONPatchType, []byte(`[{"op":"add","path":"/status/conditions/-","value":`+approval+`}]`))
	refused("a transfer approver approves a payment", transferApprover.Status().Patch(t.Context(), op, addApproval), "orderpayments/status")

	// A merge patch would replace every condition; a JSON patch adds one.
	refused("an approver replaces the conditions with a merge patch", finance.Status().Patch(t.Context(), op,
		client.RawPatch(types.MergePatchType, []byte(`{"status":{"conditions":[`+approval+`]}}`))),
		"only the operator sets a payment's conditions other than Approved and Denied")
	must("an approver approves with a JSON patch", finance.Status().Patch(t.Context(), op, addApproval))
	must("the operator sends the payment", write(operator, func(s *budgetv1alpha1.OrderPaymentStatus) {
		s.Phase = budgetv1alpha1.PaymentPaying
		s.Attempts = 1
		s.Cycle = "2026-11"
		now := metav1.Now()
		s.SubmittedTime, s.LastAttemptTime = &now, &now
	}))
	refused("an approver denies a payment already sent", write(finance, func(s *budgetv1alpha1.OrderPaymentStatus) {
		meta.SetStatusCondition(&s.Conditions, condition(budgetv1alpha1.ConditionDenied, "DeniedByUser"))
	}), "only while the payment is AwaitingApproval")
	refused("an approver withdraws an approval already acted on", write(finance, func(s *budgetv1alpha1.OrderPaymentStatus) {
		meta.RemoveStatusCondition(&s.Conditions, budgetv1alpha1.ConditionApproved)
	}), "only while the payment is AwaitingApproval")
	must("the operator records the outcome", write(operator, func(s *budgetv1alpha1.OrderPaymentStatus) {
		s.Phase = budgetv1alpha1.PaymentPaid
		s.Evidence = budgetv1alpha1.PaymentEvidenceAnswer
		now := metav1.Now()
		s.CompletionTime = &now
		meta.SetStatusCondition(&s.Conditions, condition(budgetv1alpha1.ConditionReady, budgetv1alpha1.ReasonPaid))
	}))
}

// TestPaymentStatusGuardCoversEveryField keeps the payment policy's list of
// operator-only status fields equal to the OrderPayment status schema, so
// that a new status field cannot be left writable by approvers.
func TestPaymentStatusGuardCoversEveryField(t *testing.T) {
	checkGuardCoversEveryField(t, renderKustomize(t, "default"), "orderpayments.budget.bss.dev", prefix+"payment-status-guard")
}

package install

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
)

const (
	prefix          = "bss-budget-"
	managerSA       = prefix + "controller-manager"
	managerUsername = "system:serviceaccount:" + operatorNamespace + ":" + managerSA
)

func TestConfigDefaultInstallsOnAPlainCluster(t *testing.T) {
	objs := renderKustomize(t, "default")
	checkBuiltinOnly(t, objs)
	if s := objs.ofKind("Secret"); len(s) > 0 {
		t.Errorf("config/default renders Secrets %v: credentials must not be installed with placeholder values", s.ids())
	}
	crds := objs.ofKind("CustomResourceDefinition")
	if len(crds) != 6 {
		t.Errorf("want the 6 CRDs, got %v", crds.ids())
	}
	for _, u := range objs {
		if u.GetKind() == "CustomResourceDefinition" {
			continue
		}
		if !strings.HasPrefix(u.GetName(), prefix) {
			t.Errorf("%s %s lacks the %q name prefix", u.GetKind(), u.GetName(), prefix)
		}
		namespaced := !slices.Contains([]string{"Namespace", "ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}, u.GetKind())
		if namespaced && u.GetNamespace() != operatorNamespace {
			t.Errorf("%s %s is in namespace %q, want %q", u.GetKind(), u.GetName(), u.GetNamespace(), operatorNamespace)
		}
	}

	ns := objs.find("Namespace", operatorNamespace)
	if ns == nil {
		t.Fatalf("config/default does not create namespace %s", operatorNamespace)
	}
	checkPodSecurity(t, typed[corev1.Namespace](t, ns))

	d := checkDeployment(t, objs, operatorNamespace)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want 2 (config/default's replicas:)", ptr.Deref(d.Spec.Replicas, -1))
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "bss-budget-operator:dev" {
		t.Errorf("image = %q, want config/default's bss-budget-operator:dev", img)
	}
	if d.Spec.Template.Spec.ServiceAccountName != managerSA {
		t.Errorf("serviceAccountName = %q, want %q", d.Spec.Template.Spec.ServiceAccountName, managerSA)
	}
	r := checkRBAC(t, objs, operatorNamespace, managerSA)
	checkManagerRole(t, r, prefix+"manager-role")
	checkUserRoles(t, r, prefix)
	checkNetworking(t, objs, d, 8443, defaultIngress, defaultEgress)
	checkStatusGuards(t, objs, prefix, operatorNamespace, managerSA)

	createNamespace(t, operatorNamespace, ns)
	dryRun(t, objs)
}

func TestConfigPrometheusAddsMonitoring(t *testing.T) {
	base := renderKustomize(t, "default")
	objs := renderKustomize(t, "prometheus")
	var extra objects
	for _, u := range objs {
		if base.find(u.GetKind(), u.GetName()) == nil {
			extra = append(extra, u)
		}
	}
	if diff := cmp.Diff([]string{"PrometheusRule", "ServiceMonitor"}, kinds(extra)); diff != "" || len(objs) != len(base)+len(extra) {
		t.Fatalf("config/prometheus should be config/default plus a ServiceMonitor and a PrometheusRule, adds %v", extra.ids())
	}
	for _, u := range extra {
		if u.GetNamespace() != operatorNamespace {
			t.Errorf("%s %s in %q, want %q", u.GetKind(), u.GetName(), u.GetNamespace(), operatorNamespace)
		}
	}
	sm := extra.one(t, "ServiceMonitor")
	svc := typed[corev1.Service](t, objs.one(t, "Service"))
	match, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if len(match) == 0 {
		t.Fatal("the ServiceMonitor selects nothing")
	}
	for k, v := range match {
		if svc.Labels[k] != v {
			t.Errorf("the ServiceMonitor selects %s=%s; the metrics Service has labels %v", k, v, svc.Labels)
		}
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("want one endpoint, got %d", len(endpoints))
	}
	ep, _ := endpoints[0].(map[string]any)
	if ep["port"] != svc.Spec.Ports[0].Name || ep["scheme"] != "https" {
		t.Errorf("endpoint %v does not scrape the Service's %s port over https", ep, svc.Spec.Ports[0].Name)
	}

	installMonitoringCRDs(t)
	createNamespace(t, operatorNamespace, objs.find("Namespace", operatorNamespace))
	dryRun(t, objs)
}

func TestCredentialsTemplate(t *testing.T) {
	var secret corev1.Secret
	if err := yaml.Unmarshal(readFile(t, "config/credentials/bss-credentials-secret.yaml"), &secret); err != nil {
		t.Fatal(err)
	}
	if secret.Namespace != operatorNamespace {
		t.Errorf("the template's namespace is %q, want the operator's %q", secret.Namespace, operatorNamespace)
	}
	for _, key := range []string{"accessKeyID", "secretAccessKey", "domainID", "securityToken"} {
		if _, ok := secret.StringData[key]; !ok {
			t.Errorf("the template lacks key %s", key)
		}
	}
	for key, v := range secret.StringData {
		if v != "" && !strings.HasPrefix(v, "REPLACE-WITH-") {
			t.Errorf("key %s holds %q, not a placeholder", key, v)
		}
	}
	// The sample EnterpriseAccount refers to this Secret.
	var ea budgetv1alpha1.EnterpriseAccount
	if err := yaml.Unmarshal(readFile(t, "config/samples/budget_v1alpha1_enterpriseaccount.yaml"), &ea); err != nil {
		t.Fatal(err)
	}
	if ref := ea.Spec.CredentialsSecretRef; ref.Name != secret.Name || ref.Namespace != secret.Namespace {
		t.Errorf("the sample EnterpriseAccount refers to Secret %s/%s, the template is %s/%s", ref.Namespace, ref.Name, secret.Namespace, secret.Name)
	}

	createNamespace(t, operatorNamespace, nil)
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&secret)
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{Object: u}
	obj.SetAPIVersion("v1")
	obj.SetKind("Secret")
	dryRun(t, objects{obj})
}

// TestConfigDefaultGrantsLeastPrivilege installs config/default for real
// and asks the API server's RBAC authorizer what the manager, an approver,
// a team and a metrics scraper may do.
func TestConfigDefaultGrantsLeastPrivilege(t *testing.T) {
	objs := renderKustomize(t, "default")
	createNamespace(t, operatorNamespace, objs.find("Namespace", operatorNamespace))
	var rbacOnly objects
	for _, u := range objs {
		if u.GroupVersionKind().Group == "rbac.authorization.k8s.io" || u.GetKind() == "ServiceAccount" {
			rbacOnly = append(rbacOnly, u)
		}
	}
	apply(t, rbacOnly, true)
	for _, ns := range []string{"team-a", "team-b"} {
		createNamespace(t, ns, nil)
	}
	bindUser(t, "finance-approves", "team-a", prefix+"budgettransfer-approver", "finance")
	bindUser(t, "finance-approves-payments", "team-a", prefix+"orderpayment-approver", "finance-payments")
	// The aggregation into the built-in edit role needs kube-controller-manager,
	// which envtest does not run: bind the editor roles themselves.
	bindUser(t, "team-a-edits", "team-a", prefix+"budgetallocation-editor-role", "team-a-dev")
	bindUser(t, "team-a-pays", "team-a", prefix+"orderpayment-editor-role", "team-a-dev")
	bindUser(t, "team-a-views", "team-a", prefix+"budget-viewer-role", "team-a-viewer")
	for _, crb := range []*rbacv1.ClusterRoleBinding{{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-scrapes-bss-budget"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: prefix + "metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: "monitoring"}},
	}, {
		ObjectMeta: metav1.ObjectMeta{Name: "auditors-read-ledger-records"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: prefix + "ledger-record-reader-role"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "auditor"}},
	}} {
		if err := k8s.Create(t.Context(), crb); client.IgnoreAlreadyExists(err) != nil {
			t.Fatal(err)
		}
	}
	// The reader role bound in a namespace grants nothing: LedgerRecords
	// are cluster-scoped.
	bindUser(t, "team-a-reads-ledger-records", "team-a", prefix+"ledger-record-reader-role", "team-a-dev")

	type access struct {
		verb, resource, subresource, group, namespace string
	}
	budget := budgetv1alpha1.GroupVersion.Group
	cases := []struct {
		user  string
		what  access
		allow bool
	}{
		{managerUsername, access{"get", "secrets", "", "", operatorNamespace}, true},
		{managerUsername, access{"watch", "secrets", "", "", operatorNamespace}, true},
		{managerUsername, access{"get", "secrets", "", "", "team-a"}, false},
		{managerUsername, access{"list", "secrets", "", "", ""}, false},
		{managerUsername, access{"create", "secrets", "", "", operatorNamespace}, false},
		{managerUsername, access{"update", "secrets", "", "", operatorNamespace}, false},
		{managerUsername, access{"update", "leases", "", "coordination.k8s.io", operatorNamespace}, true},
		{managerUsername, access{"update", "leases", "", "coordination.k8s.io", "kube-system"}, false},
		{managerUsername, access{"list", "namespaces", "", "", ""}, true},
		{managerUsername, access{"create", "configmaps", "", "", operatorNamespace}, false},
		{managerUsername, access{"list", "pods", "", "", ""}, false},
		{managerUsername, access{"create", "budgettransfers", "", budget, "team-a"}, true},
		{managerUsername, access{"update", "budgettransfers", "", budget, "team-a"}, false},
		// Patch only: the annotations that confirm or withdraw a transfer
		// waiting for approval, and the finalizer of a settled one.
		{managerUsername, access{"patch", "budgettransfers", "", budget, "team-a"}, true},
		{managerUsername, access{"patch", "budgettransfers", "status", budget, "team-a"}, true},
		{managerUsername, access{"update", "budgetallocations", "finalizers", budget, "team-a"}, true},
		{managerUsername, access{"delete", "budgetallocations", "", budget, "team-a"}, false},
		{managerUsername, access{"update", "subaccounts", "", budget, ""}, false},
		{managerUsername, access{"create", "events", "", "events.k8s.io", "team-a"}, true},
		{managerUsername, access{"create", "tokenreviews", "", "authentication.k8s.io", ""}, true},
		{managerUsername, access{"create", "subjectaccessreviews", "", "authorization.k8s.io", ""}, true},

		{"finance", access{"patch", "budgettransfers", "status", budget, "team-a"}, true},
		{"finance", access{"list", "budgettransfers", "", budget, "team-a"}, true},
		{"finance", access{"update", "budgettransfers", "", budget, "team-a"}, false},
		{"finance", access{"patch", "budgettransfers", "status", budget, "team-b"}, false},
		{"finance", access{"get", "secrets", "", "", "team-a"}, false},

		{"team-a-dev", access{"create", "budgetallocations", "", budget, "team-a"}, true},
		{"team-a-dev", access{"patch", "budgetallocations", "", budget, "team-a"}, true},
		{"team-a-dev", access{"create", "budgetallocations", "", budget, "team-b"}, false},
		{"team-a-dev", access{"patch", "budgetallocations", "status", budget, "team-a"}, false},
		{"team-a-dev", access{"create", "budgettransfers", "", budget, "team-a"}, false},
		{"team-a-dev", access{"delete", "budgettransfers", "", budget, "team-a"}, false},
		{"team-a-dev", access{"patch", "budgettransfers", "status", budget, "team-a"}, false},
		// Order payments: teams create, read and delete them (patch touches
		// only metadata: the spec is immutable); only the manager and the
		// payment approvers write their status.
		{"team-a-dev", access{"create", "orderpayments", "", budget, "team-a"}, true},
		{"team-a-dev", access{"get", "orderpayments", "", budget, "team-a"}, true},
		{"team-a-dev", access{"watch", "orderpayments", "", budget, "team-a"}, true},
		{"team-a-dev", access{"patch", "orderpayments", "", budget, "team-a"}, true},
		{"team-a-dev", access{"delete", "orderpayments", "", budget, "team-a"}, true},
		{"team-a-dev", access{"deletecollection", "orderpayments", "", budget, "team-a"}, true},
		{"team-a-dev", access{"update", "orderpayments", "", budget, "team-a"}, false},
		{"team-a-dev", access{"create", "orderpayments", "", budget, "team-b"}, false},
		{"team-a-dev", access{"patch", "orderpayments", "status", budget, "team-a"}, false},
		{"team-a-dev", access{"update", "orderpayments", "status", budget, "team-a"}, false},
		{"team-a-viewer", access{"list", "orderpayments", "", budget, "team-a"}, true},
		{"team-a-viewer", access{"get", "orderpayments", "status", budget, "team-a"}, true},
		{"team-a-viewer", access{"create", "orderpayments", "", budget, "team-a"}, false},
		{"team-a-viewer", access{"patch", "orderpayments", "status", budget, "team-a"}, false},
		{"finance-payments", access{"patch", "orderpayments", "status", budget, "team-a"}, true},
		{"finance-payments", access{"update", "orderpayments", "status", budget, "team-a"}, true},
		{"finance-payments", access{"list", "orderpayments", "", budget, "team-a"}, true},
		{"finance-payments", access{"create", "orderpayments", "", budget, "team-a"}, false},
		{"finance-payments", access{"delete", "orderpayments", "", budget, "team-a"}, false},
		{"finance-payments", access{"patch", "orderpayments", "status", budget, "team-b"}, false},
		{"finance-payments", access{"patch", "budgettransfers", "status", budget, "team-a"}, false},
		{"finance", access{"patch", "orderpayments", "status", budget, "team-a"}, false},

		{"team-a-dev", access{"list", "ledgerrecords", "", budget, ""}, false},
		{"team-a-dev", access{"create", "ledgerrecords", "", budget, ""}, false},
		{"team-a-dev", access{"delete", "ledgerrecords", "", budget, ""}, false},

		// The audit trail: read by whoever is bound to the reader role,
		// written by no person's role.
		{"auditor", access{"list", "ledgerrecords", "", budget, ""}, true},
		{"auditor", access{"watch", "ledgerrecords", "", budget, ""}, true},
		{"auditor", access{"get", "ledgerrecords", "", budget, ""}, true},
		{"auditor", access{"create", "ledgerrecords", "", budget, ""}, false},
		{"auditor", access{"update", "ledgerrecords", "", budget, ""}, false},
		{"auditor", access{"patch", "ledgerrecords", "", budget, ""}, false},
		{"auditor", access{"delete", "ledgerrecords", "", budget, ""}, false},
		{"auditor", access{"deletecollection", "ledgerrecords", "", budget, ""}, false},
		{"auditor", access{"list", "budgettransfers", "", budget, "team-a"}, false},
		{"finance", access{"list", "ledgerrecords", "", budget, ""}, false},
	}
	for _, c := range cases {
		w := c.what
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: c.user,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: w.verb, Group: w.group, Resource: w.resource, Subresource: w.subresource, Namespace: w.namespace,
			},
		}}
		if strings.HasPrefix(c.user, "system:serviceaccount:") {
			sar.Spec.Groups = []string{"system:serviceaccounts", "system:serviceaccounts:" + operatorNamespace, "system:authenticated"}
		}
		if err := k8s.Create(t.Context(), sar); err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != c.allow {
			t.Errorf("%s may %s %s/%s in %q: %v, want %v (%s)", c.user, w.verb, w.resource, w.subresource, w.namespace, sar.Status.Allowed, c.allow, sar.Status.Reason)
		}
	}
	scrape := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:                  "system:serviceaccount:monitoring:prometheus",
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"},
	}}
	if err := k8s.Create(t.Context(), scrape); err != nil {
		t.Fatal(err)
	}
	if !scrape.Status.Allowed {
		t.Errorf("a scraper bound to %smetrics-reader may not GET /metrics: %s", prefix, scrape.Status.Reason)
	}
}

// bindUser binds the ClusterRole role to user in namespace.
func bindUser(t *testing.T, name, namespace, role, user string) {
	t.Helper()
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	if err := k8s.Create(t.Context(), rb); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
}

// kinds lists the objects' kinds, sorted.
func kinds(objs objects) []string {
	var out []string
	for _, u := range objs {
		out = append(out, u.GetKind())
	}
	slices.Sort(out)
	return out
}

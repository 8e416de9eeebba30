package install

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// builtinGroups are the API groups every cluster serves: an installation
// using only these (and its own CRDs) installs on a plain cluster.
var builtinGroups = []string{"", "apps", "rbac.authorization.k8s.io", "networking.k8s.io", "apiextensions.k8s.io", "admissionregistration.k8s.io"}

// checkBuiltinOnly fails on any object of an API group a plain cluster
// lacks, such as monitoring.coreos.com.
func checkBuiltinOnly(t *testing.T, objs objects) {
	t.Helper()
	for _, u := range objs {
		if g := u.GroupVersionKind().Group; !slices.Contains(builtinGroups, g) {
			t.Errorf("%s %s needs API group %q, which a plain cluster does not serve", u.GetKind(), u.GetName(), g)
		}
	}
}

// checkDeployment asserts the manager Deployment's hardening and returns it.
func checkDeployment(t *testing.T, objs objects, namespace string) *appsv1.Deployment {
	t.Helper()
	d := typed[appsv1.Deployment](t, objs.one(t, "Deployment"))
	if d.Namespace != namespace {
		t.Errorf("Deployment in namespace %q, want %q", d.Namespace, namespace)
	}
	pod := d.Spec.Template.Spec
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Error("the pod shares a host namespace")
	}
	if objs.find("ServiceAccount", pod.ServiceAccountName) == nil {
		t.Errorf("serviceAccountName %q is not rendered", pod.ServiceAccountName)
	}
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("want one container, got %d (+%d init)", len(pod.Containers), len(pod.InitContainers))
	}
	c := pod.Containers[0]
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("the manager container has no securityContext")
	}
	if !isTrue(sc.RunAsNonRoot) && !isTrue(psc.RunAsNonRoot) {
		t.Error("runAsNonRoot is not set")
	}
	if isFalse(sc.RunAsNonRoot) {
		t.Error("the container overrides runAsNonRoot with false")
	}
	if (sc.RunAsUser != nil && *sc.RunAsUser == 0) || (psc.RunAsUser != nil && *psc.RunAsUser == 0) {
		t.Error("runAsUser is 0")
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if !isFalse(sc.AllowPrivilegeEscalation) {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if isTrue(sc.Privileged) {
		t.Error("the container is privileged")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities = %+v, want drop [ALL] and no add", sc.Capabilities)
	}
	seccomp := psc.SeccompProfile
	if sc.SeccompProfile != nil {
		seccomp = sc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccompProfile = %+v, want RuntimeDefault", seccomp)
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := c.Resources.Requests[name]; !ok || q.IsZero() {
			t.Errorf("no %s request", name)
		}
		if q, ok := c.Resources.Limits[name]; !ok || q.IsZero() {
			t.Errorf("no %s limit", name)
		}
	}
	checkProbe(t, "liveness", c.LivenessProbe, "/healthz", c.Ports)
	checkProbe(t, "readiness", c.ReadinessProbe, "/readyz", c.Ports)
	checkFlagsExist(t, d)
	if !slices.Contains(c.Args, "--leader-elect") {
		t.Errorf("args %q lack --leader-elect", c.Args)
	}
	podNS := false
	for _, e := range c.Env {
		if e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
			podNS = true
		}
	}
	if !podNS {
		t.Error("POD_NAMESPACE does not come from metadata.namespace: the manager would not know its namespace")
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the Deployment's selector does not match its pods: %v", err)
	}
	return d
}

func checkProbe(t *testing.T, kind string, p *corev1.Probe, path string, ports []corev1.ContainerPort) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("no HTTP %s probe", kind)
		return
	}
	if p.HTTPGet.Path != path {
		t.Errorf("%s probe path %q, want %q", kind, p.HTTPGet.Path, path)
	}
	if _, ok := containerPort(ports, p.HTTPGet.Port.String()); !ok {
		t.Errorf("%s probe port %s is not a container port", kind, p.HTTPGet.Port.String())
	}
}

// containerPort resolves a port name or number among the container's ports.
func containerPort(ports []corev1.ContainerPort, nameOrNumber string) (int32, bool) {
	for _, p := range ports {
		if p.Name == nameOrNumber || fmt.Sprint(p.ContainerPort) == nameOrNumber {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

// rbacObjects holds the rendered RBAC objects.
type rbacObjects struct {
	roles               map[string]*rbacv1.Role // "namespace/name"
	clusterRoles        map[string]*rbacv1.ClusterRole
	roleBindings        []*rbacv1.RoleBinding
	clusterRoleBindings []*rbacv1.ClusterRoleBinding
}

func rbacOf(t *testing.T, objs objects) rbacObjects {
	t.Helper()
	r := rbacObjects{roles: map[string]*rbacv1.Role{}, clusterRoles: map[string]*rbacv1.ClusterRole{}}
	for _, u := range objs.ofKind("Role") {
		r.roles[u.GetNamespace()+"/"+u.GetName()] = typed[rbacv1.Role](t, u)
	}
	for _, u := range objs.ofKind("ClusterRole") {
		r.clusterRoles[u.GetName()] = typed[rbacv1.ClusterRole](t, u)
	}
	for _, u := range objs.ofKind("RoleBinding") {
		r.roleBindings = append(r.roleBindings, typed[rbacv1.RoleBinding](t, u))
	}
	for _, u := range objs.ofKind("ClusterRoleBinding") {
		r.clusterRoleBindings = append(r.clusterRoleBindings, typed[rbacv1.ClusterRoleBinding](t, u))
	}
	return r
}

var readVerbs = []string{"get", "list", "watch"}

func subset(s, of []string) bool {
	for _, v := range s {
		if !slices.Contains(of, v) {
			return false
		}
	}
	return true
}

func mentionsSecrets(rule rbacv1.PolicyRule) bool {
	for _, res := range rule.Resources {
		if res == "secrets" || strings.HasPrefix(res, "secrets/") {
			return slices.Contains(rule.APIGroups, "")
		}
	}
	return false
}

// checkRBAC asserts least privilege: no wildcard anywhere, Secrets only
// through a Role in the operator's namespace bound to the manager, cluster
// roles for people that cannot write what the operator owns, bindings that
// point at rendered roles and the manager's ServiceAccount. It returns the
// RBAC objects for further checks.
func checkRBAC(t *testing.T, objs objects, namespace, serviceAccount string) rbacObjects {
	t.Helper()
	r := rbacOf(t, objs)
	wildcard := func(where string, rules []rbacv1.PolicyRule) {
		for i, rule := range rules {
			for _, list := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames, rule.NonResourceURLs} {
				for _, v := range list {
					if strings.Contains(v, "*") {
						t.Errorf("%s rule %d has wildcard %q", where, i, v)
					}
				}
			}
		}
	}
	secretRoles := map[string]bool{}
	for key, role := range r.roles {
		wildcard("Role "+key, role.Rules)
		for _, rule := range role.Rules {
			if !mentionsSecrets(rule) {
				continue
			}
			secretRoles[role.Name] = true
			if role.Namespace != namespace {
				t.Errorf("Role %s grants Secrets outside the operator's namespace %s", key, namespace)
			}
			if !subset(rule.Verbs, readVerbs) {
				t.Errorf("Role %s may %v Secrets; the operator only reads them", key, rule.Verbs)
			}
		}
	}
	if len(secretRoles) != 1 {
		t.Errorf("want one Role granting Secrets, got %v", secretRoles)
	}
	for name, role := range r.clusterRoles {
		wildcard("ClusterRole "+name, role.Rules)
		if role.AggregationRule != nil {
			t.Errorf("ClusterRole %s aggregates other roles", name)
		}
		for _, rule := range role.Rules {
			if mentionsSecrets(rule) {
				t.Errorf("ClusterRole %s grants Secrets cluster-wide", name)
			}
		}
		lbl := role.Labels
		if lbl["rbac.authorization.k8s.io/aggregate-to-view"] == "true" || lbl["rbac.authorization.k8s.io/aggregate-to-edit"] == "true" || lbl["rbac.authorization.k8s.io/aggregate-to-admin"] == "true" {
			for _, rule := range role.Rules {
				for _, res := range rule.Resources {
					ownedByOperator := strings.HasSuffix(res, "/status") || strings.HasPrefix(res, "budgettransfers") ||
						strings.HasPrefix(res, "enterpriseaccounts") || strings.HasPrefix(res, "subaccounts") ||
						strings.HasPrefix(res, "ledgerrecords")
					if (ownedByOperator || lbl["rbac.authorization.k8s.io/aggregate-to-view"] == "true") && !subset(rule.Verbs, readVerbs) {
						t.Errorf("ClusterRole %s, aggregated into the built-in roles, may %v %s", name, rule.Verbs, res)
					}
				}
			}
		}
	}
	bound := func(where string, ref rbacv1.RoleRef, subjects []rbacv1.Subject, bindingNS string) {
		switch ref.Kind {
		case "Role":
			if r.roles[bindingNS+"/"+ref.Name] == nil {
				t.Errorf("%s binds Role %s, which is not rendered", where, ref.Name)
			}
		case "ClusterRole":
			if r.clusterRoles[ref.Name] == nil {
				t.Errorf("%s binds ClusterRole %s, which is not rendered", where, ref.Name)
			}
		}
		for _, s := range subjects {
			if s.Kind != rbacv1.ServiceAccountKind || s.Name != serviceAccount || s.Namespace != namespace {
				t.Errorf("%s binds %s %s/%s, want the manager's ServiceAccount %s/%s", where, s.Kind, s.Namespace, s.Name, namespace, serviceAccount)
			}
		}
	}
	secretsBound := false
	for _, b := range r.roleBindings {
		bound("RoleBinding "+b.Namespace+"/"+b.Name, b.RoleRef, b.Subjects, b.Namespace)
		if b.RoleRef.Kind == "Role" && secretRoles[b.RoleRef.Name] && b.Namespace == namespace {
			secretsBound = true
		}
	}
	if !secretsBound {
		t.Error("no RoleBinding in the operator's namespace gives the manager its Secret-reading Role")
	}
	for _, b := range r.clusterRoleBindings {
		bound("ClusterRoleBinding "+b.Name, b.RoleRef, b.Subjects, "")
	}
	return r
}

// checkUserRoles asserts the roles for people: reading the five kinds
// people work with aggregated into view, editing BudgetAllocations and
// creating and deleting OrderPayments aggregated into edit and admin, and
// the transfer and payment approvers and the audit trail's reader, not
// aggregated.
func checkUserRoles(t *testing.T, r rbacObjects, prefix string) {
	t.Helper()
	viewer := r.clusterRoles[prefix+"budget-viewer-role"]
	if viewer == nil || viewer.Labels["rbac.authorization.k8s.io/aggregate-to-view"] != "true" {
		t.Fatalf("no ClusterRole %sbudget-viewer-role aggregated to view", prefix)
	}
	var viewed []string
	for _, rule := range viewer.Rules {
		if subset(rule.Verbs, readVerbs) && len(rule.Verbs) == 3 {
			viewed = append(viewed, rule.Resources...)
		}
	}
	for _, kind := range []string{"enterpriseaccounts", "subaccounts", "budgetallocations", "budgettransfers", "orderpayments"} {
		if !slices.Contains(viewed, kind) {
			t.Errorf("the viewer role cannot get, list and watch %s", kind)
		}
	}
	editor := r.clusterRoles[prefix+"budgetallocation-editor-role"]
	if editor == nil || editor.Labels["rbac.authorization.k8s.io/aggregate-to-edit"] != "true" || editor.Labels["rbac.authorization.k8s.io/aggregate-to-admin"] != "true" {
		t.Fatalf("no ClusterRole %sbudgetallocation-editor-role aggregated to edit and admin", prefix)
	}
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{"budget.bss.dev"}, Resources: []string{"budgetallocations"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}},
		{APIGroups: []string{"budget.bss.dev"}, Resources: []string{"budgetallocations/status"}, Verbs: []string{"get"}},
	}
	if diff := cmp.Diff(want, editor.Rules); diff != "" {
		t.Errorf("editor rules (-want +got):\n%s", diff)
	}
	// Teams pay orders: create, read and delete OrderPayments; patch
	// changes only metadata (the spec is immutable), and never update or
	// the status.
	payer := r.clusterRoles[prefix+"orderpayment-editor-role"]
	if payer == nil || payer.Labels["rbac.authorization.k8s.io/aggregate-to-edit"] != "true" || payer.Labels["rbac.authorization.k8s.io/aggregate-to-admin"] != "true" {
		t.Fatalf("no ClusterRole %sorderpayment-editor-role aggregated to edit and admin", prefix)
	}
	want = []rbacv1.PolicyRule{
		{APIGroups: []string{"budget.bss.dev"}, Resources: []string{"orderpayments"}, Verbs: []string{"get", "list", "watch", "create", "patch", "delete", "deletecollection"}},
		{APIGroups: []string{"budget.bss.dev"}, Resources: []string{"orderpayments/status"}, Verbs: []string{"get"}},
	}
	if diff := cmp.Diff(want, payer.Rules); diff != "" {
		t.Errorf("order payment editor rules (-want +got):\n%s", diff)
	}
	for name, resource := range map[string]string{"budgettransfer-approver": "budgettransfers", "orderpayment-approver": "orderpayments"} {
		approver := r.clusterRoles[prefix+name]
		if approver == nil {
			t.Fatalf("no ClusterRole %s%s", prefix, name)
		}
		want := []rbacv1.PolicyRule{
			{APIGroups: []string{"budget.bss.dev"}, Resources: []string{resource}, Verbs: readVerbs},
			{APIGroups: []string{"budget.bss.dev"}, Resources: []string{resource + "/status"}, Verbs: []string{"get", "update", "patch"}},
		}
		if diff := cmp.Diff(want, approver.Rules); diff != "" {
			t.Errorf("%s rules (-want +got):\n%s", name, diff)
		}
		for k := range approver.Labels {
			if strings.HasPrefix(k, "rbac.authorization.k8s.io/aggregate-to-") {
				t.Errorf("the approver role %s is aggregated (%s): approving must be granted on purpose", name, k)
			}
		}
	}
	checkLedgerRecordReader(t, r, prefix)
}

// checkLedgerRecordReader asserts the audit trail's reader role: it reads
// LedgerRecords and nothing else, and is aggregated nowhere.
func checkLedgerRecordReader(t *testing.T, r rbacObjects, prefix string) {
	t.Helper()
	reader := r.clusterRoles[prefix+"ledger-record-reader-role"]
	if reader == nil {
		t.Fatalf("no ClusterRole %sledger-record-reader-role", prefix)
	}
	want := []rbacv1.PolicyRule{{APIGroups: []string{"budget.bss.dev"}, Resources: []string{"ledgerrecords"}, Verbs: readVerbs}}
	if diff := cmp.Diff(want, reader.Rules); diff != "" {
		t.Errorf("ledger record reader rules (-want +got):\n%s", diff)
	}
	for k := range reader.Labels {
		if strings.HasPrefix(k, "rbac.authorization.k8s.io/aggregate-to-") {
			t.Errorf("the ledger record reader role is aggregated (%s): it shows every namespace's records", k)
		}
	}
}

// checkManagerRole asserts that the manager's ClusterRole is exactly the
// one controller-gen generates from the kubebuilder markers.
func checkManagerRole(t *testing.T, r rbacObjects, name string) {
	t.Helper()
	var generated rbacv1.ClusterRole
	if err := yaml.Unmarshal(readFile(t, "config/rbac/role.yaml"), &generated); err != nil {
		t.Fatal(err)
	}
	got := r.clusterRoles[name]
	if got == nil {
		t.Fatalf("no ClusterRole %s", name)
	}
	if diff := cmp.Diff(generated.Rules, got.Rules); diff != "" {
		t.Errorf("ClusterRole %s differs from config/rbac/role.yaml (-generated +rendered):\n%s", name, diff)
	}
}

// port is a protocol and port number of a NetworkPolicy rule.
type port string

func policyPorts(t *testing.T, where string, ports []networkingv1.NetworkPolicyPort) []port {
	t.Helper()
	if len(ports) == 0 {
		t.Errorf("%s: a rule without ports allows every port", where)
	}
	var out []port
	for _, p := range ports {
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		out = append(out, port(fmt.Sprintf("%s/%s", proto, p.Port.String())))
	}
	return out
}

// checkNetworking asserts that the metrics Service and the NetworkPolicy
// select the manager's pods, and that the policy opens exactly the metrics
// and probe ports in, and DNS, the kube-apiserver and HTTPS out.
func checkNetworking(t *testing.T, objs objects, d *appsv1.Deployment, metricsPort int32, wantIngress, wantEgress []port) {
	t.Helper()
	pods := labels.Set(d.Spec.Template.Labels)
	c := d.Spec.Template.Spec.Containers[0]
	if metricsPort != 0 {
		svc := typed[corev1.Service](t, objs.one(t, "Service"))
		if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(pods) {
			t.Errorf("the metrics Service selects %v, not the manager's pods %v", svc.Spec.Selector, pods)
		}
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != metricsPort {
			t.Fatalf("metrics Service ports %+v, want %d", svc.Spec.Ports, metricsPort)
		}
		if p, ok := containerPort(c.Ports, svc.Spec.Ports[0].TargetPort.String()); !ok || p != metricsPort {
			t.Errorf("metrics Service targets %s, not container port %d", svc.Spec.Ports[0].TargetPort.String(), metricsPort)
		}
		if !slices.Contains(c.Args, fmt.Sprintf("--metrics-bind-address=:%d", metricsPort)) {
			t.Errorf("args %q do not serve metrics on :%d", c.Args, metricsPort)
		}
	} else if len(objs.ofKind("Service")) > 0 {
		t.Error("metrics are disabled but a Service is rendered")
	}
	np := typed[networkingv1.NetworkPolicy](t, objs.one(t, "NetworkPolicy"))
	if np.Namespace != d.Namespace {
		t.Errorf("NetworkPolicy in %q, the manager in %q", np.Namespace, d.Namespace)
	}
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil || len(np.Spec.PodSelector.MatchLabels) == 0 || !sel.Matches(pods) {
		t.Errorf("the NetworkPolicy selects %v, not the manager's pods", np.Spec.PodSelector)
	}
	if diff := cmp.Diff([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, np.Spec.PolicyTypes); diff != "" {
		t.Errorf("policyTypes (-want +got):\n%s", diff)
	}
	var in, out []port
	for i, rule := range np.Spec.Ingress {
		in = append(in, policyPorts(t, fmt.Sprintf("ingress rule %d", i), rule.Ports)...)
	}
	for i, rule := range np.Spec.Egress {
		out = append(out, policyPorts(t, fmt.Sprintf("egress rule %d", i), rule.Ports)...)
	}
	slices.Sort(in)
	slices.Sort(out)
	out = slices.Compact(out)
	if diff := cmp.Diff(wantIngress, in); diff != "" {
		t.Errorf("ingress ports (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantEgress, out); diff != "" {
		t.Errorf("egress ports (-want +got):\n%s", diff)
	}
}

// defaultIngress and defaultEgress are the ports the NetworkPolicy opens by
// default, sorted.
var (
	defaultIngress = []port{"TCP/8081", "TCP/8443"}
	defaultEgress  = []port{"TCP/443", "TCP/53", "TCP/6443", "UDP/53"}
)

func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }

// checkPodSecurity asserts that the operator's namespace enforces the
// restricted Pod Security level.
func checkPodSecurity(t *testing.T, ns *corev1.Namespace) {
	t.Helper()
	if got := ns.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("namespace %s enforces Pod Security %q, want restricted", ns.Name, got)
	}
}

// managerFlag matches a flag definition in cmd/manager.
var managerFlag = regexp.MustCompile(`flag\.[A-Za-z0-9]+Var\([^,]+, "([a-z0-9-]+)"`)

// checkFlagsExist fails on any argument that cmd/manager does not define
// (zap's --zap-* flags aside), so that renaming a flag breaks no install.
func checkFlagsExist(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "cmd", "manager", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no cmd/manager sources: %v", err)
	}
	defined := map[string]bool{}
	for _, f := range files {
		for _, m := range managerFlag.FindAllStringSubmatch(string(readFile(t, filepath.Join("cmd", "manager", filepath.Base(f)))), -1) {
			defined[m[1]] = true
		}
	}
	for _, a := range args(d) {
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || (!defined[name] && !strings.HasPrefix(name, "zap-")) {
			t.Errorf("argument %s is not a flag of cmd/manager", a)
		}
	}
}

// args returns the manager container's arguments.
func args(d *appsv1.Deployment) []string { return d.Spec.Template.Spec.Containers[0].Args }

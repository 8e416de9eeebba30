package plugin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/approval"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// maxPlanInput bounds what plan reads from a file or stdin.
const maxPlanInput = 8 << 20

func planCommand() command {
	var file string
	return command{
		name:    "plan",
		usage:   "plan -f FILE [-n NAMESPACE]",
		summary: "validate BudgetAllocations with a server-side dry run and show what money would move",
		help: `Read BudgetAllocations from FILE (- for stdin; several YAML documents or a
List may be given), validate each against the cluster with a server-side dry
run (create for a new allocation, update for an existing one; nothing is
stored) and show what the operator would move:

  amount   Transfer or Reclaim of the difference between the new amount and
           the allocation's status.granted (0 for a new allocation)
  topUp    when a top-up would happen, to what and at most how much a month
  coupons  CouponTransfer for each new coupon, CouponReclaim for each removed
           (or changed) one, from spec.coupons against status.coupons

Objects without a namespace use -n or the context's namespace. Validation
errors are printed one per field; the exit code is 1 when any object is
rejected.

Examples:
  kubectl budget plan -f allocation.yaml
  kustomize build overlays/prod | kubectl budget plan -f -`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&file, "filename", "", "file with BudgetAllocation YAML or JSON, - for stdin")
			fs.StringVar(&file, "f", "", "short for --filename")
		},
		run: func(ctx context.Context, e *env, _ []string) error {
			if file == "" {
				return usagef("-f FILE is required (- reads stdin)")
			}
			data, err := readInput(file, e.stdin())
			if err != nil {
				return err
			}
			c, ns, err := e.client()
			if err != nil {
				return err
			}
			return runPlan(ctx, c, ns, data, e.stdout)
		},
	}
}

func readInput(file string, stdin io.Reader) ([]byte, error) {
	var r io.Reader
	if file == "-" {
		r = stdin
	} else {
		f, err := os.Open(file) //nolint:gosec // G304: reading the file the user names is the point
		if err != nil {
			return nil, err
		}
		defer func() { _ = f.Close() }()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxPlanInput+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	if len(data) > maxPlanInput {
		return nil, fmt.Errorf("%s is larger than %d bytes", file, maxPlanInput)
	}
	return data, nil
}

// errRejected reports that plan printed at least one rejected object.
var errRejected = errors.New("some objects were rejected")

// splitDocuments returns the non-empty YAML documents of data, with Lists
// expanded into their items.
func splitDocuments(data []byte) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []*unstructured.Unstructured
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading document %d: %w", n, err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return nil, fmt.Errorf("document %d is not valid YAML: %w", n, err)
		}
		if len(obj) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.IsList() {
			list, err := u.ToList()
			if err != nil {
				return nil, fmt.Errorf("document %d: %w", n, err)
			}
			for i := range list.Items {
				out = append(out, &list.Items[i])
			}
			continue
		}
		out = append(out, u)
	}
}

// runPlan dry-runs every allocation in data and prints its plan.
func runPlan(ctx context.Context, c client.Client, namespace string, data []byte, w io.Writer) error {
	objs, err := splitDocuments(data)
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return errors.New("no objects in the input")
	}
	rejected := 0
	for i, u := range objs {
		if i > 0 {
			_, _ = fmt.Fprintln(w)
		}
		if err := planOne(ctx, c, namespace, u, w); err != nil {
			rejected++
			_, _ = fmt.Fprintf(w, "%s: REJECTED\n%s\n", objectLabel(u, namespace), indentLines(describeError(err), "  "))
		}
	}
	if rejected > 0 {
		return fmt.Errorf("%w: %d of %d", errRejected, rejected, len(objs))
	}
	return nil
}

func objectLabel(u *unstructured.Unstructured, namespace string) string {
	ns := u.GetNamespace()
	if ns == "" {
		ns = namespace
	}
	name := u.GetName()
	if name == "" {
		name = "(no name)"
	}
	if u.GetKind() != "BudgetAllocation" {
		return fmt.Sprintf("%s %s/%s", orNone(u.GetKind()), ns, name)
	}
	return "ba/" + ns + "/" + name
}

func indentLines(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

func planOne(ctx context.Context, c client.Client, namespace string, u *unstructured.Unstructured, w io.Writer) error {
	gvk := u.GroupVersionKind()
	if gvk.Group != budgetv1alpha1.GroupVersion.Group || gvk.Kind != "BudgetAllocation" {
		return fmt.Errorf("plan only handles budget.bss.dev BudgetAllocations, not %q %q", u.GetAPIVersion(), u.GetKind())
	}
	if gvk.Version != budgetv1alpha1.GroupVersion.Version {
		return fmt.Errorf("apiVersion %q is not served; use %s", u.GetAPIVersion(), budgetv1alpha1.GroupVersion)
	}
	if u.GetName() == "" {
		return errors.New("metadata.name is required")
	}
	if u.GetNamespace() == "" {
		u.SetNamespace(namespace)
	}

	var existing budgetv1alpha1.BudgetAllocation
	err := c.Get(ctx, types.NamespacedName{Namespace: u.GetNamespace(), Name: u.GetName()}, &existing)
	isNew := apierrors.IsNotFound(err)
	if err != nil && !isNew {
		return err
	}
	verb := "created"
	if isNew {
		u.SetResourceVersion("")
		err = c.Create(ctx, u, client.DryRunAll, client.FieldValidation("Strict"))
	} else {
		verb = "updated"
		u.SetResourceVersion(existing.ResourceVersion)
		err = c.Update(ctx, u, client.DryRunAll, client.FieldValidation("Strict"))
	}
	if err != nil {
		return err
	}
	var ba budgetv1alpha1.BudgetAllocation
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &ba); err != nil {
		return fmt.Errorf("reading the dry-run result: %w", err)
	}
	var old *budgetv1alpha1.BudgetAllocation
	if !isNew {
		old = &existing
	}

	_, _ = fmt.Fprintf(w, "%s: would be %s (valid: the API server accepted a dry run)\n", objectLabel(u, namespace), verb)
	_, _ = fmt.Fprintf(w, "  subAccount %s, balanceType %s, managementPolicy %s, deletionPolicy %s\n",
		ba.Spec.SubAccountRef.Name, orNone(ba.Spec.BalanceType), orNone(ba.Spec.ManagementPolicy), orNone(ba.Spec.DeletionPolicy))
	hints := lookupHints(ctx, c, ba.Spec.SubAccountRef.Name, ba.Namespace)
	for _, line := range append(hints.blockers, planLines(&ba, old, hints)...) {
		_, _ = fmt.Fprintln(w, "  "+line)
	}
	return nil
}

// hints are optional facts that sharpen the plan; zero when not readable.
type hints struct {
	blockers     []string      // why nothing would move at all
	reclaimable  *money.Amount // sub-account's reclaimable cash
	transferable *money.Amount // master's transferable cash
	// approval is the operator's approval rule with what it needs: the
	// settings (or why they cannot be read) and what moved to the
	// sub-account without approval this cycle (nil when not readable).
	approval    *approval.Settings
	approvalErr string
	used        *money.Amount
	subAccount  string
	cycle       string
}

// lookupHints reads the SubAccount and its EnterpriseAccount when the user
// may; errors only mean fewer hints.
func lookupHints(ctx context.Context, c client.Client, subAccount, namespace string) hints {
	var h hints
	var sa budgetv1alpha1.SubAccount
	if err := c.Get(ctx, types.NamespacedName{Name: subAccount}, &sa); err != nil {
		if apierrors.IsNotFound(err) {
			h.blockers = append(h.blockers, fmt.Sprintf("warning: SubAccount %s does not exist: nothing moves until it does (SubAccountNotReady)", subAccount))
		}
		return h
	}
	if admitted, known := admits(ctx, c, &sa, namespace); known && !admitted {
		h.blockers = append(h.blockers, fmt.Sprintf("warning: SubAccount %s does not admit namespace %s (spec.allowedNamespaces): nothing moves (NamespaceNotAllowed)", subAccount, namespace))
	}
	if a, ok := amountOf(string(sa.Status.ReclaimableCash)); ok {
		h.reclaimable = &a
	}
	var ea budgetv1alpha1.EnterpriseAccount
	if err := c.Get(ctx, types.NamespacedName{Name: sa.Spec.EnterpriseAccountRef.Name}, &ea); err != nil {
		return h
	}
	if a, ok := amountOf(string(ea.Status.TransferableCash)); ok {
		h.transferable = &a
	}
	settings, err := approval.SettingsOf(ea.Spec.Approval)
	if err != nil {
		h.approvalErr = err.Error()
		return h
	}
	h.approval, h.subAccount, h.cycle = &settings, sa.Name, billcycle.Of(time.Now())
	if settings.PerCycle != nil {
		h.used = approvalUsed(ctx, c, &sa, h.cycle)
	}
	return h
}

// approvalUsed is what moved to the sub-account without approval in cycle,
// as the transfer controller counts it for a transfer created now; nil when
// the user may not list the transfers of every namespace.
func approvalUsed(ctx context.Context, c client.Client, sa *budgetv1alpha1.SubAccount, cycle string) *money.Amount {
	var list budgetv1alpha1.BudgetTransferList
	if err := c.List(ctx, &list, client.MatchingLabels{budgetv1alpha1.LabelSubAccount: common.LabelValue(sa.Name)}); err != nil {
		return nil
	}
	others := make([]approval.Movement, 0, len(list.Items))
	for i := range list.Items {
		if bt := &list.Items[i]; bt.Spec.CustomerID == sa.Status.CustomerID {
			others = append(others, approval.MovementOf(bt))
		}
	}
	used := approval.Used(others, approval.Movement{Created: time.Now()}, cycle, billcycle.Of)
	return &used
}

// planLines describes what the operator would move for ba (as the dry run
// returned it) given the existing allocation old (nil when new).
func planLines(ba, old *budgetv1alpha1.BudgetAllocation, h hints) []string {
	var lines []string
	var st budgetv1alpha1.BudgetAllocationStatus
	if old != nil {
		st = old.Status
	}
	granted, _ := amountOf(string(st.Granted))
	credit := ba.Spec.BalanceType == budgetv1alpha1.BalanceTypeCredit

	switch {
	case ba.Spec.Amount != nil:
		want, _ := amountOf(string(*ba.Spec.Amount))
		delta := want.Sub(granted)
		switch {
		case delta.IsPositive():
			lines = append(lines, fmt.Sprintf("Transfer %s  (granted %s -> amount %s)", delta, granted, want))
			lines = append(lines, approvalHint(budgetv1alpha1.OperationTransfer, delta, h)...)
			if h.transferable != nil && !credit && h.transferable.Cmp(delta) < 0 {
				lines = append(lines, fmt.Sprintf("  the master has only %s transferable cash now: the allocation would wait with InsufficientFunds", h.transferable))
			}
		case delta.IsNegative():
			lines = append(lines, fmt.Sprintf("Reclaim %s  (granted %s -> amount %s)", delta.Neg(), granted, want))
			if h.reclaimable != nil && !credit && h.reclaimable.Cmp(delta.Neg()) < 0 {
				lines = append(lines, fmt.Sprintf("  the sub-account has only %s reclaimable now: money it has spent cannot be reclaimed", h.reclaimable))
			}
		default:
			lines = append(lines, fmt.Sprintf("no money moves  (granted %s = amount %s)", granted, want))
		}
	case ba.Spec.TopUp != nil:
		t := ba.Spec.TopUp
		line := fmt.Sprintf("topUp: moves when the balance falls below %s: tops it up to %s, at most %s per bill cycle", t.MinimumBalance, t.TargetBalance, t.MonthlyLimit)
		if st.TopUp != nil {
			line += fmt.Sprintf(" (%s used in %s)", orNone(st.TopUp.Used), st.TopUp.Cycle)
		}
		lines = append(lines, line)
		if h.reclaimable != nil && !credit {
			lines = append(lines, fmt.Sprintf("  the sub-account's reclaimable balance is %s now", h.reclaimable))
		}
		if old != nil && old.Spec.Amount != nil {
			lines = append(lines, fmt.Sprintf("  switching from amount to topUp reclaims nothing: the %s granted stays", granted))
		}
	}
	if p, ok := amountOf(st.Pending); ok && !p.IsZero() {
		lines = append(lines, fmt.Sprintf("note: %s is in flight; the operator waits for it before it moves anything else", p))
	}

	lines = append(lines, couponLines(ba.Spec.Coupons, st.Coupons, h)...)
	if len(lines) == 0 {
		lines = append(lines, "nothing moves")
	}

	switch ba.Spec.ManagementPolicy {
	case budgetv1alpha1.ManagementPolicyPlan:
		lines = append(lines, "managementPolicy Plan: the operator only shows the next movement in status.planned")
	case budgetv1alpha1.ManagementPolicyPaused:
		lines = append(lines, "managementPolicy Paused: nothing moves until it is Managed again")
	}
	if old != nil && old.DeletionTimestamp != nil {
		lines = append(lines, "note: the allocation is being deleted")
	}
	return lines
}

// approvalHint says whether the operator would hold a transfer of a to the
// sub-account for approval, and under which limit.
func approvalHint(op budgetv1alpha1.TransferOperation, a money.Amount, h hints) []string {
	switch {
	case h.approvalErr != "":
		return []string{"  needs approval: " + approval.Unreadable(h.approvalErr).Message + " (kubectl budget approve)"}
	case h.approval == nil:
		return nil
	}
	used := money.Zero
	if h.used != nil {
		used = *h.used
	}
	v := approval.Decide(*h.approval, op, a, used, h.subAccount, h.cycle)
	switch {
	case v.Needed:
		return []string{fmt.Sprintf("  needs approval (%s): %s (kubectl budget approve)", v.Limit, v.Message)}
	case h.used == nil && h.approval.PerCycle != nil:
		return []string{fmt.Sprintf("  may need approval: the budget autoApproveCyclePerSubAccount %s of sub-account %s could not be checked (listing its transfers in all namespaces is not allowed)",
			h.approval.PerCycle, h.subAccount)}
	}
	return nil
}

func couponLines(spec []budgetv1alpha1.CouponGrant, granted []budgetv1alpha1.CouponGrantStatus, h hints) []string {
	want := map[string]budgetv1alpha1.Money{}
	for _, c := range spec {
		want[c.CouponID] = c.Amount
	}
	have := map[string]budgetv1alpha1.CouponGrantStatus{}
	for _, g := range granted {
		have[g.CouponID] = g
	}
	var lines []string
	// Reclaims first, like the operator.
	granted = append([]budgetv1alpha1.CouponGrantStatus(nil), granted...)
	sort.Slice(granted, func(i, j int) bool { return granted[i].CouponID < granted[j].CouponID })
	for _, g := range granted {
		w, keep := want[g.CouponID]
		switch {
		case !keep:
			lines = append(lines, fmt.Sprintf("CouponReclaim sub-coupon %s of coupon %s  (its remaining balance)", orNone(g.SubCouponID), g.CouponID))
		case !sameAmount(w, g.Amount):
			lines = append(lines, fmt.Sprintf("CouponReclaim sub-coupon %s of coupon %s  (amount changes %s -> %s; its remaining balance)", orNone(g.SubCouponID), g.CouponID, orNone(g.Amount), w))
		}
	}
	ids := make([]string, 0, len(spec))
	for id := range want {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		g, ok := have[id]
		if ok && sameAmount(want[id], g.Amount) {
			continue
		}
		lines = append(lines, fmt.Sprintf("CouponTransfer %s from coupon %s", want[id], id))
		if a, ok := amountOf(string(want[id])); ok {
			lines = append(lines, approvalHint(budgetv1alpha1.OperationCouponTransfer, a, h)...)
		}
	}
	return lines
}

func sameAmount(a, b budgetv1alpha1.Money) bool {
	x, okx := amountOf(string(a))
	y, oky := amountOf(string(b))
	return okx && oky && x == y
}

// admits applies the operator's namespace admission with what the user may
// read; known is false when the namespace's labels cannot be read.
func admits(ctx context.Context, c client.Client, sa *budgetv1alpha1.SubAccount, namespace string) (admitted, known bool) {
	admitted, err := sa.Spec.AllowedNamespaces.Admits(namespace, func() (map[string]string, bool, error) {
		var ns corev1.Namespace
		if err := c.Get(ctx, types.NamespacedName{Name: namespace}, &ns); err != nil {
			return nil, false, err
		}
		return ns.Labels, true, nil
	})
	return admitted, err == nil
}

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
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
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
stored) and show what the operator would do with it.

The preview runs the operator's own planner on what the cluster holds: the
allocation's BudgetTransfers (its ledger), its SubAccount (admission,
fundingLimit, previous customers), the other allocations of the SubAccount,
the EnterpriseAccount's approval settings and the transfers that count
against its auto-approval budget. Balances come from the figures the
operator publishes in SubAccount and EnterpriseAccount status; their age is
printed. It shows:

  next     the operator's next step: the operation, amount, credit expiry,
           coupon and, for a transfer, whether it needs approval and under
           which limit; or why nothing moves (the reason the allocation's
           Ready condition would give, e.g. FundingLimitExceeded)
  then     the steps after it, each assuming the one before succeeds
  withdraws / waits
           what happens to a transfer that waits for approval

Objects the user may not read are named in a note instead of guessed.
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
	lines := Predict(ctx, c, &ba, old, time.Now()).lines()
	if old != nil && old.DeletionTimestamp != nil {
		lines = append(lines, "note: the allocation is being deleted")
	}
	for _, line := range lines {
		_, _ = fmt.Fprintln(w, "  "+line)
	}
	return nil
}

package plugin

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// LabelAllocation is the label the operator puts on a BudgetTransfer: its
// allocation's name (cut to 63 characters).
const LabelAllocation = budgetv1alpha1.LabelAllocation

func historyCommand() command {
	return command{
		name:    "history",
		usage:   "history ALLOCATION [-n NAMESPACE]",
		summary: "list an allocation's BudgetTransfers with a running granted total",
		help: `List the BudgetTransfers of the BudgetAllocation ALLOCATION (by
spec.allocationRef.name or the budget.bss.dev/allocation label), ordered by
sequence: operation, amount, phase, attempts, the last BSS error code, the
trans_id sent to BSS, when it was created and completed, and GRANTED, the
running net total of succeeded transfers minus succeeded reclaims (coupons
are not money and do not change it).

The history is shown even after the allocation itself has been deleted, as
long as its transfers remain.

Example:
  kubectl budget history compute -n team-a`,
		nargs: 1,
		run: func(ctx context.Context, e *env, args []string) error {
			c, ns, err := e.client()
			if err != nil {
				return err
			}
			return runHistory(ctx, c, types.NamespacedName{Namespace: ns, Name: args[0]}, e.stdout)
		},
	}
}

// belongsTo reports whether bt is a transfer of the allocation name.
func belongsTo(bt *budgetv1alpha1.BudgetTransfer, name string) bool {
	if bt.Spec.AllocationRef.Name != "" {
		return bt.Spec.AllocationRef.Name == name
	}
	return len(name) <= 63 && bt.Labels[LabelAllocation] == name
}

func runHistory(ctx context.Context, c client.Client, key types.NamespacedName, w io.Writer) error {
	var ba budgetv1alpha1.BudgetAllocation
	found := true
	if err := c.Get(ctx, key, &ba); err != nil {
		if !apierrors.IsNotFound(err) {
			return err
		}
		found = false
	}
	var list budgetv1alpha1.BudgetTransferList
	if err := c.List(ctx, &list, client.InNamespace(key.Namespace)); err != nil {
		return fmt.Errorf("listing BudgetTransfers: %w", err)
	}
	var bts []*budgetv1alpha1.BudgetTransfer
	for i := range list.Items {
		if belongsTo(&list.Items[i], key.Name) {
			bts = append(bts, &list.Items[i])
		}
	}
	label := "ba/" + key.Namespace + "/" + key.Name
	if !found && len(bts) == 0 {
		return fmt.Errorf("no BudgetAllocation %s and no BudgetTransfers of it", label)
	}
	sort.SliceStable(bts, func(i, j int) bool {
		if bts[i].Spec.Sequence != bts[j].Spec.Sequence {
			return bts[i].Spec.Sequence < bts[j].Spec.Sequence
		}
		return bts[i].Name < bts[j].Name
	})

	if found {
		_, _ = fmt.Fprintf(w, "%s  subAccount %s  desired %s  granted %s  pending %s\n\n", label, ba.Spec.SubAccountRef.Name,
			orNone(ba.Status.Desired), orNone(ba.Status.Granted), orNone(ba.Status.Pending))
	} else {
		_, _ = fmt.Fprintf(w, "%s  (the allocation no longer exists; its remaining transfers follow)\n\n", label)
	}
	if len(bts) == 0 {
		_, _ = fmt.Fprintln(w, "No BudgetTransfers yet.")
		return nil
	}

	tw := newTable(w)
	row(tw, "SEQ", "NAME", "OPERATION", "AMOUNT", "PHASE", "ATTEMPTS", "ERROR", "TRANSID", "CREATED", "COMPLETED", "GRANTED")
	var running money.Amount
	for _, bt := range bts {
		op := string(bt.Spec.Operation)
		if bt.Spec.CouponID != "" {
			op += " " + bt.Spec.CouponID
		}
		amount := orNone(bt.Spec.Amount)
		if bt.Spec.Operation == budgetv1alpha1.OperationCouponReclaim && bt.Status.Result != nil && bt.Status.Result.ReclaimedAmount != "" {
			amount = string(bt.Status.Result.ReclaimedAmount)
		}
		if bt.Status.Phase == budgetv1alpha1.PhaseSucceeded {
			a, _ := amountOf(string(bt.Spec.Amount))
			switch bt.Spec.Operation {
			case budgetv1alpha1.OperationTransfer:
				running = running.Add(a)
			case budgetv1alpha1.OperationReclaim:
				running = running.Sub(a)
			}
		}
		phase := orNone(bt.Status.Phase)
		switch {
		case bt.Status.Evidence != nil && bt.Status.Evidence.Kind != budgetv1alpha1.EvidenceDuplicateAnswer:
			phase += " (by " + strings.ToLower(bt.Status.Evidence.Kind) + ")"
		case bt.Status.Result != nil && bt.Status.Result.AlreadyApplied:
			phase += " (already applied)"
		case common.ReadyReason(bt.Status.Conditions, budgetv1alpha1.ConditionReady) == budgetv1alpha1.ReasonTransIDBurned:
			phase += " (trans_id burned)"
		}
		row(tw, strconv.FormatInt(bt.Spec.Sequence, 10), bt.Name, op, amount, phase, strconv.Itoa(int(bt.Status.Attempts)),
			orNone(bt.Status.ErrorCode), bt.Spec.TransID, bt.CreationTimestamp.UTC().Format(timeFormat),
			fmtTime(bt.Status.CompletionTime), running.String())
	}
	_ = tw.Flush()
	if found {
		if g, ok := amountOf(string(ba.Status.Granted)); ok && g != running {
			_, _ = fmt.Fprintf(w, "\nnote: these transfers add up to %s but status.granted is %s (transfers may have been deleted)\n", running, g)
		}
	}
	return nil
}

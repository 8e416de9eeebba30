package plugin

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
)

func ledgerCommand() command {
	var accept bool
	return command{
		name:    "ledger",
		usage:   "ledger ALLOCATION [-n NAMESPACE] [--accept]",
		summary: "review (and accept) the reconstruction of a ledger stopped with LedgerBehindBSS",
		help: `Show the allocation's ledger checkpoint and, when one of its transfers
stopped with LedgerBehindBSS (its ledger is older than BSS's books: a
restore or an etcd rollback), the steps the operator reconstructed from the
master's income/expense records under the allocation's trans_ids: sequence,
operation, amount and the record that shows each.

With --accept, accept a complete reconstruction: the stopped transfer is
annotated ` + budgetv1alpha1.AnnotationAcceptReconstruction + `=<digest>; the
operator then keeps the steps in the audit trail, counts them in the
checkpoint, ends the stopped transfer Superseded, and goes on after them.
Accepting needs the patch verb on budgettransfers (an administrator's role;
teams cannot). Review the steps against BSS first: they are counted as money
the sub-account holds.

Example:
  kubectl budget ledger compute -n team-a
  kubectl budget ledger compute -n team-a --accept`,
		nargs: 1,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&accept, "accept", false, "accept the complete reconstruction shown")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			c, ns, err := e.client()
			if err != nil {
				return err
			}
			return runLedger(ctx, c, types.NamespacedName{Namespace: ns, Name: args[0]}, accept, e.stdout)
		},
	}
}

func runLedger(ctx context.Context, c client.Client, key types.NamespacedName, accept bool, w io.Writer) error {
	var ba budgetv1alpha1.BudgetAllocation
	if err := c.Get(ctx, key, &ba); err != nil {
		return err
	}
	printCheckpoint(w, &ba)
	rec := ba.Status.Reconstruction
	if rec == nil {
		_, _ = fmt.Fprintln(w, "No transfer is stopped with LedgerBehindBSS: nothing to reconstruct.")
		if accept {
			return refusal{msg: "nothing to accept"}
		}
		return nil
	}
	printReconstruction(w, rec)
	if !accept {
		return nil
	}
	if !rec.Complete || len(rec.Entries) == 0 {
		return refusal{msg: "the reconstruction is not complete and cannot be accepted: " + rec.Message}
	}
	bt := types.NamespacedName{Namespace: key.Namespace, Name: rec.Transfer}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var got budgetv1alpha1.BudgetTransfer
		if err := c.Get(ctx, bt, &got); err != nil {
			return err
		}
		patch := client.MergeFromWithOptions(got.DeepCopy(), client.MergeFromWithOptimisticLock{})
		if got.Annotations == nil {
			got.Annotations = map[string]string{}
		}
		got.Annotations[budgetv1alpha1.AnnotationAcceptReconstruction] = rec.Digest
		return c.Patch(ctx, &got, patch)
	})
	if err != nil {
		return fmt.Errorf("annotating %s: %w", rec.Transfer, err)
	}
	_, _ = fmt.Fprintf(w, "Accepted: %s annotated %s=%s. The operator counts the steps and ends %s Superseded.\n",
		rec.Transfer, budgetv1alpha1.AnnotationAcceptReconstruction, rec.Digest, rec.Transfer)
	return nil
}

func printCheckpoint(w io.Writer, ba *budgetv1alpha1.BudgetAllocation) {
	cp := ba.Status.Checkpoint
	if cp == nil {
		_, _ = fmt.Fprintf(w, "Allocation %s/%s has no checkpoint yet (granted %s).\n", ba.Namespace, ba.Name, orNone(ba.Status.Granted))
		return
	}
	from := ""
	if cp.Restored != "" {
		from = ", restored from " + map[string]string{budgetv1alpha1.CheckpointFromTrail: "the audit trail",
			budgetv1alpha1.CheckpointReconstructed: "an accepted reconstruction"}[cp.Restored]
	}
	_, _ = fmt.Fprintf(w, "Allocation %s/%s: checkpoint at sequence %d (%d transfers folded%s), granted %s.\n",
		ba.Namespace, ba.Name, cp.Sequence, cp.Transfers, from, orNone(ba.Status.Granted))
	for _, h := range cp.Holdings {
		_, _ = fmt.Fprintf(w, "  customer %s: cash %s, %d credit ledger(s), %d sub-coupon(s)\n", h.CustomerID, orNone(h.Cash), len(h.Credit), len(h.Coupons))
	}
}

func printReconstruction(w io.Writer, rec *budgetv1alpha1.LedgerReconstruction) {
	_, _ = fmt.Fprintf(w, "\n%s is stopped with LedgerBehindBSS. Reconstruction (digest %s, complete: %v):\n", rec.Transfer, orNone(rec.Digest), rec.Complete)
	if rec.Message != "" {
		_, _ = fmt.Fprintf(w, "  %s\n", rec.Message)
	}
	if len(rec.Entries) == 0 {
		return
	}
	tw := newTable(w)
	row(tw, "SEQ", "OPERATION", "AMOUNT", "CUSTOMER", "TRANS_ID", "EVIDENCE")
	for _, e := range rec.Entries {
		ev := ""
		if e.Evidence != nil {
			ev = e.Evidence.Detail
		}
		row(tw, strconv.FormatInt(e.Sequence, 10), string(e.Operation), string(e.Amount), e.CustomerID, e.TransID, orNone(ev))
	}
	_ = tw.Flush()
}

package plugin

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
)

// Reasons the plugin writes on the Approved and Denied conditions.
const (
	// ReasonApprovedByUser is the reason of an Approved condition set with
	// kubectl budget approve.
	ReasonApprovedByUser = "ApprovedByUser"
	// ReasonDeniedByUser is the reason of a Denied condition set with
	// kubectl budget deny.
	ReasonDeniedByUser = "DeniedByUser"
)

// maxDecisionMessage bounds --message; a condition message may hold 32768.
const maxDecisionMessage = 4096

// refusal is returned when a transfer cannot be approved or denied.
type refusal struct{ msg string }

func (r refusal) Error() string { return r.msg }

func approveCommand(approve bool) command {
	var message string
	verb, cond := "approve", budgetv1alpha1.ConditionApproved
	summary := "approve a BudgetTransfer waiting in AwaitingApproval"
	effect := "The operator then submits it to BSS."
	if !approve {
		verb, cond = "deny", budgetv1alpha1.ConditionDenied
		summary = "deny a BudgetTransfer waiting in AwaitingApproval"
		effect = "The operator then marks it Failed (reason Denied); nothing moves."
	}
	reason := ReasonApprovedByUser
	if !approve {
		reason = ReasonDeniedByUser
	}
	return command{
		name:    verb,
		usage:   verb + " TRANSFER [-n NAMESPACE] [--message TEXT]",
		summary: summary,
		help: fmt.Sprintf(`Set condition %s=True (reason %s) on the status of the
BudgetTransfer TRANSFER, which must be in phase AwaitingApproval: transfers
above the EnterpriseAccount's approval.autoApproveUpTo wait there.
%s

The condition's message names you (as the API server knows you) and
carries --message, e.g. a ticket number. You need the update verb on
budgettransfers/status, e.g. through the budgettransfer-approver ClusterRole.
'kubectl budget history ALLOCATION' lists the transfers and their phases.

Example:
  kubectl budget %s compute-00002 -n team-a --message "ticket FIN-42"`, cond, reason, effect, verb),
		nargs: 1,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&message, "message", "", "text recorded in the condition's message, e.g. a ticket number")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(message) > maxDecisionMessage {
				return usagef("--message is longer than %d bytes", maxDecisionMessage)
			}
			c, ns, err := e.client()
			if err != nil {
				return err
			}
			return runDecide(ctx, c, types.NamespacedName{Namespace: ns, Name: args[0]}, approve, message, e.stdout)
		},
	}
}

// whoAmI returns the user name the API server sees, or "" when it cannot
// tell (older servers, no permission).
func whoAmI(ctx context.Context, c client.Client) string {
	ssr := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, ssr); err != nil {
		return ""
	}
	return ssr.Status.UserInfo.Username
}

func runDecide(ctx context.Context, c client.Client, key types.NamespacedName, approve bool, message string, w io.Writer) error {
	cond, other, reason, verb, past := budgetv1alpha1.ConditionApproved, budgetv1alpha1.ConditionDenied, ReasonApprovedByUser, "approve", "approved"
	if !approve {
		cond, other, reason, verb, past = budgetv1alpha1.ConditionDenied, budgetv1alpha1.ConditionApproved, ReasonDeniedByUser, "deny", "denied"
	}
	text := past
	if user := whoAmI(ctx, c); user != "" {
		text += " by " + user
	}
	text += " with kubectl budget"
	if message != "" {
		text += ": " + message
	}

	label := "bt/" + key.Namespace + "/" + key.Name
	var bt budgetv1alpha1.BudgetTransfer
	already := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(ctx, key, &bt); err != nil {
			return err
		}
		if bt.Status.Phase != budgetv1alpha1.PhaseAwaitingApproval {
			why := ""
			if c := meta.FindStatusCondition(bt.Status.Conditions, budgetv1alpha1.ConditionReady); c != nil && c.Reason != "" {
				why = fmt.Sprintf(" (%s: %s)", c.Reason, c.Message)
			}
			return refusal{fmt.Sprintf("%s is in phase %s%s, not AwaitingApproval: only a transfer waiting for approval can be %s",
				label, orNone(bt.Status.Phase), why, past)}
		}
		if meta.IsStatusConditionTrue(bt.Status.Conditions, other) {
			return refusal{fmt.Sprintf("%s already has %s=True; it cannot also be %s", label, other, past)}
		}
		if meta.IsStatusConditionTrue(bt.Status.Conditions, cond) {
			already = true
			return nil
		}
		meta.SetStatusCondition(&bt.Status.Conditions, metav1.Condition{
			Type:               cond,
			Status:             metav1.ConditionTrue,
			ObservedGeneration: bt.Generation,
			Reason:             reason,
			Message:            text,
		})
		return c.Status().Update(ctx, &bt)
	})
	if err != nil {
		if errors.As(err, new(refusal)) {
			return err
		}
		return fmt.Errorf("cannot %s %s: %w", verb, label, err)
	}
	what := fmt.Sprintf("%s %s to sub-account %s", bt.Spec.Operation, orNone(bt.Spec.Amount), bt.Spec.SubAccountName)
	if bt.Spec.CouponID != "" {
		what += " (coupon " + bt.Spec.CouponID + ")"
	}
	if already {
		_, _ = fmt.Fprintf(w, "%s was already %s (%s); nothing changed\n", label, past, what)
		return nil
	}
	next := "the operator submits it next"
	if !approve {
		next = "the operator marks it Failed; nothing moves"
	}
	_, _ = fmt.Fprintf(w, "%s %s: %s; %s\n  condition %s=True, reason %s, message %q\n", label, past, what, next, cond, reason, text)
	return nil
}

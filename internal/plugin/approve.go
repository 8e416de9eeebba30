package plugin

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

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

// refusal is returned when a command refuses what it is asked: approving
// a transfer that does not wait, paying an order twice.
type refusal struct{ msg string }

func (r refusal) Error() string { return r.msg }

func approveCommand(approve bool) command {
	var message string
	verb, cond := "approve", budgetv1alpha1.ConditionApproved
	summary := "approve a BudgetTransfer or OrderPayment waiting in AwaitingApproval"
	effect := `The operator then submits the transfer to BSS, or pays the order within
the SubAccount's limits.`
	if !approve {
		verb, cond = "deny", budgetv1alpha1.ConditionDenied
		summary = "deny a BudgetTransfer or OrderPayment waiting in AwaitingApproval"
		effect = `The operator then marks it Failed (reason Denied): nothing moves, and
the order is not paid.`
	}
	reason := ReasonApprovedByUser
	if !approve {
		reason = ReasonDeniedByUser
	}
	return command{
		name:    verb,
		usage:   verb + " [bt/]TRANSFER | op/PAYMENT [-n NAMESPACE] [--message TEXT]",
		summary: summary,
		help: fmt.Sprintf(`Set condition %s=True (reason %s) on the status of a
BudgetTransfer (TRANSFER or bt/TRANSFER) or an OrderPayment (op/PAYMENT) in
phase AwaitingApproval, where transfers and order payments above the
EnterpriseAccount's approval limits (autoApproveUpTo,
autoApproveCyclePerSubAccount) wait.
%s Any other phase is refused.

The namespace is -n, the context's, or the one in TYPE/NAMESPACE/NAME as the
plugin prints it (bt/team-a/compute-00002); the long kind names
(budgettransfer/, orderpayment/) work too.

The condition's message names you (as the API server knows you) and
carries --message, e.g. a ticket number. You need the update verb on
budgettransfers/status or orderpayments/status, e.g. through the
budgettransfer-approver ClusterRole for transfers. 'kubectl budget history
ALLOCATION' lists the transfers and their phases, 'kubectl budget orders'
the pending orders and the OrderPayments that pay them.

Examples:
  kubectl budget %s compute-00002 -n team-a --message "ticket FIN-42"
  kubectl budget %s op/order-cs2612071234abcde -n team-a`, cond, reason, effect, verb, verb),
		nargs: 1,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&message, "message", "", "text recorded in the condition's message, e.g. a ticket number")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(message) > maxDecisionMessage {
				return usagef("--message is longer than %d bytes", maxDecisionMessage)
			}
			kind, argNS, name, err := parseSubject(args[0])
			if err != nil {
				return err
			}
			if argNS != "" && e.namespace != "" && argNS != e.namespace {
				return usagef("%s names namespace %s but -n says %s", args[0], argNS, e.namespace)
			}
			c, ns, err := e.client()
			if err != nil {
				return err
			}
			if argNS != "" {
				ns = argNS
			}
			return runDecide(ctx, c, newSubject(kind, types.NamespacedName{Namespace: ns, Name: name}), approve, message, e.stdout)
		},
	}
}

// Kinds approve and deny decide on, by their short names.
const (
	kindTransfer = "bt"
	kindPayment  = "op"
)

// parseSubject reads NAME (a BudgetTransfer), TYPE/NAME or
// TYPE/NAMESPACE/NAME.
func parseSubject(arg string) (kind, namespace, name string, err error) {
	parts := strings.Split(arg, "/")
	if len(parts) == 1 {
		return kindTransfer, "", arg, nil
	}
	switch strings.ToLower(strings.TrimSuffix(parts[0], "."+budgetv1alpha1.GroupVersion.Group)) {
	case "bt", "budgettransfer", "budgettransfers":
		kind = kindTransfer
	case "op", "orderpayment", "orderpayments":
		kind = kindPayment
	default:
		return "", "", "", usagef("%q: approve and deny take a BudgetTransfer (NAME, bt/NAME) or an OrderPayment (op/NAME)", arg)
	}
	switch {
	case len(parts) == 2 && parts[1] != "":
		return kind, "", parts[1], nil
	case len(parts) == 3 && parts[1] != "" && parts[2] != "":
		return kind, parts[1], parts[2], nil
	}
	return "", "", "", usagef("%q: expected TYPE/NAME or TYPE/NAMESPACE/NAME", arg)
}

// subject is an object approve and deny decide on.
type subject struct {
	key   types.NamespacedName
	label string // bt/NS/NAME or op/NS/NAME
	noun  string // transfer or payment
	obj   client.Object
	// phase, conditions and what read obj after each Get.
	phase      func() string
	awaiting   func() bool
	conditions func() *[]metav1.Condition
	what       func() string
	// next says what the operator does after an approval or a denial.
	next map[bool]string
}

func newSubject(kind string, key types.NamespacedName) *subject {
	s := &subject{key: key, label: kind + "/" + key.Namespace + "/" + key.Name}
	if kind == kindPayment {
		op := &budgetv1alpha1.OrderPayment{}
		s.noun, s.obj = "payment", op
		s.phase = func() string { return string(op.Status.Phase) }
		s.awaiting = func() bool { return op.Status.Phase == budgetv1alpha1.PaymentAwaitingApproval }
		s.conditions = func() *[]metav1.Condition { return &op.Status.Conditions }
		s.what = func() string {
			return fmt.Sprintf("payment of order %s of sub-account %s, %s (maxAmount %s)", op.Spec.OrderID, op.Spec.SubAccountName, orNone(op.Status.Amount), orNone(op.Spec.MaxAmount))
		}
		s.next = map[bool]string{true: "the operator pays it next, within the SubAccount's limits", false: "the operator marks it Failed; the order is not paid"}
		return s
	}
	bt := &budgetv1alpha1.BudgetTransfer{}
	s.noun, s.obj = "transfer", bt
	s.phase = func() string { return string(bt.Status.Phase) }
	s.awaiting = func() bool { return bt.Status.Phase == budgetv1alpha1.PhaseAwaitingApproval }
	s.conditions = func() *[]metav1.Condition { return &bt.Status.Conditions }
	s.what = func() string {
		w := fmt.Sprintf("%s %s to sub-account %s", bt.Spec.Operation, orNone(bt.Spec.Amount), bt.Spec.SubAccountName)
		if bt.Spec.CouponID != "" {
			w += " (coupon " + bt.Spec.CouponID + ")"
		}
		return w
	}
	s.next = map[bool]string{true: "the operator submits it next", false: "the operator marks it Failed; nothing moves"}
	return s
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

func runDecide(ctx context.Context, c client.Client, s *subject, approve bool, message string, w io.Writer) error {
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

	label := s.label
	already := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(ctx, s.key, s.obj); err != nil {
			return err
		}
		conds := s.conditions()
		if !s.awaiting() {
			why := ""
			if c := meta.FindStatusCondition(*conds, budgetv1alpha1.ConditionReady); c != nil && c.Reason != "" {
				why = fmt.Sprintf(" (%s: %s)", c.Reason, c.Message)
			}
			return refusal{fmt.Sprintf("%s is in phase %s%s, not AwaitingApproval: only a %s waiting for approval can be %s",
				label, orNone(s.phase()), why, s.noun, past)}
		}
		if meta.IsStatusConditionTrue(*conds, other) {
			return refusal{fmt.Sprintf("%s already has %s=True; it cannot also be %s", label, other, past)}
		}
		if meta.IsStatusConditionTrue(*conds, cond) {
			already = true
			return nil
		}
		meta.SetStatusCondition(conds, metav1.Condition{
			Type:               cond,
			Status:             metav1.ConditionTrue,
			ObservedGeneration: s.obj.GetGeneration(),
			Reason:             reason,
			Message:            text,
		})
		return c.Status().Update(ctx, s.obj)
	})
	if err != nil {
		if errors.As(err, new(refusal)) {
			return err
		}
		return fmt.Errorf("cannot %s %s: %w", verb, label, err)
	}
	what := s.what()
	if already {
		_, _ = fmt.Fprintf(w, "%s was already %s (%s); nothing changed\n", label, past, what)
		return nil
	}
	_, _ = fmt.Fprintf(w, "%s %s: %s; %s\n  condition %s=True, reason %s, message %q\n", label, past, what, s.next[approve], cond, reason, text)
	return nil
}

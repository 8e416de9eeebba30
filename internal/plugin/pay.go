package plugin

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/approval"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/payment"
)

// payHelp is the long description of pay.
const payHelp = `Create an OrderPayment that pays ORDER, an order of the SubAccount NAME
pending payment on its behalf, from its master's balance; first show what
the operator will do with it:

  order       the order as the operator last read it from BSS (the
              SubAccount's status.orderPayments): amount, type, service, age
  maxAmount   the most the payment may charge (default: the order's amount);
              a payment that would charge more fails (AboveMaxAmount)
  discount,   Auto (default): chosen when paying, from the offers BSS makes
  coupons     for the order, which the plugin cannot see; None; or the ids
              given (--coupons: up to 3)
  limits      the SubAccount's fundingLimit and monthlyBudget check the
              operator runs before paying, with its message: the payment
              waits (FundingLimitExceeded, MonthlyBudgetExceeded) while it
              does not fit
  approval    whether the payment waits for 'kubectl budget approve
              op/NAME', under the EnterpriseAccount's approval limits, which
              count order payments with the transfers to the sub-account

The checks use the order's amount; a discount chosen when paying can only
lower what the payment charges.

The OrderPayment is created in -n NAMESPACE (or the context's), which the
SubAccount must admit in spec.allowedNamespaces, under --name (default
order-<order id in lower case>, the name the Auto policy uses). pay refuses
an order that already has an OrderPayment that is not Failed or Cancelled,
and an order the operator has not seen pending for the SubAccount (it pays
only orders BSS lists pending on the sub-account's behalf) unless
--max-amount and --force are given. --dry-run shows the plan and validates
the OrderPayment with a server-side dry run; nothing is stored.

Examples:
  kubectl budget pay CS2612071234ABCDE --subaccount team-a -n team-a --dry-run
  kubectl budget pay CS2612071234ABCDE --subaccount team-a -n team-a --max-amount 130 --coupons none`

// payOptions are pay's flags.
type payOptions struct {
	order, subAccount, name, maxAmount, coupons, discount string
	cancelOnDelete, dryRun, force                         bool
}

func payCommand() command {
	var o payOptions
	return command{
		name:    "pay",
		usage:   "pay ORDER --subaccount NAME [--max-amount YUAN] [--coupons auto|none|ID,ID,ID] [--discount auto|none|ID] [--cancel-on-delete] [-n NAMESPACE] [--name NAME] [--dry-run] [--force]",
		summary: "preview and create an OrderPayment that pays a sub-account's pending order",
		help:    payHelp,
		nargs:   1,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&o.subAccount, "subaccount", "", "the SubAccount whose order is paid (required)")
			fs.StringVar(&o.maxAmount, "max-amount", "", "the most the payment may charge, in yuan (default: the order's amount)")
			fs.StringVar(&o.coupons, "coupons", "auto", "the master's coupons that pay part of it: auto, none, or up to 3 coupon ids separated by commas")
			fs.StringVar(&o.discount, "discount", "auto", "the discount: auto, none, or a discount id")
			fs.BoolVar(&o.cancelOnDelete, "cancel-on-delete", false, "cancel the order in BSS when the OrderPayment is deleted before the order is paid")
			fs.StringVar(&o.name, "name", "", "the OrderPayment's name (default order-<order id in lower case>)")
			fs.BoolVar(&o.dryRun, "dry-run", false, "show the plan and validate the OrderPayment; create nothing")
			fs.BoolVar(&o.force, "force", false, "with --max-amount: pay an order the operator has not seen pending")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			o.order = args[0]
			if o.subAccount == "" {
				return usagef("--subaccount NAME is required")
			}
			if o.force && o.maxAmount == "" {
				return usagef("--force needs --max-amount: the bound of an order the operator has not seen")
			}
			spec, err := o.spec()
			if err != nil {
				return err
			}
			c, ns, err := e.client()
			if err != nil {
				return err
			}
			return runPay(ctx, c, ns, o, spec, time.Now(), e.stdout)
		},
	}
}

// spec is the OrderPayment's spec the flags ask for, without the order's
// amount (MaxAmount is empty when --max-amount is not given).
func (o payOptions) spec() (budgetv1alpha1.OrderPaymentSpec, error) {
	spec := budgetv1alpha1.OrderPaymentSpec{SubAccountName: o.subAccount, OrderID: o.order, CancelOrderOnDelete: o.cancelOnDelete}
	if o.maxAmount != "" {
		a, err := money.Parse(o.maxAmount)
		if err != nil {
			return spec, usagef("--max-amount: %v", err)
		}
		if !a.IsPositive() {
			return spec, usagef("--max-amount must be greater than 0")
		}
		spec.MaxAmount = budgetv1alpha1.Money(a.String())
	}
	switch strings.ToLower(o.coupons) {
	case "auto":
		spec.Coupons.Mode = budgetv1alpha1.SelectAuto
	case "none":
		spec.Coupons.Mode = budgetv1alpha1.SelectNone
	default:
		spec.Coupons.Mode = budgetv1alpha1.SelectExplicit
		for id := range strings.SplitSeq(o.coupons, ",") {
			id = strings.TrimSpace(id)
			if id == "" {
				return spec, usagef("--coupons %q: an empty coupon id", o.coupons)
			}
			spec.Coupons.IDs = append(spec.Coupons.IDs, id)
		}
		if len(spec.Coupons.IDs) > 3 {
			return spec, usagef("--coupons: at most 3 coupons pay one order, got %d", len(spec.Coupons.IDs))
		}
	}
	switch strings.ToLower(o.discount) {
	case "auto":
		spec.Discount.Mode = budgetv1alpha1.SelectAuto
	case "none":
		spec.Discount.Mode = budgetv1alpha1.SelectNone
	case "":
		return spec, usagef("--discount: give auto, none or a discount id")
	default:
		spec.Discount = budgetv1alpha1.PaymentDiscount{Mode: budgetv1alpha1.SelectExplicit, ID: o.discount}
	}
	return spec, nil
}

// findOrder returns the SubAccount's pending order id as the operator
// listed it.
func findOrder(sa *budgetv1alpha1.SubAccount, id string) *budgetv1alpha1.PendingOrder {
	if rep := sa.Status.OrderPayments; rep != nil {
		for i := range rep.Orders {
			if strings.EqualFold(rep.Orders[i].ID, id) {
				return &rep.Orders[i]
			}
		}
	}
	return nil
}

func runPay(ctx context.Context, c client.Client, ns string, o payOptions, spec budgetv1alpha1.OrderPaymentSpec, now time.Time, w io.Writer) error {
	var sa budgetv1alpha1.SubAccount
	if err := c.Get(ctx, types.NamespacedName{Name: o.subAccount}, &sa); err != nil {
		return fmt.Errorf("reading SubAccount %s: %w", o.subAccount, err)
	}
	order := findOrder(&sa, o.order)
	if order == nil && !o.force {
		return refusal{notSeen(&sa, o.order, now)}
	}
	if order != nil {
		spec.OrderID = order.ID
	}
	// amount is what the checks are run for: the order's amount, or the
	// bound of an order the operator has not seen.
	var amount money.Amount
	switch {
	case order != nil:
		a, err := money.Parse(string(order.Amount))
		if err != nil && spec.MaxAmount == "" {
			return refusal{fmt.Sprintf("order %s's amount %q in SubAccount %s's status cannot be read: give --max-amount", order.ID, order.Amount, sa.Name)}
		}
		amount = a
		if err != nil {
			amount, _ = money.Parse(string(spec.MaxAmount))
		}
		if spec.MaxAmount == "" {
			spec.MaxAmount = budgetv1alpha1.Money(a.String())
		}
	default:
		amount, _ = money.Parse(string(spec.MaxAmount))
	}
	name := o.name
	if name == "" {
		name = payment.PaymentName(spec.OrderID)
	}
	if err := refuseDuplicate(ctx, c, &sa, order, spec.OrderID, types.NamespacedName{Namespace: ns, Name: name}); err != nil {
		return err
	}
	op := &budgetv1alpha1.OrderPayment{
		TypeMeta:   metav1.TypeMeta{APIVersion: budgetv1alpha1.GroupVersion.String(), Kind: "OrderPayment"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       spec,
	}
	label := "op/" + ns + "/" + name

	var ea *budgetv1alpha1.EnterpriseAccount
	var got budgetv1alpha1.EnterpriseAccount
	eaErr := c.Get(ctx, types.NamespacedName{Name: sa.Spec.EnterpriseAccountRef.Name}, &got)
	if eaErr == nil {
		ea = &got
	}
	f := readFigures(ctx, c, &sa, now)
	lines := payPlan(ctx, c, &sa, ea, eaErr, f, order, op, amount, now)

	if o.dryRun {
		if err := c.Create(ctx, op.DeepCopy(), client.DryRunAll, client.FieldValidation("Strict")); err != nil {
			_, _ = fmt.Fprintf(w, "%s: REJECTED\n%s\n", label, indentLines(describeError(err), "  "))
			return fmt.Errorf("the API server rejected %s", label)
		}
		_, _ = fmt.Fprintf(w, "%s: would be created (dry run: the API server accepted it; nothing is stored)\n", label)
		printLines(w, lines)
		return nil
	}
	_, _ = fmt.Fprintf(w, "%s: creating\n", label)
	printLines(w, lines)
	if err := c.Create(ctx, op, client.FieldValidation("Strict")); err != nil {
		return fmt.Errorf("creating %s: %w", label, err)
	}
	_, _ = fmt.Fprintf(w, "%s created. Follow it with 'kubectl get orderpayment %s -n %s -w' or 'kubectl budget orders %s'.\n", label, name, ns, sa.Name)
	return nil
}

func printLines(w io.Writer, lines []string) {
	for _, l := range lines {
		_, _ = fmt.Fprintln(w, "  "+l)
	}
}

// notSeen says that the operator has not listed the order pending.
func notSeen(sa *budgetv1alpha1.SubAccount, id string, now time.Time) string {
	read := "has not read its orders yet"
	if t := sa.Status.LastBillingSyncTime; t != nil {
		read = fmt.Sprintf("read its orders %s ago", duration.HumanDuration(now.Sub(t.Time)))
	}
	shown := ""
	if rep := sa.Status.OrderPayments; rep != nil && int(rep.Pending) > len(rep.Orders) {
		shown = fmt.Sprintf(" (its status shows %d of %d pending orders)", len(rep.Orders), rep.Pending)
	}
	return fmt.Sprintf("the operator has not seen order %s pending payment on SubAccount %s's behalf: it %s%s. "+
		"It pays only orders BSS lists pending for the sub-account; check the order id ('kubectl budget orders %s'), wait for the next billing sync, "+
		"or give --max-amount and --force to create the OrderPayment anyway", id, sa.Name, read, shown, sa.Name)
}

// refuseDuplicate refuses an order that has an OrderPayment that is not
// Failed or Cancelled (the OrderPayment controller's duplicate rule: one of
// the SubAccount's payments whose spec.orderID or status.payOrderID is the
// order), and a name that is taken.
func refuseDuplicate(ctx context.Context, c client.Client, sa *budgetv1alpha1.SubAccount, order *budgetv1alpha1.PendingOrder, orderID string, key types.NamespacedName) error {
	payments, err := payment.ListOf(ctx, c, sa.Name)
	if apierrors.IsForbidden(err) {
		// Only the namespace the payment goes to can be checked.
		var list budgetv1alpha1.OrderPaymentList
		err = c.List(ctx, &list, client.InNamespace(key.Namespace),
			client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector(payment.FieldSubAccount, sa.Name)})
		payments = list.Items
	}
	if err != nil {
		return fmt.Errorf("looking for OrderPayments of order %s: %w", orderID, err)
	}
	var dups []string
	for i := range payments {
		op := &payments[i]
		if payment.Pays(op, orderID) && payment.Active(op) {
			dups = append(dups, fmt.Sprintf("op/%s/%s (SubAccount %s, phase %s)", op.Namespace, op.Name, op.Spec.SubAccountName, phaseOf(op)))
		}
	}
	if order != nil && order.Payment != "" && len(dups) == 0 {
		// The status names a payment the list did not show: one in a
		// namespace the user may not read.
		pns, pname, _ := strings.Cut(order.Payment, "/")
		var op budgetv1alpha1.OrderPayment
		switch err := c.Get(ctx, types.NamespacedName{Namespace: pns, Name: pname}, &op); {
		case err == nil:
			if payment.Active(&op) {
				dups = append(dups, fmt.Sprintf("op/%s (phase %s)", order.Payment, phaseOf(&op)))
			}
		case apierrors.IsNotFound(err):
		default:
			dups = append(dups, fmt.Sprintf("op/%s (per SubAccount %s's status; it cannot be read: %s)", order.Payment, sa.Name, reasonOf(err)))
		}
	}
	if len(dups) > 0 {
		sort.Strings(dups)
		return refusal{fmt.Sprintf("order %s already has an OrderPayment that is not Failed or Cancelled: %s; nothing is created", orderID, strings.Join(dups, ", "))}
	}
	var existing budgetv1alpha1.OrderPayment
	switch err := c.Get(ctx, key, &existing); {
	case err == nil:
		return refusal{fmt.Sprintf("OrderPayment %s/%s exists already (order %s, phase %s): give another --name", key.Namespace, key.Name, existing.Spec.OrderID, phaseOf(&existing))}
	case !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err):
		return fmt.Errorf("reading OrderPayment %s/%s: %w", key.Namespace, key.Name, err)
	}
	return nil
}

// payPlan is what the operator will do with op: the order, the bound, the
// coupons and discount, the limit check and the approval verdict, each as
// the operator decides it (payment.CheckLimits, approval.Decide).
func payPlan(ctx context.Context, c client.Reader, sa *budgetv1alpha1.SubAccount, ea *budgetv1alpha1.EnterpriseAccount, eaErr error,
	f *figures, order *budgetv1alpha1.PendingOrder, op *budgetv1alpha1.OrderPayment, amount money.Amount, now time.Time) []string {
	var out []string
	spec := op.Spec
	bound, _ := money.Parse(string(spec.MaxAmount))
	if order != nil {
		age := ""
		if t, err := time.Parse(time.RFC3339, order.CreateTime); err == nil {
			age = fmt.Sprintf(", created %s (%s ago)", order.CreateTime, duration.HumanDuration(now.Sub(t)))
		}
		read := ""
		if t := sa.Status.LastBillingSyncTime; t != nil {
			read = fmt.Sprintf(", as the operator read it %s ago", duration.HumanDuration(now.Sub(t.Time)))
		}
		out = append(out, fmt.Sprintf("order %s of SubAccount %s (customer %s): %s, type %s, service %s%s%s",
			order.ID, sa.Name, orNone(sa.Status.CustomerID), orNone(order.Amount), orNone(order.Type), orNone(order.Service), age, read))
		switch {
		case order.Fits && order.Payment == "" && sa.Spec.OrderPayment != nil:
			pol := sa.Spec.OrderPayment
			out = append(out, fmt.Sprintf("note: the SubAccount's Auto policy pays this order itself (OrderPayment %s/%s); only one OrderPayment pays an order: a newer one pays nothing (DuplicatePayment)",
				pol.Namespace, payment.PaymentName(order.ID)))
		case !order.Fits && order.Reason != "":
			out = append(out, "auto-pay: no ("+order.Reason+")")
		}
		if order.Amount != "" && amount.Cmp(bound) > 0 {
			out = append(out, fmt.Sprintf("maxAmount %s is below the order's amount %s: the payment fails without paying (AboveMaxAmount) unless the discount chosen when paying brings it to %s or less",
				bound, amount, bound))
		} else {
			why := "the order's amount"
			if bound.Cmp(amount) > 0 {
				why = fmt.Sprintf("above the order's amount %s", amount)
			}
			out = append(out, fmt.Sprintf("maxAmount %s (%s): a payment that would charge more fails without paying (AboveMaxAmount)", bound, why))
		}
	} else {
		out = append(out,
			fmt.Sprintf("order %s: not seen pending by the operator (--force); its amount is not known here", spec.OrderID),
			fmt.Sprintf("maxAmount %s: a payment that would charge more fails without paying (AboveMaxAmount); the checks below are for %s", bound, bound))
	}
	out = append(out, "discount: "+describeDiscount(spec.Discount), "coupons: "+describeCoupons(spec.Coupons))
	if spec.CancelOrderOnDelete {
		out = append(out, "cancelOrderOnDelete: deleting the OrderPayment before the order is paid cancels the order in BSS")
	}

	for _, n := range f.notes {
		out = append(out, "note: "+n)
	}
	funding, budget, _, _, _, _ := f.limits()
	if b := f.check(amount); b != nil {
		out = append(out, fmt.Sprintf("limits: waits (%s): %s", b.Reason, b.Message))
	} else {
		out = append(out, fmt.Sprintf("limits: fits (%s; %s)", funding, budget))
	}

	v, unknown := payApproval(ctx, c, sa, ea, eaErr, f, amount, now)
	label := "op/" + op.Name + " -n " + op.Namespace
	switch {
	case v != nil && v.Needed:
		out = append(out, fmt.Sprintf("approval: needed (%s): %s (kubectl budget approve %s)", v.Limit, v.Message, label))
	case v != nil:
		out = append(out, "approval: not needed: "+v.Message)
	default:
		out = append(out, "approval: may be needed: "+unknown)
	}

	if admitted, err := payment.Admits(ctx, c, sa, op.Namespace); err != nil {
		out = append(out, fmt.Sprintf("note: namespace %s's labels cannot be read (%s): whether SubAccount %s's spec.allowedNamespaces admits it is not known", op.Namespace, reasonOf(err), sa.Name))
	} else if !admitted {
		out = append(out, fmt.Sprintf("warning: SubAccount %s admits neither namespace %s in spec.allowedNamespaces nor as its orderPayment policy's namespace: the payment waits and pays nothing (NamespaceNotAllowed)", sa.Name, op.Namespace))
	}
	if !common.IsTrue(sa.Status.Conditions, budgetv1alpha1.ConditionReady) || sa.Status.CustomerID == "" {
		_, reason := readyOf(sa.Status.Conditions)
		out = append(out, fmt.Sprintf("warning: SubAccount %s is not Ready (%s): the payment waits until it is (SubAccountNotReady)", sa.Name, reason))
	}
	return out
}

// payApproval is the approval verdict for a payment of amount created now,
// as the OrderPayment controller decides it: approval.Decide with what
// moved to the sub-account without approval in the cycle
// (approval.UsedBy over its transfers and OrderPayments). nil with why
// when it cannot be told.
func payApproval(ctx context.Context, c client.Reader, sa *budgetv1alpha1.SubAccount, ea *budgetv1alpha1.EnterpriseAccount, eaErr error,
	f *figures, amount money.Amount, now time.Time) (*approval.Verdict, string) {
	if ea == nil {
		return nil, fmt.Sprintf("EnterpriseAccount %s cannot be read (%s): its approval limits are not known", sa.Spec.EnterpriseAccountRef.Name, reasonOf(eaErr))
	}
	settings, err := approval.SettingsOf(ea.Spec.Approval)
	if err != nil {
		v := approval.Unreadable(fmt.Sprintf("EnterpriseAccount %q: %v", ea.Name, err))
		return &v, ""
	}
	cycle := billcycle.Of(now)
	v := approval.Decide(settings, approval.PayOrder, amount, money.Zero, sa.Name, cycle)
	if v.Needed || settings.PerCycle == nil {
		return &v, ""
	}
	var list budgetv1alpha1.BudgetTransferList
	err = c.List(ctx, &list, client.MatchingLabels{budgetv1alpha1.LabelSubAccount: common.LabelValue(sa.Name)})
	if err != nil || !f.paymentsRead {
		return nil, fmt.Sprintf("the auto-approval budget autoApproveCyclePerSubAccount %s of sub-account %s could not be checked (listing its transfers and OrderPayments in all namespaces is not allowed)",
			settings.PerCycle, sa.Name)
	}
	used := approval.UsedBy(list.Items, f.payments, sa.Status.CustomerID, approval.Movement{Created: now, Operation: approval.PayOrder}, cycle, billcycle.Of)
	v = approval.Decide(settings, approval.PayOrder, amount, used, sa.Name, cycle)
	return &v, ""
}

func describeDiscount(d budgetv1alpha1.PaymentDiscount) string {
	switch d.Mode {
	case budgetv1alpha1.SelectNone:
		return "None: no discount (an order that carries a price adjustment, discount type 609, cannot be paid without it: the payment fails, CouponUnusable)"
	case budgetv1alpha1.SelectExplicit:
		return "Explicit " + d.ID + " (it must be offered for the order, and be its price adjustment if it has one, or the payment fails, CouponUnusable)"
	}
	return "Auto, chosen when paying from the offers BSS makes for the order, not visible here: the order's price adjustment if it has one, else the discount that takes the most off"
}

func describeCoupons(cp budgetv1alpha1.PaymentCoupons) string {
	switch cp.Mode {
	case budgetv1alpha1.SelectNone:
		return "None: the master's cash pays it all"
	case budgetv1alpha1.SelectExplicit:
		return "Explicit " + strings.Join(cp.IDs, ",") + " (each must be usable for the order, or the payment fails, CouponUnusable)"
	}
	return "Auto, chosen when paying from the master's coupons BSS offers for the order, not visible here: the usable ones that take the most off, at most 3"
}

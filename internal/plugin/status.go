package plugin

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

const unknownEnterprise = "?"

func statusCommand() command {
	var all bool
	return command{
		name:    "status",
		usage:   "status [-n NAMESPACE | -A]",
		summary: "show enterprise accounts, sub-accounts and allocations as a tree with money and readiness",
		help: `Show the funding tree: enterprise accounts (ea/), their sub-accounts
(subacct/) and the BudgetAllocations (ba/NAMESPACE/NAME) funding them, with

  DESIRED  the net amount the allocation asks for (status.desired)
  GRANTED  the confirmed net grant (status.granted)
  PAID     what the master paid for the sub-account's orders through
           OrderPayments (status.paidOrders); with GRANTED it counts
           against the sub-account's fundingLimit
  PENDING  the signed amount in flight (status.pending)
  SPEND    the sub-account's consumption in the current bill cycle
  BUDGET   the sub-account's spec.monthlyBudget.amount, USED its percentage
  ORDERS   the sub-account's orders pending payment on its behalf
           (status.orderPayments.pending; 'kubectl budget orders' lists them)
  READY    the Ready condition and its reason

Amounts are printed as stored; sub-account, enterprise and TOTAL rows sum the
rows below them exactly (integer fen, no rounding). With -n (the default is
the context's namespace) only the sub-accounts funded from that namespace are
shown; with -A every enterprise account and sub-account is.

Examples:
  kubectl budget status -n team-a
  kubectl budget status -A`,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&all, "all-namespaces", false, "show allocations of every namespace and every sub-account")
			fs.BoolVar(&all, "A", false, "short for --all-namespaces")
		},
		run: func(ctx context.Context, e *env, _ []string) error {
			if all && e.namespace != "" {
				return usagef("--namespace and --all-namespaces cannot be used together")
			}
			c, ns, err := e.client()
			if err != nil {
				return err
			}
			if all {
				ns = ""
			}
			return runStatus(ctx, c, ns, e.stdout, e.stderr)
		},
	}
}

type saNode struct {
	name string
	sa   *budgetv1alpha1.SubAccount // nil when unknown (missing or not readable)
	// missing is true when SubAccounts were listed and this one is not there.
	missing bool
	allocs  []*budgetv1alpha1.BudgetAllocation
}

type eaNode struct {
	name string
	ea   *budgetv1alpha1.EnterpriseAccount // nil when unknown
	subs []*saNode
}

// sums are exact totals of stored amounts.
type sums struct {
	desired, granted, pending, spend, paid money.Amount
	spendKnown                             bool // some sub-account reported its spend
	// paidKnown: some sub-account could be read; orders counts their
	// pending orders.
	paidKnown bool
	orders    int
}

func (s *sums) add(o sums) {
	s.desired = s.desired.Add(o.desired)
	s.granted = s.granted.Add(o.granted)
	s.pending = s.pending.Add(o.pending)
	s.spend = s.spend.Add(o.spend)
	s.spendKnown = s.spendKnown || o.spendKnown
	s.paid = s.paid.Add(o.paid)
	s.paidKnown = s.paidKnown || o.paidKnown
	s.orders += o.orders
}

// paidString prints the paid total, "-" when no sub-account was read.
func (s sums) paidString() string {
	if !s.paidKnown {
		return none
	}
	return s.paid.String()
}

// ordersString prints the pending orders, "-" when no sub-account was read.
func (s sums) ordersString() string {
	if !s.paidKnown {
		return none
	}
	return strconv.Itoa(s.orders)
}

// spendString prints the spend total, "-" when no sub-account reported one.
func (s sums) spendString() string {
	if !s.spendKnown {
		return none
	}
	return s.spend.String()
}

func (n *saNode) sums() sums {
	var s sums
	for _, ba := range n.allocs {
		d, _ := amountOf(string(ba.Status.Desired))
		g, _ := amountOf(string(ba.Status.Granted))
		p, _ := amountOf(ba.Status.Pending)
		s.add(sums{desired: d, granted: g, pending: p})
	}
	if n.sa != nil && n.sa.Status.CurrentCycle != nil {
		s.spend, s.spendKnown = amountOf(string(n.sa.Status.CurrentCycle.Consumption))
	}
	if n.sa != nil {
		s.paid, _ = amountOf(string(n.sa.Status.PaidOrders))
		s.paidKnown = true
		if rep := n.sa.Status.OrderPayments; rep != nil {
			s.orders = int(rep.Pending)
		}
	}
	return s
}

// runStatus prints the tree; namespace "" means every namespace.
func runStatus(ctx context.Context, c client.Client, namespace string, stdout, stderr io.Writer) error {
	var bas budgetv1alpha1.BudgetAllocationList
	var opts []client.ListOption
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := c.List(ctx, &bas, opts...); err != nil {
		return fmt.Errorf("listing BudgetAllocations: %w", err)
	}

	subs := map[string]*saNode{}
	var saList budgetv1alpha1.SubAccountList
	saReadable := true
	if err := c.List(ctx, &saList); err != nil {
		if !apierrors.IsForbidden(err) {
			return fmt.Errorf("listing SubAccounts: %w", err)
		}
		saReadable = false
		_, _ = fmt.Fprintln(stderr, "warning: you may not list SubAccounts; spend, budget and enterprise accounts are not shown")
	}
	for i := range saList.Items {
		sa := &saList.Items[i]
		subs[sa.Name] = &saNode{name: sa.Name, sa: sa}
	}
	// With -n only the sub-accounts funded from the namespace are shown.
	shown := map[string]bool{}
	if namespace == "" {
		for name := range subs {
			shown[name] = true
		}
	}
	for i := range bas.Items {
		ba := &bas.Items[i]
		ref := ba.Spec.SubAccountRef.Name
		n, ok := subs[ref]
		if !ok {
			n = &saNode{name: ref, missing: saReadable}
			subs[ref] = n
		}
		n.allocs = append(n.allocs, ba)
		shown[ref] = true
	}
	if len(shown) == 0 {
		if namespace != "" {
			_, _ = fmt.Fprintf(stderr, "No BudgetAllocations found in namespace %s.\n", namespace)
		} else {
			_, _ = fmt.Fprintln(stderr, "No SubAccounts or BudgetAllocations found.")
		}
		return nil
	}

	eas := map[string]*eaNode{}
	var eaList budgetv1alpha1.EnterpriseAccountList
	if saReadable {
		if err := c.List(ctx, &eaList); err != nil {
			if !apierrors.IsForbidden(err) {
				return fmt.Errorf("listing EnterpriseAccounts: %w", err)
			}
			_, _ = fmt.Fprintln(stderr, "warning: you may not list EnterpriseAccounts; their readiness is not shown")
		}
	}
	for i := range eaList.Items {
		ea := &eaList.Items[i]
		if namespace == "" {
			eas[ea.Name] = &eaNode{name: ea.Name, ea: ea}
		}
	}
	for name := range shown {
		n := subs[name]
		eaName := unknownEnterprise
		if n.sa != nil {
			eaName = n.sa.Spec.EnterpriseAccountRef.Name
		}
		en, ok := eas[eaName]
		if !ok {
			en = &eaNode{name: eaName}
			for i := range eaList.Items {
				if eaList.Items[i].Name == eaName {
					en.ea = &eaList.Items[i]
				}
			}
			eas[eaName] = en
		}
		en.subs = append(en.subs, n)
	}

	printTree(stdout, eas)
	return nil
}

func printTree(w io.Writer, eas map[string]*eaNode) {
	names := make([]string, 0, len(eas))
	for name := range eas {
		names = append(names, name)
	}
	// Sorted by name, the unknown enterprise last.
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == unknownEnterprise) != (names[j] == unknownEnterprise) {
			return names[j] == unknownEnterprise
		}
		return names[i] < names[j]
	})

	tw := newTable(w)
	row(tw, "NAME", "DESIRED", "GRANTED", "PAID", "PENDING", "SPEND", "BUDGET", "USED", "ORDERS", "READY", "REASON")
	var total sums
	for _, name := range names {
		en := eas[name]
		sort.Slice(en.subs, func(i, j int) bool { return en.subs[i].name < en.subs[j].name })
		var es sums
		for _, n := range en.subs {
			es.add(n.sums())
		}
		total.add(es)
		label, ready, reason := "ea/"+en.name, none, none
		switch {
		case en.name == unknownEnterprise:
			label = "ea/? (unknown)"
		case en.ea == nil:
			ready, reason = none, "NotFound"
		default:
			ready, reason = readyOf(en.ea.Status.Conditions)
		}
		row(tw, label, es.desired.String(), es.granted.String(), es.paidString(), es.pending.String(), es.spendString(), none, none, es.ordersString(), ready, reason)

		for i, n := range en.subs {
			last := i == len(en.subs)-1
			branch, indent := "├─ ", "│  "
			if last {
				branch, indent = "└─ ", "   "
			}
			printSubAccount(tw, n, branch, indent)
		}
	}
	row(tw, "TOTAL", total.desired.String(), total.granted.String(), total.paidString(), total.pending.String(), total.spendString(), none, none, total.ordersString())
	_ = tw.Flush()
}

func printSubAccount(tw io.Writer, n *saNode, branch, indent string) {
	s := n.sums()
	desired, granted, pending := none, none, none
	if len(n.allocs) > 0 {
		desired, granted, pending = s.desired.String(), s.granted.String(), s.pending.String()
	}
	spend, budget, used, ready, reason, paid, orders := none, none, none, none, none, none, none
	if n.missing {
		reason = "NotFound"
	}
	if sa := n.sa; sa != nil {
		if cc := sa.Status.CurrentCycle; cc != nil {
			spend = orNone(cc.Consumption)
			if cc.BudgetPercent != nil {
				used = fmt.Sprintf("%d%%", *cc.BudgetPercent)
			}
		}
		if sa.Spec.MonthlyBudget != nil {
			budget = orNone(sa.Spec.MonthlyBudget.Amount)
		}
		paid, orders = s.paidString(), s.ordersString()
		ready, reason = readyOf(sa.Status.Conditions)
		if meta.IsStatusConditionTrue(sa.Status.Conditions, budgetv1alpha1.ConditionBudgetExceeded) {
			reason += ",BudgetExceeded"
		}
	}
	row(tw, branch+"subacct/"+n.name, desired, granted, paid, pending, spend, budget, used, orders, ready, reason)

	sort.Slice(n.allocs, func(i, j int) bool {
		a, b := n.allocs[i], n.allocs[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	for i, ba := range n.allocs {
		b := "├─ "
		if i == len(n.allocs)-1 {
			b = "└─ "
		}
		label := indent + b + "ba/" + ba.Namespace + "/" + ba.Name
		if mp := ba.Spec.ManagementPolicy; mp != "" && mp != budgetv1alpha1.ManagementPolicyManaged {
			label += " (" + string(mp) + ")"
		}
		ready, reason := readyOf(ba.Status.Conditions)
		row(tw, label, orNone(ba.Status.Desired), orNone(ba.Status.Granted), none, orNone(ba.Status.Pending), none, none, none, none, ready, reason)
	}
}

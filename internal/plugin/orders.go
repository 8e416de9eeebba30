package plugin

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/payment"
)

// ordersHelp is the long description of orders.
const ordersHelp = `List the orders each SubAccount (or the one named) has pending payment on
its behalf, as the operator last read them from BSS (status.orderPayments,
at most 50 per sub-account, oldest first), with what happens to each:

  paid by NS/NAME (PHASE)  an OrderPayment pays it (its phase when you may
                           read it)
  auto-pay                 the SubAccount's Auto policy pays it: the
                           operator creates the OrderPayment (with the limit
                           that holds it back now, if one does)
  manual: REASON           nobody pays it until someone runs
                           'kubectl budget pay ORDER --subaccount NAME'

Above the orders: the SubAccount's orderPayment mode, its limits with what
is left under them (fundingLimit after what its allocations granted and
what OrderPayments paid; monthlyBudget after the bill cycle's consumption
and what OrderPayments paid in it), what OrderPayments paid, and when the
operator last read the orders (marked old past twice the
EnterpriseAccount's billingSyncInterval). Figures you may not list (the
allocations or OrderPayments of every namespace) are taken from the
SubAccount's status, and a note says so.

-o json prints one JSON array with an object per SubAccount.

Examples:
  kubectl budget orders
  kubectl budget orders team-a -o json`

func ordersCommand() command {
	return subAccountReport("orders", "list sub-accounts' orders pending payment on their behalf and what auto-pay does about each",
		ordersHelp, runOrders)
}

// reportedSubAccounts reads the SubAccount named, or lists them all by name.
// With none, it says so (an empty JSON array with -o json) and returns
// none.
func reportedSubAccounts(ctx context.Context, c client.Client, name, output string, stdout, stderr io.Writer) ([]budgetv1alpha1.SubAccount, error) {
	var subs []budgetv1alpha1.SubAccount
	if name != "" {
		var sa budgetv1alpha1.SubAccount
		if err := c.Get(ctx, types.NamespacedName{Name: name}, &sa); err != nil {
			return nil, fmt.Errorf("reading SubAccount %s: %w", name, err)
		}
		subs = append(subs, sa)
	} else {
		var list budgetv1alpha1.SubAccountList
		if err := c.List(ctx, &list); err != nil {
			return nil, fmt.Errorf("listing SubAccounts (name one to read it alone): %w", err)
		}
		subs = list.Items
		sort.Slice(subs, func(i, j int) bool { return subs[i].Name < subs[j].Name })
	}
	if len(subs) == 0 {
		_, _ = fmt.Fprintln(stderr, "No SubAccounts found.")
		if output == outputJSON {
			return nil, writeJSONValue(stdout, []struct{}{})
		}
	}
	return subs, nil
}

// subAccountReport is a command that reports on one SubAccount, or all,
// as a table or JSON (orders, costs).
func subAccountReport(name, summary, help string,
	report func(ctx context.Context, c client.Client, name, output string, now time.Time, stdout, stderr io.Writer) error,
) command {
	output := outputTable
	return command{
		name:     name,
		usage:    name + " [SUBACCOUNT] [-o table|json]",
		summary:  summary,
		help:     help,
		optional: 1,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&output, "output", outputTable, "output format: table or json")
			fs.StringVar(&output, "o", outputTable, "short for --output")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			switch output {
			case outputTable, outputJSON:
			default:
				return usagef("unknown output format %q: use table or json", output)
			}
			c, _, err := e.client()
			if err != nil {
				return err
			}
			sub := ""
			if len(args) > 0 {
				sub = args[0]
			}
			return report(ctx, c, sub, output, time.Now(), e.stdout, e.stderr)
		},
	}
}

// figures are what the operator weighs a payment for a SubAccount against,
// read as it reads them: payment.Granted over the SubAccount's allocations
// and payment.TotalsOf over its OrderPayments. When the user may not list
// them in every namespace, the SubAccount's status stands in and a note
// says so.
type figures struct {
	sa    *budgetv1alpha1.SubAccount
	cycle string
	// granted is what the allocations granted, with what is in flight.
	granted money.Amount
	paid    payment.Totals
	// payments are the SubAccount's OrderPayments; paymentsRead is false
	// when they could not be listed.
	payments     []budgetv1alpha1.OrderPayment
	paymentsRead bool
	notes        []string
}

func readFigures(ctx context.Context, c client.Reader, sa *budgetv1alpha1.SubAccount, now time.Time) *figures {
	f := &figures{sa: sa, cycle: billcycle.Of(now)}
	var bas budgetv1alpha1.BudgetAllocationList
	if err := c.List(ctx, &bas); err == nil {
		var mine []budgetv1alpha1.BudgetAllocation
		for _, ba := range bas.Items {
			if ba.Spec.SubAccountRef.Name == sa.Name {
				mine = append(mine, ba)
			}
		}
		f.granted = payment.Granted(mine)
	} else {
		f.granted, _ = amountOf(string(sa.Status.Granted))
		f.notes = append(f.notes, fmt.Sprintf("the BudgetAllocations of every namespace cannot be listed (%s): granted is SubAccount %s's status.granted %s (transfers in flight not counted)",
			reasonOf(err), sa.Name, f.granted))
	}
	payments, err := payment.ListOf(ctx, c, sa.Name)
	if err == nil {
		f.payments, f.paymentsRead = payments, true
		f.paid = payment.TotalsOf(payments, sa.Status.CustomerID, f.cycle, "")
		return f
	}
	f.paid.Paid, _ = amountOf(string(sa.Status.PaidOrders))
	if cc := sa.Status.CurrentCycle; cc == nil || cc.Cycle == f.cycle {
		f.paid.ThisCycle, _ = amountOf(string(sa.Status.PaidOrdersThisCycle))
	}
	f.notes = append(f.notes, fmt.Sprintf("the OrderPayments of every namespace cannot be listed (%s): what orders paid is SubAccount %s's status.paidOrders %s (%s in bill cycle %s)",
		reasonOf(err), sa.Name, f.paid.Paid, f.paid.ThisCycle, f.cycle))
	return f
}

// check is payment.CheckLimits for a payment of amount.
func (f *figures) check(amount money.Amount) *payment.Block {
	return payment.CheckLimits(f.sa, f.granted, f.paid, amount, f.cycle)
}

// consumption is the bill cycle's consumption CheckLimits counts.
func (f *figures) consumption() money.Amount {
	if cc := f.sa.Status.CurrentCycle; cc != nil && cc.Cycle == f.cycle {
		a, _ := amountOf(string(cc.Consumption))
		return a
	}
	return money.Zero
}

// limits describes the SubAccount's limits and what is left under them.
func (f *figures) limits() (funding, budget string, fundingLimit, fundingLeft, budgetLimit, budgetLeft string) {
	funding, budget = "fundingLimit: none", "monthlyBudget: none"
	if l := f.sa.Spec.FundingLimit; l != nil {
		fundingLimit = string(*l)
		if lim, err := money.Parse(string(*l)); err == nil {
			left := lim.Sub(f.granted.Add(f.paid.Paid))
			fundingLeft = left.String()
			funding = fmt.Sprintf("fundingLimit %s: %s left (granted %s + orders paid %s)", lim, left, f.granted, f.paid.Paid)
		} else {
			funding = fmt.Sprintf("fundingLimit %q cannot be read: nothing is paid", *l)
		}
	}
	if b := f.sa.Spec.MonthlyBudget; b != nil {
		budgetLimit = string(b.Amount)
		if lim, err := money.Parse(string(b.Amount)); err == nil {
			consumed := f.consumption()
			left := lim.Sub(consumed.Add(f.paid.ThisCycle))
			budgetLeft = left.String()
			budget = fmt.Sprintf("monthlyBudget %s: %s left in bill cycle %s (consumption %s + orders paid %s)", lim, left, f.cycle, consumed, f.paid.ThisCycle)
		} else {
			budget = fmt.Sprintf("monthlyBudget %q cannot be read: nothing is paid", b.Amount)
		}
	}
	return funding, budget, fundingLimit, fundingLeft, budgetLimit, budgetLeft
}

// ordersReport is one SubAccount in `kubectl budget orders`.
type ordersReport struct {
	SubAccount string `json:"subAccount"`
	CustomerID string `json:"customerID,omitempty"`
	// Mode is the orderPayment mode (Manual or Auto).
	Mode              string `json:"mode"`
	MaxAmountPerOrder string `json:"maxAmountPerOrder,omitempty"`
	PolicyNamespace   string `json:"policyNamespace,omitempty"`
	Cycle             string `json:"cycle"`
	Granted           string `json:"granted"`
	PaidOrders        string `json:"paidOrders"`
	PaidThisCycle     string `json:"paidOrdersThisCycle"`
	FundingLimit      string `json:"fundingLimit,omitempty"`
	FundingLimitLeft  string `json:"fundingLimitLeft,omitempty"`
	MonthlyBudget     string `json:"monthlyBudget,omitempty"`
	Consumption       string `json:"consumption"`
	MonthlyBudgetLeft string `json:"monthlyBudgetLeft,omitempty"`
	Pending           int32  `json:"pending"`
	Covered           int32  `json:"covered"`
	Unfit             int32  `json:"unfit"`
	// LastBillingSyncTime is when the operator last read the orders; Old
	// is true past twice the billing interval (or when never read).
	LastBillingSyncTime string      `json:"lastBillingSyncTime,omitempty"`
	Old                 bool        `json:"old"`
	Orders              []*orderRow `json:"orders"`
	Notes               []string    `json:"notes,omitempty"`
	lines               []string    // the header lines of the table
	sa                  *budgetv1alpha1.SubAccount
}

// Actions of an order row.
const (
	actionCovered = "covered"
	actionAuto    = "auto"
	actionManual  = "manual"
)

// orderRow is one pending order.
type orderRow struct {
	ID         string `json:"id"`
	Amount     string `json:"amount"`
	Type       string `json:"type,omitempty"`
	Service    string `json:"service,omitempty"`
	CreateTime string `json:"createTime,omitempty"`
	Age        string `json:"age,omitempty"`
	// Action is covered (an OrderPayment pays it), auto (the Auto policy
	// pays it) or manual.
	Action string `json:"action"`
	// Payment (namespace/name) and its phase, when covered; the phase is
	// empty when it cannot be read.
	Payment      string `json:"payment,omitempty"`
	PaymentPhase string `json:"paymentPhase,omitempty"`
	// Reason is why the Auto policy does not pay it.
	Reason string `json:"reason,omitempty"`
	// Limit and LimitMessage are the limit (payment.CheckLimits) that
	// holds an auto payment of it back now.
	Limit        string `json:"limit,omitempty"`
	LimitMessage string `json:"limitMessage,omitempty"`
	// PolicyNow is what the SubAccount's current policy says when it
	// differs from the operator's last look (the spec changed since).
	PolicyNow string `json:"policyNow,omitempty"`
	// AutoPay is the table's AUTO-PAY cell.
	AutoPay string `json:"autoPay"`
}

func runOrders(ctx context.Context, c client.Client, name, output string, now time.Time, stdout, stderr io.Writer) error {
	subs, err := reportedSubAccounts(ctx, c, name, output, stdout, stderr)
	if err != nil || len(subs) == 0 {
		return err
	}
	reports := make([]*ordersReport, 0, len(subs))
	eas := map[string]*budgetv1alpha1.EnterpriseAccount{}
	for i := range subs {
		sa := &subs[i]
		eaName := sa.Spec.EnterpriseAccountRef.Name
		ea, seen := eas[eaName]
		if !seen {
			var got budgetv1alpha1.EnterpriseAccount
			if err := c.Get(ctx, types.NamespacedName{Name: eaName}, &got); err == nil {
				ea = &got
			}
			eas[eaName] = ea
		}
		reports = append(reports, reportOrders(ctx, c, sa, ea, now))
	}
	if output == outputJSON {
		return writeJSONValue(stdout, reports)
	}
	for i, r := range reports {
		if i > 0 {
			_, _ = fmt.Fprintln(stdout)
		}
		writeOrders(stdout, r)
	}
	return nil
}

// reportOrders reads what orders shows of one SubAccount.
func reportOrders(ctx context.Context, c client.Reader, sa *budgetv1alpha1.SubAccount, ea *budgetv1alpha1.EnterpriseAccount, now time.Time) *ordersReport {
	f := readFigures(ctx, c, sa, now)
	r := &ordersReport{SubAccount: sa.Name, CustomerID: sa.Status.CustomerID, Mode: string(budgetv1alpha1.OrderPaymentManual),
		Cycle: f.cycle, Granted: f.granted.String(), PaidOrders: f.paid.Paid.String(), PaidThisCycle: f.paid.ThisCycle.String(),
		Consumption: f.consumption().String(), Orders: []*orderRow{}, Notes: f.notes, sa: sa}
	policy := sa.Spec.OrderPayment
	mode := "orderPayment Manual (only the OrderPayments people create are paid)"
	if policy != nil && policy.Mode == budgetv1alpha1.OrderPaymentAuto {
		r.Mode, r.PolicyNamespace = string(policy.Mode), policy.Namespace
		if policy.MaxAmountPerOrder != nil {
			r.MaxAmountPerOrder = string(*policy.MaxAmountPerOrder)
		}
		mode = fmt.Sprintf("orderPayment Auto (up to %s per order", orNone(r.MaxAmountPerOrder))
		if len(policy.OrderTypes) > 0 {
			mode += fmt.Sprintf(", orderTypes %v", policy.OrderTypes)
		}
		if len(policy.Services) > 0 {
			mode += ", services " + strings.Join(policy.Services, ",")
		}
		mode += ", OrderPayments in namespace " + orNone(policy.Namespace) + ")"
	}
	funding, budget, fl, fLeft, bl, bLeft := f.limits()
	r.FundingLimit, r.FundingLimitLeft, r.MonthlyBudget, r.MonthlyBudgetLeft = fl, fLeft, bl, bLeft
	r.lines = append(r.lines,
		fmt.Sprintf("subacct/%s  customer %s  %s", sa.Name, orNone(sa.Status.CustomerID), mode),
		"  "+funding,
		"  "+budget)

	rep := sa.Status.OrderPayments
	if rep != nil {
		r.Pending, r.Covered, r.Unfit = rep.Pending, rep.Covered, rep.Unfit
	}
	r.lines = append(r.lines, fmt.Sprintf("  paid orders %s (%s in bill cycle %s); %d pending, %d covered by an OrderPayment, %d the Auto policy does not pay",
		f.paid.Paid, f.paid.ThisCycle, f.cycle, r.Pending, r.Covered, r.Unfit))
	r.lines = append(r.lines, "  "+r.freshness(ea, now))

	phases := paymentPhases{ctx: ctx, c: c, byKey: map[string]*budgetv1alpha1.OrderPayment{}, read: f.paymentsRead}
	for i := range f.payments {
		op := &f.payments[i]
		phases.byKey[op.Namespace+"/"+op.Name] = op
	}
	if rep != nil {
		for _, o := range rep.Orders {
			r.Orders = append(r.Orders, r.row(o, f, &phases, now))
		}
	}
	if len(r.Orders) < int(r.Pending) {
		r.lines = append(r.lines, fmt.Sprintf("  (the status lists %d of the %d pending orders, oldest first)", len(r.Orders), r.Pending))
	}
	r.Notes = append(r.Notes, phases.notes...)
	return r
}

// freshness says when the operator last read the orders, and whether that
// is old: past twice the EnterpriseAccount's billingSyncInterval.
func (r *ordersReport) freshness(ea *budgetv1alpha1.EnterpriseAccount, now time.Time) string {
	last := r.sa.Status.LastBillingSyncTime
	if last == nil {
		r.Old = true
		return "orders never read from BSS yet: the list is empty until the operator's first billing sync"
	}
	r.LastBillingSyncTime = last.UTC().Format(timeFormat)
	interval := common.DefaultBillingInterval
	if ea != nil {
		interval = common.BillingInterval(ea)
	}
	age := now.Sub(last.Time)
	s := fmt.Sprintf("orders read from BSS %s ago (%s)", duration.HumanDuration(age), r.LastBillingSyncTime)
	if age > 2*interval {
		r.Old = true
		s += fmt.Sprintf(": old, the operator reads them every %s; orders paid or created since are not shown (is its billing sync failing? see the SubAccount's conditions)", interval)
	}
	return s
}

// paymentPhases finds the phase of the OrderPayments the status names.
type paymentPhases struct {
	ctx   context.Context
	c     client.Reader
	byKey map[string]*budgetv1alpha1.OrderPayment
	// read is true when the SubAccount's OrderPayments were listed.
	read      bool
	forbidden map[string]bool
	notes     []string
}

// phase returns the payment's phase: "" when it cannot be read, "gone"
// when it no longer exists.
func (p *paymentPhases) phase(key string) string {
	if op, ok := p.byKey[key]; ok {
		return phaseOf(op)
	}
	ns, name, ok := strings.Cut(key, "/")
	if !ok {
		return ""
	}
	if p.forbidden[ns] {
		return ""
	}
	var op budgetv1alpha1.OrderPayment
	switch err := p.c.Get(p.ctx, types.NamespacedName{Namespace: ns, Name: name}, &op); {
	case err == nil:
		p.byKey[key] = &op
		return phaseOf(&op)
	case apierrors.IsNotFound(err):
		return "gone"
	case apierrors.IsForbidden(err):
		if p.forbidden == nil {
			p.forbidden = map[string]bool{}
		}
		p.forbidden[ns] = true
		p.notes = append(p.notes, fmt.Sprintf("the OrderPayments of namespace %s cannot be read (forbidden): their phases are not shown", ns))
	default:
		p.notes = append(p.notes, fmt.Sprintf("OrderPayment %s cannot be read: %v", key, err))
	}
	return ""
}

// live finds the OrderPayment that pays the order (payment.PayerOf), for
// an order the status does not show covered yet.
func (p *paymentPhases) live(sa, orderID string) *budgetv1alpha1.OrderPayment {
	var mine []budgetv1alpha1.OrderPayment
	for _, op := range p.byKey {
		if op.Spec.SubAccountName == sa {
			mine = append(mine, *op)
		}
	}
	return payment.PayerOf(mine, orderID)
}

// phaseOf is the payment's phase, "new" before the operator set one.
func phaseOf(op *budgetv1alpha1.OrderPayment) string {
	return cmp.Or(string(op.Status.Phase), "new")
}

// row describes one pending order.
func (r *ordersReport) row(o budgetv1alpha1.PendingOrder, f *figures, phases *paymentPhases, now time.Time) *orderRow {
	row := &orderRow{ID: o.ID, Amount: orNone(o.Amount), Type: o.Type, Service: o.Service, CreateTime: o.CreateTime, Reason: o.Reason}
	if t, err := time.Parse(time.RFC3339, o.CreateTime); err == nil {
		row.Age = duration.HumanDuration(now.Sub(t))
	}
	amount, amountErr := money.Parse(string(o.Amount))
	payKey := o.Payment
	if payKey == "" {
		if op := phases.live(r.SubAccount, o.ID); op != nil {
			payKey = op.Namespace + "/" + op.Name
		}
	}
	switch {
	case payKey != "":
		row.Action, row.Payment, row.Reason = actionCovered, payKey, ""
		row.PaymentPhase = phases.phase(payKey)
		row.AutoPay = "paid by " + payKey
		if row.PaymentPhase != "" {
			row.AutoPay += " (" + row.PaymentPhase + ")"
		}
		return row
	case o.Fits:
		row.Action, row.AutoPay = actionAuto, "auto-pay"
		if amountErr == nil {
			if b := f.check(amount); b != nil {
				row.Limit, row.LimitMessage = b.Reason, b.Message
				row.AutoPay += ", waits now: " + b.Reason
			}
		}
	default:
		row.Action, row.AutoPay = actionManual, "manual"
		if o.Reason != "" {
			row.AutoPay += ": " + o.Reason
		}
	}
	// The policy as it stands now, when it differs from the operator's
	// last look at the order.
	if amountErr == nil {
		fits, why := payment.FitsPolicy(r.sa.Spec.OrderPayment, bss.Order{OrderID: o.ID, AmountAfterDiscount: amount, OrderType: o.Type, ServiceTypeCode: o.Service})
		switch {
		case fits && !o.Fits:
			row.PolicyNow = "the SubAccount's current policy pays it (its spec changed since the operator's last look)"
			row.AutoPay += "; now: auto-pay"
		case !fits && o.Fits:
			row.PolicyNow = "the SubAccount's current policy does not pay it: " + why + " (its spec changed since the operator's last look)"
			row.AutoPay += "; now: manual: " + why
		}
	}
	return row
}

func writeOrders(w io.Writer, r *ordersReport) {
	for _, l := range r.lines {
		_, _ = fmt.Fprintln(w, l)
	}
	for _, n := range r.Notes {
		_, _ = fmt.Fprintln(w, "  note: "+n)
	}
	if len(r.Orders) == 0 {
		_, _ = fmt.Fprintln(w, "  No orders pending payment on its behalf.")
		return
	}
	tw := newTable(w)
	row(tw, "  ORDER", "AMOUNT", "TYPE", "SERVICE", "AGE", "AUTO-PAY")
	for _, o := range r.Orders {
		row(tw, "  "+o.ID, o.Amount, orNone(o.Type), orNone(o.Service), orNone(o.Age), o.AutoPay)
	}
	_ = tw.Flush()
}

// writeJSONValue prints v as indented JSON.
func writeJSONValue(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing JSON: %w", err)
	}
	return nil
}

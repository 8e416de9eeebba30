package localenv

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// WriteSummary prints every EnterpriseAccount, its SubAccounts and their
// BudgetAllocations as a tree: desired, granted and pending amounts, the
// sub-accounts' spend in the current bill cycle, and the Ready reasons.
func WriteSummary(ctx context.Context, c client.Reader, w io.Writer) error {
	var eas budgetv1alpha1.EnterpriseAccountList
	var sas budgetv1alpha1.SubAccountList
	var bas budgetv1alpha1.BudgetAllocationList
	for _, l := range []client.ObjectList{&eas, &sas, &bas} {
		if err := c.List(ctx, l); err != nil {
			return err
		}
	}
	sort.Slice(eas.Items, func(i, j int) bool { return eas.Items[i].Name < eas.Items[j].Name })
	sort.Slice(sas.Items, func(i, j int) bool { return sas.Items[i].Name < sas.Items[j].Name })
	sort.Slice(bas.Items, func(i, j int) bool {
		a, b := bas.Items[i], bas.Items[j]
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	byEA := map[string][]budgetv1alpha1.SubAccount{}
	for _, sa := range sas.Items {
		byEA[sa.Spec.EnterpriseAccountRef.Name] = append(byEA[sa.Spec.EnterpriseAccountRef.Name], sa)
	}
	bySA := map[string][]budgetv1alpha1.BudgetAllocation{}
	for _, ba := range bas.Items {
		bySA[ba.Spec.SubAccountRef.Name] = append(bySA[ba.Spec.SubAccountRef.Name], ba)
	}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cols ...string) { _, _ = fmt.Fprintln(tw, strings.Join(cols, "\t")) }
	row("ENTERPRISE / SUB-ACCOUNT / ALLOCATION", "DESIRED", "GRANTED", "PENDING", "SPEND THIS CYCLE", "READY", "REASON", "DETAILS")
	allocations := func(prefix string, list []budgetv1alpha1.BudgetAllocation) {
		for i, ba := range list {
			branch, _ := glyphs(i, len(list))
			row(prefix+branch+ba.Namespace+"/"+ba.Name, orDash(string(ba.Status.Desired)), orDash(string(ba.Status.Granted)),
				orDash(ba.Status.Pending), "", readyStatus(ba.Status.Conditions), ReadyReason(ba.Status.Conditions), allocationDetails(&ba))
		}
	}
	for _, ea := range eas.Items {
		row(ea.Name, "", "", "", "", readyStatus(ea.Status.Conditions), ReadyReason(ea.Status.Conditions), enterpriseDetails(&ea))
		subs := byEA[ea.Name]
		for i, sa := range subs {
			branch, cont := glyphs(i, len(subs))
			row(branch+sa.Name, "", orDash(string(sa.Status.Granted)), "", spend(&sa),
				readyStatus(sa.Status.Conditions), ReadyReason(sa.Status.Conditions), subAccountDetails(&sa))
			allocations(cont, bySA[sa.Name])
			delete(bySA, sa.Name)
		}
	}
	var orphans []budgetv1alpha1.BudgetAllocation
	for _, ba := range bas.Items {
		if _, ok := bySA[ba.Spec.SubAccountRef.Name]; ok {
			orphans = append(orphans, ba)
		}
	}
	if len(orphans) > 0 {
		row("(no such SubAccount)")
		allocations("", orphans)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writePayments(ctx, c, w)
}

// writePayments lists the OrderPayments, if any.
func writePayments(ctx context.Context, c client.Reader, w io.Writer) error {
	var ops budgetv1alpha1.OrderPaymentList
	if err := c.List(ctx, &ops); err != nil {
		return err
	}
	if len(ops.Items) == 0 {
		return nil
	}
	sort.Slice(ops.Items, func(i, j int) bool {
		a, b := ops.Items[i], ops.Items[j]
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	_, _ = fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cols ...string) { _, _ = fmt.Fprintln(tw, strings.Join(cols, "\t")) }
	row("ORDER PAYMENT", "SUB-ACCOUNT", "ORDER", "AMOUNT", "MAX", "PHASE", "REASON")
	for _, op := range ops.Items {
		row(op.Namespace+"/"+op.Name, op.Spec.SubAccountName, op.Spec.OrderID, orDash(string(op.Status.Amount)), string(op.Spec.MaxAmount),
			orDash(string(op.Status.Phase)), ReadyReason(op.Status.Conditions))
	}
	return tw.Flush()
}

func glyphs(i, n int) (branch, cont string) {
	if i == n-1 {
		return "└─ ", "   "
	}
	return "├─ ", "│  "
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func readyStatus(conds []metav1.Condition) string {
	if c := Ready(conds); c != nil {
		return string(c.Status)
	}
	return "-"
}

func enterpriseDetails(ea *budgetv1alpha1.EnterpriseAccount) string {
	st := ea.Status
	credit := money.Zero
	for _, l := range st.CreditLedgers {
		if a, err := money.Parse(string(l.Available)); err == nil {
			credit = credit.Add(a)
		}
	}
	d := fmt.Sprintf("master can transfer cash %s, credit %s, %d coupons; %d sub-accounts",
		orDash(string(st.TransferableCash)), credit, len(st.TransferableCoupons), st.SubAccounts)
	if b := st.AccountBalances; b != nil {
		d += fmt.Sprintf("; own cash %s, bonus %s, deposit %s", orDash(string(b.Cash)), orDash(string(b.Bonus)), orDash(string(b.Deposit)))
	}
	for _, p := range st.ResourcePackages {
		if p.ExpiringUnused {
			d += fmt.Sprintf("; package %s expires %s with %d%% unused", p.Name, p.ExpireTime, p.UnusedPercent)
		}
	}
	if em := st.ExternalMovements; em != nil && len(em.Latest) > 0 {
		d += fmt.Sprintf("; %d movement(s) outside the operator", len(em.Latest))
	}
	return d
}

func subAccountDetails(sa *budgetv1alpha1.SubAccount) string {
	d := fmt.Sprintf("%s, reclaimable %s", orDash(sa.Status.CustomerID), orDash(string(sa.Status.ReclaimableCash)))
	if n := len(sa.Status.ReclaimableCoupons); n > 0 {
		d += fmt.Sprintf(", %d sub-coupons", n)
	}
	if p := sa.Status.PaidOrders; p != "" && p != "0.00" {
		d += ", orders paid " + string(p)
	}
	if r := sa.Status.OrderPayments; r != nil && r.Pending > 0 {
		d += fmt.Sprintf(", pending orders %d", r.Pending)
	}
	return d
}

func spend(sa *budgetv1alpha1.SubAccount) string {
	cc := sa.Status.CurrentCycle
	if cc == nil {
		return "-"
	}
	s := string(cc.Consumption)
	if b := sa.Spec.MonthlyBudget; b != nil {
		s += " of " + string(b.Amount)
		if cc.BudgetPercent != nil {
			s += fmt.Sprintf(" (%d%%)", *cc.BudgetPercent)
		}
	}
	return s
}

func allocationDetails(ba *budgetv1alpha1.BudgetAllocation) string {
	var parts []string
	switch {
	case ba.Spec.TopUp != nil:
		t := ba.Spec.TopUp
		used := "0.00"
		if ba.Status.TopUp != nil {
			used = string(ba.Status.TopUp.Used)
		}
		parts = append(parts, fmt.Sprintf("topUp to %s below %s, used %s of %s this month", t.TargetBalance, t.MinimumBalance, used, t.MonthlyLimit))
	case ba.Spec.Amount != nil:
		parts = append(parts, "amount "+string(*ba.Spec.Amount))
	}
	if ba.Spec.BalanceType == budgetv1alpha1.BalanceTypeCredit && len(parts) > 0 {
		parts[len(parts)-1] += " of credit"
	}
	if len(ba.Status.Coupons) > 0 {
		var cs []string
		for _, c := range ba.Status.Coupons {
			cs = append(cs, fmt.Sprintf("%s %s -> %s", c.CouponID, c.Amount, orDash(c.SubCouponID)))
		}
		parts = append(parts, "coupons "+strings.Join(cs, ", "))
	}
	if ba.Spec.DeletionPolicy == budgetv1alpha1.DeletionPolicyReclaim {
		parts = append(parts, "Reclaim on delete")
	}
	if c := Ready(ba.Status.Conditions); c != nil && c.Reason != budgetv1alpha1.ReasonReady && c.Message != "" {
		parts = append(parts, c.Message)
	}
	return strings.Join(parts, "; ")
}

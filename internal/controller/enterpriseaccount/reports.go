package enterpriseaccount

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/accounts"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/costs"
	"github.com/bss-budget-operator/bss-budget-operator/internal/metrics"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/movements"
)

// Defaults of spec.reports.
const (
	DefaultExpiryHorizon        = 30 * 24 * time.Hour
	DefaultPackageUnusedPercent = 50
	// maxPackages and maxMovements bound the status lists.
	maxPackages  = 50
	maxMovements = 20
)

// +kubebuilder:rbac:groups=budget.bss.dev,resources=budgettransfers,verbs=get;list;watch
// +kubebuilder:rbac:groups=budget.bss.dev,resources=ledgerrecords,verbs=get;list;watch
// +kubebuilder:rbac:groups=budget.bss.dev,resources=subaccounts,verbs=get;list;watch

// withReports reads the reports of the master's own account when they are
// due (every billingSyncInterval, and after a spec change) and brings the
// requeue forward to when they are due next. They are read only while the
// connection works (Ready); a failure is the ReportsSynced condition and
// does not touch Ready.
func (r *Reconciler) withReports(ctx context.Context, ea *budgetv1alpha1.EnterpriseAccount, acct *accounts.Account, now time.Time, res ctrl.Result,
	later *announcements) ctrl.Result {
	if !common.IsTrue(ea.Status.Conditions, budgetv1alpha1.ConditionReady) {
		return res
	}
	interval := common.BillingInterval(ea)
	last := ea.Status.ReportsTime
	// A spec change (the expiry horizon, the declared behaviour) is
	// reported on at once: the ReportsSynced condition carries the
	// generation it was read for.
	synced := meta.FindStatusCondition(ea.Status.Conditions, budgetv1alpha1.ConditionReportsSynced)
	stale := synced == nil || synced.ObservedGeneration != ea.Generation
	if last == nil || stale || !now.Before(last.Add(interval)) {
		if err := r.syncReports(ctx, ea, acct, now, later); err != nil {
			common.SetCondition(&ea.Status.Conditions, ea.Generation, budgetv1alpha1.ConditionReportsSynced, metav1.ConditionFalse,
				budgetv1alpha1.ReasonBSSError, err.Error())
			_, requeue := common.ClassifyBSSError(err)
			return soonest(res, max(requeue, time.Minute))
		}
		common.SetCondition(&ea.Status.Conditions, ea.Generation, budgetv1alpha1.ConditionReportsSynced, metav1.ConditionTrue,
			budgetv1alpha1.ReasonReportsSynced, "account balances, resource packages, costs and income/expense records read")
		stamped := metav1.NewTime(now.Truncate(time.Second))
		ea.Status.ReportsTime = &stamped
		last = &stamped
	}
	return soonest(res, max(last.Add(interval).Sub(now), time.Second))
}

// announcements are the events (and counter increments) of a reconcile,
// made once the status that records what they announce is written.
type announcements []func()

// warn adds a Warning event about ea.
func (a *announcements) warn(r *Reconciler, ea *budgetv1alpha1.EnterpriseAccount, reason, note string, args ...any) {
	msg := fmt.Sprintf(note, args...)
	*a = append(*a, func() { r.Recorder.Eventf(ea, nil, corev1.EventTypeWarning, reason, "Report", "%s", msg) })
}

// run makes them.
func (a announcements) run() {
	for _, f := range a {
		f()
	}
}

// soonest returns res requeued no later than after d.
func soonest(res ctrl.Result, d time.Duration) ctrl.Result {
	if res.RequeueAfter <= 0 || d < res.RequeueAfter {
		res.RequeueAfter = d
	}
	return res
}

// syncReports reads every report; the first failure is returned with what
// was being read, and the reports already read stay in the status.
func (r *Reconciler) syncReports(ctx context.Context, ea *budgetv1alpha1.EnterpriseAccount, acct *accounts.Account, now time.Time, later *announcements) error {
	for _, step := range []struct {
		doing string
		run   func() error
	}{
		{"reading the account balances", func() error { return r.syncAccountBalances(ctx, ea, acct) }},
		{"reading the resource packages", func() error { return r.syncPackages(ctx, ea, acct, now, later) }},
		{"reading the costs", func() error { return r.syncCostCenter(ctx, ea, acct, now) }},
		{"reading the income/expense records", func() error { return r.syncExternalMovements(ctx, ea, acct, now, later) }},
	} {
		if err := step.run(); err != nil {
			return fmt.Errorf("%s: %s", step.doing, common.DescribeBSSError(err))
		}
	}
	r.checkCoupons(ea, now, later)
	return nil
}

// horizon and unusedPercent are spec.reports with their defaults.
func horizon(ea *budgetv1alpha1.EnterpriseAccount) time.Duration {
	if rp := ea.Spec.Reports; rp != nil && rp.ExpiryHorizon != nil {
		return rp.ExpiryHorizon.Duration
	}
	return DefaultExpiryHorizon
}

func unusedPercent(ea *budgetv1alpha1.EnterpriseAccount) int32 {
	if rp := ea.Spec.Reports; rp != nil && rp.PackageUnusedPercent != nil {
		return *rp.PackageUnusedPercent
	}
	return DefaultPackageUnusedPercent
}

// syncAccountBalances reads the master's own balances by account type.
func (r *Reconciler) syncAccountBalances(ctx context.Context, ea *budgetv1alpha1.EnterpriseAccount, acct *accounts.Account) error {
	resp, err := acct.Client.GetAccountBalances(ctx)
	if err != nil {
		return err
	}
	b := &budgetv1alpha1.AccountBalances{Currency: resp.Currency, Debt: common.Money(resp.DebtAmount.Abs())}
	var cash, credit, line, bonus, deposit money.Amount
	for _, a := range resp.AccountBalances {
		switch a.AccountType {
		case bss.AccountTypeCash:
			cash = cash.Add(a.Amount)
		case bss.AccountTypeCredit:
			credit, line = credit.Add(a.Amount), line.Add(a.CreditAmount)
		case bss.AccountTypeBonus:
			bonus = bonus.Add(a.Amount)
		case bss.AccountTypeDeposit:
			deposit = deposit.Add(a.Amount)
		}
	}
	b.Cash, b.Credit, b.CreditLine, b.Bonus, b.Deposit = common.Money(cash.Abs()), common.Money(credit.Abs()), common.Money(line.Abs()),
		common.Money(bonus.Abs()), common.Money(deposit.Abs())
	ea.Status.AccountBalances = b
	for typ, v := range map[string]money.Amount{"cash": cash, "credit": credit, "bonus": bonus, "deposit": deposit, "debt": resp.DebtAmount.Abs()} {
		metrics.MasterBalance.WithLabelValues(ea.Name, typ).Set(metrics.Fen(v))
	}
	return nil
}

var packageStatus = map[int]string{
	bss.PackageNotEffective: "NotEffective", bss.PackageEffective: "Effective", bss.PackageUsedUp: "UsedUp",
	bss.PackageExpired: "Expired", bss.PackageUnsubscribed: "Unsubscribed",
}

// syncPackages reads the master's resource packages that are or will be in
// effect, the current usage of their quotas, and reports the ones that
// expire within the horizon with more than the unused percentage left: a
// Warning event when one becomes so, and the metrics.
func (r *Reconciler) syncPackages(ctx context.Context, ea *budgetv1alpha1.EnterpriseAccount, acct *accounts.Account, now time.Time, later *announcements) error {
	var pkgs []bss.ResourcePackage
	for _, st := range []int{bss.PackageEffective, bss.PackageNotEffective} {
		part, err := acct.Client.ListAllFreeResources(ctx, bss.FreeResourcesRequest{Status: &st})
		if err != nil {
			return err
		}
		pkgs = append(pkgs, part...)
	}
	var ids []string
	for _, p := range pkgs {
		for _, q := range p.FreeResources {
			ids = append(ids, q.FreeResourceID)
		}
	}
	usage := map[string]bss.FreeResourceUsage{}
	for chunk := range slices.Chunk(ids, bss.MaxFreeResourceIDs) {
		us, err := acct.Client.ListFreeResourceUsages(ctx, chunk)
		if err != nil {
			return err
		}
		for _, u := range us {
			usage[u.FreeResourceID] = u
		}
	}
	before := map[string]bool{}
	for _, p := range ea.Status.ResourcePackages {
		before[p.ID] = p.ExpiringUnused
	}
	within, threshold := horizon(ea), unusedPercent(ea)
	out := make([]budgetv1alpha1.ResourcePackage, 0, len(pkgs))
	metrics.PackageUnused.DeletePartialMatch(map[string]string{"enterprise_account": ea.Name})
	metrics.PackageExpiry.DeletePartialMatch(map[string]string{"enterprise_account": ea.Name})
	metrics.PackageExpiringUnused.DeletePartialMatch(map[string]string{"enterprise_account": ea.Name})
	for _, p := range pkgs {
		rp := PackageStatus(p, usage, now, within, threshold)
		out = append(out, rp)
		name := common.LabelValue(rp.Name)
		metrics.PackageUnused.WithLabelValues(ea.Name, rp.ID, name).Set(float64(rp.UnusedPercent) / 100)
		if exp, err := bss.ParseTime(p.ExpireTime); err == nil {
			metrics.PackageExpiry.WithLabelValues(ea.Name, rp.ID, name).Set(exp.Sub(now).Seconds())
		}
		flag := 0.0
		if rp.ExpiringUnused {
			flag = 1
			if !before[rp.ID] {
				later.warn(r, ea, budgetv1alpha1.EventPackageExpiringUnused,
					"resource package %s (%s) expires at %s with %d%% unused (reported above %d%% within %s)",
					rp.ID, rp.Name, rp.ExpireTime, rp.UnusedPercent, threshold, within)
			}
		}
		metrics.PackageExpiringUnused.WithLabelValues(ea.Name, rp.ID, name).Set(flag)
	}
	slices.SortStableFunc(out, func(a, b budgetv1alpha1.ResourcePackage) int {
		if a.ExpireTime != b.ExpireTime {
			if a.ExpireTime < b.ExpireTime {
				return -1
			}
			return 1
		}
		return 0
	})
	if len(out) > maxPackages {
		out = out[:maxPackages]
	}
	ea.Status.ResourcePackages = out
	return nil
}

// PackageStatus is a package as the status reports it at now: its quotas
// with their current usage where usage has it, the largest unused share
// of any quota, and whether it expires within the horizon with more than
// threshold percent unused.
func PackageStatus(p bss.ResourcePackage, usage map[string]bss.FreeResourceUsage, now time.Time, within time.Duration, threshold int32) budgetv1alpha1.ResourcePackage {
	rp := budgetv1alpha1.ResourcePackage{
		ID: bss.Clip(p.OrderInstanceID, 64), Name: bss.Clip(p.ProductName, 256), Service: bss.Clip(p.ServiceTypeCode, 64),
		Region: bss.Clip(p.RegionCode, 64), Status: packageStatus[p.Status], ExpireTime: bss.Clip(p.ExpireTime, 32),
	}
	for _, q := range p.FreeResources {
		remaining, original, end := q.Amount, q.OriginalAmount, ""
		if u, ok := usage[q.FreeResourceID]; ok {
			remaining, original, end = u.Amount, u.OriginalAmount, u.EndTime
		}
		if original > 0 {
			pct := int32(min(100, max(0, float64(remaining)/float64(original)*100)))
			rp.UnusedPercent = max(rp.UnusedPercent, pct)
		}
		if len(rp.Quotas) < 10 {
			rp.Quotas = append(rp.Quotas, budgetv1alpha1.PackageQuota{
				ID: bss.Clip(q.FreeResourceID, 64), UsageType: bss.Clip(q.UsageTypeName, 128),
				Remaining: strconv.FormatFloat(float64(remaining), 'f', -1, 64), Original: strconv.FormatFloat(float64(original), 'f', -1, 64),
				PeriodEnd: bss.Clip(end, 32),
			})
		}
	}
	if exp, err := bss.ParseTime(p.ExpireTime); err == nil && exp.After(now) && exp.Sub(now) <= within && rp.UnusedPercent > threshold {
		rp.ExpiringUnused = true
	}
	return rp
}

// syncCostCenter reads the master's cost data (shared with its SubAccounts)
// and sets CostCenterNotEnabled: True when BSS answers CBC.18000014.
func (r *Reconciler) syncCostCenter(ctx context.Context, ea *budgetv1alpha1.EnterpriseAccount, acct *accounts.Account, now time.Time) error {
	_, err := costs.Shared(ctx, acct, now, common.BillingInterval(ea), func(ctx context.Context) ([]string, error) {
		return common.SubCustomerIDs(ctx, r, ea.Name)
	})
	switch {
	case bss.IsCostCenterNotEnabled(err):
		common.SetCondition(&ea.Status.Conditions, ea.Generation, budgetv1alpha1.ConditionCostCenterNotEnabled, metav1.ConditionTrue,
			budgetv1alpha1.ReasonCostCenterNotEnabled, "Cost Center is not enabled on the master ("+common.DescribeBSSError(err)+
				"): SubAccounts show no amortized cost and no forecast; everything else works. Enable Cost Center in the Billing Center console.")
		return nil
	case err != nil:
		return err
	}
	common.SetCondition(&ea.Status.Conditions, ea.Generation, budgetv1alpha1.ConditionCostCenterNotEnabled, metav1.ConditionFalse,
		budgetv1alpha1.ReasonCostCenterEnabled, "Cost Center data read")
	return nil
}

// checkCoupons counts the master's transferable coupons with a balance
// that expire within the horizon, and announces each one once: when its
// expiry comes within the horizon (between the last reports and these).
func (r *Reconciler) checkCoupons(ea *budgetv1alpha1.EnterpriseAccount, now time.Time, later *announcements) {
	within := horizon(ea)
	var prev time.Time
	if ea.Status.ReportsTime != nil {
		prev = ea.Status.ReportsTime.Time
	}
	var n int32
	var total money.Amount
	for _, c := range ea.Status.TransferableCoupons {
		exp, err := bss.ParseTime(c.ExpireTime)
		bal, berr := money.Parse(string(c.Balance))
		if err != nil || berr != nil || !bal.IsPositive() || !exp.After(now) || exp.Sub(now) > within {
			continue
		}
		n++
		total = total.Add(bal)
		if entered := exp.Add(-within); prev.IsZero() || entered.After(prev) {
			later.warn(r, ea, budgetv1alpha1.EventCouponExpiring, "coupon %s (%s) expires at %s with %s left", c.CouponID, c.PlanName, c.ExpireTime, bal)
		}
	}
	ea.Status.ExpiringCoupons = n
	metrics.CouponExpiring.WithLabelValues(ea.Name).Set(metrics.Fen(total))
}

// syncExternalMovements reads the master's transfer and reclaim records
// since the last ones examined (from the start of the current bill cycle
// the first time) and reports those no BudgetTransfer or audit-trail entry
// accounts for: in status.externalMovements, with a Warning event and the
// counter for each new one. Under spec.bssBehaviour.transferRecords None
// the records show no transfers and nothing is read.
func (r *Reconciler) syncExternalMovements(ctx context.Context, ea *budgetv1alpha1.EnterpriseAccount, acct *accounts.Account, now time.Time,
	later *announcements) error {
	behaviour := budgetv1alpha1.BehaviourOf(ea)
	if behaviour.TransferRecords == budgetv1alpha1.RecordsNone {
		ea.Status.ExternalMovements = nil
		return nil
	}
	since := billcycle.Start(now)
	if t := ea.Status.RecordsThrough; t != nil && t.After(since) {
		since = t.Time
	}
	// The query takes whole UTC+8 days: from the day of the last record
	// examined, whose later records are the new ones.
	begin, end := billcycle.Day(since), billcycle.Day(now)
	var records []movements.Record
	for _, q := range movements.Queries(begin, end) {
		recs, err := acct.Client.ListAllAccountChangeRecords(ctx, q.Request)
		if err != nil {
			return err
		}
		for _, c := range recs {
			if rec, ok := movements.RecordOf(q, c); ok {
				records = append(records, rec)
			}
		}
	}
	slices.SortStableFunc(records, func(a, b movements.Record) int { return a.Time.Compare(b.Time) })
	known, err := common.KnownMovements(ctx, r, ea.Name)
	if err != nil {
		return err
	}
	ext := movements.External(records, known, behaviour.TransferRecords)

	cycle := billcycle.Of(now)
	em := ea.Status.ExternalMovements
	if em == nil || em.Cycle != cycle {
		prevLatest := []budgetv1alpha1.ExternalMovement(nil)
		if em != nil {
			prevLatest = em.Latest
		}
		em = &budgetv1alpha1.ExternalMovements{Cycle: cycle, Latest: prevLatest}
	}
	seen := map[string]bool{}
	for _, m := range em.Latest {
		seen[m.ID] = true
	}
	through := ea.Status.RecordsThrough
	for _, rec := range ext {
		// A record at or before the last one examined was examined then.
		if seen[rec.AccountChangeID] || (ea.Status.RecordsThrough != nil && !rec.Time.After(ea.Status.RecordsThrough.Time)) {
			continue
		}
		m := budgetv1alpha1.ExternalMovement{
			ID: bss.Clip(rec.AccountChangeID, 64), Time: metav1.NewTime(rec.Time), Direction: rec.Direction,
			BalanceType: rec.BalanceType, Amount: common.Money(rec.Amount), TradeID: bss.Clip(rec.TradeID, 128),
		}
		seen[m.ID] = true
		if billcycle.Of(rec.Time) == cycle {
			if m.Direction == budgetv1alpha1.MovementIn {
				em.In = common.Money(em.In.Amount().Add(rec.Amount))
			} else {
				em.Out = common.Money(em.Out.Amount().Add(rec.Amount))
			}
		}
		em.Latest = append([]budgetv1alpha1.ExternalMovement{m}, em.Latest...)
		counter := metrics.ExternalMovements.WithLabelValues(ea.Name, directionLabel(m.Direction))
		*later = append(*later, counter.Inc)
		verb := "transferred to"
		if m.Direction == budgetv1alpha1.MovementOut {
			verb = "reclaimed from"
		}
		later.warn(r, ea, budgetv1alpha1.EventExternalMovement,
			"%s %s was %s a sub-account at %s outside the operator (record %s, trade_id %s): no BudgetTransfer accounts for it",
			m.Amount, m.BalanceType, verb, rec.Time.UTC().Format(time.RFC3339), m.ID, m.TradeID)
	}
	for _, rec := range records {
		if through == nil || rec.Time.After(through.Time) {
			t := metav1.NewTime(rec.Time)
			through = &t
		}
	}
	if len(em.Latest) > maxMovements {
		em.Latest = em.Latest[:maxMovements]
	}
	attribute(ctx, r, ea.Name, em.Latest)
	ea.Status.ExternalMovements = em
	ea.Status.RecordsThrough = through
	return nil
}

// forgetReportMetrics drops the series of a deleted EnterpriseAccount.
func forgetReportMetrics(name string) {
	labels := map[string]string{"enterprise_account": name}
	for _, g := range []*prometheus.GaugeVec{metrics.MasterBalance, metrics.PackageUnused, metrics.PackageExpiry, metrics.PackageExpiringUnused, metrics.CouponExpiring} {
		g.DeletePartialMatch(labels)
	}
	metrics.ExternalMovements.DeletePartialMatch(labels)
}

func directionLabel(d string) string {
	if d == budgetv1alpha1.MovementOut {
		return "out"
	}
	return "in"
}

// attribute names, for each movement, the SubAccount of the master whose
// balance residuals explain it (when exactly one does).
func attribute(ctx context.Context, c client.Reader, ea string, ms []budgetv1alpha1.ExternalMovement) {
	var list budgetv1alpha1.SubAccountList
	if err := c.List(ctx, &list, client.MatchingFields{common.IndexSubAccountEnterprise: ea}); err != nil {
		return
	}
	for i := range ms {
		ms[i].SubAccount = ""
		var who []string
		for j := range list.Items {
			sa := &list.Items[j]
			if em := sa.Status.ExternalMovements; em != nil && slices.ContainsFunc(em.Latest, func(x budgetv1alpha1.ExternalMovement) bool { return x.ID == ms[i].ID }) {
				who = append(who, sa.Name)
			}
		}
		if len(who) == 1 {
			ms[i].SubAccount = who[0]
		}
	}
}

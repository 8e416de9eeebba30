package subaccount

import (
	"context"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/metrics"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/movements"
)

// Money moved outside the operator (docs/concepts.md, "External
// movements"): the EnterpriseAccount finds the master's transfers and
// reclaims that no BudgetTransfer accounts for; each SubAccount keeps the
// changes of its reclaimable balance that the operator's movements and
// ordinary spending leave unexplained (status.balanceResiduals), and claims
// the master's external movements one of them explains.

const (
	// maxResiduals bounds status.balanceResiduals; residualTTL is how long
	// one is kept for a movement the master's records show later.
	maxResiduals = 10
	residualTTL  = 48 * time.Hour
	// maxExternal bounds status.externalMovements.latest.
	maxExternal = 20
)

// minTolerance is the least spending an interval between two reads is
// assumed to hide.
var minTolerance = money.MustParse("1.00")

// noteResiduals compares a fresh read of the reclaimable cash (and credit,
// when read) with the previous one: what changed beyond the operator's
// movements between the two reads and beyond what ordinary spending
// explains is kept in status.balanceResiduals. Nothing is kept for an
// interval in which a movement of the operator's may have landed on either
// side of a read.
func (r *Reconciler) noteResiduals(ctx context.Context, s *scope, cash *money.Amount, credit *money.Amount) error {
	st := s.status()
	type reading struct {
		bt        budgetv1alpha1.BalanceType
		prev, now money.Amount
		since     *metav1.Time
	}
	var reads []reading
	if cash != nil && s.before.ReclaimableCashTime != nil && s.before.CustomerID == s.customerID {
		reads = append(reads, reading{budgetv1alpha1.BalanceTypeDebit, s.before.ReclaimableCash.Amount(), *cash, s.before.ReclaimableCashTime})
	}
	if credit != nil && s.before.ReclaimableCreditTime != nil && s.before.CustomerID == s.customerID {
		var prev money.Amount
		for _, l := range s.before.ReclaimableCredit {
			prev = prev.Add(l.Available.Amount())
		}
		reads = append(reads, reading{budgetv1alpha1.BalanceTypeCredit, prev, *credit, s.before.ReclaimableCreditTime})
	}
	kept := slices.DeleteFunc(slices.Clone(st.BalanceResiduals), func(b budgetv1alpha1.BalanceResidual) bool {
		return s.now.Sub(b.To.Time) > residualTTL
	})
	if len(reads) > 0 {
		known, err := r.knownMovements(ctx, s.ea.Name)
		if err != nil {
			return err
		}
		for _, rd := range reads {
			from := rd.since.Time
			net, ok := movements.OperatorNet(known, s.customerID, rd.bt, from, s.now)
			if !ok {
				continue
			}
			res := rd.now.Sub(rd.prev).Sub(net)
			tol := spendingTolerance(s, s.now.Sub(from))
			b := budgetv1alpha1.BalanceResidual{From: *rd.since, To: *stamp(s.now), BalanceType: rd.bt, Tolerance: common.Money(tol)}
			switch {
			case res.IsPositive():
				b.Direction, b.Amount = budgetv1alpha1.MovementIn, common.Money(res)
			case res.Neg().Cmp(tol) > 0:
				b.Direction, b.Amount = budgetv1alpha1.MovementOut, common.Money(res.Neg())
			default:
				continue // ordinary spending
			}
			kept = append(kept, b)
		}
	}
	if len(kept) > maxResiduals {
		kept = kept[len(kept)-maxResiduals:]
	}
	if len(kept) == 0 {
		kept = nil
	}
	st.BalanceResiduals = kept
	return nil
}

// spendingTolerance is the most ordinary spending is assumed to take in d:
// three times the daily rate the forecast or the cycle's bill shows, and
// never less than minTolerance.
func spendingTolerance(s *scope, d time.Duration) money.Amount {
	st := s.status()
	var rate money.Amount
	if f := st.Forecast; f != nil {
		rate = f.DailyRate.Amount()
	}
	const day = int64(24 * time.Hour / time.Second)
	if c := st.CurrentCycle; c != nil {
		if elapsed := int64(s.now.Sub(billcycle.Start(s.now)) / time.Second); elapsed >= day {
			rate = money.Max(rate, c.Consumption.Amount().MulDiv(day, elapsed))
		}
	}
	return money.Max(minTolerance, rate.MulDiv(3*int64(d/time.Second), day))
}

// knownMovements are the operator's cash and credit movements for the
// master: BudgetTransfers and the audit trail's entries.
func (r *Reconciler) knownMovements(ctx context.Context, ea string) ([]movements.Known, error) {
	return common.KnownMovements(ctx, r, ea)
}

// claimExternal claims the master's external movements that one of the
// SubAccount's balance residuals explains: each is added to
// status.externalMovements (with the cycle's totals), announced with a
// Warning event, and its residual is used up.
func (r *Reconciler) claimExternalMovements(_ context.Context, s *scope) (ctrl.Result, error) {
	st := s.status()
	cycle := billcycle.Of(s.now)
	em := st.ExternalMovements
	if em != nil && em.Cycle != cycle {
		em = &budgetv1alpha1.ExternalMovements{Cycle: cycle, Latest: em.Latest}
	}
	var master []budgetv1alpha1.ExternalMovement
	if s.ea.Status.ExternalMovements != nil {
		master = s.ea.Status.ExternalMovements.Latest
	}
	for i := len(master) - 1; i >= 0; i-- { // oldest first
		m := master[i]
		if m.SubAccount != "" && m.SubAccount != s.sa.Name {
			continue
		}
		if em != nil && slices.ContainsFunc(em.Latest, func(x budgetv1alpha1.ExternalMovement) bool { return x.ID == m.ID }) {
			continue
		}
		j := slices.IndexFunc(st.BalanceResiduals, func(b budgetv1alpha1.BalanceResidual) bool { return movements.Explains(b, m) })
		if j < 0 {
			continue
		}
		st.BalanceResiduals = slices.Delete(slices.Clone(st.BalanceResiduals), j, j+1)
		if len(st.BalanceResiduals) == 0 {
			st.BalanceResiduals = nil
		}
		if em == nil {
			em = &budgetv1alpha1.ExternalMovements{Cycle: cycle}
		}
		m.SubAccount = s.sa.Name
		if billcycle.Of(m.Time.Time) == cycle {
			if m.Direction == budgetv1alpha1.MovementIn {
				em.In = common.Money(em.In.Amount().Add(m.Amount.Amount()))
			} else {
				em.Out = common.Money(em.Out.Amount().Add(m.Amount.Amount()))
			}
		}
		em.Latest = append([]budgetv1alpha1.ExternalMovement{m}, em.Latest...)
		if len(em.Latest) > maxExternal {
			em.Latest = em.Latest[:maxExternal]
		}
		verb := "transferred to"
		if m.Direction == budgetv1alpha1.MovementOut {
			verb = "reclaimed from"
		}
		s.warn(budgetv1alpha1.EventExternalMovement, actionAlert, fmt.Sprintf(
			"the master %s %s %s this sub-account at %s outside the operator (record %s, trade_id %s): no BudgetTransfer accounts for it, and the reclaimable balance changed by it",
			verb, m.Amount, m.BalanceType, m.Time.UTC().Format(time.RFC3339), m.ID, m.TradeID))
	}
	st.ExternalMovements = em
	if em != nil {
		metrics.SubAccountExternalMovements.WithLabelValues(s.sa.Name, "in").Set(metrics.Fen(em.In.Amount()))
		metrics.SubAccountExternalMovements.WithLabelValues(s.sa.Name, "out").Set(metrics.Fen(em.Out.Amount()))
	}
	return ctrl.Result{}, nil
}

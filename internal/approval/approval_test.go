package approval

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

const (
	xfer  = budgetv1alpha1.OperationTransfer
	cxfer = budgetv1alpha1.OperationCouponTransfer
	recl  = budgetv1alpha1.OperationReclaim
)

func amt(s string) *money.Amount { a := money.MustParse(s); return &a }

func moneyOf(s string) *budgetv1alpha1.Money { m := budgetv1alpha1.Money(s); return &m }

func TestSettingsOf(t *testing.T) {
	s, err := SettingsOf(&budgetv1alpha1.Approval{AutoApproveUpTo: moneyOf("20000")})
	if err != nil || *s.PerTransfer != *amt("20000") || *s.PerCycle != *amt("20000") || s.Key() != "20000.00" {
		t.Errorf("cycle budget defaults to autoApproveUpTo: %+v, %v, key %q", s, err, s.Key())
	}
	s, err = SettingsOf(&budgetv1alpha1.Approval{AutoApproveUpTo: moneyOf("100"), AutoApproveCyclePerSubAccount: moneyOf("250.5")})
	if err != nil || *s.PerCycle != *amt("250.50") || s.Key() != "100.00/250.50" {
		t.Errorf("explicit cycle budget: %+v, %v, key %q", s, err, s.Key())
	}
	if s, err := SettingsOf(nil); err != nil || s.Key() != "" || Decide(s, xfer, *amt("1000000"), money.Zero, "a", "2026-12").Needed {
		t.Errorf("no settings: %+v, %v", s, err)
	}
	if _, err := SettingsOf(&budgetv1alpha1.Approval{AutoApproveUpTo: moneyOf("1.234")}); err == nil {
		t.Error("an unparsable limit was accepted")
	}
}

func TestDecide(t *testing.T) {
	s := Settings{PerTransfer: amt("20000"), PerCycle: amt("20000")}
	cases := []struct {
		name       string
		s          Settings
		op         budgetv1alpha1.TransferOperation
		amount     string
		used       string
		needed     bool
		limit, msg string
	}{
		{name: "within both", s: s, op: xfer, amount: "20000", used: "0"},
		{name: "above per transfer", s: s, op: xfer, amount: "20000.01", used: "0", needed: true,
			limit: "autoApproveUpTo 20000.00", msg: "Transfer 20000.01 is above the auto-approval limit 20000.00 per transfer"},
		{name: "second transfer of the cycle", s: s, op: xfer, amount: "20000", used: "20000", needed: true,
			limit: "autoApproveCyclePerSubAccount 20000.00",
			msg:   "Transfer 20000.00 would take what moved to sub-account team-a without approval in bill cycle 2026-12 to 40000.00, above the auto-approval budget 20000.00 per sub-account and cycle"},
		{name: "coupons count", s: s, op: cxfer, amount: "0.01", used: "20000", needed: true, limit: "autoApproveCyclePerSubAccount 20000.00"},
		{name: "reclaims never wait", s: s, op: recl, amount: "99999", used: "99999"},
		{name: "cycle budget alone", s: Settings{PerCycle: amt("100")}, op: xfer, amount: "60", used: "50", needed: true, limit: "autoApproveCyclePerSubAccount 100.00"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := Decide(tc.s, tc.op, *amt(tc.amount), *amt(tc.used), "team-a", "2026-12")
			if v.Needed != tc.needed || v.Limit != tc.limit || (tc.msg != "" && v.Message != tc.msg) {
				t.Errorf("got %+v", v)
			}
		})
	}
	if v := Unreadable("EnterpriseAccount \"acme\": not found"); !v.Needed || !strings.Contains(v.Message, "not found") {
		t.Errorf("unreadable settings must wait: %+v", v)
	}
}

// TestUsedNeverLetsSplitsPass raises an allocation in many small steps, as
// several allocations of one sub-account would, and checks that what moves
// without approval in a cycle stays within the budget whatever the order of
// the decisions.
func TestUsedNeverLetsSplitsPass(t *testing.T) {
	s := Settings{PerTransfer: amt("20000"), PerCycle: amt("20000")}
	t0 := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	cycleOf := func(t time.Time) string { return t.Format("2006-01") }
	// Four transfers of 20000.00 created a second apart (three allocations
	// and a raise), decided newest first, then oldest first.
	for _, order := range [][]int{{3, 2, 1, 0}, {0, 1, 2, 3}, {2, 0, 3, 1}} {
		ms := make([]Movement, 4)
		for i := range ms {
			ms[i] = Movement{Namespace: "team-a", Name: string(rune('a' + i)), Operation: xfer, Amount: *amt("20000"), Created: t0.Add(time.Duration(i) * time.Second)}
		}
		var auto money.Amount
		for _, i := range order {
			v := Decide(s, xfer, ms[i].Amount, Used(ms, ms[i], "2026-12", cycleOf), "team-a", "2026-12")
			if v.Needed {
				ms[i].Phase = budgetv1alpha1.PhaseAwaitingApproval
				continue
			}
			ms[i].Phase = budgetv1alpha1.PhaseSubmitting
			auto = auto.Add(ms[i].Amount)
		}
		if auto.Cmp(*s.PerCycle) > 0 || auto.IsZero() {
			t.Errorf("order %v: %s moved without approval, budget %s", order, auto, s.PerCycle)
		}
	}
	// Approved, failed, waiting and last cycle's transfers draw nothing.
	m := Movement{Namespace: "n", Name: "new", Operation: xfer, Amount: *amt("1"), Created: t0.Add(time.Hour)}
	others := []Movement{
		{Namespace: "n", Name: "approved", Operation: xfer, Amount: *amt("5000"), Created: t0, Phase: budgetv1alpha1.PhaseSucceeded, Approved: true},
		{Namespace: "n", Name: "failed", Operation: xfer, Amount: *amt("5000"), Created: t0, Phase: budgetv1alpha1.PhaseFailed},
		{Namespace: "n", Name: "waiting", Operation: xfer, Amount: *amt("5000"), Created: t0, Phase: budgetv1alpha1.PhaseAwaitingApproval},
		{Namespace: "n", Name: "november", Operation: xfer, Amount: *amt("5000"), Created: t0.AddDate(0, -1, 0), Phase: budgetv1alpha1.PhaseSucceeded},
		{Namespace: "n", Name: "reclaim", Operation: recl, Amount: *amt("5000"), Created: t0, Phase: budgetv1alpha1.PhaseSucceeded},
		{Namespace: "n", Name: "later-unsent", Operation: xfer, Amount: *amt("5000"), Created: t0.Add(2 * time.Hour)},
		{Namespace: "n", Name: "counted", Operation: cxfer, Amount: *amt("7"), Created: t0, Phase: budgetv1alpha1.PhaseSucceeded},
		{Namespace: "n", Name: "later-sent", Operation: xfer, Amount: *amt("3"), Created: t0.Add(2 * time.Hour), Phase: budgetv1alpha1.PhaseSubmitting},
	}
	if got := Used(others, m, "2026-12", cycleOf); got != *amt("10") {
		t.Errorf("Used = %s, want 10.00", got)
	}
}

// Transfers and order payments draw on one cycle budget per sub-account:
// a payment counts what moved to the sub-account, and a transfer counts
// what was paid for it.
func TestPaymentsAndTransfersShareTheCycleBudget(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	cycleOf := func(time.Time) string { return "2026-12" }
	bt := budgetv1alpha1.BudgetTransfer{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "t1", CreationTimestamp: metav1.NewTime(at)},
		Spec:       budgetv1alpha1.BudgetTransferSpec{CustomerID: "c1", Operation: xfer, Amount: "60.00"},
		Status:     budgetv1alpha1.BudgetTransferStatus{Phase: budgetv1alpha1.PhaseSucceeded},
	}
	payment := func(name, amount string, phase budgetv1alpha1.PaymentPhase, reason string) budgetv1alpha1.OrderPayment {
		return budgetv1alpha1.OrderPayment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, CreationTimestamp: metav1.NewTime(at)},
			Status: budgetv1alpha1.OrderPaymentStatus{CustomerID: "c1", Amount: budgetv1alpha1.Money(amount), Phase: phase,
				Conditions: []metav1.Condition{{Type: budgetv1alpha1.ConditionReady, Reason: reason}}},
		}
	}
	payments := []budgetv1alpha1.OrderPayment{
		payment("paid", "30.00", budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid),
		payment("paying", "5.00", budgetv1alpha1.PaymentPaying, budgetv1alpha1.ReasonPaying),
		payment("elsewhere", "1000.00", budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaidElsewhere),
		payment("failed", "1000.00", budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonBSSError),
	}
	s, _ := SettingsOf(&budgetv1alpha1.Approval{AutoApproveUpTo: moneyOf("100")})
	// A new payment sees the transfer and the two payments that spent.
	m := Movement{Namespace: "other", Name: "new", Operation: PayOrder, Created: at.Add(time.Minute)}
	used := UsedBy([]budgetv1alpha1.BudgetTransfer{bt}, payments, "c1", m, "2026-12", cycleOf)
	if used != *amt("95.00") {
		t.Fatalf("used %s, want 95.00", used)
	}
	if v := Decide(s, PayOrder, *amt("5.00"), used, "sa", "2026-12"); v.Needed {
		t.Errorf("5.00 on 95.00: %+v", v)
	}
	if v := Decide(s, PayOrder, *amt("5.01"), used, "sa", "2026-12"); !v.Needed || !strings.Contains(v.Limit, "autoApproveCyclePerSubAccount") {
		t.Errorf("5.01 on 95.00: %+v", v)
	}
	// A transfer counts the payments the same way.
	m = MovementOf(&budgetv1alpha1.BudgetTransfer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "t2", CreationTimestamp: metav1.NewTime(at.Add(time.Minute))},
		Spec: budgetv1alpha1.BudgetTransferSpec{CustomerID: "c1", Operation: xfer, Amount: "10.00"}})
	if used := UsedBy([]budgetv1alpha1.BudgetTransfer{bt}, payments, "c1", m, "2026-12", cycleOf); used != *amt("95.00") {
		t.Errorf("transfer sees %s used, want 95.00", used)
	}
	if mv := MovementOfPayment(&payments[2]); mv.Phase != budgetv1alpha1.PhaseFailed {
		t.Errorf("a payment that found its order paid elsewhere counts as %s", mv.Phase)
	}
}

package budgettransfer

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Outcomes that BSS's answer alone does not prove, under each declared
// BSS behaviour (docs/exactly-once.md §7).

// declare sets the master's declared BSS behaviour.
func (g *rig) declare(b budgetv1alpha1.BSSBehaviour) {
	g.t.Helper()
	var ea budgetv1alpha1.EnterpriseAccount
	if err := g.k8s.Get(context.Background(), client.ObjectKey{Name: master}, &ea); err != nil {
		g.t.Fatal(err)
	}
	ea.Spec.BSSBehaviour = &b
	if err := g.k8s.Update(context.Background(), &ea); err != nil {
		g.t.Fatal(err)
	}
}

// leftSubmitting stores a transfer as a crashed manager leaves it: one
// attempt recorded, its answer never written.
func (g *rig) leftSubmitting(bt *budgetv1alpha1.BudgetTransfer, submitted time.Time) *budgetv1alpha1.BudgetTransfer {
	g.t.Helper()
	at := metav1.NewTime(submitted)
	bt.Status = budgetv1alpha1.BudgetTransferStatus{Phase: budgetv1alpha1.PhaseSubmitting, Attempts: 1, SubmittedTime: &at, LastAttemptTime: &at}
	if err := g.k8s.Status().Update(context.Background(), bt); err != nil {
		g.t.Fatal(err)
	}
	return bt
}

// lostAnswers makes every money write apply and lose its answer.
func (g *rig) lostAnswers() {
	g.bss.Fault = func(op string) (error, error) {
		return nil, &bss.TransportError{Operation: op, Timeout: true}
	}
}

// TestLostAnswerSettledByTheMastersBalance: with nothing declared, a lost
// answer is settled at once by the master's balance read right before and
// right after the attempt, without a resend.
func TestLostAnswerSettledByTheMastersBalance(t *testing.T) {
	for _, op := range []budgetv1alpha1.TransferOperation{budgetv1alpha1.OperationTransfer, budgetv1alpha1.OperationReclaim} {
		t.Run(string(op), func(t *testing.T) {
			g := newRig(t)
			g.bss.SetSub(customer, money.MustParse("100"))
			g.lostAnswers()
			_, got := g.reconcile(g.create("b1", op, "40"))
			if got.Status.Phase != budgetv1alpha1.PhaseSucceeded || got.Status.Attempts != 1 {
				t.Fatalf("phase %s after %d attempts", got.Status.Phase, got.Status.Attempts)
			}
			if ev := got.Status.Evidence; ev == nil || ev.Kind != budgetv1alpha1.EvidenceBalance {
				t.Fatalf("evidence %+v", ev)
			}
			want := map[budgetv1alpha1.TransferOperation]string{budgetv1alpha1.OperationTransfer: "140.00", budgetv1alpha1.OperationReclaim: "60.00"}[op]
			if g.bss.Cash(customer).String() != want {
				t.Errorf("sub-account has %s, want %s", g.bss.Cash(customer), want)
			}
			if n := g.bss.Calls[bss.OpShowMultiAccountTransferAmount]; n != 2 {
				t.Errorf("%d reads of the master's balance, want 2 (before and after)", n)
			}
		})
	}
}

// TestBalanceThatMovedOtherwiseProvesNothing: the master's balance moved
// by something else as well; the transfer stays Submitting and is resent.
func TestBalanceThatMovedOtherwiseProvesNothing(t *testing.T) {
	g := newRig(t)
	g.bss.Fault = func(op string) (error, error) {
		// Something outside the operator spends the master's money at the
		// same time.
		g.bss.SetCash(money.MustParse("990"))
		return &bss.TransportError{Operation: op, Timeout: true}, nil
	}
	_, got := g.reconcile(g.create("b2", budgetv1alpha1.OperationTransfer, "40"))
	if got.Status.Phase != budgetv1alpha1.PhaseSubmitting || got.Status.Evidence != nil {
		t.Fatalf("phase %s, evidence %+v", got.Status.Phase, got.Status.Evidence)
	}
}

// TestBurnedTransIDAfterACrash is the crash of issue (a): BSS refused the
// first attempt and remembers the refused trans_id; the manager died
// before it wrote Failed. The resend answers CBC.99007009, which must not
// record money that never moved.
func TestBurnedTransIDAfterACrash(t *testing.T) {
	cases := []struct {
		name       string
		declared   budgetv1alpha1.BSSBehaviour
		wantPhase  budgetv1alpha1.TransferPhase
		wantReason string
	}{
		{"records carry trans_ids", budgetv1alpha1.BSSBehaviour{TransferRecords: budgetv1alpha1.RecordsWithTransID},
			budgetv1alpha1.PhaseFailed, budgetv1alpha1.ReasonTransIDBurned},
		{"nothing declared", budgetv1alpha1.BSSBehaviour{},
			budgetv1alpha1.PhaseSubmitting, budgetv1alpha1.ReasonOutcomeUnknown},
		{"no records", budgetv1alpha1.BSSBehaviour{RefusedTransIDs: budgetv1alpha1.RefusedTransIDsBurned, TransferRecords: budgetv1alpha1.RecordsNone},
			budgetv1alpha1.PhaseSubmitting, budgetv1alpha1.ReasonOutcomeUnknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newRig(t)
			g.bss.BurnRefused = true
			g.declare(c.declared)
			bt := g.create("burn", budgetv1alpha1.OperationTransfer, "40")
			// The first attempt, refused: the master had too little.
			g.bss.SetCash(money.MustParse("10"))
			if err := g.bss.TransferAmount(context.Background(), bss.AmountTransferRequest{CustomerID: customer, Amount: money.MustParse("40"),
				TransID: bt.Spec.TransID, BalanceType: bss.BalanceTypeDebit}); !bss.IsTerminal(err) {
				t.Fatalf("first attempt: %v", err)
			}
			g.bss.SetCash(money.MustParse("1000"))
			_, got := g.reconcile(g.leftSubmitting(bt, t0.Add(-time.Minute)))
			if got.Status.Phase != c.wantPhase || readyReason(got) != c.wantReason {
				t.Fatalf("phase %s reason %s, want %s %s: %s", got.Status.Phase, readyReason(got), c.wantPhase, c.wantReason, readyMessage(got))
			}
			if !g.bss.Cash(customer).IsZero() {
				t.Errorf("money moved: %s", g.bss.Cash(customer))
			}
			// Stopped for good: later reconciles send nothing more.
			calls := g.bss.Calls[bss.OpUpdateSubEnterpriseAmount]
			g.clock.Step(10 * time.Minute)
			g.reconcile(got)
			if n := g.bss.Calls[bss.OpUpdateSubEnterpriseAmount]; n != calls {
				t.Errorf("resent after the verdict: %d calls, then %d", calls, n)
			}
		})
	}
}

// TestAppliedBeforeACrashIsConfirmedByRecords: the first attempt was
// applied and the manager died; the resend's CBC.99007009 is confirmed
// by the master's record of the trans_id, with nothing declared.
func TestAppliedBeforeACrashIsConfirmedByRecords(t *testing.T) {
	g := newRig(t)
	bt := g.create("crash", budgetv1alpha1.OperationTransfer, "40")
	if err := g.bss.TransferAmount(context.Background(), bss.AmountTransferRequest{CustomerID: customer, Amount: money.MustParse("40"),
		TransID: bt.Spec.TransID, BalanceType: bss.BalanceTypeDebit}); err != nil {
		t.Fatal(err)
	}
	_, got := g.reconcile(g.leftSubmitting(bt, t0.Add(-time.Minute)))
	if got.Status.Phase != budgetv1alpha1.PhaseSucceeded || got.Status.Result == nil || !got.Status.Result.AlreadyApplied {
		t.Fatalf("phase %s result %+v: %s", got.Status.Phase, got.Status.Result, readyMessage(got))
	}
	if ev := got.Status.Evidence; ev == nil || ev.Kind != budgetv1alpha1.EvidenceRecords || !strings.Contains(ev.Detail, bt.Spec.TransID) {
		t.Errorf("evidence %+v", ev)
	}
	if g.bss.Cash(customer) != money.MustParse("40") {
		t.Errorf("sub-account has %s, want 40.00", g.bss.Cash(customer))
	}
}

// TestAppliedBeforeACrashWithoutRecordsIsOutcomeUnknown: the same crash
// where the records carry no trans_ids: nothing proves the movement, and
// the transfer waits for an administrator instead of passing as Succeeded.
func TestAppliedBeforeACrashWithoutRecordsIsOutcomeUnknown(t *testing.T) {
	g := newRig(t)
	g.bss.NoRecords = true
	bt := g.create("crash", budgetv1alpha1.OperationTransfer, "40")
	if err := g.bss.TransferAmount(context.Background(), bss.AmountTransferRequest{CustomerID: customer, Amount: money.MustParse("40"),
		TransID: bt.Spec.TransID, BalanceType: bss.BalanceTypeDebit}); err != nil {
		t.Fatal(err)
	}
	_, got := g.reconcile(g.leftSubmitting(bt, t0.Add(-time.Minute)))
	if got.Status.Phase != budgetv1alpha1.PhaseSubmitting || readyReason(got) != budgetv1alpha1.ReasonOutcomeUnknown {
		t.Fatalf("phase %s reason %s", got.Status.Phase, readyReason(got))
	}
	if msg := readyMessage(got); !strings.Contains(msg, "CBC.99007009") || !strings.Contains(msg, budgetv1alpha1.AnnotationResolve) {
		t.Errorf("message does not say why and what to do: %s", msg)
	}
}

// TestCouponReclaimBurned: a coupon reclaim answered CBC.99007009 while
// its sub-coupon is still on the sub-account moved nothing.
func TestCouponReclaimBurned(t *testing.T) {
	g := newRig(t)
	g.bss.BurnRefused = true
	_, given := g.reconcile(g.create("c1", budgetv1alpha1.OperationCouponTransfer, "20", func(s *budgetv1alpha1.BudgetTransferSpec) {
		s.CouponID, s.BalanceType = "CP1", ""
	}))
	sub := given.Status.Result.SubCouponID
	bt := g.create("c2", budgetv1alpha1.OperationCouponReclaim, "", func(s *budgetv1alpha1.BudgetTransferSpec) {
		s.CouponID, s.SubCouponID, s.BalanceType = "CP1", sub, ""
	})
	// A first attempt naming the wrong coupon is refused, and burns the
	// trans_id.
	if _, err := g.bss.ReclaimCoupon(context.Background(), bss.CouponReclaimRequest{CustomerID: customer, CouponID: "CP-other", SubCouponID: sub, TransID: bt.Spec.TransID}); !bss.IsTerminal(err) {
		t.Fatalf("first attempt: %v", err)
	}
	_, got := g.reconcile(g.leftSubmitting(bt, t0.Add(-time.Minute)))
	if got.Status.Phase != budgetv1alpha1.PhaseFailed || readyReason(got) != budgetv1alpha1.ReasonTransIDBurned {
		t.Fatalf("phase %s reason %s: %s", got.Status.Phase, readyReason(got), readyMessage(got))
	}
}

// TestNoResendPastTheDeclaredRetention: BSS is declared to forget a
// trans_id after 10 minutes; a transfer first sent longer ago than that
// (less a minute) is not resent, although the safety window is an hour.
func TestNoResendPastTheDeclaredRetention(t *testing.T) {
	g := newRig(t)
	g.declare(budgetv1alpha1.BSSBehaviour{TransIDRetention: &metav1.Duration{Duration: 10 * time.Minute}})
	bt := g.leftSubmitting(g.create("old", budgetv1alpha1.OperationTransfer, "40"), t0)
	g.clock.SetTime(t0.Add(9*time.Minute + time.Second))
	_, got := g.reconcile(bt)
	if got.Status.Phase != budgetv1alpha1.PhaseSubmitting || readyReason(got) != budgetv1alpha1.ReasonOutcomeUnknown {
		t.Fatalf("phase %s reason %s", got.Status.Phase, readyReason(got))
	}
	if g.bss.Calls[bss.OpUpdateSubEnterpriseAmount] != 0 {
		t.Errorf("resent past the retention")
	}
	if !strings.Contains(readyMessage(got), "remember a trans_id for 10m0s") {
		t.Errorf("message does not name the retention: %s", readyMessage(got))
	}
	// Within the window, it is resent.
	g2 := newRig(t)
	g2.declare(budgetv1alpha1.BSSBehaviour{TransIDRetention: &metav1.Duration{Duration: 10 * time.Minute}})
	bt2 := g2.leftSubmitting(g2.create("young", budgetv1alpha1.OperationTransfer, "40"), t0)
	g2.clock.SetTime(t0.Add(8 * time.Minute))
	if _, got := g2.reconcile(bt2); got.Status.Phase != budgetv1alpha1.PhaseSucceeded {
		t.Errorf("within the retention: phase %s", got.Status.Phase)
	}
}

func readyReason(bt *budgetv1alpha1.BudgetTransfer) string {
	for _, c := range bt.Status.Conditions {
		if c.Type == budgetv1alpha1.ConditionReady {
			return c.Reason
		}
	}
	return ""
}

func readyMessage(bt *budgetv1alpha1.BudgetTransfer) string {
	for _, c := range bt.Status.Conditions {
		if c.Type == budgetv1alpha1.ConditionReady {
			return c.Message
		}
	}
	return ""
}

// TestFirstAttemptAlreadyAppliedIsLedgerBehindBSS: BSS answers
// CBC.99007009 to a transfer's very first attempt (its allocation was
// restored from a backup and plans a step BSS has seen). That is never
// counted as this step's success, whatever is declared; the transfer
// stops with the records' evidence for the administrator.
func TestFirstAttemptAlreadyAppliedIsLedgerBehindBSS(t *testing.T) {
	for _, declared := range []budgetv1alpha1.BSSBehaviour{{}, {RefusedTransIDs: budgetv1alpha1.RefusedTransIDsReusable}} {
		t.Run(declared.RefusedTransIDs, func(t *testing.T) {
			g := newRig(t)
			g.declare(declared)
			bt := g.create("restored", budgetv1alpha1.OperationTransfer, "150")
			// The allocation's previous life moved 100 under this trans_id.
			if err := g.bss.TransferAmount(context.Background(), bss.AmountTransferRequest{CustomerID: customer, Amount: money.MustParse("100"),
				TransID: bt.Spec.TransID, BalanceType: bss.BalanceTypeDebit}); err != nil {
				t.Fatal(err)
			}
			_, got := g.reconcile(bt)
			if got.Status.Phase != budgetv1alpha1.PhaseSubmitting || readyReason(got) != budgetv1alpha1.ReasonLedgerBehindBSS {
				t.Fatalf("phase %s reason %s: %s", got.Status.Phase, readyReason(got), readyMessage(got))
			}
			if !strings.Contains(readyMessage(got), "100.00") {
				t.Errorf("the message does not name what BSS moved: %s", readyMessage(got))
			}
			g.clock.Step(time.Hour)
			g.reconcile(got)
			if n := g.bss.Calls[bss.OpUpdateSubEnterpriseAmount]; n != 2 {
				t.Errorf("%d calls, want the first and one attempt", n)
			}
			if g.bss.Cash(customer) != money.MustParse("100") {
				t.Errorf("sub-account has %s, want 100.00", g.bss.Cash(customer))
			}
		})
	}
}

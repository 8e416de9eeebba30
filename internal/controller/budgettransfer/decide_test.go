package budgettransfer

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

var (
	t0     = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	timing = Timing{SafetyWindow: 24 * time.Hour, RetryBase: 2 * time.Second, RetryMax: resendMax}
)

type transferState func(*budgetv1alpha1.BudgetTransfer)

func phase(p budgetv1alpha1.TransferPhase) transferState {
	return func(bt *budgetv1alpha1.BudgetTransfer) { bt.Status.Phase = p }
}

// attempted: Submitting, attempts made, the first at first, the last at last.
func attempted(attempts int32, first, last time.Time) transferState {
	return func(bt *budgetv1alpha1.BudgetTransfer) {
		f, l := metav1.NewTime(first), metav1.NewTime(last)
		bt.Status.Phase, bt.Status.Attempts, bt.Status.SubmittedTime, bt.Status.LastAttemptTime = budgetv1alpha1.PhaseSubmitting, attempts, &f, &l
	}
}

func condition(typ string) transferState {
	return func(bt *budgetv1alpha1.BudgetTransfer) {
		bt.Status.Conditions = append(bt.Status.Conditions, metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: "ByFinance"})
	}
}

// reason sets the Ready condition's reason, as a decision before wrote it.
func reason(r string) transferState {
	return func(bt *budgetv1alpha1.BudgetTransfer) {
		bt.Status.Conditions = append(bt.Status.Conditions, metav1.Condition{Type: budgetv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: r})
	}
}

func annotated(key, value string) transferState {
	return func(bt *budgetv1alpha1.BudgetTransfer) {
		if bt.Annotations == nil {
			bt.Annotations = map[string]string{}
		}
		bt.Annotations[key] = value
	}
}

func deleted(bt *budgetv1alpha1.BudgetTransfer) {
	now := metav1.NewTime(t0)
	bt.DeletionTimestamp = &now
}

// TestNextStepAtEveryCrashPoint walks the crash-point table of
// docs/exactly-once.md §5 (and the deletion, withdrawal and approval rows
// of §2): for the state a crash leaves behind, the next reconcile's step.
func TestNextStepAtEveryCrashPoint(t *testing.T) {
	cases := []struct {
		name  string
		state []transferState
		want  Next
	}{
		{"created, no phase yet (Pending)", nil, Next{Action: ActionDecideApproval}},
		{"Pending written while the master had no connection", []transferState{phase(budgetv1alpha1.PhasePending)}, Next{Action: ActionDecideApproval}},
		{"waiting for approval", []transferState{phase(budgetv1alpha1.PhaseAwaitingApproval)}, Next{Action: ActionAwait}},
		{"approved, Submitting not written yet", []transferState{phase(budgetv1alpha1.PhaseAwaitingApproval), condition(budgetv1alpha1.ConditionApproved)}, Next{Action: ActionCheckAllocation}},
		{"denied", []transferState{phase(budgetv1alpha1.PhaseAwaitingApproval), condition(budgetv1alpha1.ConditionDenied)}, Next{Action: ActionDeny}},
		{"approved and denied: the denial wins", []transferState{phase(budgetv1alpha1.PhaseAwaitingApproval), condition(budgetv1alpha1.ConditionApproved), condition(budgetv1alpha1.ConditionDenied)}, Next{Action: ActionDeny}},
		{"withdrawal asked while waiting for approval", []transferState{phase(budgetv1alpha1.PhaseAwaitingApproval), condition(budgetv1alpha1.ConditionApproved), annotated(budgetv1alpha1.AnnotationWithdraw, "the allocation was Paused")}, Next{Action: ActionWithdraw, Why: "the allocation was Paused"}},
		{"withdrawal asked too late: already Submitting", []transferState{attempted(1, t0.Add(-time.Minute), t0.Add(-time.Minute)), annotated(budgetv1alpha1.AnnotationWithdraw, "late")}, Next{Action: ActionSend}},
		{"Submitting written, request never left, backoff over", []transferState{attempted(1, t0.Add(-3*time.Second), t0.Add(-3*time.Second))}, Next{Action: ActionSend}},
		{"Submitting, within the backoff", []transferState{attempted(2, t0.Add(-time.Second), t0.Add(-time.Second))}, Next{Action: ActionBackoff, After: 3 * time.Second}},
		{"backoff capped at 5 minutes", []transferState{attempted(20, t0.Add(-time.Hour), t0)}, Next{Action: ActionBackoff, After: resendMax}},
		{"Submitting past the safety window", []transferState{attempted(9, t0.Add(-25*time.Hour), t0.Add(-time.Hour))}, Next{Action: ActionOutcomeUnknown}},
		// CBC.99007009 that nothing confirmed: stopped although the window
		// is open and a resend is due.
		{"OutcomeUnknown within the safety window", []transferState{attempted(2, t0.Add(-time.Hour), t0.Add(-time.Hour)), reason(budgetv1alpha1.ReasonOutcomeUnknown)}, Next{Action: ActionOutcomeUnknown}},
		{"OutcomeUnknown resolved", []transferState{attempted(2, t0.Add(-time.Hour), t0.Add(-time.Hour)), reason(budgetv1alpha1.ReasonOutcomeUnknown),
			annotated(budgetv1alpha1.AnnotationResolve, "Failed")}, Next{Action: ActionResolve}},
		{"resolved by an administrator", []transferState{attempted(9, t0.Add(-25*time.Hour), t0.Add(-time.Hour)), annotated(budgetv1alpha1.AnnotationResolve, "Succeeded")}, Next{Action: ActionResolve}},
		{"resolve annotation on a transfer never sent does nothing", []transferState{annotated(budgetv1alpha1.AnnotationResolve, "Succeeded")}, Next{Action: ActionDecideApproval}},
		{"Succeeded", []transferState{phase(budgetv1alpha1.PhaseSucceeded)}, Next{Action: ActionNothing}},
		{"Failed", []transferState{phase(budgetv1alpha1.PhaseFailed)}, Next{Action: ActionNothing}},
		{"deleted and settled", []transferState{phase(budgetv1alpha1.PhaseSucceeded), deleted}, Next{Action: ActionRelease}},
		{"deleted before it was sent", []transferState{deleted}, Next{Action: ActionWithdraw, Why: "it was deleted (with its allocation)"}},
		{"deleted while waiting for approval, even if approved", []transferState{phase(budgetv1alpha1.PhaseAwaitingApproval), condition(budgetv1alpha1.ConditionApproved), deleted}, Next{Action: ActionWithdraw, Why: "it was deleted (with its allocation)"}},
		{"deleted while Submitting: still resent", []transferState{attempted(1, t0.Add(-time.Minute), t0.Add(-time.Minute)), deleted}, Next{Action: ActionSend}},
		{"deleted while Submitting, within the backoff", []transferState{attempted(3, t0, t0), deleted}, Next{Action: ActionBackoff, After: 8 * time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bt := &budgetv1alpha1.BudgetTransfer{}
			for _, s := range tc.state {
				s(bt)
			}
			if got := NextStep(bt, t0, timing); got != tc.want {
				t.Errorf("NextStep = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func bssErr(status int, code string) error {
	return &bss.Error{Operation: bss.OpUpdateSubEnterpriseAmount, HTTPStatus: status, Code: code}
}

// TestInterpretEveryAnswer walks the answer table of docs/exactly-once.md §4.
func TestInterpretEveryAnswer(t *testing.T) {
	submitting := func(reason string, requeue time.Duration) Answer {
		return Answer{Phase: budgetv1alpha1.PhaseSubmitting, Reason: reason, Requeue: requeue}
	}
	failed := Answer{Phase: budgetv1alpha1.PhaseFailed, Reason: budgetv1alpha1.ReasonFailed, Metric: "Failed"}
	// The third attempt backs off 2 s · 2² = 8 s.
	resend := submitting(budgetv1alpha1.ReasonSubmitting, 8*time.Second)
	throttled := &bss.Error{Operation: bss.OpUpdateSubEnterpriseAmount, HTTPStatus: http.StatusTooManyRequests, Code: bss.CodeThrottled, RetryAfter: 30 * time.Second}
	cases := []struct {
		name string
		op   budgetv1alpha1.TransferOperation
		err  error
		want Answer
	}{
		{"2xx", budgetv1alpha1.OperationTransfer, nil, Answer{Phase: budgetv1alpha1.PhaseSucceeded, Reason: budgetv1alpha1.ReasonSucceeded, Metric: "Succeeded"}},
		{"CBC.99007009: applied before", budgetv1alpha1.OperationReclaim, bssErr(400, bss.CodeDuplicateTransID),
			Answer{Phase: budgetv1alpha1.PhaseSucceeded, Reason: budgetv1alpha1.ReasonSucceeded, AlreadyApplied: true, Metric: "AlreadyApplied"}},
		{"CBC.99007009 on a coupon transfer: find its sub-coupon", budgetv1alpha1.OperationCouponTransfer, bssErr(400, bss.CodeDuplicateTransID),
			Answer{Phase: budgetv1alpha1.PhaseSucceeded, Reason: budgetv1alpha1.ReasonSucceeded, AlreadyApplied: true, FindSubCoupon: true, Metric: "AlreadyApplied"}},
		{"CBC.0100 bad request", budgetv1alpha1.OperationTransfer, bssErr(400, "CBC.0100"), failed},
		{"CBC.0101", budgetv1alpha1.OperationTransfer, bssErr(400, "CBC.0101"), failed},
		{"CBC.0151 access denied", budgetv1alpha1.OperationTransfer, bssErr(403, "CBC.0151"), failed},
		{"CBC.0155", budgetv1alpha1.OperationTransfer, bssErr(400, "CBC.0155"), failed},
		{"CBC.0156 wrong site", budgetv1alpha1.OperationTransfer, bssErr(403, "CBC.0156"), failed},
		{"CBC.99000047 no such sub-account", budgetv1alpha1.OperationTransfer, bssErr(400, bss.CodeSubAccountNotFound), failed},
		{"CBC.99005003 insufficient balance", budgetv1alpha1.OperationTransfer, bssErr(400, bss.CodeInsufficientBalance), failed},
		{"CBC.99007004 business check", budgetv1alpha1.OperationTransfer, bssErr(400, bss.CodeCheckItemFailed), failed},
		{"CBC.7004", budgetv1alpha1.OperationTransfer, bssErr(400, "CBC.7004"), failed},
		{"CBC.99007181 credit ledger expired", budgetv1alpha1.OperationTransfer, bssErr(400, "CBC.99007181"), failed},
		{"CBC.7181", budgetv1alpha1.OperationTransfer, bssErr(400, "CBC.7181"), failed},
		{"CBC.7001", budgetv1alpha1.OperationTransfer, bssErr(400, "CBC.7001"), failed},
		{"CBC.18000014", budgetv1alpha1.OperationTransfer, bssErr(400, "CBC.18000014"), failed},
		{"APIG.0101 no such API", budgetv1alpha1.OperationTransfer, bssErr(404, "APIG.0101"), failed},
		{"HTTP 401 without a code", budgetv1alpha1.OperationTransfer, bssErr(401, ""), failed},
		{"HTTP 403 without a code", budgetv1alpha1.OperationTransfer, bssErr(403, ""), failed},
		{"APIG.0301", budgetv1alpha1.OperationTransfer, bssErr(401, "APIG.0301"), failed},
		{"APIG.0306", budgetv1alpha1.OperationTransfer, bssErr(401, "APIG.0306"), failed},
		{"APIG.1009", budgetv1alpha1.OperationTransfer, bssErr(403, "APIG.1009"), failed},
		{"refused client-side: breaks a documented limit", budgetv1alpha1.OperationTransfer, fmt.Errorf("amount too large: %w", bss.ErrInvalidRequest), failed},
		{"a terminal code wins over HTTP 500", budgetv1alpha1.OperationTransfer, bssErr(500, bss.CodeInsufficientBalance), failed},
		{"timeout", budgetv1alpha1.OperationTransfer, &bss.TransportError{Operation: bss.OpUpdateSubEnterpriseAmount, Timeout: true}, resend},
		{"connection reset", budgetv1alpha1.OperationTransfer, &bss.TransportError{Operation: bss.OpUpdateSubEnterpriseAmount}, resend},
		{"the call's deadline", budgetv1alpha1.OperationTransfer, context.DeadlineExceeded, resend},
		{"2xx whose body cannot be read", budgetv1alpha1.OperationTransfer, &bss.DecodeError{Operation: bss.OpUpdateSubEnterpriseAmount, HTTPStatus: 200}, resend},
		{"HTTP 500", budgetv1alpha1.OperationTransfer, bssErr(500, ""), resend},
		{"CBC.0999", budgetv1alpha1.OperationTransfer, bssErr(500, bss.CodeInternal), resend},
		{"CBC.99000043", budgetv1alpha1.OperationTransfer, bssErr(400, "CBC.99000043"), resend},
		{"CBC.99000087", budgetv1alpha1.OperationTransfer, bssErr(400, "CBC.99000087"), resend},
		{"CBC.99007461 another transfer in progress", budgetv1alpha1.OperationTransfer, bssErr(400, bss.CodeTransferInProgress), resend},
		{"APIG.0308 throttled, with Retry-After", budgetv1alpha1.OperationTransfer, throttled, submitting(budgetv1alpha1.ReasonThrottled, 30*time.Second)},
		{"CBC.0154 expired token", budgetv1alpha1.OperationTransfer, bssErr(401, "CBC.0154"), resend},
		{"APIG.0307 expired token", budgetv1alpha1.OperationTransfer, bssErr(401, "APIG.0307"), resend},
		{"an unknown code", budgetv1alpha1.OperationTransfer, bssErr(400, "CBC.12345678"), resend},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Interpret(tc.op, tc.err, 3, timing); got != tc.want {
				t.Errorf("Interpret = %+v, want %+v", got, tc.want)
			}
		})
	}
	// Throttled without a hint waits at least Huawei's advised 2 s.
	if got := Interpret(budgetv1alpha1.OperationTransfer, bssErr(429, bss.CodeThrottled), 1, timing); got.Reason != budgetv1alpha1.ReasonThrottled || got.Requeue < 2*time.Second {
		t.Errorf("throttled without Retry-After: %+v", got)
	}
}

func TestEffectOf(t *testing.T) {
	spec := func(op budgetv1alpha1.TransferOperation, bt budgetv1alpha1.BalanceType) *budgetv1alpha1.BudgetTransferSpec {
		return &budgetv1alpha1.BudgetTransferSpec{Operation: op, BalanceType: bt, Amount: "12.34"}
	}
	cases := map[string]struct {
		spec *budgetv1alpha1.BudgetTransferSpec
		want CacheEffect
	}{
		"transfer debits the master's cash":  {spec(budgetv1alpha1.OperationTransfer, budgetv1alpha1.BalanceTypeDebit), CacheEffect{CashDelta: money.MustParse("12.34").Neg()}},
		"reclaim credits it":                 {spec(budgetv1alpha1.OperationReclaim, budgetv1alpha1.BalanceTypeDebit), CacheEffect{CashDelta: money.MustParse("12.34")}},
		"credit re-reads the credit ledgers": {spec(budgetv1alpha1.OperationTransfer, budgetv1alpha1.BalanceTypeCredit), CacheEffect{ForgetCredit: true}},
		"coupons re-read the coupons":        {spec(budgetv1alpha1.OperationCouponTransfer, ""), CacheEffect{ForgetCoupons: true}},
	}
	for name, tc := range cases {
		if got := EffectOf(tc.spec); got != tc.want {
			t.Errorf("%s: %+v, want %+v", name, got, tc.want)
		}
	}
}

// TestErrorDetailKeepsWholeCharacters: a long Chinese BSS message is cut
// to the status field's limit without splitting a character.
func TestErrorDetailKeepsWholeCharacters(t *testing.T) {
	msg := strings.Repeat("余额不足", 200) // 2400 bytes
	code, got := errorDetail(&bss.Error{HTTPStatus: 400, Code: bss.CodeInsufficientBalance, Message: msg})
	if code != bss.CodeInsufficientBalance || len(got) > maxErrorMessage || !utf8.ValidString(got) || !strings.HasPrefix(msg, strings.TrimSuffix(got, "…")) {
		t.Errorf("errorDetail = %q, %q (%d bytes)", code, got, len(got))
	}
}

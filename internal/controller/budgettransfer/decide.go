package budgettransfer

import (
	"time"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// The transfer controller's decisions, as pure functions of a transfer's
// state, the time and BSS's answer; docs/exactly-once.md §3–6 is the
// protocol they implement, and decide_test.go holds them to its tables.

// Action is the transfer controller's next step for a transfer.
type Action string

// Actions.
const (
	// ActionNothing: the transfer is settled.
	ActionNothing Action = "Nothing"
	// ActionRelease: deleted and settled (or withdrawn): drop the finalizer.
	ActionRelease Action = "Release"
	// ActionWithdraw: never sent and no longer wanted: end it Withdrawn.
	ActionWithdraw Action = "Withdraw"
	// ActionResolve: Submitting and settled by an administrator's annotation.
	ActionResolve Action = "Resolve"
	// ActionDecideApproval: new: decide whether it needs approval, then
	// send it or have it wait.
	ActionDecideApproval Action = "DecideApproval"
	// ActionDeny: an approver denied it.
	ActionDeny Action = "Deny"
	// ActionCheckAllocation: approved: send it if its allocation still
	// wants it.
	ActionCheckAllocation Action = "CheckAllocation"
	// ActionAwait: waits for an approver.
	ActionAwait Action = "Await"
	// ActionOutcomeUnknown: Submitting past the safety window: it is no
	// longer resent; an administrator must settle it.
	ActionOutcomeUnknown Action = "OutcomeUnknown"
	// ActionBackoff: Submitting; resend after Next.After.
	ActionBackoff Action = "Backoff"
	// ActionSend: write Submitting (one more attempt) and call BSS.
	ActionSend Action = "Send"
	// ActionSupersede: stopped with LedgerBehindBSS and an administrator
	// accepted the reconstruction of its allocation's ledger: end it
	// Superseded once the allocation's checkpoint counts its step.
	ActionSupersede Action = "Supersede"
)

// Timing holds the durations the decisions use.
type Timing struct {
	// SafetyWindow is how long after its first attempt a Submitting
	// transfer is resent: the operator's safety window, or less where BSS
	// is declared to forget trans_ids sooner.
	SafetyWindow time.Duration
	// RetryBase and RetryMax bound the resend backoff.
	RetryBase, RetryMax time.Duration
}

// resendMax is the longest wait between two attempts of one transfer.
const resendMax = 5 * time.Minute

func (o Timing) backoff(attempts int32) time.Duration {
	return common.Backoff(int(attempts), o.RetryBase, o.RetryMax)
}

// Next is the decision about a transfer.
type Next struct {
	Action Action
	// After is the wait, for ActionBackoff.
	After time.Duration
	// Why is the withdrawal's reason, for ActionWithdraw.
	Why string
}

// NextStep decides what to do with a transfer now. A transfer is "sent"
// once it has been Submitting: from then on only a definite answer, or an
// administrator, settles it, and no deletion drops it.
func NextStep(bt *budgetv1alpha1.BudgetTransfer, now time.Time, t Timing) Next {
	st := &bt.Status
	deleted := !bt.DeletionTimestamp.IsZero()
	switch {
	case final(st.Phase) && deleted:
		return Next{Action: ActionRelease}
	case final(st.Phase):
		return Next{Action: ActionNothing}
	case deleted && !sent(st.Phase):
		return Next{Action: ActionWithdraw, Why: "it was deleted (with its allocation)"}
	}
	if res := bt.Annotations[budgetv1alpha1.AnnotationResolve]; res != "" && st.Phase == budgetv1alpha1.PhaseSubmitting {
		return Next{Action: ActionResolve}
	}
	if bt.Annotations[budgetv1alpha1.AnnotationAcceptReconstruction] != "" && st.Phase == budgetv1alpha1.PhaseSubmitting &&
		common.ReadyReason(st.Conditions, budgetv1alpha1.ConditionReady) == budgetv1alpha1.ReasonLedgerBehindBSS {
		return Next{Action: ActionSupersede}
	}
	if why := bt.Annotations[budgetv1alpha1.AnnotationWithdraw]; why != "" && !sent(st.Phase) {
		return Next{Action: ActionWithdraw, Why: why}
	}
	switch st.Phase {
	case "", budgetv1alpha1.PhasePending:
		return Next{Action: ActionDecideApproval}
	case budgetv1alpha1.PhaseAwaitingApproval:
		switch {
		case common.IsTrue(st.Conditions, budgetv1alpha1.ConditionDenied):
			return Next{Action: ActionDeny}
		case common.IsTrue(st.Conditions, budgetv1alpha1.ConditionApproved):
			return Next{Action: ActionCheckAllocation}
		}
		return Next{Action: ActionAwait}
	}
	return resendStep(st, now, t)
}

// resendStep decides about a Submitting transfer: resend it now, later, or
// no more.
func resendStep(st *budgetv1alpha1.BudgetTransferStatus, now time.Time, t Timing) Next {
	switch common.ReadyReason(st.Conditions, budgetv1alpha1.ConditionReady) {
	case budgetv1alpha1.ReasonOutcomeUnknown:
		// Stopped for good: past the window, or a CBC.99007009 answer that
		// nothing confirms.
		return Next{Action: ActionOutcomeUnknown}
	case budgetv1alpha1.ReasonLedgerBehindBSS:
		return Next{Action: ActionNothing}
	}
	if st.SubmittedTime != nil && now.Sub(st.SubmittedTime.Time) > t.SafetyWindow {
		return Next{Action: ActionOutcomeUnknown}
	}
	if st.LastAttemptTime != nil {
		if next := st.LastAttemptTime.Add(t.backoff(st.Attempts)); now.Before(next) {
			return Next{Action: ActionBackoff, After: next.Sub(now)}
		}
	}
	return Next{Action: ActionSend}
}

// sent reports a phase in which the transfer may have reached BSS.
func sent(p budgetv1alpha1.TransferPhase) bool {
	return p == budgetv1alpha1.PhaseSubmitting || p == budgetv1alpha1.PhaseSucceeded
}

func final(p budgetv1alpha1.TransferPhase) bool {
	return p == budgetv1alpha1.PhaseSucceeded || p == budgetv1alpha1.PhaseFailed
}

// Answer is what BSS's answer to one attempt means.
type Answer struct {
	// Phase is Succeeded, Failed, or Submitting (unclear: resend).
	Phase budgetv1alpha1.TransferPhase
	// Reason is the Ready reason to write.
	Reason string
	// AlreadyApplied: BSS had applied this trans_id before (CBC.99007009).
	AlreadyApplied bool
	// FindSubCoupon: a coupon transfer applied before; its sub-coupon id
	// must be looked up, since the answer that carried it was lost.
	FindSubCoupon bool
	// Requeue is the wait before the resend of an unclear answer.
	Requeue time.Duration
	// Metric is the result label of bss_budget_transfers_total.
	Metric string
}

// Interpret classifies the answer err (nil for a 2xx) to the attempts-th
// attempt of an operation, as docs/exactly-once.md §4 tabulates it.
func Interpret(op budgetv1alpha1.TransferOperation, err error, attempts int32, t Timing) Answer {
	switch {
	case err == nil:
		return Answer{Phase: budgetv1alpha1.PhaseSucceeded, Reason: budgetv1alpha1.ReasonSucceeded, Metric: "Succeeded"}
	case bss.IsDuplicateTransID(err):
		return Answer{Phase: budgetv1alpha1.PhaseSucceeded, Reason: budgetv1alpha1.ReasonSucceeded, AlreadyApplied: true,
			FindSubCoupon: op == budgetv1alpha1.OperationCouponTransfer, Metric: "AlreadyApplied"}
	case bss.IsTerminal(err):
		return Answer{Phase: budgetv1alpha1.PhaseFailed, Reason: budgetv1alpha1.ReasonFailed, Metric: "Failed"}
	}
	return Unclear(err, attempts, t)
}

// Unclear is the answer that leaves a transfer Submitting, to be resent
// with the same trans_id: an answer that is neither a success nor a
// terminal refusal, or a success whose result could not be completed (the
// sub-coupon of a coupon transfer applied before could not be found yet).
func Unclear(err error, attempts int32, t Timing) Answer {
	a := Answer{Phase: budgetv1alpha1.PhaseSubmitting, Reason: budgetv1alpha1.ReasonSubmitting, Requeue: t.backoff(attempts)}
	if bss.IsThrottled(err) {
		a.Reason = budgetv1alpha1.ReasonThrottled
		if hint := bss.RetryAfterHint(err); hint > a.Requeue {
			a.Requeue = hint
		}
	}
	return a
}

// CacheEffect is how a settled transfer changes the master's cached
// balances: its transferable cash moves by CashDelta; credit ledgers and
// coupons are read again.
type CacheEffect struct {
	CashDelta                   money.Amount
	ForgetCredit, ForgetCoupons bool
}

// EffectOf is the cache effect of a transfer BSS applied.
func EffectOf(spec *budgetv1alpha1.BudgetTransferSpec) CacheEffect {
	if spec.BalanceType == budgetv1alpha1.BalanceTypeCredit {
		return CacheEffect{ForgetCredit: true}
	}
	amount, _ := money.Parse(string(spec.Amount))
	switch spec.Operation {
	case budgetv1alpha1.OperationTransfer:
		return CacheEffect{CashDelta: amount.Neg()}
	case budgetv1alpha1.OperationReclaim:
		return CacheEffect{CashDelta: amount}
	}
	return CacheEffect{ForgetCoupons: true}
}

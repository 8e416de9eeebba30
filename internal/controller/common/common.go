// Package common holds what the operator's controllers share: operator
// options, condition helpers, the credentials lookup and small time helpers.
package common

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
)

// DefaultBalancesPublishDelay is Options.BalancesPublishDelay unless set: a
// burst of movements (an allocation's transfers, a batch of allocations)
// costs one EnterpriseAccount status write per 2 s, and readers of the
// status (kubectl budget plan) see the operator's own movements that soon.
const DefaultBalancesPublishDelay = 2 * time.Second

// Options are the operator-wide settings every controller reads.
type Options struct {
	// Namespace is the operator's own namespace, the only one whose Secrets
	// it reads.
	Namespace string
	// Clock is the time source; clock.RealClock when nil.
	Clock clock.PassiveClock
	// TransferSafetyWindow is how long a Submitting transfer is resent
	// before it is left for an administrator to resolve.
	TransferSafetyWindow time.Duration
	// TransferRetryBase is the first backoff after a failed transfer; it
	// doubles with each further failure up to TransferRetryMax.
	TransferRetryBase time.Duration
	// TransferRetryMax caps the backoff between failed transfers.
	TransferRetryMax time.Duration
	// SubmitRetryBase is the first delay before resending a Submitting
	// transfer after an ambiguous outcome.
	SubmitRetryBase time.Duration
	// MaxFailedTransfers is how many Failed transfers are kept per allocation.
	MaxFailedTransfers int
	// FundsRecheckInterval is how often an allocation blocked on
	// InsufficientFunds reads the master's balance again.
	FundsRecheckInterval time.Duration
	// BSSCallTimeout bounds one reconcile's BSS calls.
	BSSCallTimeout time.Duration
	// BalancesPublishDelay is how long after the operator changed a master's
	// balances (a transfer or reclaim applied) its EnterpriseAccount status
	// shows them: the movements of that delay are published by one status
	// write.
	BalancesPublishDelay time.Duration
	// TransferRetention is how long settled BudgetTransfers are kept: a
	// bill cycle's are written to the audit trail (LedgerRecords) and
	// deleted together once the cycle is over and its newest settled this
	// long ago. Zero is the default; a negative value compacts each at
	// once.
	TransferRetention time.Duration
	// PaymentSettleWindow is how long after a pay call without a definite
	// answer the order must still read pending before the call is sent
	// again.
	PaymentSettleWindow time.Duration
}

// DefaultTransferRetention is the production default of TransferRetention.
const DefaultTransferRetention = 30 * 24 * time.Hour

// Defaults fills zero fields with the production defaults.
func (o *Options) Defaults() {
	if o.Namespace == "" {
		o.Namespace = "bss-budget-system"
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.TransferSafetyWindow == 0 {
		o.TransferSafetyWindow = 24 * time.Hour
	}
	if o.TransferRetryBase == 0 {
		o.TransferRetryBase = time.Minute
	}
	if o.TransferRetryMax == 0 {
		o.TransferRetryMax = time.Hour
	}
	if o.PaymentSettleWindow == 0 {
		o.PaymentSettleWindow = 2 * time.Minute
	}
	if o.SubmitRetryBase == 0 {
		o.SubmitRetryBase = 2 * time.Second
	}
	if o.MaxFailedTransfers == 0 {
		o.MaxFailedTransfers = 5
	}
	if o.FundsRecheckInterval == 0 {
		o.FundsRecheckInterval = time.Minute
	}
	if o.BSSCallTimeout == 0 {
		o.BSSCallTimeout = 2 * time.Minute
	}
	if o.BalancesPublishDelay == 0 {
		o.BalancesPublishDelay = DefaultBalancesPublishDelay
	}
	if o.TransferRetention == 0 {
		o.TransferRetention = DefaultTransferRetention
	}
}

// SetCondition sets a condition stamped with generation. LastTransitionTime
// changes only when the status flips. It reports whether anything changed.
func SetCondition(conds *[]metav1.Condition, generation int64, condType string, status metav1.ConditionStatus, reason, message string) bool {
	return meta.SetStatusCondition(conds, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            truncate(message, 32768),
		ObservedGeneration: generation,
	})
}

// ReadyReason returns the Ready condition's reason, or "".
func ReadyReason(conds []metav1.Condition, condType string) string {
	if c := meta.FindStatusCondition(conds, condType); c != nil {
		return c.Reason
	}
	return ""
}

// ConditionMessage returns the message of a condition, or "".
func ConditionMessage(conds []metav1.Condition, condType string) string {
	if c := meta.FindStatusCondition(conds, condType); c != nil {
		return c.Message
	}
	return ""
}

// IsTrue reports whether the condition is present and True.
func IsTrue(conds []metav1.Condition, condType string) bool {
	return meta.IsStatusConditionTrue(conds, condType)
}

// Jitter spreads d by ±fraction so that many objects do not resync together.
func Jitter(d time.Duration, fraction float64) time.Duration {
	if d <= 0 || fraction <= 0 {
		return d
	}
	f := 1 + fraction*(2*rand.Float64()-1) //nolint:gosec // G404: scheduling jitter, not security
	return time.Duration(float64(d) * f)
}

// Backoff returns base·2^(n-1), capped at maxDelay, for n ≥ 1.
func Backoff(n int, base, maxDelay time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	d := base
	for i := 1; i < n && d < maxDelay; i++ {
		d *= 2
	}
	if d > maxDelay {
		d = maxDelay
	}
	return d
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// KeyedLocks are context-aware mutexes by key.
type KeyedLocks struct {
	m sync.Map // key → chan struct{} of capacity 1
}

// Lock takes the lock of key, or gives up when ctx ends. The returned
// function releases it.
func (k *KeyedLocks) Lock(ctx context.Context, key string) (func(), error) {
	v, _ := k.m.LoadOrStore(key, make(chan struct{}, 1))
	ch, _ := v.(chan struct{})
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the lock of %s: %w", key, ctx.Err())
	}
}

// LabelValue cuts s to the 63 characters a label value may have, without
// leaving a separator at the end.
func LabelValue(s string) string {
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-._")
	}
	return s
}

// Phase is one step of a reconcile that works on its scope S.
type Phase[S any] func(ctx context.Context, s S) (ctrl.Result, error)

// RunPhases runs phases in order until one fails or halted reports that
// one has stopped the reconcile; the result of the last phase run is the
// reconcile's.
func RunPhases[S any](ctx context.Context, s S, halted func() bool, phases ...Phase[S]) (ctrl.Result, error) {
	var result ctrl.Result
	for _, p := range phases {
		var err error
		if result, err = p(ctx, s); err != nil || halted() {
			return result, err
		}
	}
	return result, nil
}

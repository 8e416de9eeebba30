package orderpayment

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/payment"
)

// remove handles a deleted payment. One that is Paying keeps its finalizer
// until the order's status says whether it was paid: the record of a
// payment that may have been made is never dropped. It is not paid again:
// once the order has read pending for the settle window after the last
// call, nothing was paid and it goes. With cancelOrderOnDelete, an order
// this payment holds and did not pay is cancelled first.
func (r *Reconciler) remove(ctx context.Context, op *budgetv1alpha1.OrderPayment, now time.Time) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(op, budgetv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	forced := op.Annotations[budgetv1alpha1.AnnotationReleaseFinalizer] == "true"
	if op.Status.Phase == budgetv1alpha1.PaymentPaying && !forced {
		if res, done, err := r.settleDeleted(ctx, op, now); !done {
			return res, err
		}
	}
	if op.Spec.CancelOrderOnDelete && holdsOrder(op) && !forced {
		if res, done, err := r.cancel(ctx, op); !done {
			return res, err
		}
	}
	log.FromContext(ctx).Info("releasing deleted payment", "payment", op.Name, "phase", op.Status.Phase)
	patch := client.MergeFrom(op.DeepCopy())
	controllerutil.RemoveFinalizer(op, budgetv1alpha1.Finalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.Patch(ctx, op, patch))
}

// holdsOrder reports whether the payment verified the order as its
// SubAccount's and did not pay it or lose it to another payment: only
// then may its deletion cancel the order.
func holdsOrder(op *budgetv1alpha1.OrderPayment) bool {
	if op.Status.Order == nil || op.Status.CustomerID == "" {
		return false
	}
	switch op.Status.Phase {
	case budgetv1alpha1.PaymentPending, budgetv1alpha1.PaymentAwaitingApproval:
		return true
	case budgetv1alpha1.PaymentFailed:
		switch common.ReadyReason(op.Status.Conditions, budgetv1alpha1.ConditionReady) {
		case budgetv1alpha1.ReasonDenied, budgetv1alpha1.ReasonAboveMaxAmount, budgetv1alpha1.ReasonCouponUnusable, budgetv1alpha1.ReasonBSSError:
			return true
		}
	}
	return false
}

// settleDeleted learns whether a deleted Paying payment paid its order,
// without paying again. done is true once it is known.
func (r *Reconciler) settleDeleted(ctx context.Context, op *budgetv1alpha1.OrderPayment, now time.Time) (ctrl.Result, bool, error) {
	acct, ok := r.Registry.Get(op.Status.EnterpriseAccountName)
	if !ok {
		return ctrl.Result{RequeueAfter: 5 * time.Second}, false, r.note(ctx, op, fmt.Sprintf(
			"deleted while paying: waiting for EnterpriseAccount %s's connection to read whether the order was paid", op.Status.EnterpriseAccountName))
	}
	id := cmp.Or(op.Status.PayOrderID, op.Spec.OrderID)
	f, err := readOrder(ctx, acct.Client, op.Status.CustomerID, id)
	switch {
	case errors.Is(err, errOrderNotFound):
		_, err := r.finish(ctx, op, budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonOrderNotFound,
			fmt.Sprintf("deleted while paying; order %s is no longer listed, it was not paid", id), budgetv1alpha1.PaymentEvidenceOrderStatus, now, "Failed")
		return ctrl.Result{}, err == nil, err
	case err != nil:
		return ctrl.Result{RequeueAfter: 10 * time.Second}, false, r.note(ctx, op, fmt.Sprintf(
			"deleted while paying: reading order %s: %s", id, common.DescribeBSSError(err)))
	}
	if done, _, err := r.orderSettled(ctx, op, f.order, now, true); done {
		return ctrl.Result{}, err == nil, err
	}
	last := now
	if op.Status.LastAttemptTime != nil {
		last = op.Status.LastAttemptTime.Time
	}
	if wait := last.Add(r.Options.PaymentSettleWindow).Sub(now); wait > 0 && f.order.Status == bss.OrderStatusPendingPayment {
		return ctrl.Result{RequeueAfter: min(wait, 10*time.Second)}, false, r.note(ctx, op, fmt.Sprintf(
			"deleted while paying: order %s still reads pending; it is released, unpaid, if it still does at %s", id, last.Add(r.Options.PaymentSettleWindow).UTC().Format(time.RFC3339)))
	}
	_, err = r.finish(ctx, op, budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonWithdrawn, fmt.Sprintf(
		"deleted while paying; order %s reads %s, so no attempt paid it, and it is not paid again", id, payment.OrderStatusName(f.order.Status)),
		budgetv1alpha1.PaymentEvidenceOrderStatus, now, "Failed")
	return ctrl.Result{}, err == nil, err
}

// cancel cancels the pending order of a deleted payment that holds it.
// CBC.99005010 means the order is no longer pending: it is read and
// reported. done is true once nothing more is to be done.
func (r *Reconciler) cancel(ctx context.Context, op *budgetv1alpha1.OrderPayment) (ctrl.Result, bool, error) {
	acct, ok := r.Registry.Get(op.Status.EnterpriseAccountName)
	if !ok {
		return ctrl.Result{RequeueAfter: 30 * time.Second}, false, r.note(ctx, op, fmt.Sprintf(
			"deleted with cancelOrderOnDelete: waiting for EnterpriseAccount %s's connection to cancel the order (or set %s=true to release it without cancelling)",
			op.Status.EnterpriseAccountName, budgetv1alpha1.AnnotationReleaseFinalizer))
	}
	id := cmp.Or(op.Status.PayOrderID, op.Spec.OrderID)
	f, err := readOrder(ctx, acct.Client, op.Status.CustomerID, id)
	switch {
	case errors.Is(err, errOrderNotFound):
		return ctrl.Result{}, true, nil
	case err != nil:
		return ctrl.Result{RequeueAfter: 10 * time.Second}, false, r.note(ctx, op, "deleted with cancelOrderOnDelete: reading order "+id+": "+common.DescribeBSSError(err))
	case f.order.CustomerID != op.Status.CustomerID:
		return ctrl.Result{}, true, nil
	case f.order.Status != bss.OrderStatusPendingPayment:
		r.Recorder.Eventf(op, nil, corev1.EventTypeNormal, "OrderNotCancelled", "Cancel", "order %s is %s, not pending payment: it is not cancelled", id, payment.OrderStatusName(f.order.Status))
		return ctrl.Result{}, true, nil
	}
	err = acct.Client.CancelCustomerOrder(ctx, id)
	switch {
	case err == nil:
		r.Recorder.Eventf(op, nil, corev1.EventTypeNormal, budgetv1alpha1.ReasonOrderCancelled, "Cancel", "order %s cancelled (cancelOrderOnDelete)", id)
		return ctrl.Result{}, true, nil
	case bss.Code(err) == bss.CodeOrderNotCancellable:
		r.Recorder.Eventf(op, nil, corev1.EventTypeWarning, "OrderNotCancelled", "Cancel", "order %s can no longer be cancelled: %s", id, common.DescribeBSSError(err))
		return ctrl.Result{}, true, nil
	}
	return ctrl.Result{RequeueAfter: 10 * time.Second}, false, r.note(ctx, op, fmt.Sprintf(
		"deleted with cancelOrderOnDelete: cancelling order %s: %s (set %s=true to release it without cancelling)", id, common.DescribeBSSError(err), budgetv1alpha1.AnnotationReleaseFinalizer))
}

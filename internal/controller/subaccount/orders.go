package subaccount

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/metrics"
	"github.com/bss-budget-operator/bss-budget-operator/internal/payment"
)

// Event reasons of the orderPayment policy.
const (
	// eventOrderPaymentCreated: the Auto policy created an OrderPayment.
	eventOrderPaymentCreated = "OrderPaymentCreated"
	// eventOrderPaymentNotCreated: the Auto policy could not create the
	// OrderPayment of an order that fits (its namespace does not exist,
	// the name is taken, the API server refused); it tries again at the
	// next billing sync.
	eventOrderPaymentNotCreated = "OrderPaymentNotCreated"
	// eventOrderNotAutoPaid: a pending order does not fit the Auto policy.
	eventOrderNotAutoPaid = "OrderNotAutoPaid"
)

// actionAutoPay is the action of the orderPayment policy's events.
const actionAutoPay = "AutoPay"

// listPayments lists the SubAccount's OrderPayments (from the cache) and
// records what they paid for its customer in status.paidOrders and
// status.paidOrdersThisCycle.
func (r *Reconciler) listPayments(ctx context.Context, s *scope) error {
	payments, err := payment.ListOf(ctx, r.Client, s.sa.Name)
	if err != nil {
		return err
	}
	s.payments = payments
	s.setPaidOrders()
	if st := s.status(); pruneSettled(st.OrderPayments, payments) {
		metrics.SubAccountOrdersPending.WithLabelValues(s.sa.Name).Set(float64(st.OrderPayments.Pending))
		age := time.Duration(0)
		if t, err := time.Parse(time.RFC3339, st.OrderPayments.OldestCreateTime); err == nil {
			age = max(s.now.Sub(t), 0)
		}
		metrics.SubAccountOldestPendingOrder.WithLabelValues(s.sa.Name).Set(age.Seconds())
	}
	return nil
}

// setPaidOrders sums what the SubAccount's OrderPayments paid for the
// customer it holds (payment.TotalsOf): in all, and in the current bill
// cycle. Without a customer nothing counts.
func (s *scope) setPaidOrders() {
	st := s.status()
	var t payment.Totals
	if st.CustomerID != "" {
		t = payment.TotalsOf(s.payments, st.CustomerID, billcycle.Of(s.now), "")
	}
	st.PaidOrders = common.Money(t.Paid)
	st.PaidOrdersThisCycle = common.Money(t.ThisCycle)
	metrics.SubAccountOrdersPaid.WithLabelValues(s.sa.Name).Set(metrics.Fen(t.Paid))
}

// reportOrders builds status.orderPayments from the sub-account's orders
// just read: the ones pending payment, what pays each, and whether the
// policy pays it. With mode Auto it first creates the OrderPayments of the
// orders that fit and have none.
func (r *Reconciler) reportOrders(ctx context.Context, s *scope, orders []bss.Order) error {
	pending := assessPending(orders, s.payments, s.sa.Spec.OrderPayment)
	if err := r.autoPay(ctx, s, pending); err != nil {
		return err
	}
	st := s.status()
	st.OrderPayments = orderReport(pending)
	metrics.SubAccountOrdersPending.WithLabelValues(s.sa.Name).Set(float64(len(pending)))
	metrics.SubAccountOldestPendingOrder.WithLabelValues(s.sa.Name).Set(oldestPendingAge(pending, s.now).Seconds())
	return nil
}

// autoPay carries out the Auto policy on the pending orders of a
// sub-account that can be paid for (known to BSS and not closed): it
// creates the OrderPayment named payment.PaymentName of each order that
// fits and has none, and announces each order that does not fit once (an
// order the last report listed as not fitting for the same reason was
// announced then). A name that exists already means the policy created
// that payment before: it is never created again, so a payment that
// failed is not retried until someone deletes it.
func (r *Reconciler) autoPay(ctx context.Context, s *scope, pending []pendingOrder) error {
	policy := s.sa.Spec.OrderPayment
	if policy == nil || policy.Mode != budgetv1alpha1.OrderPaymentAuto || s.customerID == "" || s.closed {
		return nil
	}
	nsMissing := false
	for i := range pending {
		p := &pending[i]
		switch {
		case p.payment != "":
			continue
		case !p.fits:
			if !announcedUnfit(s.before.OrderPayments, p.order.OrderID, p.reason) {
				// The order in the action keeps one event per order: events
				// with the same reason and action about one object are
				// merged into a series that shows only the first note.
				s.warn(eventOrderNotAutoPaid, actionAutoPay+" "+p.order.OrderID,
					fmt.Sprintf("order %s (%s, %s) is not paid automatically: %s", p.order.OrderID, orderType(p.order.OrderType), p.order.AmountAfterDiscount, p.reason))
			}
			continue
		case nsMissing:
			continue
		}
		created, err := r.createPayment(ctx, s, p)
		switch {
		case err == nil:
			p.payment = created
		case apierrors.IsNotFound(err):
			// The namespace does not exist: no order can be paid there.
			nsMissing = true
			s.warn(eventOrderPaymentNotCreated, actionAutoPay, fmt.Sprintf(
				"spec.orderPayment.namespace %s does not exist: the OrderPayments of the pending orders that fit are not created", policy.Namespace))
		case ctx.Err() != nil:
			return err
		default:
			s.warn(eventOrderPaymentNotCreated, actionAutoPay,
				fmt.Sprintf("the OrderPayment of order %s is not created: %v", p.order.OrderID, err))
		}
	}
	return nil
}

// createPayment creates the OrderPayment of pending order p as the Auto
// policy asks, and returns its namespace/name. A payment of that name
// that exists already is the one the policy created before, unless it
// pays another order or SubAccount (an error then).
func (r *Reconciler) createPayment(ctx context.Context, s *scope, p *pendingOrder) (string, error) {
	policy := s.sa.Spec.OrderPayment
	op := &budgetv1alpha1.OrderPayment{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: policy.Namespace,
			Name:      payment.PaymentName(p.order.OrderID),
			Labels: map[string]string{
				budgetv1alpha1.LabelSubAccount: common.LabelValue(s.sa.Name),
				budgetv1alpha1.LabelCreatedBy:  budgetv1alpha1.CreatedByOrderPaymentPolicy,
			},
		},
		Spec: budgetv1alpha1.OrderPaymentSpec{
			SubAccountName:      s.sa.Name,
			OrderID:             p.order.OrderID,
			MaxAmount:           *policy.MaxAmountPerOrder,
			Coupons:             budgetv1alpha1.PaymentCoupons{Mode: budgetv1alpha1.SelectAuto},
			Discount:            budgetv1alpha1.PaymentDiscount{Mode: budgetv1alpha1.SelectAuto},
			CancelOrderOnDelete: policy.CancelOrderOnDelete,
		},
	}
	key := op.Namespace + "/" + op.Name
	err := r.Create(ctx, op)
	switch {
	case err == nil:
		// Announced now: the payment exists whether or not the status
		// write that follows succeeds.
		r.Recorder.Eventf(s.sa, op, corev1.EventTypeNormal, eventOrderPaymentCreated, actionAutoPay,
			"created OrderPayment %s for order %s (%s, %s), at most %s", key, p.order.OrderID, orderType(p.order.OrderType), p.order.AmountAfterDiscount, op.Spec.MaxAmount)
		return key, nil
	case !apierrors.IsAlreadyExists(err):
		return "", err
	}
	var existing budgetv1alpha1.OrderPayment
	switch gerr := r.Get(ctx, types.NamespacedName{Namespace: op.Namespace, Name: op.Name}, &existing); {
	case apierrors.IsNotFound(gerr):
		// Not in the cache yet: created moments ago.
		return key, nil
	case gerr != nil:
		return "", gerr
	case existing.Spec.SubAccountName != s.sa.Name || !strings.EqualFold(existing.Spec.OrderID, p.order.OrderID):
		return "", fmt.Errorf("OrderPayment %s exists and pays order %s of SubAccount %s", key, existing.Spec.OrderID, existing.Spec.SubAccountName)
	}
	return key, nil
}

// subAccountForPayment maps an OrderPayment to its SubAccount.
func subAccountForPayment(_ context.Context, o client.Object) []reconcile.Request {
	op, ok := o.(*budgetv1alpha1.OrderPayment)
	if !ok || op.Spec.SubAccountName == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: op.Spec.SubAccountName}}}
}

// paymentChanged passes OrderPayment creations, deletions and the updates
// that can change what it counts for (payment.Counts and TotalsOf): its
// phase, Ready reason, amount, customer and bill cycle.
func paymentChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldOP, okOld := e.ObjectOld.(*budgetv1alpha1.OrderPayment)
			newOP, okNew := e.ObjectNew.(*budgetv1alpha1.OrderPayment)
			if !okOld || !okNew {
				return true
			}
			return paymentKey(oldOP) != paymentKey(newOP)
		},
	}
}

func paymentKey(op *budgetv1alpha1.OrderPayment) string {
	return strings.Join([]string{string(op.Status.Phase), common.ReadyReason(op.Status.Conditions, budgetv1alpha1.ConditionReady),
		string(op.Status.Amount), op.Status.CustomerID, op.Status.Cycle}, "\x00")
}

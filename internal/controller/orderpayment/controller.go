// Package orderpayment reconciles OrderPayments: it pays a sub-account's
// pending yearly/monthly order from its master's balance at most once.
// PayOrders takes no idempotency key, so the order's own status is the key:
// it is read before every call, Paying is written (conflict-checked) before
// the call, and after an answer that does not settle the payment the order
// is read again, and paid again only once it has read pending for the
// settle window since the last call (docs/exactly-once.md §10).
package orderpayment

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/accounts"
	"github.com/bss-budget-operator/bss-budget-operator/internal/approval"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/metrics"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/payment"
)

// Reconciler reconciles OrderPayments.
type Reconciler struct {
	client.Client
	// APIReader reads around the cache: the decisions that count other
	// payments and transfers read the API server's current lists.
	// SetupWithManager fills it in when nil.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Registry  *accounts.Registry
	Options   common.Options
	// Approvals serialises the decisions about one customer's money: the
	// transfer controller takes the same locks, so that each decision sees
	// the outcome of the one before. SetupWithManager makes one when nil.
	Approvals *common.KeyedLocks
}

// +kubebuilder:rbac:groups=budget.bss.dev,resources=orderpayments,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=budget.bss.dev,resources=orderpayments/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=budget.bss.dev,resources=subaccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups=budget.bss.dev,resources=budgetallocations,verbs=get;list;watch
// +kubebuilder:rbac:groups=budget.bss.dev,resources=budgettransfers,verbs=get;list;watch
// +kubebuilder:rbac:groups=budget.bss.dev,resources=enterpriseaccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile advances one payment.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var op budgetv1alpha1.OrderPayment
	if err := r.Get(ctx, req.NamespacedName, &op); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	now := r.Options.Clock.Now()
	// The status as read: a wait that changes nothing writes nothing.
	ctx = context.WithValue(ctx, readStatus{}, op.Status.DeepCopy())
	if !op.DeletionTimestamp.IsZero() {
		return r.remove(ctx, &op, now)
	}
	if !controllerutil.ContainsFinalizer(&op, budgetv1alpha1.Finalizer) {
		patch := client.MergeFrom(op.DeepCopy())
		controllerutil.AddFinalizer(&op, budgetv1alpha1.Finalizer)
		// The update event brings the payment back.
		return ctrl.Result{}, client.IgnoreNotFound(r.Patch(ctx, &op, patch))
	}
	switch op.Status.Phase {
	case budgetv1alpha1.PaymentPaid, budgetv1alpha1.PaymentFailed, budgetv1alpha1.PaymentCancelled:
		return ctrl.Result{}, nil
	case budgetv1alpha1.PaymentPaying:
		return r.settle(ctx, &op, now, false)
	case budgetv1alpha1.PaymentAwaitingApproval:
		if c := meta.FindStatusCondition(op.Status.Conditions, budgetv1alpha1.ConditionDenied); c != nil && c.Status == metav1.ConditionTrue {
			return r.finish(ctx, &op, budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonDenied,
				"denied by an approver"+prefixed(": ", c.Message)+"; nothing was paid", "", now, "Denied")
		}
		if !common.IsTrue(op.Status.Conditions, budgetv1alpha1.ConditionApproved) {
			return ctrl.Result{}, nil
		}
	}
	return r.prepare(ctx, &op, now)
}

// readStatus is the context key of the payment's status as the reconcile
// read it.
type readStatus struct{}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

// scope is what a payment that has not been sent yet is checked against.
type scope struct {
	sa       *budgetv1alpha1.SubAccount
	ea       *budgetv1alpha1.EnterpriseAccount
	acct     *accounts.Account
	customer string
}

// resolve finds the SubAccount, checks that it admits the payment and is
// Ready, and finds its master's connection. A nil scope comes with the
// result that ends the reconcile.
func (r *Reconciler) resolve(ctx context.Context, op *budgetv1alpha1.OrderPayment) (*scope, ctrl.Result, error) {
	var sa budgetv1alpha1.SubAccount
	if err := r.Get(ctx, types.NamespacedName{Name: op.Spec.SubAccountName}, &sa); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, ctrl.Result{}, err
		}
		return nil, ctrl.Result{RequeueAfter: time.Minute}, r.wait(ctx, op, budgetv1alpha1.ReasonSubAccountNotReady,
			fmt.Sprintf("SubAccount %s does not exist", op.Spec.SubAccountName))
	}
	admitted, err := payment.Admits(ctx, r.Client, &sa, op.Namespace)
	if err != nil {
		return nil, ctrl.Result{}, err
	}
	if !admitted {
		return nil, ctrl.Result{}, r.wait(ctx, op, budgetv1alpha1.ReasonNamespaceNotAllowed, fmt.Sprintf(
			"SubAccount %s admits neither namespace %s in spec.allowedNamespaces nor as its orderPayment policy's namespace; nothing is paid", sa.Name, op.Namespace))
	}
	if !common.IsTrue(sa.Status.Conditions, budgetv1alpha1.ConditionReady) || sa.Status.CustomerID == "" {
		return nil, ctrl.Result{RequeueAfter: time.Minute}, r.wait(ctx, op, budgetv1alpha1.ReasonSubAccountNotReady,
			fmt.Sprintf("SubAccount %s is not Ready (%s)", sa.Name, cmp.Or(common.ReadyReason(sa.Status.Conditions, budgetv1alpha1.ConditionReady), "not reconciled yet")))
	}
	eaName := sa.Spec.EnterpriseAccountRef.Name
	acct, ok := r.Registry.Get(eaName)
	if !ok && r.Registry.Connecting(eaName) {
		return nil, ctrl.Result{RequeueAfter: accounts.ConnectingRetry}, nil
	}
	if !ok {
		return nil, ctrl.Result{RequeueAfter: 30 * time.Second}, r.wait(ctx, op, budgetv1alpha1.ReasonEnterpriseAccountNotReady,
			fmt.Sprintf("EnterpriseAccount %s has no working connection", eaName))
	}
	var ea budgetv1alpha1.EnterpriseAccount
	if err := r.Get(ctx, types.NamespacedName{Name: eaName}, &ea); err != nil {
		return nil, ctrl.Result{}, err
	}
	return &scope{sa: &sa, ea: &ea, acct: acct, customer: sa.Status.CustomerID}, ctrl.Result{}, nil
}

// prepare reads the order, decides how to pay it and, if every limit and
// the approval rule allow, pays it.
func (r *Reconciler) prepare(ctx context.Context, op *budgetv1alpha1.OrderPayment, now time.Time) (ctrl.Result, error) {
	s, res, err := r.resolve(ctx, op)
	if s == nil {
		return res, err
	}
	if op.Status.CustomerID != "" && op.Status.CustomerID != s.customer {
		return r.finish(ctx, op, budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonWrongSubAccount, fmt.Sprintf(
			"SubAccount %s now resolves to customer %s, not %s whose order this payment was for; nothing was paid", s.sa.Name, s.customer, op.Status.CustomerID), "", now, "Failed")
	}
	id := cmp.Or(op.Status.PayOrderID, op.Spec.OrderID)
	f, err := readOrder(ctx, s.acct.Client, s.customer, id)
	if err != nil {
		return r.readFailed(ctx, op, err, now, "reading order "+id)
	}
	o := f.order
	if f.combined {
		id = o.OrderID
	}
	if o.CustomerID != s.customer {
		return r.finish(ctx, op, budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonWrongSubAccount, fmt.Sprintf(
			"order %s belongs to customer %s, not to SubAccount %s (customer %s); nothing was paid", o.OrderID, o.CustomerID, s.sa.Name, s.customer), "", now, "Failed")
	}
	op.Status.CustomerID, op.Status.EnterpriseAccountName = s.customer, s.ea.Name
	if f.combined {
		op.Status.PayOrderID = o.OrderID
	}
	resources := r.resources(ctx, s.acct.Client, op, id)
	combinedID := ""
	if f.combined || !strings.EqualFold(id, op.Spec.OrderID) {
		combinedID = id
	}
	op.Status.Order = orderStatus(o, resources, combinedID)
	if done, res, err := r.orderSettled(ctx, op, o, now, false); done {
		return res, err
	}
	if o.Status != bss.OrderStatusPendingPayment {
		return ctrl.Result{RequeueAfter: 5 * time.Minute}, r.wait(ctx, op, budgetv1alpha1.ReasonOrderNotPayable,
			fmt.Sprintf("order %s is %s, not pending payment: it is looked at again later", id, payment.OrderStatusName(o.Status)))
	}
	if deadline, err := time.Parse(time.RFC3339, o.PendingPaymentEndTime); err == nil && !now.Before(deadline) {
		return r.finish(ctx, op, budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonOrderNotPayable,
			fmt.Sprintf("order %s's payment deadline %s has passed; nothing was paid", id, o.PendingPaymentEndTime), "", now, "Failed")
	}
	of, err := offers(ctx, s.acct.Client, op.Spec, id)
	if err != nil {
		return r.readFailed(ctx, op, err, now, "reading the coupons and discounts of order "+id)
	}
	choice, err := payment.Choose(op.Spec, id, o.AmountAfterDiscount, of)
	var refusal *payment.Refusal
	if errors.As(err, &refusal) {
		return r.finish(ctx, op, budgetv1alpha1.PaymentFailed, refusal.Reason, refusal.Message+"; nothing was paid", "", now, "Failed")
	}
	bound, err := money.Parse(string(op.Spec.MaxAmount))
	if err != nil {
		return r.finish(ctx, op, budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonAboveMaxAmount, fmt.Sprintf("spec.maxAmount %q cannot be read; nothing was paid", op.Spec.MaxAmount), "", now, "Failed")
	}
	if choice.Amount.Cmp(bound) > 0 {
		return r.finish(ctx, op, budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonAboveMaxAmount, fmt.Sprintf(
			"order %s would cost %s, above this payment's maxAmount %s; nothing was paid", id, choice.Amount, bound), "", now, "Failed")
	}
	return r.decide(ctx, s, op, id, choice, now)
}

// resources are the order's line items for status: those status shows
// already for the same order, else the first page of the order's details.
// They are shown, not decided on, so a failed read leaves them out.
func (r *Reconciler) resources(ctx context.Context, api bss.Reader, op *budgetv1alpha1.OrderPayment, id string) []budgetv1alpha1.PaymentResource {
	if o := op.Status.Order; o != nil && len(o.Resources) > 0 && strings.EqualFold(cmp.Or(o.CombinedOrderID, op.Spec.OrderID), id) {
		return o.Resources
	}
	d, err := api.GetOrderDetails(ctx, id, 0, maxResources)
	if err != nil {
		log.FromContext(ctx).V(1).Info("order details not read", "order", id, "error", err.Error())
		return nil
	}
	return resourcesOf(d.OrderLineItems)
}

// orderSettled ends the payment when the order is no longer pending:
// paid (by this payment's earlier call if it made one, or elsewhere),
// cancelled. done is false for a pending order (or one in review).
func (r *Reconciler) orderSettled(ctx context.Context, op *budgetv1alpha1.OrderPayment, o bss.Order, now time.Time, called bool) (bool, ctrl.Result, error) {
	switch {
	case payment.Paid(o.Status) && called:
		res, err := r.finish(ctx, op, budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid, fmt.Sprintf(
			"order %s reads %s after this payment's call: paid %s", o.OrderID, payment.OrderStatusName(o.Status), op.Status.Amount),
			budgetv1alpha1.PaymentEvidenceOrderStatus, now, "Paid")
		return true, res, err
	case payment.Paid(o.Status):
		res, err := r.finish(ctx, op, budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaidElsewhere, fmt.Sprintf(
			"order %s was already %s before this payment sent anything: it charged nothing", o.OrderID, payment.OrderStatusName(o.Status)),
			budgetv1alpha1.PaymentEvidenceOrderStatus, now, "PaidElsewhere")
		return true, res, err
	case o.Status == bss.OrderStatusCancelled:
		res, err := r.finish(ctx, op, budgetv1alpha1.PaymentCancelled, budgetv1alpha1.ReasonOrderCancelled, fmt.Sprintf(
			"order %s was cancelled; nothing was paid", o.OrderID), budgetv1alpha1.PaymentEvidenceOrderStatus, now, "Cancelled")
		return true, res, err
	}
	return false, ctrl.Result{}, nil
}

// decide applies the limits, the duplicate check and the approval rule
// under the customer's lock, and records Paying (with the choice) before
// the call, or the wait.
func (r *Reconciler) decide(ctx context.Context, s *scope, op *budgetv1alpha1.OrderPayment, id string, choice payment.Choice, now time.Time) (ctrl.Result, error) {
	unlock, err := r.Approvals.Lock(ctx, s.customer)
	if err != nil {
		return ctrl.Result{}, err
	}
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	payments, err := payment.ListOf(ctx, r.APIReader, s.sa.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	if other := otherPayer(payments, op, id); other != nil {
		return r.finish(ctx, op, budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonDuplicatePayment, fmt.Sprintf(
			"OrderPayment %s/%s (%s) pays order %s already; this one sends nothing", other.Namespace, other.Name, cmp.Or(string(other.Status.Phase), "new"), id), "", now, "Failed")
	}
	cycle := billcycle.Of(now)
	var allocs budgetv1alpha1.BudgetAllocationList
	if err := r.List(ctx, &allocs, client.MatchingFields{common.IndexAllocationSubAccount: s.sa.Name}); err != nil {
		return ctrl.Result{}, err
	}
	shown := op.Status.Amount // what an approver saw
	setChoice(op, choice)
	totals := payment.TotalsOf(payments, s.customer, cycle, op.Namespace+"/"+op.Name)
	if b := payment.CheckLimits(s.sa, payment.Granted(allocs.Items), totals, choice.Amount, cycle); b != nil {
		return ctrl.Result{RequeueAfter: r.Options.FundsRecheckInterval}, r.wait(ctx, op, b.Reason, b.Message+"; it waits")
	}
	// An approver may set Approved only while the payment waits for it
	// (the payment status guard); a payment approved and then held back by
	// a limit keeps it while it waits in Pending.
	approved := common.IsTrue(op.Status.Conditions, budgetv1alpha1.ConditionApproved)
	if prev, err := money.Parse(string(shown)); approved && (err != nil || choice.Amount.Cmp(prev) > 0) {
		// An approval covers the amount the approver saw, no more.
		meta.RemoveStatusCondition(&op.Status.Conditions, budgetv1alpha1.ConditionApproved)
		return ctrl.Result{}, r.transition(ctx, op, budgetv1alpha1.PaymentAwaitingApproval, budgetv1alpha1.ReasonAwaitingApproval, fmt.Sprintf(
			"the payment now costs %s, more than the %s approved: set condition Approved=True (or Denied=True) on this payment's status again", choice.Amount, cmp.Or(string(shown), "nothing")))
	}
	if !approved {
		v, err := r.verdict(ctx, s, op, payments, choice.Amount, now)
		if err != nil {
			return ctrl.Result{}, err
		}
		if v.Needed {
			return ctrl.Result{}, r.transition(ctx, op, budgetv1alpha1.PaymentAwaitingApproval, budgetv1alpha1.ReasonAwaitingApproval,
				v.Message+": set condition Approved=True (or Denied=True) on this payment's status")
		}
	}
	if res, sent, err := r.markPaying(ctx, op, now); !sent {
		return res, err
	}
	unlock()
	locked = false
	return r.pay(ctx, s.acct, op, now)
}

// setChoice records how the payment pays: what it charges, the coupons and
// the discount.
func setChoice(op *budgetv1alpha1.OrderPayment, ch payment.Choice) {
	op.Status.Amount = common.Money(ch.Amount)
	op.Status.CouponAmount = common.Money(ch.CouponAmount)
	op.Status.Coupons = nil
	for _, c := range ch.Coupons {
		op.Status.Coupons = append(op.Status.Coupons, budgetv1alpha1.PaymentCouponUse{ID: c.ID, Type: int32(c.PayType), Amount: common.Money(c.Amount)})
	}
	op.Status.Discount = nil
	if d := ch.Discount; d != nil {
		op.Status.Discount = &budgetv1alpha1.PaymentDiscountUse{ID: d.ID, Type: int32(d.Type), Amount: common.Money(d.Amount)}
	}
}

// choiceOf reads back the choice recorded in status: a resend sends the
// same request as the first call.
func choiceOf(op *budgetv1alpha1.OrderPayment) payment.Choice {
	var ch payment.Choice
	ch.Amount, _ = money.Parse(string(op.Status.Amount))
	ch.CouponAmount, _ = money.Parse(string(op.Status.CouponAmount))
	for _, c := range op.Status.Coupons {
		a, _ := money.Parse(string(c.Amount))
		ch.Coupons = append(ch.Coupons, payment.CouponUse{ID: c.ID, PayType: int(c.Type), Amount: a})
	}
	if d := op.Status.Discount; d != nil {
		a, _ := money.Parse(string(d.Amount))
		ch.Discount = &payment.DiscountUse{ID: d.ID, Type: int(d.Type), Amount: a}
	}
	return ch
}

// otherPayer is the OrderPayment that pays op's order instead of op
// (payment.PayerOf), if any: for the order asked for and, once op pays the
// combined-transaction order, for that one. op's own entry in payments is
// taken as op is now.
func otherPayer(payments []budgetv1alpha1.OrderPayment, op *budgetv1alpha1.OrderPayment, id string) *budgetv1alpha1.OrderPayment {
	self := client.ObjectKeyFromObject(op)
	for i := range payments {
		if client.ObjectKeyFromObject(&payments[i]) == self {
			payments[i] = *op
		}
	}
	for _, order := range []string{id, op.Spec.OrderID} {
		if p := payment.PayerOf(payments, order); p != nil && client.ObjectKeyFromObject(p) != self {
			return p
		}
	}
	return nil
}

// verdict applies the EnterpriseAccount's approval settings to a payment
// of amount. Settings that cannot be read make it wait for an approver.
func (r *Reconciler) verdict(ctx context.Context, s *scope, op *budgetv1alpha1.OrderPayment, payments []budgetv1alpha1.OrderPayment, amount money.Amount, now time.Time) (approval.Verdict, error) {
	settings, err := approval.SettingsOf(s.ea.Spec.Approval)
	if err != nil {
		return approval.Unreadable(fmt.Sprintf("EnterpriseAccount %q: %v", s.ea.Name, err)), nil
	}
	cycle := billcycle.Of(now)
	if v := approval.Decide(settings, approval.PayOrder, amount, money.Zero, s.sa.Name, cycle); v.Needed || settings.PerCycle == nil {
		return v, nil
	}
	var transfers budgetv1alpha1.BudgetTransferList
	if err := r.APIReader.List(ctx, &transfers, client.MatchingLabels{budgetv1alpha1.LabelSubAccount: common.LabelValue(s.sa.Name)}); err != nil {
		return approval.Verdict{}, fmt.Errorf("listing the transfers of sub-account %s: %w", s.sa.Name, err)
	}
	m := approval.MovementOfPayment(op)
	m.Amount = amount
	used := approval.UsedBy(transfers.Items, payments, s.customer, m, cycle, billcycle.Of)
	return approval.Decide(settings, approval.PayOrder, amount, used, s.sa.Name, cycle), nil
}

// markPaying writes Paying and one more attempt before the call; sent is
// false when the write failed and nothing may be sent.
func (r *Reconciler) markPaying(ctx context.Context, op *budgetv1alpha1.OrderPayment, now time.Time) (ctrl.Result, bool, error) {
	old := op.Status.Phase
	t := metav1.NewTime(now)
	op.Status.Phase = budgetv1alpha1.PaymentPaying
	if op.Status.SubmittedTime == nil {
		op.Status.SubmittedTime = &t
	}
	if op.Status.Cycle == "" {
		op.Status.Cycle = billcycle.Of(now)
	}
	op.Status.Attempts++
	op.Status.LastAttemptTime = &t
	op.Status.ObservedGeneration = op.Generation
	common.SetCondition(&op.Status.Conditions, op.Generation, budgetv1alpha1.ConditionReady, metav1.ConditionFalse, budgetv1alpha1.ReasonPaying,
		fmt.Sprintf("paying order %s: %s (coupons %s)", cmp.Or(op.Status.PayOrderID, op.Spec.OrderID), op.Status.Amount, cmp.Or(string(op.Status.CouponAmount), "0.00")))
	if err := r.Status().Update(ctx, op); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: time.Second}, false, nil
		}
		return ctrl.Result{}, false, err
	}
	if old != budgetv1alpha1.PaymentPaying {
		r.Recorder.Eventf(op, nil, corev1.EventTypeNormal, string(budgetv1alpha1.PaymentPaying), "Pay", "%s → Paying: order %s, %s",
			orPhase(old), cmp.Or(op.Status.PayOrderID, op.Spec.OrderID), op.Status.Amount)
	}
	return ctrl.Result{}, true, nil
}

func orPhase(p budgetv1alpha1.PaymentPhase) string {
	if p == "" {
		return "new"
	}
	return string(p)
}

// pay sends the pay call for the attempt just recorded and records what
// its answer means.
func (r *Reconciler) pay(ctx context.Context, acct *accounts.Account, op *budgetv1alpha1.OrderPayment, now time.Time) (ctrl.Result, error) {
	id := cmp.Or(op.Status.PayOrderID, op.Spec.OrderID)
	// The call's context is detached from the reconcile's, so that a
	// shutdown cuts fewer calls in half; the outcome is read from the order
	// either way.
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.Options.BSSCallTimeout)
	defer cancel()
	err := acct.Client.PayOrders(callCtx, choiceOf(op).Request(id))
	log.FromContext(ctx).Info("order pay call", "payment", op.Name, "order", id, "attempt", op.Status.Attempts, "error", errString(err))
	if err == nil {
		op.Status.ErrorCode, op.Status.ErrorMessage = "", ""
		return r.finish(ctx, op, budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid, fmt.Sprintf(
			"BSS paid order %s: %s, of which coupons %s", id, op.Status.Amount, cmp.Or(string(op.Status.CouponAmount), "0.00")),
			budgetv1alpha1.PaymentEvidenceAnswer, now, "Paid")
	}
	op.Status.ErrorCode, op.Status.ErrorMessage = errorDetail(err)
	code := bss.Code(err)
	switch {
	case code == bss.CodeUseCombinedOrder:
		return r.combined(callCtx, ctx, acct, op, id, now)
	case code == bss.CodeInsufficientBalance:
		return r.refused(ctx, op, budgetv1alpha1.ReasonInsufficientBalance, err)
	case code == bss.CodeOrgBudgetInsufficient:
		return r.refused(ctx, op, budgetv1alpha1.ReasonOrganizationBudgetExceeded, err)
	case code == bss.CodeInvalidOrder:
		// The order is not payable as it is now: its status says why (paid
		// by an earlier attempt, cancelled, past its deadline).
		return r.settle(ctx, op, now, true)
	case definite(err):
		return r.finish(ctx, op, budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonBSSError,
			"BSS refused the payment: "+common.DescribeBSSError(err)+"; nothing was paid", "", now, "Failed")
	}
	return r.unanswered(ctx, op, err)
}

// definite reports a BSS answer that proves the payment was not taken: an
// error code that is neither ambiguous nor "in progress"/"too frequent".
func definite(err error) bool {
	code := bss.Code(err)
	if code == "" || bss.IsAmbiguousWrite(err) || bss.IsPaymentInProgress(err) || bss.IsTooFrequent(err) {
		return false
	}
	return true
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// errorDetail is the BSS code and message of err for status.
func errorDetail(err error) (string, string) {
	var be *bss.Error
	if errors.As(err, &be) {
		return bss.Clip(be.Code, 32), bss.Clip(be.Message, 1024)
	}
	return "", bss.Clip(err.Error(), 1024)
}

// unanswered keeps a payment whose call got no definite answer Paying:
// the order's status is read next, never the call sent again blindly.
func (r *Reconciler) unanswered(ctx context.Context, op *budgetv1alpha1.OrderPayment, err error) (ctrl.Result, error) {
	msg := fmt.Sprintf("attempt %d got no definite answer (%s): the order's status is read before anything is sent again",
		op.Status.Attempts, common.DescribeBSSError(err))
	common.SetCondition(&op.Status.Conditions, op.Generation, budgetv1alpha1.ConditionReady, metav1.ConditionFalse, budgetv1alpha1.ReasonPaying, msg)
	r.Recorder.Eventf(op, nil, corev1.EventTypeWarning, "PaymentUnanswered", "Pay", "%s", msg)
	if uerr := r.Status().Update(ctx, op); uerr != nil && !apierrors.IsConflict(uerr) {
		return ctrl.Result{}, uerr
	}
	return ctrl.Result{RequeueAfter: r.Options.SubmitRetryBase}, nil
}

// refused puts a payment BSS refused for funds back to Pending: it looks
// again after the funds recheck interval, doubled for each refusal in a
// row, at most an hour.
func (r *Reconciler) refused(ctx context.Context, op *budgetv1alpha1.OrderPayment, reason string, err error) (ctrl.Result, error) {
	op.Status.Refusals++
	wait := r.Options.FundsRecheckInterval
	for i := int32(1); i < op.Status.Refusals && wait < time.Hour; i++ {
		wait *= 2
	}
	wait = min(wait, time.Hour)
	msg := fmt.Sprintf("BSS refused to pay: %s; nothing was paid, it tries again in %s", common.DescribeBSSError(err), wait)
	if werr := r.transition(ctx, op, budgetv1alpha1.PaymentPending, reason, msg); werr != nil {
		return ctrl.Result{}, werr
	}
	return ctrl.Result{RequeueAfter: wait}, nil
}

// combined switches a payment to the combined-transaction order its order
// is part of (CBC.99000089): nothing was paid; the payment plans again with
// that order's amount.
func (r *Reconciler) combined(callCtx, ctx context.Context, acct *accounts.Account, op *budgetv1alpha1.OrderPayment, id string, now time.Time) (ctrl.Result, error) {
	all, err := acct.Client.ListAllOrders(callCtx, bss.ListOrdersRequest{Method: bss.MethodSubCustomer, CustomerID: op.Status.CustomerID})
	if err != nil {
		// Nothing was paid; the next reconcile reads the order again.
		return ctrl.Result{RequeueAfter: time.Second}, r.transition(ctx, op, budgetv1alpha1.PaymentPending, budgetv1alpha1.ReasonPending,
			fmt.Sprintf("order %s is part of a combined-transaction order (CBC.99000089), which could not be read yet: %s", id, common.DescribeBSSError(err)))
	}
	for _, o := range all {
		for _, so := range o.SubOrderInfos {
			if strings.EqualFold(so.OrderID, id) {
				op.Status.PayOrderID = o.OrderID
				return ctrl.Result{RequeueAfter: time.Millisecond}, r.transition(ctx, op, budgetv1alpha1.PaymentPending, budgetv1alpha1.ReasonPending,
					fmt.Sprintf("order %s is part of the combined-transaction order %s (CBC.99000089): that one is paid instead", id, o.OrderID))
			}
		}
	}
	return r.finish(ctx, op, budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonOrderNotFound, fmt.Sprintf(
		"BSS answered that order %s is part of a combined-transaction order (CBC.99000089), but no such order of customer %s is listed; nothing was paid", id, op.Status.CustomerID), "", now, "Failed")
}

// settle reads the order of a payment that is Paying: paid → Paid;
// cancelled or gone → the end; still pending → the call is sent again,
// but only once the order has read pending for the settle window since the
// last call (a payment being processed is not paid twice). invalid is set
// when BSS has just answered that the order is not payable (CBC.30000010):
// a pending order is then not paid again.
func (r *Reconciler) settle(ctx context.Context, op *budgetv1alpha1.OrderPayment, now time.Time, invalid bool) (ctrl.Result, error) {
	acct, ok := r.Registry.Get(op.Status.EnterpriseAccountName)
	if !ok && r.Registry.Connecting(op.Status.EnterpriseAccountName) {
		return ctrl.Result{RequeueAfter: accounts.ConnectingRetry}, nil
	}
	if !ok {
		return ctrl.Result{RequeueAfter: 5 * time.Second}, r.note(ctx, op, fmt.Sprintf(
			"EnterpriseAccount %s has no working connection: the order's status cannot be read yet", op.Status.EnterpriseAccountName))
	}
	id := cmp.Or(op.Status.PayOrderID, op.Spec.OrderID)
	f, err := readOrder(ctx, acct.Client, op.Status.CustomerID, id)
	switch {
	case errors.Is(err, errOrderNotFound):
		return r.finish(ctx, op, budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonOrderNotFound, fmt.Sprintf(
			"order %s is no longer listed; it was not paid", id), budgetv1alpha1.PaymentEvidenceOrderStatus, now, "Failed")
	case err != nil:
		_, after := common.ClassifyBSSError(err)
		return ctrl.Result{RequeueAfter: min(after, 30*time.Second)}, r.note(ctx, op, fmt.Sprintf(
			"reading order %s to learn whether attempt %d paid it: %s", id, op.Status.Attempts, common.DescribeBSSError(err)))
	}
	if done, res, err := r.orderSettled(ctx, op, f.order, now, true); done {
		return res, err
	}
	if invalid || f.order.Status != bss.OrderStatusPendingPayment {
		return r.finish(ctx, op, budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonOrderNotPayable, fmt.Sprintf(
			"order %s is %s and BSS does not take its payment (%s); nothing was paid", id, payment.OrderStatusName(f.order.Status), cmp.Or(op.Status.ErrorCode, "no code")), "", now, "Failed")
	}
	last := now
	if op.Status.LastAttemptTime != nil {
		last = op.Status.LastAttemptTime.Time
	}
	if wait := last.Add(r.Options.PaymentSettleWindow).Sub(now); wait > 0 {
		return ctrl.Result{RequeueAfter: min(wait, 10*time.Second)}, r.note(ctx, op, fmt.Sprintf(
			"order %s still reads pending after attempt %d: it is sent again only if it still does at %s", id, op.Status.Attempts, last.Add(r.Options.PaymentSettleWindow).UTC().Format(time.RFC3339)))
	}
	if res, sent, err := r.markPaying(ctx, op, now); !sent {
		return res, err
	}
	return r.pay(ctx, acct, op, now)
}

// note sets Ready's message while the phase stays, writing only a change.
func (r *Reconciler) note(ctx context.Context, op *budgetv1alpha1.OrderPayment, msg string) error {
	reason := cmp.Or(common.ReadyReason(op.Status.Conditions, budgetv1alpha1.ConditionReady), budgetv1alpha1.ReasonPending)
	return r.writeReady(ctx, op, reason, msg)
}

// readFailed reports a failed read of a payment not yet sent.
func (r *Reconciler) readFailed(ctx context.Context, op *budgetv1alpha1.OrderPayment, err error, now time.Time, doing string) (ctrl.Result, error) {
	if errors.Is(err, errOrderNotFound) {
		return r.finish(ctx, op, budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonOrderNotFound, fmt.Sprintf(
			"BSS lists no order %s that the master pays on a sub-account's behalf; nothing was paid", cmp.Or(op.Status.PayOrderID, op.Spec.OrderID)), "", now, "Failed")
	}
	if bss.Code(err) == "" && !bss.IsAmbiguousWrite(err) && !bss.IsRetryableRead(err) {
		var be *bss.Error
		if !errors.As(err, &be) {
			return ctrl.Result{}, err
		}
	}
	reason, after := common.ClassifyBSSError(err)
	op.Status.ErrorCode, op.Status.ErrorMessage = errorDetail(err)
	return ctrl.Result{RequeueAfter: min(after, time.Minute)}, r.wait(ctx, op, reason, doing+": "+common.DescribeBSSError(err))
}

// wait records that the payment is Pending for reason (nothing sent).
func (r *Reconciler) wait(ctx context.Context, op *budgetv1alpha1.OrderPayment, reason, msg string) error {
	if op.Status.Phase == "" || op.Status.Phase == budgetv1alpha1.PaymentAwaitingApproval {
		// A payment approved but held back (by a limit, a SubAccount that
		// is not Ready) waits as Pending; its approval stays on it.
		op.Status.Phase = budgetv1alpha1.PaymentPending
	}
	op.Status.ObservedGeneration = op.Generation
	return r.writeReady(ctx, op, reason, msg)
}

// writeReady sets Ready=False with reason and msg, writing only a change
// (with an event when the reason changes); a conflict means a newer
// version, which is reconciled next.
func (r *Reconciler) writeReady(ctx context.Context, op *budgetv1alpha1.OrderPayment, reason, msg string) error {
	oldReason := common.ReadyReason(op.Status.Conditions, budgetv1alpha1.ConditionReady)
	common.SetCondition(&op.Status.Conditions, op.Generation, budgetv1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	if orig, ok := ctx.Value(readStatus{}).(*budgetv1alpha1.OrderPaymentStatus); ok && apiequality.Semantic.DeepEqual(orig, &op.Status) {
		return nil
	}
	if err := r.Status().Update(ctx, op); err != nil {
		if apierrors.IsConflict(err) {
			return nil
		}
		return err
	}
	if oldReason != reason {
		r.Recorder.Eventf(op, nil, eventType(reason), reason, "Wait", "%s", msg)
	}
	return nil
}

func eventType(reason string) string {
	switch reason {
	case budgetv1alpha1.ReasonPending, budgetv1alpha1.ReasonPaying, budgetv1alpha1.ReasonAwaitingApproval, budgetv1alpha1.ReasonProgressing:
		return corev1.EventTypeNormal
	}
	return corev1.EventTypeWarning
}

// transition writes a new phase with Ready=False and an event.
func (r *Reconciler) transition(ctx context.Context, op *budgetv1alpha1.OrderPayment, phase budgetv1alpha1.PaymentPhase, reason, msg string) error {
	old := op.Status.Phase
	op.Status.Phase = phase
	op.Status.ObservedGeneration = op.Generation
	common.SetCondition(&op.Status.Conditions, op.Generation, budgetv1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	if phase != budgetv1alpha1.PaymentAwaitingApproval {
		// A new wait for approval starts from no decision.
		meta.RemoveStatusCondition(&op.Status.Conditions, budgetv1alpha1.ConditionApproved)
	}
	if err := r.Status().Update(ctx, op); err != nil {
		if apierrors.IsConflict(err) {
			return nil
		}
		return err
	}
	if old != phase {
		r.Recorder.Eventf(op, nil, eventType(reason), string(phase), "Transition", "%s → %s: %s", orPhase(old), phase, msg)
	}
	return nil
}

// finish writes a final phase.
func (r *Reconciler) finish(ctx context.Context, op *budgetv1alpha1.OrderPayment, phase budgetv1alpha1.PaymentPhase, reason, msg, evidence string, now time.Time, result string) (ctrl.Result, error) {
	old := op.Status.Phase
	t := metav1.NewTime(now)
	op.Status.Phase = phase
	op.Status.CompletionTime = &t
	op.Status.Evidence = evidence
	op.Status.ObservedGeneration = op.Generation
	status := metav1.ConditionFalse
	if phase == budgetv1alpha1.PaymentPaid {
		status = metav1.ConditionTrue
	}
	common.SetCondition(&op.Status.Conditions, op.Generation, budgetv1alpha1.ConditionReady, status, reason, msg)
	if err := r.Status().Update(ctx, op); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, err
	}
	metrics.OrderPayments.WithLabelValues(op.Spec.SubAccountName, result).Inc()
	if reason == budgetv1alpha1.ReasonPaid {
		r.moneyMoved(op.Status.EnterpriseAccountName)
	}
	typ := corev1.EventTypeNormal
	if phase == budgetv1alpha1.PaymentFailed {
		typ = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(op, nil, typ, reason, "Transition", "%s → %s: %s", orPhase(old), phase, msg)
	return ctrl.Result{}, nil
}

// moneyMoved drops what the operator has cached of the master's balances
// after a payment took some of them: how much came from coupons, cash and
// credit is BSS's to say, so they are read again (and the
// EnterpriseAccount's status with them).
func (r *Reconciler) moneyMoved(enterpriseAccount string) {
	acct, ok := r.Registry.Get(enterpriseAccount)
	if !ok {
		return
	}
	acct.ForgetTransferableCash()
	accounts.Forget(acct, accounts.MasterCredit)
	accounts.Forget(acct, accounts.MasterCoupons)
}

// SetupWithManager registers the controller. A SubAccount's change that a
// decision reads brings back its payments that have not been sent
// (subAccountDecides); a payment that finds no connection to its master
// looks again after a few seconds.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Options.Defaults()
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Approvals == nil {
		r.Approvals = &common.KeyedLocks{}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&budgetv1alpha1.OrderPayment{}).
		Watches(&budgetv1alpha1.SubAccount{}, handler.EnqueueRequestsFromMapFunc(r.paymentsOfSubAccount), builder.WithPredicates(subAccountDecides())).
		Named("orderpayment").
		Complete(r)
}

// subAccountDecides passes the SubAccount changes a payment's decision
// reads: its spec (limits, admitted namespaces, policy), readiness and
// customer, and the cycle's consumption. Its other status (balances read
// every few minutes) would only make waiting payments read BSS again.
func subAccountDecides() predicate.Predicate {
	key := func(sa *budgetv1alpha1.SubAccount) string {
		consumed := ""
		if c := sa.Status.CurrentCycle; c != nil {
			consumed = c.Cycle + "/" + string(c.Consumption)
		}
		return strings.Join([]string{strconv.FormatInt(sa.Generation, 10), sa.Status.CustomerID,
			strconv.FormatBool(common.IsTrue(sa.Status.Conditions, budgetv1alpha1.ConditionReady)), consumed}, "\x00")
	}
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*budgetv1alpha1.SubAccount)
		n, ok2 := e.ObjectNew.(*budgetv1alpha1.SubAccount)
		return !ok1 || !ok2 || key(o) != key(n)
	}}
}

// paymentsOfSubAccount are the open payments of a SubAccount.
func (r *Reconciler) paymentsOfSubAccount(ctx context.Context, o client.Object) []reconcile.Request {
	payments, err := payment.ListOf(ctx, r.Client, o.GetName())
	if err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range payments {
		switch payments[i].Status.Phase {
		case "", budgetv1alpha1.PaymentPending, budgetv1alpha1.PaymentAwaitingApproval:
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&payments[i])})
		}
	}
	return out
}

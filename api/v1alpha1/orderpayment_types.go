package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PaymentPhase is where an order payment is in its life.
// +kubebuilder:validation:Enum=Pending;AwaitingApproval;Paying;Paid;Failed;Cancelled
type PaymentPhase string

const (
	// PaymentPending means not paid yet: the order is being read, or the
	// payment waits for a limit, funds or the master's balance (the Ready
	// condition's reason says which).
	PaymentPending PaymentPhase = "Pending"
	// PaymentAwaitingApproval means above the approval limits; waits for an
	// Approved or Denied condition.
	PaymentAwaitingApproval PaymentPhase = "AwaitingApproval"
	// PaymentPaying means the pay call is being sent or was sent without a
	// definite answer; the order's own status is read before anything is
	// sent again.
	PaymentPaying PaymentPhase = "Paying"
	// PaymentPaid means the order is paid (by this payment, or elsewhere:
	// see the Ready condition's reason).
	PaymentPaid PaymentPhase = "Paid"
	// PaymentFailed means the order was not paid by this payment and will
	// not be: refused, denied, above its bound, or the order is gone.
	PaymentFailed PaymentPhase = "Failed"
	// PaymentCancelled means the pending order was cancelled
	// (cancelOrderOnDelete) or was cancelled elsewhere.
	PaymentCancelled PaymentPhase = "Cancelled"
)

// PaymentSelection chooses coupons or the discount of a payment.
// +kubebuilder:validation:Enum=Auto;Explicit;None
type PaymentSelection string

const (
	// SelectAuto lets the operator choose: for coupons, the usable ones
	// that take the most off (at most 3); for the discount, the order's
	// price adjustment if it has one, else the one that takes the most off.
	SelectAuto PaymentSelection = "Auto"
	// SelectExplicit uses the ids listed.
	SelectExplicit PaymentSelection = "Explicit"
	// SelectNone uses none.
	SelectNone PaymentSelection = "None"
)

// PaymentCoupons chooses the master's coupons that pay part of the order.
//
// +kubebuilder:validation:XValidation:rule="self.mode == 'Explicit' ? has(self.ids) && size(self.ids) > 0 : !has(self.ids) || size(self.ids) == 0",message="coupons.ids lists 1 to 3 coupon ids with mode Explicit, and nothing otherwise"
type PaymentCoupons struct {
	// Mode is Auto (default), Explicit or None.
	// +kubebuilder:default=Auto
	// +optional
	Mode PaymentSelection `json:"mode,omitempty"`
	// IDs are the coupon ids (from ListOrderCouponsByOrderId) with mode
	// Explicit.
	// +listType=set
	// +kubebuilder:validation:MaxItems=3
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=64
	// +optional
	IDs []string `json:"ids,omitempty"`
}

// PaymentDiscount chooses the discount of the payment.
//
// +kubebuilder:validation:XValidation:rule="(self.mode == 'Explicit') == has(self.id)",message="discount.id is required with mode Explicit and not allowed otherwise"
type PaymentDiscount struct {
	// Mode is Auto (default), Explicit or None. An order that carries a
	// price adjustment (discount type 609) must be paid with it: None or
	// another id fails such a payment.
	// +kubebuilder:default=Auto
	// +optional
	Mode PaymentSelection `json:"mode,omitempty"`
	// ID is the discount id (from ListOrderDiscounts) with mode Explicit.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +optional
	ID string `json:"id,omitempty"`
}

// OrderPaymentSpec is one payment of a pending yearly/monthly order of a
// sub-account by its master. It never changes.
//
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="OrderPayment spec is immutable; delete it and create a new one"
type OrderPaymentSpec struct {
	// SubAccountName is the SubAccount whose order is paid. The SubAccount
	// must admit this namespace in spec.allowedNamespaces (payments the
	// operator creates from the SubAccount's orderPayment policy are
	// admitted by that policy).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	SubAccountName string `json:"subAccountName"`
	// OrderID is the pending order (ListCustomerOrders with
	// method=sub_customer). It must be an order of that sub-account.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	OrderID string `json:"orderID"`
	// MaxAmount is the most the payment may charge (the order's amount
	// after its discount, coupons included). A payment that would charge
	// more fails without paying.
	// +kubebuilder:validation:XValidation:rule="!self.matches('^0([.]0{1,2})?$')",message="maxAmount must be greater than 0"
	MaxAmount Money `json:"maxAmount"`
	// Coupons chooses the coupons (default Auto).
	// +kubebuilder:default={mode: Auto}
	// +optional
	Coupons PaymentCoupons `json:"coupons,omitempty"`
	// Discount chooses the discount (default Auto).
	// +kubebuilder:default={mode: Auto}
	// +optional
	Discount PaymentDiscount `json:"discount,omitempty"`
	// CancelOrderOnDelete cancels the pending order in BSS when this
	// OrderPayment is deleted before the order was paid.
	// +optional
	CancelOrderOnDelete bool `json:"cancelOrderOnDelete,omitempty"`
}

// PaymentOrder is the order as BSS last showed it.
type PaymentOrder struct {
	// Amount is the order's amount after its own discounts (before the
	// payment's discount and coupons).
	// +optional
	Amount Money `json:"amount,omitempty"`
	// OfficialAmount is the list price.
	// +optional
	OfficialAmount Money `json:"officialAmount,omitempty"`
	// Type is New, Renewal, Change, Unsubscribe or the BSS code.
	// +kubebuilder:validation:MaxLength=32
	// +optional
	Type string `json:"type,omitempty"`
	// Service is the cloud service type code (hws.service.type.ec2).
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Service string `json:"service,omitempty"`
	// ServiceName is the service's name.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	ServiceName string `json:"serviceName,omitempty"`
	// Status is PendingPayment, Processing, Completed, Cancelled or the
	// BSS code.
	// +kubebuilder:validation:MaxLength=32
	// +optional
	Status string `json:"status,omitempty"`
	// CreateTime and PaymentDeadline are UTC times as BSS writes them.
	// +kubebuilder:validation:MaxLength=32
	// +optional
	CreateTime string `json:"createTime,omitempty"`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	PaymentDeadline string `json:"paymentDeadline,omitempty"`
	// CombinedOrderID is the combined-transaction order this order is
	// part of (CBC.99000089): the payment pays that one.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	CombinedOrderID string `json:"combinedOrderID,omitempty"`
	// Resources are the order's line items (at most 20 shown).
	// +kubebuilder:validation:MaxItems=20
	// +optional
	Resources []PaymentResource `json:"resources,omitempty"`
}

// PaymentResource is one line item of an order.
type PaymentResource struct {
	// ID is the line item id.
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id"`
	// Service is the line's service type code.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Service string `json:"service,omitempty"`
	// Spec describes the product.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Spec string `json:"spec,omitempty"`
	// Period is e.g. "1 month" or "1 year".
	// +kubebuilder:validation:MaxLength=32
	// +optional
	Period string `json:"period,omitempty"`
	// Amount is the line's amount after discount.
	// +optional
	Amount Money `json:"amount,omitempty"`
}

// PaymentCouponUse is a coupon a payment uses.
type PaymentCouponUse struct {
	// ID of the coupon.
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id"`
	// Type is the PayOrders coupon type (300 discount coupon, 301 cash
	// voucher, 302 flexi-purchase coupon, 303 stored-value card).
	// +optional
	Type int32 `json:"type,omitempty"`
	// Amount it takes off (at most its balance).
	// +optional
	Amount Money `json:"amount,omitempty"`
}

// PaymentDiscountUse is the discount a payment uses.
type PaymentDiscountUse struct {
	// ID of the discount.
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id"`
	// Type is 0 promotion, 1 contract, 2 business, 3 partner, 609 price
	// adjustment.
	// +optional
	Type int32 `json:"type,omitempty"`
	// Amount it takes off.
	// +optional
	Amount Money `json:"amount,omitempty"`
}

// OrderPaymentStatus is the payment's progress.
type OrderPaymentStatus struct {
	// ObservedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions means Ready, Approved, Denied.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Phase is Pending, AwaitingApproval, Paying, Paid, Failed or
	// Cancelled.
	// +optional
	Phase PaymentPhase `json:"phase,omitempty"`
	// CustomerID is the sub-account's BSS customer id.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	CustomerID string `json:"customerID,omitempty"`
	// EnterpriseAccountName is the master that pays.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	EnterpriseAccountName string `json:"enterpriseAccountName,omitempty"`
	// PayOrderID is the order id sent to BSS: spec.orderID, or the
	// combined-transaction order it belongs to.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	PayOrderID string `json:"payOrderID,omitempty"`
	// Order is the order as BSS last showed it.
	// +optional
	Order *PaymentOrder `json:"order,omitempty"`
	// Amount is what the payment charges the master: the order's amount
	// after the chosen discount, coupons included. It counts against the
	// SubAccount's fundingLimit and monthlyBudget and the approval limits.
	// +optional
	Amount Money `json:"amount,omitempty"`
	// CouponAmount is the part of Amount the coupons pay.
	// +optional
	CouponAmount Money `json:"couponAmount,omitempty"`
	// Coupons are the coupons used.
	// +kubebuilder:validation:MaxItems=3
	// +optional
	Coupons []PaymentCouponUse `json:"coupons,omitempty"`
	// Discount is the discount used.
	// +optional
	Discount *PaymentDiscountUse `json:"discount,omitempty"`
	// Cycle is the bill cycle (YYYY-MM, UTC+8) the payment counts in: the
	// one it was first sent in.
	// +kubebuilder:validation:MaxLength=7
	// +optional
	Cycle string `json:"cycle,omitempty"`
	// Attempts is the number of pay calls sent (or about to be sent) to BSS.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// Refusals counts the definite refusals for funds (CBC.99005003,
	// CBC.99003198) that the payment waits out, each longer.
	// +optional
	Refusals int32 `json:"refusals,omitempty"`
	// SubmittedTime is when the payment first entered Paying.
	// +optional
	SubmittedTime *metav1.Time `json:"submittedTime,omitempty"`
	// LastAttemptTime is when the last pay call was sent.
	// +optional
	LastAttemptTime *metav1.Time `json:"lastAttemptTime,omitempty"`
	// CompletionTime is when the outcome became known.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// ErrorCode is the last BSS error code (e.g. CBC.99005003).
	// +kubebuilder:validation:MaxLength=32
	// +optional
	ErrorCode string `json:"errorCode,omitempty"`
	// ErrorMessage is the last BSS error message.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	ErrorMessage string `json:"errorMessage,omitempty"`
	// Evidence says how the outcome is known: Answer (BSS answered the pay
	// call with success) or OrderStatus (the order read as paid or
	// cancelled).
	// +kubebuilder:validation:Enum=Answer;OrderStatus
	// +optional
	Evidence string `json:"evidence,omitempty"`
}

// Evidence kinds of an OrderPayment.
const (
	// PaymentEvidenceAnswer: BSS answered the pay call with success.
	PaymentEvidenceAnswer = "Answer"
	// PaymentEvidenceOrderStatus: the order's own status showed it paid
	// (or cancelled).
	PaymentEvidenceOrderStatus = "OrderStatus"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=op,categories=budget
// +kubebuilder:selectablefield:JSONPath=`.spec.orderID`
// +kubebuilder:selectablefield:JSONPath=`.spec.subAccountName`
// +kubebuilder:selectablefield:JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="SubAccount",type=string,JSONPath=`.spec.subAccountName`
// +kubebuilder:printcolumn:name="Order",type=string,JSONPath=`.spec.orderID`
// +kubebuilder:printcolumn:name="Amount",type=string,JSONPath=`.status.amount`
// +kubebuilder:printcolumn:name="Max",type=string,JSONPath=`.spec.maxAmount`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// OrderPayment pays one pending yearly/monthly order of a sub-account from
// its master's balance, at most once, within a bound, the SubAccount's
// limits and the approval rules. Teams create it in a namespace their
// SubAccount admits, or the operator creates it from the SubAccount's
// orderPayment policy.
type OrderPayment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the payment asked for.
	Spec OrderPaymentSpec `json:"spec"`
	// Status is its progress.
	// +optional
	Status OrderPaymentStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// OrderPaymentList is a list of OrderPayments.
type OrderPaymentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the OrderPayments.
	Items []OrderPayment `json:"items"`
}

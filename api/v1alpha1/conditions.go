package v1alpha1

// Condition types. Every kind has Ready; the others are kind-specific.
const (
	// ConditionReady is True when the object is in its desired state.
	ConditionReady = "Ready"
	// ConditionBudgetExceeded is True on a SubAccount whose current bill
	// cycle's consumption is above its monthly budget.
	ConditionBudgetExceeded = "BudgetExceeded"
	// ConditionApproved, set to True on a BudgetTransfer's status by a person
	// or tool allowed to update budgettransfers/status, releases a transfer
	// waiting for approval.
	ConditionApproved = "Approved"
	// ConditionDenied, set to True the same way, fails a transfer waiting for
	// approval.
	ConditionDenied = "Denied"
	// ConditionBudgetForecastExceeded is True on a SubAccount whose current
	// bill cycle's projected spend is above its monthly budget.
	ConditionBudgetForecastExceeded = "BudgetForecastExceeded"
	// ConditionCostCenterNotEnabled is True on an EnterpriseAccount whose
	// master has not enabled Cost Center (CBC.18000014): no amortized costs
	// or forecasts, everything else works.
	ConditionCostCenterNotEnabled = "CostCenterNotEnabled"
	// ConditionReportsSynced is False on an EnterpriseAccount whose reports
	// (account balances, resource packages, costs, income/expense records)
	// could not be read; the message has the BSS code.
	ConditionReportsSynced = "ReportsSynced"
)

// Condition reasons. They are stable CamelCase words that tools such as the
// Argo CD health check match on.
const (
	// ReasonReady means the object is in its desired state.
	ReasonReady = "Ready"
	// ReasonProgressing means work is under way and nothing is wrong.
	ReasonProgressing = "Progressing"

	// ReasonCredentialsMissing means the credentials Secret or one of its keys is absent.
	ReasonCredentialsMissing = "CredentialsMissing"
	// ReasonCredentialsRejected means BSS refused the credentials.
	ReasonCredentialsRejected = "CredentialsRejected"
	// ReasonEndpointUnreachable means the BSS endpoint could not be reached.
	ReasonEndpointUnreachable = "EndpointUnreachable"
	// ReasonThrottled means BSS throttled the operator (APIG.0308); it retries later.
	ReasonThrottled = "Throttled"
	// ReasonBSSError means BSS answered with an error code shown in the message.
	ReasonBSSError = "BSSError"

	// ReasonEnterpriseAccountNotReady means the referenced EnterpriseAccount is
	// missing or not Ready.
	ReasonEnterpriseAccountNotReady = "EnterpriseAccountNotReady"
	// ReasonSubAccountNotFound means BSS does not know the sub-account (CBC.99000047)
	// or it is not a sub-account of the master.
	ReasonSubAccountNotFound = "SubAccountNotFound"
	// ReasonSubAccountClosed means BSS reports the sub-account as closing or
	// closed; nothing is funded.
	ReasonSubAccountClosed = "SubAccountClosed"
	// ReasonCustomerIDInUse means another SubAccount already adopts the
	// customer (or claims it and is older); the message names it. Nothing is
	// funded through this SubAccount until that one is deleted.
	ReasonCustomerIDInUse = "CustomerIDInUse"
	// ReasonCreating means the sub-account is being created in BSS.
	ReasonCreating = "Creating"
	// ReasonAwaitingVerificationCode means an SMS code was sent and the operator
	// waits for the Secret holding it.
	ReasonAwaitingVerificationCode = "AwaitingVerificationCode"
	// ReasonCreateFailed means BSS refused to create the sub-account.
	ReasonCreateFailed = "CreateFailed"
	// ReasonBudgetExceeded means consumption is above the monthly budget.
	ReasonBudgetExceeded = "BudgetExceeded"
	// ReasonWithinBudget means consumption is at or below the monthly budget.
	ReasonWithinBudget = "WithinBudget"
	// ReasonForecastAboveBudget means the cycle's projected spend is above
	// the monthly budget.
	ReasonForecastAboveBudget = "ForecastAboveBudget"
	// ReasonForecastWithinBudget means the projected spend is within it.
	ReasonForecastWithinBudget = "ForecastWithinBudget"
	// ReasonForecastUnknown means there is too little daily spend data to
	// project (or no Cost Center).
	ReasonForecastUnknown = "ForecastUnknown"
	// ReasonCostCenterNotEnabled means BSS answered CBC.18000014.
	ReasonCostCenterNotEnabled = "CostCenterNotEnabled"
	// ReasonCostCenterEnabled means cost data was read.
	ReasonCostCenterEnabled = "CostCenterEnabled"
	// ReasonReportsSynced means every report was read.
	ReasonReportsSynced = "ReportsSynced"

	// ReasonSubAccountNotReady means the referenced SubAccount is missing or not Ready.
	ReasonSubAccountNotReady = "SubAccountNotReady"
	// ReasonNamespaceNotAllowed means the SubAccount's allowedNamespaces does not
	// admit the allocation's namespace; nothing moves.
	ReasonNamespaceNotAllowed = "NamespaceNotAllowed"
	// ReasonInsufficientFunds means the master cannot cover the next transfer; no
	// transfer is created until it can.
	ReasonInsufficientFunds = "InsufficientFunds"
	// ReasonFundingLimitExceeded means the SubAccount's fundingLimit would be exceeded.
	ReasonFundingLimitExceeded = "FundingLimitExceeded"
	// ReasonTransferInProgress means a transfer is in flight.
	ReasonTransferInProgress = "TransferInProgress"
	// ReasonTransferFailed means the last transfer failed; the operator backs off
	// and tries again.
	ReasonTransferFailed = "TransferFailed"
	// ReasonOutcomeUnknown means a transfer stayed Submitting past the safety
	// window (or the declared trans_id retention), or BSS answered
	// CBC.99007009 and nothing confirms that money moved; an administrator
	// settles it with the budget.bss.dev/resolve annotation.
	ReasonOutcomeUnknown = "OutcomeUnknown"
	// ReasonTransIDBurned (BudgetTransfer): BSS answered CBC.99007009
	// although the evidence shows that no attempt moved money: it remembers
	// refused trans_ids. Nothing moved; the allocation plans the movement
	// again under a new trans_id.
	ReasonTransIDBurned = "TransIDBurned"
	// ReasonLedgerBehindBSS means BSS answered CBC.99007009 to the first
	// attempt of a transfer: it had seen that trans_id before the transfer
	// existed, so the allocation's ledger is older than BSS's books (a
	// restore, an etcd rollback, transfers deleted by hand). Nothing is
	// sent until an administrator settles it.
	ReasonLedgerBehindBSS = "LedgerBehindBSS"
	// ReasonSuperseded ends a transfer stopped with LedgerBehindBSS once
	// an administrator accepted the reconstruction of its allocation's
	// ledger: the step under its trans_id is the one BSS's records show,
	// counted in the allocation's checkpoint.
	ReasonSuperseded = "Superseded"
	// ReasonPlanned means managementPolicy is Plan; status shows what would move.
	ReasonPlanned = "Planned"
	// ReasonPaused means managementPolicy is Paused; nothing moves.
	ReasonPaused = "Paused"
	// ReasonReclaiming means the allocation is being deleted and its money reclaimed.
	ReasonReclaiming = "Reclaiming"
	// ReasonReclaimBlocked means deletion with Reclaim cannot finish; see the
	// message, or release it with the budget.bss.dev/release-finalizer annotation.
	ReasonReclaimBlocked = "ReclaimBlocked"
	// ReasonCouponUnavailable means a requested master coupon is missing or too small.
	ReasonCouponUnavailable = "CouponUnavailable"
	// ReasonCustomerChanged means the allocation granted money to a BSS
	// customer its SubAccount no longer resolves to; nothing moves until the
	// SubAccount's spec.previousCustomers says Reclaim or Release for it.
	ReasonCustomerChanged = "CustomerChanged"
	// ReasonTransferNameConflict means the name of the allocation's next
	// BudgetTransfer is taken by an object it does not own; nothing moves.
	ReasonTransferNameConflict = "TransferNameConflict"

	// ReasonPending means the transfer has not been sent yet.
	ReasonPending = "Pending"
	// ReasonAwaitingApproval means the transfer is above the approval threshold.
	ReasonAwaitingApproval = "AwaitingApproval"
	// ReasonSubmitting means the transfer is being sent to BSS.
	ReasonSubmitting = "Submitting"
	// ReasonSucceeded means BSS applied the transfer.
	ReasonSucceeded = "Succeeded"
	// ReasonFailed means BSS refused the transfer with a terminal code.
	ReasonFailed = "Failed"
	// ReasonDenied means an approver denied the transfer. On an allocation
	// it means the movement it needs was denied and is not asked for again
	// until the allocation's spec or the approval settings change.
	ReasonDenied = "Denied"
	// ReasonWithdrawn means the transfer was never sent and its allocation no
	// longer wants it (spec changed, Paused, Plan, deleted); nothing moved.
	ReasonWithdrawn = "Withdrawn"
	// ReasonResolvedByAdmin means an administrator settled the outcome.
	ReasonResolvedByAdmin = "ResolvedByAdmin"

	// OrderPayment reasons (with Pending, AwaitingApproval, Denied,
	// NamespaceNotAllowed, SubAccountNotReady, EnterpriseAccountNotReady,
	// FundingLimitExceeded and BSSError above).

	// ReasonPaying means the pay call is being sent, or its outcome is
	// being read from the order's status.
	ReasonPaying = "Paying"
	// ReasonPaid means this payment paid the order.
	ReasonPaid = "Paid"
	// ReasonPaidElsewhere means the order was found paid before this
	// payment sent anything: nothing was charged by it.
	ReasonPaidElsewhere = "PaidElsewhere"
	// ReasonOrderCancelled means the order was cancelled (elsewhere, or by
	// this payment's deletion with cancelOrderOnDelete).
	ReasonOrderCancelled = "OrderCancelled"
	// ReasonOrderNotFound means BSS does not know the order (CBC.30000010)
	// or does not list it among the sub-account's on-behalf orders.
	ReasonOrderNotFound = "OrderNotFound"
	// ReasonOrderNotPayable means the order is in a state no payment can
	// change (under review, refund, deadline passed).
	ReasonOrderNotPayable = "OrderNotPayable"
	// ReasonWrongSubAccount means the order belongs to another customer
	// than the SubAccount named: nothing is paid.
	ReasonWrongSubAccount = "WrongSubAccount"
	// ReasonAboveMaxAmount means the payment would charge more than its
	// maxAmount: nothing is paid.
	ReasonAboveMaxAmount = "AboveMaxAmount"
	// ReasonMonthlyBudgetExceeded means the payment would take the
	// SubAccount's spending in the bill cycle past its monthlyBudget; it
	// waits.
	ReasonMonthlyBudgetExceeded = "MonthlyBudgetExceeded"
	// ReasonInsufficientBalance means BSS refused the payment for the
	// master's balance (CBC.99005003); it waits and looks again later.
	ReasonInsufficientBalance = "InsufficientBalance"
	// ReasonOrganizationBudgetExceeded means BSS refused the payment for
	// the enterprise organization's own budget (CBC.99003198); it waits and
	// looks again later.
	ReasonOrganizationBudgetExceeded = "OrganizationBudgetExceeded"
	// ReasonDuplicatePayment means an older OrderPayment pays the same
	// order: this one sends nothing.
	ReasonDuplicatePayment = "DuplicatePayment"
	// ReasonCouponUnusable means an explicitly chosen coupon or discount is
	// not usable for the order.
	ReasonCouponUnusable = "CouponUnusable"
)

// Annotations understood by the operator.
const (
	// AnnotationResolve settles a BudgetTransfer whose outcome is unknown:
	// "Succeeded" if the money moved, "Failed" if it did not.
	AnnotationResolve = "budget.bss.dev/resolve"
	// AnnotationReleaseFinalizer, set to "true" on a BudgetAllocation being
	// deleted with Reclaim, releases it even though the reclaim is blocked.
	AnnotationReleaseFinalizer = "budget.bss.dev/release-finalizer"
	// AnnotationWithdraw is set by the operator on a BudgetTransfer that was
	// never sent and that its allocation no longer wants; its value says
	// why. The transfer then ends Failed with reason Withdrawn.
	AnnotationWithdraw = "budget.bss.dev/withdraw"
	// AnnotationAllocationGeneration is the generation of the allocation
	// that asks for a BudgetTransfer. A transfer waiting for approval is sent
	// only while its allocation is Managed and still at that generation.
	AnnotationAllocationGeneration = "budget.bss.dev/allocation-generation"
	// AnnotationApprovalLimit is the EnterpriseAccount's autoApproveUpTo
	// when the BudgetTransfer was created ("" without a limit): a denial
	// stands until the allocation's spec or this limit changes.
	AnnotationApprovalLimit = "budget.bss.dev/approval-limit"
	// AnnotationLedgerID is the identity an allocation's trans_ids derive
	// from, "<namespace>/<name>/<id>", written by the operator before the
	// first transfer. It travels with the object through a backup and
	// restore or `kubectl get -o yaml | kubectl apply`, so a restored
	// allocation sends the trans_ids it sent before; a value naming another
	// allocation is replaced (a copy is a new ledger).
	AnnotationLedgerID = "budget.bss.dev/ledger-id"
	// AnnotationAcceptReconstruction, set by an administrator on a
	// transfer stopped with LedgerBehindBSS to the digest of its
	// allocation's status.reconstruction, accepts that reconstruction.
	AnnotationAcceptReconstruction = "budget.bss.dev/accept-reconstruction"
)

// Labels the operator puts on the objects it creates (values cut to 63
// characters).
const (
	// LabelAllocation is the name of the transfer's BudgetAllocation.
	LabelAllocation = "budget.bss.dev/allocation"
	// LabelSubAccount is the name of the SubAccount the transfer funds.
	LabelSubAccount = "budget.bss.dev/subaccount"
	// LabelLedger is on LedgerRecords: a hash of the allocation's ledger id
	// (LedgerKey), so that its trail is listed by a label selector.
	LabelLedger = "budget.bss.dev/ledger"
	// LabelNamespace is on LedgerRecords: the allocation's namespace.
	LabelNamespace = "budget.bss.dev/namespace"
	// LabelYear is on LedgerRecords: the year (UTC) the record was written,
	// for retention (kubectl delete ledgerrecords -l 'budget.bss.dev/year in (...)').
	LabelYear = "budget.bss.dev/year"
	// LabelCreatedBy is on objects the operator creates on its own
	// initiative: what created them (CreatedByOrderPaymentPolicy).
	LabelCreatedBy = "budget.bss.dev/created-by"
)

// Values of LabelCreatedBy.
const (
	// CreatedByOrderPaymentPolicy marks the OrderPayments the operator
	// creates from a SubAccount's orderPayment policy (mode Auto).
	CreatedByOrderPaymentPolicy = "order-payment-policy"
)

// Finalizer is the finalizer the operator puts on the objects it manages:
// BudgetAllocations (their transfers are written to the audit trail, and
// with deletionPolicy Reclaim their money is reclaimed, before they go) and
// BudgetTransfers (one is not deleted while its outcome in BSS is unknown).
const Finalizer = "budget.bss.dev/finalizer"

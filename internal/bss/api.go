package bss

import (
	"context"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// The narrow boundary between the controllers and BSS: what they read, the
// money writes, and the account administration. *Client implements it
// against the real API; bssfake implements it in memory for unit tests of
// the reconcilers.

// Reader is what the controllers read from BSS.
type Reader interface {
	TransferableCash(ctx context.Context) (money.Amount, error)
	TransferableCredit(ctx context.Context) ([]AmountInfo, error)
	ListAllTransferableCoupons(ctx context.Context) ([]Coupon, error)
	ReclaimableCash(ctx context.Context, subCustomerID string) (money.Amount, error)
	ReclaimableCredit(ctx context.Context, subCustomerID string) ([]AmountInfo, error)
	ListAllReclaimableCoupons(ctx context.Context, subCustomerID string) ([]SubCoupon, error)
	ListSubCustomers(ctx context.Context, req ListSubCustomersRequest) (*ListSubCustomersResponse, error)
	ListAllSubCustomers(ctx context.Context, req ListSubCustomersRequest) ([]SubCustomer, error)
	ListAllMonthlySums(ctx context.Context, req MonthlySumRequest) (*MonthlySumResponse, error)
	ListAllOrders(ctx context.Context, req ListOrdersRequest) ([]Order, error)
	GetOrderDetails(ctx context.Context, orderID string, offset, limit int) (*OrderDetailsResponse, error)
	ListAllAccountChangeRecords(ctx context.Context, req AccountChangeRecordsRequest) ([]AccountChangeRecord, error)
	ListOrderCouponsByOrderID(ctx context.Context, orderID string) (*OrderCouponsResponse, error)
	ListOrderDiscounts(ctx context.Context, orderID string) (*OrderDiscountsResponse, error)
	GetAccountBalances(ctx context.Context) (*AccountBalancesResponse, error)
	ListAllCosts(ctx context.Context, req CostsRequest) ([]CostData, error)
	ListAllCostBreakdown(ctx context.Context, req BreakdownRequest) ([]CostDetail, error)
	ListAllFreeResources(ctx context.Context, req FreeResourcesRequest) ([]ResourcePackage, error)
	ListFreeResourceUsages(ctx context.Context, ids []string) ([]FreeResourceUsage, error)
}

// MoneyWriter moves money and coupons. Each call carries the caller's
// trans_id and is never retried by the implementation: the transfer
// controller decides about resends.
type MoneyWriter interface {
	TransferAmount(ctx context.Context, req AmountTransferRequest) error
	ReclaimAmount(ctx context.Context, req AmountTransferRequest) error
	TransferCoupon(ctx context.Context, req CouponTransferRequest) (string, error)
	ReclaimCoupon(ctx context.Context, req CouponReclaimRequest) (money.Amount, error)
}

// OrderPayer pays and cancels pending yearly/monthly orders. PayOrders is
// a money write without an idempotency key: it is never retried by the
// implementation, and after an ambiguous failure the caller reads the
// order's status before paying again.
type OrderPayer interface {
	PayOrders(ctx context.Context, req PayOrdersRequest) error
	CancelCustomerOrder(ctx context.Context, orderID string) error
}

// AccountAdmin creates sub-accounts.
type AccountAdmin interface {
	CreateSubCustomer(ctx context.Context, req CreateSubCustomerRequest) error
	SendSMSVerificationCode(ctx context.Context, req SendSMSVerificationCodeRequest) error
}

// API is BSS as the controllers use it.
type API interface {
	Reader
	MoneyWriter
	OrderPayer
	AccountAdmin
}

var _ API = (*Client)(nil)

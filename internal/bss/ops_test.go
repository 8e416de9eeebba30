package bss

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

func amt(s string) money.Amount {
	a, err := money.ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return a
}

// TestResponsesDecode feeds each read operation a realistic response and
// checks the typed result, including amounts sent as JSON numbers with more
// than two decimals or in exponent form.
func TestResponsesDecode(t *testing.T) {
	tests := []struct {
		name string
		body string
		call func(ctx context.Context, c *Client) (any, error)
		want any
	}{
		{
			name: "ListOrganizations",
			body: `{"root_id":"100","root_name":"Corp","child_nodes":[{"relation_id":"r1","id":"200","name":"R&D","child_nodes":[{"relation_id":"r2","id":"300","name":"Team A"}]}]}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.ListOrganizations(ctx, ListOrganizationsRequest{Recursive: true})
			},
			want: &ListOrganizationsResponse{RootID: "100", RootName: "Corp", ChildNodes: []OrgNode{{
				RelationID: "r1", ID: "200", Name: "R&D", ChildNodes: []OrgNode{{RelationID: "r2", ID: "300", Name: "Team A"}},
			}}},
		},
		{
			name: "ListSubCustomers",
			body: `{"total_count":1,"sub_customer_infos":[{"id":"sub1","name":"team-a","display_name":"Team A","status":1,"org_id":"300","org_name":"Team A"}]}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.ListSubCustomers(ctx, ListSubCustomersRequest{AccountName: "team-a"})
			},
			want: &ListSubCustomersResponse{TotalCount: 1, SubCustomers: []SubCustomer{{
				ID: "sub1", Name: "team-a", DisplayName: "Team A", Status: SubCustomerStatusNormal, OrgID: "300", OrgName: "Team A",
			}}},
		},
		{
			name: "GetTransferableAmount credit",
			body: `{"total_count":2,"amount_infos":[{"avail_transfer_amount":1000.129,"amount":5000,"credit_amount":"10000.00","expire_time":"2027-03-28T14:45:38Z","measure_id":1,"currency":"CNY"},{"avail_transfer_amount":"7.5","measure_id":1,"currency":"CNY"}]}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.GetTransferableAmount(ctx, TransferableAmountRequest{BalanceType: BalanceTypeCredit})
			},
			want: &AmountsResponse{TotalCount: 2, Amounts: []AmountInfo{
				{Available: amt("1000.12"), Amount: amt("5000"), CreditAmount: amt("10000"), ExpireTime: "2027-03-28T14:45:38Z", MeasureID: 1, Currency: "CNY"},
				{Available: amt("7.50"), MeasureID: 1, Currency: "CNY"},
			}},
		},
		{
			name: "GetReclaimableAmount",
			body: `{"total_count":1,"amount_infos":[{"avail_retrieve_amount":88.999,"measure_id":1,"currency":"CNY"}]}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.GetReclaimableAmount(ctx, ReclaimableAmountRequest{SubCustomerID: "sub1", BalanceType: BalanceTypeDebit})
			},
			want: &AmountsResponse{TotalCount: 1, Amounts: []AmountInfo{{Available: amt("88.99"), MeasureID: 1, Currency: "CNY"}}},
		},
		{
			name: "TransferableCash",
			body: `{"total_count":1,"amount_infos":[{"avail_transfer_amount":"1234.56","measure_id":1,"currency":"CNY"}]}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.TransferableCash(ctx)
			},
			want: amt("1234.56"),
		},
		{
			name: "ListTransferableCoupons",
			body: `{"total_count":1,"avail_transfer_coupons":[{"coupon_id":"CP1","plan_name":"Plan","balance":"500.005","effective_time":"2026-01-01T00:00:00Z","expire_time":"2027-01-01T00:00:00Z","use_limits":[{"use_limiti_info_id":"u1","limit_key":"k","value1":100,"value2":"x","value_unit":"yuan","limit_type":"t","promotion_plan_id":"p"}]}]}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.ListTransferableCoupons(ctx, 0, 10)
			},
			want: &TransferableCouponsResponse{TotalCount: 1, Coupons: []Coupon{{
				CouponID: "CP1", PlanName: "Plan", Balance: amt("500"), EffectiveTime: "2026-01-01T00:00:00Z", ExpireTime: "2027-01-01T00:00:00Z",
				UseLimits: []CouponUseLimit{{ID: "u1", LimitKey: "k", Value1: "100", Value2: "x", ValueUnit: "yuan", LimitType: "t", PromotionPlanID: "p"}},
			}}},
		},
		{
			name: "ListReclaimableCoupons",
			body: `{"total_count":1,"avail_retrieve_coupons":[{"coupon_id":"CP1","sub_coupon_id":"SCP1","plan_name":"Plan","balance":"12.30"}]}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.ListReclaimableCoupons(ctx, "sub1", 0, 0)
			},
			want: &ReclaimableCouponsResponse{TotalCount: 1, Coupons: []SubCoupon{{CouponID: "CP1", SubCouponID: "SCP1", PlanName: "Plan", Balance: amt("12.30")}}},
		},
		{
			name: "ListOrders with float and exponent amounts",
			body: `{"total_count":1,"order_infos":[{"order_id":"CS1","customer_id":"sub1","service_type_code":"hws.service.type.ec2","service_type_name":"ECS","source_type":1,"status":6,"order_type":1,"amount_after_discount":1.2345678E7,"official_amount":0.105,"measure_id":1,"currency":"CNY","create_time":"2026-11-01T00:00:00Z","amount_info":{"discounts":[{"discount_type":605,"discount_amount":1.0E-4}],"coupon_amount":3.999,"flexipurchase_coupon_amount":0}}]}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.ListOrders(ctx, ListOrdersRequest{})
			},
			want: &ListOrdersResponse{TotalCount: 1, Orders: []Order{{
				OrderID: "CS1", CustomerID: "sub1", ServiceTypeCode: "hws.service.type.ec2", ServiceTypeName: "ECS",
				SourceType: 1, Status: OrderStatusPendingPayment, OrderType: "1",
				AmountAfterDiscount: amt("12345678"), OfficialAmount: amt("0.10"), MeasureID: 1, Currency: "CNY",
				CreateTime: "2026-11-01T00:00:00Z",
				AmountInfo: &OrderAmountInfo{Discounts: []OrderDiscount{{DiscountType: "605", DiscountAmount: 0}}, CouponAmount: amt("3.99")},
			}}},
		},
		{
			name: "GetOrderDetails",
			body: `{"total_count":1,"order_info":{"order_id":"CS1","order_type":"2","user_name":"ops","pending_payment_end_time":"2026-12-01T00:00:00Z","amount_after_discount":99.9},"order_line_items":[{"order_line_item_id":"L1","order_id":"CS1","period_type":2,"period_num":1,"subscription_num":3,"amount_after_discount":33.3333,"official_amount":40}]}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.GetOrderDetails(ctx, "CS1", 0, 10)
			},
			want: &OrderDetailsResponse{TotalCount: 1,
				OrderInfo: Order{OrderID: "CS1", OrderType: "2", UserName: "ops", PendingPaymentEndTime: "2026-12-01T00:00:00Z", AmountAfterDiscount: amt("99.90")},
				OrderLineItems: []OrderLineItem{{OrderLineItemID: "L1", OrderID: "CS1", PeriodType: 2, PeriodNum: 1, SubscriptionNum: 3,
					AmountAfterDiscount: amt("33.33"), OfficialAmount: amt("40")}},
			},
		},
		{
			name: "GetMonthlySum with many decimals and refunds",
			body: `{"total_count":2,"consume_amount":123.456789,"debt_amount":0,"coupon_amount":"1.005","cash_amount":100.1,"credit_amount":22.349,"measure_id":1,"currency":"CNY","bill_sums":[{"bill_cycle":"2026-11","customer_id":"sub1","account_name":"team-a","service_type_code":"hws.service.type.ec2","resource_type_code":"hws.resource.type.vm","charging_mode":3,"bill_type":1,"official_amount":150.12345678,"consume_amount":125.99999999,"cash_amount":100.1,"credit_amount":25.89},{"bill_cycle":"2026-11","customer_id":"sub1","bill_type":2,"consume_amount":-2.546}]}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.GetMonthlySum(ctx, MonthlySumRequest{BillCycle: "2026-11"})
			},
			want: &MonthlySumResponse{TotalCount: 2, ConsumeAmount: amt("123.45"), CouponAmount: amt("1.00"), CashAmount: amt("100.10"),
				CreditAmount: amt("22.34"), MeasureID: 1, Currency: "CNY",
				BillSums: []BillSum{
					{BillCycle: "2026-11", CustomerID: "sub1", AccountName: "team-a", ServiceTypeCode: "hws.service.type.ec2",
						ResourceTypeCode: "hws.resource.type.vm", ChargingMode: 3, BillType: 1, OfficialAmount: amt("150.12"),
						ConsumeAmount: amt("125.99"), CashAmount: amt("100.10"), CreditAmount: amt("25.89")},
					{BillCycle: "2026-11", CustomerID: "sub1", BillType: 2, ConsumeAmount: amt("-2.54")},
				}},
		},
		{
			name: "GetAccountBalances",
			body: `{"account_balances":[{"account_id":"a1","account_type":1,"amount":1000.5,"currency":"CNY","designated_amount":0,"measure_id":1},{"account_id":"a2","account_type":2,"amount":-10,"credit_amount":5000,"currency":"CNY","measure_id":1}],"debt_amount":10,"measure_id":1,"currency":"CNY"}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.GetAccountBalances(ctx)
			},
			want: &AccountBalancesResponse{AccountBalances: []AccountBalance{
				{AccountID: "a1", AccountType: AccountTypeCash, Amount: amt("1000.50"), Currency: "CNY", MeasureID: 1},
				{AccountID: "a2", AccountType: AccountTypeCredit, Amount: amt("-10"), CreditAmount: amt("5000"), Currency: "CNY", MeasureID: 1},
			}, DebtAmount: amt("10"), MeasureID: 1, Currency: "CNY"},
		},
		{
			name: "ListAccountChangeRecords",
			body: `{"total_count":1,"currency":"CNY","records":[{"account_change_id":"AC1","trade_detail_type":"BEADJUST","trade_time":"2026-11-27T12:00:00Z","trade_id":"T1","change_amount":"1250.50","balance_after_change":"2000.00","revenue_expense_type":"REVENUE","bill_cycle":"2026-11","payment_channel_id":"11"}]}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.ListAccountChangeRecords(ctx, AccountChangeRecordsRequest{BalanceType: BalanceTypeDebit, TradeType: TradeTypeTransferIn,
					TradeTimeBegin: "2026-11-01", TradeTimeEnd: "2026-11-30"})
			},
			want: &AccountChangeRecordsResponse{TotalCount: 1, Currency: "CNY", Records: []AccountChangeRecord{{
				AccountChangeID: "AC1", TradeDetailType: "BEADJUST", TradeTime: "2026-11-27T12:00:00Z", TradeID: "T1",
				ChangeAmount: amt("1250.50"), BalanceAfterChange: amt("2000"), RevenueExpenseType: RevenueExpenseRevenue,
				BillCycle: "2026-11", PaymentChannelID: "11",
			}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeBSS(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { writeJSON(w, http.StatusOK, tt.body) })
			c := newTestClient(t, f)
			got, err := tt.call(t.Context(), c)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestWriteResponses checks the results of the writes that return one.
func TestWriteResponses(t *testing.T) {
	tests := []struct {
		name string
		body string
		want money.Amount
	}{
		{"Huawei spelling", `{"real_retrieve_amout":"12.345"}`, amt("12.34")},
		{"fixed spelling", `{"real_retrieve_amount":7}`, amt("7")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeBSS(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { writeJSON(w, http.StatusOK, tt.body) })
			c := newTestClient(t, f)
			got, err := c.ReclaimCoupon(t.Context(), CouponReclaimRequest{CustomerID: "s", CouponID: "c", SubCouponID: "sc", TransID: "t"})
			if err != nil || got != tt.want {
				t.Errorf("ReclaimCoupon = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
	t.Run("TransferCoupon", func(t *testing.T) {
		f := newFakeBSS(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
			writeJSON(w, http.StatusOK, `{"sub_coupon_id":"SCP9"}`)
		})
		c := newTestClient(t, f)
		got, err := c.TransferCoupon(t.Context(), CouponTransferRequest{CustomerID: "s", CouponID: "c", Amount: amt("1"), TransID: "t"})
		if err != nil || got != "SCP9" {
			t.Errorf("TransferCoupon = %q, %v", got, err)
		}
	})
	t.Run("unreadable 2xx body of a money write is ambiguous", func(t *testing.T) {
		f := newFakeBSS(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { writeJSON(w, http.StatusOK, `<html>`) })
		c := newTestClient(t, f)
		_, err := c.TransferCoupon(t.Context(), CouponTransferRequest{CustomerID: "s", CouponID: "c", Amount: amt("1"), TransID: "t"})
		var de *DecodeError
		if !errors.As(err, &de) || !IsAmbiguousWrite(err) {
			t.Errorf("err = %v, want an ambiguous *DecodeError", err)
		}
	})
}

// TestSMSAndCreateBodies covers the write bodies that have no SDK vector.
func TestSMSAndCreateBodies(t *testing.T) {
	f := newFakeBSS(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(http.StatusNoContent) })
	c := newTestClient(t, f)
	err := c.SendSMSVerificationCode(t.Context(), SendSMSVerificationCodeRequest{
		MobilePhone: "13800000000", TimeoutMinutes: 10, Language: "en-us",
		TemplateArgs: []TemplateArg{{Key: TemplateArgSubCustomerName, Value: "team-b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = c.CreateSubCustomer(t.Context(), CreateSubCustomerRequest{
		PartyID: "1", NewSubCustomer: NewSubCustomer{CustomerName: "team-b", MobilePhone: "13800000000", Password: "longenough", VerificationCode: "123456"},
		FinancialCustody: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	wantSMS := `{"mobile_phone":"13800000000","timeout":10,"language":"en-us","sm_template_args":[{"key":"sub_customer_name","value":"team-b"}]}` + "\n"
	if string(reqs[0].Body) != wantSMS || reqs[0].Path != pathSMSCode {
		t.Errorf("SMS request %s %q, want %q", reqs[0].Path, reqs[0].Body, wantSMS)
	}
	wantCreate := `{"party_id":"1","sub_customer_association_type":1,"new_sub_customer":{"customer_name":"team-b","mobile_phone":"13800000000","password":"longenough","verification_code":"123456"},"financial_custody":1}` + "\n"
	if string(reqs[1].Body) != wantCreate {
		t.Errorf("create body %q, want %q", reqs[1].Body, wantCreate)
	}
	if !strings.Contains(CreateSubCustomerRequest{NewSubCustomer: NewSubCustomer{Password: "longenough"}}.NewSubCustomer.String(), "<redacted>") {
		t.Error("NewSubCustomer.String does not redact")
	}
}

// TestValidation checks that requests breaking documented limits fail with
// ErrInvalidRequest before anything is sent.
func TestValidation(t *testing.T) {
	okTransfer := AmountTransferRequest{CustomerID: "sub1", Amount: amt("1"), TransID: "abc"}
	with := func(mod func(r *AmountTransferRequest)) AmountTransferRequest {
		r := okTransfer
		mod(&r)
		return r
	}
	tests := []struct {
		name string
		call func(ctx context.Context, c *Client) error
		want string
	}{
		{"transfer without trans_id", func(ctx context.Context, c *Client) error {
			return c.TransferAmount(ctx, with(func(r *AmountTransferRequest) { r.TransID = "" }))
		}, "TransID is required"},
		{"transfer with 33-char trans_id", func(ctx context.Context, c *Client) error {
			return c.TransferAmount(ctx, with(func(r *AmountTransferRequest) { r.TransID = strings.Repeat("a", 33) }))
		}, "TransID must be at most 32"},
		{"transfer of zero", func(ctx context.Context, c *Client) error {
			return c.TransferAmount(ctx, with(func(r *AmountTransferRequest) { r.Amount = 0 }))
		}, "Amount must be positive"},
		{"reclaim of a negative amount", func(ctx context.Context, c *Client) error {
			return c.ReclaimAmount(ctx, with(func(r *AmountTransferRequest) { r.Amount = amt("-1") }))
		}, "Amount must be positive"},
		{"transfer without customer", func(ctx context.Context, c *Client) error {
			return c.TransferAmount(ctx, with(func(r *AmountTransferRequest) { r.CustomerID = "" }))
		}, "CustomerID is required"},
		{"bad balance type", func(ctx context.Context, c *Client) error {
			return c.TransferAmount(ctx, with(func(r *AmountTransferRequest) { r.BalanceType = "CASH" }))
		}, "BalanceType must be one of"},
		{"expire_time with debit", func(ctx context.Context, c *Client) error {
			return c.TransferAmount(ctx, with(func(r *AmountTransferRequest) { r.ExpireTime = "2027-03-28T14:45:38Z" }))
		}, "ExpireTime is allowed only"},
		{"malformed expire_time", func(ctx context.Context, c *Client) error {
			return c.TransferAmount(ctx, with(func(r *AmountTransferRequest) {
				r.BalanceType, r.ExpireTime = BalanceTypeCredit, "2027-03-28 14:45"
			}))
		}, "ExpireTime must look like"},
		{"coupon transfer of zero", func(ctx context.Context, c *Client) error {
			_, err := c.TransferCoupon(ctx, CouponTransferRequest{CustomerID: "s", CouponID: "c", TransID: "t"})
			return err
		}, "Amount must be positive"},
		{"coupon reclaim without sub coupon", func(ctx context.Context, c *Client) error {
			_, err := c.ReclaimCoupon(ctx, CouponReclaimRequest{CustomerID: "s", CouponID: "c", TransID: "t"})
			return err
		}, "SubCouponID is required"},
		{"sub-customer limit 101", func(ctx context.Context, c *Client) error {
			_, err := c.ListSubCustomers(ctx, ListSubCustomersRequest{Limit: 101})
			return err
		}, "limit must be between 1 and 100"},
		{"negative offset", func(ctx context.Context, c *Client) error {
			_, err := c.ListTransferableCoupons(ctx, -1, 10)
			return err
		}, "offset must not be negative"},
		{"monthly sum limit 1001", func(ctx context.Context, c *Client) error {
			_, err := c.GetMonthlySum(ctx, MonthlySumRequest{BillCycle: "2026-11", Limit: 1001})
			return err
		}, "limit must be between 1 and 1000"},
		{"monthly sum bad cycle", func(ctx context.Context, c *Client) error {
			_, err := c.GetMonthlySum(ctx, MonthlySumRequest{BillCycle: "2026/11"})
			return err
		}, "BillCycle must look like"},
		{"monthly sum sub_customer without id", func(ctx context.Context, c *Client) error {
			_, err := c.GetMonthlySum(ctx, MonthlySumRequest{BillCycle: "2026-11", Method: MethodSubCustomer})
			return err
		}, "SubCustomerID is required"},
		{"balance type missing", func(ctx context.Context, c *Client) error {
			_, err := c.GetTransferableAmount(ctx, TransferableAmountRequest{})
			return err
		}, "BalanceType is required"},
		{"reclaimable without sub", func(ctx context.Context, c *Client) error {
			_, err := c.GetReclaimableAmount(ctx, ReclaimableAmountRequest{BalanceType: BalanceTypeDebit})
			return err
		}, "SubCustomerID is required"},
		{"orders span over a year", func(ctx context.Context, c *Client) error {
			_, err := c.ListOrders(ctx, ListOrdersRequest{CreateTimeBegin: "2025-01-01T00:00:00Z", CreateTimeEnd: "2026-01-02T00:00:00Z"})
			return err
		}, "span must not exceed one year"},
		{"orders bad method", func(ctx context.Context, c *Client) error {
			_, err := c.ListOrders(ctx, ListOrdersRequest{Method: "all"})
			return err
		}, "Method must be one of"},
		{"order id with slash", func(ctx context.Context, c *Client) error {
			_, err := c.GetOrderDetails(ctx, "a/b", 0, 10)
			return err
		}, "orderID must not contain"},
		{"org parent not digits", func(ctx context.Context, c *Client) error {
			_, err := c.ListOrganizations(ctx, ListOrganizationsRequest{ParentID: "abc"})
			return err
		}, "digits only"},
		{"create without party", func(ctx context.Context, c *Client) error {
			return c.CreateSubCustomer(ctx, CreateSubCustomerRequest{NewSubCustomer: NewSubCustomer{CustomerName: "x", UsePriMobilePhone: "Y", Password: "longenough"}})
		}, "PartyID is required"},
		{"create with short password", func(ctx context.Context, c *Client) error {
			return c.CreateSubCustomer(ctx, CreateSubCustomerRequest{PartyID: "1", NewSubCustomer: NewSubCustomer{CustomerName: "x", UsePriMobilePhone: "Y", Password: "short"}})
		}, "at least 8 characters"},
		{"create without phone", func(ctx context.Context, c *Client) error {
			return c.CreateSubCustomer(ctx, CreateSubCustomerRequest{PartyID: "1", NewSubCustomer: NewSubCustomer{CustomerName: "x", Password: "longenough"}})
		}, "MobilePhone is required"},
		{"sms with 7 args", func(ctx context.Context, c *Client) error {
			return c.SendSMSVerificationCode(ctx, SendSMSVerificationCodeRequest{MobilePhone: "1", TemplateArgs: make([]TemplateArg, 7)})
		}, "1 to 6 entries"},
		{"sms timeout 101", func(ctx context.Context, c *Client) error {
			return c.SendSMSVerificationCode(ctx, SendSMSVerificationCodeRequest{MobilePhone: "1", TimeoutMinutes: 101,
				TemplateArgs: []TemplateArg{{Key: TemplateArgSubCustomerName, Value: "x"}}})
		}, "TimeoutMinutes"},
		{"change records without balance type", func(ctx context.Context, c *Client) error {
			_, err := c.ListAccountChangeRecords(ctx, AccountChangeRecordsRequest{})
			return err
		}, "BalanceType is required"},
		{"change records bad date", func(ctx context.Context, c *Client) error {
			_, err := c.ListAccountChangeRecords(ctx, AccountChangeRecordsRequest{BalanceType: BalanceTypeDebit, TradeTimeBegin: "20261101"})
			return err
		}, "TradeTimeBegin must look like"},
	}
	f := newFakeBSS(t, nil)
	c := newTestClient(t, f)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(t.Context(), c)
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("err = %v, want ErrInvalidRequest", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to mention %q", err, tt.want)
			}
			if !IsTerminal(err) || IsAmbiguousWrite(err) || IsRetryableRead(err) {
				t.Errorf("a validation error must be terminal only")
			}
		})
	}
	if n := f.count(); n != 0 {
		t.Errorf("server saw %d requests, want 0", n)
	}
}

package sdkconformance

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/bss/v2/model"
	"github.com/shopspring/decimal"
)

// operation is one BSS operation that internal/bss implements, called
// through the SDK. Adding an operation to internal/bss means adding a row to
// operations(): TestSuiteCoversTheClient fails until there is one.
type operation struct {
	// name is the SDK's BssClient method, which is also the value of the
	// operation's Op… constant in internal/bss. Every call the row makes
	// goes through this SDK method.
	name string
	// clientMethods are the exported internal/bss Client methods that call
	// the operation (checked against internal/bss's source).
	clientMethods []string
	// notInClient, for an operation the simulator serves before
	// internal/bss calls it, says why the row has no clientMethods. Once
	// internal/bss has the operation's Op… constant the row must list its
	// Client methods instead.
	notInClient string
	// unfilled are the response fields (JSON paths as checkShape records
	// them) that the simulator never sends; every other field of the SDK's
	// response model must appear in at least one successful response.
	unfilled []string
	// run calls the operation: at least one success (call) and one error
	// (callErr). Rows run in order and may use what earlier rows did.
	run func(t *testing.T, c *opCtx)
}

// Seed data the suite adds through /_sim/ (see seed).
const (
	subID      = "cust-sdkc-0001"
	subName    = "sdkc-team"
	subAK      = "SDKCSUBAK00000000001"
	subSK      = "sdkc-sub-secret-key-0000000000000000000"
	couponID   = "CPSDKC000000001"
	orderID    = "CS2099000000001"
	subOrder1  = "CS2099000000002"
	subOrder2  = "CS2099000000003"
	orgName    = "SDK conformance"
	newSubName = "sdkc-created"
	newPhone   = "13900000001"
	unknownSub = "cust-unknown-0001"

	// Pending orders of the sub-account that seed adds for the payment
	// rows: one to pay (with a 609 price adjustment), one whose coupons and
	// discounts are listed, one to cancel.
	payOrderID    = "CS2099000000011"
	offersOrderID = "CS2099000000012"
	cancelOrderID = "CS2099000000013"

	// From bsssim.DefaultState: the root org, R&D, a pending order and the
	// master's own (cancelled) order.
	rootOrg       = "1000000000"
	orgRnD        = "1234567890"
	pendingOrder  = "CS2026000000002"
	masterOrderID = "CS2026000000004"
)

// Trans ids of the money writes, 32 characters at most.
const (
	tDebit        = "sdkc0000000000000000000000000001"
	tCredit       = "sdkc0000000000000000000000000002"
	tReclaim      = "sdkc0000000000000000000000000003"
	tReclaimCred  = "sdkc0000000000000000000000000004"
	tCoupon       = "sdkc0000000000000000000000000005"
	tCouponBack   = "sdkc0000000000000000000000000006"
	tNeverApplied = "sdkc0000000000000000000000000099"
)

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// yuan prints a decimal amount with two decimals ("<nil>" for none).
func yuan(d *decimal.Decimal) string {
	if d == nil {
		return "<nil>"
	}
	return d.StringFixed(2)
}

// yuanf prints a float64 amount of the order models with two decimals.
func yuanf(f *float64) string {
	if f == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%.2f", *f)
}

// operations is the table, in the order the rows run.
func operations() []operation {
	debit, credit := "BALANCE_TYPE_DEBIT", "BALANCE_TYPE_CREDIT"
	return []operation{
		{
			name:          "ListEnterpriseOrganizations",
			clientMethods: []string{"ListOrganizations"},
			run: func(t *testing.T, c *opCtx) {
				all := call[*model.ListEnterpriseOrganizationsResponse](t, c, c.s.master, &model.ListEnterpriseOrganizationsRequest{RecursiveQuery: ptr[int32](1)})
				if deref(all.RootId) != rootOrg || deref(all.RootName) == "" || all.ChildNodes == nil {
					t.Fatalf("organizations = %s", describe(all))
				}
				var rnd *model.EmChildNodeV2
				for i, n := range *all.ChildNodes {
					if deref(n.Id) == orgRnD {
						rnd = &(*all.ChildNodes)[i]
					}
				}
				if rnd == nil || deref(rnd.RelationId) == "" || rnd.ChildNodes == nil || len(*rnd.ChildNodes) != 1 ||
					deref((*rnd.ChildNodes)[0].Id) != c.s.orgID || deref((*rnd.ChildNodes)[0].Name) != orgName {
					t.Errorf("R&D with the seeded unit below it: %s", describe(all))
				}
				below := call[*model.ListEnterpriseOrganizationsResponse](t, c, c.s.master, &model.ListEnterpriseOrganizationsRequest{ParentId: ptr(orgRnD)})
				if below.RootId != nil || below.ChildNodes == nil || len(*below.ChildNodes) != 1 || deref((*below.ChildNodes)[0].Id) != c.s.orgID {
					t.Errorf("below R&D = %s", describe(below))
				}
				callErr(t, c, c.s.master, &model.ListEnterpriseOrganizationsRequest{ParentId: ptr("R&D")}, http.StatusBadRequest, "CBC.0100")
				callErr(t, c, c.s.master, &model.ListEnterpriseOrganizationsRequest{RecursiveQuery: ptr[int32](2)}, http.StatusBadRequest, "CBC.0100")
				callErr(t, c, c.s.sub, &model.ListEnterpriseOrganizationsRequest{}, http.StatusForbidden, "CBC.0151")
			},
		},
		{
			name:          "ListEnterpriseSubCustomers",
			clientMethods: []string{"ListSubCustomers", "ListAllSubCustomers"},
			run: func(t *testing.T, c *opCtx) {
				one := call[*model.ListEnterpriseSubCustomersResponse](t, c, c.s.master, &model.ListEnterpriseSubCustomersRequest{SubCustomerAccountName: ptr(subName)})
				if deref(one.TotalCount) != 1 || one.SubCustomerInfos == nil || len(*one.SubCustomerInfos) != 1 {
					t.Fatalf("sub-customers named %s = %s", subName, describe(one))
				}
				sc := (*one.SubCustomerInfos)[0]
				if deref(sc.Id) != subID || deref(sc.Name) != subName || deref(sc.DisplayName) != "SDK conformance team" ||
					deref(sc.Status) != 1 || deref(sc.OrgId) != c.s.orgID || deref(sc.OrgName) != orgName {
					t.Errorf("sub-customer = %s", describe(sc))
				}
				page := call[*model.ListEnterpriseSubCustomersResponse](t, c, c.s.master, &model.ListEnterpriseSubCustomersRequest{
					SubCustomerAccountName: ptr("team"), FuzzyQuery: ptr[int32](1), Offset: ptr[int32](0), Limit: ptr[int32](2),
				})
				if deref(page.TotalCount) < 4 || page.SubCustomerInfos == nil || len(*page.SubCustomerInfos) != 2 {
					t.Errorf("a fuzzy page of 2 = %s", describe(page))
				}
				callErr(t, c, c.s.master, &model.ListEnterpriseSubCustomersRequest{FuzzyQuery: ptr[int32](2)}, http.StatusBadRequest, "CBC.0100")
				callErr(t, c, c.s.master, &model.ListEnterpriseSubCustomersRequest{Limit: ptr[int32](101)}, http.StatusBadRequest, "CBC.0100")
			},
		},
		{
			name:          "SendSmsVerificationCode",
			clientMethods: []string{"SendSMSVerificationCode"},
			run: func(t *testing.T, c *opCtx) {
				body := func(timeout int32) *model.SendSmsVerificationCodeRequest {
					return &model.SendSmsVerificationCodeRequest{Body: &model.SendSmVerificationCodeReq{
						MobilePhone: newPhone, Timeout: ptr(timeout), Language: ptr("en-us"),
						SmTemplateArgs: []model.TemplateArgs{{Key: "sub_customer_name", Value: newSubName}},
					}}
				}
				resp := call[*model.SendSmsVerificationCodeResponse](t, c, c.s.master, body(10))
				if resp.HttpStatusCode != http.StatusNoContent {
					t.Errorf("HTTP %d, want 204", resp.HttpStatusCode)
				}
				if code := c.s.sim.smsCode(t, newPhone); len(code) != 6 {
					t.Errorf("the simulator sent %q to %s, want 6 digits", code, newPhone)
				}
				callErr(t, c, c.s.sub, body(10), http.StatusBadRequest, "CBC.70300008")
				callErr(t, c, c.s.master, body(101), http.StatusBadRequest, "CBC.0100")
			},
		},
		{
			name:          "CreateSubEnterpriseAccount",
			clientMethods: []string{"CreateSubCustomer"},
			run: func(t *testing.T, c *opCtx) {
				code := c.s.sim.smsCode(t, newPhone)
				req := func(name, code string) *model.CreateSubEnterpriseAccountRequest {
					return &model.CreateSubEnterpriseAccountRequest{Body: &model.CreateSubCustomerReqV2{
						PartyId: c.s.orgID, DisplayName: ptr("Created by the SDK"), SubCustomerAssociationType: 1,
						PermissionIds: &[]string{"READ_FINANCE_INFO", "READ_CONSUME_BILL"}, FinancialCustody: ptr[int32](0),
						NewSubCustomer: &model.NewCustomerV2{
							CustomerName: name, MobilePhone: ptr(newPhone), UsePriMobilePhone: ptr("N"),
							Password: "sdk-Conformance-1", VerificationCode: ptr(code),
						},
					}}
				}
				wrong := fmt.Sprintf("%06d", (atoiOr(code, 0)+1)%1000000)
				callErr(t, c, c.s.master, req(newSubName, wrong), http.StatusBadRequest, "CBC.99000026")
				callErr(t, c, c.s.master, req("9-not-a-name", code), http.StatusBadRequest, "CBC.99000031")
				resp := call[*model.CreateSubEnterpriseAccountResponse](t, c, c.s.master, req(newSubName, code))
				if resp.HttpStatusCode != http.StatusNoContent {
					t.Errorf("HTTP %d, want 204", resp.HttpStatusCode)
				}
				if !slices.ContainsFunc(c.s.sim.state(t).SubAccounts, func(sa stateSub) bool { return sa.Name == newSubName && sa.OrgID == c.s.orgID }) {
					t.Errorf("the simulator has no sub-account %s below %s", newSubName, c.s.orgID)
				}
				callErr(t, c, c.s.master, req(newSubName, code), http.StatusBadRequest, "CBC.99000031") // the name is taken now
			},
		},
		{
			name:          "ShowMultiAccountTransferAmount",
			clientMethods: []string{"GetTransferableAmount", "TransferableCash", "TransferableCredit"},
			run: func(t *testing.T, c *opCtx) {
				cash := call[*model.ShowMultiAccountTransferAmountResponse](t, c, c.s.master, &model.ShowMultiAccountTransferAmountRequest{BalanceType: debit})
				want := c.s.sim.state(t).Masters[0].Cash
				if deref(cash.TotalCount) != 1 || cash.AmountInfos == nil || len(*cash.AmountInfos) != 1 ||
					yuan((*cash.AmountInfos)[0].AvailTransferAmount) != want || deref((*cash.AmountInfos)[0].Currency) != "CNY" ||
					deref((*cash.AmountInfos)[0].MeasureId) != 1 {
					t.Errorf("transferable cash = %s, want %s", describe(cash), want)
				}
				cr := call[*model.ShowMultiAccountTransferAmountResponse](t, c, c.s.master, &model.ShowMultiAccountTransferAmountRequest{
					BalanceType: credit, Offset: ptr[int32](0), Limit: ptr[int32](10),
				})
				if deref(cr.TotalCount) < 2 || cr.AmountInfos == nil || len(*cr.AmountInfos) < 2 {
					t.Fatalf("transferable credit = %s", describe(cr))
				}
				for _, a := range *cr.AmountInfos {
					if a.Amount == nil || a.CreditAmount == nil || a.AvailTransferAmount == nil {
						t.Errorf("credit ledger without amounts: %s", describe(a))
					}
					if a.ExpireTime != nil && c.s.creditExpiry == "" {
						c.s.creditExpiry = *a.ExpireTime
					}
				}
				if _, err := time.Parse("2006-01-02T15:04:05Z", c.s.creditExpiry); err != nil {
					t.Errorf("no credit ledger with an expire_time like 2026-01-02T15:04:05Z: %s", describe(cr))
				}
				callErr(t, c, c.s.master, &model.ShowMultiAccountTransferAmountRequest{BalanceType: "BALANCE_TYPE_BONUS"}, http.StatusBadRequest, "CBC.0100")
				callErr(t, c, c.s.sub, &model.ShowMultiAccountTransferAmountRequest{BalanceType: debit}, http.StatusForbidden, "CBC.0151")
			},
		},
		{
			name:          "UpdateSubEnterpriseAmount",
			clientMethods: []string{"TransferAmount"},
			run: func(t *testing.T, c *opCtx) {
				req := func(customer, amount, transID string, creditExpiry *string) *model.UpdateSubEnterpriseAmountRequest {
					b := &model.TransferEnterpriseMultiAccountReq{CustomerId: customer, Amount: amount, TransId: ptr(transID)}
					if creditExpiry != nil {
						b.BalanceType, b.ExpireTime = ptr(credit), creditExpiry
					}
					return &model.UpdateSubEnterpriseAmountRequest{Body: b}
				}
				for _, r := range []*model.UpdateSubEnterpriseAmountRequest{
					req(subID, "250.00", tDebit, nil),
					req(subID, "120.00", tCredit, ptr(c.s.creditExpiry)),
				} {
					if resp := call[*model.UpdateSubEnterpriseAmountResponse](t, c, c.s.master, r); resp.HttpStatusCode != http.StatusNoContent {
						t.Errorf("HTTP %d, want 204", resp.HttpStatusCode)
					}
				}
				if got := c.s.sim.state(t).sub(subID).ReclaimableCash; got != "250.00" {
					t.Errorf("reclaimable cash after the transfer = %s, want 250.00", got)
				}
				callErr(t, c, c.s.master, req(subID, "250.00", tDebit, nil), http.StatusBadRequest, "CBC.99007009")
				callErr(t, c, c.s.master, req(unknownSub, "1.00", tNeverApplied, nil), http.StatusBadRequest, "CBC.99000047")
				callErr(t, c, c.s.master, req(subID, "1.001", tNeverApplied, nil), http.StatusBadRequest, "CBC.0100")
				callErr(t, c, c.s.master, req(subID, "99999999.00", tNeverApplied, nil), http.StatusBadRequest, "CBC.99005003")
			},
		},
		{
			name:          "ListEnterpriseMultiAccount",
			clientMethods: []string{"GetReclaimableAmount", "ReclaimableCash", "ReclaimableCredit"},
			run: func(t *testing.T, c *opCtx) {
				cash := call[*model.ListEnterpriseMultiAccountResponse](t, c, c.s.master, &model.ListEnterpriseMultiAccountRequest{SubCustomerId: subID, BalanceType: debit})
				if deref(cash.TotalCount) != 1 || cash.AmountInfos == nil || len(*cash.AmountInfos) != 1 || yuan((*cash.AmountInfos)[0].AvailRetrieveAmount) != "250.00" {
					t.Errorf("reclaimable cash = %s, want 250.00", describe(cash))
				}
				cr := call[*model.ListEnterpriseMultiAccountResponse](t, c, c.s.master, &model.ListEnterpriseMultiAccountRequest{
					SubCustomerId: subID, BalanceType: credit, Offset: ptr[int32](0), Limit: ptr[int32](100),
				})
				if deref(cr.TotalCount) != 1 || cr.AmountInfos == nil || len(*cr.AmountInfos) != 1 {
					t.Fatalf("reclaimable credit = %s", describe(cr))
				}
				l := (*cr.AmountInfos)[0]
				if yuan(l.AvailRetrieveAmount) != "120.00" || yuan(l.Amount) != "120.00" || yuan(l.CreditAmount) != "120.00" ||
					deref(l.ExpireTime) != c.s.creditExpiry || deref(l.Currency) != "CNY" || deref(l.MeasureId) != 1 {
					t.Errorf("reclaimable credit ledger = %s, want 120.00 expiring %s", describe(l), c.s.creditExpiry)
				}
				callErr(t, c, c.s.master, &model.ListEnterpriseMultiAccountRequest{SubCustomerId: unknownSub, BalanceType: debit}, http.StatusBadRequest, "CBC.99000047")
				callErr(t, c, c.s.master, &model.ListEnterpriseMultiAccountRequest{SubCustomerId: subID, BalanceType: ""}, http.StatusBadRequest, "CBC.0100")
			},
		},
		{
			name:          "ReclaimSubEnterpriseAmount",
			clientMethods: []string{"ReclaimAmount"},
			run: func(t *testing.T, c *opCtx) {
				req := func(amount, transID string, creditExpiry *string) *model.ReclaimSubEnterpriseAmountRequest {
					b := &model.RetrieveEnterpriseMultiAccountReq{CustomerId: subID, Amount: amount, TransId: ptr(transID)}
					if creditExpiry != nil {
						b.BalanceType, b.ExpireTime = ptr(credit), creditExpiry
					}
					return &model.ReclaimSubEnterpriseAmountRequest{Body: b}
				}
				call[*model.ReclaimSubEnterpriseAmountResponse](t, c, c.s.master, req("50.00", tReclaim, nil))
				call[*model.ReclaimSubEnterpriseAmountResponse](t, c, c.s.master, req("20.00", tReclaimCred, ptr(c.s.creditExpiry)))
				if got := c.s.sim.state(t).sub(subID).ReclaimableCash; got != "200.00" {
					t.Errorf("reclaimable cash after the reclaim = %s, want 200.00", got)
				}
				callErr(t, c, c.s.master, req("50.00", tReclaim, nil), http.StatusBadRequest, "CBC.99007009")
				callErr(t, c, c.s.master, req("10000.00", tNeverApplied, nil), http.StatusBadRequest, "CBC.99005003")
			},
		},
		{
			name:          "ListMultiAccountTransferCoupons",
			clientMethods: []string{"ListTransferableCoupons", "ListAllTransferableCoupons"},
			run: func(t *testing.T, c *opCtx) {
				resp := call[*model.ListMultiAccountTransferCouponsResponse](t, c, c.s.master, &model.ListMultiAccountTransferCouponsRequest{Offset: ptr[int32](0), Limit: ptr[int32](100)})
				if resp.AvailTransferCoupons == nil || int(deref(resp.TotalCount)) != len(*resp.AvailTransferCoupons) {
					t.Fatalf("transferable coupons = %s", describe(resp))
				}
				i := slices.IndexFunc(*resp.AvailTransferCoupons, func(cp model.AvailTransferCoupon) bool { return deref(cp.CouponId) == couponID })
				if i < 0 {
					t.Fatalf("no coupon %s in %s", couponID, describe(resp))
				}
				cp := (*resp.AvailTransferCoupons)[i]
				if deref(cp.PlanName) != "SDK conformance voucher" || deref(cp.Balance) != "800.00" || deref(cp.EffectiveTime) == "" || deref(cp.ExpireTime) == "" {
					t.Errorf("coupon = %s", describe(cp))
				}
				checkUseLimits(t, cp.UseLimits)
				callErr(t, c, c.s.master, &model.ListMultiAccountTransferCouponsRequest{Limit: ptr[int32](0)}, http.StatusBadRequest, "CBC.0100")
			},
		},
		{
			name:          "ClaimEnterpriseMultiAccountCoupon",
			clientMethods: []string{"TransferCoupon"},
			run: func(t *testing.T, c *opCtx) {
				req := func(coupon, transID string) *model.ClaimEnterpriseMultiAccountCouponRequest {
					return &model.ClaimEnterpriseMultiAccountCouponRequest{Body: &model.TransferEnterpriseMultiAccountCouponReq{
						CustomerId: subID, CouponId: coupon, Amount: "300.00", TransId: ptr(transID),
					}}
				}
				resp := call[*model.ClaimEnterpriseMultiAccountCouponResponse](t, c, c.s.master, req(couponID, tCoupon))
				if c.s.subCouponID = deref(resp.SubCouponId); c.s.subCouponID == "" {
					t.Fatalf("no sub_coupon_id: %s", describe(resp))
				}
				callErr(t, c, c.s.master, req(couponID, tCoupon), http.StatusBadRequest, "CBC.99007009")
				callErr(t, c, c.s.master, req("CP-NO-SUCH-COUPON", tNeverApplied), http.StatusBadRequest, "CBC.99007004")
			},
		},
		{
			name:          "ListMultiAccountRetrieveCoupons",
			clientMethods: []string{"ListReclaimableCoupons", "ListAllReclaimableCoupons"},
			run: func(t *testing.T, c *opCtx) {
				resp := call[*model.ListMultiAccountRetrieveCouponsResponse](t, c, c.s.master, &model.ListMultiAccountRetrieveCouponsRequest{SubCustomerId: subID, Limit: ptr[int32](100)})
				if deref(resp.TotalCount) != 1 || resp.AvailRetrieveCoupons == nil || len(*resp.AvailRetrieveCoupons) != 1 {
					t.Fatalf("reclaimable coupons = %s", describe(resp))
				}
				cp := (*resp.AvailRetrieveCoupons)[0]
				if deref(cp.CouponId) != couponID || deref(cp.SubCouponId) != c.s.subCouponID || deref(cp.Balance) != "300.00" ||
					deref(cp.PlanName) != "SDK conformance voucher" || deref(cp.EffectiveTime) == "" || deref(cp.ExpireTime) == "" {
					t.Errorf("reclaimable coupon = %s", describe(cp))
				}
				checkUseLimits(t, cp.UseLimits)
				callErr(t, c, c.s.master, &model.ListMultiAccountRetrieveCouponsRequest{SubCustomerId: unknownSub}, http.StatusBadRequest, "CBC.99000047")
			},
		},
		{
			name:          "ReclaimEnterpriseMultiAccountCoupon",
			clientMethods: []string{"ReclaimCoupon"},
			run: func(t *testing.T, c *opCtx) {
				req := func(subCoupon, transID string) *model.ReclaimEnterpriseMultiAccountCouponRequest {
					return &model.ReclaimEnterpriseMultiAccountCouponRequest{Body: &model.RetrieveEnterpriseMultiAccountCouponReq{
						CustomerId: subID, CouponId: couponID, SubCouponId: subCoupon, TransId: ptr(transID),
					}}
				}
				resp := call[*model.ReclaimEnterpriseMultiAccountCouponResponse](t, c, c.s.master, req(c.s.subCouponID, tCouponBack))
				if deref(resp.RealRetrieveAmout) != "300.00" {
					t.Errorf("reclaimed %s, want 300.00", describe(resp))
				}
				callErr(t, c, c.s.master, req(c.s.subCouponID, tCouponBack), http.StatusBadRequest, "CBC.99007009")
				callErr(t, c, c.s.master, req("SCP-NO-SUCH-COUPON", tNeverApplied), http.StatusBadRequest, "CBC.99007004")
			},
		},
		{
			name:          "ListCustomerOrders",
			clientMethods: []string{"ListOrders", "ListAllOrders"},
			// agent_pay_info is for orders a partner pays; the simulator
			// has no partners.
			unfilled: []string{"order_infos[].agent_pay_info", "order_infos[].agent_pay_info.is_agent_pay", "order_infos[].agent_pay_info.paying_agent_id"},
			run: func(t *testing.T, c *opCtx) {
				subs := model.GetListCustomerOrdersRequestMethodEnum().SUB_CUSTOMER
				one := call[*model.ListCustomerOrdersResponse](t, c, c.s.master, &model.ListCustomerOrdersRequest{OrderId: ptr(orderID), Method: &subs})
				if deref(one.TotalCount) != 1 || one.OrderInfos == nil || len(*one.OrderInfos) != 1 {
					t.Fatalf("order %s = %s", orderID, describe(one))
				}
				o := (*one.OrderInfos)[0]
				if deref(o.OrderType) != 3 || deref(o.Status) != 5 || deref(o.SourceType) != 1 || deref(o.CustomerId) != subID ||
					deref(o.ServiceTypeName) != "Elastic Volume Service" || yuanf(o.AmountAfterDiscount) != "90.00" || yuanf(o.OfficialAmount) != "120.00" ||
					deref(o.ContractId) != "CT-SDKC-1" || deref(o.PaymentTime) == "" || deref(o.Currency) != "CNY" || deref(o.MeasureId) != 1 {
					t.Errorf("order = %s", describe(o))
				}
				if o.AmountInfo == nil || o.AmountInfo.Discounts == nil || len(*o.AmountInfo.Discounts) != 2 ||
					deref((*o.AmountInfo.Discounts)[0].DiscountType) != "605" || yuanf((*o.AmountInfo.Discounts)[0].DiscountAmount) != "25.00" ||
					yuanf(o.AmountInfo.CouponAmount) != "5.00" {
					t.Errorf("amount_info = %s", describe(o.AmountInfo))
				}
				if o.EnterpriseProjects == nil || len(*o.EnterpriseProjects) != 2 || deref((*o.EnterpriseProjects)[1].Name) != "research" {
					t.Errorf("enterprise_projects = %s", describe(o.EnterpriseProjects))
				}
				if o.SubOrderInfos == nil || len(*o.SubOrderInfos) != 2 || deref((*o.SubOrderInfos)[0].OrderId) != subOrder1 ||
					deref((*o.SubOrderInfos)[0].OrderType) != 3 || deref((*o.SubOrderInfos)[1].OrderType) != 2 ||
					(*o.SubOrderInfos)[1].EnterpriseProjects == nil || len(*(*o.SubOrderInfos)[1].EnterpriseProjects) != 1 {
					t.Errorf("sub_order_infos = %s", describe(o.SubOrderInfos))
				}
				all := call[*model.ListCustomerOrdersResponse](t, c, c.s.master, &model.ListCustomerOrdersRequest{
					Method: &subs, OrderBy: ptr("-createTime"), Offset: ptr[int32](0), Limit: ptr[int32](100),
				})
				if all.OrderInfos == nil || len(*all.OrderInfos) < 4 {
					t.Errorf("the sub-accounts' orders = %s", describe(all))
				}
				own := call[*model.ListCustomerOrdersResponse](t, c, c.s.master, &model.ListCustomerOrdersRequest{
					Method: ptr(model.GetListCustomerOrdersRequestMethodEnum().ONESELF), OrderType: ptr("1"), Status: ptr[int32](4),
				})
				if own.OrderInfos == nil || len(*own.OrderInfos) != 1 || deref((*own.OrderInfos)[0].OrderId) != masterOrderID || deref((*own.OrderInfos)[0].OrderType) != 1 {
					t.Errorf("the master's cancelled new orders = %s", describe(own))
				}
				pending := call[*model.ListCustomerOrdersResponse](t, c, c.s.master, &model.ListCustomerOrdersRequest{Method: &subs, Status: ptr[int32](6), Limit: ptr[int32](100)})
				if pending.OrderInfos == nil || len(*pending.OrderInfos) != 4 || int(deref(pending.TotalCount)) != 4 ||
					!slices.ContainsFunc(*pending.OrderInfos, func(o model.CustomerOrderV2) bool { return deref(o.OrderId) == payOrderID && deref(o.Status) == 6 }) {
					t.Errorf("the sub-accounts' pending orders = %s", describe(pending))
				}
				callErr(t, c, c.s.master, &model.ListCustomerOrdersRequest{
					CreateTimeBegin: ptr("2024-01-01T00:00:00Z"), CreateTimeEnd: ptr("2025-06-01T00:00:00Z"),
				}, http.StatusBadRequest, "CBC.0100")
				c.s.sim.admin(t, http.MethodPost, "/_sim/faults", map[string]any{"storm_duration": "1m", "storm_rate": 0}, nil)
				callErr(t, c, c.s.master, &model.ListCustomerOrdersRequest{}, http.StatusTooManyRequests, "APIG.0308")
				c.s.sim.admin(t, http.MethodPost, "/_sim/faults", map[string]any{}, nil)
			},
		},
		{
			name:          "ShowCustomerOrderDetails",
			clientMethods: []string{"GetOrderDetails"},
			// The sub-orders of a completed combined order are paid.
			unfilled: []string{"order_info.sub_order_infos[].pending_payment_end_time"},
			run: func(t *testing.T, c *opCtx) {
				det := call[*model.ShowCustomerOrderDetailsResponse](t, c, c.s.master, &model.ShowCustomerOrderDetailsRequest{
					OrderId: orderID, XLanguage: ptr("en_US"), Offset: ptr[int32](0), Limit: ptr[int32](10),
				})
				o := det.OrderInfo
				if deref(det.TotalCount) != 2 || o == nil || deref(o.OrderType) != 3 || deref(o.UserName) != "sdkc-operator" ||
					o.SubOrderInfos == nil || len(*o.SubOrderInfos) != 2 || deref((*o.SubOrderInfos)[1].UserName) != "sdkc-operator" ||
					o.AmountInfo == nil || o.AmountInfo.Discounts == nil || len(*o.AmountInfo.Discounts) != 2 {
					t.Fatalf("details = %s", describe(det))
				}
				if det.OrderLineItems == nil || len(*det.OrderLineItems) != 2 {
					t.Fatalf("line items = %s", describe(det.OrderLineItems))
				}
				li := (*det.OrderLineItems)[0]
				if deref(li.OrderId) != orderID || deref(li.OrderLineItemId) != orderID+"-1" || deref(li.ServiceTypeName) != "Elastic Volume Service" ||
					deref(li.ProductOwnerService) != "hws.service.type.ebs" || deref(li.CommercialResource) != "hws.resource.type.ebs" ||
					deref(li.CategoryCode) != "hws.resource.storage1.evs" || deref(li.PeriodType) != 2 || deref(li.PeriodNum) != 1 ||
					deref(li.SubscriptionNum) != 2 || yuanf(li.AmountAfterDiscount) != "60.00" || yuanf(li.OfficialAmount) != "80.00" ||
					deref(li.EffectiveTime) == "" || deref(li.ExpireTime) == "" || deref(li.Currency) != "CNY" {
					t.Errorf("line item = %s", describe(li))
				}
				if li.AmountInfo == nil || li.AmountInfo.Discounts == nil || len(*li.AmountInfo.Discounts) != 1 ||
					deref((*li.AmountInfo.Discounts)[0].DiscountType) != "605" || yuanf((*li.AmountInfo.Discounts)[0].DiscountAmount) != "20.00" {
					t.Errorf("line item amount_info = %s", describe(li.AmountInfo))
				}
				if b := li.BaseProductInfo; b == nil || deref(b.ProductId) != "OFFIEBS0000" || deref(b.CommercialResource) != "hws.resource.type.ebs" {
					t.Errorf("base_product_info = %s", describe(li.BaseProductInfo))
				}
				// The second line names another service: its defaults follow it.
				li2 := (*det.OrderLineItems)[1]
				if deref(li2.ServiceTypeName) != "Object Storage Service" || deref(li2.ProductOwnerService) != "hws.service.type.obs" ||
					deref(li2.CommercialResource) != "hws.resource.type.obs" {
					t.Errorf("second line item = %s", describe(li2))
				}
				page := call[*model.ShowCustomerOrderDetailsResponse](t, c, c.s.master, &model.ShowCustomerOrderDetailsRequest{OrderId: orderID, Offset: ptr[int32](1), Limit: ptr[int32](1)})
				if deref(page.TotalCount) != 2 || page.OrderLineItems == nil || len(*page.OrderLineItems) != 1 || deref((*page.OrderLineItems)[0].OrderLineItemId) != orderID+"-2" {
					t.Errorf("second page of line items = %s", describe(page))
				}
				pending := call[*model.ShowCustomerOrderDetailsResponse](t, c, c.s.master, &model.ShowCustomerOrderDetailsRequest{OrderId: pendingOrder})
				if pending.OrderInfo == nil || deref(pending.OrderInfo.Status) != 6 || deref(pending.OrderInfo.PendingPaymentEndTime) == "" ||
					deref(pending.OrderInfo.OrderType) != 2 || pending.OrderInfo.PaymentTime != nil {
					t.Errorf("pending order = %s", describe(pending))
				}
				callErr(t, c, c.s.master, &model.ShowCustomerOrderDetailsRequest{OrderId: "CS2099999999999"}, http.StatusBadRequest, "CBC.30000010")
				callErr(t, c, c.s.master, &model.ShowCustomerOrderDetailsRequest{OrderId: orderID, Limit: ptr[int32](0)}, http.StatusBadRequest, "CBC.0100")
			},
		},
		{
			name:          "ShowCustomerMonthlySum",
			clientMethods: []string{"GetMonthlySum", "ListAllMonthlySums"},
			run: func(t *testing.T, c *opCtx) {
				cycle := c.s.sim.state(t).SimTime.In(time.FixedZone("UTC+8", 8*3600)).Format("2006-01")
				mine := call[*model.ShowCustomerMonthlySumResponse](t, c, c.s.master, &model.ShowCustomerMonthlySumRequest{
					BillCycle: cycle, Method: ptr("sub_customer"), SubCustomerId: ptr(subID), Offset: ptr[int32](0), Limit: ptr[int32](1000),
				})
				if mine.BillSums == nil || len(*mine.BillSums) == 0 || int(deref(mine.TotalCount)) != len(*mine.BillSums) {
					t.Fatalf("bills of %s in %s = %s", subID, cycle, describe(mine))
				}
				for _, b := range *mine.BillSums {
					if deref(b.CustomerId) != subID || deref(b.AccountName) != subName || deref(b.BillCycle) != cycle || deref(b.ChargingMode) != 3 ||
						deref(b.BillType) != 1 || deref(b.ServiceTypeCode) != "hws.service.type.obs" || deref(b.ServiceTypeName) == "" ||
						deref(b.ResourceTypeCode) == "" || b.ConsumeAmount == nil || !b.ConsumeAmount.IsPositive() {
						t.Errorf("bill = %s", describe(b))
					}
				}
				if !mine.ConsumeAmount.IsPositive() || deref(mine.Currency) != "CNY" || deref(mine.MeasureId) != 1 {
					t.Errorf("totals = %s", describe(mine))
				}
				all := call[*model.ShowCustomerMonthlySumResponse](t, c, c.s.master, &model.ShowCustomerMonthlySumRequest{BillCycle: cycle, Limit: ptr[int32](1000)})
				if all.BillSums == nil || len(*all.BillSums) <= len(*mine.BillSums) {
					t.Errorf("every visible bill of %s = %s", cycle, describe(all))
				}
				callErr(t, c, c.s.master, &model.ShowCustomerMonthlySumRequest{BillCycle: "2026-13"}, http.StatusBadRequest, "CBC.0100")
				callErr(t, c, c.s.master, &model.ShowCustomerMonthlySumRequest{BillCycle: cycle, Method: ptr("everyone")}, http.StatusBadRequest, "CBC.0100")
			},
		},
		{
			name:          "ShowCustomerAccountBalances",
			clientMethods: []string{"GetAccountBalances"},
			run: func(t *testing.T, c *opCtx) {
				st := c.s.sim.state(t)
				master := call[*model.ShowCustomerAccountBalancesResponse](t, c, c.s.master, &model.ShowCustomerAccountBalancesRequest{})
				checkBalances(t, master, st.Masters[0].Cash, "0.00", map[int32]string{5: "88.00", 7: "5000.00"})
				sa := st.sub(subID)
				subCash := decimal.RequireFromString(sa.ReclaimableCash).Add(decimal.RequireFromString(sa.SelfFundedCash)).StringFixed(2)
				c.s.sim.admin(t, http.MethodPost, "/_sim/balances", map[string]any{"customer_id": subID, "debt": "1.50"}, nil)
				sub := call[*model.ShowCustomerAccountBalancesResponse](t, c, c.s.sub, &model.ShowCustomerAccountBalancesRequest{})
				checkBalances(t, sub, subCash, "1.50", nil)
				c.s.sim.admin(t, http.MethodPost, "/_sim/balances", map[string]any{"customer_id": subID, "debt": "0.00"}, nil)
				callErr(t, c, c.s.stranger, &model.ShowCustomerAccountBalancesRequest{}, http.StatusUnauthorized, "APIG.0301")
				callErr(t, c, c.s.wrongDomain, &model.ShowCustomerAccountBalancesRequest{}, http.StatusUnauthorized, "APIG.0301")
				c.s.sim.admin(t, http.MethodPost, "/_sim/faults", map[string]any{"error_rate": 1}, nil)
				callErr(t, c, c.s.master, &model.ShowCustomerAccountBalancesRequest{}, http.StatusInternalServerError, "CBC.0999")
				c.s.sim.admin(t, http.MethodPost, "/_sim/faults", map[string]any{}, nil)
			},
		},
		{
			name:          "ListCustomerAccountChangeRecords",
			clientMethods: []string{"ListAccountChangeRecords", "ListAllAccountChangeRecords"},
			// The simulator records no payment channel serial numbers.
			unfilled: []string{"records[].payment_channel_no"},
			run: func(t *testing.T, c *opCtx) {
				master := call[*model.ListCustomerAccountChangeRecordsResponse](t, c, c.s.master, &model.ListCustomerAccountChangeRecordsRequest{
					BalanceType: debit, Offset: ptr[int32](0), Limit: ptr[int32](100),
				})
				recs := records(t, master)
				if r := findRecord(recs, "RECHARGE", ""); r == nil || deref(r.PaymentChannelId) != "2" || deref(r.RevenueExpenseType) != "REVENUE" {
					t.Errorf("the master's recharge: %s", describe(master))
				}
				if r := findRecord(recs, "BEADJUST", tDebit); r == nil || deref(r.RevenueExpenseType) != "EXPENSE" || deref(r.ChangeAmount) != "250.00" {
					t.Errorf("the master's side of %s: %s", tDebit, describe(master))
				}
				sub := call[*model.ListCustomerAccountChangeRecordsResponse](t, c, c.s.sub, &model.ListCustomerAccountChangeRecordsRequest{
					BalanceType: debit, Limit: ptr[int32](100),
				})
				recs = records(t, sub)
				if r := findRecord(recs, "DEDEUCT", ""); r == nil || deref(r.CloudServiceTypeName) != "Object Storage Service" || deref(r.ResourceTypeName) == "" ||
					deref(r.ConsumeTime) == "" || deref(r.RevenueExpenseType) != "EXPENSE" || deref(r.AccountName) != subName || deref(r.BillCycle) == "" {
					t.Errorf("the sub-account's consumption: %s", describe(sub))
				}
				if r := findRecord(recs, "BEADJUST", tDebit); r == nil || deref(r.RevenueExpenseType) != "REVENUE" || deref(r.BalanceAfterChange) == "" {
					t.Errorf("the sub-account's side of %s: %s", tDebit, describe(sub))
				}
				if findRecord(recs, "BERETRIEVE", tReclaim) == nil {
					t.Errorf("the sub-account's side of %s: %s", tReclaim, describe(sub))
				}
				cr := call[*model.ListCustomerAccountChangeRecordsResponse](t, c, c.s.sub, &model.ListCustomerAccountChangeRecordsRequest{
					BalanceType: credit, TradeType: ptr("BEADJUST"), RevenueExpenseType: ptr("REVENUE"),
				})
				if recs := records(t, cr); len(recs) != 1 || deref(recs[0].TradeId) != tCredit || deref(recs[0].ChangeAmount) != "120.00" {
					t.Errorf("the sub-account's credit transfers: %s", describe(cr))
				}
				callErr(t, c, c.s.master, &model.ListCustomerAccountChangeRecordsRequest{
					BalanceType: debit, TradeTimeBegin: ptr("2026-11-27"), TradeTimeEnd: ptr("2026-11-26"),
				}, http.StatusBadRequest, "CBC.0100")
				callErr(t, c, c.s.master, &model.ListCustomerAccountChangeRecordsRequest{BalanceType: "BALANCE_TYPE_BONUS"}, http.StatusBadRequest, "CBC.0100")
			},
		},
		payOrdersRow(),
		cancelCustomerOrderRow(),
		listOrderCouponsRow(),
		listOrderDiscountsRow(),
		listCostsRow(),
		monthlyBreakDownRow(),
		listFreeResourceInfosRow(),
		listFreeResourceUsagesRow(),
	}
}

// checkUseLimits checks the two use limits seed gives the coupon.
func checkUseLimits(t *testing.T, ls *[]model.ICouponUseLimitInfoV2) {
	t.Helper()
	if ls == nil || len(*ls) != 2 {
		t.Errorf("use_limits = %s, want the 2 seeded", describe(ls))
		return
	}
	a, b := (*ls)[0], (*ls)[1]
	if deref(a.UseLimitiInfoId) != couponID+"-1" || deref(a.LimitKey) != "cloudServiceType" || deref(a.Value1) != "hws.service.type.ec2" ||
		deref(a.LimitType) != "1" || deref(a.PromotionPlanId) != "PP-SDKC-1" ||
		deref(b.UseLimitiInfoId) != "UL-SDKC-2" || deref(b.LimitKey) != "consumeAmount" || deref(b.Value1) != "100" ||
		deref(b.Value2) != "10000" || deref(b.ValueUnit) != "1" {
		t.Errorf("use_limits = %s", describe(ls))
	}
}

// checkBalances checks a ShowCustomerAccountBalances answer: a cash row
// with the given amount, a credit row with a credit line, the bonus (5) and
// deposit (7) rows of others with their amounts and no others, and the debt.
func checkBalances(t *testing.T, resp *model.ShowCustomerAccountBalancesResponse, cash, debt string, others map[int32]string) {
	t.Helper()
	if resp.AccountBalances == nil || len(*resp.AccountBalances) != 2+len(others) || deref(resp.Currency) != "CNY" || yuan(resp.DebtAmount) != debt {
		t.Fatalf("balances = %s, want %d accounts and a debt of %s", describe(resp), 2+len(others), debt)
	}
	for _, b := range *resp.AccountBalances {
		switch b.AccountType {
		case 1:
			if yuan(b.Amount) != cash || b.AccountId == "" || b.Currency != "CNY" || b.MeasureId != 1 || b.DesignatedAmount == nil {
				t.Errorf("cash account = %s, want %s", describe(b), cash)
			}
		case 2:
			if b.CreditAmount == nil || b.Amount == nil {
				t.Errorf("credit account = %s", describe(b))
			}
		case 5, 7:
			if want, ok := others[b.AccountType]; !ok || yuan(b.Amount) != want || b.CreditAmount != nil || b.AccountId == "" {
				t.Errorf("account type %d = %s, want %s", b.AccountType, describe(b), want)
			}
		default:
			t.Errorf("account type %d: %s", b.AccountType, describe(b))
		}
	}
}

func records(t *testing.T, resp *model.ListCustomerAccountChangeRecordsResponse) []model.CustomerAccountChangeRecord {
	t.Helper()
	if resp.Records == nil || int(deref(resp.TotalCount)) < len(*resp.Records) || deref(resp.Currency) != "CNY" {
		t.Fatalf("change records = %s", describe(resp))
	}
	return *resp.Records
}

// findRecord returns the first record of a trade type (and trade id, when
// not empty).
func findRecord(recs []model.CustomerAccountChangeRecord, tradeType, tradeID string) *model.CustomerAccountChangeRecord {
	for i, r := range recs {
		if deref(r.TradeDetailType) == tradeType && (tradeID == "" || deref(r.TradeId) == tradeID) {
			return &recs[i]
		}
	}
	return nil
}

// atoiOr parses a decimal number, def when it is not one.
func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}

package bsssim_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

// These tests run every operation of the BSS client (package bss) against
// the simulator over real HTTP on loopback: the client signs, sends and
// decodes exactly as it does against Huawei Cloud, and the simulator
// verifies the signature, applies the operation and answers with BSS's
// documented shapes and error codes.

// simEpoch pins the simulator's clock (simulated time only moves with
// Advance), so bill cycles, creation delays and consumption are exact.
// Authentication and throttling keep using the real clock.
var simEpoch = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// Seeded data of bsssim.DefaultStateAt(simEpoch).
const (
	teamA = "cust-team-a-0001"
	teamB = "cust-team-b-0001"
	teamC = "cust-team-c-0001"

	couponCampaign = "CP2026110100001" // 2000.00
	couponBusiness = "CP2026110100002" // 1000.00
	couponTest     = "CP2026110100003" // 500.00
	seededSubCoup  = "SCP2026110100009"

	rootOrg = "1000000000"
	orgRnD  = "1234567890"
	orgOps  = "1234567891"

	// creditExpiry is the end of next year in UTC+8, written in UTC.
	creditExpiry = "2027-12-31T15:59:59Z"
	// couponStart is the start of this year in UTC+8, written in UTC.
	couponStart = "2025-12-31T16:00:00Z"

	curCycle  = "2026-11"
	prevCycle = "2026-10"

	unknownSub = "cust-unknown-0001"
)

// yuan parses a constant amount.
func yuan(s string) money.Amount { return money.MustParse(s) }

// harness is a simulator behind a loopback HTTP server and a client signed
// as the default master.
type harness struct {
	sim *bsssim.Sim
	srv *httptest.Server
	c   *bss.Client
	seq atomic.Int64
}

// newHarness starts a simulator on DefaultStateAt(simEpoch), changed by
// mutate when not nil. Throttling is disabled unless opts set a rate. When
// the test ends, the server is closed and the simulator's conservation and
// ledger invariants must hold.
func newHarness(t *testing.T, opts bsssim.Options, mutate func(*bsssim.State)) *harness {
	t.Helper()
	st := bsssim.DefaultStateAt(simEpoch)
	if mutate != nil {
		mutate(st)
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return simEpoch }
	}
	if opts.ThrottlePerSecond == 0 {
		opts.ThrottlePerSecond = -1
	}
	sim, err := bsssim.New(st, opts)
	if err != nil {
		t.Fatalf("bsssim.New: %v", err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := sim.CheckConservation(); err != nil {
			t.Errorf("CheckConservation: %v", err)
		}
		if err := sim.CheckLedger(); err != nil {
			t.Errorf("CheckLedger: %v", err)
		}
	})
	h := &harness{sim: sim, srv: srv}
	h.c = h.client(t, nil)
	return h
}

// client returns a client of the default master with a high client-side
// rate and short read-retry waits, changed by mutate when not nil.
func (h *harness) client(t *testing.T, mutate func(*bss.Config)) *bss.Client {
	t.Helper()
	cfg := bss.Config{
		Endpoint:          h.srv.URL,
		Credentials:       sign.Credentials{AccessKey: bsssim.DefaultAccessKey, SecretKey: bsssim.DefaultSecretKey},
		DomainID:          bsssim.DefaultDomainID,
		RequestsPerSecond: 1000,
		Burst:             100,
		Timeout:           10 * time.Second,
		ReadRetry: bss.RetryPolicy{
			MaxAttempts:   8,
			BaseDelay:     10 * time.Millisecond,
			MaxDelay:      time.Second,
			ThrottleDelay: 200 * time.Millisecond,
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := bss.New(cfg)
	if err != nil {
		t.Fatalf("bss.New: %v", err)
	}
	return c
}

// transID returns a fresh trans_id of 32 characters.
func (h *harness) transID() string {
	return fmt.Sprintf("itest%027d", h.seq.Add(1))
}

// ledgerEntries returns the ledger entries with the given trans_id.
func (h *harness) ledgerEntries(transID string) []bsssim.LedgerEntry {
	var out []bsssim.LedgerEntry
	for _, e := range h.sim.Ledger() {
		if e.TransID == transID {
			out = append(out, e)
		}
	}
	return out
}

// books is every money balance the simulator holds, keyed by holder, and
// the number of ledger entries.
type books struct {
	balances map[string]money.Amount
	ledger   int
}

func (h *harness) books() books {
	st := h.sim.Snapshot()
	b := books{balances: map[string]money.Amount{}, ledger: len(st.Ledger)}
	credit := func(prefix string, ls []bsssim.CreditLedger) {
		for _, l := range ls {
			k := "permanent"
			if l.ExpireTime != nil {
				k = l.ExpireTime.UTC().Format(time.RFC3339)
			}
			b.balances[prefix+"/credit/"+k] = l.Balance
		}
	}
	for _, m := range st.Masters {
		b.balances["master/"+m.DomainID+"/cash"] = m.Cash
		credit("master/"+m.DomainID, m.CreditLedgers)
	}
	for _, sa := range st.SubAccounts {
		b.balances["sub/"+sa.ID+"/reclaimable"] = sa.ReclaimableCash
		b.balances["sub/"+sa.ID+"/self-funded"] = sa.SelfFundedCash
		credit("sub/"+sa.ID, sa.CreditLedgers)
	}
	for _, c := range st.Coupons {
		b.balances["coupon/"+c.ID] = c.Balance
	}
	for _, sc := range st.SubCoupons {
		b.balances["sub-coupon/"+sc.ID] = sc.Balance
	}
	return b
}

// assertUnchanged fails when any balance or the ledger changed since before.
func (h *harness) assertUnchanged(t *testing.T, before books) {
	t.Helper()
	after := h.books()
	if after.ledger != before.ledger {
		t.Errorf("ledger grew from %d to %d entries", before.ledger, after.ledger)
	}
	if !maps.Equal(before.balances, after.balances) {
		for k, v := range after.balances {
			if w, ok := before.balances[k]; !ok || w != v {
				t.Errorf("%s changed from %s to %s", k, w, v)
			}
		}
		for k, w := range before.balances {
			if _, ok := after.balances[k]; !ok {
				t.Errorf("%s (%s) disappeared", k, w)
			}
		}
	}
}

// masterCash and subAccount read the simulator's books directly.
func (h *harness) masterCash(t *testing.T) money.Amount {
	t.Helper()
	m, ok := h.sim.Master("")
	if !ok {
		t.Fatal("no master")
	}
	return m.Cash
}

func (h *harness) subAccount(t *testing.T, id string) bsssim.SubAccountBalances {
	t.Helper()
	sa, ok := h.sim.SubAccount(id)
	if !ok {
		t.Fatalf("sub-account %s does not exist", id)
	}
	return sa
}

// testContext bounds every call of a test.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// apiError returns err as a *bss.Error with the given code, or fails.
func apiError(t *testing.T, err error, code string) *bss.Error {
	t.Helper()
	var e *bss.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want a *bss.Error with code %s", err, code)
	}
	if e.Code != code {
		t.Fatalf("error code = %q (%v), want %s", e.Code, err, code)
	}
	return e
}

// wantCode fails unless err is a *bss.Error with the given code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	_ = apiError(t, err, code)
}

// attempts records every HTTP attempt of a client.
type attempts struct {
	mu    sync.Mutex
	calls []bss.CallInfo
}

// ObserveCall implements bss.Observer.
func (a *attempts) ObserveCall(c bss.CallInfo) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, c)
}

// count returns the number of attempts of op and how many were throttled;
// every throttled attempt must be an HTTP 429 with code APIG.0308.
func (a *attempts) count(t *testing.T, op string) (total, throttled int) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.calls {
		if c.Operation != op {
			continue
		}
		total++
		if c.Throttled {
			throttled++
			if c.HTTPStatus != http.StatusTooManyRequests || c.Code != bss.CodeThrottled || c.Attempt < 1 {
				t.Errorf("throttled attempt %+v", c)
			}
		}
	}
	return total, throttled
}

// withSubKeys gives a seeded sub-account its own access keys.
func withSubKeys(id, ak, sk string) func(*bsssim.State) {
	return func(st *bsssim.State) {
		for i := range st.SubAccounts {
			if st.SubAccounts[i].ID == id {
				st.SubAccounts[i].AccessKey, st.SubAccounts[i].SecretKey = ak, sk
			}
		}
	}
}

func TestClientReadsSeededData(t *testing.T) {
	h := newHarness(t, bsssim.Options{}, nil)
	ctx := testContext(t)
	c := h.c

	t.Run("organizations", func(t *testing.T) {
		both := []bss.OrgNode{
			{RelationID: "rel-" + orgRnD, ID: orgRnD, Name: "R&D"},
			{RelationID: "rel-" + orgOps, ID: orgOps, Name: "Ops"},
		}
		tests := []struct {
			name     string
			req      bss.ListOrganizationsRequest
			wantRoot string
			want     []bss.OrgNode
		}{
			{name: "root", req: bss.ListOrganizationsRequest{}, wantRoot: rootOrg, want: both},
			{name: "recursive", req: bss.ListOrganizationsRequest{Recursive: true}, wantRoot: rootOrg, want: both},
			{name: "below R&D", req: bss.ListOrganizationsRequest{ParentID: orgRnD}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := c.ListOrganizations(ctx, tc.req)
				if err != nil {
					t.Fatal(err)
				}
				if got.RootID != tc.wantRoot {
					t.Errorf("RootID = %q, want %q", got.RootID, tc.wantRoot)
				}
				if tc.wantRoot != "" && got.RootName != bsssim.DefaultMasterName {
					t.Errorf("RootName = %q", got.RootName)
				}
				if !equalOrgNodes(got.ChildNodes, tc.want) {
					t.Errorf("ChildNodes = %+v, want %+v", got.ChildNodes, tc.want)
				}
			})
		}
	})

	t.Run("sub-customers", func(t *testing.T) {
		tests := []struct {
			name string
			req  bss.ListSubCustomersRequest
			want []string
		}{
			{name: "all", want: []string{teamA, teamB, teamC}},
			{name: "org R&D", req: bss.ListSubCustomersRequest{OrgID: orgRnD}, want: []string{teamA, teamB}},
			{name: "exact account name", req: bss.ListSubCustomersRequest{AccountName: "team-c"}, want: []string{teamC}},
			{name: "fuzzy display name", req: bss.ListSubCustomersRequest{DisplayName: "Team", Fuzzy: true}, want: []string{teamA, teamB, teamC}},
			{name: "exact display name misses", req: bss.ListSubCustomersRequest{DisplayName: "Team"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := c.ListAllSubCustomers(ctx, tc.req)
				if err != nil {
					t.Fatal(err)
				}
				ids := make([]string, 0, len(got))
				for _, s := range got {
					ids = append(ids, s.ID)
				}
				if !slices.Equal(ids, tc.want) {
					t.Errorf("ids = %v, want %v", ids, tc.want)
				}
			})
		}
		t.Run("fields and paging", func(t *testing.T) {
			page, err := c.ListSubCustomers(ctx, bss.ListSubCustomersRequest{Offset: 0, Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			want := bss.SubCustomer{ID: teamA, Name: "team-a", DisplayName: "Team A", Status: bss.SubCustomerStatusNormal, OrgID: orgRnD, OrgName: "R&D"}
			if page.TotalCount != 3 || len(page.SubCustomers) != 1 || page.SubCustomers[0] != want {
				t.Errorf("page 1 = %+v, want total 3 and %+v", page, want)
			}
			page, err = c.ListSubCustomers(ctx, bss.ListSubCustomersRequest{Offset: 2, Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			if page.TotalCount != 3 || len(page.SubCustomers) != 1 || page.SubCustomers[0].ID != teamC || page.SubCustomers[0].OrgName != "Ops" {
				t.Errorf("page at offset 2 = %+v", page)
			}
		})
	})

	t.Run("transferable amounts", func(t *testing.T) {
		cash, err := c.TransferableCash(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cash != yuan("100000.00") {
			t.Errorf("TransferableCash = %s, want 100000.00", cash)
		}
		debit, err := c.GetTransferableAmount(ctx, bss.TransferableAmountRequest{BalanceType: bss.BalanceTypeDebit})
		if err != nil {
			t.Fatal(err)
		}
		if debit.TotalCount != 1 || len(debit.Amounts) != 1 || debit.Amounts[0].MeasureID != 1 || debit.Amounts[0].Currency != "CNY" {
			t.Errorf("debit = %+v", debit)
		}
		credit, err := c.TransferableCredit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []bss.AmountInfo{
			creditRow("50000.00", "50000.00", creditExpiry),
			creditRow("20000.00", "20000.00", ""),
		}
		if !slices.Equal(credit, want) {
			t.Errorf("TransferableCredit = %+v, want %+v", credit, want)
		}
		page, err := c.GetTransferableAmount(ctx, bss.TransferableAmountRequest{BalanceType: bss.BalanceTypeCredit, Offset: 1, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if page.TotalCount != 2 || !slices.Equal(page.Amounts, want[1:]) {
			t.Errorf("credit page 2 = %+v", page)
		}
	})

	t.Run("reclaimable amounts", func(t *testing.T) {
		tests := []struct {
			sub        string
			wantCash   money.Amount
			wantCredit []bss.AmountInfo
		}{
			// team-a also holds 200.00 it paid in itself: not reclaimable.
			{sub: teamA, wantCash: yuan("1000.00")},
			{sub: teamB, wantCash: 0},
			{sub: teamC, wantCash: 0, wantCredit: []bss.AmountInfo{creditRow("500.00", "500.00", creditExpiry)}},
		}
		for _, tc := range tests {
			t.Run(tc.sub, func(t *testing.T) {
				cash, err := c.ReclaimableCash(ctx, tc.sub)
				if err != nil {
					t.Fatal(err)
				}
				if cash != tc.wantCash {
					t.Errorf("ReclaimableCash = %s, want %s", cash, tc.wantCash)
				}
				credit, err := c.ReclaimableCredit(ctx, tc.sub)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(credit, tc.wantCredit) {
					t.Errorf("ReclaimableCredit = %+v, want %+v", credit, tc.wantCredit)
				}
			})
		}
	})

	t.Run("transferable coupons", func(t *testing.T) {
		got, err := c.ListAllTransferableCoupons(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct{ id, plan, balance string }{
			{couponCampaign, "Campaign cash voucher", "2000.00"},
			{couponBusiness, "Business cash voucher", "1000.00"},
			{couponTest, "Test cash voucher", "500.00"},
		}
		if len(got) != len(want) {
			t.Fatalf("coupons = %+v", got)
		}
		for i, w := range want {
			g := got[i]
			if g.CouponID != w.id || g.PlanName != w.plan || g.Balance != yuan(w.balance) || g.EffectiveTime != couponStart || g.ExpireTime != creditExpiry {
				t.Errorf("coupon %d = %+v, want %s %q %s", i, g, w.id, w.plan, w.balance)
			}
		}
		page, err := c.ListTransferableCoupons(ctx, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		if page.TotalCount != 3 || len(page.Coupons) != 1 || page.Coupons[0].CouponID != couponBusiness {
			t.Errorf("page 2 = %+v", page)
		}
	})

	t.Run("reclaimable coupons", func(t *testing.T) {
		tests := []struct {
			sub  string
			want []bss.SubCoupon
		}{
			{sub: teamA, want: []bss.SubCoupon{{
				CouponID: couponCampaign, SubCouponID: seededSubCoup, PlanName: "Campaign cash voucher",
				Balance: yuan("100.00"), EffectiveTime: couponStart, ExpireTime: creditExpiry,
			}}},
			{sub: teamB},
		}
		for _, tc := range tests {
			t.Run(tc.sub, func(t *testing.T) {
				got, err := c.ListAllReclaimableCoupons(ctx, tc.sub)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("sub-coupons = %+v, want %+v", got, tc.want)
				}
				for i := range got {
					g := got[i]
					g.UseLimits = nil
					if !equalSubCoupon(g, tc.want[i]) {
						t.Errorf("sub-coupon %d = %+v, want %+v", i, got[i], tc.want[i])
					}
				}
				page, err := c.ListReclaimableCoupons(ctx, tc.sub, 0, 10)
				if err != nil {
					t.Fatal(err)
				}
				if page.TotalCount != len(tc.want) {
					t.Errorf("TotalCount = %d, want %d", page.TotalCount, len(tc.want))
				}
			})
		}
	})
}

func TestClientOrdersBillsAndBalances(t *testing.T) {
	h := newHarness(t, bsssim.Options{}, nil)
	ctx := testContext(t)
	c := h.c
	const (
		order1 = "CS2026000000001" // team-a, ec2, new, completed, 1200.00, 40 days old
		order2 = "CS2026000000002" // team-a, ec2, renewal, pending payment, 360.00, 2 days old
		order3 = "CS2026000000003" // team-b, rds, new, processing, 99.00, 1 hour old
		order4 = "CS2026000000004" // the master, obs, new, cancelled, 45.00, 10 days old
	)
	at := func(d time.Duration) string { return simEpoch.Add(d).Format("2006-01-02T15:04:05Z") }

	t.Run("orders", func(t *testing.T) {
		tests := []struct {
			name string
			req  bss.ListOrdersRequest
			want []string
		}{
			{name: "sub_customer newest first", req: bss.ListOrdersRequest{Method: bss.MethodSubCustomer}, want: []string{order3, order2, order1}},
			{name: "sub_customer oldest first", req: bss.ListOrdersRequest{Method: bss.MethodSubCustomer, OrderBy: bss.OrderByCreateTimeAsc}, want: []string{order1, order2, order3}},
			{name: "oneself", req: bss.ListOrdersRequest{Method: bss.MethodOneself}, want: []string{order4}},
			{name: "sub_customer completed", req: bss.ListOrdersRequest{Method: bss.MethodSubCustomer, Status: bss.OrderStatusCompleted}, want: []string{order1}},
			{name: "one sub-customer", req: bss.ListOrdersRequest{Method: bss.MethodSubCustomer, CustomerID: teamB}, want: []string{order3}},
			{name: "one service", req: bss.ListOrdersRequest{Method: bss.MethodSubCustomer, ServiceTypeCode: "hws.service.type.ec2"}, want: []string{order2, order1}},
			{name: "renewals", req: bss.ListOrdersRequest{Method: bss.MethodSubCustomer, OrderType: "2"}, want: []string{order2}},
			{
				name: "created in the last week",
				req:  bss.ListOrdersRequest{Method: bss.MethodSubCustomer, CreateTimeBegin: at(-7 * 24 * time.Hour), CreateTimeEnd: at(0)},
				want: []string{order3, order2},
			},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := c.ListAllOrders(ctx, tc.req)
				if err != nil {
					t.Fatal(err)
				}
				ids := make([]string, 0, len(got))
				for _, o := range got {
					ids = append(ids, o.OrderID)
				}
				if !slices.Equal(ids, tc.want) {
					t.Errorf("orders = %v, want %v", ids, tc.want)
				}
			})
		}
		t.Run("fields and paging", func(t *testing.T) {
			page, err := c.ListOrders(ctx, bss.ListOrdersRequest{Method: bss.MethodSubCustomer, OrderBy: bss.OrderByCreateTimeAsc, Offset: 0, Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if page.TotalCount != 3 || len(page.Orders) != 1 {
				t.Fatalf("page = %+v", page)
			}
			o := page.Orders[0]
			if o.OrderID != order1 || o.CustomerID != teamA || o.ServiceTypeCode != "hws.service.type.ec2" ||
				o.ServiceTypeName != "Elastic Cloud Server" || o.SourceType != 1 || o.Status != bss.OrderStatusCompleted ||
				o.OrderType != "1" || o.AmountAfterDiscount != yuan("1200.00") || o.OfficialAmount != yuan("1200.00") ||
				o.MeasureID != 1 || o.Currency != "CNY" || o.CreateTime != at(-40*24*time.Hour) ||
				o.PaymentTime != at(-40*24*time.Hour+time.Minute) {
				t.Errorf("order = %+v", o)
			}
			if o.AmountInfo == nil || o.AmountInfo.CouponAmount != 0 || len(o.AmountInfo.Discounts) != 0 {
				t.Errorf("amount info = %+v", o.AmountInfo)
			}
			page, err = c.ListOrders(ctx, bss.ListOrdersRequest{Method: bss.MethodSubCustomer, Offset: 1, Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if page.TotalCount != 3 || len(page.Orders) != 1 || page.Orders[0].OrderID != order2 || page.Orders[0].AmountAfterDiscount != yuan("360.00") {
				t.Errorf("page at offset 1 = %+v", page)
			}
		})
	})

	t.Run("order details", func(t *testing.T) {
		tests := []struct {
			id          string
			wantStatus  int
			wantType    string
			wantAmount  string
			wantPending string
			wantItem    bss.OrderLineItem
		}{
			{
				id: order1, wantStatus: bss.OrderStatusCompleted, wantType: "1", wantAmount: "1200.00",
				wantItem: bss.OrderLineItem{
					OrderLineItemID: order1 + "-1", OrderID: order1, ServiceTypeCode: "hws.service.type.ec2",
					ServiceTypeName: "Elastic Cloud Server", ProductOwnerService: "hws.service.type.ec2", CommercialResource: "hws.resource.type.vm",
					ProductID: "OFFIEC20001", ProductSpecDesc: "Elastic Cloud Server yearly subscription",
					PeriodType: 3, PeriodNum: 1, SubscriptionNum: 1,
					EffectiveTime: at(-40*24*time.Hour + time.Minute), ExpireTime: "2027-10-18T12:01:00Z",
					AmountAfterDiscount: yuan("1200.00"), OfficialAmount: yuan("1200.00"), Currency: "CNY",
				},
			},
			{
				id: order2, wantStatus: bss.OrderStatusPendingPayment, wantType: "2", wantAmount: "360.00",
				wantPending: at(5 * 24 * time.Hour),
				wantItem: bss.OrderLineItem{
					OrderLineItemID: order2 + "-1", OrderID: order2, ServiceTypeCode: "hws.service.type.ec2",
					ServiceTypeName: "Elastic Cloud Server", ProductOwnerService: "hws.service.type.ec2", CommercialResource: "hws.resource.type.vm",
					ProductID: "OFFIEC20001", ProductSpecDesc: "Elastic Cloud Server monthly subscription",
					PeriodType: 2, PeriodNum: 1, SubscriptionNum: 1,
					EffectiveTime: at(-2 * 24 * time.Hour), ExpireTime: "2026-12-25T12:00:00Z",
					AmountAfterDiscount: yuan("360.00"), OfficialAmount: yuan("360.00"), Currency: "CNY",
				},
			},
			{
				id: order4, wantStatus: bss.OrderStatusCancelled, wantType: "1", wantAmount: "45.00",
				wantItem: bss.OrderLineItem{
					OrderLineItemID: order4 + "-1", OrderID: order4, ServiceTypeCode: "hws.service.type.obs",
					ServiceTypeName: "Object Storage Service", ProductOwnerService: "hws.service.type.obs", CommercialResource: "hws.resource.type.obs",
					ProductID: "OFFIOBS0001", ProductSpecDesc: "Object Storage Service monthly subscription",
					PeriodType: 2, PeriodNum: 1, SubscriptionNum: 1,
					EffectiveTime: at(-10 * 24 * time.Hour), ExpireTime: "2026-12-17T12:00:00Z",
					AmountAfterDiscount: yuan("45.00"), OfficialAmount: yuan("45.00"), Currency: "CNY",
				},
			},
		}
		for _, tc := range tests {
			t.Run(tc.id, func(t *testing.T) {
				got, err := c.GetOrderDetails(ctx, tc.id, 0, 10)
				if err != nil {
					t.Fatal(err)
				}
				o := got.OrderInfo
				if got.TotalCount != 1 || o.OrderID != tc.id || o.Status != tc.wantStatus || o.OrderType != tc.wantType ||
					o.AmountAfterDiscount != yuan(tc.wantAmount) || o.UserName != "bsssim" || o.PendingPaymentEndTime != tc.wantPending {
					t.Errorf("details = %+v", got)
				}
				if len(got.OrderLineItems) != 1 {
					t.Fatalf("line items = %+v", got.OrderLineItems)
				}
				item := got.OrderLineItems[0]
				if item.AmountInfo == nil {
					t.Errorf("line item has no amount info")
				}
				item.AmountInfo = nil
				if item != tc.wantItem {
					t.Errorf("line item = %+v, want %+v", item, tc.wantItem)
				}
			})
		}
		t.Run("unknown order", func(t *testing.T) {
			_, err := c.GetOrderDetails(ctx, "CS2026999999999", 0, 0)
			wantCode(t, err, "CBC.30000010")
			if !bss.IsTerminal(err) || bss.IsRetryableRead(err) {
				t.Errorf("unknown order: IsTerminal = %v, IsRetryableRead = %v", bss.IsTerminal(err), bss.IsRetryableRead(err))
			}
		})
	})

	t.Run("monthly sum", func(t *testing.T) {
		type totals struct{ consume, cash, credit, coupon string }
		tests := []struct {
			name      string
			req       bss.MonthlySumRequest
			wantCusts []string
			want      totals
		}{
			{
				name:      "all, current cycle",
				req:       bss.MonthlySumRequest{BillCycle: curCycle, Method: bss.MethodAll},
				wantCusts: []string{teamA, teamB, bsssim.DefaultDomainID},
				want:      totals{consume: "187.75", cash: "177.75", credit: "0.00", coupon: "10.00"},
			},
			{
				name:      "default method, previous cycle",
				req:       bss.MonthlySumRequest{BillCycle: prevCycle},
				wantCusts: []string{teamA, teamA, teamB, teamC},
				want:      totals{consume: "2242.59", cash: "2050.00", credit: "80.25", coupon: "112.34"},
			},
			{
				name:      "sub_customer team-a",
				req:       bss.MonthlySumRequest{BillCycle: prevCycle, Method: bss.MethodSubCustomer, SubCustomerID: teamA},
				wantCusts: []string{teamA, teamA},
				want:      totals{consume: "2012.34", cash: "1900.00", credit: "0.00", coupon: "112.34"},
			},
			{
				name:      "sub_customer team-c",
				req:       bss.MonthlySumRequest{BillCycle: prevCycle, Method: bss.MethodSubCustomer, SubCustomerID: teamC},
				wantCusts: []string{teamC},
				want:      totals{consume: "80.25", cash: "0.00", credit: "80.25", coupon: "0.00"},
			},
			{
				name:      "oneself",
				req:       bss.MonthlySumRequest{BillCycle: curCycle, Method: bss.MethodOneself},
				wantCusts: []string{bsssim.DefaultDomainID},
				want:      totals{consume: "12.30", cash: "12.30", credit: "0.00", coupon: "0.00"},
			},
			{
				name: "one service",
				req:  bss.MonthlySumRequest{BillCycle: prevCycle, ServiceTypeCode: "hws.service.type.ec2"},
				// The on-demand and the yearly/monthly record of team-a.
				wantCusts: []string{teamA, teamA},
				want:      totals{consume: "2012.34", cash: "1900.00", credit: "0.00", coupon: "112.34"},
			},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := c.ListAllMonthlySums(ctx, tc.req)
				if err != nil {
					t.Fatal(err)
				}
				custs := make([]string, 0, len(got.BillSums))
				var sum money.Amount
				for _, b := range got.BillSums {
					custs = append(custs, b.CustomerID)
					sum = sum.Add(b.ConsumeAmount)
				}
				if !slices.Equal(custs, tc.wantCusts) || got.TotalCount != len(tc.wantCusts) {
					t.Errorf("records of %v (total %d), want %v", custs, got.TotalCount, tc.wantCusts)
				}
				if got.ConsumeAmount != yuan(tc.want.consume) || got.CashAmount != yuan(tc.want.cash) ||
					got.CreditAmount != yuan(tc.want.credit) || got.CouponAmount != yuan(tc.want.coupon) ||
					!got.DebtAmount.IsZero() || got.Currency != "CNY" || got.MeasureID != 1 {
					t.Errorf("totals = consume %s cash %s credit %s coupon %s debt %s %s/%d, want %+v",
						got.ConsumeAmount, got.CashAmount, got.CreditAmount, got.CouponAmount, got.DebtAmount, got.Currency, got.MeasureID, tc.want)
				}
				if sum != got.ConsumeAmount {
					t.Errorf("records add up to %s, total is %s", sum, got.ConsumeAmount)
				}
			})
		}
		t.Run("record fields and paging", func(t *testing.T) {
			page, err := c.GetMonthlySum(ctx, bss.MonthlySumRequest{BillCycle: prevCycle, Method: bss.MethodAll, Offset: 3, Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			// Totals cover every record, not only the page.
			if page.TotalCount != 4 || len(page.BillSums) != 1 || page.ConsumeAmount != yuan("2242.59") {
				t.Fatalf("page = %+v", page)
			}
			want := bss.BillSum{
				BillCycle: prevCycle, CustomerID: teamC, AccountName: "team-c",
				ServiceTypeCode: "hws.service.type.obs", ServiceTypeName: "Object Storage Service",
				ResourceTypeCode: "hws.resource.type.obs", ResourceTypeName: "obs",
				ChargingMode: 3, BillType: 1, OfficialAmount: yuan("80.25"), ConsumeAmount: yuan("80.25"),
				CreditAmount: yuan("80.25"), MeasureID: 1,
			}
			if page.BillSums[0] != want {
				t.Errorf("record = %+v, want %+v", page.BillSums[0], want)
			}
		})
	})

	t.Run("account balances", func(t *testing.T) {
		got, err := c.GetAccountBalances(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []bss.AccountBalance{
			{AccountID: bsssim.DefaultDomainID + "-01", AccountType: bss.AccountTypeCash, Amount: yuan("100000.00"), MeasureID: 1, Currency: "CNY"},
			{AccountID: bsssim.DefaultDomainID + "-02", AccountType: bss.AccountTypeCredit, Amount: yuan("70000.00"), CreditAmount: yuan("70000.00"), MeasureID: 1, Currency: "CNY"},
			{AccountID: bsssim.DefaultDomainID + "-05", AccountType: bss.AccountTypeBonus, Amount: yuan("88.00"), MeasureID: 1, Currency: "CNY"},
			{AccountID: bsssim.DefaultDomainID + "-07", AccountType: bss.AccountTypeDeposit, Amount: yuan("5000.00"), MeasureID: 1, Currency: "CNY"},
		}
		if !slices.Equal(got.AccountBalances, want) || !got.DebtAmount.IsZero() || got.Currency != "CNY" || got.MeasureID != 1 {
			t.Errorf("balances = %+v, want %+v", got, want)
		}
	})

	t.Run("account change records", func(t *testing.T) {
		if err := h.sim.AddFunds("", yuan("500.50")); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			req  bss.AccountChangeRecordsRequest
			want int
		}{
			{name: "debit", req: bss.AccountChangeRecordsRequest{BalanceType: bss.BalanceTypeDebit}, want: 1},
			{name: "debit revenue", req: bss.AccountChangeRecordsRequest{BalanceType: bss.BalanceTypeDebit, RevenueExpenseType: bss.RevenueExpenseRevenue}, want: 1},
			{name: "debit expense", req: bss.AccountChangeRecordsRequest{BalanceType: bss.BalanceTypeDebit, RevenueExpenseType: bss.RevenueExpenseExpense}},
			{name: "credit", req: bss.AccountChangeRecordsRequest{BalanceType: bss.BalanceTypeCredit}},
			{name: "transfers only", req: bss.AccountChangeRecordsRequest{BalanceType: bss.BalanceTypeDebit, TradeType: bss.TradeTypeTransferIn}},
			{name: "today", req: bss.AccountChangeRecordsRequest{BalanceType: bss.BalanceTypeDebit, TradeTimeBegin: "2026-11-27", TradeTimeEnd: "2026-11-27"}, want: 1},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := c.ListAllAccountChangeRecords(ctx, tc.req)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != tc.want {
					t.Fatalf("records = %+v, want %d", got, tc.want)
				}
				if tc.want == 0 {
					return
				}
				r := got[0]
				if r.AccountChangeID == "" || r.TradeID == "" || r.TradeDetailType != "RECHARGE" || r.RevenueExpenseType != bss.RevenueExpenseRevenue ||
					r.ChangeAmount != yuan("500.50") || r.BalanceAfterChange != yuan("100500.50") || r.BillCycle != curCycle ||
					r.AccountName != bsssim.DefaultMasterName || r.PaymentChannelID != "2" || r.TradeTime != at(0) {
					t.Errorf("record = %+v", r)
				}
			})
		}
		page, err := c.ListAccountChangeRecords(ctx, bss.AccountChangeRecordsRequest{BalanceType: bss.BalanceTypeDebit, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if page.TotalCount != 1 || page.Currency != "CNY" || len(page.Records) != 1 {
			t.Errorf("page = %+v", page)
		}
	})
}

func TestClientCreateSubCustomer(t *testing.T) {
	h := newHarness(t, bsssim.Options{}, nil)
	ctx := testContext(t)
	c := h.c

	tests := []struct {
		name  string
		req   bss.CreateSubCustomerRequest
		phone string // when set, an SMS code is sent to it first
	}{
		{
			name: "master's phone",
			req: bss.CreateSubCustomerRequest{
				PartyID: orgOps, DisplayName: "Uses master phone",
				PermissionIDs:  []string{bss.PermissionReadFinanceInfo, bss.PermissionReadConsumeBill},
				NewSubCustomer: bss.NewSubCustomer{CustomerName: "it-master-phone", UsePriMobilePhone: "Y", Password: "Passw0rd-it"},
			},
		},
		{
			name: "own phone with SMS code",
			req: bss.CreateSubCustomerRequest{
				PartyID: orgRnD, DisplayName: "Own phone",
				PermissionIDs:  []string{bss.PermissionReadConsumeBill},
				NewSubCustomer: bss.NewSubCustomer{CustomerName: "it-own-phone", MobilePhone: "13900000001", UsePriMobilePhone: "N", Password: "Passw0rd-it"},
			},
			phone: "13900000001",
		},
		{
			name: "financial custody at the root",
			req: bss.CreateSubCustomerRequest{
				PartyID: rootOrg, FinancialCustody: true,
				NewSubCustomer: bss.NewSubCustomer{CustomerName: "it-custody", UsePriMobilePhone: "Y", Password: "Passw0rd-it"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			if tc.phone != "" {
				err := c.SendSMSVerificationCode(ctx, bss.SendSMSVerificationCodeRequest{
					MobilePhone: tc.phone, TimeoutMinutes: 10, Language: "en-us",
					TemplateArgs: []bss.TemplateArg{{Key: bss.TemplateArgSubCustomerName, Value: req.NewSubCustomer.CustomerName}},
				})
				if err != nil {
					t.Fatalf("SendSMSVerificationCode: %v", err)
				}
				code, ok := h.sim.LastSMSCode(tc.phone)
				if !ok || !regexp.MustCompile(`^[0-9]{6}$`).MatchString(code) {
					t.Fatalf("LastSMSCode = %q, %v", code, ok)
				}
				req.NewSubCustomer.VerificationCode = code
			}
			if err := c.CreateSubCustomer(ctx, req); err != nil {
				t.Fatalf("CreateSubCustomer: %v", err)
			}

			name := req.NewSubCustomer.CustomerName
			sub := findSub(ctx, t, c, name)
			if sub.Status != bss.SubCustomerStatusCreating || sub.OrgID != req.PartyID || sub.DisplayName != req.DisplayName {
				t.Errorf("just created: %+v", sub)
			}
			// Money cannot move to an account that is still being created.
			before := h.books()
			err := c.TransferAmount(ctx, bss.AmountTransferRequest{CustomerID: sub.ID, Amount: yuan("10.00"), TransID: h.transID()})
			e := apiError(t, err, bss.CodeCheckItemFailed)
			if !slices.Contains(e.FailCheckItems, bsssim.CheckSubStatus) || !bss.IsTerminal(err) {
				t.Errorf("transfer while creating: %v", err)
			}
			h.assertUnchanged(t, before)

			h.sim.Advance(bsssim.DefaultCreationDelay)
			sub = findSub(ctx, t, c, name)
			if sub.Status != bss.SubCustomerStatusNormal {
				t.Fatalf("after the creation delay: %+v", sub)
			}
			if err := c.TransferAmount(ctx, bss.AmountTransferRequest{CustomerID: sub.ID, Amount: yuan("10.00"), TransID: h.transID()}); err != nil {
				t.Fatalf("TransferAmount to the new sub-account: %v", err)
			}
			if got := h.subAccount(t, sub.ID).ReclaimableCash; got != yuan("10.00") {
				t.Errorf("new sub-account cash = %s, want 10.00", got)
			}
			if req.FinancialCustody {
				// Nothing can be reclaimed from a financial-custody sub.
				before := h.books()
				err := c.ReclaimAmount(ctx, bss.AmountTransferRequest{CustomerID: sub.ID, Amount: yuan("10.00"), TransID: h.transID()})
				e := apiError(t, err, bss.CodeCheckItemFailed)
				if !slices.Equal(e.FailCheckItems, []string{bsssim.CheckNoRetrieveFromCustody}) {
					t.Errorf("FailCheckItems = %v", e.FailCheckItems)
				}
				h.assertUnchanged(t, before)
			}
		})
	}

	t.Run("refused", func(t *testing.T) {
		refused := []struct {
			name     string
			req      bss.CreateSubCustomerRequest
			sendSMS  bool
			wantCode string
		}{
			{
				name:     "wrong SMS code",
				req:      bss.CreateSubCustomerRequest{PartyID: orgRnD, NewSubCustomer: bss.NewSubCustomer{CustomerName: "it-wrong-code", MobilePhone: "13900000002", Password: "Passw0rd-it", VerificationCode: "not-it"}},
				sendSMS:  true,
				wantCode: bsssim.CodeVerificationWrong,
			},
			{
				name:     "account name taken",
				req:      bss.CreateSubCustomerRequest{PartyID: orgRnD, NewSubCustomer: bss.NewSubCustomer{CustomerName: "team-a", UsePriMobilePhone: "Y", Password: "Passw0rd-it"}},
				wantCode: bsssim.CodeInvalidDomainName,
			},
			{
				name:     "unknown org unit",
				req:      bss.CreateSubCustomerRequest{PartyID: "999", NewSubCustomer: bss.NewSubCustomer{CustomerName: "it-no-org", UsePriMobilePhone: "Y", Password: "Passw0rd-it"}},
				wantCode: bsssim.CodeParam,
			},
		}
		for _, tc := range refused {
			t.Run(tc.name, func(t *testing.T) {
				if tc.sendSMS {
					err := c.SendSMSVerificationCode(ctx, bss.SendSMSVerificationCodeRequest{
						MobilePhone:  tc.req.NewSubCustomer.MobilePhone,
						TemplateArgs: []bss.TemplateArg{{Key: bss.TemplateArgSubCustomerName, Value: tc.req.NewSubCustomer.CustomerName}},
					})
					if err != nil {
						t.Fatal(err)
					}
				}
				err := c.CreateSubCustomer(ctx, tc.req)
				wantCode(t, err, tc.wantCode)
				if !bss.IsTerminal(err) || bss.IsAmbiguousWrite(err) {
					t.Errorf("IsTerminal = %v, IsAmbiguousWrite = %v", bss.IsTerminal(err), bss.IsAmbiguousWrite(err))
				}
			})
		}
		all, err := c.ListAllSubCustomers(ctx, bss.ListSubCustomersRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 3+len(tests) {
			t.Errorf("%d sub-accounts, want %d", len(all), 3+len(tests))
		}
	})
}

// findSub looks a sub-account up by its login name.
func findSub(ctx context.Context, t *testing.T, c *bss.Client, name string) bss.SubCustomer {
	t.Helper()
	got, err := c.ListAllSubCustomers(ctx, bss.ListSubCustomersRequest{AccountName: name})
	if err != nil {
		t.Fatalf("ListAllSubCustomers: %v", err)
	}
	if len(got) != 1 || got[0].Name != name || got[0].ID == "" {
		t.Fatalf("sub-accounts named %s: %+v", name, got)
	}
	return got[0]
}

func TestClientDebitTransferAndReclaim(t *testing.T) {
	const subAK, subSK = "SUBAKTEAMB0000000001", "subSecretKeyTeamB000000000000000000000000"
	h := newHarness(t, bsssim.Options{}, withSubKeys(teamB, subAK, subSK))
	ctx := testContext(t)
	c := h.c

	type step struct {
		name       string
		reclaim    bool
		amount     string
		wantMaster string
		wantSub    string
		transID    string
	}
	steps := []step{
		{name: "transfer 250.00", amount: "250.00", wantMaster: "99750.00", wantSub: "250.00"},
		{name: "transfer one fen", amount: "0.01", wantMaster: "99749.99", wantSub: "250.01"},
		{name: "reclaim 100.00", reclaim: true, amount: "100.00", wantMaster: "99849.99", wantSub: "150.01"},
		{name: "reclaim the rest", reclaim: true, amount: "150.01", wantMaster: "100000.00", wantSub: "0.00"},
	}
	for i := range steps {
		st := &steps[i]
		st.transID = h.transID()
		t.Run(st.name, func(t *testing.T) {
			req := bss.AmountTransferRequest{CustomerID: teamB, Amount: yuan(st.amount), TransID: st.transID, BalanceType: bss.BalanceTypeDebit}
			op, wantOp := c.TransferAmount, bsssim.OpTransferAmount
			if st.reclaim {
				op, wantOp = c.ReclaimAmount, bsssim.OpRetrieveAmount
			}
			if err := op(ctx, req); err != nil {
				t.Fatal(err)
			}
			cash, err := c.TransferableCash(ctx)
			if err != nil {
				t.Fatal(err)
			}
			subCash, err := c.ReclaimableCash(ctx, teamB)
			if err != nil {
				t.Fatal(err)
			}
			if cash != yuan(st.wantMaster) || subCash != yuan(st.wantSub) {
				t.Errorf("client reads master %s, sub %s; want %s, %s", cash, subCash, st.wantMaster, st.wantSub)
			}
			if got := h.masterCash(t); got != yuan(st.wantMaster) {
				t.Errorf("simulator master cash = %s, want %s", got, st.wantMaster)
			}
			if got := h.subAccount(t, teamB); got.ReclaimableCash != yuan(st.wantSub) || got.Cash != yuan(st.wantSub) {
				t.Errorf("simulator sub = %+v, want %s", got, st.wantSub)
			}
			entries := h.ledgerEntries(st.transID)
			if len(entries) != 1 || entries[0].Operation != wantOp || entries[0].Amount != yuan(st.amount) ||
				entries[0].CustomerID != teamB || entries[0].BalanceType != bsssim.BalanceTypeDebit || entries[0].RequestID == "" {
				t.Errorf("ledger entries = %+v", entries)
			}
		})
	}

	t.Run("change records", func(t *testing.T) {
		sub := h.client(t, func(cfg *bss.Config) {
			cfg.Credentials = sign.Credentials{AccessKey: subAK, SecretKey: subSK}
			cfg.DomainID = teamB
		})
		views := []struct {
			name      string
			c         *bss.Client
			account   string
			wantAfter func(step) string
			// transfers are revenue for the sub and expense for the master
			wantDir func(reclaim bool) string
		}{
			{
				name: "master", c: c, account: bsssim.DefaultMasterName,
				wantAfter: func(s step) string { return s.wantMaster },
				wantDir: func(reclaim bool) string {
					if reclaim {
						return bss.RevenueExpenseRevenue
					}
					return bss.RevenueExpenseExpense
				},
			},
			{
				name: "sub-account with its own keys", c: sub, account: "team-b",
				wantAfter: func(s step) string { return s.wantSub },
				wantDir: func(reclaim bool) string {
					if reclaim {
						return bss.RevenueExpenseExpense
					}
					return bss.RevenueExpenseRevenue
				},
			},
		}
		for _, v := range views {
			t.Run(v.name, func(t *testing.T) {
				recs, err := v.c.ListAllAccountChangeRecords(ctx, bss.AccountChangeRecordsRequest{BalanceType: bss.BalanceTypeDebit})
				if err != nil {
					t.Fatal(err)
				}
				byTrade := map[string]bss.AccountChangeRecord{}
				for _, r := range recs {
					byTrade[r.TradeID] = r
				}
				if len(recs) != len(steps) || len(byTrade) != len(steps) {
					t.Fatalf("records = %+v", recs)
				}
				for _, st := range steps {
					r, ok := byTrade[st.transID]
					wantType := bss.TradeTypeTransferIn
					if st.reclaim {
						wantType = bss.TradeTypeReclaimed
					}
					if !ok || r.TradeDetailType != wantType || r.RevenueExpenseType != v.wantDir(st.reclaim) ||
						r.ChangeAmount != yuan(st.amount) || r.BalanceAfterChange != yuan(v.wantAfter(st)) ||
						r.AccountName != v.account || r.BillCycle != curCycle {
						t.Errorf("%s: record = %+v", st.name, r)
					}
				}
				reclaims, err := v.c.ListAllAccountChangeRecords(ctx, bss.AccountChangeRecordsRequest{BalanceType: bss.BalanceTypeDebit, TradeType: bss.TradeTypeReclaimed})
				if err != nil {
					t.Fatal(err)
				}
				if len(reclaims) != 2 {
					t.Errorf("reclaim records = %+v", reclaims)
				}
			})
		}
		bal, err := sub.GetAccountBalances(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(bal.AccountBalances) != 2 || bal.AccountBalances[0].AccountID != teamB+"-01" || !bal.AccountBalances[0].Amount.IsZero() {
			t.Errorf("sub-account balances = %+v", bal)
		}
	})
}

func TestClientCreditTransfer(t *testing.T) {
	h := newHarness(t, bsssim.Options{}, nil)
	ctx := testContext(t)
	c := h.c

	rows, err := c.TransferableCredit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].ExpireTime != creditExpiry || rows[1].ExpireTime != "" {
		t.Fatalf("TransferableCredit = %+v", rows)
	}
	tests := []struct {
		name     string
		reclaim  bool
		amount   string
		expire   string
		wantCode string // "" means success
	}{
		{name: "transfer from the expiring ledger with its expire_time", amount: "1000.00", expire: rows[0].ExpireTime},
		{name: "transfer from the permanent ledger without expire_time", amount: "500.00", expire: rows[1].ExpireTime},
		{name: "transfer with expire_time one second early", amount: "1.00", expire: "2027-12-31T15:59:58Z", wantCode: "CBC.0100"},
		{name: "transfer with expire_time of no ledger", amount: "1.00", expire: "2030-01-01T00:00:00Z", wantCode: "CBC.0100"},
		{name: "reclaim with a wrong expire_time", reclaim: true, amount: "1.00", expire: "2027-12-31T16:00:00Z", wantCode: "CBC.0100"},
		{name: "reclaim 400.00 of the expiring ledger", reclaim: true, amount: "400.00", expire: creditExpiry},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := bss.AmountTransferRequest{CustomerID: teamB, Amount: yuan(tc.amount), TransID: h.transID(), BalanceType: bss.BalanceTypeCredit, ExpireTime: tc.expire}
			op := c.TransferAmount
			if tc.reclaim {
				op = c.ReclaimAmount
			}
			before := h.books()
			err := op(ctx, req)
			if tc.wantCode == "" {
				if err != nil {
					t.Fatal(err)
				}
				if e := h.ledgerEntries(req.TransID); len(e) != 1 || e[0].BalanceType != bsssim.BalanceTypeCredit || e[0].Amount != req.Amount {
					t.Errorf("ledger = %+v", e)
				}
				return
			}
			wantCode(t, err, tc.wantCode)
			if !bss.IsTerminal(err) || bss.IsAmbiguousWrite(err) || bss.IsDuplicateTransID(err) {
				t.Errorf("%v: IsTerminal = %v, IsAmbiguousWrite = %v", err, bss.IsTerminal(err), bss.IsAmbiguousWrite(err))
			}
			h.assertUnchanged(t, before)
		})
	}

	t.Run("balances after", func(t *testing.T) {
		master, err := c.TransferableCredit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantMaster := []bss.AmountInfo{creditRow("49400.00", "49400.00", creditExpiry), creditRow("19500.00", "19500.00", "")}
		if !slices.Equal(master, wantMaster) {
			t.Errorf("master credit = %+v, want %+v", master, wantMaster)
		}
		sub, err := c.ReclaimableCredit(ctx, teamB)
		if err != nil {
			t.Fatal(err)
		}
		wantSub := []bss.AmountInfo{creditRow("600.00", "600.00", creditExpiry), creditRow("500.00", "500.00", "")}
		if !slices.Equal(sub, wantSub) {
			t.Errorf("sub credit = %+v, want %+v", sub, wantSub)
		}
		if got := h.subAccount(t, teamB).Credit; got != yuan("1100.00") {
			t.Errorf("simulator sub credit = %s", got)
		}
		bal, err := c.GetAccountBalances(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(bal.AccountBalances) != 4 || bal.AccountBalances[1].Amount != yuan("68900.00") {
			t.Errorf("master balances = %+v", bal)
		}
	})
}

func TestClientWriteErrors(t *testing.T) {
	h := newHarness(t, bsssim.Options{}, nil)
	ctx := testContext(t)
	c := h.c

	t.Run("duplicate trans_id", func(t *testing.T) {
		dup := h.transID()
		if err := c.TransferAmount(ctx, bss.AmountTransferRequest{CustomerID: teamA, Amount: yuan("10.00"), TransID: dup}); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			send func() error
		}{
			{"same transfer resent", func() error {
				return c.TransferAmount(ctx, bss.AmountTransferRequest{CustomerID: teamA, Amount: yuan("10.00"), TransID: dup})
			}},
			{"other sub-account and amount", func() error {
				return c.TransferAmount(ctx, bss.AmountTransferRequest{CustomerID: teamB, Amount: yuan("99.00"), TransID: dup})
			}},
			{"credit transfer", func() error {
				return c.TransferAmount(ctx, bss.AmountTransferRequest{CustomerID: teamB, Amount: yuan("1.00"), TransID: dup, BalanceType: bss.BalanceTypeCredit})
			}},
			{"reclaim", func() error {
				return c.ReclaimAmount(ctx, bss.AmountTransferRequest{CustomerID: teamA, Amount: yuan("1.00"), TransID: dup})
			}},
			{"coupon transfer", func() error {
				_, err := c.TransferCoupon(ctx, bss.CouponTransferRequest{CustomerID: teamA, CouponID: couponTest, Amount: yuan("1.00"), TransID: dup})
				return err
			}},
			{"coupon reclaim", func() error {
				_, err := c.ReclaimCoupon(ctx, bss.CouponReclaimRequest{CustomerID: teamA, CouponID: couponCampaign, SubCouponID: seededSubCoup, TransID: dup})
				return err
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				before := h.books()
				err := tc.send()
				if !bss.IsDuplicateTransID(err) {
					t.Fatalf("error = %v, want a duplicate trans_id", err)
				}
				if bss.IsAmbiguousWrite(err) || bss.IsThrottled(err) {
					t.Errorf("%v classified ambiguous or throttled", err)
				}
				h.assertUnchanged(t, before)
			})
		}
		if n := len(h.ledgerEntries(dup)); n != 1 {
			t.Errorf("%d ledger entries for %s", n, dup)
		}
		if got := h.subAccount(t, teamA).ReclaimableCash; got != yuan("1010.00") {
			t.Errorf("team-a reclaimable = %s, want 1010.00", got)
		}
	})

	t.Run("insufficient balance", func(t *testing.T) {
		tests := []struct {
			name string
			send func(transID string) error
		}{
			{"cash transfer above the master's cash", func(id string) error {
				return c.TransferAmount(ctx, bss.AmountTransferRequest{CustomerID: teamB, Amount: yuan("99990.01"), TransID: id})
			}},
			{"reclaim above the reclaimable cash", func(id string) error {
				// team-a holds 1010.00 reclaimable and 200.00 it paid in itself.
				return c.ReclaimAmount(ctx, bss.AmountTransferRequest{CustomerID: teamA, Amount: yuan("1010.01"), TransID: id})
			}},
			{"credit transfer above the ledger", func(id string) error {
				return c.TransferAmount(ctx, bss.AmountTransferRequest{CustomerID: teamB, Amount: yuan("20000.01"), TransID: id, BalanceType: bss.BalanceTypeCredit})
			}},
			{"credit reclaim above the sub's ledger", func(id string) error {
				return c.ReclaimAmount(ctx, bss.AmountTransferRequest{CustomerID: teamC, Amount: yuan("500.01"), TransID: id, BalanceType: bss.BalanceTypeCredit, ExpireTime: creditExpiry})
			}},
			{"coupon transfer above the coupon", func(id string) error {
				_, err := c.TransferCoupon(ctx, bss.CouponTransferRequest{CustomerID: teamB, CouponID: couponTest, Amount: yuan("500.01"), TransID: id})
				return err
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				before := h.books()
				id := h.transID()
				err := tc.send(id)
				if !bss.IsInsufficientBalance(err) {
					t.Fatalf("error = %v, want insufficient balance", err)
				}
				if !bss.IsTerminal(err) || bss.IsAmbiguousWrite(err) {
					t.Errorf("IsTerminal = %v, IsAmbiguousWrite = %v", bss.IsTerminal(err), bss.IsAmbiguousWrite(err))
				}
				h.assertUnchanged(t, before)
				if len(h.ledgerEntries(id)) != 0 {
					t.Errorf("a refused write reached the ledger")
				}
			})
		}
	})

	t.Run("unknown sub-account", func(t *testing.T) {
		tests := []struct {
			name string
			send func(transID string) error
		}{
			{"transfer", func(id string) error {
				return c.TransferAmount(ctx, bss.AmountTransferRequest{CustomerID: unknownSub, Amount: yuan("1.00"), TransID: id})
			}},
			{"reclaim", func(id string) error {
				return c.ReclaimAmount(ctx, bss.AmountTransferRequest{CustomerID: unknownSub, Amount: yuan("1.00"), TransID: id})
			}},
			{"coupon transfer", func(id string) error {
				_, err := c.TransferCoupon(ctx, bss.CouponTransferRequest{CustomerID: unknownSub, CouponID: couponTest, Amount: yuan("1.00"), TransID: id})
				return err
			}},
			{"coupon reclaim", func(id string) error {
				_, err := c.ReclaimCoupon(ctx, bss.CouponReclaimRequest{CustomerID: unknownSub, CouponID: couponCampaign, SubCouponID: seededSubCoup, TransID: id})
				return err
			}},
			{"reclaimable cash", func(string) error {
				_, err := c.ReclaimableCash(ctx, unknownSub)
				return err
			}},
			{"reclaimable credit", func(string) error {
				_, err := c.ReclaimableCredit(ctx, unknownSub)
				return err
			}},
			{"reclaimable coupons", func(string) error {
				_, err := c.ListAllReclaimableCoupons(ctx, unknownSub)
				return err
			}},
			{"monthly sum", func(string) error {
				_, err := c.GetMonthlySum(ctx, bss.MonthlySumRequest{BillCycle: curCycle, Method: bss.MethodSubCustomer, SubCustomerID: unknownSub})
				return err
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				before := h.books()
				err := tc.send(h.transID())
				if !bss.IsSubAccountNotFound(err) {
					t.Fatalf("error = %v, want sub-account not found", err)
				}
				if !bss.IsTerminal(err) || bss.IsAmbiguousWrite(err) || bss.IsRetryableRead(err) {
					t.Errorf("IsTerminal = %v, IsAmbiguousWrite = %v, IsRetryableRead = %v", bss.IsTerminal(err), bss.IsAmbiguousWrite(err), bss.IsRetryableRead(err))
				}
				h.assertUnchanged(t, before)
			})
		}
	})

	t.Run("refused before sending", func(t *testing.T) {
		var obs attempts
		vc := h.client(t, func(cfg *bss.Config) { cfg.Observer = &obs })
		tests := []struct {
			name string
			req  bss.AmountTransferRequest
		}{
			{"zero amount", bss.AmountTransferRequest{CustomerID: teamA, TransID: h.transID()}},
			{"trans_id of 33 characters", bss.AmountTransferRequest{CustomerID: teamA, Amount: yuan("1.00"), TransID: strings.Repeat("x", 33)}},
			{"expire_time with debit", bss.AmountTransferRequest{CustomerID: teamA, Amount: yuan("1.00"), TransID: h.transID(), ExpireTime: creditExpiry}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				err := vc.TransferAmount(ctx, tc.req)
				if !errors.Is(err, bss.ErrInvalidRequest) || !bss.IsTerminal(err) || bss.IsAmbiguousWrite(err) {
					t.Errorf("error = %v, want ErrInvalidRequest", err)
				}
			})
		}
		if n, _ := obs.count(t, bss.OpUpdateSubEnterpriseAmount); n != 0 {
			t.Errorf("%d requests were sent", n)
		}
	})
}

func TestClientCoupons(t *testing.T) {
	// team-b spends 10.00 per simulated hour, paid first from its coupons.
	h := newHarness(t, bsssim.Options{}, func(st *bsssim.State) {
		for i := range st.SubAccounts {
			if st.SubAccounts[i].ID == teamB {
				st.SubAccounts[i].ConsumptionRate = new(yuan("10.00"))
			}
		}
	})
	ctx := testContext(t)
	c := h.c

	transferID := h.transID()
	subCoupon, err := c.TransferCoupon(ctx, bss.CouponTransferRequest{CustomerID: teamB, CouponID: couponBusiness, Amount: yuan("250.00"), TransID: transferID})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^SCP[0-9]{13}$`).MatchString(subCoupon) {
		t.Errorf("sub_coupon_id = %q", subCoupon)
	}
	if e := h.ledgerEntries(transferID); len(e) != 1 || e[0].SubCouponID != subCoupon || e[0].Amount != yuan("250.00") || e[0].CouponID != couponBusiness {
		t.Errorf("ledger = %+v", e)
	}

	steps := []struct {
		name         string
		advance      time.Duration
		wantSub      string // team-b's sub-coupon balance; "" when gone
		wantParent   string // the master coupon's balance
		reclaim      bool
		wantReclaim  string
		wantConsumed string
	}{
		{name: "after the transfer", wantSub: "250.00", wantParent: "750.00", wantConsumed: "0.00"},
		{name: "after two hours of consumption", advance: 2 * time.Hour, wantSub: "230.00", wantParent: "750.00", wantConsumed: "20.00"},
		{name: "after reclaiming the remainder", reclaim: true, wantReclaim: "230.00", wantParent: "980.00", wantConsumed: "20.00"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			h.sim.Advance(st.advance)
			if st.reclaim {
				id := h.transID()
				got, err := c.ReclaimCoupon(ctx, bss.CouponReclaimRequest{CustomerID: teamB, CouponID: couponBusiness, SubCouponID: subCoupon, TransID: id})
				if err != nil {
					t.Fatal(err)
				}
				if got != yuan(st.wantReclaim) {
					t.Errorf("ReclaimCoupon = %s, want the full remaining %s", got, st.wantReclaim)
				}
				if e := h.ledgerEntries(id); len(e) != 1 || e[0].Amount != got || e[0].Operation != bsssim.OpRetrieveCoupon {
					t.Errorf("ledger = %+v", e)
				}
			}
			subs, err := c.ListAllReclaimableCoupons(ctx, teamB)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case st.wantSub == "" && len(subs) != 0:
				t.Errorf("sub-coupons = %+v, want none", subs)
			case st.wantSub != "" && (len(subs) != 1 || subs[0].SubCouponID != subCoupon || subs[0].CouponID != couponBusiness ||
				subs[0].Balance != yuan(st.wantSub) || subs[0].PlanName != "Business cash voucher" || subs[0].ExpireTime != creditExpiry):
				t.Errorf("sub-coupons = %+v, want %s holding %s", subs, subCoupon, st.wantSub)
			}
			coupons, err := c.ListAllTransferableCoupons(ctx)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(coupons, func(cp bss.Coupon) bool { return cp.CouponID == couponBusiness })
			if i < 0 || coupons[i].Balance != yuan(st.wantParent) {
				t.Errorf("coupons = %+v, want %s at %s", coupons, couponBusiness, st.wantParent)
			}
			m, _ := h.sim.Master("")
			if m.Totals.Consumed != yuan(st.wantConsumed) {
				t.Errorf("consumed = %s, want %s", m.Totals.Consumed, st.wantConsumed)
			}
		})
	}

	t.Run("reclaim with the wrong parent coupon", func(t *testing.T) {
		before := h.books()
		_, err := c.ReclaimCoupon(ctx, bss.CouponReclaimRequest{CustomerID: teamA, CouponID: couponBusiness, SubCouponID: seededSubCoup, TransID: h.transID()})
		e := apiError(t, err, bss.CodeCheckItemFailed)
		if !slices.Equal(e.FailCheckItems, []string{bsssim.CheckSourceCoupon}) || !bss.IsTerminal(err) {
			t.Errorf("error = %v, items %v", err, e.FailCheckItems)
		}
		h.assertUnchanged(t, before)
	})

	t.Run("reclaim the seeded sub-coupon", func(t *testing.T) {
		got, err := c.ReclaimCoupon(ctx, bss.CouponReclaimRequest{CustomerID: teamA, CouponID: couponCampaign, SubCouponID: seededSubCoup, TransID: h.transID()})
		if err != nil {
			t.Fatal(err)
		}
		if got != yuan("100.00") {
			t.Errorf("ReclaimCoupon = %s, want 100.00", got)
		}
		subs, err := c.ListAllReclaimableCoupons(ctx, teamA)
		if err != nil {
			t.Fatal(err)
		}
		if len(subs) != 0 {
			t.Errorf("team-a still holds %+v", subs)
		}
		coupons, err := c.ListAllTransferableCoupons(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(coupons) == 0 || coupons[0].CouponID != couponCampaign || coupons[0].Balance != yuan("2100.00") {
			t.Errorf("coupons = %+v", coupons)
		}
	})
}

func TestClientThrottling(t *testing.T) {
	h := newHarness(t, bsssim.Options{ThrottlePerSecond: 2}, nil)
	ctx := testContext(t)
	var obs attempts
	c := h.client(t, func(cfg *bss.Config) { cfg.Observer = &obs })

	t.Run("reads are retried until they pass", func(t *testing.T) {
		reads := []struct {
			name string
			op   string
			read func() error
		}{
			{"transferable cash", bss.OpShowMultiAccountTransferAmount, func() error {
				cash, err := c.TransferableCash(ctx)
				if err == nil && cash != yuan("100000.00") {
					err = fmt.Errorf("cash = %s", cash)
				}
				return err
			}},
			{"sub-customers", bss.OpListEnterpriseSubCustomers, func() error {
				subs, err := c.ListAllSubCustomers(ctx, bss.ListSubCustomersRequest{})
				if err == nil && len(subs) != 3 {
					err = fmt.Errorf("%d sub-customers", len(subs))
				}
				return err
			}},
		}
		const calls = 4 // twice the server's burst
		for _, r := range reads {
			t.Run(r.name, func(t *testing.T) {
				for i := range calls {
					if err := r.read(); err != nil {
						t.Fatalf("call %d: %v", i, err)
					}
				}
				total, throttled := obs.count(t, r.op)
				if throttled == 0 || total != calls+throttled {
					t.Errorf("%d attempts, %d throttled: want some throttled attempts, each retried", total, throttled)
				}
			})
		}
	})

	t.Run("a throttled money write is ambiguous and not retried", func(t *testing.T) {
		const burst = 2
		var throttledID string
		var throttledErr error
		applied := 0
		for range burst + 4 {
			id := h.transID()
			err := c.TransferAmount(ctx, bss.AmountTransferRequest{CustomerID: teamA, Amount: yuan("1.00"), TransID: id})
			if err == nil {
				applied++
				continue
			}
			if !bss.IsThrottled(err) {
				t.Fatalf("TransferAmount: %v", err)
			}
			throttledID, throttledErr = id, err
			break
		}
		if throttledErr == nil {
			t.Fatal("no money write was throttled")
		}
		e := apiError(t, throttledErr, bss.CodeThrottled)
		if e.HTTPStatus != http.StatusTooManyRequests || !bss.IsAmbiguousWrite(throttledErr) || bss.IsTerminal(throttledErr) || bss.RetryAfterHint(throttledErr) <= 0 {
			t.Errorf("throttled write: %v, IsAmbiguousWrite = %v, IsTerminal = %v", throttledErr, bss.IsAmbiguousWrite(throttledErr), bss.IsTerminal(throttledErr))
		}
		if total, throttled := obs.count(t, bss.OpUpdateSubEnterpriseAmount); total != applied+1 || throttled != 1 {
			t.Errorf("%d write attempts (%d throttled), want %d: a write is sent once", total, throttled, applied+1)
		}
		if len(h.ledgerEntries(throttledID)) != 0 {
			t.Error("the gateway applied a throttled write")
		}
		if got, want := h.masterCash(t), yuan("100000.00").Sub(money.Yuan(int64(applied))); got != want {
			t.Errorf("master cash = %s, want %s", got, want)
		}

		// The caller resends the same trans_id once the throttle lets it through.
		if err := testenv.Wait(ctx, 10*time.Second, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
			err := c.TransferAmount(ctx, bss.AmountTransferRequest{CustomerID: teamA, Amount: yuan("1.00"), TransID: throttledID})
			if err != nil && !bss.IsThrottled(err) {
				return false, testenv.Permanent(err)
			}
			return err == nil, err
		}, nil); err != nil {
			t.Fatalf("resend: %v", err)
		}
		if n := len(h.ledgerEntries(throttledID)); n != 1 {
			t.Errorf("%d ledger entries for the resent trans_id", n)
		}
		if got, want := h.subAccount(t, teamA).ReclaimableCash, yuan("1000.00").Add(money.Yuan(int64(applied+1))); got != want {
			t.Errorf("team-a reclaimable = %s, want %s", got, want)
		}
	})
}

func TestClientAuthFailure(t *testing.T) {
	const subAK, subSK = "SUBAKTEAMA0000000001", "subSecretKeyTeamA000000000000000000000000"
	h := newHarness(t, bsssim.Options{}, withSubKeys(teamA, subAK, subSK))
	ctx := testContext(t)
	tests := []struct {
		name       string
		creds      sign.Credentials
		domainID   string
		wantStatus int
		wantCode   string
	}{
		{
			name:       "wrong secret key",
			creds:      sign.Credentials{AccessKey: bsssim.DefaultAccessKey, SecretKey: "wrongSecretKey0000000000000000000000000"},
			domainID:   bsssim.DefaultDomainID,
			wantStatus: http.StatusUnauthorized, wantCode: bsssim.CodeAuthFailed,
		},
		{
			name:       "unknown access key",
			creds:      sign.Credentials{AccessKey: "UNKNOWNAK00000000001", SecretKey: bsssim.DefaultSecretKey},
			wantStatus: http.StatusUnauthorized, wantCode: bsssim.CodeAuthFailed,
		},
		{
			name:       "X-Domain-Id of another account",
			creds:      sign.Credentials{AccessKey: bsssim.DefaultAccessKey, SecretKey: bsssim.DefaultSecretKey},
			domainID:   "0c5a17e0d0d0400f8e1b5a51a0000099",
			wantStatus: http.StatusUnauthorized, wantCode: bsssim.CodeAuthFailed,
		},
		{
			name:       "sub-account keys on a master-only API",
			creds:      sign.Credentials{AccessKey: subAK, SecretKey: subSK},
			domainID:   teamA,
			wantStatus: http.StatusForbidden, wantCode: bsssim.CodeAccessDenied,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var obs attempts
			c := h.client(t, func(cfg *bss.Config) {
				cfg.Credentials, cfg.DomainID, cfg.Observer = tc.creds, tc.domainID, &obs
			})
			before := h.books()
			_, readErr := c.TransferableCash(ctx)
			writeErr := c.TransferAmount(ctx, bss.AmountTransferRequest{CustomerID: teamB, Amount: yuan("1.00"), TransID: h.transID()})
			for _, err := range []error{readErr, writeErr} {
				e := apiError(t, err, tc.wantCode)
				if e.HTTPStatus != tc.wantStatus || !bss.IsAuthFailure(err) || !bss.IsTerminal(err) ||
					bss.IsRetryableRead(err) || bss.IsAmbiguousWrite(err) || bss.IsThrottled(err) {
					t.Errorf("%v: IsAuthFailure = %v, IsTerminal = %v, IsRetryableRead = %v, IsAmbiguousWrite = %v",
						err, bss.IsAuthFailure(err), bss.IsTerminal(err), bss.IsRetryableRead(err), bss.IsAmbiguousWrite(err))
				}
				if strings.Contains(err.Error(), tc.creds.SecretKey) {
					t.Errorf("error text reveals the secret key: %v", err)
				}
			}
			if n, _ := obs.count(t, bss.OpShowMultiAccountTransferAmount); n != 1 {
				t.Errorf("the read was attempted %d times, want 1", n)
			}
			h.assertUnchanged(t, before)
		})
	}
}

func TestClientLostResponse(t *testing.T) {
	h := newHarness(t, bsssim.Options{Seed: 7}, nil)
	ctx := testContext(t)
	c := h.c
	// The simulator loses a response by closing the connection or by
	// answering 500 CBC.0999; with this seed both happen.
	modes := map[string]int{}
	tests := []struct {
		name       string
		send       func(transID string) error
		wantOp     string
		wantAmount string
	}{
		{"transfer amount", func(id string) error {
			return c.TransferAmount(ctx, bss.AmountTransferRequest{CustomerID: teamB, Amount: yuan("300.00"), TransID: id})
		}, bsssim.OpTransferAmount, "300.00"},
		{"reclaim amount", func(id string) error {
			return c.ReclaimAmount(ctx, bss.AmountTransferRequest{CustomerID: teamA, Amount: yuan("200.00"), TransID: id})
		}, bsssim.OpRetrieveAmount, "200.00"},
		{"credit transfer", func(id string) error {
			return c.TransferAmount(ctx, bss.AmountTransferRequest{CustomerID: teamB, Amount: yuan("70.00"), TransID: id, BalanceType: bss.BalanceTypeCredit, ExpireTime: creditExpiry})
		}, bsssim.OpTransferAmount, "70.00"},
		{"transfer coupon", func(id string) error {
			_, err := c.TransferCoupon(ctx, bss.CouponTransferRequest{CustomerID: teamB, CouponID: couponTest, Amount: yuan("50.00"), TransID: id})
			return err
		}, bsssim.OpTransferCoupon, "50.00"},
		{"reclaim coupon", func(id string) error {
			_, err := c.ReclaimCoupon(ctx, bss.CouponReclaimRequest{CustomerID: teamA, CouponID: couponCampaign, SubCouponID: seededSubCoup, TransID: id})
			return err
		}, bsssim.OpRetrieveCoupon, "100.00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := h.transID()
			before := h.books()
			if err := h.sim.SetFaults(bsssim.Faults{LostResponseRate: 1}); err != nil {
				t.Fatal(err)
			}
			err := tc.send(id)
			if clearErr := h.sim.SetFaults(bsssim.Faults{}); clearErr != nil {
				t.Fatal(clearErr)
			}
			if err == nil || !bss.IsAmbiguousWrite(err) || bss.IsTerminal(err) || bss.IsDuplicateTransID(err) {
				t.Fatalf("lost response: error = %v, want an ambiguous write", err)
			}
			var te *bss.TransportError
			if errors.As(err, &te) {
				modes["connection closed"]++
			} else if e := apiError(t, err, bss.CodeInternal); e.HTTPStatus == http.StatusInternalServerError {
				modes["500 CBC.0999"]++
			}

			// The write was committed although the client never heard so.
			entries := h.ledgerEntries(id)
			if len(entries) != 1 || entries[0].Operation != tc.wantOp || entries[0].Amount != yuan(tc.wantAmount) {
				t.Fatalf("ledger = %+v", entries)
			}
			committed := h.books()
			if maps.Equal(committed.balances, before.balances) {
				t.Error("no balance moved")
			}

			// Resending the same trans_id is answered as a duplicate and moves nothing.
			err = tc.send(id)
			if !bss.IsDuplicateTransID(err) || bss.IsAmbiguousWrite(err) {
				t.Fatalf("resend: error = %v, want a duplicate trans_id", err)
			}
			h.assertUnchanged(t, committed)
		})
	}
	t.Run("recovering the lost sub_coupon_id", func(t *testing.T) {
		subs, err := c.ListAllReclaimableCoupons(ctx, teamB)
		if err != nil {
			t.Fatal(err)
		}
		if len(subs) != 1 || subs[0].CouponID != couponTest || subs[0].Balance != yuan("50.00") {
			t.Errorf("team-b sub-coupons = %+v", subs)
		}
	})
	if got := h.masterCash(t); got != yuan("99900.00") {
		t.Errorf("master cash = %s, want 99900.00", got)
	}
	if modes["connection closed"] == 0 || modes["500 CBC.0999"] == 0 {
		t.Errorf("lost responses by mode = %v, want both modes", modes)
	}
}

// creditRow is a credit ledger row as the amount queries return it; in
// these tests the credit line always equals the balance.
func creditRow(avail, balance, expire string) bss.AmountInfo {
	return bss.AmountInfo{Available: yuan(avail), Amount: yuan(balance), CreditAmount: yuan(balance), ExpireTime: expire, MeasureID: 1, Currency: "CNY"}
}

func equalOrgNodes(a, b []bss.OrgNode) bool {
	return slices.EqualFunc(a, b, func(x, y bss.OrgNode) bool {
		return x.RelationID == y.RelationID && x.ID == y.ID && x.Name == y.Name && equalOrgNodes(x.ChildNodes, y.ChildNodes)
	})
}

func equalSubCoupon(a, b bss.SubCoupon) bool {
	return a.CouponID == b.CouponID && a.SubCouponID == b.SubCouponID && a.PlanName == b.PlanName &&
		a.Balance == b.Balance && a.EffectiveTime == b.EffectiveTime && a.ExpireTime == b.ExpireTime
}

package subaccount

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

func TestAccountState(t *testing.T) {
	tests := []struct {
		code  int
		state string
		kind  stateKind
	}{
		{1, "Normal", kindUsable},
		{2, "Creating", kindPending},
		{3, "Closing", kindClosed},
		{4, "Closed", kindClosed},
		{101, "Registering", kindPending},
		{102, "AwaitingActivation", kindPending},
		{7, "7", kindPending},
	}
	for _, tc := range tests {
		if got := accountState(tc.code); got != tc.state {
			t.Errorf("accountState(%d) = %q, want %q", tc.code, got, tc.state)
		}
		if got := accountStateKind(tc.code); got != tc.kind {
			t.Errorf("accountStateKind(%d) = %d, want %d", tc.code, got, tc.kind)
		}
	}
}

func TestOrderLabels(t *testing.T) {
	types := map[string]string{
		"1": "New", "2": "Renewal", "3": "Change", "4": "Unsubscribe", "10": "ToPayPerUse", "11": "ToYearlyMonthly",
		"13": "Trial", "14": "TrialToCommercial", "15": "FeeAdjustment", "99": "99", "": "",
		strings.Repeat("7", 40): strings.Repeat("7", 32),
	}
	for code, want := range types {
		if got := orderType(code); got != want {
			t.Errorf("orderType(%q) = %q, want %q", code, got, want)
		}
	}
	statuses := map[int]string{6: "PendingPayment", 3: "Processing", 5: "Completed", 4: "Cancelled", 1: "1", 2: "2", 9: "9", 12: "12"}
	for code, want := range statuses {
		if got := orderStatus(code); got != want {
			t.Errorf("orderStatus(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestSummarizeOrders(t *testing.T) {
	order := func(id string, status int, typ, amount, created string) bss.Order {
		return bss.Order{OrderID: id, Status: status, OrderType: typ, AmountAfterDiscount: money.MustParse(amount), CreateTime: created}
	}
	tests := map[string]struct {
		in   []bss.Order
		want *budgetv1alpha1.OrdersSummary
	}{
		"none": {in: nil, want: &budgetv1alpha1.OrdersSummary{}},
		"counts and newest first": {
			in: []bss.Order{
				order("A", 5, "1", "1200", "2026-01-01T00:00:00Z"),
				order("B", 6, "2", "360", "2026-03-01T00:00:00Z"),
				order("C", 3, "3", "99.5", "2026-02-01T00:00:00Z"),
				order("D", 4, "4", "45", "2025-12-01T00:00:00Z"),
				order("E", 1, "15", "1", "2025-11-01T00:00:00Z"),
				order("F", 12, "1", "2", "2025-10-01T00:00:00Z"),
				order("G", 6, "1", "3", "2026-03-01T00:00:00Z"), // same time as B: id decides
			},
			want: &budgetv1alpha1.OrdersSummary{
				PendingPayment: 2, Processing: 1, Completed: 1, Cancelled: 1, Other: 2,
				Latest: []budgetv1alpha1.OrderSummary{
					{ID: "G", Type: "New", Status: "PendingPayment", Amount: "3.00", CreateTime: "2026-03-01T00:00:00Z"},
					{ID: "B", Type: "Renewal", Status: "PendingPayment", Amount: "360.00", CreateTime: "2026-03-01T00:00:00Z"},
					{ID: "C", Type: "Change", Status: "Processing", Amount: "99.50", CreateTime: "2026-02-01T00:00:00Z"},
					{ID: "A", Type: "New", Status: "Completed", Amount: "1200.00", CreateTime: "2026-01-01T00:00:00Z"},
					{ID: "D", Type: "Unsubscribe", Status: "Cancelled", Amount: "45.00", CreateTime: "2025-12-01T00:00:00Z"},
				},
			},
		},
		"unparsable times sort last": {
			in: []bss.Order{order("X", 5, "1", "1", "yesterday"), order("Y", 5, "1", "1", "2020-01-01T00:00:00Z")},
			want: &budgetv1alpha1.OrdersSummary{Completed: 2, Latest: []budgetv1alpha1.OrderSummary{
				{ID: "Y", Type: "New", Status: "Completed", Amount: "1.00", CreateTime: "2020-01-01T00:00:00Z"},
				{ID: "X", Type: "New", Status: "Completed", Amount: "1.00", CreateTime: "yesterday"},
			}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, summarizeOrders(tc.in)); diff != "" {
				t.Errorf("summarizeOrders (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGroupOrders(t *testing.T) {
	got := groupOrders([]bss.Order{{OrderID: "1", CustomerID: "a"}, {OrderID: "2", CustomerID: "b"}, {OrderID: "3", CustomerID: "a"}})
	want := map[string][]bss.Order{
		"a": {{OrderID: "1", CustomerID: "a"}, {OrderID: "3", CustomerID: "a"}},
		"b": {{OrderID: "2", CustomerID: "b"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("groupOrders (-want +got):\n%s", diff)
	}
}

func TestGroupBillsAndCycleSummary(t *testing.T) {
	y := money.MustParse
	sums := []bss.BillSum{
		{CustomerID: "a", ConsumeAmount: y("700"), CashAmount: y("587.66"), CouponAmount: y("112.34")},
		{CustomerID: "a", ConsumeAmount: y("1200"), CashAmount: y("1000"), CreditAmount: y("100"), FlexipurchaseCouponAmount: y("50"), StoredValueCardAmount: y("20"), DebtAmount: y("30")},
		{CustomerID: "b", ConsumeAmount: y("150"), CashAmount: y("150")},
		// A refund larger than the consumption of c.
		{CustomerID: "c", ConsumeAmount: y("10"), CashAmount: y("10")},
		{CustomerID: "c", ConsumeAmount: y("10").Sub(y("25")), CashAmount: y("10").Sub(y("25")), BillType: 2},
	}
	got := groupBills(sums)
	want := map[string]billTotals{
		"a": {Consumption: y("1900"), Cash: y("1587.66"), Credit: y("100"), Coupon: y("182.34"), Debt: y("30")},
		"b": {Consumption: y("150"), Cash: y("150")},
		"c": {Consumption: y("10").Sub(y("15")), Cash: y("10").Sub(y("15"))},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("groupBills (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&budgetv1alpha1.BillCycleSummary{
		Cycle: "2026-07", Consumption: "1900.00", Cash: "1587.66", Credit: "100.00", Coupon: "182.34", Debt: "30.00",
	}, cycleSummary("2026-07", got["a"])); diff != "" {
		t.Errorf("cycleSummary (-want +got):\n%s", diff)
	}
	if got := cycleSummary("2026-07", got["c"]).Consumption; got != "0.00" {
		t.Errorf("a net refund shows as %q, want 0.00", got)
	}
	if got := cycleSummary("2026-07", got["nobody"]); got.Consumption != "0.00" || got.Cash != "0.00" {
		t.Errorf("an account without bills shows %+v, want zeros", got)
	}
}

func TestBudgetPercent(t *testing.T) {
	y := money.MustParse
	tests := []struct {
		consumption, budget money.Amount
		want                int32
	}{
		{y("0"), y("100"), 0},
		{y("49.99"), y("100"), 49},
		{y("50"), y("100"), 50},
		{y("0.01"), y("0.03"), 33},
		{y("100.01"), y("100"), 100},
		{y("250"), y("100"), 250},
		{y("1").Sub(y("2")), y("100"), 0},
		{y("999999999999.99"), y("0.01"), math.MaxInt32},
		{money.FromFen(math.MaxInt64 / 2), y("1"), math.MaxInt32},
	}
	for _, tc := range tests {
		if got := budgetPercent(tc.consumption, tc.budget); got != tc.want {
			t.Errorf("budgetPercent(%s, %s) = %d, want %d", tc.consumption, tc.budget, got, tc.want)
		}
	}
}

func TestPlanAlerts(t *testing.T) {
	y := money.MustParse
	tests := map[string]struct {
		thresholds, alerted []int32
		consumption, budget money.Amount
		announce, next      []int32
	}{
		"below every threshold":                {[]int32{50, 80, 100}, nil, y("49.99"), y("100"), nil, nil},
		"exactly at a threshold":               {[]int32{50, 80, 100}, nil, y("50"), y("100"), []int32{50}, []int32{50}},
		"jump over several":                    {[]int32{100, 50, 80}, nil, y("120"), y("100"), []int32{50, 80, 100}, []int32{50, 80, 100}},
		"already announced":                    {[]int32{50, 80, 100}, []int32{50}, y("60"), y("100"), nil, []int32{50}},
		"next one crossed":                     {[]int32{50, 80, 100}, []int32{50}, y("85"), y("100"), []int32{80}, []int32{50, 80}},
		"announced stays after a budget raise": {[]int32{50, 80}, []int32{50, 80}, y("60"), y("1000"), nil, []int32{50, 80}},
		"removed threshold dropped":            {[]int32{80}, []int32{50, 80}, y("90"), y("100"), nil, []int32{80}},
		"duplicates announced once":            {[]int32{50, 50}, nil, y("50"), y("100"), []int32{50}, []int32{50}},
		"fen precision":                        {[]int32{50}, nil, y("0.01"), y("0.03"), nil, nil},
		"above 1000 percent":                   {[]int32{1000}, nil, y("1000.00"), y("100"), []int32{1000}, []int32{1000}},
		"no thresholds":                        {nil, []int32{50}, y("90"), y("100"), nil, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			announce, next := planAlerts(tc.thresholds, tc.alerted, tc.consumption, tc.budget)
			if diff := cmp.Diff(tc.announce, announce); diff != "" {
				t.Errorf("announce (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.next, next); diff != "" {
				t.Errorf("next (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBalancesConversion(t *testing.T) {
	y := money.MustParse
	rows := []bss.AmountInfo{
		{Available: y("500"), CreditAmount: y("500"), ExpireTime: "2027-12-31T15:59:59Z"},
		{Available: y("20")},
	}
	if diff := cmp.Diff([]budgetv1alpha1.CreditLedger{
		{Available: "500.00", CreditLine: "500.00", ExpireTime: "2027-12-31T15:59:59Z"},
		{Available: "20.00"},
	}, common.CreditLedgers(rows)); diff != "" {
		t.Errorf("CreditLedgers (-want +got):\n%s", diff)
	}
	if got := sumLedgers(rows); got != y("520") {
		t.Errorf("sumLedgers = %s, want 520.00", got)
	}
	many := make([]bss.AmountInfo, 150)
	if got := len(common.CreditLedgers(many)); got != 100 {
		t.Errorf("CreditLedgers kept %d rows, want the 100 the status holds", got)
	}
	coupons := []bss.SubCoupon{{CouponID: "CP1", SubCouponID: "SCP1", PlanName: "plan", Balance: y("100"), ExpireTime: "2027-12-31T15:59:59Z"}}
	if diff := cmp.Diff([]budgetv1alpha1.CouponBalance{
		{CouponID: "CP1", SubCouponID: "SCP1", PlanName: "plan", Balance: "100.00", ExpireTime: "2027-12-31T15:59:59Z"},
	}, common.SubCoupons(coupons)); diff != "" {
		t.Errorf("SubCoupons (-want +got):\n%s", diff)
	}
	if got := sumCoupons(append(coupons, bss.SubCoupon{Balance: y("0.5")})); got != y("100.50") {
		t.Errorf("sumCoupons = %s, want 100.50", got)
	}
}

func TestRecordSubCustomerClipsLongValues(t *testing.T) {
	var st budgetv1alpha1.SubAccountStatus
	long := "长abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
	recordSubCustomer(&st, bss.SubCustomer{ID: "id-1", Name: long, DisplayName: "Team", Status: 102, OrgID: "123456789012345678901234", OrgName: "R&D"})
	if len(st.AccountName) > maxNameLen || len(st.OrgID) > maxOrgIDLen {
		t.Errorf("values not clipped: %q (%d bytes), %q", st.AccountName, len(st.AccountName), st.OrgID)
	}
	if st.AccountState != "AwaitingActivation" || st.CustomerID != "id-1" || st.DisplayName != "Team" || st.OrgName != "R&D" {
		t.Errorf("unexpected status %+v", st)
	}
	if got := bss.Clip("长长", 4); got != "长" {
		t.Errorf("clip cut inside a rune: %q", got)
	}
}

func TestDue(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(-ago)); return &t }
	tests := []struct {
		last     *metav1.Time
		interval time.Duration
		due      bool
		until    time.Duration
	}{
		{nil, time.Hour, true, time.Second},
		{at(0), time.Hour, false, time.Hour},
		{at(53 * time.Minute), time.Hour, false, 7 * time.Minute},
		{at(54 * time.Minute), time.Hour, true, 6 * time.Minute},
		{at(2 * time.Hour), time.Hour, true, time.Second},
	}
	for _, tc := range tests {
		if got := due(tc.last, tc.interval, now); got != tc.due {
			t.Errorf("due(%v, %s) = %t, want %t", tc.last, tc.interval, got, tc.due)
		}
		if got := untilDue(tc.last, tc.interval, now); got != tc.until {
			t.Errorf("untilDue(%v, %s) = %s, want %s", tc.last, tc.interval, got, tc.until)
		}
	}
}

func TestCreationPoll(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(-ago)); return &t }
	for _, tc := range []struct {
		requested *metav1.Time
		want      time.Duration
	}{
		{at(time.Second), 2 * time.Second},
		{at(5 * time.Minute), 10 * time.Second},
		{at(time.Hour), time.Minute},
		{nil, 10 * time.Second},
	} {
		if got := creationPoll(tc.requested, now); got != tc.want {
			t.Errorf("creationPoll(%v) = %s, want %s", tc.requested, got, tc.want)
		}
	}
}

func TestTransitionEvents(t *testing.T) {
	cond := func(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: reason + " message"}
	}
	ready := cond(budgetv1alpha1.ConditionReady, metav1.ConditionTrue, budgetv1alpha1.ReasonReady)
	creating := cond(budgetv1alpha1.ConditionReady, metav1.ConditionFalse, budgetv1alpha1.ReasonCreating)
	failed := cond(budgetv1alpha1.ConditionReady, metav1.ConditionFalse, budgetv1alpha1.ReasonCreateFailed)
	over := cond(budgetv1alpha1.ConditionBudgetExceeded, metav1.ConditionTrue, budgetv1alpha1.ReasonBudgetExceeded)
	within := cond(budgetv1alpha1.ConditionBudgetExceeded, metav1.ConditionFalse, budgetv1alpha1.ReasonWithinBudget)
	requested := metav1.NewTime(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC))
	tests := map[string]struct {
		before, after budgetv1alpha1.SubAccountStatus
		want          []pendingEvent
	}{
		"nothing changed": {
			before: budgetv1alpha1.SubAccountStatus{CustomerID: "c", Conditions: []metav1.Condition{ready}},
			after:  budgetv1alpha1.SubAccountStatus{CustomerID: "c", Conditions: []metav1.Condition{ready}},
		},
		"created and ready": {
			before: budgetv1alpha1.SubAccountStatus{Conditions: []metav1.Condition{creating}},
			after:  budgetv1alpha1.SubAccountStatus{CustomerID: "c", AccountName: "n", CreateRequestedTime: &requested, Conditions: []metav1.Condition{ready}},
			want: []pendingEvent{
				{eventType: "Normal", reason: "Created", action: actionSync, note: "created sub-account n with customer id c"},
				{eventType: "Normal", reason: "Ready", action: actionSync, note: "Ready message"},
			},
		},
		"adopted while creating": {
			after: budgetv1alpha1.SubAccountStatus{CustomerID: "c", AccountName: "n", Conditions: []metav1.Condition{creating}},
			want: []pendingEvent{
				{eventType: "Normal", reason: "Adopted", action: actionSync, note: "adopted sub-account n with customer id c"},
				{eventType: "Normal", reason: "Creating", action: actionSync, note: "Creating message"},
			},
		},
		"failure is a warning": {
			before: budgetv1alpha1.SubAccountStatus{Conditions: []metav1.Condition{creating}},
			after:  budgetv1alpha1.SubAccountStatus{Conditions: []metav1.Condition{failed}},
			want:   []pendingEvent{{eventType: "Warning", reason: "CreateFailed", action: actionSync, note: "CreateFailed message"}},
		},
		"budget exceeded once": {
			before: budgetv1alpha1.SubAccountStatus{CustomerID: "c", Conditions: []metav1.Condition{ready, within}},
			after:  budgetv1alpha1.SubAccountStatus{CustomerID: "c", Conditions: []metav1.Condition{ready, over}},
			want:   []pendingEvent{{eventType: "Warning", reason: "BudgetExceeded", action: actionAlert, note: "BudgetExceeded message"}},
		},
		"still exceeded": {
			before: budgetv1alpha1.SubAccountStatus{CustomerID: "c", Conditions: []metav1.Condition{ready, over}},
			after:  budgetv1alpha1.SubAccountStatus{CustomerID: "c", Conditions: []metav1.Condition{ready, over}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := transitionEvents(&tc.before, &tc.after)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(pendingEvent{})); diff != "" {
				t.Errorf("transitionEvents (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReferencesSecret(t *testing.T) {
	sa := &budgetv1alpha1.SubAccount{Spec: budgetv1alpha1.SubAccountSpec{Create: &budgetv1alpha1.SubAccountCreate{
		PasswordSecretRef: budgetv1alpha1.SecretKeyReference{Name: "pw"},
		Phone:             budgetv1alpha1.SubAccountPhone{Number: "13900000000", VerificationCodeSecretRef: &budgetv1alpha1.SecretKeyReference{Name: "code"}},
	}}}
	for name, want := range map[string]bool{"pw": true, "code": true, "other": false} {
		if got := referencesSecret(sa, name); got != want {
			t.Errorf("referencesSecret(%q) = %t, want %t", name, got, want)
		}
	}
	if referencesSecret(&budgetv1alpha1.SubAccount{Spec: budgetv1alpha1.SubAccountSpec{CustomerID: "x"}}, "pw") {
		t.Error("an adopted SubAccount references no Secret")
	}
}

func TestSumGranted(t *testing.T) {
	items := []budgetv1alpha1.BudgetAllocation{
		{Status: budgetv1alpha1.BudgetAllocationStatus{Granted: "100.50"}},
		{Status: budgetv1alpha1.BudgetAllocationStatus{Granted: "200.25"}},
		{}, // nothing granted yet
	}
	total, count := sumGranted(items)
	if total != money.MustParse("300.75") || count != 3 {
		t.Errorf("sumGranted = %s, %d; want 300.75, 3", total, count)
	}
}

func TestKeeperOf(t *testing.T) {
	at := func(sec int) metav1.Time { return metav1.NewTime(time.Unix(int64(1_800_000_000+sec), 0)) }
	sa := func(name string, created int, specID, createName, statusID string) budgetv1alpha1.SubAccount {
		s := budgetv1alpha1.SubAccount{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: at(created)}}
		s.Spec.CustomerID = specID
		if createName != "" {
			s.Spec.Create = &budgetv1alpha1.SubAccountCreate{AccountName: createName}
		}
		s.Status.CustomerID = statusID
		return s
	}
	deleting := func(s budgetv1alpha1.SubAccount) budgetv1alpha1.SubAccount {
		s.DeletionTimestamp = ptr.To(at(100))
		return s
	}
	const id, login = "cust-x", "team-x"
	tests := map[string]struct {
		self   budgetv1alpha1.SubAccount
		others []budgetv1alpha1.SubAccount
		keeper string
		holds  bool
	}{
		"alone":             {self: sa("c", 5, id, "", ""), keeper: "c"},
		"alone, listed too": {self: sa("c", 5, id, "", ""), others: []budgetv1alpha1.SubAccount{sa("c", 5, id, "", id)}, keeper: "c"},
		"a younger holder keeps it from an older claimant": {
			self: sa("a", 1, id, "", ""), others: []budgetv1alpha1.SubAccount{sa("b", 5, id, "", id)}, keeper: "b", holds: true,
		},
		"re-created with another's customer": {
			self: sa("team-c", 9, id, "", ""), others: []budgetv1alpha1.SubAccount{sa("team-b", 5, id, "", id)}, keeper: "team-b", holds: true,
		},
		"two holders: the oldest keeps it": {
			self: sa("b", 5, id, "", id), others: []budgetv1alpha1.SubAccount{sa("a", 3, id, "", id)}, keeper: "a", holds: true,
		},
		"two holders created in one second: by name": {
			self: sa("a", 5, id, "", id), others: []budgetv1alpha1.SubAccount{sa("b", 5, id, "", id)}, keeper: "a", holds: true,
		},
		"a holder being deleted lets go": {
			self: sa("c", 9, id, "", ""), others: []budgetv1alpha1.SubAccount{deleting(sa("b", 5, id, "", id))}, keeper: "c",
		},
		"no holder: the oldest claimant by spec": {
			self: sa("c", 9, "", login, ""), others: []budgetv1alpha1.SubAccount{sa("d", 10, id, "", ""), sa("b", 7, id, "", "")}, keeper: "b",
		},
		"no holder: a create-mode claimant by login name": {
			self: sa("c", 9, id, "", ""), others: []budgetv1alpha1.SubAccount{sa("b", 7, "", login, "")}, keeper: "b",
		},
		"a create-mode SubAccount with another login name does not claim it": {
			self: sa("c", 9, id, "", ""), others: []budgetv1alpha1.SubAccount{sa("b", 7, "", "team-y", "")}, keeper: "c",
		},
		"a SubAccount holding another customer does not count": {
			self: sa("c", 9, id, "", ""), others: []budgetv1alpha1.SubAccount{sa("b", 7, "cust-y", "", "cust-y")}, keeper: "c",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			keeper, holds := keeperOf(&tc.self, tc.others, id, login)
			if keeper == nil {
				t.Fatalf("no keeper, want %s", tc.keeper)
			}
			if keeper.Name != tc.keeper || holds != tc.holds {
				t.Errorf("keeper %s (holds %v), want %s (holds %v)", keeper.Name, holds, tc.keeper, tc.holds)
			}
		})
	}
}

func TestAlertNote(t *testing.T) {
	c, b := money.MustParse("120"), money.MustParse("100")
	tests := []struct {
		top    int32
		passed []int32
		want   string
	}{
		{50, nil, "consumption 120.00 in bill cycle 2026-11 reached 50% of the monthly budget 100.00"},
		{100, []int32{80}, "consumption 120.00 in bill cycle 2026-11 reached 100% of the monthly budget 100.00 (passing 80% since the last sync)"},
		{100, []int32{50, 80}, "consumption 120.00 in bill cycle 2026-11 reached 100% of the monthly budget 100.00 (passing 50%, 80% since the last sync)"},
	}
	for _, tc := range tests {
		if got := alertNote(c, b, "2026-11", tc.top, tc.passed); got != tc.want {
			t.Errorf("alertNote(%d, %v) = %q, want %q", tc.top, tc.passed, got, tc.want)
		}
	}
	if got := thresholdReason(80); got != "BudgetThreshold80Reached" {
		t.Errorf("thresholdReason(80) = %q", got)
	}
}

func TestOlderThanStatus(t *testing.T) {
	creating := bss.SubCustomer{ID: "c1", Status: bss.SubCustomerStatusCreating}
	normal := bss.SubCustomer{ID: "c1", Status: bss.SubCustomerStatusNormal}
	tests := map[string]struct {
		recorded budgetv1alpha1.SubAccountStatus
		entry    bss.SubCustomer
		want     bool
	}{
		"recorded Normal, listed Creating": {budgetv1alpha1.SubAccountStatus{CustomerID: "c1", AccountState: "Normal"}, creating, true},
		"recorded Creating, listed Normal": {budgetv1alpha1.SubAccountStatus{CustomerID: "c1", AccountState: "Creating"}, normal, true},
		"the same state":                   {budgetv1alpha1.SubAccountStatus{CustomerID: "c1", AccountState: "Normal"}, normal, false},
		"nothing recorded yet":             {budgetv1alpha1.SubAccountStatus{}, creating, false},
		"another account recorded":         {budgetv1alpha1.SubAccountStatus{CustomerID: "c2", AccountState: "Normal"}, creating, false},
	}
	for name, tc := range tests {
		if got := olderThanStatus(&tc.recorded, tc.entry); got != tc.want {
			t.Errorf("%s: olderThanStatus = %v, want %v", name, got, tc.want)
		}
	}
}

func TestAssessPending(t *testing.T) {
	order := func(id string, status int, typ, amount, created string) bss.Order {
		return bss.Order{OrderID: id, Status: status, OrderType: typ, ServiceTypeCode: "hws.service.type.ec2",
			AmountAfterDiscount: money.MustParse(amount), CreateTime: created}
	}
	at := func(d int) metav1.Time { return metav1.NewTime(time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC)) }
	op := func(ns, name, orderID string, phase budgetv1alpha1.PaymentPhase, created metav1.Time) budgetv1alpha1.OrderPayment {
		return budgetv1alpha1.OrderPayment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: created},
			Spec: budgetv1alpha1.OrderPaymentSpec{OrderID: orderID}, Status: budgetv1alpha1.OrderPaymentStatus{Phase: phase}}
	}
	orders := []bss.Order{
		order("NEW", 6, "1", "10", "2026-03-01T00:00:00Z"),
		order("PAID", 5, "1", "10", "2026-01-01T00:00:00Z"),
		order("BIG", 6, "2", "600", "2026-02-01T00:00:00Z"),
		order("OLD", 6, "1", "20", "2026-01-15T00:00:00Z"),
		order("ODD", 6, "1", "30", "someday"),
	}
	payments := []budgetv1alpha1.OrderPayment{
		op("b", "failed", "NEW", budgetv1alpha1.PaymentFailed, at(1)),
		op("b", "cancelled", "NEW", budgetv1alpha1.PaymentCancelled, at(1)),
		op("a", "newer", "old", budgetv1alpha1.PaymentPending, at(3)), // order ids compare without case
		op("a", "older", "OLD", budgetv1alpha1.PaymentPaying, at(2)),
		op("a", "paid", "PAID", budgetv1alpha1.PaymentPaid, at(1)),
	}
	policy := &budgetv1alpha1.OrderPaymentPolicy{Mode: budgetv1alpha1.OrderPaymentAuto, MaxAmountPerOrder: ptr.To(budgetv1alpha1.Money("500")), Namespace: "pay"}
	got := assessPending(orders, payments, policy)
	var ids []string
	for _, p := range got {
		ids = append(ids, p.order.OrderID)
	}
	// Unreadable times first (compareTimes), then oldest first.
	if want := []string{"ODD", "OLD", "BIG", "NEW"}; !slices.Equal(ids, want) {
		t.Fatalf("pending orders %v, want %v", ids, want)
	}
	report := orderReport(got)
	want := &budgetv1alpha1.OrderPaymentReport{
		Pending: 4, Covered: 1, Unfit: 1, OldestCreateTime: "someday",
		Orders: []budgetv1alpha1.PendingOrder{
			{ID: "ODD", Amount: "30.00", Type: "New", Service: "hws.service.type.ec2", CreateTime: "someday", Fits: true},
			{ID: "OLD", Amount: "20.00", Type: "New", Service: "hws.service.type.ec2", CreateTime: "2026-01-15T00:00:00Z", Payment: "a/older", Fits: true},
			{ID: "BIG", Amount: "600.00", Type: "Renewal", Service: "hws.service.type.ec2", CreateTime: "2026-02-01T00:00:00Z",
				Reason: "the order costs 600.00, above maxAmountPerOrder 500.00"},
			{ID: "NEW", Amount: "10.00", Type: "New", Service: "hws.service.type.ec2", CreateTime: "2026-03-01T00:00:00Z", Fits: true},
		},
	}
	if diff := cmp.Diff(want, report); diff != "" {
		t.Errorf("orderReport (-want +got):\n%s", diff)
	}
	now := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	if age := oldestPendingAge(got, now); age != now.Sub(time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("oldest pending age %v", age)
	}
	if age := oldestPendingAge(nil, now); age != 0 {
		t.Errorf("oldest pending age of none %v", age)
	}

	// The Manual mode pays none of them.
	for _, p := range assessPending(orders, nil, nil) {
		if p.fits || p.reason != "the SubAccount's orderPayment mode is Manual" {
			t.Errorf("without a policy order %s: fits %v (%s)", p.order.OrderID, p.fits, p.reason)
		}
	}
}

func TestOrderReportLimits(t *testing.T) {
	var pending []pendingOrder
	for i := range maxPendingOrders + 10 {
		pending = append(pending, pendingOrder{order: bss.Order{OrderID: fmt.Sprintf("O%03d", i), CreateTime: "2026-01-01T00:00:00Z"},
			reason: strings.Repeat("r", 300)})
	}
	r := orderReport(pending)
	if r.Pending != int32(maxPendingOrders+10) || r.Unfit != r.Pending || len(r.Orders) != maxPendingOrders {
		t.Errorf("pending %d unfit %d listed %d", r.Pending, r.Unfit, len(r.Orders))
	}
	if n := len(r.Orders[0].Reason); n != maxReasonLen {
		t.Errorf("reason of %d characters", n)
	}
}

func TestAnnouncedUnfit(t *testing.T) {
	before := &budgetv1alpha1.OrderPaymentReport{Orders: []budgetv1alpha1.PendingOrder{
		{ID: "A", Reason: "too big"},
		{ID: "B", Fits: true},
		{ID: "C", Reason: "the SubAccount's orderPayment mode is Manual"},
	}}
	tests := []struct {
		id, reason string
		want       bool
	}{
		{"A", "too big", true},        // announced before
		{"A", "wrong service", false}, // for another reason
		{"B", "too big", false},       // it fitted before
		{"C", "too big", false},       // Manual before: Auto announces it
		{"D", "too big", false},       // new
	}
	for _, tc := range tests {
		if got := announcedUnfit(before, tc.id, tc.reason); got != tc.want {
			t.Errorf("announcedUnfit(%s, %q) = %v, want %v", tc.id, tc.reason, got, tc.want)
		}
	}
	if announcedUnfit(nil, "A", "too big") {
		t.Error("announced without a previous report")
	}
}

func TestPruneSettledDropsPaidOrders(t *testing.T) {
	r := &budgetv1alpha1.OrderPaymentReport{Pending: 4, Covered: 2, Unfit: 1, OldestCreateTime: "t1", Orders: []budgetv1alpha1.PendingOrder{
		{ID: "A", CreateTime: "t1", Payment: "ns/paid", Fits: true},
		{ID: "B", CreateTime: "t2", Payment: "ns/paying", Fits: true},
		{ID: "C", CreateTime: "t3"},
		{ID: "D", CreateTime: "t4", Fits: true},
	}}
	payments := []budgetv1alpha1.OrderPayment{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "paid"}, Status: budgetv1alpha1.OrderPaymentStatus{Phase: budgetv1alpha1.PaymentPaid}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "paying"}, Status: budgetv1alpha1.OrderPaymentStatus{Phase: budgetv1alpha1.PaymentPaying}},
	}
	if !pruneSettled(r, payments) {
		t.Fatal("nothing dropped")
	}
	if r.Pending != 3 || r.Covered != 1 || r.Unfit != 1 || len(r.Orders) != 3 || r.Orders[0].ID != "B" || r.OldestCreateTime != "t2" {
		t.Errorf("report %+v", r)
	}
	if pruneSettled(r, payments) {
		t.Error("dropped twice")
	}
}

package subaccount

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/metrics"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

func TestAdoptExistingSubAccount(t *testing.T) {
	const name = "adopt-team-a"
	createSubAccount(t, name, budgetv1alpha1.SubAccountSpec{CustomerID: "cust-team-a-0001"})
	sa := waitForReason(t, name, budgetv1alpha1.ReasonReady)
	st := sa.Status

	want := budgetv1alpha1.SubAccountStatus{
		CustomerID: "cust-team-a-0001", AccountName: "team-a", DisplayName: "Team A",
		OrgID: "1234567890", OrgName: "R&D", AccountState: "Normal",
		// The 200.00 team-a topped up itself is not reclaimable.
		ReclaimableCash:    "1000.00",
		ReclaimableCoupons: []budgetv1alpha1.CouponBalance{{CouponID: "CP2026110100001", SubCouponID: "SCP2026110100009", PlanName: "Campaign cash voucher", Balance: "100.00"}},
		Granted:            "0.00",
		CurrentCycle:       &budgetv1alpha1.BillCycleSummary{Cycle: billcycle.Of(clock.Now()), Consumption: "133.45", Cash: "123.45", Credit: "0.00", Coupon: "10.00", Debt: "0.00"},
		PreviousCycle:      &budgetv1alpha1.BillCycleSummary{Cycle: billcycle.Previous(clock.Now()), Consumption: "2012.34", Cash: "1900.00", Credit: "0.00", Coupon: "112.34", Debt: "0.00"},
		Orders: &budgetv1alpha1.OrdersSummary{PendingPayment: 1, Completed: 1, Latest: []budgetv1alpha1.OrderSummary{
			{ID: "CS2026000000002", Type: "Renewal", Status: "PendingPayment", Amount: "360.00"},
			{ID: "CS2026000000001", Type: "New", Status: "Completed", Amount: "1200.00"},
		}},
		PaidOrders: "0.00", PaidOrdersThisCycle: "0.00",
		// Without an orderPayment policy (Manual) nothing pays the pending
		// order automatically.
		OrderPayments: &budgetv1alpha1.OrderPaymentReport{Pending: 1, Unfit: 1, Orders: []budgetv1alpha1.PendingOrder{
			{ID: "CS2026000000002", Amount: "360.00", Type: "Renewal", Service: "hws.service.type.ec2", Reason: "the SubAccount's orderPayment mode is Manual"},
		}},
	}
	got := st.DeepCopy()
	got.Conditions, got.ObservedGeneration, got.LastBalanceSyncTime, got.LastFullBalanceSyncTime, got.LastBillingSyncTime = nil, 0, nil, nil, nil
	got.ReclaimableCashTime, got.ReclaimableCreditTime = nil, nil
	// The seed's daily costs of the current cycle add up to its bill; the
	// forecast projects from them (both are tested in the reporting suite).
	if got.Costs == nil || got.Costs.CurrentCycle.Original != want.CurrentCycle.Consumption || got.Forecast == nil || got.Forecast.Cycle != want.CurrentCycle.Cycle {
		t.Errorf("costs %+v, forecast %+v", got.Costs, got.Forecast)
	}
	got.Costs, got.Forecast = nil, nil
	for i := range got.ReclaimableCoupons {
		got.ReclaimableCoupons[i].ExpireTime = ""
	}
	for i := range got.Orders.Latest {
		got.Orders.Latest[i].CreateTime = ""
	}
	if got.OrderPayments != nil {
		got.OrderPayments.OldestCreateTime = ""
		for i := range got.OrderPayments.Orders {
			got.OrderPayments.Orders[i].CreateTime = ""
		}
	}
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	if st.LastBalanceSyncTime == nil || st.LastBillingSyncTime == nil || st.LastFullBalanceSyncTime == nil || !st.LastFullBalanceSyncTime.Equal(st.LastBalanceSyncTime) {
		t.Errorf("sync times not recorded: balances %v (all %v), billing %v", st.LastBalanceSyncTime, st.LastFullBalanceSyncTime, st.LastBillingSyncTime)
	}
	if c := condition(sa, budgetv1alpha1.ConditionBudgetExceeded); c != nil {
		t.Errorf("BudgetExceeded without a monthly budget: %+v", c)
	}
	if got := recorder.Await(name, eventAdopted, "cust-team-a-0001", 1); got != 1 {
		t.Errorf("%d Adopted events, want 1", got)
	}
	if got := recorder.Await(name, budgetv1alpha1.ReasonReady, "", 1); got != 1 {
		t.Errorf("%d Ready events, want 1", got)
	}
	if got := gauge(t, metrics.SubAccountReclaimable, name, "debit"); got != 100000 {
		t.Errorf("reclaimable debit metric = %v fen, want 100000", got)
	}
	if got := gauge(t, metrics.SubAccountReclaimable, name, "coupon"); got != 10000 {
		t.Errorf("reclaimable coupon metric = %v fen, want 10000", got)
	}
	if got := gauge(t, metrics.SubAccountConsumption, name); got != 13345 {
		t.Errorf("consumption metric = %v fen, want 13345", got)
	}
}

func TestAdoptCreditLedgersAndSharedBatches(t *testing.T) {
	expireBatches()
	sums, orders := calls.get(bss.OpShowCustomerMonthlySum), calls.get(bss.OpListCustomerOrders)
	createSubAccount(t, "batch-team-b", budgetv1alpha1.SubAccountSpec{CustomerID: "cust-team-b-0001"})
	createSubAccount(t, "batch-team-c", budgetv1alpha1.SubAccountSpec{CustomerID: "cust-team-c-0001"})
	b := waitForReason(t, "batch-team-b", budgetv1alpha1.ReasonReady)
	c := waitForReason(t, "batch-team-c", budgetv1alpha1.ReasonReady)

	if b.Status.CurrentCycle.Consumption != "42.00" || b.Status.Orders.Processing != 1 {
		t.Errorf("team-b: current cycle %+v, orders %+v", b.Status.CurrentCycle, b.Status.Orders)
	}
	if c.Status.PreviousCycle.Credit != "80.25" || c.Status.OrgName != "Ops" {
		t.Errorf("team-c: previous cycle %+v, org %q", c.Status.PreviousCycle, c.Status.OrgName)
	}
	if len(c.Status.ReclaimableCredit) != 1 || c.Status.ReclaimableCredit[0].Available != "500.00" ||
		c.Status.ReclaimableCredit[0].CreditLine != "500.00" || c.Status.ReclaimableCredit[0].ExpireTime == "" {
		t.Errorf("team-c credit ledgers = %+v, want one expiring ledger of 500.00", c.Status.ReclaimableCredit)
	}
	// Whatever reconciled meanwhile, each batch was read once for the master.
	if got := calls.get(bss.OpShowCustomerMonthlySum) - sums; got != 2 {
		t.Errorf("%d monthly-sum reads, want 2 (current and previous cycle, shared by all SubAccounts)", got)
	}
	if got := calls.get(bss.OpListCustomerOrders) - orders; got != 1 {
		t.Errorf("%d order list reads, want 1 (shared by all SubAccounts)", got)
	}
}

func TestUnknownCustomerID(t *testing.T) {
	const name = "adopt-unknown"
	createSubAccount(t, name, budgetv1alpha1.SubAccountSpec{CustomerID: "cust-nobody-9999"})
	sa := waitForReason(t, name, budgetv1alpha1.ReasonSubAccountNotFound)
	c := condition(sa, budgetv1alpha1.ConditionReady)
	if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "cust-nobody-9999") || c.ObservedGeneration != sa.Generation {
		t.Errorf("Ready = %+v", c)
	}
	if sa.Status.ObservedGeneration != 0 {
		t.Errorf("observedGeneration %d set without a successful sync", sa.Status.ObservedGeneration)
	}
	eventually(t, "a SubAccountNotFound warning", func() error {
		if evs := recorder.Of(name, budgetv1alpha1.ReasonSubAccountNotFound); len(evs) != 1 || evs[0].Type != corev1.EventTypeWarning {
			return fmt.Errorf("events %+v", evs)
		}
		return nil
	})
}

func TestClosedSubAccountIsReportedButNotReady(t *testing.T) {
	sub, err := sim.AddSubAccount(bsssim.SubAccount{Name: "closed-1", Status: bsssim.SubStatusClosed})
	must(t, err)
	const name = "adopt-closed"
	createSubAccount(t, name, budgetv1alpha1.SubAccountSpec{CustomerID: sub.ID})
	sa := waitForReason(t, name, budgetv1alpha1.ReasonSubAccountClosed)
	if sa.Status.AccountState != "Closed" || sa.Status.ReclaimableCash != "0.00" || sa.Status.CurrentCycle == nil {
		t.Errorf("closed account not reported: %+v", sa.Status)
	}
}

func TestCreateWithMasterPhone(t *testing.T) {
	const name, login, pwSecret, password = "create-master-phone", "created-one", "created-one-password", "S3cret-pass!"
	createSubAccount(t, name, budgetv1alpha1.SubAccountSpec{Create: &budgetv1alpha1.SubAccountCreate{
		AccountName: login, DisplayName: "Created One", PartyID: "1234567890",
		Permissions:       []budgetv1alpha1.Permission{"READ_FINANCE_INFO", "READ_CONSUME_BILL"},
		PasswordSecretRef: budgetv1alpha1.SecretKeyReference{Name: pwSecret},
		Phone:             budgetv1alpha1.SubAccountPhone{UseMasterPhone: true},
	}})

	// No password yet: nothing is created.
	sa := waitForReason(t, name, budgetv1alpha1.ReasonCredentialsMissing)
	if msg := condition(sa, budgetv1alpha1.ConditionReady).Message; !strings.Contains(msg, opNS+"/"+pwSecret) {
		t.Errorf("message %q does not name the Secret", msg)
	}
	// The Secret watch resumes the creation.
	createSecret(t, pwSecret, map[string]string{"password": password + "\n"})
	sa = waitForReason(t, name, budgetv1alpha1.ReasonCreating)
	if sa.Status.CreateRequestedTime == nil {
		t.Error("createRequestedTime not recorded")
	}
	sa = waitForReason(t, name, budgetv1alpha1.ReasonReady)

	var created []bsssim.SubAccount
	for _, s := range sim.Snapshot().SubAccounts {
		if s.Name == login {
			created = append(created, s)
		}
	}
	if len(created) != 1 {
		t.Fatalf("%d sub-accounts named %s in BSS, want 1", len(created), login)
	}
	st := sa.Status
	if st.CustomerID != created[0].ID || st.AccountName != login || st.DisplayName != "Created One" || st.AccountState != "Normal" || st.OrgName != "R&D" {
		t.Errorf("status %+v does not describe %+v", st, created[0])
	}
	if created[0].MobilePhone != "" || cmp.Diff([]string{"READ_FINANCE_INFO", "READ_CONSUME_BILL"}, created[0].PermissionIDs) != "" {
		t.Errorf("created with phone %q and permissions %v", created[0].MobilePhone, created[0].PermissionIDs)
	}
	if got := recorder.Await(name, eventCreated, created[0].ID, 1); got != 1 {
		t.Errorf("%d Created events, want 1", got)
	}
	if got := recorder.Await(name, eventCreateRequested, login, 1); got != 1 {
		t.Errorf("%d CreateRequested events, want 1", got)
	}
	assertNoSecretLeak(t, name, password)
}

func TestCreateWithSMSCode(t *testing.T) {
	const name, login, phone = "create-sms", "sms-one", "13900000001"
	const pwSecret, codeSecret = "sms-one-password", "sms-one-code"
	createSecret(t, pwSecret, map[string]string{"pw": "An0ther-pass"})
	createSubAccount(t, name, budgetv1alpha1.SubAccountSpec{Create: &budgetv1alpha1.SubAccountCreate{
		AccountName: login, PartyID: "1234567891",
		PasswordSecretRef: budgetv1alpha1.SecretKeyReference{Name: pwSecret, Key: "pw"},
		Phone: budgetv1alpha1.SubAccountPhone{
			Number: phone, VerificationCodeSecretRef: &budgetv1alpha1.SecretKeyReference{Name: codeSecret},
		},
	}})

	sa := waitForReason(t, name, budgetv1alpha1.ReasonAwaitingVerificationCode)
	msg := condition(sa, budgetv1alpha1.ConditionReady).Message
	if !strings.Contains(msg, fmt.Sprintf("key %q of Secret %s/%s", "code", opNS, codeSecret)) {
		t.Errorf("message %q does not tell which Secret and key to create", msg)
	}
	if sa.Status.VerificationCodeSentTime == nil {
		t.Error("verificationCodeSentTime not recorded")
	}
	code, ok := sim.LastSMSCode(phone)
	if !ok {
		t.Fatal("no SMS code was sent")
	}

	// A wrong code is refused; deleting the Secret brings a new code.
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	createSecret(t, codeSecret, map[string]string{"code": wrong})
	sa = waitForReason(t, name, budgetv1alpha1.ReasonCreateFailed)
	if msg := condition(sa, budgetv1alpha1.ConditionReady).Message; !strings.Contains(msg, "CBC.99000026") || !strings.Contains(msg, "delete Secret "+opNS+"/"+codeSecret) {
		t.Errorf("CreateFailed message %q lacks the code or the way out", msg)
	}
	if sa.Status.VerificationCodeSentTime != nil {
		t.Error("verificationCodeSentTime kept after a wrong code")
	}
	must(t, k8sClient.Delete(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: opNS, Name: codeSecret}}))
	waitForReason(t, name, budgetv1alpha1.ReasonAwaitingVerificationCode)
	if got := smsCodesSent(phone); got != 2 {
		t.Fatalf("%d SMS codes sent, want 2", got)
	}
	code, _ = sim.LastSMSCode(phone)
	createSecret(t, codeSecret, map[string]string{"code": code + "\n"})

	sa = waitForReason(t, name, budgetv1alpha1.ReasonReady)
	var created *bsssim.SubAccount
	for _, s := range sim.Snapshot().SubAccounts {
		if s.Name == login {
			created = &s
		}
	}
	if created == nil || created.MobilePhone != phone || sa.Status.CustomerID != created.ID || sa.Status.OrgName != "Ops" {
		t.Errorf("BSS has %+v, status %+v", created, sa.Status)
	}
	if got := smsCodesSent(phone); got != 2 {
		t.Errorf("%d SMS codes sent, want 2", got)
	}
	assertNoSecretLeak(t, name, "An0ther-pass")
	assertNoSecretLeak(t, name, code)
}

func smsCodesSent(phone string) int {
	n := 0
	for _, c := range sim.Snapshot().SMSCodes {
		if c.MobilePhone == phone {
			n++
		}
	}
	return n
}

func TestExistingLoginNameIsAdopted(t *testing.T) {
	sub, err := sim.AddSubAccount(bsssim.SubAccount{Name: "preexisting-1", DisplayName: "Pre Existing", OrgID: "1234567891"})
	must(t, err)
	const name = "create-existing"
	// The password Secret does not even exist: it is not needed to adopt.
	createSubAccount(t, name, budgetv1alpha1.SubAccountSpec{Create: &budgetv1alpha1.SubAccountCreate{
		AccountName: "preexisting-1", PartyID: "1234567891",
		PasswordSecretRef: budgetv1alpha1.SecretKeyReference{Name: "never-created"},
		Phone:             budgetv1alpha1.SubAccountPhone{UseMasterPhone: true},
	}})
	sa := waitForReason(t, name, budgetv1alpha1.ReasonReady)
	if sa.Status.CustomerID != sub.ID || sa.Status.CreateRequestedTime != nil || sa.Status.DisplayName != "Pre Existing" {
		t.Errorf("status %+v, want the existing account %s adopted without a create request", sa.Status, sub.ID)
	}
	n := 0
	for _, s := range sim.Snapshot().SubAccounts {
		if s.Name == "preexisting-1" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d sub-accounts named preexisting-1, want 1", n)
	}
	if got := recorder.Await(name, eventAdopted, sub.ID, 1); got != 1 {
		t.Errorf("%d Adopted events, want 1", got)
	}
	if got := len(recorder.Of(name, eventCreateRequested)); got != 0 {
		t.Errorf("%d CreateRequested events, want 0", got)
	}
}

func TestBillingBudgetThresholds(t *testing.T) {
	sub, err := sim.AddSubAccount(bsssim.SubAccount{Name: "spender-1"})
	must(t, err)
	const name = "budget-spender"
	createSubAccount(t, name, budgetv1alpha1.SubAccountSpec{
		CustomerID:    sub.ID,
		MonthlyBudget: &budgetv1alpha1.MonthlyBudget{Amount: "100", AlertThresholds: []int32{50, 80, 100}},
	})
	sa := waitForReason(t, name, budgetv1alpha1.ReasonReady)
	if cur := sa.Status.CurrentCycle; cur == nil || cur.Consumption != "0.00" || ptr.Deref(cur.BudgetPercent, -1) != 0 {
		t.Fatalf("current cycle %+v, want nothing consumed", cur)
	}
	if c := condition(sa, budgetv1alpha1.ConditionBudgetExceeded); c == nil || c.Status != metav1.ConditionFalse || c.Reason != budgetv1alpha1.ReasonWithinBudget {
		t.Errorf("BudgetExceeded = %+v, want False/WithinBudget", c)
	}

	spend := func(amount string) { spend(t, sub.ID, amount) }
	consumed := func(sa *budgetv1alpha1.SubAccount) money.Amount {
		return money.MustParse(string(sa.Status.CurrentCycle.Consumption))
	}

	spend("60")
	sa = resyncBilling(t, name)
	if c := consumed(sa); c.Cmp(money.MustParse("60")) < 0 || c.Cmp(money.MustParse("80")) >= 0 {
		t.Fatalf("consumption %s, want about 60.00", c)
	}
	if diff := cmp.Diff([]int32{50}, sa.Status.AlertedThresholds); diff != "" {
		t.Errorf("alerted thresholds (-want +got):\n%s", diff)
	}
	if p := ptr.Deref(sa.Status.CurrentCycle.BudgetPercent, -1); p < 60 || p >= 80 {
		t.Errorf("budget percent %d, want 60–79", p)
	}
	if sa.Status.CurrentCycle.Debt != sa.Status.CurrentCycle.Consumption {
		t.Errorf("an unfunded account's consumption %s should all be debt, got %s", sa.Status.CurrentCycle.Consumption, sa.Status.CurrentCycle.Debt)
	}

	spend("60")
	sa = resyncBilling(t, name)
	if c := consumed(sa); c.Cmp(money.MustParse("120")) < 0 {
		t.Fatalf("consumption %s, want at least 120.00", c)
	}
	if diff := cmp.Diff([]int32{50, 80, 100}, sa.Status.AlertedThresholds); diff != "" {
		t.Errorf("alerted thresholds (-want +got):\n%s", diff)
	}
	c := condition(sa, budgetv1alpha1.ConditionBudgetExceeded)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != budgetv1alpha1.ReasonBudgetExceeded || c.ObservedGeneration != sa.Generation {
		t.Errorf("BudgetExceeded = %+v, want True/BudgetExceeded", c)
	}
	if got := gauge(t, metrics.SubAccountBudgetRatio, name); got < 1.2 {
		t.Errorf("budget ratio metric %v, want at least 1.2", got)
	}

	// Another sync with nothing new announces nothing again. The sync that
	// passed 80% and 100% announced the highest.
	resyncBilling(t, name)
	for reason, note := range map[string]string{
		"BudgetThreshold50Reached":  "reached 50%",
		"BudgetThreshold100Reached": "reached 100% of the monthly budget 100.00 (passing 80% since the last sync)",
	} {
		if got := recorder.Await(name, reason, note, 1); got != 1 {
			t.Errorf("%d %s events with %q, want 1", got, reason, note)
		}
	}
	if evs := recorder.Of(name, "BudgetThreshold80Reached"); len(evs) != 0 {
		t.Errorf("80%% announced on its own: %+v", evs)
	}
	if evs := recorder.Of(name, budgetv1alpha1.ReasonBudgetExceeded); len(evs) != 1 || evs[0].Type != corev1.EventTypeWarning {
		t.Errorf("BudgetExceeded events %+v, want one warning", evs)
	}

	// Removing the budget removes the condition and the percentages.
	sa = getSubAccount(t, name)
	sa.Spec.MonthlyBudget = nil
	must(t, k8sClient.Update(context.Background(), sa))
	eventually(t, "the budget condition is gone", func() error {
		sa := getSubAccount(t, name)
		if c := condition(sa, budgetv1alpha1.ConditionBudgetExceeded); c != nil || sa.Status.CurrentCycle.BudgetPercent != nil || sa.Status.ObservedGeneration != sa.Generation {
			return fmt.Errorf("condition %+v, percent %v, observed generation %d/%d", c, sa.Status.CurrentCycle.BudgetPercent, sa.Status.ObservedGeneration, sa.Generation)
		}
		return nil
	})
}

// TestBudgetThresholdEventsAreStored checks the threshold events the API
// server keeps: the events library merges events with one reason into a
// series that keeps the first note only.
func TestBudgetThresholdEventsAreStored(t *testing.T) {
	budget := func(sub bsssim.SubAccount, name string) {
		t.Helper()
		createSubAccount(t, name, budgetv1alpha1.SubAccountSpec{
			CustomerID:    sub.ID,
			MonthlyBudget: &budgetv1alpha1.MonthlyBudget{Amount: "100", AlertThresholds: []int32{50, 80, 100}},
		})
		waitForReason(t, name, budgetv1alpha1.ReasonReady)
	}
	// awaitStored waits until the threshold events stored for the
	// SubAccount have the reasons of want, then checks their notes.
	awaitStored := func(name string, want map[string]string) {
		t.Helper()
		var got []eventsv1.Event
		eventually(t, fmt.Sprintf("the threshold events of %s are stored", name), func() error {
			got = storedEvents(t, name, "BudgetThreshold")
			var reasons []string
			for _, e := range got {
				reasons = append(reasons, e.Reason)
			}
			if len(got) != len(want) {
				return fmt.Errorf("reasons %v, want %d", reasons, len(want))
			}
			for _, r := range reasons {
				if _, ok := want[r]; !ok {
					return fmt.Errorf("reasons %v", reasons)
				}
			}
			return nil
		})
		for _, e := range got {
			if !strings.Contains(e.Note, want[e.Reason]) || e.Series != nil || e.Type != corev1.EventTypeWarning {
				t.Errorf("%s: %s event %q (series %+v), want a note containing %q and no series", name, e.Type, e.Note, e.Series, want[e.Reason])
			}
		}
	}

	// From 0% to 120% in one sync: one event, for 100%, naming the others.
	jump, err := sim.AddSubAccount(bsssim.SubAccount{Name: "jumper-1"})
	must(t, err)
	budget(jump, "budget-jumper")
	spend(t, jump.ID, "120")
	resyncBilling(t, "budget-jumper")
	awaitStored("budget-jumper", map[string]string{
		"BudgetThreshold100Reached": "reached 100% of the monthly budget 100.00 (passing 50%, 80% since the last sync)",
	})

	// 50% in one sync, 80% in the next: each keeps its own event.
	step, err := sim.AddSubAccount(bsssim.SubAccount{Name: "stepper-1"})
	must(t, err)
	budget(step, "budget-stepper")
	spend(t, step.ID, "60")
	resyncBilling(t, "budget-stepper")
	awaitStored("budget-stepper", map[string]string{"BudgetThreshold50Reached": "reached 50% of the monthly budget 100.00"})
	spend(t, step.ID, "25")
	resyncBilling(t, "budget-stepper")
	awaitStored("budget-stepper", map[string]string{
		"BudgetThreshold50Reached": "reached 50% of the monthly budget 100.00",
		"BudgetThreshold80Reached": "reached 80% of the monthly budget 100.00",
	})
}

// spend consumes amount (yuan) of the sub-account in the simulator, within
// one simulated hour, and stops.
func spend(t *testing.T, customerID, amount string) {
	t.Helper()
	must(t, sim.SetConsumptionRate(customerID, money.MustParse(amount)))
	advance(time.Hour)
	must(t, sim.SetConsumptionRate(customerID, money.Zero))
}

// storedEvents lists the events the API server keeps about the SubAccount
// whose reason starts with prefix.
func storedEvents(t *testing.T, name, prefix string) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	must(t, k8sClient.List(context.Background(), &list))
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Kind == "SubAccount" && e.Regarding.Name == name && strings.HasPrefix(e.Reason, prefix) {
			out = append(out, e)
		}
	}
	return out
}

func TestOrdersCounted(t *testing.T) {
	sub, err := sim.AddSubAccount(bsssim.SubAccount{Name: "orderer-1"})
	must(t, err)
	now := sim.Now().Truncate(time.Second)
	for i, o := range []struct {
		status int
		typ    string
		amount string
	}{
		{6, "1", "10"}, {6, "2", "20"}, {3, "3", "30"}, {5, "4", "40"}, {4, "1", "50"}, {1, "10", "60"}, {2, "1", "70"},
	} {
		_, err := sim.CreateOrder(bsssim.Order{
			OrderID: fmt.Sprintf("CSORDERS00000%d", i), CustomerID: sub.ID, Status: o.status, OrderType: o.typ,
			AmountAfterDiscount: money.MustParse(o.amount), CreateTime: now.Add(-time.Duration(i) * time.Hour),
		})
		must(t, err)
	}
	expireBatches()
	const name = "orders-counted"
	createSubAccount(t, name, budgetv1alpha1.SubAccountSpec{CustomerID: sub.ID})
	sa := waitForReason(t, name, budgetv1alpha1.ReasonReady)
	at := func(i int) string { return now.Add(-time.Duration(i) * time.Hour).UTC().Format(time.RFC3339) }
	want := &budgetv1alpha1.OrdersSummary{
		PendingPayment: 2, Processing: 1, Completed: 1, Cancelled: 1, Other: 2,
		Latest: []budgetv1alpha1.OrderSummary{
			{ID: "CSORDERS000000", Type: "New", Status: "PendingPayment", Amount: "10.00", CreateTime: at(0)},
			{ID: "CSORDERS000001", Type: "Renewal", Status: "PendingPayment", Amount: "20.00", CreateTime: at(1)},
			{ID: "CSORDERS000002", Type: "Change", Status: "Processing", Amount: "30.00", CreateTime: at(2)},
			{ID: "CSORDERS000003", Type: "Unsubscribe", Status: "Completed", Amount: "40.00", CreateTime: at(3)},
			{ID: "CSORDERS000004", Type: "New", Status: "Cancelled", Amount: "50.00", CreateTime: at(4)},
		},
	}
	if diff := cmp.Diff(want, sa.Status.Orders); diff != "" {
		t.Errorf("orders (-want +got):\n%s", diff)
	}
}

func TestGrantedSumsAllocations(t *testing.T) {
	const name = "granted-team-b"
	createSubAccount(t, name, budgetv1alpha1.SubAccountSpec{CustomerID: "cust-team-b-0001"})
	waitForReason(t, name, budgetv1alpha1.ReasonReady)
	allocate := func(ns, allocName, subAccount, granted string) *budgetv1alpha1.BudgetAllocation {
		ba := allocateCash(t, ns, subAccount, allocName)
		setGranted(t, ba, granted)
		return ba
	}
	first := allocate("granted-ns-1", "alloc-1", name, "100.50")
	second := allocate("granted-ns-2", "alloc-2", name, "200.25")
	allocate("granted-ns-1", "alloc-other", "someone-else", "999")

	waitForGranted := func(granted string, count int32) {
		t.Helper()
		// Grant changes within the grant refresh window are reflected when
		// it ends.
		advance(grantWindow)
		eventually(t, "granted is "+granted, func() error {
			sa := getSubAccount(t, name)
			if sa.Status.Granted != budgetv1alpha1.Money(granted) || sa.Status.Allocations != count {
				return fmt.Errorf("granted %s by %d allocations", sa.Status.Granted, sa.Status.Allocations)
			}
			return nil
		})
	}
	waitForGranted("300.75", 2)

	setGranted(t, first, "150.50")
	waitForGranted("350.75", 2)

	must(t, k8sClient.Delete(context.Background(), second))
	waitForGranted("150.50", 1)
	if got := gauge(t, metrics.SubAccountGranted, name); got != 15050 {
		t.Errorf("granted metric %v fen, want 15050", got)
	}
}

func TestEnterpriseAccountNotReady(t *testing.T) {
	// The master does not exist yet.
	const orphan = "orphan-team-c"
	createSubAccount(t, orphan, budgetv1alpha1.SubAccountSpec{
		EnterpriseAccountRef: budgetv1alpha1.LocalObjectReference{Name: "late-master"}, CustomerID: "cust-team-c-0001",
	})
	sa := waitForReason(t, orphan, budgetv1alpha1.ReasonEnterpriseAccountNotReady)
	if msg := condition(sa, budgetv1alpha1.ConditionReady).Message; !strings.Contains(msg, `"late-master" not found`) {
		t.Errorf("message %q", msg)
	}

	// The master exists but its credentials do not.
	must(t, k8sClient.Create(context.Background(), enterpriseAccount("late-master", "late-creds")))
	eventually(t, "the SubAccount names the master's reason", func() error {
		c := condition(getSubAccount(t, orphan), budgetv1alpha1.ConditionReady)
		if c.Reason != budgetv1alpha1.ReasonEnterpriseAccountNotReady || !strings.Contains(c.Message, "(CredentialsMissing)") {
			return fmt.Errorf("Ready %s: %s", c.Reason, c.Message)
		}
		return nil
	})

	// The SubAccount recovers as soon as the master is Ready.
	must(t, k8sClient.Create(context.Background(), credentials("late-creds")))
	sa = waitForReason(t, orphan, budgetv1alpha1.ReasonReady)
	if sa.Status.CustomerID != "cust-team-c-0001" {
		t.Errorf("customer id %q", sa.Status.CustomerID)
	}
}

func TestDeletedSubAccountDropsMetrics(t *testing.T) {
	const name = "deleted-team-b"
	createSubAccount(t, name, budgetv1alpha1.SubAccountSpec{CustomerID: "cust-team-b-0001"})
	waitForReason(t, name, budgetv1alpha1.ReasonReady)
	must(t, k8sClient.Delete(context.Background(), &budgetv1alpha1.SubAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}))
	eventually(t, "the metrics of the deleted SubAccount are gone", func() error {
		for _, vec := range []*prometheus.GaugeVec{metrics.SubAccountGranted, metrics.SubAccountReclaimable, metrics.SubAccountConsumption} {
			if n := series(t, vec, name); n != 0 {
				return fmt.Errorf("%d series left", n)
			}
		}
		return nil
	})
}

// series counts the series of vec labelled with the SubAccount name.
func series(t *testing.T, vec *prometheus.GaugeVec, name string) int {
	t.Helper()
	ch := make(chan prometheus.Metric, 100)
	go func() { vec.Collect(ch); close(ch) }()
	n := 0
	for m := range ch {
		var out dto.Metric
		must(t, m.Write(&out))
		for _, l := range out.GetLabel() {
			if l.GetName() == "subaccount" && l.GetValue() == name {
				n++
			}
		}
	}
	return n
}

// assertNoSecretLeak checks that a secret value appears in no condition and
// no event of the SubAccount.
func assertNoSecretLeak(t *testing.T, name, secret string) {
	t.Helper()
	for _, e := range recorder.Of(name, "") {
		if strings.Contains(e.Note, secret) {
			t.Errorf("event %s leaks a secret: %q", e.Reason, e.Note)
		}
	}
	var sa budgetv1alpha1.SubAccount
	must(t, k8sClient.Get(context.Background(), types.NamespacedName{Name: name}, &sa))
	for _, c := range sa.Status.Conditions {
		if strings.Contains(c.Message, secret) {
			t.Errorf("condition %s leaks a secret: %q", c.Type, c.Message)
		}
	}
}

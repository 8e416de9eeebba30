package payment

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

func coupon(id, balance string, limits ...bss.CouponUseLimit) bss.AvailableCoupon {
	return bss.AvailableCoupon{CouponID: id, Status: 2, CouponType: bss.CouponTypeCashVoucher, Balance: money.MustParse(balance), UseLimits: limits}
}

func discount(id string, typ int, orderID, amount, ratio string) bss.AvailableDiscount {
	return bss.AvailableDiscount{DiscountID: id, DiscountType: typ, Orders: []bss.DiscountOrder{{OrderID: orderID,
		OrderLineItems: []bss.DiscountOrderLine{{DiscountAmount: money.MustParse(amount), DiscountRatio: ratio}}}}}
}

func spec(coupons budgetv1alpha1.PaymentCoupons, disc budgetv1alpha1.PaymentDiscount) budgetv1alpha1.OrderPaymentSpec {
	return budgetv1alpha1.OrderPaymentSpec{OrderID: "O1", MaxAmount: "1000", Coupons: coupons, Discount: disc}
}

var (
	auto     = budgetv1alpha1.PaymentCoupons{Mode: budgetv1alpha1.SelectAuto}
	noCoupon = budgetv1alpha1.PaymentCoupons{Mode: budgetv1alpha1.SelectNone}
	autoDisc = budgetv1alpha1.PaymentDiscount{Mode: budgetv1alpha1.SelectAuto}
	noDisc   = budgetv1alpha1.PaymentDiscount{Mode: budgetv1alpha1.SelectNone}
)

func TestChooseAutoTakesTheMostOffWithinTheRules(t *testing.T) {
	offers := Offers{
		Coupons: []bss.AvailableCoupon{
			coupon("small", "5.00"),
			coupon("big", "60.00"),
			coupon("mid", "30.00"),
			coupon("huge-but-locked", "500.00"),
			coupon("no-promo", "400.00", bss.CouponUseLimit{LimitKey: limitWithPromotion, Value1: "0"}),
			coupon("fourth", "20.00"),
		},
		Discounts: []bss.AvailableDiscount{discount("promo", bss.DiscountTypePromotion, "O1", "10.00", "0.95"), discount("tiny", bss.DiscountTypeBusiness, "O1", "1.00", "")},
	}
	offers.Coupons[3].UsedByOrderID = "O2"
	ch, err := Choose(spec(auto, autoDisc), "O1", money.MustParse("200.00"), offers)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Discount == nil || ch.Discount.ID != "promo" || ch.Amount != money.MustParse("190.00") {
		t.Fatalf("discount %+v amount %s", ch.Discount, ch.Amount)
	}
	var ids []string
	for _, c := range ch.Coupons {
		ids = append(ids, c.ID)
	}
	if got := strings.Join(ids, ","); got != "big,mid,fourth" || ch.CouponAmount != money.MustParse("110.00") {
		t.Errorf("coupons %s taking %s, want big,mid,fourth taking 110.00", got, ch.CouponAmount)
	}
	req := ch.Request("O1")
	if err := req.Validate(); err != nil || !req.UseCoupon || !req.UseDiscount || req.Coupons[0].Type != bss.PayCouponCashVoucher {
		t.Errorf("request %+v: %v", req, err)
	}
	// Without the discount, the coupon that excludes promotions is usable
	// and the largest.
	ch, _ = Choose(spec(auto, noDisc), "O1", money.MustParse("200.00"), offers)
	if len(ch.Coupons) != 1 || ch.Coupons[0].ID != "no-promo" || ch.Coupons[0].Amount != money.MustParse("200.00") || ch.Amount != money.MustParse("200.00") {
		t.Errorf("without discount: %+v", ch)
	}
}

func TestChooseHonoursMaxUseQuantityAndMinDiscount(t *testing.T) {
	offers := Offers{
		Coupons:        []bss.AvailableCoupon{coupon("a", "50.00"), coupon("b", "40.00"), coupon("c", "30.00", bss.CouponUseLimit{LimitKey: limitMinDiscount, Value1: "0.9"})},
		MaxUseQuantity: []bss.CouponMaxUseQuantity{{CouponType: bss.CouponTypeCashVoucher, UseQuantityValue: 2}},
		Discounts:      []bss.AvailableDiscount{discount("deep", bss.DiscountTypeContract, "O1", "20.00", "0.80")},
	}
	ch, err := Choose(spec(auto, autoDisc), "O1", money.MustParse("100.00"), offers)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Coupons) != 2 || ch.Coupons[0].ID != "a" || ch.Coupons[1].ID != "b" || ch.CouponAmount != money.MustParse("80.00") {
		t.Errorf("coupons %+v", ch.Coupons)
	}
}

func TestChoosePriceAdjustmentAndExplicitChoices(t *testing.T) {
	offers := Offers{
		Coupons:   []bss.AvailableCoupon{coupon("a", "50.00"), {CouponID: "inactive", Status: 1, Balance: money.MustParse("9.00")}},
		Discounts: []bss.AvailableDiscount{discount("adj", bss.DiscountTypePriceAdjustment, "O1", "3.00", ""), discount("promo", bss.DiscountTypePromotion, "O1", "30.00", "")},
	}
	ch, err := Choose(spec(noCoupon, autoDisc), "O1", money.MustParse("100.00"), offers)
	if err != nil || ch.Discount.ID != "adj" || ch.Amount != money.MustParse("97.00") {
		t.Errorf("auto with a price adjustment: %+v, %v", ch.Discount, err)
	}
	for name, s := range map[string]budgetv1alpha1.OrderPaymentSpec{
		"none with adjustment":  spec(noCoupon, noDisc),
		"other than adjustment": spec(noCoupon, budgetv1alpha1.PaymentDiscount{Mode: budgetv1alpha1.SelectExplicit, ID: "promo"}),
		"unknown discount":      spec(noCoupon, budgetv1alpha1.PaymentDiscount{Mode: budgetv1alpha1.SelectExplicit, ID: "nope"}),
		"unknown coupon":        spec(budgetv1alpha1.PaymentCoupons{Mode: budgetv1alpha1.SelectExplicit, IDs: []string{"nope"}}, autoDisc),
		"inactive coupon":       spec(budgetv1alpha1.PaymentCoupons{Mode: budgetv1alpha1.SelectExplicit, IDs: []string{"inactive"}}, autoDisc),
	} {
		_, err := Choose(s, "O1", money.MustParse("100.00"), offers)
		var r *Refusal
		if !errors.As(err, &r) || r.Reason != budgetv1alpha1.ReasonCouponUnusable {
			t.Errorf("%s: %v, want a CouponUnusable refusal", name, err)
		}
	}
	ch, err = Choose(spec(budgetv1alpha1.PaymentCoupons{Mode: budgetv1alpha1.SelectExplicit, IDs: []string{"a"}}, budgetv1alpha1.PaymentDiscount{Mode: budgetv1alpha1.SelectExplicit, ID: "adj"}),
		"O1", money.MustParse("100.00"), offers)
	if err != nil || len(ch.Coupons) != 1 || ch.CouponAmount != money.MustParse("50.00") {
		t.Errorf("explicit: %+v, %v", ch, err)
	}
}

func TestFitsPolicy(t *testing.T) {
	max := budgetv1alpha1.Money("500.00")
	p := &budgetv1alpha1.OrderPaymentPolicy{Mode: budgetv1alpha1.OrderPaymentAuto, MaxAmountPerOrder: &max,
		OrderTypes: []budgetv1alpha1.OrderType{"Renewal"}, Services: []string{"hws.service.type.ec2"}}
	order := func(amount, typ, svc string) bss.Order {
		return bss.Order{AmountAfterDiscount: money.MustParse(amount), OrderType: typ, ServiceTypeCode: svc}
	}
	for _, c := range []struct {
		o    bss.Order
		fits bool
		why  string
	}{
		{order("500.00", "2", "hws.service.type.ec2"), true, ""},
		{order("500.01", "2", "hws.service.type.ec2"), false, "above maxAmountPerOrder"},
		{order("10.00", "1", "hws.service.type.ec2"), false, "order type New"},
		{order("10.00", "2", "hws.service.type.rds"), false, "service hws.service.type.rds"},
	} {
		fits, why := FitsPolicy(p, c.o)
		if fits != c.fits || !strings.Contains(why, c.why) {
			t.Errorf("%+v: %v %q", c.o, fits, why)
		}
	}
	if fits, _ := FitsPolicy(&budgetv1alpha1.OrderPaymentPolicy{Mode: budgetv1alpha1.OrderPaymentManual}, order("1.00", "2", "")); fits {
		t.Error("Manual fits")
	}
}

func paymentOf(customer, cycle, amount string, phase budgetv1alpha1.PaymentPhase, reason string) budgetv1alpha1.OrderPayment {
	return budgetv1alpha1.OrderPayment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: amount + reason + string(phase)},
		Status: budgetv1alpha1.OrderPaymentStatus{CustomerID: customer, Cycle: cycle, Amount: budgetv1alpha1.Money(amount), Phase: phase,
			Conditions: []metav1.Condition{{Type: budgetv1alpha1.ConditionReady, Reason: reason}}},
	}
}

func TestTotalsAndLimits(t *testing.T) {
	ps := []budgetv1alpha1.OrderPayment{
		paymentOf("c1", "2026-12", "10.00", budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid),
		paymentOf("c1", "2026-11", "20.00", budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid),
		paymentOf("c1", "2026-12", "40.00", budgetv1alpha1.PaymentPaying, budgetv1alpha1.ReasonPaying),
		paymentOf("c1", "2026-12", "80.00", budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaidElsewhere),
		paymentOf("c1", "2026-12", "160.00", budgetv1alpha1.PaymentFailed, budgetv1alpha1.ReasonBSSError),
		paymentOf("c1", "2026-12", "320.00", budgetv1alpha1.PaymentAwaitingApproval, budgetv1alpha1.ReasonAwaitingApproval),
		paymentOf("c2", "2026-12", "640.00", budgetv1alpha1.PaymentPaid, budgetv1alpha1.ReasonPaid),
	}
	tot := TotalsOf(ps, "c1", "2026-12", "")
	if tot.Paid != money.MustParse("70.00") || tot.ThisCycle != money.MustParse("50.00") {
		t.Fatalf("totals %+v", tot)
	}
	limit := budgetv1alpha1.Money("200.00")
	sa := &budgetv1alpha1.SubAccount{ObjectMeta: metav1.ObjectMeta{Name: "sa"}, Spec: budgetv1alpha1.SubAccountSpec{FundingLimit: &limit,
		MonthlyBudget: &budgetv1alpha1.MonthlyBudget{Amount: "100.00"}},
		Status: budgetv1alpha1.SubAccountStatus{CurrentCycle: &budgetv1alpha1.BillCycleSummary{Cycle: "2026-12", Consumption: "30.00"}}}
	// 100 granted + 70 paid + 30 = 200: fits the limit; 30 consumed + 50
	// paid this cycle + 20 = 100 fits the budget.
	if b := CheckLimits(sa, money.MustParse("100.00"), tot, money.MustParse("20.00"), "2026-12"); b != nil {
		t.Errorf("20.00: %+v", b)
	}
	if b := CheckLimits(sa, money.MustParse("100.00"), tot, money.MustParse("20.01"), "2026-12"); b == nil || b.Reason != budgetv1alpha1.ReasonMonthlyBudgetExceeded {
		t.Errorf("20.01: %+v", b)
	}
	if b := CheckLimits(sa, money.MustParse("110.00"), tot, money.MustParse("20.01"), "2026-12"); b == nil || b.Reason != budgetv1alpha1.ReasonFundingLimitExceeded ||
		!strings.Contains(b.Message, "fundingLimit 200.00") {
		t.Errorf("over the limit: %+v", b)
	}
	// Last cycle's consumption does not count in a new cycle.
	if b := CheckLimits(sa, money.Zero, Totals{}, money.MustParse("100.00"), "2027-01"); b != nil {
		t.Errorf("new cycle: %+v", b)
	}
}

func TestPaymentNameIsAValidObjectName(t *testing.T) {
	for id, want := range map[string]string{
		"CS2026000000002": "order-cs2026000000002",
		"cs-A":            "order-cs-a",
	} {
		if got := PaymentName(id); got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
	a, b := PaymentName("CS_A"), PaymentName("CS-A")
	if a == b || !strings.HasPrefix(a, "order-cs-a-") || strings.ContainsAny(a, "_ABC") {
		t.Errorf("CS_A → %s, CS-A → %s", a, b)
	}
}

func TestPayerOfAnOrder(t *testing.T) {
	at := func(min int) metav1.Time { return metav1.NewTime(time.Date(2026, 12, 7, 10, min, 0, 0, time.UTC)) }
	op := func(name, order string, created int, phase budgetv1alpha1.PaymentPhase) budgetv1alpha1.OrderPayment {
		return budgetv1alpha1.OrderPayment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, CreationTimestamp: at(created)},
			Spec: budgetv1alpha1.OrderPaymentSpec{OrderID: order}, Status: budgetv1alpha1.OrderPaymentStatus{Phase: phase}}
	}
	ps := []budgetv1alpha1.OrderPayment{
		op("young", "O1", 5, ""),
		op("old", "O1", 1, budgetv1alpha1.PaymentAwaitingApproval),
		op("failed", "O1", 0, budgetv1alpha1.PaymentFailed),
		op("other", "O2", 0, ""),
	}
	if p := PayerOf(ps, "o1"); p == nil || p.Name != "old" {
		t.Fatalf("payer %v, want the oldest active one", p)
	}
	// One that has sent its call pays, however young.
	ps[0].Status.Phase = budgetv1alpha1.PaymentPaying
	if p := PayerOf(ps, "O1"); p == nil || p.Name != "young" {
		t.Errorf("payer %v, want the one Paying", p)
	}
	// A deleted one pays only if it may have paid.
	now := metav1.Now()
	ps[0].Status.Phase, ps[0].DeletionTimestamp = "", &now
	if p := PayerOf(ps, "O1"); p == nil || p.Name != "old" {
		t.Errorf("payer %v with the young one deleted unsent", p)
	}
	// A payment of the combined order pays it too.
	ps[3].Status.PayOrderID = "P9"
	if p := PayerOf(ps, "P9"); p == nil || p.Name != "other" {
		t.Errorf("payer of the combined order: %v", p)
	}
	if p := PayerOf(ps, "O3"); p != nil {
		t.Errorf("payer of an order nobody pays: %v", p.Name)
	}
}

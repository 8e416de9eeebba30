package localenv

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// TestSimulatorAdminClient runs the admin client against an in-process
// simulator.
func TestSimulatorAdminClient(t *testing.T) {
	sim, err := bsssim.New(bsssim.DefaultState(), bsssim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	s := &Simulator{URL: srv.URL, http: srv.Client()}
	ctx := context.Background()

	b, err := s.Behaviour(ctx)
	if err != nil || b != (bsssim.Behaviour{}).Normalized() {
		t.Errorf("Behaviour() = %+v, %v", b, err)
	}
	want := bsssim.Behaviour{RefusedTransIDs: bsssim.RefusedBurned, TransIDRetention: bsssim.Duration(time.Hour),
		TransferRecords: bsssim.RecordsNone, Reclaimable: bsssim.ReclaimableTotal}
	if b, err = s.SetBehaviour(ctx, want); err != nil || b != want {
		t.Errorf("SetBehaviour() = %+v, %v", b, err)
	}
	if got := sim.Behaviour(); got != want {
		t.Errorf("simulator behaviour %+v", got)
	}
	if _, err := s.SetBehaviour(ctx, bsssim.Behaviour{Reclaimable: "all"}); err == nil {
		t.Error("an invalid behaviour was accepted")
	}
	if b, err = s.SetBehaviour(ctx, bsssim.Behaviour{}); err != nil || b != (bsssim.Behaviour{}).Normalized() {
		t.Errorf("SetBehaviour({}) = %+v, %v", b, err)
	}

	if err := s.AddSubFunds(ctx, "cust-team-b-0001", money.MustParse("12.34")); err != nil {
		t.Fatal(err)
	}
	if sa, _ := sim.SubAccount("cust-team-b-0001"); sa.SelfFundedCash != money.MustParse("12.34") {
		t.Errorf("team-b self-funded cash %s", sa.SelfFundedCash)
	}
	if err := s.AddSubFunds(ctx, "nobody", money.MustParse("1.00")); err == nil {
		t.Error("funds for an unknown sub-account were accepted")
	}
	o, err := s.CreateOrder(ctx, bsssim.Order{CustomerID: "cust-team-b-0001", AmountAfterDiscount: money.MustParse("9.99"),
		DiscountOffers: []bsssim.DiscountOffer{{ID: "promo-1", Type: bsssim.DiscountPromotion, Amount: money.MustParse("1.00")}}})
	if err != nil || o.OrderID == "" || o.Status != bsssim.OrderPendingPayment || len(o.DiscountOffers) != 1 {
		t.Errorf("CreateOrder() = %+v, %v", o, err)
	}
	if _, err := s.CreateOrder(ctx, bsssim.Order{CustomerID: "nobody", AmountAfterDiscount: money.MustParse("1.00")}); err == nil {
		t.Error("an order of an unknown customer was accepted")
	}
	c, err := s.AddCoupon(ctx, bsssim.Coupon{Balance: money.MustParse("50.00"),
		UseLimits: []bsssim.CouponUseLimit{{LimitKey: bsssim.LimitServiceType, Value1: "hws.service.type.ebs"}}})
	if err != nil || c.ID == "" || c.DomainID != bsssim.DefaultDomainID || c.Balance != money.MustParse("50.00") {
		t.Errorf("AddCoupon() = %+v, %v", c, err)
	}
	st, err := s.State(ctx)
	if err != nil || st.Behaviour == nil || *st.Behaviour != (bsssim.Behaviour{}).Normalized() {
		t.Errorf("State() behaviour %+v, %v", st, err)
	}
	if c, err := s.Check(ctx); err != nil || !c.OK {
		t.Errorf("Check() = %+v, %v", c, err)
	}
}

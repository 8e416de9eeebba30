//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/payment"
)

const (
	payChaosSubAccounts = 5
	payChaosOrders      = 50
	payChaosKills       = 6
	// payChaosSettleWindow is the managers' --payment-settle-window: an
	// order that still reads pending this long after an unanswered pay
	// call is paid again.
	payChaosSettleWindow = 3 * time.Second
	// payChaosProcessing is how long a paid order stays processing (status
	// 3) in the simulator before it completes; a pay call meanwhile would
	// be answered CBC.99000088, and a payment that reads it must take it
	// for paid.
	payChaosProcessing = 2 * time.Second
	payChaosTimeout    = 2 * time.Minute
	// payChaosService is the service of the orders paid with the test's own
	// coupon, which pays only that service.
	payChaosService = "hws.service.type.chaospay"
	// payChaosAutoMax is the Auto policy's maxAmountPerOrder, above every
	// order's price: every order of that SubAccount fits.
	payChaosAutoMax = "2000.00"
)

// chaosOrder is one pending order of the test and what paying it must
// cost.
type chaosOrder struct {
	ns, name, customer, orderID string
	// amount is the order's price; want is what its payment must charge
	// (amount less the discount the payment's Auto mode picks), max the
	// payment's bound.
	amount, want, max money.Amount
	// discount names the offer the payment must use, if any.
	discount string
	// coupon is set for the orders paid with the test's coupon (coupons
	// Auto); the others use none.
	coupon bool
	// auto is set for the orders of the SubAccount whose orderPayment
	// policy is Auto: the operator creates their OrderPayments (coupons
	// and discount Auto, maxAmount the policy's maxAmountPerOrder).
	auto bool
}

// TestChaosPaysOrders pays 50 pending orders of 5 sub-accounts from the
// master's balance, each through one OrderPayment: the teams of 4
// SubAccounts create theirs (40), and the fifth SubAccount's orderPayment
// policy is switched to Auto once the chaos has begun, so that the
// operator creates the other 10 by itself. Meanwhile the simulator
// loses 15% of the pay calls' answers after taking the payment, fails 10%
// of the requests before applying anything, refuses 10% of the pay calls
// as too frequent (CBC.99008040), keeps a paid order processing for 2s
// (a pay call meanwhile would be answered CBC.99000088; the managers make
// none, since they resend only to an order that read pending for the
// settle window, and the summary shows the answers they got) and jitters
// its latency, and the manager is killed with SIGKILL 6 times, each time
// on evidence that a pay call is in flight: an OrderPayment in phase
// Paying after an attempt of the running manager (every other kill waits,
// at most appliedWait, until BSS has taken such a payment that the manager
// has not recorded). The managers resend an unanswered call only after
// --payment-settle-window (3s) of the order still reading pending. Some
// orders carry discount offers (one in ten a price adjustment the payment
// must use), some are paid with a coupon the test adds (the Auto
// SubAccount's all of them, so that its payments, whose coupons are Auto,
// take no coupon of the seed's); the teams' payments use no coupon
// otherwise, and their maxAmount is what they must charge, some with room
// to spare.
//
// In the end every order must have been paid exactly once in the
// simulator's ledger, for what its payment had to charge and no more than
// its maxAmount, every OrderPayment must be Paid (reason Paid: no order is
// paid by anything else), the master's cash and the coupon must have gone
// down by what the ledger says, and /_sim/check (ledger and conservation)
// must be clean. It logs each kill and one `chaos payments:` summary line.
func TestChaosPaysOrders(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("E2E_CHAOS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("E2E_CHAOS_SEED: %v", err)
		}
	}
	t.Logf("seed %d (E2E_CHAOS_SEED=%d replays the orders and the simulator's fault draws)", seed, seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 3)) //nolint:gosec // G404: test data, not secrets
	started := time.Now()

	e := newEnv(t, "--consumption-rate=0", "--throttle=20", fmt.Sprintf("--seed=%d", seed))
	if err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		var ea budgetv1alpha1.EnterpriseAccount
		if err := e.k8s.Get(e.ctx, types.NamespacedName{Name: eaName}, &ea); err != nil {
			return err
		}
		ea.Spec.RateLimit = &budgetv1alpha1.RateLimit{RequestsPerSecond: 10}
		return e.k8s.Update(e.ctx, &ea)
	}); err != nil {
		t.Fatal(err)
	}

	// A coupon of the test's own that pays only payChaosService, larger
	// than the master's other coupons, so that Auto picks it alone and it
	// pays the whole order; it outlasts every order of that service.
	coupon, err := e.sim.AddCoupon(e.ctx, bsssim.Coupon{PlanName: "chaos payments", Balance: money.MustParse("50000.00"),
		UseLimits: []bsssim.CouponUseLimit{{LimitKey: bsssim.LimitServiceType, Value1: payChaosService}}})
	if err != nil {
		t.Fatal(err)
	}

	// 5 new sub-accounts, each adopted by a SubAccount that admits one
	// namespace, with 10 pending orders each. The last one's orders are
	// paid by its Auto policy, in its namespace.
	var orders []*chaosOrder
	var subAccounts []string
	autoSA := fmt.Sprintf("pay-%02d", payChaosSubAccounts-1)
	for i := range payChaosSubAccounts {
		name := fmt.Sprintf("pay-%02d", i)
		auto := name == autoSA
		subAccounts = append(subAccounts, name)
		cust, err := e.sim.AddSubAccount(e.ctx, name, "1234567890")
		if err != nil {
			t.Fatal(err)
		}
		e.create(localenv.Namespace(name, nil), localenv.SubAccount(name, eaName, cust, name))
		for j := range payChaosOrders / payChaosSubAccounts {
			n := len(orders)
			o := &chaosOrder{ns: name, name: fmt.Sprintf("order-%d", j), customer: cust, amount: money.FromFen(100 + rng.Int64N(150000))} // 1.00 to 1500.99
			so := bsssim.Order{CustomerID: cust, AmountAfterDiscount: o.amount, OrderType: bsssim.OrderTypeRenewal}
			o.want = o.amount
			switch {
			case n%10 == 3:
				// A price adjustment: PayOrders takes the order only with it.
				off := money.FromFen(1 + rng.Int64N(o.amount.Fen()/5+1))
				so.DiscountOffers = []bsssim.DiscountOffer{{ID: fmt.Sprintf("adj-%d", n), Type: bsssim.DiscountPriceAdjustment, Amount: off}}
				o.discount, o.want = so.DiscountOffers[0].ID, o.amount.Sub(off)
			case n%3 == 1:
				// Two promotions: Auto takes the one that takes more off.
				small, large := money.FromFen(1+rng.Int64N(o.amount.Fen()/20+1)), money.FromFen(1+o.amount.Fen()/20+rng.Int64N(o.amount.Fen()/10+1))
				so.DiscountOffers = []bsssim.DiscountOffer{
					{ID: fmt.Sprintf("promo-%d-a", n), Type: bsssim.DiscountPromotion, Amount: small},
					{ID: fmt.Sprintf("promo-%d-b", n), Type: bsssim.DiscountPromotion, Amount: large},
				}
				o.discount, o.want = so.DiscountOffers[1].ID, money.Max(o.amount.Sub(large), money.Zero)
			}
			if n%8 == 5 || auto {
				so.ServiceTypeCode, o.coupon = payChaosService, true
			}
			o.max = o.want
			if n%4 == 0 {
				o.max = o.want.Add(money.FromFen(rng.Int64N(1000)))
			}
			created, err := e.sim.CreateOrder(e.ctx, so)
			if err != nil {
				t.Fatal(err)
			}
			o.orderID = created.OrderID
			if auto {
				o.auto, o.name, o.max = true, payment.PaymentName(o.orderID), money.MustParse(payChaosAutoMax)
			}
			orders = append(orders, o)
		}
	}
	before := e.state()

	k := &payKiller{e: e, rng: rand.New(rand.NewPCG(uint64(seed), 4)), started: started, payments: len(orders), //nolint:gosec // G404: test timing, not secrets
		args: []string{fmt.Sprintf("--payment-settle-window=%s", payChaosSettleWindow)}}
	k.start()
	for _, sa := range subAccounts {
		e.waitSubAccountReady(sa, time.Minute)
	}
	// The faults start once the SubAccounts are Ready; the flags of the
	// simulator have no switch for the payment faults, /_sim/faults has.
	if err := e.sim.SetFaults(e.ctx, bsssim.Faults{
		Latency: bsssim.Duration(10 * time.Millisecond), LatencyJitter: bsssim.Duration(100 * time.Millisecond),
		ErrorRate: 0.1, LostResponseRate: 0.15, TooFrequentRate: 0.1, PaymentProcessing: bsssim.Duration(payChaosProcessing),
	}); err != nil {
		t.Fatal(err)
	}

	stop := k.killOnEvidence(payChaosKills)
	// The Auto policy creates its OrderPayments at the SubAccount's next
	// billing sync, which a change of its spec brings at once.
	if err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		var sa budgetv1alpha1.SubAccount
		if err := e.k8s.Get(e.ctx, types.NamespacedName{Name: autoSA}, &sa); err != nil {
			return err
		}
		maxPerOrder := budgetv1alpha1.Money(payChaosAutoMax)
		sa.Spec.OrderPayment = &budgetv1alpha1.OrderPaymentPolicy{Mode: budgetv1alpha1.OrderPaymentAuto, MaxAmountPerOrder: &maxPerOrder, Namespace: autoSA}
		return e.k8s.Update(e.ctx, &sa)
	}); err != nil {
		t.Fatal(err)
	}
	var teams []*chaosOrder
	for _, o := range orders {
		if !o.auto {
			teams = append(teams, o)
		}
	}
	if err := localenv.Parallel(teams, 8, func(o *chaosOrder) error {
		op := &budgetv1alpha1.OrderPayment{
			ObjectMeta: metav1.ObjectMeta{Namespace: o.ns, Name: o.name},
			Spec: budgetv1alpha1.OrderPaymentSpec{SubAccountName: o.ns, OrderID: o.orderID, MaxAmount: budgetv1alpha1.Money(o.max.String()),
				Coupons: budgetv1alpha1.PaymentCoupons{Mode: budgetv1alpha1.SelectNone}, Discount: budgetv1alpha1.PaymentDiscount{Mode: budgetv1alpha1.SelectAuto}},
		}
		if o.coupon {
			op.Spec.Coupons.Mode = budgetv1alpha1.SelectAuto
		}
		return e.k8s.Create(e.ctx, op)
	}); err != nil {
		t.Fatal(err)
	}
	stop()
	if n := len(k.kills); n != payChaosKills {
		t.Errorf("the manager was killed %d times, want %d", n, payChaosKills)
	}
	if inFlight, _, _ := k.landed(); 2*inFlight < len(k.kills) {
		t.Errorf("only %d of %d kills found a pay call in flight at the moment of the kill, want at least half", inFlight, len(k.kills))
	}

	var waiting []string
	e.eventually(payChaosTimeout, "every OrderPayment final", func(ctx context.Context) (bool, error) {
		var list budgetv1alpha1.OrderPaymentList
		if err := e.k8s.List(ctx, &list); err != nil {
			return false, err
		}
		waiting = waiting[:0]
		for _, op := range list.Items {
			if !finalPayment(op.Status.Phase) {
				waiting = append(waiting, describeOrderPayment(&op))
			}
		}
		return len(list.Items) == len(orders) && len(waiting) == 0, nil
	}, func() string { return strings.Join(waiting, "\n") })

	e.verifyPayments(seed, orders, coupon.ID, before, k, time.Since(started))
}

func finalPayment(p budgetv1alpha1.PaymentPhase) bool {
	return p == budgetv1alpha1.PaymentPaid || p == budgetv1alpha1.PaymentFailed || p == budgetv1alpha1.PaymentCancelled
}

func describeOrderPayment(op *budgetv1alpha1.OrderPayment) string {
	c := localenv.Ready(op.Status.Conditions)
	reason, msg := "", ""
	if c != nil {
		reason, msg = c.Reason, c.Message
	}
	return fmt.Sprintf("%s/%s order %s: %s %s (%s), amount %s, %d attempts, last error %s, evidence %q", op.Namespace, op.Name, op.Spec.OrderID,
		op.Status.Phase, reason, msg, op.Status.Amount, op.Status.Attempts, op.Status.ErrorCode, op.Status.Evidence)
}

// payEntries are the simulator's pay-order entries by order id.
func payEntries(st *bsssim.State) map[string][]bsssim.LedgerEntry {
	out := map[string][]bsssim.LedgerEntry{}
	for _, le := range st.Ledger {
		if le.Operation == bsssim.OpPayOrder {
			out[le.OrderID] = append(out[le.OrderID], le)
		}
	}
	return out
}

func couponBalance(st *bsssim.State, id string) money.Amount {
	for _, c := range st.Coupons {
		if c.ID == id {
			return c.Balance
		}
	}
	return money.Zero
}

// verifyPayments checks the simulator's books and the OrderPayments against
// the orders and prints the figures.
func (e *env) verifyPayments(seed int64, orders []*chaosOrder, couponID string, before *bsssim.State, k *payKiller, took time.Duration) {
	t := e.t
	check, err := e.sim.Check(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !check.OK {
		t.Errorf("/_sim/check: %v", check.Errors)
	}
	st := e.state()
	paid := payEntries(st)
	var list budgetv1alpha1.OrderPaymentList
	if err := e.k8s.List(e.ctx, &list); err != nil {
		t.Fatal(err)
	}
	byOrder := map[string]*budgetv1alpha1.OrderPayment{}
	for i := range list.Items {
		byOrder[list.Items[i].Spec.OrderID] = &list.Items[i]
	}

	var total, couponTotal money.Amount
	once, discounted, withCoupon, auto, attempts, resent := 0, 0, 0, 0, 0, 0
	evidence, reasons := map[string]int{}, map[string]int{}
	for _, o := range orders {
		entries := paid[o.orderID]
		delete(paid, o.orderID)
		op := byOrder[o.orderID]
		if op == nil {
			t.Errorf("no OrderPayment for order %s (%s/%s)", o.orderID, o.ns, o.name)
			continue
		}
		desc := describeOrderPayment(op)
		reason := ""
		if c := localenv.Ready(op.Status.Conditions); c != nil {
			reason = c.Reason
		}
		reasons[reason]++
		ev := op.Status.Evidence
		if c := localenv.Ready(op.Status.Conditions); ev == budgetv1alpha1.PaymentEvidenceOrderStatus && c != nil {
			// Which status of the order told: Processing (within
			// payChaosProcessing of the payment) or Completed.
			for _, st := range []string{"Processing", "Completed"} {
				if strings.Contains(c.Message, " reads "+st+" ") {
					ev += "/" + st
				}
			}
		}
		evidence[ev]++
		attempts += int(op.Status.Attempts)
		if op.Status.Attempts > 1 {
			resent++
		}
		if o.discount != "" {
			discounted++
		}
		if o.coupon {
			withCoupon++
		}
		if byPolicy := op.Labels[budgetv1alpha1.LabelCreatedBy] == budgetv1alpha1.CreatedByOrderPaymentPolicy; byPolicy != o.auto ||
			op.Namespace != o.ns || op.Name != o.name || string(op.Spec.MaxAmount) != o.max.String() {
			t.Errorf("%s (created by the policy: %t, maxAmount %s): want %s/%s, by the policy %t, maxAmount %s",
				desc, byPolicy, op.Spec.MaxAmount, o.ns, o.name, o.auto, o.max)
		} else if byPolicy {
			auto++
		}
		if op.Status.Phase != budgetv1alpha1.PaymentPaid || reason != budgetv1alpha1.ReasonPaid {
			// PaidElsewhere would mean something else paid the order: only
			// these payments pay, one per order.
			t.Errorf("%s: want Paid (reason Paid)", desc)
		}
		if len(entries) != 1 {
			amounts := make([]string, len(entries))
			for i, le := range entries {
				amounts[i] = fmt.Sprintf("%s at %s (request %s)", le.Amount, le.Time.Format(time.RFC3339Nano), le.RequestID)
			}
			t.Errorf("order %s of %s/%s paid %d times in the simulator's ledger %v, want once; %s", o.orderID, o.ns, o.name, len(entries), amounts, desc)
		}
		if len(entries) == 0 {
			continue
		}
		once++
		le := entries[0]
		total, couponTotal = total.Add(le.Amount), couponTotal.Add(le.CouponAmount)
		if le.CustomerID != o.customer {
			t.Errorf("order %s paid as %s's, want %s's", o.orderID, le.CustomerID, o.customer)
		}
		if le.Amount != o.want {
			t.Errorf("order %s (price %s, discount %q) paid %s, want %s; %s", o.orderID, o.amount, o.discount, le.Amount, o.want, desc)
		}
		if le.Amount.Cmp(o.max) > 0 {
			t.Errorf("order %s paid %s, above its payment's maxAmount %s", o.orderID, le.Amount, o.max)
		}
		if string(op.Status.Amount) != le.Amount.String() {
			t.Errorf("%s records %s, the ledger %s", desc, op.Status.Amount, le.Amount)
		}
		wantCoupon := money.Zero
		if o.coupon {
			wantCoupon = le.Amount
		}
		if le.CouponAmount != wantCoupon {
			t.Errorf("order %s: coupons paid %s of %s, want %s", o.orderID, le.CouponAmount, le.Amount, wantCoupon)
		}
		if d := op.Status.Discount; (d == nil) != (o.discount == "") || d != nil && d.ID != o.discount {
			t.Errorf("%s: discount %+v, want %q", desc, d, o.discount)
		}
	}
	for id, entries := range paid {
		t.Errorf("order %s, none of the test's, was paid %d times", id, len(entries))
	}

	cashBefore, cashAfter := localenv.MasterCash(before), localenv.MasterCash(st)
	if spent := cashBefore.Sub(cashAfter); spent != total.Sub(couponTotal) {
		t.Errorf("the master's cash went from %s to %s (%s spent), but the ledger paid %s of which coupons %s", cashBefore, cashAfter, spent, total, couponTotal)
	}
	couponBefore, couponAfter := couponBalance(before, couponID), couponBalance(st, couponID)
	if used := couponBefore.Sub(couponAfter); used != couponTotal {
		t.Errorf("the test's coupon went from %s to %s (%s used), but the ledger's coupon payments add up to %s", couponBefore, couponAfter, used, couponTotal)
	}

	answers, err := payCallAnswers(filepath.Join(e.dir, "manager.log"))
	if err != nil {
		t.Errorf("reading the managers' log: %v", err)
	}
	inFlight, sending, applied := k.landed()
	summary := fmt.Sprintf("chaos payments: seed %d, %d orders over %d sub-accounts (%d paid by an Auto policy, %d discounted, %d with the test's coupon); "+
		"%d manager kills, %d during a pay call in flight (%d before its answer was recorded, %d after BSS took the payment, before the manager recorded it); "+
		"%d OrderPayments (reasons %v, evidence %v, %d pay calls, %d payments resent; answers the managers logged %v); "+
		"%d orders paid once, %d pay-order entries, paid %s (coupons %s); master cash %s -> %s; /_sim/check ok=%v; %s",
		seed, len(orders), payChaosSubAccounts, auto, discounted, withCoupon,
		len(k.kills), inFlight, sending, applied,
		len(list.Items), reasons, evidence, attempts, resent, answers,
		once, len(payEntries(st)), total, couponTotal, cashBefore, cashAfter, check.OK, took.Round(time.Second))
	t.Log(summary)
	fmt.Println(summary)
}

// payKiller kills the manager with SIGKILL and restarts it at once, only on
// evidence that a pay call is in flight: an OrderPayment in phase Paying
// whose status.attempts went up since the running manager started (so not
// one it merely inherited in phase Paying from the killed one). It is the
// chaos test's killer for OrderPayments, without the control plane
// outages.
type payKiller struct {
	e       *env
	watch   *paymentWatch
	rng     *rand.Rand
	started time.Time
	args    []string
	// payments is how many OrderPayments must exist before the first kill
	// (those of the Auto policy among them).
	payments int

	mgr *localenv.Manager
	// attempts holds each payment's status.attempts when the running
	// manager started.
	attempts map[string]int32
	// finalAtLast is the watch's count of final payments at the last kill.
	finalAtLast int
	kills       []payKill
	err         error
}

// payKill is what the API server and the simulator held at one kill.
type payKill struct {
	aim string
	at  time.Duration
	// final is how many payments had ended when the manager was killed.
	final int
	// inFlight are the payments in phase Paying after an attempt of the
	// killed manager; sending those of them whose answer it had not
	// recorded yet (Ready still says it is paying); applied those whose
	// order BSS's ledger shows paid.
	inFlight, sending, applied []string
}

const (
	aimPayInFlight = "a pay call in flight"
	aimPayApplied  = "a payment BSS took and the manager has not recorded"
)

func (r payKill) String() string {
	return fmt.Sprintf("the manager at %s (%d payments ended), aimed at %s: Paying after an attempt of the killed manager %v; of those unanswered %v, paid in BSS's ledger %v",
		r.at.Round(100*time.Millisecond), r.final, r.aim, r.inFlight, r.sending, r.applied)
}

func (k *payKiller) start() {
	k.e.t.Helper()
	k.watch = k.e.watchPayments()
	m, err := k.startManager()
	if err != nil {
		k.e.t.Fatal(err)
	}
	k.mgr, k.attempts = m, map[string]int32{}
}

// startManager starts one replica without leader election, as the chaos
// test's killer does.
func (k *payKiller) startManager() (*localenv.Manager, error) {
	m, err := k.e.startReplica(k.args)
	if err != nil {
		return nil, err
	}
	k.finalAtLast = k.watch.final()
	return m, nil
}

// killOnEvidence makes n kills in the background. The first waits until
// every payment exists, the Auto policy's too, so that they all live
// through the kills. Before each the running manager brings 1 to 3
// payments to an end, so that the kills spread over the run; then the
// killer waits for a payment Paying after an attempt of the running
// manager: every other kill waits (at most appliedWait) for one whose
// payment BSS has taken, the others (as long) for one whose call has no
// recorded answer yet. The returned function waits for the kills and logs
// them.
func (k *payKiller) killOnEvidence(n int) func() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The Auto policy creates its payments at the SubAccount's next
		// billing sync; one that fails is retried after a minute.
		if k.err = k.watch.await(k.e.ctx, 2*time.Minute, fmt.Sprintf("all %d OrderPayments", k.payments), func() bool {
			return k.watch.count() >= k.payments
		}); k.err != nil {
			return
		}
		for i := range n {
			aim := aimPayInFlight
			if i%2 == 0 {
				aim = aimPayApplied
			}
			if k.err = k.killOne(aim, 1+k.rng.IntN(3)); k.err != nil {
				return
			}
		}
	}()
	return func() {
		k.e.t.Helper()
		<-done
		for i, r := range k.kills {
			k.e.t.Logf("kill %d, %s", i+1, r)
		}
		if k.err != nil {
			k.e.t.Fatalf("killing and restarting: %v", k.err)
		}
	}
}

func (k *payKiller) killOne(aim string, outcomes int) error {
	ctx := k.e.ctx
	if err := k.watch.await(ctx, evidenceTimeout, fmt.Sprintf("the manager ending %d payments", outcomes), func() bool {
		return k.watch.final() >= k.finalAtLast+outcomes
	}); err != nil {
		return err
	}
	fallback := time.Now().Add(appliedWait)
	var polled time.Time
	if err := k.watch.await(ctx, evidenceTimeout, aim, func() bool {
		inFlight := k.watch.inFlight(k.attempts)
		if len(inFlight) == 0 {
			return false
		}
		if time.Now().After(fallback) {
			return true
		}
		if aim == aimPayInFlight {
			for _, p := range inFlight {
				if p.sending {
					return true
				}
			}
			return false
		}
		if time.Since(polled) < simPoll {
			return false
		}
		polled = time.Now()
		st, err := k.e.sim.State(ctx)
		if err != nil {
			return false // the next poll tries again; a lasting error ends in the timeout
		}
		paid := payEntries(st)
		for _, p := range inFlight {
			if len(paid[p.orderID]) > 0 {
				return true
			}
		}
		return false
	}); err != nil {
		return err
	}
	at := time.Since(k.started)
	if err := k.mgr.Kill(); err != nil {
		return err
	}
	// Read again now that the manager is dead: nothing writes
	// OrderPayments until the next one starts.
	rec, attempts, err := k.atKill(ctx, aim)
	if err != nil {
		return err
	}
	rec.at = at
	k.kills = append(k.kills, rec)
	k.attempts = attempts
	k.mgr, err = k.startManager()
	return err
}

// atKill reads which payments the killed manager left Paying after an
// attempt of its own, which of those it had no answer for, and which BSS
// took; and every payment's attempts for the next manager.
func (k *payKiller) atKill(ctx context.Context, aim string) (payKill, map[string]int32, error) {
	rec := payKill{aim: aim}
	var list budgetv1alpha1.OrderPaymentList
	if err := k.e.k8s.List(ctx, &list); err != nil {
		return rec, nil, err
	}
	st, err := k.e.sim.State(ctx)
	if err != nil {
		return rec, nil, err
	}
	paid := payEntries(st)
	attempts := make(map[string]int32, len(list.Items))
	for _, op := range list.Items {
		key := op.Namespace + "/" + op.Name
		attempts[key] = op.Status.Attempts
		if finalPayment(op.Status.Phase) {
			rec.final++
		}
		if op.Status.Phase != budgetv1alpha1.PaymentPaying || op.Status.Attempts <= k.attempts[key] {
			continue
		}
		rec.inFlight = append(rec.inFlight, key)
		if sendingPayment(&op) {
			rec.sending = append(rec.sending, key)
		}
		if len(paid[op.Spec.OrderID]) > 0 {
			rec.applied = append(rec.applied, key)
		}
	}
	sort.Strings(rec.inFlight)
	sort.Strings(rec.sending)
	sort.Strings(rec.applied)
	return rec, attempts, nil
}

// sendingPayment reports a payment whose last pay call has no recorded
// answer: Ready still says what markPaying wrote before the call.
func sendingPayment(op *budgetv1alpha1.OrderPayment) bool {
	c := localenv.Ready(op.Status.Conditions)
	return c != nil && c.Reason == budgetv1alpha1.ReasonPaying && strings.HasPrefix(c.Message, "paying order ")
}

// landed counts the kills that found a pay call in flight, those that found
// one without a recorded answer, and those that found one BSS had taken.
func (k *payKiller) landed() (inFlight, sending, applied int) {
	for _, r := range k.kills {
		if len(r.inFlight) > 0 {
			inFlight++
		}
		if len(r.sending) > 0 {
			sending++
		}
		if len(r.applied) > 0 {
			applied++
		}
	}
	return inFlight, sending, applied
}

// paymentWatch follows every OrderPayment's phase and attempts through a
// watch on the API server, so that the killer sees a payment go Paying as
// it happens.
type paymentWatch struct {
	changed chan struct{}

	mu       sync.Mutex
	payments map[string]watchedPayment
	// nFinal counts transitions into Paid, Failed or Cancelled.
	nFinal int
}

type watchedPayment struct {
	phase    budgetv1alpha1.PaymentPhase
	attempts int32
	orderID  string
	// sending is set while the last pay call has no recorded answer.
	sending bool
}

// watchPayments starts the watch and waits for its first list.
func (e *env) watchPayments() *paymentWatch {
	e.t.Helper()
	w := &paymentWatch{changed: make(chan struct{}, 1), payments: map[string]watchedPayment{}}
	e.watch(&budgetv1alpha1.OrderPayment{}, w.observe)
	return w
}

func (w *paymentWatch) observe(obj any, deleted bool) {
	op, ok := obj.(*budgetv1alpha1.OrderPayment)
	if !ok {
		return
	}
	key := op.Namespace + "/" + op.Name
	w.mu.Lock()
	old, known := w.payments[key]
	if deleted {
		delete(w.payments, key)
	} else {
		w.payments[key] = watchedPayment{phase: op.Status.Phase, attempts: op.Status.Attempts, orderID: op.Spec.OrderID, sending: sendingPayment(op)}
		if (!known || !finalPayment(old.phase)) && finalPayment(op.Status.Phase) {
			w.nFinal++
		}
	}
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// count is the number of payments the watch sees.
func (w *paymentWatch) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.payments)
}

func (w *paymentWatch) final() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nFinal
}

// inFlight are the payments in phase Paying with more attempts than base
// records, by name.
func (w *paymentWatch) inFlight(base map[string]int32) map[string]watchedPayment {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]watchedPayment{}
	for key, p := range w.payments {
		if p.phase == budgetv1alpha1.PaymentPaying && p.attempts > base[key] {
			out[key] = p
		}
	}
	return out
}

// await returns when cond holds, checking it on every change the watch
// sees and every simPoll, or fails after timeout.
func (w *paymentWatch) await(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	return awaitChange(ctx, w.changed, timeout, what, cond)
}

// payCallCode finds the BSS code in a pay call's error as the manager logs
// it ("bss: PayOrders: HTTP 500 CBC.0999: ...").
var payCallCode = regexp.MustCompile(`HTTP (\d+)( [A-Z]+\.[0-9]+)?`)

// payCallAnswers counts the answers of the pay calls the managers logged
// ("order pay call"), by BSS code: ok, the code, "lost" for a connection
// closed without an answer. A call cut short by a kill is not logged.
func payCallAnswers(path string) (map[string]int, error) {
	f, err := os.Open(path) //nolint:gosec // G304: the test's own log
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		var line struct {
			Msg   string `json:"msg"`
			Error string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != "order pay call" {
			continue
		}
		switch m := payCallCode.FindStringSubmatch(line.Error); {
		case line.Error == "":
			out["ok"]++
		case strings.Contains(line.Error, "transport error"):
			out["lost"]++
		case m != nil && m[2] != "":
			out[strings.TrimSpace(m[2])]++
		case m != nil:
			out["HTTP "+m[1]]++
		default:
			out[line.Error]++
		}
	}
	return out, sc.Err()
}

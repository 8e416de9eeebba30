package probe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/probe"
)

func run(t *testing.T, ctx context.Context, opts probe.Options) (*probe.Report, string) {
	t.Helper()
	rep, err := probe.Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := probe.WriteText(&b, rep); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("report:\n%s", b.String())
		}
	})
	return rep, b.String()
}

func TestReadOnlyMakesNoWrite(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t, bsssim.Behaviour{}, "5.00")
	before := e.balances()
	rep, text := run(t, context.Background(), e.options(false))
	if n := e.writes.Load(); n != 0 {
		t.Errorf("read-only run sent %d POST requests", n)
	}
	if len(rep.Movements) != 0 || rep.Settlement != nil {
		t.Errorf("read-only run reports movements %v, settlement %v", rep.Movements, rep.Settlement)
	}
	if after := e.balances(); after != before {
		t.Errorf("balances changed: %+v → %+v", before, after)
	}
	if len(rep.Reads) != 18 {
		t.Errorf("got %d reads, want 18 (15 as the master, 2 as the sub-account, order details and a pending order's coupons and discounts included)", len(rep.Reads))
	}
	for _, rc := range rep.Reads {
		if rc.Operation == bss.OpListOrderCouponsByOrderID && !strings.Contains(rc.Detail, "type 1 sent as 301") {
			t.Errorf("the coupons of a pending order do not report the inferred PayOrders type: %q", rc.Detail)
		}
		if rc.Result != probe.ResultOK {
			t.Errorf("read %s %s: %s %s", rc.As, rc.Operation, rc.Result, rc.Detail)
		}
		if rc.IAMAction == "" || rc.Path == "" {
			t.Errorf("read %s has no IAM action or path", rc.Operation)
		}
	}
	q := rep.Questions
	for name, a := range map[string]probe.Answer{"a": q.RefusedTransIDs, "b": q.TransIDRetention.Answer, "c": q.TransferRecords} {
		if a.Answer != budgetv1alpha1.BehaviourUnknown || !strings.Contains(a.Reason, "--move-money") {
			t.Errorf("(%s) = %+v, want Unknown naming --move-money", name, a)
		}
	}
	if q.Reclaimable.Answer != budgetv1alpha1.ReclaimableFundedOnly {
		t.Errorf("(d) = %+v, want FundedOnly from reads alone", q.Reclaimable)
	}
	if rep.Clock.Verdict != "ok" || rep.Clock.Responses == 0 {
		t.Errorf("clock = %+v", rep.Clock)
	}
	if rep.RemoteAddr == "" || rep.Failed() {
		t.Errorf("remote %q, failed %t", rep.RemoteAddr, rep.Failed())
	}
	if !strings.Contains(text, "read-only: no money moved") || strings.Contains(text, bsssim.DefaultSecretKey) || strings.Contains(text, subSK) {
		t.Error("the text report lacks the mode or shows a secret key")
	}
}

func TestReclaimableUnknownWithoutEvidence(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		behaviour bsssim.Behaviour
		ownCash   string
		noSub     bool
		reason    string
	}{
		"no sub credentials":        {ownCash: "5.00", noSub: true, reason: "own credentials"},
		"total, no own money":       {behaviour: bsssim.Behaviour{Reclaimable: bsssim.ReclaimableTotal}, reason: "nothing shows"},
		"funded, no own money":      {reason: "nothing shows"},
		"total, own money included": {behaviour: bsssim.Behaviour{Reclaimable: bsssim.ReclaimableTotal}, ownCash: "5.00"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newSimEnv(t, c.behaviour, c.ownCash)
			opts := e.options(false)
			if c.noSub {
				opts.Sub = nil
			}
			rep, _ := run(t, context.Background(), opts)
			a := rep.Questions.Reclaimable
			if c.reason == "" {
				if a.Answer != budgetv1alpha1.ReclaimableTotalBalance {
					t.Errorf("answer %+v, want TotalBalance", a)
				}
				return
			}
			if a.Answer != budgetv1alpha1.BehaviourUnknown || !strings.Contains(a.Reason, c.reason) {
				t.Errorf("answer %+v, want Unknown with %q", a, c.reason)
			}
		})
	}
}

// TestDeniedReadsNameTheIAMAction signs as the sub-account where the master
// is expected: BSS refuses every enterprise API with 403 CBC.0151, and each
// refusal must name the IAM action of that API.
func TestDeniedReadsNameTheIAMAction(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t, bsssim.Behaviour{}, "")
	opts := e.options(false)
	opts.Master, opts.Sub = e.client(subAK, subSK, subID), nil
	rep, text := run(t, context.Background(), opts)
	denied := 0
	for _, rc := range rep.Reads {
		o, _ := probe.OperationByName(rc.Operation)
		if rc.Result != probe.ResultDenied {
			continue
		}
		denied++
		if rc.HTTPStatus != http.StatusForbidden || rc.Code != "CBC.0151" || !strings.Contains(rc.Advice, o.Action) {
			t.Errorf("%s: %+v, want 403 CBC.0151 naming %s", rc.Operation, rc, o.Action)
		}
		if !strings.Contains(text, "→ grant the IAM action "+o.Action) {
			t.Errorf("the text report does not name %s for %s", o.Action, rc.Operation)
		}
	}
	if denied < 5 || !rep.Failed() {
		t.Errorf("%d reads denied, failed %t; want the enterprise reads denied", denied, rep.Failed())
	}
}

// TestClockSkew runs with a local clock ahead of BSS's: 4 minutes is
// reported, 20 minutes makes every request rejected and the clock "over".
func TestClockSkew(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ahead   time.Duration
		verdict string
		result  string
	}{{4 * time.Minute, "ok", probe.ResultOK}, {6 * time.Minute, "warning", probe.ResultOK}, {20 * time.Minute, "over", probe.ResultRejected}} {
		t.Run(c.ahead.String(), func(t *testing.T) {
			t.Parallel()
			e := newSimEnv(t, bsssim.Behaviour{}, "")
			now := func() time.Time { return time.Now().Add(c.ahead) }
			hc := bss.DefaultHTTPClient(10 * time.Second)
			watch := &bss.ServerWatch{Next: hc.Transport, Now: now}
			hc.Transport = watch
			opts := probe.Options{Master: e.clientWith(bsssim.DefaultAccessKey, bsssim.DefaultSecretKey, bsssim.DefaultDomainID, hc, now),
				Endpoint: e.srv.URL, Watch: watch, Now: now, Sleep: e.sleep}
			rep, _ := run(t, context.Background(), opts)
			skew := -time.Duration(rep.Clock.Skew)
			if rep.Clock.Verdict != c.verdict || skew < c.ahead-2*time.Second || skew > c.ahead+2*time.Second {
				t.Errorf("clock %+v, want BSS %s behind, %s", rep.Clock, c.ahead, c.verdict)
			}
			if r := rep.Reads[0]; r.Result != c.result {
				t.Errorf("first read %+v, want %s", r, c.result)
			}
			if c.result == probe.ResultRejected && !strings.Contains(rep.Reads[0].Advice, "clock") {
				t.Errorf("a rejected read's advice does not mention the clock: %s", rep.Reads[0].Advice)
			}
		})
	}
}

// TestInterruptedRunReturnsEverything cancels the run during the
// retention waits: the answers seen so far stand, and every cent comes back.
func TestInterruptedRunReturnsEverything(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t, bsssim.Behaviour{TransIDRetention: bsssim.Duration(time.Hour)}, "5.00")
	before := e.balances()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var slept time.Duration
	hook := func(d time.Duration) {
		if slept += d; slept > 6*time.Minute { // after the check at 5m, before the one at 7m30s
			cancel()
		}
	}
	e.hook.Store(&hook)
	rep, _ := run(t, ctx, e.options(true))
	r := rep.Questions.TransIDRetention
	if r.Answer.Answer != probe.RetentionAtLeast || r.RememberedAtLeast == nil || time.Duration(*r.RememberedAtLeast) != 5*time.Minute ||
		!strings.Contains(r.Reason, "stopped") {
		t.Errorf("retention %+v, want at least 5m, stopped", r)
	}
	if rep.Questions.RefusedTransIDs.Answer != budgetv1alpha1.RefusedTransIDsReusable {
		t.Errorf("refused = %+v", rep.Questions.RefusedTransIDs)
	}
	if rep.Recommended.TransIDRetention == nil || rep.Recommended.TransIDRetention.Duration != 5*time.Minute {
		t.Errorf("recommended retention %v, want the measured 5m", rep.Recommended.TransIDRetention)
	}
	if !rep.Interrupted || !rep.Failed() {
		t.Errorf("interrupted %t, failed %t: an interrupted run must say so", rep.Interrupted, rep.Failed())
	}
	rep.Interrupted = false // the rest of the run must be clean
	checkSettledAndReads(t, e, rep, before)
}

// TestUnreturnedMoneyIsNamed makes BSS fail every request from the last
// retention wait on: the settlement cannot return the money and the report
// must say exactly how much, with the reclaim's trans_id.
func TestUnreturnedMoneyIsNamed(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t, bsssim.Behaviour{}, "5.00")
	before := e.balances()
	var slept time.Duration
	hook := func(d time.Duration) {
		if slept += d; slept >= 10*time.Minute {
			e.admin(http.MethodPost, "/_sim/faults", bsssim.Faults{ErrorRate: 1}, nil)
		}
	}
	e.hook.Store(&hook)
	rep, text := run(t, context.Background(), e.options(true))
	e.admin(http.MethodPost, "/_sim/faults", bsssim.Faults{}, nil)
	s := rep.Settlement
	want := money.MustParse("0.05") // (a)'s resend, the records' transfer and reclaim, four checks
	if s == nil || s.Complete || s.NotReturned != want || len(s.Problems) != 1 || !rep.Failed() {
		t.Fatalf("settlement %+v, want 0.05 not returned and one problem", s)
	}
	ret := rep.Movements[len(rep.Movements)-1]
	if ret.Question != "settlement" || !strings.Contains(s.Problems[0], ret.TransID) || !strings.Contains(text, "0.05 NOT returned") {
		t.Errorf("the problem %q does not name the reclaim %s", s.Problems[0], ret.TransID)
	}
	after := e.balances()
	if after.subReclaimable.Sub(before.subReclaimable) != want || before.masterCash.Sub(after.masterCash) != want {
		t.Errorf("balances %+v → %+v: the sub-account should hold exactly the 0.05 reported", before, after)
	}
	e.checkClean()
}

// balanceFirst is a BSS that checks the balance before the trans_id: a
// transfer above the transferable cash is refused even with a known
// trans_id.
type balanceFirst struct{ probe.API }

func (b balanceFirst) TransferAmount(ctx context.Context, req bss.AmountTransferRequest) error {
	resp, err := b.GetTransferableAmount(ctx, bss.TransferableAmountRequest{BalanceType: bss.BalanceTypeDebit})
	if err != nil {
		return err
	}
	if len(resp.Amounts) == 1 && req.Amount.Cmp(resp.Amounts[0].Available) > 0 {
		return &bss.Error{Operation: bss.OpUpdateSubEnterpriseAmount, HTTPStatus: http.StatusBadRequest, Code: bss.CodeInsufficientBalance, Message: "insufficient balance"}
	}
	return b.API.TransferAmount(ctx, req)
}

// TestRetentionByCentsWhenBalanceIsCheckedFirst: against a BSS that checks
// the balance first the calibration chooses the cent method, a forgotten
// trans_id moves 0.01 again, and the settlement returns that too.
func TestRetentionByCentsWhenBalanceIsCheckedFirst(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t, bsssim.Behaviour{TransIDRetention: bsssim.Duration(3 * time.Minute)}, "5.00")
	before := e.balances()
	opts := e.options(true)
	opts.Master = balanceFirst{opts.Master}
	rep, _ := run(t, context.Background(), opts)
	r := rep.Questions.TransIDRetention
	if r.Method != probe.MethodCent || r.Answer.Answer != probe.RetentionForgotten || time.Duration(*r.RememberedAtLeast) != 150*time.Second {
		t.Errorf("retention %+v, want the cent method, forgotten after 2m30s", r)
	}
	if rep.Questions.RefusedTransIDs.Answer != budgetv1alpha1.RefusedTransIDsReusable {
		t.Errorf("refused %+v", rep.Questions.RefusedTransIDs)
	}
	// (a)'s resend, four checks' transfers and the forgotten one applied
	// again. (The simulator's /_sim/check reports that trans_id as applied
	// twice: with this method that is what a forgotten trans_id does.)
	if s := rep.Settlement; s == nil || !s.Complete || s.MovedToSub != money.MustParse("0.06") {
		t.Errorf("settlement %+v, want 0.06 returned", s)
	}
	if after := e.balances(); after != before {
		t.Errorf("balances %+v → %+v", before, after)
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]probe.Options{
		"no master":        {},
		"move without sub": {Master: balanceFirst{}, MoveMoney: true},
		"too many checks":  {Master: balanceFirst{}, RetentionChecks: probe.MaxRetentionChecks + 1},
	} {
		if _, err := probe.Run(context.Background(), o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestJSONReport(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t, bsssim.Behaviour{}, "5.00")
	rep, _ := run(t, context.Background(), e.options(false))
	var b bytes.Buffer
	if err := probe.WriteJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	var back probe.Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Questions.Reclaimable.Answer != budgetv1alpha1.ReclaimableFundedOnly || len(back.Reads) != len(rep.Reads) ||
		back.Recommended.Reclaimable != budgetv1alpha1.ReclaimableFundedOnly || back.Clock.Limit != probe.Duration(15*time.Minute) {
		t.Errorf("JSON round trip: %s", b.String())
	}
	if strings.Contains(b.String(), bsssim.DefaultSecretKey) || strings.Contains(b.String(), subSK) {
		t.Error("the JSON report contains a secret key")
	}
}

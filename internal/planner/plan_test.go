package planner

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

var t0 = time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)

func amt(s string) money.Amount        { return money.MustParse(s) }
func ptr(a money.Amount) *money.Amount { return &a }

func tr(seq int64, op budgetv1alpha1.TransferOperation, a string, phase budgetv1alpha1.TransferPhase) Entry {
	e := Entry{Name: "t", Sequence: seq, Operation: op, Phase: phase, Created: t0.Add(time.Duration(seq) * time.Minute)}
	if a != "" {
		e.Amount = amt(a)
	}
	if phase == budgetv1alpha1.PhaseFailed || phase == budgetv1alpha1.PhaseSucceeded {
		e.Completed = e.Created.Add(time.Second)
	}
	return e
}

func coupon(seq int64, op budgetv1alpha1.TransferOperation, id, sub, a string, phase budgetv1alpha1.TransferPhase) Entry {
	e := tr(seq, op, a, phase)
	e.CouponID, e.SubCouponID = id, sub
	return e
}

const (
	xfer  = budgetv1alpha1.OperationTransfer
	recl  = budgetv1alpha1.OperationReclaim
	cxfer = budgetv1alpha1.OperationCouponTransfer
	crecl = budgetv1alpha1.OperationCouponReclaim
	ok    = budgetv1alpha1.PhaseSucceeded
	fail  = budgetv1alpha1.PhaseFailed
	subm  = budgetv1alpha1.PhaseSubmitting
)

func TestSummarize(t *testing.T) {
	l := Summarize([]Entry{
		tr(3, recl, "30", ok),
		tr(1, xfer, "100", ok),
		tr(2, xfer, "50", fail),
		coupon(4, cxfer, "C1", "S1", "20", ok),
		coupon(5, cxfer, "C2", "S2", "10", ok),
		coupon(6, crecl, "C2", "S2", "", ok),
		tr(7, xfer, "5", fail),
		tr(8, xfer, "5", subm),
	}, "")
	if got, want := l.Granted, amt("70"); got != want {
		t.Errorf("Granted = %s, want %s", got, want)
	}
	if l.InFlight == nil || l.InFlight.Sequence != 8 || l.Pending() != amt("5") {
		t.Errorf("InFlight = %+v", l.InFlight)
	}
	if l.NextSequence != 9 || l.Last.Sequence != 8 {
		t.Errorf("NextSequence = %d, Last = %d", l.NextSequence, l.Last.Sequence)
	}
	if diff := cmp.Diff(map[string]CouponGrant{"C1": {CouponID: "C1", SubCouponID: "S1", Amount: amt("20")}}, l.Grants); diff != "" {
		t.Errorf("Grants (-want +got):\n%s", diff)
	}
	if l.ConsecutiveFailures != 1 || l.LastFailure.Sequence != 7 {
		t.Errorf("failures = %d, last = %+v", l.ConsecutiveFailures, l.LastFailure)
	}
	if got := (Ledger{}).Pending(); !got.IsZero() {
		t.Errorf("empty Pending = %s", got)
	}
	reclaimInFlight := Summarize([]Entry{tr(1, recl, "7", budgetv1alpha1.PhasePending)}, "")
	if reclaimInFlight.Pending() != amt("7").Neg() {
		t.Errorf("reclaim Pending = %s", reclaimInFlight.Pending())
	}
	used := Summarize([]Entry{tr(1, xfer, "10", ok), tr(2, xfer, "5", fail), tr(3, recl, "1", ok), tr(4, xfer, "3", subm)}, "").
		TopUpUsed("2026-11", func(time.Time) string { return "2026-11" })
	if used != amt("13") {
		t.Errorf("TopUpUsed = %s, want 13.00", used)
	}
}

func TestPlan(t *testing.T) {
	cash := func(s string) Balance { return Balance{Known: true, Amount: amt(s)} }
	headroom := amt("50")
	cases := []struct {
		name    string
		d       Desired
		ledger  []Entry
		o       Observed
		retryAt time.Time
		want    Decision
	}{
		{
			name: "fund from nothing",
			d:    Desired{Amount: ptr(amt("100"))},
			o:    Observed{MasterCash: cash("1000")},
			want: Decision{Action: ActionCreate, Operation: xfer, Amount: amt("100"), Reason: budgetv1alpha1.ReasonTransferInProgress, Message: "transferring 100.00", Desired: amt("100")},
		},
		{
			name:   "raise transfers the difference",
			d:      Desired{Amount: ptr(amt("150"))},
			ledger: []Entry{tr(1, xfer, "100", ok)},
			o:      Observed{MasterCash: cash("1000")},
			want:   Decision{Action: ActionCreate, Operation: xfer, Amount: amt("50"), Reason: budgetv1alpha1.ReasonTransferInProgress, Message: "transferring 50.00", Desired: amt("150")},
		},
		{
			name:   "lower reclaims the difference",
			d:      Desired{Amount: ptr(amt("60"))},
			ledger: []Entry{tr(1, xfer, "100", ok)},
			o:      Observed{SubBalance: cash("500"), MasterCash: cash("0")},
			want:   Decision{Action: ActionCreate, Operation: recl, Amount: amt("40"), Reason: budgetv1alpha1.ReasonTransferInProgress, Message: "reclaiming 40.00", Desired: amt("60")},
		},
		{
			name:   "reclaim capped by what is reclaimable",
			d:      Desired{Amount: ptr(amt("0"))},
			ledger: []Entry{tr(1, xfer, "100", ok)},
			o:      Observed{SubBalance: cash("30")},
			want:   Decision{Action: ActionCreate, Operation: recl, Amount: amt("30"), Reason: budgetv1alpha1.ReasonTransferInProgress, Message: "reclaiming 30.00", Desired: amt("0")},
		},
		{
			name:   "nothing reclaimable blocks a lowered amount",
			d:      Desired{Amount: ptr(amt("0"))},
			ledger: []Entry{tr(1, xfer, "100", ok), tr(2, recl, "30", ok)},
			o:      Observed{SubBalance: cash("0")},
			want: Decision{Action: ActionBlocked, Reason: budgetv1alpha1.ReasonReclaimBlocked, Desired: amt("0"),
				Message: "70.00 more should be reclaimed but the sub-account has nothing reclaimable (it has spent it)"},
		},
		{
			name:   "reclaim waits for the sub-account balance",
			d:      Desired{Amount: ptr(amt("0"))},
			ledger: []Entry{tr(1, xfer, "100", ok)},
			want:   Decision{Action: ActionWait, Reason: budgetv1alpha1.ReasonProgressing, Message: "reading the sub-account's reclaimable balance", Operation: recl, Amount: amt("100"), Desired: amt("0")},
		},
		{
			name:   "settled",
			d:      Desired{Amount: ptr(amt("100"))},
			ledger: []Entry{tr(1, xfer, "100", ok)},
			want:   Decision{Action: ActionNone, Reason: budgetv1alpha1.ReasonReady, Message: "granted 100.00 as desired", Desired: amt("100")},
		},
		{
			name:   "one transfer in flight at a time",
			d:      Desired{Amount: ptr(amt("200"))},
			ledger: []Entry{tr(1, xfer, "100", subm)},
			o:      Observed{MasterCash: cash("1000")},
			want:   Decision{Action: ActionWait, Reason: budgetv1alpha1.ReasonTransferInProgress, Message: "Transfer t is Submitting", Desired: amt("200")},
		},
		{
			name:    "backoff after a failure",
			d:       Desired{Amount: ptr(amt("100"))},
			ledger:  []Entry{func() Entry { e := tr(1, xfer, "100", fail); e.ErrorCode = "CBC.99005003"; return e }()},
			o:       Observed{MasterCash: cash("1000")},
			retryAt: t0.Add(time.Hour),
			want: Decision{Action: ActionWait, Reason: budgetv1alpha1.ReasonTransferFailed, RetryAt: t0.Add(time.Hour), Desired: amt("100"),
				Message: "Transfer t failed with CBC.99005003; 1 failure(s) in a row, next attempt at 2026-11-27T05:00:00Z"},
		},
		{
			name:    "retry after the backoff",
			d:       Desired{Amount: ptr(amt("100"))},
			ledger:  []Entry{tr(1, xfer, "100", fail)},
			o:       Observed{MasterCash: cash("1000")},
			retryAt: t0.Add(-time.Second),
			want:    Decision{Action: ActionCreate, Operation: xfer, Amount: amt("100"), Reason: budgetv1alpha1.ReasonTransferInProgress, Message: "transferring 100.00", Desired: amt("100")},
		},
		{
			name: "insufficient funds creates nothing",
			d:    Desired{Amount: ptr(amt("100"))},
			o:    Observed{MasterCash: cash("99.99")},
			want: Decision{Action: ActionBlocked, Reason: budgetv1alpha1.ReasonInsufficientFunds, NeedsFreshMaster: true, Desired: amt("100"),
				Message: "the master has 99.99 transferable cash; 100.00 is needed"},
		},
		{
			name: "funding limit",
			d:    Desired{Amount: ptr(amt("100"))},
			o:    Observed{MasterCash: cash("1000"), FundingHeadroom: &headroom},
			want: Decision{Action: ActionBlocked, Reason: budgetv1alpha1.ReasonFundingLimitExceeded, Desired: amt("100"),
				Message: "transferring 100.00 would exceed the SubAccount's fundingLimit: only 50.00 is left under it"},
		},
		{
			name: "credit prefers a ledger that never expires",
			d:    Desired{Amount: ptr(amt("100")), Credit: true},
			o: Observed{MasterCredit: []CreditLedger{
				{Available: amt("500"), ExpireTime: "2027-12-31T16:00:00Z"}, {Available: amt("100")}, {Available: amt("50")},
			}},
			want: Decision{Action: ActionCreate, Operation: xfer, Amount: amt("100"), Credit: true, Reason: budgetv1alpha1.ReasonTransferInProgress, Message: "transferring 100.00 of credit", Desired: amt("100")},
		},
		{
			name: "credit else takes the latest expiry that covers it",
			d:    Desired{Amount: ptr(amt("100")), Credit: true},
			o: Observed{MasterCredit: []CreditLedger{
				{Available: amt("500"), ExpireTime: "2027-03-28T14:45:38Z"}, {Available: amt("500"), ExpireTime: "2027-12-31T16:00:00Z"},
				{Available: amt("10")}, {Available: amt("90"), ExpireTime: "2028-01-01T00:00:00Z"},
			}},
			want: Decision{Action: ActionCreate, Operation: xfer, Amount: amt("100"), ExpireTime: "2027-12-31T16:00:00Z", Credit: true, Reason: budgetv1alpha1.ReasonTransferInProgress, Message: "transferring 100.00 of credit", Desired: amt("100")},
		},
		{
			name: "no credit ledger covers it",
			d:    Desired{Amount: ptr(amt("100")), Credit: true},
			o:    Observed{MasterCredit: []CreditLedger{{Available: amt("99")}}},
			want: Decision{Action: ActionBlocked, Reason: budgetv1alpha1.ReasonInsufficientFunds, NeedsFreshMaster: true, Desired: amt("100"), Message: "no credit ledger of the master can cover 100.00"},
		},
		{
			name:   "credit reclaim from the matching sub ledger, capped by the largest",
			d:      Desired{Amount: ptr(amt("0")), Credit: true},
			ledger: []Entry{tr(1, xfer, "100", ok)},
			o:      Observed{SubBalance: cash("80"), SubCredit: []CreditLedger{{Available: amt("60"), ExpireTime: "2027-01-01T00:00:00Z"}, {Available: amt("20")}}},
			want:   Decision{Action: ActionCreate, Operation: recl, Amount: amt("60"), ExpireTime: "2027-01-01T00:00:00Z", Credit: true, Reason: budgetv1alpha1.ReasonTransferInProgress, Message: "reclaiming 60.00", Desired: amt("0")},
		},
		{
			name: "coupon grant after the money",
			d:    Desired{Amount: ptr(amt("100")), Coupons: map[string]money.Amount{"C2": amt("5"), "C1": amt("20")}},
			ledger: []Entry{
				tr(1, xfer, "100", ok),
			},
			o:    Observed{MasterCoupons: map[string]money.Amount{"C1": amt("100"), "C2": amt("100")}},
			want: Decision{Action: ActionCreate, Operation: cxfer, CouponID: "C1", Amount: amt("20"), Reason: budgetv1alpha1.ReasonTransferInProgress, Message: "carving 20.00 out of coupon C1", Desired: amt("100")},
		},
		{
			name:   "coupon unavailable",
			d:      Desired{Amount: ptr(amt("0")), Coupons: map[string]money.Amount{"C1": amt("20")}},
			o:      Observed{MasterCoupons: map[string]money.Amount{"C1": amt("10")}},
			want:   Decision{Action: ActionBlocked, Reason: budgetv1alpha1.ReasonCouponUnavailable, Desired: amt("0"), Message: "master coupon C1 has 10.00 left; 20.00 is needed"},
			ledger: nil,
		},
		{
			name:   "coupon removed from the spec is reclaimed",
			d:      Desired{Amount: ptr(amt("0"))},
			ledger: []Entry{coupon(1, cxfer, "C1", "S1", "20", ok)},
			want: Decision{Action: ActionCreate, Operation: crecl, CouponID: "C1", SubCouponID: "S1", Reason: budgetv1alpha1.ReasonTransferInProgress,
				Message: "reclaiming sub-coupon S1 of coupon C1", Desired: amt("0")},
		},
		{
			name:   "coupon amount changed: reclaim then grant again",
			d:      Desired{Amount: ptr(amt("0")), Coupons: map[string]money.Amount{"C1": amt("30")}},
			ledger: []Entry{coupon(1, cxfer, "C1", "S1", "20", ok)},
			want: Decision{Action: ActionCreate, Operation: crecl, CouponID: "C1", SubCouponID: "S1", Reason: budgetv1alpha1.ReasonTransferInProgress,
				Message: "reclaiming sub-coupon S1 of coupon C1", Desired: amt("0")},
		},
		{
			name:   "coupon held as desired",
			d:      Desired{Amount: ptr(amt("0")), Coupons: map[string]money.Amount{"C1": amt("20")}},
			ledger: []Entry{coupon(1, cxfer, "C1", "S1", "20", ok), coupon(2, crecl, "C1", "S0", "", ok)},
			want:   Decision{Action: ActionNone, Reason: budgetv1alpha1.ReasonReady, Message: "granted 0.00 as desired", Desired: amt("0")},
		},
		{
			name:   "deleting reclaims money first",
			d:      Desired{Amount: ptr(amt("100")), Deleting: true, Coupons: map[string]money.Amount{"C1": amt("20")}},
			ledger: []Entry{tr(1, xfer, "100", ok), coupon(2, cxfer, "C1", "S1", "20", ok)},
			o:      Observed{SubBalance: cash("1000")},
			want:   Decision{Action: ActionCreate, Operation: recl, Amount: amt("100"), Reason: budgetv1alpha1.ReasonTransferInProgress, Message: "reclaiming 100.00", Desired: amt("0")},
		},
		{
			name:   "deleting with nothing reclaimable goes on to the coupons",
			d:      Desired{Amount: ptr(amt("100")), Deleting: true, Coupons: map[string]money.Amount{"C1": amt("20")}},
			ledger: []Entry{tr(1, xfer, "100", ok), coupon(2, cxfer, "C1", "S1", "20", ok)},
			o:      Observed{SubBalance: cash("0")},
			want: Decision{Action: ActionCreate, Operation: crecl, CouponID: "C1", SubCouponID: "S1", Reason: budgetv1alpha1.ReasonTransferInProgress,
				Message: "reclaiming sub-coupon S1 of coupon C1", Desired: amt("0")},
		},
		{
			name:   "deleting done",
			d:      Desired{Amount: ptr(amt("100")), Deleting: true},
			ledger: []Entry{tr(1, xfer, "100", ok), tr(2, recl, "40", ok)},
			o:      Observed{SubBalance: cash("0")},
			want:   Decision{Action: ActionNone, Reason: budgetv1alpha1.ReasonReady, Message: "everything reclaimable has been reclaimed", Desired: amt("0")},
		},
		{
			name: "top-up below the minimum tops up to the target",
			d:    Desired{TopUp: &TopUp{Minimum: amt("100"), Target: amt("300"), MonthlyLimit: amt("1000")}},
			o:    Observed{SubBalance: cash("40"), MasterCash: cash("1000")},
			want: Decision{Action: ActionCreate, Operation: xfer, Amount: amt("260"), Reason: budgetv1alpha1.ReasonTransferInProgress, Message: "transferring 260.00", Desired: amt("260")},
		},
		{
			name:   "top-up capped by the monthly limit",
			d:      Desired{TopUp: &TopUp{Minimum: amt("100"), Target: amt("300"), MonthlyLimit: amt("1000"), Used: amt("900")}},
			ledger: []Entry{tr(1, xfer, "900", ok)},
			o:      Observed{SubBalance: cash("40"), MasterCash: cash("1000")},
			want:   Decision{Action: ActionCreate, Operation: xfer, Amount: amt("100"), Reason: budgetv1alpha1.ReasonTransferInProgress, Message: "transferring 100.00", Desired: amt("1000")},
		},
		{
			name:   "top-up limit used up",
			d:      Desired{TopUp: &TopUp{Minimum: amt("100"), Target: amt("300"), MonthlyLimit: amt("1000"), Used: amt("1000")}},
			ledger: []Entry{tr(1, xfer, "1000", ok)},
			o:      Observed{SubBalance: cash("40"), MasterCash: cash("1000")},
			want: Decision{Action: ActionNone, Reason: budgetv1alpha1.ReasonReady, Desired: amt("1000"),
				Message: "balance 40.00 is below the minimum 100.00 but the monthly limit 1000.00 is used up"},
		},
		{
			name: "top-up not needed",
			d:    Desired{TopUp: &TopUp{Minimum: amt("100"), Target: amt("300"), MonthlyLimit: amt("1000")}},
			o:    Observed{SubBalance: cash("100")},
			want: Decision{Action: ActionNone, Reason: budgetv1alpha1.ReasonReady, Desired: amt("0"),
				Message: "balance 100.00 is at or above the minimum 100.00; 0.00 of 1000.00 topped up this cycle"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Plan(tc.d, Summarize(tc.ledger, ""), tc.o, t0, tc.retryAt)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Plan (-want +got):\n%s", diff)
			}
		})
	}
}

func forCustomer(e Entry, customer string) Entry {
	e.CustomerID = customer
	return e
}

func TestSummarizeCountsGrantsPerCustomer(t *testing.T) {
	entries := []Entry{
		forCustomer(tr(1, xfer, "800", ok), "cust-c"),
		forCustomer(coupon(2, cxfer, "C1", "S1", "20", ok), "cust-c"),
		forCustomer(tr(3, xfer, "100", ok), "cust-d"),
		forCustomer(tr(4, recl, "30", ok), "cust-c"),
		forCustomer(tr(5, xfer, "5", subm), "cust-c"),
	}
	d := Summarize(entries, "cust-d")
	if d.Granted != amt("100") || len(d.Grants) != 0 {
		t.Errorf("cust-d: Granted %s, Grants %v; want 100.00 and none", d.Granted, d.Grants)
	}
	want := map[string]Holding{"cust-c": {CustomerID: "cust-c", Granted: amt("770"), Cash: amt("770"),
		Grants: map[string]CouponGrant{"C1": {CouponID: "C1", SubCouponID: "S1", Amount: amt("20")}}}}
	if diff := cmp.Diff(want, d.Others); diff != "" {
		t.Errorf("Others (-want +got):\n%s", diff)
	}
	// The transfer in flight is the allocation's, whoever it is for; its
	// amount is pending only for its own customer.
	if d.InFlight == nil || d.InFlight.Sequence != 5 || !d.Pending().IsZero() || d.NextSequence != 6 {
		t.Errorf("cust-d: InFlight %+v, Pending %s, NextSequence %d", d.InFlight, d.Pending(), d.NextSequence)
	}
	c := d.For("cust-c")
	if c.Granted != amt("770") || c.Pending() != amt("5") || len(c.Others) != 1 || c.Others["cust-d"].Granted != amt("100") {
		t.Errorf("cust-c: Granted %s, Pending %s, Others %v", c.Granted, c.Pending(), c.Others)
	}
	// A customer whose grants were all reclaimed is no longer held.
	settled := Summarize([]Entry{forCustomer(tr(1, xfer, "10", ok), "cust-c"), forCustomer(tr(2, recl, "10", ok), "cust-c")}, "cust-d")
	if len(settled.Others) != 0 {
		t.Errorf("settled customer still held: %v", settled.Others)
	}
}

func TestDenialIsNotAFailureAndSticks(t *testing.T) {
	denied := tr(2, xfer, "400", fail)
	denied.Reason, denied.Generation, denied.ApprovalLimit, denied.Note = budgetv1alpha1.ReasonDenied, 3, "100.00", "not this month"
	withdrawn := tr(3, xfer, "400", fail)
	withdrawn.Reason = budgetv1alpha1.ReasonWithdrawn
	l := Summarize([]Entry{tr(1, xfer, "100", ok), denied, withdrawn}, "")
	if l.ConsecutiveFailures != 0 || l.LastFailure != nil || l.Denied == nil || l.Denied.Sequence != 2 {
		t.Fatalf("failures %d, last %+v, denied %+v", l.ConsecutiveFailures, l.LastFailure, l.Denied)
	}
	master := Observed{MasterCash: Balance{Known: true, Amount: amt("10000")}}
	d := Desired{Amount: ptr(amt("500")), Generation: 3, ApprovalLimit: "100.00"}
	got := Plan(d, l, master, t0, time.Time{})
	want := Decision{Action: ActionBlocked, Reason: budgetv1alpha1.ReasonDenied, Desired: amt("500"),
		Message: "Transfer t was denied by an approver (not this month); it is not asked for again until the allocation's spec or the approval limit changes"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("same spec and limit (-want +got):\n%s", diff)
	}
	for name, changed := range map[string]Desired{
		"spec changed":  {Amount: ptr(amt("500")), Generation: 4, ApprovalLimit: "100.00"},
		"limit changed": {Amount: ptr(amt("500")), Generation: 3, ApprovalLimit: "1000.00"},
	} {
		if got := Plan(changed, l, master, t0, time.Time{}); got.Action != ActionCreate || got.Amount != amt("400") {
			t.Errorf("%s: %+v, want a new transfer of 400.00", name, got)
		}
	}
	// A denied transfer does not hold back a different movement.
	lower := Desired{Amount: ptr(amt("50")), Generation: 3, ApprovalLimit: "100.00"}
	sub := master
	sub.SubBalance = Balance{Known: true, Amount: amt("100")}
	if got := Plan(lower, l, sub, t0, time.Time{}); got.Action != ActionCreate || got.Operation != recl {
		t.Errorf("reclaim after a denied transfer: %+v", got)
	}
}

func TestCouponTheMasterDoesNotHave(t *testing.T) {
	d := Desired{Coupons: map[string]money.Amount{"CP-NONE": amt("5")}}
	got := Plan(d, Summarize(nil, ""), Observed{MasterCoupons: map[string]money.Amount{"CP-OTHER": amt("50")}}, t0, time.Time{})
	if got.Reason != budgetv1alpha1.ReasonCouponUnavailable || !strings.Contains(got.Message, "has no transferable coupon CP-NONE") {
		t.Errorf("got %+v", got)
	}
}

package planner

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/billcycle"
)

// randomLedger is a plausible history: movements one at a time, some
// failed, credit and coupons, two customers, spread over three bill cycles,
// the newest possibly still in flight.
func randomLedger(r *rand.Rand, n int) []Entry {
	var es []Entry
	subs := 0
	for seq := int64(1); seq <= int64(n); seq++ {
		ops := []budgetv1alpha1.TransferOperation{xfer, xfer, recl, cxfer, crecl}
		op := ops[r.IntN(len(ops))]
		e := tr(seq, op, []string{"10", "2.5", "7.05"}[r.IntN(3)], ok)
		e.Created = t0.Add(time.Duration(seq) * 9 * 24 * time.Hour / time.Duration(n))
		e.CustomerID = []string{"cust-a", "cust-a", "cust-b"}[r.IntN(3)]
		if r.IntN(4) == 0 {
			e.Phase, e.Reason = fail, budgetv1alpha1.ReasonTransferFailed
		}
		if r.IntN(3) == 0 && (op == xfer || op == recl) {
			e.Credit, e.ExpireTime = true, []string{"", "2027-01-01T00:00:00Z"}[r.IntN(2)]
		}
		if op == cxfer || op == crecl {
			subs++
			e.CouponID, e.SubCouponID = []string{"C1", "C2"}[r.IntN(2)], []string{"S1", "S2", "S3"}[r.IntN(3)]
		}
		es = append(es, e)
	}
	if len(es) > 0 && r.IntN(2) == 0 {
		es[len(es)-1].Phase = subm
	}
	return es
}

// comparable is what the planner reads from a ledger.
func comparable(l Ledger, now time.Time) map[string]any {
	out := map[string]any{
		"granted": l.Granted.String(), "grants": l.Grants, "next": l.NextSequence,
		"failures": l.ConsecutiveFailures, "topUpUsed": l.TopUpUsed(billcycle.Of(now), billcycle.Of).String(),
	}
	others := map[string]string{}
	for id, h := range l.Others {
		others[id] = h.Granted.String()
	}
	out["others"] = others
	if l.InFlight != nil {
		out["inFlight"] = l.InFlight.Sequence
	}
	return out
}

// TestCheckpointCountsEverythingOnce folds every prefix of random ledgers
// into a checkpoint, round-trips it through status.checkpoint, and
// summarises it with the transfers that remain — with and without the
// folded ones still present (a crash between the checkpoint's write and
// their deletion): the planner must read the same ledger as from the whole
// history.
func TestCheckpointCountsEverythingOnce(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 16))
	now := t0.Add(9 * 24 * time.Hour)
	for run := 0; run < 300; run++ {
		es := randomLedger(r, 1+r.IntN(30))
		for _, customer := range []string{"cust-a", "cust-b"} {
			want := comparable(Summarize(es, customer), now)
			for k := 0; k <= len(es); k++ {
				cp, _ := Fold(nil, es[:k], billcycle.Of)
				back, err := CheckpointOf(cp.API())
				if err != nil {
					t.Fatal(err)
				}
				// Transfers the checkpoint folded are gone; failed ones
				// are kept (they are pruned apart), later ones are live.
				var live []Entry
				for _, e := range es {
					if !back.Folded(e) {
						live = append(live, e)
					}
				}
				for name, rest := range map[string][]Entry{"deleted": live, "kept": es} {
					got := comparable(SummarizeFrom(back, rest, customer), now)
					if diff := cmp.Diff(want, got); diff != "" {
						t.Fatalf("run %d, customer %s, folded %d (%s): ledger differs (-whole +checkpoint):\n%s", run, customer, k, name, diff)
					}
				}
			}
		}
	}
}

// TestFoldStopsAtTheFirstOpenTransfer: nothing after a transfer in flight
// is folded, so that it cannot later succeed below the checkpoint.
func TestFoldStopsAtTheFirstOpenTransfer(t *testing.T) {
	es := []Entry{tr(1, xfer, "10", ok), tr(2, xfer, "5", subm), tr(3, xfer, "1", ok)}
	cp, n := Fold(nil, es, billcycle.Of)
	if n != 1 || cp.Sequence != 1 {
		t.Fatalf("folded %d up to %d; want 1 up to 1", n, cp.Sequence)
	}
	again, n := Fold(cp, es, billcycle.Of)
	if n != 0 || again.Sequence != 1 || again.Holdings[""].Granted != amt("10") {
		t.Fatalf("folding again: %d entries, sequence %d, %+v", n, again.Sequence, again.Holdings)
	}
	es[1].Phase = ok
	cp, n = Fold(cp, es, billcycle.Of)
	if n != 2 || cp.Sequence != 3 || cp.Holdings[""].Granted != amt("16") || cp.Transfers != 3 {
		t.Fatalf("after it settled: %d folded up to %d, %+v", n, cp.Sequence, cp.Holdings)
	}
}

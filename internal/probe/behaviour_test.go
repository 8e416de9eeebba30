package probe_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/probe"
)

// expected is what the probe must report for one simulator behaviour.
type expected struct {
	refused, records, reclaimable string
	retention                     string        // probe.RetentionAtLeast or probe.RetentionForgotten
	lowerBound                    time.Duration // RememberedAtLeast, and the recommended transIDRetention
}

// TestProbeAnswersEveryBehaviour runs the probe with --move-money against
// the simulator under each of the 2×2×3×2 combinations of its behaviour
// switches and checks every answer, the recommendation, that every cent
// came back and that the simulator's ledger is consistent.
func TestProbeAnswersEveryBehaviour(t *testing.T) {
	refused := map[string]string{bsssim.RefusedReusable: budgetv1alpha1.RefusedTransIDsReusable, bsssim.RefusedBurned: budgetv1alpha1.RefusedTransIDsBurned}
	records := map[string]string{bsssim.RecordsTransID: budgetv1alpha1.RecordsWithTransID, bsssim.RecordsOwnID: budgetv1alpha1.RecordsWithoutTransID, bsssim.RecordsNone: budgetv1alpha1.RecordsNone}
	reclaimable := map[string]string{bsssim.ReclaimableFunded: budgetv1alpha1.ReclaimableFundedOnly, bsssim.ReclaimableTotal: budgetv1alpha1.ReclaimableTotalBalance}
	// The window is 10m with 4 checks (2m30s, 5m, 7m30s, 10m): a retention
	// of 3m is found remembered at 2m30s and forgotten by 5m.
	retention := map[time.Duration]expected{
		0:               {retention: probe.RetentionAtLeast, lowerBound: 10 * time.Minute},
		3 * time.Minute: {retention: probe.RetentionForgotten, lowerBound: 150 * time.Second},
	}
	for _, rf := range []string{bsssim.RefusedReusable, bsssim.RefusedBurned} {
		for _, ret := range []time.Duration{0, 3 * time.Minute} {
			for _, rec := range []string{bsssim.RecordsTransID, bsssim.RecordsOwnID, bsssim.RecordsNone} {
				for _, rcl := range []string{bsssim.ReclaimableFunded, bsssim.ReclaimableTotal} {
					b := bsssim.Behaviour{RefusedTransIDs: rf, TransIDRetention: bsssim.Duration(ret), TransferRecords: rec, Reclaimable: rcl}
					want := retention[ret]
					want.refused, want.records, want.reclaimable = refused[rf], records[rec], reclaimable[rcl]
					t.Run(strings.ReplaceAll(b.String(), " ", ","), func(t *testing.T) {
						t.Parallel()
						probeBehaviour(t, b, want)
					})
				}
			}
		}
	}
}

func probeBehaviour(t *testing.T, b bsssim.Behaviour, want expected) {
	e := newSimEnv(t, b, "5.00")
	before := e.balances()
	rep, err := probe.Run(context.Background(), e.options(true))
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := probe.WriteText(&text, rep); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("report:\n%s", text.String())
		}
	}()
	q := rep.Questions
	check := func(name, got, want string) {
		if got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	check("refusedTransIDs", q.RefusedTransIDs.Answer, want.refused)
	check("transferRecords", q.TransferRecords.Answer, want.records)
	check("reclaimable", q.Reclaimable.Answer, want.reclaimable)
	check("transIDRetention", q.TransIDRetention.Answer.Answer, want.retention)
	check("retention method", q.TransIDRetention.Method, probe.MethodRefusal)
	if got := q.TransIDRetention.RememberedAtLeast; got == nil || time.Duration(*got) != want.lowerBound {
		t.Errorf("rememberedAtLeast = %v, want %s", got, want.lowerBound)
	}
	r := rep.Recommended
	check("recommended refusedTransIDs", r.RefusedTransIDs, want.refused)
	check("recommended transferRecords", r.TransferRecords, want.records)
	check("recommended reclaimable", r.Reclaimable, want.reclaimable)
	if r.TransIDRetention == nil || r.TransIDRetention.Duration != want.lowerBound {
		t.Errorf("recommended transIDRetention = %v, want %s", r.TransIDRetention, want.lowerBound)
	}
	checkSettledAndReads(t, e, rep, before)
	if !strings.Contains(text.String(), fmt.Sprintf("transIDRetention: %s", want.lowerBound)) {
		t.Errorf("the text report does not recommend transIDRetention: %s", want.lowerBound)
	}
}

// checkSettledAndReads checks that every read succeeded, that the probe
// says everything was returned, that the simulator agrees to the fen, and
// that its ledger is consistent.
func checkSettledAndReads(t *testing.T, e *simEnv, rep *probe.Report, before simBalances) {
	t.Helper()
	for _, rc := range rep.Reads {
		if rc.Result != probe.ResultOK && rc.Result != probe.ResultSkipped {
			t.Errorf("read %s %s (%s): %s %s", rc.As, rc.Operation, rc.Variant, rc.Result, rc.Detail)
		}
	}
	if s := rep.Settlement; s == nil || !s.Complete || !s.NotReturned.IsZero() {
		t.Errorf("settlement: %+v", s)
	}
	if rep.Failed() {
		t.Error("the report says the run failed")
	}
	if after := e.balances(); after != before {
		t.Errorf("balances: before %+v, after %+v", before, after)
	}
	e.checkClean()
}

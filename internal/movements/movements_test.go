package movements

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

var t0 = time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC)

func rec(id, tradeID, dir string, amount string, at time.Duration) Record {
	return Record{
		AccountChangeRecord: bss.AccountChangeRecord{AccountChangeID: id, TradeID: tradeID},
		Direction:           dir, BalanceType: budgetv1alpha1.BalanceTypeDebit, Time: t0.Add(at), Amount: money.MustParse(amount),
	}
}

func knownMove(transID, dir, amount string, from, to time.Duration) Known {
	return Known{TransID: transID, Direction: dir, BalanceType: budgetv1alpha1.BalanceTypeDebit, Amount: money.MustParse(amount), From: t0.Add(from), To: t0.Add(to)}
}

func ids(rs []Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.AccountChangeID)
	}
	return out
}

func TestExternal(t *testing.T) {
	in, out := budgetv1alpha1.MovementIn, budgetv1alpha1.MovementOut
	known := []Known{
		knownMove("t1", in, "100.00", 0, time.Minute),
		knownMove("t2", out, "50.00", time.Hour, time.Hour+time.Minute),
	}
	records := []Record{
		rec("r1", "t1", in, "100.00", 30*time.Second),               // the operator's, by trans_id
		rec("r2", "BSS-OWN-1", out, "50.00", time.Hour+time.Minute), // the operator's reclaim, by amount and time
		rec("r3", "BSS-OWN-2", in, "100.00", 2*time.Hour),           // same amount as t1, long after: external
		rec("r4", "x-console", in, "700.00", 3*time.Hour),           // external
	}
	for _, c := range []struct {
		behaviour string
		want      []string
	}{
		{budgetv1alpha1.RecordsWithTransID, []string{"r2", "r3", "r4"}},
		{budgetv1alpha1.RecordsWithoutTransID, []string{"r3", "r4"}},
		{budgetv1alpha1.BehaviourUnknown, []string{"r3", "r4"}},
	} {
		if got := ids(External(records, known, c.behaviour)); len(got) != len(c.want) || got[0] != c.want[0] || got[len(got)-1] != c.want[len(c.want)-1] {
			t.Errorf("%s: external %v, want %v", c.behaviour, got, c.want)
		}
	}
	// One movement accounts for one record: a second record of the same
	// amount in its window is external.
	twice := []Record{rec("a", "own-1", in, "100.00", 10*time.Second), rec("b", "own-2", in, "100.00", 20*time.Second)}
	if got := ids(External(twice, known[:1], budgetv1alpha1.RecordsWithoutTransID)); len(got) != 1 || got[0] != "b" {
		t.Errorf("two records for one movement: external %v, want [b]", got)
	}
}

func TestExplains(t *testing.T) {
	m := budgetv1alpha1.ExternalMovement{Time: metav1.NewTime(t0.Add(5 * time.Minute)), Direction: budgetv1alpha1.MovementIn,
		BalanceType: budgetv1alpha1.BalanceTypeDebit, Amount: "500.00"}
	res := budgetv1alpha1.BalanceResidual{From: metav1.NewTime(t0), To: metav1.NewTime(t0.Add(10 * time.Minute)),
		BalanceType: budgetv1alpha1.BalanceTypeDebit, Direction: budgetv1alpha1.MovementIn, Amount: "498.00", Tolerance: "3.00"}
	if !Explains(res, m) {
		t.Fatal("498.00 unexplained with up to 3.00 of spending hides a transfer of 500.00")
	}
	res.Tolerance = "1.00"
	if Explains(res, m) {
		t.Fatal("498.00 with at most 1.00 of spending cannot be 500.00")
	}
	res.Tolerance, res.Amount = "3.00", "501.00"
	if Explains(res, m) {
		t.Fatal("more than the transfer came in")
	}
	res.Amount, res.To = "500.00", metav1.NewTime(t0.Add(time.Minute))
	if Explains(res, m) {
		t.Fatal("the movement is after the interval")
	}
	out := m
	out.Direction = budgetv1alpha1.MovementOut
	res = budgetv1alpha1.BalanceResidual{From: metav1.NewTime(t0), To: metav1.NewTime(t0.Add(10 * time.Minute)),
		BalanceType: budgetv1alpha1.BalanceTypeDebit, Direction: budgetv1alpha1.MovementOut, Amount: "502.00", Tolerance: "3.00"}
	if !Explains(res, out) {
		t.Fatal("a reclaim of 500.00 and 2.00 spent")
	}
}

func TestOperatorNet(t *testing.T) {
	in, out := budgetv1alpha1.MovementIn, budgetv1alpha1.MovementOut
	k := func(dir, amount string, from, to time.Duration) Known {
		m := knownMove("", dir, amount, from, to)
		m.CustomerID = "c"
		return m
	}
	from, to := t0, t0.Add(10*time.Minute)
	net, ok := OperatorNet([]Known{
		k(in, "100.00", -time.Hour, -50*time.Minute),      // before
		k(in, "30.00", time.Minute, 2*time.Minute),        // inside
		k(out, "10.00", 3*time.Minute, 4*time.Minute),     // inside
		k(in, "999.00", time.Hour, time.Hour+time.Minute), // after
	}, "c", budgetv1alpha1.BalanceTypeDebit, from, to)
	if !ok || net != money.MustParse("20.00") {
		t.Fatalf("net %s %t, want 20.00", net, ok)
	}
	for name, m := range map[string]Known{
		"under way":            k(in, "5.00", time.Minute, 0),
		"straddles the first":  k(in, "5.00", -time.Minute, time.Minute),
		"straddles the second": k(in, "5.00", 9*time.Minute, 11*time.Minute),
		"settled within a second of the first read": k(in, "5.00", -time.Minute, 500*time.Millisecond),
		"sent within a second of the second read":   k(in, "5.00", 10*time.Minute-500*time.Millisecond, 10*time.Minute+time.Second),
	} {
		if m.To.Equal(t0) {
			m.To = time.Time{}
		}
		if _, ok := OperatorNet([]Known{m}, "c", budgetv1alpha1.BalanceTypeDebit, from, to); ok {
			t.Errorf("%s: net known", name)
		}
	}
}

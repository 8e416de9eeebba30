package planner

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// TestReclaimCap: where BSS may count a sub-account's own top-ups as
// reclaimable, a cash reclaim takes at most what the operator granted less
// what the bills show spent since the first allocation.
func TestReclaimCap(t *testing.T) {
	now := time.Date(2026, 12, 15, 4, 0, 0, 0, time.UTC) // 2026-12 in UTC+8
	alloc := func(uid string, created time.Time, granted string, credit bool) budgetv1alpha1.BudgetAllocation {
		ba := budgetv1alpha1.BudgetAllocation{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid), CreationTimestamp: metav1.NewTime(created)}}
		ba.Status.Granted = budgetv1alpha1.Money(granted)
		if credit {
			ba.Spec.BalanceType = budgetv1alpha1.BalanceTypeCredit
		}
		return ba
	}
	withBaseline := func(ba budgetv1alpha1.BudgetAllocation, cycle, cash string) budgetv1alpha1.BudgetAllocation {
		ba.Status.SpendBaseline = &budgetv1alpha1.SpendBaseline{Cycle: cycle, Cash: budgetv1alpha1.Money(cash)}
		return ba
	}
	sa := func(cycles ...budgetv1alpha1.BillCycleSummary) *budgetv1alpha1.SubAccount {
		s := &budgetv1alpha1.SubAccount{}
		if len(cycles) > 0 {
			s.Status.CurrentCycle = &cycles[0]
		}
		if len(cycles) > 1 {
			s.Status.PreviousCycle = &cycles[1]
		}
		return s
	}
	dec, nov := budgetv1alpha1.BillCycleSummary{Cycle: "2026-12", Cash: "30.00"}, budgetv1alpha1.BillCycleSummary{Cycle: "2026-11", Cash: "12.50"}
	unknown := budgetv1alpha1.BSSBehaviour{Reclaimable: budgetv1alpha1.BehaviourUnknown}
	thisMonth, lastMonth, longAgo := now.AddDate(0, 0, -3), now.AddDate(0, -1, 0), now.AddDate(0, -4, 0)
	cases := []struct {
		name     string
		b        budgetv1alpha1.BSSBehaviour
		sa       *budgetv1alpha1.SubAccount
		self     budgetv1alpha1.BudgetAllocation
		granted  string
		siblings []budgetv1alpha1.BudgetAllocation
		want     string // "" no cap, "unknown", else the amount
	}{
		{"declared FundedOnly", budgetv1alpha1.BSSBehaviour{Reclaimable: budgetv1alpha1.ReclaimableFundedOnly}, sa(dec), alloc("a", thisMonth, "", false), "100", nil, ""},
		{"credit", unknown, sa(dec), alloc("a", thisMonth, "", true), "100", nil, ""},
		{"this month", unknown, sa(dec), alloc("a", thisMonth, "", false), "100", nil, "70.00"},
		{"sibling counts", unknown, sa(dec), alloc("a", thisMonth, "", false), "100",
			[]budgetv1alpha1.BudgetAllocation{alloc("b", thisMonth, "50.00", false), alloc("c", thisMonth, "900.00", true)}, "120.00"},
		{"since last month", unknown, sa(dec, nov), alloc("a", lastMonth, "", false), "100", nil, "57.50"},
		{"a sibling from last month", unknown, sa(dec, nov), alloc("a", thisMonth, "", false), "100",
			[]budgetv1alpha1.BudgetAllocation{alloc("b", lastMonth, "5.00", false)}, "62.50"},
		{"last month's bills missing", unknown, sa(dec), alloc("a", lastMonth, "", false), "100", nil, "unknown"},
		{"no bills", unknown, sa(), alloc("a", thisMonth, "", false), "100", nil, "unknown"},
		{"older than the bills", unknown, sa(dec, nov), alloc("a", longAgo, "", false), "100", nil, "unknown"},
		{"spent more than granted", unknown, sa(dec), alloc("a", thisMonth, "", false), "20", nil, "0.00"},
		{"spent before the first grant is not counted", unknown, sa(dec), withBaseline(alloc("a", thisMonth, "", false), "2026-12", "10.00"), "100", nil, "80.00"},
		{"baseline in the last cycle", unknown, sa(dec, nov), withBaseline(alloc("a", lastMonth, "", false), "2026-11", "5.00"), "100", nil, "62.50"},
		{"the first allocation's baseline", unknown, sa(dec, nov), alloc("a", thisMonth, "", false), "100",
			[]budgetv1alpha1.BudgetAllocation{withBaseline(alloc("b", lastMonth, "5.00", false), "2026-11", "12.50")}, "75.00"},
		{"TotalBalance", budgetv1alpha1.BSSBehaviour{Reclaimable: budgetv1alpha1.ReclaimableTotalBalance}, sa(dec), alloc("a", thisMonth, "", false), "100", nil, "70.00"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ReclaimCapOf(c.b, c.sa, &c.self, Ledger{Granted: money.MustParse(c.granted)}, c.siblings, now)
			switch c.want {
			case "":
				if got != nil {
					t.Errorf("cap %+v, want none", got)
				}
			case "unknown":
				if got == nil || got.Known || !strings.Contains(got.Why, "FundedOnly") {
					t.Errorf("cap %+v, want unknown with the way out", got)
				}
			default:
				if got == nil || !got.Known || got.Amount.String() != c.want {
					t.Errorf("cap %+v, want %s", got, c.want)
				}
			}
		})
	}
}

// TestPlanReclaimUnderACap: the cap lowers a reclaim, and blocks one it
// leaves nothing for or cannot compute; credit is never capped.
func TestPlanReclaimUnderACap(t *testing.T) {
	now := time.Date(2026, 12, 15, 4, 0, 0, 0, time.UTC)
	amount := money.MustParse("20")
	d := Desired{Amount: &amount}
	l := Ledger{Granted: money.MustParse("100")}
	sub := Balance{Known: true, Amount: money.MustParse("150")}
	capped := func(c *ReclaimCap) Decision {
		return Plan(d, l, Observed{SubBalance: sub, ReclaimCap: c}, now, time.Time{})
	}
	if dec := capped(&ReclaimCap{Known: true, Amount: money.MustParse("60"), Why: "w"}); dec.Action != ActionCreate || dec.Amount != money.MustParse("60") {
		t.Errorf("capped reclaim: %+v", dec)
	}
	if dec := capped(&ReclaimCap{Known: true, Amount: money.MustParse("500"), Why: "w"}); dec.Action != ActionCreate || dec.Amount != money.MustParse("80") {
		t.Errorf("cap above the reclaim: %+v", dec)
	}
	for _, c := range []*ReclaimCap{{Known: true, Why: "w"}, {Why: "w"}} {
		if dec := capped(c); dec.Action != ActionBlocked || dec.Reason != budgetv1alpha1.ReasonReclaimBlocked {
			t.Errorf("cap %+v: %+v", c, dec)
		}
	}
	deleting := Plan(Desired{Deleting: true}, l, Observed{SubBalance: sub, ReclaimCap: &ReclaimCap{Why: "w"}}, now, time.Time{})
	if deleting.Action != ActionBlocked {
		t.Errorf("a deletion the cap cannot be computed for: %+v", deleting)
	}
}

package planner

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Checkpoint is an allocation's succeeded transfers folded into totals
// (status.checkpoint). The ledger is the checkpoint plus the transfers it
// has not folded: a succeeded transfer is counted in one or the other,
// never both, so its object can be deleted once it is folded.
type Checkpoint struct {
	// Sequence is the highest sequence folded; every succeeded transfer up
	// to it is counted here.
	Sequence int64
	// Transfers counts the transfers folded.
	Transfers int64
	// Holdings by customer id.
	Holdings map[string]Holding
	// Cycle is the newest bill cycle a folded Transfer was created in, and
	// CycleTransferred what the folded Transfers of that cycle moved.
	Cycle            string
	CycleTransferred money.Amount
	// Restored is where a checkpoint not built from the allocation's own
	// transfers came from (Trail, Reconstructed).
	Restored string
}

// Folded reports whether the checkpoint counts e already: e succeeded and
// its sequence is at most the checkpoint's. A nil checkpoint folds nothing.
func (cp *Checkpoint) Folded(e Entry) bool {
	return cp != nil && e.Phase == budgetv1alpha1.PhaseSucceeded && e.Sequence <= cp.Sequence
}

// Fold adds to cp (nil: an empty one) the succeeded entries it has not
// folded, in sequence order, stopping at the first entry that is not final:
// a transfer still in flight keeps every later one out of the checkpoint,
// so that nothing with a lower sequence than the checkpoint's can succeed
// afterwards. cycleOf gives a time's bill cycle. It returns the new
// checkpoint and how many entries it folded.
func Fold(cp *Checkpoint, entries []Entry, cycleOf func(time.Time) string) (*Checkpoint, int) {
	out := &Checkpoint{Holdings: map[string]Holding{}}
	if cp != nil {
		*out = *cp
		out.Holdings = make(map[string]Holding, len(cp.Holdings))
		for id, h := range cp.Holdings {
			out.Holdings[id] = *h.clone()
		}
	}
	es := slices.Clone(entries)
	sort.Slice(es, func(i, j int) bool { return es[i].Sequence < es[j].Sequence })
	n := 0
	for _, e := range es {
		if !e.final() {
			break
		}
		if e.Phase != budgetv1alpha1.PhaseSucceeded || e.Sequence <= out.Sequence {
			continue
		}
		h, ok := out.Holdings[e.CustomerID]
		if !ok {
			h = Holding{CustomerID: e.CustomerID, EnterpriseAccount: e.EnterpriseAccount, Grants: map[string]CouponGrant{}}
		}
		h.apply(e)
		out.Holdings[e.CustomerID] = h
		out.Sequence, out.Transfers = e.Sequence, out.Transfers+1
		if e.Operation == budgetv1alpha1.OperationTransfer {
			switch c := cycleOf(e.Created); {
			case c > out.Cycle:
				out.Cycle, out.CycleTransferred = c, e.Amount
			case c == out.Cycle:
				out.CycleTransferred = out.CycleTransferred.Add(e.Amount)
			}
		}
		n++
	}
	return out, n
}

// CheckpointOf reads an allocation's status.checkpoint (nil: none).
func CheckpointOf(in *budgetv1alpha1.LedgerCheckpoint) (*Checkpoint, error) {
	if in == nil {
		return nil, nil
	}
	cp := &Checkpoint{Sequence: in.Sequence, Transfers: in.Transfers, Holdings: map[string]Holding{}, Cycle: in.Cycle, Restored: in.Restored}
	var err error
	if in.CycleTransferred != "" {
		if cp.CycleTransferred, err = money.Parse(string(in.CycleTransferred)); err != nil {
			return nil, fmt.Errorf("status.checkpoint.cycleTransferred: %w", err)
		}
	}
	for _, h := range in.Holdings {
		out := Holding{CustomerID: h.CustomerID, EnterpriseAccount: h.EnterpriseAccount, Grants: map[string]CouponGrant{}}
		if h.Cash != "" {
			if out.Cash, err = money.ParseDecimal(h.Cash); err != nil {
				return nil, fmt.Errorf("status.checkpoint holding %s cash: %w", h.CustomerID, err)
			}
		}
		out.Granted = out.Cash
		for _, c := range h.Credit {
			a, err := money.ParseDecimal(c.Amount)
			if err != nil {
				return nil, fmt.Errorf("status.checkpoint holding %s credit: %w", h.CustomerID, err)
			}
			if out.Credit == nil {
				out.Credit = map[string]money.Amount{}
			}
			out.Credit[c.ExpireTime] = a
			out.Granted = out.Granted.Add(a)
		}
		for _, g := range h.Coupons {
			a, err := money.Parse(string(g.Amount))
			if err != nil {
				return nil, fmt.Errorf("status.checkpoint holding %s coupon %s: %w", h.CustomerID, g.CouponID, err)
			}
			out.Grants[g.CouponID] = CouponGrant{CouponID: g.CouponID, SubCouponID: g.SubCouponID, Amount: a}
		}
		cp.Holdings[h.CustomerID] = out
	}
	return cp, nil
}

// API is the checkpoint as status.checkpoint holds it. Holdings with
// nothing left are kept while they are few: they record whom the
// allocation funded.
func (cp *Checkpoint) API() *budgetv1alpha1.LedgerCheckpoint {
	if cp == nil {
		return nil
	}
	out := &budgetv1alpha1.LedgerCheckpoint{Sequence: cp.Sequence, Transfers: cp.Transfers, Cycle: cp.Cycle, Restored: cp.Restored}
	if cp.Cycle != "" {
		out.CycleTransferred = budgetv1alpha1.Money(cp.CycleTransferred.String())
	}
	ids := slices.Sorted(maps.Keys(cp.Holdings))
	if len(ids) > maxHoldings {
		ids = slices.DeleteFunc(ids, func(id string) bool { h := cp.Holdings[id]; return h.empty() })
	}
	for _, id := range ids {
		h := cp.Holdings[id]
		ah := budgetv1alpha1.LedgerHolding{CustomerID: id, EnterpriseAccount: h.EnterpriseAccount, Cash: h.Cash.String()}
		for _, exp := range slices.Sorted(maps.Keys(h.Credit)) {
			if a := h.Credit[exp]; !a.IsZero() {
				ah.Credit = append(ah.Credit, budgetv1alpha1.CreditHolding{ExpireTime: exp, Amount: a.String()})
			}
		}
		for _, cid := range slices.Sorted(maps.Keys(h.Grants)) {
			g := h.Grants[cid]
			ah.Coupons = append(ah.Coupons, budgetv1alpha1.CouponGrantStatus{CouponID: cid, SubCouponID: g.SubCouponID, Amount: budgetv1alpha1.Money(g.Amount.String())})
		}
		out.Holdings = append(out.Holdings, ah)
	}
	return out
}

// maxHoldings is status.checkpoint.holdings' limit.
const maxHoldings = 16

package planner

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Observer supplies the balances a plan needs, only when it needs them.
// The BudgetAllocation controller reads BSS (through the master's shared
// cache); `kubectl budget plan` reads the figures the operator publishes in
// SubAccount and EnterpriseAccount status. Everything else about the
// decision is the same code for both.
type Observer interface {
	// Connected reports whether the operator has a working connection to
	// the named EnterpriseAccount's master account.
	Connected(enterpriseAccount string) bool
	// Reclaimable is a customer's reclaimable cash, or its reclaimable
	// credit ledgers and their sum, through the named master account.
	Reclaimable(ctx context.Context, enterpriseAccount, customer string, credit bool) (Balance, []CreditLedger, error)
	// MasterCash, MasterCredit and MasterCoupons are the SubAccount's
	// master's transferable cash, credit ledgers and coupon balances;
	// fresh asks for a figure newer than any cached one.
	MasterCash(ctx context.Context, fresh bool) (Balance, error)
	MasterCredit(ctx context.Context, fresh bool) ([]CreditLedger, error)
	MasterCoupons(ctx context.Context, fresh bool) (map[string]money.Amount, error)
}

// Input is an allocation's situation apart from balances.
type Input struct {
	Desired Desired
	// Ledger is summarised for the SubAccount's current customer, without
	// a transfer that still waits for approval (see Awaiting).
	Ledger Ledger
	// SubAccount is the SubAccount's name, Customer its current customer
	// and EnterpriseAccount its master's EnterpriseAccount.
	SubAccount, Customer, EnterpriseAccount string
	// Previous are the SubAccount's spec.previousCustomers policies.
	Previous map[string]budgetv1alpha1.PreviousCustomerPolicy
	// FundingHeadroom is what the SubAccount's fundingLimit still allows
	// (see FundingHeadroom); nil without a limit.
	FundingHeadroom *money.Amount
	// ReclaimCap, when set, gives the bound on the cash a reclaim from the
	// current customer may take (see ReclaimCapOf; nil for none). It is
	// asked for only when a cash reclaim may be due.
	ReclaimCap func() (*ReclaimCap, error)
	// RetryAt is when a new transfer may follow the last failure.
	RetryAt time.Time
	Now     time.Time
}

// Next decides the allocation's next step: first about money it granted to
// customers its SubAccount no longer resolves to, then with the current
// customer. It reads through obs only the balances the decision needs, and
// reads the master's balance again (fresh) before it accepts an
// InsufficientFunds verdict made from a cached one.
func Next(ctx context.Context, in Input, obs Observer) (Decision, error) {
	dec, err := previousCustomers(ctx, in, obs)
	if err != nil || dec.Action != ActionNone {
		return dec, err
	}
	o, err := observe(ctx, in, obs, false)
	if err != nil {
		return Decision{}, err
	}
	dec = Plan(in.Desired, in.Ledger, o, in.Now, in.RetryAt)
	if !dec.NeedsFreshMaster {
		return dec, nil
	}
	if o, err = observe(ctx, in, obs, true); err != nil {
		return Decision{}, err
	}
	return Plan(in.Desired, in.Ledger, o, in.Now, in.RetryAt), nil
}

// observe reads what the plan needs: the sub-account's reclaimable balance
// only when a reclaim or a top-up may be due and nothing is in flight, the
// master's cash or credit only when a transfer may be due, its coupons only
// when a coupon is still to be carved.
func observe(ctx context.Context, in Input, obs Observer, fresh bool) (Observed, error) {
	d, l := in.Desired, in.Ledger
	o := Observed{FundingHeadroom: in.FundingHeadroom}
	var err error
	mayReclaim := d.Deleting || (d.Amount != nil && d.Amount.Cmp(l.Granted) < 0)
	if (mayReclaim || d.TopUp != nil) && l.InFlight == nil {
		if o.SubBalance, o.SubCredit, err = obs.Reclaimable(ctx, in.EnterpriseAccount, in.Customer, d.Credit); err != nil {
			return o, err
		}
		if mayReclaim && !d.Credit && in.ReclaimCap != nil {
			if o.ReclaimCap, err = in.ReclaimCap(); err != nil {
				return o, err
			}
		}
	}
	if d.Deleting {
		return o, nil
	}
	if d.Credit {
		if o.MasterCredit, err = obs.MasterCredit(ctx, fresh); err != nil {
			return o, err
		}
	} else if o.MasterCash, err = obs.MasterCash(ctx, fresh); err != nil {
		return o, err
	}
	if len(d.Coupons) > len(l.Grants) {
		if o.MasterCoupons, err = obs.MasterCoupons(ctx, fresh); err != nil {
			return o, err
		}
	}
	return o, nil
}

// previousCustomers deals with money the allocation granted to customers
// its SubAccount no longer resolves to (it was re-created or re-pointed).
// Such money is never counted as the current customer's and is only ever
// reclaimed from where it went. An administrator decides what happens to
// it in the SubAccount's spec.previousCustomers: Release leaves it there;
// Reclaim takes it back (as far as it is reclaimable) before the current
// customer is funded. Without a decision nothing moves, except that a
// deletion reclaims from every customer it did not release. ActionNone
// means the current customer's plan may run.
func previousCustomers(ctx context.Context, in Input, obs Observer) (Decision, error) {
	d := in.Desired
	for _, id := range slices.Sorted(maps.Keys(in.Ledger.Others)) {
		h := in.Ledger.Others[id]
		policy := in.Previous[id]
		if policy == budgetv1alpha1.PreviousCustomerRelease {
			continue
		}
		if policy != budgetv1alpha1.PreviousCustomerReclaim && !d.Deleting {
			return Decision{Action: ActionBlocked, Reason: budgetv1alpha1.ReasonCustomerChanged, Message: customerChangedMessage(in, h), CustomerID: id}, nil
		}
		ea := cmp.Or(h.EnterpriseAccount, in.EnterpriseAccount)
		if !obs.Connected(ea) {
			return Decision{Action: ActionBlocked, Reason: budgetv1alpha1.ReasonEnterpriseAccountNotReady, CustomerID: id, EnterpriseAccount: ea,
				Message: fmt.Sprintf("reclaiming from previous customer %s needs EnterpriseAccount %s, which has no working connection", id, ea)}, nil
		}
		old := in.Ledger.For(id)
		var o Observed
		if old.InFlight == nil {
			var err error
			if o.SubBalance, o.SubCredit, err = obs.Reclaimable(ctx, ea, id, d.Credit); err != nil {
				return Decision{}, err
			}
		}
		dec := Plan(Desired{Deleting: true, Credit: d.Credit}, old, o, in.Now, in.RetryAt)
		if dec.Action == ActionNone {
			continue // everything reclaimable there is back
		}
		dec.CustomerID, dec.EnterpriseAccount = id, ea
		if dec.Action == ActionCreate {
			dec.Message += " from previous customer " + id
		}
		return dec, nil
	}
	return Decision{Action: ActionNone}, nil
}

func customerChangedMessage(in Input, h Holding) string {
	what := make([]string, 0, 1+len(h.Grants))
	if !h.Granted.IsZero() {
		what = append(what, h.Granted.String())
	}
	for _, id := range slices.Sorted(maps.Keys(h.Grants)) {
		what = append(what, fmt.Sprintf("sub-coupon %s of coupon %s", h.Grants[id].SubCouponID, id))
	}
	return fmt.Sprintf("this allocation granted %s to customer %s, but SubAccount %s now resolves to customer %s; that money is still with %s. "+
		"Nothing moves until SubAccount %s lists %s in spec.previousCustomers with policy Reclaim (take it back, then fund %s) or Release (leave it with %s)",
		strings.Join(what, " and "), h.CustomerID, in.SubAccount, in.Customer, h.CustomerID, in.SubAccount, h.CustomerID, in.Customer, h.CustomerID)
}

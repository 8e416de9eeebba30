package budgetallocation

import (
	"context"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/accounts"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/planner"
)

// bssObserver gives the planner the balances it asks for from BSS: the
// master's through its shared cache (kept in step with every movement by
// the transfer controller), a sub-account's reclaimable balance read
// directly.
type bssObserver struct {
	registry *accounts.Registry
	acct     *accounts.Account
	now      time.Time
}

var _ planner.Observer = (*bssObserver)(nil)

func (o *bssObserver) Connected(enterpriseAccount string) bool {
	_, ok := o.registry.Get(enterpriseAccount)
	return ok
}

func (o *bssObserver) Reclaimable(ctx context.Context, enterpriseAccount, customer string, credit bool) (planner.Balance, []planner.CreditLedger, error) {
	acct := o.acct
	if enterpriseAccount != acct.Name {
		var ok bool
		if acct, ok = o.registry.Get(enterpriseAccount); !ok {
			return planner.Balance{}, nil, nil
		}
	}
	if !credit {
		cash, err := acct.Client.ReclaimableCash(ctx, customer)
		return planner.Balance{Known: err == nil, Amount: cash}, nil, err
	}
	rows, err := acct.Client.ReclaimableCredit(ctx, customer)
	if err != nil {
		return planner.Balance{}, nil, err
	}
	ledgers := creditLedgers(rows)
	var sum money.Amount
	for _, l := range ledgers {
		sum = sum.Add(l.Available)
	}
	return planner.Balance{Known: true, Amount: sum}, ledgers, nil
}

func (o *bssObserver) MasterCash(ctx context.Context, fresh bool) (planner.Balance, error) {
	if cash, ok := o.acct.TransferableCash(); ok && !fresh {
		return planner.Balance{Known: true, Amount: cash}, nil
	}
	cash, err := o.acct.RefreshTransferableCash(ctx, o.now)
	if err != nil {
		return planner.Balance{}, err
	}
	return planner.Balance{Known: true, Amount: cash}, nil
}

func (o *bssObserver) MasterCredit(ctx context.Context, fresh bool) ([]planner.CreditLedger, error) {
	rows, ok := accounts.Load(o.acct, accounts.MasterCredit, o.now)
	if !ok || fresh {
		var err error
		if rows, err = o.acct.Client.TransferableCredit(ctx); err != nil {
			return nil, err
		}
		accounts.Store(o.acct, accounts.MasterCredit, rows, o.now, accounts.MasterCacheTTL)
	}
	return creditLedgers(rows), nil
}

func (o *bssObserver) MasterCoupons(ctx context.Context, fresh bool) (map[string]money.Amount, error) {
	cs, ok := accounts.Load(o.acct, accounts.MasterCoupons, o.now)
	if !ok || fresh {
		var err error
		if cs, err = o.acct.Client.ListAllTransferableCoupons(ctx); err != nil {
			return nil, err
		}
		accounts.Store(o.acct, accounts.MasterCoupons, cs, o.now, accounts.MasterCacheTTL)
	}
	out := make(map[string]money.Amount, len(cs))
	for _, c := range cs {
		out[c.CouponID] = c.Balance
	}
	return out, nil
}

func creditLedgers(rows []bss.AmountInfo) []planner.CreditLedger {
	out := make([]planner.CreditLedger, 0, len(rows))
	for _, r := range rows {
		out = append(out, planner.CreditLedger{Available: r.Available, ExpireTime: r.ExpireTime})
	}
	return out
}

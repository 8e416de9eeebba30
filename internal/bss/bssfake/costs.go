package bssfake

import (
	"context"
	"slices"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
)

// Reports is what the fake answers to the reporting reads: the master's own
// balances, cost data, amortized cost details and resource packages. The
// fake keeps them as given; tests set them with SetReports.
type Reports struct {
	// Balances is the master's balances by account type.
	Balances bss.AccountBalancesResponse
	// Costs are the rows ListAllCosts returns, whatever the request.
	Costs []bss.CostData
	// Breakdown are the details ListAllCostBreakdown returns.
	Breakdown []bss.CostDetail
	// Packages are the master's resource packages.
	Packages []bss.ResourcePackage
	// Usages are the quotas' current usage, by free resource id.
	Usages map[string]bss.FreeResourceUsage
	// CostCenterDisabled makes the cost reads answer CBC.18000014.
	CostCenterDisabled bool
	// TooManySubAccounts makes cost reads across sub-accounts answer
	// CBC.18000048; those of one sub-account still work.
	TooManySubAccounts bool
}

// SetReports replaces what the reporting reads answer.
func (b *BSS) SetReports(r Reports) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reports = r
}

// GetAccountBalances returns Reports.Balances.
func (b *BSS) GetAccountBalances(context.Context) (*bss.AccountBalancesResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read(bss.OpShowCustomerAccountBalances)
	out := b.reports.Balances
	out.AccountBalances = slices.Clone(out.AccountBalances)
	return &out, nil
}

// ListAllCosts returns the rows of Reports.Costs of the cost type asked
// for (a row with no CostType dimension is of every type), narrowed to one
// account by an include filter on it, or CBC.18000014 / CBC.18000048.
func (b *BSS) ListAllCosts(_ context.Context, req bss.CostsRequest) ([]bss.CostData, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read(bss.OpListCosts)
	var account string
	for _, f := range req.Filters {
		if f.Key == bss.DimensionAccount && f.Operator == bss.FilterInclude && len(f.Values) == 1 {
			account = f.Values[0]
		}
	}
	if err := b.costErr(bss.OpListCosts, account); err != nil {
		return nil, err
	}
	var out []bss.CostData
	for _, row := range b.reports.Costs {
		if t := row.Dimension(CostTypeDimension); t != "" && t != req.CostType {
			continue
		}
		if account == "" || row.Dimension(bss.DimensionAccount) == account {
			out = append(out, row)
		}
	}
	return out, nil
}

// CostTypeDimension is a dimension key of the fake only: a row of
// Reports.Costs with it is returned only for that cost type.
const CostTypeDimension = "fake:COST_TYPE"

// ListAllCostBreakdown returns Reports.Breakdown (of one sub-account when
// asked), or CBC.18000014 / CBC.18000048.
func (b *BSS) ListAllCostBreakdown(_ context.Context, req bss.BreakdownRequest) ([]bss.CostDetail, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read(bss.OpListCustomerBillsMonthlyBreakDown)
	if err := b.costErr(bss.OpListCustomerBillsMonthlyBreakDown, req.SubCustomerID); err != nil {
		return nil, err
	}
	var out []bss.CostDetail
	for _, d := range b.reports.Breakdown {
		if req.SubCustomerID == "" || d.CustomerID == req.SubCustomerID {
			out = append(out, d)
		}
	}
	return out, nil
}

// costErr is the refusal of a cost read, if any: one of account ("" for
// all sub-accounts).
func (b *BSS) costErr(op, account string) error {
	switch {
	case b.reports.CostCenterDisabled:
		return apiErr(op, bss.CodeCostCenterNotEnabled, "Cost Center is not enabled.")
	case b.reports.TooManySubAccounts && account == "":
		return apiErr(op, bss.CodeTooManySubAccounts, "Too many finance-independent sub-accounts; specify a sub-account.")
	}
	return nil
}

// ListAllFreeResources returns Reports.Packages of the requested status.
func (b *BSS) ListAllFreeResources(_ context.Context, req bss.FreeResourcesRequest) ([]bss.ResourcePackage, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read(bss.OpListFreeResourceInfos)
	var out []bss.ResourcePackage
	for _, p := range b.reports.Packages {
		if req.Status == nil || p.Status == *req.Status {
			out = append(out, p)
		}
	}
	return out, nil
}

// ListFreeResourceUsages returns Reports.Usages of the ids given.
func (b *BSS) ListFreeResourceUsages(_ context.Context, ids []string) ([]bss.FreeResourceUsage, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read(bss.OpListFreeResourceUsages)
	var out []bss.FreeResourceUsage
	for _, id := range ids {
		if u, ok := b.reports.Usages[id]; ok {
			out = append(out, u)
		}
	}
	return out, nil
}

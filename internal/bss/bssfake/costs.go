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

// ListAllCosts returns Reports.Costs, or CBC.18000014.
func (b *BSS) ListAllCosts(context.Context, bss.CostsRequest) ([]bss.CostData, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read(bss.OpListCosts)
	if b.reports.CostCenterDisabled {
		return nil, apiErr(bss.OpListCosts, bss.CodeCostCenterNotEnabled, "Cost Center is not enabled.")
	}
	return slices.Clone(b.reports.Costs), nil
}

// ListAllCostBreakdown returns Reports.Breakdown, or CBC.18000014.
func (b *BSS) ListAllCostBreakdown(context.Context, bss.BreakdownRequest) ([]bss.CostDetail, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read(bss.OpListCustomerBillsMonthlyBreakDown)
	if b.reports.CostCenterDisabled {
		return nil, apiErr(bss.OpListCustomerBillsMonthlyBreakDown, bss.CodeCostCenterNotEnabled, "Cost Center is not enabled.")
	}
	return slices.Clone(b.reports.Breakdown), nil
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

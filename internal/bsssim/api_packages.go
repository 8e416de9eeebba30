package bsssim

import (
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"
)

// --- ListFreeResourceInfos ---

// freeResourcesBody is ListFreeResourceInfosReq; absent and null fields
// stay nil.
type freeResourcesBody struct {
	RegionCode          *string   `json:"region_code"`
	OrderID             *string   `json:"order_id"`
	ProductID           *string   `json:"product_id"`
	ProductName         *string   `json:"product_name"`
	EnterpriseProjectID *string   `json:"enterprise_project_id"`
	Status              *int      `json:"status"`
	Offset              *int      `json:"offset"`
	Limit               *int      `json:"limit"`
	ServiceTypeCodeList *[]string `json:"service_type_code_list"`
}

// freeResourceV3 is FreeResourceV3: the amounts are strings there.
type freeResourceV3 struct {
	FreeResourceID string `json:"free_resource_id"`
	UsageTypeName  string `json:"usage_type_name"`
	Amount         string `json:"amount"`
	OriginalAmount string `json:"original_amount"`
	MeasureID      int    `json:"measure_id"`
}

// freeResourcePackage is FreeResourcePackageV3.
type freeResourcePackage struct {
	OrderInstanceID        string           `json:"order_instance_id"`
	OrderID                string           `json:"order_id,omitempty"`
	ProductID              string           `json:"product_id"`
	ProductName            string           `json:"product_name"`
	EnterpriseProjectID    string           `json:"enterprise_project_id,omitempty"`
	EnterpriseProjectScope int              `json:"enterprise_project_scope"`
	EffectiveTime          string           `json:"effective_time"`
	ExpireTime             string           `json:"expire_time"`
	Status                 int              `json:"status"`
	ServiceTypeCode        string           `json:"service_type_code"`
	ServiceTypeName        string           `json:"service_type_name"`
	RegionCode             string           `json:"region_code,omitempty"`
	SourceType             int              `json:"source_type"`
	BundleType             string           `json:"bundle_type"`
	QuotaReuseMode         int              `json:"quota_reuse_mode"`
	FreeResources          []freeResourceV3 `json:"free_resources"`
}

// listFreeResources is ListFreeResourceInfos: the caller's own packages
// (a master does not see its sub-accounts'), newest first, without those
// that expired more than 18 months ago. Empty filters are no filters; as
// documented, a package that belongs to an enterprise project shows only
// when enterprise_project_id names it.
func (s *Sim) listFreeResources(c *reqCtx) (any, error) {
	var b freeResourcesBody
	if len(strings.TrimSpace(string(c.body))) > 0 {
		if err := c.decodeBody(&b); err != nil {
			return nil, err
		}
	}
	filters := map[string]string{}
	for _, f := range []struct {
		name   string
		v      *string
		maxLen int
	}{
		{"region_code", b.RegionCode, 64}, {"order_id", b.OrderID, 64}, {"product_id", b.ProductID, 64},
		{"product_name", b.ProductName, 256}, {"enterprise_project_id", b.EnterpriseProjectID, 64},
	} {
		v, err := optString(f.name, f.v, f.maxLen)
		if err != nil {
			return nil, err
		}
		filters[f.name] = v
	}
	if b.Status != nil && (*b.Status < PackageNotEffective || *b.Status > PackageUnsubscribed) {
		return nil, paramErr("status must be between 0 and 4")
	}
	var services []string
	if b.ServiceTypeCodeList != nil {
		if len(*b.ServiceTypeCodeList) > 10 {
			return nil, paramErr("service_type_code_list must have at most 10 entries")
		}
		for _, svc := range *b.ServiceTypeCodeList {
			if utf8.RuneCountInString(svc) > 64 {
				return nil, paramErr("service_type_code_list entries must be at most 64 characters")
			}
			services = append(services, strings.ToLower(svc))
		}
	}
	offset, limit, err := bodyPage(b.Offset, b.Limit, 1000)
	if err != nil {
		return nil, err
	}
	now := s.lock()
	defer s.unlock()
	var pkgs []*ResourcePackage
	for i := range s.st.Packages {
		p := &s.st.Packages[i]
		eq := func(name, v string) bool { return filters[name] == "" || filters[name] == v }
		switch {
		case p.CustomerID != c.caller.id(), !p.queryable(now),
			!eq("region_code", p.RegionCode), !eq("order_id", p.OrderID), !eq("product_id", p.ProductID),
			!eq("product_name", p.ProductName), p.EnterpriseProjectID != filters["enterprise_project_id"],
			b.Status != nil && p.Status(now) != *b.Status,
			len(services) > 0 && !slices.Contains(services, strings.ToLower(p.ServiceTypeCode)):
			continue
		}
		pkgs = append(pkgs, p)
	}
	slices.SortStableFunc(pkgs, func(a, b *ResourcePackage) int {
		return cmp.Or(b.EffectiveTime.Compare(a.EffectiveTime), cmp.Compare(a.OrderInstanceID, b.OrderInstanceID))
	})
	out := []freeResourcePackage{}
	lo, hi := pageBounds(len(pkgs), offset, limit)
	for _, p := range pkgs[lo:hi] {
		fp := freeResourcePackage{
			OrderInstanceID: p.OrderInstanceID, OrderID: p.OrderID, ProductID: p.ProductID, ProductName: p.ProductName,
			EnterpriseProjectID: p.EnterpriseProjectID, EffectiveTime: fmtTime(p.EffectiveTime), ExpireTime: fmtTime(p.ExpireTime),
			Status: p.Status(now), ServiceTypeCode: p.ServiceTypeCode, ServiceTypeName: cmp.Or(p.ServiceTypeName, serviceName(p.ServiceTypeCode)),
			RegionCode: p.RegionCode, SourceType: p.SourceType, BundleType: p.BundleType, QuotaReuseMode: p.QuotaReuseMode,
			FreeResources: []freeResourceV3{},
		}
		if p.EnterpriseProjectID != "" {
			fp.EnterpriseProjectScope = 1
		}
		for _, fr := range p.FreeResources {
			fp.FreeResources = append(fp.FreeResources, freeResourceV3{
				FreeResourceID: fr.ID, UsageTypeName: fr.UsageTypeName, Amount: fr.Remaining().String(),
				OriginalAmount: fr.OriginalAmount.String(), MeasureID: fr.MeasureID,
			})
		}
		out = append(out, fp)
	}
	return map[string]any{"free_resource_packages": out, "total_count": len(pkgs)}, nil
}

// --- ListFreeResourceUsages ---

// freeResourceUsagesBody is ListFreeResourceUsagesReq.
type freeResourceUsagesBody struct {
	FreeResourceIDs *[]string `json:"free_resource_ids"`
}

// freeResourceDetail is FreeResourceDetail: the amounts are numbers there.
type freeResourceDetail struct {
	FreeResourceID       string `json:"free_resource_id"`
	FreeResourceTypeName string `json:"free_resource_type_name,omitempty"`
	QuotaReuseCycle      int    `json:"quota_reuse_cycle,omitempty"`
	QuotaReuseCycleType  int    `json:"quota_reuse_cycle_type,omitempty"`
	UsageTypeName        string `json:"usage_type_name"`
	StartTime            string `json:"start_time"`
	EndTime              string `json:"end_time"`
	Amount               num    `json:"amount"`
	OriginalAmount       num    `json:"original_amount"`
	MeasureID            int    `json:"measure_id"`
}

// listFreeResourceUsages is ListFreeResourceUsages: the remaining amount
// of each named free resource of the caller's own packages, in the order
// asked; ids of other accounts' packages, and of packages that expired
// more than 18 months ago, are left out. A resettable package reports its
// current reset cycle as start_time and end_time, any other its life.
func (s *Sim) listFreeResourceUsages(c *reqCtx) (any, error) {
	var b freeResourceUsagesBody
	if err := c.decodeBody(&b); err != nil {
		return nil, err
	}
	if b.FreeResourceIDs == nil || len(*b.FreeResourceIDs) == 0 {
		return nil, paramErr("free_resource_ids is required")
	}
	if len(*b.FreeResourceIDs) > 100 {
		return nil, paramErr("free_resource_ids must have at most 100 entries")
	}
	for _, id := range *b.FreeResourceIDs {
		if id == "" || len(id) > 64 {
			return nil, paramErr("free_resource_ids entries must be 1 to 64 bytes")
		}
	}
	now := s.lock()
	defer s.unlock()
	out := []freeResourceDetail{}
	seen := map[string]bool{}
	for _, id := range *b.FreeResourceIDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		for i := range s.st.Packages {
			p := &s.st.Packages[i]
			if p.CustomerID != c.caller.id() || !p.queryable(now) {
				continue
			}
			for _, fr := range p.FreeResources {
				if fr.ID != id {
					continue
				}
				d := freeResourceDetail{
					FreeResourceID: fr.ID, FreeResourceTypeName: fr.TypeName, UsageTypeName: fr.UsageTypeName,
					StartTime: fmtTime(p.EffectiveTime), EndTime: fmtTime(p.ExpireTime),
					Amount: num(fr.Remaining()), OriginalAmount: num(fr.OriginalAmount), MeasureID: fr.MeasureID,
				}
				if p.QuotaReuseMode == QuotaResettable {
					start, end := p.resetPeriod(minTime(maxTime(now, p.EffectiveTime), p.ExpireTime.Add(-1)))
					d.StartTime, d.EndTime = fmtTime(start), fmtTime(minTime(end, p.ExpireTime))
					d.QuotaReuseCycle, d.QuotaReuseCycleType = p.QuotaReuseCycle, p.QuotaReuseCycleType
				}
				out = append(out, d)
			}
		}
	}
	return map[string]any{"free_resources": out}, nil
}

package bsssim

import (
	"hash/fnv"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// spikeCustomer and spikeDay place the seed's spike day: the 12th of the
// previous bill cycle of team-a costs six times an ordinary day.
const (
	spikeCustomer = "cust-team-a-0001"
	spikeDay      = 12
	spikeFactor   = 6
)

// backfillCosts returns the daily cost records behind the on-demand bill
// records of a seed made at now: each bill's consumption is spread over the
// days of its cycle (in the current cycle, the days before now's; on its
// first day, that day), weighted by a deterministic day-to-day variation
// with quieter weekends and one spike day, and paid in the order the
// consumption engine pays (coupons, cash, credit, then debt). The records
// of each bill add up to it to the fen.
func backfillCosts(bills []BillRecord, now time.Time) []CostRecord {
	today := localDay(now)
	curCycle := today.Format("2006-01")
	var out []CostRecord
	for _, b := range bills {
		if b.ChargingMode != ChargingOnDemand || b.BillType != 1 || !b.ConsumeAmount.IsPositive() {
			continue
		}
		first, err := time.ParseInLocation("2006-01", b.BillCycle, beijing)
		if err != nil {
			continue
		}
		end := first.AddDate(0, 1, 0)
		if b.BillCycle == curCycle {
			end = today
			if !end.After(first) {
				end = today.AddDate(0, 0, 1)
			}
		}
		var days []time.Time
		var weights []int64
		var total int64
		for d := first; d.Before(end); d = d.AddDate(0, 0, 1) {
			w := seedWeight(b.CustomerID, d)
			if b.BillCycle != curCycle && b.CustomerID == spikeCustomer && d.Day() == spikeDay {
				w *= spikeFactor
			}
			days = append(days, d)
			weights = append(weights, w)
			total += w
		}
		pools := [4]money.Amount{b.CouponAmount, b.CashAmount, b.CreditAmount, b.DebtAmount}
		var before int64
		for i, d := range days {
			amount := money.FromFen(mulDiv(b.ConsumeAmount.Fen(), before+weights[i], total) - mulDiv(b.ConsumeAmount.Fen(), before, total))
			before += weights[i]
			var paid [4]money.Amount
			left := amount
			for j := range pools {
				paid[j] = money.Min(left, pools[j])
				pools[j] = pools[j].Sub(paid[j])
				left = left.Sub(paid[j])
			}
			paid[3] = paid[3].Add(left) // a bill whose parts fall short of its amount
			out = append(out, CostRecord{
				Date: d.Format(time.DateOnly), CustomerID: b.CustomerID, DomainID: b.DomainID, ServiceTypeCode: b.ServiceTypeCode,
				ResourceTypeCode: resourceTypeOf(b.ServiceTypeCode), ChargingMode: ChargingOnDemand,
				OfficialAmount: amount, Amount: amount, CouponAmount: paid[0], CashAmount: paid[1], CreditAmount: paid[2], DebtAmount: paid[3],
			})
		}
	}
	return out
}

// seedWeight is the relative consumption of a customer on a day: 80 to 120,
// three quarters of it on weekends.
func seedWeight(customerID string, day time.Time) int64 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(customerID + "|" + day.Format(time.DateOnly))) // a hash.Hash never fails to write
	w := 80 + int64(h.Sum32()%41)
	if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
		w = w * 3 / 4
	}
	return w
}

// seedPackages returns the master's resource packages of a seed made at
// now: an OBS storage package that expires in ten days with most of it
// unused, a CDN traffic package that resets every natural month and has
// used this month's quota at its rate so far, and a used-up RDS backup
// package.
func seedPackages(now time.Time) []ResourcePackage {
	y := money.MustParse
	today := localDay(now)
	obsExpire := today.AddDate(0, 0, 10).UTC()
	cdnEffective := time.Date(today.Year(), today.Month()-2, 1, 0, 0, 0, 0, beijing).UTC()
	monthStart := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, beijing).UTC()
	cdnRate := y("0.08")
	cdnUsed, cdnCarry := spend(cdnRate.Fen(), now.Sub(monthStart), 0)
	rdsEffective := now.AddDate(0, 0, -40)
	at := func(t time.Time) *time.Time { return &t }
	return []ResourcePackage{
		{
			OrderInstanceID: "pkg-obs-standard-500g-0001", CustomerID: DefaultDomainID, DomainID: DefaultDomainID, OrderID: "CS2025000000101",
			ProductID: "OFFIOBSPKG0500", ProductName: "OBS standard storage package 500 GB (1 year)",
			ServiceTypeCode: "hws.service.type.obs", ServiceTypeName: serviceName("hws.service.type.obs"), RegionCode: "cn-north-4",
			EffectiveTime: obsExpire.AddDate(-1, 0, 0), ExpireTime: obsExpire,
			BundleType: BundleAtomic, QuotaReuseMode: QuotaNotResettable,
			FreeResources: []FreeResource{{
				ID: "6f1d0c3a-5b2e-4c71-9a0e-0000000000a1", TypeName: "Standard storage", UsageTypeName: "Standard storage capacity",
				OriginalAmount: y("500.00"), UsedAmount: y("87.50"), MeasureID: DefaultMeasureID, UsageRate: y("0.05"), UsedUntil: at(now),
			}},
		},
		{
			OrderInstanceID: "pkg-cdn-traffic-100g-0001", CustomerID: DefaultDomainID, DomainID: DefaultDomainID, OrderID: "CS2026000000102",
			ProductID: "OFFICDNPKG0100", ProductName: "CDN traffic package 100 GB per month (1 year)",
			ServiceTypeCode: "hws.service.type.cdn", ServiceTypeName: serviceName("hws.service.type.cdn"), RegionCode: "cn-north-4",
			EffectiveTime: cdnEffective, ExpireTime: cdnEffective.AddDate(1, 0, 0),
			BundleType: BundleAtomic, QuotaReuseMode: QuotaResettable, QuotaReuseCycle: ReuseMonth, QuotaReuseCycleType: ReuseNatural,
			FreeResources: []FreeResource{{
				ID: "6f1d0c3a-5b2e-4c71-9a0e-0000000000b1", TypeName: "Downstream traffic", UsageTypeName: "Chinese mainland traffic",
				OriginalAmount: y("100.00"), UsedAmount: money.FromFen(cdnUsed), MeasureID: DefaultMeasureID, UsageRate: cdnRate,
				UsedUntil: at(now), UsageCarry: cdnCarry,
			}},
		},
		{
			OrderInstanceID: "pkg-rds-backup-100g-0001", CustomerID: DefaultDomainID, DomainID: DefaultDomainID, OrderID: "CS2026000000103",
			ProductID: "OFFIRDSPKG0100", ProductName: "RDS backup storage package 100 GB (1 year)",
			ServiceTypeCode: "hws.service.type.rds", ServiceTypeName: serviceName("hws.service.type.rds"), RegionCode: "cn-north-4",
			EffectiveTime: rdsEffective, ExpireTime: rdsEffective.AddDate(1, 0, 0),
			BundleType: BundleAtomic, QuotaReuseMode: QuotaNotResettable,
			FreeResources: []FreeResource{{
				ID: "6f1d0c3a-5b2e-4c71-9a0e-0000000000c1", TypeName: "Backup storage", UsageTypeName: "Backup storage capacity",
				OriginalAmount: y("100.00"), UsedAmount: y("100.00"), MeasureID: DefaultMeasureID, UsageRate: y("0.20"), UsedUntil: at(now),
			}},
		},
	}
}

package bsssim

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Resource packages (bss-api.md §8): prepaid quotas of a service (storage,
// traffic, hours) an account uses up as simulated time passes. Each free
// resource of a package is used at its own rate per simulated hour, applied
// lazily like consumption, down to nothing; nothing is used before the
// package takes effect, after it expires or once it is unsubscribed. A
// resettable package (quota_reuse_mode 1) gets its whole quota back at the
// start of every reset cycle. Packages move no money.

// Statuses of a resource package, derived from simulated time and what is
// left.
const (
	// PackageNotEffective is status 0: before its effective time.
	PackageNotEffective = 0
	// PackageEffective is status 1: in effect with quota left.
	PackageEffective = 1
	// PackageUsedUp is status 2: in effect, every free resource used up.
	PackageUsedUp = 2
	// PackageExpired is status 3: at or after its expire time.
	PackageExpired = 3
	// PackageUnsubscribed is status 4.
	PackageUnsubscribed = 4
)

// Quota reuse modes of a resource package.
const (
	// QuotaResettable is mode 1: the quota comes back every reset cycle.
	QuotaResettable = 1
	// QuotaNotResettable is mode 2: one quota for the package's life.
	QuotaNotResettable = 2
)

// Reset cycles (quota_reuse_cycle) and cycle types (quota_reuse_cycle_type)
// of a resettable package.
const (
	ReuseHour  = 1
	ReuseDay   = 2
	ReuseWeek  = 3
	ReuseMonth = 4
	ReuseYear  = 5
	// ReuseNatural resets at the start of each natural period in UTC+8
	// (the hour, midnight, Monday, the 1st, January 1st).
	ReuseNatural = 1
	// ReuseFromSubscription resets every cycle counted from the effective
	// time.
	ReuseFromSubscription = 2
)

// Bundle types of a resource package.
const (
	BundleAtomic   = "ATOMIC_PKG"
	BundleCombined = "BUNDLE_PKG"
)

// DefaultMeasureID is the unit of a free resource that names none: 10, GB.
const DefaultMeasureID = 10

// packageRetentionMonths is how long after expiry a package can still be
// queried (bss-api.md §8: not once it expired more than 18 months ago).
const packageRetentionMonths = 18

// ResourcePackage is a resource package of a master or a sub-account
// (FreeResourcePackageV3).
type ResourcePackage struct {
	// OrderInstanceID identifies the package.
	OrderInstanceID string `json:"order_instance_id"`
	// CustomerID is the owning account: a master's domain id or a
	// sub-account id. Only the owner lists it.
	CustomerID string `json:"customer_id"`
	// DomainID is the master of the owner.
	DomainID string `json:"domain_id,omitempty"`
	// OrderID is the order that bought it (none for a gift). It names no
	// order of State.Orders.
	OrderID string `json:"order_id,omitempty"`
	// ProductID is the package product's id.
	ProductID string `json:"product_id"`
	// ProductName is the package product's name.
	ProductName string `json:"product_name"`
	// ServiceTypeCode is the service the package applies to.
	ServiceTypeCode string `json:"service_type_code"`
	// ServiceTypeName is the service's display name; empty means the
	// simulator's name for ServiceTypeCode.
	ServiceTypeName string `json:"service_type_name,omitempty"`
	// RegionCode is the region it applies to.
	RegionCode string `json:"region_code,omitempty"`
	// EnterpriseProjectID is the enterprise project it belongs to; the
	// list shows a package with one only when the query names it.
	EnterpriseProjectID string `json:"enterprise_project_id,omitempty"`
	// EffectiveTime is when it takes effect.
	EffectiveTime time.Time `json:"effective_time"`
	// ExpireTime is when it expires.
	ExpireTime time.Time `json:"expire_time"`
	// Unsubscribed marks an unsubscribed package (status 4).
	Unsubscribed bool `json:"unsubscribed,omitempty"`
	// SourceType is 0 bought with an order, 1 a gift.
	SourceType int `json:"source_type,omitempty"`
	// BundleType is ATOMIC_PKG (the default) or BUNDLE_PKG.
	BundleType string `json:"bundle_type,omitempty"`
	// QuotaReuseMode is 1 resettable or 2 not resettable (the default).
	QuotaReuseMode int `json:"quota_reuse_mode,omitempty"`
	// QuotaReuseCycle is the reset cycle of a resettable package: 1 hour,
	// 2 day, 3 week, 4 month (the default), 5 year.
	QuotaReuseCycle int `json:"quota_reuse_cycle,omitempty"`
	// QuotaReuseCycleType is 1 natural periods (the default) or 2 cycles
	// counted from the effective time.
	QuotaReuseCycleType int `json:"quota_reuse_cycle_type,omitempty"`
	// FreeResources are the package's quotas, one per usage type.
	FreeResources []FreeResource `json:"free_resources"`
}

// FreeResource is one quota of a resource package. Amounts are quantities
// with two decimals in the unit of MeasureID (held as money.Amount, the
// project's fixed-point type).
type FreeResource struct {
	// ID is the free_resource_id.
	ID string `json:"free_resource_id"`
	// TypeName is the free resource type's name.
	TypeName string `json:"free_resource_type_name,omitempty"`
	// UsageTypeName is the usage type's name.
	UsageTypeName string `json:"usage_type_name"`
	// OriginalAmount is the quota (of each reset cycle, when resettable).
	OriginalAmount money.Amount `json:"original_amount"`
	// UsedAmount is what was used of it (in the current reset cycle); the
	// remaining amount is OriginalAmount − UsedAmount.
	UsedAmount money.Amount `json:"used_amount,omitempty"`
	// MeasureID is the unit, DefaultMeasureID when zero.
	MeasureID int `json:"measure_id,omitempty"`
	// UsageRate is the use per simulated hour.
	UsageRate money.Amount `json:"usage_rate,omitempty"`
	// UsedUntil is the simulated time usage was applied up to.
	UsedUntil *time.Time `json:"used_until,omitempty"`
	// UsageCarry is the use below one hundredth carried to the next
	// catch-up (hundredths-nanoseconds per hour).
	UsageCarry int64 `json:"usage_carry,omitempty"`
}

// Remaining is what is left of the quota.
func (fr FreeResource) Remaining() money.Amount {
	return money.Max(fr.OriginalAmount.Sub(fr.UsedAmount), 0)
}

// Status returns the package's status at now.
func (p *ResourcePackage) Status(now time.Time) int {
	switch {
	case p.Unsubscribed:
		return PackageUnsubscribed
	case now.Before(p.EffectiveTime):
		return PackageNotEffective
	case !now.Before(p.ExpireTime):
		return PackageExpired
	}
	for _, fr := range p.FreeResources {
		if fr.Remaining().IsPositive() {
			return PackageEffective
		}
	}
	return PackageUsedUp
}

func (p ResourcePackage) deepCopy() ResourcePackage {
	if p.FreeResources != nil {
		frs := make([]FreeResource, len(p.FreeResources))
		for i, fr := range p.FreeResources {
			fr.UsedUntil = clonePtr(fr.UsedUntil)
			frs[i] = fr
		}
		p.FreeResources = frs
	}
	return p
}

// resetPeriod returns the reset cycle of a resettable package that holds
// t: [start, end). Natural cycles are UTC+8 periods; the first cycle starts
// at the effective time at the earliest.
func (p *ResourcePackage) resetPeriod(t time.Time) (time.Time, time.Time) {
	var start, end time.Time
	if p.QuotaReuseCycleType == ReuseFromSubscription {
		start, end = subscriptionCycle(p.EffectiveTime, t, p.QuotaReuseCycle)
	} else {
		l := t.In(beijing)
		switch p.QuotaReuseCycle {
		case ReuseHour:
			start = l.Truncate(time.Hour)
			end = start.Add(time.Hour)
		case ReuseDay:
			start = time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, beijing)
			end = start.AddDate(0, 0, 1)
		case ReuseWeek:
			back := (int(l.Weekday()) + 6) % 7 // days since Monday
			start = time.Date(l.Year(), l.Month(), l.Day()-back, 0, 0, 0, 0, beijing)
			end = start.AddDate(0, 0, 7)
		case ReuseYear:
			start = time.Date(l.Year(), time.January, 1, 0, 0, 0, 0, beijing)
			end = start.AddDate(1, 0, 0)
		default:
			start = time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, beijing)
			end = start.AddDate(0, 1, 0)
		}
	}
	if start.Before(p.EffectiveTime) {
		start = p.EffectiveTime
	}
	return start.UTC(), end.UTC()
}

// subscriptionCycle returns the cycle counted from eff that holds t.
func subscriptionCycle(eff, t time.Time, cycle int) (time.Time, time.Time) {
	if t.Before(eff) {
		t = eff
	}
	var step time.Duration
	switch cycle {
	case ReuseHour:
		step = time.Hour
	case ReuseDay:
		step = 24 * time.Hour
	case ReuseWeek:
		step = 7 * 24 * time.Hour
	}
	if step > 0 {
		k := t.Sub(eff) / step
		start := eff.Add(k * step)
		return start, start.Add(step)
	}
	months := 1
	if cycle == ReuseYear {
		months = 12
	}
	k := ((t.Year()-eff.Year())*12 + int(t.Month()) - int(eff.Month())) / months
	start := eff.AddDate(0, k*months, 0)
	for start.After(t) {
		k--
		start = eff.AddDate(0, k*months, 0)
	}
	end := eff.AddDate(0, (k+1)*months, 0)
	for !end.After(t) {
		k++
		start, end = end, eff.AddDate(0, (k+1)*months, 0)
	}
	return start, end
}

// usePackagesLocked applies the usage of every free resource up to now.
func (s *Sim) usePackagesLocked(now time.Time) {
	for i := range s.st.Packages {
		p := &s.st.Packages[i]
		for j := range p.FreeResources {
			s.useLocked(p, &p.FreeResources[j], now)
		}
	}
}

// useLocked applies the usage of fr from where it was last brought up to
// date to now, within the package's life, resetting it at the start of
// each reset cycle of a resettable package. A free resource that was never
// brought up to date starts now (or when the package takes effect).
func (s *Sim) useLocked(p *ResourcePackage, fr *FreeResource, now time.Time) {
	if fr.UsedUntil == nil {
		t := now
		if t.Before(p.EffectiveTime) {
			t = p.EffectiveTime
		}
		fr.UsedUntil = &t
		s.dirty = true
		return
	}
	start := *fr.UsedUntil
	if !start.Before(now) {
		return
	}
	end := now
	if p.ExpireTime.Before(end) {
		end = p.ExpireTime
	}
	if start.Before(p.EffectiveTime) {
		start = p.EffectiveTime
	}
	resettable := p.QuotaReuseMode == QuotaResettable
	for !p.Unsubscribed && start.Before(end) {
		using := fr.UsageRate.IsPositive() && fr.Remaining().IsPositive()
		if !using && !resettable {
			break // nothing changes until the package expires
		}
		segEnd := end
		var reset time.Time
		if resettable {
			_, reset = p.resetPeriod(start)
			segEnd = minTime(segEnd, reset)
		}
		if using {
			// At most a day at a time, as consumption does, so that spend's
			// quotient fits.
			segEnd = minTime(segEnd, start.Add(24*time.Hour))
			used, carry := spend(fr.UsageRate.Fen(), segEnd.Sub(start), fr.UsageCarry)
			fr.UsageCarry = carry
			fr.UsedAmount = money.Min(fr.UsedAmount.Add(money.FromFen(used)), fr.OriginalAmount)
		}
		if resettable && segEnd.Equal(reset) {
			fr.UsedAmount, fr.UsageCarry = 0, 0
		}
		start = segEnd
	}
	t := now
	fr.UsedUntil = &t
	s.dirty = true
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// AddPackage adds a resource package to an account (as if it had bought
// one). CustomerID names the owner (a master's domain id or a sub-account
// id; empty means the first master). Empty fields get defaults: a
// generated order instance id, order id (for source type 0) and free
// resource ids, DefaultServiceTypeCode, a product id and name from the
// service, the current simulated time as effective time, one year later as
// expiry, ATOMIC_PKG, not resettable (a resettable package resets monthly
// in natural months unless it says otherwise) and DefaultMeasureID. Each
// free resource needs a usage type name and a positive original amount;
// its used amount (0: untouched) may not exceed it. Usage starts at the
// later of now and the effective time.
func (s *Sim) AddPackage(p ResourcePackage) (ResourcePackage, error) {
	p = p.deepCopy()
	if len(p.FreeResources) == 0 {
		return ResourcePackage{}, errors.New("free_resources must name at least one free resource")
	}
	now := s.lock()
	defer s.unlock()
	if p.CustomerID == "" {
		p.CustomerID = s.masterLocked("").DomainID
	}
	if m := s.masterLocked(p.CustomerID); m != nil && m.DomainID == p.CustomerID {
		p.DomainID = m.DomainID
	} else if sa := s.subLocked(p.CustomerID); sa != nil {
		p.DomainID = sa.DomainID
	} else {
		return ResourcePackage{}, fmt.Errorf("unknown customer_id %q", p.CustomerID)
	}
	taken := s.packageIDsLocked()
	if p.OrderInstanceID == "" {
		p.OrderInstanceID = s.nextHexLocked("package")
	}
	if taken[p.OrderInstanceID] {
		return ResourcePackage{}, fmt.Errorf("a package or free resource %q already exists", p.OrderInstanceID)
	}
	taken[p.OrderInstanceID] = true
	if p.SourceType == 0 && p.OrderID == "" {
		p.OrderID = s.nextDigitsLocked("CS", 14, s.orderIDTakenLocked)
	}
	p.ServiceTypeCode = cmp.Or(p.ServiceTypeCode, DefaultServiceTypeCode)
	p.ServiceTypeName = cmp.Or(p.ServiceTypeName, serviceName(p.ServiceTypeCode))
	p.ProductID = cmp.Or(p.ProductID, "PKG"+strings.ToUpper(strings.TrimPrefix(p.ServiceTypeCode, "hws.service.type."))+"0001")
	p.ProductName = cmp.Or(p.ProductName, serviceName(p.ServiceTypeCode)+" resource package")
	if p.EffectiveTime.IsZero() {
		p.EffectiveTime = now
	}
	if p.ExpireTime.IsZero() {
		p.ExpireTime = p.EffectiveTime.AddDate(1, 0, 0)
	}
	for i := range p.FreeResources {
		fr := &p.FreeResources[i]
		if fr.ID == "" {
			fr.ID = uuidLike(s.nextHexLocked("free-resource"))
		}
		if taken[fr.ID] {
			return ResourcePackage{}, fmt.Errorf("a package or free resource %q already exists", fr.ID)
		}
		taken[fr.ID] = true
		start := now
		if start.Before(p.EffectiveTime) {
			start = p.EffectiveTime
		}
		fr.UsedUntil, fr.UsageCarry = &start, 0
	}
	p.normalize()
	if err := p.validate(); err != nil {
		return ResourcePackage{}, err
	}
	s.st.Packages = append(s.st.Packages, p.deepCopy())
	s.dirty = true
	s.log.Info("resource package added", "order_instance_id", p.OrderInstanceID, "customer_id", p.CustomerID, "product_name", p.ProductName)
	return p.deepCopy(), nil
}

// packageIDsLocked returns the order instance ids and free resource ids in
// use.
func (s *Sim) packageIDsLocked() map[string]bool {
	ids := map[string]bool{}
	for _, p := range s.st.Packages {
		ids[p.OrderInstanceID] = true
		for _, fr := range p.FreeResources {
			ids[fr.ID] = true
		}
	}
	return ids
}

// uuidLike formats 32 hex digits as a UUID (8-4-4-4-12), the form of BSS's
// free resource ids.
func uuidLike(h string) string {
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// normalize fills a package's defaulted fields in place.
func (p *ResourcePackage) normalize() {
	p.EffectiveTime = p.EffectiveTime.UTC().Truncate(time.Second)
	p.ExpireTime = p.ExpireTime.UTC().Truncate(time.Second)
	p.BundleType = cmp.Or(p.BundleType, BundleAtomic)
	p.QuotaReuseMode = cmp.Or(p.QuotaReuseMode, QuotaNotResettable)
	if p.QuotaReuseMode == QuotaResettable {
		p.QuotaReuseCycle = cmp.Or(p.QuotaReuseCycle, ReuseMonth)
		p.QuotaReuseCycleType = cmp.Or(p.QuotaReuseCycleType, ReuseNatural)
	}
	for i := range p.FreeResources {
		p.FreeResources[i].MeasureID = cmp.Or(p.FreeResources[i].MeasureID, DefaultMeasureID)
	}
}

// validate checks a normalized package on its own.
func (p *ResourcePackage) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("package %q: "+format, append([]any{p.OrderInstanceID}, args...)...))
	}
	if p.OrderInstanceID == "" || p.CustomerID == "" {
		bad("order_instance_id and customer_id are required")
	}
	if !p.ExpireTime.After(p.EffectiveTime) {
		bad("expire_time must be after effective_time")
	}
	if p.SourceType != 0 && p.SourceType != 1 {
		bad("source_type must be 0 (order) or 1 (gift)")
	}
	if p.BundleType != BundleAtomic && p.BundleType != BundleCombined {
		bad("bundle_type must be %s or %s", BundleAtomic, BundleCombined)
	}
	switch p.QuotaReuseMode {
	case QuotaNotResettable:
		if p.QuotaReuseCycle != 0 || p.QuotaReuseCycleType != 0 {
			bad("quota_reuse_cycle and quota_reuse_cycle_type need quota_reuse_mode 1")
		}
	case QuotaResettable:
		if p.QuotaReuseCycle < ReuseHour || p.QuotaReuseCycle > ReuseYear || (p.QuotaReuseCycleType != ReuseNatural && p.QuotaReuseCycleType != ReuseFromSubscription) {
			bad("quota_reuse_cycle must be 1-5 and quota_reuse_cycle_type 1 or 2")
		}
	default:
		bad("quota_reuse_mode must be 1 (resettable) or 2 (not resettable)")
	}
	if len(p.FreeResources) == 0 {
		bad("it has no free resources")
	}
	for _, fr := range p.FreeResources {
		switch {
		case fr.ID == "" || len(fr.ID) > 64:
			bad("a free_resource_id is empty or longer than 64 bytes")
		case fr.UsageTypeName == "":
			bad("free resource %q needs a usage_type_name", fr.ID)
		case !fr.OriginalAmount.IsPositive():
			bad("free resource %q needs a positive original_amount", fr.ID)
		case fr.UsedAmount.IsNegative() || fr.UsedAmount.Cmp(fr.OriginalAmount) > 0:
			bad("free resource %q has used_amount %s of %s", fr.ID, fr.UsedAmount, fr.OriginalAmount)
		case fr.UsageRate.IsNegative():
			bad("free resource %q has a negative usage_rate", fr.ID)
		}
	}
	return errors.Join(errs...)
}

// queryable reports whether a package can still be queried at now: not
// expired for more than 18 months.
func (p *ResourcePackage) queryable(now time.Time) bool {
	return now.Before(p.ExpireTime.AddDate(0, packageRetentionMonths, 0))
}

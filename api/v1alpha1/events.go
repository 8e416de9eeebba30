package v1alpha1

// Reasons of events that no condition carries.
const (
	// EventExternalMovement: the master moved money to or from a
	// sub-account outside the operator (on the EnterpriseAccount, and on
	// the SubAccount it is attributed to).
	EventExternalMovement = "ExternalMovement"
	// EventPackageExpiringUnused: a resource package of the master expires
	// within the expiry horizon with much of it unused.
	EventPackageExpiringUnused = "PackageExpiringUnused"
	// EventCouponExpiring: a transferable coupon of the master with a
	// balance expires within the expiry horizon.
	EventCouponExpiring = "CouponExpiring"
)

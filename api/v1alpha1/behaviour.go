package v1alpha1

import "time"

// Behaviour is the EnterpriseAccount's declared BSS behaviour with every
// unset answer spelled out as Unknown.
func (s *EnterpriseAccountSpec) Behaviour() BSSBehaviour {
	var b BSSBehaviour
	if s.BSSBehaviour != nil {
		b = *s.BSSBehaviour.DeepCopy()
	}
	for _, f := range []*string{&b.RefusedTransIDs, &b.TransferRecords, &b.Reclaimable} {
		if *f == "" {
			*f = BehaviourUnknown
		}
	}
	return b
}

// BehaviourOf is the declared BSS behaviour of ea's master; Unknown
// throughout when ea is nil (it cannot be read).
func BehaviourOf(ea *EnterpriseAccount) BSSBehaviour {
	if ea == nil {
		return (&EnterpriseAccountSpec{}).Behaviour()
	}
	return ea.Spec.Behaviour()
}

// transIDRetentionMargin covers the clock difference between the operator
// and BSS when the retention is counted from the first attempt.
const transIDRetentionMargin = time.Minute

// ResendWindow is how long after its first attempt a transfer may still be
// resent with its trans_id: the declared retention less a minute, capped by
// safetyWindow; safetyWindow alone when the retention is unknown.
func (b BSSBehaviour) ResendWindow(safetyWindow time.Duration) time.Duration {
	if b.TransIDRetention == nil {
		return safetyWindow
	}
	return min(safetyWindow, max(b.TransIDRetention.Duration-transIDRetentionMargin, 0))
}

// DuplicateProvesApplied reports whether CBC.99007009 alone proves that a
// trans_id was applied: only where refused trans_ids are declared reusable.
func (b BSSBehaviour) DuplicateProvesApplied() bool {
	return b.RefusedTransIDs == RefusedTransIDsReusable
}

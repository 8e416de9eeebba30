package bsssim

import (
	"errors"
	"fmt"
)

// Behaviour chooses, for each thing Huawei does not document about the
// money APIs (bss-api.md §10–11), which of the plausible BSS behaviours the
// simulator shows. The zero value is the simulator's long-standing default:
// refused trans_ids are reusable, applied ones are remembered forever, the
// master's income/expense records carry each transfer with trade_id =
// trans_id, and reclaimable cash is what the master gave minus what was
// spent of it.
type Behaviour struct {
	// RefusedTransIDs (a): RefusedReusable ("" too): a trans_id that BSS
	// refused with a terminal code is processed again when resent;
	// RefusedBurned: it is remembered like an applied one, so a resend
	// answers CBC.99007009 although nothing moved.
	RefusedTransIDs string `json:"refused_trans_ids,omitempty"`
	// TransIDRetention (b) is how long, in simulated time, a trans_id is
	// remembered after BSS first saw it; zero means forever. A resend after
	// it is processed as new (and moves the money again).
	TransIDRetention Duration `json:"trans_id_retention,omitempty"`
	// TransferRecords (c) is what the master's income/expense records
	// (ListCustomerAccountChangeRecords) show of its transfers and reclaims:
	// RecordsTransID ("" too): one record each with trade_id = trans_id;
	// RecordsOwnID: one record each with a trade_id of BSS's own;
	// RecordsNone: no record. The sub-account's own records are unchanged.
	TransferRecords string `json:"transfer_records,omitempty"`
	// Reclaimable (d) is what avail_retrieve_amount reports:
	// ReclaimableFunded ("" too): the cash the master gave minus what was
	// spent of it (money the sub-account topped up itself is excluded);
	// ReclaimableTotal: the sub-account's whole cash balance, its own top-ups
	// included, and a reclaim may take them.
	Reclaimable string `json:"reclaimable,omitempty"`
}

// Values of the Behaviour fields.
const (
	RefusedReusable   = "reusable"
	RefusedBurned     = "burned"
	RecordsTransID    = "trans-id"
	RecordsOwnID      = "own-id"
	RecordsNone       = "none"
	ReclaimableFunded = "funded"
	ReclaimableTotal  = "total"
)

// Normalized returns b with every default spelled out.
func (b Behaviour) Normalized() Behaviour {
	if b.RefusedTransIDs == "" {
		b.RefusedTransIDs = RefusedReusable
	}
	if b.TransferRecords == "" {
		b.TransferRecords = RecordsTransID
	}
	if b.Reclaimable == "" {
		b.Reclaimable = ReclaimableFunded
	}
	return b
}

// Validate reports an unknown value.
func (b Behaviour) Validate() error {
	n := b.Normalized()
	var errs []error
	if n.RefusedTransIDs != RefusedReusable && n.RefusedTransIDs != RefusedBurned {
		errs = append(errs, fmt.Errorf("refused_trans_ids must be %q or %q, not %q", RefusedReusable, RefusedBurned, b.RefusedTransIDs))
	}
	if b.TransIDRetention < 0 {
		errs = append(errs, errors.New("trans_id_retention must not be negative"))
	}
	if n.TransferRecords != RecordsTransID && n.TransferRecords != RecordsOwnID && n.TransferRecords != RecordsNone {
		errs = append(errs, fmt.Errorf("transfer_records must be %q, %q or %q, not %q", RecordsTransID, RecordsOwnID, RecordsNone, b.TransferRecords))
	}
	if n.Reclaimable != ReclaimableFunded && n.Reclaimable != ReclaimableTotal {
		errs = append(errs, fmt.Errorf("reclaimable must be %q or %q, not %q", ReclaimableFunded, ReclaimableTotal, b.Reclaimable))
	}
	return errors.Join(errs...)
}

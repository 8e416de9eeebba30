package bsssim

import (
	"errors"
	"fmt"
	"net/http"
	"time"
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
	// answers CBC.99007009 although nothing moved. Terminal codes are the
	// business refusals BSS gives once it has accepted a money write for
	// processing (HTTP 400 with a code other than CBC.0100, CBC.99007009 and
	// CBC.99007461): insufficient balance, fail_check_items, expired credit,
	// unknown sub-customer, sub-account status. Authentication, throttling,
	// injected faults, the in-progress refusal and parameter errors
	// (CBC.0100) never burn a trans_id. Burned trans_ids are kept in
	// State.BurnedTransIDs, apart from the ledger of applied operations.
	RefusedTransIDs string `json:"refused_trans_ids,omitempty"`
	// TransIDRetention (b) is how long, in simulated time, a trans_id is
	// remembered after BSS first saw it; zero means forever. A resend after
	// it is processed as new (and moves the money again). "First saw" is the
	// simulated time of the request that applied (LedgerEntry.Time) or
	// burned (BurnedTransID.Time) it: a duplicate answer does not extend
	// it, and a refusal under RefusedReusable is not remembered at all. A
	// trans_id processed again after it is recorded again, marked
	// AfterRetention, and CheckLedger reports it as applied twice.
	TransIDRetention Duration `json:"trans_id_retention,omitempty"`
	// TransferRecords (c) is what the master's income/expense records
	// (ListCustomerAccountChangeRecords) show of its transfers and reclaims:
	// RecordsTransID ("" too): one record each with trade_id = trans_id;
	// RecordsOwnID: one record each with a trade_id of BSS's own;
	// RecordsNone: no record. The sub-account's own records are unchanged.
	// Cash and credit movements alike; the choice applies to records
	// written while it is in force.
	TransferRecords string `json:"transfer_records,omitempty"`
	// Reclaimable (d) is what avail_retrieve_amount reports:
	// ReclaimableFunded ("" too): the cash the master gave minus what was
	// spent of it (money the sub-account topped up itself is excluded);
	// ReclaimableTotal: the sub-account's whole cash balance, its own top-ups
	// included, and a reclaim may take them: it takes the reclaimable cash
	// first and its own top-ups after it (LedgerEntry.SelfFunded). That
	// money was in the master's books already (a sub-account's top-up
	// counts in its master's Totals.Added, or in Totals.Seeded), so the
	// reclaim only moves it inside them and conservation holds as it is.
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

// String describes b with every default spelled out, for logs.
func (b Behaviour) String() string {
	n := b.Normalized()
	retention := "forever"
	if n.TransIDRetention > 0 {
		retention = time.Duration(n.TransIDRetention).String()
	}
	return fmt.Sprintf("refused_trans_ids=%s trans_id_retention=%s transfer_records=%s reclaimable=%s",
		n.RefusedTransIDs, retention, n.TransferRecords, n.Reclaimable)
}

// remembers reports whether a trans_id first seen at seen is still
// remembered at now.
func (b Behaviour) remembers(seen, now time.Time) bool {
	return b.TransIDRetention <= 0 || now.Before(seen.Add(time.Duration(b.TransIDRetention)))
}

// burns reports whether a money write refused with err burns its trans_id:
// only under RefusedBurned, and only for a terminal business refusal that
// BSS gave after accepting the request for processing (HTTP 400 with a
// business code). Parameter errors (CBC.0100), a duplicate trans_id
// (CBC.99007009), the in-progress refusal (CBC.99007461), authentication,
// throttling and injected faults never burn it; the last three never reach
// the money engine at all.
func (b Behaviour) burns(err error) bool {
	if err == nil || b.Normalized().RefusedTransIDs != RefusedBurned {
		return false
	}
	var ae *apiError
	if !errors.As(err, &ae) || ae.status != http.StatusBadRequest {
		return false
	}
	switch ae.code {
	case CodeParam, CodeDuplicateTransID, CodeBusy:
		return false
	}
	return true
}

// BurnedTransID is a trans_id that BSS refused with a terminal code while
// Behaviour.RefusedTransIDs was RefusedBurned. BSS remembers it like an
// applied one (a resend answers CBC.99007009) although nothing moved, so it
// is kept apart from State.Ledger, which holds applied operations only.
type BurnedTransID struct {
	// TransID is the trans_id (sent by the client or generated).
	TransID string `json:"trans_id"`
	// Operation is one of the Op* constants.
	Operation string `json:"operation"`
	// DomainID is the master that made the call.
	DomainID string `json:"domain_id"`
	// CustomerID is the customer_id of the request (it may name no
	// sub-account of the master: CBC.99000047 burns too).
	CustomerID string `json:"customer_id"`
	// ErrorCode is the code of the refusal, such as CBC.99005003.
	ErrorCode string `json:"error_code"`
	// Time is the simulated time of the refusal; a TransIDRetention counts
	// from it.
	Time time.Time `json:"time"`
	// RequestID is the X-Request-Id of the refused request.
	RequestID string `json:"request_id,omitempty"`
	// AfterRetention is set when BSS had seen the trans_id before and had
	// forgotten it (Behaviour.TransIDRetention) when this request came.
	AfterRetention bool `json:"after_retention,omitempty"`
}

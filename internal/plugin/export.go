package plugin

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// csvHeader is the header of `kubectl budget history -o csv`, the export
// for accounting systems; csvRecord writes the fields in this order.
var csvHeader = []string{
	"completed", "namespace", "allocation", "ledger_id", "sequence", "operation", "balance_type",
	"amount", "coupon", "customer", "trans_id", "phase", "reason", "evidence_kind", "source",
}

// writeJSON prints rows as one indented JSON array ("[]" for none).
func writeJSON(w io.Writer, rows []*movement) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rows); err != nil {
		return fmt.Errorf("writing JSON: %w", err)
	}
	return nil
}

// writeCSV prints the header and one line per row (RFC 4180).
func writeCSV(w io.Writer, rows []*movement) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("writing CSV: %w", err)
	}
	for _, m := range rows {
		if err := cw.Write(csvRecord(m)); err != nil {
			return fmt.Errorf("writing CSV: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("writing CSV: %w", err)
	}
	return nil
}

func csvRecord(m *movement) []string {
	return []string{
		m.Completed, m.Namespace, m.Allocation, m.LedgerID, strconv.FormatInt(m.Sequence, 10), m.Operation, m.BalanceType,
		m.Amount, m.CouponID, m.CustomerID, m.TransID, m.Phase, m.Reason, m.EvidenceKind, m.Source,
	}
}

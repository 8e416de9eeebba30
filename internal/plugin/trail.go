package plugin

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
)

// recordPageSize is how many LedgerRecords one LIST returns: a record holds
// up to 200 entries, so pages stay small.
const recordPageSize = 50

// sourceLive marks a row read from a BudgetTransfer that still exists.
const sourceLive = "live"

// Notes printed on stderr when the kept trail cannot be read.
const (
	noteTrailForbidden = "note: the kept audit trail (LedgerRecords) is not shown: reading it needs the ledger-record-reader role; only live transfers follow"
	noteTrailMissing   = "note: this cluster has no LedgerRecord kind (the operator's CRDs predate the audit trail); only live transfers follow"
)

// trail is what the cluster keeps of an allocation's ledgers after their
// transfers are deleted.
type trail struct {
	records []budgetv1alpha1.LedgerRecord
	// note says why the records could not be read; "" when they were.
	note string
}

// readTrail lists the LedgerRecords of one ledger (ledgerID set: the
// allocation exists) or of every ledger the allocation key had (the
// allocation is gone), by label selector and page by page. A reader who
// may not list LedgerRecords, or a cluster without the kind, gets a note
// instead of an error.
func readTrail(ctx context.Context, c client.Reader, key types.NamespacedName, ledgerID string) (trail, error) {
	sel := client.MatchingLabels{
		budgetv1alpha1.LabelNamespace:  key.Namespace,
		budgetv1alpha1.LabelAllocation: common.LabelValue(key.Name),
	}
	if ledgerID != "" {
		sel = client.MatchingLabels{budgetv1alpha1.LabelLedger: budgetv1alpha1.LedgerKey(ledgerID)}
	}
	records, err := listRecords(ctx, c, sel)
	switch {
	case apierrors.IsForbidden(err):
		return trail{note: noteTrailForbidden}, nil
	case meta.IsNoMatchError(err) || apierrors.IsNotFound(err):
		return trail{note: noteTrailMissing}, nil
	case err != nil:
		return trail{}, fmt.Errorf("listing LedgerRecords: %w", err)
	}
	// Labels are hashes and cut names: keep only the records that say so.
	var t trail
	for _, r := range records {
		mine := r.Spec.Namespace == key.Namespace && r.Spec.Allocation == key.Name
		if ledgerID != "" {
			mine = r.Spec.LedgerID == ledgerID
		}
		if mine {
			t.records = append(t.records, r)
		}
	}
	return t, nil
}

// listRecords lists the LedgerRecords sel selects, recordPageSize at a time.
func listRecords(ctx context.Context, c client.Reader, sel client.MatchingLabels) ([]budgetv1alpha1.LedgerRecord, error) {
	var out []budgetv1alpha1.LedgerRecord
	cont := ""
	for {
		var page budgetv1alpha1.LedgerRecordList
		if err := c.List(ctx, &page, sel, client.Limit(recordPageSize), client.Continue(cont)); err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if cont = page.Continue; cont == "" {
			return out, nil
		}
	}
}

// ledger is one ledger id's history: kept entries and live transfers,
// merged by sequence.
type ledger struct {
	id      string
	rows    map[int64]*movement
	records int
	live    int
	// first is the earliest creation seen in it: when the ledger began,
	// which orders an allocation key's ledgers (a name is reused only after
	// the allocation that had it is gone).
	first time.Time
}

func (l *ledger) see(t time.Time) {
	if !t.IsZero() && (l.first.IsZero() || t.Before(l.first)) {
		l.first = t
	}
}

// sorted returns the ledger's rows in sequence order.
func (l *ledger) sorted() []*movement {
	out := make([]*movement, 0, len(l.rows))
	for _, m := range l.rows {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Sequence < out[j].Sequence })
	return out
}

// ledgerSet holds an allocation's ledgers by id.
type ledgerSet map[string]*ledger

func (s ledgerSet) get(id string) *ledger {
	l := s[id]
	if l == nil {
		l = &ledger{id: id, rows: map[int64]*movement{}}
		s[id] = l
	}
	return l
}

// addRecords adds the records' entries; of two entries with one sequence
// the one in the record whose name sorts first is kept.
func (s ledgerSet) addRecords(records []budgetv1alpha1.LedgerRecord) {
	sort.Slice(records, func(i, j int) bool { return records[i].Name < records[j].Name })
	for i := range records {
		r := &records[i]
		l := s.get(r.Spec.LedgerID)
		l.records++
		for j := range r.Spec.Entries {
			e := &r.Spec.Entries[j]
			if _, dup := l.rows[e.Sequence]; dup {
				continue
			}
			l.rows[e.Sequence] = fromEntry(r, e)
			switch {
			case e.Created != nil:
				l.see(e.Created.Time)
			case e.Completed != nil:
				l.see(e.Completed.Time)
			default:
				l.see(r.CreationTimestamp.Time)
			}
		}
	}
}

// newest returns the ledger begun last, or nil.
func (s ledgerSet) newest() *ledger {
	var best *ledger
	for _, l := range s.ordered(nil) {
		best = l
	}
	return best
}

// ordered returns the ledgers in the order they began; last, when set, is put at the
// end (the existing allocation's own ledger).
func (s ledgerSet) ordered(last *ledger) []*ledger {
	var out []*ledger
	for _, l := range s {
		if l != last {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].first.Equal(out[j].first) {
			return out[i].first.Before(out[j].first)
		}
		return out[i].id < out[j].id
	})
	if last != nil {
		out = append(out, last)
	}
	return out
}

// addLive puts each live transfer into its ledger, replacing a kept entry
// of the same sequence: the ledger whose kept entry of that sequence has
// its trans_id, else the ledger its owner started (the id part of a ledger
// id is the UID of the allocation that started it), else fallback. Of two
// live transfers with one sequence the first is kept.
func (s ledgerSet) addLive(bts []*budgetv1alpha1.BudgetTransfer, fallback *ledger) {
	for _, bt := range bts {
		l := s.ledgerOf(bt)
		if l == nil {
			l = fallback
		}
		if m := l.rows[bt.Spec.Sequence]; m != nil && m.Source == sourceLive {
			continue
		}
		l.rows[bt.Spec.Sequence] = fromTransfer(l.id, bt)
		l.live++
		l.see(bt.CreationTimestamp.Time)
	}
}

func (s ledgerSet) ledgerOf(bt *budgetv1alpha1.BudgetTransfer) *ledger {
	for _, l := range s {
		if m := l.rows[bt.Spec.Sequence]; m != nil && m.Source != sourceLive && m.TransID == bt.Spec.TransID {
			return l
		}
	}
	for _, l := range s {
		uid := l.id[strings.LastIndex(l.id, "/")+1:]
		for _, o := range bt.OwnerReferences {
			if uid != "" && string(o.UID) == uid {
				return l
			}
		}
	}
	return nil
}

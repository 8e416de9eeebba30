package plugin_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/plugin"
)

// The history tests below run against controller-runtime's fake client;
// the namespace is "ledgers".
const ledgerNS = "ledgers"

var (
	// Two incarnations of ledgers/compute: the first (deleted in 2025) and
	// the current one.
	oldLedger = ledgerNS + "/compute/uid-old"
	newLedger = ledgerNS + "/compute/uid-new"
	day1      = metav1.NewTime(time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC))
	day2      = metav1.NewTime(time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC))
)

// allocation is ledgers/NAME with UID uid and the ledger id ledgerID.
func allocation(name string, uid types.UID, ledgerID string) *budgetv1alpha1.BudgetAllocation {
	return &budgetv1alpha1.BudgetAllocation{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ledgerNS, UID: uid,
			Annotations: map[string]string{budgetv1alpha1.AnnotationLedgerID: ledgerID}},
		Spec:   budgetv1alpha1.BudgetAllocationSpec{SubAccountRef: budgetv1alpha1.LocalObjectReference{Name: "team-a"}, Amount: money("700.00")},
		Status: budgetv1alpha1.BudgetAllocationStatus{Desired: "700.00", Granted: "700.00"},
	}
}

// mv is a movement of a test ledger: a Transfer (amount > 0) or a Reclaim
// (amount < 0) of cash, or a coupon transfer (coupon set).
type mv struct {
	seq    int64
	amount int
	phase  budgetv1alpha1.TransferPhase
	coupon string
}

func (m mv) operation() (budgetv1alpha1.TransferOperation, budgetv1alpha1.Money) {
	switch {
	case m.coupon != "":
		return budgetv1alpha1.OperationCouponTransfer, budgetv1alpha1.Money(fmt.Sprintf("%d.00", m.amount))
	case m.amount < 0:
		return budgetv1alpha1.OperationReclaim, budgetv1alpha1.Money(fmt.Sprintf("%d.00", -m.amount))
	}
	return budgetv1alpha1.OperationTransfer, budgetv1alpha1.Money(fmt.Sprintf("%d.00", m.amount))
}

// testTransID is a fake trans_id of ledgerID's sequence seq.
func testTransID(ledgerID string, seq int64) string {
	return fmt.Sprintf("%016x%016x", len(ledgerID)*7919+int(ledgerID[len(ledgerID)-1]), seq)
}

// record is the LedgerRecord of ledgerID's movements, written at at.
func record(ledgerID, alloc string, at metav1.Time, reason string, moves ...mv) *budgetv1alpha1.LedgerRecord {
	r := &budgetv1alpha1.LedgerRecord{
		ObjectMeta: metav1.ObjectMeta{Name: budgetv1alpha1.LedgerRecordName(ledgerID, moves[0].seq), CreationTimestamp: at,
			Labels: map[string]string{
				budgetv1alpha1.LabelLedger: budgetv1alpha1.LedgerKey(ledgerID), budgetv1alpha1.LabelNamespace: ledgerNS,
				budgetv1alpha1.LabelAllocation: alloc, budgetv1alpha1.LabelSubAccount: "team-a", budgetv1alpha1.LabelYear: strconv.Itoa(at.Year()),
			}},
		Spec: budgetv1alpha1.LedgerRecordSpec{LedgerID: ledgerID, Namespace: ledgerNS, Allocation: alloc, SubAccount: "team-a",
			Reason: reason, FromSequence: moves[0].seq, ToSequence: moves[len(moves)-1].seq},
	}
	for _, m := range moves {
		op, amount := m.operation()
		completed := metav1.NewTime(at.Add(-time.Duration(100-m.seq) * time.Hour))
		e := budgetv1alpha1.LedgerEntry{Sequence: m.seq, Name: fmt.Sprintf("%s-%05d", alloc, m.seq), TransID: testTransID(ledgerID, m.seq),
			Operation: op, BalanceType: budgetv1alpha1.BalanceTypeDebit, Amount: amount, CouponID: m.coupon,
			CustomerID: "cust-team-a-0001", EnterpriseAccount: "acme", Phase: m.phase, Created: &completed, Completed: &completed}
		if m.phase == budgetv1alpha1.PhaseFailed {
			e.Reason, e.ErrorCode = "Refused", "CBC.99005003"
		}
		if m.amount < 0 {
			e.Evidence = &budgetv1alpha1.TransferEvidence{Kind: budgetv1alpha1.EvidenceRecords, Detail: "record 42"}
		}
		r.Spec.Entries = append(r.Spec.Entries, e)
	}
	return r
}

// transfer is a live BudgetTransfer of ledgerID owned by the allocation
// with UID owner.
func transfer(ledgerID, alloc string, owner types.UID, m mv) *budgetv1alpha1.BudgetTransfer {
	op, amount := m.operation()
	bt := &budgetv1alpha1.BudgetTransfer{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%05d", alloc, m.seq), Namespace: ledgerNS, CreationTimestamp: day2,
			Labels:          map[string]string{plugin.LabelAllocation: alloc},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: budgetv1alpha1.GroupVersion.String(), Kind: "BudgetAllocation", Name: alloc, UID: owner}}},
		Spec: budgetv1alpha1.BudgetTransferSpec{AllocationRef: budgetv1alpha1.LocalObjectReference{Name: alloc}, SubAccountName: "team-a",
			EnterpriseAccountName: "acme", CustomerID: "cust-team-a-0001", Operation: op, Amount: amount, CouponID: m.coupon,
			BalanceType: budgetv1alpha1.BalanceTypeDebit, TransID: testTransID(ledgerID, m.seq), Sequence: m.seq},
		Status: budgetv1alpha1.BudgetTransferStatus{Phase: m.phase, Attempts: 1},
	}
	if m.phase == budgetv1alpha1.PhaseSucceeded {
		bt.Status.CompletionTime = &day2
	}
	return bt
}

// fakeHistory runs kubectl budget history against a fake client holding
// objs; funcs, when set, intercept its calls.
func fakeHistory(t *testing.T, funcs *interceptor.Funcs, objs []client.Object, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	scheme, err := plugin.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	b := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...)
	if funcs != nil {
		b = b.WithInterceptorFuncs(*funcs)
	}
	c := b.Build()
	var out, errOut bytes.Buffer
	args = append([]string{"history"}, args...)
	code = plugin.Run(context.Background(), args, &out, &errOut, func(plugin.ConnectionFlags) (client.Client, string, error) { return c, ledgerNS, nil })
	t.Logf("kubectl budget %s (exit %d)\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return out.String(), errOut.String(), code
}

// rowOf returns the table row of sequence seq after the header line of
// ledger id, failing when there is none.
func rowOf(t *testing.T, out, id string, seq int64) string {
	t.Helper()
	_, section, ok := strings.Cut(out, "ledger "+id+" ")
	if !ok {
		t.Fatalf("no ledger %s in\n%s", id, out)
	}
	section, _, _ = strings.Cut(section, "\nledger ")
	for l := range strings.SplitSeq(section, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == strconv.FormatInt(seq, 10) {
			return l
		}
	}
	t.Fatalf("ledger %s has no sequence %d in\n%s", id, seq, out)
	return ""
}

func TestHistoryLiveOnly(t *testing.T) {
	objs := []client.Object{
		allocation("compute", "uid-new", newLedger),
		transfer(newLedger, "compute", "uid-new", mv{2, -300, budgetv1alpha1.PhaseSucceeded, ""}),
		transfer(newLedger, "compute", "uid-new", mv{1, 1000, budgetv1alpha1.PhaseSucceeded, ""}),
		transfer(newLedger, "compute", "uid-new", mv{3, 50, budgetv1alpha1.PhaseFailed, ""}),
	}
	out, errOut, code := fakeHistory(t, nil, objs, "compute")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	mustContain(t, out, "ba/ledgers/compute  subAccount team-a", "ledger "+newLedger+"  (0 kept in 0 LedgerRecords, 3 live)", "SOURCE")
	mustContain(t, rowOf(t, out, newLedger, 1), "compute-00001", "Transfer", "1000.00", "1000.00", "live")
	mustContain(t, rowOf(t, out, newLedger, 2), "Reclaim", "300.00", "700.00", "live")
	mustContain(t, rowOf(t, out, newLedger, 3), "Failed", "700.00", "live")
	mustNotContain(t, out, "note:")

	// An annotation copied from another allocation is not this one's
	// ledger: that ledger's records are not shown, and the allocation's
	// ledger id is the one the operator gives it.
	objs[0] = allocation("compute", "uid-new", ledgerNS+"/storage/uid-s")
	objs = append(objs, record(ledgerNS+"/storage/uid-s", "storage", day2, budgetv1alpha1.RecordDeleted, mv{1, 77, budgetv1alpha1.PhaseSucceeded, ""}))
	out, _, _ = fakeHistory(t, nil, objs, "compute")
	mustContain(t, out, "ledger "+newLedger+"  (0 kept in 0 LedgerRecords, 3 live)")
	mustNotContain(t, out, "storage", "77.00")
}

func TestHistoryRecordsOnly(t *testing.T) {
	objs := []client.Object{
		record(newLedger, "compute", day2, budgetv1alpha1.RecordDeleted,
			mv{1, 1000, budgetv1alpha1.PhaseSucceeded, ""}, mv{2, 20, budgetv1alpha1.PhaseSucceeded, "CP1"}, mv{3, -400, budgetv1alpha1.PhaseSucceeded, ""}),
	}
	out, errOut, code := fakeHistory(t, nil, objs, "compute")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	name := budgetv1alpha1.LedgerRecordName(newLedger, 1)
	mustContain(t, out, "no longer exists", "ledger "+newLedger+"  (3 kept in 1 LedgerRecords, 0 live)")
	mustContain(t, rowOf(t, out, newLedger, 1), "compute-00001", "1000.00", "Succeeded", testTransID(newLedger, 1), name)
	mustContain(t, rowOf(t, out, newLedger, 2), "CouponTransfer CP1", "1000.00", name)
	mustContain(t, rowOf(t, out, newLedger, 3), "Reclaim", "Succeeded (by records)", "600.00", name)
	if f := strings.Fields(rowOf(t, out, newLedger, 1)); f[5] != "-" {
		t.Errorf("a kept entry shows attempts %q, want -", f[5])
	}
}

func TestHistoryOverlapShowsLiveOnce(t *testing.T) {
	objs := []client.Object{
		allocation("compute", "uid-new", newLedger),
		record(newLedger, "compute", day2, budgetv1alpha1.RecordCompacted,
			mv{1, 1000, budgetv1alpha1.PhaseSucceeded, ""}, mv{2, -300, budgetv1alpha1.PhaseSucceeded, ""}),
		// The operator wrote the record and has not deleted sequence 2 yet.
		transfer(newLedger, "compute", "uid-new", mv{2, -300, budgetv1alpha1.PhaseSucceeded, ""}),
		transfer(newLedger, "compute", "uid-new", mv{3, 100, budgetv1alpha1.PhaseAwaitingApproval, ""}),
	}
	out, _, code := fakeHistory(t, nil, objs, "compute")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, out, "(1 kept in 1 LedgerRecords, 2 live)")
	mustContain(t, rowOf(t, out, newLedger, 1), budgetv1alpha1.LedgerRecordName(newLedger, 1), "1000.00")
	mustContain(t, rowOf(t, out, newLedger, 2), "700.00", "live")
	mustContain(t, rowOf(t, out, newLedger, 3), "AwaitingApproval", "700.00", "live")
	if n := strings.Count(out, "compute-00002"); n != 1 {
		t.Errorf("sequence 2 shown %d times, want once", n)
	}
	mustNotContain(t, out, "note:")
}

// twoLedgers is ledgers/compute deleted twice: the first allocation left a
// record and a transfer still settling, the second a record; another
// allocation of the namespace has a record of its own.
func twoLedgers() []client.Object {
	return []client.Object{
		record(newLedger, "compute", day2, budgetv1alpha1.RecordDeleted,
			mv{1, 500, budgetv1alpha1.PhaseSucceeded, ""}, mv{2, 200, budgetv1alpha1.PhaseSucceeded, ""}),
		record(oldLedger, "compute", day1, budgetv1alpha1.RecordDeleted,
			mv{1, 1000, budgetv1alpha1.PhaseSucceeded, ""}, mv{2, 900, budgetv1alpha1.PhaseFailed, ""}),
		transfer(oldLedger, "compute", "uid-old", mv{3, 50, budgetv1alpha1.PhaseSubmitting, ""}),
		record(ledgerNS+"/storage/uid-s", "storage", day2, budgetv1alpha1.RecordDeleted, mv{1, 77, budgetv1alpha1.PhaseSucceeded, ""}),
	}
}

func TestHistoryTwoLedgersForOneName(t *testing.T) {
	out, _, code := fakeHistory(t, nil, twoLedgers(), "compute")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	iOld, iNew := strings.Index(out, "ledger "+oldLedger), strings.Index(out, "ledger "+newLedger)
	if iOld < 0 || iNew < 0 || iOld > iNew {
		t.Errorf("want both ledgers, the newest last (old at %d, new at %d)", iOld, iNew)
	}
	mustContain(t, out, "ledger "+oldLedger+"  (2 kept in 1 LedgerRecords, 1 live)", "ledger "+newLedger+"  (2 kept in 1 LedgerRecords, 0 live)")
	// The running total starts again with each ledger.
	mustContain(t, rowOf(t, out, oldLedger, 1), "1000.00")
	mustContain(t, rowOf(t, out, oldLedger, 2), "Failed", "CBC.99005003", "1000.00")
	mustContain(t, rowOf(t, out, oldLedger, 3), "Submitting", "1000.00", "live")
	mustContain(t, rowOf(t, out, newLedger, 1), "500.00")
	mustContain(t, rowOf(t, out, newLedger, 2), "700.00")
	mustNotContain(t, out, "storage", "77.00")
}

func TestHistoryForbiddenTrail(t *testing.T) {
	var lists int
	funcs := &interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		if _, ok := list.(*budgetv1alpha1.LedgerRecordList); ok {
			lists++
			return apierrors.NewForbidden(schema.GroupResource{Group: budgetv1alpha1.GroupVersion.Group, Resource: "ledgerrecords"}, "",
				fmt.Errorf(`User "dev@team-a" cannot list resource "ledgerrecords"`))
		}
		return c.List(ctx, list, opts...)
	}}
	ba := allocation("compute", "uid-new", newLedger)
	ba.Status.Checkpoint = &budgetv1alpha1.LedgerCheckpoint{Sequence: 2, Transfers: 2}
	objs := []client.Object{
		ba,
		record(newLedger, "compute", day2, budgetv1alpha1.RecordCompacted,
			mv{1, 500, budgetv1alpha1.PhaseSucceeded, ""}, mv{2, 100, budgetv1alpha1.PhaseSucceeded, ""}),
		transfer(newLedger, "compute", "uid-new", mv{3, 100, budgetv1alpha1.PhaseSucceeded, ""}),
	}
	out, errOut, code := fakeHistory(t, funcs, objs, "compute")
	if code != 0 || lists != 1 {
		t.Fatalf("exit %d after %d LedgerRecord lists", code, lists)
	}
	if strings.Count(errOut, "\n") != 1 {
		t.Errorf("want one line on stderr, got %q", errOut)
	}
	mustContain(t, errOut, "ledger-record-reader")
	mustContain(t, out, "checkpoint 2 succeeded to sequence 2", "ledger "+newLedger+"  (kept trail not read, 1 live)", "the kept trail was not read")
	mustContain(t, rowOf(t, out, newLedger, 3), "100.00", "live")
	mustNotContain(t, out, budgetv1alpha1.LedgerKey(newLedger)+"-")

	// Gone, with live transfers left: shown.
	_, errOut, code = fakeHistory(t, funcs, twoLedgers(), "compute", "-o", "csv")
	if code != 0 || !strings.Contains(errOut, "ledger-record-reader") {
		t.Errorf("deleted allocation: exit %d, stderr %q", code, errOut)
	}
	// Gone, nothing left that may be read: an error, after the note.
	_, errOut, code = fakeHistory(t, funcs, nil, "compute")
	if code != plugin.ExitError || !strings.Contains(errOut, "ledger-record-reader") || !strings.Contains(errOut, "no BudgetAllocation ba/ledgers/compute") {
		t.Errorf("nothing readable: exit %d, stderr %q", code, errOut)
	}
}

// TestHistoryPagesBySelector checks that LedgerRecords are read by label
// selector, page by page: the interceptor refuses an unselected or
// unlimited list and serves one record a page.
func TestHistoryPagesBySelector(t *testing.T) {
	var pages int
	funcs := &interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		rl, ok := list.(*budgetv1alpha1.LedgerRecordList)
		if !ok {
			return c.List(ctx, list, opts...)
		}
		lo := (&client.ListOptions{}).ApplyOptions(opts)
		if lo.LabelSelector == nil || lo.LabelSelector.Empty() || lo.Limit <= 0 {
			return fmt.Errorf("a list of every LedgerRecord (selector %v, limit %d)", lo.LabelSelector, lo.Limit)
		}
		if err := c.List(ctx, list, client.MatchingLabelsSelector{Selector: lo.LabelSelector}); err != nil {
			return err
		}
		slices.SortFunc(rl.Items, func(a, b budgetv1alpha1.LedgerRecord) int { return strings.Compare(a.Name, b.Name) })
		at, _ := strconv.Atoi(lo.Continue)
		if at+1 < len(rl.Items) {
			rl.Continue = strconv.Itoa(at + 1)
		}
		rl.Items = rl.Items[at : at+1]
		pages++
		return nil
	}}
	objs := []client.Object{allocation("compute", "uid-new", newLedger)}
	for seq := int64(1); seq <= 4; seq++ {
		objs = append(objs, record(newLedger, "compute", day2, budgetv1alpha1.RecordCompacted, mv{seq, 100, budgetv1alpha1.PhaseSucceeded, ""}))
	}
	out, _, code := fakeHistory(t, funcs, objs, "compute")
	if code != 0 || pages != 4 {
		t.Fatalf("exit %d after %d pages, want 4", code, pages)
	}
	mustContain(t, rowOf(t, out, newLedger, 4), "400.00")
	// The same, for a deleted allocation (by namespace and name).
	_, _, code = fakeHistory(t, funcs, objs[1:], "compute")
	if code != 0 {
		t.Fatalf("deleted allocation: exit %d", code)
	}
}

func TestHistoryCSV(t *testing.T) {
	out, _, code := fakeHistory(t, nil, twoLedgers(), "compute", "-o", "csv")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"completed", "namespace", "allocation", "ledger_id", "sequence", "operation", "balance_type",
		"amount", "coupon", "customer", "trans_id", "phase", "reason", "evidence_kind", "source"}
	if !slices.Equal(lines[0], want) {
		t.Fatalf("header %q, want %q", lines[0], want)
	}
	if len(lines) != 6 {
		t.Fatalf("want a header and 5 movements, got %d lines", len(lines))
	}
	first := lines[1]
	wantFirst := []string{"2025-02-25T05:00:00Z", ledgerNS, "compute", oldLedger, "1", "Transfer", "Debit", "1000.00", "",
		"cust-team-a-0001", testTransID(oldLedger, 1), "Succeeded", "", "", budgetv1alpha1.LedgerRecordName(oldLedger, 1)}
	if !slices.Equal(first, wantFirst) {
		t.Errorf("first line %q, want %q", first, wantFirst)
	}
	if l := lines[2]; l[11] != "Failed" || l[12] != "Refused" {
		t.Errorf("failed entry: %q", l)
	}
	if l := lines[3]; l[0] != "" || l[4] != "3" || l[11] != "Submitting" || l[14] != "live" {
		t.Errorf("live transfer still settling: %q", l)
	}
	if l := lines[5]; l[3] != newLedger || l[4] != "2" {
		t.Errorf("last line %q: want the newest ledger's last movement", l)
	}
}

func TestHistoryJSON(t *testing.T) {
	objs := append(twoLedgers(), record(oldLedger, "compute", day1, budgetv1alpha1.RecordCompacted,
		mv{4, -300, budgetv1alpha1.PhaseSucceeded, ""}))
	out, _, code := fakeHistory(t, nil, objs, "compute", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 {
		t.Fatalf("want 6 rows, got %d", len(rows))
	}
	type key struct {
		ledger, source, granted string
		seq                     float64
	}
	var got []key
	for _, r := range rows {
		got = append(got, key{r["ledgerID"].(string), r["source"].(string), r["granted"].(string), r["sequence"].(float64)})
	}
	oldRec, newRec := budgetv1alpha1.LedgerRecordName(oldLedger, 1), budgetv1alpha1.LedgerRecordName(newLedger, 1)
	want := []key{
		{oldLedger, oldRec, "1000.00", 1}, {oldLedger, oldRec, "1000.00", 2}, {oldLedger, "live", "1000.00", 3},
		{oldLedger, budgetv1alpha1.LedgerRecordName(oldLedger, 4), "700.00", 4},
		{newLedger, newRec, "500.00", 1}, {newLedger, newRec, "700.00", 2},
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows\n%v\nwant\n%v", got, want)
	}
	if rows[0]["attempts"] != nil || rows[2]["attempts"] != float64(1) {
		t.Errorf("attempts: kept %v, live %v", rows[0]["attempts"], rows[2]["attempts"])
	}
	if rows[3]["evidenceKind"] != budgetv1alpha1.EvidenceRecords || rows[3]["evidenceDetail"] != "record 42" {
		t.Errorf("evidence of a kept entry: %v", rows[3])
	}
	for _, k := range []string{"transID", "operation", "balanceType", "amount", "couponID", "subCouponID", "expireTime", "customerID",
		"enterpriseAccount", "phase", "reason", "errorCode", "created", "completed", "namespace", "allocation", "name"} {
		if _, ok := rows[0][k]; !ok {
			t.Errorf("row lacks %q", k)
		}
	}
	again, _, _ := fakeHistory(t, nil, objs, "compute", "-o", "json")
	if again != out {
		t.Error("the JSON differs between two runs")
	}
	if _, errOut, code := fakeHistory(t, nil, objs, "compute", "-o", "yaml"); code != plugin.ExitUsage || !strings.Contains(errOut, "yaml") {
		t.Errorf("-o yaml: exit %d, %q", code, errOut)
	}
}

// TestHistoryKeptTrailOnAPIServer reads a deleted allocation's trail from
// a real API server: more records than one page holds, found by their
// namespace and allocation labels.
func TestHistoryKeptTrailOnAPIServer(t *testing.T) {
	const gone = "team-a/gone/uid-gone"
	for seq := int64(1); seq <= 51; seq++ {
		r := record(gone, "gone", t0, budgetv1alpha1.RecordCompacted, mv{seq, 10, budgetv1alpha1.PhaseSucceeded, ""})
		r.CreationTimestamp = metav1.Time{}
		r.Labels[budgetv1alpha1.LabelNamespace] = "team-a"
		r.Spec.Namespace = "team-a"
		if err := k8s.Create(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, code := run(t, "", "history", "gone", "-o", "csv")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, %q", code, errOut)
	}
	lines, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 52 || lines[51][4] != "51" || lines[51][3] != gone {
		t.Fatalf("want a header and 51 kept movements, got %d lines", len(lines))
	}
	out, _, _ = run(t, "", "history", "gone")
	mustContain(t, out, "ledger "+gone+"  (51 kept in 51 LedgerRecords, 0 live)")
	mustContain(t, line(t, out, "51 "), "510.00", budgetv1alpha1.LedgerRecordName(gone, 51))
}

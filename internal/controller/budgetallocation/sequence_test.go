package budgetallocation_test

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/budgetallocation"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// sequenceCase is an allocation lowered from 300.00 to 100.00 whose
// Reclaim of 200.00 (sequence 2) has just succeeded, while its written
// checkpoint counts only its first transfer, the Transfer of 300.00
// (sequence 1, compacted). Its managers compact at once
// (--transfer-retention=0), and the Reclaim settled long enough ago to be
// due.
func sequenceCase(t *testing.T) (*pcase, *budgetv1alpha1.BudgetTransfer) {
	t.Helper()
	ready := []metav1.Condition{{Type: budgetv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: budgetv1alpha1.ReasonReady, LastTransitionTime: metav1.NewTime(now)}}
	ea := &budgetv1alpha1.EnterpriseAccount{ObjectMeta: metav1.ObjectMeta{Name: master},
		Spec: budgetv1alpha1.EnterpriseAccountSpec{CredentialsSecretRef: budgetv1alpha1.SecretReference{Name: "creds"},
			BSSBehaviour: &budgetv1alpha1.BSSBehaviour{Reclaimable: budgetv1alpha1.ReclaimableFundedOnly}},
		Status: budgetv1alpha1.EnterpriseAccountStatus{Conditions: ready}}
	sa := &budgetv1alpha1.SubAccount{ObjectMeta: metav1.ObjectMeta{Name: "team"},
		Spec: budgetv1alpha1.SubAccountSpec{EnterpriseAccountRef: budgetv1alpha1.LocalObjectReference{Name: master}, CustomerID: customer,
			AllowedNamespaces: &budgetv1alpha1.AllowedNamespaces{Names: []string{"team"}}},
		Status: budgetv1alpha1.SubAccountStatus{CustomerID: customer, Conditions: ready}}
	ba := &budgetv1alpha1.BudgetAllocation{
		ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "team", UID: "uid-a", Generation: 2, CreationTimestamp: metav1.NewTime(now.Add(-time.Hour)),
			Annotations: map[string]string{budgetv1alpha1.AnnotationLedgerID: "team/a/uid-a"}, Finalizers: []string{budgetv1alpha1.Finalizer}},
		Spec: budgetv1alpha1.BudgetAllocationSpec{SubAccountRef: budgetv1alpha1.LocalObjectReference{Name: "team"}, Amount: ptr.To(m("100.00")),
			BalanceType: budgetv1alpha1.BalanceTypeDebit, ManagementPolicy: budgetv1alpha1.ManagementPolicyManaged, DeletionPolicy: budgetv1alpha1.DeletionPolicyRetain},
		Status: budgetv1alpha1.BudgetAllocationStatus{CustomerID: customer},
	}
	compacted(ba, []client.Object{transfer(ba, 1, budgetv1alpha1.OperationTransfer, "300.00", budgetv1alpha1.PhaseSucceeded)})
	reclaim := transfer(ba, 2, budgetv1alpha1.OperationReclaim, "200.00", budgetv1alpha1.PhaseSucceeded)
	ba.Status.LastTransfer = &budgetv1alpha1.TransferSummary{Name: reclaim.Name, Operation: budgetv1alpha1.OperationReclaim, Amount: m("200.00"),
		Phase: budgetv1alpha1.PhaseSubmitting, Sequence: 2}
	return &pcase{ba: ba, masterCash: money.MustParse("1000"), subCash: money.MustParse("100"), objs: []client.Object{ea, sa, ba, reclaim}}, reclaim
}

// cacheView is the manager's view of the fake API server: like the
// manager's cache, it holds no succeeded transfer; the first status write
// of the allocation fails with a conflict when conflictOnce is set (the
// reconcile read the allocation from a cache that had not seen its own
// previous write yet); and every transfer created is recorded.
func cacheView(t *testing.T, api client.Client, conflictOnce bool, created *[]budgetv1alpha1.BudgetTransfer) client.Client {
	t.Helper()
	return interceptor.NewClient(api.(client.WithWatch), interceptor.Funcs{
		List: func(ctx context.Context, cl client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if err := cl.List(ctx, list, opts...); err != nil {
				return err
			}
			if l, ok := list.(*budgetv1alpha1.BudgetTransferList); ok {
				open := l.Items[:0]
				for _, bt := range l.Items {
					if bt.Status.Phase != budgetv1alpha1.PhaseSucceeded {
						open = append(open, bt)
					}
				}
				l.Items = open
			}
			return nil
		},
		Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if bt, ok := obj.(*budgetv1alpha1.BudgetTransfer); ok {
				*created = append(*created, *bt.DeepCopy())
			}
			return cl.Create(ctx, obj, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, cl client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			if _, ok := obj.(*budgetv1alpha1.BudgetAllocation); ok && conflictOnce {
				conflictOnce = false
				return apierrors.NewConflict(schema.GroupResource{Group: budgetv1alpha1.GroupVersion.Group, Resource: "budgetallocations"}, obj.GetName(),
					errString("the object has been modified"))
			}
			return cl.SubResource(sub).Update(ctx, obj, opts...)
		},
	})
}

type errString string

func (e errString) Error() string { return string(e) }

// TestCompactionNeverOutrunsTheCheckpoint: the reconcile that folds a
// succeeded transfer into the checkpoint does not also write it to the
// audit trail and delete it, because its checkpoint is not written yet:
// if that status write fails (here a conflict, in the chaos test a stale
// cache or a kill), the transfer would be gone while the written
// checkpoint does not count it, and the next reconcile would plan the
// same movement again under the same sequence — a trans_id BSS has
// applied (LedgerBehindBSS). Only transfers the checkpoint counted when
// the reconcile read it are compacted.
func TestCompactionNeverOutrunsTheCheckpoint(t *testing.T) {
	ctx := context.Background()
	c, reclaim := sequenceCase(t)
	api, reg, _ := c.world(t)
	var created []budgetv1alpha1.BudgetTransfer
	opts := common.Options{Clock: clocktesting.NewFakeClock(now), TransferRetention: -1}
	opts.Defaults()
	r := &budgetallocation.Reconciler{Client: cacheView(t, api, true, &created), APIReader: api, Recorder: events.NewFakeRecorder(100), Registry: reg, Options: opts}

	var ba budgetv1alpha1.BudgetAllocation
	for i := range 5 {
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(c.ba)}); err != nil {
			t.Fatalf("reconcile %d: %v", i, err)
		}
		if err := api.Get(ctx, client.ObjectKeyFromObject(c.ba), &ba); err != nil {
			t.Fatal(err)
		}
		var bt budgetv1alpha1.BudgetTransfer
		gone := apierrors.IsNotFound(api.Get(ctx, client.ObjectKeyFromObject(reclaim), &bt))
		if cp := ba.Status.Checkpoint; gone && (cp == nil || cp.Sequence < reclaim.Spec.Sequence) {
			t.Fatalf("after reconcile %d, %s is deleted but the written checkpoint counts only up to sequence %d", i, reclaim.Name, cp.Sequence)
		}
	}
	for _, bt := range created {
		if bt.Spec.Sequence <= reclaim.Spec.Sequence {
			t.Errorf("created %s (%s %s) with sequence %d, which the ledger had used already", bt.Name, bt.Spec.Operation, bt.Spec.Amount, bt.Spec.Sequence)
		}
	}
	if cp := ba.Status.Checkpoint; cp == nil || cp.Sequence != 2 || ba.Status.Granted != "100.00" {
		t.Errorf("checkpoint %+v, granted %s; want sequence 2 and 100.00 granted", cp, ba.Status.Granted)
	}
	var bt budgetv1alpha1.BudgetTransfer
	if err := api.Get(ctx, client.ObjectKeyFromObject(reclaim), &bt); !apierrors.IsNotFound(err) {
		t.Errorf("%s is not compacted: %v", reclaim.Name, err)
	}
	var recs budgetv1alpha1.LedgerRecordList
	if err := api.List(ctx, &recs); err != nil || len(recs.Items) != 1 || recs.Items[0].Spec.ToSequence != 2 {
		t.Errorf("audit trail %+v (%v); want one record of sequence 2", recs.Items, err)
	}
}

// TestTrailCountsADeletedTransfer: the Reclaim of sequence 2 is in the
// audit trail and deleted, but the written checkpoint counts only sequence
// 1 (a kill between the deletion and the status write: an allocation
// being deleted writes its transfers to the trail before it goes, and a
// crash may leave it). The transfer the status names last is gone, so the
// allocation reads the trail's entries after its checkpoint and counts the
// Reclaim from there: it does not plan it again under sequence 2.
func TestTrailCountsADeletedTransfer(t *testing.T) {
	ctx := context.Background()
	c, reclaim := sequenceCase(t)
	entry := budgetv1alpha1.LedgerEntry{Sequence: 2, Name: reclaim.Name, TransID: reclaim.Spec.TransID, Operation: reclaim.Spec.Operation,
		BalanceType: reclaim.Spec.BalanceType, Amount: reclaim.Spec.Amount, CustomerID: reclaim.Spec.CustomerID, EnterpriseAccount: master,
		Phase: budgetv1alpha1.PhaseSucceeded, Created: &reclaim.CreationTimestamp, Completed: reclaim.Status.CompletionTime}
	id := "team/a/uid-a"
	rec := &budgetv1alpha1.LedgerRecord{
		ObjectMeta: metav1.ObjectMeta{Name: budgetv1alpha1.LedgerRecordName(id, 2), Labels: map[string]string{budgetv1alpha1.LabelLedger: budgetv1alpha1.LedgerKey(id)}},
		Spec: budgetv1alpha1.LedgerRecordSpec{LedgerID: id, Namespace: "team", Allocation: "a", SubAccount: "team", Reason: budgetv1alpha1.RecordCompacted,
			FromSequence: 2, ToSequence: 2, Entries: []budgetv1alpha1.LedgerEntry{entry}},
	}
	c.objs = append(c.objs[:len(c.objs)-1], rec) // the Reclaim itself is gone
	api, reg, _ := c.world(t)
	var created []budgetv1alpha1.BudgetTransfer
	opts := common.Options{Clock: clocktesting.NewFakeClock(now), TransferRetention: -1}
	opts.Defaults()
	r := &budgetallocation.Reconciler{Client: cacheView(t, api, false, &created), APIReader: api, Recorder: events.NewFakeRecorder(100), Registry: reg, Options: opts}
	var ba budgetv1alpha1.BudgetAllocation
	for i := range 3 {
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(c.ba)}); err != nil {
			t.Fatalf("reconcile %d: %v", i, err)
		}
	}
	if err := api.Get(ctx, client.ObjectKeyFromObject(c.ba), &ba); err != nil {
		t.Fatal(err)
	}
	for _, bt := range created {
		t.Errorf("created %s (%s %s) with sequence %d; the trail holds sequence 2 and nothing is left to move", bt.Name, bt.Spec.Operation, bt.Spec.Amount, bt.Spec.Sequence)
	}
	if cp := ba.Status.Checkpoint; cp == nil || cp.Sequence != 2 || ba.Status.Granted != "100.00" {
		t.Errorf("checkpoint %+v, granted %s; want sequence 2 and 100.00 granted", cp, ba.Status.Granted)
	}
	if reason := common.ReadyReason(ba.Status.Conditions, budgetv1alpha1.ConditionReady); reason != budgetv1alpha1.ReasonReady {
		t.Errorf("Ready reason %s, want Ready", reason)
	}
}

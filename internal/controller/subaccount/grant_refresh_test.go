package subaccount

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

// A grant change on a SubAccount funded only with cash re-reads the cash
// alone; the other kinds keep what the last full read found.
func TestGrantChangeReadsOnlyTheMovedBalances(t *testing.T) {
	const name = "refresh-debit"
	id := readySubAccount(t, name)
	ba := allocateCash(t, name, name, "cash")
	full := waitForSubAccount(t, name, "", 1).Status.LastFullBalanceSyncTime
	if full == nil {
		t.Fatal("no lastFullBalanceSyncTime after the first sync")
	}
	advance(grantWindow + time.Second) // a quiet window

	// The allocation's transfer, and credit arriving from outside the
	// operator, which a grant refresh does not look for.
	transfer(t, id, "100", bss.BalanceTypeDebit)
	transfer(t, id, "50", bss.BalanceTypeCredit)
	before := balanceReads.of(id)
	setGranted(t, ba, "100")
	sa := waitForSubAccount(t, name, "100.00", 1)

	if got := balanceReads.of(id).minus(before); got != (balanceCounts{cash: 1}) {
		t.Errorf("balance reads %+v, want the cash only", got)
	}
	if sa.Status.ReclaimableCash != "100.00" || len(sa.Status.ReclaimableCredit) != 0 || len(sa.Status.ReclaimableCoupons) != 0 {
		t.Errorf("reclaimable cash %s, credit %+v, coupons %+v; want 100.00 and the rest as last read (none)",
			sa.Status.ReclaimableCash, sa.Status.ReclaimableCredit, sa.Status.ReclaimableCoupons)
	}
	if last, want := sa.Status.LastBalanceSyncTime, clock.Now().Truncate(time.Second); last == nil || !last.Time.Equal(want) {
		t.Errorf("lastBalanceSyncTime %v, want %s", last, want)
	}
	if last := sa.Status.LastFullBalanceSyncTime; last == nil || !last.Equal(full) {
		t.Errorf("lastFullBalanceSyncTime %v after a cash refresh, want it kept at %s", last, full)
	}
}

// Grant changes within the grant refresh window are reflected together,
// with one balance read and one status write, when the window ends; the
// first one after a quiet window is reflected at once.
func TestGrantChangesWithinTheWindowAreCoalesced(t *testing.T) {
	const name = "refresh-coalesce"
	id := readySubAccount(t, name)
	allocs := []*budgetv1alpha1.BudgetAllocation{allocateCash(t, name, name, "a"), allocateCash(t, name, name, "b"), allocateCash(t, name, name, "c")}
	waitForSubAccount(t, name, "", 3)
	advance(grantWindow + time.Second) // a quiet window
	writes, reads := statusWrites.Count("status "+name), balanceReads.of(id)

	transfer(t, id, "10", bss.BalanceTypeDebit)
	setGranted(t, allocs[0], "10")
	waitForSubAccount(t, name, "10.00", 3)
	if got := statusWrites.Count("status "+name) - writes; got != 1 {
		t.Errorf("%d status writes for the first grant change, want 1", got)
	}
	if got := balanceReads.of(id).minus(reads); got != (balanceCounts{cash: 1}) {
		t.Errorf("balance reads %+v for the first grant change, want one of the cash", got)
	}

	// Two more grants within the window: nothing is read or written yet.
	// The clock stands still, so the window stays open; the controller
	// reacts to the grants at once and looks again after what is left of
	// the window (at most grantWindow of real time), so watching for longer
	// than grantWindow covers both.
	transfer(t, id, "50", bss.BalanceTypeDebit)
	setGranted(t, allocs[1], "20")
	setGranted(t, allocs[2], "30")
	var sa *budgetv1alpha1.SubAccount
	testenv.Consistently(t, grantWindow+time.Second, "nothing read or written within the window", func() bool {
		sa = getSubAccount(t, name)
		return sa.Status.Granted == "10.00" && sa.Status.ReclaimableCash == "10.00" &&
			statusWrites.Count("status "+name)-writes == 1 && balanceReads.of(id).minus(reads) == (balanceCounts{cash: 1})
	}, func() string {
		return fmt.Sprintf("granted %s, reclaimable cash %s, %d status writes, balance reads %+v; want 10.00, 10.00, 1 and one of the cash",
			sa.Status.Granted, sa.Status.ReclaimableCash, statusWrites.Count("status "+name)-writes, balanceReads.of(id).minus(reads))
	})

	// The window ends: one refresh brings the sum and the balance.
	advance(grantWindow)
	sa = waitForSubAccount(t, name, "60.00", 3)
	if sa.Status.ReclaimableCash != "60.00" {
		t.Errorf("reclaimable cash %s, want 60.00", sa.Status.ReclaimableCash)
	}
	if got := statusWrites.Count("status "+name) - writes; got != 2 {
		t.Errorf("%d status writes for three grant changes, want 2", got)
	}
	if got := balanceReads.of(id).minus(reads); got != (balanceCounts{cash: 2}) {
		t.Errorf("balance reads %+v for three grant changes, want two of the cash", got)
	}
}

// The balanceSyncInterval's sync reads all three kinds, and a grant
// refresh in between does not put it off: the interval counts from
// status.lastFullBalanceSyncTime, which a refresh leaves alone (and which,
// being in the status, a restarted operator finds too).
func TestIntervalSyncReadsAllBalances(t *testing.T) {
	const name = "refresh-interval"
	id := readySubAccount(t, name)
	full := getSubAccount(t, name).Status.LastFullBalanceSyncTime.Time
	ba := allocateCash(t, name, name, "cash")
	waitForSubAccount(t, name, "", 1)
	advance(grantWindow + time.Second)

	transfer(t, id, "100", bss.BalanceTypeDebit)
	transfer(t, id, "50", bss.BalanceTypeCredit)
	setGranted(t, ba, "100")
	sa := waitForSubAccount(t, name, "100.00", 1)
	if len(sa.Status.ReclaimableCredit) != 0 {
		t.Fatalf("a grant refresh read the credit: %+v", sa.Status.ReclaimableCredit)
	}

	// The interval has passed since the full read, not since the refresh.
	advance(full.Add(balancesEvery).Sub(clock.Now()))
	reads := balanceReads.of(id)
	want := clock.Now().Truncate(time.Second)
	poke(t, name)
	eventually(t, "an interval sync of "+name, func() error {
		sa = getSubAccount(t, name)
		if last := sa.Status.LastFullBalanceSyncTime; last == nil || last.Time.Before(want) {
			return fmt.Errorf("last full balance sync %v, want %s", last, want)
		}
		return nil
	})
	if got := balanceReads.of(id).minus(reads); got != (balanceCounts{cash: 1, credit: 1, coupons: 1}) {
		t.Errorf("balance reads %+v, want one of each kind", got)
	}
	if c := sa.Status.ReclaimableCredit; len(c) != 1 || c[0].Available != "50.00" {
		t.Errorf("reclaimable credit %+v, want one ledger of 50.00", c)
	}
}

// readySubAccount adds a sub-account to the simulator, adopts it as the
// SubAccount name and waits until it is Ready; it returns the customer id.
func readySubAccount(t *testing.T, name string) string {
	t.Helper()
	sub, err := sim.AddSubAccount(bsssim.SubAccount{Name: name})
	must(t, err)
	createSubAccount(t, name, budgetv1alpha1.SubAccountSpec{CustomerID: sub.ID})
	waitForReason(t, name, budgetv1alpha1.ReasonReady)
	return sub.ID
}

// allocateCash creates a Debit allocation of 1000 for the SubAccount in
// namespace (made if missing), with nothing granted yet.
func allocateCash(t *testing.T, namespace, subAccount, name string) *budgetv1alpha1.BudgetAllocation {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(ns), ns); err != nil {
		must(t, k8sClient.Create(ctx, ns))
	}
	ba := &budgetv1alpha1.BudgetAllocation{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: budgetv1alpha1.BudgetAllocationSpec{
			SubAccountRef: budgetv1alpha1.LocalObjectReference{Name: subAccount},
			Amount:        ptr.To(budgetv1alpha1.Money("1000")),
		},
	}
	must(t, k8sClient.Create(ctx, ba))
	return ba
}

// setGranted records a confirmed grant on the allocation, as the
// BudgetAllocation controller does after a transfer.
func setGranted(t *testing.T, ba *budgetv1alpha1.BudgetAllocation, granted string) {
	t.Helper()
	ba.Status.Granted = budgetv1alpha1.Money(granted)
	must(t, k8sClient.Status().Update(context.Background(), ba))
}

// waitForSubAccount waits until the SubAccount shows granted (any, when
// empty) from count allocations.
func waitForSubAccount(t *testing.T, name, granted string, count int32) *budgetv1alpha1.SubAccount {
	t.Helper()
	var sa *budgetv1alpha1.SubAccount
	eventually(t, fmt.Sprintf("SubAccount %s shows %q granted by %d allocations", name, granted, count), func() error {
		sa = getSubAccount(t, name)
		if (granted != "" && sa.Status.Granted != budgetv1alpha1.Money(granted)) || sa.Status.Allocations != count {
			return fmt.Errorf("granted %s by %d allocations", sa.Status.Granted, sa.Status.Allocations)
		}
		return nil
	})
	return sa
}

var transfers atomic.Int64

// transfer moves yuan of balanceType from the master to the sub-account.
func transfer(t *testing.T, customerID, yuan, balanceType string) {
	t.Helper()
	acct, ok := registry.Get(masterName)
	if !ok {
		t.Fatal("no BSS connection for " + masterName)
	}
	must(t, acct.Client.TransferAmount(context.Background(), bss.AmountTransferRequest{
		CustomerID: customerID, Amount: money.MustParse(yuan), BalanceType: balanceType,
		TransID: fmt.Sprintf("subaccount-test-%d", transfers.Add(1)),
	}))
}

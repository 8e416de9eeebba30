package accounts

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

func TestConnecting(t *testing.T) {
	r := NewRegistry(nil, nil)
	if !r.Connecting("master") {
		t.Error("right after the start, a missing connection is not taken for one being rebuilt")
	}

	if _, err := r.Ensure("master", "v1", bss.Config{Endpoint: "https://bss.example.com", Credentials: sign.Credentials{AccessKey: "ak", SecretKey: "sk"}}); err != nil {
		t.Fatal(err)
	}
	if r.Connecting("master") {
		t.Error("a connection that exists is taken for one being rebuilt")
	}

	r.Remove("master")
	r.Reconciled("master")
	if r.Connecting("master") {
		t.Error("after the EnterpriseAccount was reconciled, a missing connection is still taken for one being rebuilt")
	}

	r.started = time.Now().Add(-ConnectGrace)
	if r.Connecting("other") {
		t.Error("after the grace, a missing connection is still taken for one being rebuilt")
	}
}

func TestTypedCache(t *testing.T) {
	a := &Account{cache: map[string]cached{}}
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	bills := NewKey[map[string]int]("bills/")
	Store(a, bills.With("2026-12"), map[string]int{"x": 1}, now, time.Minute)
	if v, ok := Load(a, bills.With("2026-12"), now.Add(time.Second)); !ok || v["x"] != 1 {
		t.Errorf("Load = %v, %v", v, ok)
	}
	if _, ok := Load(a, bills.With("2026-11"), now); ok {
		t.Error("another cycle's key found the value")
	}
	if _, ok := Load(a, bills.With("2026-12"), now.Add(2*time.Minute)); ok {
		t.Error("an expired value was returned")
	}
	Store(a, MasterCredit, nil, now, time.Minute)
	Forget(a, MasterCredit)
	if _, ok := Load(a, MasterCredit, now); ok {
		t.Error("a forgotten value was returned")
	}
}

func TestChangesOfPublishedFigures(t *testing.T) {
	r := NewRegistry(nil, nil)
	a, b := r.Put("a", nil), r.Put("b", nil)
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	taken := func() []string {
		t.Helper()
		select {
		case <-r.Changes():
		default:
		}
		return r.TakeChanges()
	}
	expect := func(what string, want ...string) {
		t.Helper()
		if got := taken(); !slices.Equal(got, want) {
			t.Errorf("%s: changes %v, want %v", what, got, want)
		}
	}

	b.AdjustTransferableCash(money.Yuan(-5), t0)
	if _, known := b.TransferableCash(); known {
		t.Error("an adjustment made an unknown cash figure known")
	}
	expect("adjusting an unknown figure")

	a.SetTransferableCash(money.MustParse("100"), t0)
	b.SetTransferableCash(money.MustParse("7"), t0)
	select {
	case <-r.Changes():
	default:
		t.Fatal("no wake-up after two changes")
	}
	select {
	case <-r.Changes():
		t.Fatal("two wake-ups for changes nobody took yet")
	default:
	}
	expect("first reads", "a", "b")

	a.SetTransferableCash(money.MustParse("100"), t0.Add(time.Minute))
	expect("a read with the same value")
	if _, at, _ := a.TransferableCashAt(); !at.Equal(t0.Add(time.Minute)) {
		t.Errorf("cash time %v after a read at %v", at, t0.Add(time.Minute))
	}

	a.AdjustTransferableCash(money.Yuan(-30), t0.Add(2*time.Minute))
	a.AdjustTransferableCash(money.Yuan(-20), t0.Add(3*time.Minute))
	expect("two adjustments", "a")
	if cash, at, known := a.TransferableCashAt(); cash != money.MustParse("50") || !at.Equal(t0.Add(3*time.Minute)) || !known {
		t.Errorf("cash %s at %v (known %v), want 50.00 at %v", cash, at, known, t0.Add(3*time.Minute))
	}

	Forget(b, MasterCredit)
	Forget(a, MasterCoupons)
	expect("credit and coupons forgotten", "a", "b")
	Forget(a, NewKey[int]("sub-customers"))
	expect("a key the status does not publish forgotten")
}

// TestChangesNeverBlock: nobody reads the changes while movements adjust
// the cache from many goroutines; every adjustment returns, and one
// TakeChanges reports the account once.
func TestChangesNeverBlock(t *testing.T) {
	r := NewRegistry(nil, nil)
	a := r.Put("a", nil)
	a.SetTransferableCash(money.MustParse("1000000"), time.Now())
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 1000 {
					a.AdjustTransferableCash(money.Yuan(-1), time.Now())
					Forget(a, MasterCredit)
				}
			})
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("adjustments blocked while nobody read the changes")
	}
	if got := r.TakeChanges(); !slices.Equal(got, []string{"a"}) {
		t.Errorf("changes %v, want [a]", got)
	}
	if cash, _ := a.TransferableCash(); cash != money.MustParse("992000") {
		t.Errorf("cash %s, want 992000.00", cash)
	}
}

func TestStoreUnlessForgotten(t *testing.T) {
	r := NewRegistry(nil, nil)
	a := r.Put("a", nil)
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	before := Forgotten(a, MasterCredit)
	// A movement drops the ledgers while they are being read.
	Forget(a, MasterCredit)
	if StoreUnlessForgotten(a, MasterCredit, []bss.AmountInfo{{}}, before, now, MasterCacheTTL) {
		t.Error("ledgers read before a movement were stored after it")
	}
	if _, ok := Load(a, MasterCredit, now); ok {
		t.Error("stale ledgers are in the cache")
	}
	since := Forgotten(a, MasterCredit)
	if since != before+1 {
		t.Errorf("Forgotten = %d after one Forget from %d", since, before)
	}
	if !StoreUnlessForgotten(a, MasterCredit, []bss.AmountInfo{{}}, since, now, MasterCacheTTL) {
		t.Error("ledgers read after the last movement were not stored")
	}
	if ls, ok := Load(a, MasterCredit, now.Add(MasterCacheTTL)); !ok || len(ls) != 1 {
		t.Errorf("Load = %v, %v", ls, ok)
	}
}

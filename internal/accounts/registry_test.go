package accounts

import (
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
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

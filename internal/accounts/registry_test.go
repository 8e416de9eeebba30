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

package budgetallocation

import (
	"strings"
	"testing"
)

func TestTransIDAndName(t *testing.T) {
	a, b := TransID("uid-1", 1), TransID("uid-1", 2)
	if len(a) != 32 || a == b || a != TransID("uid-1", 1) || TransID("uid-2", 1) == a {
		t.Errorf("TransID not deterministic and distinct: %s %s", a, b)
	}
	for _, c := range a {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			t.Fatalf("TransID %q is not lowercase hex", a)
		}
	}
	if got := TransferName("team-a", 7); got != "team-a-00007" {
		t.Errorf("TransferName = %s", got)
	}
	long := TransferName(strings.Repeat("a", 250), 1)
	if len(long) > 253 {
		t.Errorf("TransferName too long: %d", len(long))
	}
}

func TestTransferNamesOfLongAllocationNamesDiffer(t *testing.T) {
	prefix := strings.Repeat("a", 235)
	a, b := TransferName(prefix+"-first0", 1), TransferName(prefix+"-second", 1)
	if a == b || len(a) > 253 || len(b) > 253 {
		t.Errorf("names %q and %q (lengths %d, %d)", a, b, len(a), len(b))
	}
	if TransferName(prefix+"-first0", 1) != a || TransferName(prefix+"-first0", 2) == a {
		t.Error("TransferName is not deterministic per (allocation, sequence)")
	}
}

package localenv

import (
	"context"
	"net"
	"testing"
)

// TestFreePortsDistinct checks that FreePorts never returns a port twice
// (two FreePort calls in a row may: the kernel hands a port it was just
// given back out again) and that each port is free once it returns.
func TestFreePortsDistinct(t *testing.T) {
	for range 50 {
		ports, err := FreePorts(3)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]bool{}
		for _, p := range ports {
			if seen[p] {
				t.Fatalf("FreePorts(3) = %v: port %d twice", ports, p)
			}
			seen[p] = true
			l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", LoopbackAddr(p))
			if err != nil {
				t.Fatalf("port %d of %v is not free: %v", p, ports, err)
			}
			_ = l.Close()
		}
	}
}

// Parallel callers never get a port another was handed a moment ago, even
// when the kernel gives the same one back.
func TestFreePortsNeverHandsOutAPortTwice(t *testing.T) {
	seen := map[int]bool{}
	for range 300 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}

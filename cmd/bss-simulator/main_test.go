package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
)

func TestParseCredentials(t *testing.T) {
	tests := []struct {
		in             string
		ak, sk, domain string
		wantErr        bool
	}{
		{in: "AK:SK:DOM", ak: "AK", sk: "SK", domain: "DOM"},
		{in: "AK:S:K:DOM", ak: "AK", sk: "S:K", domain: "DOM"},
		{in: "AK:SK:", ak: "AK", sk: "SK"},
		{in: "AK:SK", ak: "AK", sk: "SK"},
		{in: "AK", wantErr: true},
		{in: ":SK:DOM", wantErr: true},
		{in: "AK::DOM", wantErr: true},
	}
	for _, tc := range tests {
		ak, sk, domain, err := parseCredentials(tc.in)
		if (err != nil) != tc.wantErr || ak != tc.ak || sk != tc.sk || domain != tc.domain {
			t.Errorf("parseCredentials(%q) = %q, %q, %q, %v", tc.in, ak, sk, domain, err)
		}
	}
}

func TestParseFlags(t *testing.T) {
	var out bytes.Buffer
	c, err := parseFlags([]string{"--latency", "20ms", "--error-rate", "0.5", "--storm-duration", "1m", "--seed", "9"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if c.listen != bsssim.DefaultListenAddr || c.throttle != bsssim.DefaultThrottlePerSecond || c.seed != 9 ||
		c.faults.Latency != bsssim.Duration(20*time.Millisecond) || c.faults.ErrorRate != 0.5 || c.faults.StormDuration != bsssim.Duration(time.Minute) {
		t.Errorf("config = %+v", c)
	}
	if _, err := parseFlags([]string{"--persist"}, &out); err == nil {
		t.Error("--persist without --state was accepted")
	}
	out.Reset()
	if _, err := parseFlags([]string{"--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
	for _, f := range []string{"-listen", "-state", "-persist", "-credentials", "-throttle", "-seed", "-consumption-rate", "-log-level", "-latency", "-error-rate", "-lost-response-rate", "-storm-duration", bsssim.DefaultAccessKey} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("--help does not mention %s", f)
		}
	}
}

func TestBehaviourFlags(t *testing.T) {
	var out bytes.Buffer
	c, err := parseFlags(nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	if c.behaviour != (bsssim.Behaviour{}).Normalized() {
		t.Errorf("default behaviour = %+v", c.behaviour)
	}
	c, err = parseFlags([]string{"--refused-trans-ids=burned", "--trans-id-retention=72h", "--transfer-records=own-id", "--reclaimable=total"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	want := bsssim.Behaviour{RefusedTransIDs: bsssim.RefusedBurned, TransIDRetention: bsssim.Duration(72 * time.Hour),
		TransferRecords: bsssim.RecordsOwnID, Reclaimable: bsssim.ReclaimableTotal}
	if c.behaviour != want {
		t.Errorf("behaviour = %+v, want %+v", c.behaviour, want)
	}
	sim, err := bsssim.New(bsssim.DefaultState(), bsssim.Options{Behaviour: c.behaviour})
	if err != nil {
		t.Fatal(err)
	}
	if got := sim.Behaviour(); got != want {
		t.Errorf("simulator behaviour = %+v", got)
	}
	if c, err = parseFlags([]string{"--transfer-records=none"}, &out); err != nil || c.behaviour.TransferRecords != bsssim.RecordsNone {
		t.Errorf("--transfer-records=none: %+v, %v", c, err)
	}
	for _, bad := range [][]string{
		{"--refused-trans-ids=Burned"},
		{"--trans-id-retention=-1h"},
		{"--trans-id-retention=1d"},
		{"--transfer-records=trans_id"},
		{"--reclaimable=all"},
	} {
		if _, err := parseFlags(bad, &out); err == nil {
			t.Errorf("%v was accepted", bad)
		}
	}
	out.Reset()
	if _, err := parseFlags([]string{"--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, f := range []string{"-refused-trans-ids", "-trans-id-retention", "-transfer-records", "-reclaimable", "/_sim/behaviour", "own-id", "burned", "total"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("--help does not mention %s", f)
		}
	}
}

func TestCostCenterFlags(t *testing.T) {
	var out bytes.Buffer
	c, err := parseFlags(nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	if c.costLagDays != bsssim.DefaultCostLagDays || c.fiLimit != bsssim.DefaultFinanceIndependentLimit {
		t.Errorf("defaults: lag %d, limit %d", c.costLagDays, c.fiLimit)
	}
	if c, err = parseFlags([]string{"--cost-lag-days=0", "--finance-independent-limit=2"}, &out); err != nil || c.costLagDays != 0 || c.fiLimit != 2 {
		t.Errorf("--cost-lag-days=0 --finance-independent-limit=2: %+v, %v", c, err)
	}
	for _, bad := range [][]string{{"--cost-lag-days=-1"}, {"--finance-independent-limit=-1"}, {"--cost-lag-days=1d"}} {
		if _, err := parseFlags(bad, &out); err == nil {
			t.Errorf("%v was accepted", bad)
		}
	}
	out.Reset()
	if _, err := parseFlags([]string{"--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, f := range []string{"-cost-lag-days", "-finance-independent-limit", "/_sim/cost-center", "cost-center, packages, balances"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("--help does not mention %s", f)
		}
	}
}

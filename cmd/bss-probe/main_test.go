package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/probe"
)

const (
	subID = "cust-probe-0001"
	subAK = "PROBESUBAK0000000001"
	subSK = "probeSubSecretKey000000000000000000000000"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseFlags(t *testing.T) {
	base := map[string]string{"BSS_ACCESS_KEY": "AK", "BSS_SECRET_KEY": "SK", "BSS_DOMAIN_ID": "D", "BSS_ENDPOINT": "http://127.0.0.1:1"}
	c, err := parseFlags(nil, env(base), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.master.AccessKey != "AK" || c.master.SecretKey != "SK" || c.domainID != "D" || c.endpoint != "http://127.0.0.1:1" ||
		c.moveMoney || c.retentionWindow != probe.DefaultRetentionWindow || c.output != "text" {
		t.Errorf("from the environment: %+v", c)
	}
	c, err = parseFlags([]string{"--access-key", "AK2", "--endpoint", DefaultEndpoint}, env(base), &bytes.Buffer{})
	if err != nil || c.master.AccessKey != "AK2" || c.endpoint != DefaultEndpoint {
		t.Errorf("a flag must win over the environment: %+v %v", c, err)
	}
	for name, args := range map[string][]string{
		"move without sub":      {"--move-money"},
		"sub keys without id":   {"--sub-access-key", "a", "--sub-secret-key", "b"},
		"half the sub's keys":   {"--sub-customer-id", "x", "--sub-access-key", "a"},
		"bad output":            {"-o", "yaml"},
		"zero window":           {"--retention-window", "0s"},
		"too many checks":       {"--retention-checks", "21"},
		"an argument":           {"extra"},
		"an unknown flag":       {"--nope"},
		"no credentials at all": nil,
	} {
		e := base
		if name == "no credentials at all" {
			e = map[string]string{}
		}
		if _, err := parseFlags(args, env(e), &bytes.Buffer{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestHelpShowsNoSecret(t *testing.T) {
	var out bytes.Buffer
	code := run(context.Background(), []string{"--help"}, env(map[string]string{"BSS_SECRET_KEY": "TOP-SECRET"}), &out, &out, nil)
	if code != 0 || strings.Contains(out.String(), "TOP-SECRET") || !strings.Contains(out.String(), "--move-money") {
		t.Errorf("exit %d, help:\n%s", code, out.String())
	}
	if code := run(context.Background(), []string{"--bad"}, env(nil), &out, &out, nil); code != 2 {
		t.Errorf("a wrong command line exits %d, want 2", code)
	}
}

// startSim runs the simulator in-process with the test sub-account, which
// has keys and 5.00 of its own.
func startSim(t *testing.T) (*bsssim.Sim, string) {
	t.Helper()
	sim, err := bsssim.New(bsssim.DefaultState(), bsssim.Options{ThrottlePerSecond: -1,
		Behaviour: bsssim.Behaviour{RefusedTransIDs: bsssim.RefusedBurned, TransferRecords: bsssim.RecordsOwnID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.AddSubAccount(bsssim.SubAccount{ID: subID, Name: "probe-sub", AccessKey: subAK, SecretKey: subSK}); err != nil {
		t.Fatal(err)
	}
	if err := sim.AddSubFunds(subID, money.MustParse("5.00")); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return sim, srv.URL
}

func simEnv(url string) func(string) string {
	return env(map[string]string{"BSS_ENDPOINT": url, "BSS_ACCESS_KEY": bsssim.DefaultAccessKey, "BSS_SECRET_KEY": bsssim.DefaultSecretKey,
		"BSS_DOMAIN_ID": bsssim.DefaultDomainID, "BSS_SUB_ACCESS_KEY": subAK, "BSS_SUB_SECRET_KEY": subSK, "BSS_SUB_DOMAIN_ID": subID})
}

func TestRunReadOnly(t *testing.T) {
	sim, url := startSim(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--sub-customer-id", subID, "-o", "json"}, simEnv(url), &stdout, &stderr, nil)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	var rep probe.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.MoveMoney || len(rep.Movements) != 0 || len(sim.Ledger()) != 0 || rep.Questions.Reclaimable.Answer != "FundedOnly" {
		t.Errorf("read-only run: %s", stdout.String())
	}
	noSecrets(t, stdout.String()+stderr.String())
}

func TestRunMoveMoney(t *testing.T) {
	sim, url := startSim(t)
	m0, _ := sim.Master("")
	var stdout, stderr bytes.Buffer
	simulated := func(o *probe.Options) {
		o.Sleep = func(ctx context.Context, d time.Duration) error { sim.Advance(d); return ctx.Err() }
	}
	code := run(context.Background(), []string{"--sub-customer-id", subID, "--move-money", "--retention-window", "3m"}, simEnv(url), &stdout, &stderr, simulated)
	out := stdout.String()
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr.String())
	}
	for _, want := range []string{"refusedTransIDs: Burned", "transferRecords: WithoutTransID", "reclaimable: FundedOnly", "transIDRetention: 3m0s", "SETTLED: every cent returned", "kubectl patch enterpriseaccount"} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if !strings.Contains(stderr.String(), "trans_id "+probe.TransIDPrefix) {
		t.Errorf("no progress line with a trans_id on stderr:\n%s", stderr.String())
	}
	if m1, _ := sim.Master(""); m1.Cash != m0.Cash {
		t.Errorf("master cash %s → %s", m0.Cash, m1.Cash)
	}
	if err := sim.CheckLedger(); err != nil {
		t.Error(err)
	}
	noSecrets(t, out+stderr.String())
}

func noSecrets(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{bsssim.DefaultSecretKey, subSK} {
		if strings.Contains(s, secret) {
			t.Errorf("the output contains a secret key")
		}
	}
}

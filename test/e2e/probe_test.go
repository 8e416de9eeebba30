//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
	"github.com/bss-budget-operator/bss-budget-operator/internal/probe"
)

// TestProbeAgainstEverySimulatorBehaviour runs the built bss-probe, as an
// administrator would, against the built bss-simulator started with each
// combination of its behaviour flags (2 × 2 × 3 × 2 = 24), and checks
// that it reports the behaviour that was set, that it returned every cent
// and that /_sim/check is clean afterwards. Retention is real time here:
// "forever", or 2 s against a 6 s window with 2 checks (at 3 s and 6 s).
func TestProbeAgainstEverySimulatorBehaviour(t *testing.T) {
	refused := map[string]string{bsssim.RefusedReusable: budgetv1alpha1.RefusedTransIDsReusable, bsssim.RefusedBurned: budgetv1alpha1.RefusedTransIDsBurned}
	records := map[string]string{bsssim.RecordsTransID: budgetv1alpha1.RecordsWithTransID, bsssim.RecordsOwnID: budgetv1alpha1.RecordsWithoutTransID, bsssim.RecordsNone: budgetv1alpha1.RecordsNone}
	reclaimable := map[string]string{bsssim.ReclaimableFunded: budgetv1alpha1.ReclaimableFundedOnly, bsssim.ReclaimableTotal: budgetv1alpha1.ReclaimableTotalBalance}
	retention := map[string]string{"0s": probe.RetentionAtLeast, "2s": probe.RetentionForgotten}
	// Subtests run from goroutines (go test's -parallel, the number of
	// CPUs, would hold t.Parallel ones to two at a time); each mostly waits.
	slots := make(chan struct{}, 12)
	var wg sync.WaitGroup
	defer wg.Wait()
	for rf := range refused {
		for ret := range retention {
			for rec := range records {
				for rcl := range reclaimable {
					flags := []string{"--refused-trans-ids=" + rf, "--trans-id-retention=" + ret, "--transfer-records=" + rec, "--reclaimable=" + rcl,
						"--throttle=0", "--consumption-rate=0"}
					want := map[string]string{"refusedTransIDs": refused[rf], "transIDRetention": retention[ret],
						"transferRecords": records[rec], "reclaimable": reclaimable[rcl]}
					name := fmt.Sprintf("%s,%s,%s,%s", rf, ret, rec, rcl)
					wg.Add(1)
					go func() {
						defer wg.Done()
						slots <- struct{}{}
						defer func() { <-slots }()
						t.Run(name, func(t *testing.T) { probeSimulatorBinary(t, flags, want) })
					}()
				}
			}
		}
	}
}

const (
	probeSub   = "cust-probe-e2e-0001"
	probeSubAK = "PROBEE2ESUBAK0000001"
	probeSubSK = "probeE2ESubSecretKey00000000000000000000"
)

func probeSimulatorBinary(t *testing.T, flags []string, want map[string]string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	sim, err := localenv.StartSimulator(ctx, localenv.SimulatorOptions{Binary: filepath.Join(binDir, "bss-simulator"), Dir: dir, Args: flags})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Stop(10 * time.Second) })
	if err := sim.AddSubAccountWithKeys(ctx, probeSub, "probe-sub", "1234567890", probeSubAK, probeSubSK); err != nil {
		t.Fatal(err)
	}
	master, err := bss.New(bss.Config{Endpoint: sim.URL, DomainID: bsssim.DefaultDomainID,
		Credentials: sign.Credentials{AccessKey: bsssim.DefaultAccessKey, SecretKey: bsssim.DefaultSecretKey}})
	if err != nil {
		t.Fatal(err)
	}
	if err := master.TransferAmount(ctx, bss.AmountTransferRequest{CustomerID: probeSub, Amount: money.MustParse("10"), TransID: "e2e-probe-funding-0001"}); err != nil {
		t.Fatal(err)
	}
	if err := sim.AddSubFunds(ctx, probeSub, money.MustParse("5")); err != nil {
		t.Fatal(err)
	}
	before, err := sim.State(ctx)
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "bss-probe"), "--endpoint", sim.URL, "--move-money", "--sub-customer-id", probeSub,
		"--retention-window", "6s", "--retention-checks", "2", "-o", "json")
	cmd.Env = append(os.Environ(), "BSS_ACCESS_KEY="+bsssim.DefaultAccessKey, "BSS_SECRET_KEY="+bsssim.DefaultSecretKey,
		"BSS_DOMAIN_ID="+bsssim.DefaultDomainID, "BSS_SUB_ACCESS_KEY="+probeSubAK, "BSS_SUB_SECRET_KEY="+probeSubSK)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bss-probe: %v\n%s\n%s", err, stderr.String(), stdout.String())
	}
	var rep probe.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, stdout.String())
	}
	got := map[string]string{"refusedTransIDs": rep.Questions.RefusedTransIDs.Answer, "transIDRetention": rep.Questions.TransIDRetention.Answer.Answer,
		"transferRecords": rep.Questions.TransferRecords.Answer, "reclaimable": rep.Questions.Reclaimable.Answer}
	for q, w := range want {
		if got[q] != w {
			t.Errorf("%s: the probe reported %s, the simulator was started with %s", q, got[q], w)
		}
	}
	check, err := sim.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !check.OK {
		t.Errorf("/_sim/check after the probe: %v", check.Errors)
	}
	after, err := sim.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b, a := localenv.MasterCash(before), localenv.MasterCash(after); a != b {
		t.Errorf("the master's cash went from %s to %s", b, a)
	}
	if b, a := subCash(before), subCash(after); a != b {
		t.Errorf("the test sub-account's cash went from %s to %s", b, a)
	}
}

// subCash is the test sub-account's reclaimable and own cash.
func subCash(st *bsssim.State) string {
	for _, sa := range st.SubAccounts {
		if sa.ID == probeSub {
			return sa.ReclaimableCash.String() + " + " + sa.SelfFundedCash.String()
		}
	}
	return "none"
}

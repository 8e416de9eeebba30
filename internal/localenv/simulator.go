package localenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bsssim"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// SimulatorOptions configure StartSimulator.
type SimulatorOptions struct {
	// Binary is the bss-simulator executable.
	Binary string
	// Dir receives the log (bss-simulator.log).
	Dir string
	// StateFile, when set, is passed as --state with --persist.
	StateFile string
	// Args are extra flags (faults, throttle, seed, consumption rate).
	Args []string
}

// Simulator is a running bss-simulator with a client for its /_sim/ admin
// API.
type Simulator struct {
	*Process
	// URL is the base URL of the BSS API and of /_sim/.
	URL string

	http *http.Client
}

// StartSimulator starts bss-simulator on a free loopback port and waits
// until it answers.
func StartSimulator(ctx context.Context, opts SimulatorOptions) (*Simulator, error) {
	var lastErr error
	for range 5 { // another process may take the free port first
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		args := []string{"--listen", LoopbackAddr(port)}
		if opts.StateFile != "" {
			args = append(args, "--state", opts.StateFile, "--persist")
		}
		args = append(args, opts.Args...)
		p, err := StartProcess("bss-simulator", opts.Binary, args, nil, filepath.Join(opts.Dir, "bss-simulator.log"))
		if err != nil {
			return nil, err
		}
		s := &Simulator{Process: p, URL: "http://" + LoopbackAddr(port), http: &http.Client{Timeout: 30 * time.Second}}
		if lastErr = waitServing(ctx, p, s.URL+"/_sim/faults", 30*time.Second); lastErr == nil {
			// Another process's server may answer on the port this one
			// failed to bind; it has exited then, or does so at once.
			select {
			case <-p.Done():
				lastErr = fmt.Errorf("bss-simulator exited (%s) while another server answered on its port", p.ExitStatus())
				continue
			case <-time.After(200 * time.Millisecond):
			}
			return s, nil
		}
		_ = p.Kill()
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// admin sends one admin request and decodes the answer into out (if not nil).
func (s *Simulator) admin(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// State is GET /_sim/state: balances, coupons, sub-coupons and the ledger of
// applied money operations.
func (s *Simulator) State(ctx context.Context) (*bsssim.State, error) {
	var st bsssim.State
	if err := s.admin(ctx, http.MethodGet, "/_sim/state", nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// CheckResult is the answer of GET /_sim/check.
type CheckResult struct {
	// OK is true when money is conserved and no trans_id was applied twice.
	OK bool `json:"ok"`
	// Errors say what is wrong.
	Errors []string `json:"errors"`
}

// Check is GET /_sim/check.
func (s *Simulator) Check(ctx context.Context) (CheckResult, error) {
	var c CheckResult
	err := s.admin(ctx, http.MethodGet, "/_sim/check", nil, &c)
	return c, err
}

// CreateOrder is POST /_sim/orders: an order (pending payment unless o
// says otherwise) of a sub-account or the master; the answer is the order
// as stored.
func (s *Simulator) CreateOrder(ctx context.Context, o bsssim.Order) (bsssim.Order, error) {
	var out bsssim.Order
	err := s.admin(ctx, http.MethodPost, "/_sim/orders", o, &out)
	return out, err
}

// SetFaults is POST /_sim/faults; the zero value clears every fault.
func (s *Simulator) SetFaults(ctx context.Context, f bsssim.Faults) error {
	return s.admin(ctx, http.MethodPost, "/_sim/faults", f, nil)
}

// SetBehaviour is POST /_sim/behaviour: it replaces the whole behaviour
// (the zero value is the simulator's default) and returns the behaviour in
// force, every default spelled out.
func (s *Simulator) SetBehaviour(ctx context.Context, b bsssim.Behaviour) (bsssim.Behaviour, error) {
	var got bsssim.Behaviour
	err := s.admin(ctx, http.MethodPost, "/_sim/behaviour", b, &got)
	return got, err
}

// Behaviour is GET /_sim/behaviour: the behaviour in force.
func (s *Simulator) Behaviour(ctx context.Context) (bsssim.Behaviour, error) {
	var got bsssim.Behaviour
	err := s.admin(ctx, http.MethodGet, "/_sim/behaviour", nil, &got)
	return got, err
}

// AddSubAccount is POST /_sim/subaccounts: a new, empty sub-account of the
// first master in org unit orgID (empty: the root). It returns the
// sub-account's customer id.
func (s *Simulator) AddSubAccount(ctx context.Context, name, orgID string) (string, error) {
	var created bsssim.SubAccount
	if err := s.admin(ctx, http.MethodPost, "/_sim/subaccounts", map[string]string{"name": name, "org_id": orgID}, &created); err != nil {
		return "", err
	}
	if created.ID == "" {
		return "", errors.New("the simulator returned no customer id")
	}
	return created.ID, nil
}

// AddSubAccountWithKeys is POST /_sim/subaccounts: a sub-account with the
// given customer id and an access key pair of its own, so that requests can
// be signed as the sub-account.
func (s *Simulator) AddSubAccountWithKeys(ctx context.Context, id, name, orgID, accessKey, secretKey string) error {
	return s.admin(ctx, http.MethodPost, "/_sim/subaccounts", map[string]string{"id": id, "name": name, "org_id": orgID,
		"access_key": accessKey, "secret_key": secretKey}, nil)
}

// AddFunds is POST /_sim/funds: amount yuan more transferable cash for the
// master domainID.
func (s *Simulator) AddFunds(ctx context.Context, domainID string, amount money.Amount) error {
	return s.admin(ctx, http.MethodPost, "/_sim/funds", map[string]string{"domain_id": domainID, "amount": amount.String()}, nil)
}

// AddSubFunds is POST /_sim/funds with a customer id: amount yuan more
// cash of the sub-account's own, as if it had topped up its account (not
// reclaimable unless the behaviour's Reclaimable is total).
func (s *Simulator) AddSubFunds(ctx context.Context, customerID string, amount money.Amount) error {
	return s.admin(ctx, http.MethodPost, "/_sim/funds", map[string]string{"customer_id": customerID, "amount": amount.String()}, nil)
}

// AddCoupon is POST /_sim/coupons: a cash coupon of a master (the first when
// c names none); its balance counts as money added.
func (s *Simulator) AddCoupon(ctx context.Context, c bsssim.Coupon) (bsssim.Coupon, error) {
	var created bsssim.Coupon
	err := s.admin(ctx, http.MethodPost, "/_sim/coupons", c, &created)
	return created, err
}

// NetByCustomer sums the ledger per sub-account: cash and credit
// transferred minus reclaimed.
func NetByCustomer(st *bsssim.State) map[string]money.Amount {
	net := map[string]money.Amount{}
	for _, e := range st.Ledger {
		switch e.Operation {
		case bsssim.OpTransferAmount:
			net[e.CustomerID] = net[e.CustomerID].Add(e.Amount)
		case bsssim.OpRetrieveAmount:
			net[e.CustomerID] = net[e.CustomerID].Sub(e.Amount)
		}
	}
	return net
}

// DuplicateTransIDs lists the trans_ids the ledger holds more than once
// (per master); it is empty when BSS applied every trans_id at most once.
func DuplicateTransIDs(st *bsssim.State) []string {
	seen := map[string]int{}
	var dups []string
	for _, e := range st.Ledger {
		k := e.DomainID + "/" + e.TransID
		seen[k]++
		if seen[k] == 2 {
			dups = append(dups, e.TransID)
		}
	}
	return dups
}

// MasterCash is the first master's transferable cash.
func MasterCash(st *bsssim.State) money.Amount {
	if len(st.Masters) == 0 {
		return money.Zero
	}
	return st.Masters[0].Cash
}

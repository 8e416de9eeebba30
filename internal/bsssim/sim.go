package bsssim

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// Defaults of Options.
const (
	// DefaultThrottlePerSecond is the per-API, per-account request rate.
	DefaultThrottlePerSecond = 10
	// DefaultCreationDelay is how long (in simulated time) a new
	// sub-account stays in status 2 before it becomes normal.
	DefaultCreationDelay = 2 * time.Second
	// DefaultListenAddr is the default address of cmd/bss-simulator.
	DefaultListenAddr = "127.0.0.1:8090"
)

// Options configure a Sim. The zero value is usable.
type Options struct {
	// Seed makes generated ids, SMS codes, request ids and fault draws
	// reproducible.
	Seed int64
	// ThrottlePerSecond is the token-bucket rate (and burst) per API and
	// per account: 0 means DefaultThrottlePerSecond, a negative value
	// disables throttling.
	ThrottlePerSecond float64
	// Faults is the initial fault configuration.
	Faults Faults
	// Behaviour chooses how the simulator answers where Huawei does not
	// document BSS (bss-api.md §10–11); the zero value is the simulator's
	// long-standing behaviour. SetBehaviour changes it later.
	Behaviour Behaviour
	// AuthNow is the clock used to check X-Sdk-Date; time.Now when nil.
	// Authentication always uses this real clock, never simulated time.
	AuthNow func() time.Time
	// MaxSkew bounds |X-Sdk-Date − AuthNow()|; 15 minutes when zero.
	MaxSkew time.Duration
	// Now is the real clock that simulated time is derived from (simulated
	// time = Now() + the state's time offset); time.Now when nil.
	Now func() time.Time
	// PersistPath, when set, is where the state is written atomically
	// after every change and on Close.
	PersistPath string
	// CreationDelay is how long a created sub-account stays in status 2:
	// 0 means DefaultCreationDelay, a negative value makes it immediate.
	CreationDelay time.Duration
	// ConsumptionRate is the spend, in yuan per simulated hour, of every
	// sub-account that has no rate of its own; zero disables consumption.
	ConsumptionRate money.Amount
	// CostLagDays is how many days the cost data (ListCosts,
	// ListCustomerBillsMonthlyBreakDown) lags behind simulated time: the
	// costs of a UTC+8 day D show from day D+CostLagDays on. 0 means
	// DefaultCostLagDays (through yesterday), a negative value no lag
	// (today's costs so far show). Master.CostLagDays and SetCostCenter
	// override it per master.
	CostLagDays int
	// FinanceIndependentLimit is the number of finance-independent
	// sub-accounts (financial_custody other than 1) of a master above which
	// ListCosts answers CBC.18000048 to a query not narrowed to one
	// account: 0 means DefaultFinanceIndependentLimit, a negative value a
	// limit of 0 (any finance-independent sub-account). Master.
	// FinanceIndependentLimit and SetCostCenter override it per master.
	FinanceIndependentLimit int
	// Logger receives request and admin logs; discarded when nil.
	Logger *slog.Logger
}

// Faults is the fault-injection configuration. Faults apply to API
// requests only, never to /_sim/.
type Faults struct {
	// Latency delays every API request. A money write holds its master's
	// "in progress" slot during the delay, so a concurrent money write of
	// the same master gets CBC.99007461.
	Latency Duration `json:"latency,omitempty"`
	// LatencyJitter adds a uniformly random extra delay in [0, jitter).
	LatencyJitter Duration `json:"latency_jitter,omitempty"`
	// ErrorRate is the probability that a request fails with 500
	// CBC.0999 before anything is applied.
	ErrorRate float64 `json:"error_rate,omitempty"`
	// LostResponseRate is the probability that a money write is applied
	// and recorded in the ledger but its response is lost: the connection
	// is closed with no response, or 500 CBC.0999 is returned (half each).
	LostResponseRate float64 `json:"lost_response_rate,omitempty"`
	// StormDuration starts a throttling storm of this length when the
	// configuration is set.
	StormDuration Duration `json:"storm_duration,omitempty"`
	// StormRate is the per-API rate during a storm; zero rejects every
	// request with 429.
	StormRate float64 `json:"storm_rate,omitempty"`
	// ThrottlePerSecond, when positive, overrides Options.ThrottlePerSecond.
	ThrottlePerSecond float64 `json:"throttle_per_second,omitempty"`
	// TooFrequentRate is the probability that a PayOrders request is
	// refused with CBC.99008040 (operations too frequent) before anything
	// is applied.
	TooFrequentRate float64 `json:"too_frequent_rate,omitempty"`
	// PaymentProcessing is how long, in simulated time, a paid order stays
	// processing (status 3) before it completes (status 5); a second pay in
	// that window answers CBC.99000088. Zero completes a payment at once.
	// The money is taken when the payment is accepted.
	PaymentProcessing Duration `json:"payment_processing,omitempty"`
}

// Validate reports an invalid configuration.
func (f Faults) Validate() error {
	var errs []error
	if f.Latency < 0 || f.LatencyJitter < 0 || f.StormDuration < 0 || f.PaymentProcessing < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if f.ErrorRate < 0 || f.ErrorRate > 1 || f.LostResponseRate < 0 || f.LostResponseRate > 1 || f.TooFrequentRate < 0 || f.TooFrequentRate > 1 {
		errs = append(errs, errors.New("error_rate, lost_response_rate and too_frequent_rate must be between 0 and 1"))
	}
	if f.StormRate < 0 || f.ThrottlePerSecond < 0 {
		errs = append(errs, errors.New("storm_rate and throttle_per_second must not be negative"))
	}
	return errors.Join(errs...)
}

// Sim is a running simulator. All methods are safe for concurrent use.
type Sim struct {
	opts    Options
	log     *slog.Logger
	handler http.Handler

	mu         sync.Mutex
	st         *State
	initial    *State
	rng        *rand.Rand
	faults     Faults
	behaviour  Behaviour
	stormUntil time.Time
	busy       map[string]bool
	// transIDs maps domain id + NUL + trans_id to when BSS first saw it
	// (applied or burned); Behaviour.TransIDRetention counts from there.
	transIDs  map[string]time.Time
	deductIdx map[string]int
	// costIdx maps costKey to the index of the cost record in State.Costs.
	costIdx map[string]int
	dirty   bool

	thr    throttler
	reqSeq atomic.Uint64
}

// New validates state and returns a simulator that owns a deep copy of it.
// Empty domain ids are filled in, and each master's seeded total is
// computed from its balances when the state does not record it.
func New(state *State, opts Options) (*Sim, error) {
	if state == nil {
		return nil, errors.New("bsssim: state is nil")
	}
	if err := opts.Faults.Validate(); err != nil {
		return nil, fmt.Errorf("bsssim: faults: %w", err)
	}
	if err := opts.Behaviour.Validate(); err != nil {
		return nil, fmt.Errorf("bsssim: behaviour: %w", err)
	}
	if opts.ConsumptionRate.IsNegative() {
		return nil, errors.New("bsssim: consumption rate must not be negative")
	}
	st := state.DeepCopy()
	st.SimTime = nil
	st.Behaviour = nil
	st.normalize()
	if err := st.validate(); err != nil {
		return nil, fmt.Errorf("bsssim: invalid state: %w", err)
	}
	if opts.ThrottlePerSecond == 0 {
		opts.ThrottlePerSecond = DefaultThrottlePerSecond
	}
	if opts.CreationDelay == 0 {
		opts.CreationDelay = DefaultCreationDelay
	}
	switch {
	case opts.CostLagDays == 0:
		opts.CostLagDays = DefaultCostLagDays
	case opts.CostLagDays < 0:
		opts.CostLagDays = 0
	}
	switch {
	case opts.FinanceIndependentLimit == 0:
		opts.FinanceIndependentLimit = DefaultFinanceIndependentLimit
	case opts.FinanceIndependentLimit < 0:
		opts.FinanceIndependentLimit = 0
	}
	if opts.AuthNow == nil {
		opts.AuthNow = time.Now
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Sim{opts: opts, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.thr.buckets = map[string]*bucket{}
	s.st = st
	s.rebuildIndexesLocked()
	for i := range st.Masters {
		m := &st.Masters[i]
		if m.Totals.Seeded == nil {
			seeded := s.holdingsLocked(m.DomainID).Add(m.Totals.Consumed).Add(m.Totals.OrdersPaid).Sub(m.Totals.Added)
			m.Totals.Seeded = &seeded
		}
	}
	if err := s.checkConservationLocked(); err != nil {
		return nil, fmt.Errorf("bsssim: invalid state: %w", err)
	}
	if err := s.checkLedgerLocked(false); err != nil {
		return nil, fmt.Errorf("bsssim: invalid state: %w", err)
	}
	s.initial = st.DeepCopy()
	s.rng = newRNG(opts.Seed)
	s.setFaultsLocked(opts.Faults)
	s.behaviour = opts.Behaviour.Normalized()
	s.handler = s.routes()
	s.dirty = true
	s.mu.Lock()
	s.catchUpLocked(s.simNowLocked())
	err := s.persistLocked()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s, nil
}

func newRNG(seed int64) *rand.Rand {
	//nolint:gosec // G404: a reproducible simulation needs a seeded generator, not a secure one.
	return rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
}

// Handler returns the HTTP handler serving the BSS API and /_sim/.
func (s *Sim) Handler() http.Handler { return s.handler }

// Now returns the current simulated time.
func (s *Sim) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.simNowLocked()
}

func (s *Sim) simNowLocked() time.Time {
	return s.opts.Now().Add(time.Duration(s.st.TimeOffset)).UTC().Round(0)
}

// lock takes the state lock, applies consumption up to now and returns the
// simulated time. Pair it with unlock.
func (s *Sim) lock() time.Time {
	s.mu.Lock()
	now := s.simNowLocked()
	s.catchUpLocked(now)
	return now
}

// unlock persists a changed state and releases the lock.
func (s *Sim) unlock() {
	if s.dirty {
		if err := s.persistLocked(); err != nil {
			s.log.Error("persisting state failed", "path", s.opts.PersistPath, "error", err)
		}
	}
	s.mu.Unlock()
}

func (s *Sim) persistLocked() error {
	if s.opts.PersistPath == "" {
		s.dirty = false
		return nil
	}
	err := SaveState(s.opts.PersistPath, s.st)
	if err == nil {
		s.dirty = false
	}
	return err
}

// Close writes the state to Options.PersistPath (when set). The simulator
// stays usable; Close may be called more than once.
func (s *Sim) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.catchUpLocked(s.simNowLocked())
	if s.opts.PersistPath == "" {
		return nil
	}
	return s.persistLocked()
}

// Snapshot returns a deep copy of the current state, with consumption
// applied up to now and SimTime and Behaviour set.
func (s *Sim) Snapshot() *State {
	now := s.lock()
	defer s.unlock()
	c := s.st.DeepCopy()
	c.SimTime = &now
	b := s.behaviour
	c.Behaviour = &b
	return c
}

// Ledger returns a copy of the applied money operations, oldest first.
func (s *Sim) Ledger() []LedgerEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]LedgerEntry, len(s.st.Ledger))
	for i, e := range s.st.Ledger {
		e.ExpireTime = clonePtr(e.ExpireTime)
		out[i] = e
	}
	return out
}

// SetFaults replaces the fault configuration. A positive StormDuration
// starts a storm now. It returns an error for an invalid configuration.
func (s *Sim) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setFaultsLocked(f)
	return nil
}

func (s *Sim) setFaultsLocked(f Faults) {
	s.faults = f
	s.stormUntil = time.Time{}
	if f.StormDuration > 0 {
		s.stormUntil = time.Now().Add(time.Duration(f.StormDuration))
	}
}

// Faults returns the current fault configuration.
func (s *Sim) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// SetBehaviour replaces the whole behaviour. It returns an error, and
// changes nothing, for an invalid one. The new behaviour applies to every
// request from now on, and to what was recorded before where that is read
// at request time: a shorter TransIDRetention forgets older trans_ids at
// once, Reclaimable changes what is reclaimable now, and RefusedTransIDs =
// RefusedReusable does not forget trans_ids burned earlier (they stay
// remembered for the retention). Records already written keep their
// trade_id.
func (s *Sim) SetBehaviour(b Behaviour) error {
	if err := b.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.behaviour = b.Normalized()
	return nil
}

// Behaviour returns the behaviour in force, with every default spelled
// out.
func (s *Sim) Behaviour() Behaviour {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.behaviour
}

// BurnedTransIDs returns a copy of the burned trans_ids, oldest first.
func (s *Sim) BurnedTransIDs() []BurnedTransID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]BurnedTransID(nil), s.st.BurnedTransIDs...)
}

// Advance moves simulated time forward by d and applies the consumption of
// that period. Negative durations are ignored.
func (s *Sim) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	s.lock()
	defer s.unlock()
	s.st.TimeOffset += Duration(d)
	s.dirty = true
	s.catchUpLocked(s.simNowLocked())
}

// AddFunds adds amount to the cash balance of the master domainID (the
// first master when domainID is empty). The money counts as added.
func (s *Sim) AddFunds(domainID string, amount money.Amount) error {
	if !amount.IsPositive() {
		return errors.New("amount must be greater than 0")
	}
	now := s.lock()
	defer s.unlock()
	m := s.masterLocked(domainID)
	if m == nil {
		return fmt.Errorf("unknown master %q", domainID)
	}
	m.Cash = m.Cash.Add(amount)
	m.Totals.Added = m.Totals.Added.Add(amount)
	s.addChangeLocked(now, m.DomainID, m.Name, BalanceTypeDebit, TradeRecharge, Revenue, s.nextHexLocked("recharge"), amount, m.Cash, "2")
	s.dirty = true
	return nil
}

// AddSubFunds adds amount to the self-funded cash of a sub-account, as if
// it had topped up its own account. The money counts as added.
func (s *Sim) AddSubFunds(customerID string, amount money.Amount) error {
	if !amount.IsPositive() {
		return errors.New("amount must be greater than 0")
	}
	now := s.lock()
	defer s.unlock()
	sa := s.subLocked(customerID)
	if sa == nil {
		return fmt.Errorf("unknown sub-account %q", customerID)
	}
	m := s.masterLocked(sa.DomainID)
	sa.SelfFundedCash = sa.SelfFundedCash.Add(amount)
	m.Totals.Added = m.Totals.Added.Add(amount)
	s.addChangeLocked(now, sa.ID, sa.Name, BalanceTypeDebit, TradeRecharge, Revenue, s.nextHexLocked("recharge"), amount, sa.cash(), "2")
	s.dirty = true
	return nil
}

// SubAccountBalances is a read-only view of a sub-account's money.
type SubAccountBalances struct {
	// CustomerID is the sub-account id.
	CustomerID string
	// DomainID is its master.
	DomainID string
	// Name is the login name.
	Name string
	// Status is the account status (1 normal, 2 being created).
	Status int
	// ReclaimableCash is the master-funded cash.
	ReclaimableCash money.Amount
	// SelfFundedCash is the cash the sub-account added itself.
	SelfFundedCash money.Amount
	// Cash is ReclaimableCash + SelfFundedCash.
	Cash money.Amount
	// Credit is the sum of the credit ledgers' balances.
	Credit money.Amount
	// CreditLedgers are the credit ledgers.
	CreditLedgers []CreditLedger
	// SubCoupons are the sub-coupons it holds.
	SubCoupons []SubCoupon
	// Coupons is the sum of the sub-coupons' balances.
	Coupons money.Amount
}

// SubAccount returns the balances of a sub-account, with consumption
// applied up to now.
func (s *Sim) SubAccount(customerID string) (SubAccountBalances, bool) {
	s.lock()
	defer s.unlock()
	sa := s.subLocked(customerID)
	if sa == nil {
		return SubAccountBalances{}, false
	}
	b := SubAccountBalances{
		CustomerID: sa.ID, DomainID: sa.DomainID, Name: sa.Name, Status: sa.Status,
		ReclaimableCash: sa.ReclaimableCash, SelfFundedCash: sa.SelfFundedCash, Cash: sa.cash(),
		Credit: sumLedgers(sa.CreditLedgers), CreditLedgers: copyLedgers(sa.CreditLedgers),
	}
	for _, sc := range s.st.SubCoupons {
		if sc.CustomerID == sa.ID {
			b.SubCoupons = append(b.SubCoupons, sc)
			b.Coupons = b.Coupons.Add(sc.Balance)
		}
	}
	return b, true
}

// MasterBalances is a read-only view of a master's money.
type MasterBalances struct {
	// DomainID is the master's domain id.
	DomainID string
	// Cash is the transferable cash.
	Cash money.Amount
	// CreditLedgers are the credit ledgers.
	CreditLedgers []CreditLedger
	// Coupons are the master's coupons.
	Coupons []Coupon
	// Totals are the conservation counters.
	Totals Totals
}

// Master returns the balances of the master domainID (the first master
// when domainID is empty).
func (s *Sim) Master(domainID string) (MasterBalances, bool) {
	s.lock()
	defer s.unlock()
	m := s.masterLocked(domainID)
	if m == nil {
		return MasterBalances{}, false
	}
	b := MasterBalances{DomainID: m.DomainID, Cash: m.Cash, CreditLedgers: copyLedgers(m.CreditLedgers), Totals: m.Totals}
	b.Totals.Seeded = clonePtr(m.Totals.Seeded)
	for _, c := range s.st.Coupons {
		if c.DomainID == m.DomainID {
			b.Coupons = append(b.Coupons, c)
		}
	}
	return b, true
}

// LastSMSCode returns the last verification code sent to mobilePhone.
func (s *Sim) LastSMSCode(mobilePhone string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.st.SMSCodes) - 1; i >= 0; i-- {
		if s.st.SMSCodes[i].MobilePhone == mobilePhone {
			return s.st.SMSCodes[i].Code, true
		}
	}
	return "", false
}

// Reset restores the state New was given (with its seeded totals, so the
// ledger, the burned trans_ids and what BSS remembers of trans_ids go
// back to it too), the random generator and the throttle buckets. The
// fault configuration and the behaviour are configuration, not state: both
// are kept.
func (s *Sim) Reset() {
	s.mu.Lock()
	defer s.unlock()
	s.st = s.initial.DeepCopy()
	s.rebuildIndexesLocked()
	s.rng = newRNG(s.opts.Seed)
	s.busy = map[string]bool{}
	s.thr.reset()
	s.dirty = true
	s.catchUpLocked(s.simNowLocked())
}

// CheckConservation verifies, to the fen and for every master, that cash,
// credit balances, coupons, all its sub-accounts' cash, credit and
// sub-coupons, plus the consumed total and what paid orders took, equal
// the seeded plus the added total.
func (s *Sim) CheckConservation() error {
	s.lock()
	defer s.unlock()
	return s.checkConservationLocked()
}

func (s *Sim) checkConservationLocked() error {
	var errs []error
	for _, m := range s.st.Masters {
		have := s.holdingsLocked(m.DomainID).Add(m.Totals.Consumed).Add(m.Totals.OrdersPaid)
		var seeded money.Amount
		if m.Totals.Seeded != nil {
			seeded = *m.Totals.Seeded
		}
		want := seeded.Add(m.Totals.Added)
		if have != want {
			errs = append(errs, fmt.Errorf("master %s: holdings+consumed+orders paid = %s, seeded+added = %s (difference %s)",
				m.DomainID, have, want, have.Sub(want)))
		}
	}
	for _, sa := range s.st.SubAccounts {
		if sa.ReclaimableCash.IsNegative() || sa.SelfFundedCash.IsNegative() || ledgersNegative(sa.CreditLedgers) {
			errs = append(errs, fmt.Errorf("sub-account %s has a negative balance", sa.ID))
		}
	}
	for _, m := range s.st.Masters {
		if m.Cash.IsNegative() || ledgersNegative(m.CreditLedgers) {
			errs = append(errs, fmt.Errorf("master %s has a negative balance", m.DomainID))
		}
	}
	for _, c := range s.st.Coupons {
		if c.Balance.IsNegative() {
			errs = append(errs, fmt.Errorf("coupon %s has a negative balance", c.ID))
		}
	}
	for _, sc := range s.st.SubCoupons {
		if sc.Balance.IsNegative() {
			errs = append(errs, fmt.Errorf("sub-coupon %s has a negative balance", sc.ID))
		}
	}
	return errors.Join(errs...)
}

func ledgersNegative(ls []CreditLedger) bool {
	for _, l := range ls {
		if l.Balance.IsNegative() {
			return true
		}
	}
	return false
}

// holdingsLocked sums all money held in a master's books.
func (s *Sim) holdingsLocked(domainID string) money.Amount {
	var t money.Amount
	for _, m := range s.st.Masters {
		if m.DomainID == domainID {
			t = t.Add(m.Cash).Add(sumLedgers(m.CreditLedgers))
		}
	}
	for _, c := range s.st.Coupons {
		if c.DomainID == domainID {
			t = t.Add(c.Balance)
		}
	}
	subs := map[string]bool{}
	for _, sa := range s.st.SubAccounts {
		if sa.DomainID == domainID {
			subs[sa.ID] = true
			t = t.Add(sa.ReclaimableCash).Add(sa.SelfFundedCash).Add(sumLedgers(sa.CreditLedgers))
		}
	}
	for _, sc := range s.st.SubCoupons {
		if subs[sc.CustomerID] {
			t = t.Add(sc.Balance)
		}
	}
	return t
}

func sumLedgers(ls []CreditLedger) money.Amount {
	var t money.Amount
	for _, l := range ls {
		t = t.Add(l.Balance)
	}
	return t
}

// CheckLedger verifies that every order was paid at most once (one
// pay-order entry per order, matching the order's status and amount, and
// adding up to the master's Totals.OrdersPaid), that every trans_id was
// applied at most once per master — also when BSS had forgotten it (Behaviour.TransIDRetention) and
// applied it again: that is money moved twice, and it is reported — that
// every entry names a known operation, master and sub-account, that
// amounts are positive (a coupon reclaim may return 0.00), and that every
// burned trans_id names a known operation and master.
func (s *Sim) CheckLedger() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkLedgerLocked(true)
}

// checkLedgerLocked checks the ledger. With strict unset (loading a
// state), a trans_id applied again after BSS forgot it (the later entry
// marked AfterRetention) is what happened, not a broken state.
func (s *Sim) checkLedgerLocked(strict bool) error {
	var errs []error
	seen := map[string]int{}
	subs := map[string]string{}
	for _, sa := range s.st.SubAccounts {
		subs[sa.ID] = sa.DomainID
	}
	masters := map[string]bool{}
	for _, m := range s.st.Masters {
		masters[m.DomainID] = true
	}
	for i, e := range s.st.Ledger {
		k := e.DomainID + "\x00" + e.TransID
		if j, dup := seen[k]; dup {
			switch {
			case e.AfterRetention && strict:
				errs = append(errs, fmt.Errorf("ledger entries %d and %d share trans_id %q: BSS forgot it (trans_id retention) and moved the money again", j, i, e.TransID))
			case !e.AfterRetention:
				errs = append(errs, fmt.Errorf("ledger entries %d and %d share trans_id %q", j, i, e.TransID))
			}
		}
		seen[k] = i
		if e.SelfFunded.IsNegative() || e.SelfFunded.Cmp(e.Amount) > 0 ||
			(e.SelfFunded.IsPositive() && (e.Operation != OpRetrieveAmount || e.BalanceType == BalanceTypeCredit)) {
			errs = append(errs, fmt.Errorf("ledger entry %d (%s) has self_funded %s of %s", i, e.TransID, e.SelfFunded, e.Amount))
		}
		if e.TransID == "" {
			errs = append(errs, fmt.Errorf("ledger entry %d has no trans_id", i))
		}
		switch e.Operation {
		case OpPayOrder:
			// checked by checkPaymentsLocked
		case OpTransferAmount, OpRetrieveAmount, OpTransferCoupon:
			if !e.Amount.IsPositive() {
				errs = append(errs, fmt.Errorf("ledger entry %d (%s) has amount %s", i, e.TransID, e.Amount))
			}
		case OpRetrieveCoupon:
			if e.Amount.IsNegative() {
				errs = append(errs, fmt.Errorf("ledger entry %d (%s) has amount %s", i, e.TransID, e.Amount))
			}
		default:
			errs = append(errs, fmt.Errorf("ledger entry %d has unknown operation %q", i, e.Operation))
		}
		if d, ok := subs[e.CustomerID]; e.Operation != OpPayOrder && (!ok || d != e.DomainID) {
			errs = append(errs, fmt.Errorf("ledger entry %d names sub-account %q, not one of master %q", i, e.CustomerID, e.DomainID))
		}
	}
	errs = append(errs, s.checkPaymentsLocked()...)
	for i, b := range s.st.BurnedTransIDs {
		switch {
		case b.TransID == "":
			errs = append(errs, fmt.Errorf("burned trans_id %d is empty", i))
		case !masters[b.DomainID]:
			errs = append(errs, fmt.Errorf("burned trans_id %d (%s) names unknown master %q", i, b.TransID, b.DomainID))
		}
		switch b.Operation {
		case OpTransferAmount, OpRetrieveAmount, OpTransferCoupon, OpRetrieveCoupon:
		default:
			errs = append(errs, fmt.Errorf("burned trans_id %d (%s) has unknown operation %q", i, b.TransID, b.Operation))
		}
	}
	return errors.Join(errs...)
}

func (s *Sim) rebuildIndexesLocked() {
	s.busy = map[string]bool{}
	s.transIDs = map[string]time.Time{}
	seen := func(domainID, transID string, at time.Time) {
		k := domainID + "\x00" + transID
		if t, ok := s.transIDs[k]; !ok || at.After(t) {
			s.transIDs[k] = at
		}
	}
	for _, e := range s.st.Ledger {
		seen(e.DomainID, e.TransID, e.Time)
	}
	for _, b := range s.st.BurnedTransIDs {
		seen(b.DomainID, b.TransID, b.Time)
	}
	s.deductIdx = map[string]int{}
	for i, r := range s.st.ChangeRecords {
		if r.TradeType == TradeDeduct {
			s.deductIdx[deductKey(r.CustomerID, r.BalanceType, r.TradeTime)] = i
		}
	}
	s.costIdx = map[string]int{}
	for i, r := range s.st.Costs {
		s.costIdx[costKey(r.Date, r.CustomerID, r.ServiceTypeCode, r.ResourceTypeCode)] = i
	}
}

func deductKey(customerID, balanceType string, t time.Time) string {
	return customerID + "|" + balanceType + "|" + t.In(beijing).Format(time.DateOnly)
}

// masterLocked finds a master; "" means the first one.
func (s *Sim) masterLocked(domainID string) *Master {
	for i := range s.st.Masters {
		if domainID == "" || s.st.Masters[i].DomainID == domainID {
			return &s.st.Masters[i]
		}
	}
	return nil
}

func (s *Sim) subLocked(id string) *SubAccount {
	for i := range s.st.SubAccounts {
		if s.st.SubAccounts[i].ID == id {
			return &s.st.SubAccounts[i]
		}
	}
	return nil
}

func (s *Sim) couponLocked(id string) *Coupon {
	for i := range s.st.Coupons {
		if s.st.Coupons[i].ID == id {
			return &s.st.Coupons[i]
		}
	}
	return nil
}

func (s *Sim) orgLocked(domainID, id string) *OrgUnit {
	for i := range s.st.Orgs {
		if s.st.Orgs[i].ID == id && s.st.Orgs[i].DomainID == domainID {
			return &s.st.Orgs[i]
		}
	}
	return nil
}

func (sa *SubAccount) cash() money.Amount { return sa.ReclaimableCash.Add(sa.SelfFundedCash) }

// idHashLocked returns a hash of the seed, a kind and the next counter
// value, advancing the counter.
func (s *Sim) idHashLocked(kind string) [32]byte {
	n := s.st.NextID
	s.st.NextID++
	s.dirty = true
	return sha256.Sum256([]byte(fmt.Sprintf("%d/%s/%d", s.opts.Seed, kind, n)))
}

// nextHexLocked returns a new 32-hex-digit id.
func (s *Sim) nextHexLocked(kind string) string {
	h := s.idHashLocked(kind)
	return hex.EncodeToString(h[:16])
}

// nextDigitsLocked returns prefix followed by digits decimal digits that
// taken() does not reject.
func (s *Sim) nextDigitsLocked(prefix string, digits int, taken func(string) bool) string {
	mod := uint64(1)
	for range digits {
		mod *= 10
	}
	for {
		h := s.idHashLocked(prefix)
		id := fmt.Sprintf("%s%0*d", prefix, digits, binary.BigEndian.Uint64(h[:8])%mod)
		if !taken(id) {
			return id
		}
	}
}

func (s *Sim) requestID() string {
	n := s.reqSeq.Add(1)
	h := sha256.Sum256([]byte(fmt.Sprintf("%d/request/%d", s.opts.Seed, n)))
	return hex.EncodeToString(h[:16])
}

// addChangeLocked appends an account change record.
func (s *Sim) addChangeLocked(now time.Time, customerID, name, balanceType, trade, dir, tradeID string, amount, after money.Amount, channel string) {
	id := s.nextDigitsLocked("ACR", 16, func(string) bool { return false })
	s.st.ChangeRecords = append(s.st.ChangeRecords, ChangeRecord{
		ID: id, CustomerID: customerID, AccountName: name, BalanceType: balanceType, TradeType: trade,
		RevenueExpenseType: dir, TradeID: tradeID, TradeTime: now, ChangeAmount: amount, BalanceAfterChange: after,
		PaymentChannelID: channel,
	})
	s.dirty = true
}

// subsOfLocked lists the sub-accounts of a master in state order.
func (s *Sim) subsOfLocked(domainID string) []*SubAccount {
	var out []*SubAccount
	for i := range s.st.SubAccounts {
		if s.st.SubAccounts[i].DomainID == domainID {
			out = append(out, &s.st.SubAccounts[i])
		}
	}
	return out
}

// sortedLedgers returns the indexes of ls ordered by expiry, soonest first
// and the permanent ledger last.
func sortedLedgers(ls []CreditLedger) []int {
	idx := make([]int, len(ls))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ea, eb := ls[idx[a]].ExpireTime, ls[idx[b]].ExpireTime
		switch {
		case ea == nil:
			return false
		case eb == nil:
			return true
		}
		return ea.Before(*eb)
	})
	return idx
}

// findLedger returns the index of the ledger whose expiry equals expire
// (nil: the permanent one), or -1.
func findLedger(ls []CreditLedger, expire *time.Time) int {
	for i, l := range ls {
		if (l.ExpireTime == nil) != (expire == nil) {
			continue
		}
		if expire == nil || l.ExpireTime.Equal(*expire) {
			return i
		}
	}
	return -1
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func redactKey(k string) string {
	if k == "" {
		return ""
	}
	return "<redacted>"
}

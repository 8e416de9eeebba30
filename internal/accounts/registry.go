// Package accounts keeps one BSS client per EnterpriseAccount, shared by
// every controller that talks to that master account, so that the rate
// limiter and the serialisation of money writes are per master and not per
// controller. It also caches the master's transferable cash, which the
// transfer controller debits locally after each success so that allocations
// can refuse doomed transfers without a BSS read each time.
package accounts

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// ConnectGrace bounds how long after the operator started a missing
// connection may be taken for one not rebuilt yet (see Connecting).
const ConnectGrace = time.Minute

// ConnectingRetry is how soon a reconciler that found the connection still
// being rebuilt looks again.
const ConnectingRetry = time.Second

// Registry maps EnterpriseAccount names to their BSS connections. It is safe
// for concurrent use.
type Registry struct {
	mu       sync.Mutex
	accounts map[string]*Account
	// started is when the registry was made (the operator started);
	// reconciled holds the EnterpriseAccounts reconciled since.
	started    time.Time
	reconciled map[string]bool
	// Observer receives every BSS call of every client (metrics).
	observer bss.Observer
	// configure adjusts each client configuration (timeouts, retries).
	configure func(*bss.Config)
	// connect builds the connection from a configuration: bss.New, or
	// what SetConnector installs.
	connect func(bss.Config) (bss.API, error)
}

// SetConnector makes Ensure build connections with connect instead of
// bss.New: a unit test of the EnterpriseAccount controller gives it an
// in-memory BSS (bssfake) for the configuration its credentials produce.
func (r *Registry) SetConnector(connect func(bss.Config) (bss.API, error)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.connect = connect
}

// NewRegistry returns an empty registry. observer may be nil; configure, if
// not nil, is applied to every client configuration before it is built.
func NewRegistry(observer bss.Observer, configure func(*bss.Config)) *Registry {
	return &Registry{
		accounts: map[string]*Account{}, observer: observer, configure: configure,
		started: time.Now(), reconciled: map[string]bool{},
	}
}

// Account is the connection to one master account.
type Account struct {
	// Name of the EnterpriseAccount.
	Name string
	// DomainID of the master account.
	DomainID string
	// Client talks to BSS with the master's credentials.
	Client bss.API

	fingerprint string

	mu        sync.Mutex
	cash      money.Amount
	cashKnown bool
	cashTime  time.Time

	cache map[string]cached
}

type cached struct {
	value   any
	expires time.Time
}

// Ensure returns the account for name, building a new client when none exists
// or when fingerprint (a digest of everything the client was built from:
// endpoint, credentials version, rate limit) changed.
func (r *Registry) Ensure(name, fingerprint string, cfg bss.Config) (*Account, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.accounts[name]; ok && a.fingerprint == fingerprint {
		return a, nil
	}
	if cfg.Observer == nil {
		cfg.Observer = r.observer
	}
	if r.configure != nil {
		r.configure(&cfg)
	}
	connect := r.connect
	if connect == nil {
		connect = func(cfg bss.Config) (bss.API, error) { return bss.New(cfg) }
	}
	c, err := connect(cfg)
	if err != nil {
		return nil, fmt.Errorf("building the BSS client for %s: %w", name, err)
	}
	a := &Account{Name: name, DomainID: cfg.DomainID, Client: c, fingerprint: fingerprint, cache: map[string]cached{}}
	r.accounts[name] = a
	return a, nil
}

// Put installs an account for name that talks to api: the connection a
// unit test gives a reconciler (bssfake), where Ensure would build a
// client from credentials.
func (r *Registry) Put(name string, api bss.API) *Account {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := &Account{Name: name, Client: api, cache: map[string]cached{}}
	r.accounts[name] = a
	r.reconciled[name] = true
	return a
}

// Get returns the account for name, if its EnterpriseAccount has been
// reconciled with working credentials.
func (r *Registry) Get(name string) (*Account, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.accounts[name]
	return a, ok
}

// Reconciled records that the EnterpriseAccount controller has reconciled
// name since the operator started: from then on, a missing connection means
// that it has none.
func (r *Registry) Reconciled(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reconciled[name] = true
}

// Connecting reports whether the connection of name may be missing only
// because it is not rebuilt yet: the operator started less than
// ConnectGrace ago and has not reconciled the EnterpriseAccount since.
// Reconcilers then keep the status they show (it was written with a
// connection) and look again after ConnectingRetry, instead of reporting
// the EnterpriseAccount as not ready.
func (r *Registry) Connecting(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.accounts[name]
	return !ok && !r.reconciled[name] && time.Since(r.started) < ConnectGrace
}

// Remove forgets the account (its EnterpriseAccount was deleted or lost its
// credentials).
func (r *Registry) Remove(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.accounts, name)
}

// SetTransferableCash records the master's transferable cash as read from BSS.
func (a *Account) SetTransferableCash(amount money.Amount, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cash, a.cashKnown, a.cashTime = amount, true, at
}

// TransferableCash returns the cached transferable cash and whether it is known.
func (a *Account) TransferableCash() (money.Amount, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cash, a.cashKnown
}

// AdjustTransferableCash adds delta (negative after a transfer, positive
// after a reclaim) to the cached transferable cash.
func (a *Account) AdjustTransferableCash(delta money.Amount) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cashKnown {
		a.cash = a.cash.Add(delta)
	}
}

// RefreshTransferableCash reads the transferable cash from BSS and caches it.
func (a *Account) RefreshTransferableCash(ctx context.Context, now time.Time) (money.Amount, error) {
	amount, err := a.Client.TransferableCash(ctx)
	if err != nil {
		return money.Zero, err
	}
	a.SetTransferableCash(amount, now)
	return amount, nil
}

// Key names a per-master value of type T in an Account's cache. Keys are
// compared by name; one name must always hold one type, which declaring
// each key once as a package-level variable ensures.
type Key[T any] struct{ name string }

// NewKey declares a cache key.
func NewKey[T any](name string) Key[T] { return Key[T]{name: name} }

// String is the key's name.
func (k Key[T]) String() string { return k.name }

// With is the key name+suffix, e.g. one per bill cycle.
func (k Key[T]) With(suffix string) Key[T] { return Key[T]{name: k.name + suffix} }

// Keys shared by several controllers: what the transfer controller drops
// after a movement so that the next plan reads the master again.
var (
	// MasterCredit are the master's transferable credit ledgers.
	MasterCredit = NewKey[[]bss.AmountInfo]("master-credit")
	// MasterCoupons are the master's transferable coupons.
	MasterCoupons = NewKey[[]bss.Coupon]("master-coupons")
)

// Load returns the value stored under key, if it has not expired.
func Load[T any](a *Account, key Key[T], now time.Time) (T, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var zero T
	c, ok := a.cache[key.name]
	if !ok || now.After(c.expires) {
		return zero, false
	}
	v, ok := c.value.(T)
	return v, ok
}

// Store keeps value under key until ttl has passed. Controllers use it to
// fetch per-master batches (all sub-accounts, all bills of a cycle) once and
// share them between the reconciles of many objects.
func Store[T any](a *Account, key Key[T], value T, now time.Time, ttl time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cache[key.name] = cached{value: value, expires: now.Add(ttl)}
}

// Forget drops the value stored under key.
func Forget[T any](a *Account, key Key[T]) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.cache, key.name)
}

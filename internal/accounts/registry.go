// Package accounts keeps one BSS client per EnterpriseAccount, shared by
// every controller that talks to that master account, so that the rate
// limiter and the serialisation of money writes are per master and not per
// controller. It also caches the master's transferable cash, which the
// transfer controller debits locally after each success so that allocations
// can refuse doomed transfers without a BSS read each time, and tells the
// EnterpriseAccount controller when the figures its status publishes change
// (see Changes).
package accounts

import (
	"context"
	"fmt"
	"slices"
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

// MasterCacheTTL is how long the master's credit ledgers and coupons, read
// once, serve every other reader of MasterCredit and MasterCoupons (the
// allocation controller's plans, the EnterpriseAccount status). A movement
// drops them at once (Forget).
const MasterCacheTTL = 10 * time.Second

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

	// changed holds the names whose published figures changed since the
	// last TakeChanges; signal holds one token while it is not empty.
	changeMu sync.Mutex
	changed  map[string]struct{}
	signal   chan struct{}
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
		changed: map[string]struct{}{}, signal: make(chan struct{}, 1),
	}
}

// Changes receives a value when an account's published figures changed:
// its transferable cash was read with a new value or adjusted for a
// movement, or MasterCredit or MasterCoupons was forgotten. TakeChanges
// then names the accounts. Changes are coalesced (a name is reported once
// however often it changed since the last TakeChanges) and never wait for
// the reader: a money write that changes the cache never blocks on it. The
// registry has one reader, the EnterpriseAccount controller.
func (r *Registry) Changes() <-chan struct{} { return r.signal }

// TakeChanges returns, sorted, the names of the accounts whose published
// figures changed since the last call, and forgets them.
func (r *Registry) TakeChanges() []string {
	r.changeMu.Lock()
	defer r.changeMu.Unlock()
	names := make([]string, 0, len(r.changed))
	for n := range r.changed {
		names = append(names, n)
	}
	clear(r.changed)
	slices.Sort(names)
	return names
}

// noteChange records that the published figures of name changed and wakes
// the reader without waiting for it.
func (r *Registry) noteChange(name string) {
	r.changeMu.Lock()
	r.changed[name] = struct{}{}
	r.changeMu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default: // a wake-up is pending already; it covers this name too
	}
}

// newAccount makes an account whose changes the registry reports under name.
func (r *Registry) newAccount(name, domainID string, api bss.API, fingerprint string) *Account {
	return &Account{
		Name: name, DomainID: domainID, Client: api, fingerprint: fingerprint,
		cache: map[string]cached{}, forgotten: map[string]uint64{},
		changed: func() { r.noteChange(name) },
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

	// moneyMu is held around a money write that must be bracketed by
	// reads of the master's balance, so that no other write of the
	// operator's to this master falls between them.
	moneyMu sync.Mutex

	mu        sync.Mutex
	cash      money.Amount
	cashKnown bool
	// cashTime is when cash was last brought up to date: read from BSS,
	// or adjusted for a movement.
	cashTime time.Time

	cache map[string]cached
	// forgotten counts the Forget calls per key name.
	forgotten map[string]uint64
	// fetching holds one slot per key being read by Batch.
	fetching map[string]chan struct{}
	// changed tells the registry that a published figure changed; nil
	// for an account made outside a registry.
	changed func()
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
	a := r.newAccount(name, cfg.DomainID, c, fingerprint)
	r.accounts[name] = a
	return a, nil
}

// Put installs an account for name that talks to api: the connection a
// unit test gives a reconciler (bssfake), where Ensure would build a
// client from credentials.
func (r *Registry) Put(name string, api bss.API) *Account {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.newAccount(name, "", api, "")
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

// SetTransferableCash records the master's transferable cash as read from
// BSS at the time at. A new value is a change of the published figures.
func (a *Account) SetTransferableCash(amount money.Amount, at time.Time) {
	a.mu.Lock()
	changed := !a.cashKnown || a.cash != amount
	a.cash, a.cashKnown, a.cashTime = amount, true, at
	a.mu.Unlock()
	if changed {
		a.notify()
	}
}

// TransferableCash returns the cached transferable cash and whether it is known.
func (a *Account) TransferableCash() (money.Amount, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cash, a.cashKnown
}

// TransferableCashAt returns the cached transferable cash, when it was last
// brought up to date (read from BSS or adjusted for a movement), and
// whether it is known.
func (a *Account) TransferableCashAt() (money.Amount, time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cash, a.cashTime, a.cashKnown
}

// AdjustTransferableCash adds delta (negative after a transfer, positive
// after a reclaim) to the cached transferable cash, as of at. A cash figure
// not known yet stays unknown: the next reader takes it from BSS.
func (a *Account) AdjustTransferableCash(delta money.Amount, at time.Time) {
	a.mu.Lock()
	known := a.cashKnown
	if known {
		a.cash = a.cash.Add(delta)
		a.cashTime = at
	}
	a.mu.Unlock()
	if known {
		a.notify()
	}
}

// ForgetTransferableCash drops the cached transferable cash after a
// movement whose effect on it is not known exactly (an order payment takes
// coupons, then cash, then credit): the next reader, and the
// EnterpriseAccount's status, read it from BSS.
func (a *Account) ForgetTransferableCash() {
	a.mu.Lock()
	known := a.cashKnown
	a.cashKnown = false
	a.mu.Unlock()
	if known {
		a.notify()
	}
}

// notify reports a change of the published figures to the registry. It is
// called without a.mu held.
func (a *Account) notify() {
	if a.changed != nil {
		a.changed()
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
type Key[T any] struct {
	name string
	// published: the EnterpriseAccount status shows the value, so that
	// forgetting it is a change of the published figures.
	published bool
}

// NewKey declares a cache key.
func NewKey[T any](name string) Key[T] { return Key[T]{name: name} }

// String is the key's name.
func (k Key[T]) String() string { return k.name }

// With is the key name+suffix, e.g. one per bill cycle.
func (k Key[T]) With(suffix string) Key[T] {
	return Key[T]{name: k.name + suffix, published: k.published}
}

// Keys shared by several controllers: what the transfer controller drops
// after a movement so that the next plan reads the master again. The
// EnterpriseAccount status publishes both, so forgetting either is reported
// by Registry.Changes.
var (
	// MasterCredit are the master's transferable credit ledgers.
	MasterCredit = Key[[]bss.AmountInfo]{name: "master-credit", published: true}
	// MasterCoupons are the master's transferable coupons.
	MasterCoupons = Key[[]bss.Coupon]{name: "master-coupons", published: true}
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

// Forgotten is how many times key was forgotten. A reader that takes it
// before reading BSS can tell whether a movement dropped the value since
// (see StoreUnlessForgotten).
func Forgotten[T any](a *Account, key Key[T]) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.forgotten[key.name]
}

// StoreUnlessForgotten is Store if key was forgotten exactly since times
// (Forgotten's answer before the read that produced value): a value read
// before a movement is not kept after the movement dropped the old one. It
// reports whether value was stored.
func StoreUnlessForgotten[T any](a *Account, key Key[T], value T, since uint64, now time.Time, ttl time.Duration) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.forgotten[key.name] != since {
		return false
	}
	a.cache[key.name] = cached{value: value, expires: now.Add(ttl)}
	return true
}

// Forget drops the value stored under key. Forgetting a key the
// EnterpriseAccount status publishes (MasterCredit, MasterCoupons) is
// reported by Registry.Changes.
func Forget[T any](a *Account, key Key[T]) {
	a.mu.Lock()
	delete(a.cache, key.name)
	if a.forgotten == nil {
		a.forgotten = map[string]uint64{}
	}
	a.forgotten[key.name]++
	a.mu.Unlock()
	if key.published {
		a.notify()
	}
}

// LockMoney keeps the operator's other money writes to this master out
// until the returned function is called: a balance read before a write and
// one after it then differ only by that write (and by whatever moved the
// master's money outside the operator).
func (a *Account) LockMoney() (unlock func()) {
	a.moneyMu.Lock()
	return a.moneyMu.Unlock
}

// Batch returns the value cached under key, or reads it with fetch and
// caches it for ttl: the per-master reads that several reconcilers share
// (the sub-account list, bills, orders, costs). Only one caller reads a
// given key of an account at a time; the others wait and take its result.
// fresh skips the cache. The second result reports a value taken from the
// cache.
func Batch[T any](ctx context.Context, a *Account, key Key[T], now time.Time, ttl time.Duration, fresh bool,
	fetch func(context.Context) (T, error),
) (T, bool, error) {
	var zero T
	if !fresh {
		if v, ok := Load(a, key, now); ok {
			return v, true, nil
		}
	}
	a.mu.Lock()
	if a.fetching == nil {
		a.fetching = map[string]chan struct{}{}
	}
	ch, ok := a.fetching[key.name]
	if !ok {
		ch = make(chan struct{}, 1)
		a.fetching[key.name] = ch
	}
	a.mu.Unlock()
	select {
	case ch <- struct{}{}:
	case <-ctx.Done():
		return zero, false, fmt.Errorf("waiting for the read of %s: %w", key.name, ctx.Err())
	}
	defer func() { <-ch }()
	if !fresh {
		if v, ok := Load(a, key, now); ok { // read by another caller while this one waited
			return v, true, nil
		}
	}
	v, err := fetch(ctx)
	if err != nil {
		return zero, false, err
	}
	Store(a, key, v, now, ttl)
	return v, false, nil
}

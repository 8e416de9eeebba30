// Package probe settles, against a real BSS endpoint, what the operator
// needs to know about a master account before it moves money: whether
// every read the operator makes is permitted and decodes, how far the local
// clock is from BSS's, and — with money moving explicitly allowed — the
// four behaviours Huawei does not document (docs/exactly-once.md §7,
// bss-api.md §10–11): whether a refused trans_id is burned, how long
// trans_ids are remembered, what the master's income/expense records show
// of a transfer, and whether a sub-account's reclaimable cash includes
// money it topped up itself. Run is the probe; cmd/bss-probe is its
// command line.
package probe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// API is what the probe calls; *bss.Client implements it.
type API interface {
	GetTransferableAmount(ctx context.Context, req bss.TransferableAmountRequest) (*bss.AmountsResponse, error)
	GetReclaimableAmount(ctx context.Context, req bss.ReclaimableAmountRequest) (*bss.AmountsResponse, error)
	ListTransferableCoupons(ctx context.Context, offset, limit int) (*bss.TransferableCouponsResponse, error)
	ListReclaimableCoupons(ctx context.Context, subCustomerID string, offset, limit int) (*bss.ReclaimableCouponsResponse, error)
	ListSubCustomers(ctx context.Context, req bss.ListSubCustomersRequest) (*bss.ListSubCustomersResponse, error)
	ListOrganizations(ctx context.Context, req bss.ListOrganizationsRequest) (*bss.ListOrganizationsResponse, error)
	ListOrders(ctx context.Context, req bss.ListOrdersRequest) (*bss.ListOrdersResponse, error)
	GetOrderDetails(ctx context.Context, orderID string, offset, limit int) (*bss.OrderDetailsResponse, error)
	ListOrderCouponsByOrderID(ctx context.Context, orderID string) (*bss.OrderCouponsResponse, error)
	ListOrderDiscounts(ctx context.Context, orderID string) (*bss.OrderDiscountsResponse, error)
	GetMonthlySum(ctx context.Context, req bss.MonthlySumRequest) (*bss.MonthlySumResponse, error)
	GetAccountBalances(ctx context.Context) (*bss.AccountBalancesResponse, error)
	ListAccountChangeRecords(ctx context.Context, req bss.AccountChangeRecordsRequest) (*bss.AccountChangeRecordsResponse, error)
	ListAllAccountChangeRecords(ctx context.Context, req bss.AccountChangeRecordsRequest) ([]bss.AccountChangeRecord, error)
	TransferAmount(ctx context.Context, req bss.AmountTransferRequest) error
	ReclaimAmount(ctx context.Context, req bss.AmountTransferRequest) error
}

var _ API = (*bss.Client)(nil)

// Defaults of Options.
const (
	// DefaultRetentionWindow is how long the retention check watches
	// trans_ids by default.
	DefaultRetentionWindow = 5 * time.Minute
	// DefaultRetentionChecks is how many trans_ids the retention check
	// follows, each resent once at its own age.
	DefaultRetentionChecks = 4
	// MaxRetentionChecks bounds RetentionChecks: each costs a 0.01 transfer.
	MaxRetentionChecks = 20
	// TransIDPrefix starts every trans_id the probe sends, so that its
	// movements are easy to find in BSS's records.
	TransIDPrefix = "bssprobe"
)

// Cent is the amount of every movement the probe makes.
var Cent = money.FromFen(1)

// Options configure Run.
type Options struct {
	// Master is a client signed with the enterprise master's credentials.
	Master API
	// Sub, when not nil, is a client signed with the test sub-account's own
	// credentials; it answers reclaimable (d).
	Sub API
	// SubCustomerID is the test sub-account's customer id. Without it the
	// sub-account reads and all money questions are skipped.
	SubCustomerID string
	// Endpoint is reported as the endpoint talked to.
	Endpoint string
	// Watch, when not nil, is the ServerWatch in the clients' transport;
	// the clock skew and remote address come from it.
	Watch *bss.ServerWatch
	// MoveMoney allows the 0.01 transfers and reclaims. Without it the
	// probe makes no write at all.
	MoveMoney bool
	// RetentionWindow is the age up to which trans_ids are checked
	// (DefaultRetentionWindow when zero).
	RetentionWindow time.Duration
	// RetentionChecks is how many trans_ids are followed, at ages
	// RetentionWindow·k/RetentionChecks (DefaultRetentionChecks when zero).
	RetentionChecks int
	// Sleep waits d or until ctx ends. Tests replace it with an advance of
	// the simulator's time. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the local clock (time.Now when nil).
	Now func() time.Time
	// NewTransID returns a fresh trans_id of at most 32 characters
	// (default: TransIDPrefix and 24 random hex digits).
	NewTransID func() string
	// Progress, when not nil, receives one line per money write as it is
	// made, so that an interrupted run leaves its trans_ids behind.
	Progress io.Writer
}

// prober is one run.
type prober struct {
	opts   Options
	rep    *Report
	start  time.Time
	slept  time.Duration
	master API
	sub    API

	transferable   *money.Amount // the master's transferable cash, last read
	reclaimable    *money.Amount // the sub's reclaimable cash, last read
	subCash        *money.Amount // the sub's own cash balance, last read
	masterRecords0 map[string]bool
}

// errStop ends the money questions early; settlement still runs.
var errStop = errors.New("stopped")

// Run probes the endpoint and returns the report. It returns an error only
// for invalid options; everything BSS answers, refusals included, is in the
// report. With MoveMoney it always tries to return what it moved, also when
// ctx ends midway (settlement uses a context of its own, bounded to two
// minutes).
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	p := &prober{opts: opts, master: opts.Master, sub: opts.Sub}
	p.start = opts.Now()
	p.rep = &Report{
		Endpoint: opts.Endpoint, SubCustomerID: opts.SubCustomerID, MoveMoney: opts.MoveMoney,
		SubCredentials: opts.Sub != nil, Started: p.start.UTC(),
		RetentionWindow: Duration(opts.RetentionWindow),
	}
	p.readAll(ctx)
	p.rep.Questions.Reclaimable = p.askReclaimable(ctx)
	if opts.MoveMoney {
		p.moveMoney(ctx)
	} else {
		p.rep.Questions.skipMoney("read-only run: pass --move-money (with --sub-customer-id) to answer it")
	}
	p.rep.Finished = opts.Now().UTC()
	p.rep.Interrupted = ctx.Err() != nil
	p.rep.Clock = clockReport(opts.Watch)
	p.rep.RemoteAddr, p.rep.TLSVersion = remote(opts.Watch)
	p.rep.Recommended, p.rep.RecommendationNotes = recommend(p.rep.Questions)
	return p.rep, nil
}

func (o *Options) defaults() error {
	if o.Master == nil {
		return errors.New("probe: Options.Master is required")
	}
	if o.MoveMoney && o.SubCustomerID == "" {
		return errors.New("probe: moving money needs the test sub-account's customer id")
	}
	if o.RetentionWindow < 0 || o.RetentionChecks < 0 || o.RetentionChecks > MaxRetentionChecks {
		return fmt.Errorf("probe: the retention window must not be negative and the checks between 1 and %d", MaxRetentionChecks)
	}
	if o.RetentionWindow == 0 {
		o.RetentionWindow = DefaultRetentionWindow
	}
	if o.RetentionChecks == 0 {
		o.RetentionChecks = DefaultRetentionChecks
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewTransID == nil {
		o.NewTransID = newTransID
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newTransID() string {
	b := make([]byte, (bss.MaxTransIDLen-len(TransIDPrefix))/2)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return TransIDPrefix + hex.EncodeToString(b)
}

// now is the probe's clock: the local clock, but never behind the start
// plus everything slept. A real Sleep keeps the two equal; a simulated one
// (which only moves the simulator's time) makes ages count the time slept.
func (p *prober) now() time.Time {
	wall := p.opts.Now()
	if virtual := p.start.Add(p.slept); virtual.After(wall) {
		return virtual
	}
	return wall
}

func (p *prober) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	if err := p.opts.Sleep(ctx, d); err != nil {
		return err
	}
	p.slept += d
	return nil
}

func (p *prober) progress(format string, args ...any) {
	if p.opts.Progress != nil {
		_, _ = fmt.Fprintf(p.opts.Progress, format+"\n", args...)
	}
}

// beijing is the zone of BSS's dates and bill cycles (UTC+8).
var beijing = time.FixedZone("UTC+8", 8*60*60)

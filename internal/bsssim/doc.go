// Package bsssim is an in-memory simulator of the Huawei Cloud BSS
// (Billing Center) API v2 subset that the budget operator uses: the
// enterprise multi-account operations (sub-accounts, organizations, SMS
// codes, cash and credit transfer and reclaim, coupon transfer and reclaim),
// customer orders (listing, details, and paying or cancelling pending
// orders with their coupons and discounts), the monthly-sum bill, account
// balances (cash, credit, bonus and deposit) and account change records,
// the Cost Center's cost data (ListCosts, ListCustomerBillsMonthlyBreakDown)
// and resource packages (ListFreeResourceInfos, ListFreeResourceUsages).
//
// The simulator verifies SDK-HMAC-SHA256 signatures against the access keys
// of the master accounts (and of sub-accounts that have keys) in its State,
// validates parameters with the documented error codes, de-duplicates money
// operations by trans_id, throttles each API per account with a token bucket
// (APIG.0308), and models consumption: every sub-account spends money at a
// configurable rate in simulated time, which produces monthly-sum bill
// records, account change records and daily cost records.
//
// Cost data (costs.go) is per UTC+8 day: on-demand consumption is booked
// into one CostRecord per customer, service and resource type and day where
// the bill is booked, so a cycle's days add up to its on-demand bills
// (CheckCosts); a paid yearly/monthly order costs its amount on the payment
// day (original cost) and that amount spread evenly over the days of the
// period its lines buy (amortized cost). Cost data of a day shows
// Options.CostLagDays days after it (default 1: through yesterday). Per
// master, the Cost Center can be switched off (CBC.18000014), the lag
// changed, and the number of finance-independent sub-accounts above which
// ListCosts wants a query narrowed to one account (CBC.18000048,
// Options.FinanceIndependentLimit, default 1000) set: Master fields,
// SetCostCenter and /_sim/cost-center. Resource packages (packages.go) are
// used up at a rate per simulated hour, applied lazily like consumption,
// and their status follows simulated time and what is left. Costs,
// packages and the bonus, deposit and debt balances are reports: they move
// no money and are no part of the conservation check.
//
// Money is held in money.Amount (integer fen) everywhere. The simulator
// proves conservation with CheckConservation: for every master, the master's
// cash and credit balances, its coupons, the balances of all its sub-accounts
// (cash, credit, sub-coupons) and the consumed total always add up to the
// seeded total plus what the admin API added, less what paid orders took
// (Totals.OrdersPaid); CheckLedger reports an order paid twice.
//
// Where Huawei does not document BSS (docs/bss-api.md §10–11), a Behaviour
// chooses what the simulator does: whether a trans_id refused with a
// terminal code is burned, how long (in simulated time) trans_ids are
// remembered, what the master's income/expense records show of its
// transfers and reclaims, and whether a sub-account's own top-ups are
// reclaimable. The zero value is the simulator's long-standing behaviour;
// Options.Behaviour, SetBehaviour and /_sim/behaviour choose another.
//
// Faults (latency, errors before commit, responses lost after commit,
// throttling storms) are drawn from a random generator seeded with
// Options.Seed, so a run is reproducible for the same sequence of requests.
//
// An unsigned admin API under /_sim/ (loopback clients only) exposes the
// state, the fault configuration, the behaviour, simulated time, and
// helpers to add funds, sub-accounts, orders, coupons, org units and
// resource packages, to set bonus, deposit and debt balances
// (/_sim/balances) and to configure the Cost Center (/_sim/cost-center).
// /_sim/check runs CheckConservation, CheckLedger and CheckCosts.
//
// Response bodies follow the models of the official Go SDK
// (huaweicloud-sdk-go-v3 v0.1.207, services/bss/v2); hack/sdk-conformance
// checks them with the SDK itself.
package bsssim

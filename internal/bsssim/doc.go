// Package bsssim is an in-memory simulator of the Huawei Cloud BSS
// (Billing Center) API v2 subset that the budget operator uses: the
// enterprise multi-account operations (sub-accounts, organizations, SMS
// codes, cash and credit transfer and reclaim, coupon transfer and reclaim),
// customer orders (listing, details, and paying or cancelling pending
// orders with their coupons and discounts), the monthly-sum bill, account
// balances and account change records.
//
// The simulator verifies SDK-HMAC-SHA256 signatures against the access keys
// of the master accounts (and of sub-accounts that have keys) in its State,
// validates parameters with the documented error codes, de-duplicates money
// operations by trans_id, throttles each API per account with a token bucket
// (APIG.0308), and models consumption: every sub-account spends money at a
// configurable rate in simulated time, which produces monthly-sum bill
// records and account change records.
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
// helpers to add funds, sub-accounts, orders, coupons and org units.
//
// Response bodies follow the models of the official Go SDK
// (huaweicloud-sdk-go-v3 v0.1.207, services/bss/v2); hack/sdk-conformance
// checks them with the SDK itself.
package bsssim

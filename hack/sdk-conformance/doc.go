// Package sdkconformance checks the BSS simulator (internal/bsssim, served
// by cmd/bss-simulator) against the official Huawei Cloud Go SDK,
// github.com/huaweicloud/huaweicloud-sdk-go-v3 v0.1.207 (services/bss/v2),
// the version the request vectors in testdata/bss-sdk-requests.json were
// recorded with.
//
// It is a separate module so that the SDK (a 48 MB download covering every
// Huawei Cloud service) never enters the operator's module graph. Its tests
// build the simulator binary from the repository root, start it on a
// loopback port, seed it through the /_sim/ admin API and call every
// operation that internal/bss implements through the SDK's own client and
// AK/SK signer. Every response must decode into the SDK's model, match the
// model's JSON types field by field, and fill the fields the simulator
// claims to fill; every operation also has error cases that must decode into
// *sdkerr.ServiceResponseError with the expected error code. A Client method
// of internal/bss that reaches a BSS operation this suite does not call makes
// it fail. See README.md.
package sdkconformance

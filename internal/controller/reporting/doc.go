// Package reporting holds the scenario tests of what the operator reports
// about money without moving it: amortized costs, the forecast against the
// monthly budget, the master's own account (balances, resource packages)
// and money moved outside the operator. They run a real kube-apiserver and
// etcd (envtest), the BSS simulator in-process on loopback with simulated
// time, and the EnterpriseAccount and SubAccount controllers on a fake
// clock that moves with it, so that a test can live through a bill cycle.
// The tests are in the _test.go files of this package.
package reporting

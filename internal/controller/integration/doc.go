// Package integration holds the controllers' scenario tests: a real
// kube-apiserver and etcd (envtest), the BSS simulator in-process on
// loopback, and the manager with every controller. The tests are in the
// _test.go files of this package.
package integration

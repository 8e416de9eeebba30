// Package framework runs the operator the way a user does, as real
// processes on loopback: etcd and kube-apiserver (from the envtest binaries
// that hack/envtest-bins.sh builds), bss-simulator and the manager binary.
// The end-to-end tests in test/e2e and the demo (cmd/demo) are built on it.
//
// Every process gets its own process group, so that it and its children can
// be signalled at once, and (on Linux) dies with the process that started it,
// so that a test binary killed by a timeout leaves nothing running.
package framework

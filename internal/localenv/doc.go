// Package localenv runs the operator on this machine the way a user does,
// as real processes on loopback: etcd and kube-apiserver (from the envtest
// binaries that hack/envtest-bins.sh builds), bss-simulator and the manager
// binary, with the objects they need. The demo (cmd/demo), the end-to-end
// tests (test/e2e) and the benchmark (test/bench) are built on it; the
// manager itself never imports it.
//
// Every process gets its own process group, so that it and its children can
// be signalled at once, and (on Linux) dies with the process that started it,
// so that a test binary killed by a timeout leaves nothing running.
package localenv

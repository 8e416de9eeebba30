// Package e2e holds the end-to-end and chaos tests (build tag e2e, run by
// `make test-e2e`). They start etcd, kube-apiserver, bss-simulator and the
// built manager binary as real processes on loopback and drive them only
// through the Kubernetes API (controller-runtime's client), the simulator's
// /_sim/ admin API and the manager's metrics endpoint.
//
// Environment: KUBEBUILDER_ASSETS (the envtest binaries; `make test-e2e`
// sets it), E2E_BIN_DIR (the directory holding manager and bss-simulator;
// without it the tests build them), E2E_CHAOS_SEED (replays a chaos run) and
// E2E_KEEP_LOGS=1 (keeps the processes' logs of passing tests too).
package e2e

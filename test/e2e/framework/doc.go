// Package framework holds what only the end-to-end tests and the benchmark
// need on top of internal/localenv, which starts the processes: the check
// that the allocations a test declared have settled.
package framework

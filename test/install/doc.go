// Package install tests the operator's installation: it renders config/
// with kustomize and charts/bss-budget-operator with Helm, both as Go
// libraries, checks the hardening and least-privilege properties of the
// result, and applies every object to a real kube-apiserver (envtest) with
// server-side dry-run. It also keeps the chart's copies of generated files
// and the Dockerfile's build command in step with their sources.
package install

# bss-budget-operator

# Tool versions are pinned; tools are built with `go install` into bin/.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
ENVTEST_K8S_VERSION ?= 1.37.2

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint
IMG ?= bss-budget-operator:dev

export ENVTEST_K8S_VERSION

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRDs and RBAC role into config/ and copy them, with the transfer and payment status policies and the alerts, into the Helm chart.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/...;./internal/controller/..." output:crd:artifacts:config=config/crd/bases
	rm -f charts/bss-budget-operator/crds/*.yaml && cp config/crd/bases/*.yaml charts/bss-budget-operator/crds/ && cp config/rbac/role.yaml charts/bss-budget-operator/files/manager-role.yaml && cp config/admission/transfer_status_policy.yaml charts/bss-budget-operator/files/transfer-status-policy.yaml && cp config/admission/payment_status_policy.yaml charts/bss-budget-operator/files/payment-status-policy.yaml && cp config/prometheus/prometheusrule.yaml charts/bss-budget-operator/files/prometheusrule.yaml

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: api-docs
api-docs: manifests ## Generate docs/api-reference.md from the CRDs.
	go run ./hack/api-docs -crds config/crd/bases -out docs/api-reference.md

.PHONY: verify
verify: manifests generate api-docs ## Fail if generated files are stale (manifests, generate and api-docs leave a git diff).
	@if [ -n "$$(git status --porcelain -- api config charts)" ]; then \
		echo "generated files are stale; run 'make manifests generate' and commit:"; \
		git status --porcelain -- api config charts; git --no-pager diff -- api config charts | head -50; exit 1; fi
	@if [ -n "$$(git status --porcelain -- docs)" ]; then \
		echo "docs/api-reference.md is stale; run 'make api-docs' and commit:"; \
		git status --porcelain -- docs; git --no-pager diff -- docs | head -50; exit 1; fi

.PHONY: envtest
envtest: ## Build (once) kube-apiserver, etcd and kubectl for envtest from pinned Go modules; prints the assets path.
	@hack/envtest-bins.sh

.PHONY: test
test: manifests generate vet ## Run unit and envtest tests with -race, then the SDK conformance suite (test-sdk), the bench smoke run (bench-smoke) and the end-to-end tests (test-e2e).
	KUBEBUILDER_ASSETS="$$(hack/envtest-bins.sh)" go test -race -count=1 ./... $(TEST_ARGS)
	$(MAKE) test-sdk
	$(MAKE) bench-smoke
	$(MAKE) test-e2e

# hack/sdk-conformance is its own module, so that the official SDK never
# enters the operator's module graph; `go test ./...` above does not reach it.
.PHONY: test-sdk
test-sdk: ## Vet and run hack/sdk-conformance: every internal/bss operation against bss-simulator through the official Huawei Cloud Go SDK (v0.1.207).
	cd hack/sdk-conformance && go vet ./... && go test -count=1 ./...

.PHONY: test-e2e
test-e2e: build ## Run the end-to-end, chaos and probe tests: etcd, kube-apiserver, bss-simulator, bin/manager and bin/bss-probe as real processes.
	KUBEBUILDER_ASSETS="$$(hack/envtest-bins.sh)" E2E_BIN_DIR=$(LOCALBIN) go test -tags e2e -count=1 -timeout 12m -v ./test/e2e/... $(E2E_ARGS)

.PHONY: bench
bench: build ## Benchmark convergence and cost: 1000 allocations over 200 sub-accounts at BSS's rate limit; PASS/FAIL per target (BENCH_ARGS="-allocations=5000 -pprof -keep").
	go build -o $(LOCALBIN)/bench ./test/bench
	KUBEBUILDER_ASSETS="$$(hack/envtest-bins.sh)" $(LOCALBIN)/bench -bin=$(LOCALBIN) $(BENCH_ARGS)

# The smoke run: 80 amounts converged and all raised (so that each phase
# lasts 8s of writes, long enough that one round of SubAccount syncs cannot
# tip its per-allocation figures), then 20 top-ups that poll 4 times each
# in the steady window; the peak RSS target scaled to its size.
BENCH_SMOKE_FLAGS ?= -allocations=100 -subaccounts=20 -topups=20 -raise-percent=100 -balance-sync-interval=15s -steady=1m -max-rss-mib=100 -history-transfers=10 -max-history-rss-mib=100

.PHONY: bench-smoke
bench-smoke: build ## The benchmark's targets on a small run, about 2 minutes: 100 allocations (20 of them top-ups) over 20 sub-accounts and a history of 10 settled transfers each; fails on a miss (make test runs it).
	go build -o $(LOCALBIN)/bench ./test/bench
	KUBEBUILDER_ASSETS="$$(hack/envtest-bins.sh)" $(LOCALBIN)/bench -bin=$(LOCALBIN) $(BENCH_SMOKE_FLAGS) $(BENCH_ARGS)

.PHONY: demo
demo: build ## Run the operator against bss-simulator on a local control plane, check three kubectl budget plan previews against what it does, print a summary, keep running until Ctrl-C (DEMO_ONCE=1: exit after the summary).
	go build -o $(LOCALBIN)/budget-demo ./cmd/demo
	KUBEBUILDER_ASSETS="$$(hack/envtest-bins.sh)" $(LOCALBIN)/budget-demo --dir=$(LOCALBIN)/demo --bin-dir=$(LOCALBIN)

##@ Build

.PHONY: build
build: build-image-binary ## Build the manager, the simulator, kubectl-budget and bss-probe into bin/ (and the manager as the image does).
	go build -o $(LOCALBIN)/manager ./cmd/manager
	go build -o $(LOCALBIN)/bss-simulator ./cmd/bss-simulator
	go build -o $(LOCALBIN)/kubectl-budget ./cmd/kubectl-budget
	go build -o $(LOCALBIN)/bss-probe ./cmd/bss-probe

.PHONY: run
run: manifests generate ## Run the manager against the current kubeconfig's cluster (OPERATOR_NAMESPACE, default bss-budget-system).
	go run ./cmd/manager --operator-namespace=$${OPERATOR_NAMESPACE:-bss-budget-system}

.PHONY: docker-build
docker-build: ## Build the container image (IMG, default bss-budget-operator:dev; needs a Docker engine).
	docker build -t $(IMG) .

# Keep this command line identical to the Dockerfile's `go build` (test/install checks it).
.PHONY: build-image-binary
build-image-binary: ## Build the manager with the Dockerfile's flags (static, -trimpath) into bin/manager-image.
	CGO_ENABLED=0 GOOS=$${TARGETOS:-linux} GOARCH=$${TARGETARCH:-amd64} go build -trimpath -ldflags="-s -w" -o $(LOCALBIN)/manager-image ./cmd/manager
	@info="$$(go version -m $(LOCALBIN)/manager-image)"; grep -q 'CGO_ENABLED=0' <<<"$$info" && grep -q -- '-trimpath=true' <<<"$$info" \
		|| { echo "bin/manager-image is not a static -trimpath build"; exit 1; }

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen into bin/.
$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Install golangci-lint into bin/.
$(GOLANGCI_LINT):
	GOBIN=$(LOCALBIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

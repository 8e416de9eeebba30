# Builds the manager image: a static binary on distroless, running as non-root.
#
# The `go build` line is also run by `make build-image-binary` (part of
# `make build`, so CI exercises it without a Docker engine); keep the two
# identical — test/install fails when they differ.
FROM --platform=$BUILDPLATFORM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /workspace
# Dependencies first, so that source changes reuse this layer.
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-amd64} go build -trimpath -ldflags="-s -w" -o manager ./cmd/manager

# distroless/static: no shell, no package manager, no libc; "nonroot" is uid
# and gid 65532. Pin it by digest in your release pipeline.
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager .
USER 65532:65532
ENTRYPOINT ["/manager"]

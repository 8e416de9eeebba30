#!/usr/bin/env bash
# Builds the binaries envtest needs (kube-apiserver, etcd, kubectl) from the
# pinned Go modules in hack/envtest-bins, and installs them where
# setup-envtest keeps its binaries. Nothing is downloaded except Go modules
# through the module proxy; a complete, current installation is reused.
#
# Prints the assets directory on stdout (everything else goes to stderr), so
# callers can do: export KUBEBUILDER_ASSETS="$(hack/envtest-bins.sh)".
#
# Environment:
#   ENVTEST_K8S_VERSION  Kubernetes version (default 1.37.2, pinned by go.mod)
#   ENVTEST_ASSETS_DIR   install directory (default: setup-envtest's layout,
#                        ~/.local/share/kubebuilder-envtest/k8s/<ver>-<os>-<arch>)
#   ENVTEST_BUILD_TIMEOUT seconds before a build is abandoned (default 2400)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mod="$here/envtest-bins"
version="${ENVTEST_K8S_VERSION:-1.37.2}"
goos="$(go env GOOS)"
goarch="$(go env GOARCH)"
data_home="${XDG_DATA_HOME:-$HOME/.local/share}"
dir="${ENVTEST_ASSETS_DIR:-$data_home/kubebuilder-envtest/k8s/$version-$goos-$goarch}"

# The stamp ties an installation to the exact module graph that built it.
stamp="$( (cat "$mod/go.mod" "$mod/go.sum" "$mod/etcd/main.go"; go version) | sha256sum | cut -d' ' -f1)"

current() {
	[[ -x "$dir/kube-apiserver" && -x "$dir/etcd" && -x "$dir/kubectl" ]] &&
		[[ -f "$dir/.bss-budget-operator-stamp" ]] &&
		[[ "$(cat "$dir/.bss-budget-operator-stamp")" == "$stamp" ]]
}

if current; then
	echo "$dir"
	exit 0
fi

echo "building envtest binaries for Kubernetes $version into $dir (takes several minutes on a cold cache)" >&2
mkdir -p "$dir"
tmp="$(mktemp -d "$dir/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

build() { # build <output> <package>
	echo "  go build $2" >&2
	(cd "$mod" && GOFLAGS=-mod=readonly CGO_ENABLED=0 timeout "${ENVTEST_BUILD_TIMEOUT:-2400}" \
		go build -trimpath -ldflags=-s -o "$tmp/$1" "$2")
}

build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build etcd ./etcd
build kubectl k8s.io/kubernetes/cmd/kubectl

for b in kube-apiserver etcd kubectl; do
	mv -f "$tmp/$b" "$dir/$b"
done
echo "$stamp" >"$dir/.bss-budget-operator-stamp"
echo "envtest binaries ready in $dir" >&2
echo "$dir"

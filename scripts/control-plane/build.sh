#!/usr/bin/env bash
# Builds kube-apiserver, kubectl, etcd and helm from the Go module proxy, once, into a
# version-keyed cache outside the repo; with --workloads also kube-controller-manager,
# kube-scheduler and kwok (fake nodes and pods: Deployments become Available without a kubelet),
# which the operator benchmark needs; with --node also what a real node runs (kubelet,
# kube-proxy, containerd 2 with its runc shim and ctr, CoreDNS for cluster DNS, the static pause
# binary), which `npm run cluster:up -- --node` and the real-node tests need. A warm cache makes
# this a no-op (seconds).
# Prints the bin directory on stdout; progress goes to stderr.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
HELM_VERSION="${HELM_VERSION:-4.3.1}"
KWOK_VERSION="${KWOK_VERSION:-0.8.0}"
CONTAINERD_VERSION="${CONTAINERD_VERSION:-2.4.2}"
COREDNS_VERSION="${COREDNS_VERSION:-1.15.0}"
# The plugins built in, in the order a query goes through them (part of the cache key).
COREDNS_PLUGINS="bind errors log health ready kubernetes cache"
source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"
BIN="$CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION"

log() { echo "[control-plane build] $*" >&2; }

WORKLOADS="" NODE=""
for arg in "$@"; do
  case "$arg" in
    --workloads) WORKLOADS=1 ;;
    --node) WORKLOADS=1 NODE=1 ;;  # a real node needs the controllers too
    *) log "unknown argument: $arg"; exit 2 ;;
  esac
done

have() { [ -x "$BIN/$1" ]; }
# kwok is versioned apart from Kubernetes; its version is recorded beside it.
have_kwok() { have kwok && [ -f "$BIN/kwok-stages.yaml" ] && [ "$(cat "$BIN/kwok.version" 2>/dev/null)" = "$KWOK_VERSION" ]; }
have_workloads() { have kube-controller-manager && have kube-scheduler && have_kwok; }
# containerd and CoreDNS are versioned apart from Kubernetes too; each version is recorded beside it.
have_versioned() { have "$1" && [ "$(cat "$BIN/$1.version" 2>/dev/null)" = "$2" ]; }
have_containerd() { have_versioned containerd "$CONTAINERD_VERSION" && have containerd-shim-runc-v2 && have ctr; }
have_node() { have kubelet && have kube-proxy && have_containerd && have_versioned coredns "$COREDNS_VERSION $COREDNS_PLUGINS" && have pause; }
if have kube-apiserver && have kubectl && have etcd && have helm && { [ -z "$WORKLOADS" ] || have_workloads; } &&
  { [ -z "$NODE" ] || have_node; }; then
  echo "$BIN"; exit 0
fi
command -v go >/dev/null || { log "go not found on PATH"; exit 1; }
mkdir -p "$BIN"
start=$(date +%s)

build_kube() {
  local w="$CACHE/build/kubernetes-$K8S_VERSION" stg="v0.${K8S_VERSION#1.}" minor
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  mkdir -p "$w" && cd "$w"
  [ -f go.mod ] || go mod init local.build/kubernetes >/dev/null 2>&1
  # Staging modules are required at v0.0.0 by k8s.io/kubernetes; map each to its published tag,
  # reading the list from the real go.mod the proxy serves (it drifts between minors).
  local mod
  mod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  for m in $(sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/src/k8s\.io/.*#\1#p' "$mod"); do
    go mod edit "-replace=$m=$m@$stg"
  done
  local cmds=(kube-apiserver kubectl)
  [ -z "$WORKLOADS" ] || cmds+=(kube-controller-manager kube-scheduler)
  [ -z "$NODE" ] || cmds+=(kubelet kube-proxy)
  go get $(printf "k8s.io/kubernetes/cmd/%s@v$K8S_VERSION " "${cmds[@]}") >&2
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  for cmd in "${cmds[@]}"; do
    have "$cmd" && continue
    log "building $cmd v$K8S_VERSION"
    go build -p 2 -trimpath -ldflags "$ld" -o "$BIN/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd" >&2
    mv "$BIN/$cmd.tmp" "$BIN/$cmd"
  done
}

build_etcd() {
  have etcd && return 0
  local w="$CACHE/build/etcd-$ETCD_VERSION"
  mkdir -p "$w" && cd "$w"
  [ -f go.mod ] || go mod init local.build/etcd >/dev/null 2>&1
  cat > main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >&2
  go mod tidy >&2
  log "building etcd v$ETCD_VERSION"
  go build -p 2 -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" . >&2
  mv "$BIN/etcd.tmp" "$BIN/etcd"
}

build_helm() {
  have helm && return 0
  local major="${HELM_VERSION%%.*}"
  log "building helm v$HELM_VERSION"
  GOBIN="$CACHE/build/helm-$HELM_VERSION" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v$major/internal/version.version=v$HELM_VERSION" \
    "helm.sh/helm/v$major/cmd/helm@v$HELM_VERSION" >&2
  cp "$CACHE/build/helm-$HELM_VERSION/helm" "$BIN/helm"
}

build_kwok() {
  have_kwok && return 0
  log "building kwok v$KWOK_VERSION"
  GOBIN="$CACHE/build/kwok-$KWOK_VERSION" go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION" >&2
  cp "$CACHE/build/kwok-$KWOK_VERSION/kwok" "$BIN/kwok.tmp"
  mv "$BIN/kwok.tmp" "$BIN/kwok"
  # kwok simulates nothing without Stages; its module ships the "fast" ones (Nodes Ready at once,
  # Pods Running and Ready once bound). Taken from the module as published, one file for --config.
  local stages="$GOMODCACHE/sigs.k8s.io/kwok@v$KWOK_VERSION/kustomize/stage"
  for f in "$stages"/node/fast/*.yaml "$stages"/pod/fast/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] && continue
    echo "---"; cat "$f"
  done > "$BIN/kwok-stages.yaml"
  echo "$KWOK_VERSION" > "$BIN/kwok.version"
}

# containerd's documented static build (its Makefile's tags); the shim needs no gRPC server.
build_containerd() {
  have_containerd && return 0
  local v="v$CONTAINERD_VERSION" gobin="$CACHE/build/containerd-$CONTAINERD_VERSION"
  local tags="urfave_cli_no_docs osusergo netgo static_build"
  local ld="-s -w -X github.com/containerd/containerd/v2/version.Version=$v"
  log "building containerd $v"
  GOBIN="$gobin" go install -trimpath -tags "$tags" -ldflags "$ld" \
    "github.com/containerd/containerd/v2/cmd/containerd@$v" "github.com/containerd/containerd/v2/cmd/ctr@$v" >&2
  GOBIN="$gobin" go install -trimpath -tags "$tags no_grpc" -ldflags "$ld" \
    "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$v" >&2
  for b in containerd-shim-runc-v2 ctr containerd; do cp "$gobin/$b" "$BIN/$b.tmp" && mv "$BIN/$b.tmp" "$BIN/$b"; done
  echo "$CONTAINERD_VERSION" > "$BIN/containerd.version"
}

# Cluster DNS (Service names such as the bridge's handoff URL): CoreDNS with only the plugins a
# test cluster's Corefile uses, and no forward plugin, so no query ever leaves the machine.
build_coredns() {
  have_versioned coredns "$COREDNS_VERSION $COREDNS_PLUGINS" && return 0
  local w="$CACHE/build/coredns-$COREDNS_VERSION" p imports="" directives=""
  mkdir -p "$w" && cd "$w"
  [ -f go.mod ] || go mod init local.build/coredns >/dev/null 2>&1
  for p in $COREDNS_PLUGINS; do
    imports+=$'\t_ "github.com/coredns/coredns/plugin/'"$p"$'"\n'
    directives+="\"$p\", "
  done
  cat > main.go <<GO
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

$imports)

// Only these plugins serve; their order is the order a query goes through them.
func init() {
	dnsserver.Directives = []string{${directives%, }}
}

func main() { coremain.Run() }
GO
  go get "github.com/coredns/coredns@v$COREDNS_VERSION" >&2
  go mod tidy >&2
  log "building coredns v$COREDNS_VERSION ($COREDNS_PLUGINS)"
  go build -p 2 -trimpath -ldflags "-s -w" -o "$BIN/coredns.tmp" . >&2
  mv "$BIN/coredns.tmp" "$BIN/coredns"
  echo "$COREDNS_VERSION $COREDNS_PLUGINS" > "$BIN/coredns.version"
}

# The sandbox ("pause") container's binary, from the Kubernetes module's own source; scripts pack
# it into the image containerd is configured with.
build_pause() {
  have pause && return 0
  command -v gcc >/dev/null || { log "gcc not found on PATH (needed for the pause binary)"; exit 1; }
  local src
  src=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  log "building pause from k8s.io/kubernetes@v$K8S_VERSION"
  gcc -Os -static -Wall -Werror -DVERSION="v$K8S_VERSION" -o "$BIN/pause.tmp" "$src/build/pause/linux/pause.c" >&2
  strip "$BIN/pause.tmp"
  mv "$BIN/pause.tmp" "$BIN/pause"
}

if ! have kube-apiserver || ! have kubectl || { [ -n "$WORKLOADS" ] && ! { have kube-controller-manager && have kube-scheduler; }; } ||
  { [ -n "$NODE" ] && ! { have kubelet && have kube-proxy; }; }; then
  (build_kube)
fi
(build_etcd)
(build_helm)
[ -z "$WORKLOADS" ] || (build_kwok)
if [ -n "$NODE" ]; then
  (build_containerd)
  (build_coredns)
  (build_pause)
fi
log "done in $(( $(date +%s) - start ))s"
echo "$BIN"

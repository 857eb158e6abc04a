#!/usr/bin/env bash
# Builds kube-apiserver, kubectl, etcd and helm from the Go module proxy, once, into a
# version-keyed cache outside the repo; with --workloads also kube-controller-manager,
# kube-scheduler and kwok (fake nodes and pods: Deployments become Available without a kubelet),
# which the operator benchmark needs. A warm cache makes this a no-op (seconds).
# Prints the bin directory on stdout; progress goes to stderr.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
HELM_VERSION="${HELM_VERSION:-4.3.1}"
KWOK_VERSION="${KWOK_VERSION:-0.8.0}"
CACHE="${CATCHPOINT_BRIDGE_CACHE:-$HOME/.cache/catchpoint-bridge}"
BIN="$CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
export GOPATH="${GOPATH:-$CACHE/gopath}"
export GOMODCACHE="${GOMODCACHE:-$CACHE/gomodcache}"
export GOCACHE="${GOCACHE:-$CACHE/gocache}"

log() { echo "[control-plane build] $*" >&2; }

WORKLOADS=""
[ "${1:-}" = "--workloads" ] && WORKLOADS=1

have() { [ -x "$BIN/$1" ]; }
# kwok is versioned apart from Kubernetes; its version is recorded beside it.
have_kwok() { have kwok && [ -f "$BIN/kwok-stages.yaml" ] && [ "$(cat "$BIN/kwok.version" 2>/dev/null)" = "$KWOK_VERSION" ]; }
have_workloads() { have kube-controller-manager && have kube-scheduler && have_kwok; }
if have kube-apiserver && have kubectl && have etcd && have helm && { [ -z "$WORKLOADS" ] || have_workloads; }; then
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

if ! have kube-apiserver || ! have kubectl || { [ -n "$WORKLOADS" ] && ! { have kube-controller-manager && have kube-scheduler; }; }; then
  (build_kube)
fi
(build_etcd)
(build_helm)
[ -z "$WORKLOADS" ] || (build_kwok)
log "done in $(( $(date +%s) - start ))s"
echo "$BIN"

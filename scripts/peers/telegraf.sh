#!/usr/bin/env bash
# Builds Telegraf, the peer the benchmark compares the bridge with (docs/benchmarks.md), from the
# Go module proxy, once, into a version-keyed cache outside the repo, with only the plugins the
# Catchpoint → OpenTSDB pipeline uses (Telegraf's `custom` build tag leaves out all the others).
# The Go settings and caches are scripts/control-plane/go-env.sh's, shared with the control
# plane's build. A warm cache makes this a no-op. Prints the binary's path on stdout; progress goes to stderr.
set -euo pipefail

TELEGRAF_VERSION="${TELEGRAF_VERSION:-1.37.2}"
# The plugins built in (part of the cache key).
TELEGRAF_TAGS="custom,inputs.http_listener_v2,outputs.opentsdb,parsers.json_v2,processors.starlark,processors.lookup"
# Telegraf's Makefile stamps the version without the "v" (it parses it as semver at start).
TELEGRAF_LDFLAGS="-s -w -X github.com/influxdata/telegraf/internal.Version=$TELEGRAF_VERSION"
source "$(dirname "${BASH_SOURCE[0]}")/../control-plane/go-env.sh"
BIN="$CACHE/bin/telegraf-$TELEGRAF_VERSION"
# What the cached binary was built from, recorded beside it.
STAMP="$TELEGRAF_VERSION $TELEGRAF_TAGS $TELEGRAF_LDFLAGS"

log() { echo "[telegraf build] $*" >&2; }

if [ -x "$BIN/telegraf" ] && [ "$(cat "$BIN/telegraf.version" 2>/dev/null)" = "$STAMP" ]; then
  echo "$BIN/telegraf"; exit 0
fi
command -v go >/dev/null || { log "go not found on PATH"; exit 1; }
mkdir -p "$BIN"
start=$(date +%s)
gobin="$CACHE/build/telegraf-$TELEGRAF_VERSION"
log "building telegraf v$TELEGRAF_VERSION ($TELEGRAF_TAGS)"
GOBIN="$gobin" go install -p 2 -trimpath -tags "$TELEGRAF_TAGS" \
  -ldflags "$TELEGRAF_LDFLAGS" \
  "github.com/influxdata/telegraf/cmd/telegraf@v$TELEGRAF_VERSION" >&2
cp "$gobin/telegraf" "$BIN/telegraf.tmp"
mv "$BIN/telegraf.tmp" "$BIN/telegraf"
echo "$STAMP" > "$BIN/telegraf.version"
log "done in $(( $(date +%s) - start ))s"
echo "$BIN/telegraf"

# Sourced by the scripts that build Go programs from the Go module proxy (build.sh beside it,
# peers/telegraf.sh): one cache outside the repo, static binaries, the machine's own Go, and module
# and build caches shared by every build, so a second program reuses what the first fetched.
CACHE="${CATCHPOINT_BRIDGE_CACHE:-$HOME/.cache/catchpoint-bridge}"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
export GOPATH="${GOPATH:-$CACHE/gopath}"
export GOMODCACHE="${GOMODCACHE:-$CACHE/gomodcache}"
export GOCACHE="${GOCACHE:-$CACHE/gocache}"

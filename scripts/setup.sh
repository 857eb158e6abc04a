#!/usr/bin/env bash
# Installs everything the tests and the demo need; every step is a no-op when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=()
command -v victoria-metrics >/dev/null || apt_packages+=(victoria-metrics)
command -v openssl >/dev/null || apt_packages+=(openssl)
command -v promtool >/dev/null || apt_packages+=(prometheus)   # promtool checks the alert rules
[ -x /usr/sbin/nginx ] || apt_packages+=(nginx-light)   # the TLS tests' proxy (test/harness/nginx.ts)
command -v curl >/dev/null || apt_packages+=(curl)   # the README's standalone recipe, run verbatim by a test
# mount/umount (the disk-full tests' tmpfs) and unshare (the README recipe's namespaces) come with
# util-linux and mount, which every Debian system has (Priority: required).
# A real node (scripts/control-plane/node.ts): runc, the CNI plugins, iptables for kube-proxy and
# the guard, ip for the bridge; gcc builds the static pause binary (build.sh --node).
[ -x /usr/sbin/runc ] || apt_packages+=(runc)
[ -x /usr/lib/cni/bridge ] || apt_packages+=(containernetworking-plugins)
[ -x /usr/sbin/iptables ] || apt_packages+=(iptables)
command -v conntrack >/dev/null || apt_packages+=(conntrack)
command -v ip >/dev/null || apt_packages+=(iproute2)
command -v gcc >/dev/null || apt_packages+=(gcc libc6-dev)
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "[setup] installing Debian packages: ${apt_packages[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  # The packages ship services (prometheus, victoria-metrics, nginx); tests start their own on free
  # loopback ports, so keep the package scripts from starting them.
  policy_rc=/usr/sbin/policy-rc.d
  created_policy=""
  if [ ! -e "$policy_rc" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee "$policy_rc" >/dev/null && $sudo_cmd chmod +x "$policy_rc" && created_policy=1
  fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${apt_packages[@]}"
  [ -z "$created_policy" ] || $sudo_cmd rm -f "$policy_rc"
fi

# npm ci runs on whatever Node the machine has; the `node` devDependency then puts Node 24 on
# the PATH of every npm script.
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[setup] npm ci"
  npm ci --no-audit --no-fund
fi
echo "[setup] node $(node_modules/.bin/node --version)"

echo "[setup] control plane binaries, the workload controllers the operator benchmark needs, and a real node's (built once from the Go module proxy, then cached)"
bash scripts/control-plane/build.sh --node >/dev/null

echo "[setup] Telegraf, the peer the benchmark compares the bridge with (built once from the Go module proxy, then cached)"
bash scripts/peers/telegraf.sh >/dev/null

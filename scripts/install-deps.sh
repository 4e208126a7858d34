#!/usr/bin/env bash
# Installs the Debian packages Nexus needs to build, test and run, when any is
# missing. Idempotent: a machine that has them all is left untouched.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsqlite3-dev libsodium-dev libssl-dev catch2 libbenchmark-dev
  sqlite3 curl jq wrk openssl iproute2 python3 python3-yaml
)
# The discovery tests run a real OpenID provider (tests/idp) on Node.js. A
# machine with Node.js from elsewhere (NodeSource's nodejs bundles npm and
# conflicts with Debian's npm) keeps it; only a machine without npm gets
# Debian's pair.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

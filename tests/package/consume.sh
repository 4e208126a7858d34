#!/usr/bin/env bash
# Builds examples/ as an outside project against nexus and runs the example.
#   consume.sh find_package BUILD_DIR SOURCE_DIR   (installs BUILD_DIR first)
#   consume.sh add_subdirectory BUILD_DIR SOURCE_DIR
set -euo pipefail
mode=$1 build=$2 src=$3
work=$(mktemp -d /tmp/nexus-package-XXXXXX)
trap 'rm -rf "$work"' EXIT

case "$mode" in
  find_package)
    cmake --install "$build" --prefix "$work/prefix" >/dev/null
    cmake -S "$src/examples" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
    ;;
  add_subdirectory)
    cmake -S "$src/tests/package/subdirectory" -B "$work/build" -G Ninja \
      -DNEXUS_SOURCE_DIR="$src" >/dev/null
    ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
cmake --build "$work/build" -j 2 >/dev/null
bin=$(find "$work/build" -type f -name embed_registry -perm -u+x | head -n 1)
[ -n "$bin" ] || { echo "embed_registry was not built" >&2; exit 1; }
out=$("$bin")
echo "$out"
grep -q 'registered github' <<<"$out"
grep -q 'registered stripe' <<<"$out"
grep -q '"api_key":{"stripe"' <<<"$out"
if grep -q 'your-github-client-secret' <<<"$out"; then
  echo "client_secret leaked into the example's output" >&2
  exit 1
fi

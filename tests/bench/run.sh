#!/usr/bin/env bash
# Runs every benchmark and prints the figures docs/performance.md records.
#   tests/bench/run.sh [BUILD_DIR]
# Wall-clock figures need a quiet machine: nothing else building or testing.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
# Medians of 5 one-second runs; the aggregates are what the doc records.
reps=(--benchmark_repetitions=5 --benchmark_report_aggregates_only=true --benchmark_min_time=1)

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) =="

echo "== library: registry on SQLite beside raw SQLite =="
"$build/bin/nexus_bench_registry" "${reps[@]}"

echo "== library: vault seal/open beside raw libsodium =="
"$build/bin/nexus_bench_vault" "${reps[@]}"

if [[ -x $build/bin/nexus_bench_router ]]; then
  echo "== server: the router in-process (no sockets), SQLite =="
  "$build/bin/nexus_bench_router" "${reps[@]}"
fi

for script in tests/bench/*.sh; do
  case "$script" in */run.sh) continue ;; esac
  echo "== $(basename "$script") =="
  "$script" "$build"
done

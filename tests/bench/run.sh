#!/usr/bin/env bash
# Runs every benchmark and prints the figures docs/performance.md records.
#   tests/bench/run.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}

echo "== library: registry on SQLite beside raw SQLite =="
"$build/bin/nexus_bench_registry" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true --benchmark_min_time=1

echo "== library: vault seal/open beside raw libsodium =="
"$build/bin/nexus_bench_vault" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true --benchmark_min_time=1

for script in tests/bench/*.sh; do
  case "$script" in */run.sh) continue ;; esac
  echo "== $(basename "$script") =="
  "$script" "$build"
done

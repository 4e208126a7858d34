// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// main() of the benchmarks that use SQLite: it is set up as the server sets
// it up (use_sqlite_block_cache) before any benchmark runs.
#pragma once

#include <benchmark/benchmark.h>

#include "nexus/storage.hpp"

#define NEXUS_BENCHMARK_MAIN()                                           \
  int main(int argc, char** argv) {                                      \
    nexus::use_sqlite_block_cache();                                     \
    benchmark::Initialize(&argc, argv);                                  \
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;    \
    benchmark::RunSpecifiedBenchmarks();                                 \
    benchmark::Shutdown();                                               \
    return 0;                                                            \
  }

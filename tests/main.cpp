// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "nexus/storage.hpp"

int main(int argc, char* argv[]) {
  // As the server does: every SQLite test also exercises the block cache.
  if (!nexus::use_sqlite_block_cache()) return 1;
  return Catch::Session().run(argc, argv);
}

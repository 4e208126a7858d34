// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// The small-block cache SQLite allocates from (use_sqlite_block_cache): sizes
// it promises, reuse on a thread, its bound, realloc, blocks freed on other
// threads, and that this test binary's SQLite really uses it (main installs
// it, as the server does).
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "nexus/storage.hpp"
#include "storage/sqlite/block_cache.hpp"

namespace nexus::testing {
namespace {

namespace bc = sqlite::block_cache;

TEST_CASE("sqlite block cache: every block holds what was asked, and says so",
          "[storage][sqlite][block-cache]") {
  for (int n : {1, 7, 8, 48, 49, 100, 112, 113, 1000, 2032, 2033, 4096, 100000}) {
    INFO("n = " << n);
    void* p = bc::allocate(n);
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<std::uintptr_t>(p) % 16 == 0);
    CHECK(bc::usable_size(p) >= n);
    CHECK(bc::round_up(n) >= n);
    CHECK(bc::usable_size(p) == bc::round_up(n));
    std::memset(p, 0xab, static_cast<std::size_t>(bc::usable_size(p)));  // all of it is ours
    bc::release(p);
  }
  CHECK(bc::allocate(0) == nullptr);
  CHECK(bc::usable_size(nullptr) == 0);
  bc::release(nullptr);
}

TEST_CASE("sqlite block cache: a freed block is handed out again on its thread, up to a bound",
          "[storage][sqlite][block-cache]") {
  // On a fresh thread, so that nothing else has filled its lists.
  std::thread([] {
    const std::size_t cls = 1;  // 128-byte blocks: 112 usable bytes
    void* a = bc::allocate(100);
    REQUIRE(bc::usable_size(a) == 112);
    CHECK(bc::cached_on_this_thread(cls) == 0);
    bc::release(a);
    CHECK(bc::cached_on_this_thread(cls) == 1);
    void* b = bc::allocate(60);  // same class
    CHECK(b == a);
    CHECK(bc::cached_on_this_thread(cls) == 0);
    bc::release(b);

    std::vector<void*> many;
    for (std::size_t i = 0; i < bc::kMaxCachedPerClass + 10; ++i) many.push_back(bc::allocate(100));
    for (void* p : many) bc::release(p);
    CHECK(bc::cached_on_this_thread(cls) == bc::kMaxCachedPerClass);
    // Larger than the classes: never kept.
    bc::release(bc::allocate(static_cast<int>(bc::kLargestCached) + 1));
    for (std::size_t c = 0; c < bc::kClasses; ++c) {
      if (c != cls) CHECK(bc::cached_on_this_thread(c) == 0);
    }
  }).join();
}

TEST_CASE("sqlite block cache: reallocate keeps the bytes, in place when they fit",
          "[storage][sqlite][block-cache]") {
  void* p = bc::allocate(40);
  std::memset(p, 0x5a, 40);
  CHECK(bc::reallocate(p, 48) == p);  // still within its 48 usable bytes
  void* q = bc::reallocate(p, 1500);
  REQUIRE(q != nullptr);
  CHECK(bc::usable_size(q) >= 1500);
  std::vector<unsigned char> expected(40, 0x5a);
  CHECK(std::memcmp(q, expected.data(), 40) == 0);
  void* r = bc::reallocate(q, 50000);  // to a block of its own
  REQUIRE(r != nullptr);
  CHECK(std::memcmp(r, expected.data(), 40) == 0);
  CHECK(bc::reallocate(r, 0) == nullptr);  // a no-op, as SQLite requires
  bc::release(r);
  void* s = bc::reallocate(nullptr, 10);
  CHECK(bc::usable_size(s) >= 10);
  bc::release(s);
}

TEST_CASE("sqlite block cache: blocks freed on another thread, and threads that exit",
          "[storage][sqlite][block-cache]") {
  std::vector<void*> blocks;
  for (int i = 0; i < 200; ++i) blocks.push_back(bc::allocate(16 + i * 10));
  std::thread freer([&] {
    for (void* p : blocks) bc::release(p);
    std::size_t kept = 0;
    for (std::size_t c = 0; c < bc::kClasses; ++c) kept += bc::cached_on_this_thread(c);
    CHECK(kept > 0);
    CHECK(kept <= bc::kClasses * bc::kMaxCachedPerClass);
  });
  freer.join();  // its lists go back to malloc as it exits
  // Many short-lived threads allocating and freeing: nothing is lost or
  // double-freed (the sanitizer build checks the memory itself).
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([] {
      for (int i = 0; i < 1000; ++i) bc::release(bc::allocate(1 + (i * 37) % 3000));
    });
  }
  for (auto& t : threads) t.join();
}

TEST_CASE("sqlite block cache: this process's SQLite allocates from it",
          "[storage][sqlite][block-cache]") {
  // main() installed it before any test ran; once SQLite is in use it
  // refuses another allocator, and its blocks have the cache's sizes.
  REQUIRE(sqlite3_initialize() == SQLITE_OK);
  CHECK_FALSE(use_sqlite_block_cache());
  void* p = sqlite3_malloc(100);
  REQUIRE(p != nullptr);
  CHECK(sqlite3_msize(p) == 112);  // SQLite's own allocator would say 104
  // And it does not count allocations (SQLITE_CONFIG_MEMSTATUS off).
  CHECK(sqlite3_memory_used() == 0);
  sqlite3_free(p);
}

}  // namespace
}  // namespace nexus::testing

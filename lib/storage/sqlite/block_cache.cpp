// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "storage/sqlite/block_cache.hpp"

#include <sqlite3.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "nexus/storage.hpp"

namespace nexus::sqlite::block_cache {
namespace {

constexpr std::uint32_t kUncached = std::numeric_limits<std::uint32_t>::max();

// In front of every block handed to SQLite.
struct Header {
  std::uint64_t usable;  // bytes after the header
  std::uint32_t size_class;  // kUncached for blocks larger than the classes
  std::uint32_t unused;
};
static_assert(sizeof(Header) == kHeader);

struct FreeBlock {
  FreeBlock* next;
};

constexpr std::size_t class_total(std::size_t c) { return std::size_t{64} << c; }

// The smallest class whose blocks hold `n` bytes after the header, or
// kUncached.
std::uint32_t class_for(std::size_t n) {
  for (std::uint32_t c = 0; c < kClasses; ++c) {
    if (n + kHeader <= class_total(c)) return c;
  }
  return kUncached;
}

// Trivially destructible, so it stays usable while the thread's other
// thread_local objects are destroyed (SQLite may free then).
struct Lists {
  FreeBlock* head[kClasses];
  std::uint32_t count[kClasses];
  bool armed;  // the Drain below is registered for this thread
  bool gone;   // this thread is exiting: blocks go back to malloc
};
constinit thread_local Lists lists{};

void drain(Lists& l) {
  for (std::size_t c = 0; c < kClasses; ++c) {
    while (l.head[c] != nullptr) {
      FreeBlock* b = l.head[c];
      l.head[c] = b->next;
      std::free(b);
    }
    l.count[c] = 0;
  }
}

struct Drain {
  ~Drain() {
    drain(lists);
    lists.gone = true;
  }
};
thread_local Drain drain_at_exit;

Header* header_of(void* p) { return reinterpret_cast<Header*>(static_cast<char*>(p) - kHeader); }

void* payload_of(void* block) { return static_cast<char*>(block) + kHeader; }

}  // namespace

void* allocate(int n) noexcept {
  if (n <= 0) return nullptr;
  const auto size = (static_cast<std::size_t>(n) + 7) & ~std::size_t{7};  // as round_up
  const std::uint32_t c = class_for(size);
  void* block = nullptr;
  if (c != kUncached && lists.head[c] != nullptr) {
    FreeBlock* b = lists.head[c];
    lists.head[c] = b->next;
    --lists.count[c];
    block = b;
  } else {
    block = std::malloc(c != kUncached ? class_total(c) : size + kHeader);
    if (block == nullptr) return nullptr;
  }
  auto* h = static_cast<Header*>(block);
  h->usable = c != kUncached ? class_total(c) - kHeader : size;
  h->size_class = c;
  h->unused = 0;
  return payload_of(block);
}

void release(void* p) noexcept {
  if (p == nullptr) return;
  Header* h = header_of(p);
  const std::uint32_t c = h->size_class;
  if (c == kUncached || lists.gone || lists.count[c] >= kMaxCachedPerClass) {
    std::free(h);
    return;
  }
  if (!lists.armed) {
    // Registers drain_at_exit's destructor for this thread.
    static_cast<void>(&drain_at_exit);
    lists.armed = true;
  }
  auto* b = reinterpret_cast<FreeBlock*>(h);
  b->next = lists.head[c];
  lists.head[c] = b;
  ++lists.count[c];
}

void* reallocate(void* p, int n) noexcept {
  if (p == nullptr) return allocate(n);
  if (n <= 0) return nullptr;
  const std::uint64_t usable = header_of(p)->usable;
  if (static_cast<std::uint64_t>(n) <= usable) return p;
  void* q = allocate(n);
  if (q == nullptr) return nullptr;  // p stays valid, as realloc's does
  std::memcpy(q, p, static_cast<std::size_t>(usable));
  release(p);
  return q;
}

int usable_size(void* p) noexcept {
  return p == nullptr ? 0 : static_cast<int>(header_of(p)->usable);
}

int round_up(int n) noexcept {
  if (n <= 0) return n;
  const std::uint32_t c = class_for(static_cast<std::size_t>(n));
  if (c != kUncached) return static_cast<int>(class_total(c) - kHeader);
  return (n + 7) & ~7;
}

std::size_t cached_on_this_thread(std::size_t size_class) noexcept {
  return size_class < kClasses ? lists.count[size_class] : 0;
}

bool install() noexcept {
  static const sqlite3_mem_methods kMethods = {
      .xMalloc = allocate,
      .xFree = release,
      .xRealloc = reallocate,
      .xSize = usable_size,
      .xRoundup = round_up,
      .xInit = [](void*) { return SQLITE_OK; },
      .xShutdown = [](void*) {},
      .pAppData = nullptr,
  };
  if (sqlite3_config(SQLITE_CONFIG_MALLOC, &kMethods) != SQLITE_OK) return false;
  // Without this SQLite counts every allocation under one process-wide mutex
  // (for sqlite3_memory_used, which nothing here reads).
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  return true;
}

}  // namespace nexus::sqlite::block_cache

namespace nexus {

bool use_sqlite_block_cache() noexcept { return sqlite::block_cache::install(); }

}  // namespace nexus

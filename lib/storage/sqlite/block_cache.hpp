// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Private: a small-block cache for SQLite's allocations.
//
// SQLite serves its many small, short-lived allocations (a statement's column
// buffers, the record an INSERT builds) from per-connection "lookaside"
// memory. Debian builds SQLite with SQLITE_OMIT_LOOKASIDE, so each of them
// goes to malloc: a token read made about a hundred malloc/free pairs inside
// SQLite, on the writer thread, where the glibc arenas it shares with the I/O
// threads made some of them wait on a lock.
//
// The cache keeps freed blocks of six size classes (64 bytes to 2 KiB, with
// a 16-byte header) on a per-thread list, at most kMaxCachedPerClass each, and
// hands them out again; larger blocks go straight to malloc. A block may be
// freed on any thread (it joins that thread's list); a thread's lists are
// returned to malloc when it exits.
#pragma once

#include <cstddef>

namespace nexus::sqlite::block_cache {

inline constexpr std::size_t kHeader = 16;  // keeps malloc's 16-byte alignment
inline constexpr std::size_t kClasses = 6;  // totals of 64, 128, ..., 2048 bytes
inline constexpr std::size_t kMaxCachedPerClass = 32;
inline constexpr std::size_t kLargestCached = (std::size_t{64} << (kClasses - 1)) - kHeader;

// The sqlite3_mem_methods, callable directly for tests. allocate(n) for n > 0
// returns at least n usable bytes (usable_size) or nullptr when out of memory.
void* allocate(int n) noexcept;
void release(void* p) noexcept;  // p from allocate or reallocate; null is ignored
void* reallocate(void* p, int n) noexcept;
int usable_size(void* p) noexcept;
int round_up(int n) noexcept;

// Blocks on the calling thread's lists, per class (tests).
std::size_t cached_on_this_thread(std::size_t size_class) noexcept;

// Installs the cache as SQLite's allocator (SQLITE_CONFIG_MALLOC) and turns
// off SQLite's memory statistics (SQLITE_CONFIG_MEMSTATUS), which count every
// allocation under one process-wide mutex. SQLite accepts that only before
// it is first used in the process: false then.
bool install() noexcept;

}  // namespace nexus::sqlite::block_cache

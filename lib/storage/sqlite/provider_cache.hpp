// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Private: decoded provider rows kept in memory by the SQLite backend, so that
// a point read costs a copy instead of a query and the decoding of its JSON
// columns. The cache never decides freshness itself: SqliteStorage clears it
// whenever a reader connection sees that the database changed (PRAGMA
// data_version, which counts every commit of any other connection, this
// process's writer included) before it serves a cached row, and a row read
// before a clear is never inserted after it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "nexus/provider.hpp"

namespace nexus::sqlite {

class ProviderCache {
 public:
  // Holds at most `capacity` providers; 0 disables the cache.
  explicit ProviderCache(std::size_t capacity) : capacity_(capacity) {}
  ProviderCache(const ProviderCache&) = delete;
  ProviderCache& operator=(const ProviderCache&) = delete;

  bool enabled() const noexcept { return capacity_ > 0; }

  // Changes with every clear(). Read it before reading a row from the
  // database, and hand it to insert(): a row read across a clear is dropped.
  std::uint64_t generation() const;

  // The cached provider, or null.
  std::shared_ptr<const Provider> by_name(std::string_view workspace, std::string_view name) const;
  std::shared_ptr<const Provider> by_id(std::string_view workspace, std::string_view id) const;

  // Caches `provider` unless the cache was cleared since `generation`; a full
  // cache drops some other entry to make room.
  void insert(std::uint64_t generation, const Provider& provider);

  // Forgets every provider.
  void clear();

  std::size_t size() const;

 private:
  static std::string key(std::string_view workspace, std::string_view name_or_id);

  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::uint64_t generation_ = 0;  // GUARDED_BY(mu_)
  // The same entries under two keys: (workspace, name) and (workspace, id).
  std::unordered_map<std::string, std::shared_ptr<const Provider>> by_name_;  // GUARDED_BY(mu_)
  std::unordered_map<std::string, std::shared_ptr<const Provider>> by_id_;    // GUARDED_BY(mu_)
};

}  // namespace nexus::sqlite

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// The SQLite backend's provider cache is exact: a read never returns a row
// older than a write acknowledged to anyone, in this process (through this
// storage or another connection) or in another process.
#include <atomic>
#include <catch2/catch.hpp>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nexus/audit.hpp"
#include "nexus/storage.hpp"
#include "storage/conformance.hpp"
#include "storage/raw_sqlite.hpp"
#include "storage/sqlite/sqlite_storage.hpp"

namespace nexus::testing {
namespace {

std::unique_ptr<Storage> open_ok(const std::string& path, const SqliteOptions& options = {}) {
  auto storage = open_sqlite_storage(path, options);
  INFO(storage.status().message());
  REQUIRE(storage.ok());
  return std::move(storage).value();
}

std::size_t cached(Storage& storage) {
  auto n = sqlite::cached_providers(storage);
  REQUIRE(n.ok());
  return *n;
}

void insert(Storage& storage, const Provider& p) {
  REQUIRE(storage.insert_provider(p, event_for(audit_events::kProviderCreated, p)).ok());
}

void update(Storage& storage, const Provider& p) {
  REQUIRE(
      storage.update_provider(p, p.version - 1, event_for(audit_events::kProviderUpdated, p)).ok());
}

TEST_CASE("sqlite provider cache: reads follow this storage's own writes",
          "[storage][sqlite][cache]") {
  TempDir dir;
  auto storage = open_ok(dir.file("nexus.db"));
  Provider github = full_provider("ws", "github");
  github.spec.client_secret.reset();
  github.sealed_client_secret = std::string("\x01sealed-envelope", 16);
  insert(*storage, github);

  // Read twice: the second read is served from the cache.
  CHECK(storage->get_provider("ws", "github").value() == github);
  CHECK(cached(*storage) == 1);
  CHECK(storage->get_provider("ws", "github").value() == github);
  CHECK(storage->get_provider_by_id("ws", github.id).value() == github);

  SECTION("update") {
    Provider v2 = next_version(github);
    v2.spec.description = "second version";
    update(*storage, v2);
    CHECK(storage->get_provider("ws", "github").value() == v2);
    CHECK(storage->get_provider_by_id("ws", github.id).value() == v2);
  }
  SECTION("delete, then a new provider under the same name") {
    REQUIRE(storage
                ->delete_provider("ws", "github", github.version,
                                  event_for(audit_events::kProviderDeleted, github))
                .ok());
    CHECK(storage->get_provider("ws", "github").status().code() == ErrorCode::kProviderNotFound);
    CHECK(storage->get_provider_by_id("ws", github.id).status().code() ==
          ErrorCode::kProviderNotFound);
    Provider again = minimal_provider("ws", "github");
    insert(*storage, again);
    CHECK(storage->get_provider("ws", "github").value() == again);
    CHECK(storage->get_provider_by_id("ws", github.id).status().code() ==
          ErrorCode::kProviderNotFound);
  }
  SECTION("a write that touches no provider") {
    REQUIRE(storage->append_audit(event_for("test.noted", github)).ok());
    CHECK(storage->get_provider("ws", "github").value() == github);
  }
}

TEST_CASE("sqlite provider cache: another connection's commit is seen on the next read",
          "[storage][sqlite][cache]") {
  TempDir dir;
  const std::string path = dir.file("nexus.db");
  auto storage = open_ok(path);
  Provider github = minimal_provider("ws", "github");
  insert(*storage, github);
  REQUIRE(storage->get_provider("ws", "github").ok());
  REQUIRE(storage->get_provider("ws", "github").ok());  // cached now
  REQUIRE(cached(*storage) == 1);

  SECTION("a raw SQLite connection, as another process would write") {
    RawSqlite other(path);
    other.exec("UPDATE providers SET description = 'changed elsewhere', version = 2");
    auto read = storage->get_provider("ws", "github");
    REQUIRE(read.ok());
    CHECK(read->spec.description == "changed elsewhere");
    CHECK(read->version == 2);
    other.exec("DELETE FROM providers");
    CHECK(storage->get_provider_by_id("ws", github.id).status().code() ==
          ErrorCode::kProviderNotFound);
  }
  SECTION("a second storage on the same file") {
    auto second = open_ok(path);
    Provider v2 = next_version(github);
    v2.spec.category = "moved";
    update(*second, v2);
    CHECK(storage->get_provider("ws", "github").value() == v2);
    CHECK(storage->get_provider_by_id("ws", github.id).value() == v2);
  }
}

// One thread keeps updating a provider; after each update returns, readers
// must never see an older version than the last acknowledged one.
TEST_CASE("sqlite provider cache: concurrent readers never see a version older than acknowledged",
          "[storage][sqlite][cache][concurrency]") {
  TempDir dir;
  const std::string path = dir.file("nexus.db");
  SqliteOptions options;
  options.read_connections = 4;
  auto storage = open_ok(path, options);
  auto other_process = open_ok(path);  // its writes reach `storage` only through the file
  Provider counter = minimal_provider("ws", "counter");
  insert(*storage, counter);
  constexpr int kUpdates = 60;
  constexpr int kReaders = 4;

  std::atomic<std::int64_t> acknowledged{1};
  std::atomic<bool> writing{true};
  std::mutex failures_mu;
  std::vector<std::string> failures;  // GUARDED_BY(failures_mu); checked after join
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      while (writing.load()) {
        const std::int64_t floor = acknowledged.load();
        auto read = r % 2 == 0 ? storage->get_provider("ws", "counter")
                               : storage->get_provider_by_id("ws", counter.id);
        if (!read.ok() || read->version < floor) {
          std::lock_guard lock(failures_mu);
          failures.push_back("read version " + (read.ok() ? std::to_string(read->version) : "-") +
                             " after " + std::to_string(floor) + " was acknowledged");
        }
      }
    });
  }
  Provider current = counter;
  for (int i = 0; i < kUpdates; ++i) {
    current = next_version(current);
    // Alternate: this storage's writer, and another connection's.
    Storage& writer = i % 2 == 0 ? *storage : *other_process;
    Status s = writer.update_provider(current, current.version - 1,
                                      event_for(audit_events::kProviderUpdated, current));
    REQUIRE(s.ok());
    acknowledged.store(current.version);
  }
  writing.store(false);
  for (auto& t : readers) t.join();
  CHECK(failures == std::vector<std::string>{});
  CHECK(storage->get_provider("ws", "counter").value().version == 1 + kUpdates);
}

TEST_CASE("sqlite provider cache: bounded, and off with 0 entries", "[storage][sqlite][cache]") {
  TempDir dir;
  SqliteOptions options;
  SECTION("bounded") {
    options.provider_cache_entries = 2;
    auto storage = open_ok(dir.file("nexus.db"), options);
    for (const char* name : {"a", "b", "c"}) insert(*storage, minimal_provider("ws", name));
    for (const char* name : {"a", "b", "c", "a", "b", "c"}) {
      CHECK(storage->get_provider("ws", name).value().spec.name == name);
    }
    CHECK(cached(*storage) == 2);
  }
  SECTION("a secret still in clear is not kept") {
    auto storage = open_ok(dir.file("nexus.db"), options);
    Provider legacy = full_provider("ws", "legacy");
    REQUIRE(legacy.spec.client_secret.has_value());
    insert(*storage, legacy);
    CHECK(storage->get_provider("ws", "legacy").value() == legacy);
    CHECK(cached(*storage) == 0);
  }
  SECTION("off") {
    options.provider_cache_entries = 0;
    auto storage = open_ok(dir.file("nexus.db"), options);
    insert(*storage, minimal_provider("ws", "a"));
    CHECK(storage->get_provider("ws", "a").ok());
    CHECK(cached(*storage) == 0);
  }
}

}  // namespace
}  // namespace nexus::testing

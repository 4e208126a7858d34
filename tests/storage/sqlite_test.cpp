// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// What only the SQLite backend promises: durability settings, migrations,
// reopening, errors on open, and the busy timeout against another connection.
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "nexus/audit.hpp"
#include "nexus/clock.hpp"
#include "nexus/storage.hpp"
#include "storage/conformance.hpp"
#include "storage/raw_sqlite.hpp"
#include "storage/sqlite/migrations.hpp"
#include "storage/sqlite/sqlite_storage.hpp"

namespace nexus::testing {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<Storage> open_ok(const std::string& path, const SqliteOptions& options = {}) {
  auto storage = open_sqlite_storage(path, options);
  INFO(storage.status().message());
  REQUIRE(storage.ok());
  return std::move(storage).value();
}

void insert(Storage& storage, const Provider& p) {
  REQUIRE(storage.insert_provider(p, event_for(audit_events::kProviderCreated, p)).ok());
}

TEST_CASE("sqlite: every connection runs with WAL, synchronous=FULL and foreign keys",
          "[storage][sqlite]") {
  TempDir dir;
  SqliteOptions options;
  options.read_connections = 3;
  options.busy_timeout_ms = 1234;
  auto storage = open_ok(dir.file("nexus.db"), options);
  using Values = std::vector<std::string>;
  constexpr std::size_t kConnections = 4;  // the writer and three readers

  auto pragma = [&](std::string_view name) {
    auto values = sqlite::pragma_on_every_connection(*storage, name);
    REQUIRE(values.ok());
    REQUIRE(values->size() == kConnections);
    return std::move(values).value();
  };
  CHECK(pragma("journal_mode") == Values(kConnections, "wal"));
  CHECK(pragma("synchronous") == Values(kConnections, "2"));  // 2 = FULL
  CHECK(pragma("foreign_keys") == Values(kConnections, "1"));
  CHECK(pragma("busy_timeout") == Values(kConnections, "1234"));
  CHECK(pragma("query_only") == Values{"0", "1", "1", "1"});  // only the writer writes

  // WAL is a property of the file: a fresh connection sees it too.
  RawSqlite raw(dir.file("nexus.db"));
  CHECK(raw.text("PRAGMA journal_mode") == "wal");

  CHECK(
      sqlite::pragma_on_every_connection(*storage, "journal_mode; DROP TABLE x").status().code() ==
      ErrorCode::kValidationFailed);
  auto memory = make_memory_storage();
  CHECK(sqlite::pragma_on_every_connection(*memory, "journal_mode").status().code() ==
        ErrorCode::kInternal);
}

TEST_CASE("sqlite: migrations are recorded and applied once", "[storage][sqlite]") {
  TempDir dir;
  const std::string path = dir.file("nexus.db");
  const Provider github = full_provider("ws", "github");
  {
    auto storage = open_ok(path);
    insert(*storage, github);
  }
  std::string applied_at;
  {
    RawSqlite raw(path);
    CHECK(raw.integer("SELECT COUNT(*) FROM schema_migrations") ==
          sqlite::kLatestSchemaVersion);
    CHECK(raw.integer("SELECT version FROM schema_migrations") == 1);
    CHECK_FALSE(raw.text("SELECT name FROM schema_migrations WHERE version = 1").empty());
    applied_at = raw.text("SELECT applied_at FROM schema_migrations WHERE version = 1");
    CHECK(parse_rfc3339(applied_at).has_value());
    // The schema is columns, not one blob.
    CHECK(raw.text("SELECT auth_type FROM providers") == "api_key");
    CHECK(raw.text("SELECT category FROM providers") == "payments");
    CHECK(raw.integer("SELECT COUNT(*) FROM audit_heads") == 1);
  }

  // Reopening applies nothing again and finds the data, chain included.
  auto storage = open_ok(path);
  {
    RawSqlite raw(path);
    CHECK(raw.integer("SELECT COUNT(*) FROM schema_migrations") ==
          sqlite::kLatestSchemaVersion);
    CHECK(raw.text("SELECT applied_at FROM schema_migrations WHERE version = 1") == applied_at);
  }
  CHECK(storage->get_provider("ws", "github").value() == github);
  Provider v2 = next_version(github);
  REQUIRE(storage->update_provider(v2, 1, event_for(audit_events::kProviderUpdated, v2)).ok());
  auto report = AuditLog(*storage).verify("ws");
  REQUIRE(report.ok());
  CHECK(report->ok);
  CHECK(report->events_checked == 2);
}

TEST_CASE("sqlite: a database from a newer version is refused", "[storage][sqlite]") {
  TempDir dir;
  const std::string path = dir.file("nexus.db");
  { open_ok(path); }
  {
    RawSqlite raw(path);
    raw.exec(
        "INSERT INTO schema_migrations (version, name, applied_at) "
        "VALUES (999, 'from the future', '2030-01-01T00:00:00.000Z')");
  }
  auto storage = open_sqlite_storage(path);
  REQUIRE_FALSE(storage.ok());
  CHECK(storage.status().code() == ErrorCode::kInternal);
  CHECK_THAT(storage.status().message(), Catch::Contains("999") && Catch::Contains("newer"));
}

TEST_CASE("sqlite: a path that cannot be opened is unavailable", "[storage][sqlite]") {
  TempDir dir;
  std::string path;
  SqliteOptions options;
  SECTION("under a regular file") {
    std::ofstream(dir.file("plain")) << "not a directory";
    path = dir.file("plain") + "/nexus.db";
  }
  SECTION("in /proc") { path = "/proc/nexus-no-such-dir/nexus.db"; }
  SECTION("missing directory, not to be created") {
    options.create_parent_directory = false;
    path = dir.file("missing") + "/nexus.db";
  }
  SECTION("a file that is not a database") {
    path = dir.file("garbage.db");
    std::ofstream(path) << std::string(4096, 'x');
  }
  SECTION("an in-memory database, which each connection would see empty") { path = ":memory:"; }

  auto storage = open_sqlite_storage(path, options);
  REQUIRE_FALSE(storage.ok());
  CHECK(storage.status().code() == ErrorCode::kUnavailable);
  CHECK_THAT(storage.status().message(), Catch::Contains(path));
}

TEST_CASE("sqlite: the parent directory is created", "[storage][sqlite]") {
  TempDir dir;
  const std::string path = dir.file("a/b/nexus.db");
  auto storage = open_ok(path);
  CHECK(std::filesystem::exists(path));
}

TEST_CASE("sqlite: a writer waits for another connection's lock up to the busy timeout",
          "[storage][sqlite]") {
  TempDir dir;
  const std::string path = dir.file("nexus.db");
  constexpr int kShortTimeoutMs = 100;
  constexpr int kLongTimeoutMs = 30'000;
  constexpr auto kHold = 300ms;  // how long the other connection keeps its lock
  const Provider github = minimal_provider("ws", "github");

  SECTION("held longer than the timeout: unavailable, nothing stored") {
    SqliteOptions options;
    options.busy_timeout_ms = kShortTimeoutMs;
    auto storage = open_ok(path, options);
    RawSqlite other(path);
    other.exec("BEGIN IMMEDIATE");

    Status status =
        storage->insert_provider(github, event_for(audit_events::kProviderCreated, github));
    CHECK(status.code() == ErrorCode::kUnavailable);
    // WAL readers are not blocked by the writer lock.
    CHECK(storage->count_providers("ws").value() == 0);
    CHECK(storage->ping().ok());

    other.exec("ROLLBACK");
    CHECK(storage->count_providers("ws").value() == 0);
    CHECK(storage->audit_head("ws").value().seq == 0);
    CHECK(storage->insert_provider(github, event_for(audit_events::kProviderCreated, github)).ok());
  }

  SECTION("released within the timeout: the write waits, then succeeds") {
    SqliteOptions options;
    options.busy_timeout_ms = kLongTimeoutMs;
    auto storage = open_ok(path, options);
    RawSqlite other(path);
    other.exec("BEGIN IMMEDIATE");
    const auto locked_at = std::chrono::steady_clock::now();
    // Holding the lock for a while is the point of this test, not a way to
    // wait for something. No Catch assertion runs on this thread.
    int commit_rc = -1;
    std::thread holder([&] {
      std::this_thread::sleep_for(kHold);
      commit_rc = other.try_exec("COMMIT");
    });
    Status status =
        storage->insert_provider(github, event_for(audit_events::kProviderCreated, github));
    const auto waited = std::chrono::steady_clock::now() - locked_at;
    holder.join();
    CHECK(commit_rc == SQLITE_OK);
    INFO(status.message());
    CHECK(status.ok());
    CHECK(waited >= kHold);  // it could only begin after the other connection committed
    CHECK(storage->get_provider("ws", "github").value() == github);
  }
}

TEST_CASE("open_storage: memory and sqlite URLs", "[storage]") {
  SECTION("memory:") {
    auto storage = open_storage("memory:");
    REQUIRE(storage.ok());
    CHECK((*storage)->ping().ok());
  }
  SECTION("sqlite:PATH") {
    TempDir dir;
    const std::string path = dir.file("via-url.db");
    {
      auto storage = open_storage("sqlite:" + path);
      REQUIRE(storage.ok());
      insert(**storage, minimal_provider("ws", "github"));
    }
    CHECK(std::filesystem::exists(path));
    auto reopened = open_storage("sqlite:" + path);
    REQUIRE(reopened.ok());
    CHECK((*reopened)->count_providers("ws").value() == 1);
  }
  SECTION("anything else") {
    for (std::string_view url : {"", "memory", "sqlite:", "postgresql://localhost/nexus",
                                 "SQLITE:/tmp/x.db", " memory:"}) {
      INFO(url);
      auto storage = open_storage(url);
      REQUIRE_FALSE(storage.ok());
      CHECK(storage.status().code() == ErrorCode::kValidationFailed);
      CHECK(storage.status().field() == "database");
    }
  }
}

// A credential read is served from what the writer kept of the previous
// read of that connection: a change committed by another connection (another
// process) must reach the next read all the same.
TEST_CASE("sqlite: a credential read sees what another process changed since the last",
          "[storage][sqlite]") {
  TempDir dir;
  const std::string path = dir.file("nexus.db");
  auto here = open_ok(path);
  auto other = open_ok(path);
  Provider p = full_provider("ws", "stripe");
  insert(*here, p);
  ConnectionRecord c = connection_for(p, "con_1", "u1");
  REQUIRE(here->insert_connection(c, connection_event(c, "connection.created")).ok());
  int n = 0;
  auto read = [&] {
    std::optional<ConnectionRead> found;
    Status s = here->read_connection_recorded("ws", "con_1", [&](const ConnectionRead& r) {
      found = r;
      AuditEvent e = connection_event(c, "token_retrieved");
      e.id += std::to_string(++n);
      return e;
    });
    REQUIRE(s.ok());
    REQUIRE(found);
    return std::move(*found);
  };
  CHECK(read().connection.value() == c);
  CHECK(read().connection.value() == c);

  // Re-sealed by the other process.
  reseal_all(*other, "k2");
  const ConnectionRecord resealed = read().connection.value();
  REQUIRE(resealed.credentials.size() == 2);
  for (const SealedField& f : resealed.credentials) {
    CHECK(f.envelope == fake_envelope("k2", "credentials." + f.name));
  }

  // Deleted by the other process.
  REQUIRE(other->delete_connection("ws", "con_1", connection_event(c, "connection.deleted")).ok());
  CHECK(read().connection.status().code() == ErrorCode::kNotFound);
}

}  // namespace
}  // namespace nexus::testing

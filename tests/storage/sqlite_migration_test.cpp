// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Schema migration 6 (the audit log's b-trees) on a database an older Nexus
// left at schema 5: every row kept, the chain intact, the same answers, and
// all or nothing. And the plans of the audit queries: each one an index.
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "nexus/audit.hpp"
#include "nexus/discovery.hpp"
#include "nexus/storage.hpp"
#include "nexus/vault.hpp"
#include "storage/conformance.hpp"
#include "storage/raw_sqlite.hpp"
#include "storage/sqlite/migrations.hpp"
#include "storage/sqlite/sqlite_storage.hpp"

namespace nexus::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kBefore = 5;
constexpr int kAfter = 6;
static_assert(sqlite::kLatestSchemaVersion >= kAfter);

std::unique_ptr<Storage> open_ok(const std::string& path) {
  auto storage = open_sqlite_storage(path);
  INFO(storage.status().message());
  REQUIRE(storage.ok());
  return std::move(storage).value();
}

std::string envelope(std::string_view key_id, std::string_view body) {
  std::string e;
  e.push_back(char(kEnvelopeVersion));
  e.push_back(char(key_id.size()));
  e.append(key_id);
  e.append(std::string(24 + 16, '\0'));  // NUL bytes must survive as a BLOB
  e.append(body);
  return e;
}

DiscoveryDocument document() {
  DiscoveryDocument d;
  d.issuer = "https://idp.example.com";
  d.metadata_url = "https://idp.example.com/.well-known/openid-configuration";
  d.source = MetadataSource::kOpenIdConfiguration;
  d.published_issuer = d.issuer;
  d.authorization_endpoint = "https://idp.example.com/authorize";
  d.token_endpoint = "https://idp.example.com/token";
  d.jwks_uri = "https://idp.example.com/jwks";
  d.fetched_at = kT0;
  d.expires_at = kT0 + 1h;
  return d;
}

// Writes, through the storage, something of every kind a schema 5 database
// holds: providers (secret in clear, sealed, none; discovery state with a
// document and after a failure), updates and deletes, connections with
// sealed values, API keys (one revoked), a setting, events appended on their
// own; in two workspaces, with events at distinct times.
void populate(Storage& s) {
  Timestamp at = kT0;
  auto next = [&](std::string_view type, const Provider& p) {
    at += 1s;
    return event_for(type, p, at);
  };
  for (std::string_view ws : {"ws", "other"}) {
    Provider plain = full_provider(ws, "plain");  // client_secret stored as TEXT
    REQUIRE(s.insert_provider(plain, next(audit_events::kProviderCreated, plain)).ok());

    Provider sealed = full_provider(ws, "sealed");
    sealed.spec.client_secret.reset();
    sealed.sealed_client_secret = envelope("k1", "sealed");
    sealed.discovery = DiscoveryState{.document = document(), .last_attempt_at = kT0};
    REQUIRE(s.insert_provider(sealed, next(audit_events::kProviderCreated, sealed)).ok());

    Provider failing = minimal_provider(ws, "failing");
    failing.spec.enable_discovery = true;
    failing.spec.issuer = "https://down.example.com";
    failing.discovery =
        DiscoveryState{.last_attempt_at = kT0,
                       .last_error = DiscoveryAttemptError{.reason = DiscoveryFailure::kUnreachable,
                                                           .message = "connection refused",
                                                           .at = kT0,
                                                           .failures = 2,
                                                           .retry_at = kT0 + 2min}};
    REQUIRE(s.insert_provider(failing, next(audit_events::kProviderCreated, failing)).ok());

    for (int i = 0; i < 12; ++i) {
      Provider p = minimal_provider(ws, "p" + std::to_string(100 + i));
      REQUIRE(s.insert_provider(p, next(audit_events::kProviderCreated, p)).ok());
      if (i % 3 == 0) {
        p = next_version(p);
        p.spec.description = "second version";
        REQUIRE(s.update_provider(p, 1, next(audit_events::kProviderUpdated, p)).ok());
      }
      if (i % 4 == 1) {
        REQUIRE(
            s.delete_provider(ws, p.spec.name, p.version, next(audit_events::kProviderDeleted, p))
                .ok());
      }
    }

    for (int i = 0; i < 3; ++i) {
      ConnectionRecord c;
      c.id = "con_" + std::string(ws) + std::to_string(i);
      c.workspace = std::string(ws);
      c.provider_id = sealed.id;
      c.provider_name = sealed.spec.name;
      c.user_id = "user-" + std::to_string(i);
      c.created_at = c.updated_at = kT0 + std::chrono::milliseconds(i);
      c.credentials = {{"account_id", envelope("k1", c.id + "a")},
                       {"secret_key", envelope("k2", c.id + "s")}};
      REQUIRE(s.insert_connection(c, next("connection.created", sealed)).ok());
      REQUIRE(s.append_audit(next("token_retrieved", sealed)).ok());
    }

    for (int i = 0; i < 2; ++i) {
      StoredApiKey key{.key = ApiKey{.id = "key_" + std::string(ws) + std::to_string(i),
                                     .workspace = std::string(ws),
                                     .role = i == 0 ? Role::kAdmin : Role::kAuditor,
                                     .label = "label " + std::to_string(i),
                                     .created_at = kT0},
                       .hash = std::string(64, char('a' + i))};
      REQUIRE(s.insert_api_key(key, next("api_key.created", plain)).ok());
    }
    REQUIRE(
        s.revoke_api_key("key_" + std::string(ws) + "1", kT0 + 1h, next("api_key.revoked", plain))
            .ok());
  }
  REQUIRE(s.ensure_setting("key_hashing_key", "c2VjcmV0").ok());
}

// Every table of the data, each in a stable order, every value with its type.
const std::map<std::string, std::string> kTables = {
    {"providers", "SELECT * FROM providers ORDER BY id"},
    {"provider_discovery", "SELECT * FROM provider_discovery ORDER BY provider_id"},
    {"audit_events", "SELECT rowid, * FROM audit_events ORDER BY workspace, seq"},
    {"audit_heads", "SELECT * FROM audit_heads ORDER BY workspace"},
    {"connections", "SELECT * FROM connections ORDER BY id"},
    {"connection_credentials",
     "SELECT * FROM connection_credentials ORDER BY connection_id, field"},
    {"api_keys", "SELECT * FROM api_keys ORDER BY id"},
    {"settings", "SELECT * FROM settings ORDER BY name"},
};

std::map<std::string, std::vector<std::string>> dump(const std::string& path) {
  RawSqlite raw(path);
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [table, sql] : kTables) out[table] = raw.rows(sql);
  return out;
}

std::vector<std::string> schema_of(const std::string& path) {
  return RawSqlite(path).rows("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY name");
}

std::int64_t schema_version(const std::string& path) {
  return RawSqlite(path).integer("SELECT MAX(version) FROM schema_migrations");
}

// A database at schema 5 holding a copy of `source`'s rows, rowids included,
// as a Nexus of schema 5 would have written them.
void copy_to_schema_5(const std::string& source, const std::string& path) {
  create_at_schema(path, kBefore);
  RawSqlite raw(path);
  raw.exec("ATTACH DATABASE '" + source + "' AS source");
  raw.exec("BEGIN");
  for (const auto& [table, sql] : kTables) {
    if (table == "audit_events") {
      raw.exec(
          "INSERT INTO main.audit_events (rowid, workspace, seq, id, event_type, provider_name, "
          "provider_id, actor, caller_ip, user_agent, at, data, prev_hash, hash) SELECT rowid, * "
          "FROM source.audit_events ORDER BY rowid");
    } else {
      raw.exec("INSERT INTO main." + table + " SELECT * FROM source." + table);
    }
  }
  raw.exec("COMMIT");
  raw.exec("DETACH DATABASE source");
}

void check_same_answers(Storage& before, Storage& after) {
  for (std::string_view ws : {"ws", "other", "absent"}) {
    INFO("workspace " << ws);
    CHECK(after.audit_head(ws).value().seq == before.audit_head(ws).value().seq);
    CHECK(after.audit_head(ws).value().hash == before.audit_head(ws).value().hash);
    CHECK(after.audit_chain(ws, 0, 10'000).value() == before.audit_chain(ws, 0, 10'000).value());
    CHECK(after.audit_chain(ws, 7, 5).value() == before.audit_chain(ws, 7, 5).value());
    const std::vector<AuditScan> scans = {
        {.workspace = std::string(ws)},
        {.workspace = std::string(ws), .limit = 3},
        {.workspace = std::string(ws), .event_type = std::string(audit_events::kProviderUpdated)},
        {.workspace = std::string(ws), .event_type = "token_retrieved", .limit = 2},
        {.workspace = std::string(ws), .provider_name = "sealed"},
        {.workspace = std::string(ws), .provider_name = "p101", .before_seq = 30},
        {.workspace = std::string(ws), .since = kT0 + 5s, .until = kT0 + 20s},
        {.workspace = std::string(ws),
         .event_type = std::string(audit_events::kProviderCreated),
         .since = kT0 + 3s,
         .provider_name = "p104",
         .before_seq = 40},
        {.workspace = std::string(ws), .before_seq = 10, .limit = 4},
    };
    for (const AuditScan& scan : scans) {
      CHECK(after.scan_audit(scan).value() == before.scan_audit(scan).value());
    }
    CHECK(after.count_providers(ws).value() == before.count_providers(ws).value());
    CHECK(after.list_providers({.workspace = std::string(ws)}).value() ==
          before.list_providers({.workspace = std::string(ws)}).value());
    CHECK(after.list_providers({.workspace = std::string(ws), .after_name = "p103", .limit = 4})
              .value() ==
          before.list_providers({.workspace = std::string(ws), .after_name = "p103", .limit = 4})
              .value());
    const auto providers = before.list_providers({.workspace = std::string(ws)}).value();
    for (const Provider& p : providers) {
      CHECK(after.get_provider(ws, p.spec.name).value() == p);
      CHECK(after.get_provider_by_id(ws, p.id).value() == p);
    }
    const auto connections = before.list_connections({.workspace = std::string(ws)}).value();
    CHECK(after.list_connections({.workspace = std::string(ws)}).value() == connections);
    for (const ConnectionRecord& c : connections) {
      CHECK(after.get_connection(ws, c.id).value() == before.get_connection(ws, c.id).value());
    }
    auto keys_before = before.list_api_keys(ws).value();
    auto keys_after = after.list_api_keys(ws).value();
    REQUIRE(keys_after.size() == keys_before.size());
    for (std::size_t i = 0; i < keys_before.size(); ++i) {
      CHECK(keys_after[i].key == keys_before[i].key);
      CHECK(keys_after[i].hash == keys_before[i].hash);
    }
  }
  CHECK(after.providers_due_for_discovery(kT0 + 10h, 100).value() ==
        before.providers_due_for_discovery(kT0 + 10h, 100).value());
  CHECK(after.providers_with_plaintext_secret(100).value() ==
        before.providers_with_plaintext_secret(100).value());
  CHECK(after.envelope_key_counts().value() == before.envelope_key_counts().value());
  CHECK(after.ensure_setting("key_hashing_key", "other").value() == "c2VjcmV0");
}

TEST_CASE("sqlite migration 6: a schema 5 database keeps every row, its chain and its answers",
          "[storage][sqlite][migration]") {
  TempDir dir;
  const std::string source_path = dir.file("source.db");
  const std::string path = dir.file("nexus.db");
  auto source = open_ok(source_path);
  populate(*source);
  copy_to_schema_5(source_path, path);

  REQUIRE(schema_version(path) == kBefore);
  const auto rows_before = dump(path);
  CHECK(rows_before.at("providers").size() == 2 * (3 + 12 - 3));
  CHECK(rows_before.at("audit_events").size() > 60);
  CHECK(rows_before.at("connection_credentials").size() == 12);
  // What migration 6 removes is there to begin with: the index on event ids.
  CHECK(RawSqlite(path).integer("SELECT COUNT(*) FROM pragma_index_list('audit_events') "
                                "WHERE \"unique\" = 1") == 2);

  auto migrated = open_ok(path);
  CHECK(schema_version(path) == kAfter);
  CHECK(dump(path) == rows_before);
  {
    RawSqlite raw(path);
    // One unique index left, the primary key; and both lookup indexes.
    CHECK(raw.rows("SELECT name, \"unique\", origin FROM pragma_index_list('audit_events') "
                   "ORDER BY name") ==
          std::vector<std::string>{"t:audit_events_by_provider|i:0|t:c",
                                   "t:audit_events_by_type|i:0|t:c",
                                   "t:sqlite_autoindex_audit_events_1|i:1|t:pk"});
    CHECK(raw.integer("SELECT COUNT(*) FROM sqlite_schema WHERE name = 'audit_heads' AND "
                      "sql LIKE '%WITHOUT ROWID'") == 1);
    CHECK(raw.integer("SELECT COUNT(*) FROM sqlite_schema WHERE name LIKE '%_v6%'") == 0);
    CHECK(raw.text("PRAGMA integrity_check") == "ok");
    CHECK(raw.text("PRAGMA foreign_key_check").empty());
  }
  // The rebuilt tables' pages left the log: it was truncated after the upgrade.
  CHECK(std::filesystem::file_size(path + "-wal") == 0);

  for (std::string_view ws : {"ws", "other"}) {
    auto report = AuditLog(*migrated).verify(ws);
    REQUIRE(report.ok());
    CHECK(report->ok);
    CHECK(report->events_checked == source->audit_head(ws).value().seq);
  }
  check_same_answers(*source, *migrated);

  // The chain goes on from where schema 5 left it.
  const Provider p = minimal_provider("ws", "after-migration");
  const AuditHead head = migrated->audit_head("ws").value();
  REQUIRE(migrated->insert_provider(p, event_for(audit_events::kProviderCreated, p)).ok());
  const auto last = migrated->audit_chain("ws", head.seq, 10).value();
  REQUIRE(last.size() == 1);
  CHECK(last[0].seq == head.seq + 1);
  CHECK(last[0].prev_hash == head.hash);
  auto report = AuditLog(*migrated).verify("ws");
  REQUIRE(report.ok());
  CHECK(report->ok);

  // Reopening applies nothing again.
  migrated.reset();
  open_ok(path);
  CHECK(RawSqlite(path).integer("SELECT COUNT(*) FROM schema_migrations") ==
        sqlite::kLatestSchemaVersion);
}

TEST_CASE("sqlite migration 6 is all or nothing: a row it cannot carry leaves schema 5 intact",
          "[storage][sqlite][migration]") {
  TempDir dir;
  const std::string source_path = dir.file("source.db");
  const std::string path = dir.file("nexus.db");
  {
    auto source = open_ok(source_path);
    populate(*source);
  }
  copy_to_schema_5(source_path, path);
  // Schema 5 let a chain head without a workspace in (a primary key of a
  // rowid table may be NULL); the new audit_heads refuses it. The migration
  // copies it last, after audit_events was rebuilt.
  RawSqlite(path).exec("INSERT INTO audit_heads (workspace, seq, hash) VALUES (NULL, 1, 'x')");
  const auto rows_before = dump(path);
  const auto schema_before = schema_of(path);

  auto failed = open_sqlite_storage(path);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().code() == ErrorCode::kInternal);
  CHECK_THAT(failed.status().message(),
             Catch::Contains("schema migration 6") && Catch::Contains("nothing of it was applied"));
  CHECK(schema_version(path) == kBefore);
  CHECK(schema_of(path) == schema_before);
  CHECK(dump(path) == rows_before);
  CHECK(RawSqlite(path).text("PRAGMA integrity_check") == "ok");

  // Once the row is gone, the migration goes through.
  RawSqlite(path).exec("DELETE FROM audit_heads WHERE workspace IS NULL");
  auto storage = open_ok(path);
  CHECK(schema_version(path) == kAfter);
  auto report = AuditLog(*storage).verify("ws");
  REQUIRE(report.ok());
  CHECK(report->ok);
}

TEST_CASE("sqlite: every audit query reads through an index, in order", "[storage][sqlite]") {
  TempDir dir;
  auto storage = open_ok(dir.file("nexus.db"));
  // Every combination of the five filters.
  for (int mask = 0; mask < 32; ++mask) {
    AuditScan scan{.workspace = "ws"};
    if (mask & 1) scan.event_type = "provider.updated";
    if (mask & 2) scan.since = kT0;
    if (mask & 4) scan.until = kT0 + 1h;
    if (mask & 8) scan.provider_name = "github";
    if (mask & 16) scan.before_seq = 100;
    auto plan = sqlite::audit_scan_plan(*storage, scan);
    REQUIRE(plan.ok());
    INFO("filters " << mask);
    REQUIRE(plan->size() == 1);
    const std::string& step = plan->front();
    INFO(step);
    // A search of one index by workspace (and more), read in seq order: no
    // scan of the table and no sort.
    CHECK(step.rfind("SEARCH audit_events USING ", 0) == 0);
    CHECK((step.find("USING INDEX") != std::string::npos ||
           step.find("USING PRIMARY KEY") != std::string::npos));
    CHECK(step.find("(workspace=?") != std::string::npos);
    if (scan.event_type && !scan.provider_name)
      CHECK(step.find("event_type=?") != std::string::npos);
    if (scan.provider_name && !scan.event_type) {
      CHECK(step.find("provider_name=?") != std::string::npos);
    }
  }
  auto memory = make_memory_storage();
  CHECK(sqlite::audit_scan_plan(*memory, {}).status().code() == ErrorCode::kInternal);
}

}  // namespace
}  // namespace nexus::testing

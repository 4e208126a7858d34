// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "storage/sqlite/sealed_census.hpp"

#include <sqlite3.h>

#include <filesystem>
#include <string_view>

#include "storage/sqlite/migrations.hpp"
#include "storage/sqlite/sqlite_connection.hpp"
#include "storage/storage_common.hpp"

namespace nexus::sqlite {
namespace {

constexpr std::string_view kOp = "count the sealed values";

// Sealed values by schema version. Version 1 stored client secrets in clear
// (TEXT); an envelope is a BLOB. Connections arrived with version 2.
constexpr int kConnectionsSince = 2;
constexpr const char* kProviderSecrets =
    "SELECT workspace, 'provider', id, 'client_secret', client_secret FROM providers "
    "WHERE typeof(client_secret) = 'blob'";
constexpr const char* kCredentials =
    " UNION ALL SELECT c.workspace, 'connection', c.id, 'credentials.' || f.field, f.envelope "
    "FROM connection_credentials f JOIN connections c ON c.id = f.connection_id";

Status cannot_read(const std::string& path, int rc) {
  if (is_busy(rc)) return error_status(rc, kOp);
  return Status(ErrorCode::kUnavailable,
                "cannot read the database at '" + path + "' (" + sqlite3_errstr(rc) + ")");
}

// One statement, stepped to the end by `row`.
template <typename Row>
int each_row(sqlite3* db, const std::string& sql, Row&& row) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr);
  StatementPtr stmt(raw);
  if (rc != SQLITE_OK) return rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) row(stmt.get());
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

std::string column_text(sqlite3_stmt* stmt, int column) {
  const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
  return data == nullptr
             ? std::string()
             : std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt, column)));
}

std::string_view column_blob(sqlite3_stmt* stmt, int column) {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt, column));
  return data == nullptr
             ? std::string_view()
             : std::string_view(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt, column)));
}

Result<SealedCensus> census(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (ec) return Status(ErrorCode::kUnavailable, "cannot read the database at '" + path + "'");
    return SealedCensus{};
  }
  // With a write-ahead log present (a server running, or one that crashed), a
  // read-only connection reads it and leaves it as it is. Without one, a
  // read-only connection would create -wal and -shm files and leave them
  // behind; a read-write connection that only reads (query_only) creates
  // them too, but removes them when it closes, and has no log content to
  // copy into the database file: the file stays byte-identical either way.
  const bool has_log = std::filesystem::exists(path + "-wal", ec);
  const int flags = (has_log ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX;
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  DatabasePtr db(raw);
  if (rc != SQLITE_OK) return cannot_read(path, rc);
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), 5000);
  if ((rc = sqlite3_exec(db.get(), "PRAGMA query_only = ON", nullptr, nullptr, nullptr)) !=
      SQLITE_OK) {
    return cannot_read(path, rc);
  }
  // One read transaction: the version and the values agree.
  if ((rc = sqlite3_exec(db.get(), "BEGIN", nullptr, nullptr, nullptr)) != SQLITE_OK) {
    return cannot_read(path, rc);
  }
  bool versioned = false;
  rc = each_row(db.get(),
                "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'",
                [&](sqlite3_stmt*) { versioned = true; });
  if (rc != SQLITE_OK) return cannot_read(path, rc);
  SealedCensus out;
  if (!versioned) return out;  // a new, empty database: nothing sealed yet
  int version = 0;
  rc = each_row(db.get(), "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                [&](sqlite3_stmt* s) { version = sqlite3_column_int(s, 0); });
  if (rc != SQLITE_OK) return cannot_read(path, rc);
  if (version > kLatestSchemaVersion) {
    return Status(ErrorCode::kInternal,
                  "the database at '" + path + "' has schema version " + std::to_string(version) +
                      ", newer than this version of Nexus knows (" +
                      std::to_string(kLatestSchemaVersion) + "); upgrade Nexus to open it");
  }
  if (version < 1) return out;
  std::string sql = kProviderSecrets;
  if (version >= kConnectionsSince) sql += kCredentials;
  rc = each_row(db.get(), sql, [&](sqlite3_stmt* s) {
    std::string id = Vault::key_id_of(column_blob(s, 4));
    if (id.empty()) {
      out.malformed.push_back(
          SealedPlace{column_text(s, 0), column_text(s, 1), column_text(s, 2), column_text(s, 3)});
    } else {
      ++out.by_key[id];
    }
  });
  if (rc != SQLITE_OK) return cannot_read(path, rc);
  return out;
}

}  // namespace

Result<SealedCensus> read_only_census(const std::string& path) {
  return detail::without_exceptions(kOp, [&] { return census(path); });
}

}  // namespace nexus::sqlite

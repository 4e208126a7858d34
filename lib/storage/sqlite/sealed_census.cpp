// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "storage/sqlite/sealed_census.hpp"

#include <sqlite3.h>

#include <filesystem>
#include <string_view>

#include "nexus/storage.hpp"
#include "storage/sqlite/schema.hpp"
#include "storage/sqlite/sqlite_connection.hpp"
#include "storage/storage_common.hpp"

namespace nexus::sqlite {
namespace {

constexpr std::string_view kOp = "count the sealed values";

Status cannot_read(const std::string& path, int rc) {
  if (is_busy(rc)) return error_status(rc, kOp);
  return Status(ErrorCode::kUnavailable,
                "cannot read the database at '" + path + "' (" + sqlite3_errstr(rc) + ")");
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
  int rc;
  std::unique_ptr<Connection> c = Connection::open(
      path, has_log ? Connection::Mode::kReadOnly : Connection::Mode::kReadWrite, rc);
  if (!c) return cannot_read(path, rc);
  sqlite3_busy_timeout(c->handle(), SqliteOptions{}.busy_timeout_ms);
  if ((rc = c->run("PRAGMA query_only = ON")) != SQLITE_DONE) return cannot_read(path, rc);
  // One read transaction: the version and the values agree.
  if ((rc = c->run("BEGIN")) != SQLITE_DONE) return cannot_read(path, rc);
  Result<int> version = schema_version(*c, kOp);  // the first read: a non-database fails here
  if (!version.ok()) {
    return Status(ErrorCode::kUnavailable,
                  "cannot read the database at '" + path + "': " + version.status().message());
  }
  if (*version > kLatestSchemaVersion) return schema_too_new(path, *version);
  SealedCensus out;
  if (*version < 1) return out;  // a new, empty database: nothing sealed yet
  std::string sql(kProviderEnvelopes);
  if (*version >= kConnectionsSince) sql += kCredentialEnvelopes;
  auto stmt = c->prepare(sql, rc);
  if (!stmt) return cannot_read(path, rc);
  while ((rc = stmt->step()) == SQLITE_ROW) {
    std::string id = Vault::key_id_of(stmt->blob(4));
    if (id.empty()) {
      out.malformed.push_back(
          SealedPlace{stmt->text(0), stmt->text(1), stmt->text(2), stmt->text(3)});
    } else {
      ++out.by_key[id];
    }
  }
  if (rc != SQLITE_DONE) return cannot_read(path, rc);
  return out;
}

}  // namespace

Result<SealedCensus> read_only_census(const std::string& path) {
  return detail::without_exceptions(kOp, [&] { return census(path); });
}

}  // namespace nexus::sqlite

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Private: what the storage and the read-only census both ask of a database's
// schema: its version, and where sealed values live.
#pragma once

#include <string>
#include <string_view>

#include "nexus/status.hpp"
#include "storage/sqlite/migrations.hpp"
#include "storage/sqlite/sqlite_connection.hpp"

namespace nexus::sqlite {

// The highest applied schema version; 0 for a new database. Errors are
// error_status(rc, operation).
inline Result<int> schema_version(Connection& c, std::string_view operation) {
  int rc;
  auto exists = c.prepare(
      "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'", rc);
  if (!exists) return error_status(rc, operation);
  rc = exists->step();
  if (rc == SQLITE_DONE) return 0;
  if (rc != SQLITE_ROW) return error_status(rc, operation);
  auto max = c.prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", rc);
  if (!max) return error_status(rc, operation);
  if ((rc = max->step()) != SQLITE_ROW) return error_status(rc, operation);
  return static_cast<int>(max->integer(0));
}

// The refusal of a database written by a newer Nexus.
inline Status schema_too_new(const std::string& path, int version) {
  return Status(ErrorCode::kInternal,
                "the database at '" + path + "' has schema version " + std::to_string(version) +
                    ", newer than this version of Nexus knows (" +
                    std::to_string(kLatestSchemaVersion) + "); upgrade Nexus to open it");
}

// Every sealed value as (workspace, owner_kind, owner_id, field, envelope).
// Schema 1 held client secrets only, in clear (TEXT, not envelopes);
// connections and their credentials arrived with schema 2.
inline constexpr int kConnectionsSince = 2;
inline constexpr std::string_view kProviderEnvelopes =
    "SELECT workspace, 'provider', id, 'client_secret', client_secret FROM providers "
    "WHERE typeof(client_secret) = 'blob'";
inline constexpr std::string_view kCredentialEnvelopes =
    " UNION ALL SELECT c.workspace, 'connection', c.id, 'credentials.' || f.field, f.envelope "
    "FROM connection_credentials f JOIN connections c ON c.id = f.connection_id";

}  // namespace nexus::sqlite

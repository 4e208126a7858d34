// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Private: the SQLite schema, as an append-only list of migrations. A database
// records each applied migration in schema_migrations; open_sqlite_storage
// applies the missing ones in order, each in its own transaction. Never edit a
// shipped migration: append the next version.
#pragma once

#include <cstddef>
#include <iterator>
#include <string_view>

namespace nexus::sqlite {

struct Migration {
  int version;            // 1, 2, 3, ... without gaps
  std::string_view name;  // recorded in schema_migrations
  const char* sql;        // one or more statements
};

inline constexpr Migration kMigrations[] = {
    {1, "providers and audit log", R"sql(
CREATE TABLE providers (
  id TEXT PRIMARY KEY,
  workspace TEXT NOT NULL,
  name TEXT NOT NULL,
  auth_type TEXT NOT NULL,
  client_id TEXT,
  client_secret TEXT,
  issuer TEXT,
  auth_url TEXT,
  token_url TEXT,
  api_base_url TEXT,
  user_info_endpoint TEXT,
  jwks_uri TEXT,
  enable_discovery INTEGER NOT NULL,
  scopes TEXT NOT NULL,
  params TEXT NOT NULL,
  credential_schema TEXT,
  description TEXT,
  category TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  version INTEGER NOT NULL,
  UNIQUE (workspace, name)
);

CREATE TABLE audit_events (
  workspace TEXT NOT NULL,
  seq INTEGER NOT NULL,
  id TEXT NOT NULL UNIQUE,
  event_type TEXT NOT NULL,
  provider_name TEXT NOT NULL,
  provider_id TEXT NOT NULL,
  actor TEXT,
  caller_ip TEXT NOT NULL,
  user_agent TEXT NOT NULL,
  at INTEGER NOT NULL,
  data TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  PRIMARY KEY (workspace, seq)
);
-- The primary key serves newest-first scans of a workspace; these serve the
-- same scans filtered by provider or event type.
CREATE INDEX audit_events_by_provider ON audit_events (workspace, provider_name, seq);
CREATE INDEX audit_events_by_type ON audit_events (workspace, event_type, seq);

CREATE TABLE audit_heads (
  workspace TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL
);
)sql"},
};

inline constexpr int kLatestSchemaVersion = kMigrations[std::size(kMigrations) - 1].version;

constexpr bool migration_versions_are_contiguous() {
  for (std::size_t i = 0; i < std::size(kMigrations); ++i) {
    if (kMigrations[i].version != static_cast<int>(i) + 1) return false;
  }
  return true;
}
static_assert(migration_versions_are_contiguous(), "migration versions must be 1, 2, 3, ...");

}  // namespace nexus::sqlite

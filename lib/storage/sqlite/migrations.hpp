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
    // From here on providers.client_secret holds a Vault envelope (a BLOB);
    // a TEXT value there is a plaintext secret written by version 1, sealed
    // by ProviderRegistry::seal_plaintext_secrets at startup.
    {2, "connections and sealed credentials", R"sql(
CREATE TABLE connections (
  id TEXT PRIMARY KEY,
  workspace TEXT NOT NULL,
  provider_id TEXT NOT NULL,
  provider_name TEXT NOT NULL,
  user_id TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX connections_by_workspace ON connections (workspace, id);
CREATE INDEX connections_by_provider ON connections (provider_id);

CREATE TABLE connection_credentials (
  connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
  field TEXT NOT NULL,
  envelope BLOB NOT NULL,
  PRIMARY KEY (connection_id, field)
);
)sql"},
    {3, "api keys and settings", R"sql(
-- An API key is stored as its keyed hash, never its text.
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  workspace TEXT NOT NULL,
  role TEXT NOT NULL,
  label TEXT NOT NULL,
  hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX api_keys_by_workspace ON api_keys (workspace, created_at, id);

CREATE TABLE settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)sql"},
    {4, "provider discovery state", R"sql(
-- The discovery state of a provider with enable_discovery, once its issuer
-- was asked: the last document that validated (discovery_document_to_json;
-- NULL while no attempt has succeeded) and the last attempt's outcome
-- (last_error: {"reason","message","at"}, NULL after a success). fetched_at
-- and expires_at repeat the document's so that expired documents can be found
-- by index. Written in the same transaction as the provider row.
CREATE TABLE provider_discovery (
  provider_id TEXT PRIMARY KEY
    REFERENCES providers (id) ON DELETE CASCADE ON UPDATE CASCADE,
  document TEXT,
  fetched_at INTEGER,
  expires_at INTEGER,
  last_error TEXT,
  last_attempt_at INTEGER NOT NULL
);
CREATE INDEX provider_discovery_by_expiry ON provider_discovery (expires_at);
)sql"},
    // The backfill below schedules a document whose last refresh failed at
    // that attempt's time, not at its backoff's retry_at (which only the
    // JSON of last_error holds): after the upgrade each such provider is
    // refetched once, then its backoff applies again.
    {5, "discovery refresh schedule", R"sql(
-- When the library next refetches the document on its own
-- (next_refresh_at(DiscoveryState)): the document's expires_at after a
-- success, the backoff's retry_at after a failure. It replaces expires_at as
-- the column that due documents are found by.
ALTER TABLE provider_discovery ADD COLUMN next_refresh_at INTEGER;
UPDATE provider_discovery
  SET next_refresh_at = CASE WHEN last_error IS NULL AND expires_at IS NOT NULL
                             THEN expires_at ELSE last_attempt_at END;
DROP INDEX provider_discovery_by_expiry;
CREATE INDEX provider_discovery_by_next_refresh ON provider_discovery (next_refresh_at);
)sql"},
    // Fewer b-trees written per audit event (docs/performance.md): every
    // b-tree a transaction touches costs at least one page in the WAL.
    // - audit_events loses the UNIQUE index on id. Ids are 130 random bits
    //   from the system's CSPRNG, no query looks an event up by id, and the
    //   chain does not rest on it (seq is the key; the hash covers the id);
    //   that index was the one random-order b-tree of every event written.
    //   The table is rebuilt because SQLite cannot drop a constraint's
    //   index; rows keep their rowids, so their order on disk is unchanged.
    // - audit_heads becomes WITHOUT ROWID: one b-tree instead of a table and
    //   its primary-key index (a head is read and written by workspace only).
    // Rows SQLite let through before but the new tables refuse (a head
    // without a workspace) fail the migration, which then leaves nothing.
    {6, "audit log: fewer b-trees per event", R"sql(
CREATE TABLE audit_events_v6 (
  workspace TEXT NOT NULL,
  seq INTEGER NOT NULL,
  id TEXT NOT NULL,
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
INSERT INTO audit_events_v6 (rowid, workspace, seq, id, event_type, provider_name, provider_id,
                             actor, caller_ip, user_agent, at, data, prev_hash, hash)
  SELECT rowid, workspace, seq, id, event_type, provider_name, provider_id, actor, caller_ip,
         user_agent, at, data, prev_hash, hash
  FROM audit_events ORDER BY rowid;
DROP TABLE audit_events;
ALTER TABLE audit_events_v6 RENAME TO audit_events;
CREATE INDEX audit_events_by_provider ON audit_events (workspace, provider_name, seq);
CREATE INDEX audit_events_by_type ON audit_events (workspace, event_type, seq);

CREATE TABLE audit_heads_v6 (
  workspace TEXT NOT NULL PRIMARY KEY,
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO audit_heads_v6 (workspace, seq, hash) SELECT workspace, seq, hash FROM audit_heads;
DROP TABLE audit_heads;
ALTER TABLE audit_heads_v6 RENAME TO audit_heads;
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

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// The abstract storage interface behind the registry and the audit log, and
// the backends shipped with the library. Backends hold typed records; the
// rules (validation, redaction, audit content) live above them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nexus/audit.hpp"
#include "nexus/provider.hpp"
#include "nexus/status.hpp"

namespace nexus {

struct ProviderListQuery {
  std::string workspace;
  std::optional<AuthType> auth_type;
  std::optional<std::string> category;
  std::optional<std::string> after_name;  // exclusive; ordering is by name (bytewise)
  std::size_t limit = 100;                // REQUIRES: >= 1
};

// The storage-level form of an audit query: cursors already decoded.
struct AuditScan {
  std::string workspace;
  std::optional<std::string> event_type;
  std::optional<Timestamp> since;   // inclusive
  std::optional<Timestamp> until;   // exclusive
  std::optional<std::string> provider_name;
  std::optional<std::int64_t> before_seq;  // exclusive
  std::size_t limit = 50;                  // REQUIRES: >= 1
};

// The last link of a workspace's audit chain, stored beside the events so
// that removing the newest event is detected too.
struct AuditHead {
  std::int64_t seq = 0;  // 0: no events yet
  std::string hash;      // kGenesisHash when seq == 0
};

// Every method is thread-safe and either fully applies or leaves nothing
// changed. Every mutation takes the audit event that records it and stores
// both in one transaction: the backend sets event.seq, event.prev_hash (from
// the workspace's chain head) and event.hash (audit_chain_hash) and advances
// the head. Errors: kUnavailable when the store cannot be reached or stays
// busy past its timeout, kInternal for anything else unexpected; messages
// never contain record contents.
class Storage {
 public:
  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  virtual ~Storage() = default;

  // Stores a new provider. kProviderExists when (workspace, name) is taken;
  // kInternal when provider.id is taken.
  virtual Status insert_provider(const Provider& provider, AuditEvent event) = 0;

  // Replaces the provider with the same (workspace, name) when its stored
  // version equals `expected_version`. kProviderNotFound when absent,
  // kVersionConflict when the version differs.
  virtual Status update_provider(const Provider& provider, std::int64_t expected_version,
                                 AuditEvent event) = 0;

  // Deletes the provider when its stored version equals `expected_version`.
  // kProviderNotFound / kVersionConflict as for update_provider.
  virtual Status delete_provider(std::string_view workspace, std::string_view name,
                                 std::int64_t expected_version, AuditEvent event) = 0;

  // kProviderNotFound when absent.
  virtual Result<Provider> get_provider(std::string_view workspace, std::string_view name) = 0;

  // Up to query.limit providers ordered by name, after query.after_name.
  virtual Result<std::vector<Provider>> list_providers(const ProviderListQuery& query) = 0;

  // How many providers the workspace holds.
  virtual Result<std::int64_t> count_providers(std::string_view workspace) = 0;

  // Events matching `scan`, newest (highest seq) first.
  virtual Result<std::vector<AuditEvent>> scan_audit(const AuditScan& scan) = 0;

  // Events of the workspace with seq > after_seq, ascending, at most `limit`.
  // For verification: returns rows as stored, without checking them.
  virtual Result<std::vector<AuditEvent>> audit_chain(std::string_view workspace,
                                                      std::int64_t after_seq,
                                                      std::size_t limit) = 0;

  virtual Result<AuditHead> audit_head(std::string_view workspace) = 0;

  // OK when the store answers (readiness probe).
  virtual Status ping() = 0;
};

// A Storage held in memory: for tests and for embedding without a database.
std::unique_ptr<Storage> make_memory_storage();

struct SqliteOptions {
  // How long a writer waits for another process's lock before kUnavailable.
  int busy_timeout_ms = 5000;
  // Reader connections kept open (writes use one dedicated connection).
  std::size_t read_connections = 8;
  // Create the file's parent directory when missing.
  bool create_parent_directory = true;
};

// Opens (creating if needed) the SQLite database at `path` and applies every
// pending schema migration. WAL, synchronous=FULL, foreign keys on.
// kUnavailable when the file cannot be opened or created; kInternal when a
// migration fails (nothing of it is applied) or the database's schema is newer
// than this library knows.
Result<std::unique_ptr<Storage>> open_sqlite_storage(const std::string& path,
                                                     const SqliteOptions& options = {});

// Opens a storage from a URL: "memory:" or "sqlite:PATH" (relative paths are
// relative to the working directory). kValidationFailed (field "database")
// for any other form.
Result<std::unique_ptr<Storage>> open_storage(std::string_view url);

}  // namespace nexus

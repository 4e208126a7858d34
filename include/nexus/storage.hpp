// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// The abstract storage interface behind the registry and the audit log, and
// the backends shipped with the library. Backends hold typed records; the
// rules (validation, redaction, audit content) live above them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nexus/audit.hpp"
#include "nexus/keys.hpp"
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
  std::optional<Timestamp> since;  // inclusive
  std::optional<Timestamp> until;  // exclusive
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

// One credential value of a connection, sealed.
struct SealedField {
  std::string name;      // the credential_schema field name
  std::string envelope;  // Vault envelope
  friend bool operator==(const SealedField&, const SealedField&) = default;
};

// Why a connection can no longer hand out credentials.
enum class ConnectionStatus { kActive, kProviderDeleted };
std::string_view to_string(ConnectionStatus status) noexcept;

// One user's account at one provider, with its credentials sealed.
struct ConnectionRecord {
  std::string id;  // opaque, "con_..."
  std::string workspace;
  std::string provider_id;
  std::string provider_name;
  std::string user_id;
  ConnectionStatus status = ConnectionStatus::kActive;
  Timestamp created_at{};
  Timestamp updated_at{};
  std::vector<SealedField> credentials;  // empty once the provider is deleted
  friend bool operator==(const ConnectionRecord&, const ConnectionRecord&) = default;
};

// What a credential read needs of a connection's provider.
struct ProviderBrief {
  std::string id;
  std::string name;
  AuthType auth_type = AuthType::kApiKey;
  std::optional<std::string> api_base_url;
  friend bool operator==(const ProviderBrief&, const ProviderBrief&) = default;
};

// A connection as a credential read finds it, and its provider.
struct ConnectionRead {
  // kNotFound when no connection has that id in the workspace.
  Result<ConnectionRecord> connection;
  // The connection's provider, read only for an active connection:
  // kProviderNotFound when the connection is not active or no provider of
  // its workspace has its provider_id; an error (not necessarily the
  // connection's) when the connection could not be read.
  Result<ProviderBrief> provider;
};

// Turns what a credential read found into the audit event that records it
// (Storage::read_connection_recorded). It may throw; then nothing is
// appended.
using ReadRecorder = std::function<AuditEvent(const ConnectionRead&)>;

struct ConnectionListQuery {
  std::string workspace;
  std::optional<std::string> provider_name;
  std::optional<std::string> user_id;
  std::optional<std::string> after_id;  // exclusive; ordering is by id
  std::size_t limit = 100;              // REQUIRES: >= 1
};

// Where a sealed value lives, for re-sealing under another key.
struct EnvelopeRef {
  std::string workspace;
  std::string owner_kind;  // "provider" or "connection"
  std::string owner_id;
  std::string field;  // "client_secret" or "credentials.NAME"
  std::string envelope;
  friend bool operator==(const EnvelopeRef&, const EnvelopeRef&) = default;
};

// An API key as the store holds it: the key without its text, plus the hex
// keyed hash of the text (KeyService computes it; the store only keeps it).
struct StoredApiKey {
  ApiKey key;
  std::string hash;
};

// Every method is thread-safe and either fully applies or leaves nothing
// changed. Every mutation takes the audit event that records it and stores
// both in one transaction: the backend sets event.seq, event.prev_hash (from
// the workspace's chain head) and event.hash (audit_chain_hash) and advances
// the head. The event's id must not be empty (kInternal, nothing stored); it
// is not checked for uniqueness: make_id's 130 random bits keep ids apart.
// Errors: kUnavailable when the store cannot be reached or stays
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

  // Deletes the provider when its stored version equals `expected_version`,
  // in the same transaction marks its connections kProviderDeleted and erases
  // their sealed values. kProviderNotFound / kVersionConflict as for
  // update_provider.
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

  // --- API keys and settings ---
  // Key ids are unique across workspaces; a key's event is appended to the
  // chain of its workspace.

  // Stores a new key. kInternal when its id is taken (nothing is stored).
  virtual Status insert_api_key(const StoredApiKey& key, AuditEvent event) = 0;

  // kNotFound when no key has that id (revoked keys are still found).
  virtual Result<StoredApiKey> get_api_key(std::string_view id) = 0;

  // Every key, or those of `workspace`, ordered by created_at then id.
  virtual Result<std::vector<StoredApiKey>> list_api_keys(
      std::optional<std::string_view> workspace) = 0;

  // Sets revoked_at of an active key to `at`. kNotFound, storing nothing,
  // when no active key has that id.
  virtual Status revoke_api_key(std::string_view id, Timestamp at, AuditEvent event) = 0;

  // Small values the library keeps beside the data (the API key hashing
  // key). Returns the value stored under `name`; when there is none, stores
  // `value_if_absent` first. Concurrent first callers, in this process or
  // another, all get the one value stored.
  virtual Result<std::string> ensure_setting(std::string_view name,
                                             std::string_view value_if_absent) = 0;

  // --- Connections and sealed values ---

  // kProviderNotFound when no provider has this id in the workspace.
  virtual Result<Provider> get_provider_by_id(std::string_view workspace, std::string_view id) = 0;

  // Stores a new connection. kProviderNotFound when its provider (by id) is
  // gone, so a connection never outlives the check.
  virtual Status insert_connection(const ConnectionRecord& connection, AuditEvent event) = 0;

  // kNotFound when absent.
  virtual Result<ConnectionRecord> get_connection(std::string_view workspace,
                                                  std::string_view id) = 0;

  // Up to query.limit connections ordered by id, after query.after_id. Their
  // credentials carry field names only (empty envelopes): a listing never
  // loads sealed values.
  virtual Result<std::vector<ConnectionRecord>> list_connections(
      const ConnectionListQuery& query) = 0;

  // Deletes the connection and its sealed values. kNotFound when absent.
  virtual Status delete_connection(std::string_view workspace, std::string_view id,
                                   AuditEvent event) = 0;

  // Appends an event that records no change (e.g. a credential read).
  virtual Status append_audit(AuditEvent event) = 0;

  // append_audit without a thread waiting for it: `done` gets what
  // append_audit would return (OK once the event is durable). `done` is
  // called exactly once, on an unspecified thread (possibly this one, before
  // return); it must be cheap (it may hold up other writes), must not throw
  // and must not call back into this storage's write path. Never throws.
  // Default: calls append_audit, then `done`, on this thread. The SQLite
  // backend queues the event for its writer thread, which calls `done` after
  // the transaction holding the event committed.
  virtual void append_audit_async(AuditEvent event, std::function<void(Status)> done);

  // A credential read and its audit event as one: reads connection `id` of
  // `workspace` with its sealed values and, when it is active, its
  // provider; hands what it found to `record`, called exactly once; and
  // appends the event `record` returns. Returns what the append returned
  // (kInternal, appending nothing, when `record` throws). Both backends read
  // and append atomically (SQLite: in one write transaction; memory: under
  // its exclusive lock), so the event records exactly the state that was
  // read: no change (a provider deleted, say) lands between the read and its
  // event. Default, for other backends: the reads (get_connection,
  // get_provider_by_id), then append_audit, which is not atomic.
  virtual Status read_connection_recorded(std::string_view workspace, std::string_view id,
                                          const ReadRecorder& record);

  // read_connection_recorded without a thread waiting: `done` gets what it
  // would return, once the event is durable, on the terms of
  // append_audit_async. `record` runs on an unspecified thread (the SQLite
  // writer's, inside its transaction: it must be quick and must not call
  // into this storage). Never throws. Default: the reads and `record` on
  // this thread, then append_audit_async.
  virtual void read_connection_recorded_async(std::string_view workspace, std::string_view id,
                                              ReadRecorder record,
                                              std::function<void(Status)> done);

  // Up to `limit` providers with enable_discovery, across every workspace,
  // whose discovery state is due for an automatic refresh
  // (next_refresh_at(*provider.discovery) <= now), earliest due first.
  // Providers without a discovery state are never listed.
  virtual Result<std::vector<Provider>> providers_due_for_discovery(Timestamp now,
                                                                    std::size_t limit) = 0;

  // Up to `limit` providers, across every workspace, whose client secret is
  // stored in clear (written before secrets were sealed).
  virtual Result<std::vector<Provider>> providers_with_plaintext_secret(std::size_t limit) = 0;

  // How many sealed values each key id seals, across every workspace.
  virtual Result<std::map<std::string, std::int64_t>> envelope_key_counts() = 0;

  // Up to `limit` sealed values whose key id is not `key_id`, across every
  // workspace, in a stable order.
  virtual Result<std::vector<EnvelopeRef>> envelopes_not_under(std::string_view key_id,
                                                               std::size_t limit) = 0;

  // Replaces each `old[i]` with `replacement[i]` in one transaction; a value
  // that no longer holds old[i].envelope (changed meanwhile) is skipped.
  // Returns how many were replaced. REQUIRES: old.size() == replacement.size().
  virtual Result<std::size_t> replace_envelopes(const std::vector<EnvelopeRef>& old,
                                                const std::vector<std::string>& replacement) = 0;

  // Copies every committed change into the main store and empties any
  // write-ahead log (SQLite: wal_checkpoint(TRUNCATE)), so that bytes an
  // earlier write replaced, such as a secret stored in clear, leave the log.
  // kUnavailable when readers keep the log in use. Stores without a log do
  // nothing.
  virtual Status checkpoint() { return Status::Ok(); }
};

// A Storage held in memory: for tests and for embedding without a database.
std::unique_ptr<Storage> make_memory_storage();

struct SqliteOptions {
  // How long a write may wait, from the moment it is called, for another
  // process's lock before kUnavailable. Writes waiting together share one
  // wait: no caller waits much longer than this, however many are queued.
  int busy_timeout_ms = 5000;
  // Reader connections kept open (writes use one dedicated connection).
  std::size_t read_connections = 8;
  // Create the file's parent directory when missing.
  bool create_parent_directory = true;
  // Group commit: the most concurrent writes that share one transaction (and
  // one fsync). 1 gives every write its own transaction.
  std::size_t max_batch_writes = 64;
  // Providers kept decoded in memory for get_provider and get_provider_by_id
  // (about 2 KiB each); 0 disables the cache. Reads from it are exact (see
  // open_sqlite_storage).
  std::size_t provider_cache_entries = 4096;
};

// Opens (creating if needed) the SQLite database at `path` and applies every
// pending schema migration. WAL, synchronous=FULL, foreign keys on.
//
// Writes: concurrent writes are committed in groups. Each write still runs in
// its own savepoint: one that fails (a taken name, a version conflict) rolls
// back alone and reports its own error while the others of its group commit.
// A write returns only once its transaction is durable; when a group's
// transaction cannot begin or commit, every write of the group fails and
// nothing of it is stored.
//
// Provider reads (get_provider, get_provider_by_id) are served from an
// in-process cache of decoded rows. It is exact, never stale: before serving
// a cached row, a read asks its SQLite connection whether any other
// connection (this process's writer, or another process) has committed since
// that connection last looked (PRAGMA data_version), and if so empties the
// cache and reads the row from the database. So a read never returns data
// older than a write acknowledged to any caller, in this process or another.
//
// Credential reads (read_connection_recorded) skip their query when the
// writer holds what the previous read of the same connection found (sealed
// values, never a plaintext). That is exact too: it is forgotten when any
// other mutation begins, when a transaction fails, and when another
// connection has committed since the last transaction.
//
// kUnavailable when the file cannot be opened or created; kInternal when a
// migration fails (nothing of it is applied) or the database's schema is newer
// than this library knows.
Result<std::unique_ptr<Storage>> open_sqlite_storage(const std::string& path,
                                                     const SqliteOptions& options = {});

// Makes SQLite serve its small allocations (up to 2 KiB) from per-thread
// lists of freed blocks instead of malloc, process-wide. Debian's SQLite is
// built without its own such cache ("lookaside"), so without this each SQLite
// statement makes dozens of malloc/free calls; see docs/performance.md. Call
// it once, before anything in the process uses SQLite: it returns false, and
// changes nothing, when SQLite is already in use. The bundled server calls it
// first thing; a host application that uses SQLite itself decides.
bool use_sqlite_block_cache() noexcept;

// Opens a storage from a URL: "memory:" or "sqlite:PATH" (relative paths are
// relative to the working directory). kValidationFailed (field "database")
// for any other form.
Result<std::unique_ptr<Storage>> open_storage(std::string_view url);

// The form check of open_storage without opening anything: OK for "memory:"
// and "sqlite:PATH"; kValidationFailed (field "database") otherwise. Its
// message never quotes the URL.
Status check_storage_url(std::string_view url);

// `url` fit for a message or a log line: the password of a
// "scheme://user:password@host/..." URL and the value of every "password="
// parameter are replaced by "***" ("postgresql://u:***@db/x"). Other URLs are
// returned unchanged.
std::string redact_storage_url(std::string_view url);

}  // namespace nexus

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// SQLite storage. One writer connection carries every write: writers of this
// process queue for it (group commit: a batch of them shares one transaction
// and one fsync) and never meet SQLITE_BUSY among themselves; only another
// process can make a write wait, up to the busy timeout. Readers take a
// connection from a pool: in WAL mode they run concurrently with each other
// and with the writer, each statement reading a consistent snapshot. Point
// reads of providers go through an in-process cache that every commit of any
// connection clears (see ProviderCache).
#include "storage/sqlite/sqlite_storage.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "detail/audit_chain.hpp"
#include "nexus/clock.hpp"
#include "nexus/storage.hpp"
#include "nexus/vault.hpp"
#include "storage/sqlite/group_commit.hpp"
#include "storage/sqlite/migrations.hpp"
#include "storage/sqlite/provider_cache.hpp"
#include "storage/sqlite/provider_columns.hpp"
#include "storage/sqlite/schema.hpp"
#include "storage/sqlite/sqlite_connection.hpp"
#include "storage/storage_common.hpp"

namespace nexus {
namespace sqlite {
namespace {

// ---------------------------------------------------------------------------
// Rows

// The SELECT list and the ?N numbering of the INSERT and UPDATE below share
// one order: column k of a SELECT is parameter k + 1.
// The SELECT list ends with provider_discovery's columns (kDiscovery*), which
// only kProviderFrom supplies.
constexpr const char* kProviderColumns =
    "id, workspace, name, auth_type, client_id, client_secret, issuer, auth_url, token_url, "
    "api_base_url, user_info_endpoint, jwks_uri, enable_discovery, scopes, params, "
    "credential_schema, description, category, created_at, updated_at, version, "
    "document, last_error, last_attempt_at";
constexpr const char* kProviderFrom =
    " FROM providers LEFT JOIN provider_discovery ON provider_discovery.provider_id = "
    "providers.id";
enum ProviderColumn {
  kId,
  kWorkspace,
  kName,
  kAuthType,
  kClientId,
  kClientSecret,
  kIssuer,
  kAuthUrl,
  kTokenUrl,
  kApiBaseUrl,
  kUserInfoEndpoint,
  kJwksUri,
  kEnableDiscovery,
  kScopes,
  kParams,
  kCredentialSchema,
  kDescription,
  kCategory,
  kCreatedAt,
  kUpdatedAt,
  kVersion,
  kDiscoveryDocument,
  kDiscoveryLastError,
  kDiscoveryLastAttemptAt
};

constexpr std::string_view kInsertProvider =
    "INSERT INTO providers (id, workspace, name, auth_type, client_id, client_secret, issuer, "
    "auth_url, token_url, api_base_url, user_info_endpoint, jwks_uri, enable_discovery, scopes, "
    "params, credential_schema, description, category, created_at, updated_at, version) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
    "?19, ?20, ?21)";
// Changes nothing unless the stored version is ?22, the one expected.
constexpr std::string_view kUpdateProvider =
    "UPDATE providers SET id = ?1, auth_type = ?4, client_id = ?5, client_secret = ?6, "
    "issuer = ?7, auth_url = ?8, token_url = ?9, api_base_url = ?10, user_info_endpoint = ?11, "
    "jwks_uri = ?12, enable_discovery = ?13, scopes = ?14, params = ?15, "
    "credential_schema = ?16, description = ?17, category = ?18, created_at = ?19, "
    "updated_at = ?20, version = ?21 WHERE workspace = ?2 AND name = ?3 AND version = ?22";
constexpr int kExpectedVersionParameter = 22;

constexpr const char* kAuditColumns =
    "workspace, seq, id, event_type, provider_name, provider_id, actor, caller_ip, user_agent, "
    "at, data, prev_hash, hash";
enum AuditColumn {
  kEvWorkspace,
  kEvSeq,
  kEvId,
  kEvType,
  kEvProviderName,
  kEvProviderId,
  kEvActor,
  kEvCallerIp,
  kEvUserAgent,
  kEvAt,
  kEvData,
  kEvPrevHash,
  kEvHash
};

std::int64_t to_millis(Timestamp t) { return t.time_since_epoch().count(); }
Timestamp from_millis(std::int64_t ms) { return Timestamp(std::chrono::milliseconds(ms)); }

std::int64_t sql_limit(std::size_t limit) {
  return static_cast<std::int64_t>(
      std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max()));
}

// REQUIRES: `p` outlives `stmt` (its fields are bound without copies).
void bind_provider(Statement& stmt, const Provider& p) {
  const ProviderSpec& s = p.spec;
  stmt.bind_ref(kId + 1, p.id)
      .bind_ref(kWorkspace + 1, p.workspace)
      .bind_ref(kName + 1, s.name)
      .bind_ref(kAuthType + 1, to_string(s.auth_type))
      .bind_ref(kClientId + 1, s.client_id)
      .bind_ref(kIssuer + 1, s.issuer)
      .bind_ref(kAuthUrl + 1, s.auth_url)
      .bind_ref(kTokenUrl + 1, s.token_url)
      .bind_ref(kApiBaseUrl + 1, s.api_base_url)
      .bind_ref(kUserInfoEndpoint + 1, s.user_info_endpoint)
      .bind_ref(kJwksUri + 1, s.jwks_uri)
      .bind(kEnableDiscovery + 1, std::int64_t{s.enable_discovery ? 1 : 0})
      .bind(kScopes + 1, encode_scopes(s.scopes))
      .bind(kParams + 1, encode_params(s.params))
      .bind_ref(kDescription + 1, s.description)
      .bind_ref(kCategory + 1, s.category)
      .bind(kCreatedAt + 1, to_millis(p.created_at))
      .bind(kUpdatedAt + 1, to_millis(p.updated_at))
      .bind(kVersion + 1, p.version);
  // A sealed secret is a BLOB; a TEXT value is a plaintext secret (written by
  // schema version 1, or by a caller that seals nothing).
  if (!p.sealed_client_secret.empty()) {
    stmt.bind_blob(kClientSecret + 1, p.sealed_client_secret);
  } else {
    stmt.bind_ref(kClientSecret + 1, s.client_secret);
  }
  if (s.credential_schema) {
    stmt.bind(kCredentialSchema + 1, encode_credential_schema(*s.credential_schema));
  } else {
    stmt.bind_null(kCredentialSchema + 1);
  }
}

Status corrupt_row(std::string_view table) {
  return Status(ErrorCode::kInternal, "a stored row of " + std::string(table) +
                                          " cannot be read; the database may be "
                                          "damaged");
}

Result<Provider> read_provider(const Statement& row) {
  Provider p;
  ProviderSpec& s = p.spec;
  p.id = row.text(kId);
  p.workspace = row.text(kWorkspace);
  s.name = row.text(kName);
  auto auth_type = parse_auth_type(row.text(kAuthType));
  auto scopes = decode_scopes(row.text(kScopes));
  auto params = decode_params(row.text(kParams));
  if (!auth_type || !scopes || !params) return corrupt_row("providers");
  s.auth_type = *auth_type;
  s.scopes = std::move(*scopes);
  s.params = std::move(*params);
  if (!row.is_null(kCredentialSchema)) {
    auto schema = decode_credential_schema(row.text(kCredentialSchema));
    if (!schema) return corrupt_row("providers");
    s.credential_schema = std::move(*schema);
  }
  s.client_id = row.optional_text(kClientId);
  if (row.is_blob(kClientSecret)) {
    p.sealed_client_secret = row.blob(kClientSecret);
  } else {
    s.client_secret = row.optional_text(kClientSecret);
  }
  s.issuer = row.optional_text(kIssuer);
  s.auth_url = row.optional_text(kAuthUrl);
  s.token_url = row.optional_text(kTokenUrl);
  s.api_base_url = row.optional_text(kApiBaseUrl);
  s.user_info_endpoint = row.optional_text(kUserInfoEndpoint);
  s.jwks_uri = row.optional_text(kJwksUri);
  s.enable_discovery = row.integer(kEnableDiscovery) != 0;
  s.description = row.optional_text(kDescription);
  s.category = row.optional_text(kCategory);
  p.created_at = from_millis(row.integer(kCreatedAt));
  p.updated_at = from_millis(row.integer(kUpdatedAt));
  p.version = row.integer(kVersion);
  if (!row.is_null(kDiscoveryLastAttemptAt)) {
    auto discovery = decode_discovery_state(row.optional_text(kDiscoveryDocument),
                                            row.optional_text(kDiscoveryLastError),
                                            from_millis(row.integer(kDiscoveryLastAttemptAt)));
    if (!discovery) return corrupt_row("provider_discovery");
    p.discovery = std::move(*discovery);
  }
  return p;
}

AuditEvent read_event(const Statement& row) {
  AuditEvent e;
  e.workspace = row.text(kEvWorkspace);
  e.seq = row.integer(kEvSeq);
  e.id = row.text(kEvId);
  e.event_type = row.text(kEvType);
  e.provider_name = row.text(kEvProviderName);
  e.provider_id = row.text(kEvProviderId);
  e.actor = row.optional_text(kEvActor);
  e.caller_ip = row.text(kEvCallerIp);
  e.user_agent = row.text(kEvUserAgent);
  e.at = from_millis(row.integer(kEvAt));
  e.data = row.text(kEvData);
  e.prev_hash = row.text(kEvPrevHash);
  e.hash = row.text(kEvHash);
  return e;
}

constexpr const char* kApiKeyColumns = "id, workspace, role, label, hash, created_at, revoked_at";
enum ApiKeyColumn {
  kKeyId,
  kKeyWorkspace,
  kKeyRole,
  kKeyLabel,
  kKeyHash,
  kKeyCreatedAt,
  kKeyRevokedAt
};

Result<StoredApiKey> read_api_key(const Statement& row) {
  StoredApiKey k;
  k.key.id = row.text(kKeyId);
  k.key.workspace = row.text(kKeyWorkspace);
  auto role = parse_role(row.text(kKeyRole));
  if (!role) return corrupt_row("api_keys");
  k.key.role = *role;
  k.key.label = row.text(kKeyLabel);
  k.hash = row.text(kKeyHash);
  k.key.created_at = from_millis(row.integer(kKeyCreatedAt));
  if (!row.is_null(kKeyRevokedAt)) k.key.revoked_at = from_millis(row.integer(kKeyRevokedAt));
  return k;
}

Status api_key_not_found(bool active_only) {
  return Status(ErrorCode::kNotFound,
                active_only ? "no active API key has that id" : "no API key has that id");
}

// Collects every row of `stmt`, read by `read_row`, into a vector.
template <typename T, typename ReadRow>
Result<std::vector<T>> collect(Statement& stmt, std::string_view operation, ReadRow read_row) {
  std::vector<T> out;
  int rc;
  while ((rc = stmt.step()) == SQLITE_ROW) {
    Result<T> item = read_row(stmt);
    if (!item.ok()) return item.status();
    out.push_back(std::move(item).value());
  }
  if (rc != SQLITE_DONE) return error_status(rc, operation);
  return out;
}

constexpr const char* kConnectionColumns =
    "connections.id, connections.workspace, connections.provider_id, connections.provider_name, "
    "connections.user_id, connections.status, connections.created_at, connections.updated_at";
constexpr int kConnectionColumnCount = 8;

Result<ConnectionRecord> read_connection(const Statement& row) {
  ConnectionRecord c;
  c.id = row.text(0);
  c.workspace = row.text(1);
  c.provider_id = row.text(2);
  c.provider_name = row.text(3);
  c.user_id = row.text(4);
  std::string status = row.text(5);
  if (status == to_string(ConnectionStatus::kActive)) {
    c.status = ConnectionStatus::kActive;
  } else if (status == to_string(ConnectionStatus::kProviderDeleted)) {
    c.status = ConnectionStatus::kProviderDeleted;
  } else {
    return corrupt_row("connections");
  }
  c.created_at = from_millis(row.integer(6));
  c.updated_at = from_millis(row.integer(7));
  return c;
}

// Every sealed value, in a stable order.
const std::string kAllEnvelopes =
    std::string(kProviderEnvelopes) + std::string(kCredentialEnvelopes) + " ORDER BY 2, 3, 4";

// Rolls back whatever the connection still has open when it goes out of
// scope: an error return, a failed COMMIT or an exception.
class RollbackOnExit {
 public:
  explicit RollbackOnExit(Connection& c) : c_(c) {}
  RollbackOnExit(const RollbackOnExit&) = delete;
  RollbackOnExit& operator=(const RollbackOnExit&) = delete;
  ~RollbackOnExit() {
    if (c_.in_transaction()) c_.run("ROLLBACK");
  }

 private:
  Connection& c_;
};

// Runs `body` (returning Status) inside BEGIN IMMEDIATE ... COMMIT. Any
// failure rolls back, leaving the database as it was.
template <typename F>
Status in_write_transaction(Connection& c, std::string_view operation, F&& body) {
  // IMMEDIATE takes the write lock up front, so a busy database is reported
  // here, before any work, rather than at the first write.
  if (int rc = c.run("BEGIN IMMEDIATE"); rc != SQLITE_DONE) return error_status(rc, operation);
  RollbackOnExit rollback(c);
  Status status = body();
  if (!status.ok()) return status;
  if (int rc = c.run("COMMIT"); rc != SQLITE_DONE) return error_status(rc, operation);
  return Status::Ok();
}

// The stored version of (workspace, name); nullopt when absent.
Result<std::optional<std::int64_t>> stored_version(Connection& c, std::string_view workspace,
                                                   std::string_view name,
                                                   std::string_view operation) {
  int rc;
  auto stmt = c.prepare("SELECT version FROM providers WHERE workspace = ?1 AND name = ?2", rc);
  if (!stmt) return error_status(rc, operation);
  stmt->bind(1, workspace).bind(2, name);
  rc = stmt->step();
  if (rc == SQLITE_ROW) return std::optional<std::int64_t>(stmt->integer(0));
  if (rc == SQLITE_DONE) return std::optional<std::int64_t>();
  return error_status(rc, operation);
}

// Checks that (workspace, name) is stored at `expected_version`.
Status check_version(Connection& c, std::string_view workspace, std::string_view name,
                     std::int64_t expected_version, std::string_view operation) {
  auto version = stored_version(c, workspace, name, operation);
  if (!version.ok()) return version.status();
  if (!version->has_value()) return detail::provider_not_found();
  if (**version != expected_version) return detail::version_conflict(**version, expected_version);
  return Status::Ok();
}

// Makes provider_discovery hold provider.discovery: the row replaced, or
// deleted when there is none. REQUIRES: the provider row is written.
Status write_discovery_row(Connection& c, const Provider& provider, std::string_view operation) {
  int rc;
  if (!provider.discovery) {
    auto stmt = c.prepare("DELETE FROM provider_discovery WHERE provider_id = ?1", rc);
    if (!stmt) return error_status(rc, operation);
    stmt->bind(1, provider.id);
    rc = stmt->run();
    return rc == SQLITE_DONE ? Status::Ok() : error_status(rc, operation);
  }
  const DiscoveryState& state = *provider.discovery;
  auto stmt = c.prepare(
      "INSERT INTO provider_discovery (provider_id, document, fetched_at, expires_at, "
      "last_error, last_attempt_at, next_refresh_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
      "ON CONFLICT (provider_id) DO UPDATE SET document = excluded.document, "
      "fetched_at = excluded.fetched_at, expires_at = excluded.expires_at, "
      "last_error = excluded.last_error, last_attempt_at = excluded.last_attempt_at, "
      "next_refresh_at = excluded.next_refresh_at",
      rc);
  if (!stmt) return error_status(rc, operation);
  stmt->bind(1, provider.id)
      .bind(5, encode_discovery_error(state.last_error))
      .bind(6, to_millis(state.last_attempt_at))
      .bind(7, to_millis(next_refresh_at(state)));
  if (state.document) {
    stmt->bind(2, encode_discovery_document(*state.document))
        .bind(3, to_millis(state.document->fetched_at))
        .bind(4, to_millis(state.document->expires_at));
  } else {
    stmt->bind_null(2).bind_null(3).bind_null(4);
  }
  rc = stmt->run();
  return rc == SQLITE_DONE ? Status::Ok() : error_status(rc, operation);
}

// Inserts the provider row. The UNIQUE (workspace, name) constraint reports a
// taken name, so no read precedes the write.
Status insert_provider_row(Connection& c, const Provider& provider, std::string_view operation) {
  int rc;
  auto stmt = c.prepare(kInsertProvider, rc);
  if (!stmt) return error_status(rc, operation);
  bind_provider(*stmt, provider);
  rc = stmt->run();
  if (rc == SQLITE_DONE) return Status::Ok();
  if (rc == SQLITE_CONSTRAINT_UNIQUE) return detail::provider_exists();
  if (rc != SQLITE_CONSTRAINT_PRIMARYKEY) return error_status(rc, operation);
  // The id is taken; a taken name, checked in whichever order, says more.
  stmt.reset();
  auto version = stored_version(c, provider.workspace, provider.spec.name, operation);
  if (!version.ok()) return version.status();
  return version->has_value() ? detail::provider_exists() : detail::provider_id_taken();
}

// Replaces the provider row when it is stored at `expected_version`.
Status update_provider_row(Connection& c, const Provider& provider, std::int64_t expected_version,
                           std::string_view operation) {
  int rc;
  {
    auto stmt = c.prepare(kUpdateProvider, rc);
    if (!stmt) return error_status(rc, operation);
    bind_provider(*stmt, provider);
    stmt->bind(kExpectedVersionParameter, expected_version);
    rc = stmt->run();
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) return detail::provider_id_taken();
    if (rc != SQLITE_DONE) return error_status(rc, operation);
  }
  if (sqlite3_changes(c.handle()) > 0) return Status::Ok();
  // Nothing matched: tell a missing provider from a stale version.
  return check_version(c, provider.workspace, provider.spec.name, expected_version, operation);
}

// The statement scan_audit runs for `scan`: one per combination of filters
// (values are bound), each served by an index (see audit_scan_plan).
std::string audit_scan_sql(const AuditScan& scan) {
  std::string sql =
      std::string("SELECT ") + kAuditColumns + " FROM audit_events WHERE workspace = ?1";
  if (scan.event_type) sql += " AND event_type = ?2";
  if (scan.since) sql += " AND at >= ?3";
  if (scan.until) sql += " AND at < ?4";
  if (scan.provider_name) sql += " AND provider_name = ?5";
  if (scan.before_seq) sql += " AND seq < ?6";
  sql += " ORDER BY seq DESC LIMIT ?7";
  return sql;
}

Result<AuditHead> read_head(Connection& c, std::string_view workspace, std::string_view operation) {
  int rc;
  auto stmt = c.prepare("SELECT seq, hash FROM audit_heads WHERE workspace = ?1", rc);
  if (!stmt) return error_status(rc, operation);
  stmt->bind(1, workspace);
  rc = stmt->step();
  if (rc == SQLITE_ROW) return AuditHead{stmt->integer(0), stmt->text(1)};
  if (rc == SQLITE_DONE) return detail::genesis_head();
  return error_status(rc, operation);
}

// Connections as the writer last read them for a credential read, so that
// the next read of the same connection skips the query (a join of three
// tables). Only complete reads are kept (an active connection and its
// provider), with the sealed envelopes, never a plaintext. Used on the
// writer only, under its mutex, and emptied whenever what it holds may have
// changed: when any mutation but a credential read or an audit append
// begins (it may change a connection or a provider), when a batch ends
// without committing (what was read inside it may be rolled back), and when
// another connection has committed (AuditHeads::begin, after BEGIN
// IMMEDIATE: no other connection commits until this transaction ends).
class ConnectionReads {
 public:
  static constexpr std::size_t kCapacity = 4096;

  const ConnectionRead* find(std::string_view workspace, std::string_view id) const {
    auto it = reads_.find(id);
    if (it == reads_.end() || it->second.connection->workspace != workspace) return nullptr;
    return &it->second;
  }

  // Keeps `read` when it is complete. Never throws: out of memory, nothing
  // is kept.
  void keep(std::string_view id, ConnectionRead&& read) noexcept {
    if (!read.connection.ok() || !read.provider.ok()) return;
    try {
      if (reads_.size() >= kCapacity) reads_.clear();
      reads_.insert_or_assign(std::string(id), std::move(read));
    } catch (...) {
      reads_.clear();
    }
  }

  void clear() noexcept { reads_.clear(); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  std::unordered_map<std::string, ConnectionRead, Hash, std::equal_to<>> reads_;
};

// The audit chain heads of the workspaces this process appends to, on the
// writer's side. Kept across write transactions while no other connection
// commits (checked at the start of each one: the writer's PRAGMA
// data_version changes only for other connections' commits), and written to
// audit_heads once per transaction, however many events it appends. Used
// only by the group commit's leader, with the writer's mutex held.
class AuditHeads final : public BatchHooks {
 public:
  // `reads` is emptied with the heads (ConnectionReads).
  explicit AuditHeads(ConnectionReads& reads) : reads_(reads) {}

  Status begin(Connection& c) override {
    constexpr std::string_view kOp = "begin a write transaction";
    int rc;
    auto stmt = c.prepare("PRAGMA data_version", rc);
    if (!stmt) return error_status(rc, kOp);
    if ((rc = stmt->step()) != SQLITE_ROW) return error_status(rc, kOp);
    const std::int64_t version = stmt->integer(0);
    if (data_version_ != version) {  // another connection wrote
      heads_.clear();
      reads_.clear();
    }
    data_version_ = version;
    return Status::Ok();
  }

  // The head of `workspace` at this point of the transaction.
  Result<AuditHead> get(Connection& c, std::string_view workspace, std::string_view operation) {
    if (auto it = heads_.find(workspace); it != heads_.end()) return it->second;
    auto head = read_head(c, workspace, operation);
    if (head.ok()) heads_.emplace(std::string(workspace), *head);
    return head;
  }

  // Moves the head of `workspace` on; undone if the mutation is rolled back.
  void advance(std::string_view workspace, AuditHead next) {
    auto it = heads_.find(workspace);  // present: get() came first
    undo_.emplace_back(it->first, it->second);
    it->second = std::move(next);
    dirty_.insert(it->first);
  }

  void mutation_done(bool kept) override {
    if (!kept) {
      for (auto u = undo_.rbegin(); u != undo_.rend(); ++u) heads_[u->first] = std::move(u->second);
    }
    undo_.clear();
  }

  Status before_commit(Connection& c) override {
    constexpr std::string_view kOp = "advance the audit chain";
    for (const std::string& workspace : dirty_) {
      int rc;
      auto stmt = c.prepare(
          "INSERT INTO audit_heads (workspace, seq, hash) VALUES (?1, ?2, ?3) "
          "ON CONFLICT (workspace) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
          rc);
      if (!stmt) return error_status(rc, kOp);
      const AuditHead& head = heads_.at(workspace);
      stmt->bind(1, workspace).bind(2, head.seq).bind(3, head.hash);
      if ((rc = stmt->run()) != SQLITE_DONE) return error_status(rc, kOp);
    }
    return Status::Ok();
  }

  void end(bool committed) override {
    // Heads advanced by a transaction that did not commit are not stored,
    // and what was read inside it may be rolled back.
    if (!committed) {
      heads_.clear();
      reads_.clear();
    }
    dirty_.clear();
    undo_.clear();
  }

 private:
  ConnectionReads& reads_;
  std::optional<std::int64_t> data_version_;
  std::map<std::string, AuditHead, std::less<>> heads_;
  std::set<std::string, std::less<>> dirty_;             // advanced in this transaction
  std::vector<std::pair<std::string, AuditHead>> undo_;  // of the running mutation
};

// Appends `event` to the chain of `workspace`: one INSERT, the only change
// it makes (the mutations that only append run as
// Isolation::kSingleStatement).
// REQUIRES: inside a write transaction of the group commit.
Status append_event(Connection& c, AuditHeads& heads, AuditEvent& event, std::string_view workspace,
                    std::string_view operation) {
  if (event.id.empty()) return detail::audit_event_without_id();
  auto head = heads.get(c, workspace, operation);
  if (!head.ok()) return head.status();
  AuditHead next = detail::link_audit_event(event, workspace, *head);
  int rc;
  auto stmt = c.prepare(
      "INSERT INTO audit_events (workspace, seq, id, event_type, provider_name, provider_id, "
      "actor, caller_ip, user_agent, at, data, prev_hash, hash) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
      rc);
  if (!stmt) return error_status(rc, operation);
  stmt->bind_ref(kEvWorkspace + 1, event.workspace)
      .bind(kEvSeq + 1, event.seq)
      .bind_ref(kEvId + 1, event.id)
      .bind_ref(kEvType + 1, event.event_type)
      .bind_ref(kEvProviderName + 1, event.provider_name)
      .bind_ref(kEvProviderId + 1, event.provider_id)
      .bind_ref(kEvActor + 1, event.actor)
      .bind_ref(kEvCallerIp + 1, event.caller_ip)
      .bind_ref(kEvUserAgent + 1, event.user_agent)
      .bind(kEvAt + 1, to_millis(event.at))
      .bind_ref(kEvData + 1, event.data)
      .bind_ref(kEvPrevHash + 1, event.prev_hash)
      .bind_ref(kEvHash + 1, event.hash);
  if ((rc = stmt->run()) != SQLITE_DONE) return error_status(rc, operation);
  heads.advance(workspace, std::move(next));
  return Status::Ok();
}

// Fills record.credentials with field names only (empty envelopes), ordered
// by field: listings never load sealed values.
Status read_credential_names(Connection& c, ConnectionRecord& record, std::string_view operation) {
  int rc;
  auto stmt = c.prepare(
      "SELECT field FROM connection_credentials WHERE connection_id = ?1 ORDER BY field", rc);
  if (!stmt) return error_status(rc, operation);
  stmt->bind(1, record.id);
  record.credentials.clear();
  while ((rc = stmt->step()) == SQLITE_ROW) record.credentials.push_back({stmt->text(0), {}});
  return rc == SQLITE_DONE ? Status::Ok() : error_status(rc, operation);
}

// Connection `id` of `workspace` with its sealed values, sorted by field, and
// (only when it is active) its provider: one statement, so one snapshot.
ConnectionRead select_connection(Connection& c, std::string_view workspace, std::string_view id,
                                 std::string_view operation) {
  // Sorted here rather than by SQL, which would sort in a temporary b-tree.
  static const std::string kSql =
      std::string("SELECT ") + kConnectionColumns +
      ", f.field, f.envelope, p.id, p.name, p.auth_type, p.api_base_url FROM connections "
      "LEFT JOIN connection_credentials f ON f.connection_id = connections.id "
      "LEFT JOIN providers p ON p.id = connections.provider_id AND "
      "p.workspace = connections.workspace "
      "WHERE connections.id = ?1 AND connections.workspace = ?2";
  constexpr int kField = kConnectionColumnCount;
  constexpr int kEnvelope = kConnectionColumnCount + 1;
  constexpr int kProviderId = kConnectionColumnCount + 2;
  constexpr int kProviderName = kConnectionColumnCount + 3;
  constexpr int kProviderAuthType = kConnectionColumnCount + 4;
  constexpr int kProviderApiBaseUrl = kConnectionColumnCount + 5;
  auto failed = [](Status s) { return ConnectionRead{s, s}; };
  int rc;
  auto stmt = c.prepare(kSql, rc);
  if (!stmt) return failed(error_status(rc, operation));
  stmt->bind(1, id).bind(2, workspace);
  rc = stmt->step();
  if (rc == SQLITE_DONE) return failed(detail::connection_not_found());
  if (rc != SQLITE_ROW) return failed(error_status(rc, operation));
  Result<ConnectionRecord> record = read_connection(*stmt);
  if (!record.ok()) return failed(record.status());
  const bool has_provider =
      record->status == ConnectionStatus::kActive && !stmt->is_null(kProviderId);
  std::optional<AuthType> auth_type;
  if (has_provider) {
    auth_type = parse_auth_type(stmt->text_view(kProviderAuthType));
    if (!auth_type) return failed(corrupt_row("providers"));
  }
  Result<ProviderBrief> provider =
      has_provider ? Result<ProviderBrief>(
                         ProviderBrief{.id = stmt->text(kProviderId),
                                       .name = stmt->text(kProviderName),
                                       .auth_type = *auth_type,
                                       .api_base_url = stmt->optional_text(kProviderApiBaseUrl)})
                   : Result<ProviderBrief>(detail::provider_not_found());
  for (; rc == SQLITE_ROW; rc = stmt->step()) {
    if (stmt->is_null(kField)) break;  // no sealed values (provider deleted)
    record->credentials.push_back(SealedField{stmt->text(kField), stmt->blob(kEnvelope)});
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return failed(error_status(rc, operation));
  std::sort(record->credentials.begin(), record->credentials.end(),
            [](const SealedField& a, const SealedField& b) { return a.name < b.name; });
  return {std::move(record), std::move(provider)};
}

// ---------------------------------------------------------------------------
// Opening

Status cannot_open(const std::string& path, std::string_view why = {}) {
  std::string message = "cannot open the database at '" + path + "'";
  if (!why.empty()) message.append(": ").append(why);
  return Status(ErrorCode::kUnavailable, std::move(message));
}

// The Status of a failure while opening and configuring `path`.
Status open_error(const std::string& path, int rc) {
  const int primary = rc & 0xff;
  if (is_busy(rc)) return error_status(rc, "open the database");
  if (primary == SQLITE_NOTADB) return cannot_open(path, "the file is not a SQLite database");
  if (primary == SQLITE_CANTOPEN || primary == SQLITE_PERM || primary == SQLITE_READONLY ||
      primary == SQLITE_IOERR || primary == SQLITE_AUTH) {
    return cannot_open(path, sqlite3_errstr(rc));
  }
  return Status(ErrorCode::kInternal,
                "cannot configure the database at '" + path + "' (" + sqlite3_errstr(rc) + ")");
}

// Settings that hold per connection; journal_mode is stored in the file.
int configure(Connection& c, const SqliteOptions& options, bool reader) {
  int rc = sqlite3_busy_timeout(c.handle(), options.busy_timeout_ms);
  if (rc != SQLITE_OK) return rc;
  // FULL: a commit is on disk (WAL fsync'ed) before it is acknowledged.
  // secure_delete: erased credentials are overwritten, not left in free pages.
  for (std::string_view pragma :
       {"PRAGMA synchronous = FULL", "PRAGMA foreign_keys = ON", "PRAGMA secure_delete = ON"}) {
    if ((rc = c.run(pragma)) != SQLITE_DONE) return rc;
  }
  // Readers must never write: that is the writer connection's job.
  if (reader && (rc = c.run("PRAGMA query_only = ON")) != SQLITE_DONE) return rc;
  return SQLITE_OK;
}

Status enable_wal(Connection& c, const std::string& path) {
  int rc;
  auto stmt = c.prepare("PRAGMA journal_mode = WAL", rc);
  if (!stmt) return open_error(path, rc);
  rc = stmt->step();
  if (rc != SQLITE_ROW) return open_error(path, rc);
  if (stmt->text(0) != "wal") {
    return Status(ErrorCode::kInternal, "the database at '" + path +
                                            "' cannot use write-ahead logging on this file system");
  }
  return Status::Ok();
}

constexpr std::string_view kMigrateOperation = "migrate the database schema";

Status migration_failed(const Migration& m, int rc) {
  if (is_busy(rc)) return error_status(rc, kMigrateOperation);
  return Status(ErrorCode::kInternal, "schema migration " + std::to_string(m.version) + " (" +
                                          std::string(m.name) + ") failed (" + sqlite3_errstr(rc) +
                                          "); nothing of it was applied");
}

// Applies every migration the database lacks, each with its record in one
// transaction; the version is re-read inside it because another process may
// migrate the same file at the same time. `upgraded`: whether a database that
// had a schema already was migrated.
Status migrate(Connection& c, const std::string& path, bool& upgraded) {
  upgraded = false;
  auto version = schema_version(c, kMigrateOperation);
  if (!version.ok()) return version.status();
  if (*version > kLatestSchemaVersion) return schema_too_new(path, *version);
  for (const Migration& m : kMigrations) {
    if (m.version <= *version) continue;
    Status status = in_write_transaction(c, kMigrateOperation, [&]() -> Status {
      int rc = c.exec_script(
          "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
          "name TEXT NOT NULL, applied_at TEXT NOT NULL)");
      if (rc != SQLITE_OK) return migration_failed(m, rc);
      auto current = schema_version(c, kMigrateOperation);
      if (!current.ok()) return current.status();
      if (*current > kLatestSchemaVersion) return schema_too_new(path, *current);
      if (*current >= m.version) return Status::Ok();
      if ((rc = c.exec_script(m.sql)) != SQLITE_OK) return migration_failed(m, rc);
      auto record = c.prepare(
          "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)", rc);
      if (!record) return migration_failed(m, rc);
      record->bind(1, std::int64_t{m.version})
          .bind(2, m.name)
          .bind(3, format_rfc3339(system_clock().now()));
      if ((rc = record->run()) != SQLITE_DONE) return migration_failed(m, rc);
      return Status::Ok();
    });
    if (!status.ok()) return status;
    upgraded = *version > 0;
  }
  return Status::Ok();
}

// Copies the write-ahead log into the database and truncates it, waiting up
// to the connection's busy timeout. kUnavailable when a reader held on to the
// log. REQUIRES: no transaction open on `c`.
Status truncate_wal(Connection& c) {
  constexpr std::string_view kOp = "checkpoint the write-ahead log";
  int rc;
  auto stmt = c.prepare("PRAGMA wal_checkpoint(TRUNCATE)", rc);
  if (!stmt) return error_status(rc, kOp);
  if ((rc = stmt->step()) != SQLITE_ROW) return error_status(rc, kOp);
  // (busy, log frames, checkpointed frames): busy when a reader held on.
  if (stmt->integer(0) != 0) {
    return Status(ErrorCode::kUnavailable,
                  "the write-ahead log is in use by a reader; checkpoint again later");
  }
  return Status::Ok();
}

// A migration that rebuilds a table writes it, and the pages it frees, to the
// WAL, and the file keeps that size until a checkpoint truncates it. Tried
// once without waiting: a reader in another process may hold it off, and the
// log is then reused from its start after a later checkpoint instead.
void try_truncate_wal(Connection& c, const SqliteOptions& options) {
  sqlite3_busy_timeout(c.handle(), 0);
  (void)truncate_wal(c);
  sqlite3_busy_timeout(c.handle(), options.busy_timeout_ms);
}

// ---------------------------------------------------------------------------
// The storage

// Reader connections, each used by one thread at a time.
class ReaderPool {
  struct Reader {
    std::unique_ptr<Connection> connection;
    // PRAGMA data_version as this connection last reported it; it changes
    // whenever another connection commits.
    std::optional<std::int64_t> data_version;
  };

 public:
  class Lease {
   public:
    Lease(ReaderPool& pool, Reader* r) : pool_(&pool), r_(r) {}
    Lease(Lease&& other) noexcept : pool_(other.pool_), r_(std::exchange(other.r_, nullptr)) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (r_ != nullptr) pool_->release(r_);
    }
    Connection& operator*() const { return *r_->connection; }
    Connection* operator->() const { return r_->connection.get(); }
    std::optional<std::int64_t>& data_version() const { return r_->data_version; }

   private:
    ReaderPool* pool_;
    Reader* r_;
  };

  explicit ReaderPool(std::vector<std::unique_ptr<Connection>> connections) {
    readers_.reserve(connections.size());
    for (auto& c : connections) readers_.push_back(Reader{std::move(c), std::nullopt});
    for (auto& r : readers_) idle_.push_back(&r);
  }

  std::size_t size() const { return readers_.size(); }

  // Waits for an idle connection.
  Lease acquire() {
    std::unique_lock lock(mu_);
    available_.wait(lock, [&] { return !idle_.empty(); });
    Reader* r = idle_.back();
    idle_.pop_back();
    return Lease(*this, r);
  }

 private:
  void release(Reader* r) {
    {
      std::lock_guard lock(mu_);
      idle_.push_back(r);  // capacity for every reader was reserved by the constructor
    }
    available_.notify_one();
  }

  std::vector<Reader> readers_;  // never resized after construction
  std::mutex mu_;
  std::condition_variable available_;
  std::vector<Reader*> idle_;  // GUARDED_BY(mu_)
};

class SqliteStorage final : public Storage {
 public:
  SqliteStorage(std::unique_ptr<Connection> writer,
                std::vector<std::unique_ptr<Connection>> readers, const SqliteOptions& options)
      : writer_(std::move(writer)),
        committer_(
            *writer_, writer_mu_, heads_,
            GroupCommitOptions{.busy_timeout_ms = options.busy_timeout_ms,
                               .max_batch = std::max<std::size_t>(options.max_batch_writes, 1)}),
        readers_(std::move(readers)),
        providers_(options.provider_cache_entries) {}

  // Writes still queued run first, while everything they and their
  // completions may use is alive.
  ~SqliteStorage() override { committer_.stop(); }

  Status insert_provider(const Provider& provider, AuditEvent event) override {
    constexpr std::string_view kOp = "insert a provider";
    return write(kOp, [&](Connection& c) -> Status {
      Status status = insert_provider_row(c, provider, kOp);
      if (!status.ok()) return status;
      // A new id has no discovery row to replace.
      if (provider.discovery) {
        if (status = write_discovery_row(c, provider, kOp); !status.ok()) return status;
      }
      return append_event(c, heads_, event, provider.workspace, kOp);
    });
  }

  Status update_provider(const Provider& provider, std::int64_t expected_version,
                         AuditEvent event) override {
    constexpr std::string_view kOp = "update a provider";
    return write(kOp, [&](Connection& c) -> Status {
      Status status = update_provider_row(c, provider, expected_version, kOp);
      if (!status.ok()) return status;
      if (status = write_discovery_row(c, provider, kOp); !status.ok()) return status;
      return append_event(c, heads_, event, provider.workspace, kOp);
    });
  }

  Status delete_provider(std::string_view workspace, std::string_view name,
                         std::int64_t expected_version, AuditEvent event) override {
    constexpr std::string_view kOp = "delete a provider";
    return write(kOp, [&](Connection& c) -> Status {
      Status status = check_version(c, workspace, name, expected_version, kOp);
      if (!status.ok()) return status;
      int rc;
      // The provider's connections can no longer be used: say so, and erase
      // their sealed values rather than keep secrets nobody can retrieve.
      for (std::string_view sql :
           {"DELETE FROM connection_credentials WHERE connection_id IN (SELECT c.id FROM "
            "connections c JOIN providers p ON c.provider_id = p.id WHERE p.workspace = ?1 AND "
            "p.name = ?2)",
            "UPDATE connections SET status = 'provider_deleted', updated_at = ?3 WHERE "
            "provider_id = (SELECT id FROM providers WHERE workspace = ?1 AND name = ?2)",
            "DELETE FROM providers WHERE workspace = ?1 AND name = ?2"}) {
        auto stmt = c.prepare(sql, rc);
        if (!stmt) return error_status(rc, kOp);
        stmt->bind(1, workspace).bind(2, name);
        if (sql.find("?3") != std::string_view::npos) stmt->bind(3, to_millis(event.at));
        if ((rc = stmt->run()) != SQLITE_DONE) return error_status(rc, kOp);
      }
      return append_event(c, heads_, event, workspace, kOp);
    });
  }

  Result<Provider> get_provider(std::string_view workspace, std::string_view name) override {
    static const std::string kSql = std::string("SELECT ") + kProviderColumns + kProviderFrom +
                                    " WHERE workspace = ?1 AND name = ?2";
    return cached_provider(kSql, workspace, name,
                           [&] { return providers_.by_name(workspace, name); });
  }

  Result<std::vector<Provider>> list_providers(const ProviderListQuery& query) override {
    constexpr std::string_view kOp = "list providers";
    return read<std::vector<Provider>>(kOp, [&](Connection& c) -> Result<std::vector<Provider>> {
      // One cached statement per combination of filters; values are bound.
      std::string sql =
          std::string("SELECT ") + kProviderColumns + kProviderFrom + " WHERE workspace = ?1";
      if (query.after_name) sql += " AND name > ?2";
      if (query.auth_type) sql += " AND auth_type = ?3";
      if (query.category) sql += " AND category = ?4";
      sql += " ORDER BY name LIMIT ?5";
      int rc;
      auto stmt = c.prepare(sql, rc);
      if (!stmt) return error_status(rc, kOp);
      stmt->bind(1, query.workspace);
      if (query.after_name) stmt->bind(2, *query.after_name);
      if (query.auth_type) stmt->bind(3, to_string(*query.auth_type));
      if (query.category) stmt->bind(4, *query.category);
      stmt->bind(5, sql_limit(query.limit));
      return collect<Provider>(*stmt, kOp, read_provider);
    });
  }

  Result<std::int64_t> count_providers(std::string_view workspace) override {
    constexpr std::string_view kOp = "count providers";
    return read<std::int64_t>(kOp, [&](Connection& c) -> Result<std::int64_t> {
      int rc;
      auto stmt = c.prepare("SELECT COUNT(*) FROM providers WHERE workspace = ?1", rc);
      if (!stmt) return error_status(rc, kOp);
      stmt->bind(1, workspace);
      if ((rc = stmt->step()) != SQLITE_ROW) return error_status(rc, kOp);
      return stmt->integer(0);
    });
  }

  Result<std::vector<AuditEvent>> scan_audit(const AuditScan& scan) override {
    constexpr std::string_view kOp = "read the audit log";
    return read<std::vector<AuditEvent>>(
        kOp, [&](Connection& c) -> Result<std::vector<AuditEvent>> {
          int rc;
          auto stmt = c.prepare(audit_scan_sql(scan), rc);
          if (!stmt) return error_status(rc, kOp);
          stmt->bind(1, scan.workspace);
          if (scan.event_type) stmt->bind(2, *scan.event_type);
          if (scan.since) stmt->bind(3, to_millis(*scan.since));
          if (scan.until) stmt->bind(4, to_millis(*scan.until));
          if (scan.provider_name) stmt->bind(5, *scan.provider_name);
          if (scan.before_seq) stmt->bind(6, *scan.before_seq);
          stmt->bind(7, sql_limit(scan.limit));
          return collect<AuditEvent>(*stmt, kOp, [](const Statement& row) -> Result<AuditEvent> {
            return read_event(row);
          });
        });
  }

  Result<std::vector<AuditEvent>> audit_chain(std::string_view workspace, std::int64_t after_seq,
                                              std::size_t limit) override {
    constexpr std::string_view kOp = "read the audit log";
    return read<std::vector<AuditEvent>>(
        kOp, [&](Connection& c) -> Result<std::vector<AuditEvent>> {
          int rc;
          static const std::string kSql = std::string("SELECT ") + kAuditColumns +
                                          " FROM audit_events WHERE workspace = ?1 AND seq > ?2 "
                                          "ORDER BY seq LIMIT ?3";
          auto stmt = c.prepare(kSql, rc);
          if (!stmt) return error_status(rc, kOp);
          stmt->bind(1, workspace).bind(2, after_seq).bind(3, sql_limit(limit));
          return collect<AuditEvent>(*stmt, kOp, [](const Statement& row) -> Result<AuditEvent> {
            return read_event(row);
          });
        });
  }

  Result<AuditHead> audit_head(std::string_view workspace) override {
    constexpr std::string_view kOp = "read the audit log";
    return read<AuditHead>(kOp, [&](Connection& c) { return read_head(c, workspace, kOp); });
  }

  Status ping() override {
    constexpr std::string_view kOp = "reach the database";
    auto answer = read<std::int64_t>(kOp, [&](Connection& c) -> Result<std::int64_t> {
      int rc;
      auto stmt = c.prepare("SELECT COUNT(*) FROM schema_migrations", rc);
      if (!stmt) return error_status(rc, kOp);
      if ((rc = stmt->step()) != SQLITE_ROW) return error_status(rc, kOp);
      return stmt->integer(0);
    });
    return answer.status();
  }

  Status insert_api_key(const StoredApiKey& key, AuditEvent event) override {
    constexpr std::string_view kOp = "insert an API key";
    return write(kOp, [&](Connection& c) -> Status {
      int rc;
      auto stmt = c.prepare(
          "INSERT INTO api_keys (id, workspace, role, label, hash, created_at, revoked_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
          rc);
      if (!stmt) return error_status(rc, kOp);
      stmt->bind(kKeyId + 1, key.key.id)
          .bind(kKeyWorkspace + 1, key.key.workspace)
          .bind(kKeyRole + 1, to_string(key.key.role))
          .bind(kKeyLabel + 1, key.key.label)
          .bind(kKeyHash + 1, key.hash)
          .bind(kKeyCreatedAt + 1, to_millis(key.key.created_at));
      if (key.key.revoked_at) {
        stmt->bind(kKeyRevokedAt + 1, to_millis(*key.key.revoked_at));
      } else {
        stmt->bind_null(kKeyRevokedAt + 1);
      }
      rc = stmt->run();
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return Status(ErrorCode::kInternal, "an API key with the same id already exists");
      }
      if (rc != SQLITE_DONE) return error_status(rc, kOp);
      return append_event(c, heads_, event, key.key.workspace, kOp);
    });
  }

  Result<StoredApiKey> get_api_key(std::string_view id) override {
    constexpr std::string_view kOp = "read an API key";
    return read<StoredApiKey>(kOp, [&](Connection& c) -> Result<StoredApiKey> {
      int rc;
      static const std::string kSql =
          std::string("SELECT ") + kApiKeyColumns + " FROM api_keys WHERE id = ?1";
      auto stmt = c.prepare(kSql, rc);
      if (!stmt) return error_status(rc, kOp);
      stmt->bind(1, id);
      rc = stmt->step();
      if (rc == SQLITE_ROW) return read_api_key(*stmt);
      if (rc == SQLITE_DONE) return api_key_not_found(false);
      return error_status(rc, kOp);
    });
  }

  Result<std::vector<StoredApiKey>> list_api_keys(
      std::optional<std::string_view> workspace) override {
    constexpr std::string_view kOp = "list API keys";
    return read<std::vector<StoredApiKey>>(
        kOp, [&](Connection& c) -> Result<std::vector<StoredApiKey>> {
          std::string sql = std::string("SELECT ") + kApiKeyColumns + " FROM api_keys";
          if (workspace) sql += " WHERE workspace = ?1";
          sql += " ORDER BY created_at, id";
          int rc;
          auto stmt = c.prepare(sql, rc);
          if (!stmt) return error_status(rc, kOp);
          if (workspace) stmt->bind(1, *workspace);
          return collect<StoredApiKey>(*stmt, kOp, read_api_key);
        });
  }

  Status revoke_api_key(std::string_view id, Timestamp at, AuditEvent event) override {
    constexpr std::string_view kOp = "revoke an API key";
    return write(kOp, [&](Connection& c) -> Status {
      int rc;
      std::string workspace;
      {
        auto find =
            c.prepare("SELECT workspace FROM api_keys WHERE id = ?1 AND revoked_at IS NULL", rc);
        if (!find) return error_status(rc, kOp);
        find->bind(1, id);
        rc = find->step();
        if (rc == SQLITE_DONE) return api_key_not_found(true);
        if (rc != SQLITE_ROW) return error_status(rc, kOp);
        workspace = find->text(0);
      }
      auto stmt = c.prepare("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1", rc);
      if (!stmt) return error_status(rc, kOp);
      stmt->bind(1, id).bind(2, to_millis(at));
      if ((rc = stmt->run()) != SQLITE_DONE) return error_status(rc, kOp);
      return append_event(c, heads_, event, workspace, kOp);
    });
  }

  Result<std::string> ensure_setting(std::string_view name,
                                     std::string_view value_if_absent) override {
    constexpr std::string_view kOp = "read a setting";
    Result<std::string> value = Status(ErrorCode::kInternal, "unreachable");
    // In the write transaction, so that concurrent first callers (in any
    // process) agree on one value.
    Status status = write(kOp, [&](Connection& c) -> Status {
      int rc;
      {
        auto insert = c.prepare(
            "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING", rc);
        if (!insert) return error_status(rc, kOp);
        insert->bind(1, name).bind(2, value_if_absent);
        if ((rc = insert->run()) != SQLITE_DONE) return error_status(rc, kOp);
      }
      auto select = c.prepare("SELECT value FROM settings WHERE name = ?1", rc);
      if (!select) return error_status(rc, kOp);
      select->bind(1, name);
      if ((rc = select->step()) != SQLITE_ROW) return error_status(rc, kOp);
      value = select->text(0);
      return Status::Ok();
    });
    if (!status.ok()) return status;
    return value;
  }

  Result<Provider> get_provider_by_id(std::string_view workspace, std::string_view id) override {
    static const std::string kSql = std::string("SELECT ") + kProviderColumns + kProviderFrom +
                                    " WHERE workspace = ?1 AND id = ?2";
    return cached_provider(kSql, workspace, id, [&] { return providers_.by_id(workspace, id); });
  }

  Status insert_connection(const ConnectionRecord& connection, AuditEvent event) override {
    constexpr std::string_view kOp = "insert a connection";
    return write(kOp, [&](Connection& c) -> Status {
      int rc;
      {
        auto stmt = c.prepare("SELECT 1 FROM providers WHERE id = ?1 AND workspace = ?2", rc);
        if (!stmt) return error_status(rc, kOp);
        stmt->bind(1, connection.provider_id).bind(2, connection.workspace);
        rc = stmt->step();
        if (rc == SQLITE_DONE) return detail::provider_not_found();
        if (rc != SQLITE_ROW) return error_status(rc, kOp);
      }
      {
        auto stmt = c.prepare(
            "INSERT INTO connections (id, workspace, provider_id, provider_name, user_id, status, "
            "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            rc);
        if (!stmt) return error_status(rc, kOp);
        stmt->bind(1, connection.id)
            .bind(2, connection.workspace)
            .bind(3, connection.provider_id)
            .bind(4, connection.provider_name)
            .bind(5, connection.user_id)
            .bind(6, to_string(connection.status))
            .bind(7, to_millis(connection.created_at))
            .bind(8, to_millis(connection.updated_at));
        rc = stmt->run();
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) return detail::connection_id_taken();
        if (rc != SQLITE_DONE) return error_status(rc, kOp);
      }
      for (const SealedField& f : connection.credentials) {
        auto stmt = c.prepare(
            "INSERT INTO connection_credentials (connection_id, field, envelope) "
            "VALUES (?1, ?2, ?3)",
            rc);
        if (!stmt) return error_status(rc, kOp);
        stmt->bind(1, connection.id).bind(2, f.name).bind_blob(3, f.envelope);
        if ((rc = stmt->run()) != SQLITE_DONE) return error_status(rc, kOp);
      }
      return append_event(c, heads_, event, connection.workspace, kOp);
    });
  }

  Result<ConnectionRecord> get_connection(std::string_view workspace,
                                          std::string_view id) override {
    constexpr std::string_view kOp = "read a connection";
    return read<ConnectionRecord>(kOp, [&](Connection& c) -> Result<ConnectionRecord> {
      return select_connection(c, workspace, id, kOp).connection;
    });
  }

  Result<std::vector<ConnectionRecord>> list_connections(
      const ConnectionListQuery& query) override {
    constexpr std::string_view kOp = "list connections";
    return read<std::vector<ConnectionRecord>>(
        kOp, [&](Connection& c) -> Result<std::vector<ConnectionRecord>> {
          std::string sql = std::string("SELECT ") + kConnectionColumns +
                            " FROM connections WHERE workspace = ?1";
          if (query.after_id) sql += " AND id > ?2";
          if (query.provider_name) sql += " AND provider_name = ?3";
          if (query.user_id) sql += " AND user_id = ?4";
          sql += " ORDER BY id LIMIT ?5";
          int rc;
          std::vector<ConnectionRecord> out;
          {
            auto stmt = c.prepare(sql, rc);
            if (!stmt) return error_status(rc, kOp);
            stmt->bind(1, query.workspace);
            if (query.after_id) stmt->bind(2, *query.after_id);
            if (query.provider_name) stmt->bind(3, *query.provider_name);
            if (query.user_id) stmt->bind(4, *query.user_id);
            stmt->bind(5, sql_limit(query.limit));
            auto rows = collect<ConnectionRecord>(*stmt, kOp, read_connection);
            if (!rows.ok()) return rows.status();
            out = std::move(rows).value();
          }
          for (ConnectionRecord& record : out) {
            Status status = read_credential_names(c, record, kOp);
            if (!status.ok()) return status;
          }
          return out;
        });
  }

  Status delete_connection(std::string_view workspace, std::string_view id,
                           AuditEvent event) override {
    constexpr std::string_view kOp = "delete a connection";
    return write(kOp, [&](Connection& c) -> Status {
      int rc;
      auto stmt = c.prepare("DELETE FROM connections WHERE id = ?1 AND workspace = ?2", rc);
      if (!stmt) return error_status(rc, kOp);
      stmt->bind(1, id).bind(2, workspace);
      if ((rc = stmt->run()) != SQLITE_DONE) return error_status(rc, kOp);
      if (sqlite3_changes(c.handle()) == 0) return detail::connection_not_found();
      return append_event(c, heads_, event, workspace, kOp);
    });
  }

  // Appends `event` to the chain of event.workspace.
  // REQUIRES: inside a write transaction of the group commit.
  Status append_to_its_workspace(Connection& c, AuditEvent event, std::string_view operation) {
    std::string workspace = event.workspace;
    return append_event(c, heads_, event, workspace, operation);
  }

  Status append_audit(AuditEvent event) override {
    constexpr std::string_view kOp = "append an audit event";
    return write(
        kOp,
        [&](Connection& c) -> Status { return append_to_its_workspace(c, std::move(event), kOp); },
        Isolation::kSingleStatement, Touches::kAuditOnly);
  }

  void append_audit_async(AuditEvent event, std::function<void(Status)> done) override {
    static constexpr std::string_view kOp = "append an audit event";
    committer_.run_async(
        kOp,
        [this, event = std::move(event)](Connection& c) mutable -> Status {
          return append_to_its_workspace(c, std::move(event), kOp);
        },
        std::move(done), Isolation::kSingleStatement);
  }

  Status read_connection_recorded(std::string_view workspace, std::string_view id,
                                  const ReadRecorder& record) override {
    constexpr std::string_view kOp = "read a connection's credentials";
    return write(
        kOp,
        [&](Connection& c) -> Status { return read_recorded(c, workspace, id, record, kOp); },
        Isolation::kSingleStatement, Touches::kAuditOnly);
  }

  void read_connection_recorded_async(std::string_view workspace, std::string_view id,
                                      ReadRecorder record,
                                      std::function<void(Status)> done) override {
    static constexpr std::string_view kOp = "read a connection's credentials";
    std::string ws;
    std::string connection_id;
    try {
      ws = workspace;
      connection_id = id;
    } catch (...) {
      detail::complete(done,
                       Status(ErrorCode::kInternal, "out of memory while reading a connection"));
      return;
    }
    committer_.run_async(
        kOp,
        [this, ws = std::move(ws), connection_id = std::move(connection_id),
         record = std::move(record)](Connection& c) -> Status {
          return read_recorded(c, ws, connection_id, record, kOp);
        },
        std::move(done), Isolation::kSingleStatement);
  }

  Result<std::vector<Provider>> providers_due_for_discovery(Timestamp now,
                                                            std::size_t limit) override {
    constexpr std::string_view kOp = "list providers";
    return read<std::vector<Provider>>(kOp, [&](Connection& c) -> Result<std::vector<Provider>> {
      int rc;
      // A range scan of provider_discovery_by_next_refresh.
      static const std::string kSql =
          std::string("SELECT ") + kProviderColumns + kProviderFrom +
          " WHERE provider_discovery.next_refresh_at <= ?1 AND providers.enable_discovery = 1 "
          "ORDER BY provider_discovery.next_refresh_at LIMIT ?2";
      auto stmt = c.prepare(kSql, rc);
      if (!stmt) return error_status(rc, kOp);
      stmt->bind(1, to_millis(now)).bind(2, sql_limit(limit));
      return collect<Provider>(*stmt, kOp, read_provider);
    });
  }

  Result<std::vector<Provider>> providers_with_plaintext_secret(std::size_t limit) override {
    constexpr std::string_view kOp = "list providers";
    return read<std::vector<Provider>>(kOp, [&](Connection& c) -> Result<std::vector<Provider>> {
      int rc;
      static const std::string kSql = std::string("SELECT ") + kProviderColumns + kProviderFrom +
                                      " WHERE typeof(client_secret) = 'text' "
                                      "ORDER BY id LIMIT ?1";
      auto stmt = c.prepare(kSql, rc);
      if (!stmt) return error_status(rc, kOp);
      stmt->bind(1, sql_limit(limit));
      return collect<Provider>(*stmt, kOp, read_provider);
    });
  }

  Result<std::map<std::string, std::int64_t>> envelope_key_counts() override {
    constexpr std::string_view kOp = "count sealed values";
    using Counts = std::map<std::string, std::int64_t>;
    return read<Counts>(kOp, [&](Connection& c) -> Result<Counts> {
      Counts counts;
      int rc;
      auto stmt = c.prepare(kAllEnvelopes, rc);
      if (!stmt) return error_status(rc, kOp);
      while ((rc = stmt->step()) == SQLITE_ROW) ++counts[Vault::key_id_of(stmt->blob(4))];
      if (rc != SQLITE_DONE) return error_status(rc, kOp);
      return counts;
    });
  }

  Result<std::vector<EnvelopeRef>> envelopes_not_under(std::string_view key_id,
                                                       std::size_t limit) override {
    constexpr std::string_view kOp = "list sealed values";
    return read<std::vector<EnvelopeRef>>(
        kOp, [&](Connection& c) -> Result<std::vector<EnvelopeRef>> {
          std::vector<EnvelopeRef> out;
          int rc;
          auto stmt = c.prepare(kAllEnvelopes, rc);
          if (!stmt) return error_status(rc, kOp);
          while (out.size() < limit && (rc = stmt->step()) == SQLITE_ROW) {
            std::string envelope = stmt->blob(4);
            if (Vault::key_id_of(envelope) == key_id) continue;
            out.push_back(EnvelopeRef{stmt->text(0), stmt->text(1), stmt->text(2), stmt->text(3),
                                      std::move(envelope)});
          }
          if (out.size() < limit && rc != SQLITE_DONE) return error_status(rc, kOp);
          return out;
        });
  }

  Result<std::size_t> replace_envelopes(const std::vector<EnvelopeRef>& old,
                                        const std::vector<std::string>& replacement) override {
    constexpr std::string_view kOp = "re-seal values";
    std::size_t replaced = 0;
    Status status = write(kOp, [&](Connection& c) -> Status {
      replaced = 0;
      constexpr std::string_view kCredentialPrefix = "credentials.";
      for (std::size_t i = 0; i < old.size() && i < replacement.size(); ++i) {
        const EnvelopeRef& ref = old[i];
        const bool provider = ref.owner_kind == "provider" && ref.field == "client_secret";
        const bool credential =
            ref.owner_kind == "connection" && ref.field.starts_with(kCredentialPrefix);
        if (!provider && !credential) continue;
        int rc;
        auto stmt = c.prepare(
            provider ? "UPDATE providers SET client_secret = ?1 WHERE id = ?2 AND workspace = ?3 "
                       "AND client_secret = ?4 AND ?5 = 'client_secret'"
                     : "UPDATE connection_credentials SET envelope = ?1 WHERE connection_id = ?2 "
                       "AND field = ?5 AND envelope = ?4 AND connection_id IN (SELECT id FROM "
                       "connections WHERE workspace = ?3)",
            rc);
        if (!stmt) return error_status(rc, kOp);
        stmt->bind_blob(1, replacement[i]).bind(2, ref.owner_id).bind(3, ref.workspace);
        stmt->bind_blob(4, ref.envelope);
        stmt->bind(5, provider ? std::string_view(ref.field)
                               : std::string_view(ref.field).substr(kCredentialPrefix.size()));
        if ((rc = stmt->run()) != SQLITE_DONE) return error_status(rc, kOp);
        replaced += static_cast<std::size_t>(sqlite3_changes(c.handle()));
      }
      return Status::Ok();
    });
    if (!status.ok()) return status;
    return replaced;
  }

  Status checkpoint() override {
    return detail::without_exceptions("checkpoint the write-ahead log", [&]() -> Status {
      std::lock_guard lock(writer_mu_);
      return truncate_wal(*writer_);
    });
  }

  Result<std::vector<std::string>> pragma_on_every_connection(std::string_view name) {
    std::vector<std::string> values;
    {
      std::lock_guard lock(writer_mu_);
      values.push_back(writer_->pragma(name).value_or(""));
    }
    std::vector<ReaderPool::Lease> leases;  // held together to reach every reader
    for (std::size_t i = 0; i < readers_.size(); ++i) {
      leases.push_back(readers_.acquire());
      values.push_back(leases.back()->pragma(name).value_or(""));
    }
    return values;
  }

  Result<std::vector<std::string>> audit_scan_plan(const AuditScan& scan) {
    constexpr std::string_view kOp = "explain an audit query";
    return read<std::vector<std::string>>(
        kOp, [&](Connection& c) -> Result<std::vector<std::string>> {
          int rc;
          auto stmt = c.prepare("EXPLAIN QUERY PLAN " + audit_scan_sql(scan), rc);
          if (!stmt) return error_status(rc, kOp);
          std::vector<std::string> plan;
          while ((rc = stmt->step()) == SQLITE_ROW) plan.push_back(stmt->text(3));
          if (rc != SQLITE_DONE) return error_status(rc, kOp);
          return plan;
        });
  }

  Status run_write_for_test(const std::function<Status(sqlite3*)>& body) {
    return write("run a test mutation", [&](Connection& c) { return body(c.handle()); });
  }
  bool wait_for_queued_writes(std::size_t count, std::chrono::milliseconds timeout) {
    return committer_.wait_for_queued(count, timeout);
  }
  GroupCommitStats group_commit_stats() const { return committer_.stats(); }
  std::size_t cached_providers() const { return providers_.size(); }

 private:
  // Whether a mutation leaves connections and providers as they are (it
  // only appends to the audit log), so connection_reads_ stays valid.
  enum class Touches { kConnections, kAuditOnly };

  // Runs `body(Connection&) -> Status` in a write transaction on the writer,
  // usually together with other callers' (group commit). Returns once the
  // transaction committed, or with the error that kept it from committing.
  // Unless `touches` says otherwise, connection_reads_ is emptied first.
  template <typename F>
  Status write(std::string_view operation, F&& body, Isolation isolation = Isolation::kSavepoint,
               Touches touches = Touches::kConnections) {
    if (touches == Touches::kAuditOnly) {
      return committer_.run(operation, WriteBody(body), isolation);
    }
    auto forgetting = [&](Connection& c) -> Status {
      connection_reads_.clear();
      return body(c);
    };
    return committer_.run(operation, WriteBody(forgetting), isolation);
  }

  // Connection `id`'s credential read, recorded by `record` (inside a write
  // transaction): from connection_reads_ when it holds the connection.
  Status read_recorded(Connection& c, std::string_view workspace, std::string_view id,
                       const ReadRecorder& record, std::string_view operation) {
    if (const ConnectionRead* kept = connection_reads_.find(workspace, id)) {
      return append_to_its_workspace(c, record(*kept), operation);
    }
    ConnectionRead read = select_connection(c, workspace, id, operation);
    AuditEvent event = record(read);
    connection_reads_.keep(id, std::move(read));
    return append_to_its_workspace(c, std::move(event), operation);
  }

  // Whether `reader` saw any other connection (this process's writer, or
  // another process) commit since it last asked; if so the provider cache is
  // cleared. Afterwards no cached row is older than what this reader's next
  // statement sees: every commit is followed, on each reader, by a clear
  // before that reader vouches for a cached row again.
  Result<bool> revalidate(ReaderPool::Lease& reader, std::string_view operation) {
    int rc;
    auto stmt = reader->prepare("PRAGMA data_version", rc);
    if (!stmt) return error_status(rc, operation);
    if ((rc = stmt->step()) != SQLITE_ROW) return error_status(rc, operation);
    const std::int64_t version = stmt->integer(0);
    if (reader.data_version() == version) return false;
    providers_.clear();
    reader.data_version() = version;
    return true;
  }

  template <typename Lookup>
  Result<Provider> cached_provider(const std::string& sql, std::string_view workspace,
                                   std::string_view key, Lookup&& lookup) {
    constexpr std::string_view kOp = "read a provider";
    return detail::without_exceptions(kOp, [&]() -> Result<Provider> {
      ReaderPool::Lease reader = readers_.acquire();
      std::uint64_t generation = 0;
      if (providers_.enabled()) {
        // A hit is served once this reader vouches that nothing committed
        // since it last looked; a miss needs no such check, since the row
        // read below is current and is dropped if a clear comes first.
        if (std::shared_ptr<const Provider> hit = lookup()) {
          Result<bool> changed = revalidate(reader, kOp);
          if (!changed.ok()) return changed.status();
          if (!*changed) return Provider(*hit);
        }
        generation = providers_.generation();  // before the statement's snapshot
      }
      int rc;
      auto stmt = reader->prepare(sql, rc);
      if (!stmt) return error_status(rc, kOp);
      stmt->bind(1, workspace).bind(2, key);
      rc = stmt->step();
      if (rc == SQLITE_DONE) return detail::provider_not_found();
      if (rc != SQLITE_ROW) return error_status(rc, kOp);
      Result<Provider> provider = read_provider(*stmt);
      // A secret still in clear (schema version 1) is sealed at startup;
      // until then it is not kept in memory longer than the call.
      if (provider.ok() && !provider->spec.client_secret) providers_.insert(generation, *provider);
      return provider;
    });
  }

  // Runs `body(Connection&) -> Result<T>` on an idle reader.
  template <typename T, typename F>
  Result<T> read(std::string_view operation, F&& body) {
    return detail::without_exceptions(operation, [&]() -> Result<T> {
      ReaderPool::Lease reader = readers_.acquire();
      return body(*reader);
    });
  }

  std::mutex writer_mu_;
  // Declared before readers_ so that it closes last and checkpoints the WAL.
  const std::unique_ptr<Connection> writer_;  // used only under writer_mu_
  ConnectionReads connection_reads_;          // used only under writer_mu_
  AuditHeads heads_{connection_reads_};       // used only under writer_mu_
  GroupCommitter committer_;
  ReaderPool readers_;
  ProviderCache providers_;
};

Result<std::unique_ptr<Storage>> open(const std::string& path, const SqliteOptions& options) {
  if (path.empty()) return cannot_open(path, "no path given");
  // Every connection would see its own empty database.
  if (path == ":memory:") return cannot_open(path, "use the memory storage instead");
  if (sqlite3_threadsafe() == 0) {
    return Status(ErrorCode::kInternal, "the SQLite library was built without thread support");
  }
  if (options.create_parent_directory) {
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) return cannot_open(path, "its directory cannot be created");
  }

  int rc;
  auto writer = Connection::open(path, Connection::Mode::kReadWriteCreate, rc);
  if (!writer) return open_error(path, rc);
  if ((rc = configure(*writer, options, /*reader=*/false)) != SQLITE_OK) {
    return open_error(path, rc);
  }
  if (Status status = enable_wal(*writer, path); !status.ok()) return status;
  bool upgraded = false;
  if (Status status = migrate(*writer, path, upgraded); !status.ok()) return status;
  if (upgraded) try_truncate_wal(*writer, options);

  // At least one reader, so reads never wait for the writer's mutex.
  const std::size_t reader_count = std::max<std::size_t>(options.read_connections, 1);
  std::vector<std::unique_ptr<Connection>> readers;
  for (std::size_t i = 0; i < reader_count; ++i) {
    auto reader = Connection::open(path, Connection::Mode::kReadWrite, rc);
    if (!reader) return open_error(path, rc);
    if ((rc = configure(*reader, options, /*reader=*/true)) != SQLITE_OK) {
      return open_error(path, rc);
    }
    readers.push_back(std::move(reader));
  }
  return std::unique_ptr<Storage>(
      new SqliteStorage(std::move(writer), std::move(readers), options));
}

}  // namespace

Result<std::vector<std::string>> pragma_on_every_connection(Storage& storage,
                                                            std::string_view name) {
  if (name.empty() || !std::all_of(name.begin(), name.end(),
                                   [](char ch) { return (ch >= 'a' && ch <= 'z') || ch == '_'; })) {
    return Status(ErrorCode::kValidationFailed, "not a pragma name", "name");
  }
  auto* sqlite = dynamic_cast<SqliteStorage*>(&storage);
  if (sqlite == nullptr) return Status(ErrorCode::kInternal, "not a SQLite storage");
  return detail::without_exceptions("read a pragma",
                                    [&] { return sqlite->pragma_on_every_connection(name); });
}

namespace {

SqliteStorage* as_sqlite(Storage& storage) { return dynamic_cast<SqliteStorage*>(&storage); }

Status not_sqlite() { return Status(ErrorCode::kInternal, "not a SQLite storage"); }

}  // namespace

Result<std::vector<std::string>> audit_scan_plan(Storage& storage, const AuditScan& scan) {
  auto* sqlite = as_sqlite(storage);
  if (sqlite == nullptr) return not_sqlite();
  return sqlite->audit_scan_plan(scan);
}

Status run_write_for_test(Storage& storage, const std::function<Status(sqlite3*)>& body) {
  auto* sqlite = as_sqlite(storage);
  return sqlite == nullptr ? not_sqlite() : sqlite->run_write_for_test(body);
}

bool wait_for_queued_writes(Storage& storage, std::size_t count,
                            std::chrono::milliseconds timeout) {
  auto* sqlite = as_sqlite(storage);
  return sqlite != nullptr && sqlite->wait_for_queued_writes(count, timeout);
}

Result<GroupCommitStats> group_commit_stats(Storage& storage) {
  auto* sqlite = as_sqlite(storage);
  if (sqlite == nullptr) return not_sqlite();
  return sqlite->group_commit_stats();
}

Result<std::size_t> cached_providers(Storage& storage) {
  auto* sqlite = as_sqlite(storage);
  if (sqlite == nullptr) return not_sqlite();
  return sqlite->cached_providers();
}

}  // namespace sqlite

Result<std::unique_ptr<Storage>> open_sqlite_storage(const std::string& path,
                                                     const SqliteOptions& options) {
  return detail::without_exceptions("open the database",
                                    [&] { return sqlite::open(path, options); });
}

}  // namespace nexus

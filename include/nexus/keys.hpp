// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// API keys: who may call, in which workspace, with which role. A key's text is
// shown once when it is issued and never stored: the store keeps a keyed
// BLAKE2b hash, and a presented key is looked up by its id and compared in
// constant time. A host application authenticating its own callers gets
// exactly the server's behaviour.
//
// Key text: "nxk_<26 base32 id>_<43 base64url secret>" (256 random bits).
// The id part ("key_<26 base32>") is not secret and is what logs and audit
// events name. A key configured from outside (the server's API_KEY, any text)
// is stored the same way under an id derived from its keyed hash.
//
// The hashing key is 32 random bytes generated on first use and stored in the
// database (Storage::ensure_setting). It is not a second secret: whoever reads
// the database also reads it. It makes a stolen hash useless for any other
// database and keeps ids of configured keys from revealing their text; the
// strength of an issued key rests on its 256 random bits.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nexus/clock.hpp"
#include "nexus/registry.hpp"
#include "nexus/status.hpp"

namespace nexus {

class Storage;

enum class Role {
  kAdmin,    // everything
  kAgent,    // read providers and metadata
  kAuditor,  // read and verify the audit log
};

// "admin" / "agent" / "auditor".
std::string_view to_string(Role role) noexcept;
std::optional<Role> parse_role(std::string_view text) noexcept;

// What one operation needs. Each server route requires exactly one.
enum class Permission {
  kReadProviders,     // get, list, metadata
  kWriteProviders,    // create, patch, delete
  kReadAudit,         // query and verify the audit log
  kReadConnections,   // get and list connections (never their values)
  kWriteConnections,  // create and delete connections
  kReadCredentials,   // open a connection's credentials (GET /v1/token/{id})
  kReadMetrics,       // the server's metrics: every role (GET /metrics)
};

bool role_allows(Role role, Permission permission) noexcept;

namespace audit_events {
inline constexpr std::string_view kApiKeyCreated = "api_key.created";
inline constexpr std::string_view kApiKeyRevoked = "api_key.revoked";
}  // namespace audit_events

// A key as stored and listed: never its text or its hash.
struct ApiKey {
  std::string id;  // "key_..."; safe to log
  std::string workspace;
  Role role = Role::kAgent;
  std::string label;  // free text: who it is for ("ci", "env:API_KEY")
  Timestamp created_at{};
  std::optional<Timestamp> revoked_at;
  bool active() const noexcept { return !revoked_at.has_value(); }
  friend bool operator==(const ApiKey&, const ApiKey&) = default;
};

// A newly issued key with its text: the only time the text exists. The text
// is wiped when the object is destroyed.
struct IssuedKey {
  ApiKey key;
  std::string text;

  IssuedKey() = default;
  IssuedKey(ApiKey k, std::string t) : key(std::move(k)), text(std::move(t)) {}
  IssuedKey(IssuedKey&&) noexcept = default;
  IssuedKey& operator=(IssuedKey&&) noexcept = default;
  IssuedKey(const IssuedKey&) = delete;
  IssuedKey& operator=(const IssuedKey&) = delete;
  ~IssuedKey();
};

// The authenticated caller of a request.
struct Caller {
  std::string key_id;
  std::string workspace;
  Role role = Role::kAgent;
};

// Overwrites `secret`'s bytes before clearing it (sodium_memzero).
void wipe(std::string& secret) noexcept;
// Overwrites `size` bytes at `data` (sodium_memzero): for secrets held in
// buffers other than std::string.
void wipe_bytes(void* data, std::size_t size) noexcept;

// Longest key text authenticate() considers; anything longer is refused.
inline constexpr std::size_t kMaxApiKeyLength = 512;
// The workspace API_KEY and the first-start key belong to.
inline constexpr std::string_view kDefaultWorkspace = "default";
// The label of the key configured through the API_KEY environment variable.
inline constexpr std::string_view kEnvKeyLabel = "env:API_KEY";

struct KeyServiceOptions {
  // Required. Must outlive the service.
  Storage* storage = nullptr;
  // Defaults: system_clock(), system_random(). Must outlive the service.
  const Clock* clock = nullptr;
  RandomSource* random = nullptr;
  // How long authenticate() may reuse what it read about a key id (its
  // record, or that no key has it) instead of reading storage on every call.
  // A key revoked through this service stops working at once; one revoked by
  // another process (`nexus keys revoke`) within this time. A key created by
  // another process may be refused for this long if its id was presented
  // just before. Zero: read storage every time.
  std::chrono::milliseconds cache_ttl{1000};
  // Key ids cached at most (known and unknown alike). When it is full,
  // expired entries and unknown ids are dropped first; it starts over only
  // if known keys alone fill it.
  std::size_t max_cached_keys = 10000;
};

// What bootstrap_admin did.
struct BootstrapResult {
  // The key API_KEY names, when one was configured.
  std::optional<ApiKey> configured;
  // A freshly generated admin key, when none was configured and the default
  // workspace had no active admin key: print it once, then drop it.
  std::optional<IssuedKey> generated;
  // Earlier API_KEY keys revoked because API_KEY changed.
  std::vector<std::string> revoked_ids;
};

// Issues, authenticates, lists and revokes API keys. Thread-safe.
class KeyService {
 public:
  // Reads the hashing key from storage, generating and storing it on first
  // use. kUnavailable / kInternal from storage.
  // REQUIRES: options.storage != nullptr.
  static Result<std::unique_ptr<KeyService>> open(KeyServiceOptions options);

  ~KeyService();
  KeyService(const KeyService&) = delete;
  KeyService& operator=(const KeyService&) = delete;

  // Issues a new key of `role` in `workspace` and audits api_key.created in
  // that workspace. kValidationFailed (field "workspace" or "label") for an
  // empty or oversized workspace or label.
  Result<IssuedKey> create(const RequestContext& ctx, std::string_view workspace, Role role,
                           std::string_view label = {});

  // Stores `text` (any non-empty text up to kMaxApiKeyLength) as a key of
  // `role` in `workspace` unless it is stored already; returns the stored key.
  // kValidationFailed when the text is empty or too long, when it is already
  // a key of another workspace or role, or when it was revoked.
  Result<ApiKey> register_key(const RequestContext& ctx, std::string_view workspace, Role role,
                              std::string_view text, std::string_view label);

  // The caller `presented_key` identifies. kUnauthorized, always with the
  // same message, when the key is absent, malformed, unknown or revoked: the
  // answer never tells whether a key id or a workspace exists. Known and
  // unknown key ids do the same work: each id is read from storage once per
  // options.cache_ttl and the outcome cached (a record or "no such key",
  // under the same bound), and a hash is compared in constant time on every
  // call (against a dummy for an unknown id). So a call is faster only when
  // the same id was presented within cache_ttl, whether or not it exists.
  Result<Caller> authenticate(std::string_view presented_key) const;

  // Every key (or those of `workspace`), ordered by creation time.
  Result<std::vector<ApiKey>> list(std::optional<std::string_view> workspace = std::nullopt) const;

  // Revokes the key and audits api_key.revoked in its workspace. kNotFound
  // when no active key has that id.
  Status revoke(const RequestContext& ctx, std::string_view key_id);

  // What the server does on start. With `configured_key` (API_KEY): register
  // it as an admin key of the default workspace labelled kEnvKeyLabel and
  // revoke earlier kEnvKeyLabel keys. Without: when the default workspace has
  // no active admin key, issue one and return it in `generated`.
  Result<BootstrapResult> bootstrap_admin(const RequestContext& ctx,
                                          std::optional<std::string_view> configured_key);

 private:
  struct Impl;
  explicit KeyService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nexus

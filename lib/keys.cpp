// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/keys.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cassert>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "detail/encoding.hpp"
#include "nexus/audit.hpp"
#include "nexus/storage.hpp"

namespace nexus {
namespace {

constexpr std::string_view kTextPrefix = "nxk_";
constexpr std::string_view kIdPrefix = "key_";
constexpr std::size_t kIdBodyLength = 26;  // make_id's base32 digits
constexpr std::size_t kSecretBytes = 32;
constexpr std::size_t kSecretTextLength = 43;  // base64url of 32 bytes, unpadded
constexpr std::size_t kKeyTextLength = kTextPrefix.size() + kIdBodyLength + 1 + kSecretTextLength;
constexpr std::size_t kHashBytes = crypto_generichash_BYTES;  // 32: BLAKE2b-256
constexpr std::size_t kHashingKeyBytes = 32;
constexpr std::string_view kHashingKeySetting = "api_key_hashing_key";
// Domain separation: the id derived from a configured key's text is a
// different hash than the one verified.
constexpr std::string_view kIdDomain = "nexus.api-key.id\n";
constexpr std::size_t kMaxWorkspaceLength = 63;
constexpr std::size_t kMaxLabelLength = 200;
constexpr std::string_view kCrockford = "0123456789abcdefghjkmnpqrstvwxyz";

const Status& unauthorized() {
  static const Status s(ErrorCode::kUnauthorized,
                        "a valid API key is required in the X-API-Key header");
  return s;
}

// Hands out fixed bytes: lets make_id encode a hash prefix exactly as it
// encodes random ids.
class FixedBytes final : public RandomSource {
 public:
  explicit FixedBytes(const unsigned char* bytes) : bytes_(bytes) {}
  void fill(void* out, std::size_t n) override { std::memcpy(out, bytes_, n); }

 private:
  const unsigned char* bytes_;
};

bool is_issued_format(std::string_view text) {
  if (text.size() != kKeyTextLength || !text.starts_with(kTextPrefix) ||
      text[kTextPrefix.size() + kIdBodyLength] != '_') {
    return false;
  }
  for (char c : text.substr(kTextPrefix.size(), kIdBodyLength)) {
    if (kCrockford.find(c) == std::string_view::npos) return false;
  }
  return true;
}

Status check_workspace(std::string_view workspace) {
  bool ok = !workspace.empty() && workspace.size() <= kMaxWorkspaceLength;
  for (std::size_t i = 0; ok && i < workspace.size(); ++i) {
    char c = workspace[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    ok = alnum || (i > 0 && (c == '-' || c == '_'));
  }
  if (!ok) {
    return Status(ErrorCode::kValidationFailed,
                  "a workspace name is 1 to 63 lower-case letters, digits, '-' or '_', starting "
                  "with a letter or digit",
                  "workspace");
  }
  return Status::Ok();
}

Status check_label(std::string_view label) {
  bool ok = label.size() <= kMaxLabelLength;
  for (unsigned char c : label) ok = ok && c >= 0x20 && c != 0x7f;
  if (!ok) {
    return Status(ErrorCode::kValidationFailed, "a label is at most 200 printable characters",
                  "label");
  }
  return Status::Ok();
}

}  // namespace

std::string_view to_string(Role role) noexcept {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kAgent:
      return "agent";
    case Role::kAuditor:
      return "auditor";
  }
  return "agent";
}

std::optional<Role> parse_role(std::string_view text) noexcept {
  if (text == "admin") return Role::kAdmin;
  if (text == "agent") return Role::kAgent;
  if (text == "auditor") return Role::kAuditor;
  return std::nullopt;
}

bool role_allows(Role role, Permission permission) noexcept {
  if (permission == Permission::kReadMetrics) return true;
  switch (role) {
    case Role::kAdmin:
      return true;
    case Role::kAgent:
      return permission == Permission::kReadProviders ||
             permission == Permission::kReadConnections ||
             permission == Permission::kReadCredentials;
    case Role::kAuditor:
      return permission == Permission::kReadAudit;
  }
  return false;
}

void wipe(std::string& secret) noexcept {
  wipe_bytes(secret.data(), secret.size());
  secret.clear();
}

void wipe_bytes(void* data, std::size_t size) noexcept {
  if (data != nullptr && size > 0) sodium_memzero(data, size);
}

IssuedKey::~IssuedKey() { wipe(text); }

struct KeyService::Impl {
  using Steady = std::chrono::steady_clock;
  // A lookup's outcome: the record, or nullopt when no key has the id.
  struct CachedKey {
    std::optional<StoredApiKey> stored;
    Steady::time_point read_at;
  };

  Storage* storage = nullptr;
  const Clock* clock = nullptr;
  RandomSource* random = nullptr;
  std::chrono::milliseconds cache_ttl{0};
  std::size_t max_cached_keys = 0;
  std::array<unsigned char, kHashingKeyBytes> hashing_key{};
  mutable std::shared_mutex cache_mu;
  mutable std::unordered_map<std::string, CachedKey> cache;  // GUARDED_BY(cache_mu)

  // The stored key `id` (nullopt: no such key), from the cache while fresh.
  // Known and unknown ids take the same path: both are read from storage
  // once and then cached for cache_ttl, so whether an id exists does not
  // change how long a lookup takes.
  Result<std::optional<StoredApiKey>> lookup(const std::string& id) const {
    const auto now = Steady::now();
    if (cache_ttl.count() > 0) {
      std::shared_lock lock(cache_mu);
      auto it = cache.find(id);
      if (it != cache.end() && now - it->second.read_at < cache_ttl) return it->second.stored;
    }
    Result<StoredApiKey> read = storage->get_api_key(id);
    if (!read.ok() && read.status().code() != ErrorCode::kNotFound) return read.status();
    std::optional<StoredApiKey> stored;
    if (read.ok()) stored = std::move(read).value();
    if (cache_ttl.count() > 0) {
      std::unique_lock lock(cache_mu);
      if (cache.size() >= max_cached_keys) make_room(now);
      cache.insert_or_assign(id, CachedKey{stored, now});
    }
    return stored;
  }

  // Frees the full cache: drops what has expired and what says "no such
  // key" first, so that a caller presenting made-up keys (which it can do
  // without any key) cannot flush the records of real ones; starts over only
  // if real keys alone fill it. REQUIRES: cache_mu held exclusively.
  void make_room(Steady::time_point now) const {
    std::erase_if(cache, [&](const auto& entry) {
      return !entry.second.stored || now - entry.second.read_at >= cache_ttl;
    });
    if (cache.size() >= max_cached_keys) cache.clear();
  }

  void forget(std::string_view id) const {
    std::unique_lock lock(cache_mu);
    cache.erase(std::string(id));
  }

  ~Impl() { sodium_memzero(hashing_key.data(), hashing_key.size()); }

  std::string hash(std::string_view text) const {
    std::array<unsigned char, kHashBytes> out{};
    crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(text.data()),
                       text.size(), hashing_key.data(), hashing_key.size());
    return detail::to_hex(std::string_view(reinterpret_cast<const char*>(out.data()), out.size()));
  }

  // The id a key's text names: embedded in an issued key, derived from the
  // keyed hash of any other text.
  std::string id_for(std::string_view text) const {
    if (is_issued_format(text)) {
      return std::string(kIdPrefix) + std::string(text.substr(kTextPrefix.size(), kIdBodyLength));
    }
    crypto_generichash_state st;
    crypto_generichash_init(&st, hashing_key.data(), hashing_key.size(), kHashBytes);
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(kIdDomain.data()),
                              kIdDomain.size());
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(text.data()),
                              text.size());
    std::array<unsigned char, kHashBytes> out{};
    crypto_generichash_final(&st, out.data(), out.size());
    FixedBytes bytes(out.data());
    return make_id(bytes, kIdPrefix);
  }

  AuditEvent event(const RequestContext& ctx, std::string_view type, const ApiKey& key) const {
    AuditEvent e;
    e.id = make_id(*random, "evt_");
    e.workspace = key.workspace;
    e.event_type = type;
    e.actor = ctx.actor;
    e.caller_ip = ctx.caller_ip;
    e.user_agent = ctx.user_agent;
    e.at = clock->now();
    boost::json::object data{{"key_id", key.id}, {"role", to_string(key.role)}};
    if (!key.label.empty()) data["label"] = key.label;
    e.data = boost::json::serialize(data);
    return e;
  }

  Result<ApiKey> insert(const RequestContext& ctx, ApiKey key, std::string hash) {
    key.created_at = clock->now();
    AuditEvent e = event(ctx, audit_events::kApiKeyCreated, key);
    e.at = key.created_at;
    StoredApiKey stored{.key = key, .hash = std::move(hash)};
    Status s = storage->insert_api_key(stored, std::move(e));
    // An earlier lookup of the id may have cached "unknown".
    forget(key.id);
    if (!s.ok()) return s;
    return key;
  }
};

KeyService::KeyService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KeyService::~KeyService() = default;

Result<std::unique_ptr<KeyService>> KeyService::open(KeyServiceOptions options) {
  assert(options.storage != nullptr);
  if (sodium_init() < 0) return Status(ErrorCode::kInternal, "libsodium failed to initialise");
  auto impl = std::make_unique<Impl>();
  impl->storage = options.storage;
  impl->clock = options.clock != nullptr ? options.clock : &system_clock();
  impl->random = options.random != nullptr ? options.random : &system_random();
  impl->cache_ttl = std::max(options.cache_ttl, std::chrono::milliseconds(0));
  impl->max_cached_keys = std::max<std::size_t>(options.max_cached_keys, 1);

  std::array<unsigned char, kHashingKeyBytes> fresh{};
  impl->random->fill(fresh.data(), fresh.size());
  std::string candidate =
      detail::to_hex(std::string_view(reinterpret_cast<const char*>(fresh.data()), fresh.size()));
  sodium_memzero(fresh.data(), fresh.size());
  Result<std::string> stored = impl->storage->ensure_setting(kHashingKeySetting, candidate);
  wipe(candidate);
  if (!stored.ok()) return stored.status();
  std::size_t len = 0;
  if (stored->size() != kHashingKeyBytes * 2 ||
      sodium_hex2bin(impl->hashing_key.data(), impl->hashing_key.size(), stored->data(),
                     stored->size(), nullptr, &len, nullptr) != 0 ||
      len != kHashingKeyBytes) {
    wipe(stored.value());
    return Status(ErrorCode::kInternal, "the stored API key hashing key is malformed");
  }
  wipe(stored.value());
  return std::unique_ptr<KeyService>(new KeyService(std::move(impl)));
}

Result<IssuedKey> KeyService::create(const RequestContext& ctx, std::string_view workspace,
                                     Role role, std::string_view label) {
  if (Status s = check_workspace(workspace); !s.ok()) return s;
  if (Status s = check_label(label); !s.ok()) return s;
  std::string id = make_id(*impl_->random, kIdPrefix);
  std::array<unsigned char, kSecretBytes> secret{};
  impl_->random->fill(secret.data(), secret.size());
  std::string secret_text = detail::base64url_encode(
      std::string_view(reinterpret_cast<const char*>(secret.data()), secret.size()));
  sodium_memzero(secret.data(), secret.size());
  IssuedKey issued;
  issued.text = std::string(kTextPrefix) + id.substr(kIdPrefix.size()) + "_" + secret_text;
  wipe(secret_text);
  ApiKey key{.id = std::move(id),
             .workspace = std::string(workspace),
             .role = role,
             .label = std::string(label),
             .created_at = {},
             .revoked_at = std::nullopt};
  Result<ApiKey> stored = impl_->insert(ctx, std::move(key), impl_->hash(issued.text));
  if (!stored.ok()) return stored.status();
  issued.key = std::move(stored).value();
  return issued;
}

Result<ApiKey> KeyService::register_key(const RequestContext& ctx, std::string_view workspace,
                                        Role role, std::string_view text, std::string_view label) {
  if (Status s = check_workspace(workspace); !s.ok()) return s;
  if (Status s = check_label(label); !s.ok()) return s;
  if (text.empty() || text.size() > kMaxApiKeyLength) {
    return Status(ErrorCode::kValidationFailed,
                  "an API key is 1 to " + std::to_string(kMaxApiKeyLength) + " characters", "key");
  }
  std::string id = impl_->id_for(text);
  std::string hash = impl_->hash(text);
  // Twice: a concurrent registration of the same text may win the insert.
  for (int attempt = 0; attempt < 2; ++attempt) {
    Result<StoredApiKey> existing = impl_->storage->get_api_key(id);
    if (existing.ok()) {
      const ApiKey& k = existing->key;
      if (existing->hash.size() != hash.size() ||
          sodium_memcmp(existing->hash.data(), hash.data(), hash.size()) != 0) {
        return Status(ErrorCode::kValidationFailed,
                      "the key's id is already used by another key; choose another key", "key");
      }
      if (!k.active()) {
        return Status(ErrorCode::kValidationFailed,
                      "this key was revoked (" + k.id + "); choose a new one", "key");
      }
      if (k.workspace != workspace || k.role != role) {
        return Status(ErrorCode::kValidationFailed,
                      "this key already belongs to another workspace or role (" + k.id + ")",
                      "key");
      }
      return k;
    }
    if (existing.status().code() != ErrorCode::kNotFound) return existing.status();
    ApiKey key{.id = id,
               .workspace = std::string(workspace),
               .role = role,
               .label = std::string(label),
               .created_at = {},
               .revoked_at = std::nullopt};
    Result<ApiKey> inserted = impl_->insert(ctx, std::move(key), hash);
    if (inserted.ok() || inserted.status().code() != ErrorCode::kInternal) return inserted;
  }
  return Status(ErrorCode::kUnavailable, "the key is being registered concurrently; retry");
}

Result<Caller> KeyService::authenticate(std::string_view presented_key) const {
  if (presented_key.empty() || presented_key.size() > kMaxApiKeyLength) return unauthorized();
  std::string id = impl_->id_for(presented_key);
  std::string hash = impl_->hash(presented_key);
  Result<std::optional<StoredApiKey>> found = impl_->lookup(id);
  if (!found.ok()) return found.status();
  const std::optional<StoredApiKey>& stored = found.value();
  // An unknown id is compared too, against a dummy, so that it costs what a
  // known one does.
  static const std::string kDummy(kHashBytes * 2, '0');
  const std::string& expected = stored ? stored->hash : kDummy;
  bool match = expected.size() == hash.size() &&
               sodium_memcmp(expected.data(), hash.data(), hash.size()) == 0;
  if (!stored || !match || !stored->key.active()) return unauthorized();
  return Caller{
      .key_id = stored->key.id, .workspace = stored->key.workspace, .role = stored->key.role};
}

Result<std::vector<ApiKey>> KeyService::list(std::optional<std::string_view> workspace) const {
  Result<std::vector<StoredApiKey>> stored = impl_->storage->list_api_keys(workspace);
  if (!stored.ok()) return stored.status();
  std::vector<ApiKey> keys;
  keys.reserve(stored->size());
  for (StoredApiKey& s : stored.value()) keys.push_back(std::move(s.key));
  return keys;
}

Status KeyService::revoke(const RequestContext& ctx, std::string_view key_id) {
  auto none = [&] {
    return Status(ErrorCode::kNotFound,
                  "no active API key has the id \"" +
                      std::string(key_id.substr(0, kIdPrefix.size() + kIdBodyLength)) + "\"",
                  "key_id");
  };
  Result<StoredApiKey> stored = impl_->storage->get_api_key(key_id);
  if (!stored.ok())
    return stored.status().code() == ErrorCode::kNotFound ? none() : stored.status();
  if (!stored->key.active()) return none();
  Timestamp at = impl_->clock->now();
  AuditEvent e = impl_->event(ctx, audit_events::kApiKeyRevoked, stored->key);
  e.at = at;
  Status s = impl_->storage->revoke_api_key(key_id, at, std::move(e));
  impl_->forget(key_id);
  if (s.code() == ErrorCode::kNotFound) return none();
  return s;
}

Result<BootstrapResult> KeyService::bootstrap_admin(
    const RequestContext& ctx, std::optional<std::string_view> configured_key) {
  BootstrapResult result;
  Result<std::vector<ApiKey>> keys = list(kDefaultWorkspace);
  if (!keys.ok()) return keys.status();
  if (configured_key) {
    Result<ApiKey> key =
        register_key(ctx, kDefaultWorkspace, Role::kAdmin, *configured_key, kEnvKeyLabel);
    if (!key.ok()) return key.status();
    for (const ApiKey& k : keys.value()) {
      if (k.active() && k.label == kEnvKeyLabel && k.id != key->id) {
        if (Status s = revoke(ctx, k.id); !s.ok() && s.code() != ErrorCode::kNotFound) return s;
        result.revoked_ids.push_back(k.id);
      }
    }
    result.configured = std::move(key).value();
    return result;
  }
  for (const ApiKey& k : keys.value()) {
    if (k.active() && k.role == Role::kAdmin) return result;
  }
  Result<IssuedKey> issued =
      create(ctx, kDefaultWorkspace, Role::kAdmin, "generated at first start");
  if (!issued.ok()) return issued.status();
  result.generated = std::move(issued).value();
  return result;
}

}  // namespace nexus

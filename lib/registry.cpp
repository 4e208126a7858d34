// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/registry.hpp"

#include <sodium.h>

#include <array>
#include <boost/json/serialize.hpp>
#include <cassert>
#include <mutex>
#include <thread>

#include "detail/discovery_state.hpp"
#include "detail/encoding.hpp"
#include "detail/no_throw.hpp"
#include "nexus/audit.hpp"
#include "nexus/keys.hpp"
#include "nexus/storage.hpp"
#include "nexus/vault.hpp"

namespace nexus {
namespace {

constexpr std::string_view kProviderCursorKind = "providers";
// Enough for any workspace in one storage round trip when building metadata.
constexpr std::size_t kMetadataBatch = 1000;

// Spec members whose values are secrets: audit data shows them only as
// kRedacted.
constexpr std::array<std::string_view, 1> kSecretFields = {"client_secret"};

bool is_secret_field(std::string_view field) {
  for (auto f : kSecretFields) {
    if (f == field) return true;
  }
  return false;
}

// The provider's spec for audit data: secrets, in clear or sealed, appear
// only as kRedacted.
boost::json::object redacted_spec(const Provider& p) {
  boost::json::object json = spec_to_json(p.spec);
  for (auto f : kSecretFields) {
    if (auto* v = json.if_contains(f)) *v = kRedacted;
  }
  if (!p.sealed_client_secret.empty()) json["client_secret"] = kRedacted;
  return json;
}

Status check_context(const RequestContext& ctx) {
  if (ctx.workspace.empty()) {
    return Status(ErrorCode::kValidationFailed, "a workspace is required", "workspace");
  }
  return Status::Ok();
}

constexpr std::string_view kClientSecretField = "client_secret";
constexpr std::size_t kSealBatch = 100;

SealContext secret_place(const Provider& p) {
  return SealContext{.workspace = p.workspace,
                     .owner_kind = "provider",
                     .owner_id = p.id,
                     .field = kClientSecretField};
}

// Moves a plaintext client secret out of `p.spec` into `p.sealed_client_secret`,
// wiping the plaintext.
void seal_secret(const Vault& vault, Provider& p) {
  if (!p.spec.client_secret) return;
  p.sealed_client_secret = vault.seal(*p.spec.client_secret, secret_place(p));
  sodium_memzero(p.spec.client_secret->data(), p.spec.client_secret->size());
  p.spec.client_secret.reset();
}

// Whether `p`'s sealed client secret opens to `secret`. A secret that no
// longer opens differs from any: replacing it is how it is repaired.
bool sealed_secret_equals(const Vault& vault, const Provider& p, std::string_view secret) {
  Result<SecretBytes> stored = vault.open(p.sealed_client_secret, secret_place(p));
  return stored.ok() && stored->equals(secret);
}

// kVersionConflict when the caller expects a version other than the stored one.
Status check_expected_version(const Provider& current, const ExpectedVersion& expected) {
  if (expected.matches(current.version)) return Status::Ok();
  std::string named;
  for (std::int64_t v : expected.versions()) {
    named += (named.empty() ? "" : ", ") + std::to_string(v);
  }
  if (named.empty()) named = "a version this registry issues";
  return Status(ErrorCode::kVersionConflict,
                "the provider is at version " + std::to_string(current.version) + ", not " + named +
                    "; fetch it and retry",
                "version");
}

Status not_found(std::string_view name) {
  return Status(ErrorCode::kProviderNotFound,
                "no provider named \"" + std::string(name.substr(0, kMaxProviderNameLength)) +
                    "\" in this workspace",
                "name");
}

}  // namespace

ProviderRegistry::~ProviderRegistry() = default;

// ---- Public entry points ----------------------------------------------------
// Each runs its *_impl under detail::without_exceptions: whatever the storage,
// clock, vault or Boost.JSON throws (bad_alloc included) becomes kInternal,
// never an exception in the caller.

Result<Provider> ProviderRegistry::create(const RequestContext& ctx, ProviderSpec spec) {
  return detail::without_exceptions("create a provider",
                                    [&] { return create_impl(ctx, std::move(spec)); });
}

Result<Provider> ProviderRegistry::create(const RequestContext& ctx,
                                          const boost::json::value& body) {
  Result<ProviderSpec> spec =
      detail::without_exceptions("read a provider", [&] { return parse_provider_spec(body); });
  if (!spec.ok()) return spec.status();
  return create(ctx, std::move(spec).value());
}

Result<Provider> ProviderRegistry::get(const RequestContext& ctx, std::string_view name) {
  return detail::without_exceptions("read a provider", [&] { return get_impl(ctx, name); });
}

Result<ProviderPage> ProviderRegistry::list(const RequestContext& ctx, const ListFilter& filter,
                                            const PageRequest& page) {
  return detail::without_exceptions("list providers", [&] { return list_impl(ctx, filter, page); });
}

Result<Provider> ProviderRegistry::patch(const RequestContext& ctx, std::string_view name,
                                         const boost::json::value& merge_patch,
                                         const ExpectedVersion& expected_version) {
  return detail::without_exceptions(
      "update a provider", [&] { return patch_impl(ctx, name, merge_patch, expected_version); });
}

Status ProviderRegistry::remove(const RequestContext& ctx, std::string_view name,
                                const ExpectedVersion& expected_version) {
  return detail::without_exceptions("delete a provider",
                                    [&] { return remove_impl(ctx, name, expected_version); });
}

Result<std::int64_t> ProviderRegistry::count(const RequestContext& ctx) {
  return detail::without_exceptions("count providers", [&] { return count_impl(ctx); });
}

Result<MetadataIndex> ProviderRegistry::metadata(const RequestContext& ctx) {
  return detail::without_exceptions("read provider metadata", [&] { return metadata_impl(ctx); });
}

Result<Provider> ProviderRegistry::refresh_discovery(const RequestContext& ctx,
                                                     std::string_view name) {
  return detail::without_exceptions("refresh a provider's discovery",
                                    [&] { return refresh_discovery_impl(ctx, name); });
}

Result<SecretBytes> ProviderRegistry::client_secret(const RequestContext& ctx,
                                                    std::string_view name) {
  return detail::without_exceptions("read a client secret",
                                    [&] { return client_secret_impl(ctx, name); });
}

Result<std::size_t> ProviderRegistry::seal_plaintext_secrets() {
  return detail::without_exceptions("seal client secrets",
                                    [&] { return seal_plaintext_secrets_impl(); });
}

ProviderRegistry::ProviderRegistry(RegistryOptions options) : options_(std::move(options)) {
  assert(options_.storage != nullptr);
  if (options_.vault == nullptr) {
    owned_vault_ = std::make_unique<Vault>(std::make_shared<const Keyring>(Keyring::generate()));
    options_.vault = owned_vault_.get();
  }
  if (options_.clock == nullptr) options_.clock = &system_clock();
  if (options_.random == nullptr) options_.random = &system_random();
  if (options_.max_page_size == 0) options_.max_page_size = 1;
  if (options_.default_page_size == 0 || options_.default_page_size > options_.max_page_size) {
    options_.default_page_size = options_.max_page_size;
  }
  if (options_.max_patch_attempts < 1) options_.max_patch_attempts = 1;
  if (options_.max_concurrent_discoveries < 1) options_.max_concurrent_discoveries = 1;
}

namespace {

AuditEvent make_event(const RegistryOptions& options, const RequestContext& ctx,
                      std::string_view type, const Provider& provider, Timestamp at,
                      const boost::json::object& data) {
  AuditEvent event;
  event.id = make_id(*options.random, "evt_");
  event.workspace = ctx.workspace;
  event.event_type = type;
  event.provider_name = provider.spec.name;
  event.provider_id = provider.id;
  event.actor = ctx.actor;
  event.caller_ip = ctx.caller_ip;
  event.user_agent = ctx.user_agent;
  event.at = at;
  event.data = boost::json::serialize(data);
  return event;
}

// {"field": {"from": old, "to": new}} for every top-level member that differs;
// a secret's values appear only as kRedacted.
boost::json::object changed_fields(const ProviderSpec& before, const ProviderSpec& after) {
  boost::json::object a = spec_to_json(before);
  boost::json::object b = spec_to_json(after);
  boost::json::object changes;
  auto side = [](const boost::json::object& o, std::string_view key,
                 bool secret) -> boost::json::value {
    const auto* v = o.if_contains(key);
    if (v == nullptr) return nullptr;
    return secret ? boost::json::value(kRedacted) : *v;
  };
  auto note = [&](std::string_view key) {
    const auto* va = a.if_contains(key);
    const auto* vb = b.if_contains(key);
    if ((va == nullptr) != (vb == nullptr) || (va != nullptr && *va != *vb)) {
      bool secret = is_secret_field(key);
      changes[key] = {{"from", side(a, key, secret)}, {"to", side(b, key, secret)}};
    }
  };
  for (const auto& kv : a) note(kv.key());
  for (const auto& kv : b) {
    if (!a.contains(kv.key())) note(kv.key());
  }
  return changes;
}

}  // namespace

Result<Provider> ProviderRegistry::create_impl(const RequestContext& ctx, ProviderSpec spec) {
  if (Status s = check_context(ctx); !s.ok()) return s;
  ValidationOptions vopts{.allow_insecure_urls = options_.allow_insecure_urls,
                          .allow_insecure_issuer = options_.discovery_allow_insecure};
  if (Status s = validate_provider_spec(spec, vopts); !s.ok()) return s;
  std::optional<DiscoveryState> discovery;
  if (spec.enable_discovery) {
    Result<DiscoveryDocument> document = fetch_discovery(*spec.issuer);
    if (!document.ok()) return document.status();
    discovery = detail::discovered_state(std::move(document).value());
  }

  Provider provider;
  provider.id = make_id(*options_.random, "prv_");
  provider.workspace = ctx.workspace;
  provider.created_at = provider.updated_at = options_.clock->now();
  provider.version = 1;
  provider.spec = std::move(spec);
  seal_secret(*options_.vault, provider);
  provider.discovery = std::move(discovery);

  boost::json::object data{{"provider", redacted_spec(provider)}};
  if (provider.discovery) data["discovery"] = detail::discovery_audit_data(*provider.discovery);
  AuditEvent event = make_event(options_, ctx, audit_events::kProviderCreated, provider,
                                provider.created_at, data);
  if (Status s = options_.storage->insert_provider(provider, std::move(event)); !s.ok()) {
    if (s.code() == ErrorCode::kProviderExists) {
      return Status(
          ErrorCode::kProviderExists,
          "a provider named \"" + provider.spec.name + "\" already exists in this workspace",
          "name");
    }
    return s;
  }
  return provider;
}

Result<Provider> ProviderRegistry::get_impl(const RequestContext& ctx, std::string_view name) {
  if (Status s = check_context(ctx); !s.ok()) return s;
  Result<Provider> p = options_.storage->get_provider(ctx.workspace, name);
  if (!p.ok() && p.status().code() == ErrorCode::kProviderNotFound) return not_found(name);
  return p;
}

Result<ProviderPage> ProviderRegistry::list_impl(const RequestContext& ctx,
                                                 const ListFilter& filter,
                                                 const PageRequest& page) {
  if (Status s = check_context(ctx); !s.ok()) return s;
  std::size_t limit = page.limit == 0 ? options_.default_page_size : page.limit;
  if (limit > options_.max_page_size) {
    return Status(ErrorCode::kValidationFailed,
                  "limit must be between 1 and " + std::to_string(options_.max_page_size), "limit");
  }
  ProviderListQuery query{.workspace = ctx.workspace,
                          .auth_type = filter.auth_type,
                          .category = filter.category,
                          .after_name = std::nullopt,
                          .limit = limit + 1};
  if (page.cursor) {
    auto after = detail::decode_cursor(kProviderCursorKind, *page.cursor);
    if (!after) {
      return Status(ErrorCode::kValidationFailed,
                    "cursor is not one this server issued; start again without it", "cursor");
    }
    query.after_name = std::move(*after);
  }
  Result<std::vector<Provider>> rows = options_.storage->list_providers(query);
  if (!rows.ok()) return rows.status();

  ProviderPage result;
  result.items = std::move(rows).value();
  if (result.items.size() > limit) {
    result.items.resize(limit);
    result.next_cursor = detail::encode_cursor(kProviderCursorKind, result.items.back().spec.name);
  }
  return result;
}

Result<Provider> ProviderRegistry::patch_impl(const RequestContext& ctx, std::string_view name,
                                              const boost::json::value& merge_patch,
                                              const ExpectedVersion& expected_version) {
  if (Status s = check_context(ctx); !s.ok()) return s;
  if (Status s = check_provider_patch(merge_patch); !s.ok()) return s;
  const boost::json::object* patch_object = &merge_patch.get_object();
  ValidationOptions vopts{.allow_insecure_urls = options_.allow_insecure_urls,
                          .allow_insecure_issuer = options_.discovery_allow_insecure};
  std::optional<DiscoveryDocument> fetched;  // kept across retries

  std::unique_lock<std::mutex> serial(retry_mu_, std::defer_lock);
  for (int attempt = 0; attempt < options_.max_patch_attempts; ++attempt) {
    // After a lost race, retry with the other retrying writers of this
    // process held off, so none of them can be starved.
    if (attempt > 0 && !serial.owns_lock()) serial.lock();
    Result<Provider> current = get(ctx, name);
    if (!current.ok()) return current.status();
    if (Status s = check_expected_version(current.value(), expected_version); !s.ok()) return s;
    if (const auto* n = patch_object->if_contains("name")) {
      const auto* s = n->if_string();
      if (s == nullptr || *s != current->spec.name) {
        return Status(ErrorCode::kValidationFailed,
                      "name cannot be changed after creation; create a new provider instead",
                      "name");
      }
    }
    // Connections depend on how a provider authenticates: changing it would
    // strand them, so it is fixed at creation like the name.
    if (const auto* t = patch_object->if_contains("auth_type")) {
      const auto* s = t->if_string();
      if (s == nullptr || *s != to_string(current->spec.auth_type)) {
        return Status(ErrorCode::kValidationFailed,
                      "auth_type cannot be changed after creation; create a new provider instead",
                      "auth_type");
      }
    }
    const bool had_sealed_secret = !current->sealed_client_secret.empty();
    if (const auto* cs = patch_object->if_contains(kClientSecretField);
        cs != nullptr && cs->is_null() && current->spec.auth_type == AuthType::kOAuth2) {
      return Status(ErrorCode::kValidationFailed,
                    "client_secret is required for oauth2 providers; send a new value to "
                    "replace it",
                    std::string(kClientSecretField));
    }

    boost::json::value merged = spec_to_json(current->spec);
    Result<ProviderSpec> spec = Status(ErrorCode::kInternal, "not parsed");
    // The plaintext copies of a new client_secret this attempt makes (in
    // `merged`, in `spec`) are wiped however it ends; the one that reaches
    // `updated` is wiped by seal_secret.
    struct WipeCopies {
      boost::json::value& merged;
      Result<ProviderSpec>& spec;
      ~WipeCopies() {
        if (auto* o = merged.if_object()) {
          if (auto* v = o->if_contains(kClientSecretField); v != nullptr && v->is_string()) {
            sodium_memzero(v->get_string().data(), v->get_string().size());
          }
        }
        if (spec.ok() && spec->client_secret) wipe(*spec->client_secret);
      }
    } wipe_copies{merged, spec};
    if (Status s = apply_merge_patch(merged, merge_patch); !s.ok()) return s;
    spec = parse_provider_spec(merged);
    if (!spec.ok()) return spec.status();
    ValidationOptions patch_opts = vopts;
    patch_opts.client_secret_sealed = had_sealed_secret;
    if (Status s = validate_provider_spec(spec.value(), patch_opts); !s.ok()) return s;
    if (spec->client_secret && had_sealed_secret &&
        sealed_secret_equals(*options_.vault, current.value(), *spec->client_secret)) {
      wipe(*spec->client_secret);
      spec->client_secret.reset();  // the same secret again: nothing to store
    }
    const bool new_secret =
        spec->client_secret.has_value() &&
        (had_sealed_secret || spec->client_secret != current->spec.client_secret);
    if (!new_secret && spec.value() == current->spec) return current;  // nothing to store
    Result<std::optional<DiscoveryState>> discovery =
        discovery_after_patch(current.value(), spec.value(), fetched, serial);
    if (!discovery.ok()) return discovery.status();

    Provider updated = current.value();
    updated.spec = std::move(spec).value();
    updated.discovery = std::move(discovery).value();
    updated.updated_at = std::max(options_.clock->now(), current->updated_at);
    updated.version = current->version + 1;
    boost::json::object changes = changed_fields(current->spec, updated.spec);
    if (new_secret) {
      changes[kClientSecretField] = {
          {"from", had_sealed_secret || current->spec.client_secret ? boost::json::value(kRedacted)
                                                                    : nullptr},
          {"to", kRedacted}};
    }
    seal_secret(*options_.vault, updated);  // also a secret an older version left in clear

    boost::json::object data{{"changed", std::move(changes)}, {"version", updated.version}};
    if (updated.discovery && updated.discovery != current->discovery) {
      data["discovery"] = detail::discovery_audit_data(*updated.discovery);
    }
    AuditEvent event = make_event(options_, ctx, audit_events::kProviderUpdated, updated,
                                  updated.updated_at, data);
    Status s = options_.storage->update_provider(updated, current->version, std::move(event));
    if (s.ok()) return updated;
    if (s.code() == ErrorCode::kProviderNotFound) return not_found(name);
    if (s.code() != ErrorCode::kVersionConflict || expected_version.conditional()) return s;
    // A concurrent change won the race: let it finish, then re-read and
    // apply the patch again.
    std::this_thread::yield();
  }
  return Status(ErrorCode::kUnavailable,
                "the provider is changing too often to apply the patch; retry", "");
}

Status ProviderRegistry::remove_impl(const RequestContext& ctx, std::string_view name,
                                     const ExpectedVersion& expected_version) {
  if (Status s = check_context(ctx); !s.ok()) return s;
  std::unique_lock<std::mutex> serial(retry_mu_, std::defer_lock);
  for (int attempt = 0; attempt < options_.max_patch_attempts; ++attempt) {
    // After a lost race, retry with the other retrying writers of this
    // process held off, so none of them can be starved.
    if (attempt > 0 && !serial.owns_lock()) serial.lock();
    Result<Provider> current = get(ctx, name);
    if (!current.ok()) return current.status();
    if (Status s = check_expected_version(current.value(), expected_version); !s.ok()) return s;
    boost::json::object data{{"version", current->version}};
    AuditEvent event = make_event(options_, ctx, audit_events::kProviderDeleted, current.value(),
                                  options_.clock->now(), data);
    Status s = options_.storage->delete_provider(ctx.workspace, current->spec.name,
                                                 current->version, std::move(event));
    if (s.ok()) return s;
    if (s.code() == ErrorCode::kProviderNotFound) return not_found(name);
    if (s.code() != ErrorCode::kVersionConflict || expected_version.conditional()) return s;
  }
  return Status(ErrorCode::kUnavailable, "the provider is changing too often to delete; retry", "");
}

Result<std::int64_t> ProviderRegistry::count_impl(const RequestContext& ctx) {
  if (Status s = check_context(ctx); !s.ok()) return s;
  return options_.storage->count_providers(ctx.workspace);
}

Result<MetadataIndex> ProviderRegistry::metadata_impl(const RequestContext& ctx) {
  if (Status s = check_context(ctx); !s.ok()) return s;
  MetadataIndex index;
  index[std::string(to_string(AuthType::kOAuth2))];
  index[std::string(to_string(AuthType::kApiKey))];
  ProviderListQuery query{.workspace = ctx.workspace,
                          .auth_type = std::nullopt,
                          .category = std::nullopt,
                          .after_name = std::nullopt,
                          .limit = kMetadataBatch};
  for (;;) {
    Result<std::vector<Provider>> rows = options_.storage->list_providers(query);
    if (!rows.ok()) return rows.status();
    for (const Provider& p : rows.value()) {
      ProviderMetadata m{.api_base_url = p.spec.api_base_url,
                         .user_info_endpoint = effective_endpoints(p).user_info_endpoint,
                         .scopes = p.spec.scopes,
                         .credential_fields = {}};
      if (p.spec.credential_schema) m.credential_fields = p.spec.credential_schema->fields;
      index[std::string(to_string(p.spec.auth_type))][p.spec.name] = std::move(m);
    }
    if (rows->size() < query.limit) break;
    query.after_name = rows->back().spec.name;
  }
  return index;
}

Result<SecretBytes> ProviderRegistry::client_secret_impl(const RequestContext& ctx,
                                                         std::string_view name) {
  Result<Provider> p = get(ctx, name);
  if (!p.ok()) return p.status();
  if (p->sealed_client_secret.empty()) {
    if (p->spec.client_secret) return SecretBytes::copy_of(*p->spec.client_secret);
    return Status(ErrorCode::kNotFound, "the provider has no client secret", "client_secret");
  }
  return options_.vault->open(p->sealed_client_secret, secret_place(p.value()));
}

Result<std::size_t> ProviderRegistry::seal_plaintext_secrets_impl() {
  std::size_t sealed = 0;
  for (;;) {
    auto batch = options_.storage->providers_with_plaintext_secret(kSealBatch);
    if (!batch.ok()) return batch.status();
    if (batch->empty()) break;
    // Every plaintext read is wiped, whichever way this batch ends.
    struct WipeOnExit {
      std::vector<Provider>& providers;
      ~WipeOnExit() {
        for (Provider& p : providers) {
          if (p.spec.client_secret) wipe(*p.spec.client_secret);
        }
      }
    } wipe_batch{batch.value()};
    std::size_t progress = 0;
    for (Provider& p : batch.value()) {
      seal_secret(*options_.vault, p);  // in place: no copy of the plaintext
      RequestContext ctx{.workspace = p.workspace,
                         .actor = std::nullopt,
                         .caller_ip = "",
                         .user_agent = "nexus (startup)"};
      boost::json::object data{{"field", kClientSecretField}, {"version", p.version}};
      // The configuration is unchanged, so the version stays.
      Status s = options_.storage->update_provider(
          p, p.version,
          make_event(options_, ctx, audit_events::kProviderSecretSealed, p, options_.clock->now(),
                     data));
      if (s.ok()) {
        ++sealed;
        ++progress;
      } else if (s.code() != ErrorCode::kVersionConflict &&
                 s.code() != ErrorCode::kProviderNotFound) {
        return s;
      }
    }
    // Rows that changed meanwhile were sealed by that change (a patch seals
    // the secret it carries) or deleted; either way they leave the list.
    if (progress == 0) break;
  }
  // The plaintexts were overwritten in the database (secure_delete); the
  // checkpoint makes their old pages leave the write-ahead log too.
  if (sealed > 0) {
    if (Status s = options_.storage->checkpoint(); !s.ok()) return s;
  }
  return sealed;
}

// ---- Discovery --------------------------------------------------------------

Result<HttpClient*> ProviderRegistry::discovery_client() {
  if (options_.http_client != nullptr) return options_.http_client;
  std::call_once(owned_http_once_, [this] {
    HttpClientOptions client_options = options_.http_client_options;
    client_options.allow_insecure =
        client_options.allow_insecure || options_.discovery_allow_insecure;
    Result<std::unique_ptr<HttpClient>> client = make_default_http_client(client_options);
    if (client.ok()) {
      owned_http_ = std::move(client).value();
    } else {
      owned_http_status_ = client.status();
    }
  });
  if (owned_http_ == nullptr) {
    return Status(owned_http_status_.code(),
                  "discovery has no HTTP client: " + owned_http_status_.message(),
                  owned_http_status_.field());
  }
  return owned_http_.get();
}

Result<DiscoveryDocument> ProviderRegistry::fetch_discovery(std::string_view issuer,
                                                            std::unique_lock<std::mutex>* serial) {
  if (serial != nullptr && serial->owns_lock()) serial->unlock();
  Result<HttpClient*> client = discovery_client();
  if (!client.ok()) return client.status();
  {
    std::lock_guard lock(discovery_mu_);
    if (discoveries_in_flight_ >= options_.max_concurrent_discoveries) {
      return Status(ErrorCode::kUnavailable,
                    std::to_string(discoveries_in_flight_) +
                        " discovery requests are already in progress; retry shortly",
                    "issuer");
    }
    ++discoveries_in_flight_;
  }
  struct Release {
    ProviderRegistry* self;
    ~Release() {
      std::lock_guard lock(self->discovery_mu_);
      --self->discoveries_in_flight_;
    }
  } release{this};
  return discover(*client.value(), issuer,
                  DiscoveryOptions{.clock = options_.clock,
                                   .allow_insecure = options_.discovery_allow_insecure});
}

Result<std::optional<DiscoveryState>> ProviderRegistry::discovery_after_patch(
    const Provider& current, const ProviderSpec& next, std::optional<DiscoveryDocument>& fetched,
    std::unique_lock<std::mutex>& serial) {
  if (!next.enable_discovery) return std::optional<DiscoveryState>();
  // Only a new issuer, or discovery turned on, fetches; the refresh route and
  // the refresher take care of the rest.
  const bool same_issuer = current.spec.enable_discovery && current.spec.issuer == next.issuer;
  if (same_issuer) return current.discovery;
  if (!fetched || fetched->issuer != *next.issuer) {
    Result<DiscoveryDocument> document = fetch_discovery(*next.issuer, &serial);
    if (!document.ok()) return document.status();
    fetched = std::move(document).value();
  }
  return std::optional<DiscoveryState>(detail::discovered_state(*fetched));
}

Result<Provider> ProviderRegistry::refresh_discovery_impl(const RequestContext& ctx,
                                                          std::string_view name) {
  // The outcome of the last fetch and the issuer it was for: a retry after a
  // concurrent change reuses it unless the issuer changed.
  std::optional<std::pair<std::string, Result<DiscoveryDocument>>> fetched;
  std::unique_lock<std::mutex> serial(retry_mu_, std::defer_lock);
  for (int attempt = 0; attempt < options_.max_patch_attempts; ++attempt) {
    // After a lost race, retry with the other retrying writers of this
    // process held off, so none of them can be starved.
    if (attempt > 0 && !serial.owns_lock()) serial.lock();
    Result<Provider> current = get(ctx, name);
    if (!current.ok()) return current.status();
    if (!current->spec.enable_discovery || !current->spec.issuer) {
      return Status(ErrorCode::kValidationFailed,
                    "the provider does not use discovery; set enable_discovery to true first",
                    "enable_discovery");
    }
    const std::string& issuer = *current->spec.issuer;
    if (!fetched || fetched->first != issuer) {
      fetched.emplace(issuer, fetch_discovery(issuer, &serial));
    }
    const Result<DiscoveryDocument>& outcome = fetched->second;
    // Not an answer about the issuer (no HTTP client, say): nothing to record.
    if (!outcome.ok() && outcome.status().code() != ErrorCode::kDiscoveryFailed) {
      return outcome.status();
    }

    Provider updated = current.value();
    updated.updated_at = std::max(options_.clock->now(), current->updated_at);
    updated.version = current->version + 1;
    boost::json::object data{{"version", updated.version}};
    std::string_view type;
    if (outcome.ok()) {
      updated.discovery = detail::discovered_state(outcome.value());
      type = audit_events::kProviderDiscovered;
      data["changed"] = detail::endpoint_changes(effective_endpoints(current.value()),
                                                 effective_endpoints(updated));
      data["discovery"] = detail::discovery_audit_data(*updated.discovery);
    } else {
      updated.discovery =
          detail::failed_state(current->discovery, outcome.status(), options_.clock->now());
      type = audit_events::kProviderDiscoveryFailed;
      data["error"] = discovery_attempt_error_to_json(*updated.discovery->last_error);
    }
    AuditEvent event = make_event(options_, ctx, type, updated, updated.updated_at, data);
    Status s = options_.storage->update_provider(updated, current->version, std::move(event));
    if (s.ok() && outcome.ok()) return updated;
    if (s.ok()) return outcome.status();
    if (s.code() == ErrorCode::kProviderNotFound) return not_found(name);
    if (s.code() != ErrorCode::kVersionConflict) return s;
    // A concurrent change won the race: record the outcome on the new version.
  }
  return Status(ErrorCode::kUnavailable,
                "the provider is changing too often to record its discovery; retry", "");
}

boost::json::object metadata_view(const MetadataIndex& index) {
  boost::json::object out;
  for (const auto& [group, providers] : index) {
    boost::json::object members;
    for (const auto& [name, m] : providers) {
      boost::json::object o;
      o["api_base_url"] = m.api_base_url ? boost::json::value(*m.api_base_url) : nullptr;
      o["user_info_endpoint"] =
          m.user_info_endpoint ? boost::json::value(*m.user_info_endpoint) : nullptr;
      boost::json::array scopes;
      for (const auto& s : m.scopes) scopes.emplace_back(s);
      o["scopes"] = std::move(scopes);
      if (group == to_string(AuthType::kApiKey)) {
        boost::json::array fields;
        for (const auto& f : m.credential_fields) {
          fields.push_back({{"name", f.name}, {"label", f.label}, {"sensitive", f.sensitive}});
        }
        o["credential_fields"] = std::move(fields);
      }
      members[name] = std::move(o);
    }
    out[group] = std::move(members);
  }
  return out;
}

}  // namespace nexus

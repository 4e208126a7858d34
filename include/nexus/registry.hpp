// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// ProviderRegistry: create, read, list, patch and delete providers of a
// workspace, each change audit-logged in the same transaction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "nexus/clock.hpp"
#include "nexus/discovery.hpp"
#include "nexus/http_client.hpp"
#include "nexus/provider.hpp"
#include "nexus/status.hpp"
#include "nexus/vault.hpp"

namespace nexus {

class Storage;

namespace audit_events {
// A client secret stored in clear by an older version was sealed.
inline constexpr std::string_view kProviderSecretSealed = "provider.secret_sealed";
}  // namespace audit_events

// Who is calling and from where: scopes every call to one workspace and
// feeds the audit log.
struct RequestContext {
  std::string workspace = "default";
  std::optional<std::string> actor;  // API key id, when known
  std::string caller_ip;
  std::string user_agent;
};

struct RegistryOptions {
  // Required. Must outlive the registry.
  Storage* storage = nullptr;
  // Seals client secrets at rest. Must outlive the registry.
  // WARNING: when null, the registry seals under a random key that lives only
  // in this process (an ephemeral key). Right for the memory storage and for
  // tests; WRONG for a database that outlives the process: after a restart no
  // key opens those secrets (credential_unreadable), and a server start
  // refuses the database (its key id is unknown). Give every persistent
  // storage a Vault whose keyring you keep (docs/library.md).
  const Vault* vault = nullptr;
  // Defaults: system_clock(), system_random(). Must outlive the registry.
  const Clock* clock = nullptr;
  RandomSource* random = nullptr;
  // Development only: accept plain http URLs.
  bool allow_insecure_urls = false;
  // How discovery reaches issuers (providers with enable_discovery). Null:
  // the registry creates make_default_http_client(http_client_options) on
  // first use and owns it; when that fails, each call that needs discovery
  // returns its Status. Otherwise must outlive the registry.
  HttpClient* http_client = nullptr;
  HttpClientOptions http_client_options;  // only when http_client is null
  // DEVELOPMENT AND TESTS ONLY: a discovery provider's issuer, and the
  // endpoints its document lists, may be plain http
  // (DiscoveryOptions::allow_insecure). Also sets allow_insecure on the client
  // the registry creates; a client passed in must allow loopback itself.
  bool discovery_allow_insecure = false;
  // Discovery fetches (create, patch, refresh_discovery) in flight at once.
  // One more fails at once with kUnavailable instead of waiting, so a slow
  // issuer can hold at most this many of the caller's threads (the server's
  // blocking pool keeps the rest for other writes). Values below 1 count as 1.
  std::size_t max_concurrent_discoveries = 8;
  std::size_t default_page_size = 100;
  std::size_t max_page_size = 1000;
  // A patch without expected_version re-reads and re-applies when a
  // concurrent change wins the race, up to this many times.
  int max_patch_attempts = 64;
};

struct ListFilter {
  std::optional<AuthType> auth_type;
  std::optional<std::string> category;
};

struct PageRequest {
  std::size_t limit = 0;  // 0: default_page_size; 1..max_page_size
  std::optional<std::string> cursor;  // from a previous ProviderPage
};

struct ProviderPage {
  std::vector<Provider> items;  // ordered by name
  std::optional<std::string> next_cursor;  // absent on the last page
};

// What a connection UI needs of one provider; never a secret.
struct ProviderMetadata {
  std::optional<std::string> api_base_url;
  std::optional<std::string> user_info_endpoint;
  std::vector<std::string> scopes;
  // api_key providers: the schema's fields and labels, in order.
  std::vector<CredentialField> credential_fields;
};

// What a conditional change (patch, remove) requires of the stored version:
// nothing (the default), one version, or any of several (an HTTP If-Match
// header may name several ETags). A condition naming no version never
// matches.
class ExpectedVersion {
 public:
  ExpectedVersion() = default;
  ExpectedVersion(std::int64_t version)  // NOLINT(google-explicit-constructor)
      : versions_(std::vector<std::int64_t>{version}) {}
  // nullopt: no condition.
  ExpectedVersion(std::optional<std::int64_t> version) {  // NOLINT(google-explicit-constructor)
    if (version) versions_ = std::vector<std::int64_t>{*version};
  }
  static ExpectedVersion any_of(std::vector<std::int64_t> versions) {
    ExpectedVersion e;
    e.versions_ = std::move(versions);
    return e;
  }

  // Whether there is a condition at all.
  bool conditional() const noexcept { return versions_.has_value(); }
  bool matches(std::int64_t version) const noexcept {
    if (!versions_) return true;
    for (std::int64_t v : *versions_) {
      if (v == version) return true;
    }
    return false;
  }
  // REQUIRES: conditional(). The versions named, in order.
  const std::vector<std::int64_t>& versions() const noexcept { return *versions_; }

 private:
  std::optional<std::vector<std::int64_t>> versions_;
};

// auth_type ("oauth2", "api_key") -> provider name -> metadata.
using MetadataIndex = std::map<std::string, std::map<std::string, ProviderMetadata>>;

// {"oauth2": {"github": {...}}, "api_key": {"stripe": {...}}}; both groups
// always present.
boost::json::object metadata_view(const MetadataIndex& index);

// Thread-safe; holds no state of its own besides the options. No method
// throws: an exception from the storage, clock, vault or Boost.JSON (out of
// memory included) is caught at the method's boundary and returned as
// kInternal, and the change it interrupted is not stored (a storage writes a
// provider and its audit event in one transaction or not at all).
class ProviderRegistry {
 public:
  // REQUIRES: options.storage != nullptr.
  explicit ProviderRegistry(RegistryOptions options);

  // Validates and stores a new provider (version 1), audits provider.created.
  // kValidationFailed naming the field; kProviderExists; nothing is stored on
  // failure. With enable_discovery, first fetches the issuer's document
  // (discover(), blocking up to the HTTP client's timeout): kDiscoveryFailed
  // (field "issuer", message "<reason>: <detail>") stores nothing; on success
  // the document is stored with the provider (Provider::discovery) and gives
  // its endpoints (effective_endpoints).
  Result<Provider> create(const RequestContext& ctx, ProviderSpec spec);
  // parse_provider_spec + create.
  Result<Provider> create(const RequestContext& ctx, const boost::json::value& body);

  // kProviderNotFound when the workspace has no such provider.
  Result<Provider> get(const RequestContext& ctx, std::string_view name);

  // kValidationFailed (field "limit" or "cursor") for a bad page request.
  Result<ProviderPage> list(const RequestContext& ctx, const ListFilter& filter,
                            const PageRequest& page);

  // Applies an RFC 7396 merge patch to the stored spec, re-validates the
  // result and stores it (version + 1), auditing provider.updated with the
  // changed fields (secrets as "[REDACTED]"). Nothing is stored on failure:
  // - kValidationFailed (field "") when the patch is not a JSON object, and
  //   naming the member when one is unknown or server-managed ("id",
  //   "version", "client_secret_set", ...), even with a null value: a typo
  //   such as {"scope": null} is refused, not silently ignored
  //   (check_provider_patch); kInvalidJson when it nests deeper than
  //   kMaxJsonDepth.
  // - `name` is immutable (kValidationFailed, field "name"; sending the same
  //   name is accepted).
  // - `auth_type` is immutable too (kValidationFailed, field "auth_type",
  //   also for null; sending the stored value is accepted). A connection is
  //   made for its provider's auth type and records it: an api_key connection
  //   holds sealed values of the credential_schema, an oauth2 one tokens.
  //   Changing the type would leave every connection holding credentials of
  //   the wrong kind, and the two types share almost no required field, so
  //   the result is a different provider: create one instead.
  // - oauth2: client_secret cannot be cleared (null), only replaced.
  // - Every rule of validate_provider_spec, on the merged provider.
  // With expected_version, kVersionConflict when the stored version is not
  // one it names. A patch that changes nothing stores nothing (no version bump, no audit
  // event) and returns the provider as it is; re-sending the stored
  // client_secret changes nothing (it is compared with the opened sealed
  // secret in constant time). A patch that changes `issuer` of a
  // discovery provider, or turns enable_discovery on, discovers first as
  // create does (kDiscoveryFailed stores nothing); turning it off drops the
  // stored document; any other patch keeps the discovery state as it is and
  // never fetches, even when no document is stored yet.
  // Discovery in create, patch and refresh_discovery: kUnavailable when
  // max_concurrent_discoveries fetches are already in flight.
  Result<Provider> patch(const RequestContext& ctx, std::string_view name,
                         const boost::json::value& merge_patch,
                         const ExpectedVersion& expected_version = {});

  // Deletes the provider and audits provider.deleted. kProviderNotFound;
  // kVersionConflict when expected_version does not match the stored version.
  Status remove(const RequestContext& ctx, std::string_view name,
                const ExpectedVersion& expected_version = {});

  // How many providers the workspace has.
  Result<std::int64_t> count(const RequestContext& ctx);

  // Every provider of the workspace, grouped for connection UIs.
  Result<MetadataIndex> metadata(const RequestContext& ctx);

  // Fetches the issuer's document of a provider with enable_discovery again,
  // blocking up to the HTTP client's timeout. Success: stores it (version + 1),
  // audits provider.discovered and returns the provider. Failure: keeps the
  // last good document and endpoints, records the failure in
  // discovery.last_error (version + 1, audits provider.discovery_failed) and
  // returns kDiscoveryFailed. kProviderNotFound; kValidationFailed (field
  // "enable_discovery") when the provider does not use discovery.
  Result<Provider> refresh_discovery(const RequestContext& ctx, std::string_view name);

  // The provider's client secret, opened. kProviderNotFound; kNotFound when
  // the provider has none; kCredentialUnreadable when it fails to open.
  Result<SecretBytes> client_secret(const RequestContext& ctx, std::string_view name);

  // Seals every client secret that an older version stored in clear (all
  // workspaces), auditing provider.secret_sealed for each, wiping every
  // plaintext it read, then (when it sealed any) checkpoints the storage so
  // the plaintexts leave its write-ahead log (Storage::checkpoint). Returns
  // how many were sealed. Run at startup, before serving.
  Result<std::size_t> seal_plaintext_secrets();

  const RegistryOptions& options() const noexcept { return options_; }

  ~ProviderRegistry();
  ProviderRegistry(const ProviderRegistry&) = delete;
  ProviderRegistry& operator=(const ProviderRegistry&) = delete;

 private:
  // The public methods without their exception boundary.
  Result<Provider> create_impl(const RequestContext& ctx, ProviderSpec spec);
  Result<Provider> get_impl(const RequestContext& ctx, std::string_view name);
  Result<ProviderPage> list_impl(const RequestContext& ctx, const ListFilter& filter,
                                 const PageRequest& page);
  Result<Provider> patch_impl(const RequestContext& ctx, std::string_view name,
                              const boost::json::value& merge_patch,
                              const ExpectedVersion& expected_version);
  Status remove_impl(const RequestContext& ctx, std::string_view name,
                     const ExpectedVersion& expected_version);
  Result<std::int64_t> count_impl(const RequestContext& ctx);
  Result<MetadataIndex> metadata_impl(const RequestContext& ctx);
  Result<Provider> refresh_discovery_impl(const RequestContext& ctx, std::string_view name);
  Result<SecretBytes> client_secret_impl(const RequestContext& ctx, std::string_view name);
  Result<std::size_t> seal_plaintext_secrets_impl();

  // The client discovery uses: options.http_client, or the owned default.
  Result<HttpClient*> discovery_client();
  // discover() within max_concurrent_discoveries; kUnavailable beyond it.
  // Releases `serial` first when held: no fetch ever runs under retry_mu_.
  Result<DiscoveryDocument> fetch_discovery(std::string_view issuer,
                                            std::unique_lock<std::mutex>* serial = nullptr);
  // What `next` is stored with when a patch turns `current` into it; fetches
  // (releasing `serial`) unless `fetched` already holds the document of
  // next's issuer.
  Result<std::optional<DiscoveryState>> discovery_after_patch(
      const Provider& current, const ProviderSpec& next, std::optional<DiscoveryDocument>& fetched,
      std::unique_lock<std::mutex>& serial);

  RegistryOptions options_;
  std::unique_ptr<Vault> owned_vault_;  // when options.vault was null
  // Held by a change retrying after a lost race (see patch); never across a
  // discovery fetch.
  std::mutex retry_mu_;
  std::mutex discovery_mu_;
  std::size_t discoveries_in_flight_ = 0;  // GUARDED_BY(discovery_mu_)
  std::once_flag owned_http_once_;
  std::unique_ptr<HttpClient> owned_http_;  // when options.http_client was null; set once
  Status owned_http_status_;                // why owned_http_ could not be made
};

}  // namespace nexus

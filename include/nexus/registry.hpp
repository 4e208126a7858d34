// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// ProviderRegistry: create, read, list, patch and delete providers of a
// workspace, each change audit-logged in the same transaction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "nexus/clock.hpp"
#include "nexus/provider.hpp"
#include "nexus/status.hpp"

namespace nexus {

class Storage;

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
  // Defaults: system_clock(), system_random(). Must outlive the registry.
  const Clock* clock = nullptr;
  RandomSource* random = nullptr;
  // Development only: accept plain http URLs.
  bool allow_insecure_urls = false;
  std::size_t default_page_size = 100;
  std::size_t max_page_size = 1000;
  // A patch without expected_version re-reads and re-applies when a
  // concurrent change wins the race, up to this many times.
  int max_patch_attempts = 16;
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

// auth_type ("oauth2", "api_key") -> provider name -> metadata.
using MetadataIndex = std::map<std::string, std::map<std::string, ProviderMetadata>>;

// {"oauth2": {"github": {...}}, "api_key": {"stripe": {...}}}; both groups
// always present.
boost::json::object metadata_view(const MetadataIndex& index);

// Thread-safe; holds no state of its own besides the options.
class ProviderRegistry {
 public:
  // REQUIRES: options.storage != nullptr.
  explicit ProviderRegistry(RegistryOptions options);

  // Validates and stores a new provider (version 1), audits provider.created.
  // kValidationFailed naming the field; kProviderExists; nothing is stored on
  // failure.
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
  // changed fields (secrets as "[REDACTED]"). `name` is immutable; so are the
  // server-managed fields. With expected_version, kVersionConflict when the
  // stored version differs. A patch that changes nothing stores nothing and
  // returns the provider as it is.
  Result<Provider> patch(const RequestContext& ctx, std::string_view name,
                         const boost::json::value& merge_patch,
                         std::optional<std::int64_t> expected_version = std::nullopt);

  // Deletes the provider and audits provider.deleted. kProviderNotFound;
  // kVersionConflict when expected_version is given and differs.
  Status remove(const RequestContext& ctx, std::string_view name,
                std::optional<std::int64_t> expected_version = std::nullopt);

  // Every provider of the workspace, grouped for connection UIs.
  Result<MetadataIndex> metadata(const RequestContext& ctx);

  const RegistryOptions& options() const noexcept { return options_; }

 private:
  RegistryOptions options_;
};

}  // namespace nexus

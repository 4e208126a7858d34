// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// The provider model: the registered configuration of one third-party service,
// its validation rules, and its JSON forms.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "nexus/clock.hpp"
#include "nexus/discovery.hpp"
#include "nexus/status.hpp"

namespace nexus {

enum class AuthType { kOAuth2, kApiKey };

// "oauth2" / "api_key".
std::string_view to_string(AuthType type) noexcept;
std::optional<AuthType> parse_auth_type(std::string_view text) noexcept;
// parse_auth_type for user input (a body member or a query parameter):
// kValidationFailed naming `field`, with the provider parser's message.
Result<AuthType> read_auth_type(std::string_view text, std::string_view field = "auth_type");

// One value a user supplies when connecting an api_key provider.
struct CredentialField {
  std::string name;        // ^[a-z][a-z0-9_]*$, unique within the schema
  std::string label;       // non-empty, shown in connection UIs
  bool sensitive = true;   // sealed at rest and never shown back
  friend bool operator==(const CredentialField&, const CredentialField&) = default;
};

struct CredentialSchema {
  std::vector<CredentialField> fields;  // at least one
  friend bool operator==(const CredentialSchema&, const CredentialSchema&) = default;
};

// A value of `params`: string, integer, floating point or boolean.
using ParamValue = std::variant<std::string, std::int64_t, double, bool>;
using Params = std::map<std::string, ParamValue>;  // at most 32 keys

// What a caller supplies for a provider. Every optional field is absent
// unless given; the server-managed fields live in Provider.
struct ProviderSpec {
  std::string name;
  AuthType auth_type = AuthType::kOAuth2;
  std::optional<std::string> client_id;
  std::optional<std::string> client_secret;  // a secret: never in views, logs or audit data
  std::optional<std::string> issuer;
  std::optional<std::string> auth_url;
  std::optional<std::string> token_url;
  std::optional<std::string> api_base_url;
  std::optional<std::string> user_info_endpoint;
  std::optional<std::string> jwks_uri;
  bool enable_discovery = false;
  // RFC 6749 scope tokens: printable ASCII except space, double quote and
  // backslash. De-duplicated, order kept.
  std::vector<std::string> scopes;
  Params params;
  std::optional<CredentialSchema> credential_schema;
  std::optional<std::string> description;
  std::optional<std::string> category;
  friend bool operator==(const ProviderSpec&, const ProviderSpec&) = default;
};

// A stored provider: the spec plus the fields the server manages.
struct Provider {
  std::string id;         // opaque, "prv_..."
  std::string workspace;  // names are unique within a workspace
  Timestamp created_at{};
  Timestamp updated_at{};
  std::int64_t version = 0;  // 1 on create, +1 on every change
  ProviderSpec spec;  // as stored: spec.client_secret is absent; see below
  // The client secret sealed by the Vault (an envelope), or empty. Stored
  // providers never carry the secret in clear; ProviderRegistry::client_secret
  // opens it.
  std::string sealed_client_secret;
  // Providers with enable_discovery: the issuer's stored document and the
  // last attempt's outcome (docs/discovery.md). Absent otherwise, and for a
  // discovery provider never discovered yet.
  std::optional<DiscoveryState> discovery;
  friend bool operator==(const Provider&, const Provider&) = default;
};

struct ValidationOptions {
  // Development only: accept plain http URLs.
  bool allow_insecure_urls = false;
  // A sealed client secret is already stored, so an absent client_secret
  // (one a patch does not replace) satisfies the oauth2 rule.
  bool client_secret_sealed = false;
  // Development only: accept a plain http issuer (discovery's insecure switch).
  bool allow_insecure_issuer = false;
};

// The endpoints an OAuth flow uses. With enable_discovery: auth_url and
// token_url from the stored discovery document (absent until one is stored),
// jwks_uri and user_info_endpoint as the caller gave them, else from the
// document. Otherwise: the spec's values.
struct ProviderEndpoints {
  std::optional<std::string> auth_url;
  std::optional<std::string> token_url;
  std::optional<std::string> jwks_uri;
  std::optional<std::string> user_info_endpoint;
  friend bool operator==(const ProviderEndpoints&, const ProviderEndpoints&) = default;
};
ProviderEndpoints effective_endpoints(const Provider& provider);

// Limits of the model, in one place.
inline constexpr std::size_t kMaxProviderNameLength = 63;
inline constexpr std::size_t kMaxParams = 32;
inline constexpr std::size_t kMaxStringLength = 4096;  // any one string field
inline constexpr std::size_t kMaxScopes = 256;
inline constexpr std::size_t kMaxCredentialFields = 64;

// Reads a provider spec from JSON: a top-level object whose members are the
// ProviderSpec fields. Fails with kValidationFailed naming the field when a
// member is unknown, server-managed ("id", "version", ...), or of the wrong
// JSON type; a member whose value is null is treated as absent. Performs only
// structural checks: call validate_provider_spec for the rules.
Result<ProviderSpec> parse_provider_spec(const boost::json::value& json);

// Every rule of the model (docs/provider-model.md). Returns the first
// violation as kValidationFailed with the field; OK when the spec is valid.
// Normalises `spec` in place: removes duplicate scopes keeping the first.
Status validate_provider_spec(ProviderSpec& spec, const ValidationOptions& options);

// The complete spec as JSON, client_secret included: the input of a merge
// patch. Never send this to a caller.
boost::json::object spec_to_json(const ProviderSpec& spec);

// The provider as callers see it: every field except client_secret, which is
// replaced by "client_secret_set": true|false; plus id, created_at,
// updated_at and version. With enable_discovery, the endpoints are the
// effective ones (effective_endpoints) and "discovery" holds
// discovery_state_view.
boost::json::object provider_view(const Provider& provider);

// Checks that `patch` can be a merge patch of a provider spec, before it is
// applied: a JSON object (else kValidationFailed, field ""); every member a
// spec member, so an unknown or server-managed member is kValidationFailed
// naming it even when its value is null (a null that clears nothing would
// otherwise hide a typo such as "scope"); credential_schema, when an object,
// only with "fields"; nesting at most kMaxJsonDepth (else kInvalidJson). The
// values are checked after merging, by parse_provider_spec and
// validate_provider_spec.
Status check_provider_patch(const boost::json::value& patch);

// RFC 7396 JSON merge patch: applies `patch` to `target` in place. Its
// recursion follows `patch`, so a patch nesting deeper than kMaxJsonDepth is
// refused with kInvalidJson and `target` is left untouched.
Status apply_merge_patch(boost::json::value& target, const boost::json::value& patch);

}  // namespace nexus

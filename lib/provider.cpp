// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/provider.hpp"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/string.hpp>
#include <cmath>
#include <iterator>
#include <set>
#include <utility>

#include "detail/url.hpp"
#include "nexus/json.hpp"

namespace nexus {
namespace {

namespace json = boost::json;

// The optional string members, in the order the JSON forms list them.
struct OptionalString {
  std::string_view name;
  std::optional<std::string> ProviderSpec::*member;
  bool is_url;
};
constexpr OptionalString kOptionalStrings[] = {
    {"client_id", &ProviderSpec::client_id, false},
    {"client_secret", &ProviderSpec::client_secret, false},
    {"issuer", &ProviderSpec::issuer, true},
    {"auth_url", &ProviderSpec::auth_url, true},
    {"token_url", &ProviderSpec::token_url, true},
    {"api_base_url", &ProviderSpec::api_base_url, true},
    {"user_info_endpoint", &ProviderSpec::user_info_endpoint, true},
    {"jwks_uri", &ProviderSpec::jwks_uri, true},
    {"description", &ProviderSpec::description, false},
    {"category", &ProviderSpec::category, false},
};

// Members of Provider and of views that a spec may not set.
constexpr std::string_view kServerManaged[] = {"id",         "workspace", "created_at",
                                               "updated_at", "version",   "client_secret_set",
                                               "discovery"};

// Names that would collide with fixed routes under /providers/.
constexpr std::string_view kReservedNames[] = {"metadata"};

// The members that configure an oauth2 flow and mean nothing to an api_key provider.
constexpr std::string_view kOAuth2OnlyStrings[] = {"client_id", "client_secret", "issuer",
                                                   "auth_url",  "token_url",     "jwks_uri"};

constexpr std::string_view kCredentialFieldMembers[] = {"name", "label", "sensitive"};

Status invalid(std::string field, std::string message) {
  return Status(ErrorCode::kValidationFailed, std::move(message), std::move(field));
}

// The usual message: the field's name followed by the rule it broke.
Status blame(std::string_view field, std::string_view rule) {
  return invalid(std::string(field), std::string(field) + " " + std::string(rule));
}

template <std::size_t N>
bool contains(const std::string_view (&list)[N], std::string_view item) {
  return std::find(std::begin(list), std::end(list), item) != std::end(list);
}

bool is_lower_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

std::string indexed(std::string_view base, std::size_t i) {
  return std::string(base) + "[" + std::to_string(i) + "]";
}

// ---- Structural parsing ----------------------------------------------------

// The error for a member that is not part of a spec, by name.
Status not_a_spec_member(std::string_view key) {
  if (contains(kServerManaged, key)) {
    return blame(key, "is managed by the server and cannot be set.");
  }
  return invalid(std::string(key),
                 "unknown field \"" + std::string(key) + "\"; check its spelling.");
}

Status unknown_schema_member(std::string_view key) {
  return invalid(
      "credential_schema." + std::string(key),
      "unknown field \"" + std::string(key) + R"(" in credential_schema; it has only "fields".)");
}

Status read_string(std::string_view key, const json::value& value, std::string& out) {
  const json::string* s = value.if_string();
  if (s == nullptr) return blame(key, "must be a string.");
  out.assign(s->data(), s->size());
  return {};
}

Status read_bool(std::string_view key, const json::value& value, bool& out) {
  const bool* b = value.if_bool();
  if (b == nullptr) {
    return blame(key, "must be a boolean (true or false).");
  }
  out = *b;
  return {};
}

Status read_auth_type(const json::value& value, AuthType& out) {
  std::string text;
  if (Status s = read_string("auth_type", value, text); !s.ok()) return s;
  Result<AuthType> type = nexus::read_auth_type(text);
  if (!type.ok()) return type.status();
  out = *type;
  return {};
}

Status read_scopes(const json::value& value, std::vector<std::string>& out) {
  const json::array* array = value.if_array();
  if (array == nullptr) return blame("scopes", "must be an array of strings.");
  for (std::size_t i = 0; i < array->size(); ++i) {
    const json::string* s = (*array)[i].if_string();
    if (s == nullptr) {
      return invalid(indexed("scopes", i), "scopes must be an array of strings; " +
                                               indexed("scopes", i) + " is not a string.");
    }
    out.emplace_back(s->data(), s->size());
  }
  return {};
}

Status read_params(const json::value& value, Params& out) {
  const json::object* object = value.if_object();
  if (object == nullptr) {
    return blame("params", "must be an object of strings, numbers and booleans.");
  }
  for (const json::key_value_pair& member : *object) {
    const std::string key(member.key());
    const std::string field = "params." + key;
    const json::value& v = member.value();
    switch (v.kind()) {
      case json::kind::string:
        out[key] = std::string(v.get_string());
        break;
      case json::kind::int64:
        out[key] = v.get_int64();
        break;
      case json::kind::double_:
        out[key] = v.get_double();
        break;
      case json::kind::bool_:
        out[key] = v.get_bool();
        break;
      case json::kind::uint64:
        return blame(field, "is too large: integers must fit in 64 signed bits.");
      default:
        return blame(field, "must be a string, number or boolean.");
    }
  }
  return {};
}

Status read_credential_field(const json::value& value, const std::string& field,
                             CredentialField& out) {
  const json::object* object = value.if_object();
  if (object == nullptr) {
    return blame(field, R"(must be an object with "name", "label" and "sensitive".)");
  }
  for (const json::key_value_pair& member : *object) {
    if (!contains(kCredentialFieldMembers, member.key())) {
      return invalid(field + "." + std::string(member.key()),
                     "unknown field \"" + std::string(member.key()) + "\" in " + field +
                         R"(; a credential field has "name", "label" and "sensitive".)");
    }
  }
  // As at the top level, a null member counts as absent.
  for (std::string_view required : {"name", "label"}) {
    const json::value* v = object->if_contains(required);
    const std::string member_field = field + "." + std::string(required);
    if (v == nullptr || v->is_null()) return blame(member_field, "is required.");
    if (Status s = read_string(member_field, *v, required == "name" ? out.name : out.label);
        !s.ok()) {
      return s;
    }
  }
  const json::value* sensitive = object->if_contains("sensitive");
  if (sensitive != nullptr && !sensitive->is_null()) {
    return read_bool(field + ".sensitive", *sensitive, out.sensitive);
  }
  return {};
}

Status read_credential_schema(const json::value& value, std::optional<CredentialSchema>& out) {
  const json::object* object = value.if_object();
  if (object == nullptr) {
    return blame("credential_schema", R"(must be an object with a "fields" array.)");
  }
  for (const json::key_value_pair& member : *object) {
    if (member.key() != "fields") return unknown_schema_member(member.key());
  }
  const json::value* fields = object->if_contains("fields");
  if (fields == nullptr || fields->is_null()) {
    return blame("credential_schema.fields", "is required.");
  }
  const json::array* array = fields->if_array();
  if (array == nullptr) {
    return blame("credential_schema.fields", "must be an array of objects.");
  }
  CredentialSchema& schema = out.emplace();
  schema.fields.resize(array->size());
  for (std::size_t i = 0; i < array->size(); ++i) {
    Status s = read_credential_field((*array)[i], indexed("credential_schema.fields", i),
                                     schema.fields[i]);
    if (!s.ok()) return s;
  }
  return {};
}

Status read_member(std::string_view key, const json::value& value, ProviderSpec& spec) {
  const bool absent = value.is_null();
  for (const OptionalString& f : kOptionalStrings) {
    if (key == f.name) {
      return absent ? Status() : read_string(key, value, (spec.*f.member).emplace());
    }
  }
  if (key == "name") return absent ? Status() : read_string(key, value, spec.name);
  if (key == "auth_type") return absent ? Status() : read_auth_type(value, spec.auth_type);
  if (key == "enable_discovery") {
    return absent ? Status() : read_bool(key, value, spec.enable_discovery);
  }
  if (key == "scopes") return absent ? Status() : read_scopes(value, spec.scopes);
  if (key == "params") return absent ? Status() : read_params(value, spec.params);
  if (key == "credential_schema") {
    return absent ? Status() : read_credential_schema(value, spec.credential_schema);
  }
  return not_a_spec_member(key);
}

// ---- Semantic validation ---------------------------------------------------

Status check_name(const std::string& name) {
  if (name.empty()) return blame("name", "must not be empty.");
  if (name.size() > kMaxProviderNameLength) {
    return blame("name",
                 "must be at most " + std::to_string(kMaxProviderNameLength) + " characters.");
  }
  const bool well_formed = is_lower_or_digit(name[0]) &&
                           std::all_of(name.begin(), name.end(),
                                       [](char c) { return is_lower_or_digit(c) || c == '-'; });
  if (!well_formed) {
    return blame("name",
                 "must start with a lower-case letter or digit and contain only a-z, 0-9 "
                 "and -.");
  }
  if (contains(kReservedNames, name)) {
    return blame("name", "\"" + name + "\" is reserved; choose another name.");
  }
  return {};
}

const std::optional<std::string>& optional_string(const ProviderSpec& spec, std::string_view name) {
  for (const OptionalString& f : kOptionalStrings) {
    if (f.name == name) return spec.*f.member;
  }
  static const std::optional<std::string> kNone;
  return kNone;
}

Status check_oauth2(const ProviderSpec& spec, const ValidationOptions& options) {
  for (std::string_view required : {"client_id", "client_secret"}) {
    const std::optional<std::string>& value = optional_string(spec, required);
    if (required == "client_secret" && !value && options.client_secret_sealed) continue;
    if (!value || value->empty()) {
      return blame(required, "is required for oauth2 providers.");
    }
  }
  if (spec.credential_schema) {
    return blame("credential_schema",
                 "applies only to api_key providers; oauth2 providers use "
                 "client_id and client_secret.");
  }
  if (spec.enable_discovery) {
    if (!spec.issuer) {
      return blame("issuer", "is required when enable_discovery is true.");
    }
    for (std::string_view endpoint : {"auth_url", "token_url"}) {
      if (optional_string(spec, endpoint)) {
        return blame(endpoint,
                     "must not be set when enable_discovery is true: discovery supplies "
                     "it from the issuer.");
      }
    }
    return {};
  }
  if (spec.issuer && !spec.auth_url && !spec.token_url) {
    return invalid("issuer",
                   "auth_url and token_url are required when enable_discovery is false; set "
                   "enable_discovery to true to discover them from the issuer.");
  }
  for (std::string_view endpoint : {"auth_url", "token_url"}) {
    if (!optional_string(spec, endpoint)) {
      return blame(endpoint, "is required when enable_discovery is false.");
    }
  }
  return {};
}

Status check_api_key(const ProviderSpec& spec) {
  if (!spec.credential_schema) {
    return blame("credential_schema",
                 "is required for api_key providers: list the fields a user "
                 "supplies when connecting.");
  }
  if (spec.credential_schema->fields.empty()) {
    return blame("credential_schema.fields", "must list at least one field.");
  }
  const auto oauth2_only = [](std::string_view field) {
    return blame(field, "applies only to oauth2 providers; remove it or set auth_type to oauth2.");
  };
  for (std::string_view field : kOAuth2OnlyStrings) {
    if (optional_string(spec, field)) return oauth2_only(field);
  }
  if (!spec.scopes.empty()) return oauth2_only("scopes");
  if (spec.enable_discovery) return oauth2_only("enable_discovery");
  return {};
}

Status check_urls(const ProviderSpec& spec, const ValidationOptions& options) {
  for (const OptionalString& f : kOptionalStrings) {
    const std::optional<std::string>& value = spec.*f.member;
    if (!f.is_url || !value) continue;
    const bool insecure = options.allow_insecure_urls ||
                          (options.allow_insecure_issuer && f.member == &ProviderSpec::issuer);
    if (const auto problem = detail::url_problem(*value, insecure)) {
      return blame(f.name, std::string(*problem) + ".");
    }
  }
  return {};
}

Status too_long(const std::string& field) {
  return blame(field, "must be at most " + std::to_string(kMaxStringLength) + " characters.");
}

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). Scopes travel
// space-separated, so a space (ASCII or Unicode) would split one into two, and a
// quote or backslash breaks the quoted form of WWW-Authenticate (RFC 6750 §3).
bool is_scope_token_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x21 && u <= 0x7e && u != '"' && u != '\\';
}

Status check_scopes(std::vector<std::string>& scopes) {
  for (std::size_t i = 0; i < scopes.size(); ++i) {
    const std::string& scope = scopes[i];
    if (scope.empty()) return blame(indexed("scopes", i), "is empty.");
    if (scope.size() > kMaxStringLength) return too_long(indexed("scopes", i));
    if (!std::all_of(scope.begin(), scope.end(), is_scope_token_char)) {
      return blame(indexed("scopes", i),
                   "must be an OAuth scope token (RFC 6749 section 3.3): printable ASCII "
                   "without spaces, double quotes or backslashes.");
    }
  }
  std::set<std::string_view> seen;  // views into `scopes`, which stays intact until replaced
  std::vector<std::string> unique;
  for (const std::string& scope : scopes) {
    if (seen.insert(scope).second) unique.push_back(scope);
  }
  scopes = std::move(unique);
  if (scopes.size() > kMaxScopes) {
    return blame("scopes", "may list at most " + std::to_string(kMaxScopes) + " distinct scopes.");
  }
  return {};
}

Status check_params(const Params& params) {
  if (params.size() > kMaxParams) {
    return blame("params", "may have at most " + std::to_string(kMaxParams) + " keys.");
  }
  for (const auto& [key, value] : params) {
    if (key.empty()) return blame("params", "keys must not be empty.");
    if (key.size() > kMaxStringLength) {
      return blame("params",
                   "keys must be at most " + std::to_string(kMaxStringLength) + " characters.");
    }
    const std::string field = "params." + key;
    const auto* text = std::get_if<std::string>(&value);
    if (text != nullptr && text->size() > kMaxStringLength) return too_long(field);
    // JSON has no spelling for NaN or infinity, so such a value could not be stored.
    const auto* number = std::get_if<double>(&value);
    if (number != nullptr && !std::isfinite(*number)) {
      return blame(field, "must be a finite number.");
    }
  }
  return {};
}

bool is_credential_field_name(const std::string& name) {
  return !name.empty() && name[0] >= 'a' && name[0] <= 'z' &&
         std::all_of(name.begin(), name.end(),
                     [](char c) { return is_lower_or_digit(c) || c == '_'; });
}

Status check_credential_schema(const CredentialSchema& schema) {
  if (schema.fields.size() > kMaxCredentialFields) {
    return blame("credential_schema.fields",
                 "may list at most " + std::to_string(kMaxCredentialFields) + " fields.");
  }
  for (std::size_t i = 0; i < schema.fields.size(); ++i) {
    const CredentialField& field = schema.fields[i];
    const std::string base = indexed("credential_schema.fields", i);
    const std::string name_field = base + ".name";
    if (field.name.size() > kMaxStringLength) return too_long(name_field);
    if (!is_credential_field_name(field.name)) {
      return blame(name_field,
                   "must start with a lower-case letter and contain only "
                   "a-z, 0-9 and _.");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (schema.fields[j].name == field.name) {
        return blame(name_field, "\"" + field.name + "\" duplicates " +
                                     indexed("credential_schema.fields", j) +
                                     ".name; field names must be unique.");
      }
    }
    if (field.label.empty()) return blame(base + ".label", "must not be empty.");
    if (field.label.size() > kMaxStringLength) return too_long(base + ".label");
  }
  return {};
}

Status check_strings(const ProviderSpec& spec) {
  for (const OptionalString& f : kOptionalStrings) {
    const std::optional<std::string>& value = spec.*f.member;
    if (value && value->size() > kMaxStringLength) return too_long(std::string(f.name));
  }
  if (spec.category && spec.category->empty()) {
    return blame("category", "must not be empty when given.");
  }
  return {};
}

// ---- JSON forms ------------------------------------------------------------

// The spec's members; the secret itself only when `with_secret`, otherwise
// client_secret_set in its place.
void write_spec(const ProviderSpec& spec, bool with_secret, json::object& out) {
  out["name"] = spec.name;
  out["auth_type"] = to_string(spec.auth_type);
  for (const OptionalString& f : kOptionalStrings) {
    const std::optional<std::string>& value = spec.*f.member;
    if (f.member == &ProviderSpec::client_secret && !with_secret) {
      out["client_secret_set"] = value.has_value() && !value->empty();
    } else if (value) {
      out[f.name] = *value;
    }
  }
  out["enable_discovery"] = spec.enable_discovery;
  json::array& scopes = out["scopes"].emplace_array();
  for (const std::string& scope : spec.scopes) scopes.emplace_back(scope);
  json::object& params = out["params"].emplace_object();
  for (const auto& [key, value] : spec.params) {
    std::visit([&params, &key](const auto& v) { params[key] = v; }, value);
  }
  if (spec.credential_schema) {
    json::array& fields = out["credential_schema"].emplace_object()["fields"].emplace_array();
    for (const CredentialField& field : spec.credential_schema->fields) {
      fields.push_back(json::object{
          {"name", field.name}, {"label", field.label}, {"sensitive", field.sensitive}});
    }
  }
}

// RFC 7396 MergePatch: recurses as deep as `patch` nests.
void merge(json::value& target, const json::value& patch) {
  const json::object* members = patch.if_object();
  if (members == nullptr) {
    target = patch;
    return;
  }
  json::object* object = target.if_object();
  if (object == nullptr) object = &target.emplace_object();
  for (const json::key_value_pair& member : *members) {
    if (member.value().is_null()) {
      object->erase(member.key());
    } else {
      merge((*object)[member.key()], member.value());
    }
  }
}

Status check_patch_depth(const json::value& patch) {
  if (json_depth(patch) <= kMaxJsonDepth) return {};
  return Status(ErrorCode::kInvalidJson,
                "The patch nests deeper than " + std::to_string(kMaxJsonDepth) + " levels.");
}

}  // namespace

std::string_view to_string(AuthType type) noexcept {
  switch (type) {
    case AuthType::kOAuth2:
      return "oauth2";
    case AuthType::kApiKey:
      return "api_key";
  }
  return "oauth2";
}

std::optional<AuthType> parse_auth_type(std::string_view text) noexcept {
  if (text == "oauth2") return AuthType::kOAuth2;
  if (text == "api_key") return AuthType::kApiKey;
  return std::nullopt;
}

Result<AuthType> read_auth_type(std::string_view text, std::string_view field) {
  const std::optional<AuthType> type = parse_auth_type(text);
  if (!type) return blame(field, R"(must be "oauth2" or "api_key".)");
  return *type;
}

Result<ProviderSpec> parse_provider_spec(const json::value& json) {
  const json::object* object = json.if_object();
  if (object == nullptr) return invalid("", "The provider must be a JSON object.");
  ProviderSpec spec;
  for (const json::key_value_pair& member : *object) {
    if (Status s = read_member(member.key(), member.value(), spec); !s.ok()) return s;
  }
  const auto is_absent = [object](std::string_view key) {
    const json::value* v = object->if_contains(key);
    return v == nullptr || v->is_null();
  };
  if (is_absent("name")) return blame("name", "is required.");
  if (is_absent("auth_type")) {
    return blame("auth_type", R"(is required: "oauth2" or "api_key".)");
  }
  return spec;
}

Status validate_provider_spec(ProviderSpec& spec, const ValidationOptions& options) {
  if (Status s = check_name(spec.name); !s.ok()) return s;
  Status s = spec.auth_type == AuthType::kOAuth2 ? check_oauth2(spec, options) : check_api_key(spec);
  if (!s.ok()) return s;
  if (s = check_urls(spec, options); !s.ok()) return s;
  if (s = check_scopes(spec.scopes); !s.ok()) return s;
  if (s = check_params(spec.params); !s.ok()) return s;
  if (spec.credential_schema) {
    if (s = check_credential_schema(*spec.credential_schema); !s.ok()) return s;
  }
  return check_strings(spec);
}

json::object spec_to_json(const ProviderSpec& spec) {
  json::object out;
  write_spec(spec, /*with_secret=*/true, out);
  return out;
}

ProviderEndpoints effective_endpoints(const Provider& provider) {
  const ProviderSpec& spec = provider.spec;
  ProviderEndpoints out{.auth_url = spec.auth_url,
                        .token_url = spec.token_url,
                        .jwks_uri = spec.jwks_uri,
                        .user_info_endpoint = spec.user_info_endpoint};
  if (!spec.enable_discovery) return out;
  const DiscoveryDocument* document =
      provider.discovery && provider.discovery->document ? &*provider.discovery->document
                                                         : nullptr;
  out.auth_url.reset();
  out.token_url.reset();
  if (document == nullptr) return out;
  out.auth_url = document->authorization_endpoint;
  out.token_url = document->token_endpoint;
  if (!out.jwks_uri) out.jwks_uri = document->jwks_uri;
  if (!out.user_info_endpoint) out.user_info_endpoint = document->userinfo_endpoint;
  return out;
}

json::object provider_view(const Provider& provider) {
  json::object out;
  out["id"] = provider.id;
  write_spec(provider.spec, /*with_secret=*/false, out);
  if (!provider.sealed_client_secret.empty()) out["client_secret_set"] = true;
  if (provider.spec.enable_discovery) {
    const ProviderEndpoints endpoints = effective_endpoints(provider);
    const std::pair<std::string_view, const std::optional<std::string>*> members[] = {
        {"auth_url", &endpoints.auth_url},
        {"token_url", &endpoints.token_url},
        {"jwks_uri", &endpoints.jwks_uri},
        {"user_info_endpoint", &endpoints.user_info_endpoint}};
    for (const auto& [name, value] : members) {
      if (*value) out[name] = **value;
    }
    out["discovery"] =
        discovery_state_view(provider.discovery ? &*provider.discovery : nullptr);
  }
  out["created_at"] = format_rfc3339(provider.created_at);
  out["updated_at"] = format_rfc3339(provider.updated_at);
  out["version"] = provider.version;
  return out;
}

Status check_provider_patch(const json::value& patch) {
  const json::object* object = patch.if_object();
  if (object == nullptr) {
    return invalid("", "A patch must be a JSON object of the fields to change.");
  }
  if (Status s = check_patch_depth(patch); !s.ok()) return s;
  for (const json::key_value_pair& member : *object) {
    // Checked before merging: a misspelt member set to null would otherwise
    // erase nothing and pass unnoticed.
    // read_member takes a null for every member of a spec (it clears) and
    // names anything else; the one list of members is read_member's.
    ProviderSpec unused;
    if (Status s = read_member(member.key(), json::value(), unused); !s.ok()) return s;
    const json::object* schema =
        member.key() == "credential_schema" ? member.value().if_object() : nullptr;
    if (schema == nullptr) continue;
    for (const json::key_value_pair& inner : *schema) {
      if (inner.key() != "fields") return unknown_schema_member(inner.key());
    }
  }
  return {};
}

Status apply_merge_patch(json::value& target, const json::value& patch) {
  if (Status s = check_patch_depth(patch); !s.ok()) return s;
  merge(target, patch);
  return {};
}

}  // namespace nexus

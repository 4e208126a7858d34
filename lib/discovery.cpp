// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/discovery.hpp"

#include <algorithm>
#include <array>
#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>
#include <utility>
#include <variant>
#include <vector>

#include "detail/discovery_state.hpp"
#include "detail/url.hpp"

namespace nexus {
namespace {

constexpr std::string_view kOpenIdWellKnown = "/.well-known/openid-configuration";
constexpr std::string_view kOAuthWellKnown = "/.well-known/oauth-authorization-server";

// Microsoft Entra ID's multi-tenant documents publish a template issuer; an ID
// token then carries its tenant's issuer. No other issuer gets this leniency.
constexpr std::string_view kMicrosoftAuthority = "https://login.microsoftonline.com/";
constexpr std::array<std::string_view, 2> kMicrosoftMultiTenantSegments = {"common",
                                                                           "organizations"};
constexpr std::string_view kMicrosoftTemplateSegment = "{tenantid}";
constexpr std::string_view kMicrosoftVersionSuffix = "/v2.0";

constexpr std::array<DiscoveryFailure, 9> kAllFailures = {
    DiscoveryFailure::kUnreachable,    DiscoveryFailure::kTlsError,
    DiscoveryFailure::kBlockedAddress, DiscoveryFailure::kTooLarge,
    DiscoveryFailure::kTimeout,        DiscoveryFailure::kHttpStatus,
    DiscoveryFailure::kInvalidJson,    DiscoveryFailure::kIssuerMismatch,
    DiscoveryFailure::kMissingField,
};

DiscoveryError error(DiscoveryFailure reason, std::string detail) {
  return DiscoveryError{reason, std::move(detail)};
}

// The issuer without the "/" that would otherwise double before a well-known
// suffix (OpenID Connect Discovery 1.0 §4.1, RFC 8414 §3.1).
std::string_view without_trailing_slash(std::string_view s) {
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return s;
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

bool is_microsoft_template(std::string_view configured, std::string_view published) {
  for (std::string_view segment : kMicrosoftMultiTenantSegments) {
    const auto form = [](std::string_view middle) {
      std::string s(kMicrosoftAuthority);
      s += middle;
      s += kMicrosoftVersionSuffix;
      return s;
    };
    if (configured == form(segment) && published == form(kMicrosoftTemplateSegment)) return true;
  }
  return false;
}

// Seconds of Cache-Control max-age (RFC 9111 §5.2.2.1); 0 for no-store and
// no-cache, which the caller's clamp turns into the minimum; nullopt when the
// response gives none.
std::optional<std::int64_t> cache_max_age(const HttpResponse& response) {
  std::optional<std::int64_t> result;
  if (const auto header = response.header("Cache-Control")) {
    std::string_view rest = *header;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      std::string_view directive = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      while (!directive.empty() && std::isspace(static_cast<unsigned char>(directive.front()))) {
        directive.remove_prefix(1);
      }
      while (!directive.empty() && std::isspace(static_cast<unsigned char>(directive.back()))) {
        directive.remove_suffix(1);
      }
      const std::size_t eq = directive.find('=');
      std::string key(directive.substr(0, eq));
      std::transform(key.begin(), key.end(), key.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      if (key == "no-store" || key == "no-cache") return 0;
      if (key != "max-age" || eq == std::string_view::npos) continue;
      std::string_view value = directive.substr(eq + 1);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      if (value.empty() || !std::all_of(value.begin(), value.end(),
                                        [](unsigned char c) { return std::isdigit(c); })) {
        continue;  // unparseable: ignored, so the default lifetime applies
      }
      std::int64_t seconds = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
      if (ec == std::errc::result_out_of_range) seconds = std::numeric_limits<std::int64_t>::max();
      if (!result) result = seconds;
    }
  }
  return result;
}

std::chrono::seconds clamped_max_age(const HttpResponse& response) {
  const std::optional<std::int64_t> given = cache_max_age(response);
  if (!given) return kDiscoveryDefaultMaxAge;
  if (*given < kDiscoveryMinMaxAge.count()) return kDiscoveryMinMaxAge;
  if (*given > kDiscoveryMaxMaxAge.count()) return kDiscoveryMaxMaxAge;
  return std::chrono::seconds(*given);
}

// Reads an optional string member: absent and null give nullopt.
std::variant<std::optional<std::string>, DiscoveryError> string_member(
    const boost::json::object& doc, std::string_view name) {
  const boost::json::value* v = doc.if_contains(name);
  if (v == nullptr || v->is_null()) return std::optional<std::string>();
  if (!v->is_string()) {
    return error(DiscoveryFailure::kInvalidJson, std::string(name) + " must be a string");
  }
  return std::optional<std::string>(std::string(v->get_string()));
}

std::variant<std::vector<std::string>, DiscoveryError> string_array_member(
    const boost::json::object& doc, std::string_view name) {
  std::vector<std::string> out;
  const boost::json::value* v = doc.if_contains(name);
  if (v == nullptr || v->is_null()) return out;
  if (!v->is_array()) {
    return error(DiscoveryFailure::kInvalidJson,
                 std::string(name) + " must be an array of strings");
  }
  for (const boost::json::value& item : v->get_array()) {
    if (!item.is_string()) {
      return error(DiscoveryFailure::kInvalidJson,
                   std::string(name) + " must be an array of strings");
    }
    out.emplace_back(item.get_string());
  }
  return out;
}

// Validates `response` as the metadata of `issuer` (OpenID Connect Discovery
// 1.0 §4.3, RFC 8414 §3.3) and fills everything but the fetch bookkeeping.
std::variant<DiscoveryDocument, DiscoveryError> validate(std::string_view issuer,
                                                         const std::string& url,
                                                         const HttpResponse& response,
                                                         bool allow_insecure) {
  boost::system::error_code ec;
  const boost::json::value json = boost::json::parse(response.body, ec);
  if (ec) {
    return error(DiscoveryFailure::kInvalidJson,
                 "the document at " + url + " is not JSON: " + ec.message());
  }
  if (!json.is_object()) {
    return error(DiscoveryFailure::kInvalidJson,
                 "the document at " + url + " is not a JSON object");
  }
  const boost::json::object& doc = json.get_object();
  DiscoveryDocument out;

  auto published = string_member(doc, "issuer");
  if (auto* e = std::get_if<DiscoveryError>(&published)) return std::move(*e);
  auto& published_issuer = std::get<std::optional<std::string>>(published);
  if (!published_issuer || published_issuer->empty()) {
    return error(DiscoveryFailure::kMissingField, "the document at " + url + " has no issuer");
  }
  out.issuer = std::string(issuer);
  out.published_issuer = *published_issuer;
  if (*published_issuer != issuer) {
    if (!is_microsoft_template(issuer, *published_issuer)) {
      return error(DiscoveryFailure::kIssuerMismatch, "the document at " + url + " names issuer " +
                                                          quoted(*published_issuer) + ", not " +
                                                          quoted(issuer));
    }
    out.issuer_template = true;
  }

  const auto endpoint = [&](std::string_view name, bool required,
                            std::optional<std::string>& into) -> std::optional<DiscoveryError> {
    auto member = string_member(doc, name);
    if (auto* e = std::get_if<DiscoveryError>(&member)) return std::move(*e);
    into = std::move(std::get<std::optional<std::string>>(member));
    if (into && into->empty()) into.reset();
    if (!into) {
      if (!required) return std::nullopt;
      return error(DiscoveryFailure::kMissingField,
                   "the document at " + url + " has no " + std::string(name));
    }
    if (const auto problem = detail::url_problem(*into, allow_insecure)) {
      return error(DiscoveryFailure::kInvalidJson,
                   std::string(name) + " " + std::string(*problem) + ": " + quoted(*into));
    }
    return std::nullopt;
  };
  std::optional<std::string> authorization, token;
  if (auto e = endpoint("authorization_endpoint", true, authorization)) return std::move(*e);
  if (auto e = endpoint("token_endpoint", true, token)) return std::move(*e);
  out.authorization_endpoint = std::move(*authorization);
  out.token_endpoint = std::move(*token);
  if (auto e = endpoint("jwks_uri", false, out.jwks_uri)) return std::move(*e);
  if (auto e = endpoint("userinfo_endpoint", false, out.userinfo_endpoint)) return std::move(*e);
  if (auto e = endpoint("revocation_endpoint", false, out.revocation_endpoint)) {
    return std::move(*e);
  }

  const std::pair<std::string_view, std::vector<std::string>*> arrays[] = {
      {"code_challenge_methods_supported", &out.code_challenge_methods_supported},
      {"token_endpoint_auth_methods_supported", &out.token_endpoint_auth_methods_supported},
      {"scopes_supported", &out.scopes_supported},
  };
  for (const auto& [name, into] : arrays) {
    auto member = string_array_member(doc, name);
    if (auto* e = std::get_if<DiscoveryError>(&member)) return std::move(*e);
    *into = std::move(std::get<std::vector<std::string>>(member));
  }
  out.metadata_url = url;
  return out;
}

HttpResult fetch(HttpClient& http, const std::string& url) {
  return http.get(HttpRequest{url, {HttpHeader{"Accept", "application/json"}}});
}

std::string status_detail(const std::string& url, int status) {
  std::string detail = "GET " + url + " answered " + std::to_string(status);
  if (status >= 300 && status < 400) detail += " (redirects are not followed)";
  return detail;
}

std::variant<DiscoveryDocument, DiscoveryError> discover_or_error(HttpClient& http,
                                                                  std::string_view issuer,
                                                                  const Clock& clock,
                                                                  bool allow_insecure) {
  // Each URL is tried only when the one before it answered 404: plain OAuth
  // 2.0 authorization servers publish only RFC 8414 metadata, some of them at
  // the §5 compatibility location.
  std::vector<std::pair<std::string, MetadataSource>> candidates = {
      {openid_configuration_url(issuer), MetadataSource::kOpenIdConfiguration},
      {oauth_authorization_server_url(issuer), MetadataSource::kOAuthAuthorizationServer}};
  if (std::string appended = oauth_authorization_server_appended_url(issuer);
      appended != candidates.back().first) {
    candidates.emplace_back(std::move(appended), MetadataSource::kOAuthAuthorizationServer);
  }
  std::string not_found;  // "GET ... answered 404; " for each URL that did
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const auto& [url, source] = candidates[i];
    const HttpResult result = fetch(http, url);
    if (!result.ok()) {
      return error(to_discovery_failure(result.error().reason),
                   not_found.empty() ? result.error().message
                                     : not_found + "then " + result.error().message);
    }
    if (result->status == 404 && i + 1 < candidates.size()) {
      not_found += status_detail(url, 404) + "; ";
      continue;
    }
    if (result->status != 200) {
      return error(DiscoveryFailure::kHttpStatus, not_found + status_detail(url, result->status));
    }
    // The cache lifetime counts from when the answer arrived.
    const Timestamp fetched_at = clock.now();
    auto validated = validate(issuer, url, result.value(), allow_insecure);
    if (auto* document = std::get_if<DiscoveryDocument>(&validated)) {
      document->source = source;
      document->fetched_at = fetched_at;
      document->expires_at = fetched_at + clamped_max_age(result.value());
    }
    return validated;
  }
  return error(DiscoveryFailure::kHttpStatus, not_found);  // not reached: the list is not empty
}

// discovery_document_{to,from}_json helpers.
boost::json::array to_json_array(const std::vector<std::string>& values) {
  boost::json::array out;
  for (const std::string& v : values) out.emplace_back(v);
  return out;
}

constexpr std::array<std::string_view, 15> kDocumentMembers = {
    "issuer",
    "metadata_url",
    "source",
    "issuer_template",
    "published_issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "userinfo_endpoint",
    "revocation_endpoint",
    "code_challenge_methods_supported",
    "token_endpoint_auth_methods_supported",
    "scopes_supported",
    "fetched_at",
    "expires_at",
};

Status json_error(std::string_view member, std::string_view problem) {
  return Status(ErrorCode::kInvalidJson, std::string(member) + " " + std::string(problem),
                std::string(member));
}

}  // namespace

std::string_view to_string(DiscoveryFailure failure) noexcept {
  switch (failure) {
    case DiscoveryFailure::kUnreachable:
      return to_string(HttpFailure::kUnreachable);
    case DiscoveryFailure::kTlsError:
      return to_string(HttpFailure::kTlsError);
    case DiscoveryFailure::kBlockedAddress:
      return to_string(HttpFailure::kBlockedAddress);
    case DiscoveryFailure::kTooLarge:
      return to_string(HttpFailure::kTooLarge);
    case DiscoveryFailure::kTimeout:
      return to_string(HttpFailure::kTimeout);
    case DiscoveryFailure::kHttpStatus:
      return "http_status";
    case DiscoveryFailure::kInvalidJson:
      return "invalid_json";
    case DiscoveryFailure::kIssuerMismatch:
      return "issuer_mismatch";
    case DiscoveryFailure::kMissingField:
      return "missing_field";
  }
  return "unreachable";
}

std::optional<DiscoveryFailure> parse_discovery_failure(std::string_view text) noexcept {
  for (DiscoveryFailure f : kAllFailures) {
    if (to_string(f) == text) return f;
  }
  return std::nullopt;
}

DiscoveryFailure to_discovery_failure(HttpFailure failure) noexcept {
  switch (failure) {
    case HttpFailure::kUnreachable:
      return DiscoveryFailure::kUnreachable;
    case HttpFailure::kTlsError:
      return DiscoveryFailure::kTlsError;
    case HttpFailure::kBlockedAddress:
      return DiscoveryFailure::kBlockedAddress;
    case HttpFailure::kTooLarge:
      return DiscoveryFailure::kTooLarge;
    case HttpFailure::kTimeout:
      return DiscoveryFailure::kTimeout;
  }
  return DiscoveryFailure::kUnreachable;
}

Status DiscoveryError::to_status() const {
  std::string message(to_string(reason));
  message += ": ";
  message += detail;
  return Status(ErrorCode::kDiscoveryFailed, std::move(message), "issuer");
}

std::optional<DiscoveryError> DiscoveryError::from_status(const Status& status) {
  if (status.code() != ErrorCode::kDiscoveryFailed) return std::nullopt;
  const std::string& message = status.message();
  const std::size_t colon = message.find(": ");
  if (colon == std::string::npos) return std::nullopt;
  const auto reason = parse_discovery_failure(std::string_view(message).substr(0, colon));
  if (!reason) return std::nullopt;
  return DiscoveryError{*reason, message.substr(colon + 2)};
}

std::string_view to_string(MetadataSource source) noexcept {
  switch (source) {
    case MetadataSource::kOpenIdConfiguration:
      return "openid_configuration";
    case MetadataSource::kOAuthAuthorizationServer:
      return "oauth_authorization_server";
  }
  return "openid_configuration";
}

std::string openid_configuration_url(std::string_view issuer) {
  std::string url(without_trailing_slash(issuer));
  url += kOpenIdWellKnown;
  return url;
}

std::string oauth_authorization_server_url(std::string_view issuer) {
  const auto parsed = boost::urls::parse_absolute_uri(issuer);
  if (!parsed) return std::string(without_trailing_slash(issuer)) + std::string(kOAuthWellKnown);
  // RFC 8414 §3.1: the well-known segment goes between the authority and the
  // issuer's path, whose terminating "/" is removed.
  std::string url(parsed->scheme());
  url += "://";
  url += parsed->encoded_authority();
  url += kOAuthWellKnown;
  url += without_trailing_slash(parsed->encoded_path());
  return url;
}

std::string oauth_authorization_server_appended_url(std::string_view issuer) {
  std::string url(without_trailing_slash(issuer));
  url += kOAuthWellKnown;
  return url;
}

Result<DiscoveryDocument> discover(HttpClient& http, std::string_view issuer,
                                   const DiscoveryOptions& options) {
  if (const auto problem = detail::url_problem(issuer, options.allow_insecure)) {
    return Status(ErrorCode::kValidationFailed, "issuer " + std::string(*problem), "issuer");
  }
  const auto parsed = boost::urls::parse_uri(issuer);
  if (!parsed || parsed->has_query()) {
    return Status(ErrorCode::kValidationFailed, "issuer must not contain a query (?...)", "issuer");
  }
  const Clock& clock = options.clock != nullptr ? *options.clock : system_clock();
  auto outcome = discover_or_error(http, issuer, clock, options.allow_insecure);
  if (auto* e = std::get_if<DiscoveryError>(&outcome)) return e->to_status();
  return std::move(std::get<DiscoveryDocument>(outcome));
}

boost::json::object discovery_document_to_json(const DiscoveryDocument& d) {
  boost::json::object o;
  o["issuer"] = d.issuer;
  o["metadata_url"] = d.metadata_url;
  o["source"] = to_string(d.source);
  o["issuer_template"] = d.issuer_template;
  o["published_issuer"] = d.published_issuer;
  o["authorization_endpoint"] = d.authorization_endpoint;
  o["token_endpoint"] = d.token_endpoint;
  if (d.jwks_uri) o["jwks_uri"] = *d.jwks_uri;
  if (d.userinfo_endpoint) o["userinfo_endpoint"] = *d.userinfo_endpoint;
  if (d.revocation_endpoint) o["revocation_endpoint"] = *d.revocation_endpoint;
  o["code_challenge_methods_supported"] = to_json_array(d.code_challenge_methods_supported);
  o["token_endpoint_auth_methods_supported"] =
      to_json_array(d.token_endpoint_auth_methods_supported);
  o["scopes_supported"] = to_json_array(d.scopes_supported);
  o["fetched_at"] = format_rfc3339(d.fetched_at);
  o["expires_at"] = format_rfc3339(d.expires_at);
  return o;
}

Result<DiscoveryDocument> discovery_document_from_json(const boost::json::value& json) {
  if (!json.is_object()) return Status(ErrorCode::kInvalidJson, "expected a JSON object");
  const boost::json::object& o = json.get_object();
  for (const auto& member : o) {
    if (std::find(kDocumentMembers.begin(), kDocumentMembers.end(), member.key()) ==
        kDocumentMembers.end()) {
      return json_error(member.key(), "is not a member of a discovery document");
    }
  }
  DiscoveryDocument d;
  const auto required_string = [&](std::string_view name, std::string& into) -> Status {
    const boost::json::value* v = o.if_contains(name);
    if (v == nullptr) return json_error(name, "is missing");
    if (!v->is_string()) return json_error(name, "must be a string");
    into = std::string(v->get_string());
    return Status::Ok();
  };
  const auto optional_string = [&](std::string_view name,
                                   std::optional<std::string>& into) -> Status {
    const boost::json::value* v = o.if_contains(name);
    if (v == nullptr || v->is_null()) return Status::Ok();
    if (!v->is_string()) return json_error(name, "must be a string");
    into = std::string(v->get_string());
    return Status::Ok();
  };
  const auto string_array = [&](std::string_view name, std::vector<std::string>& into) -> Status {
    const boost::json::value* v = o.if_contains(name);
    if (v == nullptr || v->is_null()) return Status::Ok();
    if (!v->is_array()) return json_error(name, "must be an array of strings");
    for (const boost::json::value& item : v->get_array()) {
      if (!item.is_string()) return json_error(name, "must be an array of strings");
      into.emplace_back(item.get_string());
    }
    return Status::Ok();
  };
  const auto timestamp = [&](std::string_view name, Timestamp& into) -> Status {
    std::string text;
    if (Status s = required_string(name, text); !s.ok()) return s;
    const auto parsed = parse_rfc3339(text);
    if (!parsed) return json_error(name, "must be an RFC 3339 timestamp");
    into = *parsed;
    return Status::Ok();
  };

  std::string source;
  for (Status s :
       {required_string("issuer", d.issuer), required_string("metadata_url", d.metadata_url),
        required_string("source", source), required_string("published_issuer", d.published_issuer),
        required_string("authorization_endpoint", d.authorization_endpoint),
        required_string("token_endpoint", d.token_endpoint),
        optional_string("jwks_uri", d.jwks_uri),
        optional_string("userinfo_endpoint", d.userinfo_endpoint),
        optional_string("revocation_endpoint", d.revocation_endpoint),
        string_array("code_challenge_methods_supported", d.code_challenge_methods_supported),
        string_array("token_endpoint_auth_methods_supported",
                     d.token_endpoint_auth_methods_supported),
        string_array("scopes_supported", d.scopes_supported), timestamp("fetched_at", d.fetched_at),
        timestamp("expires_at", d.expires_at)}) {
    if (!s.ok()) return s;
  }
  if (source == to_string(MetadataSource::kOpenIdConfiguration)) {
    d.source = MetadataSource::kOpenIdConfiguration;
  } else if (source == to_string(MetadataSource::kOAuthAuthorizationServer)) {
    d.source = MetadataSource::kOAuthAuthorizationServer;
  } else {
    return json_error("source",
                      "must be \"openid_configuration\" or \"oauth_authorization_server\"");
  }
  if (const boost::json::value* v = o.if_contains("issuer_template")) {
    if (!v->is_bool()) return json_error("issuer_template", "must be a boolean");
    d.issuer_template = v->get_bool();
  }
  return d;
}

std::chrono::seconds discovery_retry_delay(int failures) noexcept {
  std::chrono::seconds delay = kDiscoveryRetryInitial;
  for (int i = 1; i < failures && delay < kDiscoveryRetryMax; ++i) delay *= 2;
  return std::min(delay, kDiscoveryRetryMax);
}

Timestamp next_refresh_at(const DiscoveryState& state) noexcept {
  if (state.last_error) return state.last_error->retry_at;
  if (state.document) return state.document->expires_at;
  return state.last_attempt_at;
}

boost::json::object discovery_attempt_error_to_json(const DiscoveryAttemptError& error) {
  return boost::json::object{{"reason", to_string(error.reason)},
                             {"message", error.message},
                             {"at", format_rfc3339(error.at)},
                             {"failures", error.failures},
                             {"retry_at", format_rfc3339(error.retry_at)}};
}

Result<DiscoveryAttemptError> discovery_attempt_error_from_json(const boost::json::value& json) {
  const boost::json::object* o = json.if_object();
  if (o == nullptr) return Status(ErrorCode::kInvalidJson, "expected a JSON object");
  for (const auto& member : *o) {
    if (member.key() != "reason" && member.key() != "message" && member.key() != "at" &&
        member.key() != "failures" && member.key() != "retry_at") {
      return json_error(member.key(), "is not a member of a discovery error");
    }
  }
  const auto text = [&](std::string_view name) -> const boost::json::string* {
    const boost::json::value* v = o->if_contains(name);
    return v == nullptr ? nullptr : v->if_string();
  };
  DiscoveryAttemptError out;
  const boost::json::string* reason = text("reason");
  const boost::json::string* message = text("message");
  const boost::json::string* at = text("at");
  if (reason == nullptr) return json_error("reason", "must be a string");
  if (message == nullptr) return json_error("message", "must be a string");
  if (at == nullptr) return json_error("at", "must be a string");
  const auto parsed_reason = parse_discovery_failure(*reason);
  if (!parsed_reason) return json_error("reason", "is not a discovery failure reason");
  const auto parsed_at = parse_rfc3339(*at);
  if (!parsed_at) return json_error("at", "must be an RFC 3339 timestamp");
  out.reason = *parsed_reason;
  out.message = std::string(*message);
  out.at = *parsed_at;
  out.retry_at = out.at;
  if (const boost::json::value* v = o->if_contains("failures")) {
    const std::int64_t* n = v->if_int64();
    if (n == nullptr || *n < 1 || *n > std::numeric_limits<int>::max()) {
      return json_error("failures", "must be a positive integer");
    }
    out.failures = static_cast<int>(*n);
  }
  if (o->contains("retry_at")) {
    const boost::json::string* retry_at = text("retry_at");
    const auto parsed_retry = retry_at != nullptr ? parse_rfc3339(*retry_at) : std::nullopt;
    if (!parsed_retry) return json_error("retry_at", "must be an RFC 3339 timestamp");
    out.retry_at = *parsed_retry;
  }
  return out;
}

boost::json::object discovery_state_view(const DiscoveryState* state) {
  const DiscoveryDocument* document =
      state != nullptr && state->document ? &*state->document : nullptr;
  const auto time_or_null = [](const Timestamp* t) -> boost::json::value {
    if (t == nullptr) return nullptr;
    return boost::json::value(format_rfc3339(*t));
  };
  boost::json::object o;
  o["issuer_template"] = document != nullptr && document->issuer_template;
  o["metadata_url"] =
      document != nullptr ? boost::json::value(document->metadata_url) : boost::json::value();
  o["fetched_at"] = time_or_null(document != nullptr ? &document->fetched_at : nullptr);
  o["expires_at"] = time_or_null(document != nullptr ? &document->expires_at : nullptr);
  o["last_attempt_at"] = time_or_null(state != nullptr ? &state->last_attempt_at : nullptr);
  if (state != nullptr && state->last_error) {
    o["last_error"] = discovery_attempt_error_to_json(*state->last_error);
  } else {
    o["last_error"] = nullptr;
  }
  return o;
}

namespace detail {
namespace {
// Past this the delay is long capped; the count only has to stay finite.
constexpr int kMaxCountedFailures = 1'000'000;
}  // namespace

DiscoveryState discovered_state(DiscoveryDocument document) {
  DiscoveryState state;
  state.last_attempt_at = document.fetched_at;
  state.document = std::move(document);
  return state;
}

DiscoveryState failed_state(const std::optional<DiscoveryState>& previous, const Status& failure,
                            Timestamp at) {
  DiscoveryState state = previous.value_or(DiscoveryState{});
  const std::optional<DiscoveryError> error = DiscoveryError::from_status(failure);
  int failures = 1;
  if (previous && previous->last_error) {
    failures = std::min(previous->last_error->failures, kMaxCountedFailures - 1) + 1;
  }
  state.last_attempt_at = at;
  state.last_error =
      DiscoveryAttemptError{.reason = error ? error->reason : DiscoveryFailure::kUnreachable,
                            .message = error ? error->detail : failure.message(),
                            .at = at,
                            .failures = failures,
                            .retry_at = at + discovery_retry_delay(failures)};
  return state;
}

boost::json::object discovery_audit_data(const DiscoveryState& state) {
  boost::json::object o;
  if (!state.document) return o;
  const DiscoveryDocument& d = *state.document;
  o["metadata_url"] = d.metadata_url;
  o["issuer_template"] = d.issuer_template;
  o["authorization_endpoint"] = d.authorization_endpoint;
  o["token_endpoint"] = d.token_endpoint;
  if (d.jwks_uri) o["jwks_uri"] = *d.jwks_uri;
  if (d.userinfo_endpoint) o["userinfo_endpoint"] = *d.userinfo_endpoint;
  o["fetched_at"] = format_rfc3339(d.fetched_at);
  o["expires_at"] = format_rfc3339(d.expires_at);
  return o;
}

boost::json::object endpoint_changes(const ProviderEndpoints& before,
                                     const ProviderEndpoints& after) {
  const auto side = [](const std::optional<std::string>& v) -> boost::json::value {
    if (!v) return nullptr;
    return boost::json::value(*v);
  };
  using Member = std::optional<std::string> ProviderEndpoints::*;
  const std::pair<std::string_view, Member> members[] = {
      {"auth_url", &ProviderEndpoints::auth_url},
      {"token_url", &ProviderEndpoints::token_url},
      {"jwks_uri", &ProviderEndpoints::jwks_uri},
      {"user_info_endpoint", &ProviderEndpoints::user_info_endpoint}};
  boost::json::object changes;
  for (const auto& [name, member] : members) {
    if (before.*member != after.*member) {
      changes[name] = {{"from", side(before.*member)}, {"to", side(after.*member)}};
    }
  }
  return changes;
}

}  // namespace detail
}  // namespace nexus

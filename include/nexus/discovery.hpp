// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// OpenID Connect Discovery 1.0 and OAuth 2.0 Authorization Server Metadata
// (RFC 8414): fetch an issuer's metadata document, validate it, and keep the
// endpoints a provider needs, with how long they may be cached.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nexus/clock.hpp"
#include "nexus/http_client.hpp"
#include "nexus/status.hpp"

namespace nexus {

// Why discovery failed: a closed set, each with one snake_case spelling. The
// first five are HttpFailure's, under the same names.
enum class DiscoveryFailure {
  kUnreachable,     // name not resolved, connection refused or reset
  kTlsError,        // handshake or certificate verification failed
  kBlockedAddress,  // the issuer is at a loopback/private/... address, or not https
  kTooLarge,        // the document exceeds the client's size cap
  kTimeout,         // the client's connect or total deadline passed
  kHttpStatus,      // an HTTP status other than 200 (redirects included)
  kInvalidJson,     // not a JSON object, a member of the wrong type, a bad URL
  kIssuerMismatch,  // the published issuer differs from the configured one
  kMissingField,    // authorization_endpoint or token_endpoint absent
};

// "unreachable", "tls_error", ..., "missing_field".
std::string_view to_string(DiscoveryFailure failure) noexcept;
// The inverse of to_string; nullopt for any other text.
std::optional<DiscoveryFailure> parse_discovery_failure(std::string_view text) noexcept;
DiscoveryFailure to_discovery_failure(HttpFailure failure) noexcept;

// A failed discovery in structured form. discover() reports it as a Status
// (to_status); callers that need the reason back use from_status.
struct DiscoveryError {
  DiscoveryFailure reason = DiscoveryFailure::kUnreachable;
  std::string detail;  // one sentence, e.g. "GET https://... answered 404"

  // ErrorCode::kDiscoveryFailed, field "issuer", message
  // "<reason>: <detail>" (e.g. "tls_error: TLS handshake with ... failed: ...").
  Status to_status() const;
  // The DiscoveryError a to_status() produced; nullopt for any other Status.
  static std::optional<DiscoveryError> from_status(const Status& status);
  friend bool operator==(const DiscoveryError&, const DiscoveryError&) = default;
};

// Which well-known document the metadata came from.
enum class MetadataSource {
  kOpenIdConfiguration,       // {issuer}/.well-known/openid-configuration
  kOAuthAuthorizationServer,  // RFC 8414 §3.1, tried when the first answers 404
};

// "openid_configuration" / "oauth_authorization_server".
std::string_view to_string(MetadataSource source) noexcept;

// The validated metadata of one issuer: plain fields, storable as is
// (discovery_document_to_json / discovery_document_from_json).
struct DiscoveryDocument {
  std::string issuer;        // the configured issuer, which the document matched
  std::string metadata_url;  // where the document was fetched
  MetadataSource source = MetadataSource::kOpenIdConfiguration;
  // True only for Microsoft's multi-tenant documents, whose published issuer
  // is the template "https://login.microsoftonline.com/{tenantid}/v2.0";
  // `published_issuer` then holds it and ID tokens carry the tenant's issuer.
  bool issuer_template = false;
  std::string published_issuer;  // the document's "issuer", as published
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::optional<std::string> jwks_uri;
  std::optional<std::string> userinfo_endpoint;
  std::optional<std::string> revocation_endpoint;
  std::vector<std::string> code_challenge_methods_supported;       // empty: not published
  std::vector<std::string> token_endpoint_auth_methods_supported;  // empty: not published
  std::vector<std::string> scopes_supported;                       // empty: not published
  Timestamp fetched_at{};
  Timestamp expires_at{};  // fetched_at + the clamped Cache-Control max-age
  friend bool operator==(const DiscoveryDocument&, const DiscoveryDocument&) = default;
};

// How long a document is cached, in one place.
inline constexpr std::chrono::seconds kDiscoveryDefaultMaxAge{3'600};  // no max-age given
inline constexpr std::chrono::seconds kDiscoveryMinMaxAge{5 * 60};
inline constexpr std::chrono::seconds kDiscoveryMaxMaxAge{24 * 3'600};

struct DiscoveryOptions {
  // Default: system_clock(). Must outlive the call.
  const Clock* clock = nullptr;
  // DEVELOPMENT AND TESTS ONLY: accept an http issuer and http endpoints. Pair
  // it with an HttpClient whose allow_insecure is set to reach loopback.
  bool allow_insecure = false;
};

// Fetches and validates the metadata of `issuer`:
// 1. GET {issuer without trailing "/"}/.well-known/openid-configuration
//    (OpenID Connect Discovery 1.0 §4); when that answers 404, GET the RFC 8414
//    document, whose well-known segment goes between host and path:
//    https://x/realms/a -> https://x/.well-known/oauth-authorization-server/realms/a;
//    when that answers 404 too and the issuer has a path, GET the form some
//    servers publish instead (RFC 8414 §5):
//    https://x/realms/a/.well-known/oauth-authorization-server.
// 2. Requires status 200 and a JSON object whose "issuer" equals `issuer`
//    exactly (§4.3; the one exception is Microsoft's {tenantid} template for
//    the common and organizations issuers), with authorization_endpoint and
//    token_endpoint; every endpoint must be an absolute https URL.
// 3. Sets fetched_at from the clock and expires_at from Cache-Control max-age
//    (default kDiscoveryDefaultMaxAge, clamped to [kDiscoveryMinMaxAge,
//    kDiscoveryMaxMaxAge]).
// Returns kValidationFailed (field "issuer") when `issuer` is not an absolute
// https URL without query and fragment, and otherwise, on any failure,
// DiscoveryError::to_status(): kDiscoveryFailed, field "issuer".
// `http` must outlive the call.
Result<DiscoveryDocument> discover(HttpClient& http, std::string_view issuer,
                                   const DiscoveryOptions& options = {});

// The metadata URLs of `issuer`, as discover() requests them: OpenID's, RFC
// 8414's (§3.1, well-known segment inserted before the path) and the RFC 8414
// §5 compatibility form (appended, as for OpenID; equal to the second when
// the issuer has no path).
// REQUIRES: `issuer` is an absolute http(s) URL without query and fragment.
std::string openid_configuration_url(std::string_view issuer);
std::string oauth_authorization_server_url(std::string_view issuer);
std::string oauth_authorization_server_appended_url(std::string_view issuer);

// {"issuer": ..., "metadata_url": ..., "source": "openid_configuration", ...,
//  "fetched_at": "2026-...Z", "expires_at": "2026-...Z"}; optional members are
// omitted when absent.
boost::json::object discovery_document_to_json(const DiscoveryDocument& document);
// The inverse of discovery_document_to_json. Fails with kInvalidJson naming
// the member when one is unknown, missing or of the wrong type.
Result<DiscoveryDocument> discovery_document_from_json(const boost::json::value& json);

// ---- Discovery state of a provider -----------------------------------------

// After a failed attempt, how long the library waits before it refetches on
// its own (DiscoveryRefresher): kDiscoveryRetryInitial after the first
// failure, doubling with each consecutive one up to kDiscoveryRetryMax. A
// success ends the backoff; the refresh route may refetch at any time.
inline constexpr std::chrono::seconds kDiscoveryRetryInitial{60};
inline constexpr std::chrono::seconds kDiscoveryRetryMax{3'600};

// The wait after `failures` consecutive failed attempts (>= 1; smaller counts
// as 1): min(kDiscoveryRetryInitial * 2^(failures - 1), kDiscoveryRetryMax).
std::chrono::seconds discovery_retry_delay(int failures) noexcept;

// A failed attempt to (re)fetch a provider's document.
struct DiscoveryAttemptError {
  DiscoveryFailure reason = DiscoveryFailure::kUnreachable;
  std::string message;  // DiscoveryError::detail: names hosts and causes, never a secret
  Timestamp at{};
  int failures = 1;      // consecutive failed attempts, this one included
  Timestamp retry_at{};  // at + discovery_retry_delay(failures): the next automatic attempt
  friend bool operator==(const DiscoveryAttemptError&, const DiscoveryAttemptError&) = default;
};

// What a provider with enable_discovery keeps (Provider::discovery): the last
// document that validated and how the last attempt went. A failed refresh
// keeps the document, so the provider's endpoints stay the last good ones.
struct DiscoveryState {
  // Absent only when no attempt has ever succeeded: a provider stored before
  // discovery was integrated, whose first refresh failed.
  std::optional<DiscoveryDocument> document;
  Timestamp last_attempt_at{};
  std::optional<DiscoveryAttemptError> last_error;  // set when the last attempt failed
  friend bool operator==(const DiscoveryState&, const DiscoveryState&) = default;
};

// When the library next refetches the document on its own: last_error's
// retry_at after a failure, otherwise the document's expires_at (and
// last_attempt_at, that is at once, for a state with neither).
Timestamp next_refresh_at(const DiscoveryState& state) noexcept;

// The `discovery` object of a provider view; never a secret:
// {"issuer_template": bool, "metadata_url": "..."|null, "fetched_at": "..."|null,
//  "expires_at": "..."|null, "last_attempt_at": "..."|null,
//  "last_error": null | {"reason": "timeout", "message": "...", "at": "...",
//                        "failures": 2, "retry_at": "..."}}.
// `state` null: discovery enabled but never attempted (every member null/false).
boost::json::object discovery_state_view(const DiscoveryState* state);

// {"reason", "message", "at", "failures", "retry_at"}, as in the view; and
// back. from_json fails with kInvalidJson naming the member; "failures" and
// "retry_at" may be absent (errors stored before backoff existed): 1 and "at".
boost::json::object discovery_attempt_error_to_json(const DiscoveryAttemptError& error);
Result<DiscoveryAttemptError> discovery_attempt_error_from_json(const boost::json::value& json);

}  // namespace nexus

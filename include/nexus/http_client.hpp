// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// HttpClient: how the library talks to third-party servers (OpenID discovery
// now, OAuth token exchange later). Abstract so hosts can route requests
// through their own stack and tests can answer without a network; the default
// implementation (make_default_http_client) is Boost.Beast over OpenSSL with a
// guard against server-side request forgery.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "nexus/status.hpp"

namespace nexus {

// One header field. Names compare case-insensitively (HttpResponse::header).
struct HttpHeader {
  std::string name;
  std::string value;
  friend bool operator==(const HttpHeader&, const HttpHeader&) = default;
};

struct HttpRequest {
  // Absolute URL: https (or http when the client allows insecure targets).
  std::string url;
  // Sent in addition to Host, User-Agent and Connection, which they must not
  // repeat. Names are HTTP tokens; values contain no CR, LF or NUL.
  std::vector<HttpHeader> headers;
};

struct HttpResponse {
  int status = 0;  // any status, 3xx included: redirects are never followed
  std::vector<HttpHeader> headers;
  std::string body;

  // The value of the first header named `name` (case-insensitive), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const;
};

// Why a request produced no response. A closed set; discovery reports each
// under the same spelling (DiscoveryFailure in discovery.hpp).
enum class HttpFailure {
  kUnreachable,     // name not resolved, connection refused or reset, not HTTP
  kTlsError,        // handshake or certificate verification failed
  kBlockedAddress,  // the target is loopback/private/link-local/..., or not https
  kTooLarge,        // the response exceeds the size cap
  kTimeout,         // the connect or total deadline passed
};

// "unreachable", "tls_error", "blocked_address", "too_large", "timeout".
std::string_view to_string(HttpFailure failure) noexcept;

struct HttpError {
  HttpFailure reason = HttpFailure::kUnreachable;
  // One sentence naming the host and the cause, e.g. "TLS handshake with
  // idp.example.com failed: certificate has expired". Never contains a header
  // value or a body.
  std::string message;
};

// A response or the HttpError that prevented one. Not an error: any HTTP
// status, 4xx and 5xx included, is a response.
class [[nodiscard]] HttpResult {
 public:
  HttpResult(HttpResponse response) : v_(std::move(response)) {}  // NOLINT
  HttpResult(HttpError error) : v_(std::move(error)) {}           // NOLINT

  bool ok() const noexcept { return std::holds_alternative<HttpResponse>(v_); }
  explicit operator bool() const noexcept { return ok(); }
  // REQUIRES: ok().
  const HttpResponse& value() const& { return std::get<HttpResponse>(v_); }
  HttpResponse&& value() && { return std::get<HttpResponse>(std::move(v_)); }
  const HttpResponse* operator->() const { return &value(); }
  // REQUIRES: !ok().
  const HttpError& error() const { return std::get<HttpError>(v_); }

 private:
  std::variant<HttpResponse, HttpError> v_;
};

// Thread-safe: implementations must accept concurrent calls.
class HttpClient {
 public:
  HttpClient() = default;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  virtual ~HttpClient() = default;

  // Performs one GET and returns the response as received (no redirect
  // followed), or the reason there is none. Blocks the calling thread until
  // done, at most the implementation's total timeout.
  virtual HttpResult get(const HttpRequest& request) = 0;
};

// Limits of the default client, in one place.
inline constexpr std::chrono::milliseconds kDefaultConnectTimeout{5'000};
inline constexpr std::chrono::milliseconds kDefaultTotalTimeout{10'000};
inline constexpr std::size_t kDefaultMaxResponseBytes = 512 * 1024;  // the body
inline constexpr std::size_t kMaxResponseHeaderBytes = 64 * 1024;
inline constexpr std::size_t kDefaultMaxPendingResolutions = 16;

struct HttpClientOptions {
  // Resolving the name plus establishing TCP, capped by total_timeout.
  std::chrono::milliseconds connect_timeout = kDefaultConnectTimeout;
  // Everything: resolution, connect, TLS handshake, request and response.
  std::chrono::milliseconds total_timeout = kDefaultTotalTimeout;
  // Bodies larger than this fail with kTooLarge; so do response headers
  // larger than kMaxResponseHeaderBytes.
  std::size_t max_response_bytes = kDefaultMaxResponseBytes;
  // Name resolutions (getaddrinfo, each on a thread of its own) in flight at
  // once. A lookup outlives a caller that gave up at its deadline, so a
  // stuck resolver would otherwise pile up threads; past this many, a request
  // waits for one to finish and fails with kTimeout at its connect deadline.
  std::size_t max_pending_resolutions = kDefaultMaxPendingResolutions;
  // A PEM bundle of extra trusted CAs, added to (not replacing) the system
  // store. Empty: the system store only. (The server reads NEXUS_CA_FILE.)
  std::string ca_file;
  // DEVELOPMENT AND TESTS ONLY (the server's NEXUS_DISCOVERY_ALLOW_INSECURE=1):
  // permits plain http and targets at loopback, private and other blocked
  // addresses. TLS, when used, is verified exactly as without it.
  bool allow_insecure = false;
  // The User-Agent header; empty means "nexus/<version>".
  std::string user_agent;
};

// The Boost.Beast + OpenSSL client:
// - https only (http with allow_insecure); the certificate chain is verified
//   against the system store plus `ca_file`, the name (or IP literal) against
//   the certificate, and SNI is sent for names. An absolute name's trailing
//   dot ("idp.example.com.") is dropped for SNI and verification, kept for
//   resolution and the Host header.
// - URLs whose host is not followed by "/", "?", "#" or the end fail with
//   kUnreachable (Boost.URL 1.81 reads "https://1.2.3.4.example.com/" as host
//   1.2.3.4; such a URL is refused, not misrouted).
// - The host is resolved once; when any of its addresses is blocked (loopback,
//   private, link-local and cloud metadata, CGNAT, multicast, unspecified,
//   broadcast, reserved, documentation, IPv6 forms embedding those, and any
//   IPv6 address outside global unicast 2000::/3) the request fails with
//   kBlockedAddress before any connection. Otherwise it connects to exactly the
//   addresses that were checked; the name is used only for SNI, Host and
//   certificate verification.
// - No redirects, no cookies, no connection reuse: one connection per request.
// Fails with kValidationFailed naming the option when `ca_file` cannot be
// loaded or a timeout, size or count is zero.
Result<std::unique_ptr<HttpClient>> make_default_http_client(HttpClientOptions options = {});

}  // namespace nexus

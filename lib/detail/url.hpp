// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Private: the rules every URL of a provider or a discovery document obeys,
// and how an HTTP client reads one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "nexus/http_client.hpp"

namespace nexus::detail {

// Why `url` is not acceptable as an endpoint, as a phrase to follow the field
// name ("must use https"); nullopt when it is. Acceptable: an absolute URL with
// scheme https (or http when `allow_http`), a non-empty host followed by "/",
// "?", "#" or the end (so "https://1.2.3.4.example.com/", which Boost.URL 1.81
// misreads as host 1.2.3.4, is refused), no userinfo and no fragment.
std::optional<std::string_view> url_problem(std::string_view url, bool allow_http);

// What an HTTP client needs of an absolute URL.
struct HttpTarget {
  bool tls = true;   // https; false for http
  std::string host;  // a name as written (a trailing dot kept), or an IP literal without brackets
  bool host_is_ip = false;
  // The name for SNI and certificate verification: `host` without one
  // trailing dot (RFC 6066 §3 forbids it in SNI; certificates never carry
  // it). Empty for an IP literal, which gets no SNI.
  std::string tls_name;
  std::string host_header;  // as written in the URL, brackets and port included
  std::uint16_t port = 0;   // the URL's, or 443 / 80
  std::string path;         // origin-form request target: path and query, "/" when empty
};

// Reads `url` for a GET. kBlockedAddress for http unless `allow_http`;
// kUnreachable for anything that is not an absolute http(s) URL with a usable
// host (userinfo, a percent-encoded name, port 0, a host not followed by "/",
// "?", "#" or the end).
std::variant<HttpTarget, HttpError> parse_http_target(std::string_view url, bool allow_http);

}  // namespace nexus::detail

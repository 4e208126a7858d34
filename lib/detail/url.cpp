// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "detail/url.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace nexus::detail {
namespace {

namespace urls = boost::urls;

// RFC 3986 §3: an authority ends at the next "/", "?" or "#", or at the end.
// Boost.URL 1.81 ends an IPv4 host early ("1.2.3.4.example.com" -> 1.2.3.4,
// the rest read as path); such a URL is refused rather than misrouted.
bool authority_well_terminated(std::string_view url, const urls::url_view& parsed) {
  if (!parsed.has_authority()) return true;
  const std::string_view authority = parsed.encoded_authority();
  const std::size_t end =
      static_cast<std::size_t>(authority.data() - url.data()) + authority.size();
  return end == url.size() || url[end] == '/' || url[end] == '?' || url[end] == '#';
}

HttpError fail(HttpFailure reason, std::string message) {
  return HttpError{reason, std::move(message)};
}

}  // namespace

std::optional<std::string_view> url_problem(std::string_view url, bool allow_http) {
  // parse_uri accepts exactly parse_absolute_uri's grammar plus a fragment, so a
  // fragment is reported as such instead of as "not an absolute URL".
  const auto parsed = urls::parse_uri(url);
  if (!parsed) return "must be an absolute URL such as https://example.com/path";
  const urls::scheme scheme = parsed->scheme_id();
  if (scheme != urls::scheme::https && !(allow_http && scheme == urls::scheme::http)) {
    return allow_http ? "must use https or http" : "must use https";
  }
  if (parsed->has_userinfo()) return "must not contain user info (user:password@)";
  if (parsed->encoded_host().empty()) return "must have a host";
  if (!authority_well_terminated(url, *parsed)) {
    return "must have a host followed by \"/\", \"?\", \"#\" or the end (a name that begins "
           "with an IPv4 address is not supported)";
  }
  if (parsed->has_fragment()) return "must not contain a fragment (#...)";
  return std::nullopt;
}

std::variant<HttpTarget, HttpError> parse_http_target(std::string_view url, bool allow_http) {
  const auto parsed = urls::parse_uri(url);
  if (!parsed) return fail(HttpFailure::kUnreachable, "not an absolute URL");
  HttpTarget t;
  if (parsed->scheme_id() == urls::scheme::https) {
    t.tls = true;
  } else if (parsed->scheme_id() == urls::scheme::http) {
    if (!allow_http) {
      return fail(HttpFailure::kBlockedAddress, "plain http is refused; only https is allowed");
    }
    t.tls = false;
  } else {
    return fail(HttpFailure::kUnreachable, "the URL scheme is neither https nor http");
  }
  if (parsed->has_userinfo()) {
    return fail(HttpFailure::kUnreachable, "the URL must not carry user info");
  }
  if (!authority_well_terminated(url, *parsed)) {
    return fail(HttpFailure::kUnreachable,
                "the URL's host is not followed by \"/\", \"?\", \"#\" or the end");
  }
  switch (parsed->host_type()) {
    case urls::host_type::name:
      if (parsed->encoded_host().find('%') != urls::pct_string_view::npos) {
        return fail(HttpFailure::kUnreachable, "the host name must not be percent-encoded");
      }
      t.host = parsed->encoded_host();
      t.tls_name = t.host;
      if (!t.tls_name.empty() && t.tls_name.back() == '.') t.tls_name.pop_back();
      if (t.tls_name.empty()) return fail(HttpFailure::kUnreachable, "the URL has no usable host");
      break;
    case urls::host_type::ipv4:
      t.host = parsed->host_ipv4_address().to_string();
      t.host_is_ip = true;
      break;
    case urls::host_type::ipv6:
      t.host = parsed->host_ipv6_address().to_string();
      t.host_is_ip = true;
      break;
    default:
      return fail(HttpFailure::kUnreachable, "the URL has no usable host");
  }
  if (t.host.empty()) return fail(HttpFailure::kUnreachable, "the URL has no host");
  t.host_header = parsed->encoded_host_and_port();
  if (parsed->has_port()) {
    if (parsed->port_number() == 0) return fail(HttpFailure::kUnreachable, "invalid port");
    t.port = parsed->port_number();
  } else {
    t.port = t.tls ? 443 : 80;
  }
  t.path = parsed->encoded_path();
  if (t.path.empty()) t.path = "/";
  if (parsed->has_query()) {
    t.path += '?';
    t.path += parsed->encoded_query();
  }
  return t;
}

}  // namespace nexus::detail

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "detail/url.hpp"

#include <boost/url/parse.hpp>

namespace nexus::detail {

std::optional<std::string_view> url_problem(std::string_view url, bool allow_http) {
  namespace urls = boost::urls;
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
  if (parsed->has_fragment()) return "must not contain a fragment (#...)";
  return std::nullopt;
}

}  // namespace nexus::detail

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// How URLs are judged (detail::url_problem) and read for a request
// (detail::parse_http_target), including Boost.URL 1.81's dotted-quad
// misparse and absolute names with a trailing dot.
#include "detail/url.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <variant>

namespace nexus {
namespace {

detail::HttpTarget target_of(const std::string& url, bool allow_http = false) {
  auto parsed = detail::parse_http_target(url, allow_http);
  if (const auto* e = std::get_if<HttpError>(&parsed)) FAIL(url << ": " << e->message);
  return std::get<detail::HttpTarget>(parsed);
}

HttpError error_of(const std::string& url, bool allow_http = false) {
  auto parsed = detail::parse_http_target(url, allow_http);
  REQUIRE(std::holds_alternative<HttpError>(parsed));
  return std::get<HttpError>(parsed);
}

TEST_CASE("a host that begins with a dotted quad is refused, not read as the IPv4 address") {
  // Boost.URL 1.81 parses these as host 1.2.3.4 with the rest of the name as
  // path (and a port lost in it).
  for (const char* url : {"https://1.2.3.4.example.com/realms/a", "https://1.2.3.4.example.com",
                          "https://127.0.0.1.nip.io:18444/", "https://1.2.3.4.example.com?x=1",
                          "https://10.0.0.1.evil.example#frag", "http://1.2.3.4:80.example/x",
                          "https://1.2.3.4example.com/", "https://1.2.3.4.5/"}) {
    INFO(url);
    REQUIRE(detail::url_problem(url, true).has_value());
    CHECK_THAT(std::string(*detail::url_problem(url, true)),
               Catch::Contains("followed by") || Catch::Contains("fragment"));
    const HttpError e = error_of(url, true);
    CHECK(e.reason == HttpFailure::kUnreachable);
    CHECK_THAT(e.message, Catch::Contains("host is not followed"));
  }
}

TEST_CASE("well-formed URLs keep being accepted and read") {
  for (const char* url : {"https://1.2.3.4/realms/a", "https://1.2.3.4", "https://1.2.3.4:8443?x=1",
                          "https://idp.example.com", "https://idp.example.com:8443/a/b?c=d",
                          "https://[2001:db8::1]:8443/x", "https://idp.example.com./",
                          "https://a1.2.3.4.example.com/"}) {
    INFO(url);
    CHECK_FALSE(detail::url_problem(url, false).has_value());
    CHECK(std::holds_alternative<detail::HttpTarget>(detail::parse_http_target(url, false)));
  }
  const detail::HttpTarget ip = target_of("https://1.2.3.4:8443?x=1");
  CHECK(ip.host == "1.2.3.4");
  CHECK(ip.host_is_ip);
  CHECK(ip.tls_name.empty());  // no SNI for an address
  CHECK(ip.port == 8443);
  CHECK(ip.path == "/?x=1");
  CHECK(ip.host_header == "1.2.3.4:8443");

  const detail::HttpTarget name = target_of("https://idp.example.com/a/b?c=d");
  CHECK(name.host == "idp.example.com");
  CHECK_FALSE(name.host_is_ip);
  CHECK(name.tls_name == "idp.example.com");
  CHECK(name.port == 443);
  CHECK(name.path == "/a/b?c=d");

  const detail::HttpTarget v6 = target_of("http://[2001:db8::1]/", true);
  CHECK_FALSE(v6.tls);
  CHECK(v6.host == "2001:db8::1");
  CHECK(v6.port == 80);
  CHECK(v6.host_header == "[2001:db8::1]");
}

TEST_CASE("an absolute name's trailing dot is kept for resolution, dropped for TLS") {
  const detail::HttpTarget t = target_of("https://idp.example.com.:8443/x");
  CHECK(t.host == "idp.example.com.");              // resolved as written
  CHECK(t.host_header == "idp.example.com.:8443");  // and sent as written
  CHECK(t.tls_name == "idp.example.com");           // SNI and certificate check (RFC 6066 §3)
  CHECK(error_of("https://./").reason == HttpFailure::kUnreachable);
}

TEST_CASE("http is blocked_address without the insecure switch, other schemes unreachable") {
  CHECK(error_of("http://idp.example.com/").reason == HttpFailure::kBlockedAddress);
  CHECK(target_of("http://idp.example.com/", true).port == 80);
  CHECK(error_of("ftp://idp.example.com/", true).reason == HttpFailure::kUnreachable);
  CHECK(error_of("https://user:pw@idp.example.com/").reason == HttpFailure::kUnreachable);
  CHECK(error_of("https://idp.example.com:0/").reason == HttpFailure::kUnreachable);
  CHECK(error_of("https://id%70.example.com/").reason == HttpFailure::kUnreachable);
}

}  // namespace
}  // namespace nexus

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// The default HttpClient against loopback servers only: TLS verification,
// timeouts, the size cap, redirects, and the SSRF guard (which must refuse
// before any connection).
#include "nexus/http_client.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "http/beast_http_client.hpp"
#include "nexus/discovery.hpp"
#include "test_server.hpp"
#include "test_support.hpp"

namespace nexus {
namespace {

using nexus::testing::CannedResponse;
using nexus::testing::LoopbackListener;
using nexus::testing::test_pki;
using nexus::testing::TestServer;
using nexus::testing::TestServerOptions;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

std::unique_ptr<HttpClient> client(HttpClientOptions options) {
  auto made = make_default_http_client(std::move(options));
  REQUIRE(made.ok());
  return std::move(made).value();
}

// The usual local setup: loopback needs allow_insecure; the test CA is trusted.
HttpClientOptions local_options() {
  HttpClientOptions o;
  o.allow_insecure = true;
  o.ca_file = test_pki().ca_file;
  return o;
}

TestServerOptions tls_server(std::function<CannedResponse(const std::string&)> handler,
                             const std::string& cert = test_pki().good_cert,
                             const std::string& key = test_pki().good_key) {
  return TestServerOptions{true, cert, key, std::move(handler)};
}

CannedResponse ok_body(std::string body) {
  return CannedResponse{200, {{"Content-Type", "text/plain"}}, std::move(body)};
}

HttpError error_of(const HttpResult& result) {
  REQUIRE_FALSE(result.ok());
  return result.error();
}

std::string url(const char* host, std::uint16_t port, const char* path = "/") {
  return std::string("https://") + host + ":" + std::to_string(port) + path;
}

TEST_CASE("TLS to a name: verified with the extra CA, SNI sent, response returned") {
  TestServer server(tls_server([](const std::string& target) {
    return CannedResponse{200, {{"X-Target", target}, {"Cache-Control", "max-age=60"}}, "hello"};
  }));
  const auto http = client(local_options());
  const HttpResult result = http->get({url("localhost", server.port(), "/a/b?c=d"), {}});
  REQUIRE(result.ok());
  CHECK(result->status == 200);
  CHECK(result->body == "hello");
  CHECK(result->header("x-target") == "/a/b?c=d");
  CHECK(result->header("CACHE-CONTROL") == "max-age=60");
  CHECK_FALSE(result->header("x-absent").has_value());
  CHECK(server.last_sni() == "localhost");
  CHECK(server.requests() == 1);
}

TEST_CASE("TLS to an IP literal: verified against the certificate's IP SAN, no SNI") {
  TestServer server(tls_server([](const std::string&) { return ok_body("ip"); }));
  const auto http = client(local_options());
  const HttpResult result = http->get({url("127.0.0.1", server.port()), {}});
  REQUIRE(result.ok());
  CHECK(result->body == "ip");
  CHECK(server.last_sni().empty());  // RFC 6066 §3: SNI carries names only
}

TEST_CASE("Plain http works only with allow_insecure") {
  TestServer server(
      TestServerOptions{false, "", "", [](const std::string&) { return ok_body("plain"); }});
  const std::string target = "http://127.0.0.1:" + std::to_string(server.port()) + "/";
  const HttpResult insecure = client(local_options())->get({target, {}});
  REQUIRE(insecure.ok());
  CHECK(insecure->body == "plain");

  const HttpError strict = error_of(client({})->get({target, {}}));
  CHECK(strict.reason == HttpFailure::kBlockedAddress);
  CHECK(server.requests() == 1);
}

TEST_CASE("An unknown CA is tls_error even with allow_insecure") {
  TestServer server(tls_server([](const std::string&) { return ok_body("x"); }));
  HttpClientOptions o;
  o.allow_insecure = true;  // relaxes addresses and scheme, never verification
  const HttpError e = error_of(client(o)->get({url("localhost", server.port()), {}}));
  CHECK(e.reason == HttpFailure::kTlsError);
  CHECK_THAT(e.message, Catch::Contains("unable to get local issuer certificate"));
  CHECK(server.requests() == 0);
}

TEST_CASE("A certificate for another name is tls_error: hostname mismatch") {
  TestServer server(tls_server([](const std::string&) { return ok_body("x"); },
                               test_pki().wrong_cert, test_pki().wrong_key));
  const auto http = client(local_options());
  const HttpError by_name = error_of(http->get({url("localhost", server.port()), {}}));
  CHECK(by_name.reason == HttpFailure::kTlsError);
  CHECK_THAT(by_name.message, Catch::Contains("hostname mismatch"));
  const HttpError by_ip = error_of(http->get({url("127.0.0.1", server.port()), {}}));
  CHECK(by_ip.reason == HttpFailure::kTlsError);
  CHECK_THAT(by_ip.message, Catch::Contains("IP address mismatch"));
  CHECK(server.requests() == 0);
}

TEST_CASE("An expired certificate is tls_error: certificate has expired") {
  TestServer server(tls_server([](const std::string&) { return ok_body("x"); },
                               test_pki().expired_cert, test_pki().expired_key));
  const HttpError e = error_of(client(local_options())->get({url("localhost", server.port()), {}}));
  CHECK(e.reason == HttpFailure::kTlsError);
  CHECK_THAT(e.message, Catch::Contains("certificate has expired"));
  CHECK(server.requests() == 0);
}

TEST_CASE("A server that never answers is timeout within the total timeout") {
  TestServer server(tls_server([](const std::string&) {
    CannedResponse r;
    r.hang = true;
    return r;
  }));
  HttpClientOptions o = local_options();
  o.total_timeout = milliseconds(300);
  const auto http = client(o);
  const auto start = SteadyClock::now();
  const HttpError e = error_of(http->get({url("localhost", server.port()), {}}));
  const auto elapsed = SteadyClock::now() - start;
  CHECK(e.reason == HttpFailure::kTimeout);
  CHECK(elapsed >= milliseconds(250));
  CHECK(elapsed < milliseconds(2000));
  CHECK(server.requests() == 1);
}

TEST_CASE("A body over the cap is too_large, with or without Content-Length") {
  const std::size_t size = GENERATE(600u * 1024u, 512u * 1024u + 1u);
  const bool chunked = GENERATE(false, true);
  INFO("size " << size << (chunked ? " chunked" : " with Content-Length"));
  TestServer server(tls_server([&](const std::string&) {
    CannedResponse r = ok_body(std::string(size, 'x'));
    r.chunked = chunked;
    return r;
  }));
  const HttpError e = error_of(client(local_options())->get({url("localhost", server.port()), {}}));
  CHECK(e.reason == HttpFailure::kTooLarge);
}

TEST_CASE("A body exactly at the cap is accepted") {
  TestServer server(tls_server(
      [](const std::string&) { return ok_body(std::string(kDefaultMaxResponseBytes, 'x')); }));
  const HttpResult result = client(local_options())->get({url("localhost", server.port()), {}});
  REQUIRE(result.ok());
  CHECK(result->body.size() == kDefaultMaxResponseBytes);
}

TEST_CASE("A redirect is returned as a status, never followed") {
  TestServer server(tls_server([](const std::string& target) {
    if (target == "/start") return CannedResponse{302, {{"Location", "/elsewhere"}}, ""};
    return ok_body("followed");
  }));
  const HttpResult result =
      client(local_options())->get({url("localhost", server.port(), "/start"), {}});
  REQUIRE(result.ok());
  CHECK(result->status == 302);
  CHECK(result->header("Location") == "/elsewhere");
  CHECK(server.requests() == 1);
}

TEST_CASE("Discovery through the real client over TLS, and its redirect rule") {
  std::string issuer;
  TestServer server(tls_server([&](const std::string& target) {
    if (target == "/moved/.well-known/openid-configuration") {
      return CannedResponse{302, {{"Location", issuer + "/.well-known/openid-configuration"}}, ""};
    }
    if (target != "/.well-known/openid-configuration") return CannedResponse{404, {}, ""};
    return CannedResponse{200,
                          {{"Content-Type", "application/json"}, {"Cache-Control", "max-age=600"}},
                          R"({"issuer":")" + issuer + R"(",
                              "authorization_endpoint":")" +
                              issuer + R"(/auth",
                              "token_endpoint":")" +
                              issuer + R"(/token",
                              "jwks_uri":")" +
                              issuer + R"(/jwks"})"};
  }));
  issuer = "https://localhost:" + std::to_string(server.port());
  const auto http = client(local_options());
  nexus::testing::FakeClock clock;
  const auto found = discover(*http, issuer, DiscoveryOptions{.clock = &clock});
  REQUIRE(found.ok());  // https issuer: the discovery side needs no insecure switch
  CHECK(found->token_endpoint == issuer + "/token");
  CHECK(found->expires_at - found->fetched_at == std::chrono::minutes(10));

  const auto moved = discover(*http, issuer + "/moved", DiscoveryOptions{.clock = &clock});
  REQUIRE_FALSE(moved.ok());
  CHECK(DiscoveryError::from_status(moved.status())->reason == DiscoveryFailure::kHttpStatus);
  CHECK(server.requests() == 2);
}

TEST_CASE("A connect that hangs is timeout after connect_timeout, not total_timeout") {
  LoopbackListener listener;
  listener.fill_backlog();  // further SYNs are dropped: the connect hangs
  HttpClientOptions o = local_options();
  o.connect_timeout = milliseconds(200);
  o.total_timeout = milliseconds(5000);
  const auto start = SteadyClock::now();
  const HttpError e = error_of(client(o)->get({url("127.0.0.1", listener.port()), {}}));
  const auto elapsed = SteadyClock::now() - start;
  CHECK(e.reason == HttpFailure::kTimeout);
  CHECK_THAT(e.message, Catch::StartsWith("connecting to 127.0.0.1:"));
  CHECK(elapsed >= milliseconds(150));
  CHECK(elapsed < milliseconds(2000));
}

TEST_CASE("Nothing listening is unreachable") {
  const std::uint16_t port = nexus::testing::unused_loopback_port();
  const HttpError e = error_of(client(local_options())->get({url("127.0.0.1", port), {}}));
  CHECK(e.reason == HttpFailure::kUnreachable);
}

TEST_CASE("Blocked literal addresses are refused without any connection") {
  const auto http = client({});
  for (const char* target :
       {"https://127.0.0.1/", "https://10.0.0.1/", "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/", "https://[::ffff:127.0.0.1]/", "https://0.0.0.0/", "https://100.64.0.1/",
        "https://[fe80::1]/", "https://224.0.0.1/", "https://192.168.1.1:8443/x",
        "https://[fd00::1]/"}) {
    INFO(target);
    const auto start = SteadyClock::now();
    const HttpError e = error_of(http->get({target, {}}));
    CHECK(e.reason == HttpFailure::kBlockedAddress);
    CHECK_THAT(e.message, Catch::Contains("refused"));
    // No connect was attempted: a connect to 10.0.0.1 or 224.0.0.1 would hang
    // or fail only after a while.
    CHECK(SteadyClock::now() - start < milliseconds(500));
  }
}

TEST_CASE("A name or numeric form resolving to loopback is refused before connecting") {
  LoopbackListener listener;
  const auto http = client({});
  // getaddrinfo reads "127.1" and "2130706433" as 127.0.0.1: only the resolved
  // address tells.
  for (const char* host : {"localhost", "127.1", "2130706433", "0x7f000001"}) {
    INFO(host);
    const HttpError e = error_of(http->get({url(host, listener.port()), {}}));
    CHECK(e.reason == HttpFailure::kBlockedAddress);
    CHECK_THAT(e.message, Catch::Contains("127.0.0.1") && Catch::Contains("loopback"));
    CHECK_FALSE(listener.has_pending_connection());
  }
  const HttpError literal = error_of(http->get({url("127.0.0.1", listener.port()), {}}));
  CHECK(literal.reason == HttpFailure::kBlockedAddress);
  CHECK_FALSE(listener.has_pending_connection());

  // The same listener does see a client that is allowed to connect.
  HttpClientOptions o = local_options();
  o.total_timeout = milliseconds(300);
  (void)client(o)->get({url("127.0.0.1", listener.port()), {}});
  CHECK(listener.has_pending_connection());
}

TEST_CASE("Discovery of a loopback issuer is blocked_address without allow_insecure") {
  LoopbackListener listener;
  const auto http = client({});
  for (const char* host : {"localhost", "127.0.0.1", "[::1]"}) {
    INFO(host);
    const auto result = discover(*http, url(host, listener.port(), ""));
    REQUIRE_FALSE(result.ok());
    CHECK(result.status().code() == ErrorCode::kDiscoveryFailed);
    CHECK(DiscoveryError::from_status(result.status())->reason ==
          DiscoveryFailure::kBlockedAddress);
    CHECK_THAT(result.status().message(), Catch::StartsWith("blocked_address: "));
  }
  CHECK_FALSE(listener.has_pending_connection());
}

TEST_CASE("Options are validated and an unreadable CA bundle is refused") {
  HttpClientOptions missing;
  missing.ca_file = "/nonexistent/ca.pem";
  const auto made = make_default_http_client(missing);
  REQUIRE_FALSE(made.ok());
  CHECK(made.status().code() == ErrorCode::kValidationFailed);
  CHECK(made.status().field() == "ca_file");

  HttpClientOptions zero;
  zero.total_timeout = milliseconds(0);
  CHECK(make_default_http_client(zero).status().field() == "total_timeout");
  zero = {};
  zero.max_response_bytes = 0;
  CHECK(make_default_http_client(zero).status().field() == "max_response_bytes");
}

TEST_CASE("Malformed URLs and unsafe request headers are refused") {
  const auto http = client({});
  CHECK(error_of(http->get({"not a url", {}})).reason == HttpFailure::kUnreachable);
  CHECK(error_of(http->get({"ftp://example.com/", {}})).reason == HttpFailure::kUnreachable);
  CHECK(error_of(http->get({"https://user:pw@example.com/", {}})).reason ==
        HttpFailure::kUnreachable);
  for (const HttpHeader& h : {HttpHeader{"X-A", "v\r\nInjected: 1"}, HttpHeader{"Bad Name", "v"},
                              HttpHeader{"Host", "evil.example"}}) {
    INFO(h.name);
    const HttpError e = error_of(http->get({"https://127.0.0.1/", {h}}));
    CHECK(e.reason == HttpFailure::kUnreachable);
    CHECK_THAT(e.message, Catch::Contains("header"));
  }
}

TEST_CASE("The default limits are 5 s to connect, 10 s in all and 512 KiB of body") {
  const HttpClientOptions defaults;
  CHECK(defaults.connect_timeout == std::chrono::seconds(5));
  CHECK(defaults.total_timeout == std::chrono::seconds(10));
  CHECK(defaults.max_response_bytes == 512u * 1024u);
  CHECK(kMaxResponseHeaderBytes == 64u * 1024u);
  CHECK(defaults.max_pending_resolutions == kDefaultMaxPendingResolutions);
  CHECK_FALSE(defaults.allow_insecure);
  CHECK(defaults.ca_file.empty());

  HttpClientOptions zero;
  zero.max_pending_resolutions = 0;
  CHECK(make_default_http_client(zero).status().field() == "max_pending_resolutions");
}

TEST_CASE("Response headers over the cap are too_large") {
  TestServer server(tls_server([](const std::string&) {
    CannedResponse r = ok_body("small body");
    for (std::size_t i = 0; i * 4096 <= kMaxResponseHeaderBytes; ++i) {
      r.headers.push_back({"X-Padding-" + std::to_string(i), std::string(4096, 'h')});
    }
    return r;
  }));
  const HttpError e = error_of(client(local_options())->get({url("localhost", server.port()), {}}));
  CHECK(e.reason == HttpFailure::kTooLarge);
  CHECK_THAT(e.message, Catch::Contains("headers"));
}

TEST_CASE("A host that begins with a dotted quad is refused, not routed to that address") {
  // Boost.URL 1.81 would read this as 127.0.0.1, port 443, path ".nip.io:PORT/".
  LoopbackListener listener;
  const std::string target = "https://127.0.0.1.nip.io:" + std::to_string(listener.port()) + "/";
  const HttpError e = error_of(client(local_options())->get({target, {}}));
  CHECK(e.reason == HttpFailure::kUnreachable);
  CHECK_THAT(e.message, Catch::Contains("not followed by"));
  CHECK_FALSE(listener.has_pending_connection());
}

// A resolver for tests: a fixed table, a count of lookups, and names that
// stall until released. Shared with the client's resolution threads, which
// may outlive a request.
struct TestResolver {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::vector<std::string>> table;  // GUARDED_BY(mu)
  std::set<std::string> stalled;                          // GUARDED_BY(mu)
  bool released = false;                                  // GUARDED_BY(mu)
  std::atomic<int> lookups{0};

  void release() {
    {
      std::lock_guard lock(mu);
      released = true;
    }
    cv.notify_all();
  }
  static detail::HostResolver of(const std::shared_ptr<TestResolver>& self) {
    return [self](const std::string& host) {
      ++self->lookups;
      std::unique_lock lock(self->mu);
      if (self->stalled.count(host) != 0) self->cv.wait(lock, [&] { return self->released; });
      detail::ResolvedHost out;
      if (auto it = self->table.find(host); it != self->table.end()) {
        out.addresses = it->second;
      } else {
        out.error = "Name or service not known";
      }
      return out;
    };
  }
};

std::unique_ptr<HttpClient> client_with(HttpClientOptions options,
                                        const std::shared_ptr<TestResolver>& resolver) {
  auto made = detail::make_beast_http_client(std::move(options), TestResolver::of(resolver));
  REQUIRE(made.ok());
  return std::move(made).value();
}

TEST_CASE("An absolute name with a trailing dot verifies and sends SNI without the dot") {
  // "localhost." does not resolve on every system: the test resolver stands in.
  auto resolver = std::make_shared<TestResolver>();
  resolver->table["localhost."] = {"127.0.0.1"};
  TestServer server(tls_server([](const std::string&) { return ok_body("dotted"); }));
  const HttpResult result =
      client_with(local_options(), resolver)->get({url("localhost.", server.port()), {}});
  INFO((result.ok() ? std::string() : result.error().message));
  REQUIRE(result.ok());
  CHECK(result->body == "dotted");
  CHECK(server.last_sni() == "localhost");
  CHECK(resolver->lookups == 1);  // the dotted name, as written, is what was resolved
}

TEST_CASE("The host is resolved once, every address checked, and only those connected to") {
  auto resolver = std::make_shared<TestResolver>();
  resolver->table["mixed.test"] = {"93.184.216.34", "127.0.0.1"};
  resolver->table["local.test"] = {"127.0.0.1"};
  LoopbackListener listener;

  const HttpError e =
      error_of(client_with({}, resolver)->get({url("mixed.test", listener.port()), {}}));
  CHECK(e.reason == HttpFailure::kBlockedAddress);
  CHECK_THAT(e.message, Catch::Contains("mixed.test resolves to 127.0.0.1"));
  CHECK(resolver->lookups == 1);
  CHECK_FALSE(listener.has_pending_connection());

  // Allowed to reach loopback, the client connects to the address it was
  // given: the name is looked up once and never again.
  TestServer server(
      TestServerOptions{false, "", "", [](const std::string&) { return ok_body("resolved"); }});
  const std::string target = "http://local.test:" + std::to_string(server.port()) + "/";
  const HttpResult ok = client_with(local_options(), resolver)->get({target, {}});
  REQUIRE(ok.ok());
  CHECK(ok->body == "resolved");
  CHECK(resolver->lookups == 2);
  CHECK(server.requests() == 1);
}

TEST_CASE("Stuck name resolutions are capped: past the cap a request times out without a thread") {
  auto resolver = std::make_shared<TestResolver>();
  resolver->stalled.insert("stuck.test");
  // Ends the stall however the test ends, so no lookup thread outlives it.
  struct Release {
    std::shared_ptr<TestResolver> r;
    ~Release() { r->release(); }
  } release{resolver};
  HttpClientOptions o = local_options();
  o.max_pending_resolutions = 1;
  o.connect_timeout = std::chrono::seconds(2);
  const auto http = client_with(o, resolver);

  const HttpError stuck = error_of(http->get({url("stuck.test", 443), {}}));
  CHECK(stuck.reason == HttpFailure::kTimeout);
  CHECK_THAT(stuck.message, Catch::Contains("resolving stuck.test took longer"));
  CHECK(resolver->lookups == 1);

  // The stuck lookup still holds the only slot: no second thread is started.
  const HttpError capped = error_of(http->get({url("other.test", 443), {}}));
  CHECK(capped.reason == HttpFailure::kTimeout);
  CHECK_THAT(capped.message, Catch::Contains("still in progress"));
  CHECK(resolver->lookups == 1);

  // Once the stuck lookup returns, its slot is free again.
  resolver->release();
  const HttpError unknown = error_of(http->get({url("other.test", 443), {}}));
  CHECK(unknown.reason == HttpFailure::kUnreachable);
  CHECK_THAT(unknown.message, Catch::Contains("cannot resolve other.test"));
  CHECK(resolver->lookups == 2);
}

}  // namespace
}  // namespace nexus

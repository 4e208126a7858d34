// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// OpenID discovery through the router with a fake HttpClient: create and
// refresh, 502 discovery_failed, roles, and which routes run on the blocking
// pool.
#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <string>

#include "config.hpp"
#include "discovery/fake_http_client.hpp"
#include "server_fixture.hpp"

namespace nexus {
namespace {

constexpr const char* kMetadataUrl = "https://idp.example.com/.well-known/openid-configuration";
constexpr const char* kDocument = R"({"issuer":"https://idp.example.com",
  "authorization_endpoint":"https://idp.example.com/authorize",
  "token_endpoint":"https://idp.example.com/token",
  "jwks_uri":"https://idp.example.com/jwks"})";
constexpr const char* kCorpSso = R"({"name":"corp-sso","auth_type":"oauth2","client_id":"x",
  "client_secret":"corp-secret-b7Q1","issuer":"https://idp.example.com","enable_discovery":true})";

struct DiscoveryFixture : testing::RouterFixture {
  testing::FakeClock clock;
  testing::FakeHttpClient http;
  DiscoveryFixture() {
    registry = std::make_unique<ProviderRegistry>(RegistryOptions{
        .storage = storage.get(), .vault = vault.get(), .clock = &clock, .http_client = &http});
    make_router({});
  }
};

std::string text(const boost::json::value& v) { return std::string(v.as_string()); }

TEST_CASE("discovery: create shows the discovered endpoints, failure is 502 and stores nothing",
          "[server][discovery]") {
  DiscoveryFixture f;
  SECTION("success") {
    f.http.on_json(kMetadataUrl, kDocument);
    auto r = f.as(f.admin, "POST", "/v1/providers", kCorpSso);
    REQUIRE(r.status == 201);
    CHECK(text(r.json.at("auth_url")) == "https://idp.example.com/authorize");
    CHECK(text(r.json.at("token_url")) == "https://idp.example.com/token");
    CHECK(text(r.json.at("jwks_uri")) == "https://idp.example.com/jwks");
    CHECK(r.json.at("discovery").at("last_error").is_null());
    CHECK(text(r.json.at("discovery").at("fetched_at")) == format_rfc3339(f.clock.now()));
  }
  SECTION("failure") {
    f.http.on(kMetadataUrl, HttpError{HttpFailure::kTlsError, "TLS handshake failed"});
    const std::string before = f.snapshot();
    auto r = f.as(f.admin, "POST", "/v1/providers", kCorpSso);
    CHECK(r.status == 502);
    CHECK(r.code() == "discovery_failed");
    CHECK(text(r.json.at("field")) == "issuer");
    CHECK(text(r.json.at("message")).rfind("tls_error: ", 0) == 0);
    CHECK(f.snapshot() == before);
  }
  CHECK(f.all_bodies.find("corp-secret-b7Q1") == std::string::npos);
}

TEST_CASE("discovery: POST /v1/providers/{name}/discover refreshes, admin only",
          "[server][discovery]") {
  DiscoveryFixture f;
  f.http.on_json(kMetadataUrl, kDocument);
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", kCorpSso).status == 201);
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", testing::kGithubJson).status == 201);

  CHECK(f.as(f.agent, "POST", "/v1/providers/corp-sso/discover").code() == "forbidden");
  CHECK(f.as(f.other_admin, "POST", "/v1/providers/corp-sso/discover").code() ==
        "provider_not_found");
  auto manual = f.as(f.admin, "POST", "/v1/providers/github/discover");
  CHECK(manual.status == 400);
  CHECK(text(manual.json.at("field")) == "enable_discovery");
  CHECK(f.as(f.admin, "POST", "/v1/providers/corp-sso/discover?x=1").status == 400);

  f.clock.advance(std::chrono::hours(2));
  auto ok = f.as(f.admin, "POST", "/v1/providers/corp-sso/discover");
  REQUIRE(ok.status == 200);
  CHECK(ok.header("ETag") == "\"v2\"");
  CHECK(text(ok.json.at("discovery").at("fetched_at")) == format_rfc3339(f.clock.now()));

  f.clock.advance(std::chrono::minutes(1));
  f.http.on(kMetadataUrl, HttpError{HttpFailure::kTimeout, "no answer within 10000 ms"});
  auto failed = f.as(f.admin, "POST", "/v1/providers/corp-sso/discover");
  CHECK(failed.status == 502);
  CHECK(failed.code() == "discovery_failed");
  auto got = f.as(f.agent, "GET", "/v1/providers/corp-sso");
  REQUIRE(got.status == 200);
  CHECK(text(got.json.at("token_url")) == "https://idp.example.com/token");
  CHECK(text(got.json.at("discovery").at("last_error").at("reason")) == "timeout");
  CHECK(got.header("ETag") == "\"v3\"");
}

TEST_CASE("discovery: routes that may discover run on the blocking pool", "[server][discovery]") {
  CHECK(testing::route_is_blocking("POST", "/v1/providers"));
  CHECK(testing::route_is_blocking("PATCH", "/v1/providers/corp-sso"));
  CHECK(testing::route_is_blocking("POST", "/v1/providers/corp-sso/discover"));
  CHECK(testing::route_is_blocking("POST", "/v1/providers?x=1"));
  CHECK_FALSE(testing::route_is_blocking("GET", "/healthz"));
  CHECK_FALSE(testing::route_is_blocking("GET", "/v1/providers"));
  CHECK_FALSE(testing::route_is_blocking("GET", "/v1/providers/corp-sso"));
  CHECK(testing::route_is_blocking("DELETE", "/v1/providers/corp-sso"));
  CHECK_FALSE(testing::route_is_blocking("GET", "/v1/audit"));
  CHECK_FALSE(testing::route_is_blocking("GET", "/nope"));
}

TEST_CASE("discovery: NEXUS_CA_FILE and NEXUS_DISCOVERY_ALLOW_INSECURE in the serve config",
          "[server][discovery][config]") {
  const auto parse = [](std::map<std::string, std::string> vars,
                        std::vector<std::string> args = {}) {
    return server::parse_serve_config(args, [vars](const char* name) -> std::optional<std::string> {
      auto it = vars.find(name);
      if (it == vars.end()) return std::nullopt;
      return it->second;
    });
  };
  auto defaults = parse({});
  REQUIRE(defaults.ok());
  CHECK(defaults->ca_file.empty());
  CHECK_FALSE(defaults->discovery_allow_insecure);

  auto set =
      parse({{"NEXUS_CA_FILE", "/etc/corp-ca.pem"}, {"NEXUS_DISCOVERY_ALLOW_INSECURE", "1"}});
  REQUIRE(set.ok());
  CHECK(set->ca_file == "/etc/corp-ca.pem");
  CHECK(set->discovery_allow_insecure);
  CHECK_FALSE(parse({{"NEXUS_DISCOVERY_ALLOW_INSECURE", "0"}})->discovery_allow_insecure);
  CHECK(parse({{"NEXUS_CA_FILE", "/env.pem"}}, {"--ca-file", "/flag.pem"})->ca_file == "/flag.pem");

  for (const char* bad : {"yes", "true", "", "2"}) {
    auto r = parse({{"NEXUS_DISCOVERY_ALLOW_INSECURE", bad}});
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().field() == "NEXUS_DISCOVERY_ALLOW_INSECURE");
  }
  auto empty = parse({{"NEXUS_CA_FILE", ""}});
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().field() == "NEXUS_CA_FILE");
}

}  // namespace
}  // namespace nexus

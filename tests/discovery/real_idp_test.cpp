// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Discovery against a real OpenID provider. Hidden: run by real_idp_test.sh,
// which starts oidc-provider and exports what it publishes.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "nexus/discovery.hpp"
#include "nexus/http_client.hpp"

namespace nexus {
namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  INFO(name << " is set by tests/discovery/real_idp_test.sh");
  REQUIRE(value != nullptr);
  return value;
}

TEST_CASE("oidc-provider on loopback is discovered as it publishes itself", "[.real-idp]") {
  const std::string issuer = env("NEXUS_TEST_IDP_ISSUER");
  HttpClientOptions client_options;
  client_options.allow_insecure = true;  // http on 127.0.0.1
  auto http = make_default_http_client(client_options);
  REQUIRE(http.ok());

  const auto document = discover(**http, issuer, DiscoveryOptions{.allow_insecure = true});
  INFO(document.status().message());
  REQUIRE(document.ok());
  CHECK(document->issuer == issuer);
  CHECK_FALSE(document->issuer_template);
  CHECK(document->source == MetadataSource::kOpenIdConfiguration);
  CHECK(document->metadata_url == issuer + "/.well-known/openid-configuration");
  CHECK(document->authorization_endpoint == env("NEXUS_TEST_IDP_AUTHORIZATION_ENDPOINT"));
  CHECK(document->token_endpoint == env("NEXUS_TEST_IDP_TOKEN_ENDPOINT"));
  CHECK(document->jwks_uri == env("NEXUS_TEST_IDP_JWKS_URI"));
  CHECK(document->userinfo_endpoint == env("NEXUS_TEST_IDP_USERINFO_ENDPOINT"));
  // oidc-provider accepts only S256 for PKCE.
  CHECK(document->code_challenge_methods_supported == std::vector<std::string>{"S256"});
  CHECK(document->expires_at > document->fetched_at);
}

TEST_CASE("oidc-provider on loopback is blocked_address for a strict client", "[.real-idp]") {
  const std::string issuer = env("NEXUS_TEST_IDP_ISSUER");
  auto http = make_default_http_client({});
  REQUIRE(http.ok());
  // The discovery side is relaxed; the client still refuses plain http and
  // loopback.
  const auto document = discover(**http, issuer, DiscoveryOptions{.allow_insecure = true});
  REQUIRE_FALSE(document.ok());
  const auto error = DiscoveryError::from_status(document.status());
  REQUIRE(error.has_value());
  CHECK(error->reason == DiscoveryFailure::kBlockedAddress);
}

}  // namespace
}  // namespace nexus

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// discover(): every validation rule and failure reason, with real providers'
// documents as fixtures and a fake HttpClient.
#include "nexus/discovery.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include "fake_http_client.hpp"
#include "test_support.hpp"

namespace nexus {
namespace {

using nexus::testing::FakeClock;
using nexus::testing::FakeHttpClient;
using nexus::testing::fixture;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr const char* kGoogle = "https://accounts.google.com";
constexpr const char* kGoogleUrl = "https://accounts.google.com/.well-known/openid-configuration";
constexpr const char* kKeycloak = "https://keycloak.example.com/realms/acme";
constexpr const char* kKeycloakUrl =
    "https://keycloak.example.com/realms/acme/.well-known/openid-configuration";
constexpr const char* kMsCommon = "https://login.microsoftonline.com/common/v2.0";
constexpr const char* kMsCommonUrl =
    "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration";

// The failure reason discover() reported; fails the test when it succeeded or
// reported something that is not a DiscoveryError.
DiscoveryFailure reason_of(const Result<DiscoveryDocument>& result) {
  REQUIRE_FALSE(result.ok());
  const Status status = result.status();
  CHECK(status.code() == ErrorCode::kDiscoveryFailed);
  CHECK(status.field() == "issuer");
  const auto error = DiscoveryError::from_status(status);
  REQUIRE(error.has_value());
  return error->reason;
}

// `document` (a JSON text) with member `name` set to `value` (JSON), or
// removed when `value` is empty.
std::string with_member(const std::string& document, const std::string& name,
                        const std::string& value) {
  boost::json::object o = boost::json::parse(document).as_object();
  if (value.empty()) {
    o.erase(name);
  } else {
    o[name] = boost::json::parse(value);
  }
  return boost::json::serialize(o);
}

struct Fixture {
  FakeClock clock;
  FakeHttpClient http;
  DiscoveryOptions options{.clock = &clock};
};

TEST_CASE("Google's document is discovered with every kept field") {
  Fixture f;
  f.http.on_json(kGoogleUrl, fixture("google.json"), 200,
                 {{"Cache-Control", "public, max-age=3600"}});
  const auto result = discover(f.http, kGoogle, f.options);
  REQUIRE(result.ok());
  const DiscoveryDocument& d = *result;
  CHECK(d.issuer == kGoogle);
  CHECK(d.published_issuer == kGoogle);
  CHECK_FALSE(d.issuer_template);
  CHECK(d.metadata_url == kGoogleUrl);
  CHECK(d.source == MetadataSource::kOpenIdConfiguration);
  CHECK(d.authorization_endpoint == "https://accounts.google.com/o/oauth2/v2/auth");
  CHECK(d.token_endpoint == "https://oauth2.googleapis.com/token");
  CHECK(d.jwks_uri == "https://www.googleapis.com/oauth2/v3/certs");
  CHECK(d.userinfo_endpoint == "https://openidconnect.googleapis.com/v1/userinfo");
  CHECK(d.revocation_endpoint == "https://oauth2.googleapis.com/revoke");
  CHECK(d.code_challenge_methods_supported == std::vector<std::string>{"plain", "S256"});
  CHECK(d.token_endpoint_auth_methods_supported ==
        std::vector<std::string>{"client_secret_post", "client_secret_basic"});
  CHECK(d.scopes_supported == std::vector<std::string>{"openid", "email", "profile"});
  CHECK(d.fetched_at == f.clock.now());
  CHECK(d.expires_at == f.clock.now() + hours(1));
  // One request, asking for JSON.
  const auto requests = f.http.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].url == kGoogleUrl);
  REQUIRE(requests[0].headers.size() == 1);
  CHECK(requests[0].headers[0] == HttpHeader{"Accept", "application/json"});
}

TEST_CASE("A Keycloak realm's issuer keeps its path in the metadata URL") {
  Fixture f;
  f.http.on_json(kKeycloakUrl, fixture("keycloak-acme.json"));
  const auto result = discover(f.http, kKeycloak, f.options);
  REQUIRE(result.ok());
  CHECK(f.http.urls() == std::vector<std::string>{kKeycloakUrl});
  CHECK(result->authorization_endpoint ==
        "https://keycloak.example.com/realms/acme/protocol/openid-connect/auth");
  CHECK(result->token_endpoint ==
        "https://keycloak.example.com/realms/acme/protocol/openid-connect/token");
  CHECK(result->jwks_uri ==
        "https://keycloak.example.com/realms/acme/protocol/openid-connect/certs");
  CHECK(result->userinfo_endpoint ==
        "https://keycloak.example.com/realms/acme/protocol/openid-connect/userinfo");
  CHECK(result->revocation_endpoint ==
        "https://keycloak.example.com/realms/acme/protocol/openid-connect/revoke");
  CHECK(result->token_endpoint_auth_methods_supported.size() == 5);
  CHECK(result->scopes_supported.front() == "openid");
}

TEST_CASE("A trailing slash is not doubled, but the issuer must still match exactly") {
  Fixture f;
  f.http.on_json(kKeycloakUrl, fixture("keycloak-acme.json"));
  const auto result = discover(f.http, "https://keycloak.example.com/realms/acme/", f.options);
  CHECK(f.http.urls() == std::vector<std::string>{kKeycloakUrl});
  // §4.3: the published issuer must be identical to the one used to build the
  // URL; "…/acme" is not "…/acme/".
  CHECK(reason_of(result) == DiscoveryFailure::kIssuerMismatch);
}

TEST_CASE("Microsoft's multi-tenant {tenantid} issuer is accepted for common and organizations") {
  const std::string doc = fixture("microsoft-common.json");
  SECTION("common") {
    Fixture f;
    f.http.on_json(kMsCommonUrl, doc);
    const auto result = discover(f.http, kMsCommon, f.options);
    REQUIRE(result.ok());
    CHECK(result->issuer == kMsCommon);
    CHECK(result->issuer_template);
    CHECK(result->published_issuer == "https://login.microsoftonline.com/{tenantid}/v2.0");
    CHECK(result->authorization_endpoint ==
          "https://login.microsoftonline.com/common/oauth2/v2.0/authorize");
    CHECK(result->token_endpoint == "https://login.microsoftonline.com/common/oauth2/v2.0/token");
    CHECK(result->jwks_uri == "https://login.microsoftonline.com/common/discovery/v2.0/keys");
    CHECK_FALSE(result->revocation_endpoint.has_value());
    CHECK(result->code_challenge_methods_supported.empty());  // Microsoft does not publish it
  }
  SECTION("organizations") {
    Fixture f;
    f.http.on_json(
        "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration",
        doc);
    const auto result =
        discover(f.http, "https://login.microsoftonline.com/organizations/v2.0", f.options);
    REQUIRE(result.ok());
    CHECK(result->issuer_template);
  }
}

TEST_CASE("The {tenantid} template is refused everywhere else") {
  const std::string doc = fixture("microsoft-common.json");
  const auto template_doc_for = [&](const std::string& published) {
    return with_member(doc, "issuer", "\"" + published + "\"");
  };
  struct Case {
    std::string configured;
    std::string published;
  };
  const Case cases[] = {
      // consumers publishes the Microsoft-account tenant's concrete issuer.
      {"https://login.microsoftonline.com/consumers/v2.0",
       "https://login.microsoftonline.com/{tenantid}/v2.0"},
      {"https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
       "https://login.microsoftonline.com/{tenantid}/v2.0"},
      {"https://login.microsoftonline.com/common", "https://login.microsoftonline.com/{tenantid}"},
      {"https://login.microsoftonline.com/common/v2.0",
       "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0"},
      {"https://login.microsoftonline.com/common/v2.0",
       "https://login.microsoftonline.com/{tenantid}/v2.0/"},
      {"https://evil.example/common/v2.0", "https://evil.example/{tenantid}/v2.0"},
      {"https://login.microsoftonline.com.evil.example/common/v2.0",
       "https://login.microsoftonline.com.evil.example/{tenantid}/v2.0"},
  };
  for (const Case& c : cases) {
    INFO(c.configured << " publishing " << c.published);
    Fixture f;
    f.http.on_json(openid_configuration_url(c.configured), template_doc_for(c.published));
    const auto result = discover(f.http, c.configured, f.options);
    CHECK(reason_of(result) == DiscoveryFailure::kIssuerMismatch);
  }
}

TEST_CASE("A document for another issuer is issuer_mismatch, naming both") {
  Fixture f;
  f.http.on_json("https://idp.example.com/.well-known/openid-configuration",
                 fixture("google.json"));
  const auto result = discover(f.http, "https://idp.example.com", f.options);
  CHECK(reason_of(result) == DiscoveryFailure::kIssuerMismatch);
  CHECK_THAT(result.status().message(), Catch::StartsWith("issuer_mismatch: ") &&
                                            Catch::Contains("\"https://accounts.google.com\"") &&
                                            Catch::Contains("\"https://idp.example.com\""));
}

TEST_CASE("Absent required members are missing_field, naming the member") {
  const std::string doc = fixture("google.json");
  for (const std::string member : {"issuer", "authorization_endpoint", "token_endpoint"}) {
    for (const std::string value : {"", "null", "\"\""}) {
      INFO(member << " = " << (value.empty() ? "(absent)" : value));
      Fixture f;
      f.http.on_json(kGoogleUrl, with_member(doc, member, value));
      const auto result = discover(f.http, kGoogle, f.options);
      CHECK(reason_of(result) == DiscoveryFailure::kMissingField);
      CHECK_THAT(result.status().message(), Catch::Contains(member));
    }
  }
}

TEST_CASE("Optional endpoints may be absent") {
  Fixture f;
  std::string doc = fixture("google.json");
  for (const char* member :
       {"jwks_uri", "userinfo_endpoint", "revocation_endpoint", "code_challenge_methods_supported",
        "scopes_supported", "token_endpoint_auth_methods_supported"}) {
    doc = with_member(doc, member, "");
  }
  f.http.on_json(kGoogleUrl, doc);
  const auto result = discover(f.http, kGoogle, f.options);
  REQUIRE(result.ok());
  CHECK_FALSE(result->jwks_uri.has_value());
  CHECK_FALSE(result->userinfo_endpoint.has_value());
  CHECK_FALSE(result->revocation_endpoint.has_value());
  CHECK(result->scopes_supported.empty());
}

TEST_CASE("A body that is not a metadata JSON object is invalid_json") {
  const std::string doc = fixture("google.json");
  const std::string bodies[] = {
      "",
      "<html>Sign in</html>",
      "[]",
      "\"https://accounts.google.com\"",
      doc + " trailing",
      with_member(doc, "issuer", "42"),
      with_member(doc, "token_endpoint", "[\"https://oauth2.googleapis.com/token\"]"),
      with_member(doc, "jwks_uri", "{}"),
      with_member(doc, "scopes_supported", "\"openid email\""),
      with_member(doc, "code_challenge_methods_supported", "[\"S256\", 1]"),
  };
  for (const std::string& body : bodies) {
    INFO(body.substr(0, 80));
    Fixture f;
    f.http.on_json(kGoogleUrl, body);
    CHECK(reason_of(discover(f.http, kGoogle, f.options)) == DiscoveryFailure::kInvalidJson);
  }
}

TEST_CASE("Every endpoint must be an absolute https URL") {
  const std::string doc = fixture("google.json");
  const std::string bad_urls[] = {
      "\"http://accounts.google.com/o/oauth2/v2/auth\"", "\"/o/oauth2/v2/auth\"",
      "\"accounts.google.com/o/oauth2/v2/auth\"",        "\"javascript:alert(1)\"",
      "\"https://user:pw@accounts.google.com/auth\"",
  };
  for (const std::string member : {"authorization_endpoint", "token_endpoint", "jwks_uri",
                                   "userinfo_endpoint", "revocation_endpoint"}) {
    for (const std::string& url : bad_urls) {
      INFO(member << " = " << url);
      Fixture f;
      f.http.on_json(kGoogleUrl, with_member(doc, member, url));
      const auto result = discover(f.http, kGoogle, f.options);
      CHECK(reason_of(result) == DiscoveryFailure::kInvalidJson);
      CHECK_THAT(result.status().message(), Catch::Contains(member));
    }
  }
}

TEST_CASE("allow_insecure accepts an http issuer and http endpoints, nothing more") {
  const std::string issuer = "http://127.0.0.1:3000";
  std::string doc = with_member(fixture("google.json"), "issuer", "\"" + issuer + "\"");
  doc = with_member(doc, "token_endpoint", "\"http://127.0.0.1:3000/token\"");
  FakeClock clock;
  FakeHttpClient http;
  http.on_json(issuer + "/.well-known/openid-configuration", doc);

  const auto strict = discover(http, issuer, DiscoveryOptions{.clock = &clock});
  REQUIRE_FALSE(strict.ok());
  CHECK(strict.status().code() == ErrorCode::kValidationFailed);
  CHECK(strict.status().field() == "issuer");
  CHECK(http.urls().empty());  // refused before any request

  const auto insecure =
      discover(http, issuer, DiscoveryOptions{.clock = &clock, .allow_insecure = true});
  REQUIRE(insecure.ok());
  CHECK(insecure->token_endpoint == "http://127.0.0.1:3000/token");

  // Still refused with the switch: relative URLs and other schemes.
  http.on_json(issuer + "/.well-known/openid-configuration",
               with_member(doc, "token_endpoint", "\"ftp://127.0.0.1/token\""));
  CHECK(reason_of(
            discover(http, issuer, DiscoveryOptions{.clock = &clock, .allow_insecure = true})) ==
        DiscoveryFailure::kInvalidJson);
}

TEST_CASE("An issuer that is not an absolute https URL is refused before any request") {
  for (const char* issuer :
       {"", "accounts.google.com", "https://", "https://x.example/?a=1", "https://x.example/#top",
        "https://user@x.example", "ftp://x.example"}) {
    INFO(issuer);
    FakeHttpClient http;
    const auto result = discover(http, issuer);
    REQUIRE_FALSE(result.ok());
    CHECK(result.status().code() == ErrorCode::kValidationFailed);
    CHECK(result.status().field() == "issuer");
    CHECK(http.urls().empty());
  }
}

TEST_CASE("A status other than 200 is http_status and redirects are not followed") {
  for (const int status : {301, 302, 307, 400, 401, 403, 500, 503}) {
    INFO(status);
    Fixture f;
    f.http.on(kGoogleUrl, HttpResponse{status, {{"Location", "https://elsewhere.example/"}}, "{}"});
    const auto result = discover(f.http, kGoogle, f.options);
    CHECK(reason_of(result) == DiscoveryFailure::kHttpStatus);
    CHECK_THAT(result.status().message(), Catch::Contains(std::to_string(status)));
    CHECK(f.http.urls() == std::vector<std::string>{kGoogleUrl});
  }
  Fixture f;
  f.http.on(kGoogleUrl, HttpResponse{302, {{"Location", "https://elsewhere.example/"}}, ""});
  CHECK_THAT(discover(f.http, kGoogle, f.options).status().message(),
             Catch::Contains("redirects are not followed"));
}

TEST_CASE("A 404 falls back to RFC 8414 metadata, well-known segment before the path") {
  const std::string issuer = "https://as.example.com/tenant/a";
  const std::string oidc = "https://as.example.com/tenant/a/.well-known/openid-configuration";
  const std::string oauth =
      "https://as.example.com/.well-known/oauth-authorization-server/tenant/a";
  std::string doc = with_member(fixture("google.json"), "issuer", "\"" + issuer + "\"");

  SECTION("found") {
    Fixture f;
    f.http.on_json(oauth, doc);
    const auto result = discover(f.http, issuer, f.options);
    REQUIRE(result.ok());
    CHECK(f.http.urls() == std::vector<std::string>{oidc, oauth});
    CHECK(result->source == MetadataSource::kOAuthAuthorizationServer);
    CHECK(result->metadata_url == oauth);
  }
  SECTION("its issuer is checked the same way (RFC 8414 §3.3)") {
    Fixture f;
    f.http.on_json(oauth, fixture("google.json"));
    CHECK(reason_of(discover(f.http, issuer, f.options)) == DiscoveryFailure::kIssuerMismatch);
  }
  SECTION("both absent: http_status naming both URLs") {
    Fixture f;
    const auto result = discover(f.http, issuer, f.options);
    CHECK(reason_of(result) == DiscoveryFailure::kHttpStatus);
    CHECK_THAT(result.status().message(), Catch::Contains(oidc) && Catch::Contains(oauth));
  }
  SECTION("only 404 falls back") {
    Fixture f;
    f.http.on(oidc, HttpResponse{500, {}, ""});
    f.http.on_json(oauth, doc);
    CHECK(reason_of(discover(f.http, issuer, f.options)) == DiscoveryFailure::kHttpStatus);
    CHECK(f.http.urls() == std::vector<std::string>{oidc});
  }
  SECTION("the fallback's transport failure is reported") {
    Fixture f;
    f.http.on(oauth, HttpError{HttpFailure::kTimeout, "no answer"});
    CHECK(reason_of(discover(f.http, issuer, f.options)) == DiscoveryFailure::kTimeout);
  }
}

TEST_CASE("After two 404s, the RFC 8414 §5 appended form is tried for an issuer with a path") {
  const std::string issuer = "https://as.example.com/tenant/a";
  const std::string oidc = "https://as.example.com/tenant/a/.well-known/openid-configuration";
  const std::string inserted =
      "https://as.example.com/.well-known/oauth-authorization-server/tenant/a";
  const std::string appended =
      "https://as.example.com/tenant/a/.well-known/oauth-authorization-server";
  const std::string doc = with_member(fixture("google.json"), "issuer", "\"" + issuer + "\"");

  SECTION("found there") {
    Fixture f;
    f.http.on_json(appended, doc);
    const auto result = discover(f.http, issuer, f.options);
    INFO(result.status().message());
    REQUIRE(result.ok());
    CHECK(f.http.urls() == std::vector<std::string>{oidc, inserted, appended});
    CHECK(result->source == MetadataSource::kOAuthAuthorizationServer);
    CHECK(result->metadata_url == appended);
  }
  SECTION("absent everywhere: http_status naming all three") {
    Fixture f;
    const auto result = discover(f.http, issuer, f.options);
    CHECK(reason_of(result) == DiscoveryFailure::kHttpStatus);
    CHECK_THAT(result.status().message(),
               Catch::Contains(oidc) && Catch::Contains(inserted) && Catch::Contains(appended));
  }
  SECTION("only a 404 of the inserted form goes on") {
    Fixture f;
    f.http.on(inserted, HttpResponse{403, {}, ""});
    f.http.on_json(appended, doc);
    CHECK(reason_of(discover(f.http, issuer, f.options)) == DiscoveryFailure::kHttpStatus);
    CHECK(f.http.urls() == std::vector<std::string>{oidc, inserted});
  }
  SECTION("an issuer without a path has one RFC 8414 location, asked once") {
    Fixture f;
    const auto result = discover(f.http, "https://as.example.com", f.options);
    CHECK(reason_of(result) == DiscoveryFailure::kHttpStatus);
    CHECK(f.http.urls() == std::vector<std::string>{
                               "https://as.example.com/.well-known/openid-configuration",
                               "https://as.example.com/.well-known/oauth-authorization-server"});
  }
  CHECK(oauth_authorization_server_appended_url(issuer + "/") == appended);
}

TEST_CASE("Metadata URLs follow OIDC Discovery §4.1 and RFC 8414 §3.1") {
  struct Case {
    const char* issuer;
    const char* openid;
    const char* oauth;
  };
  const Case cases[] = {
      {"https://as.example.com", "https://as.example.com/.well-known/openid-configuration",
       "https://as.example.com/.well-known/oauth-authorization-server"},
      {"https://as.example.com/", "https://as.example.com/.well-known/openid-configuration",
       "https://as.example.com/.well-known/oauth-authorization-server"},
      {"https://x/realms/a", "https://x/realms/a/.well-known/openid-configuration",
       "https://x/.well-known/oauth-authorization-server/realms/a"},
      {"https://x/realms/a/", "https://x/realms/a/.well-known/openid-configuration",
       "https://x/.well-known/oauth-authorization-server/realms/a"},
      {"https://as.example.com:8443/t",
       "https://as.example.com:8443/t/.well-known/openid-configuration",
       "https://as.example.com:8443/.well-known/oauth-authorization-server/t"},
      {"http://127.0.0.1:3000", "http://127.0.0.1:3000/.well-known/openid-configuration",
       "http://127.0.0.1:3000/.well-known/oauth-authorization-server"},
      {"https://[2001:db8::1]/t", "https://[2001:db8::1]/t/.well-known/openid-configuration",
       "https://[2001:db8::1]/.well-known/oauth-authorization-server/t"},
  };
  for (const Case& c : cases) {
    INFO(c.issuer);
    CHECK(openid_configuration_url(c.issuer) == c.openid);
    CHECK(oauth_authorization_server_url(c.issuer) == c.oauth);
  }
}

TEST_CASE("Transport failures keep the client's reason and message") {
  const auto [failure, expected] =
      GENERATE(std::pair{HttpFailure::kUnreachable, DiscoveryFailure::kUnreachable},
               std::pair{HttpFailure::kTlsError, DiscoveryFailure::kTlsError},
               std::pair{HttpFailure::kBlockedAddress, DiscoveryFailure::kBlockedAddress},
               std::pair{HttpFailure::kTooLarge, DiscoveryFailure::kTooLarge},
               std::pair{HttpFailure::kTimeout, DiscoveryFailure::kTimeout});
  Fixture f;
  f.http.on(kGoogleUrl, HttpError{failure, "details from the client"});
  const auto result = discover(f.http, kGoogle, f.options);
  CHECK(reason_of(result) == expected);
  CHECK(result.status().message() ==
        std::string(to_string(expected)) + ": details from the client");
  CHECK(to_string(failure) == to_string(expected));
}

TEST_CASE("Cache lifetime comes from Cache-Control max-age, clamped to 5 min .. 24 h") {
  struct Case {
    std::vector<HttpHeader> headers;
    seconds lifetime;
  };
  const Case cases[] = {
      {{}, hours(1)},
      {{{"Cache-Control", "max-age=7200"}}, hours(2)},
      {{{"cache-control", "public, max-age=900, must-revalidate"}}, minutes(15)},
      {{{"Cache-Control", "max-age=\"600\""}}, minutes(10)},
      {{{"Cache-Control", "max-age=60"}}, minutes(5)},
      {{{"Cache-Control", "max-age=0"}}, minutes(5)},
      {{{"Cache-Control", "no-store"}}, minutes(5)},
      {{{"Cache-Control", "no-cache"}}, minutes(5)},
      {{{"Cache-Control", "max-age=604800"}}, hours(24)},
      {{{"Cache-Control", "max-age=99999999999999999999999"}}, hours(24)},
      {{{"Cache-Control", "max-age=abc"}}, hours(1)},
      {{{"Cache-Control", "max-age=-5"}}, hours(1)},
      {{{"Cache-Control", "private"}}, hours(1)},
  };
  for (const Case& c : cases) {
    INFO((c.headers.empty() ? "(none)" : c.headers[0].value));
    Fixture f;
    f.http.on_json(kGoogleUrl, fixture("google.json"), 200, c.headers);
    const auto result = discover(f.http, kGoogle, f.options);
    REQUIRE(result.ok());
    CHECK(result->fetched_at == f.clock.now());
    CHECK(result->expires_at - result->fetched_at == c.lifetime);
  }
}

TEST_CASE("DiscoveryError round-trips through Status") {
  for (const DiscoveryFailure reason :
       {DiscoveryFailure::kUnreachable, DiscoveryFailure::kTlsError,
        DiscoveryFailure::kBlockedAddress, DiscoveryFailure::kTooLarge, DiscoveryFailure::kTimeout,
        DiscoveryFailure::kHttpStatus, DiscoveryFailure::kInvalidJson,
        DiscoveryFailure::kIssuerMismatch, DiscoveryFailure::kMissingField}) {
    const DiscoveryError error{reason, "detail: with a colon"};
    const Status status = error.to_status();
    CHECK(status.code() == ErrorCode::kDiscoveryFailed);
    CHECK(to_string(status.code()) == "discovery_failed");
    CHECK(status.field() == "issuer");
    CHECK(status.message() == std::string(to_string(reason)) + ": detail: with a colon");
    CHECK(DiscoveryError::from_status(status) == error);
    CHECK(parse_discovery_failure(to_string(reason)) == reason);
  }
  CHECK(to_string(DiscoveryFailure::kHttpStatus) == "http_status");
  CHECK(to_string(DiscoveryFailure::kIssuerMismatch) == "issuer_mismatch");
  CHECK_FALSE(parse_discovery_failure("discovery_failed").has_value());
  CHECK_FALSE(DiscoveryError::from_status(Status(ErrorCode::kInternal, "timeout: x")));
  CHECK_FALSE(DiscoveryError::from_status(Status(ErrorCode::kDiscoveryFailed, "weird: x")));
  CHECK_FALSE(DiscoveryError::from_status(Status()));
}

TEST_CASE("A discovered document survives to_json and from_json unchanged") {
  for (const auto& [issuer, url, file] :
       {std::tuple{kGoogle, kGoogleUrl, "google.json"},
        std::tuple{kKeycloak, kKeycloakUrl, "keycloak-acme.json"},
        std::tuple{kMsCommon, kMsCommonUrl, "microsoft-common.json"}}) {
    INFO(issuer);
    Fixture f;
    f.http.on_json(url, fixture(file), 200, {{"Cache-Control", "max-age=1800"}});
    const auto discovered = discover(f.http, issuer, f.options);
    REQUIRE(discovered.ok());
    const boost::json::object json = discovery_document_to_json(*discovered);
    CHECK(json.at("source") == "openid_configuration");
    CHECK(json.at("fetched_at").is_string());
    // Through text, as storage would keep it.
    const auto back =
        discovery_document_from_json(boost::json::parse(boost::json::serialize(json)));
    REQUIRE(back.ok());
    CHECK(*back == *discovered);
  }
}

TEST_CASE("from_json refuses unknown members and wrong types, naming the member") {
  Fixture f;
  f.http.on_json(kGoogleUrl, fixture("google.json"));
  const auto discovered = discover(f.http, kGoogle, f.options);
  REQUIRE(discovered.ok());
  const boost::json::object good = discovery_document_to_json(*discovered);
  struct Case {
    const char* member;
    const char* value;  // JSON; empty removes the member
  };
  for (const Case& c :
       {Case{"unexpected", "1"}, Case{"issuer", ""}, Case{"issuer", "1"},
        Case{"source", "\"rfc8414\""}, Case{"jwks_uri", "[]"}, Case{"scopes_supported", "[1]"},
        Case{"fetched_at", "\"yesterday\""}, Case{"issuer_template", "\"yes\""}}) {
    INFO(c.member << " = " << c.value);
    boost::json::object o = good;
    if (*c.value == '\0') {
      o.erase(c.member);
    } else {
      o[c.member] = boost::json::parse(c.value);
    }
    const auto result = discovery_document_from_json(o);
    REQUIRE_FALSE(result.ok());
    CHECK(result.status().code() == ErrorCode::kInvalidJson);
    CHECK(result.status().field() == c.member);
  }
  CHECK_FALSE(discovery_document_from_json(boost::json::parse("[]")).ok());
}

}  // namespace
}  // namespace nexus

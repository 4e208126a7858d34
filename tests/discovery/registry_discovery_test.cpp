// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Discovery inside ProviderRegistry: create, patch and refresh_discovery with
// a fake HttpClient; what is stored, viewed and audited.
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fake_http_client.hpp"
#include "legacy_provider.hpp"
#include "nexus/audit.hpp"
#include "nexus/discovery.hpp"
#include "nexus/provider.hpp"
#include "nexus/registry.hpp"
#include "nexus/storage.hpp"
#include "test_support.hpp"

namespace nexus {
namespace {

using namespace std::chrono_literals;
using testing::FakeHttpClient;
using testing::json;

constexpr const char* kIssuer = "https://idp.example.com";
constexpr const char* kMetadataUrl = "https://idp.example.com/.well-known/openid-configuration";
constexpr const char* kOtherIssuer = "https://sso.example.org/realms/acme";
constexpr const char* kOtherMetadataUrl =
    "https://sso.example.org/realms/acme/.well-known/openid-configuration";
constexpr const char* kSecret = "corp-client-secret-Zq81";

std::string document_for(const std::string& issuer, const std::string& prefix) {
  return boost::json::serialize(
      boost::json::object{{"issuer", issuer},
                          {"authorization_endpoint", prefix + "/authorize"},
                          {"token_endpoint", prefix + "/token"},
                          {"jwks_uri", prefix + "/jwks"},
                          {"userinfo_endpoint", prefix + "/userinfo"}});
}

std::string body_with_issuer(const std::string& issuer) {
  return boost::json::serialize(boost::json::object{{"name", "corp-sso"},
                                                    {"auth_type", "oauth2"},
                                                    {"client_id", "nexus"},
                                                    {"client_secret", kSecret},
                                                    {"issuer", issuer},
                                                    {"enable_discovery", true},
                                                    {"scopes", {"openid", "email"}}});
}

// An HttpClient that runs `before` (once) ahead of answering: lets a test
// change the provider while a fetch is in flight.
class InterposingClient final : public HttpClient {
 public:
  explicit InterposingClient(HttpClient& inner) : inner_(inner) {}
  void before_next(std::function<void()> f) { before_ = std::move(f); }
  HttpResult get(const HttpRequest& request) override {
    if (auto f = std::exchange(before_, nullptr)) f();
    return inner_.get(request);
  }

 private:
  HttpClient& inner_;
  std::function<void()> before_;
};

struct Fixture {
  testing::FakeClock clock;
  FakeHttpClient http;
  InterposingClient interposer{http};
  std::unique_ptr<Storage> storage = make_memory_storage();
  ProviderRegistry registry{
      RegistryOptions{.storage = storage.get(), .clock = &clock, .http_client = &interposer}};
  AuditLog audit{*storage};
  RequestContext ctx{.workspace = "default",
                     .actor = "key_admin",
                     .caller_ip = "203.0.113.7",
                     .user_agent = "registry-discovery-test/1"};

  Fixture() {
    http.on_json(kMetadataUrl, document_for(kIssuer, kIssuer), 200,
                 {{"Cache-Control", "public, max-age=600"}});
  }

  Provider create() {
    auto r = registry.create(ctx, json(body_with_issuer(kIssuer).c_str()));
    INFO(r.status().message());
    REQUIRE(r.ok());
    return r.value();
  }
  std::int64_t count() { return storage->count_providers(ctx.workspace).value(); }
  std::int64_t audit_seq() { return storage->audit_head(ctx.workspace)->seq; }
  std::vector<AuditEvent> events() {
    auto page = audit.query(ctx.workspace, AuditQuery{.limit = kMaxAuditLimit});
    REQUIRE(page.ok());
    return page->events;  // newest first
  }
  std::string all_audit_text() {
    std::string text;
    for (const auto& e : events()) text += boost::json::serialize(audit_event_view(e));
    return text;
  }
  std::size_t fetches_of(const std::string& url) {
    std::size_t n = 0;
    for (const auto& u : http.urls()) n += u == url ? 1 : 0;
    return n;
  }
};

std::string text(const boost::json::value& v) { return std::string(v.as_string()); }

TEST_CASE("create with discovery stores the document and views its endpoints",
          "[registry][discovery]") {
  Fixture f;
  const Provider p = f.create();
  CHECK(f.http.urls() == std::vector<std::string>{kMetadataUrl});

  // The spec stays as the caller wrote it: no endpoint was copied into it.
  CHECK_FALSE(p.spec.auth_url);
  CHECK_FALSE(p.spec.token_url);
  REQUIRE(p.discovery);
  REQUIRE(p.discovery->document);
  CHECK(p.discovery->document->metadata_url == kMetadataUrl);
  CHECK(p.discovery->document->fetched_at == f.clock.now());
  CHECK(p.discovery->document->expires_at == f.clock.now() + 600s);
  CHECK(p.discovery->last_attempt_at == f.clock.now());
  CHECK_FALSE(p.discovery->last_error);

  auto stored = f.registry.get(f.ctx, "corp-sso");
  REQUIRE(stored.ok());
  CHECK(stored.value() == p);

  const ProviderEndpoints endpoints = effective_endpoints(stored.value());
  CHECK(endpoints.auth_url == "https://idp.example.com/authorize");
  CHECK(endpoints.token_url == "https://idp.example.com/token");
  CHECK(endpoints.jwks_uri == "https://idp.example.com/jwks");
  CHECK(endpoints.user_info_endpoint == "https://idp.example.com/userinfo");

  const boost::json::object view = provider_view(stored.value());
  CHECK(text(view.at("auth_url")) == "https://idp.example.com/authorize");
  CHECK(text(view.at("token_url")) == "https://idp.example.com/token");
  CHECK(text(view.at("jwks_uri")) == "https://idp.example.com/jwks");
  CHECK(text(view.at("user_info_endpoint")) == "https://idp.example.com/userinfo");
  const boost::json::object& discovery = view.at("discovery").as_object();
  CHECK(discovery.at("issuer_template") == false);
  CHECK(text(discovery.at("metadata_url")) == kMetadataUrl);
  CHECK(text(discovery.at("fetched_at")) == format_rfc3339(f.clock.now()));
  CHECK(text(discovery.at("expires_at")) == format_rfc3339(f.clock.now() + 600s));
  CHECK(discovery.at("last_error").is_null());
  CHECK(boost::json::serialize(view).find(kSecret) == std::string::npos);

  // get reads the stored document; it does not fetch again.
  CHECK(f.http.urls().size() == 1);

  const std::vector<AuditEvent> events = f.events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].event_type == audit_events::kProviderCreated);
  const auto data = boost::json::parse(events[0].data).as_object();
  CHECK(text(data.at("discovery").at("token_endpoint")) == "https://idp.example.com/token");
  CHECK(f.all_audit_text().find(kSecret) == std::string::npos);

  auto metadata = f.registry.metadata(f.ctx);
  REQUIRE(metadata.ok());
  CHECK(metadata->at("oauth2").at("corp-sso").user_info_endpoint ==
        "https://idp.example.com/userinfo");
}

TEST_CASE("a caller's jwks_uri and user_info_endpoint win over the document's",
          "[registry][discovery]") {
  Fixture f;
  auto body = json(body_with_issuer(kIssuer).c_str());
  body.as_object()["jwks_uri"] = "https://keys.example.com/jwks";
  body.as_object()["user_info_endpoint"] = "https://api.example.com/me";
  auto r = f.registry.create(f.ctx, body);
  REQUIRE(r.ok());
  const ProviderEndpoints endpoints = effective_endpoints(r.value());
  CHECK(endpoints.auth_url == "https://idp.example.com/authorize");
  CHECK(endpoints.jwks_uri == "https://keys.example.com/jwks");
  CHECK(endpoints.user_info_endpoint == "https://api.example.com/me");
}

TEST_CASE("discovery is managed by the server: a body or patch may not set it",
          "[registry][discovery]") {
  Fixture f;
  auto body = json(body_with_issuer(kIssuer).c_str());
  body.as_object()["discovery"] = boost::json::object{{"last_error", nullptr}};
  auto r = f.registry.create(f.ctx, body);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kValidationFailed);
  CHECK(r.status().field() == "discovery");
  CHECK(f.http.urls().empty());

  f.create();
  auto p = f.registry.patch(f.ctx, "corp-sso", json(R"({"discovery":{"fetched_at":null}})"));
  REQUIRE_FALSE(p.ok());
  CHECK(p.status().field() == "discovery");
}

TEST_CASE("the cache lifetime comes from Cache-Control, clamped", "[registry][discovery]") {
  struct Case {
    std::vector<HttpHeader> headers;
    std::chrono::seconds lifetime;
  };
  const Case c = GENERATE(values<Case>({
      {{}, kDiscoveryDefaultMaxAge},
      {{{"Cache-Control", "max-age=7200"}}, 7200s},
      {{{"Cache-Control", "max-age=10"}}, kDiscoveryMinMaxAge},
      {{{"Cache-Control", "no-store"}}, kDiscoveryMinMaxAge},
      {{{"Cache-Control", "max-age=999999"}}, kDiscoveryMaxMaxAge},
  }));
  Fixture f;
  f.http.on_json(kMetadataUrl, document_for(kIssuer, kIssuer), 200, c.headers);
  const Provider p = f.create();
  REQUIRE(p.discovery);
  REQUIRE(p.discovery->document);
  CHECK(p.discovery->document->expires_at - p.discovery->document->fetched_at == c.lifetime);
}

struct FailureCase {
  const char* name;
  DiscoveryFailure reason;
  std::function<void(FakeHttpClient&)> arrange;
};

std::vector<FailureCase> failure_cases() {
  const auto transport = [](HttpFailure failure) {
    return [failure](FakeHttpClient& http) {
      http.on(kMetadataUrl, HttpError{failure, "the fake client refused"});
    };
  };
  const auto body = [](std::string text, int status = 200) {
    return [text, status](FakeHttpClient& http) { http.on_json(kMetadataUrl, text, status); };
  };
  return {
      {"unreachable", DiscoveryFailure::kUnreachable, transport(HttpFailure::kUnreachable)},
      {"tls_error", DiscoveryFailure::kTlsError, transport(HttpFailure::kTlsError)},
      {"blocked_address", DiscoveryFailure::kBlockedAddress,
       transport(HttpFailure::kBlockedAddress)},
      {"too_large", DiscoveryFailure::kTooLarge, transport(HttpFailure::kTooLarge)},
      {"timeout", DiscoveryFailure::kTimeout, transport(HttpFailure::kTimeout)},
      {"http_status", DiscoveryFailure::kHttpStatus, body("{}", 503)},
      {"http_status (404 twice)", DiscoveryFailure::kHttpStatus,
       [](FakeHttpClient&) { /* unknown URLs answer 404 */ }},
      {"invalid_json", DiscoveryFailure::kInvalidJson, body("<html>")},
      {"issuer_mismatch", DiscoveryFailure::kIssuerMismatch,
       body(document_for("https://evil.example.com", kIssuer))},
      {"missing_field", DiscoveryFailure::kMissingField,
       body(R"({"issuer":"https://idp.example.com",
                "authorization_endpoint":"https://idp.example.com/authorize"})")},
  };
}

TEST_CASE("every discovery failure fails create with discovery_failed and stores nothing",
          "[registry][discovery]") {
  const FailureCase c = GENERATE(from_range(failure_cases()));
  INFO(c.name);
  testing::FakeClock clock;
  FakeHttpClient http;
  c.arrange(http);
  auto storage = make_memory_storage();
  ProviderRegistry registry(
      RegistryOptions{.storage = storage.get(), .clock = &clock, .http_client = &http});
  RequestContext ctx;
  auto r = registry.create(ctx, json(body_with_issuer(kIssuer).c_str()));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kDiscoveryFailed);
  CHECK(r.status().field() == "issuer");
  const auto error = DiscoveryError::from_status(r.status());
  REQUIRE(error);
  CHECK(error->reason == c.reason);
  CHECK(r.status().message().find(kSecret) == std::string::npos);
  CHECK(storage->count_providers(ctx.workspace).value() == 0);
  CHECK(storage->audit_head(ctx.workspace)->seq == 0);
}

TEST_CASE("a registry without a client uses its own, which refuses loopback",
          "[registry][discovery]") {
  auto storage = make_memory_storage();
  ProviderRegistry registry(RegistryOptions{.storage = storage.get()});
  RequestContext ctx;
  // No connection is attempted: the default client's guard refuses 127.0.0.1.
  auto r = registry.create(ctx, json(body_with_issuer("https://127.0.0.1:9").c_str()));
  REQUIRE_FALSE(r.ok());
  const auto error = DiscoveryError::from_status(r.status());
  REQUIRE(error);
  CHECK(error->reason == DiscoveryFailure::kBlockedAddress);
  CHECK(storage->count_providers(ctx.workspace).value() == 0);
}

TEST_CASE("issuers at blocked addresses are refused through the registry, storing nothing",
          "[registry][discovery]") {
  // The registry's own default client, without the insecure switch: the
  // guard refuses before connecting, so no port needs to exist.
  const char* issuer = GENERATE("https://127.0.0.1", "https://10.0.0.1", "https://169.254.169.254",
                                "https://[::1]", "https://[::ffff:127.0.0.1]", "https://0.0.0.0",
                                "https://localhost:8443/realms/acme");
  INFO(issuer);
  auto storage = make_memory_storage();
  ProviderRegistry registry(RegistryOptions{.storage = storage.get()});
  RequestContext ctx;
  auto r = registry.create(ctx, json(body_with_issuer(issuer).c_str()));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kDiscoveryFailed);
  CHECK(r.status().field() == "issuer");
  const auto error = DiscoveryError::from_status(r.status());
  REQUIRE(error);
  CHECK(error->reason == DiscoveryFailure::kBlockedAddress);
  CHECK_THAT(r.status().message(), Catch::StartsWith("blocked_address: "));
  CHECK(storage->count_providers(ctx.workspace).value() == 0);
  CHECK(storage->audit_head(ctx.workspace)->seq == 0);
}

TEST_CASE("Microsoft's template issuer is recorded through the registry and viewed",
          "[registry][discovery]") {
  const std::string issuer = "https://login.microsoftonline.com/common/v2.0";
  Fixture f;
  f.http.on_json(issuer + "/.well-known/openid-configuration",
                 testing::fixture("microsoft-common.json"));
  auto r = f.registry.create(f.ctx, json(body_with_issuer(issuer).c_str()));
  INFO(r.status().message());
  REQUIRE(r.ok());
  REQUIRE(r->discovery->document);
  CHECK(r->discovery->document->issuer_template);
  CHECK(r->discovery->document->published_issuer ==
        "https://login.microsoftonline.com/{tenantid}/v2.0");

  const Provider stored = f.registry.get(f.ctx, "corp-sso").value();
  CHECK(stored == r.value());
  const boost::json::object view = provider_view(stored);
  CHECK(view.at("discovery").at("issuer_template") == true);
  CHECK(text(view.at("token_url")) == "https://login.microsoftonline.com/common/oauth2/v2.0/token");
  const auto data = boost::json::parse(f.events().front().data).as_object();
  CHECK(data.at("discovery").at("issuer_template") == true);
}

TEST_CASE("an owned client that cannot be made is reported, not a crash", "[registry][discovery]") {
  auto storage = make_memory_storage();
  RegistryOptions options{.storage = storage.get()};
  options.http_client_options.ca_file = "/nonexistent/ca.pem";
  ProviderRegistry registry(options);
  RequestContext ctx;
  auto r = registry.create(ctx, json(body_with_issuer(kIssuer).c_str()));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kValidationFailed);
  CHECK(r.status().field() == "ca_file");
  CHECK(storage->count_providers(ctx.workspace).value() == 0);
}

TEST_CASE("the insecure switch admits an http issuer and http endpoints", "[registry][discovery]") {
  testing::FakeClock clock;
  FakeHttpClient http;
  const std::string issuer = "http://127.0.0.1:4444";
  http.on_json(issuer + "/.well-known/openid-configuration", document_for(issuer, issuer));
  auto storage = make_memory_storage();
  RequestContext ctx;

  SECTION("without it, the http issuer is refused before any request") {
    ProviderRegistry registry(
        RegistryOptions{.storage = storage.get(), .clock = &clock, .http_client = &http});
    auto r = registry.create(ctx, json(body_with_issuer(issuer).c_str()));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == ErrorCode::kValidationFailed);
    CHECK(r.status().field() == "issuer");
    CHECK(http.urls().empty());
  }
  SECTION("with it, discovery succeeds") {
    ProviderRegistry registry(RegistryOptions{.storage = storage.get(),
                                              .clock = &clock,
                                              .http_client = &http,
                                              .discovery_allow_insecure = true});
    auto r = registry.create(ctx, json(body_with_issuer(issuer).c_str()));
    INFO(r.status().message());
    REQUIRE(r.ok());
    CHECK(effective_endpoints(r.value()).token_url == issuer + "/token");
    // Only the issuer is relaxed: a manual http auth_url is still refused.
    auto manual = registry.create(ctx, json(R"({"name":"manual","auth_type":"oauth2",
        "client_id":"a","client_secret":"b","auth_url":"http://127.0.0.1/a",
        "token_url":"https://x.example/t"})"));
    REQUIRE_FALSE(manual.ok());
    CHECK(manual.status().field() == "auth_url");
  }
}

TEST_CASE("patch rediscovers when the issuer changes, and only then", "[registry][discovery]") {
  Fixture f;
  f.http.on_json(kOtherMetadataUrl, document_for(kOtherIssuer, "https://sso.example.org/oidc"));
  const Provider v1 = f.create();

  SECTION("an unrelated change keeps the stored document and fetches nothing") {
    f.clock.advance(1min);
    auto r = f.registry.patch(f.ctx, "corp-sso", json(R"({"description":"Corporate SSO"})"));
    INFO(r.status().message());
    REQUIRE(r.ok());
    CHECK(r->version == 2);
    CHECK(r->discovery == v1.discovery);
    CHECK(f.http.urls().size() == 1);
  }
  SECTION("a new issuer is discovered before anything is stored") {
    f.clock.advance(1min);
    auto r = f.registry.patch(f.ctx, "corp-sso",
                              json((std::string(R"({"issuer":")") + kOtherIssuer + "\"}").c_str()));
    INFO(r.status().message());
    REQUIRE(r.ok());
    CHECK(f.fetches_of(kOtherMetadataUrl) == 1);
    CHECK(r->version == 2);
    CHECK(effective_endpoints(r.value()).token_url == "https://sso.example.org/oidc/token");
    REQUIRE(r->discovery->document);
    CHECK(r->discovery->document->fetched_at == f.clock.now());
    CHECK(f.registry.get(f.ctx, "corp-sso").value() == r.value());
    const auto data = boost::json::parse(f.events().front().data).as_object();
    CHECK(text(data.at("discovery").at("metadata_url")) == kOtherMetadataUrl);
  }
  SECTION("a new issuer that fails discovery stores nothing") {
    f.http.on(kOtherMetadataUrl, HttpError{HttpFailure::kTimeout, "no answer within 10 s"});
    auto r = f.registry.patch(f.ctx, "corp-sso",
                              json((std::string(R"({"issuer":")") + kOtherIssuer + "\"}").c_str()));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == ErrorCode::kDiscoveryFailed);
    CHECK(DiscoveryError::from_status(r.status())->reason == DiscoveryFailure::kTimeout);
    CHECK(f.registry.get(f.ctx, "corp-sso").value() == v1);
    CHECK(f.audit_seq() == 1);
  }
}

TEST_CASE("patch turns discovery on (discovering) and off (dropping the document)",
          "[registry][discovery]") {
  Fixture f;
  auto manual = f.registry.create(f.ctx, json(R"({"name":"corp-sso","auth_type":"oauth2",
      "client_id":"nexus","client_secret":"s","auth_url":"https://old.example.com/a",
      "token_url":"https://old.example.com/t"})"));
  REQUIRE(manual.ok());
  CHECK_FALSE(manual->discovery);
  CHECK_FALSE(provider_view(manual.value()).contains("discovery"));

  auto on = f.registry.patch(f.ctx, "corp-sso", json(R"({"enable_discovery":true,
      "issuer":"https://idp.example.com","auth_url":null,"token_url":null})"));
  INFO(on.status().message());
  REQUIRE(on.ok());
  CHECK(f.fetches_of(kMetadataUrl) == 1);
  CHECK(effective_endpoints(on.value()).auth_url == "https://idp.example.com/authorize");

  // The view's discovered endpoints are not part of the spec, so a later
  // merge patch of another field does not trip "auth_url with discovery".
  auto renamed = f.registry.patch(f.ctx, "corp-sso", json(R"({"category":"sso"})"));
  INFO(renamed.status().message());
  REQUIRE(renamed.ok());

  auto off = f.registry.patch(f.ctx, "corp-sso", json(R"({"enable_discovery":false,
      "auth_url":"https://new.example.com/a","token_url":"https://new.example.com/t"})"));
  INFO(off.status().message());
  REQUIRE(off.ok());
  CHECK_FALSE(off->discovery);
  CHECK(effective_endpoints(off.value()).auth_url == "https://new.example.com/a");
  CHECK(f.registry.get(f.ctx, "corp-sso").value() == off.value());
  CHECK(f.fetches_of(kMetadataUrl) == 1);
}

TEST_CASE("refresh_discovery stores a new document and audits provider.discovered",
          "[registry][discovery]") {
  Fixture f;
  const Provider v1 = f.create();
  f.clock.advance(2h);
  f.http.on_json(kMetadataUrl, document_for(kIssuer, "https://idp.example.com/v2"));

  auto r = f.registry.refresh_discovery(f.ctx, "corp-sso");
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->version == 2);
  CHECK(r->updated_at == f.clock.now());
  CHECK(effective_endpoints(r.value()).token_url == "https://idp.example.com/v2/token");
  REQUIRE(r->discovery->document);
  CHECK(r->discovery->document->fetched_at == f.clock.now());
  CHECK(r->discovery->document->expires_at == f.clock.now() + kDiscoveryDefaultMaxAge);
  CHECK(f.registry.get(f.ctx, "corp-sso").value() == r.value());

  const AuditEvent event = f.events().front();
  CHECK(event.event_type == audit_events::kProviderDiscovered);
  CHECK(event.provider_id == v1.id);
  const auto data = boost::json::parse(event.data).as_object();
  CHECK(text(data.at("changed").at("token_url").at("from")) == "https://idp.example.com/token");
  CHECK(text(data.at("changed").at("token_url").at("to")) == "https://idp.example.com/v2/token");
  CHECK(f.all_audit_text().find(kSecret) == std::string::npos);
}

TEST_CASE("a failed refresh keeps the last good endpoints and reports last_error",
          "[registry][discovery]") {
  Fixture f;
  const Provider v1 = f.create();
  f.clock.advance(2h);
  f.http.on(kMetadataUrl, HttpError{HttpFailure::kTlsError,
                                    "TLS handshake with idp.example.com failed: certificate "
                                    "has expired"});

  auto r = f.registry.refresh_discovery(f.ctx, "corp-sso");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kDiscoveryFailed);
  CHECK(DiscoveryError::from_status(r.status())->reason == DiscoveryFailure::kTlsError);

  auto stored = f.registry.get(f.ctx, "corp-sso");
  REQUIRE(stored.ok());
  CHECK(stored->version == 2);
  CHECK(effective_endpoints(stored.value()) == effective_endpoints(v1));
  REQUIRE(stored->discovery);
  CHECK(stored->discovery->document == v1.discovery->document);
  CHECK(stored->discovery->last_attempt_at == f.clock.now());
  REQUIRE(stored->discovery->last_error);
  CHECK(stored->discovery->last_error->reason == DiscoveryFailure::kTlsError);
  CHECK(stored->discovery->last_error->at == f.clock.now());

  const boost::json::object view = provider_view(stored.value());
  CHECK(text(view.at("token_url")) == "https://idp.example.com/token");
  const boost::json::object& discovery = view.at("discovery").as_object();
  CHECK(text(discovery.at("fetched_at")) == format_rfc3339(v1.discovery->document->fetched_at));
  const boost::json::object& last_error = discovery.at("last_error").as_object();
  CHECK(text(last_error.at("reason")) == "tls_error");
  CHECK(text(last_error.at("message")).find("certificate has expired") != std::string::npos);
  CHECK(text(last_error.at("at")) == format_rfc3339(f.clock.now()));

  CHECK(f.events().front().event_type == audit_events::kProviderDiscoveryFailed);

  SECTION("the next success clears last_error") {
    f.clock.advance(1min);
    f.http.on_json(kMetadataUrl, document_for(kIssuer, kIssuer));
    auto again = f.registry.refresh_discovery(f.ctx, "corp-sso");
    REQUIRE(again.ok());
    CHECK_FALSE(again->discovery->last_error);
    CHECK(provider_view(again.value()).at("discovery").at("last_error").is_null());
  }
}

TEST_CASE("refresh_discovery refuses providers without discovery and unknown names",
          "[registry][discovery]") {
  Fixture f;
  REQUIRE(f.registry.create(f.ctx, json(testing::kGithubJson)).ok());
  auto manual = f.registry.refresh_discovery(f.ctx, "github");
  CHECK(manual.status().code() == ErrorCode::kValidationFailed);
  CHECK(manual.status().field() == "enable_discovery");
  CHECK(f.registry.refresh_discovery(f.ctx, "nope").status().code() ==
        ErrorCode::kProviderNotFound);
  CHECK(f.http.urls().empty());
  CHECK(f.audit_seq() == 1);
}

TEST_CASE("a refresh that loses a race records its outcome on the newer version",
          "[registry][discovery]") {
  Fixture f;
  f.create();
  f.http.on_json(kMetadataUrl, document_for(kIssuer, "https://idp.example.com/v2"));
  // While the document is being fetched, someone patches the provider.
  f.interposer.before_next([&] {
    REQUIRE(f.registry.patch(f.ctx, "corp-sso", json(R"({"description":"changed"})")).ok());
  });
  auto r = f.registry.refresh_discovery(f.ctx, "corp-sso");
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->version == 3);
  CHECK(r->spec.description == "changed");
  CHECK(effective_endpoints(r.value()).token_url == "https://idp.example.com/v2/token");
  CHECK(f.fetches_of(kMetadataUrl) == 2);  // create + one refresh fetch, reused on retry
}

TEST_CASE("a discovery provider stored without a document is refreshed into one",
          "[registry][discovery]") {
  // As stored before discovery was integrated: enable_discovery, no state.
  Fixture f;
  testing::store_legacy_discovery_provider(*f.storage, f.ctx.workspace, kIssuer);

  f.http.on(kMetadataUrl, HttpError{HttpFailure::kUnreachable, "connection refused"});
  auto failed = f.registry.refresh_discovery(f.ctx, "legacy");
  REQUIRE_FALSE(failed.ok());
  auto stored = f.registry.get(f.ctx, "legacy");
  REQUIRE(stored->discovery);
  CHECK_FALSE(stored->discovery->document);
  CHECK(stored->discovery->last_error->reason == DiscoveryFailure::kUnreachable);
  CHECK_FALSE(effective_endpoints(stored.value()).auth_url);

  f.http.on_json(kMetadataUrl, document_for(kIssuer, kIssuer));
  auto ok = f.registry.refresh_discovery(f.ctx, "legacy");
  REQUIRE(ok.ok());
  CHECK(effective_endpoints(ok.value()).auth_url == "https://idp.example.com/authorize");
}

TEST_CASE("a discovery provider stored without a document is viewed with nulls",
          "[registry][discovery]") {
  // As a provider created before discovery was integrated: no state.
  Provider legacy;
  legacy.id = "prv_legacy";
  legacy.spec.name = "legacy";
  legacy.spec.client_id = "a";
  legacy.spec.issuer = kIssuer;
  legacy.spec.enable_discovery = true;
  const boost::json::object view = provider_view(legacy);
  CHECK_FALSE(view.contains("auth_url"));
  const boost::json::object& discovery = view.at("discovery").as_object();
  CHECK(discovery.at("fetched_at").is_null());
  CHECK(discovery.at("expires_at").is_null());
  CHECK(discovery.at("last_error").is_null());
  CHECK(discovery.at("issuer_template") == false);
}

}  // namespace
}  // namespace nexus

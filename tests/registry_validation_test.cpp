// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// Every validation rule of the provider model, through the registry and a real
// storage: each bad body (as JSON text, through parse_json as the server reads
// it) is refused with its code and field, and leaves no provider and no audit
// event behind, on every storage backend.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "nexus/json.hpp"
#include "nexus/registry.hpp"
#include "storage/conformance.hpp"
#include "test_support.hpp"

namespace nexus {
namespace {

// Valid bodies the cases start from.
constexpr std::string_view kGithub = R"({
  "name": "github", "auth_type": "oauth2",
  "client_id": "Iv1.abc123", "client_secret": "gh-client-secret-7Qx2",
  "auth_url": "https://github.com/login/oauth/authorize",
  "token_url": "https://github.com/login/oauth/access_token",
  "api_base_url": "https://api.github.com", "user_info_endpoint": "https://api.github.com/user",
  "jwks_uri": "https://github.com/jwks.json",
  "scopes": ["repo", "read:user"], "params": {"allow_signup": false},
  "description": "GitHub OAuth App", "category": "developer"})";
constexpr std::string_view kGoogle = R"({
  "name": "google", "auth_type": "oauth2", "client_id": "cid", "client_secret": "csecret",
  "issuer": "https://accounts.google.com", "enable_discovery": true, "scopes": ["openid"]})";
constexpr std::string_view kStripe = R"({
  "name": "stripe", "auth_type": "api_key", "api_base_url": "https://api.stripe.com",
  "credential_schema": {"fields": [{"name": "secret_key", "label": "Secret Key",
                                    "sensitive": true}]},
  "description": "Stripe payments API", "category": "payments"})";

struct Case {
  std::string body;  // JSON text
  ErrorCode code;
  std::string field;
};

// `base` with the RFC 7396 merge patch `patch` applied, as text.
std::string with(std::string_view base, std::string_view patch) {
  boost::json::value doc = boost::json::parse(base);
  REQUIRE(apply_merge_patch(doc, boost::json::parse(patch)).ok());
  return boost::json::serialize(doc);
}

// `base` with the raw member text `member` added first: for members a merge
// patch cannot add, such as one whose value is null.
std::string plus(std::string_view base, std::string_view member) {
  const std::string text = boost::json::serialize(boost::json::parse(base));
  return "{" + std::string(member) + "," + text.substr(1);
}

std::string json_string(std::string_view text) {
  return boost::json::serialize(boost::json::string(text));
}

std::string member(std::string_view name, std::string_view json_value) {
  return "{" + json_string(name) + ": " + std::string(json_value) + "}";
}

std::string nested_arrays(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

constexpr ErrorCode kInvalid = ErrorCode::kValidationFailed;

// Values every URL field refuses: relative, http, userinfo, fragment, garbage,
// another scheme, no host.
const std::vector<std::string> kBadUrls = {R"("/login/oauth/authorize")",
                                           R"("http://example.com/x")",
                                           R"("https://user:pw@example.com/x")",
                                           R"("https://example.com/x#frag")",
                                           R"("ht tp://exa mple.com")",
                                           R"("ftp://example.com/x")",
                                           R"("https:///x")",
                                           R"("")"};

constexpr std::string_view kOAuth2UrlFields[] = {"auth_url", "token_url", "api_base_url",
                                                 "user_info_endpoint", "jwks_uri"};

// The rules of scopes and params, as patches of an oauth2 body.
std::vector<Case> scope_and_param_cases(std::string_view base) {
  boost::json::object many_params;
  for (int i = 0; i <= 32; ++i) many_params["p" + std::to_string(i)] = i;
  boost::json::array many_scopes;
  for (int i = 0; i <= 256; ++i) many_scopes.emplace_back("s" + std::to_string(i));
  return {
      {with(base, R"({"scopes": "repo"})"), kInvalid, "scopes"},
      {with(base, R"({"scopes": {"repo": true}})"), kInvalid, "scopes"},
      {with(base, R"({"scopes": ["repo", ""]})"), kInvalid, "scopes[1]"},
      {with(base, R"({"scopes": ["read user"]})"), kInvalid, "scopes[0]"},
      {with(base, R"({"scopes": ["repo", "read\tuser"]})"), kInvalid, "scopes[1]"},
      {with(base, R"({"scopes": ["read\u00a0user"]})"), kInvalid, "scopes[0]"},
      {with(base, R"({"scopes": ["read\u3000user"]})"), kInvalid, "scopes[0]"},
      {with(base, R"({"scopes": ["\"repo\""]})"), kInvalid, "scopes[0]"},
      {with(base, R"({"scopes": ["re\\po"]})"), kInvalid, "scopes[0]"},
      {with(base, R"({"scopes": ["caf\u00e9"]})"), kInvalid, "scopes[0]"},
      {with(base, R"({"scopes": ["repo", 7]})"), kInvalid, "scopes[1]"},
      {with(base, R"({"scopes": [null]})"), kInvalid, "scopes[0]"},
      {with(base, member("scopes", boost::json::serialize(many_scopes))), kInvalid, "scopes"},
      {with(base, R"({"params": ["a"]})"), kInvalid, "params"},
      {with(base, R"({"params": "a=1"})"), kInvalid, "params"},
      {with(base, R"({"params": {"nested": {"a": 1}}})"), kInvalid, "params.nested"},
      {with(base, R"({"params": {"list": [1]}})"), kInvalid, "params.list"},
      {with(base, R"({"params": {"big": 18446744073709551615}})"), kInvalid, "params.big"},
      {with(base, R"({"params": {"": "x"}})"), kInvalid, "params"},
      {with(base, member("params", boost::json::serialize(many_params))), kInvalid, "params"},
  };
}

// Wrong JSON types, member by member.
std::vector<Case> wrong_type_cases(std::string_view base) {
  std::vector<Case> cases;
  const std::pair<std::string_view, std::string_view> members[] = {
      {"name", "7"},
      {"auth_type", "1"},
      {"client_id", "12345"},
      {"client_secret", "true"},
      {"issuer", "[]"},
      {"auth_url", "{}"},
      {"token_url", "1.5"},
      {"api_base_url", "false"},
      {"user_info_endpoint", "[\"https://x.example\"]"},
      {"jwks_uri", "0"},
      {"enable_discovery", "\"true\""},
      {"enable_discovery", "1"},
      {"description", "[\"a\"]"},
      {"category", "3"},
      {"credential_schema", "\"fields\""},
  };
  for (const auto& [name, value] : members) {
    cases.push_back({with(base, member(name, value)), kInvalid, std::string(name)});
  }
  return cases;
}

// Every rule a create can break, each with the code and field it is refused with.
std::vector<Case> create_cases() {
  std::vector<Case> cases = {
      // JSON text and structure.
      {R"({"name":"dup","auth_type":"api_key","name":"dup2"})", ErrorCode::kInvalidJson, "name"},
      {"{\"name\": \"github\"", ErrorCode::kInvalidJson, ""},
      {"", ErrorCode::kInvalidJson, ""},
      {"{\"params\": " + nested_arrays(40) + "}", ErrorCode::kInvalidJson, ""},
      {"[]", kInvalid, ""},
      {R"("github")", kInvalid, ""},
      {with(kGithub, R"({"scope": ["repo"]})"), kInvalid, "scope"},
      {plus(kGithub, R"("clientid": null)"), kInvalid, "clientid"},
      // Name.
      {with(kGithub, R"({"name": null})"), kInvalid, "name"},
      {with(kGithub, R"({"name": ""})"), kInvalid, "name"},
      {with(kGithub, member("name", json_string(std::string(64, 'a')))), kInvalid, "name"},
      {with(kGithub, R"({"name": "GitHub"})"), kInvalid, "name"},
      {with(kGithub, R"({"name": "gitHub"})"), kInvalid, "name"},
      {with(kGithub, R"({"name": "-github"})"), kInvalid, "name"},
      {with(kGithub, R"({"name": "git_hub"})"), kInvalid, "name"},
      {with(kGithub, R"({"name": "git hub"})"), kInvalid, "name"},
      {with(kGithub, R"({"name": "git.hub"})"), kInvalid, "name"},
      {with(kGithub, R"({"name": "metadata"})"), kInvalid, "name"},
      // auth_type.
      {with(kGithub, R"({"auth_type": null})"), kInvalid, "auth_type"},
      {with(kGithub, R"({"auth_type": "basic"})"), kInvalid, "auth_type"},
      {with(kGithub, R"({"auth_type": "OAuth2"})"), kInvalid, "auth_type"},
      // oauth2.
      {with(kGithub, R"({"client_id": null})"), kInvalid, "client_id"},
      {with(kGithub, R"({"client_id": ""})"), kInvalid, "client_id"},
      {with(kGithub, R"({"client_secret": null})"), kInvalid, "client_secret"},
      {with(kGithub, R"({"client_secret": ""})"), kInvalid, "client_secret"},
      {with(kGithub, R"({"credential_schema": {"fields": [{"name": "k", "label": "K"}]}})"),
       kInvalid, "credential_schema"},
      // Discovery.
      {with(kGoogle, R"({"issuer": null})"), kInvalid, "issuer"},
      {with(kGoogle, R"({"auth_url": "https://accounts.google.com/auth"})"), kInvalid, "auth_url"},
      {with(kGoogle, R"({"token_url": "https://oauth2.googleapis.com/token"})"), kInvalid,
       "token_url"},
      {with(kGoogle, R"({"issuer": "http://accounts.google.com"})"), kInvalid, "issuer"},
      {with(kGoogle, R"({"issuer": "accounts.google.com"})"), kInvalid, "issuer"},
      // Without discovery: both endpoints, and the hint for an issuer alone.
      {with(kGithub, R"({"auth_url": null})"), kInvalid, "auth_url"},
      {with(kGithub, R"({"token_url": null})"), kInvalid, "token_url"},
      {with(kGoogle, R"({"enable_discovery": false})"), kInvalid, "issuer"},
      {with(kGoogle, R"({"enable_discovery": null})"), kInvalid, "issuer"},
      // api_key: the credential schema.
      {with(kStripe, R"({"credential_schema": null})"), kInvalid, "credential_schema"},
      {with(kStripe, R"({"credential_schema": []})"), kInvalid, "credential_schema"},
      {plus(with(kStripe, R"({"credential_schema": null})"), R"("credential_schema": {})"),
       kInvalid, "credential_schema.fields"},
      {with(kStripe, R"({"credential_schema": {"fields": []}})"), kInvalid,
       "credential_schema.fields"},
      {with(kStripe, R"({"credential_schema": {"fields": {}}})"), kInvalid,
       "credential_schema.fields"},
      {with(kStripe, R"({"credential_schema": {"fields": [], "extra": 1}})"), kInvalid,
       "credential_schema.extra"},
      {with(kStripe, R"({"credential_schema": {"fields": ["secret_key"]}})"), kInvalid,
       "credential_schema.fields[0]"},
      {with(kStripe, R"({"credential_schema": {"fields": [{"label": "Key"}]}})"), kInvalid,
       "credential_schema.fields[0].name"},
      {with(kStripe, R"({"credential_schema": {"fields": [{"name": "", "label": "Key"}]}})"),
       kInvalid, "credential_schema.fields[0].name"},
      {with(kStripe, R"({"credential_schema": {"fields": [{"name": "SecretKey", "label": "K"}]}})"),
       kInvalid, "credential_schema.fields[0].name"},
      {with(kStripe, R"({"credential_schema": {"fields": [{"name": "1key", "label": "K"}]}})"),
       kInvalid, "credential_schema.fields[0].name"},
      {with(kStripe,
            R"({"credential_schema": {"fields": [{"name": "secret-key", "label": "K"}]}})"),
       kInvalid, "credential_schema.fields[0].name"},
      {with(kStripe, R"({"credential_schema": {"fields": [{"name": 7, "label": "K"}]}})"), kInvalid,
       "credential_schema.fields[0].name"},
      {with(kStripe, R"({"credential_schema": {"fields": [{"name": "key", "label": "Key"},
                                                          {"name": "key", "label": "Again"}]}})"),
       kInvalid, "credential_schema.fields[1].name"},
      {with(kStripe, R"({"credential_schema": {"fields": [{"name": "key"}]}})"), kInvalid,
       "credential_schema.fields[0].label"},
      {with(kStripe, R"({"credential_schema": {"fields": [{"name": "key", "label": ""}]}})"),
       kInvalid, "credential_schema.fields[0].label"},
      {with(kStripe, R"({"credential_schema": {"fields": [{"name": "key", "label": ["K"]}]}})"),
       kInvalid, "credential_schema.fields[0].label"},
      {with(
           kStripe,
           R"({"credential_schema": {"fields": [{"name": "k", "label": "K", "sensitive": "yes"}]}})"),
       kInvalid, "credential_schema.fields[0].sensitive"},
      {with(kStripe,
            R"({"credential_schema": {"fields": [{"name": "k", "label": "K", "sensitive": 1}]}})"),
       kInvalid, "credential_schema.fields[0].sensitive"},
      {with(kStripe,
            R"({"credential_schema": {"fields": [{"name": "k", "label": "K", "secret": true}]}})"),
       kInvalid, "credential_schema.fields[0].secret"},
      // api_key: oauth2-only fields.
      {with(kStripe, R"({"scopes": ["read"]})"), kInvalid, "scopes"},
      {with(kStripe, R"({"enable_discovery": true})"), kInvalid, "enable_discovery"},
      // Lengths and emptiness.
      {with(kGithub, member("description", json_string(std::string(4097, 'd')))), kInvalid,
       "description"},
      {with(kGithub, R"({"category": ""})"), kInvalid, "category"},
      // A params value of null is not a scalar (at the top level null means absent).
      {R"({"name": "x", "auth_type": "api_key", "params": {"nothing": null},
           "credential_schema": {"fields": [{"name": "k", "label": "K"}]}})",
       kInvalid, "params.nothing"},
  };
  for (std::string_view field :
       {"client_id", "client_secret", "issuer", "auth_url", "token_url", "jwks_uri"}) {
    cases.push_back(
        {with(kStripe, member(field, R"("https://example.com/x")")), kInvalid, std::string(field)});
  }
  for (std::string_view managed : {"id", "workspace", "created_at", "updated_at", "version",
                                   "client_secret_set", "discovery"}) {
    cases.push_back({with(kGithub, member(managed, R"("x")")), kInvalid, std::string(managed)});
    cases.push_back(
        {plus(kGithub, json_string(managed) + ": null"), kInvalid, std::string(managed)});
  }
  for (std::string_view field : kOAuth2UrlFields) {
    for (const std::string& url : kBadUrls) {
      cases.push_back({with(kGithub, member(field, url)), kInvalid, std::string(field)});
    }
  }
  for (const std::string& url : kBadUrls) {
    cases.push_back({with(kGoogle, member("issuer", url)), kInvalid, "issuer"});
  }
  cases.push_back({with(kStripe, member("api_base_url", R"("http://api.stripe.com")")), kInvalid,
                   "api_base_url"});
  for (Case& c : scope_and_param_cases(kGithub)) cases.push_back(std::move(c));
  for (Case& c : wrong_type_cases(kGithub)) cases.push_back(std::move(c));
  return cases;
}

// Rules a merge patch of the stored github (oauth2) provider can break.
std::vector<Case> github_patch_cases() {
  std::vector<Case> cases = {
      {R"({"name":"gitlab","name":"github"})", ErrorCode::kInvalidJson, "name"},
      {"[\"not\", \"an\", \"object\"]", kInvalid, ""},
      {"null", kInvalid, ""},
      {"{\"params\": " + nested_arrays(40) + "}", ErrorCode::kInvalidJson, ""},
      {R"({"name": "gitlab"})", kInvalid, "name"},
      {R"({"name": null})", kInvalid, "name"},
      {R"({"name": 7})", kInvalid, "name"},
      {R"({"auth_type": "api_key"})", kInvalid, "auth_type"},
      {R"({"auth_type": null})", kInvalid, "auth_type"},
      {R"({"scope": ["repo"]})", kInvalid, "scope"},
      {R"({"scope": null})", kInvalid, "scope"},
      {R"({"client_id": null})", kInvalid, "client_id"},
      {R"({"client_id": ""})", kInvalid, "client_id"},
      {R"({"client_secret": null})", kInvalid, "client_secret"},
      {R"({"client_secret": ""})", kInvalid, "client_secret"},
      {R"({"credential_schema": {"fields": [{"name": "k", "label": "K"}]}})", kInvalid,
       "credential_schema"},
      {R"({"credential_schema": {"feilds": null}})", kInvalid, "credential_schema.feilds"},
      {R"({"enable_discovery": true})", kInvalid, "issuer"},
      {R"({"enable_discovery": true, "issuer": "https://accounts.example.com"})", kInvalid,
       "auth_url"},
      {R"({"auth_url": null, "token_url": null, "issuer": "https://accounts.example.com"})",
       kInvalid, "issuer"},
      {R"({"auth_url": null})", kInvalid, "auth_url"},
      {R"({"token_url": null})", kInvalid, "token_url"},
      {R"({"category": ""})", kInvalid, "category"},
  };
  for (std::string_view managed : {"id", "workspace", "created_at", "updated_at", "version",
                                   "client_secret_set", "discovery"}) {
    cases.push_back({member(managed, R"("x")"), kInvalid, std::string(managed)});
    cases.push_back({member(managed, "null"), kInvalid, std::string(managed)});
  }
  for (std::string_view field : kOAuth2UrlFields) {
    for (const std::string& url : kBadUrls) {
      cases.push_back({member(field, url), kInvalid, std::string(field)});
    }
  }
  // The scope, params and type rules, as patches: only what differs from github.
  for (Case& c : scope_and_param_cases("{}")) cases.push_back(std::move(c));
  for (Case& c : wrong_type_cases("{}")) cases.push_back(std::move(c));
  return cases;
}

// Rules a merge patch of the stored stripe (api_key) provider can break.
std::vector<Case> stripe_patch_cases() {
  std::vector<Case> cases = {
      {R"({"auth_type": "oauth2"})", kInvalid, "auth_type"},
      {R"({"credential_schema": null})", kInvalid, "credential_schema"},
      {R"({"credential_schema": {"fields": null}})", kInvalid, "credential_schema.fields"},
      {R"({"credential_schema": {"fields": []}})", kInvalid, "credential_schema.fields"},
      {R"({"credential_schema": {"fields": [{"name": "Key", "label": "K"}]}})", kInvalid,
       "credential_schema.fields[0].name"},
      {R"({"credential_schema": {"fields": [{"name": "k", "label": "K"},
                                             {"name": "k", "label": "K2"}]}})",
       kInvalid, "credential_schema.fields[1].name"},
      {R"({"credential_schema": {"fields": [{"name": "k", "label": ""}]}})", kInvalid,
       "credential_schema.fields[0].label"},
      {R"({"credential_schema": {"fields": [{"name": "k", "label": "K", "sensitive": "no"}]}})",
       kInvalid, "credential_schema.fields[0].sensitive"},
      {R"({"credential_schema": {"extra": []}})", kInvalid, "credential_schema.extra"},
      {R"({"scopes": ["read"]})", kInvalid, "scopes"},
      {R"({"enable_discovery": true})", kInvalid, "enable_discovery"},
      {R"({"api_base_url": "http://api.stripe.com"})", kInvalid, "api_base_url"},
  };
  for (std::string_view field :
       {"client_id", "client_secret", "issuer", "auth_url", "token_url", "jwks_uri"}) {
    cases.push_back({member(field, R"("https://example.com/x")"), kInvalid, std::string(field)});
  }
  return cases;
}

void check_refused(const Result<Provider>& r, const Case& c) {
  REQUIRE_FALSE(r.ok());
  INFO("message: " << r.status().message());
  CHECK(to_string(r.status().code()) == to_string(c.code));
  CHECK(r.status().field() == c.field);
}

struct Harness {
  testing::StorageUnderTest sut;
  testing::FakeClock clock;
  ProviderRegistry registry{RegistryOptions{.storage = sut.storage.get(), .clock = &clock}};
  RequestContext ctx{.workspace = "default", .actor = "key_admin"};

  explicit Harness(const testing::StorageBackend& backend) : sut(backend.make()) {}

  // What the server does with a body: parse_json, then the registry.
  Result<Provider> create(std::string_view text) {
    Result<boost::json::value> body = parse_json(text);
    if (!body.ok()) return body.status();
    return registry.create(ctx, body.value());
  }
  Result<Provider> patch(std::string_view name, std::string_view text) {
    Result<boost::json::value> body = parse_json(text);
    if (!body.ok()) return body.status();
    return registry.patch(ctx, name, body.value());
  }
  std::int64_t count() { return sut->count_providers(ctx.workspace).value(); }
  std::int64_t audit_seq() { return sut->audit_head(ctx.workspace).value().seq; }
};

TEST_CASE("every create validation rule refuses the body and stores nothing", "[registry]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  Harness h(backend);
  const std::vector<Case> cases = create_cases();
  CHECK(cases.size() > 150);
  for (const Case& c : cases) {
    INFO("body: " << c.body);
    check_refused(h.create(c.body), c);
    CHECK(h.count() == 0);
    CHECK(h.audit_seq() == 0);
  }
  // The bodies the cases start from are valid: each case breaks one rule.
  for (std::string_view valid : {kGithub, kStripe}) {
    INFO(valid);
    CHECK(h.create(valid).ok());
  }
  CHECK(h.count() == 2);
}

TEST_CASE("a duplicate name is refused and stores nothing", "[registry]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  Harness h(backend);
  REQUIRE(h.create(kGithub).ok());
  const Provider first = h.registry.get(h.ctx, "github").value();
  // Same name, another auth type and another spelling of the body.
  for (const std::string& body :
       {std::string(kGithub), with(kStripe, R"({"name": "github"})"),
        with(kGithub, R"({"client_id": "another", "category": "other"})")}) {
    INFO(body);
    check_refused(h.create(body), Case{"", ErrorCode::kProviderExists, "name"});
    CHECK(h.count() == 1);
    CHECK(h.audit_seq() == 1);
  }
  CHECK(h.registry.get(h.ctx, "github").value() == first);
}

TEST_CASE("every patch validation rule refuses the patch and stores nothing", "[registry]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  Harness h(backend);
  REQUIRE(h.create(kGithub).ok());
  REQUIRE(h.create(kStripe).ok());
  const Provider github = h.registry.get(h.ctx, "github").value();
  const Provider stripe = h.registry.get(h.ctx, "stripe").value();
  const std::pair<std::string_view, std::vector<Case>> groups[] = {
      {"github", github_patch_cases()}, {"stripe", stripe_patch_cases()}};
  for (const auto& [name, cases] : groups) {
    for (const Case& c : cases) {
      INFO(name << " patch: " << c.body);
      check_refused(h.patch(name, c.body), c);
      CHECK(h.audit_seq() == 2);
    }
  }
  CHECK(h.registry.get(h.ctx, "github").value() == github);
  CHECK(h.registry.get(h.ctx, "stripe").value() == stripe);
  CHECK(h.registry.client_secret(h.ctx, "github")->view() == "gh-client-secret-7Qx2");
  CHECK(h.count() == 2);
  // The same name and auth_type are not changes: accepted, and nothing stored.
  auto same = h.patch("stripe", R"({"name": "stripe", "auth_type": "api_key"})");
  REQUIRE(same.ok());
  CHECK(same.value() == stripe);
  CHECK(h.audit_seq() == 2);
}

}  // namespace
}  // namespace nexus

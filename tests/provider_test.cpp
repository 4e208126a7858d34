// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/provider.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "nexus/json.hpp"

namespace nexus {
namespace {

using Catch::Matchers::Contains;

constexpr std::string_view kGithub = R"({
  "name": "github", "auth_type": "oauth2", "client_id": "abc", "client_secret": "s3cr3t",
  "auth_url": "https://github.com/login/oauth/authorize",
  "token_url": "https://github.com/login/oauth/access_token",
  "api_base_url": "https://api.github.com", "user_info_endpoint": "https://api.github.com/user",
  "scopes": ["repo", "read:user", "repo"], "category": "developer"})";

constexpr std::string_view kStripe = R"({
  "name": "stripe", "auth_type": "api_key", "api_base_url": "https://api.stripe.com",
  "credential_schema": {"fields": [{"name": "secret_key", "label": "Secret Key",
                                    "sensitive": true}]}})";

constexpr std::string_view kGoogle = R"({
  "name": "google", "auth_type": "oauth2", "client_id": "cid", "client_secret": "csecret",
  "issuer": "https://accounts.google.com", "enable_discovery": true,
  "scopes": ["openid", "email"]})";

// `base` with the RFC 7396 merge patch `patch` applied: each case shows only
// what differs from a valid provider ("x": null removes x).
std::string with(std::string_view base, std::string_view patch) {
  boost::json::value doc = boost::json::parse(base);
  REQUIRE(apply_merge_patch(doc, boost::json::parse(patch)).ok());
  return boost::json::serialize(doc);
}

Status check(std::string_view text, ValidationOptions options = {}) {
  Result<ProviderSpec> spec = parse_provider_spec(boost::json::parse(text));
  if (!spec) return spec.status();
  return validate_provider_spec(*spec, options);
}

ProviderSpec parse_valid(std::string_view text) {
  Result<ProviderSpec> spec = parse_provider_spec(boost::json::parse(text));
  REQUIRE(spec.ok());
  const Status status = validate_provider_spec(*spec, {});
  INFO(status.field() << ": " << status.message());
  REQUIRE(status.ok());
  return *spec;
}

void expect_rejected(std::string_view text, std::string_view field, std::string_view phrase,
                     ValidationOptions options = {}) {
  INFO(text);
  const Status status = check(text, options);
  INFO(status.field() << ": " << status.message());
  CHECK(status.code() == ErrorCode::kValidationFailed);
  CHECK(status.field() == field);
  CHECK_THAT(status.message(), Contains(std::string(phrase)));
}

TEST_CASE("auth types have one spelling each", "[provider]") {
  CHECK(to_string(AuthType::kOAuth2) == "oauth2");
  CHECK(to_string(AuthType::kApiKey) == "api_key");
  CHECK(parse_auth_type("oauth2") == AuthType::kOAuth2);
  CHECK(parse_auth_type("api_key") == AuthType::kApiKey);
  CHECK_FALSE(parse_auth_type("OAuth2").has_value());
  CHECK_FALSE(parse_auth_type("").has_value());
}

TEST_CASE("the seed github provider validates and loses its duplicate scope", "[provider]") {
  const ProviderSpec spec = parse_valid(kGithub);
  CHECK(spec.name == "github");
  CHECK(spec.auth_type == AuthType::kOAuth2);
  CHECK(spec.client_secret == "s3cr3t");
  CHECK(spec.user_info_endpoint == "https://api.github.com/user");
  CHECK(spec.category == "developer");
  CHECK_FALSE(spec.enable_discovery);
  CHECK(spec.scopes == std::vector<std::string>{"repo", "read:user"});
}

TEST_CASE("an api_key provider with a credential schema validates", "[provider]") {
  const ProviderSpec spec = parse_valid(kStripe);
  CHECK(spec.auth_type == AuthType::kApiKey);
  CHECK(spec.api_base_url == "https://api.stripe.com");
  REQUIRE(spec.credential_schema.has_value());
  CHECK(spec.credential_schema->fields ==
        std::vector<CredentialField>{{"secret_key", "Secret Key", true}});
  CHECK_FALSE(spec.client_id.has_value());
}

TEST_CASE("a discovery provider needs only its issuer", "[provider]") {
  const ProviderSpec spec = parse_valid(kGoogle);
  CHECK(spec.enable_discovery);
  CHECK(spec.issuer == "https://accounts.google.com");
  CHECK_FALSE(spec.auth_url.has_value());
}

TEST_CASE("parse rejects a top level that is not an object", "[provider]") {
  for (std::string_view text : {"[]", R"("github")", "null", "42"}) {
    expect_rejected(text, "", "must be a JSON object");
  }
}

TEST_CASE("parse rejects unknown members by name", "[provider]") {
  expect_rejected(with(kGithub, R"({"scope": "repo"})"), "scope", R"(unknown field "scope")");
  // A misspelt member is reported even when its value is null.
  expect_rejected(R"({"name": "github", "auth_type": "oauth2", "clientid": null})", "clientid",
                  R"(unknown field "clientid")");
}

TEST_CASE("parse rejects server-managed members", "[provider]") {
  for (std::string_view field :
       {"id", "workspace", "created_at", "updated_at", "version", "client_secret_set"}) {
    const std::string patch = "{\"" + std::string(field) + "\": \"x\"}";
    expect_rejected(with(kGithub, patch), field, "managed by the server");
  }
}

TEST_CASE("parse rejects members of the wrong JSON type", "[provider]") {
  expect_rejected(with(kGithub, R"({"scopes": "repo"})"), "scopes", "must be an array of strings");
  expect_rejected(with(kGithub, R"({"scopes": ["repo", 7]})"), "scopes[1]",
                  "must be an array of strings");
  expect_rejected(with(kGithub, R"({"enable_discovery": "yes"})"), "enable_discovery",
                  "must be a boolean");
  expect_rejected(with(kGithub, R"({"name": 7})"), "name", "must be a string");
  expect_rejected(with(kGithub, R"({"auth_type": true})"), "auth_type", "must be a string");
  expect_rejected(with(kGithub, R"({"client_id": 12345})"), "client_id", "must be a string");
  expect_rejected(with(kGithub, R"({"description": ["a"]})"), "description", "must be a string");
  expect_rejected(with(kGithub, R"({"params": ["a"]})"), "params", "must be an object");
}

TEST_CASE("parse treats null members as absent", "[provider]") {
  const ProviderSpec spec = parse_valid(R"({
    "name": "stripe", "auth_type": "api_key", "client_id": null, "scopes": null, "params": null,
    "enable_discovery": null, "description": "Payments",
    "credential_schema": {"fields": [{"name": "key", "label": "Key", "sensitive": null}]}})");
  CHECK_FALSE(spec.client_id.has_value());
  CHECK(spec.scopes.empty());
  CHECK(spec.params.empty());
  CHECK_FALSE(spec.enable_discovery);
  CHECK(spec.description == "Payments");
  REQUIRE(spec.credential_schema.has_value());
  CHECK(spec.credential_schema->fields.at(0).sensitive);
}

TEST_CASE("parse requires name and auth_type", "[provider]") {
  expect_rejected(with(kGithub, R"({"name": null})"), "name", "name is required");
  expect_rejected(R"({"auth_type": "oauth2", "name": null})", "name", "name is required");
  expect_rejected(with(kGithub, R"({"auth_type": null})"), "auth_type", "auth_type is required");
}

TEST_CASE("parse lists the allowed auth types", "[provider]") {
  expect_rejected(with(kGithub, R"({"auth_type": "basic"})"), "auth_type",
                  R"("oauth2" or "api_key")");
}

TEST_CASE("parse checks the shape of credential_schema", "[provider]") {
  expect_rejected(with(kStripe, R"({"credential_schema": []})"), "credential_schema",
                  "must be an object");
  expect_rejected(with(kStripe, R"({"credential_schema": {"extra": 1}})"),
                  "credential_schema.extra", R"(unknown field "extra")");
  expect_rejected(with(kStripe, R"({"credential_schema": {"fields": null}})"),
                  "credential_schema.fields", "is required");
  expect_rejected(with(kStripe, R"({"credential_schema": {"fields": {}}})"),
                  "credential_schema.fields", "must be an array");
  expect_rejected(with(kStripe, R"({"credential_schema": {"fields": ["key"]}})"),
                  "credential_schema.fields[0]", "must be an object");
  expect_rejected(with(kStripe, R"({"credential_schema": {"fields": [{"name": "a", "label": "A"},
                         {"name": "b", "label": "B", "secret": true}]}})"),
                  "credential_schema.fields[1].secret", R"(unknown field "secret")");
  expect_rejected(with(kStripe, R"({"credential_schema": {"fields": [{"label": "A"}]}})"),
                  "credential_schema.fields[0].name", "is required");
  expect_rejected(with(kStripe, R"({"credential_schema": {"fields": [{"name": "a"}]}})"),
                  "credential_schema.fields[0].label", "is required");
  expect_rejected(
      with(kStripe, R"({"credential_schema": {"fields": [{"name": "a", "label": 1}]}})"),
      "credential_schema.fields[0].label", "must be a string");
  expect_rejected(with(kStripe, R"({"credential_schema": {"fields": [
                         {"name": "a", "label": "A", "sensitive": "no"}]}})"),
                  "credential_schema.fields[0].sensitive", "must be a boolean");
}

TEST_CASE("credential fields are sensitive unless they say otherwise", "[provider]") {
  const ProviderSpec spec = parse_valid(with(kStripe, R"({"credential_schema": {"fields": [
      {"name": "secret_key", "label": "Secret Key"},
      {"name": "account", "label": "Account", "sensitive": false}]}})"));
  REQUIRE(spec.credential_schema.has_value());
  CHECK(spec.credential_schema->fields ==
        std::vector<CredentialField>{{"secret_key", "Secret Key", true},
                                     {"account", "Account", false}});
}

TEST_CASE("params keep their JSON scalar types", "[provider]") {
  const ProviderSpec spec = parse_valid(
      with(kGithub,
           R"({"params": {"prompt": "consent", "max_age": 3600, "ratio": 1.5, "pkce": true}})"));
  CHECK(spec.params == Params{{"prompt", std::string("consent")},
                              {"max_age", std::int64_t{3600}},
                              {"ratio", 1.5},
                              {"pkce", true}});
}

TEST_CASE("params reject values that are not scalars", "[provider]") {
  expect_rejected(with(kGithub, R"({"params": {"list": [1]}})"), "params.list",
                  "must be a string, number or boolean");
  expect_rejected(with(kGithub, R"({"params": {"nested": {"a": 1}}})"), "params.nested",
                  "must be a string, number or boolean");
  expect_rejected(R"({"name": "a", "auth_type": "oauth2", "params": {"nothing": null}})",
                  "params.nothing", "must be a string, number or boolean");
  expect_rejected(with(kGithub, R"({"params": {"big": 18446744073709551615}})"), "params.big",
                  "64 signed bits");
}

TEST_CASE("name rules", "[provider]") {
  expect_rejected(with(kGithub, R"({"name": ""})"), "name", "must not be empty");
  expect_rejected(with(kGithub, "{\"name\": \"" + std::string(64, 'a') + "\"}"), "name",
                  "at most 63 characters");
  parse_valid(with(kGithub, "{\"name\": \"" + std::string(63, 'a') + "\"}"));
  parse_valid(with(kGithub, R"({"name": "0auth-provider-2"})"));
  for (std::string_view bad : {"GitHub", "-github", "git_hub", "git hub", "gitHub"}) {
    expect_rejected(with(kGithub, "{\"name\": \"" + std::string(bad) + "\"}"), "name",
                    "contain only a-z, 0-9 and -");
  }
  expect_rejected(with(kGithub, R"({"name": "metadata"})"), "name", "reserved");
}

TEST_CASE("oauth2 providers need a client id and secret", "[provider]") {
  expect_rejected(with(kGithub, R"({"client_id": null})"), "client_id",
                  "client_id is required for oauth2");
  expect_rejected(with(kGithub, R"({"client_id": ""})"), "client_id",
                  "client_id is required for oauth2");
  expect_rejected(with(kGithub, R"({"client_secret": null})"), "client_secret",
                  "client_secret is required for oauth2");
  expect_rejected(with(kGithub, R"({"client_secret": ""})"), "client_secret",
                  "client_secret is required for oauth2");
}

TEST_CASE("oauth2 providers take no credential schema", "[provider]") {
  expect_rejected(
      with(kGithub, R"({"credential_schema": {"fields": [{"name": "k", "label": "K"}]}})"),
      "credential_schema", "only to api_key providers");
}

TEST_CASE("discovery needs an issuer and supplies the endpoints", "[provider]") {
  expect_rejected(with(kGoogle, R"({"issuer": null})"), "issuer",
                  "issuer is required when enable_discovery is true");
  expect_rejected(with(kGoogle, R"({"auth_url": "https://accounts.google.com/auth"})"), "auth_url",
                  "discovery supplies it");
  expect_rejected(with(kGoogle, R"({"token_url": "https://oauth2.googleapis.com/token"})"),
                  "token_url", "discovery supplies it");
}

TEST_CASE("without discovery the endpoints are required", "[provider]") {
  const std::string no_discovery = with(kGoogle, R"({"enable_discovery": false})");
  expect_rejected(no_discovery, "issuer", "set enable_discovery to true");
  expect_rejected(with(kGithub, R"({"auth_url": null, "token_url": null})"), "auth_url",
                  "auth_url is required");
  expect_rejected(with(kGithub, R"({"token_url": null})"), "token_url", "token_url is required");
  expect_rejected(with(kGithub, R"({"auth_url": null})"), "auth_url", "auth_url is required");
  // An issuer next to one endpoint blames the missing endpoint, not the issuer.
  expect_rejected(with(no_discovery, R"({"auth_url": "https://accounts.google.com/auth"})"),
                  "token_url", "token_url is required");
}

TEST_CASE("api_key providers need a credential schema", "[provider]") {
  expect_rejected(with(kStripe, R"({"credential_schema": null})"), "credential_schema",
                  "credential_schema is required for api_key");
  expect_rejected(with(kStripe, R"({"credential_schema": {"fields": []}})"),
                  "credential_schema.fields", "at least one field");
}

TEST_CASE("api_key providers reject oauth2-only fields", "[provider]") {
  for (std::string_view field :
       {"client_id", "client_secret", "issuer", "auth_url", "token_url", "jwks_uri"}) {
    const std::string patch = "{\"" + std::string(field) + "\": \"https://example.com/x\"}";
    expect_rejected(with(kStripe, patch), field, "applies only to oauth2 providers");
  }
  expect_rejected(with(kStripe, R"({"scopes": ["read"]})"), "scopes",
                  "applies only to oauth2 providers");
  expect_rejected(with(kStripe, R"({"enable_discovery": true})"), "enable_discovery",
                  "applies only to oauth2 providers");
  // Their empty or false forms say nothing, so they are accepted.
  parse_valid(with(kStripe, R"({"scopes": [], "enable_discovery": false})"));
}

TEST_CASE("credential schema field rules", "[provider]") {
  const auto schema = [](std::string_view fields) {
    return with(kStripe, "{\"credential_schema\": {\"fields\": " + std::string(fields) + "}}");
  };
  for (std::string_view bad : {"SecretKey", "1key", "secret-key", "_key", ""}) {
    expect_rejected(schema(R"([{"name": ")" + std::string(bad) + R"(", "label": "L"}])"),
                    "credential_schema.fields[0].name", "must start with a lower-case letter");
  }
  expect_rejected(schema(R"([{"name": "key", "label": "Key"}, {"name": "user", "label": "User"},
                             {"name": "key", "label": "Key again"}])"),
                  "credential_schema.fields[2].name", "duplicates credential_schema.fields[0]");
  expect_rejected(schema(R"([{"name": "key", "label": ""}])"), "credential_schema.fields[0].label",
                  "must not be empty");

  boost::json::array fields;
  for (std::size_t i = 0; i < kMaxCredentialFields; ++i) {
    fields.push_back(boost::json::object{{"name", "f" + std::to_string(i)}, {"label", "F"}});
  }
  parse_valid(schema(boost::json::serialize(fields)));
  fields.push_back(boost::json::object{{"name", "one_more"}, {"label", "F"}});
  expect_rejected(schema(boost::json::serialize(fields)), "credential_schema.fields",
                  "at most 64 fields");
}

TEST_CASE("every URL field must be an absolute https URL", "[provider]") {
  for (std::string_view field :
       {"auth_url", "token_url", "api_base_url", "user_info_endpoint", "jwks_uri"}) {
    const std::string patch = "{\"" + std::string(field) + "\": \"http://github.com/x\"}";
    expect_rejected(with(kGithub, patch), field, "must use https");
  }
  expect_rejected(with(kGoogle, R"({"issuer": "http://accounts.google.com"})"), "issuer",
                  "must use https");
  expect_rejected(with(kGithub, R"({"auth_url": "/login/oauth/authorize"})"), "auth_url",
                  "must be an absolute URL");
  expect_rejected(with(kGithub, R"({"auth_url": "github.com/login"})"), "auth_url",
                  "must be an absolute URL");
  expect_rejected(with(kGithub, R"({"auth_url": ""})"), "auth_url", "must be an absolute URL");
  expect_rejected(with(kGithub, R"({"auth_url": "https://git hub.com/"})"), "auth_url",
                  "must be an absolute URL");
  expect_rejected(with(kGithub, R"({"auth_url": "ftp://github.com/login"})"), "auth_url",
                  "must use https");
  expect_rejected(with(kGithub, R"({"auth_url": "https:///login"})"), "auth_url",
                  "must have a host");
  expect_rejected(with(kGithub, R"({"auth_url": "https:login"})"), "auth_url", "must have a host");
  expect_rejected(with(kGithub, R"({"token_url": "https://user:pw@github.com/token"})"),
                  "token_url", "must not contain user info");
  expect_rejected(with(kGithub, R"({"api_base_url": "https://api.github.com/#v3"})"),
                  "api_base_url", "must not contain a fragment");
  parse_valid(with(kGithub, R"({"auth_url": "HTTPS://github.com:443/login?x=1"})"));
}

TEST_CASE("allow_insecure_urls permits http but nothing else", "[provider]") {
  const std::string insecure = with(kGithub, R"({"auth_url": "http://localhost:8080/auth"})");
  expect_rejected(insecure, "auth_url", "must use https");
  CHECK(check(insecure, {.allow_insecure_urls = true}).ok());
  expect_rejected(with(kGithub, R"({"auth_url": "ftp://localhost/auth"})"), "auth_url",
                  "must use https or http", {.allow_insecure_urls = true});
  expect_rejected(with(kGithub, R"({"auth_url": "http://u@localhost/auth"})"), "auth_url",
                  "must not contain user info", {.allow_insecure_urls = true});
}

TEST_CASE("scope rules", "[provider]") {
  expect_rejected(with(kGithub, R"({"scopes": ["repo", ""]})"), "scopes[1]", "is empty");
  // RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
  for (std::string_view bad :
       {"read user", "repo\t", "\nrepo", "re\x01po", "re\x7fpo", "\"repo\"", "re\\po",
        "caf\xC3\xA9", "read\xC2\xA0user", "read\xE3\x80\x80user", "read\xE2\x80\xA8"}) {
    boost::json::value patch = {{"scopes", {"repo", "user", bad}}};
    expect_rejected(with(kGithub, boost::json::serialize(patch)), "scopes[2]",
                    "must be an OAuth scope token (RFC 6749 section 3.3)");
  }
  // Every other printable ASCII character is allowed, '!' and '~' included.
  std::string every;
  for (char c = 0x21; c <= 0x7e; ++c) {
    if (c != '"' && c != '\\') every += c;
  }
  const boost::json::value patch = {{"scopes", {every, "https://www.googleapis.com/auth/drive"}}};
  CHECK(parse_valid(with(kGithub, boost::json::serialize(patch))).scopes ==
        std::vector<std::string>{every, "https://www.googleapis.com/auth/drive"});
}

TEST_CASE("scopes are limited after removing duplicates", "[provider]") {
  boost::json::array scopes;
  for (std::size_t i = 0; i < kMaxScopes; ++i) scopes.emplace_back("s" + std::to_string(i));
  scopes.emplace_back("s0");
  boost::json::value patch = {{"scopes", scopes}};
  CHECK(parse_valid(with(kGithub, boost::json::serialize(patch))).scopes.size() == kMaxScopes);
  patch.as_object()["scopes"].as_array().emplace_back("one-more");
  expect_rejected(with(kGithub, boost::json::serialize(patch)), "scopes", "at most 256");
}

TEST_CASE("params rules", "[provider]") {
  boost::json::object params;
  for (std::size_t i = 0; i < kMaxParams; ++i)
    params["p" + std::to_string(i)] = static_cast<std::int64_t>(i);
  boost::json::value patch = {{"params", params}};
  CHECK(parse_valid(with(kGithub, boost::json::serialize(patch))).params.size() == kMaxParams);
  patch.as_object()["params"].as_object()["one_more"] = 1;
  expect_rejected(with(kGithub, boost::json::serialize(patch)), "params", "at most 32 keys");
  expect_rejected(with(kGithub, R"({"params": {"": "x"}})"), "params", "must not be empty");
  ProviderSpec spec = parse_valid(kGithub);
  spec.params["ratio"] = std::numeric_limits<double>::quiet_NaN();
  const Status status = validate_provider_spec(spec, {});
  CHECK(status.code() == ErrorCode::kValidationFailed);
  CHECK(status.field() == "params.ratio");
  CHECK_THAT(status.message(), Contains("finite"));
}

TEST_CASE("strings are limited in length", "[provider]") {
  const std::string longest(kMaxStringLength, 'd');
  parse_valid(with(kGithub, "{\"description\": \"" + longest + "\"}"));
  expect_rejected(with(kGithub, "{\"description\": \"" + longest + "d\"}"), "description",
                  "at most 4096 characters");
  expect_rejected(with(kGithub, "{\"client_id\": \"" + longest + "d\"}"), "client_id",
                  "at most 4096 characters");
  expect_rejected(with(kGithub, "{\"scopes\": [\"" + longest + "d\"]}"), "scopes[0]",
                  "at most 4096 characters");
  expect_rejected(with(kGithub, "{\"params\": {\"k\": \"" + longest + "d\"}}"), "params.k",
                  "at most 4096 characters");
}

TEST_CASE("category must not be empty, description may be", "[provider]") {
  expect_rejected(with(kGithub, R"({"category": ""})"), "category", "must not be empty");
  expect_rejected(with(kGithub, R"({"category": 3})"), "category", "must be a string");
  CHECK(parse_valid(with(kGithub, R"({"description": ""})")).description == "");
}

TEST_CASE("the first violation in rule order is reported", "[provider]") {
  // Bad name, missing client_id, bad URL and bad scope: the name comes first.
  const std::string all_wrong =
      with(kGithub, R"({"name": "Bad", "client_id": null, "jwks_uri": "x", "scopes": [""]})");
  expect_rejected(all_wrong, "name", "name must");
  expect_rejected(with(all_wrong, R"({"name": "ok"})"), "client_id", "is required");
  expect_rejected(with(all_wrong, R"({"name": "ok", "client_id": "c"})"), "jwks_uri",
                  "absolute URL");
}

TEST_CASE("error messages never contain the client secret", "[provider]") {
  const std::string secret = "S3cret-Value-d41d8cd98f";
  const std::string patch = "{\"client_secret\": \"" + secret + "\"}";
  const std::string long_secret = secret + std::string(kMaxStringLength, 'x');
  const std::string cases[] = {
      with(kGithub, patch),  // valid: the control
      with(with(kGithub, patch), R"({"name": "metadata"})"),
      with(with(kGithub, patch), R"({"token_url": "http://github.com/token"})"),
      with(with(kGithub, patch), R"({"scope": ["repo"]})"),
      with(with(kGithub, patch), R"({"client_secret_set": true})"),
      with(kGithub, "{\"client_secret\": \"" + long_secret + "\"}"),
      with(kStripe, patch),
  };
  std::size_t failures = 0;
  for (const std::string& text : cases) {
    const Status status = check(text);
    INFO(text << " -> " << status.message());
    CHECK_THAT(status.message(), !Contains(secret));
    failures += status.ok() ? 0 : 1;
  }
  CHECK(failures == std::size(cases) - 1);
  CHECK(check(with(kStripe, patch)).field() == "client_secret");
  CHECK(check(with(kGithub, "{\"client_secret\": \"" + long_secret + "\"}")).field() ==
        "client_secret");
}

TEST_CASE("spec_to_json round-trips through parse_provider_spec", "[provider]") {
  ProviderSpec github = parse_valid(kGithub);
  github.params = {{"prompt", std::string("consent")},
                   {"max_age", std::int64_t{-3600}},
                   {"ratio", 2.0},
                   {"pkce", false}};
  github.description = "";
  ProviderSpec stripe = parse_valid(with(kStripe, R"({"credential_schema": {"fields": [
      {"name": "secret_key", "label": "Secret Key"},
      {"name": "account", "label": "Account", "sensitive": false}]}})"));
  for (const ProviderSpec& spec : {github, stripe, parse_valid(kGoogle), ProviderSpec{}}) {
    const boost::json::object json = spec_to_json(spec);
    Result<ProviderSpec> direct = parse_provider_spec(json);
    REQUIRE(direct.ok());
    CHECK(*direct == spec);
    // Through text too, so a double such as 2.0 stays a double.
    Result<ProviderSpec> reparsed =
        parse_provider_spec(boost::json::parse(boost::json::serialize(json)));
    REQUIRE(reparsed.ok());
    CHECK(*reparsed == spec);
  }
}

TEST_CASE("spec_to_json is complete and omits only absent optionals", "[provider]") {
  const boost::json::object github = spec_to_json(parse_valid(kGithub));
  CHECK(github.at("client_secret") == "s3cr3t");
  CHECK(github.at("enable_discovery") == false);
  CHECK(github.at("scopes") == boost::json::array{"repo", "read:user"});
  CHECK(github.at("params") == boost::json::object{});
  CHECK_FALSE(github.contains("issuer"));
  CHECK_FALSE(github.contains("credential_schema"));
  CHECK_FALSE(github.contains("client_secret_set"));
  const boost::json::object stripe = spec_to_json(parse_valid(kStripe));
  CHECK(stripe.at("credential_schema") == boost::json::parse(R"({"fields": [
      {"name": "secret_key", "label": "Secret Key", "sensitive": true}]})"));
  CHECK_FALSE(stripe.contains("client_id"));
}

TEST_CASE("provider_view never contains the client secret", "[provider]") {
  Provider provider;
  provider.id = "prv_01";
  provider.workspace = "acme";
  provider.created_at = Timestamp(std::chrono::milliseconds(1'790'000'000'123));
  provider.updated_at = provider.created_at + std::chrono::milliseconds(1000);
  provider.version = 3;
  provider.spec = parse_valid(kGithub);
  const boost::json::object view = provider_view(provider);
  CHECK(boost::json::serialize(view).find("s3cr3t") == std::string::npos);
  CHECK_FALSE(view.contains("client_secret"));
  CHECK(view.at("client_secret_set") == true);
  CHECK_FALSE(view.contains("workspace"));
  CHECK(view.at("id") == "prv_01");
  CHECK(view.at("name") == "github");
  CHECK(view.at("auth_type") == "oauth2");
  CHECK(view.at("client_id") == "abc");
  CHECK(view.at("scopes") == boost::json::array{"repo", "read:user"});
  CHECK(view.at("category") == "developer");
  CHECK(view.at("created_at").as_string() == format_rfc3339(provider.created_at));
  CHECK(view.at("updated_at").as_string() == format_rfc3339(provider.updated_at));
  CHECK(view.at("version") == 3);

  provider.spec = parse_valid(kStripe);
  const boost::json::object stripe = provider_view(provider);
  CHECK(stripe.at("client_secret_set") == false);
  CHECK(stripe.at("auth_type") == "api_key");
  CHECK(stripe.contains("credential_schema"));
}

TEST_CASE("check_provider_patch names unknown and server-managed members even when null",
          "[provider]") {
  struct Case {
    std::string_view patch, field, phrase;
  };
  const Case cases[] = {
      {R"({"scope": null})", "scope", R"(unknown field "scope")"},
      {R"({"description": "x", "clientid": "abc"})", "clientid", R"(unknown field "clientid")"},
      {R"({"id": null})", "id", "managed by the server"},
      {R"({"client_secret_set": null})", "client_secret_set", "managed by the server"},
      {R"({"version": 3})", "version", "managed by the server"},
      {R"({"discovery": null})", "discovery", "managed by the server"},
      {R"({"credential_schema": {"feilds": null}})", "credential_schema.feilds",
       R"(unknown field "feilds")"},
      {"[]", "", "must be a JSON object"},
      {"null", "", "must be a JSON object"},
  };
  for (const Case& c : cases) {
    INFO(c.patch);
    const Status status = check_provider_patch(boost::json::parse(c.patch));
    INFO(status.message());
    CHECK(status.code() == ErrorCode::kValidationFailed);
    CHECK(status.field() == c.field);
    CHECK_THAT(status.message(), Contains(std::string(c.phrase)));
  }
  for (std::string_view ok : {"{}", R"({"name": "github", "scopes": null, "params": {"x": null}})",
                              R"({"credential_schema": {"fields": [{"name": "k", "label": "K"}]}})",
                              R"({"credential_schema": null})",
                              R"({"credential_schema": "wrong type, checked later"})"}) {
    INFO(ok);
    CHECK(check_provider_patch(boost::json::parse(ok)).ok());
  }
}

TEST_CASE("merge patches nest at most kMaxJsonDepth levels", "[provider]") {
  // Built in code, so no parser limited it.
  const auto nested = [](std::size_t depth) {
    boost::json::value v = "leaf";
    for (std::size_t i = 0; i < depth; ++i) v = boost::json::object{{"params", std::move(v)}};
    return v;
  };
  boost::json::value target = boost::json::parse(kGithub);
  const boost::json::value before = target;
  const boost::json::value too_deep = nested(kMaxJsonDepth + 1);
  Status status = apply_merge_patch(target, too_deep);
  CHECK(status.code() == ErrorCode::kInvalidJson);
  CHECK_THAT(status.message(), Contains("deeper than 32 levels"));
  CHECK(target == before);
  status = check_provider_patch(too_deep);
  CHECK(status.code() == ErrorCode::kInvalidJson);
  CHECK(apply_merge_patch(target, nested(kMaxJsonDepth)).ok());
}

TEST_CASE("apply_merge_patch follows the RFC 7396 examples", "[provider]") {
  struct Example {
    std::string_view original, patch, result;
  };
  // RFC 7396 Appendix A.
  const Example examples[] = {
      {R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
      {R"({"a":"b"})", R"({"a":null})", R"({})"},
      {R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
      {R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
      {R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})"},
      {R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
      {R"(["a","b"])", R"(["c","d"])", R"(["c","d"])"},
      {R"({"a":"b"})", R"(["c"])", R"(["c"])"},
      {R"({"a":"foo"})", "null", "null"},
      {R"({"a":"foo"})", R"("bar")", R"("bar")"},
      {R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
      {R"([1,2])", R"({"a":"b","c":null})", R"({"a":"b"})"},
      {R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
  };
  for (const Example& example : examples) {
    INFO(example.original << " + " << example.patch);
    boost::json::value target = boost::json::parse(example.original);
    REQUIRE(apply_merge_patch(target, boost::json::parse(example.patch)).ok());
    CHECK(target == boost::json::parse(example.result));
  }
}

TEST_CASE("apply_merge_patch handles the RFC 7396 section 3 document", "[provider]") {
  boost::json::value target = boost::json::parse(R"({
    "title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"},
    "tags": ["example", "sample"], "content": "This will be unchanged"})");
  REQUIRE(apply_merge_patch(target, boost::json::parse(R"({
    "title": "Hello!", "phoneNumber": "+01-123-456-7890", "author": {"familyName": null},
    "tags": ["example"]})"))
              .ok());
  CHECK(target == boost::json::parse(R"({
    "title": "Hello!", "author": {"givenName": "John"}, "tags": ["example"],
    "content": "This will be unchanged", "phoneNumber": "+01-123-456-7890"})"));
}

}  // namespace
}  // namespace nexus

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// The router without sockets: every route, every error code, workspaces and
// roles, and that no failed request changes what is stored.
#include "router.hpp"

#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <random>
#include <set>

#include "route_support.hpp"
#include "server_fixture.hpp"
#include "text.hpp"

namespace nexus::testing {
namespace {

constexpr const char* kGithub = kGithubJson;  // client_secret kGithubSecret
constexpr const char* kStripe = kStripeJson;

std::string provider_json(const std::string& name, const std::string& category = "developer") {
  return R"({"name":")" + name + R"(","auth_type":"oauth2","client_id":"id-)" + name +
         R"(","client_secret":"secret-)" + name +
         R"(","auth_url":"https://auth.example.com/a","token_url":"https://auth.example.com/t",
            "category":")" +
         category + R"("})";
}

std::vector<std::string> names_in(const Reply& r) {
  std::vector<std::string> names;
  for (const auto& v : r.json.as_array()) names.emplace_back(v.at("name").as_string());
  return names;
}

// The target inside a `Link: <target>; rel="next"` header.
std::string link_target(const Reply& r) {
  std::string link = r.header("Link");
  auto open = link.find('<');
  auto close = link.find('>');
  REQUIRE(open != std::string::npos);
  REQUIRE(close != std::string::npos);
  CHECK(link.find("rel=\"next\"") != std::string::npos);
  return link.substr(open + 1, close - open - 1);
}

TEST_CASE("one table maps every error code to its HTTP status", "[server][errors]") {
  using server::http_status;
  CHECK(http_status(ErrorCode::kInvalidJson) == 400);
  CHECK(http_status(ErrorCode::kValidationFailed) == 400);
  CHECK(http_status(ErrorCode::kUnauthorized) == 401);
  CHECK(http_status(ErrorCode::kForbidden) == 403);
  CHECK(http_status(ErrorCode::kNotFound) == 404);
  CHECK(http_status(ErrorCode::kProviderNotFound) == 404);
  CHECK(http_status(ErrorCode::kMethodNotAllowed) == 405);
  CHECK(http_status(ErrorCode::kProviderExists) == 409);
  CHECK(http_status(ErrorCode::kVersionConflict) == 412);
  CHECK(http_status(ErrorCode::kPayloadTooLarge) == 413);
  CHECK(http_status(ErrorCode::kUnsupportedMediaType) == 415);
  CHECK(http_status(ErrorCode::kInternal) == 500);
  CHECK(http_status(ErrorCode::kUnavailable) == 503);

  auto r = server::error_response(Status(ErrorCode::kProviderExists, "taken", "name"));
  CHECK(r.status == 409);
  CHECK(r.body == R"({"code":"provider_exists","message":"taken","field":"name"})");
  auto no_field = server::error_response(Status(ErrorCode::kNotFound, "gone"));
  CHECK(no_field.body == R"({"code":"not_found","message":"gone"})");
}

TEST_CASE("health and readiness need no key", "[server][ops]") {
  RouterFixture f;
  auto health = f.send("GET", "/healthz");
  CHECK(health.status == 200);
  CHECK(health.json.at("status") == "ok");

  auto ready = f.send("GET", "/readyz");
  CHECK(ready.status == 200);
}

TEST_CASE("metrics need a key and count providers of the caller's workspace only",
          "[server][ops][auth]") {
  RouterFixture f;
  f.as(f.admin, "POST", "/v1/providers", kGithub);
  f.as(f.other_admin, "POST", "/v1/providers", kStripe);
  f.as(f.other_admin, "POST", "/v1/providers", provider_json("gitlab"));
  f.send("GET", "/healthz");

  // Without a key, or with a wrong one: the same 401 as every other route.
  auto reference = f.send("GET", "/v1/providers");
  REQUIRE(reference.status == 401);
  for (const Reply& r :
       {f.send("GET", "/metrics"), f.send("GET", "/metrics", "", {{"X-API-Key", "nxk_wrong"}})}) {
    CHECK(r.status == 401);
    CHECK(r.body == reference.body);
    CHECK(r.body.find("other") == std::string::npos);
    CHECK(r.body.find("nexus_") == std::string::npos);
  }

  // Every role may read them; counters are process-wide, the provider gauge
  // shows the caller's workspace only.
  for (const std::string* key : {&f.admin, &f.agent, &f.auditor}) {
    auto metrics = f.as(*key, "GET", "/metrics");
    REQUIRE(metrics.status == 200);
    CHECK(metrics.header("Content-Type").rfind("text/plain", 0) == 0);
    CHECK_THAT(
        metrics.body,
        Catch::Contains(
            R"(nexus_http_requests_total{method="POST",route="/v1/providers",status="201"} 3)"));
    CHECK_THAT(metrics.body,
               Catch::Contains(
                   R"(nexus_http_requests_total{method="GET",route="/healthz",status="200"} 1)"));
    CHECK_THAT(
        metrics.body,
        Catch::Contains(
            R"(nexus_http_request_duration_seconds_bucket{method="POST",route="/v1/providers",le="+Inf"} 3)"));
    CHECK_THAT(metrics.body, Catch::Contains(R"(nexus_providers{workspace="default"} 1)"));
    CHECK(metrics.body.find("workspace=\"other\"") == std::string::npos);
  }
  auto theirs = f.as(f.other_auditor, "GET", "/metrics");
  REQUIRE(theirs.status == 200);
  CHECK_THAT(theirs.body, Catch::Contains(R"(nexus_providers{workspace="other"} 2)"));
  CHECK(theirs.body.find("workspace=\"default\"") == std::string::npos);
  CHECK(f.as(f.admin, "GET", "/metrics?x=1").status == 400);
}

TEST_CASE("readiness fails with 503 when the database does not answer", "[server][ops][errors]") {
  RouterFixture f;
  f.fail_storage(Status(ErrorCode::kUnavailable, "database is locked"));
  auto ready = f.send("GET", "/readyz");
  CHECK(ready.status == 503);
  CHECK(ready.code() == "unavailable");
  f.heal_storage();
  CHECK(f.send("GET", "/readyz").status == 200);
}

TEST_CASE("the seed flow: create, list, metadata, patch, delete", "[server][providers]") {
  RouterFixture f;
  auto created = f.as(f.admin, "POST", "/v1/providers", kGithub);
  REQUIRE(created.status == 201);
  CHECK(created.header("Location") == "/v1/providers/github");
  CHECK(created.header("ETag") == "\"v1\"");
  CHECK(created.json.at("name") == "github");
  CHECK(created.json.at("version") == 1);
  CHECK(created.json.at("client_secret_set") == true);
  CHECK_FALSE(created.json.as_object().contains("client_secret"));

  auto stripe = f.as(f.admin, "POST", "/v1/providers", kStripe);
  REQUIRE(stripe.status == 201);
  CHECK(stripe.json.at("credential_schema").at("fields").at(0).at("name") == "secret_key");

  auto list = f.as(f.admin, "GET", "/v1/providers");
  CHECK(list.status == 200);
  CHECK(names_in(list) == std::vector<std::string>{"github", "stripe"});
  CHECK(list.header("Link").empty());

  auto meta = f.as(f.admin, "GET", "/v1/providers/metadata");
  CHECK(meta.status == 200);
  CHECK(meta.json.at("oauth2").at("github").at("scopes").as_array().size() == 2);
  CHECK(meta.json.at("api_key").at("stripe").at("credential_fields").at(0).at("label") ==
        "Secret Key");

  auto got = f.as(f.admin, "GET", "/v1/providers/github");
  CHECK(got.status == 200);
  CHECK(got.header("ETag") == "\"v1\"");

  auto patched =
      f.as(f.admin, "PATCH", "/v1/providers/github", R"({"client_secret":"rotated-secret-9Zk"})");
  REQUIRE(patched.status == 200);
  CHECK(patched.json.at("version") == 2);
  CHECK(patched.header("ETag") == "\"v2\"");
  CHECK(patched.json.at("client_id") == "Iv1.abc123");  // untouched field kept
  auto secret = f.registry->client_secret({.workspace = "default"}, "github");
  REQUIRE(secret.ok());
  CHECK(secret->view() == "rotated-secret-9Zk");

  auto removed = f.as(f.admin, "DELETE", "/v1/providers/github");
  CHECK(removed.status == 204);
  CHECK(removed.body.empty());
  CHECK(f.as(f.admin, "GET", "/v1/providers/github").status == 404);

  // Neither secret ever left the router, nor reached the audit log.
  CHECK(f.all_bodies.find(kGithubSecret) == std::string::npos);
  CHECK(f.all_bodies.find("rotated-secret-9Zk") == std::string::npos);
  auto audit = f.as(f.admin, "GET", "/v1/audit?limit=1000");
  REQUIRE(audit.status == 200);
  CHECK(audit.json.as_array().size() >= 4);
  CHECK(audit.body.find(kGithubSecret) == std::string::npos);
  CHECK(audit.body.find("rotated-secret-9Zk") == std::string::npos);
}

TEST_CASE("a merge-patch media type is accepted for PATCH", "[server][providers]") {
  RouterFixture f;
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", kGithub).status == 201);
  auto r = f.as(f.admin, "PATCH", "/v1/providers/github", R"({"description":null})",
                {{"Content-Type", "application/merge-patch+json"}});
  CHECK(r.status == 200);
  CHECK_FALSE(r.json.as_object().contains("description"));
}

TEST_CASE("lists page with limit and an opaque cursor announced in Link", "[server][providers]") {
  RouterFixture f;
  for (const char* n : {"e-five", "a-one", "d-four", "b-two", "c-three"}) {
    REQUIRE(f.as(f.admin, "POST", "/v1/providers", provider_json(n, n[0] < 'c' ? "early" : "late"))
                .status == 201);
  }
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", kStripe).status == 201);

  std::vector<std::string> seen;
  std::string target = "/v1/providers?limit=2&auth_type=oauth2";
  int pages = 0;
  while (!target.empty()) {
    auto page = f.as(f.admin, "GET", target);
    REQUIRE(page.status == 200);
    auto names = names_in(page);
    CHECK(names.size() <= 2);
    seen.insert(seen.end(), names.begin(), names.end());
    target = page.header("Link").empty() ? "" : link_target(page);
    if (!target.empty()) CHECK_THAT(target, Catch::Contains("auth_type=oauth2"));
    REQUIRE(++pages < 10);
  }
  CHECK(seen == std::vector<std::string>{"a-one", "b-two", "c-three", "d-four", "e-five"});

  auto early = f.as(f.admin, "GET", "/v1/providers?category=early");
  CHECK(names_in(early) == std::vector<std::string>{"a-one", "b-two"});
  auto api_keys = f.as(f.admin, "GET", "/v1/providers?auth_type=api_key");
  CHECK(names_in(api_keys) == std::vector<std::string>{"stripe"});
}

TEST_CASE("bad list and audit parameters are validation_failed naming the parameter",
          "[server][errors]") {
  RouterFixture f;
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", kGithub).status == 201);
  struct Case {
    const char* target;
    const char* field;
  };
  for (auto [target, field] : {
           Case{"/v1/providers?limit=0", "limit"},
           Case{"/v1/providers?limit=abc", "limit"},
           Case{"/v1/providers?limit=-1", "limit"},
           Case{"/v1/providers?limit=100000", "limit"},
           Case{"/v1/providers?limit=1&limit=2", "limit"},
           Case{"/v1/providers?auth_type=basic", "auth_type"},
           Case{"/v1/providers?cursor=not-a-cursor", "cursor"},
           Case{"/v1/providers?colour=red", "colour"},
           Case{"/v1/providers?category=", "category"},
           Case{"/v1/providers?category=%zz", "category"},
           Case{"/v1/providers/github?x=1", "x"},
           Case{"/v1/audit?since=yesterday", "since"},
           Case{"/v1/audit?until=2026-13-01T00:00:00Z", "until"},
           Case{"/v1/audit?limit=5000", "limit"},
           Case{"/v1/audit?cursor=zzz", "cursor"},
       }) {
    INFO(target);
    std::string before = f.snapshot();
    auto r = f.as(f.admin, "GET", target);
    CHECK(r.status == 400);
    CHECK(r.code() == "validation_failed");
    CHECK(r.json.at("field") == field);
    CHECK(f.snapshot() == before);
  }
}

TEST_CASE("every client error leaves the stored providers unchanged", "[server][errors]") {
  RouterFixture f;
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", kGithub).status == 201);
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", kStripe).status == 201);
  std::string deep(40, '[');
  deep += std::string(40, ']');
  std::string just_deep_enough = std::string(31, '[') + std::string(31, ']');

  struct Case {
    std::string name;
    std::string method, target, body;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string key;  // empty: the admin key
    int status;
    std::string code;
  };
  std::vector<Case> cases = {
      {"not JSON", "POST", "/v1/providers", "{name: github}", {}, "", 400, "invalid_json"},
      {"trailing garbage",
       "POST",
       "/v1/providers",
       R"({"name":"x"} x)",
       {},
       "",
       400,
       "invalid_json"},
      {"empty body",
       "POST",
       "/v1/providers",
       "",
       {{"Content-Type", "application/json"}},
       "",
       400,
       "invalid_json"},
      {"too deep", "POST", "/v1/providers", deep, {}, "", 400, "invalid_json"},
      {"deep but allowed, not an object",
       "POST",
       "/v1/providers",
       just_deep_enough,
       {},
       "",
       400,
       "validation_failed"},
      {"invalid UTF-8",
       "POST",
       "/v1/providers",
       "{\"name\":\"\xff\"}",
       {},
       "",
       400,
       "invalid_json"},
      {"unknown member",
       "POST",
       "/v1/providers",
       R"({"name":"x","auth_type":"oauth2","scope":"repo"})",
       {},
       "",
       400,
       "validation_failed"},
      {"missing client_secret",
       "POST",
       "/v1/providers",
       R"({"name":"x","auth_type":"oauth2","client_id":"a","auth_url":"https://a.example/a","token_url":"https://a.example/t"})",
       {},
       "",
       400,
       "validation_failed"},
      {"duplicate name", "POST", "/v1/providers", kGithub, {}, "", 409, "provider_exists"},
      {"text/plain",
       "POST",
       "/v1/providers",
       kGithub,
       {{"Content-Type", "text/plain"}},
       "",
       415,
       "unsupported_media_type"},
      {"no content type", "POST", "/v1/providers", "", {}, "", 415, "unsupported_media_type"},
      {"gzip",
       "POST",
       "/v1/providers",
       kGithub,
       {{"Content-Encoding", "gzip"}},
       "",
       415,
       "unsupported_media_type"},
      {"patch text/plain",
       "PATCH",
       "/v1/providers/github",
       R"({"description":"x"})",
       {{"Content-Type", "text/plain"}},
       "",
       415,
       "unsupported_media_type"},
      {"patch not JSON", "PATCH", "/v1/providers/github", "{", {}, "", 400, "invalid_json"},
      {"patch name",
       "PATCH",
       "/v1/providers/github",
       R"({"name":"gh"})",
       {},
       "",
       400,
       "validation_failed"},
      {"patch to invalid",
       "PATCH",
       "/v1/providers/github",
       R"({"token_url":"http://x"})",
       {},
       "",
       400,
       "validation_failed"},
      {"patch not an object",
       "PATCH",
       "/v1/providers/github",
       "[1]",
       {},
       "",
       400,
       "validation_failed"},
      {"patch missing",
       "PATCH",
       "/v1/providers/nope",
       R"({"description":"x"})",
       {},
       "",
       404,
       "provider_not_found"},
      {"patch stale If-Match",
       "PATCH",
       "/v1/providers/github",
       R"({"description":"x"})",
       {{"If-Match", "\"v7\""}},
       "",
       412,
       "version_conflict"},
      {"patch weak If-Match",
       "PATCH",
       "/v1/providers/github",
       R"({"description":"x"})",
       {{"If-Match", "W/\"v1\""}},
       "",
       412,
       "version_conflict"},
      {"patch junk If-Match",
       "PATCH",
       "/v1/providers/github",
       R"({"description":"x"})",
       {{"If-Match", "v1"}},
       "",
       412,
       "version_conflict"},
      {"delete stale If-Match",
       "DELETE",
       "/v1/providers/github",
       "",
       {{"If-Match", "\"v2\""}},
       "",
       412,
       "version_conflict"},
      {"delete missing", "DELETE", "/v1/providers/nope", "", {}, "", 404, "provider_not_found"},
      {"get missing", "GET", "/v1/providers/nope", "", {}, "", 404, "provider_not_found"},
      {"unknown route", "GET", "/v1/nothing", "", {}, "", 404, "not_found"},
      {"unknown public route", "GET", "/nothing", "", {}, "", 404, "not_found"},
      {"trailing slash", "GET", "/v1/providers/", "", {}, "", 404, "not_found"},
      {"PUT provider", "PUT", "/v1/providers/github", kGithub, {}, "", 405, "method_not_allowed"},
      {"DELETE collection", "DELETE", "/v1/providers", "", {}, "", 405, "method_not_allowed"},
      {"POST healthz", "POST", "/healthz", "", {}, "", 405, "method_not_allowed"},
      {"no key", "DELETE", "/v1/providers/github", "", {}, "-", 401, "unauthorized"},
      {"wrong key", "DELETE", "/v1/providers/github", "", {}, "nxk_wrong", 401, "unauthorized"},
      {"agent writes", "DELETE", "/v1/providers/github", "", {}, "agent", 403, "forbidden"},
      {"auditor writes",
       "PATCH",
       "/v1/providers/github",
       R"({"description":"x"})",
       {},
       "auditor",
       403,
       "forbidden"},
      {"other workspace deletes",
       "DELETE",
       "/v1/providers/github",
       "",
       {},
       "other_admin",
       404,
       "provider_not_found"},
      {"other workspace patches",
       "PATCH",
       "/v1/providers/github",
       R"({"description":"x"})",
       {},
       "other_admin",
       404,
       "provider_not_found"},
  };
  for (auto& c : cases) {
    INFO(c.name);
    std::string before = f.snapshot();
    std::string key = c.key.empty()            ? f.admin
                      : c.key == "agent"       ? f.agent
                      : c.key == "auditor"     ? f.auditor
                      : c.key == "other_admin" ? f.other_admin
                                               : c.key;
    Reply r;
    if (c.key == "-") {
      r = f.send(c.method, c.target, c.body, c.headers);
    } else {
      r = f.as(key, c.method, c.target, c.body, c.headers);
    }
    CHECK(r.status == c.status);
    CHECK(r.code() == c.code);
    CHECK(r.json.at("message").as_string().size() > 0);
    CHECK(f.snapshot() == before);
  }
  // The library names the field to blame.
  auto bad =
      f.as(f.admin, "POST", "/v1/providers", R"({"name":"x","auth_type":"oauth2","scope":"repo"})");
  CHECK(bad.json.at("field") == "scope");
}

TEST_CASE("405 lists the allowed methods in Allow", "[server][errors]") {
  RouterFixture f;
  auto r = f.as(f.admin, "PUT", "/v1/providers/github", kGithub);
  CHECK(r.status == 405);
  CHECK(r.header("Allow") == "GET, HEAD, PATCH, DELETE");
  auto c = f.as(f.admin, "DELETE", "/v1/providers");
  CHECK(c.header("Allow") == "POST, GET, HEAD");
  auto h = f.send("POST", "/healthz");
  CHECK(h.header("Allow") == "GET, HEAD");
  auto d = f.as(f.admin, "HEAD", "/v1/providers/github/discover");
  CHECK(d.status == 405);
  CHECK(d.header("Allow") == "POST");
  // Credentials are never read for a body that is not sent: no HEAD there.
  auto t = f.as(f.agent, "HEAD", "/v1/token/con_whatever");
  CHECK(t.status == 405);
  CHECK(t.header("Allow") == "GET");
}

TEST_CASE("HEAD is answered as GET wherever GET is served", "[server][http]") {
  RouterFixture f;
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", kGithub).status == 201);
  for (const char* target :
       {"/v1/providers", "/v1/providers/github", "/v1/providers/metadata", "/v1/audit/verify"}) {
    INFO(target);
    auto get = f.as(f.admin, "GET", target);
    auto head = f.as(f.admin, "HEAD", target);
    CHECK(head.status == get.status);
    CHECK(head.header("Content-Type") == get.header("Content-Type"));
    CHECK(head.header("ETag") == get.header("ETag"));
    // The router renders the GET body; the socket layer sends only its
    // length (tests/e2e/http.sh checks the wire).
    CHECK(head.body.size() == get.body.size());
  }
  CHECK(f.as(f.admin, "HEAD", "/metrics").status == 200);
  CHECK(f.send("HEAD", "/healthz").status == 200);
  CHECK(f.send("HEAD", "/v1/providers").status == 401);
  CHECK(f.as(f.agent, "HEAD", "/v1/audit").status == 403);
  CHECK(f.as(f.admin, "HEAD", "/v1/providers/nope").status == 404);
}

TEST_CASE("route flags: writes block, reads do not, secrets are marked", "[server][routes]") {
  using server::Router;
  for (const auto& r : Router::routes()) {
    INFO(r.method << " " << r.path);
    // Every route that writes storage (every non-GET) runs on the blocking
    // pool; reads stay on the I/O threads. The token route, which audits
    // each read, is async instead: it queues its audit event for the
    // storage's writer thread and answers when that completes.
    const bool token = r.path == "/v1/token/{id}";
    CHECK(r.blocking == (r.method != "GET"));
    CHECK(r.async == token);
    CHECK_FALSE((r.async && r.blocking));
    bool carries_secret =
        (r.method == "POST" && (r.path == "/v1/providers" || r.path == "/v1/connections")) ||
        (r.method == "PATCH" && r.path == "/v1/providers/{name}");
    CHECK(r.secret_request == carries_secret);
    CHECK(r.secret_response == (r.path == "/v1/token/{id}"));
    // Only health and readiness are public.
    CHECK(r.permission.has_value() == (r.path != "/healthz" && r.path != "/readyz"));
  }
  CHECK(route_is_blocking("DELETE", "/v1/providers/x"));
  CHECK(route_is_blocking("DELETE", "/v1/connections/c?x=1"));
  CHECK_FALSE(route_is_blocking("GET", "/v1/token/abc"));
  CHECK(route_is_async("GET", "/v1/token/abc?x=1"));
  // HEAD does not read credentials: no route serves it there.
  CHECK(Router::route_for("HEAD", "/v1/token/abc") == nullptr);
  CHECK_FALSE(route_is_async("GET", "/v1/connections/abc"));
  CHECK_FALSE(route_is_async("GET", "/nope"));
  CHECK_FALSE(route_is_blocking("GET", "/v1/connections/abc"));
  CHECK_FALSE(route_is_blocking("HEAD", "/v1/providers"));
  CHECK(Router::route_for("HEAD", "/v1/providers/x")->path == "/v1/providers/{name}");
  CHECK(Router::route_for("PUT", "/v1/providers/x") == nullptr);
}

TEST_CASE("request text echoed into JSON is made valid UTF-8", "[server][errors]") {
  // Found by tests/fuzz: a query parameter name that is not UTF-8 made the
  // 400 body invalid JSON (RouterFixture::send parses every JSON body).
  RouterFixture f;
  auto r = f.as(f.admin, "GET", "/v1/providers?%F1%80x=1");
  REQUIRE(r.status == 400);
  CHECK(r.json.at("field").as_string() == "\xEF\xBF\xBD\xEF\xBF\xBDx");
  auto missing = f.as(f.admin, "GET", "/v1/providers/%C0%AFgit");
  CHECK(missing.status == 404);
  CHECK(nexus::valid_utf8("ok \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") ==
        "ok \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  CHECK(nexus::valid_utf8("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(nexus::valid_utf8("\xF4\x90\x80\x80").size() == 12);
  // A path parameter that is not UTF-8 names nothing: 404, and nothing of
  // it reaches the audit log (a failed token read is audited with its id).
  CHECK(f.as(f.agent, "GET", "/v1/token/%FFcon").status == 404);
  CHECK(f.as(f.admin, "DELETE", "/v1/connections/%C3").status == 404);
  CHECK(f.as(f.auditor, "GET", "/v1/audit?limit=5").status == 200);  // parses as JSON
  // A user agent that is not UTF-8 is audited as valid text.
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", kStripe, {{"User-Agent", "bot\xFF/1"}}).status ==
          201);
  auto events = f.as(f.auditor, "GET", "/v1/audit?limit=1");
  REQUIRE(events.status == 200);
  CHECK(events.json.at(0).at("user_agent") == "bot\xEF\xBF\xBD/1");
}

TEST_CASE("wipe_strings overwrites every string of a JSON value in place", "[server][secrets]") {
  auto v = boost::json::parse(
      R"({"name":"x","client_secret":"s3cr3t","nested":{"list":["a1",{"k":"deep"}]},"n":1})");
  std::vector<std::pair<const char*, std::size_t>> spans;
  spans.emplace_back(v.at("client_secret").as_string().data(), 6);
  spans.emplace_back(v.at("nested").at("list").at(1).at("k").as_string().data(), 4);
  server::wipe_strings(v);
  for (auto [data, size] : spans) {
    for (std::size_t i = 0; i < size; ++i) CHECK(data[i] == '\0');
  }
  CHECK(v.at("n") == 1);
  CHECK(v.as_object().contains("client_secret"));  // keys are no secrets
}

TEST_CASE("a bad auth_type filter gets the provider parser's message", "[server][errors]") {
  RouterFixture f;
  auto r = f.as(f.admin, "GET", "/v1/providers?auth_type=basic");
  REQUIRE(r.status == 400);
  auto parsed = parse_provider_spec(boost::json::parse(R"({"name":"x","auth_type":"basic"})"));
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.status().field() == "auth_type");
  CHECK(r.json.at("message").as_string() == parsed.status().message());
  CHECK(r.json.at("field") == "auth_type");
}

TEST_CASE("If-Match guards PATCH and DELETE by version", "[server][providers]") {
  RouterFixture f;
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", kGithub).status == 201);
  auto ok = f.as(f.admin, "PATCH", "/v1/providers/github", R"({"description":"one"})",
                 {{"If-Match", "\"v1\""}});
  CHECK(ok.status == 200);
  CHECK(ok.header("ETag") == "\"v2\"");
  auto stale = f.as(f.admin, "PATCH", "/v1/providers/github", R"({"description":"two"})",
                    {{"If-Match", "\"v1\""}});
  CHECK(stale.status == 412);
  CHECK(stale.code() == "version_conflict");
  auto none_current = f.as(f.admin, "PATCH", "/v1/providers/github", R"({"description":"x"})",
                           {{"If-Match", "\"v9\", \"v1\""}});
  CHECK(none_current.status == 412);
  auto listed = f.as(f.admin, "PATCH", "/v1/providers/github", R"({"description":"three"})",
                     {{"If-Match", "\"v9\", \"v2\""}});
  CHECK(listed.status == 200);
  // A missing provider is 404 whatever If-Match says.
  CHECK(
      f.as(f.admin, "DELETE", "/v1/providers/nope", "", {{"If-Match", "W/\"v1\", junk"}}).status ==
      404);
  auto any = f.as(f.admin, "PATCH", "/v1/providers/github", R"({"description":"four"})",
                  {{"If-Match", "*"}});
  CHECK(any.status == 200);
  CHECK(any.header("ETag") == "\"v4\"");
  CHECK(f.as(f.admin, "DELETE", "/v1/providers/github", "", {{"If-Match", "\"v3\""}}).status ==
        412);
  CHECK(f.as(f.admin, "DELETE", "/v1/providers/github", "", {{"If-Match", "\"v4\""}}).status ==
        204);
}

TEST_CASE("401 says nothing about whether a workspace or key exists", "[server][auth]") {
  RouterFixture f;
  auto missing = f.send("GET", "/v1/providers");
  auto wrong = f.send("GET", "/v1/providers", "", {{"X-API-Key", "your-api-key"}});
  // A key of the right shape whose id exists but whose secret is wrong.
  std::string forged = f.admin.substr(0, f.admin.size() - 4) + "AAAA";
  auto forged_r = f.send("GET", "/v1/providers", "", {{"X-API-Key", forged}});
  for (const Reply* r : {&missing, &wrong, &forged_r}) {
    CHECK(r->status == 401);
    CHECK(r->code() == "unauthorized");
    CHECK_FALSE(r->json.as_object().contains("field"));
  }
  CHECK(missing.body == wrong.body);
  CHECK(wrong.body == forged_r.body);

  // A revoked key stops working at once.
  std::string key = f.issue("default", Role::kAdmin);
  auto caller = f.keys->authenticate(key);
  REQUIRE(caller.ok());
  CHECK(f.as(key, "GET", "/v1/providers").status == 200);
  REQUIRE(f.keys->revoke({.workspace = "default"}, caller->key_id).ok());
  auto revoked = f.as(key, "GET", "/v1/providers");
  CHECK(revoked.status == 401);
  CHECK(revoked.body == missing.body);

  // Unknown /v1 routes are 401 too: the API's shape is not shown without a key.
  CHECK(f.send("GET", "/v1/secret-route").status == 401);
}

TEST_CASE("a workspace sees only its own providers", "[server][auth][workspaces]") {
  RouterFixture f;
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", kGithub).status == 201);

  // Another workspace's provider is a 404 (never a 403), for every role.
  for (const std::string* key : {&f.other_admin, &f.other_agent}) {
    auto r = f.as(*key, "GET", "/v1/providers/github");
    CHECK(r.status == 404);
    CHECK(r.code() == "provider_not_found");
  }
  CHECK(f.as(f.other_admin, "GET", "/v1/providers").json.as_array().empty());
  auto meta = f.as(f.other_agent, "GET", "/v1/providers/metadata");
  CHECK(meta.json.at("oauth2").as_object().empty());

  // The same name is free in the other workspace, and stays separate.
  auto other = f.as(
      f.other_admin, "POST", "/v1/providers",
      R"({"name":"github","auth_type":"api_key","credential_schema":{"fields":[{"name":"token","label":"Token"}]}})");
  REQUIRE(other.status == 201);
  CHECK(f.as(f.admin, "GET", "/v1/providers/github").json.at("auth_type") == "oauth2");
  CHECK(f.as(f.other_admin, "GET", "/v1/providers/github").json.at("auth_type") == "api_key");
  REQUIRE(f.as(f.other_admin, "DELETE", "/v1/providers/github").status == 204);
  CHECK(f.as(f.admin, "GET", "/v1/providers/github").status == 200);

  // Audit logs are per workspace as well.
  auto mine = f.as(f.auditor, "GET", "/v1/audit?event_type=provider.deleted");
  CHECK(mine.json.as_array().empty());
  auto theirs = f.as(f.other_auditor, "GET", "/v1/audit?event_type=provider.deleted");
  CHECK(theirs.json.as_array().size() == 1);
}

TEST_CASE("roles: admin does everything, agent reads providers, auditor reads audit",
          "[server][auth][roles]") {
  RouterFixture f;
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", kGithub).status == 201);
  struct Case {
    const char* method;
    const char* target;
    const char* body;
    int admin, agent, auditor;
  };
  // Reads first; the write cases each leave github in place for the next.
  for (auto c : {
           Case{"GET", "/v1/providers", "", 200, 200, 403},
           Case{"GET", "/v1/providers/github", "", 200, 200, 403},
           Case{"GET", "/v1/providers/metadata", "", 200, 200, 403},
           Case{"GET", "/v1/audit", "", 200, 403, 200},
           Case{"GET", "/v1/audit/verify", "", 200, 403, 200},
           Case{"POST", "/v1/providers", kStripe, 0, 403, 403},
           Case{"PATCH", "/v1/providers/github", R"({"description":"d"})", 0, 403, 403},
           Case{"DELETE", "/v1/providers/github", "", 0, 403, 403},
       }) {
    INFO(c.method << " " << c.target);
    CHECK(f.as(f.agent, c.method, c.target, c.body).status == c.agent);
    CHECK(f.as(f.auditor, c.method, c.target, c.body).status == c.auditor);
    if (c.admin != 0) CHECK(f.as(f.admin, c.method, c.target, c.body).status == c.admin);
    auto forbidden = f.as(c.agent == 403 ? f.agent : f.auditor, c.method, c.target, c.body);
    CHECK(forbidden.code() == "forbidden");
  }
  CHECK(f.as(f.admin, "POST", "/v1/providers", kStripe).status == 201);
  CHECK(f.as(f.admin, "PATCH", "/v1/providers/github", R"({"description":"d"})").status == 200);
  CHECK(f.as(f.admin, "DELETE", "/v1/providers/github").status == 204);
}

TEST_CASE("audit events carry the caller's key id, IP and user agent", "[server][audit]") {
  RouterFixture f;
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", kGithub, {{"User-Agent", "curl/8.0"}}).status ==
          201);
  REQUIRE(f.as(f.admin, "DELETE", "/v1/providers/github").status == 204);
  // The newest two; the keys' creation events come before them.
  auto events = f.as(f.auditor, "GET", "/v1/audit?limit=2");
  REQUIRE(events.status == 200);
  REQUIRE(events.json.as_array().size() == 2);
  const auto& deleted = events.json.at(0);  // newest first
  CHECK(deleted.at("event_type") == "provider.deleted");
  CHECK(deleted.at("caller_ip") == "192.0.2.10");
  std::string admin_id = f.keys->authenticate(f.admin)->key_id;
  CHECK(deleted.at("actor").as_string() == admin_id);
  CHECK(events.json.at(1).at("user_agent") == "curl/8.0");
  CHECK(events.body.find(f.admin) == std::string::npos);

  auto filtered = f.as(f.auditor, "GET", "/v1/audit?event_type=provider.created&provider=github");
  CHECK(filtered.json.as_array().size() == 1);
  auto paged = f.as(f.auditor, "GET", "/v1/audit?limit=1");
  CHECK(paged.json.as_array().size() == 1);
  auto next = f.as(f.auditor, "GET", link_target(paged));
  CHECK(next.json.as_array().size() == 1);
  CHECK(next.json.at(0).at("event_type") == "provider.created");
  auto window =
      f.as(f.auditor, "GET", "/v1/audit?since=2000-01-01T00:00:00Z&until=2001-01-01T00:00:00Z");
  CHECK(window.json.as_array().empty());

  auto verify = f.as(f.auditor, "GET", "/v1/audit/verify");
  CHECK(verify.status == 200);
  CHECK(verify.json.at("ok") == true);
  CHECK(verify.json.at("events_checked").as_int64() >= 2);
}

TEST_CASE("X-Forwarded-For is believed only from trusted proxies", "[server][audit]") {
  RouterFixture f;
  auto caller_of_last_event = [&] {
    auto events = f.as(f.auditor, "GET", "/v1/audit?limit=1");
    return std::string(events.json.at(0).at("caller_ip").as_string());
  };
  auto create = [&](const std::string& name, const std::string& peer) {
    auto r = f.send("POST", "/v1/providers", provider_json(name),
                    {{"X-API-Key", f.admin},
                     {"Content-Type", "application/json"},
                     {"X-Forwarded-For", "198.51.100.1, 203.0.113.5"}},
                    peer);
    REQUIRE(r.status == 201);
  };
  create("untrusted", "10.0.0.2");
  CHECK(caller_of_last_event() == "10.0.0.2");

  f.make_router({*server::parse_cidr("10.0.0.0/8")});
  create("trusted", "10.0.0.2");
  CHECK(caller_of_last_event() == "203.0.113.5");

  f.make_router({*server::parse_cidr("10.0.0.0/8"), *server::parse_cidr("203.0.113.0/24")});
  create("chain", "10.0.0.2");
  CHECK(caller_of_last_event() == "198.51.100.1");
}

TEST_CASE("request ids are echoed when sane and generated otherwise", "[server][logging]") {
  RouterFixture f;
  auto echoed = f.send("GET", "/healthz", "", {{"X-Request-Id", "abc-123"}});
  CHECK(echoed.header("X-Request-Id") == "abc-123");
  auto generated = f.send("GET", "/healthz");
  CHECK(generated.header("X-Request-Id").rfind("req_", 0) == 0);
  auto replaced = f.send("GET", "/healthz", "", {{"X-Request-Id", "bad id\n\"x"}});
  CHECK(replaced.header("X-Request-Id").rfind("req_", 0) == 0);
}

TEST_CASE("one JSON access log line per request, without keys or secrets", "[server][logging]") {
  RouterFixture f;
  f.log_lines.clear();
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", kGithub, {{"X-Request-Id", "r-1"}}).status == 201);
  f.as(f.admin, "GET", "/v1/providers/github", "", {{"X-Request-Id", "r-2"}});
  f.send("GET", "/v1/providers", "", {{"X-API-Key", "your-api-key"}});
  REQUIRE(f.log_lines.size() == 3);
  auto first = boost::json::parse(f.log_lines[0]);
  CHECK(first.at("method") == "POST");
  CHECK(first.at("route") == "/v1/providers");
  CHECK(first.at("status") == 201);
  CHECK(first.at("request_id") == "r-1");
  CHECK(first.at("duration_us").is_int64());
  CHECK(first.at("key_id").as_string().starts_with("key_"));
  auto second = boost::json::parse(f.log_lines[1]);
  CHECK(second.at("route") == "/v1/providers/{name}");
  std::string logs = f.all_logs();
  CHECK(logs.find(f.admin) == std::string::npos);
  CHECK(logs.find("your-api-key") == std::string::npos);
  CHECK(logs.find(kGithubSecret) == std::string::npos);
}

TEST_CASE("storage failures are 500 without internals, or 503 when unavailable",
          "[server][errors]") {
  RouterFixture f;
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", kGithub).status == 201);
  std::string admin = f.admin;
  f.log_lines.clear();
  f.fail_storage(Status(ErrorCode::kInternal, "sqlite: disk I/O error at page 7"));
  auto r = f.as(admin, "GET", "/v1/providers/github");
  CHECK(r.status == 500);
  CHECK(r.code() == "internal");
  CHECK(r.body.find("sqlite") == std::string::npos);
  CHECK(r.body.find("page 7") == std::string::npos);
  // The detail is in the log, for the operator.
  CHECK(f.all_logs().find("disk I/O error") != std::string::npos);

  f.fail_storage(Status(ErrorCode::kUnavailable, "database is locked"));
  auto busy = f.as(admin, "GET", "/v1/providers/github");
  CHECK(busy.status == 503);
  CHECK(busy.code() == "unavailable");
  f.heal_storage();
  CHECK(f.as(admin, "GET", "/v1/providers/github").status == 200);
}

TEST_CASE("reject() answers errors found before routing, and logs them", "[server][errors]") {
  RouterFixture f;
  f.log_lines.clear();
  server::HttpRequest partial;
  partial.method = "POST";
  partial.target = "/v1/providers";
  partial.peer_ip = "192.0.2.77";
  auto r = f.router->reject(Status(ErrorCode::kPayloadTooLarge, "the request body exceeds 64 KiB"),
                            partial);
  CHECK(r.status == 413);
  CHECK(r.body.find("payload_too_large") != std::string::npos);
  CHECK(r.find_header("X-Request-Id") != nullptr);
  f.router->finish(partial, r, std::chrono::nanoseconds(0));
  REQUIRE(f.log_lines.size() == 1);
  auto line = boost::json::parse(f.log_lines[0]);
  CHECK(line.at("method") == "POST");
  CHECK(line.at("route") == "unmatched");
  CHECK(line.at("status") == 413);
  CHECK(line.at("caller_ip") == "192.0.2.77");
  CHECK(line.at("request_id").as_string() == *r.find_header("X-Request-Id"));
}

TEST_CASE("an unanswered malformed request gets one log line", "[server][logging]") {
  RouterFixture f;
  f.log_lines.clear();
  server::HttpRequest partial;
  partial.method = "G\x01T";
  partial.peer_ip = "192.0.2.78";
  f.router->closed(partial, 400, "bad method");
  REQUIRE(f.log_lines.size() == 1);
  auto line = boost::json::parse(f.log_lines[0]);
  CHECK(line.at("method") == "?");  // not a token: not logged as sent
  CHECK(line.at("route") == "unmatched");
  CHECK(line.at("status") == 400);
  CHECK(line.at("closed") == true);
  CHECK(line.at("error") == "bad method");
  CHECK(line.at("caller_ip") == "192.0.2.78");
  CHECK_THAT(
      f.router->metrics().render(),
      Catch::Contains(R"(nexus_http_requests_total{method="",route="unmatched",status="400"} 1)"));
}

TEST_CASE("random requests never crash the router nor change stored data", "[server][fuzz]") {
  RouterFixture f;
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", kGithub).status == 201);
  std::string before = f.snapshot();
  std::mt19937 rng(1234);
  const std::vector<std::string> methods = {"GET", "POST", "PATCH", "DELETE",
                                            "PUT", "",     "get",   "GET\r\n"};
  const std::vector<std::string> targets = {"/",
                                            "",
                                            "/v1",
                                            "/v1/",
                                            "/v1/providers",
                                            "/v1/providers/github",
                                            "/v1/providers/%",
                                            "/v1/providers/%00",
                                            "/v1/providers/github/x",
                                            "/v1/audit?since=",
                                            "/v1/providers?&&=&",
                                            "/v1/providers?limit=99999999999999999999",
                                            "*",
                                            "http://x/v1/providers",
                                            "/healthz?x",
                                            "/v1/providers/../providers",
                                            "/v1/providers/github?cursor=%FF%FE"};
  const std::vector<std::string> bodies = {"",
                                           "{",
                                           "[]",
                                           "null",
                                           "\"x\"",
                                           R"({"name":null})",
                                           R"({"client_secret":"a"})",
                                           R"({"name":"github"})",
                                           std::string(1000, '{'),
                                           "\x00\x01\x02",
                                           R"({"description":1e999})"};
  for (int i = 0; i < 3000; ++i) {
    std::string body = bodies[rng() % bodies.size()];
    for (int flips = rng() % 3; flips > 0 && !body.empty(); --flips) {
      body[rng() % body.size()] = static_cast<char>(rng() % 256);
    }
    // Admin key, but every write is aimed at something that cannot succeed
    // (wrong method or invalid body), so stored data must not change; the
    // few valid reads are harmless.
    std::vector<std::pair<std::string, std::string>> headers = {
        {"X-API-Key", rng() % 4 == 0 ? std::string("nope") : f.admin},
        {"Content-Type", rng() % 3 == 0 ? "text/plain" : "application/json"},
        {"If-Match", rng() % 2 == 0 ? "\"v0\"" : "garbage"}};
    Reply r =
        f.send(methods[rng() % methods.size()], targets[rng() % targets.size()], body, headers);
    CHECK(r.status >= 200);
    CHECK(r.status < 600);
    if (r.status >= 400) CHECK_FALSE(r.code().empty());
  }
  CHECK(f.snapshot() == before);
}

}  // namespace
}  // namespace nexus::testing

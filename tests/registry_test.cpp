// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/registry.hpp"

#include <catch2/catch.hpp>

#include <boost/json/serialize.hpp>

#include <thread>
#include <vector>

#include "nexus/audit.hpp"
#include "nexus/storage.hpp"
#include "test_support.hpp"

namespace nexus {
namespace {

using testing::json;

struct Fixture {
  testing::FakeClock clock;
  std::unique_ptr<Storage> storage = make_memory_storage();
  ProviderRegistry registry{RegistryOptions{.storage = storage.get(), .clock = &clock}};
  AuditLog audit{*storage};
  RequestContext ctx{.workspace = "default",
                     .actor = "key_admin",
                     .caller_ip = "203.0.113.7",
                     .user_agent = "registry-test/1"};

  Provider create(const char* body) {
    auto r = registry.create(ctx, json(body));
    INFO(r.status().message());
    REQUIRE(r.ok());
    return r.value();
  }
  std::int64_t count() { return storage->count_providers(ctx.workspace).value(); }
  std::int64_t audit_seq() { return storage->audit_head(ctx.workspace)->seq; }
  std::string all_audit_text() {
    auto page = audit.query(ctx.workspace, AuditQuery{.limit = kMaxAuditLimit});
    REQUIRE(page.ok());
    std::string text;
    for (const auto& e : page->events) text += boost::json::serialize(audit_event_view(e));
    return text;
  }
};

TEST_CASE("create stores a validated provider at version 1 and audits it", "[registry]") {
  Fixture f;
  Provider p = f.create(testing::kGithubJson);
  CHECK(p.id.rfind("prv_", 0) == 0);
  CHECK(p.workspace == "default");
  CHECK(p.version == 1);
  CHECK(p.created_at == f.clock.now());
  CHECK(p.updated_at == p.created_at);
  // Stored sealed: the provider carries an envelope, never the secret.
  CHECK_FALSE(p.spec.client_secret.has_value());
  CHECK_FALSE(p.sealed_client_secret.empty());
  CHECK(p.sealed_client_secret.find(testing::kGithubSecret) == std::string::npos);
  auto secret = f.registry.client_secret(f.ctx, "github");
  REQUIRE(secret.ok());
  CHECK(secret->view() == testing::kGithubSecret);
  CHECK(provider_view(p).at("client_secret_set") == true);

  auto stored = f.registry.get(f.ctx, "github");
  REQUIRE(stored.ok());
  CHECK(stored.value() == p);

  auto page = f.audit.query("default", {});
  REQUIRE(page.ok());
  REQUIRE(page->events.size() == 1);
  const AuditEvent& e = page->events[0];
  CHECK(e.event_type == audit_events::kProviderCreated);
  CHECK(e.provider_name == "github");
  CHECK(e.provider_id == p.id);
  CHECK(e.actor == "key_admin");
  CHECK(e.caller_ip == "203.0.113.7");
  CHECK(e.user_agent == "registry-test/1");
  CHECK(e.at == f.clock.now());
  CHECK(e.data.find(kRedacted) != std::string::npos);
  CHECK(f.all_audit_text().find(testing::kGithubSecret) == std::string::npos);
}

TEST_CASE("create refuses invalid input and stores nothing", "[registry]") {
  Fixture f;
  auto r = f.registry.create(f.ctx, json(R"({"name":"github","auth_type":"oauth2",
      "client_id":"a","client_secret":"b","auth_url":"https://x.example/a"})"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kValidationFailed);
  CHECK(r.status().field() == "token_url");

  auto typo = f.registry.create(f.ctx, json(R"({"name":"stripe","auth_type":"api_key",
      "scope":["x"]})"));
  REQUIRE_FALSE(typo.ok());
  CHECK(typo.status().field() == "scope");

  CHECK(f.count() == 0);
  CHECK(f.audit_seq() == 0);
}

TEST_CASE("a duplicate name is provider_exists and leaves the first untouched", "[registry]") {
  Fixture f;
  Provider first = f.create(testing::kGithubJson);
  auto again = f.registry.create(f.ctx, json(testing::kGithubJson));
  REQUIRE_FALSE(again.ok());
  CHECK(again.status().code() == ErrorCode::kProviderExists);
  CHECK(again.status().field() == "name");
  CHECK(f.registry.get(f.ctx, "github").value() == first);
  CHECK(f.audit_seq() == 1);

  // Another workspace may use the same name, and sees only its own.
  RequestContext other{.workspace = "acme"};
  CHECK(f.registry.create(other, json(testing::kGithubJson)).ok());
  CHECK(f.registry.get(other, "github")->id != first.id);
}

TEST_CASE("get and remove of an unknown provider are provider_not_found", "[registry]") {
  Fixture f;
  f.create(testing::kGithubJson);
  RequestContext other{.workspace = "acme"};
  for (const RequestContext& ctx : {f.ctx, other}) {
    std::string name = ctx.workspace == "acme" ? "github" : "gitlab";
    auto g = f.registry.get(ctx, name);
    REQUIRE_FALSE(g.ok());
    CHECK(g.status().code() == ErrorCode::kProviderNotFound);
    CHECK(f.registry.remove(ctx, name).code() == ErrorCode::kProviderNotFound);
  }
  CHECK(f.count() == 1);
}

TEST_CASE("list pages by name with an opaque cursor and filters", "[registry]") {
  Fixture f;
  for (const char* n : {"delta", "alpha", "echo", "charlie", "bravo"}) {
    std::string body = std::string(R"({"name":")") + n +
                       R"(","auth_type":"api_key","category":")" +
                       (n[0] < 'd' ? "early" : "late") +
                       R"(","credential_schema":{"fields":[{"name":"k","label":"Key"}]}})";
    f.create(body.c_str());
  }
  f.create(testing::kGithubJson);

  std::vector<std::string> seen;
  PageRequest page{.limit = 2};
  int pages = 0;
  for (;;) {
    auto r = f.registry.list(f.ctx, {}, page);
    REQUIRE(r.ok());
    ++pages;
    for (const auto& p : r->items) seen.push_back(p.spec.name);
    if (!r->next_cursor) break;
    page.cursor = r->next_cursor;
  }
  CHECK(pages == 3);
  CHECK(seen == std::vector<std::string>{"alpha", "bravo", "charlie", "delta", "echo", "github"});

  auto oauth = f.registry.list(f.ctx, {.auth_type = AuthType::kOAuth2}, {});
  REQUIRE(oauth.ok());
  REQUIRE(oauth->items.size() == 1);
  CHECK(oauth->items[0].spec.name == "github");
  CHECK_FALSE(oauth->next_cursor);

  auto late = f.registry.list(f.ctx, {.category = "late"}, {});
  REQUIRE(late.ok());
  CHECK(late->items.size() == 2);

  auto bad_limit = f.registry.list(f.ctx, {}, {.limit = 1001});
  REQUIRE_FALSE(bad_limit.ok());
  CHECK(bad_limit.status().field() == "limit");
  auto bad_cursor = f.registry.list(f.ctx, {}, {.cursor = "not-a-cursor!"});
  REQUIRE_FALSE(bad_cursor.ok());
  CHECK(bad_cursor.status().field() == "cursor");
}

TEST_CASE("patch changes only the fields sent and audits them redacted", "[registry]") {
  Fixture f;
  Provider before = f.create(testing::kGithubJson);
  f.clock.advance(std::chrono::seconds(5));

  auto r = f.registry.patch(f.ctx, "github",
                            json(R"({"client_secret":"rotated-secret-9","description":null})"));
  REQUIRE(r.ok());
  CHECK(r->version == 2);
  CHECK(r->id == before.id);
  CHECK(r->created_at == before.created_at);
  CHECK(r->updated_at == f.clock.now());
  CHECK(f.registry.client_secret(f.ctx, "github")->view() == "rotated-secret-9");
  CHECK(r->sealed_client_secret != before.sealed_client_secret);
  CHECK_FALSE(r->spec.description.has_value());
  ProviderSpec expected = before.spec;
  expected.description.reset();
  CHECK(r->spec == expected);

  auto page = f.audit.query("default", {.event_type = std::string(audit_events::kProviderUpdated)});
  REQUIRE(page.ok());
  REQUIRE(page->events.size() == 1);
  auto data = boost::json::parse(page->events[0].data).as_object();
  const auto& changed = data.at("changed").as_object();
  CHECK(changed.size() == 2);
  CHECK(changed.at("client_secret").at("to") == boost::json::value(kRedacted));
  CHECK(changed.at("client_secret").at("from") == boost::json::value(kRedacted));
  CHECK(changed.at("description").at("to").is_null());
  std::string audit_text = f.all_audit_text();
  CHECK(audit_text.find("rotated-secret-9") == std::string::npos);
  CHECK(audit_text.find(testing::kGithubSecret) == std::string::npos);
}

TEST_CASE("patch refuses bad merges and stores nothing", "[registry]") {
  Fixture f;
  Provider before = f.create(testing::kGithubJson);
  struct Case {
    const char* patch;
    ErrorCode code;
    const char* field;
  };
  const Case cases[] = {
      {R"({"name":"gitlab"})", ErrorCode::kValidationFailed, "name"},
      {R"({"name":null})", ErrorCode::kValidationFailed, "name"},
      {R"({"auth_type":"api_key"})", ErrorCode::kValidationFailed, "auth_type"},
      {R"({"client_secret":null})", ErrorCode::kValidationFailed, "client_secret"},
      {R"({"client_secret":""})", ErrorCode::kValidationFailed, "client_secret"},
      {R"({"token_url":"ftp://github.com/token"})", ErrorCode::kValidationFailed, "token_url"},
      {R"({"client_id":null})", ErrorCode::kValidationFailed, "client_id"},
      {R"({"id":"prv_x"})", ErrorCode::kValidationFailed, "id"},
      {R"({"version":7})", ErrorCode::kValidationFailed, "version"},
      {R"({"scope":["repo"]})", ErrorCode::kValidationFailed, "scope"},
      {R"({"scopes":"repo"})", ErrorCode::kValidationFailed, "scopes"},
      {R"(["not","an","object"])", ErrorCode::kValidationFailed, ""},
  };
  for (const Case& c : cases) {
    INFO(c.patch);
    auto r = f.registry.patch(f.ctx, "github", json(c.patch));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == c.code);
    CHECK(r.status().field() == c.field);
  }
  CHECK(f.registry.get(f.ctx, "github").value() == before);
  CHECK(f.registry.client_secret(f.ctx, "github")->view() == testing::kGithubSecret);
  CHECK(f.audit_seq() == 1);
  CHECK(f.registry.patch(f.ctx, "gitlab", json("{}")).status().code() ==
        ErrorCode::kProviderNotFound);
}

TEST_CASE("patch with expected_version detects a concurrent change", "[registry]") {
  Fixture f;
  f.create(testing::kGithubJson);
  auto v2 = f.registry.patch(f.ctx, "github", json(R"({"category":"code"})"), 1);
  REQUIRE(v2.ok());
  CHECK(v2->version == 2);
  auto stale = f.registry.patch(f.ctx, "github", json(R"({"category":"other"})"), 1);
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.status().code() == ErrorCode::kVersionConflict);
  CHECK(f.registry.get(f.ctx, "github")->spec.category == "code");
  CHECK(f.registry.remove(f.ctx, "github", 1).code() == ErrorCode::kVersionConflict);
  CHECK(f.count() == 1);
}

TEST_CASE("a patch that changes nothing stores nothing", "[registry]") {
  Fixture f;
  Provider before = f.create(testing::kGithubJson);
  auto r = f.registry.patch(f.ctx, "github", json(R"({"scopes":["repo","read:user","repo"]})"));
  REQUIRE(r.ok());
  CHECK(r.value() == before);
  CHECK(f.audit_seq() == 1);
}

TEST_CASE("secrets stored in clear by an older version are sealed at startup", "[registry]") {
  Fixture f;
  Provider legacy;
  legacy.id = "prv_legacy";
  legacy.workspace = "default";
  legacy.version = 3;
  legacy.spec = parse_provider_spec(json(testing::kGithubJson)).value();
  AuditEvent e;
  e.id = "evt_legacy";
  e.event_type = audit_events::kProviderCreated;
  REQUIRE(f.storage->insert_provider(legacy, e).ok());
  REQUIRE(f.storage->providers_with_plaintext_secret(10)->size() == 1);

  auto sealed = f.registry.seal_plaintext_secrets();
  REQUIRE(sealed.ok());
  CHECK(sealed.value() == 1);
  CHECK(f.storage->providers_with_plaintext_secret(10)->empty());
  auto p = f.registry.get(f.ctx, "github");
  REQUIRE(p.ok());
  CHECK(p->version == 3);
  CHECK_FALSE(p->spec.client_secret.has_value());
  CHECK(f.registry.client_secret(f.ctx, "github")->view() == testing::kGithubSecret);
  CHECK(f.all_audit_text().find(testing::kGithubSecret) == std::string::npos);
  CHECK(f.registry.seal_plaintext_secrets().value() == 0);
}

TEST_CASE("remove deletes the provider and audits it", "[registry]") {
  Fixture f;
  Provider p = f.create(testing::kStripeJson);
  REQUIRE(f.registry.remove(f.ctx, "stripe").ok());
  CHECK(f.registry.get(f.ctx, "stripe").status().code() == ErrorCode::kProviderNotFound);
  auto page = f.audit.query("default", {});
  REQUIRE(page.ok());
  REQUIRE(page->events.size() == 2);
  CHECK(page->events[0].event_type == audit_events::kProviderDeleted);
  CHECK(page->events[0].provider_id == p.id);
  CHECK(f.audit.verify("default")->ok);
}

TEST_CASE("metadata groups providers by auth_type and carries no secret", "[registry]") {
  Fixture f;
  f.create(testing::kGithubJson);
  f.create(testing::kStripeJson);
  auto idx = f.registry.metadata(f.ctx);
  REQUIRE(idx.ok());
  boost::json::object view = metadata_view(idx.value());
  CHECK(view.at("oauth2").as_object().size() == 1);
  CHECK(view.at("api_key").as_object().size() == 1);
  const auto& gh = view.at("oauth2").at("github").as_object();
  CHECK(gh.at("api_base_url") == "https://api.github.com");
  CHECK(gh.at("user_info_endpoint") == "https://api.github.com/user");
  CHECK(gh.at("scopes") == boost::json::array{"repo", "read:user"});
  CHECK_FALSE(gh.contains("client_id"));
  const auto& st = view.at("api_key").at("stripe").as_object();
  CHECK(st.at("credential_fields").at(0).at("label") == "Secret Key");
  std::string text = boost::json::serialize(view);
  CHECK(text.find(testing::kGithubSecret) == std::string::npos);
  CHECK(text.find("Iv1.abc123") == std::string::npos);

  auto empty = f.registry.metadata(RequestContext{.workspace = "acme"});
  REQUIRE(empty.ok());
  CHECK(boost::json::serialize(metadata_view(empty.value())) == R"({"api_key":{},"oauth2":{}})");
}

TEST_CASE("concurrent patches through the registry lose no update on SQLite", "[registry][sqlite]") {
  testing::TempDir dir;
  auto storage = open_sqlite_storage(dir.file("nexus.db"));
  REQUIRE(storage.ok());
  ProviderRegistry registry({.storage = storage->get()});
  RequestContext ctx;
  REQUIRE(registry.create(ctx, json(testing::kGithubJson)).ok());

  constexpr int kThreads = 8, kPatches = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPatches; ++i) {
        boost::json::object patch{{"params", {{"t" + std::to_string(t), i}}}};
        if (!registry.patch(ctx, "github", patch).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  auto p = registry.get(ctx, "github");
  REQUIRE(p.ok());
  CHECK(p->version == 1 + kThreads * kPatches);
  REQUIRE(p->spec.params.size() == kThreads);
  for (int t = 0; t < kThreads; ++t) {
    CHECK(std::get<std::int64_t>(p->spec.params.at("t" + std::to_string(t))) == kPatches - 1);
  }
  AuditLog audit(*storage.value());
  auto report = audit.verify("default");
  REQUIRE(report.ok());
  CHECK(report->ok);
  CHECK(report->events_checked == 1 + kThreads * kPatches);
}

TEST_CASE("patch and remove accept any of several expected versions, and count counts",
          "[registry]") {
  Fixture f;
  f.create(testing::kGithubJson);
  CHECK(f.registry.count(f.ctx).value() == 1);
  // Any of the named versions matches; none of them is a conflict; an empty
  // set never matches.
  auto none =
      f.registry.patch(f.ctx, "github", json(R"({"category":"x"})"), ExpectedVersion::any_of({}));
  CHECK(none.status().code() == ErrorCode::kVersionConflict);
  auto other = f.registry.patch(f.ctx, "github", json(R"({"category":"x"})"),
                                ExpectedVersion::any_of({4, 7}));
  CHECK(other.status().code() == ErrorCode::kVersionConflict);
  CHECK(other.status().field() == "version");
  auto v2 = f.registry.patch(f.ctx, "github", json(R"({"category":"x"})"),
                             ExpectedVersion::any_of({9, 1}));
  REQUIRE(v2.ok());
  CHECK(v2->version == 2);
  CHECK(f.registry.remove(f.ctx, "github", ExpectedVersion::any_of({1, 3})).code() ==
        ErrorCode::kVersionConflict);
  // A missing provider is not found, whatever the condition.
  CHECK(f.registry.remove(f.ctx, "nope", ExpectedVersion::any_of({})).code() ==
        ErrorCode::kProviderNotFound);
  CHECK(f.registry.remove(f.ctx, "github", ExpectedVersion::any_of({2, 3})).ok());
  CHECK(f.registry.count(f.ctx).value() == 0);
  CHECK(f.registry.count(RequestContext{.workspace = "other"}).value() == 0);
}

}  // namespace
}  // namespace nexus

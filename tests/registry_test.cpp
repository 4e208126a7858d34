// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/registry.hpp"

#include <atomic>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <map>
#include <new>
#include <stdexcept>
#include <thread>
#include <vector>

#include "nexus/audit.hpp"
#include "nexus/storage.hpp"
#include "storage/forwarding_storage.hpp"
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
    std::string body = std::string(R"({"name":")") + n + R"(","auth_type":"api_key","category":")" +
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

TEST_CASE("list pages 100 by default and accepts a limit of up to 1000", "[registry]") {
  Fixture f;
  REQUIRE(f.registry.options().default_page_size == 100);
  REQUIRE(f.registry.options().max_page_size == 1000);
  constexpr int kProviders = 1001;
  for (int i = 0; i < kProviders; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "p%04d", i);  // zero-padded: name order is creation order
    REQUIRE(f.registry
                .create(f.ctx,
                        boost::json::object{
                            {"name", name},
                            {"auth_type", "api_key"},
                            {"credential_schema", {{"fields", {{{"name", "k"}, {"label", "K"}}}}}}})
                .ok());
  }

  auto first = f.registry.list(f.ctx, {}, {});
  REQUIRE(first.ok());
  REQUIRE(first->items.size() == 100);
  CHECK(first->items.front().spec.name == "p0000");
  CHECK(first->items.back().spec.name == "p0099");
  REQUIRE(first->next_cursor);
  auto second = f.registry.list(f.ctx, {}, {.cursor = first->next_cursor});
  REQUIRE(second.ok());
  REQUIRE(second->items.size() == 100);
  CHECK(second->items.front().spec.name == "p0100");

  auto largest = f.registry.list(f.ctx, {}, {.limit = 1000});
  REQUIRE(largest.ok());
  REQUIRE(largest->items.size() == 1000);
  CHECK(largest->items.back().spec.name == "p0999");
  REQUIRE(largest->next_cursor);
  auto rest = f.registry.list(f.ctx, {}, {.limit = 1000, .cursor = largest->next_cursor});
  REQUIRE(rest.ok());
  REQUIRE(rest->items.size() == 1);
  CHECK(rest->items[0].spec.name == "p1000");
  CHECK_FALSE(rest->next_cursor);

  auto too_large = f.registry.list(f.ctx, {}, {.limit = 1001});
  REQUIRE_FALSE(too_large.ok());
  CHECK(too_large.status().code() == ErrorCode::kValidationFailed);
  CHECK(too_large.status().field() == "limit");
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
      // Named even when null, though erasing an absent member would change nothing.
      {R"({"scope":null})", ErrorCode::kValidationFailed, "scope"},
      {R"({"id":null})", ErrorCode::kValidationFailed, "id"},
      {R"({"client_secret_set":null})", ErrorCode::kValidationFailed, "client_secret_set"},
      {R"({"discovery":null,"description":"x"})", ErrorCode::kValidationFailed, "discovery"},
      {R"({"credential_schema":{"feilds":null}})", ErrorCode::kValidationFailed,
       "credential_schema.feilds"},
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

TEST_CASE("re-sending the stored client secret stores nothing", "[registry]") {
  Fixture f;
  Provider before = f.create(testing::kGithubJson);
  const std::string same = std::string(R"({"client_secret":")") + testing::kGithubSecret + "\"}";

  auto r = f.registry.patch(f.ctx, "github", json(same.c_str()));
  REQUIRE(r.ok());
  CHECK(r.value() == before);
  CHECK(f.registry.get(f.ctx, "github").value() == before);
  CHECK(f.audit_seq() == 1);

  // With another change, only that change is stored and audited.
  const std::string same_and_more =
      std::string(R"({"category":"code","client_secret":")") + testing::kGithubSecret + "\"}";
  r = f.registry.patch(f.ctx, "github", json(same_and_more.c_str()));
  REQUIRE(r.ok());
  CHECK(r->version == 2);
  CHECK(r->sealed_client_secret == before.sealed_client_secret);
  auto page = f.audit.query("default", {.event_type = std::string(audit_events::kProviderUpdated)});
  REQUIRE(page.ok());
  REQUIRE(page->events.size() == 1);
  const auto data = boost::json::parse(page->events[0].data).as_object();
  CHECK(data.at("changed").as_object().size() == 1);
  CHECK(data.at("changed").as_object().contains("category"));

  // A secret that differs only in its last byte is a new one.
  std::string other = testing::kGithubSecret;
  other.back() ^= 1;
  r = f.registry.patch(f.ctx, "github", json(("{\"client_secret\":\"" + other + "\"}").c_str()));
  REQUIRE(r.ok());
  CHECK(r->version == 3);
  CHECK(f.registry.client_secret(f.ctx, "github")->view() == other);
}

TEST_CASE("a stored secret that no longer opens is replaced by the same value", "[registry]") {
  Fixture f;
  f.create(testing::kGithubJson);
  // Another registry over the same storage, sealing under another key: the
  // stored envelope does not open there.
  ProviderRegistry other({.storage = f.storage.get(), .clock = &f.clock});
  REQUIRE(other.client_secret(f.ctx, "github").status().code() == ErrorCode::kCredentialUnreadable);
  const std::string same = std::string(R"({"client_secret":")") + testing::kGithubSecret + "\"}";
  auto r = other.patch(f.ctx, "github", json(same.c_str()));
  REQUIRE(r.ok());
  CHECK(r->version == 2);
  CHECK(other.client_secret(f.ctx, "github")->view() == testing::kGithubSecret);
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

// A clock whose every reading throws, as a broken host clock might.
class ThrowingClock final : public Clock {
 public:
  Timestamp now() const override { throw std::runtime_error("clock failure"); }
};

// Delegates to a memory storage; while `armed`, every provider method throws
// (bad_alloc, as an allocation inside a backend would) instead of returning
// a Status.
class ThrowingStorage final : public testing::ForwardingStorage {
 public:
  ThrowingStorage() : ForwardingStorage(make_memory_storage()) {}
  std::atomic<bool> armed{false};

 protected:
  Status intercept(Call call) override {
    switch (call) {
      case Call::kInsertProvider:
      case Call::kUpdateProvider:
      case Call::kDeleteProvider:
      case Call::kGetProvider:
      case Call::kListProviders:
      case Call::kCountProviders:
      case Call::kGetProviderById:
      case Call::kProvidersDueForDiscovery:
      case Call::kProvidersWithPlaintextSecret:
        if (armed) throw std::bad_alloc();
        break;
      default:
        break;
    }
    return Status::Ok();
  }
};

void expect_internal(const Status& status) {
  INFO(status.message());
  CHECK(status.code() == ErrorCode::kInternal);
}

TEST_CASE("no exception from the storage leaves a registry method", "[registry]") {
  ThrowingStorage storage;
  testing::FakeClock clock;
  ProviderRegistry registry({.storage = &storage, .clock = &clock});
  RequestContext ctx;
  REQUIRE(registry.create(ctx, json(testing::kGithubJson)).ok());
  const Provider before = registry.get(ctx, "github").value();
  storage.armed = true;

  expect_internal(registry.create(ctx, json(testing::kStripeJson)).status());
  expect_internal(
      registry.create(ctx, parse_provider_spec(json(testing::kStripeJson)).value()).status());
  expect_internal(registry.get(ctx, "github").status());
  expect_internal(registry.list(ctx, {}, {}).status());
  expect_internal(registry.patch(ctx, "github", json(R"({"category":"x"})")).status());
  expect_internal(registry.remove(ctx, "github"));
  expect_internal(registry.metadata(ctx).status());
  expect_internal(registry.refresh_discovery(ctx, "github").status());
  expect_internal(registry.client_secret(ctx, "github").status());
  expect_internal(registry.seal_plaintext_secrets().status());

  storage.armed = false;
  CHECK(registry.get(ctx, "github").value() == before);
  CHECK(storage.count_providers(ctx.workspace).value() == 1);
  CHECK(storage.audit_head(ctx.workspace)->seq == 1);
}

TEST_CASE("no exception from the clock leaves a registry method", "[registry]") {
  auto storage = make_memory_storage();
  ProviderRegistry good({.storage = storage.get()});
  RequestContext ctx;
  REQUIRE(good.create(ctx, json(testing::kGithubJson)).ok());
  const Provider before = good.get(ctx, "github").value();

  ThrowingClock clock;
  ProviderRegistry registry({.storage = storage.get(), .clock = &clock});
  expect_internal(registry.create(ctx, json(testing::kStripeJson)).status());
  expect_internal(registry.patch(ctx, "github", json(R"({"category":"x"})")).status());
  expect_internal(registry.remove(ctx, "github"));
  CHECK(good.get(ctx, "github").value() == before);
  CHECK(storage->count_providers(ctx.workspace).value() == 1);
  CHECK(storage->audit_head(ctx.workspace)->seq == 1);
}

TEST_CASE("a patch built in code too deep to merge is invalid_json", "[registry]") {
  Fixture f;
  Provider before = f.create(testing::kGithubJson);
  boost::json::value deep = "leaf";
  for (int i = 0; i < 100000; ++i) {
    boost::json::value outer = boost::json::object();
    outer.as_object()["k"] = std::move(deep);
    deep = std::move(outer);
  }
  boost::json::value patch = boost::json::object();
  patch.as_object()["params"] = std::move(deep);
  auto r = f.registry.patch(f.ctx, "github", patch);
  CHECK(r.status().code() == ErrorCode::kInvalidJson);
  CHECK(f.registry.get(f.ctx, "github").value() == before);
  CHECK(f.audit_seq() == 1);
  // Destroying it recursively could overflow the stack: unnest it first.
  boost::json::value rest = std::move(patch.as_object()["params"]);
  while (boost::json::object* o = rest.if_object()) {
    boost::json::value inner = std::move(o->at("k"));
    rest = std::move(inner);
  }
}

TEST_CASE("concurrent patches through the registry lose no update on SQLite",
          "[registry][sqlite]") {
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

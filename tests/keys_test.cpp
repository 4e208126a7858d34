// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/keys.hpp"

#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <regex>
#include <set>

#include "nexus/audit.hpp"
#include "nexus/storage.hpp"
#include "test_support.hpp"

namespace nexus {
namespace {

struct Fixture {
  testing::FakeClock clock;
  std::unique_ptr<Storage> storage = make_memory_storage();
  std::unique_ptr<KeyService> keys = open();
  RequestContext ctx{
      .workspace = "default", .actor = "cli:test", .caller_ip = "", .user_agent = "keys-test"};

  std::unique_ptr<KeyService> open() {
    auto k = KeyService::open({.storage = storage.get(), .clock = &clock});
    REQUIRE(k.ok());
    return std::move(k).value();
  }
  std::string audit_text(std::string_view workspace) {
    auto events = storage->audit_chain(workspace, 0, 1000);
    REQUIRE(events.ok());
    std::string text;
    for (const auto& e : events.value()) text += boost::json::serialize(audit_event_view(e));
    return text;
  }
};

TEST_CASE("roles grant exactly their permissions", "[keys]") {
  using P = Permission;
  CHECK(role_allows(Role::kAdmin, P::kReadProviders));
  CHECK(role_allows(Role::kAdmin, P::kWriteProviders));
  CHECK(role_allows(Role::kAdmin, P::kReadAudit));
  CHECK(role_allows(Role::kAgent, P::kReadProviders));
  CHECK_FALSE(role_allows(Role::kAgent, P::kWriteProviders));
  CHECK_FALSE(role_allows(Role::kAgent, P::kReadAudit));
  CHECK(role_allows(Role::kAuditor, P::kReadAudit));
  CHECK_FALSE(role_allows(Role::kAuditor, P::kReadProviders));
  CHECK_FALSE(role_allows(Role::kAuditor, P::kWriteProviders));
  for (Role r : {Role::kAdmin, Role::kAgent, Role::kAuditor}) CHECK(parse_role(to_string(r)) == r);
  CHECK_FALSE(parse_role("root"));
  CHECK_FALSE(parse_role("Admin"));
}

TEST_CASE("an issued key authenticates as its workspace and role", "[keys]") {
  Fixture f;
  auto issued = f.keys->create(f.ctx, "acme", Role::kAuditor, "ci");
  REQUIRE(issued.ok());
  CHECK(std::regex_match(issued->text, std::regex("nxk_[0-9a-z]{26}_[A-Za-z0-9_-]{43}")));
  CHECK(issued->key.id == "key_" + issued->text.substr(4, 26));
  CHECK(issued->key.workspace == "acme");
  CHECK(issued->key.created_at == f.clock.now());
  auto caller = f.keys->authenticate(issued->text);
  REQUIRE(caller.ok());
  CHECK(caller->key_id == issued->key.id);
  CHECK(caller->workspace == "acme");
  CHECK(caller->role == Role::kAuditor);

  // Only the keyed hash is stored.
  auto stored = f.storage->get_api_key(issued->key.id);
  REQUIRE(stored.ok());
  CHECK(stored->hash.size() == 64);
  CHECK(stored->hash.find(issued->text.substr(31)) == std::string::npos);
  CHECK(stored->key == issued->key);

  // Creation is audited in the key's workspace, without the key.
  std::string audit = f.audit_text("acme");
  CHECK(audit.find("api_key.created") != std::string::npos);
  CHECK(audit.find(issued->key.id) != std::string::npos);
  CHECK(audit.find(issued->text.substr(31)) == std::string::npos);
}

TEST_CASE("anything but an active key is unauthorized, always the same way", "[keys]") {
  Fixture f;
  auto issued = f.keys->create(f.ctx, "acme", Role::kAdmin);
  REQUIRE(issued.ok());
  std::string tampered = issued->text;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  std::string other_id = issued->text;
  other_id[10] = other_id[10] == '0' ? '1' : '0';
  std::set<std::string> messages;
  for (const std::string& k :
       {std::string(), std::string("your-api-key"), tampered, other_id,
        std::string(kMaxApiKeyLength + 1, 'x'), issued->text.substr(0, 40)}) {
    auto r = f.keys->authenticate(k);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == ErrorCode::kUnauthorized);
    CHECK(r.status().field().empty());
    messages.insert(r.status().message());
  }
  CHECK(messages.size() == 1);

  REQUIRE(f.keys->revoke(f.ctx, issued->key.id).ok());
  auto revoked = f.keys->authenticate(issued->text);
  CHECK(revoked.status().code() == ErrorCode::kUnauthorized);
  CHECK(revoked.status().message() == *messages.begin());
  CHECK(f.keys->revoke(f.ctx, issued->key.id).code() == ErrorCode::kNotFound);
  CHECK(f.keys->revoke(f.ctx, "key_nope").code() == ErrorCode::kNotFound);
  CHECK(f.audit_text("acme").find("api_key.revoked") != std::string::npos);
}

TEST_CASE("a configured key of any text is stored by hash and is idempotent", "[keys]") {
  Fixture f;
  auto a = f.keys->register_key(f.ctx, "default", Role::kAdmin, "your-api-key", kEnvKeyLabel);
  REQUIRE(a.ok());
  CHECK(a->id.starts_with("key_"));
  CHECK(a->id.find("your") == std::string::npos);
  auto again = f.keys->register_key(f.ctx, "default", Role::kAdmin, "your-api-key", kEnvKeyLabel);
  REQUIRE(again.ok());
  CHECK(again->id == a->id);
  CHECK(f.keys->list()->size() == 1);
  auto caller = f.keys->authenticate("your-api-key");
  REQUIRE(caller.ok());
  CHECK(caller->workspace == "default");
  CHECK(caller->role == Role::kAdmin);

  // The same text cannot become another workspace's or role's key.
  CHECK(f.keys->register_key(f.ctx, "other", Role::kAdmin, "your-api-key", "").status().code() ==
        ErrorCode::kValidationFailed);
  CHECK(f.keys->register_key(f.ctx, "default", Role::kAgent, "your-api-key", "").status().code() ==
        ErrorCode::kValidationFailed);
  // Ids are stable across service instances over the same store.
  auto reopened = f.open();
  CHECK(reopened->authenticate("your-api-key")->key_id == a->id);
  // A revoked text is not silently revived.
  REQUIRE(f.keys->revoke(f.ctx, a->id).ok());
  CHECK(f.keys->register_key(f.ctx, "default", Role::kAdmin, "your-api-key", kEnvKeyLabel)
            .status()
            .code() == ErrorCode::kValidationFailed);
}

TEST_CASE("bootstrap: API_KEY is registered, rotated, without it a key is generated once",
          "[keys]") {
  Fixture f;
  auto first = f.keys->bootstrap_admin(f.ctx, std::string_view("key-one"));
  REQUIRE(first.ok());
  REQUIRE(first->configured);
  CHECK_FALSE(first->generated);
  CHECK(f.keys->authenticate("key-one").ok());

  auto rotated = f.keys->bootstrap_admin(f.ctx, std::string_view("key-two"));
  REQUIRE(rotated.ok());
  CHECK(rotated->revoked_ids == std::vector<std::string>{first->configured->id});
  CHECK_FALSE(f.keys->authenticate("key-one").ok());
  CHECK(f.keys->authenticate("key-two").ok());

  // An admin key exists: nothing is generated.
  auto unset = f.keys->bootstrap_admin(f.ctx, std::nullopt);
  REQUIRE(unset.ok());
  CHECK_FALSE(unset->generated);

  Fixture fresh;
  auto generated = fresh.keys->bootstrap_admin(fresh.ctx, std::nullopt);
  REQUIRE(generated.ok());
  REQUIRE(generated->generated);
  CHECK(generated->generated->key.role == Role::kAdmin);
  CHECK(generated->generated->key.workspace == "default");
  CHECK(fresh.keys->authenticate(generated->generated->text).ok());
  auto second = fresh.keys->bootstrap_admin(fresh.ctx, std::nullopt);
  REQUIRE(second.ok());
  CHECK_FALSE(second->generated);
}

TEST_CASE("workspace names and labels are checked", "[keys]") {
  Fixture f;
  for (const char* bad :
       {"", "Acme", "-acme", "a b", "a/b",
        "a-very-long-workspace-name-that-goes-on-and-on-past-sixty-three-chars"}) {
    INFO(bad);
    CHECK(f.keys->create(f.ctx, bad, Role::kAgent).status().field() == "workspace");
  }
  CHECK(f.keys->create(f.ctx, "acme", Role::kAgent, "line\nbreak").status().field() == "label");
  CHECK(f.keys->create(f.ctx, "acme-2_x", Role::kAgent, "fine label").ok());
  auto list = f.keys->list("acme-2_x");
  REQUIRE(list.ok());
  CHECK(list->size() == 1);
  CHECK(f.keys->list("nobody")->empty());
}

TEST_CASE("key records are cached for cache_ttl, revoking through the service is immediate",
          "[keys]") {
  Fixture f;
  auto cached = KeyService::open(
      {.storage = f.storage.get(), .clock = &f.clock, .cache_ttl = std::chrono::hours(1)});
  auto uncached = KeyService::open(
      {.storage = f.storage.get(), .clock = &f.clock, .cache_ttl = std::chrono::milliseconds(0)});
  REQUIRE(cached.ok());
  REQUIRE(uncached.ok());
  auto a = f.keys->create(f.ctx, "acme", Role::kAgent);
  auto b = f.keys->create(f.ctx, "acme", Role::kAgent);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE((*cached)->authenticate(a->text).ok());
  REQUIRE((*cached)->authenticate(b->text).ok());

  // Revoked behind the service's back (another process): the cached record
  // stands until it expires; an uncached service sees it at once.
  AuditEvent e;
  e.id = make_id(system_random(), "evt_");
  e.workspace = "acme";
  e.event_type = audit_events::kApiKeyRevoked;
  REQUIRE(f.storage->revoke_api_key(a->key.id, f.clock.now(), e).ok());
  CHECK((*cached)->authenticate(a->text).ok());
  CHECK_FALSE((*uncached)->authenticate(a->text).ok());

  // Revoked through the service: at once.
  REQUIRE((*cached)->revoke(f.ctx, b->key.id).ok());
  CHECK_FALSE((*cached)->authenticate(b->text).ok());
  // A wrong secret never passes on a cached id.
  std::string forged = a->text;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  CHECK_FALSE((*cached)->authenticate(forged).ok());
}

TEST_CASE("unknown key ids are cached like known ones, under the same bound", "[keys]") {
  // authenticate() does the same work for a known and an unknown id: the
  // outcome of one storage read is cached for cache_ttl either way. Seen
  // from outside: a key registered behind the service's back is refused
  // while "unknown" is cached, exactly as a revoked key is accepted while its
  // record is.
  Fixture f;
  auto cached = KeyService::open({.storage = f.storage.get(),
                                  .clock = &f.clock,
                                  .cache_ttl = std::chrono::hours(1),
                                  .max_cached_keys = 3});
  auto uncached = KeyService::open(
      {.storage = f.storage.get(), .clock = &f.clock, .cache_ttl = std::chrono::milliseconds(0)});
  REQUIRE(cached.ok());
  REQUIRE(uncached.ok());
  const std::string text = "configured-later-key";
  CHECK((*cached)->authenticate(text).status().code() == ErrorCode::kUnauthorized);
  REQUIRE(f.keys->register_key(f.ctx, "acme", Role::kAgent, text, "later").ok());
  CHECK((*uncached)->authenticate(text).ok());
  CHECK((*cached)->authenticate(text).status().code() == ErrorCode::kUnauthorized);

  // The cache is bounded: more distinct ids than max_cached_keys start it
  // over, and the next lookup reads storage again.
  for (const char* other : {"probe-1", "probe-2", "probe-3"}) {
    CHECK_FALSE((*cached)->authenticate(other).ok());
  }
  CHECK((*cached)->authenticate(text).ok());

  // A key this service stores itself is usable at once, even if its id was
  // cached as unknown just before.
  const std::string mine = "registered-here-key";
  CHECK_FALSE((*cached)->authenticate(mine).ok());
  REQUIRE((*cached)->register_key(f.ctx, "acme", Role::kAgent, mine, "here").ok());
  CHECK((*cached)->authenticate(mine).ok());
}

TEST_CASE("made-up key ids cannot flush the cached records of real keys", "[keys]") {
  Fixture f;
  auto cached = KeyService::open({.storage = f.storage.get(),
                                  .clock = &f.clock,
                                  .cache_ttl = std::chrono::hours(1),
                                  .max_cached_keys = 3});
  REQUIRE(cached.ok());
  auto issued = f.keys->create(f.ctx, "acme", Role::kAgent);
  REQUIRE(issued.ok());
  REQUIRE((*cached)->authenticate(issued->text).ok());  // its record is cached now
  // Revoked behind the cached service's back: it goes on accepting the key
  // for as long as the record stays cached, which shows the record is there.
  REQUIRE(f.keys->revoke(f.ctx, issued->key.id).ok());
  for (int i = 0; i < 10; ++i) {
    CHECK_FALSE((*cached)->authenticate("made-up-" + std::to_string(i)).ok());
  }
  CHECK((*cached)->authenticate(issued->text).ok());
  // A service without the cache sees the revocation.
  auto uncached = KeyService::open(
      {.storage = f.storage.get(), .clock = &f.clock, .cache_ttl = std::chrono::milliseconds(0)});
  REQUIRE(uncached.ok());
  CHECK((*uncached)->authenticate(issued->text).status().code() == ErrorCode::kUnauthorized);
}

TEST_CASE("the hashing key is generated once and kept in storage", "[keys]") {
  Fixture f;
  auto issued = f.keys->create(f.ctx, "acme", Role::kAgent);
  REQUIRE(issued.ok());
  // A second service over the same storage uses the same hashing key.
  auto other = f.open();
  CHECK(other->authenticate(issued->text).ok());
  // A service over another storage does not know the key at all.
  Fixture g;
  CHECK_FALSE(g.keys->authenticate(issued->text).ok());
}

}  // namespace
}  // namespace nexus

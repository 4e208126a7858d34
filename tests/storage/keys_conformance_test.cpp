// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// The API key and settings part of the Storage contract, run against every
// backend.
#include <catch2/catch.hpp>
#include <latch>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "nexus/keys.hpp"
#include "nexus/storage.hpp"
#include "storage/conformance.hpp"

namespace nexus::testing {
namespace {

using namespace std::chrono_literals;

StoredApiKey api_key(std::string id, std::string workspace, Role role, Timestamp created_at = kT0) {
  return StoredApiKey{.key = ApiKey{.id = std::move(id),
                                    .workspace = std::move(workspace),
                                    .role = role,
                                    .label = "label \"quoted\"",
                                    .created_at = created_at,
                                    .revoked_at = std::nullopt},
                      .hash = std::string(64, 'a')};
}

AuditEvent key_event(std::string_view type, const ApiKey& key) {
  AuditEvent e;
  e.id = make_id(system_random(), "evt_");
  e.workspace = key.workspace;
  e.event_type = type;
  e.actor = "cli:test";
  e.at = kT0;
  e.data = R"({"key_id":")" + key.id + R"("})";
  return e;
}

std::int64_t head_seq(Storage& storage, std::string_view workspace) {
  auto head = storage.audit_head(workspace);
  REQUIRE(head.ok());
  return head->seq;
}

TEST_CASE("storage: an API key reads back exactly as inserted, and its event is chained",
          "[storage][keys]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  StoredApiKey k = api_key("key_one", "acme", Role::kAuditor);
  k.hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  REQUIRE(storage->insert_api_key(k, key_event(audit_events::kApiKeyCreated, k.key)).ok());
  auto got = storage->get_api_key("key_one");
  REQUIRE(got.ok());
  CHECK(got->key == k.key);
  CHECK(got->hash == k.hash);
  CHECK(head_seq(*storage, "acme") == 1);
  auto chain = storage->audit_chain("acme", 0, 10);
  REQUIRE(chain.ok());
  REQUIRE(chain->size() == 1);
  CHECK(chain->at(0).event_type == audit_events::kApiKeyCreated);
  CHECK(chain->at(0).hash == audit_chain_hash(chain->at(0)));

  CHECK(storage->get_api_key("key_two").status().code() == ErrorCode::kNotFound);
}

TEST_CASE("storage: a taken key id stores nothing", "[storage][keys]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  StoredApiKey k = api_key("key_one", "acme", Role::kAdmin);
  REQUIRE(storage->insert_api_key(k, key_event(audit_events::kApiKeyCreated, k.key)).ok());
  StoredApiKey dup = api_key("key_one", "globex", Role::kAgent);
  dup.hash = std::string(64, 'b');
  Status s = storage->insert_api_key(dup, key_event(audit_events::kApiKeyCreated, dup.key));
  CHECK(s.code() == ErrorCode::kInternal);
  CHECK(storage->get_api_key("key_one")->key == k.key);
  CHECK(storage->get_api_key("key_one")->hash == k.hash);
  CHECK(head_seq(*storage, "globex") == 0);
  CHECK(head_seq(*storage, "acme") == 1);
}

TEST_CASE("storage: API keys list by creation time, all or per workspace", "[storage][keys]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  std::vector<StoredApiKey> keys = {
      api_key("key_c", "acme", Role::kAdmin, kT0 + 2ms),
      api_key("key_a", "globex", Role::kAgent, kT0 + 1ms),
      api_key("key_b", "acme", Role::kAgent, kT0 + 1ms),
      api_key("key_d", "acme", Role::kAuditor, kT0),
  };
  for (const auto& k : keys) {
    REQUIRE(storage->insert_api_key(k, key_event(audit_events::kApiKeyCreated, k.key)).ok());
  }
  auto ids = [](const std::vector<StoredApiKey>& list) {
    std::vector<std::string> out;
    for (const auto& k : list) out.push_back(k.key.id);
    return out;
  };
  auto all = storage->list_api_keys(std::nullopt);
  REQUIRE(all.ok());
  CHECK(ids(*all) == std::vector<std::string>{"key_d", "key_a", "key_b", "key_c"});
  auto acme = storage->list_api_keys("acme");
  REQUIRE(acme.ok());
  CHECK(ids(*acme) == std::vector<std::string>{"key_d", "key_b", "key_c"});
  CHECK(acme->at(0).hash == std::string(64, 'a'));
  CHECK(storage->list_api_keys("nobody")->empty());
}

TEST_CASE("storage: revoking a key stamps it once and chains the event", "[storage][keys]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  StoredApiKey k = api_key("key_one", "acme", Role::kAdmin);
  REQUIRE(storage->insert_api_key(k, key_event(audit_events::kApiKeyCreated, k.key)).ok());
  REQUIRE(
      storage->revoke_api_key("key_one", kT0 + 5ms, key_event(audit_events::kApiKeyRevoked, k.key))
          .ok());
  auto got = storage->get_api_key("key_one");
  REQUIRE(got.ok());
  CHECK(got->key.revoked_at == kT0 + 5ms);
  CHECK_FALSE(got->key.active());
  CHECK(head_seq(*storage, "acme") == 2);

  // Already revoked, or unknown: kNotFound, and no event.
  CHECK(
      storage->revoke_api_key("key_one", kT0 + 9ms, key_event(audit_events::kApiKeyRevoked, k.key))
          .code() == ErrorCode::kNotFound);
  CHECK(storage->revoke_api_key("key_nope", kT0, key_event(audit_events::kApiKeyRevoked, k.key))
            .code() == ErrorCode::kNotFound);
  CHECK(storage->get_api_key("key_one")->key.revoked_at == kT0 + 5ms);
  CHECK(head_seq(*storage, "acme") == 2);
}

TEST_CASE("storage: ensure_setting keeps the first value stored", "[storage][keys]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  auto first = storage->ensure_setting("hashing_key", "first");
  REQUIRE(first.ok());
  CHECK(*first == "first");
  auto second = storage->ensure_setting("hashing_key", "second");
  REQUIRE(second.ok());
  CHECK(*second == "first");
  CHECK(*storage->ensure_setting("other", "x") == "x");

  // Racing first callers all see one winner.
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::vector<std::string> seen(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      auto v = storage->ensure_setting("raced", "value-" + std::to_string(i));
      seen[i] = v.ok() ? *v : "error: " + v.status().message();
    });
  }
  for (auto& t : threads) t.join();
  CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == 1);
  CHECK(seen[0].rfind("value-", 0) == 0);
}

TEST_CASE("sqlite: keys and settings survive reopening", "[storage][keys][sqlite]") {
  TempDir dir;
  std::string path = dir.file("nexus.db");
  StoredApiKey k = api_key("key_one", "acme", Role::kAgent);
  {
    auto storage = open_sqlite_storage(path);
    REQUIRE(storage.ok());
    REQUIRE((*storage)->insert_api_key(k, key_event(audit_events::kApiKeyCreated, k.key)).ok());
    REQUIRE((*storage)->ensure_setting("hashing_key", "kept").ok());
  }
  auto storage = open_sqlite_storage(path);
  REQUIRE(storage.ok());
  CHECK((*storage)->get_api_key("key_one")->key == k.key);
  CHECK(*(*storage)->ensure_setting("hashing_key", "new") == "kept");
}

}  // namespace
}  // namespace nexus::testing

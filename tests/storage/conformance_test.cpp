// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// The Storage contract (include/nexus/storage.hpp), run against every backend.
#include "storage/conformance.hpp"

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nexus/audit.hpp"
#include "nexus/storage.hpp"

namespace nexus::testing {
namespace {

using namespace std::chrono_literals;

std::vector<AuditEvent> whole_chain(Storage& storage, std::string_view workspace) {
  auto chain = storage.audit_chain(workspace, 0, 1'000'000);
  REQUIRE(chain.ok());
  return std::move(chain).value();
}

std::int64_t count(Storage& storage, std::string_view workspace) {
  auto n = storage.count_providers(workspace);
  REQUIRE(n.ok());
  return *n;
}

TEST_CASE("storage: a provider reads back exactly as inserted", "[storage]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();

  SECTION("every optional field set") {
    const Provider full = full_provider("ws", "stripe");
    REQUIRE(storage->insert_provider(full, event_for(audit_events::kProviderCreated, full)).ok());
    auto got = storage->get_provider("ws", "stripe");
    REQUIRE(got.ok());
    CHECK(*got == full);
    // Integers and doubles keep their types, not just their values.
    CHECK(std::holds_alternative<double>(got->spec.params.at("whole_double")));
    CHECK(std::holds_alternative<std::int64_t>(got->spec.params.at("big")));
  }

  SECTION("absent optionals stay absent") {
    const Provider bare = minimal_provider("ws", "bare");
    REQUIRE(storage->insert_provider(bare, event_for(audit_events::kProviderCreated, bare)).ok());
    auto got = storage->get_provider("ws", "bare");
    REQUIRE(got.ok());
    CHECK(*got == bare);
    CHECK_FALSE(got->spec.client_id);
    CHECK_FALSE(got->spec.client_secret);
    CHECK_FALSE(got->spec.jwks_uri);
    CHECK_FALSE(got->spec.credential_schema);
    CHECK_FALSE(got->spec.description);
    CHECK_FALSE(got->spec.category);
    CHECK(got->spec.scopes.empty());
    CHECK(got->spec.params.empty());
  }
}

TEST_CASE("storage: names are unique within a workspace only", "[storage]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  const Provider github = minimal_provider("ws", "github");
  REQUIRE(storage->insert_provider(github, event_for(audit_events::kProviderCreated, github)).ok());

  const Provider again = full_provider("ws", "github");
  Status dup = storage->insert_provider(again, event_for(audit_events::kProviderCreated, again));
  CHECK(dup.code() == ErrorCode::kProviderExists);
  CHECK(storage->get_provider("ws", "github").value() == github);

  const Provider elsewhere = minimal_provider("other", "github");
  CHECK(storage->insert_provider(elsewhere, event_for(audit_events::kProviderCreated, elsewhere))
            .ok());
  CHECK(storage->get_provider("other", "github").value() == elsewhere);

  CHECK(storage->get_provider("third", "github").status().code() == ErrorCode::kProviderNotFound);
  CHECK(storage->get_provider("ws", "gitlab").status().code() == ErrorCode::kProviderNotFound);

  SECTION("a taken provider id is an internal error") {
    Provider same_id = minimal_provider("ws", "gitlab");
    same_id.id = github.id;
    Status status =
        storage->insert_provider(same_id, event_for(audit_events::kProviderCreated, same_id));
    CHECK(status.code() == ErrorCode::kInternal);
    CHECK(storage->get_provider("ws", "gitlab").status().code() == ErrorCode::kProviderNotFound);
  }
}

TEST_CASE("storage: update and delete check the stored version", "[storage]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  const Provider v1 = minimal_provider("ws", "github");
  REQUIRE(storage->insert_provider(v1, event_for(audit_events::kProviderCreated, v1)).ok());

  Provider v2 = next_version(v1);
  v2.spec.description = "now described";
  v2.spec.scopes = {"repo"};

  SECTION("update with the stored version replaces the provider") {
    REQUIRE(storage->update_provider(v2, 1, event_for(audit_events::kProviderUpdated, v2)).ok());
    CHECK(storage->get_provider("ws", "github").value() == v2);

    SECTION("a stale version is a conflict and changes nothing") {
      Provider v3 = next_version(v2);
      v3.spec.category = "stale";
      Status status =
          storage->update_provider(v3, 1, event_for(audit_events::kProviderUpdated, v3));
      CHECK(status.code() == ErrorCode::kVersionConflict);
      CHECK(storage->get_provider("ws", "github").value() == v2);
    }
  }

  SECTION("update with a wrong version is a conflict") {
    Status status = storage->update_provider(v2, 7, event_for(audit_events::kProviderUpdated, v2));
    CHECK(status.code() == ErrorCode::kVersionConflict);
    CHECK(storage->get_provider("ws", "github").value() == v1);
  }

  SECTION("update or delete of an absent provider is not found") {
    Provider ghost = next_version(minimal_provider("ws", "ghost"));
    CHECK(storage->update_provider(ghost, 1, event_for(audit_events::kProviderUpdated, ghost))
              .code() == ErrorCode::kProviderNotFound);
    Provider other_ws = v2;
    other_ws.workspace = "other";
    CHECK(storage->update_provider(other_ws, 1, event_for(audit_events::kProviderUpdated, other_ws))
              .code() == ErrorCode::kProviderNotFound);
    CHECK(
        storage->delete_provider("ws", "ghost", 1, event_for(audit_events::kProviderDeleted, ghost))
            .code() == ErrorCode::kProviderNotFound);
    CHECK(storage
              ->delete_provider("other", "github", 1, event_for(audit_events::kProviderDeleted, v1))
              .code() == ErrorCode::kProviderNotFound);
  }

  SECTION("delete with a wrong version is a conflict and keeps the provider") {
    CHECK(storage->delete_provider("ws", "github", 2, event_for(audit_events::kProviderDeleted, v1))
              .code() == ErrorCode::kVersionConflict);
    CHECK(storage->get_provider("ws", "github").value() == v1);
  }

  SECTION("delete with the stored version removes it") {
    REQUIRE(
        storage->delete_provider("ws", "github", 1, event_for(audit_events::kProviderDeleted, v1))
            .ok());
    CHECK(storage->get_provider("ws", "github").status().code() == ErrorCode::kProviderNotFound);
    CHECK(count(*storage, "ws") == 0);
    CHECK(storage->delete_provider("ws", "github", 1, event_for(audit_events::kProviderDeleted, v1))
              .code() == ErrorCode::kProviderNotFound);
    // The name is free again.
    const Provider reborn = minimal_provider("ws", "github");
    CHECK(storage->insert_provider(reborn, event_for(audit_events::kProviderCreated, reborn)).ok());
  }
}

TEST_CASE("storage: list orders by name and pages after a name", "[storage]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  auto add = [&](Provider p) {
    REQUIRE(storage->insert_provider(p, event_for(audit_events::kProviderCreated, p)).ok());
  };
  auto make = [](std::string_view ws, std::string_view name, AuthType type,
                 std::optional<std::string> category) {
    Provider p = minimal_provider(ws, name);
    p.spec.auth_type = type;
    p.spec.category = std::move(category);
    return p;
  };
  // Inserted out of order; bytewise order puts "Zoom" before "apple" and the
  // UTF-8 "\xC3\xA9toile" after every ASCII name.
  add(make("ws", "slack", AuthType::kOAuth2, "chat"));
  add(make("ws", "\xC3\xA9toile", AuthType::kApiKey, std::nullopt));
  add(make("ws", "apple", AuthType::kOAuth2, "devices"));
  add(make("ws", "Zoom", AuthType::kOAuth2, "chat"));
  add(make("ws", "stripe", AuthType::kApiKey, "payments"));
  add(make("ws", "app", AuthType::kApiKey, "chat"));
  add(make("other", "aaa-other", AuthType::kOAuth2, "chat"));
  const std::vector<std::string> all = {"Zoom", "app", "apple", "slack", "stripe", "\xC3\xA9toile"};

  auto list = [&](ProviderListQuery q) {
    auto page = storage->list_providers(q);
    REQUIRE(page.ok());
    return names_of(*page);
  };

  SECTION("everything of the workspace, by name") {
    CHECK(list({.workspace = "ws"}) == all);
    CHECK(list({.workspace = "other"}) == std::vector<std::string>{"aaa-other"});
    CHECK(list({.workspace = "nobody"}).empty());
  }

  SECTION("pages of two, each after the last name of the previous") {
    std::vector<std::string> seen;
    ProviderListQuery q{.workspace = "ws", .limit = 2};
    for (int page = 0; page < 10; ++page) {
      auto names = list(q);
      CHECK(names.size() <= 2);
      if (names.empty()) break;
      seen.insert(seen.end(), names.begin(), names.end());
      q.after_name = names.back();
    }
    CHECK(seen == all);
  }

  SECTION("after a name that is not stored") {
    CHECK(list({.workspace = "ws", .after_name = "apps"}) ==
          std::vector<std::string>{"slack", "stripe", "\xC3\xA9toile"});
  }

  SECTION("filters by auth_type and category") {
    CHECK(list({.workspace = "ws", .auth_type = AuthType::kApiKey}) ==
          std::vector<std::string>{"app", "stripe", "\xC3\xA9toile"});
    CHECK(list({.workspace = "ws", .category = "chat"}) ==
          std::vector<std::string>{"Zoom", "app", "slack"});
    CHECK(list({.workspace = "ws", .auth_type = AuthType::kOAuth2, .category = "chat"}) ==
          std::vector<std::string>{"Zoom", "slack"});
    CHECK(list({.workspace = "ws",
                .auth_type = AuthType::kOAuth2,
                .category = "chat",
                .after_name = "Zoom",
                .limit = 1}) == std::vector<std::string>{"slack"});
    CHECK(list({.workspace = "ws", .category = "none"}).empty());
  }

  SECTION("count per workspace") {
    CHECK(count(*storage, "ws") == 6);
    CHECK(count(*storage, "other") == 1);
    CHECK(count(*storage, "nobody") == 0);
  }
}

TEST_CASE("storage: every mutation appends one chained audit event", "[storage]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  const Provider v1 = minimal_provider("ws", "github");
  const Provider v2 = next_version(v1);

  std::vector<AuditEvent> sent;
  sent.push_back(event_for(audit_events::kProviderCreated, v1, kT0));
  sent.back().actor.reset();  // an unknown actor is stored as absent
  REQUIRE(storage->insert_provider(v1, sent.back()).ok());
  sent.push_back(event_for(audit_events::kProviderUpdated, v2, kT0 + 5ms));
  REQUIRE(storage->update_provider(v2, 1, sent.back()).ok());
  sent.push_back(event_for(audit_events::kProviderDeleted, v2, kT0 + 9ms));
  REQUIRE(storage->delete_provider("ws", "github", 2, sent.back()).ok());

  const auto chain = whole_chain(*storage, "ws");
  REQUIRE(chain.size() == 3);
  std::string prev(kGenesisHash);
  for (std::size_t i = 0; i < chain.size(); ++i) {
    INFO("event " << i + 1);
    const AuditEvent& e = chain[i];
    CHECK(e.seq == static_cast<std::int64_t>(i) + 1);
    CHECK(e.prev_hash == prev);
    CHECK(e.hash == audit_chain_hash(e));
    CHECK(e.hash.size() == 64);
    // Everything the caller supplied is stored unchanged.
    AuditEvent expected = sent[i];
    expected.seq = e.seq;
    expected.prev_hash = e.prev_hash;
    expected.hash = e.hash;
    CHECK(e == expected);
    prev = e.hash;
  }
  CHECK_FALSE(chain[0].actor.has_value());
  CHECK(chain[1].actor == std::optional<std::string>("key_test"));

  auto head = storage->audit_head("ws");
  REQUIRE(head.ok());
  CHECK(head->seq == 3);
  CHECK(head->hash == chain.back().hash);

  SECTION("each workspace has its own chain from genesis") {
    auto empty_head = storage->audit_head("other");
    REQUIRE(empty_head.ok());
    CHECK(empty_head->seq == 0);
    CHECK(empty_head->hash == kGenesisHash);

    const Provider p = minimal_provider("other", "github");
    REQUIRE(storage->insert_provider(p, event_for(audit_events::kProviderCreated, p)).ok());
    const auto other = whole_chain(*storage, "other");
    REQUIRE(other.size() == 1);
    CHECK(other[0].seq == 1);
    CHECK(other[0].prev_hash == kGenesisHash);
    CHECK(other[0].workspace == "other");
    CHECK(whole_chain(*storage, "ws").size() == 3);
  }
}

TEST_CASE("storage: a failed mutation stores neither data nor audit event", "[storage]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  const Provider v1 = full_provider("ws", "github");
  const AuditEvent created = event_for(audit_events::kProviderCreated, v1);
  REQUIRE(storage->insert_provider(v1, created).ok());
  const AuditHead head_before = storage->audit_head("ws").value();
  const Provider v2 = next_version(v1);
  const Provider other = minimal_provider("ws", "gitlab");

  Status failed;
  SECTION("duplicate name") {
    failed = storage->insert_provider(v1, event_for(audit_events::kProviderCreated, v1));
    CHECK(failed.code() == ErrorCode::kProviderExists);
  }
  SECTION("insert whose audit event cannot be stored (the row is written first)") {
    AuditEvent without_id = event_for(audit_events::kProviderCreated, other);
    without_id.id.clear();
    failed = storage->insert_provider(other, without_id);
    CHECK(failed.code() == ErrorCode::kInternal);
  }
  SECTION("update whose audit event cannot be stored") {
    AuditEvent without_id = event_for(audit_events::kProviderUpdated, v2);
    without_id.id.clear();
    failed = storage->update_provider(v2, 1, without_id);
    CHECK(failed.code() == ErrorCode::kInternal);
  }
  SECTION("delete whose audit event cannot be stored") {
    AuditEvent without_id = event_for(audit_events::kProviderDeleted, v1);
    without_id.id.clear();
    failed = storage->delete_provider("ws", "github", 1, without_id);
    CHECK(failed.code() == ErrorCode::kInternal);
  }
  SECTION("stale update") {
    failed = storage->update_provider(v2, 2, event_for(audit_events::kProviderUpdated, v2));
    CHECK(failed.code() == ErrorCode::kVersionConflict);
  }
  SECTION("stale delete") {
    failed =
        storage->delete_provider("ws", "github", 0, event_for(audit_events::kProviderDeleted, v1));
    CHECK(failed.code() == ErrorCode::kVersionConflict);
  }
  SECTION("update of an absent provider") {
    failed = storage->update_provider(other, 1, event_for(audit_events::kProviderUpdated, other));
    CHECK(failed.code() == ErrorCode::kProviderNotFound);
  }
  SECTION("delete of an absent provider") {
    failed = storage->delete_provider("ws", "gitlab", 1,
                                      event_for(audit_events::kProviderDeleted, other));
    CHECK(failed.code() == ErrorCode::kProviderNotFound);
  }

  CHECK_FALSE(failed.ok());
  CHECK(count(*storage, "ws") == 1);
  CHECK(storage->get_provider("ws", "github").value() == v1);
  CHECK(storage->get_provider("ws", "gitlab").status().code() == ErrorCode::kProviderNotFound);
  const AuditHead head_after = storage->audit_head("ws").value();
  CHECK(head_after.seq == head_before.seq);
  CHECK(head_after.hash == head_before.hash);
  CHECK(whole_chain(*storage, "ws").size() == 1);

  // The chain continues where it was: the failure left no hole.
  REQUIRE(storage->update_provider(v2, 1, event_for(audit_events::kProviderUpdated, v2)).ok());
  const auto chain = whole_chain(*storage, "ws");
  REQUIRE(chain.size() == 2);
  CHECK(chain[1].seq == 2);
  CHECK(chain[1].prev_hash == head_before.hash);
}

// Event ids are random and not checked for uniqueness (an index of random
// order on every append, see migration 6); an event without one is refused.
TEST_CASE("storage: an event needs an id but its id is not checked for uniqueness", "[storage]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  const Provider p = minimal_provider("ws", "github");
  const AuditEvent first = event_for("test.noted", p);
  REQUIRE(storage->append_audit(first).ok());

  AuditEvent without_id = event_for("test.noted", p);
  without_id.id.clear();
  const Status refused = storage->append_audit(without_id);
  CHECK(refused.code() == ErrorCode::kInternal);
  CHECK(refused.message() == "an audit event needs an id");
  CHECK(storage->audit_head("ws").value().seq == 1);

  AuditEvent same_id = event_for("test.noted", p);
  same_id.id = first.id;
  REQUIRE(storage->append_audit(same_id).ok());
  const auto chain = whole_chain(*storage, "ws");
  REQUIRE(chain.size() == 2);
  CHECK(chain[0].id == chain[1].id);
  CHECK(chain[1].prev_hash == chain[0].hash);
  auto report = AuditLog(*storage).verify("ws");
  REQUIRE(report.ok());
  CHECK(report->ok);
}

TEST_CASE("storage: scan_audit filters and returns newest first", "[storage]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  // seq: 1 create a @0, 2 create b @10, 3 update a @20, 4 delete b @30,
  //      5 update a @40.
  Provider a = minimal_provider("ws", "a");
  Provider b = minimal_provider("ws", "b");
  REQUIRE(storage->insert_provider(a, event_for(audit_events::kProviderCreated, a, kT0)).ok());
  REQUIRE(
      storage->insert_provider(b, event_for(audit_events::kProviderCreated, b, kT0 + 10ms)).ok());
  Provider a2 = next_version(a);
  REQUIRE(storage->update_provider(a2, 1, event_for(audit_events::kProviderUpdated, a2, kT0 + 20ms))
              .ok());
  REQUIRE(
      storage
          ->delete_provider("ws", "b", 1, event_for(audit_events::kProviderDeleted, b, kT0 + 30ms))
          .ok());
  Provider a3 = next_version(a2);
  REQUIRE(storage->update_provider(a3, 2, event_for(audit_events::kProviderUpdated, a3, kT0 + 40ms))
              .ok());
  const Provider noise = minimal_provider("other", "a");
  REQUIRE(storage->insert_provider(noise, event_for(audit_events::kProviderCreated, noise)).ok());

  auto scan = [&](AuditScan s) {
    auto events = storage->scan_audit(s);
    REQUIRE(events.ok());
    for (const auto& e : *events) CHECK(e.workspace == "ws");
    return seqs_of(*events);
  };
  using Seqs = std::vector<std::int64_t>;
  CHECK(scan({.workspace = "ws"}) == Seqs{5, 4, 3, 2, 1});
  CHECK(scan({.workspace = "ws", .limit = 2}) == Seqs{5, 4});
  CHECK(scan({.workspace = "ws", .event_type = std::string(audit_events::kProviderUpdated)}) ==
        Seqs{5, 3});
  CHECK(scan({.workspace = "ws", .provider_name = "a"}) == Seqs{5, 3, 1});
  CHECK(scan({.workspace = "ws", .since = kT0 + 20ms}) == Seqs{5, 4, 3});
  CHECK(scan({.workspace = "ws", .until = kT0 + 20ms}) == Seqs{2, 1});
  CHECK(scan({.workspace = "ws", .since = kT0 + 10ms, .until = kT0 + 30ms}) == Seqs{3, 2});
  CHECK(scan({.workspace = "ws", .before_seq = 3}) == Seqs{2, 1});
  CHECK(scan({.workspace = "ws", .before_seq = 1}).empty());
  CHECK(scan({.workspace = "ws", .provider_name = "a", .before_seq = 5, .limit = 1}) == Seqs{3});
  CHECK(scan({.workspace = "ws",
              .event_type = std::string(audit_events::kProviderCreated),
              .since = kT0 + 5ms,
              .provider_name = "b"}) == Seqs{2});
  CHECK(scan({.workspace = "ws", .provider_name = "nobody"}).empty());
  CHECK(scan({.workspace = "nobody"}).empty());

  SECTION("audit_chain reads ascending after a seq") {
    auto chain = [&](std::int64_t after, std::size_t limit) {
      auto events = storage->audit_chain("ws", after, limit);
      REQUIRE(events.ok());
      return seqs_of(*events);
    };
    CHECK(chain(0, 2) == Seqs{1, 2});
    CHECK(chain(2, 100) == Seqs{3, 4, 5});
    CHECK(chain(5, 100).empty());
  }
}

TEST_CASE("storage: ping answers", "[storage]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  CHECK(storage->ping().ok());
}

// Eight threads create, patch one shared provider (read, modify, update with
// the version read, retry on conflict) and list, all at once.
TEST_CASE("storage: concurrent writers lose no update", "[storage][concurrency]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  constexpr int kThreads = 8;
  constexpr int kIncrements = 20;
  constexpr int kCreates = 5;
  constexpr int kMaxAttempts = 10'000;  // a livelock fails the test instead of hanging it

  Provider counter = minimal_provider("ws", "counter");
  counter.spec.params["count"] = std::int64_t{0};
  REQUIRE(
      storage->insert_provider(counter, event_for(audit_events::kProviderCreated, counter)).ok());

  std::mutex failures_mu;
  std::vector<std::string> failures;  // guarded by failures_mu; checked after join
  auto fail = [&](std::string what, const Status& status) {
    std::lock_guard lock(failures_mu);
    failures.push_back(what + ": " + std::string(to_string(status.code())) + " " +
                       status.message());
  };
  std::atomic<int> conflicts{0};
  std::latch start(kThreads);

  auto worker = [&](int t) {
    start.arrive_and_wait();
    for (int i = 0; i < kIncrements; ++i) {
      if (i < kCreates) {
        Provider own = minimal_provider("ws", "t" + std::to_string(t) + "-" + std::to_string(i));
        Status s = storage->insert_provider(own, event_for(audit_events::kProviderCreated, own));
        if (!s.ok()) fail("create", s);
      }
      bool done = false;
      for (int attempt = 0; attempt < kMaxAttempts && !done; ++attempt) {
        auto read = storage->get_provider("ws", "counter");
        if (!read.ok()) {
          fail("get", read.status());
          return;
        }
        const std::int64_t read_version = read->version;
        Provider next = next_version(*read);
        next.spec.params["count"] = std::get<std::int64_t>(read->spec.params.at("count")) + 1;
        Status s = storage->update_provider(next, read_version,
                                            event_for(audit_events::kProviderUpdated, next));
        if (s.ok()) {
          done = true;
        } else if (s.code() == ErrorCode::kVersionConflict) {
          ++conflicts;
        } else {
          fail("update", s);
          return;
        }
      }
      if (!done) fail("update", Status(ErrorCode::kInternal, "too many conflicts"));
      auto page = storage->list_providers({.workspace = "ws", .limit = 1000});
      if (!page.ok()) {
        fail("list", page.status());
      } else if (!std::is_sorted(page->begin(), page->end(), [](const auto& x, const auto& y) {
                   return x.spec.name < y.spec.name;
                 })) {
        fail("list", Status(ErrorCode::kInternal, "not ordered by name"));
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (auto& thread : threads) thread.join();

  CHECK(failures == std::vector<std::string>{});
  const std::int64_t total = kThreads * kIncrements;
  auto final_counter = storage->get_provider("ws", "counter");
  REQUIRE(final_counter.ok());
  CHECK(std::get<std::int64_t>(final_counter->spec.params.at("count")) == total);
  CHECK(final_counter->version == 1 + total);
  CHECK(count(*storage, "ws") == 1 + kThreads * kCreates);

  auto report = AuditLog(*storage).verify("ws");
  REQUIRE(report.ok());
  CHECK(report->ok);
  CHECK(report->reason == "");
  CHECK(report->events_checked == 1 + total + kThreads * kCreates);
  CHECK(storage->audit_head("ws").value().seq == report->events_checked);
  INFO("version conflicts retried: " << conflicts.load());
}

}  // namespace
}  // namespace nexus::testing

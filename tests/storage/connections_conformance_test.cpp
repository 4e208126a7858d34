// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// The connection and sealed-value part of the Storage contract, run against
// every backend.
#include <algorithm>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>

#include "nexus/audit.hpp"
#include "nexus/connections.hpp"
#include "nexus/storage.hpp"
#include "nexus/vault.hpp"
#include "storage/conformance.hpp"

namespace nexus::testing {
namespace {

using namespace std::chrono_literals;

Provider stored_provider(Storage& storage, std::string_view ws, std::string_view name) {
  Provider p = full_provider(ws, name);
  p.spec.client_secret.reset();
  p.sealed_client_secret = fake_envelope("k1", std::string(name) + "-cs");
  REQUIRE(storage.insert_provider(p, event_for(audit_events::kProviderCreated, p)).ok());
  return p;
}

// Connection con_1 of user u1 through `p`, stored.
ConnectionRecord stored_connection(Storage& storage, const Provider& p) {
  ConnectionRecord c = connection_for(p, "con_1", "u1");
  REQUIRE(storage.insert_connection(c, connection_event(c, "connection.created")).ok());
  return c;
}

TEST_CASE("storage: connections round-trip with their sealed values", "[storage]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  Provider p = stored_provider(*storage, "ws", "stripe");
  CHECK(storage->get_provider("ws", "stripe")->sealed_client_secret == p.sealed_client_secret);
  CHECK(storage->get_provider_by_id("ws", p.id).value() == p);
  CHECK(storage->get_provider_by_id("other", p.id).status().code() == ErrorCode::kProviderNotFound);

  ConnectionRecord c = connection_for(p, "con_1", "u-42");
  REQUIRE(storage->insert_connection(c, connection_event(c, "connection.created")).ok());
  CHECK(storage->get_connection("ws", "con_1").value() == c);
  CHECK(storage->get_connection("other", "con_1").status().code() == ErrorCode::kNotFound);
  CHECK(storage->audit_head("ws")->seq == 2);

  // A connection to a provider that does not exist is refused, and leaves nothing.
  ConnectionRecord orphan = c;
  orphan.id = "con_orphan";
  orphan.provider_id = "prv_missing";
  CHECK(storage->insert_connection(orphan, connection_event(orphan, "connection.created")).code() ==
        ErrorCode::kProviderNotFound);
  CHECK(storage->get_connection("ws", "con_orphan").status().code() == ErrorCode::kNotFound);
  CHECK(storage->audit_head("ws")->seq == 2);
  // A taken id is refused too.
  CHECK(storage->insert_connection(c, connection_event(c, "connection.again")).code() ==
        ErrorCode::kInternal);
  CHECK(storage->audit_head("ws")->seq == 2);
}

TEST_CASE("storage: connections list by id with filters and pages", "[storage]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  Provider stripe = stored_provider(*storage, "ws", "stripe");
  Provider other = stored_provider(*storage, "ws", "openai");
  for (auto [id, p, user] : {std::tuple{"con_c", &stripe, "u1"}, std::tuple{"con_a", &stripe, "u2"},
                             std::tuple{"con_b", &other, "u1"}}) {
    ConnectionRecord c = connection_for(*p, id, user);
    REQUIRE(storage->insert_connection(c, connection_event(c, "connection.created")).ok());
  }
  auto ids = [&](ConnectionListQuery q) {
    auto rows = storage->list_connections(q);
    REQUIRE(rows.ok());
    std::vector<std::string> out;
    for (const auto& c : rows.value()) out.push_back(c.id);
    return out;
  };
  CHECK(ids({.workspace = "ws"}) == std::vector<std::string>{"con_a", "con_b", "con_c"});
  CHECK(ids({.workspace = "ws", .provider_name = "stripe"}) ==
        std::vector<std::string>{"con_a", "con_c"});
  CHECK(ids({.workspace = "ws", .user_id = "u1"}) == std::vector<std::string>{"con_b", "con_c"});
  CHECK(ids({.workspace = "ws", .after_id = "con_a", .limit = 1}) ==
        std::vector<std::string>{"con_b"});
  CHECK(ids({.workspace = "elsewhere"}).empty());

  // A listing names the credential fields but never carries their envelopes.
  auto rows = storage->list_connections({.workspace = "ws"});
  REQUIRE(rows.ok());
  for (const ConnectionRecord& c : rows.value()) {
    REQUIRE_FALSE(c.credentials.empty());
    for (const SealedField& f : c.credentials) {
      CHECK_FALSE(f.name.empty());
      CHECK(f.envelope.empty());
    }
    CHECK_FALSE(storage->get_connection("ws", c.id)->credentials.at(0).envelope.empty());
  }
}

TEST_CASE("storage: deleting a provider marks its connections and erases their values",
          "[storage]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  Provider stripe = stored_provider(*storage, "ws", "stripe");
  Provider keep = stored_provider(*storage, "ws", "openai");
  ConnectionRecord gone = connection_for(stripe, "con_1", "u1");
  ConnectionRecord kept = connection_for(keep, "con_2", "u1");
  REQUIRE(storage->insert_connection(gone, connection_event(gone, "connection.created")).ok());
  REQUIRE(storage->insert_connection(kept, connection_event(kept, "connection.created")).ok());

  AuditEvent del = event_for(audit_events::kProviderDeleted, stripe, kT0 + 5s);
  REQUIRE(storage->delete_provider("ws", "stripe", stripe.version, del).ok());
  auto after = storage->get_connection("ws", "con_1");
  REQUIRE(after.ok());
  CHECK(after->status == ConnectionStatus::kProviderDeleted);
  CHECK(after->credentials.empty());
  CHECK(after->updated_at == kT0 + 5s);
  CHECK(storage->get_connection("ws", "con_2").value() == kept);
  CHECK(storage->get_provider_by_id("ws", stripe.id).status().code() ==
        ErrorCode::kProviderNotFound);
  auto counts = storage->envelope_key_counts();
  REQUIRE(counts.ok());
  CHECK(counts->at("k1") == 3);  // openai's secret and kept's two values
}

TEST_CASE("storage: delete_connection and append_audit", "[storage]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  Provider p = stored_provider(*storage, "ws", "stripe");
  ConnectionRecord c = stored_connection(*storage, p);
  REQUIRE(storage->append_audit(connection_event(c, "token_retrieved")).ok());
  CHECK(storage->audit_head("ws")->seq == 3);
  REQUIRE(
      storage->delete_connection("ws", "con_1", connection_event(c, "connection.deleted")).ok());
  CHECK(storage->get_connection("ws", "con_1").status().code() == ErrorCode::kNotFound);
  CHECK(storage->delete_connection("ws", "con_1", connection_event(c, "connection.again")).code() ==
        ErrorCode::kNotFound);
  CHECK(storage->audit_head("ws")->seq == 4);
  CHECK(storage->envelope_key_counts()->at("k1") == 1);  // the provider's secret only
  AuditLog audit(*storage);
  CHECK(audit.verify("ws")->ok);
}

TEST_CASE("storage: append_audit_async appends like append_audit, then completes once",
          "[storage][async]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  Provider p = stored_provider(*storage, "ws", "stripe");
  ConnectionRecord c = stored_connection(*storage, p);
  const std::int64_t seq = storage->audit_head("ws")->seq;

  std::mutex mu;
  std::condition_variable cv;
  std::vector<Status> outcomes;  // GUARDED_BY(mu)
  auto done = [&](Status s) {
    std::lock_guard lock(mu);
    outcomes.push_back(std::move(s));
    cv.notify_all();
  };
  AuditEvent taken = connection_event(c, "token_retrieved");
  storage->append_audit_async(taken, done);
  AuditEvent without_id = connection_event(c, "token_retrieved");
  without_id.id.clear();  // refused: fails, stores nothing
  storage->append_audit_async(without_id, done);
  {
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, 60s, [&] { return outcomes.size() == 2; }));
  }
  CHECK(storage->audit_head("ws")->seq == seq + 1);
  auto stored = storage->audit_chain("ws", seq, 10);
  REQUIRE(stored.ok());
  REQUIRE(stored->size() == 1);
  CHECK(stored->at(0).id == taken.id);
  CHECK(AuditLog(*storage).verify("ws")->ok);
  storage.storage.reset();  // runs whatever is queued: no late completion
  std::lock_guard lock(mu);
  REQUIRE(outcomes.size() == 2);
  CHECK(outcomes[0].ok());
  CHECK(outcomes[1].code() == ErrorCode::kInternal);
}

// read_connection_recorded, or its async form when `async`: what the read
// found (by value), and what the call returned.
struct RecordedRead {
  std::optional<ConnectionRead> found;
  Status status;
};

RecordedRead read_recorded(Storage& storage, bool async, std::string_view ws, std::string_view id,
                           std::function<AuditEvent(const ConnectionRead&)> make_event) {
  RecordedRead out;
  int calls = 0;
  ReadRecorder record = [&](const ConnectionRead& read) {
    ++calls;
    out.found = read;
    return make_event(read);
  };
  if (!async) {
    out.status = storage.read_connection_recorded(ws, id, record);
  } else {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Status> outcome;  // GUARDED_BY(mu)
    storage.read_connection_recorded_async(ws, id, record, [&](Status s) {
      std::lock_guard lock(mu);
      outcome = std::move(s);
      cv.notify_all();
    });
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, 60s, [&] { return outcome.has_value(); }));
    out.status = std::move(*outcome);
  }
  CHECK(calls == 1);
  return out;
}

TEST_CASE("storage: read_connection_recorded reads, then appends the recorder's event",
          "[storage][async]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  const bool async = GENERATE(false, true);
  INFO("async: " << async);
  auto storage = backend.make();
  Provider p = stored_provider(*storage, "ws", "stripe");
  ConnectionRecord c = stored_connection(*storage, p);
  std::int64_t seq = storage->audit_head("ws")->seq;
  auto appended_since = [&](std::int64_t after) {
    auto events = storage->audit_chain("ws", after, 10);
    REQUIRE(events.ok());
    return std::move(events).value();
  };

  // Found: the connection with its sealed values, and the provider.
  AuditEvent taken = connection_event(c, "token_retrieved");
  RecordedRead read =
      read_recorded(*storage, async, "ws", "con_1", [&](const ConnectionRead&) { return taken; });
  CHECK(read.status.ok());
  REQUIRE(read.found);
  CHECK(read.found->connection.value() == c);
  CHECK(read.found->provider.value() == ProviderBrief{.id = p.id,
                                                      .name = p.spec.name,
                                                      .auth_type = p.spec.auth_type,
                                                      .api_base_url = p.spec.api_base_url});
  auto events = appended_since(seq);
  REQUIRE(events.size() == 1);
  CHECK(events[0].id == taken.id);
  seq = events[0].seq;

  // Not found, here or in another workspace: the event is appended all the same.
  for (auto [ws, id] : {std::pair{"ws", "con_missing"}, std::pair{"other", "con_1"}}) {
    AuditEvent failed = connection_event(c, "token_retrieval_failed");
    failed.id += id;
    failed.workspace = ws;
    read = read_recorded(*storage, async, ws, id, [&](const ConnectionRead&) { return failed; });
    CHECK(read.status.ok());
    REQUIRE(read.found);
    CHECK(read.found->connection.status().code() == ErrorCode::kNotFound);
    CHECK(!read.found->provider.ok());
  }
  events = appended_since(seq);
  REQUIRE(events.size() == 1);  // the one of "ws"
  seq = events[0].seq;

  // A recorder that throws: kInternal, and nothing is appended.
  read = read_recorded(*storage, async, "ws", "con_1", [](const ConnectionRead&) -> AuditEvent {
    throw std::runtime_error("recorder failed");
  });
  CHECK(read.status.code() == ErrorCode::kInternal);
  CHECK(read.status.message().find("recorder failed") == std::string::npos);
  CHECK(storage->audit_head("ws")->seq == seq);

  // An event the storage refuses: its error, and nothing is appended.
  read = read_recorded(*storage, async, "ws", "con_1", [&](const ConnectionRead&) {
    AuditEvent without_id = taken;
    without_id.id.clear();
    return without_id;
  });
  CHECK(read.status.code() == ErrorCode::kInternal);
  CHECK(storage->audit_head("ws")->seq == seq);

  // Once the provider is gone: the connection as it was left, no provider.
  REQUIRE(storage
              ->delete_provider("ws", "stripe", p.version,
                                event_for(audit_events::kProviderDeleted, p, kT0 + 5s))
              .ok());
  seq = storage->audit_head("ws")->seq;
  AuditEvent late = connection_event(c, "token_retrieval_failed");
  late.id += "-late";
  read = read_recorded(*storage, async, "ws", "con_1", [&](const ConnectionRead&) { return late; });
  CHECK(read.status.ok());
  REQUIRE(read.found);
  CHECK(read.found->connection.value().status == ConnectionStatus::kProviderDeleted);
  CHECK(read.found->connection.value().credentials.empty());
  CHECK(read.found->provider.status().code() == ErrorCode::kProviderNotFound);
  CHECK(storage->audit_head("ws")->seq == seq + 1);
  CHECK(AuditLog(*storage).verify("ws")->ok);
}

// The SQLite backend keeps what a credential read found, for the next read
// of the same connection: every change in between must still be seen.
TEST_CASE("storage: a credential read sees every change made since the previous read",
          "[storage][async]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  const bool async = GENERATE(false, true);
  INFO("async: " << async);
  auto storage = backend.make();
  Provider p = stored_provider(*storage, "ws", "stripe");
  ConnectionRecord c = stored_connection(*storage, p);
  int n = 0;
  auto read = [&](std::string_view id) {
    RecordedRead r = read_recorded(*storage, async, "ws", id, [&](const ConnectionRead&) {
      AuditEvent e = connection_event(c, "token_retrieved");
      e.id += std::to_string(++n);
      return e;
    });
    REQUIRE(r.status.ok());
    REQUIRE(r.found);
    return std::move(*r.found);
  };
  for (int i = 0; i < 2; ++i) CHECK(read("con_1").connection.value() == c);

  // The values re-sealed (a key rotation).
  reseal_all(*storage, "k2");
  ConnectionRecord resealed = read("con_1").connection.value();
  REQUIRE(resealed.credentials.size() == 2);
  for (const SealedField& f : resealed.credentials) {
    CHECK(f.envelope == fake_envelope("k2", "credentials." + f.name));
  }

  // The provider changed.
  Provider v2 = next_version(p);
  v2.spec.api_base_url = "https://api2.stripe.com";
  REQUIRE(storage->update_provider(v2, p.version, event_for(audit_events::kProviderUpdated, v2))
              .ok());
  CHECK(read("con_1").provider.value().api_base_url == "https://api2.stripe.com");

  // The connection deleted: not found, nor its values.
  REQUIRE(storage->delete_connection("ws", "con_1", connection_event(c, "connection.deleted"))
              .ok());
  CHECK(read("con_1").connection.status().code() == ErrorCode::kNotFound);

  // Another connection, read, then its provider deleted.
  ConnectionRecord c2 = connection_for(v2, "con_2", "u2");
  REQUIRE(storage->insert_connection(c2, connection_event(c2, "connection.created")).ok());
  CHECK(read("con_2").connection.value() == c2);
  REQUIRE(storage
              ->delete_provider("ws", "stripe", v2.version,
                                event_for(audit_events::kProviderDeleted, v2, kT0 + 5s))
              .ok());
  ConnectionRead after = read("con_2");
  CHECK(after.connection.value().status == ConnectionStatus::kProviderDeleted);
  CHECK(after.connection.value().credentials.empty());
  CHECK(!after.provider.ok());
}

TEST_CASE("storage: a credential read's event records the state it read, even under deletion",
          "[storage][async]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  Provider p = stored_provider(*storage, "ws", "stripe");
  ConnectionRecord c = stored_connection(*storage, p);

  // Reads from another thread, before, while and after the provider is
  // deleted; each event says what its read found.
  std::mutex mu;
  std::condition_variable cv;
  int completed = 0;     // GUARDED_BY(mu)
  int failed = 0;        // GUARDED_BY(mu)
  bool deleted = false;  // GUARDED_BY(mu)
  auto read_once = [&](int i) {
    ReadRecorder record = [&c, i](const ConnectionRead& read) {
      AuditEvent e = connection_event(c, read.provider.ok() ? audit_events::kTokenRetrieved
                                                            : audit_events::kTokenRetrievalFailed);
      e.id = "evt_read_" + std::to_string(i);
      return e;
    };
    storage->read_connection_recorded_async("ws", "con_1", record, [&](Status s) {
      std::lock_guard lock(mu);
      ++completed;
      if (!s.ok()) ++failed;
      cv.notify_all();
    });
  };
  constexpr int kAfter = 100;  // reads started once the deletion has returned
  int started = 0;
  std::thread reader([&] {
    for (int after = 0; after < kAfter; ++started) {
      bool after_deletion = false;
      {
        std::lock_guard lock(mu);
        after_deletion = deleted;
      }
      read_once(started);
      if (after_deletion) ++after;
      // Up to 64 in flight, as a server's connections would have.
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return started + 1 - completed < 64; });
    }
  });
  {
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, 60s, [&] { return completed >= 50; }));
  }
  AuditEvent del = event_for(audit_events::kProviderDeleted, p, kT0 + 5s);
  REQUIRE(storage->delete_provider("ws", "stripe", p.version, del).ok());
  {
    std::lock_guard lock(mu);
    deleted = true;
  }
  reader.join();
  {
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, 60s, [&] { return completed == started; }));
    CHECK(failed == 0);
  }

  auto chain = storage->audit_chain("ws", 0, 1'000'000);
  REQUIRE(chain.ok());
  std::optional<std::int64_t> deleted_at;
  for (const AuditEvent& e : *chain) {
    if (e.id == del.id) deleted_at = e.seq;
  }
  REQUIRE(deleted_at);
  int retrieved = 0;
  int refused = 0;
  int misplaced = 0;  // a read recorded on the wrong side of the deletion
  for (const AuditEvent& e : *chain) {
    if (e.event_type == audit_events::kTokenRetrieved) {
      ++retrieved;
      if (e.seq > *deleted_at) ++misplaced;
    } else if (e.event_type == audit_events::kTokenRetrievalFailed) {
      ++refused;
      if (e.seq < *deleted_at) ++misplaced;
    }
  }
  CHECK(misplaced == 0);
  CHECK(retrieved >= 50);
  CHECK(refused >= kAfter);
  CHECK(retrieved + refused == started);
}

TEST_CASE("storage: envelopes are listed by key and replaced only if unchanged", "[storage]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  Provider p = stored_provider(*storage, "ws", "stripe");
  ConnectionRecord c = stored_connection(*storage, p);

  auto old = storage->envelopes_not_under("k2", 10);
  REQUIRE(old.ok());
  REQUIRE(old->size() == 3);
  CHECK(storage->envelopes_not_under("k1", 10)->empty());
  CHECK(storage->envelopes_not_under("k2", 2)->size() == 2);
  std::vector<std::string> fields;
  for (const auto& ref : old.value()) fields.push_back(ref.owner_kind + ":" + ref.field);
  std::sort(fields.begin(), fields.end());
  CHECK(fields == std::vector<std::string>{"connection:credentials.api_key",
                                           "connection:credentials.secret_key",
                                           "provider:client_secret"});

  std::vector<std::string> replacement;
  for (const auto& ref : old.value()) replacement.push_back(fake_envelope("k2", ref.owner_id));
  // A stale expectation (value changed meanwhile) is skipped, not overwritten.
  std::vector<EnvelopeRef> stale = old.value();
  stale[0].envelope = "changed meanwhile";
  auto skipped = storage->replace_envelopes(stale, replacement);
  REQUIRE(skipped.ok());
  CHECK(skipped.value() == 2);
  auto replaced = storage->replace_envelopes(old.value(), replacement);
  REQUIRE(replaced.ok());
  CHECK(replaced.value() == 1);
  auto counts = storage->envelope_key_counts();
  REQUIRE(counts.ok());
  CHECK(counts->size() == 1);
  CHECK(counts->at("k2") == 3);
  CHECK(storage->envelopes_not_under("k2", 10)->empty());
}

}  // namespace
}  // namespace nexus::testing

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// The audit log: the chain hash, verification against tampering, queries and
// the JSON view.
#include "nexus/audit.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <vector>

#include "detail/encoding.hpp"
#include "nexus/json.hpp"
#include "nexus/storage.hpp"
#include "storage/conformance.hpp"
#include "storage/raw_sqlite.hpp"

namespace nexus::testing {
namespace {

using namespace std::chrono_literals;
using Seqs = std::vector<std::int64_t>;

AuditEvent sample_event() {
  AuditEvent e;
  e.id = "evt_0123456789abcdefghjkmnpqrs";
  e.workspace = "default";
  e.seq = 3;
  e.event_type = std::string(audit_events::kProviderUpdated);
  e.provider_name = "github";
  e.provider_id = "prv_0123456789abcdefghjkmnpqrs";
  e.actor = "key_admin";
  e.caller_ip = "198.51.100.4";
  e.user_agent = "curl/8.0";
  e.at = kT0;
  e.data = R"({"changed":["scopes"]})";
  e.prev_hash = std::string(64, 'a');
  return e;
}

TEST_CASE("audit: the chain hash covers every field but its own", "[audit]") {
  const AuditEvent base = sample_event();
  const std::string base_hash = audit_chain_hash(base);
  CHECK(base_hash.size() == 64);
  CHECK(base_hash.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(audit_chain_hash(base) == base_hash);

  // Pinned: changing the encoding must be a deliberate, versioned change.
  CHECK(base_hash == "fd1e17bcc7c092722945ca3ca450c43ca19e97bc3b3b7dae9e4b459efe1f473a");

  using Edit = std::function<void(AuditEvent&)>;
  const std::vector<std::pair<std::string, Edit>> edits = {
      {"id", [](AuditEvent& e) { e.id += "x"; }},
      {"workspace", [](AuditEvent& e) { e.workspace = "other"; }},
      {"seq", [](AuditEvent& e) { e.seq += 1; }},
      {"event_type", [](AuditEvent& e) { e.event_type = audit_events::kProviderDeleted; }},
      {"provider_name", [](AuditEvent& e) { e.provider_name = "gitlab"; }},
      {"provider_id", [](AuditEvent& e) { e.provider_id += "x"; }},
      {"actor absent", [](AuditEvent& e) { e.actor.reset(); }},
      {"actor empty", [](AuditEvent& e) { e.actor = ""; }},
      {"actor", [](AuditEvent& e) { e.actor = "key_other"; }},
      {"caller_ip", [](AuditEvent& e) { e.caller_ip = "198.51.100.5"; }},
      {"user_agent", [](AuditEvent& e) { e.user_agent = "curl/8.1"; }},
      {"at", [](AuditEvent& e) { e.at += 1ms; }},
      {"data", [](AuditEvent& e) { e.data = R"({"changed":["scope"]})"; }},
      {"prev_hash", [](AuditEvent& e) { e.prev_hash[0] = 'b'; }},
      // Moving a byte from one field to the next must not collide.
      {"field boundary",
       [](AuditEvent& e) {
         e.provider_name = "githu";
         e.provider_id = "b" + e.provider_id;
       }},
  };
  for (const auto& [field, edit] : edits) {
    INFO("changed: " << field);
    AuditEvent changed = base;
    edit(changed);
    CHECK(audit_chain_hash(changed) != base_hash);
  }

  AuditEvent with_hash = base;
  with_hash.hash = "anything";
  CHECK(audit_chain_hash(with_hash) == base_hash);
}

// A SQLite log of five events in "ws" (and two in "other") to tamper with.
//   1 create a, 2 update a, 3 create b, 4 update a, 5 update b
struct TamperFixture {
  TempDir dir;
  std::string path = dir.file("nexus.db");
  std::unique_ptr<Storage> storage;

  TamperFixture() {
    auto opened = open_sqlite_storage(path);
    REQUIRE(opened.ok());
    storage = std::move(opened).value();
    Provider a = minimal_provider("ws", "a");
    Provider b = minimal_provider("ws", "b");
    create(a);
    a = update(a);
    create(b);
    a = update(a);
    b = update(b);
    Provider c = minimal_provider("other", "c");
    create(c);
    update(c);
  }

  void create(const Provider& p) {
    REQUIRE(storage->insert_provider(p, event_for(audit_events::kProviderCreated, p)).ok());
  }
  Provider update(const Provider& p) {
    Provider next = next_version(p);
    REQUIRE(
        storage->update_provider(next, p.version, event_for(audit_events::kProviderUpdated, next))
            .ok());
    return next;
  }
  AuditEvent event(std::int64_t seq) {
    auto events = storage->audit_chain("ws", seq - 1, 1);
    REQUIRE(events.ok());
    REQUIRE(events->size() == 1);
    return events->front();
  }
  AuditVerifyReport verify(std::string_view workspace = "ws") {
    auto report = AuditLog(*storage).verify(workspace);
    REQUIRE(report.ok());
    return std::move(report).value();
  }
};

TEST_CASE("audit: verify accepts an intact chain", "[audit]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  AuditLog log(*storage);

  auto empty = log.verify("ws");
  REQUIRE(empty.ok());
  CHECK(empty->ok);
  CHECK(empty->events_checked == 0);
  CHECK_FALSE(empty->broken_seq);

  Provider p = minimal_provider("ws", "github");
  REQUIRE(storage->insert_provider(p, event_for(audit_events::kProviderCreated, p)).ok());
  for (int i = 0; i < 4; ++i) {
    Provider next = next_version(p);
    REQUIRE(
        storage->update_provider(next, p.version, event_for(audit_events::kProviderUpdated, next))
            .ok());
    p = next;
  }
  REQUIRE(
      storage
          ->delete_provider("ws", "github", p.version, event_for(audit_events::kProviderDeleted, p))
          .ok());
  auto report = log.verify("ws");
  REQUIRE(report.ok());
  CHECK(report->ok);
  CHECK(report->events_checked == 6);
  CHECK_FALSE(report->broken_seq);
  CHECK(report->reason.empty());
}

TEST_CASE("audit: verify walks a chain longer than one batch", "[audit]") {
  auto storage = make_memory_storage();
  constexpr int kUpdates = 1'100;  // more than two of verify's batches
  Provider p = minimal_provider("ws", "github");
  REQUIRE(storage->insert_provider(p, event_for(audit_events::kProviderCreated, p)).ok());
  for (int i = 0; i < kUpdates; ++i) {
    Provider next = next_version(p);
    REQUIRE(
        storage->update_provider(next, p.version, event_for(audit_events::kProviderUpdated, next))
            .ok());
    p = next;
  }
  auto report = AuditLog(*storage).verify("ws");
  REQUIRE(report.ok());
  CHECK(report->ok);
  CHECK(report->events_checked == kUpdates + 1);
}

TEST_CASE("audit: verify finds the first broken link of a tampered log", "[audit][sqlite]") {
  TamperFixture f;
  REQUIRE(f.verify().ok);
  RawSqlite raw(f.path);
  const std::string where = " WHERE workspace = 'ws' AND seq = ";

  std::int64_t broken = 0;
  std::string reason;
  std::optional<std::int64_t> checked;  // events that passed; broken - 1 unless set
  SECTION("an edited caller_ip") {
    raw.exec("UPDATE audit_events SET caller_ip = '10.0.0.1'" + where + "3");
    broken = 3;
    reason = "event 3: hash does not match its content";
  }
  SECTION("edited data") {
    raw.exec(R"(UPDATE audit_events SET data = '{"name":"evil"}')" + where + "2");
    broken = 2;
    reason = "event 2: hash does not match its content";
  }
  SECTION("an edited timestamp") {
    raw.exec("UPDATE audit_events SET at = at + 1" + where + "4");
    broken = 4;
    reason = "event 4: hash does not match its content";
  }
  SECTION("an edited event whose hash was recomputed") {
    AuditEvent e = f.event(3);
    e.caller_ip = "10.0.0.1";
    raw.exec("UPDATE audit_events SET caller_ip = '10.0.0.1', hash = '" + audit_chain_hash(e) +
             "'" + where + "3");
    broken = 4;
    reason = "event 4: prev_hash does not match event 3";
  }
  SECTION("a first event that does not start from genesis") {
    AuditEvent e = f.event(1);
    e.prev_hash = std::string(64, 'f');
    raw.exec("UPDATE audit_events SET prev_hash = '" + e.prev_hash + "', hash = '" +
             audit_chain_hash(e) + "'" + where + "1");
    broken = 1;
    reason = "event 1: prev_hash is not the genesis hash";
  }
  SECTION("a deleted event in the middle") {
    raw.exec("DELETE FROM audit_events" + where + "3");
    broken = 3;
    reason = "gap: event 3 missing";
  }
  SECTION("the newest event deleted") {
    raw.exec("DELETE FROM audit_events" + where + "5");
    broken = 5;
    reason = "chain head says seq 5 but the log ends at 4";
  }
  SECTION("a chain head that does not match the last event") {
    raw.exec("UPDATE audit_heads SET hash = '" + std::string(64, '0') + "' WHERE workspace = 'ws'");
    broken = 5;
    reason = "chain head hash does not match event 5";
    checked = 5;  // every event is sound; only the head is not
  }
  SECTION("two events swapped") {
    // Through negative seqs: the primary key forbids a direct swap.
    raw.exec("UPDATE audit_events SET seq = -seq WHERE workspace = 'ws' AND seq IN (2, 3)");
    raw.exec(
        "UPDATE audit_events SET seq = CASE seq WHEN -2 THEN 3 ELSE 2 END "
        "WHERE workspace = 'ws' AND seq IN (-2, -3)");
    REQUIRE(f.event(2).provider_name == "b");  // the event created as 3 now stands at 2
    broken = 2;
    reason = "event 2: hash does not match its content";
  }

  const AuditVerifyReport report = f.verify();
  CHECK_FALSE(report.ok);
  CHECK(report.broken_seq == std::optional<std::int64_t>(broken));
  CHECK(report.reason == reason);
  CHECK(report.events_checked == checked.value_or(broken - 1));
  // Another workspace's chain is unaffected.
  const AuditVerifyReport other = f.verify("other");
  CHECK(other.ok);
  CHECK(other.events_checked == 2);
}

// Seven events: 1 create a @0, 2 create b @10, then updates of a, b, a, b, a
// at 20..60 ms (seq 3..7).
void seed_seven(Storage& storage) {
  Provider a = minimal_provider("ws", "a");
  Provider b = minimal_provider("ws", "b");
  REQUIRE(storage.insert_provider(a, event_for(audit_events::kProviderCreated, a, kT0)).ok());
  REQUIRE(
      storage.insert_provider(b, event_for(audit_events::kProviderCreated, b, kT0 + 10ms)).ok());
  for (int i = 0; i < 5; ++i) {
    Provider& p = i % 2 == 0 ? a : b;
    Provider next = next_version(p);
    const Timestamp at = kT0 + std::chrono::milliseconds(20 + 10 * i);
    REQUIRE(
        storage
            .update_provider(next, p.version, event_for(audit_events::kProviderUpdated, next, at))
            .ok());
    p = next;
  }
}

// Every page of `query`, following next_cursor; REQUIREs each to succeed.
std::vector<Seqs> pages(const AuditLog& log, AuditQuery query) {
  std::vector<Seqs> out;
  constexpr int kMaxPages = 100;
  for (int i = 0; i < kMaxPages; ++i) {
    auto page = log.query("ws", query);
    REQUIRE(page.ok());
    out.push_back(seqs_of(page->events));
    if (!page->next_cursor) break;
    query.cursor = page->next_cursor;
  }
  return out;
}

TEST_CASE("audit: query returns newest first, filters and pages", "[audit]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  seed_seven(*storage);
  const AuditLog log(*storage);

  CHECK(pages(log, {}) == std::vector<Seqs>{{7, 6, 5, 4, 3, 2, 1}});
  CHECK(pages(log, {.limit = 3}) == std::vector<Seqs>{{7, 6, 5}, {4, 3, 2}, {1}});
  // A last page that is exactly full has no cursor after it.
  CHECK(pages(log, {.limit = 7}) == std::vector<Seqs>{{7, 6, 5, 4, 3, 2, 1}});
  CHECK(pages(log, {.provider = "a", .limit = 2}) == std::vector<Seqs>{{7, 5}, {3, 1}});
  CHECK(pages(log, {.event_type = std::string(audit_events::kProviderUpdated), .limit = 2}) ==
        std::vector<Seqs>{{7, 6}, {5, 4}, {3}});
  CHECK(pages(log, {.event_type = std::string(audit_events::kProviderCreated)}) ==
        std::vector<Seqs>{{2, 1}});
  CHECK(pages(log, {.since = kT0 + 20ms, .until = kT0 + 50ms}) == std::vector<Seqs>{{5, 4, 3}});
  CHECK(pages(log, {.since = kT0 + 60ms}) == std::vector<Seqs>{{7}});
  CHECK(pages(log, {.until = kT0}) == std::vector<Seqs>{{}});
  CHECK(pages(log, {.event_type = std::string(audit_events::kProviderUpdated),
                    .since = kT0 + 30ms,
                    .provider = "b",
                    .limit = 1}) == std::vector<Seqs>{{6}, {4}});

  auto other = log.query("other", {});
  REQUIRE(other.ok());
  CHECK(other->events.empty());
  CHECK_FALSE(other->next_cursor);
}

TEST_CASE("audit: query limits", "[audit]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  constexpr std::size_t kEvents = kDefaultAuditLimit + 5;
  Provider p = minimal_provider("ws", "github");
  REQUIRE(storage->insert_provider(p, event_for(audit_events::kProviderCreated, p)).ok());
  for (std::size_t i = 1; i < kEvents; ++i) {
    Provider next = next_version(p);
    REQUIRE(
        storage->update_provider(next, p.version, event_for(audit_events::kProviderUpdated, next))
            .ok());
    p = next;
  }
  const AuditLog log(*storage);

  auto by_default = log.query("ws", {.limit = 0});
  REQUIRE(by_default.ok());
  CHECK(by_default->events.size() == kDefaultAuditLimit);
  CHECK(by_default->events.front().seq == static_cast<std::int64_t>(kEvents));
  CHECK(by_default->next_cursor);

  auto most = log.query("ws", {.limit = kMaxAuditLimit});
  REQUIRE(most.ok());
  CHECK(most->events.size() == kEvents);
  CHECK_FALSE(most->next_cursor);

  auto too_many = log.query("ws", {.limit = kMaxAuditLimit + 1});
  REQUIRE_FALSE(too_many.ok());
  CHECK(too_many.status().code() == ErrorCode::kValidationFailed);
  CHECK(too_many.status().field() == "limit");
}

TEST_CASE("audit: query refuses a cursor it did not issue", "[audit]") {
  auto storage = make_memory_storage();
  seed_seven(*storage);
  const AuditLog log(*storage);
  for (const std::string& cursor :
       {std::string("not a cursor!"), std::string(""), detail::encode_cursor("providers", "3"),
        detail::encode_cursor("audit", "abc"), detail::encode_cursor("audit", "0"),
        detail::encode_cursor("audit", "-5"), detail::encode_cursor("audit", "3x"),
        detail::encode_cursor("audit", "99999999999999999999")}) {
    INFO("cursor: " << cursor);
    auto page = log.query("ws", {.cursor = cursor});
    REQUIRE_FALSE(page.ok());
    CHECK(page.status().code() == ErrorCode::kValidationFailed);
    CHECK(page.status().field() == "cursor");
  }
  auto valid = log.query("ws", {.cursor = detail::encode_cursor("audit", "3")});
  REQUIRE(valid.ok());
  CHECK(seqs_of(valid->events) == Seqs{2, 1});
}

TEST_CASE("audit: the JSON view of an event", "[audit]") {
  AuditEvent e = sample_event();
  e.hash = audit_chain_hash(e);
  boost::json::object view = audit_event_view(e);
  auto text = [&](std::string_view key) { return std::string(view.at(key).as_string()); };
  CHECK(text("id") == e.id);
  CHECK(text("workspace") == "default");
  CHECK(view.at("seq") == 3);
  CHECK(text("event_type") == "provider.updated");
  CHECK(text("provider_name") == "github");
  CHECK(text("provider_id") == e.provider_id);
  CHECK(text("actor") == "key_admin");
  CHECK(text("caller_ip") == "198.51.100.4");
  CHECK(text("user_agent") == "curl/8.0");
  CHECK(text("at") == format_rfc3339(kT0));
  CHECK(view.at("data") == boost::json::object{{"changed", boost::json::array{"scopes"}}});
  CHECK(text("prev_hash") == e.prev_hash);
  CHECK(text("hash") == e.hash);
  CHECK(view.size() == 13);

  e.actor.reset();
  CHECK(audit_event_view(e).at("actor").is_null());
  e.data.clear();
  CHECK(audit_event_view(e).at("data") == boost::json::object{});
}

TEST_CASE("audit: a host's text that is not UTF-8 is kept as given, shown as valid JSON",
          "[audit]") {
  // A host application fills RequestContext itself: nothing made its
  // user agent, caller IP or actor UTF-8 as the server does.
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  AuditEvent e = sample_event();
  e.workspace = "ws";
  e.actor = "key_\xC3";
  e.caller_ip = "10.0.0.1\xFF";
  e.user_agent = "bot\xED\xA0\x80/1";
  e.data = "{\"connection_id\":\"con_\xF0\x9F\"}";  // not UTF-8: not JSON either
  REQUIRE(storage->append_audit(e).ok());

  auto page = AuditLog(*storage).query("ws", AuditQuery{.limit = 1});
  REQUIRE(page.ok());
  REQUIRE(page->events.size() == 1);
  const AuditEvent& stored = page->events.at(0);
  CHECK(stored.user_agent == e.user_agent);  // byte for byte, as hashed
  CHECK(AuditLog(*storage).verify("ws")->ok);
  boost::json::object view = audit_event_view(stored);
  auto reparsed = parse_json(boost::json::serialize(view));
  REQUIRE(reparsed.ok());
  const boost::json::object& shown = reparsed->as_object();
  CHECK(shown.at("actor").as_string() == "key_\xEF\xBF\xBD");
  CHECK(shown.at("caller_ip").as_string() == "10.0.0.1\xEF\xBF\xBD");
  CHECK(shown.at("user_agent").as_string() ==
        "bot\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD/1");
  CHECK(shown.at("data").as_string() ==
        "{\"connection_id\":\"con_\xEF\xBF\xBD\xEF\xBF\xBD\"}");
}

}  // namespace
}  // namespace nexus::testing

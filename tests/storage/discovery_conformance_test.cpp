// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// The Storage contract for a provider's discovery state (Provider::discovery),
// run against every backend; and where SQLite keeps it.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "nexus/audit.hpp"
#include "nexus/discovery.hpp"
#include "nexus/storage.hpp"
#include "storage/conformance.hpp"
#include "storage/raw_sqlite.hpp"

namespace nexus::testing {
namespace {

using namespace std::chrono_literals;

DiscoveryDocument document(std::string_view prefix) {
  DiscoveryDocument d;
  d.issuer = "https://idp.example.com";
  d.metadata_url = "https://idp.example.com/.well-known/openid-configuration";
  d.source = MetadataSource::kOpenIdConfiguration;
  d.published_issuer = d.issuer;
  d.authorization_endpoint = std::string(prefix) + "/authorize";
  d.token_endpoint = std::string(prefix) + "/token";
  d.jwks_uri = std::string(prefix) + "/jwks";
  d.userinfo_endpoint = std::string(prefix) + "/userinfo";
  d.code_challenge_methods_supported = {"S256"};
  d.scopes_supported = {"openid", "email"};
  d.fetched_at = kT0;
  d.expires_at = kT0 + 1h;
  return d;
}

// An oauth2 discovery provider with a stored document.
Provider discovered_provider(std::string_view workspace, std::string_view name) {
  Provider p = minimal_provider(workspace, name);
  p.spec.client_id = "nexus";
  p.spec.issuer = "https://idp.example.com";
  p.spec.enable_discovery = true;
  p.discovery = DiscoveryState{
      .document = document("https://idp.example.com"), .last_attempt_at = kT0, .last_error = {}};
  return p;
}

TEST_CASE("storage: a provider's discovery state reads back as stored", "[storage][discovery]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  const Provider p = discovered_provider("ws", "corp-sso");
  REQUIRE(storage->insert_provider(p, event_for(audit_events::kProviderCreated, p)).ok());

  SECTION("get and list return it") {
    CHECK(storage->get_provider("ws", "corp-sso").value() == p);
    auto listed = storage->list_providers(ProviderListQuery{.workspace = "ws"});
    REQUIRE(listed.ok());
    REQUIRE(listed->size() == 1);
    CHECK(listed->front() == p);
    CHECK(storage->get_provider_by_id("ws", p.id).value() == p);
  }

  SECTION("an update replaces it, with the failure of a later attempt") {
    Provider failed = next_version(p);
    failed.discovery->last_attempt_at = kT0 + 2h;
    failed.discovery->last_error = DiscoveryAttemptError{.reason = DiscoveryFailure::kTimeout,
                                                         .message = "no answer \"within\" 10 s",
                                                         .at = kT0 + 2h};
    REQUIRE(storage
                ->update_provider(failed, p.version,
                                  event_for(audit_events::kProviderDiscoveryFailed, failed))
                .ok());
    CHECK(storage->get_provider("ws", "corp-sso").value() == failed);

    Provider refreshed = next_version(failed);
    refreshed.discovery = DiscoveryState{.document = document("https://idp.example.com/v2"),
                                         .last_attempt_at = kT0 + 3h,
                                         .last_error = {}};
    REQUIRE(storage
                ->update_provider(refreshed, failed.version,
                                  event_for(audit_events::kProviderDiscovered, refreshed))
                .ok());
    CHECK(storage->get_provider("ws", "corp-sso").value() == refreshed);
  }

  SECTION("an update without it removes it") {
    Provider manual = next_version(p);
    manual.spec.enable_discovery = false;
    manual.spec.auth_url = "https://idp.example.com/authorize";
    manual.spec.token_url = "https://idp.example.com/token";
    manual.discovery.reset();
    REQUIRE(
        storage
            ->update_provider(manual, p.version, event_for(audit_events::kProviderUpdated, manual))
            .ok());
    CHECK_FALSE(storage->get_provider("ws", "corp-sso")->discovery);
  }

  SECTION("a failed update leaves it as it was") {
    Provider stale = next_version(p);
    stale.discovery.reset();
    CHECK(storage
              ->update_provider(stale, p.version + 5,
                                event_for(audit_events::kProviderUpdated, stale))
              .code() == ErrorCode::kVersionConflict);
    CHECK(storage->get_provider("ws", "corp-sso").value() == p);
  }

  SECTION("a provider recreated after deletion starts without one") {
    REQUIRE(storage
                ->delete_provider("ws", "corp-sso", p.version,
                                  event_for(audit_events::kProviderDeleted, p))
                .ok());
    Provider again = minimal_provider("ws", "corp-sso");
    again.id = p.id;  // even under the same id, nothing of the old state remains
    REQUIRE(storage->insert_provider(again, event_for(audit_events::kProviderCreated, again)).ok());
    CHECK_FALSE(storage->get_provider("ws", "corp-sso")->discovery);
  }
}

TEST_CASE("storage: a discovery state without a document is kept", "[storage][discovery]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  Provider p = discovered_provider("ws", "legacy");
  p.discovery = DiscoveryState{
      .document = std::nullopt,
      .last_attempt_at = kT0,
      .last_error = DiscoveryAttemptError{
          .reason = DiscoveryFailure::kUnreachable, .message = "refused", .at = kT0}};
  REQUIRE(storage->insert_provider(p, event_for(audit_events::kProviderCreated, p)).ok());
  CHECK(storage->get_provider("ws", "legacy").value() == p);
}

TEST_CASE("sqlite: discovery state lives in provider_discovery and goes with its provider",
          "[storage][sqlite][discovery]") {
  TempDir dir;
  const std::string path = dir.file("nexus.db");
  auto opened = open_sqlite_storage(path);
  REQUIRE(opened.ok());
  Storage& storage = *opened.value();
  const Provider p = discovered_provider("ws", "corp-sso");
  REQUIRE(storage.insert_provider(p, event_for(audit_events::kProviderCreated, p)).ok());

  RawSqlite raw(path);
  const std::string where = " FROM provider_discovery WHERE provider_id = '" + p.id + "'";
  CHECK(raw.integer("SELECT expires_at" + where) ==
        p.discovery->document->expires_at.time_since_epoch().count());
  CHECK(raw.integer("SELECT fetched_at" + where) == kT0.time_since_epoch().count());
  CHECK(raw.text("SELECT last_error IS NULL" + where) == "1");

  SECTION("a corrupt document is reported, not guessed at") {
    raw.exec("UPDATE provider_discovery SET document = '{\"issuer\": 1}'");
    auto got = storage.get_provider("ws", "corp-sso");
    REQUIRE_FALSE(got.ok());
    CHECK(got.status().code() == ErrorCode::kInternal);
  }
  SECTION("deleting the provider deletes its row") {
    REQUIRE(storage
                .delete_provider("ws", "corp-sso", p.version,
                                 event_for(audit_events::kProviderDeleted, p))
                .ok());
    CHECK(raw.integer("SELECT COUNT(*) FROM provider_discovery") == 0);
  }
}

TEST_CASE("storage: providers due for a discovery refresh are listed earliest first",
          "[storage][discovery]") {
  NEXUS_FOR_EACH_STORAGE_BACKEND(backend);
  auto storage = backend.make();
  const auto insert = [&](const Provider& p) {
    REQUIRE(storage->insert_provider(p, event_for(audit_events::kProviderCreated, p)).ok());
  };
  Provider expires = discovered_provider("ws", "expires");  // document expires at kT0 + 1h
  Provider failing = discovered_provider("other", "failing");
  failing.discovery->last_error = DiscoveryAttemptError{.reason = DiscoveryFailure::kTimeout,
                                                        .message = "no answer",
                                                        .at = kT0,
                                                        .failures = 1,
                                                        .retry_at = kT0 + 30min};
  Provider later = discovered_provider("ws", "later");
  later.discovery->document->expires_at = kT0 + 3h;
  insert(expires);
  insert(failing);
  insert(later);
  insert(full_provider("ws", "manual"));

  const auto due_names = [&](Timestamp now, std::size_t limit) {
    auto due = storage->providers_due_for_discovery(now, limit);
    REQUIRE(due.ok());
    std::vector<std::string> names;
    for (const Provider& p : due.value()) names.push_back(p.spec.name);
    return names;
  };
  CHECK(due_names(kT0, 10).empty());
  // A failed attempt is due at its retry_at, not at the document's expiry.
  CHECK(due_names(kT0 + 30min, 10) == std::vector<std::string>{"failing"});
  CHECK(due_names(kT0 + 1h, 10) == std::vector<std::string>{"failing", "expires"});
  CHECK(due_names(kT0 + 5h, 2) == std::vector<std::string>{"failing", "expires"});
  CHECK(due_names(kT0 + 5h, 10) == std::vector<std::string>{"failing", "expires", "later"});
  auto listed = storage->providers_due_for_discovery(kT0 + 1h, 10);
  REQUIRE(listed.ok());
  CHECK(listed->front() == failing);  // the whole record, from every workspace

  SECTION("a refresh moves a provider out; turning discovery off removes it") {
    Provider refreshed = next_version(expires);
    refreshed.discovery->document->expires_at = kT0 + 4h;
    REQUIRE(storage
                ->update_provider(refreshed, expires.version,
                                  event_for(audit_events::kProviderDiscovered, refreshed))
                .ok());
    Provider off = next_version(later);
    off.spec.enable_discovery = false;
    off.discovery.reset();
    REQUIRE(
        storage->update_provider(off, later.version, event_for(audit_events::kProviderUpdated, off))
            .ok());
    CHECK(due_names(kT0 + 3h, 10) == std::vector<std::string>{"failing"});
  }
}

TEST_CASE("sqlite: next_refresh_at is stored beside the discovery state",
          "[storage][sqlite][discovery]") {
  TempDir dir;
  const std::string path = dir.file("nexus.db");
  auto opened = open_sqlite_storage(path);
  REQUIRE(opened.ok());
  Provider p = discovered_provider("ws", "failing");
  p.discovery->last_error = DiscoveryAttemptError{.reason = DiscoveryFailure::kTimeout,
                                                  .message = "no answer",
                                                  .at = kT0,
                                                  .failures = 2,
                                                  .retry_at = kT0 + 2min};
  REQUIRE(opened.value()->insert_provider(p, event_for(audit_events::kProviderCreated, p)).ok());

  RawSqlite raw(path);
  CHECK(raw.integer("SELECT next_refresh_at FROM provider_discovery") ==
        (kT0 + 2min).time_since_epoch().count());
}

TEST_CASE("sqlite: migration 5 schedules the discovery states stored before it",
          "[storage][sqlite][discovery]") {
  TempDir dir;
  const std::string path = dir.file("nexus.db");
  const Provider fresh = discovered_provider("ws", "fresh");  // expires at kT0 + 1h
  Provider failed = discovered_provider("ws", "failed");
  failed.discovery->last_attempt_at = kT0 + 10min;
  failed.discovery->last_error = DiscoveryAttemptError{
      .reason = DiscoveryFailure::kTimeout, .message = "no answer", .at = kT0 + 10min};
  failed.discovery->last_error->retry_at = kT0 + 10min;
  {
    auto opened = open_sqlite_storage(path);
    REQUIRE(opened.ok());
    for (const Provider& p : {fresh, failed}) {
      REQUIRE(
          opened.value()->insert_provider(p, event_for(audit_events::kProviderCreated, p)).ok());
    }
  }
  {
    // Back to what schema version 4 wrote: no schedule, errors without backoff.
    RawSqlite raw(path);
    raw.exec(
        "DROP INDEX provider_discovery_by_next_refresh;"
        "ALTER TABLE provider_discovery DROP COLUMN next_refresh_at;"
        "CREATE INDEX provider_discovery_by_expiry ON provider_discovery (expires_at);"
        "UPDATE provider_discovery SET last_error = json_remove(last_error, '$.failures', "
        "'$.retry_at') WHERE last_error IS NOT NULL;"
        // Later migrations are applied again too; they carry these rows.
        "DELETE FROM schema_migrations WHERE version >= 5;");
  }
  auto reopened = open_sqlite_storage(path);
  REQUIRE(reopened.ok());
  RawSqlite raw(path);
  const auto scheduled = [&](const Provider& p) {
    return raw.integer("SELECT next_refresh_at FROM provider_discovery WHERE provider_id = '" +
                       p.id + "'");
  };
  CHECK(scheduled(fresh) == (kT0 + 1h).time_since_epoch().count());
  CHECK(scheduled(failed) == (kT0 + 10min).time_since_epoch().count());
  CHECK(raw.integer("SELECT COUNT(*) FROM sqlite_master WHERE name = "
                    "'provider_discovery_by_expiry'") == 0);
  // An error stored without backoff reads as a first failure, due at once.
  CHECK(reopened.value()->get_provider("ws", "failed").value() == failed);
  auto due = reopened.value()->providers_due_for_discovery(kT0 + 10min, 10);
  REQUIRE(due.ok());
  REQUIRE(due->size() == 1);
  CHECK(due->front().spec.name == "failed");
}

}  // namespace
}  // namespace nexus::testing

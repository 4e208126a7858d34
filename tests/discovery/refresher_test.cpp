// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// DiscoveryRefresher: documents past their expiry are refetched by the
// library, failures back off, and nothing else is touched. Time is the fake
// clock's; the network is a fake client.
#include <atomic>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fake_http_client.hpp"
#include "nexus/audit.hpp"
#include "nexus/discovery.hpp"
#include "nexus/discovery_refresher.hpp"
#include "nexus/registry.hpp"
#include "nexus/storage.hpp"
#include "storage/forwarding_storage.hpp"
#include "test_support.hpp"

namespace nexus {
namespace {

using namespace std::chrono_literals;
using testing::FakeHttpClient;
using testing::json;

constexpr const char* kIssuer = "https://idp.example.com";
constexpr const char* kMetadataUrl = "https://idp.example.com/.well-known/openid-configuration";
constexpr const char* kOtherIssuer = "https://sso.example.org";
constexpr const char* kOtherMetadataUrl =
    "https://sso.example.org/.well-known/openid-configuration";

std::string document_for(const std::string& issuer, const std::string& prefix) {
  return boost::json::serialize(
      boost::json::object{{"issuer", issuer},
                          {"authorization_endpoint", prefix + "/authorize"},
                          {"token_endpoint", prefix + "/token"}});
}

std::string body(const std::string& name, const std::string& issuer) {
  return boost::json::serialize(boost::json::object{{"name", name},
                                                    {"auth_type", "oauth2"},
                                                    {"client_id", "nexus"},
                                                    {"client_secret", "s3cret-refresher"},
                                                    {"issuer", issuer},
                                                    {"enable_discovery", true}});
}

// A registry over the memory storage or a fresh SQLite file (the due query is
// the backends' own), with a fake clock and client.
struct Fixture {
  explicit Fixture(const std::string& backend) {
    if (backend == "sqlite") {
      auto opened = open_sqlite_storage(dir.file("nexus.db"));
      REQUIRE(opened.ok());
      storage = std::move(opened).value();
    } else {
      storage = make_memory_storage();
    }
    registry = std::make_unique<ProviderRegistry>(
        RegistryOptions{.storage = storage.get(), .clock = &clock, .http_client = &http});
    http.on_json(kMetadataUrl, document_for(kIssuer, kIssuer), 200,
                 {{"Cache-Control", "max-age=600"}});
    http.on_json(kOtherMetadataUrl, document_for(kOtherIssuer, kOtherIssuer), 200,
                 {{"Cache-Control", "max-age=3600"}});
  }

  Provider create(const std::string& name, const std::string& issuer,
                  const std::string& workspace = "default") {
    auto r =
        registry->create(RequestContext{.workspace = workspace}, json(body(name, issuer).c_str()));
    INFO(r.status().message());
    REQUIRE(r.ok());
    return r.value();
  }
  Provider get(const std::string& name, const std::string& workspace = "default") {
    auto r = registry->get(RequestContext{.workspace = workspace}, name);
    REQUIRE(r.ok());
    return r.value();
  }
  AuditEvent last_event(const std::string& workspace = "default") {
    auto page = AuditLog(*storage).query(workspace, AuditQuery{.limit = 1});
    REQUIRE(page.ok());
    REQUIRE_FALSE(page->events.empty());
    return page->events.front();
  }
  std::size_t fetches() { return http.urls().size(); }

  testing::TempDir dir;
  testing::FakeClock clock;
  FakeHttpClient http;
  std::unique_ptr<Storage> storage;
  std::unique_ptr<ProviderRegistry> registry;
};

void check_report(const DiscoveryRefreshReport& r, std::size_t refreshed, std::size_t failed) {
  CHECK(r.status.ok());
  CHECK(r.refreshed == refreshed);
  CHECK(r.failed == failed);
  CHECK(r.skipped == 0);
}

TEST_CASE("a document past its expiry is refetched, stored and audited, once",
          "[discovery][refresher]") {
  const std::string backend = GENERATE("memory", "sqlite");
  INFO(backend);
  Fixture f(backend);
  const Provider v1 = f.create("corp-sso", kIssuer);
  DiscoveryRefresher refresher(*f.registry);

  // Not due yet: nothing is fetched or stored.
  f.clock.advance(599s);
  check_report(refresher.run_once(), 0, 0);
  CHECK(f.fetches() == 1);
  CHECK(f.get("corp-sso") == v1);

  f.clock.advance(1s);  // exactly expires_at
  f.http.on_json(kMetadataUrl, document_for(kIssuer, "https://idp.example.com/v2"), 200,
                 {{"Cache-Control", "max-age=900"}});
  check_report(refresher.run_once(), 1, 0);
  CHECK(f.fetches() == 2);
  const Provider v2 = f.get("corp-sso");
  CHECK(v2.version == 2);
  CHECK(effective_endpoints(v2).token_url == "https://idp.example.com/v2/token");
  REQUIRE(v2.discovery->document);
  CHECK(v2.discovery->document->fetched_at == f.clock.now());
  CHECK(next_refresh_at(*v2.discovery) == f.clock.now() + 900s);
  const AuditEvent event = f.last_event();
  CHECK(event.event_type == audit_events::kProviderDiscovered);
  CHECK(event.provider_name == "corp-sso");
  CHECK_FALSE(event.actor.has_value());
  CHECK(event.user_agent == "nexus (discovery refresher)");
  CHECK(event.data.find("s3cret-refresher") == std::string::npos);

  // The new document is not due: a second pass does nothing.
  check_report(refresher.run_once(), 0, 0);
  CHECK(f.fetches() == 2);
  CHECK(f.get("corp-sso") == v2);
}

TEST_CASE("only due documents are refetched, in every workspace", "[discovery][refresher]") {
  const std::string backend = GENERATE("memory", "sqlite");
  INFO(backend);
  Fixture f(backend);
  f.create("short", kIssuer, "acme");                     // max-age 600
  const Provider other = f.create("long", kOtherIssuer);  // max-age 3600
  REQUIRE(f.registry->create(RequestContext{}, json(testing::kGithubJson)).ok());
  f.clock.advance(10min);
  DiscoveryRefresher refresher(*f.registry);
  check_report(refresher.run_once(), 1, 0);
  CHECK(f.http.urls() == std::vector<std::string>{kMetadataUrl, kOtherMetadataUrl, kMetadataUrl});
  CHECK(f.get("short", "acme").version == 2);
  CHECK(f.get("long") == other);
}

// Fails the first provider update it is asked for (as a database that was
// briefly unavailable), passes everything else.
class FirstUpdateFails final : public testing::ForwardingStorage {
 public:
  using ForwardingStorage::ForwardingStorage;

 protected:
  Status intercept(Call call) override {
    if (call != Call::kUpdateProvider || failed_) return Status::Ok();
    failed_ = true;
    return Status(ErrorCode::kUnavailable, "the database is locked");
  }

 private:
  bool failed_ = false;
};

TEST_CASE("a provider skipped by a pass does not hide the ones due behind it",
          "[discovery][refresher]") {
  FirstUpdateFails storage(make_memory_storage());
  testing::FakeClock clock;
  FakeHttpClient http;
  http.on_json(kMetadataUrl, document_for(kIssuer, kIssuer), 200,
               {{"Cache-Control", "max-age=600"}});
  ProviderRegistry registry(
      RegistryOptions{.storage = &storage, .clock = &clock, .http_client = &http});
  REQUIRE(registry.create(RequestContext{}, json(body("stuck", kIssuer).c_str())).ok());
  clock.advance(1min);  // due a minute after "stuck"
  REQUIRE(registry.create(RequestContext{}, json(body("behind", kIssuer).c_str())).ok());
  clock.advance(1h);

  // One provider per query: "stuck" comes first, its write fails, and it
  // stays due (and first); "behind" must still be reached in this pass.
  DiscoveryRefresher refresher(registry, DiscoveryRefresherOptions{.batch_size = 1});
  DiscoveryRefreshReport report = refresher.run_once();
  CHECK(report.status.ok());
  CHECK(report.skipped == 1);
  CHECK(report.refreshed == 1);
  CHECK(registry.get(RequestContext{}, "behind")->version == 2);
  CHECK(registry.get(RequestContext{}, "stuck")->version == 1);
}

TEST_CASE("a failed refresh keeps the last good endpoints and backs off exponentially",
          "[discovery][refresher]") {
  const std::string backend = GENERATE("memory", "sqlite");
  INFO(backend);
  Fixture f(backend);
  const Provider v1 = f.create("corp-sso", kIssuer);
  DiscoveryRefresher refresher(*f.registry);
  f.http.on(kMetadataUrl, HttpError{HttpFailure::kTimeout, "no answer from idp.example.com"});

  f.clock.advance(600s);
  check_report(refresher.run_once(), 0, 1);
  CHECK(f.fetches() == 2);
  Provider stored = f.get("corp-sso");
  CHECK(stored.version == 2);
  CHECK(effective_endpoints(stored) == effective_endpoints(v1));
  CHECK(stored.discovery->document == v1.discovery->document);
  REQUIRE(stored.discovery->last_error);
  CHECK(stored.discovery->last_error->reason == DiscoveryFailure::kTimeout);
  CHECK(stored.discovery->last_error->at == f.clock.now());
  CHECK(stored.discovery->last_error->failures == 1);
  CHECK(stored.discovery->last_error->retry_at == f.clock.now() + kDiscoveryRetryInitial);
  CHECK(f.last_event().event_type == audit_events::kProviderDiscoveryFailed);
  const boost::json::object view = provider_view(stored);
  const boost::json::object& view_error = view.at("discovery").at("last_error").as_object();
  CHECK(view_error.at("failures").as_int64() == 1);
  CHECK(view_error.at("retry_at").as_string() ==
        format_rfc3339(f.clock.now() + kDiscoveryRetryInitial));

  // Not retried on every pass: only once the backoff has passed.
  check_report(refresher.run_once(), 0, 0);
  f.clock.advance(kDiscoveryRetryInitial - 1s);
  check_report(refresher.run_once(), 0, 0);
  CHECK(f.fetches() == 2);
  CHECK(f.get("corp-sso").version == 2);

  f.clock.advance(1s);
  check_report(refresher.run_once(), 0, 1);
  CHECK(f.fetches() == 3);
  stored = f.get("corp-sso");
  CHECK(stored.discovery->last_error->failures == 2);
  CHECK(stored.discovery->last_error->retry_at == f.clock.now() + 2 * kDiscoveryRetryInitial);
  CHECK(stored.discovery->document == v1.discovery->document);

  // A success ends the backoff; the next refresh is due at the new expiry.
  f.clock.advance(2 * kDiscoveryRetryInitial);
  f.http.on_json(kMetadataUrl, document_for(kIssuer, kIssuer), 200,
                 {{"Cache-Control", "max-age=600"}});
  check_report(refresher.run_once(), 1, 0);
  stored = f.get("corp-sso");
  CHECK_FALSE(stored.discovery->last_error);
  CHECK(next_refresh_at(*stored.discovery) == f.clock.now() + 600s);
}

TEST_CASE("the retry delay doubles from one minute up to one hour", "[discovery][refresher]") {
  CHECK(discovery_retry_delay(0) == 1min);
  CHECK(discovery_retry_delay(1) == 1min);
  CHECK(discovery_retry_delay(2) == 2min);
  CHECK(discovery_retry_delay(3) == 4min);
  CHECK(discovery_retry_delay(6) == 32min);
  CHECK(discovery_retry_delay(7) == 1h);
  CHECK(discovery_retry_delay(1'000'000) == 1h);
}

TEST_CASE("started, the refresher runs a pass at once on its own thread and stops promptly",
          "[discovery][refresher]") {
  Fixture f("memory");
  f.create("corp-sso", kIssuer);
  f.clock.advance(1h);
  struct Pass {
    DiscoveryRefreshReport report;
    std::thread::id thread;
  };
  std::promise<Pass> first_pass;
  std::atomic<int> passes{0};
  // An interval far longer than the test: only stop() can end the wait.
  DiscoveryRefresher refresher(
      *f.registry,
      DiscoveryRefresherOptions{.interval = 24h, .on_pass = [&](const DiscoveryRefreshReport& r) {
                                  if (passes++ == 0)
                                    first_pass.set_value({r, std::this_thread::get_id()});
                                }});
  f.http.on_json(kMetadataUrl, document_for(kIssuer, kIssuer));
  refresher.start();
  refresher.start();  // already running: no second thread
  auto done = first_pass.get_future();
  REQUIRE(done.wait_for(60s) == std::future_status::ready);
  const Pass pass = done.get();
  CHECK(pass.report.refreshed == 1);
  CHECK(pass.thread != std::this_thread::get_id());
  CHECK(f.get("corp-sso").version == 2);

  const auto before_stop = std::chrono::steady_clock::now();
  refresher.stop();
  CHECK(std::chrono::steady_clock::now() - before_stop < 30s);
  CHECK(passes == 1);
  refresher.stop();  // idempotent
}

}  // namespace
}  // namespace nexus

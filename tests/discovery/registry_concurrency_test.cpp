// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Discovery never blocks unrelated registry calls: stalled issuers hold at
// most max_concurrent_discoveries callers, never a lock other writers need,
// and a patch that does not change the issuer never fetches. Stalls are a
// gate the test opens, not timing.
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fake_http_client.hpp"
#include "legacy_provider.hpp"
#include "nexus/discovery.hpp"
#include "nexus/registry.hpp"
#include "nexus/storage.hpp"
#include "test_support.hpp"

namespace nexus {
namespace {

using namespace std::chrono_literals;
using testing::FakeHttpClient;
using testing::GatedHttpClient;
using testing::json;

// How long a call that must not be blocked gets before the test calls it
// blocked: far beyond any scheduling delay, far below the test's timeout.
constexpr auto kPrompt = 60s;

std::string document_for(const std::string& issuer) {
  return boost::json::serialize(
      boost::json::object{{"issuer", issuer},
                          {"authorization_endpoint", issuer + "/authorize"},
                          {"token_endpoint", issuer + "/token"}});
}

std::string metadata_url(const std::string& issuer) {
  return issuer + "/.well-known/openid-configuration";
}

boost::json::value body(const std::string& name, const std::string& issuer) {
  return boost::json::object{{"name", name},         {"auth_type", "oauth2"},
                             {"client_id", "nexus"}, {"client_secret", "s"},
                             {"issuer", issuer},     {"enable_discovery", true}};
}

boost::json::value issuer_patch(const std::string& issuer) {
  return boost::json::object{{"issuer", issuer}};
}

struct Fixture {
  explicit Fixture(std::size_t max_concurrent = 8) {
    for (const char* issuer :
         {"https://slow.example.com", "https://a1.example.com", "https://a2.example.com",
          "https://b1.example.com", "https://b2.example.com", "https://fast.example.com"}) {
      http.on_json(metadata_url(issuer), document_for(issuer));
    }
    registry = std::make_unique<ProviderRegistry>(
        RegistryOptions{.storage = storage.get(),
                        .clock = &clock,
                        .http_client = &gated,
                        .max_concurrent_discoveries = max_concurrent});
  }
  Provider create(const std::string& name, const std::string& issuer) {
    auto r = registry->create(ctx, body(name, issuer));
    INFO(r.status().message());
    REQUIRE(r.ok());
    return r.value();
  }
  std::size_t fetches_of(const std::string& url) {
    std::size_t n = 0;
    for (const auto& u : http.urls()) n += u == url ? 1 : 0;
    return n;
  }

  testing::FakeClock clock;
  FakeHttpClient http;
  GatedHttpClient gated{http};
  std::unique_ptr<Storage> storage = make_memory_storage();
  std::unique_ptr<ProviderRegistry> registry;
  RequestContext ctx;
};

template <typename T>
bool ready_soon(std::future<T>& f) {
  return f.wait_for(kPrompt) == std::future_status::ready;
}

TEST_CASE("stalled discoveries fill the cap, and other writes still complete",
          "[registry][discovery][concurrency]") {
  CHECK(RegistryOptions{}.max_concurrent_discoveries == 8);
  constexpr std::size_t kCap = 4;
  Fixture f(kCap);
  f.create("other", "https://fast.example.com");
  const std::string slow = "https://slow.example.com";
  f.gated.gate(metadata_url(slow));

  std::vector<std::future<Result<Provider>>> stalled;
  for (std::size_t i = 0; i < kCap; ++i) {
    stalled.push_back(std::async(std::launch::async, [&f, &slow, i] {
      return f.registry->create(f.ctx, body("slow-" + std::to_string(i), slow));
    }));
  }
  REQUIRE(f.gated.wait_held(kCap));

  // Past the cap: refused at once, without a request, instead of joining the queue.
  auto over = std::async(std::launch::async,
                         [&] { return f.registry->create(f.ctx, body("slow-over", slow)); });
  REQUIRE(ready_soon(over));
  const Result<Provider> refused = over.get();
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == ErrorCode::kUnavailable);
  CHECK(refused.status().field() == "issuer");
  CHECK(f.fetches_of(metadata_url(slow)) == 0);  // the held ones have not reached the fake yet

  // A create without discovery and a patch of another provider are not held.
  auto plain = std::async(std::launch::async,
                          [&] { return f.registry->create(f.ctx, json(testing::kGithubJson)); });
  auto patched = std::async(std::launch::async, [&] {
    return f.registry->patch(f.ctx, "other", json(R"({"description":"still writable"})"));
  });
  REQUIRE(ready_soon(plain));
  REQUIRE(ready_soon(patched));
  CHECK(plain.get().ok());
  const Result<Provider> p = patched.get();
  REQUIRE(p.ok());
  CHECK(p->version == 2);

  f.gated.release();
  for (auto& s : stalled) {
    const Result<Provider> r = s.get();
    INFO(r.status().message());
    CHECK(r.ok());
  }
  // The slots are free again.
  f.create("slow-after", slow);
}

TEST_CASE("a stalled fetch after a lost race does not hold up other retrying writers",
          "[registry][discovery][concurrency]") {
  Fixture f;
  const std::string a1 = "https://a1.example.com", a2 = "https://a2.example.com";
  const std::string b1 = "https://b1.example.com", b2 = "https://b2.example.com";
  f.create("a", a1);
  f.create("b", b1);
  // A's refresh fetches a1; meanwhile A moves to a2, so the refresh loses its
  // race and, retrying, fetches a2 - which stalls.
  // (Hooks run on the callers' threads: they record, the test thread checks.)
  std::optional<Result<Provider>> a_moved, b_changed;
  f.gated.gate(metadata_url(a2), /*pass=*/1);
  f.gated.before(metadata_url(a1),
                 [&] { a_moved.emplace(f.registry->patch(f.ctx, "a", issuer_patch(a2))); });
  auto refresh =
      std::async(std::launch::async, [&] { return f.registry->refresh_discovery(f.ctx, "a"); });
  REQUIRE(f.gated.wait_held(1));

  // B's patch also loses a race (a concurrent description change) and
  // retries: that retry must not wait for A's stalled fetch.
  f.gated.before(metadata_url(b2), [&] {
    b_changed.emplace(f.registry->patch(f.ctx, "b", json(R"({"description":"concurrent"})")));
  });
  auto patch_b = std::async(std::launch::async,
                            [&] { return f.registry->patch(f.ctx, "b", issuer_patch(b2)); });
  const bool prompt = ready_soon(patch_b);
  f.gated.release();
  REQUIRE(prompt);
  const Result<Provider> b = patch_b.get();
  REQUIRE(b_changed);
  CHECK(b_changed->ok());
  INFO(b.status().message());
  REQUIRE(b.ok());
  CHECK(b->spec.issuer == b2);
  CHECK(b->spec.description == "concurrent");
  CHECK(effective_endpoints(b.value()).token_url == b2 + "/token");
  CHECK(f.fetches_of(metadata_url(b2)) == 1);  // fetched once, reused on the retry

  const Result<Provider> a = refresh.get();
  REQUIRE(a_moved);
  CHECK(a_moved->ok());
  INFO(a.status().message());
  REQUIRE(a.ok());
  CHECK(effective_endpoints(a.value()).token_url == a2 + "/token");
}

TEST_CASE("a patch that keeps the issuer never fetches, even without a stored document",
          "[registry][discovery]") {
  Fixture f;
  const std::string issuer = "https://slow.example.com";
  // Nothing answers: a fetch would fail the patch with discovery_failed.
  f.http.on(metadata_url(issuer), HttpError{HttpFailure::kUnreachable, "connection refused"});
  testing::store_legacy_discovery_provider(*f.storage, f.ctx.workspace, issuer);

  SECTION("no discovery state at all") {}
  SECTION("only a failed attempt") {
    auto failed = f.registry->refresh_discovery(f.ctx, "legacy");
    REQUIRE(failed.status().code() == ErrorCode::kDiscoveryFailed);
  }
  const Provider before = f.registry->get(f.ctx, "legacy").value();
  const std::size_t fetched = f.http.urls().size();

  auto r = f.registry->patch(f.ctx, "legacy", json(R"({"description":"unrelated"})"));
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->version == before.version + 1);
  CHECK(r->discovery == before.discovery);
  CHECK(f.http.urls().size() == fetched);

  // A new issuer does fetch.
  auto moved = f.registry->patch(f.ctx, "legacy", issuer_patch("https://fast.example.com"));
  CHECK(f.http.urls().size() == fetched + 1);
  INFO(moved.status().message());
  REQUIRE(moved.ok());
  CHECK(effective_endpoints(moved.value()).token_url == "https://fast.example.com/token");
}

}  // namespace
}  // namespace nexus

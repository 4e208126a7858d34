// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// The server's router driven in-process, without sockets, on SQLite: what
// each request costs the server beyond HTTP parsing and socket I/O. The
// figures behind the HTTP targets (issue #3: GET /v1/providers/{name} >= 60%
// of /healthz throughput; issue #4: GET /v1/token/{id} >= 50%), measurable by
// CPU time or instruction counts (valgrind --tool=callgrind) when wall-clock
// figures are noisy. Run with `make bench`.
#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "http_message.hpp"
#include "bench/bench_main.hpp"
#include "nexus/nexus.hpp"
#include "router.hpp"
#include "test_support.hpp"

namespace {

constexpr int kProviders = 1000;  // as tests/bench/http.sh

[[noreturn]] void die(std::string_view what) {
  std::fprintf(stderr, "router_bench: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

template <typename T>
T must(nexus::Result<T> r, std::string_view what) {
  if (!r.ok()) die(std::string(what) + ": " + r.status().message());
  return std::move(r).value();
}

// A server's library services on a SQLite file holding kProviders providers
// (github among them), a stripe api_key provider with one connection, and an
// admin key; the router over them, its access log discarded.
struct Server {
  nexus::testing::TempDir dir;
  std::string path = dir.file("bench.db");
  std::unique_ptr<nexus::Storage> storage;
  std::unique_ptr<nexus::KeyService> keys;
  std::unique_ptr<nexus::Vault> vault;
  std::unique_ptr<nexus::ProviderRegistry> registry;
  std::unique_ptr<nexus::ConnectionService> connections;
  std::unique_ptr<nexus::AuditLog> audit;
  std::unique_ptr<nexus::server::Router> router;
  std::string admin_key;
  std::string connection_id;

  Server() {
    storage = must(nexus::open_sqlite_storage(path), "open");
    keys = must(nexus::KeyService::open({.storage = storage.get()}), "keys");
    vault = std::make_unique<nexus::Vault>(
        std::make_shared<const nexus::Keyring>(nexus::Keyring::generate()));
    registry = std::make_unique<nexus::ProviderRegistry>(
        nexus::RegistryOptions{.storage = storage.get(), .vault = vault.get()});
    connections = std::make_unique<nexus::ConnectionService>(
        nexus::ConnectionOptions{.storage = storage.get(), .vault = vault.get()});
    audit = std::make_unique<nexus::AuditLog>(*storage);
    nexus::RequestContext ctx{
        .workspace = "default", .actor = "bench", .caller_ip = "", .user_agent = "bench"};
    admin_key = must(keys->create(ctx, "default", nexus::Role::kAdmin, "bench"), "key").text;

    must(registry->create(ctx, boost::json::parse(nexus::testing::kGithubJson)), "github");
    must(registry->create(ctx, boost::json::parse(nexus::testing::kStripeJson)), "stripe");
    connection_id = must(connections->create(ctx, boost::json::parse(R"({"provider_name": "stripe",
              "user_id": "u-42", "credentials": {"secret_key": "sk_test_bench"}})")),
                         "connection")
                        .id;
    // The other providers as copies of github's row under new names, in one
    // raw transaction: the table looks as after that many creates.
    sqlite3* db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) die("raw open");
    const std::string sql =
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
        std::to_string(kProviders - 2) +
        ") INSERT INTO providers(id, workspace, name, auth_type, client_id, client_secret, "
        "issuer, auth_url, token_url, api_base_url, user_info_endpoint, jwks_uri, "
        "enable_discovery, scopes, params, credential_schema, description, category, "
        "created_at, updated_at, version) SELECT 'prv_copy' || n.i, p.workspace, "
        "printf('p-%d', n.i), p.auth_type, p.client_id, p.client_secret, p.issuer, p.auth_url, "
        "p.token_url, p.api_base_url, p.user_info_endpoint, p.jwks_uri, p.enable_discovery, "
        "p.scopes, p.params, p.credential_schema, p.description, p.category, p.created_at, "
        "p.updated_at, p.version FROM n, providers p WHERE p.name = 'github'";
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) die("populate");
    sqlite3_close(db);

    nexus::server::RouterOptions options;
    options.log_sink = [](std::string_view line) { benchmark::DoNotOptimize(line.data()); };
    router = std::make_unique<nexus::server::Router>(
        nexus::server::RouterServices{.registry = registry.get(),
                                      .connections = connections.get(),
                                      .audit = audit.get(),
                                      .keys = keys.get(),
                                      .storage = storage.get()},
        std::move(options));
  }

  static Server& instance() {
    static Server server;
    return server;
  }

  nexus::server::HttpRequest request(std::string target, bool with_key) const {
    nexus::server::HttpRequest req;
    req.method = "GET";
    req.target = std::move(target);
    req.peer_ip = "127.0.0.1";
    req.headers = {{"host", "127.0.0.1:8090"}, {"user-agent", "wrk"}};
    if (with_key) req.headers.emplace_back("x-api-key", admin_key);
    return req;
  }

  // One request as the server handles it: the route, then the access log
  // line and metrics.
  void serve(benchmark::State& state, const nexus::server::HttpRequest& req) const {
    nexus::server::HttpResponse res = router->handle(req);
    router->finish(req, res, std::chrono::microseconds(100));
    if (res.status != 200) state.SkipWithError(("status " + std::to_string(res.status)).c_str());
    benchmark::DoNotOptimize(res.body.data());
  }
};

void BM_RouterHealthz(benchmark::State& state) {
  const Server& server = Server::instance();
  const auto req = server.request("/healthz", false);
  for (auto _ : state) server.serve(state, req);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RouterHealthz)->Threads(1)->Threads(4)->UseRealTime();

void BM_RouterGetProvider(benchmark::State& state) {
  const Server& server = Server::instance();
  const auto req = server.request("/v1/providers/github", true);
  for (auto _ : state) server.serve(state, req);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RouterGetProvider)->Threads(1)->Threads(4)->UseRealTime();

// Every read of credentials commits its token_retrieved audit event: durable,
// so one thread waits an fsync per request, and concurrent readers share
// commits (group commit). Router::handle waits for the storage's writer
// thread, which appends the event: CPU time is the whole process's.
void BM_RouterGetToken(benchmark::State& state) {
  const Server& server = Server::instance();
  const auto req = server.request("/v1/token/" + server.connection_id, true);
  for (auto _ : state) server.serve(state, req);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RouterGetToken)->Threads(1)->Threads(32)->UseRealTime()->MeasureProcessCPUTime();

// The token route as the server runs it: Router::handle_async from one
// thread (an I/O thread), with up to state.range(0) requests in flight (as
// wrk's connections), each completed by the storage's writer thread once
// its audit event is committed. No thread waits per request. CPU time is
// the whole process's, writer thread included.
void BM_RouterGetTokenAsync(benchmark::State& state) {
  const Server& server = Server::instance();
  const auto req = server.request("/v1/token/" + server.connection_id, true);
  const auto in_flight = static_cast<std::size_t>(state.range(0));
  std::mutex mu;
  std::condition_variable cv;
  std::size_t pending = 0;  // GUARDED_BY(mu)
  std::size_t failed = 0;   // GUARDED_BY(mu)
  auto done = [&](nexus::server::HttpResponse res) {
    server.router->finish(req, res, std::chrono::microseconds(100));
    benchmark::DoNotOptimize(res.body.data());
    std::lock_guard lock(mu);
    if (res.status != 200) ++failed;
    --pending;
    cv.notify_one();
  };
  for (auto _ : state) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return pending < in_flight; });
      ++pending;
    }
    server.router->handle_async(req, done);
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return pending == 0; });
  if (failed > 0) state.SkipWithError((std::to_string(failed) + " requests failed").c_str());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RouterGetTokenAsync)->Arg(64)->UseRealTime()->MeasureProcessCPUTime();

}  // namespace

NEXUS_BENCHMARK_MAIN()

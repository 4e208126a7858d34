// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// ProviderRegistry::get and ::create on SQLite, each beside the raw
// prepared-statement operation on the same schema and the same kind of file.
// Targets (issue #2): get >= 50% of the raw point-select rate; create >= 80%
// of the raw durable insert rate. Run with `make bench`.
#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <boost/json/parse.hpp>

#include <cstdio>
#include <memory>
#include <string>

#include "nexus/registry.hpp"
#include "nexus/storage.hpp"
#include "test_support.hpp"

namespace {

constexpr int kProviders = 10'000;

std::string provider_name(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "provider-%05d", i);
  return buf;
}

boost::json::value provider_body(const std::string& name) {
  boost::json::value body = boost::json::parse(nexus::testing::kGithubJson);
  body.as_object()["name"] = name;
  return body;
}

void check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) {
    std::fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
    std::abort();
  }
}

// A database file populated through the registry, shared by the read benches.
struct Populated {
  nexus::testing::TempDir dir;
  std::string path = dir.file("bench.db");
  std::unique_ptr<nexus::Storage> storage;
  std::unique_ptr<nexus::ProviderRegistry> registry;

  Populated() {
    auto s = nexus::open_sqlite_storage(path);
    if (!s.ok()) std::abort();
    storage = std::move(s).value();
    registry = std::make_unique<nexus::ProviderRegistry>(
        nexus::RegistryOptions{.storage = storage.get()});
    // One provider through the registry, then 9,999 copies of its row under
    // new names in one raw transaction: the table and its indexes look as
    // they would after 10,000 creates, without 10,000 fsyncs.
    nexus::RequestContext ctx;
    if (!registry->create(ctx, provider_body(provider_name(0))).ok()) std::abort();
    sqlite3* db = nullptr;
    check(sqlite3_open(path.c_str(), &db), db, "open");
    std::string sql =
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
        std::to_string(kProviders - 1) +
        ") INSERT INTO providers(id, workspace, name, auth_type, client_id, client_secret, issuer, "
        "auth_url, token_url, api_base_url, user_info_endpoint, jwks_uri, enable_discovery, "
        "scopes, params, credential_schema, description, category, created_at, updated_at, "
        "version) SELECT 'prv_copy' || n.i, p.workspace, "
        "printf('provider-%05d', n.i), p.auth_type, p.client_id, p.client_secret, p.issuer, "
        "p.auth_url, p.token_url, p.api_base_url, p.user_info_endpoint, p.jwks_uri, "
        "p.enable_discovery, p.scopes, p.params, p.credential_schema, p.description, "
        "p.category, p.created_at, p.updated_at, p.version FROM n, providers p "
        "WHERE p.name = 'provider-00000'";
    check(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), db, "populate");
    sqlite3_close(db);
  }
  static Populated& instance() {
    static Populated p;
    return p;
  }
};

void BM_RegistryGet(benchmark::State& state) {
  auto& p = Populated::instance();
  nexus::RequestContext ctx;
  int i = 0;
  for (auto _ : state) {
    auto r = p.registry->get(ctx, provider_name(i++ % kProviders));
    if (!r.ok()) state.SkipWithError("get failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RegistryGet);

void BM_RawPointSelect(benchmark::State& state) {
  auto& p = Populated::instance();
  sqlite3* db = nullptr;
  check(sqlite3_open_v2(p.path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr),
        db, "open");
  sqlite3_stmt* stmt = nullptr;
  check(sqlite3_prepare_v3(db, "SELECT * FROM providers WHERE workspace = ?1 AND name = ?2", -1,
                           SQLITE_PREPARE_PERSISTENT, &stmt, nullptr),
        db, "prepare");
  int i = 0;
  for (auto _ : state) {
    std::string name = provider_name(i++ % kProviders);
    sqlite3_bind_text(stmt, 1, "default", -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, name.data(), int(name.size()), SQLITE_STATIC);
    if (sqlite3_step(stmt) != SQLITE_ROW) state.SkipWithError("row missing");
    // Read every column as the registry must.
    int n = sqlite3_column_count(stmt);
    std::size_t bytes = 0;
    for (int c = 0; c < n; ++c) {
      const unsigned char* t = sqlite3_column_text(stmt, c);
      bytes += t ? std::string(reinterpret_cast<const char*>(t)).size() : 0;
    }
    benchmark::DoNotOptimize(bytes);
    sqlite3_reset(stmt);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawPointSelect);

// Durable writes: WAL + synchronous=FULL, one transaction per operation.
void BM_RegistryCreate(benchmark::State& state) {
  nexus::testing::TempDir dir;
  auto s = nexus::open_sqlite_storage(dir.file("create.db"));
  if (!s.ok()) {
    state.SkipWithError("open failed");
    return;
  }
  nexus::ProviderRegistry registry({.storage = s->get()});
  nexus::RequestContext ctx;
  int i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    boost::json::value body = provider_body(provider_name(i++));
    state.ResumeTiming();
    if (!registry.create(ctx, body).ok()) state.SkipWithError("create failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RegistryCreate)->Unit(benchmark::kMicrosecond);

void BM_RawDurableInsert(benchmark::State& state) {
  nexus::testing::TempDir dir;
  std::string path = dir.file("raw.db");
  { auto s = nexus::open_sqlite_storage(path); }  // same schema, created by the library
  sqlite3* db = nullptr;
  check(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr),
        db, "open");
  check(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", nullptr, nullptr,
                     nullptr),
        db, "pragma");
  sqlite3_stmt* stmt = nullptr;
  check(sqlite3_prepare_v3(
            db,
            "INSERT INTO providers(id, workspace, name, auth_type, client_id, client_secret, "
            "auth_url, token_url, api_base_url, user_info_endpoint, enable_discovery, scopes, "
            "params, description, category, created_at, updated_at, version) "
            "VALUES(?1, 'default', ?2, 'oauth2', 'Iv1.abc123', 'secret', "
            "'https://github.com/login/oauth/authorize', "
            "'https://github.com/login/oauth/access_token', 'https://api.github.com', "
            "'https://api.github.com/user', 0, '[\"repo\",\"read:user\"]', '{}', "
            "'GitHub OAuth App', 'developer', 1, 1, 1)",
            -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr),
        db, "prepare");
  int i = 0;
  for (auto _ : state) {
    std::string id = "prv_raw" + std::to_string(i);
    std::string name = provider_name(i++);
    check(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), db, "begin");
    sqlite3_bind_text(stmt, 1, id.data(), int(id.size()), SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, name.data(), int(name.size()), SQLITE_STATIC);
    check(sqlite3_step(stmt), db, "insert");
    sqlite3_reset(stmt);
    check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawDurableInsert)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();

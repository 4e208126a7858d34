// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// ProviderRegistry::get and ::create on SQLite, each beside the raw
// prepared-statement operation on the same schema and the same kind of file.
// Targets (issue #2): get >= 50% of the raw point-select rate; create >= 80%
// of the raw durable insert rate, both by wall time (UseRealTime). Run with
// `make bench`. Besides the targets:
// - get with the provider cache off, and of one provider over and over (the
//   cache's hit path), and the cost of the cache's check (PRAGMA
//   data_version);
// - the raw durable insert of the three rows a create must write in one
//   transaction (provider, audit event, chain head): the floor for create;
// - create from 8 threads at once (group commit).
#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <atomic>
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

// A database file populated through the registry, shared by the read benches;
// a second registry reads the same file with the provider cache off.
struct Populated {
  nexus::testing::TempDir dir;
  std::string path = dir.file("bench.db");
  std::unique_ptr<nexus::Storage> storage;
  std::unique_ptr<nexus::ProviderRegistry> registry;
  std::unique_ptr<nexus::Storage> uncached_storage;
  std::unique_ptr<nexus::ProviderRegistry> uncached;

  Populated() {
    auto s = nexus::open_sqlite_storage(path);
    if (!s.ok()) std::abort();
    storage = std::move(s).value();
    registry =
        std::make_unique<nexus::ProviderRegistry>(nexus::RegistryOptions{.storage = storage.get()});
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
    auto u = nexus::open_sqlite_storage(path, {.provider_cache_entries = 0});
    if (!u.ok()) std::abort();
    uncached_storage = std::move(u).value();
    uncached = std::make_unique<nexus::ProviderRegistry>(
        nexus::RegistryOptions{.storage = uncached_storage.get()});
  }
  static Populated& instance() {
    static Populated p;
    return p;
  }
};

// Each of the 10,000 providers in turn; the cache holds 4,096 of them.
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
BENCHMARK(BM_RegistryGet)->UseRealTime();

void BM_RegistryGetUncached(benchmark::State& state) {
  auto& p = Populated::instance();
  nexus::RequestContext ctx;
  int i = 0;
  for (auto _ : state) {
    auto r = p.uncached->get(ctx, provider_name(i++ % kProviders));
    if (!r.ok()) state.SkipWithError("get failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RegistryGetUncached)->UseRealTime();

// One provider over and over, as GET /v1/providers/github under wrk.
void BM_RegistryGetSame(benchmark::State& state) {
  auto& p = Populated::instance();
  nexus::RequestContext ctx;
  const std::string name = provider_name(42);
  for (auto _ : state) {
    auto r = p.registry->get(ctx, name);
    if (!r.ok()) state.SkipWithError("get failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RegistryGetSame)->UseRealTime();

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
BENCHMARK(BM_RawPointSelect)->UseRealTime();

// What the provider cache's check costs: PRAGMA data_version on a reader.
void BM_RawDataVersion(benchmark::State& state) {
  auto& p = Populated::instance();
  sqlite3* db = nullptr;
  check(sqlite3_open_v2(p.path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr),
        db, "open");
  sqlite3_stmt* stmt = nullptr;
  check(
      sqlite3_prepare_v3(db, "PRAGMA data_version", -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr),
      db, "prepare");
  for (auto _ : state) {
    if (sqlite3_step(stmt) != SQLITE_ROW) state.SkipWithError("no row");
    benchmark::DoNotOptimize(sqlite3_column_int64(stmt, 0));
    sqlite3_reset(stmt);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawDataVersion)->UseRealTime();

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
BENCHMARK(BM_RegistryCreate)->Unit(benchmark::kMicrosecond)->UseRealTime();

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
BENCHMARK(BM_RawDurableInsert)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The floor for create: what ProviderRegistry::create must write in one
// durable transaction, raw: the provider row (as BM_RawDurableInsert), an
// audit event row (a copy of one the registry wrote) and the chain head.
void BM_RawDurableInsertWithAudit(benchmark::State& state) {
  nexus::testing::TempDir dir;
  std::string path = dir.file("rawaudit.db");
  {
    auto s = nexus::open_sqlite_storage(path);
    nexus::ProviderRegistry registry({.storage = s->get()});
    nexus::RequestContext ctx;
    if (!registry.create(ctx, provider_body("template")).ok()) std::abort();
  }
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
  sqlite3_stmt* ev = nullptr;
  check(sqlite3_prepare_v3(
            db,
            "INSERT INTO audit_events (workspace, seq, id, event_type, provider_name, provider_id, "
            "actor, caller_ip, user_agent, at, data, prev_hash, hash) SELECT workspace, ?1, ?2, "
            "event_type, ?3, ?4, actor, caller_ip, user_agent, at, data, prev_hash, hash FROM "
            "audit_events WHERE workspace = 'default' AND seq = 1",
            -1, SQLITE_PREPARE_PERSISTENT, &ev, nullptr),
        db, "prepare");
  sqlite3_stmt* head = nullptr;
  check(sqlite3_prepare_v3(db,
                           "INSERT INTO audit_heads (workspace, seq, hash) VALUES ('default', ?1, "
                           "'0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef') "
                           "ON CONFLICT (workspace) DO UPDATE SET seq = excluded.seq, "
                           "hash = excluded.hash",
                           -1, SQLITE_PREPARE_PERSISTENT, &head, nullptr),
        db, "prepare");
  int i = 0;
  for (auto _ : state) {
    std::string id = "prv_raw" + std::to_string(i);
    std::string evid = "evt_raw" + std::to_string(i);
    std::string name = provider_name(i++);
    check(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), db, "begin");
    sqlite3_bind_text(stmt, 1, id.data(), int(id.size()), SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, name.data(), int(name.size()), SQLITE_STATIC);
    check(sqlite3_step(stmt), db, "insert");
    sqlite3_reset(stmt);
    sqlite3_bind_int64(ev, 1, i + 1);
    sqlite3_bind_text(ev, 2, evid.data(), int(evid.size()), SQLITE_STATIC);
    sqlite3_bind_text(ev, 3, name.data(), int(name.size()), SQLITE_STATIC);
    sqlite3_bind_text(ev, 4, id.data(), int(id.size()), SQLITE_STATIC);
    check(sqlite3_step(ev), db, "event");
    sqlite3_reset(ev);
    sqlite3_bind_int64(head, 1, i + 1);
    check(sqlite3_step(head), db, "head");
    sqlite3_reset(head);
    check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
  }
  sqlite3_finalize(head);
  sqlite3_finalize(ev);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawDurableInsertWithAudit)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Creates from 8 threads at once on one storage: their writes share
// transactions and fsyncs (group commit).
void BM_RegistryCreateConcurrent(benchmark::State& state) {
  static nexus::testing::TempDir dir;
  static auto storage = nexus::open_sqlite_storage(dir.file("concurrent.db"));
  static nexus::ProviderRegistry registry({.storage = storage->get()});
  static std::atomic<int> runs{0};
  // Names unique across the runs Google Benchmark makes of this function.
  const std::string prefix =
      std::to_string(runs++) + "-" + std::to_string(state.thread_index()) + "-";
  nexus::RequestContext ctx;
  int i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    boost::json::value body = provider_body("c" + prefix + std::to_string(i++));
    state.ResumeTiming();
    if (!registry.create(ctx, body).ok()) state.SkipWithError("create failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RegistryCreateConcurrent)->Unit(benchmark::kMicrosecond)->Threads(8)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

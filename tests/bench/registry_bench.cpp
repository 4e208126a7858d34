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
// - the WAL frames each commit of those three writes appends (a counter,
//   wal_frames_per_commit, which the machine's load does not change), and of
//   an audit event appended on its own (the token route's write);
// - create from 8 threads at once (group commit).
#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_main.hpp"
#include "nexus/audit.hpp"
#include "nexus/clock.hpp"
#include "nexus/registry.hpp"
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

// ProviderRegistry::create on a new database of its own.
class RegistryCreates {
 public:
  RegistryCreates() {
    auto s = nexus::open_sqlite_storage(path());
    if (!s.ok()) std::abort();
    storage_ = std::move(s).value();
    registry_ = std::make_unique<nexus::ProviderRegistry>(
        nexus::RegistryOptions{.storage = storage_.get()});
  }
  const std::string& path() const { return path_; }
  bool create(const boost::json::value& body) { return registry_->create(ctx_, body).ok(); }

 private:
  nexus::testing::TempDir dir_;
  std::string path_ = dir_.file("create.db");
  std::unique_ptr<nexus::Storage> storage_;
  std::unique_ptr<nexus::ProviderRegistry> registry_;
  nexus::RequestContext ctx_;
};

// The raw durable write of a provider row with prepared statements, on a new
// database whose schema the library created (migrations included). With
// `with_audit`, the transaction also writes what create must write beside the
// row: an audit event (a copy of one the registry wrote) and the chain head.
class RawDurableWrites {
 public:
  explicit RawDurableWrites(bool with_audit) {
    {
      auto s = nexus::open_sqlite_storage(path_);
      if (!s.ok()) std::abort();
      nexus::ProviderRegistry registry({.storage = s->get()});
      nexus::RequestContext ctx;
      if (with_audit && !registry.create(ctx, provider_body("template")).ok()) std::abort();
    }
    check(
        sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr),
        db_, "open");
    check(sqlite3_exec(db_, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", nullptr, nullptr,
                       nullptr),
          db_, "pragma");
    provider_ = prepare(
        "INSERT INTO providers(id, workspace, name, auth_type, client_id, client_secret, "
        "auth_url, token_url, api_base_url, user_info_endpoint, enable_discovery, scopes, "
        "params, description, category, created_at, updated_at, version) "
        "VALUES(?1, 'default', ?2, 'oauth2', 'Iv1.abc123', 'secret', "
        "'https://github.com/login/oauth/authorize', "
        "'https://github.com/login/oauth/access_token', 'https://api.github.com', "
        "'https://api.github.com/user', 0, '[\"repo\",\"read:user\"]', '{}', "
        "'GitHub OAuth App', 'developer', 1, 1, 1)");
    if (!with_audit) return;
    event_ = prepare(
        "INSERT INTO audit_events (workspace, seq, id, event_type, provider_name, provider_id, "
        "actor, caller_ip, user_agent, at, data, prev_hash, hash) SELECT workspace, ?1, ?2, "
        "event_type, ?3, ?4, actor, caller_ip, user_agent, at, data, prev_hash, hash FROM "
        "audit_events WHERE workspace = 'default' AND seq = 1");
    head_ = prepare(
        "INSERT INTO audit_heads (workspace, seq, hash) VALUES ('default', ?1, "
        "'0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef') "
        "ON CONFLICT (workspace) DO UPDATE SET seq = excluded.seq, hash = excluded.hash");
  }
  RawDurableWrites(const RawDurableWrites&) = delete;
  RawDurableWrites& operator=(const RawDurableWrites&) = delete;
  ~RawDurableWrites() {
    for (sqlite3_stmt* stmt : {head_, event_, provider_}) sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }
  const std::string& path() const { return path_; }

  // One transaction: the i-th provider row (and its event and head).
  void write(int i) {
    std::string id = "prv_raw" + std::to_string(i);
    std::string evid = "evt_raw" + std::to_string(i);
    std::string name = provider_name(i);
    check(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), db_, "begin");
    sqlite3_bind_text(provider_, 1, id.data(), int(id.size()), SQLITE_STATIC);
    sqlite3_bind_text(provider_, 2, name.data(), int(name.size()), SQLITE_STATIC);
    check(sqlite3_step(provider_), db_, "insert");
    sqlite3_reset(provider_);
    if (event_ != nullptr) {
      sqlite3_bind_int64(event_, 1, i + 2);  // seq 1 is the template's
      sqlite3_bind_text(event_, 2, evid.data(), int(evid.size()), SQLITE_STATIC);
      sqlite3_bind_text(event_, 3, name.data(), int(name.size()), SQLITE_STATIC);
      sqlite3_bind_text(event_, 4, id.data(), int(id.size()), SQLITE_STATIC);
      check(sqlite3_step(event_), db_, "event");
      sqlite3_reset(event_);
      sqlite3_bind_int64(head_, 1, i + 2);
      check(sqlite3_step(head_), db_, "head");
      sqlite3_reset(head_);
    }
    check(sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr), db_, "commit");
  }

 private:
  sqlite3_stmt* prepare(const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    check(sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr), db_,
          "prepare");
    return stmt;
  }

  nexus::testing::TempDir dir_;
  std::string path_ = dir_.file("raw.db");
  sqlite3* db_ = nullptr;
  sqlite3_stmt* provider_ = nullptr;
  sqlite3_stmt* event_ = nullptr;
  sqlite3_stmt* head_ = nullptr;
};

void BM_RegistryCreate(benchmark::State& state) {
  RegistryCreates creates;
  int i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    boost::json::value body = provider_body(provider_name(i++));
    state.ResumeTiming();
    if (!creates.create(body)) state.SkipWithError("create failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RegistryCreate)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_RawDurableInsert(benchmark::State& state) {
  RawDurableWrites raw(/*with_audit=*/false);
  int i = 0;
  for (auto _ : state) raw.write(i++);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawDurableInsert)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The floor for create: the three rows it must write in one durable
// transaction (provider, audit event, chain head), raw.
void BM_RawDurableInsertWithAudit(benchmark::State& state) {
  RawDurableWrites raw(/*with_audit=*/true);
  int i = 0;
  for (auto _ : state) raw.write(i++);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawDurableInsertWithAudit)->Unit(benchmark::kMicrosecond)->UseRealTime();

// WAL frames (pages) each commit of the three durable writes above appends:
// what a durable write costs in I/O, independent of the machine's load. The
// log is emptied first; then a read transaction held open keeps checkpoints
// from copying frames back or restarting the log, so its growth over the
// run, divided by the frame size, counts every frame written.
class WalFrameCounter {
 public:
  explicit WalFrameCounter(const std::string& path) : wal_(path + "-wal") {
    check(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr),
          db_, "open");
    if (integer("PRAGMA wal_checkpoint(TRUNCATE)") != 0) {
      std::fprintf(stderr, "the WAL of %s is in use\n", path.c_str());
      std::abort();
    }
    frame_bytes_ = integer("PRAGMA page_size") + 24;
    check(sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr), db_, "begin");
    integer("SELECT COUNT(*) FROM sqlite_schema");  // the snapshot: an empty log
  }
  WalFrameCounter(const WalFrameCounter&) = delete;
  WalFrameCounter& operator=(const WalFrameCounter&) = delete;
  ~WalFrameCounter() {
    sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
  }

  // Frames appended since construction (after the log's 32-byte header).
  double frames() const {
    const auto bytes = static_cast<double>(std::filesystem::file_size(wal_));
    return bytes <= 32 ? 0 : (bytes - 32) / static_cast<double>(frame_bytes_);
  }

 private:
  std::int64_t integer(const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    check(sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr), db_, "prepare");
    check(sqlite3_step(stmt), db_, sql);
    const std::int64_t value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
  }

  std::string wal_;
  sqlite3* db_ = nullptr;
  std::int64_t frame_bytes_ = 0;
};

constexpr int kWalFrameCommits = 1000;

void report_frames(benchmark::State& state, const WalFrameCounter& counter) {
  state.counters["wal_frames_per_commit"] = counter.frames() / double(state.iterations());
}

void BM_WalFramesRegistryCreate(benchmark::State& state) {
  RegistryCreates creates;
  std::vector<boost::json::value> bodies;
  for (int i = 0; i < kWalFrameCommits; ++i) bodies.push_back(provider_body(provider_name(i)));
  WalFrameCounter counter(creates.path());
  int i = 0;
  for (auto _ : state) {
    if (!creates.create(bodies[std::size_t(i++)])) state.SkipWithError("create failed");
  }
  report_frames(state, counter);
}
BENCHMARK(BM_WalFramesRegistryCreate)->Iterations(kWalFrameCommits)->Unit(benchmark::kMicrosecond);

void BM_WalFramesRawDurableInsert(benchmark::State& state) {
  RawDurableWrites raw(/*with_audit=*/false);
  WalFrameCounter counter(raw.path());
  int i = 0;
  for (auto _ : state) raw.write(i++);
  report_frames(state, counter);
}
BENCHMARK(BM_WalFramesRawDurableInsert)
    ->Iterations(kWalFrameCommits)
    ->Unit(benchmark::kMicrosecond);

void BM_WalFramesRawDurableInsertWithAudit(benchmark::State& state) {
  RawDurableWrites raw(/*with_audit=*/true);
  WalFrameCounter counter(raw.path());
  int i = 0;
  for (auto _ : state) raw.write(i++);
  report_frames(state, counter);
}
BENCHMARK(BM_WalFramesRawDurableInsertWithAudit)
    ->Iterations(kWalFrameCommits)
    ->Unit(benchmark::kMicrosecond);

// An audit event appended on its own, as each GET /v1/token/{id} appends
// token_retrieved: the write of the token route, through Storage.
void BM_WalFramesAuditAppend(benchmark::State& state) {
  nexus::testing::TempDir dir;
  const std::string path = dir.file("append.db");
  auto storage = nexus::open_sqlite_storage(path);
  if (!storage.ok()) std::abort();
  nexus::AuditEvent event{.workspace = "default",
                          .event_type = "token_retrieved",
                          .provider_name = "stripe",
                          .provider_id = nexus::make_id(nexus::system_random(), "prv_"),
                          .actor = nexus::make_id(nexus::system_random(), "key_"),
                          .caller_ip = "127.0.0.1",
                          .user_agent = "agent/1.0",
                          .data = R"({"connection_id":"con_0123456789abcdefghjkmnpqrs",)"
                                  R"("user_id":"user-1","fields":["secret_key"]})"};
  WalFrameCounter counter(path);
  for (auto _ : state) {
    event.id = nexus::make_id(nexus::system_random(), "evt_");
    if (!(*storage)->append_audit(event).ok()) state.SkipWithError("append failed");
  }
  report_frames(state, counter);
}
BENCHMARK(BM_WalFramesAuditAppend)->Iterations(kWalFrameCommits)->Unit(benchmark::kMicrosecond);

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

NEXUS_BENCHMARK_MAIN()

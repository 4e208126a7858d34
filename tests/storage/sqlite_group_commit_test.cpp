// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Group commit on the SQLite writer: concurrent writes share a transaction,
// each in its own savepoint; a failing write rolls back alone; a failed
// COMMIT fails the whole batch; a locked database fails every waiter within
// about one busy timeout. Asynchronous appends (append_audit_async) follow the
// same rules without a waiting thread: their completion comes from the
// writer thread once their transaction committed or failed, exactly once,
// and destroying the storage runs what is still queued.
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <latch>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "nexus/audit.hpp"
#include "nexus/storage.hpp"
#include "storage/conformance.hpp"
#include "storage/raw_sqlite.hpp"
#include "storage/sqlite/group_commit.hpp"
#include "storage/sqlite/sqlite_connection.hpp"
#include "storage/sqlite/sqlite_storage.hpp"

namespace nexus::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Generous: the waits below end as soon as the condition holds.
constexpr auto kQueueTimeout = 60s;

std::unique_ptr<Storage> open_ok(const std::string& path, const SqliteOptions& options = {}) {
  auto storage = open_sqlite_storage(path, options);
  INFO(storage.status().message());
  REQUIRE(storage.ok());
  return std::move(storage).value();
}

sqlite::GroupCommitStats stats(Storage& storage) {
  auto s = sqlite::group_commit_stats(storage);
  REQUIRE(s.ok());
  return *s;
}

Status insert(Storage& storage, const Provider& p) {
  return storage.insert_provider(p, event_for(audit_events::kProviderCreated, p));
}

// Completions of append_audit_async, recorded from whichever thread calls
// them (no Catch2 assertion off the test thread); checked afterwards.
class Completions {
 public:
  // A completion for the `index`th append.
  std::function<void(Status)> callback(std::size_t index) {
    std::lock_guard lock(mu_);
    if (calls_.size() <= index) calls_.resize(index + 1);
    return [this, index](Status s) {
      std::lock_guard lock(mu_);
      calls_[index].push_back(std::move(s));
      cv_.notify_all();
    };
  }
  // Waits until every completion handed out has been called at least once.
  bool wait_all(std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      return std::all_of(calls_.begin(), calls_.end(), [](const auto& c) { return !c.empty(); });
    });
  }
  std::size_t called() {
    std::lock_guard lock(mu_);
    return static_cast<std::size_t>(
        std::count_if(calls_.begin(), calls_.end(), [](const auto& c) { return !c.empty(); }));
  }
  // How often each completion was called.
  std::vector<std::size_t> counts() {
    std::lock_guard lock(mu_);
    std::vector<std::size_t> out;
    for (const auto& c : calls_) out.push_back(c.size());
    return out;
  }
  // The first outcome of completion `index`.
  Status status(std::size_t index) {
    std::lock_guard lock(mu_);
    return calls_.at(index).at(0);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::vector<Status>> calls_;  // GUARDED_BY(mu_)
};

// How many audit events carry `id`, read on a connection of its own (raw C
// API: safe on any thread). -1 when the read fails.
std::int64_t events_with_id(sqlite3* db, const std::string& id) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM audit_events WHERE id = ?1", -1, &stmt,
                         nullptr) != SQLITE_OK) {
    return -1;
  }
  sqlite3_bind_text(stmt, 1, id.c_str(), -1, SQLITE_TRANSIENT);
  std::int64_t n = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
  sqlite3_finalize(stmt);
  return n;
}

// Holds the writer inside a transaction of its own, so that the writes the
// test starts next queue behind it and then commit as one batch.
class WriterHold {
 public:
  explicit WriterHold(Storage& storage) {
    result_ = std::async(std::launch::async, [&storage, this] {
      return sqlite::run_write_for_test(storage, [this](sqlite3*) {
        started_.set_value();
        release_.get_future().wait();
        return Status::Ok();
      });
    });
    started_.get_future().wait();
  }
  WriterHold(const WriterHold&) = delete;
  WriterHold& operator=(const WriterHold&) = delete;
  ~WriterHold() {
    if (!released_) (void)release();
  }

  // Lets the held transaction commit; returns its outcome.
  Status release() {
    released_ = true;
    release_.set_value();
    return result_.get();
  }

 private:
  std::promise<void> started_;
  std::promise<void> release_;
  std::future<Status> result_;
  bool released_ = false;
};

// A write that succeeds itself but makes its batch's COMMIT fail: a foreign
// key violation, deferred to the end of the transaction.
Status commit_poisoning_write(Storage& storage) {
  return sqlite::run_write_for_test(storage, [](sqlite3* db) {
    int rc = sqlite3_exec(db,
                          "PRAGMA defer_foreign_keys = ON; "
                          "INSERT INTO connection_credentials (connection_id, field, envelope) "
                          "VALUES ('con_nowhere', 'secret', x'00')",
                          nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? Status::Ok() : Status(ErrorCode::kInternal, "setup failed");
  });
}

TEST_CASE("sqlite group commit: many concurrent writers, every acknowledged write is stored",
          "[storage][sqlite][group-commit]") {
  TempDir dir;
  auto storage = open_ok(dir.file("nexus.db"));
  constexpr int kThreads = 16;
  constexpr int kWritesPerThread = 15;

  std::mutex failures_mu;
  std::vector<std::string> failures;  // GUARDED_BY(failures_mu); checked after join
  auto fail = [&](const std::string& what) {
    std::lock_guard lock(failures_mu);
    failures.push_back(what);
  };
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kWritesPerThread; ++i) {
        const std::string name = "t" + std::to_string(t) + "-" + std::to_string(i);
        Provider p = minimal_provider("ws", name);
        Status s = insert(*storage, p);
        if (!s.ok()) {
          fail(name + ": " + s.message());
          continue;
        }
        // Acknowledged means committed: any connection sees it at once.
        auto read = storage->get_provider("ws", name);
        if (!read.ok() || read->id != p.id) fail(name + ": not readable after its insert");
        // And a write that records no change, through the same queue.
        AuditEvent e = event_for("test.noted", p);
        if (Status a = storage->append_audit(e); !a.ok()) fail(name + ": " + a.message());
      }
    });
  }
  for (auto& thread : threads) thread.join();

  CHECK(failures == std::vector<std::string>{});
  CHECK(storage->count_providers("ws").value() == kThreads * kWritesPerThread);
  auto report = AuditLog(*storage).verify("ws");
  REQUIRE(report.ok());
  CHECK(report->ok);
  CHECK(report->events_checked == 2 * kThreads * kWritesPerThread);
  const sqlite::GroupCommitStats s = stats(*storage);
  CHECK(s.mutations == 2u * kThreads * kWritesPerThread);
  INFO("transactions: " << s.transactions << " for " << s.mutations << " writes");
  CHECK(s.transactions <= s.mutations);
}

TEST_CASE("sqlite group commit: writes queued together commit in one transaction",
          "[storage][sqlite][group-commit]") {
  TempDir dir;
  auto storage = open_ok(dir.file("nexus.db"));
  constexpr int kWriters = 6;
  const sqlite::GroupCommitStats before = stats(*storage);

  std::vector<std::future<Status>> writes;
  {
    WriterHold hold(*storage);
    for (int i = 0; i < kWriters; ++i) {
      writes.push_back(std::async(std::launch::async, [&, i] {
        return insert(*storage, minimal_provider("ws", "p" + std::to_string(i)));
      }));
    }
    REQUIRE(sqlite::wait_for_queued_writes(*storage, kWriters, kQueueTimeout));
    // Queued, not committed: nothing of them is visible yet.
    CHECK(storage->count_providers("ws").value() == 0);
    REQUIRE(hold.release().ok());
  }
  for (auto& w : writes) CHECK(w.get().ok());

  const sqlite::GroupCommitStats after = stats(*storage);
  CHECK(after.transactions - before.transactions == 2);  // the hold's, then the batch
  CHECK(after.mutations - before.mutations == 1 + kWriters);
  CHECK(storage->count_providers("ws").value() == kWriters);
  auto report = AuditLog(*storage).verify("ws");
  REQUIRE(report.ok());
  CHECK(report->ok);
  CHECK(report->events_checked == kWriters);
}

TEST_CASE("sqlite group commit: a failing write rolls back alone, the rest of its batch commits",
          "[storage][sqlite][group-commit]") {
  TempDir dir;
  auto storage = open_ok(dir.file("nexus.db"));
  const Provider taken = minimal_provider("ws", "taken");
  REQUIRE(insert(*storage, taken).ok());
  const sqlite::GroupCommitStats before = stats(*storage);

  // A second provider under a taken name, a stale version, an event without
  // an id, and a test write that changes rows and then fails: each must leave
  // no trace.
  Provider duplicate = minimal_provider("ws", "taken");
  Provider stale = next_version(taken);
  stale.spec.description = "never stored";
  std::vector<std::future<Status>> good;
  std::future<Status> duplicate_write, stale_write, half_done_write, no_id_write;
  {
    WriterHold hold(*storage);
    for (int i = 0; i < 3; ++i) {
      good.push_back(std::async(std::launch::async, [&, i] {
        return insert(*storage, minimal_provider("ws", "good" + std::to_string(i)));
      }));
    }
    duplicate_write = std::async(std::launch::async, [&] { return insert(*storage, duplicate); });
    stale_write = std::async(std::launch::async, [&] {
      return storage->update_provider(stale, /*expected_version=*/7,
                                      event_for(audit_events::kProviderUpdated, stale));
    });
    half_done_write = std::async(std::launch::async, [&] {
      return sqlite::run_write_for_test(*storage, [](sqlite3* db) {
        sqlite3_exec(db, "UPDATE providers SET description = 'half done'", nullptr, nullptr,
                     nullptr);
        return Status(ErrorCode::kInternal, "failed after a change");
      });
    });
    good.push_back(std::async(
        std::launch::async, [&] { return storage->append_audit(event_for("test.noted", taken)); }));
    no_id_write = std::async(std::launch::async, [&] {
      AuditEvent without_id = event_for("test.noted", taken);
      without_id.id.clear();
      return storage->append_audit(without_id);
    });
    REQUIRE(sqlite::wait_for_queued_writes(*storage, 8, kQueueTimeout));
    REQUIRE(hold.release().ok());
  }

  for (auto& w : good) {
    Status s = w.get();
    INFO(s.message());
    CHECK(s.ok());
  }
  CHECK(duplicate_write.get().code() == ErrorCode::kProviderExists);
  CHECK(stale_write.get().code() == ErrorCode::kVersionConflict);
  Status half_done = half_done_write.get();
  CHECK(half_done.code() == ErrorCode::kInternal);
  CHECK(half_done.message() == "failed after a change");
  CHECK(no_id_write.get().code() == ErrorCode::kInternal);

  const sqlite::GroupCommitStats after = stats(*storage);
  CHECK(after.transactions - before.transactions == 2);  // the hold's, then the batch of 8
  CHECK(after.mutations - before.mutations == 1 + 4);
  // The failed writes left nothing: the taken provider is as it was, and no
  // provider's description reads "half done".
  auto stored = storage->get_provider("ws", "taken");
  REQUIRE(stored.ok());
  CHECK(*stored == taken);
  auto all = storage->list_providers({.workspace = "ws", .limit = 100});
  REQUIRE(all.ok());
  CHECK(names_of(*all) == std::vector<std::string>{"good0", "good1", "good2", "taken"});
  for (const Provider& p : *all) CHECK(p.spec.description != "half done");
  auto report = AuditLog(*storage).verify("ws");
  REQUIRE(report.ok());
  CHECK(report->ok);
  CHECK(report->events_checked == 1 + 3 + 1);
}

TEST_CASE("sqlite group commit: the audit chain continues after another connection's events",
          "[storage][sqlite][group-commit]") {
  TempDir dir;
  const std::string path = dir.file("nexus.db");
  auto storage = open_ok(path);
  auto other = open_ok(path);  // another process, as far as `storage` can tell
  for (int i = 0; i < 4; ++i) {
    // The chain head is kept between writes; the other connection's events
    // must still come before this storage's next one.
    Provider mine = minimal_provider("ws", "mine" + std::to_string(i));
    REQUIRE(insert(*storage, mine).ok());
    Provider theirs = minimal_provider("ws", "theirs" + std::to_string(i));
    REQUIRE(insert(*other, theirs).ok());
  }
  REQUIRE(storage->append_audit(event_for("test.noted", minimal_provider("ws", "x"))).ok());
  auto report = AuditLog(*storage).verify("ws");
  REQUIRE(report.ok());
  CHECK(report->ok);
  CHECK(report->events_checked == 9);
  CHECK(storage->audit_head("ws").value().seq == 9);
}

TEST_CASE("sqlite group commit: a failed COMMIT fails every write of the batch",
          "[storage][sqlite][group-commit]") {
  TempDir dir;
  auto storage = open_ok(dir.file("nexus.db"));
  REQUIRE(insert(*storage, minimal_provider("ws", "before")).ok());
  const std::int64_t head_before = storage->audit_head("ws").value().seq;

  std::vector<std::future<Status>> writes;
  std::future<Status> poison;
  {
    WriterHold hold(*storage);
    for (int i = 0; i < 3; ++i) {
      writes.push_back(std::async(std::launch::async, [&, i] {
        return insert(*storage, minimal_provider("ws", "lost" + std::to_string(i)));
      }));
    }
    // A write that succeeds itself but makes the COMMIT fail: a foreign key
    // violation, deferred to the end of the transaction.
    poison = std::async(std::launch::async, [&] {
      return commit_poisoning_write(*storage);
    });
    REQUIRE(sqlite::wait_for_queued_writes(*storage, 4, kQueueTimeout));
    REQUIRE(hold.release().ok());
  }
  for (auto& w : writes) {
    Status s = w.get();
    CHECK(s.code() == ErrorCode::kInternal);
    CHECK_THAT(s.message(), Catch::Contains("insert a provider"));
  }
  CHECK(poison.get().code() == ErrorCode::kInternal);

  // Nothing of the batch was stored.
  CHECK(storage->count_providers("ws").value() == 1);
  CHECK(storage->audit_head("ws").value().seq == head_before);
  {
    RawSqlite raw(dir.file("nexus.db"));
    CHECK(raw.integer("SELECT COUNT(*) FROM connection_credentials") == 0);
  }
  // The writer goes on: the next write commits.
  REQUIRE(insert(*storage, minimal_provider("ws", "after")).ok());
  CHECK(storage->count_providers("ws").value() == 2);
  auto report = AuditLog(*storage).verify("ws");
  REQUIRE(report.ok());
  CHECK(report->ok);
}

TEST_CASE("sqlite group commit: on a locked database every waiter fails within one busy timeout",
          "[storage][sqlite][group-commit]") {
  TempDir dir;
  const std::string path = dir.file("nexus.db");
  constexpr int kBusyTimeoutMs = 400;
  constexpr int kWriters = 12;
  SqliteOptions options;
  options.busy_timeout_ms = kBusyTimeoutMs;
  auto storage = open_ok(path, options);
  RawSqlite other(path);
  other.exec("BEGIN IMMEDIATE");

  // Each writer queued behind the others would, waiting its own timeout in
  // turn, take up to kWriters * kBusyTimeoutMs. Sharing the wait, none takes
  // much more than one: allow four, far below twelve.
  constexpr auto kBound = std::chrono::milliseconds(4 * kBusyTimeoutMs);
  std::latch start(kWriters);
  std::vector<std::future<std::pair<Status, Clock::duration>>> writes;
  for (int i = 0; i < kWriters; ++i) {
    writes.push_back(std::async(std::launch::async, [&, i] {
      start.arrive_and_wait();
      const auto begin = Clock::now();
      Status s = insert(*storage, minimal_provider("ws", "w" + std::to_string(i)));
      return std::make_pair(s, Clock::now() - begin);
    }));
  }
  for (auto& w : writes) {
    auto [status, took] = w.get();
    INFO(status.message());
    CHECK(status.code() == ErrorCode::kUnavailable);
    INFO("waited " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
    CHECK(took < kBound);
  }
  other.exec("ROLLBACK");
  CHECK(storage->count_providers("ws").value() == 0);
  CHECK(storage->audit_head("ws").value().seq == 0);
  // Once the lock is gone, writes go through, and the writer keeps its
  // configured timeout.
  REQUIRE(insert(*storage, minimal_provider("ws", "later")).ok());
  auto timeouts = sqlite::pragma_on_every_connection(*storage, "busy_timeout");
  REQUIRE(timeouts.ok());
  CHECK(timeouts->front() == std::to_string(kBusyTimeoutMs));
}

TEST_CASE("sqlite group commit: an async append completes only once its event is committed",
          "[storage][sqlite][group-commit][async]") {
  TempDir dir;
  const std::string path = dir.file("nexus.db");
  auto storage = open_ok(path);
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close_v2)> other(raw, sqlite3_close_v2);

  constexpr std::size_t kAppends = 20;
  const Provider p = minimal_provider("ws", "github");
  std::vector<AuditEvent> events;
  for (std::size_t i = 0; i < kAppends; ++i) events.push_back(event_for("test.noted", p));
  // What another connection sees of each event at the moment its
  // completion runs: committed means 1.
  std::mutex seen_mu;
  std::vector<std::int64_t> seen(kAppends, -2);  // GUARDED_BY(seen_mu)
  Completions completions;
  for (std::size_t i = 0; i < kAppends; ++i) {
    auto record = completions.callback(i);
    storage->append_audit_async(events[i], [&, i, record, id = events[i].id](Status s) {
      {
        std::lock_guard lock(seen_mu);
        seen[i] = events_with_id(other.get(), id);
      }
      record(std::move(s));
    });
  }
  REQUIRE(completions.wait_all(kQueueTimeout));
  for (std::size_t i = 0; i < kAppends; ++i) {
    INFO("append " << i << ": " << completions.status(i).message());
    CHECK(completions.status(i).ok());
  }
  {
    std::lock_guard lock(seen_mu);
    CHECK(seen == std::vector<std::int64_t>(kAppends, 1));
  }
  auto report = AuditLog(*storage).verify("ws");
  REQUIRE(report.ok());
  CHECK(report->ok);
  CHECK(report->events_checked == kAppends);
  storage.reset();  // no completion may come late
  CHECK(completions.counts() == std::vector<std::size_t>(kAppends, 1));
}

TEST_CASE("sqlite group commit: a failing async append fails alone, the rest of its batch commits",
          "[storage][sqlite][group-commit][async]") {
  TempDir dir;
  auto storage = open_ok(dir.file("nexus.db"));
  const Provider taken = minimal_provider("ws", "taken");
  REQUIRE(insert(*storage, taken).ok());
  const sqlite::GroupCommitStats before = stats(*storage);

  Completions completions;
  std::future<Status> sync_write, sync_duplicate;
  {
    WriterHold hold(*storage);
    // Async appends, one of them without an event id (refused), mixed with
    // synchronous writes in the same batch.
    for (std::size_t i = 0; i < 5; ++i) {
      AuditEvent e = event_for("test.noted", taken);
      if (i == 2) e.id.clear();
      storage->append_audit_async(std::move(e), completions.callback(i));
    }
    sync_write = std::async(std::launch::async,
                            [&] { return insert(*storage, minimal_provider("ws", "fresh")); });
    sync_duplicate = std::async(std::launch::async,
                                [&] { return insert(*storage, minimal_provider("ws", "taken")); });
    REQUIRE(sqlite::wait_for_queued_writes(*storage, 7, kQueueTimeout));
    // Queued, not run: no completion yet.
    CHECK(completions.called() == 0);
    REQUIRE(hold.release().ok());
  }
  REQUIRE(completions.wait_all(kQueueTimeout));
  for (std::size_t i = 0; i < 5; ++i) {
    Status s = completions.status(i);
    INFO("append " << i << ": " << s.message());
    if (i == 2) {
      CHECK(s.code() == ErrorCode::kInternal);
    } else {
      CHECK(s.ok());
    }
  }
  CHECK(sync_write.get().ok());
  CHECK(sync_duplicate.get().code() == ErrorCode::kProviderExists);

  const sqlite::GroupCommitStats after = stats(*storage);
  CHECK(after.transactions - before.transactions == 2);  // the hold's, then the batch of 7
  CHECK(after.mutations - before.mutations == 1 + 4 + 1);
  auto report = AuditLog(*storage).verify("ws");
  REQUIRE(report.ok());
  CHECK(report->ok);
  CHECK(report->events_checked == 1 + 4 + 1);
  storage.reset();
  CHECK(completions.counts() == std::vector<std::size_t>(5, 1));
}

TEST_CASE("sqlite group commit: a failed COMMIT fails every async append of the batch",
          "[storage][sqlite][group-commit][async]") {
  TempDir dir;
  auto storage = open_ok(dir.file("nexus.db"));
  const Provider p = minimal_provider("ws", "before");
  REQUIRE(insert(*storage, p).ok());
  const std::int64_t head_before = storage->audit_head("ws").value().seq;

  Completions completions;
  std::future<Status> poison;
  {
    WriterHold hold(*storage);
    for (std::size_t i = 0; i < 4; ++i) {
      storage->append_audit_async(event_for("test.noted", p), completions.callback(i));
    }
    // A write that succeeds itself but makes the COMMIT fail (a deferred
    // foreign key violation).
    poison = std::async(std::launch::async, [&] {
      return commit_poisoning_write(*storage);
    });
    REQUIRE(sqlite::wait_for_queued_writes(*storage, 5, kQueueTimeout));
    REQUIRE(hold.release().ok());
  }
  REQUIRE(completions.wait_all(kQueueTimeout));
  for (std::size_t i = 0; i < 4; ++i) {
    Status s = completions.status(i);
    CHECK(s.code() == ErrorCode::kInternal);
    CHECK_THAT(s.message(), Catch::Contains("append an audit event"));
  }
  CHECK(poison.get().code() == ErrorCode::kInternal);
  CHECK(storage->audit_head("ws").value().seq == head_before);

  // The writer goes on: the next async append commits.
  storage->append_audit_async(event_for("test.noted", p), completions.callback(4));
  REQUIRE(completions.wait_all(kQueueTimeout));
  CHECK(completions.status(4).ok());
  CHECK(storage->audit_head("ws").value().seq == head_before + 1);
  auto report = AuditLog(*storage).verify("ws");
  REQUIRE(report.ok());
  CHECK(report->ok);
  storage.reset();
  CHECK(completions.counts() == std::vector<std::size_t>(5, 1));
}

TEST_CASE("sqlite group commit: destroying the storage runs the async appends still queued",
          "[storage][sqlite][group-commit][async]") {
  TempDir dir;
  const std::string path = dir.file("nexus.db");
  SqliteOptions options;
  options.busy_timeout_ms = 60'000;  // far longer than the test holds the lock
  // One write per batch: a writer thread slow to wake would otherwise take
  // several appends into its first batch, and fewer would stay queued.
  options.max_batch_writes = 1;
  auto storage = open_ok(path, options);
  const Provider p = minimal_provider("ws", "github");
  constexpr std::size_t kAppends = 12;

  // Another process holds the write lock: the first append waits for it in
  // BEGIN, the others queue behind it.
  RawSqlite other(path);
  other.exec("BEGIN IMMEDIATE");
  std::atomic<bool> lock_released{false};
  std::mutex early_mu;
  std::vector<std::size_t> early;  // GUARDED_BY(early_mu): completed while the lock was held
  Completions completions;
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < kAppends; ++i) {
    AuditEvent e = event_for("test.noted", p);
    ids.push_back(e.id);
    auto record = completions.callback(i);
    storage->append_audit_async(std::move(e), [&, i, record](Status s) {
      if (!lock_released.load()) {
        std::lock_guard lock(early_mu);
        early.push_back(i);
      }
      record(std::move(s));
    });
  }
  REQUIRE(sqlite::wait_for_queued_writes(*storage, kAppends - 1, kQueueTimeout));
  CHECK(completions.called() == 0);

  // Destroy the storage while its appends wait; it returns only once they
  // have run.
  auto closing = std::async(std::launch::async, [&] { storage.reset(); });
  lock_released.store(true);
  other.exec("ROLLBACK");
  closing.get();

  CHECK(completions.counts() == std::vector<std::size_t>(kAppends, 1));
  for (std::size_t i = 0; i < kAppends; ++i) {
    Status s = completions.status(i);
    INFO("append " << i << ": " << s.message());
    CHECK(s.ok());
  }
  {
    std::lock_guard lock(early_mu);
    CHECK(early.empty());
  }
  // Every acknowledged event is in the file, chained.
  auto reopened = open_ok(path);
  auto report = AuditLog(*reopened).verify("ws");
  REQUIRE(report.ok());
  CHECK(report->ok);
  CHECK(report->events_checked == kAppends);
  RawSqlite check(path);
  for (const std::string& id : ids) {
    CHECK(check.integer("SELECT COUNT(*) FROM audit_events WHERE id = '" + id + "'") == 1);
  }
}

TEST_CASE("sqlite group commit: async appends and synchronous writes from many threads",
          "[storage][sqlite][group-commit][async]") {
  TempDir dir;
  auto storage = open_ok(dir.file("nexus.db"));
  constexpr int kThreads = 8;
  constexpr int kRounds = 20;
  Completions completions;
  std::mutex failures_mu;
  std::vector<std::string> failures;  // GUARDED_BY(failures_mu)
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  std::vector<std::function<void(Status)>> callbacks;
  for (int i = 0; i < kThreads * kRounds; ++i) {
    callbacks.push_back(completions.callback(static_cast<std::size_t>(i)));
  }
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kRounds; ++i) {
        Provider p = minimal_provider("ws", "t" + std::to_string(t) + "-" + std::to_string(i));
        storage->append_audit_async(event_for("test.noted", p),
                                    callbacks[static_cast<std::size_t>(t * kRounds + i)]);
        if (Status s = insert(*storage, p); !s.ok()) {
          std::lock_guard lock(failures_mu);
          failures.push_back(p.spec.name + ": " + s.message());
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  REQUIRE(completions.wait_all(kQueueTimeout));
  CHECK(failures == std::vector<std::string>{});
  for (std::size_t i = 0; i < callbacks.size(); ++i) {
    INFO("append " << i);
    CHECK(completions.status(i).ok());
  }
  CHECK(storage->count_providers("ws").value() == kThreads * kRounds);
  auto report = AuditLog(*storage).verify("ws");
  REQUIRE(report.ok());
  CHECK(report->ok);
  CHECK(report->events_checked == 2 * kThreads * kRounds);
  storage.reset();
  CHECK(completions.counts() ==
        std::vector<std::size_t>(static_cast<std::size_t>(kThreads * kRounds), 1));
}

// ---------------------------------------------------------------------------
// Isolation::kSingleStatement, on a committer of its own over a scratch table.

class NoHooks final : public sqlite::BatchHooks {
 public:
  Status begin(sqlite::Connection&) override { return Status::Ok(); }
  void mutation_done(bool) override {}
  Status before_commit(sqlite::Connection&) override { return Status::Ok(); }
  void end(bool) override {}
};

class ScratchCommitter {
 public:
  ScratchCommitter() {
    int rc;
    connection_ = sqlite::Connection::open(dir_.file("scratch.db"),
                                           sqlite::Connection::Mode::kReadWriteCreate, rc);
    REQUIRE(connection_ != nullptr);
    REQUIRE(connection_->exec_script("PRAGMA journal_mode = WAL;"
                                     "CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL);") ==
            SQLITE_OK);
    committer_.emplace(*connection_, mu_, hooks_, sqlite::GroupCommitOptions{});
  }
  ~ScratchCommitter() { committer_.reset(); }

  // Runs `bodies` as one batch: they queue while the writer runs a first
  // mutation that waits for them. Returns their outcomes.
  std::vector<Status> run_batch(
      std::vector<std::pair<sqlite::Isolation, std::function<Status(sqlite::Connection&)>>>
          bodies) {
    std::vector<std::promise<Status>> outcomes(bodies.size());
    std::promise<void> started, go;
    std::promise<Status> first;
    committer_->run_async(
        "hold the writer",
        [&started, go = go.get_future().share()](sqlite::Connection&) noexcept {
          started.set_value();
          go.wait();
          return Status::Ok();
        },
        [&first](Status s) { first.set_value(std::move(s)); });
    started.get_future().wait();
    for (std::size_t i = 0; i < bodies.size(); ++i) {
      auto* body = &bodies[i].second;
      committer_->run_async(
          "write", [body](sqlite::Connection& c) { return (*body)(c); },
          [&outcomes, i](Status s) { outcomes[i].set_value(std::move(s)); }, bodies[i].first);
    }
    const bool queued = committer_->wait_for_queued(bodies.size(), kQueueTimeout);
    go.set_value();
    CHECK(first.get_future().get().ok());
    std::vector<Status> statuses;
    for (auto& o : outcomes) statuses.push_back(o.get_future().get());
    REQUIRE(queued);
    return statuses;
  }

  // Keys of t, sorted, read outside the committer (with its mutex).
  std::vector<std::string> keys() {
    std::lock_guard lock(mu_);
    int rc;
    auto stmt = connection_->prepare("SELECT k FROM t ORDER BY k", rc);
    REQUIRE(stmt);
    std::vector<std::string> out;
    while ((rc = stmt->step()) == SQLITE_ROW) out.push_back(stmt->text(0));
    REQUIRE(rc == SQLITE_DONE);
    return out;
  }

 private:
  TempDir dir_;
  std::unique_ptr<sqlite::Connection> connection_;
  std::mutex mu_;
  NoHooks hooks_;
  std::optional<sqlite::GroupCommitter> committer_;
};

// One INSERT of `sql`, failing with its own error.
std::function<Status(sqlite::Connection&)> statement(std::string sql) {
  return [sql](sqlite::Connection& c) -> Status {
    int rc = c.run(sql);
    return rc == SQLITE_DONE ? Status::Ok() : sqlite::error_status(rc, "write");
  };
}

// Runs each of `sqls` (they must succeed), then fails with `failure`.
std::function<Status(sqlite::Connection&)> then_fail(std::vector<std::string> sqls,
                                                     Status failure) {
  return [sqls, failure](sqlite::Connection& c) -> Status {
    for (const std::string& sql : sqls) REQUIRE(c.run(sql) == SQLITE_DONE);
    return failure;
  };
}

TEST_CASE("sqlite group commit: a failed single-statement mutation leaves nothing, without a "
          "savepoint",
          "[storage][sqlite][group-commit]") {
  ScratchCommitter scratch;
  using sqlite::Isolation;
  auto statuses = scratch.run_batch({
      {Isolation::kSingleStatement, statement("INSERT INTO t VALUES ('a', '1')")},
      // A taken key: the statement fails and SQLite undoes it.
      {Isolation::kSingleStatement, statement("INSERT INTO t VALUES ('a', 'again')")},
      // Two rows, the second taken: the first must not stay.
      {Isolation::kSingleStatement, statement("INSERT INTO t VALUES ('b', '1'), ('a', 'x')")},
      // Two statements, then a failure: its savepoint undoes both.
      {Isolation::kSavepoint,
       then_fail({"INSERT INTO t VALUES ('c', '1')", "INSERT INTO t VALUES ('d', '1')"},
                 Status(ErrorCode::kValidationFailed, "changed its mind"))},
      {Isolation::kSingleStatement, statement("INSERT INTO t VALUES ('e', '1')")},
  });
  REQUIRE(statuses.size() == 5);
  CHECK(statuses[0].ok());
  CHECK_FALSE(statuses[1].ok());
  CHECK_FALSE(statuses[2].ok());
  CHECK(statuses[3].code() == ErrorCode::kValidationFailed);
  CHECK(statuses[4].ok());
  CHECK(scratch.keys() == std::vector<std::string>{"a", "e"});
}

TEST_CASE("sqlite group commit: a single-statement mutation that fails after its statement "
          "took effect fails its whole batch",
          "[storage][sqlite][group-commit]") {
  ScratchCommitter scratch;
  using sqlite::Isolation;
  auto statuses = scratch.run_batch({
      {Isolation::kSingleStatement, statement("INSERT INTO t VALUES ('a', '1')")},
      // Breaks the contract: nothing could undo its row alone.
      {Isolation::kSingleStatement,
       then_fail({"INSERT INTO t VALUES ('b', '1')"},
                 Status(ErrorCode::kInternal, "out of memory after the insert"))},
      {Isolation::kSavepoint, statement("INSERT INTO t VALUES ('c', '1')")},
  });
  REQUIRE(statuses.size() == 3);
  CHECK(statuses[0].code() == ErrorCode::kUnavailable);
  CHECK(statuses[1].code() == ErrorCode::kInternal);  // its own error
  CHECK(statuses[2].code() == ErrorCode::kUnavailable);
  CHECK(scratch.keys().empty());
}

}  // namespace
}  // namespace nexus::testing

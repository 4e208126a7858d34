// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Group commit on the SQLite writer: concurrent writes share a transaction,
// each in its own savepoint; a failing write rolls back alone; a failed
// COMMIT fails the whole batch; a locked database fails every waiter within
// about one busy timeout.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nexus/audit.hpp"
#include "nexus/storage.hpp"
#include "storage/conformance.hpp"
#include "storage/raw_sqlite.hpp"
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
      return sqlite::run_write_for_test(*storage, [](sqlite3* db) {
        int rc = sqlite3_exec(db,
                              "PRAGMA defer_foreign_keys = ON; "
                              "INSERT INTO connection_credentials (connection_id, field, envelope) "
                              "VALUES ('con_nowhere', 'secret', x'00')",
                              nullptr, nullptr, nullptr);
        return rc == SQLITE_OK ? Status::Ok() : Status(ErrorCode::kInternal, "setup failed");
      });
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

}  // namespace
}  // namespace nexus::testing

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Private: group commit on SQLite's one writer connection. Concurrent
// mutations queue; the caller at the front of the queue (the leader) runs
// itself and the mutations queued behind it in ONE transaction, each in its
// own savepoint, and pays for one COMMIT (one fsync) for all of them. No
// dedicated thread: whoever is at the front does the work, the others wait.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <type_traits>

#include "nexus/status.hpp"
#include "storage/sqlite/sqlite_connection.hpp"

namespace nexus::sqlite {

// A borrowed callable `Status(Connection&)`: no allocation, no ownership. The
// callable must outlive every call (GroupCommitter::run's caller keeps it on
// its stack until run returns).
class WriteBody {
 public:
  template <typename F>
  requires(!std::is_same_v<std::remove_cv_t<F>, WriteBody>) explicit WriteBody(F& f) noexcept
      : object_(&f),
        call_([](void* object, Connection& c) -> Status { return (*static_cast<F*>(object))(c); }) {
  }
  Status operator()(Connection& c) const { return call_(object_, c); }

 private:
  void* object_;
  Status (*call_)(void*, Connection&);
};

struct GroupCommitOptions {
  // How long a mutation may wait, from the moment it is queued, for another
  // process's lock on the database. The mutations of a batch share one wait.
  int busy_timeout_ms = 5000;
  // The most mutations one transaction carries.
  std::size_t max_batch = 64;
};

// Counters for tests and benchmarks.
struct GroupCommitStats {
  std::uint64_t transactions = 0;  // committed
  std::uint64_t mutations = 0;     // committed with their transaction
};

// What the owner of the writer connection does around each batch, on the
// leader's thread with the writer's mutex held.
class BatchHooks {
 public:
  virtual ~BatchHooks() = default;
  // After BEGIN, before the first mutation. A failure fails the batch.
  virtual Status begin(Connection& c) = 0;
  // After each mutation: kept in the transaction, or rolled back.
  virtual void mutation_done(bool kept) = 0;
  // Before COMMIT, once some mutation is kept. A failure fails the batch.
  virtual Status before_commit(Connection& c) = 0;
  // Last: whether the batch's changes were committed.
  virtual void end(bool committed) = 0;
};

class GroupCommitter {
 public:
  // `writer`, `writer_mu` and `hooks` must outlive the committer; the
  // committer holds `writer_mu` whenever it uses `writer`.
  GroupCommitter(Connection& writer, std::mutex& writer_mu, BatchHooks& hooks,
                 GroupCommitOptions options);
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Runs `body` as one mutation inside a write transaction and returns once
  // that transaction has committed (the mutation is durable) or failed.
  // Returns body's Status when it fails: its savepoint is rolled back and the
  // other mutations of the batch are unaffected. When the transaction cannot
  // begin (the database stays locked past the busy timeout) or cannot commit,
  // every mutation of the batch fails with that error and nothing of the
  // batch is stored. `operation` ("insert a provider") names the mutation in
  // error messages. Thread-safe; never throws.
  Status run(std::string_view operation, WriteBody body) noexcept;

  // Test hook: waits until at least `count` mutations are queued behind the
  // running batch, or `timeout` passes. True when they are.
  bool wait_for_queued(std::size_t count, std::chrono::milliseconds timeout);

  GroupCommitStats stats() const;

 private:
  struct Pending;

  // Runs the `count` mutations starting at `first`, linked by Pending::next.
  // REQUIRES: writer_mu_ held; the links among those `count` stay unchanged.
  void run_batch(Pending* first, std::size_t count) noexcept;

  Connection& writer_;
  std::mutex& writer_mu_;
  BatchHooks& hooks_;
  const GroupCommitOptions options_;

  mutable std::mutex mu_;
  Pending* head_ = nullptr;            // GUARDED_BY(mu_); the running batch starts here
  Pending* tail_ = nullptr;            // GUARDED_BY(mu_)
  std::size_t queued_ = 0;             // GUARDED_BY(mu_); not yet taken into a batch
  std::condition_variable queued_cv_;  // signalled when queued_ grows
  GroupCommitStats stats_;             // GUARDED_BY(mu_)
};

}  // namespace nexus::sqlite

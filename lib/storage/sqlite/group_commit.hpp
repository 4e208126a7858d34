// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Private: group commit on SQLite's one writer connection. Mutations queue;
// a batch of them, up to max_batch, runs in ONE transaction, each in its own
// savepoint, and pays for one COMMIT (one fsync) for all of them.
//
// A dedicated writer thread runs the batches, so a mutation needs no thread
// of its own waiting for it: run_async() queues one and returns at once, and
// its completion is called on the writer thread after COMMIT. A synchronous
// caller (run()) that finds the writer idle and nothing queued runs its
// mutation itself, on its own thread, sparing the two thread switches of a
// hand-off; otherwise it queues and waits for the writer thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <new>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>

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

// How a mutation is kept apart from the others of its batch.
enum class Isolation {
  // In its own savepoint: when it fails, everything it changed is rolled
  // back, whatever the number of statements.
  kSavepoint,
  // Without a savepoint (two statements fewer per mutation). Only for a
  // mutation that changes the database with at most one statement and fails
  // only before that statement ran or because it failed: SQLite undoes a
  // failed statement by itself (or the whole transaction, which fails the
  // batch).
  kSingleStatement,
};

// Counters for tests and benchmarks.
struct GroupCommitStats {
  std::uint64_t transactions = 0;  // committed
  std::uint64_t mutations = 0;     // committed with their transaction
};

// What the owner of the writer connection does around each batch, on the
// thread running the batch, with the writer's mutex held.
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
  // Starts the writer thread. `writer`, `writer_mu` and `hooks` must outlive
  // the committer; the committer holds `writer_mu` whenever it uses `writer`.
  // Throws std::system_error when the thread cannot be started.
  GroupCommitter(Connection& writer, std::mutex& writer_mu, BatchHooks& hooks,
                 GroupCommitOptions options);
  // stop(), then destroys.
  ~GroupCommitter();
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Runs `body` as one mutation inside a write transaction and returns once
  // that transaction has committed (the mutation is durable) or failed.
  // Returns body's Status when it fails: its savepoint is rolled back and the
  // other mutations of the batch are unaffected. When the transaction cannot
  // begin (the database stays locked past the busy timeout) or cannot commit,
  // every mutation of the batch fails with that error and nothing of the
  // batch is stored. `operation` ("insert a provider") names the mutation in
  // error messages. Thread-safe; never throws. After stop(): kUnavailable.
  Status run(std::string_view operation, WriteBody body,
             Isolation isolation = Isolation::kSavepoint) noexcept;

  // Queues `body` (a callable `Status(Connection&)`, owned from now on) as
  // one mutation, with the same rules as run(), and returns at once. `done`
  // gets its outcome exactly once: on the writer thread, after the
  // transaction holding the mutation committed or failed; or on this thread
  // before return when it cannot be queued (after stop(), or out of memory).
  // `done` must be cheap (it holds up the next batch), must not throw and
  // must not write through this committer. `operation` must outlive the call
  // of `done` (a literal). Thread-safe; never throws.
  template <typename F>
  void run_async(std::string_view operation, F&& body, std::function<void(Status)> done,
                 Isolation isolation = Isolation::kSavepoint) noexcept;

  // Runs what is queued (every completion is called), then stops the writer
  // thread and joins it. Later run() and run_async() fail with kUnavailable.
  // Idempotent. REQUIRES: not called from a completion (the writer thread),
  // nor from two threads at once.
  void stop() noexcept;

  // Test hook: waits until at least `count` mutations are queued behind the
  // running batch, or `timeout` passes. True when they are.
  bool wait_for_queued(std::size_t count, std::chrono::milliseconds timeout);

  GroupCommitStats stats() const;

 private:
  struct Pending;
  struct SyncPending;
  struct AsyncPending;
  template <typename F>
  struct AsyncMutation;

  // Queues `p` for the writer thread, or completes it with kUnavailable
  // after stop(). Takes ownership.
  void enqueue_async(AsyncPending* p) noexcept;
  // Calls `done` with the error of a mutation that could not be queued.
  static void fail_unqueued(std::string_view operation,
                            const std::function<void(Status)>& done) noexcept;
  void writer_loop() noexcept;
  // Runs the `count` mutations starting at `first`, linked by Pending::next,
  // and records the outcome in the stats. REQUIRES: the batch has been taken
  // off the queue (running_ set); writer_mu_ not held.
  void run_batch(Pending* first, std::size_t count) noexcept;
  // REQUIRES: writer_mu_ held.
  void run_transaction(Pending* first, std::size_t count) noexcept;
  // Releases the waiters and calls the completions of a finished batch.
  void complete(Pending* first, std::size_t count) noexcept;

  Connection& writer_;
  std::mutex& writer_mu_;
  BatchHooks& hooks_;
  const GroupCommitOptions options_;

  mutable std::mutex mu_;
  Pending* head_ = nullptr;            // GUARDED_BY(mu_); queued, not yet taken into a batch
  Pending* tail_ = nullptr;            // GUARDED_BY(mu_)
  std::size_t queued_ = 0;             // GUARDED_BY(mu_)
  bool running_ = false;               // GUARDED_BY(mu_); a batch is being run
  bool stopping_ = false;              // GUARDED_BY(mu_)
  bool stopped_ = false;               // GUARDED_BY(mu_); the writer thread has left
  std::condition_variable work_cv_;    // the writer thread: a batch can start, or stop
  std::condition_variable queued_cv_;  // signalled when queued_ grows
  GroupCommitStats stats_;             // GUARDED_BY(mu_)
  std::thread thread_;                 // last: started once the rest is ready
};

// One queued mutation.
struct GroupCommitter::Pending {
  Pending(std::string_view op, bool async, Isolation iso)
      : operation(op), queued_at(std::chrono::steady_clock::now()), is_async(async), isolation(iso) {}
  Pending(const Pending&) = delete;
  Pending& operator=(const Pending&) = delete;

  virtual Status run(Connection& c) = 0;

  const std::string_view operation;
  const std::chrono::steady_clock::time_point queued_at;
  const bool is_async;
  const Isolation isolation;
  Status status;            // written by the thread running its batch
  Pending* next = nullptr;  // GUARDED_BY(mu_) while queued

 protected:
  ~Pending() = default;
};

// A mutation queued by run_async(): on the heap, owned by the committer.
struct GroupCommitter::AsyncPending : Pending {
  AsyncPending(std::string_view op, std::function<void(Status)> d, Isolation iso)
      : Pending(op, true, iso), done(std::move(d)) {}
  virtual ~AsyncPending() = default;
  std::function<void(Status)> done;
};

template <typename F>
struct GroupCommitter::AsyncMutation final : AsyncPending {
  AsyncMutation(std::string_view op, F&& b, std::function<void(Status)> d, Isolation iso)
      : AsyncPending(op, std::move(d), iso), body(std::forward<F>(b)) {}
  Status run(Connection& c) override { return body(c); }
  std::decay_t<F> body;
};

template <typename F>
void GroupCommitter::run_async(std::string_view operation, F&& body,
                               std::function<void(Status)> done, Isolation isolation) noexcept {
  // So that only the allocation can fail, and `done` is still here then.
  static_assert(std::is_nothrow_constructible_v<std::decay_t<F>, F&&>);
  AsyncPending* p =
      new (std::nothrow) AsyncMutation<F>(operation, std::forward<F>(body), std::move(done),
                                          isolation);
  if (p == nullptr) {
    fail_unqueued(operation, done);
    return;
  }
  enqueue_async(p);
}

}  // namespace nexus::sqlite

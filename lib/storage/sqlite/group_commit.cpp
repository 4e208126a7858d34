// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "storage/sqlite/group_commit.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <string>
#include <utility>

#include "storage/storage_common.hpp"

namespace nexus::sqlite {

// A run() caller's mutation, on its stack while it waits.
struct GroupCommitter::SyncPending final : Pending {
  SyncPending(std::string_view op, WriteBody b, Isolation iso) : Pending(op, false, iso), body(b) {}
  Status run(Connection& c) override { return body(c); }

  const WriteBody body;
  bool done = false;           // GUARDED_BY(mu_)
  std::condition_variable cv;  // signalled, with mu_ held, once done
};

namespace {

Status stopped_status(std::string_view operation) {
  return Status(ErrorCode::kUnavailable,
                "the database is closing; could not " + std::string(operation));
}

// What every mutation of a batch gets when the transaction as a whole is
// lost: SQLite rolled it back after an I/O error, say.
Status batch_lost(std::string_view operation) {
  return Status(ErrorCode::kUnavailable, "the database failed while trying to " +
                                             std::string(operation) +
                                             "; nothing was stored; try again");
}

}  // namespace

GroupCommitter::GroupCommitter(Connection& writer, std::mutex& writer_mu, BatchHooks& hooks,
                               GroupCommitOptions options)
    : writer_(writer), writer_mu_(writer_mu), hooks_(hooks), options_(options), thread_([this] {
        writer_loop();
      }) {}

GroupCommitter::~GroupCommitter() { stop(); }

void GroupCommitter::stop() noexcept {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status GroupCommitter::run(std::string_view operation, WriteBody body,
                           Isolation isolation) noexcept {
  SyncPending self(operation, body, isolation);
  std::unique_lock lock(mu_);
  if (stopped_) return stopped_status(operation);
  if (!running_ && head_ == nullptr) {
    // The writer is idle: run here, without waking the writer thread.
    running_ = true;
    lock.unlock();
    run_batch(&self, 1);
    return std::move(self.status);
  }
  (tail_ != nullptr ? tail_->next : head_) = &self;
  tail_ = &self;
  ++queued_;
  queued_cv_.notify_all();
  if (!running_) work_cv_.notify_one();
  self.cv.wait(lock, [&] { return self.done; });
  return std::move(self.status);
}

void GroupCommitter::fail_unqueued(std::string_view operation,
                                   const std::function<void(Status)>& done) noexcept {
  try {
    if (done) {
      done(Status(ErrorCode::kInternal, "out of memory while trying to " + std::string(operation)));
    }
  } catch (...) {
    // `done` must not throw; there is no one left to tell.
  }
}

void GroupCommitter::enqueue_async(AsyncPending* p) noexcept {
  std::unique_lock lock(mu_);
  if (stopped_) {
    lock.unlock();
    try {
      p->done(stopped_status(p->operation));
    } catch (...) {
    }
    delete p;
    return;
  }
  (tail_ != nullptr ? tail_->next : head_) = p;
  tail_ = p;
  ++queued_;
  queued_cv_.notify_all();
  const bool wake = !running_;
  lock.unlock();
  if (wake) work_cv_.notify_one();
}

void GroupCommitter::writer_loop() noexcept {
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock,
                  [&] { return (head_ != nullptr && !running_) || (stopping_ && !running_); });
    if (head_ == nullptr) break;  // stopping, and everything queued has run
    // The mutations queued now, up to max_batch, leave the queue together.
    Pending* first = head_;
    Pending* last = first;
    std::size_t count = 1;
    while (count < options_.max_batch && last->next != nullptr) {
      last = last->next;
      ++count;
    }
    head_ = last->next;
    if (head_ == nullptr) tail_ = nullptr;
    last->next = nullptr;
    queued_ -= count;
    running_ = true;
    lock.unlock();
    run_batch(first, count);
    lock.lock();
  }
  stopped_ = true;
}

void GroupCommitter::run_batch(Pending* first, std::size_t count) noexcept {
  {
    std::lock_guard writer(writer_mu_);
    run_transaction(first, count);
  }
  complete(first, count);
}

void GroupCommitter::complete(Pending* first, std::size_t count) noexcept {
  Pending* async_head = nullptr;  // the batch's async mutations, relinked
  Pending** async_tail = &async_head;
  {
    std::lock_guard lock(mu_);
    std::uint64_t committed = 0;
    Pending* p = first;
    for (std::size_t i = 0; i < count; ++i) {
      Pending* next = p->next;  // read before a waiter may leave with its node
      if (p->status.ok()) ++committed;
      if (p->is_async) {
        p->next = nullptr;
        *async_tail = p;
        async_tail = &p->next;
      } else {
        auto* s = static_cast<SyncPending*>(p);
        s->done = true;
        s->cv.notify_one();  // it wakes once mu_ is released
      }
      p = next;
    }
    if (committed > 0) {
      ++stats_.transactions;
      stats_.mutations += committed;
    }
    running_ = false;
    // With mu_ held: a caller running its own batch may return, and the
    // committer be destroyed, as soon as mu_ is released.
    if (head_ != nullptr || stopping_) work_cv_.notify_one();
  }
  for (Pending* p = async_head; p != nullptr;) {
    auto* a = static_cast<AsyncPending*>(p);
    p = p->next;
    try {
      a->done(std::move(a->status));
    } catch (...) {
      // `done` must not throw; the outcome has nowhere else to go.
    }
    delete a;
  }
}

void GroupCommitter::run_transaction(Pending* first, std::size_t count) noexcept {
  Connection& c = writer_;
  auto for_each = [&](auto&& f) {
    Pending* p = first;
    for (std::size_t i = 0; i < count; ++i, p = (i < count ? p->next : nullptr)) f(*p);
  };
  // Fails every mutation of the batch that has not failed on its own.
  auto fail_all = [&](auto&& status_of) {
    for_each([&](Pending& p) {
      if (p.status.ok()) p.status = status_of(p);
    });
  };
  bool begun = false;
  bool committed = false;

  try {
    // One shared wait for another process's lock, bounded by the oldest
    // mutation's deadline: queued callers never add busy timeouts up.
    const auto waited = std::chrono::steady_clock::now() - first->queued_at;
    const auto waited_ms = std::chrono::duration_cast<std::chrono::milliseconds>(waited).count();
    const int remaining_ms = static_cast<int>(
        std::clamp<long long>(options_.busy_timeout_ms - waited_ms, 0, options_.busy_timeout_ms));
    const bool shortened = remaining_ms < options_.busy_timeout_ms;
    if (shortened) sqlite3_busy_timeout(c.handle(), remaining_ms);
    const int begin_rc = c.run("BEGIN IMMEDIATE");
    if (shortened) sqlite3_busy_timeout(c.handle(), options_.busy_timeout_ms);
    if (begin_rc != SQLITE_DONE) {
      fail_all([&](Pending& p) { return error_status(begin_rc, p.operation); });
      return;
    }
    begun = true;
    if (Status s = hooks_.begin(c); !s.ok()) {
      fail_all([&](Pending&) { return s; });
      if (c.in_transaction()) c.run("ROLLBACK");
      hooks_.end(false);
      return;
    }

    // A single mutation needs no savepoint: when it fails, the transaction,
    // which holds nothing else, is rolled back. Nor does one of a single
    // statement (Isolation::kSingleStatement).
    std::optional<Status> aborted;  // set when the batch as a whole is lost
    std::size_t kept = 0;
    for_each([&](Pending& p) {
      if (aborted) return;
      const bool isolate = count > 1 && p.isolation == Isolation::kSavepoint;
      if (isolate) {
        if (int rc = c.run("SAVEPOINT nexus_write"); rc != SQLITE_DONE) {
          aborted = error_status(rc, p.operation);
          return;
        }
      }
      const sqlite3_int64 changes_before = sqlite3_total_changes64(c.handle());
      p.status = detail::without_exceptions(p.operation, [&] { return p.run(c); });
      if (!isolate && count > 1 && !p.status.ok() &&
          sqlite3_total_changes64(c.handle()) != changes_before) {
        // A single-statement mutation that failed after its statement took
        // effect (out of memory, say): nothing can undo it alone.
        aborted = batch_lost(p.operation);
        return;
      }
      if (!c.in_transaction()) {
        // SQLite gave the whole transaction up (an I/O error, say): what the
        // batch did before is gone too.
        aborted = batch_lost(p.operation);
        return;
      }
      if (isolate) {
        int rc = p.status.ok() ? SQLITE_DONE : c.run("ROLLBACK TO nexus_write");
        if (rc == SQLITE_DONE) rc = c.run("RELEASE nexus_write");
        if (rc != SQLITE_DONE) {
          aborted = error_status(rc, p.operation);
          return;
        }
      }
      hooks_.mutation_done(p.status.ok());
      if (p.status.ok()) ++kept;
    });
    if (aborted) {
      if (c.in_transaction()) c.run("ROLLBACK");
      fail_all([&](Pending&) { return *aborted; });  // those kept are gone as well
      hooks_.end(false);
      return;
    }
    if (kept == 0) {
      c.run("ROLLBACK");
      hooks_.end(false);
      return;
    }
    if (Status s = hooks_.before_commit(c); !s.ok()) {
      if (c.in_transaction()) c.run("ROLLBACK");
      fail_all([&](Pending&) { return s; });
      hooks_.end(false);
      return;
    }
    const int commit_rc = c.run("COMMIT");
    if (commit_rc != SQLITE_DONE) {
      if (c.in_transaction()) c.run("ROLLBACK");
      fail_all([&](Pending& p) { return error_status(commit_rc, p.operation); });
      hooks_.end(false);
      return;
    }
    committed = true;
    hooks_.end(true);
  } catch (...) {
    // Out of memory in the machinery itself: nothing of the batch is stored.
    try {
      if (c.in_transaction()) c.run("ROLLBACK");
      if (!committed) {
        for_each([&](Pending& p) {
          if (p.status.ok()) p.status = batch_lost(p.operation);
        });
        if (begun) hooks_.end(false);
      }
    } catch (...) {
      std::terminate();
    }
  }
}

bool GroupCommitter::wait_for_queued(std::size_t count, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return queued_cv_.wait_for(lock, timeout, [&] { return queued_ >= count; });
}

GroupCommitStats GroupCommitter::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace nexus::sqlite

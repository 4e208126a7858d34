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

// One caller's mutation, on that caller's stack while it waits in run().
struct GroupCommitter::Pending {
  Pending(std::string_view op, WriteBody b)
      : operation(op), body(b), queued_at(std::chrono::steady_clock::now()) {}

  const std::string_view operation;
  const WriteBody body;
  const std::chrono::steady_clock::time_point queued_at;
  Status status;               // written by the leader of its batch
  bool done = false;           // GUARDED_BY(mu_)
  Pending* next = nullptr;     // GUARDED_BY(mu_)
  std::condition_variable cv;  // its turn to lead, or its batch is done
};

GroupCommitter::GroupCommitter(Connection& writer, std::mutex& writer_mu, BatchHooks& hooks,
                               GroupCommitOptions options)
    : writer_(writer), writer_mu_(writer_mu), hooks_(hooks), options_(options) {}

Status GroupCommitter::run(std::string_view operation, WriteBody body) noexcept {
  Pending self(operation, body);
  std::unique_lock lock(mu_);
  (tail_ != nullptr ? tail_->next : head_) = &self;
  tail_ = &self;
  ++queued_;
  queued_cv_.notify_all();
  while (!self.done && head_ != &self) self.cv.wait(lock);
  if (self.done) return std::move(self.status);

  // The leader: this mutation and those queued behind it, up to max_batch.
  std::size_t count = 1;
  Pending* last = &self;
  while (count < options_.max_batch && last->next != nullptr) {
    last = last->next;
    ++count;
  }
  queued_ -= count;
  lock.unlock();
  {
    std::lock_guard writer(writer_mu_);
    run_batch(&self, count);
  }
  lock.lock();
  std::uint64_t committed = 0;
  for (Pending* p = &self; p != last->next; p = p->next) {
    if (p->status.ok()) ++committed;
  }
  if (committed > 0) {
    ++stats_.transactions;
    stats_.mutations += committed;
  }
  head_ = last->next;
  if (head_ == nullptr) tail_ = nullptr;
  // The followers wake once mu_ is released; until then their nodes stay put.
  for (Pending* p = self.next; p != head_; p = p->next) {
    p->done = true;
    p->cv.notify_one();
  }
  if (head_ != nullptr) head_->cv.notify_one();  // the next leader
  return std::move(self.status);
}

namespace {

// What every mutation of a batch gets when the transaction as a whole is
// lost: SQLite rolled it back after an I/O error, say.
Status batch_lost(std::string_view operation) {
  return Status(ErrorCode::kUnavailable, "the database failed while trying to " +
                                             std::string(operation) +
                                             "; nothing was stored; try again");
}

}  // namespace

void GroupCommitter::run_batch(Pending* first, std::size_t count) noexcept {
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
    // which holds nothing else, is rolled back.
    const bool isolate = count > 1;
    std::optional<Status> aborted;  // set when the batch as a whole is lost
    std::size_t kept = 0;
    for_each([&](Pending& p) {
      if (aborted) return;
      if (isolate) {
        if (int rc = c.run("SAVEPOINT nexus_write"); rc != SQLITE_DONE) {
          aborted = error_status(rc, p.operation);
          return;
        }
      }
      p.status = detail::without_exceptions(p.operation, [&] { return p.body(c); });
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

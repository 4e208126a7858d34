// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// A fixed set of threads for route handlers that wait (on the database's
// write lock, on an issuer): they hold a pool thread, never an I/O thread.
// Unlike a plain thread pool it can drop what has not started (shutdown
// after the grace period) and give up on what has (abandon past a deadline).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace nexus::server {

class BlockingPool {
 public:
  // A task is called once: with true on a pool thread to run, or with false
  // on the thread that calls drop_queued() when it is dropped unstarted.
  using Task = std::function<void(bool run)>;

  // Starts `threads` (at least 1) threads.
  explicit BlockingPool(int threads);
  // Drops what is queued and joins the threads, unless detach() was called.
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // Queues `task`. Once drop_queued() was called, drops it at once instead
  // (calls it with false on this thread) and returns false.
  bool post(Task task);

  // Stops taking tasks and drops every queued one (each is called with
  // false); running tasks go on. The threads exit once idle.
  void drop_queued();

  // After drop_queued(): waits until every running task has returned and the
  // threads have exited, at most until `deadline`. True when they have.
  bool join_until(std::chrono::steady_clock::time_point deadline);

  // Gives up on the threads still running a task: they finish it and exit on
  // their own (the pool's state lives until then).
  void detach();

  // Tasks running now.
  std::size_t running() const;

 private:
  struct State {
    mutable std::mutex mu;
    std::condition_variable cv;
    std::deque<Task> queue;        // GUARDED_BY(mu)
    bool stopping = false;         // GUARDED_BY(mu)
    std::size_t running = 0;       // GUARDED_BY(mu)
    std::size_t live_threads = 0;  // GUARDED_BY(mu)
  };
  static void work(const std::shared_ptr<State>& state);

  std::shared_ptr<State> state_;
  std::vector<std::thread> threads_;
};

}  // namespace nexus::server

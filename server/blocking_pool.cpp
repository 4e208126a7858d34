// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "blocking_pool.hpp"

#include <algorithm>
#include <utility>

namespace nexus::server {

BlockingPool::BlockingPool(int threads) : state_(std::make_shared<State>()) {
  const std::size_t n = static_cast<std::size_t>(std::max(threads, 1));
  state_->live_threads = n;
  threads_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    threads_.emplace_back([state = state_] { work(state); });
  }
}

BlockingPool::~BlockingPool() {
  drop_queued();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void BlockingPool::work(const std::shared_ptr<State>& state) {
  std::unique_lock lock(state->mu);
  for (;;) {
    state->cv.wait(lock, [&] { return state->stopping || !state->queue.empty(); });
    if (state->queue.empty()) break;  // stopping and idle
    Task task = std::move(state->queue.front());
    state->queue.pop_front();
    ++state->running;
    lock.unlock();
    try {
      task(true);
    } catch (...) {
      // A task reports its own failures; one that throws must not end the
      // thread.
    }
    task = nullptr;  // release what it holds before counting it done
    lock.lock();
    --state->running;
  }
  --state->live_threads;
  state->cv.notify_all();
}

bool BlockingPool::post(Task task) {
  {
    std::lock_guard lock(state_->mu);
    if (!state_->stopping) {
      state_->queue.push_back(std::move(task));
      state_->cv.notify_one();
      return true;
    }
  }
  try {
    task(false);
  } catch (...) {
  }
  return false;
}

void BlockingPool::drop_queued() {
  std::deque<Task> dropped;
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
    dropped.swap(state_->queue);
  }
  state_->cv.notify_all();
  for (Task& task : dropped) {
    try {
      task(false);
    } catch (...) {
    }
  }
}

bool BlockingPool::join_until(std::chrono::steady_clock::time_point deadline) {
  {
    std::unique_lock lock(state_->mu);
    if (!state_->cv.wait_until(lock, deadline, [&] { return state_->live_threads == 0; })) {
      return false;
    }
  }
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  return true;
}

void BlockingPool::detach() {
  for (auto& t : threads_) {
    if (t.joinable()) t.detach();
  }
}

std::size_t BlockingPool::running() const {
  std::lock_guard lock(state_->mu);
  return state_->running;
}

}  // namespace nexus::server

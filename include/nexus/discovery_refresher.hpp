// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// DiscoveryRefresher: keeps the discovery documents of a registry's providers
// fresh. Each document is refetched when it is due (next_refresh_at: its
// Cache-Control expiry, or after a failure the backoff's retry_at), on a
// thread of the refresher's own, never on a caller's.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>

#include "nexus/registry.hpp"
#include "nexus/status.hpp"

namespace nexus {

// What one pass did.
struct DiscoveryRefreshReport {
  std::size_t refreshed = 0;  // fetched and stored: provider.discovered
  std::size_t failed = 0;     // failure recorded (provider.discovery_failed), backoff started
  // Nothing recorded: the provider changed or went away meanwhile, or the
  // registry answered something other than a discovery outcome (for example
  // kUnavailable with max_concurrent_discoveries in flight). Due again next pass.
  std::size_t skipped = 0;
  // Not OK when listing the due providers failed; the pass ended there.
  Status status;
};

struct DiscoveryRefresherOptions {
  // Wall-clock time between the end of one background pass and the start of
  // the next. Whether a document is due is decided by the registry's Clock.
  std::chrono::milliseconds interval{30'000};
  // Providers read per storage query (Storage::providers_due_for_discovery).
  std::size_t batch_size = 100;
  // Called on the refresher's thread after each background pass, e.g. to log
  // it. Must not call stop().
  std::function<void(const DiscoveryRefreshReport&)> on_pass;
};

// Thread-safe.
class DiscoveryRefresher {
 public:
  // `registry` (and its storage and clock) must outlive the refresher.
  // Nothing runs until start() or run_once().
  explicit DiscoveryRefresher(ProviderRegistry& registry, DiscoveryRefresherOptions options = {});
  // stop().
  ~DiscoveryRefresher();
  DiscoveryRefresher(const DiscoveryRefresher&) = delete;
  DiscoveryRefresher& operator=(const DiscoveryRefresher&) = delete;

  // One pass on the calling thread: every provider due at the registry
  // clock's now() is refreshed once, one after the other, through
  // ProviderRegistry::refresh_discovery (so each outcome is stored and
  // audited like the refresh route's, with actor null and user agent
  // "nexus (discovery refresher)"). A failure keeps the last good document
  // and pushes the next attempt back (discovery_retry_delay). Returns early,
  // between two providers, once stop() was called.
  DiscoveryRefreshReport run_once();

  // Starts the background thread: a pass at once, then one every interval.
  // Does nothing when it is already running.
  void start();

  // Wakes and joins the background thread; a refresh in progress finishes
  // first (at most the HTTP client's total timeout). Idempotent; start() may
  // follow.
  void stop();

 private:
  void loop();

  ProviderRegistry& registry_;
  const DiscoveryRefresherOptions options_;
  std::mutex lifecycle_mu_;  // held by start() and stop()
  std::thread thread_;       // GUARDED_BY(lifecycle_mu_); joinable while running
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
};

}  // namespace nexus

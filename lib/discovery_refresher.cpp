// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/discovery_refresher.hpp"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "nexus/storage.hpp"

namespace nexus {
namespace {

constexpr std::string_view kUserAgent = "nexus (discovery refresher)";

}  // namespace

DiscoveryRefresher::DiscoveryRefresher(ProviderRegistry& registry,
                                       DiscoveryRefresherOptions options)
    : registry_(registry), options_(std::move(options)) {}

DiscoveryRefresher::~DiscoveryRefresher() { stop(); }

DiscoveryRefreshReport DiscoveryRefresher::run_once() {
  DiscoveryRefreshReport report;
  Storage& storage = *registry_.options().storage;
  const Timestamp now = registry_.options().clock->now();
  const std::size_t batch = options_.batch_size == 0 ? 1 : options_.batch_size;
  const auto stopping = [this] {
    std::lock_guard lock(mu_);
    return stopping_;
  };
  // A provider that is skipped stays due (and first in line); this pass
  // visits it only once, and asks for that many more so that the skipped
  // never crowd out the providers due behind them.
  std::set<std::string> visited;
  for (;;) {
    const std::size_t limit = batch + report.skipped;
    Result<std::vector<Provider>> due = storage.providers_due_for_discovery(now, limit);
    if (!due.ok()) {
      report.status = due.status();
      return report;
    }
    bool visited_new = false;
    for (const Provider& p : due.value()) {
      if (stopping()) return report;
      if (!visited.insert(p.id).second) continue;
      visited_new = true;
      const RequestContext ctx{.workspace = p.workspace,
                               .actor = std::nullopt,
                               .caller_ip = "",
                               .user_agent = std::string(kUserAgent)};
      Result<Provider> outcome = registry_.refresh_discovery(ctx, p.spec.name);
      if (outcome.ok()) {
        ++report.refreshed;
      } else if (outcome.status().code() == ErrorCode::kDiscoveryFailed) {
        ++report.failed;
      } else {
        ++report.skipped;
      }
    }
    if (!visited_new || due->size() < limit) return report;
  }
}

void DiscoveryRefresher::start() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { loop(); });
}

void DiscoveryRefresher::stop() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void DiscoveryRefresher::loop() {
  for (;;) {
    const DiscoveryRefreshReport report = run_once();
    if (options_.on_pass) options_.on_pass(report);
    std::unique_lock lock(mu_);
    if (wake_.wait_for(lock, options_.interval, [this] { return stopping_; })) return;
  }
}

}  // namespace nexus

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "detail/audit_chain.hpp"
#include "nexus/storage.hpp"
#include "storage/storage_common.hpp"

namespace nexus {
namespace {

bool matches(const ProviderListQuery& query, const Provider& provider) {
  return (!query.auth_type || provider.spec.auth_type == *query.auth_type) &&
         (!query.category || provider.spec.category == query.category);
}

bool matches(const AuditScan& scan, const AuditEvent& event) {
  return (!scan.event_type || event.event_type == *scan.event_type) &&
         (!scan.since || event.at >= *scan.since) && (!scan.until || event.at < *scan.until) &&
         (!scan.provider_name || event.provider_name == *scan.provider_name);
}

// Everything stored for one workspace.
struct Workspace {
  // std::string orders bytewise, as the ProviderListQuery contract asks.
  std::map<std::string, Provider, std::less<>> providers;
  std::vector<AuditEvent> events;  // events[i].seq == i + 1
  AuditHead head = detail::genesis_head();
};

// One shared_mutex over all data: readers proceed in parallel, a mutation
// checks and applies under the exclusive lock, so it is atomic with respect to
// every other call.
class MemoryStorage final : public Storage {
 public:
  Status insert_provider(const Provider& provider, AuditEvent event) override {
    return detail::without_exceptions("insert a provider", [&]() -> Status {
      std::unique_lock lock(mu_);
      Workspace& ws = workspaces_[provider.workspace];
      if (ws.providers.contains(provider.spec.name)) return detail::provider_exists();
      if (provider_ids_.contains(provider.id)) return detail::provider_id_taken();
      if (event_ids_.contains(event.id)) return detail::audit_event_id_taken();
      // Reserve every allocation before the first change, so that nothing
      // below can fail half-way.
      ws.events.reserve(ws.events.size() + 1);
      auto node = ws.providers.emplace(provider.spec.name, provider).first;
      try {
        provider_ids_.insert(provider.id);
        try {
          append(ws, provider.workspace, std::move(event));
        } catch (...) {
          provider_ids_.erase(provider.id);
          throw;
        }
      } catch (...) {
        ws.providers.erase(node);
        throw;
      }
      return Status::Ok();
    });
  }

  Status update_provider(const Provider& provider, std::int64_t expected_version,
                         AuditEvent event) override {
    return detail::without_exceptions("update a provider", [&]() -> Status {
      std::unique_lock lock(mu_);
      auto ws_it = workspaces_.find(provider.workspace);
      if (ws_it == workspaces_.end()) return detail::provider_not_found();
      Workspace& ws = ws_it->second;
      auto it = ws.providers.find(provider.spec.name);
      if (it == ws.providers.end()) return detail::provider_not_found();
      if (it->second.version != expected_version) {
        return detail::version_conflict(it->second.version, expected_version);
      }
      const bool id_changes = it->second.id != provider.id;
      if (id_changes && provider_ids_.contains(provider.id)) return detail::provider_id_taken();
      if (event_ids_.contains(event.id)) return detail::audit_event_id_taken();
      Provider replacement = provider;  // copied first: the swap below cannot throw
      ws.events.reserve(ws.events.size() + 1);
      if (id_changes) provider_ids_.insert(provider.id);
      try {
        append(ws, provider.workspace, std::move(event));
      } catch (...) {
        if (id_changes) provider_ids_.erase(provider.id);
        throw;
      }
      if (id_changes) provider_ids_.erase(it->second.id);
      std::swap(it->second, replacement);
      return Status::Ok();
    });
  }

  Status delete_provider(std::string_view workspace, std::string_view name,
                         std::int64_t expected_version, AuditEvent event) override {
    return detail::without_exceptions("delete a provider", [&]() -> Status {
      std::unique_lock lock(mu_);
      auto ws_it = workspaces_.find(workspace);
      if (ws_it == workspaces_.end()) return detail::provider_not_found();
      Workspace& ws = ws_it->second;
      auto it = ws.providers.find(name);
      if (it == ws.providers.end()) return detail::provider_not_found();
      if (it->second.version != expected_version) {
        return detail::version_conflict(it->second.version, expected_version);
      }
      if (event_ids_.contains(event.id)) return detail::audit_event_id_taken();
      ws.events.reserve(ws.events.size() + 1);
      append(ws, workspace, std::move(event));
      provider_ids_.erase(it->second.id);
      ws.providers.erase(it);
      return Status::Ok();
    });
  }

  Result<Provider> get_provider(std::string_view workspace, std::string_view name) override {
    return detail::without_exceptions("read a provider", [&]() -> Result<Provider> {
      std::shared_lock lock(mu_);
      const Workspace* ws = find(workspace);
      if (ws == nullptr) return detail::provider_not_found();
      auto it = ws->providers.find(name);
      if (it == ws->providers.end()) return detail::provider_not_found();
      return it->second;
    });
  }

  Result<std::vector<Provider>> list_providers(const ProviderListQuery& query) override {
    return detail::without_exceptions("list providers", [&]() -> Result<std::vector<Provider>> {
      std::vector<Provider> out;
      std::shared_lock lock(mu_);
      const Workspace* ws = find(query.workspace);
      if (ws == nullptr) return out;
      auto it =
          query.after_name ? ws->providers.upper_bound(*query.after_name) : ws->providers.begin();
      for (; it != ws->providers.end() && out.size() < query.limit; ++it) {
        if (matches(query, it->second)) out.push_back(it->second);
      }
      return out;
    });
  }

  Result<std::int64_t> count_providers(std::string_view workspace) override {
    return detail::without_exceptions("count providers", [&]() -> Result<std::int64_t> {
      std::shared_lock lock(mu_);
      const Workspace* ws = find(workspace);
      return ws == nullptr ? 0 : static_cast<std::int64_t>(ws->providers.size());
    });
  }

  Result<std::vector<AuditEvent>> scan_audit(const AuditScan& scan) override {
    return detail::without_exceptions(
        "read the audit log", [&]() -> Result<std::vector<AuditEvent>> {
          std::vector<AuditEvent> out;
          std::shared_lock lock(mu_);
          const Workspace* ws = find(scan.workspace);
          if (ws == nullptr) return out;
          std::size_t end = ws->events.size();
          if (scan.before_seq) {
            end = static_cast<std::size_t>(
                std::clamp<std::int64_t>(*scan.before_seq - 1, 0, static_cast<std::int64_t>(end)));
          }
          for (std::size_t i = end; i > 0 && out.size() < scan.limit; --i) {
            if (matches(scan, ws->events[i - 1])) out.push_back(ws->events[i - 1]);
          }
          return out;
        });
  }

  Result<std::vector<AuditEvent>> audit_chain(std::string_view workspace, std::int64_t after_seq,
                                              std::size_t limit) override {
    return detail::without_exceptions(
        "read the audit log", [&]() -> Result<std::vector<AuditEvent>> {
          std::vector<AuditEvent> out;
          std::shared_lock lock(mu_);
          const Workspace* ws = find(workspace);
          if (ws == nullptr) return out;
          const auto size = static_cast<std::int64_t>(ws->events.size());
          const auto begin = static_cast<std::size_t>(std::clamp<std::int64_t>(after_seq, 0, size));
          const std::size_t n = std::min(limit, ws->events.size() - begin);
          out.assign(ws->events.begin() + begin, ws->events.begin() + begin + n);
          return out;
        });
  }

  Result<AuditHead> audit_head(std::string_view workspace) override {
    return detail::without_exceptions("read the audit log", [&]() -> Result<AuditHead> {
      std::shared_lock lock(mu_);
      const Workspace* ws = find(workspace);
      return ws == nullptr ? detail::genesis_head() : ws->head;
    });
  }

  Status ping() override { return Status::Ok(); }

 private:
  const Workspace* find(std::string_view workspace) const {
    auto it = workspaces_.find(workspace);
    return it == workspaces_.end() ? nullptr : &it->second;
  }

  // REQUIRES: mu_ held exclusively; ws.events has capacity for one more and
  // event.id is not taken. On exception nothing has changed.
  void append(Workspace& ws, std::string_view workspace, AuditEvent event) {
    AuditHead head = detail::link_audit_event(event, workspace, ws.head);
    event_ids_.insert(event.id);
    ws.events.push_back(std::move(event));  // cannot throw: capacity reserved
    ws.head = std::move(head);              // moves a string: cannot throw
  }

  mutable std::shared_mutex mu_;
  std::map<std::string, Workspace, std::less<>> workspaces_;  // GUARDED_BY(mu_)
  std::unordered_set<std::string> provider_ids_;              // GUARDED_BY(mu_)
  std::unordered_set<std::string> event_ids_;                 // GUARDED_BY(mu_)
};

}  // namespace

std::unique_ptr<Storage> make_memory_storage() { return std::make_unique<MemoryStorage>(); }

}  // namespace nexus

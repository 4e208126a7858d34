// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <functional>
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
#include "nexus/vault.hpp"
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

Status api_key_id_taken() {
  return Status(ErrorCode::kInternal, "an API key with the same id already exists");
}

Status api_key_not_found(bool active_only) {
  return Status(ErrorCode::kNotFound,
                active_only ? "no active API key has that id" : "no API key has that id");
}

// Everything stored for one workspace.
struct Workspace {
  // std::string orders bytewise, as the ProviderListQuery contract asks.
  std::map<std::string, Provider, std::less<>> providers;
  std::map<std::string, std::string, std::less<>> provider_names_by_id;
  std::map<std::string, ConnectionRecord, std::less<>> connections;  // by id
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
      if (event.id.empty()) return detail::audit_event_without_id();
      // Reserve every allocation before the first change, so that nothing
      // below can fail half-way.
      reserve_event(ws);
      auto node = ws.providers.emplace(provider.spec.name, provider).first;
      try {
        provider_ids_.insert(provider.id);
        try {
          ws.provider_names_by_id.emplace(provider.id, provider.spec.name);
          append(ws, provider.workspace, std::move(event));
        } catch (...) {
          ws.provider_names_by_id.erase(provider.id);
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
      if (event.id.empty()) return detail::audit_event_without_id();
      Provider replacement = provider;  // copied first: the swap below cannot throw
      reserve_event(ws);
      if (id_changes) provider_ids_.insert(provider.id);
      try {
        append(ws, provider.workspace, std::move(event));
      } catch (...) {
        if (id_changes) provider_ids_.erase(provider.id);
        throw;
      }
      if (id_changes) {
        provider_ids_.erase(it->second.id);
        ws.provider_names_by_id.erase(it->second.id);
        ws.provider_names_by_id.emplace(provider.id, provider.spec.name);
      }
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
      if (event.id.empty()) return detail::audit_event_without_id();
      reserve_event(ws);
      append(ws, workspace, std::move(event));
      const Timestamp at = ws.events.back().at;
      // What follows cannot throw: erasing and clearing only.
      for (auto& [id, c] : ws.connections) {
        if (c.provider_id == it->second.id) {
          c.status = ConnectionStatus::kProviderDeleted;
          c.updated_at = at;
          c.credentials.clear();
        }
      }
      ws.provider_names_by_id.erase(it->second.id);
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

  Status insert_api_key(const StoredApiKey& key, AuditEvent event) override {
    return detail::without_exceptions("insert an API key", [&]() -> Status {
      std::unique_lock lock(mu_);
      if (api_keys_.contains(key.key.id)) return api_key_id_taken();
      if (event.id.empty()) return detail::audit_event_without_id();
      Workspace& ws = workspaces_[key.key.workspace];
      reserve_event(ws);
      auto node = api_keys_.emplace(key.key.id, key).first;
      try {
        append(ws, key.key.workspace, std::move(event));
      } catch (...) {
        api_keys_.erase(node);
        throw;
      }
      return Status::Ok();
    });
  }

  Result<StoredApiKey> get_api_key(std::string_view id) override {
    return detail::without_exceptions("read an API key", [&]() -> Result<StoredApiKey> {
      std::shared_lock lock(mu_);
      auto it = api_keys_.find(id);
      if (it == api_keys_.end()) return api_key_not_found(false);
      return it->second;
    });
  }

  Result<std::vector<StoredApiKey>> list_api_keys(
      std::optional<std::string_view> workspace) override {
    return detail::without_exceptions("list API keys", [&]() -> Result<std::vector<StoredApiKey>> {
      std::vector<StoredApiKey> out;
      {
        std::shared_lock lock(mu_);
        for (const auto& [id, k] : api_keys_) {
          if (!workspace || k.key.workspace == *workspace) out.push_back(k);
        }
      }
      std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return a.key.created_at < b.key.created_at;  // ties keep id order
      });
      return out;
    });
  }

  Status revoke_api_key(std::string_view id, Timestamp at, AuditEvent event) override {
    return detail::without_exceptions("revoke an API key", [&]() -> Status {
      std::unique_lock lock(mu_);
      auto it = api_keys_.find(id);
      if (it == api_keys_.end() || it->second.key.revoked_at) return api_key_not_found(true);
      if (event.id.empty()) return detail::audit_event_without_id();
      Workspace& ws = workspaces_[it->second.key.workspace];
      reserve_event(ws);
      append(ws, it->second.key.workspace, std::move(event));
      it->second.key.revoked_at = at;  // cannot throw
      return Status::Ok();
    });
  }

  Result<std::string> ensure_setting(std::string_view name,
                                     std::string_view value_if_absent) override {
    return detail::without_exceptions("read a setting", [&]() -> Result<std::string> {
      std::unique_lock lock(mu_);
      auto it = settings_.find(name);
      if (it == settings_.end()) {
        it = settings_.emplace(std::string(name), std::string(value_if_absent)).first;
      }
      return it->second;
    });
  }

  Result<Provider> get_provider_by_id(std::string_view workspace, std::string_view id) override {
    return detail::without_exceptions("read a provider", [&]() -> Result<Provider> {
      std::shared_lock lock(mu_);
      const Workspace* ws = find(workspace);
      if (ws == nullptr) return detail::provider_not_found();
      auto name = ws->provider_names_by_id.find(id);
      if (name == ws->provider_names_by_id.end()) return detail::provider_not_found();
      return ws->providers.find(name->second)->second;
    });
  }

  Status insert_connection(const ConnectionRecord& connection, AuditEvent event) override {
    return detail::without_exceptions("insert a connection", [&]() -> Status {
      std::unique_lock lock(mu_);
      Workspace& ws = workspaces_[connection.workspace];
      if (!ws.provider_names_by_id.contains(connection.provider_id)) {
        return detail::provider_not_found();
      }
      if (ws.connections.contains(connection.id)) return detail::connection_id_taken();
      if (event.id.empty()) return detail::audit_event_without_id();
      reserve_event(ws);
      auto node = ws.connections.emplace(connection.id, connection).first;
      try {
        append(ws, connection.workspace, std::move(event));
      } catch (...) {
        ws.connections.erase(node);
        throw;
      }
      return Status::Ok();
    });
  }

  Result<ConnectionRecord> get_connection(std::string_view workspace,
                                          std::string_view id) override {
    return detail::without_exceptions("read a connection", [&]() -> Result<ConnectionRecord> {
      std::shared_lock lock(mu_);
      const Workspace* ws = find(workspace);
      if (ws == nullptr) return detail::connection_not_found();
      auto it = ws->connections.find(id);
      if (it == ws->connections.end()) return detail::connection_not_found();
      return it->second;
    });
  }

  Result<std::vector<ConnectionRecord>> list_connections(
      const ConnectionListQuery& query) override {
    return detail::without_exceptions(
        "list connections", [&]() -> Result<std::vector<ConnectionRecord>> {
          std::vector<ConnectionRecord> out;
          std::shared_lock lock(mu_);
          const Workspace* ws = find(query.workspace);
          if (ws == nullptr) return out;
          auto it = query.after_id ? ws->connections.upper_bound(*query.after_id)
                                   : ws->connections.begin();
          for (; it != ws->connections.end() && out.size() < query.limit; ++it) {
            const ConnectionRecord& c = it->second;
            if ((!query.provider_name || c.provider_name == *query.provider_name) &&
                (!query.user_id || c.user_id == *query.user_id)) {
              out.push_back(c);
              for (SealedField& f : out.back().credentials) f.envelope.clear();
            }
          }
          return out;
        });
  }

  Status delete_connection(std::string_view workspace, std::string_view id,
                           AuditEvent event) override {
    return detail::without_exceptions("delete a connection", [&]() -> Status {
      std::unique_lock lock(mu_);
      auto ws_it = workspaces_.find(workspace);
      if (ws_it == workspaces_.end()) return detail::connection_not_found();
      Workspace& ws = ws_it->second;
      auto it = ws.connections.find(id);
      if (it == ws.connections.end()) return detail::connection_not_found();
      if (event.id.empty()) return detail::audit_event_without_id();
      reserve_event(ws);
      append(ws, workspace, std::move(event));
      ws.connections.erase(it);
      return Status::Ok();
    });
  }

  Status append_audit(AuditEvent event) override {
    return detail::without_exceptions("append an audit event", [&]() -> Status {
      std::unique_lock lock(mu_);
      return append_to_its_workspace(std::move(event));
    });
  }

  // The read and its event under one exclusive lock: the event records
  // exactly the state that was read.
  Status read_connection_recorded(std::string_view workspace, std::string_view id,
                                  const ReadRecorder& record) override {
    return detail::without_exceptions("read a connection's credentials", [&]() -> Status {
      std::unique_lock lock(mu_);
      return append_to_its_workspace(record(read_connection(workspace, id)));
    });
  }

  // Nothing to wait for: the read completes before this returns.
  void read_connection_recorded_async(std::string_view workspace, std::string_view id,
                                      ReadRecorder record,
                                      std::function<void(Status)> done) override {
    detail::complete(done, read_connection_recorded(workspace, id, record));
  }

  Result<std::vector<Provider>> providers_due_for_discovery(Timestamp now,
                                                            std::size_t limit) override {
    return detail::without_exceptions("list providers", [&]() -> Result<std::vector<Provider>> {
      std::vector<Provider> out;
      std::shared_lock lock(mu_);
      for (const auto& [name, ws] : workspaces_) {
        for (const auto& [pname, p] : ws.providers) {
          if (p.spec.enable_discovery && p.discovery && next_refresh_at(*p.discovery) <= now) {
            out.push_back(p);
          }
        }
      }
      std::stable_sort(out.begin(), out.end(), [](const Provider& a, const Provider& b) {
        return next_refresh_at(*a.discovery) < next_refresh_at(*b.discovery);
      });
      if (out.size() > limit) out.resize(limit);
      return out;
    });
  }

  Result<std::vector<Provider>> providers_with_plaintext_secret(std::size_t limit) override {
    return detail::without_exceptions("list providers", [&]() -> Result<std::vector<Provider>> {
      std::vector<Provider> out;
      std::shared_lock lock(mu_);
      for (const auto& [name, ws] : workspaces_) {
        for (const auto& [pname, p] : ws.providers) {
          if (out.size() >= limit) return out;
          if (p.spec.client_secret && p.sealed_client_secret.empty()) out.push_back(p);
        }
      }
      return out;
    });
  }

  Result<std::map<std::string, std::int64_t>> envelope_key_counts() override {
    return detail::without_exceptions(
        "count sealed values", [&]() -> Result<std::map<std::string, std::int64_t>> {
          std::map<std::string, std::int64_t> counts;
          std::shared_lock lock(mu_);
          for_each_envelope([&](const EnvelopeRef& ref) {
            ++counts[Vault::key_id_of(ref.envelope)];
            return true;
          });
          return counts;
        });
  }

  Result<std::vector<EnvelopeRef>> envelopes_not_under(std::string_view key_id,
                                                       std::size_t limit) override {
    return detail::without_exceptions(
        "list sealed values", [&]() -> Result<std::vector<EnvelopeRef>> {
          std::vector<EnvelopeRef> out;
          std::shared_lock lock(mu_);
          for_each_envelope([&](const EnvelopeRef& ref) {
            if (Vault::key_id_of(ref.envelope) != key_id) out.push_back(ref);
            return out.size() < limit;
          });
          return out;
        });
  }

  Result<std::size_t> replace_envelopes(const std::vector<EnvelopeRef>& old,
                                        const std::vector<std::string>& replacement) override {
    return detail::without_exceptions("re-seal values", [&]() -> Result<std::size_t> {
      std::unique_lock lock(mu_);
      std::size_t replaced = 0;
      for (std::size_t i = 0; i < old.size() && i < replacement.size(); ++i) {
        if (std::string* slot = envelope_slot(old[i]); slot != nullptr && *slot == old[i].envelope) {
          *slot = replacement[i];
          ++replaced;
        }
      }
      return replaced;
    });
  }

 private:
  // Calls `visit` with every sealed value until it returns false.
  // REQUIRES: mu_ held.
  template <typename F>
  void for_each_envelope(F&& visit) const {
    for (const auto& [name, ws] : workspaces_) {
      for (const auto& [pname, p] : ws.providers) {
        if (!p.sealed_client_secret.empty() &&
            !visit(EnvelopeRef{name, "provider", p.id, "client_secret", p.sealed_client_secret})) {
          return;
        }
      }
      for (const auto& [id, c] : ws.connections) {
        for (const SealedField& f : c.credentials) {
          if (!visit(EnvelopeRef{name, "connection", id, "credentials." + f.name, f.envelope})) {
            return;
          }
        }
      }
    }
  }

  // The stored envelope `ref` names, or nullptr. REQUIRES: mu_ held exclusively.
  std::string* envelope_slot(const EnvelopeRef& ref) {
    auto ws = workspaces_.find(ref.workspace);
    if (ws == workspaces_.end()) return nullptr;
    if (ref.owner_kind == "provider" && ref.field == "client_secret") {
      auto name = ws->second.provider_names_by_id.find(ref.owner_id);
      if (name == ws->second.provider_names_by_id.end()) return nullptr;
      return &ws->second.providers.find(name->second)->second.sealed_client_secret;
    }
    constexpr std::string_view kPrefix = "credentials.";
    if (ref.owner_kind == "connection" && ref.field.starts_with(kPrefix)) {
      auto c = ws->second.connections.find(ref.owner_id);
      if (c == ws->second.connections.end()) return nullptr;
      for (SealedField& f : c->second.credentials) {
        if (f.name == std::string_view(ref.field).substr(kPrefix.size())) return &f.envelope;
      }
    }
    return nullptr;
  }

  // Connection `id` and, when it is active, its provider.
  // REQUIRES: mu_ held.
  ConnectionRead read_connection(std::string_view workspace, std::string_view id) const {
    const Workspace* ws = find(workspace);
    const ConnectionRecord* c = nullptr;
    if (ws != nullptr) {
      auto it = ws->connections.find(id);
      if (it != ws->connections.end()) c = &it->second;
    }
    if (c == nullptr) return {detail::connection_not_found(), detail::connection_not_found()};
    auto name = ws->provider_names_by_id.find(c->provider_id);
    if (c->status != ConnectionStatus::kActive || name == ws->provider_names_by_id.end()) {
      return {*c, detail::provider_not_found()};
    }
    return {*c, detail::provider_brief(ws->providers.find(name->second)->second)};
  }

  const Workspace* find(std::string_view workspace) const {
    auto it = workspaces_.find(workspace);
    return it == workspaces_.end() ? nullptr : &it->second;
  }

  // Makes room for one more event, growing geometrically: reserving only
  // size() + 1 would reallocate, and move every event, on each append.
  static void reserve_event(Workspace& ws) {
    if (ws.events.size() < ws.events.capacity()) return;
    ws.events.reserve(std::max<std::size_t>(16, ws.events.capacity() * 2));
  }

  // Appends `event` to the chain of event.workspace.
  // REQUIRES: mu_ held exclusively.
  Status append_to_its_workspace(AuditEvent event) {
    if (event.id.empty()) return detail::audit_event_without_id();
    std::string workspace = event.workspace;
    Workspace& ws = workspaces_[workspace];
    reserve_event(ws);
    append(ws, workspace, std::move(event));
    return Status::Ok();
  }

  // REQUIRES: mu_ held exclusively; ws.events has capacity for one more and
  // event.id is not empty. On exception nothing has changed.
  void append(Workspace& ws, std::string_view workspace, AuditEvent event) {
    AuditHead head = detail::link_audit_event(event, workspace, ws.head);
    ws.events.push_back(std::move(event));  // cannot throw: capacity reserved
    ws.head = std::move(head);              // moves a string: cannot throw
  }

  mutable std::shared_mutex mu_;
  std::map<std::string, Workspace, std::less<>> workspaces_;  // GUARDED_BY(mu_)
  std::unordered_set<std::string> provider_ids_;              // GUARDED_BY(mu_)
  std::map<std::string, StoredApiKey, std::less<>> api_keys_;  // GUARDED_BY(mu_)
  std::map<std::string, std::string, std::less<>> settings_;   // GUARDED_BY(mu_)
};

}  // namespace

std::unique_ptr<Storage> make_memory_storage() { return std::make_unique<MemoryStorage>(); }

}  // namespace nexus

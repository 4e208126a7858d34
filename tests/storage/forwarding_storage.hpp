// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// ForwardingStorage: a Storage that forwards every call to another one, for
// tests that inject faults. A subclass overrides intercept(), which runs
// before each call and may fail it (return a Status), throw, or block.
#pragma once

#include <functional>
#include <memory>
#include <utility>

#include "nexus/storage.hpp"

namespace nexus::testing {

class ForwardingStorage : public Storage {
 public:
  // Which Storage method is being called.
  enum class Call {
    kInsertProvider,
    kUpdateProvider,
    kDeleteProvider,
    kGetProvider,
    kListProviders,
    kCountProviders,
    kScanAudit,
    kAuditChain,
    kAuditHead,
    kPing,
    kInsertApiKey,
    kGetApiKey,
    kListApiKeys,
    kRevokeApiKey,
    kEnsureSetting,
    kGetProviderById,
    kInsertConnection,
    kGetConnection,
    kListConnections,
    kDeleteConnection,
    kAppendAudit,
    kProvidersDueForDiscovery,
    kProvidersWithPlaintextSecret,
    kEnvelopeKeyCounts,
    kEnvelopesNotUnder,
    kReplaceEnvelopes,
    kCheckpoint,
  };

  explicit ForwardingStorage(std::unique_ptr<Storage> target) : target_(std::move(target)) {}

  Storage& target() { return *target_; }

  Status insert_provider(const Provider& p, AuditEvent e) override {
    return run(Call::kInsertProvider, [&] { return target_->insert_provider(p, std::move(e)); });
  }
  Status update_provider(const Provider& p, std::int64_t v, AuditEvent e) override {
    return run(Call::kUpdateProvider,
               [&] { return target_->update_provider(p, v, std::move(e)); });
  }
  Status delete_provider(std::string_view w, std::string_view n, std::int64_t v,
                         AuditEvent e) override {
    return run(Call::kDeleteProvider,
               [&] { return target_->delete_provider(w, n, v, std::move(e)); });
  }
  Result<Provider> get_provider(std::string_view w, std::string_view n) override {
    return run(Call::kGetProvider, [&] { return target_->get_provider(w, n); });
  }
  Result<std::vector<Provider>> list_providers(const ProviderListQuery& q) override {
    return run(Call::kListProviders, [&] { return target_->list_providers(q); });
  }
  Result<std::int64_t> count_providers(std::string_view w) override {
    return run(Call::kCountProviders, [&] { return target_->count_providers(w); });
  }
  Result<std::vector<AuditEvent>> scan_audit(const AuditScan& s) override {
    return run(Call::kScanAudit, [&] { return target_->scan_audit(s); });
  }
  Result<std::vector<AuditEvent>> audit_chain(std::string_view w, std::int64_t after,
                                              std::size_t limit) override {
    return run(Call::kAuditChain, [&] { return target_->audit_chain(w, after, limit); });
  }
  Result<AuditHead> audit_head(std::string_view w) override {
    return run(Call::kAuditHead, [&] { return target_->audit_head(w); });
  }
  Status ping() override {
    return run(Call::kPing, [&] { return target_->ping(); });
  }
  Status insert_api_key(const StoredApiKey& k, AuditEvent e) override {
    return run(Call::kInsertApiKey, [&] { return target_->insert_api_key(k, std::move(e)); });
  }
  Result<StoredApiKey> get_api_key(std::string_view id) override {
    return run(Call::kGetApiKey, [&] { return target_->get_api_key(id); });
  }
  Result<std::vector<StoredApiKey>> list_api_keys(std::optional<std::string_view> w) override {
    return run(Call::kListApiKeys, [&] { return target_->list_api_keys(w); });
  }
  Status revoke_api_key(std::string_view id, Timestamp at, AuditEvent e) override {
    return run(Call::kRevokeApiKey,
               [&] { return target_->revoke_api_key(id, at, std::move(e)); });
  }
  Result<std::string> ensure_setting(std::string_view name, std::string_view value) override {
    return run(Call::kEnsureSetting, [&] { return target_->ensure_setting(name, value); });
  }
  Result<Provider> get_provider_by_id(std::string_view w, std::string_view id) override {
    return run(Call::kGetProviderById, [&] { return target_->get_provider_by_id(w, id); });
  }
  Status insert_connection(const ConnectionRecord& c, AuditEvent e) override {
    return run(Call::kInsertConnection,
               [&] { return target_->insert_connection(c, std::move(e)); });
  }
  Result<ConnectionRecord> get_connection(std::string_view w, std::string_view id) override {
    return run(Call::kGetConnection, [&] { return target_->get_connection(w, id); });
  }
  Result<std::vector<ConnectionRecord>> list_connections(const ConnectionListQuery& q) override {
    return run(Call::kListConnections, [&] { return target_->list_connections(q); });
  }
  Status delete_connection(std::string_view w, std::string_view id, AuditEvent e) override {
    return run(Call::kDeleteConnection,
               [&] { return target_->delete_connection(w, id, std::move(e)); });
  }
  Status append_audit(AuditEvent e) override {
    return run(Call::kAppendAudit, [&] { return target_->append_audit(std::move(e)); });
  }
  void append_audit_async(AuditEvent e, std::function<void(Status)> done) override {
    if (Status s = intercept(Call::kAppendAudit); !s.ok()) return done(std::move(s));
    target_->append_audit_async(std::move(e), std::move(done));
  }
  Result<std::vector<Provider>> providers_due_for_discovery(Timestamp now,
                                                            std::size_t limit) override {
    return run(Call::kProvidersDueForDiscovery,
               [&] { return target_->providers_due_for_discovery(now, limit); });
  }
  Result<std::vector<Provider>> providers_with_plaintext_secret(std::size_t limit) override {
    return run(Call::kProvidersWithPlaintextSecret,
               [&] { return target_->providers_with_plaintext_secret(limit); });
  }
  Result<std::map<std::string, std::int64_t>> envelope_key_counts() override {
    return run(Call::kEnvelopeKeyCounts, [&] { return target_->envelope_key_counts(); });
  }
  Result<std::vector<EnvelopeRef>> envelopes_not_under(std::string_view key_id,
                                                       std::size_t limit) override {
    return run(Call::kEnvelopesNotUnder,
               [&] { return target_->envelopes_not_under(key_id, limit); });
  }
  Result<std::size_t> replace_envelopes(const std::vector<EnvelopeRef>& old,
                                        const std::vector<std::string>& replacement) override {
    return run(Call::kReplaceEnvelopes,
               [&] { return target_->replace_envelopes(old, replacement); });
  }
  Status checkpoint() override {
    return run(Call::kCheckpoint, [&] { return target_->checkpoint(); });
  }

 protected:
  // Runs before every call. A non-OK Status is returned instead of calling
  // the target. The default lets every call through.
  virtual Status intercept(Call /*call*/) { return Status::Ok(); }

 private:
  template <typename F>
  auto run(Call call, F&& forward) -> decltype(forward()) {
    if (Status s = intercept(call); !s.ok()) return s;
    return forward();
  }

  std::unique_ptr<Storage> target_;
};

}  // namespace nexus::testing

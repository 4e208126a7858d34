// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// Connections: a user's account at a provider. For api_key providers the user
// supplies the values of the provider's credential_schema; Nexus seals each
// value at rest and hands them to agents on request, auditing every read.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nexus/clock.hpp"
#include "nexus/provider.hpp"
#include "nexus/registry.hpp"
#include "nexus/status.hpp"
#include "nexus/storage.hpp"
#include "nexus/vault.hpp"

namespace nexus {

namespace audit_events {
inline constexpr std::string_view kConnectionCreated = "connection.created";
inline constexpr std::string_view kConnectionDeleted = "connection.deleted";
inline constexpr std::string_view kTokenRetrieved = "token_retrieved";
inline constexpr std::string_view kTokenRetrievalFailed = "token_retrieval_failed";
}  // namespace audit_events

inline constexpr std::size_t kMaxCredentialValueBytes = 8 * 1024;
inline constexpr std::size_t kMaxUserIdLength = 256;

struct ConnectionOptions {
  // Required. Must outlive the service.
  Storage* storage = nullptr;
  const Vault* vault = nullptr;
  // Defaults: system_clock(), system_random(). Must outlive the service.
  const Clock* clock = nullptr;
  RandomSource* random = nullptr;
  std::size_t default_page_size = 100;
  std::size_t max_page_size = 1000;
};

struct ConnectionFilter {
  std::optional<std::string> provider_name;
  std::optional<std::string> user_id;
};

struct ConnectionPage {
  std::vector<ConnectionRecord> items;  // ordered by id
  std::optional<std::string> next_cursor;
};

// What an agent receives for a connection: the opened values and where to
// use them. Values live in wiped memory.
struct ConnectionCredentials {
  std::string connection_id;
  std::string provider_name;
  AuthType auth_type = AuthType::kApiKey;
  std::optional<std::string> api_base_url;
  std::vector<std::pair<std::string, SecretBytes>> values;  // schema order
};

// Thread-safe; holds no state of its own besides the options.
class ConnectionService {
 public:
  // REQUIRES: options.storage and options.vault non-null.
  explicit ConnectionService(ConnectionOptions options);

  // Creates an api_key connection from {"provider_name", "user_id",
  // "credentials": {FIELD: "value", ...}}. Every schema field is required,
  // unknown fields are refused by name, values are non-empty strings of at
  // most 8 KiB. Audits connection.created (ids only). kValidationFailed
  // (naming the field, never echoing a value); kProviderNotFound (field
  // "provider_name").
  Result<ConnectionRecord> create(const RequestContext& ctx, const boost::json::value& body);

  // kNotFound when the workspace has no such connection.
  Result<ConnectionRecord> get(const RequestContext& ctx, std::string_view id);

  // kValidationFailed (field "limit" or "cursor") for a bad page request.
  Result<ConnectionPage> list(const RequestContext& ctx, const ConnectionFilter& filter,
                              const PageRequest& page);

  // Deletes the connection and erases its sealed values; audits
  // connection.deleted. kNotFound.
  Status remove(const RequestContext& ctx, std::string_view id);

  // Opens the connection's values for an agent and audits token_retrieved
  // (ids only, never values). Every failure audits token_retrieval_failed
  // with its reason (not-found probes too: asking for credentials that do not
  // exist is security-relevant; best effort when the storage itself failed)
  // and is: kNotFound; kProviderDeleted when the provider was deleted;
  // kCredentialUnreadable when a value fails to open (tampered, moved, or
  // sealed under a key the keyring lacks) — never garbage; the storage's
  // kUnavailable / kInternal. A read whose token_retrieved event cannot be
  // stored is refused with the storage's error.
  Result<ConnectionCredentials> credentials(const RequestContext& ctx, std::string_view id);

  // credentials() without a thread waiting for the audit event to be stored.
  // The read and its event (token_retrieved, or token_retrieval_failed) go
  // to Storage::read_connection_recorded_async, which reads, opens the values
  // and appends the event (on the SQLite writer's thread, in the event's own
  // transaction), and `done` gets what credentials() would return once the
  // append has completed: the values only once their event is durable.
  // `done` is called exactly once, on an unspecified thread (the storage's
  // writer thread, or this one before return); it must be cheap, must not
  // throw and must not write to the storage. Values it drops are wiped.
  // `ctx` and `id` need only live until this returns; the vault and the
  // storage, until `done` is called. Never throws.
  void credentials_async(const RequestContext& ctx, std::string_view id,
                         std::function<void(Result<ConnectionCredentials>)> done) noexcept;

 private:
  ConnectionOptions options_;
};

// The connection as callers see it: id, provider_name, user_id, status,
// credential field names, timestamps. Never a value.
boost::json::object connection_view(const ConnectionRecord& connection);

// The response of a credential read: connection_id, provider_name, auth_type,
// api_base_url and the values. Only for the caller that asked for them.
// `storage`: where the object's memory comes from (a monotonic_resource on
// the caller's stack spares the heap); the default heap when null.
boost::json::object credentials_view(const ConnectionCredentials& credentials,
                                     boost::json::storage_ptr storage = {});

}  // namespace nexus

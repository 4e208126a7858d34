// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// The audit log: every change, who made it, from where, and when; chained by
// BLAKE2b hashes so an edited, removed or reordered event is detected.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "nexus/clock.hpp"
#include "nexus/status.hpp"

namespace nexus {

class Storage;

namespace audit_events {
inline constexpr std::string_view kProviderCreated = "provider.created";
inline constexpr std::string_view kProviderUpdated = "provider.updated";
inline constexpr std::string_view kProviderDeleted = "provider.deleted";
// ProviderRegistry::refresh_discovery: the issuer's document was fetched again
// (data: changed endpoints, fetched_at, expires_at) or the attempt failed
// (data: reason, message); the last good endpoints are kept.
inline constexpr std::string_view kProviderDiscovered = "provider.discovered";
inline constexpr std::string_view kProviderDiscoveryFailed = "provider.discovery_failed";
}  // namespace audit_events

// Stands in for every secret value in audit data.
inline constexpr std::string_view kRedacted = "[REDACTED]";

struct AuditEvent {
  std::string id;          // opaque, "evt_..."
  std::string workspace;
  std::int64_t seq = 0;    // position in the workspace's chain, from 1; set by Storage
  std::string event_type;  // audit_events::*
  std::string provider_name;
  std::string provider_id;
  std::optional<std::string> actor;  // API key id, when known
  std::string caller_ip;
  std::string user_agent;
  Timestamp at{};
  std::string data;       // canonical JSON object (serialize of a boost::json::object)
  std::string prev_hash;  // hex BLAKE2b-256 of the predecessor; 64 '0' for the first
  std::string hash;       // hex BLAKE2b-256 of this event; set by Storage
  friend bool operator==(const AuditEvent&, const AuditEvent&) = default;
};

// The hash of `event` chained to `event.prev_hash`: BLAKE2b-256 over a
// length-prefixed encoding of every field except `hash`. Storage
// implementations call this when they append; verify() when it checks.
std::string audit_chain_hash(const AuditEvent& event);

// The hash that stands before a workspace's first event.
inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

struct AuditQuery {
  std::optional<std::string> event_type;
  std::optional<Timestamp> since;   // inclusive
  std::optional<Timestamp> until;   // exclusive
  std::optional<std::string> provider;  // provider name
  std::size_t limit = 0;            // 0: default (50); at most 1000
  std::optional<std::string> cursor;  // from a previous AuditPage
};

struct AuditPage {
  std::vector<AuditEvent> events;  // newest first
  std::optional<std::string> next_cursor;
};

struct AuditVerifyReport {
  bool ok = true;
  std::int64_t events_checked = 0;
  // When !ok: the first event (by seq) whose link is broken, and why.
  std::optional<std::int64_t> broken_seq;
  std::string reason;
};

inline constexpr std::size_t kDefaultAuditLimit = 50;
inline constexpr std::size_t kMaxAuditLimit = 1000;

// Reads and verifies the audit log of a workspace. Thread-safe.
class AuditLog {
 public:
  // `storage` must outlive the AuditLog.
  explicit AuditLog(Storage& storage) : storage_(storage) {}

  // Events matching `query`, newest first. kValidationFailed for a bad
  // limit or cursor.
  Result<AuditPage> query(std::string_view workspace, const AuditQuery& query) const;

  // Walks the whole chain of `workspace` from its first event and reports the
  // first broken link: an event whose hash does not match its content, whose
  // prev_hash is not its predecessor's hash, a gap in seq, or a chain head
  // that does not match the last event.
  Result<AuditVerifyReport> verify(std::string_view workspace) const;

 private:
  Storage& storage_;
};

// The event as JSON for API responses (timestamps RFC 3339, data as object).
boost::json::object audit_event_view(const AuditEvent& event);

}  // namespace nexus

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/audit.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <boost/json/parse.hpp>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>
#include <system_error>

#include "detail/audit_chain.hpp"
#include "detail/encoding.hpp"
#include "nexus/json.hpp"
#include "nexus/storage.hpp"

namespace nexus {
namespace {

// Bumped whenever the encoding below changes, so old and new hashes can never
// be confused.
constexpr std::string_view kAuditHashVersion = "nexus-audit-v1";
constexpr std::size_t kAuditHashBytes = 32;  // BLAKE2b-256
constexpr std::string_view kAuditCursorKind = "audit";
// verify() reads the chain in slices of this many events to bound memory.
constexpr std::size_t kVerifyBatchSize = 500;

void ensure_sodium() {
  // sodium_init is idempotent and thread-safe; it selects the fastest BLAKE2b.
  static const bool initialised = [] {
    if (sodium_init() < 0) std::abort();  // the library cannot work without it
    return true;
  }();
  (void)initialised;
}

// Feeds fields into a BLAKE2b state, each prefixed by its length as 8
// big-endian bytes, so that no two different events encode alike. Integers
// are fields of 8 big-endian two's-complement bytes. An outside verifier can
// reproduce the hash from this and audit_chain_hash alone.
class FieldHasher {
 public:
  FieldHasher() { crypto_generichash_init(&state_, nullptr, 0, kAuditHashBytes); }

  void bytes(std::string_view field) {
    std::uint64_t n = field.size();
    raw(be64(n));
    crypto_generichash_update(&state_, reinterpret_cast<const unsigned char*>(field.data()),
                              field.size());
  }
  void integer(std::int64_t value) {
    auto encoded = be64(static_cast<std::uint64_t>(value));
    bytes(std::string_view(reinterpret_cast<const char*>(encoded.data()), encoded.size()));
  }

  std::string hex_digest() {
    std::array<unsigned char, kAuditHashBytes> out{};
    crypto_generichash_final(&state_, out.data(), out.size());
    return detail::to_hex(std::string_view(reinterpret_cast<const char*>(out.data()), out.size()));
  }

 private:
  static std::array<unsigned char, 8> be64(std::uint64_t n) {
    std::array<unsigned char, 8> out{};
    for (int i = 7; i >= 0; --i) {
      out[i] = static_cast<unsigned char>(n & 0xff);
      n >>= 8;
    }
    return out;
  }
  void raw(const std::array<unsigned char, 8>& b) {
    crypto_generichash_update(&state_, b.data(), b.size());
  }

  crypto_generichash_state state_;
};

Status validation_error(std::string message, std::string field) {
  return Status(ErrorCode::kValidationFailed, std::move(message), std::move(field));
}

std::optional<std::int64_t> parse_positive_int(std::string_view text) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value <= 0) return std::nullopt;
  return value;
}

Result<AuditPage> query_impl(Storage& storage, std::string_view workspace,
                             const AuditQuery& query) {
  std::size_t limit = query.limit == 0 ? kDefaultAuditLimit : query.limit;
  if (limit > kMaxAuditLimit) {
    return validation_error("limit must be between 1 and " + std::to_string(kMaxAuditLimit),
                            "limit");
  }
  AuditScan scan;
  scan.workspace = std::string(workspace);
  scan.event_type = query.event_type;
  scan.since = query.since;
  scan.until = query.until;
  scan.provider_name = query.provider;
  if (query.cursor) {
    auto position = detail::decode_cursor(kAuditCursorKind, *query.cursor);
    auto seq = position ? parse_positive_int(*position) : std::nullopt;
    if (!seq) return validation_error("cursor is not one this API returned", "cursor");
    scan.before_seq = *seq;
  }
  // One more than asked tells whether another page follows.
  scan.limit = limit + 1;
  auto events = storage.scan_audit(scan);
  if (!events.ok()) return events.status();
  AuditPage page;
  page.events = std::move(events).value();
  if (page.events.size() > limit) {
    page.events.resize(limit);
    page.next_cursor =
        detail::encode_cursor(kAuditCursorKind, std::to_string(page.events.back().seq));
  }
  return page;
}

AuditVerifyReport broken(AuditVerifyReport report, std::int64_t seq, std::string reason) {
  report.ok = false;
  report.broken_seq = seq;
  report.reason = std::move(reason);
  return report;
}

Result<AuditVerifyReport> verify_impl(Storage& storage, std::string_view workspace) {
  AuditVerifyReport report;
  std::int64_t last_seq = 0;
  std::string last_hash(kGenesisHash);
  for (;;) {
    auto batch = storage.audit_chain(workspace, last_seq, kVerifyBatchSize);
    if (!batch.ok()) return batch.status();
    for (const AuditEvent& event : *batch) {
      const std::int64_t expected = last_seq + 1;
      const std::string n = std::to_string(event.seq);
      if (event.seq > expected) {
        return broken(std::move(report), expected,
                      "gap: event " + std::to_string(expected) + " missing");
      }
      if (event.seq < expected) {
        return broken(std::move(report), event.seq, "event " + n + " appears out of order");
      }
      if (audit_chain_hash(event) != event.hash) {
        return broken(std::move(report), event.seq,
                      "event " + n + ": hash does not match its content");
      }
      if (event.prev_hash != last_hash) {
        return broken(std::move(report), event.seq,
                      event.seq == 1 ? "event 1: prev_hash is not the genesis hash"
                                     : "event " + n + ": prev_hash does not match event " +
                                           std::to_string(last_seq));
      }
      last_seq = event.seq;
      last_hash = event.hash;
      ++report.events_checked;
    }
    if (batch->size() < kVerifyBatchSize) break;
  }
  // The head is stored apart from the events: it exposes removal of the
  // newest events, which leaves a chain that is valid in itself.
  auto head = storage.audit_head(workspace);
  if (!head.ok()) return head.status();
  if (head->seq != last_seq) {
    return broken(std::move(report), std::min(head->seq, last_seq) + 1,
                  "chain head says seq " + std::to_string(head->seq) + " but the log ends at " +
                      std::to_string(last_seq));
  }
  if (head->hash != last_hash) {
    return broken(std::move(report), last_seq,
                  "chain head hash does not match event " + std::to_string(last_seq));
  }
  return report;
}

Status internal_error(std::string_view what) {
  return Status(ErrorCode::kInternal, "unexpected failure while " + std::string(what));
}

}  // namespace

std::string audit_chain_hash(const AuditEvent& event) {
  ensure_sodium();
  FieldHasher h;
  h.bytes(kAuditHashVersion);
  h.bytes(event.id);
  h.bytes(event.workspace);
  h.integer(event.seq);
  h.bytes(event.event_type);
  h.bytes(event.provider_name);
  h.bytes(event.provider_id);
  // A presence marker keeps "no actor" distinct from an empty actor.
  h.integer(event.actor ? 1 : 0);
  if (event.actor) h.bytes(*event.actor);
  h.bytes(event.caller_ip);
  h.bytes(event.user_agent);
  h.integer(event.at.time_since_epoch().count());
  h.bytes(event.data);
  h.bytes(event.prev_hash);
  return h.hex_digest();
}

namespace detail {

AuditHead link_audit_event(AuditEvent& event, std::string_view workspace, const AuditHead& head) {
  event.workspace = std::string(workspace);
  event.seq = head.seq + 1;
  event.prev_hash = head.hash;
  event.hash = audit_chain_hash(event);
  return AuditHead{event.seq, event.hash};
}

}  // namespace detail

Result<AuditPage> AuditLog::query(std::string_view workspace, const AuditQuery& query) const {
  try {
    return query_impl(storage_, workspace, query);
  } catch (const std::exception&) {
    return internal_error("querying the audit log");
  }
}

Result<AuditVerifyReport> AuditLog::verify(std::string_view workspace) const {
  try {
    return verify_impl(storage_, workspace);
  } catch (const std::exception&) {
    return internal_error("verifying the audit log");
  }
}

boost::json::object audit_event_view(const AuditEvent& event) {
  // What a caller supplied (a host's RequestContext, a connection id that
  // named nothing) is stored byte for byte, as hashed; its view is valid
  // UTF-8, as JSON must be.
  boost::json::object view;
  view["id"] = event.id;
  view["workspace"] = valid_utf8(event.workspace);
  view["seq"] = event.seq;
  view["event_type"] = event.event_type;
  view["provider_name"] = valid_utf8(event.provider_name);
  view["provider_id"] = event.provider_id;
  if (event.actor) {
    view["actor"] = valid_utf8(*event.actor);
  } else {
    view["actor"] = nullptr;
  }
  view["caller_ip"] = valid_utf8(event.caller_ip);
  view["user_agent"] = valid_utf8(event.user_agent);
  view["at"] = format_rfc3339(event.at);
  // data is stored as serialized JSON. Should a row ever hold something that
  // is not an object, show it verbatim rather than hide it.
  boost::json::error_code ec;
  boost::json::value data = boost::json::parse(event.data, ec);
  if (event.data.empty()) {
    view["data"] = boost::json::object();
  } else if (!ec && data.is_object()) {
    view["data"] = std::move(data);
  } else {
    view["data"] = valid_utf8(event.data);
  }
  view["prev_hash"] = event.prev_hash;
  view["hash"] = event.hash;
  return view;
}

}  // namespace nexus

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Private: the pure part of appending to an audit chain, shared by every
// Storage backend so that they link events identically.
#pragma once

#include <string>
#include <string_view>

#include "nexus/audit.hpp"
#include "nexus/storage.hpp"

namespace nexus::detail {

// The head of a workspace that has no events yet.
inline AuditHead genesis_head() { return AuditHead{0, std::string(kGenesisHash)}; }

// Links `event` after `head`, the current head of `workspace`'s chain: stamps
// the workspace, seq (head.seq + 1), prev_hash (head.hash) and the event's own
// hash. Returns the head the chain has once the event is stored.
AuditHead link_audit_event(AuditEvent& event, std::string_view workspace, const AuditHead& head);

}  // namespace nexus::detail

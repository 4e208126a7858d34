// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Private: how the registry turns discovery outcomes into a provider's stored
// DiscoveryState and into audit data. Implemented in lib/discovery.cpp.
#pragma once

#include <boost/json/object.hpp>

#include "nexus/clock.hpp"
#include "nexus/discovery.hpp"
#include "nexus/provider.hpp"
#include "nexus/status.hpp"

namespace nexus::detail {

// The state after a successful fetch: the document, no error.
DiscoveryState discovered_state(DiscoveryDocument document);

// The state after a failed attempt at `at`: `previous`'s document (the last
// good one) kept, the failure recorded. `failure` is a kDiscoveryFailed Status
// from discover(); any other Status is recorded as kUnreachable with its
// message.
DiscoveryState failed_state(const std::optional<DiscoveryState>& previous, const Status& failure,
                            Timestamp at);

// Audit data for a stored document: where it came from, the endpoints it
// gave, fetched_at and expires_at. No secrets exist in a document.
boost::json::object discovery_audit_data(const DiscoveryState& state);

// {"auth_url": {"from": ..., "to": ...}, ...} for each endpoint that differs.
boost::json::object endpoint_changes(const ProviderEndpoints& before,
                                     const ProviderEndpoints& after);

}  // namespace nexus::detail

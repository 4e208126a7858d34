// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// A discovery provider as stored before discovery was integrated.
#pragma once

#include <catch2/catch.hpp>
#include <string>

#include "nexus/audit.hpp"
#include "nexus/storage.hpp"

namespace nexus::testing {

// Stores provider "legacy" (id prv_legacy, version 1) in `workspace` with
// enable_discovery, `issuer` and a client secret, straight through `storage`: no discovery
// state, no document, as an older Nexus left it.
inline void store_legacy_discovery_provider(Storage& storage, const std::string& workspace,
                                            const std::string& issuer) {
  Provider legacy;
  legacy.id = "prv_legacy";
  legacy.workspace = workspace;
  legacy.version = 1;
  legacy.spec.name = "legacy";
  legacy.spec.client_id = "a";
  legacy.spec.client_secret = "s";  // in clear, as older versions stored it
  legacy.spec.issuer = issuer;
  legacy.spec.enable_discovery = true;
  AuditEvent created{.id = "evt_legacy",
                     .workspace = workspace,
                     .event_type = std::string(audit_events::kProviderCreated),
                     .provider_name = "legacy",
                     .provider_id = legacy.id,
                     .data = "{}"};
  REQUIRE(storage.insert_provider(legacy, created).ok());
}

}  // namespace nexus::testing

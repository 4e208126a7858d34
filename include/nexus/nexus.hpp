// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Everything a host application needs, in one include.
#pragma once

#include "nexus/audit.hpp"
#include "nexus/clock.hpp"
#include "nexus/connections.hpp"
#include "nexus/discovery.hpp"
#include "nexus/discovery_refresher.hpp"
#include "nexus/http_client.hpp"
#include "nexus/json.hpp"
#include "nexus/keys.hpp"
#include "nexus/provider.hpp"
#include "nexus/registry.hpp"
#include "nexus/sealing.hpp"
#include "nexus/status.hpp"
#include "nexus/storage.hpp"
#include "nexus/vault.hpp"
#include "nexus/version.hpp"

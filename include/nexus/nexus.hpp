// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Everything a host application needs, in one include.
#pragma once

#include "nexus/audit.hpp"
#include "nexus/clock.hpp"
#include "nexus/provider.hpp"
#include "nexus/registry.hpp"
#include "nexus/status.hpp"
#include "nexus/storage.hpp"
#include "nexus/version.hpp"

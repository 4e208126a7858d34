// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Private: test hooks into the SQLite backend.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "nexus/status.hpp"
#include "nexus/storage.hpp"

namespace nexus::sqlite {

// The value of `PRAGMA <name>` on every connection of a storage made by
// open_sqlite_storage: the writer first, then each reader. Per-connection
// settings (synchronous, foreign_keys, busy_timeout) cannot be observed from
// another connection. kValidationFailed for a name that is not [a-z_]+,
// kInternal when `storage` is not a SQLite storage.
// REQUIRES: no other thread uses `storage` meanwhile.
Result<std::vector<std::string>> pragma_on_every_connection(Storage& storage,
                                                            std::string_view name);

}  // namespace nexus::sqlite

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Private: test hooks into the SQLite backend.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "nexus/status.hpp"
#include "nexus/storage.hpp"
#include "storage/sqlite/group_commit.hpp"

namespace nexus::sqlite {

// The value of `PRAGMA <name>` on every connection of a storage made by
// open_sqlite_storage: the writer first, then each reader. Per-connection
// settings (synchronous, foreign_keys, busy_timeout) cannot be observed from
// another connection. kValidationFailed for a name that is not [a-z_]+,
// kInternal when `storage` is not a SQLite storage.
// REQUIRES: no other thread uses `storage` meanwhile.
Result<std::vector<std::string>> pragma_on_every_connection(Storage& storage,
                                                            std::string_view name);

// The plan SQLite makes for the statement scan_audit runs for `scan`: the
// detail column of EXPLAIN QUERY PLAN, one string per row. kInternal when
// `storage` is not a SQLite storage.
Result<std::vector<std::string>> audit_scan_plan(Storage& storage, const AuditScan& scan);

// Runs `body` on the writer connection as one mutation of the group commit,
// in its own savepoint, like any Storage write. kInternal when `storage` is
// not a SQLite storage.
Status run_write_for_test(Storage& storage, const std::function<Status(sqlite3*)>& body);

// Waits until at least `count` mutations are queued behind the batch the
// writer is running, or `timeout` passes; true when they are. False when
// `storage` is not a SQLite storage.
bool wait_for_queued_writes(Storage& storage, std::size_t count, std::chrono::milliseconds timeout);

// Transactions committed and the mutations they carried, since opening.
Result<GroupCommitStats> group_commit_stats(Storage& storage);

// How many providers the read cache holds.
Result<std::size_t> cached_providers(Storage& storage);

}  // namespace nexus::sqlite

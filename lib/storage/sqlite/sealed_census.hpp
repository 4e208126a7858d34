// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Private: counting the sealed values of a SQLite database file without
// changing it (census_sealed_values).
#pragma once

#include <string>

#include "nexus/sealing.hpp"
#include "nexus/status.hpp"

namespace nexus::sqlite {

// The sealed values of the SQLite database at `path`, at any schema version
// up to the latest, read without migrating or writing: the file stays
// byte-identical and no -wal or -shm file is left behind that was not there.
// A missing file holds none. kUnavailable when it cannot be read, kInternal
// when its schema is newer than this library knows.
Result<SealedCensus> read_only_census(const std::string& path);

}  // namespace nexus::sqlite

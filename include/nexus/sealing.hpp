// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// Operations over every sealed value in a storage: the startup check that the
// keyring can open them all, and re-sealing under the primary key (master key
// rotation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "nexus/status.hpp"
#include "nexus/storage.hpp"
#include "nexus/vault.hpp"

namespace nexus {

// Where the master keys come from (the server maps NEXUS_MASTER_KEY and
// NEXUS_MASTER_KEY_FILE onto this).
struct MasterKeySource {
  std::optional<std::string> key_base64;  // one key, base64 of 32 bytes
  std::optional<std::string> key_file;    // "ID BASE64KEY" lines, primary first
  // Used when neither is given and `generate_default` is set: read if it
  // exists, otherwise created with a new key (mode 0600).
  std::string default_file;
  bool generate_default = false;
};

struct LoadedKeyring {
  Keyring keyring;
  std::string origin;       // "NEXUS_MASTER_KEY", or the file's path
  bool generated = false;   // default_file was created just now
};

// Loads the keyring. kValidationFailed (field "master_key" /
// "master_key_file") when both sources are given, a key is malformed, or
// neither is given and no default may be generated; kUnavailable when a file
// cannot be read or created. Messages never contain key material.
Result<LoadedKeyring> load_master_keys(const MasterKeySource& source);

// Writes `keyring` to `path` as a key file, atomically (a 0600 temporary file,
// fsync, rename), so a crash leaves the old file or the new one.
Status write_key_file(const std::string& path, const Keyring& keyring);

// How many sealed values each key id seals.
using EnvelopeCounts = std::map<std::string, std::int64_t>;

// OK when every sealed value in `storage` is under a key `keyring` holds.
// Otherwise kValidationFailed (field "master_key") naming the missing key ids
// and how many values each seals. Only reads.
Status check_keyring_covers(Storage& storage, const Keyring& keyring);

struct ResealReport {
  std::size_t resealed = 0;   // values now under the primary key
  std::size_t skipped = 0;    // changed meanwhile by another writer; picked up by a rerun
  std::size_t batches = 0;
};

inline constexpr std::size_t kDefaultResealBatch = 500;

// Re-seals every value not under vault's primary key, `batch` values per
// storage transaction. Each batch commits on its own, so an interrupted run
// keeps what it did and a rerun continues; values already under the primary
// are left alone. kCredentialUnreadable (and nothing more changed) when a
// value does not open. `progress`, when given, is called after each batch;
// returning false stops the run there (as an interruption would).
Result<ResealReport> reseal_under_primary(
    Storage& storage, const Vault& vault, std::size_t batch = kDefaultResealBatch,
    const std::function<bool(const ResealReport&)>& progress = {});

}  // namespace nexus

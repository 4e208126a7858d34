// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// Operations over every sealed value in a storage: loading the master keys,
// the startup check that the keyring can open every stored value, and
// re-sealing under the primary key (master key rotation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nexus/clock.hpp"
#include "nexus/status.hpp"
#include "nexus/storage.hpp"
#include "nexus/vault.hpp"

namespace nexus {

namespace audit_events {
// A run of reseal_under_primary re-sealed values of this workspace under a new
// primary master key. Data: key ids and counts, never keys.
inline constexpr std::string_view kMasterKeyRotated = "master_key.rotated";
}  // namespace audit_events

// Where the master keys come from (the server maps NEXUS_MASTER_KEY and
// NEXUS_MASTER_KEY_FILE onto this).
struct MasterKeySource {
  std::optional<std::string> key_base64;  // one key, base64 of 32 bytes
  std::optional<std::string> key_file;    // "ID BASE64KEY" lines, primary first
  // Used when neither is given and `generate_default` is set: read if it
  // exists; otherwise a new key is generated in memory (see
  // LoadedKeyring::generated), never written here.
  std::string default_file;
  bool generate_default = false;
};

struct LoadedKeyring {
  Keyring keyring;
  std::string origin;  // "NEXUS_MASTER_KEY", or the file's path
  // The source named no key and default_file does not exist: `keyring` is a
  // new key that lives only in memory. The caller writes it with
  // create_key_file(origin, keyring) once it knows the database may use it
  // (it holds no sealed value yet), and warns that production must supply
  // its own key.
  bool generated = false;
};

// Loads the keyring. Writes nothing. kValidationFailed (field "master_key" /
// "master_key_file") when both sources are given, a key is malformed, or
// neither is given and no default may be generated; kUnavailable when a file
// cannot be read. Messages never contain key material.
Result<LoadedKeyring> load_master_keys(const MasterKeySource& source);

// Creates `path` (and its parent directories) as a key file holding
// `keyring`, mode 0600, synced. kUnavailable when it already exists or
// cannot be written (nothing is left behind).
Status create_key_file(const std::string& path, const Keyring& keyring);

// Writes `keyring` to `path` as a key file, atomically (a 0600 temporary file,
// fsync, rename), so a crash leaves the old file or the new one.
Status write_key_file(const std::string& path, const Keyring& keyring);

// An exclusive advisory lock (flock) on "<key file>.lock", held while the key
// file and the values it seals are changed (rotate-master, drop-master), so
// that two runs cannot each write a new key and lose one. Released when
// destroyed. Move-only.
class KeyFileLock {
 public:
  // Takes the lock without waiting. kUnavailable when another process holds
  // it (the message says so) or the lock file cannot be created.
  static Result<KeyFileLock> acquire(const std::string& key_file);
  KeyFileLock(KeyFileLock&& other) noexcept;
  KeyFileLock& operator=(KeyFileLock&& other) noexcept;
  KeyFileLock(const KeyFileLock&) = delete;
  KeyFileLock& operator=(const KeyFileLock&) = delete;
  ~KeyFileLock();

 private:
  explicit KeyFileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// How many sealed values each key id seals; "" counts malformed envelopes.
using EnvelopeCounts = std::map<std::string, std::int64_t>;

// Where a sealed value lives (EnvelopeRef without the envelope).
struct SealedPlace {
  std::string workspace;
  std::string owner_kind;  // "provider" or "connection"
  std::string owner_id;
  std::string field;
  friend bool operator==(const SealedPlace&, const SealedPlace&) = default;
};

// The sealed values of a database, counted without opening any.
struct SealedCensus {
  EnvelopeCounts by_key;               // well-formed envelopes, by key id
  std::vector<SealedPlace> malformed;  // envelopes no key can open, by place
  std::int64_t total() const;          // well-formed and malformed
};

// Counts the sealed values of the database at `database_url` ("memory:" or
// "sqlite:PATH", as open_storage) without changing anything: no migration, no
// setting, no file created; the SQLite file stays byte-identical. Works at
// every schema version this library knows (values sealed by older versions
// included). A database that does not exist yet, and "memory:", hold none.
// kValidationFailed (field "database") for another URL; kUnavailable when
// the file cannot be read; kInternal when its schema is newer than this
// library or it is not a Nexus database.
Result<SealedCensus> census_sealed_values(std::string_view database_url);

// OK when every well-formed sealed value is under a key `keyring` holds.
// Otherwise kValidationFailed (field "master_key") naming the missing key ids
// and how many values each seals. Malformed envelopes do not count: no key
// opens them, so they answer credential_unreadable when read and are the
// caller's to report (by place, see SealedCensus::malformed).
Status check_keyring_covers(const SealedCensus& census, const Keyring& keyring);
// The same over a storage's counts (Storage::envelope_key_counts). Only reads.
Status check_keyring_covers(Storage& storage, const Keyring& keyring);

// The master keys a server starts with, checked against the database.
struct PreparedMasterKeys {
  Keyring keyring;
  std::string origin;  // as LoadedKeyring::origin
  // The default key file was just created for a new key (warn that
  // production must supply its own).
  bool created_key_file = false;
  // The key file the running server may read again (reload_key_file, and
  // VaultOptions::reload for an envelope under an unknown key id); none
  // when the key came from MasterKeySource::key_base64.
  std::optional<std::string> reloadable_file;
  SealedCensus census;  // census.malformed are the caller's to report
};

// What a server does with its master keys before it opens the database,
// writing nothing unless all of it passes: load_master_keys(source) (for a
// "memory:" database with no key given, a new key that lives only in memory,
// as its data does); the
// census of `database_url` (census_sealed_values); refuse a generated key
// when the database already holds sealed values (the key that sealed them
// is missing: kValidationFailed, field "master_key"); check_keyring_covers;
// then, for a generated key only, create_key_file(origin). A refused start
// leaves the database and the key file byte-identical. Errors are those of
// the steps named.
Result<PreparedMasterKeys> prepare_master_keys(const MasterKeySource& source,
                                               std::string_view database_url);

// SIGHUP in a running server: reads the key file at `path` again and makes
// it vault's keyring (keys it no longer lists are forgotten), unless the
// stored values still need a key it lacks: then kValidationFailed (as
// check_keyring_covers) and the vault keeps its keys. The vault's previous
// primary stays loaded too, as a non-primary key, until the next reload: a
// request that took the keyring before the swap may still seal under it.
// Errors of Keyring::from_file (the file unreadable or malformed) leave the
// vault unchanged. Returns the keyring now in use.
Result<std::shared_ptr<const Keyring>> reload_key_file(Vault& vault, Storage& storage,
                                                       const std::string& path);

struct ResealReport {
  std::size_t resealed = 0;  // values now under the primary key
  std::size_t skipped = 0;   // changed meanwhile by another writer; picked up by a rerun
  std::size_t batches = 0;
  // Values that do not open (malformed, tampered, or under a key the keyring
  // lacks): left as they are, by place.
  std::vector<SealedPlace> unreadable;
  // Per workspace: how many values this run re-sealed there (the few found
  // changed meanwhile, counted in `skipped`, included).
  std::map<std::string, std::size_t> resealed_by_workspace;
};

inline constexpr std::size_t kDefaultResealBatch = 500;

struct ResealOptions {
  // Values per storage transaction (0: kDefaultResealBatch).
  std::size_t batch = kDefaultResealBatch;
  // When given, called after each batch; returning false stops the run there
  // (as an interruption would).
  std::function<bool(const ResealReport&)> progress;
  // Who runs the rotation, for the audit events.
  std::optional<std::string> actor;
  std::string user_agent = "nexus keys rotate-master";
  // Defaults: system_clock(), system_random().
  const Clock* clock = nullptr;
  RandomSource* random = nullptr;
};

// Re-seals every value not under vault's primary key, options.batch values
// per storage transaction. Each batch commits on its own, so an interrupted
// run keeps what it did and a rerun continues; values already under the
// primary are left alone, and so are values that do not open (reported in
// ResealReport::unreadable; nothing is lost, a later run meets them again).
// When the run ends (finished or stopped by `progress`), each workspace whose
// values it re-sealed gets one master_key.rotated audit event with the new
// primary's id, the ids it re-sealed from, how many values, and whether the
// rotation is complete (nothing left under other keys but unreadable
// values). The events follow the batches rather than share their
// transactions: a batch spans workspaces, and re-sealing changes no value.
// Errors: the storage's.
Result<ResealReport> reseal_under_primary(Storage& storage, const Vault& vault,
                                          const ResealOptions& options = {});

}  // namespace nexus

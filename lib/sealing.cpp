// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/sealing.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <utility>
#include <vector>

#include "storage/sqlite/sealed_census.hpp"
#include "storage/storage_common.hpp"

namespace nexus {

namespace {

// Writes all of `text` to a new file `path` (mode 0600, must not exist) and
// syncs it.
Status write_new_private_file(const std::string& path, std::string_view text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status(ErrorCode::kUnavailable, "cannot create " + path + ": " + std::strerror(errno),
                  "master_key_file");
  }
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  bool ok = done == text.size() && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    return Status(ErrorCode::kUnavailable, "cannot write " + path, "master_key_file");
  }
  return Status::Ok();
}

}  // namespace

Status write_key_file(const std::string& path, const Keyring& keyring) {
  std::error_code ec;
  std::filesystem::path target(path);
  if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path(), ec);
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  if (Status s = write_new_private_file(tmp, keyring.to_file_text().view()); !s.ok()) return s;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Status(ErrorCode::kUnavailable, "cannot replace " + path, "master_key_file");
  }
  // The rename is durable once the directory is synced.
  std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
  if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

Status create_key_file(const std::string& path, const Keyring& keyring) {
  std::error_code ec;
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  return write_new_private_file(path, keyring.to_file_text().view());
}

Result<KeyFileLock> KeyFileLock::acquire(const std::string& key_file) {
  const std::string path = key_file + ".lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status(ErrorCode::kUnavailable,
                  "cannot create the lock file " + path + ": " + std::strerror(errno),
                  "master_key_file");
  }
  int rc;
  while ((rc = ::flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
  }
  if (rc != 0) {
    const int error = errno;
    ::close(fd);
    if (error == EWOULDBLOCK) {
      return Status(ErrorCode::kUnavailable,
                    "another `nexus keys rotate-master` or `drop-master` is changing " + key_file +
                        " (it holds " + path + "); wait for it to finish, then run this again",
                    "master_key_file");
    }
    return Status(ErrorCode::kUnavailable, "cannot lock " + path + ": " + std::strerror(error),
                  "master_key_file");
  }
  return KeyFileLock(fd);
}

KeyFileLock::KeyFileLock(KeyFileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

KeyFileLock& KeyFileLock::operator=(KeyFileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

KeyFileLock::~KeyFileLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

Result<LoadedKeyring> load_master_keys(const MasterKeySource& source) {
  if (source.key_base64 && source.key_file) {
    return Status(ErrorCode::kValidationFailed,
                  "set NEXUS_MASTER_KEY or NEXUS_MASTER_KEY_FILE, not both", "master_key");
  }
  if (source.key_base64) {
    Result<Keyring> ring = Keyring::from_base64(*source.key_base64);
    if (!ring.ok()) return ring.status();
    return LoadedKeyring{std::move(ring).value(), "NEXUS_MASTER_KEY", false};
  }
  const std::string path = source.key_file ? *source.key_file : source.default_file;
  if (!source.key_file && (!source.generate_default || path.empty())) {
    return Status(ErrorCode::kValidationFailed,
                  "a master key is required: set NEXUS_MASTER_KEY (base64 of 32 bytes) or "
                  "NEXUS_MASTER_KEY_FILE",
                  "master_key");
  }
  std::error_code ec;
  if (!source.key_file && !std::filesystem::exists(path, ec)) {
    return LoadedKeyring{Keyring::generate(), path, true};
  }
  Result<Keyring> ring = Keyring::from_file(path);
  if (!ring.ok()) return ring.status();
  return LoadedKeyring{std::move(ring).value(), path, false};
}

std::int64_t SealedCensus::total() const {
  std::int64_t n = static_cast<std::int64_t>(malformed.size());
  for (const auto& [id, count] : by_key) n += count;
  return n;
}

Result<SealedCensus> census_sealed_values(std::string_view database_url) {
  if (Status s = check_storage_url(database_url); !s.ok()) return s;
  if (database_url == detail::kMemoryUrl) return SealedCensus{};
  return sqlite::read_only_census(std::string(database_url.substr(detail::kSqliteScheme.size())));
}

Status check_keyring_covers(const SealedCensus& census, const Keyring& keyring) {
  std::string missing;
  for (const auto& [id, n] : census.by_key) {
    if (id.empty() || keyring.contains(id)) continue;
    if (!missing.empty()) missing += ", ";
    missing += "\"" + id + "\" (" + std::to_string(n) + (n == 1 ? " value)" : " values)");
  }
  if (missing.empty()) return Status::Ok();
  return Status(
      ErrorCode::kValidationFailed,
      "the database holds values sealed under master keys this server was not given: " + missing +
          "; supply them in NEXUS_MASTER_KEY_FILE (one \"ID BASE64KEY\" line "
          "each; see docs/sealed-credentials.md)",
      "master_key");
}

Status check_keyring_covers(Storage& storage, const Keyring& keyring) {
  Result<EnvelopeCounts> counts = storage.envelope_key_counts();
  if (!counts.ok()) return counts.status();
  return check_keyring_covers(SealedCensus{.by_key = std::move(counts).value(), .malformed = {}},
                              keyring);
}

Result<PreparedMasterKeys> prepare_master_keys(const MasterKeySource& source,
                                               std::string_view database_url) {
  const bool ephemeral =
      !source.key_base64 && !source.key_file && database_url == detail::kMemoryUrl;
  // A memory database with no key given: a key that lives as long as its data.
  Result<LoadedKeyring> loaded =
      ephemeral ? LoadedKeyring{Keyring::generate(), "memory", false} : load_master_keys(source);
  if (!loaded.ok()) return loaded.status();
  Result<SealedCensus> census = census_sealed_values(database_url);
  if (!census.ok()) return census.status();
  if (loaded->generated && census->total() > 0) {
    return Status(ErrorCode::kValidationFailed,
                  "the database holds " + std::to_string(census->total()) +
                      " sealed values but no master key was given and " + loaded->origin +
                      " does not exist: restore that file, or set NEXUS_MASTER_KEY or "
                      "NEXUS_MASTER_KEY_FILE to the keys that sealed them",
                  "master_key");
  }
  if (Status s = check_keyring_covers(census.value(), loaded->keyring); !s.ok()) return s;
  if (loaded->generated) {
    if (Status s = create_key_file(loaded->origin, loaded->keyring); !s.ok()) return s;
  }
  PreparedMasterKeys out{.keyring = std::move(loaded->keyring),
                         .origin = loaded->origin,
                         .created_key_file = loaded->generated,
                         .reloadable_file = std::nullopt,
                         .census = std::move(census).value()};
  if (source.key_file) {
    out.reloadable_file = source.key_file;
  } else if (!source.key_base64 && !ephemeral) {
    out.reloadable_file = out.origin;  // the default file, read or just created
  }
  return out;
}

Result<std::shared_ptr<const Keyring>> reload_key_file(Vault& vault, Storage& storage,
                                                       const std::string& path) {
  Result<Keyring> loaded = Keyring::from_file(path);
  if (!loaded.ok()) return loaded.status();
  if (Status s = check_keyring_covers(storage, *loaded); !s.ok()) return s;
  // A request that took the keyring before the swap may still seal under
  // its primary and commit after any check: that key stays loaded (not as
  // primary) until the next reload, by which time such requests are done.
  std::shared_ptr<const Keyring> before = vault.keyring();
  Keyring previous_primary = before->merged_with(Keyring());
  for (const std::string& id : before->ids()) {
    if (id != before->primary_id()) (void)previous_primary.remove(id);
  }
  vault.replace_keyring(std::make_shared<const Keyring>(loaded->merged_with(previous_primary)));
  return vault.keyring();
}

namespace {

SealedPlace place_of(const EnvelopeRef& ref) {
  return SealedPlace{ref.workspace, ref.owner_kind, ref.owner_id, ref.field};
}

// One master_key.rotated event per workspace this run re-sealed values of.
Status audit_rotation(Storage& storage, const ResealOptions& options, const std::string& primary,
                      const std::map<std::string, std::set<std::string>>& from_ids,
                      const ResealReport& report, bool complete) {
  const Clock& clock = options.clock != nullptr ? *options.clock : system_clock();
  RandomSource& random = options.random != nullptr ? *options.random : system_random();
  for (const auto& [workspace, count] : report.resealed_by_workspace) {
    boost::json::array from;
    if (auto it = from_ids.find(workspace); it != from_ids.end()) {
      for (const std::string& id : it->second) from.emplace_back(id);
    }
    AuditEvent event;
    event.id = make_id(random, "evt_");
    event.workspace = workspace;
    event.event_type = audit_events::kMasterKeyRotated;
    event.actor = options.actor;
    event.user_agent = options.user_agent;
    event.at = clock.now();
    event.data = boost::json::serialize(boost::json::object{{"primary_key_id", primary},
                                                            {"from_key_ids", std::move(from)},
                                                            {"resealed", count},
                                                            {"rotation_complete", complete}});
    if (Status s = storage.append_audit(std::move(event)); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace

Result<ResealReport> reseal_under_primary(Storage& storage, const Vault& vault,
                                          const ResealOptions& options) {
  const std::size_t batch = options.batch == 0 ? kDefaultResealBatch : options.batch;
  const std::shared_ptr<const Keyring> ring = vault.keyring();
  const std::string& primary = ring->primary_id();
  ResealReport report;
  std::map<std::string, std::set<std::string>> from_ids;  // per workspace
  // Values that do not open stay where they are, ahead of the rest in the
  // storage's order: ask for that many more each time.
  std::set<std::pair<std::string, std::string>> unreadable;  // (owner_id, field)
  bool complete = false;
  // A run stopped by an error still records what its committed batches
  // re-sealed (best effort: the storage may be what failed).
  const auto stopped_by = [&](Status why) {
    (void)audit_rotation(storage, options, primary, from_ids, report, false);
    return why;
  };
  for (;;) {
    Result<std::vector<EnvelopeRef>> listed =
        storage.envelopes_not_under(primary, batch + unreadable.size());
    if (!listed.ok()) return stopped_by(listed.status());
    const std::size_t known_unreadable = unreadable.size();
    std::vector<EnvelopeRef> refs;
    std::vector<std::string> replacement;
    for (EnvelopeRef& ref : listed.value()) {
      if (refs.size() == batch) break;
      if (unreadable.count({ref.owner_id, ref.field}) != 0) continue;
      SealContext where{.workspace = ref.workspace,
                        .owner_kind = ref.owner_kind,
                        .owner_id = ref.owner_id,
                        .field = ref.field};
      Result<SecretBytes> plain = vault.open(ref.envelope, where);
      if (!plain.ok()) {
        unreadable.insert({ref.owner_id, ref.field});
        report.unreadable.push_back(place_of(ref));
        continue;
      }
      replacement.push_back(vault.seal(plain->view(), where));
      refs.push_back(std::move(ref));
    }
    if (refs.empty()) {
      if (unreadable.size() > known_unreadable) continue;  // look past them
      complete = true;
      break;
    }
    Result<std::size_t> replaced = storage.replace_envelopes(refs, replacement);
    if (!replaced.ok()) return stopped_by(replaced.status());
    // Per workspace, what was asked: the storage reports only the total,
    // so values found changed meanwhile (rare) count there too.
    for (const EnvelopeRef& ref : refs) {
      from_ids[ref.workspace].insert(Vault::key_id_of(ref.envelope));
      ++report.resealed_by_workspace[ref.workspace];
    }
    report.resealed += replaced.value();
    report.skipped += refs.size() - replaced.value();
    ++report.batches;
    if (options.progress && !options.progress(report)) break;
    // Nothing replaced: every value changed meanwhile; stop rather than spin.
    if (replaced.value() == 0) break;
  }
  if (Status s = audit_rotation(storage, options, primary, from_ids, report, complete); !s.ok()) {
    return s;
  }
  return report;
}

}  // namespace nexus

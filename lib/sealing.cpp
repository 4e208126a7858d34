// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/sealing.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace nexus {

namespace {

// Writes all of `text` to a new file `path` (mode 0600, must not exist) and
// syncs it. The text holds keys: it is wiped by the caller.
Status write_new_private_file(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status(ErrorCode::kUnavailable,
                  "cannot create " + path + ": " + std::strerror(errno), "master_key_file");
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
  std::string text = keyring.to_file_text();
  Status s = write_new_private_file(tmp, text);
  sodium_memzero(text.data(), text.size());
  if (!s.ok()) return s;
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
    Keyring ring = Keyring::generate();
    std::filesystem::path p(path);
    if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
    std::string text = ring.to_file_text();
    Status s = write_new_private_file(path, text);
    sodium_memzero(text.data(), text.size());
    if (!s.ok()) return s;
    return LoadedKeyring{std::move(ring), path, true};
  }
  Result<Keyring> ring = Keyring::from_file(path);
  if (!ring.ok()) return ring.status();
  return LoadedKeyring{std::move(ring).value(), path, false};
}

Status check_keyring_covers(Storage& storage, const Keyring& keyring) {
  Result<EnvelopeCounts> counts = storage.envelope_key_counts();
  if (!counts.ok()) return counts.status();
  std::string missing;
  for (const auto& [id, n] : counts.value()) {
    if (keyring.contains(id)) continue;
    if (!missing.empty()) missing += ", ";
    missing += (id.empty() ? std::string("(unreadable envelope)") : "\"" + id + "\"") + " (" +
               std::to_string(n) + (n == 1 ? " value)" : " values)");
  }
  if (missing.empty()) return Status::Ok();
  return Status(ErrorCode::kValidationFailed,
                "the database holds values sealed under master keys this server was not given: " +
                    missing + "; supply them in NEXUS_MASTER_KEY_FILE",
                "master_key");
}

Result<ResealReport> reseal_under_primary(
    Storage& storage, const Vault& vault, std::size_t batch,
    const std::function<bool(const ResealReport&)>& progress) {
  if (batch == 0) batch = kDefaultResealBatch;
  const std::string& primary = vault.keyring().primary_id();
  ResealReport report;
  for (;;) {
    Result<std::vector<EnvelopeRef>> refs = storage.envelopes_not_under(primary, batch);
    if (!refs.ok()) return refs.status();
    if (refs->empty()) return report;
    std::vector<std::string> replacement;
    replacement.reserve(refs->size());
    for (const EnvelopeRef& ref : refs.value()) {
      SealContext where{.workspace = ref.workspace, .owner_kind = ref.owner_kind,
                        .owner_id = ref.owner_id, .field = ref.field};
      Result<SecretBytes> plain = vault.open(ref.envelope, where);
      if (!plain.ok()) return plain.status();
      replacement.push_back(vault.seal(plain->view(), where));
    }
    Result<std::size_t> replaced = storage.replace_envelopes(refs.value(), replacement);
    if (!replaced.ok()) return replaced.status();
    report.resealed += replaced.value();
    report.skipped += refs->size() - replaced.value();
    ++report.batches;
    if (progress && !progress(report)) return report;
    // Nothing replaced: every value changed meanwhile; stop rather than spin.
    if (replaced.value() == 0) return report;
  }
}

}  // namespace nexus

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// Sealing secrets at rest: a keyring of master keys and the Vault that seals
// values into versioned XChaCha20-Poly1305 envelopes bound to where they live.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nexus/status.hpp"

namespace nexus {

// Secret bytes, wiped (sodium_memzero) when released and when moved from.
// Short-lived plaintexts (an opened credential) live inline when they fit in
// 96 bytes, otherwise on the ordinary heap: they are wiped, but NOT locked
// against swapping, because secure memory costs several system calls per
// allocation, too slow for one per request. Long-lived master keys use
// locked(): libsodium secure memory with guard pages, locked against
// swapping. Move-only.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::size_t size);       // zero-filled, on the heap
  static SecretBytes locked(std::size_t size);  // zero-filled, in secure memory
  static SecretBytes copy_of(std::string_view bytes);
  ~SecretBytes();
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  unsigned char* data() noexcept { return data_; }
  const unsigned char* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  // A view of the bytes; valid while this object lives.
  std::string_view view() const noexcept { return {reinterpret_cast<const char*>(data_), size_}; }
  // Constant-time comparison.
  bool equals(std::string_view other) const noexcept;

 private:
  void release() noexcept;
  void take(SecretBytes& other) noexcept;

  // Most secrets are short: they live inline, sparing an allocation per open.
  static constexpr std::size_t kInlineBytes = 96;
  bool is_inline() const noexcept { return data_ == inline_; }

  unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
  bool locked_ = false;
  unsigned char inline_[kInlineBytes];
};

inline constexpr std::size_t kMasterKeyBytes = 32;

// Master keys by id. The primary key seals; every key opens. Move-only.
class Keyring {
 public:
  // A keyring of one key given as base64 (standard or URL-safe alphabet,
  // padding optional) of exactly 32 bytes, e.g. NEXUS_MASTER_KEY. Its id is
  // derived from the key. kValidationFailed (field "master_key") when
  // malformed; the message never contains the key.
  static Result<Keyring> from_base64(std::string_view base64_key);

  // Reads a key file: one key per line, "ID BASE64KEY"; blank lines and lines
  // starting with '#' are ignored; the first key is the primary. Ids are
  // 1–64 characters of [A-Za-z0-9_.-] and unique. kValidationFailed (field
  // "master_key_file", naming the line) when malformed; kUnavailable when the
  // file cannot be read.
  static Result<Keyring> from_file(const std::string& path);

  // Parses key-file text (see from_file).
  static Result<Keyring> parse(std::string_view text);

  // A new random key with a derived id.
  static Keyring generate();

  // A copy of this keyring with a new random primary key; every key here
  // stays, to open what it sealed.
  Keyring rotated() const;

  // Adds a key; it becomes the primary when `primary`. kValidationFailed
  // when the id is taken or malformed, or the key is not 32 bytes.
  Status add(std::string id, SecretBytes key, bool primary);
  // Drops a key that is not the primary. kNotFound / kValidationFailed.
  Status remove(std::string_view id);

  const std::string& primary_id() const noexcept { return primary_; }
  bool contains(std::string_view id) const;
  std::vector<std::string> ids() const;  // primary first
  // REQUIRES: contains(id).
  const SecretBytes& key(std::string_view id) const;
  // The key, or nullptr when the keyring lacks it.
  const SecretBytes* find(std::string_view id) const;

  // A keyring with every key of this one (its primary stays the primary) and
  // every key of `older` that this one lacks.
  Keyring merged_with(const Keyring& older) const;

  // Key-file text for this keyring (primary first), built in place in wiped
  // memory. Holds the keys in clear: write it only to a file of mode 0600.
  SecretBytes to_file_text() const;

  // The id derived from a key's bytes: "k" + 12 hex digits of a BLAKE2b hash.
  static std::string derive_id(std::string_view key);

 private:
  std::map<std::string, SecretBytes, std::less<>> keys_;
  std::string primary_;
  // The primary's key, checked first by find(): most envelopes are under it.
  // Map nodes never move, so this stays valid when the keyring is moved.
  const SecretBytes* primary_key_ = nullptr;
};

// Where a sealed value lives. The seal binds the ciphertext to every part of
// it, so an envelope copied to another row or field fails to open.
struct SealContext {
  std::string_view workspace;
  std::string_view owner_kind;  // "provider", "connection", ...
  std::string_view owner_id;
  std::string_view field;  // "client_secret", "credentials.secret_key", ...
};

// Envelope layout (format version 1):
//   byte 0       format version (1)
//   byte 1       key id length n (1..64)
//   bytes 2..    key id (n bytes), nonce (24 bytes), ciphertext + tag (16 bytes)
inline constexpr std::uint8_t kEnvelopeVersion = 1;

struct VaultOptions {
  // Called by open() when an envelope names a key id the keyring lacks (say,
  // `nexus keys rotate-master` ran while this process was serving): returns
  // the keyring as configured now, e.g. the key file read again. The vault
  // then holds that keyring's keys plus the keys it had (a reload never
  // forgets a key; replace_keyring does), and seals under the new primary.
  // Called at most once per `min_reload_interval`, by one thread at a time
  // (under the vault's reload lock: it must not call back into the vault);
  // the argument is the missing id. A failed reload changes nothing. Empty:
  // no reload.
  std::function<Result<Keyring>(std::string_view missing_key_id)> reload;
  std::chrono::milliseconds min_reload_interval{std::chrono::seconds(1)};
};

// Seals and opens values. Thread-safe. The keyring sits behind an atomically
// swapped shared pointer: replace_keyring (or a reload) takes effect for the
// next call, while calls in flight finish with the keyring they started with.
class Vault {
 public:
  // REQUIRES: keyring non-null.
  explicit Vault(std::shared_ptr<const Keyring> keyring, VaultOptions options = {});
  Vault(const Vault&) = delete;
  Vault& operator=(const Vault&) = delete;

  // The envelope of `plaintext` under the primary key, bound to `where`.
  std::string seal(std::string_view plaintext, const SealContext& where) const;

  // The plaintext, in wiped memory (see SecretBytes). kCredentialUnreadable
  // when the envelope is malformed, its key is not in the keyring (after a
  // reload, when options.reload is set), or authentication fails (tampered,
  // or sealed for another place). Never returns unauthenticated bytes.
  Result<SecretBytes> open(std::string_view envelope, const SealContext& where) const;

  // The id of the key that sealed `envelope`, or empty when malformed.
  static std::string key_id_of(std::string_view envelope);

  // The keyring in use now. The snapshot stays valid while it is held.
  std::shared_ptr<const Keyring> keyring() const;

  // Installs `keyring` as is: the next seal uses its primary, and keys it
  // lacks no longer open anything. Callers check first that it still opens
  // every stored value (check_keyring_covers). REQUIRES: keyring non-null.
  void replace_keyring(std::shared_ptr<const Keyring> keyring);

 private:
  // The keyring after reloading for `missing_id` (or as it is, when reloads
  // are off, too recent, or fail).
  std::shared_ptr<const Keyring> reload_for(std::string_view missing_id) const;

  // Mutable: a reload (from const open()) swaps it.
  mutable std::atomic<std::shared_ptr<const Keyring>> keyring_;
  const VaultOptions options_;
  mutable std::mutex reload_mu_;
  // When reload last ran. GUARDED_BY(reload_mu_)
  mutable std::optional<std::chrono::steady_clock::time_point> last_reload_;
};

}  // namespace nexus

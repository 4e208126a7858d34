// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// Sealing secrets at rest: a keyring of master keys and the Vault that seals
// values into versioned XChaCha20-Poly1305 envelopes bound to where they live.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nexus/status.hpp"

namespace nexus {

// Secret bytes, wiped (sodium_memzero) when released. Short-lived plaintexts
// live on the heap; long-lived master keys use locked() — libsodium secure
// memory with guard pages, locked against swapping — which costs a few system
// calls per allocation. Move-only.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::size_t size);  // zero-filled, on the heap
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
  std::string_view view() const noexcept {
    return {reinterpret_cast<const char*>(data_), size_};
  }
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

  // Key-file text for this keyring (primary first). Holds the keys in clear:
  // write it only to a file of mode 0600.
  std::string to_file_text() const;

  // The id derived from a key's bytes: "k" + 12 hex digits of a BLAKE2b hash.
  static std::string derive_id(std::string_view key);

 private:
  std::map<std::string, SecretBytes, std::less<>> keys_;
  std::string primary_;
};

// Where a sealed value lives. The seal binds the ciphertext to every part of
// it, so an envelope copied to another row or field fails to open.
struct SealContext {
  std::string_view workspace;
  std::string_view owner_kind;  // "provider", "connection", ...
  std::string_view owner_id;
  std::string_view field;       // "client_secret", "credentials.secret_key", ...
};

// Envelope layout (format version 1):
//   byte 0       format version (1)
//   byte 1       key id length n (1..64)
//   bytes 2..    key id (n bytes), nonce (24 bytes), ciphertext + tag (16 bytes)
inline constexpr std::uint8_t kEnvelopeVersion = 1;

// Seals and opens values. Thread-safe; holds the keyring by shared pointer so
// a rotation can swap it in while requests run.
class Vault {
 public:
  explicit Vault(std::shared_ptr<const Keyring> keyring);

  // The envelope of `plaintext` under the primary key, bound to `where`.
  std::string seal(std::string_view plaintext, const SealContext& where) const;

  // The plaintext, in secure memory. kCredentialUnreadable when the envelope
  // is malformed, its key is not in the keyring, or authentication fails
  // (tampered, or sealed for another place). Never returns unauthenticated
  // bytes.
  Result<SecretBytes> open(std::string_view envelope, const SealContext& where) const;

  // The id of the key that sealed `envelope`, or empty when malformed.
  static std::string key_id_of(std::string_view envelope);

  const Keyring& keyring() const noexcept { return *keyring_; }

 private:
  std::shared_ptr<const Keyring> keyring_;
};

}  // namespace nexus

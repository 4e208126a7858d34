// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/vault.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <utility>

#include "detail/encoding.hpp"

namespace nexus {
namespace {

constexpr std::size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::size_t kMaxKeyIdLength = 64;
constexpr std::string_view kAdTag = "nexus-seal-v1";
constexpr std::string_view kKeyIdPersonal = "nexus-key-id";

static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == kMasterKeyBytes);

void ensure_sodium() {
  static const bool ready = [] { return sodium_init() >= 0; }();
  if (!ready) std::abort();  // no entropy source: nothing is safe to do
}

bool valid_key_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxKeyIdLength) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Decodes base64 of either alphabet, padded or not, into secure memory.
std::optional<SecretBytes> decode_key(std::string_view b64) {
  while (!b64.empty() && b64.back() == '=') b64.remove_suffix(1);
  bool urlsafe = b64.find_first_of("-_") != std::string_view::npos;
  SecretBytes out = SecretBytes::locked(kMasterKeyBytes);
  std::size_t len = 0;
  const char* end = nullptr;
  int variant = urlsafe ? sodium_base64_VARIANT_URLSAFE_NO_PADDING
                        : sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
  if (sodium_base642bin(out.data(), out.size(), b64.data(), b64.size(), nullptr, &len, &end,
                        variant) != 0 ||
      end != b64.data() + b64.size() || len != kMasterKeyBytes) {
    return std::nullopt;
  }
  return out;
}

// The associated data: length-prefixed parts, so no two places share an
// encoding. Made on every seal and open, so built in one pass straight into a
// stack buffer (the heap only for unusually long ids).
class AssociatedData {
 public:
  AssociatedData(const SealContext& where, std::string_view key_id) {
    const std::string_view parts[] = {kAdTag,         where.workspace, where.owner_kind,
                                      where.owner_id, where.field,     key_id};
    std::size_t total = 0;
    for (std::string_view p : parts) total += 4 + p.size();
    unsigned char* out = inline_;
    if (total > sizeof inline_) {
      heap_ = std::make_unique<unsigned char[]>(total);
      out = heap_.get();
    }
    data_ = out;
    size_ = total;
    for (std::string_view p : parts) {
      const auto n = static_cast<std::uint32_t>(p.size());
      out[0] = static_cast<unsigned char>(n >> 24);
      out[1] = static_cast<unsigned char>(n >> 16);
      out[2] = static_cast<unsigned char>(n >> 8);
      out[3] = static_cast<unsigned char>(n);
      std::memcpy(out + 4, p.data(), p.size());
      out += 4 + p.size();
    }
  }
  AssociatedData(const AssociatedData&) = delete;
  AssociatedData& operator=(const AssociatedData&) = delete;
  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  unsigned char inline_[512];
  std::unique_ptr<unsigned char[]> heap_;
  const unsigned char* data_;
  std::size_t size_;
};

// The key id of a well-formed envelope, or empty.
std::string_view envelope_key_id(std::string_view envelope) {
  if (envelope.size() < 2 || std::uint8_t(envelope[0]) != kEnvelopeVersion) return {};
  std::size_t n = std::uint8_t(envelope[1]);
  if (n == 0 || n > kMaxKeyIdLength || envelope.size() < 2 + n + kNonceBytes + kTagBytes) {
    return {};
  }
  return envelope.substr(2, n);
}

SecretBytes locked_copy(const SecretBytes& key) {
  SecretBytes copy = SecretBytes::locked(key.size());
  std::memcpy(copy.data(), key.data(), key.size());
  return copy;
}

Status unreadable() {
  return Status(ErrorCode::kCredentialUnreadable,
                "a sealed credential could not be opened: it was altered, moved, or sealed "
                "under a key this server does not hold",
                "");
}

}  // namespace

// --- SecretBytes ---

SecretBytes::SecretBytes(std::size_t size) : size_(size) {
  if (size == 0) return;
  if (size <= kInlineBytes) {
    data_ = inline_;
    std::memset(inline_, 0, size);
  } else {
    data_ = new unsigned char[size]();
  }
}

SecretBytes SecretBytes::locked(std::size_t size) {
  ensure_sodium();
  SecretBytes s;
  if (size == 0) return s;
  s.data_ = static_cast<unsigned char*>(sodium_malloc(size));
  if (s.data_ == nullptr) std::abort();  // out of secure memory: treat as OOM
  sodium_memzero(s.data_, size);
  s.size_ = size;
  s.locked_ = true;
  return s;
}

SecretBytes SecretBytes::copy_of(std::string_view bytes) {
  SecretBytes s(bytes.size());
  if (!bytes.empty()) std::memcpy(s.data_, bytes.data(), bytes.size());
  return s;
}

void SecretBytes::release() noexcept {
  if (data_ == nullptr) return;
  if (locked_) {
    sodium_free(data_);  // wipes before releasing
  } else {
    sodium_memzero(data_, size_);
    if (!is_inline()) delete[] data_;
  }
  data_ = nullptr;
  size_ = 0;
  locked_ = false;
}

SecretBytes::~SecretBytes() { release(); }

// Moves `other`'s bytes here; an inline secret is copied and wiped at the
// source. REQUIRES: this holds nothing.
void SecretBytes::take(SecretBytes& other) noexcept {
  size_ = std::exchange(other.size_, 0);
  locked_ = std::exchange(other.locked_, false);
  if (other.is_inline()) {
    std::memcpy(inline_, other.inline_, size_);
    sodium_memzero(other.inline_, size_);
    data_ = inline_;
    other.data_ = nullptr;
  } else {
    data_ = std::exchange(other.data_, nullptr);
  }
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept { take(other); }

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    release();
    take(other);
  }
  return *this;
}

bool SecretBytes::equals(std::string_view other) const noexcept {
  if (other.size() != size_) return false;
  if (size_ == 0) return true;
  return sodium_memcmp(data_, other.data(), size_) == 0;
}

// --- Keyring ---

std::string Keyring::derive_id(std::string_view key) {
  ensure_sodium();
  unsigned char hash[crypto_generichash_BYTES_MIN];  // 16 bytes; 6 are shown
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, sizeof hash);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(kKeyIdPersonal.data()),
                            kKeyIdPersonal.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_generichash_final(&st, hash, sizeof hash);
  return "k" + detail::to_hex(std::string_view(reinterpret_cast<const char*>(hash), 6));
}

Result<Keyring> Keyring::from_base64(std::string_view base64_key) {
  auto key = decode_key(base64_key);
  if (!key) {
    return Status(ErrorCode::kValidationFailed,
                  "the master key must be the base64 encoding of exactly 32 bytes "
                  "(generate one with: openssl rand -base64 32)",
                  "master_key");
  }
  Keyring ring;
  std::string id = derive_id(key->view());
  (void)ring.add(std::move(id), std::move(*key), true);
  return ring;
}

Result<Keyring> Keyring::parse(std::string_view text) {
  Keyring ring;
  std::size_t line_no = 0;
  while (!text.empty()) {
    std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    auto bad = [&](std::string_view what) {
      return Status(ErrorCode::kValidationFailed,
                    "master key file line " + std::to_string(line_no) + ": " + std::string(what),
                    "master_key_file");
    };
    std::size_t sp = line.find_first_of(" \t");
    if (sp == std::string_view::npos) return bad("expected \"ID BASE64KEY\"");
    std::string_view id = line.substr(0, sp);
    std::string_view b64 = line.substr(line.find_first_not_of(" \t", sp));
    if (!valid_key_id(id)) return bad("key id must be 1-64 characters of A-Z a-z 0-9 _ . -");
    if (ring.contains(id)) return bad("key id \"" + std::string(id) + "\" appears twice");
    auto key = decode_key(b64);
    if (!key) return bad("key must be the base64 encoding of exactly 32 bytes");
    (void)ring.add(std::string(id), std::move(*key), ring.primary_.empty());
  }
  if (ring.primary_.empty()) {
    return Status(ErrorCode::kValidationFailed, "master key file holds no key", "master_key_file");
  }
  return ring;
}

Result<Keyring> Keyring::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status(ErrorCode::kUnavailable, "cannot read master key file " + path,
                  "master_key_file");
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  Result<Keyring> ring = parse(text);
  sodium_memzero(text.data(), text.size());
  return ring;
}

Keyring Keyring::generate() {
  SecretBytes key = SecretBytes::locked(kMasterKeyBytes);
  randombytes_buf(key.data(), key.size());
  Keyring ring;
  std::string id = derive_id(key.view());
  (void)ring.add(std::move(id), std::move(key), true);
  return ring;
}

Keyring Keyring::rotated() const { return generate().merged_with(*this); }

Keyring Keyring::merged_with(const Keyring& older) const {
  Keyring ring;
  for (const Keyring* from : {this, &older}) {
    for (const auto& [id, key] : from->keys_) {
      if (!ring.contains(id)) (void)ring.add(id, locked_copy(key), id == primary_);
    }
  }
  return ring;
}

Status Keyring::add(std::string id, SecretBytes key, bool primary) {
  if (!valid_key_id(id)) {
    return Status(ErrorCode::kValidationFailed,
                  "key id must be 1-64 characters of A-Z a-z 0-9 _ . -", "key_id");
  }
  if (key.size() != kMasterKeyBytes) {
    return Status(ErrorCode::kValidationFailed, "a master key is exactly 32 bytes", "key");
  }
  if (contains(id)) {
    return Status(ErrorCode::kValidationFailed, "key id \"" + id + "\" is already in the keyring",
                  "key_id");
  }
  const bool becomes_primary = primary || primary_.empty();
  auto [it, inserted] = keys_.emplace(std::move(id), std::move(key));
  if (becomes_primary) {
    primary_ = it->first;
    primary_key_ = &it->second;
  }
  return Status::Ok();
}

Status Keyring::remove(std::string_view id) {
  auto it = keys_.find(id);
  if (it == keys_.end()) {
    return Status(ErrorCode::kNotFound, "no key \"" + std::string(id) + "\" in the keyring",
                  "key_id");
  }
  if (it->first == primary_) {
    return Status(ErrorCode::kValidationFailed, "the primary key cannot be removed", "key_id");
  }
  keys_.erase(it);
  return Status::Ok();
}

bool Keyring::contains(std::string_view id) const { return find(id) != nullptr; }

const SecretBytes* Keyring::find(std::string_view id) const {
  if (id == primary_) return primary_key_;
  auto it = keys_.find(id);
  return it == keys_.end() ? nullptr : &it->second;
}

std::vector<std::string> Keyring::ids() const {
  std::vector<std::string> out;
  if (!primary_.empty()) out.push_back(primary_);
  for (const auto& [id, key] : keys_) {
    if (id != primary_) out.push_back(id);
  }
  return out;
}

const SecretBytes& Keyring::key(std::string_view id) const { return *find(id); }

SecretBytes Keyring::to_file_text() const {
  constexpr std::string_view kHeader =
      "# Nexus master keys: \"ID BASE64KEY\" per line; the first is the primary.\n";
  constexpr int kVariant = sodium_base64_VARIANT_ORIGINAL;
  // Sized up front and filled in place: no temporary holds a key.
  std::size_t size = kHeader.size();
  for (const auto& [id, key] : keys_) {
    size += id.size() + 1 + sodium_base64_ENCODED_LEN(key.size(), kVariant) - 1 + 1;
  }
  SecretBytes out(size);
  auto* p = reinterpret_cast<char*>(out.data());
  auto put = [&p](std::string_view s) { p = std::copy(s.begin(), s.end(), p); };
  put(kHeader);
  for (const std::string& id : ids()) {
    const SecretBytes& k = key(id);
    put(id);
    put(" ");
    const std::size_t room = sodium_base64_ENCODED_LEN(k.size(), kVariant);  // with its NUL
    sodium_bin2base64(p, room, k.data(), k.size(), kVariant);
    p += room - 1;
    put("\n");
  }
  return out;
}

// --- Vault ---

Vault::Vault(std::shared_ptr<const Keyring> keyring, VaultOptions options)
    : keyring_(std::move(keyring)), options_(std::move(options)) {
  ensure_sodium();
}

std::shared_ptr<const Keyring> Vault::keyring() const {
  return keyring_.load(std::memory_order_acquire);
}

void Vault::replace_keyring(std::shared_ptr<const Keyring> keyring) {
  keyring_.store(std::move(keyring), std::memory_order_release);
}

std::shared_ptr<const Keyring> Vault::reload_for(std::string_view missing_id) const {
  std::lock_guard lock(reload_mu_);
  std::shared_ptr<const Keyring> current = keyring();
  // Another thread may have reloaded while this one waited.
  if (!options_.reload || current->contains(missing_id)) return current;
  const auto now = std::chrono::steady_clock::now();
  if (last_reload_ && now - *last_reload_ < options_.min_reload_interval) return current;
  last_reload_ = now;
  Result<Keyring> loaded = options_.reload(missing_id);
  if (!loaded.ok()) return current;
  auto merged = std::make_shared<const Keyring>(loaded->merged_with(*current));
  keyring_.store(merged, std::memory_order_release);
  return merged;
}

std::string Vault::seal(std::string_view plaintext, const SealContext& where) const {
  const std::shared_ptr<const Keyring> ring = keyring();
  const std::string& id = ring->primary_id();
  const SecretBytes& key = ring->key(id);
  std::string envelope;
  envelope.resize(2 + id.size() + kNonceBytes + plaintext.size() + kTagBytes);
  auto* out = reinterpret_cast<unsigned char*>(envelope.data());
  out[0] = kEnvelopeVersion;
  out[1] = static_cast<unsigned char>(id.size());
  std::memcpy(out + 2, id.data(), id.size());
  unsigned char* nonce = out + 2 + id.size();
  randombytes_buf(nonce, kNonceBytes);
  AssociatedData ad(where, id);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      nonce + kNonceBytes, &clen, reinterpret_cast<const unsigned char*>(plaintext.data()),
      plaintext.size(), ad.data(), ad.size(), nullptr, nonce, key.data());
  return envelope;
}

std::string Vault::key_id_of(std::string_view envelope) {
  return std::string(envelope_key_id(envelope));
}

Result<SecretBytes> Vault::open(std::string_view envelope, const SealContext& where) const {
  const std::string_view id = envelope_key_id(envelope);
  if (id.empty()) return unreadable();
  std::shared_ptr<const Keyring> ring = keyring();
  const SecretBytes* key = ring->find(id);
  if (key == nullptr) {
    ring = reload_for(id);
    key = ring->find(id);
    if (key == nullptr) return unreadable();
  }
  const auto* in = reinterpret_cast<const unsigned char*>(envelope.data());
  const unsigned char* nonce = in + 2 + id.size();
  const unsigned char* cipher = nonce + kNonceBytes;
  const std::size_t clen = envelope.size() - 2 - id.size() - kNonceBytes;
  SecretBytes plain(clen - kTagBytes);
  AssociatedData ad(where, id);
  unsigned long long mlen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain.data(), &mlen, nullptr, cipher, clen,
                                                 ad.data(), ad.size(), nonce, key->data()) != 0) {
    return unreadable();
  }
  return plain;
}

}  // namespace nexus

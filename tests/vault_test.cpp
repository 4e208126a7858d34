// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/vault.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "nexus/sealing.hpp"
#include "test_support.hpp"

namespace nexus {
namespace {

// base64 of the 32 bytes 0x00..0x1f.
constexpr const char* kKeyB64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr const char* kKeyB64Url = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

const SealContext kWhere{.workspace = "default", .owner_kind = "provider",
                         .owner_id = "prv_1", .field = "client_secret"};

std::shared_ptr<const Keyring> ring_of(Keyring k) {
  return std::make_shared<const Keyring>(std::move(k));
}

TEST_CASE("a sealed value opens only in the place it was sealed for", "[vault]") {
  Vault vault(ring_of(Keyring::generate()));
  std::string env = vault.seal("sk_live_abc123", kWhere);
  CHECK(env.find("sk_live_abc123") == std::string::npos);
  CHECK(std::uint8_t(env[0]) == kEnvelopeVersion);
  CHECK(Vault::key_id_of(env) == vault.keyring().primary_id());

  auto opened = vault.open(env, kWhere);
  REQUIRE(opened.ok());
  CHECK(opened->view() == "sk_live_abc123");

  // Each part of the place is bound: another row, field, kind or workspace fails.
  for (SealContext other : {SealContext{"default", "provider", "prv_2", "client_secret"},
                            SealContext{"default", "provider", "prv_1", "client_id"},
                            SealContext{"default", "connection", "prv_1", "client_secret"},
                            SealContext{"acme", "provider", "prv_1", "client_secret"}}) {
    auto r = vault.open(env, other);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == ErrorCode::kCredentialUnreadable);
  }
}

TEST_CASE("seals use fresh nonces and any flipped byte fails to open", "[vault]") {
  Vault vault(ring_of(Keyring::generate()));
  std::string a = vault.seal("same", kWhere), b = vault.seal("same", kWhere);
  CHECK(a != b);
  for (std::size_t i = 0; i < a.size(); ++i) {
    std::string tampered = a;
    tampered[i] = char(tampered[i] ^ 0x01);
    auto r = vault.open(tampered, kWhere);
    INFO("byte " << i);
    CHECK(r.status().code() == ErrorCode::kCredentialUnreadable);
  }
  CHECK(vault.open(a.substr(0, a.size() - 1), kWhere).status().code() ==
        ErrorCode::kCredentialUnreadable);
  CHECK(vault.open("", kWhere).status().code() == ErrorCode::kCredentialUnreadable);
  CHECK(vault.open(vault.seal("", kWhere), kWhere)->empty());
}

TEST_CASE("an envelope under a key the keyring lacks is unreadable", "[vault]") {
  Vault one(ring_of(Keyring::generate()));
  Vault two(ring_of(Keyring::generate()));
  auto r = two.open(one.seal("x", kWhere), kWhere);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kCredentialUnreadable);
  CHECK(r.status().message().find("sealed under a key") != std::string::npos);
}

TEST_CASE("a keyring with an old key opens old envelopes and seals under the primary",
          "[vault]") {
  auto old_ring = Keyring::from_base64(kKeyB64);
  REQUIRE(old_ring.ok());
  std::string old_id = old_ring->primary_id();
  Vault old_vault(ring_of(std::move(old_ring).value()));
  std::string env = old_vault.seal("v1", kWhere);

  Keyring rotated = Keyring::generate();
  auto old_again = Keyring::from_base64(kKeyB64Url);  // same key, URL-safe alphabet
  REQUIRE(old_again.ok());
  CHECK(old_again->primary_id() == old_id);
  REQUIRE(rotated.add(old_id, SecretBytes::copy_of(old_again->key(old_id).view()), false).ok());
  CHECK(rotated.primary_id() != old_id);
  CHECK(rotated.ids().size() == 2);
  Vault vault(ring_of(std::move(rotated)));
  CHECK(vault.open(env, kWhere)->view() == "v1");
  CHECK(Vault::key_id_of(vault.seal("v2", kWhere)) == vault.keyring().primary_id());
}

TEST_CASE("malformed master keys are refused without echoing them", "[vault]") {
  for (const char* bad : {"", "not base64!", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",
                          "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ=="}) {
    INFO(bad);
    auto r = Keyring::from_base64(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == ErrorCode::kValidationFailed);
    CHECK(r.status().field() == "master_key");
    if (std::string_view(bad).size() > 4) {
      CHECK(r.status().message().find(bad) == std::string::npos);
    }
  }
}

TEST_CASE("key files: first key is primary, bad lines are named", "[vault]") {
  std::string text = std::string("# keys\n\nnew ") + kKeyB64Url + "\n";
  Keyring other = Keyring::generate();
  std::string other_line = other.to_file_text();
  other_line = other_line.substr(other_line.find('\n') + 1);  // drop the comment
  auto ring = Keyring::parse(text + other_line);
  REQUIRE(ring.ok());
  CHECK(ring->primary_id() == "new");
  CHECK(ring->ids() == std::vector<std::string>{"new", other.primary_id()});

  // to_file_text round-trips.
  auto again = Keyring::parse(ring->to_file_text());
  REQUIRE(again.ok());
  CHECK(again->ids() == ring->ids());
  CHECK(again->key("new").equals(ring->key("new").view()));

  struct Bad {
    std::string text;
    const char* phrase;
  };
  for (const Bad& b : {Bad{"", "no key"}, Bad{"onlyid\n", "line 1"},
                       Bad{"a " + std::string(kKeyB64) + "\na " + kKeyB64 + "\n", "twice"},
                       Bad{"bad/id " + std::string(kKeyB64) + "\n", "key id"},
                       Bad{"# c\nk short\n", "line 2"}}) {
    INFO(b.text);
    auto r = Keyring::parse(b.text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().field() == "master_key_file");
    CHECK(r.status().message().find(b.phrase) != std::string::npos);
  }

  testing::TempDir dir;
  { std::ofstream(dir.file("keys")) << text; }
  auto from_file = Keyring::from_file(dir.file("keys"));
  REQUIRE(from_file.ok());
  CHECK(from_file->primary_id() == "new");
  CHECK(Keyring::from_file(dir.file("absent")).status().code() == ErrorCode::kUnavailable);
}

TEST_CASE("the primary key cannot be removed, old keys can", "[vault]") {
  Keyring ring = Keyring::generate();
  std::string first = ring.primary_id();
  Keyring next = Keyring::generate();
  std::string second = next.primary_id();
  REQUIRE(ring.add(second, SecretBytes::copy_of(next.key(second).view()), true).ok());
  CHECK(ring.primary_id() == second);
  CHECK(ring.remove(second).code() == ErrorCode::kValidationFailed);
  CHECK(ring.remove(first).ok());
  CHECK(ring.remove(first).code() == ErrorCode::kNotFound);
  CHECK(ring.ids() == std::vector<std::string>{second});
}

TEST_CASE("SecretBytes compare in constant time and move cleanly", "[vault]") {
  SecretBytes a = SecretBytes::copy_of("secret");
  CHECK(a.equals("secret"));
  CHECK_FALSE(a.equals("secreT"));
  CHECK_FALSE(a.equals("secrets"));
  SecretBytes b = std::move(a);
  CHECK(a.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  CHECK(b.view() == "secret");
  SecretBytes l = SecretBytes::locked(32);
  CHECK(l.size() == 32);
  CHECK(l.view() == std::string(32, '\0'));
}

}  // namespace
}  // namespace nexus

namespace nexus {
namespace {

TEST_CASE("master keys load from the environment, a file, or a generated default", "[vault]") {
  testing::TempDir dir;
  SECTION("a base64 key") {
    auto r = load_master_keys({.key_base64 = kKeyB64});
    REQUIRE(r.ok());
    CHECK(r->origin == "NEXUS_MASTER_KEY");
    CHECK_FALSE(r->generated);
  }
  SECTION("both sources is an error") {
    auto r = load_master_keys({.key_base64 = kKeyB64, .key_file = dir.file("k")});
    CHECK(r.status().field() == "master_key");
  }
  SECTION("neither, without a default, is an error naming the variables") {
    auto r = load_master_keys({});
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("NEXUS_MASTER_KEY") != std::string::npos);
  }
  SECTION("the default file is created once with mode 0600, then reused") {
    MasterKeySource src{.default_file = dir.file("var/master.key"), .generate_default = true};
    auto first = load_master_keys(src);
    REQUIRE(first.ok());
    CHECK(first->generated);
    auto perms = std::filesystem::status(src.default_file).permissions();
    CHECK((perms & std::filesystem::perms::all) ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
    auto second = load_master_keys(src);
    REQUIRE(second.ok());
    CHECK_FALSE(second->generated);
    CHECK(second->keyring.primary_id() == first->keyring.primary_id());
  }
  SECTION("write_key_file replaces atomically and keeps the mode") {
    Keyring ring = Keyring::generate();
    REQUIRE(write_key_file(dir.file("keys"), ring).ok());
    Keyring next = Keyring::generate();
    REQUIRE(next.add(ring.primary_id(), SecretBytes::copy_of(ring.key(ring.primary_id()).view()),
                     false)
                .ok());
    REQUIRE(write_key_file(dir.file("keys"), next).ok());
    auto back = load_master_keys({.key_file = dir.file("keys")});
    REQUIRE(back.ok());
    CHECK(back->keyring.ids() == next.ids());
    CHECK_FALSE(std::filesystem::exists(dir.file("keys.tmp")));
  }
  SECTION("a malformed key file is refused") {
    { std::ofstream(dir.file("bad")) << "k1 not-a-key\n"; }
    auto r = load_master_keys({.key_file = dir.file("bad")});
    CHECK(r.status().field() == "master_key_file");
  }
}

}  // namespace
}  // namespace nexus

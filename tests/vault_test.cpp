// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/vault.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "nexus/audit.hpp"
#include "nexus/registry.hpp"
#include "nexus/sealing.hpp"
#include "nexus/storage.hpp"
#include "storage/forwarding_storage.hpp"
#include "test_support.hpp"

namespace nexus {
namespace {

// base64 of the 32 bytes 0x00..0x1f.
constexpr const char* kKeyB64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr const char* kKeyB64Url = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

const SealContext kWhere{.workspace = "default",
                         .owner_kind = "provider",
                         .owner_id = "prv_1",
                         .field = "client_secret"};

std::shared_ptr<const Keyring> ring_of(Keyring k) {
  return std::make_shared<const Keyring>(std::move(k));
}

TEST_CASE("a sealed value opens only in the place it was sealed for", "[vault]") {
  Vault vault(ring_of(Keyring::generate()));
  std::string env = vault.seal("sk_live_abc123", kWhere);
  CHECK(env.find("sk_live_abc123") == std::string::npos);
  CHECK(std::uint8_t(env[0]) == kEnvelopeVersion);
  CHECK(Vault::key_id_of(env) == vault.keyring()->primary_id());

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

TEST_CASE("a keyring with an old key opens old envelopes and seals under the primary", "[vault]") {
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
  CHECK(Vault::key_id_of(vault.seal("v2", kWhere)) == vault.keyring()->primary_id());
}

TEST_CASE("a vault meeting an unknown key id reloads once per interval and forgets no key",
          "[vault][reload]") {
  auto k1 = ring_of(Keyring::generate());
  const std::string id1 = k1->primary_id();
  auto k2 = ring_of(k1->rotated());  // new primary, k1 kept
  const std::string id2 = k2->primary_id();
  Vault writer(k2);
  const std::string under_k1 = Vault(k1).seal("one", kWhere);
  const std::string under_k2 = writer.seal("two", kWhere);

  int calls = 0;
  std::string asked;
  // What the "key file" holds now: only the new key (k1 already dropped there).
  auto file_now = [&]() -> Result<Keyring> {
    Keyring only_new;
    REQUIRE(only_new.add(id2, SecretBytes::copy_of(k2->key(id2).view()), true).ok());
    return only_new;
  };
  VaultOptions options;
  options.min_reload_interval = std::chrono::hours(1);
  options.reload = [&](std::string_view missing) {
    ++calls;
    asked = missing;
    return file_now();
  };
  Vault reader(k1, options);
  CHECK(reader.open(under_k1, kWhere)->view() == "one");
  CHECK(calls == 0);  // a known key: no reload

  auto opened = reader.open(under_k2, kWhere);
  REQUIRE(opened.ok());
  CHECK(opened->view() == "two");
  CHECK(calls == 1);
  CHECK(asked == id2);
  // Seals under the new primary from now on, and still opens k1's values.
  CHECK(reader.keyring()->primary_id() == id2);
  CHECK(Vault::key_id_of(reader.seal("three", kWhere)) == id2);
  CHECK(reader.open(under_k1, kWhere)->view() == "one");

  // Another unknown id within the interval: no second reload.
  const std::string under_k3 = Vault(ring_of(Keyring::generate())).seal("x", kWhere);
  CHECK(reader.open(under_k3, kWhere).status().code() == ErrorCode::kCredentialUnreadable);
  CHECK(calls == 1);

  SECTION("with no interval, every miss asks again; a failed reload changes nothing") {
    VaultOptions eager;
    eager.min_reload_interval = std::chrono::milliseconds(0);
    eager.reload = [&](std::string_view) -> Result<Keyring> {
      ++calls;
      return Status(ErrorCode::kUnavailable, "cannot read the key file");
    };
    Vault v(k1, eager);
    CHECK(v.open(under_k3, kWhere).status().code() == ErrorCode::kCredentialUnreadable);
    CHECK(v.open(under_k3, kWhere).status().code() == ErrorCode::kCredentialUnreadable);
    CHECK(calls == 3);
    CHECK(v.keyring() == k1);
  }
  SECTION("without a reload callback an unknown id is simply unreadable") {
    Vault v(k1);
    CHECK(v.open(under_k2, kWhere).status().code() == ErrorCode::kCredentialUnreadable);
    CHECK(v.keyring()->primary_id() == id1);
  }
}

TEST_CASE("replace_keyring takes effect for later calls while snapshots stay valid",
          "[vault][reload]") {
  auto k1 = ring_of(Keyring::generate());
  auto k2 = ring_of(k1->rotated());
  Vault vault(k1);
  const std::string old_value = vault.seal("old", kWhere);
  std::shared_ptr<const Keyring> snapshot = vault.keyring();
  vault.replace_keyring(k2);
  CHECK(snapshot->primary_id() == k1->primary_id());  // still usable
  CHECK(Vault::key_id_of(vault.seal("new", kWhere)) == k2->primary_id());
  CHECK(vault.open(old_value, kWhere)->view() == "old");

  // A keyring without k1 really forgets it: that is replace_keyring's job.
  Keyring only_new;
  REQUIRE(
      only_new.add(k2->primary_id(), SecretBytes::copy_of(k2->key(k2->primary_id()).view()), true)
          .ok());
  vault.replace_keyring(ring_of(std::move(only_new)));
  CHECK(vault.open(old_value, kWhere).status().code() == ErrorCode::kCredentialUnreadable);
}

TEST_CASE("opens and seals stay correct while the keyring is swapped concurrently",
          "[vault][reload]") {
  // Two keyrings with the same two keys and different primaries.
  auto k1 = ring_of(Keyring::generate());
  auto k2 = ring_of(k1->rotated());
  k1 = ring_of(k1->merged_with(*k2));
  Vault vault(k1);
  const std::string sealed = vault.seal("steady", kWhere);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        auto r = vault.open(sealed, kWhere);
        if (!r.ok() || r->view() != "steady") ++failures;
        auto again = vault.open(vault.seal("fresh", kWhere), kWhere);
        if (!again.ok() || again->view() != "fresh") ++failures;
      }
    });
  }
  for (int i = 0; i < 2000; ++i) vault.replace_keyring(i % 2 ? k1 : k2);
  stop = true;
  for (auto& t : readers) t.join();
  CHECK(failures.load() == 0);
}

TEST_CASE("merged_with keeps this keyring's primary and adds the other's keys", "[vault]") {
  Keyring a = Keyring::generate();
  Keyring b = Keyring::generate();
  Keyring merged = a.merged_with(b);
  CHECK(merged.primary_id() == a.primary_id());
  CHECK(merged.ids() == std::vector<std::string>{a.primary_id(), b.primary_id()});
  CHECK(merged.key(b.primary_id()).equals(b.key(b.primary_id()).view()));
  CHECK(a.merged_with(a).ids().size() == 1);
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
  std::string other_line(other.to_file_text().view());
  other_line = other_line.substr(other_line.find('\n') + 1);  // drop the comment
  auto ring = Keyring::parse(text + other_line);
  REQUIRE(ring.ok());
  CHECK(ring->primary_id() == "new");
  CHECK(ring->ids() == std::vector<std::string>{"new", other.primary_id()});

  // to_file_text round-trips.
  auto again = Keyring::parse(ring->to_file_text().view());
  REQUIRE(again.ok());
  CHECK(again->ids() == ring->ids());
  CHECK(again->key("new").equals(ring->key("new").view()));

  struct Bad {
    std::string text;
    const char* phrase;
  };
  for (const Bad& b :
       {Bad{"", "no key"}, Bad{"onlyid\n", "line 1"},
        Bad{"a " + std::string(kKeyB64) + "\na " + kKeyB64 + "\n", "twice"},
        Bad{"bad/id " + std::string(kKeyB64) + "\n", "key id"}, Bad{"# c\nk short\n", "line 2"}}) {
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
  SECTION("a missing default file is generated in memory only; create_key_file writes it once") {
    MasterKeySource src{.default_file = dir.file("var/master.key"), .generate_default = true};
    auto first = load_master_keys(src);
    REQUIRE(first.ok());
    CHECK(first->generated);
    CHECK(first->origin == src.default_file);
    CHECK_FALSE(std::filesystem::exists(src.default_file));
    CHECK_FALSE(std::filesystem::exists(dir.file("var")));
    // Not written yet: another load generates another key.
    CHECK(load_master_keys(src)->keyring.primary_id() != first->keyring.primary_id());

    REQUIRE(create_key_file(first->origin, first->keyring).ok());
    auto perms = std::filesystem::status(src.default_file).permissions();
    CHECK((perms & std::filesystem::perms::all) ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
    CHECK(create_key_file(first->origin, Keyring::generate()).code() == ErrorCode::kUnavailable);
    auto second = load_master_keys(src);
    REQUIRE(second.ok());
    CHECK_FALSE(second->generated);
    CHECK(second->keyring.primary_id() == first->keyring.primary_id());
  }
  SECTION("write_key_file replaces atomically and keeps the mode") {
    Keyring ring = Keyring::generate();
    REQUIRE(write_key_file(dir.file("keys"), ring).ok());
    Keyring next = Keyring::generate();
    REQUIRE(
        next.add(ring.primary_id(), SecretBytes::copy_of(ring.key(ring.primary_id()).view()), false)
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

namespace nexus {
namespace {

TEST_CASE("reload_key_file swaps in the file's keys only when they open every stored value",
          "[vault]") {
  testing::TempDir dir;
  const std::string path = dir.file("keys");
  Vault vault(ring_of(Keyring::generate()));
  const std::string k1_id = vault.keyring()->primary_id();
  std::unique_ptr<Storage> storage = make_memory_storage();
  ProviderRegistry registry({.storage = storage.get(), .vault = &vault});
  REQUIRE(registry.create(RequestContext{}, testing::json(testing::kGithubJson)).ok());

  SECTION("a file without the key that seals a stored value is refused; nothing changes") {
    REQUIRE(write_key_file(path, Keyring::generate()).ok());
    auto reloaded = reload_key_file(vault, *storage, path);
    REQUIRE_FALSE(reloaded.ok());
    CHECK(reloaded.status().code() == ErrorCode::kValidationFailed);
    CHECK(reloaded.status().message().find(k1_id) != std::string::npos);
    CHECK(vault.keyring()->primary_id() == k1_id);
  }
  SECTION("a rotated file becomes the keyring: new primary, old key kept") {
    Keyring k2 = vault.keyring()->rotated();
    REQUIRE(write_key_file(path, k2).ok());
    auto reloaded = reload_key_file(vault, *storage, path);
    REQUIRE(reloaded.ok());
    CHECK((*reloaded)->primary_id() == k2.primary_id());
    CHECK(vault.keyring()->primary_id() == k2.primary_id());
    CHECK(vault.keyring()->ids().size() == 2);
    auto secret = registry.client_secret(RequestContext{}, "github");
    REQUIRE(secret.ok());
  }
  SECTION("a file that drops the primary keeps it loaded until the next reload") {
    // Nothing stored needs k1 here, so a file without it is accepted.
    std::unique_ptr<Storage> empty = make_memory_storage();
    Keyring k2 = Keyring::generate();
    REQUIRE(write_key_file(path, k2).ok());
    auto reloaded = reload_key_file(vault, *empty, path);
    REQUIRE(reloaded.ok());
    CHECK((*reloaded)->primary_id() == k2.primary_id());
    CHECK((*reloaded)->contains(k1_id));  // the primary it replaced, for sealers in flight
    // k1 is no longer the primary: the next reload lets it go.
    auto again = reload_key_file(vault, *empty, path);
    REQUIRE(again.ok());
    CHECK((*again)->ids() == std::vector<std::string>{k2.primary_id()});
  }
  SECTION("an unreadable file leaves the vault as it was") {
    auto reloaded = reload_key_file(vault, *storage, dir.file("missing"));
    REQUIRE_FALSE(reloaded.ok());
    CHECK(vault.keyring()->primary_id() == k1_id);
  }
}

// Fails every replace_envelopes after the first (a database gone away
// mid-rotation).
class SecondReplaceFails final : public testing::ForwardingStorage {
 public:
  using ForwardingStorage::ForwardingStorage;

 protected:
  Status intercept(Call call) override {
    if (call != Call::kReplaceEnvelopes || replaces_++ == 0) return Status::Ok();
    return Status(ErrorCode::kUnavailable, "the database is locked");
  }

 private:
  int replaces_ = 0;
};

TEST_CASE("a rotation stopped by an error audits the batches it committed", "[vault][rotation]") {
  SecondReplaceFails storage(make_memory_storage());
  Vault vault(ring_of(Keyring::generate()));
  const std::string k1_id = vault.keyring()->primary_id();
  ProviderRegistry registry({.storage = &storage, .vault = &vault});
  REQUIRE(registry.create(RequestContext{}, testing::json(testing::kGithubJson)).ok());
  auto second = testing::json(testing::kGithubJson);
  second.as_object()["name"] = "github-2";
  REQUIRE(registry.create(RequestContext{}, second).ok());
  vault.replace_keyring(ring_of(vault.keyring()->rotated()));

  auto run = reseal_under_primary(storage, vault, {.batch = 1});
  REQUIRE_FALSE(run.ok());
  CHECK(run.status().code() == ErrorCode::kUnavailable);
  auto page = AuditLog(storage).query("default", {.event_type = "master_key.rotated"});
  REQUIRE(page.ok());
  REQUIRE(page->events.size() == 1);
  auto data = testing::json(page->events[0].data.c_str()).as_object();
  CHECK(data.at("resealed") == 1);
  CHECK(data.at("rotation_complete") == false);
  CHECK(data.at("from_key_ids") == boost::json::array{boost::json::string(k1_id)});
}

}  // namespace
}  // namespace nexus

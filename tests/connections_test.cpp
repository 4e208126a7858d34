// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// api_key connections and sealed credentials: validation against the schema,
// credential reads and their audit, deleted providers, tampering, the bytes on
// disk, master key rotation and the startup key check.
#include "nexus/connections.hpp"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "detail/encoding.hpp"
#include "nexus/audit.hpp"
#include "nexus/registry.hpp"
#include "nexus/sealing.hpp"
#include "nexus/storage.hpp"
#include "nexus/vault.hpp"
#include "storage/raw_sqlite.hpp"
#include "test_support.hpp"

namespace nexus {
namespace {

using testing::create_at_schema;
using testing::json;

constexpr const char* kStripeKey = "sk_live_51HxQzTestSecretValue";
constexpr const char* kSchemaTwo = R"({
  "name": "twilio", "auth_type": "api_key", "api_base_url": "https://api.twilio.com",
  "credential_schema": {"fields": [{"name": "account_sid", "label": "Account SID", "sensitive": false},
                                   {"name": "auth_token", "label": "Auth Token"}]}
})";

std::shared_ptr<const Keyring> fresh_ring() {
  return std::make_shared<const Keyring>(Keyring::generate());
}

// A registry and a connection service over one storage and one vault.
struct World {
  testing::TempDir dir;
  std::string path = dir.file("nexus.db");
  std::unique_ptr<Storage> storage;
  std::shared_ptr<const Keyring> ring = fresh_ring();
  std::unique_ptr<Vault> vault = std::make_unique<Vault>(ring);
  std::unique_ptr<ProviderRegistry> registry;
  std::unique_ptr<ConnectionService> connections;
  RequestContext ctx{.workspace = "default",
                     .actor = "key_admin",
                     .caller_ip = "198.51.100.4",
                     .user_agent = "connections-test"};

  explicit World(bool sqlite = true) {
    storage = sqlite ? open_sqlite_storage(path).value() : make_memory_storage();
    rebuild();
    REQUIRE(registry->create(ctx, json(testing::kGithubJson)).ok());
    REQUIRE(registry->create(ctx, json(testing::kStripeJson)).ok());
  }
  // Closes the database (the storage checkpoints its WAL into the file).
  void close() {
    connections.reset();
    registry.reset();
    storage.reset();
  }
  void rebuild() {
    registry = std::make_unique<ProviderRegistry>(
        RegistryOptions{.storage = storage.get(), .vault = vault.get()});
    connections = std::make_unique<ConnectionService>(
        ConnectionOptions{.storage = storage.get(), .vault = vault.get()});
  }
  ConnectionRecord connect(const std::string& user = "u-42", const char* key = kStripeKey) {
    boost::json::object body{
        {"provider_name", "stripe"}, {"user_id", user}, {"credentials", {{"secret_key", key}}}};
    auto r = connections->create(ctx, body);
    INFO(r.status().message());
    REQUIRE(r.ok());
    return r.value();
  }
  std::string audit_text() {
    AuditLog audit(*storage);
    auto page = audit.query(ctx.workspace, {.limit = kMaxAuditLimit});
    REQUIRE(page.ok());
    std::string text;
    for (const auto& e : page->events) text += boost::json::serialize(audit_event_view(e)) + "\n";
    return text;
  }
  std::int64_t audit_seq() { return storage->audit_head(ctx.workspace)->seq; }
};

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The names of the files in `dir`.
std::set<std::string> files_in(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    out.insert(e.path().filename().string());
  }
  return out;
}

// An SQL literal for `bytes` as a BLOB.
std::string blob_literal(std::string_view bytes) { return "X'" + detail::to_hex(bytes) + "'"; }

// INSERT of a schema-1 provider row; `secret_sql` is its client_secret.
std::string insert_old_provider(const std::string& id, const std::string& name,
                                const std::string& secret_sql) {
  return "INSERT INTO providers (id, workspace, name, auth_type, client_id, client_secret, "
         "auth_url, token_url, enable_discovery, scopes, params, created_at, updated_at, "
         "version) VALUES ('" +
         id + "', 'default', '" + name + "', 'oauth2', 'client-id', " + secret_sql +
         ", 'https://github.com/login/oauth/authorize', "
         "'https://github.com/login/oauth/access_token', 0, '[]', '{}', 1780000000000, "
         "1780000000000, 1)";
}

TEST_CASE("an api_key connection seals its values and hands them out once asked", "[connections]") {
  World w;
  ConnectionRecord c = w.connect();
  CHECK(c.id.rfind("con_", 0) == 0);
  CHECK(c.status == ConnectionStatus::kActive);
  REQUIRE(c.credentials.size() == 1);
  CHECK(c.credentials[0].envelope.find(kStripeKey) == std::string::npos);

  std::string view =
      boost::json::serialize(connection_view(w.connections->get(w.ctx, c.id).value()));
  CHECK(view.find(kStripeKey) == std::string::npos);
  CHECK(view.find(R"("status":"active")") != std::string::npos);

  auto creds = w.connections->credentials(w.ctx, c.id);
  REQUIRE(creds.ok());
  CHECK(creds->provider_name == "stripe");
  CHECK(creds->auth_type == AuthType::kApiKey);
  CHECK(creds->api_base_url == "https://api.stripe.com");
  REQUIRE(creds->values.size() == 1);
  CHECK(creds->values[0].first == "secret_key");
  CHECK(creds->values[0].second.view() == kStripeKey);
  auto out = credentials_view(creds.value());
  CHECK(out.at("credentials").at("secret_key") == kStripeKey);

  std::string audit = w.audit_text();
  CHECK(audit.find("connection.created") != std::string::npos);
  CHECK(audit.find("token_retrieved") != std::string::npos);
  CHECK(audit.find(kStripeKey) == std::string::npos);
  CHECK(AuditLog(*w.storage).verify("default")->ok);
}

TEST_CASE("connection input is validated against the provider's schema", "[connections]") {
  World w;
  REQUIRE(w.registry->create(w.ctx, json(kSchemaTwo)).ok());
  const std::int64_t seq = w.audit_seq();
  struct Case {
    const char* body;
    ErrorCode code;
    const char* field;
  };
  const Case cases[] = {
      {R"([])", ErrorCode::kValidationFailed, ""},
      {R"({"provider_name":"twilio","user_id":"u","credentials":{"account_sid":"AC1"}})",
       ErrorCode::kValidationFailed, "credentials.auth_token"},
      {R"({"provider_name":"twilio","user_id":"u","credentials":{"account_sid":"AC1",
          "auth_token":"t","region":"eu"}})",
       ErrorCode::kValidationFailed, "credentials.region"},
      {R"({"provider_name":"twilio","user_id":"u","credentials":{"account_sid":"",
          "auth_token":"t"}})",
       ErrorCode::kValidationFailed, "credentials.account_sid"},
      {R"({"provider_name":"twilio","user_id":"u","credentials":{"account_sid":7,
          "auth_token":"t"}})",
       ErrorCode::kValidationFailed, "credentials.account_sid"},
      {R"({"provider_name":"twilio","user_id":"u","credentials":"AC1:t"})",
       ErrorCode::kValidationFailed, "credentials"},
      {R"({"provider_name":"twilio","user_id":"u"})", ErrorCode::kValidationFailed, "credentials"},
      {R"({"provider_name":"twilio","credentials":{}})", ErrorCode::kValidationFailed, "user_id"},
      {R"({"provider_name":"twilio","user_id":"u","credentials":{},"scope":"x"})",
       ErrorCode::kValidationFailed, "scope"},
      {R"({"provider_name":"github","user_id":"u","credentials":{}})", ErrorCode::kValidationFailed,
       "provider_name"},
      {R"({"provider_name":"nope","user_id":"u","credentials":{}})", ErrorCode::kProviderNotFound,
       "provider_name"},
  };
  for (const Case& c : cases) {
    INFO(c.body);
    auto r = w.connections->create(w.ctx, json(c.body));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == c.code);
    CHECK(r.status().field() == c.field);
  }
  boost::json::object too_big{
      {"provider_name", "twilio"},
      {"user_id", "u"},
      {"credentials", {{"account_sid", "AC1"}, {"auth_token", std::string(8 * 1024 + 1, 't')}}}};
  auto big = w.connections->create(w.ctx, too_big);
  CHECK(big.status().field() == "credentials.auth_token");
  CHECK(big.status().message().find("tttt") == std::string::npos);

  CHECK(w.connections->list(w.ctx, {}, {})->items.empty());
  CHECK(w.audit_seq() == seq);
}

TEST_CASE("connections list by provider and user, with pages", "[connections]") {
  World w;
  for (int i = 0; i < 5; ++i) w.connect(i % 2 ? "odd" : "even");
  std::vector<std::string> seen;
  PageRequest page{.limit = 2};
  for (;;) {
    auto r = w.connections->list(w.ctx, {.user_id = "even"}, page);
    REQUIRE(r.ok());
    for (const auto& c : r->items) seen.push_back(c.id);
    if (!r->next_cursor) break;
    page.cursor = r->next_cursor;
  }
  CHECK(seen.size() == 3);
  CHECK(std::is_sorted(seen.begin(), seen.end()));
  CHECK(w.connections->list(w.ctx, {.provider_name = "github"}, {})->items.empty());
  CHECK(w.connections->list(w.ctx, {}, {.cursor = "junk"}).status().field() == "cursor");
  CHECK(w.connections->list(RequestContext{.workspace = "acme"}, {}, {})->items.empty());
}

TEST_CASE("after its provider is deleted a connection answers provider_deleted", "[connections]") {
  World w;
  ConnectionRecord c = w.connect();
  REQUIRE(w.registry->remove(w.ctx, "stripe").ok());
  auto creds = w.connections->credentials(w.ctx, c.id);
  REQUIRE_FALSE(creds.ok());
  CHECK(creds.status().code() == ErrorCode::kProviderDeleted);
  CHECK(creds.status().message().find("deleted") != std::string::npos);
  auto after = w.connections->get(w.ctx, c.id);
  REQUIRE(after.ok());
  CHECK(after->status == ConnectionStatus::kProviderDeleted);
  CHECK(after->credentials.empty());
  CHECK(w.audit_text().find("token_retrieval_failed") != std::string::npos);

  // Re-registering the name does not revive the old connection.
  REQUIRE(w.registry->create(w.ctx, json(testing::kStripeJson)).ok());
  CHECK(w.connections->credentials(w.ctx, c.id).status().code() == ErrorCode::kProviderDeleted);
  // Everything else still works.
  ConnectionRecord fresh = w.connect("u-43");
  CHECK(w.connections->credentials(w.ctx, fresh.id).ok());
  CHECK(w.registry->client_secret(w.ctx, "github")->view() == testing::kGithubSecret);
}

TEST_CASE("deleting a connection erases it, unknown ids are not_found", "[connections]") {
  World w;
  ConnectionRecord c = w.connect();
  REQUIRE(w.connections->remove(w.ctx, c.id).ok());
  CHECK(w.connections->get(w.ctx, c.id).status().code() == ErrorCode::kNotFound);
  CHECK(w.connections->remove(w.ctx, c.id).code() == ErrorCode::kNotFound);
  CHECK(w.connections->credentials(w.ctx, c.id).status().code() == ErrorCode::kNotFound);
  CHECK(w.connections->credentials(RequestContext{.workspace = "acme"}, c.id).status().code() ==
        ErrorCode::kNotFound);
  CHECK(w.storage->envelope_key_counts()->at(w.ring->primary_id()) == 1);  // github's secret
}

TEST_CASE("no secret reaches the database or WAL file in clear", "[connections][sqlite]") {
  World w;
  ConnectionRecord c = w.connect("u-42", kStripeKey);
  REQUIRE(
      w.registry->patch(w.ctx, "github", json(R"({"client_secret":"rotated-gh-secret-Z9"})")).ok());
  REQUIRE(w.connections->credentials(w.ctx, c.id).ok());
  const char* secrets[] = {testing::kGithubSecret, "rotated-gh-secret-Z9", kStripeKey};
  auto scan = [&](const std::string& what) {
    for (const char* file : {"nexus.db", "nexus.db-wal"}) {
      std::string bytes = file_bytes(w.dir.file(file));
      INFO(what << ": " << file << " (" << bytes.size() << " bytes)");
      for (const char* s : secrets) CHECK(bytes.find(s) == std::string::npos);
    }
  };
  CHECK(std::filesystem::file_size(w.dir.file("nexus.db-wal")) > 0);
  scan("while open");
  w.close();  // checkpoints the WAL into the database
  scan("after close");
}

TEST_CASE("an envelope moved to another row or field, or altered, does not open",
          "[connections][sqlite]") {
  World w;
  ConnectionRecord a = w.connect("u-a", "value-of-a");
  ConnectionRecord b = w.connect("u-b", "value-of-b");
  REQUIRE(w.registry->create(w.ctx, json(kSchemaTwo)).ok());
  testing::RawSqlite raw(w.path);

  SECTION("another row") {
    raw.exec(
        "UPDATE connection_credentials SET envelope = (SELECT envelope FROM "
        "connection_credentials WHERE connection_id = '" +
        a.id + "') WHERE connection_id = '" + b.id + "'");
    auto r = w.connections->credentials(w.ctx, b.id);
    CHECK(r.status().code() == ErrorCode::kCredentialUnreadable);
    CHECK(w.connections->credentials(w.ctx, a.id)->values[0].second.view() == "value-of-a");
    CHECK(w.audit_text().find("credential_unreadable") != std::string::npos);
  }
  SECTION("another field") {
    raw.exec(
        "UPDATE providers SET client_secret = (SELECT envelope FROM connection_credentials "
        "WHERE connection_id = '" +
        a.id + "') WHERE name = 'github'");
    CHECK(w.registry->client_secret(w.ctx, "github").status().code() ==
          ErrorCode::kCredentialUnreadable);
  }
  SECTION("another field of the same row") {
    auto t = w.connections->create(w.ctx, json(R"({"provider_name":"twilio","user_id":"u-t",
                        "credentials":{"account_sid":"AC-field-a","auth_token":"tok-field-b"}})"));
    REQUIRE(t.ok());
    REQUIRE(w.connections->credentials(w.ctx, t->id).ok());
    const std::string of = "FROM connection_credentials WHERE connection_id = '" + t->id + "'";
    raw.exec(
        "UPDATE connection_credentials SET envelope = CASE field "
        "WHEN 'account_sid' THEN (SELECT envelope " +
        of +
        " AND field = 'auth_token') "
        "ELSE (SELECT envelope " +
        of +
        " AND field = 'account_sid') END "
        "WHERE connection_id = '" +
        t->id + "'");
    auto r = w.connections->credentials(w.ctx, t->id);
    CHECK(r.status().code() == ErrorCode::kCredentialUnreadable);
    CHECK(r.status().message().find("AC-field-a") == std::string::npos);
  }
  SECTION("one byte flipped") {
    raw.exec(
        "UPDATE connection_credentials SET envelope = substr(envelope, 1, length(envelope) "
        "- 6) || CASE WHEN substr(envelope, -6, 1) = X'00' THEN X'01' ELSE X'00' END || "
        "substr(envelope, -5) WHERE connection_id = '" +
        a.id + "'");
    auto r = w.connections->credentials(w.ctx, a.id);
    CHECK(r.status().code() == ErrorCode::kCredentialUnreadable);
    CHECK(w.audit_text().find("credential_unreadable") != std::string::npos);
  }
}

TEST_CASE("rotation re-seals everything under the new key, the old key can then go",
          "[connections][sqlite][rotation]") {
  World w;
  ConnectionRecord c = w.connect();
  const std::string old_id = w.ring->primary_id();

  // Key 2 becomes primary; key 1 stays to open what it sealed.
  Keyring both = Keyring::generate();
  const std::string new_id = both.primary_id();
  REQUIRE(both.add(old_id, SecretBytes::copy_of(w.ring->key(old_id).view()), false).ok());
  auto both_ring = std::make_shared<const Keyring>(std::move(both));
  Vault rotating(both_ring);

  std::size_t interrupted_after = 0;
  SECTION("in one run") {}
  SECTION("interrupted after one value, then rerun") {
    auto first = reseal_under_primary(
        *w.storage, rotating,
        {.batch = 1, .progress = [&](const ResealReport& r) { return r.resealed < 1; }});
    REQUIRE(first.ok());
    interrupted_after = first->resealed;
    CHECK(interrupted_after == 1);
    auto counts = w.storage->envelope_key_counts();
    CHECK(counts->at(new_id) == 1);
    CHECK(counts->at(old_id) == 1);
  }
  auto report = reseal_under_primary(*w.storage, rotating, {.batch = 1});
  REQUIRE(report.ok());
  CHECK(report->resealed + interrupted_after == 2);
  auto counts = w.storage->envelope_key_counts();
  REQUIRE(counts.ok());
  CHECK(counts->size() == 1);
  CHECK(counts->at(new_id) == 2);
  CHECK(reseal_under_primary(*w.storage, rotating)->resealed == 0);

  // Drop key 1: only key 2 remains, and every value still reads.
  Keyring only_new;
  REQUIRE(only_new.add(new_id, SecretBytes::copy_of(both_ring->key(new_id).view()), true).ok());
  REQUIRE(check_keyring_covers(*w.storage, only_new).ok());
  w.vault = std::make_unique<Vault>(std::make_shared<const Keyring>(std::move(only_new)));
  w.rebuild();
  CHECK(w.connections->credentials(w.ctx, c.id)->values[0].second.view() == kStripeKey);
  CHECK(w.registry->client_secret(w.ctx, "github")->view() == testing::kGithubSecret);
}

TEST_CASE("a keyring missing a key the database uses is refused, and nothing is written",
          "[connections][sqlite]") {
  World w;
  w.connect();
  const std::string used = w.ring->primary_id();
  w.close();
  const std::string before = file_bytes(w.path);
  REQUIRE_FALSE(before.empty());

  auto storage = open_sqlite_storage(w.path);
  REQUIRE(storage.ok());
  Keyring other = Keyring::generate();
  Status s = check_keyring_covers(*storage.value(), other);
  CHECK(s.code() == ErrorCode::kValidationFailed);
  CHECK(s.field() == "master_key");
  CHECK(s.message().find(used) != std::string::npos);
  CHECK(s.message().find("2 values") != std::string::npos);
  storage->reset();
  CHECK(file_bytes(w.path) == before);
}

TEST_CASE("prepare_master_keys: a start's keys are checked before anything is written",
          "[connections][sqlite][startup]") {
  testing::TempDir dir;
  const std::string key_file = dir.file("var/master.key");
  MasterKeySource fresh{.default_file = key_file, .generate_default = true};

  SECTION("memory: a key that lives in memory, nothing to reload, no file") {
    auto keys = prepare_master_keys(MasterKeySource{}, "memory:");
    REQUIRE(keys.ok());
    CHECK_FALSE(keys->created_key_file);
    CHECK_FALSE(keys->reloadable_file);
    CHECK_FALSE(std::filesystem::exists(key_file));
  }
  SECTION("a new database: the default key file is created, 0600, and reloadable") {
    auto keys = prepare_master_keys(fresh, "sqlite:" + dir.file("new.db"));
    REQUIRE(keys.ok());
    CHECK(keys->created_key_file);
    CHECK(keys->reloadable_file == key_file);
    CHECK(keys->census.total() == 0);
    CHECK((std::filesystem::status(key_file).permissions() & std::filesystem::perms::all) ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
    auto read_back = Keyring::from_file(key_file);
    REQUIRE(read_back.ok());
    CHECK(read_back->primary_id() == keys->keyring.primary_id());
  }
  SECTION("sealed values but no key: refused, no key file, the database unchanged") {
    World w;
    w.connect();
    w.close();
    const std::string before = file_bytes(w.path);
    auto keys = prepare_master_keys(fresh, "sqlite:" + w.path);
    REQUIRE_FALSE(keys.ok());
    CHECK(keys.status().code() == ErrorCode::kValidationFailed);
    CHECK(keys.status().field() == "master_key");
    CHECK_FALSE(std::filesystem::exists(key_file));
    CHECK(file_bytes(w.path) == before);
  }
  SECTION("a key given that does not open them: refused the same way") {
    World w;
    w.connect();
    w.close();
    const std::string before = file_bytes(w.path);
    auto keys = prepare_master_keys(
        MasterKeySource{.key_base64 = std::string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")},
        "sqlite:" + w.path);
    REQUIRE_FALSE(keys.ok());
    CHECK(keys.status().code() == ErrorCode::kValidationFailed);
    CHECK(keys.status().field() == "master_key");
    CHECK(file_bytes(w.path) == before);
  }
}

TEST_CASE("a storage failure on a credential read is audited as token_retrieval_failed",
          "[connections][sqlite]") {
  World w;
  ConnectionRecord c = w.connect();
  testing::RawSqlite raw(w.path);
  raw.exec("UPDATE connections SET status = 'damaged' WHERE id = '" + c.id + "'");
  auto r = w.connections->credentials(w.ctx, c.id);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kInternal);
  AuditLog audit(*w.storage);
  auto failed =
      audit.query("default", {.event_type = std::string(audit_events::kTokenRetrievalFailed)});
  REQUIRE(failed.ok());
  REQUIRE(failed->events.size() == 1);
  CHECK(failed->events[0].data.find(c.id) != std::string::npos);
  CHECK(failed->events[0].data.find("\"reason\":\"internal\"") != std::string::npos);
  // Not-found probes are audited too.
  CHECK(w.connections->credentials(w.ctx, "con_missing").status().code() == ErrorCode::kNotFound);
  CHECK(audit.query("default", {.event_type = std::string(audit_events::kTokenRetrievalFailed)})
            ->events.size() == 2);
}

TEST_CASE("the sealed census reads an older-schema database without changing a byte",
          "[connections][sqlite][census]") {
  testing::TempDir dir;
  const std::string path = dir.file("old.db");
  create_at_schema(path, 3);
  auto k1 = std::make_shared<const Keyring>(Keyring::generate());
  Vault vault(k1);
  {
    testing::RawSqlite db(path);
    db.exec(insert_old_provider(
        "prv_1", "github",
        blob_literal(vault.seal("gh-secret", {"default", "provider", "prv_1", "client_secret"}))));
    db.exec(
        "INSERT INTO connections VALUES ('con_1', 'default', 'prv_1', 'github', 'u-1', "
        "'active', 1780000000000, 1780000000000)");
    db.exec("INSERT INTO connection_credentials VALUES ('con_1', 'token', " +
            blob_literal(vault.seal("t", {"default", "connection", "con_1", "credentials.token"})) +
            ")");
  }
  const std::string before = file_bytes(path);
  const std::set<std::string> listing = files_in(dir.path());
  REQUIRE(listing == std::set<std::string>{"old.db"});

  auto census = census_sealed_values("sqlite:" + path);
  REQUIRE(census.ok());
  CHECK(census->by_key == EnvelopeCounts{{k1->primary_id(), 2}});
  CHECK(census->malformed.empty());
  CHECK(census->total() == 2);
  CHECK(check_keyring_covers(census.value(), *k1).ok());
  Status refused = check_keyring_covers(census.value(), Keyring::generate());
  CHECK(refused.code() == ErrorCode::kValidationFailed);
  CHECK(refused.field() == "master_key");
  CHECK(refused.message().find(k1->primary_id()) != std::string::npos);
  CHECK(refused.message().find("2 values") != std::string::npos);

  CHECK(file_bytes(path) == before);
  CHECK(files_in(dir.path()) == listing);  // no -wal or -shm left behind
  CHECK(testing::RawSqlite(path).text("SELECT MAX(version) FROM schema_migrations") == "3");

  SECTION("while a storage has it open, values still in the log count") {
    auto storage = open_sqlite_storage(path);
    REQUIRE(storage.ok());
    RegistryOptions options{.storage = storage->get(), .vault = &vault};
    ProviderRegistry registry(options);
    RequestContext ctx;
    REQUIRE(registry.create(ctx, json(testing::kStripeJson)).ok());
    auto again = census_sealed_values("sqlite:" + path);
    REQUIRE(again.ok());
    CHECK(again->by_key.at(k1->primary_id()) == 2);  // stripe has no client secret
    ConnectionService connections({.storage = storage->get(), .vault = &vault});
    REQUIRE(connections
                .create(ctx, json(R"({"provider_name":"stripe","user_id":"u",
                                      "credentials":{"secret_key":"sk"}})"))
                .ok());
    CHECK(census_sealed_values("sqlite:" + path)->by_key.at(k1->primary_id()) == 3);
  }
  SECTION("other databases") {
    CHECK(census_sealed_values("sqlite:" + dir.file("absent.db"))->total() == 0);
    CHECK_FALSE(std::filesystem::exists(dir.file("absent.db")));
    CHECK(census_sealed_values("memory:")->total() == 0);
    CHECK(census_sealed_values("postgres://x").status().field() == "database");
    testing::RawSqlite(path).exec("INSERT INTO schema_migrations VALUES (99, 'future', 'x')");
    auto newer = census_sealed_values("sqlite:" + path);
    CHECK(newer.status().code() == ErrorCode::kInternal);
    CHECK(newer.status().message().find("newer") != std::string::npos);
  }
}

TEST_CASE(
    "the sealed census refuses a file that is not a database, naming it, and leaves it as it was",
    "[connections][sqlite][census]") {
  testing::TempDir dir;
  const std::string path = dir.file("garbage.db");
  std::ofstream(path) << std::string(4096, 'x');
  auto census = census_sealed_values("sqlite:" + path);
  REQUIRE_FALSE(census.ok());
  CHECK(census.status().code() == ErrorCode::kUnavailable);
  CHECK_THAT(census.status().message(), Catch::Contains(path));
  std::ifstream in(path);
  CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == std::string(4096, 'x'));
  CHECK(files_in(dir.path()) == std::set<std::string>{"garbage.db"});
}

TEST_CASE("a malformed envelope is reported by place, does not block, and reads unreadable",
          "[connections][sqlite][census]") {
  World w;
  ConnectionRecord broken = w.connect("u-broken", "value-broken");
  ConnectionRecord fine = w.connect("u-fine", "value-fine");
  testing::RawSqlite raw(w.path);
  raw.exec(
      "UPDATE connection_credentials SET envelope = X'02' || substr(envelope, 2) "
      "WHERE connection_id = '" +
      broken.id + "'");

  auto census = census_sealed_values("sqlite:" + w.path);
  REQUIRE(census.ok());
  REQUIRE(census->malformed.size() == 1);
  CHECK(census->malformed[0] ==
        SealedPlace{"default", "connection", broken.id, "credentials.secret_key"});
  CHECK(census->by_key == EnvelopeCounts{{w.ring->primary_id(), 2}});  // github and `fine`
  CHECK(check_keyring_covers(census.value(), *w.ring).ok());
  CHECK(check_keyring_covers(*w.storage, *w.ring).ok());

  CHECK(w.connections->credentials(w.ctx, broken.id).status().code() ==
        ErrorCode::kCredentialUnreadable);
  CHECK(w.connections->credentials(w.ctx, fine.id)->values[0].second.view() == "value-fine");

  // A rotation re-seals the rest and reports the malformed value.
  Vault rotating(std::make_shared<const Keyring>(w.ring->rotated()));
  auto report = reseal_under_primary(*w.storage, rotating, {.batch = 1});
  REQUIRE(report.ok());
  CHECK(report->resealed == 2);
  REQUIRE(report->unreadable.size() == 1);
  CHECK(report->unreadable[0].owner_id == broken.id);
  auto counts = w.storage->envelope_key_counts();
  CHECK(counts->at(rotating.keyring()->primary_id()) == 2);
  CHECK(counts->at("") == 1);
  CHECK(counts->count(w.ring->primary_id()) == 0);
}

TEST_CASE("a rotation writes one master_key.rotated event per workspace, without keys",
          "[connections][sqlite][rotation]") {
  World w;
  w.connect();
  RequestContext acme{.workspace = "acme", .actor = "key_acme", .caller_ip = "", .user_agent = ""};
  REQUIRE(w.registry->create(acme, json(testing::kGithubJson)).ok());
  auto rotated = std::make_shared<const Keyring>(w.ring->rotated());
  Vault rotating(rotated);
  auto report =
      reseal_under_primary(*w.storage, rotating, {.batch = 2, .actor = std::string("cli:ops")});
  REQUIRE(report.ok());
  CHECK(report->resealed == 3);
  CHECK(report->resealed_by_workspace ==
        std::map<std::string, std::size_t>{{"default", 2}, {"acme", 1}});

  std::string key_text(rotated->to_file_text().view());
  for (const char* workspace : {"default", "acme"}) {
    INFO(workspace);
    auto events =
        AuditLog(*w.storage)
            .query(workspace, {.event_type = std::string(audit_events::kMasterKeyRotated)});
    REQUIRE(events.ok());
    REQUIRE(events->events.size() == 1);
    const AuditEvent& e = events->events[0];
    CHECK(e.actor == "cli:ops");
    auto data = json(e.data.c_str()).as_object();
    CHECK(data.at("primary_key_id").as_string() == rotated->primary_id());
    CHECK(data.at("from_key_ids").as_array() ==
          boost::json::array{boost::json::value(w.ring->primary_id())});
    CHECK(data.at("resealed").as_int64() == (std::string(workspace) == "default" ? 2 : 1));
    CHECK(data.at("rotation_complete") == true);
    // No key material: neither key's base64 appears.
    for (const std::string& id : rotated->ids()) {
      std::string line = key_text.substr(key_text.find(id + " ") + id.size() + 1, 44);
      CHECK(e.data.find(line) == std::string::npos);
    }
    CHECK(AuditLog(*w.storage).verify(workspace)->ok);
  }
  // A run with nothing to do writes nothing.
  CHECK(reseal_under_primary(*w.storage, rotating)->resealed == 0);
  CHECK(AuditLog(*w.storage)
            .query("default", {.event_type = std::string(audit_events::kMasterKeyRotated)})
            ->events.size() == 1);
}

TEST_CASE("a client secret stored in clear by schema 1 is sealed and leaves the files",
          "[connections][sqlite]") {
  constexpr const char* kPlain = "plaintext-gh-secret-Qw7Zr4";
  testing::TempDir dir;
  const std::string path = dir.file("v1.db");
  create_at_schema(path, 1);
  testing::RawSqlite(path).exec(
      insert_old_provider("prv_1", "github", std::string("'") + kPlain + "'"));
  REQUIRE(file_bytes(path).find(kPlain) != std::string::npos);  // in clear, as found

  auto storage = open_sqlite_storage(path);
  REQUIRE(storage.ok());
  Vault vault(std::make_shared<const Keyring>(Keyring::generate()));
  ProviderRegistry registry({.storage = storage->get(), .vault = &vault});
  auto sealed = registry.seal_plaintext_secrets();
  REQUIRE(sealed.ok());
  CHECK(sealed.value() == 1);
  RequestContext ctx;
  CHECK(registry.client_secret(ctx, "github")->view() == kPlain);
  CHECK(registry.get(ctx, "github")->sealed_client_secret.find(kPlain) == std::string::npos);

  auto scan = [&](const std::string& when) {
    for (const char* file : {"v1.db", "v1.db-wal"}) {
      INFO(when << ": " << file);
      CHECK(file_bytes(dir.file(file)).find(kPlain) == std::string::npos);
    }
  };
  scan("while open");
  // Writes after the checkpoint do not bring it back.
  REQUIRE(registry.create(ctx, json(testing::kStripeJson)).ok());
  scan("after another write");
  storage->reset();
  scan("after close");
  CHECK(AuditLog(*open_sqlite_storage(path).value())
            .query("default", {.event_type = std::string(audit_events::kProviderSecretSealed)})
            ->events.size() == 1);
}

TEST_CASE("connections work the same on the memory storage", "[connections]") {
  World w(/*sqlite=*/false);
  ConnectionRecord c = w.connect();
  CHECK(w.connections->credentials(w.ctx, c.id)->values[0].second.view() == kStripeKey);
  REQUIRE(w.registry->remove(w.ctx, "stripe").ok());
  CHECK(w.connections->credentials(w.ctx, c.id).status().code() == ErrorCode::kProviderDeleted);
}

// The outcomes of credentials_async calls, recorded from whichever thread
// completes them (no Catch2 assertion off the test thread).
struct AsyncReads {
  struct Call {
    std::optional<Result<ConnectionCredentials>> result;
    int calls = 0;
    std::thread::id thread;
    std::int64_t committed_reads = -1;  // token_retrieved rows another connection saw
  };
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Call> calls;      // GUARDED_BY(mu)
  sqlite3* observer = nullptr;  // when set, read at completion time

  std::function<void(Result<ConnectionCredentials>)> callback(std::size_t i) {
    {
      std::lock_guard lock(mu);
      if (calls.size() <= i) calls.resize(i + 1);
    }
    return [this, i](Result<ConnectionCredentials> r) {
      std::int64_t seen = -1;
      if (observer != nullptr) {
        sqlite3_stmt* stmt = nullptr;
        if (sqlite3_prepare_v2(observer,
                               "SELECT COUNT(*) FROM audit_events WHERE event_type = "
                               "'token_retrieved'",
                               -1, &stmt, nullptr) == SQLITE_OK &&
            sqlite3_step(stmt) == SQLITE_ROW) {
          seen = sqlite3_column_int64(stmt, 0);
        }
        sqlite3_finalize(stmt);
      }
      std::lock_guard lock(mu);
      Call& c = calls[i];
      ++c.calls;
      c.thread = std::this_thread::get_id();
      c.committed_reads = seen;
      c.result.emplace(std::move(r));
      cv.notify_all();
    };
  }
  bool wait(std::size_t i) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(60), [&] { return calls.at(i).calls > 0; });
  }
};

TEST_CASE("credentials_async hands values over only once the read's event is committed",
          "[connections][sqlite][async]") {
  World w;
  ConnectionRecord c = w.connect();
  sqlite3* observer = nullptr;
  REQUIRE(sqlite3_open_v2(w.path.c_str(), &observer, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close_v2)> closer(observer, sqlite3_close_v2);
  AsyncReads reads;
  reads.observer = observer;

  constexpr std::size_t kReads = 3;
  for (std::size_t i = 0; i < kReads; ++i) {
    w.connections->credentials_async(w.ctx, c.id, reads.callback(i));
  }
  for (std::size_t i = 0; i < kReads; ++i) REQUIRE(reads.wait(i));
  // Failures complete the same way, once their event is appended.
  w.connections->credentials_async(w.ctx, "con_missing", reads.callback(kReads));
  REQUIRE(reads.wait(kReads));
  w.storage.reset();  // runs anything queued: no completion may come later

  std::lock_guard lock(reads.mu);
  std::int64_t previous = 0;
  for (std::size_t i = 0; i < kReads; ++i) {
    const AsyncReads::Call& call = reads.calls[i];
    INFO("read " << i);
    CHECK(call.calls == 1);
    REQUIRE(call.result->ok());
    CHECK(call.result->value().values.at(0).second.view() == kStripeKey);
    // Its event (and possibly later ones of the same batch) was committed
    // before the values were handed over.
    CHECK(call.committed_reads >= static_cast<std::int64_t>(i) + 1);
    CHECK(call.committed_reads >= previous);
    previous = call.committed_reads;
    // Completed by the storage's writer thread: no thread waited for it.
    CHECK(call.thread != std::this_thread::get_id());
  }
  const AsyncReads::Call& missing = reads.calls[kReads];
  CHECK(missing.calls == 1);
  CHECK(missing.result->status().code() == ErrorCode::kNotFound);

  auto reopened = open_sqlite_storage(w.path).value();
  AuditLog audit(*reopened);
  CHECK(audit.query("default", {.event_type = std::string(audit_events::kTokenRetrieved)})
            ->events.size() == kReads);
  CHECK(audit.query("default", {.event_type = std::string(audit_events::kTokenRetrievalFailed)})
            ->events.size() == 1);
  CHECK(audit.verify("default")->ok);
}

TEST_CASE("a credential read whose audit event cannot be stored is refused",
          "[connections][sqlite][async]") {
  World w;
  ConnectionRecord c = w.connect();
  testing::RawSqlite raw(w.path);
  // The database refuses token_retrieved events, and only those.
  raw.exec(
      "CREATE TRIGGER refuse_reads BEFORE INSERT ON audit_events "
      "WHEN NEW.event_type = 'token_retrieved' BEGIN SELECT RAISE(ABORT, 'refused'); END");
  const std::int64_t seq = w.audit_seq();

  auto sync = w.connections->credentials(w.ctx, c.id);
  REQUIRE_FALSE(sync.ok());
  CHECK(sync.status().code() == ErrorCode::kInternal);

  AsyncReads reads;
  w.connections->credentials_async(w.ctx, c.id, reads.callback(0));
  REQUIRE(reads.wait(0));
  {
    std::lock_guard lock(reads.mu);
    CHECK(reads.calls[0].calls == 1);
    REQUIRE_FALSE(reads.calls[0].result->ok());
    CHECK(reads.calls[0].result->status().code() == ErrorCode::kInternal);
    CHECK(reads.calls[0].result->status().message().find(kStripeKey) == std::string::npos);
  }
  CHECK(w.audit_seq() == seq);  // nothing recorded a read that did not happen

  raw.exec("DROP TRIGGER refuse_reads");
  auto again = w.connections->credentials(w.ctx, c.id);
  REQUIRE(again.ok());
  CHECK(again->values.at(0).second.view() == kStripeKey);
  CHECK(w.audit_seq() == seq + 1);
}

TEST_CASE("credentials_async on the memory storage completes before it returns",
          "[connections][async]") {
  World w(/*sqlite=*/false);
  ConnectionRecord c = w.connect();
  AsyncReads reads;
  w.connections->credentials_async(w.ctx, c.id, reads.callback(0));
  std::lock_guard lock(reads.mu);
  REQUIRE(reads.calls[0].calls == 1);
  CHECK(reads.calls[0].thread == std::this_thread::get_id());
  REQUIRE(reads.calls[0].result->ok());
  CHECK(reads.calls[0].result->value().values.at(0).second.view() == kStripeKey);
}

}  // namespace
}  // namespace nexus

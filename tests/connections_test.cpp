// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// api_key connections and sealed credentials: validation against the schema,
// credential reads and their audit, deleted providers, tampering, the bytes on
// disk, master key rotation and the startup key check.
#include "nexus/connections.hpp"

#include <catch2/catch.hpp>

#include <boost/json/serialize.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "nexus/audit.hpp"
#include "nexus/registry.hpp"
#include "nexus/sealing.hpp"
#include "nexus/storage.hpp"
#include "nexus/vault.hpp"
#include "storage/raw_sqlite.hpp"
#include "test_support.hpp"

namespace nexus {
namespace {

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
  RequestContext ctx{.workspace = "default", .actor = "key_admin", .caller_ip = "198.51.100.4",
                     .user_agent = "connections-test"};

  explicit World(bool sqlite = true) {
    storage = sqlite ? open_sqlite_storage(path).value() : make_memory_storage();
    rebuild();
    REQUIRE(registry->create(ctx, json(testing::kGithubJson)).ok());
    REQUIRE(registry->create(ctx, json(testing::kStripeJson)).ok());
  }
  void rebuild() {
    registry = std::make_unique<ProviderRegistry>(
        RegistryOptions{.storage = storage.get(), .vault = vault.get()});
    connections = std::make_unique<ConnectionService>(
        ConnectionOptions{.storage = storage.get(), .vault = vault.get()});
  }
  ConnectionRecord connect(const std::string& user = "u-42", const char* key = kStripeKey) {
    boost::json::object body{{"provider_name", "stripe"},
                             {"user_id", user},
                             {"credentials", {{"secret_key", key}}}};
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

TEST_CASE("an api_key connection seals its values and hands them out once asked",
          "[connections]") {
  World w;
  ConnectionRecord c = w.connect();
  CHECK(c.id.rfind("con_", 0) == 0);
  CHECK(c.status == ConnectionStatus::kActive);
  REQUIRE(c.credentials.size() == 1);
  CHECK(c.credentials[0].envelope.find(kStripeKey) == std::string::npos);

  std::string view = boost::json::serialize(connection_view(w.connections->get(w.ctx, c.id).value()));
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
      {R"({"provider_name":"twilio","user_id":"u"})", ErrorCode::kValidationFailed,
       "credentials"},
      {R"({"provider_name":"twilio","credentials":{}})", ErrorCode::kValidationFailed, "user_id"},
      {R"({"provider_name":"twilio","user_id":"u","credentials":{},"scope":"x"})",
       ErrorCode::kValidationFailed, "scope"},
      {R"({"provider_name":"github","user_id":"u","credentials":{}})",
       ErrorCode::kValidationFailed, "provider_name"},
      {R"({"provider_name":"nope","user_id":"u","credentials":{}})",
       ErrorCode::kProviderNotFound, "provider_name"},
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

TEST_CASE("after its provider is deleted a connection answers provider_deleted",
          "[connections]") {
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
  REQUIRE(w.registry->patch(w.ctx, "github", json(R"({"client_secret":"rotated-gh-secret-Z9"})"))
              .ok());
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
  w.connections.reset();
  w.registry.reset();
  w.storage.reset();  // checkpoints the WAL into the database
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
    raw.exec("UPDATE connection_credentials SET envelope = (SELECT envelope FROM "
             "connection_credentials WHERE connection_id = '" + a.id + "') WHERE connection_id = '" +
             b.id + "'");
    auto r = w.connections->credentials(w.ctx, b.id);
    CHECK(r.status().code() == ErrorCode::kCredentialUnreadable);
    CHECK(w.connections->credentials(w.ctx, a.id)->values[0].second.view() == "value-of-a");
    CHECK(w.audit_text().find("credential_unreadable") != std::string::npos);
  }
  SECTION("another field") {
    raw.exec("UPDATE providers SET client_secret = (SELECT envelope FROM connection_credentials "
             "WHERE connection_id = '" + a.id + "') WHERE name = 'github'");
    CHECK(w.registry->client_secret(w.ctx, "github").status().code() ==
          ErrorCode::kCredentialUnreadable);
  }
  SECTION("one byte flipped") {
    raw.exec("UPDATE connection_credentials SET envelope = substr(envelope, 1, length(envelope) "
             "- 6) || CASE WHEN substr(envelope, -6, 1) = X'00' THEN X'01' ELSE X'00' END || "
             "substr(envelope, -5) WHERE connection_id = '" + a.id + "'");
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
    auto first = reseal_under_primary(*w.storage, rotating, 1,
                                      [&](const ResealReport& r) { return r.resealed < 1; });
    REQUIRE(first.ok());
    interrupted_after = first->resealed;
    CHECK(interrupted_after == 1);
    auto counts = w.storage->envelope_key_counts();
    CHECK(counts->at(new_id) == 1);
    CHECK(counts->at(old_id) == 1);
  }
  auto report = reseal_under_primary(*w.storage, rotating, 1);
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
  w.connections.reset();
  w.registry.reset();
  w.storage.reset();
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

TEST_CASE("connections work the same on the memory storage", "[connections]") {
  World w(/*sqlite=*/false);
  ConnectionRecord c = w.connect();
  CHECK(w.connections->credentials(w.ctx, c.id)->values[0].second.view() == kStripeKey);
  REQUIRE(w.registry->remove(w.ctx, "stripe").ok());
  CHECK(w.connections->credentials(w.ctx, c.id).status().code() == ErrorCode::kProviderDeleted);
}

}  // namespace
}  // namespace nexus

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include <cstdint>
#include <limits>

#include "nexus/vault.hpp"
#include "storage/conformance.hpp"

namespace nexus::testing {

const std::vector<StorageBackend>& storage_backends() {
  static const std::vector<StorageBackend> backends = {
      {"memory",
       [] {
         return StorageUnderTest{nullptr, make_memory_storage()};
       }},
      {"sqlite",
       [] {
         auto dir = std::make_unique<TempDir>();
         auto storage = open_sqlite_storage(dir->file("nexus.db"));
         REQUIRE(storage.ok());
         return StorageUnderTest{std::move(dir), std::move(storage).value()};
       }},
  };
  return backends;
}

Provider minimal_provider(std::string_view workspace, std::string_view name) {
  Provider p;
  p.id = make_id(system_random(), "prv_");
  p.workspace = std::string(workspace);
  p.created_at = kT0;
  p.updated_at = kT0;
  p.version = 1;
  p.spec.name = std::string(name);
  return p;
}

Provider full_provider(std::string_view workspace, std::string_view name) {
  Provider p = minimal_provider(workspace, name);
  ProviderSpec& s = p.spec;
  s.auth_type = AuthType::kApiKey;
  s.client_id = "client-\"id\"";
  s.client_secret = "s3cret with unicode \xC3\xA9";
  s.issuer = "https://issuer.example.com";
  s.auth_url = "https://issuer.example.com/authorize";
  s.token_url = "https://issuer.example.com/token";
  s.api_base_url = "https://api.example.com/v1";
  s.user_info_endpoint = "https://issuer.example.com/userinfo";
  s.jwks_uri = "https://issuer.example.com/jwks.json";
  s.enable_discovery = true;
  s.scopes = {"read", "write:all", "openid"};
  s.params = {
      {"region", std::string("eu \"west\" \xE2\x9C\x93")},
      // Above 2^53: survives only if stored as an integer, not a double.
      {"big", std::int64_t{9'007'199'254'740'993}},
      {"min", std::numeric_limits<std::int64_t>::min()},
      {"ratio", 0.1},
      {"whole_double", 2.0},  // must come back as a double, not as the integer 2
      {"beta", true},
      {"legacy", false},
  };
  s.credential_schema = CredentialSchema{{
      CredentialField{"secret_key", "Secret key", true},
      CredentialField{"account_id", "Account ID", false},
  }};
  s.description = "A fully populated provider";
  s.category = "payments";
  return p;
}

AuditEvent event_for(std::string_view event_type, const Provider& provider, Timestamp at) {
  AuditEvent e;
  e.id = make_id(system_random(), "evt_");
  e.workspace = provider.workspace;
  e.event_type = std::string(event_type);
  e.provider_name = provider.spec.name;
  e.provider_id = provider.id;
  e.actor = "key_test";
  e.caller_ip = "203.0.113.7";
  e.user_agent = "nexus-tests/1.0";
  e.at = at;
  e.data = R"({"name":")" + provider.spec.name + R"("})";
  return e;
}

Provider next_version(Provider provider) {
  provider.version += 1;
  provider.updated_at += std::chrono::milliseconds(1);
  return provider;
}

std::string fake_envelope(std::string_view key_id, std::string_view body) {
  std::string e;
  e.push_back(char(kEnvelopeVersion));
  e.push_back(char(key_id.size()));
  e.append(key_id);
  e.append(std::string(24 + 16, '\x5a'));
  e.append(body);
  return e;
}

ConnectionRecord connection_for(const Provider& p, std::string id, std::string user) {
  ConnectionRecord c;
  c.id = std::move(id);
  c.workspace = p.workspace;
  c.provider_id = p.id;
  c.provider_name = p.spec.name;
  c.user_id = std::move(user);
  c.created_at = c.updated_at = kT0;
  c.credentials = {{"api_key", fake_envelope("k1", c.id + "-a")},
                   {"secret_key", fake_envelope("k1", c.id + "-s")}};
  return c;
}

AuditEvent connection_event(const ConnectionRecord& c, std::string_view type) {
  AuditEvent e;
  e.id = "evt_" + c.id + std::string(type);
  e.workspace = c.workspace;
  e.event_type = type;
  e.provider_name = c.provider_name;
  e.provider_id = c.provider_id;
  e.at = kT0;
  e.data = "{}";
  return e;
}

void reseal_all(Storage& storage, std::string_view key_id) {
  auto old = storage.envelopes_not_under(key_id, 1000);
  REQUIRE(old.ok());
  std::vector<std::string> replacement;
  for (const auto& ref : old.value()) replacement.push_back(fake_envelope(key_id, ref.field));
  REQUIRE(storage.replace_envelopes(old.value(), replacement).ok());
}

std::vector<std::string> names_of(const std::vector<Provider>& providers) {
  std::vector<std::string> names;
  for (const auto& p : providers) names.push_back(p.spec.name);
  return names;
}

std::vector<std::int64_t> seqs_of(const std::vector<AuditEvent>& events) {
  std::vector<std::int64_t> seqs;
  for (const auto& e : events) seqs.push_back(e.seq);
  return seqs;
}

}  // namespace nexus::testing

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// A host application that embeds the Nexus registry: registers GitHub (OAuth
// 2.0 with explicit endpoints) and Stripe (API key) in an in-memory registry,
// lists them, and prints the metadata a connection UI would use.
#include <cstdlib>
#include <iostream>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "nexus/nexus.hpp"

namespace {

constexpr const char* kGithub = R"({
  "name": "github",
  "auth_type": "oauth2",
  "client_id": "your-github-client-id",
  "client_secret": "your-github-client-secret",
  "auth_url": "https://github.com/login/oauth/authorize",
  "token_url": "https://github.com/login/oauth/access_token",
  "api_base_url": "https://api.github.com",
  "user_info_endpoint": "https://api.github.com/user",
  "scopes": ["repo", "read:user"],
  "description": "GitHub OAuth App",
  "category": "developer"
})";

constexpr const char* kStripe = R"({
  "name": "stripe",
  "auth_type": "api_key",
  "api_base_url": "https://api.stripe.com",
  "credential_schema": {
    "fields": [{"name": "secret_key", "label": "Secret Key", "sensitive": true}]
  },
  "description": "Stripe payments API",
  "category": "payments"
})";

int fail(const nexus::Status& s) {
  std::cerr << "error: " << nexus::to_string(s.code()) << ": " << s.message();
  if (!s.field().empty()) std::cerr << " (field " << s.field() << ")";
  std::cerr << "\n";
  return EXIT_FAILURE;
}

}  // namespace

int main() {
  std::unique_ptr<nexus::Storage> storage = nexus::make_memory_storage();
  nexus::ProviderRegistry registry({.storage = storage.get()});
  nexus::RequestContext ctx{.workspace = "default", .actor = "embed-example",
                            .caller_ip = "127.0.0.1", .user_agent = "embed_registry"};

  for (const char* body : {kGithub, kStripe}) {
    auto created = registry.create(ctx, boost::json::parse(body));
    if (!created.ok()) return fail(created.status());
    std::cout << "registered " << created->spec.name << " (" << created->id << ", "
              << nexus::to_string(created->spec.auth_type) << ")\n";
  }

  auto page = registry.list(ctx, {}, {});
  if (!page.ok()) return fail(page.status());
  std::cout << "providers:\n";
  for (const nexus::Provider& p : page->items) {
    std::cout << "  " << boost::json::serialize(nexus::provider_view(p)) << "\n";
  }

  auto metadata = registry.metadata(ctx);
  if (!metadata.ok()) return fail(metadata.status());
  std::cout << "metadata:\n  " << boost::json::serialize(nexus::metadata_view(*metadata)) << "\n";
  return EXIT_SUCCESS;
}

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// A host application that embeds the Nexus registry: registers GitHub (OAuth
// 2.0 with explicit endpoints) and Stripe (API key) in an in-memory registry,
// lists them, and prints the metadata a connection UI would use.
//
//   embed_registry [provider.json ...]
//
// Without arguments it registers examples/providers/github.json and
// stripe.json, the bodies the README's curl examples send to the server.
#include <boost/json/serialize.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "nexus/nexus.hpp"

#ifndef NEXUS_EXAMPLE_PROVIDERS_DIR
#define NEXUS_EXAMPLE_PROVIDERS_DIR "examples/providers"
#endif

namespace {

int fail(const nexus::Status& s) {
  std::cerr << "error: " << nexus::to_string(s.code()) << ": " << s.message();
  if (!s.field().empty()) std::cerr << " (field " << s.field() << ")";
  std::cerr << "\n";
  return EXIT_FAILURE;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> files(argv + 1, argv + argc);
  if (files.empty()) {
    files = {NEXUS_EXAMPLE_PROVIDERS_DIR "/github.json",
             NEXUS_EXAMPLE_PROVIDERS_DIR "/stripe.json"};
  }

  std::unique_ptr<nexus::Storage> storage = nexus::make_memory_storage();
  nexus::ProviderRegistry registry({.storage = storage.get()});
  nexus::RequestContext ctx{.workspace = "default",
                            .actor = "embed-example",
                            .caller_ip = "127.0.0.1",
                            .user_agent = "embed_registry"};

  for (const std::string& file : files) {
    std::ifstream in(file);
    if (!in) {
      std::cerr << "error: cannot read " << file << "\n";
      return EXIT_FAILURE;
    }
    std::ostringstream text;
    text << in.rdbuf();
    // The library's strict parser: the same inputs the server refuses are
    // refused here (a repeated member, too deep a nesting, trailing text).
    auto body = nexus::parse_json(text.str());
    if (!body.ok()) return fail(body.status());
    auto created = registry.create(ctx, body.value());
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

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// Fuzz target for Router::handle: one input is one request to a router over
// an in-memory storage holding a provider with a known client secret.
//
// Input: METHOD '\n' TARGET '\n' (NAME ':' VALUE '\n')* '\n' BODY. In header
// values "$ADMIN", "$AGENT" and "$AUDITOR" stand for a key of that role.
//
// Whatever the input, the router must answer with a status in 200..599, an
// error body {"code", ...}, and never the stored secret. A broken invariant
// aborts, which libFuzzer reports and the corpus replay (CTest) fails on.
//
// Built as a libFuzzer target with clang and -DNEXUS_BUILD_FUZZ=ON; built
// with NEXUS_FUZZ_REPLAY, main() runs the files (or directories of files)
// named on the command line through the same entry point.
#include <algorithm>
#include <boost/json/parse.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "http_message.hpp"
#include "nexus/nexus.hpp"
#include "router.hpp"

namespace {

using namespace nexus;

constexpr std::string_view kSecret = "fuzz-client-secret-5f1e0c";
// Inputs after which the world starts over, so that what inputs create does
// not pile up.
constexpr int kRunsPerWorld = 2000;

struct World {
  World() {
    storage = make_memory_storage();
    keys = std::move(KeyService::open({.storage = storage.get()})).value();
    RequestContext ctx{.workspace = "default", .actor = "fuzz", .caller_ip = "", .user_agent = ""};
    admin = keys->create(ctx, "default", Role::kAdmin).value().text;
    agent = keys->create(ctx, "default", Role::kAgent).value().text;
    auditor = keys->create(ctx, "default", Role::kAuditor).value().text;
    registry = std::make_unique<ProviderRegistry>(
        RegistryOptions{.storage = storage.get(), .vault = vault.get()});
    connections = std::make_unique<ConnectionService>(
        ConnectionOptions{.storage = storage.get(), .vault = vault.get()});
    audit = std::make_unique<AuditLog>(*storage);
    std::string body =
        R"({"name":"github","auth_type":"oauth2","client_id":"id","client_secret":")" +
        std::string(kSecret) +
        R"(","auth_url":"https://a.example/a","token_url":"https://a.example/t"})";
    if (!registry->create(ctx, boost::json::parse(body)).ok()) std::abort();
    server::RouterOptions options;
    options.log_sink = [](std::string_view) {};
    router =
        std::make_unique<server::Router>(server::RouterServices{.registry = registry.get(),
                                                                .connections = connections.get(),
                                                                .audit = audit.get(),
                                                                .keys = keys.get(),
                                                                .storage = storage.get()},
                                         std::move(options));
  }

  std::unique_ptr<Storage> storage;
  std::unique_ptr<Vault> vault =
      std::make_unique<Vault>(std::make_shared<const Keyring>(Keyring::generate()));
  std::unique_ptr<KeyService> keys;
  std::string admin, agent, auditor;
  std::unique_ptr<ProviderRegistry> registry;
  std::unique_ptr<ConnectionService> connections;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<server::Router> router;
};

std::unique_ptr<World>& world_slot() {
  static std::unique_ptr<World> w;
  return w;
}

World& world() {
  static int runs = 0;
  auto& w = world_slot();
  if (!w || ++runs % kRunsPerWorld == 0) w = std::make_unique<World>();
  return *w;
}

// Splits off the text before the first '\n' (all of it when there is none).
std::string_view take_line(std::string_view& in) {
  auto nl = in.find('\n');
  std::string_view line = in.substr(0, nl);
  in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  return line;
}

std::string with_keys(std::string value, const World& w) {
  for (auto [name, key] : {std::pair<std::string_view, const std::string*>{"$ADMIN", &w.admin},
                           {"$AGENT", &w.agent},
                           {"$AUDITOR", &w.auditor}}) {
    for (auto at = value.find(name); at != std::string::npos; at = value.find(name)) {
      value.replace(at, name.size(), *key);
    }
  }
  return value;
}

void check(bool ok, const char* what, const server::HttpResponse& r) {
  if (ok) return;
  std::fprintf(stderr, "invariant broken: %s (status %d)\n%s\n", what, r.status, r.body.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  World& w = world();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  server::HttpRequest req;
  req.method = std::string(take_line(in));
  req.target = std::string(take_line(in));
  while (!in.empty()) {
    std::string_view line = take_line(in);
    if (line.empty()) break;
    auto colon = line.find(':');
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value(colon == std::string_view::npos ? std::string_view()
                                                      : line.substr(colon + 1));
    req.headers.emplace_back(std::move(name), with_keys(std::move(value), w));
  }
  req.body = std::string(in);
  req.peer_ip = "192.0.2.1";

  server::HttpResponse r = w.router->handle(req);
  w.router->finish(req, r, std::chrono::nanoseconds(0));

  check(r.status >= 200 && r.status <= 599, "status out of range", r);
  const std::string* type = r.find_header("Content-Type");
  if (type != nullptr && type->rfind("application/json", 0) == 0) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(r.body, ec);
    check(!ec, "a JSON body that does not parse", r);
  }
  if (r.status >= 400) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(r.body, ec);
    check(
        !ec && v.is_object() && v.as_object().contains("code") && v.as_object().contains("message"),
        "an error without an error body", r);
  }
  // The stored secret never comes back. A request that carries its text
  // itself may see it quoted, or store it where it is no secret (a
  // description): the world starts over after it.
  if (std::string_view(reinterpret_cast<const char*>(data), size).find(kSecret) !=
      std::string_view::npos) {
    world_slot().reset();
    return 0;
  }
  check(r.body.find(kSecret) == std::string::npos, "the secret in a response body", r);
  for (const auto& [name, value] : r.headers) {
    check(value.find(kSecret) == std::string::npos, "the secret in a header", r);
  }
  return 0;
}

#ifdef NEXUS_FUZZ_REPLAY
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

// Replays corpus files (or every file in corpus directories) in name order.
int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    fs::path p(argv[i]);
    if (fs::is_directory(p)) {
      for (const auto& e : fs::directory_iterator(p)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
    } else {
      files.push_back(p);
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "no corpus files given\n");
    return 1;
  }
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
  }
  std::printf("replayed %zu inputs\n", files.size());
  return 0;
}
#endif

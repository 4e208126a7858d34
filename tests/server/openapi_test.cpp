// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// docs/openapi.yaml and the router's route table describe the same routes.
#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "router.hpp"

namespace nexus::testing {
namespace {

// "METHOD /path" for every operation under the spec's top-level `paths:`
// (path keys indented two spaces, operations four).
std::set<std::string> spec_routes(const std::string& yaml) {
  static const std::set<std::string> kMethods = {"get",   "put",  "post",    "delete",
                                                 "patch", "head", "options", "trace"};
  std::set<std::string> routes;
  std::istringstream in(yaml);
  std::string line, path;
  bool in_paths = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto first = line.find_first_not_of(' ');
    if (first == std::string::npos || line[first] == '#') continue;
    if (first == 0) {
      in_paths = line.rfind("paths:", 0) == 0;
      continue;
    }
    if (!in_paths || line.back() != ':') continue;
    std::string key = line.substr(first, line.size() - first - 1);
    if (key.size() >= 2 && (key.front() == '"' || key.front() == '\'')) {
      key = key.substr(1, key.size() - 2);
    }
    if (first == 2) {
      path = key;
    } else if (first == 4 && kMethods.count(key) && !path.empty()) {
      std::string method = key;
      for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      routes.insert(method + " " + path);
    }
  }
  return routes;
}

std::set<std::string> router_routes() {
  std::set<std::string> routes;
  for (const auto& r : server::Router::routes()) {
    routes.insert(std::string(r.method) + " " + std::string(r.path));
  }
  return routes;
}

// Entries of `a` missing from `b`.
std::set<std::string> missing(const std::set<std::string>& a, const std::set<std::string>& b) {
  std::set<std::string> out;
  for (const auto& x : a) {
    if (!b.count(x)) out.insert(x);
  }
  return out;
}

std::string read_spec() {
  std::ifstream f(NEXUS_OPENAPI_PATH);
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST_CASE("every route is in docs/openapi.yaml and every spec path is routed",
          "[server][openapi]") {
  std::set<std::string> spec = spec_routes(read_spec());
  std::set<std::string> router = router_routes();
  INFO("in the router, not in the spec:");
  for (const auto& r : missing(router, spec)) INFO("  " << r);
  CHECK(missing(router, spec).empty());
  INFO("in the spec, not in the router:");
  for (const auto& r : missing(spec, router)) INFO("  " << r);
  CHECK(missing(spec, router).empty());
  CHECK(router.size() == server::Router::routes().size());  // no duplicate entries
}

TEST_CASE("the spec comparison notices a missing or extra operation", "[server][openapi]") {
  std::string spec = read_spec();
  REQUIRE(spec_routes(spec) == router_routes());

  // Drop the DELETE operation of /v1/providers/{name}.
  std::string without = spec;
  auto at = without.find("\n    delete:");
  REQUIRE(at != std::string::npos);
  without.replace(at, 12, "\n    x-gone:");
  CHECK(missing(router_routes(), spec_routes(without)) ==
        std::set<std::string>{"DELETE /v1/providers/{name}"});

  // Add an operation the router does not have.
  std::string extra = spec;
  auto paths = extra.find("\npaths:\n");
  REQUIRE(paths != std::string::npos);
  extra.insert(paths + 8, "  /v1/extra:\n    post:\n      summary: not routed\n");
  CHECK(missing(spec_routes(extra), router_routes()) == std::set<std::string>{"POST /v1/extra"});
}

}  // namespace
}  // namespace nexus::testing

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// docs/openapi.yaml, parsed with a real YAML parser (python3-yaml through
// tests/server/openapi_check.py), against the router's route table and the
// library's error codes: the same routes both ways, the same error codes,
// and every operation listing the errors it can produce.
#include <sys/wait.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "nexus/keys.hpp"
#include "router.hpp"

namespace nexus::testing {
namespace {

namespace fs = std::filesystem;

// Every library error code but kOk. The enum is contiguous; past its end
// to_string falls back to "internal", which kInternal alone may return.
std::vector<ErrorCode> library_error_codes() {
  std::vector<ErrorCode> codes;
  for (int n = 1; n < 256; ++n) {
    auto code = static_cast<ErrorCode>(n);
    if (code != ErrorCode::kInternal && to_string(code) == "internal") break;
    codes.push_back(code);
  }
  return codes;
}

// What openapi_check.py compares the spec with.
std::string tables_json() {
  boost::json::array routes;
  for (const auto& r : server::Router::routes()) {
    bool all_roles = true;
    for (Role role : {Role::kAdmin, Role::kAgent, Role::kAuditor}) {
      all_roles = all_roles && (!r.permission || role_allows(role, *r.permission));
    }
    routes.push_back(boost::json::object{{"method", r.method},
                                         {"path", r.path},
                                         {"authenticated", r.permission.has_value()},
                                         {"all_roles", all_roles}});
  }
  boost::json::array errors;
  for (ErrorCode code : library_error_codes()) {
    errors.push_back(
        boost::json::object{{"code", to_string(code)}, {"status", server::http_status(code)}});
  }
  return boost::json::serialize(boost::json::object{{"routes", routes}, {"errors", errors}});
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct CheckResult {
  int exit_code = -1;
  std::string output;
};

// Runs the checker on `spec` (the text of a spec).
CheckResult check_spec(const std::string& spec) {
  fs::path dir =
      fs::temp_directory_path() / ("nexus-openapi-" + std::to_string(::getpid()) + "-" +
                                   std::to_string(reinterpret_cast<std::uintptr_t>(&spec)));
  fs::create_directories(dir);
  {
    std::ofstream(dir / "openapi.yaml") << spec;
    std::ofstream(dir / "tables.json") << tables_json();
  }
  std::string command = std::string(NEXUS_PYTHON3) + " " + NEXUS_OPENAPI_CHECK + " " +
                        (dir / "openapi.yaml").string() + " " + (dir / "tables.json").string() +
                        " 2>&1";
  CheckResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  fs::remove_all(dir);
  return result;
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  return text;
}

TEST_CASE("docs/openapi.yaml matches the router and the error codes", "[server][openapi]") {
  auto r = check_spec(read_file(NEXUS_OPENAPI_PATH));
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.empty());
}

TEST_CASE("the error codes are the library's whole table", "[server][openapi]") {
  std::set<std::string> names;
  for (ErrorCode code : library_error_codes()) names.insert(std::string(to_string(code)));
  CHECK(names.count("invalid_json"));
  CHECK(names.count("internal"));
  CHECK(names.count("credential_unreadable"));
  CHECK(names.size() == library_error_codes().size());  // no name twice
  CHECK_FALSE(names.count("ok"));
}

TEST_CASE("the spec check notices each kind of mistake", "[server][openapi]") {
  const std::string spec = read_file(NEXUS_OPENAPI_PATH);
  struct Case {
    const char* what;
    std::string spec;
    const char* expected;
  };
  // GET /v1/providers/{name} without its 401.
  std::string without_401 = spec;
  {
    const std::string line = "        \"401\": {$ref: \"#/components/responses/Unauthorized\"}\n";
    auto op = without_401.find("operationId: getProvider");
    REQUIRE(op != std::string::npos);
    auto at = without_401.find(line, op);
    REQUIRE(at != std::string::npos);
    without_401.erase(at, line.size());
  }
  std::vector<Case> cases = {
      {"an operation missing",
       replaced(spec, "\n    delete:\n      tags: [providers]",
                "\n    x-gone:\n      tags: [providers]"),
       "DELETE /v1/providers/{name}: routed but not in the spec"},
      {"an operation not routed",
       replaced(
           spec, "\npaths:\n",
           "\npaths:\n  /v1/extra:\n    post:\n      responses: {\"200\": {description: x}}\n"),
       "POST /v1/extra: in the spec but not routed"},
      {"a code missing from the enum", replaced(spec, ", credential_unreadable]", "]"),
       "Error.code: the server's code credential_unreadable is not in the enum"},
      {"a code the server does not have",
       replaced(spec, "[invalid_json,", "[invalid_json, teapot,"),
       "Error.code: teapot is in the enum but not a server code"},
      {"a comma in a flow mapping",
       replaced(spec,
                "        field:\n          type: string\n"
                "          description: The input to blame when one is.\n",
                "        field: {type: string, description: The input to blame, when one is.}\n"),
       "no value (a comma inside a flow mapping?)"},
      {"a 401 not listed", without_401, "GET /v1/providers/{name}: does not document 401"},
      {"not YAML", spec + "\n  : : [\n", "not valid YAML"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto r = check_spec(c.spec);
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains(c.expected));
  }
}

}  // namespace
}  // namespace nexus::testing

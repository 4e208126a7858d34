// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/json.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <string>
#include <string_view>

namespace nexus {
namespace {

using Catch::Matchers::Contains;

std::string nested_arrays(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

void expect_invalid(std::string_view text, std::string_view phrase, std::string_view field = "",
                    JsonParseOptions options = {}) {
  INFO(text);
  const Result<boost::json::value> r = parse_json(text, options);
  REQUIRE_FALSE(r.ok());
  INFO(r.status().message());
  CHECK(r.status().code() == ErrorCode::kInvalidJson);
  CHECK(r.status().field() == field);
  CHECK_THAT(r.status().message(), Contains(std::string(phrase)));
}

TEST_CASE("parse_json reads standard JSON as boost::json::parse does", "[json]") {
  for (std::string_view text :
       {R"({"name":"github","scopes":["repo","read:user"],"params":{"n":-1,"r":1.5,"b":true}})",
        R"( [1, "two", null, false, {"a": {"b": []}}] )", "42", R"("text")", "null",
        R"({"caf\u00e9": "\ud83d\ude00", "big": 18446744073709551615})"}) {
    INFO(text);
    const Result<boost::json::value> r = parse_json(text);
    REQUIRE(r.ok());
    CHECK(r.value() == boost::json::parse(text));
  }
}

TEST_CASE("parse_json refuses text that is not exactly one JSON value", "[json]") {
  expect_invalid("", "empty");
  expect_invalid(" \r\n\t", "empty");
  expect_invalid("{name: 1}", "not valid JSON");
  expect_invalid(R"({"a": 1)", "not valid JSON");
  expect_invalid(R"({"a": 1} x)", "not valid JSON");
  expect_invalid(R"({} {})", "not valid JSON");
  expect_invalid(R"([1, 2,])", "not valid JSON");
  expect_invalid(R"(/* comment */ {})", "not valid JSON");
  expect_invalid("\"\xff\"", "not valid JSON");
  expect_invalid(R"({"a": NaN})", "not valid JSON");
}

TEST_CASE("parse_json limits nesting depth", "[json]") {
  CHECK(parse_json(nested_arrays(kMaxJsonDepth)).ok());
  expect_invalid(nested_arrays(kMaxJsonDepth + 1), "deeper than 32 levels");
  expect_invalid(nested_arrays(100000), "deeper than 32 levels");
  CHECK(parse_json(R"({"a":{"b":1}})", {.max_depth = 2}).ok());
  expect_invalid(R"({"a":{"b":[]}})", "deeper than 2 levels", "", {.max_depth = 2});
  // 0 is the default, not "no nesting at all".
  CHECK(parse_json(nested_arrays(kMaxJsonDepth), {.max_depth = 0}).ok());
}

TEST_CASE("parse_json refuses an object that repeats a member name", "[json]") {
  expect_invalid(R"({"name":"dup","auth_type":"api_key","name":"dup2"})",
                 R"("name" more than once)", "name");
  expect_invalid(R"({"credential_schema":{"fields":[{"name":"a","label":"A","label":"B"}]}})",
                 R"("label" more than once)", "label");
  // The same name spelt with an escape is still the same name.
  expect_invalid(R"({"ab":1,"a\u0062":2})", R"("ab" more than once)", "ab");
  const std::string long_name(100, 'k');
  expect_invalid("{\"" + long_name + "\":1,\"" + long_name + "\":2}", "more than once",
                 std::string(64, 'k'));
  // The same name in different objects is fine.
  for (std::string_view text : {R"([{"a":1},{"a":2}])", R"({"a":{"a":{"a":1}},"b":{"a":2}})",
                                R"({"a":{"x":1},"b":{"x":1},"c":[{"x":1}]})"}) {
    INFO(text);
    CHECK(parse_json(text).ok());
  }
}

TEST_CASE("parse_json handles wide objects", "[json]") {
  boost::json::object wide;
  for (int i = 0; i < 20000; ++i) wide["k" + std::to_string(i)] = i;
  const std::string text = boost::json::serialize(wide);
  const Result<boost::json::value> r = parse_json(text);
  REQUIRE(r.ok());
  CHECK(r.value() == boost::json::value(wide));
  std::string repeated = text;
  repeated.back() = ',';
  repeated += R"("k19999":0})";
  expect_invalid(repeated, "more than once", "k19999");
}

TEST_CASE("json_depth counts nesting and stops past its limit", "[json]") {
  CHECK(json_depth(boost::json::parse("7")) == 0);
  CHECK(json_depth(boost::json::parse("[]")) == 1);
  CHECK(json_depth(boost::json::parse(R"({"a":[1,{"b":{}}],"c":{}})")) == 4);
  CHECK(json_depth(boost::json::parse(nested_arrays(kMaxJsonDepth))) == kMaxJsonDepth);
  // A value built in code can be deeper than any parser allows.
  boost::json::value deep = boost::json::array();
  for (int i = 0; i < 100000; ++i) {
    boost::json::value outer = boost::json::object();
    outer.as_object()["x"] = std::move(deep);
    deep = std::move(outer);
  }
  CHECK(json_depth(deep) == kMaxJsonDepth + 1);
  CHECK(json_depth(deep, 5) == 6);
  // Destroying it recursively would overflow the stack: unnest it first.
  while (boost::json::object* o = deep.if_object()) {
    boost::json::value inner = std::move(o->at("x"));
    deep = std::move(inner);
  }
}

}  // namespace
}  // namespace nexus

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/clock.hpp"

#include <catch2/catch.hpp>
#include <set>

namespace nexus {
namespace {

TEST_CASE("RFC 3339 timestamps format with milliseconds in UTC and parse back", "[clock]") {
  Timestamp t{std::chrono::milliseconds{1'780'000'000'123}};
  CHECK(format_rfc3339(t) == "2026-05-28T20:26:40.123Z");
  CHECK(parse_rfc3339("2026-05-28T20:26:40.123Z") == t);
  CHECK(parse_rfc3339("2026-05-28T22:26:40.123+02:00") == t);
  CHECK(parse_rfc3339("2026-05-28T20:26:40Z") == t - std::chrono::milliseconds(123));
  CHECK(format_rfc3339(Timestamp{}) == "1970-01-01T00:00:00.000Z");
  CHECK(format_rfc3339(Timestamp{std::chrono::milliseconds{-1}}) == "1969-12-31T23:59:59.999Z");
  CHECK(format_rfc3339(Timestamp{std::chrono::milliseconds{253'402'300'799'999}}) ==
        "9999-12-31T23:59:59.999Z");
  CHECK(format_rfc3339(Timestamp{std::chrono::milliseconds{253'402'300'800'000}}) ==
        "10000-01-01T00:00:00.000Z");
  CHECK(format_rfc3339(Timestamp{std::chrono::milliseconds{1'000'000'000'007}}) ==
        "2001-09-09T01:46:40.007Z");
  for (const char* bad :
       {"", "2026-05-28", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-05-28T20:26:40",
        "2026-05-28T20:26:40Zjunk", "2026-05-28T24:00:00Z", "2026-05-28T20:26:40.Z"}) {
    INFO(bad);
    CHECK_FALSE(parse_rfc3339(bad).has_value());
  }
}

TEST_CASE("ids carry their prefix and 128 random bits", "[clock]") {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    std::string id = make_id(system_random(), "prv_");
    REQUIRE(id.size() == 4 + 26);
    CHECK(id.rfind("prv_", 0) == 0);
    ids.insert(id);
  }
  CHECK(ids.size() == 1000);
}

}  // namespace
}  // namespace nexus

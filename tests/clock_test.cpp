// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/clock.hpp"

#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

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

TEST_CASE("system_random: small requests from many threads never repeat", "[clock]") {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;  // many refills of each thread's buffer
  std::vector<std::vector<std::string>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&got, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Sizes that do not divide the buffer evenly, and ids.
        std::string bytes(static_cast<std::size_t>(1 + i % 16), '\0');
        system_random().fill(bytes.data(), bytes.size());
        if (bytes.size() == 16) got[static_cast<std::size_t>(t)].push_back(bytes);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  std::size_t total = 0;
  for (const auto& v : got) {
    total += v.size();
    all.insert(v.begin(), v.end());
  }
  CHECK(total == kThreads * kPerThread / 16);
  CHECK(all.size() == total);
}

TEST_CASE("system_random: a forked child does not repeat its parent's ids", "[clock]") {
  make_id(system_random(), "evt_");  // this thread's buffer now holds more
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const std::string id = make_id(system_random(), "evt_");
    const bool written = write(fds[1], id.data(), id.size()) == static_cast<ssize_t>(id.size());
    _exit(written ? 0 : 1);
  }
  close(fds[1]);
  const std::string parent_id = make_id(system_random(), "evt_");
  std::string child_id(parent_id.size(), '\0');
  const ssize_t n = read(fds[0], child_id.data(), child_id.size());
  close(fds[0]);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(n == static_cast<ssize_t>(parent_id.size()));
  CHECK(child_id != parent_id);
}

}  // namespace
}  // namespace nexus

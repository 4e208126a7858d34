// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "detail/encoding.hpp"

#include <catch2/catch.hpp>

namespace nexus::detail {
namespace {

TEST_CASE("base64url round-trips every length and refuses foreign text", "[encoding]") {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    auto enc = base64url_encode(bytes);
    CHECK(enc.find_first_of("+/=") == std::string::npos);
    CHECK(base64url_decode(enc) == bytes);
    bytes.push_back(char(i * 37 + 200));
  }
  CHECK(base64url_encode("hello") == "aGVsbG8");
  CHECK_FALSE(base64url_decode("aGVsbG8=").has_value());
  CHECK_FALSE(base64url_decode("a").has_value());
  CHECK_FALSE(base64url_decode("aGVsbG9").has_value());  // non-zero trailing bits
}

TEST_CASE("cursors are bound to their kind", "[encoding]") {
  auto c = encode_cursor("providers", "github");
  CHECK(decode_cursor("providers", c) == "github");
  CHECK_FALSE(decode_cursor("audit", c).has_value());
  CHECK_FALSE(decode_cursor("providers", "").has_value());
  CHECK_FALSE(decode_cursor("providers", base64url_encode("providersgithub")).has_value());
  CHECK(to_hex("\x01\xab") == "01ab");
}

}  // namespace
}  // namespace nexus::detail

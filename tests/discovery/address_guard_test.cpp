// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// The SSRF guard's address table.
#include "detail/address_guard.hpp"

#include <catch2/catch.hpp>

namespace nexus::detail {
namespace {

TEST_CASE("The guard refuses loopback, private, link-local, metadata and other special addresses") {
  struct Case {
    const char* address;
    const char* reason;
  };
  const Case cases[] = {
      // The list.
      {"127.0.0.1", "a loopback address"},
      {"10.0.0.1", "a private address"},
      {"169.254.169.254", "the cloud metadata address"},
      {"::1", "a loopback address"},
      {"::ffff:127.0.0.1", "a loopback address"},
      {"0.0.0.0", "the unspecified address"},
      {"100.64.0.1", "a carrier-grade NAT address"},
      {"fe80::1", "a link-local address"},
      {"224.0.0.1", "a multicast address"},
      // Range edges and the rest of the table.
      {"127.255.255.254", "a loopback address"},
      {"0.1.2.3", "a \"this network\" address"},
      {"10.255.255.255", "a private address"},
      {"100.127.255.255", "a carrier-grade NAT address"},
      {"169.254.0.1", "a link-local address"},
      {"172.16.0.1", "a private address"},
      {"172.31.255.255", "a private address"},
      {"192.168.0.1", "a private address"},
      {"192.0.0.8", "an IETF protocol assignment address"},
      {"192.0.2.1", "a documentation address"},
      {"198.18.0.1", "a benchmarking address"},
      {"198.19.255.255", "a benchmarking address"},
      {"198.51.100.7", "a documentation address"},
      {"203.0.113.9", "a documentation address"},
      {"239.255.255.250", "a multicast address"},
      {"240.0.0.1", "a reserved address"},
      {"255.255.255.255", "the broadcast address"},
      {"::", "the unspecified address"},
      {"fc00::1", "a unique local (private) address"},
      {"fd12:3456:789a::1", "a unique local (private) address"},
      {"febf:ffff::1", "a link-local address"},
      {"fec0::1", "a site-local address"},
      {"ff02::1", "a multicast address"},
      {"100::1", "a discard-only address"},
      {"2001:db8::1", "a documentation address"},
      {"2001:0:4136:e378:8000:63bf:3fff:fdd2", "a Teredo address"},
      {"64:ff9b:1::a00:1", "a NAT64 local-use address"},
      // IPv6 forms that embed a blocked IPv4 address.
      {"::ffff:10.0.0.1", "a private address"},
      {"::ffff:169.254.169.254", "the cloud metadata address"},
      {"::ffff:0.0.0.0", "the unspecified address"},
      {"::127.0.0.1", "a loopback address"},
      {"::10.1.2.3", "a private address"},
      {"64:ff9b::127.0.0.1", "a loopback address"},
      {"64:ff9b::a9fe:a9fe", "the cloud metadata address"},
      {"2002:7f00:1::1", "a loopback address"},
      {"2002:c0a8:101::", "a private address"},
  };
  for (const Case& c : cases) {
    INFO(c.address);
    const auto reason = blocked_address_reason(std::string_view(c.address));
    REQUIRE(reason.has_value());
    CHECK(*reason == c.reason);
  }
}

TEST_CASE("The guard allows public unicast addresses") {
  for (const char* address :
       {"93.184.216.34", "8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.1", "100.63.255.255",
        "100.128.0.1", "169.253.255.255", "192.167.255.255", "198.20.0.1", "223.255.255.254",
        "2606:4700::1", "2001:4860:4860::8888", "2a00:1450:4001:82b::200e", "::ffff:93.184.216.34",
        "64:ff9b::5db8:d822", "2002:5db8:d822::1",
        "2001:1::1"}) {  // 2001:1::/32 is not Teredo (2001:0::/32)
    INFO(address);
    CHECK_FALSE(blocked_address_reason(std::string_view(address)).has_value());
  }
}

TEST_CASE("IPv6 is allowed only in global unicast 2000::/3, outside its special ranges") {
  struct Case {
    const char* address;
    const char* reason;
  };
  const Case cases[] = {
      // IPv4-translated (RFC 2765), which the audit's probe found allowed.
      {"::ffff:0:7f00:1", "not a global unicast address"},
      {"::ffff:0:5db8:d822", "not a global unicast address"},
      // Unassigned space below and above 2000::/3.
      {"1::1", "not a global unicast address"},
      {"100:0:0:1::1", "not a global unicast address"},
      {"4000::1", "not a global unicast address"},
      {"8000::1", "not a global unicast address"},
      {"e000::1", "not a global unicast address"},
      {"fbff::1", "not a global unicast address"},
      // Special ranges inside 2000::/3.
      {"2001:2::1", "a benchmarking address"},
      {"2001:2:0:ffff::1", "a benchmarking address"},
      {"2001:10::1", "a deprecated ORCHID address"},
      {"2001:1f:ffff::1", "a deprecated ORCHID address"},
      {"3fff::1", "a documentation address"},
      {"3fff:fff:ffff::1", "a documentation address"},
      {"5f00::1", "not a global unicast address"},  // SRv6 SIDs (RFC 9602)
  };
  for (const Case& c : cases) {
    INFO(c.address);
    const auto reason = blocked_address_reason(std::string_view(c.address));
    REQUIRE(reason.has_value());
    CHECK(*reason == c.reason);
  }
  // Just outside those ranges, and the edges of 2000::/3.
  for (const char* address : {"2000::1", "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:3::1",
                              "2001:20::1", "3fff:1000::1", "2001:2:1::1"}) {
    INFO(address);
    CHECK_FALSE(blocked_address_reason(std::string_view(address)).has_value());
  }
}

TEST_CASE("Text that is not an IP address is never allowed") {
  for (const char* text : {"", "localhost", "[::1]", "fe80::1%eth0", "127.1", "0x7f000001",
                           "2130706433", "127.0.0.1 ", "::ffff:127.0.0.1/96"}) {
    INFO(text);
    const auto reason = blocked_address_reason(std::string_view(text));
    REQUIRE(reason.has_value());
    CHECK(*reason == "not an IP address");
  }
}

TEST_CASE("The byte overloads agree with the text overload") {
  CHECK(blocked_address_reason(Ipv4Bytes{127, 0, 0, 1}) == "a loopback address");
  CHECK_FALSE(blocked_address_reason(Ipv4Bytes{93, 184, 216, 34}).has_value());
  Ipv6Bytes mapped{};
  mapped[10] = mapped[11] = 0xff;
  mapped[12] = 192;
  mapped[13] = 168;
  mapped[14] = 1;
  mapped[15] = 1;
  CHECK(blocked_address_reason(mapped) == "a private address");
}

}  // namespace
}  // namespace nexus::detail

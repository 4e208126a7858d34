// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "detail/address_guard.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <string>

namespace nexus::detail {
namespace {

struct Range {
  std::uint8_t prefix[16];  // only the first (length + 7) / 8 bytes matter
  unsigned length;          // in bits
  std::string_view reason;
};

template <std::size_t N>
bool in_range(const std::array<std::uint8_t, N>& address, const Range& range) {
  unsigned bits = range.length;
  for (std::size_t i = 0; i < N && bits > 0; ++i) {
    const unsigned take = bits >= 8 ? 8 : bits;
    const auto mask = static_cast<std::uint8_t>(0xFF << (8 - take));
    if ((address[i] & mask) != (range.prefix[i] & mask)) return false;
    bits -= take;
  }
  return true;
}

// IANA IPv4 special-purpose registry entries that are not globally reachable,
// plus multicast. Order matters only for the reason reported: the more
// specific entries come first.
constexpr Range kIpv4Blocked[] = {
    {{0, 0, 0, 0}, 32, "the unspecified address"},
    {{0}, 8, "a \"this network\" address"},
    {{10}, 8, "a private address"},
    {{100, 64}, 10, "a carrier-grade NAT address"},
    {{127}, 8, "a loopback address"},
    {{169, 254, 169, 254}, 32, "the cloud metadata address"},
    {{169, 254}, 16, "a link-local address"},
    {{172, 16}, 12, "a private address"},
    {{192, 0, 0}, 24, "an IETF protocol assignment address"},
    {{192, 0, 2}, 24, "a documentation address"},
    {{192, 88, 99}, 24, "a deprecated 6to4 relay address"},
    {{192, 168}, 16, "a private address"},
    {{198, 18}, 15, "a benchmarking address"},
    {{198, 51, 100}, 24, "a documentation address"},
    {{203, 0, 113}, 24, "a documentation address"},
    {{224}, 4, "a multicast address"},
    {{255, 255, 255, 255}, 32, "the broadcast address"},
    {{240}, 4, "a reserved address"},
};

constexpr Range kIpv6Blocked[] = {
    {{0}, 128, "the unspecified address"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, "a loopback address"},
    {{0x01, 0x00}, 64, "a discard-only address"},
    {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48, "a NAT64 local-use address"},
    {{0x20, 0x01, 0x00, 0x02, 0x00, 0x00}, 48, "a benchmarking address"},
    {{0x20, 0x01, 0x00, 0x10}, 28, "a deprecated ORCHID address"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "a documentation address"},
    {{0x3f, 0xff, 0x00}, 20, "a documentation address"},
    // Teredo addresses tunnel to an obfuscated IPv4 address we cannot judge.
    {{0x20, 0x01, 0x00, 0x00}, 32, "a Teredo address"},
    {{0xfc}, 7, "a unique local (private) address"},
    {{0xfe, 0x80}, 10, "a link-local address"},
    {{0xfe, 0xc0}, 10, "a site-local address"},
    {{0xff}, 8, "a multicast address"},
};

// Prefixes whose addresses carry an IPv4 address that the network may route
// to: the IPv4 address decides. `offset` is where its 4 bytes start.
struct Embedding {
  Range range;
  std::size_t offset;
};
constexpr Embedding kIpv6Embedding[] = {
    {{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96, "IPv4-mapped"}, 12},
    {{{0}, 96, "IPv4-compatible"}, 12},
    {{{0x00, 0x64, 0xff, 0x9b}, 96, "NAT64"}, 12},
    {{{0x20, 0x02}, 16, "6to4"}, 2},
};

constexpr Range kIpv6GlobalUnicast = {{0x20}, 3, ""};

}  // namespace

std::optional<std::string_view> blocked_address_reason(const Ipv4Bytes& address) {
  for (const Range& range : kIpv4Blocked) {
    if (in_range(address, range)) return range.reason;
  }
  return std::nullopt;
}

std::optional<std::string_view> blocked_address_reason(const Ipv6Bytes& address) {
  // Exact and native ranges first, so :: and ::1 are not judged as
  // IPv4-compatible 0.0.0.0 and 0.0.0.1.
  for (const Range& range : kIpv6Blocked) {
    if (in_range(address, range)) return range.reason;
  }
  for (const Embedding& embedding : kIpv6Embedding) {
    if (!in_range(address, embedding.range)) continue;
    Ipv4Bytes v4;
    std::memcpy(v4.data(), address.data() + embedding.offset, v4.size());
    return blocked_address_reason(v4);
  }
  // Only global unicast (2000::/3) reaches the Internet; everything else
  // (IPv4-translated ::ffff:0:0:0/96, unassigned and future ranges) is refused
  // rather than judged by a table that would have to list it.
  if (!in_range(address, kIpv6GlobalUnicast)) return "not a global unicast address";
  return std::nullopt;
}

std::optional<std::string_view> blocked_address_reason(std::string_view text) {
  const std::string nul_terminated(text);
  Ipv4Bytes v4;
  if (inet_pton(AF_INET, nul_terminated.c_str(), v4.data()) == 1) {
    return blocked_address_reason(v4);
  }
  Ipv6Bytes v6;
  if (inet_pton(AF_INET6, nul_terminated.c_str(), v6.data()) == 1) {
    return blocked_address_reason(v6);
  }
  return "not an IP address";
}

}  // namespace nexus::detail

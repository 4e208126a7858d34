// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// Addresses without Asio: IP literals, CIDR ranges, HOST:PORT listen
// addresses, and which peer to believe about the caller's IP.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nexus::server {

// An IPv4 or IPv6 address. IPv4 is held as an IPv4-mapped IPv6 address
// (::ffff:a.b.c.d), so "10.0.0.1" and "::ffff:10.0.0.1" are the same caller.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};
  bool is_v4() const noexcept;
  // "10.0.0.1" / "2001:db8::1" (RFC 5952 form).
  std::string to_string() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// nullopt unless `text` is an IPv4 dotted quad or an IPv6 literal (no
// brackets, no zone).
std::optional<IpAddress> parse_ip(std::string_view text);

struct Cidr {
  IpAddress network;
  int prefix_bits = 128;  // over the 128-bit (mapped) form
  bool contains(const IpAddress& ip) const noexcept;
};

// "10.0.0.0/8", "2001:db8::/32", or a bare address (one host).
std::optional<Cidr> parse_cidr(std::string_view text);

// A comma-separated list of CIDRs; on failure, `error` names the bad entry.
std::optional<std::vector<Cidr>> parse_cidr_list(std::string_view text, std::string* error);

struct ListenAddress {
  std::string host;  // an IP literal, without brackets
  std::uint16_t port = 0;
  // "127.0.0.1:8090" / "[::1]:8090"
  std::string to_string() const;
};

// "IPv4:PORT", "[IPv6]:PORT" or "localhost:PORT"; PORT 0 asks the system for
// a free port. nullopt for anything else.
std::optional<ListenAddress> parse_listen_address(std::string_view text);

// The caller's IP. The socket peer is the caller unless it is a trusted
// proxy; then X-Forwarded-For is walked from the right, skipping trusted
// proxies, and the first untrusted address is the caller (an entry that is not
// an IP stops the walk: the hop before it is the caller). Returns the peer's
// text unchanged when it is not an IP.
std::string resolve_caller_ip(std::string_view peer, std::string_view forwarded_for,
                              const std::vector<Cidr>& trusted_proxies);

}  // namespace nexus::server

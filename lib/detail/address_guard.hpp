// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Private: the server-side request forgery guard. Which IP addresses an
// outgoing request made on a user's behalf (discovery, token exchange) may
// connect to.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace nexus::detail {

using Ipv4Bytes = std::array<std::uint8_t, 4>;
using Ipv6Bytes = std::array<std::uint8_t, 16>;

// Why the address may not be a target, as a noun phrase ("a loopback
// address"); nullopt when it is a public unicast address. Blocked: this
// network and unspecified (0.0.0.0/8), private (10/8, 172.16/12, 192.168/16),
// carrier-grade NAT (100.64/10), loopback (127/8), link-local including cloud
// metadata (169.254/16), IETF protocol assignments (192.0.0/24), documentation
// and benchmarking ranges, multicast (224/4), reserved (240/4) and broadcast.
std::optional<std::string_view> blocked_address_reason(const Ipv4Bytes& address);

// As above for IPv6: unspecified (::), loopback (::1), unique local (fc00::/7),
// link-local (fe80::/10), site-local (fec0::/10), multicast (ff00::/8),
// discard (100::/64), documentation (2001:db8::/32, 3fff::/20), benchmarking
// (2001:2::/48), ORCHID (2001:10::/28), Teredo (2001::/32), NAT64 local-use
// (64:ff9b:1::/48); judged by the IPv4 address they embed, IPv4-mapped
// (::ffff:0:0/96), IPv4-compatible (::/96), NAT64 well-known (64:ff9b::/96)
// and 6to4 (2002::/16); and anything else outside global unicast (2000::/3),
// such as IPv4-translated (::ffff:0:0:0/96).
std::optional<std::string_view> blocked_address_reason(const Ipv6Bytes& address);

// As above for a textual IPv4 or IPv6 address (brackets and zone ids are not
// accepted). nullopt for a public address; "not an IP address" when `text`
// does not parse, so unknown input is never allowed.
std::optional<std::string_view> blocked_address_reason(std::string_view text);

}  // namespace nexus::detail

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "net.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "text.hpp"

namespace nexus::server {
namespace {

constexpr std::array<std::uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

}  // namespace

bool IpAddress::is_v4() const noexcept {
  return std::memcmp(bytes.data(), kMappedPrefix.data(), kMappedPrefix.size()) == 0;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_v4()) {
    inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  }
  return buf;
}

std::optional<IpAddress> parse_ip(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, text.data(), text.size());
  IpAddress ip;
  if (inet_pton(AF_INET, buf, ip.bytes.data() + 12) == 1) {
    std::memcpy(ip.bytes.data(), kMappedPrefix.data(), kMappedPrefix.size());
    return ip;
  }
  if (inet_pton(AF_INET6, buf, ip.bytes.data()) == 1) return ip;
  return std::nullopt;
}

bool Cidr::contains(const IpAddress& ip) const noexcept {
  int bits = prefix_bits;
  for (std::size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((ip.bytes[i] & mask) != (network.bytes[i] & mask)) return false;
  }
  return true;
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  text = trim(text);
  std::string_view addr = text;
  std::optional<int> bits;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    std::string_view b = text.substr(slash + 1);
    int n = 0;
    auto [p, ec] = std::from_chars(b.data(), b.data() + b.size(), n);
    if (b.empty() || ec != std::errc() || p != b.data() + b.size()) return std::nullopt;
    bits = n;
  }
  auto ip = parse_ip(addr);
  if (!ip) return std::nullopt;
  int max = ip->is_v4() ? 32 : 128;
  int n = bits.value_or(max);
  if (n < 0 || n > max) return std::nullopt;
  return Cidr{*ip, ip->is_v4() ? n + 96 : n};
}

std::optional<std::vector<Cidr>> parse_cidr_list(std::string_view text, std::string* error) {
  std::vector<Cidr> out;
  while (!trim(text).empty()) {
    auto comma = text.find(',');
    std::string_view item = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    auto cidr = parse_cidr(item);
    if (!cidr) {
      if (error) *error = std::string(item);
      return std::nullopt;
    }
    out.push_back(*cidr);
  }
  return out;
}

std::string ListenAddress::to_string() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<ListenAddress> parse_listen_address(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p > 65535) {
    return std::nullopt;
  }
  ListenAddress out;
  out.port = static_cast<std::uint16_t>(p);
  if (host == "localhost") {
    out.host = "127.0.0.1";
    return out;
  }
  bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  auto ip = parse_ip(host);
  // An IPv6 literal must be bracketed, an IPv4 one must not.
  if (!ip || bracketed == (host.find(':') == std::string_view::npos)) return std::nullopt;
  out.host = std::string(host);
  return out;
}

std::string resolve_caller_ip(std::string_view peer, std::string_view forwarded_for,
                              const std::vector<Cidr>& trusted_proxies) {
  auto trusted = [&](const IpAddress& ip) {
    for (const Cidr& c : trusted_proxies) {
      if (c.contains(ip)) return true;
    }
    return false;
  };
  auto peer_ip = parse_ip(peer);
  if (!peer_ip) return std::string(peer);
  IpAddress caller = *peer_ip;
  if (trusted(caller)) {
    std::string_view rest = forwarded_for;
    while (!trim(rest).empty()) {
      auto comma = rest.rfind(',');
      std::string_view hop = trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
      auto ip = parse_ip(hop);
      if (!ip) break;
      caller = *ip;
      if (!trusted(caller)) break;
    }
  }
  return caller.to_string();
}

}  // namespace nexus::server

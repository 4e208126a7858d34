// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Private: the default HttpClient with its name resolution replaceable, so
// tests can make a name resolve to loopback, stall, or count lookups.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nexus/http_client.hpp"
#include "nexus/status.hpp"

namespace nexus::detail {

// What resolving a host name found: its addresses in text form ("192.0.2.1",
// "2001:db8::1"), or, with `error` set, why there are none.
struct ResolvedHost {
  std::vector<std::string> addresses;
  std::string error;
};

// Resolves a host name (never an IP literal). Called on a thread of its own;
// it may block for as long as it likes, and must be safe to call concurrently.
using HostResolver = std::function<ResolvedHost(const std::string& host)>;

// getaddrinfo (AF_UNSPEC, AI_ADDRCONFIG).
ResolvedHost system_resolve(const std::string& host);

// make_default_http_client with `resolver` instead of system_resolve. Each
// request resolves its host with exactly one call, checks every address it
// returns and connects only to those.
Result<std::unique_ptr<HttpClient>> make_beast_http_client(HttpClientOptions options,
                                                           HostResolver resolver);

}  // namespace nexus::detail

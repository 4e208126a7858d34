// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// The server's own request and response types: what the socket layer hands to
// the router and gets back. No Beast or Asio here, so the router and its tests
// compile fast and run without sockets.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nexus::server {

struct HttpRequest {
  std::string method;  // "GET", as received
  std::string target;  // origin-form: "/v1/providers?limit=2"
  // Every header field, names lower-cased, in arrival order.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string peer_ip;  // the socket peer; the router decides the caller IP

  // The value of header `lower_name`; several fields of that name are joined
  // with ", " (RFC 9110 §5.3). Empty when absent.
  std::string header(std::string_view lower_name) const;
  bool has_header(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // JSON unless a Content-Type header says otherwise

  // For the access log and metrics, never sent: the route template that
  // answered (index into the router's route table; -1 when none matched), the
  // request id, the caller's IP, the key id of the authenticated caller, and
  // for 5xx answers what went wrong (never a secret: library messages carry
  // none).
  int route_index = -1;
  std::string request_id;
  std::string caller_ip;
  std::string key_id;
  std::string log_error;

  void set_header(std::string name, std::string value);
  const std::string* find_header(std::string_view name) const;
};

}  // namespace nexus::server

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// The socket side of the server: listener, one session per connection,
// signals and graceful shutdown. The only translation unit with Beast and
// Asio; everything it serves comes from the Router.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>

#include "net.hpp"
#include "nexus/status.hpp"
#include "router.hpp"

namespace nexus::server {

struct ServerOptions {
  ListenAddress listen{"127.0.0.1", 8090};
  // Threads running the one io_context; each also runs the route handlers
  // that never wait on a third party.
  int threads = 4;
  // Threads for the blocking routes (RouteInfo::blocking: provider changes
  // that may run OpenID discovery, up to the HTTP client's timeout). They
  // wait there, so a slow issuer holds only its own requests, never an I/O
  // thread; more than this many at once queue.
  int blocking_threads = 4;
  // Largest request body; a bigger one is answered 413 and the connection
  // closed.
  std::size_t body_limit = 64 * 1024;
  // Largest request line plus header fields; a bigger one is answered 413.
  std::size_t header_limit = 8 * 1024;
  // How long a connection may take to deliver one request, waiting for its
  // first byte included (so also the keep-alive idle timeout).
  std::chrono::milliseconds read_timeout{std::chrono::seconds(30)};
  // How long writing one response may take.
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  // Open connections beyond this are answered 503 and closed.
  std::size_t max_connections = 1024;
  // On SIGTERM/SIGINT: how long in-flight requests may take to finish before
  // their connections are closed anyway.
  std::chrono::milliseconds shutdown_grace{std::chrono::seconds(10)};
  // After an error answer that closes the connection: how long unread
  // request bytes are drained so the client sees the answer, not a reset.
  std::chrono::milliseconds linger_timeout{std::chrono::seconds(2)};
  // When set, SIGHUP runs it (on a blocking-pool thread, never an I/O
  // thread) while the server runs: e.g. reload the master key file.
  std::function<void()> on_reload;
};

// Listens on options.listen and serves `router` until SIGTERM or SIGINT;
// then stops accepting, lets in-flight requests finish (at most
// shutdown_grace; a second signal cuts that short), closes every connection
// and returns OK. `on_listening` is called once with the bound address (the
// real port when the configured one is 0). kUnavailable when the address
// cannot be bound.
Status run_http_server(const ServerOptions& options, const Router& router,
                       const std::function<void(const ListenAddress&)>& on_listening);

}  // namespace nexus::server

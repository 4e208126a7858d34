// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// The socket side of the server: listener, one session per connection,
// signals and graceful shutdown. The only translation unit with Beast and
// Asio; everything it serves comes from the Router.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

#include "net.hpp"
#include "nexus/status.hpp"
#include "router.hpp"

namespace nexus::server {

struct ServerOptions {
  ListenAddress listen{"127.0.0.1", 8090};
  // Threads running the one io_context: they read and write sockets and run
  // the route handlers that only read (RouteInfo::blocking is false).
  int threads = 4;
  // Threads for the blocking routes (RouteInfo::blocking: every write, and
  // what may run OpenID discovery). They wait there (on the database's write
  // lock up to its busy timeout, on an issuer up to the HTTP client's
  // timeout), so a slow database or issuer holds only their own requests,
  // never an I/O thread; more than this many at once queue. Waiting threads
  // are cheap, and concurrent writers let the storage share one commit.
  int blocking_threads = 32;
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
  // their connections are closed anyway. Blocking requests still queued then
  // are not run.
  std::chrono::milliseconds shutdown_grace{std::chrono::seconds(10)};
  // After the grace period: how long handlers already running may still take
  // to return. They are inside one library call, whose own waits are bounded
  // (SQLite busy timeout 5 s after the HTTP client's total timeout of 10 s
  // for a create that discovers); past this the server gives up on them
  // (HttpServer::run).
  std::chrono::milliseconds shutdown_abandon_after{std::chrono::seconds(15)};
  // After an error answer that closes the connection: how long unread
  // request bytes are drained so the client sees the answer, not a reset.
  std::chrono::milliseconds linger_timeout{std::chrono::seconds(2)};
  // When set, SIGHUP runs it (on a blocking-pool thread, never an I/O
  // thread) while the server runs: e.g. reload the master key file.
  std::function<void()> on_reload;
  // Whether SIGTERM and SIGINT start the shutdown (tests call stop()).
  bool handle_signals = true;
};

// The HTTP server: open() binds the listening socket, run() serves. Binding
// first lets a start fail on a taken or forbidden address before it changes
// anything (database, keys); connections made in between wait in the
// listen backlog.
class HttpServer {
 public:
  // Binds options.listen. kValidationFailed (field "listen") when the host is
  // not an IP address; kUnavailable when it cannot be bound.
  static Result<std::unique_ptr<HttpServer>> open(const ServerOptions& options);

  // REQUIRES: run() has returned, or was never called.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound address (the real port when the configured one is 0).
  const ListenAddress& address() const noexcept;

  // Serves `router` on options.threads threads (the caller's included) until
  // SIGTERM or SIGINT (when options.handle_signals) or stop(); then stops accepting,
  // lets in-flight requests finish (at most shutdown_grace; a second signal
  // cuts that short), closes every connection, drops blocking requests not
  // yet started, and waits for the handlers still running. OK when every
  // handler has returned. kUnavailable when some were still running
  // shutdown_abandon_after past the grace period: the server gave up on them
  // and leaks what they use; the caller must then end the process
  // (std::_Exit) without destroying the router or what it uses. Call once;
  // `router` must outlive the call.
  Status run(const Router& router);

  // Starts the shutdown as SIGTERM does. Thread-safe; any time after open().
  void stop();

  struct Impl;  // defined and used only in http_server.cpp

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nexus::server

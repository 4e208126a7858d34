// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Loopback test servers and a throwaway PKI for the HttpClient and discovery
// tests. No Beast in this header: only test_server.cpp pays for it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nexus/http_client.hpp"

namespace nexus::testing {

// What the server answers to one request.
struct CannedResponse {
  int status = 200;
  std::vector<HttpHeader> headers;
  std::string body;
  bool chunked = false;  // Transfer-Encoding: chunked instead of Content-Length
  bool hang = false;     // read the request, then never answer
};

struct TestServerOptions {
  bool tls = true;
  std::string cert_file;  // PEM leaf certificate (tls only)
  std::string key_file;   // its key
  // Called on the server thread with the request target ("/path?query").
  std::function<CannedResponse(const std::string& target)> handler;
};

// An HTTP(S) server on 127.0.0.1 and an ephemeral port, running on its own
// thread until destroyed.
class TestServer {
 public:
  explicit TestServer(TestServerOptions options);
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::uint16_t port() const;
  // Requests read completely so far.
  int requests() const;
  // The TLS server name (SNI) the last client sent; empty when none.
  std::string last_sni() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A socket listening on 127.0.0.1 that never accepts: proves that a client
// did (or did not) try to connect.
class LoopbackListener {
 public:
  LoopbackListener();
  ~LoopbackListener();
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;
  std::uint16_t port() const { return port_; }
  // True when a connection is waiting in the backlog (does not block).
  bool has_pending_connection();
  // Fills the accept queue, so that the kernel drops further SYNs and the
  // next client's connect hangs until its own timeout.
  void fill_backlog();

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> held_;  // connections that fill the backlog
};

// A port on 127.0.0.1 where nothing listens (bound, then released).
std::uint16_t unused_loopback_port();

// The certificates of tests/discovery/make_test_pki.sh, made once per process
// in a temporary directory removed at exit.
struct TestPki {
  std::string ca_file;
  std::string good_cert, good_key;        // localhost and 127.0.0.1
  std::string wrong_cert, wrong_key;      // wrong.example
  std::string expired_cert, expired_key;  // localhost, expired
};
const TestPki& test_pki();

}  // namespace nexus::testing

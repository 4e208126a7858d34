// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// The Beast-free helpers of test_server.hpp: raw loopback sockets and the PKI.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <tuple>
#include <utility>

#include "test_server.hpp"
#include "test_support.hpp"

namespace nexus::testing {

namespace {

// Binds a TCP socket to 127.0.0.1 on an ephemeral port; returns fd and port.
std::pair<int, std::uint16_t> bind_loopback() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) std::abort();
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::abort();
  }
  return {fd, ntohs(addr.sin_port)};
}

}  // namespace

LoopbackListener::LoopbackListener() {
  std::tie(fd_, port_) = bind_loopback();
  // Backlog 0: Linux queues one connection, which fill_backlog() takes.
  if (::listen(fd_, 0) != 0) std::abort();
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

LoopbackListener::~LoopbackListener() {
  for (const int fd : held_) ::close(fd);
  ::close(fd_);
}

void LoopbackListener::fill_backlog() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port_);
  // Completes at once: the handshake is done by the kernel into the queue.
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::abort();
  }
  held_.push_back(fd);
}

bool LoopbackListener::has_pending_connection() {
  const int client = ::accept(fd_, nullptr, nullptr);
  if (client < 0) return false;
  ::close(client);
  return true;
}

std::uint16_t unused_loopback_port() {
  const auto [fd, port] = bind_loopback();
  ::close(fd);
  return port;
}

const TestPki& test_pki() {
  static const TempDir dir;
  static const TestPki pki = [] {
    const std::string d = dir.path().string();
    const std::string command = std::string("bash ") + NEXUS_DISCOVERY_TEST_DIR +
                                "/make_test_pki.sh '" + d + "' > '" + d + "/pki.log' 2>&1";
    if (std::system(command.c_str()) != 0) {
      std::fprintf(stderr, "make_test_pki.sh failed; see %s/pki.log\n", d.c_str());
      std::abort();
    }
    TestPki p;
    p.ca_file = d + "/ca.pem";
    p.good_cert = d + "/good.pem";
    p.good_key = d + "/good.key";
    p.wrong_cert = d + "/wrong.pem";
    p.wrong_key = d + "/wrong.key";
    p.expired_cert = d + "/expired.pem";
    p.expired_key = d + "/expired.key";
    return p;
  }();
  return pki;
}

}  // namespace nexus::testing

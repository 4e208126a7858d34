// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "log.hpp"

#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "nexus/clock.hpp"

namespace nexus::server {

namespace {

// Writes all of `data` to `fd`, retrying on EINTR and after a partial write.
// A line that cannot be written (stdout closed, disk full) is dropped.
void write_all(int fd, const char* data, std::size_t size) noexcept {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

// Lines up to PIPE_BUF bytes are written with no lock held: one write(2)
// each, which the kernel keeps whole on a pipe and on a file. stdio's lock,
// held across its write, made busy I/O threads queue (and sleep) behind each
// other. A longer line (a long request path, say) may be split on a pipe,
// so it is written alone: the exclusive lock waits for the short writes in
// progress and keeps new ones out.
std::shared_mutex long_line_mu;

}  // namespace

void write_log_line(std::string_view line) noexcept {
  try {
    std::string buf;
    buf.reserve(line.size() + 1);
    buf.append(line);
    buf += '\n';
    if (buf.size() <= PIPE_BUF) {
      std::shared_lock lock(long_line_mu);
      write_all(STDOUT_FILENO, buf.data(), buf.size());
    } else {
      std::unique_lock lock(long_line_mu);
      write_all(STDOUT_FILENO, buf.data(), buf.size());
    }
  } catch (...) {
    // Logging must not take the server down.
  }
}

void log_event(std::string_view level, std::string_view msg,
               const boost::json::object& fields) noexcept {
  try {
    boost::json::object line{
        {"time", format_rfc3339(system_clock().now())}, {"level", level}, {"msg", msg}};
    for (const auto& f : fields) line.insert_or_assign(f.key(), f.value());
    write_log_line(boost::json::serialize(line));
  } catch (...) {
    // Logging must not take the server down.
  }
}

}  // namespace nexus::server

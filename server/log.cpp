// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "log.hpp"

#include <pthread.h>
#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <cerrno>
#include <climits>
#include <cstdio>
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

// Lines up to PIPE_BUF bytes are written under a shared lock, so they never
// wait for each other: one write(2) each, which the kernel keeps whole on a
// pipe and on a file. (stdio's lock, held across its write, made busy I/O
// threads queue and sleep behind each other.) A longer line (a long error
// message, say) may be split on a pipe, so it is written alone, under the
// exclusive lock. The lock prefers its exclusive side: glibc's default (and
// so std::shared_mutex's) would let a steady stream of short lines keep a
// long one waiting indefinitely.
class LineLock {
 public:
  LineLock() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  ~LineLock() { pthread_rwlock_destroy(&lock_); }
  LineLock(const LineLock&) = delete;
  LineLock& operator=(const LineLock&) = delete;

  // Writes `data` holding the lock, shared or exclusive.
  void write(const std::string& data, bool exclusive) noexcept {
    if (exclusive) {
      pthread_rwlock_wrlock(&lock_);
    } else {
      pthread_rwlock_rdlock(&lock_);
    }
    write_all(STDOUT_FILENO, data.data(), data.size());
    pthread_rwlock_unlock(&lock_);
  }

 private:
  pthread_rwlock_t lock_;
};

LineLock& line_lock() {
  static LineLock lock;
  return lock;
}

}  // namespace

void write_log_line(std::string_view line) noexcept {
  try {
    std::string buf;
    buf.reserve(line.size() + 1);
    buf.append(line);
    buf += '\n';
    line_lock().write(buf, /*exclusive=*/buf.size() > PIPE_BUF);
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

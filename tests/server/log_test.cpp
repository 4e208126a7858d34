// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// The server's log: lines written by many threads at once reach stdout whole.
#include "log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <climits>
#include <cstddef>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace nexus::server {
namespace {

// Points file descriptor 1 at a pipe while alive; read() drains it.
class CapturedStdout {
 public:
  CapturedStdout() {
    REQUIRE(::pipe(fds_) == 0);
    saved_ = ::dup(STDOUT_FILENO);
    REQUIRE(saved_ >= 0);
    REQUIRE(::dup2(fds_[1], STDOUT_FILENO) == STDOUT_FILENO);
    reader_ = std::thread([this] {
      char buf[65536];
      ssize_t n;
      while ((n = ::read(fds_[0], buf, sizeof buf)) > 0)
        text_.append(buf, static_cast<std::size_t>(n));
    });
  }
  ~CapturedStdout() { restore(); }
  CapturedStdout(const CapturedStdout&) = delete;
  CapturedStdout& operator=(const CapturedStdout&) = delete;

  // Puts stdout back and returns all that was written to it meanwhile.
  std::string finish() {
    restore();
    return text_;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    ::dup2(saved_, STDOUT_FILENO);
    ::close(saved_);
    saved_ = -1;
    ::close(fds_[1]);  // the reader sees end of file
    reader_.join();
    ::close(fds_[0]);
  }

  int fds_[2] = {-1, -1};
  int saved_ = -1;
  std::thread reader_;
  std::string text_;  // written by reader_ only, read after join
};

TEST_CASE("log: lines from many threads stay whole, short ones and ones past PIPE_BUF",
          "[server][log]") {
  constexpr int kThreads = 8;
  constexpr int kLinesPerThread = 200;
  // Thread t writes lines of one letter; odd threads write lines longer than
  // PIPE_BUF, which a pipe would otherwise split.
  auto line_of = [](int t) {
    const std::size_t size = t % 2 == 0 ? 100 + t : PIPE_BUF + 3000 + t;
    return std::string(size, static_cast<char>('a' + t));
  };
  CapturedStdout out;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      const std::string line = line_of(t);
      for (int i = 0; i < kLinesPerThread; ++i) write_log_line(line);
    });
  }
  for (auto& w : writers) w.join();
  const std::string text = out.finish();

  std::map<std::string, int> seen;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) ++seen[line];
  std::map<std::string, int> expected;
  for (int t = 0; t < kThreads; ++t) expected[line_of(t)] = kLinesPerThread;
  CHECK(seen.size() == expected.size());  // an interleaved line is a new one
  CHECK(seen == expected);
  CHECK(text.back() == '\n');
}

}  // namespace
}  // namespace nexus::server

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "log.hpp"

#include <boost/json/serialize.hpp>
#include <cstdio>
#include <string>

#include "nexus/clock.hpp"

namespace nexus::server {

void write_log_line(std::string_view line) noexcept {
  try {
    std::string buf;
    buf.reserve(line.size() + 1);
    buf.append(line);
    buf += '\n';
    // One fwrite per line: stdio's lock keeps lines whole across threads.
    std::fwrite(buf.data(), 1, buf.size(), stdout);
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

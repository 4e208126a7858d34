// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// The server's log: one JSON object per line on stdout. The access log lines
// (the router's) and the server's own events go through here.
#pragma once

#include <boost/json/object.hpp>
#include <string_view>

namespace nexus::server {

// Writes `line` and a newline to stdout (file descriptor 1, past stdio's
// buffer) in one write(2), so that lines written by several threads stay
// whole; lines up to PIPE_BUF bytes do not wait for each other. Never throws.
void write_log_line(std::string_view line) noexcept;

// Writes {"time": now (RFC 3339), "level": level, "msg": msg, ...fields}.
// Never throws: a line that cannot be built is dropped.
void log_event(std::string_view level, std::string_view msg,
               const boost::json::object& fields = {}) noexcept;

}  // namespace nexus::server

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// Time and randomness, injected so tests control them.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nexus {

// Milliseconds since the Unix epoch, UTC. Every stored timestamp has this
// resolution.
using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

// "2026-12-03T17:57:19.123Z" (RFC 3339, UTC, milliseconds).
std::string format_rfc3339(Timestamp t);
// Parses RFC 3339 with a "Z" or numeric offset and optional fraction; nullopt
// when `text` is not such a timestamp.
std::optional<Timestamp> parse_rfc3339(std::string_view text);

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp now() const = 0;
};

// The wall clock. Thread-safe; the returned reference lives forever.
const Clock& system_clock();

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // Fills `out` with `n` unpredictable bytes. Must be thread-safe.
  virtual void fill(void* out, std::size_t n) = 0;
};

// libsodium's CSPRNG (the kernel's getrandom). Requests of up to 16 bytes
// (ids) are served from a per-thread buffer of its output, refilled 512
// bytes at a time, wiped as it is handed out and discarded in a forked
// child; larger requests (key material) go to the kernel each time.
// Thread-safe; the returned reference lives forever.
RandomSource& system_random();

// A new opaque id: `prefix` followed by 26 base32 characters (128 random bits).
std::string make_id(RandomSource& random, std::string_view prefix);

}  // namespace nexus

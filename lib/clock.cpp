// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/clock.hpp"

#include <sodium.h>

#include <pthread.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace nexus {
namespace {

class SystemClock final : public Clock {
 public:
  Timestamp now() const override {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
  }
};

// Bumped in a forked child: its threads must not hand out what the
// parent's buffers still hold.
std::atomic<unsigned> fork_generation{0};

class SodiumRandom final : public RandomSource {
 public:
  SodiumRandom() {
    if (sodium_init() < 0) std::abort();  // no entropy source: nothing is safe to do
    pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1); });
  }

  // Requests of up to kSmall bytes (ids: 16) are served from a per-thread
  // buffer that one call to the kernel's CSPRNG fills for many of them (a
  // getrandom system call per id cost a token read about a microsecond);
  // bytes are wiped from the buffer as they are handed out. Larger requests
  // (key material) always go to randombytes_buf directly.
  void fill(void* out, std::size_t n) override {
    if (n > kSmall) {
      randombytes_buf(out, n);
      return;
    }
    Buffer& b = buffer;
    const unsigned generation = fork_generation.load(std::memory_order_relaxed);
    if (b.generation != generation) {
      sodium_memzero(b.bytes, sizeof b.bytes);
      b.used = sizeof b.bytes;
      b.generation = generation;
    }
    if (sizeof b.bytes - b.used < n) {
      randombytes_buf(b.bytes, sizeof b.bytes);
      b.used = 0;
    }
    std::memcpy(out, b.bytes + b.used, n);
    sodium_memzero(b.bytes + b.used, n);
    b.used += n;
  }

 private:
  static constexpr std::size_t kSmall = 16;
  struct Buffer {
    unsigned char bytes[512];
    std::size_t used = sizeof bytes;  // all used: filled on first use
    unsigned generation = 0;
  };
  static thread_local Buffer buffer;
};

thread_local SodiumRandom::Buffer SodiumRandom::buffer;

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

}  // namespace

std::string format_rfc3339(Timestamp t) {
  using namespace std::chrono;
  auto day = floor<days>(t);
  year_month_day ymd{day};
  hh_mm_ss<milliseconds> hms{t - day};
  const int year = int(ymd.year());
  if (year < 0 || year > 9999) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", year,
                  unsigned(ymd.month()), unsigned(ymd.day()), int(hms.hours().count()),
                  int(hms.minutes().count()), int(hms.seconds().count()),
                  int(hms.subseconds().count()));
    return buf;
  }
  // Every response and log line carries timestamps: digits by hand, not
  // through snprintf's format parser.
  std::string out = "0000-00-00T00:00:00.000Z";
  auto put = [&out](std::size_t end, unsigned value) {  // right-aligned digits ending at `end`
    for (std::size_t i = end; value != 0; --i, value /= 10) out[i] = char('0' + value % 10);
  };
  put(3, unsigned(year));
  put(6, unsigned(ymd.month()));
  put(9, unsigned(ymd.day()));
  put(12, unsigned(hms.hours().count()));
  put(15, unsigned(hms.minutes().count()));
  put(18, unsigned(hms.seconds().count()));
  put(22, unsigned(hms.subseconds().count()));
  return out;
}

std::optional<Timestamp> parse_rfc3339(std::string_view s) {
  using namespace std::chrono;
  int y, mo, d, h, mi, sec;
  if (!digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, h) ||
      s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  year_month_day ymd{year{y}, month{unsigned(mo)}, day{unsigned(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  std::size_t pos = 19;
  milliseconds frac{0};
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t start = pos;
    int ms = 0, scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      ms += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start || pos - start > 9) return std::nullopt;
    frac = milliseconds{ms};
  }
  minutes offset{0};
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = minutes{(oh * 60 + om) * (s[pos] == '-' ? -1 : 1)};
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  auto tp = sys_days{ymd} + hours{h} + minutes{mi} + seconds{std::min(sec, 59)} + frac - offset;
  return time_point_cast<milliseconds>(tp);
}

const Clock& system_clock() {
  static const SystemClock clock;
  return clock;
}

RandomSource& system_random() {
  static SodiumRandom random;
  return random;
}

std::string make_id(RandomSource& random, std::string_view prefix) {
  static constexpr char kAlphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";  // Crockford, lower
  unsigned char bytes[16];
  random.fill(bytes, sizeof bytes);
  std::string id(prefix);
  // 128 bits -> 26 base32 digits, 5 bits at a time from the most significant
  // end (the last digit carries the remaining 3 bits).
  char digits_buf[26];
  for (int i = 0; i < 26; ++i) {
    int bit = i * 5;
    unsigned v = 0;
    for (int b = 0; b < 5; ++b, ++bit) {
      v <<= 1;
      if (bit < 128) v |= (bytes[bit / 8] >> (7 - bit % 8)) & 1;
    }
    digits_buf[i] = kAlphabet[v];
  }
  id.append(digits_buf, sizeof digits_buf);
  return id;
}

}  // namespace nexus

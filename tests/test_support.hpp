// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Shared test fixtures: a controllable clock, temp directories, seed providers.
#pragma once

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "nexus/clock.hpp"

namespace nexus::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(Timestamp start = Timestamp{std::chrono::milliseconds{1'780'000'000'000}})
      : now_(start.time_since_epoch().count()) {}
  Timestamp now() const override { return Timestamp{std::chrono::milliseconds{now_.load()}}; }
  void advance(std::chrono::milliseconds d) { now_ += d.count(); }

 private:
  std::atomic<std::int64_t> now_;
};

// A fresh directory under /tmp, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "nexus-test-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline constexpr const char* kGithubSecret = "gh-client-secret-7Qx2";
inline constexpr const char* kGithubJson = R"({
  "name": "github", "auth_type": "oauth2",
  "client_id": "Iv1.abc123", "client_secret": "gh-client-secret-7Qx2",
  "auth_url": "https://github.com/login/oauth/authorize",
  "token_url": "https://github.com/login/oauth/access_token",
  "api_base_url": "https://api.github.com",
  "user_info_endpoint": "https://api.github.com/user",
  "scopes": ["repo", "read:user"],
  "description": "GitHub OAuth App", "category": "developer"
})";
inline constexpr const char* kStripeJson = R"({
  "name": "stripe", "auth_type": "api_key",
  "api_base_url": "https://api.stripe.com",
  "credential_schema": {"fields": [{"name": "secret_key", "label": "Secret Key", "sensitive": true}]},
  "description": "Stripe payments API", "category": "payments"
})";

inline boost::json::value json(const char* text) { return boost::json::parse(text); }

}  // namespace nexus::testing

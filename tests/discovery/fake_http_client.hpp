// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// An HttpClient that answers from a table: the discovery rules tested without
// a network.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "nexus/http_client.hpp"

namespace nexus::testing {

class FakeHttpClient final : public HttpClient {
 public:
  // Every later GET of `url` gets `result`. Unknown URLs answer 404.
  void on(const std::string& url, HttpResult result) {
    std::lock_guard lock(mu_);
    table_.insert_or_assign(url, std::move(result));
  }
  void on_json(const std::string& url, std::string body, int status = 200,
               std::vector<HttpHeader> headers = {}) {
    headers.push_back({"Content-Type", "application/json"});
    on(url, HttpResponse{status, std::move(headers), std::move(body)});
  }

  HttpResult get(const HttpRequest& request) override {
    std::lock_guard lock(mu_);
    requests_.push_back(request);
    if (auto it = table_.find(request.url); it != table_.end()) return it->second;
    return HttpResponse{404, {}, "not found"};
  }

  std::vector<std::string> urls() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const HttpRequest& r : requests_) out.push_back(r.url);
    return out;
  }
  std::vector<HttpRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, HttpResult> table_;  // GUARDED_BY(mu_)
  std::vector<HttpRequest> requests_;        // GUARDED_BY(mu_)
};

// Wraps another HttpClient to stand in for slow issuers without a clock:
// requests for a gated URL are held until release(); a hook runs (once)
// before a URL's next request is answered.
class GatedHttpClient final : public HttpClient {
 public:
  explicit GatedHttpClient(HttpClient& inner) : inner_(inner) {}

  // Requests for `url` after the first `pass` are held until release().
  void gate(const std::string& url, std::size_t pass = 0) {
    std::lock_guard lock(mu_);
    gates_[url] = pass;
  }
  // Lets every held request, and every later one, through.
  void release() {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }
  // Runs `f` (on the requesting thread, before answering) for the next
  // request of `url` only.
  void before(const std::string& url, std::function<void()> f) {
    std::lock_guard lock(mu_);
    hooks_[url] = std::move(f);
  }
  // Waits until `n` requests are held; false when that does not happen
  // within `timeout` (the test then fails instead of hanging).
  bool wait_held(std::size_t n, std::chrono::seconds timeout = std::chrono::seconds(60)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return held_ >= n; });
  }

  HttpResult get(const HttpRequest& request) override {
    std::function<void()> hook;
    {
      std::unique_lock lock(mu_);
      if (auto it = hooks_.find(request.url); it != hooks_.end()) {
        hook = std::move(it->second);
        hooks_.erase(it);
      }
      if (auto it = gates_.find(request.url); it != gates_.end()) {
        if (it->second > 0) {
          --it->second;
        } else if (!released_) {
          ++held_;
          cv_.notify_all();
          cv_.wait(lock, [&] { return released_; });
          --held_;
        }
      }
    }
    if (hook) hook();
    return inner_.get(request);
  }

 private:
  HttpClient& inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::size_t> gates_;            // GUARDED_BY(mu_)
  std::map<std::string, std::function<void()>> hooks_;  // GUARDED_BY(mu_)
  std::size_t held_ = 0;                                // GUARDED_BY(mu_)
  bool released_ = false;                               // GUARDED_BY(mu_)
};

// The text of tests/discovery/fixtures/<name>.
inline std::string fixture(const std::string& name) {
  std::ifstream in(std::string(NEXUS_DISCOVERY_TEST_DIR) + "/fixtures/" + name);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace nexus::testing

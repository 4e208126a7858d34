// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// An HttpClient that answers from a table: the discovery rules tested without
// a network.
#pragma once

#include <fstream>
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

// The text of tests/discovery/fixtures/<name>.
inline std::string fixture(const std::string& name) {
  std::ifstream in(std::string(NEXUS_DISCOVERY_TEST_DIR) + "/fixtures/" + name);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace nexus::testing

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// Request counters and latency histograms in the Prometheus text format.
// Recording is lock-free (relaxed atomics): it runs on every request.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace nexus::server {

struct RouteLabel {
  std::string method;
  std::string route;  // template, e.g. "/v1/providers/{name}"
};

// A Prometheus label value with backslash, quote and newline escaped.
std::string escape_label_value(std::string_view value);

class Metrics {
 public:
  // Upper bounds of the latency histogram buckets, in seconds.
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1.0,  5.0};
  // The statuses the server answers with; anything else counts as "other".
  static constexpr std::array<int, 17> kStatuses = {200, 201, 204, 400, 401, 403, 404, 405, 409,
                                                    410, 412, 413, 415, 500, 502, 503, 0};

  // One series per route; requests that matched no route are recorded under
  // an extra {method="",route="unmatched"} series.
  explicit Metrics(std::vector<RouteLabel> routes);

  // REQUIRES: -1 <= route_index < routes.size().
  void record(int route_index, int status, std::chrono::nanoseconds duration) noexcept;

  // nexus_http_requests_total and nexus_http_request_duration_seconds.
  std::string render() const;

 private:
  struct Series {
    std::array<std::atomic<std::uint64_t>, kStatuses.size()> by_status{};
    std::array<std::atomic<std::uint64_t>, kBuckets.size() + 1> buckets{};  // last: +Inf
    std::atomic<std::uint64_t> sum_ns{0};
  };
  std::vector<RouteLabel> labels_;
  std::unique_ptr<Series[]> series_;
};

}  // namespace nexus::server

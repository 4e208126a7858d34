// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "metrics.hpp"

#include <cstdio>

namespace nexus::server {
namespace {

std::string format_double(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

Metrics::Metrics(std::vector<RouteLabel> routes) : labels_(std::move(routes)) {
  labels_.push_back({"", "unmatched"});
  series_ = std::make_unique<Series[]>(labels_.size());
}

void Metrics::record(int route_index, int status, std::chrono::nanoseconds duration) noexcept {
  std::size_t i = route_index < 0 ? labels_.size() - 1 : static_cast<std::size_t>(route_index);
  if (i >= labels_.size()) i = labels_.size() - 1;
  Series& s = series_[i];
  std::size_t st = kStatuses.size() - 1;
  for (std::size_t k = 0; k + 1 < kStatuses.size(); ++k) {
    if (kStatuses[k] == status) {
      st = k;
      break;
    }
  }
  s.by_status[st].fetch_add(1, std::memory_order_relaxed);
  double seconds = std::chrono::duration<double>(duration).count();
  std::size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  s.buckets[b].fetch_add(1, std::memory_order_relaxed);
  s.sum_ns.fetch_add(static_cast<std::uint64_t>(duration.count()), std::memory_order_relaxed);
}

std::string Metrics::render() const {
  std::string out;
  out += "# HELP nexus_http_requests_total HTTP requests answered, by route and status.\n";
  out += "# TYPE nexus_http_requests_total counter\n";
  for (std::size_t i = 0; i < labels_.size(); ++i) {
    std::string labels = "method=\"" + escape_label_value(labels_[i].method) + "\",route=\"" +
                         escape_label_value(labels_[i].route) + "\"";
    for (std::size_t k = 0; k < kStatuses.size(); ++k) {
      std::uint64_t n = series_[i].by_status[k].load(std::memory_order_relaxed);
      if (n == 0) continue;
      std::string status = kStatuses[k] == 0 ? "other" : std::to_string(kStatuses[k]);
      out += "nexus_http_requests_total{" + labels + ",status=\"" + status + "\"} " +
             std::to_string(n) + "\n";
    }
  }
  out +=
      "# HELP nexus_http_request_duration_seconds Time from a request's last byte read to "
      "its response being ready.\n";
  out += "# TYPE nexus_http_request_duration_seconds histogram\n";
  for (std::size_t i = 0; i < labels_.size(); ++i) {
    std::string labels = "method=\"" + escape_label_value(labels_[i].method) + "\",route=\"" +
                         escape_label_value(labels_[i].route) + "\"";
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b <= kBuckets.size(); ++b) {
      cumulative += series_[i].buckets[b].load(std::memory_order_relaxed);
      std::string le = b < kBuckets.size() ? format_double(kBuckets[b]) : "+Inf";
      out += "nexus_http_request_duration_seconds_bucket{" + labels + ",le=\"" + le + "\"} " +
             std::to_string(cumulative) + "\n";
    }
    double sum = static_cast<double>(series_[i].sum_ns.load(std::memory_order_relaxed)) / 1e9;
    out += "nexus_http_request_duration_seconds_sum{" + labels + "} " + format_double(sum) + "\n";
    out += "nexus_http_request_duration_seconds_count{" + labels + "} " +
           std::to_string(cumulative) + "\n";
  }
  return out;
}

}  // namespace nexus::server

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "http_message.hpp"

namespace nexus::server {

std::string HttpRequest::header(std::string_view lower_name) const {
  std::string out;
  bool first = true;
  for (const auto& [name, value] : headers) {
    if (name != lower_name) continue;
    if (!first) out += ", ";
    out += value;
    first = false;
  }
  return out;
}

bool HttpRequest::has_header(std::string_view lower_name) const {
  for (const auto& h : headers) {
    if (h.first == lower_name) return true;
  }
  return false;
}

void HttpResponse::set_header(std::string name, std::string value) {
  for (auto& h : headers) {
    if (h.first == name) {
      h.second = std::move(value);
      return;
    }
  }
  headers.emplace_back(std::move(name), std::move(value));
}

const std::string* HttpResponse::find_header(std::string_view name) const {
  for (const auto& h : headers) {
    if (h.first == name) return &h.second;
  }
  return nullptr;
}

}  // namespace nexus::server

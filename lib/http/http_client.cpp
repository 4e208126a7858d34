// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// The parts of http_client.hpp that need no Beast (kept out of the slow TU).
#include "nexus/http_client.hpp"

#include <algorithm>
#include <cctype>

namespace nexus {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

}  // namespace

std::optional<std::string_view> HttpResponse::header(std::string_view name) const {
  for (const HttpHeader& h : headers) {
    if (iequals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

std::string_view to_string(HttpFailure failure) noexcept {
  switch (failure) {
    case HttpFailure::kUnreachable:
      return "unreachable";
    case HttpFailure::kTlsError:
      return "tls_error";
    case HttpFailure::kBlockedAddress:
      return "blocked_address";
    case HttpFailure::kTooLarge:
      return "too_large";
    case HttpFailure::kTimeout:
      return "timeout";
  }
  return "unreachable";
}

}  // namespace nexus

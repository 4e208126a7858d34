// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Private: the exception boundary of the library's public calls.
#pragma once

#include <exception>
#include <string>
#include <string_view>

#include "nexus/status.hpp"

namespace nexus::detail {

// Runs `body` (returning Status or Result<T>) and turns any exception into
// kInternal, "unexpected failure while trying to <operation>": no exception
// leaves a public call (registry, storage, connections).
template <typename F>
auto without_exceptions(std::string_view operation, F&& body) noexcept -> decltype(body()) {
  try {
    return body();
  } catch (...) {
    try {
      return Status(ErrorCode::kInternal,
                    "unexpected failure while trying to " + std::string(operation));
    } catch (...) {
      std::terminate();  // out of memory even for the message
    }
  }
}

}  // namespace nexus::detail

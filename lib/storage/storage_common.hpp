// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Private: what every Storage backend reports the same way.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "detail/no_throw.hpp"
#include "nexus/status.hpp"
#include "nexus/storage.hpp"

namespace nexus::detail {

// The storage URLs check_storage_url accepts: "memory:" and "sqlite:PATH".
inline constexpr std::string_view kMemoryUrl = "memory:";
inline constexpr std::string_view kSqliteScheme = "sqlite:";

inline Status provider_not_found() {
  return Status(ErrorCode::kProviderNotFound, "no provider of that name in this workspace");
}

inline Status provider_exists() {
  return Status(ErrorCode::kProviderExists,
                "a provider of that name already exists in this workspace", "name");
}

inline Status version_conflict(std::int64_t stored, std::int64_t expected) {
  return Status(ErrorCode::kVersionConflict,
                "the provider is at version " + std::to_string(stored) + ", not " +
                    std::to_string(expected) + "; read it again and retry");
}

inline Status provider_id_taken() {
  return Status(ErrorCode::kInternal, "a provider with the same id already exists");
}

inline Status connection_not_found() {
  return Status(ErrorCode::kNotFound, "no connection with that id in this workspace", "id");
}

// Calls an async Storage method's completion with `status`. `done` must
// not throw; if it does, the exception stops here: none leaves a Storage
// method.
inline void complete(const std::function<void(Status)>& done, Status status) noexcept {
  try {
    done(std::move(status));
  } catch (...) {
  }
}

// What a credential read needs of `p` (ConnectionRead::provider).
inline ProviderBrief provider_brief(const Provider& p) {
  return ProviderBrief{.id = p.id,
                       .name = p.spec.name,
                       .auth_type = p.spec.auth_type,
                       .api_base_url = p.spec.api_base_url};
}

inline Status connection_id_taken() {
  return Status(ErrorCode::kInternal, "a connection with the same id already exists");
}

// Event ids are not checked for uniqueness: they are random (make_id), and
// keeping them unique would cost an index of random order on every append.
// An event without one is refused: it could not be told apart in an export.
inline Status audit_event_without_id() {
  return Status(ErrorCode::kInternal, "an audit event needs an id");
}

}  // namespace nexus::detail

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/status.hpp"

namespace nexus {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kOk: return "ok";
    case ErrorCode::kInvalidJson: return "invalid_json";
    case ErrorCode::kValidationFailed: return "validation_failed";
    case ErrorCode::kUnauthorized: return "unauthorized";
    case ErrorCode::kForbidden: return "forbidden";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kProviderNotFound: return "provider_not_found";
    case ErrorCode::kMethodNotAllowed: return "method_not_allowed";
    case ErrorCode::kProviderExists: return "provider_exists";
    case ErrorCode::kVersionConflict: return "version_conflict";
    case ErrorCode::kPayloadTooLarge: return "payload_too_large";
    case ErrorCode::kUnsupportedMediaType: return "unsupported_media_type";
    case ErrorCode::kInternal: return "internal";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kDiscoveryFailed: return "discovery_failed";
    case ErrorCode::kProviderDeleted: return "provider_deleted";
    case ErrorCode::kCredentialUnreadable: return "credential_unreadable";
  }
  return "internal";
}

}  // namespace nexus

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// Status and Result<T>: how every public Nexus call reports success or failure.
// No exception crosses the public API; a call either yields a value or a
// Status naming a fixed error code, a message a user can act on, and (when one
// input is to blame) the field that caused it.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace nexus {

// The fixed set of error codes. Each has one snake_case API spelling
// (to_string) and one HTTP status in the server's mapping table.
enum class ErrorCode {
  kOk,
  kInvalidJson,            // body is not JSON, or nested too deep
  kValidationFailed,       // input understood but not acceptable
  kUnauthorized,           // no or unknown API key
  kForbidden,              // key valid but its role may not do this
  kNotFound,               // generic: route or object absent
  kProviderNotFound,       // no provider of that name in the workspace
  kMethodNotAllowed,       // route exists, method does not
  kProviderExists,         // name already taken in the workspace
  kVersionConflict,        // expected_version / If-Match did not match
  kPayloadTooLarge,        // body over the configured limit
  kUnsupportedMediaType,   // body is not application/json
  kInternal,               // a bug or a storage failure; details are logged, not returned
  kUnavailable,            // storage unreachable or busy beyond the timeout
  kDiscoveryFailed,        // an issuer's metadata could not be fetched or validated (HTTP 502)
  kProviderDeleted,        // the connection's provider was deleted; its credentials are gone
  kCredentialUnreadable,   // a sealed value failed to open: tampered, moved, or key missing
};

// The API spelling of `code`, e.g. "provider_exists".
std::string_view to_string(ErrorCode code) noexcept;

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(ErrorCode code, std::string message, std::string field = {})
      : code_(code), message_(std::move(message)), field_(std::move(field)) {}

  static Status Ok() { return Status(); }

  bool ok() const noexcept { return code_ == ErrorCode::kOk; }
  ErrorCode code() const noexcept { return code_; }
  // One sentence a user can act on. Never contains a secret value.
  const std::string& message() const noexcept { return message_; }
  // The input field to blame ("client_id", "credential_schema.fields[1].name"),
  // or empty when no single field is.
  const std::string& field() const noexcept { return field_; }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
  std::string field_;
};

// Either a T or a non-OK Status. REQUIRES: a Result is never built from an OK
// Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const noexcept { return std::holds_alternative<T>(v_); }
  explicit operator bool() const noexcept { return ok(); }

  // REQUIRES: ok().
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // The error; an OK Status when ok().
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace nexus

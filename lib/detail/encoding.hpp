// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Private: byte encodings shared across the library.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nexus::detail {

// Lower-case hex of `bytes`.
std::string to_hex(std::string_view bytes);

// Base64url without padding (RFC 4648 §5).
std::string base64url_encode(std::string_view bytes);
// nullopt on any character outside the alphabet or an impossible length.
std::optional<std::string> base64url_decode(std::string_view text);

// Opaque page cursors: `kind` tags what the cursor continues, so a cursor of
// one list is refused by another. decode returns nullopt for anything that
// encode did not produce with the same kind.
std::string encode_cursor(std::string_view kind, std::string_view position);
std::optional<std::string> decode_cursor(std::string_view kind, std::string_view cursor);

}  // namespace nexus::detail

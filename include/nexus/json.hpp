// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// Strict JSON text parsing: the one parser the server and host applications
// use for bodies they receive, so both refuse the same inputs.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "nexus/status.hpp"

namespace nexus {

// How deep arrays and objects may nest in a body (`{}` is depth 1). Deeper
// input is refused before it is read, so no recursive walk over it can exhaust
// the stack.
inline constexpr std::size_t kMaxJsonDepth = 32;

struct JsonParseOptions {
  // 1 and up; 0 means kMaxJsonDepth.
  std::size_t max_depth = kMaxJsonDepth;
};

// Parses exactly one JSON text (RFC 8259): standard JSON only (no comments, no
// trailing commas), valid UTF-8, nothing but whitespace after the value.
// Fails with kInvalidJson, with a message a caller can act on, when the text
// is empty or not JSON, nests deeper than options.max_depth, or an object has
// the same member name twice: RFC 8259 leaves such an object's meaning to the
// parser (last one wins, first one wins, or an error), so Nexus refuses it
// rather than guess; that error's field is the repeated name (its first 64
// bytes). Never throws: an unexpected failure (out of memory) is kInternal.
Result<boost::json::value> parse_json(std::string_view text, const JsonParseOptions& options = {});

// How deep `value` nests (a scalar 0, `[]` and `{}` 1), counting no further
// than `limit` + 1: a value built in code can be checked against a limit
// without walking all of it. Iterative: any depth is safe.
std::size_t json_depth(const boost::json::value& value, std::size_t limit = kMaxJsonDepth);

// `s` with every byte that is not part of a well-formed UTF-8 sequence
// (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF)
// replaced by U+FFFD: for text from outside (a header, a host's
// RequestContext) shown in JSON, which must be UTF-8.
std::string valid_utf8(std::string_view s);
// Whether `s` is well-formed UTF-8 as valid_utf8 defines it.
bool is_valid_utf8(std::string_view s) noexcept;

}  // namespace nexus

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/json.hpp"

#include <algorithm>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value_stack.hpp>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace nexus {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxNameInError = 64;

// boost::json::parser's handler (it builds the value on a value_stack), plus
// the member names of every open object, so a repeated name is refused where
// it occurs instead of silently replacing the first.
class StrictHandler {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  json::value_stack st;
  std::optional<std::string> duplicate;  // the repeated member name, once found

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    // Sets of closed objects are kept for reuse: one allocation per depth.
    if (open_ == names_.size()) names_.emplace_back();
    names_[open_++].clear();
    return true;
  }
  bool on_object_end(std::size_t n, json::error_code&) {
    --open_;
    st.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    st.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    st.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    key_.append(s.data(), s.size());
    if (!names_[open_ - 1].insert(key_).second) {
      duplicate = std::move(key_);
      ec = json::error::syntax;  // any error stops the parser; `duplicate` says which
      return false;
    }
    key_.clear();
    st.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    st.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    st.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    st.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view, json::error_code&) {
    st.push_double(d);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    st.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    st.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  std::vector<std::unordered_set<std::string>> names_;  // [0, open_) are in use
  std::size_t open_ = 0;
  std::string key_;  // the member name being read
};

Status invalid_json(std::string message, std::string field = {}) {
  return Status(ErrorCode::kInvalidJson, std::move(message), std::move(field));
}

Result<json::value> parse_strict(std::string_view text, std::size_t max_depth) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return invalid_json("the JSON text is empty; send a JSON value");
  }
  json::parse_options po;  // standard JSON only
  po.max_depth = max_depth;
  json::basic_parser<StrictHandler> parser(po);
  parser.handler().st.reset();
  json::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && used < text.size()) ec = json::error::extra_data;
  if (parser.handler().duplicate) {
    const std::string& name = *parser.handler().duplicate;
    const std::string shown = name.substr(0, kMaxNameInError);
    return invalid_json(
        "an object has the member \"" + shown + "\" more than once; send each member once", shown);
  }
  if (ec == json::error::too_deep) {
    return invalid_json("the JSON text nests deeper than " + std::to_string(max_depth) + " levels");
  }
  if (ec) return invalid_json("the text is not valid JSON (" + ec.message() + ")");
  return parser.handler().st.release();
}

}  // namespace

Result<json::value> parse_json(std::string_view text, const JsonParseOptions& options) {
  const std::size_t max_depth = options.max_depth == 0 ? kMaxJsonDepth : options.max_depth;
  try {
    return parse_strict(text, max_depth);
  } catch (...) {
    return Status(ErrorCode::kInternal, "unexpected failure while parsing JSON");
  }
}

std::size_t json_depth(const json::value& value, std::size_t limit) {
  std::size_t deepest = 0;
  std::vector<std::pair<const json::value*, std::size_t>> todo{{&value, 0}};
  while (!todo.empty()) {
    const auto [v, above] = todo.back();
    todo.pop_back();
    const std::size_t depth = above + 1;
    if (const json::array* array = v->if_array()) {
      if (depth > limit) return limit + 1;
      deepest = std::max(deepest, depth);
      for (const json::value& item : *array) todo.emplace_back(&item, depth);
    } else if (const json::object* object = v->if_object()) {
      if (depth > limit) return limit + 1;
      deepest = std::max(deepest, depth);
      for (const json::key_value_pair& member : *object) todo.emplace_back(&member.value(), depth);
    }
  }
  return deepest;
}

namespace {

// The length of the well-formed UTF-8 sequence at the start of `s`, or 0.
std::size_t sequence_length(std::string_view s) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto continuation = [&](std::size_t i) { return i < s.size() && (byte(i) & 0xC0) == 0x80; };
  unsigned char b = byte(0);
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return continuation(1) ? 2 : 0;
  if (b >= 0xE0 && b <= 0xEF) {
    if (!continuation(1) || !continuation(2)) return 0;
    if (b == 0xE0 && byte(1) < 0xA0) return 0;  // overlong
    if (b == 0xED && byte(1) > 0x9F) return 0;  // surrogate
    return 3;
  }
  if (b >= 0xF0 && b <= 0xF4) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
    if (b == 0xF0 && byte(1) < 0x90) return 0;  // overlong
    if (b == 0xF4 && byte(1) > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

bool is_valid_utf8(std::string_view s) noexcept {
  while (!s.empty()) {
    std::size_t n = sequence_length(s);
    if (n == 0) return false;
    s.remove_prefix(n);
  }
  return true;
}

std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    std::size_t n = sequence_length(s);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      n = 1;
    } else {
      out.append(s.substr(0, n));
    }
    s.remove_prefix(n);
  }
  return out;
}

}  // namespace nexus

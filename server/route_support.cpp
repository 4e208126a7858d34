// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "route_support.hpp"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <charconv>

#include "nexus/json.hpp"
#include "nexus/keys.hpp"
#include "text.hpp"

namespace nexus::server {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

HttpResponse json_response(int status, const boost::json::value& body) {
  HttpResponse r;
  r.status = status;
  r.body = boost::json::serialize(body);
  r.headers.emplace_back("Content-Type", "application/json");
  return r;
}

void wipe_strings(boost::json::value& v) noexcept {
  if (auto* s = v.if_string()) {
    wipe_bytes(s->data(), s->size());
  } else if (auto* o = v.if_object()) {
    wipe_strings(*o);
  } else if (auto* a = v.if_array()) {
    for (auto& item : *a) wipe_strings(item);
  }
}

void wipe_strings(boost::json::object& o) noexcept {
  for (auto& member : o) wipe_strings(member.value());
}

HttpResponse error_response(ErrorCode code, std::string message, std::string field) {
  return error_response(Status(code, std::move(message), std::move(field)));
}

Result<boost::json::value> parse_json_body(const Exchange& ex, const RouterOptions& options,
                                           std::initializer_list<std::string_view> extra) {
  const HttpRequest& req = ex.request;
  std::string content_type = req.header("content-type");
  std::string_view media = trim(std::string_view(content_type).substr(0, content_type.find(';')));
  bool accepted = iequals(media, "application/json");
  for (auto m : extra) accepted = accepted || iequals(media, m);
  if (!accepted) {
    return Status(ErrorCode::kUnsupportedMediaType,
                  "send the body with Content-Type: application/json", "Content-Type");
  }
  std::string encoding = req.header("content-encoding");
  if (!trim(encoding).empty() && !iequals(trim(encoding), "identity")) {
    return Status(ErrorCode::kUnsupportedMediaType,
                  "Content-Encoding is not supported; send the body uncompressed",
                  "Content-Encoding");
  }
  if (req.body.empty()) {
    return Status(ErrorCode::kInvalidJson, "the request body is empty; send a JSON object");
  }
  return parse_json(req.body, {.max_depth = options.json_max_depth});
}

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = hex_value(text[i + 1]);
      int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Status check_query(const Exchange& ex, std::initializer_list<std::string_view> allowed) {
  if (ex.query_error) {
    return Status(ErrorCode::kValidationFailed, "the query string is not validly percent-encoded",
                  *ex.query_error);
  }
  for (std::size_t i = 0; i < ex.query.size(); ++i) {
    const auto& [name, value] = ex.query[i];
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return Status(ErrorCode::kValidationFailed,
                    allowed.size() == 0 ? "this route takes no query parameters"
                                        : "unknown query parameter; see docs/openapi.yaml",
                    name.substr(0, 64));
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (ex.query[j].first == name) {
        return Status(ErrorCode::kValidationFailed, "the parameter is given more than once", name);
      }
    }
    if (value.empty()) {
      return Status(ErrorCode::kValidationFailed, "the parameter has an empty value", name);
    }
  }
  return Status::Ok();
}

std::optional<std::string> query_param(const Exchange& ex, std::string_view name) {
  for (const auto& [n, v] : ex.query) {
    if (n == name) return v;
  }
  return std::nullopt;
}

Result<std::size_t> limit_param(const Exchange& ex) {
  auto text = query_param(ex, "limit");
  if (!text) return std::size_t{0};
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
  if (ec != std::errc() || end != text->data() + text->size() || n == 0) {
    return Status(ErrorCode::kValidationFailed, "limit must be a positive integer", "limit");
  }
  return n;
}

std::string next_link(const Exchange& ex, std::string_view cursor) {
  std::string link = "<" + std::string(ex.path) + "?";
  bool first = true;
  auto add = [&](std::string_view name, std::string_view value) {
    if (!first) link += '&';
    first = false;
    link += percent_encode(name);
    link += '=';
    link += percent_encode(value);
  };
  for (const auto& [name, value] : ex.query) {
    if (name != "cursor") add(name, value);
  }
  add("cursor", cursor);
  link += ">; rel=\"next\"";
  return link;
}

std::string etag(std::int64_t version) { return "\"v" + std::to_string(version) + "\""; }

std::optional<std::vector<std::int64_t>> if_match_versions(const HttpRequest& request) {
  if (!request.has_header("if-match")) return std::nullopt;
  std::string value = request.header("if-match");
  if (trim(value) == "*") return std::nullopt;
  std::vector<std::int64_t> versions;
  std::string_view rest = value;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view tag = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    // Strong comparison (RFC 9110 §13.1.1): a weak tag never matches.
    if (tag.size() < 4 || tag.front() != '"' || tag.back() != '"' || tag[1] != 'v') continue;
    std::string_view digits = tag.substr(2, tag.size() - 3);
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec == std::errc() && end == digits.data() + digits.size() && v > 0 &&
        digits.front() != '0') {
      versions.push_back(v);
    }
  }
  return versions;
}

}  // namespace nexus::server

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "router.hpp"

#include <atomic>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <utility>

#include "log.hpp"
#include "nexus/json.hpp"
#include "route_support.hpp"
#include "text.hpp"

namespace nexus::server {
namespace {

struct RouteEntry {
  RouteInfo info;
  RouteHandler handler = nullptr;
  AsyncRouteHandler async_handler = nullptr;  // instead of `handler` (RouteInfo::async)
};

// Matching order: a literal segment wins over a {parameter} for the same
// method ("GET /v1/providers/metadata" before "GET /v1/providers/{name}").
// Every route that writes storage runs on the blocking pool (a locked
// database holds its thread up to the busy timeout), as do those that may
// discover; reads stay on the I/O threads. The token route's only write is
// its audit event, appended without a thread waiting for it: it is async.
const std::vector<RouteEntry>& route_entries() {
  using P = Permission;
  static const std::vector<RouteEntry> entries = [] {
    std::vector<RouteEntry> routes = {
        {{"GET", "/healthz", std::nullopt}, healthz},
        {{"GET", "/readyz", std::nullopt}, readyz},
        {{"GET", "/metrics", P::kReadMetrics}, metrics_text},
        {{"POST", "/v1/providers", P::kWriteProviders, true, true}, create_provider},
        {{"GET", "/v1/providers", P::kReadProviders}, list_providers},
        {{"GET", "/v1/providers/metadata", P::kReadProviders}, provider_metadata},
        {{"GET", "/v1/providers/{name}", P::kReadProviders}, get_provider},
        {{"PATCH", "/v1/providers/{name}", P::kWriteProviders, true, true}, patch_provider},
        {{"DELETE", "/v1/providers/{name}", P::kWriteProviders, true}, delete_provider},
        {{"POST", "/v1/providers/{name}/discover", P::kWriteProviders, true},
         refresh_provider_discovery},
        {{"POST", "/v1/connections", P::kWriteConnections, true, true}, create_connection},
        {{"GET", "/v1/connections", P::kReadConnections}, list_connections},
        {{"GET", "/v1/connections/{id}", P::kReadConnections}, get_connection},
        {{"DELETE", "/v1/connections/{id}", P::kWriteConnections, true}, delete_connection},
        // Reading a token audits it: a write, queued for the storage's writer.
        {{"GET", "/v1/token/{id}", P::kReadCredentials, false, false, true},
         nullptr,
         connection_token},
        {{"GET", "/v1/audit", P::kReadAudit}, query_audit},
        {{"GET", "/v1/audit/verify", P::kReadAudit}, verify_audit},
    };
    for (RouteEntry& e : routes) e.info.async = e.async_handler != nullptr;
    return routes;
  }();
  return entries;
}

constexpr std::string_view kApiPrefix = "/v1/";
constexpr std::size_t kMaxRequestIdLength = 128;
constexpr std::size_t kMaxLoggedMethod = 16;
constexpr std::string_view kInternalMessage =
    "the server failed to handle the request; the request id identifies it in the server log";

// Matches `path` against `pattern`; on success `param` holds the raw
// {parameter} segment, if any.
bool match(std::string_view pattern, std::string_view path, std::string_view& param) {
  while (!pattern.empty() && !path.empty()) {
    if (pattern.front() != '/' || path.front() != '/') return false;
    pattern.remove_prefix(1);
    path.remove_prefix(1);
    std::string_view pseg = pattern.substr(0, pattern.find('/'));
    std::string_view seg = path.substr(0, path.find('/'));
    if (pseg.size() > 1 && pseg.front() == '{') {
      if (seg.empty()) return false;
      param = seg;
    } else if (pseg != seg) {
      return false;
    }
    pattern.remove_prefix(pseg.size());
    path.remove_prefix(seg.size());
  }
  return pattern.empty() && path.empty();
}

// "req_" + a random per-process prefix + a counter: unique without a system
// call per request (request ids correlate logs; they are not secrets).
std::string new_request_id() {
  static const std::string prefix = make_id(system_random(), "req_").substr(0, 14);
  static std::atomic<std::uint64_t> counter{0};
  char digits[17];
  std::snprintf(digits, sizeof digits, "%016llx",
                static_cast<unsigned long long>(counter.fetch_add(1, std::memory_order_relaxed)));
  return prefix + digits;
}

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

void parse_query(std::string_view query, Exchange& ex) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto name = percent_decode(pair.substr(0, eq), true);
    auto value = percent_decode(
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
    if (!name || !value) {
      if (!ex.query_error) ex.query_error = name ? *name : std::string("query");
      continue;
    }
    ex.query.emplace_back(std::move(*name), std::move(*value));
  }
}

// Whether `route` serves `method`. HEAD is answered as GET (RFC 9110
// §9.3.2), except where GET hands out credentials: there the read would be
// made and audited for a body never sent, so HEAD is not allowed (405).
bool serves(const RouteInfo& route, std::string_view method) {
  if (method == "HEAD") return route.method == "GET" && !route.secret_response;
  return route.method == method;
}

// The index of the route `method` `path` matches, or -1.
int find_route(std::string_view method, std::string_view path, std::string_view& param) {
  const auto& entries = route_entries();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (serves(entries[i].info, method) && match(entries[i].info.path, path, param)) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

// What every response carries for the access log, and its X-Request-Id.
void stamp(HttpResponse& response, std::string request_id, std::string caller_ip) {
  response.request_id = std::move(request_id);
  response.caller_ip = std::move(caller_ip);
  response.set_header("X-Request-Id", response.request_id);
}

std::vector<RouteLabel> route_labels() {
  std::vector<RouteLabel> labels;
  for (const auto& e : route_entries()) {
    labels.push_back({std::string(e.info.method), std::string(e.info.path)});
  }
  return labels;
}

}  // namespace

int http_status(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kOk:
      return 200;
    case ErrorCode::kInvalidJson:
      return 400;
    case ErrorCode::kValidationFailed:
      return 400;
    case ErrorCode::kUnauthorized:
      return 401;
    case ErrorCode::kForbidden:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kProviderNotFound:
      return 404;
    case ErrorCode::kMethodNotAllowed:
      return 405;
    case ErrorCode::kProviderExists:
      return 409;
    case ErrorCode::kVersionConflict:
      return 412;
    case ErrorCode::kPayloadTooLarge:
      return 413;
    case ErrorCode::kUnsupportedMediaType:
      return 415;
    case ErrorCode::kInternal:
      return 500;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kDiscoveryFailed:
      return 502;
    case ErrorCode::kProviderDeleted:
      return 410;
    case ErrorCode::kCredentialUnreadable:
      return 500;
  }
  return 500;
}

HttpResponse error_response(const Status& status) {
  ErrorCode code = status.ok() ? ErrorCode::kInternal : status.code();
  boost::json::object body;
  body["code"] = to_string(code);
  if (code == ErrorCode::kInternal) {
    body["message"] = kInternalMessage;
  } else {
    // Messages and fields may quote the request (a name, a parameter),
    // which need not be UTF-8; JSON must be.
    body["message"] = valid_utf8(status.message());
    if (!status.field().empty()) body["field"] = valid_utf8(status.field());
  }
  HttpResponse r = json_response(http_status(code), body);
  if (code == ErrorCode::kInternal || code == ErrorCode::kUnavailable) {
    r.log_error = status.message();
  }
  return r;
}

Router::Router(RouterServices services, RouterOptions options)
    : services_(services), options_(std::move(options)), metrics_(route_labels()) {
  if (!options_.log_sink) options_.log_sink = write_log_line;
}

const RouteInfo* Router::route_for(std::string_view method, std::string_view target) {
  std::string_view param;
  int i = find_route(method, target.substr(0, target.find('?')), param);
  return i < 0 ? nullptr : &route_entries()[static_cast<std::size_t>(i)].info;
}

const std::vector<RouteInfo>& Router::routes() {
  static const std::vector<RouteInfo> infos = [] {
    std::vector<RouteInfo> out;
    for (const auto& e : route_entries()) out.push_back(e.info);
    return out;
  }();
  return infos;
}

HttpResponse Router::reject(const Status& status, const HttpRequest& partial) const {
  HttpResponse r = error_response(status);
  r.request_id = new_request_id();
  r.set_header("X-Request-Id", r.request_id);
  r.caller_ip = resolve_caller_ip(partial.peer_ip, partial.header("x-forwarded-for"),
                                  options_.trusted_proxies);
  return r;
}

void Router::closed(const HttpRequest& partial, int status, std::string_view reason) const {
  HttpResponse r;
  r.status = status;
  r.request_id = new_request_id();
  r.caller_ip = resolve_caller_ip(partial.peer_ip, partial.header("x-forwarded-for"),
                                  options_.trusted_proxies);
  r.log_error = reason;
  write_access_log(partial, r, std::chrono::nanoseconds(0), true);
}

HttpResponse Router::handle(const HttpRequest& request) const {
  struct Waiter {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<HttpResponse> response;  // GUARDED_BY(mu)
  } waiter;
  ResponseCallback done = [&waiter](HttpResponse r) {
    std::lock_guard lock(waiter.mu);
    waiter.response = std::move(r);
    waiter.cv.notify_one();  // with mu held: `waiter` outlives the call
  };
  if (std::optional<HttpResponse> now = respond(request, done)) return std::move(*now);
  std::unique_lock lock(waiter.mu);
  waiter.cv.wait(lock, [&] { return waiter.response.has_value(); });
  return std::move(*waiter.response);
}

void Router::handle_async(const HttpRequest& request, ResponseCallback done) const {
  std::optional<HttpResponse> now = respond(request, done);
  // `done` is empty only if an async route took it and then ran out of
  // memory before its handler started: nothing is left to answer with.
  if (now && done) done(std::move(*now));
}

std::optional<HttpResponse> Router::respond(const HttpRequest& request,
                                            ResponseCallback& done) const {
  std::string request_id = request.header("x-request-id");
  if (!valid_request_id(request_id)) request_id = new_request_id();
  std::string caller_ip = resolve_caller_ip(request.peer_ip, request.header("x-forwarded-for"),
                                            options_.trusted_proxies);
  HttpResponse response;
  try {
    // An async route answers through `done`, stamped there the same way.
    std::optional<HttpResponse> now = dispatch(request, caller_ip, done, request_id);
    if (!now) return std::nullopt;
    response = std::move(*now);
  } catch (const std::exception& e) {
    response = error_response(Status(ErrorCode::kInternal, e.what()));
  } catch (...) {
    response = error_response(Status(ErrorCode::kInternal, "unknown exception"));
  }
  stamp(response, std::move(request_id), std::move(caller_ip));
  return response;
}

std::optional<HttpResponse> Router::dispatch(const HttpRequest& request,
                                             const std::string& caller_ip, ResponseCallback& done,
                                             const std::string& request_id) const {
  std::string_view target = request.target;
  std::string_view path = target.substr(0, target.find('?'));
  Exchange ex{
      .request = request, .path = path, .query = {}, .query_error = {}, .name = {}, .ctx = {}};
  if (path.size() < target.size()) parse_query(target.substr(path.size() + 1), ex);

  const auto& entries = route_entries();
  int index = -1;
  std::string_view param;
  std::string allow;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    std::string_view p;
    if (!match(entries[i].info.path, path, p)) continue;
    if (serves(entries[i].info, request.method)) {
      if (index < 0) {
        index = static_cast<int>(i);
        param = p;
      }
    } else if (allow.find(entries[i].info.method) == std::string::npos) {
      if (!allow.empty()) allow += ", ";
      allow += entries[i].info.method;
      if (serves(entries[i].info, "HEAD")) allow += ", HEAD";
    }
  }

  // Every /v1 path needs a key, matched or not: without one, the answer is
  // 401 whatever the route, so the API's shape stays hidden. So does every
  // route with a permission outside /v1 (/metrics).
  std::optional<Caller> caller;
  const bool needs_key = path.substr(0, kApiPrefix.size()) == kApiPrefix ||
                         (index >= 0 && entries[index].info.permission);
  if (needs_key) {
    std::string key = request.header("x-api-key");
    Result<Caller> c = services_.keys->authenticate(key);
    wipe(key);
    if (!c.ok()) {
      HttpResponse r = error_response(c.status());
      r.route_index = index;
      return r;
    }
    caller = std::move(c).value();
  }

  HttpResponse response;
  if (index < 0 && !allow.empty()) {
    response = error_response(ErrorCode::kMethodNotAllowed,
                              "this route does not support the method; use " + allow);
    response.set_header("Allow", allow);
  } else if (index < 0) {
    response = error_response(ErrorCode::kNotFound, "no such route; see docs/openapi.yaml");
  } else if (const RouteEntry& route = entries[index];
             route.info.permission &&
             (!caller || !role_allows(caller->role, *route.info.permission))) {
    response = error_response(ErrorCode::kForbidden,
                              "this API key's role (" +
                                  std::string(caller ? to_string(caller->role) : "none") +
                                  ") may not do this");
  } else if (auto name = percent_decode(param, false); !name || !is_valid_utf8(*name)) {
    // Names and ids are UTF-8 (ASCII, in fact): other bytes name nothing,
    // and must not reach the library's messages or audit events.
    response = error_response(ErrorCode::kNotFound, "no such route; see docs/openapi.yaml");
  } else {
    ex.name = std::move(*name);
    if (caller) {
      ex.ctx.workspace = caller->workspace;
      ex.ctx.actor = caller->key_id;
    }
    ex.ctx.caller_ip = caller_ip;
    // Audited and shown back as JSON: UTF-8 only.
    ex.ctx.user_agent =
        valid_utf8(request.header("user-agent").substr(0, options_.max_user_agent_length));
    RouteDeps deps{services_, options_, metrics_};
    if (route.async_handler != nullptr) {
      // Everything the answer needs, by value: it may come after this returns.
      route.async_handler(
          deps, ex,
          [done = std::move(done), index, request_id, caller_ip,
           key_id = caller ? caller->key_id : std::string()](HttpResponse r) mutable {
            r.route_index = index;
            r.key_id = std::move(key_id);
            stamp(r, std::move(request_id), std::move(caller_ip));
            done(std::move(r));
          });
      return std::nullopt;
    }
    response = route.handler(deps, ex);
  }
  response.route_index = index;
  if (caller) response.key_id = caller->key_id;
  return response;
}

void Router::finish(const HttpRequest& request, const HttpResponse& response,
                    std::chrono::nanoseconds duration) const {
  write_access_log(request, response, duration, false);
}

void Router::write_access_log(const HttpRequest& request, const HttpResponse& response,
                              std::chrono::nanoseconds duration, bool closed) const {
  metrics_.record(response.route_index, response.status, duration);
  try {
    const auto& entries = route_entries();
    bool matched = response.route_index >= 0 &&
                   static_cast<std::size_t>(response.route_index) < entries.size();
    boost::json::object line;
    line["time"] = format_rfc3339(system_clock().now());
    line["level"] = response.status >= 500 ? "error" : "info";
    line["msg"] = "request";
    line["request_id"] = response.request_id;
    // Only what a token of the HTTP grammar allows, and not much of it: the
    // method of a malformed request is untrusted text.
    std::string_view method = std::string_view(request.method).substr(0, kMaxLoggedMethod);
    bool printable = true;
    for (char c : method) printable = printable && c > 0x20 && c < 0x7f;
    line["method"] = printable ? method : std::string_view("?");
    line["route"] = matched ? entries[response.route_index].info.path : "unmatched";
    line["status"] = response.status;
    line["duration_us"] = std::chrono::duration_cast<std::chrono::microseconds>(duration).count();
    if (!response.caller_ip.empty()) {
      line["caller_ip"] = response.caller_ip;
    } else if (!request.peer_ip.empty()) {
      line["caller_ip"] = request.peer_ip;
    }
    if (!response.key_id.empty()) line["key_id"] = response.key_id;
    if (closed) line["closed"] = true;
    if (!response.log_error.empty()) line["error"] = valid_utf8(response.log_error);
    options_.log_sink(boost::json::serialize(line));
  } catch (...) {
    // Losing a log line must not fail the request.
  }
}

}  // namespace nexus::server

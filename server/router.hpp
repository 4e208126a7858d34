// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// The router: a pure function from a parsed HTTP request to a response. It
// authenticates the caller (KeyService), matches a route, calls one library
// function and renders the result; it holds no provider rules. No Beast or
// Asio: tests drive it without sockets.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http_message.hpp"
#include "metrics.hpp"
#include "net.hpp"
#include "nexus/audit.hpp"
#include "nexus/connections.hpp"
#include "nexus/keys.hpp"
#include "nexus/registry.hpp"
#include "nexus/status.hpp"
#include "nexus/storage.hpp"

namespace nexus::server {

struct RouterOptions {
  // Proxies whose X-Forwarded-For is believed for the caller IP.
  std::vector<Cidr> trusted_proxies;
  // Deepest JSON nesting a body may have.
  std::size_t json_max_depth = 32;
  // Longest User-Agent kept for the audit log.
  std::size_t max_user_agent_length = 256;
  // Where the access log goes, one JSON object per line. Default: stdout.
  std::function<void(std::string_view line)> log_sink;
};

// What the router calls. Every pointer is required and must outlive the
// router.
struct RouterServices {
  ProviderRegistry* registry = nullptr;
  ConnectionService* connections = nullptr;
  AuditLog* audit = nullptr;
  KeyService* keys = nullptr;
  Storage* storage = nullptr;
};

// One entry of the route table, as documented in docs/openapi.yaml.
struct RouteInfo {
  std::string_view method;
  std::string_view path;  // template: "/v1/providers/{name}"
  // nullopt: public (no X-API-Key); else the permission the caller's role
  // must carry.
  std::optional<Permission> permission;
  // The handler writes storage (and may wait on its lock, up to the busy
  // timeout) or may wait on a third party (OpenID discovery, up to the HTTP
  // client's timeout): the server runs it on its blocking pool, never on an
  // I/O thread.
  bool blocking = false;
  // The request body may carry a secret (client_secret, credentials): the
  // server wipes the body and its read buffer once the request is handled.
  bool secret_request = false;
  // The response body carries credentials: the server wipes it once written.
  bool secret_response = false;
  // The handler answers later, from another thread: it queues its work for
  // the storage's writer thread without a thread waiting for it (GET
  // /v1/token/{id}, whose read and audit event the writer runs in one
  // transaction). The server runs it on the I/O thread (it only queues,
  // never waits) through Router::handle_async, and sends the answer once it
  // completes.
  bool async = false;
};

// The HTTP status of each library error code: the server's one mapping table.
int http_status(ErrorCode code) noexcept;

// An error response: {"code", "message", "field"?}. For kInternal the message
// is replaced by a generic one (the original goes to the log only).
HttpResponse error_response(const Status& status);

// Receives the response of Router::handle_async.
using ResponseCallback = std::function<void(HttpResponse)>;

class Router {
 public:
  Router(RouterServices services, RouterOptions options);

  // Thread-safe. Never throws; an unexpected exception becomes a 500. HEAD is
  // answered as GET, body included: the socket layer sends the headers only
  // (with the GET body's Content-Length). For an async route
  // (RouteInfo::async) this waits for its completion: for tests, tools and
  // hosts without an event loop.
  HttpResponse handle(const HttpRequest& request) const;

  // handle() without waiting: `done` gets the response exactly once. For
  // every route but an async one it is called on this thread before
  // return; an async route's may come later, from another thread (the
  // storage's writer thread), so `done` must be cheap and thread-safe, must
  // not throw, and should hand the response to the caller's own thread.
  // `request` need only live until this returns. Thread-safe; never throws.
  void handle_async(const HttpRequest& request, ResponseCallback done) const;

  // Records `response` in the metrics and writes its access log line.
  void finish(const HttpRequest& request, const HttpResponse& response,
              std::chrono::nanoseconds duration) const;

  // An error answered before a request reached handle() (body or headers too
  // large, server full): a request id is generated and the response is ready
  // to send. `partial` holds what was read of the request (method, target,
  // peer, headers; any may be empty); it is logged with route "unmatched".
  HttpResponse reject(const Status& status, const HttpRequest& partial) const;

  // A request that is not answered: malformed HTTP, or a client too slow to
  // send it within the read timeout. Its connection is closed; this records
  // `status` (400 or 408) in the metrics and writes one access log line with
  // route "unmatched", "closed": true and `reason`.
  void closed(const HttpRequest& partial, int status, std::string_view reason) const;

  // The route table, in matching order. HEAD is served wherever GET is,
  // without entries of its own.
  static const std::vector<RouteInfo>& routes();

  // The route `method` `target` matches (HEAD matches GET routes), or null.
  // Thread-safe; does not authenticate or parse anything else.
  static const RouteInfo* route_for(std::string_view method, std::string_view target);

  const Metrics& metrics() const noexcept { return metrics_; }

 private:
  // The response, or nullopt when an async route took `done` and answers
  // through it. `done` is moved from only then.
  std::optional<HttpResponse> respond(const HttpRequest& request, ResponseCallback& done) const;
  // As respond(), before the request id and caller IP are stamped (an async
  // route's answer is stamped with them when it completes).
  std::optional<HttpResponse> dispatch(const HttpRequest& request, const std::string& caller_ip,
                                       ResponseCallback& done, const std::string& request_id) const;
  void write_access_log(const HttpRequest& request, const HttpResponse& response,
                        std::chrono::nanoseconds duration, bool closed) const;

  RouterServices services_;
  RouterOptions options_;
  mutable Metrics metrics_;
};

}  // namespace nexus::server

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// /v1/connections and /v1/token: each handler parses, calls one
// ConnectionService method and renders the result.
#include <boost/json/array.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <utility>

#include "nexus/connections.hpp"
#include "route_support.hpp"

namespace nexus::server {

HttpResponse create_connection(const RouteDeps& deps, Exchange& ex) {
  if (Status s = check_query(ex, {}); !s.ok()) return error_response(s);
  Result<boost::json::value> body = parse_json_body(ex, deps.options);
  if (!body.ok()) return error_response(body.status());
  Result<ConnectionRecord> created = deps.services.connections->create(ex.ctx, body.value());
  wipe_strings(body.value());
  if (!created.ok()) return error_response(created.status());
  HttpResponse r = json_response(201, connection_view(created.value()));
  r.set_header("Location", "/v1/connections/" + percent_encode(created->id));
  return r;
}

HttpResponse list_connections(const RouteDeps& deps, Exchange& ex) {
  if (Status s = check_query(ex, {"limit", "cursor", "provider_name", "user_id"}); !s.ok()) {
    return error_response(s);
  }
  Result<std::size_t> limit = limit_param(ex);
  if (!limit.ok()) return error_response(limit.status());
  ConnectionFilter filter{.provider_name = query_param(ex, "provider_name"),
                          .user_id = query_param(ex, "user_id")};
  PageRequest page{.limit = limit.value(), .cursor = query_param(ex, "cursor")};
  Result<ConnectionPage> result = deps.services.connections->list(ex.ctx, filter, page);
  if (!result.ok()) return error_response(result.status());
  boost::json::array items;
  items.reserve(result->items.size());
  for (const ConnectionRecord& c : result->items) items.push_back(connection_view(c));
  HttpResponse r = json_response(200, items);
  if (result->next_cursor) r.set_header("Link", next_link(ex, *result->next_cursor));
  return r;
}

HttpResponse get_connection(const RouteDeps& deps, Exchange& ex) {
  if (Status s = check_query(ex, {}); !s.ok()) return error_response(s);
  Result<ConnectionRecord> c = deps.services.connections->get(ex.ctx, ex.name);
  if (!c.ok()) return error_response(c.status());
  return json_response(200, connection_view(c.value()));
}

HttpResponse delete_connection(const RouteDeps& deps, Exchange& ex) {
  if (Status s = check_query(ex, {}); !s.ok()) return error_response(s);
  if (Status s = deps.services.connections->remove(ex.ctx, ex.name); !s.ok()) {
    return error_response(s);
  }
  HttpResponse r;
  r.status = 204;
  return r;
}

namespace {

HttpResponse token_response(const Result<ConnectionCredentials>& creds) noexcept {
  try {
    if (!creds.ok()) return error_response(creds.status());
    // The view is built in a buffer on this stack (values larger than it
    // spill to the heap) and every string of it is wiped before it goes.
    alignas(std::max_align_t) unsigned char buffer[2048];
    HttpResponse r;
    {
      boost::json::monotonic_resource arena(buffer, sizeof buffer);
      boost::json::object view = credentials_view(creds.value(), &arena);
      r = json_response(200, view);
      wipe_strings(view);
    }
    wipe_bytes(buffer, sizeof buffer);
    // The body carries credentials: no cache may keep a copy.
    r.set_header("Cache-Control", "no-store");
    return r;
  } catch (...) {
    HttpResponse r;
    r.status = 500;
    r.log_error = "out of memory while rendering credentials";
    return r;
  }
}

}  // namespace

// Async: the credential read's audit event is appended by the storage's
// writer thread, which calls back once it is durable; the values are
// rendered then, on that thread, and handed to the server.
void connection_token(const RouteDeps& deps, Exchange& ex, ResponseCallback done) noexcept {
  Status query = Status::Ok();
  try {
    query = check_query(ex, {});
  } catch (...) {
    query = Status(ErrorCode::kInternal, "out of memory while reading the query");
  }
  if (!query.ok()) {
    done(token_response(query));
    return;
  }
  // `done` moves into shared ownership first: if that allocation fails,
  // `done` is still here to answer with a 500; a callback holding only the
  // shared_ptr fits std::function's inline storage, so nothing after it
  // allocates.
  std::shared_ptr<ResponseCallback> answer;
  try {
    answer = std::make_shared<ResponseCallback>(std::move(done));
  } catch (...) {
    done(token_response(Status(ErrorCode::kInternal, "out of memory while reading credentials")));
    return;
  }
  deps.services.connections->credentials_async(
      ex.ctx, ex.name,
      [answer](Result<ConnectionCredentials> creds) { (*answer)(token_response(creds)); });
}

}  // namespace nexus::server

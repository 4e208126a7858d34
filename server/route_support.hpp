// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// Private to the router: what a route handler receives, and the helpers every
// handler shares (body and query parsing, JSON rendering, preconditions).
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http_message.hpp"
#include "router.hpp"

namespace nexus::server {

// One request in flight through a route handler.
struct Exchange {
  const HttpRequest& request;
  std::string_view path;
  // Decoded query parameters in order; `query_error` is set when the query
  // string could not be decoded.
  std::vector<std::pair<std::string, std::string>> query;
  std::optional<std::string> query_error;
  std::string name;  // the {name} path parameter, decoded
  RequestContext ctx;
};

struct RouteDeps {
  const RouterServices& services;
  const RouterOptions& options;
  const Metrics& metrics;
};

using RouteHandler = HttpResponse (*)(const RouteDeps&, Exchange&);

// An async route's handler (RouteInfo::async): answers through `done`,
// exactly once, possibly from another thread after it returned; it keeps no
// reference to `deps` or `ex` past its return.
using AsyncRouteHandler = void (*)(const RouteDeps&, Exchange&, ResponseCallback done) noexcept;

HttpResponse json_response(int status, const boost::json::value& body);
HttpResponse error_response(ErrorCode code, std::string message, std::string field = {});

// The body as JSON. 415 unless the Content-Type is application/json (or one of
// `extra_media_types`); 400 invalid_json when it does not parse, nests deeper
// than allowed, repeats a member name or is empty (nexus::parse_json).
Result<boost::json::value> parse_json_body(
    const Exchange& ex, const RouterOptions& options,
    std::initializer_list<std::string_view> extra_media_types = {});

// Overwrites every string value in `v` (recursively) before it is freed: for
// parsed bodies and views that held a secret.
void wipe_strings(boost::json::value& v) noexcept;
void wipe_strings(boost::json::object& o) noexcept;

// kValidationFailed naming the parameter when the query has one not in
// `allowed`, has one twice, has an empty value or did not decode.
Status check_query(const Exchange& ex, std::initializer_list<std::string_view> allowed);
// The value of a query parameter. REQUIRES: check_query passed.
std::optional<std::string> query_param(const Exchange& ex, std::string_view name);
// A positive integer query parameter; 0 when absent.
Result<std::size_t> limit_param(const Exchange& ex);

// "%XX" for every byte outside RFC 3986 unreserved characters.
std::string percent_encode(std::string_view text);
// nullopt on a malformed escape; `plus_is_space` for query components.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

// `Link: <path?query&cursor=...>; rel="next"` keeping the request's other
// parameters. `cursor` is replaced.
std::string next_link(const Exchange& ex, std::string_view cursor);

// The strong validator of a provider version: "v3" in quotes.
std::string etag(std::int64_t version);

// What an If-Match header asks. nullopt: no header (or "*"): no condition.
// Otherwise the versions it names (empty when it names none this server
// issues: it can never match).
std::optional<std::vector<std::int64_t>> if_match_versions(const HttpRequest& request);

// Route handlers, by resource.
// routes_providers.cpp
HttpResponse create_provider(const RouteDeps& deps, Exchange& ex);
HttpResponse list_providers(const RouteDeps& deps, Exchange& ex);
HttpResponse provider_metadata(const RouteDeps& deps, Exchange& ex);
HttpResponse get_provider(const RouteDeps& deps, Exchange& ex);
HttpResponse patch_provider(const RouteDeps& deps, Exchange& ex);
HttpResponse delete_provider(const RouteDeps& deps, Exchange& ex);
HttpResponse refresh_provider_discovery(const RouteDeps& deps, Exchange& ex);
// routes_connections.cpp
HttpResponse create_connection(const RouteDeps& deps, Exchange& ex);
HttpResponse list_connections(const RouteDeps& deps, Exchange& ex);
HttpResponse get_connection(const RouteDeps& deps, Exchange& ex);
HttpResponse delete_connection(const RouteDeps& deps, Exchange& ex);
void connection_token(const RouteDeps& deps, Exchange& ex, ResponseCallback done) noexcept;
// routes_audit.cpp
HttpResponse query_audit(const RouteDeps& deps, Exchange& ex);
HttpResponse verify_audit(const RouteDeps& deps, Exchange& ex);
// routes_ops.cpp
HttpResponse healthz(const RouteDeps& deps, Exchange& ex);
HttpResponse readyz(const RouteDeps& deps, Exchange& ex);
HttpResponse metrics_text(const RouteDeps& deps, Exchange& ex);

}  // namespace nexus::server

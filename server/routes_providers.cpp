// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// /v1/providers: each handler parses, calls one ProviderRegistry method and
// renders the result.
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "route_support.hpp"

namespace nexus::server {
namespace {

HttpResponse provider_response(int status, const Provider& provider) {
  HttpResponse r = json_response(status, provider_view(provider));
  r.set_header("ETag", etag(provider.version));
  return r;
}

// What an If-Match header requires of the stored version; the registry
// compares.
ExpectedVersion expected_version(const Exchange& ex) {
  auto versions = if_match_versions(ex.request);
  if (!versions) return {};
  return ExpectedVersion::any_of(std::move(*versions));
}

}  // namespace

HttpResponse create_provider(const RouteDeps& deps, Exchange& ex) {
  if (Status s = check_query(ex, {}); !s.ok()) return error_response(s);
  Result<boost::json::value> body = parse_json_body(ex, deps.options);
  if (!body.ok()) return error_response(body.status());
  Result<Provider> created = deps.services.registry->create(ex.ctx, body.value());
  wipe_strings(body.value());
  if (!created.ok()) return error_response(created.status());
  HttpResponse r = provider_response(201, created.value());
  r.set_header("Location", "/v1/providers/" + percent_encode(created->spec.name));
  return r;
}

HttpResponse list_providers(const RouteDeps& deps, Exchange& ex) {
  if (Status s = check_query(ex, {"limit", "cursor", "auth_type", "category"}); !s.ok()) {
    return error_response(s);
  }
  Result<std::size_t> limit = limit_param(ex);
  if (!limit.ok()) return error_response(limit.status());
  ListFilter filter;
  if (auto text = query_param(ex, "auth_type")) {
    Result<AuthType> type = read_auth_type(*text);
    if (!type.ok()) return error_response(type.status());
    filter.auth_type = type.value();
  }
  filter.category = query_param(ex, "category");
  PageRequest page{.limit = limit.value(), .cursor = query_param(ex, "cursor")};
  Result<ProviderPage> result = deps.services.registry->list(ex.ctx, filter, page);
  if (!result.ok()) return error_response(result.status());
  boost::json::array items;
  items.reserve(result->items.size());
  for (const Provider& p : result->items) items.push_back(provider_view(p));
  HttpResponse r = json_response(200, items);
  if (result->next_cursor) r.set_header("Link", next_link(ex, *result->next_cursor));
  return r;
}

HttpResponse provider_metadata(const RouteDeps& deps, Exchange& ex) {
  if (Status s = check_query(ex, {}); !s.ok()) return error_response(s);
  Result<MetadataIndex> index = deps.services.registry->metadata(ex.ctx);
  if (!index.ok()) return error_response(index.status());
  return json_response(200, metadata_view(index.value()));
}

HttpResponse get_provider(const RouteDeps& deps, Exchange& ex) {
  if (Status s = check_query(ex, {}); !s.ok()) return error_response(s);
  Result<Provider> provider = deps.services.registry->get(ex.ctx, ex.name);
  if (!provider.ok()) return error_response(provider.status());
  return provider_response(200, provider.value());
}

HttpResponse patch_provider(const RouteDeps& deps, Exchange& ex) {
  if (Status s = check_query(ex, {}); !s.ok()) return error_response(s);
  Result<boost::json::value> body =
      parse_json_body(ex, deps.options, {"application/merge-patch+json"});
  if (!body.ok()) return error_response(body.status());
  Result<Provider> updated =
      deps.services.registry->patch(ex.ctx, ex.name, body.value(), expected_version(ex));
  wipe_strings(body.value());
  if (!updated.ok()) return error_response(updated.status());
  return provider_response(200, updated.value());
}

HttpResponse refresh_provider_discovery(const RouteDeps& deps, Exchange& ex) {
  if (Status s = check_query(ex, {}); !s.ok()) return error_response(s);
  Result<Provider> refreshed = deps.services.registry->refresh_discovery(ex.ctx, ex.name);
  if (!refreshed.ok()) return error_response(refreshed.status());
  return provider_response(200, refreshed.value());
}

HttpResponse delete_provider(const RouteDeps& deps, Exchange& ex) {
  if (Status s = check_query(ex, {}); !s.ok()) return error_response(s);
  if (Status s = deps.services.registry->remove(ex.ctx, ex.name, expected_version(ex)); !s.ok()) {
    return error_response(s);
  }
  HttpResponse r;
  r.status = 204;
  return r;
}

}  // namespace nexus::server

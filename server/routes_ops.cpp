// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// Operations routes, public by design: liveness, readiness and metrics.
// They reveal no workspace data beyond provider counts.
#include <boost/json/object.hpp>
#include <set>

#include "route_support.hpp"

namespace nexus::server {

HttpResponse healthz(const RouteDeps&, Exchange&) {
  return json_response(200, boost::json::object{{"status", "ok"}});
}

HttpResponse readyz(const RouteDeps& deps, Exchange&) {
  if (Status s = deps.services.storage->ping(); !s.ok()) {
    return error_response(ErrorCode::kUnavailable, "the database is not reachable");
  }
  return json_response(200, boost::json::object{{"status", "ready"}});
}

HttpResponse metrics_text(const RouteDeps& deps, Exchange&) {
  std::string text = deps.metrics.render();
  // Workspaces are known through their keys: a workspace nobody can call
  // has no providers to count.
  Result<std::vector<ApiKey>> keys = deps.services.keys->list();
  if (!keys.ok()) return error_response(keys.status());
  std::set<std::string> workspaces;
  for (const ApiKey& k : keys.value()) workspaces.insert(k.workspace);
  text += "# HELP nexus_providers Providers registered, by workspace.\n";
  text += "# TYPE nexus_providers gauge\n";
  for (const std::string& w : workspaces) {
    Result<std::int64_t> n = deps.services.storage->count_providers(w);
    if (!n.ok()) return error_response(n.status());
    text += "nexus_providers{workspace=\"" + escape_label_value(w) + "\"} " +
            std::to_string(n.value()) + "\n";
  }
  HttpResponse r;
  r.status = 200;
  r.body = std::move(text);
  r.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  return r;
}

}  // namespace nexus::server

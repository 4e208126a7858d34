// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// Operations routes: liveness and readiness (public), and metrics (any
// valid key: the counters are process-wide, the provider count is the
// caller's workspace only).
#include <boost/json/object.hpp>

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

HttpResponse metrics_text(const RouteDeps& deps, Exchange& ex) {
  if (Status s = check_query(ex, {}); !s.ok()) return error_response(s);
  Result<std::int64_t> providers = deps.services.registry->count(ex.ctx);
  if (!providers.ok()) return error_response(providers.status());
  std::string text = deps.metrics.render();
  text += "# HELP nexus_providers Providers registered in the caller's workspace.\n";
  text += "# TYPE nexus_providers gauge\n";
  text += "nexus_providers{workspace=\"" + escape_label_value(ex.ctx.workspace) + "\"} " +
          std::to_string(providers.value()) + "\n";
  HttpResponse r;
  r.status = 200;
  r.body = std::move(text);
  r.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  return r;
}

}  // namespace nexus::server

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// /v1/audit: the workspace's audit log and its chain verification.
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "route_support.hpp"

namespace nexus::server {
namespace {

Result<std::optional<Timestamp>> time_param(const Exchange& ex, std::string_view name) {
  auto text = query_param(ex, name);
  if (!text) return std::optional<Timestamp>();
  auto t = parse_rfc3339(*text);
  if (!t) {
    return Status(ErrorCode::kValidationFailed,
                  "must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z", std::string(name));
  }
  return std::optional<Timestamp>(*t);
}

}  // namespace

HttpResponse query_audit(const RouteDeps& deps, Exchange& ex) {
  if (Status s = check_query(ex, {"event_type", "since", "until", "provider", "limit", "cursor"});
      !s.ok()) {
    return error_response(s);
  }
  Result<std::size_t> limit = limit_param(ex);
  if (!limit.ok()) return error_response(limit.status());
  auto since = time_param(ex, "since");
  if (!since.ok()) return error_response(since.status());
  auto until = time_param(ex, "until");
  if (!until.ok()) return error_response(until.status());
  AuditQuery query{.event_type = query_param(ex, "event_type"),
                   .since = since.value(),
                   .until = until.value(),
                   .provider = query_param(ex, "provider"),
                   .limit = limit.value(),
                   .cursor = query_param(ex, "cursor")};
  Result<AuditPage> page = deps.services.audit->query(ex.ctx.workspace, query);
  if (!page.ok()) return error_response(page.status());
  boost::json::array events;
  events.reserve(page->events.size());
  for (const AuditEvent& e : page->events) events.push_back(audit_event_view(e));
  HttpResponse r = json_response(200, events);
  if (page->next_cursor) r.set_header("Link", next_link(ex, *page->next_cursor));
  return r;
}

HttpResponse verify_audit(const RouteDeps& deps, Exchange& ex) {
  if (Status s = check_query(ex, {}); !s.ok()) return error_response(s);
  Result<AuditVerifyReport> report = deps.services.audit->verify(ex.ctx.workspace);
  if (!report.ok()) return error_response(report.status());
  boost::json::object body;
  body["ok"] = report->ok;
  body["events_checked"] = report->events_checked;
  if (report->broken_seq) body["broken_seq"] = *report->broken_seq;
  if (!report->ok) body["reason"] = report->reason;
  return json_response(200, body);
}

}  // namespace nexus::server

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/connections.hpp"

#include <boost/json/serialize.hpp>
#include <cassert>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "detail/encoding.hpp"
#include "nexus/audit.hpp"
#include "nexus/json.hpp"

namespace nexus {
namespace {

constexpr std::string_view kConnectionCursorKind = "connections";
constexpr std::string_view kOwnerKind = "connection";
constexpr std::string_view kCredentialFieldPrefix = "credentials.";
constexpr std::string_view kBodyMembers[] = {"provider_name", "user_id", "credentials"};

Status invalid(std::string field, std::string message) {
  return Status(ErrorCode::kValidationFailed, std::move(message), std::move(field));
}

Status connection_not_found() {
  return Status(ErrorCode::kNotFound, "no connection with that id in this workspace", "id");
}

Status provider_deleted() {
  return Status(ErrorCode::kProviderDeleted,
                "the provider of this connection was deleted, so its credentials are gone; "
                "register the provider again and reconnect",
                "");
}

std::string credential_field(std::string_view name) {
  return std::string(kCredentialFieldPrefix) + std::string(name);
}

// Reads a required, non-empty string member of the body.
Status read_text(const boost::json::object& body, std::string_view key, std::size_t max,
                 std::string& out) {
  const boost::json::value* v = body.if_contains(key);
  if (v == nullptr || v->is_null()) {
    return invalid(std::string(key), std::string(key) + " is required");
  }
  const boost::json::string* s = v->if_string();
  if (s == nullptr) return invalid(std::string(key), std::string(key) + " must be a string");
  if (s->empty() || s->size() > max) {
    return invalid(std::string(key),
                   std::string(key) + " must be 1 to " + std::to_string(max) + " characters");
  }
  out.assign(s->data(), s->size());
  return Status::Ok();
}

AuditEvent make_event(const ConnectionOptions& options, const RequestContext& ctx,
                      std::string_view type, std::string_view provider_name,
                      std::string_view provider_id, boost::json::object data) {
  AuditEvent event;
  event.id = make_id(*options.random, "evt_");
  event.workspace = ctx.workspace;
  event.event_type = type;
  event.provider_name = provider_name;
  event.provider_id = provider_id;
  event.actor = ctx.actor;
  event.caller_ip = ctx.caller_ip;
  event.user_agent = ctx.user_agent;
  event.at = options.clock->now();
  event.data = boost::json::serialize(data);
  return event;
}

SealContext where(const RequestContext& ctx, std::string_view id, const std::string& field) {
  return SealContext{
      .workspace = ctx.workspace, .owner_kind = kOwnerKind, .owner_id = id, .field = field};
}

}  // namespace

ConnectionService::ConnectionService(ConnectionOptions options) : options_(std::move(options)) {
  assert(options_.storage != nullptr && options_.vault != nullptr);
  if (options_.clock == nullptr) options_.clock = &system_clock();
  if (options_.random == nullptr) options_.random = &system_random();
  if (options_.max_page_size == 0) options_.max_page_size = 1;
  if (options_.default_page_size == 0 || options_.default_page_size > options_.max_page_size) {
    options_.default_page_size = options_.max_page_size;
  }
}

Result<ConnectionRecord> ConnectionService::create(const RequestContext& ctx,
                                                   const boost::json::value& body) {
  const boost::json::object* object = body.if_object();
  if (object == nullptr) {
    return invalid("",
                   "the body must be a JSON object with provider_name, user_id and "
                   "credentials");
  }
  for (const auto& member : *object) {
    bool known = false;
    for (auto k : kBodyMembers) known = known || member.key() == k;
    if (!known) {
      return invalid(std::string(member.key()),
                     "unknown field \"" + std::string(member.key()) +
                         "\"; a connection has provider_name, user_id and credentials");
    }
  }
  ConnectionRecord record;
  if (Status s = read_text(*object, "provider_name", kMaxProviderNameLength, record.provider_name);
      !s.ok()) {
    return s;
  }
  if (Status s = read_text(*object, "user_id", kMaxUserIdLength, record.user_id); !s.ok()) {
    return s;
  }
  const boost::json::value* creds = object->if_contains("credentials");
  if (creds == nullptr || creds->is_null()) {
    return invalid("credentials", "credentials is required");
  }
  const boost::json::object* values = creds->if_object();
  if (values == nullptr) {
    return invalid("credentials", "credentials must be an object of the schema's fields");
  }

  Result<Provider> provider = options_.storage->get_provider(ctx.workspace, record.provider_name);
  if (!provider.ok()) {
    if (provider.status().code() == ErrorCode::kProviderNotFound) {
      return Status(ErrorCode::kProviderNotFound,
                    "no provider named \"" + record.provider_name + "\" in this workspace",
                    "provider_name");
    }
    return provider.status();
  }
  if (provider->spec.auth_type != AuthType::kApiKey || !provider->spec.credential_schema) {
    return invalid("provider_name", "provider \"" + record.provider_name +
                                        "\" is an oauth2 provider; connect it through the "
                                        "OAuth flow, not with credentials");
  }
  const CredentialSchema& schema = *provider->spec.credential_schema;
  for (const auto& member : *values) {
    bool known = false;
    for (const CredentialField& f : schema.fields) known = known || f.name == member.key();
    if (!known) {
      return invalid(credential_field(member.key()),
                     "unknown credential field \"" + std::string(member.key()) +
                         "\"; the schema of " + record.provider_name + " does not have it");
    }
  }

  record.id = make_id(*options_.random, "con_");
  record.workspace = ctx.workspace;
  record.provider_id = provider->id;
  record.status = ConnectionStatus::kActive;
  record.created_at = record.updated_at = options_.clock->now();
  for (const CredentialField& f : schema.fields) {
    const std::string field = credential_field(f.name);
    const boost::json::value* v = values->if_contains(f.name);
    if (v == nullptr || v->is_null()) {
      return invalid(field, f.label + " (" + f.name + ") is required");
    }
    const boost::json::string* text = v->if_string();
    if (text == nullptr) return invalid(field, f.name + " must be a string");
    if (text->empty() || text->size() > kMaxCredentialValueBytes) {
      return invalid(
          field, f.name + " must be 1 to " + std::to_string(kMaxCredentialValueBytes) + " bytes");
    }
    record.credentials.push_back(
        SealedField{f.name, options_.vault->seal(std::string_view(text->data(), text->size()),
                                                 where(ctx, record.id, field))});
  }

  AuditEvent event =
      make_event(options_, ctx, audit_events::kConnectionCreated, record.provider_name,
                 record.provider_id, {{"connection_id", record.id}, {"user_id", record.user_id}});
  if (Status s = options_.storage->insert_connection(record, std::move(event)); !s.ok()) {
    if (s.code() == ErrorCode::kProviderNotFound) {
      return Status(ErrorCode::kProviderNotFound,
                    "provider \"" + record.provider_name + "\" was deleted meanwhile",
                    "provider_name");
    }
    return s;
  }
  return record;
}

Result<ConnectionRecord> ConnectionService::get(const RequestContext& ctx, std::string_view id) {
  Result<ConnectionRecord> r = options_.storage->get_connection(ctx.workspace, id);
  if (!r.ok() && r.status().code() == ErrorCode::kNotFound) return connection_not_found();
  return r;
}

Result<ConnectionPage> ConnectionService::list(const RequestContext& ctx,
                                               const ConnectionFilter& filter,
                                               const PageRequest& page) {
  std::size_t limit = page.limit == 0 ? options_.default_page_size : page.limit;
  if (limit > options_.max_page_size) {
    return invalid("limit",
                   "limit must be between 1 and " + std::to_string(options_.max_page_size));
  }
  ConnectionListQuery query{.workspace = ctx.workspace,
                            .provider_name = filter.provider_name,
                            .user_id = filter.user_id,
                            .after_id = std::nullopt,
                            .limit = limit + 1};
  if (page.cursor) {
    auto after = detail::decode_cursor(kConnectionCursorKind, *page.cursor);
    if (!after) {
      return invalid("cursor", "cursor is not one this server issued; start again without it");
    }
    query.after_id = std::move(*after);
  }
  auto rows = options_.storage->list_connections(query);
  if (!rows.ok()) return rows.status();
  ConnectionPage out;
  out.items = std::move(rows).value();
  if (out.items.size() > limit) {
    out.items.resize(limit);
    out.next_cursor = detail::encode_cursor(kConnectionCursorKind, out.items.back().id);
  }
  return out;
}

Status ConnectionService::remove(const RequestContext& ctx, std::string_view id) {
  Result<ConnectionRecord> current = get(ctx, id);
  if (!current.ok()) return current.status();
  AuditEvent event = make_event(options_, ctx, audit_events::kConnectionDeleted,
                                current->provider_name, current->provider_id,
                                {{"connection_id", current->id}, {"user_id", current->user_id}});
  Status s = options_.storage->delete_connection(ctx.workspace, id, std::move(event));
  if (s.code() == ErrorCode::kNotFound) return connection_not_found();
  return s;
}

// A credential read up to its audit event: the event that records it, and
// what the read answers once that event has been appended.
struct ConnectionService::PreparedRead {
  AuditEvent event;
  // The values; or the failure that `event` (token_retrieval_failed) records.
  Result<ConnectionCredentials> result;
};

namespace {

AuditEvent failure_event(const ConnectionOptions& options, const RequestContext& ctx,
                         std::string_view id, const ConnectionRecord* record, const Status& why) {
  boost::json::object data{{"connection_id", valid_utf8(id)}, {"reason", to_string(why.code())}};
  if (record != nullptr) data["user_id"] = record->user_id;
  return make_event(options, ctx, audit_events::kTokenRetrievalFailed,
                    record ? record->provider_name : "", record ? record->provider_id : "",
                    std::move(data));
}

// What a read answers once the append of its event returned `appended`.
Result<ConnectionCredentials> finish_read(Result<ConnectionCredentials> result,
                                          const Status& appended) {
  // A failure is already the answer; an audit write that fails too (the
  // storage being down, say) does not replace it.
  if (!result.ok()) return result;
  // No audit record, no credentials: a read that cannot be audited is
  // refused (the values are wiped as they are dropped).
  if (!appended.ok()) return appended;
  return result;
}

Status unexpected_read_failure() {
  return Status(ErrorCode::kInternal, "unexpected failure while reading credentials");
}

}  // namespace

ConnectionService::PreparedRead ConnectionService::prepare_read(const RequestContext& ctx,
                                                                std::string_view id) {
  // Every failure is audited, not-found probes included: someone asking for
  // credentials that do not exist is worth a record.
  Result<ConnectionRecord> record = get(ctx, id);
  if (!record.ok()) {
    return {failure_event(options_, ctx, id, nullptr, record.status()), record.status()};
  }
  Result<Provider> provider =
      record->status == ConnectionStatus::kProviderDeleted
          ? Result<Provider>(provider_deleted())
          : options_.storage->get_provider_by_id(ctx.workspace, record->provider_id);
  if (!provider.ok()) {
    ErrorCode code = provider.status().code();
    Status why = code == ErrorCode::kProviderNotFound || code == ErrorCode::kProviderDeleted
                     ? provider_deleted()
                     : provider.status();
    return {failure_event(options_, ctx, id, &record.value(), why), why};
  }

  ConnectionCredentials out;
  out.connection_id = record->id;
  out.provider_name = provider->spec.name;
  out.auth_type = provider->spec.auth_type;
  out.api_base_url = provider->spec.api_base_url;
  out.values.reserve(record->credentials.size());
  for (const SealedField& f : record->credentials) {
    const std::string field = credential_field(f.name);
    Result<SecretBytes> value = options_.vault->open(f.envelope, where(ctx, record->id, field));
    if (!value.ok()) {
      return {failure_event(options_, ctx, id, &record.value(), value.status()), value.status()};
    }
    out.values.emplace_back(f.name, std::move(value).value());
  }
  boost::json::array fields;
  for (const auto& [name, value] : out.values) fields.emplace_back(name);
  AuditEvent event = make_event(
      options_, ctx, audit_events::kTokenRetrieved, record->provider_name, record->provider_id,
      {{"connection_id", record->id}, {"user_id", record->user_id}, {"fields", fields}});
  return {std::move(event), std::move(out)};
}

Result<ConnectionCredentials> ConnectionService::credentials(const RequestContext& ctx,
                                                             std::string_view id) {
  // The same read as credentials_async; the append waits here, which lets a
  // storage run it on this thread when nothing else is writing.
  PreparedRead read = prepare_read(ctx, id);
  Status appended = options_.storage->append_audit(std::move(read.event));
  return finish_read(std::move(read.result), appended);
}

void ConnectionService::credentials_async(
    const RequestContext& ctx, std::string_view id,
    std::function<void(Result<ConnectionCredentials>)> done) noexcept {
  struct Pending {
    std::optional<PreparedRead> read;
    std::function<void(Result<ConnectionCredentials>)> done;
  };
  std::shared_ptr<Pending> pending;
  std::function<void(Status)> appended;
  try {
    pending = std::make_shared<Pending>();
    pending->read.emplace(prepare_read(ctx, id));
    pending->done = std::move(done);  // cannot throw
    appended = [pending](Status s) {
      pending->done(finish_read(std::move(pending->read->result), s));
    };
  } catch (...) {
    // Out of memory: `done` is wherever the move above left it.
    auto& answer = pending && pending->done ? pending->done : done;
    try {
      answer(unexpected_read_failure());
    } catch (...) {
    }
    return;
  }
  AuditEvent event = std::move(pending->read->event);
  options_.storage->append_audit_async(std::move(event), std::move(appended));
}

boost::json::object connection_view(const ConnectionRecord& c) {
  boost::json::array fields;
  for (const SealedField& f : c.credentials) fields.emplace_back(f.name);
  return {{"connection_id", c.id},
          {"provider_name", c.provider_name},
          {"provider_id", c.provider_id},
          {"user_id", c.user_id},
          {"status", to_string(c.status)},
          {"credential_fields", std::move(fields)},
          {"created_at", format_rfc3339(c.created_at)},
          {"updated_at", format_rfc3339(c.updated_at)}};
}

boost::json::object credentials_view(const ConnectionCredentials& c) {
  boost::json::object values;
  for (const auto& [name, value] : c.values) values[name] = value.view();
  return {{"connection_id", c.connection_id},
          {"provider_name", c.provider_name},
          {"auth_type", to_string(c.auth_type)},
          {"api_base_url",
           c.api_base_url ? boost::json::value(*c.api_base_url) : boost::json::value(nullptr)},
          {"credentials", std::move(values)}};
}

}  // namespace nexus

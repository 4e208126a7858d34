// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/connections.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/serialize.hpp>
#include <cassert>
#include <cstddef>
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

// A storage's answer about a connection, with its kNotFound said our way
// (a backend may word it differently).
Status connection_status(const Status& s) {
  return s.code() == ErrorCode::kNotFound ? connection_not_found() : s;
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

// An event of `ctx`, still without its type, provider and data (describe).
AuditEvent event_for(const ConnectionOptions& options, const RequestContext& ctx) {
  AuditEvent event;
  event.id = make_id(*options.random, "evt_");
  event.workspace = ctx.workspace;
  event.actor = ctx.actor;
  event.caller_ip = ctx.caller_ip;
  event.user_agent = ctx.user_agent;
  event.at = options.clock->now();
  return event;
}

AuditEvent describe(AuditEvent event, std::string_view type, std::string_view provider_name,
                    std::string_view provider_id, const boost::json::object& data) {
  event.event_type = type;
  event.provider_name = provider_name;
  event.provider_id = provider_id;
  event.data = boost::json::serialize(data);
  return event;
}

AuditEvent make_event(const ConnectionOptions& options, const RequestContext& ctx,
                      std::string_view type, std::string_view provider_name,
                      std::string_view provider_id, const boost::json::object& data) {
  return describe(event_for(options, ctx), type, provider_name, provider_id, data);
}

SealContext where(std::string_view workspace, std::string_view id, const std::string& field) {
  return SealContext{
      .workspace = workspace, .owner_kind = kOwnerKind, .owner_id = id, .field = field};
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
                                                 where(ctx.workspace, record.id, field))});
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
  if (!r.ok()) return connection_status(r.status());
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
  return connection_status(
      options_.storage->delete_connection(ctx.workspace, id, std::move(event)));
}

namespace {

// What a credential read answers: set by record_read, while the storage
// reads, before the read's event is appended.
using Answer = std::optional<Result<ConnectionCredentials>>;

AuditEvent failure_event(AuditEvent event, std::string_view id, const ConnectionRecord* record,
                         const Status& why) {
  boost::json::object data{{"connection_id", valid_utf8(id)}, {"reason", to_string(why.code())}};
  if (record != nullptr) data["user_id"] = record->user_id;
  return describe(std::move(event), audit_events::kTokenRetrievalFailed,
                  record ? record->provider_name : "", record ? record->provider_id : "", data);
}

// Turns what the storage found for connection `id` into the answer (the
// opened values, or why not) and returns the event that records the read.
// `event` carries the caller's part of it (event_for).
AuditEvent record_read(const Vault& vault, AuditEvent event, std::string_view id,
                       const ConnectionRead& read, Answer& answer) {
  // Every failure is audited, not-found probes included: someone asking for
  // credentials that do not exist is worth a record.
  if (!read.connection.ok()) {
    Status why = connection_status(read.connection.status());
    answer = why;
    return failure_event(std::move(event), id, nullptr, why);
  }
  const ConnectionRecord& record = *read.connection;
  if (!read.provider.ok()) {
    ErrorCode code = read.provider.status().code();
    Status why = code == ErrorCode::kProviderNotFound || code == ErrorCode::kProviderDeleted
                     ? provider_deleted()
                     : read.provider.status();
    answer = why;
    return failure_event(std::move(event), id, &record, why);
  }

  const ProviderBrief& provider = *read.provider;
  ConnectionCredentials out;
  out.connection_id = record.id;
  out.provider_name = provider.name;
  out.auth_type = provider.auth_type;
  out.api_base_url = provider.api_base_url;
  out.values.reserve(record.credentials.size());
  for (const SealedField& f : record.credentials) {
    Result<SecretBytes> value =
        vault.open(f.envelope, where(event.workspace, record.id, credential_field(f.name)));
    if (!value.ok()) {
      answer = value.status();
      return failure_event(std::move(event), id, &record, value.status());
    }
    out.values.emplace_back(f.name, std::move(value).value());
  }
  // Built on this stack: every read makes one (field names only, no values).
  alignas(std::max_align_t) unsigned char buffer[1024];
  boost::json::monotonic_resource arena(buffer, sizeof buffer);
  boost::json::array fields(&arena);
  fields.reserve(out.values.size());
  for (const auto& [name, value] : out.values) fields.emplace_back(name);
  const boost::json::object data(
      {{"connection_id", record.id}, {"user_id", record.user_id}, {"fields", std::move(fields)}},
      &arena);
  event = describe(std::move(event), audit_events::kTokenRetrieved, record.provider_name,
                   record.provider_id, data);
  answer = std::move(out);
  return event;
}

// What a read answers once the storage returned `appended` for its event.
Result<ConnectionCredentials> finish_read(Answer answer, const Status& appended) {
  if (!answer) {
    // The read never got as far as its answer: the storage could not read,
    // or was closing. Its error says why.
    if (!appended.ok()) return appended;
    return Status(ErrorCode::kInternal, "unexpected failure while reading credentials");
  }
  // A failure is already the answer; an audit write that fails too (the
  // storage being down, say) does not replace it.
  if (!answer->ok()) return std::move(*answer);
  // No audit record, no credentials: a read that cannot be audited is
  // refused (the values are wiped as they are dropped).
  if (!appended.ok()) return appended;
  return std::move(*answer);
}

}  // namespace

Result<ConnectionCredentials> ConnectionService::credentials(const RequestContext& ctx,
                                                             std::string_view id) {
  // The same read as credentials_async; the append waits here, which lets a
  // storage run it on this thread when nothing else is writing.
  Answer answer;
  AuditEvent event = event_for(options_, ctx);
  Status appended = options_.storage->read_connection_recorded(
      ctx.workspace, id, [&](const ConnectionRead& read) {
        return record_read(*options_.vault, std::move(event), id, read, answer);
      });
  return finish_read(std::move(answer), appended);
}

void ConnectionService::credentials_async(
    const RequestContext& ctx, std::string_view id,
    std::function<void(Result<ConnectionCredentials>)> done) noexcept {
  struct Pending {
    Answer answer;  // written by the recorder, read by the completion after it
    std::function<void(Result<ConnectionCredentials>)> done;
  };
  std::shared_ptr<Pending> pending;
  ReadRecorder recorder;
  std::function<void(Status)> appended;
  try {
    pending = std::make_shared<Pending>();
    pending->done = std::move(done);  // cannot throw
    recorder = [vault = options_.vault, pending, event = event_for(options_, ctx),
                id = std::string(id)](const ConnectionRead& read) mutable {
      return record_read(*vault, std::move(event), id, read, pending->answer);
    };
    appended = [pending](Status s) { pending->done(finish_read(std::move(pending->answer), s)); };
  } catch (...) {
    // Out of memory: `done` is wherever the move above left it.
    auto& answer = pending && pending->done ? pending->done : done;
    try {
      answer(Status(ErrorCode::kInternal, "out of memory while reading credentials"));
    } catch (...) {
    }
    return;
  }
  options_.storage->read_connection_recorded_async(ctx.workspace, id, std::move(recorder),
                                                   std::move(appended));
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

boost::json::object credentials_view(const ConnectionCredentials& c,
                                     boost::json::storage_ptr storage) {
  boost::json::object values(c.values.size(), storage);
  for (const auto& [name, value] : c.values) values.emplace(name, value.view());
  boost::json::object view(5, storage);
  view.emplace("connection_id", c.connection_id);
  view.emplace("provider_name", c.provider_name);
  view.emplace("auth_type", to_string(c.auth_type));
  if (c.api_base_url) {
    view.emplace("api_base_url", *c.api_base_url);
  } else {
    view.emplace("api_base_url", nullptr);
  }
  view.emplace("credentials", std::move(values));
  return view;
}

}  // namespace nexus

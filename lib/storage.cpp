// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/storage.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "storage/storage_common.hpp"

namespace nexus {
namespace {

using detail::kMemoryUrl;
using detail::kSqliteScheme;

Status bad_url() {
  return Status(ErrorCode::kValidationFailed, "database must be \"memory:\" or \"sqlite:PATH\"",
                "database");
}

}  // namespace

std::string_view to_string(ConnectionStatus status) noexcept {
  switch (status) {
    case ConnectionStatus::kActive:
      return "active";
    case ConnectionStatus::kProviderDeleted:
      return "provider_deleted";
  }
  return "active";
}

void Storage::append_audit_async(AuditEvent event, std::function<void(Status)> done) {
  detail::complete(done, append_audit(std::move(event)));
}

namespace {

// The reads of a credential read, through the storage's own calls.
ConnectionRead read_connection_parts(Storage& storage, std::string_view workspace,
                                     std::string_view id) {
  Result<ConnectionRecord> connection = storage.get_connection(workspace, id);
  if (!connection.ok()) return {connection, connection.status()};
  if (connection->status != ConnectionStatus::kActive) {
    return {std::move(connection), detail::provider_not_found()};
  }
  Result<Provider> provider = storage.get_provider_by_id(workspace, connection->provider_id);
  if (!provider.ok()) return {std::move(connection), provider.status()};
  return {std::move(connection), detail::provider_brief(*provider)};
}

// The event `record` makes of what `read` found; an exception becomes
// `failed`, and nothing is to be appended.
std::optional<AuditEvent> record_read(const ReadRecorder& record, const ConnectionRead& read,
                                      Status& failed) noexcept {
  try {
    return record(read);
  } catch (...) {
    failed = Status(ErrorCode::kInternal, "unexpected failure while recording a credential read");
    return std::nullopt;
  }
}

}  // namespace

Status Storage::read_connection_recorded(std::string_view workspace, std::string_view id,
                                         const ReadRecorder& record) {
  Status failed = Status::Ok();
  std::optional<AuditEvent> event =
      record_read(record, read_connection_parts(*this, workspace, id), failed);
  if (!event) return failed;
  return append_audit(std::move(*event));
}

void Storage::read_connection_recorded_async(std::string_view workspace, std::string_view id,
                                             ReadRecorder record,
                                             std::function<void(Status)> done) {
  Status failed = Status::Ok();
  std::optional<AuditEvent> event;
  try {
    event = record_read(record, read_connection_parts(*this, workspace, id), failed);
  } catch (...) {
    failed = Status(ErrorCode::kInternal, "out of memory while reading a connection");
  }
  if (!event) {
    detail::complete(done, std::move(failed));
    return;
  }
  append_audit_async(std::move(*event), std::move(done));
}

Status check_storage_url(std::string_view url) {
  if (url == kMemoryUrl) return Status::Ok();
  if (url.starts_with(kSqliteScheme) && url.size() > kSqliteScheme.size()) return Status::Ok();
  return bad_url();
}

std::string redact_storage_url(std::string_view url) {
  constexpr std::string_view kMask = "***";
  std::string out(url);
  // scheme://user:password@host: the password runs from the first ':' after
  // "//" to the LAST '@' of the whole URL. A password may hold '/', '?', '#'
  // or '@' (libpq reads some of those unencoded), so nothing before that '@'
  // is trusted to end it; an '@' later in the query only masks more.
  if (auto scheme_end = out.find("://"); scheme_end != std::string::npos) {
    std::size_t authority = scheme_end + 3;
    std::size_t at = out.rfind('@');
    if (at != std::string::npos && at > authority) {
      std::size_t colon = out.find(':', authority);
      if (colon != std::string::npos && colon < at) {
        out.replace(colon + 1, at - colon - 1, kMask);
      }
    }
  }
  // password=VALUE in a query string or a key=value connection string; the
  // value ends at '&', ';', whitespace or the end.
  constexpr std::string_view kParam = "password=";
  for (std::size_t pos = 0; pos < out.size();) {
    std::size_t hit = std::string::npos;
    for (std::size_t i = pos; i + kParam.size() <= out.size(); ++i) {
      bool same = true;
      for (std::size_t k = 0; k < kParam.size() && same; ++k) {
        char c = out[i + k];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        same = c == kParam[k];
      }
      bool starts_word = i == 0 || out[i - 1] == '?' || out[i - 1] == '&' || out[i - 1] == ';' ||
                         out[i - 1] == ' ' || out[i - 1] == '\t';
      if (same && starts_word) {
        hit = i;
        break;
      }
    }
    if (hit == std::string::npos) break;
    std::size_t value = hit + kParam.size();
    std::size_t end;
    if (value < out.size() && out[value] == '\'') {
      // A quoted key=value (password='a b\'c'): up to the closing quote.
      end = value + 1;
      while (end < out.size() && out[end] != '\'') end += out[end] == '\\' ? 2 : 1;
      end = std::min(end + 1, out.size());
    } else {
      end = out.find_first_of("&; \t", value);
      if (end == std::string::npos) end = out.size();
    }
    out.replace(value, end - value, kMask);
    pos = value + kMask.size();
  }
  return out;
}

Result<std::unique_ptr<Storage>> open_storage(std::string_view url) {
  return detail::without_exceptions("open the storage", [&]() -> Result<std::unique_ptr<Storage>> {
    if (Status s = check_storage_url(url); !s.ok()) return s;
    if (url == kMemoryUrl) return make_memory_storage();
    return open_sqlite_storage(std::string(url.substr(kSqliteScheme.size())));
  });
}

}  // namespace nexus

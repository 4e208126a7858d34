// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "nexus/storage.hpp"

#include <string>
#include <string_view>

#include "storage/storage_common.hpp"

namespace nexus {
namespace {

constexpr std::string_view kMemoryUrl = "memory:";
constexpr std::string_view kSqliteScheme = "sqlite:";

Status bad_url() {
  return Status(ErrorCode::kValidationFailed, "database must be \"memory:\" or \"sqlite:PATH\"",
                "database");
}

}  // namespace

std::string_view to_string(ConnectionStatus status) noexcept {
  switch (status) {
    case ConnectionStatus::kActive: return "active";
    case ConnectionStatus::kProviderDeleted: return "provider_deleted";
  }
  return "active";
}

Result<std::unique_ptr<Storage>> open_storage(std::string_view url) {
  return detail::without_exceptions("open the storage", [&]() -> Result<std::unique_ptr<Storage>> {
    if (url == kMemoryUrl) return make_memory_storage();
    if (url.starts_with(kSqliteScheme)) {
      const std::string path(url.substr(kSqliteScheme.size()));
      if (path.empty()) return bad_url();
      return open_sqlite_storage(path);
    }
    return bad_url();
  });
}

}  // namespace nexus

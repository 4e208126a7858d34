// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Private: the rules every URL of a provider or a discovery document obeys.
#pragma once

#include <optional>
#include <string_view>

namespace nexus::detail {

// Why `url` is not acceptable as an endpoint, as a phrase to follow the field
// name ("must use https"); nullopt when it is. Acceptable: an absolute URL with
// scheme https (or http when `allow_http`), a non-empty host, no userinfo and no
// fragment.
std::optional<std::string_view> url_problem(std::string_view url, bool allow_http);

}  // namespace nexus::detail

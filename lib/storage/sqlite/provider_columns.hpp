// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Private: the JSON text stored in the providers table's nested columns
// (scopes, params, credential_schema). Decoders return nullopt for anything
// the encoders would not have written.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nexus/provider.hpp"

namespace nexus::sqlite {

std::string encode_scopes(const std::vector<std::string>& scopes);  // ["a","b"]
std::optional<std::vector<std::string>> decode_scopes(std::string_view text);

// {"key": "text" | 12 | 1.5 | true}; a double always carries an exponent or a
// fraction, so it reads back as a double, and an integer as an integer.
std::string encode_params(const Params& params);
std::optional<Params> decode_params(std::string_view text);

// {"fields": [{"name": "...", "label": "...", "sensitive": true}, ...]}
std::string encode_credential_schema(const CredentialSchema& schema);
std::optional<CredentialSchema> decode_credential_schema(std::string_view text);

// provider_discovery.document: discovery_document_to_json; last_error:
// discovery_attempt_error_to_json, NULL (nullopt) when there is none.
std::string encode_discovery_document(const DiscoveryDocument& document);
std::optional<std::string> encode_discovery_error(const std::optional<DiscoveryAttemptError>& e);
// The state a provider_discovery row holds; nullopt when a column is corrupt.
std::optional<DiscoveryState> decode_discovery_state(const std::optional<std::string>& document,
                                                     const std::optional<std::string>& last_error,
                                                     Timestamp last_attempt_at);

}  // namespace nexus::sqlite

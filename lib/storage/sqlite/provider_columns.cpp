// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "storage/sqlite/provider_columns.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <type_traits>
#include <variant>

namespace nexus::sqlite {
namespace {

std::optional<boost::json::value> parse(std::string_view text) {
  boost::json::error_code ec;
  boost::json::value value = boost::json::parse(text, ec);
  if (ec) return std::nullopt;
  return value;
}

}  // namespace

std::string encode_scopes(const std::vector<std::string>& scopes) {
  boost::json::array array;
  array.reserve(scopes.size());
  for (const auto& scope : scopes) array.emplace_back(scope);
  return boost::json::serialize(array);
}

std::optional<std::vector<std::string>> decode_scopes(std::string_view text) {
  auto value = parse(text);
  if (!value || !value->is_array()) return std::nullopt;
  std::vector<std::string> scopes;
  for (const auto& item : value->get_array()) {
    if (!item.is_string()) return std::nullopt;
    scopes.emplace_back(item.get_string());
  }
  return scopes;
}

std::string encode_params(const Params& params) {
  boost::json::object object;
  for (const auto& [key, param] : params) {
    std::visit(
        [&, &key = key](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) {
            object[key] = boost::json::string_view(v);
          } else {
            object[key] = v;
          }
        },
        param);
  }
  return boost::json::serialize(object);
}

std::optional<Params> decode_params(std::string_view text) {
  auto value = parse(text);
  if (!value || !value->is_object()) return std::nullopt;
  Params params;
  for (const auto& [key, item] : value->get_object()) {
    std::string name(key);
    if (item.is_string()) {
      params.emplace(std::move(name), std::string(item.get_string()));
    } else if (item.is_int64()) {
      params.emplace(std::move(name), item.get_int64());
    } else if (item.is_double()) {
      params.emplace(std::move(name), item.get_double());
    } else if (item.is_bool()) {
      params.emplace(std::move(name), item.get_bool());
    } else {
      return std::nullopt;
    }
  }
  return params;
}

std::string encode_credential_schema(const CredentialSchema& schema) {
  boost::json::array fields;
  fields.reserve(schema.fields.size());
  for (const auto& field : schema.fields) {
    fields.push_back(boost::json::object{
        {"name", field.name}, {"label", field.label}, {"sensitive", field.sensitive}});
  }
  return boost::json::serialize(boost::json::object{{"fields", std::move(fields)}});
}

std::optional<CredentialSchema> decode_credential_schema(std::string_view text) {
  auto value = parse(text);
  if (!value || !value->is_object()) return std::nullopt;
  const auto* fields = value->get_object().if_contains("fields");
  if (fields == nullptr || !fields->is_array()) return std::nullopt;
  CredentialSchema schema;
  for (const auto& item : fields->get_array()) {
    const auto* object = item.if_object();
    if (object == nullptr) return std::nullopt;
    const auto* name = object->if_contains("name");
    const auto* label = object->if_contains("label");
    const auto* sensitive = object->if_contains("sensitive");
    if (name == nullptr || !name->is_string() || label == nullptr || !label->is_string() ||
        sensitive == nullptr || !sensitive->is_bool()) {
      return std::nullopt;
    }
    schema.fields.push_back(CredentialField{
        std::string(name->get_string()), std::string(label->get_string()), sensitive->get_bool()});
  }
  return schema;
}

std::string encode_discovery_document(const DiscoveryDocument& document) {
  return boost::json::serialize(discovery_document_to_json(document));
}

std::optional<std::string> encode_discovery_error(const std::optional<DiscoveryAttemptError>& e) {
  if (!e) return std::nullopt;
  return boost::json::serialize(discovery_attempt_error_to_json(*e));
}

std::optional<DiscoveryState> decode_discovery_state(const std::optional<std::string>& document,
                                                     const std::optional<std::string>& last_error,
                                                     Timestamp last_attempt_at) {
  DiscoveryState state;
  state.last_attempt_at = last_attempt_at;
  if (document) {
    auto value = parse(*document);
    if (!value) return std::nullopt;
    auto decoded = discovery_document_from_json(*value);
    if (!decoded.ok()) return std::nullopt;
    state.document = std::move(decoded).value();
  }
  if (last_error) {
    auto value = parse(*last_error);
    if (!value) return std::nullopt;
    auto decoded = discovery_attempt_error_from_json(*value);
    if (!decoded.ok()) return std::nullopt;
    state.last_error = std::move(decoded).value();
  }
  return state;
}

}  // namespace nexus::sqlite

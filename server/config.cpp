// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "config.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <map>
#include <thread>

#include "nexus/storage.hpp"

namespace nexus::server {
namespace {

Status config_error(std::string message, std::string field) {
  return Status(ErrorCode::kValidationFailed, std::move(message), std::move(field));
}

// Splits "--name=value" / "--name value" flags into a map; positional
// arguments go to `positional`. Every flag takes a value.
Result<std::map<std::string, std::string>> parse_flags(const std::vector<std::string>& args,
                                                       const std::vector<std::string>& known,
                                                       std::vector<std::string>* positional) {
  std::map<std::string, std::string> flags;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) {
      if (positional == nullptr) return config_error("unexpected argument \"" + a + "\"", a);
      positional->push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    std::string value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return config_error("--" + name + " needs a value", name);
    }
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "--" : ", --") + k;
      return config_error("unknown option --" + name + " (known: " + list + ")", name);
    }
    if (flags.count(name)) return config_error("--" + name + " is given twice", name);
    flags[name] = value;
  }
  return flags;
}

// The flag's value, else the environment variable's, else nullopt.
std::optional<std::string> setting(const std::map<std::string, std::string>& flags,
                                   const char* flag, const EnvLookup& env, const char* var) {
  if (auto it = flags.find(flag); it != flags.end()) return it->second;
  if (var != nullptr) return env(var);
  return std::nullopt;
}

// A whole number from 1 to `max`; `name` names the setting in the message,
// `field` in the error's field.
template <typename T>
Result<T> number_up_to(const std::string& text, T max, const std::string& name,
                       const std::string& field) {
  T n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n < 1 || n > max) {
    return config_error(name + " \"" + text + "\" is not a number from 1 to " + std::to_string(max),
                        field);
  }
  return n;
}

// A thread count from 1 to kMaxThreads; `name` names the setting.
Result<int> thread_count(const std::string& text, const char* name) {
  return number_up_to(text, kMaxThreads, name, name);
}

}  // namespace

EnvLookup process_env() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

int default_threads() {
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(cores, 4, kMaxThreads);
}

Result<ServeConfig> parse_serve_config(const std::vector<std::string>& args, const EnvLookup& env) {
  auto flags = parse_flags(args,
                           {"listen", "database", "threads", "blocking-threads", "trusted-proxies",
                            "master-key-file", "ca-file"},
                           nullptr);
  if (!flags.ok()) return flags.status();
  ServeConfig config;

  std::string listen =
      setting(*flags, "listen", env, "NEXUS_LISTEN").value_or(std::string(kDefaultListen));
  auto address = parse_listen_address(listen);
  if (!address) {
    return config_error("NEXUS_LISTEN \"" + listen +
                            "\" is not IP:PORT (e.g. 127.0.0.1:8090, [::1]:8090, 0.0.0.0:8090)",
                        "NEXUS_LISTEN");
  }
  config.server.listen = *address;

  config.database =
      setting(*flags, "database", env, "NEXUS_DATABASE").value_or(std::string(kDefaultDatabase));
  if (Status s = check_storage_url(config.database); !s.ok()) {
    return config_error("NEXUS_DATABASE \"" + redact_storage_url(config.database) +
                            "\" is not supported: " + s.message(),
                        "NEXUS_DATABASE");
  }

  config.server.threads = default_threads();
  if (auto threads = setting(*flags, "threads", env, "NEXUS_THREADS")) {
    auto n = thread_count(*threads, "NEXUS_THREADS");
    if (!n.ok()) return n.status();
    config.server.threads = n.value();
  }
  if (auto threads = setting(*flags, "blocking-threads", env, "NEXUS_BLOCKING_THREADS")) {
    auto n = thread_count(*threads, "NEXUS_BLOCKING_THREADS");
    if (!n.ok()) return n.status();
    config.server.blocking_threads = n.value();
  }

  if (auto proxies = setting(*flags, "trusted-proxies", env, "NEXUS_TRUSTED_PROXIES")) {
    std::string bad;
    auto list = parse_cidr_list(*proxies, &bad);
    if (!list) {
      return config_error("NEXUS_TRUSTED_PROXIES entry \"" + bad +
                              "\" is not an IP address or CIDR (e.g. 10.0.0.0/8)",
                          "NEXUS_TRUSTED_PROXIES");
    }
    config.trusted_proxies = std::move(*list);
  }

  config.master_key = env("NEXUS_MASTER_KEY");
  config.master_key_file = setting(*flags, "master-key-file", env, "NEXUS_MASTER_KEY_FILE");
  if (config.master_key_file && config.master_key_file->empty()) {
    return config_error("NEXUS_MASTER_KEY_FILE is empty", "NEXUS_MASTER_KEY_FILE");
  }

  if (auto ca_file = setting(*flags, "ca-file", env, "NEXUS_CA_FILE")) {
    if (ca_file->empty()) return config_error("NEXUS_CA_FILE is empty", "NEXUS_CA_FILE");
    config.ca_file = std::move(*ca_file);
  }
  if (auto insecure = env("NEXUS_DISCOVERY_ALLOW_INSECURE")) {
    if (*insecure != "0" && *insecure != "1") {
      return config_error("NEXUS_DISCOVERY_ALLOW_INSECURE \"" + *insecure + "\" is not 1 or 0",
                          "NEXUS_DISCOVERY_ALLOW_INSECURE");
    }
    config.discovery_allow_insecure = *insecure == "1";
  }

  config.api_key = env("API_KEY");
  if (config.api_key && config.api_key->empty()) {
    return config_error("API_KEY is set but empty; unset it to have a key generated", "API_KEY");
  }
  if (config.api_key && config.api_key->size() > kMaxApiKeyLength) {
    return config_error(
        "API_KEY is longer than " + std::to_string(kMaxApiKeyLength) + " characters", "API_KEY");
  }
  return config;
}

Result<KeysCommand> parse_keys_command(const std::vector<std::string>& args, const EnvLookup& env) {
  constexpr const char* kUsage =
      "usage: nexus keys create --workspace W --role admin|agent|auditor [--label L] | "
      "nexus keys list [--workspace W] | nexus keys revoke KEY_ID | nexus keys check | "
      "nexus keys rotate-master [--batch N] | nexus keys drop-master KEY_ID  (each also "
      "--database URL; the master key commands also --master-key-file PATH)";
  if (args.empty()) return config_error(kUsage, "");
  KeysCommand cmd;
  std::vector<std::string> positional;
  std::vector<std::string> rest(args.begin() + 1, args.end());
  const std::string& action = args[0];
  std::vector<std::string> known = {"database"};
  if (action == "create") {
    cmd.action = KeysCommand::Action::kCreate;
    known.insert(known.end(), {"workspace", "role", "label"});
  } else if (action == "list") {
    cmd.action = KeysCommand::Action::kList;
    known.push_back("workspace");
  } else if (action == "revoke") {
    cmd.action = KeysCommand::Action::kRevoke;
  } else if (action == "check") {
    cmd.action = KeysCommand::Action::kCheck;
    known.push_back("master-key-file");
  } else if (action == "rotate-master") {
    cmd.action = KeysCommand::Action::kRotateMaster;
    known.insert(known.end(), {"master-key-file", "batch"});
  } else if (action == "drop-master") {
    cmd.action = KeysCommand::Action::kDropMaster;
    known.push_back("master-key-file");
  } else {
    return config_error(kUsage, "");
  }
  const bool takes_id =
      cmd.action == KeysCommand::Action::kRevoke || cmd.action == KeysCommand::Action::kDropMaster;
  auto flags = parse_flags(rest, known, takes_id ? &positional : nullptr);
  if (!flags.ok()) return flags.status();
  cmd.database =
      setting(*flags, "database", env, "NEXUS_DATABASE").value_or(std::string(kDefaultDatabase));
  cmd.workspace = setting(*flags, "workspace", env, nullptr);
  if (cmd.action == KeysCommand::Action::kCreate) {
    if (!cmd.workspace || cmd.workspace->empty()) {
      return config_error("keys create needs --workspace", "workspace");
    }
    auto role = setting(*flags, "role", env, nullptr);
    if (!role) return config_error("keys create needs --role admin|agent|auditor", "role");
    auto parsed = parse_role(*role);
    if (!parsed) {
      return config_error("--role \"" + *role + "\" is not admin, agent or auditor", "role");
    }
    cmd.role = *parsed;
    cmd.label = setting(*flags, "label", env, nullptr).value_or("");
  }
  if (takes_id) {
    if (positional.size() != 1) {
      return config_error(cmd.action == KeysCommand::Action::kRevoke
                              ? "usage: nexus keys revoke KEY_ID"
                              : "usage: nexus keys drop-master KEY_ID",
                          "");
    }
    cmd.key_id = positional[0];
  }
  if (auto batch = setting(*flags, "batch", env, nullptr)) {
    auto n = number_up_to<std::size_t>(*batch, kMaxResealBatch, "--batch", "batch");
    if (!n.ok()) return n.status();
    cmd.reseal_batch = *n;
  }
  cmd.master_key = env("NEXUS_MASTER_KEY");
  cmd.master_key_file = setting(*flags, "master-key-file", env, "NEXUS_MASTER_KEY_FILE");
  if (cmd.master_key_file && cmd.master_key_file->empty()) {
    return config_error("NEXUS_MASTER_KEY_FILE is empty", "NEXUS_MASTER_KEY_FILE");
  }
  return cmd;
}

}  // namespace nexus::server

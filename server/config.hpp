// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// The command line and environment of the nexus binary, parsed into typed
// settings. Flags override environment variables; every error is one line a
// user can act on.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http_server.hpp"
#include "net.hpp"
#include "nexus/keys.hpp"
#include "nexus/status.hpp"

namespace nexus::server {

inline constexpr std::string_view kDefaultDatabase = "sqlite:var/nexus.db";
inline constexpr std::string_view kDefaultListen = "127.0.0.1:8090";
inline constexpr int kMaxThreads = 256;

// Reads an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;
EnvLookup process_env();

// The key file created on first start when the default database is used
// without NEXUS_MASTER_KEY or NEXUS_MASTER_KEY_FILE (docs/sealed-credentials.md).
inline constexpr std::string_view kDefaultMasterKeyFile = "var/master.key";

// `nexus serve`: API_KEY, NEXUS_LISTEN (--listen), NEXUS_DATABASE
// (--database; its form is checked here, see check_storage_url),
// NEXUS_TRUSTED_PROXIES (--trusted-proxies), NEXUS_THREADS (--threads),
// NEXUS_BLOCKING_THREADS (--blocking-threads, default 32: the pool that runs
// writes), NEXUS_MASTER_KEY, NEXUS_MASTER_KEY_FILE (--master-key-file),
// NEXUS_CA_FILE (--ca-file), NEXUS_DISCOVERY_ALLOW_INSECURE ("1" or "0").
// Secrets have no flag: command lines are visible to every user of the
// machine.
struct ServeConfig {
  ServerOptions server;
  std::string database = std::string(kDefaultDatabase);
  std::optional<std::string> api_key;     // a secret: never printed
  std::optional<std::string> master_key;  // a secret: never printed
  std::optional<std::string> master_key_file;
  std::vector<Cidr> trusted_proxies;
  // Extra trusted CAs for discovery's HTTPS client (HttpClientOptions::ca_file).
  std::string ca_file;
  // DEVELOPMENT ONLY: discovery may reach http and loopback/private issuers.
  bool discovery_allow_insecure = false;
};

// `args` excludes the program name and the subcommand.
Result<ServeConfig> parse_serve_config(const std::vector<std::string>& args, const EnvLookup& env);

// Threads when NEXUS_THREADS is unset: one per core, at least 4, so that a
// few requests blocked on the database do not hold up the rest.
int default_threads();

// `nexus keys create --workspace W --role R [--label L]`,
// `nexus keys list [--workspace W]`, `nexus keys revoke ID`,
// `nexus keys check`, `nexus keys rotate-master [--batch N]`,
// `nexus keys drop-master ID`; each also takes --database (NEXUS_DATABASE),
// the last three --master-key-file (NEXUS_MASTER_KEY_FILE).
struct KeysCommand {
  enum class Action {
    kCreate,
    kList,
    kRevoke,
    kCheck,         // how many values each master key seals
    kRotateMaster,  // new primary master key, then re-seal everything
    kDropMaster,    // remove an old master key that seals nothing
  } action = Action::kList;
  std::optional<std::string> master_key;       // NEXUS_MASTER_KEY
  std::optional<std::string> master_key_file;  // --master-key-file / NEXUS_MASTER_KEY_FILE
  std::string database = std::string(kDefaultDatabase);
  std::optional<std::string> workspace;
  Role role = Role::kAgent;
  std::string label;
  std::string key_id;
  // rotate-master: values re-sealed per transaction (--batch); 0 for the
  // default (kDefaultResealBatch). Smaller batches keep each write short
  // while a server runs on the same database.
  std::size_t reseal_batch = 0;
};

// The largest --batch of rotate-master.
inline constexpr std::size_t kMaxResealBatch = 100000;

// `args` excludes the program name and "keys".
Result<KeysCommand> parse_keys_command(const std::vector<std::string>& args, const EnvLookup& env);

}  // namespace nexus::server

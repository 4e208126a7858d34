// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// The nexus binary: `nexus serve` runs the HTTP server; `nexus keys
// create|list|revoke` manages API keys in the same database.
#include <boost/json/object.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "config.hpp"
#include "http_server.hpp"
#include "log.hpp"
#include "nexus/keys.hpp"
#include "nexus/nexus.hpp"
#include "nexus/sealing.hpp"
#include "nexus/vault.hpp"
#include "router.hpp"

namespace {

using namespace nexus;
using namespace nexus::server;

constexpr int kExitConfig = 2;   // bad configuration or usage
constexpr int kExitRuntime = 1;  // database, key store or listener failed

constexpr const char* kUsage =
    "usage: nexus serve [--listen IP:PORT] [--database URL] [--threads N] "
    "[--blocking-threads N]\n"
    "             [--trusted-proxies CIDRS] [--master-key-file PATH] [--ca-file PATH]\n"
    "       nexus keys create --workspace W --role admin|agent|auditor [--label L]\n"
    "       nexus keys list [--workspace W]\n"
    "       nexus keys revoke KEY_ID\n"
    "       nexus keys check | rotate-master | drop-master KEY_ID  [--master-key-file PATH]\n"
    "environment: API_KEY, NEXUS_LISTEN, NEXUS_DATABASE, NEXUS_TRUSTED_PROXIES, NEXUS_THREADS,\n"
    "             NEXUS_BLOCKING_THREADS,\n"
    "             NEXUS_MASTER_KEY, NEXUS_MASTER_KEY_FILE, NEXUS_CA_FILE,\n"
    "             NEXUS_DISCOVERY_ALLOW_INSECURE (development only)\n";

int fail(int code, const std::string& what, const Status& s) {
  std::string line = "nexus: " + what + s.message();
  std::fprintf(stderr, "%s\n", line.c_str());
  return code;
}

struct Opened {
  std::unique_ptr<Storage> storage;
  std::unique_ptr<KeyService> keys;
};

// Every message names the database by redact_storage_url: a URL's password
// is never printed.
Result<Opened> open_database(const std::string& url) {
  auto storage = open_storage(url);
  if (!storage.ok()) {
    return Status(storage.status().code(), "cannot open database \"" + redact_storage_url(url) +
                                               "\": " + storage.status().message());
  }
  Opened opened{.storage = std::move(storage).value(), .keys = nullptr};
  auto keys = KeyService::open({.storage = opened.storage.get()});
  if (!keys.ok()) {
    return Status(keys.status().code(), "cannot read the API keys of \"" + redact_storage_url(url) +
                                            "\": " + keys.status().message());
  }
  opened.keys = std::move(keys).value();
  return opened;
}

// The keyring that seals client secrets: NEXUS_MASTER_KEY or
// NEXUS_MASTER_KEY_FILE; without either, the default database gets
// var/master.key (created on first start) and the memory database a key that
// lives as long as its data.
Result<LoadedKeyring> load_keyring(const ServeConfig& config) {
  if (!config.master_key && !config.master_key_file && config.database == "memory:") {
    return LoadedKeyring{Keyring::generate(), "memory", false};
  }
  MasterKeySource source{.key_base64 = config.master_key,
                         .key_file = config.master_key_file,
                         .default_file = std::string(kDefaultMasterKeyFile),
                         .generate_default = config.database == kDefaultDatabase};
  return load_master_keys(source);
}

RequestContext cli_context(const char* agent) {
  return RequestContext{.workspace = std::string(kDefaultWorkspace),
                        .actor = std::nullopt,
                        .caller_ip = "",
                        .user_agent = agent};
}

int serve(const std::vector<std::string>& args) {
  auto config = parse_serve_config(args, process_env());
  if (!config.ok()) return fail(kExitConfig, "", config.status());
  // Bind before anything is created or written (database, keys, key file):
  // a start that cannot listen changes nothing and prints one line.
  auto server = HttpServer::open(config->server);
  if (!server.ok()) return fail(kExitRuntime, "", server.status());

  auto keyring = load_keyring(config.value());
  if (config->master_key) wipe(*config->master_key);
  if (!keyring.ok()) return fail(kExitConfig, "", keyring.status());
  auto db = open_database(config->database);
  if (!db.ok()) return fail(kExitRuntime, "", db.status());
  Opened opened = std::move(db).value();
  // Refuse before serving when stored secrets could not be opened.
  if (Status s = check_keyring_covers(*opened.storage, keyring->keyring); !s.ok()) {
    return fail(kExitConfig, "", s);
  }
  if (keyring->generated) {
    std::fprintf(stderr,
                 "nexus: created the master key file %s (mode 0600) to seal secrets; in "
                 "production, supply NEXUS_MASTER_KEY or NEXUS_MASTER_KEY_FILE\n",
                 keyring->origin.c_str());
  }
  Vault vault(std::make_shared<const Keyring>(std::move(keyring->keyring)));

  std::optional<std::string_view> configured;
  if (config->api_key) configured = *config->api_key;
  auto boot = opened.keys->bootstrap_admin(cli_context("nexus serve"), configured);
  if (config->api_key) wipe(*config->api_key);
  if (!boot.ok()) return fail(kExitRuntime, "API_KEY: ", boot.status());
  if (boot->generated) {
    // The one time this key exists in clear: stderr, not the JSON log.
    std::fprintf(stderr,
                 "nexus: API_KEY is not set, so an admin key for workspace \"%s\" was generated "
                 "(id %s).\nIt is shown only this once; store it now:\n\n  %s\n\n"
                 "Set API_KEY to choose your own, or create keys with `nexus keys create`.\n",
                 boot->generated->key.workspace.c_str(), boot->generated->key.id.c_str(),
                 boot->generated->text.c_str());
    boot->generated.reset();
  }
  for (const std::string& id : boot->revoked_ids) {
    log_event("info", "revoked the previous API_KEY key", {{"key_id", id}});
  }

  // Discovery's HTTPS client; an unreadable NEXUS_CA_FILE stops the start.
  auto http_client = make_default_http_client(HttpClientOptions{
      .ca_file = config->ca_file, .allow_insecure = config->discovery_allow_insecure});
  if (!http_client.ok()) return fail(kExitConfig, "NEXUS_CA_FILE: ", http_client.status());
  if (config->discovery_allow_insecure) {
    constexpr const char* kInsecure =
        "NEXUS_DISCOVERY_ALLOW_INSECURE=1: discovery accepts plain http issuers and endpoints "
        "and reaches loopback, private and link-local addresses; never use this in production";
    std::fprintf(stderr, "nexus: WARNING: %s\n", kInsecure);
    log_event("warn", kInsecure);
  }

  RegistryOptions registry_options;
  registry_options.storage = opened.storage.get();
  registry_options.vault = &vault;
  registry_options.http_client = http_client->get();
  registry_options.discovery_allow_insecure = config->discovery_allow_insecure;
  ProviderRegistry registry(registry_options);
  auto sealed = registry.seal_plaintext_secrets();
  if (!sealed.ok()) return fail(kExitRuntime, "cannot seal stored secrets: ", sealed.status());
  if (sealed.value() > 0) {
    log_event("info", "sealed client secrets stored in clear", {{"count", sealed.value()}});
  }
  ConnectionService connections(
      ConnectionOptions{.storage = opened.storage.get(), .vault = &vault});
  AuditLog audit(*opened.storage);
  RouterOptions router_options;
  router_options.trusted_proxies = config->trusted_proxies;
  Router router(RouterServices{.registry = &registry,
                               .connections = &connections,
                               .audit = &audit,
                               .keys = opened.keys.get(),
                               .storage = opened.storage.get()},
                std::move(router_options));

  log_event("info", "listening",
            {{"address", (*server)->address().to_string()},
             {"threads", config->server.threads},
             {"blocking_threads", config->server.blocking_threads}});
  Status s = (*server)->run(router);
  if (!s.ok()) {
    // Handlers still run inside the library: nothing they use may be
    // destroyed, so end here. Their connections are closed, so nothing they
    // do is acknowledged; SQLite rolls back an unfinished transaction.
    log_event("error", "stopped without waiting for every request", {{"error", s.message()}});
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(EXIT_SUCCESS);
  }

  // Every in-flight request has finished: close the database, then exit.
  server->reset();
  opened.keys.reset();
  opened.storage.reset();
  log_event("info", "stopped");
  return EXIT_SUCCESS;
}

// `nexus keys check | rotate-master | drop-master`: offline work on the
// sealed values of a database (docs/sealed-credentials.md).
int master_keys(const KeysCommand& cmd, Storage& storage) {
  const bool default_db = cmd.database == kDefaultDatabase;
  std::optional<std::string> file = cmd.master_key_file;
  if (!file && !cmd.master_key && default_db) file = std::string(kDefaultMasterKeyFile);
  auto counts = storage.envelope_key_counts();
  if (!counts.ok()) return fail(kExitRuntime, "", counts.status());

  if (cmd.action == KeysCommand::Action::kCheck) {
    auto loaded = load_master_keys({.key_base64 = cmd.master_key, .key_file = file});
    if (!loaded.ok()) return fail(kExitConfig, "", loaded.status());
    const Keyring& ring = loaded->keyring;
    for (const std::string& id : ring.ids()) {
      auto it = counts->find(id);
      std::fprintf(stdout, "%s  %s  %lld sealed values\n", id.c_str(),
                   id == ring.primary_id() ? "primary" : "old    ",
                   static_cast<long long>(it == counts->end() ? 0 : it->second));
    }
    Status covered = check_keyring_covers(storage, ring);
    if (!covered.ok()) return fail(kExitConfig, "", covered);
    return EXIT_SUCCESS;
  }

  if (!file) {
    return fail(kExitConfig, "",
                Status(ErrorCode::kValidationFailed,
                       "master key commands change the key file: set NEXUS_MASTER_KEY_FILE or "
                       "--master-key-file (NEXUS_MASTER_KEY names a single key)",
                       "master_key_file"));
  }
  auto loaded = load_master_keys({.key_file = file});
  if (!loaded.ok()) return fail(kExitConfig, "", loaded.status());
  if (Status s = check_keyring_covers(storage, loaded->keyring); !s.ok()) {
    return fail(kExitConfig, "", s);
  }

  if (cmd.action == KeysCommand::Action::kDropMaster) {
    auto it = counts->find(cmd.key_id);
    if (it != counts->end() && it->second > 0) {
      return fail(kExitConfig, "",
                  Status(ErrorCode::kValidationFailed,
                         "key " + cmd.key_id + " still seals " + std::to_string(it->second) +
                             " values; run `nexus keys rotate-master` first",
                         "key_id"));
    }
    Keyring ring = std::move(loaded->keyring);
    if (Status s = ring.remove(cmd.key_id); !s.ok()) return fail(kExitConfig, "", s);
    if (Status s = write_key_file(*file, ring); !s.ok()) return fail(kExitRuntime, "", s);
    std::fprintf(stdout, "dropped %s from %s\n", cmd.key_id.c_str(), file->c_str());
    return EXIT_SUCCESS;
  }

  // rotate-master. Values left under an older key mean an earlier rotation
  // was interrupted: finish it rather than make yet another key.
  Keyring ring = std::move(loaded->keyring);
  std::int64_t behind = 0;
  for (const auto& [id, n] : counts.value()) {
    if (id != ring.primary_id()) behind += n;
  }
  if (behind > 0 && ring.ids().size() > 1) {
    std::fprintf(stderr, "resuming the rotation to %s: %lld values under older keys\n",
                 ring.primary_id().c_str(), static_cast<long long>(behind));
  } else {
    ring = ring.rotated();
    // The new key is on disk before anything is sealed with it.
    if (Status s = write_key_file(*file, ring); !s.ok()) return fail(kExitRuntime, "", s);
    std::fprintf(stderr, "new primary master key %s written to %s\n", ring.primary_id().c_str(),
                 file->c_str());
  }
  Vault vault(std::make_shared<const Keyring>(std::move(ring)));
  auto report = reseal_under_primary(storage, vault, kDefaultResealBatch,
                                     [](const ResealReport& r) {
                                       std::fprintf(stderr, "  re-sealed %zu values\n",
                                                    r.resealed);
                                       return true;
                                     });
  if (!report.ok()) return fail(kExitRuntime, "re-sealing stopped: ", report.status());
  std::fprintf(stdout, "re-sealed %zu values under %s in %zu batches (%zu changed meanwhile)\n",
               report->resealed, vault.keyring().primary_id().c_str(), report->batches,
               report->skipped);
  for (const std::string& id : vault.keyring().ids()) {
    if (id != vault.keyring().primary_id()) {
      std::fprintf(stdout, "old key %s can now be dropped: nexus keys drop-master %s\n",
                   id.c_str(), id.c_str());
    }
  }
  return EXIT_SUCCESS;
}

std::string format_key(const ApiKey& k) {
  std::string line = k.id + "  " + k.workspace + "  " + std::string(to_string(k.role)) + "  " +
                     format_rfc3339(k.created_at) + "  " +
                     (k.revoked_at ? "revoked " + format_rfc3339(*k.revoked_at) : "active");
  if (!k.label.empty()) line += "  " + k.label;
  return line;
}

int keys(const std::vector<std::string>& args) {
  auto cmd = parse_keys_command(args, process_env());
  if (!cmd.ok()) return fail(kExitConfig, "", cmd.status());
  auto db = open_database(cmd->database);
  if (!db.ok()) return fail(kExitRuntime, "", db.status());
  Opened opened = std::move(db).value();
  RequestContext ctx = cli_context("nexus keys");
  if (const char* user = std::getenv("USER")) ctx.actor = std::string("cli:") + user;

  switch (cmd->action) {
    case KeysCommand::Action::kCreate: {
      auto issued = opened.keys->create(ctx, *cmd->workspace, cmd->role, cmd->label);
      if (!issued.ok()) return fail(kExitRuntime, "", issued.status());
      std::fprintf(stderr, "created %s (workspace %s, role %s); the key is shown only once:\n",
                   issued->key.id.c_str(), issued->key.workspace.c_str(),
                   std::string(to_string(issued->key.role)).c_str());
      std::fprintf(stdout, "%s\n", issued->text.c_str());
      return EXIT_SUCCESS;
    }
    case KeysCommand::Action::kList: {
      std::optional<std::string_view> workspace;
      if (cmd->workspace) workspace = *cmd->workspace;
      auto list = opened.keys->list(workspace);
      if (!list.ok()) return fail(kExitRuntime, "", list.status());
      for (const ApiKey& k : list.value()) std::fprintf(stdout, "%s\n", format_key(k).c_str());
      return EXIT_SUCCESS;
    }
    case KeysCommand::Action::kRevoke: {
      Status s = opened.keys->revoke(ctx, cmd->key_id);
      if (!s.ok()) return fail(kExitRuntime, "", s);
      std::fprintf(stdout, "revoked %s\n", cmd->key_id.c_str());
      return EXIT_SUCCESS;
    }
    case KeysCommand::Action::kCheck:
    case KeysCommand::Action::kRotateMaster:
    case KeysCommand::Action::kDropMaster:
      return master_keys(cmd.value(), *opened.storage);
  }
  return kExitRuntime;
}

}  // namespace

int main(int argc, char** argv) {
  // Whole lines reach a pipe or file as soon as they are written.
  std::setvbuf(stdout, nullptr, _IOLBF, 1 << 16);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? kExitConfig : EXIT_SUCCESS;
  }
  std::string command = args[0];
  args.erase(args.begin());
  if (command == "serve") return serve(args);
  if (command == "keys") return keys(args);
  std::fprintf(stderr, "nexus: unknown command \"%s\"\n%s", command.c_str(), kUsage);
  return kExitConfig;
}

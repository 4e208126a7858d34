// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// The nexus binary: `nexus serve` runs the HTTP server; `nexus keys
// create|list|revoke` manages API keys in the same database.
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
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
    "       nexus keys check | rotate-master [--batch N] | drop-master KEY_ID\n"
    "             [--master-key-file PATH]\n"
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

// Secrets read from the environment stay nowhere else in the process: each
// value is wiped in place, then the variable removed (child processes and
// /proc/PID/environ readers find nothing).
void scrub_secret_environment() {
  for (const char* name : {"NEXUS_MASTER_KEY", "API_KEY"}) {
    if (char* value = std::getenv(name)) {
      explicit_bzero(value, std::strlen(value));
      ::unsetenv(name);
    }
  }
}

// Where the master keys come from: NEXUS_MASTER_KEY or NEXUS_MASTER_KEY_FILE;
// without either, the default database uses var/master.key (see
// prepare_master_keys). Consumes `master_key`.
MasterKeySource master_key_source(const ServeConfig& config,
                                  std::optional<std::string>& master_key) {
  MasterKeySource source{.key_base64 = std::move(master_key),
                         .key_file = config.master_key_file,
                         .default_file = std::string(kDefaultMasterKeyFile),
                         .generate_default = config.database == kDefaultDatabase};
  master_key.reset();
  return source;
}

boost::json::array key_ids_json(const Keyring& ring) {
  boost::json::array ids;
  for (const std::string& id : ring.ids()) ids.emplace_back(id);
  return ids;
}

// Sealed values that no key can open (a damaged row): reported by place, ids
// only; each answers credential_unreadable until replaced.
void report_malformed(const std::vector<SealedPlace>& malformed) {
  constexpr std::size_t kMaxListed = 100;
  for (std::size_t i = 0; i < malformed.size() && i < kMaxListed; ++i) {
    const SealedPlace& p = malformed[i];
    log_event("warn",
              "a sealed value is malformed and cannot be opened; reads of it answer "
              "credential_unreadable until it is replaced",
              {{"workspace", p.workspace},
               {"owner_kind", p.owner_kind},
               {"owner_id", p.owner_id},
               {"field", p.field}});
  }
  if (malformed.size() > kMaxListed) {
    log_event("warn", "more malformed sealed values not listed",
              {{"count", malformed.size() - kMaxListed}});
  }
}

// SIGHUP: the key file, read again, becomes the keyring (reload_key_file).
void reload_master_keys(const std::optional<std::string>& key_file, Vault& vault,
                        Storage& storage) {
  if (!key_file) {
    log_event("warn", "SIGHUP: the master key comes from NEXUS_MASTER_KEY; nothing to reload");
    return;
  }
  auto now = reload_key_file(vault, storage, *key_file);
  if (!now.ok()) {
    log_event("error", "SIGHUP: kept the current master keys", {{"error", now.status().message()}});
    return;
  }
  log_event("info", "master keys reloaded",
            {{"trigger", "SIGHUP"},
             {"primary_key_id", (*now)->primary_id()},
             {"key_ids", key_ids_json(**now)}});
}

RequestContext cli_context(const char* agent) {
  return RequestContext{.workspace = std::string(kDefaultWorkspace),
                        .actor = std::nullopt,
                        .caller_ip = "",
                        .user_agent = agent};
}

int serve(const std::vector<std::string>& args) {
  // A SIGHUP before the server listens must not kill it; once it listens,
  // SIGHUP reloads the master keys.
  std::signal(SIGHUP, SIG_IGN);
  auto config = parse_serve_config(args, process_env());
  scrub_secret_environment();
  if (!config.ok()) return fail(kExitConfig, "", config.status());
  // SIGHUP reloads the master keys once the vault exists (set below).
  std::function<void()> reload;
  config->server.on_reload = [&reload] {
    if (reload) reload();
  };
  // Bind before anything is created or written (database, keys, key file):
  // a start that cannot listen changes nothing and prints one line.
  auto server = HttpServer::open(config->server);
  if (!server.ok()) return fail(kExitRuntime, "", server.status());

  // The master keys are checked against the stored values before anything is
  // written: a refused start leaves the database (even at an older schema)
  // and the key file exactly as they were.
  MasterKeySource source = master_key_source(config.value(), config->master_key);
  auto keys = prepare_master_keys(source, config->database);
  if (source.key_base64) wipe(*source.key_base64);
  if (!keys.ok()) {
    // A key or key file that does not fit the database is configuration; a
    // database or key file that cannot be read or written is not.
    const bool config_error = keys.status().code() == ErrorCode::kValidationFailed;
    return fail(config_error ? kExitConfig : kExitRuntime, "", keys.status());
  }
  if (keys->created_key_file) {
    std::fprintf(stderr,
                 "nexus: WARNING: created the master key file %s (mode 0600) to seal secrets; "
                 "in production, supply NEXUS_MASTER_KEY or NEXUS_MASTER_KEY_FILE\n",
                 keys->origin.c_str());
  }
  report_malformed(keys->census.malformed);

  auto db = open_database(config->database);
  if (!db.ok()) return fail(kExitRuntime, "", db.status());
  Opened opened = std::move(db).value();

  // A rotation run elsewhere (`nexus keys rotate-master`) adds a key to the
  // file: the first envelope under it makes the vault read the file again
  // (at most once a second), and SIGHUP does so at once.
  const std::optional<std::string>& key_file = keys->reloadable_file;
  VaultOptions vault_options;
  if (key_file) {
    vault_options.reload = [path = *key_file](std::string_view missing) -> Result<Keyring> {
      auto ring = Keyring::from_file(path);
      if (!ring.ok()) {
        log_event("error", "could not reload the master keys for an unknown key id",
                  {{"missing_key_id", missing}, {"error", ring.status().message()}});
        return ring;
      }
      log_event("info", "master keys reloaded",
                {{"trigger", "unknown key id"},
                 {"missing_key_id", missing},
                 {"primary_key_id", ring->primary_id()},
                 {"key_ids", key_ids_json(ring.value())}});
      return ring;
    };
  }
  Vault vault(std::make_shared<const Keyring>(std::move(keys->keyring)), std::move(vault_options));

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
  HttpClientOptions client_options;
  client_options.ca_file = config->ca_file;
  client_options.allow_insecure = config->discovery_allow_insecure;
  auto http_client = make_default_http_client(client_options);
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

  // Refetches expired discovery documents on a thread of its own.
  DiscoveryRefresher refresher(
      registry, DiscoveryRefresherOptions{.on_pass = [](const DiscoveryRefreshReport& r) {
        if (r.refreshed + r.failed + r.skipped == 0 && r.status.ok()) return;
        boost::json::object fields{
            {"refreshed", r.refreshed}, {"failed", r.failed}, {"skipped", r.skipped}};
        if (!r.status.ok()) fields["error"] = r.status.message();
        log_event(r.status.ok() ? "info" : "error", "discovery refresh", fields);
      }});
  reload = [&] { reload_master_keys(key_file, vault, *opened.storage); };
  log_event("info", "listening",
            {{"address", (*server)->address().to_string()},
             {"threads", config->server.threads},
             {"blocking_threads", config->server.blocking_threads}});
  refresher.start();
  Status s = (*server)->run(router);
  refresher.stop();
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

// Why a master key command needs a key file, with the line that moves a
// single NEXUS_MASTER_KEY into one.
Status needs_key_file(const KeysCommand& cmd) {
  std::string hint;
  if (cmd.master_key) {
    if (auto ring = Keyring::from_base64(*cmd.master_key); ring.ok()) {
      hint = ": move NEXUS_MASTER_KEY into a key file first, as the line \"" + ring->primary_id() +
             " <the key>\" (its derived id, then the key), and use that file";
    }
  }
  return Status(ErrorCode::kValidationFailed,
                "master key commands change the key file: set NEXUS_MASTER_KEY_FILE or "
                "--master-key-file (NEXUS_MASTER_KEY names a single key)" +
                    hint,
                "master_key_file");
}

// `nexus keys check`: how many values each key seals, read without changing
// the database.
int check_master_keys(KeysCommand& cmd, const std::optional<std::string>& file) {
  MasterKeySource source;
  source.key_base64 = std::move(cmd.master_key);
  source.key_file = file;
  cmd.master_key.reset();
  auto loaded = load_master_keys(source);
  if (source.key_base64) wipe(*source.key_base64);
  if (!loaded.ok()) return fail(kExitConfig, "", loaded.status());
  auto census = census_sealed_values(cmd.database);
  if (!census.ok()) return fail(kExitRuntime, "", census.status());
  const Keyring& ring = loaded->keyring;
  for (const std::string& id : ring.ids()) {
    auto it = census->by_key.find(id);
    std::fprintf(stdout, "%s  %s  %lld sealed values\n", id.c_str(),
                 id == ring.primary_id() ? "primary" : "old    ",
                 static_cast<long long>(it == census->by_key.end() ? 0 : it->second));
  }
  for (const auto& [id, n] : census->by_key) {
    if (!ring.contains(id)) {
      std::fprintf(stdout, "%s  MISSING  %lld sealed values\n", id.c_str(),
                   static_cast<long long>(n));
    }
  }
  for (const SealedPlace& p : census->malformed) {
    std::fprintf(stdout, "malformed sealed value (unreadable): workspace %s, %s %s, %s\n",
                 p.workspace.c_str(), p.owner_kind.c_str(), p.owner_id.c_str(), p.field.c_str());
  }
  Status covered = check_keyring_covers(census.value(), ring);
  if (!covered.ok()) return fail(kExitConfig, "", covered);
  return EXIT_SUCCESS;
}

// `nexus keys check | rotate-master | drop-master`: offline work on the
// sealed values of a database (docs/sealed-credentials.md). The keys are
// checked against the stored values before the database is opened for
// writing; rotate-master and drop-master hold <key file>.lock throughout.
int master_keys(KeysCommand& cmd, const RequestContext& ctx) {
  const bool default_db = cmd.database == kDefaultDatabase;
  std::optional<std::string> file = cmd.master_key_file;
  if (!file && !cmd.master_key && default_db) file = std::string(kDefaultMasterKeyFile);
  if (cmd.action == KeysCommand::Action::kCheck) return check_master_keys(cmd, file);

  if (!file) {
    Status why = needs_key_file(cmd);
    if (cmd.master_key) wipe(*cmd.master_key);
    return fail(kExitConfig, "", why);
  }
  if (cmd.master_key) wipe(*cmd.master_key);
  auto lock = KeyFileLock::acquire(*file);
  if (!lock.ok()) return fail(kExitRuntime, "", lock.status());
  MasterKeySource source;
  source.key_file = file;
  auto loaded = load_master_keys(source);
  if (!loaded.ok()) return fail(kExitConfig, "", loaded.status());
  auto census = census_sealed_values(cmd.database);
  if (!census.ok()) return fail(kExitRuntime, "", census.status());
  if (Status s = check_keyring_covers(census.value(), loaded->keyring); !s.ok()) {
    return fail(kExitConfig, "", s);
  }
  auto db = open_database(cmd.database);
  if (!db.ok()) return fail(kExitRuntime, "", db.status());
  Storage& storage = *db->storage;
  auto counts = storage.envelope_key_counts();
  if (!counts.ok()) return fail(kExitRuntime, "", counts.status());

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
  // was interrupted (or a server sealed under the old primary meanwhile):
  // finish it rather than make yet another key.
  Keyring ring = std::move(loaded->keyring);
  std::int64_t behind = 0;
  for (const auto& [id, n] : counts.value()) {
    if (!id.empty() && id != ring.primary_id()) behind += n;
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
  ResealOptions options;
  options.batch = cmd.reseal_batch;
  options.progress = [](const ResealReport& r) {
    std::fprintf(stderr, "  re-sealed %zu values\n", r.resealed);
    return true;
  };
  options.actor = ctx.actor;
  auto report = reseal_under_primary(storage, vault, options);
  if (!report.ok()) return fail(kExitRuntime, "re-sealing stopped: ", report.status());
  const std::shared_ptr<const Keyring> done = vault.keyring();
  std::fprintf(stdout, "re-sealed %zu values under %s in %zu batches (%zu changed meanwhile)\n",
               report->resealed, done->primary_id().c_str(), report->batches, report->skipped);
  for (const SealedPlace& p : report->unreadable) {
    std::fprintf(stdout,
                 "could not open (left as is): workspace %s, %s %s, %s; delete or replace it\n",
                 p.workspace.c_str(), p.owner_kind.c_str(), p.owner_id.c_str(), p.field.c_str());
  }
  if (report->skipped > 0) {
    std::fprintf(stdout, "values changed meanwhile: run `nexus keys rotate-master` again\n");
  }
  for (const std::string& id : done->ids()) {
    if (id != done->primary_id()) {
      std::fprintf(stdout, "once nothing is left under it: nexus keys drop-master %s\n",
                   id.c_str());
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
  scrub_secret_environment();
  if (!cmd.ok()) return fail(kExitConfig, "", cmd.status());
  RequestContext ctx = cli_context("nexus keys");
  if (const char* user = std::getenv("USER")) ctx.actor = std::string("cli:") + user;
  if (cmd->action == KeysCommand::Action::kCheck ||
      cmd->action == KeysCommand::Action::kRotateMaster ||
      cmd->action == KeysCommand::Action::kDropMaster) {
    return master_keys(cmd.value(), ctx);
  }
  if (cmd->master_key) wipe(*cmd->master_key);
  auto db = open_database(cmd->database);
  if (!db.ok()) return fail(kExitRuntime, "", db.status());
  Opened opened = std::move(db).value();

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
      break;  // handled above
  }
  return kExitRuntime;
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything opens a database (see use_sqlite_block_cache).
  nexus::use_sqlite_block_cache();
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

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Addresses, trusted proxies and the serve/keys configuration.
#include <catch2/catch.hpp>
#include <map>

#include "config.hpp"
#include "net.hpp"
#include "nexus/storage.hpp"

namespace nexus::testing {
namespace {

using namespace nexus::server;

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST_CASE("IP literals and CIDRs", "[server][net]") {
  CHECK(parse_ip("10.1.2.3")->to_string() == "10.1.2.3");
  CHECK(parse_ip("::ffff:10.1.2.3")->to_string() == "10.1.2.3");
  CHECK(parse_ip("2001:DB8::1")->to_string() == "2001:db8::1");
  CHECK_FALSE(parse_ip("10.1.2"));
  CHECK_FALSE(parse_ip("[::1]"));
  CHECK_FALSE(parse_ip(""));
  CHECK_FALSE(parse_ip("example.com"));

  auto net8 = parse_cidr("10.0.0.0/8");
  REQUIRE(net8);
  CHECK(net8->contains(*parse_ip("10.200.1.1")));
  CHECK_FALSE(net8->contains(*parse_ip("11.0.0.1")));
  CHECK_FALSE(net8->contains(*parse_ip("::1")));
  auto host = parse_cidr("192.0.2.7");
  REQUIRE(host);
  CHECK(host->contains(*parse_ip("192.0.2.7")));
  CHECK_FALSE(host->contains(*parse_ip("192.0.2.8")));
  CHECK(parse_cidr("2001:db8::/32")->contains(*parse_ip("2001:db8:ffff::1")));
  CHECK(parse_cidr("0.0.0.0/0")->contains(*parse_ip("8.8.8.8")));
  CHECK_FALSE(parse_cidr("10.0.0.0/33"));
  CHECK_FALSE(parse_cidr("10.0.0.0/"));
  CHECK_FALSE(parse_cidr("10.0.0.0/x"));

  std::string bad;
  CHECK(parse_cidr_list("10.0.0.0/8, 127.0.0.1 ,::1", &bad)->size() == 3);
  CHECK(parse_cidr_list("", &bad)->empty());
  CHECK_FALSE(parse_cidr_list("10.0.0.0/8,nope", &bad));
  CHECK(bad == "nope");
}

TEST_CASE("the caller IP comes from X-Forwarded-For only through trusted proxies",
          "[server][net]") {
  std::vector<Cidr> proxies = {*parse_cidr("10.0.0.0/8")};
  CHECK(resolve_caller_ip("192.0.2.1", "1.2.3.4", proxies) == "192.0.2.1");
  CHECK(resolve_caller_ip("10.0.0.5", "1.2.3.4", proxies) == "1.2.3.4");
  // The client may forge the left part; only the hop our proxy saw counts.
  CHECK(resolve_caller_ip("10.0.0.5", "6.6.6.6, 1.2.3.4", proxies) == "1.2.3.4");
  CHECK(resolve_caller_ip("10.0.0.5", "1.2.3.4, 10.0.0.9", proxies) == "1.2.3.4");
  CHECK(resolve_caller_ip("10.0.0.5", "", proxies) == "10.0.0.5");
  CHECK(resolve_caller_ip("10.0.0.5", "garbage", proxies) == "10.0.0.5");
  CHECK(resolve_caller_ip("::ffff:192.0.2.1", "", {}) == "192.0.2.1");
}

TEST_CASE("listen addresses", "[server][net]") {
  CHECK(parse_listen_address("127.0.0.1:8090")->to_string() == "127.0.0.1:8090");
  CHECK(parse_listen_address("[::1]:0")->to_string() == "[::1]:0");
  CHECK(parse_listen_address("localhost:80")->host == "127.0.0.1");
  CHECK(parse_listen_address("0.0.0.0:65535")->port == 65535);
  for (const char* bad : {"", "8090", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "::1:80",
                          "[127.0.0.1]:80", "example.com:80", "127.0.0.1:80x", "127.0.0.1:-1"}) {
    INFO(bad);
    CHECK_FALSE(parse_listen_address(bad));
  }
}

TEST_CASE("serve configuration from environment and flags", "[server][config]") {
  auto defaults = parse_serve_config({}, env_of({}));
  REQUIRE(defaults.ok());
  CHECK(defaults->server.listen.to_string() == "127.0.0.1:8090");
  CHECK(defaults->database == "sqlite:var/nexus.db");
  CHECK_FALSE(defaults->api_key);
  CHECK(defaults->server.threads >= 4);
  CHECK(defaults->server.body_limit == 64 * 1024);
  CHECK(defaults->server.header_limit == 8 * 1024);

  auto env = parse_serve_config({}, env_of({{"NEXUS_LISTEN", "0.0.0.0:9000"},
                                            {"NEXUS_DATABASE", "memory:"},
                                            {"NEXUS_THREADS", "3"},
                                            {"NEXUS_TRUSTED_PROXIES", "10.0.0.0/8"},
                                            {"API_KEY", "your-api-key"}}));
  REQUIRE(env.ok());
  CHECK(env->server.listen.port == 9000);
  CHECK(env->database == "memory:");
  CHECK(env->server.threads == 3);
  CHECK(env->trusted_proxies.size() == 1);
  CHECK(env->api_key == "your-api-key");

  auto flags = parse_serve_config({"--listen", "127.0.0.1:1", "--threads=2"},
                                  env_of({{"NEXUS_LISTEN", "0.0.0.0:9000"}}));
  REQUIRE(flags.ok());
  CHECK(flags->server.listen.port == 1);
  CHECK(flags->server.threads == 2);

  // The blocking pool (writes, discovery): 32 by default.
  CHECK(defaults->server.blocking_threads == 32);
  auto blocking = parse_serve_config({}, env_of({{"NEXUS_BLOCKING_THREADS", "5"}}));
  REQUIRE(blocking.ok());
  CHECK(blocking->server.blocking_threads == 5);
  auto blocking_flag =
      parse_serve_config({"--blocking-threads", "7"}, env_of({{"NEXUS_BLOCKING_THREADS", "5"}}));
  REQUIRE(blocking_flag.ok());
  CHECK(blocking_flag->server.blocking_threads == 7);

  struct Bad {
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    std::string field;
  };
  for (const auto& b :
       {Bad{{}, {{"NEXUS_LISTEN", "nowhere"}}, "NEXUS_LISTEN"},
        Bad{{}, {{"NEXUS_THREADS", "0"}}, "NEXUS_THREADS"},
        Bad{{}, {{"NEXUS_THREADS", "many"}}, "NEXUS_THREADS"},
        Bad{{}, {{"NEXUS_TRUSTED_PROXIES", "10.0.0.0/99"}}, "NEXUS_TRUSTED_PROXIES"},
        Bad{{}, {{"API_KEY", ""}}, "API_KEY"}, Bad{{}, {{"NEXUS_DATABASE", ""}}, "NEXUS_DATABASE"},
        Bad{{"--api-key", "x"}, {}, "api-key"}, Bad{{"--listen"}, {}, "listen"},
        Bad{{"stray"}, {}, "stray"},
        Bad{{}, {{"NEXUS_BLOCKING_THREADS", "0"}}, "NEXUS_BLOCKING_THREADS"},
        Bad{{"--blocking-threads", "lots"}, {}, "NEXUS_BLOCKING_THREADS"},
        Bad{{}, {{"NEXUS_DATABASE", "postgres://nowhere"}}, "NEXUS_DATABASE"},
        Bad{{}, {{"NEXUS_DATABASE", "/tmp/x.db"}}, "NEXUS_DATABASE"},
        Bad{{}, {{"NEXUS_DATABASE", "sqlite:"}}, "NEXUS_DATABASE"}}) {
    auto r = parse_serve_config(b.args, env_of(b.env));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().field() == b.field);
    CHECK(r.status().message().find('\n') == std::string::npos);
  }
}

TEST_CASE("a bad database URL is named without its password", "[server][config]") {
  // Checked with the rest of the configuration, before any key is looked
  // for: the message names the URL's problem.
  auto r = parse_serve_config(
      {}, env_of({{"NEXUS_DATABASE", "postgresql://nexus:Hunter2Secret@db.example/nexus"}}));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().field() == "NEXUS_DATABASE");
  CHECK(r.status().message().find("Hunter2Secret") == std::string::npos);
  CHECK_THAT(r.status().message(), Catch::Contains("postgresql://nexus:***@db.example/nexus"));
  CHECK_THAT(r.status().message(), Catch::Contains("sqlite:PATH"));
}

TEST_CASE("database URLs are printed with their password masked", "[server][config][storage]") {
  struct Case {
    const char* url;
    const char* shown;
  };
  for (auto [url, shown] : {
           Case{"postgresql://u:pw@db/x", "postgresql://u:***@db/x"},
           Case{"postgres://u:p%40ss@db:5432/x?sslmode=require",
                "postgres://u:***@db:5432/x?sslmode=require"},
           Case{"postgresql://u:p@ss@db/x", "postgresql://u:***@db/x"},
           Case{"postgresql://u@db/x", "postgresql://u@db/x"},
           Case{"postgresql://db/x?user=u&password=pw&sslmode=require",
                "postgresql://db/x?user=u&password=***&sslmode=require"},
           Case{"postgresql://db/x?PASSWORD=pw", "postgresql://db/x?PASSWORD=***"},
           Case{"host=db user=u password=pw dbname=x", "host=db user=u password=*** dbname=x"},
           Case{"postgresql://u:pw@db", "postgresql://u:***@db"},
           // Characters that end an authority elsewhere, inside a password.
           Case{"postgresql://u:p?w@db/x", "postgresql://u:***@db/x"},
           Case{"postgresql://u:p#w@db/x", "postgresql://u:***@db/x"},
           Case{"postgresql://u:p/w@db/x", "postgresql://u:***@db/x"},
           Case{"host=db password='a b' dbname=x", "host=db password=*** dbname=x"},
           Case{"host=db password='a\\' b' user=u", "host=db password=*** user=u"},
           Case{"sqlite:var/nexus.db", "sqlite:var/nexus.db"},
           Case{"sqlite:/tmp/a:b@c.db", "sqlite:/tmp/a:b@c.db"},
           Case{"memory:", "memory:"},
           Case{"", ""},
       }) {
    INFO(url);
    CHECK(redact_storage_url(url) == shown);
  }
  CHECK(check_storage_url("memory:").ok());
  CHECK(check_storage_url("sqlite:x.db").ok());
  for (const char* bad : {"", "sqlite:", "postgresql://u:pw@db/x", "/tmp/x.db", "memory"}) {
    INFO(bad);
    Status s = check_storage_url(bad);
    CHECK(s.code() == ErrorCode::kValidationFailed);
    CHECK(s.field() == "database");
    CHECK(s.message().find("pw") == std::string::npos);
  }
}

TEST_CASE("keys subcommand arguments", "[server][config]") {
  auto create = parse_keys_command({"create", "--workspace", "acme", "--role", "auditor"},
                                   env_of({{"NEXUS_DATABASE", "memory:"}}));
  REQUIRE(create.ok());
  CHECK(create->action == KeysCommand::Action::kCreate);
  CHECK(create->workspace == "acme");
  CHECK(create->role == Role::kAuditor);
  CHECK(create->database == "memory:");

  auto revoke = parse_keys_command({"revoke", "key_abc", "--database", "sqlite:x.db"}, env_of({}));
  REQUIRE(revoke.ok());
  CHECK(revoke->key_id == "key_abc");
  CHECK(revoke->database == "sqlite:x.db");

  CHECK(parse_keys_command({"list"}, env_of({})).ok());
  CHECK_FALSE(parse_keys_command({}, env_of({})).ok());
  CHECK_FALSE(parse_keys_command({"create", "--role", "admin"}, env_of({})).ok());
  CHECK_FALSE(
      parse_keys_command({"create", "--workspace", "w", "--role", "root"}, env_of({})).ok());
  CHECK_FALSE(parse_keys_command({"revoke"}, env_of({})).ok());
  CHECK_FALSE(parse_keys_command({"list", "extra"}, env_of({})).ok());
}

}  // namespace
}  // namespace nexus::testing

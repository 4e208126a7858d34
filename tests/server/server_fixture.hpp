// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// A router over an in-memory (or faulty) storage, with keys of two workspaces
// and three roles, and helpers to send it requests.
#pragma once

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "http_message.hpp"
#include "nexus/keys.hpp"
#include "nexus/nexus.hpp"
#include "router.hpp"
#include "storage/forwarding_storage.hpp"
#include "test_support.hpp"

namespace nexus::testing {

// How the socket layer runs route_for(method, target): on the blocking pool,
// or asynchronously; false when no route matches.
inline bool route_is_blocking(std::string_view method, std::string_view target) {
  const server::RouteInfo* route = server::Router::route_for(method, target);
  return route != nullptr && route->blocking;
}
inline bool route_is_async(std::string_view method, std::string_view target) {
  const server::RouteInfo* route = server::Router::route_for(method, target);
  return route != nullptr && route->async;
}

// Delegates to a real storage; fails every call with `failure` while it is
// set, for 500 and 503 paths.
class FaultyStorage final : public ForwardingStorage {
 public:
  using ForwardingStorage::ForwardingStorage;
  std::optional<Status> failure;
  // Called before every delete_provider, e.g. to hold it like a locked
  // database would. Set it before the calls it is meant for.
  std::function<void()> before_delete;
  // When set, append_audit_async hands each event and its completion here
  // instead of appending it (see HeldAppends). Set it before the calls.
  std::function<void(AuditEvent, std::function<void(Status)>)> on_append_async;
  void append_audit_async(AuditEvent e, std::function<void(Status)> done) override {
    if (on_append_async) return on_append_async(std::move(e), std::move(done));
    ForwardingStorage::append_audit_async(std::move(e), std::move(done));
  }

 protected:
  Status intercept(Call call) override {
    if (call == Call::kDeleteProvider && before_delete) before_delete();
    return failure ? *failure : Status::Ok();
  }
};

// Holds the asynchronous audit appends of a FaultyStorage, as a writer
// thread that has not got to them yet would, until the test completes them.
class HeldAppends {
 public:
  explicit HeldAppends(FaultyStorage& storage) : storage_(storage) {
    storage_.on_append_async = [this](AuditEvent e, std::function<void(Status)> done) {
      std::lock_guard lock(mu_);
      held_.push_back({std::move(e), std::move(done)});
      cv_.notify_all();
    };
  }
  ~HeldAppends() { storage_.on_append_async = nullptr; }
  HeldAppends(const HeldAppends&) = delete;
  HeldAppends& operator=(const HeldAppends&) = delete;

  // Waits (generously) until `n` appends have been held in all.
  bool wait_held(std::size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return held_.size() >= n; });
  }
  std::size_t held() {
    std::lock_guard lock(mu_);
    return held_.size();
  }
  // The event type of held append `i`.
  std::string event_type(std::size_t i) {
    std::lock_guard lock(mu_);
    return held_.at(i).event.event_type;
  }
  // Completes held append `i`: appends its event (through the storage's
  // synchronous path, faults included) and passes the outcome to its
  // completion; with `fail` set, stores nothing and passes `fail` instead.
  // Call from the test thread; the completion runs here.
  void complete(std::size_t i, std::optional<Status> fail = std::nullopt) {
    Held h;
    {
      std::lock_guard lock(mu_);
      REQUIRE(i < held_.size());
      REQUIRE(held_[i].done);
      h.event = held_[i].event;
      h.done = std::move(held_[i].done);
      held_[i].done = nullptr;
    }
    h.done(fail ? *fail : storage_.append_audit(std::move(h.event)));
  }

 private:
  struct Held {
    AuditEvent event;
    std::function<void(Status)> done;  // null once completed
  };
  FaultyStorage& storage_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Held> held_;  // GUARDED_BY(mu_)
};

struct Reply {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  boost::json::value json;  // null unless the body is JSON

  std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n == name) return v;
    }
    return {};
  }
  std::string code() const {
    const auto* o = json.if_object();
    if (o == nullptr || !o->contains("code")) return {};
    return std::string(o->at("code").as_string());
  }
};

class RouterFixture {
 public:
  RouterFixture() {
    auto faulty = std::make_unique<FaultyStorage>(make_memory_storage());
    storage_ = faulty.get();
    storage = std::move(faulty);
    auto k = KeyService::open({.storage = storage.get()});
    REQUIRE(k.ok());
    keys = std::move(k).value();
    registry = std::make_unique<ProviderRegistry>(
        RegistryOptions{.storage = storage.get(), .vault = vault.get()});
    connections = std::make_unique<ConnectionService>(
        ConnectionOptions{.storage = storage.get(), .vault = vault.get()});
    audit = std::make_unique<AuditLog>(*storage);
    admin = issue("default", Role::kAdmin);
    agent = issue("default", Role::kAgent);
    auditor = issue("default", Role::kAuditor);
    other_admin = issue("other", Role::kAdmin);
    other_agent = issue("other", Role::kAgent);
    other_auditor = issue("other", Role::kAuditor);
    make_router({});
  }

  void make_router(std::vector<server::Cidr> trusted_proxies) {
    server::RouterOptions options;
    options.trusted_proxies = std::move(trusted_proxies);
    options.log_sink = [this](std::string_view line) {
      std::lock_guard lock(log_mu);
      log_lines.emplace_back(line);
    };
    router =
        std::make_unique<server::Router>(server::RouterServices{.registry = registry.get(),
                                                                .connections = connections.get(),
                                                                .audit = audit.get(),
                                                                .keys = keys.get(),
                                                                .storage = storage.get()},
                                         std::move(options));
  }

  std::string issue(const std::string& workspace, Role role) {
    RequestContext ctx{.workspace = workspace, .actor = "test", .caller_ip = "", .user_agent = ""};
    auto issued = keys->create(ctx, workspace, role, "test");
    REQUIRE(issued.ok());
    return issued->text;
  }

  // A request as the socket layer hands it to the router.
  static server::HttpRequest make_request(
      std::string method, std::string target, std::string body = {},
      std::vector<std::pair<std::string, std::string>> headers = {},
      std::string peer = "192.0.2.10") {
    server::HttpRequest req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.body = std::move(body);
    req.peer_ip = std::move(peer);
    for (auto& [n, v] : headers) {
      std::string lower = n;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers.emplace_back(std::move(lower), std::move(v));
    }
    return req;
  }

  // Sends one request through the router (and finish(), as the server does).
  Reply send(std::string method, std::string target, std::string body = {},
             std::vector<std::pair<std::string, std::string>> headers = {},
             std::string peer = "192.0.2.10") {
    server::HttpRequest req = make_request(std::move(method), std::move(target), std::move(body),
                                           std::move(headers), std::move(peer));
    server::HttpResponse res = router->handle(req);
    router->finish(req, res, std::chrono::microseconds(10));
    return reply_of(res);
  }

  // What a test checks of a response; every body is kept for secret checks.
  Reply reply_of(const server::HttpResponse& res) {
    Reply reply{.status = res.status, .headers = res.headers, .body = res.body, .json = nullptr};
    const std::string* ct = res.find_header("Content-Type");
    if (ct != nullptr && ct->rfind("application/json", 0) == 0) {
      boost::system::error_code ec;
      reply.json = boost::json::parse(res.body, ec);
      INFO(res.body);
      REQUIRE_FALSE(ec);
    }
    all_bodies += res.body;
    for (const auto& [n, v] : res.headers) all_bodies += n + ": " + v + "\n";
    return reply;
  }

  // A request as `key`, with a JSON body when `body` is not empty.
  Reply as(const std::string& key, std::string method, std::string target, std::string body = {},
           std::vector<std::pair<std::string, std::string>> headers = {}) {
    headers.emplace_back("X-API-Key", key);
    if (!body.empty() && !has(headers, "Content-Type")) {
      headers.emplace_back("Content-Type", "application/json");
    }
    return send(std::move(method), std::move(target), std::move(body), std::move(headers));
  }

  // Everything stored: every provider of both workspaces and both audit
  // chain heads. Equal snapshots mean nothing changed.
  std::string snapshot() {
    std::string out;
    for (const char* w : {"default", "other"}) {
      auto list = storage->list_providers(ProviderListQuery{.workspace = w, .limit = 10000});
      REQUIRE(list.ok());
      for (const auto& p : list.value()) {
        out += p.id + "|" + std::to_string(p.version) + "|" +
               boost::json::serialize(spec_to_json(p.spec)) + "\n";
      }
      auto head = storage->audit_head(w);
      REQUIRE(head.ok());
      out += std::string(w) + " head " + std::to_string(head->seq) + " " + head->hash + "\n";
    }
    return out;
  }

  std::string all_logs() {
    std::lock_guard lock(log_mu);
    std::string out;
    for (const auto& l : log_lines) out += l + "\n";
    return out;
  }

  void fail_storage(Status s) { storage_->failure = std::move(s); }
  FaultyStorage& faulty_storage() { return *storage_; }
  void heal_storage() { storage_->failure.reset(); }

  std::unique_ptr<Storage> storage;
  std::unique_ptr<KeyService> keys;
  std::unique_ptr<Vault> vault =
      std::make_unique<Vault>(std::make_shared<const Keyring>(Keyring::generate()));
  std::unique_ptr<ProviderRegistry> registry;
  std::unique_ptr<ConnectionService> connections;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<server::Router> router;
  std::string admin, agent, auditor, other_admin, other_agent, other_auditor;
  std::mutex log_mu;
  std::vector<std::string> log_lines;
  std::string all_bodies;  // every response body and header, for secret checks

 private:
  static bool has(const std::vector<std::pair<std::string, std::string>>& headers,
                  std::string_view name) {
    for (const auto& h : headers) {
      if (h.first == name) return true;
    }
    return false;
  }
  FaultyStorage* storage_ = nullptr;
};

}  // namespace nexus::testing

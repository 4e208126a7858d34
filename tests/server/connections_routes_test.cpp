// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// /v1/connections and /v1/token through the router: statuses, roles,
// workspaces, the deleted-provider answer, and where secrets may appear.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server_fixture.hpp"

namespace nexus {
namespace {

constexpr const char* kStripeKey = "sk_live_router_test_91f0";

struct Connected : testing::RouterFixture {
  std::string id;
  Connected() {
    REQUIRE(as(admin, "POST", "/v1/providers", testing::kStripeJson).status == 201);
    auto r = as(admin, "POST", "/v1/connections",
                std::string(R"({"provider_name":"stripe","user_id":"u-42","credentials":)") +
                    R"({"secret_key":")" + kStripeKey + R"("}})");
    REQUIRE(r.status == 201);
    id = std::string(r.json.at("connection_id").as_string());
    CHECK(r.header("Location") == "/v1/connections/" + id);
  }
};

TEST_CASE("connections: create, read, list and delete without ever showing values",
          "[server][connections]") {
  Connected f;
  auto got = f.as(f.agent, "GET", "/v1/connections/" + f.id);
  REQUIRE(got.status == 200);
  CHECK(got.json.at("status") == "active");
  CHECK(got.json.at("credential_fields").at(0) == "secret_key");
  auto list = f.as(f.agent, "GET", "/v1/connections?user_id=u-42");
  REQUIRE(list.status == 200);
  CHECK(list.json.as_array().size() == 1);
  CHECK(f.as(f.agent, "DELETE", "/v1/connections/" + f.id).status == 403);
  CHECK(f.as(f.admin, "DELETE", "/v1/connections/" + f.id).status == 204);
  CHECK(f.as(f.admin, "GET", "/v1/connections/" + f.id).code() == "not_found");
  CHECK(f.all_bodies.find(kStripeKey) == std::string::npos);
}

TEST_CASE("connections: /v1/token hands values to admin and agent only", "[server][connections]") {
  Connected f;
  auto token = f.as(f.agent, "GET", "/v1/token/" + f.id);
  REQUIRE(token.status == 200);
  CHECK(token.json.at("credentials").at("secret_key") == kStripeKey);
  CHECK(token.json.at("auth_type") == "api_key");
  CHECK(token.json.at("api_base_url") == "https://api.stripe.com");
  CHECK(f.as(f.admin, "GET", "/v1/token/" + f.id).status == 200);
  CHECK(f.as(f.auditor, "GET", "/v1/token/" + f.id).code() == "forbidden");
  CHECK(f.as(f.other_agent, "GET", "/v1/token/" + f.id).code() == "not_found");
  CHECK(f.as(f.other_admin, "GET", "/v1/connections/" + f.id).code() == "not_found");
  CHECK(f.send("GET", "/v1/token/" + f.id).status == 401);
  std::lock_guard lock(f.log_mu);
  for (const auto& line : f.log_lines) CHECK(line.find(kStripeKey) == std::string::npos);
}

// Responses of Router::handle_async, recorded from whichever thread
// completes them; checked on the test thread.
class AsyncReplies {
 public:
  server::ResponseCallback callback() {
    return [this](server::HttpResponse r) {
      std::lock_guard lock(mu_);
      responses_.push_back(std::move(r));
    };
  }
  std::size_t count() {
    std::lock_guard lock(mu_);
    return responses_.size();
  }
  server::HttpResponse at(std::size_t i) {
    std::lock_guard lock(mu_);
    return responses_.at(i);
  }

 private:
  std::mutex mu_;
  std::vector<server::HttpResponse> responses_;  // GUARDED_BY(mu_)
};

TEST_CASE("connections: /v1/token answers only once its audit event is stored",
          "[server][connections][async]") {
  Connected f;
  testing::HeldAppends held(f.faulty_storage());
  const server::HttpRequest req = testing::RouterFixture::make_request(
      "GET", "/v1/token/" + f.id, {}, {{"X-API-Key", f.agent}, {"X-Request-Id", "req-held-1"}});
  auto events = [&](std::string_view type) {
    return f.storage->scan_audit({.workspace = "default", .event_type = std::string(type)})
        .value()
        .size();
  };

  // Through handle_async: no answer while the event waits for the writer.
  AsyncReplies replies;
  f.router->handle_async(req, replies.callback());
  REQUIRE(held.wait_held(1));
  CHECK(held.event_type(0) == "token_retrieved");
  CHECK(replies.count() == 0);
  CHECK(events("token_retrieved") == 0);
  held.complete(0);
  REQUIRE(replies.count() == 1);
  server::HttpResponse ok = replies.at(0);
  testing::Reply reply = f.reply_of(ok);
  CHECK(reply.status == 200);
  CHECK(reply.json.at("credentials").at("secret_key") == kStripeKey);
  CHECK(reply.header("Cache-Control") == "no-store");
  // Stamped like a synchronous answer, for the access log and the client.
  CHECK(reply.header("X-Request-Id") == "req-held-1");
  CHECK(ok.request_id == "req-held-1");
  CHECK(ok.caller_ip == "192.0.2.10");
  CHECK_FALSE(ok.key_id.empty());
  REQUIRE(ok.route_index >= 0);
  CHECK(server::Router::routes().at(static_cast<std::size_t>(ok.route_index)).path ==
        "/v1/token/{id}");
  CHECK(events("token_retrieved") == 1);

  // An event that cannot be stored: the read is refused, no value leaves.
  f.router->handle_async(req, replies.callback());
  REQUIRE(held.wait_held(2));
  CHECK(replies.count() == 1);
  held.complete(1, Status(ErrorCode::kUnavailable, "the database is locked"));
  REQUIRE(replies.count() == 2);
  server::HttpResponse refused = replies.at(1);
  CHECK(refused.status == 503);
  CHECK(refused.body.find(kStripeKey) == std::string::npos);
  CHECK(refused.find_header("Cache-Control") == nullptr);
  CHECK(events("token_retrieved") == 1);

  // handle() waits for the completion, whichever thread it comes from.
  auto waiting = std::async(std::launch::async, [&] { return f.router->handle(req); });
  REQUIRE(held.wait_held(3));
  CHECK(waiting.wait_for(std::chrono::seconds(0)) != std::future_status::ready);
  std::thread writer([&] { held.complete(2); });
  server::HttpResponse waited = waiting.get();
  writer.join();
  CHECK(waited.status == 200);
  CHECK(events("token_retrieved") == 2);

  // A failed read is answered once its failure event has been appended.
  f.router->handle_async(testing::RouterFixture::make_request("GET", "/v1/token/con_missing", {},
                                                              {{"X-API-Key", f.agent}}),
                         replies.callback());
  REQUIRE(held.wait_held(4));
  CHECK(held.event_type(3) == "token_retrieval_failed");
  CHECK(replies.count() == 2);
  held.complete(3);
  REQUIRE(replies.count() == 3);
  CHECK(replies.at(2).status == 404);
  CHECK(events("token_retrieval_failed") == 1);

  // Routes that are not async answer before handle_async returns.
  f.router->handle_async(testing::RouterFixture::make_request("GET", "/healthz"),
                         replies.callback());
  CHECK(replies.count() == 4);
  CHECK(held.held() == 4);
  CHECK(f.all_bodies.find(kStripeKey) != std::string::npos);  // the one 200 above
}

TEST_CASE("connections: after the provider is deleted, /v1/token is 410 provider_deleted",
          "[server][connections]") {
  Connected f;
  REQUIRE(f.as(f.admin, "DELETE", "/v1/providers/stripe").status == 204);
  auto token = f.as(f.agent, "GET", "/v1/token/" + f.id);
  CHECK(token.status == 410);
  CHECK(token.code() == "provider_deleted");
  auto got = f.as(f.admin, "GET", "/v1/connections/" + f.id);
  CHECK(got.json.at("status") == "provider_deleted");
  auto audit = f.as(f.auditor, "GET", "/v1/audit?event_type=token_retrieval_failed");
  REQUIRE(audit.status == 200);
  CHECK(audit.json.as_array().size() == 1);
}

TEST_CASE("connections: the list pages by limit and cursor, the next page in a Link header",
          "[server][connections]") {
  Connected f;  // u-42
  for (const char* user : {"u-43", "u-44", "u-45"}) {
    REQUIRE(f.as(f.admin, "POST", "/v1/connections",
                 std::string(R"({"provider_name":"stripe","user_id":")") + user +
                     R"(","credentials":{"secret_key":"sk_page"}})")
                .status == 201);
  }
  std::vector<std::string> seen;
  std::string target = "/v1/connections?provider_name=stripe&limit=3";
  int pages = 0;
  while (!target.empty()) {
    auto page = f.as(f.agent, "GET", target);
    REQUIRE(page.status == 200);
    CHECK(page.json.as_array().size() <= 3);
    for (const auto& c : page.json.as_array()) {
      seen.emplace_back(c.at("connection_id").as_string());
    }
    std::string link = page.header("Link");
    target.clear();
    if (!link.empty()) {
      CHECK_THAT(link, Catch::EndsWith("; rel=\"next\""));
      REQUIRE(link.front() == '<');
      target = link.substr(1, link.find('>') - 1);
      CHECK_THAT(target, Catch::Contains("provider_name=stripe") && Catch::Contains("cursor="));
    }
    REQUIRE(++pages < 5);
  }
  CHECK(pages == 2);
  CHECK(seen.size() == 4);
  CHECK(std::is_sorted(seen.begin(), seen.end()));
  CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());
}

TEST_CASE("connections: a value that does not open is HTTP 500 credential_unreadable, audited",
          "[server][connections]") {
  Connected f;
  // Flip one byte of the stored envelope behind the service's back.
  auto refs = f.storage->envelopes_not_under("no-such-key", 100);
  REQUIRE(refs.ok());
  std::vector<EnvelopeRef> ours;
  for (const EnvelopeRef& r : refs.value()) {
    if (r.owner_id == f.id) ours.push_back(r);
  }
  REQUIRE(ours.size() == 1);
  std::string tampered = ours[0].envelope;
  tampered.back() = static_cast<char>(tampered.back() ^ 0x01);
  REQUIRE(f.storage->replace_envelopes(ours, {tampered}).value() == 1);

  auto token = f.as(f.agent, "GET", "/v1/token/" + f.id);
  CHECK(token.status == 500);
  CHECK(token.code() == "credential_unreadable");
  CHECK_FALSE(token.json.at("message").as_string().empty());
  auto audit = f.as(f.auditor, "GET", "/v1/audit?event_type=token_retrieval_failed");
  REQUIRE(audit.status == 200);
  REQUIRE(audit.json.as_array().size() == 1);
  CHECK(audit.json.at(0).at("data").at("reason") == "credential_unreadable");
  CHECK(f.all_bodies.find(kStripeKey) == std::string::npos);
}

TEST_CASE("connections: bad input is 400 naming the field, and stores nothing",
          "[server][connections]") {
  Connected f;
  struct Case {
    const char* body;
    int status;
    const char* field;
  };
  const Case cases[] = {
      {R"({"provider_name":"stripe","user_id":"u","credentials":{}})", 400,
       "credentials.secret_key"},
      {R"({"provider_name":"stripe","user_id":"u","credentials":{"secret_key":"a","x":"b"}})", 400,
       "credentials.x"},
      {R"({"provider_name":"stripe","credentials":{"secret_key":"a"}})", 400, "user_id"},
      {R"({"provider_name":"nope","user_id":"u","credentials":{}})", 404, "provider_name"},
  };
  for (const Case& c : cases) {
    INFO(c.body);
    auto r = f.as(f.admin, "POST", "/v1/connections", c.body);
    CHECK(r.status == c.status);
    CHECK(r.json.at("field") == c.field);
  }
  CHECK(f.as(f.admin, "POST", "/v1/connections", "{").code() == "invalid_json");
  CHECK(f.as(f.admin, "GET", "/v1/connections").json.as_array().size() == 1);
}

}  // namespace
}  // namespace nexus

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// The socket layer in-process, with small ServerOptions: read timeout,
// connection limit, shutdown grace and dropped queued work, a database that
// holds writers while reads go on, and HTTP framing after HEAD and 204.
#include "http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server_fixture.hpp"
#include "text.hpp"

namespace nexus::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Generous bounds: the machine running the tests may be busy.
constexpr auto kPatience = 10s;

// A blocking client socket; every read gives up after kPatience.
class Client {
 public:
  explicit Client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    timeval tv{.tv_sec = std::chrono::seconds(kPatience).count(), .tv_usec = 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~Client() { close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // False when the peer has closed or reset the connection.
  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Everything until the server closes the connection (EOF or reset).
  // `closed` is false when kPatience passed first.
  std::string read_to_close(bool* closed = nullptr) {
    std::string out;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        out.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      bool timed_out = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
      if (closed != nullptr) *closed = !timed_out;
      return out;
    }
  }

  // One response: the status line and headers, then Content-Length bytes of
  // body unless `head` (a response to HEAD) or the status is 204.
  struct Response {
    int status = 0;
    std::string headers;
    std::string body;
    std::string header(std::string_view name) const {
      std::string lower_headers = server::ascii_lower(headers);
      auto at = lower_headers.find("\r\n" + server::ascii_lower(name) + ":");
      if (at == std::string::npos) return {};
      auto start = at + 2 + name.size() + 1;
      auto end = headers.find("\r\n", start);
      return std::string(server::trim(headers.substr(start, end - start)));
    }
    bool has_header(std::string_view name) const {
      return server::ascii_lower(headers).find("\r\n" + server::ascii_lower(name) + ":") !=
             std::string::npos;
    }
  };
  Response read_response(bool head = false) {
    Response r;
    while (pending_.find("\r\n\r\n") == std::string::npos) {
      if (!fill()) return r;
    }
    // A response starts exactly where the previous one ended.
    CHECK(pending_.rfind("HTTP/1.1 ", 0) == 0);
    auto end = pending_.find("\r\n\r\n");
    r.headers = pending_.substr(0, end + 2);
    pending_.erase(0, end + 4);
    r.status = std::stoi(r.headers.substr(9, 3));
    std::string length = r.header("Content-Length");
    std::size_t n = head || r.status == 204 || length.empty() ? 0 : std::stoul(length);
    while (pending_.size() < n) {
      if (!fill()) return r;
    }
    r.body = pending_.substr(0, n);
    pending_.erase(0, n);
    return r;
  }
  // Bytes received beyond the responses read so far.
  const std::string& pending() const { return pending_; }

 private:
  bool fill() {
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    pending_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string pending_;
};

std::string request(std::string_view method, std::string_view target, const std::string& key = {},
                    std::string_view body = {}, bool close = false) {
  std::string r = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n";
  if (!key.empty()) r += "X-API-Key: " + key + "\r\n";
  if (!body.empty()) {
    r +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  if (close) r += "Connection: close\r\n";
  r += "\r\n";
  r += body;
  return r;
}

// A server over the fixture's router, run on its own thread.
class RunningServer {
 public:
  RunningServer(RouterFixture& f, server::ServerOptions options) {
    options.listen = {"127.0.0.1", 0};
    options.threads = options.threads > 0 ? options.threads : 2;
    options.handle_signals = false;
    auto opened = server::HttpServer::open(options);
    REQUIRE(opened.ok());
    server_ = std::move(opened).value();
    port = server_->address().port;
    done_ = std::async(std::launch::async, [this, &f] { return server_->run(*f.router); });
  }
  ~RunningServer() {
    if (done_.valid()) {
      server_->stop();
      (void)done_.get();
    }
  }

  void stop() { server_->stop(); }
  // The outcome of run(), waiting at most `patience`.
  std::optional<Status> result(std::chrono::milliseconds patience = kPatience) {
    if (done_.wait_for(patience) != std::future_status::ready) return std::nullopt;
    return done_.get();
  }

  std::uint16_t port = 0;

 private:
  std::unique_ptr<server::HttpServer> server_;
  std::future<Status> done_;
};

// Holds delete_provider calls until released, counting them.
class Gate {
 public:
  void wait() {
    std::unique_lock lock(mu_);
    ++entered_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  bool wait_entered(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kPatience, [&] { return entered_ >= n; });
  }
  int entered() {
    std::lock_guard lock(mu_);
    return entered_;
  }
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int entered_ = 0;
  bool open_ = false;
};

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

bool log_has(RouterFixture& f, std::string_view needle) {
  return f.all_logs().find(needle) != std::string::npos;
}

TEST_CASE("server: the read timeout closes a client that trickles its request", "[server][http]") {
  RouterFixture f;
  server::ServerOptions options;
  options.read_timeout = 300ms;
  RunningServer s(f, options);

  Client slow(s.port);
  std::atomic<bool> stop{false};
  // One byte every 50 ms: the request would take far longer than the
  // timeout to arrive.
  std::thread trickle([&] {
    std::string text = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Padding: " + std::string(500, 'p');
    for (char c : text) {
      if (stop || !slow.send(std::string_view(&c, 1))) return;
      std::this_thread::sleep_for(50ms);
    }
  });
  auto start = Clock::now();
  bool closed = false;
  std::string got = slow.read_to_close(&closed);
  double took = seconds_since(start);
  stop = true;
  trickle.join();
  CHECK(closed);
  CHECK(got.empty());  // not answered: the request never arrived in full
  CHECK(took >= 0.25);
  CHECK(took < 5.0);
  // Closed unanswered, and logged once as such.
  CHECK(log_has(f, R"("status":408)"));
  CHECK(log_has(f, "did not arrive within the timeout"));
  CHECK(log_has(f, R"("closed":true)"));

  // Others are served meanwhile and after.
  Client other(s.port);
  REQUIRE(other.send(request("GET", "/healthz")));
  CHECK(other.read_response().status == 200);
}

TEST_CASE("server: connections beyond max_connections get 503 and are closed", "[server][http]") {
  RouterFixture f;
  server::ServerOptions options;
  options.max_connections = 2;
  RunningServer s(f, options);

  // Two connections in use (each has been answered, so each is a session).
  Client a(s.port), b(s.port);
  for (Client* c : {&a, &b}) {
    REQUIRE(c->send(request("GET", "/healthz")));
    REQUIRE(c->read_response().status == 200);
  }
  Client third(s.port);
  bool closed = false;
  std::string got = third.read_to_close(&closed);
  CHECK(closed);
  CHECK(got.rfind("HTTP/1.1 503", 0) == 0);
  CHECK_THAT(got, Catch::Contains("\"code\":\"unavailable\""));
  CHECK(log_has(f, R"("status":503)"));

  // The kept connections still work; once one closes, a new one is served.
  REQUIRE(a.send(request("GET", "/healthz")));
  CHECK(a.read_response().status == 200);
  b.close();
  bool served = false;
  for (auto deadline = Clock::now() + kPatience; !served && Clock::now() < deadline;) {
    Client next(s.port);
    if (!next.send(request("GET", "/healthz"))) continue;
    served = next.read_response().status == 200;
  }
  CHECK(served);
}

TEST_CASE("server: the shutdown grace cuts off a request that does not finish",
          "[server][http][shutdown]") {
  RouterFixture f;
  server::ServerOptions options;
  options.shutdown_grace = 300ms;
  RunningServer s(f, options);

  // A request stuck halfway through its body, and an idle keep-alive
  // connection.
  Client stuck(s.port), idle(s.port);
  REQUIRE(stuck.send("POST /v1/providers HTTP/1.1\r\nHost: t\r\nX-API-Key: " + f.admin +
                     "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"na"));
  REQUIRE(idle.send(request("GET", "/healthz")));
  REQUIRE(idle.read_response().status == 200);

  auto start = Clock::now();
  s.stop();
  // The idle connection is closed at once, the stuck one at the end of the
  // grace period; then run() returns.
  bool closed = false;
  idle.read_to_close(&closed);
  CHECK(closed);
  std::string got = stuck.read_to_close(&closed);
  double took = seconds_since(start);
  CHECK(closed);
  CHECK(got.empty());
  CHECK(took >= 0.25);
  auto result = s.result();
  REQUIRE(result.has_value());
  CHECK(result->ok());
  CHECK(seconds_since(start) < 5.0);
  INFO(f.all_logs());
  CHECK(log_has(f, R"("status":503)"));  // the cut-off request, logged once
  CHECK(log_has(f, "shut down before the request arrived in full"));
  CHECK(f.snapshot().find("\"na") == std::string::npos);
}

TEST_CASE("server: a held database write stalls no read, and queued writes are dropped at shutdown",
          "[server][http][shutdown]") {
  RouterFixture f;
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", kGithubJson).status == 201);
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", kStripeJson).status == 201);
  Gate gate;
  f.faulty_storage().before_delete = [&] { gate.wait(); };
  server::ServerOptions options;
  options.threads = 2;
  options.blocking_threads = 1;
  options.shutdown_grace = 300ms;
  RunningServer s(f, options);

  // The first DELETE holds the one blocking thread inside the storage call;
  // the second waits in the pool's queue.
  Client first(s.port), second(s.port);
  REQUIRE(first.send(request("DELETE", "/v1/providers/github", f.admin)));
  REQUIRE(gate.wait_entered(1));
  REQUIRE(second.send(request("DELETE", "/v1/providers/stripe", f.admin)));

  // Reads are answered meanwhile, on the I/O threads, more times than there
  // are I/O threads.
  for (int i = 0; i < 6; ++i) {
    auto t = Clock::now();
    Client reader(s.port);
    REQUIRE(reader.send(request(i % 2 ? "GET" : "HEAD", "/v1/providers", f.admin)));
    CHECK(reader.read_response(i % 2 == 0).status == 200);
    CHECK(seconds_since(t) < 2.0);
  }

  // Shutdown: after the grace period the queued DELETE is dropped unstarted
  // and both connections are closed without an answer.
  s.stop();
  bool closed = false;
  CHECK(second.read_to_close(&closed).empty());
  CHECK(closed);
  CHECK(first.read_to_close(&closed).empty());
  CHECK(closed);
  CHECK_FALSE(s.result(100ms).has_value());  // the held handler is still running
  gate.open();
  auto result = s.result();
  REQUIRE(result.has_value());
  CHECK(result->ok());
  CHECK(gate.entered() == 1);  // the queued DELETE never ran
  f.faulty_storage().before_delete = nullptr;
  CHECK(f.as(f.admin, "GET", "/v1/providers/stripe").status == 200);
  CHECK(log_has(f, R"("status":503)"));
  CHECK(log_has(f, "shut down before the request could start"));
}

// An api_key connection of the stripe provider holding `secret`.
std::string add_connection(RouterFixture& f, std::string_view secret) {
  auto created = f.as(f.admin, "POST", "/v1/connections",
                      R"({"provider_name":"stripe","user_id":"u-1","credentials":{"secret_key":")" +
                          std::string(secret) + R"("}})");
  REQUIRE(created.status == 201);
  return std::string(created.json.at("connection_id").as_string());
}

// A fixture with an api_key connection whose token the tests read.
std::string connect_stripe(RouterFixture& f, std::string_view secret) {
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", kStripeJson).status == 201);
  return add_connection(f, secret);
}

TEST_CASE("server: token reads completed in one burst each get their own answer",
          "[server][http][async]") {
  // The writer hands a burst of answers over together and the I/O threads
  // split it: each must still reach its own connection, whole.
  RouterFixture f;
  constexpr std::size_t kReads = 24;
  std::vector<std::string> ids;
  std::vector<std::string> secrets;
  for (std::size_t i = 0; i < kReads; ++i) {
    secrets.push_back("sk_test_burst_" + std::to_string(i) + "_end");
    ids.push_back(i == 0 ? connect_stripe(f, secrets[i]) : add_connection(f, secrets[i]));
  }
  HeldAppends held(f.faulty_storage());
  server::ServerOptions options;
  options.threads = 4;
  RunningServer s(f, options);

  std::vector<std::unique_ptr<Client>> clients;
  for (std::size_t i = 0; i < kReads; ++i) {
    clients.push_back(std::make_unique<Client>(s.port));
    REQUIRE(clients.back()->send(request("GET", "/v1/token/" + ids[i], f.agent)));
  }
  REQUIRE(held.wait_held(kReads));
  for (std::size_t i = 0; i < kReads; ++i) held.complete(i);  // one burst, from this thread
  for (std::size_t i = 0; i < kReads; ++i) {
    INFO("read " << i);
    auto r = clients[i]->read_response();
    CHECK(r.status == 200);
    auto body = boost::json::parse(r.body);
    CHECK(body.at("connection_id").as_string() == ids[i]);
    CHECK(body.at("credentials").at("secret_key").as_string() == secrets[i]);
  }
  s.stop();
  auto result = s.result();
  REQUIRE(result.has_value());
  CHECK(result->ok());
}

TEST_CASE("server: a token read is answered once its audit event is stored, reads go on meanwhile",
          "[server][http][async]") {
  RouterFixture f;
  const std::string id = connect_stripe(f, "sk_test_http_async_1");
  HeldAppends held(f.faulty_storage());
  server::ServerOptions options;
  options.threads = 1;  // one I/O thread: a token read waiting must not hold it
  RunningServer s(f, options);

  Client token(s.port);
  REQUIRE(token.send(request("GET", "/v1/token/" + id, f.agent)));
  REQUIRE(held.wait_held(1));
  // The only I/O thread keeps serving while the event waits for the writer.
  for (int i = 0; i < 3; ++i) {
    Client reader(s.port);
    REQUIRE(reader.send(request("GET", "/v1/connections/" + id, f.agent)));
    CHECK(reader.read_response().status == 200);
  }
  held.complete(0);
  auto r = token.read_response();
  CHECK(r.status == 200);
  CHECK(r.body.find("sk_test_http_async_1") != std::string::npos);
  CHECK(r.header("Cache-Control") == "no-store");
  // Keep-alive: the connection serves the next token read as well.
  REQUIRE(token.send(request("GET", "/v1/token/" + id, f.agent)));
  REQUIRE(held.wait_held(2));
  held.complete(1);
  auto again = token.read_response();
  CHECK(again.status == 200);
  CHECK(again.body == r.body);
  // HEAD would read (and audit) credentials for a body never sent: 405,
  // answered at once, nothing appended.
  REQUIRE(token.send(request("HEAD", "/v1/token/" + id, f.agent)));
  auto head = token.read_response(/*head=*/true);
  CHECK(head.status == 405);
  CHECK(head.header("Allow") == "GET");
  CHECK(held.held() == 2);
  CHECK(token.pending().empty());
  s.stop();
  auto result = s.result();
  REQUIRE(result.has_value());
  CHECK(result->ok());
  INFO(f.all_logs());
  CHECK(log_has(f, R"("route":"/v1/token/{id}","status":200)"));
  CHECK(f.all_logs().find("sk_test_http_async_1") == std::string::npos);
}

TEST_CASE("server: a token read in flight at shutdown is answered within the grace period",
          "[server][http][shutdown][async]") {
  RouterFixture f;
  const std::string id = connect_stripe(f, "sk_test_http_async_2");
  HeldAppends held(f.faulty_storage());
  server::ServerOptions options;
  options.shutdown_grace = 30s;  // far longer than the test needs
  RunningServer s(f, options);

  Client token(s.port);
  REQUIRE(token.send(request("GET", "/v1/token/" + id, f.agent)));
  REQUIRE(held.wait_held(1));
  s.stop();
  // The server waits for the request, as for a blocking one.
  CHECK_FALSE(s.result(100ms).has_value());
  held.complete(0);
  auto r = token.read_response();
  CHECK(r.status == 200);
  CHECK(r.body.find("sk_test_http_async_2") != std::string::npos);
  CHECK(r.header("Connection") == "close");
  bool closed = false;
  token.read_to_close(&closed);
  CHECK(closed);
  auto result = s.result();
  REQUIRE(result.has_value());
  CHECK(result->ok());
}

TEST_CASE("server: a token read still waiting after the grace period is closed unanswered",
          "[server][http][shutdown][async]") {
  RouterFixture f;
  const std::string id = connect_stripe(f, "sk_test_http_async_3");
  HeldAppends held(f.faulty_storage());
  server::ServerOptions options;
  options.shutdown_grace = 200ms;
  RunningServer s(f, options);

  Client token(s.port);
  REQUIRE(token.send(request("GET", "/v1/token/" + id, f.agent)));
  REQUIRE(held.wait_held(1));
  s.stop();
  // Closed at the end of the grace period, without the values.
  bool closed = false;
  CHECK(token.read_to_close(&closed).empty());
  CHECK(closed);
  // run() returns once the writer has completed the request.
  CHECK_FALSE(s.result(100ms).has_value());
  held.complete(0, Status(ErrorCode::kUnavailable, "the database is closing"));
  auto result = s.result();
  REQUIRE(result.has_value());
  CHECK(result->ok());
  INFO(f.all_logs());
  CHECK(log_has(f, R"("route":"/v1/token/{id}","status":503)"));
}

TEST_CASE("server: responses to HEAD and 204s keep keep-alive framing intact", "[server][http]") {
  RouterFixture f;
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", kGithubJson).status == 201);
  REQUIRE(f.as(f.admin, "POST", "/v1/providers", kStripeJson).status == 201);
  auto get = f.as(f.admin, "GET", "/v1/providers/github");
  RunningServer s(f, {});

  // Pipelined on one connection: every response must start exactly where
  // the previous one ended.
  Client c(s.port);
  REQUIRE(c.send(request("HEAD", "/v1/providers/github", f.admin) +
                 request("HEAD", "/v1/providers/nope", f.admin) +
                 request("HEAD", "/v1/providers/github/discover", f.admin) +
                 request("DELETE", "/v1/providers/stripe", f.admin) +
                 request("GET", "/v1/providers/github", f.admin)));
  auto head = c.read_response(true);
  CHECK(head.status == 200);
  CHECK(head.header("Content-Length") == std::to_string(get.body.size()));
  CHECK(head.header("ETag") == get.header("ETag"));
  CHECK(head.header("Content-Type") == "application/json");

  auto missing = c.read_response(true);
  CHECK(missing.status == 404);
  auto not_allowed = c.read_response(true);
  CHECK(not_allowed.status == 405);
  CHECK(not_allowed.header("Allow") == "POST");

  auto deleted = c.read_response();
  CHECK(deleted.status == 204);
  CHECK_FALSE(deleted.has_header("Content-Length"));
  CHECK_FALSE(deleted.has_header("Transfer-Encoding"));

  auto full = c.read_response();
  CHECK(full.status == 200);
  CHECK(full.body == get.body);
  CHECK(c.pending().empty());

  // And the connection is still good for more.
  REQUIRE(c.send(request("GET", "/healthz", {}, {}, true)));
  auto last = c.read_response();
  CHECK(last.status == 200);
  CHECK(boost::json::parse(last.body).at("status") == "ok");
}

TEST_CASE("server: a body over the limit is answered 413 and logged with its caller",
          "[server][http][logging]") {
  RouterFixture f;
  server::ServerOptions options;
  options.body_limit = 1024;
  RunningServer s(f, options);
  Client c(s.port);
  REQUIRE(c.send("POST /v1/providers HTTP/1.1\r\nHost: t\r\nX-API-Key: " + f.admin +
                 "\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"));
  auto r = c.read_response();
  CHECK(r.status == 413);
  std::string logs = f.all_logs();
  CHECK_THAT(logs, Catch::Contains(R"("method":"POST","route":"unmatched","status":413)"));
  CHECK_THAT(logs, Catch::Contains(R"("caller_ip":"127.0.0.1")"));
  CHECK(logs.find(f.admin) == std::string::npos);

  // Malformed HTTP: closed unanswered, one log line.
  Client junk(s.port);
  REQUIRE(junk.send("GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n"));
  bool closed = false;
  CHECK(junk.read_to_close(&closed).empty());
  CHECK(closed);
  CHECK_THAT(f.all_logs(), Catch::Contains(R"("status":400)"));
}

}  // namespace
}  // namespace nexus::testing

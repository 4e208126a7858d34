// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "http_server.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <csignal>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace nexus::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

class Session;

// One JSON line for the server's own events (the access log is the router's).
void log_line(std::string_view level, std::string_view msg, std::string_view error = {}) {
  try {
    boost::json::object line{
        {"time", format_rfc3339(system_clock().now())}, {"level", level}, {"msg", msg}};
    if (!error.empty()) line["error"] = error;
    std::string text = boost::json::serialize(line) + "\n";
    std::fwrite(text.data(), 1, text.size(), level == "error" ? stderr : stdout);
  } catch (...) {
    // Logging must not take the server down.
  }
}

// Process-wide state of one run: the acceptor, the sessions and the shutdown
// sequence. Acceptor, signals and drain timer live on `strand_`.
class Listener {
 public:
  Listener(const ServerOptions& options, const Router& router, int threads)
      : options_(options),
        router_(router),
        blocking_(static_cast<std::size_t>(std::max(options.blocking_threads, 1))),
        ioc_(threads),
        strand_(net::make_strand(ioc_)),
        acceptor_(strand_),
        signals_(strand_, SIGINT, SIGTERM),
        reload_signals_(strand_),
        drain_timer_(strand_),
        retry_timer_(strand_) {}

  Status open(ListenAddress& bound);
  void start();
  void run(int threads);

  const ServerOptions& options() const { return options_; }
  const Router& router() const { return router_; }
  net::io_context& ioc() { return ioc_; }
  net::thread_pool& blocking_pool() { return blocking_; }
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  // Sessions register themselves; false when the server is full or stopping.
  bool add(Session* s, const std::shared_ptr<Session>& sp);
  bool has_room();
  void remove(Session* s);

 private:
  void accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  void on_signal(beast::error_code ec, int signo);
  void on_reload_signal(beast::error_code ec, int signo);
  void begin_shutdown();
  void close_all();
  void finish_if_drained();

  const ServerOptions& options_;
  const Router& router_;
  // Declared before the io_context: a handler it destroys may end a session,
  // which unregisters itself here.
  std::mutex mu_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;  // GUARDED_BY(mu_)
  std::atomic<bool> stopping_{false};
  // Runs blocking route handlers. Each task holds work on ioc_ until it has
  // posted its response back, so run() returns only after every one is done.
  net::thread_pool blocking_;

  net::io_context ioc_;
  net::strand<net::io_context::executor_type> strand_;
  tcp::acceptor acceptor_;
  net::signal_set signals_;
  net::signal_set reload_signals_;  // SIGHUP, when options_.on_reload is set
  net::steady_timer drain_timer_;
  net::steady_timer retry_timer_;
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

// One connection. Its socket's executor is a strand, so every handler of a
// session runs serialised; the shutdown sequence reaches it by posting.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Listener& listener)
      : stream_(std::move(socket)), listener_(listener) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) {
      auto addr = ep.address();
      if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
        addr = net::ip::make_address_v4(net::ip::v4_mapped, addr.to_v6());
      }
      peer_ip_ = addr.to_string();
    }
  }
  ~Session() { listener_.remove(this); }

  void start() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::read_request, shared_from_this()));
  }

  // Closes the connection when it is waiting for a request that has not
  // begun to arrive; a request in flight finishes, then the connection closes.
  void shutdown_if_idle() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (self->reading_ && self->buffer_.size() == 0 && self->parser_ &&
          !self->parser_->got_some()) {
        self->close();
      }
    });
  }

  void force_close() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->close(); });
  }

 private:
  const ServerOptions& opts() const { return listener_.options(); }

  void read_request() {
    if (listener_.stopping() && buffer_.size() == 0) return close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(opts().header_limit));
    parser_->body_limit(opts().body_limit);
    reading_ = true;
    stream_.expires_after(opts().read_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    reading_ = false;
    // HTTP/1.0 and 1.1 only: anything else is not a request this server
    // understands.
    unsigned version = parser_->get().version();
    if (version != 10 && version != 11) return close();
    if (parser_->is_done()) return handle();
    auto expect = parser_->get().find(http::field::expect);
    if (expect != parser_->get().end() && iequals(expect->value(), "100-continue")) {
      continue_.emplace(http::status::continue_, parser_->get().version());
      return http::async_write(stream_, *continue_,
                               [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                 if (ec) return self->close();
                                 self->read_body();
                               });
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) return self->on_read_error(ec);
                       self->handle();
                     });
  }

  void on_read_error(beast::error_code ec) {
    reading_ = false;
    if (ec == http::error::body_limit) {
      return reject(
          Status(ErrorCode::kPayloadTooLarge,
                 "the request body exceeds " + std::to_string(opts().body_limit / 1024) + " KiB"));
    }
    if (ec == http::error::header_limit) {
      return reject(Status(ErrorCode::kPayloadTooLarge,
                           "the request line and headers exceed " +
                               std::to_string(opts().header_limit / 1024) + " KiB"));
    }
    // End of stream, timeout, reset, cancellation by shutdown, or malformed
    // HTTP: nothing sensible to answer; close cleanly.
    close();
  }

  void handle() {
    auto start = SteadyClock::now();
    http::request<http::string_body> req = parser_->release();
    parser_.reset();
    HttpRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    request.headers.reserve(static_cast<std::size_t>(std::distance(req.begin(), req.end())));
    for (const auto& field : req) {
      request.headers.emplace_back(lower(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(req.body());
    request.peer_ip = peer_ip_;
    const unsigned version = req.version();
    const bool keep_alive = req.keep_alive();
    if (!Router::is_blocking(request.method, request.target)) {
      HttpResponse response = respond(request, start);
      send(std::move(response), version, keep_alive && !listener_.stopping(), false);
      return;
    }
    // A handler that may wait on a third party runs on the blocking pool; its
    // answer comes back to this session's strand.
    net::post(listener_.blocking_pool(),
              [self = shared_from_this(), work = net::make_work_guard(listener_.ioc()),
               request = std::move(request), start, version, keep_alive]() mutable {
                HttpResponse response = self->respond(request, start);
                net::post(self->stream_.get_executor(),
                          [self, response = std::move(response), version, keep_alive]() mutable {
                            self->send(std::move(response), version,
                                       keep_alive && !self->listener_.stopping(), false);
                          });
              });
  }

  // Runs the router on `request`, records it, and wipes the key it carried.
  HttpResponse respond(HttpRequest& request, SteadyClock::time_point start) {
    HttpResponse response = listener_.router().handle(request);
    listener_.router().finish(&request, response, SteadyClock::now() - start);
    // The key text must not outlive the request.
    for (auto& h : request.headers) {
      if (h.first == "x-api-key") wipe(h.second);
    }
    return response;
  }

  // Answers an error found while reading, then closes the connection.
  void reject(const Status& status) {
    HttpResponse response = listener_.router().reject(status);
    listener_.router().finish(nullptr, response, std::chrono::nanoseconds(0));
    send(std::move(response), 11, false, true);
  }

  void send(HttpResponse response, unsigned version, bool keep_alive, bool linger) {
    res_.emplace();
    res_->version(version);
    res_->result(static_cast<unsigned>(response.status));
    for (auto& [name, value] : response.headers) res_->set(name, value);
    res_->body() = std::move(response.body);
    res_->keep_alive(keep_alive);
    res_->prepare_payload();
    stream_.expires_after(opts().write_timeout);
    http::async_write(
        stream_, *res_,
        [self = shared_from_this(), keep_alive, linger](beast::error_code ec, std::size_t) {
          self->res_.reset();
          if (ec) return self->close();
          if (linger) return self->linger();
          if (!keep_alive) return self->close();
          self->read_request();
        });
  }

  // Half-closes and reads what the client still sends (up to the linger
  // timeout), so that closing does not reset the connection before the
  // client has read the answer.
  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    stream_.expires_after(opts().linger_timeout);
    drain();
  }

  void drain() {
    stream_.async_read_some(net::buffer(drain_buf_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return self->close();
                              self->drain();
                            });
  }

  void close() {
    reading_ = false;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  Listener& listener_;
  std::string peer_ip_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  std::optional<http::response<http::string_body>> res_;
  std::array<char, 4096> drain_buf_{};
  bool reading_ = false;
};

Status Listener::open(ListenAddress& bound) {
  beast::error_code ec;
  auto address = net::ip::make_address(options_.listen.host, ec);
  if (ec) return Status(ErrorCode::kValidationFailed, "not an IP address", "listen");
  tcp::endpoint endpoint(address, options_.listen.port);
  auto fail = [&](const char* what) {
    return Status(ErrorCode::kUnavailable, std::string("cannot listen on ") +
                                               options_.listen.to_string() + ": " + what + ": " +
                                               ec.message());
  };
  if (acceptor_.open(endpoint.protocol(), ec); ec) return fail("open");
  if (acceptor_.set_option(net::socket_base::reuse_address(true), ec); ec) return fail("option");
  if (acceptor_.bind(endpoint, ec); ec) return fail("bind");
  if (acceptor_.listen(net::socket_base::max_listen_connections, ec); ec) return fail("listen");
  auto local = acceptor_.local_endpoint(ec);
  if (ec) return fail("address");
  bound.host = local.address().to_string();
  bound.port = local.port();
  return Status::Ok();
}

void Listener::start() {
  signals_.async_wait(beast::bind_front_handler(&Listener::on_signal, this));
  if (options_.on_reload) {
    reload_signals_.add(SIGHUP);
    reload_signals_.async_wait(beast::bind_front_handler(&Listener::on_reload_signal, this));
  }
  net::dispatch(strand_, [this] { accept(); });
}

void Listener::accept() {
  acceptor_.async_accept(net::make_strand(ioc_),
                         beast::bind_front_handler(&Listener::on_accept, this));
}

void Listener::on_accept(beast::error_code ec, tcp::socket socket) {
  if (stopping() || ec == net::error::operation_aborted) return;
  if (ec) {
    // Out of descriptors and the like: back off briefly instead of spinning.
    log_line("error", "accept failed", ec.message());
    retry_timer_.expires_after(std::chrono::milliseconds(50));
    retry_timer_.async_wait([this](beast::error_code e) {
      if (!e && !stopping()) accept();
    });
    return;
  }
  if (!has_room()) {
    // Over the connection limit: a short 503 written straight to the fresh
    // socket (its empty send buffer takes it without blocking), then close.
    HttpResponse r = router_.reject(
        Status(ErrorCode::kUnavailable, "the server has too many open connections; retry"));
    router_.finish(nullptr, r, std::chrono::nanoseconds(0));
    http::response<http::string_body> res;
    res.result(static_cast<unsigned>(r.status));
    for (auto& [name, value] : r.headers) res.set(name, value);
    res.body() = std::move(r.body);
    res.keep_alive(false);
    res.prepare_payload();
    http::write(socket, res, ec);
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
    return accept();
  }
  // Responses go out in one write; waiting to coalesce them only adds latency.
  socket.set_option(tcp::no_delay(true), ec);
  // Only this strand adds sessions, so the room checked is still there.
  auto session = std::make_shared<Session>(std::move(socket), *this);
  if (add(session.get(), session)) session->start();
  accept();
}

bool Listener::has_room() {
  std::lock_guard lock(mu_);
  return sessions_.size() < options_.max_connections;
}

bool Listener::add(Session* s, const std::shared_ptr<Session>& sp) {
  std::lock_guard lock(mu_);
  if (stopping() || sessions_.size() >= options_.max_connections) return false;
  sessions_.emplace(s, sp);
  return true;
}

void Listener::remove(Session* s) {
  bool drained = false;
  {
    std::lock_guard lock(mu_);
    sessions_.erase(s);
    drained = stopping() && sessions_.empty();
  }
  if (drained) net::post(strand_, [this] { finish_if_drained(); });
}

void Listener::on_signal(beast::error_code ec, int) {
  if (ec) return;  // cancelled: the server is done
  if (!stopping()) {
    // A second signal cuts the grace period short. (Armed before
    // begin_shutdown, which cancels it when nothing is left to drain.)
    signals_.async_wait(beast::bind_front_handler(&Listener::on_signal, this));
    begin_shutdown();
  } else {
    close_all();
  }
}

void Listener::on_reload_signal(beast::error_code ec, int) {
  if (ec || stopping()) return;
  net::post(blocking_, options_.on_reload);
  reload_signals_.async_wait(beast::bind_front_handler(&Listener::on_reload_signal, this));
}

void Listener::begin_shutdown() {
  {
    std::lock_guard lock(mu_);
    stopping_.store(true, std::memory_order_release);
  }
  log_line("info", "shutting down");
  beast::error_code ec;
  acceptor_.close(ec);
  retry_timer_.cancel();
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mu_);
    for (auto& [p, w] : sessions_) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->shutdown_if_idle();
  live.clear();
  drain_timer_.expires_after(options_.shutdown_grace);
  drain_timer_.async_wait([this](beast::error_code e) {
    if (!e) close_all();
  });
  finish_if_drained();
}

void Listener::close_all() {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mu_);
    for (auto& [p, w] : sessions_) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->force_close();
}

// Runs on strand_: once stopping and no session is left, cancel what keeps
// the io_context busy so that every run() returns.
void Listener::finish_if_drained() {
  {
    std::lock_guard lock(mu_);
    if (!stopping() || !sessions_.empty()) return;
  }
  drain_timer_.cancel();
  retry_timer_.cancel();
  beast::error_code ec;
  signals_.cancel(ec);
  reload_signals_.cancel(ec);
}

void Listener::run(int threads) {
  auto worker = [this] {
    for (;;) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception& e) {
        log_line("error", "handler threw", e.what());
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads > 1 ? threads - 1 : 0));
  for (int i = 1; i < threads; ++i) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  blocking_.join();  // idle by now: each task held work on ioc_
}

}  // namespace

Status run_http_server(const ServerOptions& options, const Router& router,
                       const std::function<void(const ListenAddress&)>& on_listening) {
  int threads = options.threads > 0 ? options.threads : 1;
  Listener listener(options, router, threads);
  ListenAddress bound;
  if (Status s = listener.open(bound); !s.ok()) return s;
  listener.start();
  if (on_listening) on_listening(bound);
  listener.run(threads);
  return Status::Ok();
}

}  // namespace nexus::server

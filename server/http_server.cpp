// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "http_server.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <csignal>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "blocking_pool.hpp"
#include "log.hpp"
#include "nexus/keys.hpp"
#include "text.hpp"

namespace nexus::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

// Wipes a block before it is freed. The read buffer holds API keys and
// request bodies; when it grows, the block it leaves would otherwise go back
// to the heap with them in it.
template <typename T>
struct WipingAllocator {
  using value_type = T;
  WipingAllocator() = default;
  template <typename U>
  WipingAllocator(const WipingAllocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor)
  T* allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept {
    wipe_bytes(p, n * sizeof(T));
    std::allocator<T>().deallocate(p, n);
  }
  friend bool operator==(const WipingAllocator&, const WipingAllocator&) noexcept { return true; }
};

constexpr std::string_view kApiKeyHeader = "x-api-key";

class Session;

}  // namespace

// Process-wide state of one server: the acceptor, the sessions, the blocking
// pool and the shutdown sequence. Acceptor, signals and timers live on
// `strand`.
struct HttpServer::Impl {
  explicit Impl(const ServerOptions& opts)
      : options(opts),
        threads(std::max(opts.threads, 1)),
        ioc(threads),
        strand(net::make_strand(ioc)),
        acceptor(strand),
        signals(strand),
        reload_signals(strand),
        drain_timer(strand),
        abandon_timer(strand),
        retry_timer(strand),
        pool(std::max(opts.blocking_threads, 1)) {}

  Status open();
  Status run(const Router& r);
  void stop();

  bool stopping() const { return stopping_flag.load(std::memory_order_acquire); }
  // Hands `answer` (an async route's answer, from the thread that completed
  // it: the storage's writer) to the I/O threads. The answers handed over
  // before an I/O thread takes them travel together: one post from the
  // writer, then at most one per I/O thread, instead of one post (and often
  // one woken thread) each; each answer runs on its session's strand, inline.
  void hand_over(std::function<void()> answer);
  void take_answers();
  // Sessions register themselves; false when the server is full or stopping.
  bool add(Session* s, const std::shared_ptr<Session>& sp);
  bool has_room();
  void remove(Session* s);

  void accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  void on_signal(beast::error_code ec, int signo);
  void on_reload_signal(beast::error_code ec, int signo);
  void begin_shutdown();
  void end_grace();
  void abandon();
  void close_all();
  void finish_if_drained();

  const ServerOptions options;
  const Router* router = nullptr;  // set by run()
  const int threads;
  ListenAddress bound;
  // Declared before the io_context: a handler it destroys may end a session,
  // which unregisters itself here.
  std::mutex mu;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;  // GUARDED_BY(mu)
  std::atomic<bool> stopping_flag{false};
  bool grace_over = false;  // on strand
  std::atomic<bool> abandoned{false};

  std::mutex answers_mu;
  std::vector<std::function<void()>> answers;  // GUARDED_BY(answers_mu)

  net::io_context ioc;
  net::strand<net::io_context::executor_type> strand;
  tcp::acceptor acceptor;
  net::signal_set signals;
  net::signal_set reload_signals;  // SIGHUP, when options.on_reload is set
  net::steady_timer drain_timer;
  net::steady_timer abandon_timer;
  net::steady_timer retry_timer;
  // Runs blocking route handlers. Declared after the io_context, so it is
  // joined first: a task it drops still posts to a live io_context.
  BlockingPool pool;
};

namespace {

// One connection. Its socket's executor is a strand, so every handler of a
// session runs serialised; the shutdown sequence reaches it by posting.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, HttpServer::Impl& server)
      : stream_(std::move(socket)), server_(server) {
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
  ~Session() { server_.remove(this); }

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
  // A request handed to the blocking pool, or waiting for an async route.
  struct Job {
    std::shared_ptr<Session> session;
    // Keeps the io_context running until the answer is posted back.
    net::executor_work_guard<net::io_context::executor_type> work;
    HttpRequest request;
    const RouteInfo* route;
    SteadyClock::time_point start;
    unsigned version;
    bool keep_alive;
  };

  const ServerOptions& opts() const { return server_.options; }
  const Router& router() const { return *server_.router; }

  void read_request() {
    if (server_.stopping() && buffer_.size() == 0) return close();
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
    if (version != 10 && version != 11) {
      router().closed(partial_request(), 400, "HTTP version not supported");
      discard_request();
      return close();
    }
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
    reading_ = true;
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->reading_ = false;
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
    // HTTP: nothing sensible to answer; close. A request that had begun to
    // arrive gets its access log line.
    if (parser_ && (parser_->got_some() || buffer_.size() > 0)) {
      if (closed_) {
        router().closed(partial_request(), 503,
                        "the server shut down before the request arrived in full");
      } else if (ec == beast::error::timeout) {
        router().closed(partial_request(), 408, "the request did not arrive within the timeout");
      } else {
        // Malformed, or the client gave up mid-request.
        router().closed(partial_request(), 400, ec.message());
      }
    }
    discard_request();
    close();
  }

  // What has been read of the current request, for the access log: method,
  // target, peer and header fields (never the API key).
  HttpRequest partial_request() const {
    HttpRequest r;
    r.peer_ip = peer_ip_;
    if (!parser_) return r;
    const auto& m = parser_->get();
    r.method = std::string(m.method_string());
    r.target = std::string(m.target());
    for (const auto& field : m) {
      std::string name = ascii_lower(field.name_string());
      if (name != kApiKeyHeader)
        r.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    return r;
  }

  // Overwrites the bytes of the API key in Beast's copy of the header fields.
  static void wipe_key_fields(http::fields& fields) {
    for (auto& field : fields) {
      if (iequals(field.name_string(), kApiKeyHeader)) {
        auto value = field.value();
        // The fields own this memory; only the view is const.
        wipe_bytes(const_cast<char*>(value.data()), value.size());
      }
    }
  }

  // Overwrites the read buffer's whole allocation: what it held of requests
  // already parsed (API keys, bodies with secrets). Bytes of a pipelined
  // request not yet parsed are kept.
  void wipe_read_buffer() {
    std::string rest;
    const std::size_t keep = buffer_.size();
    if (keep > 0) {
      rest = beast::buffers_to_string(buffer_.data());
      buffer_.consume(keep);
    }
    // Empty, so prepare() starts at the allocation's first byte.
    auto all = buffer_.prepare(buffer_.capacity());
    wipe_bytes(all.data(), all.size());
    if (keep > 0) {
      auto out = buffer_.prepare(keep);
      std::memcpy(out.data(), rest.data(), keep);
      buffer_.commit(keep);
      wipe(rest);
    }
  }

  // Drops a request that will not be handled, wiping what it carried.
  void discard_request() {
    if (parser_) {
      wipe(parser_->get().body());
      wipe_key_fields(parser_->get());
      parser_.reset();
    }
    wipe_read_buffer();
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
      request.headers.emplace_back(ascii_lower(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(req.body());
    request.peer_ip = peer_ip_;
    const unsigned version = req.version();
    const bool keep_alive = req.keep_alive();
    wipe_key_fields(req);
    wipe_read_buffer();
    const RouteInfo* route = Router::route_for(request.method, request.target);
    if (route != nullptr && route->async) {
      return handle_async(std::move(request), route, start, version, keep_alive);
    }
    if (route == nullptr || !route->blocking) {
      HttpResponse response = respond(request, route, start);
      send(std::move(response), version, keep_alive && !server_.stopping(), false,
           request.method == "HEAD", route != nullptr && route->secret_response);
      return;
    }
    // A handler that may wait runs on the blocking pool; its answer comes
    // back to this session's strand. Dropped unstarted (shutdown), its
    // connection is closed.
    auto job = make_job(std::move(request), route, start, version, keep_alive);
    server_.pool.post([job](bool run) {
      Session& self = *job->session;
      if (!run) {
        self.router().closed(job->request, 503,
                             "the server shut down before the request could start");
        wipe_request(job->request);
        net::post(self.stream_.get_executor(), [s = job->session] { s->close(); });
        return;
      }
      HttpResponse response = self.respond(job->request, job->route, job->start);
      net::post(self.stream_.get_executor(), [job, response = std::move(response)]() mutable {
        job->session->reply(*job, std::move(response));
      });
    });
  }

  // Sends the answer to `job`'s request. On this session's strand.
  void reply(const Job& job, HttpResponse response) {
    send(std::move(response), job.version, job.keep_alive && !server_.stopping(), false,
         job.request.method == "HEAD", job.route->secret_response);
  }

  // A request whose answer comes later, from another thread: the job keeps
  // this session and the io_context alive until it is answered.
  std::shared_ptr<Job> make_job(HttpRequest request, const RouteInfo* route,
                                SteadyClock::time_point start, unsigned version, bool keep_alive) {
    return std::make_shared<Job>(Job{.session = shared_from_this(),
                                     .work = net::make_work_guard(server_.ioc),
                                     .request = std::move(request),
                                     .route = route,
                                     .start = start,
                                     .version = version,
                                     .keep_alive = keep_alive});
  }

  // An async route runs here, on the I/O thread, up to its durable write;
  // the thread that completes it (the storage's writer) posts the answer
  // back to this session's strand, where it is logged, sent and wiped. The
  // job keeps the session (so the shutdown waits for it, as for a blocking
  // request) and the io_context alive until then.
  void handle_async(HttpRequest request, const RouteInfo* route, SteadyClock::time_point start,
                    unsigned version, bool keep_alive) {
    auto job = make_job(std::move(request), route, start, version, keep_alive);
    router().handle_async(job->request, [job](HttpResponse response) mutable {
      // The I/O threads get the only reference: the session is never
      // destroyed on the completing thread, which the server does not join.
      HttpServer::Impl& server = job->session->server_;
      server.hand_over([job = std::move(job), response = std::move(response)]() mutable {
        auto executor = job->session->stream_.get_executor();
        net::dispatch(executor, [job = std::move(job), response = std::move(response)]() mutable {
          Session& self = *job->session;
          self.router().finish(job->request, response, SteadyClock::now() - job->start);
          wipe_request(job->request, job->route->secret_request);
          self.reply(*job, std::move(response));
        });
      });
    });
    // The key has been checked; the answer comes later, on this strand, so
    // nothing else reads the request meanwhile.
    wipe_request(job->request, false);
  }

  // Runs the router on `request`, records it, and wipes what it carried.
  HttpResponse respond(HttpRequest& request, const RouteInfo* route,
                       SteadyClock::time_point start) {
    HttpResponse response = router().handle(request);
    router().finish(request, response, SteadyClock::now() - start);
    // The key text must not outlive the request, nor a secret in its body.
    wipe_request(request, route != nullptr && route->secret_request);
    return response;
  }

  // Wipes the request's API key, and its body unless `body` is false.
  static void wipe_request(HttpRequest& request, bool body = true) {
    for (auto& h : request.headers) {
      if (h.first == kApiKeyHeader) wipe(h.second);
    }
    if (body) wipe(request.body);
  }

  // Answers an error found while reading, then closes the connection.
  void reject(const Status& status) {
    HttpRequest partial = partial_request();
    discard_request();
    HttpResponse response = router().reject(status, partial);
    router().finish(partial, response, std::chrono::nanoseconds(0));
    send(std::move(response), 11, false, true, partial.method == "HEAD", false);
  }

  // Writes `response`. A response to HEAD carries the headers the GET
  // response would (Content-Length included) and no body; a 204 carries no
  // Content-Length (RFC 9110 §8.6, §9.3.2). `secret`: the body is wiped once
  // written.
  void send(HttpResponse response, unsigned version, bool keep_alive, bool linger, bool head,
            bool secret) {
    res_.emplace();
    res_->version(version);
    res_->result(static_cast<unsigned>(response.status));
    for (auto& [name, value] : response.headers) res_->set(name, value);
    const bool no_content = response.status == 204 || response.status == 304 ||
                            (response.status >= 100 && response.status < 200);
    if (no_content) {
      if (secret) wipe(response.body);
    } else if (head) {
      res_->content_length(response.body.size());
      if (secret) wipe(response.body);
    } else {
      res_->body() = std::move(response.body);
      res_->content_length(res_->body().size());
    }
    res_->keep_alive(keep_alive);
    stream_.expires_after(opts().write_timeout);
    http::async_write(
        stream_, *res_,
        [self = shared_from_this(), keep_alive, linger, secret](beast::error_code ec, std::size_t) {
          if (secret) wipe(self->res_->body());
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
    closed_ = true;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  HttpServer::Impl& server_;
  std::string peer_ip_;
  beast::basic_flat_buffer<WipingAllocator<char>> buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  std::optional<http::response<http::string_body>> res_;
  std::array<char, 4096> drain_buf_{};
  bool reading_ = false;
  bool closed_ = false;  // by close(): what fails after it is not the client's doing
};

}  // namespace

Status HttpServer::Impl::open() {
  beast::error_code ec;
  auto address = net::ip::make_address(options.listen.host, ec);
  if (ec) return Status(ErrorCode::kValidationFailed, "not an IP address", "listen");
  tcp::endpoint endpoint(address, options.listen.port);
  auto fail = [&](const char* what) {
    return Status(ErrorCode::kUnavailable, std::string("cannot listen on ") +
                                               options.listen.to_string() + ": " + what + ": " +
                                               ec.message());
  };
  if (acceptor.open(endpoint.protocol(), ec); ec) return fail("open");
  if (acceptor.set_option(net::socket_base::reuse_address(true), ec); ec) return fail("option");
  if (acceptor.bind(endpoint, ec); ec) return fail("bind");
  if (acceptor.listen(net::socket_base::max_listen_connections, ec); ec) return fail("listen");
  auto local = acceptor.local_endpoint(ec);
  if (ec) return fail("address");
  bound.host = local.address().to_string();
  bound.port = local.port();
  return Status::Ok();
}

void HttpServer::Impl::accept() {
  acceptor.async_accept(net::make_strand(ioc), beast::bind_front_handler(&Impl::on_accept, this));
}

void HttpServer::Impl::on_accept(beast::error_code ec, tcp::socket socket) {
  if (stopping() || ec == net::error::operation_aborted) return;
  if (ec) {
    // Out of descriptors and the like: back off briefly instead of spinning.
    log_event("error", "accept failed", {{"error", ec.message()}});
    retry_timer.expires_after(std::chrono::milliseconds(50));
    retry_timer.async_wait([this](beast::error_code e) {
      if (!e && !stopping()) accept();
    });
    return;
  }
  if (!has_room()) {
    // Over the connection limit: a short 503 written straight to the fresh
    // socket (its empty send buffer takes it without blocking), then close.
    HttpRequest partial;
    beast::error_code peer_ec;
    auto peer = socket.remote_endpoint(peer_ec);
    if (!peer_ec) partial.peer_ip = peer.address().to_string();
    HttpResponse r = router->reject(
        Status(ErrorCode::kUnavailable, "the server has too many open connections; retry"),
        partial);
    router->finish(partial, r, std::chrono::nanoseconds(0));
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

bool HttpServer::Impl::has_room() {
  std::lock_guard lock(mu);
  return sessions.size() < options.max_connections;
}

void HttpServer::Impl::hand_over(std::function<void()> answer) {
  bool first;
  {
    std::lock_guard lock(answers_mu);
    first = answers.empty();  // else a take_answers is posted and has not run
    answers.push_back(std::move(answer));
  }
  if (first) net::post(ioc, [this] { take_answers(); });
}

void HttpServer::Impl::take_answers() {
  using Answers = std::vector<std::function<void()>>;
  Answers taken;
  {
    std::lock_guard lock(answers_mu);
    taken.swap(answers);
  }
  // Spread over the I/O threads: one part per thread, each part its own
  // post, this thread running the first. Sending is most of an answer's
  // work; one thread sending a whole batch left the other core idle.
  const auto parts = static_cast<std::size_t>(threads);
  const std::size_t per_part = (taken.size() + parts - 1) / parts;
  while (taken.size() > per_part) {
    const std::size_t keep = taken.size() - per_part;
    std::shared_ptr<Answers> part;
    try {
      part = std::make_shared<Answers>(std::make_move_iterator(taken.begin() + keep),
                                       std::make_move_iterator(taken.end()));
    } catch (...) {
      break;  // out of memory: this thread answers them all
    }
    taken.resize(keep);
    try {
      net::post(ioc, [part] {
        for (auto& answer : *part) answer();
      });
    } catch (...) {
      for (auto& answer : *part) answer();
    }
  }
  for (auto& answer : taken) answer();
}

bool HttpServer::Impl::add(Session* s, const std::shared_ptr<Session>& sp) {
  std::lock_guard lock(mu);
  if (stopping() || sessions.size() >= options.max_connections) return false;
  sessions.emplace(s, sp);
  return true;
}

void HttpServer::Impl::remove(Session* s) {
  bool drained = false;
  {
    std::lock_guard lock(mu);
    sessions.erase(s);
    drained = stopping() && sessions.empty();
  }
  if (drained && !abandoned.load()) net::post(strand, [this] { finish_if_drained(); });
}

void HttpServer::Impl::stop() {
  net::post(strand, [this] { on_signal({}, SIGTERM); });
}

void HttpServer::Impl::on_signal(beast::error_code ec, int) {
  if (ec) return;  // cancelled: the server is done
  if (!stopping()) {
    // A second signal cuts the grace period short. (Armed before
    // begin_shutdown, which cancels it when nothing is left to drain.)
    if (options.handle_signals) {
      signals.async_wait(beast::bind_front_handler(&Impl::on_signal, this));
    }
    begin_shutdown();
  } else {
    end_grace();
  }
}

void HttpServer::Impl::on_reload_signal(beast::error_code ec, int) {
  if (ec || stopping()) return;
  // Reloading reads files and the database: never on an I/O thread.
  pool.post([reload = options.on_reload](bool run) {
    if (run) reload();
  });
  reload_signals.async_wait(beast::bind_front_handler(&Impl::on_reload_signal, this));
}

void HttpServer::Impl::begin_shutdown() {
  {
    std::lock_guard lock(mu);
    stopping_flag.store(true, std::memory_order_release);
  }
  log_event("info", "shutting down");
  beast::error_code ec;
  acceptor.close(ec);
  retry_timer.cancel();
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mu);
    for (auto& [p, w] : sessions) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->shutdown_if_idle();
  live.clear();
  drain_timer.expires_after(options.shutdown_grace);
  drain_timer.async_wait([this](beast::error_code e) {
    if (!e) end_grace();
  });
  finish_if_drained();
}

// The grace period is over: blocking requests not yet started are dropped,
// every connection is closed, and the handlers still running get
// shutdown_abandon_after to return.
void HttpServer::Impl::end_grace() {
  if (grace_over) return;
  grace_over = true;
  drain_timer.cancel();
  pool.drop_queued();
  close_all();
  abandon_timer.expires_after(options.shutdown_abandon_after);
  abandon_timer.async_wait([this](beast::error_code e) {
    if (!e) abandon();
  });
  finish_if_drained();
}

void HttpServer::Impl::abandon() {
  std::size_t open = 0;
  {
    std::lock_guard lock(mu);
    open = sessions.size();
  }
  if (open == 0) return;
  abandoned.store(true);
  log_event("error", "gave up waiting for requests still running after the grace period",
            {{"running", pool.running()},
             {"connections", open},
             {"waited_ms", options.shutdown_abandon_after.count()}});
  ioc.stop();
}

void HttpServer::Impl::close_all() {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mu);
    for (auto& [p, w] : sessions) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->force_close();
}

// Runs on strand: once stopping and no session is left, cancel what keeps
// the io_context busy so that every run() returns.
void HttpServer::Impl::finish_if_drained() {
  {
    std::lock_guard lock(mu);
    if (!stopping() || !sessions.empty()) return;
  }
  drain_timer.cancel();
  abandon_timer.cancel();
  retry_timer.cancel();
  beast::error_code ec;
  signals.cancel(ec);
  reload_signals.cancel(ec);
}

Status HttpServer::Impl::run(const Router& r) {
  router = &r;
  if (options.handle_signals) {
    beast::error_code ec;
    signals.add(SIGINT, ec);
    signals.add(SIGTERM, ec);
    signals.async_wait(beast::bind_front_handler(&Impl::on_signal, this));
  }
  if (options.on_reload) {
    beast::error_code ec;
    reload_signals.add(SIGHUP, ec);
    reload_signals.async_wait(beast::bind_front_handler(&Impl::on_reload_signal, this));
  }
  net::dispatch(strand, [this] {
    if (!stopping()) accept();
  });
  auto worker = [this] {
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        log_event("error", "handler threw", {{"error", e.what()}});
      }
    }
  };
  std::vector<std::thread> io_threads;
  io_threads.reserve(static_cast<std::size_t>(threads - 1));
  for (int i = 1; i < threads; ++i) io_threads.emplace_back(worker);
  worker();
  for (auto& t : io_threads) t.join();
  if (!abandoned.load()) {
    // Every session is gone, so no blocking task is running or queued.
    pool.drop_queued();
    if (pool.join_until(SteadyClock::now() + options.shutdown_abandon_after)) {
      return Status::Ok();
    }
    abandoned.store(true);
  }
  pool.detach();
  return Status(ErrorCode::kUnavailable,
                "requests were still running " +
                    std::to_string(options.shutdown_abandon_after.count()) +
                    " ms after the shutdown grace period; gave up on them");
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  // Abandoned handlers still use the io_context, the pool and the sessions:
  // they must outlive them, so they are never freed.
  if (impl_ && impl_->abandoned.load()) (void)impl_.release();
}

Result<std::unique_ptr<HttpServer>> HttpServer::open(const ServerOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  if (Status s = impl->open(); !s.ok()) return s;
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

const ListenAddress& HttpServer::address() const noexcept { return impl_->bound; }

Status HttpServer::run(const Router& router) { return impl_->run(router); }

void HttpServer::stop() { impl_->stop(); }

}  // namespace nexus::server

// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "test_server.hpp"

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>

namespace nexus::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

// Long enough to outlast any client deadline in the tests; the server's
// destructor ends the wait.
constexpr std::chrono::hours kHangFor{1};

}  // namespace

struct TestServer::Impl {
  asio::io_context ioc;  // first: destroyed last, after everything using it
  std::optional<ssl::context> tls;
  tcp::acceptor acceptor{ioc};
  TestServerOptions options;
  std::atomic<int> requests{0};
  mutable std::mutex mu;
  std::string last_sni;  // GUARDED_BY(mu)
  std::thread thread;

  template <typename Stream>
  asio::awaitable<void> serve(Stream& stream) {
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    co_await http::async_read(stream, buffer, request, asio::use_awaitable);
    ++requests;
    const CannedResponse canned = options.handler(std::string(request.target()));
    if (canned.hang) {
      asio::steady_timer timer(co_await asio::this_coro::executor, kHangFor);
      co_await timer.async_wait(asio::use_awaitable);
      co_return;
    }
    http::response<http::string_body> response(static_cast<http::status>(canned.status), 11);
    for (const HttpHeader& h : canned.headers) response.insert(h.name, h.value);
    response.body() = canned.body;
    if (canned.chunked) {
      response.chunked(true);
    } else {
      response.prepare_payload();
    }
    co_await http::async_write(stream, response, asio::use_awaitable);
  }

  asio::awaitable<void> session(tcp::socket socket) {
    try {
      if (!tls) {
        beast::tcp_stream stream(std::move(socket));
        co_await serve(stream);
        co_return;
      }
      beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
      co_await stream.async_handshake(ssl::stream_base::server, asio::use_awaitable);
      const char* sni = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
      {
        std::lock_guard lock(mu);
        last_sni = sni != nullptr ? sni : "";
      }
      co_await serve(stream);
    } catch (const std::exception&) {
      // A client that refuses the certificate or gives up is what many tests
      // are about; the server just drops the connection.
    }
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
      asio::co_spawn(ioc, session(std::move(socket)), asio::detached);
    }
  }
};

TestServer::TestServer(TestServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  if (impl_->options.tls) {
    impl_->tls.emplace(ssl::context::tls_server);
    impl_->tls->use_certificate_chain_file(impl_->options.cert_file);
    impl_->tls->use_private_key_file(impl_->options.key_file, ssl::context::pem);
  }
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  asio::co_spawn(
      impl_->ioc,
      [impl = impl_.get()]() -> asio::awaitable<void> {
        try {
          co_await impl->accept_loop();
        } catch (const std::exception&) {
          // The acceptor closes at shutdown.
        }
      },
      asio::detached);
  impl_->thread = std::thread([impl = impl_.get()] { impl->ioc.run(); });
}

TestServer::~TestServer() {
  impl_->ioc.stop();
  impl_->thread.join();
}

std::uint16_t TestServer::port() const { return impl_->acceptor.local_endpoint().port(); }
int TestServer::requests() const { return impl_->requests.load(); }
std::string TestServer::last_sni() const {
  std::lock_guard lock(impl_->mu);
  return impl_->last_sni;
}

}  // namespace nexus::testing

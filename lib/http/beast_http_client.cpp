// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// The default HttpClient: Boost.Beast over OpenSSL. Every Beast, Asio and
// OpenSSL include of the library lives in this one translation unit (each such
// unit costs ~10 s to compile).
//
// Design: get() is synchronous and self-contained. Each call owns an
// io_context that runs on the calling thread, one step at a time (connect,
// handshake, write, read), with Beast's tcp_stream timer enforcing the
// deadlines. Only the SSL_CTX is shared between calls; OpenSSL makes creating
// SSL objects from one context thread-safe. Name resolution runs on a detached
// thread so a stuck resolver cannot hold the caller past its deadline; at most
// max_pending_resolutions such threads exist per client.
#include "http/beast_http_client.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "detail/address_guard.hpp"
#include "detail/url.hpp"
#include "nexus/http_client.hpp"
#include "nexus/version.hpp"

namespace nexus {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
using boost::system::error_code;

HttpError fail(HttpFailure reason, std::string message) {
  return HttpError{reason, std::move(message)};
}

std::string millis(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

std::optional<std::string_view> blocked_reason(const asio::ip::address& address) {
  if (address.is_v4()) return detail::blocked_address_reason(address.to_v4().to_bytes());
  return detail::blocked_address_reason(address.to_v6().to_bytes());
}

// The resolutions in flight, shared by a client and the threads it started: a
// thread that outlives its caller (a stuck resolver) keeps its slot until it
// returns, so stuck lookups cannot pile up threads without bound.
struct ResolverSlots {
  explicit ResolverSlots(std::size_t max) : max(max) {}
  std::mutex mu;
  std::condition_variable cv;
  const std::size_t max;
  std::size_t in_flight = 0;  // GUARDED_BY(mu)
};

// One lookup's outcome, handed from its thread to the caller.
struct Resolution {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;            // GUARDED_BY(mu)
  detail::ResolvedHost answer;  // GUARDED_BY(mu)
};

std::variant<std::vector<tcp::endpoint>, HttpError> resolve(
    const detail::HttpTarget& t, const detail::HostResolver& resolver,
    const std::shared_ptr<ResolverSlots>& slots, SteadyClock::time_point deadline,
    std::chrono::milliseconds budget) {
  if (t.host_is_ip) {
    error_code ec;
    const auto address = asio::ip::make_address(t.host, ec);
    if (ec) return fail(HttpFailure::kUnreachable, "invalid IP address " + t.host);
    return std::vector<tcp::endpoint>{tcp::endpoint(address, t.port)};
  }
  {
    std::unique_lock lock(slots->mu);
    if (!slots->cv.wait_until(lock, deadline, [&] { return slots->in_flight < slots->max; })) {
      return fail(HttpFailure::kTimeout, "resolving " + t.host + " did not start within " +
                                             millis(budget) + ": the client's " +
                                             std::to_string(slots->max) +
                                             " earlier name resolution(s) are still in progress");
    }
    ++slots->in_flight;
  }
  // On a thread of its own, so the caller can leave at its deadline; the
  // thread finishes on its own, then frees its slot and the shared state.
  auto state = std::make_shared<Resolution>();
  try {
    std::thread([state, slots, resolver, host = t.host] {
      detail::ResolvedHost answer;
      try {
        answer = resolver(host);
      } catch (const std::exception& e) {
        answer.error = e.what();
      }
      {
        std::lock_guard lock(state->mu);
        state->answer = std::move(answer);
        state->done = true;
      }
      state->cv.notify_all();
      {
        std::lock_guard lock(slots->mu);
        --slots->in_flight;
      }
      slots->cv.notify_one();
    }).detach();
  } catch (...) {
    std::lock_guard lock(slots->mu);
    --slots->in_flight;
    throw;
  }

  std::unique_lock lock(state->mu);
  if (!state->cv.wait_until(lock, deadline, [&] { return state->done; })) {
    return fail(HttpFailure::kTimeout,
                "resolving " + t.host + " took longer than " + millis(budget));
  }
  const detail::ResolvedHost& answer = state->answer;
  if (!answer.error.empty()) {
    return fail(HttpFailure::kUnreachable, "cannot resolve " + t.host + ": " + answer.error);
  }
  std::vector<tcp::endpoint> endpoints;
  for (const std::string& text : answer.addresses) {
    error_code ec;
    const auto address = asio::ip::make_address(text, ec);
    if (ec) return fail(HttpFailure::kUnreachable, "cannot resolve " + t.host + ": bad address");
    const tcp::endpoint endpoint(address, t.port);
    if (std::find(endpoints.begin(), endpoints.end(), endpoint) == endpoints.end()) {
      endpoints.push_back(endpoint);
    }
  }
  if (endpoints.empty()) {
    return fail(HttpFailure::kUnreachable, "cannot resolve " + t.host + ": no addresses");
  }
  return endpoints;
}

// Runs one asynchronous step on `ioc` to completion and returns its error.
template <typename Initiate>
error_code run_step(asio::io_context& ioc, Initiate&& initiate) {
  error_code result = asio::error::would_block;
  initiate([&result](error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

bool valid_header_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
  });
}

bool valid_header_value(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// Headers the client sets itself or that would change the message framing.
bool is_reserved_header(std::string_view name) {
  using beast::iequals;
  return iequals(name, "host") || iequals(name, "connection") || iequals(name, "user-agent") ||
         iequals(name, "content-length") || iequals(name, "transfer-encoding");
}

class BeastHttpClient final : public HttpClient {
 public:
  BeastHttpClient(HttpClientOptions options, std::unique_ptr<ssl::context> tls,
                  detail::HostResolver resolver)
      : options_(std::move(options)),
        tls_(std::move(tls)),
        resolver_(std::move(resolver)),
        slots_(std::make_shared<ResolverSlots>(options_.max_pending_resolutions)) {
    if (options_.user_agent.empty()) options_.user_agent = "nexus/" NEXUS_VERSION_STRING;
  }

  HttpResult get(const HttpRequest& request) override {
    try {
      return get_or_throw(request);
    } catch (const std::exception& e) {
      // Beast reports I/O failures through error codes; what throws here is
      // allocation or the OS refusing a resource (threads, sockets).
      return fail(HttpFailure::kUnreachable, std::string("request failed: ") + e.what());
    }
  }

 private:
  HttpResult get_or_throw(const HttpRequest& request) {
    const SteadyClock::time_point start = SteadyClock::now();
    const SteadyClock::time_point deadline = start + options_.total_timeout;
    const SteadyClock::time_point connect_deadline =
        std::min(deadline, start + options_.connect_timeout);

    auto parsed = detail::parse_http_target(request.url, options_.allow_insecure);
    if (auto* error = std::get_if<HttpError>(&parsed)) return std::move(*error);
    const detail::HttpTarget& target = std::get<detail::HttpTarget>(parsed);
    for (const HttpHeader& h : request.headers) {
      if (!valid_header_name(h.name) || !valid_header_value(h.value) ||
          is_reserved_header(h.name)) {
        return fail(HttpFailure::kUnreachable,
                    "the request header \"" + h.name + "\" is not allowed");
      }
    }

    auto resolved = resolve(target, resolver_, slots_, connect_deadline,
                            std::min(options_.connect_timeout, options_.total_timeout));
    if (auto* error = std::get_if<HttpError>(&resolved)) return std::move(*error);
    const auto& endpoints = std::get<std::vector<tcp::endpoint>>(resolved);
    if (!options_.allow_insecure) {
      // Every address is checked, not only the first: the resolver's order
      // may change, and a name that also resolves to 127.0.0.1 is hostile.
      for (const tcp::endpoint& endpoint : endpoints) {
        if (const auto reason = blocked_reason(endpoint.address())) {
          const std::string address = endpoint.address().to_string();
          return fail(HttpFailure::kBlockedAddress,
                      target.host_is_ip ? address + " is " + std::string(*reason) + "; refused"
                                        : target.host + " resolves to " + address + ", " +
                                              std::string(*reason) + "; refused");
        }
      }
    }

    asio::io_context ioc(1);
    if (!target.tls) {
      beast::tcp_stream stream(ioc);
      return exchange(ioc, stream, stream, target, endpoints, request, connect_deadline, deadline,
                      nullptr);
    }
    beast::ssl_stream<beast::tcp_stream> stream(ioc, *tls_);
    SSL* ssl = stream.native_handle();
    // The name we were asked for, never the address we connect to, is what
    // the certificate must prove. SNI carries names only, without the
    // trailing dot of an absolute name (RFC 6066 §3); the dot stays for
    // resolution and the Host header.
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (target.host_is_ip) {
      if (X509_VERIFY_PARAM_set1_ip_asc(param, target.host.c_str()) != 1) {
        return fail(HttpFailure::kTlsError, "cannot verify a certificate for " + target.host);
      }
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (X509_VERIFY_PARAM_set1_host(param, target.tls_name.c_str(), target.tls_name.size()) !=
              1 ||
          SSL_set_tlsext_host_name(ssl, target.tls_name.c_str()) != 1) {
        return fail(HttpFailure::kTlsError, "cannot verify a certificate for " + target.host);
      }
    }
    return exchange(ioc, stream, beast::get_lowest_layer(stream), target, endpoints, request,
                    connect_deadline, deadline, ssl);
  }

  template <typename Stream>
  HttpResult exchange(asio::io_context& ioc, Stream& stream, beast::tcp_stream& lowest,
                      const detail::HttpTarget& target, const std::vector<tcp::endpoint>& endpoints,
                      const HttpRequest& request, SteadyClock::time_point connect_deadline,
                      SteadyClock::time_point deadline, SSL* ssl) {
    const std::string where = target.host_header;

    lowest.expires_at(connect_deadline);
    error_code ec =
        run_step(ioc, [&](auto handler) { lowest.async_connect(endpoints, std::move(handler)); });
    if (ec == beast::error::timeout) {
      return fail(HttpFailure::kTimeout,
                  "connecting to " + where + " took longer than " +
                      millis(std::min(options_.connect_timeout, options_.total_timeout)));
    }
    if (ec)
      return fail(HttpFailure::kUnreachable, "cannot connect to " + where + ": " + ec.message());

    lowest.expires_at(deadline);
    const auto timed_out = [&](std::string_view step) {
      return fail(HttpFailure::kTimeout, std::string(step) + " " + where +
                                             " did not finish within " +
                                             millis(options_.total_timeout));
    };

    if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
      ec = run_step(ioc, [&](auto handler) {
        stream.async_handshake(ssl::stream_base::client, std::move(handler));
      });
      if (ec == beast::error::timeout) return timed_out("the TLS handshake with");
      if (ec) {
        const long verify = SSL_get_verify_result(ssl);
        const std::string why =
            verify != X509_V_OK ? X509_verify_cert_error_string(verify) : ec.message();
        return fail(HttpFailure::kTlsError, "TLS handshake with " + where + " failed: " + why);
      }
    }

    http::request<http::empty_body> req(http::verb::get, target.path, 11);
    req.set(http::field::host, target.host_header);
    req.set(http::field::user_agent, options_.user_agent);
    req.set(http::field::connection, "close");
    for (const HttpHeader& h : request.headers) req.insert(h.name, h.value);
    ec = run_step(ioc, [&](auto handler) { http::async_write(stream, req, std::move(handler)); });
    if (ec == beast::error::timeout) return timed_out("sending the request to");
    if (ec)
      return fail(HttpFailure::kUnreachable, "sending to " + where + " failed: " + ec.message());

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(options_.max_response_bytes);
    parser.header_limit(static_cast<std::uint32_t>(kMaxResponseHeaderBytes));
    ec = run_step(
        ioc, [&](auto handler) { http::async_read(stream, buffer, parser, std::move(handler)); });
    if (ec == beast::error::timeout) return timed_out("the response from");
    if (ec == http::error::body_limit) {
      return fail(HttpFailure::kTooLarge, "the response from " + where + " exceeds " +
                                              std::to_string(options_.max_response_bytes) +
                                              " bytes");
    }
    if (ec == http::error::header_limit) {
      return fail(HttpFailure::kTooLarge, "the response headers from " + where + " exceed " +
                                              std::to_string(kMaxResponseHeaderBytes) + " bytes");
    }
    if (ec && !parser.is_done()) {
      return fail(HttpFailure::kUnreachable,
                  "reading the response from " + where + " failed: " + ec.message());
    }

    // We asked for Connection: close; no TLS close_notify is owed to a peer
    // whose answer is complete, and waiting for one would only add latency.
    error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest.close();

    auto& message = parser.get();
    HttpResponse response;
    response.status = static_cast<int>(message.result_int());
    for (const auto& field : message) {
      response.headers.push_back(
          HttpHeader{std::string(field.name_string()), std::string(field.value())});
    }
    response.body = std::move(message.body());
    return response;
  }

  HttpClientOptions options_;
  std::unique_ptr<ssl::context> tls_;  // immutable after construction
  const detail::HostResolver resolver_;
  const std::shared_ptr<ResolverSlots> slots_;  // shared with resolution threads
};

}  // namespace

namespace detail {

ResolvedHost system_resolve(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* list = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &list);
  ResolvedHost out;
  if (rc != 0) {
    out.error = gai_strerror(rc);
    return out;
  }
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(ai->ai_addr);
      asio::ip::address_v4::bytes_type bytes;
      std::memcpy(bytes.data(), &sin->sin_addr, bytes.size());
      out.addresses.push_back(asio::ip::address_v4(bytes).to_string());
    } else if (ai->ai_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(ai->ai_addr);
      asio::ip::address_v6::bytes_type bytes;
      std::memcpy(bytes.data(), &sin6->sin6_addr, bytes.size());
      out.addresses.push_back(asio::ip::address_v6(bytes, sin6->sin6_scope_id).to_string());
    }
  }
  freeaddrinfo(list);
  if (out.addresses.empty()) out.error = "no addresses";
  return out;
}

Result<std::unique_ptr<HttpClient>> make_beast_http_client(HttpClientOptions options,
                                                           HostResolver resolver) {
  using std::chrono::milliseconds;
  if (options.connect_timeout <= milliseconds::zero()) {
    return Status(ErrorCode::kValidationFailed, "connect_timeout must be positive",
                  "connect_timeout");
  }
  if (options.total_timeout <= milliseconds::zero()) {
    return Status(ErrorCode::kValidationFailed, "total_timeout must be positive", "total_timeout");
  }
  if (options.max_response_bytes == 0) {
    return Status(ErrorCode::kValidationFailed, "max_response_bytes must be positive",
                  "max_response_bytes");
  }
  if (options.max_pending_resolutions == 0) {
    return Status(ErrorCode::kValidationFailed, "max_pending_resolutions must be positive",
                  "max_pending_resolutions");
  }
  try {
    auto tls = std::make_unique<ssl::context>(ssl::context::tls_client);
    if (SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION) != 1) {
      return Status(ErrorCode::kInternal, "cannot require TLS 1.2");
    }
    tls->set_verify_mode(ssl::verify_peer);
    error_code ec;
    tls->set_default_verify_paths(ec);
    if (ec) {
      return Status(ErrorCode::kInternal,
                    "cannot load the system certificate store: " + ec.message());
    }
    if (!options.ca_file.empty()) {
      tls->load_verify_file(options.ca_file, ec);
      if (ec) {
        return Status(ErrorCode::kValidationFailed,
                      "cannot load the CA bundle " + options.ca_file + ": " + ec.message(),
                      "ca_file");
      }
    }
    return std::unique_ptr<HttpClient>(
        std::make_unique<BeastHttpClient>(std::move(options), std::move(tls), std::move(resolver)));
  } catch (const std::exception& e) {
    return Status(ErrorCode::kInternal, std::string("cannot set up TLS: ") + e.what());
  }
}

}  // namespace detail

Result<std::unique_ptr<HttpClient>> make_default_http_client(HttpClientOptions options) {
  return detail::make_beast_http_client(std::move(options), detail::system_resolve);
}

}  // namespace nexus

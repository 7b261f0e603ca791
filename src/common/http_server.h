// A minimal HTTP/1.1 server on POSIX sockets for /metrics, /healthz and /readyz: GET and HEAD only, one
// request per connection ("Connection: close"), requests handled one at a time on one thread, a 2 s read
// deadline per connection, heads up to 8 KiB. Enough for Prometheus scrapes and kubelet probes; not a general
// web server (docs/architecture.md "Why we wrote our own").
//
// Thread-safety: Start() spawns the serving thread; the handler runs on it. The destructor stops and joins.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "common/status.h"

namespace kubeos {

struct BindAddress {
  std::string host;  // IPv4 literal; "" = all interfaces
  int port = 0;      // 0 = any free port (see HttpServer::port)
};

// controller-runtime's bind-address flags: ":8080", "127.0.0.1:8080", "localhost:0"; "0" disables
// (nullopt). InvalidArgument otherwise.
StatusOr<std::optional<BindAddress>> ParseBindAddress(std::string_view text);

struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

struct HttpRequestHead {
  std::string method;
  std::string path;  // without the query
};

// Parses the request line of a head ("GET /metrics?x HTTP/1.1\r\n..."). InvalidArgument when malformed.
StatusOr<HttpRequestHead> ParseRequestHead(std::string_view head);

// The bytes of a response (no body for HEAD).
std::string FormatResponse(const HttpReply& reply, bool head_only);

class HttpServer {
 public:
  using Handler = std::function<HttpReply(const HttpRequestHead&)>;
  static constexpr std::size_t kMaxHead = 8192;
  static constexpr int kReadTimeoutMs = 2000;  // a slow client holds the (single) server this long at most

  static StatusOr<std::unique_ptr<HttpServer>> Start(const BindAddress& address, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }

 private:
  HttpServer(int fd, int port, Handler handler);
  void Serve(const std::stop_token& stop);
  void HandleConnection(int fd);

  const int fd_;
  const int port_;
  const Handler handler_;
  std::jthread thread_;  // last: joined before the members it uses go away
};

}  // namespace kubeos

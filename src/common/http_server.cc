#include "common/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/log.h"

namespace kubeos {

namespace {

std::string_view Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

void WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the client went away
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

StatusOr<std::optional<BindAddress>> ParseBindAddress(std::string_view text) {
  if (text == "0") return std::optional<BindAddress>();
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return InvalidArgumentError("bind address \"" + std::string(text) + "\": want [host]:port or 0");
  }
  BindAddress a;
  a.host = std::string(text.substr(0, colon));
  if (a.host == "localhost") a.host = "127.0.0.1";
  const std::string_view port = text.substr(colon + 1);
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), a.port);
  if (port.empty() || ec != std::errc() || p != port.data() + port.size() || a.port < 0 || a.port > 65535) {
    return InvalidArgumentError("bind address \"" + std::string(text) + "\": bad port");
  }
  in_addr addr{};
  if (!a.host.empty() && ::inet_pton(AF_INET, a.host.c_str(), &addr) != 1) {
    return InvalidArgumentError("bind address \"" + std::string(text) + "\": host must be an IPv4 address");
  }
  return std::optional<BindAddress>(a);
}

StatusOr<HttpRequestHead> ParseRequestHead(std::string_view head) {
  const auto eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0 ||
      line.substr(sp2 + 1).rfind("HTTP/1.", 0) != 0) {
    return InvalidArgumentError("malformed HTTP request line");
  }
  HttpRequestHead h;
  h.method = std::string(line.substr(0, sp1));
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (target.empty() || target.front() != '/') return InvalidArgumentError("request target must be a path");
  h.path = std::string(target.substr(0, target.find('?')));
  return h;
}

std::string FormatResponse(const HttpReply& reply, bool head_only) {
  std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " " + std::string(Reason(reply.status)) +
                    "\r\nContent-Type: " + reply.content_type +
                    "\r\nContent-Length: " + std::to_string(reply.body.size()) +
                    "\r\nConnection: close\r\n\r\n";
  if (!head_only) out += reply.body;
  return out;
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const BindAddress& address, Handler handler) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError(errno, "socket");
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(address.port));
  sa.sin_addr.s_addr = htonl(INADDR_ANY);
  if (!address.host.empty()) ::inet_pton(AF_INET, address.host.c_str(), &sa.sin_addr);
  const std::string where =
      (address.host.empty() ? "0.0.0.0" : address.host) + ":" + std::to_string(address.port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd, 64) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoError(err, "listen on " + where);
  }
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return std::unique_ptr<HttpServer>(new HttpServer(fd, ntohs(sa.sin_port), std::move(handler)));
}

HttpServer::HttpServer(int fd, int port, Handler handler)
    : fd_(fd), port_(port), handler_(std::move(handler)) {
  thread_ = std::jthread([this](const std::stop_token& st) { Serve(st); });
}

HttpServer::~HttpServer() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
}

void HttpServer::Serve(const std::stop_token& stop) {
  constexpr int kPollMs = 200;  // how quickly a stop is noticed
  while (!stop.stop_requested()) {
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, kPollMs);
    if (r <= 0) continue;
    const int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    HandleConnection(conn);
    ::close(conn);
  }
}

void HttpServer::HandleConnection(int fd) {
  timeval tv{kReadTimeoutMs / 1000, static_cast<suseconds_t>(kReadTimeoutMs % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string head;
  char buf[1024];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < kMaxHead) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // closed or timed out before a whole head
    head.append(buf, static_cast<std::size_t>(n));
  }
  auto req = ParseRequestHead(head);
  HttpReply reply;
  bool head_only = false;
  if (!req.ok()) {
    reply = {400, "text/plain; charset=utf-8", req.status().message() + "\n"};
  } else if (req->method != "GET" && req->method != "HEAD") {
    reply = {405, "text/plain; charset=utf-8", "only GET and HEAD\n"};
  } else {
    head_only = req->method == "HEAD";
    reply = handler_(*req);
  }
  WriteAll(fd, FormatResponse(reply, head_only));
}

}  // namespace kubeos

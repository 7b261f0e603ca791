#include "https_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace kubeos::agenttest {
namespace {

// Pace of /slow/: 64 KiB per 20 ms, about 3 MiB/s.
constexpr size_t kSlowChunk = size_t{64} * 1024;
constexpr auto kSlowPause = std::chrono::milliseconds(20);

X509* ParseCert(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return x;
}

EVP_PKEY* ParseKey(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return k;
}

// One connection, TLS or not.
class Conn {
 public:
  Conn(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}
  ~Conn() {
    if (ssl_ != nullptr) {
      SSL_shutdown(ssl_);
      SSL_free(ssl_);
    }
    close(fd_);
  }
  bool Write(std::string_view d) {
    while (!d.empty()) {
      int n = ssl_ != nullptr ? SSL_write(ssl_, d.data(), static_cast<int>(d.size()))
                              : static_cast<int>(send(fd_, d.data(), d.size(), MSG_NOSIGNAL));
      if (n <= 0) return false;
      d.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  int Read(char* buf, int size) {
    return ssl_ != nullptr ? SSL_read(ssl_, buf, size) : static_cast<int>(recv(fd_, buf, size, 0));
  }
  int fd() const { return fd_; }

 private:
  int fd_;
  SSL* ssl_;
};

}  // namespace

HttpsServer::~HttpsServer() {
  stopping_ = true;
  if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  {
    std::lock_guard lock(mu_);
    workers_.clear();
  }
  if (listen_fd_ >= 0) close(listen_fd_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

std::string HttpsServer::base_url() const {
  return fmt::format("{}://127.0.0.1:{}", options_.tls ? "https" : "http", port_);
}

Status HttpsServer::Start() {
  if (options_.tls) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    // Clients (curl) resume TLS sessions on reconnect; with client verification OpenSSL requires a session
    // id context for that, or the handshake fails with an internal-error alert.
    static constexpr unsigned char kSessionContext[] = "agent-test";
    SSL_CTX_set_session_id_context(ctx_, kSessionContext, sizeof(kSessionContext) - 1);
    X509* cert = ParseCert(options_.cert_pem);
    EVP_PKEY* key = ParseKey(options_.key_pem);
    if (cert == nullptr || key == nullptr || SSL_CTX_use_certificate(ctx_, cert) != 1 ||
        SSL_CTX_use_PrivateKey(ctx_, key) != 1) {
      return InternalError("test server: bad certificate or key");
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!options_.client_ca_pem.empty()) {
      X509* ca = ParseCert(options_.client_ca_pem);
      if (ca == nullptr) return InternalError("test server: bad client CA");
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), ca);
      X509_free(ca);
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
  }
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, 16) != 0 || getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return ErrnoError(errno, "test server listen");
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::jthread([this] {
    while (!stopping_) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mu_);
      workers_.emplace_back([this, fd] { Serve(fd); });
    }
  });
  return Status::Ok();
}

void HttpsServer::Serve(int fd) {
  SSL* ssl = nullptr;
  if (ctx_ != nullptr) {
    ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) != 1) {  // wrong CA on the client, missing client certificate, ...
      SSL_free(ssl);
      close(fd);
      return;
    }
  }
  Conn conn(fd, ssl);
  std::string req;
  char buf[4096];
  while (req.find("\r\n\r\n") == std::string::npos) {
    int n = conn.Read(buf, sizeof buf);
    if (n <= 0) return;
    req.append(buf, static_cast<size_t>(n));
  }
  ++requests_;
  std::string path = req.substr(4, req.find(' ', 4) - 4);
  uint64_t from = 0;
  bool ranged = false;
  if (size_t r = req.find("\r\nRange: bytes="); r != std::string::npos) {
    from = std::stoull(req.substr(r + 15));
    ranged = true;
    ++range_requests_;
  }
  auto starts = [&](std::string_view p) { return path.rfind(p, 0) == 0; };
  const std::string& body = options_.payload;
  if (!(starts("/ok/") || starts("/truncate-once/") || starts("/truncate/") || starts("/stall/") ||
        starts("/slow/"))) {
    conn.Write("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found");
    return;
  }
  if (from > body.size()) from = body.size();
  std::string head = ranged ? fmt::format("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {}-{}/{}\r\n",
                                          from, body.size() - 1, body.size())
                            : std::string("HTTP/1.1 200 OK\r\n");
  head += fmt::format("Content-Length: {}\r\nConnection: close\r\n\r\n", body.size() - from);
  if (!conn.Write(head)) return;
  std::string_view rest{body};
  rest.remove_prefix(from);
  bool cut = starts("/truncate/") || (starts("/truncate-once/") && !truncated_once_.exchange(true));
  if (cut || starts("/stall/")) {
    conn.Write(rest.substr(0, rest.size() / 2));
    if (starts("/stall/")) {
      while (!stopping_) {  // hold the connection open, sending nothing, until the client leaves
        pollfd p{.fd = conn.fd(), .events = POLLIN, .revents = 0};
        if (poll(&p, 1, 100) > 0) break;
      }
    }
    return;
  }
  if (starts("/slow/")) {
    while (!rest.empty() && !stopping_) {
      size_t n = std::min(rest.size(), kSlowChunk);
      if (!conn.Write(rest.substr(0, n))) return;
      rest.remove_prefix(n);
      std::this_thread::sleep_for(kSlowPause);
    }
    return;
  }
  conn.Write(rest);
}

}  // namespace kubeos::agenttest

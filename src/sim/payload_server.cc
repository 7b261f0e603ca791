#include "sim/payload_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <vector>

namespace kubeos::sim {
namespace {

// Enough for a few hundred simulated nodes downloading at once.
constexpr int kListenBacklog = 512;
constexpr size_t kChunk = size_t{256} * 1024;
// A client that sends no request head in this long is dropped.
constexpr int kRequestTimeoutMs = 10000;

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};

X509* ParseCert(const std::string& pem) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
}

EVP_PKEY* ParseKey(const std::string& pem) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
}

bool WriteAll(SSL* ssl, std::string_view d) {
  while (!d.empty()) {
    int n = SSL_write(ssl, d.data(), static_cast<int>(d.size()));
    if (n <= 0) return false;
    d.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// A file name directly under the root: no slashes, no dot files.
bool SafeName(std::string_view name) {
  return !name.empty() && name.front() != '.' && name.find('/') == std::string_view::npos &&
         name.find('\\') == std::string_view::npos;
}

}  // namespace

PayloadServer::~PayloadServer() {
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

std::string PayloadServer::base_url() const { return fmt::format("https://127.0.0.1:{}", port_); }

Status PayloadServer::Start() {
  ctx_ = SSL_CTX_new(TLS_server_method());
  if (ctx_ == nullptr) return InternalError("payload server: SSL_CTX_new");
  // curl resumes TLS sessions; with client verification OpenSSL needs a session id context for that.
  static constexpr unsigned char kSessionContext[] = "kubeos-sim";
  SSL_CTX_set_session_id_context(ctx_, kSessionContext, sizeof(kSessionContext) - 1);
  X509* cert = ParseCert(options_.cert_pem);
  EVP_PKEY* key = ParseKey(options_.key_pem);
  bool ok = cert != nullptr && key != nullptr && SSL_CTX_use_certificate(ctx_, cert) == 1 &&
            SSL_CTX_use_PrivateKey(ctx_, key) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!ok) return InvalidArgumentError("payload server: bad certificate or key");
  X509* ca = ParseCert(options_.client_ca_pem);
  if (ca == nullptr) return InvalidArgumentError("payload server: bad client CA");
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), ca);
  X509_free(ca);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);

  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return ErrnoError(errno, "payload server socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, kListenBacklog) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return ErrnoError(errno, "payload server listen");
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::jthread([this] {
    while (!stopping_) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mu_);
      // Drop finished connection threads now and then, so a long demo does not accumulate them.
      workers_.remove_if([](const Worker& w) { return w.done->load(); });
      auto flag = std::make_shared<std::atomic<bool>>(false);
      workers_.push_back({flag, std::jthread([this, fd, flag] {
                            Serve(fd);
                            *flag = true;
                          })});
    }
  });
  return Status::Ok();
}

void PayloadServer::Serve(int fd) {
  SSL* ssl = SSL_new(ctx_);
  SSL_set_fd(ssl, fd);
  auto done = [&] {
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
  };
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  if (poll(&p, 1, kRequestTimeoutMs) <= 0 || SSL_accept(ssl) != 1) {  // no or untrusted client certificate
    ++rejected_;
    SSL_free(ssl);
    close(fd);
    return;
  }
  std::string req;
  char buf[4096];
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < 16384) {
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) return done();
    req.append(buf, static_cast<size_t>(n));
  }
  ++requests_;
  size_t sp = req.find(' ');
  size_t sp2 = sp == std::string::npos ? sp : req.find(' ', sp + 1);
  if (req.rfind("GET /", 0) != 0 || sp2 == std::string::npos) {
    WriteAll(ssl, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    return done();
  }
  std::string name = req.substr(sp + 2, sp2 - sp - 2);
  int file = SafeName(name) ? open((options_.root / name).c_str(), O_RDONLY | O_CLOEXEC) : -1;
  if (file < 0) {
    WriteAll(ssl, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found");
    return done();
  }
  off_t size = lseek(file, 0, SEEK_END);
  uint64_t from = 0;
  bool ranged = false;
  if (size_t r = req.find("\r\nRange: bytes="); r != std::string::npos) {
    from = std::strtoull(req.c_str() + r + 15, nullptr, 10);
    ranged = true;
  }
  uint64_t total = static_cast<uint64_t>(size);
  if (from > total) from = total;
  std::string head = ranged && total > 0
                         ? fmt::format("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {}-{}/{}\r\n",
                                       from, total - 1, total)
                         : std::string("HTTP/1.1 200 OK\r\n");
  head +=
      fmt::format("Content-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                  total - from);
  if (WriteAll(ssl, head)) {
    std::vector<char> chunk(kChunk);
    uint64_t off = from;
    while (off < total && !stopping_) {
      ssize_t n = pread(file, chunk.data(), chunk.size(), static_cast<off_t>(off));
      if (n <= 0 || !WriteAll(ssl, std::string_view(chunk.data(), static_cast<size_t>(n)))) break;
      off += static_cast<uint64_t>(n);
      bytes_ += static_cast<uint64_t>(n);
    }
  }
  close(file);
  done();
}

}  // namespace kubeos::sim

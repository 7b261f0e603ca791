#include "sim/file_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "common/log.h"
#include "sim/http_range.h"

namespace kubeos::sim {
namespace {

// Enough for a few hundred simulated nodes downloading at once.
constexpr int kListenBacklog = 512;
constexpr size_t kChunk = size_t{256} * 1024;
constexpr size_t kMaxRequestHead = 16384;
// Pace of Delivery::kSlow.
constexpr size_t kSlowChunk = size_t{64} * 1024;
constexpr auto kSlowPause = std::chrono::milliseconds(20);
// A peer that accepts no data for this long is dropped.
constexpr int kSendTimeoutSeconds = 30;
constexpr auto kAcceptBackoff = std::chrono::milliseconds(50);

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

// A file name directly under the root: no slashes, no dot files.
bool SafeName(std::string_view name) {
  return !name.empty() && name.front() != '.' && name.find('/') == std::string_view::npos &&
         name.find('\\') == std::string_view::npos;
}

}  // namespace

const char* HandshakeFailureName(HandshakeFailure f) {
  switch (f) {
    case HandshakeFailure::kRejected:
      return "rejected";
    case HandshakeFailure::kPeerAborted:
      return "peer_aborted";
    case HandshakeFailure::kPeerGone:
      return "peer_gone";
    case HandshakeFailure::kProtocolError:
      return "protocol_error";
  }
  return "unknown";
}

HandshakeFailure ClassifyHandshakeFailure(int ssl_error, std::span<const unsigned long> errors,
                                          long verify_result) {
  switch (ssl_error) {
    case SSL_ERROR_SSL:
      break;
    case SSL_ERROR_SYSCALL:      // EOF without close_notify (OpenSSL 1.1), ECONNRESET, EPIPE
    case SSL_ERROR_ZERO_RETURN:  // close_notify
    case SSL_ERROR_WANT_READ:    // SO_RCVTIMEO / SO_SNDTIMEO ran out on the blocking socket
    case SSL_ERROR_WANT_WRITE:
      return HandshakeFailure::kPeerGone;
    default:
      return HandshakeFailure::kProtocolError;
  }
  // A client certificate that failed verification leaves its X509_V_ERR_* in the verify result.
  if (verify_result != X509_V_OK) return HandshakeFailure::kRejected;
  bool alert = false;
  bool eof = false;
  for (unsigned long e : errors) {
    if (ERR_GET_LIB(e) != ERR_LIB_SSL) continue;
    const int reason = ERR_GET_REASON(e);
    switch (reason) {
      case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:  // SSL_VERIFY_FAIL_IF_NO_PEER_CERT
      case SSL_R_CERTIFICATE_VERIFY_FAILED:
      case SSL_R_NO_CERTIFICATES_RETURNED:
      case SSL_R_BAD_SIGNATURE:  // the client's CertificateVerify: it does not hold the certificate's key
        return HandshakeFailure::kRejected;
      case SSL_R_UNEXPECTED_EOF_WHILE_READING:  // OpenSSL 3: the peer closed without close_notify
        eof = true;
        break;
      default:
        // An alert the peer sent is reported as SSL_AD_REASON_OFFSET + its description ("tlsv1 alert
        // unknown ca"); close_notify (0) is SSL_ERROR_ZERO_RETURN instead.
        if (reason > SSL_AD_REASON_OFFSET && reason <= SSL_AD_REASON_OFFSET + 255) alert = true;
    }
  }
  if (alert) return HandshakeFailure::kPeerAborted;
  if (eof) return HandshakeFailure::kPeerGone;
  return HandshakeFailure::kProtocolError;
}

// One accepted connection, TLS or plain; closes (and shuts TLS down) when destroyed.
class FileServer::Conn {
 public:
  Conn(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
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
    return ssl_ != nullptr ? SSL_read(ssl_, buf, size)
                           : static_cast<int>(recv(fd_, buf, static_cast<size_t>(size), 0));
  }
  int fd() const { return fd_; }

 private:
  int fd_;
  SSL* ssl_;
};

Router DirectoryRouter(std::filesystem::path root) {
  return [root = std::move(root)](std::string_view path) -> std::optional<Content> {
    std::string_view name = path.substr(1);
    if (!SafeName(name)) return std::nullopt;
    return Content{.file = root / name};
  };
}

FileServer::~FileServer() {
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

std::string FileServer::base_url() const {
  return fmt::format("{}://127.0.0.1:{}", options_.tls ? "https" : "http", port_);
}

Status FileServer::Start() {
  if (!options_.route) return InvalidArgumentError("file server: no router");
  if (options_.tls) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    if (ctx_ == nullptr) return InternalError("file server: SSL_CTX_new failed");
    // Clients (curl) resume TLS sessions on reconnect; with client verification OpenSSL needs a session id
    // context for that, or the handshake fails with an internal-error alert.
    static constexpr unsigned char kSessionContext[] = "kubeos-file-server";
    SSL_CTX_set_session_id_context(ctx_, kSessionContext, sizeof(kSessionContext) - 1);
    X509* cert = ParseCert(options_.cert_pem);
    EVP_PKEY* key = ParseKey(options_.key_pem);
    bool ok = cert != nullptr && key != nullptr && SSL_CTX_use_certificate(ctx_, cert) == 1 &&
              SSL_CTX_use_PrivateKey(ctx_, key) == 1;
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!ok) return InvalidArgumentError("file server: bad server certificate or key");
    if (!options_.client_ca_pem.empty()) {
      X509* ca = ParseCert(options_.client_ca_pem);
      if (ca == nullptr) return InvalidArgumentError("file server: bad client CA certificate");
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), ca);
      X509_free(ca);
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
  }
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return ErrnoError(errno, "file server socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, kListenBacklog) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return ErrnoError(errno, "file server listen on 127.0.0.1");
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::jthread([this] {
    while (!stopping_) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        // Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ...): back off instead of spinning.
        if (errno != EINTR && errno != ECONNABORTED) std::this_thread::sleep_for(kAcceptBackoff);
        continue;
      }
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

void FileServer::Serve(int fd) {
  const auto idle_ms = options_.idle_timeout.count();
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  if (poll(&p, 1, static_cast<int>(idle_ms)) <= 0) {  // connected and never spoke: not a handshake
    if (ctx_ != nullptr) ++failures_[Index(HandshakeFailure::kPeerGone)];
    close(fd);
    return;
  }
  // A peer that stops reading or writing mid-way cannot hold a connection thread (or the destructor).
  timeval rcv{static_cast<time_t>(idle_ms / 1000), static_cast<suseconds_t>((idle_ms % 1000) * 1000)};
  timeval snd{kSendTimeoutSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof rcv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof snd);
  SSL* ssl = nullptr;
  if (ctx_ != nullptr) {
    ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    ERR_clear_error();  // the queue is per thread; read only what this handshake left
    if (int rc = SSL_accept(ssl); rc != 1) {
      const int sys_errno = errno;
      const int ssl_error = SSL_get_error(ssl, rc);
      std::vector<unsigned long> errors;
      for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) errors.push_back(e);
      HandshakeFailure f = ClassifyHandshakeFailure(ssl_error, errors, SSL_get_verify_result(ssl));
      ++failures_[Index(f)];
      const char* reason = errors.empty() ? nullptr : ERR_reason_error_string(errors.front());
      log::Debug("file server handshake failed",
                 {{"kind", HandshakeFailureName(f)},
                  {"ssl_error", ssl_error},
                  {"reason", reason != nullptr ? reason : "none"},
                  {"errno", sys_errno},
                  {"verify", X509_verify_cert_error_string(SSL_get_verify_result(ssl))}});
      SSL_free(ssl);
      close(fd);
      return;
    }
  }
  Conn conn(fd, ssl);
  std::string req;
  char buf[4096];
  while (req.find("\r\n\r\n") == std::string::npos) {
    if (req.size() > kMaxRequestHead) return;
    int n = conn.Read(buf, sizeof buf);
    if (n <= 0) return;
    req.append(buf, static_cast<size_t>(n));
  }
  ++requests_;
  size_t sp = req.find(' ');
  size_t sp2 = sp == std::string::npos ? sp : req.find(' ', sp + 1);
  if (req.rfind("GET /", 0) != 0 || sp2 == std::string::npos) {
    conn.Write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    return;
  }
  const std::string_view head{req};
  std::optional<Content> content = options_.route(head.substr(sp + 1, sp2 - sp - 1));
  if (!content) {
    conn.Write("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found");
    return;
  }
  Send(conn, *content, HeaderValues(head.substr(0, head.find("\r\n\r\n") + 2), "range"));
}

void FileServer::Send(Conn& conn, const Content& content, const std::vector<std::string_view>& range_values) {
  int file = -1;
  uint64_t total = 0;
  if (content.bytes) {
    total = content.bytes->size();
  } else {
    file = open(content.file.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    off_t size = file < 0 || fstat(file, &st) != 0 || !S_ISREG(st.st_mode) ? -1 : st.st_size;
    if (size < 0) {
      if (file >= 0) close(file);
      conn.Write("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found");
      return;
    }
    total = static_cast<uint64_t>(size);
  }
  const RangeAnswer range = AnswerRange(range_values, total);
  if (range.kind != RangeAnswer::Kind::kFull) ++range_requests_;
  if (range.kind == RangeAnswer::Kind::kUnsatisfiable) {
    conn.Write(
        fmt::format("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\nContent-Length: 0\r\n"
                    "Connection: close\r\n\r\n",
                    total));
    if (file >= 0) close(file);
    return;
  }
  // The bytes [from, to) are sent.
  const bool partial = range.kind == RangeAnswer::Kind::kPartial;
  const uint64_t from = partial ? range.first : 0;
  const uint64_t to = partial ? range.last + 1 : total;
  std::string head = partial
                         ? fmt::format("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {}-{}/{}\r\n",
                                       range.first, range.last, total)
                         : std::string("HTTP/1.1 200 OK\r\n");
  head += fmt::format(
      "Content-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n", to - from);
  // The body from `from` up to `end`, in chunks of `chunk` bytes, `pause` after each.
  auto body = [&](uint64_t end, size_t chunk, std::chrono::milliseconds pause) {
    std::vector<char> data(file >= 0 ? chunk : 0);
    for (uint64_t off = from; off < end && !stopping_;) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(chunk, end - off));
      std::string_view piece;
      if (content.bytes) {
        piece = std::string_view{*content.bytes}.substr(off, want);
      } else {
        ssize_t n = pread(file, data.data(), want, static_cast<off_t>(off));
        if (n <= 0) return false;
        piece = std::string_view(data.data(), static_cast<size_t>(n));
      }
      if (!conn.Write(piece)) return false;
      off += piece.size();
      bytes_ += piece.size();
      if (pause.count() > 0) std::this_thread::sleep_for(pause);
    }
    return true;
  };
  if (conn.Write(head)) {
    const uint64_t half = from + (to - from) / 2;
    switch (content.delivery) {
      case Delivery::kNormal:
        body(to, kChunk, std::chrono::milliseconds(0));
        break;
      case Delivery::kCloseAtHalf:
        body(half, kChunk, std::chrono::milliseconds(0));
        break;
      case Delivery::kStallAtHalf:
        if (body(half, kChunk, std::chrono::milliseconds(0))) {
          while (!stopping_) {  // hold the connection open, sending nothing, until the client leaves
            pollfd p{.fd = conn.fd(), .events = POLLIN, .revents = 0};
            if (poll(&p, 1, 100) > 0) break;
          }
        }
        break;
      case Delivery::kSlow:
        body(to, kSlowChunk, kSlowPause);
        break;
    }
  }
  if (file >= 0) close(file);
}

}  // namespace kubeos::sim

// A small real HTTP(S) file server on OpenSSL: the demo's image server (mutual TLS, files of a directory)
// and the agent and boot tests' payload server (one payload under paths that select a fault). One GET per
// connection; a single byte range is honoured as RFC 9110 says ("bytes=N-M", "N-", "-K": 206 with
// Content-Range; 416 with "bytes */size" when unsatisfiable; an invalid or multi-range header is ignored and
// the whole file served, http_range.h). Files are streamed from disk (pread), never held in memory; only
// regular files are served. Idle peers are dropped (10 s to handshake and send a request, 30 s to accept
// data). Client certificates are required and verified when client_ca_pem is set; a failed TLS handshake is
// counted by who ended it (HandshakeFailure). Thread-safety: Start once; the server runs on its own threads
// (one per connection) until destroyed.
#pragma once

#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"

namespace kubeos::sim {

// How the body of an answer is delivered: normally, or with a fault a test needs.
enum class Delivery {
  kNormal,
  kCloseAtHalf,  // send half the (remaining) body, then close the connection
  kStallAtHalf,  // send half, then nothing until the client gives up
  kSlow,         // 64 KiB every 20 ms (about 3 MiB/s)
};

// What a request path is answered with: a file streamed from disk, or bytes the caller keeps alive.
struct Content {
  std::filesystem::path file;                // used when bytes is null
  std::shared_ptr<const std::string> bytes;  // served from memory when set
  Delivery delivery = Delivery::kNormal;
};

// Maps a request path ("/name") to its content; nullopt answers 404. Called on connection threads.
using Router = std::function<std::optional<Content>(std::string_view path)>;

// GET /<name> for a plain file directly under root (no slashes, no dot files).
Router DirectoryRouter(std::filesystem::path root);

struct FileServerOptions {
  bool tls = true;
  std::string cert_pem, key_pem;  // server identity (secret key: never logged)
  std::string client_ca_pem;      // non-empty: require and verify client certificates
  Router route;
  // A peer that sends nothing (no handshake, no request head) for this long is dropped.
  std::chrono::milliseconds idle_timeout{10000};
};

// Why a TLS handshake failed, from the server's side.
enum class HandshakeFailure {
  kRejected,       // we refused the client: no client certificate, or one that does not verify
  kPeerAborted,    // the peer ended it with a fatal alert (e.g. it does not trust our certificate)
  kPeerGone,       // the peer closed, reset or went silent (timed out) mid-handshake, without an alert
  kProtocolError,  // not TLS (plain HTTP, garbage) or another TLS failure (no common version or cipher)
};
const char* HandshakeFailureName(HandshakeFailure f);
// Pure: classifies from SSL_get_error's result for the failed SSL_accept, the OpenSSL error queue it left
// (ERR_get_error codes, oldest first) and SSL_get_verify_result.
HandshakeFailure ClassifyHandshakeFailure(int ssl_error, std::span<const unsigned long> errors,
                                          long verify_result);

class FileServer {
 public:
  explicit FileServer(FileServerOptions options) : options_(std::move(options)) {}
  FileServer(const FileServer&) = delete;
  FileServer& operator=(const FileServer&) = delete;
  virtual ~FileServer();

  Status Start();
  std::string base_url() const;  // "https://127.0.0.1:<port>" (or http://)
  int requests() const { return requests_.load(); }
  // Requests with a usable Range header (answered 206 or 416; an ignored header does not count).
  int range_requests() const { return range_requests_.load(); }
  // Failed TLS handshakes by HandshakeFailure. Only rejected_handshakes() means "a client certificate was
  // refused"; a port probe or a client that gave up shows in dropped_handshakes().
  int rejected_handshakes() const { return failures_[Index(HandshakeFailure::kRejected)].load(); }
  int aborted_handshakes() const { return failures_[Index(HandshakeFailure::kPeerAborted)].load(); }
  int dropped_handshakes() const { return failures_[Index(HandshakeFailure::kPeerGone)].load(); }
  int protocol_error_handshakes() const { return failures_[Index(HandshakeFailure::kProtocolError)].load(); }
  uint64_t bytes_sent() const { return bytes_.load(); }

 private:
  class Conn;
  void Serve(int fd);
  void Send(Conn& conn, const Content& content, const std::vector<std::string_view>& range_values);
  static constexpr size_t Index(HandshakeFailure f) { return static_cast<size_t>(f); }

  FileServerOptions options_;
  SSL_CTX* ctx_ = nullptr;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> range_requests_{0};
  std::array<std::atomic<int>, 4> failures_{};  // by HandshakeFailure
  std::atomic<uint64_t> bytes_{0};
  std::jthread acceptor_;
  struct Worker {
    std::shared_ptr<std::atomic<bool>> done;
    std::jthread thread;
  };
  std::mutex mu_;
  std::list<Worker> workers_;  // guarded by mu_
};

}  // namespace kubeos::sim

// A small real HTTP(S) file server on OpenSSL: the demo's image server (mutual TLS, files of a directory)
// and the agent and boot tests' payload server (one payload under paths that select a fault). One GET per
// connection; "Range: bytes=N-" is answered 206 so a client can resume (416 when N is past the end; an end
// N-M is not honoured). Files are streamed from disk (pread), never held in memory; only regular files are
// served. Idle peers are dropped (10 s to send a request, 30 s to accept data). Client certificates are
// required and verified when client_ca_pem is set. Thread-safety: Start once; the server runs on its own
// threads (one per connection) until destroyed.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

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
};

class FileServer {
 public:
  explicit FileServer(FileServerOptions options) : options_(std::move(options)) {}
  FileServer(const FileServer&) = delete;
  FileServer& operator=(const FileServer&) = delete;
  virtual ~FileServer();

  Status Start();
  std::string base_url() const;  // "https://127.0.0.1:<port>" (or http://)
  int requests() const { return requests_.load(); }
  int range_requests() const { return range_requests_.load(); }
  int rejected_handshakes() const { return rejected_.load(); }
  uint64_t bytes_sent() const { return bytes_.load(); }

 private:
  class Conn;
  void Serve(int fd);
  void Send(Conn& conn, const Content& content, bool ranged, uint64_t from);

  FileServerOptions options_;
  SSL_CTX* ctx_ = nullptr;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> range_requests_{0};
  std::atomic<int> rejected_{0};
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

// A tiny real HTTPS (or plain HTTP) file server on OpenSSL for the agent's integration tests. It serves one
// payload under several paths whose prefix selects a behaviour the tests need:
//   /ok/<name>             200 with Content-Length; honours "Range: bytes=N-" with 206
//   /truncate-once/<name>  the first response closes the connection after half the body; later ones are
//                          normal (exercises Range resume)
//   /truncate/<name>       every response closes after half the body
//   /stall/<name>          sends half the body, then nothing until the client gives up
//   /slow/<name>           sends 64 KiB every 20 ms (keeps an install running for concurrency tests)
//   anything else          404
// Client certificates are required (and verified against client_ca_pem) when client_ca_pem is set.
// Thread-safety: Start once, then the server runs on its own threads until destroyed.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <list>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"

namespace kubeos::agenttest {

struct HttpsServerOptions {
  bool tls = true;
  std::string cert_pem, key_pem;  // server identity
  std::string client_ca_pem;      // non-empty: require and verify client certificates
  std::string payload;
};

class HttpsServer {
 public:
  explicit HttpsServer(HttpsServerOptions options) : options_(std::move(options)) {}
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;
  ~HttpsServer();

  Status Start();
  // "https://127.0.0.1:<port>" (or http://).
  std::string base_url() const;
  int requests() const { return requests_.load(); }
  int range_requests() const { return range_requests_.load(); }

 private:
  void Serve(int fd);

  HttpsServerOptions options_;
  SSL_CTX* ctx_ = nullptr;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> range_requests_{0};
  std::atomic<bool> truncated_once_{false};
  std::jthread acceptor_;
  std::mutex mu_;
  std::list<std::jthread> workers_;  // guarded by mu_
};

}  // namespace kubeos::agenttest

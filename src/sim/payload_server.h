// The demo's image server: HTTPS (OpenSSL) with mutual TLS, serving the files of one directory by name
// (GET /<name>, with "Range: bytes=N-" answered 206 so the agent can resume). Client certificates are
// required and verified against the CA given. Files are streamed from disk (pread), not held in memory.
// Thread-safety: Start once; the server runs on its own threads (one per connection) until destroyed.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"

namespace kubeos::sim {

struct PayloadServerOptions {
  std::filesystem::path root;     // files served
  std::string cert_pem, key_pem;  // server identity (secret key: never logged)
  std::string client_ca_pem;      // required: clients must present a certificate signed by it
};

class PayloadServer {
 public:
  explicit PayloadServer(PayloadServerOptions options) : options_(std::move(options)) {}
  PayloadServer(const PayloadServer&) = delete;
  PayloadServer& operator=(const PayloadServer&) = delete;
  ~PayloadServer();

  Status Start();
  std::string base_url() const;  // https://127.0.0.1:<port>
  int requests() const { return requests_.load(); }
  int rejected_handshakes() const { return rejected_.load(); }
  uint64_t bytes_sent() const { return bytes_.load(); }

 private:
  void Serve(int fd);

  PayloadServerOptions options_;
  SSL_CTX* ctx_ = nullptr;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
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

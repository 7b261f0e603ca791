// JSON-RPC 2.0 server on a unix stream socket (default /run/os-agent/os-agent.sock; directory 0750, socket
// 0640). One thread per connection (at most kMaxConnections), so `status` answers while an install runs on
// another connection; mutating calls are serialised by the Agent. Requests are split at JSON object
// boundaries, responses are newline-terminated (as the original's jsonrpc-ipc-server).
// Thread-safety: Listen, then Serve from one thread; Serve returns when the stop token fires.
#pragma once

#include <atomic>
#include <filesystem>
#include <list>
#include <memory>
#include <stop_token>
#include <thread>

#include "agent/agent.h"
#include "common/status.h"

namespace kubeos::agent {

// Concurrent connections: the proxy uses one at a time; a few more for the CLI and health probes.
constexpr int kMaxConnections = 16;

class RpcServer {
 public:
  RpcServer(Agent& agent, std::filesystem::path socket_path);
  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;
  ~RpcServer();

  // Creates the directory (0750) and socket (0640), replacing a stale socket file. FailedPrecondition when
  // another agent serves this socket (it holds `<socket>.lock`, or the socket answers) or the path is not
  // a socket; nothing is removed then.
  Status Listen();
  // Accepts until `stop`; joins connection threads before returning.
  void Serve(const std::stop_token& stop);

 private:
  struct Conn {
    std::jthread thread;
    std::atomic<bool> done{false};
  };
  void HandleConnection(int fd, const std::stop_token& stop, std::atomic<bool>& done);
  std::string HandleFrame(const std::string& frame);

  Agent& agent_;
  std::filesystem::path socket_path_;
  int listen_fd_ = -1;
  int lock_fd_ = -1;                        // flock(LOCK_EX) on <socket>.lock for the server's lifetime
  std::list<std::unique_ptr<Conn>> conns_;  // Serve's thread only
};

}  // namespace kubeos::agent

#include "agent/server.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "agent/rpc.h"
#include "common/log.h"

namespace kubeos::agent {
namespace {

// poll() period so accept and reads notice the stop token promptly.
constexpr int kPollMillis = 200;
// A connection that sends nothing for this long is closed (the original client connects per request).
constexpr int kIdleMillis = 5 * 60 * 1000;

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

RpcServer::RpcServer(Agent& agent, std::filesystem::path socket_path)
    : agent_(agent), socket_path_(std::move(socket_path)) {}

RpcServer::~RpcServer() {
  conns_.clear();
  if (listen_fd_ >= 0) close(listen_fd_);
  if (lock_fd_ >= 0) close(lock_fd_);
}

Status RpcServer::Listen() {
  std::filesystem::path dir = socket_path_.parent_path();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ErrnoError(ec.value(), "create " + dir.string());
  // The directory is the socket's own (mode 0750); a shared one (/tmp, /run) is refused, never changed.
  struct stat dst {};
  if (stat(dir.c_str(), &dst) != 0) return ErrnoError(errno, "stat " + dir.string());
  if ((dst.st_mode & (S_IWOTH | S_ISVTX)) != 0) {
    return FailedPreconditionError(
        fmt::format("socket directory {} is shared (mode {:o}); give the socket a directory of its own, e.g. "
                    "/run/os-agent/os-agent.sock",
                    dir.string(), dst.st_mode & 07777));
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path_.string().size() >= sizeof(addr.sun_path)) {
    return InvalidArgumentError("socket path too long: " + socket_path_.string());
  }
  std::strncpy(addr.sun_path, socket_path_.c_str(), sizeof(addr.sun_path) - 1);
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return ErrnoError(errno, "socket");
  // One agent per socket: the lock closes the window in which two starting agents could both find the
  // socket stale.
  const std::string lock_path = socket_path_.string() + ".lock";
  lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) return ErrnoError(errno, "open " + lock_path);
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return FailedPreconditionError("another os-agent is already serving " + socket_path_.string() +
                                     " (it holds " + lock_path +
                                     "); stop it first (systemctl stop os-agent)");
    }
    return ErrnoError(errno, "flock " + lock_path);
  }
  if (chmod(dir.c_str(), 0750) != 0) return ErrnoError(errno, "chmod " + dir.string());
  // A socket left by a previous run is removed; one that answers belongs to a running agent, and anything
  // else at that path is not ours to delete.
  struct stat st {};
  if (lstat(socket_path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return FailedPreconditionError(
          socket_path_.string() + " exists and is not a socket; remove it or choose another --socket path");
    }
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) return ErrnoError(errno, "socket");
    const bool live = connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(probe);
    if (live) {
      return FailedPreconditionError("another os-agent is already serving " + socket_path_.string() +
                                     "; stop it first (systemctl stop os-agent)");
    }
    unlink(socket_path_.c_str());
  }
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoError(errno, "bind " + socket_path_.string());
  }
  if (chmod(socket_path_.c_str(), 0640) != 0) return ErrnoError(errno, "chmod " + socket_path_.string());
  if (listen(listen_fd_, kMaxConnections) != 0) return ErrnoError(errno, "listen " + socket_path_.string());
  log::Info("listening", {{"socket", socket_path_.string()}});
  return Status::Ok();
}

void RpcServer::Serve(const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    conns_.remove_if([](const std::unique_ptr<Conn>& c) { return c->done.load(); });
    pollfd p{.fd = listen_fd_, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, kPollMillis) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    if (static_cast<int>(conns_.size()) >= kMaxConnections) {
      WriteAll(fd, RpcErrorResponse(nullptr, {kRpcAppErrorCode, "os-agent: too many connections"}));
      close(fd);
      continue;
    }
    auto conn = std::make_unique<Conn>();
    Conn* c = conn.get();
    c->thread = std::jthread([this, fd, c](const std::stop_token& st) { HandleConnection(fd, st, c->done); });
    conns_.push_back(std::move(conn));
  }
  conns_.clear();  // jthread destructors request stop and join
}

std::string RpcServer::HandleFrame(const std::string& frame) {
  RpcRequest req;
  if (std::optional<RpcError> e = ParseRpcRequest(frame, &req)) return RpcErrorResponse(nullptr, *e);
  static constexpr std::string_view kMethods[] = {"prepare_upgrade", "upgrade", "rollback",
                                                  "configure",       "status",  "mark_good"};
  if (std::find(std::begin(kMethods), std::end(kMethods), req.method) == std::end(kMethods)) {
    return RpcErrorResponse(req.id, {kRpcMethodNotFound, "Method not found"});
  }
  log::Debug("rpc", {{"method", req.method}});
  StatusOr<nlohmann::json> result = agent_.Call(req.method, req.params, &req.ordered_params);
  if (!result.ok()) {
    return RpcErrorResponse(req.id, {.code = kRpcAppErrorCode,
                                     .message = result.status().ToString(),
                                     .status_code = std::string(StatusCodeName(result.status().code()))});
  }
  return RpcResult(req.id, *result);
}

void RpcServer::HandleConnection(int fd, const std::stop_token& stop, std::atomic<bool>& done) {
  FrameSplitter splitter;
  char buf[8192];
  int idle = 0;
  while (!stop.stop_requested() && idle < kIdleMillis) {
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    int pr = poll(&p, 1, kPollMillis);
    if (pr == 0) {
      idle += kPollMillis;
      continue;
    }
    if (pr < 0 && errno == EINTR) continue;
    ssize_t n = pr < 0 ? -1 : recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    idle = 0;
    StatusOr<std::vector<std::string>> frames = splitter.Feed(std::string_view(buf, static_cast<size_t>(n)));
    if (!frames.ok()) {
      WriteAll(fd, RpcErrorResponse(nullptr, {kRpcInvalidRequest, frames.status().message()}));
      break;
    }
    bool ok = true;
    for (const std::string& f : *frames) ok = ok && WriteAll(fd, HandleFrame(f));
    if (!ok) break;
  }
  close(fd);
  done = true;
}

}  // namespace kubeos::agent

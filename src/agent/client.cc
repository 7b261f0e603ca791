#include "agent/client.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "agent/rpc.h"

namespace kubeos::agent {

StatusOr<nlohmann::json> CallAgent(const std::filesystem::path& socket_path, const std::string& method,
                                   const nlohmann::json& params, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError(errno, "socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof(addr.sun_path) - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    close(fd);
    return UnavailableError(fmt::format("Cannot connect to KubeOS os-agent unix socket: {}",
                                        ErrnoError(err, "connect " + socket_path.string()).message()));
  }
  std::string req =
      nlohmann::json{{"jsonrpc", "2.0"}, {"method", method}, {"params", params}, {"id", 1}}.dump();
  std::string_view out = req;
  while (!out.empty()) {
    ssize_t n = send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (n < 0) {
      int err = errno;
      close(fd);
      return ErrnoError(err, "send to " + socket_path.string());
    }
    out.remove_prefix(static_cast<size_t>(n));
  }
  std::string in;
  char buf[8192];
  while (in.find('\n') == std::string::npos) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      close(fd);
      return DeadlineExceededError(
          fmt::format("os-agent {}: no answer within {} ms", method, timeout.count()));
    }
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      close(fd);
      return UnavailableError(fmt::format("os-agent {}: connection closed before the answer", method));
    }
    in.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  nlohmann::json resp = nlohmann::json::parse(in.substr(0, in.find('\n')), nullptr, false);
  if (resp.is_discarded() || !resp.is_object()) return DataLossError("os-agent answered with invalid JSON");
  if (resp.contains("error")) {
    int code = resp["error"].value("code", 0);
    std::string msg = resp["error"].value("message", "");
    if (code == kRpcMethodNotFound) return UnimplementedError("Method is unimplemented");
    // error.data.code (our status code name) when the agent sends it; older agents: kUnknown.
    StatusCode sc = StatusCode::kUnknown;
    if (const nlohmann::json& e = resp["error"]; e.contains("data") && e["data"].is_object() &&
                                                 e["data"].contains("code") &&
                                                 e["data"]["code"].is_string()) {
      sc = StatusCodeFromName(e["data"]["code"].get<std::string>());
      if (sc == StatusCode::kOk) sc = StatusCode::kUnknown;
    }
    return Status(sc, msg);
  }
  return resp.value("result", nlohmann::json(nullptr));
}

}  // namespace kubeos::agent

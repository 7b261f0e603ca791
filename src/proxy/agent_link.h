// os-proxy's side of the agent RPC (docs/agent-rpc.md): the AgentApi interface the controller calls, the
// unix-socket implementation, and the pure translations between the CRD types and the RPC's shapes.
//
// Every call has a deadline (AgentTimeouts). The socket client opens one connection per call (as the
// original's client does), so a restarted agent or a rebooted host is simply reconnected to; read-only and
// idempotent calls (status, configure) are retried a few times when the socket is briefly absent.
// Thread-safety: SocketAgent is stateless apart from its options; calls may run concurrently.
#pragma once

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "api/os.h"
#include "common/status.h"
#include "proxy/state_machine.h"

namespace kubeos::node {

struct AgentTimeouts {
  std::chrono::milliseconds status{10'000};
  std::chrono::milliseconds configure{120'000};
  std::chrono::milliseconds prepare{3'600'000};    // download + verified write of a whole root filesystem
  std::chrono::milliseconds switch_boot{300'000};  // upgrade / rollback: arm the trial, start the reboot
  std::chrono::milliseconds mark_good{60'000};
};

class AgentApi {
 public:
  virtual ~AgentApi() = default;
  // The method's result object, or: kUnavailable (socket absent or the connection closed before the answer,
  // e.g. the host went down), kDeadlineExceeded, kUnimplemented (method not found), kUnknown with the
  // agent's own error message ("InvalidArgument: ...", "Busy: ..."). Blocks up to `timeout`.
  virtual StatusOr<nlohmann::json> Call(const std::string& method, const nlohmann::json& params,
                                        std::chrono::milliseconds timeout) = 0;
};

class SocketAgent final : public AgentApi {
 public:
  // Attempts for idempotent calls when the socket is briefly absent (agent restart).
  static constexpr int kIdempotentAttempts = 3;
  static constexpr std::chrono::milliseconds kReconnectDelay{300};

  explicit SocketAgent(std::filesystem::path socket) : socket_(std::move(socket)) {}
  StatusOr<nlohmann::json> Call(const std::string& method, const nlohmann::json& params,
                                std::chrono::milliseconds timeout) override;

 private:
  const std::filesystem::path socket_;
};

// The agent's status report -> AgentView (reachable and known set).
AgentView AgentViewFromStatus(const nlohmann::json& status);

// prepare_upgrade's params: [UpgradeRequest] from the OS spec (the original's field mapping, §3.3).
nlohmann::json UpgradeParams(const api::OSSpec& spec);

// configure's params: [ConfigureRequest] from SysConfigs, as the original builds it: each model with
// `contents` becomes an entry; contents become a map by key (missing key "", missing value null, missing
// operation ""; later duplicates win); models without contents are skipped. nullopt when nothing is left
// (then no RPC is made).
std::optional<nlohmann::json> ConfigureParams(const std::optional<api::SysConfigs>& configs);

// A deep copy of `configs` with the model names grub.cmdline.current and grub.cmdline.next swapped (what
// the operator does for upgrade/rollback so that "current" keeps naming the partition running at request
// time).
api::SysConfigs SwapGrubCurrentNext(api::SysConfigs configs);

// True for errors that say nothing about the request: the agent was unreachable, timed out, or busy.
bool IsTransientAgentError(const Status& s);

}  // namespace kubeos::node

// The agent service: the operations behind the RPC methods and the CLI, over one host.
//
// Mutating operations (prepare_upgrade, upgrade, rollback, configure, mark_good) run one at a time: a second
// one while one runs gets Busy ("os-agent is processing another request", the original's text). Status is
// read-only and answers at any time, including during an install (it reads a snapshot and atomics).
// Every host write follows plan -> check -> act with the pure functions of boot_state.h.
// Thread-safety: all public methods may be called from any thread.
#pragma once

#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>

#include "agent/boot_state.h"
#include "agent/configure.h"
#include "agent/host.h"
#include "agent/install.h"
#include "agent/rpc.h"
#include "common/status.h"

namespace kubeos::agent {

class Agent {
 public:
  // `now` returns unix seconds (injected for tests).
  Agent(HostDescription host, ConfigApplier& configs, std::function<int64_t()> now);
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Detects the booted slot, loads the state (setting a corrupt file aside), reconciles it with the boot env
  // (reporting a fallen-back trial) and writes the result. A slot-detection failure is not returned: it is
  // kept, reported by status, and makes every mutating call fail.
  Status Start();

  // Dispatches one RPC method; errors become JSON-RPC errors (code -1) at the server.
  // `ordered_params`, when given, is `params` with object keys in request order (configure uses it).
  StatusOr<nlohmann::json> Call(const std::string& method, const nlohmann::json& params,
                                const nlohmann::ordered_json* ordered_params = nullptr);

  StatusOr<nlohmann::json> PrepareUpgrade(const UpgradeRequest& request);
  StatusOr<nlohmann::json> Upgrade();
  StatusOr<nlohmann::json> Rollback();
  StatusOr<nlohmann::json> Configure(const ConfigureRequest& request);
  StatusOr<nlohmann::json> MarkGood();
  nlohmann::json GetStatus() const;

  // When the booted slot is on trial: runs the health checks and marks good when they pass; when they fail
  // or the trial deadline passes, abandons the trial (env committed to the fallback slot, slot failed,
  // last_fallback reported) and reboots, so the next boot is the old slot. Returns at once otherwise.
  // Blocks; honours `stop`.
  void SuperviseTrial(const std::stop_token& stop);

 private:
  Status ApplyPlan(const BootPlan& plan);
  Status WriteState(const AgentState& state);
  StatusOr<GrubEnv> LoadEnv() const;
  StatusOr<Slot> Booted() const;
  Status Reboot();
  // Runs the reboot after a recorded upgrade/rollback; a failing reboot command is recorded and returned.
  StatusOr<nlohmann::json> RebootAfter(const std::string& operation, const std::string& result);
  Status AbandonTrial(const std::string& why);
  void Record(const std::string& name, const kubeos::Status& result, bool already_written = false);
  // The record Record would add, for an operation that writes it with its own final state write.
  OperationRecord SuccessRecord(const std::string& name) const;

  const HostDescription host_;
  ConfigApplier& configs_;
  std::function<int64_t()> now_;

  std::mutex op_mu_;  // held (try_lock) for the whole of a mutating operation

  mutable std::mutex mu_;
  AgentState state_;            // guarded by mu_
  std::optional<Slot> booted_;  // guarded by mu_
  Status booted_error_;         // guarded by mu_
  // Start found no readable env and reconciled nothing; set once in Start, before serving.
  bool env_unreconciled_ = false;
  std::string running_op_;    // guarded by mu_
  InstallProgress progress_;  // atomics
};

}  // namespace kubeos::agent

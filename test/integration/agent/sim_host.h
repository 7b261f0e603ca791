// A simulated KubeOS host for the agent's integration tests: two slot files (A holds an ext4 ROOT-A
// filesystem, B is blank), a real grubenv made by grub-editenv, a kernel command line, os-release, boot id,
// persist and certs directories, and a reboot action that only records. The real os-agent binary runs
// against it as a child process; "reboots" replay GRUB's env logic (SimulateGrubBoot) and switch the
// command line and root device. Thread-safety: one test thread.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/slot.h"
#include "common/file.h"
#include "common/process.h"
#include "common/status.h"

namespace kubeos::agenttest {

constexpr uint64_t kSlotBytes = uint64_t{16} * 1024 * 1024;

// Runs a program; InternalError with its output unless it exits 0.
StatusOr<std::string> RunTool(const std::vector<std::string>& argv);
// An ext4 image file of `bytes` bytes with one file /hello holding `hello` (label "image").
Status MakeExtImage(const std::filesystem::path& out, uint64_t bytes, const std::string& hello);
// A rootfs tarball (the original's os.tar) with /hello and /etc/os-release.
Status MakeRootfsTar(const std::filesystem::path& out, const std::string& hello);
// Contents of /hello inside the ext filesystem at `image` (debugfs, no mount).
std::string ReadHello(const std::filesystem::path& image);
std::string FileSha256(const std::filesystem::path& p);

class SimHost {
 public:
  static StatusOr<SimHost> Create(const nlohmann::json& extra_host = nlohmann::json::object(),
                                  uint64_t slot_bytes = kSlotBytes);
  // The running agent's pid (0 when none).
  pid_t agent_pid() const { return agent_ ? agent_->pid() : 0; }
  SimHost(SimHost&&) = default;
  ~SimHost();

  const std::filesystem::path& dir() const { return dir_.path(); }
  std::filesystem::path slot(agent::Slot s) const {
    return dir() / (s == agent::Slot::kA ? "slotA" : "slotB");
  }
  std::filesystem::path env() const { return dir() / "grubenv"; }
  std::filesystem::path certs() const { return dir() / "certs"; }
  std::filesystem::path socket() const { return dir() / "run" / "os-agent.sock"; }
  // The configure RPC's host root ("/" of the simulated machine) and its stand-in for /proc/sys (a plain
  // directory: unprivileged tests cannot write the real one).
  std::filesystem::path config_root() const { return dir() / "root"; }
  std::filesystem::path proc_sys() const { return dir() / "proc-sys"; }
  std::filesystem::path reboot_marker() const { return dir() / "rebooted"; }
  std::filesystem::path state_file() const { return dir() / "persist" / "os-agent" / "state.json"; }

  // Starts os-agent and waits until it answers; `env` is added to its environment.
  Status StartAgent(const std::vector<std::pair<std::string, std::string>>& env = {});
  void KillAgent();  // SIGKILL, like a crash
  Status StopAgent();
  bool AgentRunning();
  StatusOr<nlohmann::json> Call(const std::string& method,
                                const nlohmann::json& params = nlohmann::json::array());
  nlohmann::json AgentStatus();

  // GRUB's boot (our fragment's logic) over the env file, then the kernel/root for the chosen slot.
  StatusOr<agent::Slot> Reboot();
  // Sets the booted slot evidence directly (cmdline slot and root device may disagree on purpose).
  kubeos::Status SetBootEvidence(agent::Slot cmdline_slot, agent::Slot root_slot);
  // `grub-editenv <env> list`.
  std::string EnvList();

 private:
  explicit SimHost(TempDir dir, nlohmann::json host) : dir_(std::move(dir)), host_(std::move(host)) {}
  kubeos::Status WriteHostFile();

  TempDir dir_;
  nlohmann::json host_;
  int boots_ = 1;
  std::optional<Process> agent_;
};

}  // namespace kubeos::agenttest

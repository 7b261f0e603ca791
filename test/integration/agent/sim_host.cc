#include "sim_host.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "agent/boot_state.h"
#include "agent/client.h"
#include "agent/grubenv.h"

namespace kubeos::agenttest {
namespace {

constexpr std::chrono::seconds kToolTimeout{60};
constexpr std::chrono::seconds kAgentStartTimeout{10};

}  // namespace

StatusOr<std::string> RunTool(const std::vector<std::string>& argv) {
  KUBEOS_ASSIGN_OR_RETURN(RunResult r, RunProgram(argv, kToolTimeout));
  if (r.exit_code != 0) {
    return InternalError(fmt::format("{} exited {}: {}", fmt::join(argv, " "), r.exit_code, r.output));
  }
  return r.output;
}

Status MakeExtImage(const std::filesystem::path& out, uint64_t bytes, const std::string& hello) {
  std::filesystem::path tree = out.string() + ".tree";
  std::filesystem::create_directories(tree);
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(tree / "hello", hello));
  std::filesystem::remove(out);
  KUBEOS_RETURN_IF_ERROR(RunTool({"mke2fs", "-q", "-F", "-t", "ext4", "-L", "image", "-d", tree.string(),
                                  out.string(), std::to_string(bytes / 1024) + "k"})
                             .status());
  std::filesystem::remove_all(tree);
  return Status::Ok();
}

Status MakeRootfsTar(const std::filesystem::path& out, const std::string& hello) {
  std::filesystem::path tree = out.string() + ".tree";
  std::filesystem::create_directories(tree / "etc");
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(tree / "hello", hello));
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(tree / "etc" / "os-release", "PRETTY_NAME=\"KubeOS 2\"\n"));
  KUBEOS_RETURN_IF_ERROR(RunTool({"tar", "-cf", out.string(), "-C", tree.string(), "."}).status());
  std::filesystem::remove_all(tree);
  return Status::Ok();
}

std::string ReadHello(const std::filesystem::path& image) {
  StatusOr<std::string> out = RunTool({"debugfs", "-R", "cat /hello", image.string()});
  if (!out.ok()) return "";
  // debugfs prints its banner on stderr (merged here) before the file.
  std::string s = *out;
  size_t nl = s.find('\n');
  if (s.rfind("debugfs ", 0) == 0 && nl != std::string::npos) s = s.substr(nl + 1);
  return s;
}

std::string FileSha256(const std::filesystem::path& p) {
  StatusOr<std::string> out = RunTool({"sha256sum", p.string()});
  return out.ok() ? out->substr(0, 64) : "";
}

StatusOr<SimHost> SimHost::Create(const nlohmann::json& extra_host, uint64_t slot_bytes) {
  KUBEOS_ASSIGN_OR_RETURN(TempDir dir, TempDir::Create("agent-sim"));
  std::filesystem::path d = dir.path();
  for (const char* sub : {"persist", "certs", "run", "root", "proc-sys"})
    std::filesystem::create_directories(d / sub);
  KUBEOS_RETURN_IF_ERROR(MakeExtImage(d / "slotA", slot_bytes, "slot A v1"));
  KUBEOS_RETURN_IF_ERROR(RunTool({"e2label", (d / "slotA").string(), "ROOT-A"}).status());
  std::filesystem::resize_file(d / "slotA", slot_bytes);
  { std::ofstream b(d / "slotB"); }
  std::filesystem::resize_file(d / "slotB", slot_bytes);
  KUBEOS_RETURN_IF_ERROR(RunTool({"grub-editenv", (d / "grubenv").string(), "create"}).status());
  KUBEOS_RETURN_IF_ERROR(
      RunTool({"grub-editenv", (d / "grubenv").string(), "set", "saved_entry=A"}).status());
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(d / "os-release", "NAME=KubeOS\nPRETTY_NAME=\"KubeOS 1\"\n"));
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(d / "boot_id", "boot-1\n"));
  nlohmann::json host = {{"slot_a", (d / "slotA").string()},
                         {"slot_b", (d / "slotB").string()},
                         {"boot_env", (d / "grubenv").string()},
                         {"cmdline", (d / "cmdline").string()},
                         {"os_release", {(d / "os-release").string()}},
                         {"boot_id", (d / "boot_id").string()},
                         {"root_device", (d / "slotA").string()},
                         {"reboot", {"touch", (d / "rebooted").string()}},
                         {"persist_dir", (d / "persist").string()},
                         {"certs_dir", (d / "certs").string()},
                         {"socket", (d / "run" / "os-agent.sock").string()},
                         {"config_root", (d / "root").string()},
                         {"proc_sys", (d / "proc-sys").string()},
                         {"stall_timeout_seconds", 1}};
  host.update(extra_host);
  SimHost sim(std::move(dir), host);
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(d / "cmdline", "BOOT_IMAGE=/boot/vmlinuz ro kubeos.slot=A\n"));
  KUBEOS_RETURN_IF_ERROR(sim.WriteHostFile());
  return sim;
}

SimHost::~SimHost() {
  if (agent_) (void)agent_->Stop(std::chrono::seconds(5));
}

Status SimHost::WriteHostFile() { return WriteFileAtomic(dir() / "host.json", host_.dump(2)); }

Status SimHost::StartAgent(const std::vector<std::pair<std::string, std::string>>& env) {
  std::filesystem::remove(socket());
  KUBEOS_ASSIGN_OR_RETURN(Process p,
                          Process::Spawn({.argv = {OS_AGENT_BIN, "--host", (dir() / "host.json").string()},
                                          .env = env,
                                          .output_file = dir() / "agent.log"}));
  agent_ = std::move(p);
  auto deadline = std::chrono::steady_clock::now() + kAgentStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!agent_->Running()) {
      StatusOr<std::string> log = ReadFile(dir() / "agent.log");
      return InternalError("os-agent exited at start: " + log.value_or(""));
    }
    if (agent::CallAgent(socket(), "status", nlohmann::json::array(), std::chrono::seconds(2)).ok()) {
      return Status::Ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return DeadlineExceededError("os-agent did not answer on its socket");
}

void SimHost::KillAgent() {
  if (!agent_) return;
  kill(agent_->pid(), SIGKILL);
  agent_->Wait();
  agent_.reset();
}

Status SimHost::StopAgent() {
  if (!agent_) return Status::Ok();
  Status s = agent_->Stop(std::chrono::seconds(5));
  agent_.reset();
  return s;
}

bool SimHost::AgentRunning() { return agent_ && agent_->Running(); }

StatusOr<nlohmann::json> SimHost::Call(const std::string& method, const nlohmann::json& params) {
  return agent::CallAgent(socket(), method, params, std::chrono::seconds(60));
}

nlohmann::json SimHost::AgentStatus() {
  StatusOr<nlohmann::json> st = Call("status");
  return st.ok() ? *st : nlohmann::json{{"error", st.status().ToString()}};
}

kubeos::Status SimHost::SetBootEvidence(agent::Slot cmdline_slot, agent::Slot root_slot) {
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(
      dir() / "cmdline",
      fmt::format("BOOT_IMAGE=/boot/vmlinuz ro kubeos.slot={}\n", agent::SlotName(cmdline_slot))));
  host_["root_device"] = slot(root_slot).string();
  return WriteHostFile();
}

StatusOr<agent::Slot> SimHost::Reboot() {
  // The fragment's choice of file (grubenv, else the copy) and GRUB's own writability rule; with neither
  // file usable GRUB boots A and writes nothing.
  StatusOr<agent::GrubEnvReading> read = agent::InspectGrubEnvFile(this->env());
  agent::GrubEnvReading r = read.ok() ? *read : agent::GrubEnvReading{};
  agent::GrubBoot b = agent::SimulateGrubBoot(r.env, r.grub_can_write);
  if (r.grub_can_write && !(b.env_after == r.env)) {
    // GRUB's save_env rewrites the file it loaded in place; grub-editenv does the same, so use it.
    std::string file = r.from_copy ? this->env().string() + ".bak" : this->env().string();
    std::vector<std::string> argv = {"grub-editenv",   file,         "unset",           "boot_tries",
                                     "fallback_entry", "next_entry", "kubeos_fell_back"};
    KUBEOS_RETURN_IF_ERROR(RunTool(argv).status());
    for (const auto& [k, v] : b.env_after.entries()) {
      KUBEOS_RETURN_IF_ERROR(RunTool({"grub-editenv", file, "set", k + "=" + v}).status());
    }
  }
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(dir() / "boot_id", fmt::format("boot-{}\n", ++boots_)));
  KUBEOS_RETURN_IF_ERROR(SetBootEvidence(b.slot, b.slot));
  return b.slot;
}

std::string SimHost::EnvList() {
  StatusOr<std::string> out = RunTool({"grub-editenv", env().string(), "list"});
  return out.ok() ? *out : "ERROR: " + out.status().ToString();
}

}  // namespace kubeos::agenttest

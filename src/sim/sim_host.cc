#include "sim/sim_host.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "agent/grubenv.h"
#include "agent/host.h"
#include "common/file.h"
#include "common/process.h"
#include "sim/node_status.h"

namespace kubeos::sim {
namespace {

constexpr std::chrono::seconds kToolTimeout{60};

StatusOr<std::string> Tool(const std::vector<std::string>& argv) {
  KUBEOS_ASSIGN_OR_RETURN(RunResult r, RunProgram(argv, kToolTimeout));
  if (r.exit_code != 0) {
    return InternalError(fmt::format("{} exited {}: {}", fmt::join(argv, " "), r.exit_code, r.output));
  }
  return r.output;
}

std::string NewBootId() {
  StatusOr<std::string> id = ReadFile("/proc/sys/kernel/random/uuid");
  std::string s = id.value_or("");
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

std::string UnixTime() {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count());
}

}  // namespace

StatusOr<std::string> ReadFileFromImage(const std::filesystem::path& image, const std::string& path) {
  KUBEOS_ASSIGN_OR_RETURN(TempDir tmp, TempDir::Create("sim-dump"));
  std::filesystem::path out = tmp.path() / "file";
  // debugfs reports a missing file on stderr and still exits 0; the dump file then does not exist.
  KUBEOS_RETURN_IF_ERROR(
      Tool({"debugfs", "-R", fmt::format("dump {} {}", path, out.string()), image.string()})
          .status()
          .WithContext("read " + path + " from " + image.string()));
  if (!std::filesystem::exists(out)) return NotFoundError(fmt::format("{}: no {}", image.string(), path));
  return ReadFile(out);
}

SlotBootability InspectSlot(const std::filesystem::path& image, agent::Slot slot) {
  StatusOr<std::string> label = agent::ReadExtLabel(image);
  if (!label.ok()) return {false, "no root filesystem"};
  if (*label != agent::SlotLabel(slot)) {
    return {false, fmt::format("root=LABEL={} not found (filesystem label is {})", agent::SlotLabel(slot),
                               label->empty() ? "empty" : *label)};
  }
  StatusOr<RunResult> r = RunProgram({"debugfs", "-R", "stat /sbin/init", image.string()}, kToolTimeout);
  if (!r.ok() || r->exit_code != 0) return {false, "root filesystem unreadable"};
  if (r->output.find("Inode:") == std::string::npos) {
    return {false, "Kernel panic - not syncing: No working init found (no /sbin/init)"};
  }
  return {};
}

StatusOr<SimHost> SimHost::Create(const SimHostOptions& o) {
  const std::filesystem::path& d = o.dir;
  std::error_code ec;
  for (const char* sub : {"boot", "persist", "certs", "run", "logs"}) {
    std::filesystem::create_directories(d / sub, ec);
    if (ec) return ErrnoError(ec.value(), "create " + (d / sub).string());
  }
  if (std::filesystem::exists(d / "host.json")) {
    return AlreadyExistsError("a simulated host already exists in " + d.string());
  }
  // Slot A: a copy of the v1 image (sparse where the image is), grown to the slot size, labelled ROOT-A.
  KUBEOS_RETURN_IF_ERROR(
      Tool({"cp", "--sparse=always", o.v1_image.string(), (d / "slotA").string()}).status());
  std::filesystem::resize_file(d / "slotA",
                               std::max<uint64_t>(o.slot_bytes, std::filesystem::file_size(d / "slotA")), ec);
  if (ec) return ErrnoError(ec.value(), "size slot A");
  KUBEOS_RETURN_IF_ERROR(Tool({"e2label", (d / "slotA").string(), "ROOT-A"}).status());
  { std::ofstream b(d / "slotB"); }
  std::filesystem::resize_file(d / "slotB", o.slot_bytes, ec);
  if (ec) return ErrnoError(ec.value(), "size slot B");
  agent::GrubEnv env;
  env.Set("saved_entry", "A");
  KUBEOS_RETURN_IF_ERROR(agent::WriteGrubEnvFile(d / "boot" / "grubenv", env));
  for (const auto& [name, pem] : o.certs) {
    KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(d / "certs" / name, pem, {.mode = 0600}));
  }
  nlohmann::json host = {{"slot_a", (d / "slotA").string()},
                         {"slot_b", (d / "slotB").string()},
                         {"boot_env", (d / "boot" / "grubenv").string()},
                         {"cmdline", (d / "cmdline").string()},
                         {"os_release", {(d / "os-release").string()}},
                         {"boot_id", (d / "boot_id").string()},
                         {"root_device", (d / "slotA").string()},
                         {"reboot", o.reboot},
                         {"persist_dir", (d / "persist").string()},
                         {"certs_dir", (d / "certs").string()},
                         {"socket", (d / "run" / "os-agent.sock").string()},
                         {"health_checks", o.health_checks},
                         {"trial_deadline_seconds", o.trial_deadline_seconds}};
  SimHost h(d, std::move(host));
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(h.host_file(), h.host_.dump(2) + "\n"));
  return h;
}

Status SimHost::WriteEnvInPlace(const agent::GrubEnv& env) {
  // GRUB's save_env rewrites the 1024-byte block in place (no temp file, no .bak).
  KUBEOS_ASSIGN_OR_RETURN(std::string block, agent::EncodeGrubEnv(env));
  int fd = open(env_file().c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return agent::WriteGrubEnvFile(env_file(), env);
  ssize_t n = pwrite(fd, block.data(), block.size(), 0);
  int err = errno;
  bool synced = fsync(fd) == 0;
  close(fd);
  if (n != static_cast<ssize_t>(block.size())) return ErrnoError(err, "GRUB save_env " + env_file().string());
  if (!synced) return ErrnoError(errno, "fsync " + env_file().string());
  return Status::Ok();
}

void SimHost::Console(const std::string& line) {
  std::ofstream out(dir_ / "console.log", std::ios::app);
  out << UnixTime() << " " << line << "\n";
}

StatusOr<BootReport> SimHost::PowerOn(const std::function<void(const BootAttempt&)>& between_attempts) {
  StatusOr<agent::GrubEnv> env = agent::ReadGrubEnvFile(env_file());
  if (!env.ok() && env.status().code() != StatusCode::kNotFound) {
    Console("grubenv unreadable (" + env.status().ToString() + "); GRUB uses its defaults");
  }
  agent::GrubEnv start = env.ok() ? *env : agent::GrubEnv{};
  SlotBootability a = InspectSlot(slot(agent::Slot::kA), agent::Slot::kA);
  SlotBootability b = InspectSlot(slot(agent::Slot::kB), agent::Slot::kB);
  BootSequence seq = BootUntilUp(start, a, b);
  BootReport report;
  agent::GrubEnv current = start;
  for (const BootAttempt& at : seq.attempts) {
    if (!(at.env_after == current)) KUBEOS_RETURN_IF_ERROR(WriteEnvInPlace(at.env_after));
    current = at.env_after;
    Console(fmt::format("GRUB: booting slot {} (boot_tries={})", agent::SlotName(at.slot),
                        at.env_after.Get("boot_tries").value_or("-")));
    if (!at.booted) {
      Console("boot failed: " + at.reason + "; watchdog reset");
      report.failed.push_back(at);
      if (between_attempts) between_attempts(at);
    }
  }
  if (seq.bricked) {
    Console("no bootable slot; the machine stays down");
    return report;
  }
  agent::Slot booted = *seq.booted();
  StatusOr<std::string> os_release = ReadFileFromImage(slot(booted), "/usr/lib/os-release");
  if (!os_release.ok()) os_release = ReadFileFromImage(slot(booted), "/etc/os-release");
  KUBEOS_RETURN_IF_ERROR(os_release.status().WithContext("os-release of the booted slot"));
  report.slot = booted;
  report.pretty_name = PrettyNameFromOsRelease(*os_release);
  report.boot_id = NewBootId();
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(dir_ / "os-release", *os_release));
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(dir_ / "boot_id", report.boot_id + "\n"));
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(dir_ / "cmdline", KernelCmdline(booted)));
  host_["root_device"] = slot(booted).string();
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(host_file(), host_.dump(2) + "\n"));
  Console(fmt::format("up: slot {} \"{}\" boot_id {}", agent::SlotName(booted), report.pretty_name,
                      report.boot_id));
  return report;
}

Status RequestReboot(const std::filesystem::path& dir) {
  return WriteFileAtomic(dir / "reboot-request", UnixTime() + "\n");
}

}  // namespace kubeos::sim

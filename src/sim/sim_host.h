// A simulated KubeOS host: a directory that plays the machine's disks and firmware.
//
//   <dir>/slotA, slotB        ROOT-A / ROOT-B: ext4 images (A starts with v1, B blank until an install)
//   <dir>/boot/grubenv        BOOT (the ESP): the GRUB environment block; a directory, as the agent sees a
//                             mounted ESP
//   <dir>/persist/            PERSIST (the agent's state, staging)
//   <dir>/certs/              /etc/KubeOS/certs (CA and client identity for the payload server)
//   <dir>/cmdline, os-release, boot_id   what the running "kernel" exposes (/proc/cmdline, ...)
//   <dir>/host.json           the os-agent host description (docs/agent-formats.md); root_device is
//                             rewritten at every boot to the booted slot file
//   <dir>/run/os-agent.sock   the agent's socket
//   <dir>/reboot-request      written by the agent's reboot action (`kubeos-demo sim-reboot <dir>`)
//   <dir>/console.log         firmware lines (boot attempts), one per line
//
// PowerOn runs the firmware (firmware.h) over the real env file: GRUB's env logic, the boot of the chosen
// slot (it fails when the slot has no /sbin/init), resets until a slot is up, then the booted slot's
// /usr/lib/os-release, a new boot id and the kernel command line. Slot files are read with debugfs (no
// mount). Thread-safety: one thread drives a SimHost.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/slot.h"
#include "common/status.h"
#include "sim/firmware.h"

namespace kubeos::sim {

struct SimHostOptions {
  std::filesystem::path dir;       // created if missing; must not hold a host yet
  std::filesystem::path v1_image;  // ext4 image for slot A (its label is set to ROOT-A)
  uint64_t slot_bytes = uint64_t{32} << 20;
  std::vector<std::string> reboot;                      // the agent's reboot argv
  std::vector<std::vector<std::string>> health_checks;  // the agent's trial health checks
  std::map<std::string, std::string> certs;             // file name under certs/ -> contents
  int trial_deadline_seconds = 120;
};

// What one power-on did.
struct BootReport {
  std::optional<agent::Slot> slot;  // nullopt: bricked (no slot could boot)
  std::string pretty_name;          // PRETTY_NAME of the booted slot
  std::string boot_id;
  std::vector<BootAttempt> failed;  // attempts that did not come up, in order
};

// Whether a slot file can boot as `slot`: an ext filesystem labelled ROOT-<slot> with /sbin/init.
SlotBootability InspectSlot(const std::filesystem::path& image, agent::Slot slot);
// Copies one file out of an ext filesystem image (debugfs "dump"); NotFound when it is not there.
StatusOr<std::string> ReadFileFromImage(const std::filesystem::path& image, const std::string& path);

class SimHost {
 public:
  static StatusOr<SimHost> Create(const SimHostOptions& options);

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path slot(agent::Slot s) const {
    return dir_ / (s == agent::Slot::kA ? "slotA" : "slotB");
  }
  std::filesystem::path env_file() const { return dir_ / "boot" / "grubenv"; }
  std::filesystem::path host_file() const { return dir_ / "host.json"; }
  std::filesystem::path socket() const { return dir_ / "run" / "os-agent.sock"; }
  std::filesystem::path reboot_request() const { return dir_ / "reboot-request"; }
  std::filesystem::path certs_dir() const { return dir_ / "certs"; }
  std::filesystem::path log_dir() const { return dir_ / "logs"; }

  // The firmware: boots a slot per the env (see the file comment). `between_attempts` runs after each failed
  // attempt (a watchdog period; the caller may sleep and report).
  StatusOr<BootReport> PowerOn(const std::function<void(const BootAttempt&)>& between_attempts = {});

 private:
  SimHost(std::filesystem::path dir, nlohmann::json host) : dir_(std::move(dir)), host_(std::move(host)) {}
  Status WriteEnvInPlace(const agent::GrubEnv& env);
  void Console(const std::string& line);

  std::filesystem::path dir_;
  nlohmann::json host_;
};

// Writes the reboot request of the host at `dir` (the agent's reboot action; see sim-reboot).
Status RequestReboot(const std::filesystem::path& dir);

}  // namespace kubeos::sim

// The host the agent runs on, described by a small JSON file so the same binary runs on a real node and on a
// simulated one (slots as plain files, a boot env file in a temp dir, a reboot action that only records).
//
// Example (real host; every key optional, defaults shown in HostDescription):
//   {"slot_a": "/dev/disk/by-partlabel/ROOT-A", "slot_b": "/dev/disk/by-partlabel/ROOT-B",
//    "boot_env": "/boot/efi/EFI/openEuler/grubenv", "cmdline": "/proc/cmdline",
//    "os_release": ["/etc/os-release", "/usr/lib/os-release"], "reboot": ["/usr/bin/systemctl", "reboot"],
//    "persist_dir": "/persist", "certs_dir": "/etc/KubeOS/certs"}
// A simulated host adds "root_device": the slot file that plays the device backing "/".
// Thread-safety: HostDescription is a value; the functions read files and are safe to call concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "agent/slot.h"
#include "common/status.h"

namespace kubeos::agent {

struct HostDescription {
  std::filesystem::path slot_a = "/dev/disk/by-partlabel/ROOT-A";
  std::filesystem::path slot_b = "/dev/disk/by-partlabel/ROOT-B";
  std::filesystem::path boot_env = "/boot/efi/EFI/openEuler/grubenv";
  std::filesystem::path cmdline = "/proc/cmdline";
  std::vector<std::filesystem::path> os_release = {"/etc/os-release", "/usr/lib/os-release"};
  std::filesystem::path boot_id = "/proc/sys/kernel/random/boot_id";
  // Empty: the device backing "/" is found with stat("/"). Set on simulated hosts.
  std::filesystem::path root_device;
  std::vector<std::string> reboot = {"/usr/bin/systemctl", "reboot"};
  std::filesystem::path persist_dir = "/persist";
  std::filesystem::path certs_dir = "/etc/KubeOS/certs";
  std::filesystem::path socket = "/run/os-agent/os-agent.sock";
  // The configure RPC's models resolve their host paths under `config_root` ("/" on a real host; a
  // directory on a simulated one), write kernel parameters under `proc_sys`, and edit the A/B boot entries
  // of `grub_cfg` (grub.cmdline.* with an empty configpath).
  std::filesystem::path config_root = "/";
  std::filesystem::path proc_sys = "/proc/sys";
  std::string grub_cfg = "/boot/efi/EFI/openEuler/grub.cfg";
  // Health checks run before an automatic mark-good of a trial boot (argv each); empty: no automatic
  // mark-good.
  std::vector<std::vector<std::string>> health_checks;
  // A trial not marked good within this time after the agent starts is rebooted (GRUB then counts a try).
  std::chrono::seconds trial_deadline{600};
  // Stalled downloads (no byte for this long) are aborted and resumed.
  std::chrono::seconds stall_timeout{30};

  const std::filesystem::path& slot_path(Slot s) const { return s == Slot::kA ? slot_a : slot_b; }
  std::filesystem::path state_file() const { return persist_dir / "os-agent" / "state.json"; }
  std::filesystem::path staging_dir() const { return persist_dir / "KubeOS-Update"; }
};

// Parses the JSON description; InvalidArgument naming the bad key.
StatusOr<HostDescription> ParseHostDescription(std::string_view json_text);
StatusOr<HostDescription> LoadHostDescription(const std::filesystem::path& path);

// Reads the evidence DecideBootedSlot needs: the kernel command line, which slot backs "/" (by device
// identity, never by name), and that slot's filesystem label.
StatusOr<SlotEvidence> GatherSlotEvidence(const HostDescription& host);

// Label of an ext2/3/4 filesystem at the start of a block device or file; NotFound when it is not ext*.
StatusOr<std::string> ReadExtLabel(const std::filesystem::path& device);
// Size in bytes of a block device or regular file.
StatusOr<uint64_t> DeviceSize(const std::filesystem::path& device);
// VERSION_ID-like text of the running OS: PRETTY_NAME from the first readable os-release ("" if none).
std::string ReadOsPrettyName(const HostDescription& host);
std::string ReadBootId(const HostDescription& host);

}  // namespace kubeos::agent

// Configuration models of the os-agent (the `configure` RPC): the request types and the one entry point.
//
// A request is a list of SysConfig, applied all or nothing:
//   1. validate every model and every key/value of the request (unknown model, unsafe key, path outside the
//      model's allowlist, ...) and compute every file's new contents and every /proc/sys write, reading
//      the host but writing nothing;
//   2. write the changed files (atomic, durable, mode and ownership kept) and the /proc/sys values;
//   3. if a write fails, restore everything already written, newest first.
// The seven models, their semantics, path allowlists and every difference from openEuler KubeOS are in
// docs/config-models.md. Editors are pure (text in, text out) and live in the model headers beside this one.
//
// Thread-safety: ApplyConfigs is reentrant but two concurrent calls touching the same files race; the agent
// serialises mutating RPCs (one at a time).
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kubeos::agent::config {

// Model names (compatibility surface, kubeos-original-behaviour.md §9).
inline constexpr std::string_view kKernelSysctl = "kernel.sysctl";
inline constexpr std::string_view kKernelSysctlPersist = "kernel.sysctl.persist";
inline constexpr std::string_view kGrubCmdlineCurrent = "grub.cmdline.current";
inline constexpr std::string_view kGrubCmdlineNext = "grub.cmdline.next";
inline constexpr std::string_view kKubernetesKubelet = "kubernetes.kubelet";
inline constexpr std::string_view kContainerContainerd = "container.containerd";
inline constexpr std::string_view kPamLimits = "pam.limits";

// The only operation with a meaning of its own; anything else (empty, "add", "update", ...) adds or
// updates (kernel.sysctl: only the empty operation sets; see docs/config-models.md).
inline constexpr std::string_view kOperationDelete = "delete";

// One `contents` entry: {key, value (any JSON), operation}.
struct ConfigEntry {
  std::string key;
  nlohmann::json value;  // null when absent
  std::string operation;
};

// One model of a request: {model, configpath, contents}. An empty configpath means the model's default.
struct SysConfig {
  std::string model;
  std::string configpath;
  std::vector<ConfigEntry> contents;
};

// The A/B root slots; our GRUB entries carry `kubeos.slot=A|B` on their kernel line.
enum class Slot { kA, kB };
inline Slot OtherSlot(Slot s) { return s == Slot::kA ? Slot::kB : Slot::kA; }
inline std::string_view SlotName(Slot s) { return s == Slot::kA ? "A" : "B"; }

// Output of a pure editor: the new text (== input when nothing changed) and the entries it skipped, in the
// original's manner ("skipped with a warning"), for the caller to log.
struct EditResult {
  std::string text;
  bool changed = false;
  std::vector<std::string> warnings;
};

// Everything the applier needs from the machine. Paths are absolute host paths ("/etc/sysctl.conf");
// sysctl paths are relative to /proc/sys ("net/core/somaxconn"). Implementations: LinuxConfigHost
// (host_linux.h) with an injectable root for tests.
class ConfigHost {
 public:
  virtual ~ConfigHost() = default;
  // Whole content of a regular file; nullopt when it does not exist. Error when it is a symbolic link or
  // not a regular file, or cannot be read.
  virtual StatusOr<std::optional<std::string>> ReadFile(const std::string& path) const = 0;
  // Whether `path` is an existing directory (not a symbolic link).
  virtual StatusOr<bool> IsDirectory(const std::string& path) const = 0;
  // Atomic durable replace (temp, fsync, rename, fsync dir). An existing file keeps its mode and owner;
  // a new one gets `new_file_mode`.
  virtual Status WriteFile(const std::string& path, std::string_view data, mode_t new_file_mode) const = 0;
  // Removes a file (used to undo the creation of a file on rollback).
  virtual Status RemoveFile(const std::string& path) const = 0;
  // Current value of a kernel parameter; NotFound when the parameter does not exist.
  virtual StatusOr<std::string> ReadSysctl(const std::string& relpath) const = 0;
  // Writes a kernel parameter in place (procfs cannot be replaced atomically).
  virtual Status WriteSysctl(const std::string& relpath, std::string_view value) const = 0;
  // The slot the machine booted from; FailedPrecondition when unknown.
  virtual StatusOr<Slot> BootedSlot() const = 0;
};

// Default paths (§9) and tunables of the applier.
struct ApplyOptions {
  // grub.cmdline.*: the GRUB config holding our A/B entries, when configpath is empty.
  std::string grub_cfg = "/boot/efi/EFI/openEuler/grub.cfg";
};

// The file a file-based model edits: configpath when set, else the model's default, confined to the model's
// allowlist (docs/config-models.md): an absolute, normalised path whose directory is one of the model's
// directories (or one of its exact files). Empty for kernel.sysctl. InvalidArgument for an unknown model or a
// path outside the allowlist.
StatusOr<std::string> TargetPath(const SysConfig& config, const ApplyOptions& options = {});

// Applies a whole `configure` request, all or nothing (see the top of this file). Errors name the model,
// the file and the key: InvalidArgument for bad input (nothing written), FailedPrecondition for a host that
// does not fit (missing grub.cfg, unknown slot; nothing written), the host's error for a failed write
// (everything restored), DataLoss when a restore also failed (the message lists what could not be
// restored). Blocks on file I/O; call from the RPC worker.
Status ApplyConfigs(const std::vector<SysConfig>& configs, const ConfigHost& host,
                    const ApplyOptions& options = {});

}  // namespace kubeos::agent::config

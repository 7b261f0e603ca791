// LinuxConfigHost: the ConfigHost of a real machine, with injectable roots so tests run unprivileged on a
// temporary directory. Thread-safe (no mutable state).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "agent/config/config.h"

namespace kubeos::agent::config {

class LinuxConfigHost : public ConfigHost {
 public:
  struct Options {
    // Host paths are resolved under this directory ("/" in production).
    std::filesystem::path root = "/";
    // Kernel parameters live here ("/proc/sys" in production).
    std::filesystem::path proc_sys = "/proc/sys";
    // The booted slot, as found by the agent's slot detection; unset makes the grub models fail.
    std::optional<Slot> booted_slot;
  };
  explicit LinuxConfigHost(Options options) : options_(std::move(options)) {}

  StatusOr<std::optional<std::string>> ReadFile(const std::string& path) const override;
  StatusOr<bool> IsDirectory(const std::string& path) const override;
  Status WriteFile(const std::string& path, std::string_view data, mode_t new_file_mode) const override;
  Status RemoveFile(const std::string& path) const override;
  StatusOr<std::string> ReadSysctl(const std::string& relpath) const override;
  Status WriteSysctl(const std::string& relpath, std::string_view value) const override;
  StatusOr<Slot> BootedSlot() const override;

 private:
  // root + path, after checking that no directory on the way is a symbolic link (so the allowlist checked
  // on the path cannot be escaped).
  StatusOr<std::filesystem::path> Resolve(const std::string& path) const;

  const Options options_;
};

}  // namespace kubeos::agent::config

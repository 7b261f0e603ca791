#include "agent/host.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <nlohmann/json.hpp>

#include "common/file.h"

namespace kubeos::agent {
namespace {

using nlohmann::json;

constexpr off_t kExtSuperblockOffset = 1024;
constexpr size_t kExtMagicOffset = 0x38;
constexpr size_t kExtLabelOffset = 0x78;
constexpr size_t kExtLabelSize = 16;
constexpr uint16_t kExtMagic = 0xEF53;

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}

// Identity of what a path is: a block device is its device number; anything else its inode.
struct Identity {
  bool block = false;
  dev_t dev = 0;
  ino_t ino = 0;
  friend bool operator==(const Identity&, const Identity&) = default;
};

StatusOr<Identity> IdentityOf(const std::filesystem::path& p) {
  struct stat st {};
  if (stat(p.c_str(), &st) != 0) return ErrnoError(errno, "stat " + p.string());
  if (S_ISBLK(st.st_mode)) return Identity{true, st.st_rdev, 0};
  return Identity{false, st.st_dev, st.st_ino};
}

}  // namespace

StatusOr<HostDescription> ParseHostDescription(std::string_view json_text) {
  json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgumentError("host description: not a JSON object");
  HostDescription h;
  for (const auto& [key, value] : j.items()) {
    try {
      if (key == "slot_a") {
        h.slot_a = value.get<std::string>();
      } else if (key == "slot_b") {
        h.slot_b = value.get<std::string>();
      } else if (key == "boot_env") {
        h.boot_env = value.get<std::string>();
      } else if (key == "cmdline") {
        h.cmdline = value.get<std::string>();
      } else if (key == "os_release") {
        h.os_release.clear();
        for (const auto& p : value) h.os_release.emplace_back(p.get<std::string>());
      } else if (key == "boot_id") {
        h.boot_id = value.get<std::string>();
      } else if (key == "root_device") {
        h.root_device = value.get<std::string>();
      } else if (key == "reboot") {
        h.reboot = value.get<std::vector<std::string>>();
      } else if (key == "persist_dir") {
        h.persist_dir = value.get<std::string>();
      } else if (key == "certs_dir") {
        h.certs_dir = value.get<std::string>();
      } else if (key == "socket") {
        h.socket = value.get<std::string>();
      } else if (key == "config_root") {
        h.config_root = value.get<std::string>();
      } else if (key == "proc_sys") {
        h.proc_sys = value.get<std::string>();
      } else if (key == "grub_cfg") {
        h.grub_cfg = value.get<std::string>();
      } else if (key == "health_checks") {
        h.health_checks = value.get<std::vector<std::vector<std::string>>>();
      } else if (key == "trial_deadline_seconds") {
        h.trial_deadline = std::chrono::seconds(value.get<int64_t>());
      } else if (key == "stall_timeout_seconds") {
        h.stall_timeout = std::chrono::seconds(value.get<int64_t>());
      } else {
        return InvalidArgumentError(fmt::format("host description: unknown key \"{}\"", key));
      }
    } catch (const json::exception& e) {
      return InvalidArgumentError(fmt::format("host description: key \"{}\" has the wrong type ({}): {}", key,
                                              value.type_name(), e.what()));
    }
  }
  if (h.reboot.empty()) return InvalidArgumentError("host description: \"reboot\" must name a program");
  if (h.slot_a == h.slot_b) return InvalidArgumentError("host description: slot_a and slot_b are the same");
  return h;
}

StatusOr<HostDescription> LoadHostDescription(const std::filesystem::path& path) {
  KUBEOS_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  StatusOr<HostDescription> h = ParseHostDescription(text);
  if (!h.ok()) return h.status().WithContext(path.string());
  return h;
}

StatusOr<std::string> ReadExtLabel(const std::filesystem::path& device) {
  int fd = open(device.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open " + device.string());
  std::array<unsigned char, 1024> sb{};
  ssize_t n = pread(fd, sb.data(), sb.size(), kExtSuperblockOffset);
  int err = errno;
  close(fd);
  if (n < 0) return ErrnoError(err, "read " + device.string());
  if (n != static_cast<ssize_t>(sb.size()) ||
      (sb[kExtMagicOffset] | (sb[kExtMagicOffset + 1] << 8)) != kExtMagic) {
    return NotFoundError(fmt::format("{} holds no ext2/3/4 filesystem", device.string()));
  }
  std::string label(reinterpret_cast<const char*>(sb.data() + kExtLabelOffset), kExtLabelSize);
  label.resize(label.find('\0') == std::string::npos ? kExtLabelSize : label.find('\0'));
  return label;
}

StatusOr<uint64_t> DeviceSize(const std::filesystem::path& device) {
  struct stat st {};
  if (stat(device.c_str(), &st) != 0) return ErrnoError(errno, "stat " + device.string());
  if (!S_ISBLK(st.st_mode)) return static_cast<uint64_t>(st.st_size);
  int fd = open(device.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open " + device.string());
  uint64_t size = 0;
  int rc = ioctl(fd, BLKGETSIZE64, &size);
  int err = errno;
  close(fd);
  if (rc != 0) return ErrnoError(err, "BLKGETSIZE64 " + device.string());
  return size;
}

StatusOr<SlotEvidence> GatherSlotEvidence(const HostDescription& host) {
  SlotEvidence ev;
  KUBEOS_ASSIGN_OR_RETURN(ev.cmdline, ReadFile(host.cmdline));
  Identity root;
  if (!host.root_device.empty()) {
    KUBEOS_ASSIGN_OR_RETURN(root, IdentityOf(host.root_device));
  } else {
    struct stat st {};
    if (stat("/", &st) != 0) return ErrnoError(errno, "stat /");
    root = Identity{true, st.st_dev, 0};
  }
  for (Slot s : {Slot::kA, Slot::kB}) {
    StatusOr<Identity> id = IdentityOf(host.slot_path(s));
    if (!id.ok()) return id.status().WithContext(fmt::format("slot {}", SlotName(s)));
    if (*id == root) {
      if (ev.slot_backing_root) return FailedPreconditionError("both slot paths name the same device");
      ev.slot_backing_root = s;
    }
  }
  if (ev.slot_backing_root) {
    StatusOr<std::string> label = ReadExtLabel(host.slot_path(*ev.slot_backing_root));
    if (label.ok()) ev.booted_label = *label;
  }
  return ev;
}

std::string ReadOsPrettyName(const HostDescription& host) {
  for (const auto& p : host.os_release) {
    StatusOr<std::string> text = ReadFile(p);
    if (!text.ok()) continue;
    size_t pos = 0;
    while (pos < text->size()) {
      size_t nl = text->find('\n', pos);
      if (nl == std::string::npos) nl = text->size();
      std::string line = text->substr(pos, nl - pos);
      pos = nl + 1;
      constexpr std::string_view kKey = "PRETTY_NAME=";
      if (line.rfind(kKey, 0) != 0) continue;
      std::string v = line.substr(kKey.size());
      if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
        v = v.substr(1, v.size() - 2);
      }
      return v;
    }
  }
  return "";
}

std::string ReadBootId(const HostDescription& host) {
  StatusOr<std::string> id = ReadFile(host.boot_id);
  return id.ok() ? Trim(*id) : "";
}

}  // namespace kubeos::agent

// The demo's OS images: a small root filesystem tree per version, and the payloads built from it with kbimg
// (`kbimg payload --format ext4`), or, while kbimg is not built, with the same recipe by hand (stamp
// /usr/lib/os-release, `mke2fs -t ext4 -L ROOT-A -E root_owner=0:0 -d`).
//
// A "broken" image has no /sbin/init: the simulated firmware then fails its boot (sim_host.h), as a kernel
// would panic with "No working init found". Thread-safety: stateless functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/status.h"

namespace kubeos::sim {

struct Payload {
  std::filesystem::path file;
  std::string version;      // "v2"
  std::string pretty_name;  // "KubeOS v2" (what the OS object's osversion must be)
  std::string sha256;
  uint64_t size = 0;
  std::string built_by;  // "kbimg" or "mke2fs"
};

// PRETTY_NAME kbimg stamps for a version.
std::string PrettyNameFor(const std::string& version);

// A minimal root filesystem: /sbin/init (unless broken), /usr/lib/os-release, /etc/os-release -> it,
// /etc/hostname, the usual top-level directories.
Status WriteRootfsTree(const std::filesystem::path& dir, const std::string& version, bool broken);

// An ext4 payload of `size` bytes from `tree`. `kbimg` empty or missing: the by-hand recipe.
StatusOr<Payload> BuildPayload(const std::filesystem::path& kbimg, const std::filesystem::path& tree,
                               const std::string& version, uint64_t size, const std::filesystem::path& out);

// SHA-256 of a file, lower-case hex.
StatusOr<std::string> FileSha256(const std::filesystem::path& file);

}  // namespace kubeos::sim

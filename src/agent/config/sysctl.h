// kernel.sysctl (runtime values under /proc/sys) and kernel.sysctl.persist (sysctl.conf-style files).
// Pure: no I/O. Thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "common/status.h"

namespace kubeos::agent::config {

// One kernel parameter to set: `path` is relative to /proc/sys ("net/core/somaxconn").
struct SysctlWrite {
  std::string key;
  std::string path;
  std::string value;
};

struct SysctlPlan {
  std::vector<SysctlWrite> writes;
  std::vector<std::string> warnings;
};

// Maps a sysctl key to its path under /proc/sys: "net.core.somaxconn" -> "net/core/somaxconn"; a key with a
// '/' is already a path and keeps its dots ("net/ipv4/conf/eth0.100/forwarding", as sysctl(8)). Rejects
// keys that would leave /proc/sys (empty segments, "..", a leading '/'), '=' and whitespace.
StatusOr<std::string> SysctlKeyToPath(std::string_view key);

// kernel.sysctl: an entry with an empty operation and a non-empty scalar value is written; `delete`, other
// operations, empty values and arrays/objects are skipped with a warning (as the original).
StatusOr<SysctlPlan> PlanSysctl(const std::vector<ConfigEntry>& entries);

// kernel.sysctl.persist: edits a sysctl.conf. Comments ('#', ';'), blank lines and untouched lines are kept
// byte for byte; every line of a requested key is handled; new keys are appended in request order as
// `key=value`. Error when a line is not `key=value` or an entry is unsafe.
StatusOr<EditResult> EditSysctlConf(std::string_view text, const std::vector<ConfigEntry>& entries);

}  // namespace kubeos::agent::config

// The operator's default time zone (ClusterSnapshot::default_time_zone: the zone of time windows that name
// none), resolved once at start-up, in this order:
//   1. --time-zone, which must name a zone of the tz database;
//   2. $TZ ("Asia/Shanghai" or ":Asia/Shanghai", or a path under the zoneinfo directory);
//   3. /etc/localtime: a symbolic link into the zoneinfo directory names the zone; a regular file (the
//      Deployment bind-mounts the host's) is matched byte for byte against the zoneinfo files (the first
//      match in name order wins; all matches have the same rules);
//   4. UTC, with a warning.
// Only reads files. Thread-safety: stateless.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace kubeos::rollout {

struct ZoneChoice {
  std::string name;     // IANA name, e.g. "Europe/Berlin"
  std::string source;   // "flag", "TZ", "/etc/localtime link", "/etc/localtime contents", "default"
  std::string warning;  // non-empty when something was ignored or nothing was found
};

// True when the tz database knows `name`.
bool ZoneExists(std::string_view name);

// InvalidArgument only for an unknown --time-zone; every other problem falls through to the next source.
StatusOr<ZoneChoice> ResolveTimeZone(std::string_view flag, std::optional<std::string> tz_env,
                                     const std::filesystem::path& localtime,
                                     const std::filesystem::path& zoneinfo_dir);

}  // namespace kubeos::rollout

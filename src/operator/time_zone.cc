#include "operator/time_zone.h"

#include <date/tz.h>

#include <algorithm>
#include <exception>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

namespace kubeos::rollout {

namespace fs = std::filesystem;

namespace {

std::optional<std::string> ReadWhole(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "…/zoneinfo/Europe/Berlin" -> "Europe/Berlin".
std::optional<std::string> NameUnderZoneinfo(const fs::path& p, const fs::path& zoneinfo_dir) {
  const std::string s = p.lexically_normal().string();
  const std::string dir = zoneinfo_dir.lexically_normal().string() + "/";
  if (s.rfind(dir, 0) == 0) return s.substr(dir.size());
  const auto at = s.find("/zoneinfo/");
  if (at != std::string::npos) return s.substr(at + std::string_view("/zoneinfo/").size());
  return std::nullopt;
}

std::optional<std::string> MatchContents(const std::string& contents, const fs::path& zoneinfo_dir) {
  std::vector<std::string> matches;
  std::error_code ec;
  fs::recursive_directory_iterator it(zoneinfo_dir, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path rel = it->path().lexically_relative(zoneinfo_dir);
    const std::string first = rel.begin() == rel.end() ? "" : rel.begin()->string();
    if (it->is_directory(ec)) {
      if (first == "posix" || first == "right") it.disable_recursion_pending();
      continue;
    }
    // Aliases are symbolic links in Debian's tzdata: only canonical files are candidates.
    if (it->is_symlink(ec) || !it->is_regular_file(ec) || it->file_size(ec) != contents.size()) continue;
    if (ReadWhole(it->path()) == contents && ZoneExists(rel.string())) matches.push_back(rel.string());
  }
  if (matches.empty()) return std::nullopt;
  // Prefer Area/Location names over aliases ("Asia/Shanghai" over "PRC"), then name order.
  std::sort(matches.begin(), matches.end(), [](const std::string& a, const std::string& b) {
    const bool sa = a.find('/') != std::string::npos;
    const bool sb = b.find('/') != std::string::npos;
    return sa != sb ? sa : a < b;
  });
  return matches.front();
}

}  // namespace

bool ZoneExists(std::string_view name) {
  if (name.empty()) return false;
  try {
    return date::locate_zone(name) != nullptr;
  } catch (const std::exception&) {
    return false;
  }
}

StatusOr<ZoneChoice> ResolveTimeZone(std::string_view flag, std::optional<std::string> tz_env,
                                     const fs::path& localtime, const fs::path& zoneinfo_dir) {
  if (!flag.empty()) {
    if (!ZoneExists(flag)) return InvalidArgumentError("--time-zone " + std::string(flag) + ": unknown zone");
    return ZoneChoice{std::string(flag), "flag", ""};
  }
  std::string warning;
  if (tz_env && !tz_env->empty()) {
    std::string tz = *tz_env;
    if (tz.front() == ':') tz.erase(0, 1);
    if (!tz.empty() && tz.front() == '/') tz = NameUnderZoneinfo(tz, zoneinfo_dir).value_or(tz);
    if (ZoneExists(tz)) return ZoneChoice{tz, "TZ", ""};
    warning = "TZ=" + *tz_env + " is not a tz database name; ignored. ";
  }
  std::error_code ec;
  if (fs::is_symlink(localtime, ec)) {
    const fs::path target = fs::read_symlink(localtime, ec);
    if (!ec) {
      const fs::path abs = target.is_absolute() ? target : localtime.parent_path() / target;
      if (auto name = NameUnderZoneinfo(abs, zoneinfo_dir); name && ZoneExists(*name)) {
        return ZoneChoice{*name, "/etc/localtime link", warning};
      }
    }
  }
  if (auto contents = ReadWhole(localtime); contents && !contents->empty()) {
    if (auto name = MatchContents(*contents, zoneinfo_dir)) {
      return ZoneChoice{*name, "/etc/localtime contents", warning};
    }
  }
  return ZoneChoice{"UTC", "default",
                    warning + "cannot tell the local time zone (" + localtime.string() +
                        " missing or unknown, no TZ): time windows without a timezone are read in UTC"};
}

}  // namespace kubeos::rollout

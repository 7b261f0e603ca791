#include "agent/grubenv.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "common/file.h"
#include "common/log.h"

namespace kubeos::agent {

std::optional<std::string> GrubEnv::Get(std::string_view key) const {
  for (const auto& [k, v] : entries_) {
    if (k == key) return v;
  }
  return std::nullopt;
}

void GrubEnv::Set(std::string_view key, std::string_view value) {
  for (auto& [k, v] : entries_) {
    if (k == key) {
      v = value;
      return;
    }
  }
  entries_.emplace_back(key, value);
}

void GrubEnv::Unset(std::string_view key) {
  std::erase_if(entries_, [&](const auto& e) { return e.first == key; });
}

StatusOr<std::string> EncodeGrubEnv(const GrubEnv& env) {
  std::string out(kGrubEnvHeader);
  out += kGrubEnvWarning;
  for (const auto& [key, value] : env.entries()) {
    if (key.empty() || key.front() == '#' || key.find_first_of("=\n\\") != std::string::npos) {
      return InvalidArgumentError(fmt::format("grubenv: invalid key \"{}\"", key));
    }
    out += key;
    out += '=';
    for (char c : value) {
      if (c == '\\' || c == '\n') out += '\\';
      out += c;
    }
    out += '\n';
  }
  if (out.size() > kGrubEnvSize) {
    return InvalidArgumentError(
        fmt::format("grubenv: entries need {} bytes, the block holds {}", out.size(), kGrubEnvSize));
  }
  out.append(kGrubEnvSize - out.size(), '#');
  return out;
}

StatusOr<GrubEnv> DecodeGrubEnv(std::string_view block) {
  if (block.size() != kGrubEnvSize) {
    return DataLossError(fmt::format("grubenv: size {} bytes, expected {}", block.size(), kGrubEnvSize));
  }
  if (block.substr(0, kGrubEnvHeader.size()) != kGrubEnvHeader) {
    return DataLossError("grubenv: missing \"# GRUB Environment Block\" signature");
  }
  GrubEnv env;
  size_t pos = kGrubEnvHeader.size();
  while (pos < block.size()) {
    if (block[pos] == '#') {  // comment or padding: skip to the end of the line
      size_t nl = block.find('\n', pos);
      pos = nl == std::string_view::npos ? block.size() : nl + 1;
      continue;
    }
    std::string key;
    while (pos < block.size() && block[pos] != '=' && block[pos] != '\n') key += block[pos++];
    if (pos >= block.size() || block[pos] != '=' || key.empty()) {
      return DataLossError(fmt::format("grubenv: malformed line at byte {}", pos));
    }
    ++pos;
    std::string value;
    bool terminated = false;
    while (pos < block.size()) {
      char c = block[pos++];
      if (c == '\\' && pos < block.size()) {
        value += block[pos++];
      } else if (c == '\n') {
        terminated = true;
        break;
      } else {
        value += c;
      }
    }
    if (!terminated) return DataLossError(fmt::format("grubenv: unterminated value of \"{}\"", key));
    env.Set(key, value);
  }
  return env;
}

namespace {
// The scheme's committed slot is the one thing a usable block must say (deploy/agent/grub-kubeos.cfg).
bool HasSlot(const GrubEnv& env) {
  std::optional<std::string> s = env.Get("saved_entry");
  return s == "A" || s == "B";
}
}  // namespace

StatusOr<GrubEnv> ReadGrubEnvFile(const std::filesystem::path& path) {
  std::filesystem::path backup = path.string() + ".bak";
  StatusOr<std::string> primary = ReadFile(path);
  Status primary_error = primary.status();
  std::optional<GrubEnv> primary_env;
  if (primary.ok()) {
    StatusOr<GrubEnv> env = DecodeGrubEnv(*primary);
    if (env.ok() && HasSlot(*env)) return env;
    if (env.ok()) {
      primary_env = *env;
      primary_error = DataLossError("grubenv: no saved_entry A or B");
    } else {
      primary_error = env.status();
    }
  }
  StatusOr<std::string> second = ReadFile(backup);
  StatusOr<GrubEnv> env = second.ok() ? DecodeGrubEnv(*second) : StatusOr<GrubEnv>(second.status());
  if (env.ok()) return env;              // as GRUB does: the copy when the primary names no slot
  if (primary_env) return *primary_env;  // a valid block naming no slot, and no usable copy
  if (!second.ok()) {
    if (!primary.ok() && primary_error.code() == StatusCode::kNotFound &&
        second.status().code() == StatusCode::kNotFound) {
      return NotFoundError(fmt::format("boot env {} does not exist", path.string()));
    }
    return DataLossError(fmt::format("boot env {}: {}; no usable copy at {}", path.string(),
                                     primary_error.message(), backup.string()));
  }
  return DataLossError(fmt::format("boot env {}: {}; copy {}: {}", path.string(), primary_error.message(),
                                   backup.string(), env.status().message()));
}

Status WriteGrubEnvFile(const std::filesystem::path& path, const GrubEnv& env) {
  KUBEOS_ASSIGN_OR_RETURN(std::string block, EncodeGrubEnv(env));
  std::filesystem::path backup = path.string() + ".bak";
  WriteOptions options{.mode = 0644, .keep_existing_mode = true};
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(backup, block, options).WithContext("write boot env copy"));
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(path, block, options).WithContext("write boot env"));
  KUBEOS_ASSIGN_OR_RETURN(std::string back, ReadFile(path));
  if (back != block) {
    return DataLossError(fmt::format("boot env {}: read-back differs from what was written", path.string()));
  }
  return Status::Ok();
}

namespace {
constexpr long kMsdosSuperMagic = 0x4d44;  // NOLINT(google-runtime-int): statfs's f_type
constexpr size_t kTempSuffixLen = 6;       // mkostemp's XXXXXX

bool IsTempOf(std::string_view file_name, std::string_view target) {
  std::string prefix = fmt::format(".{}.tmp.", target);
  if (file_name.size() != prefix.size() + kTempSuffixLen || file_name.substr(0, prefix.size()) != prefix) {
    return false;
  }
  return std::all_of(file_name.begin() + static_cast<std::ptrdiff_t>(prefix.size()), file_name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
}
}  // namespace

StaleTempAction DecideStaleEnvTemp(std::string_view env_name, std::string_view file_name, bool regular_file,
                                   uint64_t size, bool on_fat) {
  std::string bak = fmt::format("{}.bak", env_name);
  if (!regular_file || (!IsTempOf(file_name, env_name) && !IsTempOf(file_name, bak))) {
    return StaleTempAction::kIgnore;
  }
  if (on_fat && size > 0) return StaleTempAction::kKeep;
  return StaleTempAction::kRemove;
}

StaleTempCleanup CleanStaleEnvTemps(const std::filesystem::path& env_path) {
  StaleTempCleanup out;
  std::filesystem::path dir = env_path.parent_path().empty() ? "." : env_path.parent_path();
  struct statfs fs {};
  if (statfs(dir.c_str(), &fs) != 0) return out;  // no directory: nothing to clean
  bool on_fat = fs.f_type == kMsdosSuperMagic;
  std::string env_name = env_path.filename().string();
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    struct stat st {};
    if (lstat(entry.path().c_str(), &st) != 0) continue;
    switch (
        DecideStaleEnvTemp(env_name, name, S_ISREG(st.st_mode), static_cast<uint64_t>(st.st_size), on_fat)) {
      case StaleTempAction::kIgnore:
        break;
      case StaleTempAction::kRemove:
        if (unlink(entry.path().c_str()) == 0) {
          out.removed.push_back(name);
        } else {
          log::Warn("remove stale boot env temp file", {{"file", entry.path().string()}, {"errno", errno}});
        }
        break;
      case StaleTempAction::kKeep:
        out.kept.push_back(name);
        log::Warn(
            "stale boot env temp file on FAT kept: it may have a broken cluster chain; run fsck.vfat -a "
            "on the ESP before it is mounted (fstab pass 2)",
            {{"file", entry.path().string()}, {"bytes", static_cast<uint64_t>(st.st_size)}});
        break;
    }
  }
  if (ec) log::Warn("list boot env directory", {{"dir", dir.string()}, {"error", ec.message()}});
  if (!out.removed.empty()) {
    log::Info("stale boot env temp files removed", {{"dir", dir.string()}, {"count", out.removed.size()}});
  }
  return out;
}

}  // namespace kubeos::agent

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
  std::string out;
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
  const size_t room = kGrubEnvSize - kGrubEnvHeader.size();
  if (out.size() > room) {
    return InvalidArgumentError(fmt::format("grubenv: entries need {} bytes, the block holds {}",
                                            kGrubEnvHeader.size() + out.size(), kGrubEnvSize));
  }
  if (out.size() + kGrubEnvWarning.size() <= room) out.insert(0, kGrubEnvWarning);
  out.insert(0, kGrubEnvHeader);
  out.append(kGrubEnvSize - out.size(), '#');
  return out;
}

namespace {

// grub-core/lib/envblk.c find_next_line: past the next newline that no backslash escapes.
size_t NextLine(std::string_view block, size_t p) {
  while (p < block.size()) {
    if (block[p] == '\\') {
      p += 2;
    } else if (block[p] == '\n') {
      break;
    } else {
      ++p;
    }
  }
  return p + 1;
}

// GRUB keeps names and values as C strings.
std::string UpToNul(std::string s) {
  if (size_t nul = s.find('\0'); nul != std::string::npos) s.resize(nul);
  return s;
}

}  // namespace

StatusOr<std::vector<std::pair<std::string, std::string>>> ParseGrubEnvBlock(std::string_view block) {
  // grub_envblk_open: "size < sizeof (GRUB_ENVBLK_SIGNATURE)", and sizeof counts the NUL.
  if (block.size() < kGrubEnvHeader.size() + 1 || block.substr(0, kGrubEnvHeader.size()) != kGrubEnvHeader) {
    return DataLossError(block.size() < kGrubEnvHeader.size() + 1
                             ? fmt::format("{} bytes, too short for a GRUB environment block", block.size())
                             : std::string("no \"# GRUB Environment Block\" signature"));
  }
  std::vector<std::pair<std::string, std::string>> out;
  size_t p = kGrubEnvHeader.size();
  const size_t end = block.size();
  while (p < end) {
    if (block[p] != '#') {
      const size_t name_start = p;
      while (p < end && block[p] != '=') ++p;
      if (p == end) break;  // broken: GRUB stops here
      const size_t name_end = p;
      ++p;
      const size_t value_start = p;
      while (p < end) {
        if (block[p] == '\n') break;
        p += block[p] == '\\' ? 2 : 1;
      }
      if (p >= end) break;  // broken: the value is not terminated
      std::string value;
      for (size_t q = value_start; block[q] != '\n'; ++q) {
        if (block[q] == '\\') ++q;
        value += block[q];
      }
      out.emplace_back(UpToNul(std::string(block.substr(name_start, name_end - name_start))),
                       UpToNul(std::move(value)));
    }
    p = NextLine(block, p);
  }
  return out;
}

StatusOr<GrubEnv> DecodeGrubEnv(std::string_view block) {
  KUBEOS_ASSIGN_OR_RETURN(auto entries, ParseGrubEnvBlock(block));
  GrubEnv env;
  for (const auto& [key, value] : entries) {
    if (key.empty() || key.find_first_of("\n\\") != std::string::npos) continue;
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
// What the fragment unsets before it loads the copy.
constexpr std::string_view kSchemeKeys[] = {"saved_entry", "boot_tries", "fallback_entry", "next_entry",
                                            "kubeos_fell_back"};
}  // namespace

namespace {
// grub_envblk_set's "Broken" check on a block that already opened: its end is '#' padding after a newline.
bool EndsWritable(std::string_view block) {
  size_t last = block.find_last_not_of('#');  // never npos: the signature ends in a newline
  return last != std::string_view::npos && block[last] == '\n';
}

// The fragment's choice of block and variables; with `inspect`, also whether both files are canonical and
// whether GRUB can write the block it loaded (that needs the copy read and the env encoded, which only the
// agent's start-up wants; every other reader stops at a usable grubenv).
StatusOr<GrubEnvReading> LoadGrubEnv(const std::filesystem::path& path, bool inspect) {
  std::filesystem::path backup = path.string() + ".bak";
  StatusOr<std::string> primary = ReadFile(path);
  StatusOr<GrubEnv> primary_env =
      primary.ok() ? DecodeGrubEnv(*primary) : StatusOr<GrubEnv>(primary.status());
  std::optional<StatusOr<std::string>> second;
  auto copy = [&]() -> const StatusOr<std::string>& {
    if (!second) second = ReadFile(backup);
    return *second;
  };
  auto reading = [&](GrubEnv env, const StatusOr<std::string>& loaded, bool from_copy) {
    GrubEnvReading r{.env = std::move(env), .from_copy = from_copy};
    if (inspect) {
      StatusOr<std::string> block = EncodeGrubEnv(r.env);
      r.canonical = block.ok() && primary.ok() && *primary == *block && copy().ok() && *copy() == *block;
      r.grub_can_write = loaded.ok() && EndsWritable(*loaded);
    }
    return r;
  };
  if (primary_env.ok() && HasSlot(*primary_env)) return reading(*primary_env, primary, false);
  const StatusOr<std::string>& second_block = copy();
  StatusOr<GrubEnv> second_env =
      second_block.ok() ? DecodeGrubEnv(*second_block) : StatusOr<GrubEnv>(second_block.status());
  if (primary_env.ok() || second_env.ok()) {
    // The fragment: load grubenv; no slot, so unset the scheme's variables; load the copy over the rest
    // (and save_env goes to the copy from then on).
    GrubEnv env = primary_env.ok() ? *primary_env : GrubEnv{};
    for (std::string_view key : kSchemeKeys) env.Unset(key);
    if (second_env.ok()) {
      for (const auto& [key, value] : second_env->entries()) env.Set(key, value);
    }
    return reading(std::move(env),
                   second_env.ok() ? second_block : StatusOr<std::string>(second_env.status()), true);
  }
  if (primary.status().code() == StatusCode::kNotFound &&
      second_block.status().code() == StatusCode::kNotFound) {
    return NotFoundError(fmt::format("boot env {} does not exist", path.string()));
  }
  return DataLossError(fmt::format("boot env {}: {}; its copy {}: {}", path.string(),
                                   primary_env.status().message(), backup.string(),
                                   second_env.status().message()));
}
}  // namespace

bool GrubCanWriteBlock(std::string_view block) {
  return ParseGrubEnvBlock(block).ok() && EndsWritable(block);
}

StatusOr<GrubEnvReading> InspectGrubEnvFile(const std::filesystem::path& path) {
  return LoadGrubEnv(path, true);
}

StatusOr<GrubEnv> ReadGrubEnvFile(const std::filesystem::path& path) {
  KUBEOS_ASSIGN_OR_RETURN(GrubEnvReading reading, LoadGrubEnv(path, false));
  return std::move(reading.env);
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

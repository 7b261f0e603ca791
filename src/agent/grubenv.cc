#include "agent/grubenv.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "common/file.h"

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
  if (env.ok()) return env;  // as GRUB does: the copy when the primary names no slot
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

}  // namespace kubeos::agent

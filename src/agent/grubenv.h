// GRUB environment block ("grubenv"): codec and crash-safe file I/O.
//
// Format (GRUB 2 grub-core/lib/envblk.c, also what grub-editenv writes): exactly 1024 bytes, starting with
// "# GRUB Environment Block\n", then "key=value\n" lines ('\' and newline inside values escaped with '\'),
// then '#' padding to the end. GRUB's save_env rewrites the block in place and cannot grow the file, so the
// size is fixed. See docs/agent-formats.md.
//
// Writing: the new block goes to "<path>.bak" first and then replaces <path>, each by temp file + fsync +
// rename + fsync(dir) (WriteFileAtomic), and is read back and compared. A crash leaves <path> holding either
// the old or the new block; if <path> is ever unreadable (e.g. torn by a crash of GRUB's own in-place
// save_env), ReadGrubEnvFile falls back to "<path>.bak", and the GRUB fragment falls back to slot A.
// Thread-safety: values and stateless functions; callers serialise writes to one file.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace kubeos::agent {

constexpr size_t kGrubEnvSize = 1024;  // GRUB_ENVBLK_DEFCFG size; GRUB refuses to grow it
constexpr std::string_view kGrubEnvHeader = "# GRUB Environment Block\n";

// Ordered key/value list (order kept like grub-editenv: replaced keys keep their place).
class GrubEnv {
 public:
  std::optional<std::string> Get(std::string_view key) const;
  void Set(std::string_view key, std::string_view value);
  void Unset(std::string_view key);
  const std::vector<std::pair<std::string, std::string>>& entries() const { return entries_; }
  friend bool operator==(const GrubEnv&, const GrubEnv&) = default;

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

// The 1024-byte block; InvalidArgument when a key is malformed or the entries do not fit.
StatusOr<std::string> EncodeGrubEnv(const GrubEnv& env);
// DataLoss when the block is not a valid environment block.
StatusOr<GrubEnv> DecodeGrubEnv(std::string_view block);

// Reads <path>, falling back to <path>.bak when <path> is missing or invalid. NotFound when neither exists;
// DataLoss when neither is valid.
StatusOr<GrubEnv> ReadGrubEnvFile(const std::filesystem::path& path);
// Crash-safe replace as described above; verifies by reading back.
Status WriteGrubEnvFile(const std::filesystem::path& path, const GrubEnv& env);

}  // namespace kubeos::agent

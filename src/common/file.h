// Durable file writes and small file helpers.
//
// WriteFileAtomic: temp file in the same directory, write, fsync, rename over the target, fsync the
// file again (FAT keeps directory entries with the inode) and the directory. A crash at any point leaves
// either the old or the new content, never a mix. Thread-safe (no shared state); concurrent writers of the
// same path race, last rename wins.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"

namespace kubeos {

struct WriteOptions {
  // Mode of a new file. When the target exists and keep_existing_mode is set, its mode and ownership are
  // kept.
  mode_t mode = 0644;
  bool keep_existing_mode = true;
};

Status WriteFileAtomic(const std::filesystem::path& path, std::string_view data,
                       const WriteOptions& options = {});

StatusOr<std::string> ReadFile(const std::filesystem::path& path);

// fsync of a directory, so a rename or create inside it is durable.
Status SyncDirectory(const std::filesystem::path& dir);

// A directory removed (recursively) when this object is destroyed. Created under $TMPDIR (or /tmp).
class TempDir {
 public:
  static StatusOr<TempDir> Create(std::string_view prefix);
  TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  // Gives up ownership: the directory is no longer removed.
  std::filesystem::path Release() { return std::exchange(path_, {}); }

 private:
  explicit TempDir(std::filesystem::path p) : path_(std::move(p)) {}
  std::filesystem::path path_;
};

}  // namespace kubeos

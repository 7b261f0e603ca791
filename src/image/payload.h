// kbimg payloads: the upgrade images os-agent installs, built from a root filesystem (a directory or a
// tarball) without root privileges, loop devices or mounts.
//
//   * format "tar":  the original KubeOS rootfs tarball (os.tar), POSIX pax (restricted), entries sorted by
//                    path, owned by root:root, mtimes clamped to the build epoch.
//   * format "ext4": a raw ext4 filesystem image (the agent's fast path) made with `mke2fs -d`, label
//                    ROOT-A unless told otherwise, UUID and directory hash seed derived from the inputs,
//                    E2FSPROGS_FAKE_TIME = the build epoch, every inode owned by root:root.
//
// The tree is first staged (copied or extracted) next to the output, then stamped: /usr/lib/os-release with
// PRETTY_NAME="KubeOS <version>" (/etc/os-release becomes a symlink to it), optionally the agent binary
// (/usr/bin/os-agent), its unit (/usr/lib/systemd/system/os-agent.service, enabled for multi-user.target)
// and its host description (/etc/KubeOS/os-agent.json). The output is written to a temp file and renamed
// into place; FILE.manifest.json records {"version","format","size","sha256"}.
// Same inputs (tree contents, modes, version, options, epoch) → byte-identical output.
// Thread-safety: one build per call; no shared state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "common/status.h"

namespace kubeos::image {

// 2020-01-01T00:00:00Z: the timestamp of every entry unless SOURCE_DATE_EPOCH or --epoch says otherwise.
inline constexpr int64_t kDefaultEpoch = 1577836800;

enum class PayloadFormat { kExt4, kTar };
StatusOr<PayloadFormat> ParsePayloadFormat(std::string_view text);
std::string_view PayloadFormatName(PayloadFormat f);

struct PayloadOptions {
  std::filesystem::path rootfs;  // a directory, or a tarball (any format/compression libarchive reads)
  std::string version;
  PayloadFormat format = PayloadFormat::kExt4;
  std::optional<uint64_t> size;        // ext4 only; default DefaultExtSize() of the staged tree
  std::string label = "ROOT-A";        // ext4 only
  std::filesystem::path agent;         // optional: installed as /usr/bin/os-agent
  std::filesystem::path agent_unit;    // optional: /usr/lib/systemd/system/os-agent.service
  std::filesystem::path agent_config;  // optional: /etc/KubeOS/os-agent.json
  std::filesystem::path output;
  // Timestamps of every entry (and the filesystem's own times), >= 1. SOURCE_DATE_EPOCH by convention.
  int64_t epoch = kDefaultEpoch;
  // Extra bytes of free space in the ext4 image beyond the automatic size (ignored with `size`).
  uint64_t extra_free = 0;
};

struct PayloadResult {
  std::string sha256;
  uint64_t size = 0;
  std::filesystem::path manifest;
};

// InvalidArgument: bad options or input (missing rootfs, unsafe tarball entries); ResourceExhausted: the
// tree does not fit in `size`; PermissionDenied/NotFound: output not writable; Internal: a tool failed.
StatusOr<PayloadResult> BuildPayload(const PayloadOptions& options);

// Lower-case hex SHA-256 of a file's contents, streamed.
StatusOr<std::string> FileSha256(const std::filesystem::path& path);

// ---- Pieces shared with the disk builder (disk.h). ----

// A staged root filesystem in a directory removed on destruction.
class StagedTree {
 public:
  // Stages `options.rootfs` next to `work_dir` and stamps it (os-release, agent files, owners, times).
  static StatusOr<StagedTree> Create(const PayloadOptions& options, const std::filesystem::path& work_dir);
  StagedTree(StagedTree&& o) noexcept;
  StagedTree& operator=(StagedTree&&) = delete;
  StagedTree(const StagedTree&) = delete;
  StagedTree& operator=(const StagedTree&) = delete;
  ~StagedTree();

  const std::filesystem::path& root() const { return root_; }
  uint64_t data_bytes() const { return data_bytes_; }  // file contents, each rounded up to 4 KiB
  uint64_t entries() const { return entries_; }

 private:
  StagedTree() = default;
  std::filesystem::path dir_;  // owned temp dir; root_ lives inside
  std::filesystem::path root_;
  uint64_t data_bytes_ = 0;
  uint64_t entries_ = 0;
};

struct ExtOptions {
  std::string label;
  uint64_t size = 0;
  std::string uuid;  // also the directory hash seed
  int64_t epoch = kDefaultEpoch;
};
// mke2fs -d of `tree` (or an empty filesystem when tree is empty) into `out` (created/truncated), then
// every inode of the tree set to root:root when the builder is not root.
Status MakeExt4(const std::filesystem::path& tree, const std::filesystem::path& out, const ExtOptions& o);

}  // namespace kubeos::image

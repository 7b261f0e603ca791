// The install pipeline, one pass with bounded memory: source (download.h) -> SHA-256 while streaming ->
// sink into the standby slot. The caller makes the standby invalid (boot_state.h) in
// InstallRequest::before_first_write, which runs at the first payload bytes and before anything is written;
// this code never touches the boot env.
//
// Payload kind is sniffed from the first bytes:
//   * an ext2/3/4 filesystem image (the fast path) is written straight to the standby slot, after a size
//     check against the slot. Its first kHeaderHoldBytes (which hold the superblock) are zeroed before the
//     first byte and written last, only after the digest matched: a half-written slot has no filesystem.
//     The label is set to ROOT-<slot> in that held-back header before it is written (PatchExtLabel), so
//     the slot never carries another label, e.g. the booted slot's, not even for a moment; the backup
//     superblocks get the same label as they stream past (after they were hashed).
//   * the original's rootfs tarball (os.tar) is streamed to <persist>/KubeOS-Update/os.tar after a free-space
//     check, verified, extracted with libarchive into <persist>/KubeOS-Update/rootfs, and turned into an ext4
//     filesystem on the slot with `mke2fs -d` (no loop mount). Staging is removed afterwards.
// Thread-safety: InstallPayload runs on one thread; InstallProgress is read from others (atomics).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "agent/download.h"
#include "agent/host.h"
#include "agent/slot.h"
#include "common/status.h"

namespace kubeos::agent {

// Superblock region held back until the digest is verified: ext* keeps its primary superblock at 1 KiB and
// GPT/MBR-style signatures live in the first sectors; 64 KiB covers all of them and is trivial memory.
constexpr size_t kHeaderHoldBytes = size_t{64} * 1024;
// Disk writes are coalesced to this size: large enough for full device bandwidth, small for RSS.
constexpr size_t kWriteChunkBytes = size_t{4} * 1024 * 1024;
// Extra free space required on persist beyond the staged payload (the original used 10 MiB).
constexpr uint64_t kStagingMarginBytes = uint64_t{10} * 1024 * 1024;

enum class InstallPhase { kIdle, kDownloading, kVerifying, kBuilding, kFinishing, kDone, kFailed };
std::string_view InstallPhaseName(InstallPhase phase);

struct InstallProgress {
  std::atomic<InstallPhase> phase{InstallPhase::kIdle};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> total{0};  // 0: unknown
};

enum class PayloadKind { kUnknown, kExtImage, kTar };
// Decides from the first bytes (up to kHeaderHoldBytes); kUnknown when neither matches.
PayloadKind SniffPayload(std::string_view head);

struct InstallRequest {
  FetchOptions fetch;
  std::string sha256;  // expected, hex (case-insensitive)
  // Called once, when the first payload bytes have arrived and passed the kind and size checks, before the
  // first byte is written to the slot (the agent marks the standby invalid here). Not called when the
  // source fails before any byte (404, TLS, missing file): the standby keeps its verified image. An error
  // aborts the install.
  std::function<Status()> before_first_write;
};

// CRC-32C (Castagnoli) as ext4 uses it for metadata checksums: no pre/post inversion, so the standard
// CRC-32C of `data` is ~Crc32cRaw(~0u, data).
uint32_t Crc32cRaw(uint32_t crc, std::string_view data);

// Sets the volume label of the ext2/3/4 primary superblock inside `head` (the image's first bytes, at
// least 2 KiB) and, when the filesystem has metadata_csum, recomputes the superblock checksum. Pure: the
// installer applies it to the held-back header before that header is written, so the slot never carries
// the image's own label (e.g. the booted slot's ROOT-A) on disk. InvalidArgument: no ext superblock, label
// longer than 16 bytes, unknown checksum type.
Status PatchExtLabel(std::string& head, std::string_view label);

// The same for one superblock (1024 bytes, primary or backup) in place; false when `sb` holds no ext
// superblock (bad magic) or its checksum type is unknown: it is then left as it was.
bool PatchSuperblockLabel(std::span<char> sb, std::string_view label);

// Byte offsets of the backup superblocks of the filesystem whose first bytes are `head` (groups 1, 3^n,
// 5^n, 7^n with sparse_super; every group without it; the two listed groups with sparse_super2), in
// increasing order. Empty when `head` holds no ext superblock. Pure.
std::vector<uint64_t> ExtBackupSuperblockOffsets(std::string_view head);

// Lower-case hex SHA-256 of a string (tests, small inputs).
std::string Sha256Hex(std::string_view data);

// Streams, verifies and writes the payload into `standby`. InvalidArgument (bad payload, checksum mismatch),
// ResourceExhausted (slot too small, persist too full), NotFound/Unavailable (source), errno-derived codes.
Status InstallPayload(const HostDescription& host, Slot standby, const InstallRequest& request,
                      InstallProgress& progress);

}  // namespace kubeos::agent

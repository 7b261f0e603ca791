// A GUID partition table (UEFI spec 2.10 §5) for a disk image, built in memory: the protective MBR, the
// primary header and entry array at LBA 1-33 and the backup array and header in the last 33 sectors.
// Pure: no I/O; unit-tested in gpt_test.cc and cross-checked with sfdisk in the disk integration test.
// Thread-safety: values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kubeos::image {

inline constexpr uint64_t kSectorBytes = 512;

inline constexpr std::string_view kEspTypeGuid = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
inline constexpr std::string_view kLinuxRootX86_64TypeGuid = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709";
inline constexpr std::string_view kLinuxDataTypeGuid = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

struct GptPartition {
  uint64_t first_lba = 0;
  uint64_t sectors = 0;
  std::string type_guid;    // text form, any case
  std::string unique_guid;  // text form, any case
  std::string name;         // ASCII, at most 36 characters
};

struct GptBlob {
  uint64_t offset = 0;  // bytes from the start of the disk
  std::string bytes;
};

// CRC-32 (IEEE 802.3, reflected, as zlib and the UEFI spec).
uint32_t Crc32(std::string_view data);

// 16 bytes in the GPT's mixed-endian encoding; InvalidArgument for malformed text.
StatusOr<std::string> EncodeGuid(std::string_view text);

// The blobs to write into a zeroed disk of `disk_sectors` sectors. InvalidArgument if partitions overlap,
// leave the usable area (LBA 34 .. disk_sectors-34) or have bad GUIDs/names.
StatusOr<std::vector<GptBlob>> BuildGpt(uint64_t disk_sectors, std::string_view disk_guid,
                                        const std::vector<GptPartition>& partitions);

}  // namespace kubeos::image

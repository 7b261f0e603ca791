#include "image/gpt.h"

#include <fmt/format.h>

#include <array>
#include <cctype>

namespace kubeos::image {
namespace {

constexpr uint32_t kEntries = 128;
constexpr uint32_t kEntryBytes = 128;
constexpr uint64_t kEntryArraySectors = uint64_t{kEntries} * kEntryBytes / kSectorBytes;  // 32
constexpr uint32_t kHeaderBytes = 92;
constexpr size_t kMaxNameChars = 36;

void Put32(std::string& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void Put64(std::string& b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string Header(uint64_t my_lba, uint64_t alt_lba, uint64_t first_usable, uint64_t last_usable,
                   const std::string& disk_guid, uint64_t entries_lba, uint32_t entries_crc) {
  std::string h(kSectorBytes, '\0');
  h.replace(0, 8, "EFI PART");
  Put32(h, 8, 0x00010000);
  Put32(h, 12, kHeaderBytes);
  Put64(h, 24, my_lba);
  Put64(h, 32, alt_lba);
  Put64(h, 40, first_usable);
  Put64(h, 48, last_usable);
  h.replace(56, 16, disk_guid);
  Put64(h, 72, entries_lba);
  Put32(h, 80, kEntries);
  Put32(h, 84, kEntryBytes);
  Put32(h, 88, entries_crc);
  Put32(h, 16, Crc32(std::string_view{h}.substr(0, kHeaderBytes)));
  return h;
}

}  // namespace

uint32_t Crc32(std::string_view data) {
  static const std::array<uint32_t, 256> kTable = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1U) != 0 ? 0xEDB88320U ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFU;
  for (char ch : data) crc = kTable[(crc ^ static_cast<unsigned char>(ch)) & 0xffU] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFU;
}

StatusOr<std::string> EncodeGuid(std::string_view text) {
  // 8-4-4-4-12 hex digits.
  std::string hex;
  for (size_t i = 0; i < text.size(); ++i) {
    bool dash_pos = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_pos != (text[i] == '-') || (!dash_pos && HexValue(text[i]) < 0)) {
      return InvalidArgumentError(fmt::format("GUID {:?} is malformed", text));
    }
    if (!dash_pos) hex += text[i];
  }
  if (text.size() != 36) return InvalidArgumentError(fmt::format("GUID {:?} is malformed", text));
  std::array<unsigned char, 16> raw{};
  for (size_t i = 0; i < 16; ++i) {
    raw[i] = static_cast<unsigned char>(HexValue(hex[2 * i]) * 16 + HexValue(hex[2 * i + 1]));
  }
  // The first three fields are little-endian, the last two big-endian.
  constexpr std::array<size_t, 16> kOrder = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
  std::string out(16, '\0');
  for (size_t i = 0; i < 16; ++i) out[i] = static_cast<char>(raw[kOrder[i]]);
  return out;
}

StatusOr<std::vector<GptBlob>> BuildGpt(uint64_t disk_sectors, std::string_view disk_guid,
                                        const std::vector<GptPartition>& partitions) {
  const uint64_t first_usable = 2 + kEntryArraySectors;
  if (disk_sectors < 2 * first_usable + 1) return InvalidArgumentError("disk too small for a GPT");
  const uint64_t last_lba = disk_sectors - 1;
  const uint64_t last_usable = last_lba - 1 - kEntryArraySectors;
  if (partitions.size() > kEntries) return InvalidArgumentError("too many partitions");
  KUBEOS_ASSIGN_OR_RETURN(std::string dguid, EncodeGuid(disk_guid));

  std::string entries(static_cast<size_t>(kEntries) * kEntryBytes, '\0');
  for (size_t i = 0; i < partitions.size(); ++i) {
    const GptPartition& p = partitions[i];
    if (p.sectors == 0 || p.first_lba < first_usable || p.first_lba + p.sectors - 1 > last_usable) {
      return InvalidArgumentError(fmt::format("partition {} ({}) is outside the usable area", i + 1, p.name));
    }
    for (size_t j = 0; j < i; ++j) {
      const GptPartition& q = partitions[j];
      if (p.first_lba < q.first_lba + q.sectors && q.first_lba < p.first_lba + p.sectors) {
        return InvalidArgumentError(fmt::format("partitions {} and {} overlap", j + 1, i + 1));
      }
    }
    if (p.name.size() > kMaxNameChars) {
      return InvalidArgumentError(fmt::format("partition name {:?} is longer than 36 characters", p.name));
    }
    size_t at = i * kEntryBytes;
    KUBEOS_ASSIGN_OR_RETURN(std::string type, EncodeGuid(p.type_guid));
    KUBEOS_ASSIGN_OR_RETURN(std::string uniq, EncodeGuid(p.unique_guid));
    entries.replace(at, 16, type);
    entries.replace(at + 16, 16, uniq);
    Put64(entries, at + 32, p.first_lba);
    Put64(entries, at + 40, p.first_lba + p.sectors - 1);
    for (size_t c = 0; c < p.name.size(); ++c) {
      auto ch = static_cast<unsigned char>(p.name[c]);
      if (ch < 0x20 || ch > 0x7e)
        return InvalidArgumentError(fmt::format("partition name {:?} is not ASCII", p.name));
      entries[at + 56 + 2 * c] = static_cast<char>(ch);  // UTF-16LE
    }
  }
  uint32_t entries_crc = Crc32(entries);

  std::string mbr(kSectorBytes, '\0');
  // One partition of type 0xEE covering the disk (capped at 2^32-1 sectors); CHS values "unused".
  mbr[446 + 1] = 0x00;
  mbr[446 + 2] = 0x02;
  mbr[446 + 3] = 0x00;
  mbr[446 + 4] = static_cast<char>(0xEE);
  mbr[446 + 5] = static_cast<char>(0xFF);
  mbr[446 + 6] = static_cast<char>(0xFF);
  mbr[446 + 7] = static_cast<char>(0xFF);
  Put32(mbr, 446 + 8, 1);
  Put32(mbr, 446 + 12, static_cast<uint32_t>(std::min<uint64_t>(disk_sectors - 1, 0xFFFFFFFFU)));
  mbr[510] = 0x55;
  mbr[511] = static_cast<char>(0xAA);

  const uint64_t backup_entries_lba = last_lba - kEntryArraySectors;
  std::vector<GptBlob> out;
  out.push_back({0, mbr + Header(1, last_lba, first_usable, last_usable, dguid, 2, entries_crc) + entries});
  out.push_back(
      {backup_entries_lba * kSectorBytes,
       entries + Header(last_lba, 1, first_usable, last_usable, dguid, backup_entries_lba, entries_crc)});
  return out;
}

}  // namespace kubeos::image

#include "image/gpt.h"

#include <gtest/gtest.h>

#include <cstring>

namespace kubeos::image {
namespace {

uint64_t Get64(const std::string& b, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}
uint32_t Get32(const std::string& b, size_t at) {
  return static_cast<uint32_t>(Get64(b.substr(at, 4) + std::string(4, '\0'), 0));
}

TEST(Crc32, KnownVectors) {
  EXPECT_EQ(Crc32(""), 0U);
  EXPECT_EQ(Crc32("123456789"), 0xCBF43926U);
}

TEST(EncodeGuid, MixedEndian) {
  StatusOr<std::string> g = EncodeGuid("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
  ASSERT_TRUE(g.ok());
  const unsigned char want[16] = {0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11,
                                  0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B};
  EXPECT_EQ(std::memcmp(g->data(), want, 16), 0);
  EXPECT_EQ(*EncodeGuid("c12a7328-f81f-11d2-ba4b-00a0c93ec93b"), *g);
  for (const char* bad : {"", "C12A7328F81F11D2BA4B00A0C93EC93B", "C12A7328-F81F-11D2-BA4B-00A0C93EC93",
                          "X12A7328-F81F-11D2-BA4B-00A0C93EC93B", "C12A7328-F81F-11D2-BA4B-00A0C93EC93BB"}) {
    EXPECT_FALSE(EncodeGuid(bad).ok()) << bad;
  }
}

TEST(BuildGpt, HeadersEntriesAndChecksums) {
  const uint64_t sectors = 8192;
  std::vector<GptPartition> parts = {{.first_lba = 2048,
                                      .sectors = 2048,
                                      .type_guid = std::string(kEspTypeGuid),
                                      .unique_guid = "11111111-2222-4333-8444-555555555555",
                                      .name = "BOOT"},
                                     {.first_lba = 4096,
                                      .sectors = 2048,
                                      .type_guid = std::string(kLinuxDataTypeGuid),
                                      .unique_guid = "11111111-2222-4333-8444-666666666666",
                                      .name = "ROOT-A"}};
  StatusOr<std::vector<GptBlob>> blobs = BuildGpt(sectors, "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", parts);
  ASSERT_TRUE(blobs.ok()) << blobs.status().ToString();
  ASSERT_EQ(blobs->size(), 2U);
  const std::string& p = (*blobs)[0].bytes;
  ASSERT_EQ(p.size(), 34U * 512);
  EXPECT_EQ(static_cast<unsigned char>(p[446 + 4]), 0xEE);
  EXPECT_EQ(static_cast<unsigned char>(p[510]), 0x55);
  EXPECT_EQ(static_cast<unsigned char>(p[511]), 0xAA);
  std::string hdr = p.substr(512, 512);
  EXPECT_EQ(hdr.substr(0, 8), "EFI PART");
  EXPECT_EQ(Get64(hdr, 24), 1U);
  EXPECT_EQ(Get64(hdr, 32), sectors - 1);
  EXPECT_EQ(Get64(hdr, 40), 34U);
  EXPECT_EQ(Get64(hdr, 48), sectors - 34);
  EXPECT_EQ(Get64(hdr, 72), 2U);
  std::string entries = p.substr(1024);
  EXPECT_EQ(Get32(hdr, 88), Crc32(entries));
  std::string zeroed = hdr.substr(0, 92);
  zeroed.replace(16, 4, std::string(4, '\0'));
  EXPECT_EQ(Get32(hdr, 16), Crc32(zeroed));
  EXPECT_EQ(Get64(entries, 128 + 32), 4096U);
  EXPECT_EQ(Get64(entries, 128 + 40), 6143U);
  EXPECT_EQ(entries.substr(128 + 56, 12), std::string("R\0O\0O\0T\0-\0A\0", 12));

  const GptBlob& backup = (*blobs)[1];
  EXPECT_EQ(backup.offset, (sectors - 33) * 512);
  ASSERT_EQ(backup.bytes.size(), 33U * 512);
  EXPECT_EQ(backup.bytes.substr(0, 16384), entries);
  std::string bh = backup.bytes.substr(16384);
  EXPECT_EQ(Get64(bh, 24), sectors - 1);
  EXPECT_EQ(Get64(bh, 32), 1U);
  EXPECT_EQ(Get64(bh, 72), sectors - 33);
}

TEST(BuildGpt, RejectsOverlapsAndOutOfRange) {
  auto part = [](uint64_t first, uint64_t n) {
    return GptPartition{.first_lba = first,
                        .sectors = n,
                        .type_guid = std::string(kEspTypeGuid),
                        .unique_guid = "11111111-2222-4333-8444-555555555555",
                        .name = "X"};
  };
  const char* g = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
  EXPECT_FALSE(BuildGpt(8192, g, {part(2048, 2048), part(4000, 100)}).ok());
  EXPECT_FALSE(BuildGpt(8192, g, {part(20, 100)}).ok());
  EXPECT_FALSE(BuildGpt(8192, g, {part(8000, 200)}).ok());
  EXPECT_FALSE(BuildGpt(8192, g, {part(2048, 0)}).ok());
  GptPartition long_name = part(2048, 10);
  long_name.name = std::string(37, 'n');
  EXPECT_FALSE(BuildGpt(8192, g, {long_name}).ok());
  EXPECT_TRUE(BuildGpt(8192, g, {part(34, 8192 - 68)}).ok());
}

}  // namespace
}  // namespace kubeos::image

#include "image/spec.h"

#include <gtest/gtest.h>

#include <string>

namespace kubeos::image {
namespace {

TEST(ParseSize, Table) {
  struct Case {
    std::string text;
    uint64_t want;
  };
  for (const Case& c : std::initializer_list<Case>{{"4096", 4096},
                                                   {"64M", uint64_t{64} << 20},
                                                   {"64MiB", uint64_t{64} << 20},
                                                   {"64mb", uint64_t{64} << 20},
                                                   {"512k", uint64_t{512} << 10},
                                                   {"2G", uint64_t{2} << 30},
                                                   {"1T", uint64_t{1} << 40},
                                                   {"10B", 10}}) {
    StatusOr<uint64_t> got = ParseSize(c.text);
    ASSERT_TRUE(got.ok()) << c.text << ": " << got.status().ToString();
    EXPECT_EQ(*got, c.want) << c.text;
  }
  for (const char* bad : {"", "M", "64X", "-1", "0", "0M", "64 M", "99999999999999999999", "16777216T"}) {
    EXPECT_EQ(ParseSize(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ValidateVersion, AcceptsPlainVersionsRejectsShellAndQuoteCharacters) {
  for (const char* ok : {"1", "2.0.1", "v1.2-rc1", "24.03_LTS+build.7"}) {
    EXPECT_TRUE(ValidateVersion(ok).ok()) << ok;
  }
  for (const char* bad : {"", "1 2", "1;rm", "a|b", "a&b", "a>b", "a<b", "a,b", "a#b", "a!b", "a$b", "a\"b",
                          "a'b", "a\\b", "a`b", "a\nb", "\xc3\xa9"}) {
    EXPECT_EQ(ValidateVersion(bad).code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(ValidateVersion(std::string(65, '1')).ok());
  EXPECT_TRUE(ValidateVersion(std::string(64, '1')).ok());
}

TEST(StampOsRelease, WritesKubeOsIdentityAndKeepsOtherKeys) {
  EXPECT_EQ(StampOsRelease("", "2.0"),
            "NAME=\"KubeOS\"\nID=kubeos\nPRETTY_NAME=\"KubeOS 2.0\"\nVERSION_ID=2.0\n");
  EXPECT_EQ(StampOsRelease("PRETTY_NAME=\"Debian GNU/Linux 12\"\nNAME=Debian\nVERSION=\"12\"\nID=debian\n"
                           "HOME_URL=\"https://x\"\n# comment\n\nID_LIKE=debian",
                           "3"),
            "NAME=\"KubeOS\"\nID=kubeos\nPRETTY_NAME=\"KubeOS 3\"\nVERSION_ID=3\nHOME_URL=\"https://x\"\n"
            "ID_LIKE=debian\n");
}

TEST(DerivedUuid, StableVersion4AndSeedDependent) {
  std::string a = DerivedUuid("kbimg ext4 ROOT-A 1");
  EXPECT_EQ(a, DerivedUuid("kbimg ext4 ROOT-A 1"));
  EXPECT_NE(a, DerivedUuid("kbimg ext4 ROOT-A 2"));
  ASSERT_EQ(a.size(), 36U);
  EXPECT_EQ(a[8], '-');
  EXPECT_EQ(a[14], '4');
  EXPECT_TRUE(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b') << a;
}

TEST(DebugfsQuote, DoublesQuotesAndRejectsLineBreaks) {
  EXPECT_EQ(*DebugfsQuote("/usr/bin"), "\"/usr/bin\"");
  EXPECT_EQ(*DebugfsQuote("/a b/\"q\""), "\"/a b/\"\"q\"\"\"");
  EXPECT_EQ(DebugfsQuote("/a\nb").status().code(), StatusCode::kInvalidArgument);
}

TEST(DefaultExtSize, HasHeadroomAndIsMiBAligned) {
  EXPECT_EQ(DefaultExtSize(0, 0), uint64_t{16} << 20);
  uint64_t s = DefaultExtSize(uint64_t{100} << 20, 1000);
  EXPECT_GE(s, (uint64_t{125} << 20) + (uint64_t{16} << 20));
  EXPECT_EQ(s % (uint64_t{1} << 20), 0U);
}

TEST(GrubConfig, AppendsKernelArgsToLinuxLinesOnly) {
  std::string frag =
      "set timeout=3\nmenuentry \"A\" {\n  linux /boot/vmlinuz root=LABEL=ROOT-A ro\n  initrd /boot/i\n}\n"
      "# linux in a comment\n";
  EXPECT_EQ(GrubConfig(frag, ""), frag);
  EXPECT_EQ(GrubConfig(frag, "console=ttyS0"),
            "set timeout=3\nmenuentry \"A\" {\n  linux /boot/vmlinuz root=LABEL=ROOT-A ro console=ttyS0\n"
            "  initrd /boot/i\n}\n# linux in a comment\n");
}

}  // namespace
}  // namespace kubeos::image

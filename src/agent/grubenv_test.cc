#include "agent/grubenv.h"

#include <gtest/gtest.h>

#include "common/file.h"

namespace kubeos::agent {
namespace {

TEST(GrubEnvCodec, EmptyBlockIsHeaderAndPadding) {
  StatusOr<std::string> block = EncodeGrubEnv(GrubEnv{});
  ASSERT_TRUE(block.ok());
  EXPECT_EQ(block->size(), kGrubEnvSize);
  std::string head = std::string(kGrubEnvHeader) + std::string(kGrubEnvWarning);
  EXPECT_EQ(*block, head + std::string(kGrubEnvSize - head.size(), '#'));
}

TEST(GrubEnvCodec, RoundTripsKeepingOrderAndEscapes) {
  GrubEnv env;
  env.Set("saved_entry", "B");
  env.Set("boot_tries", "2");
  env.Set("odd", "a\\b\nc=d");
  env.Set("saved_entry", "A");  // replaced in place
  StatusOr<std::string> block = EncodeGrubEnv(env);
  ASSERT_TRUE(block.ok());
  EXPECT_EQ(block->substr(kGrubEnvHeader.size() + kGrubEnvWarning.size(), 41),
            "saved_entry=A\nboot_tries=2\nodd=a\\\\b\\\nc=d\n");
  StatusOr<GrubEnv> back = DecodeGrubEnv(*block);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, env);
  env.Unset("boot_tries");
  EXPECT_EQ(env.entries().size(), 2u);
  EXPECT_EQ(env.Get("boot_tries"), std::nullopt);
}

TEST(GrubEnvCodec, RejectsBadInput) {
  GrubEnv big;
  big.Set("k", std::string(1100, 'x'));
  EXPECT_EQ(EncodeGrubEnv(big).status().code(), StatusCode::kInvalidArgument);
  GrubEnv bad_key;
  bad_key.Set("a=b", "1");
  EXPECT_EQ(EncodeGrubEnv(bad_key).status().code(), StatusCode::kInvalidArgument);

  std::string good = *EncodeGrubEnv(GrubEnv{});
  struct Case {
    const char* name;
    std::string block;
  } cases[] = {
      {"short", good.substr(0, 1000)},
      {"long", good + "#"},
      {"no signature", "X" + good.substr(1)},
      {"no equals",
       std::string(kGrubEnvHeader) + "junk\n" + std::string(1024 - kGrubEnvHeader.size() - 5, '#')},
      {"unterminated",
       std::string(kGrubEnvHeader) + std::string(1024 - kGrubEnvHeader.size(), 'k').replace(0, 2, "k=")},
      {"zeros (torn write)", std::string(1024, '\0')},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(DecodeGrubEnv(c.block).status().code(), StatusCode::kDataLoss) << c.name;
  }
}

TEST(GrubEnvFile, WriteReadAndRecoverFromTornPrimary) {
  StatusOr<TempDir> dir = TempDir::Create("grubenv-test");
  ASSERT_TRUE(dir.ok());
  std::filesystem::path p = dir->path() / "grubenv";
  EXPECT_EQ(ReadGrubEnvFile(p).status().code(), StatusCode::kNotFound);
  GrubEnv env;
  env.Set("saved_entry", "B");
  ASSERT_TRUE(WriteGrubEnvFile(p, env).ok());
  StatusOr<GrubEnv> back = ReadGrubEnvFile(p);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, env);
  // A torn primary (half zeros) falls back to the durable copy.
  ASSERT_TRUE(WriteFileAtomic(p, std::string(512, '#') + std::string(512, '\0')).ok());
  back = ReadGrubEnvFile(p);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, env);
  // Both bad: DataLoss, never a silent default.
  ASSERT_TRUE(WriteFileAtomic(p.string() + ".bak", "garbage").ok());
  EXPECT_EQ(ReadGrubEnvFile(p).status().code(), StatusCode::kDataLoss);
}

// The rule GRUB's fragment uses: a valid grubenv that names no slot yields to a usable copy.
TEST(GrubEnvFile, PrimaryNamingNoSlotYieldsToTheCopy) {
  StatusOr<TempDir> dir = TempDir::Create("grubenv-noslot");
  ASSERT_TRUE(dir.ok());
  std::filesystem::path p = dir->path() / "grubenv";
  GrubEnv committed;
  committed.Set("saved_entry", "B");
  GrubEnv no_slot;
  no_slot.Set("other", "x");
  ASSERT_TRUE(WriteFileAtomic(p, *EncodeGrubEnv(no_slot)).ok());
  EXPECT_EQ(*ReadGrubEnvFile(p), no_slot) << "no copy: the valid block is still returned";
  ASSERT_TRUE(WriteFileAtomic(p.string() + ".bak", *EncodeGrubEnv(committed)).ok());
  EXPECT_EQ(*ReadGrubEnvFile(p), committed);
}

TEST(DecideStaleEnvTemp, Table) {
  struct Case {
    std::string name;
    bool regular;
    uint64_t size;
    bool fat;
    StaleTempAction want;
  } cases[] = {
      {".grubenv.tmp.Ab12Cd", true, 1024, false, StaleTempAction::kRemove},
      {".grubenv.bak.tmp.Ab12Cd", true, 1024, false, StaleTempAction::kRemove},
      {".grubenv.bak.tmp.Ab12Cd", true, 0, true, StaleTempAction::kRemove},   // FAT, no cluster chain
      {".grubenv.bak.tmp.Ab12Cd", true, 1024, true, StaleTempAction::kKeep},  // FAT: chain may be broken
      {".grubenv.tmp.Ab12Cd", true, 1, true, StaleTempAction::kKeep},
      {"grubenv", true, 1024, false, StaleTempAction::kIgnore},
      {"grubenv.bak", true, 1024, false, StaleTempAction::kIgnore},
      {".grubenv.tmp.Ab12C", true, 0, false, StaleTempAction::kIgnore},  // not mkostemp's 6
      {".grubenv.tmp.Ab12Cde", true, 0, false, StaleTempAction::kIgnore},
      {".grubenv.tmp.Ab-2Cd", true, 0, false, StaleTempAction::kIgnore},
      {"grubenv.tmp.Ab12Cd", true, 0, false, StaleTempAction::kIgnore},  // no leading dot
      {".grubenv.bak.bak.tmp.Ab12Cd", true, 0, false, StaleTempAction::kIgnore},
      {".state.json.tmp.Ab12Cd", true, 0, false, StaleTempAction::kIgnore},  // another file's temp
      {".grubenv.tmp.Ab12Cd", false, 0, false, StaleTempAction::kIgnore},    // directory, symlink, ...
  };
  for (const Case& c : cases) {
    EXPECT_EQ(DecideStaleEnvTemp("grubenv", c.name, c.regular, c.size, c.fat), c.want)
        << c.name << " size " << c.size << (c.fat ? " on FAT" : "");
  }
}

}  // namespace
}  // namespace kubeos::agent

#include "agent/grubenv.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/file.h"

namespace kubeos::agent {
namespace {

GrubEnv Env(std::initializer_list<std::pair<std::string, std::string>> kv) {
  GrubEnv e;
  for (const auto& [k, v] : kv) e.Set(k, v);
  return e;
}

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

TEST(GrubEnvCodec, RejectsWhatItCannotWrite) {
  GrubEnv big;
  big.Set("k", std::string(1100, 'x'));
  EXPECT_EQ(EncodeGrubEnv(big).status().code(), StatusCode::kInvalidArgument);
  GrubEnv bad_key;
  bad_key.Set("a=b", "1");
  EXPECT_EQ(EncodeGrubEnv(bad_key).status().code(), StatusCode::kInvalidArgument);
}

using Entries = std::vector<std::pair<std::string, std::string>>;

// GRUB's reading (grub_envblk_open + grub_envblk_iterate), row by row. The integration test
// GrubEditenv.ListsWhatTheParserReads checks the same rule against grub-editenv on generated blocks.
TEST(ParseGrubEnvBlock, ReadsLikeGrub) {
  const std::string sig(kGrubEnvHeader);
  const std::string committed_b = *EncodeGrubEnv([] {
    GrubEnv e;
    e.Set("saved_entry", "B");
    e.Set("boot_tries", "1");
    return e;
  }());
  struct Case {
    const char* what;
    std::string block;
    std::optional<Entries> want;  // nullopt: invalid (DataLoss)
  } cases[] = {
      {"canonical block", committed_b, Entries{{"saved_entry", "B"}, {"boot_tries", "1"}}},
      {"cut to 512 bytes: same variables", committed_b.substr(0, 512),
       Entries{{"saved_entry", "B"}, {"boot_tries", "1"}}},
      {"longer than 1024 bytes", committed_b + "x=1\n", Entries{{"saved_entry", "B"}, {"boot_tries", "1"}}},
      {"second sector zeroed: GRUB stops at the zeros, keeps what it read",
       committed_b.substr(0, 512) + std::string(512, '\0'),
       Entries{{"saved_entry", "B"}, {"boot_tries", "1"}}},
      {"cut inside a value: that variable is lost",
       committed_b.substr(0, committed_b.find("boot_tries=1") + 12), Entries{{"saved_entry", "B"}}},
      {"cut inside a name", committed_b.substr(0, committed_b.find("boot_tries") + 4),
       Entries{{"saved_entry", "B"}}},
      {"just the signature and one byte", sig + "#", Entries{}},
      {"just the signature: too short", sig, std::nullopt},
      {"empty file", "", std::nullopt},
      {"no signature", "X" + committed_b.substr(1), std::nullopt},
      {"zeros (lost write)", std::string(1024, '\0'), std::nullopt},
      {"a line with no '=' joins the next name", sig + "junk\nsaved_entry=B\n###",
       Entries{{"junk\nsaved_entry", "B"}}},
      {"empty name", sig + "=B\n#", Entries{{"", "B"}}},
      {"duplicates in order", sig + "a=1\na=2\n", Entries{{"a", "1"}, {"a", "2"}}},
      {"escapes", sig + "v=x\\\\y\\\nz\\=\n", Entries{{"v", "x\\y\nz="}}},
      {"backslash as the last byte: broken", sig + "a=1\nv=x\\", Entries{{"a", "1"}}},
      {"escaped newline in a comment continues it", sig + "# c \\\nsaved_entry=B\na=1\n",
       Entries{{"a", "1"}}},
      {"NUL ends a value (C string)", sig + std::string("v=ab\0cd\n", 8), Entries{{"v", "ab"}}},
      {"NUL in a name", sig + std::string("ab\0c=1\n", 7), Entries{{"ab", "1"}}},
  };
  for (const Case& c : cases) {
    auto got = ParseGrubEnvBlock(c.block);
    if (!c.want) {
      EXPECT_EQ(got.status().code(), StatusCode::kDataLoss) << c.what;
      EXPECT_EQ(DecodeGrubEnv(c.block).status().code(), StatusCode::kDataLoss) << c.what;
      continue;
    }
    ASSERT_TRUE(got.ok()) << c.what << ": " << got.status().ToString();
    EXPECT_EQ(*got, *c.want) << c.what;
  }
}

TEST(DecodeGrubEnv, LastDuplicateWinsAndDebrisNamesAreDropped) {
  const std::string sig(kGrubEnvHeader);
  StatusOr<GrubEnv> env = DecodeGrubEnv(sig + "a=1\njunk\nb=2\n=3\nc=x\na=4\nback\\slash=5\n");
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(env->entries(), (Entries{{"a", "4"}, {"c", "x"}}));
  EXPECT_TRUE(EncodeGrubEnv(*env).ok()) << "whatever is decoded can be written back";
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
  // As the fragment: grubenv's other variables stay, the copy's are loaded over them.
  GrubEnv merged = no_slot;
  merged.Set("saved_entry", "B");
  EXPECT_EQ(*ReadGrubEnvFile(p), merged);
}

// A grubenv naming no slot drops its scheme variables, as the fragment unsets them before loading the copy:
// a trial GRUB will not make is not reported as armed.
TEST(GrubEnvFile, NoSlotDropsTheSchemeVariablesEvenWithoutACopy) {
  StatusOr<TempDir> dir = TempDir::Create("grubenv-noslot-trial");
  ASSERT_TRUE(dir.ok());
  std::filesystem::path p = dir->path() / "grubenv";
  const GrubEnv broken = Env({{"saved_entry", "C"},
                              {"boot_tries", "2"},
                              {"fallback_entry", "A"},
                              {"next_entry", "B"},
                              {"kubeos_fell_back", "B"},
                              {"other", "x"}});
  ASSERT_TRUE(WriteFileAtomic(p, *EncodeGrubEnv(broken)).ok());
  StatusOr<GrubEnvReading> r = InspectGrubEnvFile(p);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->env, Env({{"other", "x"}}));
  EXPECT_FALSE(r->canonical);
}

TEST(GrubEnvFile, CanonicalOnlyWhenGrubenvIsExactlyTheBlockWeWouldWrite) {
  StatusOr<TempDir> dir = TempDir::Create("grubenv-canonical");
  ASSERT_TRUE(dir.ok());
  std::filesystem::path p = dir->path() / "grubenv";
  const GrubEnv env = Env({{"saved_entry", "B"}, {"boot_tries", "1"}});
  const std::string block = *EncodeGrubEnv(env);
  ASSERT_TRUE(WriteGrubEnvFile(p, env).ok());
  EXPECT_TRUE(InspectGrubEnvFile(p)->canonical);
  EXPECT_FALSE(InspectGrubEnvFile(p)->from_copy);
  // The copy must hold the same block: GRUB counted a trial down in grubenv only, or a cut came between
  // the two renames of a write.
  GrubEnv counted = env;
  counted.Set("boot_tries", "0");
  ASSERT_TRUE(WriteFileAtomic(p.string() + ".bak", *EncodeGrubEnv(counted)).ok());
  EXPECT_FALSE(InspectGrubEnvFile(p)->canonical);
  std::filesystem::remove(p.string() + ".bak");
  EXPECT_FALSE(InspectGrubEnvFile(p)->canonical) << "no copy";
  ASSERT_TRUE(WriteFileAtomic(p.string() + ".bak", block).ok());
  struct Case {
    const char* what;
    std::optional<std::string> primary;
  } cases[] = {
      {"cut to 512 bytes", block.substr(0, 512)},
      {"second sector zeroed", block.substr(0, 512) + std::string(512, '\0')},
      {"without grub-editenv's warning line (older grub-editenv)",
       std::string(kGrubEnvHeader) + "saved_entry=B\nboot_tries=1\n" +
           std::string(kGrubEnvSize - kGrubEnvHeader.size() - 27, '#')},
      {"zeroed: read from the copy", std::string(kGrubEnvSize, '\0')},
      {"missing: read from the copy", std::nullopt},
  };
  for (const Case& c : cases) {
    std::filesystem::remove(p);
    if (c.primary) {
      ASSERT_TRUE(WriteFileAtomic(p, *c.primary).ok());
    }
    StatusOr<GrubEnvReading> r = InspectGrubEnvFile(p);
    ASSERT_TRUE(r.ok()) << c.what << ": " << r.status().ToString();
    EXPECT_EQ(r->env, env) << c.what;
    EXPECT_FALSE(r->canonical) << c.what;
  }
}

// grub_envblk_set's "Broken" check: GRUB writes only a block that ends in '#' padding after a newline (or
// in a newline).
TEST(GrubCanWriteBlock, Table) {
  const std::string sig(kGrubEnvHeader);
  const std::string good = *EncodeGrubEnv([] {
    GrubEnv e;
    e.Set("saved_entry", "B");
    return e;
  }());
  struct Case {
    const char* what;
    std::string block;
    bool want;
  } cases[] = {
      {"canonical", good, true},
      {"cut inside the padding", good.substr(0, 512), true},
      {"ends in a newline, no padding", sig + "saved_entry=B\n", true},
      {"only the signature and padding", sig + "###", true},
      {"second sector zeroed", good.substr(0, 512) + std::string(512, '\0'), false},
      {"cut inside a value", sig + "saved_entry=B\nboot_tr", false},
      {"padding after a broken line", sig + "saved_entry=B\nx###", false},
      {"not a block", std::string(1024, '\0'), false},
  };
  for (const Case& c : cases) EXPECT_EQ(GrubCanWriteBlock(c.block), c.want) << c.what;
}

TEST(GrubEnvFile, CopyVariablesLoadOverTheSlotlessPrimarys) {
  StatusOr<TempDir> dir = TempDir::Create("grubenv-merge");
  ASSERT_TRUE(dir.ok());
  std::filesystem::path p = dir->path() / "grubenv";
  GrubEnv primary, copy;
  primary.Set("other", "from-grubenv");
  primary.Set("only_primary", "1");
  copy.Set("saved_entry", "A");
  copy.Set("other", "from-copy");
  ASSERT_TRUE(WriteFileAtomic(p, *EncodeGrubEnv(primary)).ok());
  ASSERT_TRUE(WriteFileAtomic(p.string() + ".bak", *EncodeGrubEnv(copy)).ok());
  StatusOr<GrubEnvReading> r = InspectGrubEnvFile(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->env.Get("other"), "from-copy");
  EXPECT_EQ(r->env.Get("only_primary"), "1");
  EXPECT_EQ(r->env.Get("saved_entry"), "A");
  EXPECT_FALSE(r->canonical);
  EXPECT_TRUE(r->grub_can_write);
  EXPECT_TRUE(r->from_copy);
}

TEST(GrubEnvCodec, WarningLineIsLeftOutWhenTheEntriesNeedItsRoom) {
  GrubEnv env;
  env.Set("saved_entry", "A");
  env.Set("kernelopts", std::string(950, 'x'));  // fits a block only without the warning comment
  StatusOr<std::string> block = EncodeGrubEnv(env);
  ASSERT_TRUE(block.ok()) << block.status().ToString();
  EXPECT_EQ(block->size(), kGrubEnvSize);
  EXPECT_EQ(block->find(kGrubEnvWarning), std::string::npos);
  EXPECT_EQ(*DecodeGrubEnv(*block), env);
  EXPECT_NE(EncodeGrubEnv(GrubEnv{})->find(kGrubEnvWarning), std::string::npos);
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

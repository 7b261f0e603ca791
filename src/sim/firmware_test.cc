#include "sim/firmware.h"

#include <gtest/gtest.h>

namespace kubeos::sim {
namespace {

using agent::GrubEnv;
using agent::Slot;

GrubEnv Env(std::initializer_list<std::pair<std::string, std::string>> kv) {
  GrubEnv e;
  for (const auto& [k, v] : kv) e.Set(k, v);
  return e;
}

const SlotBootability kUp{};
const SlotBootability kBroken{.bootable = false, .reason = "no /sbin/init"};

struct Case {
  const char* name;
  GrubEnv env;
  SlotBootability a, b;
  std::vector<Slot> tried;     // slots GRUB chose, in order
  std::optional<Slot> booted;  // nullopt: bricked
  std::optional<std::string> saved_after, tries_after;
};

TEST(Firmware, BootSequences) {
  const std::vector<Case> cases = {
      {"committed A", Env({{"saved_entry", "A"}}), kUp, kUp, {Slot::kA}, Slot::kA, "A", std::nullopt},
      {"empty env boots A", GrubEnv{}, kUp, kUp, {Slot::kA}, Slot::kA, std::nullopt, std::nullopt},
      {"trial of good B",
       Env({{"saved_entry", "B"}, {"boot_tries", "2"}, {"fallback_entry", "A"}}),
       kUp,
       kUp,
       {Slot::kB},
       Slot::kB,
       "B",
       "1"},
      {"trial of broken B falls back after two tries",
       Env({{"saved_entry", "B"}, {"boot_tries", "2"}, {"fallback_entry", "A"}}),
       kUp,
       kBroken,
       {Slot::kB, Slot::kB, Slot::kA},
       Slot::kA,
       "A",
       std::nullopt},
      {"rollback trial of broken A falls back to B",
       Env({{"saved_entry", "A"}, {"boot_tries", "2"}, {"fallback_entry", "B"}}),
       kBroken,
       kUp,
       {Slot::kA, Slot::kA, Slot::kB},
       Slot::kB,
       "B",
       std::nullopt},
      {"exhausted counter falls back at once",
       Env({{"saved_entry", "B"}, {"boot_tries", "0"}}),
       kUp,
       kUp,
       {Slot::kA},
       Slot::kA,
       "A",
       std::nullopt},
      {"both broken bricks",
       Env({{"saved_entry", "B"}, {"boot_tries", "1"}, {"fallback_entry", "A"}}),
       kBroken,
       kBroken,
       {Slot::kB, Slot::kA, Slot::kA, Slot::kA, Slot::kA, Slot::kA},
       std::nullopt,
       "A",
       std::nullopt},
      {"next_entry one-shot",
       Env({{"saved_entry", "A"}, {"next_entry", "B"}}),
       kUp,
       kUp,
       {Slot::kB},
       Slot::kB,
       "A",
       std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    BootSequence seq = BootUntilUp(c.env, c.a, c.b);
    std::vector<Slot> tried;
    for (const BootAttempt& at : seq.attempts) tried.push_back(at.slot);
    EXPECT_EQ(tried, c.tried);
    EXPECT_EQ(seq.booted(), c.booted);
    EXPECT_EQ(seq.bricked, !c.booted.has_value());
    ASSERT_NE(seq.final_env(), nullptr);
    EXPECT_EQ(seq.final_env()->Get("saved_entry"), c.saved_after);
    EXPECT_EQ(seq.final_env()->Get("boot_tries"), c.tries_after);
    EXPECT_FALSE(seq.final_env()->Get("next_entry").has_value());
    for (size_t i = 0; i + 1 < seq.attempts.size(); ++i) {
      EXPECT_FALSE(seq.attempts[i].booted);
      EXPECT_EQ(seq.attempts[i].reason, "no /sbin/init");
    }
  }
}

TEST(Firmware, KernelCmdlineNamesTheSlot) {
  EXPECT_EQ(KernelCmdline(Slot::kB), "BOOT_IMAGE=/boot/vmlinuz root=LABEL=ROOT-B ro kubeos.slot=B panic=5\n");
  EXPECT_EQ(agent::SlotFromCmdline(KernelCmdline(Slot::kA)).value(), Slot::kA);
}

}  // namespace
}  // namespace kubeos::sim

#include "agent/slot.h"

#include <gtest/gtest.h>

namespace kubeos::agent {
namespace {

TEST(SlotFromCmdline, Table) {
  struct Case {
    const char* cmdline;
    std::optional<Slot> want;
  } cases[] = {
      {"BOOT_IMAGE=/boot/vmlinuz root=/dev/vda2 kubeos.slot=A ro\n", Slot::kA},
      {"kubeos.slot=B", Slot::kB},
      {"kubeos.slot=B kubeos.slot=B", Slot::kB},
      {"kubeos.slot=A kubeos.slot=B", std::nullopt},  // contradictory
      {"root=/dev/nvme2n1p3 ro", std::nullopt},       // never guessed from digits
      {"kubeos.slot=C", std::nullopt},
      {"kubeos.slot=", std::nullopt},
      {"xkubeos.slot=A", std::nullopt},
      {"kubeos.slotty=A", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& c : cases) {
    StatusOr<Slot> got = SlotFromCmdline(c.cmdline);
    if (c.want) {
      ASSERT_TRUE(got.ok()) << c.cmdline << ": " << got.status().ToString();
      EXPECT_EQ(*got, *c.want) << c.cmdline;
    } else {
      EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument) << c.cmdline;
    }
  }
}

TEST(DecideBootedSlot, Table) {
  struct Case {
    SlotEvidence ev;
    std::optional<Slot> want;
  } cases[] = {
      {{"kubeos.slot=A", Slot::kA, "ROOT-A"}, Slot::kA},
      {{"kubeos.slot=B", Slot::kB, "ROOT-B"}, Slot::kB},
      {{"kubeos.slot=A", Slot::kB, "ROOT-B"}, std::nullopt},   // kernel and / disagree
      {{"kubeos.slot=A", std::nullopt, ""}, std::nullopt},     // / is on neither slot
      {{"kubeos.slot=A", Slot::kA, "ROOT-B"}, std::nullopt},   // label disagrees
      {{"kubeos.slot=A", Slot::kA, ""}, std::nullopt},         // label unreadable
      {{"root=/dev/vda2", Slot::kA, "ROOT-A"}, std::nullopt},  // no explicit argument
  };
  for (const auto& c : cases) {
    StatusOr<Slot> got = DecideBootedSlot(c.ev);
    if (c.want) {
      ASSERT_TRUE(got.ok()) << c.ev.cmdline << ": " << got.status().ToString();
      EXPECT_EQ(*got, *c.want);
    } else {
      EXPECT_EQ(got.status().code(), StatusCode::kFailedPrecondition) << c.ev.cmdline;
      EXPECT_NE(got.status().message().find("booted slot"), std::string::npos);
    }
  }
}

TEST(Slot, Names) {
  EXPECT_EQ(SlotName(Slot::kA), "A");
  EXPECT_EQ(OtherSlot(Slot::kA), Slot::kB);
  EXPECT_EQ(SlotLabel(Slot::kB), "ROOT-B");
  EXPECT_EQ(ParseSlotName("B"), Slot::kB);
  EXPECT_EQ(ParseSlotName("b"), std::nullopt);
}

}  // namespace
}  // namespace kubeos::agent

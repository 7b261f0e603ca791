#include "proxy/record.h"

#include <gtest/gtest.h>

namespace kubeos::node {
namespace {

using nlohmann::json;

TEST(Record, RoundTripsThroughTheStatusPatch) {
  ProxyRecord r;
  r.phase = Phase::kRebooting;
  r.message = "upgrade to KubeOS 2: the host reboots";
  r.target_version = "KubeOS 2";
  r.operation = "upgrade";
  r.os_ref = "default/os";
  r.attempts = 2;
  r.started_at = 1'800'000'000;
  r.transition_at = 1'800'000'100;
  r.drain_started_at = 1'800'000'010;
  r.drained_at = 1'800'000'050;
  r.reboot_requested_at = 1'800'000'100;
  r.booted_slot = "A";
  r.last_fallback = Fallback{"fell back", 1'700'000'000};
  r.pods_remaining = 1;
  r.drain_problems = {"evict ns/p: no"};
  json patch = RecordPatch(r);
  EXPECT_EQ(patch["status"]["phase"], "Rebooting");
  EXPECT_EQ(patch["status"]["startedAt"], "2027-01-15T08:00:00Z");
  EXPECT_TRUE(patch["status"]["finishedAt"].is_null()) << "unset fields are deleted by the merge patch";
  EXPECT_EQ(RecordFromStatus(patch["status"]), r);
}

TEST(Record, EmptyStatusGivesDefaults) {
  EXPECT_EQ(RecordFromStatus(json(nullptr)), ProxyRecord{});
  EXPECT_EQ(RecordFromStatus(json{{"phase", "Bogus"}, {"attempts", "x"}}), ProxyRecord{});
  // The original's status fields are not ours and are left alone.
  json patch = RecordPatch(ProxyRecord{});
  EXPECT_FALSE(patch["status"].contains("sysconfigs"));
  EXPECT_FALSE(patch["status"].contains("upgradeconfigs"));
}

TEST(Record, PhaseNamesAreTheContract) {
  for (Phase p : {Phase::kIdle, Phase::kStaging, Phase::kDraining, Phase::kRebooting, Phase::kVerifying,
                  Phase::kConfiguring, Phase::kSucceeded, Phase::kFailed, Phase::kFellBack}) {
    EXPECT_EQ(ParsePhase(PhaseName(p)), p);
  }
  EXPECT_EQ(PhaseName(Phase::kFellBack), "FellBack");
  EXPECT_EQ(ParsePhase(""), Phase::kNone);
}

TEST(Time, ParsesRfc3339Forms) {
  EXPECT_EQ(ParseTime("2027-01-15T08:00:00Z").value_or(0), 1'800'000'000);
  EXPECT_EQ(ParseTime("2027-01-15T08:00:00.123456Z").value_or(0), 1'800'000'000);
  EXPECT_EQ(ParseTime("2027-01-15T10:00:00+02:00").value_or(0), 1'800'000'000);
  EXPECT_FALSE(ParseTime("2027-01-15 08:00:00").ok());
  EXPECT_FALSE(ParseTime("").ok());
  EXPECT_EQ(FormatTime(1'800'000'000), "2027-01-15T08:00:00Z");
}

TEST(Truncate, CutsLongMessages) {
  EXPECT_EQ(Truncate("abc", 5), "abc");
  EXPECT_EQ(Truncate("abcdef", 3), "abc…");
}

}  // namespace
}  // namespace kubeos::node

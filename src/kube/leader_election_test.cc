#include "kube/leader_election.h"

#include <gtest/gtest.h>

namespace kubeos::kube {
namespace {

using std::chrono::seconds;

TEST(CanAcquireTest, UsesObservedTimeNotServerTime) {
  const Clock::TimePoint t0{std::chrono::hours(1)};
  LeaderElectionRecord other{.holder_identity = "b",
                             .lease_duration_seconds = 15,
                             .renew_time = "1970-01-01T00:00:00.000000Z"};  // ancient server time: ignored
  struct Case {
    LeaderElectionRecord rec;
    Clock::TimePoint now;
    bool want;
  };
  std::vector<Case> cases = {
      {other, t0, false},
      {other, t0 + seconds(14), false},
      {other, t0 + seconds(15), true},
      {{.holder_identity = "", .lease_duration_seconds = 15}, t0, true},   // released
      {{.holder_identity = "a", .lease_duration_seconds = 15}, t0, true},  // ours
  };
  for (const auto& c : cases) EXPECT_EQ(CanAcquire(c.rec, t0, c.now, "a"), c.want) << c.rec.holder_identity;
}

TEST(LeaderElectionRecordTest, RoundTripsThroughLease) {
  LeaderElectionRecord r{.holder_identity = "me",
                         .lease_duration_seconds = 15,
                         .acquire_time = "2026-12-03T19:31:45.123456Z",
                         .renew_time = "2026-12-03T19:31:47.000001Z",
                         .lease_transitions = 3};
  nlohmann::json lease = {{"metadata", {{"name", "l"}}}};
  r.ToLease(lease);
  EXPECT_EQ(lease["spec"]["holderIdentity"], "me");
  EXPECT_EQ(LeaderElectionRecord::FromLease(lease), r);
}

TEST(LeaderElectionConfigTest, Validation) {
  LeaderElectionConfig ok{.lease_namespace = "ns", .lease_name = "l", .identity = "me"};
  EXPECT_TRUE(ValidateLeaderElectionConfig(ok).ok());
  auto bad = ok;
  bad.renew_deadline = seconds(15);
  EXPECT_FALSE(ValidateLeaderElectionConfig(bad).ok());
  bad = ok;
  bad.retry_period = seconds(9);  // 1.2 * 9 > 10
  EXPECT_FALSE(ValidateLeaderElectionConfig(bad).ok());
  bad = ok;
  bad.identity.clear();
  EXPECT_FALSE(ValidateLeaderElectionConfig(bad).ok());
}

TEST(MicroTimeTest, SixFractionalDigits) {
  std::chrono::system_clock::time_point t{std::chrono::seconds(1764790305) + std::chrono::microseconds(7)};
  EXPECT_EQ(FormatMicroTime(t), "2025-12-03T19:31:45.000007Z");
}

}  // namespace
}  // namespace kubeos::kube

#include "operator/status_json.h"

#include <gtest/gtest.h>

#include "operator/planner_test_util.h"

namespace kubeos::rollout {
namespace {

using testing::T;

TEST(StatusJsonTest, RoundTrip) {
  OsStatus s;
  s.observed_generation = 7;
  s.target = "KubeOS v2";
  s.rollout = "Halted";
  s.total = 5;
  s.updated = 2;
  s.in_progress = 1;
  s.failed = 1;
  s.pending = 1;
  s.conditions = {{"Progressing", true, "NodesInProgress", "1 nodes working", T("2026-12-03T10:00:00Z")},
                  {"Paused", false, "NotPaused", "", T("2026-12-03T09:00:00Z")}};
  s.failing_nodes = {{"n1", "failed on KubeOS v2: disk full"}};
  s.next_window_start = T("2026-12-03T22:00:00Z");
  s.bad_versions = {{"KubeOS v2", "upgrade", "1 of 5 nodes failed", T("2026-12-03T11:00:00Z")}};
  s.serial_batch_finished_at = T("2026-12-03T11:30:00Z");
  const nlohmann::json j = OsStatusToJson(s);
  EXPECT_EQ(j["inProgress"], 1);
  EXPECT_EQ(j["conditions"][0]["status"], "True");
  EXPECT_EQ(j["conditions"][0]["lastTransitionTime"], "2026-12-03T10:00:00Z");
  EXPECT_FALSE(j["conditions"][1].contains("message"));
  EXPECT_EQ(j["nextWindowStart"], "2026-12-03T22:00:00Z");
  auto back = OsStatusFromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, s);
}

TEST(StatusJsonTest, EmptyAndBadInput) {
  auto empty = OsStatusFromJson(nullptr);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, OsStatus{});
  EXPECT_FALSE(OsStatusToJson(OsStatus{}).contains("nextWindowStart"));

  EXPECT_EQ(OsStatusFromJson({{"total", "five"}}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(OsStatusFromJson({{"nextWindowStart", "tomorrow"}}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(OsStatusFromJson({{"conditions", {{{"status", "True"}}}}}).status().code(),
            StatusCode::kInvalidArgument);  // a condition without a type
  EXPECT_EQ(OsStatusFromJson("text").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kubeos::rollout

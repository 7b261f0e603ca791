// The drain planner: kubectl's filters per evictpodforce, and the rounds (Retry-After, deletion awaited,
// deadline and escalation).
#include "proxy/drain.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace kubeos::node {
namespace {

using nlohmann::json;

PodView Pod(const std::string& name, const std::string& controller = "ReplicaSet") {
  PodView p;
  p.ns = "ns";
  p.name = name;
  p.uid = "uid-" + name;
  p.phase = "Running";
  p.controller_kind = controller;
  p.controller_name = controller.empty() ? "" : "owner";
  return p;
}

struct FilterRow {
  const char* name;
  PodView pod;
  PodClass without_force;
  PodClass with_force;
};

class FilterTest : public ::testing::TestWithParam<FilterRow> {};

TEST_P(FilterTest, MatchesKubectl) {
  const FilterRow& r = GetParam();
  EXPECT_EQ(ClassifyPod(r.pod, false).cls, r.without_force) << ClassifyPod(r.pod, false).reason;
  EXPECT_EQ(ClassifyPod(r.pod, true).cls, r.with_force) << ClassifyPod(r.pod, true).reason;
}

PodView With(PodView p, auto f) {
  f(p);
  return p;
}

const FilterRow kFilterRows[] = {
    {"ReplicaSetPod", Pod("rs"), PodClass::kEvict, PodClass::kEvict},
    {"DaemonSetPodIgnored", Pod("ds", "DaemonSet"), PodClass::kIgnoreDaemonSet, PodClass::kIgnoreDaemonSet},
    {"FinishedDaemonSetPodEvicted", With(Pod("ds", "DaemonSet"), [](PodView& p) { p.phase = "Succeeded"; }),
     PodClass::kEvict, PodClass::kEvict},
    {"OrphanedDaemonSetPod", With(Pod("ds", "DaemonSet"), [](PodView& p) { p.controller_missing = true; }),
     PodClass::kRefuse, PodClass::kEvict},
    {"MirrorSkipped", With(Pod("static", ""), [](PodView& p) { p.mirror = true; }), PodClass::kSkipMirror,
     PodClass::kSkipMirror},
    {"EmptyDirManaged", With(Pod("cache"), [](PodView& p) { p.empty_dir = true; }), PodClass::kRefuse,
     PodClass::kEvict},
    {"EmptyDirFinished",
     With(Pod("cache"),
          [](PodView& p) {
            p.empty_dir = true;
            p.phase = "Failed";
          }),
     PodClass::kEvict, PodClass::kEvict},
    {"Unmanaged", Pod("bare", ""), PodClass::kRefuse, PodClass::kEvict},
    {"UnmanagedFinished", With(Pod("bare", ""), [](PodView& p) { p.phase = "Succeeded"; }), PodClass::kEvict,
     PodClass::kEvict},
    {"EmptyDirDaemonSetIgnoredFirst", With(Pod("ds", "DaemonSet"), [](PodView& p) { p.empty_dir = true; }),
     PodClass::kIgnoreDaemonSet, PodClass::kIgnoreDaemonSet},
    {"JobPod", Pod("job", "Job"), PodClass::kEvict, PodClass::kEvict},
};

INSTANTIATE_TEST_SUITE_P(Table, FilterTest, ::testing::ValuesIn(kFilterRows),
                         [](const auto& row) { return std::string(row.param.name); });

TEST(PodViewFromJson, ReadsWhatTheFiltersNeed) {
  json pod = {
      {"metadata",
       {{"namespace", "a"},
        {"name", "p"},
        {"uid", "u"},
        {"deletionTimestamp", "2027-01-15T08:00:00Z"},
        {"annotations", {{"kubernetes.io/config.mirror", "x"}}},
        {"ownerReferences", json::array({{{"kind", "Node"}, {"name", "n"}},
                                         {{"kind", "DaemonSet"}, {"name", "d"}, {"controller", true}}})}}},
      {"spec",
       {{"volumes", json::array({{{"name", "c"}, {"configMap", json::object()}},
                                 {{"name", "e"}, {"emptyDir", json::object()}}})}}},
      {"status", {{"phase", "Running"}}}};
  StatusOr<PodView> v = PodViewFromJson(pod);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->Key(), "a/p");
  EXPECT_EQ(v->uid, "u");
  EXPECT_EQ(v->deletion_deadline, 1800000000) << "2027-01-15T08:00:00Z";
  EXPECT_TRUE(v->mirror);
  EXPECT_EQ(v->controller_kind, "DaemonSet");
  EXPECT_EQ(v->controller_name, "d");
  EXPECT_TRUE(v->empty_dir);
  EXPECT_FALSE(PodViewFromJson(json::array()).ok());
}

constexpr int64_t kNow = 1'000'000;

TEST(PlanDrainRound, RefusalFailsBeforeAnyEviction) {
  DrainRound r =
      PlanDrainRound({Pod("rs"), Pod("bare", "")}, {.evictpodforce = false, .deadline = kNow + 60}, {}, kNow);
  EXPECT_TRUE(r.refused);
  EXPECT_TRUE(r.evict.empty());
  ASSERT_EQ(r.refusals.size(), 1U);
  EXPECT_NE(r.message.find("ns/bare"), std::string::npos);
}

TEST(PlanDrainRound, DoneWhenOnlyIgnoredPodsRemain) {
  PodView mirror = Pod("static", "");
  mirror.mirror = true;
  DrainRound r = PlanDrainRound({Pod("ds", "DaemonSet"), mirror}, {.deadline = kNow + 60}, {}, kNow);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.remaining, 0);
}

TEST(PlanDrainRound, EvictsDuePodsAndAwaitsTerminatingOnes) {
  PodView terminating = Pod("going");
  terminating.deletion_deadline = kNow + 30;
  DrainMemory mem;
  mem["uid-later"].next_attempt = kNow + 3;
  DrainRound r = PlanDrainRound({Pod("now"), terminating, Pod("later")}, {.deadline = kNow + 60}, mem, kNow);
  EXPECT_FALSE(r.done);
  EXPECT_EQ(r.remaining, 3);
  ASSERT_EQ(r.evict.size(), 1U);
  EXPECT_EQ(r.evict[0].name, "now");
  EXPECT_EQ(r.next_check, kNow + 2) << "re-list at least every kMaxRoundSeconds";
}

TEST(PlanDrainRound, StuckTerminatingPodIsAProblem) {
  PodView stuck = Pod("stuck");
  stuck.deletion_deadline = kNow - kStuckTerminatingSeconds - 1;
  DrainRound r = PlanDrainRound({stuck}, {.deadline = kNow + 60}, {}, kNow);
  ASSERT_EQ(r.problems.size(), 1U);
  EXPECT_NE(r.problems[0].find("still terminating"), std::string::npos);
}

TEST(PlanDrainRound, DeadlineAbortsByDefault) {
  DrainMemory mem;
  mem["uid-blocked"].last_error = "Cannot evict pod as it would violate the pod's disruption budget.";
  DrainRound r = PlanDrainRound({Pod("blocked")}, {.evictpodforce = true, .deadline = kNow}, mem, kNow);
  EXPECT_TRUE(r.abort);
  EXPECT_TRUE(r.evict.empty());
  EXPECT_NE(r.message.find("ns/blocked"), std::string::npos);
  EXPECT_NE(r.message.find("disruption budget"), std::string::npos);
}

TEST(PlanDrainRound, DeleteEscalationNeedsEvictpodforce) {
  DrainPolicy p{.evictpodforce = false, .deadline = kNow, .escalation = Escalation::kDelete};
  EXPECT_TRUE(PlanDrainRound({Pod("blocked")}, p, {}, kNow).abort);
  p.evictpodforce = true;
  DrainRound r = PlanDrainRound({Pod("blocked")}, p, {}, kNow);
  EXPECT_FALSE(r.abort);
  ASSERT_EQ(r.remove.size(), 1U);
  DrainMemory mem;
  mem["uid-blocked"].deleted_at = kNow;
  EXPECT_TRUE(PlanDrainRound({Pod("blocked")}, p, mem, kNow + 1).remove.empty()) << "deleted once";
  EXPECT_TRUE(PlanDrainRound({Pod("blocked")}, p, mem, kNow + kEscalationGraceSeconds).abort)
      << "a pod that does not go even when deleted ends the drain";
}

TEST(RecordEviction, HonoursRetryAfterAndBacksOff) {
  DrainMemory mem;
  PodView p = Pod("x");
  Status pdb(StatusCode::kResourceExhausted,
             "Cannot evict pod as it would violate the pod's disruption budget.");
  RecordEviction(mem, p, pdb, kNow);
  EXPECT_EQ(mem[p.uid].next_attempt, kNow + kPdbRetrySeconds);
  Status with_hint = pdb;
  with_hint.set_retry_after(std::chrono::milliseconds(10'500));
  RecordEviction(mem, p, with_hint, kNow);
  EXPECT_EQ(mem[p.uid].next_attempt, kNow + 11);
  DrainMemory other;
  for (int i = 0; i < 10; ++i) RecordEviction(other, p, UnavailableError("etcd"), kNow);
  EXPECT_EQ(other[p.uid].next_attempt, kNow + kMaxEvictionBackoffSeconds);
  RecordEviction(other, p, Status::Ok(), kNow);
  EXPECT_TRUE(other[p.uid].last_error.empty());
  EXPECT_EQ(other[p.uid].evicted_at, kNow);
}

}  // namespace
}  // namespace kubeos::node

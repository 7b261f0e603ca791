// os-operator parity with the original (kubeos-original-behaviour.md §1–2) on a real kube-apiserver: the
// real binary runs as a process, the test creates Nodes and OSInstances and plays os-proxy
// (operator_fixture.h). Proves: node selection by upgrade.openeuler.org/node-selector (a value, no-label
// and its default, "", all-label) with control-plane nodes never selected; two OS objects with one selector
// are a reported conflict that assigns nothing; time windows in both formats, a daily one wrapping past
// midnight, read in an IANA zone (the OS's timezone or the operator's --time-zone), with the next start in
// status; timeinterval spacing serial batches; a percentage maxunavailable; rollback, the
// grub.cmdline.current/next swap for upgrade and rollback, and the copy-when-version-differs rule for
// sysconfigs and upgradeconfigs.
//
// Time windows cannot wait for the clock, so each window is placed relative to now: one that contains now
// must proceed, one that does not must assign nothing and publish its next start, computed here
// independently of the operator's tz library from zones with a fixed UTC offset.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <set>
#include <thread>

#include "api/os.h"
#include "harness/cluster_gtest.h"
#include "operator_fixture.h"
#include "operator_test_base.h"

namespace kubeos::testing {

ControlPlaneOptions TestClusterOptions() { return {}; }  // kube-apiserver and etcd are enough

namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kControlPlane = "node-role.kubernetes.io/control-plane";
constexpr std::int64_t kHour = 3600;
constexpr std::int64_t kDay = 24 * kHour;

std::set<std::string> Assigned(const Fleet& f) {
  std::set<std::string> out;
  for (const auto& [node, when] : f.Assignments()) out.insert(node);
  return out;
}

std::int64_t NowUnix() {
  return std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The broken-down wall clock of a UTC instant shifted by `offset_s` (a fixed-offset zone).
std::tm WallClock(std::int64_t unix_s, std::int64_t offset_s) {
  const auto t = static_cast<std::time_t>(unix_s + offset_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm;
}
std::string Rfc3339(std::int64_t unix_s) {
  const std::tm tm = WallClock(unix_s, 0);
  std::array<char, 32> buf{};
  return {buf.data(), std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm)};
}

// A zone whose UTC offset has not changed in decades, so the test can compute its wall clock itself.
struct FixedZone {
  const char* name;
  std::int64_t offset_s;
};

// Seconds from local time-of-day `unix_s` to the next local midnight.
std::int64_t ToMidnight(std::int64_t unix_s, const FixedZone& z) {
  const std::int64_t tod = (((unix_s + z.offset_s) % kDay) + kDay) % kDay;
  return kDay - tod;
}

// The first zone whose local clock is at least 15 minutes from midnight on either side (the zones are
// hours apart, so one always is).
FixedZone ZoneAwayFromMidnight(std::int64_t unix_s) {
  constexpr std::array<FixedZone, 3> kZones = {
      FixedZone{"Asia/Kolkata", 5 * kHour + 1800},  // IST since 1945
      FixedZone{"Asia/Tokyo", 9 * kHour},           // JST, no DST since 1951
      FixedZone{"America/Phoenix", -7 * kHour},     // MST, no DST since 1968
  };
  for (const FixedZone& z : kZones) {
    const std::int64_t m = ToMidnight(unix_s, z);
    if (m >= 900 && kDay - m >= 900) return z;
  }
  return kZones[0];  // unreachable
}

// "HH:MM:SS" and "YYYY-MM-DD HH:MM:SS" in zone z: the two timewindow formats.
std::string Tod(std::int64_t unix_s, const FixedZone& z) {
  const std::tm tm = WallClock(unix_s, z.offset_s);
  std::array<char, 32> buf{};
  return {buf.data(), std::strftime(buf.data(), buf.size(), "%H:%M:%S", &tm)};
}
std::string Dated(std::int64_t unix_s, const FixedZone& z) {
  const std::tm tm = WallClock(unix_s, z.offset_s);
  std::array<char, 32> buf{};
  return {buf.data(), std::strftime(buf.data(), buf.size(), "%Y-%m-%d %H:%M:%S", &tm)};
}

TEST_F(OperatorTest, NodeSelectorValueNoLabelEmptyAndAllLabelSelectOnlyTheirNodesNeverControlPlane) {
  const ProxyBehaviour b{.work = milliseconds(100)};
  const std::string a = ns_ + "-a";
  Fleet& fa = AddFleet("a", a, 2, b);
  Fleet& fb = AddFleet("b", ns_ + "-b", 2, b);
  Fleet& fn = AddFleet("n", std::nullopt, 1, b);
  // Only .../control-plane excludes; a node labelled .../master alone is selected (as in the original).
  Fleet& fm = AddFleet("m", std::nullopt, 1, b, {{"node-role.kubernetes.io/master", ""}});
  Fleet& fe = AddFleet("e", "", 1, b);
  Fleet& cp_none = AddFleet("cpn", std::nullopt, 1, b, {{kControlPlane, ""}});
  Fleet& cp_a = AddFleet("cpa", a, 1, b, {{kControlPlane, "true"}});  // any value excludes
  OperatorProcess& op = StartOperator("select");
  ASSERT_TRUE(Eventually([&] { return op.Ready(); }, seconds(20)));

  const std::vector<Fleet*> all = {&fa, &fb, &fn, &fm, &fe, &cp_none, &cp_a};
  auto counts = [&] {
    std::vector<std::size_t> c;
    c.reserve(all.size());
    for (const Fleet* f : all) c.push_back(Assigned(*f).size());
    return c;
  };
  auto rollout = [&](const std::string& name, const json& selector, int total) {
    ASSERT_TRUE(client_
                    ->Create(api::OsResource(), ns_,
                             UpgradeOs(name, ns_, "", {{"nodeselector", selector}, {"maxunavailable", 10}}))
                    .ok());
    ASSERT_TRUE(Eventually([&] { return Status(name).value("rollout", "") == "Completed"; }, seconds(30)))
        << name << ": " << Status(name).dump();
    EXPECT_EQ(Status(name).value("total", -1), total) << name;
    EXPECT_EQ(Status(name).value("updated", -1), total) << name;
  };
  // order: a, b, n, m, e, cp_none, cp_a
  rollout("value", a, 2);
  EXPECT_EQ(counts(), (std::vector<std::size_t>{2, 0, 0, 0, 0, 0, 0}));
  rollout("absent", nullptr, 2);  // removed from the object: the CRD default no-label applies
  EXPECT_EQ(GetOs("absent")["spec"].value("nodeselector", ""), "no-label");
  EXPECT_EQ(counts(), (std::vector<std::size_t>{2, 0, 1, 1, 0, 0, 0}));
  rollout("empty", "", 1);  // only nodes whose label value is empty
  EXPECT_EQ(counts(), (std::vector<std::size_t>{2, 0, 1, 1, 1, 0, 0}));
  rollout("all", "all-label", 7);  // every node but the control plane; only b was still on v1
  EXPECT_EQ(counts(), (std::vector<std::size_t>{2, 2, 1, 1, 1, 0, 0}));
  for (const Fleet* f : all) {
    EXPECT_EQ(f->Assignments().size(), Assigned(*f).size()) << "a node was assigned twice";
  }
  for (const Fleet* cp : {&cp_none, &cp_a}) {
    const std::string node = cp->nodes()[0];
    auto n = client_->Get(kube::Resource::Nodes(), "", node);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ((*n)["status"]["nodeInfo"]["osImage"], "KubeOS v1") << node;
    EXPECT_FALSE((*n)["metadata"]["labels"].contains(api::kUpgradingLabel)) << node;
    EXPECT_EQ(OsInstance(node)["spec"].value("nodestatus", ""), "idle") << node;
  }
}

TEST_F(OperatorTest, TwoOsObjectsWithOneSelectorAreAReportedConflictThatAssignsNothing) {
  Fleet& fleet = MakeFleet(3, {.work = milliseconds(100)});
  const std::string other = OtherNamespace();  // conflicts span namespaces
  ASSERT_TRUE(client_->Create(api::OsResource(), ns_, UpgradeOs("first", ns_, ns_)).ok());
  ASSERT_TRUE(client_->Create(api::OsResource(), other, UpgradeOs("second", other, ns_)).ok());
  OperatorProcess& op = StartOperator("conflict");
  ASSERT_TRUE(Eventually([&] { return op.Ready(); }, seconds(20)));
  auto blocked = [&](const std::string& name, const std::string& ns) {
    const json st = Status(name, ns);
    return Condition(st, "Degraded", true) && ConditionReason(st, "Degraded") == "SelectorConflict";
  };
  ASSERT_TRUE(Eventually([&] { return blocked("first", ns_) && blocked("second", other); }, seconds(20)))
      << Status("first").dump() << "\n"
      << Status("second", other).dump();
  const json first = Status("first");
  EXPECT_EQ(first.value("rollout", ""), "Blocked");
  EXPECT_EQ(ConditionReason(first, "Progressing"), "SelectorConflict");
  EXPECT_NE(FindCondition(first, "Degraded")->value("message", "").find(other + "/second"), std::string::npos)
      << first.dump();
  EXPECT_NE(FindCondition(Status("second", other), "Degraded")->value("message", "").find(ns_ + "/first"),
            std::string::npos);
  ASSERT_TRUE(Eventually(
      [&] {
        return EventReasons("first")["SelectorConflict"] == 1 &&
               EventReasons("second", other)["SelectorConflict"] == 1;
      },
      seconds(10)))
      << "no SelectorConflict Event";
  std::this_thread::sleep_for(seconds(2));
  EXPECT_TRUE(fleet.Assignments().empty()) << "assigned despite the conflict";
  EXPECT_EQ(EventReasons("first")["SelectorConflict"], 1) << "the Event repeats on every pass";

  // Two objects that both omit nodeselector both default to no-label: a conflict too.
  for (const char* name : {"quiet-a", "quiet-b"}) {
    ASSERT_TRUE(
        client_->Create(api::OsResource(), ns_, UpgradeOs(name, ns_, "", {{"nodeselector", nullptr}})).ok());
  }
  EXPECT_TRUE(Eventually([&] { return blocked("quiet-a", ns_) && blocked("quiet-b", ns_); }, seconds(20)))
      << Status("quiet-a").dump();

  // Resolving the conflict lets the remaining object proceed.
  ASSERT_TRUE(client_->Delete(api::OsResource(), other, "second").ok());
  ASSERT_TRUE(Eventually([&] { return Status("first").value("rollout", "") == "Completed"; }, seconds(30)))
      << Status("first").dump();
  EXPECT_TRUE(Condition(Status("first"), "Degraded", false));
  EXPECT_EQ(fleet.Finished(), 3);
}

TEST_F(OperatorTest, DailyTimeWindowWrapsPastMidnightInTheOsTimeZone) {
  Fleet& night = AddFleet("night", ns_ + "-night", 2, {.work = milliseconds(100)});
  Fleet& evening = AddFleet("evening", ns_ + "-evening", 2, {.work = milliseconds(100)});
  OperatorProcess& op = StartOperator("daily");  // --time-zone UTC: the OS's timezone must win
  ASSERT_TRUE(Eventually([&] { return op.Ready(); }, seconds(20)));
  const std::int64_t now = NowUnix();
  const FixedZone z = ZoneAwayFromMidnight(now);
  const std::int64_t m = ToMidnight(now, z);  // >= 15 min either side
  auto window = [&](std::int64_t start, std::int64_t end) {
    // A daily window wraps iff its end is before its start on the clock.
    EXPECT_LT(Tod(end, z), Tod(start, z)) << "the test's window does not wrap past midnight";
    return json{
        {"timewindow", {{"starttime", Tod(start, z)}, {"endtime", Tod(end, z)}, {"timezone", z.name}}}};
  };
  std::cout << "[ info     ] zone " << z.name << ", local now " << Dated(now, z) << "\n";

  // Closed: opens halfway to midnight, closes halfway from midnight to this time tomorrow.
  const std::int64_t opens = now + m / 2;
  ASSERT_TRUE(client_
                  ->Create(api::OsResource(), ns_,
                           UpgradeOs("night", ns_, ns_ + "-night", window(opens, now + m + (kDay - m) / 2)))
                  .ok());
  ASSERT_TRUE(Eventually([&] { return Status("night").value("rollout", "") == "Waiting"; }, seconds(20)))
      << Status("night").dump();
  const json st = Status("night");
  EXPECT_EQ(st.value("nextWindowStart", ""), Rfc3339(opens)) << st.dump();
  EXPECT_EQ(ConditionReason(st, "Progressing"), "OutsideTimeWindow");
  std::this_thread::sleep_for(seconds(2));
  EXPECT_TRUE(night.Assignments().empty()) << "assigned outside the window";

  // Open, with now after midnight in the window (23:58 long, its 2-minute gap between now and midnight),
  // by editing the closed one...
  const std::int64_t gap_post = now + m / 2;
  ASSERT_TRUE(client_
                  ->Patch(api::OsResource(), ns_, "night", kube::PatchType::kMerge,
                          {{"spec", window(gap_post + 60, gap_post - 60)}})
                  .ok());
  // ...and with now before midnight in the window (its gap after midnight).
  const std::int64_t gap_pre = now + m + (kDay - m) / 2;
  ASSERT_TRUE(client_
                  ->Create(api::OsResource(), ns_,
                           UpgradeOs("evening", ns_, ns_ + "-evening", window(gap_pre + 60, gap_pre - 60)))
                  .ok());
  for (const char* name : {"night", "evening"}) {
    ASSERT_TRUE(Eventually([&] { return Status(name).value("rollout", "") == "Completed"; }, seconds(30)))
        << name << ": " << Status(name).dump();
    EXPECT_FALSE(Status(name).contains("nextWindowStart")) << Status(name).dump();
  }
  EXPECT_EQ(night.Finished(), 2);
  EXPECT_EQ(evening.Finished(), 2);
}

TEST_F(OperatorTest, DatedTimeWindowIsReadInTheOperatorsDefaultZone) {
  Fleet& fleet = MakeFleet(2, {.work = milliseconds(100)});
  const FixedZone z{"Asia/Kolkata", 5 * kHour + 1800};  // the half hour catches a zone read as whole hours
  OperatorProcess& op = StartOperator("dated", false, z.name);  // the OS names no zone
  ASSERT_TRUE(Eventually([&] { return op.Ready(); }, seconds(20)));
  const std::int64_t now = NowUnix();
  auto window = [&](std::int64_t start, std::int64_t end) {
    return json{{"timewindow", {{"starttime", Dated(start, z)}, {"endtime", Dated(end, z)}}}};
  };
  // A window that has passed: waiting, with no next start.
  ASSERT_TRUE(
      client_->Create(api::OsResource(), ns_, UpgradeOs("dated", ns_, ns_, window(now - 7200, now - 3600)))
          .ok());
  ASSERT_TRUE(Eventually(
      [&] { return ConditionReason(Status("dated"), "Progressing") == "OutsideTimeWindow"; }, seconds(20)))
      << Status("dated").dump();
  EXPECT_EQ(Status("dated").value("rollout", ""), "Waiting");
  EXPECT_FALSE(Status("dated").contains("nextWindowStart")) << Status("dated").dump();
  // A window in an hour: its start in status.
  ASSERT_TRUE(client_
                  ->Patch(api::OsResource(), ns_, "dated", kube::PatchType::kMerge,
                          {{"spec", window(now + 3600, now + 7200)}})
                  .ok());
  ASSERT_TRUE(Eventually([&] { return Status("dated").value("nextWindowStart", "") == Rfc3339(now + 3600); },
                         seconds(20)))
      << Status("dated").dump();
  std::this_thread::sleep_for(seconds(2));
  EXPECT_TRUE(fleet.Assignments().empty()) << "assigned outside the window";
  // A window around now (read as UTC it would lie 4.5 to 6.5 hours ahead): proceeds.
  ASSERT_TRUE(client_
                  ->Patch(api::OsResource(), ns_, "dated", kube::PatchType::kMerge,
                          {{"spec", window(now - 3600, now + 3600)}})
                  .ok());
  ASSERT_TRUE(Eventually([&] { return Status("dated").value("rollout", "") == "Completed"; }, seconds(30)))
      << Status("dated").dump();
  EXPECT_FALSE(Status("dated").contains("nextWindowStart"));
  // Bounds in two formats: rejected as the original does, reported in status and by one Event.
  ASSERT_TRUE(client_
                  ->Patch(api::OsResource(), ns_, "dated", kube::PatchType::kMerge,
                          {{"spec", {{"timewindow", {{"starttime", Tod(now - 3600, z)}}}}}})
                  .ok());
  ASSERT_TRUE(
      Eventually([&] { return ConditionReason(Status("dated"), "Degraded") == "InvalidSpec"; }, seconds(20)))
      << Status("dated").dump();
  EXPECT_NE(FindCondition(Status("dated"), "Degraded")->value("message", "").find("same format"),
            std::string::npos)
      << Status("dated").dump();
  EXPECT_TRUE(Eventually([&] { return EventReasons("dated")["InvalidSpec"] == 1; }, seconds(10)));
  std::this_thread::sleep_for(seconds(2));  // a few more passes: the Event is not repeated
  EXPECT_EQ(EventReasons("dated")["InvalidSpec"], 1);
}

TEST_F(OperatorTest, TimeIntervalSpacesSerialBatches) {
  constexpr int kInterval = 4;
  Fleet& fleet = MakeFleet(4, {.work = milliseconds(200)});
  OperatorProcess& op = StartOperator("interval");
  ASSERT_TRUE(Eventually([&] { return op.Ready(); }, seconds(20)));
  ASSERT_TRUE(
      client_
          ->Create(
              api::OsResource(), ns_,
              UpgradeOs("paced", ns_, ns_,
                        {{"executionmode", "serial"}, {"maxunavailable", 2}, {"timeinterval", kInterval}}))
          .ok());
  // Between the two batches of two: waiting, with the finished batch's time in status.
  ASSERT_TRUE(Eventually([&] { return ConditionReason(Status("paced"), "Progressing") == "SerialInterval"; },
                         seconds(20)))
      << Status("paced").dump();
  const json between = Status("paced");
  EXPECT_EQ(between.value("rollout", ""), "Waiting");
  EXPECT_TRUE(between.contains("serialBatchFinishedAt")) << between.dump();
  EXPECT_EQ(between.value("updated", -1), 2);
  ASSERT_TRUE(Eventually([&] { return Status("paced").value("rollout", "") == "Completed"; }, seconds(30)))
      << Status("paced").dump();

  auto assigned = fleet.Assignments();
  auto finished = fleet.Finishes();
  ASSERT_EQ(assigned.size(), 4U);
  ASSERT_EQ(finished.size(), 4U);
  std::sort(finished.begin(), finished.end());
  auto gap_s = [&](std::size_t assignment, std::size_t finish) {
    return std::chrono::duration<double>(assigned[assignment].second - finished[finish]).count();
  };
  std::cout << "[ figures  ] serial gaps s: in batch " << gap_s(1, 0) << ", between batches " << gap_s(2, 1)
            << " (timeinterval " << kInterval << "), in batch " << gap_s(3, 2) << "\n";
  EXPECT_LT(gap_s(1, 0), 1.5) << "the next node of a batch waited";
  EXPECT_LT(gap_s(3, 2), 1.5) << "the next node of a batch waited";
  // Batch finish times are recorded in whole seconds, so the gap is at least timeinterval - 1.
  EXPECT_GE(gap_s(2, 1), kInterval - 1.0) << "the next batch did not wait timeinterval";
  EXPECT_LT(gap_s(2, 1), kInterval + 2.5) << "the next batch waited for a resync, not the interval";
  EXPECT_EQ(fleet.MaxWorking(), 1);
}

TEST_F(OperatorTest, PercentageMaxUnavailableIsResolvedAgainstTheSelectedNodes) {
  const ProxyBehaviour b{.work = milliseconds(500)};
  Fleet& half = AddFleet("half", ns_ + "-half", 7, b);     // 50% of 7: 3 (rounded down)
  Fleet& tenth = AddFleet("tenth", ns_ + "-tenth", 3, b);  // 10% of 3: 0.3, at least 1
  OperatorProcess& op = StartOperator("percent");
  ASSERT_TRUE(Eventually([&] { return op.Ready(); }, seconds(20)));
  ASSERT_TRUE(
      client_
          ->Create(api::OsResource(), ns_, UpgradeOs("half", ns_, ns_ + "-half", {{"maxunavailable", "50%"}}))
          .ok());
  ASSERT_TRUE(client_
                  ->Create(api::OsResource(), ns_,
                           UpgradeOs("tenth", ns_, ns_ + "-tenth", {{"maxunavailable", "10%"}}))
                  .ok());
  for (const char* name : {"half", "tenth"}) {
    ASSERT_TRUE(Eventually([&] { return Status(name).value("rollout", "") == "Completed"; }, seconds(40)))
        << name << ": " << Status(name).dump();
  }
  EXPECT_EQ(GetOs("half")["spec"]["maxunavailable"], "50%") << "stored as written";
  EXPECT_EQ(half.MaxWorking(), 3);
  EXPECT_EQ(tenth.MaxWorking(), 1);
  EXPECT_EQ(half.Finished(), 7);
  EXPECT_EQ(tenth.Finished(), 3);
}

TEST_F(OperatorTest, UpgradeAndRollbackSwapGrubCurrentAndNextAndCopyConfigsWhenVersionsDiffer) {
  Fleet& up = AddFleet("up", ns_ + "-up", 2, {.work = milliseconds(100), .upgrade_to = "KubeOS v2"});
  Fleet& back = AddFleet("back", ns_ + "-back", 2, {.work = milliseconds(100), .upgrade_to = "KubeOS v0"});
  const json sys = {
      {"version", "s9"},
      {"configs",
       {{{"model", "grub.cmdline.current"}, {"contents", {{{"key", "quiet"}}}}},
        {{"model", "grub.cmdline.next"}, {"contents", {{{"key", "nosmt"}, {"value", ""}}}}},
        {{"model", "kernel.sysctl"}, {"contents", {{{"key", "vm.swappiness"}, {"value", 10}}}}}}}};
  json swapped = sys;
  swapped["configs"][0]["model"] = "grub.cmdline.next";
  swapped["configs"][1]["model"] = "grub.cmdline.current";
  const json upcfg = {
      {"version", "u9"},
      {"configs",
       {{{"model", "kernel.sysctl"}, {"contents", {{{"key", "net.ipv4.ip_forward"}, {"value", 1}}}}}}}};
  // Already at the OS's versions on one node each: the original copies only when the version differs.
  const json old_sys = {
      {"version", "s9"},
      {"configs", {{{"model", "kernel.sysctl"}, {"contents", {{{"key", "keep"}, {"value", 1}}}}}}}};
  const json old_up = {{"version", "u9"}, {"configs", json::array()}};
  ASSERT_TRUE(client_
                  ->Patch(api::OsInstanceResource(), "default", back.nodes()[1], kube::PatchType::kMerge,
                          {{"spec", {{"sysconfigs", old_sys}}}})
                  .ok());
  ASSERT_TRUE(client_
                  ->Patch(api::OsInstanceResource(), "default", up.nodes()[1], kube::PatchType::kMerge,
                          {{"spec", {{"upgradeconfigs", old_up}}}})
                  .ok());
  OperatorProcess& op = StartOperator("swap");
  ASSERT_TRUE(Eventually([&] { return op.Ready(); }, seconds(20)));
  const json configs = {{"sysconfigs", sys}, {"upgradeconfigs", upcfg}};
  ASSERT_TRUE(client_->Create(api::OsResource(), ns_, UpgradeOs("up", ns_, ns_ + "-up", configs)).ok());
  json rollback = configs;
  rollback.update({{"opstype", "rollback"}, {"osversion", "KubeOS v0"}});
  ASSERT_TRUE(client_->Create(api::OsResource(), ns_, UpgradeOs("back", ns_, ns_ + "-back", rollback)).ok());
  for (const char* name : {"up", "back"}) {
    ASSERT_TRUE(Eventually([&] { return Status(name).value("rollout", "") == "Completed"; }, seconds(30)))
        << name << ": " << Status(name).dump();
  }
  EXPECT_EQ(Status("back").value("target", ""), "KubeOS v0");

  const auto up_specs = up.SpecAtAssignment();
  const auto back_specs = back.SpecAtAssignment();
  ASSERT_EQ(up_specs.size(), 2U);
  ASSERT_EQ(back_specs.size(), 2U);
  for (const auto& [fleet, specs, os] :
       {std::tuple{&up, &up_specs, "up"}, std::tuple{&back, &back_specs, "back"}}) {
    for (const std::string& node : fleet->nodes()) {
      const json& spec = specs->at(node);
      EXPECT_EQ(spec.value("nodestatus", ""), "upgrade") << node << " (rollback uses upgrade too)";
      EXPECT_EQ(spec["namespacedname"], json({{"name", os}, {"namespace", ns_}})) << node;
    }
    ASSERT_EQ(fleet->LabelsAtFinish().size(), 2U) << os;
    for (const auto& [node, labels] : fleet->LabelsAtFinish()) {
      EXPECT_TRUE(labels.contains(api::kUpgradingLabel)) << node << " " << labels.dump();
      EXPECT_FALSE(labels.contains(api::kConfiguringLabel)) << node;
    }
  }
  // Versions differ: deep copies, grub current and next swapped (both directions) for upgrade and rollback.
  EXPECT_EQ(up_specs.at(up.nodes()[0])["sysconfigs"], swapped);
  EXPECT_EQ(up_specs.at(up.nodes()[0])["upgradeconfigs"], upcfg);
  EXPECT_EQ(up_specs.at(up.nodes()[1])["sysconfigs"], swapped);
  EXPECT_EQ(back_specs.at(back.nodes()[0])["sysconfigs"], swapped);
  EXPECT_EQ(back_specs.at(back.nodes()[0])["upgradeconfigs"], upcfg);
  EXPECT_EQ(back_specs.at(back.nodes()[1])["upgradeconfigs"], upcfg);
  // Versions equal: left as they were.
  EXPECT_EQ(up_specs.at(up.nodes()[1])["upgradeconfigs"], old_up);
  EXPECT_EQ(back_specs.at(back.nodes()[1])["sysconfigs"], old_sys);
  for (const std::string& node : back.nodes()) {
    auto n = client_->Get(kube::Resource::Nodes(), "", node);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ((*n)["status"]["nodeInfo"]["osImage"], "KubeOS v0");
  }
  const std::string m = op.Metrics();
  EXPECT_NE(m.find("kubeos_assignments_total{os=\"" + ns_ + "/back\",action=\"rollback\"} 2\n"),
            std::string::npos)
      << m;
  ASSERT_TRUE(Eventually([&] { return EventReasons("back")["Assigned"] == 2; }, seconds(10)));
  for (const std::string& msg : EventMessages("back", "Assigned")) {
    EXPECT_NE(msg.find("rollback to KubeOS v0"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace kubeos::testing

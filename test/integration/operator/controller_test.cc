// os-operator end to end on a real kube-apiserver: the real binary runs as a process; the test creates the
// Nodes and OSInstances and plays os-proxy (operator_fixture.h), while a checker watches every OSInstance
// revision. Proves: maxunavailable is never exceeded and a freed slot is refilled quickly (hand-off
// latency measured), serial mode, config, pause, the automatic halt with badVersions, two replicas with
// leader election (leader killed mid-rollout), node deletion deleting its OSInstance, status in
// `kubectl get os`, Events, /metrics, /healthz and /readyz.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <deque>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "api/os.h"
#include "common/file.h"
#include "harness/cluster_gtest.h"
#include "operator_fixture.h"
#include "operator_test_base.h"

namespace kubeos::testing {

ControlPlaneOptions TestClusterOptions() { return {}; }  // kube-apiserver and etcd are enough

namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Hand-off latencies: the k-th assignment after the first `budget` ones fills the slot freed by the
// (k-budget)-th finish.
std::vector<double> HandOffMs(const Fleet& f, int budget) {
  auto assigned = f.Assignments();
  auto finished = f.Finishes();
  std::sort(finished.begin(), finished.end());
  std::vector<double> out;
  for (std::size_t k = static_cast<std::size_t>(budget); k < assigned.size(); ++k) {
    const std::size_t freed = k - static_cast<std::size_t>(budget);
    if (freed >= finished.size()) break;
    out.push_back(std::chrono::duration<double, std::milli>(assigned[k].second - finished[freed]).count());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST_F(OperatorTest, ParallelRolloutRespectsMaxUnavailableRefillsFreedSlotsAndReports) {
  constexpr int kNodes = 10;
  constexpr int kBudget = 2;
  Fleet& fleet = MakeFleet(kNodes, {.work = milliseconds(300)});
  OperatorProcess& op = StartOperator("solo");
  ASSERT_TRUE(Eventually([&] { return op.Ready(); }, seconds(20))) << "never ready";
  EXPECT_EQ(HttpGet(op.health_port, "/healthz").first, 200);
  EXPECT_EQ(HttpGet(op.health_port, "/nope").first, 404);

  json sys = {{"version", "s2"},
              {"configs",
               {{{"model", "grub.cmdline.current"}, {"contents", {{{"key", "quiet"}}}}},
                {{"model", "kernel.sysctl"}, {"contents", {{{"key", "vm.swappiness"}, {"value", 10}}}}}}}};
  json up = {{"version", "u2"},
             {"configs", {{{"model", "kernel.sysctl"}, {"contents", {{{"key", "a"}, {"value", 1}}}}}}}};
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(
      client_
          ->Create(api::OsResource(), ns_,
                   UpgradeOs("fleet", ns_, ns_,
                             {{"maxunavailable", kBudget}, {"sysconfigs", sys}, {"upgradeconfigs", up}}))
          .ok());
  ASSERT_TRUE(Eventually([&] { return Status("fleet").value("rollout", "") == "Completed"; }, seconds(60)))
      << Status("fleet").dump();
  const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  EXPECT_EQ(fleet.Finished(), kNodes);
  EXPECT_EQ(fleet.MaxWorking(), kBudget) << "budget exceeded (or never used)";
  EXPECT_EQ(fleet.Assignments().size(), static_cast<std::size_t>(kNodes)) << "a node was assigned twice";
  const std::vector<double> lat = HandOffMs(fleet, kBudget);
  ASSERT_EQ(lat.size(), static_cast<std::size_t>(kNodes - kBudget));
  const double p50 = lat[lat.size() / 2];
  const double max = lat.back();
  std::cout << "[ figures  ] hand-off latency ms: min " << lat.front() << " p50 " << p50 << " max " << max
            << "; rollout of " << kNodes << " nodes (budget " << kBudget << ", 300 ms work) " << total_s
            << " s\n";
  EXPECT_LT(p50, 500.0);
  EXPECT_LT(max, 1500.0) << "a freed slot waited for a resync instead of an event";

  // Status and printer columns.
  const json status = Status("fleet");
  EXPECT_EQ(status.value("total", -1), kNodes);
  EXPECT_EQ(status.value("updated", -1), kNodes);
  EXPECT_EQ(status.value("inProgress", -1), 0);
  EXPECT_EQ(status.value("observedGeneration", -1), GetOs("fleet")["metadata"].value("generation", -2));
  EXPECT_TRUE(Condition(status, "Completed", true)) << status.dump();
  auto kubectl = RunProgram({(TestCluster().bin_dir() / "kubectl").string(), "--kubeconfig",
                             TestCluster().admin_kubeconfig().string(), "get", "os", "-n", ns_, "fleet"},
                            milliseconds(20000));
  ASSERT_TRUE(kubectl.ok());
  std::cout << kubectl->output;
  EXPECT_NE(kubectl->output.find("ROLLOUT"), std::string::npos) << kubectl->output;
  EXPECT_NE(kubectl->output.find("Completed   10      10"), std::string::npos) << kubectl->output;

  // What the assignment wrote (deep copies, grub current/next swapped for upgrade) and the labels used.
  auto osi = client_->Get(api::OsInstanceResource(), "default", fleet.nodes()[0]);
  ASSERT_TRUE(osi.ok());
  EXPECT_EQ((*osi)["spec"]["upgradeconfigs"], up);
  EXPECT_EQ((*osi)["spec"]["sysconfigs"]["configs"][0]["model"], "grub.cmdline.next");
  EXPECT_EQ((*osi)["spec"]["sysconfigs"]["configs"][1], sys["configs"][1]);
  EXPECT_EQ((*osi)["spec"]["namespacedname"], json({{"name", "fleet"}, {"namespace", ns_}}));
  for (const auto& [node, labels] : fleet.LabelsAtFinish()) {
    EXPECT_TRUE(labels.contains(api::kUpgradingLabel)) << node << " " << labels.dump();
  }

  // Events and metrics.
  ASSERT_TRUE(Eventually([&] { return EventReasons("fleet")["RolloutCompleted"] == 1; }, seconds(10)));
  auto reasons = EventReasons("fleet");
  EXPECT_EQ(reasons["Assigned"], kNodes);
  EXPECT_EQ(reasons["NodeUpdated"], kNodes);
  const std::string m = op.Metrics();
  const std::string key = ns_ + "/fleet";
  EXPECT_NE(m.find("kubeos_os_nodes{os=\"" + key + "\",state=\"updated\"} 10\n"), std::string::npos) << m;
  EXPECT_NE(m.find("kubeos_assignments_total{os=\"" + key + "\",action=\"upgrade\"} 10\n"), std::string::npos)
      << m;
  EXPECT_NE(m.find("\nkubeos_leader 1\n"), std::string::npos);
  EXPECT_NE(m.find("\nkubeos_caches_synced 1\n"), std::string::npos);
  const std::string requests_key = "\nkubeos_api_requests_total{client=\"main\"} ";
  const auto at = m.find(requests_key);
  ASSERT_NE(at, std::string::npos) << m;
  // At least the two planning writes per node plus the lists and watches of three caches.
  EXPECT_GE(std::stoll(m.substr(at + requests_key.size())), 2 * kNodes + 6) << m;
  EXPECT_EQ(m.find("kubeos_reconcile_total{result=\"success\"} 0\n"), std::string::npos);
}

// With a budget of 1 nothing but the OSInstance event of the finishing node can start the next one (the
// label removal came 150 ms earlier, while the node still counted as working): this measures the
// event-driven hand-off alone. The original waits for its 15 s poll.
TEST_F(OperatorTest, FreedSlotIsRefilledFromTheOsInstanceEventWellUnderASecond) {
  constexpr int kNodes = 6;
  Fleet& fleet = MakeFleet(kNodes, {.work = milliseconds(200)});
  OperatorProcess& op = StartOperator("handoff");
  ASSERT_TRUE(Eventually([&] { return op.Ready(); }, seconds(20)));
  ASSERT_TRUE(
      client_->Create(api::OsResource(), ns_, UpgradeOs("handoff", ns_, ns_, {{"maxunavailable", 1}})).ok());
  ASSERT_TRUE(Eventually([&] { return Status("handoff").value("rollout", "") == "Completed"; }, seconds(60)))
      << Status("handoff").dump();
  EXPECT_EQ(fleet.MaxWorking(), 1);
  const std::vector<double> lat = HandOffMs(fleet, 1);
  ASSERT_EQ(lat.size(), static_cast<std::size_t>(kNodes - 1));
  std::cout << "[ figures  ] hand-off latency (budget 1) ms: min " << lat.front() << " p50 "
            << lat[lat.size() / 2] << " max " << lat.back() << "\n";
  EXPECT_LT(lat.back(), 1000.0) << "a freed slot waited for a resync instead of the OSInstance event";
}

TEST_F(OperatorTest, SerialRunsOneNodeAtATimeInLabelledBatches) {
  Fleet& fleet = MakeFleet(4, {.work = milliseconds(200)});
  OperatorProcess& op = StartOperator("serial");
  ASSERT_TRUE(Eventually([&] { return op.Ready(); }, seconds(20)));
  ASSERT_TRUE(client_
                  ->Create(api::OsResource(), ns_,
                           UpgradeOs("serial", ns_, ns_, {{"executionmode", "serial"}, {"timeinterval", 1}}))
                  .ok());
  ASSERT_TRUE(Eventually([&] { return Status("serial").value("rollout", "") == "Completed"; }, seconds(60)))
      << Status("serial").dump();
  EXPECT_EQ(fleet.Finished(), 4);
  EXPECT_EQ(fleet.MaxWorking(), 1) << "serial ran two nodes at once";
  for (const auto& [node, labels] : fleet.LabelsAtFinish()) {
    EXPECT_TRUE(labels.contains(api::kSerialLabel))
        << node << " worked outside a serial batch: " << labels.dump();
  }
  // The finished batches' labels are released.
  ASSERT_TRUE(Eventually(
      [&] {
        for (const std::string& n : fleet.nodes()) {
          auto node = client_->Get(kube::Resource::Nodes(), "", n);
          if (!node.ok() || (*node)["metadata"].value("labels", json::object()).contains(api::kSerialLabel)) {
            return false;
          }
        }
        return true;
      },
      seconds(10)));
}

TEST_F(OperatorTest, ConfigCopiesSysconfigsAndUsesTheConfiguringLabel) {
  Fleet& fleet = MakeFleet(3, {.work = milliseconds(100)});
  OperatorProcess& op = StartOperator("config");
  ASSERT_TRUE(Eventually([&] { return op.Ready(); }, seconds(20)));
  const json sys = {
      {"version", "c1"},
      {"configs",
       {{{"model", "grub.cmdline.current"}, {"contents", {{{"key", "nosmt"}}}}},
        {{"model", "kernel.sysctl"}, {"contents", {{{"key", "net.core.somaxconn"}, {"value", 4096}}}}}}}};
  ASSERT_TRUE(client_
                  ->Create(api::OsResource(), ns_,
                           UpgradeOs("cfg", ns_, ns_,
                                     {{"opstype", "config"},
                                      {"osversion", "KubeOS v1"},
                                      {"maxunavailable", 3},
                                      {"sysconfigs", sys}}))
                  .ok());
  ASSERT_TRUE(Eventually([&] { return Status("cfg").value("rollout", "") == "Completed"; }, seconds(60)))
      << Status("cfg").dump();
  EXPECT_EQ(Status("cfg").value("target", ""), "c1");
  EXPECT_EQ(fleet.MaxWorking(), 3);
  for (const std::string& n : fleet.nodes()) {
    auto osi = client_->Get(api::OsInstanceResource(), "default", n);
    ASSERT_TRUE(osi.ok());
    EXPECT_EQ((*osi)["spec"]["sysconfigs"], sys) << "config copies verbatim (no grub swap)";
    EXPECT_EQ((*osi)["status"]["sysconfigs"]["version"], "c1");
  }
  for (const auto& [node, labels] : fleet.LabelsAtFinish()) {
    EXPECT_TRUE(labels.contains(api::kConfiguringLabel)) << node << " " << labels.dump();
    EXPECT_FALSE(labels.contains(api::kUpgradingLabel)) << node;
  }
}

TEST_F(OperatorTest, PauseStopsNewAssignmentsUntilLifted) {
  Fleet& fleet = MakeFleet(3, {.work = milliseconds(100)});
  OperatorProcess& op = StartOperator("pause");
  ASSERT_TRUE(Eventually([&] { return op.Ready(); }, seconds(20)));
  ASSERT_TRUE(client_->Create(api::OsResource(), ns_, UpgradeOs("paused", ns_, ns_, {{"pause", true}})).ok());
  ASSERT_TRUE(Eventually([&] { return Status("paused").value("rollout", "") == "Paused"; }, seconds(20)))
      << Status("paused").dump();
  EXPECT_TRUE(Condition(Status("paused"), "Paused", true));
  std::this_thread::sleep_for(seconds(2));
  EXPECT_TRUE(fleet.Assignments().empty()) << "assigned while paused";
  ASSERT_TRUE(
      client_
          ->Patch(api::OsResource(), ns_, "paused", kube::PatchType::kMerge, {{"spec", {{"pause", false}}}})
          .ok());
  ASSERT_TRUE(Eventually([&] { return Status("paused").value("rollout", "") == "Completed"; }, seconds(30)))
      << Status("paused").dump();
  EXPECT_EQ(fleet.Finished(), 3);
  EXPECT_TRUE(Condition(Status("paused"), "Paused", false));
}

TEST_F(OperatorTest, FailedNodeHaltsTheRolloutAndRecordsTheBadVersion) {
  Fleet& fleet = MakeFleet(4, {.work = milliseconds(200), .fail = {ns_ + "-0"}});
  OperatorProcess& op = StartOperator("halt");
  ASSERT_TRUE(Eventually([&] { return op.Ready(); }, seconds(20)));
  ASSERT_TRUE(client_
                  ->Create(api::OsResource(), ns_,
                           UpgradeOs("halting", ns_, ns_, {{"maxunavailable", 1}, {"failurethreshold", 1}}))
                  .ok());
  ASSERT_TRUE(Eventually([&] { return Status("halting").value("rollout", "") == "Halted"; }, seconds(30)))
      << Status("halting").dump();
  const json status = Status("halting");
  ASSERT_EQ(status.value("badVersions", json::array()).size(), 1U) << status.dump();
  EXPECT_EQ(status["badVersions"][0]["version"], "KubeOS v2");
  EXPECT_EQ(status.value("failed", -1), 1);
  EXPECT_EQ(status["failingNodes"][0]["name"], ns_ + "-0");
  EXPECT_TRUE(Condition(status, "Degraded", true));
  std::this_thread::sleep_for(seconds(2));
  EXPECT_EQ(fleet.Assignments().size(), 1U) << "assigned after the halt";
  ASSERT_TRUE(Eventually([&] { return EventReasons("halting")["Halted"] == 1; }, seconds(10)));
  EXPECT_EQ(EventReasons("halting")["NodeFailed"], 1);
  EXPECT_NE(op.Metrics().find("kubeos_os_halted{os=\"" + ns_ + "/halting\"} 1\n"), std::string::npos);
}

TEST_F(OperatorTest, TwoReplicasNeverExceedTheBudgetAndHandOverWhenTheLeaderDies) {
  constexpr int kNodes = 12;
  constexpr int kBudget = 2;
  Fleet& fleet = MakeFleet(kNodes, {.work = milliseconds(400)});
  // A Lease per test: an earlier leader's record must not delay this one.
  OperatorProcess& a = StartOperator("replica-a", true);
  ASSERT_TRUE(Eventually([&] { return a.Leader(); }, seconds(20))) << "replica-a never led";
  OperatorProcess& b = StartOperator("replica-b", true);
  ASSERT_TRUE(Eventually([&] { return b.Ready(); }, seconds(20))) << "standby not ready";
  EXPECT_FALSE(b.Leader());
  ASSERT_TRUE(
      client_->Create(api::OsResource(), ns_, UpgradeOs("ha", ns_, ns_, {{"maxunavailable", kBudget}})).ok());
  ASSERT_TRUE(Eventually([&] { return fleet.Finished() >= 3; }, seconds(30)));
  EXPECT_FALSE(b.Leader()) << "two leaders";
  ASSERT_GT(a.proc->pid(), 0);
  ASSERT_EQ(kill(a.proc->pid(), SIGKILL), 0);  // no release: b must wait out the lease
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_TRUE(Eventually([&] { return b.Leader(); }, seconds(20))) << "replica-b never took over";
  const double takeover_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  ASSERT_TRUE(Eventually([&] { return Status("ha").value("rollout", "") == "Completed"; }, seconds(60)))
      << Status("ha").dump();
  std::cout << "[ figures  ] leader killed; standby planned after " << takeover_s << " s (lease 3 s)\n";
  EXPECT_EQ(fleet.Finished(), kNodes);
  EXPECT_EQ(fleet.MaxWorking(), kBudget) << "budget exceeded across the hand-over";
  EXPECT_EQ(fleet.Assignments().size(), static_cast<std::size_t>(kNodes)) << "a node was assigned twice";
}

TEST_F(OperatorTest, RestartedOperatorResumesWithoutExceedingTheBudget) {
  constexpr int kNodes = 8;
  Fleet& fleet = MakeFleet(kNodes, {.work = milliseconds(500)});
  OperatorProcess& first = StartOperator("first");
  ASSERT_TRUE(Eventually([&] { return first.Ready(); }, seconds(20)));
  ASSERT_TRUE(
      client_->Create(api::OsResource(), ns_, UpgradeOs("restart", ns_, ns_, {{"maxunavailable", 3}})).ok());
  ASSERT_TRUE(Eventually([&] { return fleet.Working() == 3; }, seconds(20)));
  ASSERT_GT(first.proc->pid(), 0);
  ASSERT_EQ(kill(first.proc->pid(), SIGKILL), 0);  // mid-rollout, three nodes working
  first.proc->Wait();
  OperatorProcess& second = StartOperator("second");
  ASSERT_TRUE(Eventually([&] { return Status("restart").value("rollout", "") == "Completed"; }, seconds(60)))
      << Status("restart").dump();
  EXPECT_TRUE(second.Ready());
  EXPECT_EQ(fleet.Finished(), kNodes);
  EXPECT_EQ(fleet.MaxWorking(), 3);
  EXPECT_EQ(fleet.Assignments().size(), static_cast<std::size_t>(kNodes));
}

TEST_F(OperatorTest, DeletingANodeDeletesItsOsInstance) {
  // An OSInstance whose node vanished while no operator ran is collected at start-up too.
  json ghost = {{"apiVersion", api::kApiVersion},
                {"kind", "OSInstance"},
                {"metadata",
                 {{"name", ns_ + "-ghost"},
                  {"namespace", "default"},
                  {"labels", {{api::kOsInstanceNodeLabel, ns_ + "-ghost"}}}}},
                {"spec", {{"nodestatus", "idle"}}}};
  ASSERT_TRUE(client_->Create(api::OsInstanceResource(), "default", ghost).ok());
  Fleet& fleet = MakeFleet(2, {});
  OperatorProcess& op = StartOperator("gc");
  ASSERT_TRUE(Eventually([&] { return op.Ready(); }, seconds(20)));
  auto gone = [&](const std::string& name) {
    return client_->Get(api::OsInstanceResource(), "default", name).status().code() == StatusCode::kNotFound;
  };
  EXPECT_TRUE(Eventually([&] { return gone(ns_ + "-ghost"); }, seconds(10))) << "orphan not collected";
  const std::string victim = fleet.nodes()[0];
  ASSERT_TRUE(client_->Delete(kube::Resource::Nodes(), "", victim).ok());
  EXPECT_TRUE(Eventually([&] { return gone(victim); }, seconds(10)))
      << "OSInstance of a deleted node remains";
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_FALSE(gone(fleet.nodes()[1])) << "the other node's OSInstance was deleted";
}

}  // namespace
}  // namespace kubeos::testing

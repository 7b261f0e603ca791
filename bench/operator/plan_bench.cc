// operator_plan_bench: the CPU cost of one planning pass at scale, without a cluster (Google Benchmark).
//   BM_BuildSnapshot/N: mapping N Node + OSInstance JSON objects (kubelet-shaped Nodes) to the planner's
//   views,
//                       what each pass does before Plan;
//   BM_Plan/N:          Plan over that snapshot, mid-rollout (10 % done, maxunavailable 10 %, 5 % working).
// Run: build/release/bench/operator/operator_plan_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "operator/planner.h"
#include "operator/snapshot.h"

namespace {

using kubeos::rollout::JsonPtr;
using nlohmann::json;

json NodeJson(int i, bool done, bool working) {
  json labels = {{"kubernetes.io/hostname", "node-" + std::to_string(i)},
                 {"kubernetes.io/os", "linux"},
                 {"kubernetes.io/arch", "amd64"},
                 {"topology.kubernetes.io/zone", "zone-" + std::to_string(i % 3)}};
  if (working) labels["upgrade.openeuler.org/upgrading"] = "";
  json conditions = json::array();
  for (const char* t : {"MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable"}) {
    conditions.push_back({{"type", t}, {"status", "False"}, {"lastHeartbeatTime", "2026-12-04T00:00:00Z"}});
  }
  conditions.push_back(
      {{"type", "Ready"}, {"status", "True"}, {"lastHeartbeatTime", "2026-12-04T00:00:00Z"}});
  json images = json::array();
  for (int k = 0; k < 12; ++k) {
    images.push_back({{"names", {"registry.local/app-" + std::to_string(k) + "@sha256:0123456789abcdef"}},
                      {"sizeBytes", 123456789}});
  }
  return {{"metadata", {{"name", "node-" + std::to_string(i)}, {"resourceVersion", "1"}, {"labels", labels}}},
          {"spec", {{"podCIDR", "10.0.0.0/24"}}},
          {"status",
           {{"conditions", conditions},
            {"images", images},
            {"nodeInfo", {{"osImage", done ? "KubeOS v2" : "KubeOS v1"}, {"kernelVersion", "6.1.0"}}}}}};
}

struct World {
  json os;
  std::vector<JsonPtr> all_os;
  std::vector<JsonPtr> nodes;
  std::map<std::string, JsonPtr> instances;
};

World MakeWorld(int n) {
  World w;
  w.os = {{"metadata", {{"name", "os"}, {"namespace", "default"}, {"generation", 1}}},
          {"spec",
           {{"opstype", "upgrade"},
            {"osversion", "KubeOS v2"},
            {"maxunavailable", "10%"},
            {"nodeselector", "all-label"}}}};
  w.all_os.push_back(std::make_shared<const json>(w.os));
  for (int i = 0; i < n; ++i) {
    const bool done = i % 10 == 0;
    const bool working = i % 20 == 1;
    w.nodes.push_back(std::make_shared<const json>(NodeJson(i, done, working)));
    json osi = {{"metadata", {{"name", "node-" + std::to_string(i)}, {"namespace", "default"}}},
                {"spec", {{"nodestatus", working ? "upgrade" : "idle"}}}};
    if (working) osi["spec"]["namespacedname"] = {{"name", "os"}, {"namespace", "default"}};
    w.instances["node-" + std::to_string(i)] = std::make_shared<const json>(std::move(osi));
  }
  return w;
}

void BM_BuildSnapshot(benchmark::State& state) {
  const World w = MakeWorld(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto snap = kubeos::rollout::BuildSnapshot(w.os, w.all_os, w.nodes, w.instances, "UTC");
    benchmark::DoNotOptimize(snap);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_BuildSnapshot)->Arg(1000)->Arg(5000)->Unit(benchmark::kMillisecond);

void BM_Plan(benchmark::State& state) {
  const World w = MakeWorld(static_cast<int>(state.range(0)));
  auto snap = kubeos::rollout::BuildSnapshot(w.os, w.all_os, w.nodes, w.instances, "UTC");
  if (!snap.ok()) {
    state.SkipWithError("snapshot");
    return;
  }
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  std::size_t assigned = 0;
  for (auto _ : state) {
    auto plan = kubeos::rollout::Plan(*snap, now);
    assigned = plan.assignments.size();
    benchmark::DoNotOptimize(plan);
  }
  state.counters["assigned"] = static_cast<double>(assigned);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Plan)->Arg(1000)->Arg(5000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

// operator_rollout_bench: a whole rollout of N nodes (default 1,000; KUBEOS_BENCH_NODES) on the real control
// plane, with the test's fake os-proxy (test/integration/operator/operator_fixture.h) finishing nodes after
// KUBEOS_BENCH_WORK_MS (default 1000) and the real os-operator binary planning (maxunavailable 10 %).
// Prints: rollout time against the ideal, hand-off latency p50/p99 (a node set idle -> the next assignment
// observed), operator writes and Events per node, operator API requests per node (every HTTP request of
// the operator during the rollout: reads, writes, Events, watches, retries; kubeos_api_requests_total),
// operator peak RSS. A benchmark, not a test: not in ctest.
//   build/release/bench/operator/operator_rollout_bench
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <regex>
#include <thread>

#include "api/os.h"
#include "common/file.h"
#include "harness/cluster_gtest.h"
#include "operator_fixture.h"

namespace kubeos::testing {

ControlPlaneOptions TestClusterOptions() { return {}; }

namespace {

using nlohmann::json;
using std::chrono::milliseconds;

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read before threads start
  return v == nullptr ? fallback : std::atoi(v);
}

double Counter(const std::string& metrics, const std::string& series) {
  const auto at = metrics.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  return std::strtod(metrics.c_str() + at + series.size() + 2, nullptr);
}

TEST(OperatorRolloutBench, Rollout) {
  const int n = EnvInt("KUBEOS_BENCH_NODES", 1000);
  const int work_ms = EnvInt("KUBEOS_BENCH_WORK_MS", 1000);
  const int budget = std::max(1, n / 10);
  auto cfg = TestCluster().AdminConfig();
  cfg.qps = -1;
  kube::Client client(cfg);
  InstallCrds(client);
  const std::string ns = UniqueTestNamespace();
  ASSERT_TRUE(client.Create(kube::Resource::Namespaces(), "", {{"metadata", {{"name", ns}}}}).ok());
  auto dir = TempDir::Create("rollout-bench");
  ASSERT_TRUE(dir.ok());

  const auto setup = std::chrono::steady_clock::now();
  Fleet fleet(client, "bench", ns, n,
              {.work = milliseconds(work_ms), .upgrade_to = "KubeOS v2", .workers = 32});
  std::cout << "[ bench ] created " << n << " Nodes and OSInstances in "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - setup).count() << " s\n";
  OperatorProcess op = OperatorProcess::Start("bench", dir->path(), false);
  const auto ready_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!op.Ready() && std::chrono::steady_clock::now() < ready_deadline) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(op.Ready());
  json os = {{"apiVersion", api::kApiVersion},
             {"kind", "OS"},
             {"metadata", {{"name", "bench"}, {"namespace", ns}}},
             {"spec",
              {{"opstype", "upgrade"},
               {"osversion", "KubeOS v2"},
               {"imagetype", "disk"},
               {"imageurl", ""},
               {"checksum", ""},
               {"flagSafe", false},
               {"mtls", false},
               {"containerimage", ""},
               {"evictpodforce", false},
               {"maxunavailable", "10%"},
               {"nodeselector", ns}}}};
  const std::string main_key = "kubeos_api_requests_total{client=\"main\"}";
  const std::string events_key = "kubeos_api_requests_total{client=\"events\"}";
  const std::string metrics_before = op.Metrics();
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(client.Create(api::OsResource(), ns, os).ok());
  const auto deadline = start + std::chrono::seconds(600);
  while (fleet.Finished() < n && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(fleet.Finished(), n);
  const std::string metrics = op.Metrics();
  const uint64_t rss = PeakResidentBytes(op.proc->pid());
  (void)op.proc->Stop(milliseconds(5000));

  auto assigned = fleet.Assignments();
  auto finished = fleet.Finishes();
  std::sort(finished.begin(), finished.end());
  std::vector<double> lat;
  for (std::size_t k = static_cast<std::size_t>(budget); k < assigned.size(); ++k) {
    const std::size_t freed = k - static_cast<std::size_t>(budget);
    if (freed < finished.size()) {
      lat.push_back(std::chrono::duration<double, std::milli>(assigned[k].second - finished[freed]).count());
    }
  }
  std::sort(lat.begin(), lat.end());
  const int rounds = (n + budget - 1) / budget;  // waves of `budget` nodes
  const double ideal = static_cast<double>(rounds) * (work_ms + 150) / 1000.0;
  double writes = 0;
  for (const char* kind : {"osinstance", "node", "os_status", "delete", "event"}) {
    writes += Counter(metrics, std::string("kubeos_api_writes_total{kind=\"") + kind + "\"}");
  }
  std::cout << "[ bench ] " << n << " nodes, budget " << budget << ", node work " << work_ms
            << " ms + 150 ms: rollout " << took << " s (ideal " << ideal << " s, x" << took / ideal << ")\n"
            << "[ bench ] max working " << fleet.MaxWorking() << " (budget " << budget << ")\n";
  if (!lat.empty()) {
    std::cout << "[ bench ] hand-off ms: p50 " << lat[lat.size() / 2] << " p99 " << lat[lat.size() * 99 / 100]
              << " max " << lat.back() << "\n";
  }
  // From the OS's creation to the last node finishing. Events are sent at 20/s on their own client and
  // trail the rollout, so the Event figure is what was sent by then, not all of them.
  const double main_requests = Counter(metrics, main_key) - Counter(metrics_before, main_key);
  const double event_requests = Counter(metrics, events_key) - Counter(metrics_before, events_key);
  std::cout << "[ bench ] operator API requests per node during the rollout: "
            << (main_requests + event_requests) / n << " = planning client " << main_requests / n
            << " (reads, writes, watches, lease) + Events sent so far " << event_requests / n << "\n";
  std::cout << "[ bench ] operator writes per node (incl. Events) " << writes / n << "; passes "
            << Counter(metrics, "kubeos_reconcile_duration_seconds_count") << "; peak RSS "
            << static_cast<double>(rss) / (1024.0 * 1024.0) << " MiB\n";
  EXPECT_LE(fleet.MaxWorking(), budget);
  fleet.DeleteAll();
}

}  // namespace
}  // namespace kubeos::testing

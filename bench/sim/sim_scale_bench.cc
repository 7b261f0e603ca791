// Scale benches of the simulated cluster. Whole-run figures, each against its ideal measured or derived in
// the same run:
//   real: N simulated hosts with the production os-agent and os-proxy (small slots), the demo's upgrade phase
//         only; ideal = ceil(N / maxunavailable) waves x the median per-node time of this run.
//   kwok: N kwok nodes with NodeStandIn (one process plays every node side, fixed simulated work W), the
//         production os-operator; ideal = ceil(N / maxunavailable) x W. Also the operator's peak RSS and API
//         writes per node (its /metrics).
#include <curl/curl.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <iostream>
#include <regex>
#include <thread>

#include "api/os.h"
#include "common/file.h"
#include "common/process.h"
#include "sim/cluster.h"
#include "sim/demo.h"
#include "sim/monitor.h"
#include "sim/progress.h"
#include "standin.h"

namespace {

using kubeos::sim::Clock;
using nlohmann::json;

std::filesystem::path BuildSrcDir() {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return self.parent_path().parent_path().parent_path() /
         "src";  // build/<preset>/bench/sim -> build/<preset>/src
}

size_t Append(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

std::string HttpGet(const std::string& url) {
  std::string body;
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_perform(c);
  curl_easy_cleanup(c);
  return body;
}

// Sum of a Prometheus counter over its label sets.
double CounterSum(const std::string& metrics, const std::string& name) {
  double sum = 0;
  std::regex line("^" + name + R"((\{[^}]*\})? ([0-9.eE+]+)$)");
  std::istringstream in(metrics);
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (std::regex_match(l, m, line)) sum += std::stod(m[2]);
  }
  return sum;
}

int RunReal(int nodes, int budget, uint64_t slot_mib, uint64_t payload_mib, const std::string& k8s_bin) {
  kubeos::sim::DemoOptions o{.nodes = nodes,
                             .max_unavailable = budget,
                             .slot_mib = slot_mib,
                             .payload_mib = payload_mib,
                             .build_dir = BuildSrcDir(),
                             .k8s_bin_dir = k8s_bin,
                             .source_dir = KUBEOS_SOURCE_DIR,
                             .phase_timeout = std::chrono::seconds(1800),
                             .rollback = false,
                             .broken = false,
                             .host_events = false};
  std::ostringstream log;
  kubeos::sim::DemoResult r = kubeos::sim::RunDemo(o, log);
  const json& ph = r.summary["phases"].empty() ? json::object() : r.summary["phases"][0];
  double total = ph.value("seconds", 0.0);
  double median = ph.value("node_seconds_median", 0.0);
  double waves = std::ceil(static_cast<double>(nodes) / budget);
  double ideal = waves * median;
  std::cout << fmt::format(
      "real hosts: {} nodes (os-agent + os-proxy each, {} MiB slots, {} MiB payloads), maxunavailable {}\n"
      "  rollout {:.1f} s; per node {:.1f} / {:.1f} / {:.1f} s (min/median/max); ideal {} waves x median = "
      "{:.1f} s; "
      "total/ideal {:.2f}\n  hand-off {}\n  PDB violations {}, over budget {}, left cordoned {}; {}\n",
      nodes, slot_mib, payload_mib, budget, total, ph.value("node_seconds_min", 0.0), median,
      ph.value("node_seconds_max", 0.0), waves, ideal, ideal > 0 ? total / ideal : 0.0,
      ph.value("handoff", ""), ph.value("pdb_violations", -1), ph.value("budget_violations", -1),
      ph.value("cordoned_left", -1), r.ok ? "OK" : "FAILED (log below)");
  if (!r.ok) std::cout << log.str();
  return r.ok ? 0 : 1;
}

int RunKwok(int nodes, int budget, int work_s, int writers, double standin_qps, const std::string& k8s_bin,
            const std::string& work_dir) {
  auto tmp = kubeos::TempDir::Create("sim-scale");
  if (!tmp.ok()) return 1;
  std::filesystem::path dir = work_dir.empty() ? tmp->path() : std::filesystem::path(work_dir);
  std::filesystem::path src = BuildSrcDir();
  kubeos::sim::ClusterOptions co{
      .dir = dir,
      .k8s_bin_dir = k8s_bin,
      .source_dir = KUBEOS_SOURCE_DIR,
      .nodes = nodes,
      .operator_bin = src / "operator" / "os-operator",
      .workloads = false,
      .simulated_hosts = false,
      .on_setup = [](const std::string& s) { std::cerr << "setup: " << s << "\n"; }};
  auto cluster = kubeos::sim::SimCluster::Start(co);
  if (!cluster.ok()) {
    std::cerr << cluster.status().ToString() << "\n";
    return 1;
  }
  kubeos::sim::SimCluster& c = **cluster;
  const std::string target = "KubeOS v2";
  // Its own client and limiter (not shared with the monitor). --standin-qps 0 creates every OSInstance in
  // one burst (a case that once left os-operator's OSInstance informer relisting; not reproduced since).
  kubeos::kube::RestConfig standin_config = c.control_plane().AdminConfig();
  standin_config.qps = standin_qps;
  standin_config.burst = standin_qps > 0 ? static_cast<int>(2 * standin_qps) : 0;
  kubeos::kube::Client standin_client(standin_config);
  kubeos::sim::NodeStandIn standin(standin_client, c.node_names(), target, std::chrono::seconds(work_s),
                                   writers);
  if (auto s = standin.Start(); !s.ok()) {
    std::cerr << s.ToString() << "\n";
    return 1;
  }
  kubeos::sim::ClusterMonitor monitor(c.client(), "default", "kubeos", "none", 0);
  if (auto s = monitor.Start(); !s.ok()) {
    std::cerr << s.ToString() << "\n";
    return 1;
  }
  json os = {{"apiVersion", kubeos::api::kApiVersion},
             {"kind", "OS"},
             {"metadata", {{"name", "kubeos"}, {"namespace", "default"}}},
             {"spec",
              {{"opstype", "upgrade"},
               {"osversion", target},
               {"imagetype", "disk"},
               {"imageurl", "https://images.invalid/v2.img"},
               {"checksum", std::string(64, 'a')},
               {"containerimage", ""},
               {"flagSafe", false},
               {"mtls", false},
               {"maxunavailable", budget},
               {"evictpodforce", true}}}};
  std::string before = HttpGet(c.operator_metrics_url());
  double writes_before = CounterSum(before, "kubeos_api_writes_total");
  Clock::time_point start = Clock::now();
  if (auto s = c.client().Create(kubeos::api::OsResource(), "default", os).status(); !s.ok()) {
    std::cerr << s.ToString() << "\n";
    return 1;
  }
  kubeos::sim::RolloutTracker tracker(target, budget);
  bool done = false;
  auto deadline = start + std::chrono::seconds(std::max(300, 3 * work_s * (nodes / budget + 1)));
  while (Clock::now() < deadline) {
    kubeos::sim::ClusterView v = monitor.WaitForChange(std::chrono::milliseconds(500));
    tracker.Observe(v, Clock::now());
    if (tracker.all_on_target(v) && static_cast<int>(v.nodes.size()) == nodes) {
      done = true;
      break;
    }
  }
  double total = std::chrono::duration<double>(Clock::now() - start).count();
  std::string after = HttpGet(c.operator_metrics_url());
  double writes = CounterSum(after, "kubeos_api_writes_total") - writes_before;
  uint64_t rss = kubeos::PeakResidentBytes(c.operator_pid());
  double waves = std::ceil(static_cast<double>(nodes) / budget);
  double ideal = waves * work_s;
  std::cout << fmt::format(
      "kwok nodes: {} (node side: in-process stand-in, {} s simulated work per node), maxunavailable {}\n"
      "  rollout {:.1f} s; ideal {} waves x {} s = {:.0f} s; total/ideal {:.3f}; {}\n"
      "  hand-off {}\n  over budget {} (max {} unavailable)\n"
      "  os-operator: peak RSS {:.1f} MiB, API writes {:.0f} ({:.2f} per node); stand-in writes {} ({:.1f} "
      "per node), "
      "errors {}\n",
      nodes, work_s, budget, total, waves, work_s, ideal, total / ideal,
      done ? "completed" : "DID NOT COMPLETE", kubeos::sim::SummarizeDurations(tracker.handoffs()),
      tracker.budget_violations(), tracker.max_unavailable_seen(), static_cast<double>(rss) / (1 << 20),
      writes, writes / nodes, standin.writes(), static_cast<double>(standin.writes()) / nodes,
      standin.errors());
  monitor.Stop();
  standin.Stop();
  return done ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sim_scale_bench: rollouts across many simulated nodes (see bench/sim/CMakeLists.txt)"};
  std::string k8s_bin;
  app.add_option("--k8s-bin", k8s_bin, "control-plane binaries (default: $KUBEOS_K8S_BIN or configured)");
  int nodes = 0, budget = 0;
  auto* real = app.add_subcommand("real", "simulated hosts with the production os-agent and os-proxy");
  uint64_t slot_mib = 8, payload_mib = 4;
  real->add_option("--nodes", nodes, "nodes")->default_val(100);
  real->add_option("--max-unavailable", budget, "maxunavailable (default 10%)");
  real->add_option("--slot-mib", slot_mib, "slot size")->default_val(slot_mib);
  real->add_option("--payload-mib", payload_mib, "payload size")->default_val(payload_mib);
  auto* kwok = app.add_subcommand("kwok", "kwok nodes with a light node-side stand-in");
  int work_s = 10, writers = 8;
  std::string work_dir;
  kwok->add_option("--work-dir", work_dir, "keep the cluster's state and logs here");
  kwok->add_option("--nodes", nodes, "nodes")->default_val(1000);
  kwok->add_option("--max-unavailable", budget, "maxunavailable (default 10%)");
  kwok->add_option("--work-seconds", work_s, "simulated work per node")->default_val(work_s);
  kwok->add_option("--writers", writers, "stand-in writer threads")->default_val(writers);
  double standin_qps = 200;
  kwok->add_option("--standin-qps", standin_qps, "stand-in client rate limit (0: unthrottled)")
      ->default_val(standin_qps);
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if (budget <= 0) budget = std::max(1, nodes / 10);
  if (*real) return RunReal(nodes, budget, slot_mib, payload_mib, k8s_bin);
  return RunKwok(nodes, budget, work_s, writers, standin_qps, k8s_bin, work_dir);
}

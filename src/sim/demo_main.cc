// kubeos-demo: the README demo (a rolling OS upgrade across a simulated cluster of real agents on a real
// control plane), and the helper the simulated hosts call (sim-reboot: the agent's reboot action).
#include <curl/curl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "common/log.h"
#include "sim/demo.h"
#include "sim/sim_host.h"

namespace {

std::filesystem::path SelfDir() {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : self.parent_path();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "kubeos-demo: a rolling KubeOS upgrade across a simulated cluster.\n\n"
      "Starts a real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok) on\n"
      "127.0.0.1, N simulated hosts (A/B slots as ext4 image files, GRUB's boot rules, reboots) each running "
      "the\n"
      "production os-agent and os-proxy, and the production os-operator. Builds v2 and a broken v3 with "
      "kbimg,\n"
      "serves them over HTTPS with mutual TLS, then: upgrades every node to v2 (maxunavailable 2) with a\n"
      "Deployment under a PodDisruptionBudget and a DaemonSet running, rolls back to v1, and tries the "
      "broken v3\n"
      "(its trial boot fails, the host falls back by itself, the rollout halts). One line per change; a "
      "summary\n"
      "at the end. Exit status 0 when every check passed. See docs/simulator.md."};
  kubeos::sim::DemoOptions o;
  std::string log_level = "warn";
  int timeout_s = static_cast<int>(o.phase_timeout.count());
  bool no_rollback = false, no_broken = false, quiet_hosts = false;
  std::string k8s_bin, work_dir, summary;
  app.add_option("--nodes", o.nodes, "worker nodes (simulated hosts)")
      ->default_val(o.nodes)
      ->check(CLI::Range(1, 500));
  app.add_option("--max-unavailable", o.max_unavailable, "the OS object's maxunavailable")
      ->default_val(o.max_unavailable)
      ->check(CLI::Range(1, 500));
  app.add_option("--slot-mib", o.slot_mib, "size of each root slot file (MiB)")->default_val(o.slot_mib);
  app.add_option("--payload-mib", o.payload_mib, "size of each ext4 payload (MiB, <= slot)")
      ->default_val(o.payload_mib);
  app.add_option("--phase-timeout", timeout_s, "seconds each rollout may take")->default_val(timeout_s);
  app.add_flag("--no-rollback", no_rollback, "skip the rollback to v1");
  app.add_flag("--no-broken", no_broken, "skip the broken v3");
  app.add_flag("--setup-only", o.setup_only, "bring the cluster up, print it, and stop");
  app.add_flag("--quiet-hosts", quiet_hosts, "do not print host reboots and boot attempts");
  app.add_option("--work-dir", work_dir, "keep everything here (default: a temporary directory, removed)");
  app.add_flag("--keep", o.keep, "keep the temporary work directory (logs of every component)");
  app.add_option("--summary-json", summary, "also write the summary as JSON to this file");
  app.add_option("--k8s-bin", k8s_bin,
                 "control-plane binaries (default: $KUBEOS_K8S_BIN or the configured dir)");
  app.add_option("--log-level", log_level, "log level of the demo's own library logs (debug|info|warn|error)")
      ->default_val(log_level);

  auto* reboot =
      app.add_subcommand("sim-reboot", "(the simulated hosts' reboot action) request a reboot of DIR");
  reboot->group("");  // internal: not listed in --help
  std::string host_dir;
  reboot->add_option("dir", host_dir, "the simulated host's directory")->required();
  app.require_subcommand(0, 1);
  CLI11_PARSE(app, argc, argv);

  if (*reboot) {
    kubeos::Status s = kubeos::sim::RequestReboot(host_dir);
    if (!s.ok()) {
      std::cerr << "sim-reboot: " << s.ToString() << "\n";
      return 1;
    }
    return 0;
  }
  kubeos::log::Level level;
  if (kubeos::log::ParseLevel(log_level, &level)) kubeos::log::SetLevel(level);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  o.phase_timeout = std::chrono::seconds(timeout_s);
  o.rollback = !no_rollback;
  o.broken = !no_broken;
  o.host_events = !quiet_hosts;
  o.work_dir = work_dir;
  o.summary_json = summary;
  o.k8s_bin_dir = k8s_bin;
  o.build_dir = SelfDir().parent_path();  // build/<preset>/src
  o.source_dir = KUBEOS_SOURCE_DIR;
  if (o.payload_mib > o.slot_mib) {
    std::cerr << "--payload-mib must not exceed --slot-mib\n";
    return 2;
  }
  kubeos::sim::DemoResult r = kubeos::sim::RunDemo(o, std::cout);
  return r.ok ? 0 : 1;
}

// kube_leader_demo: takes part in leader election on a Lease and prints one line per transition, so tests
// (and people) can watch two processes hand leadership over:
//   "new-leader <identity>", "started-leading <identity>", "stopped-leading <identity>".
// SIGTERM/SIGINT stop it; as leader it then releases the lease (unless --no-release).
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <thread>

#include "kube/client.h"
#include "kube/config.h"
#include "kube/leader_election.h"

int main(int argc, char** argv) {
  using kubeos::kube::LeaderElectionConfig;
  CLI::App app("Leader election on a coordination.k8s.io/v1 Lease");
  std::string kubeconfig, ns = "default", lease, identity;
  double lease_s = 15, renew_s = 10, retry_s = 2;
  bool no_release = false;
  app.add_option("--kubeconfig", kubeconfig, "kubeconfig file")->required();
  app.add_option("--namespace", ns, "namespace of the Lease");
  app.add_option("--lease", lease, "name of the Lease")->required();
  app.add_option("--identity", identity, "our identity")->required();
  app.add_option("--lease-duration", lease_s, "seconds");
  app.add_option("--renew-deadline", renew_s, "seconds");
  app.add_option("--retry-period", retry_s, "seconds");
  app.add_flag("--no-release", no_release, "do not release the lease on exit");
  CLI11_PARSE(app, argc, argv);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread starts: all inherit it

  auto cfg = kubeos::kube::LoadKubeconfig(kubeconfig);
  if (!cfg.ok()) {
    (void)std::fprintf(stderr, "%s\n", cfg.status().ToString().c_str());
    return 2;
  }
  cfg->qps = -1;  // a handful of requests; no client-side throttling
  kubeos::kube::Client client(*cfg);
  auto secs = [](double s) { return std::chrono::milliseconds(static_cast<int64_t>(s * 1000)); };
  LeaderElectionConfig le{.lease_namespace = ns,
                          .lease_name = lease,
                          .identity = identity,
                          .lease_duration = secs(lease_s),
                          .renew_deadline = secs(renew_s),
                          .retry_period = secs(retry_s),
                          .release_on_cancel = !no_release};
  auto say = [](const std::string& what, const std::string& who) {
    std::printf("%s %s\n", what.c_str(), who.c_str());
    (void)std::fflush(stdout);
  };
  kubeos::kube::LeaderElector elector(
      client, le,
      {.on_started_leading = [&](const std::stop_token&) { say("started-leading", identity); },
       .on_stopped_leading = [&] { say("stopped-leading", identity); },
       .on_new_leader = [&](const std::string& who) { say("new-leader", who); }});
  kubeos::Status result;
  std::jthread runner([&](const std::stop_token& st) {
    result = elector.Run(st);
    kill(getpid(), SIGTERM);  // wake the signal wait below if leadership was lost
  });
  int sig = 0;
  sigwait(&set, &sig);
  runner.request_stop();
  runner.join();
  if (!result.ok()) {
    (void)std::fprintf(stderr, "%s\n", result.ToString().c_str());
    return 1;
  }
  return 0;
}

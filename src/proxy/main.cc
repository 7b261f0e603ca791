// os-proxy: one per node (DaemonSet upgrade-proxy). Runs the node's state machine (docs/proxy.md).
//   os-proxy [--kubeconfig PATH] [--node-name N] [--agent-socket PATH] [--drain-timeout S] ...
//   os-proxy drain-plan [--evictpodforce]   prints what a drain of the node would do, changes nothing
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "common/http_server.h"
#include "common/log.h"
#include "kube/client.h"
#include "kube/config.h"
#include "proxy/agent_link.h"
#include "proxy/controller.h"
#include "proxy/drain.h"

namespace {

namespace node = kubeos::node;

int DrainPlan(kubeos::kube::Client& client, const std::string& node_name, bool force) {
  kubeos::StatusOr<std::vector<node::PodView>> pods = node::ListPodsOnNode(client, node_name);
  if (!pods.ok()) {
    std::cerr << "list pods: " << pods.status().ToString() << "\n";
    return 1;
  }
  // Deadline far ahead: the plan only shows the filters' verdicts.
  node::DrainRound round =
      node::PlanDrainRound(*pods, {.evictpodforce = force, .deadline = INT64_MAX}, {}, 0);
  for (const auto& [pod, verdict] : round.verdicts) {
    const char* what = "evict";
    if (verdict.cls == node::PodClass::kIgnoreDaemonSet) what = "ignore";
    if (verdict.cls == node::PodClass::kSkipMirror) what = "skip";
    if (verdict.cls == node::PodClass::kRefuse) what = "refuse";
    std::cout << what << " " << pod.Key();
    if (!verdict.reason.empty()) std::cout << ": " << verdict.reason;
    std::cout << "\n";
  }
  return round.refused ? 2 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"os-proxy: the KubeOS node controller (cordon, drain, agent RPC, verify, uncordon)"};
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // a later flag overrides
  std::string kubeconfig;
  const char* env_node = std::getenv("NODE_NAME");  // NOLINT(concurrency-mt-unsafe): before any thread
  std::string node_name = env_node != nullptr ? env_node : "";
  std::string socket = "/run/os-agent/os-agent.sock";
  int64_t drain_timeout = 600;
  std::string escalation = "abort";
  int64_t reboot_timeout = 1800;
  bool mark_good = true;
  int64_t resync = 60;
  std::string log_level = "info";
  bool log_json = false;
  app.add_option("--kubeconfig", kubeconfig, "kubeconfig file (default: $KUBECONFIG, else in-cluster)");
  app.add_option("--node-name", node_name, "this node's name (default: $NODE_NAME)");
  app.add_option("--agent-socket", socket, "os-agent's unix socket")->capture_default_str();
  app.add_option("--drain-timeout", drain_timeout,
                 "seconds a drain may take before the escalation policy applies")
      ->capture_default_str();
  app.add_option(
         "--drain-escalation", escalation,
         "after the drain deadline: abort (uncordon, release, phase Failed) or delete (with evictpodforce: "
         "delete the remaining pods, bypassing disruption budgets)")
      ->check(CLI::IsMember({"abort", "delete"}))
      ->capture_default_str();
  app.add_option("--reboot-timeout", reboot_timeout,
                 "seconds to wait for the host to come back on the target")
      ->capture_default_str();
  app.add_option(
         "--mark-good", mark_good,
         "commit a trial boot (agent mark_good) once the Node is Ready on the target (false: leave it to "
         "the agent's health checks)")
      ->capture_default_str();
  app.add_option("--resync", resync, "seconds between safety passes when nothing happens")
      ->capture_default_str();
  std::string metrics_addr = "0";
  app.add_option("--metrics-bind-address", metrics_addr,
                 "serve /metrics, /healthz and /readyz here (\":8085\", \"127.0.0.1:0\"; \"0\" disables)")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "debug|info|warn|error")->capture_default_str();
  app.add_flag("--log-json", log_json, "one JSON object per log line");
  bool force = false;
  auto* plan =
      app.add_subcommand("drain-plan", "print what a drain of the node would evict, ignore or refuse");
  plan->add_flag("--evictpodforce", force, "as if the OS object had evictpodforce: true");
  CLI11_PARSE(app, argc, argv);

  kubeos::log::Level level;
  if (kubeos::log::ParseLevel(log_level, &level)) kubeos::log::SetLevel(level);
  kubeos::log::SetJson(log_json);
  if (node_name.empty()) {
    std::cerr << "os-proxy: --node-name or NODE_NAME is required\n";
    return 2;
  }
  kubeos::StatusOr<kubeos::kube::RestConfig> config = kubeos::kube::LoadDefaultConfig(kubeconfig);
  if (!config.ok()) {
    kubeos::log::Error("load kubeconfig", {{"error", config.status().ToString()}});
    return 1;
  }
  config->user_agent = "os-proxy/" + node_name;
  kubeos::kube::Client client(*config);
  if (*plan) return DrainPlan(client, node_name, force);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  auto metrics_bind = kubeos::ParseBindAddress(metrics_addr);
  if (!metrics_bind.ok()) {
    std::cerr << "os-proxy: --metrics-bind-address: " << metrics_bind.status().message() << "\n";
    return 2;
  }

  node::SocketAgent agent(socket);
  node::ProxyMetrics metrics;
  node::ProxyOptions options{
      .node_name = node_name,
      .drain_timeout = std::chrono::seconds(drain_timeout),
      .escalation = escalation == "delete" ? node::Escalation::kDelete : node::Escalation::kAbort,
      .policy = {.reboot_timeout = std::chrono::seconds(reboot_timeout), .mark_good = mark_good},
      .resync = std::chrono::seconds(resync),
      .metrics = &metrics};
  node::Controller controller(client, agent, options);
  std::unique_ptr<kubeos::HttpServer> metrics_server;
  if (metrics_bind->has_value()) {
    auto server = kubeos::HttpServer::Start(**metrics_bind, [&](const kubeos::HttpRequestHead& r) {
      constexpr const char* kText = "text/plain; charset=utf-8";
      if (r.path == "/metrics") {
        metrics.SetApiRequests(client.requests());
        return kubeos::HttpReply{200, "text/plain; version=0.0.4; charset=utf-8", metrics.Render()};
      }
      if (r.path == "/healthz") return kubeos::HttpReply{200, kText, "ok\n"};
      if (r.path == "/readyz") {
        return controller.Synced() ? kubeos::HttpReply{200, kText, "ok\n"}
                                   : kubeos::HttpReply{503, kText, "caches not synced\n"};
      }
      return kubeos::HttpReply{404, kText, "not found\n"};
    });
    if (!server.ok()) {
      kubeos::log::Error("metrics server",
                         {{"address", metrics_addr}, {"error", server.status().ToString()}});
      return 1;
    }
    metrics_server = std::move(*server);
    kubeos::log::Info("serving metrics", {{"port", metrics_server->port()}});
  }
  kubeos::log::Info("os-proxy starting", {{"node", node_name},
                                          {"agent_socket", socket},
                                          {"drain_timeout", drain_timeout},
                                          {"escalation", escalation}});
  kubeos::Status result;
  std::jthread worker([&](const std::stop_token& st) {
    result = controller.Run(st);
    if (!result.ok()) kill(getpid(), SIGTERM);
  });
  int sig = 0;
  sigwait(&set, &sig);
  kubeos::log::Info("stopping", {{"signal", sig}});
  worker.request_stop();
  worker.join();
  if (!result.ok() && result.code() != kubeos::StatusCode::kCancelled) {
    kubeos::log::Error("os-proxy", {{"error", result.ToString()}});
    return 1;
  }
  return 0;
}

// os-operator: the rollout controller (docs/operator.md). Thin: flags, wiring, signals.
//   os-operator [--kubeconfig PATH] [--leader-elect] [--leader-election-namespace NS]
//               [--metrics-bind-address :8080|0] [--health-probe-bind-address :8081|0] [--time-zone IANA]
// SIGTERM/SIGINT: stop planning, release the lease (when leading), exit 0. Losing the lease: exit 1.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>

#include "common/http_server.h"
#include "common/log.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/leader_election.h"
#include "operator/controller.h"
#include "operator/metrics.h"
#include "operator/time_zone.h"

namespace {

using kubeos::HttpReply;
using kubeos::HttpRequestHead;
using kubeos::Status;
namespace log = kubeos::log;

std::string DefaultIdentity() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any thread starts
  if (const char* pod = std::getenv("POD_NAME"); pod != nullptr && *pod != '\0') return pod;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::random_device rd;
  return std::string(host) + "_" + std::to_string(rd() % 1000000);
}

// Events are best effort: a modest rate, with a burst that absorbs a wave of assignments.
constexpr double kEventQps = 20;
constexpr int kEventBurst = 200;

std::chrono::milliseconds Seconds(double s) {
  return std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("os-operator: KubeOS rollout controller");
  std::string kubeconfig, le_namespace = "upgrade-system", le_id = "upgrade-operator", identity;
  std::string metrics_addr = ":8080", health_addr = ":8081", time_zone, log_level = "info";
  bool leader_elect = false, log_json = false;
  double lease_s = 15, renew_s = 10, retry_s = 2, qps = 100;
  int burst = 200;
  app.add_option("--kubeconfig", kubeconfig,
                 "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)");
  app.add_flag("--leader-elect", leader_elect, "take part in leader election; only the leader plans");
  app.add_option("--leader-election-namespace", le_namespace, "namespace of the leader-election Lease")
      ->capture_default_str();
  app.add_option("--leader-election-id", le_id, "name of the leader-election Lease")->capture_default_str();
  app.add_option("--leader-elect-lease-duration", lease_s, "seconds")->capture_default_str();
  app.add_option("--leader-elect-renew-deadline", renew_s, "seconds")->capture_default_str();
  app.add_option("--leader-elect-retry-period", retry_s, "seconds")->capture_default_str();
  app.add_option("--identity", identity, "leader-election identity (default: $POD_NAME or hostname_random)");
  app.add_option("--metrics-bind-address", metrics_addr, "[host]:port of /metrics; 0 disables")
      ->capture_default_str();
  app.add_option("--health-probe-bind-address", health_addr,
                 "[host]:port of /healthz and /readyz; 0 disables")
      ->capture_default_str();
  app.add_option("--time-zone", time_zone,
                 "IANA zone of time windows without one (default: TZ, /etc/localtime, UTC)");
  app.add_option("--kube-api-qps", qps, "client-side request rate limit (<= 0: none)")->capture_default_str();
  app.add_option("--kube-api-burst", burst, "client-side burst")->capture_default_str();
  app.add_option("--log-level", log_level, "debug|info|warn|error")->capture_default_str();
  app.add_flag("--log-json", log_json, "log one JSON object per line");
  CLI11_PARSE(app, argc, argv);

  log::Level level{};
  if (!log::ParseLevel(log_level, &level)) {
    (void)std::fprintf(stderr, "--log-level %s: want debug|info|warn|error\n", log_level.c_str());
    return 2;
  }
  log::SetLevel(level);
  log::SetJson(log_json);
  if (identity.empty()) identity = DefaultIdentity();

  auto metrics_bind = kubeos::ParseBindAddress(metrics_addr);
  auto health_bind = kubeos::ParseBindAddress(health_addr);
  for (auto* b : {&metrics_bind, &health_bind}) {
    if (!b->ok()) {
      (void)std::fprintf(stderr, "%s\n", b->status().ToString().c_str());
      return 2;
    }
  }
  const char* tz_env = std::getenv("TZ");  // NOLINT(concurrency-mt-unsafe): before any thread starts
  auto zone = kubeos::rollout::ResolveTimeZone(
      time_zone, tz_env == nullptr ? std::nullopt : std::optional<std::string>(tz_env), "/etc/localtime",
      "/usr/share/zoneinfo");
  if (!zone.ok()) {
    (void)std::fprintf(stderr, "%s\n", zone.status().ToString().c_str());
    return 2;
  }
  if (!zone->warning.empty()) log::Warn("operator: time zone", {{"warning", zone->warning}});
  log::Info("operator: default time zone", {{"zone", zone->name}, {"source", zone->source}});

  auto cfg = kubeos::kube::LoadDefaultConfig(kubeconfig);
  if (!cfg.ok()) {
    (void)std::fprintf(stderr, "%s\n", cfg.status().ToString().c_str());
    return 2;
  }
  cfg->qps = qps;
  cfg->burst = burst;
  cfg->user_agent = "os-operator";
  kubeos::kube::LeaderElectionConfig le{.lease_namespace = le_namespace,
                                        .lease_name = le_id,
                                        .identity = identity,
                                        .lease_duration = Seconds(lease_s),
                                        .renew_deadline = Seconds(renew_s),
                                        .retry_period = Seconds(retry_s)};
  if (leader_elect) {
    if (Status st = kubeos::kube::ValidateLeaderElectionConfig(le); !st.ok()) {
      (void)std::fprintf(stderr, "%s\n", st.ToString().c_str());
      return 2;
    }
  }

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread starts: all inherit it

  kubeos::kube::Client client(*cfg);
  // Events use their own client (and token bucket): best effort, never in the way of planning writes.
  kubeos::kube::RestConfig event_cfg = *cfg;
  event_cfg.qps = kEventQps;
  event_cfg.burst = kEventBurst;
  kubeos::kube::Client event_client(event_cfg);
  kubeos::rollout::Metrics metrics;
  kubeos::rollout::Controller controller(client, event_client,
                                         {.default_time_zone = zone->name, .event_host = identity}, metrics);
  std::unique_ptr<kubeos::HttpServer> metrics_server, health_server;
  if (metrics_bind->has_value()) {
    auto s = kubeos::HttpServer::Start(**metrics_bind, [&](const HttpRequestHead& r) {
      if (r.path != "/metrics") return HttpReply{404, "text/plain; charset=utf-8", "not found\n"};
      metrics.SetApiRequests("main", client.requests());
      metrics.SetApiRequests("events", event_client.requests());
      return HttpReply{200, "text/plain; version=0.0.4; charset=utf-8", metrics.Render()};
    });
    if (!s.ok()) {
      log::Error("operator: metrics server", {{"error", s.status().ToString()}});
      return 1;
    }
    metrics_server = std::move(*s);
    log::Info("operator: serving metrics", {{"port", metrics_server->port()}});
  }
  if (health_bind->has_value()) {
    auto s = kubeos::HttpServer::Start(**health_bind, [&](const HttpRequestHead& r) {
      if (r.path == "/healthz") return HttpReply{200, "text/plain; charset=utf-8", "ok\n"};
      if (r.path == "/readyz") {
        // Ready once the caches are warm, whether leading or standing by.
        if (controller.Synced()) return HttpReply{200, "text/plain; charset=utf-8", "ok\n"};
        return HttpReply{503, "text/plain; charset=utf-8", "caches not synced\n"};
      }
      return HttpReply{404, "text/plain; charset=utf-8", "not found\n"};
    });
    if (!s.ok()) {
      log::Error("operator: health server", {{"error", s.status().ToString()}});
      return 1;
    }
    health_server = std::move(*s);
    log::Info("operator: serving health probes", {{"port", health_server->port()}});
  }

  controller.Start();
  std::jthread sync_watch([&](const std::stop_token& st) {
    while (!st.stop_requested() && !controller.WaitForSync(std::chrono::seconds(1), st)) {
    }
    if (controller.Synced()) {
      metrics.SetCachesSynced(true);
      log::Info("operator: caches synced");
    }
  });

  auto plan = [&](const std::stop_token& st) {
    metrics.SetLeader(true);
    Status s = controller.RunWorker(st);
    metrics.SetLeader(false);
    if (!s.ok()) log::Error("operator: worker stopped", {{"error", s.ToString()}});
  };
  int exit_code = 0;
  std::jthread runner;
  if (leader_elect) {
    runner = std::jthread([&](const std::stop_token& st) {
      kubeos::kube::LeaderElector elector(
          client, le,
          {.on_started_leading =
               [&](const std::stop_token& lead) {
                 log::Info("operator: started leading", {{"identity", identity}});
                 plan(lead);
               },
           .on_stopped_leading =
               [&] {
                 log::Info("operator: stopped leading", {{"identity", identity}});
               },
           .on_new_leader =
               [&](const std::string& who) {
                 log::Info("operator: leader", {{"identity", who}});
               }});
      Status s = elector.Run(st);
      if (!s.ok()) {
        log::Error("operator: leader election lost; exiting", {{"error", s.ToString()}});
        exit_code = 1;
        kill(getpid(), SIGTERM);  // wake the signal wait below
      }
    });
  } else {
    runner = std::jthread(plan);
  }
  int sig = 0;
  sigwait(&set, &sig);
  log::Info("operator: stopping", {{"signal", sig}});
  runner.request_stop();
  runner.join();
  sync_watch.request_stop();
  sync_watch.join();
  controller.Stop();
  return exit_code;
}

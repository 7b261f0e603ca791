#include "sim/sim_node.h"

#include <fmt/format.h>

#include "agent/client.h"
#include "common/log.h"
#include "kube/resource.h"

namespace kubeos::sim {
namespace {

// How often a node looks for a reboot request and at its processes.
constexpr std::chrono::milliseconds kPollInterval{50};
// The agent answers its socket within this after start (it only reads small files).
constexpr std::chrono::seconds kAgentStartTimeout{15};
// systemd's default stop timeout is 90 s; our processes stop in well under a second.
constexpr std::chrono::seconds kStopGrace{5};
// systemd Restart=always RestartSec=1 (deploy/agent/os-agent.service).
constexpr std::chrono::seconds kAgentRestartDelay{1};
// kubelet's container restart back-off (10 s doubling to 5 min); shortened, the simulator has no image pulls.
constexpr std::chrono::milliseconds kProxyBackoffStart{500};
constexpr std::chrono::milliseconds kProxyBackoffMax{8000};

void SleepFor(std::chrono::milliseconds d, const std::stop_token& stop) {
  auto until = std::chrono::steady_clock::now() + d;
  while (!stop.stop_requested() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
        kPollInterval,
        std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now())));
  }
}

}  // namespace

std::string_view NodeEventKindName(NodeEvent::Kind kind) {
  switch (kind) {
    case NodeEvent::Kind::kRebooting:
      return "rebooting";
    case NodeEvent::Kind::kBootFailed:
      return "boot-failed";
    case NodeEvent::Kind::kUp:
      return "up";
    case NodeEvent::Kind::kBricked:
      return "bricked";
    case NodeEvent::Kind::kAgentRestarted:
      return "agent-restarted";
    case NodeEvent::Kind::kProxyRestarted:
      return "proxy-restarted";
    case NodeEvent::Kind::kError:
      return "error";
  }
  return "?";
}

Status KubeNodeReporter::Report(const std::string& node, const NodeReport& report) {
  return client_
      .Patch(kube::Resource::Nodes(), "", node, kube::PatchType::kStrategicMerge,
             NodeStatusPatch(report, NowRfc3339()), "status")
      .status()
      .WithContext("report node " + node);
}

StatusOr<std::unique_ptr<SimNode>> SimNode::Create(SimNodeOptions options) {
  if (options.reporter == nullptr) return InvalidArgumentError("SimNode needs a reporter");
  std::unique_ptr<SimNode> n(new SimNode(std::move(options)));
  KUBEOS_ASSIGN_OR_RETURN(SimHost h, SimHost::Create(n->options_.host));
  n->host_.emplace(std::move(h));
  return n;
}

SimNode::~SimNode() { Stop(); }

std::string SimNode::booted_version() const {
  std::lock_guard lock(mu_);
  return booted_version_;
}

void SimNode::Emit(NodeEvent::Kind kind, std::string text) {
  log::Debug("sim node", {{"node", options_.name}, {"event", NodeEventKindName(kind)}, {"detail", text}});
  if (options_.on_event) options_.on_event(NodeEvent{options_.name, kind, std::move(text)});
}

void SimNode::Report(const NodeReport& r) {
  // The API server may be briefly unavailable; kubelet retries its status update too.
  for (int i = 0; i < 5; ++i) {
    Status s = options_.reporter->Report(options_.name, r);
    if (s.ok()) return;
    if (i == 4) Emit(NodeEvent::Kind::kError, s.ToString());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void SimNode::Launch() {
  thread_ = std::jthread([this](const std::stop_token& st) { Run(st); });
}

Status SimNode::WaitStarted() {
  std::unique_lock lock(start_mu_);
  start_cv_.wait(lock, [&] { return start_result_.has_value(); });
  return *start_result_;
}

void SimNode::RequestStop() {
  if (thread_.joinable()) thread_.request_stop();
}

void SimNode::Stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

Status SimNode::StartAgent() {
  std::error_code ec;
  std::filesystem::remove(host_->socket(), ec);
  KUBEOS_ASSIGN_OR_RETURN(
      Process p,
      Process::Spawn({.argv = {options_.agent_bin.string(), "--host", host_->host_file().string(), "serve"},
                      .output_file = host_->log_dir() / "agent.log"}));
  agent_ = std::move(p);
  auto deadline = std::chrono::steady_clock::now() + kAgentStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!agent_->Running()) {
      agent_.reset();
      return InternalError(
          fmt::format("os-agent exited at start (see {})", (host_->log_dir() / "agent.log").string()));
    }
    if (agent::CallAgent(host_->socket(), "status", nlohmann::json::array(), std::chrono::seconds(2)).ok()) {
      return Status::Ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return DeadlineExceededError("os-agent did not answer on " + host_->socket().string());
}

Status SimNode::StartProxy() {
  if (options_.proxy_argv.empty()) return Status::Ok();
  std::vector<std::string> argv = options_.proxy_argv;
  argv.push_back("--node-name=" + options_.name);
  argv.push_back("--agent-socket=" + host_->socket().string());
  std::vector<std::pair<std::string, std::string>> env = options_.proxy_env;
  env.emplace_back("NODE_NAME", options_.name);
  KUBEOS_ASSIGN_OR_RETURN(
      Process p, Process::Spawn({.argv = argv, .env = env, .output_file = host_->log_dir() / "proxy.log"}));
  proxy_ = std::move(p);
  return Status::Ok();
}

Status SimNode::Boot() {
  SimHost& h = *host_;
  std::this_thread::sleep_for(options_.timing.boot);
  KUBEOS_ASSIGN_OR_RETURN(BootReport report, h.PowerOn([&](const BootAttempt& at) {
    failed_boots_++;
    Emit(NodeEvent::Kind::kBootFailed, fmt::format("slot {}: {}", agent::SlotName(at.slot), at.reason));
    std::this_thread::sleep_for(options_.timing.watchdog);
  }));
  boots_++;
  if (!report.slot) {
    Emit(NodeEvent::Kind::kBricked, "no slot boots");
    return FailedPreconditionError(options_.name + ": no bootable slot");
  }
  {
    std::lock_guard lock(mu_);
    booted_version_ = report.pretty_name;
  }
  up_ = true;
  Status agent_up = StartAgent();
  if (!agent_up.ok()) Emit(NodeEvent::Kind::kError, agent_up.ToString());
  Report({.ready = true,
          .reason = "KubeletReady",
          .message = "kubelet is posting ready status",
          .os_image = report.pretty_name,
          .boot_id = report.boot_id});
  Emit(NodeEvent::Kind::kUp, fmt::format("slot {}, {}", agent::SlotName(*report.slot), report.pretty_name));
  proxy_backoff_ = std::chrono::milliseconds(0);
  KUBEOS_RETURN_IF_ERROR(StartProxy());
  return agent_up;
}

void SimNode::Shutdown() {
  up_ = false;
  if (proxy_) {
    (void)proxy_->Stop(kStopGrace);
    proxy_.reset();
  }
  if (agent_) {
    (void)agent_->Stop(kStopGrace);
    agent_.reset();
  }
}

void SimNode::Supervise(const std::stop_token& stop) {
  if (!up_) return;
  if (!agent_ || !agent_->Running()) {
    int code = agent_ ? agent_->ExitCode().value_or(-1) : -1;
    agent_.reset();
    SleepFor(kAgentRestartDelay, stop);
    if (stop.stop_requested()) return;
    Status s = StartAgent();
    Emit(NodeEvent::Kind::kAgentRestarted,
         fmt::format("os-agent exited {}; restarted: {}", code, s.ToString()));
  }
  if (!options_.proxy_argv.empty() && (!proxy_ || !proxy_->Running())) {
    auto now = std::chrono::steady_clock::now();
    if (proxy_) {
      int code = proxy_->ExitCode().value_or(-1);
      proxy_.reset();
      proxy_backoff_ = std::clamp(proxy_backoff_ * 2, kProxyBackoffStart, kProxyBackoffMax);
      proxy_restart_at_ = now + proxy_backoff_;
      Emit(NodeEvent::Kind::kProxyRestarted,
           fmt::format("os-proxy exited {}; restarting in {} ms", code, proxy_backoff_.count()));
    } else if (now >= proxy_restart_at_) {
      if (Status s = StartProxy(); !s.ok()) Emit(NodeEvent::Kind::kError, s.ToString());
    }
  }
}

void SimNode::Run(const std::stop_token& stop) {
  Status first = Boot();
  {
    std::lock_guard lock(start_mu_);
    start_result_ = first;
  }
  start_cv_.notify_all();
  while (!stop.stop_requested()) {
    std::error_code ec;
    if (std::filesystem::exists(host_->reboot_request(), ec)) {
      Emit(NodeEvent::Kind::kRebooting, "reboot requested by os-agent");
      SleepFor(options_.timing.shutdown, stop);
      Report({.ready = false, .reason = "KubeletNotReady", .message = "node is shutting down (reboot)"});
      Shutdown();
      std::filesystem::remove(host_->reboot_request(), ec);
      if (Status s = Boot(); !s.ok()) Emit(NodeEvent::Kind::kError, s.ToString());
      continue;
    }
    Supervise(stop);
    std::this_thread::sleep_for(kPollInterval);
  }
  Shutdown();
}

}  // namespace kubeos::sim

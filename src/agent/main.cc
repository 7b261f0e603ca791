// os-agent: the host daemon (default, or `serve`) and its CLI (status, install, upgrade, mark-good,
// rollback).
#include <curl/curl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#include "agent/agent.h"
#include "agent/client.h"
#include "agent/configure.h"
#include "agent/host.h"
#include "agent/server.h"
#include "common/log.h"

namespace {

using kubeos::Status;
using nlohmann::json;
namespace agent = kubeos::agent;

constexpr std::string_view kDefaultHostFile = "/etc/KubeOS/os-agent.json";
// CLI deadlines: status is instant; an install may stream gigabytes.
constexpr std::chrono::seconds kStatusTimeout{10};
constexpr std::chrono::hours kInstallTimeout{6};
constexpr std::chrono::minutes kSwitchTimeout{5};

// sd_notify(3) by hand: one datagram to $NOTIFY_SOCKET ('@' = abstract namespace).
void NotifySystemd(const std::string& message) {
  const char* path = std::getenv("NOTIFY_SOCKET");  // NOLINT(concurrency-mt-unsafe): nothing calls setenv
  if (path == nullptr || path[0] == '\0') return;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = std::min(std::strlen(path), sizeof(addr.sun_path) - 1);
  std::memcpy(addr.sun_path, path, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  sendto(fd, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), addr_len);
  close(fd);
}

int Serve(const std::string& host_file) {
  kubeos::StatusOr<agent::HostDescription> host = agent::LoadHostDescription(host_file);
  if (!host.ok()) {
    kubeos::log::Error("load host description", {{"error", host.status().ToString()}});
    return 1;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  agent::ModelConfigApplier configs(*host);
  agent::Agent a(*host, configs, [] {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  });
  // The socket first: a second agent on this host must stop before it reads or writes any state.
  agent::RpcServer server(a, host->socket);
  if (Status s = server.Listen(); !s.ok()) {
    kubeos::log::Error("listen", {{"error", s.ToString()}});
    return 1;
  }
  if (Status s = a.Start(); !s.ok()) {
    kubeos::log::Error("agent start", {{"error", s.ToString()}});
    return 1;
  }
  std::jthread serving([&](const std::stop_token& st) { server.Serve(st); });
  std::jthread trial([&](const std::stop_token& st) { a.SuperviseTrial(st); });
  NotifySystemd("READY=1\nSTATUS=serving " + host->socket.string());
  int sig = 0;
  sigwait(&set, &sig);
  kubeos::log::Info("stopping", {{"signal", sig}});
  NotifySystemd("STOPPING=1");
  trial.request_stop();
  serving.request_stop();
  return 0;
}

void PrintHuman(const json& st) {
  std::cout << "=== System Info ===\n";
  std::cout << "Booted slot:    "
            << (st["booted_slot"].is_null() ? "unknown" : st["booted_slot"].get<std::string>()) << "\n";
  if (st.contains("booted_slot_error"))
    std::cout << "  error: " << st["booted_slot_error"].get<std::string>() << "\n";
  std::cout << "Booted version: " << st.value("booted_version", "") << "\n";
  if (st.value("on_trial", false))
    std::cout << "Trial:          booted slot is on trial (waiting for mark-good)\n";
  std::cout << "\n=== Slot States ===\n";
  std::string booted = st["booted_slot"].is_null() ? "" : st["booted_slot"].get<std::string>();
  for (const char* s : {"A", "B"}) {
    const json& slot = st["slots"][s];
    std::cout << (booted == s ? "x " : "o ") << "[rootfs." << s << "] (" << slot.value("device", "") << ", "
              << (booted == s ? "booted" : "inactive") << ")\n";
    std::cout << "      state:   " << slot.value("state", "") << "\n";
    std::cout << "      version: " << slot.value("version", "") << "\n";
    if (!slot.value("sha256", "").empty()) std::cout << "      sha256:  " << slot.value("sha256", "") << "\n";
  }
  if (st.contains("boot_env")) std::cout << "\nBoot env: " << st["boot_env"].dump() << "\n";
  if (st.contains("boot_env_error"))
    std::cout << "\nBoot env: UNREADABLE: " << st["boot_env_error"].get<std::string>() << "\n";
  if (!st["operation"].is_null()) {
    const json& op = st["operation"];
    std::cout << "\nRunning: " << op.value("name", "") << " (" << op.value("phase", "") << ", "
              << op.value("bytes", uint64_t{0}) << "/" << op.value("total", uint64_t{0}) << " bytes)\n";
  }
  if (!st["last_operation"].is_null()) {
    const json& op = st["last_operation"];
    std::cout << "\nLast operation: " << op.value("name", "") << " "
              << (op.value("ok", true) ? "ok" : "FAILED");
    if (!op.value("message", "").empty()) std::cout << ": " << op.value("message", "");
    std::cout << "\n";
  }
  if (!st["last_fallback"].is_null()) {
    std::cout << "Last fallback:  " << st["last_fallback"].value("message", "") << "\n";
  }
}

int Run(const std::string& socket, const std::string& method, const json& params,
        std::chrono::milliseconds timeout, bool as_json) {
  kubeos::StatusOr<json> r = agent::CallAgent(socket, method, params, timeout);
  if (!r.ok()) {
    std::cerr << "os-agent " << method << ": " << r.status().message() << "\n";
    return 1;
  }
  if (method == "status" && !as_json) {
    PrintHuman(*r);
  } else {
    std::cout << r->dump(as_json ? 2 : -1) << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"os-agent: KubeOS host agent (A/B slots, verified install, GRUB trial boots with fallback)"};
  std::string host_file(kDefaultHostFile);
  std::string socket = "/run/os-agent/os-agent.sock";
  std::string log_level = "info";
  app.add_option("--host", host_file, "host description (JSON)")->capture_default_str();
  CLI::Option* socket_opt =
      app.add_option("--socket", socket,
                     "agent socket the CLI commands call (the daemon's comes from the host "
                     "description's \"socket\")")
          ->capture_default_str();
  app.add_option("--log-level", log_level, "debug|info|warn|error")->capture_default_str();
  // --socket, --host and --log-level also after the subcommand (`os-agent status --socket S`); subcommands
  // created after this inherit it.
  app.fallthrough();
  auto* serve = app.add_subcommand("serve", "run the daemon (the default)");
  bool as_json = false;
  auto* status = app.add_subcommand("status", "show slots, boot env and the running operation");
  status->add_flag("--json", as_json, "machine-readable output");
  agent::UpgradeRequest req{.image_type = "disk"};
  auto* install =
      app.add_subcommand("install", "verify and write an image (URL or file) to the standby slot");
  install->add_option("source", req.image_url, "https://..., http://... (with --flag-safe) or a file")
      ->required();
  install->add_option("--checksum", req.check_sum, "SHA-256 of the payload")->required();
  install->add_option("--version", req.version, "OS version the payload holds");
  install->add_flag("--flag-safe", req.flag_safe, "allow plain http");
  install->add_flag("--mtls", req.mtls, "use a client certificate");
  install->add_option("--ca-cert", req.ca_cert, "CA file name under the certs dir");
  install->add_option("--client-cert", req.client_cert, "client certificate file name under the certs dir");
  install->add_option("--client-key", req.client_key, "client key file name under the certs dir");
  auto* upgrade = app.add_subcommand("upgrade", "boot the installed standby slot on trial (reboots)");
  auto* mark_good = app.add_subcommand("mark-good", "commit the booted slot");
  auto* rollback = app.add_subcommand("rollback", "boot the other slot (reboots)");
  app.require_subcommand(0, 1);
  CLI11_PARSE(app, argc, argv);
  kubeos::log::Level level;
  if (kubeos::log::ParseLevel(log_level, &level)) kubeos::log::SetLevel(level);

  if (*status) return Run(socket, "status", json::array(), kStatusTimeout, as_json);
  if (*install) {
    if (!req.image_url.empty() && req.image_url.front() != '/' &&
        req.image_url.find("://") == std::string::npos) {
      req.image_url = std::filesystem::absolute(req.image_url).string();
    }
    return Run(socket, "prepare_upgrade", json::array({agent::UpgradeRequestToJson(req)}), kInstallTimeout,
               true);
  }
  if (*upgrade) return Run(socket, "upgrade", json::array(), kSwitchTimeout, true);
  if (*mark_good) return Run(socket, "mark_good", json::array(), kSwitchTimeout, true);
  if (*rollback) return Run(socket, "rollback", json::array(), kSwitchTimeout, true);
  (void)serve;
  if (socket_opt->count() > 0) {
    // One place decides where the daemon listens (and so which socket its lock guards): the host file.
    std::cerr << "os-agent: --socket is for the CLI commands; the daemon listens where the host description "
                 "says (\"socket\" in "
              << host_file << ")\n";
    return 2;
  }
  return Serve(host_file);
}

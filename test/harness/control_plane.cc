#include "harness/control_plane.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "common/file.h"
#include "common/log.h"
#include "kube/http.h"
#include "pki/x509.h"

#ifndef KUBEOS_SOURCE_DIR
#error "KUBEOS_SOURCE_DIR must be defined by the build"
#endif
#ifndef KUBEOS_DEFAULT_K8S_BIN
#define KUBEOS_DEFAULT_K8S_BIN ""
#endif

namespace kubeos::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// envtest uses 20 s; a cold 2-core machine needs more for the first apiserver start.
constexpr auto kApiServerReadyTimeout = seconds(90);
constexpr auto kEtcdReadyTimeout = seconds(30);
constexpr auto kPollInterval = milliseconds(100);
constexpr auto kStopGrace = seconds(10);
// Ports are probed then released; another process may take one before our component binds it.
constexpr int kStartAttempts = 3;
// How long a component without a readiness endpoint must survive after launch to count as started.
constexpr auto kLivenessGrace = milliseconds(300);
// Lines of a component's log quoted in a start-up error.
constexpr int kLogTailLines = 30;

const char* ComponentName(Component c) {
  switch (c) {
    case Component::kEtcd:
      return "etcd";
    case Component::kApiServer:
      return "kube-apiserver";
    case Component::kControllerManager:
      return "kube-controller-manager";
    case Component::kScheduler:
      return "kube-scheduler";
    case Component::kKwok:
      return "kwok";
  }
  return "?";
}

StatusOr<std::string> RandomToken() {
  unsigned char b[24];
  if (getrandom(b, sizeof b, 0) != static_cast<ssize_t>(sizeof b)) return ErrnoError(errno, "getrandom");
  std::string hex;
  for (unsigned char c : b) hex += fmt::format("{:02x}", c);
  return hex;
}

std::string KubeconfigYaml(const std::string& server, const std::string& ca_pem, const std::string& user,
                           const std::string& cert_pem, const std::string& key_pem) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << "v1";
  out << YAML::Key << "kind" << YAML::Value << "Config";
  out << YAML::Key << "current-context" << YAML::Value << user;
  out << YAML::Key << "clusters" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << "kubeos-test";
  out << YAML::Key << "cluster" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "server" << YAML::Value << server;
  out << YAML::Key << "certificate-authority-data" << YAML::Value << pki::Base64Encode(ca_pem);
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "users" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << user;
  out << YAML::Key << "user" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "client-certificate-data" << YAML::Value << pki::Base64Encode(cert_pem);
  out << YAML::Key << "client-key-data" << YAML::Value << pki::Base64Encode(key_pem);
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "contexts" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << user;
  out << YAML::Key << "context" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "cluster" << YAML::Value << "kubeos-test";
  out << YAML::Key << "user" << YAML::Value << user;
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::filesystem::path DefaultBinDir() {
  if (const char* env = std::getenv("KUBEOS_K8S_BIN"); env != nullptr && *env != '\0') return env;  // NOLINT
  return KUBEOS_DEFAULT_K8S_BIN;
}

}  // namespace

struct ControlPlane::Proc {
  Component component;
  std::vector<std::string> argv;
  std::optional<Process> process;
};

std::string ControlPlane::LogTail(Component c) const {
  const auto path = dir_ / "logs" / (std::string(ComponentName(c)) + ".log");
  std::string text = ReadFile(path).value_or("");
  size_t pos = text.size();
  for (int lines = 0; lines <= kLogTailLines && pos > 0; ++lines) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) {
      pos = 0;
      break;
    }
  }
  return fmt::format("--- last lines of {} ---\n{}", path.string(), text.substr(pos == 0 ? 0 : pos + 1));
}

StatusOr<int> FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError(errno, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int e = errno;
    close(fd);
    return ErrnoError(e, "bind 127.0.0.1:0");
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

ControlPlane::ControlPlane() = default;

ControlPlane::~ControlPlane() {
  if (owned_) (void)Stop();
}

std::string ControlPlane::server() const { return fmt::format("https://127.0.0.1:{}", apiserver_port_); }
std::string ControlPlane::etcd_url() const { return fmt::format("http://127.0.0.1:{}", etcd_port_); }
kube::RestConfig ControlPlane::AdminConfig() const { return admin_; }
kube::RestConfig ControlPlane::RestrictedConfig() const { return restricted_; }

kube::RestConfig ControlPlane::AdminTokenConfig() const {
  kube::RestConfig c;
  c.server = server();
  c.ca_pem = ca_pem_;
  c.bearer_token = admin_token_;
  return c;
}

kube::RestConfig ControlPlane::RestrictedTokenConfig() const {
  kube::RestConfig c = AdminTokenConfig();
  c.bearer_token = restricted_token_;
  return c;
}

ControlPlane::Proc* ControlPlane::Find(Component c) {
  for (auto& p : procs_) {
    if (p->component == c) return p.get();
  }
  return nullptr;
}

Status ControlPlane::Prepare() {
  for (const char* sub : {"pki", "logs"}) {
    std::error_code ec;
    std::filesystem::create_directories(dir_ / sub, ec);
    if (ec) return InternalError("create " + (dir_ / sub).string() + ": " + ec.message());
  }
  KUBEOS_ASSIGN_OR_RETURN(etcd_port_, FreeLoopbackPort());
  KUBEOS_ASSIGN_OR_RETURN(etcd_peer_port_, FreeLoopbackPort());
  KUBEOS_ASSIGN_OR_RETURN(apiserver_port_, FreeLoopbackPort());

  // Certificates: one CA signs the serving certificate and the client certificates.
  KUBEOS_ASSIGN_OR_RETURN(auto ca, pki::MakeCa("kubeos-test-ca"));
  KUBEOS_ASSIGN_OR_RETURN(auto serving, pki::MakeSignedCert(ca, {.common_name = "kube-apiserver",
                                                                 .dns_names = {"localhost", "kubernetes"},
                                                                 .ip_addresses = {"127.0.0.1"},
                                                                 .server = true}));
  KUBEOS_ASSIGN_OR_RETURN(auto admin, pki::MakeSignedCert(ca, {.common_name = "kubeos-admin",
                                                               .organizations = {"system:masters"},
                                                               .client = true}));
  KUBEOS_ASSIGN_OR_RETURN(auto restricted, pki::MakeSignedCert(ca, {.common_name = kRestrictedUser,
                                                                    .organizations = {"kubeos:restricted"},
                                                                    .client = true}));
  KUBEOS_ASSIGN_OR_RETURN(auto sa, pki::MakeKeyPair());
  const auto pki_dir = dir_ / "pki";
  const WriteOptions secret{.mode = 0600, .keep_existing_mode = false};
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(pki_dir / "ca.crt", ca.cert_pem));
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(pki_dir / "ca.key", ca.key_pem, secret));
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(pki_dir / "apiserver.crt", serving.cert_pem));
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(pki_dir / "apiserver.key", serving.key_pem, secret));
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(pki_dir / "sa.key", sa.private_pem, secret));
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(pki_dir / "sa.pub", sa.public_pem));
  KUBEOS_ASSIGN_OR_RETURN(admin_token_, RandomToken());
  KUBEOS_ASSIGN_OR_RETURN(restricted_token_, RandomToken());
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(
      dir_ / "tokens.csv",
      fmt::format(
          "{},kubeos-admin-token,admin-token,\"system:masters\"\n{},{}-token,restricted-token,\"{}\"\n",
          admin_token_, restricted_token_, kRestrictedUser, "kubeos:restricted"),
      secret));

  ca_pem_ = ca.cert_pem;
  admin_ = kube::RestConfig{.server = server(),
                            .ca_pem = ca.cert_pem,
                            .client_cert_pem = admin.cert_pem,
                            .client_key_pem = admin.key_pem};
  admin_.qps = -1;  // tests and tools talk fast
  restricted_ = admin_;
  restricted_.client_cert_pem = restricted.cert_pem;
  restricted_.client_key_pem = restricted.key_pem;
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(
      admin_kubeconfig(),
      KubeconfigYaml(server(), ca.cert_pem, "kubeos-admin", admin.cert_pem, admin.key_pem), secret));
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(
      restricted_kubeconfig(),
      KubeconfigYaml(server(), ca.cert_pem, kRestrictedUser, restricted.cert_pem, restricted.key_pem),
      secret));

  auto bin = [this](const char* name) { return (bin_dir_ / name).string(); };
  const std::string etcd_client = etcd_url();
  const std::string etcd_peer = fmt::format("http://127.0.0.1:{}", etcd_peer_port_);

  procs_.push_back(std::make_unique<Proc>(
      Proc{Component::kEtcd,
           {bin("etcd"), "--name=n0", "--data-dir=" + (dir_ / "etcd-data").string(),
            "--listen-client-urls=" + etcd_client, "--advertise-client-urls=" + etcd_client,
            "--listen-peer-urls=" + etcd_peer, "--initial-advertise-peer-urls=" + etcd_peer,
            "--initial-cluster=n0=" + etcd_peer, "--unsafe-no-fsync=true", "--log-level=warn",
            "--quota-backend-bytes=4294967296"},
           {}}));

  std::vector<std::string> api = {
      bin("kube-apiserver"),
      "--etcd-servers=" + etcd_client,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      fmt::format("--secure-port={}", apiserver_port_),
      "--tls-cert-file=" + (pki_dir / "apiserver.crt").string(),
      "--tls-private-key-file=" + (pki_dir / "apiserver.key").string(),
      "--client-ca-file=" + (pki_dir / "ca.crt").string(),
      "--token-auth-file=" + (dir_ / "tokens.csv").string(),
      "--authorization-mode=RBAC",
      "--service-account-issuer=" + server(),
      "--service-account-key-file=" + (pki_dir / "sa.pub").string(),
      "--service-account-signing-key-file=" + (pki_dir / "sa.key").string(),
      "--service-cluster-ip-range=10.0.0.0/24",
      "--allow-privileged=true",
      // ServiceAccount: no token controller runs. TaintNodesByCondition: it taints new Nodes not-ready, and
      // only the node-lifecycle controller (which needs kubelet heartbeats) would remove the taint.
      "--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
      "--endpoint-reconciler-type=none",
      "--v=0",
  };
  api.insert(api.end(), options_.extra_apiserver_args.begin(), options_.extra_apiserver_args.end());
  procs_.push_back(std::make_unique<Proc>(Proc{Component::kApiServer, api, {}}));

  const std::string kubeconfig = "--kubeconfig=" + admin_kubeconfig().string();
  if (options_.controller_manager) {
    procs_.push_back(std::make_unique<Proc>(
        Proc{Component::kControllerManager,
             {bin("kube-controller-manager"), kubeconfig, "--leader-elect=false", "--secure-port=0",
              // No node-lifecycle controller: kwok nodes send no heartbeats, and tests decide node health.
              "--controllers=disruption,replicaset,deployment,daemonset,garbagecollector,namespace",
              "--kube-api-qps=200", "--kube-api-burst=400", "--concurrent-deployment-syncs=10",
              "--concurrent-replicaset-syncs=10"},
             {}}));
  }
  if (options_.scheduler) {
    procs_.push_back(
        std::make_unique<Proc>(Proc{Component::kScheduler,
                                    {bin("kube-scheduler"), kubeconfig, "--leader-elect=false",
                                     "--secure-port=0", "--kube-api-qps=200", "--kube-api-burst=400"},
                                    {}}));
  }
  if (options_.kwok) {
    std::filesystem::path stages = options_.kwok_stages.empty()
                                       ? std::filesystem::path(KUBEOS_SOURCE_DIR) / "test/kwok/stages.yaml"
                                       : options_.kwok_stages;
    std::vector<std::string> kwok = {bin("kwok"), kubeconfig, "--config=" + stages.string(),
                                     "--cidr=10.128.0.0/12", "--node-ip=10.96.0.1"};
    if (options_.kwok_node_selector.empty()) {
      kwok.emplace_back("--manage-all-nodes=true");
    } else {
      kwok.push_back("--manage-nodes-with-label-selector=" + options_.kwok_node_selector);
    }
    procs_.push_back(std::make_unique<Proc>(Proc{Component::kKwok, kwok, {}}));
  }
  return Status::Ok();
}

Status ControlPlane::Launch(Proc& p) {
  SpawnOptions o;
  o.argv = p.argv;
  o.output_file = dir_ / "logs" / (std::string(ComponentName(p.component)) + ".log");
  o.new_session = options_.detach;
  o.die_with_parent = !options_.detach;
  // Keep the Go runtime from taking both cores for GC on a 2-core machine; leave GOMAXPROCS default.
  o.env = {{"GOGC", "200"}};
  auto proc = Process::Spawn(o);
  if (!proc.ok()) return proc.status().WithContext(std::string("start ") + ComponentName(p.component));
  p.process = std::move(*proc);
  return Status::Ok();
}

Status ControlPlane::WaitReady(Component c, milliseconds timeout) {
  Proc* p = Find(c);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::optional<kube::HttpTransport> http;
  std::string path;
  if (c == Component::kEtcd) {
    http.emplace(kube::RestConfig{.server = etcd_url()});
    path = "/health";
  } else if (c == Component::kApiServer) {
    http.emplace(admin_);
    path = "/readyz";
  } else {
    return Status::Ok();  // the others have no readiness endpoint we serve; tests wait for their effects
  }
  std::string last = "no answer yet";
  while (std::chrono::steady_clock::now() < deadline) {
    if (p != nullptr && p->process && !p->process->Running()) {
      return UnavailableError(fmt::format("{} exited with code {} during start-up:\n{}", ComponentName(c),
                                          p->process->ExitCode().value_or(-1), LogTail(c)));
    }
    auto r = http->Do({.method = "GET", .path = path, .timeout = seconds(2)});
    if (r.ok() && r->status == 200) return Status::Ok();
    last = r.ok() ? fmt::format("HTTP {}", r->status) : r.status().message();
    std::this_thread::sleep_for(kPollInterval);
  }
  return DeadlineExceededError(fmt::format("{} not ready after {} s (last: {}):\n{}", ComponentName(c),
                                           std::chrono::duration_cast<seconds>(timeout).count(), last,
                                           LogTail(c)));
}

StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::Start(const ControlPlaneOptions& options) {
  Status last;
  for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
    auto cp = StartOnce(options);
    if (cp.ok()) return cp;
    last = cp.status();
    // Only a component dying during start-up is retried: typically a port taken between our probe and its
    // bind.
    if (last.code() != StatusCode::kUnavailable) break;
    log::Warn("control plane start failed, retrying with new ports",
              {{"attempt", attempt}, {"error", last.message()}});
  }
  return last;
}

StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::StartOnce(const ControlPlaneOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<ControlPlane> cp(new ControlPlane());
  cp->options_ = options;
  cp->bin_dir_ = cp->options_.bin_dir.empty() ? DefaultBinDir() : cp->options_.bin_dir;
  for (const char* b : {"etcd", "kube-apiserver"}) {
    if (cp->bin_dir_.empty() || access((cp->bin_dir_ / b).c_str(), X_OK) != 0) {
      return FailedPreconditionError(fmt::format(
          "control plane binary '{}' not found in '{}'; build them with hack/build-control-plane and set "
          "KUBEOS_K8S_BIN to the directory it prints",
          b, cp->bin_dir_.string()));
    }
  }
  if (cp->options_.dir.empty()) {
    KUBEOS_ASSIGN_OR_RETURN(auto tmp, TempDir::Create("kubeos-cluster"));
    cp->dir_ = tmp.Release();  // removed by Stop()
    cp->temp_dir_ = true;
  } else {
    std::error_code ec;
    cp->dir_ = std::filesystem::absolute(cp->options_.dir, ec);
    std::filesystem::remove_all(cp->dir_ / "etcd-data", ec);
  }
  KUBEOS_RETURN_IF_ERROR(cp->Prepare());
  // On failure the state directory (with the logs the error names) is kept for inspection.
  auto keep_dir = [&cp](Status s) {
    cp->temp_dir_ = false;
    return s;
  };
  for (auto& p : cp->procs_) {
    const auto ts = std::chrono::steady_clock::now();
    if (Status s = cp->Launch(*p); !s.ok()) return keep_dir(s);
    auto timeout = p->component == Component::kEtcd ? milliseconds(kEtcdReadyTimeout)
                                                    : milliseconds(kApiServerReadyTimeout);
    if (Status s = cp->WaitReady(p->component, timeout); !s.ok()) return keep_dir(s);
    log::Debug(
        "component started",
        {{"component", ComponentName(p->component)},
         {"ms", std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - ts).count()}});
  }
  // Components without a readiness endpoint of ours: at least make sure they did not die on start-up.
  std::this_thread::sleep_for(kLivenessGrace);
  for (auto& p : cp->procs_) {
    if (!p->process->Running()) {
      return keep_dir(UnavailableError(
          fmt::format("{} exited with code {} during start-up:\n{}", ComponentName(p->component),
                      p->process->ExitCode().value_or(-1), cp->LogTail(p->component))));
    }
  }
  cp->startup_time_ = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0);
  KUBEOS_RETURN_IF_ERROR(cp->WriteState());
  cp->startup_resident_bytes_ = cp->ResidentBytes();
  if (cp->options_.detach) {
    for (auto& p : cp->procs_) p->process->Release();
    cp->owned_ = false;
  }
  return cp;
}

Status ControlPlane::WriteState() {
  nlohmann::json state;
  state["server"] = server();
  state["etcd"] = etcd_url();
  state["binDir"] = bin_dir_.string();
  state["apiserverPort"] = apiserver_port_;
  state["etcdPort"] = etcd_port_;
  state["adminToken"] = admin_token_;
  state["restrictedToken"] = restricted_token_;
  for (auto& p : procs_) {
    const pid_t pid = p->process ? p->process->pid() : -1;
    // pid + start time identify the process even after the pid is reused by another.
    state["processes"].push_back({{"component", ComponentName(p->component)},
                                  {"pid", pid},
                                  {"startTicks", pid > 0 ? ProcessStartTicks(pid) : 0},
                                  {"binary", p->argv.front()}});
  }
  return WriteFileAtomic(dir_ / "state.json", state.dump(2) + "\n",
                         {.mode = 0600, .keep_existing_mode = false});
}

StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::Attach(const std::filesystem::path& dir) {
  KUBEOS_ASSIGN_OR_RETURN(std::string text, ReadFile(dir / "state.json"));
  auto state = nlohmann::json::parse(text, nullptr, false);
  if (!state.is_object())
    return DataLossError("attach: " + (dir / "state.json").string() + " is not valid JSON");
  std::unique_ptr<ControlPlane> cp(new ControlPlane());
  cp->owned_ = false;
  std::error_code ec;
  cp->dir_ = std::filesystem::absolute(dir, ec);
  cp->bin_dir_ = state.value("binDir", "");
  cp->apiserver_port_ = state.value("apiserverPort", 0);
  cp->etcd_port_ = state.value("etcdPort", 0);
  cp->admin_token_ = state.value("adminToken", "");
  cp->restricted_token_ = state.value("restrictedToken", "");
  KUBEOS_ASSIGN_OR_RETURN(cp->admin_, kube::LoadKubeconfig(cp->admin_kubeconfig()));
  cp->admin_.qps = -1;
  KUBEOS_ASSIGN_OR_RETURN(cp->restricted_, kube::LoadKubeconfig(cp->restricted_kubeconfig()));
  cp->restricted_.qps = -1;
  cp->ca_pem_ = cp->admin_.ca_pem;
  KUBEOS_RETURN_IF_ERROR(cp->WaitReady(Component::kApiServer, seconds(5)));
  return cp;
}

Status ControlPlane::StopDetached(const std::filesystem::path& dir) {
  KUBEOS_ASSIGN_OR_RETURN(std::string text, ReadFile(dir / "state.json"));
  auto state = nlohmann::json::parse(text, nullptr, false);
  if (!state.is_object()) return DataLossError((dir / "state.json").string() + " is not valid JSON");
  auto procs = state.value("processes", nlohmann::json::array());
  // Reverse start order: clients first, etcd last.
  for (auto it = procs.rbegin(); it != procs.rend(); ++it) {
    pid_t pid = it->value("pid", -1);
    uint64_t ticks = it->value("startTicks", uint64_t{0});
    // Gone, or the pid now belongs to another process: nothing of ours to stop.
    if (pid <= 0 || ticks == 0 || ProcessStartTicks(pid) != ticks) continue;
    Process p = Process::Adopt(pid, /*is_child=*/false);
    KUBEOS_RETURN_IF_ERROR(p.Stop(kStopGrace));
  }
  std::error_code ec;
  std::filesystem::remove(dir / "state.json", ec);
  return Status::Ok();
}

Status ControlPlane::StopComponent(Component c) {
  Proc* p = Find(c);
  if (p == nullptr || !p->process) return NotFoundError(std::string(ComponentName(c)) + " is not running");
  Status s = p->process->Stop(kStopGrace);
  p->process.reset();
  return s;
}

Status ControlPlane::StartComponent(Component c) {
  Proc* p = Find(c);
  if (p == nullptr)
    return NotFoundError(std::string(ComponentName(c)) + " is not part of this control plane");
  if (p->process && p->process->Running()) return Status::Ok();
  KUBEOS_RETURN_IF_ERROR(Launch(*p));
  return WaitReady(
      c, c == Component::kEtcd ? milliseconds(kEtcdReadyTimeout) : milliseconds(kApiServerReadyTimeout));
}

Status ControlPlane::Stop() {
  Status first;
  for (auto it = procs_.rbegin(); it != procs_.rend(); ++it) {
    if (!(*it)->process) continue;
    Status s = (*it)->process->Stop(kStopGrace);
    if (!s.ok() && first.ok()) first = s;
    (*it)->process.reset();
  }
  procs_.clear();
  if (temp_dir_ && !dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    temp_dir_ = false;
  }
  return first;
}

uint64_t ControlPlane::ResidentBytes() {
  uint64_t total = 0;
  for (auto& p : procs_) {
    if (p->process && p->process->Running()) total += ::kubeos::ResidentBytes(p->process->pid());
  }
  return total;
}

uint64_t ControlPlane::PeakResidentBytes() {
  uint64_t total = 0;
  for (auto& p : procs_) {
    if (p->process && p->process->Running()) total += ::kubeos::PeakResidentBytes(p->process->pid());
  }
  return total;
}

std::pair<int, std::string> HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {0, ""};
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return {0, ""};
  }
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  (void)!::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string resp;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) resp.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  if (resp.rfind("HTTP/1.1 ", 0) != 0 || resp.size() < 12) return {0, resp};
  const auto head_end = resp.find("\r\n\r\n");
  return {std::stoi(resp.substr(9, 3)), head_end == std::string::npos ? "" : resp.substr(head_end + 4)};
}

}  // namespace kubeos::testing

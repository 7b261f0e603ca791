#include "sim/cluster.h"

#include <fmt/format.h>

#include <thread>

#include "common/file.h"
#include "common/log.h"
#include "pki/x509.h"

namespace kubeos::sim {
namespace {

using nlohmann::json;
using std::chrono::seconds;

constexpr std::chrono::seconds kKubectlTimeout{120};
// kwok initialises a new Node within a second or two; the workloads need the scheduler and controllers.
constexpr std::chrono::seconds kNodesInitTimeout{120};
constexpr std::chrono::seconds kWorkloadTimeout{180};
constexpr std::chrono::seconds kIdentityTokenLifetime{24 * 3600};

std::string TokenKubeconfig(const std::string& server, const std::string& ca_pem, const std::string& user,
                            const std::string& token) {
  return fmt::format(
      "apiVersion: v1\nkind: Config\ncurrent-context: {0}\nclusters:\n- name: sim\n  cluster:\n    server: "
      "{1}\n"
      "    certificate-authority-data: {2}\nusers:\n- name: {0}\n  user:\n    token: {3}\ncontexts:\n- name: "
      "{0}\n"
      "  context:\n    cluster: sim\n    user: {0}\n",
      user, server, pki::Base64Encode(ca_pem), token);
}

bool HasReadyCondition(const json& node) {
  for (const json& c : node.value("/status/conditions"_json_pointer, json::array())) {
    if (c.value("type", "") == "Ready") return true;
  }
  return false;
}

json PodTemplate(const std::string& app, bool spread) {
  json spec = {{"containers", json::array({{{"name", app}, {"image", "registry.local/" + app + ":1"}}})},
               {"terminationGracePeriodSeconds", 5}};
  if (spread) {
    spec["topologySpreadConstraints"] = json::array({{{"maxSkew", 1},
                                                      {"topologyKey", "kubernetes.io/hostname"},
                                                      {"whenUnsatisfiable", "ScheduleAnyway"},
                                                      {"labelSelector", {{"matchLabels", {{"app", app}}}}}}});
  }
  return {{"metadata", {{"labels", {{"app", app}}}}}, {"spec", spec}};
}

}  // namespace

SimCluster::~SimCluster() { (void)Stop(); }

void SimCluster::Setup(const std::string& line) {
  log::Debug("sim setup", {{"step", line}});
  if (options_.on_setup) options_.on_setup(line);
}

std::vector<std::string> SimCluster::node_names() const { return names_; }

StatusOr<std::string> SimCluster::Kubectl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {kubectl().string(), "--kubeconfig", admin_kubeconfig().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  KUBEOS_ASSIGN_OR_RETURN(RunResult r, RunProgram(argv, kKubectlTimeout));
  if (r.exit_code != 0) {
    return InternalError(
        fmt::format("kubectl {} exited {}: {}", fmt::join(args, " "), r.exit_code, r.output));
  }
  return r.output;
}

StatusOr<std::unique_ptr<SimCluster>> SimCluster::Start(const ClusterOptions& options) {
  std::unique_ptr<SimCluster> c(new SimCluster(options));
  auto t0 = std::chrono::steady_clock::now();
  c->Setup(
      "starting the control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)");
  KUBEOS_ASSIGN_OR_RETURN(c->cp_, testing::ControlPlane::Start({.dir = options.dir / "cluster",
                                                                .bin_dir = options.k8s_bin_dir,
                                                                .controller_manager = true,
                                                                .scheduler = true,
                                                                .kwok = true}));
  kube::RestConfig admin = c->cp_->AdminConfig();
  admin.qps = 200;
  admin.burst = 400;
  c->client_ = std::make_unique<kube::Client>(admin);
  c->reporter_ = std::make_unique<KubeNodeReporter>(*c->client_);
  c->Setup(fmt::format("control plane up in {:.1f} s ({})",
                       std::chrono::duration<double>(c->cp_->startup_time()).count(), c->cp_->server()));
  KUBEOS_RETURN_IF_ERROR(c->ApplyDeploy());
  KUBEOS_RETURN_IF_ERROR(c->CreateNodes());
  if (options.simulated_hosts) {
    KUBEOS_RETURN_IF_ERROR(c->StartHosts());
  } else {
    for (int i = 1; i <= options.nodes; ++i) {
      KUBEOS_RETURN_IF_ERROR(c->reporter_->Report(fmt::format("{}{}", options.node_prefix, i),
                                                  {.ready = true,
                                                   .reason = "KubeletReady",
                                                   .message = "stand-in",
                                                   .os_image = options.initial_os_image}));
    }
  }
  if (options.workloads) KUBEOS_RETURN_IF_ERROR(c->CreateWorkloads());
  KUBEOS_RETURN_IF_ERROR(c->StartOperator());
  c->Setup(fmt::format("cluster ready in {:.1f} s",
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()));
  return c;
}

Status SimCluster::ApplyDeploy() {
  Setup("kubectl apply -k deploy/ (CRDs, namespace, RBAC, Deployment)");
  KUBEOS_RETURN_IF_ERROR(Kubectl({"apply", "-k", (options_.source_dir / "deploy").string()}).status());
  KUBEOS_RETURN_IF_ERROR(Kubectl({"wait", "--for=condition=Established", "--timeout=60s",
                                  "crd/os.upgrade.openeuler.org", "crd/osinstances.upgrade.openeuler.org"})
                             .status());
  // The Deployment's pods would be fakes on kwok; the operator runs as a local process with the same flags.
  if (client_->Get(kube::Resource::Deployments(), kSystemNamespace, "upgrade-operator").ok()) {
    KUBEOS_RETURN_IF_ERROR(client_
                               ->Patch(kube::Resource::Deployments(), kSystemNamespace, "upgrade-operator",
                                       kube::PatchType::kMerge, {{"spec", {{"replicas", 0}}}})
                               .status());
  }
  if (!options_.simulated_hosts) {
    Status s = client_->Delete(kube::Resource::DaemonSets(), kSystemNamespace, "upgrade-proxy");
    if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
  }
  std::filesystem::create_directories(options_.dir / "identities");
  KUBEOS_ASSIGN_OR_RETURN(std::string op, IdentityKubeconfig(kSystemNamespace, "upgrade-operator",
                                                             "operator.kubeconfig", &operator_identity_));
  (void)op;
  KUBEOS_ASSIGN_OR_RETURN(proxy_kubeconfig_, IdentityKubeconfig(kSystemNamespace, "upgrade-proxy",
                                                                "proxy.kubeconfig", &proxy_identity_));
  return Status::Ok();
}

StatusOr<std::string> SimCluster::IdentityKubeconfig(const std::string& ns, const std::string& sa,
                                                     const std::string& file, std::string* who) {
  std::filesystem::path path = options_.dir / "identities" / file;
  StatusOr<json> token = client_->Create(kube::Resource::ServiceAccounts(), ns,
                                         {{"apiVersion", "authentication.k8s.io/v1"},
                                          {"kind", "TokenRequest"},
                                          {"metadata", {{"name", sa}}},
                                          {"spec", {{"expirationSeconds", kIdentityTokenLifetime.count()}}}},
                                         "token");
  if (!token.ok()) {
    *who = fmt::format("admin (no ServiceAccount {}/{} in deploy/)", ns, sa);
    KUBEOS_ASSIGN_OR_RETURN(std::string admin, ReadFile(admin_kubeconfig()));
    KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(path, admin, {.mode = 0600}));
    return path.string();
  }
  std::string t = token->value("/status/token"_json_pointer, std::string());
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(
      path,
      TokenKubeconfig(cp_->server(), cp_->AdminConfig().ca_pem, "system:serviceaccount:" + ns + ":" + sa, t),
      {.mode = 0600, .keep_existing_mode = false}));
  *who = fmt::format("ServiceAccount {}/{}", ns, sa);
  return path.string();
}

Status SimCluster::CreateNodes() {
  Setup(fmt::format("creating {} worker Nodes (kwok)", options_.nodes));
  for (int i = 1; i <= options_.nodes; ++i) {
    std::string name = fmt::format("{}{}", options_.node_prefix, i);
    json node = {{"apiVersion", "v1"},
                 {"kind", "Node"},
                 {"metadata",
                  {{"name", name},
                   {"labels",
                    {{"kubernetes.io/hostname", name},
                     {"kubernetes.io/os", "linux"},
                     {"kubernetes.io/arch", "amd64"},
                     {"type", "kwok"}}},
                   {"annotations", {{"kwok.x-k8s.io/node", "fake"}}}}},
                 {"spec", json::object()}};
    StatusOr<json> created = client_->Create(kube::Resource::Nodes(), "", node);
    if (!created.ok()) return created.status();
    names_.push_back(name);
  }
  // kwok's node-initialize stage adds the first Ready condition; after that the node's status is ours.
  auto deadline = std::chrono::steady_clock::now() + kNodesInitTimeout;
  for (;;) {
    KUBEOS_ASSIGN_OR_RETURN(json list, client_->List(kube::Resource::Nodes(), ""));
    int initialised = 0;
    for (const json& n : list["items"]) initialised += HasReadyCondition(n) ? 1 : 0;
    if (initialised >= options_.nodes) break;
    if (std::chrono::steady_clock::now() > deadline) {
      return DeadlineExceededError(
          fmt::format("kwok initialised {} of {} nodes", initialised, options_.nodes));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (int i = 1; i <= options_.nodes && options_.simulated_hosts; ++i) {
    KUBEOS_RETURN_IF_ERROR(
        reporter_->Report(fmt::format("{}{}", options_.node_prefix, i),
                          {.ready = false, .reason = "KubeletNotReady", .message = "powered off"}));
  }
  return Status::Ok();
}

Status SimCluster::StartHosts() {
  bool proxy = !options_.proxy_bin.empty() && std::filesystem::exists(options_.proxy_bin);
  Setup(fmt::format("creating {} simulated hosts (slot A = v1, {} MiB slots) with os-agent{}", options_.nodes,
                    options_.slot_bytes >> 20,
                    proxy ? " and os-proxy (" + proxy_identity_ + ")" : " (no os-proxy built)"));
  for (int i = 1; i <= options_.nodes; ++i) {
    std::string name = fmt::format("{}{}", options_.node_prefix, i);
    std::filesystem::path dir = options_.dir / "hosts" / name;
    SimNodeOptions o{.name = name,
                     .host = {.dir = dir,
                              .v1_image = options_.v1_image,
                              .slot_bytes = options_.slot_bytes,
                              .reboot = {options_.demo_bin.string(), "sim-reboot", dir.string()},
                              // The trial is healthy once the simulated machine runs its agent; a real host
                              // would check kubelet and the container runtime here.
                              .health_checks = {{"/bin/true"}},
                              .certs = options_.host_certs},
                     .agent_bin = options_.agent_bin,
                     .timing = options_.timing,
                     .reporter = reporter_.get(),
                     .on_event = options_.on_node_event};
    if (proxy) {
      o.proxy_argv = {options_.proxy_bin.string(), "--kubeconfig=" + proxy_kubeconfig_,
                      fmt::format("--drain-timeout={}", options_.drain_timeout_seconds)};
    }
    KUBEOS_ASSIGN_OR_RETURN(std::unique_ptr<SimNode> n, SimNode::Create(std::move(o)));
    nodes_.push_back(std::move(n));
  }
  Setup("powering on the hosts (firmware boots slot A, os-agent starts, Node Ready)");
  for (auto& n : nodes_) n->Launch();
  for (auto& n : nodes_) KUBEOS_RETURN_IF_ERROR(n->WaitStarted().WithContext("boot " + n->name()));
  return Status::Ok();
}

Status SimCluster::CreateWorkloads() {
  replicas_ = options_.replicas > 0 ? options_.replicas : 2 * options_.nodes;
  Setup(fmt::format("workloads: Deployment {}/{} ({} replicas, PDB minAvailable {}), DaemonSet {}/{}",
                    kWorkloadNamespace, kDeploymentName, replicas_, replicas_ - 1, kWorkloadNamespace,
                    kDaemonSetName));
  KUBEOS_RETURN_IF_ERROR(
      client_
          ->Create(
              kube::Resource::Namespaces(), "",
              {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", kWorkloadNamespace}}}})
          .status());
  KUBEOS_RETURN_IF_ERROR(client_
                             ->Create(kube::Resource::PodDisruptionBudgets(), kWorkloadNamespace,
                                      {{"apiVersion", "policy/v1"},
                                       {"kind", "PodDisruptionBudget"},
                                       {"metadata", {{"name", kDeploymentName}}},
                                       {"spec",
                                        {{"minAvailable", replicas_ - 1},
                                         {"selector", {{"matchLabels", {{"app", kDeploymentName}}}}}}}})
                             .status());
  KUBEOS_RETURN_IF_ERROR(client_
                             ->Create(kube::Resource::Deployments(), kWorkloadNamespace,
                                      {{"apiVersion", "apps/v1"},
                                       {"kind", "Deployment"},
                                       {"metadata", {{"name", kDeploymentName}}},
                                       {"spec",
                                        {{"replicas", replicas_},
                                         {"selector", {{"matchLabels", {{"app", kDeploymentName}}}}},
                                         {"template", PodTemplate(kDeploymentName, true)}}}})
                             .status());
  KUBEOS_RETURN_IF_ERROR(client_
                             ->Create(kube::Resource::DaemonSets(), kWorkloadNamespace,
                                      {{"apiVersion", "apps/v1"},
                                       {"kind", "DaemonSet"},
                                       {"metadata", {{"name", kDaemonSetName}}},
                                       {"spec",
                                        {{"selector", {{"matchLabels", {{"app", kDaemonSetName}}}}},
                                         {"template", PodTemplate(kDaemonSetName, false)}}}})
                             .status());
  auto deadline = std::chrono::steady_clock::now() + kWorkloadTimeout;
  for (;;) {
    KUBEOS_ASSIGN_OR_RETURN(json d,
                            client_->Get(kube::Resource::Deployments(), kWorkloadNamespace, kDeploymentName));
    KUBEOS_ASSIGN_OR_RETURN(json ds,
                            client_->Get(kube::Resource::DaemonSets(), kWorkloadNamespace, kDaemonSetName));
    KUBEOS_ASSIGN_OR_RETURN(
        json pdb, client_->Get(kube::Resource::PodDisruptionBudgets(), kWorkloadNamespace, kDeploymentName));
    int64_t avail = d.value("/status/availableReplicas"_json_pointer, int64_t{0});
    int64_t ds_ready = ds.value("/status/numberReady"_json_pointer, int64_t{0});
    int64_t allowed = pdb.value("/status/disruptionsAllowed"_json_pointer, int64_t{0});
    if (avail >= replicas_ && ds_ready >= options_.nodes && allowed >= 1) break;
    if (std::chrono::steady_clock::now() > deadline) {
      return DeadlineExceededError(
          fmt::format("workloads not ready: {}/{} replicas, {}/{} daemon pods, PDB allows {}", avail,
                      replicas_, ds_ready, options_.nodes, allowed));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Status::Ok();
}

Status SimCluster::StartOperator() {
  if (options_.operator_bin.empty() || !std::filesystem::exists(options_.operator_bin)) {
    Setup("os-operator is not built: no rollout will be planned");
    return Status::Ok();
  }
  KUBEOS_ASSIGN_OR_RETURN(int metrics, testing::FreeLoopbackPort());
  KUBEOS_ASSIGN_OR_RETURN(int health, testing::FreeLoopbackPort());
  Setup(fmt::format("starting os-operator (local process, the Deployment's flags, {})", operator_identity_));
  std::filesystem::create_directories(options_.dir / "logs");
  KUBEOS_ASSIGN_OR_RETURN(
      Process p,
      Process::Spawn(
          {.argv = {options_.operator_bin.string(),
                    "--kubeconfig=" + (options_.dir / "identities" / "operator.kubeconfig").string(),
                    "--leader-elect", "--leader-election-namespace=upgrade-system",
                    fmt::format("--metrics-bind-address=127.0.0.1:{}", metrics),
                    fmt::format("--health-probe-bind-address=127.0.0.1:{}", health)},
           .env = {{"POD_NAME", "upgrade-operator-sim-0"}, {"POD_NAMESPACE", kSystemNamespace}},
           .output_file = options_.dir / "logs" / "operator.log"}));
  operator_ = std::move(p);
  metrics_url_ = fmt::format("http://127.0.0.1:{}/metrics", metrics);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  if (!operator_->Running()) {
    return InternalError("os-operator exited at start; see " +
                         (options_.dir / "logs" / "operator.log").string());
  }
  return Status::Ok();
}

Status SimCluster::Stop() {
  if (operator_) {
    (void)operator_->Stop(seconds(5));
    operator_.reset();
  }
  for (auto& n : nodes_) n->RequestStop();
  for (auto& n : nodes_) n->Stop();
  nodes_.clear();
  Status s;
  if (cp_) {
    s = cp_->Stop();
    cp_.reset();
  }
  return s;
}

}  // namespace kubeos::sim

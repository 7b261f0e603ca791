// os-proxy end to end on the real control plane with kube-controller-manager (ReplicaSets, DaemonSets, the
// disruption controller), kube-scheduler and kwok nodes/pods, each node's proxy talking to the real os-agent
// on a simulated host (test/integration/agent/sim_host.h). The proxy runs as the real binary under the
// restricted identity bound to deploy/proxy's ClusterRole, so missing RBAC fails these tests.
//
// The operator's part (OSInstance spec + node label) is played by the test, exactly as docs/operator.md
// says the operator writes it. The "reboot" is SimHost::Reboot (GRUB's env logic) plus the Node's osImage,
// which the test writes as kubelet would.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "agent/slot.h"
#include "api/os.h"
#include "common/file.h"
#include "common/process.h"
#include "harness/cluster_gtest.h"
#include "kube/client.h"
#include "proxy/controller.h"
#include "sim_host.h"

namespace kubeos::testing {

ControlPlaneOptions TestClusterOptions() {
  return {.controller_manager = true, .scheduler = true, .kwok = true};
}

namespace {

using agenttest::SimHost;
using kube::Client;
using kube::PatchType;
using kube::Resource;
using nlohmann::json;
using std::chrono::seconds;

const Resource kDeployments = Resource::Deployments();
const Resource kDaemonSets = Resource::DaemonSets();
const Resource kPdbs = Resource::PodDisruptionBudgets();
const Resource kOs = api::OsResource();
const Resource kOsInstances = api::OsInstanceResource();

template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return pred();
}

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

StatusOr<std::string> Kubectl(const std::vector<std::string>& args, int* exit_code = nullptr) {
  std::vector<std::string> argv = {(TestCluster().bin_dir() / "kubectl").string(),
                                   "--kubeconfig=" + TestCluster().admin_kubeconfig().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  KUBEOS_ASSIGN_OR_RETURN(RunResult r, RunProgram(argv, std::chrono::seconds(60)));
  if (exit_code != nullptr) *exit_code = r.exit_code;
  return r.output;
}

// The upgrade payload every test installs: a small ext4 image ("KubeOS 2").
struct Payload {
  std::filesystem::path file;
  std::string sha256;
};

class ProxyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Client admin(TestCluster().AdminConfig());
    int code = 0;
    StatusOr<std::string> out =
        Kubectl({"apply", "-f", (std::filesystem::path(KUBEOS_SOURCE_DIR) / "deploy/crds").string()}, &code);
    ASSERT_TRUE(out.ok() && code == 0) << out.value_or(out.status().ToString());
    // The proxy's role (deploy/proxy/rbac.yaml) bound to the restricted test identity.
    out = Kubectl({"apply", "-f",
                   (std::filesystem::path(KUBEOS_SOURCE_DIR) / "deploy/operator/namespace.yaml").string(),
                   "-f", (std::filesystem::path(KUBEOS_SOURCE_DIR) / "deploy/proxy/rbac.yaml").string()},
                  &code);
    ASSERT_TRUE(out.ok() && code == 0) << out.value_or(out.status().ToString());
    // The whole of deploy/proxy is accepted by the apiserver (server-side dry run: a real DaemonSet would put
    // pods on every test node).
    out = Kubectl({"apply", "--dry-run=server", "-k",
                   (std::filesystem::path(KUBEOS_SOURCE_DIR) / "deploy/proxy").string()},
                  &code);
    ASSERT_TRUE(out.ok() && code == 0) << out.value_or(out.status().ToString());
    json binding = {{"metadata", {{"name", "proxy-test-restricted"}}},
                    {"roleRef",
                     {{"apiGroup", "rbac.authorization.k8s.io"},
                      {"kind", "ClusterRole"},
                      {"name", "upgrade-proxy-role"}}},
                    {"subjects", json::array({{{"apiGroup", "rbac.authorization.k8s.io"},
                                               {"kind", "User"},
                                               {"name", ControlPlane::kRestrictedUser}}})}};
    StatusOr<json> b =
        admin.Create({"rbac.authorization.k8s.io", "v1", "clusterrolebindings", false}, "", binding);
    ASSERT_TRUE(b.ok() || b.status().code() == StatusCode::kAlreadyExists) << b.status().ToString();
    ASSERT_TRUE(Eventually(
        [&] {
          return admin.Get(Resource::CustomResourceDefinitions(), "", "osinstances.upgrade.openeuler.org")
                     .ok() &&
                 admin.List(kOsInstances, "default").ok();
        },
        seconds(30)));
    StatusOr<TempDir> dir = TempDir::Create("proxy-payload");
    ASSERT_TRUE(dir.ok());
    payload_dir_ = new TempDir(std::move(*dir));
    payload_.file = payload_dir_->path() / "os.img";
    ASSERT_TRUE(agenttest::MakeExtImage(payload_.file, uint64_t{8} * 1024 * 1024, "slot B v2").ok());
    payload_.sha256 = agenttest::FileSha256(payload_.file);
  }
  static void TearDownTestSuite() {
    delete payload_dir_;
    payload_dir_ = nullptr;
  }

  void SetUp() override {
    static std::atomic<int> counter{0};
    tag_ = fmt::format("p{}", ++counter);
    ns_ = UniqueTestNamespace();
    ASSERT_TRUE(client_.Create(Resource::Namespaces(), "", {{"metadata", {{"name", ns_}}}}).ok());
    StatusOr<TempDir> dir = TempDir::Create("proxy-test");
    ASSERT_TRUE(dir.ok());
    work_ = std::make_unique<TempDir>(std::move(*dir));
  }

  void TearDown() override {
    for (auto& [name, p] : proxies_) {
      if (HasFailure()) {
        StatusOr<std::string> log = ReadFile(work_->path() / (name + ".log"));
        std::string text = log.value_or("");
        if (text.size() > 6000) text = text.substr(text.size() - 6000);
        ADD_FAILURE() << "os-proxy " << name << " log tail:\n" << text;
      }
      (void)p.Stop(std::chrono::seconds(5));
    }
    proxies_.clear();
    if (HasFailure()) {
      for (auto& [name, h] : hosts_) {
        std::string text = ReadFile(h.dir() / "agent.log").value_or("");
        if (text.size() > 4000) text = text.substr(text.size() - 4000);
        ADD_FAILURE() << "os-agent of " << name << " log tail:\n" << text;
      }
    }
    hosts_.clear();
  }

  std::string NodeName(int i) const { return fmt::format("{}-n{}", tag_, i); }

  // A kwok node labelled for this test, Ready, reporting `os_image` as kubelet would.
  void CreateNode(const std::string& name, const std::string& os_image = "KubeOS 1") {
    json node = {{"metadata",
                  {{"name", name}, {"labels", {{"kubeos-test", tag_}, {"kubernetes.io/hostname", name}}}}}};
    ASSERT_TRUE(client_.Create(Resource::Nodes(), "", node).ok());
    ASSERT_TRUE(Eventually([&] { return NodeReady(name); }, seconds(30))) << name << " never Ready";
    SetOsImage(name, os_image);
  }
  bool NodeReady(const std::string& name) {
    StatusOr<json> n = client_.Get(Resource::Nodes(), "", name);
    if (!n.ok()) return false;
    for (const auto& c : (*n)["status"].value("conditions", json::array()))
      if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
    return false;
  }
  void SetOsImage(const std::string& name, const std::string& os_image) {
    StatusOr<json> r = client_.Patch(Resource::Nodes(), "", name, PatchType::kMerge,
                                     {{"status", {{"nodeInfo", {{"osImage", os_image}}}}}}, "status");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  json GetNode(const std::string& name) {
    return client_.Get(Resource::Nodes(), "", name).value_or(json::object());
  }
  static bool Cordoned(const json& node) {
    return node.value("spec", json::object()).value("unschedulable", false);
  }
  static bool OurAnnotation(const json& node) {
    return node["metadata"].value("annotations", json::object()).contains(node::kCordonAnnotation);
  }

  // A simulated host with the real os-agent, and os-proxy for `node` (restricted identity, deploy's RBAC).
  SimHost& StartHost(const std::string& node) {
    StatusOr<SimHost> h = SimHost::Create();
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    auto& host = hosts_.emplace(node, std::move(*h)).first->second;
    Status s = host.StartAgent();
    EXPECT_TRUE(s.ok()) << s.ToString();
    return host;
  }
  void StartProxy(const std::string& node, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {
        OS_PROXY_BIN,          "--kubeconfig=" + TestCluster().restricted_kubeconfig().string(),
        "--node-name=" + node, "--agent-socket=" + hosts_.at(node).socket().string(),
        "--drain-timeout=60",  "--reboot-timeout=120",
        "--resync=5"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    StatusOr<Process> p = Process::Spawn({.argv = argv, .output_file = work_->path() / (node + ".log")});
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    proxies_.erase(node);
    proxies_.emplace(node, std::move(*p));
  }
  void KillProxy(const std::string& node) {
    auto it = proxies_.find(node);
    ASSERT_NE(it, proxies_.end());
    kill(it->second.pid(), SIGKILL);
    it->second.Wait();
    proxies_.erase(it);
  }

  // An OS object in the test namespace (upgrade to "KubeOS 2" from the payload unless changed by `patch`).
  void CreateOs(const std::string& name, bool evictpodforce, const json& patch = json::object()) {
    json os = {{"apiVersion", "upgrade.openeuler.org/v1alpha1"},
               {"kind", "OS"},
               {"metadata", {{"name", name}}},
               {"spec",
                {{"osversion", "KubeOS 2"},
                 {"imageurl", payload_.file.string()},
                 {"maxunavailable", 2},
                 {"checksum", payload_.sha256},
                 {"flagSafe", false},
                 {"mtls", false},
                 {"imagetype", "disk"},
                 {"containerimage", ""},
                 {"opstype", "upgrade"},
                 {"evictpodforce", evictpodforce},
                 {"nodeselector", tag_ + "-" + name}}}};
    os.merge_patch(patch);
    StatusOr<json> r = client_.Create(kOs, ns_, os);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  // What the operator writes when it assigns the node (docs/operator.md, "Applying a PlanResult").
  void Assign(const std::string& node, const std::string& os, const std::string& nodestatus = "upgrade") {
    ASSERT_TRUE(Eventually([&] { return client_.Get(kOsInstances, "default", node).ok(); }, seconds(20)))
        << "os-proxy did not create its OSInstance";
    StatusOr<json> os_obj = client_.Get(kOs, ns_, os);
    ASSERT_TRUE(os_obj.ok()) << os_obj.status().ToString();
    const json os_spec = (*os_obj)["spec"];
    json spec = {{"nodestatus", nodestatus},
                 {"namespacedname", {{"name", os}, {"namespace", ns_}}},
                 {"sysconfigs", os_spec.value("sysconfigs", json(nullptr))}};
    if (nodestatus != "config") spec["upgradeconfigs"] = os_spec.value("upgradeconfigs", json(nullptr));
    StatusOr<json> r = client_.Patch(kOsInstances, "default", node, PatchType::kMerge, {{"spec", spec}});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const char* label =
        nodestatus == "config" ? "upgrade.openeuler.org/configuring" : "upgrade.openeuler.org/upgrading";
    r = client_.Patch(Resource::Nodes(), "", node, PatchType::kMerge,
                      {{"metadata", {{"labels", {{label, ""}}}}}});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  json Instance(const std::string& node) {
    return client_.Get(kOsInstances, "default", node).value_or(json::object());
  }
  std::string Phase(const std::string& node) {
    return Instance(node).value("status", json::object()).value("phase", "");
  }
  bool WaitPhase(const std::string& node, const std::string& phase, seconds timeout) {
    return Eventually([&] { return Phase(node) == phase; }, timeout);
  }
  // The node was released: label removed, not cordoned by us, nodestatus idle, namespacedname cleared.
  void ExpectReleased(const std::string& node) {
    EXPECT_TRUE(Eventually(
        [&] {
          json n = GetNode(node);
          json spec = Instance(node).value("spec", json::object());
          json labels = n["metadata"].value("labels", json::object());
          return !labels.contains("upgrade.openeuler.org/upgrading") &&
                 !labels.contains("upgrade.openeuler.org/configuring") && !Cordoned(n) && !OurAnnotation(n) &&
                 spec.value("nodestatus", "") == "idle" && !spec.contains("namespacedname");
        },
        seconds(20)))
        << GetNode(node).dump() << "\n"
        << Instance(node).dump();
  }

  std::vector<json> PodsOn(const std::string& node) {
    StatusOr<json> l = client_.List(Resource::Pods(), "", {{"fieldSelector", "spec.nodeName=" + node}});
    std::vector<json> out;
    if (l.ok())
      for (auto& p : (*l)["items"]) out.push_back(p);
    return out;
  }
  std::set<std::string> PodNamesOn(const std::string& node) {
    std::set<std::string> out;
    for (const auto& p : PodsOn(node)) out.insert(p["metadata"].value("name", ""));
    return out;
  }
  std::vector<json> EventsFor(const std::string& node, const std::string& reason) {
    StatusOr<json> l =
        client_.List(Resource::Events(), "", {{"fieldSelector", "involvedObject.name=" + node}});
    std::vector<json> out;
    if (l.ok())
      for (auto& e : (*l)["items"])
        if (e.value("reason", "") == reason) out.push_back(e);
    return out;
  }

  json PodSpec(const std::string& node, bool empty_dir = false) {
    json spec = {{"containers", json::array({{{"name", "c"}, {"image", "registry.invalid/app:1"}}})},
                 {"terminationGracePeriodSeconds", 1}};
    if (!node.empty()) spec["nodeName"] = node;
    if (empty_dir) {
      spec["volumes"] = json::array({{{"name", "scratch"}, {"emptyDir", json::object()}}});
      spec["containers"][0]["volumeMounts"] = json::array({{{"name", "scratch"}, {"mountPath", "/scratch"}}});
    }
    return spec;
  }
  void CreatePod(const std::string& name, const std::string& node, bool empty_dir = false) {
    StatusOr<json> r = client_.Create(
        Resource::Pods(), ns_,
        {{"metadata", {{"name", name}, {"labels", {{"app", name}}}}}, {"spec", PodSpec(node, empty_dir)}});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  // A Deployment whose pods go only to this test's nodes (optionally one node), one per node.
  void CreateDeployment(const std::string& name, int replicas, const std::string& node = "",
                        bool empty_dir = false) {
    json labels = {{"app", name}};
    json spec = PodSpec("", empty_dir);
    spec["nodeSelector"] =
        node.empty() ? json{{"kubeos-test", tag_}} : json{{"kubernetes.io/hostname", node}};
    if (node.empty()) {
      spec["affinity"] = {{"podAntiAffinity",
                           {{"requiredDuringSchedulingIgnoredDuringExecution",
                             json::array({{{"labelSelector", {{"matchLabels", labels}}},
                                           {"topologyKey", "kubernetes.io/hostname"}}})}}}};
    }
    json d = {{"metadata", {{"name", name}}},
              {"spec",
               {{"replicas", replicas},
                {"selector", {{"matchLabels", labels}}},
                {"template", {{"metadata", {{"labels", labels}}}, {"spec", spec}}}}}};
    StatusOr<json> r = client_.Create(kDeployments, ns_, d);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  void CreateDaemonSet(const std::string& name) {
    json labels = {{"app", name}};
    json spec = PodSpec("");
    spec["nodeSelector"] = {{"kubeos-test", tag_}};
    json d = {{"metadata", {{"name", name}}},
              {"spec",
               {{"selector", {{"matchLabels", labels}}},
                {"template", {{"metadata", {{"labels", labels}}}, {"spec", spec}}}}}};
    StatusOr<json> r = client_.Create(kDaemonSets, ns_, d);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  void CreatePdb(const std::string& app, int max_unavailable) {
    json pdb = {
        {"metadata", {{"name", app}}},
        {"spec", {{"maxUnavailable", max_unavailable}, {"selector", {{"matchLabels", {{"app", app}}}}}}}};
    StatusOr<json> r = client_.Create(kPdbs, ns_, pdb);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  // The disruption controller has computed the PDB's status for `healthy` pods.
  bool PdbObserved(const std::string& app, int healthy) {
    StatusOr<json> p = client_.Get(kPdbs, ns_, app);
    return p.ok() && (*p)["status"].value("currentHealthy", -1) == healthy &&
           (*p)["status"].value("observedGeneration", 0) == (*p)["metadata"].value("generation", -1);
  }
  int RunningPods(const std::string& app) {
    StatusOr<json> l = client_.List(Resource::Pods(), ns_, {{"labelSelector", "app=" + app}});
    int n = 0;
    if (l.ok())
      for (const auto& p : (*l)["items"])
        if (p["status"].value("phase", "") == "Running" && !p["metadata"].contains("deletionTimestamp")) ++n;
    return n;
  }

  // The "reboot": GRUB's logic on the sim host, the agent restarted, os-release and the Node's osImage as
  // the booted slot says.
  void RebootHost(const std::string& node, const std::string& new_os) {
    SimHost& h = hosts_.at(node);
    ASSERT_TRUE(h.StopAgent().ok());
    StatusOr<agent::Slot> slot = h.Reboot();
    ASSERT_TRUE(slot.ok()) << slot.status().ToString();
    ASSERT_TRUE(
        WriteFileAtomic(h.dir() / "os-release", fmt::format("NAME=KubeOS\nPRETTY_NAME=\"{}\"\n", new_os))
            .ok());
    std::filesystem::remove(h.reboot_marker());
    ASSERT_TRUE(h.StartAgent().ok());
    SetOsImage(node, new_os);
  }

  Client client_{TestCluster().AdminConfig()};
  std::string tag_, ns_;
  std::unique_ptr<TempDir> work_;
  std::map<std::string, SimHost> hosts_;
  std::map<std::string, Process> proxies_;
  static inline TempDir* payload_dir_ = nullptr;
  static inline Payload payload_;
};

TEST_F(ProxyTest, CreatesItsOSInstanceUnlessTheNodeIsGone) {
  const std::string node = NodeName(1), ghost = NodeName(9);
  CreateNode(node);
  StartHost(node);
  StartHost(ghost);
  StartProxy(node);
  StartProxy(ghost);
  ASSERT_TRUE(Eventually([&] { return client_.Get(kOsInstances, "default", node).ok(); }, seconds(20)));
  json osi = Instance(node);
  EXPECT_EQ(osi["metadata"]["labels"]["upgrade.openeuler.org/osinstance-node"], node);
  EXPECT_EQ(osi["spec"]["nodestatus"], "idle");
  std::this_thread::sleep_for(seconds(2));
  EXPECT_EQ(client_.Get(kOsInstances, "default", ghost).status().code(), StatusCode::kNotFound)
      << "no OSInstance for a Node that does not exist";
}

// Upgrade through the real agent: prepare (before the drain), cordon + drain, upgrade RPC (the sim host's
// reboot action), reboot into B, the Node reports KubeOS 2, the proxy commits the trial and releases; then a
// rollback to KubeOS 1 the same way (no prepare).
TEST_F(ProxyTest, FullUpgradeAndRollbackThroughTheRealAgent) {
  const std::string node = NodeName(1);
  CreateNode(node);
  CreateDeployment("web", 1, node);
  ASSERT_TRUE(Eventually([&] { return RunningPods("web") == 1; }, seconds(30)));
  SimHost& host = StartHost(node);
  std::filesystem::create_directories(host.proc_sys() / "net/core");
  ASSERT_TRUE(WriteFileAtomic(host.proc_sys() / "net/core/somaxconn", "4096\n").ok());
  std::filesystem::create_directories(host.config_root() / "etc");
  ASSERT_TRUE(WriteFileAtomic(host.config_root() / "etc/sysctl.conf", "vm.swappiness = 10\n").ok());
  const int metrics_port = FreeLoopbackPort().value_or(0);
  StartProxy(node, {"--metrics-bind-address=127.0.0.1:" + std::to_string(metrics_port)});
  ASSERT_TRUE(Eventually([&] { return HttpGet(metrics_port, "/readyz").first == 200; }, seconds(30)));
  // upgradeconfigs are applied before the upgrade, sysconfigs after the reboot (both through configure).
  CreateOs("os", false, json::parse(R"({"spec": {
      "upgradeconfigs": {"version": "u1", "configs": [{"model": "kernel.sysctl",
                         "contents": [{"key": "net.core.somaxconn", "value": 8192}]}]},
      "sysconfigs": {"version": "s1", "configs": [{"model": "kernel.sysctl.persist",
                     "contents": [{"key": "vm.swappiness", "value": "1"}]}]}}})"));
  auto t0 = std::chrono::steady_clock::now();
  Assign(node, "os");
  ASSERT_TRUE(WaitPhase(node, "Rebooting", seconds(60))) << Instance(node).dump();
  // The phase is recorded before the RPC; the agent's reboot action comes a moment later.
  ASSERT_TRUE(Eventually([&] { return std::filesystem::exists(host.reboot_marker()); }, seconds(10)))
      << "the agent ran its reboot action";
  double to_reboot = SecondsSince(t0);
  json st = Instance(node)["status"];
  EXPECT_EQ(st["targetVersion"], "KubeOS 2");
  EXPECT_EQ(st["attempts"], 1);
  EXPECT_EQ(st["bootedSlot"], "A");
  // prepare_upgrade ran before the drain started.
  ASSERT_TRUE(st.contains("stagedAt") && st.contains("drainStartedAt")) << st.dump();
  EXPECT_LE(*node::ParseTime(st["stagedAt"].get<std::string>()),
            *node::ParseTime(st["drainStartedAt"].get<std::string>()));
  json n = GetNode(node);
  EXPECT_TRUE(Cordoned(n));
  EXPECT_TRUE(OurAnnotation(n));
  EXPECT_TRUE(PodNamesOn(node).empty()) << "the Deployment's pod was evicted";
  EXPECT_EQ(host.AgentStatus()["slots"]["B"]["state"], "trying") << "the trial of B is armed";
  EXPECT_EQ(ReadFile(host.proc_sys() / "net/core/somaxconn").value_or(""), "8192\n")
      << "upgradeconfigs applied";
  EXPECT_EQ(st["upgradeconfigs"]["version"], "u1");
  EXPECT_EQ(ReadFile(host.config_root() / "etc/sysctl.conf").value_or(""), "vm.swappiness = 10\n")
      << "sysconfigs wait for the reboot";

  auto t1 = std::chrono::steady_clock::now();
  RebootHost(node, "KubeOS 2");
  ASSERT_TRUE(WaitPhase(node, "Succeeded", seconds(30))) << Instance(node).dump();
  double after_reboot = SecondsSince(t1);
  ExpectReleased(node);
  json agent = host.AgentStatus();
  EXPECT_EQ(agent["booted_slot"], "B");
  EXPECT_EQ(agent["slots"]["B"]["state"], "good") << "the proxy committed the trial (mark_good)";
  EXPECT_FALSE(agent["on_trial"].get<bool>());
  EXPECT_EQ(Instance(node)["status"]["bootedSlot"], "B");
  EXPECT_FALSE(EventsFor(node, "Succeeded").empty());
  EXPECT_EQ(ReadFile(host.config_root() / "etc/sysctl.conf").value_or(""), "vm.swappiness = 1\n")
      << "sysconfigs applied after the reboot";
  EXPECT_EQ(Instance(node)["status"]["sysconfigs"]["version"], "s1");
  std::cout << fmt::format("[ figures ] assign -> Rebooting {:.2f} s; reboot -> Succeeded {:.2f} s\n",
                           to_reboot, after_reboot);
  // /metrics tells the same story: one pass through each phase, the pod evicted, the agent calls made.
  auto [code, metrics] = HttpGet(metrics_port, "/metrics");
  ASSERT_EQ(code, 200);
  for (const char* line : {"kubeos_proxy_phase{phase=\"Succeeded\"} 1",
                           "kubeos_proxy_phase_transitions_total{phase=\"Staging\"} 1",
                           "kubeos_proxy_phase_transitions_total{phase=\"Draining\"} 1",
                           "kubeos_proxy_phase_transitions_total{phase=\"Rebooting\"} 1",
                           "kubeos_proxy_phase_transitions_total{phase=\"Succeeded\"} 1",
                           "kubeos_proxy_evictions_total{result=\"evicted\"} 1",
                           "kubeos_proxy_agent_calls_total{method=\"prepare_upgrade\",result=\"ok\"} 1",
                           "kubeos_proxy_agent_calls_total{method=\"mark_good\",result=\"ok\"} 1",
                           "kubeos_proxy_caches_synced 1"}) {
    EXPECT_NE(metrics.find(std::string("\n") + line + "\n"), std::string::npos) << line << "\n" << metrics;
  }

  // Rollback to KubeOS 1 (slot A): no prepare, drain, rollback RPC, reboot into A, commit, release.
  CreateOs("back", false, {{"spec", {{"opstype", "rollback"}, {"osversion", "KubeOS 1"}}}});
  Assign(node, "back");
  ASSERT_TRUE(WaitPhase(node, "Rebooting", seconds(60))) << Instance(node).dump();
  ASSERT_TRUE(Eventually([&] { return std::filesystem::exists(host.reboot_marker()); }, seconds(10)));
  EXPECT_FALSE(Instance(node)["status"].contains("stagedAt")) << "a rollback writes nothing";
  EXPECT_EQ(host.AgentStatus()["trial"]["slot"], "A");
  RebootHost(node, "KubeOS 1");
  ASSERT_TRUE(WaitPhase(node, "Succeeded", seconds(30))) << Instance(node).dump();
  ExpectReleased(node);
  agent = host.AgentStatus();
  EXPECT_EQ(agent["booted_slot"], "A");
  EXPECT_EQ(agent["slots"]["A"]["state"], "good");
  EXPECT_EQ(Instance(node)["status"]["operation"], "rollback");
}

TEST_F(ProxyTest, FallbackReportedByTheAgentEndsTheAttempt) {
  const std::string node = NodeName(1);
  CreateNode(node);
  SimHost& host = StartHost(node);
  StartProxy(node);
  CreateOs("os", false);
  Assign(node, "os");
  ASSERT_TRUE(WaitPhase(node, "Rebooting", seconds(60))) << Instance(node).dump();
  ASSERT_TRUE(Eventually([&] { return std::filesystem::exists(host.reboot_marker()); }, seconds(10)));
  // Slot B never comes up: two failed tries, GRUB falls back to A, the agent on A reports it.
  host.KillAgent();
  ASSERT_EQ(*host.Reboot(), agent::Slot::kB);
  ASSERT_EQ(*host.Reboot(), agent::Slot::kB);
  ASSERT_EQ(*host.Reboot(), agent::Slot::kA);
  ASSERT_TRUE(host.StartAgent().ok());
  ASSERT_TRUE(WaitPhase(node, "FellBack", seconds(30))) << Instance(node).dump();
  json st = Instance(node)["status"];
  EXPECT_EQ(st["targetVersion"], "KubeOS 2");
  EXPECT_NE(st["lastFallback"]["message"].get<std::string>().find("KubeOS 2"), std::string::npos)
      << st.dump();
  ExpectReleased(node);
  EXPECT_FALSE(EventsFor(node, "FellBack").empty());
}

// The pods a drain evicts, ignores and refuses, compared with kubectl drain on the same node; then the
// proxy's own drains with and without evictpodforce.
TEST_F(ProxyTest, DrainChoicesMatchKubectlDrain) {
  const std::string node = NodeName(1);
  CreateNode(node);
  CreateDeployment("managed", 1, node);
  CreateDeployment("cache", 1, node, /*empty_dir=*/true);
  CreateDaemonSet("agentd");
  CreatePod("bare", node);
  CreatePod("bare-scratch", node, /*empty_dir=*/true);
  CreatePod("done", node);
  ASSERT_TRUE(Eventually(
      [&] { return PodNamesOn(node).size() == 6 && RunningPods("done") == 1 && RunningPods("agentd") == 1; },
      seconds(30)))
      << PodNamesOn(node).size();
  // A completed pod (kwok leaves a phase it did not set alone).
  ASSERT_TRUE(client_
                  .Patch(Resource::Pods(), ns_, "done", PatchType::kMerge,
                         {{"status", {{"phase", "Succeeded"}}}}, "status")
                  .ok());
  std::set<std::string> all = PodNamesOn(node);
  std::string ds_pod;
  for (const auto& p : all)
    if (p.rfind("agentd-", 0) == 0) ds_pod = p;
  ASSERT_FALSE(ds_pod.empty());

  auto ours = [&](bool force) {
    std::vector<std::string> argv = {OS_PROXY_BIN,
                                     "--kubeconfig=" + TestCluster().restricted_kubeconfig().string(),
                                     "--node-name=" + node, "drain-plan"};
    if (force) argv.emplace_back("--evictpodforce");
    StatusOr<RunResult> r = RunProgram(argv, seconds(30));
    std::map<std::string, std::set<std::string>> out;
    std::regex line(R"(^(evict|ignore|skip|refuse) ([^/\s]+)/([^:\s]+))");
    std::istringstream in(r.ok() ? r->output : "");
    for (std::string l; std::getline(in, l);) {
      std::smatch m;
      if (std::regex_search(l, m, line) && m[2] == ns_) out[m[1]].insert(m[3]);
    }
    return out;
  };
  auto theirs = [&](bool force) {
    std::vector<std::string> args = {"drain", node, "--dry-run=server", "--ignore-daemonsets",
                                     "--timeout=20s"};
    if (force) {
      args.emplace_back("--delete-emptydir-data");
      args.emplace_back("--force");
    }
    int code = 0;
    std::string text = Kubectl(args, &code).value_or("");
    std::set<std::string> named;
    std::regex ref(ns_ + R"(/([a-z0-9.-]+))");
    for (std::sregex_iterator it(text.begin(), text.end(), ref), end; it != end; ++it) named.insert((*it)[1]);
    return std::make_tuple(code, named, text);
  };

  // Without evictpodforce (kubectl without --delete-emptydir-data/--force): both refuse the emptyDir and
  // unmanaged pods and evict nothing.
  auto plain = ours(false);
  auto [code, named, text] = theirs(false);
  EXPECT_NE(code, 0) << text;
  EXPECT_EQ(plain["refuse"],
            (std::set<std::string>{"bare", "bare-scratch",
                                   *std::find_if(all.begin(), all.end(), [](const std::string& p) {
                                     return p.rfind("cache-", 0) == 0;
                                   })}));
  std::set<std::string> kubectl_refused;
  for (const auto& p : named)
    if (p != ds_pod) kubectl_refused.insert(p);
  EXPECT_EQ(plain["refuse"], kubectl_refused) << text;

  // With evictpodforce (kubectl --delete-emptydir-data --force): the same pods evicted; the DaemonSet pod
  // left.
  auto forced = ours(true);
  auto [fcode, fnamed, ftext] = theirs(true);
  EXPECT_EQ(fcode, 0) << ftext;
  std::set<std::string> kubectl_evicted;
  std::regex evicting(R"(evicting pod ([^/\s]+)/(\S+))");
  for (std::sregex_iterator it(ftext.begin(), ftext.end(), evicting), end; it != end; ++it)
    if ((*it)[1] == ns_) kubectl_evicted.insert((*it)[2]);
  EXPECT_EQ(forced["evict"], kubectl_evicted) << ftext;
  EXPECT_EQ(forced["ignore"], std::set<std::string>{ds_pod});
  EXPECT_EQ(forced["evict"].size(), all.size() - 1);
  EXPECT_FALSE(Cordoned(GetNode(node))) << "server dry run changed nothing";

  // The proxy's drain without evictpodforce: refused at once, nothing evicted, the node uncordoned.
  StartHost(node);
  StartProxy(node);
  CreateOs("strict", false);
  Assign(node, "strict");
  ASSERT_TRUE(WaitPhase(node, "Failed", seconds(60))) << Instance(node).dump();
  EXPECT_NE(Instance(node)["status"]["message"].get<std::string>().find("bare-scratch"), std::string::npos);
  ExpectReleased(node);
  EXPECT_EQ(PodNamesOn(node), all) << "a refused drain evicts nothing";
  EXPECT_FALSE(EventsFor(node, "DrainRefused").empty());

  // With evictpodforce (a new OS object): exactly kubectl's evictions; the DaemonSet pod stays.
  CreateOs("forced", true);
  Assign(node, "forced");
  ASSERT_TRUE(WaitPhase(node, "Rebooting", seconds(60))) << Instance(node).dump();
  EXPECT_EQ(PodNamesOn(node), std::set<std::string>{ds_pod});
  EXPECT_EQ(Instance(node)["status"]["attempts"], 1) << "a different OS object is a new operation";
}

// A Deployment spread over three nodes (one replica each, required anti-affinity) with a PDB maxUnavailable
// 1; two nodes drain at once. The first eviction leaves a replacement Pending (no free node yet), so the
// budget refuses the second node's eviction until the test adds a node and the replacement becomes Ready;
// then the second drain finishes the same way.
TEST_F(ProxyTest, PdbBoundDeploymentDrainsAsReplacementsBecomeReady) {
  for (int i = 1; i <= 3; ++i) CreateNode(NodeName(i));
  CreateDeployment("web", 3);
  CreatePdb("web", 1);
  ASSERT_TRUE(Eventually([&] { return RunningPods("web") == 3; }, seconds(30)));
  for (int i = 1; i <= 3; ++i) ASSERT_EQ(PodNamesOn(NodeName(i)).size(), 1U) << "one replica per node";
  ASSERT_TRUE(Eventually([&] { return PdbObserved("web", 3); }, seconds(30)));
  CreateOs("os", false);
  for (int i = 1; i <= 2; ++i) {
    StartHost(NodeName(i));
    StartProxy(NodeName(i));
  }
  std::atomic<bool> watching{true};
  std::atomic<int> min_running{3};
  std::thread sampler([&] {
    Client c(TestCluster().AdminConfig());
    while (watching) {
      StatusOr<json> l = c.List(Resource::Pods(), ns_, {{"labelSelector", "app=web"}});
      if (l.ok()) {
        int n = 0;
        for (const auto& p : (*l)["items"])
          if (p["status"].value("phase", "") == "Running" && !p["metadata"].contains("deletionTimestamp"))
            ++n;
        if (n < min_running) min_running = n;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  auto t0 = std::chrono::steady_clock::now();
  Assign(NodeName(1), "os");
  Assign(NodeName(2), "os");
  auto drained = [&](int i) { return PodNamesOn(NodeName(i)).empty(); };
  // One node's replica goes; its replacement cannot be placed; the other node is held by the budget.
  ASSERT_TRUE(Eventually([&] { return drained(1) || drained(2); }, seconds(60)));
  const int first = drained(1) ? 1 : 2, second = 3 - first;
  ASSERT_TRUE(
      Eventually([&] { return !EventsFor(NodeName(second), "EvictionBlocked").empty(); }, seconds(20)))
      << "the second drain was refused by the PDB";
  std::this_thread::sleep_for(seconds(3));
  EXPECT_FALSE(drained(second)) << "the budget holds while the replacement is Pending";
  EXPECT_EQ(Phase(NodeName(second)), "Draining");
  EXPECT_NE(Instance(NodeName(second))["status"]["message"].get<std::string>().find("disruption budget"),
            std::string::npos)
      << Instance(NodeName(second))["status"].dump();
  // Room for one replacement: it becomes Ready, the budget opens, the second drain finishes.
  CreateNode(NodeName(4));
  ASSERT_TRUE(WaitPhase(NodeName(first), "Rebooting", seconds(60))) << Instance(NodeName(first)).dump();
  ASSERT_TRUE(Eventually([&] { return drained(second); }, seconds(60))) << Instance(NodeName(second)).dump();
  CreateNode(NodeName(5));
  ASSERT_TRUE(WaitPhase(NodeName(second), "Rebooting", seconds(60))) << Instance(NodeName(second)).dump();
  double took = SecondsSince(t0);
  EXPECT_TRUE(Eventually([&] { return RunningPods("web") == 3; }, seconds(30)));
  watching = false;
  sampler.join();
  EXPECT_GE(min_running.load(), 2) << "never more than maxUnavailable=1 replica down";
  std::cout << fmt::format(
      "[ figures ] two PDB-bound drains: {:.2f} s (including the test's waits), min running {}, "
      "PDB refusals on the held node {}\n",
      took, min_running.load(), EventsFor(NodeName(second), "EvictionBlocked").size());
}

// A PDB that never allows an eviction: at the deadline the default policy gives up, uncordons and releases
// the node, and says why (status and Events).
TEST_F(ProxyTest, NeverAllowingPdbAbortsAtTheDeadline) {
  const std::string node = NodeName(1);
  CreateNode(node);
  CreateDeployment("db", 1, node);
  CreatePdb("db", 0);
  ASSERT_TRUE(Eventually([&] { return RunningPods("db") == 1 && PdbObserved("db", 1); }, seconds(30)));
  StartHost(node);
  StartProxy(node, {"--drain-timeout=4"});
  CreateOs("os", true);
  Assign(node, "os");
  ASSERT_TRUE(WaitPhase(node, "Draining", seconds(30)));
  EXPECT_TRUE(OurAnnotation(GetNode(node)));
  ASSERT_TRUE(WaitPhase(node, "Failed", seconds(30))) << Instance(node).dump();
  std::string message = Instance(node)["status"]["message"];
  EXPECT_NE(message.find("deadline"), std::string::npos) << message;
  EXPECT_NE(message.find(ns_ + "/db-"), std::string::npos) << message;
  ExpectReleased(node);
  EXPECT_FALSE(EventsFor(node, "EvictionBlocked").empty()) << "every PDB refusal is an Event";
  EXPECT_FALSE(EventsFor(node, "DrainTimeout").empty());
  EXPECT_EQ(RunningPods("db"), 1) << "the budget was respected";
}

// The same with --drain-escalation=delete and evictpodforce: after the deadline the pod is deleted and the
// upgrade goes on.
TEST_F(ProxyTest, NeverAllowingPdbWithDeleteEscalation) {
  const std::string node = NodeName(1);
  CreateNode(node);
  CreateDeployment("db", 1, node);
  CreatePdb("db", 0);
  ASSERT_TRUE(Eventually([&] { return RunningPods("db") == 1 && PdbObserved("db", 1); }, seconds(30)));
  StartHost(node);
  StartProxy(node, {"--drain-timeout=3", "--drain-escalation=delete"});
  CreateOs("os", true);
  Assign(node, "os");
  ASSERT_TRUE(WaitPhase(node, "Rebooting", seconds(40))) << Instance(node).dump();
  EXPECT_TRUE(PodNamesOn(node).empty());
  EXPECT_FALSE(EventsFor(node, "DrainEscalated").empty());
  EXPECT_TRUE(Cordoned(GetNode(node)));
}

// os-proxy killed (SIGKILL) while a PDB holds its drain; restarted, it resumes the same attempt (no second
// prepare_upgrade: the payload is gone by then), keeps the original deadline, and finishes once the budget
// allows.
TEST_F(ProxyTest, KilledMidDrainResumesTheSameAttempt) {
  const std::string node = NodeName(1);
  CreateNode(node);
  CreateDeployment("db", 1);
  CreatePdb("db", 0);
  ASSERT_TRUE(Eventually([&] { return RunningPods("db") == 1 && PdbObserved("db", 1); }, seconds(30)));
  CreateNode(NodeName(2));  // only now: the replica runs on node 1, its replacement will go to node 2
  std::filesystem::path own_payload = work_->path() / "os.img";
  std::filesystem::copy_file(payload_.file, own_payload);
  SimHost& host = StartHost(node);
  StartProxy(node, {"--drain-timeout=120"});
  CreateOs("os", true, {{"spec", {{"imageurl", own_payload.string()}}}});
  Assign(node, "os");
  ASSERT_TRUE(WaitPhase(node, "Draining", seconds(30))) << Instance(node).dump();
  ASSERT_TRUE(Eventually([&] { return !EventsFor(node, "EvictionBlocked").empty(); }, seconds(20)));
  json before = Instance(node)["status"];
  KillProxy(node);
  std::filesystem::remove(own_payload);
  EXPECT_TRUE(Cordoned(GetNode(node)) && OurAnnotation(GetNode(node)));
  std::this_thread::sleep_for(seconds(1));
  StartProxy(node, {"--drain-timeout=120", "--drain-escalation=abort"});
  std::this_thread::sleep_for(seconds(3));
  EXPECT_EQ(Phase(node), "Draining");
  // The budget opens: the drain finishes and the upgrade proceeds.
  ASSERT_TRUE(client_.Patch(kPdbs, ns_, "db", PatchType::kMerge, {{"spec", {{"maxUnavailable", 1}}}}).ok());
  ASSERT_TRUE(WaitPhase(node, "Rebooting", seconds(60))) << Instance(node).dump();
  json after = Instance(node)["status"];
  EXPECT_EQ(after["attempts"], 1);
  EXPECT_EQ(after["startedAt"], before["startedAt"]);
  EXPECT_EQ(after["drainStartedAt"], before["drainStartedAt"]) << "the deadline survives the restart";
  EXPECT_EQ(after["stagedAt"], before["stagedAt"]) << "no second prepare_upgrade";
  EXPECT_TRUE(Eventually([&] { return std::filesystem::exists(host.reboot_marker()); }, seconds(10)));
  EXPECT_TRUE(Eventually([&] { return RunningPods("db") == 1; }, seconds(20)))
      << "the replacement runs on the other node";
}

// Issue 7, restart recovery: a proxy killed after it recorded Rebooting but before the agent got the call.
// A kill cannot be timed that precisely, so the proxy is killed earlier (in a drain a budget blocks) and
// the test writes what the proxy writes right before its upgrade call (phase Rebooting, drainedAt,
// rebootRequestedAt): exactly what a kill at that point leaves behind. The restarted proxy finds an agent
// with no trace of the request and sends it again, without moving the reboot deadline.
TEST_F(ProxyTest, SwitchLostToAKillIsSentAgain) {
  const std::string node = NodeName(1);
  CreateNode(node);
  CreateDeployment("db", 1);
  CreatePdb("db", 0);
  ASSERT_TRUE(Eventually([&] { return RunningPods("db") == 1 && PdbObserved("db", 1); }, seconds(30)));
  SimHost& host = StartHost(node);
  StartProxy(node, {"--drain-timeout=120"});
  CreateOs("os", true);
  Assign(node, "os");
  ASSERT_TRUE(WaitPhase(node, "Draining", seconds(30))) << Instance(node).dump();
  ASSERT_TRUE(Eventually([&] { return !EventsFor(node, "EvictionBlocked").empty(); }, seconds(20)));
  KillProxy(node);
  json agent = host.AgentStatus();
  ASSERT_TRUE(agent["trial"].is_null()) << agent.dump();
  ASSERT_FALSE(std::filesystem::exists(host.reboot_marker()));
  // The request is recorded after the agent's last operation (the prepare_upgrade of this attempt).
  const int64_t requested = agent["last_operation"].value("unix_time", int64_t{0}) + 1;
  ASSERT_GT(requested, 1);
  ASSERT_TRUE(client_
                  .Patch(kOsInstances, "default", node, PatchType::kMerge,
                         {{"status",
                           {{"phase", "Rebooting"},
                            {"drainedAt", node::FormatTime(requested - 1)},
                            {"rebootRequestedAt", node::FormatTime(requested)}}}},
                         "status")
                  .ok());
  StartProxy(node, {"--drain-timeout=120"});
  // Sent again once the agent has shown no trace of it for kSwitchLostAfter (15 s) since the request.
  ASSERT_TRUE(Eventually([&] { return std::filesystem::exists(host.reboot_marker()); }, seconds(60)))
      << Instance(node).dump();
  EXPECT_EQ(host.AgentStatus()["trial"].value("slot", ""), "B") << "the trial of B is armed";
  json st = Instance(node)["status"];
  EXPECT_EQ(st["phase"], "Rebooting");
  EXPECT_EQ(st["rebootRequestedAt"], node::FormatTime(requested)) << "the deadline counts from the request";
  EXPECT_EQ(st["attempts"], 1);
}

// Config flow: no cordon, no drain, no reboot; the sysconfigs go through the real agent's configure RPC
// (kernel.sysctl.persist edits the sim host's /etc/sysctl.conf). A config for another OS version than the
// node runs, and a config the agent refuses, each fail at once and release the node instead of looping.
TEST_F(ProxyTest, ConfigFlowWithoutDrain) {
  const std::string node = NodeName(1), other = NodeName(2), refused = NodeName(3);
  CreateNode(node, "KubeOS 2");
  CreateNode(other, "KubeOS 1");
  CreateNode(refused, "KubeOS 2");
  for (const auto& n : {node, other, refused}) {
    SimHost& h = StartHost(n);
    std::filesystem::create_directories(h.config_root() / "etc");
    ASSERT_TRUE(WriteFileAtomic(h.config_root() / "etc/sysctl.conf", "# keep me\nvm.swappiness = 10\n").ok());
    StartProxy(n);
  }
  json sysconfigs = json::parse(R"({"version": "v1", "configs": [{"model": "kernel.sysctl.persist",
      "contents": [{"key": "vm.swappiness", "value": "1"}]}]})");
  CreateOs("cfg", false, {{"spec", {{"opstype", "config"}, {"sysconfigs", sysconfigs}}}});
  json bad = json::parse(R"({"version": "v1", "configs": [{"model": "pam.limits", "configpath": "/etc/shadow",
      "contents": [{"key": "* soft nofile", "value": "1"}]}]})");
  CreateOs("bad", false, {{"spec", {{"opstype", "config"}, {"sysconfigs", bad}}}});
  Assign(node, "cfg", "config");
  Assign(other, "cfg", "config");
  Assign(refused, "bad", "config");
  ASSERT_TRUE(WaitPhase(node, "Succeeded", seconds(30))) << Instance(node).dump();
  json osi = Instance(node);
  EXPECT_EQ(osi["status"]["sysconfigs"]["version"], "v1");
  EXPECT_EQ(osi["status"]["targetVersion"], "v1");
  EXPECT_EQ(osi["status"]["operation"], "config");
  EXPECT_EQ(ReadFile(hosts_.at(node).config_root() / "etc/sysctl.conf").value_or(""),
            "# keep me\nvm.swappiness = 1\n");
  ExpectReleased(node);
  EXPECT_TRUE(EventsFor(node, "Cordoned").empty()) << "a config never cordons";
  ASSERT_TRUE(WaitPhase(other, "Failed", seconds(30))) << Instance(other).dump();
  EXPECT_NE(Instance(other)["status"]["message"].get<std::string>().find("please upgrade first"),
            std::string::npos);
  ExpectReleased(other);
  EXPECT_EQ(ReadFile(hosts_.at(other).config_root() / "etc/sysctl.conf").value_or(""),
            "# keep me\nvm.swappiness = 10\n");
  ASSERT_TRUE(WaitPhase(refused, "Failed", seconds(30))) << Instance(refused).dump();
  EXPECT_NE(Instance(refused)["status"]["message"].get<std::string>().find("pam.limits"), std::string::npos)
      << Instance(refused)["status"].dump();
  EXPECT_FALSE(Instance(refused)["status"].contains("sysconfigs")) << "not applied, not recorded";
  ExpectReleased(refused);
  EXPECT_FALSE(EventsFor(refused, "ConfigureFailed").empty());
}

}  // namespace
}  // namespace kubeos::testing

#include "operator_fixture.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "api/os.h"
#include "harness/cluster_gtest.h"
#include "yaml_json.h"

namespace kubeos::testing {

namespace {

using nlohmann::json;
const kube::Resource kCrds = kube::Resource::CustomResourceDefinitions();

constexpr std::chrono::milliseconds kLabelToIdle{150};

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return pred();
}

}  // namespace

void InstallCrds(kube::Client& client) {
  for (const char* file : {"upgrade.openeuler.org_os.yaml", "upgrade.openeuler.org_osinstances.yaml"}) {
    std::ifstream in(std::filesystem::path(KUBEOS_SOURCE_DIR) / "deploy/crds" / file);
    std::stringstream ss;
    ss << in.rdbuf();
    const json crd = YamlToJson(YAML::Load(ss.str()));
    auto created = client.Create(kCrds, "", crd);
    ASSERT_TRUE(created.ok() || created.status().code() == StatusCode::kAlreadyExists)
        << created.status().ToString();
  }
  ASSERT_TRUE(
      WaitFor([&] { return client.List(api::OsResource(), "default").ok(); }, std::chrono::seconds(30)));
  ASSERT_TRUE(WaitFor([&] { return client.List(api::OsInstanceResource(), "default").ok(); },
                      std::chrono::seconds(30)));
}

OperatorProcess OperatorProcess::Start(const std::string& identity, const std::filesystem::path& dir,
                                       bool leader_elect, const std::string& time_zone) {
  OperatorProcess op;
  op.identity = identity;
  op.metrics_port = FreeLoopbackPort().value_or(0);
  op.health_port = FreeLoopbackPort().value_or(0);
  op.log = dir / (identity + ".log");
  std::vector<std::string> argv = {OS_OPERATOR,
                                   "--kubeconfig",
                                   TestCluster().admin_kubeconfig().string(),
                                   "--identity",
                                   identity,
                                   "--metrics-bind-address",
                                   "127.0.0.1:" + std::to_string(op.metrics_port),
                                   "--health-probe-bind-address",
                                   "127.0.0.1:" + std::to_string(op.health_port),
                                   "--time-zone",
                                   time_zone};
  if (leader_elect) {
    // Short timings keep the hand-over test fast; the protocol is the same as with 15/10/2.
    for (const char* a : {"--leader-elect", "--leader-elect-lease-duration=3",
                          "--leader-elect-renew-deadline=2", "--leader-elect-retry-period=0.5"}) {
      argv.emplace_back(a);
    }
  }
  auto p = Process::Spawn({.argv = argv, .output_file = op.log});
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  if (p.ok()) op.proc.emplace(std::move(*p));
  return op;
}

Fleet::Fleet(kube::Client& client, const std::string& prefix, const std::optional<std::string>& selector,
             int n, ProxyBehaviour b, const std::map<std::string, std::string>& extra_labels)
    : client_(client), behaviour_(std::move(b)) {
  json labels = extra_labels;
  if (selector) labels[api::kNodeSelectorLabel] = *selector;
  for (int i = 0; i < n; ++i) {
    const std::string name = prefix + "-" + std::to_string(i);
    nodes_.push_back(name);
    node_set_.insert(name);
    nodestatus_[name] = "idle";
    json node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}, {"labels", labels}}}};
    auto made = client_.Create(kube::Resource::Nodes(), "", node);
    EXPECT_TRUE(made.ok()) << made.status().ToString();
    json status = {{"status",
                    {{"conditions", {{{"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"}}}},
                     {"nodeInfo", {{"osImage", "KubeOS v1"}}}}}};
    auto st = client_.Patch(kube::Resource::Nodes(), "", name, kube::PatchType::kMerge, status, "status");
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    json osi = {{"apiVersion", api::kApiVersion},
                {"kind", "OSInstance"},
                {"metadata",
                 {{"name", name}, {"namespace", "default"}, {"labels", {{api::kOsInstanceNodeLabel, name}}}}},
                {"spec", {{"nodestatus", "idle"}}}};
    auto created = client_.Create(api::OsInstanceResource(), "default", osi);
    EXPECT_TRUE(created.ok()) << created.status().ToString();
  }
  informer_ = std::make_unique<kube::JsonInformer>(
      client_, kube::ReflectorOptions{.resource = api::OsInstanceResource(), .ns = "default"});
  using Ptr = kube::Informer<json>::Ptr;
  informer_->AddHandlers({.on_add = [this](const Ptr& o) { OnOsInstance(*o); },
                          .on_update = [this](const Ptr&, const Ptr& o) { OnOsInstance(*o); }});
  informer_->Start();
  EXPECT_TRUE(informer_->WaitForSync(std::chrono::seconds(30)));
  for (int i = 0; i < std::max(1, behaviour_.workers); ++i) {
    workers_.emplace_back([this](const std::stop_token& st) { Work(st); });
  }
}

Fleet::~Fleet() {
  queue_.ShutDown();
  for (auto& w : workers_) w.request_stop();
  workers_.clear();  // joins
  informer_->Stop();
}

void Fleet::OnOsInstance(const json& osi) {
  const std::string name = osi.value("/metadata/name"_json_pointer, std::string());
  if (node_set_.count(name) == 0) return;
  const std::string status = osi.value("/spec/nodestatus"_json_pointer, std::string("idle"));
  std::lock_guard<std::mutex> lock(mu_);
  const bool was_idle = nodestatus_[name] == "idle" || nodestatus_[name].empty();
  nodestatus_[name] = status;
  const bool idle = status == "idle" || status.empty();
  if (was_idle && !idle) {
    assignments_.emplace_back(name, std::chrono::steady_clock::now());
    spec_at_assignment_[name] = osi.value("spec", json::object());
    if (scheduled_.insert(name).second) queue_.AddAfter(name, behaviour_.work);
  }
  int working = 0;
  for (const auto& [n, s] : nodestatus_) working += (s != "idle" && !s.empty()) ? 1 : 0;
  int seen = max_working_.load();
  while (working > seen && !max_working_.compare_exchange_weak(seen, working)) {
  }
}

void Fleet::Work(const std::stop_token& stop) {
  while (auto item = queue_.Get(stop)) {
    Finish(*item);
    queue_.Done(*item);
  }
}

void Fleet::Finish(const std::string& node) {
  // As os-proxy: the node's new state first, then the label off, then nodestatus idle (the moment the
  // operator may count the slot free).
  auto osi = client_.Get(api::OsInstanceResource(), "default", node);
  ASSERT_TRUE(osi.ok()) << osi.status().ToString();
  const std::string nodestatus = (*osi)["spec"].value("nodestatus", "");
  auto before = client_.Get(kube::Resource::Nodes(), "", node);
  ASSERT_TRUE(before.ok());
  const bool fail = behaviour_.fail.count(node) != 0;
  json status_patch = json::object();
  if (fail) {
    status_patch = {
        {"status",
         {{"phase", "Failed"}, {"targetVersion", behaviour_.upgrade_to}, {"message", "injected failure"}}}};
  } else if (nodestatus == "config") {
    status_patch = {{"status", {{"sysconfigs", (*osi)["spec"].value("sysconfigs", json::object())}}}};
  } else {
    auto st = client_.Patch(kube::Resource::Nodes(), "", node, kube::PatchType::kMerge,
                            {{"status", {{"nodeInfo", {{"osImage", behaviour_.upgrade_to}}}}}}, "status");
    ASSERT_TRUE(st.ok()) << st.status().ToString();
  }
  if (!status_patch.empty()) {
    auto st = client_.Patch(api::OsInstanceResource(), "default", node, kube::PatchType::kMerge, status_patch,
                            "status");
    ASSERT_TRUE(st.ok()) << st.status().ToString();
  }
  auto unlabel = client_.Patch(
      kube::Resource::Nodes(), "", node, kube::PatchType::kMerge,
      {{"metadata", {{"labels", {{api::kUpgradingLabel, nullptr}, {api::kConfiguringLabel, nullptr}}}}}});
  ASSERT_TRUE(unlabel.ok()) << unlabel.status().ToString();
  // A real proxy does work between the two writes; the pause also makes sure the hand-off is driven by the
  // OSInstance event itself, not by a pass that happened to run late after the label event.
  std::this_thread::sleep_for(kLabelToIdle);
  auto idle = client_.Patch(api::OsInstanceResource(), "default", node, kube::PatchType::kMerge,
                            {{"spec", {{"nodestatus", "idle"}}}});
  ASSERT_TRUE(idle.ok()) << idle.status().ToString();
  std::lock_guard<std::mutex> lock(mu_);
  finishes_.push_back(std::chrono::steady_clock::now());
  labels_at_finish_[node] = (*before)["metadata"].value("labels", json::object());
  scheduled_.erase(node);
  ++finished_;
}

int Fleet::Working() const {
  std::lock_guard<std::mutex> lock(mu_);
  int working = 0;
  for (const auto& [n, s] : nodestatus_) working += (s != "idle" && !s.empty()) ? 1 : 0;
  return working;
}

int Fleet::Finished() const { return finished_.load(); }

std::vector<std::pair<std::string, SteadyTime>> Fleet::Assignments() const {
  std::lock_guard<std::mutex> lock(mu_);
  return assignments_;
}

std::vector<SteadyTime> Fleet::Finishes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return finishes_;
}

std::map<std::string, json> Fleet::LabelsAtFinish() const {
  std::lock_guard<std::mutex> lock(mu_);
  return labels_at_finish_;
}

std::map<std::string, json> Fleet::SpecAtAssignment() const {
  std::lock_guard<std::mutex> lock(mu_);
  return spec_at_assignment_;
}

void Fleet::DeleteAll() {
  for (const std::string& n : nodes_) {
    (void)client_.Delete(kube::Resource::Nodes(), "", n);
    (void)client_.Delete(api::OsInstanceResource(), "default", n);
  }
}

}  // namespace kubeos::testing

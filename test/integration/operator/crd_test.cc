// The OS and OSInstance CRDs (deploy/crds) on a real kube-apiserver: they install and become Established;
// OS objects written for the original KubeOS are accepted unchanged and get the original's defaults; values
// outside the original's enums are rejected; our additions (percentages, pause, failure threshold, time
// zone) are accepted; the planner's status survives the status subresource without pruning; printer columns
// show progress.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/process.h"
#include "harness/cluster_gtest.h"
#include "kube/client.h"
#include "operator/planner.h"
#include "operator/status_json.h"
#include "yaml_json.h"

namespace kubeos::testing {

ControlPlaneOptions TestClusterOptions() { return {}; }  // kube-apiserver and etcd are enough

namespace {

using kube::Client;
using kube::Resource;
using nlohmann::json;

const Resource kCrds = Resource::CustomResourceDefinitions();
const Resource kOs{"upgrade.openeuler.org", "v1alpha1", "os", true};
const Resource kOsInstances{"upgrade.openeuler.org", "v1alpha1", "osinstances", true};

json LoadYaml(const std::string& text) { return YamlToJson(YAML::Load(text)); }

json LoadYamlFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return LoadYaml(ss.str());
}

template <typename Pred>
bool Eventually(Pred pred, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return pred();
}

bool Established(const json& crd) {
  for (const auto& c : crd.value("status", json::object()).value("conditions", json::array())) {
    if (c.value("type", "") == "Established" && c.value("status", "") == "True") return true;
  }
  return false;
}

// The samples of kubeos-original-behaviour.md §1.3, verbatim (the last three are spec-only there).
const char* const kSampleUpgradeContainerd = R"(
apiVersion: upgrade.openeuler.org/v1alpha1
kind: OS
metadata: {name: os-sample, namespace: default}
spec:
  opstype: upgrade
  osversion: "KubeOS v2"            # must equal PRETTY_NAME inside the new image
  imagetype: containerd             # or docker
  containerimage: registry.local:5000/kubeos-upgrade:v2
  checksum: 6b1c...e0               # repo digest hex of that image
  imageurl: ""
  flagSafe: false
  mtls: false
  maxunavailable: 2
  evictpodforce: true
  nodeselector: pool-a              # nodes labelled upgrade.openeuler.org/node-selector=pool-a
  executionmode: parallel
  timeinterval: 30
  timewindow: {starttime: "22:00:00", endtime: "04:00:00"}
  upgradeconfigs:
    version: u1
    configs:
    - model: kernel.sysctl
      contents: [{key: vm.swappiness, value: 10}]
  sysconfigs:
    version: s1
    configs:
    - model: grub.cmdline.next      # "next" relative to the partition running when the upgrade was issued
      contents: [{key: audit, value: "1"}]
)";

const char* const kSampleHttpsMtls = R"(
spec:
  opstype: upgrade
  osversion: "KubeOS v2"
  imagetype: disk
  imageurl: https://10.0.0.5/kubeos-v2.tar   # rootfs tarball produced by kbimg (kubeos.tar / os.tar)
  checksum: 0f3a...9c                        # sha256sum of that tar
  flagSafe: false
  mtls: true
  cacert: ca.pem                             # file names in /etc/KubeOS/certs/ on every node
  clientcert: client.pem
  clientkey: client-key.pem
  containerimage: ""
  maxunavailable: 1
  evictpodforce: true
)";

const char* const kSampleConfig = R"(
spec:
  opstype: config
  osversion: "KubeOS v2"
  imagetype: disk        # any enum value; unused
  imageurl: ""
  containerimage: ""
  checksum: ""
  flagSafe: false
  mtls: false
  maxunavailable: 3
  evictpodforce: false   # unused by config (no drain)
  sysconfigs:
    version: c7
    configs:
    - model: kernel.sysctl.persist
      configpath: /etc/sysctl.d/90-app.conf
      contents:
      - {key: net.core.somaxconn, value: 4096}
      - {key: kernel.pid_max, value: 65536, operation: delete}   # deleted only if file value equals 65536
    - model: grub.cmdline.current
      contents: [{key: nosmt}, {key: quiet, operation: delete}]
    - model: kubernetes.kubelet
      contents: [{key: evictionHard."memory.available", value: 200Mi}]
    - model: container.containerd
      contents: [{key: plugins."io.containerd.grpc.v1.cri".sandbox_image, value: "pause:3.9"}]
    - model: pam.limits
      contents: [{key: "*", value: soft.nofile.65535}]
)";

const char* const kSampleRollback = R"(
spec:
  opstype: rollback
  osversion: "KubeOS v1"
  imagetype: disk
  imageurl: ""
  containerimage: ""
  checksum: ""
  flagSafe: false
  mtls: false
  maxunavailable: 1
  evictpodforce: true
)";

json WithMeta(json object, const std::string& name, const std::string& ns) {
  object["apiVersion"] = "upgrade.openeuler.org/v1alpha1";
  object["kind"] = "OS";
  object["metadata"] = {{"name", name}, {"namespace", ns}};
  return object;
}

class CrdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Client client(TestCluster().AdminConfig());
    for (const char* file : {"upgrade.openeuler.org_os.yaml", "upgrade.openeuler.org_osinstances.yaml"}) {
      const json crd = LoadYamlFile(std::filesystem::path(KUBEOS_SOURCE_DIR) / "deploy/crds" / file);
      auto created = client.Create(kCrds, "", crd);
      if (!created.ok() && created.status().code() == StatusCode::kAlreadyExists) {  // a reused cluster
        auto old = client.Get(kCrds, "", crd["metadata"]["name"].get<std::string>());
        ASSERT_TRUE(old.ok()) << old.status().ToString();
        json replacement = crd;
        replacement["metadata"]["resourceVersion"] = (*old)["metadata"]["resourceVersion"];
        created = client.Update(kCrds, "", replacement);
      }
      ASSERT_TRUE(created.ok()) << file << ": " << created.status().ToString();
      const std::string name = crd["metadata"]["name"];
      ASSERT_TRUE(Eventually(
          [&] {
            auto got = client.Get(kCrds, "", name);
            return got.ok() && Established(*got);
          },
          std::chrono::seconds(30)))
          << name << " never became Established";
    }
    // The new endpoints are served shortly after Established.
    ASSERT_TRUE(Eventually([&] { return client.List(kOs, "default").ok(); }, std::chrono::seconds(30)));
    ASSERT_TRUE(
        Eventually([&] { return client.List(kOsInstances, "default").ok(); }, std::chrono::seconds(30)));
  }

  void SetUp() override {
    ns_ = UniqueTestNamespace();
    ASSERT_TRUE(client_.Create(Resource::Namespaces(), "", {{"metadata", {{"name", ns_}}}}).ok());
  }

  Client client_{TestCluster().AdminConfig()};
  std::string ns_;
};

// What the apiserver must return for `sent`: the same spec, plus the defaults for fields left out.
json ExpectedSpec(const json& sent) {
  json want = sent;
  const json defaults = {{"nodeselector", "no-label"},
                         {"executionmode", "parallel"},
                         {"timeinterval", 15},
                         {"failurethreshold", 1}};
  for (const auto& [k, v] : defaults.items()) {
    if (!want.contains(k)) want[k] = v;
  }
  return want;
}

TEST_F(CrdTest, OriginalSamplesAreAcceptedUnchangedWithDefaults) {
  // The first sample names namespace default; it is created exactly as written.
  json first = LoadYaml(kSampleUpgradeContainerd);
  auto created = client_.Create(kOs, "default", first);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ((*created)["spec"], ExpectedSpec(first["spec"]));
  auto got = client_.Get(kOs, "default", "os-sample");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ((*got)["spec"], ExpectedSpec(first["spec"]));
  EXPECT_EQ((*got)["spec"]["upgradeconfigs"]["configs"][0]["contents"][0]["value"], 10);  // any JSON kept

  int i = 0;
  for (const char* sample : {kSampleHttpsMtls, kSampleConfig, kSampleRollback}) {
    SCOPED_TRACE(sample);
    const json os = WithMeta(LoadYaml(sample), "sample-" + std::to_string(++i), ns_);
    auto made = client_.Create(kOs, ns_, os);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    EXPECT_EQ((*made)["spec"], ExpectedSpec(os["spec"]));
  }
  ASSERT_TRUE(client_.Delete(kOs, "default", "os-sample").ok());
}

TEST_F(CrdTest, DefaultsAreTheOriginals) {
  auto made = client_.Create(kOs, ns_, WithMeta(LoadYaml(kSampleRollback), "defaults", ns_));
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  const json& spec = (*made)["spec"];
  EXPECT_EQ(spec["nodeselector"], "no-label");
  EXPECT_EQ(spec["executionmode"], "parallel");
  EXPECT_EQ(spec["timeinterval"], 15);
  EXPECT_EQ(spec["failurethreshold"], 1);  // ours
  EXPECT_FALSE(spec.contains("pause"));
}

TEST_F(CrdTest, ValuesOutsideTheSchemaAreRejected) {
  struct Case {
    const char* name;
    json patch;  // merged into the rollback sample's spec
    const char* field;
  };
  const Case cases[] = {
      {"empty imagetype (as the original CRD)", {{"imagetype", ""}}, "imagetype"},
      {"unknown imagetype", {{"imagetype", "iso"}}, "imagetype"},
      {"unknown opstype", {{"opstype", "upgrad"}}, "opstype"},
      {"unknown executionmode", {{"executionmode", "fast"}}, "executionmode"},
      {"maxunavailable words", {{"maxunavailable", "ten"}}, "maxunavailable"},
      {"maxunavailable without %", {{"maxunavailable", "25"}}, "maxunavailable"},
      {"failurethreshold words", {{"failurethreshold", "x%"}}, "failurethreshold"},
      {"timeinterval as a string", {{"timeinterval", "15"}}, "timeinterval"},
      {"missing osversion", {{"osversion", nullptr}}, "osversion"},
      {"timewindow without endtime", {{"timewindow", {{"starttime", "22:00:00"}}}}, "endtime"},
      {"pause as a string", {{"pause", "yes"}}, "pause"},
  };
  int i = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    json os = WithMeta(LoadYaml(kSampleRollback), "bad-" + std::to_string(++i), ns_);
    os["spec"].merge_patch(c.patch);
    auto made = client_.Create(kOs, ns_, os);
    ASSERT_FALSE(made.ok()) << "accepted: " << os["spec"].dump();
    EXPECT_EQ(made.status().code(), StatusCode::kInvalidArgument) << made.status().ToString();
    EXPECT_NE(made.status().message().find(c.field), std::string::npos) << made.status().ToString();
  }
}

TEST_F(CrdTest, AdditionsAreAccepted) {
  json os = WithMeta(LoadYaml(kSampleRollback), "additions", ns_);
  os["spec"].merge_patch(
      {{"maxunavailable", "25%"},
       {"pause", true},
       {"failurethreshold", "10%"},
       {"executionmode", "serial"},
       {"timewindow", {{"starttime", "22:00:00"}, {"endtime", "04:00:00"}, {"timezone", "Asia/Shanghai"}}}});
  auto made = client_.Create(kOs, ns_, os);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ((*made)["spec"], ExpectedSpec(os["spec"]));
}

TEST_F(CrdTest, PlannerStatusSurvivesTheStatusSubresourceAndShowsInPrinterColumns) {
  auto made = client_.Create(kOs, ns_, WithMeta(LoadYaml(kSampleHttpsMtls), "status", ns_));
  ASSERT_TRUE(made.ok()) << made.status().ToString();

  // A status from a real plan: one node done, one working, one failed, one to go; outside a window.
  using rollout::NodePhase;
  rollout::ClusterSnapshot snap;
  snap.os.key = {ns_, "status"};
  snap.os.generation = (*made)["metadata"]["generation"];
  snap.os.spec.opstype = "upgrade";
  snap.os.spec.osversion = "KubeOS v2";
  snap.os.spec.executionmode = "parallel";
  snap.os.spec.maxunavailable = {1, false};
  snap.os.spec.failurethreshold = {3, false};
  snap.os.spec.timewindow = rollout::TimeWindowSpec{"22:00:00", "23:00:00", "UTC"};
  for (const char* name : {"n-done", "n-busy", "n-failed", "n-todo"}) {
    rollout::NodeView n;
    n.name = name;
    n.os_image = std::string(name) == "n-done" ? "KubeOS v2" : "KubeOS v1";
    n.instance = rollout::OsInstanceView{.nodestatus = "idle"};
    if (n.name == "n-busy") {
      n.instance->nodestatus = "upgrade";
      n.labels[std::string(rollout::kUpgradingLabel)] = "";
    }
    if (n.name == "n-failed") {
      n.instance->phase = NodePhase::kFellBack;
      n.instance->phase_target = "KubeOS v2";
      n.instance->message = "health check failed after boot";
    }
    snap.nodes.push_back(std::move(n));
  }
  const rollout::PlanResult plan = rollout::Plan(snap, *rollout::ParseRfc3339("2026-12-03T12:00:00Z"));
  ASSERT_FALSE(plan.status.failing_nodes.empty());
  ASSERT_TRUE(plan.status.next_window_start.has_value());

  json object = *made;
  object["status"] = rollout::OsStatusToJson(plan.status);
  auto written = client_.Update(kOs, ns_, object, "status");
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  auto got = client_.Get(kOs, ns_, "status");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ((*got)["status"], rollout::OsStatusToJson(plan.status)) << "pruned or changed by the schema";
  auto back = rollout::OsStatusFromJson((*got)["status"]);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, plan.status);
  EXPECT_EQ((*got)["spec"], (*made)["spec"]);
  EXPECT_EQ((*got)["metadata"]["generation"], (*made)["metadata"]["generation"]);  // status is not spec

  // Status sent through the main resource is ignored (status subresource semantics).
  json main = *got;
  main["status"]["total"] = 99;
  main["spec"]["maxunavailable"] = 2;
  auto updated = client_.Update(kOs, ns_, main);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ((*updated)["status"]["total"], 4);
  EXPECT_EQ((*updated)["spec"]["maxunavailable"], 2);

  // kubectl's table view: the original's columns first, then progress.
  kube::HttpRequest req;
  req.path = kube::ResourcePath(kOs, ns_, "status");
  req.accept = "application/json;as=Table;v=v1;g=meta.k8s.io";
  auto table = client_.transport().Do(req);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  ASSERT_EQ(table->status, 200) << table->body;
  const json t = json::parse(table->body);
  std::vector<std::string> columns;
  for (const auto& c : t["columnDefinitions"]) columns.push_back(c["name"]);
  const std::vector<std::string> want_columns = {
      "Name",    "OS VERSION", "SYSCONFIG VERSION", "UPGRADECONFIG VERSION",
      "ROLLOUT", "TOTAL",      "UPDATED",           "IN PROGRESS",
      "FAILED",  "NEXT WINDOW"};
  EXPECT_EQ(columns, want_columns);
  const json& cells = t["rows"][0]["cells"];
  EXPECT_EQ(cells[1], "KubeOS v2");
  EXPECT_EQ(cells[4], "Progressing");  // outside the window, but n-busy is still working
  EXPECT_EQ(cells[5], 4);
  EXPECT_EQ(cells[6], 1);
  EXPECT_EQ(cells[8], 1);
  EXPECT_EQ(cells[9], "2026-12-03T22:00:00Z");
}

TEST_F(CrdTest, OsInstanceKeepsTheOriginalShapeAndTheProxyStatus) {
  // The object os-proxy creates, then the operator's spec writes and the proxy's status writes.
  json osi = {{"apiVersion", "upgrade.openeuler.org/v1alpha1"},
              {"kind", "OSInstance"},
              {"metadata",
               {{"name", "node-1"},
                {"namespace", ns_},
                {"labels", {{"upgrade.openeuler.org/osinstance-node", "node-1"}}}}},
              {"spec", {{"nodestatus", "idle"}}}};
  auto made = client_.Create(kOsInstances, ns_, osi);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ((*made)["spec"], osi["spec"]);

  json spec_write = *made;
  spec_write["spec"] = LoadYaml(R"(
nodestatus: upgrade
namespacedname: {name: os-sample, namespace: default}
sysconfigs: {version: s1, configs: [{model: grub.cmdline.current, contents: [{key: audit, value: "1"}]}]}
upgradeconfigs: {version: u1, configs: [{model: kernel.sysctl, contents: [{key: vm.swappiness, value: 10}]}]}
)");
  auto updated = client_.Update(kOsInstances, ns_, spec_write);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ((*updated)["spec"], spec_write["spec"]);

  json status_write = *updated;
  status_write["status"] = {{"sysconfigs", spec_write["spec"]["sysconfigs"]},
                            {"upgradeconfigs", spec_write["spec"]["upgradeconfigs"]},
                            {"phase", "FellBack"},
                            {"message", "booted B, health check failed, back on A"},
                            {"targetVersion", "KubeOS v2"},
                            {"attempts", 2}};  // a proxy field not yet in the schema is preserved
  auto st = client_.Update(kOsInstances, ns_, status_write, "status");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ((*st)["status"], status_write["status"]);
}

// deploy/: `kubectl apply -k` works, and the operator's identity can do exactly what the operator does.
TEST_F(CrdTest, KustomizationAppliesWithLeastPrivilegeRbac) {
  const auto kubectl = TestCluster().bin_dir() / "kubectl";
  auto applied = RunProgram({kubectl.string(), "--kubeconfig", TestCluster().admin_kubeconfig().string(),
                             "apply", "-k", (std::filesystem::path(KUBEOS_SOURCE_DIR) / "deploy").string()},
                            std::chrono::seconds(60));
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  ASSERT_EQ(applied->exit_code, 0) << applied->output;
  const Resource deployments = Resource::Deployments();
  auto dep = client_.Get(deployments, "upgrade-system", "upgrade-operator");
  ASSERT_TRUE(dep.ok()) << dep.status().ToString();
  EXPECT_EQ((*dep)["spec"]["replicas"], 2);
  EXPECT_EQ((*dep)["spec"]["template"]["spec"]["serviceAccountName"], "upgrade-operator");

  struct Case {
    const char* verb;
    const char* group;
    const char* resource;
    const char* subresource;
    const char* ns;
    bool want;
  };
  const Case cases[] = {
      {"patch", "", "nodes", "", "", true},
      {"watch", "", "nodes", "", "", true},
      {"watch", "upgrade.openeuler.org", "os", "", "", true},
      {"update", "upgrade.openeuler.org", "os", "status", "default", true},
      {"update", "upgrade.openeuler.org", "osinstances", "", "default", true},
      {"delete", "upgrade.openeuler.org", "osinstances", "", "default", true},
      {"create", "", "events", "", "default", true},
      {"update", "coordination.k8s.io", "leases", "", "upgrade-system", true},
      {"update", "upgrade.openeuler.org", "os", "", "default", false},  // the spec is the user's
      {"create", "upgrade.openeuler.org", "os", "", "default", false},
      {"create", "upgrade.openeuler.org", "osinstances", "", "default", false},  // os-proxy creates them
      {"delete", "", "nodes", "", "", false},
      {"update", "", "nodes", "status", "", false},
      {"create", "", "pods", "eviction", "default", false},  // draining is os-proxy's job
      {"get", "", "secrets", "", "upgrade-system", false},
      {"update", "coordination.k8s.io", "leases", "", "kube-system", false},
  };
  const Resource reviews{"authorization.k8s.io", "v1", "subjectaccessreviews", false};
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.verb) + " " + c.resource + "/" + c.subresource + " in " + c.ns);
    json attrs = {{"verb", c.verb}, {"group", c.group}, {"resource", c.resource}};
    if (*c.subresource != 0) attrs["subresource"] = c.subresource;
    if (*c.ns != 0) attrs["namespace"] = c.ns;
    json review = {
        {"apiVersion", "authorization.k8s.io/v1"},
        {"kind", "SubjectAccessReview"},
        {"spec",
         {{"user", "system:serviceaccount:upgrade-system:upgrade-operator"},
          {"groups",
           {"system:serviceaccounts", "system:serviceaccounts:upgrade-system", "system:authenticated"}},
          {"resourceAttributes", attrs}}}};
    auto answer = client_.Create(reviews, "", review);
    ASSERT_TRUE(answer.ok()) << answer.status().ToString();
    EXPECT_EQ((*answer)["status"].value("allowed", false), c.want) << (*answer)["status"].dump();
  }
}

}  // namespace
}  // namespace kubeos::testing

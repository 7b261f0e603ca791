// Foundation smoke test: our C++ client talks TLS to a real kube-apiserver started by our harness; the
// restricted identity is really restricted; kube-controller-manager, kube-scheduler and kwok really run.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "harness/cluster_gtest.h"
#include "kube/client.h"

namespace kubeos::testing {

ControlPlaneOptions TestClusterOptions() {
  return {.controller_manager = true, .scheduler = true, .kwok = true};
}

namespace {

using kube::Client;
using kube::Resource;
using nlohmann::json;

json NodeObject(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}, {"labels", {{"kubeos.test/smoke", "true"}}}}}};
}

// Polls `pred` every 100 ms until it holds or `timeout` passes.
template <typename Pred>
bool Eventually(Pred pred, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return pred();
}

TEST(SmokeTest, CreateAndReadBackNodeOverTls) {
  Client client(TestCluster().AdminConfig());
  // Names are unique per run so the test also passes on a reused cluster (KUBEOS_TEST_CLUSTER_DIR).
  const std::string name = UniqueTestNamespace();
  auto created = client.Create(Resource::Nodes(), "", NodeObject(name));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_FALSE((*created)["metadata"]["uid"].get<std::string>().empty());

  auto got = client.Get(Resource::Nodes(), "", name);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ((*got)["metadata"]["name"], name);
  EXPECT_EQ((*got)["metadata"]["labels"]["kubeos.test/smoke"], "true");
  EXPECT_EQ((*got)["metadata"]["uid"], (*created)["metadata"]["uid"]);

  auto again = client.Create(Resource::Nodes(), "", NodeObject(name));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists) << again.status().ToString();

  auto missing = client.Get(Resource::Nodes(), "", "no-such-node");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST(SmokeTest, TokenIdentityWorksToo) {
  Client client(TestCluster().AdminTokenConfig());
  auto list = client.List(Resource::Nodes(), "", {{"labelSelector", "kubeos.test/smoke=true"}});
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_TRUE((*list)["items"].is_array());
}

TEST(SmokeTest, RestrictedIdentityIsForbiddenUntilGranted) {
  Client restricted(TestCluster().RestrictedConfig());
  const std::string name = UniqueTestNamespace();
  auto denied = restricted.Create(Resource::Nodes(), "", NodeObject(name));
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied) << denied.status().ToString();

  Client admin(TestCluster().AdminConfig());
  const Resource roles{"rbac.authorization.k8s.io", "v1", "clusterroles", false};
  const Resource bindings{"rbac.authorization.k8s.io", "v1", "clusterrolebindings", false};
  ASSERT_TRUE(
      admin
          .Create(
              roles, "",
              {{"metadata", {{"name", name}}},
               {"rules",
                json::array({{{"apiGroups", {""}}, {"resources", {"nodes"}}, {"verbs", {"get", "list"}}}})}})
          .ok());
  ASSERT_TRUE(
      admin
          .Create(bindings, "",
                  {{"metadata", {{"name", name}}},
                   {"roleRef",
                    {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", name}}},
                   {"subjects", json::array({{{"apiGroup", "rbac.authorization.k8s.io"},
                                              {"kind", "User"},
                                              {"name", ControlPlane::kRestrictedUser}}})}})
          .ok());
  // RBAC changes reach the authorizer's cache asynchronously.
  EXPECT_TRUE(
      Eventually([&] { return restricted.List(Resource::Nodes(), "").ok(); }, std::chrono::seconds(10)));
  auto still_denied = restricted.Create(Resource::Nodes(), "", NodeObject(name));
  EXPECT_EQ(still_denied.status().code(), StatusCode::kPermissionDenied);
}

TEST(SmokeTest, KwokSchedulerAndControllersRunADeployment) {
  Client client(TestCluster().AdminConfig());
  const std::string ns = UniqueTestNamespace();
  ASSERT_TRUE(client.Create(Resource::Nodes(), "", NodeObject(ns)).ok());
  // kwok marks the node Ready.
  ASSERT_TRUE(Eventually(
      [&] {
        auto n = client.Get(Resource::Nodes(), "", ns);
        if (!n.ok()) return false;
        for (const auto& c : (*n)["status"].value("conditions", json::array())) {
          if (c.value("type", "") == "Ready" && c.value("status", "") == "True") return true;
        }
        return false;
      },
      std::chrono::seconds(30)))
      << "kwok did not make the node Ready";

  ASSERT_TRUE(client.Create(Resource::Namespaces(), "", {{"metadata", {{"name", ns}}}}).ok());
  const Resource deployments = Resource::Deployments();
  json labels = {{"app", "smoke"}};
  json deployment = {
      {"metadata", {{"name", "smoke"}}},
      {"spec",
       {{"replicas", 2},
        {"selector", {{"matchLabels", labels}}},
        {"template",
         {{"metadata", {{"labels", labels}}},
          {"spec",
           {{"containers", json::array({{{"name", "app"}, {"image", "registry.invalid/app:1"}}})}}}}}}}};
  auto created = client.Create(deployments, ns, deployment);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  // KCM creates the ReplicaSet and pods, the scheduler binds them, kwok makes them Running.
  EXPECT_TRUE(Eventually(
      [&] {
        auto pods = client.List(Resource::Pods(), ns, {{"labelSelector", "app=smoke"}});
        if (!pods.ok()) return false;
        int running = 0;
        for (const auto& p : (*pods)["items"]) {
          if (p["status"].value("phase", "") == "Running" && !p["spec"].value("nodeName", "").empty())
            ++running;
        }
        return running == 2;
      },
      std::chrono::seconds(60)))
      << "the Deployment's pods did not become Running";
}

}  // namespace
}  // namespace kubeos::testing

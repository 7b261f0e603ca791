// The gtest fixture shared by the os-operator integration tests (controller_test.cc, parity_test.cc): a
// namespace per test, os-operator processes whose log tails are printed on failure, fleets of Nodes with
// the fake os-proxy (operator_fixture.h), and readers for OS status, conditions and Events. TearDown
// deletes the test's OS objects, so a later test's operator never plans for them (an all-label or
// no-label OS would otherwise select the next test's nodes). Test-only.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/os.h"
#include "common/file.h"
#include "harness/cluster_gtest.h"
#include "operator_fixture.h"

namespace kubeos::testing {

template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

// An upgrade OS as the original accepts it; `extra` is merge-patched into spec (null removes a field).
inline nlohmann::json UpgradeOs(const std::string& name, const std::string& ns, const std::string& selector,
                                const nlohmann::json& extra = {}) {
  nlohmann::json os = {{"apiVersion", api::kApiVersion},
                       {"kind", "OS"},
                       {"metadata", {{"name", name}, {"namespace", ns}}},
                       {"spec",
                        {{"opstype", "upgrade"},
                         {"osversion", "KubeOS v2"},
                         {"imagetype", "disk"},
                         {"imageurl", "https://10.0.0.5/kubeos-v2.tar"},
                         {"checksum", "0f3a"},
                         {"flagSafe", false},
                         {"mtls", false},
                         {"containerimage", ""},
                         {"evictpodforce", true},
                         {"maxunavailable", 2},
                         {"nodeselector", selector}}}};
  if (!extra.is_null()) os["spec"].merge_patch(extra);
  return os;
}

class OperatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    kube::Client c(TestCluster().AdminConfig());
    InstallCrds(c);
    (void)c.Create(kube::Resource::Namespaces(), "", {{"metadata", {{"name", "upgrade-system"}}}});
  }

  void SetUp() override {
    auto cfg = TestCluster().AdminConfig();
    cfg.qps = -1;
    client_ = std::make_unique<kube::Client>(cfg);
    ns_ = UniqueTestNamespace();
    os_namespaces_.push_back(ns_);
    ASSERT_TRUE(client_->Create(kube::Resource::Namespaces(), "", {{"metadata", {{"name", ns_}}}}).ok());
    auto dir = TempDir::Create("operator-test");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
  }

  void TearDown() override {
    for (auto& op : operators_) {
      if (op.proc) (void)op.proc->Stop(std::chrono::milliseconds(5000));
      if (HasFailure()) {
        std::ifstream in(op.log);
        std::stringstream ss;
        ss << in.rdbuf();
        std::string text = ss.str();
        if (text.size() > 6000) text = text.substr(text.size() - 6000);
        std::cerr << "---- " << op.identity << " log tail ----\n" << text << "\n";
      }
    }
    for (const std::string& ns : os_namespaces_) {
      auto list = client_->List(api::OsResource(), ns);
      if (!list.ok()) continue;
      for (const nlohmann::json& os : (*list)["items"]) {
        (void)client_->Delete(api::OsResource(), ns, os["metadata"].value("name", ""));
      }
    }
    if (fleet_) fleet_->DeleteAll();
    fleet_.reset();
    for (auto& f : fleets_) f->DeleteAll();
    fleets_.clear();
  }

  OperatorProcess& StartOperator(const std::string& identity, bool leader_elect = false,
                                 const std::string& time_zone = "UTC") {
    operators_.push_back(OperatorProcess::Start(identity, dir_->path(), leader_elect, time_zone));
    return operators_.back();
  }
  // Nodes ns_-0.. labelled node-selector=ns_.
  Fleet& MakeFleet(int n, ProxyBehaviour b) {
    if (b.upgrade_to.empty()) b.upgrade_to = "KubeOS v2";
    fleet_ = std::make_unique<Fleet>(*client_, ns_, ns_, n, b);
    return *fleet_;
  }
  // Another fleet, nodes ns_-<suffix>-0..; `selector` nullopt: no node-selector label.
  Fleet& AddFleet(const std::string& suffix, const std::optional<std::string>& selector, int n,
                  ProxyBehaviour b, const std::map<std::string, std::string>& extra_labels = {}) {
    if (b.upgrade_to.empty()) b.upgrade_to = "KubeOS v2";
    fleets_.push_back(std::make_unique<Fleet>(*client_, ns_ + "-" + suffix, selector, n, b, extra_labels));
    return *fleets_.back();
  }
  // Another namespace for OS objects; its OS objects are deleted at TearDown too.
  std::string OtherNamespace() {
    std::string ns = UniqueTestNamespace();
    EXPECT_TRUE(client_->Create(kube::Resource::Namespaces(), "", {{"metadata", {{"name", ns}}}}).ok());
    os_namespaces_.push_back(ns);
    return ns;
  }
  nlohmann::json GetOs(const std::string& name, const std::string& ns = "") {
    auto os = client_->Get(api::OsResource(), ns.empty() ? ns_ : ns, name);
    EXPECT_TRUE(os.ok()) << os.status().ToString();
    return os.ok() ? *os : nlohmann::json::object();
  }
  nlohmann::json Status(const std::string& name, const std::string& ns = "") {
    return GetOs(name, ns).value("status", nlohmann::json::object());
  }
  static const nlohmann::json* FindCondition(const nlohmann::json& status, const std::string& type) {
    if (!status.contains("conditions")) return nullptr;
    for (const nlohmann::json& c : status["conditions"]) {
      if (c.value("type", "") == type) return &c;
    }
    return nullptr;
  }
  bool Condition(const nlohmann::json& status, const std::string& type, bool want) {
    const nlohmann::json* c = FindCondition(status, type);
    return c != nullptr && c->value("status", "") == (want ? "True" : "False");
  }
  std::string ConditionReason(const nlohmann::json& status, const std::string& type) {
    const nlohmann::json* c = FindCondition(status, type);
    return c == nullptr ? "" : c->value("reason", "");
  }
  std::map<std::string, int> EventReasons(const std::string& os, const std::string& ns = "") {
    std::map<std::string, int> reasons;
    auto events = client_->List(kube::Resource::Events(), ns.empty() ? ns_ : ns);
    EXPECT_TRUE(events.ok());
    if (!events.ok()) return reasons;
    for (const nlohmann::json& e : (*events)["items"]) {
      if (e["involvedObject"].value("name", "") == os) reasons[e.value("reason", "")] += e.value("count", 1);
    }
    return reasons;
  }
  // Messages of the Events with `reason` on OS `os`.
  std::vector<std::string> EventMessages(const std::string& os, const std::string& reason,
                                         const std::string& ns = "") {
    std::vector<std::string> out;
    auto events = client_->List(kube::Resource::Events(), ns.empty() ? ns_ : ns);
    if (!events.ok()) return out;
    for (const nlohmann::json& e : (*events)["items"]) {
      if (e["involvedObject"].value("name", "") == os && e.value("reason", "") == reason) {
        out.push_back(e.value("message", ""));
      }
    }
    return out;
  }
  nlohmann::json OsInstance(const std::string& node) {
    auto osi = client_->Get(api::OsInstanceResource(), "default", node);
    EXPECT_TRUE(osi.ok()) << node << ": " << osi.status().ToString();
    return osi.ok() ? *osi : nlohmann::json::object();
  }

  std::unique_ptr<kube::Client> client_;
  std::string ns_;
  std::optional<TempDir> dir_;
  std::deque<OperatorProcess> operators_;  // references stay valid on push_back
  std::unique_ptr<Fleet> fleet_;
  std::vector<std::unique_ptr<Fleet>> fleets_;
  std::vector<std::string> os_namespaces_;  // ns_ and OtherNamespace()s
};

}  // namespace kubeos::testing

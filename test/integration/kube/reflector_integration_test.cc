// The reflector against the real apiserver: a BOOKMARK (allowWatchBookmarks) moves the reflector's
// resourceVersion on although no event reaches the informer. Part of kube_client_integration_test.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "harness/cluster_gtest.h"
#include "kube/client.h"
#include "kube/informer.h"

namespace kubeos::testing {
namespace {

using kube::Client;
using kube::Resource;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

const Resource kConfigMaps{"", "v1", "configmaps", true};

int64_t Rv(const std::string& rv) { return rv.empty() ? 0 : std::stoll(rv); }

TEST(ReflectorTest, BookmarkAdvancesResourceVersionWithoutEvents) {
  auto cfg = TestCluster().AdminConfig();
  cfg.qps = -1;
  Client c(cfg);
  const std::string ns = UniqueTestNamespace();
  ASSERT_TRUE(c.Create(Resource::Namespaces(), "", {{"metadata", {{"name", ns}}}}).ok());
  ASSERT_TRUE(c.Create(kConfigMaps, ns,
                       {{"apiVersion", "v1"},
                        {"kind", "ConfigMap"},
                        {"metadata", {{"name", "watched"}, {"labels", {{"bm", "yes"}}}}}})
                  .ok());

  // A short watch timeout: the apiserver sends its bookmark about 2 s before the deadline, here 2-6 s after
  // the watch starts instead of minutes.
  kube::JsonInformer inf(
      c, {.resource = kConfigMaps, .ns = ns, .label_selector = "bm=yes", .min_watch_timeout = seconds(4)});
  std::atomic<int> notifications{0};
  inf.AddHandlers({.on_add = [&](const auto&) { ++notifications; },
                   .on_update = [&](const auto&, const auto&) { ++notifications; },
                   .on_delete = [&](const auto&) { ++notifications; }});
  inf.Start();
  ASSERT_TRUE(inf.WaitForSync(milliseconds(20000)));
  const auto synced = std::chrono::steady_clock::now();
  while (inf.store().Size() < 1U && std::chrono::steady_clock::now() - synced < seconds(10))
    std::this_thread::sleep_for(milliseconds(50));
  ASSERT_EQ(inf.store().Size(), 1U);
  const int seen = notifications.load();

  // A write the label selector hides moves the resource's revision past anything the informer was sent.
  auto hidden = c.Create(kConfigMaps, ns,
                         {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "hidden"}}}});
  ASSERT_TRUE(hidden.ok()) << hidden.status().ToString();
  const int64_t hidden_rv = Rv((*hidden)["metadata"]["resourceVersion"]);
  ASSERT_LT(Rv(inf.reflector().last_resource_version()), hidden_rv);

  // Only a bookmark can carry that revision to the reflector: no event matches, and it must not relist.
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (Rv(inf.reflector().last_resource_version()) < hidden_rv &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(100));
  EXPECT_GE(Rv(inf.reflector().last_resource_version()), hidden_rv)
      << "no bookmark advanced the resourceVersion within 30 s";
  EXPECT_EQ(inf.reflector().lists(), 1);
  EXPECT_EQ(notifications.load(), seen) << "a bookmark must not reach the handlers";
  EXPECT_EQ(inf.store().Size(), 1U);
  inf.Stop();
}

}  // namespace
}  // namespace kubeos::testing

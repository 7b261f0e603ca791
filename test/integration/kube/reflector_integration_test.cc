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

const Resource kConfigMaps = Resource::ConfigMaps();

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
  // The hidden object keeps changing meanwhile. A lone write that lands before the reflector's watch is
  // established (HasSynced turns true before the watch starts) reaches the apiserver's cache watcher in its
  // initial interval, filtered out; as we read the cacheWatcher, it then counts that revision as sent and
  // suppresses bookmarks carrying it, and every re-watch from the old revision repeats this (about 1 run in
  // 4 failed so). Writes made after the watch is up do go out as bookmarks.
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  auto next_write = std::chrono::steady_clock::now() + seconds(2);
  int writes = 0;
  while (Rv(inf.reflector().last_resource_version()) < hidden_rv &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(100));
    if (std::chrono::steady_clock::now() >= next_write) {
      auto p = c.Patch(kConfigMaps, ns, "hidden", kube::PatchType::kMerge,
                       {{"data", {{"n", std::to_string(++writes)}}}});
      ASSERT_TRUE(p.ok()) << p.status().ToString();
      next_write += seconds(2);
    }
  }
  EXPECT_GE(Rv(inf.reflector().last_resource_version()), hidden_rv)
      << "no bookmark advanced the resourceVersion within 30 s; watches " << inf.reflector().watches()
      << ", last " << inf.reflector().last_resource_version() << ", hidden write " << hidden_rv << ", lists "
      << inf.reflector().lists() << ", later writes " << writes;
  EXPECT_EQ(inf.reflector().lists(), 1);
  EXPECT_EQ(notifications.load(), seen) << "a bookmark must not reach the handlers";
  EXPECT_EQ(inf.store().Size(), 1U);
  inf.Stop();
}

}  // namespace
}  // namespace kubeos::testing

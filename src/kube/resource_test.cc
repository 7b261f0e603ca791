#include "kube/resource.h"

#include <gtest/gtest.h>

namespace kubeos::kube {
namespace {

TEST(ResourcePathTest, Table) {
  const Resource os{"upgrade.openeuler.org", "v1alpha1", "os", true};
  struct Case {
    Resource r;
    const char* ns;
    const char* name;
    const char* sub;
    const char* want;
  };
  const Case cases[] = {
      {Resource::Nodes(), "", "", "", "/api/v1/nodes"},
      {Resource::Nodes(), "ignored", "n1", "", "/api/v1/nodes/n1"},
      {Resource::Pods(), "default", "p", "eviction", "/api/v1/namespaces/default/pods/p/eviction"},
      {Resource::Pods(), "", "", "", "/api/v1/pods"},
      {os, "default", "os-1", "status",
       "/apis/upgrade.openeuler.org/v1alpha1/namespaces/default/os/os-1/status"},
      {Resource::Leases(), "kube-system", "x", "",
       "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x"},
  };
  for (const Case& c : cases) EXPECT_EQ(ResourcePath(c.r, c.ns, c.name, c.sub), c.want);
}

TEST(QueryStringTest, EncodesAndSkipsEmpty) {
  EXPECT_EQ(QueryString({}), "");
  EXPECT_EQ(QueryString({{"labelSelector", "a=b,c in (d)"}, {"limit", "500"}, {"continue", ""}}),
            "?labelSelector=a%3Db%2Cc%20in%20%28d%29&limit=500");
}

}  // namespace
}  // namespace kubeos::kube

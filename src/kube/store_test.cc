#include "kube/store.h"

#include <gtest/gtest.h>

#include "kube/informer.h"

namespace kubeos::kube {
namespace {

using nlohmann::json;

std::shared_ptr<const json> Obj(const std::string& ns, const std::string& name, const std::string& pool) {
  return std::make_shared<const json>(
      json{{"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"pool", pool}}}}}});
}

TEST(ObjectKeyTest, NamespacedAndClusterScoped) {
  EXPECT_EQ(ObjectKey(json{{"metadata", {{"name", "a"}, {"namespace", "ns"}}}}), "ns/a");
  EXPECT_EQ(ObjectKey(json{{"metadata", {{"name", "node-1"}}}}), "node-1");
  EXPECT_EQ(ObjectKey(json::object()), "");
}

TEST(StoreTest, IndexesFollowUpsertRemoveAndReplace) {
  Store<json> s;
  s.AddIndexer("pool", LabelIndexer("pool"));
  s.Upsert(Obj("ns", "a", "x"));
  s.Upsert(Obj("ns", "b", "x"));
  EXPECT_EQ(s.ByIndex("pool", "x").size(), 2U);
  auto old = s.Upsert(Obj("ns", "a", "y"));
  ASSERT_NE(old, nullptr);
  EXPECT_EQ(old->at("metadata").at("labels").at("pool"), "x");  // the old snapshot is untouched
  EXPECT_EQ(s.ByIndex("pool", "x").size(), 1U);
  EXPECT_EQ(s.ByIndex("pool", "y").size(), 1U);
  EXPECT_NE(s.Remove("ns/b"), nullptr);
  EXPECT_EQ(s.Remove("ns/b"), nullptr);
  EXPECT_TRUE(s.ByIndex("pool", "x").empty());
  EXPECT_TRUE(s.ByIndex("no-such-index", "x").empty());

  auto before = s.Replace({Obj("ns", "c", "z"), Obj("other", "c", "z")});
  EXPECT_EQ(before.size(), 1U);
  EXPECT_TRUE(before.count("ns/a"));
  EXPECT_EQ(s.Size(), 2U);
  EXPECT_EQ(s.ByIndex("pool", "z").size(), 2U);
  EXPECT_TRUE(s.ByIndex("pool", "y").empty());
  EXPECT_EQ(s.Get("ns/a"), nullptr);
}

TEST(StoreTest, IndexerAddedLaterIndexesExistingObjects) {
  Store<json> s;
  s.Upsert(std::make_shared<const json>(json{{"metadata", {{"name", "p"}}}, {"spec", {{"nodeName", "n1"}}}}));
  s.AddIndexer("node", FieldIndexer("/spec/nodeName"));
  EXPECT_EQ(s.ByIndex("node", "n1").size(), 1U);
}

}  // namespace
}  // namespace kubeos::kube

namespace kubeos::kube {
namespace {

// The reflector's (re)list: client-go's choice of resourceVersion and pagination (informer.h PlanList).
TEST(PlanListTest, MatchesClientGoReflector) {
  struct Row {
    const char* name;
    std::string last_rv;
    bool rv_unavailable;
    std::string want_rv;
    int64_t want_limit;
  };
  const Row rows[] = {
      {"first list: any cached state, paginated", "", false, "0", 500},
      {"relist from RV 0 stays paginated (the cache ignores the limit)", "0", false, "0", 500},
      {"relist after an expired watch: not older than the last RV, one page", "12345", false, "12345", 0},
      {"after a 410 on the list: quorum read, paginated", "12345", true, "", 500},
      {"410 before anything was seen", "", true, "", 500},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    ListPlan p = PlanList(r.last_rv, r.rv_unavailable, 500);
    EXPECT_EQ(p.resource_version, r.want_rv);
    EXPECT_EQ(p.limit, r.want_limit);
  }
}

}  // namespace
}  // namespace kubeos::kube

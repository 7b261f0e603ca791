// Read-your-writes overlay: kept writes win until the cache shows a version at least as new.
#include "operator/overlay.h"

#include <gtest/gtest.h>

namespace kubeos::rollout {
namespace {

using nlohmann::json;

std::shared_ptr<const json> Obj(const std::string& rv, const std::string& tag) {
  return std::make_shared<const json>(json{{"metadata", {{"resourceVersion", rv}}}, {"tag", tag}});
}

TEST(ResourceVersionAtLeast, Table) {
  struct Case {
    const char* cached;
    const char* written;
    bool want;
  };
  const Case cases[] =
      {
          {"10", "9", true},    {"10", "10", true},    {"9", "10", false},
          {"100", "99", true},  // numeric, not lexical
          {"abc", "abc", true}, {"abc", "abd", false}, {"", "5", false},
          {"5", "", false},     {"", "", true},
      };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.cached) + " vs " + c.written);
    EXPECT_EQ(ResourceVersionAtLeast(c.cached, c.written), c.want);
  }
}

TEST(WriteOverlay, KeptWriteWinsUntilTheCacheCatchesUp) {
  WriteOverlay o;
  o.Record("nodes/n1", *Obj("20", "written"));
  EXPECT_EQ((*o.Resolve("nodes/n1", Obj("19", "stale")))["tag"], "written");
  EXPECT_EQ(o.Size(), 1U);
  EXPECT_EQ((*o.Resolve("nodes/n1", Obj("20", "cache")))["tag"], "cache");  // caught up: entry dropped
  EXPECT_EQ(o.Size(), 0U);
  EXPECT_EQ((*o.Resolve("nodes/n1", Obj("19", "stale")))["tag"], "stale");  // nothing kept any more
}

TEST(WriteOverlay, NewerCacheAndDeletionDropTheEntry) {
  WriteOverlay o;
  o.Record("a", *Obj("20", "written"));
  EXPECT_EQ((*o.Resolve("a", Obj("25", "someone else wrote after us")))["tag"],
            "someone else wrote after us");
  o.Record("b", *Obj("20", "written"));
  EXPECT_EQ(o.Resolve("b", nullptr), nullptr);  // deleted
  EXPECT_EQ(o.Size(), 0U);
  EXPECT_EQ(o.Resolve("unknown", nullptr), nullptr);
}

TEST(WriteOverlay, AnOlderRecordNeverReplacesANewerOne) {
  WriteOverlay o;
  o.Record("a", *Obj("30", "new"));
  o.Record("a", *Obj("20", "old"));  // e.g. a quorum list that started before our last write
  EXPECT_EQ((*o.Resolve("a", Obj("10", "cache")))["tag"], "new");
  o.Record("a", *Obj("31", "newer"));
  EXPECT_EQ((*o.Resolve("a", Obj("10", "cache")))["tag"], "newer");
  o.Clear();
  EXPECT_EQ(o.Size(), 0U);
}

}  // namespace
}  // namespace kubeos::rollout

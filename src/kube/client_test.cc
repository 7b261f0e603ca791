#include "kube/client.h"

#include <gtest/gtest.h>

#include "kube/informer.h"

namespace kubeos::kube {
namespace {

using nlohmann::json;

TEST(WatchDecoderTest, SplitsEventsAcrossArbitraryChunks) {
  const std::string stream = R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}})"
                             "\n"
                             R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"7"}}})"
                             "\n"
                             R"({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}})"
                             "\n";
  const std::string_view bytes = stream;
  for (size_t chunk : {1UL, 3UL, 17UL, stream.size()}) {
    WatchDecoder d;
    std::vector<WatchEvent> events;
    bool stop = false;
    for (size_t i = 0; i < stream.size(); i += chunk) {
      Status s = d.Feed(
          bytes.substr(i, chunk),
          [&](WatchEvent&& e) {
            events.push_back(std::move(e));
            return true;
          },
          &stop);
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
    ASSERT_EQ(events.size(), 3U) << "chunk " << chunk;
    EXPECT_EQ(events[0].type, WatchEvent::Type::kAdded);
    EXPECT_EQ(events[0].object["metadata"]["name"], "a");
    EXPECT_EQ(events[1].type, WatchEvent::Type::kBookmark);
    EXPECT_EQ(events[2].type, WatchEvent::Type::kError);
    EXPECT_EQ(events[2].object["code"], 410);
  }
}

TEST(WatchDecoderTest, HandlerCanStopAndBadLinesAreReported) {
  WatchDecoder d;
  bool stop = false;
  int n = 0;
  Status s = d.Feed(
      "not json\n{\"type\":\"ADDED\",\"object\":{}}\n{\"type\":\"ADDED\",\"object\":{}}\n",
      [&](WatchEvent&&) { return ++n < 1; }, &stop);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_TRUE(stop);
  EXPECT_EQ(n, 1);
}

TEST(ParseWatchEventTest, RejectsUnknownTypes) {
  EXPECT_FALSE(ParseWatchEvent(R"({"type":"WHAT","object":{}})").ok());
  EXPECT_FALSE(ParseWatchEvent(R"({"object":{}})").ok());
  EXPECT_EQ(ParseWatchEvent(R"({"type":"DELETED","object":{}})")->type, WatchEvent::Type::kDeleted);
}

TEST(DeleteOptionsTest, Serialises) {
  struct Case {
    DeleteOptions in;
    json want;
  };
  std::vector<Case> cases = {
      {{}, {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}}},
      {{.precondition_uid = "u1", .precondition_resource_version = "42", .propagation_policy = "Foreground"},
       {{"apiVersion", "v1"},
        {"kind", "DeleteOptions"},
        {"preconditions", {{"uid", "u1"}, {"resourceVersion", "42"}}},
        {"propagationPolicy", "Foreground"}}},
      {{.grace_period_seconds = 0, .dry_run = true},
       {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}, {"gracePeriodSeconds", 0}, {"dryRun", {"All"}}}},
  };
  for (const auto& c : cases) EXPECT_EQ(c.in.ToJson(), c.want);
}

TEST(BackoffTest, DefaultRetryIsClientGos) {
  EXPECT_EQ(kDefaultRetry.steps, 5);
  EXPECT_EQ(kDefaultRetry.duration, std::chrono::milliseconds(10));
  EXPECT_EQ(kDefaultRetry.factor, 1.0);
  EXPECT_EQ(kDefaultRetry.jitter, 0.1);
  EXPECT_EQ(BackoffDelay(kDefaultRetry, 3, 0.0), std::chrono::milliseconds(10));
  EXPECT_EQ(BackoffDelay(kDefaultRetry, 0, 1.0), std::chrono::milliseconds(11));
  Backoff exp{std::chrono::milliseconds(100), 2.0, 0.0, 10, std::chrono::milliseconds(500)};
  EXPECT_EQ(BackoffDelay(exp, 2, 0.5), std::chrono::milliseconds(400));
  EXPECT_EQ(BackoffDelay(exp, 5, 0.5), std::chrono::milliseconds(500));
}

TEST(RetryOnConflictTest, RetriesOnlyConflictsAndAtMostSteps) {
  int calls = 0;
  Backoff fast{std::chrono::microseconds(1), 1.0, 0.0, 5};
  Status s = RetryOnConflict(fast, [&] { return ++calls < 3 ? ConflictError("stale") : Status::Ok(); });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(calls, 3);

  calls = 0;
  s = RetryOnConflict(fast, [&] { return ++calls, ConflictError("stale"); });
  EXPECT_EQ(s.code(), StatusCode::kConflict);
  EXPECT_EQ(calls, 5);

  calls = 0;
  s = RetryOnConflict(fast, [&] { return ++calls, NotFoundError("gone"); });
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(calls, 1);
}

// The informer's event handling, driven directly through its ReflectorSink side (no network).
TEST(InformerTest, ReplaceEmitsAddsUpdatesAndTombstones) {
  Client client(RestConfig{.server = "https://127.0.0.1:1"});  // never contacted: Start() is not called
  JsonInformer inf(client, {.resource = Resource::Pods()});
  inf.store().AddIndexer("node", FieldIndexer("/spec/nodeName"));
  std::vector<std::string> log;
  inf.AddHandlers({.on_add = [&](const auto& o) { log.push_back("add " + ObjectKey(*o)); },
                   .on_update =
                       [&](const auto& a, const auto& b) {
                         log.push_back("update " + ObjectKey(*a) + " " + ObjectResourceVersion(*a) + "->" +
                                       ObjectResourceVersion(*b));
                       },
                   .on_delete =
                       [&](const auto& d) {
                         log.push_back(std::string(d.final_state_unknown ? "tombstone " : "delete ") + d.key);
                       }});
  auto pod = [](const std::string& name, const std::string& rv, const std::string& node) {
    return json{
        {"metadata",
         {{"name", name}, {"namespace", "ns"}, {"resourceVersion", rv}, {"managedFields", json::array()}}},
        {"spec", {{"nodeName", node}}}};
  };
  EXPECT_FALSE(inf.HasSynced());
  inf.OnReplace({pod("a", "1", "n1"), pod("b", "1", "n1")}, "1");
  EXPECT_TRUE(inf.HasSynced());
  EXPECT_EQ(inf.store().ByIndex("node", "n1").size(), 2U);
  EXPECT_FALSE(inf.store().Get("ns/a")->at("metadata").contains("managedFields"));

  inf.OnEvent({WatchEvent::Type::kModified, pod("a", "2", "n2")});
  EXPECT_EQ(inf.store().ByIndex("node", "n1").size(), 1U);
  EXPECT_EQ(inf.store().ByIndex("node", "n2").size(), 1U);
  inf.OnEvent({WatchEvent::Type::kDeleted, pod("b", "3", "n1")});
  inf.OnReplace({pod("a", "4", "n2"), pod("c", "4", "n3")}, "4");  // "a" survives; "c" is new
  inf.OnEvent({WatchEvent::Type::kAdded, pod("d", "5", "n3")});
  inf.OnReplace({pod("d", "5", "n3")}, "6");  // "a" and "c" vanished while we were not watching

  std::vector<std::string> want = {"add ns/a",         "add ns/b", "update ns/a 1->2", "delete ns/b",
                                   "update ns/a 2->4", "add ns/c", "add ns/d",         "update ns/d 5->5"};
  // Order of tombstones follows the hash map; compare them as a set.
  ASSERT_EQ(log.size(), want.size() + 2);
  EXPECT_EQ(std::vector<std::string>(log.begin(), log.begin() + static_cast<long>(want.size())), want);
  std::set<std::string> tombstones(log.begin() + static_cast<long>(want.size()), log.end());
  EXPECT_EQ(tombstones, (std::set<std::string>{"tombstone ns/a", "tombstone ns/c"}));
  EXPECT_EQ(inf.store().Size(), 1U);
  EXPECT_TRUE(inf.store().ByIndex("node", "n2").empty());
}

TEST(BackoffManagerTest, DoublesCapsAndResets) {
  FakeClock clock;
  BackoffManager b(clock);
  EXPECT_EQ(b.Next(0.0), std::chrono::milliseconds(800));
  EXPECT_EQ(b.Next(0.0), std::chrono::milliseconds(1600));
  EXPECT_EQ(b.Next(0.5), std::chrono::milliseconds(4800));  // 3.2 s + 50 % jitter
  for (int i = 0; i < 10; ++i) (void)b.Next(0.0);
  EXPECT_EQ(b.Next(0.0), std::chrono::seconds(30));
  clock.Advance(std::chrono::minutes(3));
  EXPECT_EQ(b.Next(0.0), std::chrono::milliseconds(800));
}

}  // namespace
}  // namespace kubeos::kube

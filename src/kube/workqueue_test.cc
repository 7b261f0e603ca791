#include "kube/workqueue.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace kubeos::kube {
namespace {

using std::chrono::milliseconds;

TEST(WorkQueueTest, DeduplicatesWaitingItems) {
  FakeClock clock;
  WorkQueue<std::string> q(clock);
  q.Add("a");
  q.Add("b");
  q.Add("a");
  EXPECT_EQ(q.Len(), 2U);
  EXPECT_EQ(q.TryGet(), "a");
  EXPECT_EQ(q.TryGet(), "b");
  EXPECT_EQ(q.TryGet(), std::nullopt);
}

TEST(WorkQueueTest, ItemAddedWhileProcessingIsRequeuedByDone) {
  FakeClock clock;
  WorkQueue<std::string> q(clock);
  q.Add("a");
  ASSERT_EQ(q.TryGet(), "a");
  q.Add("a");  // while processing: only marked dirty
  EXPECT_EQ(q.TryGet(), std::nullopt) << "one key must never be handed to two workers";
  q.Done("a");
  EXPECT_EQ(q.TryGet(), "a");
  q.Done("a");
  EXPECT_EQ(q.TryGet(), std::nullopt);
}

TEST(WorkQueueTest, AddAfterWaitsForTheClock) {
  FakeClock clock;
  WorkQueue<std::string> q(clock);
  q.AddAfter("late", milliseconds(100));
  q.AddAfter("later", milliseconds(200));
  EXPECT_EQ(q.TryGet(), std::nullopt);
  clock.Advance(milliseconds(150));
  EXPECT_EQ(q.TryGet(), "late");
  EXPECT_EQ(q.TryGet(), std::nullopt);
  clock.Advance(milliseconds(50));
  EXPECT_EQ(q.TryGet(), "later");
}

TEST(WorkQueueTest, RateLimitedBacksOffPerItemUntilForget) {
  FakeClock clock;
  WorkQueue<std::string> q(clock);
  struct Step {
    std::chrono::milliseconds advance;
    bool ready;
  };
  // 5 ms, 10 ms, 20 ms ...
  for (int failures = 0; failures < 4; ++failures) {
    q.AddRateLimited("k");
    auto delay = milliseconds(5 << failures);
    clock.Advance(delay - milliseconds(1));
    EXPECT_EQ(q.TryGet(), std::nullopt) << failures;
    clock.Advance(milliseconds(1));
    auto got = q.TryGet();
    ASSERT_EQ(got, "k") << failures;
    q.Done("k");
  }
  EXPECT_EQ(q.NumRequeues("k"), 4);
  q.Forget("k");
  EXPECT_EQ(q.NumRequeues("k"), 0);
  q.AddRateLimited("k");
  clock.Advance(milliseconds(5));
  EXPECT_EQ(q.TryGet(), "k");
}

TEST(WorkQueueTest, ShutDownDrainsThenStopsAndIgnoresAdds) {
  FakeClock clock;
  WorkQueue<std::string> q(clock);
  q.Add("a");
  q.ShutDown();
  q.Add("b");
  EXPECT_EQ(q.Get(), "a");
  EXPECT_EQ(q.Get(), std::nullopt);
  EXPECT_TRUE(q.ShuttingDown());
}

TEST(WorkQueueTest, ShutDownWakesABlockedWorker) {
  WorkQueue<int> q;
  std::optional<int> got = 1;
  std::thread worker([&] { got = q.Get(); });
  q.ShutDown();
  worker.join();
  EXPECT_EQ(got, std::nullopt);
}

// Regression: Get() waited with an always-false predicate, so a worker blocked in Get slept through Add's
// notification until kMaxPoll (500 ms) passed: every event-driven pass started up to half a second late.
TEST(WorkQueueTest, AddWakesABlockedWorkerAtOnce) {
  WorkQueue<int> q;
  for (int round = 0; round < 5; ++round) {
    std::chrono::steady_clock::time_point added;
    std::thread worker([&] {
      auto got = q.Get();
      EXPECT_EQ(got, round);
      const auto waited = std::chrono::steady_clock::now() - added;
      EXPECT_LT(waited, WorkQueue<int>::kMaxPoll / 2) << "the worker slept through the notification";
      q.Done(round);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the worker block
    added = std::chrono::steady_clock::now();
    q.Add(round);
    worker.join();
  }
}

}  // namespace
}  // namespace kubeos::kube

#include "kube/rate_limiter.h"

#include <gtest/gtest.h>

namespace kubeos::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

TEST(TokenBucketTest, BurstThenQps) {
  FakeClock clock;
  TokenBucket b(5, 10, clock);  // client-go defaults
  for (int i = 0; i < 10; ++i) EXPECT_EQ(b.Reserve(), nanoseconds(0)) << i;
  EXPECT_EQ(b.Reserve(), milliseconds(200));  // 11th waits one token at 5/s
  EXPECT_EQ(b.Reserve(), milliseconds(400));  // and the next queues behind it
  clock.Advance(milliseconds(400));
  EXPECT_EQ(b.Reserve(), milliseconds(200));
  clock.Advance(std::chrono::seconds(100));  // refills to burst, not beyond
  for (int i = 0; i < 10; ++i) EXPECT_EQ(b.Reserve(), nanoseconds(0)) << i;
  EXPECT_GT(b.Reserve(), nanoseconds(0));
}

TEST(TokenBucketTest, DisabledWhenQpsNotPositive) {
  FakeClock clock;
  TokenBucket b(-1, 1, clock);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(b.Reserve(), nanoseconds(0));
}

TEST(ItemExponentialBackoffTest, DoublesPerItemCapsAndForgets) {
  ItemExponentialBackoff<std::string> b(milliseconds(5), std::chrono::seconds(1000));
  EXPECT_EQ(b.When("a"), milliseconds(5));
  EXPECT_EQ(b.When("a"), milliseconds(10));
  EXPECT_EQ(b.When("a"), milliseconds(20));
  EXPECT_EQ(b.When("b"), milliseconds(5));
  EXPECT_EQ(b.NumRequeues("a"), 3);
  b.Forget("a");
  EXPECT_EQ(b.NumRequeues("a"), 0);
  EXPECT_EQ(b.When("a"), milliseconds(5));
  for (int i = 0; i < 100; ++i) (void)b.When("c");
  EXPECT_EQ(b.When("c"), std::chrono::seconds(1000));
}

TEST(SleepForTest, StopsEarly) {
  std::stop_source src;
  src.request_stop();
  EXPECT_FALSE(SleepFor(std::chrono::hours(1), src.get_token()));
  EXPECT_TRUE(SleepFor(nanoseconds(0), {}));
}

}  // namespace
}  // namespace kubeos::kube

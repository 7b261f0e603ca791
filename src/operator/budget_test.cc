#include "operator/budget.h"

#include <gtest/gtest.h>

namespace kubeos::rollout {
namespace {

struct Case {
  IntOrPercent v;
  std::int64_t total;
  std::int64_t want;
};

TEST(BudgetTest, MaxUnavailable) {
  const Case cases[] = {
      {{2, false}, 10, 2}, {{20, false}, 10, 10},  // clamped to the node count, as the original
      {{0, false}, 10, 0}, {{-3, false}, 10, 0},   // 0 or less: nothing ever starts
      {{1, false}, 0, 0},  {{25, true}, 10, 2},    // 2.5 rounds down
      {{10, true}, 5, 1},  {{0, true}, 5, 0},      // a positive share makes progress; 0% does not
      {{100, true}, 7, 7}, {{250, true}, 7, 7},   {{50, true}, 5000, 2500},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ResolveMaxUnavailable(c.v, c.total), c.want)
        << c.v.value << (c.v.percent ? "%" : "") << " of " << c.total;
  }
}

TEST(BudgetTest, FailureThreshold) {
  const Case cases[] = {
      {{1, false}, 10, 1}, {{0, false}, 10, 0}, {{5, false}, 3, 5},  // not clamped: 5 of 3 never halts
      {{10, true}, 5, 1},  {{10, true}, 25, 3},                      // 2.5 rounds up
      {{0, true}, 25, 0},  {{100, true}, 4, 4},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ResolveFailureThreshold(c.v, c.total), c.want)
        << c.v.value << (c.v.percent ? "%" : "") << " of " << c.total;
  }
}

}  // namespace
}  // namespace kubeos::rollout

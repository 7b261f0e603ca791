#include "operator/time_window.h"

#include <gtest/gtest.h>

#include "operator/status_json.h"

namespace kubeos::rollout {
namespace {

Time At(const char* rfc3339) {
  auto t = ParseRfc3339(rfc3339);
  EXPECT_TRUE(t.ok()) << rfc3339;
  return t.value_or(Time{});
}

struct Case {
  const char* name;
  std::optional<TimeWindowSpec> window;
  const char* default_zone;
  const char* now;
  bool want_error;
  bool want_inside;
  const char* want_next;  // nullptr: no next start
};

TEST(TimeWindowTest, Table) {
  const Case cases[] = {
      {"absent: always", std::nullopt, "", "2026-12-03T12:00:00Z", false, true, nullptr},
      {"both empty: always", TimeWindowSpec{"", "", ""}, "", "2026-12-03T12:00:00Z", false, true, nullptr},
      {"start only: invalid", TimeWindowSpec{"10:00:00", "", ""}, "", "2026-12-03T12:00:00Z", true, false,
       nullptr},
      {"end only: invalid", TimeWindowSpec{"", "10:00:00", ""}, "", "2026-12-03T12:00:00Z", true, false,
       nullptr},
      {"daily inside", {{"09:00:00", "17:00:00", ""}}, "", "2026-12-03T12:00:00Z", false, true, nullptr},
      {"daily after: tomorrow",
       {{"09:00:00", "17:00:00", ""}},
       "",
       "2026-12-03T18:00:00Z",
       false,
       false,
       "2026-12-04T09:00:00Z"},
      {"daily before: today",
       {{"09:00:00", "17:00:00", ""}},
       "",
       "2026-12-03T08:00:00Z",
       false,
       false,
       "2026-12-03T09:00:00Z"},
      {"start is exclusive",
       {{"09:00:00", "17:00:00", ""}},
       "",
       "2026-12-03T09:00:00Z",
       false,
       false,
       "2026-12-03T09:00:00Z"},
      {"end is exclusive",
       {{"09:00:00", "17:00:00", ""}},
       "",
       "2026-12-03T17:00:00Z",
       false,
       false,
       "2026-12-04T09:00:00Z"},
      {"wraps: late evening",
       {{"22:00:00", "04:00:00", ""}},
       "",
       "2026-12-03T23:00:00Z",
       false,
       true,
       nullptr},
      {"wraps: after midnight",
       {{"22:00:00", "04:00:00", ""}},
       "",
       "2026-12-04T03:59:59Z",
       false,
       true,
       nullptr},
      {"wraps: morning outside",
       {{"22:00:00", "04:00:00", ""}},
       "",
       "2026-12-04T05:00:00Z",
       false,
       false,
       "2026-12-04T22:00:00Z"},
      {"wraps: just before start",
       {{"22:00:00", "04:00:00", ""}},
       "",
       "2026-12-03T21:59:59Z",
       false,
       false,
       "2026-12-03T22:00:00Z"},
      {"equal bounds: invalid",
       {{"10:00:00", "10:00:00", ""}},
       "",
       "2026-12-03T12:00:00Z",
       true,
       false,
       nullptr},
      {"hour 24: invalid", {{"24:00:00", "10:00:00", ""}}, "", "2026-12-03T12:00:00Z", true, false, nullptr},
      {"one-digit hour: invalid",
       {{"9:00:00", "10:00:00", ""}},
       "",
       "2026-12-03T12:00:00Z",
       true,
       false,
       nullptr},
      {"mixed formats: invalid",
       {{"2026-12-03 10:00:00", "12:00:00", ""}},
       "",
       "2026-12-03T12:00:00Z",
       true,
       false,
       nullptr},
      {"dated inside",
       {{"2026-12-03 20:00:00", "2026-12-04 02:00:00", ""}},
       "",
       "2026-12-03T21:00:00Z",
       false,
       true,
       nullptr},
      {"dated before",
       {{"2026-12-03 20:00:00", "2026-12-04 02:00:00", ""}},
       "",
       "2026-12-03T19:00:00Z",
       false,
       false,
       "2026-12-03T20:00:00Z"},
      {"dated passed: no next",
       {{"2026-12-03 20:00:00", "2026-12-04 02:00:00", ""}},
       "",
       "2026-12-04T03:00:00Z",
       false,
       false,
       nullptr},
      {"dated end before start: invalid",
       {{"2026-12-04 20:00:00", "2026-12-03 02:00:00", ""}},
       "",
       "2026-12-03T12:00:00Z",
       true,
       false,
       nullptr},
      {"dated bad day: invalid",
       {{"2026-02-30 10:00:00", "2026-03-01 10:00:00", ""}},
       "",
       "2026-12-03T12:00:00Z",
       true,
       false,
       nullptr},
      {"zone from spec",
       {{"22:00:00", "23:00:00", "Asia/Shanghai"}},
       "",
       "2026-12-03T14:30:00Z",
       false,
       true,
       nullptr},
      {"zone from spec, outside",
       {{"22:00:00", "23:00:00", "Asia/Shanghai"}},
       "",
       "2026-12-03T15:30:00Z",
       false,
       false,
       "2026-12-04T14:00:00Z"},
      {"operator's zone by default",
       {{"22:00:00", "23:00:00", ""}},
       "Asia/Shanghai",
       "2026-12-03T14:30:00Z",
       false,
       true,
       nullptr},
      {"spec zone beats default",
       {{"22:00:00", "23:00:00", "UTC"}},
       "Asia/Shanghai",
       "2026-12-03T14:30:00Z",
       false,
       false,
       "2026-12-03T22:00:00Z"},
      {"dated in a zone",
       {{"2026-12-04 00:00:00", "2026-12-04 06:00:00", "Asia/Shanghai"}},
       "",
       "2026-12-03T15:00:00Z",
       false,
       false,
       "2026-12-03T16:00:00Z"},
      {"unknown zone: invalid",
       {{"22:00:00", "23:00:00", "Mars/Olympus"}},
       "",
       "2026-12-03T12:00:00Z",
       true,
       false,
       nullptr},
      // 2026-03-08 02:00 EST jumps to 03:00 EDT: a start at 02:30 that day opens at the jump (07:00Z).
      {"DST gap",
       {{"02:30:00", "03:30:00", "America/New_York"}},
       "",
       "2026-03-08T06:00:00Z",
       false,
       false,
       "2026-03-08T07:00:00Z"},
      // 2026-11-01 01:00-02:00 happens twice; the window opens at the first 01:15 (EDT, 05:15Z).
      {"DST repeat",
       {{"01:15:00", "01:45:00", "America/New_York"}},
       "",
       "2026-11-01T04:00:00Z",
       false,
       false,
       "2026-11-01T05:15:00Z"},
      {"DST summer offset",
       {{"09:00:00", "17:00:00", "America/New_York"}},
       "",
       "2026-07-01T13:30:00Z",
       false,
       true,
       nullptr},
      {"DST winter offset",
       {{"09:00:00", "17:00:00", "America/New_York"}},
       "",
       "2026-12-01T13:30:00Z",
       false,
       false,
       "2026-12-01T14:00:00Z"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto got = EvaluateTimeWindow(c.window, c.default_zone, At(c.now));
    if (c.want_error) {
      EXPECT_FALSE(got.ok());
      EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
      continue;
    }
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->inside, c.want_inside);
    if (c.want_next == nullptr) {
      EXPECT_FALSE(got->next_start.has_value()) << FormatRfc3339(*got->next_start);
    } else {
      ASSERT_TRUE(got->next_start.has_value());
      EXPECT_EQ(FormatRfc3339(*got->next_start), c.want_next);
    }
  }
}

TEST(TimeWindowTest, ErrorsNameTheProblem) {
  auto bad = EvaluateTimeWindow(TimeWindowSpec{"25:00:00", "10:00:00", ""}, "", Time{});
  EXPECT_NE(bad.status().message().find("starttime \"25:00:00\""), std::string::npos)
      << bad.status().ToString();
  auto zone = EvaluateTimeWindow(TimeWindowSpec{"01:00:00", "02:00:00", "Nowhere/Land"}, "", Time{});
  EXPECT_NE(zone.status().message().find("Nowhere/Land"), std::string::npos) << zone.status().ToString();
}

}  // namespace
}  // namespace kubeos::rollout

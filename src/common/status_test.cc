#include "common/status.h"

#include <gtest/gtest.h>

namespace kubeos {
namespace {

TEST(StatusTest, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, ContextIsPrefixed) {
  Status s = NotFoundError("nodes \"n1\" not found").WithContext("get node");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "get node: nodes \"n1\" not found");
  EXPECT_EQ(s.ToString(), "NotFound: get node: nodes \"n1\" not found");
  EXPECT_TRUE(Status().WithContext("ignored").ok());
}

TEST(StatusTest, ErrnoMapping) {
  struct Case {
    int err;
    StatusCode code;
  };
  for (const Case& c : {Case{ENOENT, StatusCode::kNotFound}, Case{EACCES, StatusCode::kPermissionDenied},
                        Case{ENOSPC, StatusCode::kResourceExhausted}, Case{EIO, StatusCode::kDataLoss},
                        Case{ECONNREFUSED, StatusCode::kUnavailable}}) {
    Status s = ErrnoError(c.err, "open /x");
    EXPECT_EQ(s.code(), c.code) << c.err;
    EXPECT_EQ(s.message().rfind("open /x: ", 0), 0U) << s.message();
  }
}

StatusOr<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError("odd");
  return x / 2;
}

StatusOr<int> Quarter(int x) {
  KUBEOS_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST(StatusOrTest, ValueAndErrorPropagate) {
  auto q = Quarter(8);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(*q, 2);
  auto bad = Quarter(6);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(StatusOrTest, OkStatusBecomesInternal) {
  StatusOr<int> s{Status::Ok()};
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInternal);
}

TEST(StatusTest, RetryAfterIsCarried) {
  Status s = Status(StatusCode::kResourceExhausted, "slow down").set_retry_after(std::chrono::seconds(10));
  ASSERT_TRUE(s.retry_after().has_value());
  EXPECT_EQ(*s.retry_after(), std::chrono::milliseconds(10000));
}

}  // namespace
}  // namespace kubeos

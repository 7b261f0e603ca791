#include "kube/errors.h"

#include <gtest/gtest.h>

namespace kubeos::kube {
namespace {

HttpResponse Resp(long code, std::string body, std::map<std::string, std::string> headers = {}) {  // NOLINT
  HttpResponse r;
  r.status = code;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

TEST(StatusFromResponseTest, ClassifiesLikeClientGo) {
  struct Case {
    long http;  // NOLINT(google-runtime-int)
    const char* reason;
    StatusCode want;
  };
  const Case cases[] = {
      {200, "", StatusCode::kOk},
      {201, "", StatusCode::kOk},
      {404, "NotFound", StatusCode::kNotFound},
      {409, "AlreadyExists", StatusCode::kAlreadyExists},
      {409, "Conflict", StatusCode::kConflict},
      {410, "Expired", StatusCode::kGone},
      {422, "Invalid", StatusCode::kInvalidArgument},
      {401, "Unauthorized", StatusCode::kUnauthenticated},
      {403, "Forbidden", StatusCode::kPermissionDenied},
      {429, "TooManyRequests", StatusCode::kResourceExhausted},
      {500, "InternalError", StatusCode::kInternal},
      {503, "ServiceUnavailable", StatusCode::kUnavailable},
      {504, "Timeout", StatusCode::kDeadlineExceeded},
  };
  for (const Case& c : cases) {
    std::string body = std::string(R"({"kind":"Status","reason":")") + c.reason + R"(","message":"m"})";
    Status s = StatusFromResponse(Resp(c.http, body), "get x");
    EXPECT_EQ(s.code(), c.want) << c.http << " " << c.reason;
    if (!s.ok()) {
      EXPECT_EQ(s.message(), "get x: m");
    }
  }
}

TEST(StatusFromResponseTest, RetryAfterFromHeaderOrDetails) {
  Status h = StatusFromResponse(Resp(429, "{}", {{"retry-after", "10"}}), "evict pods/p");
  ASSERT_TRUE(h.retry_after().has_value());
  EXPECT_EQ(*h.retry_after(), std::chrono::seconds(10));
  Status d = StatusFromResponse(Resp(429, R"({"details":{"retryAfterSeconds":3}})"), "evict pods/p");
  ASSERT_TRUE(d.retry_after().has_value());
  EXPECT_EQ(*d.retry_after(), std::chrono::seconds(3));
}

TEST(StatusFromResponseTest, CausesExplainTheError) {
  Status s = StatusFromResponse(
      Resp(429,
           R"({"reason":"TooManyRequests","message":"Cannot evict pod.","details":{"causes":[)"
           R"({"reason":"DisruptionBudget","message":"The disruption budget pdb needs 1 healthy pods"}]}})"),
      "evict pods/p");
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(), "evict pods/p: Cannot evict pod. (The disruption budget pdb needs 1 healthy pods)");
  EXPECT_FALSE(s.retry_after().has_value());
}

TEST(StatusFromResponseTest, NonJsonBodyIsKeptShort) {
  Status s = StatusFromResponse(Resp(502, "bad gateway"), "list nodes");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "list nodes: HTTP 502: bad gateway");
}

}  // namespace
}  // namespace kubeos::kube

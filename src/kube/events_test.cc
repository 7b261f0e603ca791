#include "kube/events.h"

#include <gtest/gtest.h>

namespace kubeos::kube {
namespace {

using nlohmann::json;

TEST(ObjectReferenceTest, TakesIdentityFields) {
  json node = {
      {"apiVersion", "v1"},
      {"kind", "Node"},
      {"metadata", {{"name", "n1"}, {"uid", "u"}, {"resourceVersion", "5"}, {"labels", {{"a", "b"}}}}},
      {"spec", json::object()}};
  EXPECT_EQ(
      ObjectReference(node),
      (json{{"apiVersion", "v1"}, {"kind", "Node"}, {"name", "n1"}, {"uid", "u"}, {"resourceVersion", "5"}}));
}

TEST(EventAggregationKeyTest, SameEventSameKeyAnyDifferenceDiffers) {
  json ref = {{"kind", "Node"}, {"name", "n1"}, {"uid", "u"}};
  auto k = EventAggregationKey(ref, "Normal", "Drain", "draining", "op");
  EXPECT_EQ(k, EventAggregationKey(ref, "Normal", "Drain", "draining", "op"));
  EXPECT_NE(k, EventAggregationKey(ref, "Warning", "Drain", "draining", "op"));
  EXPECT_NE(k, EventAggregationKey(ref, "Normal", "Drained", "draining", "op"));
  EXPECT_NE(k, EventAggregationKey(ref, "Normal", "Drain", "draining!", "op"));
  EXPECT_NE(k, EventAggregationKey(ref, "Normal", "Drain", "draining", "proxy"));
  json other = ref;
  other["uid"] = "v";
  EXPECT_NE(k, EventAggregationKey(other, "Normal", "Drain", "draining", "op"));
}

}  // namespace
}  // namespace kubeos::kube

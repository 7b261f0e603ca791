#include "sim/node_status.h"

#include <gtest/gtest.h>

namespace kubeos::sim {
namespace {

TEST(NodeStatus, PrettyName) {
  struct Case {
    const char* text;
    const char* want;
  };
  const Case cases[] = {
      {"NAME=KubeOS\nPRETTY_NAME=\"KubeOS 2\"\n", "KubeOS 2"},
      {"PRETTY_NAME='KubeOS 3'", "KubeOS 3"},
      {"PRETTY_NAME=KubeOS", "KubeOS"},
      {"PRETTY_NAME=\"A \\\"quoted\\\" name\"\n", "A \"quoted\" name"},
      {"NAME=x\n", ""},
      {"XPRETTY_NAME=\"no\"\nPRETTY_NAME=\"yes\"\r\n", "yes"},
      {"", ""},
  };
  for (const Case& c : cases) EXPECT_EQ(PrettyNameFromOsRelease(c.text), c.want) << c.text;
}

TEST(NodeStatus, ReadyPatchCarriesOsImageAndBootId) {
  nlohmann::json p = NodeStatusPatch(
      {.ready = true, .reason = "KubeletReady", .message = "up", .os_image = "KubeOS 2", .boot_id = "b1"},
      "2026-01-01T00:00:00Z");
  EXPECT_EQ(p["status"]["conditions"][0]["type"], "Ready");
  EXPECT_EQ(p["status"]["conditions"][0]["status"], "True");
  EXPECT_EQ(p["status"]["nodeInfo"]["osImage"], "KubeOS 2");
  EXPECT_EQ(p["status"]["nodeInfo"]["bootID"], "b1");
}

TEST(NodeStatus, NotReadyPatchLeavesNodeInfoAlone) {
  nlohmann::json p = NodeStatusPatch({.ready = false, .reason = "KubeletNotReady"}, "t");
  EXPECT_EQ(p["status"]["conditions"][0]["status"], "False");
  EXPECT_FALSE(p["status"].contains("nodeInfo"));
}

}  // namespace
}  // namespace kubeos::sim

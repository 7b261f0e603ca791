// The writes that apply a plan: OSInstance spec for an assignment (deep copies, grub swap), label patches,
// status bodies, and which updates matter.
#include "operator/writes.h"

#include <gtest/gtest.h>

namespace kubeos::rollout {
namespace {

using nlohmann::json;

const json kOs = {
    {"metadata", {{"name", "os-a"}, {"namespace", "ns1"}, {"resourceVersion", "7"}}},
    {"spec",
     {{"osversion", "KubeOS v2"},
      {"upgradeconfigs",
       {{"version", "u2"},
        {"configs", {{{"model", "kernel.sysctl"}, {"contents", {{{"key", "a"}, {"value", 1}}}}}}}}},
      {"sysconfigs",
       {{"version", "s2"},
        {"configs",
         {{{"model", "grub.cmdline.current"}, {"contents", {{{"key", "quiet"}}}}},
          {{"model", "grub.cmdline.next"}, {"contents", {{{"key", "audit"}, {"value", "1"}}}}},
          {{"model", "kernel.sysctl"}, {"contents", {{{"key", "b"}, {"value", 2}}}}}}}}}}}};

const json kOsi = {{"metadata", {{"name", "n1"}, {"namespace", "default"}, {"resourceVersion", "42"}}},
                   {"spec",
                    {{"nodestatus", "idle"},
                     {"sysconfigs", {{"version", "s1"}, {"configs", {{{"model", "old"}, {"stale", true}}}}}},
                     {"upgradeconfigs", {{"version", "u1"}}},
                     {"future", "kept"}}},
                   {"status", {{"phase", "Idle"}}}};

TEST(SwapGrubCurrentNext, SwapsBothWaysAndLeavesOthers) {
  const json swapped = SwapGrubCurrentNext(kOs["spec"]["sysconfigs"]);
  EXPECT_EQ(swapped["configs"][0]["model"], "grub.cmdline.next");
  EXPECT_EQ(swapped["configs"][0]["contents"], kOs["spec"]["sysconfigs"]["configs"][0]["contents"]);
  EXPECT_EQ(swapped["configs"][1]["model"], "grub.cmdline.current");
  EXPECT_EQ(swapped["configs"][2]["model"], "kernel.sysctl");
  EXPECT_EQ(swapped["version"], "s2");
  EXPECT_EQ(SwapGrubCurrentNext(swapped), kOs["spec"]["sysconfigs"]);  // an involution
  EXPECT_EQ(SwapGrubCurrentNext(json::object()), json::object());
  EXPECT_EQ(SwapGrubCurrentNext({{"configs", {1, {{"model", 3}}}}}),
            json({{"configs", {1, {{"model", 3}}}}}));
}

TEST(AssignedOsInstance, Table) {
  struct Case {
    const char* name;
    Assignment a;
    json want_sys;  // null: absent
    json want_up;
  };
  const json sys_swapped = SwapGrubCurrentNext(kOs["spec"]["sysconfigs"]);
  const Case cases[] = {
      {"upgrade copies both and swaps grub",
       {.node = "n1",
        .action = Action::kUpgrade,
        .nodestatus = "upgrade",
        .copy_upgradeconfigs = true,
        .copy_sysconfigs = true,
        .swap_grub_current_next = true},
       sys_swapped,
       kOs["spec"]["upgradeconfigs"]},
      {"config copies sysconfigs without a swap",
       {.node = "n1", .action = Action::kConfig, .nodestatus = "config", .copy_sysconfigs = true},
       kOs["spec"]["sysconfigs"],
       kOsi["spec"]["upgradeconfigs"]},
      {"no copy flags keep the instance's configs",
       {.node = "n1", .action = Action::kRollback, .nodestatus = "upgrade"},
       kOsi["spec"]["sysconfigs"],
       kOsi["spec"]["upgradeconfigs"]},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const json got = AssignedOsInstance(kOsi, kOs, c.a);
    EXPECT_EQ(got["metadata"], kOsi["metadata"]);  // resourceVersion is the precondition
    EXPECT_EQ(got["spec"]["nodestatus"], c.a.nodestatus);
    EXPECT_EQ(got["spec"]["namespacedname"], json({{"name", "os-a"}, {"namespace", "ns1"}}));
    EXPECT_EQ(got["spec"]["sysconfigs"], c.want_sys);
    EXPECT_EQ(got["spec"]["upgradeconfigs"], c.want_up);
    EXPECT_EQ(got["spec"]["future"], "kept");
    EXPECT_EQ(got["status"], kOsi["status"]);
  }
  // A fresh copy replaces the old value whole (no stale "stale": true left over: the original's fix !165).
  const json replaced = AssignedOsInstance(kOsi, kOs, cases[1].a);
  EXPECT_FALSE(replaced["spec"]["sysconfigs"]["configs"][0].contains("stale"));
  // Absent on the OS: removed from the instance.
  json bare = kOs;
  bare["spec"].erase("sysconfigs");
  bare["spec"].erase("upgradeconfigs");
  const json cleared = AssignedOsInstance(kOsi, bare, cases[0].a);
  EXPECT_FALSE(cleared["spec"].contains("sysconfigs"));
  EXPECT_FALSE(cleared["spec"].contains("upgradeconfigs"));
  // An instance without a spec gets one.
  const json made = AssignedOsInstance({{"metadata", kOsi["metadata"]}}, kOs, cases[2].a);
  EXPECT_EQ(made["spec"]["nodestatus"], "upgrade");
}

TEST(NodeLabelsPatch, SetsAndRemoves) {
  EXPECT_EQ(NodeLabelsPatch(
                {{"upgrade.openeuler.org/upgrading", ""}, {"upgrade.openeuler.org/serial", std::nullopt}}),
            json::parse(R"({"metadata":{"labels":{"upgrade.openeuler.org/upgrading":"",
                           "upgrade.openeuler.org/serial":null}}})"));
}

TEST(OsWithStatus, KeepsTheResourceVersionAndComparesExactly) {
  const json status = {{"total", 3}, {"rollout", "Progressing"}};
  const json body = OsWithStatus(kOs, status);
  EXPECT_EQ(body["metadata"]["resourceVersion"], "7");
  EXPECT_EQ(body["status"], status);
  EXPECT_EQ(body["spec"], kOs["spec"]);
  EXPECT_TRUE(SameStatus(body, status));
  EXPECT_FALSE(SameStatus(kOs, status));
  EXPECT_FALSE(SameStatus(body, {{"total", 4}, {"rollout", "Progressing"}}));
}

TEST(NodeChangeMatters, Table) {
  const json base = json::parse(R"({
    "metadata": {"name": "n", "resourceVersion": "1", "labels": {"a": "1"}},
    "spec": {},
    "status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "t1"}],
               "nodeInfo": {"osImage": "KubeOS v1"}, "images": []}})");
  struct Case {
    const char* name;
    json patch;
    bool matters;
  };
  const Case cases[] = {
      {"heartbeat and resourceVersion only",
       json::parse(
           R"({"metadata":{"resourceVersion":"2"},"status":{"conditions":[{"type":"Ready","status":"True","lastHeartbeatTime":"t2"}]}})"),
       false},
      {"images", json::parse(R"({"status":{"images":[{"names":["x"]}]}})"), false},
      {"label added", json::parse(R"({"metadata":{"labels":{"b":""}}})"), true},
      {"label removed", json::parse(R"({"metadata":{"labels":{"a":null}}})"), true},
      {"cordoned", json::parse(R"({"spec":{"unschedulable":true}})"), true},
      {"not ready",
       json::parse(
           R"({"status":{"conditions":[{"type":"Ready","status":"False","lastHeartbeatTime":"t2"}]}})"),
       true},
      {"os image", json::parse(R"({"status":{"nodeInfo":{"osImage":"KubeOS v2"}}})"), true},
      {"deleting", json::parse(R"({"metadata":{"deletionTimestamp":"2026-12-04T00:00:00Z"}})"), true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    json changed = base;
    changed.merge_patch(c.patch);
    EXPECT_EQ(NodeChangeMatters(base, changed), c.matters);
  }
}

TEST(OsSelectorChanged, Table) {
  const json a = {{"metadata", {{"name", "x"}}}, {"spec", {{"nodeselector", "p"}, {"maxunavailable", 1}}}};
  json b = a;
  b["spec"]["maxunavailable"] = 2;
  EXPECT_FALSE(OsSelectorChanged(a, b));
  b["spec"]["nodeselector"] = "q";
  EXPECT_TRUE(OsSelectorChanged(a, b));
  json c = a;
  c["metadata"]["deletionTimestamp"] = "t";
  EXPECT_TRUE(OsSelectorChanged(a, c));
}

}  // namespace
}  // namespace kubeos::rollout

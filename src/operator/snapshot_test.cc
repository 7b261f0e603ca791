// Snapshot mapping from API JSON to planner views (docs/operator.md "Controller", "Snapshot mapping").
#include "operator/snapshot.h"

#include <gtest/gtest.h>

namespace kubeos::rollout {
namespace {

using nlohmann::json;

json Os(json spec) {
  return {{"apiVersion", "upgrade.openeuler.org/v1alpha1"},
          {"kind", "OS"},
          {"metadata", {{"name", "os-a"}, {"namespace", "ns1"}, {"generation", 4}}},
          {"spec", std::move(spec)}};
}

TEST(IntOrPercentFromJson, Table) {
  struct Case {
    json in;
    bool ok;
    std::int64_t value;
    bool percent;
  };
  const Case cases[] = {
      {3, true, 3, false},
      {0, true, 0, false},
      {-1, true, -1, false},
      {"25%", true, 25, true},
      {"0%", true, 0, true},
      {"100%", true, 100, true},
      {"25", false, 0, false},
      {"%", false, 0, false},
      {"x%", false, 0, false},
      {"2.5%", false, 0, false},
      {1.5, false, 0, false},
      {true, false, 0, false},
      {json(nullptr), false, 0, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in.dump());
    auto r = IntOrPercentFromJson(c.in);
    ASSERT_EQ(r.ok(), c.ok) << r.status().ToString();
    if (!c.ok) continue;
    EXPECT_EQ(r->value, c.value);
    EXPECT_EQ(r->percent, c.percent);
  }
}

TEST(OsViewFromJson, AbsentFieldsGetTheDocumentedDefaults) {
  auto v = OsViewFromJson(Os({{"opstype", "upgrade"}, {"osversion", "KubeOS v2"}, {"maxunavailable", 2}}));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->key, (NamespacedName{"ns1", "os-a"}));
  EXPECT_EQ(v->generation, 4);
  EXPECT_EQ(v->spec.opstype, "upgrade");
  EXPECT_EQ(v->spec.osversion, "KubeOS v2");
  EXPECT_EQ(v->spec.nodeselector, "no-label");
  EXPECT_EQ(v->spec.executionmode, "parallel");
  EXPECT_EQ(v->spec.timeinterval, 15);
  EXPECT_EQ(v->spec.failurethreshold.value, 1);
  EXPECT_FALSE(v->spec.failurethreshold.percent);
  EXPECT_EQ(v->spec.maxunavailable.value, 2);
  EXPECT_FALSE(v->spec.pause);
  EXPECT_FALSE(v->spec.timewindow.has_value());
  EXPECT_EQ(v->spec.sysconfigs_version, "");
  EXPECT_EQ(v->spec.upgradeconfigs_version, "");
  EXPECT_EQ(v->status, OsStatus{});
}

TEST(OsViewFromJson, EveryFieldIsMappedVerbatim) {
  json os =
      Os({{"opstype", "config"},
          {"osversion", "KubeOS v2"},
          {"executionmode", "serial"},
          {"nodeselector", ""},
          {"maxunavailable", "25%"},
          {"failurethreshold", "10%"},
          {"timeinterval", 0},
          {"pause", true},
          {"timewindow", {{"starttime", "22:00:00"}, {"endtime", "04:00:00"}, {"timezone", "Asia/Shanghai"}}},
          {"sysconfigs", {{"version", "s1"}, {"configs", json::array()}}},
          {"upgradeconfigs", {{"version", "u1"}}}});
  os["status"] = {{"observedGeneration", 3}, {"total", 5}, {"rollout", "Progressing"}};
  auto v = OsViewFromJson(os);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->spec.executionmode, "serial");
  EXPECT_EQ(v->spec.nodeselector, "");  // explicit "" is kept: selects nodes whose label value is empty
  EXPECT_EQ(v->spec.maxunavailable.value, 25);
  EXPECT_TRUE(v->spec.maxunavailable.percent);
  EXPECT_EQ(v->spec.failurethreshold.value, 10);
  EXPECT_TRUE(v->spec.failurethreshold.percent);
  EXPECT_EQ(v->spec.timeinterval, 0);
  EXPECT_TRUE(v->spec.pause);
  ASSERT_TRUE(v->spec.timewindow.has_value());
  EXPECT_EQ(v->spec.timewindow->start, "22:00:00");
  EXPECT_EQ(v->spec.timewindow->end, "04:00:00");
  EXPECT_EQ(v->spec.timewindow->timezone, "Asia/Shanghai");
  EXPECT_EQ(v->spec.sysconfigs_version, "s1");
  EXPECT_EQ(v->spec.upgradeconfigs_version, "u1");
  EXPECT_EQ(v->status.observed_generation, 3);
  EXPECT_EQ(v->status.total, 5);
  EXPECT_EQ(v->status.rollout, "Progressing");
}

TEST(OsViewFromJson, WrongTypesAreRejectedNamingTheField) {
  struct Case {
    json spec;
    const char* field;
  };
  const Case cases[] = {
      {{{"maxunavailable", "ten"}}, "maxunavailable"},
      {{{"failurethreshold", true}}, "failurethreshold"},
      {{{"timeinterval", "15"}}, "timeinterval"},
      {{{"pause", "yes"}}, "pause"},
      {{{"osversion", 2}}, "osversion"},
      {{{"timewindow", "22-04"}}, "timewindow"},
      {{{"sysconfigs", 1}}, "sysconfigs"},
      {{{"sysconfigs", {{"version", 1}}}}, "version"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.spec.dump());
    auto v = OsViewFromJson(Os(c.spec));
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(v.status().message().find(c.field), std::string::npos) << v.status().ToString();
  }
  json bad_status = Os({{"osversion", "v"}});
  bad_status["status"] = {{"total", "many"}};
  EXPECT_FALSE(OsViewFromJson(bad_status).ok());
}

TEST(OsInstanceViewFromJson, Table) {
  struct Case {
    json osi;
    OsInstanceView want;
  };
  const Case cases[] = {
      {json::object(), {}},
      {{{"spec", {{"nodestatus", "idle"}}}}, {.nodestatus = "idle"}},
      {{{"spec",
         {{"nodestatus", "upgrade"},
          {"namespacedname", {{"name", "os-a"}, {"namespace", "ns1"}}},
          {"sysconfigs", {{"version", "s1"}}},
          {"upgradeconfigs", {{"version", "u1"}}}}},
        {"status", {{"sysconfigs", {{"version", "s0"}}}, {"phase", "Staging"}}}},
       {.nodestatus = "upgrade",
        .owner = NamespacedName{"ns1", "os-a"},
        .spec_sysconfigs_version = "s1",
        .spec_upgradeconfigs_version = "u1",
        .status_sysconfigs_version = "s0"}},
      {{{"status", {{"phase", "Failed"}, {"targetVersion", "KubeOS v2"}, {"message", "checksum mismatch"}}}},
       {.phase = NodePhase::kFailed, .phase_target = "KubeOS v2", .message = "checksum mismatch"}},
      {{{"status", {{"phase", "FellBack"}, {"targetVersion", "KubeOS v2"}}}},
       {.phase = NodePhase::kFellBack, .phase_target = "KubeOS v2"}},
      {{{"status", {{"phase", "failed"}}}}, {}},  // exact spelling only
      // The original proxy clears namespacedname to empty strings: no owner.
      {{{"spec", {{"namespacedname", {{"name", ""}, {"namespace", ""}}}}}}, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.osi.dump());
    const OsInstanceView got = OsInstanceViewFromJson(c.osi);
    EXPECT_EQ(got.nodestatus, c.want.nodestatus);
    EXPECT_EQ(got.owner.has_value(), c.want.owner.has_value());
    if (got.owner && c.want.owner) {
      EXPECT_EQ(*got.owner, *c.want.owner);
    }
    EXPECT_EQ(got.spec_sysconfigs_version, c.want.spec_sysconfigs_version);
    EXPECT_EQ(got.spec_upgradeconfigs_version, c.want.spec_upgradeconfigs_version);
    EXPECT_EQ(got.status_sysconfigs_version, c.want.status_sysconfigs_version);
    EXPECT_EQ(got.phase, c.want.phase);
    EXPECT_EQ(got.phase_target, c.want.phase_target);
    EXPECT_EQ(got.message, c.want.message);
  }
}

json Node(const std::string& name, const std::string& ready, const json& extra = json::object()) {
  json n = {{"metadata", {{"name", name}, {"labels", {{"a", "1"}}}}},
            {"status", {{"nodeInfo", {{"osImage", "KubeOS v1"}}}}}};
  if (!ready.empty()) {
    n["status"]["conditions"] = {{{"type", "MemoryPressure"}, {"status", "False"}},
                                 {{"type", "Ready"}, {"status", ready}}};
  }
  n.merge_patch(extra);
  return n;
}

TEST(NodeViewFromJson, Table) {
  struct Case {
    json node;
    bool ready, unschedulable;
  };
  const Case cases[] = {
      {Node("n", "True"), true, false},
      {Node("n", "False"), false, false},
      {Node("n", "Unknown"), false, false},
      {Node("n", ""), false, false},  // no Ready condition yet
      {Node("n", "True", {{"spec", {{"unschedulable", true}}}}), true, true},
      {Node("n", "True", {{"spec", {{"unschedulable", false}}}}), true, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.node.dump());
    const NodeView v = NodeViewFromJson(c.node, nullptr);
    EXPECT_EQ(v.name, "n");
    EXPECT_EQ(v.ready, c.ready);
    EXPECT_EQ(v.unschedulable, c.unschedulable);
    EXPECT_EQ(v.os_image, "KubeOS v1");
    EXPECT_EQ(v.labels, (std::map<std::string, std::string>{{"a", "1"}}));
    EXPECT_FALSE(v.instance.has_value());
  }
  const json osi = {{"spec", {{"nodestatus", "config"}}}};
  const NodeView joined = NodeViewFromJson(Node("n", "True"), &osi);
  ASSERT_TRUE(joined.instance.has_value());
  EXPECT_EQ(joined.instance->nodestatus, "config");
}

TEST(BuildSnapshot, JoinsNodesWithTheirOsInstancesAndListsTheOtherOsObjects) {
  const json os = Os({{"osversion", "KubeOS v2"}, {"nodeselector", "pool-a"}});
  json other = Os({{"osversion", "KubeOS v3"}});  // no nodeselector: no-label
  other["metadata"]["name"] = "os-b";
  json deleting = Os({{"osversion", "KubeOS v3"}, {"nodeselector", "pool-a"}});
  deleting["metadata"]["name"] = "os-c";
  deleting["metadata"]["deletionTimestamp"] = "2026-12-04T00:00:00Z";
  auto p = [](json j) { return std::make_shared<const json>(std::move(j)); };
  const std::vector<JsonPtr> all_os = {p(os), p(other), p(deleting)};
  const std::vector<JsonPtr> nodes = {p(Node("n1", "True")), p(Node("n2", "True"))};
  const std::map<std::string, JsonPtr> instances = {{"n2", p({{"spec", {{"nodestatus", "idle"}}}})}};
  auto snap = BuildSnapshot(os, all_os, nodes, instances, "Europe/Berlin");
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ(snap->os.spec.nodeselector, "pool-a");
  ASSERT_EQ(snap->others.size(), 1U);
  EXPECT_EQ(snap->others[0].key, (NamespacedName{"ns1", "os-b"}));
  EXPECT_EQ(snap->others[0].nodeselector, "no-label");
  ASSERT_EQ(snap->nodes.size(), 2U);
  EXPECT_FALSE(snap->nodes[0].instance.has_value());
  EXPECT_TRUE(snap->nodes[1].instance.has_value());
  EXPECT_EQ(snap->default_time_zone, "Europe/Berlin");
}

}  // namespace
}  // namespace kubeos::rollout

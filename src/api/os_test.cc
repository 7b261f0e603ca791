#include "api/os.h"

#include <gtest/gtest.h>

namespace kubeos::api {
namespace {

using nlohmann::json;

// The wire format of the original CRDs (kubeos-original-behaviour.md §1.3), plus members our structs do not
// know at every level, which must survive a round trip.
json SampleOs() {
  return R"({
    "apiVersion": "upgrade.openeuler.org/v1alpha1", "kind": "OS",
    "metadata": {"name": "os-sample", "namespace": "default", "resourceVersion": "12", "generation": 3},
    "spec": {
      "opstype": "upgrade", "osversion": "KubeOS v2", "imagetype": "containerd",
      "containerimage": "registry.local:5000/kubeos-upgrade:v2", "checksum": "6b1ce0", "imageurl": "",
      "flagSafe": false, "mtls": false, "maxunavailable": 2, "evictpodforce": true,
      "nodeselector": "pool-a", "executionmode": "parallel", "timeinterval": 30,
      "timewindow": {"starttime": "22:00:00", "endtime": "04:00:00", "futureTz": "UTC"},
      "cacert": "ca.pem",
      "upgradeconfigs": {"version": "u1", "configs": [
        {"model": "kernel.sysctl", "contents": [{"key": "vm.swappiness", "value": 10}]}]},
      "sysconfigs": {"version": "s1", "configs": [
        {"model": "kernel.sysctl.persist", "configpath": "/etc/sysctl.d/90-app.conf", "futureFlag": true,
         "contents": [{"key": "net.core.somaxconn", "value": 4096},
                      {"key": "kernel.pid_max", "value": {"nested": [1, "x"]}, "operation": "delete",
                       "futureNote": "kept"}]}]},
      "someFutureSpecField": {"a": 1}
    },
    "status": {"anything": "goes"},
    "topLevelFuture": 7
  })"_json;
}

json SampleOsInstance() {
  return R"({
    "apiVersion": "upgrade.openeuler.org/v1alpha1", "kind": "OSInstance",
    "metadata": {"name": "node-1", "namespace": "default",
                 "labels": {"upgrade.openeuler.org/osinstance-node": "node-1"}},
    "spec": {"nodestatus": "upgrade", "namespacedname": {"name": "os-sample", "namespace": "default"},
             "sysconfigs": {"version": "s1", "configs": []}, "upgradeconfigs": {"version": ""},
             "futureSpec": "x"},
    "status": {"sysconfigs": {"version": "s0"}, "futureStatus": [1, 2]}
  })"_json;
}

TEST(OsTest, DecodesExactJsonNames) {
  auto os = OsFromJson(SampleOs());
  ASSERT_TRUE(os.ok()) << os.status().ToString();
  EXPECT_EQ(os->spec.osversion, "KubeOS v2");
  EXPECT_EQ(os->spec.maxunavailable, 2);
  EXPECT_FALSE(os->spec.flag_safe);
  EXPECT_TRUE(os->spec.evictpodforce);
  EXPECT_EQ(os->spec.NodeSelectorOrDefault(), "pool-a");
  EXPECT_EQ(os->spec.TimeIntervalOrDefault(), 30);
  ASSERT_TRUE(os->spec.timewindow.has_value());
  EXPECT_EQ(os->spec.timewindow->endtime, "04:00:00");
  ASSERT_TRUE(os->spec.sysconfigs.has_value());
  const auto& contents = *(*os->spec.sysconfigs->configs)[0].contents;
  EXPECT_EQ(contents[1].operation, "delete");
  EXPECT_EQ(*contents[1].value, (json{{"nested", {1, "x"}}}));
  EXPECT_EQ(os->spec.unknown, (json{{"someFutureSpecField", {{"a", 1}}}}));
  EXPECT_EQ(os->unknown, (json{{"topLevelFuture", 7}}));
  EXPECT_EQ(Name(os->metadata), "os-sample");
  EXPECT_EQ(Generation(os->metadata), 3);
}

TEST(OsTest, RoundTripIsExactIncludingUnknownFields) {
  for (const json& in : {SampleOs()}) {
    auto os = OsFromJson(in);
    ASSERT_TRUE(os.ok()) << os.status().ToString();
    EXPECT_EQ(ToJson(*os), in) << json::diff(ToJson(*os), in).dump();
  }
  auto osi = OsInstanceFromJson(SampleOsInstance());
  ASSERT_TRUE(osi.ok()) << osi.status().ToString();
  EXPECT_EQ(ToJson(*osi), SampleOsInstance()) << json::diff(ToJson(*osi), SampleOsInstance()).dump();
}

TEST(OsTest, DefaultsApplyWhenOptionalFieldsAreAbsent) {
  json in = SampleOs();
  for (const char* k : {"nodeselector", "timeinterval", "executionmode", "timewindow", "sysconfigs"})
    in["spec"].erase(k);
  auto os = OsFromJson(in);
  ASSERT_TRUE(os.ok()) << os.status().ToString();
  EXPECT_EQ(os->spec.NodeSelectorOrDefault(), "no-label");
  EXPECT_EQ(os->spec.TimeIntervalOrDefault(), 15);
  EXPECT_EQ(os->spec.ExecutionModeOrDefault(), "parallel");
  EXPECT_FALSE(os->spec.sysconfigs.has_value());
  EXPECT_EQ(ToJson(*os), in);  // absent stays absent
}

TEST(OsTest, RejectsSchemaViolationsNamingTheField) {
  struct Case {
    std::string pointer;
    json value;
    bool erase;
    std::string want;
  };
  std::vector<Case> cases = {
      {"/spec/osversion", nullptr, true, "osversion: required field is missing"},
      {"/spec/flagSafe", "yes", false, "flagSafe: expected a boolean"},
      {"/spec/maxunavailable", "2", false, "maxunavailable: expected an integer"},
      {"/spec/sysconfigs/configs", json::object(), false, "configs: expected a list"},
      {"/spec/sysconfigs/configs/0/contents/0/key", 5, false, "contents[0].key: expected a string"},
      {"/spec/timewindow/starttime", nullptr, true, "starttime: required field is missing"},
  };
  for (const auto& c : cases) {
    json in = SampleOs();
    auto ptr = json::json_pointer(c.pointer);
    if (c.erase) {
      in[ptr.parent_pointer()].erase(ptr.back());
    } else {
      in[ptr] = c.value;
    }
    auto os = OsFromJson(in);
    ASSERT_FALSE(os.ok()) << c.pointer;
    EXPECT_EQ(os.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(os.status().message().find(c.want), std::string::npos) << os.status().message();
  }
}

TEST(OsInstanceTest, ProxysInitialObjectRoundTrips) {
  json in = {{"apiVersion", kApiVersion},
             {"kind", "OSInstance"},
             {"metadata", {{"name", "n1"}, {"namespace", kOsInstanceNamespace}}},
             {"spec", {{"nodestatus", kNodeStatusIdle}}}};
  auto osi = OsInstanceFromJson(in);
  ASSERT_TRUE(osi.ok()) << osi.status().ToString();
  EXPECT_EQ(osi->spec.nodestatus, "idle");
  EXPECT_FALSE(osi->status.has_value());
  EXPECT_EQ(ToJson(*osi), in);
}

TEST(ResourcesTest, PathsUseTheOriginalPlurals) {
  EXPECT_EQ(kube::ResourcePath(OsResource(), "default", "os-sample"),
            "/apis/upgrade.openeuler.org/v1alpha1/namespaces/default/os/os-sample");
  EXPECT_EQ(kube::ResourcePath(OsInstanceResource(), "default", "n1", "status"),
            "/apis/upgrade.openeuler.org/v1alpha1/namespaces/default/osinstances/n1/status");
}

}  // namespace
}  // namespace kubeos::api

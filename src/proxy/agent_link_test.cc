#include "proxy/agent_link.h"

#include <gtest/gtest.h>

namespace kubeos::node {
namespace {

using nlohmann::json;

TEST(AgentView, FromTheAgentsStatusReport) {
  json st = json::parse(R"({
    "booted_slot": "A", "booted_version": "KubeOS 1", "on_trial": false,
    "slots": {"A": {"state": "good", "version": "KubeOS 1", "sha256": ""},
              "B": {"state": "installed", "version": "KubeOS 2", "sha256": "ab12"}},
    "trial": {"slot": "B", "version": "KubeOS 2"},
    "last_operation": {"name": "upgrade", "ok": true, "message": "", "unix_time": 1796320000},
    "last_fallback": {"name": "boot", "ok": false, "message": "trial of slot B fell back", "unix_time": 17},
    "operation": {"name": "prepare_upgrade", "phase": "writing", "bytes": 1, "total": 2}})");
  AgentView v = AgentViewFromStatus(st);
  EXPECT_TRUE(v.reachable);
  EXPECT_TRUE(v.known);
  EXPECT_EQ(v.booted_slot, "A");
  EXPECT_EQ(v.standby_state, "installed");
  EXPECT_EQ(v.standby_version, "KubeOS 2");
  EXPECT_EQ(v.standby_sha256, "ab12");
  EXPECT_TRUE(v.trial_armed);
  EXPECT_EQ(v.trial_version, "KubeOS 2");
  EXPECT_EQ(v.last_operation_at, 1796320000);
  ASSERT_TRUE(v.last_fallback);
  EXPECT_EQ(v.last_fallback->unix_time, 17);
  EXPECT_EQ(v.running_operation, "prepare_upgrade");
  AgentView unknown_slot = AgentViewFromStatus(json{{"booted_slot", nullptr}});
  EXPECT_TRUE(unknown_slot.standby_state.empty());
  EXPECT_FALSE(unknown_slot.trial_armed);
  EXPECT_EQ(unknown_slot.last_operation_at, 0);
  // A trial of a slot with no recorded version is still armed.
  EXPECT_TRUE(AgentViewFromStatus(json::parse(R"({"trial": {"slot": "B", "version": ""}})")).trial_armed);
}

TEST(UpgradeParams, TheOriginalsFieldMapping) {
  api::OSSpec s;
  s.osversion = "KubeOS 2";
  s.checksum = "c";
  s.imagetype = "disk";
  s.imageurl = "https://x/os.tar";
  s.flag_safe = true;
  s.cacert = "ca.pem";
  json p = UpgradeParams(s);
  ASSERT_TRUE(p.is_array());
  EXPECT_EQ(p[0]["version"], "KubeOS 2");
  EXPECT_EQ(p[0]["check_sum"], "c");
  EXPECT_EQ(p[0]["image_type"], "disk");
  EXPECT_EQ(p[0]["image_url"], "https://x/os.tar");
  EXPECT_EQ(p[0]["flag_safe"], true);
  EXPECT_EQ(p[0]["mtls"], false);
  EXPECT_EQ(p[0]["certs"], (json{{"ca_cert", "ca.pem"}, {"client_cert", ""}, {"client_key", ""}}));
}

TEST(ConfigureParams, BuiltLikeTheOriginal) {
  StatusOr<api::SysConfigs> s = api::SysConfigsFromJson(json::parse(R"({"version": "v1", "configs": [
      {"model": "kernel.sysctl", "contents": [{"key": "a", "value": 1}, {"key": "a", "value": 2, "operation": "delete"},
                                               {"value": "v"}]},
      {"model": "pam.limits", "configpath": "/etc/security/limits.conf"},
      {"model": "grub.cmdline.current", "configpath": "", "contents": []}]})"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::optional<json> p = ConfigureParams(*s);
  ASSERT_TRUE(p);
  const json& configs = (*p)[0]["configs"];
  ASSERT_EQ(configs.size(), 2U) << "a model without contents is skipped";
  EXPECT_EQ(configs[0]["model"], "kernel.sysctl");
  EXPECT_EQ(configs[0]["config_path"], "");
  EXPECT_EQ(configs[0]["contents"]["a"], (json{{"value", 2}, {"operation", "delete"}}))
      << "later duplicates win";
  EXPECT_EQ(configs[0]["contents"][""], (json{{"value", "v"}, {"operation", ""}}));
  EXPECT_EQ(configs[1]["contents"], json::object());
  EXPECT_FALSE(ConfigureParams(std::nullopt));
  api::SysConfigs none;
  none.version = "v";
  EXPECT_FALSE(ConfigureParams(none)) << "nothing to send, no RPC";
}

TEST(SwapGrubCurrentNext, SwapsOnlyThoseTwo) {
  api::SysConfigs s;
  s.configs = std::vector<api::SysConfig>(3);
  (*s.configs)[0].model = "grub.cmdline.current";
  (*s.configs)[1].model = "grub.cmdline.next";
  (*s.configs)[2].model = "kernel.sysctl";
  api::SysConfigs t = SwapGrubCurrentNext(s);
  EXPECT_EQ((*t.configs)[0].model, "grub.cmdline.next");
  EXPECT_EQ((*t.configs)[1].model, "grub.cmdline.current");
  EXPECT_EQ((*t.configs)[2].model, "kernel.sysctl");
}

TEST(IsTransientAgentError, ClassifiesTheAgentsAnswers) {
  EXPECT_TRUE(IsTransientAgentError(UnavailableError("Cannot connect to KubeOS os-agent unix socket")));
  EXPECT_TRUE(IsTransientAgentError(DeadlineExceededError("no answer")));
  EXPECT_TRUE(
      IsTransientAgentError(Status(StatusCode::kUnknown, "Busy: os-agent is processing another request")));
  EXPECT_TRUE(
      IsTransientAgentError(Status(StatusCode::kUnknown, "Busy: os-agent is processing another request")
                                .WithContext("os-agent upgrade")));
  EXPECT_FALSE(IsTransientAgentError(Status(StatusCode::kUnknown, "InvalidArgument: checksum mismatch")));
  EXPECT_FALSE(IsTransientAgentError(UnimplementedError("Method is unimplemented")));
}

}  // namespace
}  // namespace kubeos::node

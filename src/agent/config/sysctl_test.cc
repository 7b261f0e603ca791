#include "agent/config/sysctl.h"

#include <gtest/gtest.h>

#include "agent/config/test_util.h"

namespace kubeos::agent::config {
namespace {

using testing::Del;
using testing::E;
using testing::ExpectGolden;
using testing::ExpectRejected;
using testing::Golden;
using testing::Rejected;

// Each case is also applied a second time to its result, which must change nothing.
TEST(EditSysctlConf, Golden) {
  const std::vector<Golden> cases = {
      // The original's unit test (config.rs test_kernel_sysctl_persist), minus the entries that are now
      // errors
      // ("" and "s=x" keys, see the error table).
      {"original example",
       "# This file is managed by KubeOS for unit testing.\na=0\nd=4\ne=5\ng=7\n",
       {E("a", 1), Del("b", 2), E("c", 3, "add"), E("d", ""), Del("e", ""), E("f", "", "add"), Del("g", 7)},
       "# This file is managed by KubeOS for unit testing.\na=1\nd=4\ne=5\nc=3\n"},
      // kubeos-original-behaviour.md §1.3, configuration sample.
      {"sample 90-app.conf",
       "kernel.pid_max = 65536\n",
       {E("net.core.somaxconn", 4096), Del("kernel.pid_max", 65536)},
       "net.core.somaxconn=4096\n"},
      {"comments, blank lines and spacing survive",
       "# header\n\nnet.core.somaxconn = 1024\n; semicolon comment\n  # indented "
       "comment\nvm.swappiness=60\n\n",
       {E("net.core.somaxconn", 4096)},
       "# header\n\nnet.core.somaxconn = 4096\n; semicolon comment\n  # indented "
       "comment\nvm.swappiness=60\n\n"},
      {"delete only when the value matches", "a = 1\nb = 2\n", {Del("a", "1"), Del("b", "3")}, "b = 2\n"},
      {"every line of a key is updated", "a=1\nb=2\na=3\n", {E("a", 5)}, "a=5\nb=2\na=5\n"},
      {"empty file",
       "",
       {E("a", 1), E("b", true), E("c", 2.5), E("d", "x y")},
       "a=1\nb=true\nc=2.5\nd=x y\n"},
      {"missing final newline", "x=1", {E("a", 1)}, "x=1\na=1\n"},
      {"new keys in request order", "", {E("z", 1), E("a", 2), E("m", 3)}, "z=1\na=2\nm=3\n"},
      {"values are trimmed", "a=1\n", {E("a", "  2 "), E("b", " 3")}, "a=2\nb=3\n"},
      {"empty value keeps the line", "a=1\n", {E("a", ""), E("b", nullptr)}, "a=1\n"},
      {"arrays and objects are skipped", "a=1\n", {E("a", {1, 2}), E("b", {{"x", 1}})}, "a=1\n"},
      {"no change keeps bytes", "a = 1   \n\n# c", {E("a", 1)}, "a = 1   \n\n# c"},
  };
  ExpectGolden(EditSysctlConf, cases);
}

TEST(EditSysctlConf, BadInput) {
  const std::vector<Rejected> cases = {
      {"empty key", "", {E("", 8)}, "empty key"},
      {"'=' in key", "", {E("s=x", 8)}, "contains '='"},
      {"space in key", "", {E("a b", 1)}, "whitespace"},
      {"newline in key", "", {E("a\nb", 1)}, "line break"},
      {"newline in value", "", {E("a", "1\nb=2")}, "line break"},
      {"NUL in value", "", {E("a", std::string("1\0", 2))}, "line break or NUL"},
      {"comment-like key", "", {E("#a", 1)}, "comment"},
      {"duplicate key", "", {E("a", 1), E("a", 2)}, "twice"},
      {"line without '='", "a=1\nrubbish\n", {E("a", 2)}, "line 2"},
  };
  ExpectRejected(EditSysctlConf, cases);
}

TEST(SysctlKeyToPath, MapsKeysUnderProcSys) {
  EXPECT_EQ(*SysctlKeyToPath("net.core.somaxconn"), "net/core/somaxconn");
  EXPECT_EQ(*SysctlKeyToPath("vm.swappiness"), "vm/swappiness");
  EXPECT_EQ(*SysctlKeyToPath("net/ipv4/conf/eth0.100/forwarding"), "net/ipv4/conf/eth0.100/forwarding");
  for (const std::string key : {"", "..", "../../etc/passwd", "a..b", ".a", "a.", "/etc/passwd",
                                "net/../../etc", "net/./x", "a//b", "a=b", "a b", "a\nb"}) {
    StatusOr<std::string> got = SysctlKeyToPath(key);
    EXPECT_FALSE(got.ok()) << key;
  }
}

TEST(PlanSysctl, OriginalSemantics) {
  // config.rs test_kernel_sysctl: only "a" (empty operation, non-empty value) is written.
  StatusOr<SysctlPlan> plan = PlanSysctl(
      {E("a", 1), Del("b", 2), E("c", 3, "add"), E("d", ""), Del("e", ""), E("f", {1}), E("g", "on")});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->writes.size(), 2U);
  EXPECT_EQ(plan->writes[0].path, "a");
  EXPECT_EQ(plan->writes[0].value, "1");
  EXPECT_EQ(plan->writes[1].value, "on");  // strings are written as they are, not JSON-quoted
  EXPECT_EQ(plan->warnings.size(), 5U);
}

TEST(PlanSysctl, RejectsEscapesAndInjection) {
  for (const ConfigEntry& e : {E("../x", 1), E("/proc/sys/x", 1), E("a.b", "1\n2"), E("a=b", 1), E("", 1)}) {
    StatusOr<SysctlPlan> plan = PlanSysctl({e});
    EXPECT_FALSE(plan.ok()) << e.key;
    if (!plan.ok()) {
      EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace kubeos::agent::config

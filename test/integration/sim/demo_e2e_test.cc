// The README demo end to end with 3 nodes: the kubeos-demo binary (real control plane, simulated hosts
// running the production os-agent / os-proxy, the production os-operator) must complete the upgrade to v2 and
// the rollback to v1 with every node on target, no PDB violation, the budget kept and no node left cordoned;
// and the broken v3 must fall back on the hosts by itself and halt the rollout with the version in
// badVersions. The assertions read the demo's JSON summary (behaviour and counts, not log text).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/file.h"
#include "common/process.h"

namespace kubeos {
namespace {

constexpr int kNodes = 3;
constexpr int kMaxUnavailable = 2;

const nlohmann::json* PhaseNamed(const nlohmann::json& summary, const std::string& name) {
  for (const nlohmann::json& p : summary["phases"]) {
    if (p.value("name", "") == name) return &p;
  }
  return nullptr;
}

void ExpectInvariants(const nlohmann::json& p) {
  EXPECT_EQ(p.value("pdb_violations", -1), 0) << p.dump(2);
  EXPECT_GE(p.value("min_ready_replicas", -1), p.value("min_available", 0));
  EXPECT_EQ(p.value("budget_violations", -1), 0);
  EXPECT_LE(p.value("max_unavailable_seen", 99), kMaxUnavailable);
  EXPECT_EQ(p.value("cordoned_left", -1), 0);
}

TEST(DemoE2E, UpgradeRollbackAndHaltedBrokenVersion) {
  auto tmp = TempDir::Create("demo-e2e");
  ASSERT_TRUE(tmp.ok());
  std::filesystem::path summary = tmp->path() / "summary.json";
  auto r = RunProgram({KUBEOS_DEMO_BIN, "--nodes", std::to_string(kNodes), "--max-unavailable",
                       std::to_string(kMaxUnavailable), "--phase-timeout", "240", "--work-dir",
                       (tmp->path() / "work").string(), "--summary-json", summary.string()},
                      std::chrono::minutes(9));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 0) << r->output;
  auto text = ReadFile(summary);
  ASSERT_TRUE(text.ok()) << r->output;
  nlohmann::json s = nlohmann::json::parse(*text);
  EXPECT_TRUE(s.value("ok", false)) << r->output;
  EXPECT_EQ(s.value("nodes", 0), kNodes);
  // The hosts fetched the payloads over mutual TLS; nothing was refused, by the server or by a host.
  EXPECT_GE(s.value("image_server_requests", 0), kNodes);
  EXPECT_EQ(s.value("image_server_rejected_handshakes", -1), 0);
  EXPECT_EQ(s.value("image_server_aborted_handshakes", -1), 0);

  const nlohmann::json* up = PhaseNamed(s, "upgrade");
  ASSERT_NE(up, nullptr) << r->output;
  EXPECT_TRUE(up->value("completed", false)) << r->output;
  EXPECT_EQ(up->value("on_target", 0), kNodes);
  EXPECT_EQ((*up)["node_seconds"].size(), static_cast<size_t>(kNodes));
  EXPECT_EQ(up->value("failed_boots", -1), 0);
  EXPECT_EQ(up->value("os_rollout", ""), "Completed");
  ExpectInvariants(*up);

  const nlohmann::json* back = PhaseNamed(s, "rollback");
  ASSERT_NE(back, nullptr) << r->output;
  EXPECT_TRUE(back->value("completed", false)) << r->output;
  EXPECT_EQ(back->value("on_target", 0), kNodes);
  EXPECT_EQ(back->value("os_rollout", ""), "Completed");
  ExpectInvariants(*back);

  const nlohmann::json* bad = PhaseNamed(s, "broken");
  ASSERT_NE(bad, nullptr) << r->output;
  EXPECT_TRUE(bad->value("completed", false)) << r->output;
  EXPECT_EQ(bad->value("on_target", -1), 0);    // no node runs v3
  EXPECT_GE((*bad)["fell_back"].size(), 1u);    // a trial failed and fell back by itself
  EXPECT_GE(bad->value("failed_boots", 0), 2);  // two tries per failed trial
  EXPECT_EQ(bad->value("os_rollout", ""), "Halted");
  EXPECT_EQ((*bad)["bad_versions"], nlohmann::json::array({"KubeOS v3"}));
  // The failure count reported is the one at the end of the phase (os-operator's status.failed, kubectl's
  // FAILED column): every host that fell back, including one whose trial was in flight when the rollout
  // halted; the count when the halt was seen is reported beside it.
  EXPECT_EQ(bad->value("failed", -1), static_cast<int64_t>((*bad)["fell_back"].size())) << r->output;
  EXPECT_EQ(bad->value("total", -1), kNodes);
  ASSERT_TRUE(bad->contains("failed_at_halt") && (*bad)["failed_at_halt"].is_number()) << bad->dump(2);
  EXPECT_GE((*bad)["failed_at_halt"].get<int>(), 1);
  EXPECT_LE((*bad)["failed_at_halt"].get<int>(), bad->value("failed", 0));
  ExpectInvariants(*bad);
}

}  // namespace
}  // namespace kubeos
